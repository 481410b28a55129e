//! The test `Pair`: two sessions joined by in-memory queues on a virtual clock.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bfd::{ControlPacket, Event, PacketBuf, RxError, Session, SessionConfig, SplitMix64, State};

/// Discriminators used by the pair.
pub const DISCR_A: u32 = 0x0a0a_0001;
pub const DISCR_B: u32 = 0x0b0b_0002;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn config(tx_ms: u64, rx_ms: u64, mult: u8) -> SessionConfig {
    SessionConfig {
        desired_min_tx: ms(tx_ms),
        required_min_rx: ms(rx_ms),
        detect_mult: mult,
        ..SessionConfig::default()
    }
}

/// One side of the pair plus everything it did, with the virtual instant.
pub struct Side {
    pub s: Session<SplitMix64>,
    /// Packets sent (decoded), including those then dropped.
    pub sent: Vec<(Instant, ControlPacket)>,
    /// Raw packets sent, same order as `sent`.
    pub sent_raw: Vec<(Instant, PacketBuf)>,
    pub events: Vec<(Instant, Event)>,
    /// Packets this side dropped on receipt.
    pub rx_errors: Vec<(Instant, RxError)>,
    /// Packets this side accepted (decoded), with the instant of receipt.
    pub received: Vec<(Instant, ControlPacket)>,
}

impl Side {
    fn new(s: Session<SplitMix64>) -> Side {
        Side {
            s,
            sent: Vec::new(),
            sent_raw: Vec::new(),
            events: Vec::new(),
            rx_errors: Vec::new(),
            received: Vec::new(),
        }
    }

    /// The state changes seen, in order.
    pub fn transitions(&self) -> Vec<(State, State)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::StateChanged { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }

    /// Deliver one raw payload to this side at `now`, recording the outcome.
    pub fn deliver(&mut self, now: Instant, bytes: &[u8]) -> Result<(), RxError> {
        let r = self.s.handle_packet(now, bytes);
        match r {
            Ok(()) => {
                if let Ok(p) = ControlPacket::decode(bytes) {
                    self.received.push((now, p));
                }
            }
            Err(e) => self.rx_errors.push((now, e)),
        }
        r
    }

    fn drain(
        &mut self,
        now: Instant,
        out: &mut VecDeque<(Instant, PacketBuf)>,
        drop: bool,
        drop_if: Option<fn(usize) -> bool>,
        delay: Duration,
    ) -> bool {
        let mut progress = false;
        while let Some(p) = self.s.poll_transmit(now) {
            progress = true;
            let decoded = ControlPacket::decode(&p).expect("a session sends valid packets");
            let index = self.sent.len();
            self.sent.push((now, decoded));
            self.sent_raw.push((now, p));
            if !drop && !drop_if.is_some_and(|f| f(index)) {
                out.push_back((now + delay, p));
            }
        }
        while let Some(e) = self.s.poll_event() {
            progress = true;
            self.events.push((now, e));
        }
        progress
    }
}

pub struct Pair {
    pub t0: Instant,
    pub now: Instant,
    pub a: Side,
    pub b: Side,
    /// One-way delay of both queues.
    pub delay: Duration,
    /// Drop everything A sends (loss on the A→B direction).
    pub drop_a_to_b: bool,
    /// Drop everything B sends.
    pub drop_b_to_a: bool,
    /// Drop A's n-th packet (counting every packet A ever sent) when this says so.
    pub drop_a_if: Option<fn(usize) -> bool>,
    pub a_to_b: VecDeque<(Instant, PacketBuf)>,
    pub b_to_a: VecDeque<(Instant, PacketBuf)>,
}

impl Pair {
    pub fn new(cfg_a: SessionConfig, cfg_b: SessionConfig) -> Pair {
        Pair::with_seeds(cfg_a, cfg_b, 1, 2)
    }

    pub fn with_seeds(
        cfg_a: SessionConfig,
        cfg_b: SessionConfig,
        seed_a: u64,
        seed_b: u64,
    ) -> Pair {
        let t0 = Instant::now();
        let a = Session::new(cfg_a, DISCR_A, t0, SplitMix64::new(seed_a)).expect("config a");
        let b = Session::new(cfg_b, DISCR_B, t0, SplitMix64::new(seed_b)).expect("config b");
        Pair {
            t0,
            now: t0,
            a: Side::new(a),
            b: Side::new(b),
            delay: Duration::ZERO,
            drop_a_to_b: false,
            drop_b_to_a: false,
            drop_a_if: None,
            a_to_b: VecDeque::new(),
            b_to_a: VecDeque::new(),
        }
    }

    /// Virtual time elapsed since t0.
    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Process everything due at `self.now` until nothing more happens at this instant.
    pub fn settle(&mut self) {
        let now = self.now;
        for _ in 0..10_000 {
            let mut progress = false;
            while self.a_to_b.front().is_some_and(|(t, _)| *t <= now) {
                let (_, p) = self.a_to_b.pop_front().expect("front exists");
                let _ = self.b.deliver(now, &p);
                progress = true;
            }
            while self.b_to_a.front().is_some_and(|(t, _)| *t <= now) {
                let (_, p) = self.b_to_a.pop_front().expect("front exists");
                let _ = self.a.deliver(now, &p);
                progress = true;
            }
            self.a.s.handle_timeout(now);
            self.b.s.handle_timeout(now);
            progress |= self.a.drain(
                now,
                &mut self.a_to_b,
                self.drop_a_to_b,
                self.drop_a_if,
                self.delay,
            );
            progress |= self
                .b
                .drain(now, &mut self.b_to_a, self.drop_b_to_a, None, self.delay);
            if !progress {
                return;
            }
        }
        panic!("no quiescence at {:?}", self.elapsed());
    }

    /// Earliest instant at which something is scheduled.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.a.s.poll_timeout(),
            self.b.s.poll_timeout(),
            self.a_to_b.front().map(|(t, _)| *t),
            self.b_to_a.front().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advance to `until`, stopping at every deadline on the way.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..10_000_000 {
            self.settle();
            match self.next_deadline() {
                Some(t) if t <= until => {
                    // After settle nothing may be due at `now`: that would be a busy loop.
                    assert!(t > self.now, "deadline stuck at {:?}", self.elapsed());
                    self.now = t;
                }
                _ => {
                    self.now = until.max(self.now);
                    self.settle();
                    return;
                }
            }
        }
        panic!("run_until did not finish");
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Step deadline by deadline until `pred` holds; panics after `limit` of virtual time.
    pub fn run_until_cond(&mut self, limit: Duration, mut pred: impl FnMut(&Pair) -> bool) {
        let end = self.now + limit;
        loop {
            self.settle();
            if pred(self) {
                return;
            }
            match self.next_deadline() {
                Some(t) if t <= end => {
                    let t = t.max(self.now);
                    if t == self.now {
                        panic!("deadline stuck at {:?}", self.elapsed());
                    }
                    self.now = t;
                }
                _ => panic!(
                    "condition not reached within {limit:?} (now {:?})",
                    self.elapsed()
                ),
            }
        }
    }

    pub fn both_up(&self) -> bool {
        self.a.s.state() == State::Up && self.b.s.state() == State::Up
    }

    /// Bring both sides Up and let any Poll Sequences finish.
    pub fn establish(&mut self) {
        self.run_until_cond(Duration::from_secs(10), |p| p.both_up());
        self.run_until_cond(Duration::from_secs(10), |p| {
            !p.a.s.poll_in_progress() && !p.b.s.poll_in_progress()
        });
    }
}
