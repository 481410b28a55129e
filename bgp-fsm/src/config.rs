//! Session configuration.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_wire::{AddPathFamily, Capability, Family, GracefulRestart, Role};

/// Exponential backoff for connection retries and for the automatic restart
/// after an error (RFC 4271 §8.1.1 ConnectRetryTimer / IdleHoldTimer and
/// DampPeerOscillations). Deterministic: no jitter.
///
/// The n-th consecutive failure waits `min(initial × 2ⁿ, max)`. The delay goes
/// back to `initial` once a session has stayed Established for `reset_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay (default 1 s, as MetalLB).
    pub initial: Duration,
    /// Cap (default 120 s, as MetalLB's 2 minutes).
    pub max: Duration,
    /// How long a session must stay Established for the delay to reset to
    /// `initial` when it goes down (default 30 s).
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
            reset_after: Duration::from_secs(30),
        }
    }
}

/// Configuration of one BGP session.
///
/// Build it with [`SessionConfig::new`] and change the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Our AS number (4 octets; AS_TRANS goes in the OPEN when it does not fit).
    pub local_asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// The AS the peer must announce (RFC 4271 §6.2 Bad Peer AS otherwise).
    pub peer_asn: u32,
    /// The peer's address (for logs; eBGP vs iBGP is decided by the AS numbers).
    pub peer_addr: IpAddr,
    /// Hold time we propose, seconds: 0 (no keepalives, no hold timer) or ≥ 3.
    /// Default 90.
    pub hold_time: u16,
    /// Keepalive interval, seconds. `None` (default) = hold time / 3. Always
    /// capped at the negotiated hold time / 3.
    pub keepalive: Option<u16>,
    /// Never initiate connections; wait for the peer to connect
    /// (RFC 4271 §8.1.1 PassiveTcpEstablishment).
    pub passive: bool,
    /// Address families announced with the multiprotocol capability
    /// (default IPv4 unicast). At least one must be shared with the peer.
    pub families: Vec<Family>,
    /// Retry/restart backoff.
    pub connect_retry: Backoff,
    /// How long an outbound TCP connect may take before it is abandoned and
    /// counted as a failure (default 30 s).
    pub connect_timeout: Duration,
    /// RFC 4271 §8.1.1 DelayOpen: after TCP comes up, wait this long for the
    /// peer's OPEN before sending ours (ours goes out at once when the peer's
    /// arrives). `None` (default): send the OPEN at once.
    pub delay_open: Option<Duration>,
    /// RFC 9234 role, sent in the Role capability and checked against the peer's.
    pub role: Option<Role>,
    /// RFC 9234 §4.2 strict mode: the peer must send a Role capability.
    pub role_strict: bool,
    /// RFC 4724 graceful restart capability to send (restart time, flags,
    /// forwarding state per family). `None` (default): not sent.
    pub graceful_restart: Option<GracefulRestart>,
    /// Announce route refresh (RFC 2918) and enhanced route refresh (RFC 7313).
    /// Default true.
    pub route_refresh: bool,
    /// Announce extended messages (RFC 8654). Default true.
    pub extended_message: bool,
    /// RFC 7911 ADD-PATH per family (send/receive). Default none.
    pub add_path: Vec<AddPathFamily>,
    /// Further capabilities sent as they are (e.g. FQDN, software version).
    pub extra_capabilities: Vec<Capability>,
}

impl SessionConfig {
    /// A configuration with the defaults described on each field.
    pub fn new(local_asn: u32, router_id: Ipv4Addr, peer_asn: u32, peer_addr: IpAddr) -> Self {
        SessionConfig {
            local_asn,
            router_id,
            peer_asn,
            peer_addr,
            hold_time: 90,
            keepalive: None,
            passive: false,
            families: vec![Family::IPV4_UNICAST],
            connect_retry: Backoff::default(),
            connect_timeout: Duration::from_secs(30),
            delay_open: None,
            role: None,
            role_strict: false,
            graceful_restart: None,
            route_refresh: true,
            extended_message: true,
            add_path: Vec::new(),
            extra_capabilities: Vec::new(),
        }
    }

    /// True when this is an external session (different AS numbers).
    pub fn is_ebgp(&self) -> bool {
        self.local_asn != self.peer_asn
    }

    /// Checks the values a session cannot work with. [`Session::new`](crate::Session::new)
    /// accepts any configuration and clamps bad values (documented per error);
    /// call this first to report them instead.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // RFC 4271 §4.2: the hold time MUST be either zero or at least three seconds.
        if self.hold_time == 1 || self.hold_time == 2 {
            return Err(ConfigError::HoldTime(self.hold_time));
        }
        if self.families.is_empty() {
            return Err(ConfigError::NoFamilies);
        }
        // RFC 6286 §2.1: the BGP identifier is a non-zero 32-bit value.
        if self.router_id.is_unspecified() {
            return Err(ConfigError::RouterId);
        }
        // RFC 7607 §2: AS 0 must not be used.
        if self.local_asn == 0 || self.peer_asn == 0 {
            return Err(ConfigError::AsZero);
        }
        if self.connect_retry.initial.is_zero()
            || self.connect_retry.max < self.connect_retry.initial
        {
            return Err(ConfigError::Backoff);
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::ConnectTimeout);
        }
        Ok(())
    }
}

/// A configuration value a session cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Hold time 1 or 2 (RFC 4271 §4.2). `Session::new` uses 3 instead.
    #[error("hold time {0} s: must be 0 or at least 3")]
    HoldTime(u16),
    /// No address family. `Session::new` uses IPv4 unicast.
    #[error("no address family configured")]
    NoFamilies,
    /// Router id 0.0.0.0 (RFC 6286). `Session::new` keeps it; peers will refuse it.
    #[error("router id 0.0.0.0 is not a valid BGP identifier")]
    RouterId,
    /// AS 0 (RFC 7607). `Session::new` keeps it; peers will refuse it.
    #[error("AS 0 is reserved")]
    AsZero,
    /// Backoff initial delay zero, or max below initial. `Session::new` uses at
    /// least 1 ms and at least `initial`.
    #[error("backoff: initial must be > 0 and max >= initial")]
    Backoff,
    /// Connect timeout zero. `Session::new` uses 1 ms.
    #[error("connect timeout must be > 0")]
    ConnectTimeout,
}
