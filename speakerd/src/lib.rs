//! speakerd: a BGP (RFC 4271) and BFD (RFC 5880) speaker — the runtime around the sans-IO
//! cores `bgp-fsm` and `bfd`, and the library facade for embedding.
//!
//! This is the only crate of the workspace with sockets, threads and an async runtime.
//! All `unsafe` (a few socket options and scheduling calls through `libc`) lives in the
//! private `sys` module.
#![deny(unsafe_code)]

pub mod bfd;
pub mod bgp;
mod sys;
