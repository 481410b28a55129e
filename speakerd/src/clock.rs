//! The one clock of the runtime, behind an interface.
//!
//! The sans-IO cores take `now: std::time::Instant`; the runtime reads it here. The real clock
//! is tokio's, so a test on a paused tokio runtime (`#[tokio::test(start_paused = true)]`) runs
//! the whole runtime on virtual time.

use std::fmt::Debug;
use std::time::Instant;

/// A source of the current time.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real clock: `tokio::time::Instant::now()`, which follows tokio's paused/advanced clock
/// in tests and the monotonic system clock otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn follows_tokio_virtual_time() {
        let c = TokioClock;
        let t0 = c.now();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(c.now() - t0, Duration::from_secs(3600));
    }
}
