//! The only place with `unsafe`: socket options and scheduling calls that need `libc`
//! because no well-kept crate exposes them safely. Each function is small, checks its
//! return value and turns errno into `std::io::Error`.
#![allow(unsafe_code)]

pub(crate) mod bfd;
pub(crate) mod tcp;
