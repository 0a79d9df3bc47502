//! The command line (SPEC 1): `run` and `validate`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::metrics::RequestLog;
use crate::metrics::summary::{Grouped, RunSummary, metric};
use crate::output::{self, RunOptions, aggregate, csv, report};
use crate::runner;
use crate::scenario::{self, Overrides, Scenario};

#[derive(Debug, Parser)]
#[command(
    name = "surgesim",
    version,
    about = "Replay request traffic against AWS Lambda and Kubernetes models: latency, errors and dollars"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate scenarios and write summary.csv and timeseries.csv per scenario.
    Run(RunArgs),
    /// Run scenarios, then check their [expect] entries and compare with a baseline.
    Check(CheckArgs),
    /// Check scenario files without running them.
    Validate {
        /// Scenario files, or folders of them.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files, or folders of them (every *.toml inside). Default: the
    /// bundled Lambda scenario.
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
    /// Refuse --requests-csv when the file is expected to exceed this size [MB].
    #[arg(long, value_name = "MB", default_value_t = 10_240)]
    pub max_requests_csv_mb: u64,
    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

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
}

/// Parses `args` and runs the command. `Err` means exit code 2.
pub fn main_with_args<I, T>(args: I) -> Result<ExitCode>
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
        Command::Run(args) => run(&args).map(|_| ExitCode::SUCCESS),
        Command::Check(args) => check(&args),
        Command::Validate { scenarios } => validate(&scenarios),
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
pub fn load_scenarios(paths: &[PathBuf], overrides: Overrides) -> Result<Vec<Scenario>> {
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
        .map(|f| scenario::load(f, overrides))
        .collect()
}

fn validate(paths: &[PathBuf]) -> Result<ExitCode> {
    let mut failed = false;
    for file in expand(paths)? {
        match scenario::load(&file, Overrides::default()) {
            Ok(s) => println!(
                "ok  {}: scenario `{}`, {} function(s), {} platform(s)",
                file.display(),
                s.name,
                s.workload.functions.len(),
                s.platforms.len()
            ),
            Err(e) => {
                eprintln!("error: {e}");
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

/// `surgesim check`: run, then evaluate expectations and the baseline.
/// Exit 0 when every check passes, 1 when one fails.
pub fn check(args: &CheckArgs) -> Result<ExitCode> {
    if !(args.tolerance.is_finite() && args.tolerance >= 0.0) {
        return Err(Error::Usage(format!(
            "--tolerance {}: give a percentage >= 0",
            args.tolerance
        )));
    }
    // Baselines are read before running: the run may overwrite the very folder.
    let mut baselines = std::collections::BTreeMap::new();
    if let Some(base) = &args.baseline {
        let overrides = Overrides {
            seed: args.run.seed,
            replications: args.run.replications,
        };
        for s in load_scenarios(&args.run.scenarios, overrides)? {
            let b = crate::check::read_baseline(base, &s.name)?;
            baselines.insert(s.name.clone(), b);
        }
    }
    let results = run(&args.run)?;
    let mut suites = Vec::new();
    let mut failed = false;
    for (s, runs) in &results {
        let grouped = Grouped::new(runs);
        let points: Vec<usize> = s.point_scenarios().iter().map(|p| p.0).collect();
        let mut checks = crate::check::evaluate(&s.expect, &points, &grouped);
        if let Some(baseline) = baselines.get(&s.name) {
            checks.extend(crate::check::compare(
                baseline,
                &grouped,
                args.tolerance,
                &s.expect.tolerance,
            ));
        }
        print!("{}", crate::check::table(&s.name, &checks));
        failed |= checks.iter().any(|c| !c.pass);
        suites.push((s.name.clone(), checks));
    }
    if let Some(path) = &args.junit {
        output::write_atomic(path, crate::check::junit(&suites).as_bytes())?;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `surgesim run`: simulate, write the outputs, print the summary table.
/// Returns each scenario with its runs.
pub fn run(args: &RunArgs) -> Result<Vec<(Scenario, Vec<RunSummary>)>> {
    let overrides = Overrides {
        seed: args.seed,
        replications: args.replications,
    };
    let scenarios = load_scenarios(&args.scenarios, overrides)?;
    for s in &scenarios {
        guard_size(s, args)?;
    }
    // SIGINT / SIGTERM: runs stop at their next check; nothing is written.
    let _ = ctrlc::set_handler(|| {
        crate::engine::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed)
    });
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
    };
    let mut results = Vec::with_capacity(scenarios.len());
    for s in scenarios {
        if !args.quiet {
            for n in &s.notes {
                eprintln!("{}: {n}", s.file.display());
            }
        }
        let runs = run_scenario_with(&s, &args.output, &opts)?;
        print!("{}", summary_table(&s, &runs));
        if !args.quiet {
            eprintln!(
                "wrote {}",
                args.output.join(scenario::sanitize_name(&s.name)).display()
            );
        }
        results.push((s, runs));
    }
    Ok(results)
}

/// Bytes one requests.csv row takes, about (for the size guard).
const REQUEST_ROW_BYTES: f64 = 90.0;

/// Refuses a scenario whose expected size exceeds the limits, saying how big
/// it would be and how to proceed.
fn guard_size(s: &Scenario, args: &RunArgs) -> Result<()> {
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
    if args.requests_csv {
        let mb = runs * REQUEST_ROW_BYTES / 1e6;
        if mb > args.max_requests_csv_mb as f64 {
            return Err(Error::Usage(format!(
                "{}: requests.csv would be about {mb:.0} MB, more than --max-requests-csv-mb {}; \
                 drop --requests-csv, shorten the run, or raise the limit",
                s.file.display(),
                args.max_requests_csv_mb
            )));
        }
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
    )
}

/// One run to do: (sweep point, its scenario, replication, platform index).
type RunSpec<'a> = (usize, &'a Scenario, u32, usize);

/// Most runs (points x replications x platforms) one scenario may have.
pub const MAX_RUNS: usize = 1_000_000;

/// Runs every sweep point x replication x platform of `s` on `opts.jobs`
/// threads and writes the output folder under `parent`. Results come back in
/// that order whatever the number of threads, so the files are identical.
pub fn run_scenario_with(
    s: &Scenario,
    parent: &Path,
    opts: &RunOptions,
) -> Result<Vec<RunSummary>> {
    let dir = output::scenario_dir(parent, &s.name)?;
    let requests_path = dir.join("requests.csv");
    let specs: Vec<RunSpec> = s
        .point_scenarios()
        .into_iter()
        .flat_map(|(point, sc)| {
            (0..sc.replications)
                .flat_map(move |rep| (0..sc.platforms.len()).map(move |p| (point, sc, rep, p)))
        })
        .collect();
    let names: std::sync::Arc<[String]> = s
        .workload
        .functions
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let progress = Progress::new(specs.len() as u64, opts.quiet);
    let run_one =
        |&(point, sc, rep, p): &RunSpec| -> Result<(RunSummary, Option<tempfile::TempPath>)> {
            if crate::engine::interrupted() {
                return Err(Error::Interrupted);
            }
            let platform = &sc.platforms[p];
            // Each run logs to its own temporary file (closed after the run, so
            // many runs hold no file handles); they are joined in order.
            let (part, log) = if opts.requests_csv {
                let tmp = output::temp_builder()
                    .tempfile_in(&dir)
                    .map_err(|e| Error::io(&dir, "cannot create a file in", e))?;
                let f = tmp
                    .as_file()
                    .try_clone()
                    .map_err(|e| Error::io(&requests_path, "cannot write", e))?;
                let w: Box<dyn Write + Send> = Box::new(BufWriter::with_capacity(1 << 16, f));
                (
                    Some(tmp.into_temp_path()),
                    Some(RequestLog::new(w, &platform.name, names.clone())),
                )
            } else {
                (None, None)
            };
            // timeseries.csv and the charts show point 0, replication 0 only.
            let series = point == 0 && rep == 0;
            let mut result =
                runner::run_platform_with(sc, platform, rep, log, opts.per_function, series);
            result.point = point;
            if let Some(log) = result.rec.take_log() {
                log.into_inner()
                    .and_then(|mut w| w.flush())
                    .map_err(|e| Error::io(&requests_path, "cannot write", e))?;
            }
            progress.inc();
            // Only the summary is kept: memory stays flat over many runs.
            Ok((result.summarize(series), part))
        };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {} threads: {e}", opts.jobs)))?;
    // A watcher shows the bar once the work has taken a second, even while
    // a single long run has not finished yet.
    let done: Vec<Result<(RunSummary, Option<tempfile::TempPath>)>> = std::thread::scope(|scope| {
        scope.spawn(|| progress.watch());
        let done = if opts.jobs <= 1 {
            specs.iter().map(run_one).collect()
        } else {
            use rayon::prelude::*;
            pool.install(|| specs.par_iter().map(run_one).collect())
        };
        progress.finish();
        done
    });
    if crate::engine::interrupted() {
        // Temporary files are removed as they drop; finished files stay untouched.
        return Err(Error::Interrupted);
    }
    let mut runs = Vec::with_capacity(done.len());
    let mut parts = Vec::with_capacity(done.len());
    for d in done {
        let (r, part) = d?;
        runs.push(r);
        parts.push(part);
    }

    let fn_names: Vec<String> = s
        .workload
        .functions
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let summary = csv::summary_csv(&s.name, &fn_names, &runs);
    let grouped = Grouped::new(&runs);
    let aggregate_csv = aggregate::aggregate_csv(&s.name, &grouped);
    let points_csv = output::points_csv(s);
    output::write_atomic(&dir.join("summary.csv"), summary.as_bytes())?;
    output::write_atomic(&dir.join("aggregate.csv"), aggregate_csv.as_bytes())?;
    output::write_atomic(
        &dir.join("timeseries.csv"),
        csv::timeseries_csv(&runs).as_bytes(),
    )?;
    match &points_csv {
        Some(p) => output::write_atomic(&dir.join("points.csv"), p.as_bytes())?,
        None => remove_stale(&dir.join("points.csv"))?,
    }
    // Charts and the report this run does not write would be stale.
    for stale in output::CHART_FILES.iter().chain(["report.html"].iter()) {
        remove_stale(&dir.join(stale))?;
    }
    if opts.charts {
        let charts = output::figures(s, &grouped)?;
        for (file, _, svg) in &charts {
            output::write_atomic(&dir.join(file), svg.as_bytes())?;
        }
        let titled: Vec<(String, String)> =
            charts.into_iter().map(|(_, t, svg)| (t, svg)).collect();
        let page = report::render(&report::Report {
            name: &s.name,
            description: &s.description,
            summary_csv: &summary,
            aggregate_csv: &aggregate_csv,
            points_csv: points_csv.as_deref(),
            charts: &titled,
        });
        output::write_atomic(&dir.join("report.html"), page.as_bytes())?;
    }
    if opts.requests_csv {
        let tmp = output::temp_builder()
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, "cannot create a file in", e))?;
        let io = |e| Error::io(&requests_path, "cannot write", e);
        {
            let mut w = BufWriter::with_capacity(1 << 16, tmp.as_file());
            w.write_all(RequestLog::HEADER.as_bytes()).map_err(io)?;
            for part in parts.into_iter().flatten() {
                let mut f = std::fs::File::open(&part).map_err(io)?;
                std::io::copy(&mut f, &mut w).map_err(io)?;
            }
            w.flush().map_err(io)?;
        }
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&requests_path)
            .map_err(|e| Error::io(&requests_path, "cannot rename into place", e.error))?;
    } else {
        // A requests.csv from an earlier run would not match the new summary.
        remove_stale(&requests_path)?;
    }
    Ok(runs)
}

/// Removes an output file an earlier run left that this run does not write.
fn remove_stale(path: &Path) -> Result<()> {
    if path.exists() {
        std::fs::remove_file(path).map_err(|e| Error::io(path, "cannot remove stale", e))?;
    }
    Ok(())
}

/// A progress bar on stderr, shown only when stderr is a terminal, not
/// `--quiet`, and the work has taken more than a second.
struct Progress {
    bar: indicatif::ProgressBar,
    shown: std::sync::atomic::AtomicBool,
    finished: std::sync::atomic::AtomicBool,
    allowed: bool,
    started: std::time::Instant,
}

impl Progress {
    fn new(total: u64, quiet: bool) -> Self {
        use std::io::IsTerminal;
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::hidden(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed:>4} [{bar:30}] {pos}/{len} runs, eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress {
            bar,
            shown: std::sync::atomic::AtomicBool::new(false),
            finished: std::sync::atomic::AtomicBool::new(false),
            allowed: !quiet && std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
        }
    }

    fn inc(&self) {
        self.bar.inc(1);
    }

    /// Waits until the work is done or has taken a second; then shows the
    /// bar (when allowed), ticking so a long single run shows its time.
    fn watch(&self) {
        use std::sync::atomic::Ordering;
        let second = std::time::Duration::from_secs(1);
        while !self.finished.load(Ordering::Relaxed) {
            if self.started.elapsed() >= second {
                if self.allowed && !self.shown.swap(true, Ordering::Relaxed) {
                    self.bar
                        .set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    self.bar
                        .enable_steady_tick(std::time::Duration::from_millis(250));
                    // The work may have finished meanwhile: clear the bar again.
                    if self.finished.load(Ordering::Relaxed) {
                        self.bar.finish_and_clear();
                    }
                }
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn finish(&self) {
        use std::sync::atomic::Ordering;
        self.finished.store(true, Ordering::Relaxed);
        if self.shown.load(Ordering::Relaxed) {
            self.bar.finish_and_clear();
        }
    }
}

/// The short human summary printed on stdout: one line per platform (per
/// sweep point with a sweep), means over replications.
pub fn summary_table(s: &Scenario, runs: &[RunSummary]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {} s, {} replication(s), seed {}{}",
        s.name,
        s.horizon.as_secs_f64(),
        s.replications,
        s.seed,
        if s.points.is_empty() {
            String::new()
        } else {
            format!(", {} sweep points (see points.csv)", s.points.len())
        }
    );
    if !s.description.is_empty() {
        let _ = writeln!(out, "  {}", s.description);
    }
    if let Some(t) = s.workload.trace.as_ref().filter(|t| t.skipped > 0) {
        let _ = writeln!(
            out,
            "  trace: {} rows replayed, {} bad rows skipped",
            t.rows, t.skipped
        );
    }
    let _ = writeln!(
        out,
        "  {:<22} {:>10} {:>9} {:>9} {:>9} {:>8} {:>8} {:>12} {:>14}",
        "platform",
        "requests",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "errors",
        "cold",
        "cost_usd",
        "usd_per_month"
    );
    let grouped = Grouped::new(runs);
    let stat = |name: &str| metric(name).expect("a summary metric");
    let (p50, p95, p99) = (stat("p50_ms"), stat("p95_ms"), stat("p99_ms"));
    let (requests, errors, cold) = (
        stat("requests"),
        stat("error_rate"),
        stat("cold_start_ratio"),
    );
    let (cost, per_month) = (stat("cost_usd"), stat("cost_per_month_usd"));
    for g in &grouped.groups {
        let n = g.runs.len().max(1) as f64;
        let mean = |m: &crate::metrics::summary::Metric| {
            g.runs
                .iter()
                .map(|&i| m.value(&runs[i], None).unwrap_or(f64::NAN))
                .sum::<f64>()
                / n
        };
        let label = if s.points.is_empty() {
            g.platform.clone()
        } else {
            format!("{} @{}", g.platform, g.point)
        };
        let _ = writeln!(
            out,
            "  {:<22} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>7.2}% {:>7.2}% {:>12.4} {:>14.2}",
            label,
            mean(requests),
            mean(p50),
            mean(p95),
            mean(p99),
            100.0 * mean(errors),
            100.0 * mean(cold),
            mean(cost),
            mean(per_month),
        );
    }
    out
}
