//! The Kubernetes model (SPEC 4): pods with processor-sharing CPUs behind a
//! load balancer, fixed replicas or the Horizontal Pod Autoscaler, nodes from
//! an instance catalogue with the Cluster Autoscaler, and the bill.
//!
//! Defaults and their sources are in `shared/platform-facts.md` sections 5
//! (HPA), 6.1 (cluster autoscaler), 7 (pod startup) and 8 (prices).

pub mod hpa;
pub mod nodes;
pub mod pod;

use std::collections::{BTreeSet, VecDeque};

use rand::RngExt;
use serde::Deserialize;

use crate::cost::{Cost, MONTH_S};
use crate::engine::Sim;
use crate::error::{FieldError, FieldPath};
use crate::metrics::{Outcome, Snapshot};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::workload::Request;
use crate::workload::dist::{Dist, DistSpec};

use super::{Bill, Platform, PlatformSpec, ScalingSpec};
use hpa::{Hpa, HpaConfig, Metric, PodSample, Policy, PolicyKind, Rules, Select};
use nodes::{Instance, Node, NodeState, billed_seconds, catalogue};
use pod::{Admission, Done, Server};

// ---------------------------------------------------------------------------
// Scenario fields

/// `pod = { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodSpec {
    cpu: Option<f64>,
    memory_mb: Option<f64>,
    concurrency: Option<i64>,
    queue_capacity: Option<i64>,
    startup: Option<DistSpec>,
}

/// `load_balancer = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancer {
    RoundRobin,
    Random,
    LeastOutstanding,
}

/// `scaling = { kind = "hpa", ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HpaSpec {
    min_replicas: Option<i64>,
    max_replicas: Option<i64>,
    metric: Option<MetricName>,
    target: Option<f64>,
    sync_period_s: Option<f64>,
    metric_window_s: Option<f64>,
    metric_delay_s: Option<f64>,
    tolerance: Option<f64>,
    cpu_initialization_s: Option<f64>,
    initial_readiness_delay_s: Option<f64>,
    behavior: Option<BehaviorSpec>,
    /// `scale_up` / `scale_down` may also sit directly in the HPA table.
    scale_up: Option<RulesSpec>,
    scale_down: Option<RulesSpec>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MetricName {
    Cpu,
    Concurrency,
    Rps,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BehaviorSpec {
    scale_up: Option<RulesSpec>,
    scale_down: Option<RulesSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesSpec {
    stabilization_s: Option<f64>,
    select: Option<SelectName>,
    policies: Option<Vec<PolicySpec>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SelectName {
    Max,
    Min,
    Disabled,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySpec {
    #[serde(rename = "type")]
    kind: PolicyName,
    value: i64,
    period_s: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PolicyName {
    Pods,
    Percent,
}

/// `scaling = { kind = "fixed", replicas = 3 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixedSpec {
    replicas: Option<i64>,
}

/// `nodes = { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodesSpec {
    instance: Option<InstanceSpec>,
    initial: Option<i64>,
    min: Option<i64>,
    max: Option<i64>,
    autoscaler: Option<AutoscalerName>,
    scan_interval_s: Option<f64>,
    provision: Option<DistSpec>,
    utilization_threshold: Option<f64>,
    unneeded_s: Option<f64>,
    delay_after_add_s: Option<f64>,
    system_reserved_cpu: Option<f64>,
    system_reserved_mb: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum InstanceSpec {
    Named(String),
    Custom(CustomInstance),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomInstance {
    vcpu: f64,
    memory_mb: f64,
    usd_per_hour: f64,
    max_pods: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AutoscalerName {
    ClusterAutoscaler,
    None,
}

// ---------------------------------------------------------------------------
// Validated configuration

/// How many pods the deployment wants.
#[derive(Debug, Clone, PartialEq)]
pub enum PodScaling {
    Fixed(u32),
    Hpa(HpaConfig),
}

/// Cluster-autoscaler settings (platform-facts 6.1).
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalerConfig {
    pub scan_interval: SimDuration,
    /// Launch request to node ready.
    pub provision: Dist,
    pub utilization_threshold: f64,
    pub unneeded: SimDuration,
    pub delay_after_add: SimDuration,
}

/// A validated Kubernetes configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesConfig {
    /// Pod CPU request and limit [millicores].
    pub pod_cpu_m: u64,
    pub pod_memory_mb: u64,
    pub concurrency: u32,
    pub queue_capacity: u32,
    /// Placement to ready.
    pub startup: Dist,
    pub load_balancer: LoadBalancer,
    pub scaling: PodScaling,
    pub instance: Instance,
    /// Allocatable per node [millicores, MB].
    pub node_cpu_m: u64,
    pub node_memory_mb: u64,
    pub initial_nodes: u32,
    pub min_nodes: u32,
    pub max_nodes: u32,
    pub autoscaler: Option<AutoscalerConfig>,
    pub control_plane_usd_per_hour: f64,
    pub load_balancer_usd_per_hour: f64,
}

fn int_in(path: &FieldPath, name: &str, v: i64, min: i64, max: i64) -> Result<u32, FieldError> {
    if v < min || v > max {
        return Err(path
            .key(name)
            .error(format!("{name} = {v}: must be between {min} and {max}")));
    }
    Ok(v as u32)
}

fn num_in(path: &FieldPath, name: &str, v: f64, min: f64, max: f64) -> Result<f64, FieldError> {
    if !(v.is_finite() && v >= min && v <= max) {
        return Err(path
            .key(name)
            .error(format!("{name} = {v}: must be between {min} and {max}")));
    }
    Ok(v)
}

fn secs_in(
    path: &FieldPath,
    name: &str,
    v: f64,
    min: f64,
    max: f64,
) -> Result<SimDuration, FieldError> {
    num_in(path, name, v, min, max).map(SimDuration::from_secs_f64)
}

impl RulesSpec {
    fn compile(&self, path: &FieldPath, default: Rules) -> Result<Rules, FieldError> {
        let stabilization = match self.stabilization_s {
            Some(v) => secs_in(path, "stabilization_s", v, 0.0, 3600.0)?,
            None => default.stabilization,
        };
        let select = match self.select {
            None => default.select,
            Some(SelectName::Max) => Select::Max,
            Some(SelectName::Min) => Select::Min,
            Some(SelectName::Disabled) => Select::Disabled,
        };
        let policies = match &self.policies {
            None => default.policies,
            Some(ps) => {
                let ppath = path.key("policies");
                if ps.is_empty() && select != Select::Disabled {
                    return Err(ppath.error(
                        "no policies: give at least one { type, value, period_s }, or \
                         select = \"disabled\"",
                    ));
                }
                ps.iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let at = ppath.index(i);
                        Ok(Policy {
                            kind: match p.kind {
                                PolicyName::Pods => PolicyKind::Pods,
                                PolicyName::Percent => PolicyKind::Percent,
                            },
                            value: int_in(&at, "value", p.value, 1, 100_000)?,
                            // The API allows 1 to 1800 s (platform-facts 5.3).
                            period: secs_in(&at, "period_s", p.period_s, 1.0, 1800.0)?,
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        Ok(Rules {
            stabilization,
            select,
            policies,
        })
    }
}

impl HpaSpec {
    fn compile(&self, path: &FieldPath) -> Result<HpaConfig, FieldError> {
        // minReplicas defaults to 1 (defaults.go); maxReplicas is required by
        // the API, here it defaults to 10.
        let min_replicas = int_in(
            path,
            "min_replicas",
            self.min_replicas.unwrap_or(1),
            1,
            100_000,
        )?;
        let max_replicas = int_in(
            path,
            "max_replicas",
            self.max_replicas.unwrap_or(10),
            1,
            100_000,
        )?;
        if min_replicas > max_replicas {
            return Err(path.key("min_replicas").error(format!(
                "min_replicas = {min_replicas} is greater than max_replicas = {max_replicas}"
            )));
        }
        let metric = match self.metric.unwrap_or(MetricName::Cpu) {
            MetricName::Cpu => Metric::Cpu,
            MetricName::Concurrency => Metric::Concurrency,
            MetricName::Rps => Metric::Rps,
        };
        // Default target: 80 % CPU (autoscaling.DefaultCPUUtilization,
        // platform-facts 5.1, which marks the constant's value UNVERIFIED).
        let target = match (self.target, metric) {
            (Some(t), Metric::Cpu) => num_in(path, "target", t, 0.01, 10.0)?,
            (Some(t), _) => num_in(path, "target", t, 1e-6, 1e9)?,
            (None, Metric::Cpu) => 0.8,
            (None, _) => {
                return Err(path.key("target").error(
                    "missing: a concurrency or rps metric needs a per-pod target, e.g. target = 5",
                ));
            }
        };
        let d = |v: Option<f64>, default: f64| v.unwrap_or(default);
        let window = secs_in(
            path,
            "metric_window_s",
            d(self.metric_window_s, 15.0),
            0.001,
            3600.0,
        )?;
        if self.behavior.is_some() && (self.scale_up.is_some() || self.scale_down.is_some()) {
            return Err(path.key("behavior").error(
                "give scale_up / scale_down either inside behavior = { ... } or directly, not both",
            ));
        }
        let (up_spec, down_spec, at) = match &self.behavior {
            Some(b) => (&b.scale_up, &b.scale_down, path.key("behavior")),
            None => (&self.scale_up, &self.scale_down, path.clone()),
        };
        let up = match up_spec {
            Some(r) => r.compile(&at.key("scale_up"), Rules::default_up())?,
            None => Rules::default_up(),
        };
        let down = match down_spec {
            Some(r) => r.compile(&at.key("scale_down"), Rules::default_down())?,
            None => Rules::default_down(),
        };
        // Accepted (SPEC 4) and checked, but without effect: it concerns pods
        // that lose readiness, which this model's pods never do (README).
        secs_in(
            path,
            "initial_readiness_delay_s",
            d(self.initial_readiness_delay_s, 30.0),
            0.0,
            86_400.0,
        )?;
        Ok(HpaConfig {
            min_replicas,
            max_replicas,
            metric,
            target,
            sync_period: secs_in(
                path,
                "sync_period_s",
                d(self.sync_period_s, 15.0),
                0.001,
                3600.0,
            )?,
            metric_window: window,
            metric_delay: secs_in(
                path,
                "metric_delay_s",
                d(self.metric_delay_s, 15.0),
                0.0,
                3600.0,
            )?,
            tolerance: num_in(path, "tolerance", d(self.tolerance, 0.1), 0.0, 0.99)?,
            cpu_initialization: secs_in(
                path,
                "cpu_initialization_s",
                d(self.cpu_initialization_s, 300.0),
                0.0,
                86_400.0,
            )?,
            scale_up: up,
            scale_down: down,
        })
    }
}

impl PlatformSpec {
    /// Validates the Kubernetes platform at `path`.
    pub fn kubernetes(&self, path: &FieldPath) -> Result<KubernetesConfig, FieldError> {
        let pod_path = path.key("pod");
        let pod = self.pod.clone().unwrap_or(PodSpec {
            cpu: None,
            memory_mb: None,
            concurrency: None,
            queue_capacity: None,
            startup: None,
        });
        let cpu = num_in(&pod_path, "cpu", pod.cpu.unwrap_or(1.0), 0.001, 1000.0)?;
        let pod_cpu_m = (cpu * 1000.0).round() as u64;
        let pod_memory_mb = num_in(
            &pod_path,
            "memory_mb",
            pod.memory_mb.unwrap_or(1024.0),
            1.0,
            1e7,
        )?
        .round() as u64;
        let concurrency = int_in(
            &pod_path,
            "concurrency",
            pod.concurrency.unwrap_or(8),
            1,
            1_000_000,
        )?;
        let queue_capacity = int_in(
            &pod_path,
            "queue_capacity",
            pod.queue_capacity.unwrap_or(100),
            0,
            100_000_000,
        )?;
        // SPEC 4's default, median 6 s, p99 20 s: our reading of platform-facts
        // 7, whose suggestion is [DERIVED] (scheduling and container start
        // within the 5 s SLO, plus 5-30 s of image pull, plus app readiness).
        let startup = match &pod.startup {
            Some(d) => d.compile(&pod_path.key("startup"))?,
            None => Dist::lognormal(6.0, 20.0),
        };
        let scaling = match &self.scaling {
            None => PodScaling::Fixed(1),
            Some(ScalingSpec::Fixed(f)) => PodScaling::Fixed(int_in(
                &path.key("scaling"),
                "replicas",
                f.replicas.unwrap_or(1),
                0,
                100_000,
            )?),
            Some(ScalingSpec::Hpa(h)) => PodScaling::Hpa(h.compile(&path.key("scaling"))?),
            Some(_) => {
                return Err(path.key("scaling").error(
                    "a Kubernetes platform scales with { kind = \"fixed\", replicas = N } or \
                     { kind = \"hpa\", ... }; per_function and legacy are Lambda's",
                ));
            }
        };

        let npath = path.key("nodes");
        let nodes = self.nodes.clone().unwrap_or(NodesSpec {
            instance: None,
            initial: None,
            min: None,
            max: None,
            autoscaler: None,
            scan_interval_s: None,
            provision: None,
            utilization_threshold: None,
            unneeded_s: None,
            delay_after_add_s: None,
            system_reserved_cpu: None,
            system_reserved_mb: None,
        });
        let instance = match &nodes.instance {
            None => catalogue().remove(0),
            Some(InstanceSpec::Named(name)) => catalogue()
                .into_iter()
                .find(|i| &i.name == name)
                .ok_or_else(|| {
                    let names: Vec<String> = catalogue().into_iter().map(|i| i.name).collect();
                    npath.key("instance").error(format!(
                        "unknown instance type `{name}`: the catalogue has {}; or give \
                         {{ vcpu, memory_mb, usd_per_hour, max_pods }}",
                        names.join(", ")
                    ))
                })?,
            Some(InstanceSpec::Custom(c)) => {
                let ip = npath.key("instance");
                Instance {
                    name: "custom".into(),
                    vcpu: num_in(&ip, "vcpu", c.vcpu, 0.001, 10_000.0)?,
                    memory_mb: num_in(&ip, "memory_mb", c.memory_mb, 1.0, 1e9)?,
                    usd_per_hour: num_in(&ip, "usd_per_hour", c.usd_per_hour, 0.0, 1e6)?,
                    max_pods: int_in(&ip, "max_pods", c.max_pods, 1, 100_000)?,
                }
            }
        };
        let reserved_cpu = num_in(
            &npath,
            "system_reserved_cpu",
            nodes.system_reserved_cpu.unwrap_or(0.0),
            0.0,
            instance.vcpu,
        )?;
        let reserved_mb = num_in(
            &npath,
            "system_reserved_mb",
            nodes.system_reserved_mb.unwrap_or(0.0),
            0.0,
            instance.memory_mb,
        )?;
        let node_cpu_m = ((instance.vcpu - reserved_cpu) * 1000.0).round() as u64;
        let node_memory_mb = (instance.memory_mb - reserved_mb).round() as u64;
        if pod_cpu_m > node_cpu_m || pod_memory_mb > node_memory_mb {
            return Err(pod_path.error(format!(
                "a pod requesting {cpu} CPU and {pod_memory_mb} MB fits on no node: a {} node \
                 has {} CPU and {node_memory_mb} MB allocatable; use smaller pods or a larger \
                 instance",
                instance.name,
                node_cpu_m as f64 / 1000.0
            )));
        }
        let min_nodes = int_in(&npath, "min", nodes.min.unwrap_or(1), 0, 100_000)?;
        let max_nodes = int_in(&npath, "max", nodes.max.unwrap_or(20), 1, 100_000)?;
        if min_nodes > max_nodes {
            return Err(npath.key("min").error(format!(
                "min = {min_nodes} is greater than max = {max_nodes}"
            )));
        }
        let initial_nodes = int_in(&npath, "initial", nodes.initial.unwrap_or(2), 0, 100_000)?;
        if initial_nodes < min_nodes || initial_nodes > max_nodes {
            return Err(npath.key("initial").error(format!(
                "initial = {initial_nodes} must be between min ({min_nodes}) and max ({max_nodes})"
            )));
        }
        let autoscaler = match nodes
            .autoscaler
            .unwrap_or(AutoscalerName::ClusterAutoscaler)
        {
            AutoscalerName::None => None,
            AutoscalerName::ClusterAutoscaler => Some(AutoscalerConfig {
                scan_interval: secs_in(
                    &npath,
                    "scan_interval_s",
                    nodes.scan_interval_s.unwrap_or(10.0),
                    0.001,
                    3600.0,
                )?,
                // SPEC 4's default, median 120 s, p99 300 s. Platform-facts 6.1
                // has no vendor number: it suggests 60-120 s from launch request
                // to node ready and 2-5 min including the autoscaler's reaction
                // [UNVERIFIED reports], so this sits at the slow end.
                provision: match &nodes.provision {
                    Some(d) => d.compile(&npath.key("provision"))?,
                    None => Dist::lognormal(120.0, 300.0),
                },
                utilization_threshold: num_in(
                    &npath,
                    "utilization_threshold",
                    nodes.utilization_threshold.unwrap_or(0.5),
                    0.0,
                    1.0,
                )?,
                unneeded: secs_in(
                    &npath,
                    "unneeded_s",
                    nodes.unneeded_s.unwrap_or(600.0),
                    0.0,
                    1e7,
                )?,
                delay_after_add: secs_in(
                    &npath,
                    "delay_after_add_s",
                    nodes.delay_after_add_s.unwrap_or(600.0),
                    0.0,
                    1e7,
                )?,
            }),
        };
        let usd = |name: &str, v: Option<f64>, default: f64| {
            num_in(path, name, v.unwrap_or(default), 0.0, 1e6)
        };
        Ok(KubernetesConfig {
            pod_cpu_m,
            pod_memory_mb,
            concurrency,
            queue_capacity,
            startup,
            load_balancer: self.load_balancer.unwrap_or(LoadBalancer::RoundRobin),
            scaling,
            instance,
            node_cpu_m,
            node_memory_mb,
            initial_nodes,
            min_nodes,
            max_nodes,
            autoscaler,
            // EKS standard support: $0.10 per cluster-hour (platform-facts 8).
            control_plane_usd_per_hour: usd(
                "control_plane_usd_per_hour",
                self.control_plane_usd_per_hour,
                0.10,
            )?,
            load_balancer_usd_per_hour: usd(
                "load_balancer_usd_per_hour",
                self.load_balancer_usd_per_hour,
                0.0,
            )?,
        })
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
struct Usage {
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
    usage: Usage,
    touched: SimTime,
    /// Usage snapshots at the metric window edges.
    snapshots: VecDeque<(SimTime, Usage)>,
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
struct Deployment {
    /// Pods not yet gone.
    live: BTreeSet<u32>,
    /// Ready pods in the order the load balancer cycles through them.
    ready: Vec<u32>,
    rr: usize,
    /// Ready pods by outstanding requests (least_outstanding).
    by_outstanding: BTreeSet<(usize, u32)>,
    /// The deployment's replicas (`spec.replicas`).
    desired: u32,
    hpa: Option<Hpa>,
}

/// The Kubernetes platform during one run.
pub struct Kubernetes {
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
    deployments: Vec<Deployment>,
    /// The HPA settings (every deployment's HPA has the same).
    hpa_cfg: Option<HpaConfig>,
    /// Next window-start and window-end scrape times.
    scrape_start: SimTime,
    scrape_end: SimTime,
    last_scale_up: Option<SimTime>,
    in_service: u64,
    queued: u64,
    done: Vec<Done>,
}

impl Kubernetes {
    /// The platform at t = 0 (call [`Platform::start`] before events).
    /// One deployment per function (`functions` of them), each starting at
    /// its fixed replicas or the HPA's minimum.
    pub fn new(
        cfg: KubernetesConfig,
        functions: usize,
        startup_rng: SimRng,
        provision_rng: SimRng,
        lb_rng: SimRng,
    ) -> Self {
        let hpa_cfg = match &cfg.scaling {
            PodScaling::Hpa(h) => Some(h.clone()),
            PodScaling::Fixed(_) => None,
        };
        let deployments = (0..functions.max(1))
            .map(|_| Deployment {
                live: BTreeSet::new(),
                ready: Vec::new(),
                rr: 0,
                by_outstanding: BTreeSet::new(),
                desired: 0,
                hpa: hpa_cfg.clone().map(Hpa::new),
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
            last_scale_up: None,
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
        self.nodes.iter().filter(|n| n.exists()).count() as u64
    }

    fn new_pod(&mut self, now: SimTime, deployment: usize) -> u32 {
        let cfg = &self.cfg;
        self.pods.push(Pod {
            deployment: deployment as u32,
            state: PodState::Pending,
            node: None,
            created: now,
            started: None,
            ready_at: None,
            server: Server::new(cfg.pod_cpu_m, cfg.concurrency, cfg.queue_capacity),
            usage: Usage::default(),
            touched: now,
            snapshots: VecDeque::new(),
        });
        let id = (self.pods.len() - 1) as u32;
        self.pending.push_back(id);
        self.live.insert(id);
        self.deployments[deployment].live.insert(id);
        id
    }

    fn launch_node(&mut self, now: SimTime, ready: bool, sim: &mut Sim<KubernetesEvent>) {
        let mut node = Node::new(
            now,
            self.cfg.node_cpu_m,
            self.cfg.node_memory_mb,
            self.cfg.instance.max_pods,
        );
        let id = self.nodes.len() as u32;
        if ready {
            node.state = NodeState::Ready;
        } else {
            let ca = self
                .cfg
                .autoscaler
                .as_ref()
                .expect("only the autoscaler launches nodes");
            let delay = ca.provision.sample(&mut self.provision_rng);
            sim.schedule(now + delay, KubernetesEvent::NodeReady(id));
        }
        self.nodes.push(node);
        sim.rec.nodes.set(now, self.live_nodes());
    }

    /// Places pending pods first-fit on ready nodes, oldest pod first.
    fn schedule_pending(&mut self, now: SimTime, sim: &mut Sim<KubernetesEvent>) {
        let (cpu, mem) = (self.cfg.pod_cpu_m, self.cfg.pod_memory_mb);
        let mut still = VecDeque::new();
        while let Some(p) = self.pending.pop_front() {
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
                    sim.schedule(now + delay, KubernetesEvent::PodReady(p));
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
        d.ready.push(p);
        if self.cfg.load_balancer == LoadBalancer::LeastOutstanding {
            d.by_outstanding.insert((pod.server.outstanding(), p));
        }
    }

    fn leave_load_balancer(&mut self, p: u32) {
        let pod = &self.pods[p as usize];
        let out = pod.server.outstanding();
        let d = &mut self.deployments[pod.deployment as usize];
        if let Some(i) = d.ready.iter().position(|&q| q == p) {
            d.ready.remove(i);
            // Keep the rotation on the pod it was going to visit next.
            if i < d.rr {
                d.rr -= 1;
            }
        }
        d.by_outstanding.remove(&(out, p));
    }

    /// Frees a pod's node capacity; removes a draining node left empty.
    fn release_node(&mut self, p: u32, now: SimTime, sim: &mut Sim<KubernetesEvent>) {
        if let Some(n) = self.pods[p as usize].node.take() {
            let node = &mut self.nodes[n as usize];
            node.remove(self.cfg.pod_cpu_m, self.cfg.pod_memory_mb);
            if node.state == NodeState::Draining && node.pods == 0 {
                node.state = NodeState::Removed;
                node.removed = Some(now);
                sim.rec.nodes.set(now, self.live_nodes());
            }
        }
    }

    fn finalize(&mut self, p: u32, now: SimTime, sim: &mut Sim<KubernetesEvent>) {
        self.release_node(p, now, sim);
        self.gone(p);
        sim.rec.instances.set(now, self.live_pods());
        self.schedule_pending(now, sim);
    }

    /// Takes a pod out of service: pending and starting pods go at once,
    /// ready ones drain what they hold first.
    fn stop_pod(&mut self, p: u32, now: SimTime, sim: &mut Sim<KubernetesEvent>) {
        match self.pods[p as usize].state {
            PodState::Pending => {
                self.pending.retain(|&q| q != p);
                self.gone(p);
                sim.rec.instances.set(now, self.live_pods());
            }
            PodState::Starting => self.finalize(p, now, sim),
            PodState::Ready => {
                self.leave_load_balancer(p);
                self.pods[p as usize].state = PodState::Terminating;
                if self.pods[p as usize].server.outstanding() == 0 {
                    self.finalize(p, now, sim);
                }
            }
            PodState::Terminating | PodState::Gone => {}
        }
    }

    /// Brings deployment `d` to its desired pods (terminating ones not counted).
    fn reconcile(&mut self, d: usize, now: SimTime, sim: &mut Sim<KubernetesEvent>) {
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
            sim.rec.instances.set(now, self.live_pods());
            self.schedule_pending(now, sim);
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
                self.stop_pod(p, now, sim);
            }
        }
    }

    /// Routes a request of deployment `d` to a ready pod, or `None` when none is ready.
    fn pick(&mut self, d: usize) -> Option<u32> {
        let dep = &mut self.deployments[d];
        if dep.ready.is_empty() {
            return None;
        }
        Some(match self.cfg.load_balancer {
            LoadBalancer::RoundRobin => {
                let p = dep.ready[dep.rr % dep.ready.len()];
                dep.rr = (dep.rr + 1) % dep.ready.len();
                p
            }
            LoadBalancer::Random => dep.ready[self.lb_rng.random_range(0..dep.ready.len())],
            LoadBalancer::LeastOutstanding => dep.by_outstanding.first().expect("ready pods").1,
        })
    }

    /// Updates the totals and the least-outstanding index after pod `p` changed.
    /// (`before`: in service, queued and epoch before the change.)
    fn account(
        &mut self,
        p: u32,
        before: (usize, usize, u32),
        now: SimTime,
        sim: &mut Sim<KubernetesEvent>,
    ) {
        let pod = &self.pods[p as usize];
        let after = (pod.server.busy(), pod.server.queued());
        self.in_service = self.in_service + after.0 as u64 - before.0 as u64;
        self.queued = self.queued + after.1 as u64 - before.1 as u64;
        // The least-outstanding index is kept only when it is used.
        if self.cfg.load_balancer == LoadBalancer::LeastOutstanding
            && pod.state == PodState::Ready
            && before.0 + before.1 != after.0 + after.1
        {
            let d = &mut self.deployments[pod.deployment as usize];
            d.by_outstanding.remove(&(before.0 + before.1, p));
            d.by_outstanding.insert((after.0 + after.1, p));
        }
        if before.0 != after.0 {
            sim.rec.in_service.set(now, self.in_service);
        }
        let epoch = pod.server.epoch;
        if epoch != before.2
            && let Some(t) = pod.server.next_completion()
        {
            sim.schedule(t, KubernetesEvent::PodTick { pod: p, epoch });
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
            let sample = match pod.state {
                PodState::Pending | PodState::Starting => PodSample::Unready,
                PodState::Terminating | PodState::Gone => continue,
                PodState::Ready => {
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

    fn autoscale_nodes(&mut self, now: SimTime, sim: &mut Sim<KubernetesEvent>) {
        let ca = self.cfg.autoscaler.clone().expect("an autoscaler");
        // Scale up: pending pods that nodes already provisioning will not
        // take. Pods are all alike, so a fresh node holds `per_node` of them.
        if !self.pending.is_empty() {
            let per_node = self.pods_per_node();
            let provisioning = self
                .nodes
                .iter()
                .filter(|n| n.state == NodeState::Provisioning)
                .count() as u64;
            let uncovered = (self.pending.len() as u64).saturating_sub(provisioning * per_node);
            let wanted = uncovered.div_ceil(per_node);
            let room = u64::from(self.cfg.max_nodes).saturating_sub(self.live_nodes());
            let launch = wanted.min(room);
            for _ in 0..launch {
                self.launch_node(now, false, sim);
            }
            if launch > 0 {
                self.last_scale_up = Some(now);
            }
        }
        // Scale down: track under-utilised ready nodes continuously.
        for n in &mut self.nodes {
            if n.state == NodeState::Ready && n.utilization() < ca.utilization_threshold {
                n.unneeded_since.get_or_insert(now);
            } else {
                n.unneeded_since = None;
            }
        }
        if self
            .last_scale_up
            .is_some_and(|t| now < t + ca.delay_after_add)
        {
            return;
        }
        let mut removable = self
            .nodes
            .iter()
            .filter(|n| matches!(n.state, NodeState::Ready | NodeState::Provisioning))
            .count()
            .saturating_sub(self.cfg.min_nodes as usize);
        // At most 10 empty nodes (max-empty-bulk-delete) and one occupied node a scan.
        let (mut empty_removed, mut drained) = (0, 0);
        for n in 0..self.nodes.len() {
            if removable == 0 {
                break;
            }
            let node = &self.nodes[n];
            let due = node.state == NodeState::Ready
                && node.unneeded_since.is_some_and(|t| now >= t + ca.unneeded);
            if !due {
                continue;
            }
            if node.pods == 0 {
                if empty_removed < 10 {
                    let node = &mut self.nodes[n];
                    node.state = NodeState::Removed;
                    node.removed = Some(now);
                    empty_removed += 1;
                    removable -= 1;
                    sim.rec.nodes.set(now, self.live_nodes());
                }
                continue;
            }
            // One occupied node at a time, and only when no pod is already
            // waiting for room (its replacements would queue behind them).
            if drained > 0 || !self.pending.is_empty() || !self.pods_fit_elsewhere(n as u32) {
                continue;
            }
            self.nodes[n].state = NodeState::Draining;
            drained += 1;
            removable -= 1;
            // Evicted pods are replaced by the ReplicaSet and scheduled elsewhere.
            let evicted: Vec<u32> = self
                .live
                .iter()
                .copied()
                .filter(|&p| {
                    let pod = &self.pods[p as usize];
                    pod.node == Some(n as u32)
                        && matches!(pod.state, PodState::Starting | PodState::Ready)
                })
                .collect();
            for p in evicted {
                let d = self.pods[p as usize].deployment as usize;
                self.stop_pod(p, now, sim);
                self.new_pod(now, d);
            }
            sim.rec.instances.set(now, self.live_pods());
            self.schedule_pending(now, sim);
        }
    }

    /// How many pods an empty node holds (at least one: validation checks a pod fits).
    fn pods_per_node(&self) -> u64 {
        let c = &self.cfg;
        (c.node_cpu_m / c.pod_cpu_m)
            .min(c.node_memory_mb / c.pod_memory_mb.max(1))
            .min(u64::from(c.instance.max_pods))
            .max(1)
    }

    /// Whether the pods on node `n` would fit on the other ready nodes.
    fn pods_fit_elsewhere(&self, n: u32) -> bool {
        let (cpu, mem) = (self.cfg.pod_cpu_m, self.cfg.pod_memory_mb);
        let moving = self
            .pods
            .iter()
            .filter(|p| {
                p.node == Some(n) && matches!(p.state, PodState::Starting | PodState::Ready)
            })
            .count();
        let mut others: Vec<Node> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|&(i, o)| i as u32 != n && o.state == NodeState::Ready)
            .map(|(_, o)| o.clone())
            .collect();
        (0..moving).all(|_| match others.iter_mut().find(|o| o.fits(cpu, mem)) {
            Some(o) => {
                o.add(cpu, mem);
                true
            }
            None => false,
        })
    }

    /// The bill of nodes, control plane and load balancer over [from, to).
    fn cost_between(&self, from: SimTime, to: SimTime) -> Cost {
        let node_s: u64 = self
            .nodes
            .iter()
            .map(|n| billed_seconds(n.launched, n.removed, from, to))
            .sum();
        let hours = to.since(from).as_secs_f64() / 3600.0;
        Cost {
            nodes: node_s as f64 * self.cfg.instance.usd_per_hour / 3600.0,
            control_plane: self.cfg.control_plane_usd_per_hour * hours,
            front_door: self.cfg.load_balancer_usd_per_hour * hours,
            ..Cost::default()
        }
    }
}

impl Platform for Kubernetes {
    type Event = KubernetesEvent;

    fn start(&mut self, sim: &mut Sim<KubernetesEvent>) {
        let now = SimTime::ZERO;
        for _ in 0..self.cfg.initial_nodes {
            self.launch_node(now, true, sim);
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
        let (cpu, mem) = (self.cfg.pod_cpu_m, self.cfg.pod_memory_mb);
        let mut still = VecDeque::new();
        while let Some(p) = self.pending.pop_front() {
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
        sim.rec.instances.set(now, self.live_pods());
        if let Some(c) = &self.hpa_cfg {
            sim.schedule(now + c.sync_period, KubernetesEvent::HpaSync);
            // Scrapes at k P - delay (window ends) and k P - delay - window
            // (window starts), for k >= 1, from t = 0 on.
            let first = |offset: u64| {
                let p = c.sync_period.0;
                let k = offset.div_ceil(p).max(1);
                SimTime(k * p - offset)
            };
            self.scrape_end = first(c.metric_delay.0);
            self.scrape_start = first(c.metric_delay.0 + c.metric_window.0);
            sim.schedule(
                self.scrape_start.min(self.scrape_end),
                KubernetesEvent::Scrape,
            );
        }
        if let Some(ca) = &self.cfg.autoscaler {
            sim.schedule(now + ca.scan_interval, KubernetesEvent::AutoscalerScan);
        }
    }

    fn on_arrival(&mut self, req: Request, sim: &mut Sim<KubernetesEvent>) {
        let now = sim.now();
        sim.rec.arrived(&req);
        let Some(p) = self.pick(req.function as usize) else {
            sim.rec.outcome(&req, Outcome::Rejected, None, now, false);
            return;
        };
        let pod = &mut self.pods[p as usize];
        pod.touch(now);
        pod.usage.routed += 1;
        let before = (pod.server.busy(), pod.server.queued(), pod.server.epoch);
        match pod.server.offer(req, now) {
            Admission::Full => sim.rec.outcome(&req, Outcome::Rejected, None, now, false),
            Admission::Started | Admission::Queued => self.account(p, before, now, sim),
        }
    }

    fn on_event(&mut self, event: KubernetesEvent, sim: &mut Sim<KubernetesEvent>) {
        let now = sim.now();
        match event {
            KubernetesEvent::PodTick { pod: p, epoch } => {
                let pod = &mut self.pods[p as usize];
                if pod.server.epoch != epoch {
                    return;
                }
                pod.touch(now);
                let before = (pod.server.busy(), pod.server.queued(), pod.server.epoch);
                let mut done = std::mem::take(&mut self.done);
                pod.server.complete(now, &mut done);
                for d in done.drain(..) {
                    sim.rec
                        .outcome(&d.req, Outcome::Completed, Some(d.start), now, false);
                }
                self.done = done;
                self.account(p, before, now, sim);
                let pod = &self.pods[p as usize];
                if pod.state == PodState::Terminating && pod.server.outstanding() == 0 {
                    self.finalize(p, now, sim);
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
                    self.schedule_pending(now, sim);
                }
            }
            KubernetesEvent::HpaSync => {
                let request_m = self.cfg.pod_cpu_m as f64;
                for d in 0..self.deployments.len() {
                    let samples = self.hpa_samples(d, now);
                    let dep = &mut self.deployments[d];
                    let hpa = dep.hpa.as_mut().expect("HpaSync needs an HPA");
                    dep.desired = hpa.sync(now, dep.desired, &samples, request_m);
                    self.reconcile(d, now, sim);
                }
                let period = self.hpa_cfg.as_ref().expect("an HPA").sync_period;
                sim.schedule(now + period, KubernetesEvent::HpaSync);
            }
            KubernetesEvent::Scrape => {
                self.scrape(now);
                sim.schedule(
                    self.scrape_start.min(self.scrape_end),
                    KubernetesEvent::Scrape,
                );
            }
            KubernetesEvent::AutoscalerScan => {
                self.autoscale_nodes(now, sim);
                let interval = self
                    .cfg
                    .autoscaler
                    .as_ref()
                    .expect("an autoscaler")
                    .scan_interval;
                sim.schedule(now + interval, KubernetesEvent::AutoscalerScan);
            }
        }
    }

    fn snapshot(&mut self, at: SimTime, _sim: &mut Sim<KubernetesEvent>) -> Snapshot {
        let count = |s: PodState| {
            self.live
                .iter()
                .filter(|&&p| self.pods[p as usize].state == s)
                .count() as u64
        };
        let nodes =
            |f: &dyn Fn(NodeState) -> bool| self.nodes.iter().filter(|n| f(n.state)).count() as u64;
        Snapshot {
            in_flight: self.in_service + self.queued,
            queued: self.queued,
            pods_desired: Some(self.deployments.iter().map(|d| u64::from(d.desired)).sum()),
            pods_ready: Some(self.deployments.iter().map(|d| d.ready.len() as u64).sum()),
            pods_pending: Some(count(PodState::Pending) + count(PodState::Starting)),
            nodes: Some(nodes(&|s| {
                matches!(s, NodeState::Ready | NodeState::Draining)
            })),
            nodes_provisioning: Some(nodes(&|s| s == NodeState::Provisioning)),
            cost_usd: self.cost_between(SimTime::ZERO, at).total(),
            ..Snapshot::default()
        }
    }

    fn finish(self, sim: &mut Sim<KubernetesEvent>) -> Bill {
        let now = sim.now();
        let mut held: Vec<(Request, Option<SimTime>)> =
            self.pods.iter().flat_map(|p| p.server.held()).collect();
        held.sort_by_key(|(r, _)| r.id);
        for (req, start) in held {
            sim.rec.outcome(&req, Outcome::InFlight, start, now, false);
        }
        let (from, to) = sim.rec.window();
        let cost = self.cost_between(from, to);
        let window_s = to.since(from).as_secs_f64();
        Bill {
            cost,
            per_month_usd: cost.total() * MONTH_S / window_s,
        }
    }
}
