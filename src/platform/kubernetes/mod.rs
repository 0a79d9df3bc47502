//! The Kubernetes model (README, 'Kubernetes platform'): pods with processor-sharing CPUs behind a
//! load balancer, fixed replicas or the Horizontal Pod Autoscaler, nodes from
//! an instance catalogue with the Cluster Autoscaler, and the bill.
//!
//! Defaults cite their sources where they are set: the HPA controller
//! (kubernetes `pkg/controller/podautoscaler`), the cluster-autoscaler FAQ
//! (kubernetes/autoscaler `cluster-autoscaler/FAQ.md`), the SIG Scalability
//! pod-startup SLO and AWS price pages.

pub mod autoscaler;
pub mod cluster_autoscaler;
pub mod config;
pub mod hpa;
pub mod nodes;
pub mod pricing;

use std::collections::{BTreeSet, VecDeque};

use crate::cost::{Bill, Cost, MONTH_S};
use crate::engine::{self, Cancelled, Ctx, Model};
use crate::metrics::{Gauges, Outcome, Recorder};
use std::sync::Arc;

use crate::error::FieldError;
use crate::platform::{Kind, Platform, PlatformSpec, RunInput, Setting, fields_of, read_spec};
use crate::rng::SimRng;
use crate::time::SimTime;
use crate::workload::Request;

use crate::platform::container::load_balancer::Balancer;
use crate::platform::container::server::{Admission, Done, Server};
use autoscaler::{PodAutoscaler, ScaleDecision};
use cluster_autoscaler::{Cluster, ClusterAutoscaler, NodeAction, NodeAutoscaler};
pub use config::{AutoscalerConfig, KubernetesConfig, KubernetesSpec, LoadBalancer, PodScaling};
use hpa::{Hpa, HpaConfig, Metric, PodSample};
use nodes::{Node, NodeState};

/// The registry entry of `kind = "kubernetes"`.
pub const KIND: Kind = Kind {
    name: "kubernetes",
    default_name: "kubernetes",
    gauges: &[
        "pods_desired",
        "pods_ready",
        "pods_pending",
        "nodes",
        "nodes_provisioning",
    ],
    capacity: &["pods_ready"],
    capacity_label: "ready pods",
    has_nodes: true,
    fields: fields_of::<KubernetesSpec>,
    read: read_spec::<KubernetesSpec>,
};

impl PlatformSpec for KubernetesSpec {
    fn validate(&self, s: &Setting) -> Result<Arc<dyn Platform>, FieldError> {
        Ok(Arc::new(self.to_config(s)?))
    }
}

impl Platform for KubernetesConfig {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn simulate(&self, input: RunInput) -> Result<(Recorder, Bill), Cancelled> {
        let lb = self.load_balancer.balancer();
        let k8s = Kubernetes::new(
            self.clone(),
            lb,
            self.deployments.names.len(),
            input.streams.named("startup"),
            input.streams.named("provision"),
            input.streams.named("lb"),
        );
        engine::run(k8s, input.requests, input.clock, input.rec, input.cancel)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---------------------------------------------------------------------------
// The platform

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PodState {
    /// Created, not placed on a node.
    Pending,
    /// Placed; the startup delay runs.
    Starting,
    Ready,
    /// Removed from the load balancer; finishing what it holds.
    Terminating,
    Gone,
}

/// Cumulative per-pod usage, for the metrics pipeline.
#[derive(Debug, Clone, Copy, Default)]
struct PodUsage {
    /// CPU used [millicore x ns].
    cpu: u128,
    /// Requests in the pod (in service + queued) [request x ns].
    requests: u128,
    /// Requests routed to the pod, accepted or not.
    routed: u64,
}

#[derive(Debug, Clone)]
struct Pod {
    /// The deployment (function) it belongs to.
    deployment: u32,
    state: PodState,
    node: Option<u32>,
    created: SimTime,
    started: Option<SimTime>,
    ready_at: Option<SimTime>,
    server: Server,
    usage: PodUsage,
    touched: SimTime,
    /// Usage snapshots at the metric window edges.
    snapshots: VecDeque<(SimTime, PodUsage)>,
}

impl Pod {
    /// Brings the cumulative usage up to `now`.
    fn touch(&mut self, now: SimTime) {
        let dt = u128::from(now.since(self.touched).0);
        if dt > 0 {
            self.usage.cpu += u128::from(self.server.cpu_used_m()) * dt;
            self.usage.requests += self.server.outstanding() as u128 * dt;
            self.touched = now;
        }
    }
}

/// How the HPA controller sees a pod at a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HpaGroup {
    /// Being deleted: left out.
    Ignored,
    /// Counted at 0 on a scale-up, otherwise left out.
    Unready,
    /// Counted with its metric, or as missing one.
    Measured,
}

/// `groupPods` (kubernetes `pkg/controller/podautoscaler/replica_calculator.go`):
/// a pod being deleted is ignored; one in the Pending phase (not yet placed)
/// is unready; for cpu, so is one not yet ready (readiness and the CPU
/// initialisation period apply to the CPU resource metric only); for the
/// other metrics a placed pod counts with its metric (0 while it gets no
/// traffic) or as missing one.
fn hpa_group(state: PodState, metric: Metric) -> HpaGroup {
    match state {
        PodState::Terminating | PodState::Gone => HpaGroup::Ignored,
        PodState::Pending => HpaGroup::Unready,
        PodState::Starting if metric == Metric::Cpu => HpaGroup::Unready,
        PodState::Starting | PodState::Ready => HpaGroup::Measured,
    }
}

/// Events of the Kubernetes model.
#[derive(Debug, Clone, Copy)]
pub enum KubernetesEvent {
    /// The next request in service at a pod may be done (stale if the epoch moved).
    PodTick {
        pod: u32,
        epoch: u32,
    },
    PodReady(u32),
    NodeReady(u32),
    HpaSync,
    /// Usage snapshots at metric-window edges.
    Scrape,
    AutoscalerScan,
}

/// A function's deployment: its pods, load balancer and autoscaler.
struct Deployment<B> {
    /// Pods not yet gone.
    live: BTreeSet<u32>,
    /// Its ready pods, behind the load balancer.
    lb: B,
    /// The deployment's replicas (`spec.replicas`).
    desired: u32,
    /// Its pod autoscaler (none with fixed replicas).
    autoscaler: Option<Box<dyn PodAutoscaler>>,
}

/// The Kubernetes platform during one run.
pub struct Kubernetes<B: Balancer> {
    cfg: KubernetesConfig,
    startup_rng: SimRng,
    provision_rng: SimRng,
    lb_rng: SimRng,
    pods: Vec<Pod>,
    /// Pods not yet gone, by id (the scans that matter walk these, not every pod ever made).
    live: BTreeSet<u32>,
    nodes: Vec<Node>,
    /// Unplaced pods, oldest first.
    pending: VecDeque<u32>,
    /// One deployment per workload function, sharing the nodes.
    deployments: Vec<Deployment<B>>,
    /// The HPA settings (every deployment's HPA has the same).
    hpa_cfg: Option<HpaConfig>,
    /// Next window-start and window-end scrape times.
    scrape_start: SimTime,
    scrape_end: SimTime,
    /// The node autoscaler (none without `nodes.autoscaler`).
    node_autoscaler: Option<Box<dyn NodeAutoscaler>>,
    in_service: u64,
    queued: u64,
    done: Vec<Done>,
}

impl<B: Balancer> Kubernetes<B> {
    /// The platform at t = 0 (call [`Model::start`] before events).
    /// One deployment per function (`functions` of them), each starting at
    /// its fixed replicas or the HPA's minimum.
    pub fn new(
        cfg: KubernetesConfig,
        lb: B,
        functions: usize,
        startup_rng: SimRng,
        provision_rng: SimRng,
        lb_rng: SimRng,
    ) -> Self {
        let node_autoscaler = cfg
            .autoscaler
            .clone()
            .map(|a| Box::new(ClusterAutoscaler::new(a)) as Box<dyn NodeAutoscaler>);
        let hpa_cfg = match &cfg.scaling {
            PodScaling::Hpa(h) => Some(h.clone()),
            PodScaling::Fixed(_) => None,
        };
        let deployments = (0..functions.max(1))
            .map(|_| Deployment {
                live: BTreeSet::new(),
                lb: lb.clone(),
                desired: 0,
                autoscaler: hpa_cfg
                    .clone()
                    .map(|h| Box::new(Hpa::new(h)) as Box<dyn PodAutoscaler>),
            })
            .collect();
        Kubernetes {
            cfg,
            startup_rng,
            provision_rng,
            lb_rng,
            pods: Vec::new(),
            live: BTreeSet::new(),
            nodes: Vec::new(),
            pending: VecDeque::new(),
            deployments,
            hpa_cfg,
            scrape_start: SimTime::MAX,
            scrape_end: SimTime::MAX,
            node_autoscaler,
            in_service: 0,
            queued: 0,
            done: Vec::new(),
        }
    }

    fn live_pods(&self) -> u64 {
        self.live.len() as u64
    }

    fn gone(&mut self, p: u32) {
        let pod = &mut self.pods[p as usize];
        pod.state = PodState::Gone;
        pod.snapshots = VecDeque::new();
        let d = pod.deployment as usize;
        self.live.remove(&p);
        self.deployments[d].live.remove(&p);
    }

    fn live_nodes(&self) -> u64 {
        nodes::live(&self.nodes)
    }

    fn new_pod(&mut self, now: SimTime, deployment: usize) -> u32 {
        let shape = self.cfg.shapes[deployment];
        self.pods.push(Pod {
            deployment: deployment as u32,
            state: PodState::Pending,
            node: None,
            created: now,
            started: None,
            ready_at: None,
            server: Server::new(shape.cpu_limit_m, shape.concurrency, shape.queue_capacity),
            usage: PodUsage::default(),
            touched: now,
            snapshots: VecDeque::new(),
        });
        let id = (self.pods.len() - 1) as u32;
        self.pending.push_back(id);
        self.live.insert(id);
        self.deployments[deployment].live.insert(id);
        id
    }

    fn launch_node(&mut self, now: SimTime, ready: bool, cx: &mut Ctx<KubernetesEvent>) {
        let c = &self.cfg;
        let delay = (!ready).then(|| {
            let ca = c
                .autoscaler
                .as_ref()
                .expect("only the autoscaler launches nodes");
            ca.provision.sample(&mut self.provision_rng)
        });
        let size = (c.node_cpu_m, c.node_memory_mb, c.instance.max_pods);
        let id = nodes::launch(&mut self.nodes, now, size, delay);
        if let Some(d) = delay {
            cx.schedule(now + d, KubernetesEvent::NodeReady(id));
        }
        cx.rec.nodes.set(now, self.live_nodes());
    }

    /// A pod's (CPU request \[millicores\], memory \[MB\]): its deployment's.
    fn size(&self, p: u32) -> (u64, u64) {
        let s = &self.cfg.shapes[self.pods[p as usize].deployment as usize];
        (s.cpu_m, s.memory_mb)
    }

    /// Places pending pods first-fit on ready nodes, oldest pod first.
    fn schedule_pending(&mut self, now: SimTime, cx: &mut Ctx<KubernetesEvent>) {
        let mut still = VecDeque::new();
        while let Some(p) = self.pending.pop_front() {
            let (cpu, mem) = self.size(p);
            let slot = self
                .nodes
                .iter()
                .position(|n| n.state == NodeState::Ready && n.fits(cpu, mem));
            match slot {
                Some(n) => {
                    self.nodes[n].add(cpu, mem);
                    let pod = &mut self.pods[p as usize];
                    pod.node = Some(n as u32);
                    pod.state = PodState::Starting;
                    pod.started = Some(now);
                    pod.touched = now;
                    let delay = self.cfg.startup.sample(&mut self.startup_rng);
                    cx.schedule(now + delay, KubernetesEvent::PodReady(p));
                }
                None => still.push_back(p),
            }
        }
        self.pending = still;
    }

    fn make_ready(&mut self, p: u32, now: SimTime) {
        let pod = &mut self.pods[p as usize];
        pod.state = PodState::Ready;
        pod.ready_at = Some(now);
        let d = &mut self.deployments[pod.deployment as usize];
        d.lb.join(p, pod.server.outstanding());
    }

    fn leave_load_balancer(&mut self, p: u32) {
        let pod = &self.pods[p as usize];
        let out = pod.server.outstanding();
        self.deployments[pod.deployment as usize].lb.leave(p, out);
    }

    /// Frees a pod's node capacity; removes a draining node left empty.
    fn release_node(&mut self, p: u32, now: SimTime, cx: &mut Ctx<KubernetesEvent>) {
        let (cpu, mem) = self.size(p);
        if let Some(n) = self.pods[p as usize].node.take() {
            let node = &mut self.nodes[n as usize];
            node.remove(cpu, mem);
            if node.state == NodeState::Draining && node.pods == 0 {
                node.state = NodeState::Removed;
                node.removed = Some(now);
                cx.rec.nodes.set(now, self.live_nodes());
            }
        }
    }

    fn finalize(&mut self, p: u32, now: SimTime, cx: &mut Ctx<KubernetesEvent>) {
        self.release_node(p, now, cx);
        self.gone(p);
        cx.rec.instances.set(now, self.live_pods());
        self.schedule_pending(now, cx);
    }

    /// Takes a pod out of service: pending and starting pods go at once,
    /// ready ones drain what they hold first.
    fn stop_pod(&mut self, p: u32, now: SimTime, cx: &mut Ctx<KubernetesEvent>) {
        match self.pods[p as usize].state {
            PodState::Pending => {
                self.pending.retain(|&q| q != p);
                self.gone(p);
                cx.rec.instances.set(now, self.live_pods());
            }
            PodState::Starting => self.finalize(p, now, cx),
            PodState::Ready => {
                self.leave_load_balancer(p);
                self.pods[p as usize].state = PodState::Terminating;
                if self.pods[p as usize].server.outstanding() == 0 {
                    self.finalize(p, now, cx);
                }
            }
            PodState::Terminating | PodState::Gone => {}
        }
    }

    /// Brings deployment `d` to its desired pods (terminating ones not counted).
    fn reconcile(&mut self, d: usize, now: SimTime, cx: &mut Ctx<KubernetesEvent>) {
        let desired = self.deployments[d].desired;
        let active: Vec<u32> = self.deployments[d]
            .live
            .iter()
            .copied()
            .filter(|&p| {
                matches!(
                    self.pods[p as usize].state,
                    PodState::Pending | PodState::Starting | PodState::Ready
                )
            })
            .collect();
        let have = active.len() as u32;
        if have < desired {
            for _ in have..desired {
                self.new_pod(now, d);
            }
            cx.rec.instances.set(now, self.live_pods());
            self.schedule_pending(now, cx);
        } else if have > desired {
            // The ReplicaSet's deletion order: unscheduled, then not ready,
            // then the most recently ready (newest first within each).
            let mut victims = active;
            victims.sort_by_key(|&p| {
                let pod = &self.pods[p as usize];
                let newest = std::cmp::Reverse(pod.ready_at.unwrap_or(pod.created));
                (pod.state, newest, std::cmp::Reverse(p))
            });
            for &p in victims.iter().take((have - desired) as usize) {
                self.stop_pod(p, now, cx);
            }
        }
    }

    /// Routes a request of deployment `d` to a ready pod, or `None` when none is ready.
    #[inline]
    fn pick(&mut self, d: usize) -> Option<u32> {
        self.deployments[d].lb.pick(&mut self.lb_rng)
    }

    /// Updates the totals and the least-outstanding index after pod `p` changed.
    /// (`before`: in service, queued and epoch before the change.)
    fn account(
        &mut self,
        p: u32,
        before: (usize, usize, u32),
        now: SimTime,
        cx: &mut Ctx<KubernetesEvent>,
    ) {
        let pod = &self.pods[p as usize];
        let after = (pod.server.busy(), pod.server.queued());
        self.in_service = self.in_service + after.0 as u64 - before.0 as u64;
        self.queued = self.queued + after.1 as u64 - before.1 as u64;
        // Only a balancer that watches the load is told of every change.
        let d = pod.deployment as usize;
        if self.deployments[d].lb.watches_load()
            && pod.state == PodState::Ready
            && before.0 + before.1 != after.0 + after.1
        {
            let d = &mut self.deployments[pod.deployment as usize];
            d.lb.load_changed(p, before.0 + before.1, after.0 + after.1);
        }
        if before.0 != after.0 {
            cx.rec.in_service.set(now, self.in_service);
        }
        if let Some((t, epoch)) = pod.server.timer_since(before) {
            cx.schedule(t, KubernetesEvent::PodTick { pod: p, epoch });
        }
    }

    /// What the controller sees of each pod at a sync at `now`: the metric
    /// averaged over [now - delay - window, now - delay), from the usage
    /// snapshots taken at those edges.
    fn hpa_samples(&mut self, d: usize, now: SimTime) -> Vec<PodSample> {
        let cfg = self.hpa_cfg.as_ref().expect("an HPA");
        let (metric, window, period) = (cfg.metric, cfg.metric_window, cfg.sync_period);
        let cpu_init = cfg.cpu_initialization;
        let end = now.0.checked_sub(cfg.metric_delay.0).map(SimTime);
        let start = end.and_then(|e| e.0.checked_sub(window.0)).map(SimTime);
        let live = &self.deployments[d].live;
        let mut samples = Vec::with_capacity(live.len());
        for &p in live {
            let pod = &mut self.pods[p as usize];
            let sample = match hpa_group(pod.state, metric) {
                HpaGroup::Ignored => continue,
                HpaGroup::Unready => PodSample::Unready,
                HpaGroup::Measured => {
                    let usage = match (start, end) {
                        (Some(s), Some(e)) => {
                            if e == now {
                                pod.touch(now);
                            }
                            let at =
                                |t: SimTime| pod.snapshots.iter().find(|x| x.0 == t).map(|x| x.1);
                            let u_end = if e == now { Some(pod.usage) } else { at(e) };
                            at(s).zip(u_end)
                        }
                        _ => None,
                    };
                    match usage {
                        None => PodSample::Missing,
                        Some((a, b)) => {
                            let w = window.0 as f64;
                            let value = match metric {
                                // Whole millicores, as metrics-server reports them.
                                Metric::Cpu => ((b.cpu - a.cpu) / u128::from(window.0)) as f64,
                                Metric::Concurrency => (b.requests - a.requests) as f64 / w,
                                Metric::Rps => (b.routed - a.routed) as f64 / (w / 1e9),
                            };
                            let started = pod.started.unwrap_or(pod.created);
                            let ready_at = pod.ready_at.unwrap_or(now);
                            // CPU within the initialisation period: a sample whose
                            // window began before readiness is set aside.
                            let window_end = end.unwrap_or(now);
                            if metric == Metric::Cpu
                                && now < started + cpu_init
                                && window_end < ready_at + window
                            {
                                PodSample::Unready
                            } else {
                                PodSample::Ready(value)
                            }
                        }
                    }
                }
            };
            samples.push(sample);
            // The next sync's window starts one period later.
            if let Some(s) = start {
                let keep = s + period;
                while pod.snapshots.front().is_some_and(|x| x.0 < keep) {
                    pod.snapshots.pop_front();
                }
            }
        }
        samples
    }

    /// Snapshots every running pod's usage at a metric-window edge.
    fn scrape(&mut self, now: SimTime) {
        let period = self.hpa_cfg.as_ref().expect("an HPA").sync_period;
        for &p in &self.live {
            let pod = &mut self.pods[p as usize];
            if matches!(pod.state, PodState::Starting | PodState::Ready) {
                pod.touch(now);
                pod.snapshots.push_back((now, pod.usage));
            }
        }
        if now == self.scrape_start {
            self.scrape_start += period;
        }
        if now == self.scrape_end {
            self.scrape_end += period;
        }
    }

    /// One scan of the node autoscaler, carrying out its actions in turn.
    fn autoscale_nodes(&mut self, now: SimTime, cx: &mut Ctx<KubernetesEvent>) {
        let mut scaler = self.node_autoscaler.take().expect("a node autoscaler");
        loop {
            let action = scaler.scan(
                now,
                &Cluster {
                    nodes: &self.nodes,
                    pending: self.pending.len(),
                    pods_per_node: self.pods_per_node(),
                    live_nodes: self.live_nodes(),
                    min_nodes: self.cfg.min_nodes,
                    max_nodes: self.cfg.max_nodes,
                    fits_elsewhere: &|n| self.pods_fit_elsewhere(n),
                },
            );
            match action {
                None => break,
                Some(NodeAction::Launch(k)) => {
                    for _ in 0..k {
                        self.launch_node(now, false, cx);
                    }
                }
                Some(NodeAction::Remove(n)) => {
                    let node = &mut self.nodes[n as usize];
                    node.state = NodeState::Removed;
                    node.removed = Some(now);
                    cx.rec.nodes.set(now, self.live_nodes());
                }
                Some(NodeAction::Drain(n)) => self.drain(n, now, cx),
            }
        }
        self.node_autoscaler = Some(scaler);
    }

    /// Drains node `n`: its pods are evicted, replaced by the ReplicaSet and
    /// scheduled elsewhere; it is removed once empty.
    fn drain(&mut self, n: u32, now: SimTime, cx: &mut Ctx<KubernetesEvent>) {
        self.nodes[n as usize].state = NodeState::Draining;
        let evicted: Vec<u32> = self
            .live
            .iter()
            .copied()
            .filter(|&p| {
                let pod = &self.pods[p as usize];
                pod.node == Some(n) && matches!(pod.state, PodState::Starting | PodState::Ready)
            })
            .collect();
        for p in evicted {
            let d = self.pods[p as usize].deployment as usize;
            self.stop_pod(p, now, cx);
            self.new_pod(now, d);
        }
        cx.rec.instances.set(now, self.live_pods());
        self.schedule_pending(now, cx);
    }

    /// How many pending pods an empty node holds (at least one: validation
    /// checks a pod fits), for the largest of them: with `pods` overrides the
    /// cluster autoscaler errs towards a node too many, not too few.
    fn pods_per_node(&self) -> u64 {
        let c = &self.cfg;
        let size = (c.node_cpu_m, c.node_memory_mb, c.instance.max_pods);
        let base = &c.shapes[0];
        self.pending
            .iter()
            .map(|&p| {
                let (cpu, mem) = self.size(p);
                nodes::per_node(size, cpu, mem)
            })
            .min()
            .unwrap_or_else(|| nodes::per_node(size, base.cpu_m, base.memory_mb))
    }

    /// Whether the pods on node `n` would fit on the other ready nodes.
    fn pods_fit_elsewhere(&self, n: u32) -> bool {
        let moving: Vec<(u64, u64)> = self
            .live
            .iter()
            .filter(|&&p| {
                let pod = &self.pods[p as usize];
                pod.node == Some(n) && matches!(pod.state, PodState::Starting | PodState::Ready)
            })
            .map(|&p| self.size(p))
            .collect();
        nodes::fit_elsewhere(&self.nodes, n, &moving)
    }

    /// The bill of nodes, control plane and load balancer over [from, to).
    fn cost_between(&self, from: SimTime, to: SimTime) -> Cost {
        pricing::cost_between(&self.cfg, &self.nodes, from, to)
    }
}

impl<B: Balancer> Model for Kubernetes<B> {
    type Event = KubernetesEvent;

    fn start(&mut self, cx: &mut Ctx<KubernetesEvent>) {
        let now = SimTime::ZERO;
        for _ in 0..self.cfg.initial_nodes {
            self.launch_node(now, true, cx);
        }
        let initial = match &self.cfg.scaling {
            PodScaling::Fixed(n) => *n,
            PodScaling::Hpa(h) => h.min_replicas,
        };
        for d in 0..self.deployments.len() {
            self.deployments[d].desired = initial;
            for _ in 0..initial {
                self.new_pod(now, d);
            }
        }
        // Pods that fit at t = 0 start ready.
        let mut still = VecDeque::new();
        while let Some(p) = self.pending.pop_front() {
            let (cpu, mem) = self.size(p);
            match self.nodes.iter().position(|n| n.fits(cpu, mem)) {
                Some(n) => {
                    self.nodes[n].add(cpu, mem);
                    let pod = &mut self.pods[p as usize];
                    pod.node = Some(n as u32);
                    pod.started = Some(now);
                    self.make_ready(p, now);
                }
                None => still.push_back(p),
            }
        }
        self.pending = still;
        cx.rec.instances.set(now, self.live_pods());
        if let Some(c) = &self.hpa_cfg {
            cx.schedule(now + c.sync_period, KubernetesEvent::HpaSync);
            // Scrapes at k P - delay (window ends) and k P - delay - window
            // (window starts), for k >= 1, from t = 0 on.
            let first = |offset: u64| {
                let p = c.sync_period.0;
                let k = offset.div_ceil(p).max(1);
                SimTime(k * p - offset)
            };
            self.scrape_end = first(c.metric_delay.0);
            self.scrape_start = first(c.metric_delay.0 + c.metric_window.0);
            cx.schedule(
                self.scrape_start.min(self.scrape_end),
                KubernetesEvent::Scrape,
            );
        }
        if let Some(ca) = &self.cfg.autoscaler {
            cx.schedule(now + ca.scan_interval, KubernetesEvent::AutoscalerScan);
        }
    }

    fn on_arrival(&mut self, req: Request, cx: &mut Ctx<KubernetesEvent>) {
        let now = cx.now();
        cx.rec.arrived(&req);
        let Some(p) = self.pick(self.cfg.deployments.of_fn(req.function)) else {
            cx.rec.outcome(&req, Outcome::Rejected, None, now, false);
            return;
        };
        let pod = &mut self.pods[p as usize];
        pod.touch(now);
        pod.usage.routed += 1;
        let before = pod.server.state();
        match pod.server.offer(req, now) {
            Admission::Full => cx.rec.outcome(&req, Outcome::Rejected, None, now, false),
            Admission::Started | Admission::Queued => self.account(p, before, now, cx),
        }
    }

    fn on_event(&mut self, event: KubernetesEvent, cx: &mut Ctx<KubernetesEvent>) {
        let now = cx.now();
        match event {
            KubernetesEvent::PodTick { pod: p, epoch } => {
                let pod = &mut self.pods[p as usize];
                if pod.server.epoch != epoch {
                    return;
                }
                pod.touch(now);
                let before = pod.server.state();
                let mut done = std::mem::take(&mut self.done);
                pod.server.complete(now, &mut done);
                for d in done.drain(..) {
                    cx.rec
                        .outcome(&d.req, Outcome::Completed, Some(d.start), now, false);
                }
                self.done = done;
                self.account(p, before, now, cx);
                let pod = &self.pods[p as usize];
                if pod.state == PodState::Terminating && pod.server.outstanding() == 0 {
                    self.finalize(p, now, cx);
                }
            }
            KubernetesEvent::PodReady(p) => {
                if self.pods[p as usize].state == PodState::Starting {
                    self.make_ready(p, now);
                }
            }
            KubernetesEvent::NodeReady(n) => {
                if self.nodes[n as usize].state == NodeState::Provisioning {
                    self.nodes[n as usize].state = NodeState::Ready;
                    self.schedule_pending(now, cx);
                }
            }
            KubernetesEvent::HpaSync => {
                for d in 0..self.deployments.len() {
                    let request_m = self.cfg.shapes[d].cpu_m as f64;
                    let samples = self.hpa_samples(d, now);
                    let dep = &mut self.deployments[d];
                    let scaler = dep.autoscaler.as_mut().expect("HpaSync needs an HPA");
                    if let ScaleDecision::Replicas(n) =
                        scaler.sync(now, dep.desired, &samples, request_m)
                    {
                        dep.desired = n;
                    }
                    self.reconcile(d, now, cx);
                }
                let period = self.hpa_cfg.as_ref().expect("an HPA").sync_period;
                cx.schedule(now + period, KubernetesEvent::HpaSync);
            }
            KubernetesEvent::Scrape => {
                self.scrape(now);
                cx.schedule(
                    self.scrape_start.min(self.scrape_end),
                    KubernetesEvent::Scrape,
                );
            }
            KubernetesEvent::AutoscalerScan => {
                self.autoscale_nodes(now, cx);
                let interval = self
                    .cfg
                    .autoscaler
                    .as_ref()
                    .expect("an autoscaler")
                    .scan_interval;
                cx.schedule(now + interval, KubernetesEvent::AutoscalerScan);
            }
        }
    }

    fn gauges(&mut self, at: SimTime, _sim: &mut Ctx<KubernetesEvent>) -> Gauges {
        let count = |s: PodState| {
            self.live
                .iter()
                .filter(|&&p| self.pods[p as usize].state == s)
                .count() as u64
        };
        let nodes =
            |f: &dyn Fn(NodeState) -> bool| self.nodes.iter().filter(|n| f(n.state)).count() as u64;
        let mut values = [0; crate::metrics::MAX_GAUGES];
        // In KIND.gauges order.
        values[..5].copy_from_slice(&[
            self.deployments.iter().map(|d| u64::from(d.desired)).sum(),
            self.deployments.iter().map(|d| d.lb.ready() as u64).sum(),
            count(PodState::Pending) + count(PodState::Starting),
            nodes(&|s| matches!(s, NodeState::Ready | NodeState::Draining)),
            nodes(&|s| s == NodeState::Provisioning),
        ]);
        Gauges {
            in_flight: self.in_service + self.queued,
            queued: self.queued,
            values,
            cost_usd: self.cost_between(SimTime::ZERO, at).total(),
        }
    }

    fn finish(self, cx: &mut Ctx<KubernetesEvent>) -> Bill {
        let now = cx.now();
        let mut held: Vec<(Request, Option<SimTime>)> =
            self.pods.iter().flat_map(|p| p.server.held()).collect();
        held.sort_by_key(|(r, _)| r.id);
        for (req, start) in held {
            cx.rec.outcome(&req, Outcome::InFlight, start, now, false);
        }
        let (from, to) = cx.rec.window();
        let cost = self.cost_between(from, to);
        let window_s = to.since(from).as_secs_f64();
        Bill {
            cost,
            per_month_usd: cost.total() * MONTH_S / window_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unplaced_pods_are_unready_for_metrics_other_than_cpu() {
        use HpaGroup::*;
        let cases = [
            (PodState::Pending, [Unready, Unready, Unready]),
            (PodState::Starting, [Unready, Measured, Measured]),
            (PodState::Ready, [Measured, Measured, Measured]),
            (PodState::Terminating, [Ignored, Ignored, Ignored]),
        ];
        for (state, groups) in cases {
            for (metric, group) in [Metric::Cpu, Metric::Concurrency, Metric::Rps]
                .into_iter()
                .zip(groups)
            {
                assert_eq!(hpa_group(state, metric), group, "{state:?} {metric:?}");
            }
        }
    }
}
