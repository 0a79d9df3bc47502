//! `keep_alive = { kind = "fixed", idle_s = 600, max_lifetime_s = 7200 }`:
//! every environment stays warm `idle_s` after its request ends, as Lambda
//! does (the AWS Lambda developer guide's execution environment lifecycle;
//! the 10-minute figure is an observation, not a documented constant, hence
//! a setting).

use serde::Deserialize;

use super::{ExpiryQueue, KeepAlive, KeepAliveDecision, PolicySpec, max_lifetime};
use crate::error::{FieldError, FieldPath};
use crate::time::{SimDuration, SimTime};

/// The scenario table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    idle_s: Option<f64>,
    max_lifetime_s: Option<f64>,
}

/// One keep-alive window for every environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed {
    pub idle: SimDuration,
}

impl Default for Fixed {
    /// 600 s (the scenario reference's default, README; AWS does not document idle keep-alive).
    fn default() -> Self {
        Fixed {
            idle: SimDuration::from_secs(600),
        }
    }
}

impl PolicySpec for Spec {
    type Policy = Fixed;

    fn compile(&self, path: &FieldPath, _: usize) -> Result<(Fixed, SimDuration), FieldError> {
        let idle_s = self.idle_s.unwrap_or(600.0);
        if !(idle_s.is_finite() && (0.0..=1e9).contains(&idle_s)) {
            return Err(path
                .key("idle_s")
                .error(format!("idle_s = {idle_s}: must be between 0 and 1e9 s")));
        }
        let idle = SimDuration::from_secs_f64(idle_s);
        Ok((Fixed { idle }, max_lifetime(path, self.max_lifetime_s)?))
    }
}

impl KeepAlive for Fixed {
    /// One window: deadlines come in time order, so a FIFO holds them.
    type Deadlines = ExpiryQueue;

    fn deadlines(&self) -> ExpiryQueue {
        ExpiryQueue::default()
    }

    #[inline(always)]
    fn on_idle(&mut self, _function: u32, _now: SimTime) -> KeepAliveDecision {
        KeepAliveDecision::KeepFor(self.idle)
    }
}
