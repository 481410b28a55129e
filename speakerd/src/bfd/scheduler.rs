//! The logic of the BFD timer thread without sockets, threads or clocks: every session, one
//! deadline heap, demultiplexing of received packets and a transmit queue.
//!
//! Every input carries `now`, so tests drive a [`Scheduler`] on virtual time; the runtime
//! ([`super::BfdRuntime`]) feeds it the real clock, received datagrams and commands, sends what
//! [`Scheduler::poll_transmit`] returns and sleeps until [`Scheduler::next_deadline`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ::bfd::{
    ConfigError, Demux, DemuxError, Diagnostic, Event, PacketBuf, RxError, Session, SessionConfig,
    SplitMix64, State,
};
use tokio::sync::watch;

use super::BfdProfile;

/// Identifies a session inside one [`Scheduler`] (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// The state of one BFD session as published to its users (BGP) through a
/// `tokio::sync::watch` channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdStatus {
    /// bfd.SessionState.
    pub state: State,
    /// bfd.LocalDiag: why the session last changed state.
    pub diag: Diagnostic,
    /// Number of failures (Up → Down, not caused by the peer's AdminDown) seen so far, so a
    /// quick flap between two reads of the watch is never missed.
    pub down_count: u64,
    /// The last change to Down was the peer signalling AdminDown (RFC 5882 §3.2: not a
    /// failure of the path).
    pub peer_admin_down: bool,
}

impl Default for BfdStatus {
    fn default() -> Self {
        BfdStatus {
            state: State::Down,
            diag: Diagnostic::NONE,
            down_count: 0,
            peer_admin_down: false,
        }
    }
}

/// What a [`Scheduler`] session is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionParams {
    /// The peer's address.
    pub peer: IpAddr,
    /// Our address for this session; `None` accepts packets to any local address.
    pub local: Option<IpAddr>,
    /// Interface index the session is bound to (single hop): packets arriving on another
    /// interface are dropped.
    pub ifindex: Option<u32>,
    /// RFC 5883 multihop (UDP 4784, minimum TTL check) instead of RFC 5881 single hop.
    pub multihop: bool,
    /// Intervals, multiplier, passive role and multihop minimum TTL.
    pub profile: BfdProfile,
}

/// Addressing of one received datagram (from the socket and its control messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Source address and port.
    pub from: SocketAddr,
    /// Destination address (IP_PKTINFO / IPV6_PKTINFO); `None` if unknown.
    pub to: Option<IpAddr>,
    /// Interface the datagram arrived on, if known.
    pub ifindex: Option<u32>,
    /// Received TTL / hop limit; `None` if the control message was missing.
    pub ttl: Option<u8>,
    /// Arrived on the multihop port (4784) rather than the single-hop port (3784).
    pub multihop: bool,
}

/// One packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The session (its socket fixes the source address, port and interface).
    pub session: SessionId,
    /// The peer's address.
    pub to: IpAddr,
    /// The session's local address, if configured.
    pub local: Option<IpAddr>,
    /// Send to the multihop port rather than the single-hop port.
    pub multihop: bool,
    /// The instant the packet was scheduled for, when it came from the timer (for lateness
    /// measurements); `None` for packets sent in answer to input.
    pub due: Option<Instant>,
    /// The Control packet.
    pub packet: PacketBuf,
}

/// Why a received datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Dropped {
    /// Single hop with a TTL other than 255, or multihop below the session's minimum.
    #[error("TTL {0:?} not accepted")]
    Ttl(Option<u8>),
    /// Nonzero Your Discriminator selecting no session.
    #[error("unknown discriminator {0}")]
    UnknownDiscriminator(u32),
    /// Your Discriminator zero and no session for this peer and local address; or the
    /// session selected by discriminator has another peer, hop mode or interface.
    #[error("no session for this peer")]
    UnknownPeer,
    /// Fails a packet-level check of RFC 5880 §6.8.6.
    #[error("invalid packet: {0}")]
    Invalid(::bfd::DecodeError),
    /// The session rejected it (discriminator or authentication checks).
    #[error("rejected by the session: {0}")]
    Rejected(RxError),
}

/// Why [`Scheduler::add`] refused a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// The profile cannot make a session.
    #[error("invalid BFD profile: {0}")]
    Config(#[from] ConfigError),
    /// A session for this peer, local address and hop mode already exists.
    #[error("a BFD session to {0} with this local address already exists")]
    Duplicate(IpAddr),
}

/// Counters of a [`Scheduler`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams handed to [`Scheduler::on_packet`].
    pub received: u64,
    /// Accepted by a session.
    pub accepted: u64,
    /// Packets queued for transmission.
    pub transmitted: u64,
    /// Dropped for their TTL.
    pub dropped_ttl: u64,
    /// Dropped: no session (unknown discriminator or peer).
    pub dropped_unknown: u64,
    /// Dropped: not a valid Control packet.
    pub dropped_invalid: u64,
    /// Dropped by the session (discriminator mismatch, authentication).
    pub dropped_rejected: u64,
    /// Up → Down failures over all sessions.
    pub failures: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PeerKey {
    peer: IpAddr,
    local: Option<IpAddr>,
    multihop: bool,
}

#[derive(Debug)]
struct Entry {
    session: Session<SplitMix64>,
    params: SessionParams,
    status: watch::Sender<BfdStatus>,
    /// The deadline of this session's live heap entry (others are stale and skipped).
    armed: Option<Instant>,
    removing: bool,
}

/// All BFD sessions of one runtime, one deadline heap and the transmit queue.
#[derive(Debug)]
pub struct Scheduler {
    sessions: HashMap<SessionId, Entry>,
    heap: BinaryHeap<Reverse<(Instant, SessionId)>>,
    demux: Demux<SessionId, PeerKey>,
    /// Discriminators in use, including sessions still sending their AdminDown packets.
    discriminators: HashSet<u32>,
    /// Peer keys of sessions not being removed.
    keys: HashSet<PeerKey>,
    rng: SplitMix64,
    next_id: u64,
    tx: VecDeque<Transmit>,
    removed: Vec<SessionId>,
    counters: Counters,
}

impl Scheduler {
    /// An empty scheduler. `seed` drives local discriminators and every session's jitter:
    /// seed it from the OS in production, from a constant in tests.
    pub fn new(seed: u64) -> Scheduler {
        Scheduler {
            sessions: HashMap::new(),
            heap: BinaryHeap::new(),
            demux: Demux::new(),
            discriminators: HashSet::new(),
            keys: HashSet::new(),
            rng: SplitMix64::new(seed),
            next_id: 1,
            tx: VecDeque::new(),
            removed: Vec::new(),
            counters: Counters::default(),
        }
    }

    /// Adds a session (state Down; an active one sends its first packet at `now`). Returns its
    /// id and the receiver of its status.
    pub fn add(
        &mut self,
        now: Instant,
        params: SessionParams,
    ) -> Result<(SessionId, watch::Receiver<BfdStatus>), AddError> {
        let key = PeerKey {
            peer: params.peer,
            local: params.local,
            multihop: params.multihop,
        };
        if self.keys.contains(&key) {
            return Err(AddError::Duplicate(params.peer));
        }
        // RFC 5880 §6.8.1: bfd.LocalDiscr nonzero and unique among this system's sessions.
        let discr = loop {
            let d = self.rng.next_u64() as u32;
            if d != 0 && !self.discriminators.contains(&d) {
                break d;
            }
        };
        let cfg = SessionConfig {
            desired_min_tx: params.profile.transmit_interval,
            required_min_rx: params.profile.receive_interval,
            detect_mult: params.profile.detect_multiplier,
            passive: params.profile.passive,
            auth: None,
        };
        let session = Session::new(cfg, discr, now, SplitMix64::new(self.rng.next_u64()))?;
        let id = SessionId(self.next_id);
        self.next_id += 1;
        let (status, rx) = watch::channel(BfdStatus::default());
        self.discriminators.insert(discr);
        self.demux.insert(discr, key.clone(), id);
        self.keys.insert(key);
        self.sessions.insert(
            id,
            Entry {
                session,
                params,
                status,
                armed: None,
                removing: false,
            },
        );
        self.drive(id, now, None);
        Ok((id, rx))
    }

    /// Takes a session administratively down (RFC 5880 §6.8.16) and removes it once its
    /// AdminDown packets are sent; [`Scheduler::poll_removed`] then reports it. Unknown ids
    /// are ignored.
    pub fn remove(&mut self, now: Instant, id: SessionId) {
        let Some(e) = self.sessions.get_mut(&id) else {
            return;
        };
        if e.removing {
            return;
        }
        e.removing = true;
        e.session.admin_down(now);
        let key = PeerKey {
            peer: e.params.peer,
            local: e.params.local,
            multihop: e.params.multihop,
        };
        let discr = e.session.local_discr();
        // From now on nothing reaches it; its discriminator stays reserved until it is gone.
        self.demux.remove(discr, &key);
        self.keys.remove(&key);
        self.drive(id, now, None);
    }

    /// Takes every session administratively down: the queued transmissions then hold one
    /// AdminDown packet per session that may send.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.remove(now, id);
        }
    }

    /// Runs every session whose deadline is at or before `now`.
    pub fn on_timer(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(&Reverse((t, id))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            if let Some(e) = self.sessions.get_mut(&id) {
                if e.armed == Some(t) {
                    e.armed = None;
                    due.push((t, id));
                }
            }
        }
        // Sessions re-armed at or before `now` below run at the next call (no busy loop here).
        for (t, id) in due {
            if let Some(e) = self.sessions.get_mut(&id) {
                e.session.handle_timeout(now);
                self.drive(id, now, Some(t));
            }
        }
    }

    /// Processes one received datagram. `Ok` names the session that accepted it.
    pub fn on_packet(
        &mut self,
        now: Instant,
        rx: Received,
        bytes: &[u8],
    ) -> Result<SessionId, Dropped> {
        self.counters.received += 1;
        let r = self.deliver(now, rx, bytes);
        match r {
            Ok(_) => self.counters.accepted += 1,
            Err(Dropped::Ttl(_)) => self.counters.dropped_ttl += 1,
            Err(Dropped::UnknownDiscriminator(_) | Dropped::UnknownPeer) => {
                self.counters.dropped_unknown += 1
            }
            Err(Dropped::Invalid(_)) => self.counters.dropped_invalid += 1,
            Err(Dropped::Rejected(_)) => self.counters.dropped_rejected += 1,
        }
        r
    }

    fn deliver(&mut self, now: Instant, rx: Received, bytes: &[u8]) -> Result<SessionId, Dropped> {
        // RFC 5881 §5: single-hop packets MUST be received with TTL/Hop Limit 255.
        if !rx.multihop && rx.ttl != Some(255) {
            return Err(Dropped::Ttl(rx.ttl));
        }
        let mut key = PeerKey {
            peer: rx.from.ip(),
            local: rx.to,
            multihop: rx.multihop,
        };
        let id = match self.demux.lookup(&key, bytes) {
            Ok(id) => *id,
            Err(DemuxError::UnknownPeer) => {
                key.local = None;
                match self.demux.lookup(&key, bytes) {
                    Ok(id) => *id,
                    Err(e) => return Err(demux_drop(e)),
                }
            }
            Err(e) => return Err(demux_drop(e)),
        };
        let e = self.sessions.get_mut(&id).ok_or(Dropped::UnknownPeer)?;
        // RFC 5881 §4 / RFC 5883 §3: a session is bound to its peer address (and interface);
        // a packet selected by discriminator from elsewhere is not this session's.
        if e.params.peer != rx.from.ip()
            || e.params.multihop != rx.multihop
            || e.params
                .local
                .is_some_and(|l| rx.to.is_some_and(|t| t != l))
            || e.params
                .ifindex
                .is_some_and(|i| rx.ifindex.is_some_and(|r| r != i))
        {
            return Err(Dropped::UnknownPeer);
        }
        // RFC 5883 §5: multihop packets below the configured minimum TTL are dropped.
        if rx.multihop && rx.ttl.is_none_or(|t| t < e.params.profile.minimum_ttl) {
            return Err(Dropped::Ttl(rx.ttl));
        }
        e.session
            .handle_packet(now, bytes)
            .map_err(Dropped::Rejected)?;
        self.drive(id, now, None);
        Ok(id)
    }

    /// The earliest deadline of any session (drop stale heap entries on the way).
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((t, id))) = self.heap.peek() {
            if self.sessions.get(&id).is_some_and(|e| e.armed == Some(t)) {
                return Some(t);
            }
            self.heap.pop();
        }
        None
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.pop_front()
    }

    /// A session that finished its AdminDown after [`Scheduler::remove`] and is gone (its
    /// socket can be closed).
    pub fn poll_removed(&mut self) -> Option<SessionId> {
        self.removed.pop()
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Number of sessions (including those still sending AdminDown after removal).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether there is no session.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The session state machine, to inspect it.
    pub fn session(&self, id: SessionId) -> Option<&Session<SplitMix64>> {
        self.sessions.get(&id).map(|e| &e.session)
    }

    /// The parameters a session was added with.
    pub fn params(&self, id: SessionId) -> Option<&SessionParams> {
        self.sessions.get(&id).map(|e| &e.params)
    }

    /// Number of entries in the deadline heap (live and stale), to check it stays bounded.
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// After any input to a session: queue its packets, publish its state changes, re-arm
    /// its deadline, and finish a removal.
    fn drive(&mut self, id: SessionId, now: Instant, due: Option<Instant>) {
        let Some(e) = self.sessions.get_mut(&id) else {
            return;
        };
        while let Some(packet) = e.session.poll_transmit(now) {
            self.counters.transmitted += 1;
            self.tx.push_back(Transmit {
                session: id,
                to: e.params.peer,
                local: e.params.local,
                multihop: e.params.multihop,
                due,
                packet,
            });
        }
        while let Some(ev) = e.session.poll_event() {
            if let Event::StateChanged {
                to,
                diag,
                peer_admin_down,
                ..
            } = ev
            {
                let failure = ev.is_failure();
                if failure {
                    self.counters.failures += 1;
                }
                e.status.send_modify(|s| {
                    s.state = to;
                    s.diag = diag;
                    s.peer_admin_down = peer_admin_down;
                    if failure {
                        s.down_count += 1;
                    }
                });
            }
        }
        let deadline = e.session.poll_timeout();
        if e.removing && deadline.is_none() {
            let discr = e.session.local_discr();
            self.sessions.remove(&id);
            self.discriminators.remove(&discr);
            self.removed.push(id);
            return;
        }
        if deadline != e.armed {
            e.armed = deadline;
            if let Some(d) = deadline {
                self.heap.push(Reverse((d, id)));
            }
        }
        // Keep stale entries from piling up when deadlines move often (each re-arm pushes).
        if self.heap.len() > 4 * self.sessions.len() + 64 {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let live: Vec<Reverse<(Instant, SessionId)>> = self
            .sessions
            .iter()
            .filter_map(|(id, e)| e.armed.map(|t| Reverse((t, *id))))
            .collect();
        self.heap = BinaryHeap::from(live);
    }
}

fn demux_drop(e: DemuxError) -> Dropped {
    match e {
        DemuxError::Decode(d) => Dropped::Invalid(d),
        DemuxError::UnknownDiscriminator(d) => Dropped::UnknownDiscriminator(d),
        DemuxError::UnknownPeer => Dropped::UnknownPeer,
    }
}

/// The detection time a profile gives against a peer with the same profile (for logs).
pub fn detection_time(profile: &BfdProfile) -> Duration {
    profile
        .receive_interval
        .max(profile.transmit_interval)
        .saturating_mul(u32::from(profile.detect_multiplier))
}
