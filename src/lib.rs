//! surgesim: a deterministic discrete-event simulator that replays request
//! traffic against models of AWS Lambda and Kubernetes side by side,
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
//!   [`metrics::summary::RunSummary`].
//! - [`experiment`] plans a scenario's runs and executes them in parallel;
//!   [`report`] writes summary.csv, aggregate.csv, timeseries.csv,
//!   requests.csv, the charts and report.html; [`check`] gates on them.
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
pub mod time;
pub mod workload;

pub use error::{Error, Result};
pub use scenario::Scenario;
