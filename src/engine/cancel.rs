//! A cancellation token: set once (by a signal handler at the binary's edge,
//! or by a caller), read by every long loop of the library.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared stop flag. Cloning shares it; [`CancelToken::never`] gives one
/// that nothing sets. Loops check it often enough that a stop takes effect
/// within about 100 ms (the event loop every 65,536 steps, a few ms of work).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

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
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once a stop was asked for.
    #[inline]
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A run or a scan stopped because its [`CancelToken`] was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}
