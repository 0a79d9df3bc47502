//! surgesim: a deterministic discrete-event simulator that replays request
//! traffic against models of AWS Lambda, Kubernetes, ECS on Fargate and
//! concurrency-scaled containers (Knative, Cloud Run, App Runner) side by side,
//! and reports latency percentiles, errors and dollars.
//!
//! # Concepts
//!
//! - A [`scenario::Scenario`] is a workload (one or more functions, each an
//!   arrival process and a work distribution) and one or more platforms.
//! - A run simulates one platform for one replication: the engine
//!   ([`engine::run`]) merges the lazily generated request stream with the
//!   platform's event queue, in integer nanoseconds ([`time`]).
//! - A platform's model implements [`engine::Model`]: it turns arrivals into
//!   outcomes, reported to the run's [`metrics::Recorder`], and produces its
//!   [`cost::Bill`]. A finished run becomes a typed
//!   [`metrics::summary::RunSummary`] and its recorder is dropped.
//! - [`experiment`] plans a scenario's runs and executes them in parallel;
//!   [`report`] writes summary.csv, aggregate.csv, timeseries.csv,
//!   requests.csv, the charts and report.html; [`check`] gates on them.
//!
//! # Layers
//!
//! Each layer uses only the layers below it; nothing below [`platform`]
//! names a platform.
//!
//! | layer | modules |
//! |---|---|
//! | kernel | [`engine`] (loop, [`engine::Model`], queue, [`engine::CancelToken`]), [`time`], [`rng`], [`error`], [`files`] |
//! | inputs and measures | [`workload`] (arrivals, distributions, traces), [`metrics`] (recorder, [`metrics::summary::METRICS`]), [`cost`] |
//! | platforms | [`platform`]: the registry [`platform::KINDS`], one folder per kind |
//! | scenarios | [`scenario`]: TOML to a validated [`Scenario`], sweeps, `[expect]` |
//! | experiment | [`experiment`]: plan, parallel execution, progress |
//! | outputs | [`report`] (CSV, charts, HTML, stdout table), [`check`], [`shard`] (partial results and their merge) |
//! | edge | [`cli`] (clap), [`console`] (stdout and stderr, a closed pipe not a panic); the binary installs the signal handler |
//!
//! # Adding a platform
//!
//! A kind is a folder under `src/platform/` and one entry in
//! [`platform::KINDS`]. [`platform::fixed_pool`] is the smallest complete
//! example (about 200 lines); it was added by exactly these steps, touching
//! `src/platform/fixed_pool/mod.rs` and, in `src/platform/mod.rs`, its `mod`
//! line and its entry in `KINDS`:
//!
//! 1. The spec: a `#[serde(deny_unknown_fields)]` struct of the table's keys
//!    besides `name` and `kind`, every field an `Option` so defaults live in
//!    validation. It is read from the scenario's own spans, so serde's errors
//!    keep their line and column.
//! 2. Validation: [`platform::PlatformSpec::validate`] turns it into the
//!    config, with the range checks on [`error::FieldPath`]
//!    (`int_in`, `num_in`, `secs_in`, `positive_secs`): errors name the
//!    field, the value and the limit.
//! 3. The model: a type implementing [`engine::Model`] with a closed `Copy`
//!    event enum. It records arrivals and outcomes on `cx.rec`, keeps the
//!    [`metrics::Level`]s (`in_service`, `instances`, `nodes`) up to date,
//!    reports its gauges at each interval and, in `finish`, every request
//!    still held as in flight and the [`cost::Bill`] of the measurement
//!    window.
//! 4. The config implements [`platform::Platform`]: `simulate` builds the
//!    model at t = 0 from a [`platform::RunInput`] (its random streams come
//!    from [`platform::Streams::named`]) and calls [`engine::run`], which is
//!    monomorphised for the model.
//! 5. The [`platform::Kind`] entry names the kind, its gauges (timeseries.csv
//!    columns; naming another kind's gauge shares its column, a new name adds
//!    one to every timeseries.csv) and its capacity line for the charts.
//!
//! Then a test against theory where there is one (`tests/integration/
//! validation.rs` checks the fixed pool against Erlang C and M/M/c/K).
//!
//! A container platform builds on [`platform::container`]: its request
//! [`platform::container::server::Server`] (slots, queue, processor
//! sharing, the wait phase), its load balancers and per-second billing.
//! [`platform::ecs_fargate`] and [`platform::knative`] were added that way:
//! their own folders (config, autoscaler, model) and a line each in
//! `KINDS`; Knative reuses Kubernetes' node model and cluster autoscaler.
//!
//! # Adding a policy
//!
//! Lambda's keep-alive is a [`platform::lambda::keepalive::KeepAlive`]: a
//! file in `src/platform/lambda/keepalive/` with its `Spec` and policy type,
//! and one line in that module's `policies!` list. The model asks it for a
//! [`platform::lambda::keepalive::KeepAliveDecision`] whenever an
//! environment goes idle, and tells it of every arrival; the policy picks
//! the structure that holds its deadlines (a constant window keeps the O(1)
//! list, varying windows a lazy heap). `hybrid_histogram` (Shahrad et al.,
//! 2020) was added this way: `keepalive/hybrid.rs` and its line. Kubernetes'
//! policies are traits in their own files:
//! [`platform::container::load_balancer::Balancer`],
//! [`platform::kubernetes::autoscaler::PodAutoscaler`] and
//! [`platform::kubernetes::cluster_autoscaler::NodeAutoscaler`].
//!
//! # Determinism
//!
//! Same scenario and seed give byte-identical outputs. Randomness comes only
//! from named streams ([`rng`]): the workload's depend on (seed,
//! replication), each platform's on its name as well, so all platforms of a
//! scenario see the same requests (common random numbers) and adding a
//! platform never moves another's results. Each run is single-threaded and
//! totally ordered: events at equal times run in the order they were
//! scheduled, and before an arrival at the same time.

pub mod check;
pub mod cli;
pub mod console;
pub mod cost;
pub mod engine;
pub mod error;
pub mod experiment;
pub mod files;
pub mod metrics;
pub mod platform;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod shard;
pub mod time;
pub mod workload;

pub use error::{Error, Result};
pub use scenario::Scenario;
