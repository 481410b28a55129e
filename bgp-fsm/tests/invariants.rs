//! Random event sequences against the RFC invariants of `bgp_fsm::check`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use bgp_fsm::SessionConfig;
use bgp_fsm::check::{Checker, Event, Payload};
use proptest::prelude::*;

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Payload::Raw),
        // Valid header, random body.
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|body| {
            let mut v = vec![0xff; 16];
            v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
            v.push(body.first().map_or(2, |b| b % 6));
            v.extend_from_slice(&body);
            Payload::Raw(v)
        }),
        4 => Just(Payload::Open),
        1 => Just(Payload::BadOpen),
        5 => Just(Payload::Keepalive),
        3 => Just(Payload::Update),
        1 => Just(Payload::EndOfRib),
        1 => Just(Payload::Notification),
        1 => Just(Payload::RouteRefresh),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        2 => Just(Event::Start),
        1 => any::<bool>().prop_map(Event::Stop),
        1 => any::<bool>().prop_map(Event::Reset),
        3 => any::<u8>().prop_map(Event::ConnectedOut),
        1 => any::<u8>().prop_map(Event::ConnectFailed),
        2 => Just(Event::ConnectedIn),
        1 => any::<u8>().prop_map(Event::Closed),
        8 => (any::<u8>(), payload(), any::<u16>())
            .prop_map(|(conn, payload, split)| Event::Bytes { conn, payload, split }),
        2 => (0u32..200_000).prop_map(Event::Advance),
        3 => Just(Event::NextTimer),
        1 => Just(Event::BfdDown),
        1 => any::<bool>().prop_map(Event::HoldDown),
        2 => Just(Event::SendUpdate),
        1 => Just(Event::SendRouteRefresh),
    ]
}

fn config() -> impl Strategy<Value = SessionConfig> {
    (
        any::<bool>(),
        prop_oneof![Just(0u16), Just(3), Just(9), Just(90)],
        any::<bool>(),
        prop_oneof![3 => Just(None), 1 => Just(Some(std::time::Duration::from_secs(5)))],
    )
        .prop_map(|(passive, hold, ibgp, delay_open)| {
            let peer_as = if ibgp { 64500 } else { 64501 };
            let mut c = SessionConfig::new(
                64500,
                Ipv4Addr::new(192, 0, 2, 1),
                peer_as,
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            );
            c.passive = passive;
            c.hold_time = hold;
            c.delay_open = delay_open;
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_keep_the_invariants(
        cfg in config(),
        events in proptest::collection::vec(event(), 0..80),
    ) {
        let mut c = Checker::new(cfg, Instant::now());
        for e in &events {
            c.step(e);
        }
    }

    /// The same from an Established session (outbound or inbound), so that the
    /// Established-state paths see as much random input as the others.
    #[test]
    fn random_events_after_establishment_keep_the_invariants(
        cfg in config(),
        inbound in any::<bool>(),
        events in proptest::collection::vec(event(), 0..60),
    ) {
        let mut c = Checker::new(cfg, Instant::now());
        c.step(&Event::Start);
        c.step(if inbound || c.session.config().passive { &Event::ConnectedIn } else { &Event::ConnectedOut(0) });
        c.step(&Event::Bytes { conn: 0, payload: Payload::Open, split: 0 });
        c.step(&Event::Bytes { conn: 0, payload: Payload::Keepalive, split: 0 });
        prop_assert_eq!(c.session.state(), bgp_fsm::State::Established);
        for e in &events {
            c.step(e);
        }
    }
}

/// A scripted sequence that reaches Established, so the random runs are known
/// to be able to get there too.
#[test]
fn checker_reaches_established() {
    let cfg = SessionConfig::new(
        64500,
        Ipv4Addr::new(192, 0, 2, 1),
        64501,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
    );
    let mut c = Checker::new(cfg, Instant::now());
    for e in [
        Event::Start,
        Event::ConnectedOut(0),
        Event::Bytes {
            conn: 0,
            payload: Payload::Open,
            split: 7,
        },
        Event::Bytes {
            conn: 0,
            payload: Payload::Keepalive,
            split: 0,
        },
        Event::SendUpdate,
        Event::Bytes {
            conn: 0,
            payload: Payload::Update,
            split: 30,
        },
        Event::NextTimer,
        Event::ConnectedIn,
        Event::BfdDown,
    ] {
        c.step(&e);
        if e == Event::SendUpdate {
            assert_eq!(c.session.state(), bgp_fsm::State::Established);
            assert_eq!(c.session.counters().updates_out, 1);
        }
    }
    assert_eq!(c.session.state(), bgp_fsm::State::Idle);
}
