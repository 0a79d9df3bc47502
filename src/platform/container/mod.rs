//! Building blocks shared by the container platforms (Kubernetes pods, ECS
//! tasks): the request-serving [`server::Server`] (slots, queue, processor
//! sharing, the wait phase), the [`load_balancer`]s in front of them, and
//! per-second billing with a one-minute minimum.

pub mod load_balancer;
pub mod server;

use serde::Deserialize;

use crate::time::{NANOS_PER_SEC, SimTime};
use load_balancer::AnyBalancer;

/// `load_balancer = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancer {
    RoundRobin,
    Random,
    LeastOutstanding,
}

impl LoadBalancer {
    /// A fresh balancer of this kind.
    pub fn balancer(self) -> AnyBalancer {
        match self {
            LoadBalancer::RoundRobin => AnyBalancer::RoundRobin(Default::default()),
            LoadBalancer::Random => AnyBalancer::Random(Default::default()),
            LoadBalancer::LeastOutstanding => AnyBalancer::LeastOutstanding(Default::default()),
        }
    }
}

/// Billed seconds of a machine or task within [from, to): per second
/// (rounded up), with a 60 s minimum for one that starts and stops inside
/// that span (EC2 per-second billing, AWS What's New 2017-10; AWS Fargate
/// pricing). One still running at `to` is billed its time so far: it runs
/// on past the minute.
pub fn billed_seconds(
    launched: SimTime,
    removed: Option<SimTime>,
    from: SimTime,
    to: SimTime,
) -> u64 {
    let end = removed.unwrap_or(to).min(to);
    let start = launched.max(from);
    if end <= start {
        return 0;
    }
    let secs = end.since(start).0.div_ceil(NANOS_PER_SEC);
    let stopped_inside = removed.is_some_and(|r| r <= to);
    if launched >= from && stopped_inside {
        secs.max(60)
    } else {
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: u64) -> SimTime {
        SimTime(x * NANOS_PER_SEC)
    }

    #[test]
    fn per_second_billing_with_a_minute_minimum() {
        assert_eq!(billed_seconds(s(0), Some(s(10)), s(0), s(3600)), 60);
        assert_eq!(
            billed_seconds(s(0), Some(SimTime(61 * NANOS_PER_SEC + 1)), s(0), s(3600)),
            62
        );
        assert_eq!(billed_seconds(s(100), None, s(0), s(3600)), 3500);
        // Still running at the end of the window, 20 s in: 20 s so far.
        assert_eq!(billed_seconds(s(3580), None, s(0), s(3600)), 20);
        assert_eq!(billed_seconds(s(3580), Some(s(4000)), s(0), s(3600)), 20);
        // Launched before the window: only the time inside it, no minimum.
        assert_eq!(billed_seconds(s(0), Some(s(130)), s(100), s(3600)), 30);
    }
}

/// `deployment_by = "..."`: how a container platform groups the workload's
/// functions into deployments (Kubernetes Deployments, ECS services,
/// Knative revisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentBy {
    /// One deployment per function.
    Function,
    /// One per application: Azure's `HashApp`, the `app` of `app/func`
    /// names, else the function itself.
    App,
    /// One deployment for the whole workload.
    One,
}

/// The deployments of a workload: their names, and each function's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployments {
    pub names: Vec<String>,
    /// Index into `names`, per function.
    pub of_function: std::sync::Arc<[u32]>,
}

impl Deployments {
    /// Groups `functions` (with their `apps`) as `by` says, deployments in
    /// order of first appearance; `one` is named `platform`.
    pub fn group(functions: &[String], apps: &[String], by: DeploymentBy, platform: &str) -> Self {
        let mut names: Vec<String> = Vec::new();
        let mut index: rustc_hash::FxHashMap<&str, u32> = Default::default();
        let of_function = (0..functions.len().max(1))
            .map(|i| {
                let key: &str = match by {
                    DeploymentBy::Function => functions.get(i).map_or(platform, String::as_str),
                    DeploymentBy::App => apps
                        .get(i)
                        .or(functions.get(i))
                        .map_or(platform, String::as_str),
                    DeploymentBy::One => platform,
                };
                *index.entry(key).or_insert_with(|| {
                    names.push(key.to_string());
                    (names.len() - 1) as u32
                })
            })
            .collect();
        Deployments { names, of_function }
    }

    /// The deployments of the workload that `s` validates a platform for.
    pub fn of_setting(s: &crate::platform::Setting, by: Option<DeploymentBy>) -> Self {
        Deployments::group(
            s.functions,
            s.apps,
            by.unwrap_or(DeploymentBy::Function),
            "workload",
        )
    }

    /// The deployment of function `f`.
    #[inline]
    pub fn of_fn(&self, f: u32) -> usize {
        self.of_function[f as usize] as usize
    }
}
