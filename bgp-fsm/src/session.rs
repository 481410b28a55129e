//! The session state machine.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bgp_wire::notification::{cease_subcode, code, fsm_subcode};
use bgp_wire::{
    AttributeValue, Bytes, DecodeContext, EncodeContext, ErrorAction, Family, Framer, HEADER_LEN,
    MARKER, MAX_MESSAGE_LEN, Message, MpUnreach, Notification, Open, PathAttribute, RouteRefresh,
    Update, message_type,
};

use crate::config::SessionConfig;
use crate::negotiated::{Negotiated, local_open, negotiate};
use crate::types::{Action, ConnId, Counters, Direction, Reason, SendError, State};

/// RFC 4271 §8.2.2: "a large value" for the hold timer in OpenSent; 4 minutes is suggested.
pub const OPEN_SENT_HOLD_TIME: Duration = Duration::from_secs(240);

/// The phase of one TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Connecting,
    /// TCP is up, our OPEN waits for the DelayOpen timer (RFC 4271 §8.1.1).
    Delayed,
    OpenSent,
    OpenConfirm,
    Established,
}

impl Phase {
    fn state(self, dir: Direction) -> State {
        match self {
            Phase::Connecting => State::Connect,
            // RFC 4271 §8.2.2: with the DelayOpenTimer running the FSM stays in Connect / Active.
            Phase::Delayed if dir == Direction::Outbound => State::Connect,
            Phase::Delayed => State::Active,
            Phase::OpenSent => State::OpenSent,
            Phase::OpenConfirm => State::OpenConfirm,
            Phase::Established => State::Established,
        }
    }
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    dir: Direction,
    phase: Phase,
    framer: Framer,
    decode_ctx: DecodeContext,
    encode_ctx: EncodeContext,
    negotiated: Option<Negotiated>,
    connect_deadline: Option<Instant>,
    delay_open_deadline: Option<Instant>,
    hold_deadline: Option<Instant>,
    keepalive_deadline: Option<Instant>,
}

impl Conn {
    fn new(id: ConnId, dir: Direction, phase: Phase) -> Conn {
        Conn {
            id,
            dir,
            phase,
            framer: Framer::new(MAX_MESSAGE_LEN),
            decode_ctx: DecodeContext::default(),
            encode_ctx: EncodeContext::default(),
            negotiated: None,
            connect_deadline: None,
            delay_open_deadline: None,
            hold_deadline: None,
            keepalive_deadline: None,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.connect_deadline,
            self.delay_open_deadline,
            self.hold_deadline,
            self.keepalive_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn hold(&self) -> Option<Duration> {
        self.negotiated
            .as_ref()
            .map(|n| Duration::from_secs(n.hold_time.into()))
            .filter(|d| !d.is_zero())
    }

    fn keepalive(&self) -> Option<Duration> {
        self.negotiated
            .as_ref()
            .map(|n| Duration::from_secs(n.keepalive_interval.into()))
            .filter(|d| !d.is_zero())
    }
}

/// How a connection ended, for what comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Down {
    /// An outbound connect failed or timed out: Active, retry after the backoff.
    Connect,
    /// An error after TCP came up: Idle, automatic restart after the backoff.
    Session,
}

/// One BGP session: a deterministic, sans-IO state machine (RFC 4271 §8).
///
/// Feed it events (`handle_*`, with the current time), then drain
/// [`Session::poll_action`] and sleep until [`Session::poll_timeout`]. See the
/// crate documentation for the contract.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    local_open: Open,
    local_open_bytes: Bytes,
    started: bool,
    hold_down: bool,
    conns: Vec<Conn>,
    state: State,
    next_conn: u64,
    retry_at: Option<Instant>,
    restart_at: Option<Instant>,
    backoff_next: Duration,
    actions: VecDeque<Action>,
    counters: Counters,
}

impl Session {
    /// A new session in Idle. Bad values are clamped (see
    /// [`SessionConfig::validate`]): hold time 1 or 2 becomes 3, no families
    /// becomes IPv4 unicast, a zero backoff or connect timeout becomes 1 ms. An
    /// extra capability that cannot be encoded is dropped.
    pub fn new(mut cfg: SessionConfig) -> Session {
        if cfg.hold_time == 1 || cfg.hold_time == 2 {
            cfg.hold_time = 3;
        }
        if cfg.families.is_empty() {
            cfg.families.push(Family::IPV4_UNICAST);
        }
        let ms = Duration::from_millis(1);
        cfg.connect_retry.initial = cfg.connect_retry.initial.max(ms);
        cfg.connect_retry.max = cfg.connect_retry.max.max(cfg.connect_retry.initial);
        cfg.connect_timeout = cfg.connect_timeout.max(ms);
        let ctx = EncodeContext::default();
        let mut open = local_open(&cfg);
        let bytes = match Message::Open(open.clone()).to_bytes(&ctx) {
            Ok(b) => b,
            Err(_) => {
                cfg.extra_capabilities.clear();
                open = local_open(&cfg);
                match Message::Open(open.clone()).to_bytes(&ctx) {
                    Ok(b) => b,
                    Err(_) => {
                        cfg.add_path.clear();
                        cfg.graceful_restart = None;
                        cfg.families.truncate(1);
                        open = local_open(&cfg);
                        Message::Open(open.clone())
                            .to_bytes(&ctx)
                            .unwrap_or_else(|_| Bytes::new())
                    }
                }
            }
        };
        Session {
            backoff_next: cfg.connect_retry.initial,
            cfg,
            local_open: open,
            local_open_bytes: bytes,
            started: false,
            hold_down: false,
            conns: Vec::new(),
            state: State::Idle,
            next_conn: 0,
            retry_at: None,
            restart_at: None,
            actions: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    /// The configuration in use (after clamping).
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The OPEN this session sends.
    pub fn local_open(&self) -> &Open {
        &self.local_open
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// What the OPEN exchange settled, once in OpenConfirm or Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.conns
            .iter()
            .filter(|c| c.phase >= Phase::OpenConfirm)
            .max_by_key(|c| c.phase)
            .and_then(|c| c.negotiated.as_ref())
    }

    /// The connection of the Established session, if any.
    pub fn established_conn(&self) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|c| c.phase == Phase::Established)
            .map(|c| c.id)
    }

    /// Counters and history.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// True between `handle_start` and `handle_stop` (including the automatic
    /// restart delays after errors).
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// True while [`Session::set_hold_down`] keeps the session from starting.
    pub fn is_held_down(&self) -> bool {
        self.hold_down
    }

    /// A fresh connection id, for an inbound connection (then call
    /// [`Session::handle_connected`] with [`Direction::Inbound`]).
    pub fn new_conn_id(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    /// The next action for the runtime, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest timer deadline: call [`Session::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns
            .iter()
            .filter_map(Conn::next_deadline)
            .chain(self.retry_at)
            .chain(self.restart_at)
            .min()
    }

    // ----- events -------------------------------------------------------------------

    /// ManualStart (RFC 4271 §8.1.2 event 1), or ManualStart with
    /// PassiveTcpEstablishment (event 4) when the configuration is passive.
    /// The backoff delay goes back to its initial value. A no-op when already
    /// started.
    pub fn handle_start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        self.backoff_next = self.cfg.connect_retry.initial;
        self.restart_at = None;
        self.retry_at = None;
        if self.hold_down || !self.conns.is_empty() {
            return;
        }
        self.auto_start(now, Reason::ManualStart);
    }

    /// ManualStop (event 2): every connection past the OPEN gets a NOTIFICATION
    /// Cease/2 Administrative Shutdown, with `message` as RFC 9003 shutdown
    /// communication (truncated to 255 bytes), and is closed; the session goes
    /// to Idle and stays there until the next [`Session::handle_start`].
    pub fn handle_stop(&mut self, now: Instant, message: Option<String>) {
        self.started = false;
        self.retry_at = None;
        self.restart_at = None;
        // RFC 4486 §4 / RFC 9003 §2: Administrative Shutdown, with the shutdown communication.
        let n = match &message {
            Some(m) => Notification::cease_with_message(cease_subcode::ADMINISTRATIVE_SHUTDOWN, m),
            None => Notification::new(
                code::CEASE,
                cease_subcode::ADMINISTRATIVE_SHUTDOWN,
                Bytes::new(),
            ),
        };
        let reason = Reason::AdminStop(message);
        let ids: Vec<ConnId> = self.conns.iter().map(|c| c.id).collect();
        let had = !ids.is_empty();
        for id in ids {
            if let Some(i) = self.idx(id) {
                if self.conns[i].phase >= Phase::OpenSent {
                    self.send_notification(i, &n);
                }
                self.drop_conn(now, i);
            }
        }
        if had || self.state != State::Idle {
            self.counters.last_error = Some(reason.clone());
        }
        self.set_state(reason);
    }

    /// Administrative reset ("clear bgp"): every connection past the OPEN gets
    /// NOTIFICATION Cease/4 Administrative Reset with `message` as RFC 9003
    /// shutdown communication and is closed; the session goes to Idle and, if
    /// it is started, starts again after the initial backoff delay (the
    /// backoff is reset). Use it after a configuration change that needs a new
    /// OPEN exchange (build a new [`Session`] for a new configuration).
    pub fn handle_reset(&mut self, now: Instant, message: Option<String>) {
        // RFC 4486 §4 / RFC 9003 §2: Administrative Reset, with the shutdown communication.
        let n = match &message {
            Some(m) => Notification::cease_with_message(cease_subcode::ADMINISTRATIVE_RESET, m),
            None => Notification::new(
                code::CEASE,
                cease_subcode::ADMINISTRATIVE_RESET,
                Bytes::new(),
            ),
        };
        let reason = Reason::AdminReset(message);
        let ids: Vec<ConnId> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            if let Some(i) = self.idx(id) {
                if self.conns[i].phase >= Phase::OpenSent {
                    self.send_notification(i, &n);
                }
                self.drop_conn(now, i);
            }
        }
        self.retry_at = None;
        self.backoff_next = self.cfg.connect_retry.initial;
        if self.started {
            self.restart_at = Some(now + self.next_delay());
        }
        self.counters.last_error = Some(reason.clone());
        self.set_state(reason);
    }

    /// A TCP connection is up: an outbound one we asked for with
    /// [`Action::Connect`], or an inbound one accepted from the peer (with an id
    /// from [`Session::new_conn_id`]). Our OPEN is sent on it, or it is refused
    /// (NOTIFICATION Cease, then [`Action::Close`]).
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId, dir: Direction) {
        match dir {
            Direction::Outbound => {
                let Some(i) = self.idx(conn) else {
                    // Not (or no longer) wanted: a connect we abandoned.
                    self.actions.push_back(Action::Close { conn });
                    return;
                };
                if self.conns[i].phase != Phase::Connecting
                    || self.conns[i].dir != Direction::Outbound
                {
                    return;
                }
                self.conns[i].connect_deadline = None;
                self.tcp_up(now, i);
                self.set_state(Reason::TcpEstablished(Direction::Outbound));
            }
            Direction::Inbound => {
                if self.idx(conn).is_some() {
                    return; // id already in use: a runtime bug; never close the existing one
                }
                if conn.0 > self.next_conn {
                    self.next_conn = conn.0;
                }
                // RFC 4271 §8.2.2: in Idle, incoming connections are refused.
                if !self.started || self.hold_down || self.restart_at.is_some() {
                    self.refuse(conn, cease_subcode::CONNECTION_REJECTED);
                    return;
                }
                // RFC 4271 §6.8: a connection collision with an Established session
                // closes the newly created connection.
                if self.conns.iter().any(|c| c.phase == Phase::Established) {
                    self.refuse(conn, cease_subcode::CONNECTION_COLLISION_RESOLUTION);
                    return;
                }
                // A peer has one outbound connection to us at a time: a new one
                // replaces the old (which it has abandoned).
                if let Some(i) = self.conns.iter().position(|c| c.dir == Direction::Inbound) {
                    let n = cease(cease_subcode::CONNECTION_COLLISION_RESOLUTION);
                    if self.conns[i].phase >= Phase::OpenSent {
                        self.send_notification(i, &n);
                    }
                    self.drop_conn(now, i);
                }
                self.retry_at = None;
                self.conns
                    .push(Conn::new(conn, Direction::Inbound, Phase::Connecting));
                let i = self.conns.len() - 1;
                self.tcp_up(now, i);
                self.set_state(Reason::TcpEstablished(Direction::Inbound));
            }
        }
    }

    /// The outbound connection `conn` could not be established (refused,
    /// unreachable...). The session retries after the backoff delay.
    pub fn handle_connect_failed(&mut self, now: Instant, conn: ConnId) {
        let Some(i) = self.idx(conn) else { return };
        if self.conns[i].phase != Phase::Connecting {
            // Treat like a close of an established connection.
            self.handle_closed(now, conn);
            return;
        }
        self.conns.remove(i);
        self.conn_gone(now, Down::Connect, Reason::ConnectFailed);
    }

    /// The peer closed `conn` (FIN or RST) or it broke. The session goes to Idle
    /// and restarts after the backoff delay (unless another connection remains).
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        let Some(i) = self.idx(conn) else { return };
        let connecting = self.conns[i].phase == Phase::Connecting;
        self.drop_conn(now, i);
        if connecting {
            self.conn_gone(now, Down::Connect, Reason::ConnectFailed);
        } else {
            self.conn_gone(now, Down::Session, Reason::ConnectionClosed);
        }
    }

    /// Bytes received on `conn`, in any chunking.
    pub fn handle_bytes(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        let Some(i) = self.idx(conn) else { return };
        if self.conns[i].phase == Phase::Connecting {
            return;
        }
        self.conns[i].framer.push(data);
        loop {
            let Some(i) = self.idx(conn) else { return };
            let frame = match self.conns[i].framer.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    // RFC 4271 §6.1: header errors → NOTIFICATION from the one mapping.
                    self.fail(now, i, e.notification());
                    return;
                }
            };
            match Message::decode(frame, &self.conns[i].decode_ctx) {
                Ok(m) => self.handle_message(now, i, m),
                Err(e) => {
                    // RFC 4271 §6 / RFC 7606 §2: errors returned by decoding are session resets.
                    self.fail(now, i, e.notification());
                    return;
                }
            }
        }
    }

    /// Fires every timer that is due at `now` (hold, keepalive, connect timeout,
    /// connect retry, automatic restart). Calling it early is a harmless no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<ConnId> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            let Some(i) = self.idx(id) else { continue };
            let c = &self.conns[i];
            if c.connect_deadline.is_some_and(|d| d <= now) {
                self.drop_conn(now, i);
                self.conn_gone(now, Down::Connect, Reason::ConnectTimeout);
                continue;
            }
            if c.delay_open_deadline.is_some_and(|d| d <= now) {
                // RFC 4271 §8.2.2: DelayOpenTimer expires → send the OPEN.
                self.send_open(now, i);
                self.set_state(Reason::DelayOpenExpired);
                continue;
            }
            if c.hold_deadline.is_some_and(|d| d <= now) {
                // RFC 4271 §6.5: Hold Timer Expired, NOTIFICATION code 4.
                let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Bytes::new());
                self.send_notification(i, &n);
                self.drop_conn(now, i);
                self.conn_gone(now, Down::Session, Reason::HoldTimerExpired);
                continue;
            }
            if c.keepalive_deadline.is_some_and(|d| d <= now) {
                // RFC 4271 §4.4: KEEPALIVEs keep the peer's hold timer from expiring.
                self.send_message(i, &Message::Keepalive);
                self.conns[i].keepalive_deadline = self.conns[i].keepalive().map(|k| now + k);
            }
        }
        if self.retry_at.is_some_and(|d| d <= now) {
            self.retry_at = None;
            if self.started && !self.hold_down && self.conns.is_empty() {
                self.connect(now);
                self.set_state(Reason::ConnectRetry);
            } else {
                self.set_state(Reason::ConnectRetry);
            }
        }
        if self.restart_at.is_some_and(|d| d <= now) {
            self.restart_at = None;
            if self.started && !self.hold_down && self.conns.is_empty() {
                self.auto_start(now, Reason::AutomaticStart);
            }
        }
    }

    /// BFD declared the path to the peer down (RFC 5882 §3.2): every connection
    /// past the OPEN gets NOTIFICATION Cease/10 "BFD Down" (RFC 9384) and is
    /// closed; the session goes to Idle and restarts after the backoff delay.
    /// To keep it down until BFD is up again, also call
    /// [`Session::set_hold_down`].
    pub fn handle_bfd_down(&mut self, now: Instant) {
        let n = cease(cease_subcode::BFD_DOWN);
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| c.phase >= Phase::OpenSent)
            .map(|c| c.id)
            .collect();
        if ids.is_empty() {
            return;
        }
        for id in ids {
            if let Some(i) = self.idx(id) {
                // RFC 9384 §3: Cease subcode 10 when BFD takes the session down.
                self.send_notification(i, &n);
                self.drop_conn(now, i);
            }
        }
        self.conn_gone(now, Down::Session, Reason::BfdDown);
    }

    /// Holds the session down (`true`): no connection is started or accepted
    /// (a pending connect is abandoned), the automatic restart waits;
    /// connections already up are kept (use
    /// [`Session::handle_bfd_down`] to tear them down). Releasing it (`false`)
    /// starts the session at once if it was waiting only for that
    /// (RFC 5882 §3.2: do not re-establish while BFD is down).
    pub fn set_hold_down(&mut self, now: Instant, hold_down: bool) {
        if self.hold_down == hold_down {
            return;
        }
        self.hold_down = hold_down;
        if hold_down {
            // RFC 5882 §3.2: no new session while BFD is down: pending connects are abandoned.
            while let Some(i) = self.conns.iter().position(|c| c.phase == Phase::Connecting) {
                self.drop_conn(now, i);
            }
            self.retry_at = None;
            self.set_state(Reason::BfdDown);
        } else if self.started
            && self.conns.is_empty()
            && self.restart_at.is_none()
            && self.retry_at.is_none()
        {
            self.auto_start(now, Reason::AutomaticStart);
        } else {
            self.set_state(Reason::AutomaticStart);
        }
    }

    /// Sends pre-encoded UPDATE message(s) (whole messages, as the rib packs
    /// them for [`Negotiated::encode_ctx`]). Restarts the keepalive timer
    /// (RFC 4271 §4.4: an UPDATE serves as a KEEPALIVE).
    pub fn send_update(&mut self, now: Instant, bytes: Bytes) -> Result<(), SendError> {
        let Some(i) = self
            .conns
            .iter()
            .position(|c| c.phase == Phase::Established)
        else {
            return Err(SendError::NotEstablished);
        };
        let max = self.conns[i].encode_ctx.max_message_len();
        let count = count_updates(&bytes, max).ok_or(SendError::Malformed)?;
        if count == 0 {
            return Ok(());
        }
        self.counters.updates_out += count;
        let c = &mut self.conns[i];
        c.keepalive_deadline = c.keepalive().map(|k| now + k);
        self.actions.push_back(Action::Send { conn: c.id, bytes });
        Ok(())
    }

    /// Sends a ROUTE-REFRESH for `family` (RFC 2918; `subtype` 1/2 = RFC 7313
    /// BoRR/EoRR). The peer must have announced the capability (enhanced route
    /// refresh for subtypes other than 0) and the family must be negotiated.
    pub fn send_route_refresh(
        &mut self,
        now: Instant,
        family: Family,
        subtype: u8,
    ) -> Result<(), SendError> {
        let Some(i) = self
            .conns
            .iter()
            .position(|c| c.phase == Phase::Established)
        else {
            return Err(SendError::NotEstablished);
        };
        let Some(n) = &self.conns[i].negotiated else {
            return Err(SendError::NotEstablished);
        };
        // RFC 2918 §3: only to a peer that announced the capability; RFC 7313 §3 for subtypes.
        let ok = n.route_refresh
            && n.families.contains(&family)
            && (subtype == RouteRefresh::NORMAL || n.enhanced_route_refresh);
        if !ok {
            return Err(SendError::NotNegotiated);
        }
        self.send_message(i, &Message::RouteRefresh(RouteRefresh { family, subtype }));
        let c = &mut self.conns[i];
        c.keepalive_deadline = c.keepalive().map(|k| now + k);
        Ok(())
    }

    // ----- internals ------------------------------------------------------------------

    fn idx(&self, id: ConnId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == id)
    }

    /// The state as the connections and timers say it is.
    fn derived_state(&self) -> State {
        if let Some(s) = self.conns.iter().map(|c| c.phase.state(c.dir)).max() {
            return s;
        }
        if !self.started || self.hold_down || self.restart_at.is_some() {
            State::Idle
        } else {
            State::Active
        }
    }

    fn set_state(&mut self, reason: Reason) {
        let to = self.derived_state();
        if to != self.state {
            let from = self.state;
            self.state = to;
            self.actions
                .push_back(Action::StateChanged { from, to, reason });
        }
    }

    fn next_delay(&mut self) -> Duration {
        let d = self.backoff_next;
        self.backoff_next = (d.saturating_mul(2)).min(self.cfg.connect_retry.max);
        d
    }

    /// Start (or restart) trying: connect, or wait for the peer when passive.
    fn auto_start(&mut self, now: Instant, reason: Reason) {
        if !self.cfg.passive {
            self.connect(now);
        }
        self.set_state(reason);
    }

    fn connect(&mut self, now: Instant) {
        let id = self.new_conn_id();
        let mut c = Conn::new(id, Direction::Outbound, Phase::Connecting);
        c.connect_deadline = Some(now + self.cfg.connect_timeout);
        self.conns.push(c);
        self.counters.connect_attempts += 1;
        self.actions.push_back(Action::Connect { conn: id });
    }

    /// Refuses a connection we never sent an OPEN on.
    fn refuse(&mut self, conn: ConnId, subcode: u8) {
        let n = cease(subcode);
        if let Ok(b) = Message::Notification(n).to_bytes(&EncodeContext::default()) {
            self.counters.notifications_out += 1;
            self.actions.push_back(Action::Send { conn, bytes: b });
        }
        self.actions.push_back(Action::Close { conn });
    }

    /// TCP is up on connection `i`: send the OPEN, or wait DelayOpen first.
    fn tcp_up(&mut self, now: Instant, i: usize) {
        match self.cfg.delay_open {
            Some(d) if !d.is_zero() => {
                let c = &mut self.conns[i];
                c.phase = Phase::Delayed;
                c.delay_open_deadline = Some(now + d);
            }
            _ => self.send_open(now, i),
        }
    }

    fn send_open(&mut self, now: Instant, i: usize) {
        let c = &mut self.conns[i];
        c.phase = Phase::OpenSent;
        c.delay_open_deadline = None;
        // RFC 4271 §8.2.2: in OpenSent the hold timer is set to a large value (4 minutes).
        c.hold_deadline = Some(now + OPEN_SENT_HOLD_TIME);
        self.counters.opens_out += 1;
        self.actions.push_back(Action::Send {
            conn: c.id,
            bytes: self.local_open_bytes.clone(),
        });
    }

    fn send_message(&mut self, i: usize, m: &Message) {
        let c = &self.conns[i];
        let Ok(bytes) = m.to_bytes(&c.encode_ctx) else {
            return;
        };
        match m {
            Message::Open(_) => self.counters.opens_out += 1,
            Message::Update(_) => self.counters.updates_out += 1,
            Message::Notification(_) => self.counters.notifications_out += 1,
            Message::Keepalive => self.counters.keepalives_out += 1,
            Message::RouteRefresh(_) => self.counters.route_refreshes_out += 1,
        }
        self.actions.push_back(Action::Send { conn: c.id, bytes });
    }

    fn send_notification(&mut self, i: usize, n: &Notification) {
        let mut n = n.clone();
        // The data is cut so the message fits the negotiated maximum.
        let room = self.conns[i].encode_ctx.max_message_len() - HEADER_LEN - 2;
        if n.data.len() > room {
            n.data.truncate(room);
        }
        self.send_message(i, &Message::Notification(n));
    }

    /// Removes connection `i` and tells the runtime to close it.
    fn drop_conn(&mut self, now: Instant, i: usize) {
        let c = self.conns.remove(i);
        if c.phase == Phase::Established {
            self.counters.established_drops += 1;
            if let Some(since) = self.counters.established_at.take() {
                // Backoff reset once the session stayed up long enough.
                if now.saturating_duration_since(since) >= self.cfg.connect_retry.reset_after {
                    self.backoff_next = self.cfg.connect_retry.initial;
                }
            }
        }
        self.actions.push_back(Action::Close { conn: c.id });
    }

    /// After a connection went away: if it was the last one, schedule what comes next.
    fn conn_gone(&mut self, now: Instant, down: Down, reason: Reason) {
        if self.conns.is_empty() && self.started {
            let d = self.next_delay();
            match down {
                Down::Connect if !self.cfg.passive => self.retry_at = Some(now + d),
                _ => self.restart_at = Some(now + d),
            }
            self.counters.last_error = Some(reason.clone());
        }
        self.set_state(reason);
    }

    /// Sends `n` on connection `i`, closes it, and goes down.
    fn fail(&mut self, now: Instant, i: usize, n: Notification) {
        self.send_notification(i, &n);
        self.drop_conn(now, i);
        self.conn_gone(now, Down::Session, Reason::NotificationSent(n));
    }

    fn fsm_error(&mut self, now: Instant, i: usize) {
        // RFC 6608 §4: the subcode says in which state the unexpected message came.
        let sub = match self.conns[i].phase {
            Phase::OpenSent => fsm_subcode::UNEXPECTED_IN_OPENSENT,
            Phase::OpenConfirm => fsm_subcode::UNEXPECTED_IN_OPENCONFIRM,
            Phase::Established => fsm_subcode::UNEXPECTED_IN_ESTABLISHED,
            Phase::Connecting | Phase::Delayed => fsm_subcode::UNSPECIFIED,
        };
        self.fail(now, i, Notification::new(code::FSM, sub, Bytes::new()));
    }

    fn handle_message(&mut self, now: Instant, i: usize, m: Message) {
        match &m {
            Message::Open(_) => self.counters.opens_in += 1,
            Message::Update(_) => self.counters.updates_in += 1,
            Message::Notification(_) => self.counters.notifications_in += 1,
            Message::Keepalive => self.counters.keepalives_in += 1,
            Message::RouteRefresh(_) => self.counters.route_refreshes_in += 1,
        }
        let phase = self.conns[i].phase;
        match (phase, m) {
            (_, Message::Notification(n)) => {
                // RFC 4271 §8.2.2: a NOTIFICATION closes the connection, no answer.
                self.drop_conn(now, i);
                self.conn_gone(now, Down::Session, Reason::NotificationReceived(n));
            }
            (Phase::OpenSent | Phase::Delayed, Message::Open(open)) => {
                self.handle_open(now, i, open)
            }
            (Phase::OpenConfirm, Message::Keepalive) => {
                let c = &mut self.conns[i];
                c.phase = Phase::Established;
                c.hold_deadline = c.hold().map(|h| now + h);
                let neg = c.negotiated.clone();
                self.counters.established_transitions += 1;
                self.counters.established_at = Some(now);
                self.set_state(Reason::Established);
                if let Some(neg) = neg {
                    self.actions.push_back(Action::Established(Box::new(neg)));
                }
            }
            (Phase::Established, Message::Keepalive) => {
                // RFC 4271 §8.2.2: KEEPALIVE restarts the hold timer.
                let c = &mut self.conns[i];
                c.hold_deadline = c.hold().map(|h| now + h);
            }
            (Phase::Established, Message::Update(u)) => {
                // RFC 4271 §8.2.2: UPDATE restarts the hold timer.
                let c = &mut self.conns[i];
                c.hold_deadline = c.hold().map(|h| now + h);
                self.deliver_update(u);
            }
            (Phase::Established, Message::RouteRefresh(rr)) => {
                let Some(n) = &self.conns[i].negotiated else {
                    return;
                };
                // RFC 2918 §4: ignore a family not negotiated; RFC 7313 §5: ignore unknown subtypes.
                if self.cfg.route_refresh && n.families.contains(&rr.family) && rr.subtype <= 2 {
                    self.actions.push_back(Action::RouteRefresh {
                        family: rr.family,
                        subtype: rr.subtype,
                    });
                }
            }
            // RFC 4271 §8.2.2 / RFC 6608: anything else is an FSM error.
            _ => self.fsm_error(now, i),
        }
    }

    fn handle_open(&mut self, now: Instant, i: usize, open: Open) {
        let neg = match negotiate(&self.cfg, &self.local_open, &open) {
            Ok(n) => n,
            Err(e) => {
                self.fail(now, i, e.notification());
                return;
            }
        };
        let id = self.conns[i].id;
        let dir = self.conns[i].dir;
        // RFC 4271 §6.8: connection collision detection against the other connection.
        if let Some(j) = self.conns.iter().position(|c| c.id != id) {
            match self.conns[j].phase {
                Phase::Connecting => {
                    // Our connect is still pending: abandon it, this one goes on.
                    self.drop_conn(now, j);
                }
                Phase::Delayed | Phase::OpenSent | Phase::OpenConfirm => {
                    // RFC 4271 §6.8: the connection initiated by the higher BGP
                    // Identifier is kept (RFC 6286 §2.3: equal identifiers → higher AS).
                    let local = (u32::from(self.cfg.router_id), self.cfg.local_asn);
                    let remote = (u32::from(open.bgp_id), neg.peer_asn);
                    let keep = if local > remote {
                        Direction::Outbound
                    } else {
                        Direction::Inbound
                    };
                    let n = cease(cease_subcode::CONNECTION_COLLISION_RESOLUTION);
                    if dir == keep {
                        if self.conns[j].phase >= Phase::OpenSent {
                            self.send_notification(j, &n);
                        }
                        self.drop_conn(now, j);
                    } else {
                        self.send_notification(i, &n);
                        self.drop_conn(now, i);
                        self.set_state(Reason::CollisionResolved);
                        return;
                    }
                }
                Phase::Established => {
                    let n = cease(cease_subcode::CONNECTION_COLLISION_RESOLUTION);
                    self.send_notification(i, &n);
                    self.drop_conn(now, i);
                    self.set_state(Reason::CollisionResolved);
                    return;
                }
            }
        }
        let Some(i) = self.idx(id) else { return };
        if self.conns[i].phase == Phase::Delayed {
            // RFC 4271 §8.2.2: OPEN received while DelayOpen runs → send ours, then KEEPALIVE.
            self.send_open(now, i);
        }
        let c = &mut self.conns[i];
        c.phase = Phase::OpenConfirm;
        c.decode_ctx = neg.decode_ctx();
        c.encode_ctx = neg.encode_ctx();
        c.framer.set_max_len(neg.max_message_len());
        c.negotiated = Some(neg);
        c.hold_deadline = c.hold().map(|h| now + h);
        c.keepalive_deadline = c.keepalive().map(|k| now + k);
        // RFC 4271 §8.2.2: a valid OPEN is answered with a KEEPALIVE.
        self.send_message(i, &Message::Keepalive);
        self.set_state(Reason::OpenReceived);
    }

    fn deliver_update(&mut self, mut u: Update) {
        // RFC 4724 §2: End-of-RIB marker.
        if let Some(f) = u.is_end_of_rib() {
            self.actions.push_back(Action::EndOfRib(f));
            return;
        }
        self.counters.attributes_discarded += u
            .errors
            .iter()
            .filter(|e| e.action == ErrorAction::AttributeDiscard)
            .count() as u64;
        let mut extra = None;
        if u.treat_as_withdraw() {
            // RFC 7606 §2: treat-as-withdraw: every NLRI is handled as withdrawn.
            self.counters.treat_as_withdraw += 1;
            let nlri = std::mem::take(&mut u.nlri);
            u.withdrawn.extend(nlri);
            let mut reach = None;
            let mut unreach: Option<MpUnreach> = None;
            for a in std::mem::take(&mut u.attributes) {
                match a.value {
                    AttributeValue::MpReach(r) => reach = Some(r),
                    AttributeValue::MpUnreach(w) => unreach = Some(w),
                    _ => {}
                }
            }
            if let Some(r) = reach {
                match &mut unreach {
                    Some(w) if w.family == r.family => w.withdrawn.extend(r.nlri),
                    Some(_) => {
                        extra = Some(Update {
                            attributes: vec![PathAttribute::new(AttributeValue::MpUnreach(
                                MpUnreach {
                                    family: r.family,
                                    withdrawn: r.nlri,
                                },
                            ))],
                            errors: u.errors.clone(),
                            ..Default::default()
                        })
                    }
                    None => {
                        unreach = Some(MpUnreach {
                            family: r.family,
                            withdrawn: r.nlri,
                        })
                    }
                }
            }
            if let Some(w) = unreach {
                u.attributes
                    .push(PathAttribute::new(AttributeValue::MpUnreach(w)));
            }
        }
        self.actions.push_back(Action::Update(Box::new(u)));
        if let Some(x) = extra {
            self.actions.push_back(Action::Update(Box::new(x)));
        }
    }
}

fn cease(subcode: u8) -> Notification {
    Notification::new(code::CEASE, subcode, Bytes::new())
}

/// Counts the UPDATE messages in `b`, `None` unless it is a sequence of whole
/// UPDATEs each within `max` bytes.
fn count_updates(b: &[u8], max: usize) -> Option<u64> {
    let mut n = 0;
    let mut rest = b;
    while !rest.is_empty() {
        let hdr = rest.get(..HEADER_LEN)?;
        if hdr[..16] != MARKER || hdr[18] != message_type::UPDATE {
            return None;
        }
        let len = u16::from_be_bytes([hdr[16], hdr[17]]) as usize;
        if !(23..=max).contains(&len) || len > rest.len() {
            return None;
        }
        rest = &rest[len..];
        n += 1;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_is_send_and_sync() {
        fn is_send<T: Send + Sync>() {}
        is_send::<super::Session>();
    }

    #[test]
    fn count_updates_walks_whole_messages() {
        let mut m = vec![0xffu8; 16];
        m.extend_from_slice(&[0, 23, 2, 0, 0, 0, 0]);
        let two = [m.clone(), m.clone()].concat();
        assert_eq!(super::count_updates(&two, 4096), Some(2));
        assert_eq!(super::count_updates(&two[..30], 4096), None);
        assert_eq!(super::count_updates(&[], 4096), Some(0));
        let mut ka = m.clone();
        ka[18] = 4;
        assert_eq!(super::count_updates(&ka, 4096), None);
    }
}
