//! `[state] path`: the announcements made through the API (or the library's
//! [`Speaker::announce`](crate::Speaker::announce) and friends, source `Api`) survive a
//! restart.
//!
//! The file is JSON, `{"version": 1, "routes": [ROUTE, ...]}` with each route in the API's
//! shape ([`RouteSpec`], `docs/API.md`). It is written atomically: a temporary file in the
//! same directory, `fsync`, `rename` over the old one, `fsync` of the directory — a crash
//! leaves the old or the new file, never half of one. Writes are coalesced: after a change
//! the writer waits [`COALESCE`] and writes the state as it is then, so a burst of a
//! thousand calls is one write; [`Speaker::flush_state`](crate::Speaker::flush_state),
//! [`Speaker::shutdown`](crate::Speaker::shutdown) and dropping the speaker write at once.
//!
//! On start the file's routes are announced again before any session comes up. A missing
//! file is an empty state; an unreadable or corrupt one stops the start (with the path and
//! the error) rather than silently forgetting the routes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bgp_fsm::bgp_wire::IpNet;
use rib::Advertisement;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tracing::warn;

use crate::api::convert::{route_from_spec, spec_from_route};
use crate::api::proto::RouteSpec;

/// How long the writer waits after a change before writing (bursts become one write).
pub const COALESCE: Duration = Duration::from_millis(100);

/// The version of the file format this speaker writes and reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateDoc {
    version: u32,
    routes: Vec<RouteSpec>,
}

/// Reads a state file: its routes, or none when the file does not exist.
pub fn load(path: &Path) -> io::Result<Vec<(IpNet, Advertisement)>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let bad = |m: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {m}", path.display()),
        )
    };
    let doc: StateDoc = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if doc.version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} (this speakerd reads {FORMAT_VERSION})",
            doc.version
        )));
    }
    doc.routes
        .iter()
        .enumerate()
        // Peer names are not checked: a peer removed from the configuration since simply
        // matches no session.
        .map(|(i, r)| {
            route_from_spec(r, &format!("routes[{i}]"), &|_| true).map_err(|e| bad(e.to_string()))
        })
        .collect()
}

/// Writes `routes` to `path` atomically (temporary file, fsync, rename, fsync of the
/// directory).
pub fn save(path: &Path, routes: &[(IpNet, Advertisement)]) -> io::Result<()> {
    let doc = StateDoc {
        version: FORMAT_VERSION,
        routes: routes.iter().map(|(p, a)| spec_from_route(*p, a)).collect(),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "state path has no file name")
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let write = || -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        serde_json::to_writer(&mut f, &doc).map_err(io::Error::other)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename itself is durable once the directory is.
        fs::File::open(&dir)?.sync_all()
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// The speaker's state writer: a dirty flag and a task that writes after [`COALESCE`].
pub(crate) struct StateWriter {
    path: PathBuf,
    dirty: AtomicBool,
    wake: Notify,
    snapshot: Box<dyn Fn() -> Vec<(IpNet, Advertisement)> + Send + Sync>,
    /// One write at a time (the snapshot is taken under it, so the last write is the
    /// newest state).
    writing: std::sync::Mutex<()>,
}

impl std::fmt::Debug for StateWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl StateWriter {
    /// A writer for `path` whose state is `snapshot()`; spawns its task.
    pub(crate) fn start(
        path: PathBuf,
        snapshot: Box<dyn Fn() -> Vec<(IpNet, Advertisement)> + Send + Sync>,
    ) -> (Arc<StateWriter>, tokio::task::JoinHandle<()>) {
        let w = Arc::new(StateWriter {
            path,
            dirty: AtomicBool::new(false),
            wake: Notify::new(),
            snapshot,
            writing: std::sync::Mutex::new(()),
        });
        // The task holds the writer until the speaker aborts it (shutdown or drop).
        let task = tokio::spawn({
            let w = w.clone();
            async move {
                loop {
                    w.wake.notified().await;
                    tokio::time::sleep(COALESCE).await;
                    let s = w.clone();
                    if let Err(e) = tokio::task::spawn_blocking(move || s.write_if_dirty()).await {
                        warn!("state writer: {e}");
                    }
                }
            }
        });
        (w, task)
    }

    /// The API's routes changed.
    pub(crate) fn changed(&self) {
        self.dirty.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Writes now when something changed since the last write (blocking).
    pub(crate) fn write_if_dirty(&self) -> io::Result<()> {
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let routes = (self.snapshot)();
        save(&self.path, &routes).inspect_err(|e| {
            // Try again at the next change or flush.
            self.dirty.store(true, Ordering::SeqCst);
            warn!("cannot write the state file {}: {e}", self.path.display());
        })
    }
}

/// The marker of a planned graceful restart: `<state path>.restarting`. The daemon creates
/// it after [`Speaker::shutdown_graceful`](crate::Speaker::shutdown_graceful) and removes it
/// on start, setting the Restart State bit for that run (RFC 4724 §3).
pub fn restart_marker(state: &Path) -> PathBuf {
    let mut s = state.as_os_str().to_owned();
    s.push(".restarting");
    PathBuf::from(s)
}
