//! Each OPEN error answered with its exact NOTIFICATION bytes, and the FSM
//! errors of RFC 6608.

mod common;

use bgp_fsm::{Action, Reason, State};
use bgp_wire::{Bytes, Capability, Family, Message, Notification, Open, OptionalParameter, Role};
use common::*;

/// Connects A, feeds `bytes` as the peer's first message; returns what A did.
fn answer_to(cfg: bgp_fsm::SessionConfig, bytes: &[u8]) -> Vec<Action> {
    let mut s = Solo::new(cfg);
    s.connect();
    s.feed(bytes)
}

/// Asserts A answered with exactly this NOTIFICATION, closed and went Idle.
fn assert_notified(acts: &[Action], code: u8, subcode: u8, data: &[u8]) {
    assert_eq!(acts.len(), 3, "{acts:?}");
    let Action::Send { conn, bytes } = &acts[0] else {
        panic!("{acts:?}")
    };
    assert_eq!(
        hex::encode(bytes),
        hex::encode(notification_bytes(code, subcode, data))
    );
    assert_eq!(acts[1], Action::Close { conn: *conn });
    let Action::StateChanged { from, to, reason } = &acts[2] else {
        panic!("{acts:?}")
    };
    assert_eq!(*to, State::Idle);
    assert!(*from >= State::OpenSent);
    let expect = if code == 4 {
        Reason::HoldTimerExpired
    } else {
        Reason::NotificationSent(Notification::new(
            code,
            subcode,
            Bytes::copy_from_slice(data),
        ))
    };
    assert_eq!(*reason, expect);
}

fn a_cfg() -> bgp_fsm::SessionConfig {
    configs().0
}

#[test]
fn valid_open_is_answered_with_keepalive() {
    let acts = answer_to(a_cfg(), &encode(peer_open()));
    assert_eq!(acts.len(), 2, "{acts:?}");
    let Action::Send { bytes, .. } = &acts[0] else {
        panic!()
    };
    assert_eq!(decode_all(bytes), vec![Message::Keepalive]);
    assert!(matches!(
        acts[1],
        Action::StateChanged {
            from: State::OpenSent,
            to: State::OpenConfirm,
            reason: Reason::OpenReceived
        }
    ));
}

#[test]
fn unsupported_version() {
    let mut b = encode(peer_open()).to_vec();
    b[19] = 3;
    // RFC 4271 §6.2: data = largest supported version, 2 octets.
    assert_notified(&answer_to(a_cfg(), &b), 2, 1, &[0, 4]);
}

#[test]
fn bad_peer_as() {
    let mut o = peer_open();
    o.my_as = 64999;
    o.params = vec![OptionalParameter::Capabilities(vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::FourOctetAs(64999),
    ])];
    assert_notified(
        &answer_to(a_cfg(), &encode(o)),
        2,
        2,
        &64999u16.to_be_bytes(),
    );
}

#[test]
fn bad_peer_as_from_four_octet_capability() {
    // The 2-octet field is right, the capability says otherwise.
    let o = Open::new(B_AS, 90, B_ID, vec![Capability::FourOctetAs(4_200_000_000)]);
    assert_notified(
        &answer_to(a_cfg(), &encode(o)),
        2,
        2,
        &4_200_000_000u32.to_be_bytes(),
    );
}

#[test]
fn four_octet_peer_as_accepted_with_as_trans() {
    let mut cfg = a_cfg();
    cfg.peer_asn = 4_200_000_000;
    let o = Open::new(
        4_200_000_000,
        90,
        B_ID,
        vec![Capability::FourOctetAs(4_200_000_000)],
    );
    assert_eq!(o.my_as, bgp_wire::AS_TRANS);
    let acts = answer_to(cfg, &encode(o));
    assert!(
        matches!(
            acts.last(),
            Some(Action::StateChanged {
                to: State::OpenConfirm,
                ..
            })
        ),
        "{acts:?}"
    );
}

#[test]
fn bad_bgp_identifier_zero() {
    let mut o = peer_open();
    o.bgp_id = std::net::Ipv4Addr::UNSPECIFIED;
    assert_notified(&answer_to(a_cfg(), &encode(o)), 2, 3, &[0, 0, 0, 0]);
}

#[test]
fn bad_bgp_identifier_same_as_ours_on_ibgp() {
    let mut cfg = a_cfg();
    cfg.peer_asn = A_AS;
    let o = Open::new(A_AS, 90, A_ID, vec![Capability::FourOctetAs(A_AS)]);
    assert_notified(&answer_to(cfg, &encode(o)), 2, 3, &A_ID.octets());
}

#[test]
fn same_identifier_accepted_on_ebgp() {
    // RFC 6286 §2.2: only internal peers need distinct identifiers.
    let o = Open::new(B_AS, 90, A_ID, vec![Capability::FourOctetAs(B_AS)]);
    let acts = answer_to(a_cfg(), &encode(o));
    assert!(
        matches!(
            acts.last(),
            Some(Action::StateChanged {
                to: State::OpenConfirm,
                ..
            })
        ),
        "{acts:?}"
    );
}

#[test]
fn unacceptable_hold_time_1_and_2() {
    for h in [1u16, 2] {
        let mut o = peer_open();
        o.hold_time = h;
        assert_notified(&answer_to(a_cfg(), &encode(o)), 2, 6, &h.to_be_bytes());
    }
}

#[test]
fn unsupported_optional_parameter() {
    let mut o = peer_open();
    o.params.push(OptionalParameter::Unknown {
        param_type: 3,
        data: Bytes::from_static(&[1, 2]),
    });
    // RFC 4271 §6.2: data = the parameter.
    assert_notified(&answer_to(a_cfg(), &encode(o)), 2, 4, &[3, 2, 1, 2]);
}

#[test]
fn role_mismatch() {
    let mut cfg = a_cfg();
    cfg.role = Some(Role::PROVIDER);
    let mut o = peer_open();
    o.params
        .push(OptionalParameter::Capabilities(vec![Capability::Role(
            Role::PROVIDER,
        )]));
    assert_notified(&answer_to(cfg.clone(), &encode(o)), 2, 11, &[]);
    // Compatible: provider ↔ customer.
    let mut o = peer_open();
    o.params
        .push(OptionalParameter::Capabilities(vec![Capability::Role(
            Role::CUSTOMER,
        )]));
    let acts = answer_to(cfg.clone(), &encode(o));
    assert!(matches!(
        acts.last(),
        Some(Action::StateChanged {
            to: State::OpenConfirm,
            ..
        })
    ));
    // Not strict: a peer without a role is fine.
    let acts = answer_to(cfg.clone(), &encode(peer_open()));
    assert!(matches!(
        acts.last(),
        Some(Action::StateChanged {
            to: State::OpenConfirm,
            ..
        })
    ));
    // Strict: it is not.
    cfg.role_strict = true;
    assert_notified(&answer_to(cfg, &encode(peer_open())), 2, 11, &[]);
}

#[test]
fn role_sent_twice_with_different_values() {
    let mut cfg = a_cfg();
    cfg.role = Some(Role::PEER);
    let mut o = peer_open();
    o.params.push(OptionalParameter::Capabilities(vec![
        Capability::Role(Role::PEER),
        Capability::Role(Role::CUSTOMER),
    ]));
    assert_notified(&answer_to(cfg, &encode(o)), 2, 11, &[]);
}

#[test]
fn no_common_family() {
    let mut cfg = a_cfg();
    cfg.families = vec![Family::IPV6_UNICAST];
    // RFC 5492 §5: data = the capability we needed (MP IPv6 unicast).
    assert_notified(
        &answer_to(cfg, &encode(peer_open())),
        2,
        7,
        &[1, 4, 0, 2, 0, 1],
    );
}

#[test]
fn peer_without_multiprotocol_speaks_ipv4() {
    let o = Open::new(B_AS, 90, B_ID, vec![Capability::FourOctetAs(B_AS)]);
    let mut s = Solo::new(a_cfg());
    s.connect();
    s.feed(&encode(o));
    assert_eq!(s.s.negotiated().unwrap().families, [Family::IPV4_UNICAST]);
}

#[test]
fn malformed_header_connection_not_synchronized() {
    let mut b = encode(peer_open()).to_vec();
    b[0] = 0;
    assert_notified(&answer_to(a_cfg(), &b), 1, 1, &[]);
}

#[test]
fn keepalive_in_opensent_is_fsm_error_5_1() {
    assert_notified(&answer_to(a_cfg(), &encode(Message::Keepalive)), 5, 1, &[]);
}

#[test]
fn update_in_openconfirm_is_fsm_error_5_2() {
    let mut s = Solo::new(a_cfg());
    s.connect();
    s.feed(&encode(peer_open()));
    let acts = s.feed(&encode(update_v4(&["203.0.113.0/24"])));
    assert_notified(&acts, 5, 2, &[]);
}

#[test]
fn open_in_established_is_fsm_error_5_3() {
    let mut s = Solo::new(a_cfg());
    s.establish();
    let acts = s.feed(&encode(peer_open()));
    assert_notified(&acts, 5, 3, &[]);
    assert_eq!(s.s.counters().established_drops, 1);
}

#[test]
fn message_longer_than_negotiated_maximum_is_1_2() {
    let mut cfg = a_cfg();
    cfg.extended_message = false;
    let mut s = Solo::new(cfg);
    s.establish();
    assert_eq!(s.s.negotiated().unwrap().max_message_len(), 4096);
    let mut hdr = vec![0xff; 16];
    hdr.extend_from_slice(&5000u16.to_be_bytes());
    hdr.push(2);
    let acts = s.feed(&hdr);
    assert_notified(&acts, 1, 2, &5000u16.to_be_bytes());
}

#[test]
fn extended_message_accepts_large_update() {
    let mut s = Solo::new(a_cfg());
    let c = s.connect();
    let mut o = peer_open();
    o.params.push(OptionalParameter::Capabilities(vec![
        Capability::ExtendedMessage,
    ]));
    s.feed(&encode(o));
    s.feed(&encode(Message::Keepalive));
    assert!(s.s.negotiated().unwrap().extended_message);
    // 2000 /24s: ~8 kB, more than 4096.
    let prefixes: Vec<String> = (0..2000u32)
        .map(|i| format!("{}.{}.{}.0/24", 100 + (i >> 16), (i >> 8) & 255, i & 255))
        .collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let ctx = s.s.negotiated().unwrap().decode_ctx();
    let bytes = Message::Update(update_v4(&refs)).to_bytes(&ctx).unwrap();
    assert!(bytes.len() > 4096);
    s.s.handle_bytes(s.now, c, &bytes);
    let acts = s.drain();
    assert!(
        matches!(&acts[..], [Action::Update(u)] if u.nlri.len() == 2000),
        "{:?}",
        acts.len()
    );
}

#[test]
fn notification_received_in_opensent_goes_idle_with_reason() {
    let n = Notification::new(2, 2, Bytes::from_static(&[0xfb, 0xf4]));
    let acts = answer_to(a_cfg(), &encode(n.clone()));
    assert_eq!(acts.len(), 2, "{acts:?}");
    assert!(matches!(acts[0], Action::Close { .. }));
    assert_eq!(
        acts[1],
        Action::StateChanged {
            from: State::OpenSent,
            to: State::Idle,
            reason: Reason::NotificationReceived(n)
        }
    );
}

#[test]
fn open_sent_hold_timer_is_four_minutes() {
    let mut s = Solo::new(a_cfg());
    s.connect();
    assert_eq!(s.s.poll_timeout(), Some(s.now + secs(240)));
    let acts = s.advance(secs(239));
    assert!(acts.is_empty());
    let acts = s.advance(secs(1));
    assert_notified(&acts, 4, 0, &[]);
}

#[test]
fn open_carries_configured_capabilities() {
    let mut cfg = a_cfg();
    cfg.role = Some(Role::CUSTOMER);
    cfg.hold_time = 30;
    cfg.extra_capabilities = vec![Capability::SoftwareVersion("speakerd/0.1".into())];
    let s = bgp_fsm::Session::new(cfg);
    let o = s.local_open();
    assert_eq!((o.my_as as u32, o.hold_time, o.bgp_id), (A_AS, 30, A_ID));
    let caps: Vec<&Capability> = o.capabilities().collect();
    assert!(caps.contains(&&Capability::Multiprotocol(Family::IPV4_UNICAST)));
    assert!(caps.contains(&&Capability::FourOctetAs(A_AS)));
    assert!(caps.contains(&&Capability::RouteRefresh));
    assert!(caps.contains(&&Capability::EnhancedRouteRefresh));
    assert!(caps.contains(&&Capability::ExtendedMessage));
    assert!(caps.contains(&&Capability::Role(Role::CUSTOMER)));
    assert!(caps.contains(&&Capability::SoftwareVersion("speakerd/0.1".into())));
}

#[test]
fn update_error_with_session_reset_is_notified() {
    let mut s = Solo::new(a_cfg());
    s.establish();
    // Withdrawn routes length 200 in a 23-byte UPDATE: 3/1 Malformed Attribute List.
    let mut b = vec![0xff; 16];
    b.extend_from_slice(&[0, 23, 2, 0, 200, 0, 0]);
    let acts = s.feed(&b);
    assert_notified(&acts, 3, 1, &[]);
}

#[test]
fn attribute_discard_delivers_update_without_the_attribute() {
    let mut s = Solo::new(a_cfg());
    s.establish();
    let mut u = update_v4(&["203.0.113.0/24"]);
    u.attributes.push(bgp_wire::PathAttribute::new(
        bgp_wire::AttributeValue::AtomicAggregate,
    ));
    let mut b = encode(u.clone()).to_vec();
    // ATOMIC_AGGREGATE (40 06 00) with length 1: RFC 7606 §7.6 attribute discard.
    let pos = b.windows(3).position(|w| w == [0x40, 6, 0]).unwrap();
    b[pos + 2] = 1;
    b.insert(pos + 3, 0);
    let len = b.len() as u16;
    b[16..18].copy_from_slice(&len.to_be_bytes());
    let attr_len = u16::from_be_bytes([b[21], b[22]]) + 1;
    b[21..23].copy_from_slice(&attr_len.to_be_bytes());
    let acts = s.feed(&b);
    assert_eq!(acts.len(), 1, "{acts:?}");
    let Action::Update(got) = &acts[0] else {
        panic!("{acts:?}")
    };
    assert_eq!(got.nlri, u.nlri);
    assert!(!got.atomic_aggregate());
    assert_eq!(got.errors.len(), 1);
    assert_eq!(
        got.errors[0].action,
        bgp_wire::ErrorAction::AttributeDiscard
    );
    assert_eq!(s.s.counters().attributes_discarded, 1);
    assert_eq!(s.s.state(), State::Established);
}

#[test]
fn extra_capabilities_sent_and_add_path_negotiated_per_direction() {
    use bgp_wire::{AddPathFamily, AddPathMode, Afi, ExtendedNextHopEntry};
    let enh = ExtendedNextHopEntry {
        afi: Afi::IPV4,
        safi: 1,
        next_hop_afi: Afi::IPV6,
    };
    let mut cfg = a_cfg();
    cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    cfg.extra_capabilities = vec![Capability::ExtendedNextHop(vec![enh])];
    cfg.add_path = vec![
        AddPathFamily {
            family: Family::IPV4_UNICAST,
            mode: AddPathMode::SEND,
        },
        AddPathFamily {
            family: Family::IPV6_UNICAST,
            mode: AddPathMode::BOTH,
        },
    ];
    let mut o = peer_open();
    o.params.push(OptionalParameter::Capabilities(vec![
        Capability::Multiprotocol(Family::IPV6_UNICAST),
        Capability::ExtendedNextHop(vec![enh]),
        Capability::AddPath(vec![
            AddPathFamily {
                family: Family::IPV4_UNICAST,
                mode: AddPathMode::BOTH,
            },
            AddPathFamily {
                family: Family::IPV6_UNICAST,
                mode: AddPathMode::RECEIVE,
            },
        ]),
    ]));
    let mut s = Solo::new(cfg);
    s.connect();
    s.feed(&encode(o));
    let n = s.s.negotiated().unwrap();
    // RFC 8950: both OPENs carry the entry; the rib reads them from there.
    assert!(
        n.peer_open
            .has_capability(bgp_wire::cap_code::EXTENDED_NEXT_HOP)
    );
    assert!(
        n.local_open
            .has_capability(bgp_wire::cap_code::EXTENDED_NEXT_HOP)
    );
    assert_eq!(
        n.add_path_send,
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    assert!(n.add_path_receive.is_empty());
    assert_eq!(n.encode_ctx().add_path, n.add_path_send);
    assert!(n.decode_ctx().add_path.is_empty());
}

#[test]
fn update_and_keepalive_restart_the_hold_timer() {
    let mut s = Solo::new(a_cfg());
    s.establish();
    let t_est = s.now;
    s.advance(secs(80));
    let acts = s.feed(&encode(update_v4(&["203.0.113.0/24"])));
    assert!(matches!(&acts[..], [Action::Update(_)]), "{acts:?}");
    let t_update = s.now;
    s.advance(secs(80));
    assert_eq!(s.s.state(), State::Established);
    s.feed(&encode(Message::Keepalive));
    let t_ka = s.now;
    assert!(t_ka > t_est + secs(90));
    s.advance(secs(89));
    assert_eq!(s.s.state(), State::Established);
    let acts = s.advance(secs(1));
    assert_eq!(s.now, t_ka + secs(90));
    assert!(t_update < t_ka);
    assert_notified(
        &acts
            .into_iter()
            .filter(|a| !is_keepalive(a))
            .collect::<Vec<_>>(),
        4,
        0,
        &[],
    );
}

fn is_keepalive(a: &Action) -> bool {
    matches!(a, Action::Send { bytes, .. } if decode_all(bytes) == vec![Message::Keepalive])
}

#[test]
fn route_refresh_subtypes_and_unknown_family() {
    let mut s = Solo::new(a_cfg());
    s.establish();
    let rr = |f, subtype| {
        encode(Message::RouteRefresh(bgp_wire::RouteRefresh {
            family: f,
            subtype,
        }))
    };
    let acts = s.feed(&rr(Family::IPV4_UNICAST, 1));
    assert_eq!(
        acts,
        vec![Action::RouteRefresh {
            family: Family::IPV4_UNICAST,
            subtype: 1
        }]
    );
    // RFC 2918 §4: a family not negotiated is ignored; RFC 7313 §5: unknown subtypes too.
    assert!(s.feed(&rr(Family::IPV6_UNICAST, 0)).is_empty());
    assert!(s.feed(&rr(Family::IPV4_UNICAST, 7)).is_empty());
    assert_eq!(s.s.state(), State::Established);
    assert_eq!(s.s.counters().route_refreshes_in, 3);
}

#[test]
fn counters_count_messages_per_type() {
    let mut s = Solo::new(a_cfg());
    s.establish();
    s.feed(&encode(update_v4(&["203.0.113.0/24"])));
    s.feed(&encode(Message::Keepalive));
    s.advance(secs(30)); // one keepalive out
    let c = s.s.counters().clone();
    assert_eq!((c.opens_out, c.opens_in), (1, 1));
    assert_eq!((c.keepalives_out, c.keepalives_in), (2, 2));
    assert_eq!((c.updates_out, c.updates_in), (0, 1));
    assert_eq!((c.notifications_out, c.notifications_in), (0, 0));
    assert_eq!((c.established_transitions, c.established_drops), (1, 0));
    assert_eq!(c.connect_attempts, 1);
    s.s.handle_stop(s.now, None);
    s.drain();
    let c = s.s.counters();
    assert_eq!((c.notifications_out, c.established_drops), (1, 1));
    assert_eq!(c.established_at, None);
    assert_eq!(c.last_error, Some(Reason::AdminStop(None)));
}

#[test]
fn keepalive_while_delay_open_runs_is_fsm_error_5_0() {
    let mut cfg = a_cfg();
    cfg.delay_open = Some(secs(10));
    let mut s = Solo::new(cfg);
    s.s.handle_start(s.now);
    let acts = s.drain();
    let Action::Connect { conn } = acts[0] else {
        panic!()
    };
    s.s.handle_connected(s.now, conn, bgp_fsm::Direction::Outbound);
    assert!(sent_bytes(&s.drain()).is_empty());
    s.conn = Some(conn);
    let acts = s.feed(&encode(Message::Keepalive));
    assert_eq!(acts.len(), 3, "{acts:?}");
    assert_eq!(
        sent_bytes(&acts)[0],
        Bytes::from(notification_bytes(5, 0, &[]))
    );
    assert_eq!(s.s.state(), State::Idle);
}
