//! Export rules: what one peer receives for one advertisement.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_fsm::Negotiated;
use bgp_wire::{
    AS_TRANS, Afi, AsPath, AttributeValue, Capability, EncodeContext, Family, MAX_MESSAGE_LEN,
    MpNextHop, MpReach, PathAttribute,
};

use crate::advert::{Advertisement, NextHop};

/// LOCAL_PREF sent to iBGP peers when the advertisement sets none (RFC 4271
/// §5.1.5 leaves the value to policy; 100 is the common default).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Everything the export rules need to know about one established session.
///
/// Built by the runtime from [`bgp_fsm::Negotiated`] and the socket addresses
/// ([`PeerExport::from_negotiated`]), or by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerExport {
    /// The peer's name (what [`PeerSelection::Named`](crate::PeerSelection::Named) matches).
    pub name: String,
    /// Our AS on this session.
    pub local_asn: u32,
    /// The peer's AS (equal to `local_asn` for iBGP).
    pub peer_asn: u32,
    /// Our IPv4 address for NEXT_HOP self (the session's local address on an IPv4 session).
    pub local_v4: Option<Ipv4Addr>,
    /// Our global IPv6 address for the MP_REACH next hop self.
    pub local_v6: Option<Ipv6Addr>,
    /// Our link-local IPv6 address, set only when the peer is on the same link
    /// (RFC 2545 §3: then the next hop carries global + link-local).
    pub link_local_v6: Option<Ipv6Addr>,
    /// Families negotiated on the session (RFC 4760); only IPv4/IPv6 unicast carry routes.
    pub families: Vec<Family>,
    /// RFC 8950: both sides announced IPv4 unicast NLRI with IPv6 next hops.
    pub extended_nexthop_ipv4: bool,
    /// RFC 6793: 4-octet AS numbers on the session.
    pub four_octet_as: bool,
    /// RFC 7911: families for which we send path identifiers (we send path id 1).
    pub add_path_send: Vec<Family>,
    /// Largest UPDATE to send: 4096, or up to 65535 with RFC 8654 extended
    /// messages (smaller values are honoured too, down to what one prefix needs).
    pub max_message_len: usize,
    /// RFC 7313: the peer supports enhanced route refresh (BoRR/EoRR around a refresh).
    pub enhanced_route_refresh: bool,
}

impl PeerExport {
    /// A plain session: IPv4 unicast only, 4-octet AS, 4096-byte messages, no addresses.
    pub fn new(name: impl Into<String>, local_asn: u32, peer_asn: u32) -> PeerExport {
        PeerExport {
            name: name.into(),
            local_asn,
            peer_asn,
            local_v4: None,
            local_v6: None,
            link_local_v6: None,
            families: vec![Family::IPV4_UNICAST],
            extended_nexthop_ipv4: false,
            four_octet_as: true,
            add_path_send: Vec::new(),
            max_message_len: MAX_MESSAGE_LEN,
            enhanced_route_refresh: false,
        }
    }

    /// From what the OPEN exchange settled and the session's local address.
    /// `link_local_v6` is our link-local address when the peer is on the same
    /// link (else `None`); a session between link-local addresses then sends
    /// the link-local address alone as next hop. RFC 8950 extended next hop for IPv4 is on when both
    /// OPENs carry the IPv4-unicast-over-IPv6 entry.
    pub fn from_negotiated(
        name: impl Into<String>,
        local_asn: u32,
        n: &Negotiated,
        local_addr: IpAddr,
        link_local_v6: Option<Ipv6Addr>,
    ) -> PeerExport {
        let enh = |o: &bgp_wire::Open| {
            o.capabilities().any(|c| match c {
                Capability::ExtendedNextHop(es) => es.iter().any(|e| {
                    e.family() == Some(Family::IPV4_UNICAST) && e.next_hop_afi == Afi::IPV6
                }),
                _ => false,
            })
        };
        let (local_v4, local_v6) = match local_addr {
            IpAddr::V4(a) => (Some(a), None),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => (Some(v4), None),
                // A session over link-local addresses has no global address of ours.
                None if a.is_unicast_link_local() => (None, None),
                None => (None, Some(a)),
            },
        };
        PeerExport {
            name: name.into(),
            local_asn,
            peer_asn: n.peer_asn,
            local_v4,
            local_v6,
            link_local_v6,
            families: n.families.clone(),
            extended_nexthop_ipv4: enh(&n.local_open) && enh(&n.peer_open),
            four_octet_as: n.four_octet_as,
            add_path_send: n.add_path_send.clone(),
            max_message_len: n.max_message_len(),
            enhanced_route_refresh: n.enhanced_route_refresh,
        }
    }

    /// True when the peer is in another AS.
    pub fn is_ebgp(&self) -> bool {
        self.local_asn != self.peer_asn
    }

    /// The encode context for this session.
    pub fn encode_ctx(&self) -> EncodeContext {
        EncodeContext {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path_send.clone(),
            extended_message: self.max_message_len > MAX_MESSAGE_LEN,
        }
    }

    /// True when `family` was negotiated.
    pub fn has_family(&self, family: Family) -> bool {
        self.families.contains(&family)
    }
}

/// The path attributes `peer` receives for `adv` on an IPv4 (`v6 == false`) or
/// IPv6 prefix, in type-code order, or `None` when the route is not exported to
/// this peer (not selected, family not negotiated, or no usable next hop).
///
/// For MP_REACH_NLRI the attribute is included with an empty NLRI list (the
/// packer fills it).
pub fn export_attributes(
    adv: &Advertisement,
    peer: &PeerExport,
    v6: bool,
) -> Option<Vec<PathAttribute>> {
    if !adv.peers.includes(&peer.name) {
        return None;
    }
    let family = if v6 {
        Family::IPV6_UNICAST
    } else {
        Family::IPV4_UNICAST
    };
    // RFC 4760 §6: only send NLRI of families the peer negotiated.
    if !peer.has_family(family) {
        return None;
    }
    enum Nh {
        Trad(Ipv4Addr),
        Mp(MpNextHop),
    }
    let nh = match (v6, adv.next_hop) {
        (false, NextHop::Explicit(IpAddr::V4(a))) => Nh::Trad(a),
        // RFC 8950 §3: an IPv4 prefix with an IPv6 next hop only where negotiated.
        (false, NextHop::Explicit(IpAddr::V6(a))) if peer.extended_nexthop_ipv4 => {
            Nh::Mp(MpNextHop::Ipv6 {
                global: a,
                link_local: None,
            })
        }
        (false, NextHop::Explicit(IpAddr::V6(_))) => return None,
        (false, NextHop::SelfAddr) => match peer.local_v4 {
            Some(a) => Nh::Trad(a),
            None if peer.extended_nexthop_ipv4 => Nh::Mp(self_v6(peer)?),
            None => return None,
        },
        (true, NextHop::Explicit(IpAddr::V6(a))) => Nh::Mp(MpNextHop::Ipv6 {
            global: a,
            link_local: None,
        }),
        (true, NextHop::Explicit(IpAddr::V4(_))) => return None,
        (true, NextHop::SelfAddr) => Nh::Mp(self_v6(peer)?),
    };

    let mut out = Vec::with_capacity(9);
    if let Nh::Mp(next_hop) = nh {
        out.push(PathAttribute::new(AttributeValue::MpReach(MpReach {
            family,
            next_hop,
            nlri: Vec::new(),
        })));
    }
    out.push(PathAttribute::new(AttributeValue::Origin(adv.origin)));
    // RFC 4271 §5.1.2: to an external peer we prepend our own AS; to an internal
    // peer a locally originated route has an empty AS_PATH. Extra prepends go to
    // external peers only: an internal peer would see its own AS and drop the route
    // as a loop (RFC 4271 §9.1.2).
    let n = if peer.is_ebgp() {
        1 + usize::from(adv.as_path_prepend)
    } else {
        0
    };
    let asns = vec![peer.local_asn; n];
    out.push(PathAttribute::new(AttributeValue::AsPath(
        AsPath::from_sequence(asns.clone()),
    )));
    if let Nh::Trad(a) = nh {
        out.push(PathAttribute::new(AttributeValue::NextHop(a)));
    }
    if let Some(m) = adv.med {
        out.push(PathAttribute::new(AttributeValue::Med(m)));
    }
    // RFC 4271 §5.1.5: LOCAL_PREF goes to internal peers only.
    if !peer.is_ebgp() {
        out.push(PathAttribute::new(AttributeValue::LocalPref(
            adv.local_pref.unwrap_or(DEFAULT_LOCAL_PREF),
        )));
    }
    if !adv.communities.is_empty() {
        out.push(PathAttribute::new(AttributeValue::Communities(
            adv.communities.clone(),
        )));
    }
    if !adv.extended_communities.is_empty() {
        out.push(PathAttribute::new(AttributeValue::ExtendedCommunities(
            adv.extended_communities.clone(),
        )));
    }
    // RFC 6793 §4.2.2: to a 2-octet peer, AS numbers above 65535 become AS_TRANS
    // in AS_PATH (done by the encoder) and the true path goes in AS4_PATH.
    if !peer.four_octet_as && asns.iter().any(|&a| a > u32::from(u16::MAX)) {
        debug_assert!(peer.local_asn != u32::from(AS_TRANS));
        out.push(PathAttribute::new(AttributeValue::As4Path(
            AsPath::from_sequence(asns),
        )));
    }
    if !adv.large_communities.is_empty() {
        out.push(PathAttribute::new(AttributeValue::LargeCommunities(
            adv.large_communities.clone(),
        )));
    }
    Some(out)
}

/// Next hop self for an MP_REACH: global (or, without one, the link-local in
/// its place) plus the link-local when the peer shares the link (RFC 2545 §3).
fn self_v6(peer: &PeerExport) -> Option<MpNextHop> {
    match (peer.local_v6, peer.link_local_v6) {
        (Some(global), ll) => Some(MpNextHop::Ipv6 {
            global,
            link_local: ll,
        }),
        (None, Some(ll)) => Some(MpNextHop::Ipv6 {
            global: ll,
            link_local: None,
        }),
        (None, None) => None,
    }
}
