//! The local API: newline-delimited JSON over a Unix socket (no gRPC).
//!
//! Each line a client writes is one request object, `{"request": "NAME", ...}`; each
//! line the server writes back is one response, `{"result": ...}` or
//! `{"error": {"code": ..., "message": ..., "field": ...}}`. A request that fails changes
//! nothing: every route of an `announce` or `set` is validated before any is applied.
//! After `watch`, the connection streams `{"event": ...}` lines. The socket is created
//! with mode 0660. The shapes are the types of [`proto`]; `docs/API.md` documents them
//! with examples.
//!
//! [`ApiServer::start`] serves any [`ApiBackend`]; [`Speaker`](crate::Speaker) is one.

mod backend;
pub mod convert;
pub mod proto;
mod server;

pub use server::{ApiBackend, ApiServer};
