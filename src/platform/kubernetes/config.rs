//! Kubernetes configuration: the `[[platforms]]` fields of `kind =
//! "kubernetes"`, validated into [`KubernetesConfig`].

use serde::Deserialize;

use crate::error::{FieldError, FieldPath};
use crate::time::SimDuration;
use crate::workload::dist::{Dist, DistSpec};

use super::hpa::{HpaConfig, Metric, Policy, PolicyKind, Rules, Select};
use super::nodes::{Instance, catalogue};
pub use crate::platform::container::LoadBalancer;
use crate::platform::container::{DeploymentBy, Deployments};

// ---------------------------------------------------------------------------
// Scenario fields

/// `pod = { ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodSpec {
    cpu: Option<f64>,
    cpu_limit: Option<f64>,
    memory_mb: Option<f64>,
    concurrency: Option<i64>,
    queue_capacity: Option<i64>,
    startup: Option<DistSpec>,
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
    tolerance_up: Option<f64>,
    tolerance_down: Option<f64>,
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

/// `instance`: a catalogue name or a custom table, told apart after
/// reading, so that a wrong table gets an error naming its field.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
struct InstanceSpec(toml::Value);

/// Pods per node when a custom instance gives none: the kubelet's default
/// (`KubeletConfiguration.maxPods`, kubelet configuration reference).
pub const DEFAULT_MAX_PODS: i64 = 110;

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

/// Cluster-autoscaler settings (kubernetes/autoscaler `cluster-autoscaler/FAQ.md`).
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
    /// The workload's functions grouped into deployments (`deployment_by`).
    pub deployments: Deployments,
    /// Each deployment's pods (`pod`, with `pods` overrides).
    pub shapes: Vec<PodShape>,
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

impl RulesSpec {
    fn compile(&self, path: &FieldPath, default: Rules) -> Result<Rules, FieldError> {
        let stabilization = match self.stabilization_s {
            Some(v) => path.secs_in("stabilization_s", v, 0.0, 3600.0)?,
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
                            value: at.int_in("value", p.value, 1, 100_000)?,
                            // The API allows 1 to 1800 s (kubernetes
                            // `pkg/apis/autoscaling/validation/validation.go`).
                            period: at.secs_in("period_s", p.period_s, 1.0, 1800.0)?,
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
        let min_replicas =
            path.int_in("min_replicas", self.min_replicas.unwrap_or(1), 1, 100_000)?;
        let max_replicas =
            path.int_in("max_replicas", self.max_replicas.unwrap_or(10), 1, 100_000)?;
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
        // Default target: 80 % CPU (autoscaling.DefaultCPUUtilization, kubernetes
        // `pkg/apis/autoscaling/v2/defaults.go`).
        let target = match (self.target, metric) {
            (Some(t), Metric::Cpu) => path.num_in("target", t, 0.01, 10.0)?,
            (Some(t), _) => path.num_in("target", t, 1e-6, 1e9)?,
            (None, Metric::Cpu) => 0.8,
            (None, _) => {
                return Err(path.key("target").error(
                    "missing: a concurrency or rps metric needs a per-pod target, e.g. target = 5",
                ));
            }
        };
        let d = |v: Option<f64>, default: f64| v.unwrap_or(default);
        let window = path.secs_in(
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
        // Without any, the controller's legacy path applies (`horizontal.go`
        // takes `normalizeDesiredReplicas` when the spec has no behavior:
        // autoscaling/v2 defaulting fills one only when it is given).
        let legacy =
            self.behavior.is_none() && self.scale_up.is_none() && self.scale_down.is_none();
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
        // Accepted (it is in the scenario reference) and checked, but without effect: it
        // concerns pods that lose readiness, which this model's pods never do (README).
        path.secs_in(
            "initial_readiness_delay_s",
            d(self.initial_readiness_delay_s, 30.0),
            0.0,
            86_400.0,
        )?;
        let tolerance = path.num_in("tolerance", d(self.tolerance, 0.1), 0.0, 0.99)?;
        Ok(HpaConfig {
            min_replicas,
            max_replicas,
            metric,
            target,
            sync_period: path.secs_in(
                "sync_period_s",
                d(self.sync_period_s, 15.0),
                0.001,
                3600.0,
            )?,
            metric_window: window,
            metric_delay: path.secs_in(
                "metric_delay_s",
                d(self.metric_delay_s, 15.0),
                0.0,
                3600.0,
            )?,
            tolerance_up: path.num_in(
                "tolerance_up",
                d(self.tolerance_up, tolerance),
                0.0,
                100.0,
            )?,
            tolerance_down: path.num_in(
                "tolerance_down",
                d(self.tolerance_down, tolerance),
                0.0,
                0.99,
            )?,
            cpu_initialization: path.secs_in(
                "cpu_initialization_s",
                d(self.cpu_initialization_s, 300.0),
                0.0,
                86_400.0,
            )?,
            scale_up: up,
            scale_down: down,
            legacy,
        })
    }
}

/// A `[[platforms]]` table of `kind = "kubernetes"` (without `name` and `kind`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSpec {
    pod: Option<PodSpec>,
    deployment_by: Option<DeploymentBy>,
    /// Per-deployment pod fields by deployment name, over `pod`'s.
    pods: Option<std::collections::BTreeMap<String, PodSpec>>,
    load_balancer: Option<LoadBalancer>,
    scaling: Option<PodScalingSpec>,
    nodes: Option<NodesSpec>,
    control_plane_usd_per_hour: Option<f64>,
    load_balancer_usd_per_hour: Option<f64>,
}

/// `scaling = { kind = "hpa" | "fixed", ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum PodScalingSpec {
    Hpa(Box<HpaSpec>),
    Fixed(FixedSpec),
}

/// One deployment's pods: requests, limit and slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodShape {
    /// CPU request and limit \[millicores\], memory request \[MB\].
    pub cpu_m: u64,
    pub cpu_limit_m: u64,
    pub memory_mb: u64,
    pub concurrency: u32,
    pub queue_capacity: u32,
}

impl PodSpec {
    /// The shape of `pod = { ... }` at `pod_path`, fields missing taken from
    /// `base` (the platform's pod) or the defaults.
    fn shape(&self, pod_path: &FieldPath, base: Option<&PodShape>) -> Result<PodShape, FieldError> {
        let cpu_default = base.map_or(1.0, |b| b.cpu_m as f64 / 1000.0);
        let cpu = pod_path.num_in("cpu", self.cpu.unwrap_or(cpu_default), 0.001, 1000.0)?;
        let cpu_m = (cpu * 1000.0).round() as u64;
        // Without a limit, limit = request (Guaranteed QoS); above it, the pod
        // may burst and its utilisation exceed 100 %, as
        // `GetResourceUtilizationRatio` (kubernetes
        // `pkg/controller/podautoscaler/metrics/utilization.go`) reports it.
        let cpu_limit = match (self.cpu_limit, base) {
            (None, Some(b)) if self.cpu.is_none() => b.cpu_limit_m as f64 / 1000.0,
            (None, _) => cpu,
            (Some(l), _) => {
                let l = pod_path.num_in("cpu_limit", l, 0.001, 1000.0)?;
                if l < cpu {
                    return Err(pod_path.key("cpu_limit").error(format!(
                        "cpu_limit = {l} is below cpu = {cpu}: a limit is at least the request"
                    )));
                }
                l
            }
        };
        let memory_default = base.map_or(1024.0, |b| b.memory_mb as f64);
        Ok(PodShape {
            cpu_m,
            cpu_limit_m: (cpu_limit * 1000.0).round() as u64,
            memory_mb: pod_path
                .num_in(
                    "memory_mb",
                    self.memory_mb.unwrap_or(memory_default),
                    1.0,
                    1e7,
                )?
                .round() as u64,
            concurrency: pod_path.int_in(
                "concurrency",
                self.concurrency
                    .unwrap_or(base.map_or(8, |b| i64::from(b.concurrency))),
                1,
                1_000_000,
            )?,
            queue_capacity: pod_path.int_in(
                "queue_capacity",
                self.queue_capacity
                    .unwrap_or(base.map_or(100, |b| i64::from(b.queue_capacity))),
                0,
                100_000_000,
            )?,
        })
    }
}

impl KubernetesSpec {
    /// Validates the Kubernetes platform of `s` (its path, the workload's
    /// functions for the deployments, and notes for warnings).
    pub fn to_config(&self, s: &crate::platform::Setting) -> Result<KubernetesConfig, FieldError> {
        let path = s.path;
        let pod_path = path.key("pod");
        let pod = self.pod.clone().unwrap_or(PodSpec {
            cpu: None,
            cpu_limit: None,
            memory_mb: None,
            concurrency: None,
            queue_capacity: None,
            startup: None,
        });
        let base = pod.shape(&pod_path, None)?;
        // The scenario reference's default (README), median 6 s, p99 20 s: our own
        // estimate, not a published figure (scheduling and container start within the
        // 5 s SLO of kubernetes/community `sig-scalability/slos/pod_startup_latency.md`,
        // plus 5-30 s of image pull, plus app readiness).
        let startup = match &pod.startup {
            Some(d) => d.compile(&pod_path.key("startup"))?,
            None => Dist::lognormal(6.0, 20.0),
        };
        let scaling = match &self.scaling {
            None => PodScaling::Fixed(1),
            Some(PodScalingSpec::Fixed(f)) => PodScaling::Fixed(path.key("scaling").int_in(
                "replicas",
                f.replicas.unwrap_or(1),
                0,
                100_000,
            )?),
            Some(PodScalingSpec::Hpa(h)) => PodScaling::Hpa(h.compile(&path.key("scaling"))?),
        };

        let pool = NodesSpec::pool(
            &self.nodes,
            &path.key("nodes"),
            &pod_path,
            "pod",
            base.cpu_m,
            base.memory_mb,
        )?;
        let NodePool {
            instance,
            node_cpu_m,
            node_memory_mb,
            initial_nodes,
            min_nodes,
            max_nodes,
            autoscaler,
        } = pool;
        let usd = |name: &str, v: Option<f64>, default: f64| {
            path.num_in(name, v.unwrap_or(default), 0.0, 1e6)
        };
        let deployments = Deployments::of_setting(s, self.deployment_by);
        let mut shapes = vec![base; deployments.names.len()];
        if let Some(pods) = &self.pods {
            let pods_path = path.key("pods");
            for (name, spec) in pods {
                let at = pods_path.key(name);
                let Some(d) = deployments.names.iter().position(|n| n == name) else {
                    let some: Vec<&str> = deployments
                        .names
                        .iter()
                        .take(5)
                        .map(String::as_str)
                        .collect();
                    return Err(at.error(format!(
                        "no deployment `{name}`: there are {} ({}{}); with deployment_by = \
                         \"function\" a deployment is a function, with \"app\" an application",
                        deployments.names.len(),
                        some.join(", "),
                        if deployments.names.len() > 5 {
                            ", ..."
                        } else {
                            ""
                        }
                    )));
                };
                if spec.startup.is_some() {
                    return Err(at
                        .key("startup")
                        .error("startup is the platform's: set it in `pod`"));
                }
                let shape = spec.shape(&at, Some(&base))?;
                if shape.cpu_m > node_cpu_m || shape.memory_mb > node_memory_mb {
                    return Err(at.error(format!(
                        "a pod of {} CPU and {} MB does not fit on a {} node ({} CPU and {} MB \
                         allocatable)",
                        shape.cpu_m as f64 / 1000.0,
                        shape.memory_mb,
                        instance.name,
                        node_cpu_m as f64 / 1000.0,
                        node_memory_mb
                    )));
                }
                shapes[d] = shape;
            }
        }
        // The deployments' minimum pods against the node pool at its largest.
        let min_pods = match &scaling {
            PodScaling::Fixed(n) => u64::from(*n),
            PodScaling::Hpa(h) => u64::from(h.min_replicas),
        };
        // The most nodes there can be: `max`, or `initial` without an autoscaler.
        let max_nodes_ever = if autoscaler.is_some() {
            max_nodes
        } else {
            initial_nodes
        };
        let wide = |v: u64| u128::from(v);
        let need_cpu: u128 = shapes.iter().map(|p| wide(p.cpu_m) * wide(min_pods)).sum();
        let need_mem: u128 = shapes
            .iter()
            .map(|p| wide(p.memory_mb) * wide(min_pods))
            .sum();
        let pods_total = wide(min_pods) * shapes.len() as u128;
        let (have_cpu, have_mem) = (
            wide(node_cpu_m) * u128::from(max_nodes_ever),
            wide(node_memory_mb) * u128::from(max_nodes_ever),
        );
        let have_pods = u128::from(instance.max_pods) * u128::from(max_nodes_ever);
        if need_cpu > have_cpu || need_mem > have_mem || pods_total > have_pods {
            s.notes.borrow_mut().push(format!(
                "warning: {}: {} deployment(s) x {min_pods} minimum pod(s) = {pods_total} pods \
                 requesting {:.1} CPU and {:.1} GB, but at most {max_nodes_ever} {} nodes hold {:.1} \
                 CPU, {:.1} GB and {have_pods} pods: the rest stay pending and their requests \
                 are rejected; set deployment_by = \"one\" or \"app\", fewer minimum pods, or \
                 a larger nodes.max",
                path,
                shapes.len(),
                need_cpu as f64 / 1000.0,
                need_mem as f64 / 1024.0,
                instance.name,
                have_cpu as f64 / 1000.0,
                have_mem as f64 / 1024.0,
            ));
        }
        Ok(KubernetesConfig {
            deployments,
            shapes,
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
            // EKS standard support: $0.10 per cluster-hour (AWS Containers blog,
            // 'Amazon EKS extended support for Kubernetes versions pricing').
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

/// A node instance: a catalogue name, or a custom table (`max_pods` optional).
fn instance(spec: &InstanceSpec, ip: &FieldPath) -> Result<Instance, FieldError> {
    let custom_help = "{ vcpu, memory_mb, usd_per_hour } (and optionally max_pods, 110 by default)";
    match &spec.0 {
        toml::Value::String(name) => catalogue()
            .into_iter()
            .find(|i| &i.name == name)
            .ok_or_else(|| {
                let names: Vec<String> = catalogue().into_iter().map(|i| i.name).collect();
                ip.error(format!(
                    "unknown instance type `{name}`: the catalogue has {}; or give {custom_help}",
                    names.join(", ")
                ))
            }),
        toml::Value::Table(t) => {
            const FIELDS: [&str; 4] = ["vcpu", "memory_mb", "usd_per_hour", "max_pods"];
            if let Some(k) = t.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                return Err(ip
                    .key(k)
                    .error(format!("unknown field; a custom instance is {custom_help}")));
            }
            let number = |name: &str| -> Result<Option<f64>, FieldError> {
                match t.get(name) {
                    None => Ok(None),
                    Some(toml::Value::Float(x)) => Ok(Some(*x)),
                    Some(toml::Value::Integer(x)) => Ok(Some(*x as f64)),
                    Some(other) => Err(ip
                        .key(name)
                        .error(format!("expected a number, found {}", other.type_str()))),
                }
            };
            let need = |name: &str| {
                number(name)?.ok_or_else(|| {
                    ip.key(name)
                        .error(format!("missing: a custom instance is {custom_help}"))
                })
            };
            let max_pods = match t.get("max_pods") {
                None => DEFAULT_MAX_PODS,
                Some(toml::Value::Integer(n)) => *n,
                Some(other) => {
                    return Err(ip.key("max_pods").error(format!(
                        "expected a whole number of pods, found {}",
                        other.type_str()
                    )));
                }
            };
            Ok(Instance {
                name: "custom".into(),
                vcpu: ip.num_in("vcpu", need("vcpu")?, 0.001, 10_000.0)?,
                memory_mb: ip.num_in("memory_mb", need("memory_mb")?, 1.0, 1e9)?,
                usd_per_hour: ip.num_in("usd_per_hour", need("usd_per_hour")?, 0.0, 1e6)?,
                max_pods: ip.int_in("max_pods", max_pods, 1, 100_000)?,
            })
        }
        other => Err(ip.error(format!(
            "expected an instance name such as \"m5.large\" or a table {custom_help}, found {}",
            other.type_str()
        ))),
    }
}

/// A validated node pool: the instance, allocatable capacity per node, the
/// node counts and the cluster autoscaler.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePool {
    pub instance: Instance,
    /// Allocatable per node [millicores, MB].
    pub node_cpu_m: u64,
    pub node_memory_mb: u64,
    pub initial_nodes: u32,
    pub min_nodes: u32,
    pub max_nodes: u32,
    pub autoscaler: Option<AutoscalerConfig>,
}

impl NodesSpec {
    /// Validates `nodes = { ... }` at `npath` (`None`: the defaults) for
    /// workloads of `pod_cpu_m` millicores and `pod_memory_mb` MB (a `what`,
    /// whose table is at `pod_path`), which must fit on a node.
    pub(crate) fn pool(
        spec: &Option<NodesSpec>,
        npath: &FieldPath,
        pod_path: &FieldPath,
        what: &str,
        pod_cpu_m: u64,
        pod_memory_mb: u64,
    ) -> Result<NodePool, FieldError> {
        let nodes = spec.clone().unwrap_or(NodesSpec {
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
            Some(spec) => instance(spec, &npath.key("instance"))?,
        };
        let reserved_cpu = npath.num_in(
            "system_reserved_cpu",
            nodes.system_reserved_cpu.unwrap_or(0.0),
            0.0,
            instance.vcpu,
        )?;
        let reserved_mb = npath.num_in(
            "system_reserved_mb",
            nodes.system_reserved_mb.unwrap_or(0.0),
            0.0,
            instance.memory_mb,
        )?;
        let node_cpu_m = ((instance.vcpu - reserved_cpu) * 1000.0).round() as u64;
        let node_memory_mb = (instance.memory_mb - reserved_mb).round() as u64;
        if pod_cpu_m > node_cpu_m || pod_memory_mb > node_memory_mb {
            return Err(pod_path.error(format!(
                "a {what} requesting {} CPU and {pod_memory_mb} MB fits on no node: a {} node \
                 has {} CPU and {node_memory_mb} MB allocatable; use a smaller {what} or a \
                 larger instance",
                pod_cpu_m as f64 / 1000.0,
                instance.name,
                node_cpu_m as f64 / 1000.0
            )));
        }
        let min_nodes = npath.int_in("min", nodes.min.unwrap_or(1), 0, 100_000)?;
        let max_nodes = npath.int_in("max", nodes.max.unwrap_or(20), 1, 100_000)?;
        if min_nodes > max_nodes {
            return Err(npath.key("min").error(format!(
                "min = {min_nodes} is greater than max = {max_nodes}"
            )));
        }
        let initial_nodes = npath.int_in("initial", nodes.initial.unwrap_or(2), 0, 100_000)?;
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
                scan_interval: npath.secs_in(
                    "scan_interval_s",
                    nodes.scan_interval_s.unwrap_or(10.0),
                    0.001,
                    3600.0,
                )?,
                // The scenario reference's default (README), median 120 s, p99 300 s.
                // AWS publishes no number; practitioner reports give 60-120 s from launch
                // request to node ready and 2-5 min including the autoscaler's reaction
                // (observed, not documented), so this sits at the slow end.
                provision: match &nodes.provision {
                    Some(d) => d.compile(&npath.key("provision"))?,
                    None => Dist::lognormal(120.0, 300.0),
                },
                utilization_threshold: npath.num_in(
                    "utilization_threshold",
                    nodes.utilization_threshold.unwrap_or(0.5),
                    0.0,
                    1.0,
                )?,
                unneeded: npath.secs_in(
                    "unneeded_s",
                    nodes.unneeded_s.unwrap_or(600.0),
                    0.0,
                    1e7,
                )?,
                delay_after_add: npath.secs_in(
                    "delay_after_add_s",
                    nodes.delay_after_add_s.unwrap_or(600.0),
                    0.0,
                    1e7,
                )?,
            }),
        };
        Ok(NodePool {
            instance,
            node_cpu_m,
            node_memory_mb,
            initial_nodes,
            min_nodes,
            max_nodes,
            autoscaler,
        })
    }
}
