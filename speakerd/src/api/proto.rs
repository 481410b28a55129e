//! The shapes of the local API: requests, responses and events, as serde types.
//!
//! One request per line, one response per line (newline-delimited JSON). A request is an
//! object with a `"request"` member naming it; a response is `{"result": …}` or
//! `{"error": {"code": …, "message": …}}`. After a successful `watch`, the server writes
//! `{"event": …}` lines until the client disconnects. `docs/API.md` shows every shape.

use serde::{Deserialize, Serialize};

/// The protocol version, reported by `version`.
pub const API_VERSION: u32 = 1;

/// The default socket path of the daemon and of `speakerctl`.
pub const DEFAULT_SOCKET: &str = "/run/speakerd/speakerd.sock";

/// The longest request line accepted (bytes, newline excluded): 256 MiB, about two
/// million routes with a few attributes each.
pub const MAX_LINE: usize = 256 << 20;

/// One route as a client gives it (`announce`, `set`) and as `routes` reports the desired
/// set. Only `prefix` is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// `203.0.113.10/32`, `2001:db8::/48`; a bare address is a host route.
    pub prefix: String,
    /// Next hop to advertise (default: our own address on each session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<String>,
    /// `igp` (default), `egp` or `incomplete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Communities in the `[[announce]]` grammar: `64511:100`, a well-known name
    /// (`no-export`, `no-advertise`, `no-export-subconfed`, `nopeer`, `blackhole`,
    /// `graceful-shutdown`), `large:64511:1:2`, `rt:64511:100`, `soo:192.0.2.1:7`,
    /// `ext:0002fbff00000064`. Reported back as standard ones and `ext:HEX`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// Large communities: `64511:1:2`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub large_communities: Vec<String>,
    /// LOCAL_PREF (iBGP peers only; 100 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,
    /// Extra copies of our AS in front of the AS_PATH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_path_prepend: Option<u8>,
    /// Only these peers (names) get the route; all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
}

impl RouteSpec {
    /// A route for `prefix` with every default.
    pub fn new(prefix: impl Into<String>) -> RouteSpec {
        RouteSpec {
            prefix: prefix.into(),
            ..RouteSpec::default()
        }
    }
}

/// A request, as a client writes it (the server parses requests field by field so that
/// errors name the field; this type is what clients serialize).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Announce routes (added to, or replacing the same prefix in, the API's set).
    Announce {
        /// The routes.
        routes: Vec<RouteSpec>,
    },
    /// Withdraw prefixes from the API's set.
    Withdraw {
        /// The prefixes.
        prefixes: Vec<String>,
    },
    /// Replace the API's whole set atomically.
    Set {
        /// The new set.
        routes: Vec<RouteSpec>,
    },
    /// The desired routes, what each peer was sent and, with `received`, what peers that
    /// keep them sent us.
    Routes {
        /// Only this peer (name or address).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
        /// Include the received routes.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        received: bool,
    },
    /// Every peer's state and counters.
    Peers,
    /// Stream events from now on.
    Watch,
    /// Reload the configuration file.
    Reload,
    /// The daemon and protocol version.
    Version,
}

/// A response line: exactly one of `result` or `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Success; the shape depends on the request.
    Result(serde_json::Value),
    /// Failure; nothing was changed.
    Error(ApiError),
}

/// Error codes.
pub mod code {
    /// The line is not JSON, or not a JSON object.
    pub const PARSE: &str = "parse";
    /// No `request` member, or an unknown one.
    pub const UNKNOWN_REQUEST: &str = "unknown_request";
    /// A member is missing, has the wrong type or an invalid value (`field` says which).
    pub const INVALID_ARGUMENT: &str = "invalid_argument";
    /// The request line is longer than [`MAX_LINE`](super::MAX_LINE).
    pub const TOO_LARGE: &str = "too_large";
    /// The daemon cannot do this (yet).
    pub const NOT_IMPLEMENTED: &str = "not_implemented";
    /// `reload`: the configuration file has errors (the message lists them with
    /// file:line:col); the running configuration is kept.
    pub const INVALID_CONFIG: &str = "invalid_config";
    /// The daemon failed to carry out a valid request.
    pub const INTERNAL: &str = "internal";
}

/// An error: a stable `code`, a human `message`, and the offending `field` when one is to
/// blame (`routes[3].prefix`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// One of [`code`].
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// The JSON path of the offending member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.to_string(),
            message: message.into(),
            field: None,
        }
    }

    /// An `invalid_argument` error about `field`.
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> ApiError {
        let field = field.into();
        ApiError {
            code: code::INVALID_ARGUMENT.to_string(),
            message: format!("{field}: {message}"),
            field: Some(field),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Result of `announce`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnounceResult {
    /// Routes in the request.
    pub announced: usize,
    /// Routes that changed the API's set (new, or different attributes).
    pub changed: usize,
}

/// Result of `withdraw`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawResult {
    /// Prefixes in the request.
    pub withdrawn: usize,
    /// Prefixes the API's set had.
    pub changed: usize,
}

/// Result of `set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetResult {
    /// Routes in the new set.
    pub routes: usize,
    /// Entries that changed (added, modified or withdrawn).
    pub changed: usize,
}

/// A route as sent to or received from a peer, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    /// The prefix.
    pub prefix: String,
    /// NEXT_HOP, or MP_REACH_NLRI's next hop (`global` or `global,link-local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<String>,
    /// ORIGIN: `igp`, `egp`, `incomplete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// AS_PATH as text (`64500 64501 {64502,64503}`); empty for iBGP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_path: Option<String>,
    /// MULTI_EXIT_DISC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,
    /// LOCAL_PREF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    /// Standard communities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// Extended communities, `ext:HEX` (8 octets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extended_communities: Vec<String>,
    /// Large communities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub large_communities: Vec<String>,
    /// Type codes of the other attributes present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_attributes: Vec<u8>,
}

/// The routes of one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRoutes {
    /// The peer's name.
    pub peer: String,
    /// Its routes, sorted by prefix.
    pub routes: Vec<RouteView>,
}

/// Result of `routes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutesResult {
    /// The effective desired routes (configuration and API), sorted by prefix.
    pub desired: Vec<RouteSpec>,
    /// What each Established peer was sent (Adj-RIB-Out).
    pub advertised: Vec<PeerRoutes>,
    /// What each peer with `keep_received = true` sent us (Adj-RIB-In); only when asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub received: Vec<PeerRoutes>,
}

/// What the OPEN exchange settled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegotiatedView {
    /// The peer's BGP identifier.
    pub router_id: String,
    /// Negotiated hold time, seconds.
    pub hold_time: u16,
    /// Our keepalive interval, seconds.
    pub keepalive: u16,
    /// Families both sides announced (`ipv4-unicast`...).
    pub families: Vec<String>,
    /// 4-octet AS numbers (RFC 6793).
    pub four_octet_as: bool,
    /// Extended messages (RFC 8654).
    pub extended_message: bool,
    /// The peer accepts ROUTE-REFRESH (RFC 2918).
    pub route_refresh: bool,
    /// Enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// The peer announced graceful restart (RFC 4724).
    pub graceful_restart: bool,
    /// ADD-PATH receive families (RFC 7911).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_path_receive: Vec<String>,
    /// ADD-PATH send families (RFC 7911).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_path_send: Vec<String>,
}

/// One peer, for `peers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// Configured name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Configured AS.
    pub asn: u32,
    /// Session state (`Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`,
    /// `Established`).
    pub state: String,
    /// Seconds since the session reached Established, while it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    /// Local address and port of the Established connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// Remote address and port of the Established connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// BFD session state (`AdminDown`, `Down`, `Init`, `Up`) for a peer with a profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<String>,
    /// Capabilities settled by the OPEN exchange, while Established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiated: Option<NegotiatedView>,
    /// Prefixes the peer has from us, while Established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes_sent: Option<usize>,
    /// Prefixes the peer sent us (only with `keep_received = true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes_received: Option<usize>,
    /// Why the session last went down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Message counters.
    pub counters: CountersView,
}

/// Message counters of one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CountersView {
    pub opens_in: u64,
    pub opens_out: u64,
    pub updates_in: u64,
    pub updates_out: u64,
    pub keepalives_in: u64,
    pub keepalives_out: u64,
    pub notifications_in: u64,
    pub notifications_out: u64,
    pub route_refreshes_in: u64,
    pub route_refreshes_out: u64,
    pub treat_as_withdraw: u64,
    pub attributes_discarded: u64,
    pub established_transitions: u64,
    pub established_drops: u64,
    pub connect_attempts: u64,
}

/// Result of `peers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersResult {
    /// Every peer, in configuration order.
    pub peers: Vec<PeerView>,
}

/// Result of `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionResult {
    /// `speakerd`.
    pub name: String,
    /// The daemon's version.
    pub version: String,
    /// [`API_VERSION`].
    pub api: u32,
}

/// Result of `reload`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadResult {
    /// A one-line summary.
    pub message: String,
    /// Peers started.
    #[serde(default)]
    pub added: Vec<String>,
    /// Peers stopped (removed from the configuration).
    #[serde(default)]
    pub removed: Vec<String>,
    /// Peers restarted with new settings.
    #[serde(default)]
    pub restarted: Vec<String>,
    /// Peers left running untouched.
    #[serde(default)]
    pub unchanged: Vec<String>,
    /// Prefixes of `[[announce]]` whose announcement changed.
    #[serde(default)]
    pub announce_changed: usize,
    /// Changed sections that need a restart of the daemon (`[speaker] listen`, `[api]`...).
    #[serde(default)]
    pub not_applied: Vec<String>,
}

/// Result of `watch` (events follow on the same connection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchResult {
    /// Always true.
    pub watching: bool,
}

/// An event line: `{"event": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// The event.
    pub event: Event,
}

/// Something that happened, streamed after `watch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A BGP session changed state.
    State {
        /// Peer name.
        peer: String,
        /// Peer address.
        address: String,
        /// Old state.
        from: String,
        /// New state.
        to: String,
        /// Why.
        reason: String,
    },
    /// A peer's BFD session changed state.
    Bfd {
        /// Peer name.
        peer: String,
        /// Peer address.
        address: String,
        /// Old state (absent at the first report).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// New state.
        to: String,
    },
    /// An UPDATE from a peer with `keep_received = true`.
    Update {
        /// Peer name.
        peer: String,
        /// Peer address.
        address: String,
        /// Routes announced (with their attributes).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        announced: Vec<RouteView>,
        /// Prefixes withdrawn (including treat-as-withdraw, RFC 7606).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        withdrawn: Vec<String>,
    },
    /// A peer with `keep_received = true` sent End-of-RIB (RFC 4724).
    EndOfRib {
        /// Peer name.
        peer: String,
        /// The family (`ipv4-unicast`...).
        family: String,
    },
    /// The watcher fell behind and `missed` events were dropped.
    Lagged {
        /// Events lost.
        missed: u64,
    },
}
