//! The `Platform` trait that every model (Lambda, Kubernetes) implements.
//!
//! A platform receives the shared request stream one arrival at a time, owns
//! its own closed set of events, and reports outcomes to the run's
//! [`Recorder`](crate::metrics::Recorder). The engine is generic over it, so
//! the hot loop is monomorphised per model.

pub mod lambda;

use serde::Deserialize;

use crate::cost::{Architecture, LambdaPricingSpec};
use crate::workload::dist::DistSpec;
use lambda::{AsyncSpec, Invocation, KeepAliveSpec, ReservedSpec, ScalingSpec};

use crate::cost::Cost;
use crate::engine::Sim;
use crate::metrics::Snapshot;
use crate::time::SimTime;
use crate::workload::Request;

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
    pub(crate) provisioned_concurrency: Option<i64>,
    pub(crate) scaling: Option<ScalingSpec>,
    pub(crate) init: Option<DistSpec>,
    pub(crate) keep_alive: Option<KeepAliveSpec>,
    pub(crate) invocation: Option<Invocation>,
    pub(crate) retries: Option<toml::Table>,
    #[serde(rename = "async")]
    pub(crate) async_: Option<AsyncSpec>,
    pub(crate) overhead_ms: Option<f64>,
    pub(crate) cpu_scaling: Option<bool>,
    pub(crate) pricing: Option<LambdaPricingSpec>,
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

    /// A request arrives at `sim.now()`.
    fn on_arrival(&mut self, req: Request, sim: &mut Sim<Self::Event>);

    /// One of the platform's events fires at `sim.now()`.
    fn on_event(&mut self, event: Self::Event, sim: &mut Sim<Self::Event>);

    /// The state at a time-series boundary `at` (no event at `at` has run yet).
    fn snapshot(&mut self, at: SimTime, sim: &mut Sim<Self::Event>) -> Snapshot;

    /// At the horizon: records every request still held as in flight and returns the bill.
    fn finish(self, sim: &mut Sim<Self::Event>) -> Bill;
}
