//! Export rules, idempotence, coalescing, End-of-RIB and route refresh.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_fsm::Negotiated;
use bgp_wire::{
    AS_TRANS, Afi, AsPath, AttributeValue, Capability, Community, ExtendedCommunity,
    ExtendedNextHopEntry, Family, IpNet, LargeCommunity, Message, MpNextHop, Open, Origin,
    RouteRefresh, Safi,
};
use common::{Model, decode, drain, expected};
use rib::{Advertisement, NextHop, PeerExport, PeerSelection, Rib, Source};

const LOCAL: u32 = 64500;
const REMOTE: u32 = 64501;

fn p(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ebgp() -> PeerExport {
    let mut e = PeerExport::new("r1", LOCAL, REMOTE);
    e.local_v4 = Some(v4("192.0.2.1"));
    e
}

fn ibgp() -> PeerExport {
    let mut e = PeerExport::new("r1", LOCAL, LOCAL);
    e.local_v4 = Some(v4("192.0.2.1"));
    e
}

fn dual(mut e: PeerExport) -> PeerExport {
    e.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    e.local_v6 = Some(v6("2001:db8::1"));
    e
}

/// Brings the peer up, drains, returns the model.
fn sync(rib: &mut Rib, e: &PeerExport) -> (rib::PeerId, Model) {
    let id = rib.peer_up(e.clone());
    let mut m = Model::default();
    m.apply(&drain(rib, id, usize::MAX), e);
    (id, m)
}

fn attrs_of(m: &Model, prefix: &str) -> Vec<AttributeValue> {
    m.routes
        .get(&p(prefix))
        .unwrap_or_else(|| panic!("{prefix} not received"))
        .clone()
}

fn has<F: Fn(&AttributeValue) -> bool>(a: &[AttributeValue], f: F) -> bool {
    a.iter().any(f)
}

#[test]
fn ebgp_prepends_our_as_sets_next_hop_self_and_no_local_pref() {
    let mut rib = Rib::new();
    let adv = Advertisement {
        communities: vec![Community::new(64500, 7), Community::new(64500, 1)],
        extended_communities: vec![ExtendedCommunity::route_target_as2(64500, 9)],
        large_communities: vec![LargeCommunity {
            global_admin: 64500,
            local_data_1: 1,
            local_data_2: 2,
        }],
        med: Some(42),
        local_pref: Some(300),
        origin: Origin::Incomplete,
        ..Advertisement::new()
    };
    rib.announce(Source::Api, p("203.0.113.0/24"), adv);
    let e = ebgp();
    let (_, m) = sync(&mut rib, &e);
    let a = attrs_of(&m, "203.0.113.0/24");
    assert_eq!(
        a,
        vec![
            AttributeValue::Origin(Origin::Incomplete),
            AttributeValue::AsPath(AsPath::from_sequence(vec![LOCAL])),
            AttributeValue::NextHop(v4("192.0.2.1")),
            AttributeValue::Med(42),
            // communities sorted (normalised)
            AttributeValue::Communities(vec![Community::new(64500, 1), Community::new(64500, 7)]),
            AttributeValue::ExtendedCommunities(vec![ExtendedCommunity::route_target_as2(
                64500, 9
            )]),
            AttributeValue::LargeCommunities(vec![LargeCommunity {
                global_admin: 64500,
                local_data_1: 1,
                local_data_2: 2
            }]),
        ]
    );
    assert_eq!(m.eor, vec![Family::IPV4_UNICAST]);
}

#[test]
fn ibgp_empty_as_path_even_with_prepend_default_and_explicit_local_pref() {
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("203.0.113.0/25"), Advertisement::new());
    rib.announce(
        Source::Api,
        p("203.0.113.128/25"),
        Advertisement {
            local_pref: Some(250),
            as_path_prepend: 2,
            next_hop: NextHop::Explicit(IpAddr::V4(v4("198.51.100.9"))),
            ..Advertisement::new()
        },
    );
    let e = ibgp();
    let (_, m) = sync(&mut rib, &e);
    let a = attrs_of(&m, "203.0.113.0/25");
    assert!(has(&a, |v| *v == AttributeValue::AsPath(AsPath::empty())));
    assert!(has(&a, |v| *v == AttributeValue::LocalPref(100)));
    assert!(has(&a, |v| *v == AttributeValue::NextHop(v4("192.0.2.1"))));
    let b = attrs_of(&m, "203.0.113.128/25");
    // Prepends are for eBGP only: our own AS in the path would be a loop to an iBGP peer.
    assert!(has(&b, |v| *v == AttributeValue::AsPath(AsPath::empty())));
    assert!(has(&b, |v| *v == AttributeValue::LocalPref(250)));
    assert!(has(&b, |v| *v == AttributeValue::NextHop(v4("198.51.100.9"))));

    // eBGP with prepend 2: three copies, and no LOCAL_PREF.
    let mut rib2 = Rib::new();
    rib2.announce(
        Source::Api,
        p("203.0.113.128/25"),
        Advertisement {
            local_pref: Some(250),
            as_path_prepend: 2,
            ..Advertisement::new()
        },
    );
    let (_, m) = sync(&mut rib2, &ebgp());
    let b = attrs_of(&m, "203.0.113.128/25");
    assert!(has(&b, |v| *v
        == AttributeValue::AsPath(AsPath::from_sequence(vec![
            LOCAL;
            3
        ]))));
    assert!(!has(&b, |v| matches!(v, AttributeValue::LocalPref(_))));
}

#[test]
fn only_negotiated_families_are_sent() {
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("203.0.113.1/32"), Advertisement::new());
    rib.announce(Source::Api, p("2001:db8::1/128"), Advertisement::new());
    // IPv4 only (with an IPv6 address available: still no IPv6 routes).
    let mut e = ebgp();
    e.local_v6 = Some(v6("2001:db8::1"));
    let (_, m) = sync(&mut rib, &e);
    assert_eq!(
        m.routes.keys().copied().collect::<Vec<_>>(),
        vec![p("203.0.113.1/32")]
    );
    assert_eq!(m.eor, vec![Family::IPV4_UNICAST]);
    // IPv6 only.
    let mut e = ebgp();
    e.families = vec![Family::IPV6_UNICAST];
    e.local_v6 = Some(v6("2001:db8::1"));
    let (_, m) = sync(&mut rib, &e);
    assert_eq!(
        m.routes.keys().copied().collect::<Vec<_>>(),
        vec![p("2001:db8::1/128")]
    );
    assert_eq!(m.eor, vec![Family::IPV6_UNICAST]);
}

#[test]
fn ipv6_in_mp_reach_with_link_local_when_on_link() {
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("2001:db8:100::/48"), Advertisement::new());
    let mut e = dual(ebgp());
    e.link_local_v6 = Some(v6("fe80::1"));
    let id = rib.peer_up(e.clone());
    let msgs = drain(&mut rib, id, usize::MAX);
    // IPv4 End-of-RIB (nothing to send there), then the IPv6 route.
    assert_eq!(msgs.len(), 3);
    let Message::Update(u) = decode(&msgs[1], &e) else {
        panic!()
    };
    let mp = u.mp_reach().expect("MP_REACH_NLRI");
    assert_eq!(mp.family, Family::IPV6_UNICAST);
    assert_eq!(
        mp.next_hop,
        MpNextHop::Ipv6 {
            global: v6("2001:db8::1"),
            link_local: Some(v6("fe80::1"))
        }
    );
    assert_eq!(mp.nlri[0].prefix, p("2001:db8:100::/48"));
    assert!(u.next_hop().is_none(), "no NEXT_HOP for IPv6-only UPDATE");
    let mut m = Model::default();
    m.apply(&msgs, &e);
    assert_eq!(m.eor, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);

    // Not on the same link: global only (16 bytes).
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("2001:db8:100::/48"), Advertisement::new());
    let e = dual(ebgp());
    let (_, m) = sync(&mut rib, &e);
    assert!(has(&attrs_of(&m, "2001:db8:100::/48"), |v| matches!(
        v,
        AttributeValue::MpReach(r) if r.next_hop == MpNextHop::Ipv6 { global: v6("2001:db8::1"), link_local: None }
    )));

    // Explicit IPv6 next hop: global only, even on a shared link.
    let mut rib = Rib::new();
    rib.announce(
        Source::Api,
        p("2001:db8:100::/48"),
        Advertisement {
            next_hop: NextHop::Explicit(IpAddr::V6(v6("2001:db8::99"))),
            ..Advertisement::new()
        },
    );
    let mut e = dual(ebgp());
    e.link_local_v6 = Some(v6("fe80::1"));
    let (_, m) = sync(&mut rib, &e);
    assert!(has(&attrs_of(&m, "2001:db8:100::/48"), |v| matches!(
        v,
        AttributeValue::MpReach(r) if r.next_hop == MpNextHop::Ipv6 { global: v6("2001:db8::99"), link_local: None }
    )));
}

#[test]
fn rfc8950_ipv4_over_ipv6_next_hop_only_when_negotiated() {
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("203.0.113.100/32"), Advertisement::new());
    // IPv6-only session (no local IPv4), IPv4 family negotiated with extended next hop.
    let mut e = PeerExport::new("r1", LOCAL, REMOTE);
    e.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    e.local_v6 = Some(v6("2001:db8::1"));
    e.link_local_v6 = Some(v6("fe80::1"));
    e.extended_nexthop_ipv4 = true;
    let id = rib.peer_up(e.clone());
    let msgs = drain(&mut rib, id, usize::MAX);
    let Message::Update(u) = decode(&msgs[0], &e) else {
        panic!()
    };
    assert!(u.nlri.is_empty(), "IPv4 NLRI not in the traditional field");
    let mp = u.mp_reach().unwrap();
    assert_eq!(mp.family, Family::IPV4_UNICAST);
    assert_eq!(
        mp.next_hop,
        MpNextHop::Ipv6 {
            global: v6("2001:db8::1"),
            link_local: Some(v6("fe80::1"))
        }
    );
    assert_eq!(mp.nlri[0].prefix, p("203.0.113.100/32"));

    // Withdrawal of that route is exact too.
    rib.withdraw(Source::Api, p("203.0.113.100/32"));
    let mut m = Model::default();
    m.apply(&msgs, &e);
    assert_eq!(m.routes.len(), 1);
    m.apply(&drain(&mut rib, id, usize::MAX), &e);
    assert!(m.routes.is_empty());

    // Same session without RFC 8950: no IPv4 route at all.
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("203.0.113.100/32"), Advertisement::new());
    e.extended_nexthop_ipv4 = false;
    let (_, m) = sync(&mut rib, &e);
    assert!(m.routes.is_empty());
    assert_eq!(m.eor, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
}

#[test]
fn two_octet_peer_gets_as_trans_and_as4_path() {
    let big = 4_200_000_001;
    let mut rib = Rib::new();
    rib.announce(
        Source::Api,
        p("203.0.113.0/24"),
        Advertisement {
            as_path_prepend: 1,
            ..Advertisement::new()
        },
    );
    let mut e = PeerExport::new("r1", big, REMOTE);
    e.local_v4 = Some(v4("192.0.2.1"));
    e.four_octet_as = false;
    let id = rib.peer_up(e.clone());
    let msgs = drain(&mut rib, id, usize::MAX);
    let Message::Update(u) = decode(&msgs[0], &e) else {
        panic!()
    };
    assert_eq!(
        u.as_path(),
        Some(&AsPath::from_sequence(vec![u32::from(AS_TRANS); 2]))
    );
    assert_eq!(u.as4_path(), Some(&AsPath::from_sequence(vec![big; 2])));

    // A 2-octet local AS needs no AS4_PATH.
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("203.0.113.0/24"), Advertisement::new());
    let mut e = ebgp();
    e.four_octet_as = false;
    let (_, m) = sync(&mut rib, &e);
    let a = attrs_of(&m, "203.0.113.0/24");
    assert!(!has(&a, |v| matches!(v, AttributeValue::As4Path(_))));
    assert!(has(&a, |v| *v
        == AttributeValue::AsPath(AsPath::from_sequence(vec![LOCAL]))));
}

#[test]
fn named_peer_selection() {
    let mut rib = Rib::new();
    rib.announce(
        Source::Api,
        p("203.0.113.10/32"),
        Advertisement {
            peers: PeerSelection::Named(vec!["b".into(), "a".into()]),
            ..Advertisement::new()
        },
    );
    rib.announce(Source::Api, p("203.0.113.11/32"), Advertisement::new());
    let mut a = ebgp();
    a.name = "a".into();
    let mut c = ebgp();
    c.name = "c".into();
    let (ia, ma) = sync(&mut rib, &a);
    let (ic, mc) = sync(&mut rib, &c);
    assert_eq!(ma.routes.len(), 2);
    assert_eq!(
        mc.routes.keys().copied().collect::<Vec<_>>(),
        vec![p("203.0.113.11/32")]
    );
    // Narrowing the selection withdraws from the peer no longer selected only.
    rib.announce(
        Source::Api,
        p("203.0.113.10/32"),
        Advertisement {
            peers: PeerSelection::Named(vec!["c".into()]),
            ..Advertisement::new()
        },
    );
    let mut ma = ma;
    let mut mc = mc;
    ma.apply(&drain(&mut rib, ia, usize::MAX), &a);
    mc.apply(&drain(&mut rib, ic, usize::MAX), &c);
    assert_eq!(
        ma.routes.keys().copied().collect::<Vec<_>>(),
        vec![p("203.0.113.11/32")]
    );
    assert_eq!(mc.routes.len(), 2);
}

#[test]
fn idempotent_announce_withdraw_and_set() {
    let mut rib = Rib::new();
    let routes: Vec<(IpNet, Advertisement)> = (0..50u8)
        .map(|i| {
            (
                IpNet::V4(format!("198.51.100.{i}/32").parse().unwrap()),
                Advertisement::new(),
            )
        })
        .collect();
    assert_eq!(rib.set(Source::Api, routes.clone()), 50);
    let e = ebgp();
    let (id, m) = sync(&mut rib, &e);
    assert_eq!(m.routes.len(), 50);
    // Same again, in any form: nothing changes, nothing is sent.
    assert_eq!(rib.set(Source::Api, routes.iter().rev().cloned()), 0);
    assert!(!rib.announce(Source::Api, routes[0].0, Advertisement::new()));
    // Host bits are cleared: the same prefix.
    assert!(!rib.announce(Source::Api, p("198.51.100.3/32"), Advertisement::new()));
    assert!(!rib.has_pending(id));
    assert!(rib.poll_updates(id, usize::MAX).is_empty());
    // Equal after normalisation (community order, duplicates): no UPDATE.
    let c1 = Advertisement {
        communities: vec![Community::new(1, 1), Community::new(2, 2)],
        ..Advertisement::new()
    };
    let c2 = Advertisement {
        communities: vec![
            Community::new(2, 2),
            Community::new(1, 1),
            Community::new(2, 2),
        ],
        ..Advertisement::new()
    };
    assert!(rib.announce(Source::Api, routes[0].0, c1));
    assert_eq!(drain(&mut rib, id, usize::MAX).len(), 1);
    assert!(!rib.announce(Source::Api, routes[0].0, c2));
    assert!(rib.poll_updates(id, usize::MAX).is_empty());
    // Withdrawing twice: the second is a no-op.
    assert!(rib.withdraw(Source::Api, routes[1].0));
    assert!(!rib.withdraw(Source::Api, routes[1].0));
    assert_eq!(drain(&mut rib, id, usize::MAX).len(), 1);
    assert!(!rib.withdraw(Source::Api, p("203.0.113.0/24")));
    assert!(rib.poll_updates(id, usize::MAX).is_empty());
}

#[test]
fn attribute_change_invisible_to_peer_sends_nothing() {
    // LOCAL_PREF only matters to iBGP: changing it sends nothing to an eBGP peer.
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("203.0.113.0/24"), Advertisement::new());
    let (id, _) = sync(&mut rib, &ebgp());
    rib.announce(
        Source::Api,
        p("203.0.113.0/24"),
        Advertisement {
            local_pref: Some(500),
            ..Advertisement::new()
        },
    );
    assert!(rib.poll_updates(id, usize::MAX).is_empty());
}

#[test]
fn coalescing_latest_state_wins() {
    let mut rib = Rib::new();
    let e = ebgp();
    let (id, mut m) = sync(&mut rib, &e);
    assert!(m.routes.is_empty());
    // Announced then withdrawn before sending: nothing at all.
    rib.announce(Source::Api, p("203.0.113.1/32"), Advertisement::new());
    rib.withdraw(Source::Api, p("203.0.113.1/32"));
    assert!(rib.poll_updates(id, usize::MAX).is_empty());
    // Three changes of one prefix: only the last goes out.
    for med in [1, 2, 3] {
        rib.announce(
            Source::Api,
            p("203.0.113.2/32"),
            Advertisement {
                med: Some(med),
                ..Advertisement::new()
            },
        );
    }
    let msgs = drain(&mut rib, id, usize::MAX);
    assert_eq!(msgs.len(), 1);
    m.apply(&msgs, &e);
    assert!(has(&attrs_of(&m, "203.0.113.2/32"), |v| *v
        == AttributeValue::Med(3)));
}

#[test]
fn backpressure_partial_polls_then_changes_converge() {
    let mut rib = Rib::new();
    let prefixes: Vec<IpNet> = (0..2000u32)
        .map(|i| {
            IpNet::V4(
                bgp_wire::Ipv4Net::new(Ipv4Addr::from(0xC633_6400 + (i << 8) % 0x100_0000), 24)
                    .unwrap(),
            )
        })
        .collect();
    rib.announce_all(Source::Api, prefixes.iter().copied(), Advertisement::new());
    let e = ebgp();
    let id = rib.peer_up(e.clone());
    let mut m = Model::default();
    // Small polls: every poll within budget (or one message), progress each time.
    let first = rib.poll_updates(id, 1000);
    assert!(!first.is_empty());
    assert!(first.iter().map(|b| b.len()).sum::<usize>() <= 1000);
    m.apply(&first, &e);
    assert!(
        m.eor.is_empty(),
        "no End-of-RIB before the initial sync ends"
    );
    // Changes in the middle: withdraw some already sent, some not yet sent.
    let sent_already = *m.routes.keys().next().unwrap();
    rib.withdraw(Source::Api, sent_already);
    rib.withdraw(Source::Api, prefixes[1999]);
    rib.announce(
        Source::Api,
        prefixes[1000],
        Advertisement {
            med: Some(9),
            ..Advertisement::new()
        },
    );
    for _ in 0..3 {
        m.apply(&rib.poll_updates(id, 300), &e);
    }
    m.apply(&drain(&mut rib, id, 1500), &e);
    assert_eq!(m.routes, expected(&rib, &e));
    assert_eq!(m.routes.len(), 1998);
    assert_eq!(m.eor, vec![Family::IPV4_UNICAST]);
}

#[test]
fn packing_shares_messages_and_respects_max_size() {
    let mut rib = Rib::new();
    let a: Vec<IpNet> = (0..3000u32)
        .map(|i| IpNet::V4(bgp_wire::Ipv4Net::new(Ipv4Addr::from(0xCB00_7100 + i), 32).unwrap()))
        .collect();
    rib.announce_all(Source::Api, a[..2000].iter().copied(), Advertisement::new());
    rib.announce_all(
        Source::Api,
        a[2000..].iter().copied(),
        Advertisement {
            med: Some(5),
            ..Advertisement::new()
        },
    );
    let e = ebgp();
    let id = rib.peer_up(e.clone());
    let msgs = drain(&mut rib, id, usize::MAX);
    let mut m = Model::default();
    m.apply(&msgs, &e);
    assert_eq!(m.routes.len(), 3000);
    // /32 = 5 bytes; attribute block ≈ 30 bytes: 2000 prefixes need 3 messages,
    // 1000 need 2; plus End-of-RIB.
    assert_eq!(
        msgs.len(),
        3 + 2 + 1,
        "{:?}",
        msgs.iter().map(|b| b.len()).collect::<Vec<_>>()
    );
    // Withdrawals packed: 3000 × 5 bytes in 4 messages.
    rib.set(Source::Api, Vec::new());
    let w = drain(&mut rib, id, usize::MAX);
    assert_eq!(w.len(), 4);
    assert!(w.iter().all(|b| b.len() <= 4096));
    m.apply(&w, &e);
    assert!(m.routes.is_empty());

    // A small maximum message size is honoured.
    let mut rib = Rib::new();
    rib.announce_all(Source::Api, a.iter().copied(), Advertisement::new());
    let mut small = e.clone();
    small.max_message_len = 128;
    let (_, m) = sync(&mut rib, &small);
    assert_eq!(m.routes.len(), 3000);
}

#[test]
fn extended_messages_use_the_larger_size() {
    let mut rib = Rib::new();
    let a: Vec<IpNet> = (0..20000u32)
        .map(|i| IpNet::V4(bgp_wire::Ipv4Net::new(Ipv4Addr::from(0xC000_0200 + i), 32).unwrap()))
        .collect();
    rib.announce_all(Source::Api, a.iter().copied(), Advertisement::new());
    let mut e = ebgp();
    e.max_message_len = 65535;
    let id = rib.peer_up(e.clone());
    let msgs = drain(&mut rib, id, usize::MAX);
    assert!(msgs.iter().any(|b| b.len() > 4096));
    assert_eq!(msgs.len(), 2 + 1);
    let mut m = Model::default();
    m.apply(&msgs, &e);
    assert_eq!(m.routes.len(), 20000);
}

#[test]
fn end_of_rib_once_per_session_and_again_after_reconnect() {
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("203.0.113.0/24"), Advertisement::new());
    let mut e = dual(ebgp());
    e.families.push(Family::new(Afi::IPV4, Safi::MULTICAST));
    let (id, m) = sync(&mut rib, &e);
    let mut eor = m.eor.clone();
    eor.sort();
    assert_eq!(
        eor,
        vec![
            Family::IPV4_UNICAST,
            Family::new(Afi::IPV4, Safi::MULTICAST),
            Family::IPV6_UNICAST
        ]
    );
    rib.announce(Source::Api, p("2001:db8::/32"), Advertisement::new());
    let mut m2 = Model::default();
    m2.apply(&drain(&mut rib, id, usize::MAX), &e);
    assert_eq!(m2.routes.len(), 1);
    assert!(m2.eor.is_empty());
    // Reconnect: full sync and End-of-RIB again.
    rib.peer_down(id);
    assert!(rib.poll_updates(id, usize::MAX).is_empty(), "stale handle");
    let (id2, m3) = sync(&mut rib, &e);
    assert_ne!(id, id2);
    assert_eq!(m3.routes, expected(&rib, &e));
    assert_eq!(m3.eor.len(), 3);
}

#[test]
fn empty_rib_still_sends_end_of_rib() {
    let mut rib = Rib::new();
    let e = ebgp();
    let id = rib.peer_up(e.clone());
    assert!(rib.has_pending(id));
    let msgs = rib.poll_updates(id, 0);
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        &msgs[0][..],
        &bgp_wire::Message::Update(Default::default())
            .to_bytes(&Default::default())
            .unwrap()[..]
    );
    assert!(!rib.has_pending(id));
}

#[test]
fn route_refresh_resends_the_view() {
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("203.0.113.0/24"), Advertisement::new());
    rib.announce(Source::Api, p("198.51.100.0/24"), Advertisement::new());
    let e = ebgp();
    let (id, m) = sync(&mut rib, &e);
    assert_eq!(m.routes.len(), 2);
    rib.route_refresh(id, Family::IPV4_UNICAST);
    let mut m2 = Model::default();
    m2.apply(&drain(&mut rib, id, usize::MAX), &e);
    assert_eq!(m2.routes, m.routes, "whole view again");
    assert!(m2.eor.is_empty(), "no End-of-RIB after a refresh");
    assert!(m2.refresh.is_empty());
    // A refresh for a family not negotiated does nothing.
    rib.route_refresh(id, Family::IPV6_UNICAST);
    assert!(rib.poll_updates(id, usize::MAX).is_empty());
}

#[test]
fn enhanced_route_refresh_frames_with_borr_eorr() {
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("203.0.113.0/24"), Advertisement::new());
    let mut e = ebgp();
    e.enhanced_route_refresh = true;
    let (id, _) = sync(&mut rib, &e);
    rib.route_refresh(id, Family::IPV4_UNICAST);
    let msgs = drain(&mut rib, id, usize::MAX);
    let kinds: Vec<String> = msgs
        .iter()
        .map(|b| match decode(b, &e) {
            Message::RouteRefresh(r) if r.subtype == RouteRefresh::BORR => "borr".into(),
            Message::RouteRefresh(r) if r.subtype == RouteRefresh::EORR => "eorr".into(),
            Message::Update(u) => format!("update {}", u.nlri.len()),
            m => format!("{m:?}"),
        })
        .collect();
    assert_eq!(kinds, vec!["borr", "update 1", "eorr"]);
}

#[test]
fn source_precedence_config_over_api() {
    let mut rib = Rib::new();
    let e = ebgp();
    let (id, mut m) = sync(&mut rib, &e);
    let pfx = p("203.0.113.0/24");
    rib.announce(
        Source::Api,
        pfx,
        Advertisement {
            med: Some(1),
            ..Advertisement::new()
        },
    );
    rib.announce(
        Source::Config,
        pfx,
        Advertisement {
            med: Some(2),
            ..Advertisement::new()
        },
    );
    m.apply(&drain(&mut rib, id, usize::MAX), &e);
    assert!(has(&attrs_of(&m, "203.0.113.0/24"), |v| *v
        == AttributeValue::Med(2)));
    assert_eq!(rib.desired(pfx).unwrap().med, Some(2));
    assert_eq!(rib.desired_by(Source::Api, pfx).unwrap().med, Some(1));
    // A change of the lower-precedence source is invisible.
    rib.announce(
        Source::Api,
        pfx,
        Advertisement {
            med: Some(3),
            ..Advertisement::new()
        },
    );
    assert!(rib.poll_updates(id, usize::MAX).is_empty());
    // Config gives it up (set to an empty list): the API's route takes over.
    rib.set(Source::Config, Vec::new());
    m.apply(&drain(&mut rib, id, usize::MAX), &e);
    assert!(has(&attrs_of(&m, "203.0.113.0/24"), |v| *v
        == AttributeValue::Med(3)));
    // The API's replace-all drops it entirely.
    rib.set(Source::Api, Vec::new());
    m.apply(&drain(&mut rib, id, usize::MAX), &e);
    assert!(m.routes.is_empty());
    assert!(rib.is_empty());
}

#[test]
fn memory_is_reclaimed_after_churn() {
    let mut rib = Rib::new();
    let e = ebgp();
    let (id, _) = sync(&mut rib, &e);
    for round in 0..200u32 {
        let pfx: Vec<IpNet> = (0..100u32)
            .map(|i| {
                IpNet::V4(
                    bgp_wire::Ipv4Net::new(Ipv4Addr::from(0xC633_6400 + i + round * 100), 32)
                        .unwrap(),
                )
            })
            .collect();
        rib.announce_all(
            Source::Api,
            pfx.iter().copied(),
            Advertisement {
                med: Some(round),
                ..Advertisement::new()
            },
        );
        drain(&mut rib, id, usize::MAX);
        rib.withdraw_many(Source::Api, pfx);
        drain(&mut rib, id, usize::MAX);
    }
    assert!(rib.is_empty());
    assert_eq!(rib.attribute_sets(), 0);
    assert_eq!(rib.peer_stats(id).unwrap().attribute_sets, 0);
    assert!(rib.heap_bytes() < 16 * 1024, "{} bytes", rib.heap_bytes());
}

#[test]
fn from_negotiated_reads_the_session() {
    let rfc8950 = Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
        afi: Afi::IPV4,
        safi: 1,
        next_hop_afi: Afi::IPV6,
    }]);
    let local_open = Open::new(LOCAL, 90, v4("192.0.2.1"), vec![rfc8950.clone()]);
    let peer_open = Open::new(REMOTE, 90, v4("192.0.2.2"), vec![rfc8950]);
    let n = Negotiated {
        peer_asn: REMOTE,
        peer_router_id: v4("192.0.2.2"),
        four_octet_as: true,
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        add_path_send: vec![],
        add_path_receive: vec![],
        graceful_restart: None,
        extended_message: true,
        route_refresh: true,
        enhanced_route_refresh: true,
        peer_role: None,
        peer_hold_time: 90,
        hold_time: 90,
        keepalive_interval: 30,
        peer_open,
        local_open,
    };
    let e = PeerExport::from_negotiated(
        "r1",
        LOCAL,
        &n,
        IpAddr::V6(v6("2001:db8::1")),
        Some(v6("fe80::1")),
    );
    assert_eq!(e.peer_asn, REMOTE);
    assert!(e.is_ebgp());
    assert!(e.extended_nexthop_ipv4);
    assert!(e.enhanced_route_refresh);
    assert_eq!(e.max_message_len, 65535);
    assert_eq!(e.local_v4, None);
    assert_eq!(e.local_v6, Some(v6("2001:db8::1")));
    assert_eq!(e.link_local_v6, Some(v6("fe80::1")));
    let mut n2 = n.clone();
    n2.peer_open = Open::new(REMOTE, 90, v4("192.0.2.2"), vec![]);
    let e2 = PeerExport::from_negotiated("r1", LOCAL, &n2, IpAddr::V4(v4("192.0.2.1")), None);
    assert!(!e2.extended_nexthop_ipv4, "needs both sides");
    // Session between link-local addresses: the link-local is the next hop.
    let e3 = PeerExport::from_negotiated(
        "r1",
        LOCAL,
        &n2,
        IpAddr::V6(v6("fe80::1")),
        Some(v6("fe80::1")),
    );
    assert_eq!(e3.local_v6, None);
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("2001:db8:5::/48"), Advertisement::new());
    let (_, m) = sync(&mut rib, &e3);
    assert!(has(&attrs_of(&m, "2001:db8:5::/48"), |v| matches!(
        v,
        AttributeValue::MpReach(r) if r.next_hop == MpNextHop::Ipv6 { global: v6("fe80::1"), link_local: None }
    )));
    assert_eq!(e2.local_v4, Some(v4("192.0.2.1")));
}

#[test]
fn add_path_send_uses_path_ids() {
    let mut rib = Rib::new();
    rib.announce(Source::Api, p("203.0.113.0/24"), Advertisement::new());
    let mut e = ebgp();
    e.add_path_send = vec![Family::IPV4_UNICAST];
    let id = rib.peer_up(e.clone());
    let msgs = drain(&mut rib, id, usize::MAX);
    let Message::Update(u) = decode(&msgs[0], &e) else {
        panic!()
    };
    assert_eq!(u.nlri[0].path_id, Some(1));
    rib.withdraw(Source::Api, p("203.0.113.0/24"));
    let msgs = drain(&mut rib, id, usize::MAX);
    let Message::Update(u) = decode(&msgs[0], &e) else {
        panic!()
    };
    assert_eq!(u.withdrawn[0].path_id, Some(1));
}

#[test]
fn peers_with_pending_lists_who_to_wake() {
    let mut rib = Rib::new();
    let mut a = ebgp();
    a.name = "a".into();
    let mut b = ibgp();
    b.name = "b".into();
    let (ia, _) = sync(&mut rib, &a);
    let (ib, _) = sync(&mut rib, &b);
    assert!(rib.peers_with_pending().is_empty());
    rib.announce(Source::Api, p("203.0.113.0/24"), Advertisement::new());
    assert_eq!(rib.peers_with_pending(), vec![ia, ib]);
    drain(&mut rib, ia, usize::MAX);
    assert_eq!(rib.peers_with_pending(), vec![ib]);
    // Announced and withdrawn again before b polled: still marked, but nothing to send.
    rib.withdraw(Source::Api, p("203.0.113.0/24"));
    let stats = rib.peer_stats(ib).unwrap();
    assert!(stats.pending);
    assert_eq!(stats.advertised_v4, 0);
    let mut mb = Model::default();
    mb.apply(&drain(&mut rib, ib, usize::MAX), &b);
    assert!(mb.routes.is_empty() && mb.messages == 0);
    assert_eq!(rib.peers_with_pending(), vec![ia]);
    rib.peer_down(ia);
    assert!(rib.peers_with_pending().is_empty());
}

#[test]
fn set_later_pair_wins_and_announce_many_counts_changes() {
    let mut rib = Rib::new();
    let med = |m| Advertisement {
        med: Some(m),
        ..Advertisement::new()
    };
    let n = rib.set(
        Source::Api,
        vec![
            (p("203.0.113.0/24"), med(1)),
            (p("2001:db8:7::/48"), med(1)),
            (p("203.0.113.0/24"), med(2)),
        ],
    );
    assert_eq!(n, 3, "three entry changes (one prefix changed twice)");
    assert_eq!(rib.len(), 2);
    assert_eq!(rib.desired(p("203.0.113.0/24")).unwrap().med, Some(2));
    let n = rib.announce_many(
        Source::Api,
        vec![
            (p("203.0.113.0/24"), med(2)),
            (p("198.51.100.0/24"), med(2)),
        ],
    );
    assert_eq!(n, 1, "only the new prefix changed");
    assert_eq!(
        rib.withdraw_many(Source::Api, [p("198.51.100.0/24"), p("192.0.2.0/24")]),
        1
    );
    // Replace-all with a subset: the rest is withdrawn, from the peer too.
    let e = dual(ebgp());
    let (id, mut m) = sync(&mut rib, &e);
    assert_eq!(m.routes.len(), 2);
    rib.set(Source::Api, vec![(p("2001:db8:7::/48"), med(1))]);
    m.apply(&drain(&mut rib, id, usize::MAX), &e);
    assert_eq!(
        m.routes.keys().copied().collect::<Vec<_>>(),
        vec![p("2001:db8:7::/48")]
    );
}

#[test]
fn attribute_set_too_large_for_a_message_is_not_sent() {
    let mut rib = Rib::new();
    let huge = Advertisement {
        communities: (0..1100u16).map(|i| Community::new(64500, i)).collect(),
        ..Advertisement::new()
    };
    rib.announce(Source::Api, p("203.0.113.0/24"), huge);
    rib.announce(Source::Api, p("198.51.100.0/24"), Advertisement::new());
    // 4400 bytes of communities: too large for 4096, fine with extended messages.
    let (_, m) = sync(&mut rib, &ebgp());
    assert_eq!(
        m.routes.keys().copied().collect::<Vec<_>>(),
        vec![p("198.51.100.0/24")]
    );
    let mut big = ebgp();
    big.max_message_len = 65535;
    let (_, m) = sync(&mut rib, &big);
    assert_eq!(m.routes.len(), 2);
}
