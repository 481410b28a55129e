//! The announce path: the one [`rib::Rib`] of the speaker, the library calls that change its
//! desired state ([`Speaker::announce`] and friends), and each driver's link to it.
//!
//! # Where the rib lives
//!
//! One `Rib` behind a `std::sync::Mutex`, shared by the [`Speaker`] (writers) and every
//! session driver (readers of their own peer's pending UPDATEs). Not a dedicated task serving
//! the drivers through channels, for speed at a million prefixes:
//!
//! * a driver's poll is one uncontended lock plus the encoding it needs anyway; through a
//!   task it would be two channel hops and a context switch per poll, and the rib task would
//!   serialise every peer's encoding on one core while the drivers idle;
//! * a bulk call (`announce_all` of 1M prefixes) is one lock held for the time of the
//!   insertion (run on the blocking pool when large, so no async worker stalls), and each
//!   driver is woken once, not once per prefix;
//! * critical sections are short and bounded: a driver takes at most [`POLL_CHUNK`] bytes of
//!   UPDATEs per lock, so an API call never waits behind a whole table's encoding.
//!
//! Backpressure: a driver polls only while its connection's write queue is below
//! [`HIGH_WATER`](super::HIGH_WATER); what does not fit stays in the rib as dirty marks
//! (coalesced: a prefix changed ten times while the peer is slow is sent once), never as a
//! queue of encoded messages.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use bgp_fsm::Negotiated;
use bgp_fsm::bgp_wire::{DecodeContext, Family, Message};
use bgp_wire::{IpNet, PathAttribute};
use bytes::{Bytes, BytesMut};
use rib::{Advertisement, PeerExport, PeerId, Rib, Source};
use tokio::sync::Notify;

use super::Speaker;
use crate::announce::Announcement;

/// The most bytes of UPDATEs a driver takes from the rib per lock.
pub const POLL_CHUNK: usize = 256 * 1024;

/// Bulk calls with more prefixes than this run on tokio's blocking pool.
const BLOCKING_BULK: usize = 4096;

/// `announce_all` gives the rib at most this many prefixes per call. The rib inserts a
/// bigger batch in hash-table order (its slots, and so the order on the wire, then follow the
/// hash); in chunks the slots follow the caller's order. Measured in the lab with 1M sorted
/// /24s (docs/BENCHMARKS.md, bulk section): receivers take address order faster (BIRD 0.9 s against
/// 1.7 s, FRR about 8.4 s against 12 s), and the insertion costs about the same.
const BULK_CHUNK: usize = 1 << 18;

/// The speaker's rib and the wake-up of every driver.
#[derive(Debug)]
pub(crate) struct Exports {
    rib: Mutex<Rib>,
    wakes: Mutex<Vec<Arc<Notify>>>,
}

impl Exports {
    /// A rib holding the configuration's announcements (source [`Source::Config`]).
    pub(crate) fn new(announce: &[Announcement], wakes: Vec<Arc<Notify>>) -> Exports {
        let mut rib = Rib::new();
        rib.reserve_v4(announce.len());
        for a in announce {
            rib.announce(Source::Config, a.prefix, a.advertisement.clone());
        }
        Exports {
            rib: Mutex::new(rib),
            wakes: Mutex::new(wakes),
        }
    }

    /// Adds a driver's wake-up (a peer started or added by a reload), forgetting those of
    /// drivers gone (only this list still holds them).
    pub(crate) fn add_wake(&self, wake: Arc<Notify>) {
        let mut w = self.wakes.lock().unwrap_or_else(|e| e.into_inner());
        w.retain(|x| Arc::strong_count(x) > 1);
        w.push(wake);
    }

    /// The API's announcements (source [`Source::Api`]), for the state file.
    pub(crate) fn api_routes(&self) -> Vec<(IpNet, rib::Advertisement)> {
        let rib = self.lock();
        rib.routes()
            .into_iter()
            .filter_map(|(p, _)| rib.desired_by(Source::Api, p).map(|a| (p, a.clone())))
            .collect()
    }

    /// Replaces the API's announcements (the state file's, on start).
    pub(crate) fn set_api(&self, routes: Vec<(IpNet, rib::Advertisement)>) -> usize {
        self.change(|r| r.set(Source::Api, routes), |n| *n > 0)
    }

    /// Replaces the configuration's announcements (source [`Source::Config`]) with `new`:
    /// only the prefixes that changed are sent. Returns how many changed.
    pub(crate) fn set_config(&self, new: &[Announcement]) -> usize {
        let routes: Vec<_> = new
            .iter()
            .map(|a| (a.prefix, a.advertisement.clone()))
            .collect();
        self.change(|r| r.set(Source::Config, routes), |n| *n > 0)
    }

    fn lock(&self) -> MutexGuard<'_, Rib> {
        // A panic while holding the lock cannot leave the rib half-updated in a way that
        // matters more than stopping would: keep serving.
        self.rib.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the rib and wakes every driver once when something changed.
    fn change<R>(&self, f: impl FnOnce(&mut Rib) -> R, changed: impl Fn(&R) -> bool) -> R {
        let r = f(&mut self.lock());
        if changed(&r) {
            for w in self.wakes.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                w.notify_one();
            }
        }
        r
    }
}

/// The BGP message type of ROUTE-REFRESH (RFC 2918 §3).
const ROUTE_REFRESH: u8 = 5;

/// What the rib gives a driver to send.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Whole UPDATE messages, back to back.
    Updates(Bytes),
    /// A ROUTE-REFRESH (BoRR/EoRR, RFC 7313) for this family and subtype.
    Refresh(Family, u8),
}

/// One driver's link to the rib: its peer id while Established.
#[derive(Debug)]
pub(crate) struct ExportLink {
    shared: Arc<Exports>,
    pub(crate) wake: Arc<Notify>,
    local_asn: u32,
    peer: Option<PeerId>,
}

impl ExportLink {
    pub(crate) fn new(shared: Arc<Exports>, wake: Arc<Notify>, local_asn: u32) -> ExportLink {
        ExportLink {
            shared,
            wake,
            local_asn,
            peer: None,
        }
    }

    /// True while the session is Established and known to the rib.
    pub(crate) fn is_up(&self) -> bool {
        self.peer.is_some()
    }

    /// The session reached Established on a connection whose local address is `local`.
    pub(crate) fn up(&mut self, name: &str, n: &Negotiated, local: Option<SocketAddr>) {
        self.down();
        let Some(local) = local else { return };
        let ip = match local.ip() {
            IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(a)),
            a => a,
        };
        let mut export = PeerExport::from_negotiated(name, self.local_asn, n, ip, None);
        // IPv6 routes over an IPv4 session (RFC 4760 MP-BGP) need an IPv6 next hop: without
        // a global IPv6 address of ours on that session, the IPv4-mapped form of the
        // session's address (what FRR sends too). An explicit `next_hop` overrides it.
        if let (IpAddr::V4(v4), None) = (ip, export.local_v6) {
            export.local_v6 = Some(v4.to_ipv6_mapped());
        }
        // Our link-local address would be sent only when the session itself runs over it.
        if let IpAddr::V6(a) = ip
            && is_link_local(a)
        {
            export.link_local_v6 = Some(a);
        }
        self.peer = Some(self.shared.lock().peer_up(export));
        self.wake.notify_one();
    }

    /// The session left Established: the rib forgets what this peer was sent.
    pub(crate) fn down(&mut self) {
        if let Some(id) = self.peer.take() {
            self.shared.lock().peer_down(id);
        }
    }

    /// The peer asked for a route refresh (RFC 2918 subtype 0; RFC 7313 BoRR/EoRR from the
    /// peer frame its own resend and ask nothing of us).
    pub(crate) fn refresh(&mut self, family: Family, subtype: u8) {
        if let (Some(id), 0) = (self.peer, subtype) {
            self.shared.lock().route_refresh(id, family);
            self.wake.notify_one();
        }
    }

    /// Up to `budget` bytes (at most [`POLL_CHUNK`]) of what the rib has for the peer, in
    /// order: runs of UPDATEs as one buffer of whole messages, and the RFC 7313 BoRR/EoRR
    /// markers as ROUTE-REFRESH requests; `None` when nothing is pending.
    pub(crate) fn poll(&mut self, budget: usize) -> Option<Vec<Outgoing>> {
        let id = self.peer?;
        let msgs = self.shared.lock().poll_updates(id, budget.min(POLL_CHUNK));
        if msgs.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        let mut run = BytesMut::new();
        for m in msgs {
            if m.get(18) == Some(&ROUTE_REFRESH) {
                if let Ok(Message::RouteRefresh(r)) = Message::decode(m, &DecodeContext::default())
                {
                    if !run.is_empty() {
                        out.push(Outgoing::Updates(run.split().freeze()));
                    }
                    out.push(Outgoing::Refresh(r.family, r.subtype));
                }
            } else {
                run.extend_from_slice(&m);
            }
        }
        if !run.is_empty() {
            out.push(Outgoing::Updates(run.freeze()));
        }
        Some(out)
    }

    /// Wakes the driver again later when the rib still has something for it.
    pub(crate) fn rearm(&self) {
        if let Some(id) = self.peer
            && self.shared.lock().has_pending(id)
        {
            self.wake.notify_one();
        }
    }
}

impl Drop for ExportLink {
    fn drop(&mut self) {
        self.down();
    }
}

fn peer_id(rib: &Rib, name: &str) -> Option<PeerId> {
    rib.peer_ids()
        .into_iter()
        .find(|id| rib.peer_export(*id).is_some_and(|e| e.name == name))
}

fn is_link_local(a: Ipv6Addr) -> bool {
    // RFC 4291 §2.5.6: fe80::/10.
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The announce API. Every call changes the API source's desired set (the configuration's
/// `[[announce]]` tables are a separate source that wins for a prefix both announce) and
/// returns once the rib holds the change; every Established peer the route selects then gets
/// it as fast as its connection takes it. Peers that come up later get the whole set.
impl Speaker {
    async fn with_rib<R: Send + 'static>(
        &self,
        heavy: bool,
        f: impl FnOnce(&mut Rib) -> R + Send + 'static,
        changed: fn(&R) -> bool,
    ) -> R {
        let shared = self.exports.clone();
        let r = if heavy {
            // Large bulk calls: off the async workers.
            tokio::task::spawn_blocking(move || shared.change(f, changed))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
        } else {
            shared.change(f, changed)
        };
        if changed(&r)
            && let Some((w, _)) = &self.state
        {
            // `[state] path`: written after a short coalescing delay.
            w.changed();
        }
        r
    }

    /// Writes the state file (`[state] path`) now when the API's announcements changed
    /// since the last write; a no-op without a state file. (Changes are written anyway
    /// after [`crate::state::COALESCE`]; this is for callers that need it on disk now.)
    pub async fn flush_state(&self) -> std::io::Result<()> {
        match &self.state {
            Some((w, _)) => {
                let w = w.clone();
                tokio::task::spawn_blocking(move || w.write_if_dirty())
                    .await
                    .map_err(std::io::Error::other)?
            }
            None => Ok(()),
        }
    }

    /// Announces `prefix` with `adv` (replacing the API's previous advertisement of it).
    /// Returns true when that changed anything.
    pub async fn announce(&self, prefix: IpNet, adv: Advertisement) -> bool {
        self.with_rib(false, move |r| r.announce(Source::Api, prefix, adv), |c| *c)
            .await
    }

    /// Withdraws the API's announcement of `prefix`. Returns true when there was one.
    pub async fn withdraw(&self, prefix: IpNet) -> bool {
        self.with_rib(false, move |r| r.withdraw(Source::Api, prefix), |c| *c)
            .await
    }

    /// Replaces the API's whole set atomically: prefixes not in `routes` are withdrawn, the
    /// others announced as given (a later pair for the same prefix wins). Returns how many
    /// prefixes changed.
    pub async fn set(&self, routes: Vec<(IpNet, Advertisement)>) -> usize {
        let heavy = routes.len() > BLOCKING_BULK;
        self.with_rib(heavy, move |r| r.set(Source::Api, routes), |n| *n > 0)
            .await
    }

    /// Announces many prefixes with one advertisement (the fast bulk path: the attribute
    /// set is interned once). Returns how many prefixes changed.
    pub async fn announce_all(&self, prefixes: Vec<IpNet>, adv: Advertisement) -> usize {
        let heavy = prefixes.len() > BLOCKING_BULK;
        if heavy && prefixes.iter().all(|p| matches!(p, IpNet::V4(_))) {
            // Room for them at once rather than by doubling.
            self.exports.lock().reserve_v4(prefixes.len());
        }
        if prefixes.len() <= BULK_CHUNK {
            return self
                .with_rib(
                    heavy,
                    move |r| r.announce_all(Source::Api, prefixes, adv),
                    |n| *n > 0,
                )
                .await;
        }
        // In chunks: each chunk keeps the caller's order in the rib's slots (and so on the
        // wire), the lock is released between chunks, and Established peers start sending
        // after the first one.
        let mut n = 0;
        let mut it = prefixes.into_iter();
        loop {
            let chunk: Vec<IpNet> = it.by_ref().take(BULK_CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            let a = adv.clone();
            n += self
                .with_rib(
                    true,
                    move |r| r.announce_all(Source::Api, chunk, a),
                    |n| *n > 0,
                )
                .await;
        }
        n
    }

    /// Announces many (prefix, advertisement) pairs in one call. Returns how many changed.
    pub async fn announce_many(&self, routes: Vec<(IpNet, Advertisement)>) -> usize {
        let heavy = routes.len() > BLOCKING_BULK;
        self.with_rib(
            heavy,
            move |r| r.announce_many(Source::Api, routes),
            |n| *n > 0,
        )
        .await
    }

    /// Withdraws many prefixes in one call. Returns how many the API had announced.
    pub async fn withdraw_many(&self, prefixes: Vec<IpNet>) -> usize {
        let heavy = prefixes.len() > BLOCKING_BULK;
        self.with_rib(
            heavy,
            move |r| r.withdraw_many(Source::Api, prefixes),
            |n| *n > 0,
        )
        .await
    }

    /// Every announced prefix with its effective advertisement (configuration first, then
    /// the API), in no particular order.
    pub fn announced(&self) -> Vec<(IpNet, Advertisement)> {
        self.exports
            .lock()
            .routes()
            .into_iter()
            .map(|(p, a)| (p, a.clone()))
            .collect()
    }

    /// Number of announced prefixes (all sources).
    pub fn announced_count(&self) -> usize {
        self.exports.lock().len()
    }

    /// What the peer named `peer` has been sent (its Adj-RIB-Out: prefix → exported
    /// attributes), while Established; `None` otherwise.
    pub fn advertised(&self, peer: &str) -> Option<Vec<(IpNet, Vec<PathAttribute>)>> {
        let rib = self.exports.lock();
        let id = peer_id(&rib, peer)?;
        Some(
            rib.adj_rib_out(id)
                .into_iter()
                .map(|(p, a)| (p, a.to_vec()))
                .collect(),
        )
    }

    /// How many prefixes the peer named `peer` has from us, while Established.
    pub fn advertised_count(&self, peer: &str) -> Option<usize> {
        let rib = self.exports.lock();
        let s = rib.peer_stats(peer_id(&rib, peer)?)?;
        Some(s.advertised_v4 + s.advertised_v6)
    }
}
