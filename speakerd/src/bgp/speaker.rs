//! [`Speaker`]: every configured peer's session driver, the listeners, and the BFD coupling.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bgp_fsm::{Session, SessionConfig};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::bfd_link::{BfdLink, BfdProvider};
use super::driver::{self, Command, DriverSpec, PeerEvent, PeerHandle, PeerStatus};
use super::export::{ExportLink, Exports};
use super::socket;
use crate::bfd::{BfdRuntime, BfdRuntimeOptions, BfdSessionSpec};
use crate::clock::{Clock, TokioClock};
use crate::config::{Config, PeerConfig};

/// How to run a [`Speaker`] beyond its [`Config`].
#[derive(Default)]
#[non_exhaustive]
pub struct SpeakerOptions {
    /// The clock (default: [`TokioClock`]).
    pub clock: Option<Arc<dyn Clock>>,
    /// Where BFD sessions come from (default: a [`BfdRuntime`] started when a peer has
    /// `bfd = "..."`).
    pub bfd: Option<Arc<dyn BfdProvider>>,
    /// The event channel (default: a new one of capacity 1024). Pass your own sender to
    /// hold a receiver before the first event.
    pub events: Option<broadcast::Sender<PeerEvent>>,
}

impl std::fmt::Debug for SpeakerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeakerOptions")
            .field("clock", &self.clock)
            .field("bfd", &self.bfd.is_some())
            .finish_non_exhaustive()
    }
}

/// A running BGP speaker: one session driver per configured peer, the listening sockets,
/// and the BFD sessions of peers that have a profile.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let cfg = speakerd::config::Config::load("speakerd.toml".as_ref()).unwrap();
/// let speaker = speakerd::Speaker::start(cfg).await?;
/// for p in speaker.peers() {
///     println!("{} {}", p.name, p.state);
/// }
/// speaker.shutdown("maintenance").await;
/// # Ok(()) }
/// ```
pub struct Speaker {
    /// The configuration in force (replaced by [`Speaker::reload`]).
    pub(super) config: std::sync::RwLock<Arc<Config>>,
    /// Every peer's handle, in configuration order.
    pub(super) handles: std::sync::RwLock<Vec<PeerHandle>>,
    /// Every peer's driver task, by peer address.
    pub(super) drivers: std::sync::Mutex<Vec<(IpAddr, JoinHandle<()>)>>,
    pub(super) listeners: Vec<JoinHandle<()>>,
    /// The listening sockets (reload adds the TCP-MD5 keys of new peers to them).
    pub(super) listen_socks: Vec<Arc<TcpListener>>,
    /// The handles the accept loops look connections up in.
    pub(super) by_addr: Arc<std::sync::RwLock<HashMap<IpAddr, PeerHandle>>>,
    local_addrs: Vec<SocketAddr>,
    pub(super) events: broadcast::Sender<PeerEvent>,
    pub(super) clock: Arc<dyn Clock>,
    /// The caller's BFD provider, held weakly (the caller owns it; a reload adding a BFD
    /// peer after the caller dropped it fails for that peer).
    pub(super) provider: Option<std::sync::Weak<dyn BfdProvider>>,
    pub(super) bfd_owned: std::sync::Mutex<Option<BfdRuntime>>,
    /// One reload at a time.
    pub(super) reload_lock: tokio::sync::Mutex<()>,
    /// `[state] path`: the writer of the API's announcements, and its task.
    pub(super) state: Option<(Arc<crate::state::StateWriter>, JoinHandle<()>)>,
    /// The file [`Speaker::reload_file`] reads when given none (set by the daemon).
    pub(super) config_path: std::sync::Mutex<Option<std::path::PathBuf>>,
    /// The rib (announce path): see `export.rs`.
    pub(super) exports: Arc<Exports>,
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("peers", &self.handles())
            .field("listening", &self.local_addrs)
            .finish_non_exhaustive()
    }
}

/// The `bgp_fsm` session configuration of a configured peer.
pub fn session_config(cfg: &Config, p: &PeerConfig) -> SessionConfig {
    let mut s = SessionConfig::new(cfg.speaker.asn, cfg.speaker.router_id, p.asn, p.address);
    s.hold_time = p.hold_time;
    s.keepalive = p.keepalive;
    s.passive = p.passive;
    s.extended_message = p.extended_message;
    s.families = p.families.clone();
    s.connect_retry = p.connect_retry;
    s.connect_timeout = p.connect_timeout;
    if cfg.speaker.graceful_restart {
        s.graceful_restart = Some(super::restart::capability(cfg, p));
    }
    s
}

impl Speaker {
    /// Starts every peer of `config` with the default options. Needs a tokio runtime with
    /// I/O and time enabled.
    pub async fn start(config: Config) -> io::Result<Speaker> {
        Speaker::start_with(config, SpeakerOptions::default()).await
    }

    /// Starts every peer of `config`: binds the listening sockets (with the peers' TCP-MD5
    /// keys), creates the BFD sessions, spawns one driver task per peer.
    pub async fn start_with(config: Config, opts: SpeakerOptions) -> io::Result<Speaker> {
        let clock = opts.clock.unwrap_or_else(|| Arc::new(TokioClock));
        let events = opts.events.unwrap_or_else(|| broadcast::channel(1024).0);

        // Listeners first: a port already in use is reported before any session starts.
        let lopts = socket::ListenOpts {
            keys: config
                .peers
                .iter()
                .filter_map(|p| p.password.clone().map(|pw| (p.address, pw)))
                .collect(),
            any_gtsm: config.peers.iter().any(|p| p.ttl_security),
            all_gtsm: !config.peers.is_empty() && config.peers.iter().all(|p| p.ttl_security),
        };
        let mut bound = Vec::new();
        for addr in &config.speaker.listen {
            let l = socket::listen(*addr, &lopts).map_err(|e| {
                let hint = if e.kind() == io::ErrorKind::PermissionDenied && addr.port() < 1024 {
                    " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                } else {
                    ""
                };
                io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}{hint}"))
            })?;
            bound.push(l);
        }

        let mut bfd_owned = None;
        let provider: Option<Arc<dyn BfdProvider>> = match opts.bfd {
            Some(p) => Some(p),
            None if config.peers.iter().any(|p| p.bfd.is_some()) => {
                let rt = BfdRuntime::start(BfdRuntimeOptions::default())?;
                bfd_owned = Some(rt);
                None
            }
            None => None,
        };

        let exports = Arc::new(Exports::new(&config.announce, Vec::new()));
        // The API's announcements of the previous run, before any session is up.
        let state = match &config.state.path {
            Some(path) => {
                let routes = crate::state::load(path)?;
                if !routes.is_empty() {
                    info!(
                        "{} announcement(s) restored from {}",
                        routes.len(),
                        path.display()
                    );
                }
                exports.set_api(routes);
                let snap = exports.clone();
                Some(crate::state::StateWriter::start(
                    path.clone(),
                    Box::new(move || snap.api_routes()),
                ))
            }
            None => None,
        };
        let mut handles = Vec::new();
        let mut drivers = Vec::new();
        for p in &config.peers {
            let (h, j) = spawn_peer(
                &config,
                p,
                &clock,
                &events,
                &exports,
                provider.as_ref(),
                &bfd_owned,
            )?;
            handles.push(h);
            drivers.push((p.address, j));
        }

        let by_addr = Arc::new(std::sync::RwLock::new(
            handles.iter().map(|h| (h.address(), h.clone())).collect(),
        ));
        let mut local_addrs = Vec::new();
        let mut listeners = Vec::new();
        let mut listen_socks = Vec::new();
        for l in bound {
            let a = l.local_addr()?;
            info!("listening on {a}");
            local_addrs.push(a);
            let l = Arc::new(l);
            listen_socks.push(l.clone());
            listeners.push(tokio::spawn(accept_loop(l, by_addr.clone())));
        }
        Ok(Speaker {
            config: std::sync::RwLock::new(Arc::new(config)),
            handles: std::sync::RwLock::new(handles),
            drivers: std::sync::Mutex::new(drivers),
            listeners,
            listen_socks,
            by_addr,
            local_addrs,
            events,
            clock,
            provider: provider.as_ref().map(Arc::downgrade),
            bfd_owned: std::sync::Mutex::new(bfd_owned),
            reload_lock: tokio::sync::Mutex::new(()),
            state,
            config_path: std::sync::Mutex::new(None),
            exports,
        })
    }

    /// The configuration it runs (the latest one [`Speaker::reload`] applied).
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A snapshot of every peer, in configuration order.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.handles().iter().map(PeerHandle::status).collect()
    }

    /// The handles of every peer, in configuration order.
    pub fn handles(&self) -> Vec<PeerHandle> {
        self.handles
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The handle of the peer with this name or address.
    pub fn peer(&self, name_or_address: &str) -> Option<PeerHandle> {
        let addr: Option<IpAddr> = name_or_address.parse().ok();
        self.handles()
            .into_iter()
            .find(|h| h.name() == name_or_address || Some(h.address()) == addr)
    }

    /// A receiver of every peer's events from now on. A receiver that lags more than the
    /// channel capacity loses the oldest events (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<PeerEvent> {
        self.events.subscribe()
    }

    /// The bound listening addresses (with the real port when the config said port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Stops accepting, sends every session NOTIFICATION Cease / Administrative Shutdown
    /// (subcode 2) with `message` as RFC 9003 shutdown communication, writes the state file
    /// (`[state] path`), waits until those are written and the connections closed — at most [`SHUTDOWN_GRACE`]; a driver still
    /// flushing to a peer that does not read is then aborted — and stops BFD.
    pub async fn shutdown(mut self, message: &str) {
        for l in &self.listeners {
            l.abort();
        }
        for h in self.handles() {
            h.command(Command::Shutdown(Some(message.to_string())));
        }
        let mut drivers: Vec<JoinHandle<()>> =
            std::mem::take(self.drivers.get_mut().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .map(|(_, j)| j)
                .collect();
        let all = async {
            for d in &mut drivers {
                if let Err(e) = d.await {
                    error!("session driver failed: {e}");
                }
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
            warn!("shutdown: peers not flushed within {SHUTDOWN_GRACE:?}, closing anyway");
            for d in &drivers {
                d.abort();
            }
        }
        if let Some((w, task)) = self.state.take() {
            task.abort();
            let _ = tokio::task::spawn_blocking(move || w.write_if_dirty()).await;
        }
        let owned = self
            .bfd_owned
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rt) = owned {
            let _ = tokio::task::spawn_blocking(move || rt.shutdown()).await;
        }
    }
}

impl Drop for Speaker {
    /// Without [`Speaker::shutdown`]: stop accepting; every driver then sees its handles
    /// gone and stops its session (Cease/2 without a message).
    fn drop(&mut self) {
        for l in &self.listeners {
            l.abort();
        }
        // The API's announcements not written yet (a blocking write, once).
        if let Some((w, task)) = self.state.take() {
            task.abort();
            let _ = w.write_if_dirty();
        }
    }
}

/// The longest [`Speaker::shutdown`] waits for the NOTIFICATIONs to be written.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn unreachable_bfd() -> io::Result<BfdLink> {
    Err(io::Error::other("no BFD runtime"))
}

async fn accept_loop(
    l: Arc<TcpListener>,
    peers: Arc<std::sync::RwLock<HashMap<IpAddr, PeerHandle>>>,
) {
    loop {
        match l.accept().await {
            Ok((stream, remote)) => {
                let ip = socket::canonical(remote.ip());
                let h = peers
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&ip)
                    .cloned();
                match h {
                    Some(h) => {
                        if !h.command(Command::Inbound(stream)) {
                            warn!(%remote, "connection for a stopped peer: closed");
                        }
                    }
                    // Not a configured peer: close at once.
                    None => info!(%remote, "connection from an unknown address refused"),
                }
            }
            Err(e) => {
                // EMFILE and friends: do not spin.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Spawns the driver of one configured peer (and its BFD session): the same path for the
/// start and for a peer a reload adds or changes.
pub(super) fn spawn_peer(
    config: &Config,
    p: &PeerConfig,
    clock: &Arc<dyn Clock>,
    events: &broadcast::Sender<PeerEvent>,
    exports: &Arc<Exports>,
    provider: Option<&Arc<dyn BfdProvider>>,
    bfd_owned: &Option<BfdRuntime>,
) -> io::Result<(PeerHandle, JoinHandle<()>)> {
    let bfd = match &p.bfd {
        Some(name) => {
            let profile = config.bfd_profiles.get(name).copied().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("unknown bfd profile {name:?}"),
                )
            })?;
            let spec = BfdSessionSpec {
                peer: p.address,
                local: p.source,
                interface: None,
                // RFC 5883: a multihop BGP session gets a multihop BFD session.
                multihop: p.ebgp_multihop.is_some_and(|t| t > 1),
                profile,
            };
            let link: BfdLink = match (provider, bfd_owned) {
                (Some(pr), _) => pr.add_session(spec)?,
                (None, Some(rt)) => BfdProvider::add_session(rt, spec)?,
                (None, None) => unreachable_bfd()?,
            };
            Some(link)
        }
        None => None,
    };
    let wake = Arc::new(tokio::sync::Notify::new());
    exports.add_wake(wake.clone());
    Ok(driver::spawn(DriverSpec {
        peer: p.clone(),
        local_asn: config.speaker.asn,
        session: Session::new(session_config(config, p)),
        clock: clock.clone(),
        events: events.clone(),
        bfd,
        export: ExportLink::new(exports.clone(), wake, config.speaker.asn),
    }))
}
