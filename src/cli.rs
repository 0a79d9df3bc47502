//! The command line (SPEC 1): `run` and `validate`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::metrics::RequestLog;
use crate::output::{self, csv};
use crate::runner::{self, RunResult};
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
    /// Print nothing on stderr but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
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

/// `surgesim run`: simulate, write the outputs, print the summary table.
pub fn run(args: &RunArgs) -> Result<()> {
    let overrides = Overrides {
        seed: args.seed,
        replications: args.replications,
    };
    let scenarios = load_scenarios(&args.scenarios, overrides)?;
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
    for s in &scenarios {
        let runs = run_scenario(s, &args.output, args.requests_csv)?;
        print!("{}", summary_table(s, &runs));
        if !args.quiet {
            eprintln!(
                "wrote {}",
                args.output.join(scenario::sanitize_name(&s.name)).display()
            );
        }
    }
    Ok(())
}

/// Runs every replication x platform of `s` and writes its output folder under `parent`.
pub fn run_scenario(s: &Scenario, parent: &Path, requests_csv: bool) -> Result<Vec<RunResult>> {
    let dir = output::scenario_dir(parent, &s.name)?;
    let requests_path = dir.join("requests.csv");
    let mut log_file = if requests_csv {
        let tmp = tempfile::Builder::new()
            .prefix(".surgesim-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, "cannot create a file in", e))?;
        Some(tmp)
    } else {
        None
    };
    let mut writer: Option<Box<dyn Write + Send>> = match &log_file {
        Some(tmp) => {
            let file = tmp
                .as_file()
                .try_clone()
                .map_err(|e| Error::io(&requests_path, "cannot write", e))?;
            let mut w = BufWriter::with_capacity(1 << 16, file);
            w.write_all(RequestLog::HEADER.as_bytes())
                .map_err(|e| Error::io(&requests_path, "cannot write", e))?;
            Some(Box::new(w))
        }
        None => None,
    };
    let names: std::sync::Arc<[String]> = s
        .workload
        .functions
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let mut runs = Vec::with_capacity(s.platforms.len() * s.replications as usize);
    for replication in 0..s.replications {
        for p in &s.platforms {
            let log = writer
                .take()
                .map(|w| RequestLog::new(w, &p.name, names.clone()));
            let mut result = runner::run_platform(s, p, replication, log);
            if let Some(log) = result.rec.take_log() {
                writer = Some(
                    log.into_inner()
                        .map_err(|e| Error::io(&requests_path, "cannot write", e))?,
                );
            }
            runs.push(result);
        }
    }
    output::write_atomic(
        &dir.join("summary.csv"),
        csv::summary_csv(&s.name, &runs).as_bytes(),
    )?;
    output::write_atomic(
        &dir.join("timeseries.csv"),
        csv::timeseries_csv(&runs).as_bytes(),
    )?;
    if !requests_csv && requests_path.exists() {
        // A requests.csv from an earlier run would not match the new summary.
        std::fs::remove_file(&requests_path)
            .map_err(|e| Error::io(&requests_path, "cannot remove stale", e))?;
    }
    if let (Some(mut w), Some(tmp)) = (writer, log_file.take()) {
        w.flush()
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| Error::io(&requests_path, "cannot write", e))?;
        drop(w);
        tmp.persist(&requests_path)
            .map_err(|e| Error::io(&requests_path, "cannot rename into place", e.error))?;
    }
    Ok(runs)
}

/// The short human summary printed on stdout: one line per platform, means
/// over replications.
pub fn summary_table(s: &Scenario, runs: &[RunResult]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {} s, {} replication(s), seed {}",
        s.name,
        s.horizon.as_secs_f64(),
        s.replications,
        s.seed
    );
    if !s.description.is_empty() {
        let _ = writeln!(out, "  {}", s.description);
    }
    let _ = writeln!(
        out,
        "  {:<16} {:>10} {:>9} {:>9} {:>9} {:>8} {:>8} {:>12} {:>14}",
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
    for p in &s.platforms {
        let mine: Vec<&RunResult> = runs.iter().filter(|r| r.platform == p.name).collect();
        let n = mine.len().max(1) as f64;
        let mean = |f: &dyn Fn(&RunResult) -> f64| mine.iter().map(|r| f(r)).sum::<f64>() / n;
        let q = |x: f64| move |r: &RunResult| r.rec.quantile_ms(x).unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "  {:<16} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>7.2}% {:>7.2}% {:>12.4} {:>14.2}",
            p.name,
            mean(&|r| r.rec.counts.requests as f64),
            mean(&q(0.50)),
            mean(&q(0.95)),
            mean(&q(0.99)),
            100.0 * mean(&csv::error_rate),
            100.0
                * mean(&|r| {
                    let c = &r.rec.counts;
                    if c.requests == 0 {
                        0.0
                    } else {
                        c.cold_starts as f64 / c.requests as f64
                    }
                }),
            mean(&|r| r.bill.cost.total()),
            mean(&|r| r.bill.per_month_usd),
        );
    }
    out
}
