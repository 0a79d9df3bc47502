//! Runs a scenario: every replication x platform, each a single-threaded,
//! totally ordered simulation fed the same request stream.

use crate::engine::{self, Clock};
use crate::metrics::summary::RunSummary;
use crate::metrics::{Recorder, RequestLog};
use crate::platform::Bill;
use crate::platform::kubernetes::Kubernetes;
use crate::platform::lambda::Lambda;
use crate::rng::stream;
use crate::scenario::{Model, PlatformConfig, Scenario};

/// The result of one platform in one replication.
pub struct RunResult {
    /// The sweep point (0 without a sweep).
    pub point: usize,
    pub platform: String,
    pub replication: u32,
    pub seed: u64,
    pub rec: Recorder,
    pub bill: Bill,
    /// Whether the platform has nodes (Kubernetes).
    pub has_nodes: bool,
}

impl RunResult {
    /// The typed summary of this run; the recorder is dropped. `series`
    /// keeps the time series and latency CDF (the run the charts show).
    pub fn summarize(self, series: bool) -> RunSummary {
        let mut s = RunSummary::of(&self.rec, self.bill, self.has_nodes, series);
        s.point = self.point;
        s.platform = self.platform;
        s.replication = self.replication;
        s.seed = self.seed;
        s
    }
}

/// Simulates `platform` of `scenario` for replication `replication`.
///
/// The request stream depends only on (seed, replication); the platform's own
/// randomness comes from streams named after the platform, so adding a
/// platform to a scenario never changes another platform's results.
pub fn run_platform(
    scenario: &Scenario,
    platform: &PlatformConfig,
    replication: u32,
    log: Option<RequestLog>,
) -> RunResult {
    run_platform_with(scenario, platform, replication, log, false, true)
}

/// [`run_platform`], optionally keeping per-function counters, and the time
/// series only when `series` (the runs whose series is written).
pub fn run_platform_with(
    scenario: &Scenario,
    platform: &PlatformConfig,
    replication: u32,
    log: Option<RequestLog>,
    per_function: bool,
    series: bool,
) -> RunResult {
    let requests = scenario
        .workload
        .requests(scenario.seed, replication, scenario.horizon);
    let clock = Clock {
        horizon: scenario.horizon,
        interval: scenario.interval,
    };
    let mut rec = Recorder::new(scenario.warmup, scenario.horizon, log);
    if per_function {
        rec.track_functions(scenario.workload.functions.len());
    }
    if !series {
        rec.drop_rows();
    }
    // The platform's own random streams, named after it.
    let named = |what: &str| {
        stream(
            scenario.seed,
            replication,
            &format!("platform/{}/{what}", platform.name),
        )
    };
    let (rec, bill) = match &platform.model {
        Model::Lambda(cfg) => {
            rec.set_overhead(cfg.overhead);
            let memory: Vec<Option<u32>> = scenario
                .workload
                .functions
                .iter()
                .map(|f| f.memory_mb)
                .collect();
            let lambda = Lambda::new((**cfg).clone(), &memory, named("init"), named("retry"));
            engine::run(lambda, requests, clock, rec)
        }
        Model::Kubernetes(cfg) => {
            let k8s = Kubernetes::new(
                (**cfg).clone(),
                scenario.workload.functions.len(),
                named("startup"),
                named("provision"),
                named("lb"),
            );
            engine::run(k8s, requests, clock, rec)
        }
    };
    RunResult {
        point: 0,
        platform: platform.name.clone(),
        replication,
        seed: scenario.seed,
        rec,
        bill,
        has_nodes: matches!(platform.model, Model::Kubernetes(_)),
    }
}
