//! A cancellation token: set once (by a signal handler at the binary's edge,
//! or by a caller), read by every long loop of the library.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::time::SimTime;

/// A shared stop flag. Cloning shares it; [`CancelToken::never`] gives one
/// that nothing sets. Loops check it often enough that a stop takes effect
/// within about 100 ms (the event loop every 65,536 steps, a few ms of work).
///
/// A token may also carry a progress slot ([`CancelToken::with_progress`]):
/// the event loop then leaves its simulated time there each time it looks
/// at the flag, for a progress bar to read; nothing else is shared.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    stop: Arc<AtomicBool>,
    progress: Option<Arc<AtomicU64>>,
}

impl CancelToken {
    /// A fresh token, not cancelled.
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// A token for callers that never cancel (tests, library use).
    pub fn never() -> Self {
        CancelToken::default()
    }

    /// Asks every holder to stop.
    pub fn cancel(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The same flag, with `slot` to receive the simulated time \[ns\].
    pub fn with_progress(&self, slot: Arc<AtomicU64>) -> CancelToken {
        CancelToken {
            stop: self.stop.clone(),
            progress: Some(slot),
        }
    }

    /// [`CancelToken::check`], leaving `now` in the progress slot if any.
    #[inline]
    pub fn check_at(&self, now: SimTime) -> Result<(), Cancelled> {
        if let Some(p) = &self.progress {
            p.store(now.0, Ordering::Relaxed);
        }
        self.check()
    }

    /// Whether a stop was asked for.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once a stop was asked for.
    #[inline]
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled::Asked)
        } else {
            Ok(())
        }
    }
}

/// Why a run stopped before its horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// Its [`CancelToken`] was cancelled.
    Asked,
    /// The clock stopped advancing: more than [`crate::engine::STALL_EVENTS`]
    /// events at the instant `at` (a model that reschedules an event at
    /// "now" for ever). The liveness check of every build, release included.
    Stalled { at: SimTime },
    /// A write of the run's outputs (its request rows, its time series)
    /// failed: simulating further would be for nothing.
    Output,
}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cancelled::Asked => f.write_str("cancelled"),
            Cancelled::Output => f.write_str("a write of the run's outputs failed"),
            Cancelled::Stalled { at } => write!(
                f,
                "the simulated clock stopped at t = {} s: more than {} events without it \
                 advancing",
                at.as_secs_f64(),
                crate::engine::STALL_EVENTS
            ),
        }
    }
}

impl std::error::Error for Cancelled {}
