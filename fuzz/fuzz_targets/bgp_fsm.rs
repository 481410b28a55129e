//! Drive one BGP session (bgp-fsm) with an arbitrary sequence of events: the
//! runtime's calls (start, stop, reset, connected, failed, closed, timers, BFD down,
//! hold down, send) and a peer's bytes (arbitrary, or valid messages cut at an
//! arbitrary point). `bgp_fsm::check::Checker` asserts RFC 4271's invariants
//! after every event (no UPDATE before Established, NOTIFICATION before close
//! on errors, state chain consistent, timers never in the past, ...); the
//! session itself must never panic.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use arbitrary::Arbitrary;
use bgp_fsm::SessionConfig;
use bgp_fsm::check::{Checker, Event, Payload};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum FPayload {
    Raw(Vec<u8>),
    Open,
    BadOpen,
    Keepalive,
    Update,
    EndOfRib,
    Notification,
    RouteRefresh,
}

#[derive(Debug, Arbitrary)]
enum FEvent {
    Start,
    Stop(bool),
    Reset(bool),
    ConnectedOut(u8),
    ConnectFailed(u8),
    ConnectedIn,
    Closed(u8),
    Bytes { conn: u8, payload: FPayload, split: u16 },
    Advance(u32),
    NextTimer,
    BfdDown,
    HoldDown(bool),
    SendUpdate,
    SendRouteRefresh,
}

#[derive(Debug, Arbitrary)]
struct Input {
    passive: bool,
    ibgp: bool,
    hold: u8,
    delay_open: bool,
    events: Vec<FEvent>,
}

fn payload(p: FPayload) -> Payload {
    match p {
        FPayload::Raw(v) => Payload::Raw(v),
        FPayload::Open => Payload::Open,
        FPayload::BadOpen => Payload::BadOpen,
        FPayload::Keepalive => Payload::Keepalive,
        FPayload::Update => Payload::Update,
        FPayload::EndOfRib => Payload::EndOfRib,
        FPayload::Notification => Payload::Notification,
        FPayload::RouteRefresh => Payload::RouteRefresh,
    }
}

fn event(e: FEvent) -> Event {
    match e {
        FEvent::Start => Event::Start,
        FEvent::Stop(b) => Event::Stop(b),
        FEvent::Reset(b) => Event::Reset(b),
        FEvent::ConnectedOut(n) => Event::ConnectedOut(n),
        FEvent::ConnectFailed(n) => Event::ConnectFailed(n),
        FEvent::ConnectedIn => Event::ConnectedIn,
        FEvent::Closed(n) => Event::Closed(n),
        FEvent::Bytes { conn, payload: p, split } => Event::Bytes {
            conn,
            payload: payload(p),
            split,
        },
        FEvent::Advance(ms) => Event::Advance(ms % 400_000),
        FEvent::NextTimer => Event::NextTimer,
        FEvent::BfdDown => Event::BfdDown,
        FEvent::HoldDown(b) => Event::HoldDown(b),
        FEvent::SendUpdate => Event::SendUpdate,
        FEvent::SendRouteRefresh => Event::SendRouteRefresh,
    }
}

fuzz_target!(|input: Input| {
    let peer_as = if input.ibgp { 64500 } else { 64501 };
    let mut cfg = SessionConfig::new(
        64500,
        Ipv4Addr::new(192, 0, 2, 1),
        peer_as,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
    );
    cfg.passive = input.passive;
    cfg.hold_time = [0, 3, 9, 90][usize::from(input.hold % 4)];
    cfg.delay_open = input.delay_open.then(|| std::time::Duration::from_secs(5));
    let mut c = Checker::new(cfg, Instant::now());
    for e in input.events.into_iter().take(256) {
        c.step(&event(e));
    }
});
