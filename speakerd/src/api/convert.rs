//! Conversions between the API's JSON shapes and the library's types, with validation that
//! names the offending field.

use std::net::IpAddr;
use std::time::Instant;

use bgp_fsm::bgp_wire::{
    AttributeValue, ExtendedCommunity, IpNet, LargeCommunity, MpNextHop, Origin, PathAttribute,
    Update,
};
use rib::{Advertisement, NextHop, PeerSelection};

use crate::announce::AnyCommunity;

use super::proto::{ApiError, CountersView, NegotiatedView, PeerView, RouteSpec, RouteView};
use crate::bgp::PeerStatus;

/// Parses a prefix: `203.0.113.0/24`, `2001:db8::/32`, or a bare address (host route).
/// Host bits must be clear.
pub fn parse_prefix(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    let net: IpNet = match s.parse() {
        Ok(n) => n,
        Err(_) => match s.parse::<IpAddr>() {
            Ok(a) => IpNet::from(a),
            Err(_) => {
                return Err(format!(
                    "{s:?} is not a prefix (expected e.g. 203.0.113.10/32 or 2001:db8::/48)"
                ));
            }
        },
    };
    if net.trunc() != net {
        return Err(format!(
            "{s:?} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Parses a community string with the grammar of `[[announce]]` (see
/// [`crate::announce`]): `ASN:VALUE`, a well-known name, `large:A:B:C`, `rt:…`, `soo:…`,
/// `ext:HEX`.
pub fn parse_community(s: &str) -> Result<AnyCommunity, String> {
    crate::announce::parse_community(s.trim())
}

fn ext_text(c: &ExtendedCommunity) -> String {
    let mut s = String::from("ext:");
    for b in c.to_bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parses a large community `GLOBAL:LOCAL1:LOCAL2` (32 bits each, RFC 8092).
pub fn parse_large_community(s: &str) -> Result<LargeCommunity, String> {
    let bad = || format!("{s:?} is not a large community (expected A:B:C, each 0..4294967295)");
    let mut it = s.trim().split(':');
    let mut n =
        || -> Result<u32, String> { it.next().ok_or_else(bad)?.parse::<u32>().map_err(|_| bad()) };
    let (a, b, c) = (n()?, n()?, n()?);
    if it.next().is_some() {
        return Err(bad());
    }
    Ok(LargeCommunity {
        global_admin: a,
        local_data_1: b,
        local_data_2: c,
    })
}

fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::Igp => "igp",
        Origin::Egp => "egp",
        Origin::Incomplete => "incomplete",
    }
}

/// Validates one route; `at` is its JSON path (`routes[3]`). `peer_known` says whether a
/// peer name exists.
pub fn route_from_spec(
    spec: &RouteSpec,
    at: &str,
    peer_known: &dyn Fn(&str) -> bool,
) -> Result<(IpNet, Advertisement), ApiError> {
    let prefix =
        parse_prefix(&spec.prefix).map_err(|e| ApiError::invalid(format!("{at}.prefix"), e))?;
    let mut adv = Advertisement::new();
    if let Some(nh) = &spec.next_hop {
        let f = format!("{at}.next_hop");
        let a: IpAddr = nh
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid(&f, format!("{nh:?} is not an IP address")))?;
        if a.is_unspecified() || a.is_multicast() {
            return Err(ApiError::invalid(&f, format!("{a} cannot be a next hop")));
        }
        // RFC 4760 §3 / RFC 2545: an IPv6 prefix needs an IPv6 next hop (an IPv4 prefix may
        // have an IPv6 one with RFC 8950).
        if prefix.addr().is_ipv6() && a.is_ipv4() {
            return Err(ApiError::invalid(
                &f,
                format!("an IPv6 prefix needs an IPv6 next hop, not {a}"),
            ));
        }
        adv.next_hop = NextHop::Explicit(a);
    }
    if let Some(o) = &spec.origin {
        adv.origin = match o.trim().to_ascii_lowercase().as_str() {
            "igp" => Origin::Igp,
            "egp" => Origin::Egp,
            "incomplete" => Origin::Incomplete,
            _ => {
                return Err(ApiError::invalid(
                    format!("{at}.origin"),
                    format!("{o:?} is not an origin (igp, egp or incomplete)"),
                ));
            }
        };
    }
    for (i, c) in spec.communities.iter().enumerate() {
        match parse_community(c)
            .map_err(|e| ApiError::invalid(format!("{at}.communities[{i}]"), e))?
        {
            AnyCommunity::Standard(c) => adv.communities.push(c),
            AnyCommunity::Large(c) => adv.large_communities.push(c),
            AnyCommunity::Extended(c) => adv.extended_communities.push(c),
        }
    }
    for (i, c) in spec.large_communities.iter().enumerate() {
        adv.large_communities.push(
            parse_large_community(c)
                .map_err(|e| ApiError::invalid(format!("{at}.large_communities[{i}]"), e))?,
        );
    }
    adv.local_pref = spec.local_pref;
    adv.med = spec.med;
    adv.as_path_prepend = spec.as_path_prepend.unwrap_or(0);
    if !spec.peers.is_empty() {
        for (i, p) in spec.peers.iter().enumerate() {
            if !peer_known(p) {
                return Err(ApiError::invalid(
                    format!("{at}.peers[{i}]"),
                    format!("no peer named {p:?}"),
                ));
            }
        }
        adv.peers = PeerSelection::Named(spec.peers.clone());
    }
    Ok((prefix, adv))
}

/// The JSON shape of a desired route.
pub fn spec_from_route(prefix: IpNet, adv: &Advertisement) -> RouteSpec {
    RouteSpec {
        prefix: prefix.to_string(),
        next_hop: match adv.next_hop {
            NextHop::SelfAddr => None,
            NextHop::Explicit(a) => Some(a.to_string()),
        },
        origin: (adv.origin != Origin::Igp).then(|| origin_name(adv.origin).to_string()),
        communities: adv
            .communities
            .iter()
            .map(ToString::to_string)
            .chain(adv.extended_communities.iter().map(ext_text))
            .collect(),
        large_communities: adv
            .large_communities
            .iter()
            .map(ToString::to_string)
            .collect(),
        local_pref: adv.local_pref,
        med: adv.med,
        as_path_prepend: (adv.as_path_prepend != 0).then_some(adv.as_path_prepend),
        peers: match &adv.peers {
            PeerSelection::All => Vec::new(),
            PeerSelection::Named(n) => n.clone(),
        },
    }
}

/// A decoded view of `prefix` with these path attributes.
pub fn route_view(prefix: IpNet, attrs: &[PathAttribute]) -> RouteView {
    let mut v = RouteView {
        prefix: prefix.to_string(),
        ..RouteView::default()
    };
    for a in attrs {
        match &a.value {
            AttributeValue::Origin(o) => v.origin = Some(origin_name(*o).to_string()),
            AttributeValue::AsPath(p) => v.as_path = Some(p.to_string()),
            AttributeValue::NextHop(n) => {
                v.next_hop.get_or_insert_with(|| n.to_string());
            }
            AttributeValue::MpReach(m) => {
                v.next_hop = Some(match m.next_hop {
                    MpNextHop::Ipv4(a) => a.to_string(),
                    MpNextHop::Ipv6 {
                        global,
                        link_local: Some(ll),
                    } => format!("{global},{ll}"),
                    MpNextHop::Ipv6 { global, .. } => global.to_string(),
                })
            }
            AttributeValue::Med(m) => v.med = Some(*m),
            AttributeValue::LocalPref(l) => v.local_pref = Some(*l),
            AttributeValue::Communities(c) => {
                v.communities = c.iter().map(ToString::to_string).collect()
            }
            AttributeValue::ExtendedCommunities(c) => {
                v.extended_communities = c.iter().map(ext_text).collect()
            }
            AttributeValue::LargeCommunities(c) => {
                v.large_communities = c.iter().map(ToString::to_string).collect()
            }
            AttributeValue::MpUnreach(_) => {}
            _ => v.other_attributes.push(a.type_code()),
        }
    }
    v
}

/// The prefixes an UPDATE announces and withdraws (announced ones count as withdrawn when
/// an attribute error asks for treat-as-withdraw, RFC 7606 §2).
pub fn update_prefixes(u: &Update) -> (Vec<IpNet>, Vec<IpNet>) {
    let mut withdrawn: Vec<IpNet> = u.withdrawn_all().map(|n| n.prefix).collect();
    if u.treat_as_withdraw() {
        // RFC 7606 §2: treat-as-withdraw — every announced NLRI is handled as withdrawn.
        withdrawn.extend(u.announced().map(|n| n.prefix));
        return (Vec::new(), withdrawn);
    }
    (u.announced().map(|n| n.prefix).collect(), withdrawn)
}

/// The `peers` view of a status.
pub fn peer_view(
    s: &PeerStatus,
    now: Instant,
    prefixes_sent: Option<usize>,
    prefixes_received: Option<usize>,
) -> PeerView {
    let c = &s.counters;
    PeerView {
        name: s.name.clone(),
        address: s.address.to_string(),
        asn: s.asn,
        state: s.state.to_string(),
        uptime_secs: s
            .established_since
            .map(|t| now.saturating_duration_since(t).as_secs()),
        local: s.connection.map(|(l, _)| l.to_string()),
        remote: s.connection.map(|(_, r)| r.to_string()),
        bfd: s.bfd.map(|b| b.to_string()),
        negotiated: s.negotiated.as_ref().map(|n| NegotiatedView {
            router_id: n.peer_router_id.to_string(),
            hold_time: n.hold_time,
            keepalive: n.keepalive_interval,
            families: n.families.iter().map(ToString::to_string).collect(),
            four_octet_as: n.four_octet_as,
            extended_message: n.extended_message,
            route_refresh: n.route_refresh,
            enhanced_route_refresh: n.enhanced_route_refresh,
            graceful_restart: n.graceful_restart.is_some(),
            add_path_receive: n.add_path_receive.iter().map(ToString::to_string).collect(),
            add_path_send: n.add_path_send.iter().map(ToString::to_string).collect(),
        }),
        prefixes_sent,
        prefixes_received,
        last_error: c.last_error.as_ref().map(ToString::to_string),
        counters: CountersView {
            opens_in: c.opens_in,
            opens_out: c.opens_out,
            updates_in: c.updates_in,
            updates_out: c.updates_out,
            keepalives_in: c.keepalives_in,
            keepalives_out: c.keepalives_out,
            notifications_in: c.notifications_in,
            notifications_out: c.notifications_out,
            route_refreshes_in: c.route_refreshes_in,
            route_refreshes_out: c.route_refreshes_out,
            treat_as_withdraw: c.treat_as_withdraw,
            attributes_discarded: c.attributes_discarded,
            established_transitions: c.established_transitions,
            established_drops: c.established_drops,
            connect_attempts: c.connect_attempts,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_prefix("203.0.113.10").unwrap().to_string(),
            "203.0.113.10/32"
        );
        assert_eq!(
            parse_prefix("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert!(
            parse_prefix("203.0.113.7/24")
                .unwrap_err()
                .contains("203.0.113.0/24")
        );
        assert!(parse_prefix("203.0.113.0/33").is_err());
        assert!(parse_prefix("nope").is_err());
    }

    #[test]
    fn communities() {
        use bgp_fsm::bgp_wire::Community;
        assert_eq!(
            parse_community("64511:100").unwrap(),
            AnyCommunity::Standard(Community::new(64511, 100))
        );
        assert_eq!(
            parse_community("no-export").unwrap(),
            AnyCommunity::Standard(Community::NO_EXPORT)
        );
        assert!(parse_community("65536:1").is_err());
        assert!(parse_community("1").is_err());
        let l = parse_large_community("64511:1:2").unwrap();
        assert_eq!(l.to_string(), "64511:1:2");
        assert!(parse_large_community("1:2").is_err());
        assert!(parse_large_community("1:2:3:4").is_err());
    }

    #[test]
    fn route_round_trip() {
        let spec = RouteSpec {
            prefix: "203.0.113.10/32".into(),
            next_hop: Some("192.0.2.1".into()),
            origin: Some("incomplete".into()),
            communities: vec!["64511:100".into()],
            large_communities: vec!["64511:1:2".into()],
            local_pref: Some(200),
            med: Some(5),
            as_path_prepend: Some(2),
            peers: vec!["tor1".into()],
        };
        let (p, a) = route_from_spec(&spec, "routes[0]", &|n| n == "tor1").unwrap();
        assert_eq!(spec_from_route(p, &a), spec);
        let e = route_from_spec(&spec, "routes[0]", &|_| false).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("routes[0].peers[0]"));
        let v6 = RouteSpec {
            prefix: "2001:db8::/48".into(),
            next_hop: Some("192.0.2.1".into()),
            ..RouteSpec::default()
        };
        let e = route_from_spec(&v6, "routes[1]", &|_| true).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("routes[1].next_hop"));
    }
}
