//! Graceful restart (RFC 4724) as the restarting speaker.
//!
//! With `[speaker] graceful_restart = true` every session advertises the capability with
//! `restart_time` and, per family of the session, "forwarding state preserved" (speakerd
//! originates routes whose forwarding is the host's own and does not stop with it). The
//! Notification (N) bit of RFC 8538 is not set: a clean stop ([`Speaker::shutdown`], Cease
//! / Administrative Shutdown) must make the peers withdraw our routes at once, which with N
//! negotiated it would not (RFC 8538 §4: only Cease / Hard Reset would).
//!
//! A planned restart is [`Speaker::shutdown_graceful`]: the TCP connections are closed
//! without a NOTIFICATION, so each peer (as receiving speaker, RFC 4724 §4.2) keeps our
//! routes, marked stale, for the restart time. The new process sets the Restart State (R)
//! bit ([`SpeakerConfig::restarting`](crate::config::SpeakerConfig::restarting)),
//! announces its routes again and sends End-of-RIB (the rib does, after the initial
//! table), after which the peers drop whatever stale route was not refreshed.

use std::time::Duration;

use bgp_fsm::bgp_wire::{GracefulRestart, GracefulRestartFamily};
use tracing::warn;

use super::speaker::Speaker;
use crate::config::{Config, PeerConfig};

/// RFC 4724 §3: "Forwarding State" bit of a family.
const FORWARDING_PRESERVED: u8 = 0x80;

/// The graceful restart capability of a session to `p`.
pub(super) fn capability(cfg: &Config, p: &PeerConfig) -> GracefulRestart {
    GracefulRestart {
        // RFC 4724 §3: R is set by a speaker that has restarted.
        flags: if cfg.speaker.restarting {
            GracefulRestart::RESTART_STATE
        } else {
            0
        },
        restart_time: cfg.speaker.restart_time.min(4095),
        families: p
            .families
            .iter()
            .map(|f| GracefulRestartFamily {
                family: *f,
                flags: FORWARDING_PRESERVED,
            })
            .collect(),
    }
}

/// How long [`Speaker::shutdown_graceful`] waits for the BFD runtime to stop.
const BFD_STOP: Duration = Duration::from_secs(2);

impl Speaker {
    /// A planned restart (RFC 4724): stops accepting, writes the state file, and closes
    /// every BGP connection WITHOUT a NOTIFICATION, so peers that negotiated graceful
    /// restart keep our routes (stale) for the restart time until the next process
    /// announces them again. BFD sessions end with AdminDown, which peers do not take for
    /// a failure (RFC 5882 §3.2). Without `graceful_restart = true` peers simply see the
    /// connections fail and drop our routes at once.
    pub async fn shutdown_graceful(mut self) {
        for l in &self.listeners {
            l.abort();
        }
        if let Some((w, task)) = self.state.take() {
            task.abort();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || w.write_if_dirty()).await {
                warn!("graceful restart: state file not written: {e}");
            }
        }
        // Dropping a driver (aborted) drops its connection tasks and sockets: the kernel
        // closes the connections (FIN), no BGP message is sent.
        let drivers = std::mem::take(self.drivers.get_mut().unwrap_or_else(|e| e.into_inner()));
        for (_, d) in &drivers {
            d.abort();
        }
        for (_, d) in drivers {
            let _ = d.await;
        }
        let owned = self
            .bfd_owned
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rt) = owned {
            let stop = tokio::task::spawn_blocking(move || rt.shutdown());
            if tokio::time::timeout(BFD_STOP, stop).await.is_err() {
                warn!("graceful restart: BFD did not stop within {BFD_STOP:?}");
            }
        }
    }
}
