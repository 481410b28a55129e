//! One BGP session as a deterministic, sans-IO state machine (RFC 4271 §8).
//!
//! # Contract
//!
//! * **Deterministic, no I/O.** A [`Session`] never reads a clock, opens a
//!   socket, spawns a task or draws a random number. Time is passed in (`now`)
//!   with every event; the same events at the same instants always give the
//!   same actions. Backoff has no jitter.
//! * **Never panics on peer input.** Any bytes, in any chunking, at any time,
//!   lead to the NOTIFICATION RFC 4271 §6 (and RFC 6608, RFC 7606, RFC 9234…)
//!   asks for, or to the message being used. Fuzzed by
//!   `fuzz/fuzz_targets/bgp_fsm.rs`.
//! * **Shape of quinn-proto.** Inputs are `handle_*` methods; outputs are
//!   [`Session::poll_action`] (connect, send, close, state changed, routes
//!   received…) and [`Session::poll_timeout`], the earliest deadline of a small
//!   timer table (connect timeout, connect retry, automatic restart, hold,
//!   keepalive). The runtime sleeps until that instant and calls
//!   [`Session::handle_timeout`]; calling it early does nothing.
//! * **Self-restarting.** After an error the session goes to Idle and starts
//!   again by itself after an exponential backoff delay (1 s doubling to 120 s
//!   by default, reset once a session stayed Established); only
//!   [`Session::handle_stop`] keeps it down (and [`Session::set_hold_down`],
//!   e.g. while BFD is down).
//! * **Up to two connections** (one outbound, one inbound) while a connection
//!   collision is resolved (RFC 4271 §6.8); [`State`] is the most advanced of
//!   them. The connection initiated by the higher BGP identifier is kept, the
//!   other gets NOTIFICATION Cease/7. An inbound connection while Established
//!   is refused with Cease/7, one while Idle with Cease/5.
//! * **Every NOTIFICATION comes from one mapping.** Errors found in the peer's
//!   messages are `bgp_wire::DecodeError`s and are sent as
//!   `DecodeError::notification()` says; the session adds the checks that need
//!   the configuration (peer AS, identifier, role, families: RFC 4271 §6.2,
//!   RFC 6286, RFC 9234, RFC 5492) and the FSM errors of RFC 6608. RFC 7606
//!   treat-as-withdraw and attribute discard do not reset the session: the
//!   UPDATE is delivered as withdrawals, or without the attribute.
//!
//! # Timers
//!
//! | timer | started | value |
//! |---|---|---|
//! | connect timeout | [`Action::Connect`] | [`SessionConfig::connect_timeout`] (30 s) |
//! | connect retry | outbound connect failed | backoff: 1 s, 2 s, 4 s … 120 s |
//! | automatic restart | session went down after TCP was up | same backoff |
//! | delay open | TCP up, when [`SessionConfig::delay_open`] is set | that delay; the peer's OPEN ends it early |
//! | hold | OPEN sent: 240 s ([`OPEN_SENT_HOLD_TIME`]); then negotiated hold, restarted by every KEEPALIVE/UPDATE received | min(ours, peer's); 0 = none |
//! | keepalive | OPEN received; restarted by every KEEPALIVE/UPDATE sent | min(configured, hold/3) |
//!
//! # Testing support
//!
//! [`pair`] (two sessions on virtual time) and [`check`] (an invariant checker
//! for arbitrary event sequences, used by the proptest and the fuzz target) are
//! public so that the runtime's tests can use them too.
//!
//! # Runtime loop
//!
//! ```text
//! session.handle_start(now);
//! loop {
//!     while let Some(a) = session.poll_action() { execute(a) }   // Connect, Send, Close...
//!     select! { bytes from conn => session.handle_bytes(now, conn, &bytes),
//!               connect done  => session.handle_connected(now, conn, Direction::Outbound),
//!               accepted      => { let id = session.new_conn_id();
//!                                  session.handle_connected(now, id, Direction::Inbound) }
//!               sleep_until(session.poll_timeout()) => session.handle_timeout(now) }
//! }
//! ```
//!
//! # Example: two sessions on virtual time
//!
//! [`pair::Pair`] joins two sessions with in-memory queues and a virtual
//! clock (the test harness of this crate, public so other crates can test
//! against it too):
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use bgp_fsm::{pair::Pair, SessionConfig, State};
//!
//! let a_id = Ipv4Addr::new(192, 0, 2, 1);
//! let b_id = Ipv4Addr::new(192, 0, 2, 2);
//! let a = SessionConfig::new(64500, a_id, 64501, IpAddr::V4(b_id));
//! let mut b = SessionConfig::new(64501, b_id, 64500, IpAddr::V4(a_id));
//! b.passive = true;
//!
//! let t0 = Instant::now(); // the only clock read: the epoch of virtual time
//! let mut pair = Pair::new(a, b, t0);
//! pair.start_both();
//! pair.run_for(Duration::from_secs(1));
//! assert_eq!(pair.a.state(), State::Established);
//! assert_eq!(pair.b.state(), State::Established);
//! assert_eq!(pair.a.negotiated().unwrap().hold_time, 90);
//!
//! // Keepalives keep it up for an hour of virtual time.
//! pair.run_for(Duration::from_secs(3600));
//! assert_eq!(pair.a.state(), State::Established);
//! ```
#![forbid(unsafe_code)]

pub mod check;
mod config;
mod negotiated;
pub mod pair;
mod session;
mod types;

pub use config::{Backoff, ConfigError, SessionConfig};
pub use negotiated::Negotiated;
pub use session::{OPEN_SENT_HOLD_TIME, Session};
pub use types::{Action, ConnId, Counters, Direction, Reason, SendError, State};

/// The codec this crate builds on.
pub use bgp_wire;
