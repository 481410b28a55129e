//! One BFD session in asynchronous mode (RFC 5880 §6), as a sans-IO state machine.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::auth::{self, AuthConfig, AuthConfigError, AuthError, RcvSeq};
use crate::packet::{ControlPacket, DecodeError, Diagnostic, Flags, PacketBuf, State};
use crate::rng::{RandomSource, SplitMix64};

/// RFC 5880 §6.8.3: while not Up, bfd.DesiredMinTxInterval is at least one second.
pub const SLOW_TX_INTERVAL: Duration = Duration::from_secs(1);
const SLOW_TX_US: u32 = 1_000_000;

/// What a session is configured with. Intervals travel on the wire in whole microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// bfd.DesiredMinTxInterval while Up (raised to at least 1 s while not Up).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval (nonzero: this crate always wants to receive).
    pub required_min_rx: Duration,
    /// bfd.DetectMult (nonzero).
    pub detect_mult: u8,
    /// Passive role (RFC 5880 §6.1): send nothing until a packet from the peer arrives.
    pub passive: bool,
    /// Authentication to send and require; `None` for none.
    pub auth: Option<AuthConfig>,
}

impl Default for SessionConfig {
    /// 300 ms × 3, active, no authentication.
    fn default() -> Self {
        SessionConfig {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
            auth: None,
        }
    }
}

/// A [`SessionConfig`] (or discriminator, or interval change) that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The local discriminator must be nonzero (RFC 5880 §6.8.1).
    #[error("local discriminator must be nonzero")]
    ZeroLocalDiscriminator,
    /// Detect Mult must be nonzero (RFC 5880 §4.1).
    #[error("detect multiplier must be nonzero")]
    ZeroDetectMult,
    /// Desired Min TX must be nonzero (RFC 5880 §4.1: zero is reserved).
    #[error("desired min tx interval must be at least 1 µs")]
    ZeroDesiredMinTx,
    /// Required Min RX of zero (do not send to me) is not supported locally.
    #[error("required min rx interval must be at least 1 µs")]
    ZeroRequiredMinRx,
    /// An interval does not fit the 32-bit microsecond field.
    #[error("interval {0:?} does not fit in 32 bits of microseconds")]
    IntervalTooLarge(Duration),
    /// The authentication key is unusable.
    #[error("authentication: {0}")]
    Auth(#[from] AuthConfigError),
}

/// Why [`Session::handle_packet`] dropped a packet. A dropped packet changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RxError {
    /// A packet-level check of RFC 5880 §6.8.6 failed.
    #[error("invalid packet: {0}")]
    Decode(#[from] DecodeError),
    /// Your Discriminator is nonzero and is not this session's (§6.8.6).
    #[error("your discriminator {received} does not match local discriminator {local}")]
    DiscriminatorMismatch {
        /// Your Discriminator received.
        received: u32,
        /// This session's discriminator.
        local: u32,
    },
    /// A bit set but no authentication configured (§6.8.6).
    #[error("authentication present but not configured")]
    UnexpectedAuth,
    /// A bit clear but authentication configured (§6.8.6).
    #[error("authentication configured but missing from packet")]
    MissingAuth,
    /// Authentication failed (§6.7).
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
}

/// Something the owner of a session should know about; drained with [`Session::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// bfd.SessionState changed.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// bfd.LocalDiag after the change (the reason).
        diag: Diagnostic,
        /// The change was caused by the peer signalling AdminDown. RFC 5882 §3.2: this is not
        /// a path failure, so clients (BGP) should not tear down on it.
        peer_admin_down: bool,
    },
    /// A Poll Sequence finished: the peer acknowledged the advertised intervals, which are
    /// now fully in force (RFC 5880 §6.8.3).
    PollSequenceComplete,
}

impl Event {
    /// True for a transition out of Up that means the forwarding path failed: detection time
    /// expired or the peer signalled Down. False for AdminDown on either side (RFC 5882 §3.2).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Event::StateChanged {
                from: State::Up,
                to: State::Down,
                peer_admin_down: false,
                ..
            }
        )
    }
}

fn to_micros(d: Duration) -> Result<u32, ConfigError> {
    u32::try_from(d.as_micros()).map_err(|_| ConfigError::IntervalTooLarge(d))
}

fn micros(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

/// One BFD session (RFC 5880) in asynchronous mode. See the crate docs for the driving loop.
///
/// Echo and local Demand mode are not implemented: packets carry Required Min Echo RX 0 and a
/// clear D bit. A peer's Demand mode is honoured (§6.8.7).
#[derive(Debug)]
pub struct Session<R = SplitMix64> {
    rng: R,
    auth: Option<AuthConfig>,
    passive: bool,
    detect_mult: u8,
    /// Configured intervals, µs.
    cfg_tx: u32,
    cfg_rx: u32,
    local_discr: u32,
    state: State,
    diag: Diagnostic,
    remote_discr: u32,
    remote_state: State,
    remote_demand: bool,
    /// bfd.RemoteMinRxInterval, µs.
    remote_min_rx: u32,
    /// Last received Desired Min TX, µs (0: nothing received).
    remote_desired_tx: u32,
    /// Last received Detect Mult (0: nothing received).
    remote_detect_mult: u8,
    /// bfd.DesiredMinTxInterval / bfd.RequiredMinRxInterval: the values in our packets.
    adv_tx: u32,
    adv_rx: u32,
    /// The values in force: our transmit interval uses `tx_in_use`, the detection time
    /// `rx_in_use`; they lag `adv_*` during a Poll Sequence (§6.8.3).
    tx_in_use: u32,
    rx_in_use: u32,
    poll_active: bool,
    final_due: Option<Instant>,
    immediate_due: Option<Instant>,
    next_tx: Option<Instant>,
    last_tx: Option<Instant>,
    last_rx: Option<Instant>,
    detect_deadline: Option<Instant>,
    admin_down_until: Option<Instant>,
    xmit_seq: u32,
    rcv_seq: RcvSeq,
    rcv_seq_expiry: Option<Instant>,
    events: VecDeque<Event>,
}

impl<R: RandomSource> Session<R> {
    /// A new session in state Down. `local_discr` (bfd.LocalDiscr) is chosen by the caller,
    /// nonzero and unique among its sessions. An active session's first packet is due at `now`.
    pub fn new(
        config: SessionConfig,
        local_discr: u32,
        now: Instant,
        mut rng: R,
    ) -> Result<Self, ConfigError> {
        // RFC 5880 §6.8.1: bfd.LocalDiscr MUST be nonzero.
        if local_discr == 0 {
            return Err(ConfigError::ZeroLocalDiscriminator);
        }
        if config.detect_mult == 0 {
            return Err(ConfigError::ZeroDetectMult);
        }
        let (cfg_tx, cfg_rx) = check_intervals(config.desired_min_tx, config.required_min_rx)?;
        if let Some(a) = &config.auth {
            a.validate()?;
        }
        // RFC 5880 §6.8.1: bfd.XmitAuthSeq is initialised to a random 32-bit value.
        let xmit_seq = rng.next_u32();
        let adv_tx = cfg_tx.max(SLOW_TX_US);
        Ok(Session {
            rng,
            auth: config.auth,
            passive: config.passive,
            detect_mult: config.detect_mult,
            cfg_tx,
            cfg_rx,
            local_discr,
            state: State::Down,
            diag: Diagnostic::NONE,
            remote_discr: 0,
            remote_state: State::Down,
            remote_demand: false,
            // RFC 5880 §6.8.1: bfd.RemoteMinRxInterval is initialised to 1.
            remote_min_rx: 1,
            remote_desired_tx: 0,
            remote_detect_mult: 0,
            adv_tx,
            adv_rx: cfg_rx,
            tx_in_use: adv_tx,
            rx_in_use: cfg_rx,
            poll_active: false,
            final_due: None,
            immediate_due: None,
            // RFC 5880 §6.8.7: a passive session sends nothing before hearing the peer.
            next_tx: if config.passive { None } else { Some(now) },
            last_tx: None,
            last_rx: None,
            detect_deadline: None,
            admin_down_until: None,
            xmit_seq,
            rcv_seq: RcvSeq::default(),
            rcv_seq_expiry: None,
            events: VecDeque::new(),
        })
    }

    // ----- inputs -------------------------------------------------------------------------

    /// Processes one received UDP payload (RFC 5880 §6.8.6). On `Err` the packet was dropped
    /// and the session is unchanged.
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8]) -> Result<(), RxError> {
        let pkt = ControlPacket::decode(bytes)?;
        // RFC 5880 §6.8.6: a nonzero Your Discriminator selects the session; no match, discard.
        if pkt.your_discr != 0 && pkt.your_discr != self.local_discr {
            return Err(RxError::DiscriminatorMismatch {
                received: pkt.your_discr,
                local: self.local_discr,
            });
        }
        let rcv = self.current_rcv_seq(now);
        let new_seq = match (&pkt.auth, &self.auth) {
            (None, None) => None,
            // RFC 5880 §6.8.6: A bit set and bfd.AuthType zero, discard.
            (Some(_), None) => return Err(RxError::UnexpectedAuth),
            // RFC 5880 §6.8.6: A bit clear and authentication in use, discard.
            (None, Some(_)) => return Err(RxError::MissingAuth),
            (Some(section), Some(cfg)) => {
                // RFC 5880 §6.8.6: A bit set, the packet MUST be authenticated per §6.7.
                let length = bytes.get(3).map_or(0, |l| usize::from(*l));
                let covered = bytes.get(..length).unwrap_or(bytes);
                auth::verify(cfg, section, covered, pkt.detect_mult, rcv)?
            }
        };
        // ----- accepted: from here on the packet changes the session -----
        if let Some(seq) = new_seq {
            // RFC 5880 §6.7.3: bfd.RcvAuthSeq = Sequence Number, bfd.AuthSeqKnown = 1.
            self.rcv_seq = RcvSeq { last: Some(seq) };
        } else {
            self.rcv_seq = rcv;
        }
        // RFC 5880 §6.8.6: record the remote's discriminator, state, demand bit and intervals.
        self.remote_discr = pkt.my_discr;
        self.remote_state = pkt.state;
        self.remote_demand = pkt.flags.contains(Flags::DEMAND);
        self.remote_min_rx = pkt.required_min_rx;
        self.remote_desired_tx = pkt.desired_min_tx;
        self.remote_detect_mult = pkt.detect_mult;
        // RFC 5880 §6.8.6: a packet not discarded counts as received for Detection Time.
        self.last_rx = Some(now);
        // RFC 5880 §6.8.6: the Final bit terminates a Poll Sequence in progress.
        if pkt.flags.contains(Flags::FINAL) && self.poll_active {
            self.finish_poll(now);
        }
        if self.state == State::AdminDown {
            // RFC 5880 §6.8.6: in AdminDown, discard (after the remote variables are updated).
            self.after_input(now);
            return Ok(());
        }
        match (self.state, pkt.state) {
            // RFC 5880 §6.8.6: received AdminDown: not Down -> Down, diag 3.
            (State::Down, State::AdminDown) => {}
            (_, State::AdminDown) => self.set_state(
                now,
                State::Down,
                Diagnostic::NEIGHBOR_SIGNALED_SESSION_DOWN,
                true,
            ),
            // RFC 5880 §6.8.6: Down + received Down -> Init; Down + received Init -> Up.
            (State::Down, State::Down) => self.set_state(now, State::Init, Diagnostic::NONE, false),
            (State::Down, State::Init) => self.set_state(now, State::Up, Diagnostic::NONE, false),
            // RFC 5880 §6.8.6: Init + received Init or Up -> Up.
            (State::Init, State::Init | State::Up) => {
                self.set_state(now, State::Up, Diagnostic::NONE, false)
            }
            // RFC 5880 §6.8.6: Up + received Down -> Down, diag 3.
            (State::Up, State::Down) => self.set_state(
                now,
                State::Down,
                Diagnostic::NEIGHBOR_SIGNALED_SESSION_DOWN,
                false,
            ),
            _ => {}
        }
        // RFC 5880 §6.8.6: a Poll is answered with Final at once, passive or not.
        if pkt.flags.contains(Flags::POLL) {
            self.final_due = Some(now);
        }
        self.after_input(now);
        Ok(())
    }

    /// Processes expired timers. Calling it early (or twice) does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detect_deadline.is_some_and(|d| now >= d) {
            self.detect_deadline = None;
            // RFC 5880 §6.8.1: bfd.RemoteDiscr is zeroed after a Detection Time of silence;
            // RFC 5880 §6.8.18: bfd.RemoteMinRxInterval goes back to 1, the rest with it.
            self.remote_discr = 0;
            self.remote_state = State::Down;
            self.remote_demand = false;
            self.remote_min_rx = 1;
            self.remote_desired_tx = 0;
            self.remote_detect_mult = 0;
            // RFC 5880 §6.8.4: Detection Time expired in Init or Up -> Down, diag 1.
            if matches!(self.state, State::Init | State::Up) {
                self.set_state(
                    now,
                    State::Down,
                    Diagnostic::CONTROL_DETECTION_TIME_EXPIRED,
                    false,
                );
            }
            self.reschedule(now);
        }
        if self.next_tx.is_some() && !self.periodic_allowed(now) {
            self.next_tx = None;
        }
    }

    /// Changes the configured intervals. While Up this starts a Poll Sequence, and an
    /// increased transmit interval or reduced receive interval is used only once the peer
    /// answers with Final (RFC 5880 §6.8.3). A change during a Poll Sequence is queued
    /// until that sequence ends.
    pub fn set_intervals(
        &mut self,
        now: Instant,
        desired_min_tx: Duration,
        required_min_rx: Duration,
    ) -> Result<(), ConfigError> {
        let (tx, rx) = check_intervals(desired_min_tx, required_min_rx)?;
        self.cfg_tx = tx;
        self.cfg_rx = rx;
        self.update_advertised(now);
        Ok(())
    }

    /// Takes the session administratively down (RFC 5880 §6.8.16): state AdminDown, diag 7,
    /// and AdminDown packets are sent for Detect Mult transmit intervals (at least the peer's
    /// Detection Time, as §6.8.16 asks), then transmission stops. Received packets are ignored until
    /// [`admin_up`](Self::admin_up).
    pub fn admin_down(&mut self, now: Instant) {
        if self.state == State::AdminDown {
            return;
        }
        self.set_state(
            now,
            State::AdminDown,
            Diagnostic::ADMINISTRATIVELY_DOWN,
            false,
        );
        let window = self
            .tx_interval()
            .checked_mul(u32::from(self.detect_mult))
            .unwrap_or(Duration::MAX);
        self.admin_down_until = Some(now.checked_add(window).unwrap_or(now));
        if self.next_tx.is_none() {
            self.next_tx = Some(now);
        }
        self.reschedule(now);
    }

    /// Re-enables an administratively down session: state Down, diag 0 (RFC 5880 §6.8.16).
    pub fn admin_up(&mut self, now: Instant) {
        if self.state != State::AdminDown {
            return;
        }
        self.admin_down_until = None;
        self.set_state(now, State::Down, Diagnostic::NONE, false);
        self.reschedule(now);
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next packet to send at `now`, if any. Call repeatedly until `None` after every
    /// input and timeout.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<PacketBuf> {
        if self.immediate_due.is_some() && !self.unsolicited_allowed() {
            self.immediate_due = None;
        }
        let periodic_due = self.next_tx.is_some_and(|t| now >= t) && self.periodic_allowed(now);
        if self.final_due.take().is_some() {
            // RFC 5880 §6.8.7: a Final is sent regardless of the transmit timer.
            let flags = Flags::FINAL;
            if self.immediate_due.take().is_some() {
                self.schedule_after_send(now);
            }
            return Some(self.build(flags));
        }
        if self.immediate_due.take().is_some() || periodic_due {
            // RFC 5880 §6.5: a Poll Sequence sets P on the scheduled transmissions.
            let flags = if self.poll_active {
                Flags::POLL
            } else {
                Flags::empty()
            };
            self.schedule_after_send(now);
            return Some(self.build(flags));
        }
        None
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) or
    /// [`poll_transmit`](Self::poll_transmit) has work: the next transmission or the detection
    /// deadline. May be in the past when a packet is already due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let immediate = self.immediate_due.filter(|_| self.unsolicited_allowed());
        [
            self.final_due,
            immediate,
            self.next_tx,
            self.detect_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- accessors ----------------------------------------------------------------------

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }

    /// bfd.RemoteSessionState.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    /// bfd.LocalDiag.
    pub fn local_diag(&self) -> Diagnostic {
        self.diag
    }

    /// bfd.LocalDiscr.
    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    /// bfd.RemoteDiscr (0 until the peer is heard, and again after a Detection Time of silence).
    pub fn remote_discr(&self) -> u32 {
        self.remote_discr
    }

    /// bfd.DetectMult.
    pub fn detect_mult(&self) -> u8 {
        self.detect_mult
    }

    /// Whether the session is passive (RFC 5880 §6.1).
    pub fn is_passive(&self) -> bool {
        self.passive
    }

    /// Whether a Poll Sequence is in progress.
    pub fn poll_in_progress(&self) -> bool {
        self.poll_active
    }

    /// bfd.DesiredMinTxInterval as advertised now (at least 1 s while not Up).
    pub fn desired_min_tx(&self) -> Duration {
        micros(self.adv_tx)
    }

    /// bfd.RequiredMinRxInterval as advertised now.
    pub fn required_min_rx(&self) -> Duration {
        micros(self.adv_rx)
    }

    /// bfd.RemoteMinRxInterval: the peer's last Required Min RX (1 µs before it is heard).
    pub fn remote_min_rx(&self) -> Duration {
        micros(self.remote_min_rx)
    }

    /// The peer's last Desired Min TX, once heard.
    pub fn remote_desired_min_tx(&self) -> Option<Duration> {
        (self.remote_detect_mult != 0).then(|| micros(self.remote_desired_tx))
    }

    /// The peer's last Detect Mult, once heard.
    pub fn remote_detect_mult(&self) -> Option<u8> {
        (self.remote_detect_mult != 0).then_some(self.remote_detect_mult)
    }

    /// The negotiated transmit interval before jitter (RFC 5880 §6.8.7): the greater of the
    /// transmit interval in force and bfd.RemoteMinRxInterval. Zero means the peer asked for no
    /// periodic packets.
    pub fn tx_interval(&self) -> Duration {
        if self.remote_min_rx == 0 {
            return Duration::ZERO;
        }
        micros(self.tx_in_use.max(self.remote_min_rx))
    }

    /// The Detection Time in force (RFC 5880 §6.8.4): the peer's Detect Mult times the greater
    /// of our Required Min RX in force and the peer's last Desired Min TX. `None` until the
    /// peer is heard (and after a Detection Time of silence).
    pub fn detection_time(&self) -> Option<Duration> {
        if self.remote_detect_mult == 0 {
            return None;
        }
        micros(self.rx_in_use.max(self.remote_desired_tx))
            .checked_mul(u32::from(self.remote_detect_mult))
    }

    /// When the session goes Down unless a packet arrives first (Init and Up), or when the
    /// remote variables are forgotten (other states).
    pub fn detection_deadline(&self) -> Option<Instant> {
        self.detect_deadline
    }

    /// When the last valid packet was received.
    pub fn last_received(&self) -> Option<Instant> {
        self.last_rx
    }

    // ----- internals ----------------------------------------------------------------------

    fn current_rcv_seq(&self, now: Instant) -> RcvSeq {
        // RFC 5880 §6.8.1: bfd.AuthSeqKnown is reset after twice the Detection Time of silence.
        if self.rcv_seq_expiry.is_some_and(|t| now >= t) {
            RcvSeq::default()
        } else {
            self.rcv_seq
        }
    }

    fn after_input(&mut self, now: Instant) {
        self.update_detect_deadline();
        self.rcv_seq_expiry = match (self.last_rx, self.detection_time()) {
            (Some(t), Some(d)) => d.checked_mul(2).and_then(|d2| t.checked_add(d2)),
            _ => None,
        };
        self.reschedule(now);
    }

    fn set_state(&mut self, now: Instant, to: State, diag: Diagnostic, peer_admin_down: bool) {
        let from = self.state;
        self.state = to;
        self.diag = diag;
        if from == State::Up && to != State::Up && self.poll_active {
            // Leaving Up abandons a Poll Sequence; the advertised values apply at once
            // (the deferrals of RFC 5880 §6.8.3 only hold while Up).
            self.poll_active = false;
            self.tx_in_use = self.adv_tx;
            self.rx_in_use = self.adv_rx;
        }
        self.events.push_back(Event::StateChanged {
            from,
            to,
            diag,
            peer_admin_down,
        });
        // Tell the peer at once rather than at the next periodic transmission.
        self.immediate_due = Some(now);
        self.update_advertised(now);
    }

    /// Moves the advertised intervals towards the configured ones (RFC 5880 §6.8.3).
    fn update_advertised(&mut self, now: Instant) {
        if self.poll_active {
            // Queued: applied when the current Poll Sequence ends.
            return;
        }
        let target_tx = if self.state == State::Up {
            self.cfg_tx
        } else {
            // RFC 5880 §6.8.3: not Up, bfd.DesiredMinTxInterval >= 1 s.
            self.cfg_tx.max(SLOW_TX_US)
        };
        let target_rx = self.cfg_rx;
        if (target_tx, target_rx) == (self.adv_tx, self.adv_rx) {
            return;
        }
        if self.state == State::Up {
            // RFC 5880 §6.8.3: a change of either interval starts a Poll Sequence.
            self.poll_active = true;
            // RFC 5880 §6.8.3: an increased DesiredMinTx is used only after the Poll ends.
            self.tx_in_use = self.tx_in_use.min(target_tx);
            // RFC 5880 §6.8.3: a reduced RequiredMinRx counts only after the Poll ends.
            self.rx_in_use = self.rx_in_use.max(target_rx);
        } else {
            self.tx_in_use = target_tx;
            self.rx_in_use = target_rx;
        }
        self.adv_tx = target_tx;
        self.adv_rx = target_rx;
        self.update_detect_deadline();
        self.reschedule(now);
    }

    fn finish_poll(&mut self, now: Instant) {
        self.poll_active = false;
        self.tx_in_use = self.adv_tx;
        self.rx_in_use = self.adv_rx;
        self.events.push_back(Event::PollSequenceComplete);
        // A change made during the sequence starts the next one.
        self.update_advertised(now);
        self.update_detect_deadline();
        self.reschedule(now);
    }

    fn update_detect_deadline(&mut self) {
        self.detect_deadline = match (self.last_rx, self.detection_time()) {
            (Some(t), Some(d)) => t.checked_add(d),
            _ => None,
        };
    }

    /// Packets outside the periodic schedule (state changes) obey the passive role and a
    /// zero bfd.RemoteMinRxInterval (RFC 5880 §6.8.7).
    fn unsolicited_allowed(&self) -> bool {
        !(self.passive && self.remote_discr == 0) && self.remote_min_rx != 0
    }

    fn periodic_allowed(&self, now: Instant) -> bool {
        // RFC 5880 §6.8.7: passive with bfd.RemoteDiscr zero, or RemoteMinRx zero: no packets.
        if !self.unsolicited_allowed() {
            return false;
        }
        // RFC 5880 §6.8.7: no periodic packets while the peer is in Demand mode, both Up, no Poll.
        if self.remote_demand
            && self.state == State::Up
            && self.remote_state == State::Up
            && !self.poll_active
        {
            return false;
        }
        // RFC 5880 §6.8.16: AdminDown packets for a while, then silence.
        if self.state == State::AdminDown {
            return self.admin_down_until.is_some_and(|t| now < t);
        }
        true
    }

    /// Keeps `next_tx` consistent with the rules and the current interval.
    fn reschedule(&mut self, now: Instant) {
        if !self.periodic_allowed(now) {
            self.next_tx = None;
            return;
        }
        let interval = self.tx_interval();
        match self.next_tx {
            None => self.next_tx = Some(now),
            Some(t) => {
                // RFC 5880 §6.8.3: a shorter interval is honoured at once, counted from the
                // previous transmission.
                if let Some(last) = self.last_tx {
                    if last.checked_add(interval).is_some_and(|limit| limit < t) {
                        let j = self.jittered(interval);
                        self.next_tx = Some(last.checked_add(j).unwrap_or(now).max(now));
                    }
                }
            }
        }
    }

    fn schedule_after_send(&mut self, now: Instant) {
        self.last_tx = Some(now);
        if !self.periodic_allowed(now) {
            self.next_tx = None;
            return;
        }
        let j = self.jittered(self.tx_interval());
        let next = now.checked_add(j);
        self.next_tx = match (self.state, self.admin_down_until, next) {
            (_, _, None) => None,
            (State::AdminDown, Some(until), Some(n)) if n >= until => None,
            (_, _, Some(n)) => Some(n),
        };
    }

    /// RFC 5880 §6.8.7: the interval reduced by 0-25 % (75-100 %); with Detect Mult 1 at most
    /// 90 % (75-90 %).
    fn jittered(&mut self, interval: Duration) -> Duration {
        const LOW: u64 = 750_000;
        let high: u64 = if self.detect_mult == 1 {
            900_000
        } else {
            1_000_000
        };
        let ppm = LOW + u64::from(self.rng.next_u32()) % (high - LOW + 1);
        let ns = interval.as_nanos().saturating_mul(u128::from(ppm)) / 1_000_000;
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    fn build(&mut self, flags: Flags) -> PacketBuf {
        let section = self.auth.as_ref().and_then(|cfg| {
            let seq = self.xmit_seq;
            auth::section_for(cfg, seq)
        });
        if section.is_some_and(|s| s.sequence().is_some()) {
            // RFC 5880 §6.7.3: meticulous MUST, keyed MAY increment per packet; we always do.
            self.xmit_seq = self.xmit_seq.wrapping_add(1);
        }
        let pkt = ControlPacket {
            diag: self.diag,
            state: self.state,
            flags,
            detect_mult: self.detect_mult,
            my_discr: self.local_discr,
            your_discr: self.remote_discr,
            desired_min_tx: self.adv_tx,
            required_min_rx: self.adv_rx,
            // Echo is not implemented: RFC 5880 §6.8.7 says send zero then.
            required_min_echo_rx: 0,
            auth: section,
        };
        let mut buf = pkt.encode();
        if let Some(cfg) = &self.auth {
            auth::sign(cfg, buf.as_mut_bytes());
        }
        buf
    }
}

fn check_intervals(tx: Duration, rx: Duration) -> Result<(u32, u32), ConfigError> {
    let tx_us = to_micros(tx)?;
    let rx_us = to_micros(rx)?;
    // RFC 5880 §4.1: Desired Min TX Interval zero is reserved.
    if tx_us == 0 {
        return Err(ConfigError::ZeroDesiredMinTx);
    }
    if rx_us == 0 {
        return Err(ConfigError::ZeroRequiredMinRx);
    }
    Ok((tx_us, rx_us))
}
