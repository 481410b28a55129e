//! speakerd: a BGP (RFC 4271) and BFD (RFC 5880) speaker — the runtime around the sans-IO
//! cores `bgp-fsm` and `bfd`, and the library facade for embedding.
//!
//! This is the only crate of the workspace with sockets, threads and an async runtime.
//! All `unsafe` (a few socket options and scheduling calls through `libc`) lives in the
//! private `sys` module.
//!
//! * [`config`]: the TOML configuration, validated with file:line:col errors.
//! * [`announce`]: `[[announce]]` tables and the community syntax; [`Speaker::announce`],
//!   [`Speaker::withdraw`], [`Speaker::set`] and the bulk calls change the routes every
//!   Established peer receives (one shared rib, pulled by each session under backpressure).
//! * [`Speaker`]: runs every configured peer — one tokio task per BGP session
//!   ([`bgp::PeerHandle`], [`bgp::PeerStatus`], [`bgp::PeerEvent`]), the listening sockets,
//!   the BFD coupling (RFC 5882).
//! * [`clock`]: the one clock, behind a trait.
#![deny(unsafe_code)]

pub mod announce;
pub mod api;
pub mod bfd;
pub mod bgp;
pub mod clock;
pub mod config;
pub mod metrics;
pub mod state;
mod sys;

pub use bgp::{PeerEvent, PeerEventKind, PeerHandle, PeerStatus, Speaker, SpeakerOptions};
pub use config::Config;
