//! Path attribute types (RFC 4271 §5 and extensions).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

use crate::types::{Family, Nlri};

/// Path attribute type codes (IANA).
pub mod attr_type {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MED: u8 = 4;
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// EXTENDED COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// IPv6 Address Specific Extended Community (RFC 5701); kept as unknown.
    pub const IPV6_EXTENDED_COMMUNITIES: u8 = 25;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITY: u8 = 32;
    /// Only to Customer (RFC 9234); kept as unknown.
    pub const OTC: u8 = 35;
}

bitflags::bitflags! {
    /// Attribute flags (RFC 4271 §4.3). Unknown low bits are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct AttrFlags: u8 {
        /// Optional (1) or well-known (0).
        const OPTIONAL = 0x80;
        /// Transitive.
        const TRANSITIVE = 0x40;
        /// Partial.
        const PARTIAL = 0x20;
        /// Extended Length: two-octet attribute length.
        const EXTENDED_LENGTH = 0x10;
        // Keep the unused low bits exactly as received.
        const _ = !0;
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for AttrFlags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.bits())
    }
}

impl AttrFlags {
    /// Well-known (mandatory or discretionary): transitive, not optional.
    pub const WELL_KNOWN: AttrFlags = AttrFlags::TRANSITIVE;
    /// Optional transitive.
    pub const OPTIONAL_TRANSITIVE: AttrFlags = AttrFlags::OPTIONAL.union(AttrFlags::TRANSITIVE);
    /// Optional non-transitive.
    pub const OPTIONAL_NON_TRANSITIVE: AttrFlags = AttrFlags::OPTIONAL;
}

/// ORIGIN values (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Origin {
    /// IGP (0).
    Igp = 0,
    /// EGP (1).
    Egp = 1,
    /// INCOMPLETE (2).
    Incomplete = 2,
}

/// AS_PATH segment types (RFC 4271 §4.3, RFC 5065).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum AsSegmentType {
    /// AS_SET (1).
    Set = 1,
    /// AS_SEQUENCE (2).
    Sequence = 2,
    /// AS_CONFED_SEQUENCE (3).
    ConfedSequence = 3,
    /// AS_CONFED_SET (4).
    ConfedSet = 4,
}

impl AsSegmentType {
    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => AsSegmentType::Set,
            2 => AsSegmentType::Sequence,
            3 => AsSegmentType::ConfedSequence,
            4 => AsSegmentType::ConfedSet,
            _ => return None,
        })
    }
}

/// One AS_PATH segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AsSegment {
    /// Segment type.
    pub kind: AsSegmentType,
    /// AS numbers (1..=255 of them on the wire).
    pub asns: Vec<u32>,
}

/// An AS_PATH or AS4_PATH.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AsPath {
    /// Segments in wire order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// An empty path (what iBGP-originated routes carry).
    pub fn empty() -> AsPath {
        AsPath::default()
    }

    /// One AS_SEQUENCE of `asns` (empty path when `asns` is empty).
    pub fn from_sequence(asns: Vec<u32>) -> AsPath {
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: AsSegmentType::Sequence,
                asns,
            }],
        }
    }

    /// Path length for route selection (RFC 4271 §9.1.2.2): each AS of a sequence
    /// counts 1, each set counts 1, confederation segments count 0.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                AsSegmentType::Sequence => s.asns.len(),
                AsSegmentType::Set => 1,
                AsSegmentType::ConfedSequence | AsSegmentType::ConfedSet => 0,
            })
            .sum()
    }

    /// All AS numbers in wire order.
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    /// The neighbouring AS: the first AS of a leading AS_SEQUENCE.
    pub fn first_as(&self) -> Option<u32> {
        let s = self.segments.first()?;
        (s.kind == AsSegmentType::Sequence)
            .then(|| s.asns.first().copied())
            .flatten()
    }

    /// The originating AS: the last AS of a trailing AS_SEQUENCE.
    pub fn origin_as(&self) -> Option<u32> {
        let s = self.segments.last()?;
        (s.kind == AsSegmentType::Sequence)
            .then(|| s.asns.last().copied())
            .flatten()
    }
}

impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let (open, close) = match s.kind {
                AsSegmentType::Sequence => ("", ""),
                AsSegmentType::Set => ("{", "}"),
                AsSegmentType::ConfedSequence => ("(", ")"),
                AsSegmentType::ConfedSet => ("[", "]"),
            };
            f.write_str(open)?;
            for (i, a) in s.asns.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

/// AGGREGATOR / AS4_AGGREGATOR value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Aggregator {
    /// The aggregating AS (AS_TRANS in a 2-octet AGGREGATOR for a 4-octet AS).
    pub asn: u32,
    /// The aggregating speaker's address.
    pub addr: Ipv4Addr,
}

/// A standard community (RFC 1997).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// ACCEPT_OWN (RFC 7611).
    pub const ACCEPT_OWN: Community = Community(0xFFFF_0001);
    /// LLGR_STALE (RFC 9494).
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    /// NO_LLGR (RFC 9494).
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// NOPEER (RFC 3765).
    pub const NOPEER: Community = Community(0xFFFF_FF04);

    /// `asn:value` community.
    pub const fn new(asn: u16, value: u16) -> Community {
        Community(((asn as u32) << 16) | value as u32)
    }
    /// The high 16 bits.
    pub const fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }
    /// The low 16 bits.
    pub const fn value(self) -> u16 {
        self.0 as u16
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Community::NO_EXPORT => f.write_str("no-export"),
            Community::NO_ADVERTISE => f.write_str("no-advertise"),
            Community::NO_EXPORT_SUBCONFED => f.write_str("no-export-subconfed"),
            Community::NOPEER => f.write_str("nopeer"),
            Community::GRACEFUL_SHUTDOWN => f.write_str("graceful-shutdown"),
            Community::BLACKHOLE => f.write_str("blackhole"),
            c => write!(f, "{}:{}", c.asn(), c.value()),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Community {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An extended community (RFC 4360): type, subtype and 6 value octets. For the
/// regular (non-extended) types the subtype is the first value octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExtendedCommunity {
    /// Type high octet (0x00 two-octet AS specific, 0x01 IPv4 specific, 0x02 four-octet AS specific, ...).
    pub typ: u8,
    /// Subtype (0x02 route target, 0x03 route origin, ...).
    pub subtype: u8,
    /// The remaining six octets.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::hexser::bytes"))]
    pub value: [u8; 6],
}

impl ExtendedCommunity {
    /// The 8 octets on the wire.
    pub fn to_bytes(self) -> [u8; 8] {
        let v = self.value;
        [self.typ, self.subtype, v[0], v[1], v[2], v[3], v[4], v[5]]
    }
    /// From the 8 octets on the wire.
    pub fn from_bytes(b: [u8; 8]) -> Self {
        ExtendedCommunity {
            typ: b[0],
            subtype: b[1],
            value: [b[2], b[3], b[4], b[5], b[6], b[7]],
        }
    }
    /// Two-octet AS specific route target (RFC 4360 §4: type 0x00, subtype 0x02).
    pub fn route_target_as2(asn: u16, local: u32) -> Self {
        let (a, l) = (asn.to_be_bytes(), local.to_be_bytes());
        ExtendedCommunity {
            typ: 0x00,
            subtype: 0x02,
            value: [a[0], a[1], l[0], l[1], l[2], l[3]],
        }
    }
    /// True for transitive types (bit 0x40 of the type clear).
    pub fn is_transitive(self) -> bool {
        self.typ & 0x40 == 0
    }
}

/// A large community (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an AS).
    pub global_admin: u32,
    /// Local data part 1.
    pub local_data_1: u32,
    /// Local data part 2.
    pub local_data_2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data_1, self.local_data_2
        )
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for LargeCommunity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The next hop of an MP_REACH_NLRI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum MpNextHop {
    /// A 4-byte IPv4 next hop.
    Ipv4(Ipv4Addr),
    /// A 16-byte global IPv6 next hop, or 32 bytes with a link-local address
    /// (RFC 2545 §3). Also valid for IPv4 NLRI (RFC 8950).
    Ipv6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address, when 32 bytes were sent.
        link_local: Option<Ipv6Addr>,
    },
}

impl MpNextHop {
    /// Length on the wire.
    pub fn wire_len(&self) -> usize {
        match self {
            MpNextHop::Ipv4(_) => 4,
            MpNextHop::Ipv6 {
                link_local: None, ..
            } => 16,
            MpNextHop::Ipv6 {
                link_local: Some(_),
                ..
            } => 32,
        }
    }
}

/// MP_REACH_NLRI (RFC 4760 §3) for an IP prefix family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MpReach {
    /// The family of the NLRI.
    pub family: Family,
    /// The next hop.
    pub next_hop: MpNextHop,
    /// Reachable NLRI.
    pub nlri: Vec<Nlri>,
}

/// MP_UNREACH_NLRI (RFC 4760 §4) for an IP prefix family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MpUnreach {
    /// The family of the NLRI.
    pub family: Family,
    /// Withdrawn NLRI.
    pub withdrawn: Vec<Nlri>,
}

/// The value of a path attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum AttributeValue {
    /// ORIGIN (1).
    Origin(Origin),
    /// AS_PATH (2), 2- or 4-octet per the context.
    AsPath(AsPath),
    /// NEXT_HOP (3).
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC (4).
    Med(u32),
    /// LOCAL_PREF (5).
    LocalPref(u32),
    /// ATOMIC_AGGREGATE (6).
    AtomicAggregate,
    /// AGGREGATOR (7), 2- or 4-octet AS per the context.
    Aggregator(Aggregator),
    /// COMMUNITIES (8).
    Communities(Vec<Community>),
    /// ORIGINATOR_ID (9).
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST (10).
    ClusterList(Vec<Ipv4Addr>),
    /// MP_REACH_NLRI (14) for IPv4/IPv6 unicast/multicast. Other families are
    /// kept as [`AttributeValue::Unknown`].
    MpReach(MpReach),
    /// MP_UNREACH_NLRI (15) for IPv4/IPv6 unicast/multicast. Other families are
    /// kept as [`AttributeValue::Unknown`].
    MpUnreach(MpUnreach),
    /// EXTENDED COMMUNITIES (16).
    ExtendedCommunities(Vec<ExtendedCommunity>),
    /// AS4_PATH (17), always 4-octet.
    As4Path(AsPath),
    /// AS4_AGGREGATOR (18).
    As4Aggregator(Aggregator),
    /// LARGE_COMMUNITY (32).
    LargeCommunities(Vec<LargeCommunity>),
    /// Any other attribute, kept as received (a slice of the input).
    Unknown {
        /// Type code.
        type_code: u8,
        /// Value.
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::hexser::bytes"))]
        data: Bytes,
    },
}

impl AttributeValue {
    /// The attribute type code.
    pub fn type_code(&self) -> u8 {
        use attr_type as t;
        match self {
            AttributeValue::Origin(_) => t::ORIGIN,
            AttributeValue::AsPath(_) => t::AS_PATH,
            AttributeValue::NextHop(_) => t::NEXT_HOP,
            AttributeValue::Med(_) => t::MED,
            AttributeValue::LocalPref(_) => t::LOCAL_PREF,
            AttributeValue::AtomicAggregate => t::ATOMIC_AGGREGATE,
            AttributeValue::Aggregator(_) => t::AGGREGATOR,
            AttributeValue::Communities(_) => t::COMMUNITIES,
            AttributeValue::OriginatorId(_) => t::ORIGINATOR_ID,
            AttributeValue::ClusterList(_) => t::CLUSTER_LIST,
            AttributeValue::MpReach(_) => t::MP_REACH_NLRI,
            AttributeValue::MpUnreach(_) => t::MP_UNREACH_NLRI,
            AttributeValue::ExtendedCommunities(_) => t::EXTENDED_COMMUNITIES,
            AttributeValue::As4Path(_) => t::AS4_PATH,
            AttributeValue::As4Aggregator(_) => t::AS4_AGGREGATOR,
            AttributeValue::LargeCommunities(_) => t::LARGE_COMMUNITY,
            AttributeValue::Unknown { type_code, .. } => *type_code,
        }
    }
}

/// The Optional and Transitive flags a known attribute must carry (RFC 4271 §5,
/// RFC 4760, RFC 1997, RFC 4360, RFC 4456, RFC 6793, RFC 8092); `None` if unknown.
pub(crate) fn expected_flags(type_code: u8) -> Option<AttrFlags> {
    use attr_type as t;
    Some(match type_code {
        t::ORIGIN | t::AS_PATH | t::NEXT_HOP | t::LOCAL_PREF | t::ATOMIC_AGGREGATE => {
            AttrFlags::WELL_KNOWN
        }
        t::MED | t::ORIGINATOR_ID | t::CLUSTER_LIST | t::MP_REACH_NLRI | t::MP_UNREACH_NLRI => {
            AttrFlags::OPTIONAL_NON_TRANSITIVE
        }
        t::AGGREGATOR
        | t::COMMUNITIES
        | t::EXTENDED_COMMUNITIES
        | t::AS4_PATH
        | t::AS4_AGGREGATOR
        | t::LARGE_COMMUNITY => AttrFlags::OPTIONAL_TRANSITIVE,
        _ => return None,
    })
}

/// One path attribute: flags as received (or defaulted) and the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PathAttribute {
    /// Flags. On encode the Extended Length bit is kept when set and added when
    /// the value exceeds 255 bytes; the other bits are written as they are.
    pub flags: AttrFlags,
    /// The value.
    pub value: AttributeValue,
}

impl PathAttribute {
    /// An attribute with the standard flags for its type (optional transitive for
    /// unknown ones).
    pub fn new(value: AttributeValue) -> PathAttribute {
        let flags = expected_flags(value.type_code()).unwrap_or(AttrFlags::OPTIONAL_TRANSITIVE);
        PathAttribute { flags, value }
    }

    /// The type code.
    pub fn type_code(&self) -> u8 {
        self.value.type_code()
    }

    /// The attribute as it should be passed on to another peer (RFC 4271 §5):
    /// an unrecognized optional transitive attribute gets the Partial bit set; an
    /// unrecognized optional non-transitive one is not passed on (`None`);
    /// recognized attributes are returned unchanged.
    pub fn propagated(&self) -> Option<PathAttribute> {
        match &self.value {
            AttributeValue::Unknown { .. } => {
                if !self.flags.contains(AttrFlags::TRANSITIVE) {
                    None
                } else {
                    Some(PathAttribute {
                        flags: self.flags | AttrFlags::PARTIAL,
                        value: self.value.clone(),
                    })
                }
            }
            _ => Some(self.clone()),
        }
    }
}

impl From<AttributeValue> for PathAttribute {
    fn from(v: AttributeValue) -> Self {
        PathAttribute::new(v)
    }
}
