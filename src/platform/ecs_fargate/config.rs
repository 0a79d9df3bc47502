//! ECS on Fargate configuration: the `[[platforms]]` fields of `kind =
//! "ecs_fargate"`, validated into [`FargateConfig`]. Sizes, quotas and prices
//! cite the AWS page each comes from; figures AWS does not publish (the
//! target-tracking alarms' datapoints, task startup) are settings.

use serde::Deserialize;

use crate::cost::Architecture;
use crate::error::{FieldError, FieldPath};
use crate::platform::container::LoadBalancer;
use crate::time::SimDuration;
use crate::workload::dist::{Dist, DistSpec};

use super::target_tracking::{TrackingConfig, TrackingMetric};

/// `task = { ... }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskSpec {
    vcpu: Option<f64>,
    memory_gb: Option<f64>,
    concurrency: Option<i64>,
    queue_capacity: Option<i64>,
    architecture: Option<Architecture>,
    startup: Option<DistSpec>,
}

/// `health_check = { interval_s, healthy_threshold }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthCheckSpec {
    interval_s: Option<f64>,
    healthy_threshold: Option<i64>,
}

/// `scaling = { kind = "target_tracking" | "fixed", ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ScalingSpec {
    TargetTracking(Box<TrackingSpec>),
    Fixed(FixedSpec),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixedSpec {
    tasks: Option<i64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MetricName {
    Cpu,
    Requests,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrackingSpec {
    metric: Option<MetricName>,
    target: Option<f64>,
    min_tasks: Option<i64>,
    max_tasks: Option<i64>,
    period_s: Option<f64>,
    scale_out_cooldown_s: Option<f64>,
    scale_in_cooldown_s: Option<f64>,
    datapoints_out: Option<i64>,
    datapoints_in: Option<i64>,
    scale_in_threshold: Option<f64>,
}

/// `launch_rate = { burst, per_s }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LaunchRateSpec {
    burst: Option<i64>,
    per_s: Option<i64>,
}

/// `pricing = { vcpu_hour, gb_hour }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PricingSpec {
    vcpu_hour: Option<f64>,
    gb_hour: Option<f64>,
}

/// A `[[platforms]]` table of `kind = "ecs_fargate"` (without `name` and `kind`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FargateSpec {
    deployment_by: Option<crate::platform::container::DeploymentBy>,
    task: Option<TaskSpec>,
    health_check: Option<HealthCheckSpec>,
    load_balancer: Option<LoadBalancer>,
    scaling: Option<ScalingSpec>,
    launch_rate: Option<LaunchRateSpec>,
    load_balancer_usd_per_hour: Option<f64>,
    pricing: Option<PricingSpec>,
}

/// How many tasks the service wants.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskScaling {
    Fixed(u32),
    TargetTracking(TrackingConfig),
}

/// A validated ECS on Fargate configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct FargateConfig {
    /// The workload's functions grouped into deployments (`deployment_by`).
    pub deployments: crate::platform::container::Deployments,
    /// Task size \[millicores\] and \[GB\].
    pub task_cpu_m: u64,
    pub task_memory_gb: f64,
    pub concurrency: u32,
    pub queue_capacity: u32,
    pub architecture: Architecture,
    /// Launch (token taken) to RUNNING: provisioning, ENI, image pull, start.
    pub startup: Dist,
    /// RUNNING to receiving traffic: `healthy_threshold` x `interval_s`.
    pub health_check: SimDuration,
    pub load_balancer: LoadBalancer,
    pub scaling: TaskScaling,
    /// The account's task launch quota: burst and tasks per second.
    pub launch_burst: u32,
    pub launch_per_s: u32,
    pub vcpu_usd_per_hour: f64,
    pub gb_usd_per_hour: f64,
    pub load_balancer_usd_per_hour: f64,
}

/// Fargate's task sizes: vCPU, and the memory range \[GB\] with its step
/// (Amazon ECS developer guide, 'Amazon ECS task definition parameters for
/// Fargate', task size table).
pub const TASK_SIZES: [(f64, Memory); 7] = [
    (0.25, Memory::List(&[0.5, 1.0, 2.0])),
    (0.5, Memory::Range(1.0, 4.0, 1.0)),
    (1.0, Memory::Range(2.0, 8.0, 1.0)),
    (2.0, Memory::Range(4.0, 16.0, 1.0)),
    (4.0, Memory::Range(8.0, 30.0, 1.0)),
    (8.0, Memory::Range(16.0, 60.0, 4.0)),
    (16.0, Memory::Range(32.0, 120.0, 8.0)),
];

/// The memory sizes of one vCPU size \[GB\].
#[derive(Debug, Clone, Copy)]
pub enum Memory {
    List(&'static [f64]),
    /// From, to, in steps of.
    Range(f64, f64, f64),
}

impl Memory {
    /// Whether `gb` is one of the sizes.
    pub fn contains(self, gb: f64) -> bool {
        match self {
            Memory::List(l) => l.contains(&gb),
            Memory::Range(lo, hi, step) => {
                (lo..=hi).contains(&gb) && ((gb - lo) / step).fract() == 0.0
            }
        }
    }

    /// The sizes for a message: "0.5, 1 or 2 GB" or "4 to 16 GB in steps of 1".
    pub fn describe(self) -> String {
        match self {
            Memory::List(l) => {
                let (last, rest) = l.split_last().expect("sizes");
                let rest: Vec<String> = rest.iter().map(|x| x.to_string()).collect();
                format!("{} or {last} GB", rest.join(", "))
            }
            Memory::Range(lo, hi, step) => format!("{lo} to {hi} GB in steps of {step}"),
        }
    }
}

/// The memory sizes Fargate accepts with `vcpu` (none if `vcpu` is not a size).
pub fn valid_memory(vcpu: f64) -> Option<Memory> {
    TASK_SIZES.iter().find(|(v, _)| *v == vcpu).map(|&(_, m)| m)
}

/// x86 and arm64 list prices per vCPU-hour and GB-hour, us-east-1 (AWS
/// Fargate pricing page; third-party copies agree, 2026-06: x86 $0.04048 and
/// $0.004445, arm64 $0.03238 and $0.00356).
pub fn list_prices(arch: Architecture) -> (f64, f64) {
    match arch {
        Architecture::X86_64 => (0.040_48, 0.004_445),
        Architecture::Arm64 => (0.032_38, 0.003_56),
    }
}

impl TrackingSpec {
    fn compile(&self, path: &FieldPath) -> Result<TrackingConfig, FieldError> {
        let metric = match self.metric.unwrap_or(MetricName::Cpu) {
            MetricName::Cpu => TrackingMetric::Cpu,
            MetricName::Requests => TrackingMetric::Requests,
        };
        let target = match (self.target, metric) {
            (Some(t), TrackingMetric::Cpu) => path.num_in("target", t, 0.01, 1.0)?,
            (Some(t), TrackingMetric::Requests) => path.num_in("target", t, 1e-6, 1e12)?,
            // ECS Express Mode's default target: 60 % CPU (Amazon ECS API
            // reference, `ExpressGatewayScalingTarget`).
            (None, TrackingMetric::Cpu) => 0.6,
            (None, TrackingMetric::Requests) => {
                return Err(path.key("target").error(
                    "missing: the requests metric needs a target in ALB requests per task per \
                     minute, e.g. target = 1000",
                ));
            }
        };
        let min_tasks = path.int_in("min_tasks", self.min_tasks.unwrap_or(1), 0, 100_000)?;
        let max_tasks = path.int_in("max_tasks", self.max_tasks.unwrap_or(10), 1, 100_000)?;
        if min_tasks > max_tasks {
            return Err(path.key("min_tasks").error(format!(
                "min_tasks = {min_tasks} is greater than max_tasks = {max_tasks}"
            )));
        }
        let period_s = self.period_s.unwrap_or(60.0);
        if period_s != 60.0 && period_s != 20.0 {
            return Err(path.key("period_s").error(format!(
                "period_s = {period_s}: ECS publishes its service metrics every 60 s, or every \
                 20 s as high-resolution metrics; use 60 or 20"
            )));
        }
        let d = |v: Option<f64>, default: f64| v.unwrap_or(default);
        Ok(TrackingConfig {
            metric,
            target,
            min_tasks,
            max_tasks,
            period: SimDuration::from_secs_f64(period_s),
            // 300 s each for ECS services (Application Auto Scaling user
            // guide, 'Target tracking scaling policies', default values).
            scale_out_cooldown: path.secs_in(
                "scale_out_cooldown_s",
                d(self.scale_out_cooldown_s, 300.0),
                0.0,
                86_400.0,
            )?,
            scale_in_cooldown: path.secs_in(
                "scale_in_cooldown_s",
                d(self.scale_in_cooldown_s, 300.0),
                0.0,
                86_400.0,
            )?,
            // The alarms target tracking creates: 3 of 3 one-minute
            // datapoints above the target to scale out, 15 of 15 below 90 %
            // of it to scale in. AWS does not publish them (observed in the
            // alarms it creates): settings.
            datapoints_out: path.int_in(
                "datapoints_out",
                self.datapoints_out.unwrap_or(3),
                1,
                100,
            )?,
            datapoints_in: path.int_in(
                "datapoints_in",
                self.datapoints_in.unwrap_or(15),
                1,
                100,
            )?,
            scale_in_threshold: path.num_in(
                "scale_in_threshold",
                self.scale_in_threshold.unwrap_or(0.9),
                0.0,
                1.0,
            )?,
        })
    }
}

impl FargateSpec {
    /// Validates the platform at `path`.
    pub fn to_config(&self, s: &crate::platform::Setting) -> Result<FargateConfig, FieldError> {
        let path = s.path;
        let tp = path.key("task");
        let task = self.task.clone().unwrap_or_default();
        // ECS Express Mode's default task: 1 vCPU, 2 GB.
        let vcpu = task.vcpu.unwrap_or(1.0);
        let Some(memories) = valid_memory(vcpu) else {
            let sizes: Vec<String> = TASK_SIZES.iter().map(|(v, _)| format!("{v}")).collect();
            return Err(tp.key("vcpu").error(format!(
                "vcpu = {vcpu} is not a Fargate task size: use {}",
                sizes.join(", ")
            )));
        };
        // Twice the vCPU in GB: the smallest size of every vCPU step.
        let memory_gb = task.memory_gb.unwrap_or(2.0 * vcpu);
        if !memories.contains(memory_gb) {
            return Err(tp.key("memory_gb").error(format!(
                "memory_gb = {memory_gb} is not a Fargate size for {vcpu} vCPU: valid are {}",
                memories.describe()
            )));
        }
        let concurrency = tp.int_in("concurrency", task.concurrency.unwrap_or(8), 1, 1_000_000)?;
        let queue_capacity = tp.int_in(
            "queue_capacity",
            task.queue_capacity.unwrap_or(100),
            0,
            100_000_000,
        )?;
        // Launch request to RUNNING. AWS publishes no figure: ENI attachment
        // "adds an overhead of several seconds" and Fargate pulls the image
        // with no cache (Amazon ECS best practices guide, 'Task launch'); a
        // third-party measurement of a 413 MB image gave 53-62 s. Median
        // 60 s, p99 120 s is our estimate: set it for your image.
        let startup = match &task.startup {
            Some(d) => d.compile(&tp.key("startup"))?,
            None => Dist::lognormal(60.0, 120.0),
        };
        // ALB target-group defaults: interval 30 s, healthy threshold 5
        // (Elastic Load Balancing user guide, 'Health checks for Application
        // Load Balancer target groups').
        let hp = path.key("health_check");
        let hc = self.health_check.clone().unwrap_or_default();
        let interval = hp.secs_in("interval_s", hc.interval_s.unwrap_or(30.0), 0.0, 300.0)?;
        let threshold = hp.int_in(
            "healthy_threshold",
            hc.healthy_threshold.unwrap_or(5),
            1,
            10,
        )?;
        let scaling = match &self.scaling {
            None => TaskScaling::Fixed(1),
            Some(ScalingSpec::Fixed(f)) => TaskScaling::Fixed(path.key("scaling").int_in(
                "tasks",
                f.tasks.unwrap_or(1),
                0,
                100_000,
            )?),
            Some(ScalingSpec::TargetTracking(t)) => {
                TaskScaling::TargetTracking(t.compile(&path.key("scaling"))?)
            }
        };
        // The launch-rate quota: a token bucket of 100 tasks refilled at 20
        // per second, per account and Region (Amazon ECS developer guide,
        // 'Handle Amazon ECS throttling issues').
        let lp = path.key("launch_rate");
        let lr = self.launch_rate.clone().unwrap_or_default();
        let launch_burst = lp.int_in("burst", lr.burst.unwrap_or(100), 1, 1_000_000)?;
        let launch_per_s = lp.int_in("per_s", lr.per_s.unwrap_or(20), 1, 1_000_000)?;
        let architecture = task.architecture.unwrap_or(Architecture::X86_64);
        let (vcpu_price, gb_price) = list_prices(architecture);
        let pp = path.key("pricing");
        let pricing = self.pricing.clone().unwrap_or_default();
        Ok(FargateConfig {
            deployments: crate::platform::container::Deployments::of_setting(s, self.deployment_by),
            task_cpu_m: (vcpu * 1000.0).round() as u64,
            task_memory_gb: memory_gb,
            concurrency,
            queue_capacity,
            architecture,
            startup,
            health_check: SimDuration(interval.0 * u64::from(threshold)),
            load_balancer: self.load_balancer.unwrap_or(LoadBalancer::RoundRobin),
            scaling,
            launch_burst,
            launch_per_s,
            vcpu_usd_per_hour: pp.num_in(
                "vcpu_hour",
                pricing.vcpu_hour.unwrap_or(vcpu_price),
                0.0,
                1e3,
            )?,
            gb_usd_per_hour: pp.num_in("gb_hour", pricing.gb_hour.unwrap_or(gb_price), 0.0, 1e3)?,
            // An ALB's hourly charge, us-east-1 (Elastic Load Balancing
            // pricing: $0.0225 per hour; load balancer capacity units not modelled).
            load_balancer_usd_per_hour: path.num_in(
                "load_balancer_usd_per_hour",
                self.load_balancer_usd_per_hour.unwrap_or(0.0225),
                0.0,
                1e6,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_sizes_follow_the_fargate_table() {
        let ok = |v: f64, gb: f64| valid_memory(v).is_some_and(|m| m.contains(gb));
        assert!(ok(0.25, 0.5) && ok(0.25, 2.0) && !ok(0.25, 1.5) && !ok(0.25, 3.0));
        assert!(ok(1.0, 2.0) && ok(1.0, 8.0) && !ok(1.0, 1.0) && !ok(1.0, 8.5));
        assert!(ok(2.0, 4.0) && ok(2.0, 13.0) && ok(2.0, 16.0) && !ok(2.0, 17.0));
        assert!(ok(8.0, 16.0) && ok(8.0, 20.0) && !ok(8.0, 18.0) && ok(8.0, 60.0));
        assert!(ok(16.0, 32.0) && ok(16.0, 40.0) && !ok(16.0, 36.0) && ok(16.0, 120.0));
        assert!(valid_memory(3.0).is_none());
        assert_eq!(valid_memory(0.25).unwrap().describe(), "0.5, 1 or 2 GB");
        assert_eq!(
            valid_memory(4.0).unwrap().describe(),
            "8 to 30 GB in steps of 1"
        );
    }
}
