//! Nodes: the EC2 instance catalogue, node capacity and node billing.

use crate::time::SimTime;

/// An instance type: capacity, price and pod limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: String,
    pub vcpu: f64,
    pub memory_mb: f64,
    /// On-demand price, Linux, us-east-1 [USD/h].
    pub usd_per_hour: f64,
    /// Pods per node (EKS VPC CNI without prefix delegation).
    pub max_pods: u32,
}

/// The built-in catalogue: vCPU, memory and $/h (EC2 On-Demand, Linux, us-east-1, from
/// public price tables, not checked against the AWS Price List); max pods from
/// awslabs/amazon-eks-ami `files/eni-max-pods.txt` (ENIs x (IPv4 per ENI - 1) + 2).
pub fn catalogue() -> Vec<Instance> {
    let i = |name: &str, vcpu: f64, gib: f64, usd: f64, max_pods: u32| Instance {
        name: name.into(),
        vcpu,
        memory_mb: gib * 1024.0,
        usd_per_hour: usd,
        max_pods,
    };
    vec![
        i("m5.large", 2.0, 8.0, 0.096, 29),
        i("m5.xlarge", 4.0, 16.0, 0.192, 58),
        i("c5.large", 2.0, 4.0, 0.085, 29),
        i("m6g.large", 2.0, 8.0, 0.077, 29),
    ]
}

/// A node's life: launched (billing starts), ready, draining, removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Provisioning,
    Ready,
    /// Being removed by the cluster autoscaler: no new pods; removed when empty.
    Draining,
    Removed,
}

/// A node of the cluster and the requests of the pods placed on it.
#[derive(Debug, Clone)]
pub struct Node {
    pub state: NodeState,
    pub launched: SimTime,
    pub removed: Option<SimTime>,
    /// Allocatable capacity (catalogue minus system reservation) [millicores, MB].
    pub cpu_m: u64,
    pub memory_mb: u64,
    pub max_pods: u32,
    /// Requested by the pods placed here [millicores, MB, pods].
    pub used_cpu_m: u64,
    pub used_memory_mb: u64,
    pub pods: u32,
}

impl Node {
    pub fn new(launched: SimTime, cpu_m: u64, memory_mb: u64, max_pods: u32) -> Self {
        Node {
            state: NodeState::Provisioning,
            launched,
            removed: None,
            cpu_m,
            memory_mb,
            max_pods,
            used_cpu_m: 0,
            used_memory_mb: 0,
            pods: 0,
        }
    }

    /// Whether a pod requesting `cpu_m` and `memory_mb` fits in what is left.
    pub fn fits(&self, cpu_m: u64, memory_mb: u64) -> bool {
        self.used_cpu_m + cpu_m <= self.cpu_m
            && self.used_memory_mb + memory_mb <= self.memory_mb
            && self.pods < self.max_pods
    }

    pub fn add(&mut self, cpu_m: u64, memory_mb: u64) {
        self.used_cpu_m += cpu_m;
        self.used_memory_mb += memory_mb;
        self.pods += 1;
    }

    pub fn remove(&mut self, cpu_m: u64, memory_mb: u64) {
        self.used_cpu_m -= cpu_m;
        self.used_memory_mb -= memory_mb;
        self.pods -= 1;
    }

    /// The cluster autoscaler's utilisation: the larger of the CPU and memory
    /// shares requested.
    pub fn utilization(&self) -> f64 {
        (self.used_cpu_m as f64 / self.cpu_m as f64)
            .max(self.used_memory_mb as f64 / self.memory_mb as f64)
    }

    /// Whether the node is billed (launched, not removed) and counted.
    pub fn exists(&self) -> bool {
        self.state != NodeState::Removed
    }
}

/// Adds a node launched at `now`, with allocatable `cpu_m` and `memory_mb`
/// and `max_pods`, to `nodes`: ready at once without a `provision` delay,
/// else provisioning for that long (the caller schedules its readiness).
/// Returns its id.
pub fn launch(
    nodes: &mut Vec<Node>,
    now: SimTime,
    (cpu_m, memory_mb, max_pods): (u64, u64, u32),
    provision: Option<crate::time::SimDuration>,
) -> u32 {
    let mut node = Node::new(now, cpu_m, memory_mb, max_pods);
    if provision.is_none() {
        node.state = NodeState::Ready;
    }
    nodes.push(node);
    (nodes.len() - 1) as u32
}

/// Workloads of `cpu_m` millicores and `memory_mb` MB that one empty node of
/// allocatable `node_cpu_m` / `node_memory_mb` holds, at most `max_pods`
/// (at least one: validation checks that one fits).
pub fn per_node(
    (node_cpu_m, node_memory_mb, max_pods): (u64, u64, u32),
    cpu_m: u64,
    memory_mb: u64,
) -> u64 {
    (node_cpu_m / cpu_m.max(1))
        .min(node_memory_mb / memory_mb.max(1))
        .min(u64::from(max_pods))
        .max(1)
}

/// Whether `moving` workloads of `cpu_m` / `memory_mb` on node `n` would fit,
/// first-fit, on the other ready nodes (the cluster autoscaler's scale-down
/// simulation).
pub fn fit_elsewhere(nodes: &[Node], n: u32, moving: &[(u64, u64)]) -> bool {
    let mut others: Vec<Node> = nodes
        .iter()
        .enumerate()
        .filter(|&(i, o)| i as u32 != n && o.state == NodeState::Ready)
        .map(|(_, o)| o.clone())
        .collect();
    moving.iter().all(|&(cpu_m, memory_mb)| {
        match others.iter_mut().find(|o| o.fits(cpu_m, memory_mb)) {
            Some(o) => {
                o.add(cpu_m, memory_mb);
                true
            }
            None => false,
        }
    })
}

/// Nodes billed and counted: launched and not removed.
pub fn live(nodes: &[Node]) -> u64 {
    nodes.iter().filter(|n| n.exists()).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utilisation_is_the_larger_share() {
        let mut n = Node::new(SimTime::ZERO, 2000, 8192, 29);
        n.add(500, 4096);
        assert_eq!(n.utilization(), 0.5);
        assert!(n.fits(1500, 4096));
        assert!(!n.fits(1501, 0));
    }
}
