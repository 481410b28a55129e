//! Maps received packets to sessions (RFC 5880 §6.8.6): by Your Discriminator when it is
//! nonzero, otherwise by the peer (address, interface, ... — whatever key the runtime uses).

use std::collections::HashMap;
use std::hash::Hash;

use thiserror::Error;

use crate::packet::{ControlPacket, DecodeError};

/// Why [`Demux::lookup`] found no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DemuxError {
    /// The packet fails a packet-level check.
    #[error("invalid packet: {0}")]
    Decode(#[from] DecodeError),
    /// RFC 5880 §6.8.6: a nonzero Your Discriminator that selects no session.
    #[error("no session with local discriminator {0}")]
    UnknownDiscriminator(u32),
    /// Your Discriminator is zero and no session is configured for this peer.
    #[error("no session for this peer")]
    UnknownPeer,
}

/// Session lookup table for a runtime driving many sessions. `K` is the runtime's session
/// handle, `P` its peer key (for example `(IpAddr, ifindex)` for RFC 5881 single hop).
#[derive(Debug, Clone)]
pub struct Demux<K, P> {
    by_discr: HashMap<u32, K>,
    by_peer: HashMap<P, K>,
}

impl<K, P> Default for Demux<K, P> {
    fn default() -> Self {
        Demux {
            by_discr: HashMap::new(),
            by_peer: HashMap::new(),
        }
    }
}

impl<K: Clone, P: Hash + Eq> Demux<K, P> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a session under its local discriminator and its peer key. Returns the handle
    /// previously registered under that discriminator, if any (a caller bug: discriminators
    /// must be unique).
    pub fn insert(&mut self, local_discr: u32, peer: P, key: K) -> Option<K> {
        self.by_peer.insert(peer, key.clone());
        self.by_discr.insert(local_discr, key)
    }

    /// Unregisters a session.
    pub fn remove(&mut self, local_discr: u32, peer: &P) -> Option<K> {
        self.by_peer.remove(peer);
        self.by_discr.remove(&local_discr)
    }

    /// Whether a local discriminator is taken (to pick a fresh, unique one).
    pub fn contains_discriminator(&self, local_discr: u32) -> bool {
        self.by_discr.contains_key(&local_discr)
    }

    /// Number of registered sessions.
    pub fn len(&self) -> usize {
        self.by_discr.len()
    }

    /// Whether no session is registered.
    pub fn is_empty(&self) -> bool {
        self.by_discr.is_empty()
    }

    /// The session a received payload from `peer` belongs to. The session then processes the
    /// same bytes with [`crate::Session::handle_packet`]. Never panics.
    pub fn lookup(&self, peer: &P, bytes: &[u8]) -> Result<&K, DemuxError> {
        let pkt = ControlPacket::decode(bytes)?;
        if pkt.your_discr != 0 {
            // RFC 5880 §6.8.6: a nonzero Your Discriminator selects the session.
            return self
                .by_discr
                .get(&pkt.your_discr)
                .ok_or(DemuxError::UnknownDiscriminator(pkt.your_discr));
        }
        // RFC 5880 §6.8.6: with Your Discriminator zero, select by the other fields (the peer).
        self.by_peer.get(peer).ok_or(DemuxError::UnknownPeer)
    }
}
