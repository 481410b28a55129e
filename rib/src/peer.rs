//! One peer's Adj-RIB-Out: what it has been sent (slot → exported attribute
//! block), what changed since (dirty set), and the packing of differences
//! into UPDATEs within a byte budget.

use std::collections::{HashMap, VecDeque};

use bgp_wire::{
    Bytes, EncodeContext, Family, HEADER_LEN, Message, Nlri, PathAttribute, RouteRefresh, Update,
    UpdatePacker,
};

use crate::advert::Interner;
use crate::export::{PeerExport, export_attributes};
use crate::table::{Key, Table};

/// Cache entry not computed yet.
const UNSET: u32 = u32::MAX;

/// An exported attribute set as sent to one peer, with the size of an UPDATE
/// carrying it and no prefixes.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) attrs: Vec<PathAttribute>,
    fixed: usize,
    refs: u32,
}

/// Per-peer interned exported attribute sets (id 0 = not exported).
#[derive(Debug)]
pub(crate) struct Blocks {
    pub(crate) list: Vec<Option<Block>>,
    ids: HashMap<Vec<PathAttribute>, u32>,
    free: Vec<u32>,
}

impl Blocks {
    fn new() -> Blocks {
        Blocks {
            list: vec![None],
            ids: HashMap::new(),
            free: Vec::new(),
        }
    }

    /// The id of `attrs` (interned with zero references if new), or 0 when one
    /// UPDATE cannot carry it plus one prefix within `max_len`.
    fn intern(
        &mut self,
        attrs: Vec<PathAttribute>,
        ctx: &EncodeContext,
        max_len: usize,
        max_prefix: usize,
    ) -> u32 {
        if let Some(&id) = self.ids.get(&attrs) {
            return id;
        }
        let Some(fixed) = fixed_len(&attrs, ctx) else {
            return 0;
        };
        // RFC 4271 §4.3 / RFC 8654: a message never exceeds the negotiated maximum.
        if fixed + max_prefix > max_len {
            return 0;
        }
        let block = Block {
            attrs: attrs.clone(),
            fixed,
            refs: 0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.list[id as usize] = Some(block);
                id
            }
            None => {
                self.list.push(Some(block));
                (self.list.len() - 1) as u32
            }
        };
        self.ids.insert(attrs, id);
        id
    }

    fn retain(&mut self, id: u32) {
        if let Some(Some(b)) = self.list.get_mut(id as usize) {
            b.refs += 1;
        }
    }

    fn release(&mut self, id: u32) {
        let Some(slot) = self.list.get_mut(id as usize) else {
            return;
        };
        let Some(b) = slot else { return };
        b.refs -= 1;
        if b.refs == 0 {
            self.ids.remove(&b.attrs);
            *slot = None;
            self.free.push(id);
        }
    }

    fn get(&self, id: u32) -> Option<&Block> {
        self.list.get(id as usize)?.as_ref()
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Bytes of an UPDATE with these attributes and no prefixes yet: header,
/// withdrawn length, attribute length, the attributes, and for MP_REACH the
/// attribute header (extended length) and its head (AFI, SAFI, next hop, reserved).
fn fixed_len(attrs: &[PathAttribute], ctx: &EncodeContext) -> Option<usize> {
    let mut mp = 0;
    let mut rest = Vec::with_capacity(attrs.len());
    for a in attrs {
        match &a.value {
            bgp_wire::AttributeValue::MpReach(m) => mp = 4 + 3 + 1 + m.next_hop.wire_len() + 1,
            _ => rest.push(a.clone()),
        }
    }
    let msg = Message::Update(Update {
        attributes: rest,
        ..Default::default()
    });
    let ctx = EncodeContext {
        extended_message: true,
        ..ctx.clone()
    };
    let len = msg.to_bytes(&ctx).ok()?.len();
    Some(len + mp)
}

/// One family's state for one peer.
#[derive(Debug, Default)]
pub(crate) struct PeerFam {
    /// The family is negotiated: routes of it are sent.
    pub(crate) active: bool,
    /// Slot → block id sent (0 = nothing). Grows lazily.
    pub(crate) sent: Vec<u32>,
    /// Slots changed since sent (bit per slot), mirrored by `queue`.
    dirty: Vec<u64>,
    /// Bits set in `dirty`.
    dirty_count: usize,
    queue: VecDeque<u32>,
    /// A whole-view pass in progress: the next slot to visit. Every slot at or
    /// after it will be (re)sent, so changes there need no dirty mark.
    scan: Option<u32>,
    /// End-of-RIB after the current pass (initial sync only).
    eor_pending: bool,
    /// RFC 7313: BoRR before, EoRR after the current pass.
    borr_pending: bool,
    eorr_pending: bool,
    /// Prefixes currently advertised.
    pub(crate) advertised: usize,
}

impl PeerFam {
    fn new(active: bool) -> PeerFam {
        PeerFam {
            active,
            scan: active.then_some(0),
            eor_pending: active,
            ..Default::default()
        }
    }

    #[inline]
    pub(crate) fn sent(&self, slot: u32) -> u32 {
        self.sent.get(slot as usize).copied().unwrap_or(0)
    }

    #[inline]
    fn is_dirty(&self, slot: u32) -> bool {
        self.dirty
            .get(slot as usize / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// Records that the desired state of `slot` changed.
    #[inline]
    pub(crate) fn mark(&mut self, slot: u32) {
        if !self.active || self.scan.is_some_and(|c| slot >= c) {
            return;
        }
        let w = slot as usize / 64;
        if w >= self.dirty.len() {
            self.dirty.resize(w + 1, 0);
        }
        let bit = 1u64 << (slot % 64);
        if self.dirty[w] & bit == 0 {
            self.dirty[w] |= bit;
            self.dirty_count += 1;
            self.queue.push_back(slot);
        }
    }

    /// Forgets a pending change (the slot is being freed).
    pub(crate) fn unmark(&mut self, slot: u32) {
        let bit = 1u64 << (slot % 64);
        if let Some(w) = self.dirty.get_mut(slot as usize / 64)
            && *w & bit != 0
        {
            *w &= !bit;
            self.dirty_count -= 1;
        }
    }

    /// Starts a whole-view pass (peer up, route refresh).
    fn start_scan(&mut self) {
        self.scan = Some(0);
        self.queue.clear();
        self.dirty.clear();
        self.dirty_count = 0;
    }

    fn pending(&self) -> bool {
        self.active
            && (self.scan.is_some()
                || self.borr_pending
                || self.eorr_pending
                || self.eor_pending
                || self.dirty_count > 0)
    }

    fn heap_bytes(&self) -> usize {
        self.sent.capacity() * 4 + self.dirty.capacity() * 8 + self.queue.capacity() * 4
    }
}

/// A peer's session-wide state.
#[derive(Debug)]
pub(crate) struct PeerCore {
    pub(crate) export: PeerExport,
    ctx: EncodeContext,
    packer: UpdatePacker,
    /// Global attribute-set id → [IPv4 block, IPv6 block] (UNSET = not computed).
    cache: Vec<[u32; 2]>,
    pub(crate) blocks: Blocks,
    /// Negotiated families without routes here: End-of-RIB (and refresh
    /// markers) only.
    ctrl: VecDeque<Message>,
}

/// One up peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) core: PeerCore,
    pub(crate) v4: PeerFam,
    pub(crate) v6: PeerFam,
}

impl Peer {
    pub(crate) fn new(export: PeerExport) -> Peer {
        let ctx = export.encode_ctx();
        let packer = UpdatePacker::new(&ctx).with_max_len(export.max_message_len);
        let v4 = PeerFam::new(export.has_family(Family::IPV4_UNICAST));
        let v6 = PeerFam::new(export.has_family(Family::IPV6_UNICAST));
        // RFC 4724 §2: End-of-RIB for every negotiated family, also those we carry nothing for.
        let ctrl = export
            .families
            .iter()
            .filter(|f| **f != Family::IPV4_UNICAST && **f != Family::IPV6_UNICAST)
            .map(|f| Message::Update(Update::end_of_rib(*f)))
            .collect();
        Peer {
            core: PeerCore {
                export,
                ctx,
                packer,
                cache: Vec::new(),
                blocks: Blocks::new(),
                ctrl,
            },
            v4,
            v6,
        }
    }

    pub(crate) fn fam(&self, v6: bool) -> &PeerFam {
        if v6 { &self.v6 } else { &self.v4 }
    }

    pub(crate) fn fam_mut(&mut self, v6: bool) -> &mut PeerFam {
        if v6 { &mut self.v6 } else { &mut self.v4 }
    }

    /// Drops cached exports of a freed global attribute-set id.
    pub(crate) fn forget_attr(&mut self, id: u32) {
        if let Some(e) = self.core.cache.get_mut(id as usize) {
            let old = std::mem::replace(e, [UNSET; 2]);
            for b in old {
                if b != UNSET && b != 0 {
                    self.core.blocks.release(b);
                }
            }
        }
    }

    /// Route refresh (RFC 2918) / enhanced route refresh (RFC 7313 §4) for `family`.
    pub(crate) fn route_refresh(&mut self, family: Family) {
        let enhanced = self.core.export.enhanced_route_refresh;
        let fam = match family {
            Family::IPV4_UNICAST => &mut self.v4,
            Family::IPV6_UNICAST => &mut self.v6,
            f => {
                if enhanced && self.core.export.has_family(f) {
                    self.core.ctrl.push_back(rr(f, RouteRefresh::BORR));
                    self.core.ctrl.push_back(rr(f, RouteRefresh::EORR));
                }
                return;
            }
        };
        if !fam.active {
            return;
        }
        fam.start_scan();
        // RFC 7313 §4: BoRR/EoRR around the re-advertisement, once the initial
        // sync (ended by End-of-RIB) is over. A refresh already in progress
        // (EoRR not sent yet) just starts over inside the same BoRR/EoRR.
        if enhanced && !fam.eor_pending && !fam.eorr_pending {
            fam.borr_pending = true;
            fam.eorr_pending = true;
        }
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.core.ctrl.is_empty() || self.v4.pending() || self.v6.pending()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes() + self.core.cache.capacity() * 8
    }
}

fn rr(family: Family, subtype: u8) -> Message {
    Message::RouteRefresh(RouteRefresh { family, subtype })
}

impl PeerCore {
    /// The block `peer` gets for global attribute-set `id` on this family (0 = none).
    fn target(&mut self, attrs: &Interner, id: u32, v6: bool) -> u32 {
        if id == 0 {
            return 0;
        }
        let i = id as usize;
        if i >= self.cache.len() {
            self.cache.resize(attrs.capacity().max(i + 1), [UNSET; 2]);
        }
        let c = self.cache[i][usize::from(v6)];
        if c != UNSET {
            return c;
        }
        let b = match attrs.get(id) {
            Some(adv) => match export_attributes(adv, &self.export, v6) {
                Some(a) => {
                    let fam = if v6 {
                        Family::IPV6_UNICAST
                    } else {
                        Family::IPV4_UNICAST
                    };
                    let ap = if self.ctx.has_add_path(fam) { 4 } else { 0 };
                    let max_prefix = if v6 { 17 } else { 5 } + ap;
                    self.blocks
                        .intern(a, &self.ctx, self.packer.max_len(), max_prefix)
                }
                None => 0,
            },
            None => 0,
        };
        if b != 0 {
            self.blocks.retain(b);
        }
        self.cache[i][usize::from(v6)] = b;
        b
    }

    /// Encodes a control message if the budget allows.
    fn ctrl_msg(&self, m: &Message, b: &mut Budget, out: &mut Vec<Bytes>) -> bool {
        let Ok(bytes) = m.to_bytes(&self.ctx) else {
            // Nothing we can say for this family: nothing to send.
            return true;
        };
        if !b.take(bytes.len()) {
            return false;
        }
        out.push(bytes);
        true
    }
}

/// Bytes produced so far in one poll and the limit.
pub(crate) struct Budget {
    pub(crate) used: usize,
    pub(crate) limit: usize,
}

impl Budget {
    /// Takes `n` bytes if they fit (the first message of a poll always fits).
    fn take(&mut self, n: usize) -> bool {
        if self.used == 0 || self.used + n <= self.limit {
            self.used += n;
            true
        } else {
            false
        }
    }
    fn fits(&self, n: usize) -> bool {
        self.used == 0 || self.used + n <= self.limit
    }
}

/// Prefixes of one attribute block (0 = withdrawals) waiting in the open message.
struct Group {
    block: u32,
    slots: Vec<u32>,
    /// Prefix bytes in the open message (0 with no open message).
    used: usize,
    fixed: usize,
}

/// Sends pending control messages of families without routes.
pub(crate) fn pump_ctrl(core: &mut PeerCore, b: &mut Budget, out: &mut Vec<Bytes>) -> bool {
    while let Some(m) = core.ctrl.front() {
        if !core.ctrl_msg(m, b, out) {
            return false;
        }
        core.ctrl.pop_front();
    }
    true
}

/// Moves as much of one family's pending work as the budget allows into
/// `out`. Returns false when the budget ran out. Slots whose route is gone
/// everywhere after this are pushed on `freed` for the caller to check.
pub(crate) fn pump<K: Key>(
    table: &Table<K>,
    attrs: &Interner,
    core: &mut PeerCore,
    fam: &mut PeerFam,
    b: &mut Budget,
    out: &mut Vec<Bytes>,
    freed: &mut Vec<u32>,
) -> bool {
    if !fam.active {
        return true;
    }
    let family = if K::V6 {
        Family::IPV6_UNICAST
    } else {
        Family::IPV4_UNICAST
    };
    if fam.borr_pending {
        if !core.ctrl_msg(&rr(family, RouteRefresh::BORR), b, out) {
            return false;
        }
        fam.borr_pending = false;
    }
    let mut p = Packing::new(core, K::V6, family);
    let mut done = true;
    // The whole-view pass first, then the changes queued behind it.
    if let Some(start) = fam.scan {
        let end = table.slots() as u32;
        let mut s = start;
        while s < end {
            let target = p.core.target(attrs, table.effective(s), K::V6);
            let cur = fam.sent(s);
            // Kept current so a change re-marked while flushing lands in the queue.
            fam.scan = Some(s);
            if (target != 0 || cur != 0) && !p.add(table, fam, s, target, b, out, freed) {
                done = false;
                break;
            }
            s += 1;
        }
        fam.scan = Some(s);
        if done {
            fam.scan = None;
        }
    }
    if done {
        while let Some(&s) = fam.queue.front() {
            if !fam.is_dirty(s) {
                fam.queue.pop_front();
                continue;
            }
            let target = p.core.target(attrs, table.effective(s), K::V6);
            let cur = fam.sent(s);
            if target == cur {
                fam.unmark(s);
                fam.queue.pop_front();
                if cur == 0 && table.effective(s) == 0 {
                    freed.push(s);
                }
                continue;
            }
            if !p.add(table, fam, s, target, b, out, freed) {
                done = false;
                break;
            }
            fam.unmark(s);
            fam.queue.pop_front();
        }
    }
    p.flush_all(table, fam, out, freed);
    if !done {
        return false;
    }
    let core = p.core;
    if fam.eor_pending {
        // RFC 4724 §2: End-of-RIB once the initial update is complete.
        if !core.ctrl_msg(&Message::Update(Update::end_of_rib(family)), b, out) {
            return false;
        }
        fam.eor_pending = false;
    }
    if fam.eorr_pending {
        // RFC 7313 §4: EoRR after the re-advertisement.
        if !core.ctrl_msg(&rr(family, RouteRefresh::EORR), b, out) {
            return false;
        }
        fam.eorr_pending = false;
    }
    true
}

/// Open messages of one family being filled.
struct Packing<'a> {
    core: &'a mut PeerCore,
    groups: Vec<Group>,
    index: HashMap<u32, usize>,
    last: usize,
    path_id: Option<u32>,
    ap: usize,
    nlri: Vec<Nlri>,
    withdraw_fixed: usize,
}

impl<'a> Packing<'a> {
    fn new(core: &'a mut PeerCore, v6: bool, family: Family) -> Packing<'a> {
        let ap = core.ctx.has_add_path(family);
        Packing {
            core,
            groups: Vec::new(),
            index: HashMap::new(),
            last: usize::MAX,
            path_id: ap.then_some(1),
            ap: if ap { 4 } else { 0 },
            nlri: Vec::new(),
            // Header, withdrawn length, attribute length; for IPv6 an
            // MP_UNREACH_NLRI (extended-length header and AFI/SAFI).
            withdraw_fixed: HEADER_LEN + 4 + if v6 { 4 + 3 } else { 0 },
        }
    }

    /// Adds one slot's change (announce `target`, or withdraw when 0) if the
    /// budget allows; flushes the group's message when the slot does not fit it.
    #[allow(clippy::too_many_arguments)]
    fn add<K: Key>(
        &mut self,
        table: &Table<K>,
        fam: &mut PeerFam,
        slot: u32,
        target: u32,
        b: &mut Budget,
        out: &mut Vec<Bytes>,
        freed: &mut Vec<u32>,
    ) -> bool {
        let gi = if self.last < self.groups.len() && self.groups[self.last].block == target {
            self.last
        } else if let Some(&g) = self.index.get(&target) {
            g
        } else {
            let fixed = if target == 0 {
                self.withdraw_fixed
            } else {
                self.core.blocks.get(target).map_or(0, |b| b.fixed)
            };
            self.groups.push(Group {
                block: target,
                slots: Vec::new(),
                used: 0,
                fixed,
            });
            self.index.insert(target, self.groups.len() - 1);
            self.groups.len() - 1
        };
        self.last = gi;
        let l = table.keys[slot as usize].wire_len() + self.ap;
        let max_len = self.core.packer.max_len();
        let g = &self.groups[gi];
        let fits_open = g.used > 0 && g.fixed + g.used + l <= max_len;
        let cost = if fits_open { l } else { g.fixed + l };
        if !b.fits(cost) {
            return false;
        }
        b.take(cost);
        if !fits_open && self.groups[gi].used > 0 {
            self.flush(gi, table, fam, out, freed);
        }
        let g = &mut self.groups[gi];
        g.slots.push(slot);
        g.used += l;
        true
    }

    /// Packs the group's open message and records what the peer now has.
    fn flush<K: Key>(
        &mut self,
        gi: usize,
        table: &Table<K>,
        fam: &mut PeerFam,
        out: &mut Vec<Bytes>,
        freed: &mut Vec<u32>,
    ) {
        let g = &mut self.groups[gi];
        if g.slots.is_empty() {
            return;
        }
        self.nlri.clear();
        self.nlri.extend(
            g.slots
                .iter()
                .map(|&s| table.keys[s as usize].nlri(self.path_id)),
        );
        let msgs = if g.block == 0 {
            self.core.packer.withdraw(&self.nlri)
        } else {
            let attrs = self
                .core
                .blocks
                .get(g.block)
                .map(|b| b.attrs.as_slice())
                .unwrap_or_default();
            self.core.packer.announce(attrs, &self.nlri)
        };
        match msgs {
            Ok(m) => {
                debug_assert_eq!(m.len(), 1);
                debug_assert_eq!(m.iter().map(Bytes::len).sum::<usize>(), g.fixed + g.used);
                out.extend(m);
            }
            // Blocks are size-checked when interned, so this is unreachable in
            // practice; the prefixes stay as they were and are retried later.
            Err(_) => {
                for &s in &g.slots {
                    fam.mark(s);
                }
                g.slots.clear();
                g.used = 0;
                return;
            }
        }
        let new = g.block;
        if fam.sent.len() < table.slots() {
            fam.sent.resize(table.slots(), 0);
        }
        for &s in &g.slots {
            let old = std::mem::replace(&mut fam.sent[s as usize], new);
            if old != 0 {
                self.core.blocks.release(old);
                fam.advertised -= 1;
            }
            if new != 0 {
                self.core.blocks.retain(new);
                fam.advertised += 1;
            } else if table.effective(s) == 0 {
                freed.push(s);
            }
        }
        g.slots.clear();
        g.used = 0;
    }

    fn flush_all<K: Key>(
        &mut self,
        table: &Table<K>,
        fam: &mut PeerFam,
        out: &mut Vec<Bytes>,
        freed: &mut Vec<u32>,
    ) {
        for gi in 0..self.groups.len() {
            self.flush(gi, table, fam, out, freed);
        }
    }
}
