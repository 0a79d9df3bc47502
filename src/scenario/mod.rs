//! Scenario files (README, 'Scenario reference'): TOML parsed into raw serde
//! structs, then validated into a typed [`Scenario`]. Every error names the
//! file, line and column, the field, what was expected and how to fix it.

pub mod expect;
pub mod sweep;

pub use crate::files::sanitize_name;

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use crate::engine::CancelToken;
use crate::error::{Error, FieldError, FieldPath, Result, Seg};
use crate::platform::{KINDS, Kind, PlatformSpec, Setting, Table};
use crate::time::{SimDuration, SimTime};
use crate::workload::arrival::ArrivalSpec;
use crate::workload::dist::{Dist, DistSpec};
use crate::workload::traces::Trace;
use crate::workload::{Function, Workload};

/// The bundled default scenario, compiled into the binary.
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/default.toml");
/// The file name the bundled scenario is reported under.
pub const DEFAULT_SCENARIO_PATH: &str = "scenarios/default.toml";

/// Longest accepted horizon \[s\] (about 3 years).
pub const MAX_DURATION_S: f64 = 1e8;
/// Most time-series rows one run may produce.
pub const MAX_INTERVALS: f64 = 1e7;
/// Largest scenario file, 8 MiB: about 60,000 functions written inline.
/// Parsing takes about 50 times the text in memory (a 7.9 MB file of 62,000
/// functions peaked at 408 MB, a 39 MB one at 2.6 GB), so the cap keeps a
/// scenario's parse within about 450 MB.
pub const MAX_SCENARIO_BYTES: u64 = 8 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    seed: Option<i64>,
    duration_s: Option<f64>,
    warmup_s: Option<f64>,
    replications: Option<i64>,
    timeseries_interval_s: Option<f64>,
    workload: Option<RawWorkload>,
    /// Read by [`read_platforms`] (each entry by its kind's spec).
    #[allow(dead_code)]
    platforms: Option<serde::de::IgnoredAny>,
    /// Checked by `surgesim check`.
    expect: Option<toml::Table>,
    sweep: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: Option<String>,
    arrival: Option<ArrivalSpec>,
    work: Option<DistSpec>,
    wait: Option<DistSpec>,
    functions: Option<Vec<RawFunction>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    name: String,
    arrival: ArrivalSpec,
    work: Option<DistSpec>,
    wait: Option<DistSpec>,
}

pub use crate::platform::PlatformConfig;

/// A `[[platforms]]` entry, read: its `name`, its kind and its kind's spec.
#[derive(Debug)]
pub(crate) struct RawPlatform {
    name: Option<String>,
    kind: &'static Kind,
    spec: Box<dyn PlatformSpec>,
}

/// The kinds, for messages.
fn kind_names() -> String {
    KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

/// Why a `[[platforms]]` entry could not be read.
enum EntryError {
    /// At a source position (or, in a sweep point, none).
    At(Option<Range<usize>>, String),
    /// Of a field's shape: serde's own error.
    Syntax(toml::de::Error),
    /// A field of another kind.
    Field(FieldError),
}

/// A key taken out of an entry: its string value (`Err` when it is not a
/// string) and its span.
type Taken = Option<(std::result::Result<String, ()>, Option<Range<usize>>)>;

/// Checks an entry's `name` and `kind` (taken out of its table), then reads
/// the rest of the table with the kind's spec.
fn read_entry(
    at: &FieldPath,
    entry_span: Option<Range<usize>>,
    name: Taken,
    kind: Taken,
    read: impl FnOnce(&'static Kind) -> std::result::Result<Box<dyn PlatformSpec>, toml::de::Error>,
) -> std::result::Result<RawPlatform, EntryError> {
    let name = match name {
        None => None,
        Some((Ok(n), _)) => Some(n),
        Some((Err(()), span)) => {
            return Err(EntryError::At(span, "`name` must be a string".into()));
        }
    };
    let kind = match kind {
        None => {
            return Err(EntryError::At(
                entry_span,
                format!(
                    "missing `kind`: give the platform's kind, one of: {}",
                    kind_names()
                ),
            ));
        }
        Some((Err(()), span)) => {
            return Err(EntryError::At(span, "`kind` must be a string".into()));
        }
        Some((Ok(k), span)) => crate::platform::kind(&k).ok_or_else(|| {
            EntryError::At(
                span,
                format!(
                    "unknown platform kind `{k}`; the kinds are: {}",
                    kind_names()
                ),
            )
        })?,
    };
    let spec = read(kind).map_err(|e| {
        // A key of another kind: say whose it is.
        let unknown = e
            .message()
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next());
        if let Some(key) = unknown
            && let Some(owner) = KINDS
                .iter()
                .find(|k| k.name != kind.name && (k.fields)().contains(&key))
        {
            return EntryError::Field(at.key(key).error(format!(
                "`{key}` is a {} field, but this platform is kind = \"{}\"; remove it (see \
                 the README's scenario reference)",
                owner.name, kind.name
            )));
        }
        EntryError::Syntax(e)
    })?;
    Ok(RawPlatform { name, kind, spec })
}

/// The `[[platforms]]` entries of scenario text, read with their positions.
fn read_platforms(src: &str, file: &Path) -> Result<Vec<RawPlatform>> {
    let at_span = |at: &FieldPath, span: Option<Range<usize>>, message: String| Error::Scenario {
        file: file.to_path_buf(),
        location: span.map(|s| line_col(src, s.start)),
        field: Some(at.to_string()),
        message,
    };
    let root = DeTable::parse(src).map_err(|e| toml_error(src, file, &e))?;
    let Some(platforms) = root.get_ref().get("platforms") else {
        return Ok(Vec::new());
    };
    let DeValue::Array(entries) = platforms.get_ref() else {
        return Err(at_span(
            &FieldPath::root().key("platforms"),
            Some(platforms.span()),
            "`platforms` is a list of tables: write each as [[platforms]]".into(),
        ));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let at = FieldPath::root().key("platforms").index(i);
        let mut entry = entry.clone();
        let span = entry.span();
        let DeValue::Table(table) = entry.get_mut() else {
            return Err(at_span(
                &at,
                Some(span),
                "each [[platforms]] entry is a table".into(),
            ));
        };
        let mut take = |key: &str| -> Taken {
            let v = table.remove(key)?;
            let s = v.get_ref().as_str().map(str::to_string).ok_or(());
            Some((s, Some(v.span())))
        };
        let (name, kind) = (take("name"), take("kind"));
        let read = read_entry(&at, Some(span.clone()), name, kind, |kind| {
            (kind.read)(Table::Spanned(entry))
        });
        match read {
            Ok(p) => out.push(p),
            Err(EntryError::At(span, message)) => return Err(at_span(&at, span, message)),
            Err(EntryError::Syntax(e)) => return Err(toml_error(src, file, &e)),
            Err(EntryError::Field(e)) => return Err(field_error(src, file, e)),
        }
    }
    Ok(out)
}

/// The `[[platforms]]` entries of an edited sweep point's table.
pub(crate) fn read_platforms_plain(
    table: &toml::Table,
) -> std::result::Result<Vec<RawPlatform>, FieldError> {
    let ppath = FieldPath::root().key("platforms");
    let Some(platforms) = table.get("platforms") else {
        return Ok(Vec::new());
    };
    let toml::Value::Array(entries) = platforms else {
        return Err(ppath.error("`platforms` is a list of tables: write each as [[platforms]]"));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let at = ppath.index(i);
        let toml::Value::Table(t) = entry else {
            return Err(at.error("each [[platforms]] entry is a table"));
        };
        let mut t = t.clone();
        let mut take = |key: &str| -> Taken {
            let v = t.remove(key)?;
            Some((v.as_str().map(str::to_string).ok_or(()), None))
        };
        let (name, kind) = (take("name"), take("kind"));
        let read = read_entry(&at, None, name, kind, |kind| {
            (kind.read)(Table::Plain(toml::Value::Table(t)))
        });
        match read {
            Ok(p) => out.push(p),
            Err(EntryError::At(_, message)) => return Err(at.error(message)),
            Err(EntryError::Syntax(e)) => return Err(at.error(e.message().to_string())),
            Err(EntryError::Field(e)) => return Err(e),
        }
    }
    Ok(out)
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The file it came from (for messages).
    pub file: PathBuf,
    pub seed: u64,
    pub horizon: SimTime,
    pub warmup: SimTime,
    /// What summary.csv measures: arrivals in [window.0, window.1), time
    /// averages over it. [warmup, horizon), or for a trace window
    /// [max(warmup, start_s), end_s).
    pub window: (SimTime, SimTime),
    pub replications: u32,
    pub interval: SimDuration,
    pub workload: Workload,
    pub platforms: Vec<PlatformConfig>,
    /// The sweep's points (empty without `[sweep]`): each a full scenario.
    pub points: Vec<sweep::Point>,
    /// `\[expect\]`, for `surgesim check`.
    pub expect: expect::Expectations,
    /// Notes for stderr (e.g. trace columns ignored, bad rows skipped).
    pub notes: Vec<String>,
    /// What the runs depend on besides the command line, hashed: the file's
    /// text and its trace files' sizes, rows and functions (shards of an
    /// edited scenario do not merge).
    pub digest: u64,
}

impl Scenario {
    /// The runs' configurations: the sweep points, or the scenario itself as point 0.
    pub fn point_scenarios(&self) -> Vec<(usize, &Scenario)> {
        if self.points.is_empty() {
            vec![(0, self)]
        } else {
            self.points.iter().map(|p| (p.id, &p.scenario)).collect()
        }
    }
}

/// What a scenario's output folder says of it, besides its runs: the report
/// and the stdout table read this, and a shard carries it to the merge,
/// which has no scenario files.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outline {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub replications: u32,
    pub horizon: SimTime,
    /// The measurement window (see [`Scenario::window`]).
    pub window: (SimTime, SimTime),
    /// Where the charts' time axis starts: a trace window's start, else 0.
    pub chart_start: SimTime,
    /// The sweep point of timeseries.csv and the per-run charts (its
    /// replication 0): 0 unless `--chart-point` says otherwise.
    #[serde(default)]
    pub chart_point: usize,
    pub interval: SimDuration,
    /// The workload's function names, in index order.
    pub functions: Vec<String>,
    /// The sweep's points (empty without one): id and (path, value) pairs.
    pub points: Vec<PointOutline>,
    /// Each point's runs (the scenario itself as point 0 without a sweep).
    pub runs: Vec<PointRuns>,
    /// A trace's rows replayed and bad rows skipped, and (lambda_report)
    /// the rows with an Init Duration: cold starts AWS observed.
    pub trace: Option<TraceOutline>,
}

impl Outline {
    /// The measured window's length as people say it (`1 h`), or, when
    /// sweep points measure different windows, that they do.
    pub fn measured(&self) -> String {
        let base = self.window.1.since(self.window.0).as_secs_f64();
        if self
            .runs
            .iter()
            .all(|r| r.window_s == base || r.window_s == 0.0)
        {
            crate::report::human::duration(base)
        } else {
            "window of each sweep point".to_string()
        }
    }

    /// This outline with its charts (and timeseries.csv) of `point`.
    pub fn charting(mut self, point: usize) -> Outline {
        self.chart_point = point;
        self
    }

    /// A sweep point's parameter values, as rows and charts label it:
    /// `rate_per_s=80` (each parameter by its last key, or its whole path
    /// when two parameters end alike); `None` without a sweep.
    pub fn point_label(&self, point: usize) -> Option<String> {
        let p = self.points.iter().find(|p| p.id == point)?;
        let last = |k: &str| -> String { k.rsplit('.').next().unwrap_or(k).to_string() };
        let short: Vec<String> = p.params.iter().map(|(k, _)| last(k)).collect();
        let unique = short
            .iter()
            .enumerate()
            .all(|(i, a)| short.iter().skip(i + 1).all(|b| a != b));
        Some(
            p.params
                .iter()
                .zip(&short)
                .map(|((k, v), s)| format!("{}={v}", if unique { s } else { k }))
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

/// What the summary says of a replayed trace.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TraceOutline {
    pub rows: u64,
    pub skipped: u64,
    pub observed_cold_starts: Option<u64>,
}

/// A sweep point's id and parameter values, as points.csv prints them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointOutline {
    pub id: usize,
    pub params: Vec<(String, String)>,
}

/// The runs of one sweep point: its replications of its platforms.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointRuns {
    pub point: usize,
    pub replications: u32,
    pub platforms: Vec<String>,
    /// The length of its measurement window \[s\] (a sweep may change
    /// `duration_s` or `warmup_s`).
    #[serde(default)]
    pub window_s: f64,
}

impl Scenario {
    /// The outline of this scenario's output.
    pub fn outline(&self) -> Outline {
        Outline {
            name: self.name.clone(),
            description: self.description.clone(),
            seed: self.seed,
            replications: self.replications,
            horizon: self.horizon,
            window: self.window,
            chart_start: self.workload.trace.as_ref().map_or(SimTime::ZERO, |t| {
                SimTime::from_secs_f64(t.sim_window().0).min(self.horizon)
            }),
            chart_point: 0,
            interval: self.interval,
            functions: self.workload.function_names().to_vec(),
            points: self
                .points
                .iter()
                .map(|p| PointOutline {
                    id: p.id,
                    params: p.params.clone(),
                })
                .collect(),
            runs: self
                .point_scenarios()
                .into_iter()
                .map(|(point, sc)| PointRuns {
                    point,
                    replications: sc.replications,
                    platforms: sc.platforms.iter().map(|p| p.name.clone()).collect(),
                    window_s: sc.window.1.since(sc.window.0).as_secs_f64(),
                })
                .collect(),
            trace: self.workload.trace.as_ref().map(|t| TraceOutline {
                rows: t.rows,
                skipped: t.skipped,
                observed_cold_starts: (t.format == crate::workload::traces::Format::LambdaReport)
                    .then_some(t.observed_cold_starts),
            }),
        }
    }
}

/// Command-line values that take precedence over the file's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub seed: Option<u64>,
    pub replications: Option<u32>,
}

/// Reads and validates the scenario file at `path`.
pub fn load(path: &Path, overrides: Overrides) -> Result<Scenario> {
    load_with(path, overrides, &CancelToken::never())
}

/// [`load`], stopping with [`Error::Interrupted`] soon after `cancel` is set
/// (a trace's scan can take a while).
pub fn load_with(path: &Path, overrides: Overrides, cancel: &CancelToken) -> Result<Scenario> {
    let src = crate::files::read_capped(path, MAX_SCENARIO_BYTES, "scenario file").map_err(
        |e| match e {
            Error::Usage(m) => Error::Usage(format!(
                "{m} (parsing takes about 50 times its size in memory); for many functions, \
                 replay a trace (README, 'Traces') instead of listing each in the scenario"
            )),
            e => e,
        },
    )?;
    parse_with(&src, path, overrides, cancel)
}

/// Validates scenario text `src` that came from `file`.
pub fn parse(src: &str, file: &Path, overrides: Overrides) -> Result<Scenario> {
    parse_with(src, file, overrides, &CancelToken::never())
}

/// [`parse`], stopping soon after `cancel` is set.
pub fn parse_with(
    src: &str,
    file: &Path,
    overrides: Overrides,
    cancel: &CancelToken,
) -> Result<Scenario> {
    let raw: RawScenario = toml::from_str(src).map_err(|e| toml_error(src, file, &e))?;
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());
    let has_sweep = raw.sweep.is_some();
    // A trace is scanned once, before validation: its rows are checked and
    // its functions learnt (paths are relative to the scenario's folder).
    let mut notes = Vec::new();
    let trace = match raw.workload.as_ref().and_then(|w| w.arrival.as_ref()) {
        Some(ArrivalSpec::Trace(spec)) => {
            let base_dir = file.parent().unwrap_or(Path::new("."));
            let at = FieldPath::root().key("workload").key("arrival");
            let t = spec
                .scan(&at, base_dir, &mut notes, cancel)?
                .map_err(|e| field_error(src, file, e))?;
            Some(std::sync::Arc::new(t))
        }
        _ => None,
    };
    let platforms = read_platforms(src, file)?;
    let mut base = validate(raw, platforms, stem.clone(), file, overrides, trace.clone())
        .map_err(|e| field_error(src, file, e))?;
    base.notes.splice(0..0, notes);
    base.digest = digest(src, trace.as_deref());
    if has_sweep {
        base.points = sweep::expand(src, file, |raw, platforms| {
            validate(raw, platforms, stem.clone(), file, overrides, trace.clone())
        })?;
    }
    Ok(base)
}

/// FNV-1a (64 bits) of the scenario text and its trace's file sizes, rows
/// and functions:
/// a fixed, documented hash, the same on every machine.
fn digest(src: &str, trace: Option<&Trace>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(src.as_bytes());
    if let Some(t) = trace {
        for stamp in &t.stamps {
            eat(&stamp.len.to_le_bytes());
        }
        for content in &t.content {
            eat(&content.to_le_bytes());
        }
        eat(&t.rows.to_le_bytes());
        eat(&t.skipped.to_le_bytes());
        // What the scan learnt of each function (invocations, the durations
        // and memory files' figures), as Rust prints it.
        eat(format!("{:?}", t.functions).as_bytes());
    }
    h
}

/// Deserialises a scenario from an already parsed (and edited) TOML table.
pub(crate) fn raw_from_table(table: toml::Table) -> Result<RawScenario, String> {
    use serde::Deserialize;
    RawScenario::deserialize(toml::Value::Table(table)).map_err(|e| e.message().to_string())
}

pub(crate) fn validate(
    raw: RawScenario,
    specs: Vec<RawPlatform>,
    stem: String,
    file: &Path,
    ov: Overrides,
    trace: Option<std::sync::Arc<Trace>>,
) -> Result<Scenario, FieldError> {
    let root = FieldPath::root();
    let seed = match (ov.seed, raw.seed) {
        (Some(s), _) => s,
        (None, Some(s)) if s >= 0 => s as u64,
        (None, Some(s)) => return Err(root.key("seed").error(format!("seed = {s}: must be >= 0"))),
        (None, None) => {
            return Err(root.key("seed").error(
                "missing: every scenario needs an explicit seed for reproducible results; add \
                 `seed = 42` at the top of the file or pass --seed",
            ));
        }
    };
    let replications = match (ov.replications, raw.replications) {
        (Some(r), _) => r,
        (None, None) => 1,
        (None, Some(r)) if (1..=100_000).contains(&r) => r as u32,
        (None, Some(r)) => {
            return Err(root
                .key("replications")
                .error(format!("replications = {r}: must be between 1 and 100000")));
        }
    };
    let workload = validate_workload(raw.workload, &root.key("workload"), trace)?;
    let names: Vec<String> = workload.functions.iter().map(|f| f.name.clone()).collect();
    let apps: Vec<String> = workload.functions.iter().map(|f| f.app.clone()).collect();
    let notes = std::cell::RefCell::new(Vec::new());

    let ppath = root.key("platforms");
    if specs.is_empty() {
        return Err(ppath.error(
            "no platforms: add at least one [[platforms]] table, e.g. name = \"lambda\", \
             kind = \"lambda\"",
        ));
    }
    let mut platforms: Vec<PlatformConfig> = Vec::with_capacity(specs.len());
    for (i, raw) in specs.into_iter().enumerate() {
        let at = ppath.index(i);
        let config = raw.spec.validate(&Setting {
            functions: &names,
            apps: &apps,
            notes: &notes,
            path: &at,
        })?;
        let name = raw.name.unwrap_or_else(|| raw.kind.default_name.into());
        check_name(&at.key("name"), &name)?;
        if platforms.iter().any(|p| p.name == name) {
            return Err(at.key("name").error(format!(
                "a second platform named `{name}`: platform names must be unique"
            )));
        }
        platforms.push(PlatformConfig { name, config });
    }

    // A trace's default horizon: its last arrival plus 900 s (the longest
    // Lambda execution), so every replayed request can finish. A window
    // with an end runs over [start_s, end_s + D) and is measured over the
    // window itself: D is the largest Lambda timeout (SPEC 2), but 900 s
    // as soon as a platform has no execution limit (a container platform
    // beside a short Lambda timeout still drains its queues).
    let trace = workload.trace.as_deref();
    let window_end = trace.and_then(|t| t.sim_window().1);
    let duration_s = match (raw.duration_s, trace, window_end) {
        (Some(d), _, _) => d,
        (None, Some(_), Some(end)) => {
            let longest = platforms
                .iter()
                .map(|p| {
                    p.config
                        .longest_execution()
                        .unwrap_or(SimDuration::from_secs(900))
                })
                .max()
                .map_or(900.0, |d| d.as_secs_f64());
            end + longest
        }
        (None, Some(t), None) => t.last_arrival.as_secs_f64() + 900.0,
        (None, None, _) => 3600.0,
    };
    if !(duration_s.is_finite() && duration_s > 0.0 && duration_s <= MAX_DURATION_S) {
        return Err(root.key("duration_s").error(format!(
            "duration_s = {duration_s}: must be greater than 0 and at most {MAX_DURATION_S:e} s"
        )));
    }
    let warmup_s = raw.warmup_s.unwrap_or(0.0);
    if !(warmup_s.is_finite() && warmup_s >= 0.0 && warmup_s < duration_s) {
        return Err(root.key("warmup_s").error(format!(
            "warmup_s = {warmup_s}: must be >= 0 and less than duration_s ({duration_s})"
        )));
    }
    let window = measurement_window(warmup_s, duration_s, trace);
    if window.0 >= window.1 {
        // Whichever ends the window too early: a warm-up past its end, or a
        // duration_s before a trace window's start.
        let key = if window.0 == SimTime::from_secs_f64(warmup_s) && warmup_s > 0.0 {
            "warmup_s"
        } else {
            "duration_s"
        };
        return Err(root.key(key).error(format!(
            "the measurement window [max(warmup_s, start_s), min(end_s, duration_s)) = \
             [{} s, {} s) is empty; shorten warmup_s, or give a duration_s that reaches \
             into the trace window",
            window.0.as_secs_f64(),
            window.1.as_secs_f64()
        )));
    }
    let interval_s = raw.timeseries_interval_s.unwrap_or(10.0);
    if !(interval_s.is_finite() && interval_s >= 1e-3) {
        return Err(root.key("timeseries_interval_s").error(format!(
            "timeseries_interval_s = {interval_s}: must be at least 0.001 s"
        )));
    }
    if duration_s / interval_s > MAX_INTERVALS {
        return Err(root.key("timeseries_interval_s").error(format!(
            "{interval_s} s intervals over {duration_s} s make more than {MAX_INTERVALS:e} \
             time-series rows; use a longer interval"
        )));
    }
    let platform_names: Vec<String> = platforms.iter().map(|p| p.name.clone()).collect();
    let expect = match &raw.expect {
        Some(t) => expect::validate(t, &platform_names)?,
        None => expect::Expectations::default(),
    };
    let name = raw.name.unwrap_or(stem);
    check_name(&root.key("name"), &name)?;
    Ok(Scenario {
        name,
        description: raw.description.unwrap_or_default(),
        file: file.to_path_buf(),
        seed,
        horizon: SimTime::from_secs_f64(duration_s),
        warmup: SimTime::from_secs_f64(warmup_s),
        window,
        replications,
        interval: SimDuration::from_secs_f64(interval_s),
        workload,
        platforms,
        points: Vec::new(),
        expect,
        notes: notes.into_inner(),
        digest: 0,
    })
}

/// The measurement window: [warmup, horizon), or for a trace window
/// [max(warmup, start_s), min(end_s, horizon)) (SPEC 2: the window itself,
/// not the drain time after it).
fn measurement_window(warmup_s: f64, duration_s: f64, trace: Option<&Trace>) -> (SimTime, SimTime) {
    let horizon = SimTime::from_secs_f64(duration_s);
    let (start, end) = trace.map_or((0.0, None), Trace::sim_window);
    let end = end.map_or(horizon, |e| SimTime::from_secs_f64(e).min(horizon));
    let from = SimTime::from_secs_f64(warmup_s.max(start)).min(end);
    (from, end)
}

fn check_name(path: &FieldPath, name: &str) -> Result<(), FieldError> {
    if name.trim().is_empty() || name.chars().any(char::is_control) || name.len() > 200 {
        return Err(path.error(format!(
            "{name:?}: names must be 1 to 200 bytes of UTF-8 (this one is {} bytes) with no \
             control characters",
            name.len()
        )));
    }
    Ok(())
}

/// The work distribution when none is given: lognormal, median 80 ms, p99 400 ms.
fn default_work() -> Dist {
    Dist::lognormal(0.08, 0.4)
}

fn validate_workload(
    raw: Option<RawWorkload>,
    path: &FieldPath,
    trace: Option<std::sync::Arc<Trace>>,
) -> Result<Workload, FieldError> {
    let Some(raw) = raw else {
        return Err(path.error(
            "missing [workload]: add one with an arrival process, e.g. \
             arrival = { kind = \"poisson\", rate_per_s = 10 }",
        ));
    };
    let work = |spec: &Option<DistSpec>, p: FieldPath| match spec {
        Some(d) => d.compile(&p),
        None => Ok(default_work()),
    };
    let wait = |spec: &Option<DistSpec>, p: FieldPath| match spec {
        Some(d) => d.compile(&p).map(Some),
        None => Ok(None),
    };
    let functions = match (raw.functions, raw.arrival) {
        (Some(_), Some(_)) | (Some(_), None) if raw.work.is_some() => {
            return Err(path
                .key("work")
                .error("with [[workload.functions]], give each function its own `work`"));
        }
        (Some(_), Some(_)) | (Some(_), None) if raw.wait.is_some() => {
            return Err(path
                .key("wait")
                .error("with [[workload.functions]], give each function its own `wait`"));
        }
        (Some(_), Some(_)) => {
            return Err(path.key("arrival").error(
                "give either `arrival` (one function) or [[workload.functions]], not both",
            ));
        }
        (Some(fs), None) => {
            let fpath = path.key("functions");
            if fs.is_empty() {
                return Err(fpath.error("no functions: add at least one [[workload.functions]]"));
            }
            let mut out: Vec<Function> = Vec::with_capacity(fs.len());
            // A set, not a scan of those before: linear in the functions.
            let mut seen: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
            for (i, f) in fs.iter().enumerate() {
                let at = fpath.index(i);
                check_name(&at.key("name"), &f.name)?;
                if !seen.insert(f.name.as_str()) {
                    return Err(at.key("name").error(format!(
                        "a second function named `{}`: function names must be unique",
                        f.name
                    )));
                }
                out.push(Function {
                    name: f.name.clone(),
                    arrival: f.arrival.compile(&at.key("arrival"))?,
                    work: work(&f.work, at.key("work"))?,
                    wait: wait(&f.wait, at.key("wait"))?,
                    memory_mb: None,
                    app: f.name.clone(),
                });
            }
            out
        }
        (None, Some(ArrivalSpec::Trace(_))) => {
            let Some(trace) = trace else {
                return Err(path.key("arrival").error(
                    "a sweep cannot switch the arrival to a trace: use one scenario file per trace",
                ));
            };
            let default = work(&raw.work, path.key("work"))?;
            let default_wait = wait(&raw.wait, path.key("wait"))?;
            let functions = trace
                .functions
                .iter()
                .map(|f| Function {
                    name: f.name.clone(),
                    arrival: crate::workload::arrival::ArrivalProcess::Trace,
                    work: f.durations.clone().unwrap_or_else(|| default.clone()),
                    wait: default_wait.clone(),
                    memory_mb: f.memory_mb,
                    app: f
                        .app
                        .clone()
                        .unwrap_or_else(|| match f.name.split_once('/') {
                            Some((app, _)) if !app.is_empty() => app.to_string(),
                            _ => f.name.clone(),
                        }),
                })
                .collect();
            return Ok(Workload {
                functions,
                trace: Some(trace),
            });
        }
        (None, Some(arrival)) => {
            let name = raw.name.unwrap_or_else(|| "default".into());
            check_name(&path.key("name"), &name)?;
            vec![Function {
                app: name.clone(),
                name,
                arrival: arrival.compile(&path.key("arrival"))?,
                work: work(&raw.work, path.key("work"))?,
                wait: wait(&raw.wait, path.key("wait"))?,
                memory_mb: None,
            }]
        }
        (None, None) => {
            return Err(path.key("arrival").error(
                "missing: add an arrival process, e.g. arrival = { kind = \"poisson\", \
                 rate_per_s = 10 }, or [[workload.functions]]",
            ));
        }
    };
    Ok(Workload {
        functions,
        trace: None,
    })
}

/// 1-based line and column of byte `offset` in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn toml_error(src: &str, file: &Path, e: &toml::de::Error) -> Error {
    let message = e.message().trim().to_string();
    let mut span = e.span();
    let mut field = None;
    // Serde reports an unknown key against its whole table: point at the key.
    if let Some(name) = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split('`').next())
    {
        field = Some(name.to_string());
        // Serde points at the table; for a `[table]` header that is only the
        // header line, so look on from there.
        let start = span.as_ref().map_or(0, |s| s.start);
        if let Some(at) = find_key(src, span.clone().unwrap_or(0..src.len()), name)
            .or_else(|| find_key(src, start..src.len(), name))
        {
            span = Some(at..at + name.len());
        }
    }
    if field.is_none() {
        field = span
            .as_ref()
            .and_then(|s| path_at(src, s.start))
            .map(|p| p.to_string());
    }
    let message = message
        .replace("expected f64", "expected a number")
        .replace("expected i64", "expected an integer");
    let hint = if message.starts_with("unknown field") {
        " (check the spelling against the README's scenario reference)"
    } else {
        ""
    };
    Error::Scenario {
        file: file.to_path_buf(),
        location: span.map(|s| line_col(src, s.start)),
        field,
        message: format!("{message}{hint}"),
    }
}

/// The first occurrence of `key` as a TOML key (followed by `=`) inside `region`.
fn find_key(src: &str, region: Range<usize>, key: &str) -> Option<usize> {
    let region = region.start.min(src.len())..region.end.min(src.len());
    let text = src.get(region.clone())?;
    let mut from = 0;
    while let Some(i) = text[from..].find(key) {
        let at = from + i;
        let before_ok = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
        let rest = text[at + key.len()..].trim_start_matches([' ', '\t', '"', '\'']);
        if before_ok && rest.starts_with('=') {
            return Some(region.start + at);
        }
        from = at + key.len();
    }
    None
}

/// The path of the deepest field whose key or value contains byte `offset`.
fn path_at(src: &str, offset: usize) -> Option<FieldPath> {
    fn walk(v: &DeValue, offset: usize, path: FieldPath) -> FieldPath {
        let inside = |r: Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
        match v {
            DeValue::Table(t) => {
                for (k, val) in t.iter() {
                    if inside(k.span()) || inside(val.span()) {
                        return walk(val.get_ref(), offset, path.key(k.get_ref()));
                    }
                }
                // A `[table]` spans only its header: take the last table
                // that starts before the offset.
                t.iter()
                    .filter(|(k, v)| is_container(v.get_ref()) && k.span().start <= offset)
                    .max_by_key(|(k, _)| k.span().start)
                    .map_or(path.clone(), |(k, v)| {
                        walk(v.get_ref(), offset, path.key(k.get_ref()))
                    })
            }
            DeValue::Array(a) => {
                for (i, val) in a.iter().enumerate() {
                    if inside(val.span()) {
                        return walk(val.get_ref(), offset, path.index(i));
                    }
                }
                a.iter()
                    .enumerate()
                    .filter(|(_, v)| is_container(v.get_ref()) && v.span().start <= offset)
                    .max_by_key(|(_, v)| v.span().start)
                    .map_or(path.clone(), |(i, v)| {
                        walk(v.get_ref(), offset, path.index(i))
                    })
            }
            _ => path,
        }
    }
    fn is_container(v: &DeValue) -> bool {
        matches!(v, DeValue::Table(_) | DeValue::Array(_))
    }
    let root = DeTable::parse(src).ok()?;
    let table = DeValue::Table(root.into_inner());
    let path = walk(&table, offset, FieldPath::root());
    (!path.0.is_empty()).then_some(path)
}

pub(crate) fn field_error(src: &str, file: &Path, e: FieldError) -> Error {
    let span = DeTable::parse(src).ok().map(|root| {
        let mut span: Range<usize> = root.span();
        let mut table: Option<&DeTable> = Some(root.get_ref());
        let mut value: Option<&DeValue> = None;
        for seg in &e.path.0 {
            let next = match (seg, table, value) {
                (Seg::Key(k), Some(t), _) => t.get(k.as_str()),
                (Seg::Key(k), None, Some(v)) => v.get(k.as_str()),
                (Seg::Index(i), _, Some(v)) => v.get(*i),
                _ => None,
            };
            let Some(next) = next else { break };
            span = next.span();
            table = None;
            value = Some(next.get_ref());
        }
        span
    });
    Error::Scenario {
        file: file.to_path_buf(),
        location: span.map(|s| line_col(src, s.start)),
        field: (!e.path.0.is_empty()).then(|| e.path.to_string()),
        message: e.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 11), (2, 6));
    }

    #[test]
    fn sanitize_keeps_one_safe_component() {
        assert_eq!(sanitize_name("spike-10x_v2.1"), "spike-10x_v2.1");
        assert_eq!(sanitize_name("../../etc/passwd"), "_._.._etc_passwd");
        assert_eq!(sanitize_name("/abs"), "_abs");
        assert_eq!(sanitize_name("a\nb"), "a_b");
        assert_eq!(sanitize_name(""), "scenario");
        assert_eq!(sanitize_name(".."), "_.");
    }

    #[test]
    fn the_bundled_default_scenario_is_valid() {
        let s = parse(
            DEFAULT_SCENARIO,
            Path::new(DEFAULT_SCENARIO_PATH),
            Overrides::default(),
        )
        .unwrap();
        assert!(!s.platforms.is_empty());
    }
}
