//! Kubernetes' bill: nodes per second with EC2's one-minute minimum, the
//! control plane and the load balancer per hour.

use super::KubernetesConfig;
use super::nodes::Node;
use crate::cost::Cost;
use crate::time::{NANOS_PER_SEC, SimTime};

/// Billed seconds of a node within [from, to): per second (rounded up),
/// with EC2's 60 s minimum for a node launched inside that span
/// (AWS What's New, 2017-10: EC2 per-second billing).
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
    if launched >= from { secs.max(60) } else { secs }
}

/// The bill of `nodes`, the control plane and the load balancer over [from, to).
pub fn cost_between(cfg: &KubernetesConfig, nodes: &[Node], from: SimTime, to: SimTime) -> Cost {
    let node_s: u64 = nodes
        .iter()
        .map(|n| billed_seconds(n.launched, n.removed, from, to))
        .sum();
    let hours = to.since(from).as_secs_f64() / 3600.0;
    Cost {
        nodes: node_s as f64 * cfg.instance.usd_per_hour / 3600.0,
        control_plane: cfg.control_plane_usd_per_hour * hours,
        front_door: cfg.load_balancer_usd_per_hour * hours,
        ..Cost::default()
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
        // Launched before the window: only the time inside it, no minimum.
        assert_eq!(billed_seconds(s(0), Some(s(130)), s(100), s(3600)), 30);
    }
}
