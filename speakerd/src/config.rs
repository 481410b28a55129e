//! The TOML configuration: parsing, and validation before anything starts.
//!
//! Every error says where it is (`file:line:col`), what is wrong and, where it helps, how to
//! fix it. Unknown keys are errors. [`Config::parse`] reports all semantic errors it finds,
//! not only the first.
//!
//! ```
//! let cfg = speakerd::config::Config::parse(
//!     r#"
//! [speaker]
//! asn = 64511
//! router_id = "192.0.2.11"
//!
//! [[peer]]
//! address = "192.0.2.1"
//! asn = 64500
//! "#,
//!     "speakerd.toml",
//! )
//! .unwrap();
//! assert_eq!(cfg.peers[0].hold_time, 90);
//! assert_eq!(cfg.peers[0].keepalive(), 30);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use bgp_fsm::Backoff;
use bgp_wire::Family;
use serde::Deserialize;
use toml::Spanned;

pub use crate::bfd::BfdProfile;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `[speaker]`.
    pub speaker: SpeakerConfig,
    /// `[bfd.profile.NAME]` tables, by name.
    pub bfd_profiles: BTreeMap<String, BfdProfile>,
    /// `[[peer]]` tables, in file order.
    pub peers: Vec<PeerConfig>,
    /// `[[announce]]` tables, in file order (see [`crate::announce`] for the syntax).
    pub announce: Vec<crate::announce::Announcement>,
    /// `[api]`: the local API socket (off when absent).
    pub api: ApiConfig,
    /// `[metrics]`: the Prometheus endpoint (off when absent).
    pub metrics: MetricsConfig,
    /// `[state]`: where API-made announcements persist across restarts (off when absent).
    pub state: StateConfig,
    /// `[log]`: the daemon's log format.
    pub log: LogConfig,
}

/// `[log]`: how the daemon logs (to stderr; the level comes from `RUST_LOG`, default `info`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LogConfig {
    /// `format = "text"` (default) or `"json"` (one JSON object a line).
    pub format: LogFormat,
}

/// `[log] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line (for journald/Loki/...).
    Json,
}

/// `[state]`: the state file (see [`crate::state`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StateConfig {
    /// `path = "/var/lib/speakerd/state.json"`: the announcements made through the API
    /// (or the library) are written there after each change and come back on start; nothing
    /// persists when `None`.
    pub path: Option<std::path::PathBuf>,
}

/// `[metrics]`: where Prometheus metrics are served (see [`crate::metrics`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// `listen = "127.0.0.1:9179"`: serve `GET /metrics` there; off when `None`.
    pub listen: Option<SocketAddr>,
}

/// `[api]`: where the local API listens (see [`crate::api`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ApiConfig {
    /// The Unix socket path (`socket = "/run/speakerd/speakerd.sock"`); no API when `None`.
    pub socket: Option<std::path::PathBuf>,
}

/// `[speaker]`: this speaker's identity and listening addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpeakerConfig {
    /// Our AS number (4 octets).
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Addresses to accept BGP connections on (default none: active sessions only).
    /// Port 179 needs root or CAP_NET_BIND_SERVICE.
    pub listen: Vec<SocketAddr>,
    /// `graceful_restart = true`: advertise the RFC 4724 graceful restart capability
    /// (forwarding state preserved for every family of the session), so a planned restart
    /// (`SIGUSR2`, docs/OPERATIONS.md) keeps our routes at the peers (default false).
    pub graceful_restart: bool,
    /// `restart_time`: the restart time advertised with graceful restart, seconds,
    /// 1..=4095 (default 120).
    pub restart_time: u16,
    /// This process is the restart of a planned graceful restart: the Restart State (R) bit
    /// is set in the capability (not a TOML key; the daemon sets it).
    pub restarting: bool,
}

/// One `[[peer]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerConfig {
    /// Name for logs and the API (default: the address).
    pub name: String,
    /// The peer's address.
    pub address: IpAddr,
    /// The peer's AS number.
    pub asn: u32,
    /// The peer's TCP port (default 179).
    pub port: u16,
    /// Local address to connect from (default: chosen by the kernel).
    pub source: Option<IpAddr>,
    /// Hold time we propose, seconds (default 90; 0 = no keepalives).
    pub hold_time: u16,
    /// Keepalive interval, seconds (default hold_time / 3).
    pub keepalive: Option<u16>,
    /// Never connect; wait for the peer.
    pub passive: bool,
    /// eBGP multihop: the TTL of our packets (default: 1 for eBGP, 255 for iBGP).
    pub ebgp_multihop: Option<u8>,
    /// GTSM (RFC 5082): send with TTL 255, accept only TTL ≥ 254.
    pub ttl_security: bool,
    /// TCP-MD5 password (RFC 2385).
    pub password: Option<String>,
    /// Address families (default IPv4 unicast).
    pub families: Vec<Family>,
    /// BFD profile name: the peer gets a BFD session with it.
    pub bfd: Option<String>,
    /// Keep the routes this peer sends us (Adj-RIB-In), for the API's `routes --received`
    /// and `watch` (default false: received routes are counted, not stored).
    pub keep_received: bool,
    /// Offer RFC 8654 extended messages (UPDATEs up to 65535 bytes; default true). With
    /// `false` every message stays within 4096 bytes.
    pub extended_message: bool,
    /// Connect retry / automatic restart backoff (not a TOML key; library users may set it).
    pub connect_retry: Backoff,
    /// How long a TCP connect may take (not a TOML key; default 30 s).
    pub connect_timeout: Duration,
}

impl PeerConfig {
    /// A peer with every default (port 179, hold time 90 s, IPv4 unicast, active).
    pub fn new(address: IpAddr, asn: u32) -> PeerConfig {
        PeerConfig {
            name: address.to_string(),
            address,
            asn,
            port: 179,
            source: None,
            hold_time: 90,
            keepalive: None,
            extended_message: true,
            passive: false,
            ebgp_multihop: None,
            ttl_security: false,
            password: None,
            families: vec![Family::IPV4_UNICAST],
            bfd: None,
            keep_received: false,
            connect_retry: Backoff::default(),
            connect_timeout: Duration::from_secs(30),
        }
    }

    /// The keepalive interval in use: `keepalive`, or hold_time / 3.
    pub fn keepalive(&self) -> u16 {
        self.keepalive.unwrap_or(self.hold_time / 3)
    }

    /// The socket address to connect to.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    /// True for an eBGP peer (another AS than `local_asn`).
    pub fn is_ebgp(&self, local_asn: u32) -> bool {
        self.asn != local_asn
    }

    /// The TTL (IPv4) / hop limit (IPv6) of our packets: 255 with GTSM (RFC 5082 §3),
    /// `ebgp_multihop` when set, 1 for a directly connected eBGP peer, 255 for iBGP.
    pub fn ttl(&self, local_asn: u32) -> u8 {
        if self.ttl_security {
            255
        } else if let Some(t) = self.ebgp_multihop {
            t
        } else if self.is_ebgp(local_asn) {
            1
        } else {
            255
        }
    }

    /// The minimum TTL accepted on the connection (GTSM: 254, RFC 5082 §3 for one hop).
    pub fn min_ttl(&self) -> Option<u8> {
        self.ttl_security.then_some(254)
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: name.clone(),
                line: 0,
                col: 0,
                message: format!("cannot read the file: {e}"),
                hint: None,
            }])
        })?;
        Config::parse(&text, &name)
    }

    /// Parses and validates configuration text; `file` names it in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            let message = e.message().trim().to_string();
            let hint = parse_hint(&message);
            ConfigErrors(vec![ConfigError {
                file: file.to_string(),
                line,
                col,
                message,
                hint,
            }])
        })?;
        let mut v = Validator {
            text,
            file,
            errors: Vec::new(),
        };
        let cfg = v.config(raw);
        if v.errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(v.errors))
        }
    }
}

/// One configuration error, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name as given.
    pub file: String,
    /// Line, from 1 (0 when the error is not about a position).
    pub line: usize,
    /// Column in characters, from 1.
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )?;
        } else {
            write!(f, "{}: {}", self.file, self.message)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Every error found in a configuration (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn parse_hint(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some("remove the key or fix its spelling; the keys allowed here are listed".into())
    } else if message.starts_with("missing field") {
        Some("add the key; it has no default".into())
    } else if message.starts_with("invalid type") {
        Some("strings are quoted (\"192.0.2.1\"), numbers and booleans are not".into())
    } else {
        None
    }
}

// ----- raw (as written) ---------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    speaker: RawSpeaker,
    #[serde(default)]
    bfd: RawBfd,
    #[serde(default)]
    peer: Vec<RawPeer>,
    #[serde(default)]
    announce: Vec<crate::announce::RawAnnounce>,
    api: Option<RawApi>,
    metrics: Option<RawMetrics>,
    state: Option<RawState>,
    log: Option<RawLog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    path: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    socket: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpeaker {
    asn: Spanned<i64>,
    router_id: Spanned<String>,
    #[serde(default)]
    listen: Vec<Spanned<String>>,
    graceful_restart: Option<bool>,
    restart_time: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBfd {
    #[serde(default)]
    profile: BTreeMap<Spanned<String>, RawProfile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    receive_interval: Option<Spanned<i64>>,
    transmit_interval: Option<Spanned<i64>>,
    detect_multiplier: Option<Spanned<i64>>,
    passive: Option<bool>,
    minimum_ttl: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    name: Option<Spanned<String>>,
    address: Spanned<String>,
    asn: Spanned<i64>,
    port: Option<Spanned<i64>>,
    source: Option<Spanned<String>>,
    hold_time: Option<Spanned<i64>>,
    keepalive: Option<Spanned<i64>>,
    passive: Option<bool>,
    extended_message: Option<bool>,
    ebgp_multihop: Option<Spanned<i64>>,
    ttl_security: Option<Spanned<bool>>,
    keep_received: Option<bool>,
    password: Option<Spanned<String>>,
    families: Option<Spanned<Vec<Spanned<String>>>>,
    bfd: Option<Spanned<String>>,
}

// ----- validation ---------------------------------------------------------------------------

struct Validator<'a> {
    text: &'a str,
    file: &'a str,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    fn metrics(&mut self, raw: Option<RawMetrics>) -> MetricsConfig {
        let Some(s) = raw.and_then(|r| r.listen) else {
            return MetricsConfig::default();
        };
        match s.get_ref().parse::<SocketAddr>() {
            Ok(a) => MetricsConfig { listen: Some(a) },
            Err(_) => {
                self.err(
                    &s,
                    format!("metrics listen {:?} is not an address:port", s.get_ref()),
                    Some("e.g. listen = \"127.0.0.1:9179\" or \"[::1]:9179\""),
                );
                MetricsConfig::default()
            }
        }
    }

    fn log(&mut self, raw: Option<RawLog>) -> LogConfig {
        let format = match raw.and_then(|r| r.format) {
            None => LogFormat::Text,
            Some(f) => match f.get_ref().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    self.err(
                        &f,
                        format!("unknown log format {other:?}"),
                        Some("format = \"text\" or \"json\""),
                    );
                    LogFormat::Text
                }
            },
        };
        LogConfig { format }
    }

    fn state(&mut self, raw: Option<RawState>) -> StateConfig {
        let Some(s) = raw.and_then(|r| r.path) else {
            return StateConfig::default();
        };
        if !s.get_ref().starts_with('/') || s.get_ref().ends_with('/') {
            self.err(
                &s,
                format!("state path {:?} must be an absolute file path", s.get_ref()),
                Some("e.g. path = \"/var/lib/speakerd/state.json\""),
            );
        }
        StateConfig {
            path: Some(s.into_inner().into()),
        }
    }

    fn api(&mut self, raw: Option<RawApi>) -> ApiConfig {
        let Some(s) = raw.and_then(|r| r.socket) else {
            return ApiConfig::default();
        };
        if !s.get_ref().starts_with('/') {
            self.err(
                &s,
                format!("api socket {:?} must be an absolute path", s.get_ref()),
                Some("e.g. socket = \"/run/speakerd/speakerd.sock\""),
            );
        }
        ApiConfig {
            socket: Some(s.into_inner().into()),
        }
    }

    fn err<T>(&mut self, at: &Spanned<T>, message: String, hint: Option<&str>) {
        let (line, col) = line_col(self.text, at.span().start);
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line,
            col,
            message,
            hint: hint.map(str::to_string),
        });
    }

    fn line_of<T>(&self, at: &Spanned<T>) -> usize {
        line_col(self.text, at.span().start).0
    }

    fn asn(&mut self, v: &Spanned<i64>) -> u32 {
        // RFC 6793: 4-octet AS numbers; RFC 7607 §2: AS 0 must not be used.
        match u32::try_from(*v.get_ref()) {
            Ok(n) if n != 0 => n,
            _ => {
                self.err(
                    v,
                    format!("AS number {} out of range 1..=4294967295", v.get_ref()),
                    Some("AS 0 is reserved (RFC 7607); private ASNs are 64512-65534"),
                );
                1
            }
        }
    }

    fn range(&mut self, v: &Spanned<i64>, key: &str, lo: i64, hi: i64, unit: &str) -> i64 {
        let n = *v.get_ref();
        if n < lo || n > hi {
            self.err(v, format!("{key} {n}{unit} out of range {lo}..={hi}"), None);
            lo
        } else {
            n
        }
    }

    fn ip(&mut self, v: &Spanned<String>, key: &str) -> Option<IpAddr> {
        match v.get_ref().parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    v,
                    format!("{key}: invalid IP address {:?}", v.get_ref()),
                    Some("an IPv4 or IPv6 address without port or prefix length, e.g. 192.0.2.1 or 2001:db8::1"),
                );
                None
            }
        }
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let asn = self.asn(&raw.speaker.asn);
        let router_id = match raw.speaker.router_id.get_ref().parse::<Ipv4Addr>() {
            // RFC 6286 §2.1: the BGP identifier is a non-zero 32-bit value.
            Ok(a) if !a.is_unspecified() => a,
            _ => {
                self.err(
                    &raw.speaker.router_id,
                    format!(
                        "router_id: {:?} is not a non-zero IPv4 address",
                        raw.speaker.router_id.get_ref()
                    ),
                    Some("the BGP identifier is written as an IPv4 address (RFC 6286), e.g. \"192.0.2.11\""),
                );
                Ipv4Addr::new(0, 0, 0, 1)
            }
        };
        let mut listen = Vec::new();
        for l in &raw.speaker.listen {
            match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => listen.push(a),
                Err(_) => self.err(
                    l,
                    format!("listen: invalid socket address {:?}", l.get_ref()),
                    Some("address and port, e.g. \"0.0.0.0:179\" or \"[::]:179\""),
                ),
            }
        }

        let mut bfd_profiles = BTreeMap::new();
        for (name, p) in &raw.bfd.profile {
            let ms = |v: &mut Self, x: &Option<Spanned<i64>>, key: &str| -> Option<Duration> {
                x.as_ref()
                    .map(|x| Duration::from_millis(v.range(x, key, 10, 60_000, " ms") as u64))
            };
            let d = BfdProfile::default();
            let profile = BfdProfile {
                receive_interval: ms(self, &p.receive_interval, "receive_interval")
                    .unwrap_or(d.receive_interval),
                transmit_interval: ms(self, &p.transmit_interval, "transmit_interval")
                    .unwrap_or(d.transmit_interval),
                // RFC 5880 §4.1: Detect Mult is non-zero; 1 would declare Down on one loss.
                detect_multiplier: p
                    .detect_multiplier
                    .as_ref()
                    .map(|x| self.range(x, "detect_multiplier", 2, 255, "") as u8)
                    .unwrap_or(d.detect_multiplier),
                passive: p.passive.unwrap_or(d.passive),
                minimum_ttl: p
                    .minimum_ttl
                    .as_ref()
                    .map(|x| self.range(x, "minimum_ttl", 1, 255, "") as u8)
                    .unwrap_or(d.minimum_ttl),
            };
            bfd_profiles.insert(name.get_ref().clone(), profile);
        }

        let mut peers: Vec<PeerConfig> = Vec::new();
        let mut seen_addr: BTreeMap<IpAddr, usize> = BTreeMap::new();
        let mut seen_name: BTreeMap<String, usize> = BTreeMap::new();
        for rp in &raw.peer {
            let Some(address) = self.ip(&rp.address, "address") else {
                continue;
            };
            let peer_asn = self.asn(&rp.asn);
            let mut p = PeerConfig::new(address, peer_asn);
            if let Some(&line) = seen_addr.get(&address) {
                self.err(
                    &rp.address,
                    format!("duplicate peer address {address} (first defined on line {line})"),
                    Some("each [[peer]] needs its own address"),
                );
            } else {
                seen_addr.insert(address, self.line_of(&rp.address));
            }
            if let Some(n) = &rp.name {
                p.name = n.get_ref().clone();
                if let Some(&line) = seen_name.get(&p.name) {
                    self.err(
                        n,
                        format!(
                            "duplicate peer name {:?} (first used on line {line})",
                            p.name
                        ),
                        None,
                    );
                } else {
                    seen_name.insert(p.name.clone(), self.line_of(n));
                }
            }
            if let Some(port) = &rp.port {
                p.port = self.range(port, "port", 1, 65535, "") as u16;
            }
            if let Some(s) = &rp.source {
                if let Some(src) = self.ip(s, "source") {
                    if src.is_ipv4() != address.is_ipv4() {
                        self.err(
                            s,
                            format!(
                                "source {src} and address {address} are not of the same IP version"
                            ),
                            None,
                        );
                    }
                    p.source = Some(src);
                }
            }
            if let Some(h) = &rp.hold_time {
                let n = *h.get_ref();
                // RFC 4271 §4.2: the Hold Time MUST be either zero or at least three seconds.
                if n == 0 || (3..=65535).contains(&n) {
                    p.hold_time = n as u16;
                } else {
                    self.err(
                        h,
                        format!("hold_time {n}: must be 0 or 3..=65535 seconds"),
                        Some("RFC 4271 §4.2: zero (no keepalives) or at least three seconds"),
                    );
                }
            }
            if let Some(k) = &rp.keepalive {
                let n = *k.get_ref();
                // RFC 4271 §4.4: keepalives must come well within the hold time.
                if !(0..=65535).contains(&n) || (p.hold_time > 0 && n >= i64::from(p.hold_time)) {
                    self.err(
                        k,
                        format!("keepalive {n} must be less than hold_time {}", p.hold_time),
                        Some("a third of the hold time is usual (the default)"),
                    );
                } else if p.hold_time == 0 && n != 0 {
                    self.err(
                        k,
                        format!("keepalive {n} with hold_time 0: must be 0 or left out"),
                        Some("hold_time 0 means no keepalives (RFC 4271 §4.4)"),
                    );
                } else {
                    p.keepalive = Some(n as u16);
                }
            }
            p.passive = rp.passive.unwrap_or(false);
            p.extended_message = rp.extended_message.unwrap_or(true);
            p.keep_received = rp.keep_received.unwrap_or(false);
            if let Some(t) = &rp.ttl_security {
                p.ttl_security = *t.get_ref();
            }
            if let Some(m) = &rp.ebgp_multihop {
                let ttl = self.range(m, "ebgp_multihop", 1, 255, "") as u8;
                if p.ttl_security {
                    // RFC 5082 §3: GTSM sends with TTL 255 and checks the received TTL itself.
                    self.err(
                        m,
                        "ebgp_multihop and ttl_security cannot both be set".to_string(),
                        Some("GTSM (ttl_security) already sends with TTL 255; remove one of them"),
                    );
                } else if !p.is_ebgp(asn) {
                    self.err(
                        m,
                        "ebgp_multihop on an iBGP peer (same AS as [speaker])".to_string(),
                        Some("iBGP sessions are sent with TTL 255 already"),
                    );
                }
                p.ebgp_multihop = Some(ttl);
            }
            if let Some(pw) = &rp.password {
                // RFC 2385 / Linux: TCP_MD5SIG keys are 1..=80 bytes.
                let len = pw.get_ref().len();
                if len == 0 || len > 80 {
                    self.err(
                        pw,
                        format!("password is {len} bytes: must be 1..=80"),
                        Some("Linux TCP-MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN)"),
                    );
                }
                p.password = Some(pw.get_ref().clone());
            }
            if let Some(fams) = &rp.families {
                let mut list = Vec::new();
                for f in fams.get_ref() {
                    let fam = match f.get_ref().as_str() {
                        "ipv4-unicast" => Family::IPV4_UNICAST,
                        "ipv6-unicast" => Family::IPV6_UNICAST,
                        other => {
                            self.err(
                                f,
                                format!("unknown address family {other:?}"),
                                Some("known families: \"ipv4-unicast\", \"ipv6-unicast\""),
                            );
                            continue;
                        }
                    };
                    if list.contains(&fam) {
                        self.err(f, format!("family {:?} listed twice", f.get_ref()), None);
                    } else {
                        list.push(fam);
                    }
                }
                if fams.get_ref().is_empty() {
                    self.err(
                        fams,
                        "families must not be empty".to_string(),
                        Some("leave the key out for the default [\"ipv4-unicast\"]"),
                    );
                }
                if !list.is_empty() {
                    p.families = list;
                }
            }
            if let Some(b) = &rp.bfd {
                if !bfd_profiles.contains_key(b.get_ref()) {
                    let defined: Vec<String> =
                        bfd_profiles.keys().map(|k| format!("{k:?}")).collect();
                    let hint = if defined.is_empty() {
                        "no [bfd.profile.NAME] table is defined".to_string()
                    } else {
                        format!("defined profiles: {}", defined.join(", "))
                    };
                    self.err(
                        b,
                        format!("unknown bfd profile {:?}", b.get_ref()),
                        Some(&hint),
                    );
                }
                p.bfd = Some(b.get_ref().clone());
            }
            peers.push(p);
        }
        let text = self.text;
        let mut errs = Vec::new();
        let announce = crate::announce::validate(
            &raw.announce,
            &peers,
            &|at| line_col(text, at).0,
            &mut |at, message, hint| {
                let (line, col) = line_col(text, at);
                errs.push(ConfigError {
                    file: String::new(),
                    line,
                    col,
                    message,
                    hint: hint.map(str::to_string),
                })
            },
        );
        for mut e in errs {
            e.file = self.file.to_string();
            self.errors.push(e);
        }
        Config {
            speaker: SpeakerConfig {
                asn,
                router_id,
                listen,
                graceful_restart: raw.speaker.graceful_restart.unwrap_or(false),
                // RFC 4724 §3: the restart time is a 12-bit number of seconds.
                restart_time: raw
                    .speaker
                    .restart_time
                    .as_ref()
                    .map(|t| self.range(t, "restart_time", 1, 4095, " s") as u16)
                    .unwrap_or(120),
                restarting: false,
            },
            bfd_profiles,
            peers,
            announce,
            api: self.api(raw.api),
            metrics: self.metrics(raw.metrics),
            state: self.state(raw.state),
            log: self.log(raw.log),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "[speaker]\nasn = 64511\nrouter_id = \"192.0.2.11\"\n";

    fn errors(text: &str) -> Vec<String> {
        match Config::parse(text, "t.toml") {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn one(text: &str) -> String {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        e.into_iter().next().unwrap()
    }

    fn peer(lines: &str) -> String {
        format!("{HEAD}[[peer]]\naddress = \"192.0.2.1\"\nasn = 64500\n{lines}\n")
    }

    #[test]
    fn full_example_parses_with_values() {
        let text = r#"
[speaker]
asn = 64511
router_id = "192.0.2.11"
listen = ["0.0.0.0:179", "[::]:1179"]

[bfd.profile.fast]
receive_interval = 100
transmit_interval = 150
detect_multiplier = 4
passive = true
minimum_ttl = 250

[[peer]]
name = "tor1"
address = "192.0.2.1"
asn = 64500
port = 1179
source = "192.0.2.11"
hold_time = 9
keepalive = 2
passive = true
ebgp_multihop = 2
password = "s3cret"
families = ["ipv4-unicast", "ipv6-unicast"]
bfd = "fast"

[[peer]]
address = "2001:db8::1"
asn = 64511
ttl_security = true
"#;
        let c = Config::parse(text, "t.toml").unwrap();
        assert_eq!(c.speaker.asn, 64511);
        assert_eq!(c.speaker.listen.len(), 2);
        assert_eq!(c.speaker.listen[1].port(), 1179);
        let f = &c.bfd_profiles["fast"];
        assert_eq!(f.receive_interval, Duration::from_millis(100));
        assert_eq!(f.transmit_interval, Duration::from_millis(150));
        assert_eq!(f.detect_multiplier, 4);
        assert!(f.passive);
        assert_eq!(f.minimum_ttl, 250);
        let p = &c.peers[0];
        assert_eq!(p.name, "tor1");
        assert_eq!(p.port, 1179);
        assert_eq!(p.source, Some("192.0.2.11".parse().unwrap()));
        assert_eq!((p.hold_time, p.keepalive()), (9, 2));
        assert!(p.passive);
        assert_eq!(p.ttl(64511), 2);
        assert_eq!(p.min_ttl(), None);
        assert_eq!(p.password.as_deref(), Some("s3cret"));
        assert_eq!(p.families, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
        assert_eq!(p.bfd.as_deref(), Some("fast"));
        let q = &c.peers[1];
        assert_eq!(q.name, "2001:db8::1");
        assert_eq!((q.hold_time, q.keepalive()), (90, 30));
        assert_eq!(q.ttl(64511), 255);
        assert_eq!(q.min_ttl(), Some(254));
    }

    #[test]
    fn defaults() {
        let c = Config::parse(&peer(""), "t.toml").unwrap();
        assert!(c.speaker.listen.is_empty());
        let p = &c.peers[0];
        assert_eq!(p.port, 179);
        assert_eq!(p.ttl(64511), 1, "directly connected eBGP: TTL 1");
        assert_eq!(p.families, vec![Family::IPV4_UNICAST]);
        assert!(!p.passive && !p.ttl_security && p.password.is_none() && p.bfd.is_none());
        let d = Config::parse(
            &format!("{HEAD}[bfd.profile.x]\n[[peer]]\naddress=\"192.0.2.1\"\nasn=1\nbfd=\"x\"\n"),
            "t.toml",
        )
        .unwrap();
        assert_eq!(d.bfd_profiles["x"], BfdProfile::default());
    }

    #[test]
    fn toml_syntax_error_has_position() {
        let e = one("[speaker]\nasn = \n");
        assert!(e.starts_with("t.toml:2:7: "), "{e}");
    }

    #[test]
    fn unknown_key_is_an_error_with_position_and_hint() {
        let e = one(&peer("hold = 3"));
        assert!(
            e.starts_with("t.toml:7:1: unknown field `hold`, expected one of"),
            "{e}"
        );
        assert!(
            e.ends_with(
                "hint: remove the key or fix its spelling; the keys allowed here are listed"
            ),
            "{e}"
        );
        let e = one(&format!("{HEAD}colour = 1\n"));
        assert!(e.starts_with("t.toml:4:1: unknown field `colour`"), "{e}");
    }

    #[test]
    fn missing_key() {
        let e = one("[speaker]\nasn = 1\n");
        assert!(e.contains("missing field `router_id`"), "{e}");
        assert!(e.ends_with("hint: add the key; it has no default"), "{e}");
    }

    #[test]
    fn wrong_type() {
        let e = one(&peer("port = \"179\""));
        assert!(
            e.starts_with("t.toml:7:8: invalid type: string \"179\""),
            "{e}"
        );
    }

    #[test]
    fn asn_range() {
        assert_eq!(
            one("[speaker]\nasn = 0\nrouter_id = \"192.0.2.11\"\n"),
            "t.toml:2:7: AS number 0 out of range 1..=4294967295\n  hint: AS 0 is reserved (RFC 7607); private ASNs are 64512-65534"
        );
        assert_eq!(
            one(&format!(
                "{HEAD}[[peer]]\naddress = \"192.0.2.1\"\nasn = 4294967296\n"
            )),
            "t.toml:6:7: AS number 4294967296 out of range 1..=4294967295\n  hint: AS 0 is reserved (RFC 7607); private ASNs are 64512-65534"
        );
        assert!(
            Config::parse(
                &format!("{HEAD}[[peer]]\naddress = \"192.0.2.1\"\nasn = 4294967295\n"),
                "t"
            )
            .is_ok()
        );
    }

    #[test]
    fn router_id() {
        assert_eq!(
            one("[speaker]\nasn = 1\nrouter_id = \"0.0.0.0\"\n"),
            "t.toml:3:13: router_id: \"0.0.0.0\" is not a non-zero IPv4 address\n  hint: the BGP identifier is written as an IPv4 address (RFC 6286), e.g. \"192.0.2.11\""
        );
        assert!(
            one("[speaker]\nasn = 1\nrouter_id = \"2001:db8::1\"\n")
                .starts_with("t.toml:3:13: router_id: \"2001:db8::1\" is not")
        );
    }

    #[test]
    fn hold_time_and_keepalive() {
        assert_eq!(
            one(&peer("hold_time = 2")),
            "t.toml:7:13: hold_time 2: must be 0 or 3..=65535 seconds\n  hint: RFC 4271 §4.2: zero (no keepalives) or at least three seconds"
        );
        assert!(
            one(&peer("hold_time = 65536")).starts_with("t.toml:7:13: hold_time 65536: must be")
        );
        assert!(Config::parse(&peer("hold_time = 0"), "t").is_ok());
        assert!(Config::parse(&peer("hold_time = 3"), "t").is_ok());
        assert_eq!(
            one(&peer("hold_time = 9\nkeepalive = 9")),
            "t.toml:8:13: keepalive 9 must be less than hold_time 9\n  hint: a third of the hold time is usual (the default)"
        );
        assert_eq!(
            one(&peer("hold_time = 0\nkeepalive = 5")),
            "t.toml:8:13: keepalive 5 with hold_time 0: must be 0 or left out\n  hint: hold_time 0 means no keepalives (RFC 4271 §4.4)"
        );
    }

    #[test]
    fn bad_addresses() {
        let hint = "\n  hint: an IPv4 or IPv6 address without port or prefix length, e.g. 192.0.2.1 or 2001:db8::1";
        assert_eq!(
            one(&format!(
                "{HEAD}[[peer]]\naddress = \"192.0.2.1/32\"\nasn = 1\n"
            )),
            format!("t.toml:5:11: address: invalid IP address \"192.0.2.1/32\"{hint}")
        );
        assert_eq!(
            one(&peer("source = \"192.0.2.300\"")),
            format!("t.toml:7:10: source: invalid IP address \"192.0.2.300\"{hint}")
        );
        assert_eq!(
            one(&peer("source = \"2001:db8::11\"")),
            "t.toml:7:10: source 2001:db8::11 and address 192.0.2.1 are not of the same IP version"
        );
        assert_eq!(
            one("[speaker]\nasn = 1\nrouter_id = \"192.0.2.11\"\nlisten = [\"0.0.0.0\"]\n"),
            "t.toml:4:11: listen: invalid socket address \"0.0.0.0\"\n  hint: address and port, e.g. \"0.0.0.0:179\" or \"[::]:179\""
        );
        assert_eq!(
            one(&peer("port = 0")),
            "t.toml:7:8: port 0 out of range 1..=65535"
        );
    }

    #[test]
    fn duplicate_peers() {
        let text = format!(
            "{HEAD}[[peer]]\naddress = \"192.0.2.1\"\nasn = 1\nname = \"a\"\n[[peer]]\naddress = \"192.0.2.1\"\nasn = 2\nname = \"a\"\n"
        );
        assert_eq!(
            errors(&text),
            vec![
                "t.toml:9:11: duplicate peer address 192.0.2.1 (first defined on line 5)\n  hint: each [[peer]] needs its own address".to_string(),
                "t.toml:11:8: duplicate peer name \"a\" (first used on line 7)".to_string(),
            ]
        );
    }

    #[test]
    fn bfd_profiles() {
        assert_eq!(
            one(&peer("bfd = \"fast\"")),
            "t.toml:7:7: unknown bfd profile \"fast\"\n  hint: no [bfd.profile.NAME] table is defined"
        );
        let text = format!(
            "{HEAD}[bfd.profile.slow]\n[bfd.profile.medium]\n[[peer]]\naddress = \"192.0.2.1\"\nasn = 1\nbfd = \"fast\"\n"
        );
        assert_eq!(
            one(&text),
            "t.toml:9:7: unknown bfd profile \"fast\"\n  hint: defined profiles: \"medium\", \"slow\""
        );
        let text = format!("{HEAD}[bfd.profile.x]\nreceive_interval = 5\ndetect_multiplier = 1\n");
        assert_eq!(
            errors(&text),
            vec![
                "t.toml:5:20: receive_interval 5 ms out of range 10..=60000".to_string(),
                "t.toml:6:21: detect_multiplier 1 out of range 2..=255".to_string(),
            ]
        );
        let e = one(&format!("{HEAD}[bfd.profile.x]\ninterval = 5\n"));
        assert!(e.starts_with("t.toml:5:1: unknown field `interval`"), "{e}");
    }

    #[test]
    fn families() {
        assert_eq!(
            one(&peer("families = [\"ipv4-unicast\", \"ipv4-flowspec\"]")),
            "t.toml:7:29: unknown address family \"ipv4-flowspec\"\n  hint: known families: \"ipv4-unicast\", \"ipv6-unicast\""
        );
        assert_eq!(
            one(&peer("families = []")),
            "t.toml:7:12: families must not be empty\n  hint: leave the key out for the default [\"ipv4-unicast\"]"
        );
        assert_eq!(
            one(&peer("families = [\"ipv6-unicast\", \"ipv6-unicast\"]")),
            "t.toml:7:29: family \"ipv6-unicast\" listed twice"
        );
    }

    #[test]
    fn multihop_and_gtsm() {
        assert_eq!(
            one(&peer("ttl_security = true\nebgp_multihop = 2")),
            "t.toml:8:17: ebgp_multihop and ttl_security cannot both be set\n  hint: GTSM (ttl_security) already sends with TTL 255; remove one of them"
        );
        assert_eq!(
            one(&format!(
                "{HEAD}[[peer]]\naddress = \"192.0.2.1\"\nasn = 64511\nebgp_multihop = 2\n"
            )),
            "t.toml:7:17: ebgp_multihop on an iBGP peer (same AS as [speaker])\n  hint: iBGP sessions are sent with TTL 255 already"
        );
        assert_eq!(
            one(&peer("ebgp_multihop = 0")),
            "t.toml:7:17: ebgp_multihop 0 out of range 1..=255"
        );
    }

    #[test]
    fn password_length() {
        let long = "x".repeat(81);
        assert_eq!(
            one(&peer(&format!("password = \"{long}\""))),
            "t.toml:7:12: password is 81 bytes: must be 1..=80\n  hint: Linux TCP-MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN)"
        );
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_col("é\nab", 5), (2, 3));
        assert_eq!(line_col("aé", 3), (1, 3));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
