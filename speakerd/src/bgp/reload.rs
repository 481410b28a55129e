//! [`Speaker::reload`]: apply a new configuration by its difference with the running one.
//!
//! * a peer whose settings (and those of `[speaker]` and its BFD profile that it uses) are
//!   unchanged keeps its session task untouched: no flap, no event;
//! * a removed peer is stopped with NOTIFICATION Cease / Administrative Shutdown (subcode 2)
//!   and the RFC 9003 message [`REMOVED_MESSAGE`];
//! * an added peer starts; a changed peer (address, AS, password, timers, families, BFD...)
//!   is stopped with Cease / Administrative Shutdown (subcode 2, message
//!   [`CHANGED_MESSAGE`]) and started again with its new settings (a new task);
//! * the `[[announce]]` tables replace the configuration source of the rib: only prefixes
//!   whose announcement changed are sent (UPDATE or withdrawal).
//!
//! `[speaker] listen`, `[api]`, `[metrics]`, `[state]` and `[log]` are set up at start: a change to them is reported in
//! [`ReloadReport::not_applied`] and needs a restart.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::driver::{Command, PeerHandle};
use super::speaker::{SHUTDOWN_GRACE, Speaker, spawn_peer};
use crate::config::{Config, ConfigError, ConfigErrors, PeerConfig};

/// The RFC 9003 shutdown communication sent to a peer removed by a reload.
pub const REMOVED_MESSAGE: &str = "removed from configuration";

/// The RFC 9003 communication sent to a peer whose settings a reload changed (before the
/// session restarts with them).
pub const CHANGED_MESSAGE: &str = "configuration changed";

/// What a [`Speaker::reload`] did. Peers are named by their (new) configured name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Peers started.
    pub added: Vec<String>,
    /// Peers stopped (Cease/2, "removed from configuration").
    pub removed: Vec<String>,
    /// Peers restarted with new settings.
    pub restarted: Vec<String>,
    /// Peers left running untouched.
    pub unchanged: Vec<String>,
    /// Prefixes of `[[announce]]` whose announcement changed (sent to the peers).
    pub announce_changed: usize,
    /// Changes that need a restart of the daemon to take effect (`listen`, `[api]`).
    pub not_applied: Vec<String>,
    /// Peers that could not be started (their BFD session could not be created...).
    pub failed: Vec<String>,
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "added: {}; removed: {}; restarted: {}; unchanged: {}; announcements changed: {}",
            list(&self.added),
            list(&self.removed),
            list(&self.restarted),
            self.unchanged.len(),
            self.announce_changed
        )?;
        if !self.not_applied.is_empty() {
            write!(f, "; needs a restart: {}", self.not_applied.join(", "))?;
        }
        if !self.failed.is_empty() {
            write!(f, "; failed: {}", self.failed.join(", "))?;
        }
        Ok(())
    }
}

/// True when a peer runs exactly the same way under `old` and `new`.
fn same_peer(old: &Config, o: &PeerConfig, new: &Config, n: &PeerConfig) -> bool {
    let profile =
        |c: &Config, p: &PeerConfig| p.bfd.as_ref().and_then(|b| c.bfd_profiles.get(b).copied());
    o == n
        && old.speaker.asn == new.speaker.asn
        && old.speaker.router_id == new.speaker.router_id
        && profile(old, o) == profile(new, n)
}

impl Speaker {
    /// Sets the file [`Speaker::reload_file`] reads (the daemon's `--config`).
    pub fn set_config_path(&self, path: &Path) {
        *self.config_path.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.to_path_buf());
    }

    /// Loads the configuration file again (the one given to [`Speaker::set_config_path`])
    /// and applies it with [`Speaker::reload`]. An invalid file changes nothing.
    pub async fn reload_file(&self) -> Result<ReloadReport, ConfigErrors> {
        let path = self
            .config_path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(path) = path else {
            return Err(ConfigErrors(vec![ConfigError {
                file: "(none)".into(),
                line: 0,
                col: 0,
                message: "no configuration file to reload from".into(),
                hint: Some("the daemon sets it from --config".into()),
            }]));
        };
        let new = Config::load(&path)?;
        self.reload(new).await
    }

    /// Applies `new` by its difference with the running configuration (see the module
    /// documentation). `new` has been validated by [`Config::parse`] / [`Config::load`]; the
    /// error is kept for the callers that load and reload in one step
    /// ([`Speaker::reload_file`]). Returns once removed and changed peers have sent their
    /// NOTIFICATION (at most [`SHUTDOWN_GRACE`] each) and the new ones are started.
    pub async fn reload(&self, mut new: Config) -> Result<ReloadReport, ConfigErrors> {
        let _one = self.reload_lock.lock().await;
        let old = self.config();
        // Not from the file: this process's graceful restart state stays.
        new.speaker.restarting = old.speaker.restarting;
        let mut report = ReloadReport::default();
        if old.speaker.listen != new.speaker.listen {
            report.not_applied.push("[speaker] listen".into());
        }
        if old.api != new.api {
            report.not_applied.push("[api]".into());
        }
        if old.state != new.state {
            report.not_applied.push("[state]".into());
        }
        if old.metrics != new.metrics {
            report.not_applied.push("[metrics]".into());
        }
        if old.log != new.log {
            report.not_applied.push("[log]".into());
        }

        let old_by_addr: HashMap<IpAddr, &PeerConfig> =
            old.peers.iter().map(|p| (p.address, p)).collect();
        let new_addrs: HashMap<IpAddr, &PeerConfig> =
            new.peers.iter().map(|p| (p.address, p)).collect();

        // Stop the removed and changed peers first (a changed peer's new session must not
        // race its old one on the same address).
        let mut stopping: Vec<JoinHandle<()>> = Vec::new();
        let mut restart: Vec<IpAddr> = Vec::new();
        for o in &old.peers {
            let (msg, changed) = match new_addrs.get(&o.address) {
                None => (REMOVED_MESSAGE, false),
                Some(n) if !same_peer(&old, o, &new, n) => (CHANGED_MESSAGE, true),
                Some(n) => {
                    report.unchanged.push(n.name.clone());
                    continue;
                }
            };
            if let Some(h) = self.take_peer(o.address) {
                // RFC 9003: the reason goes with Cease / Administrative Shutdown (subcode 2).
                h.command(Command::Shutdown(Some(msg.to_string())));
            }
            if let Some(j) = self.take_driver(o.address) {
                stopping.push(j);
            }
            if changed {
                restart.push(o.address);
                report.restarted.push(new_addrs[&o.address].name.clone());
            } else {
                report.removed.push(o.name.clone());
            }
        }
        for mut j in stopping {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut j).await.is_err() {
                warn!("reload: a stopped peer did not flush within {SHUTDOWN_GRACE:?}");
                j.abort();
            }
        }

        // The new configuration's peers that are not running: added and changed ones.
        let mut bfd_needed = new.peers.iter().any(|p| p.bfd.is_some());
        for n in &new.peers {
            let is_new = !old_by_addr.contains_key(&n.address);
            if !is_new && !restart.contains(&n.address) {
                continue;
            }
            if let Some(pw) = &n.password {
                for l in &self.listen_socks {
                    if let Err(e) = super::socket::add_listen_key(l, n.address, pw) {
                        warn!(peer = %n.name, "reload: cannot set the TCP-MD5 key on a listener: {e}");
                    }
                }
            }
            let provider = match &self.provider {
                Some(w) => match w.upgrade() {
                    Some(p) => Some(p),
                    None if n.bfd.is_some() => {
                        report
                            .failed
                            .push(format!("{} (the BFD provider is gone)", n.name));
                        continue;
                    }
                    None => None,
                },
                None => None,
            };
            let started = {
                let mut owned = self.bfd_owned.lock().unwrap_or_else(|e| e.into_inner());
                if bfd_needed && n.bfd.is_some() && self.provider.is_none() && owned.is_none() {
                    match crate::bfd::BfdRuntime::start(crate::bfd::BfdRuntimeOptions::default()) {
                        Ok(rt) => *owned = Some(rt),
                        Err(e) => warn!("reload: cannot start BFD: {e}"),
                    }
                    bfd_needed = false;
                }
                spawn_peer(
                    &new,
                    n,
                    &self.clock,
                    &self.events,
                    &self.exports,
                    provider.as_ref(),
                    &owned,
                )
            };
            match started {
                Ok((h, j)) => {
                    self.by_addr
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(n.address, h.clone());
                    self.handles
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(h);
                    self.drivers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((n.address, j));
                    if is_new {
                        report.added.push(n.name.clone());
                    }
                }
                Err(e) => {
                    warn!(peer = %n.name, "reload: cannot start the peer: {e}");
                    report.failed.push(format!("{} ({e})", n.name));
                }
            }
        }
        // Configuration order for `handles()` and `peers()`.
        let order: HashMap<IpAddr, usize> = new
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.address, i))
            .collect();
        self.handles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .sort_by_key(|h| order.get(&h.address()).copied().unwrap_or(usize::MAX));

        report.announce_changed = self.exports.set_config(&new.announce);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
        info!("reload: {report}");
        Ok(report)
    }

    fn take_peer(&self, addr: IpAddr) -> Option<PeerHandle> {
        self.by_addr
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&addr);
        let mut hs = self.handles.write().unwrap_or_else(|e| e.into_inner());
        let i = hs.iter().position(|h| h.address() == addr)?;
        Some(hs.remove(i))
    }

    fn take_driver(&self, addr: IpAddr) -> Option<JoinHandle<()>> {
        let mut ds = self.drivers.lock().unwrap_or_else(|e| e.into_inner());
        let i = ds.iter().position(|(a, _)| *a == addr)?;
        Some(ds.remove(i).1)
    }
}
