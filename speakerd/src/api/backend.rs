//! [`ApiBackend`] for [`Speaker`]: the API's routes are the rib's `Api` source.

use std::time::Instant;

use bgp_fsm::bgp_wire::{IpNet, PathAttribute};
use rib::Advertisement;
use tokio::sync::broadcast;

use super::proto::{ApiError, ReloadResult, code};
use super::server::ApiBackend;
use crate::Speaker;
use crate::bgp::{PeerEvent, PeerHandle};

impl ApiBackend for Speaker {
    async fn announce(&self, routes: Vec<(IpNet, Advertisement)>) -> Result<usize, ApiError> {
        Ok(self.announce_many(routes).await)
    }

    async fn withdraw(&self, prefixes: Vec<IpNet>) -> Result<usize, ApiError> {
        Ok(self.withdraw_many(prefixes).await)
    }

    async fn set(&self, routes: Vec<(IpNet, Advertisement)>) -> Result<usize, ApiError> {
        Ok(Speaker::set(self, routes).await)
    }

    async fn desired(&self) -> Vec<(IpNet, Advertisement)> {
        self.announced()
    }

    async fn advertised(&self, peer: &str) -> Option<Vec<(IpNet, Vec<PathAttribute>)>> {
        Speaker::advertised(self, peer)
    }

    async fn advertised_count(&self, peer: &str) -> Option<usize> {
        Speaker::advertised_count(self, peer)
    }

    fn handles(&self) -> Vec<PeerHandle> {
        Speaker::handles(self).to_vec()
    }

    fn keeps_received(&self, peer: &str) -> bool {
        self.config()
            .peers
            .iter()
            .any(|p| p.name == peer && p.keep_received)
    }

    fn subscribe(&self) -> broadcast::Receiver<PeerEvent> {
        Speaker::subscribe(self)
    }

    async fn reload(&self) -> Result<ReloadResult, ApiError> {
        // The configuration file again, applied by difference (`Speaker::reload`); an
        // invalid file changes nothing and its errors (file:line:col) are the answer.
        match self.reload_file().await {
            Ok(r) => Ok(ReloadResult {
                message: r.to_string(),
                added: r.added,
                removed: r.removed,
                restarted: r.restarted,
                unchanged: r.unchanged,
                announce_changed: r.announce_changed,
                not_applied: r.not_applied,
            }),
            Err(e) => Err(ApiError::new(
                code::INVALID_CONFIG,
                format!("the running configuration is kept: {e}"),
            )),
        }
    }

    fn now(&self) -> Instant {
        // The clock of `TokioClock` (follows tokio's paused clock in tests).
        tokio::time::Instant::now().into_std()
    }
}
