//! Kubernetes' bill: nodes per second with EC2's one-minute minimum, the
//! control plane and the load balancer per hour.

use super::KubernetesConfig;
use super::nodes::Node;
use crate::cost::Cost;
use crate::platform::container::billed_seconds;
use crate::time::SimTime;

/// The nodes' bill over [from, to) at `usd_per_hour` each: per second, with
/// the one-minute minimum.
pub fn nodes_usd(nodes: &[Node], usd_per_hour: f64, from: SimTime, to: SimTime) -> f64 {
    let node_s: u64 = nodes
        .iter()
        .map(|n| billed_seconds(n.launched, n.removed, from, to))
        .sum();
    node_s as f64 * usd_per_hour / 3600.0
}

/// The bill of `nodes`, the control plane and the load balancer over [from, to).
pub fn cost_between(cfg: &KubernetesConfig, nodes: &[Node], from: SimTime, to: SimTime) -> Cost {
    let hours = to.since(from).as_secs_f64() / 3600.0;
    Cost {
        nodes: nodes_usd(nodes, cfg.instance.usd_per_hour, from, to),
        control_plane: cfg.control_plane_usd_per_hour * hours,
        front_door: cfg.load_balancer_usd_per_hour * hours,
        ..Cost::default()
    }
}
