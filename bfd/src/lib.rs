//! BFD (RFC 5880) sessions as a deterministic, sans-IO state machine, and the packet codec.
//!
//! # Contract
//!
//! - **No I/O, no clocks, no threads.** Every input carries `now: Instant`; the caller owns the
//!   clock, the sockets (RFC 5881/5883 UDP) and the timers. Randomness (transmit jitter,
//!   initial sequence number) comes from an injected [`RandomSource`].
//! - **Deterministic.** The same inputs at the same instants with the same RNG seed give the
//!   same packets, events and deadlines — which is what the virtual-time tests rely on.
//! - **Never panics on input.** [`ControlPacket::decode`] and [`Session::handle_packet`] accept
//!   any bytes; a bad packet is an `Err` naming the failed check, and changes nothing.
//!
//! # What is covered
//!
//! - [`packet`]: the Control packet of RFC 5880 §4.1 with every field and the authentication
//!   sections of §4.2–§4.4; [`ControlPacket::decode`] applies the packet-level checks of §6.8.6
//!   and says which one failed ([`DecodeError`]).
//! - [`auth`]: simple password, keyed and meticulous keyed MD5 and SHA1 (§6.7), with the
//!   sequence number windows in circular 32-bit space.
//! - [`Session`]: asynchronous mode (§6.2, §6.8.6 reception rules in order), discriminators,
//!   diagnostics, the 1 s transmit floor while not Up (§6.8.3), detection time (§6.8.4), Poll
//!   and Final for interval changes (§6.5, §6.8.3), jittered periodic transmission (§6.8.7),
//!   the passive role (§6.1), a peer's Demand mode, AdminDown both ways (§6.8.16). A peer's
//!   AdminDown is reported as not being a failure (RFC 5882 §3.2): see [`Event::is_failure`].
//! - [`Demux`]: finds the session a received packet belongs to (§6.8.6).
//!
//! Not implemented: the Echo function and Demand mode on the local side (packets carry
//! Required Min Echo RX 0 and a clear D bit).
//!
//! # Driving a session
//!
//! After every input ([`Session::handle_packet`], [`Session::handle_timeout`],
//! [`Session::set_intervals`], [`Session::admin_down`] ...), the runtime drains
//! [`Session::poll_transmit`] (packets to send) and [`Session::poll_event`] (state changes),
//! then sleeps until [`Session::poll_timeout`] and calls [`Session::handle_timeout`] then.
//! Calling `handle_timeout` early is harmless, so one timer thread with a deadline heap can
//! drive thousands of sessions, re-arming a session's entry only when its deadline changes.
//!
//! # Example: two sessions reach Up on virtual time
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bfd::{Session, SessionConfig, SplitMix64, State};
//!
//! let cfg = SessionConfig {
//!     desired_min_tx: Duration::from_millis(50),
//!     required_min_rx: Duration::from_millis(50),
//!     detect_mult: 3,
//!     ..SessionConfig::default()
//! };
//! let t0 = Instant::now(); // only an origin: time below advances virtually
//! let mut a = Session::new(cfg.clone(), 1, t0, SplitMix64::new(1)).unwrap();
//! let mut b = Session::new(cfg, 2, t0, SplitMix64::new(2)).unwrap();
//! let mut now = t0;
//! for _ in 0..100 {
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//!     // Deliver everything each side sends, instantly.
//!     while let Some(p) = a.poll_transmit(now) {
//!         b.handle_packet(now, &p).unwrap();
//!     }
//!     while let Some(p) = b.poll_transmit(now) {
//!         a.handle_packet(now, &p).unwrap();
//!     }
//!     if a.state() == State::Up && b.state() == State::Up {
//!         break;
//!     }
//!     // Jump to the earliest deadline of either session.
//!     now = [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min().unwrap().max(now);
//! }
//! assert_eq!((a.state(), b.state()), (State::Up, State::Up));
//! assert_eq!(a.remote_discr(), 2);
//! // Detection time: peer's multiplier x max(our RequiredMinRx, peer's DesiredMinTx).
//! assert!(a.detection_time() >= Some(Duration::from_millis(150)));
//! while let Some(ev) = a.poll_event() {
//!     println!("{ev:?}");
//! }
//! ```
#![forbid(unsafe_code)]

pub mod auth;
pub mod demux;
pub mod packet;
pub mod rng;
pub mod session;

pub use auth::{AuthConfig, AuthConfigError, AuthError};
pub use demux::{Demux, DemuxError};
pub use packet::{
    AuthSection, AuthType, ControlPacket, DecodeError, Diagnostic, Flags, PacketBuf, Password,
    State,
};
pub use rng::{RandomSource, SplitMix64};
pub use session::{ConfigError, Event, RxError, Session, SessionConfig};
