//! Node autoscalers: how many nodes the cluster has. The Cluster Autoscaler
//! (`nodes = { autoscaler = "cluster_autoscaler" }`, following
//! kubernetes/autoscaler's `cluster-autoscaler` core: scale-up for pending
//! pods, scale-down of under-utilised nodes) is the first implementation.
//!
//! A node autoscaler scans a read-only [`Cluster`] view every scan interval
//! and returns [`NodeAction`]s, which the model carries out in order.
//! Adding one: an implementation of [`NodeAutoscaler`] in its own file, its
//! name in config.rs's `AutoscalerName`, and its construction in the model.

use super::config::AutoscalerConfig;
use super::nodes::{Node, NodeState};
use crate::time::SimTime;

/// What a node autoscaler asks for at a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAction {
    /// Request this many new nodes.
    Launch(u64),
    /// Remove this empty node now.
    Remove(u32),
    /// Drain this node: its pods are evicted and rescheduled, then it goes.
    Drain(u32),
}

/// What a node autoscaler sees of the cluster.
pub struct Cluster<'a> {
    pub nodes: &'a [Node],
    /// Pods waiting for a node.
    pub pending: usize,
    /// Pods an empty node holds.
    pub pods_per_node: u64,
    /// Nodes ready, draining or provisioning.
    pub live_nodes: u64,
    pub min_nodes: u32,
    pub max_nodes: u32,
    /// Whether the pods of node `n` would fit on the other ready nodes.
    pub fits_elsewhere: &'a dyn Fn(u32) -> bool,
}

/// A node autoscaler.
pub trait NodeAutoscaler: std::fmt::Debug + Send {
    /// The next action of the scan at `now`, given the cluster as it is after
    /// the actions already returned; `None` ends the scan. The model calls it
    /// until `None`, carrying out each action before the next call.
    fn scan(&mut self, now: SimTime, cluster: &Cluster) -> Option<NodeAction>;
}

/// Where a scan is.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Between scans.
    Idle,
    /// Scale-up done: track unneeded nodes, then look for removals.
    Track,
    /// Looking for removals from node `next` on.
    Remove {
        next: usize,
        removable: usize,
        empty_removed: usize,
        drained: usize,
    },
}

/// The Cluster Autoscaler's state.
#[derive(Debug, Clone)]
pub struct ClusterAutoscaler {
    cfg: AutoscalerConfig,
    /// Since when each node (by id) has been unneeded.
    unneeded_since: Vec<Option<SimTime>>,
    last_scale_up: Option<SimTime>,
    step: Step,
}

impl ClusterAutoscaler {
    pub fn new(cfg: AutoscalerConfig) -> Self {
        ClusterAutoscaler {
            cfg,
            unneeded_since: Vec::new(),
            last_scale_up: None,
            step: Step::Idle,
        }
    }
}

/// Empty nodes removed at most per scan (`--max-empty-bulk-delete`, 10).
const MAX_EMPTY_BULK_DELETE: usize = 10;

impl NodeAutoscaler for ClusterAutoscaler {
    fn scan(&mut self, now: SimTime, c: &Cluster) -> Option<NodeAction> {
        loop {
            match self.step {
                Step::Idle => {
                    self.step = Step::Track;
                    // Scale up: pending pods that nodes already provisioning
                    // will not take. A fresh node holds `pods_per_node` of
                    // them (with `pods` overrides, of the largest pending).
                    if c.pending > 0 {
                        let provisioning = c
                            .nodes
                            .iter()
                            .filter(|n| n.state == NodeState::Provisioning)
                            .count() as u64;
                        let uncovered =
                            (c.pending as u64).saturating_sub(provisioning * c.pods_per_node);
                        let wanted = uncovered.div_ceil(c.pods_per_node);
                        let room = u64::from(c.max_nodes).saturating_sub(c.live_nodes);
                        let launch = wanted.min(room);
                        if launch > 0 {
                            self.last_scale_up = Some(now);
                            return Some(NodeAction::Launch(launch));
                        }
                    }
                }
                Step::Track => {
                    // Scale down: a ready node is unneeded while it is
                    // under-utilised *and* its pods could move elsewhere
                    // (cluster-autoscaler FAQ, 'How does scale-down work?');
                    // its clock restarts whenever either stops holding.
                    self.unneeded_since.resize(c.nodes.len(), None);
                    for (i, (n, since)) in c.nodes.iter().zip(&mut self.unneeded_since).enumerate()
                    {
                        if n.state == NodeState::Ready
                            && n.utilization() < self.cfg.utilization_threshold
                            && (n.pods == 0 || (c.fits_elsewhere)(i as u32))
                        {
                            since.get_or_insert(now);
                        } else {
                            *since = None;
                        }
                    }
                    if self
                        .last_scale_up
                        .is_some_and(|t| now < t + self.cfg.delay_after_add)
                    {
                        self.step = Step::Idle;
                        return None;
                    }
                    let removable = c
                        .nodes
                        .iter()
                        .filter(|n| matches!(n.state, NodeState::Ready | NodeState::Provisioning))
                        .count()
                        .saturating_sub(c.min_nodes as usize);
                    self.step = Step::Remove {
                        next: 0,
                        removable,
                        empty_removed: 0,
                        drained: 0,
                    };
                }
                Step::Remove {
                    next,
                    mut removable,
                    mut empty_removed,
                    mut drained,
                } => {
                    // At most 10 empty nodes and one occupied node a scan.
                    for n in next..c.nodes.len() {
                        if removable == 0 {
                            break;
                        }
                        let node = &c.nodes[n];
                        let due = node.state == NodeState::Ready
                            && self.unneeded_since[n].is_some_and(|t| now >= t + self.cfg.unneeded);
                        if !due {
                            continue;
                        }
                        let action = if node.pods == 0 {
                            if empty_removed == MAX_EMPTY_BULK_DELETE {
                                continue;
                            }
                            empty_removed += 1;
                            NodeAction::Remove(n as u32)
                        } else {
                            // One occupied node at a time, and only when no
                            // pod is already waiting for room (its
                            // replacements would queue behind them).
                            if drained > 0 || c.pending > 0 || !(c.fits_elsewhere)(n as u32) {
                                continue;
                            }
                            drained += 1;
                            NodeAction::Drain(n as u32)
                        };
                        removable -= 1;
                        self.step = Step::Remove {
                            next: n + 1,
                            removable,
                            empty_removed,
                            drained,
                        };
                        return Some(action);
                    }
                    self.step = Step::Idle;
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;
    use crate::workload::dist::Dist;

    fn secs(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    /// Every action of the scan at `now`.
    fn scan(ca: &mut ClusterAutoscaler, now: SimTime, c: &Cluster) -> Vec<NodeAction> {
        std::iter::from_fn(|| ca.scan(now, c)).collect()
    }

    #[test]
    fn the_unneeded_clock_runs_only_while_the_pods_could_move() {
        // cluster-autoscaler FAQ, 'How does scale-down work?': a node is
        // unneeded when it is under-utilised *and* its pods can move; it is
        // removed after being unneeded for scale-down-unneeded-time. Node 0
        // holds one small pod (25 % used) from t = 0, but until t = 300 the
        // pod fits nowhere else; from then it does. Unneeded time 600 s: the
        // drain comes at 900 s, not at 600 s as an under-utilisation clock
        // alone would have it.
        let cfg = AutoscalerConfig {
            scan_interval: SimDuration::from_secs(10),
            provision: Dist::Constant(SimDuration::from_secs(60)),
            utilization_threshold: 0.5,
            unneeded: SimDuration::from_secs(600),
            delay_after_add: SimDuration::from_secs(600),
        };
        let mut ca = ClusterAutoscaler::new(cfg);
        let node = |used: u64| {
            let mut n = Node::new(SimTime::ZERO, 2000, 8192, 29);
            n.state = NodeState::Ready;
            for _ in 0..used {
                n.add(500, 1024);
            }
            n
        };
        let nodes = vec![node(1), node(2)];
        let mut drained_at = None;
        for t in (0..=1000).step_by(10) {
            let movable = move |_: u32| t >= 300;
            let c = Cluster {
                nodes: &nodes,
                pending: 0,
                pods_per_node: 4,
                live_nodes: 2,
                min_nodes: 1,
                max_nodes: 10,
                fits_elsewhere: &movable,
            };
            let actions = scan(&mut ca, secs(t), &c);
            if actions.contains(&NodeAction::Drain(0)) {
                drained_at = Some(t);
                break;
            }
        }
        assert_eq!(drained_at, Some(900));
    }
}
