//! Configuration of `kind = "knative"` and its presets: Knative Serving's
//! KPA on one's own cluster, Google Cloud Run, AWS App Runner. Defaults cite
//! the page or source file each comes from; figures marked as observed or
//! third-party in the README are settings.

use serde::Deserialize;

use crate::error::FieldError;
use crate::metrics::Outcome;
use crate::platform::kubernetes::config::{NodePool, NodesSpec};
use crate::time::SimDuration;
use crate::workload::dist::{Dist, DistSpec};

/// `preset = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Knative,
    CloudRun,
    AppRunner,
}

/// `billing = "request" | "instance"` (Cloud Run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingName {
    Request,
    Instance,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceSpec {
    vcpu: Option<f64>,
    memory_gb: Option<f64>,
    startup: Option<DistSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PricingSpec {
    vcpu_s: Option<f64>,
    gib_s: Option<f64>,
}

/// A `[[platforms]]` table of `kind = "knative"` (without `name` and `kind`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnativeSpec {
    deployment_by: Option<crate::platform::container::DeploymentBy>,
    preset: Option<Preset>,
    instance: Option<InstanceSpec>,
    container_concurrency: Option<i64>,
    target_utilization: Option<f64>,
    min_scale: Option<i64>,
    max_scale: Option<i64>,
    initial_scale: Option<i64>,
    scale_down_delay_s: Option<f64>,
    stable_window_s: Option<f64>,
    scale_to_zero_grace_s: Option<f64>,
    billing: Option<BillingName>,
    nodes: Option<NodesSpec>,
    pricing: Option<PricingSpec>,
}

/// How the platform is billed.
#[derive(Debug, Clone, PartialEq)]
pub enum Billing {
    /// Knative on a node pool: the nodes (Kubernetes' node model and
    /// cluster autoscaler).
    Nodes(NodePool),
    /// Per instance-second of life, at these prices \[USD per vCPU-s, per
    /// GiB-s\], each instance's life rounded up to `granularity`.
    PerInstanceSecond {
        vcpu_s: f64,
        gib_s: f64,
        granularity: SimDuration,
    },
    /// Cloud Run request-based: instance time with a request in flight,
    /// rounded up to 100 ms per busy period, plus a charge per request.
    CloudRunRequest {
        vcpu_s: f64,
        gib_s: f64,
        per_million: f64,
    },
    /// App Runner: idle instances pay memory only, active ones vCPU and
    /// memory \[USD per hour\].
    AppRunner { vcpu_hour: f64, gb_hour: f64 },
}

/// The autoscaler's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalerConfig {
    /// Decisions every `tick`.
    pub tick: SimDuration,
    /// Averaging windows over 1-second buckets of in-flight requests.
    pub stable_window: SimDuration,
    /// The panic window and threshold; none without panic mode.
    pub panic: Option<(SimDuration, f64)>,
    pub max_scale_up_rate: f64,
    pub max_scale_down_rate: f64,
    /// Target in-flight requests per instance.
    pub target: f64,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct KnativeConfig {
    /// The workload's functions grouped into deployments (`deployment_by`).
    pub deployments: crate::platform::container::Deployments,
    pub preset: Preset,
    /// Instance size \[millicores\], \[GiB\] (0.5 GB of memory is 0.5 GiB here).
    pub cpu_m: u64,
    pub memory_gb: f64,
    pub startup: Dist,
    /// Requests in service per instance (0: unlimited).
    pub container_concurrency: u32,
    /// Queue behind the slots of an instance.
    pub instance_queue: u32,
    pub min_scale: u32,
    /// `u32::MAX` for unlimited.
    pub max_scale: u32,
    pub initial_scale: u32,
    pub scale_down_delay: SimDuration,
    pub scale_to_zero_grace: SimDuration,
    /// Whether the platform may scale to zero.
    pub scale_to_zero: bool,
    pub scaler: ScalerConfig,
    /// Requests held with no instance able to take them (the activator, or
    /// Cloud Run's pending queue) at most.
    pub holding_capacity: u32,
    /// A held request gives up after this long (Cloud Run), else waits.
    pub pending_timeout: Option<SimDuration>,
    /// What a request that finds everything full gets: 503 (rejected) or 429 (throttled).
    pub overflow: Outcome,
    /// On-demand scale-out (Cloud Run; App Runner, which scales out when
    /// requests exceed its instances' concurrency): one instance at once
    /// when a request finds no free slot and none is starting.
    pub on_demand: bool,
    /// Scale-in removes only instances idle this long (Cloud Run, App
    /// Runner), never one still starting.
    pub idle_removal: Option<SimDuration>,
    pub billing: Billing,
}

/// The activator's queue per revision (knative `pkg/activator/net/throttler.go`).
pub const ACTIVATOR_CAPACITY: u32 = 10_000;

impl KnativeSpec {
    /// Validates the platform at `path`.
    pub fn to_config(&self, s: &crate::platform::Setting) -> Result<KnativeConfig, FieldError> {
        let path = s.path;
        let preset = self.preset.unwrap_or(Preset::Knative);
        let ip = path.key("instance");
        let inst = self.instance.clone().unwrap_or_default();
        let vcpu = ip.num_in("vcpu", inst.vcpu.unwrap_or(1.0), 0.001, 1000.0)?;
        // Cloud Run's default memory is 512 MiB (its CPU configuration page,
        // a copy not re-read); for Knative the same and for App Runner 2 GB:
        // our choices, settings.
        let default_memory = match preset {
            Preset::AppRunner => 2.0,
            Preset::Knative | Preset::CloudRun => 0.5,
        };
        let memory_gb = ip.num_in(
            "memory_gb",
            inst.memory_gb.unwrap_or(default_memory),
            0.001,
            10_000.0,
        )?;
        // Instance start to ready. Not published by any of the three: our
        // estimate (a container start plus the app's readiness), a setting.
        let startup = match &inst.startup {
            Some(d) => d.compile(&ip.key("startup"))?,
            None => Dist::lognormal(2.0, 8.0),
        };
        // Defaults: knative `config/core/configmaps/defaults.yaml`
        // (containerConcurrency 0) and `autoscaler.yaml` (target 70 %, min 0,
        // max 0 = unlimited, initial 1); Cloud Run 'About concurrency' (80)
        // and 'About instance autoscaling' (60 %), max instances 100; App
        // Runner's service defaults (concurrency 100, min 1, max 25).
        let (cc, util, min, max) = match preset {
            Preset::Knative => (0, 0.7, 0, 0),
            Preset::CloudRun => (80, 0.6, 0, 100),
            Preset::AppRunner => (100, 1.0, 1, 25),
        };
        let container_concurrency = path.int_in(
            "container_concurrency",
            self.container_concurrency.unwrap_or(cc),
            0,
            1000,
        )?;
        let target_utilization = path.num_in(
            "target_utilization",
            self.target_utilization.unwrap_or(util),
            0.01,
            1.0,
        )?;
        let min_scale = path.int_in("min_scale", self.min_scale.unwrap_or(min), 0, 100_000)?;
        let max_scale = match path.int_in("max_scale", self.max_scale.unwrap_or(max), 0, 100_000)? {
            0 => u32::MAX,
            m => m,
        };
        if min_scale > max_scale {
            return Err(path.key("min_scale").error(format!(
                "min_scale = {min_scale} is greater than max_scale = {max_scale}"
            )));
        }
        if preset == Preset::AppRunner && min_scale == 0 {
            return Err(path.key("min_scale").error(
                "App Runner keeps at least one provisioned instance: min_scale must be 1 or more",
            ));
        }
        let initial_scale =
            path.int_in("initial_scale", self.initial_scale.unwrap_or(1), 0, 100_000)?;
        // With unlimited concurrency the target is 100 per instance
        // (container-concurrency-target-default) x the utilisation.
        let per_instance = if container_concurrency == 0 {
            100.0
        } else {
            f64::from(container_concurrency)
        };
        let stable_window = path.secs_in(
            "stable_window_s",
            self.stable_window_s.unwrap_or(60.0),
            6.0,
            3600.0,
        )?;
        let scaler = match preset {
            // Knative `pkg/autoscaler/scaling/multiscaler.go` (2 s ticks),
            // `config-autoscaler` (panic window 10 % of the stable window,
            // threshold 200 %, scale-up rate 1000, scale-down rate 2).
            Preset::Knative | Preset::AppRunner => ScalerConfig {
                tick: SimDuration::from_secs(2),
                stable_window,
                panic: Some((SimDuration(stable_window.0 / 10), 2.0)),
                max_scale_up_rate: 1000.0,
                max_scale_down_rate: 2.0,
                target: per_instance * target_utilization,
            },
            // Cloud Run, 'About instance autoscaling': a 1-minute window of
            // concurrency at 60 % of the maximum, evaluated every 5 s.
            Preset::CloudRun => ScalerConfig {
                tick: SimDuration::from_secs(5),
                stable_window,
                panic: None,
                max_scale_up_rate: 1000.0,
                max_scale_down_rate: f64::INFINITY,
                target: per_instance * target_utilization,
            },
        };
        let bad_billing = |what: &str| {
            path.key("billing").error(format!(
                "`billing` chooses Cloud Run's request- or instance-based billing; {what}"
            ))
        };
        let billing = match (preset, self.billing) {
            (Preset::CloudRun, billing) => {
                if self.nodes.is_some() || self.pricing.is_some() {
                    return Err(path.key("nodes").error(
                        "Cloud Run is billed by its own prices: leave out nodes and pricing",
                    ));
                }
                // Cloud Run pricing, Tier 1: request-based $0.000024 per
                // vCPU-s, $0.0000025 per GiB-s, $0.40 per million requests;
                // instance-based $0.000018 per vCPU-s and (a third-party
                // figure) $0.000002 per GiB-s.
                match billing.unwrap_or(BillingName::Request) {
                    BillingName::Request => Billing::CloudRunRequest {
                        vcpu_s: 0.000_024,
                        gib_s: 0.000_002_5,
                        per_million: 0.40,
                    },
                    BillingName::Instance => Billing::PerInstanceSecond {
                        vcpu_s: 0.000_018,
                        gib_s: 0.000_002,
                        granularity: SimDuration::from_millis(100),
                    },
                }
            }
            (_, Some(_)) => return Err(bad_billing("it belongs to preset = \"cloud_run\"")),
            (Preset::AppRunner, None) => {
                if self.nodes.is_some() || self.pricing.is_some() {
                    return Err(path.key("nodes").error(
                        "App Runner is billed by its own prices: leave out nodes and pricing",
                    ));
                }
                // AWS App Runner pricing (us-east-1): $0.064 per vCPU-hour,
                // $0.007 per GB-hour; provisioned instances pay memory only.
                Billing::AppRunner {
                    vcpu_hour: 0.064,
                    gb_hour: 0.007,
                }
            }
            (Preset::Knative, None) => match (&self.pricing, &self.nodes) {
                (Some(_), Some(_)) => {
                    return Err(path.key("pricing").error(
                        "give either nodes (billed by the node pool) or pricing (per \
                         instance-second), not both",
                    ));
                }
                (Some(p), None) => {
                    let pp = path.key("pricing");
                    Billing::PerInstanceSecond {
                        vcpu_s: pp.num_in("vcpu_s", p.vcpu_s.unwrap_or(0.0), 0.0, 1.0)?,
                        gib_s: pp.num_in("gib_s", p.gib_s.unwrap_or(0.0), 0.0, 1.0)?,
                        granularity: SimDuration(1),
                    }
                }
                (None, nodes) => Billing::Nodes(NodesSpec::pool(
                    nodes,
                    &path.key("nodes"),
                    &ip,
                    "knative instance",
                    (vcpu * 1000.0).round() as u64,
                    (memory_gb * 1024.0).round() as u64,
                )?),
            },
        };
        let cloud_run = preset == Preset::CloudRun;
        let mean_startup = startup.mean_s();
        Ok(KnativeConfig {
            deployments: crate::platform::container::Deployments::of_setting(s, self.deployment_by),
            preset,
            cpu_m: (vcpu * 1000.0).round() as u64,
            memory_gb,
            startup,
            container_concurrency,
            // Knative's queue-proxy queue: 10 x containerConcurrency (knative
            // `pkg/queue/sharedmain/main.go`); Cloud Run and App Runner queue
            // nothing at the instance.
            instance_queue: match preset {
                Preset::Knative => container_concurrency.saturating_mul(10),
                Preset::CloudRun | Preset::AppRunner => 0,
            },
            min_scale,
            max_scale,
            initial_scale,
            scale_down_delay: path.secs_in(
                "scale_down_delay_s",
                self.scale_down_delay_s.unwrap_or(0.0),
                0.0,
                3600.0,
            )?,
            // scale-to-zero-grace-period (knative `config-autoscaler`): 30 s.
            scale_to_zero_grace: path.secs_in(
                "scale_to_zero_grace_s",
                self.scale_to_zero_grace_s.unwrap_or(30.0),
                0.0,
                3600.0,
            )?,
            scale_to_zero: preset != Preset::AppRunner,
            scaler,
            holding_capacity: match preset {
                Preset::AppRunner => 0,
                Preset::Knative | Preset::CloudRun => ACTIVATOR_CAPACITY,
            },
            // Cloud Run, 'About instance autoscaling': a request pends up to
            // 3.5 x the mean instance start time or 10 s, whichever is
            // greater, then gets 429 (an older copy says 10 s: a setting in
            // spirit, derived from the startup).
            pending_timeout: cloud_run
                .then(|| SimDuration::from_secs_f64((3.5 * mean_startup).max(10.0))),
            overflow: match preset {
                Preset::Knative => Outcome::Rejected,
                Preset::CloudRun | Preset::AppRunner => Outcome::Throttled,
            },
            on_demand: preset != Preset::Knative,
            // Excess idle instances are removed after 15 minutes (Cloud Run,
            // 'About instance autoscaling'); App Runner publishes no figure:
            // one stable window, our choice.
            idle_removal: match preset {
                Preset::Knative => None,
                Preset::CloudRun => Some(SimDuration::from_secs(900)),
                Preset::AppRunner => Some(stable_window),
            },
            billing,
        })
    }
}
