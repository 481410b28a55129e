//! Any sequence of desired-state changes, sessions going down and up, refreshes
//! and partial drains leaves every up peer, once drained, holding exactly the
//! desired routes after export, as seen by decoding every byte it was sent.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_wire::{Community, Family, IpNet, LargeCommunity, RouteRefresh};
use common::{Model, drain, expected};
use proptest::prelude::*;
use rib::{Advertisement, NextHop, PeerExport, PeerId, PeerSelection, Rib, Source};

fn prefixes() -> Vec<IpNet> {
    [
        "203.0.113.0/24",
        "203.0.113.0/25",
        "203.0.113.128/25",
        "203.0.113.100/32",
        "198.51.100.0/24",
        "198.51.100.7/32",
        "192.0.2.0/24",
        "192.0.2.0/23",
        "192.0.2.64/26",
        "198.51.100.128/28",
        "2001:db8::/32",
        "2001:db8:1::/48",
        "2001:db8:1:2::/64",
        "2001:db8::1/128",
        "2001:db8:ffff::/47",
        "2001:db8:0:100::/56",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect()
}

fn adverts() -> Vec<Advertisement> {
    vec![
        Advertisement::new(),
        Advertisement {
            med: Some(10),
            communities: vec![Community::new(64500, 1)],
            ..Advertisement::new()
        },
        Advertisement {
            local_pref: Some(200),
            as_path_prepend: 2,
            large_communities: vec![LargeCommunity {
                global_admin: 64500,
                local_data_1: 1,
                local_data_2: 1,
            }],
            ..Advertisement::new()
        },
        Advertisement {
            peers: PeerSelection::Named(vec!["ibgp".into()]),
            ..Advertisement::new()
        },
        Advertisement {
            next_hop: NextHop::Explicit(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))),
            ..Advertisement::new()
        },
        Advertisement {
            next_hop: NextHop::Explicit(IpAddr::V6("2001:db8::99".parse().unwrap())),
            med: Some(20),
            ..Advertisement::new()
        },
    ]
}

fn peers() -> Vec<PeerExport> {
    let v6 = |s: &str| -> Ipv6Addr { s.parse().unwrap() };
    // eBGP, IPv4 only, 4-octet AS.
    let mut a = PeerExport::new("ebgp", 64500, 64501);
    a.local_v4 = Some(Ipv4Addr::new(192, 0, 2, 1));
    // iBGP, dual stack on a shared link, ADD-PATH for IPv4, tiny messages.
    let mut b = PeerExport::new("ibgp", 64500, 64500);
    b.local_v4 = Some(Ipv4Addr::new(192, 0, 2, 1));
    b.local_v6 = Some(v6("2001:db8::1"));
    b.link_local_v6 = Some(v6("fe80::1"));
    b.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    b.add_path_send = vec![Family::IPV4_UNICAST];
    b.max_message_len = 200;
    b.enhanced_route_refresh = true;
    // eBGP over IPv6 only, RFC 8950 for IPv4, 2-octet AS session with a 4-octet local AS.
    let mut c = PeerExport::new("v6only", 4_200_000_000, 64502);
    c.local_v6 = Some(v6("2001:db8::1"));
    c.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    c.extended_nexthop_ipv4 = true;
    c.four_octet_as = false;
    c.max_message_len = 300;
    vec![a, b, c]
}

#[derive(Debug, Clone)]
enum Op {
    Announce(usize, usize, usize),
    Withdraw(usize, usize),
    Set(usize, Vec<(usize, usize)>),
    Up(usize),
    Down(usize),
    Poll(usize, usize),
    Refresh(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..16usize, 0..6usize).prop_map(|(s, p, a)| Op::Announce(s, p, a)),
        2 => (0..2usize, 0..16usize).prop_map(|(s, p)| Op::Withdraw(s, p)),
        1 => (0..2usize, proptest::collection::vec((0..16usize, 0..6usize), 0..10))
            .prop_map(|(s, v)| Op::Set(s, v)),
        1 => (0..3usize).prop_map(Op::Up),
        1 => (0..3usize).prop_map(Op::Down),
        3 => (0..3usize, prop_oneof![Just(0usize), 1..400usize, Just(usize::MAX)])
            .prop_map(|(p, b)| Op::Poll(p, b)),
        1 => (0..3usize, any::<bool>()).prop_map(|(p, v6)| Op::Refresh(p, v6)),
    ]
}

fn source(i: usize) -> Source {
    Source::ALL[i]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_up_peer_converges_to_the_desired_export(ops in proptest::collection::vec(op(), 1..60)) {
        let pfx = prefixes();
        let adv = adverts();
        let exports = peers();
        let mut rib = Rib::new();
        let mut up: Vec<Option<(PeerId, Model)>> = vec![None, None, None];
        for op in ops {
            match op {
                Op::Announce(s, p, a) => {
                    rib.announce(source(s), pfx[p], adv[a].clone());
                }
                Op::Withdraw(s, p) => {
                    rib.withdraw(source(s), pfx[p]);
                }
                Op::Set(s, v) => {
                    rib.set(source(s), v.into_iter().map(|(p, a)| (pfx[p], adv[a].clone())));
                }
                Op::Up(i) => {
                    if up[i].is_none() {
                        up[i] = Some((rib.peer_up(exports[i].clone()), Model::default()));
                    }
                }
                Op::Down(i) => {
                    if let Some((id, _)) = up[i].take() {
                        rib.peer_down(id);
                    }
                }
                Op::Poll(i, budget) => {
                    if let Some((id, m)) = &mut up[i] {
                        let pending = rib.has_pending(*id);
                        prop_assert_eq!(pending, rib.peers_with_pending().contains(id));
                        let msgs = rib.poll_updates(*id, budget);
                        // Nothing hidden: a peer without pending work sends nothing.
                        prop_assert!(pending || msgs.is_empty());
                        let total: usize = msgs.iter().map(|b| b.len()).sum();
                        prop_assert!(total <= budget || msgs.len() == 1);
                        m.apply(&msgs, &exports[i]);
                    }
                }
                Op::Refresh(i, v6) => {
                    if let Some((id, _)) = &up[i] {
                        let f = if v6 { Family::IPV6_UNICAST } else { Family::IPV4_UNICAST };
                        rib.route_refresh(*id, f);
                    }
                }
            }
        }
        for (i, slot) in up.iter_mut().enumerate() {
            let Some((id, m)) = slot else { continue };
            let e = &exports[i];
            m.apply(&drain(&mut rib, *id, 512), e);
            prop_assert_eq!(&m.routes, &expected(&rib, e), "peer {}", e.name);
            // End-of-RIB exactly once per negotiated family.
            let mut eor = m.eor.clone();
            eor.sort();
            let mut fams = e.families.clone();
            fams.sort();
            prop_assert_eq!(eor, fams);
            // Refresh markers come in BoRR/EoRR pairs.
            let borr = m.refresh.iter().filter(|r| r.subtype == RouteRefresh::BORR).count();
            let eorr = m.refresh.iter().filter(|r| r.subtype == RouteRefresh::EORR).count();
            prop_assert_eq!(borr, eorr);
            prop_assert!(!rib.has_pending(*id));
        }
        // Nothing announced and no peer holding anything: everything reclaimed.
        let mut rib = rib;
        for s in Source::ALL {
            rib.set(s, Vec::new());
        }
        for (i, slot) in up.iter_mut().enumerate() {
            if let Some((id, m)) = slot {
                m.apply(&drain(&mut rib, *id, usize::MAX), &exports[i]);
                prop_assert!(m.routes.is_empty());
            }
        }
        prop_assert!(rib.is_empty());
        prop_assert_eq!(rib.attribute_sets(), 0);
    }
}
