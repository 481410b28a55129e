//! One BGP session as a deterministic, sans-IO state machine (RFC 4271 §8).
#![forbid(unsafe_code)]
