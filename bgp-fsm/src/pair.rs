//! A deterministic test harness: two [`Session`]s joined by in-memory queues
//! on a virtual clock (after quinn-proto's test `Pair`).
//!
//! A [`Action::Connect`] on one side is answered at once: if the other side
//! "listens" the connection comes up (Outbound on the initiator, Inbound on the
//! other side, with an id from [`Session::new_conn_id`]), else the connect
//! fails. Bytes are delivered in FIFO order, cut into chunks of the sizes in
//! [`Pair::chunks`] (cycled), and a [`Action::Close`] reaches the other side as
//! `handle_closed` after the bytes sent before it. Everything either side does
//! is recorded in [`Pair::log`] with the virtual time.
//!
//! Time only moves in [`Pair::advance_to`] / [`Pair::run_for`], from one timer
//! deadline to the next. Nothing here reads a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bgp_wire::{Bytes, DecodeContext, Framer, MAX_EXTENDED_MESSAGE_LEN, Message};

use crate::{Action, ConnId, Direction, Session, SessionConfig, State};

/// Which session of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// [`Pair::a`].
    A,
    /// [`Pair::b`].
    B,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// One action of one side, with its virtual time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// When.
    pub at: Instant,
    /// Whose.
    pub side: Side,
    /// What.
    pub action: Action,
}

#[derive(Debug)]
enum Wire {
    Bytes {
        to: Side,
        conn: ConnId,
        bytes: Bytes,
    },
    Fin {
        to: Side,
        conn: ConnId,
    },
}

/// Two sessions, a virtual clock and the wires between them.
#[derive(Debug)]
pub struct Pair {
    /// Session A.
    pub a: Session,
    /// Session B.
    pub b: Session,
    /// Virtual now.
    pub now: Instant,
    /// Everything both sides did, in order.
    pub log: Vec<Logged>,
    /// Chunk sizes for byte delivery, cycled (default `[4096]`; 0 is read as 1).
    pub chunks: Vec<usize>,
    /// Whether A accepts connections (a connect from B fails when false).
    pub a_listening: bool,
    /// Whether B accepts connections (a connect from A fails when false).
    pub b_listening: bool,
    /// When true, connects go unanswered (neither up nor failed).
    pub connect_hangs: bool,
    /// When true, everything A sends is lost (A falls silent).
    pub drop_from_a: bool,
    /// When true, everything B sends is lost (B falls silent).
    pub drop_from_b: bool,
    links: Vec<(ConnId, ConnId)>,
    wire: VecDeque<Wire>,
    chunk_i: usize,
}

impl Pair {
    /// Two sessions built from `a` and `b`, virtual time starting at `start`.
    pub fn new(a: SessionConfig, b: SessionConfig, start: Instant) -> Pair {
        Pair {
            a: Session::new(a),
            b: Session::new(b),
            now: start,
            log: Vec::new(),
            chunks: vec![4096],
            a_listening: true,
            b_listening: true,
            connect_hangs: false,
            drop_from_a: false,
            drop_from_b: false,
            links: Vec::new(),
            wire: VecDeque::new(),
            chunk_i: 0,
        }
    }

    /// The session of `side`.
    pub fn session(&mut self, side: Side) -> &mut Session {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Starts both sessions now and runs until nothing moves.
    pub fn start_both(&mut self) {
        let now = self.now;
        self.a.handle_start(now);
        self.b.handle_start(now);
        self.drive();
    }

    /// The connection of `side` linked to connection `conn` of the other side.
    fn peer_conn(&self, side: Side, conn: ConnId) -> Option<ConnId> {
        self.links.iter().find_map(|&(a, b)| match side {
            Side::A if a == conn => Some(b),
            Side::B if b == conn => Some(a),
            _ => None,
        })
    }

    fn unlink(&mut self, side: Side, conn: ConnId) {
        self.links.retain(|&(a, b)| match side {
            Side::A => a != conn,
            Side::B => b != conn,
        });
    }

    /// Connections currently linked, as (A's id, B's id).
    pub fn links(&self) -> &[(ConnId, ConnId)] {
        &self.links
    }

    /// Delivers `bytes` to `side` on connection `conn`, as if its peer sent them.
    pub fn inject(&mut self, side: Side, conn: ConnId, bytes: &[u8]) {
        let now = self.now;
        self.session(side).handle_bytes(now, conn, bytes);
        self.drive();
    }

    /// Processes actions and wire traffic until nothing moves (no time passes).
    ///
    /// # Panics
    ///
    /// After a million steps without settling (a livelock is a bug to report).
    pub fn drive(&mut self) {
        for _ in 0..1_000_000 {
            if let Some(act) = self.a.poll_action() {
                self.exec(Side::A, act);
                continue;
            }
            if let Some(act) = self.b.poll_action() {
                self.exec(Side::B, act);
                continue;
            }
            match self.wire.pop_front() {
                Some(Wire::Bytes { to, conn, bytes }) => {
                    let now = self.now;
                    let mut rest = &bytes[..];
                    while !rest.is_empty() {
                        let n = self
                            .chunks
                            .get(self.chunk_i % self.chunks.len().max(1))
                            .copied()
                            .unwrap_or(4096)
                            .clamp(1, rest.len());
                        self.chunk_i += 1;
                        self.session(to).handle_bytes(now, conn, &rest[..n]);
                        rest = &rest[n..];
                    }
                }
                Some(Wire::Fin { to, conn }) => {
                    let now = self.now;
                    self.session(to).handle_closed(now, conn);
                }
                None => return,
            }
        }
        panic!("pair did not settle");
    }

    fn exec(&mut self, side: Side, action: Action) {
        let now = self.now;
        self.log.push(Logged {
            at: now,
            side,
            action: action.clone(),
        });
        match action {
            Action::Connect { conn } => {
                if self.connect_hangs {
                    return;
                }
                let listening = match side {
                    Side::A => self.b_listening,
                    Side::B => self.a_listening,
                };
                if !listening {
                    self.session(side).handle_connect_failed(now, conn);
                    return;
                }
                let other = side.other();
                let theirs = self.session(other).new_conn_id();
                self.links.push(match side {
                    Side::A => (conn, theirs),
                    Side::B => (theirs, conn),
                });
                self.session(side)
                    .handle_connected(now, conn, Direction::Outbound);
                self.session(other)
                    .handle_connected(now, theirs, Direction::Inbound);
            }
            Action::Send { conn, bytes } => {
                let dropped = match side {
                    Side::A => self.drop_from_a,
                    Side::B => self.drop_from_b,
                };
                if dropped {
                    return;
                }
                if let Some(to_conn) = self.peer_conn(side, conn) {
                    self.wire.push_back(Wire::Bytes {
                        to: side.other(),
                        conn: to_conn,
                        bytes,
                    });
                }
            }
            Action::Close { conn } => {
                if let Some(to_conn) = self.peer_conn(side, conn) {
                    self.unlink(side, conn);
                    self.wire.push_back(Wire::Fin {
                        to: side.other(),
                        conn: to_conn,
                    });
                }
            }
            _ => {}
        }
    }

    /// Moves virtual time to `t`, firing every timer of both sides on its
    /// exact deadline on the way.
    pub fn advance_to(&mut self, t: Instant) {
        self.drive();
        for _ in 0..10_000_000 {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|d| *d <= t)
                .min();
            let Some(d) = next else { break };
            self.now = self.now.max(d);
            let now = self.now;
            if self.a.poll_timeout().is_some_and(|x| x <= now) {
                self.a.handle_timeout(now);
            }
            if self.b.poll_timeout().is_some_and(|x| x <= now) {
                self.b.handle_timeout(now);
            }
            self.drive();
        }
        self.now = self.now.max(t);
        self.drive();
    }

    /// Moves virtual time forward by `d`.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.now + d;
        self.advance_to(t);
    }

    /// Every message `side` sent, decoded (leniently: 4-octet AS, extended
    /// length; frames that do not decode are skipped), with time and connection.
    pub fn sent_messages(&self, side: Side) -> Vec<(Instant, ConnId, Message)> {
        let ctx = DecodeContext {
            extended_message: true,
            ..DecodeContext::default()
        };
        let mut out = Vec::new();
        for l in self.log.iter().filter(|l| l.side == side) {
            if let Action::Send { conn, bytes } = &l.action {
                let mut f = Framer::new(MAX_EXTENDED_MESSAGE_LEN);
                f.push(bytes);
                while let Ok(Some(frame)) = f.next_frame() {
                    if let Ok(m) = Message::decode(frame, &ctx) {
                        out.push((l.at, *conn, m));
                    }
                }
            }
        }
        out
    }

    /// Every state change of `side`: (time, from, to).
    pub fn state_changes(&self, side: Side) -> Vec<(Instant, State, State)> {
        self.log
            .iter()
            .filter(|l| l.side == side)
            .filter_map(|l| match &l.action {
                Action::StateChanged { from, to, .. } => Some((l.at, *from, *to)),
                _ => None,
            })
            .collect()
    }

    /// Every action of `side` matching `f`, with its time.
    pub fn actions_of(&self, side: Side) -> impl Iterator<Item = (Instant, &Action)> {
        self.log
            .iter()
            .filter(move |l| l.side == side)
            .map(|l| (l.at, &l.action))
    }
}
