//! An invariant checker that drives one [`Session`] with arbitrary events (the
//! runtime's calls and a peer's bytes) and asserts what RFC 4271 promises,
//! whatever the sequence. Used by the crate's proptest and by the fuzz target
//! `fuzz/fuzz_targets/bgp_fsm.rs`.
//!
//! Checked after every event:
//!
//! * the `StateChanged` actions chain (`from` = previous `to`) and end in
//!   [`Session::state`];
//! * no UPDATE is sent unless the session is Established;
//! * every `Close` of a connection on which our OPEN went out, and which the
//!   peer did not close or end with a NOTIFICATION, comes right after a
//!   NOTIFICATION on it (RFC 4271 §6: errors, stop, collision are notified);
//! * nothing is sent on a connection after its `Close`;
//! * a passive session never connects; connection ids are never reused;
//! * at most two connections are up at once (RFC 4271 §6.8);
//! * [`Session::poll_timeout`] is never in the past after an event (all due
//!   timers fired), and calling `handle_timeout` early changes nothing.
//!
//! A violation panics (that is the point: it is a bug).

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_wire::{
    AsPath, AttributeValue, Bytes, Capability, EncodeContext, Family, HEADER_LEN, Message, Nlri,
    Notification, Open, Origin, PathAttribute, RouteRefresh, Update, message_type,
};

use crate::{Action, ConnId, Direction, Session, SessionConfig, State};

/// What the peer sends in a [`Event::Bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// These bytes, as they are.
    Raw(Vec<u8>),
    /// A valid OPEN for the configuration.
    Open,
    /// An OPEN from the wrong AS.
    BadOpen,
    /// A KEEPALIVE.
    Keepalive,
    /// A valid UPDATE.
    Update,
    /// End-of-RIB (IPv4 unicast).
    EndOfRib,
    /// A NOTIFICATION (Cease/2 with a message).
    Notification,
    /// A ROUTE-REFRESH for IPv4 unicast.
    RouteRefresh,
}

/// One input to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `handle_start`.
    Start,
    /// `handle_stop` (with a message when true).
    Stop(bool),
    /// `handle_reset` (with a message when true).
    Reset(bool),
    /// `handle_connected(Outbound)` for the n-th pending connect (modulo).
    ConnectedOut(u8),
    /// `handle_connect_failed` for the n-th pending connect (modulo).
    ConnectFailed(u8),
    /// `handle_connected(Inbound)` with a fresh id.
    ConnectedIn,
    /// `handle_closed` for the n-th live connection (modulo).
    Closed(u8),
    /// `handle_bytes` on the n-th live connection (modulo); the payload is cut
    /// in two at `split` (modulo its length) and delivered as two chunks.
    Bytes {
        /// Which connection.
        conn: u8,
        /// What.
        payload: Payload,
        /// Where to cut.
        split: u16,
    },
    /// Virtual time moves forward this many milliseconds, then `handle_timeout`.
    Advance(u32),
    /// Jump to the next timer deadline, then `handle_timeout`.
    NextTimer,
    /// `handle_bfd_down`.
    BfdDown,
    /// `set_hold_down`.
    HoldDown(bool),
    /// `send_update` with one valid UPDATE.
    SendUpdate,
    /// `send_route_refresh` for IPv4 unicast.
    SendRouteRefresh,
}

/// The session under test and what the checker knows about its connections.
#[derive(Debug)]
pub struct Checker {
    /// The session.
    pub session: Session,
    /// Virtual now.
    pub now: Instant,
    state: State,
    pending_connects: Vec<ConnId>,
    live: Vec<ConnId>,
    seen_ids: HashSet<ConnId>,
    open_sent: HashSet<ConnId>,
    peer_done: HashSet<ConnId>,
    closed: HashSet<ConnId>,
    last_sent: HashMap<ConnId, u8>,
    peer_open: Bytes,
    bad_open: Bytes,
}

fn first_type(b: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = b;
    while rest.len() >= HEADER_LEN {
        types.push(rest[18]);
        let len = u16::from_be_bytes([rest[16], rest[17]]) as usize;
        if len < HEADER_LEN || len > rest.len() {
            break;
        }
        rest = &rest[len..];
    }
    types
}

impl Checker {
    /// A checker for a session built from `cfg`, virtual time starting at `start`.
    pub fn new(cfg: SessionConfig, start: Instant) -> Checker {
        let peer_id = if cfg.router_id == Ipv4Addr::new(198, 51, 100, 7) {
            Ipv4Addr::new(198, 51, 100, 8)
        } else {
            Ipv4Addr::new(198, 51, 100, 7)
        };
        let ctx = EncodeContext::default();
        let open = Open::new(
            cfg.peer_asn,
            90,
            peer_id,
            vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::Multiprotocol(Family::IPV6_UNICAST),
                Capability::RouteRefresh,
                Capability::FourOctetAs(cfg.peer_asn),
            ],
        );
        let bad = Open::new(
            cfg.peer_asn.wrapping_add(1).max(1),
            90,
            peer_id,
            vec![Capability::FourOctetAs(cfg.peer_asn.wrapping_add(1).max(1))],
        );
        let session = Session::new(cfg);
        Checker {
            state: session.state(),
            session,
            now: start,
            pending_connects: Vec::new(),
            live: Vec::new(),
            seen_ids: HashSet::new(),
            open_sent: HashSet::new(),
            peer_done: HashSet::new(),
            closed: HashSet::new(),
            last_sent: HashMap::new(),
            peer_open: Message::Open(open).to_bytes(&ctx).unwrap_or_default(),
            bad_open: Message::Open(bad).to_bytes(&ctx).unwrap_or_default(),
        }
    }

    fn payload(&self, p: &Payload) -> Vec<u8> {
        let ctx = self
            .session
            .negotiated()
            .map(|n| n.encode_ctx())
            .unwrap_or_default();
        let enc = |m: Message| m.to_bytes(&ctx).map(|b| b.to_vec()).unwrap_or_default();
        match p {
            Payload::Raw(v) => v.clone(),
            Payload::Open => self.peer_open.to_vec(),
            Payload::BadOpen => self.bad_open.to_vec(),
            Payload::Keepalive => enc(Message::Keepalive),
            Payload::Update => enc(Message::Update(sample_update())),
            Payload::EndOfRib => enc(Message::Update(Update::end_of_rib(Family::IPV4_UNICAST))),
            Payload::Notification => enc(Message::Notification(Notification::cease_with_message(
                2, "fuzz",
            ))),
            Payload::RouteRefresh => enc(Message::RouteRefresh(RouteRefresh::new(
                Family::IPV4_UNICAST,
            ))),
        }
    }

    /// Applies one event and checks every invariant.
    pub fn step(&mut self, ev: &Event) {
        let now = self.now;
        let mut bytes_conn = None;
        let notifs_before = self.session.counters().notifications_in;
        match ev {
            Event::Start => self.session.handle_start(now),
            Event::Stop(with) => self
                .session
                .handle_stop(now, with.then(|| "checker stop".to_string())),
            Event::Reset(with) => self
                .session
                .handle_reset(now, with.then(|| "checker reset".to_string())),
            Event::ConnectedOut(n) => {
                if !self.pending_connects.is_empty() {
                    let c = self
                        .pending_connects
                        .remove(*n as usize % self.pending_connects.len());
                    self.live.push(c);
                    self.session.handle_connected(now, c, Direction::Outbound);
                }
            }
            Event::ConnectFailed(n) => {
                if !self.pending_connects.is_empty() {
                    let c = self
                        .pending_connects
                        .remove(*n as usize % self.pending_connects.len());
                    self.peer_done.insert(c);
                    self.session.handle_connect_failed(now, c);
                }
            }
            Event::ConnectedIn => {
                let c = self.session.new_conn_id();
                assert!(self.seen_ids.insert(c), "connection id {c} reused");
                self.live.push(c);
                self.session.handle_connected(now, c, Direction::Inbound);
            }
            Event::Closed(n) => {
                if !self.live.is_empty() {
                    let c = self.live.remove(*n as usize % self.live.len());
                    self.peer_done.insert(c);
                    self.session.handle_closed(now, c);
                }
            }
            Event::Bytes {
                conn,
                payload,
                split,
            } => {
                if !self.live.is_empty() {
                    let c = self.live[*conn as usize % self.live.len()];
                    let data = self.payload(payload);
                    let at = if data.is_empty() {
                        0
                    } else {
                        *split as usize % (data.len() + 1)
                    };
                    self.session.handle_bytes(now, c, &data[..at]);
                    self.session.handle_bytes(now, c, &data[at..]);
                    bytes_conn = Some(c);
                }
            }
            Event::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(*ms));
                self.session.handle_timeout(self.now);
            }
            Event::NextTimer => {
                if let Some(t) = self.session.poll_timeout() {
                    // Early call first: must be a no-op.
                    let before = self.session.poll_timeout();
                    self.session.handle_timeout(self.now);
                    assert_eq!(
                        self.session.poll_timeout(),
                        before,
                        "early handle_timeout changed timers"
                    );
                    assert!(
                        self.session.poll_action().is_none(),
                        "early handle_timeout acted"
                    );
                    self.now = self.now.max(t);
                    self.session.handle_timeout(self.now);
                }
            }
            Event::BfdDown => self.session.handle_bfd_down(now),
            Event::HoldDown(h) => self.session.set_hold_down(now, *h),
            Event::SendUpdate => {
                let ctx = self
                    .session
                    .negotiated()
                    .map(|n| n.encode_ctx())
                    .unwrap_or_default();
                if let Ok(b) = Message::Update(sample_update()).to_bytes(&ctx) {
                    let r = self.session.send_update(now, b);
                    assert_eq!(
                        r.is_ok(),
                        self.session.state() == State::Established,
                        "send_update {r:?} in {}",
                        self.session.state()
                    );
                }
            }
            Event::SendRouteRefresh => {
                let _ = self
                    .session
                    .send_route_refresh(now, Family::IPV4_UNICAST, 0);
            }
        }
        if let Some(c) = bytes_conn {
            if self.session.counters().notifications_in > notifs_before {
                self.peer_done.insert(c);
            }
        }
        self.drain_and_check();
    }

    fn drain_and_check(&mut self) {
        while let Some(a) = self.session.poll_action() {
            match a {
                Action::Connect { conn } => {
                    assert!(!self.session.config().passive, "passive session connected");
                    assert!(self.seen_ids.insert(conn), "connection id {conn} reused");
                    self.pending_connects.push(conn);
                }
                Action::Send { conn, bytes } => {
                    assert!(!self.closed.contains(&conn), "send on closed {conn}");
                    for t in first_type(&bytes) {
                        if t == message_type::UPDATE {
                            // RFC 4271 §8.2.2: UPDATEs only in Established.
                            assert_eq!(
                                self.state,
                                State::Established,
                                "UPDATE sent in {}",
                                self.state
                            );
                        }
                        if t == message_type::OPEN {
                            self.open_sent.insert(conn);
                        }
                        self.last_sent.insert(conn, t);
                    }
                }
                Action::Close { conn } => {
                    if self.open_sent.contains(&conn)
                        && !self.peer_done.contains(&conn)
                        && !self.closed.contains(&conn)
                    {
                        // RFC 4271 §6: the error (or stop, or collision) is notified before closing.
                        assert_eq!(
                            self.last_sent.get(&conn),
                            Some(&message_type::NOTIFICATION),
                            "{conn} closed without NOTIFICATION"
                        );
                    }
                    self.closed.insert(conn);
                    self.live.retain(|c| *c != conn);
                    self.pending_connects.retain(|c| *c != conn);
                }
                Action::StateChanged { from, to, .. } => {
                    assert_eq!(from, self.state, "state chain broken");
                    assert_ne!(from, to);
                    self.state = to;
                }
                Action::Established(n) => {
                    assert_eq!(self.state, State::Established);
                    assert!(!n.families.is_empty());
                }
                Action::Update(_) | Action::EndOfRib(_) | Action::RouteRefresh { .. } => {
                    assert_eq!(
                        self.state,
                        State::Established,
                        "routes delivered in {}",
                        self.state
                    );
                }
            }
        }
        assert_eq!(self.state, self.session.state());
        if let Some(t) = self.session.poll_timeout() {
            assert!(t > self.now, "poll_timeout in the past");
        }
        let up = self
            .live
            .iter()
            .filter(|c| !self.closed.contains(c) && self.open_sent.contains(c))
            .count();
        assert!(up <= 2, "{up} connections up at once");
    }
}

fn sample_update() -> Update {
    Update {
        attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::from_sequence(vec![64496]))),
            PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(192, 0, 2, 9))),
        ],
        nlri: vec![Nlri::new("203.0.113.0/24".parse().expect("prefix"))],
        ..Default::default()
    }
}
