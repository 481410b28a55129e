//! Deterministic pair tests on virtual time.

mod common;

use std::time::{Duration, Instant};

use bgp_fsm::pair::{Pair, Side};
use bgp_fsm::{Action, ConnId, Reason, State};
use bgp_wire::notification::{cease_subcode, code};
use bgp_wire::{
    AttributeValue, Bytes, Family, Ipv6Net, Message, MpNextHop, MpReach, Nlri, Notification,
    PathAttribute, Update,
};
use common::*;

fn established_pair(a_passive: bool, b_passive: bool) -> Pair {
    let (mut a, mut b) = configs();
    a.passive = a_passive;
    b.passive = b_passive;
    let mut p = Pair::new(a, b, Instant::now());
    p.start_both();
    p.run_for(secs(1));
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    p
}

fn states(p: &Pair, side: Side) -> Vec<State> {
    let ch = p.state_changes(side);
    let mut v = vec![ch[0].1];
    v.extend(ch.iter().map(|c| c.2));
    v
}

fn notifications(p: &Pair, side: Side) -> Vec<(Instant, ConnId, Notification)> {
    p.sent_messages(side)
        .into_iter()
        .filter_map(|(t, c, m)| match m {
            Message::Notification(n) => Some((t, c, n)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_active_b_passive_establishes() {
    let p = established_pair(false, true);
    use State::*;
    assert_eq!(
        states(&p, Side::A),
        [Idle, Connect, OpenSent, OpenConfirm, Established]
    );
    assert_eq!(
        states(&p, Side::B),
        [Idle, Active, OpenSent, OpenConfirm, Established]
    );
    // B never connects.
    assert!(
        !p.actions_of(Side::B)
            .any(|(_, a)| matches!(a, Action::Connect { .. }))
    );
    let n = p.a.negotiated().unwrap();
    assert_eq!((n.hold_time, n.keepalive_interval), (90, 30));
    assert_eq!(n.families, [Family::IPV4_UNICAST]);
    assert!(n.four_octet_as && n.extended_message && n.route_refresh && n.enhanced_route_refresh);
    assert_eq!((n.peer_asn, n.peer_router_id), (B_AS, B_ID));
    assert_eq!(n.max_message_len(), 65535);
    // The Established action carries the same parameters.
    let est = p
        .actions_of(Side::A)
        .find_map(|(_, a)| match a {
            Action::Established(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(&*est, n);
    assert_eq!(p.a.counters().established_transitions, 1);
    assert_eq!(p.a.counters().established_at, Some(p.log[0].at));
}

#[test]
fn b_active_a_passive_establishes() {
    let p = established_pair(true, false);
    use State::*;
    assert_eq!(
        states(&p, Side::A),
        [Idle, Active, OpenSent, OpenConfirm, Established]
    );
    assert_eq!(
        states(&p, Side::B),
        [Idle, Connect, OpenSent, OpenConfirm, Established]
    );
    assert!(
        !p.actions_of(Side::A)
            .any(|(_, a)| matches!(a, Action::Connect { .. }))
    );
}

#[test]
fn establishes_with_bytes_in_odd_chunks() {
    let (a, mut b) = configs();
    b.passive = true;
    let mut p = Pair::new(a, b, Instant::now());
    p.chunks = vec![1, 7, 2, 19, 3];
    p.start_both();
    p.run_for(secs(100));
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
}

/// Both sides active: the connection initiated by the higher BGP identifier is kept.
fn collision(a_id_higher: bool) {
    let (mut a, mut b) = configs();
    if a_id_higher {
        a.router_id = std::net::Ipv4Addr::new(192, 0, 2, 200);
        b.peer_addr = a.router_id.into();
    }
    let mut p = Pair::new(a, b, Instant::now());
    p.start_both();
    p.run_for(secs(10));
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    // Both sides connected: two connections existed.
    let a_out = p
        .actions_of(Side::A)
        .find_map(|(_, a)| match a {
            Action::Connect { conn } => Some(*conn),
            _ => None,
        })
        .unwrap();
    let b_out = p
        .actions_of(Side::B)
        .find_map(|(_, a)| match a {
            Action::Connect { conn } => Some(*conn),
            _ => None,
        })
        .unwrap();
    assert_eq!(p.links().len(), 1);
    let (kept_a, kept_b) = p.links()[0];
    let (winner_side, winner_conn) = if a_id_higher {
        (Side::A, a_out)
    } else {
        (Side::B, b_out)
    };
    match winner_side {
        Side::A => assert_eq!(kept_a, winner_conn),
        Side::B => assert_eq!(kept_b, winner_conn),
    }
    assert_eq!(Some(kept_a), p.a.established_conn());
    assert_eq!(Some(kept_b), p.b.established_conn());
    // The other connection was closed with Cease/7 by at least one side, never the kept one.
    let ceases: Vec<_> = [Side::A, Side::B]
        .into_iter()
        .flat_map(|s| notifications(&p, s).into_iter().map(move |n| (s, n)))
        .collect();
    assert!(!ceases.is_empty());
    for (s, (_, conn, n)) in &ceases {
        assert_eq!(
            (n.code, n.subcode),
            (code::CEASE, cease_subcode::CONNECTION_COLLISION_RESOLUTION)
        );
        let kept = if *s == Side::A { kept_a } else { kept_b };
        assert_ne!(*conn, kept);
    }
    // Exactly one Established transition each: the collision never took the session down.
    assert_eq!(p.a.counters().established_transitions, 1);
    assert_eq!(p.b.counters().established_transitions, 1);
    assert!(!p.state_changes(Side::A).iter().any(|c| c.2 == State::Idle));
}

#[test]
fn collision_keeps_connection_of_higher_id_b() {
    collision(false);
}

#[test]
fn collision_keeps_connection_of_higher_id_a() {
    collision(true);
}

#[test]
fn inbound_connection_while_established_is_refused_with_cease_7() {
    let mut p = established_pair(false, true);
    let now = p.now;
    let c = p.b.new_conn_id();
    p.b.handle_connected(now, c, bgp_fsm::Direction::Inbound);
    let acts: Vec<_> = std::iter::from_fn(|| p.b.poll_action()).collect();
    assert_eq!(acts.len(), 2, "{acts:?}");
    assert_eq!(
        acts[0],
        Action::Send {
            conn: c,
            bytes: Bytes::from(notification_bytes(6, 7, &[]))
        }
    );
    assert_eq!(acts[1], Action::Close { conn: c });
    assert_eq!(p.b.state(), State::Established);
}

#[test]
fn hold_timer_expires_exactly_hold_after_last_message() {
    let mut p = established_pair(false, true);
    p.run_for(secs(45));
    // B falls silent now.
    p.drop_from_b = true;
    let last_from_b = p
        .actions_of(Side::B)
        .filter(|(_, a)| matches!(a, Action::Send { .. }))
        .map(|(t, _)| t)
        .last()
        .unwrap();
    let expiry = last_from_b + secs(90);
    p.advance_to(expiry - Duration::from_millis(1));
    assert!(notifications(&p, Side::A).is_empty());
    assert_eq!(p.a.state(), State::Established);
    p.advance_to(expiry);
    assert_eq!(p.a.counters().last_error, Some(Reason::HoldTimerExpired));
    p.run_for(secs(200));
    let n = notifications(&p, Side::A);
    assert_eq!(n.len(), 1, "{n:?}");
    let (t, _, n) = &n[0];
    assert_eq!((n.code, n.subcode), (4, 0));
    assert_eq!(*t, last_from_b + secs(90));
    let down = p
        .actions_of(Side::A)
        .find_map(|(t, a)| match a {
            Action::StateChanged {
                to: State::Idle,
                reason,
                ..
            } => Some((t, reason.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(down, (last_from_b + secs(90), Reason::HoldTimerExpired));
}

#[test]
fn keepalives_every_third_of_hold_time() {
    let mut p = established_pair(false, true);
    let start = p.now;
    p.run_for(secs(301));
    let kas: Vec<Instant> = p
        .sent_messages(Side::A)
        .into_iter()
        .filter(|(_, _, m)| *m == Message::Keepalive)
        .map(|(t, _, _)| t)
        .collect();
    // The first answers the OPEN, then one every 30 s exactly.
    assert_eq!(kas[0], start - secs(1));
    for w in kas.windows(2) {
        assert_eq!(w[1] - w[0], secs(30));
    }
    assert_eq!(kas.len(), 11);
}

#[test]
fn keepalive_capped_by_negotiated_hold_time() {
    let (mut a, mut b) = configs();
    a.keepalive = Some(20);
    b.hold_time = 9; // negotiated 9 → keepalive at most 3
    b.passive = true;
    let mut p = Pair::new(a, b, Instant::now());
    p.start_both();
    let t0 = p.now;
    p.run_for(secs(30));
    assert_eq!(p.a.negotiated().unwrap().hold_time, 9);
    assert_eq!(p.a.negotiated().unwrap().keepalive_interval, 3);
    let kas: Vec<Instant> = p
        .sent_messages(Side::A)
        .into_iter()
        .filter(|(_, _, m)| *m == Message::Keepalive)
        .map(|(t, _, _)| t)
        .collect();
    assert_eq!(kas[0], t0);
    for w in kas.windows(2) {
        assert_eq!(w[1] - w[0], secs(3));
    }
    assert_eq!(p.a.state(), State::Established);
}

#[test]
fn hold_time_zero_means_no_keepalives() {
    let (mut a, mut b) = configs();
    a.hold_time = 0;
    b.passive = true;
    let mut p = Pair::new(a, b, Instant::now());
    p.start_both();
    p.run_for(secs(3600));
    assert_eq!(p.a.negotiated().unwrap().hold_time, 0);
    let kas = p
        .sent_messages(Side::B)
        .into_iter()
        .filter(|(_, _, m)| *m == Message::Keepalive)
        .count();
    assert_eq!(kas, 1); // only the one confirming the OPEN
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.a.poll_timeout(), None);
}

#[test]
fn update_restarts_keepalive_timer() {
    let mut p = established_pair(false, true);
    p.run_for(secs(10));
    let now = p.now;
    let ctx = p.a.negotiated().unwrap().encode_ctx();
    let u = Message::Update(update_v4(&["203.0.113.0/24"]))
        .to_bytes(&ctx)
        .unwrap();
    p.a.send_update(now, u).unwrap();
    p.drive();
    p.run_for(secs(60));
    let kas: Vec<Instant> = p
        .sent_messages(Side::A)
        .into_iter()
        .filter(|(t, _, m)| *m == Message::Keepalive && *t > now)
        .map(|(t, _, _)| t)
        .collect();
    assert_eq!(kas[0], now + secs(30));
}

#[test]
fn connect_retry_backoff_doubles_to_cap() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b, Instant::now());
    p.b_listening = false;
    let t0 = p.now;
    p.a.handle_start(t0);
    p.run_for(secs(1000));
    let connects: Vec<Duration> = p
        .actions_of(Side::A)
        .filter(|(_, a)| matches!(a, Action::Connect { .. }))
        .map(|(t, _)| t - t0)
        .collect();
    let expect: Vec<Duration> = [
        0, 1, 3, 7, 15, 31, 63, 127, 247, 367, 487, 607, 727, 847, 967,
    ]
    .into_iter()
    .map(secs)
    .collect();
    assert_eq!(connects, expect);
    assert_eq!(p.a.state(), State::Active);
    assert_eq!(p.a.counters().last_error, Some(Reason::ConnectFailed));
    assert_eq!(p.a.counters().connect_attempts, 15);
}

#[test]
fn connect_timeout_counts_as_failure() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b, Instant::now());
    p.connect_hangs = true;
    let t0 = p.now;
    p.a.handle_start(t0);
    p.run_for(secs(100));
    let times: Vec<Duration> = p
        .actions_of(Side::A)
        .filter(|(_, a)| matches!(a, Action::Connect { .. } | Action::Close { .. }))
        .map(|(t, _)| t - t0)
        .collect();
    // connect at 0, abandoned at 30, retry at 31, abandoned at 61, retry at 63, abandoned at 93.
    assert_eq!(times, [0, 30, 31, 61, 63, 93, 97].map(secs));
}

#[test]
fn session_error_restarts_after_backoff_and_resets_after_stable_session() {
    let mut p = established_pair(false, true);
    // Peer falls silent: hold timer expires, A restarts after 1 s, then 2 s...
    p.drop_from_b = true;
    p.run_for(secs(100));
    let t_down = p
        .actions_of(Side::A)
        .find_map(|(t, a)| {
            matches!(
                a,
                Action::StateChanged {
                    to: State::Idle,
                    ..
                }
            )
            .then_some(t)
        })
        .unwrap();
    let first_reconnect = p
        .actions_of(Side::A)
        .filter(|(_, a)| matches!(a, Action::Connect { .. }))
        .map(|(t, _)| t)
        .nth(1)
        .unwrap();
    // The session was up for > 30 s (reset_after): backoff starts at 1 s again.
    assert_eq!(first_reconnect - t_down, secs(1));
    p.drop_from_b = false;
    p.run_for(secs(500));
    assert_eq!(p.a.state(), State::Established);
}

#[test]
fn bfd_down_sends_cease_10_and_hold_down_keeps_session_down() {
    let mut p = established_pair(false, true);
    let t = p.now;
    p.a.handle_bfd_down(t);
    p.a.set_hold_down(t, true);
    p.drive();
    let n = notifications(&p, Side::A);
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].2.code, n[0].2.subcode), (6, 10));
    assert_eq!(p.a.state(), State::Idle);
    let reason_b = p
        .actions_of(Side::B)
        .find_map(|(_, a)| match a {
            Action::StateChanged {
                to: State::Idle,
                reason,
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        reason_b,
        Reason::NotificationReceived(Notification::new(6, 10, Bytes::new()))
    );
    // Held down: no reconnect for 10 minutes.
    p.run_for(secs(600));
    assert_eq!(p.a.state(), State::Idle);
    assert_eq!(
        p.actions_of(Side::A)
            .filter(|(_, a)| matches!(a, Action::Connect { .. }))
            .count(),
        1
    );
    // BFD up again: the session comes back at once.
    let t = p.now;
    p.a.set_hold_down(t, false);
    p.run_for(secs(1));
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
}

#[test]
fn bfd_down_without_hold_down_restarts_after_backoff() {
    let mut p = established_pair(false, true);
    let t = p.now;
    p.a.handle_bfd_down(t);
    p.drive();
    assert_eq!(p.a.counters().last_error, Some(Reason::BfdDown));
    p.run_for(secs(5));
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.a.counters().established_transitions, 2);
}

#[test]
fn admin_shutdown_message_reaches_peer() {
    let mut p = established_pair(false, true);
    let t = p.now;
    p.a.handle_stop(t, Some("maintenance: back at 10:00 UTC".into()));
    p.drive();
    let n = notifications(&p, Side::A);
    assert_eq!(n.len(), 1);
    assert_eq!(
        n[0].2,
        Notification::cease_with_message(
            cease_subcode::ADMINISTRATIVE_SHUTDOWN,
            "maintenance: back at 10:00 UTC"
        )
    );
    let reason_b = p
        .actions_of(Side::B)
        .find_map(|(_, a)| match a {
            Action::StateChanged {
                to: State::Idle,
                reason,
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    let Reason::NotificationReceived(got) = &reason_b else {
        panic!("{reason_b:?}")
    };
    assert_eq!(
        got.shutdown_message().as_deref(),
        Some("maintenance: back at 10:00 UTC")
    );
    assert!(
        reason_b
            .to_string()
            .contains("maintenance: back at 10:00 UTC"),
        "{reason_b}"
    );
    // A stays down for good.
    p.run_for(secs(600));
    assert_eq!(p.a.state(), State::Idle);
    assert!(!p.a.is_started());
    assert_eq!(
        p.actions_of(Side::A)
            .filter(|(_, a)| matches!(a, Action::Connect { .. }))
            .count(),
        1
    );
}

#[test]
fn stopped_session_refuses_inbound_with_cease_5() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b, Instant::now());
    let t = p.now;
    p.b.handle_start(t); // only B runs; A is not started but "listens"
    p.run_for(secs(3));
    let n = notifications(&p, Side::A);
    assert!(!n.is_empty());
    assert!(n.iter().all(|(_, _, n)| (n.code, n.subcode) == (6, 5)));
    assert_ne!(p.b.state(), State::Established);
}

#[test]
fn update_delivered_when_established() {
    let mut p = established_pair(false, true);
    let t = p.now;
    let u = update_v4(&["203.0.113.0/24", "198.51.100.128/25"]);
    let ctx = p.a.negotiated().unwrap().encode_ctx();
    let bytes = Message::Update(u.clone()).to_bytes(&ctx).unwrap();
    let two = [bytes.clone(), bytes].concat();
    p.a.send_update(t, Bytes::from(two)).unwrap();
    p.drive();
    let got: Vec<Update> = p
        .actions_of(Side::B)
        .filter_map(|(_, a)| match a {
            Action::Update(u) => Some((**u).clone()),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![u.clone(), u]);
    assert_eq!(p.a.counters().updates_out, 2);
    assert_eq!(p.b.counters().updates_in, 2);
}

#[test]
fn send_update_refused_before_established_and_when_malformed() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b, Instant::now());
    let t = p.now;
    let bytes = encode(update_v4(&["203.0.113.0/24"]));
    assert_eq!(
        p.a.send_update(t, bytes.clone()),
        Err(bgp_fsm::SendError::NotEstablished)
    );
    let mut p = established_pair(false, true);
    let t = p.now;
    assert_eq!(
        p.a.send_update(t, bytes.slice(..bytes.len() - 1)),
        Err(bgp_fsm::SendError::Malformed)
    );
    assert_eq!(
        p.a.send_update(t, encode(Message::Keepalive)),
        Err(bgp_fsm::SendError::Malformed)
    );
    assert_eq!(p.a.send_update(t, bytes), Ok(()));
}

#[test]
fn treat_as_withdraw_delivers_withdrawals() {
    let mut p = established_pair(false, true);
    let t = p.now;
    let ctx = p.a.negotiated().unwrap().encode_ctx();
    let mut bytes = Message::Update(update_v4(&["203.0.113.0/24"]))
        .to_bytes(&ctx)
        .unwrap()
        .to_vec();
    // ORIGIN value (first attribute: 19 hdr + 2 withdrawn len + 2 attr len + 3 attr hdr) → 7, invalid.
    assert_eq!(&bytes[23..26], &[0x40, 1, 1]);
    bytes[26] = 7;
    p.a.send_update(t, Bytes::from(bytes)).unwrap();
    p.drive();
    let got: Vec<Update> = p
        .actions_of(Side::B)
        .filter_map(|(_, a)| match a {
            Action::Update(u) => Some((**u).clone()),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 1);
    let u = &got[0];
    assert!(u.nlri.is_empty());
    assert_eq!(
        u.withdrawn,
        vec![Nlri::new("203.0.113.0/24".parse().unwrap())]
    );
    assert!(u.treat_as_withdraw());
    assert_eq!(p.b.counters().treat_as_withdraw, 1);
    // The session stays up (RFC 7606: no reset).
    assert_eq!(p.b.state(), State::Established);
}

#[test]
fn treat_as_withdraw_moves_mp_reach_to_mp_unreach() {
    let (mut a, mut b) = configs();
    a.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    b.families = a.families.clone();
    b.passive = true;
    let mut p = Pair::new(a, b, Instant::now());
    p.start_both();
    p.run_for(secs(1));
    let prefix: Ipv6Net = "2001:db8:1::/48".parse().unwrap();
    let u = Update {
        attributes: vec![
            PathAttribute::new(AttributeValue::MpReach(MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: MpNextHop::Ipv6 {
                    global: "2001:db8::1".parse().unwrap(),
                    link_local: None,
                },
                nlri: vec![Nlri::new(prefix.into())],
            })),
            PathAttribute::new(AttributeValue::Origin(bgp_wire::Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(bgp_wire::AsPath::from_sequence(
                vec![A_AS],
            ))),
        ],
        ..Default::default()
    };
    let ctx = p.a.negotiated().unwrap().encode_ctx();
    let mut bytes = Message::Update(u).to_bytes(&ctx).unwrap().to_vec();
    // Corrupt the ORIGIN value (the 3-byte header 40 01 01 after MP_REACH).
    let pos = bytes.windows(3).position(|w| w == [0x40, 1, 1]).unwrap();
    bytes[pos + 3] = 9;
    let t = p.now;
    p.a.send_update(t, Bytes::from(bytes)).unwrap();
    p.drive();
    let got: Vec<Update> = p
        .actions_of(Side::B)
        .filter_map(|(_, a)| match a {
            Action::Update(u) => Some((**u).clone()),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 1);
    assert!(got[0].announced().next().is_none());
    let w: Vec<Nlri> = got[0].withdrawn_all().copied().collect();
    assert_eq!(w, vec![Nlri::new(prefix.into())]);
    assert_eq!(got[0].mp_unreach().unwrap().family, Family::IPV6_UNICAST);
}

#[test]
fn end_of_rib_reported() {
    let (mut a, mut b) = configs();
    a.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    b.families = a.families.clone();
    b.passive = true;
    let mut p = Pair::new(a, b, Instant::now());
    p.start_both();
    p.run_for(secs(1));
    let t = p.now;
    let ctx = p.a.negotiated().unwrap().encode_ctx();
    for f in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        let b = Message::Update(Update::end_of_rib(f))
            .to_bytes(&ctx)
            .unwrap();
        p.a.send_update(t, b).unwrap();
    }
    p.drive();
    let eors: Vec<Family> = p
        .actions_of(Side::B)
        .filter_map(|(_, a)| match a {
            Action::EndOfRib(f) => Some(*f),
            _ => None,
        })
        .collect();
    assert_eq!(eors, [Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
    assert!(
        !p.actions_of(Side::B)
            .any(|(_, a)| matches!(a, Action::Update(_)))
    );
}

#[test]
fn route_refresh_request_reaches_peer() {
    let mut p = established_pair(false, true);
    let t = p.now;
    p.a.send_route_refresh(t, Family::IPV4_UNICAST, 0).unwrap();
    p.drive();
    assert!(p.actions_of(Side::B).any(|(_, a)| *a
        == Action::RouteRefresh {
            family: Family::IPV4_UNICAST,
            subtype: 0
        }));
    assert_eq!(
        p.a.send_route_refresh(t, Family::IPV6_UNICAST, 0),
        Err(bgp_fsm::SendError::NotNegotiated)
    );
}

#[test]
fn peer_closing_connection_sends_session_to_idle_and_back() {
    let mut p = established_pair(false, true);
    let t = p.now;
    let c = p.b.established_conn().unwrap();
    // B's runtime loses the socket (RST): A sees the close.
    p.b.handle_closed(t, c);
    p.drive();
    let reason = p
        .actions_of(Side::A)
        .find_map(|(_, a)| match a {
            Action::StateChanged {
                to: State::Idle,
                reason,
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(reason, Reason::ConnectionClosed);
    p.run_for(secs(10));
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
}

#[test]
fn manual_start_resets_backoff() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b, Instant::now());
    p.b_listening = false;
    let t0 = p.now;
    p.a.handle_start(t0);
    p.run_for(secs(100)); // delays have grown to 64 s
    let t1 = p.now;
    p.a.handle_stop(t1, None);
    p.a.handle_start(t1);
    p.run_for(secs(4));
    let connects: Vec<Duration> = p
        .actions_of(Side::A)
        .filter(|(t, a)| *t >= t1 && matches!(a, Action::Connect { .. }))
        .map(|(t, _)| t - t1)
        .collect();
    assert_eq!(connects, [0, 1, 3].map(secs));
}

#[test]
fn admin_reset_sends_cease_4_and_comes_back() {
    let mut p = established_pair(false, true);
    let t = p.now;
    p.a.handle_reset(t, Some("families changed".into()));
    p.drive();
    let n = notifications(&p, Side::A);
    assert_eq!(n.len(), 1);
    assert_eq!(
        n[0].2,
        Notification::cease_with_message(cease_subcode::ADMINISTRATIVE_RESET, "families changed")
    );
    assert_eq!(p.a.state(), State::Idle);
    assert_eq!(
        p.a.counters().last_error,
        Some(Reason::AdminReset(Some("families changed".into())))
    );
    // B saw it with the message.
    let got = p.actions_of(Side::B).find_map(|(_, a)| match a {
        Action::StateChanged {
            to: State::Idle,
            reason: Reason::NotificationReceived(n),
            ..
        } => n.shutdown_message(),
        _ => None,
    });
    assert_eq!(got.as_deref(), Some("families changed"));
    // A reconnects after the initial delay (1 s) — B is passive and back in Active by then.
    p.run_for(secs(2));
    assert_eq!(p.a.state(), State::Established);
    let reconnect = p
        .actions_of(Side::A)
        .filter(|(_, a)| matches!(a, Action::Connect { .. }))
        .map(|(t, _)| t)
        .nth(1)
        .unwrap();
    assert_eq!(reconnect, t + secs(1));
}

#[test]
fn hold_down_abandons_pending_connect_and_release_reconnects() {
    let (a, mut b) = configs();
    b.passive = true;
    let mut p = Pair::new(a, b, Instant::now());
    p.connect_hangs = true;
    let t0 = p.now;
    p.start_both();
    assert_eq!(p.a.state(), State::Connect);
    p.run_for(secs(5));
    let t1 = p.now;
    p.a.set_hold_down(t1, true);
    p.drive();
    assert_eq!(p.a.state(), State::Idle);
    let closes = p
        .actions_of(Side::A)
        .filter(|(_, a)| matches!(a, Action::Close { .. }))
        .count();
    assert_eq!(closes, 1);
    // Nothing happens while held down: no connect timeout, no retry.
    assert_eq!(p.a.poll_timeout(), None);
    p.run_for(secs(600));
    p.connect_hangs = false;
    let t2 = p.now;
    p.a.set_hold_down(t2, false);
    p.run_for(secs(1));
    let connects: Vec<Instant> = p
        .actions_of(Side::A)
        .filter(|(_, a)| matches!(a, Action::Connect { .. }))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(connects, [t0, t2]);
    assert_eq!(p.a.state(), State::Established);
}

#[test]
fn delay_open_waits_for_the_peer_open() {
    // B delays its OPEN by 5 s; A's OPEN arrives at once, so B answers at once
    // with OPEN + KEEPALIVE (RFC 4271 §8.2.2).
    let (a, mut b) = configs();
    b.passive = true;
    b.delay_open = Some(secs(5));
    let mut p = Pair::new(a, b, Instant::now());
    let t0 = p.now;
    p.start_both();
    assert_eq!(p.b.state(), State::Established);
    let b_msgs: Vec<_> = p
        .sent_messages(Side::B)
        .into_iter()
        .map(|(t, _, m)| (t - t0, m.msg_type()))
        .collect();
    assert_eq!(b_msgs, [(secs(0), 1), (secs(0), 4)]);
}

#[test]
fn delay_open_on_both_sides_sends_opens_after_the_delay() {
    let (mut a, mut b) = configs();
    a.delay_open = Some(secs(5));
    b.delay_open = Some(secs(3));
    b.passive = true;
    let mut p = Pair::new(a, b, Instant::now());
    let t0 = p.now;
    p.start_both();
    // TCP is up, nobody has sent anything: A in Connect, B in Active.
    assert_eq!((p.a.state(), p.b.state()), (State::Connect, State::Active));
    assert!(p.sent_messages(Side::A).is_empty() && p.sent_messages(Side::B).is_empty());
    p.run_for(secs(10));
    assert_eq!(p.a.state(), State::Established);
    // B's delay (3 s) ran out first; A answered its OPEN at once.
    let first_open = |side| {
        p.sent_messages(side)
            .into_iter()
            .find(|(_, _, m)| m.msg_type() == 1)
            .map(|(t, _, _)| t - t0)
    };
    assert_eq!(first_open(Side::B), Some(secs(3)));
    assert_eq!(first_open(Side::A), Some(secs(3)));
    assert!(p.actions_of(Side::B).any(|(_, a)| matches!(
        a,
        Action::StateChanged {
            reason: Reason::DelayOpenExpired,
            ..
        }
    )));
}
