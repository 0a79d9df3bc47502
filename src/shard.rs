//! Shards and their merge (README, 'Beyond one machine'): `run --shard I/N`
//! runs slice I of N of the units and writes them as a partial result;
//! `merge` checks that a set of partial results is complete and of one
//! experiment, and writes from them exactly the files one machine writes.
//!
//! The units are the (scenario, sweep point, replication) triples of the
//! command line's scenarios, counted in order from 0 across all of them; unit
//! k goes to shard k mod N. A unit's runs (one per platform) depend only on
//! the scenario and the replication, so where a unit runs does not change its
//! results.
//!
//! A shard's folder (`-o`) holds `shard.json`, the manifest, written last
//! (a folder without it is a shard that did not finish), and for each
//! scenario it has units of, `<name>/runs.jsonl` (each run's typed summary as
//! one JSON line, floats written to round-trip exactly), `<name>/latency.hdr`
//! (each run's latency histogram in the hdrhistogram crate's V2
//! serialisation, one after another), `<name>/series.bin` (the time series
//! of the runs that have one, replication 0 of the chart point, in the
//! stored form of [`crate::metrics::series`]) and, with `--requests-csv`,
//! `<name>/requests.part` (each run's request rows, one after another).

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::CancelToken;
use crate::error::{Error, Result};
use crate::experiment::{self, Latency, RunOptions};
use crate::files::{OutputDir, sanitize_name};
use crate::metrics::summary::{Pooled, Pools, RunSummary};
use crate::metrics::{ExactLatencies, Latencies};
use crate::report::RequestPart;
use crate::scenario::{Outline, Scenario};

/// The manifest's file name.
pub const MANIFEST: &str = "shard.json";
/// The manifest format this build writes and reads.
const FORMAT: &str = "surgesim shard 2";
const RUNS: &str = "runs.jsonl";
const HISTOGRAMS: &str = "latency.hdr";
const REQUESTS: &str = "requests.part";
const SERIES: &str = "series.bin";
/// Most shards a set may have.
pub const MAX_SHARDS: u32 = 1_000_000;

/// Slice `index` of `count` (counted from 0, as `JOB_COMPLETION_INDEX`,
/// `AWS_BATCH_JOB_ARRAY_INDEX` and `strategy.job-index` are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawShard")]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A manifest's shard before its checks.
#[derive(Deserialize)]
struct RawShard {
    index: u32,
    count: u32,
}

impl TryFrom<RawShard> for Shard {
    type Error = String;

    fn try_from(r: RawShard) -> std::result::Result<Self, String> {
        format!("{}/{}", r.index, r.count).parse()
    }
}

impl Shard {
    /// Whether unit `k` (counted across the scenarios) is this shard's.
    pub fn holds(&self, k: usize) -> bool {
        k % self.count as usize == self.index as usize
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let usage = || {
            format!(
                "`{s}`: give the shard as I/N, its index from 0 and the number of shards \
                 (e.g. 0/4 ... 3/4)"
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(usage)?;
        let index: u32 = i.trim().parse().map_err(|_| usage())?;
        let count: u32 = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "`{s}`: the number of shards must be 1 to {MAX_SHARDS}"
            ));
        }
        if index >= count {
            return Err(format!(
                "`{s}`: the index counts from 0, so it is below the number of shards ({count}); \
                 a 1-based index (a Slurm array of 1-{count}) needs 1 subtracted"
            ));
        }
        Ok(Shard { index, count })
    }
}

/// What a shard holds, written last into its folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: String,
    /// A hash of the sources the binary was built from (build.rs).
    build: String,
    shard: Shard,
    requests_csv: bool,
    per_function: bool,
    scenarios: Vec<Part>,
}

/// One scenario's share of a shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Part {
    outline: Outline,
    /// [`Scenario::digest`] in hex.
    digest: String,
    /// The index of the scenario's first unit among all the scenarios'.
    first_unit: usize,
    /// Its units: (point, replication) pairs.
    units: usize,
    /// The units this shard ran (ordinals within the scenario).
    held: Vec<usize>,
    /// The size of each file written for it \[bytes\].
    files: Vec<(String, u64)>,
}

/// One run in runs.jsonl.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WireRun {
    /// Its unit's ordinal within the scenario and its platform's index.
    unit: usize,
    platform_index: usize,
    kind: String,
    summary: RunSummary,
    latency: ExactLatencies,
    /// Where its histogram and request rows are: (offset, length) in bytes.
    histogram: (u64, u64),
    requests: Option<(u64, u64)>,
    /// Where its time series is in series.bin: (offset, length) in bytes,
    /// and its rows.
    series: Option<(u64, u64, u64)>,
}

/// The runs of slice `shard` of `scenarios`, written to `out` as a partial
/// result. Returns (units run, units in all).
pub fn run(
    scenarios: &[Scenario],
    out: &Path,
    shard: Shard,
    opts: &RunOptions,
    cancel: &CancelToken,
) -> Result<(usize, usize)> {
    run_units(scenarios, out, shard, &|k| shard.holds(k), opts, cancel)
}

/// [`run`] for the units `wanted` accepts (by their index across the
/// scenarios), labelled `shard`: the merge takes any partition of the units,
/// as long as each is in exactly one shard.
pub fn run_units(
    scenarios: &[Scenario],
    out: &Path,
    shard: Shard,
    wanted: &(dyn Fn(usize) -> bool + Sync),
    opts: &RunOptions,
    cancel: &CancelToken,
) -> Result<(usize, usize)> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, "cannot create folder", e))?;
    // The manifest goes first and comes back last: a shard stopped half way
    // is never taken for a finished one.
    let manifest_path = out.join(MANIFEST);
    if manifest_path.exists() {
        std::fs::remove_file(&manifest_path)
            .map_err(|e| Error::io(&manifest_path, "cannot remove the old", e))?;
    }
    let mut parts = Vec::with_capacity(scenarios.len());
    let mut first_unit = 0;
    let mut ran = 0;
    for s in scenarios {
        let units = experiment::ordinals(s);
        let base = first_unit;
        let wanted = move |ordinal: usize| wanted(base + ordinal);
        let held: Vec<usize> = (0..units).filter(|&o| wanted(o)).collect();
        let files = if held.is_empty() {
            Vec::new()
        } else {
            if !opts.quiet {
                for n in &s.notes {
                    crate::console::note(format_args!("{}: {n}", s.file.display()));
                }
            }
            write_part(s, out, opts, &wanted, cancel)?
        };
        ran += held.len();
        parts.push(Part {
            outline: s.outline().charting(opts.chart_point),
            digest: format!("{:016x}", s.digest),
            first_unit,
            units,
            held,
            files,
        });
        first_unit += units;
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        build: env!("SURGESIM_BUILD").into(),
        shard,
        requests_csv: opts.requests_csv,
        per_function: opts.per_function,
        scenarios: parts,
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    crate::files::write_atomic(&manifest_path, &json)?;
    Ok((ran, first_unit))
}

/// Runs the wanted units of `s` and writes their files; returns their sizes.
fn write_part(
    s: &Scenario,
    out: &Path,
    opts: &RunOptions,
    wanted: &(dyn Fn(usize) -> bool + Sync),
    cancel: &CancelToken,
) -> Result<Vec<(String, u64)>> {
    let dir = OutputDir::open(out, &s.name)?;
    let executed = experiment::execute_units(s, &dir, opts, wanted, Latency::Keep, false, cancel)?;
    let units: Vec<experiment::Unit> = experiment::plan(s)
        .into_iter()
        .filter(|u| wanted(u.ordinal))
        .collect();
    // Each run's rows are a span of one file: the parts joined in order.
    let mut spans = Vec::new();
    let mut at = 0u64;
    for p in executed.request_parts() {
        let len = std::fs::metadata(&p.path)
            .map_err(|e| Error::io(dir.shown(REQUESTS), "cannot write", e))?
            .len();
        spans.push((at, len));
        at += len;
    }
    let mut requests_len = None;
    if opts.requests_csv {
        let joined = crate::report::join_requests(&dir, &executed.request_parts(), false, cancel)?;
        std::fs::rename(
            dir.work_file(crate::report::REQUESTS_CSV),
            dir.work_file(REQUESTS),
        )
        .map_err(|e| Error::io(dir.shown(REQUESTS), "cannot write", e))?;
        requests_len = Some(joined);
    }
    let mut spans = spans.into_iter();
    let mut runs = Vec::new();
    let mut histograms = Vec::new();
    let series_path = dir.shown(SERIES);
    let series_file = std::fs::File::create(dir.work_file(SERIES))
        .map_err(|e| Error::io(&series_path, "cannot write", e))?;
    let mut series_out = std::io::BufWriter::with_capacity(1 << 16, &series_file);
    let mut series_len = 0u64;
    for ((u, mut summary), (v2, exact)) in units.iter().zip(executed.runs).zip(executed.kept) {
        cancel.check().map_err(|_| Error::Interrupted)?;
        let histogram = (histograms.len() as u64, v2.len() as u64);
        histograms.extend_from_slice(&v2);
        let rows = if opts.requests_csv {
            spans.next()
        } else {
            None
        };
        let series = match summary.series.take() {
            Some(rows) => {
                let n = rows
                    .write_stored(&mut series_out)
                    .map_err(|e| Error::io(&series_path, "cannot write", e))?;
                let span = (series_len, n, rows.len());
                series_len += n;
                Some(span)
            }
            None => None,
        };
        let wire = WireRun {
            unit: u.ordinal,
            platform_index: u.platform,
            kind: summary.kind.to_string(),
            summary,
            latency: exact,
            histogram,
            requests: rows,
            series,
        };
        serde_json::to_writer(&mut runs, &wire).expect("a run summary serialises");
        runs.push(b'\n');
    }
    {
        use std::io::Write;
        series_out
            .flush()
            .map_err(|e| Error::io(&series_path, "cannot write", e))?;
    }
    drop(series_out);
    series_file
        .sync_all()
        .map_err(|e| Error::io(&series_path, "cannot write", e))?;
    let mut files = vec![
        (RUNS.to_string(), runs.len() as u64),
        (HISTOGRAMS.to_string(), histograms.len() as u64),
        (SERIES.to_string(), series_len),
    ];
    dir.write(RUNS, &runs)?;
    dir.write(HISTOGRAMS, &histograms)?;
    if let Some(len) = requests_len {
        files.push((REQUESTS.to_string(), len));
    }
    dir.commit(&[RUNS, HISTOGRAMS, SERIES, REQUESTS])?;
    Ok(files)
}

/// A scenario merged from its shards, ready to write.
pub struct Merged {
    pub outline: Outline,
    pub runs: Vec<RunSummary>,
    pub pooled: Vec<Pooled>,
    requests: Vec<RequestPart>,
}

/// Reads and checks the shard folders `dirs`: one complete set, of the same
/// scenarios, seeds, options and version. Nothing is written.
pub fn read(dirs: &[PathBuf], cancel: &CancelToken) -> Result<(Vec<Merged>, RunFlags)> {
    if dirs.is_empty() {
        return Err(Error::Usage(
            "merge: name the shard folders (the -o of each `run --shard`)".into(),
        ));
    }
    let mut manifests = Vec::with_capacity(dirs.len());
    for dir in dirs {
        cancel.check().map_err(|_| Error::Interrupted)?;
        manifests.push((dir.clone(), read_manifest(dir)?));
    }
    let (first_dir, first) = &manifests[0];
    let count = first.shard.count;
    for (dir, m) in &manifests {
        if m.shard.count != count {
            return Err(Error::Usage(format!(
                "shards of different sets: {} is shard {} and {} is shard {}; merge the \
                 shards of one `--shard I/N` set",
                first_dir.display(),
                first.shard,
                dir.display(),
                m.shard
            )));
        }
    }
    let mut by_index: Vec<Option<&PathBuf>> = vec![None; count as usize];
    for (dir, m) in &manifests {
        if let Some(other) = by_index[m.shard.index as usize] {
            return Err(Error::Usage(format!(
                "shard {} is given twice: {} and {} (a shard run twice, or a folder named \
                 twice): keep one",
                m.shard,
                other.display(),
                dir.display()
            )));
        }
        by_index[m.shard.index as usize] = Some(dir);
    }
    let missing: Vec<String> = by_index
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(i, _)| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "the set is incomplete: shard {} of {count} {} missing ({} of {count} given); \
             merge every shard 0 to {}",
            abbreviate(&missing),
            if missing.len() == 1 { "is" } else { "are" },
            count as usize - missing.len(),
            count - 1
        )));
    }
    for (dir, m) in &manifests[1..] {
        same_experiment(first_dir, first, dir, m)?;
    }
    let flags = RunFlags {
        requests_csv: first.requests_csv,
        per_function: first.per_function,
    };
    let mut merged = Vec::with_capacity(first.scenarios.len());
    for (i, part) in first.scenarios.iter().enumerate() {
        let shards: Vec<(&PathBuf, &Manifest, &Part)> = manifests
            .iter()
            .map(|(d, m)| (d, m, &m.scenarios[i]))
            .collect();
        merged.push(merge_scenario(part, &shards, flags, cancel)?);
    }
    Ok((merged, flags))
}

/// The options the shards ran with that shape the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunFlags {
    pub requests_csv: bool,
    pub per_function: bool,
}

/// Writes the merged scenarios under `out`, as `run -o out` would: every
/// scenario's files staged first, then all renamed into place, so a failure
/// leaves no scenario merged and no folder made.
pub fn write(merged: &[Merged], out: &Path, opts: &RunOptions, cancel: &CancelToken) -> Result<()> {
    let out_fresh = !out.exists();
    let staged = (|| {
        let mut dirs = Vec::new();
        for m in merged {
            let dir = OutputDir::open(out, &m.outline.name)?;
            crate::report::stage(
                &m.outline,
                &dir,
                &m.runs,
                &m.pooled,
                &m.requests,
                opts,
                cancel,
            )?;
            dirs.push(dir);
        }
        Ok(dirs)
    })();
    match staged {
        Ok(dirs) => {
            let owned = crate::report::output_files();
            dirs.into_iter().try_for_each(|d| d.commit(&owned))
        }
        Err(e) => {
            // The staging folders and the folders this merge made went as
            // they dropped.
            if out_fresh {
                let _ = std::fs::remove_dir(out);
            }
            Err(e)
        }
    }
}

/// "1, 2, 3" or, for many, the first ten and how many more.
fn abbreviate(items: &[String]) -> String {
    if items.len() <= 10 {
        items.join(", ")
    } else {
        format!(
            "{}, ... ({} more)",
            items[..10].join(", "),
            items.len() - 10
        )
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    if !dir.is_dir() {
        let what = if dir.exists() {
            "not a folder"
        } else {
            "no such folder"
        };
        return Err(Error::Usage(format!(
            "{}: {what}: name the -o folder of each `run --shard`",
            dir.display()
        )));
    }
    if !path.is_file() {
        return Err(Error::Usage(format!(
            "{}: not found: {} is not the output of `run --shard`, or that run did not \
             finish (the manifest is written last); run the shard again",
            path.display(),
            dir.display()
        )));
    }
    // A manifest lists each scenario's units: at most a million, a few MB.
    // More is not a manifest.
    let text = crate::files::read_capped(&path, 64 << 20, "shard manifest")?;
    // The format and version first, so another version's manifest says so
    // rather than failing on a field it lacks.
    #[derive(Deserialize)]
    struct Head {
        format: Option<String>,
        version: Option<String>,
        build: Option<String>,
    }
    let head: Head = serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "{}: line {}, column {}: not a shard manifest ({})",
            path.display(),
            e.line(),
            e.column(),
            without_position(&e)
        ))
    })?;
    if head.format.as_deref() != Some(FORMAT) {
        return Err(Error::Usage(format!(
            "{}: not a manifest of this build's shard format ({FORMAT:?}): run the shards \
             and the merge with the same surgesim",
            path.display()
        )));
    }
    let ours = env!("CARGO_PKG_VERSION");
    if head.version.as_deref() != Some(ours) {
        return Err(Error::Usage(format!(
            "{}: written by surgesim {}, this is {ours}: merge with the version that ran \
             the shards (results may differ between versions)",
            path.display(),
            head.version.as_deref().unwrap_or("(unknown)")
        )));
    }
    let build = env!("SURGESIM_BUILD");
    if head.build.as_deref() != Some(build) {
        return Err(Error::Usage(format!(
            "{}: written by another build of surgesim {ours} (build {}, this is {build}): merge \
             with the binary that ran the shards (results may differ between builds)",
            path.display(),
            head.build.as_deref().unwrap_or("(unknown)")
        )));
    }
    let m: Manifest = serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "{}: line {}, column {}: {}; run that shard again",
            path.display(),
            e.line(),
            e.column(),
            without_position(&e)
        ))
    })?;
    for p in &m.scenarios {
        check_outline(p).map_err(|why| {
            Error::Usage(format!(
                "{}: scenario `{}`: {why}: a damaged manifest; run that shard again",
                path.display(),
                p.outline.name
            ))
        })?;
    }
    Ok(m)
}

/// A serde_json error's message without its " at line L column C" (the
/// caller says where).
fn without_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Checks what the merge and the report rely on in a manifest's scenario:
/// consistent points, runs and units, and sizes within the run limits.
fn check_outline(p: &Part) -> std::result::Result<(), String> {
    let o = &p.outline;
    if o.interval.0 == 0 || o.horizon.0 == 0 {
        return Err("a zero interval or horizon".into());
    }
    let points = o.points.len().max(1);
    if o.runs.len() != points {
        return Err(format!("{} points but runs for {}", points, o.runs.len()));
    }
    for (i, pt) in o.points.iter().enumerate() {
        if pt.id != i {
            return Err(format!("point {i} has id {}", pt.id));
        }
        let keys = |q: &crate::scenario::PointOutline| -> Vec<String> {
            q.params.iter().map(|(k, _)| k.clone()).collect()
        };
        if pt.params.is_empty() || keys(pt) != keys(&o.points[0]) {
            return Err(format!("point {i} has other sweep keys than point 0"));
        }
    }
    let mut runs: usize = 0;
    let mut units: usize = 0;
    for (i, r) in o.runs.iter().enumerate() {
        if r.point != i {
            return Err(format!(
                "the runs of point {} are listed as point {i}",
                r.point
            ));
        }
        let names: std::collections::HashSet<&str> =
            r.platforms.iter().map(String::as_str).collect();
        if r.platforms.is_empty() || names.len() != r.platforms.len() {
            return Err(format!("point {i} has no platforms, or one twice"));
        }
        units = units.saturating_add(r.replications as usize);
        runs = runs.saturating_add((r.replications as usize).saturating_mul(r.platforms.len()));
    }
    if runs > experiment::MAX_RUNS || units != p.units {
        return Err(format!(
            "{} units of {runs} runs, the manifest says {} units (at most {} runs)",
            units,
            p.units,
            experiment::MAX_RUNS
        ));
    }
    if p.held.iter().any(|&u| u >= p.units) {
        return Err("a unit past the scenario's last".into());
    }
    Ok(())
}

/// Refuses two shards of different experiments, naming what differs.
fn same_experiment(a_dir: &Path, a: &Manifest, b_dir: &Path, b: &Manifest) -> Result<()> {
    let (ad, bd) = (a_dir.display(), b_dir.display());
    for (flag, x, y) in [
        ("--requests-csv", a.requests_csv, b.requests_csv),
        ("--per-function", a.per_function, b.per_function),
    ] {
        if x != y {
            let with = |v: bool| if v { "with" } else { "without" };
            return Err(Error::Usage(format!(
                "{ad} ran {} {flag}, {bd} {} it: run every shard with the same options",
                with(x),
                with(y)
            )));
        }
    }
    let names = |m: &Manifest| -> Vec<String> {
        m.scenarios.iter().map(|p| p.outline.name.clone()).collect()
    };
    if names(a) != names(b) {
        return Err(Error::Usage(format!(
            "{ad} holds scenarios [{}], {bd} [{}]: run every shard with the same scenario \
             files, in the same order",
            names(a).join(", "),
            names(b).join(", ")
        )));
    }
    for (x, y) in a.scenarios.iter().zip(&b.scenarios) {
        let name = &x.outline.name;
        if x.outline.seed != y.outline.seed {
            return Err(Error::Usage(format!(
                "scenario `{name}` ran with seed {} in {ad} and seed {} in {bd}: run every \
                 shard with the same seed (--seed or the file's)",
                x.outline.seed, y.outline.seed
            )));
        }
        if x.outline.chart_point != y.outline.chart_point {
            return Err(Error::Usage(format!(
                "scenario `{name}` ran with --chart-point {} in {ad} and {} in {bd}: run every \
                 shard with the same --chart-point",
                x.outline.chart_point, y.outline.chart_point
            )));
        }
        if x.digest != y.digest || x.outline != y.outline || x.units != y.units {
            let what = if x.outline.replications != y.outline.replications {
                format!(
                    "{} replications in {ad}, {} in {bd}",
                    x.outline.replications, y.outline.replications
                )
            } else {
                "its scenario file or trace differs".to_string()
            };
            return Err(Error::Usage(format!(
                "scenario `{name}` is not the same in {ad} and {bd} ({what}): the scenario \
                 was edited between the shard runs; run every shard from the same files"
            )));
        }
        if x.first_unit != y.first_unit {
            return Err(Error::Usage(format!(
                "scenario `{name}` starts at unit {} in {ad} and {} in {bd}: run every shard \
                 with the same scenario files, in the same order",
                x.first_unit, y.first_unit
            )));
        }
    }
    Ok(())
}

/// Reads one scenario's runs from every shard, checks them, pools their
/// latencies.
fn merge_scenario(
    part: &Part,
    shards: &[(&PathBuf, &Manifest, &Part)],
    flags: RunFlags,
    cancel: &CancelToken,
) -> Result<Merged> {
    let outline = &part.outline;
    let name = &outline.name;
    // Where each unit's runs start in plan order, and its point.
    let mut unit_start = Vec::with_capacity(part.units);
    let mut unit_point = Vec::with_capacity(part.units);
    let mut unit_rep = Vec::with_capacity(part.units);
    let mut total = 0;
    for (pi, p) in outline.runs.iter().enumerate() {
        for r in 0..p.replications {
            unit_start.push(total);
            unit_point.push(pi);
            unit_rep.push(r);
            total += p.platforms.len();
        }
    }
    if unit_start.len() != part.units {
        return Err(Error::Usage(format!(
            "scenario `{name}`: the manifests count {} units, their outline {}: a damaged \
             manifest; run the shards again",
            part.units,
            unit_start.len()
        )));
    }
    let mut slots: Vec<Option<RunSummary>> = vec![None; total];
    let mut histograms: Vec<Option<(usize, u64, u64, ExactLatencies)>> = vec![None; total];
    let mut requests: Vec<Option<RequestPart>> = vec![None; total];
    let mut blobs: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    // Each unit in exactly one shard.
    let mut owner: Vec<Option<&Path>> = vec![None; part.units];
    let unit_name = |u: usize| {
        format!(
            "point {}, replication {}",
            outline.runs[unit_point[u]].point, unit_rep[u]
        )
    };
    for (dir, _, p) in shards {
        for &u in &p.held {
            if u >= part.units {
                return Err(Error::Usage(format!(
                    "{}: unit {u} of `{name}`, which has {}: a damaged manifest; run that \
                     shard again",
                    dir.join(MANIFEST).display(),
                    part.units
                )));
            }
            if let Some(other) = owner[u] {
                if other == dir.as_path() {
                    return Err(Error::Usage(format!(
                        "{}: `{name}` {} is listed twice: a damaged manifest; run that shard \
                         again",
                        dir.join(MANIFEST).display(),
                        unit_name(u)
                    )));
                }
                return Err(Error::Usage(format!(
                    "`{name}` {} is in two shards, {} and {}: merge shards of one set",
                    unit_name(u),
                    other.display(),
                    dir.display()
                )));
            }
            owner[u] = Some(dir.as_path());
        }
    }
    if let Some(u) = owner.iter().position(Option::is_none) {
        let missing = owner.iter().filter(|o| o.is_none()).count();
        return Err(Error::Usage(format!(
            "`{name}` {} ({missing} unit(s) in all) is in no shard: merge the shards of one \
             complete set",
            unit_name(u)
        )));
    }
    for (dir, _, p) in shards {
        if p.held.is_empty() {
            continue;
        }
        let folder = dir.join(sanitize_name(name));
        let file_len = |file: &str| -> Result<Vec<u8>> {
            let path = folder.join(file);
            let want = p
                .files
                .iter()
                .find(|(f, _)| f == file)
                .map(|(_, n)| *n)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "{}: its manifest lists no {file} for `{name}`: run that shard again",
                        dir.join(MANIFEST).display()
                    ))
                })?;
            let have = std::fs::metadata(&path)
                .map_err(|e| Error::io(&path, "cannot read shard file", e))?
                .len();
            if have != want {
                return Err(Error::Usage(format!(
                    "{}: {have} bytes, its manifest says {want}: a partial or altered copy; \
                     copy the shard again",
                    path.display()
                )));
            }
            if file == REQUESTS || file == SERIES {
                return Ok(Vec::new());
            }
            let mut bytes = Vec::with_capacity(want as usize);
            std::fs::File::open(&path)
                .and_then(|f| BufReader::new(f).read_to_end(&mut bytes))
                .map_err(|e| Error::io(&path, "cannot read shard file", e))?;
            Ok(bytes)
        };
        let runs = file_len(RUNS)?;
        let blob = file_len(HISTOGRAMS)?;
        let requests_file = folder.join(REQUESTS);
        let requests_len = if flags.requests_csv {
            file_len(REQUESTS)?;
            p.files
                .iter()
                .find(|(f, _)| f == REQUESTS)
                .map_or(0, |(_, n)| *n)
        } else {
            0
        };
        let series_file = folder.join(SERIES);
        file_len(SERIES)?;
        let series_len = p
            .files
            .iter()
            .find(|(f, _)| f == SERIES)
            .map_or(0, |(_, n)| *n);
        let series_handle = std::sync::Arc::new(
            std::fs::File::open(&series_file)
                .map_err(|e| Error::io(&series_file, "cannot read shard file", e))?,
        );
        let mut next_series = 0u64;
        let runs_path = folder.join(RUNS);
        let mut seen = 0usize;
        // Each run's histogram and rows follow the previous run's: the
        // spans must tile their files exactly.
        let (mut next_histogram, mut next_rows) = (0u64, 0u64);
        let held: std::collections::HashSet<usize> = p.held.iter().copied().collect();
        for (line_no, line) in runs.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            if line_no % 4096 == 0 {
                cancel.check().map_err(|_| Error::Interrupted)?;
            }
            let bad = |why: String| {
                Error::Usage(format!(
                    "{}: line {}: {why}: run that shard again",
                    runs_path.display(),
                    line_no + 1
                ))
            };
            let mut w: WireRun = serde_json::from_slice(line)
                .map_err(|e| bad(format!("column {}: {}", e.column(), without_position(&e))))?;
            if !held.contains(&w.unit) {
                return Err(bad(format!("unit {} is not this shard's", w.unit)));
            }
            let point = &outline.runs[unit_point[w.unit]];
            let platform = point.platforms.get(w.platform_index).ok_or_else(|| {
                bad(format!(
                    "platform {} of a point with {}",
                    w.platform_index,
                    point.platforms.len()
                ))
            })?;
            if *platform != w.summary.platform || point.point != w.summary.point {
                return Err(bad(format!(
                    "run of `{}` at point {} where `{platform}` at point {} belongs",
                    w.summary.platform, w.summary.point, point.point
                )));
            }
            let kind = crate::platform::kind(&w.kind)
                .ok_or_else(|| bad(format!("unknown platform kind `{}`", w.kind)))?;
            w.summary.kind = kind.name;
            w.summary.gauges = kind.gauges;
            let (start, len) = w.histogram;
            if start != next_histogram
                || start
                    .checked_add(len)
                    .is_none_or(|end| end > blob.len() as u64)
            {
                return Err(bad(format!(
                    "its histogram is not the {len} bytes of {HISTOGRAMS} after the previous \
                     run's"
                )));
            }
            next_histogram = start + len;
            let slot = unit_start[w.unit] + w.platform_index;
            if slots[slot].is_some() {
                return Err(bad(format!(
                    "a second run of `{platform}` in unit {}",
                    w.unit
                )));
            }
            if flags.requests_csv {
                let (start, len) = w
                    .requests
                    .ok_or_else(|| bad("no request rows".to_string()))?;
                if start != next_rows || start.checked_add(len).is_none_or(|end| end > requests_len)
                {
                    return Err(bad(format!(
                        "its request rows are not the {len} bytes of {REQUESTS} after the \
                         previous run's"
                    )));
                }
                next_rows = start + len;
                requests[slot] = Some(RequestPart {
                    path: requests_file.clone(),
                    start,
                    len: Some(len),
                    temporary: false,
                });
            }
            // The runs that have a series are the chart point's replication
            // 0, and only they.
            let charted = point.point == outline.chart_point && w.summary.replication == 0;
            match (w.series, charted) {
                (Some((start, bytes, rows)), true) => {
                    let end = start.checked_add(bytes);
                    if start != next_series || end.is_none_or(|end| end > series_len) {
                        return Err(bad(format!(
                            "its time series is not the {bytes} bytes of {SERIES} after the \
                             previous series'"
                        )));
                    }
                    next_series = start + bytes;
                    w.summary.series = Some(crate::metrics::series::Series::in_file(
                        series_handle.clone(),
                        &series_file,
                        start,
                        bytes,
                        rows,
                    ));
                }
                (None, false) => {}
                (Some(_), false) => {
                    return Err(bad(
                        "a time series on a run the charts do not show".to_string()
                    ));
                }
                (None, true) => {
                    return Err(bad(format!(
                        "no time series for replication 0 of the chart point {}",
                        outline.chart_point
                    )));
                }
            }
            histograms[slot] = Some((blobs.len(), start, len, w.latency));
            slots[slot] = Some(w.summary);
            seen += 1;
        }
        let want: usize = p
            .held
            .iter()
            .map(|&u| outline.runs[unit_point[u]].platforms.len())
            .sum();
        if seen != want {
            return Err(Error::Usage(format!(
                "{}: {seen} runs, its manifest's units have {want}: a partial copy; copy \
                 the shard again",
                runs_path.display()
            )));
        }
        if next_histogram != blob.len() as u64
            || next_rows != requests_len
            || next_series != series_len
        {
            return Err(Error::Usage(format!(
                "{}: its runs do not account for every byte of {HISTOGRAMS}, {SERIES} and \
                 {REQUESTS}: an altered copy; copy the shard again",
                folder.display()
            )));
        }
        blobs.push((blob, folder.clone()));
    }
    let runs: Vec<RunSummary> = slots
        .into_iter()
        .map(|s| s.expect("every unit's runs were read: the held lists cover them"))
        .collect();
    let (mut pools, group_of) = Pools::new(
        runs.iter().map(|r| (r.point, r.platform.as_str())),
        outline.chart_point,
    );
    for (i, h) in histograms.iter().enumerate() {
        let (blob, start, len, exact) = h.expect("a histogram per run");
        let (bytes, folder) = &blobs[blob];
        let bytes = &bytes[start as usize..(start + len) as usize];
        let latencies = Latencies::from_parts(bytes, exact).map_err(|why| {
            Error::Usage(format!(
                "{}: the histogram of `{}` (point {}, replication {}): {why}; run that shard \
                 again",
                folder.join(HISTOGRAMS).display(),
                runs[i].platform,
                runs[i].point,
                runs[i].replication
            ))
        })?;
        pools.add(group_of[i], &latencies);
    }
    Ok(Merged {
        outline: outline.clone(),
        pooled: pools.finish().expect("every run was pooled"),
        requests: requests.into_iter().flatten().collect(),
        runs,
    })
}

/// Merges `dirs` into `out`: [`read()`], then [`write()`].
pub fn merge(
    dirs: &[PathBuf],
    out: &Path,
    opts: &RunOptions,
    cancel: &CancelToken,
) -> Result<Vec<Merged>> {
    let (merged, flags) = read(dirs, cancel)?;
    let opts = RunOptions {
        requests_csv: flags.requests_csv,
        per_function: flags.per_function,
        ..*opts
    };
    write(&merged, out, &opts, cancel)?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_syntax() {
        assert_eq!("2/7".parse::<Shard>(), Ok(Shard { index: 2, count: 7 }));
        for bad in ["7/7", "1/0", "x/2", "1", "-1/2", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert!(
            "4/4"
                .parse::<Shard>()
                .unwrap_err()
                .contains("counts from 0")
        );
    }

    #[test]
    fn units_are_dealt_round_robin() {
        let s = Shard { index: 1, count: 3 };
        let mine: Vec<usize> = (0..10).filter(|&k| s.holds(k)).collect();
        assert_eq!(mine, [1, 4, 7]);
    }

    #[test]
    fn abbreviations() {
        let few: Vec<String> = (0..3).map(|i| i.to_string()).collect();
        assert_eq!(abbreviate(&few), "0, 1, 2");
        let many: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        assert_eq!(
            abbreviate(&many),
            "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ... (2 more)"
        );
    }
}
