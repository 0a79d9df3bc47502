//! The command line (README, 'Command line'): `run`, `check` and `validate`. Thin: it parses
//! arguments, loads scenarios, and calls the experiment, report and check
//! layers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::console;
use crate::engine::CancelToken;
use crate::error::{Error, Result};
use crate::experiment::{self, MAX_RUNS, RunOptions};
use crate::metrics::summary::{Grouped, RunSummary};
use crate::report;
use crate::scenario::{self, Overrides, Scenario};

#[derive(Debug, Parser)]
#[command(
    name = "surgesim",
    version,
    about = "Replay request traffic against AWS Lambda, Kubernetes, ECS on Fargate and Knative / Cloud Run / App Runner models: latency, errors and dollars"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// These doc comments are the --help text (clap), not rustdoc markup.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate scenarios and write summary.csv and timeseries.csv per scenario.
    Run(RunArgs),
    /// Run scenarios, then check their [expect] entries and compare with a baseline.
    Check(CheckArgs),
    /// Combine the folders of `run --shard I/N` (a complete set) into the
    /// files one `run` writes.
    Merge(MergeArgs),
    /// Check scenario files without running them.
    Validate {
        /// Scenario files, or folders of them.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
}

// These doc comments are the --help text (clap), not rustdoc markup.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files, or folders of them (every *.toml inside). Default: the
    /// bundled default scenario (Lambda vs. EKS).
    pub scenarios: Vec<PathBuf>,
    /// Parent folder of the outputs; each scenario writes DIR/<name>/.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "output"
    )]
    pub output: PathBuf,
    /// Seed for every scenario, overriding the files' `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Replications per scenario, overriding the files' `replications`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub replications: Option<u32>,
    /// Also write requests.csv: one row per request, whatever its outcome.
    #[arg(long)]
    pub requests_csv: bool,
    /// Runs in parallel (default: the number of CPUs). Outputs are identical for any value.
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,
    /// Skip the charts and report.html.
    #[arg(long)]
    pub no_charts: bool,
    /// Add a summary.csv row per workload function (platform column `<platform>/<function>`).
    #[arg(long)]
    pub per_function: bool,
    /// Refuse scenarios expected to simulate more requests than this (all runs together).
    #[arg(long, value_name = "N", default_value_t = 10_000_000_000)]
    pub max_requests: u64,
    /// Refuse scenarios whose worst case simulates more events than this:
    /// each request's most attempts (throttles and failures tried again)
    /// plus one time-series sample per function and interval, all runs.
    #[arg(long, value_name = "N", default_value_t = 100_000_000_000)]
    pub max_events: u64,
    /// Refuse a run whose charted time series (timeseries.csv and the
    /// stored rows it is written from, on disk) would exceed this size [MB].
    #[arg(long, value_name = "MB", default_value_t = 1024)]
    pub max_series_mb: u64,
    /// Refuse --requests-csv when the file is expected to exceed this size [MB].
    #[arg(long, value_name = "MB", default_value_t = 10_240)]
    pub max_requests_csv_mb: u64,
    /// The sweep point whose replication 0 timeseries.csv and the per-run
    /// charts show (load, latency CDF, outcomes, p95 and cost); see points.csv.
    #[arg(long, value_name = "POINT", default_value_t = 0)]
    pub chart_point: usize,
    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Run only slice I of N (I from 0, as JOB_COMPLETION_INDEX,
    /// AWS_BATCH_JOB_ARRAY_INDEX and strategy.job-index count) and write it to -o
    /// as a partial result, for `surgesim merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::shard::Shard>,
}

// These doc comments are the --help text (clap), not rustdoc markup.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shard folders: the -o of every `run --shard I/N` of one set.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Parent folder of the outputs; each scenario writes DIR/<name>/.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "output"
    )]
    pub output: PathBuf,
    /// Skip the charts and report.html.
    #[arg(long)]
    pub no_charts: bool,
    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

// These doc comments are the --help text (clap), not rustdoc markup.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// An earlier output folder (-o DIR, or a scenario's folder), summary.csv
    /// or aggregate.csv to compare every metric with.
    #[arg(long, value_name = "PATH")]
    pub baseline: Option<PathBuf>,
    /// Allowed regression against the baseline [%] (per-metric overrides in [expect.tolerance]).
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    pub tolerance: f64,
    /// Write the results as JUnit XML.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Check the results in this folder (the -o of a run or a merge)
    /// instead of running the scenarios.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// Succeed even when no expectation and no baseline comparison is evaluated.
    #[arg(long)]
    pub allow_empty: bool,
    /// List every baseline comparison, not only regressions, improvements and
    /// new or gone entries.
    #[arg(long)]
    pub verbose: bool,
}

/// Parses `args` and runs the command; runs stop soon after `cancel` is set
/// (the binary sets it on SIGINT / SIGTERM). `Err` means exit code 2
/// (130 for [`Error::Interrupted`]).
pub fn main_with_args<I, T>(args: I, cancel: &CancelToken) -> Result<ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and succeed; usage errors exit 2.
            let _ = e.print();
            return Ok(ExitCode::from(if e.use_stderr() { 2 } else { 0 }));
        }
    };
    match cli.command {
        Command::Run(args) => run(&args, cancel).map(|_| ExitCode::SUCCESS),
        Command::Check(args) => check(&args, cancel),
        Command::Merge(args) => merge(&args, cancel).map(|_| ExitCode::SUCCESS),
        Command::Validate { scenarios } => validate(&scenarios, cancel),
    }
}

/// Expands folders into their `*.toml` files, sorted by name.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, "cannot list folder", e))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "toml"))
                .collect();
            inside.sort();
            if inside.is_empty() {
                return Err(Error::Usage(format!(
                    "{}: no scenario files (*.toml) in this folder",
                    p.display()
                )));
            }
            files.extend(inside);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return Err(Error::Usage(format!(
                "{}: no such scenario file or folder",
                p.display()
            )));
        }
    }
    Ok(files)
}

/// Loads the scenarios named on the command line, or the bundled default.
pub fn load_scenarios(
    paths: &[PathBuf],
    overrides: Overrides,
    cancel: &CancelToken,
) -> Result<Vec<Scenario>> {
    if paths.is_empty() {
        let path = Path::new(scenario::DEFAULT_SCENARIO_PATH);
        return Ok(vec![scenario::parse(
            scenario::DEFAULT_SCENARIO,
            path,
            overrides,
        )?]);
    }
    expand(paths)?
        .iter()
        .map(|f| scenario::load_with(f, overrides, cancel))
        .collect()
}

fn validate(paths: &[PathBuf], cancel: &CancelToken) -> Result<ExitCode> {
    let mut failed = false;
    for file in expand(paths)? {
        match scenario::load_with(&file, Overrides::default(), cancel) {
            Ok(s) => console::out(&format!(
                "ok  {}: scenario `{}`, {} function(s), {} platform(s)\n",
                file.display(),
                s.name,
                s.workload.functions.len(),
                s.platforms.len()
            ))?,
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) => {
                console::note(format_args!("error: {e}"));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// `surgesim check`: run (or read `--from`), then evaluate expectations and
/// the baseline. Exit 0 when every check passes, 1 when one fails.
pub fn check(args: &CheckArgs, cancel: &CancelToken) -> Result<ExitCode> {
    if !(args.tolerance.is_finite() && args.tolerance >= 0.0) {
        return Err(Error::Usage(format!(
            "--tolerance {}: give a percentage >= 0",
            args.tolerance
        )));
    }
    if let Some(shard) = args.run.shard {
        if args.from.is_some() || args.baseline.is_some() || args.junit.is_some() {
            return Err(Error::Usage(format!(
                "--shard {shard} runs a slice and checks nothing: give --from, --baseline \
                 and --junit to the check of the merged folder (`surgesim merge ... -o OUT`, \
                 then `surgesim check SCENARIOS --from OUT`)"
            )));
        }
        run(&args.run, cancel)?;
        if !args.run.quiet {
            console::note(format_args!(
                "check --shard {shard}: expectations are checked once the shards are merged: \
                 `surgesim merge SHARD_DIRS... -o OUT`, then `surgesim check SCENARIOS --from OUT`"
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let overrides = Overrides {
        seed: args.run.seed,
        replications: args.run.replications,
    };
    // Baselines are read before running: the run may overwrite the very folder.
    let mut baselines = std::collections::BTreeMap::new();
    if let Some(base) = &args.baseline {
        for s in load_scenarios(&args.run.scenarios, overrides, cancel)? {
            let b = crate::check::read_baseline(base, &s.name)?;
            baselines.insert(s.name.clone(), b);
        }
    }
    let results: Vec<(Scenario, Results)> = match &args.from {
        Some(from) => load_scenarios(&args.run.scenarios, overrides, cancel)?
            .into_iter()
            .map(|s| {
                let read = crate::check::read_results(from, &s)?;
                Ok((s, Results::Read(read)))
            })
            .collect::<Result<_>>()?,
        None => run(&args.run, cancel)?
            .into_iter()
            .map(|(s, runs)| (s, Results::Runs(runs)))
            .collect(),
    };
    let mut suites = Vec::new();
    let mut failed = false;
    for (s, results) in &results {
        let grouped = match results {
            Results::Runs(runs) => Grouped::new(runs),
            Results::Read(rows) => Grouped::read(rows),
        };
        let points: Vec<usize> = s.point_scenarios().iter().map(|p| p.0).collect();
        let mut checks = crate::check::evaluate(&s.expect, &points, &grouped);
        match baselines.get(&s.name) {
            Some(Some(baseline)) => checks.extend(crate::check::compare(
                baseline,
                &grouped,
                args.tolerance,
                &s.expect.tolerance,
            )),
            Some(None) => checks.push(crate::check::new_scenario(&s.name)),
            None => {}
        }
        console::out(&crate::check::table(&s.name, &checks, args.verbose))?;
        failed |= checks.iter().any(|c| !c.pass);
        suites.push((s.name.clone(), checks));
    }
    if let Some(path) = &args.junit {
        crate::files::write_atomic(path, crate::check::junit(&suites).as_bytes())?;
    }
    let evaluated = suites
        .iter()
        .flat_map(|(_, rows)| rows)
        .filter(|r| crate::check::evaluated(r))
        .count();
    if evaluated == 0 {
        console::note(format_args!(
            "check: no expectation and no baseline comparison was evaluated (no [expect] \
             entries{}): add [expect] entries or --baseline{}",
            if args.baseline.is_some() {
                ", nothing in the baseline to compare with"
            } else {
                ", no --baseline"
            },
            if args.allow_empty {
                "; passing, as --allow-empty asks"
            } else {
                ", or pass --allow-empty to let a check of nothing succeed"
            }
        ));
        if !args.allow_empty {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A scenario's results for `check`: its runs, or its summary.csv read back.
enum Results {
    Runs(Vec<RunSummary>),
    Read(Vec<crate::metrics::summary::PublishedRun>),
}

/// `surgesim merge`: check a set of shard folders, write the merged outputs,
/// print the summary tables.
pub fn merge(args: &MergeArgs, cancel: &CancelToken) -> Result<()> {
    let opts = RunOptions {
        charts: !args.no_charts,
        quiet: args.quiet,
        ..RunOptions::default()
    };
    let merged = crate::shard::merge(&args.shards, &args.output, &opts, cancel)?;
    for m in &merged {
        console::out(&report::table::summary_table(&m.outline, &m.runs))?;
        if !args.quiet {
            console::note(format_args!(
                "wrote {}",
                args.output
                    .join(scenario::sanitize_name(&m.outline.name))
                    .display()
            ));
        }
    }
    Ok(())
}

/// `surgesim run`: simulate, write the outputs, print the summary table.
/// Returns each scenario with its runs.
pub fn run(args: &RunArgs, cancel: &CancelToken) -> Result<Vec<(Scenario, Vec<RunSummary>)>> {
    let overrides = Overrides {
        seed: args.seed,
        replications: args.replications,
    };
    let scenarios = load_scenarios(&args.scenarios, overrides, cancel)?;
    let mut disk_mb = 0.0;
    for s in &scenarios {
        disk_mb += guard_size(s, args)?;
    }
    guard_disk(disk_mb, args)?;
    let mut seen = std::collections::BTreeSet::new();
    for s in &scenarios {
        let dir = scenario::sanitize_name(&s.name);
        if !seen.insert(dir.clone()) {
            return Err(Error::Usage(format!(
                "two scenarios would write to {}: give them different `name`s",
                args.output.join(dir).display()
            )));
        }
    }
    let opts = RunOptions {
        requests_csv: args.requests_csv,
        jobs: args.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |j| j as usize,
        ),
        charts: !args.no_charts,
        quiet: args.quiet,
        per_function: args.per_function,
        chart_point: args.chart_point,
    };
    for s in &scenarios {
        check_chart_point(s, args.chart_point)?;
    }
    if let Some(shard) = args.shard {
        let (ran, total) = crate::shard::run(&scenarios, &args.output, shard, &opts, cancel)?;
        if !args.quiet {
            console::note(format_args!(
                "shard {shard}: {ran} of {total} units written to {}; merge the {} shards \
                 with `surgesim merge`",
                args.output.display(),
                shard.count
            ));
        }
        return Ok(Vec::new());
    }
    let mut results = Vec::with_capacity(scenarios.len());
    for s in scenarios {
        if !args.quiet {
            for n in &s.notes {
                console::note(format_args!("{}: {n}", s.file.display()));
            }
        }
        let runs = run_scenario_with(&s, &args.output, &opts, cancel)?;
        console::out(&report::table::summary_table(&s.outline(), &runs))?;
        if !args.quiet {
            console::note(format_args!(
                "wrote {}",
                args.output.join(scenario::sanitize_name(&s.name)).display()
            ));
        }
        results.push((s, runs));
    }
    Ok(results)
}

/// Refuses a `--chart-point` the scenario does not have.
fn check_chart_point(s: &Scenario, point: usize) -> Result<()> {
    let points = s.points.len().max(1);
    if point >= points {
        return Err(Error::Usage(format!(
            "--chart-point {point}: scenario `{}` has {} (0 to {}; see points.csv)",
            s.name,
            if s.points.is_empty() {
                "no sweep, so only point 0".to_string()
            } else {
                format!("{points} sweep points")
            },
            points - 1
        )));
    }
    Ok(())
}

/// Bytes one requests.csv row takes besides its function and platform
/// names, about (for the size guard): three 9-decimal times, the latency,
/// the outcome, the flags and the point and replication. Measured: 78 at a
/// 10,000 s horizon (49,744 rows of 91.2 bytes with `default` and
/// `lambda`); each further digit of the times adds 3.
const REQUEST_ROW_BYTES: f64 = 85.0;

/// Bytes one timeseries.csv row takes, about (for the size guard): measured
/// 55 on `default` (1,081 lines, 59,692 bytes); longer times and larger
/// counts add a few.
const SERIES_ROW_BYTES: f64 = 60.0;

/// Refuses a scenario whose expected size exceeds the limits, saying how big
/// it would be and how to proceed; returns how many MB its large files
/// (requests.csv, the time series) would take on disk.
fn guard_size(s: &Scenario, args: &RunArgs) -> Result<f64> {
    let runs: f64 = s
        .point_scenarios()
        .iter()
        .map(|(_, sc)| {
            sc.workload.expected_requests(sc.horizon)
                * f64::from(sc.replications)
                * sc.platforms.len() as f64
        })
        .sum();
    let count: usize = s
        .point_scenarios()
        .iter()
        .map(|(_, sc)| sc.replications as usize * sc.platforms.len())
        .sum();
    if count > MAX_RUNS {
        return Err(Error::Usage(format!(
            "{}: {count} runs (points x replications x platforms), more than {MAX_RUNS}; \
             sweep fewer values or run fewer replications",
            s.file.display()
        )));
    }
    if runs > args.max_requests as f64 {
        return Err(Error::Usage(format!(
            "{}: about {runs:.3e} requests would be simulated (all points, replications and \
             platforms), more than --max-requests {}; shorten duration_s, lower the rates or \
             the replications, or raise --max-requests if you mean it",
            s.file.display(),
            args.max_requests
        )));
    }
    // The worst case in events: a request throttled or failing as often
    // as its platform retries it, and each interval's sample of every
    // function (a run without requests still samples them).
    let (mut attempts, mut samples) = (0.0, 0.0);
    for (_, sc) in s.point_scenarios() {
        let requests = sc.workload.expected_requests(sc.horizon) * f64::from(sc.replications);
        let intervals = (sc.horizon.0 as f64 / sc.interval.0.max(1) as f64).ceil();
        for p in &sc.platforms {
            attempts += requests * p.config.most_attempts();
            samples += intervals * sc.workload.functions.len() as f64 * f64::from(sc.replications);
        }
    }
    if attempts + samples > args.max_events as f64 {
        return Err(Error::Usage(format!(
            "{}: up to {:.3e} events could be simulated ({attempts:.3e} request attempts: \
             every throttle and failure tried again as its platform retries it, the async \
             queue's until the maximum event age; {samples:.3e} time-series samples: \
             functions x intervals), more than --max-events {}; shorten the run, lower the \
             rates, a shorter async max_event_age_s or fewer retries, a longer \
             timeseries_interval_s, or raise --max-events if you mean it",
            s.file.display(),
            attempts + samples,
            args.max_events
        )));
    }
    // What the run will write, at its largest: checked against the free
    // space of the output folder's file system at the end.
    let mut disk_mb = 0.0;
    // The time series on disk: timeseries.csv, and while it is written the
    // stored rows it is read from (one run per platform of the chart point).
    if let Some((_, sc)) = s
        .point_scenarios()
        .into_iter()
        .find(|(p, _)| *p == args.chart_point)
    {
        let rows = (sc.horizon.0 as f64 / sc.interval.0.max(1) as f64).ceil();
        let platforms = sc.platforms.len() as f64;
        let row = SERIES_ROW_BYTES + crate::metrics::series::TYPICAL_ROW_BYTES as f64;
        let mb = rows * platforms * row / 1e6;
        disk_mb += mb;
        if mb > args.max_series_mb as f64 {
            let interval = sc.interval.as_secs_f64() * mb / args.max_series_mb as f64;
            return Err(Error::Usage(format!(
                "{}: the time series would have {rows:.0} rows x {platforms:.0} platform(s), \
                 about {mb:.0} MB on disk (timeseries.csv and the stored rows it is written \
                 from), more than \
                 --max-series-mb {}; use a longer timeseries_interval_s (at least {} s) or a \
                 shorter run (duration_s, or a trace window's end_s), or raise \
                 --max-series-mb",
                s.file.display(),
                args.max_series_mb,
                crate::report::human::trim(interval.ceil()),
            )));
        }
    }
    if args.requests_csv {
        // From the real names: the longest function name on every row, as
        // quoted (an upper bound for a workload of mixed names): each run's
        // rows, and how many runs have them.
        let runs: Vec<(f64, f64)> = s
            .point_scenarios()
            .iter()
            .flat_map(|(_, sc)| {
                let longest = sc
                    .workload
                    .functions
                    .iter()
                    .map(|f| crate::metrics::csv_field(&f.name).len())
                    .max()
                    .unwrap_or(0);
                let requests = sc.workload.expected_requests(sc.horizon);
                sc.platforms.iter().map(move |p| {
                    let row = REQUEST_ROW_BYTES
                        + (longest + crate::metrics::csv_field(&p.name).len()) as f64;
                    (requests * row, f64::from(sc.replications))
                })
            })
            .collect();
        let mb = runs.iter().map(|(b, n)| b * n).sum::<f64>() / 1e6;
        // The first run's rows are requests.csv; each other run's are
        // appended to it, then removed: the disk holds rows twice only while
        // a run's are copied.
        let count: f64 = runs.iter().map(|(_, n)| n).sum();
        let largest = if count > 1.0 {
            runs.iter().fold(0.0f64, |a, (b, _)| a.max(*b)) / 1e6
        } else {
            0.0
        };
        disk_mb += mb + largest;
        if mb > args.max_requests_csv_mb as f64 {
            return Err(Error::Usage(format!(
                "{}: requests.csv would be about {mb:.0} MB, more than --max-requests-csv-mb {}; \
                 drop --requests-csv, shorten the run, or raise the limit",
                s.file.display(),
                args.max_requests_csv_mb
            )));
        }
    }
    Ok(disk_mb)
}

/// Refuses a run whose large files (`disk_mb` [MB] over all its scenarios)
/// would not fit in the free space of the output's file system.
fn guard_disk(disk_mb: f64, args: &RunArgs) -> Result<()> {
    // Worth checking only for large outputs: the other files are small.
    if disk_mb > 64.0
        && let Some(free) = crate::files::free_space(&args.output)
        && disk_mb > free as f64 / 1e6
    {
        return Err(Error::Usage(format!(
            "the run would write about {disk_mb:.0} MB (requests.csv, and one run's part of \
             it again while it is appended, the time series and the rows it is written from), \
             and the file \
             system of {} has {:.0} MB free; free some space, write elsewhere with -o, or \
             drop --requests-csv",
            args.output.display(),
            free as f64 / 1e6
        )));
    }
    Ok(())
}

/// Runs every replication x platform of `s` (one thread) and writes its
/// output folder under `parent`.
pub fn run_scenario(s: &Scenario, parent: &Path, requests_csv: bool) -> Result<Vec<RunSummary>> {
    run_scenario_with(
        s,
        parent,
        &RunOptions {
            requests_csv,
            ..RunOptions::default()
        },
        &CancelToken::never(),
    )
}

/// Runs every sweep point x replication x platform of `s` on `opts.jobs`
/// threads and writes the output folder under `parent`. Results come back in
/// that order whatever the number of threads, so the files are identical.
pub fn run_scenario_with(
    s: &Scenario,
    parent: &Path,
    opts: &RunOptions,
    cancel: &CancelToken,
) -> Result<Vec<RunSummary>> {
    // Dropped on failure, the staging folder goes (and the folder, if this
    // run made it).
    let out = crate::files::OutputDir::open(parent, &s.name)?;
    let executed = experiment::execute(s, &out, opts, cancel)?;
    report::write(
        &s.outline().charting(opts.chart_point),
        out,
        &executed.runs,
        &executed.pooled,
        &executed.request_parts(),
        opts,
        cancel,
    )?;
    Ok(executed.runs)
}
