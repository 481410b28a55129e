//! BGP-4 message codec (RFC 4271 and extensions): bytes in, typed messages out, and back.
//!
//! Pure: no I/O, no clock, no async runtime.
#![forbid(unsafe_code)]
