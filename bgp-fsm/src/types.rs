//! Identifiers, states, reasons, actions and counters.

use std::fmt;
use std::time::Instant;

use bgp_wire::{Bytes, Family, Notification, Update};

use crate::negotiated::Negotiated;

/// Identifies one TCP connection of a session.
///
/// Outbound ids are chosen by the session ([`Action::Connect`]); for an
/// inbound connection the runtime takes a fresh id from
/// [`Session::new_conn_id`](crate::Session::new_conn_id). Ids are never reused
/// by one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Who opened a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We connected to the peer.
    Outbound,
    /// The peer connected to us.
    Inbound,
}

/// Session state (RFC 4271 §8.2.2). With two connections (a collision in
/// progress) the session is in the most advanced state of either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Not started, or waiting for the automatic restart after an error; incoming
    /// connections are refused.
    Idle,
    /// Waiting for an outbound TCP connection to complete.
    Connect,
    /// Waiting for the peer to connect (passive, or between connect retries).
    Active,
    /// OPEN sent, waiting for the peer's OPEN.
    OpenSent,
    /// OPEN exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// Up: UPDATEs flow.
    Established,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        })
    }
}

/// Why the session changed state. New reasons may be added (match with a
/// wildcard arm, or use its `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// [`Session::handle_start`](crate::Session::handle_start).
    ManualStart,
    /// Automatic restart after the backoff delay (RFC 4271 AutomaticStart).
    AutomaticStart,
    /// The connect-retry timer fired: a new outbound connection is tried.
    ConnectRetry,
    /// The outbound connection failed (refused, unreachable).
    ConnectFailed,
    /// The outbound connection did not complete within the connect timeout.
    ConnectTimeout,
    /// A TCP connection came up; our OPEN was sent on it (or waits for
    /// DelayOpen).
    TcpEstablished(Direction),
    /// The DelayOpen time passed; our OPEN was sent.
    DelayOpenExpired,
    /// A valid OPEN was received; our KEEPALIVE was sent.
    OpenReceived,
    /// The peer's KEEPALIVE confirmed the OPEN.
    Established,
    /// A connection was closed by collision resolution (RFC 4271 §6.8), Cease/7.
    CollisionResolved,
    /// No KEEPALIVE/UPDATE within the hold time; NOTIFICATION 4/0 was sent.
    HoldTimerExpired,
    /// We found an error and sent this NOTIFICATION.
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION (its `Display` shows an RFC 9003
    /// shutdown communication).
    NotificationReceived(Notification),
    /// The peer closed the TCP connection (or it broke) without a NOTIFICATION.
    ConnectionClosed,
    /// BFD declared the path down; Cease/10 (RFC 9384) was sent. Also the
    /// reason of the move to Idle when [`Session::set_hold_down`](crate::Session::set_hold_down)
    /// holds a waiting session down.
    BfdDown,
    /// [`Session::handle_stop`](crate::Session::handle_stop): Cease/2 was sent
    /// when the OPEN exchange had started, with this RFC 9003 message.
    AdminStop(Option<String>),
    /// [`Session::handle_reset`](crate::Session::handle_reset): Cease/4 was
    /// sent with this RFC 9003 message; the session starts again shortly.
    AdminReset(Option<String>),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ManualStart => f.write_str("manual start"),
            Reason::AutomaticStart => f.write_str("automatic restart"),
            Reason::ConnectRetry => f.write_str("connect retry"),
            Reason::ConnectFailed => f.write_str("connection failed"),
            Reason::ConnectTimeout => f.write_str("connect timeout"),
            Reason::TcpEstablished(Direction::Outbound) => {
                f.write_str("outbound TCP connection up")
            }
            Reason::TcpEstablished(Direction::Inbound) => f.write_str("inbound TCP connection up"),
            Reason::DelayOpenExpired => f.write_str("delay-open time passed, OPEN sent"),
            Reason::OpenReceived => f.write_str("OPEN received"),
            Reason::Established => f.write_str("KEEPALIVE received"),
            Reason::CollisionResolved => f.write_str("connection collision resolved"),
            Reason::HoldTimerExpired => f.write_str("hold timer expired"),
            Reason::NotificationSent(n) => write!(f, "sent NOTIFICATION {n}"),
            Reason::NotificationReceived(n) => write!(f, "received NOTIFICATION {n}"),
            Reason::ConnectionClosed => f.write_str("connection closed by peer"),
            Reason::BfdDown => f.write_str("BFD down"),
            Reason::AdminStop(Some(m)) => write!(f, "administrative stop: {m:?}"),
            Reason::AdminStop(None) => f.write_str("administrative stop"),
            Reason::AdminReset(Some(m)) => write!(f, "administrative reset: {m:?}"),
            Reason::AdminReset(None) => f.write_str("administrative reset"),
        }
    }
}

/// What the runtime must do, or what it should know. Drain with
/// [`Session::poll_action`](crate::Session::poll_action) after every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer; report the outcome with
    /// `handle_connected(.., conn, Direction::Outbound)` or `handle_connect_failed`.
    Connect {
        /// The id of the new connection.
        conn: ConnId,
    },
    /// Write these bytes (one whole BGP message, or several) to the connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        bytes: Bytes,
    },
    /// Close the connection (after writing what was sent on it) and forget it.
    /// Also emitted for a connection the peer closed, or a connect attempt that
    /// is abandoned.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// The session state changed.
    StateChanged {
        /// Old state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// The session is Established with these parameters (emitted right after the
    /// `StateChanged` to Established). The rib sends its routes now.
    Established(Box<Negotiated>),
    /// An UPDATE from the peer, after RFC 7606 handling: with treat-as-withdraw,
    /// every announced NLRI has been moved to the withdrawn routes (traditional
    /// ones to `withdrawn`, MP_REACH ones to an MP_UNREACH_NLRI); discarded
    /// attributes are gone. `errors` lists what was found.
    Update(Box<Update>),
    /// The peer sent End-of-RIB for this family (RFC 4724 §2).
    EndOfRib(Family),
    /// The peer asked for a route refresh (RFC 2918; RFC 7313 subtypes): the rib
    /// resends its routes of `family` when `subtype` is 0.
    RouteRefresh {
        /// The family.
        family: Family,
        /// 0 request, 1 BoRR, 2 EoRR.
        subtype: u8,
    },
}

/// Why a message could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session is not Established.
    #[error("session not established")]
    NotEstablished,
    /// The peer did not announce the capability this needs (e.g. route refresh).
    #[error("capability not negotiated with the peer")]
    NotNegotiated,
    /// The bytes are not a sequence of whole UPDATE messages within the
    /// negotiated maximum length.
    #[error("not a sequence of whole UPDATE messages within the negotiated size")]
    Malformed,
}

/// Message counters per type and direction, and session history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// OPEN messages received.
    pub opens_in: u64,
    /// OPEN messages sent.
    pub opens_out: u64,
    /// UPDATE messages received.
    pub updates_in: u64,
    /// UPDATE messages sent.
    pub updates_out: u64,
    /// KEEPALIVE messages received.
    pub keepalives_in: u64,
    /// KEEPALIVE messages sent.
    pub keepalives_out: u64,
    /// NOTIFICATION messages received.
    pub notifications_in: u64,
    /// NOTIFICATION messages sent.
    pub notifications_out: u64,
    /// ROUTE-REFRESH messages received.
    pub route_refreshes_in: u64,
    /// ROUTE-REFRESH messages sent.
    pub route_refreshes_out: u64,
    /// UPDATEs handled as withdraw (RFC 7606 treat-as-withdraw).
    pub treat_as_withdraw: u64,
    /// Attributes discarded (RFC 7606 attribute discard).
    pub attributes_discarded: u64,
    /// Times the session reached Established.
    pub established_transitions: u64,
    /// Times an Established session went down.
    pub established_drops: u64,
    /// Outbound connection attempts.
    pub connect_attempts: u64,
    /// The last reason the session went down (to Idle or Active), if any.
    pub last_error: Option<Reason>,
    /// When the session last reached Established (uptime start), while it is.
    pub established_at: Option<Instant>,
}
