//! The coupling of a BGP session to its BFD session (RFC 5882 §3.2), behind a small trait so
//! the driver can be tested with a fake BFD.

use std::any::Any;
use std::io;

use tokio::sync::watch;

use crate::bfd::{BfdRuntime, BfdSessionSpec, BfdStatus};

/// Something that creates BFD sessions: [`BfdRuntime`], or a fake in tests.
pub trait BfdProvider: Send + Sync + 'static {
    /// Creates a BFD session and returns its status channel and a guard: dropping the guard
    /// removes the session (AdminDown to the peer).
    fn add_session(&self, spec: BfdSessionSpec) -> io::Result<BfdLink>;
}

/// One BFD session as the BGP driver sees it.
pub struct BfdLink {
    /// Status updates.
    pub status: watch::Receiver<BfdStatus>,
    /// Kept while the BGP peer lives; dropping it removes the BFD session.
    pub guard: Box<dyn Any + Send>,
}

impl std::fmt::Debug for BfdLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BfdLink")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl BfdProvider for BfdRuntime {
    fn add_session(&self, spec: BfdSessionSpec) -> io::Result<BfdLink> {
        let h = BfdRuntime::add_session(self, spec)?;
        Ok(BfdLink {
            status: h.watch(),
            guard: Box::new(h),
        })
    }
}

/// What the BGP session must do after a BFD status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BfdVerdict {
    /// Nothing.
    None,
    /// BFD saw a failure: tear the session down (Cease/10, RFC 9384) and hold it down.
    Down,
    /// BFD is Up: release the hold-down.
    Up,
    /// A failure was seen and BFD is already Up again (a quick flap): tear down, then release.
    Flapped,
}

/// Tracks the failures already acted upon.
#[derive(Debug, Default)]
pub(crate) struct BfdTracker {
    seen_down: u64,
}

impl BfdTracker {
    /// A tracker that ignores the failures counted in `initial` (already past).
    pub(crate) fn new(initial: &BfdStatus) -> BfdTracker {
        BfdTracker {
            seen_down: initial.down_count,
        }
    }

    /// The verdict for a new status.
    pub(crate) fn on_status(&mut self, st: &BfdStatus) -> BfdVerdict {
        let failed = st.down_count > self.seen_down;
        self.seen_down = self.seen_down.max(st.down_count);
        // RFC 5882 §3.2: the peer's AdminDown is not a path failure; keep the session.
        let failed = failed && !st.peer_admin_down;
        let up = st.state == ::bfd::State::Up;
        match (failed, up) {
            (true, true) => BfdVerdict::Flapped,
            (true, false) => BfdVerdict::Down,
            (false, true) => BfdVerdict::Up,
            (false, false) => BfdVerdict::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(state: ::bfd::State, down_count: u64, peer_admin_down: bool) -> BfdStatus {
        BfdStatus {
            state,
            down_count,
            peer_admin_down,
            ..BfdStatus::default()
        }
    }

    #[test]
    fn verdicts() {
        let mut t = BfdTracker::new(&BfdStatus::default());
        assert_eq!(
            t.on_status(&st(::bfd::State::Init, 0, false)),
            BfdVerdict::None
        );
        assert_eq!(t.on_status(&st(::bfd::State::Up, 0, false)), BfdVerdict::Up);
        assert_eq!(
            t.on_status(&st(::bfd::State::Down, 1, false)),
            BfdVerdict::Down
        );
        assert_eq!(
            t.on_status(&st(::bfd::State::Down, 1, false)),
            BfdVerdict::None
        );
        assert_eq!(t.on_status(&st(::bfd::State::Up, 1, false)), BfdVerdict::Up);
        // A flap between two reads is still seen.
        assert_eq!(
            t.on_status(&st(::bfd::State::Up, 2, false)),
            BfdVerdict::Flapped
        );
        // The peer's AdminDown is not a failure.
        assert_eq!(
            t.on_status(&st(::bfd::State::Down, 3, true)),
            BfdVerdict::None
        );
    }

    #[test]
    fn past_failures_are_ignored() {
        let mut t = BfdTracker::new(&st(::bfd::State::Down, 5, false));
        assert_eq!(
            t.on_status(&st(::bfd::State::Down, 5, false)),
            BfdVerdict::None
        );
    }
}
