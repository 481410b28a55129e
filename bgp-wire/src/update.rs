//! UPDATE (RFC 4271 §4.3) decoding with RFC 7606 error handling, and encoding.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::attributes::{
    Aggregator, AsPath, AsSegment, AsSegmentType, AttrFlags, AttributeValue, Community,
    ExtendedCommunity, LargeCommunity, MpNextHop, MpReach, MpUnreach, Origin, PathAttribute,
    attr_type as t, expected_flags,
};
use crate::error::{
    AttributeError, AttributeErrorKind as K, DecodeError, EncodeError, ErrorAction as A,
};
use crate::open::AS_TRANS;
use crate::types::{
    Afi, DecodeContext, EncodeContext, Family, Nlri, Safi, decode_prefixes, put_prefixes,
};

/// An UPDATE message.
///
/// Decoding keeps attribute order and flags so that re-encoding is byte-exact.
/// Non-fatal errors (RFC 7606 treat-as-withdraw and attribute discard) are
/// reported in `errors`; the attributes concerned are not in `attributes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Update {
    /// Withdrawn IPv4 unicast routes (traditional field).
    pub withdrawn: Vec<Nlri>,
    /// Path attributes in wire order.
    pub attributes: Vec<PathAttribute>,
    /// Reachable IPv4 unicast NLRI (traditional field).
    pub nlri: Vec<Nlri>,
    /// Non-fatal errors found while decoding (ignored on encode).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub errors: Vec<AttributeError>,
}

macro_rules! accessor {
    ($(#[$m:meta])* $name:ident, $variant:ident, $ty:ty) => {
        $(#[$m])*
        pub fn $name(&self) -> Option<&$ty> {
            self.attributes.iter().find_map(|a| match &a.value {
                AttributeValue::$variant(v) => Some(v),
                _ => None,
            })
        }
    };
}

impl Update {
    /// The End-of-RIB marker for `family` (RFC 4724 §2): an empty UPDATE for
    /// IPv4 unicast, else an UPDATE with only an empty MP_UNREACH_NLRI.
    pub fn end_of_rib(family: Family) -> Update {
        if family == Family::IPV4_UNICAST {
            return Update::default();
        }
        Update {
            attributes: vec![PathAttribute::new(AttributeValue::MpUnreach(MpUnreach {
                family,
                withdrawn: Vec::new(),
            }))],
            ..Default::default()
        }
    }

    /// The family whose End-of-RIB this UPDATE is (RFC 4724 §2), if it is one.
    pub fn is_end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() || !self.errors.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some(Family::IPV4_UNICAST),
            [a] => match &a.value {
                AttributeValue::MpUnreach(u) if u.withdrawn.is_empty() => Some(u.family),
                AttributeValue::Unknown {
                    type_code: t::MP_UNREACH_NLRI,
                    data,
                } if data.len() == 3 => Some(Family::new(
                    Afi(u16::from_be_bytes([data[0], data[1]])),
                    Safi(data[2]),
                )),
                _ => None,
            },
            _ => None,
        }
    }

    /// True when any decode error asks for treat-as-withdraw (RFC 7606 §2): every
    /// announced NLRI must then be handled as withdrawn.
    pub fn treat_as_withdraw(&self) -> bool {
        self.errors.iter().any(|e| e.action == A::TreatAsWithdraw)
    }

    /// The attribute with this type code.
    pub fn attribute(&self, type_code: u8) -> Option<&PathAttribute> {
        self.attributes.iter().find(|a| a.type_code() == type_code)
    }

    accessor!(
        /// ORIGIN.
        origin, Origin, Origin
    );
    accessor!(
        /// AS_PATH.
        as_path, AsPath, AsPath
    );
    accessor!(
        /// AS4_PATH.
        as4_path, As4Path, AsPath
    );
    accessor!(
        /// NEXT_HOP.
        next_hop, NextHop, Ipv4Addr
    );
    accessor!(
        /// MULTI_EXIT_DISC.
        med, Med, u32
    );
    accessor!(
        /// LOCAL_PREF.
        local_pref, LocalPref, u32
    );
    accessor!(
        /// AGGREGATOR.
        aggregator, Aggregator, Aggregator
    );
    accessor!(
        /// COMMUNITIES.
        communities, Communities, Vec<Community>
    );
    accessor!(
        /// EXTENDED COMMUNITIES.
        extended_communities, ExtendedCommunities, Vec<ExtendedCommunity>
    );
    accessor!(
        /// LARGE_COMMUNITY.
        large_communities, LargeCommunities, Vec<LargeCommunity>
    );
    accessor!(
        /// ORIGINATOR_ID.
        originator_id, OriginatorId, Ipv4Addr
    );
    accessor!(
        /// CLUSTER_LIST.
        cluster_list, ClusterList, Vec<Ipv4Addr>
    );
    accessor!(
        /// MP_REACH_NLRI.
        mp_reach, MpReach, MpReach
    );
    accessor!(
        /// MP_UNREACH_NLRI.
        mp_unreach, MpUnreach, MpUnreach
    );

    /// True when ATOMIC_AGGREGATE is present.
    pub fn atomic_aggregate(&self) -> bool {
        self.attribute(t::ATOMIC_AGGREGATE).is_some()
    }

    /// Every announced NLRI: traditional then MP_REACH.
    pub fn announced(&self) -> impl Iterator<Item = &Nlri> {
        self.nlri
            .iter()
            .chain(self.mp_reach().into_iter().flat_map(|m| m.nlri.iter()))
    }

    /// Every withdrawn NLRI: traditional then MP_UNREACH.
    pub fn withdrawn_all(&self) -> impl Iterator<Item = &Nlri> {
        self.withdrawn.iter().chain(
            self.mp_unreach()
                .into_iter()
                .flat_map(|m| m.withdrawn.iter()),
        )
    }

    /// Encodes the body (everything after the header).
    pub(crate) fn encode_body(
        &self,
        ctx: &EncodeContext,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let ap4 = ctx.has_add_path(Family::IPV4_UNICAST);
        let per = if ap4 { 9 } else { 5 };
        out.reserve(
            4 + (self.withdrawn.len() + self.nlri.len()) * per + 32 * self.attributes.len(),
        );
        let wpos = out.len();
        out.put_u16(0);
        put_prefixes(out, &self.withdrawn, true, ap4, false).map_err(EncodeError::WrongFamily)?;
        let wlen = out.len() - wpos - 2;
        patch_u16(out, wpos, wlen, "withdrawn routes")?;
        let apos = out.len();
        out.put_u16(0);
        for a in &self.attributes {
            encode_attribute(a, ctx, out)?;
        }
        let alen = out.len() - apos - 2;
        patch_u16(out, apos, alen, "path attributes")?;
        put_prefixes(out, &self.nlri, true, ap4, false).map_err(EncodeError::WrongFamily)?;
        Ok(())
    }

    /// Decodes the body (everything after the header).
    /// Decodes the body, which starts at `base` in `frame` (no `Bytes` clone unless
    /// an unknown attribute or an error keeps a slice).
    pub(crate) fn decode_body(
        frame: &Bytes,
        base: usize,
        ctx: &DecodeContext,
    ) -> Result<Update, DecodeError> {
        let b = frame.get(base..).unwrap_or_default();
        // RFC 4271 §4.3: two 2-octet length fields at least.
        if b.len() < 4 {
            return Err(DecodeError::MalformedAttributeList {
                reason: "UPDATE shorter than its length fields",
            });
        }
        let wlen = u16::from_be_bytes([b[0], b[1]]) as usize;
        // RFC 4271 §6.3: Withdrawn Routes Length too large → Malformed Attribute List.
        if 2 + wlen + 2 > b.len() {
            return Err(DecodeError::MalformedAttributeList {
                reason: "withdrawn routes length overruns",
            });
        }
        let alen = u16::from_be_bytes([b[2 + wlen], b[3 + wlen]]) as usize;
        let astart = 4 + wlen;
        // RFC 4271 §6.3: Withdrawn + Total Attribute Length + 23 > message length → Malformed Attribute List.
        if astart + alen > b.len() {
            return Err(DecodeError::MalformedAttributeList {
                reason: "total path attribute length overruns",
            });
        }
        let ap4 = ctx.has_add_path(Family::IPV4_UNICAST);
        let mut u = Update {
            // One allocation of the exact size for well-formed attribute lists.
            attributes: Vec::with_capacity(count_attributes(&b[astart..astart + alen])),
            ..Default::default()
        };
        // RFC 7606 §5.3: an unparsable withdrawn routes field → session reset.
        decode_prefixes(Afi::IPV4, &b[2..2 + wlen], ap4, &mut u.withdrawn).map_err(|_| {
            DecodeError::InvalidNetworkField {
                reason: "withdrawn routes",
            }
        })?;
        let mut seen = Seen([0; 4]);
        decode_attributes(
            frame,
            base + astart,
            base + astart + alen,
            ctx,
            &mut u,
            &mut seen,
        )?;
        // RFC 4271 §6.3 / RFC 7606 §5.3: syntactically incorrect NLRI → Invalid Network Field, session reset.
        decode_prefixes(Afi::IPV4, &b[astart + alen..], ap4, &mut u.nlri)
            .map_err(|_| DecodeError::InvalidNetworkField { reason: "NLRI" })?;
        check_mandatory(&mut u, &seen);
        Ok(u)
    }
}

/// The number of attribute headers in `b`, walking the lengths only (no checks
/// beyond staying in bounds; `decode_attributes` does them). Used to size the
/// attribute vector once.
#[inline]
fn count_attributes(b: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while let Some(&[flags, _, l0]) = b.get(i..i + 3) {
        i += if flags & AttrFlags::EXTENDED_LENGTH.bits() != 0 {
            match b.get(i + 3) {
                Some(&l1) => 4 + (usize::from(l0) << 8 | usize::from(l1)),
                None => b.len(),
            }
        } else {
            3 + usize::from(l0)
        };
        n += 1;
    }
    n
}

fn patch_u16(
    out: &mut BytesMut,
    pos: usize,
    len: usize,
    what: &'static str,
) -> Result<(), EncodeError> {
    let l = u16::try_from(len).map_err(|_| EncodeError::FieldTooLong { what, len })?;
    out[pos..pos + 2].copy_from_slice(&l.to_be_bytes());
    Ok(())
}

/// RFC 7606 §3(d): missing well-known mandatory attributes → treat-as-withdraw,
/// checked only when the UPDATE carries reachable NLRI.
fn check_mandatory(u: &mut Update, seen: &Seen) {
    let has_mp_nlri = u.mp_reach().is_some_and(|m| !m.nlri.is_empty());
    if u.nlri.is_empty() && !has_mp_nlri {
        return;
    }
    // RFC 4760 §3: NEXT_HOP is only needed with traditional NLRI.
    let need: &[u8] = if u.nlri.is_empty() {
        &[t::ORIGIN, t::AS_PATH]
    } else {
        &[t::ORIGIN, t::AS_PATH, t::NEXT_HOP]
    };
    for &code in need {
        let present = seen.has(code) || u.errors.iter().any(|e| e.type_code == code);
        if !present {
            u.errors.push(AttributeError {
                kind: K::MissingWellKnown,
                type_code: code,
                attribute: Bytes::new(),
                action: A::TreatAsWithdraw,
            });
        }
    }
}

/// RFC 7606 §7: the action for a malformed attribute of each type.
fn malformed_action(type_code: u8) -> A {
    match type_code {
        // RFC 7606 §7.6, §7.7; RFC 6793 §6 (AS4_PATH, AS4_AGGREGATOR).
        t::ATOMIC_AGGREGATE | t::AGGREGATOR | t::AS4_PATH | t::AS4_AGGREGATOR => {
            A::AttributeDiscard
        }
        // RFC 7606 §7.11 (session reset or AFI/SAFI disable; we reset).
        t::MP_REACH_NLRI | t::MP_UNREACH_NLRI => A::SessionReset,
        // RFC 7606 §7.1-7.5, §7.8-7.10, §7.14; RFC 8092 §6.
        _ => A::TreatAsWithdraw,
    }
}

/// One attribute's position in the UPDATE body.
struct Raw<'a> {
    body: &'a Bytes,
    start: usize,
    vstart: usize,
    end: usize,
}

impl Raw<'_> {
    /// The whole attribute (flags, type, length, value), zero-copy.
    fn tlv(&self) -> Bytes {
        self.body.slice(self.start..self.end)
    }
    /// The value, zero-copy.
    fn value_bytes(&self) -> Bytes {
        self.body.slice(self.vstart..self.end)
    }
    /// The value.
    fn value(&self) -> &[u8] {
        &self.body[self.vstart..self.end]
    }
}

struct Seen([u64; 4]);
impl Seen {
    /// Marks `c`; returns true if it was already set.
    fn has(&self, c: u8) -> bool {
        self.0[(c >> 6) as usize] & (1u64 << (c & 63)) != 0
    }
    fn test_and_set(&mut self, c: u8) -> bool {
        let (w, bit) = ((c >> 6) as usize, 1u64 << (c & 63));
        let was = self.0[w] & bit != 0;
        self.0[w] |= bit;
        was
    }
}

fn decode_attributes(
    body: &Bytes,
    start: usize,
    end: usize,
    ctx: &DecodeContext,
    u: &mut Update,
    seen: &mut Seen,
) -> Result<(), DecodeError> {
    let b = &body[..];
    let mut i = start;
    while i < end {
        let rem = end - i;
        let overrun = |tc: u8| {
            let action = if tc == t::MP_REACH_NLRI || tc == t::MP_UNREACH_NLRI {
                // RFC 7606 §7.11: MP_REACH/MP_UNREACH unparsable → session reset.
                A::SessionReset
            } else {
                // RFC 7606 §4: attribute header/length overrun → treat-as-withdraw.
                A::TreatAsWithdraw
            };
            AttributeError {
                kind: K::Overrun,
                type_code: tc,
                attribute: body.slice(i..end),
                action,
            }
        };
        if rem < 3 {
            let e = overrun(if i + 1 < end { b[i + 1] } else { 0 });
            return push_error(u, e);
        }
        let flags = AttrFlags::from_bits_retain(b[i]);
        let tc = b[i + 1];
        let ext = flags.contains(AttrFlags::EXTENDED_LENGTH);
        let hdr = if ext { 4 } else { 3 };
        if rem < hdr {
            return push_error(u, overrun(tc));
        }
        let len = if ext {
            u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize
        } else {
            b[i + 2] as usize
        };
        if hdr + len > rem {
            return push_error(u, overrun(tc));
        }
        // Slices of the input are made only when kept (unknown attributes) or reported.
        let raw = Raw {
            body,
            start: i,
            vstart: i + hdr,
            end: i + hdr + len,
        };
        i += hdr + len;
        if seen.test_and_set(tc) {
            let action = if tc == t::MP_REACH_NLRI || tc == t::MP_UNREACH_NLRI {
                // RFC 7606 §3(g): MP_REACH/MP_UNREACH more than once → Malformed Attribute List.
                A::SessionReset
            } else {
                // RFC 7606 §3(g): other duplicates → discard all but the first.
                A::AttributeDiscard
            };
            push_error(
                u,
                AttributeError {
                    kind: K::Duplicate,
                    type_code: tc,
                    attribute: raw.tlv(),
                    action,
                },
            )?;
            continue;
        }
        // The value is pushed in place on success (no `Result<AttributeValue>` temporary).
        if let Err(e) = decode_attribute(flags, tc, &raw, ctx, &mut u.attributes) {
            push_error(u, e)?;
        }
    }
    Ok(())
}

fn push_error(u: &mut Update, e: AttributeError) -> Result<(), DecodeError> {
    if e.action == A::SessionReset {
        return Err(DecodeError::Attribute(e));
    }
    u.errors.push(e);
    Ok(())
}

/// Appends `value` with `flags`; inlined so the value is built in the vector's slot.
#[inline(always)]
fn push_attr(attrs: &mut Vec<PathAttribute>, flags: AttrFlags, value: AttributeValue) {
    attrs.push(PathAttribute { flags, value });
}

/// Decodes one attribute and pushes it onto `attrs`; on error nothing is pushed.
#[inline]
fn decode_attribute(
    flags: AttrFlags,
    tc: u8,
    raw: &Raw<'_>,
    ctx: &DecodeContext,
    attrs: &mut Vec<PathAttribute>,
) -> Result<(), AttributeError> {
    // Pushes the value in place and returns.
    macro_rules! put {
        ($v:expr) => {{
            push_attr(attrs, flags, $v);
            return Ok(());
        }};
    }
    let err = |kind: K| AttributeError {
        kind,
        type_code: tc,
        attribute: raw.tlv(),
        action: malformed_action(tc),
    };
    let v = raw.value();
    match expected_flags(tc) {
        Some(exp) => {
            // RFC 4271 §6.3 / RFC 7606 §3(c): Optional/Transitive bits must match the type.
            let mask = AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE;
            if flags & mask != exp {
                return Err(err(K::Flags));
            }
        }
        None => {
            // RFC 4271 §6.3: an unrecognized well-known attribute → Unrecognized Well-known Attribute.
            if !flags.contains(AttrFlags::OPTIONAL) {
                return Err(AttributeError {
                    kind: K::UnrecognizedWellKnown,
                    type_code: tc,
                    attribute: raw.tlv(),
                    action: A::SessionReset,
                });
            }
            put!(AttributeValue::Unknown {
                type_code: tc,
                data: raw.value_bytes(),
            });
        }
    }
    let u32_at = |b: &[u8], o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    match tc {
        t::ORIGIN => {
            // RFC 7606 §7.1: length must be 1.
            if v.len() != 1 {
                return Err(err(K::Length));
            }
            let o = match v[0] {
                0 => Origin::Igp,
                1 => Origin::Egp,
                2 => Origin::Incomplete,
                // RFC 4271 §6.3 / RFC 7606 §7.1: undefined ORIGIN value.
                _ => return Err(err(K::InvalidOrigin)),
            };
            put!(AttributeValue::Origin(o))
        }
        t::AS_PATH => {
            // RFC 7606 §7.2: malformed AS_PATH → treat-as-withdraw.
            let p = decode_as_path(v, ctx.four_octet_as, false)
                .ok_or_else(|| err(K::MalformedAsPath))?;
            put!(AttributeValue::AsPath(p))
        }
        t::NEXT_HOP => {
            // RFC 7606 §7.3: length must be 4.
            if v.len() != 4 {
                return Err(err(K::Length));
            }
            let nh = Ipv4Addr::new(v[0], v[1], v[2], v[3]);
            // RFC 4271 §6.3: a syntactically incorrect NEXT_HOP (here: multicast or broadcast).
            if nh.is_multicast() || nh.is_broadcast() {
                return Err(err(K::InvalidNextHop));
            }
            put!(AttributeValue::NextHop(nh))
        }
        t::MED | t::LOCAL_PREF | t::ORIGINATOR_ID => {
            // RFC 7606 §7.4, §7.5, §7.9: length must be 4.
            if v.len() != 4 {
                return Err(err(K::Length));
            }
            let x = u32_at(v, 0);
            match tc {
                t::MED => put!(AttributeValue::Med(x)),
                t::LOCAL_PREF => put!(AttributeValue::LocalPref(x)),
                _ => put!(AttributeValue::OriginatorId(Ipv4Addr::from(x))),
            }
        }
        t::ATOMIC_AGGREGATE => {
            // RFC 7606 §7.6: length must be 0, else attribute discard.
            if !v.is_empty() {
                return Err(err(K::Length));
            }
            put!(AttributeValue::AtomicAggregate)
        }
        t::AGGREGATOR => {
            // RFC 7606 §7.7: length 6 (2-octet AS) or 8 (4-octet AS), else discard.
            match (v.len(), ctx.four_octet_as) {
                (8, true) => put!(AttributeValue::Aggregator(Aggregator {
                    asn: u32_at(v, 0),
                    addr: Ipv4Addr::from(u32_at(v, 4)),
                })),
                (6, false) => put!(AttributeValue::Aggregator(Aggregator {
                    asn: u32::from(u16::from_be_bytes([v[0], v[1]])),
                    addr: Ipv4Addr::from(u32_at(v, 2)),
                })),
                _ => Err(err(K::Length)),
            }
        }
        t::AS4_AGGREGATOR => {
            // RFC 6793 §6: length must be 8, else discard.
            if v.len() != 8 {
                return Err(err(K::Length));
            }
            put!(AttributeValue::As4Aggregator(Aggregator {
                asn: u32_at(v, 0),
                addr: Ipv4Addr::from(u32_at(v, 4)),
            }))
        }
        t::COMMUNITIES => {
            // RFC 7606 §7.8: length a non-zero multiple of 4.
            if v.is_empty() || v.len() % 4 != 0 {
                return Err(err(K::Length));
            }
            let c = v.chunks_exact(4).map(|c| Community(u32_at(c, 0))).collect();
            put!(AttributeValue::Communities(c))
        }
        t::CLUSTER_LIST => {
            // RFC 7606 §7.10: length a non-zero multiple of 4.
            if v.is_empty() || v.len() % 4 != 0 {
                return Err(err(K::Length));
            }
            let c = v
                .chunks_exact(4)
                .map(|c| Ipv4Addr::from(u32_at(c, 0)))
                .collect();
            put!(AttributeValue::ClusterList(c))
        }
        t::EXTENDED_COMMUNITIES => {
            // RFC 7606 §7.14: length a multiple of 8.
            if v.len() % 8 != 0 {
                return Err(err(K::Length));
            }
            let c = v
                .chunks_exact(8)
                .map(|c| {
                    ExtendedCommunity::from_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                })
                .collect();
            put!(AttributeValue::ExtendedCommunities(c))
        }
        t::LARGE_COMMUNITY => {
            // RFC 8092 §6: length a non-zero multiple of 12.
            if v.is_empty() || v.len() % 12 != 0 {
                return Err(err(K::Length));
            }
            let c = v
                .chunks_exact(12)
                .map(|c| LargeCommunity {
                    global_admin: u32_at(c, 0),
                    local_data_1: u32_at(c, 4),
                    local_data_2: u32_at(c, 8),
                })
                .collect();
            put!(AttributeValue::LargeCommunities(c))
        }
        t::AS4_PATH => {
            // RFC 6793 §6: malformed AS4_PATH (incl. confederation segments) → discard.
            let p = decode_as_path(v, true, true).ok_or_else(|| err(K::Malformed))?;
            put!(AttributeValue::As4Path(p))
        }
        t::MP_REACH_NLRI => decode_mp_reach(raw, ctx, flags, attrs),
        t::MP_UNREACH_NLRI => decode_mp_unreach(raw, ctx, flags, attrs),
        // expected_flags() covers exactly the codes above.
        _ => put!(AttributeValue::Unknown {
            type_code: tc,
            data: raw.value_bytes(),
        }),
    }
}

/// RFC 4271 §4.3 / RFC 6793 / RFC 7606 §7.2. `None` when malformed.
fn decode_as_path(v: &[u8], four: bool, as4_path: bool) -> Option<AsPath> {
    let w = if four { 4 } else { 2 };
    // Count the segments first so the vector is allocated once, at its exact size.
    let mut n = 0;
    let mut j = 0;
    while let Some(&count) = v.get(j + 1) {
        n += 1;
        j += 2 + count as usize * w;
    }
    let mut segments = Vec::with_capacity(n);
    let mut i = 0;
    while i < v.len() {
        let (&ty, rest) = v[i..].split_first()?;
        let (&count, _) = rest.split_first()?;
        let kind = AsSegmentType::from_u8(ty)?;
        // RFC 6793 §6: confederation segments in AS4_PATH are malformed.
        if as4_path
            && matches!(
                kind,
                AsSegmentType::ConfedSequence | AsSegmentType::ConfedSet
            )
        {
            return None;
        }
        // RFC 7606 §7.2: a segment length of zero is malformed.
        if count == 0 {
            return None;
        }
        let data = v.get(i + 2..i + 2 + count as usize * w)?;
        let asns: Vec<u32> = if four {
            data.chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        } else {
            data.chunks_exact(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .collect()
        };
        // RFC 7607 §2: AS 0 in AS_PATH / AS4_PATH is malformed.
        if asns.contains(&0) {
            return None;
        }
        segments.push(AsSegment { kind, asns });
        i += 2 + count as usize * w;
    }
    Some(AsPath { segments })
}

fn mp_err(kind: K, raw: &Raw<'_>, tc: u8) -> AttributeError {
    // RFC 7606 §7.11: MP_REACH/MP_UNREACH errors → session reset.
    AttributeError {
        kind,
        type_code: tc,
        attribute: raw.tlv(),
        action: A::SessionReset,
    }
}

/// MP_REACH/MP_UNREACH of a family other than IPv4/IPv6 unicast/multicast: kept
/// whole as an unknown attribute, so it is passed on and re-encoded unchanged.
fn keep_other_family(raw: &Raw<'_>, tc: u8, flags: AttrFlags, attrs: &mut Vec<PathAttribute>) {
    push_attr(
        attrs,
        flags,
        AttributeValue::Unknown {
            type_code: tc,
            data: raw.value_bytes(),
        },
    );
}

fn decode_mp_reach(
    raw: &Raw<'_>,
    ctx: &DecodeContext,
    flags: AttrFlags,
    attrs: &mut Vec<PathAttribute>,
) -> Result<(), AttributeError> {
    let v = raw.value();
    let tc = t::MP_REACH_NLRI;
    // RFC 4760 §3: AFI (2), SAFI (1), next hop length (1), next hop, reserved (1).
    if v.len() < 5 {
        return Err(mp_err(K::Length, raw, tc));
    }
    let family = Family::new(Afi(u16::from_be_bytes([v[0], v[1]])), Safi(v[2]));
    let nhlen = v[3] as usize;
    if 4 + nhlen + 1 > v.len() {
        return Err(mp_err(K::Length, raw, tc));
    }
    if !family.is_ip_prefix() {
        keep_other_family(raw, tc, flags, attrs);
        return Ok(());
    }
    let nh = &v[4..4 + nhlen];
    let next_hop = match (family.afi, nhlen) {
        (Afi::IPV4, 4) => MpNextHop::Ipv4(Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3])),
        // RFC 2545 §3 / RFC 8950 §3: 16 or 32 bytes of IPv6 next hop.
        (_, 16) => MpNextHop::Ipv6 {
            global: v6(&nh[..16]),
            link_local: None,
        },
        (_, 32) => MpNextHop::Ipv6 {
            global: v6(&nh[..16]),
            link_local: Some(v6(&nh[16..32])),
        },
        // RFC 7606 §7.11: next hop length inconsistent → malformed.
        _ => return Err(mp_err(K::Malformed, raw, tc)),
    };
    let mut nlri = Vec::new();
    decode_prefixes(
        family.afi,
        &v[5 + nhlen..],
        ctx.has_add_path(family),
        &mut nlri,
    )
    .map_err(|_| mp_err(K::InvalidNetworkField, raw, tc))?;
    push_attr(
        attrs,
        flags,
        AttributeValue::MpReach(MpReach {
            family,
            next_hop,
            nlri,
        }),
    );
    Ok(())
}

fn decode_mp_unreach(
    raw: &Raw<'_>,
    ctx: &DecodeContext,
    flags: AttrFlags,
    attrs: &mut Vec<PathAttribute>,
) -> Result<(), AttributeError> {
    let v = raw.value();
    let tc = t::MP_UNREACH_NLRI;
    // RFC 4760 §4: AFI (2), SAFI (1), withdrawn routes.
    if v.len() < 3 {
        return Err(mp_err(K::Length, raw, tc));
    }
    let family = Family::new(Afi(u16::from_be_bytes([v[0], v[1]])), Safi(v[2]));
    if !family.is_ip_prefix() {
        keep_other_family(raw, tc, flags, attrs);
        return Ok(());
    }
    let mut withdrawn = Vec::new();
    decode_prefixes(
        family.afi,
        &v[3..],
        ctx.has_add_path(family),
        &mut withdrawn,
    )
    .map_err(|_| mp_err(K::InvalidNetworkField, raw, tc))?;
    push_attr(
        attrs,
        flags,
        AttributeValue::MpUnreach(MpUnreach { family, withdrawn }),
    );
    Ok(())
}

fn v6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ipv6Addr::from(a)
}

/// Encodes one path attribute (flags, type, length, value). Extended Length is
/// kept when set and added when the value exceeds 255 bytes.
pub(crate) fn encode_attribute(
    a: &PathAttribute,
    ctx: &EncodeContext,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = out.len();
    let mut flags = a.flags;
    let ext = flags.contains(AttrFlags::EXTENDED_LENGTH);
    // Fast path: values with a one-octet length, the header written with its final
    // length (no patching) and fixed-size values as one constant-size copy (no
    // variable-length memmove). One dispatch on the variant, type codes constant.
    if !ext {
        let f = flags.bits();
        match &a.value {
            AttributeValue::Origin(o) => {
                out.put_slice(&[f, t::ORIGIN, 1, *o as u8]);
                return Ok(());
            }
            AttributeValue::AsPath(p) => {
                let w = if ctx.four_octet_as { 4 } else { 2 };
                let len: usize = p.segments.iter().map(|s| 2 + w * s.asns.len()).sum();
                if let Ok(l) = u8::try_from(len) {
                    out.reserve(3 + len);
                    out.put_slice(&[f, t::AS_PATH, l]);
                    return put_as_path(p, ctx.four_octet_as, out);
                }
            }
            AttributeValue::NextHop(x) => {
                let o = x.octets();
                out.put_slice(&[f, t::NEXT_HOP, 4, o[0], o[1], o[2], o[3]]);
                return Ok(());
            }
            AttributeValue::OriginatorId(x) => {
                let o = x.octets();
                out.put_slice(&[f, t::ORIGINATOR_ID, 4, o[0], o[1], o[2], o[3]]);
                return Ok(());
            }
            AttributeValue::Med(x) => {
                let o = x.to_be_bytes();
                out.put_slice(&[f, t::MED, 4, o[0], o[1], o[2], o[3]]);
                return Ok(());
            }
            AttributeValue::LocalPref(x) => {
                let o = x.to_be_bytes();
                out.put_slice(&[f, t::LOCAL_PREF, 4, o[0], o[1], o[2], o[3]]);
                return Ok(());
            }
            AttributeValue::AtomicAggregate => {
                out.put_slice(&[f, t::ATOMIC_AGGREGATE, 0]);
                return Ok(());
            }
            AttributeValue::Communities(c) => {
                if let Ok(l) = u8::try_from(4 * c.len()) {
                    out.reserve(3 + 4 * c.len());
                    out.put_slice(&[f, t::COMMUNITIES, l]);
                    c.iter().for_each(|c| out.put_u32(c.0));
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    if ext {
        out.put_slice(&[flags.bits(), a.type_code(), 0, 0]);
    } else {
        out.put_slice(&[flags.bits(), a.type_code(), 0]);
    }
    let vstart = out.len();
    encode_value(&a.value, ctx, out)?;
    let len = out.len() - vstart;
    if ext {
        patch_u16(out, vstart - 2, len, "path attribute")?;
    } else if let Ok(l) = u8::try_from(len) {
        out[vstart - 1] = l;
    } else {
        // RFC 4271 §4.3: values over 255 bytes need the Extended Length bit; shift by one.
        let l = u16::try_from(len).map_err(|_| EncodeError::FieldTooLong {
            what: "path attribute",
            len,
        })?;
        out.put_u8(0);
        let end = out.len();
        out.copy_within(vstart..end - 1, vstart + 1);
        flags |= AttrFlags::EXTENDED_LENGTH;
        out[start] = flags.bits();
        out[vstart - 1..vstart + 1].copy_from_slice(&l.to_be_bytes());
    }
    Ok(())
}

fn put_as_path(p: &AsPath, four: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    for s in &p.segments {
        let n = u8::try_from(s.asns.len()).map_err(|_| EncodeError::FieldTooLong {
            what: "AS_PATH segment",
            len: s.asns.len(),
        })?;
        out.put_u8(s.kind as u8);
        out.put_u8(n);
        for &a in &s.asns {
            if four {
                out.put_u32(a);
            } else {
                // RFC 6793 §4.2.2: ASes that do not fit 2 octets become AS_TRANS.
                out.put_u16(u16::try_from(a).unwrap_or(AS_TRANS));
            }
        }
    }
    Ok(())
}

fn put_next_hop<B: BufMut>(nh: &MpNextHop, out: &mut B) {
    out.put_u8(nh.wire_len() as u8);
    match nh {
        MpNextHop::Ipv4(a) => out.put_slice(&a.octets()),
        MpNextHop::Ipv6 { global, link_local } => {
            out.put_slice(&global.octets());
            if let Some(ll) = link_local {
                out.put_slice(&ll.octets());
            }
        }
    }
}

fn put_mp_nlri(
    family: Family,
    nlri: &[Nlri],
    ctx: &EncodeContext,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if !family.is_ip_prefix() {
        return Err(EncodeError::UnsupportedFamily(family));
    }
    let ap = ctx.has_add_path(family);
    put_prefixes(out, nlri, family.afi == Afi::IPV4, ap, false).map_err(EncodeError::WrongFamily)
}

/// Writes the MP_REACH value up to (not including) the NLRI.
pub(crate) fn put_mp_reach_head<B: BufMut>(family: Family, nh: &MpNextHop, out: &mut B) {
    out.put_u16(family.afi.0);
    out.put_u8(family.safi.0);
    put_next_hop(nh, out);
    // RFC 4760 §3: Reserved, one octet, must be 0.
    out.put_u8(0);
}

fn encode_value(
    v: &AttributeValue,
    ctx: &EncodeContext,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    match v {
        AttributeValue::Origin(o) => out.put_u8(*o as u8),
        AttributeValue::AsPath(p) => put_as_path(p, ctx.four_octet_as, out)?,
        AttributeValue::As4Path(p) => put_as_path(p, true, out)?,
        AttributeValue::NextHop(a) | AttributeValue::OriginatorId(a) => out.put_slice(&a.octets()),
        AttributeValue::Med(x) | AttributeValue::LocalPref(x) => out.put_u32(*x),
        AttributeValue::AtomicAggregate => {}
        AttributeValue::Aggregator(a) => {
            if ctx.four_octet_as {
                out.put_u32(a.asn);
            } else {
                // RFC 6793 §4.2.2: AS_TRANS in the 2-octet AGGREGATOR.
                out.put_u16(u16::try_from(a.asn).unwrap_or(AS_TRANS));
            }
            out.put_slice(&a.addr.octets());
        }
        AttributeValue::As4Aggregator(a) => {
            out.put_u32(a.asn);
            out.put_slice(&a.addr.octets());
        }
        AttributeValue::Communities(c) => c.iter().for_each(|c| out.put_u32(c.0)),
        AttributeValue::ClusterList(c) => c.iter().for_each(|c| out.put_slice(&c.octets())),
        AttributeValue::ExtendedCommunities(c) => {
            c.iter().for_each(|c| out.put_slice(&c.to_bytes()))
        }
        AttributeValue::LargeCommunities(c) => c.iter().for_each(|c| {
            out.put_u32(c.global_admin);
            out.put_u32(c.local_data_1);
            out.put_u32(c.local_data_2);
        }),
        AttributeValue::MpReach(m) => {
            put_mp_reach_head(m.family, &m.next_hop, out);
            put_mp_nlri(m.family, &m.nlri, ctx, out)?;
        }
        AttributeValue::MpUnreach(m) => {
            out.put_u16(m.family.afi.0);
            out.put_u8(m.family.safi.0);
            put_mp_nlri(m.family, &m.withdrawn, ctx, out)?;
        }
        AttributeValue::Unknown { data, .. } => out.put_slice(data),
    }
    Ok(())
}
