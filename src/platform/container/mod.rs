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
