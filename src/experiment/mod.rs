//! The experiment: a scenario's runs planned as units (sweep point x
//! replication x platform), each a single-threaded, totally ordered
//! simulation fed the same request stream; executed in parallel with
//! progress and cancellation, results back in plan order whatever the
//! number of threads, so the files written from them are identical.

mod progress;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::cost::Bill;
use crate::engine::{CancelToken, Cancelled, Clock};
use crate::error::{Error, Result};
use crate::files::OutputDir;
use crate::metrics::series::SeriesWriter;
use crate::metrics::summary::{Pooled, Pools, RunSummary};
use crate::metrics::{Latencies, Recorder, RequestLog, WriteFailure};
use crate::platform::{Kind, PlatformConfig, RunInput, Streams};
use crate::scenario::Scenario;

/// Options of one `run`.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub requests_csv: bool,
    /// Threads for runs in parallel (output is the same for any value).
    pub jobs: usize,
    pub charts: bool,
    /// No progress bar.
    pub quiet: bool,
    /// Per-function rows in summary.csv.
    pub per_function: bool,
    /// The sweep point whose replication 0 keeps its time series, for
    /// timeseries.csv and the per-run charts (`--chart-point`).
    pub chart_point: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            requests_csv: false,
            jobs: 1,
            charts: true,
            quiet: true,
            per_function: false,
            chart_point: 0,
        }
    }
}

/// Most runs (points x replications x platforms) one scenario may have.
pub const MAX_RUNS: usize = 1_000_000;

/// One unit of work: a platform of a sweep point's scenario in one replication.
#[derive(Debug, Clone, Copy)]
pub struct Unit<'a> {
    /// The index of (point, replication) in plan order: what shards deal.
    pub ordinal: usize,
    pub point: usize,
    /// The point's scenario (the scenario itself without a sweep).
    pub scenario: &'a Scenario,
    pub replication: u32,
    /// Index into the point's platforms.
    pub platform: usize,
}

/// The units of `s` in their fixed order: point, then replication, then platform.
pub fn plan(s: &Scenario) -> Vec<Unit<'_>> {
    let mut ordinal = 0;
    let mut units = Vec::new();
    for (point, sc) in s.point_scenarios() {
        for replication in 0..sc.replications {
            units.extend((0..sc.platforms.len()).map(|platform| Unit {
                ordinal,
                point,
                scenario: sc,
                replication,
                platform,
            }));
            ordinal += 1;
        }
    }
    units
}

/// The (point, replication) pairs of `s`, the units shards deal: the
/// number of them.
pub fn ordinals(s: &Scenario) -> usize {
    s.point_scenarios()
        .iter()
        .map(|(_, sc)| sc.replications as usize)
        .sum()
}

/// What becomes of each run's latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Pooled by (point, platform) as runs finish (a whole run).
    Pool,
    /// Kept per run, V2-serialised (a shard's runs, pooled at the merge).
    Keep,
}

/// A run's latency histogram (V2) and its exact figures.
pub type KeptLatency = (Vec<u8>, crate::metrics::ExactLatencies);

/// What executing a scenario produced: each unit's summary, in plan order,
/// and (with requests.csv) each unit's rows in a file in the staging folder,
/// to be joined in order (the first unit's is requests.csv itself); with
/// [`Latency::Pool`] the pooled latencies of each (point, platform), with
/// [`Latency::Keep`] each run's.
pub struct Executed {
    pub runs: Vec<RunSummary>,
    pub request_parts: Vec<Option<PathBuf>>,
    pub pooled: Vec<Pooled>,
    pub kept: Vec<KeptLatency>,
}

impl Executed {
    /// The request parts, for [`crate::report::join_requests`]: every one
    /// but requests.csv itself is removed once joined.
    pub fn request_parts(&self) -> Vec<crate::report::RequestPart> {
        self.request_parts
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| crate::report::RequestPart {
                path: p.clone(),
                start: 0,
                len: None,
                temporary: i > 0,
            })
            .collect()
    }
}

/// Runs every unit of `s` on `opts.jobs` threads. Request rows go to
/// files in the staging folder of `out`, under a header. `Err(Error::Interrupted)`
/// soon after `cancel` is set.
pub fn execute(
    s: &Scenario,
    out: &OutputDir,
    opts: &RunOptions,
    cancel: &CancelToken,
) -> Result<Executed> {
    execute_units(s, out, opts, &|_| true, Latency::Pool, true, cancel)
}

/// [`execute`] for the units whose ordinal `wanted` accepts (a shard's);
/// the request rows under a header if `header`.
pub fn execute_units(
    s: &Scenario,
    out: &OutputDir,
    opts: &RunOptions,
    wanted: &(dyn Fn(usize) -> bool + Sync),
    latency: Latency,
    header: bool,
    cancel: &CancelToken,
) -> Result<Executed> {
    let requests_path = out.shown(crate::report::REQUESTS_CSV);
    let dir = out.work();
    let units: Vec<Unit> = plan(s).into_iter().filter(|u| wanted(u.ordinal)).collect();
    // Pools only for a whole run: a shard keeps each run's histogram.
    let keys = units
        .iter()
        .filter(|_| latency == Latency::Pool)
        .map(|u| (u.point, u.scenario.platforms[u.platform].name.as_str()));
    let (pools, group_of) = Pools::new(keys, opts.chart_point);
    let pools = std::sync::Mutex::new(pools);
    let names = s.workload.function_names();
    let progress = progress::Progress::new(
        units.iter().map(|u| u.scenario.horizon).collect(),
        opts.jobs.max(1),
        opts.quiet,
    );
    let run_unit = |i: usize, u: &Unit, cancel: &CancelToken| -> Result<Done> {
        let platform = &u.scenario.platforms[u.platform];
        // Each run logs to its own file (closed after the run, so many runs
        // hold no file handles); they are joined in order. The first run's
        // is requests.csv itself, the others are appended to it.
        let (part, log) = if opts.requests_csv {
            let path = if i == 0 {
                out.work_file(crate::report::REQUESTS_CSV)
            } else {
                dir.join(format!(".part-{i}.csv"))
            };
            let mut f = std::fs::File::create(&path)
                .map_err(|e| Error::io(&requests_path, "cannot write", e))?;
            if i == 0 && header {
                f.write_all(RequestLog::HEADER.as_bytes())
                    .map_err(|e| Error::io(&requests_path, "cannot write", e))?;
            }
            // requests.csv itself is pushed to disk as it grows (its sync
            // before the commit stays short); the other parts, copied into
            // it and removed, are never synced.
            let w: Box<dyn Write + Send> = if i == 0 {
                Box::new(BufWriter::with_capacity(
                    1 << 16,
                    crate::files::WriteBehind::new(f),
                ))
            } else {
                Box::new(BufWriter::with_capacity(1 << 16, f))
            };
            (
                Some(path),
                Some(
                    RequestLog::new(w, &platform.name, names.clone())
                        .of_unit(u.point, u.replication)
                        .written_to(&requests_path),
                ),
            )
        } else {
            (None, None)
        };
        // timeseries.csv and the charts show one run: replication 0 of the
        // chart point. Its rows stream to an unnamed file in the folder.
        let series = if u.point == opts.chart_point && u.replication == 0 {
            SeriesTo::File(dir)
        } else {
            SeriesTo::Nowhere
        };
        let mut result = run_platform_with(
            u.scenario,
            platform,
            u.replication,
            log,
            opts.per_function,
            series,
            cancel,
        )?;
        result.point = u.point;
        if let Some(log) = result.rec.take_log() {
            log.into_inner()
                .and_then(|mut w| w.flush())
                .map_err(|e| Error::io(&requests_path, "cannot write", e))?;
        }
        // Only the summary is kept: memory stays flat over many runs.
        let (summary, latencies) = result
            .summarize()
            .map_err(|e| Error::io(out.path(), "cannot write the time series to a file in", e))?;
        let kept = match latency {
            Latency::Pool => {
                pools
                    .lock()
                    .expect("no run panics holding the pools")
                    .add(group_of[i], &latencies);
                None
            }
            Latency::Keep => Some((latencies.histogram_v2(), latencies.exact())),
        };
        Ok((summary, part, kept))
    };
    let run_one = |(i, u): (usize, &Unit)| -> Result<Done> {
        cancel.check().map_err(|_| Error::Interrupted)?;
        // This worker's slot tells the progress bar how far the run is.
        let (slot, now) = progress.start(i);
        // Finished, or failed: the slot is free either way.
        let done = run_unit(i, u, &cancel.with_progress(now));
        progress.done(slot);
        done
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {} threads: {e}", opts.jobs)))?;
    // A watcher shows the bar once the work has taken a second, even while
    // a single long run has not finished yet.
    let done: Vec<Result<Done>> = std::thread::scope(|scope| {
        scope.spawn(|| progress.watch());
        let done = if opts.jobs <= 1 {
            units.iter().enumerate().map(run_one).collect()
        } else {
            use rayon::prelude::*;
            pool.install(|| units.par_iter().enumerate().map(run_one).collect())
        };
        progress.finish();
        done
    });
    if cancel.is_cancelled() {
        // The parts go with the staging folder.
        return Err(Error::Interrupted);
    }
    let mut runs = Vec::with_capacity(done.len());
    let mut request_parts = Vec::with_capacity(done.len());
    let mut kept_all = Vec::new();
    for d in done {
        let (r, part, kept) = d?;
        runs.push(r);
        request_parts.push(part);
        kept_all.extend(kept);
    }
    let pooled = match latency {
        Latency::Pool => pools
            .into_inner()
            .expect("no run panics holding the pools")
            .finish()
            .expect("every run was pooled"),
        Latency::Keep => Vec::new(),
    };
    Ok(Executed {
        runs,
        request_parts,
        pooled,
        kept: kept_all,
    })
}

/// A finished run: its summary, request rows and kept latencies.
type Done = (RunSummary, Option<PathBuf>, Option<KeptLatency>);

/// The result of one platform in one replication, with its recorder.
pub struct RunResult {
    /// The sweep point (0 without a sweep).
    pub point: usize,
    pub platform: String,
    pub replication: u32,
    pub seed: u64,
    pub rec: Recorder,
    pub bill: Bill,
    pub kind: &'static Kind,
}

impl RunResult {
    /// The typed summary of this run with its time series (if kept), and
    /// its latencies; the recorder is dropped. Fails if the series could
    /// not be written.
    pub fn summarize(mut self) -> std::io::Result<(RunSummary, Latencies)> {
        let mut s = RunSummary::of(&self.rec, self.bill, self.kind.has_nodes);
        s.series = self.rec.take_series()?;
        s.kind = self.kind.name;
        s.gauges = self.kind.gauges;
        s.point = self.point;
        s.platform = self.platform;
        s.replication = self.replication;
        s.seed = self.seed;
        Ok((s, self.rec.take_latency()))
    }
}

/// Simulates `platform` of `scenario` for replication `replication`.
///
/// For tests and benchmarks: it panics if the run fails (a trace that can no
/// longer be read); [`run_platform_with`] returns the error.
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
    run_platform_with(
        scenario,
        platform,
        replication,
        log,
        false,
        SeriesTo::Memory,
        &CancelToken::never(),
    )
    .unwrap_or_else(|e| panic!("the run failed: {e}"))
}

/// Where a run's time series goes.
#[derive(Debug, Clone, Copy)]
pub enum SeriesTo<'a> {
    /// Dropped as intervals close (the runs whose series is not written).
    Nowhere,
    /// Kept in memory ([`Recorder::rows`]).
    Memory,
    /// Streamed to an unnamed temporary file in this folder.
    File(&'a Path),
}

/// [`run_platform`], optionally keeping per-function counters, with the
/// time series sent to `series`.
pub fn run_platform_with(
    scenario: &Scenario,
    platform: &PlatformConfig,
    replication: u32,
    log: Option<RequestLog>,
    per_function: bool,
    series: SeriesTo,
    cancel: &CancelToken,
) -> Result<RunResult> {
    let mut requests = scenario
        .workload
        .requests(scenario.seed, replication, scenario.horizon);
    requests.watch(cancel);
    let fault = requests.fault();
    let clock = Clock {
        horizon: scenario.horizon,
        interval: scenario.interval,
    };
    // The series writer and the log tell the event loop of a failed write.
    let failure = WriteFailure::default();
    let log = log.map(|l| l.reporting_to(failure.clone()));
    let mut rec = Recorder::new(scenario.window.0, scenario.window.1, log);
    rec.watch_output(failure.clone());
    if per_function {
        rec.track_functions(scenario.workload.functions.len());
    }
    match series {
        SeriesTo::Nowhere => rec.drop_rows(),
        SeriesTo::Memory => {
            // At most MAX_INTERVALS (1e7), checked by validation.
            let rows = scenario.horizon.0.div_ceil(scenario.interval.0.max(1));
            rec.reserve_rows(rows as usize);
        }
        SeriesTo::File(dir) => rec.stream_rows(
            SeriesWriter::in_dir(dir)
                .map_err(|e| Error::io(dir, "cannot create a temporary file in", e))?
                .reporting_to(failure.clone()),
        ),
    }
    let (rec, bill) = platform
        .config
        .simulate(RunInput {
            functions: &scenario.workload.functions,
            // The platform's own random streams, named after it.
            streams: Streams {
                seed: scenario.seed,
                replication,
                platform: &platform.name,
            },
            requests,
            clock,
            rec,
            cancel,
        })
        .map_err(|c| match c {
            Cancelled::Asked => Error::Interrupted,
            Cancelled::Output => match failure.take() {
                Some((path, action, e)) => Error::io(path, action, e),
                None => Error::Usage(format!(
                    "platform `{}` of scenario `{}`: {c}",
                    platform.name, scenario.name
                )),
            },
            stalled @ Cancelled::Stalled { .. } => Error::Usage(format!(
                "platform `{}` of scenario `{}`: {stalled}; this is a bug in the model, \
                 not in the scenario: please report it with the scenario file",
                platform.name, scenario.name
            )),
        })?;
    // A replay that could not read its trace ends early: the run fails.
    if let Some(e) = fault.and_then(|f| f.lock().ok()?.take()) {
        return Err(e);
    }
    Ok(RunResult {
        point: 0,
        platform: platform.name.clone(),
        replication,
        seed: scenario.seed,
        rec,
        bill,
        kind: platform.kind(),
    })
}
