//! The session driver: one tokio task per peer around a [`bgp_fsm::Session`].
//!
//! The task owns the session, performs its actions (connect, send, close), feeds it the bytes
//! read, the connection events, BFD status changes and its timeouts, and publishes the
//! session's state on a `watch` channel and its events on a `broadcast` channel.
//!
//! Each connection has a reader task (bytes → driver, through a bounded channel: a slow
//! driver slows the reading, never the other way round) and a writer task (driver → socket,
//! through an unbounded queue whose size in bytes is tracked: new UPDATEs from the rib are
//! taken only while it is below [`HIGH_WATER`]). A write that makes no progress for the hold
//! time closes the connection, so a peer that stops reading cannot block the session.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bgp_fsm::bgp_wire::{Family, Update};
use bgp_fsm::{Action, ConnId, Counters, Direction, Negotiated, Reason, SendError, Session, State};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use super::bfd_link::{BfdLink, BfdTracker, BfdVerdict};
use super::export::{ExportLink, Outgoing};
use super::socket::{self, SocketOpts};
use crate::bfd::BfdStatus;
use crate::clock::Clock;
use crate::config::PeerConfig;

/// Bytes queued for writing above which the driver stops taking UPDATEs from
/// [`PeerHandle::send_update`] until the writer catches up.
pub const HIGH_WATER: usize = 4 << 20;

/// The longest a session is held down after a BFD failure while BFD stays down. A peer that
/// runs BFD only while the BGP session exists (FRR dynamic neighbours, `bgp listen range`,
/// delete the neighbour and its BFD session when BGP goes down) would otherwise never come
/// back: its BFD needs our BGP, our BGP would wait for its BFD. RFC 5882 §3.2's "do not flap"
/// is kept for the common case (BFD back Up releases at once) and by the backoff.
pub const BFD_HOLD_DOWN_MAX: Duration = Duration::from_secs(5);

/// How long a closed connection waits for the peer to close its side after our FIN (so the
/// last NOTIFICATION is read, not reset).
const LINGER: Duration = Duration::from_secs(2);

/// A snapshot of one peer, published on every change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStatus {
    /// The configured name.
    pub name: String,
    /// The peer's address.
    pub address: IpAddr,
    /// The peer's configured AS.
    pub asn: u32,
    /// Session state.
    pub state: State,
    /// When the session reached Established (uptime start), while it is.
    pub established_since: Option<Instant>,
    /// What the OPEN exchange settled, while Established.
    pub negotiated: Option<Arc<Negotiated>>,
    /// Message counters and history (last error...).
    pub counters: Counters,
    /// Local and remote socket addresses of the Established connection.
    pub connection: Option<(SocketAddr, SocketAddr)>,
    /// The BFD session state, for a peer with `bfd = "profile"`.
    pub bfd: Option<::bfd::State>,
}

/// Something that happened to one peer.
#[derive(Debug, Clone)]
pub struct PeerEvent {
    /// The peer's configured name.
    pub peer: Arc<str>,
    /// The peer's address.
    pub address: IpAddr,
    /// When (from the runtime's clock).
    pub at: Instant,
    /// What.
    pub kind: PeerEventKind,
}

/// The kinds of [`PeerEvent`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PeerEventKind {
    /// An outbound TCP connection is being attempted.
    ConnectAttempt,
    /// The session changed state.
    StateChanged {
        /// Old state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// The session is Established with these parameters: the rib sends its routes now,
    /// through [`PeerHandle::send_update`].
    Established(Arc<Negotiated>),
    /// An UPDATE from the peer (after RFC 7606 handling).
    Update(Arc<Update>),
    /// The peer sent End-of-RIB for this family.
    EndOfRib(Family),
    /// The peer asked for a route refresh of `family` (subtype 0 = resend everything).
    RouteRefresh {
        /// The family.
        family: Family,
        /// RFC 7313 subtype.
        subtype: u8,
    },
}

pub(crate) enum Command {
    Inbound(TcpStream),
    Start,
    Stop(Option<String>),
    Reset(Option<String>),
    Shutdown(Option<String>),
}

type UpdateRequest = (Bytes, oneshot::Sender<Result<(), SendError>>);

/// A handle to one peer's driver task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PeerHandle {
    name: Arc<str>,
    address: IpAddr,
    cmd: mpsc::UnboundedSender<Command>,
    updates: mpsc::Sender<UpdateRequest>,
    status: watch::Receiver<PeerStatus>,
}

impl PeerHandle {
    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The peer's address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The current status.
    pub fn status(&self) -> PeerStatus {
        self.status.borrow().clone()
    }

    /// A receiver of every status change. Do not keep the guard of `borrow()` or
    /// `wait_for()` across an `.await`: while it is held the driver cannot publish (and, on
    /// a current-thread runtime, cannot run at all).
    pub fn watch(&self) -> watch::Receiver<PeerStatus> {
        self.status.clone()
    }

    /// Sends pre-encoded UPDATE message(s) on the Established session (whole messages,
    /// encoded for [`Negotiated::encode_ctx`]). Waits while the connection's write queue is
    /// above [`HIGH_WATER`]. [`SendError::NotEstablished`] also when the driver is gone.
    pub async fn send_update(&self, bytes: Bytes) -> Result<(), SendError> {
        let (tx, rx) = oneshot::channel();
        self.updates
            .send((bytes, tx))
            .await
            .map_err(|_| SendError::NotEstablished)?;
        rx.await.unwrap_or(Err(SendError::NotEstablished))
    }

    /// Starts the session again after [`PeerHandle::stop`] (a no-op when started).
    pub fn start(&self) {
        let _ = self.cmd.send(Command::Start);
    }

    /// Stops the session: Cease / Administrative Shutdown with `message` (RFC 9003); it stays
    /// down until [`PeerHandle::start`].
    pub fn stop(&self, message: Option<String>) {
        let _ = self.cmd.send(Command::Stop(message));
    }

    /// Resets the session ("clear bgp"): Cease / Administrative Reset with `message`
    /// (RFC 9003), then it starts again after the initial backoff delay.
    pub fn reset(&self, message: Option<String>) {
        let _ = self.cmd.send(Command::Reset(message));
    }

    pub(crate) fn command(&self, c: Command) -> bool {
        self.cmd.send(c).is_ok()
    }
}

enum IoEvent {
    Connected(ConnId, TcpStream),
    ConnectFailed(ConnId, std::io::Error),
    Bytes(ConnId, Bytes),
    Closed(ConnId),
}

enum Slot {
    Connecting(JoinHandle<()>),
    Open {
        tx: mpsc::UnboundedSender<Bytes>,
        addrs: Option<(SocketAddr, SocketAddr)>,
    },
}

/// Everything a driver needs; built by the speaker.
pub(crate) struct DriverSpec {
    pub(crate) peer: PeerConfig,
    pub(crate) local_asn: u32,
    pub(crate) session: Session,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) events: broadcast::Sender<PeerEvent>,
    pub(crate) bfd: Option<BfdLink>,
    pub(crate) export: ExportLink,
}

struct Driver {
    name: Arc<str>,
    address: IpAddr,
    asn: u32,
    target: SocketAddr,
    source: Option<IpAddr>,
    opts: SocketOpts,
    stall: Duration,
    session: Session,
    clock: Arc<dyn Clock>,
    slots: HashMap<ConnId, Slot>,
    writers: JoinSet<()>,
    io_tx: mpsc::Sender<IoEvent>,
    queued: Arc<AtomicUsize>,
    drained: Arc<Notify>,
    status_tx: watch::Sender<PeerStatus>,
    events: broadcast::Sender<PeerEvent>,
    bfd_state: Option<::bfd::State>,
    negotiated: Option<Arc<Negotiated>>,
    export: ExportLink,
}

/// Spawns the driver task of one peer; returns its handle and join handle.
pub(crate) fn spawn(spec: DriverSpec) -> (PeerHandle, JoinHandle<()>) {
    let DriverSpec {
        peer,
        local_asn,
        session,
        clock,
        events,
        bfd,
        export,
    } = spec;
    let name: Arc<str> = Arc::from(peer.name.as_str());
    let initial = PeerStatus {
        name: peer.name.clone(),
        address: peer.address,
        asn: peer.asn,
        state: State::Idle,
        established_since: None,
        negotiated: None,
        counters: Counters::default(),
        connection: None,
        bfd: bfd.as_ref().map(|b| b.status.borrow().state),
    };
    let (status_tx, status_rx) = watch::channel(initial);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (upd_tx, upd_rx) = mpsc::channel(16);
    let (io_tx, io_rx) = mpsc::channel(64);
    let hold = if peer.hold_time == 0 {
        240
    } else {
        peer.hold_time.max(10)
    };
    let driver = Driver {
        name: name.clone(),
        address: peer.address,
        asn: peer.asn,
        target: peer.socket_addr(),
        source: peer.source,
        opts: SocketOpts::for_peer(&peer, local_asn),
        stall: Duration::from_secs(u64::from(hold)),
        session,
        clock,
        slots: HashMap::new(),
        writers: JoinSet::new(),
        io_tx,
        queued: Arc::new(AtomicUsize::new(0)),
        drained: Arc::new(Notify::new()),
        status_tx,
        events,
        bfd_state: None,
        negotiated: None,
        export,
    };
    let handle = PeerHandle {
        name,
        address: peer.address,
        cmd: cmd_tx,
        updates: upd_tx,
        status: status_rx,
    };
    let join = tokio::spawn(driver.run(cmd_rx, upd_rx, io_rx, bfd));
    (handle, join)
}

async fn bfd_changed(link: &mut Option<BfdLink>) -> BfdStatus {
    if let Some(l) = link {
        if l.status.changed().await.is_ok() {
            return l.status.borrow_and_update().clone();
        }
    }
    std::future::pending().await
}

impl Driver {
    async fn run(
        mut self,
        mut cmd_rx: mpsc::UnboundedReceiver<Command>,
        mut upd_rx: mpsc::Receiver<UpdateRequest>,
        mut io_rx: mpsc::Receiver<IoEvent>,
        mut bfd: Option<BfdLink>,
    ) {
        let mut tracker = bfd
            .as_mut()
            .map(|l| {
                let st = l.status.borrow_and_update().clone();
                self.bfd_state = Some(st.state);
                BfdTracker::new(&st)
            })
            .unwrap_or_default();
        self.session.handle_start(self.clock.now());
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        // End of the BFD hold-down (see BFD_HOLD_DOWN_MAX); shares the one sleep.
        let mut bfd_release: Option<Instant> = None;
        loop {
            self.drain_actions();
            self.publish();
            while self.writers.try_join_next().is_some() {}
            // One sleep per session, reset only when the session's deadline changes.
            let next = match (self.session.poll_timeout(), bfd_release) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if next != armed {
                armed = next;
                if let Some(t) = next {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(t));
                }
            }
            let room = self.queued.load(Ordering::Acquire) < HIGH_WATER;
            tokio::select! {
                biased;
                cmd = cmd_rx.recv() => {
                    let now = self.clock.now();
                    match cmd {
                        Some(Command::Inbound(s)) => self.inbound(s),
                        Some(Command::Start) => self.session.handle_start(now),
                        Some(Command::Stop(m)) => self.session.handle_stop(now, m),
                        Some(Command::Reset(m)) => self.session.handle_reset(now, m),
                        Some(Command::Shutdown(m)) => {
                            self.session.handle_stop(now, m);
                            break;
                        }
                        None => {
                            self.session.handle_stop(now, None);
                            break;
                        }
                    }
                }
                Some(ev) = io_rx.recv() => self.io_event(ev),
                st = bfd_changed(&mut bfd) => {
                    let now = self.clock.now();
                    self.bfd_state = Some(st.state);
                    match tracker.on_status(&st) {
                        BfdVerdict::None => {}
                        BfdVerdict::Down => {
                            info!(peer = %self.name, "BFD down ({:?}): session down, held until BFD is up", st.diag);
                            // RFC 5882 §3.2: take the session down, do not re-establish while BFD is down.
                            self.session.handle_bfd_down(now);
                            self.session.set_hold_down(now, true);
                            bfd_release = Some(now + BFD_HOLD_DOWN_MAX);
                        }
                        BfdVerdict::Flapped => {
                            info!(peer = %self.name, "BFD flapped: session down");
                            self.session.handle_bfd_down(now);
                            self.session.set_hold_down(now, false);
                            bfd_release = None;
                        }
                        BfdVerdict::Up => {
                            self.session.set_hold_down(now, false);
                            bfd_release = None;
                        }
                    }
                }
                _ = &mut sleep, if armed.is_some() => {
                    armed = None;
                    let now = self.clock.now();
                    if bfd_release.is_some_and(|t| t <= now) {
                        bfd_release = None;
                        info!(peer = %self.name, "BFD still down after {BFD_HOLD_DOWN_MAX:?}: trying BGP anyway");
                        self.session.set_hold_down(now, false);
                    }
                    self.session.handle_timeout(now);
                }
                Some((bytes, reply)) = upd_rx.recv(), if room => {
                    let r = self.session.send_update(self.clock.now(), bytes);
                    let _ = reply.send(r);
                }
                _ = self.drained.notified(), if !room => {}
                _ = self.export.wake.notified(), if room && self.export.is_up() => self.pump_rib(),
            }
        }
        // Shutting down: send what handle_stop queued (NOTIFICATIONs), close, wait for the
        // writers to flush (each bounded by the stall timeout and LINGER).
        self.drain_actions();
        self.publish();
        for (_, slot) in self.slots.drain() {
            if let Slot::Connecting(h) = slot {
                h.abort();
            }
        }
        loop {
            tokio::select! {
                j = self.writers.join_next() => if j.is_none() { break },
                _ = io_rx.recv() => {}
            }
        }
        drop(bfd);
    }

    fn event(&self, kind: PeerEventKind) {
        let _ = self.events.send(PeerEvent {
            peer: self.name.clone(),
            address: self.address,
            at: self.clock.now(),
            kind,
        });
    }

    fn publish(&mut self) {
        let s = &self.session;
        let connection = s.established_conn().and_then(|c| match self.slots.get(&c) {
            Some(Slot::Open { addrs, .. }) => *addrs,
            _ => None,
        });
        let st = PeerStatus {
            name: self.name.to_string(),
            address: self.address,
            asn: self.asn,
            state: s.state(),
            established_since: s.counters().established_at,
            negotiated: if s.state() == State::Established {
                self.negotiated.clone()
            } else {
                None
            },
            counters: s.counters().clone(),
            connection,
            bfd: self.bfd_state,
        };
        self.status_tx.send_if_modified(|old| {
            if *old != st {
                *old = st;
                true
            } else {
                false
            }
        });
    }

    fn drain_actions(&mut self) {
        while let Some(a) = self.session.poll_action() {
            match a {
                Action::Connect { conn } => {
                    self.event(PeerEventKind::ConnectAttempt);
                    debug!(peer = %self.name, %conn, to = %self.target, "connecting");
                    let (target, source, opts) = (self.target, self.source, self.opts.clone());
                    let tx = self.io_tx.clone();
                    let h = tokio::spawn(async move {
                        let ev = match socket::connect(target, source, &opts).await {
                            Ok(s) => IoEvent::Connected(conn, s),
                            Err(e) => IoEvent::ConnectFailed(conn, e),
                        };
                        let _ = tx.send(ev).await;
                    });
                    self.slots.insert(conn, Slot::Connecting(h));
                }
                Action::Send { conn, bytes } => {
                    if let Some(Slot::Open { tx, .. }) = self.slots.get(&conn) {
                        let n = bytes.len();
                        self.queued.fetch_add(n, Ordering::AcqRel);
                        if tx.send(bytes).is_err() {
                            self.queued.fetch_sub(n, Ordering::AcqRel);
                        }
                    }
                }
                Action::Close { conn } => match self.slots.remove(&conn) {
                    Some(Slot::Connecting(h)) => h.abort(),
                    Some(Slot::Open { .. }) => debug!(peer = %self.name, %conn, "closing"),
                    None => {}
                },
                Action::StateChanged { from, to, reason } => {
                    if to == State::Established || from == State::Established {
                        info!(peer = %self.name, "{from} -> {to}: {reason}");
                    } else {
                        debug!(peer = %self.name, "{from} -> {to}: {reason}");
                    }
                    if from == State::Established {
                        self.export.down();
                    }
                    self.event(PeerEventKind::StateChanged { from, to, reason });
                }
                Action::Established(n) => {
                    let n: Arc<Negotiated> = Arc::from(n);
                    info!(
                        peer = %self.name,
                        hold = n.hold_time,
                        router_id = %n.peer_router_id,
                        "established"
                    );
                    self.negotiated = Some(n.clone());
                    let local =
                        self.session
                            .established_conn()
                            .and_then(|c| match self.slots.get(&c) {
                                Some(Slot::Open { addrs, .. }) => addrs.map(|a| a.0),
                                _ => None,
                            });
                    self.export.up(&self.name, &n, local);
                    self.event(PeerEventKind::Established(n));
                }
                Action::Update(u) => self.event(PeerEventKind::Update(Arc::from(u))),
                Action::EndOfRib(f) => self.event(PeerEventKind::EndOfRib(f)),
                Action::RouteRefresh { family, subtype } => {
                    self.export.refresh(family, subtype);
                    self.event(PeerEventKind::RouteRefresh { family, subtype })
                }
            }
        }
    }

    /// Moves UPDATEs from the rib to the connection while its write queue is below
    /// [`HIGH_WATER`]; the rest stays in the rib's dirty set (no queue of messages grows).
    fn pump_rib(&mut self) {
        loop {
            let queued = self.queued.load(Ordering::Acquire);
            if queued >= HIGH_WATER {
                break;
            }
            let Some(out) = self.export.poll(HIGH_WATER - queued) else {
                return;
            };
            let now = self.clock.now();
            for o in out {
                let r = match o {
                    Outgoing::Updates(b) => self.session.send_update(now, b),
                    Outgoing::Refresh(f, st) => self.session.send_route_refresh(now, f, st),
                };
                if let Err(e) = r {
                    debug!(peer = %self.name, "rib message not sent: {e:?}");
                    return;
                }
            }
            self.drain_actions();
            if !self.export.is_up() {
                return;
            }
        }
        self.export.rearm();
    }

    fn inbound(&mut self, stream: TcpStream) {
        if let Err(e) = socket::prepare_accepted(&stream, &self.opts) {
            warn!(peer = %self.name, "inbound connection: socket options failed: {e}");
            return;
        }
        let id = self.session.new_conn_id();
        debug!(peer = %self.name, conn = %id, "inbound connection");
        self.open_slot(id, stream);
        self.session
            .handle_connected(self.clock.now(), id, Direction::Inbound);
    }

    fn io_event(&mut self, ev: IoEvent) {
        let now = self.clock.now();
        match ev {
            IoEvent::Connected(conn, stream) => {
                if matches!(self.slots.get(&conn), Some(Slot::Connecting(_))) {
                    self.open_slot(conn, stream);
                    self.session
                        .handle_connected(now, conn, Direction::Outbound);
                }
            }
            IoEvent::ConnectFailed(conn, e) => {
                if matches!(self.slots.get(&conn), Some(Slot::Connecting(_))) {
                    debug!(peer = %self.name, %conn, "connect failed: {e}");
                    self.slots.remove(&conn);
                    self.session.handle_connect_failed(now, conn);
                }
            }
            IoEvent::Bytes(conn, b) => {
                if matches!(self.slots.get(&conn), Some(Slot::Open { .. })) {
                    self.session.handle_bytes(now, conn, &b);
                }
            }
            IoEvent::Closed(conn) => {
                if matches!(self.slots.get(&conn), Some(Slot::Open { .. })) {
                    self.session.handle_closed(now, conn);
                }
            }
        }
    }

    fn open_slot(&mut self, conn: ConnId, stream: TcpStream) {
        let addrs = match (stream.local_addr(), stream.peer_addr()) {
            (Ok(l), Ok(r)) => Some((l, r)),
            _ => None,
        };
        let (r, w) = stream.into_split();
        let reader = tokio::spawn(reader_task(r, conn, self.io_tx.clone()));
        let (tx, rx) = mpsc::unbounded_channel();
        self.writers.spawn(writer_task(WriterCtx {
            w,
            rx,
            conn,
            reader,
            io_tx: self.io_tx.clone(),
            queued: self.queued.clone(),
            drained: self.drained.clone(),
            stall: self.stall,
        }));
        self.slots.insert(conn, Slot::Open { tx, addrs });
    }
}

async fn reader_task(mut r: OwnedReadHalf, conn: ConnId, tx: mpsc::Sender<IoEvent>) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        buf.reserve(64 * 1024);
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = tx.send(IoEvent::Closed(conn)).await;
                return;
            }
            Ok(_) => {
                if tx
                    .send(IoEvent::Bytes(conn, buf.split().freeze()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

struct WriterCtx {
    w: OwnedWriteHalf,
    rx: mpsc::UnboundedReceiver<Bytes>,
    conn: ConnId,
    reader: JoinHandle<()>,
    io_tx: mpsc::Sender<IoEvent>,
    queued: Arc<AtomicUsize>,
    drained: Arc<Notify>,
    stall: Duration,
}

async fn writer_task(mut c: WriterCtx) {
    let mut failed = false;
    while let Some(b) = c.rx.recv().await {
        let n = b.len();
        let ok = matches!(
            tokio::time::timeout(c.stall, c.w.write_all(&b)).await,
            Ok(Ok(()))
        );
        c.queued.fetch_sub(n, Ordering::AcqRel);
        c.drained.notify_one();
        if !ok {
            failed = true;
            break;
        }
    }
    if failed {
        // Broken or stalled for the hold time: tell the session, drop what is queued.
        c.rx.close();
        while let Some(b) = c.rx.recv().await {
            c.queued.fetch_sub(b.len(), Ordering::AcqRel);
        }
        c.drained.notify_one();
        c.reader.abort();
        let _ = c.io_tx.send(IoEvent::Closed(c.conn)).await;
        return;
    }
    // The session closed the connection: everything is written; send FIN and give the
    // peer a moment to close its side, so unread data does not turn our close into a reset.
    let _ = tokio::time::timeout(LINGER, c.w.shutdown()).await;
    let _ = tokio::time::timeout(LINGER, &mut c.reader).await;
    c.reader.abort();
}
