//! BFD (RFC 5880) sessions as a deterministic, sans-IO state machine, and the packet codec.
#![forbid(unsafe_code)]
