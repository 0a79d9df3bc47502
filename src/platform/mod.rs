//! The `Platform` trait that every model (Lambda, Kubernetes) implements.
//!
//! A platform receives the shared request stream one arrival at a time, owns
//! its own closed set of events, and reports outcomes to the run's
//! [`Recorder`](crate::metrics::Recorder). The engine is generic over it, so
//! the hot loop is monomorphised per model.

pub mod kubernetes;
pub mod lambda;

use serde::Deserialize;

use crate::cost::{Architecture, Cost, LambdaPricingSpec};
use crate::engine::Sim;
use crate::error::{FieldError, FieldPath};
use crate::metrics::Snapshot;
use crate::time::SimTime;
use crate::workload::Request;
use crate::workload::dist::DistSpec;
use kubernetes::{FixedSpec, HpaSpec, LoadBalancer, NodesSpec, PodSpec};
use lambda::config::{
    AsyncSpec, Invocation, KeepAliveSpec, LegacySpec, PerFunctionSpec, ReservedSpec, RetriesSpec,
    ScheduleEntry,
};

/// The model a platform uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformKind {
    Lambda,
    Kubernetes,
}

/// A `[[platforms]]` table as written in the scenario.
///
/// One flat struct for every kind, rather than an internally tagged enum:
/// serde buffers tagged enums and loses the position of errors inside them,
/// while a plain struct keeps every error at its line and column. Fields that
/// do not belong to the platform's kind are rejected by validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSpec {
    pub name: Option<String>,
    pub kind: PlatformKind,
    pub(crate) memory_mb: Option<i64>,
    pub(crate) architecture: Option<Architecture>,
    pub(crate) timeout_s: Option<f64>,
    pub(crate) account_concurrency: Option<i64>,
    pub(crate) reserved_concurrency: Option<ReservedSpec>,
    pub(crate) provisioned_concurrency: Option<ReservedSpec>,
    pub(crate) provisioned_schedule: Option<Vec<ScheduleEntry>>,
    pub(crate) scaling: Option<ScalingSpec>,
    pub(crate) init: Option<DistSpec>,
    pub(crate) keep_alive: Option<KeepAliveSpec>,
    pub(crate) invocation: Option<Invocation>,
    pub(crate) retries: Option<RetriesSpec>,
    #[serde(rename = "async")]
    pub(crate) async_: Option<AsyncSpec>,
    pub(crate) overhead_ms: Option<f64>,
    pub(crate) cpu_scaling: Option<bool>,
    pub(crate) pricing: Option<LambdaPricingSpec>,
    pub(crate) pod: Option<PodSpec>,
    pub(crate) load_balancer: Option<LoadBalancer>,
    pub(crate) nodes: Option<NodesSpec>,
    pub(crate) control_plane_usd_per_hour: Option<f64>,
    pub(crate) load_balancer_usd_per_hour: Option<f64>,
}

/// `scaling = { kind = ..., ... }`: Lambda's scaling buckets or Kubernetes'
/// pod scaling, checked against the platform's kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ScalingSpec {
    PerFunction(PerFunctionSpec),
    Legacy(LegacySpec),
    Hpa(Box<HpaSpec>),
    Fixed(FixedSpec),
}

impl PlatformSpec {
    /// Rejects fields that belong to the other kind of platform.
    pub fn check_kind_fields(&self, path: &FieldPath) -> Result<(), FieldError> {
        let lambda = [
            ("memory_mb", self.memory_mb.is_some()),
            ("architecture", self.architecture.is_some()),
            ("timeout_s", self.timeout_s.is_some()),
            ("account_concurrency", self.account_concurrency.is_some()),
            ("reserved_concurrency", self.reserved_concurrency.is_some()),
            (
                "provisioned_concurrency",
                self.provisioned_concurrency.is_some(),
            ),
            ("init", self.init.is_some()),
            ("keep_alive", self.keep_alive.is_some()),
            ("invocation", self.invocation.is_some()),
            ("retries", self.retries.is_some()),
            ("async", self.async_.is_some()),
            ("overhead_ms", self.overhead_ms.is_some()),
            ("cpu_scaling", self.cpu_scaling.is_some()),
            ("pricing", self.pricing.is_some()),
        ];
        let kubernetes = [
            ("pod", self.pod.is_some()),
            ("load_balancer", self.load_balancer.is_some()),
            ("nodes", self.nodes.is_some()),
            (
                "control_plane_usd_per_hour",
                self.control_plane_usd_per_hour.is_some(),
            ),
            (
                "load_balancer_usd_per_hour",
                self.load_balancer_usd_per_hour.is_some(),
            ),
        ];
        let (foreign, this, other) = match self.kind {
            PlatformKind::Lambda => (&kubernetes[..], "lambda", "kubernetes"),
            PlatformKind::Kubernetes => (&lambda[..], "kubernetes", "lambda"),
        };
        match foreign.iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(path.key(name).error(format!(
                "`{name}` is a {other} field, but this platform is kind = \"{this}\"; \
                 remove it (see the README's scenario reference)"
            ))),
            None => Ok(()),
        }
    }
}

/// A platform's bill for the measurement window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bill {
    /// The bill for the measured usage, broken down.
    pub cost: Cost,
    /// The same usage rate over a 30-day month, priced as a month [USD].
    pub per_month_usd: f64,
}

/// A model of a serving platform.
pub trait Platform {
    /// The platform's own events (a closed enum).
    type Event;

    /// Sets up the state at t = 0 and schedules the first periodic events.
    fn start(&mut self, _sim: &mut Sim<Self::Event>) {}

    /// A request arrives at `sim.now()`.
    fn on_arrival(&mut self, req: Request, sim: &mut Sim<Self::Event>);

    /// One of the platform's events fires at `sim.now()`.
    fn on_event(&mut self, event: Self::Event, sim: &mut Sim<Self::Event>);

    /// The state at a time-series boundary `at` (no event at `at` has run yet).
    fn snapshot(&mut self, at: SimTime, sim: &mut Sim<Self::Event>) -> Snapshot;

    /// At the horizon: records every request still held as in flight and returns the bill.
    fn finish(self, sim: &mut Sim<Self::Event>) -> Bill;
}
