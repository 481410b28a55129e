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
//!
//! # Embedding
//!
//! The library alone needs no command-line crates: depend on it with
//! `default-features = false` (the `cli` feature only builds the `speakerd` binary). See
//! `examples/embed.rs` for a fuller program. Two speakers on loopback (ephemeral port), one
//! announcing a route with a community, the other receiving it:
//!
//! ```
//! use speakerd::announce::{AnyCommunity, parse_community};
//! use speakerd::{Config, PeerEventKind, Speaker};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // B listens on 127.0.0.2 (any free port) and waits for A.
//! let b = Config::parse(r#"
//!     [speaker]
//!     asn = 64497
//!     router_id = "192.0.2.2"
//!     listen = ["127.0.0.2:0"]
//!     [[peer]]
//!     address = "127.0.0.1"
//!     asn = 64496
//!     passive = true
//! "#, "b.toml").unwrap();
//! let b = Speaker::start(b).await.unwrap();
//! let mut events = b.subscribe();
//!
//! // A connects to B from 127.0.0.1.
//! let a = Config::parse(&format!(r#"
//!     [speaker]
//!     asn = 64496
//!     router_id = "192.0.2.1"
//!     listen = ["127.0.0.1:0"]
//!     [[peer]]
//!     address = "127.0.0.2"
//!     port = {}
//!     source = "127.0.0.1"
//!     asn = 64497
//! "#, b.local_addrs()[0].port()), "a.toml").unwrap();
//! let a = Speaker::start(a).await.unwrap();
//!
//! let prefix = "203.0.113.10/32".parse().unwrap();
//! let mut adv = rib::Advertisement::new();
//! if let Ok(AnyCommunity::Standard(c)) = parse_community("64496:10") {
//!     adv.communities.push(c);
//! }
//! a.announce(prefix, adv).await;
//!
//! // B receives the route with the community (deadline: the session comes up in well
//! // under a second on loopback).
//! let received = tokio::time::timeout(Duration::from_secs(30), async {
//!     loop {
//!         if let PeerEventKind::Update(u) = events.recv().await.unwrap().kind {
//!             if u.announced().any(|n| n.prefix == prefix) {
//!                 return u;
//!             }
//!         }
//!     }
//! })
//! .await
//! .expect("B never received the route");
//! let communities = received.communities().expect("COMMUNITIES");
//! assert_eq!(communities[0].to_string(), "64496:10");
//!
//! a.shutdown("done").await;
//! b.shutdown("done").await;
//! # }
//! ```
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
