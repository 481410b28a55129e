//! What the user asks to announce: [`Advertisement`], its owner [`Source`], and
//! the interner that stores each distinct attribute set once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use bgp_wire::{Community, ExtendedCommunity, LargeCommunity, Origin};

/// Who owns an announcement. Each source has its own desired set (replaced as a
/// whole by [`Rib::set`](crate::Rib::set)); when several sources announce the
/// same prefix, the one that comes first in [`Source::ALL`] wins (configuration
/// over the API), deterministically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Static configuration (the TOML file). Highest precedence.
    Config = 0,
    /// The local API and adapters built on it (e.g. Kubernetes services).
    Api = 1,
}

impl Source {
    /// Every source, in precedence order (first wins).
    pub const ALL: [Source; NUM_SOURCES] = [Source::Config, Source::Api];

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Number of [`Source`]s.
pub(crate) const NUM_SOURCES: usize = 2;

/// The next hop to advertise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NextHop {
    /// Our own address on each session (RFC 4271 §5.1.3 "next hop self"): the
    /// session's local IPv4 address, or for IPv6 its global (and link-local)
    /// address. The default.
    #[default]
    SelfAddr,
    /// This address, for every peer. An IPv4 prefix with an IPv6 next hop needs
    /// RFC 8950 extended next hop on the session; an IPv6 prefix needs an IPv6 next
    /// hop. A peer for which the next hop cannot be expressed does not get the route.
    Explicit(IpAddr),
}

/// Which peers receive a route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum PeerSelection {
    /// Every peer (the default).
    #[default]
    All,
    /// Only the peers with these names ([`PeerExport::name`](crate::PeerExport::name)).
    Named(Vec<String>),
}

impl PeerSelection {
    /// True when a peer with this name receives the route.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            PeerSelection::All => true,
            PeerSelection::Named(names) => names.binary_search_by(|n| n.as_str().cmp(name)).is_ok(),
        }
    }
}

/// How one prefix is advertised, before the per-peer export rules.
///
/// Two advertisements that differ only in the order or repetition of
/// communities or peer names are the same (the set is normalised when
/// announced). An attribute set too large for one UPDATE with one prefix
/// under a peer's maximum message size (thousands of communities) is not sent
/// to that peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// The next hop (self by default).
    pub next_hop: NextHop,
    /// ORIGIN (IGP by default).
    pub origin: Origin,
    /// Standard communities (RFC 1997).
    pub communities: Vec<Community>,
    /// Extended communities (RFC 4360).
    pub extended_communities: Vec<ExtendedCommunity>,
    /// Large communities (RFC 8092).
    pub large_communities: Vec<LargeCommunity>,
    /// LOCAL_PREF, sent to iBGP peers only (100 when unset).
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// How many extra copies of our own AS to put in front of the AS_PATH (eBGP peers
    /// only: an iBGP peer would take its own AS in the path for a loop).
    pub as_path_prepend: u8,
    /// Which peers get it (all by default).
    pub peers: PeerSelection,
}

impl Default for Advertisement {
    fn default() -> Self {
        Advertisement {
            next_hop: NextHop::SelfAddr,
            origin: Origin::Igp,
            communities: Vec::new(),
            extended_communities: Vec::new(),
            large_communities: Vec::new(),
            local_pref: None,
            med: None,
            as_path_prepend: 0,
            peers: PeerSelection::All,
        }
    }
}

impl Advertisement {
    /// The defaults: next hop self, ORIGIN IGP, nothing else, all peers.
    pub fn new() -> Advertisement {
        Advertisement::default()
    }

    /// Sorted and de-duplicated lists, so equal sets compare equal.
    pub(crate) fn normalised(mut self) -> Advertisement {
        self.communities.sort_unstable();
        self.communities.dedup();
        self.extended_communities.sort_unstable();
        self.extended_communities.dedup();
        self.large_communities.sort_unstable();
        self.large_communities.dedup();
        if let PeerSelection::Named(n) = &mut self.peers {
            n.sort_unstable();
            n.dedup();
        }
        self
    }
}

/// Interned attribute sets: id 0 means "nothing"; ids are reference counted
/// (one reference per prefix and source holding the set) and reused once free.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    sets: Vec<Option<(Arc<Advertisement>, u32)>>,
    ids: HashMap<Arc<Advertisement>, u32>,
    free: Vec<u32>,
}

impl Interner {
    pub(crate) fn new() -> Interner {
        Interner {
            sets: vec![None],
            ..Default::default()
        }
    }

    /// The id of `adv` with one more reference (interning it if new).
    pub(crate) fn acquire(&mut self, adv: &Arc<Advertisement>) -> u32 {
        if let Some(&id) = self.ids.get(adv) {
            if let Some((_, refs)) = &mut self.sets[id as usize] {
                *refs += 1;
            }
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.sets.push(None);
                (self.sets.len() - 1) as u32
            }
        };
        self.sets[id as usize] = Some((adv.clone(), 1));
        self.ids.insert(adv.clone(), id);
        id
    }

    /// One more reference to an existing id.
    pub(crate) fn retain(&mut self, id: u32) {
        if let Some(Some((_, refs))) = self.sets.get_mut(id as usize) {
            *refs += 1;
        }
    }

    /// One reference less; returns true when the id was freed.
    pub(crate) fn release(&mut self, id: u32) -> bool {
        let Some(slot) = self.sets.get_mut(id as usize) else {
            return false;
        };
        let Some((adv, refs)) = slot else {
            return false;
        };
        *refs -= 1;
        if *refs > 0 {
            return false;
        }
        self.ids.remove(adv);
        *slot = None;
        self.free.push(id);
        true
    }

    pub(crate) fn get(&self, id: u32) -> Option<&Arc<Advertisement>> {
        self.sets.get(id as usize)?.as_ref().map(|(a, _)| a)
    }

    /// Number of ids ever allocated (the size of per-peer caches).
    pub(crate) fn capacity(&self) -> usize {
        self.sets.len()
    }

    /// Live distinct sets.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}
