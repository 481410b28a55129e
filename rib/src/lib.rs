//! The Adj-RIB-Out of speakerd: desired routes in, per-peer UPDATE messages out.
//!
//! # Contract
//!
//! * **Pure.** No I/O, no clock, no async, no global state: the runtime calls in
//!   and takes bytes out. The same calls always give the same bytes.
//! * **Desired state.** Each [`Source`] (configuration, API) owns a set of
//!   announcements, prefix → [`Advertisement`]. [`Rib::announce`],
//!   [`Rib::withdraw`] and [`Rib::set`] (replace a source's whole set, MetalLB's
//!   `Set`) are idempotent: repeating one changes nothing and sends nothing.
//!   The effective route of a prefix is the one of the first source in
//!   [`Source::ALL`] that announces it.
//! * **Per-peer export** ([`export_attributes`]): eBGP gets our AS prepended
//!   (AS_TRANS + AS4_PATH for a 2-octet peer, RFC 6793), iBGP an empty AS_PATH
//!   and LOCAL_PREF (100 unless set); next hop self unless explicit; only
//!   negotiated families; IPv6 in MP_REACH_NLRI with global (+ link-local on a
//!   shared link); IPv4 with an IPv6 next hop in MP_REACH_NLRI when RFC 8950 was
//!   negotiated. [`PeerSelection`] restricts a route to named peers.
//! * **Differences only, packed.** Each peer remembers what it was sent
//!   (prefix → exported attribute set) and which prefixes changed since (a
//!   dirty set; the latest desired state wins, so a prefix announced and
//!   withdrawn before it was sent produces nothing). [`Rib::poll_updates`]
//!   turns pending differences into UPDATEs with the bgp-wire packer: prefixes
//!   sharing an attribute set share messages, withdrawals are packed too, and no
//!   message exceeds the peer's maximum size.
//! * **Backpressure without queues.** Nothing is encoded until the runtime asks
//!   with a byte budget (when its socket has room). A poll returns at most
//!   `budget` bytes (or one message when the budget is smaller than that), and
//!   what is left stays as dirty marks, not as bytes: memory does not grow with
//!   a slow peer.
//! * **Sessions.** [`Rib::peer_up`] starts a full initial sync followed by one
//!   End-of-RIB per negotiated family (RFC 4724); [`Rib::peer_down`] drops the
//!   peer's view; [`Rib::route_refresh`] resends the whole view of a family
//!   (framed by BoRR/EoRR with enhanced route refresh, RFC 7313).
//! * **Compact.** Attribute sets are interned (a million prefixes with one set
//!   store it once; each peer caches its exported version per set). A prefix is
//!   a dense slot: an IPv4 prefix costs about 8 bytes of key, 5–10 of hash
//!   index, 4 per source and 4 per up peer.
//! * **Prefixes are normalised**: host bits are cleared (`192.0.2.7/24` is
//!   `192.0.2.0/24`).
//!
//! # How the runtime drives it
//!
//! | event | call |
//! | --- | --- |
//! | configuration loaded or reloaded | [`Rib::set`]`(Source::Config, routes)` |
//! | API request | [`Rib::announce`] / [`Rib::withdraw`] / [`Rib::set`] with [`Source::Api`] |
//! | session Established | [`Rib::peer_up`]`(`[`PeerExport::from_negotiated`]`(..))`, keep the [`PeerId`] |
//! | after any change | wake the writers of [`Rib::peers_with_pending`] |
//! | socket writable and [`Rib::has_pending`] | write [`Rib::poll_updates`]`(id, room)`, in order |
//! | ROUTE-REFRESH received (subtype 0) | [`Rib::route_refresh`]`(id, family)` |
//! | session left Established | [`Rib::peer_down`]`(id)` |
//!
//! # Example
//!
//! ```
//! use rib::{Advertisement, PeerExport, Rib, Source};
//! use bgp_wire::{DecodeContext, Message};
//!
//! let mut rib = Rib::new();
//! rib.announce(Source::Api, "203.0.113.100/32".parse().unwrap(), Advertisement::new());
//!
//! let mut peer = PeerExport::new("router", 64512, 64513); // eBGP, IPv4 unicast
//! peer.local_v4 = Some("192.0.2.1".parse().unwrap());
//! let id = rib.peer_up(peer);
//!
//! let msgs = rib.poll_updates(id, 64 * 1024);
//! assert_eq!(msgs.len(), 2); // the route, then End-of-RIB
//! let Message::Update(u) = Message::decode(msgs[0].clone(), &DecodeContext::default()).unwrap()
//! else { panic!() };
//! assert_eq!(u.nlri[0].prefix.to_string(), "203.0.113.100/32");
//! assert_eq!(u.next_hop().unwrap().to_string(), "192.0.2.1");
//! assert_eq!(u.as_path().unwrap().to_string(), "64512");
//!
//! // Idempotent: the same announcement again sends nothing.
//! rib.announce(Source::Api, "203.0.113.100/32".parse().unwrap(), Advertisement::new());
//! assert!(rib.poll_updates(id, 64 * 1024).is_empty());
//!
//! // Withdraw: one UPDATE with the prefix in withdrawn routes.
//! rib.withdraw(Source::Api, "203.0.113.100/32".parse().unwrap());
//! let msgs = rib.poll_updates(id, 64 * 1024);
//! let Message::Update(u) = Message::decode(msgs[0].clone(), &DecodeContext::default()).unwrap()
//! else { panic!() };
//! assert_eq!(u.withdrawn[0].prefix.to_string(), "203.0.113.100/32");
//! ```
#![forbid(unsafe_code)]

mod advert;
mod export;
mod peer;
mod table;

use std::sync::Arc;

use bgp_wire::{Bytes, Family, IpNet, PathAttribute};

pub use advert::{Advertisement, NextHop, PeerSelection, Source};
pub use export::{DEFAULT_LOCAL_PREF, PeerExport, export_attributes};

use advert::Interner;
use peer::{Budget, Peer, pump, pump_ctrl};
use table::{K4, K6, Key, Table};

/// A handle to an up peer, returned by [`Rib::peer_up`]. Stale handles (after
/// [`Rib::peer_down`]) are ignored by every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(u32, u32);

/// Counters for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerStats {
    /// IPv4 prefixes the peer currently has from us.
    pub advertised_v4: usize,
    /// IPv6 prefixes the peer currently has from us.
    pub advertised_v6: usize,
    /// Distinct exported attribute sets in use for the peer.
    pub attribute_sets: usize,
    /// True while something (routes, End-of-RIB, refresh markers) waits to be sent.
    pub pending: bool,
}

/// The Adj-RIB-Out: desired routes of every source and every up peer's view.
#[derive(Debug)]
pub struct Rib {
    v4: Table<K4>,
    v6: Table<K6>,
    attrs: Interner,
    peers: Vec<Option<Peer>>,
    generations: Vec<u32>,
    last: Option<(Arc<Advertisement>, Advertisement)>,
    routes: usize,
}

impl Default for Rib {
    fn default() -> Self {
        Rib::new()
    }
}

impl Rib {
    /// An empty rib with no peers.
    pub fn new() -> Rib {
        Rib {
            v4: Table::default(),
            v6: Table::default(),
            attrs: Interner::new(),
            peers: Vec::new(),
            generations: Vec::new(),
            last: None,
            routes: 0,
        }
    }

    /// Reserves room for `n` more IPv4 prefixes.
    pub fn reserve_v4(&mut self, n: usize) {
        self.v4.reserve(n);
    }

    // ----- desired state -----

    /// Announces `prefix` with `adv` on behalf of `source` (replacing what that
    /// source had for it). Returns true when the source's entry changed.
    pub fn announce(&mut self, source: Source, prefix: IpNet, adv: Advertisement) -> bool {
        let arc = self.intern_arc(adv);
        let id = self.attrs.acquire(&arc);
        self.set_entry(source, prefix, id)
    }

    /// Announces many prefixes with one advertisement. Returns how many entries changed.
    pub fn announce_all(
        &mut self,
        source: Source,
        prefixes: impl IntoIterator<Item = IpNet>,
        adv: Advertisement,
    ) -> usize {
        let arc = self.intern_arc(adv);
        let id = self.attrs.acquire(&arc);
        let si = source.index();
        let mut k4 = Vec::new();
        let mut k6 = Vec::new();
        for p in prefixes {
            match p {
                IpNet::V4(p) => k4.push(K4::new(p)),
                IpNet::V6(p) => k6.push(K6::new(p)),
            }
        }
        let mut n = 0;
        for k in self.v4.bulk_order(k4) {
            self.attrs.retain(id);
            let s = self.v4.get_or_insert(k).0;
            n += usize::from(self.set_slot::<false>(si, s, id));
        }
        for k in self.v6.bulk_order(k6) {
            self.attrs.retain(id);
            let s = self.v6.get_or_insert(k).0;
            n += usize::from(self.set_slot::<true>(si, s, id));
        }
        self.release_attr(id);
        n
    }

    /// Announces many (prefix, advertisement) pairs. Returns how many entries changed.
    pub fn announce_many(
        &mut self,
        source: Source,
        routes: impl IntoIterator<Item = (IpNet, Advertisement)>,
    ) -> usize {
        routes
            .into_iter()
            .map(|(p, a)| usize::from(self.announce(source, p, a)))
            .sum()
    }

    /// Withdraws `source`'s announcement of `prefix`. Returns true when it had one.
    pub fn withdraw(&mut self, source: Source, prefix: IpNet) -> bool {
        self.set_entry(source, prefix, 0)
    }

    /// Withdraws many prefixes. Returns how many entries existed.
    pub fn withdraw_many(
        &mut self,
        source: Source,
        prefixes: impl IntoIterator<Item = IpNet>,
    ) -> usize {
        prefixes
            .into_iter()
            .map(|p| usize::from(self.withdraw(source, p)))
            .sum()
    }

    /// Replaces `source`'s whole desired set with `routes` (a later pair for the
    /// same prefix wins). Prefixes not listed are withdrawn. Returns how many
    /// entries changed.
    pub fn set(
        &mut self,
        source: Source,
        routes: impl IntoIterator<Item = (IpNet, Advertisement)>,
    ) -> usize {
        let si = source.index();
        let mut keep4 = vec![false; self.v4.slots()];
        let mut keep6 = vec![false; self.v6.slots()];
        let mut n = 0;
        for (p, a) in routes {
            n += usize::from(self.announce(source, p, a));
            match p {
                IpNet::V4(p) => mark_keep(&self.v4, &mut keep4, K4::new(p)),
                IpNet::V6(p) => mark_keep(&self.v6, &mut keep6, K6::new(p)),
            }
        }
        let drop4: Vec<u32> = (0..self.v4.slots() as u32)
            .filter(|&s| {
                self.v4.src[s as usize][si] != 0 && !keep4.get(s as usize).copied().unwrap_or(false)
            })
            .collect();
        let drop6: Vec<u32> = (0..self.v6.slots() as u32)
            .filter(|&s| {
                self.v6.src[s as usize][si] != 0 && !keep6.get(s as usize).copied().unwrap_or(false)
            })
            .collect();
        for s in drop4 {
            n += usize::from(self.set_slot::<false>(si, s, 0));
        }
        for s in drop6 {
            n += usize::from(self.set_slot::<true>(si, s, 0));
        }
        n
    }

    /// The effective advertisement of `prefix` (after source precedence).
    pub fn desired(&self, prefix: IpNet) -> Option<&Advertisement> {
        let id = match prefix {
            IpNet::V4(p) => self.v4.find(&K4::new(p)).map(|s| self.v4.effective(s)),
            IpNet::V6(p) => self.v6.find(&K6::new(p)).map(|s| self.v6.effective(s)),
        }?;
        self.attrs.get(id).map(|a| a.as_ref())
    }

    /// `source`'s own advertisement of `prefix`.
    pub fn desired_by(&self, source: Source, prefix: IpNet) -> Option<&Advertisement> {
        let id = match prefix {
            IpNet::V4(p) => self
                .v4
                .find(&K4::new(p))
                .map(|s| self.v4.src[s as usize][source.index()]),
            IpNet::V6(p) => self
                .v6
                .find(&K6::new(p))
                .map(|s| self.v6.src[s as usize][source.index()]),
        }?;
        self.attrs.get(id).map(|a| a.as_ref())
    }

    /// Every prefix with an effective route and its advertisement (slot order).
    pub fn routes(&self) -> Vec<(IpNet, &Advertisement)> {
        let mut out = Vec::new();
        collect_routes(&self.v4, &self.attrs, &mut out);
        collect_routes(&self.v6, &self.attrs, &mut out);
        out
    }

    /// Number of prefixes with an effective route.
    pub fn len(&self) -> usize {
        self.routes
    }

    /// True when nothing is announced.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Distinct attribute sets stored.
    pub fn attribute_sets(&self) -> usize {
        self.attrs.len()
    }

    /// Approximate heap bytes of the prefix tables and peer views (the
    /// attribute sets themselves are not counted; they are few).
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes()
            + self.v6.heap_bytes()
            + self
                .peers
                .iter()
                .flatten()
                .map(Peer::heap_bytes)
                .sum::<usize>()
    }

    // ----- peers -----

    /// A session reached Established: its view starts empty and a full sync is
    /// pending (then End-of-RIB for each negotiated family).
    pub fn peer_up(&mut self, export: PeerExport) -> PeerId {
        let peer = Peer::new(export);
        let i = match self.peers.iter().position(Option::is_none) {
            Some(i) => {
                self.peers[i] = Some(peer);
                i
            }
            None => {
                self.peers.push(Some(peer));
                self.generations.push(0);
                self.peers.len() - 1
            }
        };
        self.generations[i] = self.generations[i].wrapping_add(1);
        PeerId(i as u32, self.generations[i])
    }

    /// The session went down: forget what it was sent.
    pub fn peer_down(&mut self, id: PeerId) {
        let Some(i) = self.index(id) else { return };
        self.peers[i] = None;
        // Prefixes kept only because this peer still had them can go now.
        let c4: Vec<u32> = (0..self.v4.slots() as u32)
            .filter(|&s| self.v4.effective(s) == 0 && self.v4.is_live(s))
            .collect();
        for s in c4 {
            self.try_free::<false>(s);
        }
        let c6: Vec<u32> = (0..self.v6.slots() as u32)
            .filter(|&s| self.v6.effective(s) == 0 && self.v6.is_live(s))
            .collect();
        for s in c6 {
            self.try_free::<true>(s);
        }
    }

    /// The peer asked for a route refresh of `family` (RFC 2918): its whole view
    /// of that family is sent again; with enhanced route refresh (RFC 7313)
    /// between BoRR and EoRR.
    pub fn route_refresh(&mut self, id: PeerId, family: Family) {
        if let Some(i) = self.index(id)
            && let Some(p) = self.peers[i].as_mut()
        {
            p.route_refresh(family);
        }
    }

    /// The export settings of an up peer.
    pub fn peer_export(&self, id: PeerId) -> Option<&PeerExport> {
        Some(&self.peers[self.index(id)?].as_ref()?.core.export)
    }

    /// True when the peer has something to send (call [`Rib::poll_updates`]).
    pub fn has_pending(&self, id: PeerId) -> bool {
        self.index(id)
            .and_then(|i| self.peers[i].as_ref())
            .is_some_and(Peer::has_pending)
    }

    /// Every up peer with something to send, e.g. to wake their writers after a
    /// change of the desired state.
    pub fn peers_with_pending(&self) -> Vec<PeerId> {
        self.peers
            .iter()
            .enumerate()
            .filter(|(_, p)| p.as_ref().is_some_and(Peer::has_pending))
            .map(|(i, _)| PeerId(i as u32, self.generations[i]))
            .collect()
    }

    /// Every up peer.
    pub fn peer_ids(&self) -> Vec<PeerId> {
        self.peers
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_some())
            .map(|(i, _)| PeerId(i as u32, self.generations[i]))
            .collect()
    }

    /// Counters for an up peer.
    pub fn peer_stats(&self, id: PeerId) -> Option<PeerStats> {
        let p = self.peers[self.index(id)?].as_ref()?;
        Some(PeerStats {
            advertised_v4: p.v4.advertised,
            advertised_v6: p.v6.advertised,
            attribute_sets: p.core.blocks.len(),
            pending: p.has_pending(),
        })
    }

    /// What the peer has been sent: prefix → exported attributes (MP_REACH_NLRI
    /// with an empty NLRI list where used).
    pub fn adj_rib_out(&self, id: PeerId) -> Vec<(IpNet, &[PathAttribute])> {
        let mut out = Vec::new();
        let Some(p) = self.index(id).and_then(|i| self.peers[i].as_ref()) else {
            return out;
        };
        view(&self.v4, p, false, &mut out);
        view(&self.v6, p, true, &mut out);
        out
    }

    /// Up to `budget` bytes of UPDATEs (and End-of-RIB / refresh markers) for the
    /// peer, in order; at least one message when anything is pending, even if
    /// it is larger than the budget. Empty when nothing is pending (also when
    /// [`Rib::has_pending`] said yes but the pending changes cancelled out). Call
    /// when the socket has room; what does not fit stays pending as dirty prefixes.
    pub fn poll_updates(&mut self, id: PeerId, budget: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        let Some(i) = self.index(id) else { return out };
        let Some(p) = self.peers[i].as_mut() else {
            return out;
        };
        let mut b = Budget {
            used: 0,
            limit: budget,
        };
        let mut freed4 = Vec::new();
        let mut freed6 = Vec::new();
        let _ = pump_ctrl(&mut p.core, &mut b, &mut out)
            && pump(
                &self.v4,
                &self.attrs,
                &mut p.core,
                &mut p.v4,
                &mut b,
                &mut out,
                &mut freed4,
            )
            && pump(
                &self.v6,
                &self.attrs,
                &mut p.core,
                &mut p.v6,
                &mut b,
                &mut out,
                &mut freed6,
            );
        for s in freed4 {
            self.try_free::<false>(s);
        }
        for s in freed6 {
            self.try_free::<true>(s);
        }
        out
    }

    // ----- internals -----

    fn index(&self, id: PeerId) -> Option<usize> {
        let i = id.0 as usize;
        (self.generations.get(i) == Some(&id.1) && self.peers.get(i)?.is_some()).then_some(i)
    }

    /// The shared `Arc` for an advertisement (reusing the last one when equal).
    fn intern_arc(&mut self, adv: Advertisement) -> Arc<Advertisement> {
        if let Some((arc, raw)) = &self.last
            && *raw == adv
        {
            return arc.clone();
        }
        let arc = Arc::new(adv.clone().normalised());
        self.last = Some((arc.clone(), adv));
        arc
    }

    /// Sets `source`'s entry for `prefix` to interned `id` (0 = withdraw),
    /// consuming one reference to `id`.
    fn set_entry(&mut self, source: Source, prefix: IpNet, id: u32) -> bool {
        let si = source.index();
        match prefix {
            IpNet::V4(p) => {
                let k = K4::new(p);
                let slot = if id == 0 {
                    self.v4.find(&k)
                } else {
                    Some(self.v4.get_or_insert(k).0)
                };
                match slot {
                    Some(s) => self.set_slot::<false>(si, s, id),
                    None => false,
                }
            }
            IpNet::V6(p) => {
                let k = K6::new(p);
                let slot = if id == 0 {
                    self.v6.find(&k)
                } else {
                    Some(self.v6.get_or_insert(k).0)
                };
                match slot {
                    Some(s) => self.set_slot::<true>(si, s, id),
                    None => false,
                }
            }
        }
    }

    fn set_slot<const V6: bool>(&mut self, si: usize, slot: u32, id: u32) -> bool {
        let (old, before, after) = {
            let t = if V6 {
                &mut self.v6.src
            } else {
                &mut self.v4.src
            };
            let e = &mut t[slot as usize];
            let before = e.iter().copied().find(|&x| x != 0).unwrap_or(0);
            let old = std::mem::replace(&mut e[si], id);
            let after = e.iter().copied().find(|&x| x != 0).unwrap_or(0);
            (old, before, after)
        };
        if old == id {
            // Unchanged: give back the reference the caller passed in.
            if id != 0 {
                self.release_attr(id);
            }
            return false;
        }
        if before == 0 && after != 0 {
            self.routes += 1;
        } else if before != 0 && after == 0 {
            self.routes -= 1;
        }
        if before != after {
            for p in self.peers.iter_mut().flatten() {
                p.fam_mut(V6).mark(slot);
            }
        }
        if old != 0 {
            self.release_attr(old);
        }
        if after == 0 {
            self.try_free::<V6>(slot);
        }
        true
    }

    fn release_attr(&mut self, id: u32) {
        if self.attrs.release(id) {
            for p in self.peers.iter_mut().flatten() {
                p.forget_attr(id);
            }
        }
    }

    /// Frees a slot nobody announces and no peer holds.
    fn try_free<const V6: bool>(&mut self, slot: u32) {
        let eff = if V6 {
            self.v6.effective(slot)
        } else {
            self.v4.effective(slot)
        };
        if eff != 0 {
            return;
        }
        if self
            .peers
            .iter()
            .flatten()
            .any(|p| p.fam(V6).sent(slot) != 0)
        {
            return;
        }
        for p in self.peers.iter_mut().flatten() {
            p.fam_mut(V6).unmark(slot);
        }
        if V6 {
            self.v6.free_slot(slot);
        } else {
            self.v4.free_slot(slot);
        }
    }
}

fn mark_keep<K: Key>(t: &Table<K>, keep: &mut Vec<bool>, k: K) {
    if let Some(s) = t.find(&k) {
        let s = s as usize;
        if s >= keep.len() {
            keep.resize(s + 1, false);
        }
        keep[s] = true;
    }
}

fn collect_routes<'a, K: Key>(
    t: &Table<K>,
    attrs: &'a Interner,
    out: &mut Vec<(IpNet, &'a Advertisement)>,
) {
    for s in 0..t.slots() as u32 {
        let id = t.effective(s);
        if let Some(a) = attrs.get(id) {
            out.push((t.keys[s as usize].nlri(None).prefix, a.as_ref()));
        }
    }
}

fn view<'a, K: Key>(
    t: &Table<K>,
    p: &'a Peer,
    v6: bool,
    out: &mut Vec<(IpNet, &'a [PathAttribute])>,
) {
    let f = p.fam(v6);
    for (s, &b) in f.sent.iter().enumerate() {
        if b != 0
            && let Some(Some(blk)) = p.core.blocks.list.get(b as usize)
        {
            out.push((t.keys[s].nlri(None).prefix, blk.attrs.as_slice()));
        }
    }
}
