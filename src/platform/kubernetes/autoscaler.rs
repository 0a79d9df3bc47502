//! Pod autoscalers: a deployment's replica count, decided at each sync from
//! what the metrics pipeline knows of its pods. The Horizontal Pod
//! Autoscaler ([`super::hpa::Hpa`], `scaling = { kind = "hpa" }`) is the
//! first implementation; `fixed` has none.
//!
//! Adding one: an implementation of [`PodAutoscaler`] in its own file, a
//! variant of `PodScaling` (config.rs) with its spec, and its construction in
//! the model's `Kubernetes::new`. It reads the same [`PodSample`]s as the HPA.

use super::hpa::{Hpa, PodSample};
use crate::time::SimTime;

/// What a pod autoscaler decides at a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleDecision {
    /// Leave the replicas as they are.
    Keep,
    /// Set the deployment's replicas (`spec.replicas`) to this.
    Replicas(u32),
}

/// A pod autoscaler of one deployment.
pub trait PodAutoscaler: std::fmt::Debug + Send {
    /// One sync at `now` for a deployment of `current` replicas, from one
    /// sample per pod; `request_m` is a pod's CPU request in millicores.
    fn sync(
        &mut self,
        now: SimTime,
        current: u32,
        samples: &[PodSample],
        request_m: f64,
    ) -> ScaleDecision;
}

impl PodAutoscaler for Hpa {
    fn sync(
        &mut self,
        now: SimTime,
        current: u32,
        samples: &[PodSample],
        request_m: f64,
    ) -> ScaleDecision {
        match Hpa::sync(self, now, current, samples, request_m) {
            n if n == current => ScaleDecision::Keep,
            n => ScaleDecision::Replicas(n),
        }
    }
}
