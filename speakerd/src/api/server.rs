//! The Unix socket server: one task per connection, one request and one response per line.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bgp_fsm::State;
use bgp_fsm::bgp_wire::{IpNet, PathAttribute};
use rib::Advertisement;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use super::convert::{peer_view, route_from_spec, route_view, spec_from_route, update_prefixes};
use super::proto::{
    API_VERSION, AnnounceResult, ApiError, Event, EventLine, MAX_LINE, PeerRoutes, PeersResult,
    ReloadResult, Response, RouteSpec, RoutesResult, SetResult, VersionResult, WatchResult,
    WithdrawResult, code,
};
use crate::bgp::{PeerEvent, PeerEventKind, PeerHandle};

/// What the API server needs from the speaker. [`Speaker`](crate::Speaker) implements it;
/// tests and embedders may provide their own.
///
/// Mutations get requests that were validated as a whole: they either apply all of it or
/// fail without changing anything.
pub trait ApiBackend: Send + Sync + 'static {
    /// Adds (or replaces) these routes in the API's desired set; returns how many entries
    /// changed.
    fn announce(
        &self,
        routes: Vec<(IpNet, Advertisement)>,
    ) -> impl Future<Output = Result<usize, ApiError>> + Send;

    /// Removes these prefixes from the API's desired set; returns how many it had.
    fn withdraw(
        &self,
        prefixes: Vec<IpNet>,
    ) -> impl Future<Output = Result<usize, ApiError>> + Send;

    /// Replaces the API's whole desired set; returns how many entries changed.
    fn set(
        &self,
        routes: Vec<(IpNet, Advertisement)>,
    ) -> impl Future<Output = Result<usize, ApiError>> + Send;

    /// The effective desired routes (every source, after precedence).
    fn desired(&self) -> impl Future<Output = Vec<(IpNet, Advertisement)>> + Send;

    /// What this peer (by name) was sent, while Established; `None` when it is not up.
    fn advertised(
        &self,
        peer: &str,
    ) -> impl Future<Output = Option<Vec<(IpNet, Vec<PathAttribute>)>>> + Send;

    /// How many prefixes this peer has from us, while Established.
    fn advertised_count(&self, peer: &str) -> impl Future<Output = Option<usize>> + Send;

    /// Every peer's handle, in configuration order.
    fn handles(&self) -> Vec<PeerHandle>;

    /// True when the peer (by name) has `keep_received = true`.
    fn keeps_received(&self, peer: &str) -> bool;

    /// A receiver of every peer's events from now on.
    fn subscribe(&self) -> broadcast::Receiver<PeerEvent>;

    /// Reloads the configuration; returns what changed.
    fn reload(&self) -> impl Future<Output = Result<ReloadResult, ApiError>> + Send;

    /// The current time of the speaker's clock (for uptimes).
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Received routes of the peers with `keep_received = true` (Adj-RIB-In, RFC 4271 §3.2),
/// maintained from the speaker's UPDATE events.
#[derive(Debug, Default)]
struct AdjRibIn {
    peers: HashMap<String, BTreeMap<IpNet, Arc<Vec<PathAttribute>>>>,
}

struct Shared<B> {
    backend: Arc<B>,
    rib_in: Mutex<AdjRibIn>,
}

/// A running API server. Dropping it stops accepting, aborts the connections and removes
/// the socket file; [`ApiServer::shutdown`] does the same and waits until every task that
/// holds the backend is gone.
#[derive(Debug)]
pub struct ApiServer {
    path: PathBuf,
    tasks: Vec<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
}

impl ApiServer {
    /// Binds the socket at `path` (creating its directory if missing, replacing a stale
    /// socket file; an error if another server answers there), sets its mode to 0660, and
    /// serves `backend`. Needs a tokio runtime.
    pub fn start<B: ApiBackend>(path: &Path, backend: Arc<B>) -> io::Result<ApiServer> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "{}: another server is listening there (is speakerd already running?)",
                            path.display()
                        ),
                    ));
                }
                // Stale: left by a process that did not exit cleanly.
                std::fs::remove_file(path)?;
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: exists and is not a socket", path.display()),
                ));
            }
            Err(_) => {}
        }
        let listener = UnixListener::bind(path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display()))
        })?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        info!("API listening on {}", path.display());
        let shared = Arc::new(Shared {
            backend: backend.clone(),
            rib_in: Mutex::new(AdjRibIn::default()),
        });
        let events = backend.subscribe();
        let (stop, stopped) = oneshot::channel();
        let tasks = vec![
            tokio::spawn(maintain_rib_in(shared.clone(), events)),
            tokio::spawn(accept_loop(listener, shared, stopped)),
        ];
        Ok(ApiServer {
            path: path.to_path_buf(),
            tasks,
            stop: Some(stop),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, closes every connection (watchers included), removes the socket
    /// file, and returns once no task holds the backend any more (so an `Arc` of it can be
    /// unwrapped).
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let mut tasks = std::mem::take(&mut self.tasks);
        // The accept loop closes its connections and ends on `stop`.
        if let Some(accept) = tasks.pop() {
            let _ = accept.await;
        }
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn maintain_rib_in<B: ApiBackend>(
    shared: Arc<Shared<B>>,
    mut events: broadcast::Receiver<PeerEvent>,
) {
    loop {
        let ev = match events.recv().await {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                warn!(
                    "received-routes table missed {n} events: it may be incomplete until the sessions restart"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        match &ev.kind {
            PeerEventKind::Update(u) if shared.backend.keeps_received(&ev.peer) => {
                let (ann, wd) = update_prefixes(u);
                let attrs = Arc::new(u.attributes.clone());
                let mut r = lock(&shared.rib_in);
                let t = r.peers.entry(ev.peer.to_string()).or_default();
                for p in wd {
                    t.remove(&p);
                }
                for p in ann {
                    t.insert(p, attrs.clone());
                }
            }
            // RFC 4271 §8.2.2: leaving Established deletes the routes learned on the session.
            PeerEventKind::StateChanged { from, .. } if *from == State::Established => {
                lock(&shared.rib_in).peers.remove(&*ev.peer);
            }
            _ => {}
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn accept_loop<B: ApiBackend>(
    listener: UnixListener,
    shared: Arc<Shared<B>>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            a = listener.accept() => match a {
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, shared.clone()));
                }
                Err(e) => {
                    warn!("API accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

enum Line {
    Data(Vec<u8>),
    TooLarge,
    Eof,
}

/// Reads one line of at most `max` bytes (newline excluded); a longer one is consumed up to
/// its newline and reported as [`Line::TooLarge`], so the connection can go on.
async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R, max: usize) -> io::Result<Line> {
    let mut buf = Vec::new();
    let mut too_large = false;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(if too_large {
                Line::TooLarge
            } else if buf.is_empty() {
                Line::Eof
            } else {
                Line::Data(buf)
            });
        }
        let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], i + 1),
            None => (avail, avail.len()),
        };
        if !too_large {
            if buf.len() + chunk.len() > max {
                too_large = true;
                buf = Vec::new();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let newline = done > chunk.len();
        r.consume(done);
        if newline {
            return Ok(if too_large {
                Line::TooLarge
            } else {
                Line::Data(buf)
            });
        }
    }
}

async fn write_json<T: serde::Serialize>(w: &mut OwnedWriteHalf, v: &T) -> io::Result<()> {
    let mut out = serde_json::to_vec(v).map_err(io::Error::other)?;
    out.push(b'\n');
    w.write_all(&out).await
}

async fn connection<B: ApiBackend>(stream: UnixStream, shared: Arc<Shared<B>>) {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::with_capacity(256 * 1024, r);
    loop {
        let line = match read_line(&mut r, MAX_LINE).await {
            Ok(Line::Data(l)) => l,
            Ok(Line::TooLarge) => {
                let e = ApiError::new(
                    code::TOO_LARGE,
                    format!("request longer than {MAX_LINE} bytes"),
                );
                if write_json(&mut w, &Response::Error(e)).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(Line::Eof) | Err(_) => return,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match handle(&line, &shared).await {
            Outcome::Reply(resp) => {
                if write_json(&mut w, &resp).await.is_err() {
                    return;
                }
            }
            Outcome::Watch => {
                watch(r, w, &shared).await;
                return;
            }
        }
    }
}

enum Outcome {
    Reply(Response),
    Watch,
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

const REQUESTS: &str = "announce, withdraw, set, routes, peers, watch, reload, version";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesArgs {
    routes: Vec<RouteSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithdrawArgs {
    prefixes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowArgs {
    #[serde(default)]
    peer: Option<String>,
    #[serde(default)]
    received: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

fn args<T: DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            ApiError {
                code: code::INVALID_ARGUMENT.into(),
                message: inner,
                field: None,
            }
        } else {
            ApiError::invalid(path, inner)
        }
    })
}

async fn handle<B: ApiBackend>(line: &[u8], shared: &Shared<B>) -> Outcome {
    match dispatch(line, shared).await {
        Ok(Some(v)) => Outcome::Reply(Response::Result(v)),
        Ok(None) => Outcome::Watch,
        Err(e) => {
            debug!("API request failed: {e}");
            Outcome::Reply(Response::Error(e))
        }
    }
}

fn validate_routes<B: ApiBackend>(
    routes: &[RouteSpec],
    backend: &B,
) -> Result<Vec<(IpNet, Advertisement)>, ApiError> {
    let names: Vec<String> = backend
        .handles()
        .iter()
        .map(|h| h.name().to_string())
        .collect();
    let known = |n: &str| names.iter().any(|x| x == n);
    routes
        .iter()
        .enumerate()
        .map(|(i, r)| route_from_spec(r, &format!("routes[{i}]"), &known))
        .collect()
}

async fn dispatch<B: ApiBackend>(
    line: &[u8],
    shared: &Shared<B>,
) -> Result<Option<Value>, ApiError> {
    let v: Value = serde_json::from_slice(line)
        .map_err(|e| ApiError::new(code::PARSE, format!("invalid JSON: {e}")))?;
    let Value::Object(mut obj) = v else {
        return Err(ApiError::new(
            code::PARSE,
            "a request is a JSON object, e.g. {\"request\":\"peers\"}",
        ));
    };
    let name = match obj.remove("request") {
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(ApiError::new(
                code::UNKNOWN_REQUEST,
                "\"request\" must be a string",
            ));
        }
        None => {
            return Err(ApiError::new(
                code::UNKNOWN_REQUEST,
                format!("missing \"request\" member (one of {REQUESTS})"),
            ));
        }
    };
    let rest = Value::Object(obj);
    let b = &*shared.backend;
    let out = match name.as_str() {
        "announce" => {
            let a: RoutesArgs = args(rest)?;
            let routes = validate_routes(&a.routes, b)?;
            let n = routes.len();
            let changed = b.announce(routes).await?;
            to_value(&AnnounceResult {
                announced: n,
                changed,
            })
        }
        "withdraw" => {
            let a: WithdrawArgs = args(rest)?;
            let prefixes = a
                .prefixes
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    super::convert::parse_prefix(p)
                        .map_err(|e| ApiError::invalid(format!("prefixes[{i}]"), e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let n = prefixes.len();
            let changed = b.withdraw(prefixes).await?;
            to_value(&WithdrawResult {
                withdrawn: n,
                changed,
            })
        }
        "set" => {
            let a: RoutesArgs = args(rest)?;
            let routes = validate_routes(&a.routes, b)?;
            let n = routes.len();
            let changed = b.set(routes).await?;
            to_value(&SetResult { routes: n, changed })
        }
        "routes" => {
            let a: ShowArgs = args(rest)?;
            to_value(&routes(shared, a).await?)
        }
        "peers" => {
            let _: NoArgs = args(rest)?;
            let now = b.now();
            let mut peers = Vec::new();
            for h in b.handles() {
                let s = h.status();
                let sent = b.advertised_count(h.name()).await;
                let received = b.keeps_received(h.name()).then(|| {
                    lock(&shared.rib_in)
                        .peers
                        .get(h.name())
                        .map_or(0, |t| t.len())
                });
                peers.push(peer_view(&s, now, sent, received));
            }
            to_value(&PeersResult { peers })
        }
        "watch" => {
            let _: NoArgs = args(rest)?;
            return Ok(None);
        }
        "reload" => {
            let _: NoArgs = args(rest)?;
            to_value(&b.reload().await?)
        }
        "version" => {
            let _: NoArgs = args(rest)?;
            to_value(&VersionResult {
                name: "speakerd".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                api: API_VERSION,
            })
        }
        other => {
            return Err(ApiError::new(
                code::UNKNOWN_REQUEST,
                format!("unknown request {other:?} (one of {REQUESTS})"),
            ));
        }
    };
    Ok(Some(out))
}

async fn routes<B: ApiBackend>(shared: &Shared<B>, a: ShowArgs) -> Result<RoutesResult, ApiError> {
    let b = &*shared.backend;
    let handles = b.handles();
    let selected: Vec<&PeerHandle> = match &a.peer {
        None => handles.iter().collect(),
        Some(p) => {
            let addr: Option<std::net::IpAddr> = p.parse().ok();
            let h = handles
                .iter()
                .find(|h| h.name() == p || Some(h.address()) == addr)
                .ok_or_else(|| ApiError::invalid("peer", format!("no peer named {p:?}")))?;
            if a.received && !b.keeps_received(h.name()) {
                return Err(ApiError::invalid(
                    "peer",
                    format!(
                        "peer {:?} does not keep received routes (set keep_received = true in its [[peer]])",
                        h.name()
                    ),
                ));
            }
            vec![h]
        }
    };
    let mut desired: Vec<(IpNet, Advertisement)> = b.desired().await;
    desired.sort_by_key(|x| x.0);
    let mut out = RoutesResult {
        desired: desired
            .iter()
            .map(|(p, adv)| spec_from_route(*p, adv))
            .collect(),
        ..RoutesResult::default()
    };
    for h in &selected {
        if let Some(mut v) = b.advertised(h.name()).await {
            v.sort_by_key(|x| x.0);
            out.advertised.push(PeerRoutes {
                peer: h.name().to_string(),
                routes: v.iter().map(|(p, at)| route_view(*p, at)).collect(),
            });
        }
    }
    if a.received {
        let r = lock(&shared.rib_in);
        for h in &selected {
            if !b.keeps_received(h.name()) {
                continue;
            }
            let routes = r
                .peers
                .get(h.name())
                .map(|t| t.iter().map(|(p, at)| route_view(*p, at)).collect())
                .unwrap_or_default();
            out.received.push(PeerRoutes {
                peer: h.name().to_string(),
                routes,
            });
        }
    }
    Ok(out)
}

/// Reads and drops what is buffered; the number of bytes (0 at EOF).
async fn discard<R: AsyncBufReadExt + Unpin>(r: &mut R) -> io::Result<usize> {
    let n = r.fill_buf().await?.len();
    r.consume(n);
    Ok(n)
}

/// Subscribes, answers the `watch` request (so every event after the answer is seen), then
/// streams events to the watcher until it disconnects.
async fn watch<B: ApiBackend>(
    mut r: BufReader<tokio::net::unix::OwnedReadHalf>,
    mut w: OwnedWriteHalf,
    shared: &Shared<B>,
) {
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    // Session events (and received UPDATEs of the peers that keep them).
    let mut events = shared.backend.subscribe();
    let keeps: HashMap<String, bool> = shared
        .backend
        .handles()
        .iter()
        .map(|h| {
            (
                h.name().to_string(),
                shared.backend.keeps_received(h.name()),
            )
        })
        .collect();
    let etx = tx.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            let ev = match events.recv().await {
                Ok(ev) => ev,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    if etx.send(Event::Lagged { missed: n }).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let keep = keeps.get(&*ev.peer).copied().unwrap_or(false);
            let out = match &ev.kind {
                PeerEventKind::StateChanged { from, to, reason } => Some(Event::State {
                    peer: ev.peer.to_string(),
                    address: ev.address.to_string(),
                    from: from.to_string(),
                    to: to.to_string(),
                    reason: reason.to_string(),
                }),
                PeerEventKind::Update(u) if keep => {
                    let (ann, wd) = update_prefixes(u);
                    Some(Event::Update {
                        peer: ev.peer.to_string(),
                        address: ev.address.to_string(),
                        announced: ann.iter().map(|p| route_view(*p, &u.attributes)).collect(),
                        withdrawn: wd.iter().map(ToString::to_string).collect(),
                    })
                }
                PeerEventKind::EndOfRib(f) if keep => Some(Event::EndOfRib {
                    peer: ev.peer.to_string(),
                    family: f.to_string(),
                }),
                _ => None,
            };
            if let Some(e) = out
                && etx.send(e).await.is_err()
            {
                return;
            }
        }
    }));
    // BFD state changes, from each peer's status.
    for h in shared.backend.handles() {
        let tx = tx.clone();
        let mut st = h.watch();
        let mut last = st.borrow_and_update().bfd;
        tasks.push(tokio::spawn(async move {
            while st.changed().await.is_ok() {
                let now = st.borrow_and_update().bfd;
                if now != last {
                    if let Some(to) = now {
                        let e = Event::Bfd {
                            peer: h.name().to_string(),
                            address: h.address().to_string(),
                            from: last.map(|s| s.to_string()),
                            to: to.to_string(),
                        };
                        if tx.send(e).await.is_err() {
                            return;
                        }
                    }
                    last = now;
                }
            }
        }));
    }
    drop(tx);
    let ok = Response::Result(to_value(&WatchResult { watching: true }));
    if write_json(&mut w, &ok).await.is_err() {
        for t in tasks {
            t.abort();
        }
        return;
    }
    let mut reading = true;
    loop {
        tokio::select! {
            e = rx.recv() => match e {
                Some(event) => {
                    // A client that went away makes this write fail: the watch ends.
                    if write_json(&mut w, &EventLine { event }).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            // Anything the client writes is ignored. EOF (the client shut its sending side,
            // as `socat` does at the end of its input) keeps the stream going; a read error
            // ends it.
            n = discard(&mut r), if reading => {
                match n {
                    Ok(0) => reading = false,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
    }
    for t in tasks {
        t.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<String> {
        let mut r = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        loop {
            match read_line(&mut r, max).await.unwrap() {
                Line::Data(d) => out.push(String::from_utf8(d).unwrap()),
                Line::TooLarge => out.push("<too large>".into()),
                Line::Eof => return out,
            }
        }
    }

    #[tokio::test]
    async fn lines_are_bounded_and_the_stream_goes_on() {
        assert_eq!(lines(b"ab\ncdef\n", 4).await, ["ab", "cdef"]);
        assert_eq!(
            lines(b"ab\ncdefgh\nij\n", 4).await,
            ["ab", "<too large>", "ij"]
        );
        assert_eq!(lines(b"abcdefgh", 4).await, ["<too large>"]);
        assert_eq!(lines(b"last", 4).await, ["last"], "no final newline");
        assert!(lines(b"", 4).await.is_empty());
    }
}
