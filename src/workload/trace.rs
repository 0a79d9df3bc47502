//! Trace replay (SPEC 2.1 `kind = "trace"`): generic CSV, Azure Functions
//! 2019 (per-minute counts) and 2021 (per invocation), streamed.
//!
//! A trace is read twice. The scan, at validation, checks every row (errors
//! name the file, line, column and value), learns the functions, their
//! invocation counts and the last arrival, and applies `functions` /
//! `top_n`; it keeps per-function data only. The replay, once per run,
//! streams the rows again into requests, through a bounded reorder buffer
//! for files that are not quite sorted. Memory is bounded by the number of
//! functions (and the reorder window), never by the number of invocations.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rand::RngExt;
use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::error::{Error, FieldError, FieldPath, Result};
use crate::rng::{SimRng, stream};
use crate::time::{SimDuration, SimTime};
use crate::workload::dist::Dist;

/// Rows a file may be out of order by before replay gives up \[rows\].
pub const REORDER_WINDOW: usize = 100_000;

/// `path` (and the other file fields): one file or several in sequence.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Paths {
    One(String),
    Many(Vec<String>),
}

impl Paths {
    fn list(&self) -> Vec<String> {
        match self {
            Paths::One(p) => vec![p.clone()],
            Paths::Many(v) => v.clone(),
        }
    }
}

/// The trace formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Azure2019,
    Azure2021,
}

/// How Azure 2019 per-minute counts are spread within their minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    /// Evenly spaced: the k-th of c arrivals at (k + 1/2) / c of the minute.
    Uniform,
    /// Independent uniform positions (a Poisson process given the count).
    Random,
}

/// `arrival = { kind = "trace", ... }` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    path: Paths,
    format: Format,
    durations_path: Option<Paths>,
    memory_path: Option<Paths>,
    time_scale: Option<f64>,
    start_s: Option<f64>,
    end_s: Option<f64>,
    functions: Option<Vec<String>>,
    top_n: Option<u64>,
    rate_scale: Option<f64>,
    spread: Option<Spread>,
    skip_bad_rows: Option<bool>,
}

/// A validated, scanned trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub format: Format,
    pub paths: Vec<PathBuf>,
    pub durations: Vec<PathBuf>,
    pub memory: Vec<PathBuf>,
    pub time_scale: f64,
    /// Window on trace time \[s\].
    pub start_s: f64,
    pub end_s: f64,
    pub rate_scale: f64,
    pub spread: Spread,
    pub skip_bad_rows: bool,
    /// Kept functions: name -> index into the workload's functions.
    pub index: FxHashMap<String, u32>,
    /// Kept functions in index order, with their scan-time data.
    pub functions: Vec<TraceFunction>,
    /// The last arrival (scaled), for the default horizon.
    pub last_arrival: SimTime,
    /// Rows in the window that were kept, and rows skipped as bad.
    pub rows: u64,
    pub skipped: u64,
}

/// What the scan learns about one function.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceFunction {
    pub name: String,
    pub invocations: u64,
    /// Work from the Azure 2019 durations file (percentiles).
    pub work: Option<Dist>,
    /// Lambda memory from the trace (`memory_mb` column or Azure app memory) \[MB\].
    pub memory_mb: Option<u32>,
}

/// A row error: names the file, line, column and value, and says how to proceed.
fn row_error(file: &Path, line: u64, column: &str, value: &str, why: &str) -> Error {
    Error::Scenario {
        file: file.to_path_buf(),
        location: Some((line as usize, 1)),
        field: Some(column.to_string()),
        message: format!(
            "{why} (value {value:?}); fix the row, or set skip_bad_rows = true to skip bad rows"
        ),
    }
}

fn open_csv(file: &Path) -> Result<csv::Reader<BufReader<File>>> {
    let f = File::open(file).map_err(|e| Error::io(file, "cannot read trace", e))?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 16, f)))
}

fn headers(reader: &mut csv::Reader<BufReader<File>>, file: &Path) -> Result<Vec<String>> {
    let h = reader.headers().map_err(|e| Error::Scenario {
        file: file.to_path_buf(),
        location: Some((1, 1)),
        field: None,
        message: format!("cannot read the header row: {e}"),
    })?;
    Ok(h.iter().map(|s| s.trim().to_string()).collect())
}

fn column(headers: &[String], name: &str) -> Option<usize> {
    headers.iter().position(|h| h == name)
}

fn missing_column(file: &Path, name: &str, headers: &[String]) -> Error {
    Error::Scenario {
        file: file.to_path_buf(),
        location: Some((1, 1)),
        field: Some(name.to_string()),
        message: format!(
            "missing column `{name}`; the header has: {}",
            headers.join(", ")
        ),
    }
}

/// One parsed row of a per-invocation trace (csv, azure2021).
#[derive(Debug, Clone)]
struct Row<'a> {
    /// Arrival in trace time \[s\].
    t: f64,
    /// Borrowed from the record where possible: no allocation per row.
    function: std::borrow::Cow<'a, str>,
    work: Option<SimDuration>,
    memory_mb: Option<u32>,
}

/// Column positions of a per-invocation trace.
#[derive(Debug, Clone)]
struct Columns {
    format: Format,
    /// csv: timestamp column and its unit (1 for s, 1e-3 for ms).
    time: usize,
    time_unit: f64,
    function: Option<usize>,
    duration_ms: Option<usize>,
    memory_mb: Option<usize>,
    /// azure2021: app, func, end_timestamp, duration.
    app: usize,
    end: usize,
}

impl Columns {
    fn of(format: Format, headers: &[String], file: &Path) -> Result<Columns> {
        let need = |n: &str| column(headers, n).ok_or_else(|| missing_column(file, n, headers));
        match format {
            Format::Csv => {
                let (time, time_unit) = match (
                    column(headers, "timestamp_s"),
                    column(headers, "timestamp_ms"),
                ) {
                    (Some(c), _) => (c, 1.0),
                    (None, Some(c)) => (c, 1e-3),
                    (None, None) => {
                        return Err(missing_column(
                            file,
                            "timestamp_s` or `timestamp_ms",
                            headers,
                        ));
                    }
                };
                Ok(Columns {
                    format,
                    time,
                    time_unit,
                    function: column(headers, "function"),
                    duration_ms: column(headers, "duration_ms"),
                    memory_mb: column(headers, "memory_mb"),
                    app: 0,
                    end: 0,
                })
            }
            Format::Azure2021 => Ok(Columns {
                format,
                time: 0,
                time_unit: 1.0,
                function: Some(need("func")?),
                duration_ms: Some(need("duration")?),
                memory_mb: None,
                app: need("app")?,
                end: need("end_timestamp")?,
            }),
            Format::Azure2019 => unreachable!("azure2019 has per-minute counts, not rows"),
        }
    }

    /// The extra columns a csv trace ignores.
    fn ignored(&self, headers: &[String]) -> Vec<String> {
        if self.format != Format::Csv {
            return Vec::new();
        }
        let used = [
            Some(self.time),
            self.function,
            self.duration_ms,
            self.memory_mb,
        ];
        headers
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(&Some(*i)))
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// Parses one row. A bad row gives a [`RowFault`], made into an error
    /// (with the file and line) only if it is reported.
    fn parse<'a>(
        &self,
        rec: &'a csv::StringRecord,
        default_fn: &'a str,
    ) -> std::result::Result<Row<'a>, RowFault> {
        let field = |c: usize, name: &'static str| -> std::result::Result<&'a str, RowFault> {
            rec.get(c).map(trim).ok_or(RowFault {
                column: name,
                value: None,
                why: "the row has too few columns",
            })
        };
        let number = |c: usize, name: &'static str| -> std::result::Result<f64, RowFault> {
            let s = field(c, name)?;
            let fault = |why| RowFault {
                column: name,
                value: Some(c),
                why,
            };
            let v = parse_f64(s).ok_or(fault("not a number"))?;
            if !v.is_finite() {
                return Err(fault("not a finite number"));
            }
            Ok(v)
        };
        let check = |ok: bool, c: usize, name: &'static str, why: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(RowFault {
                    column: name,
                    value: Some(c),
                    why,
                })
            }
        };
        match self.format {
            Format::Csv => {
                let tname = if self.time_unit == 1.0 {
                    "timestamp_s"
                } else {
                    "timestamp_ms"
                };
                let t = number(self.time, tname)? * self.time_unit;
                check(t >= 0.0, self.time, tname, "a negative timestamp")?;
                let function = match self.function {
                    Some(c) => {
                        let f = field(c, "function")?;
                        check(!f.is_empty(), c, "function", "an empty function name")?;
                        f
                    }
                    None => default_fn,
                };
                let work = match self.duration_ms {
                    Some(c) => {
                        let d = number(c, "duration_ms")?;
                        check(d >= 0.0, c, "duration_ms", "a negative duration")?;
                        Some(SimDuration::from_millis_f64(d))
                    }
                    None => None,
                };
                let memory_mb = match self.memory_mb {
                    Some(c) => {
                        let m = number(c, "memory_mb")?;
                        check(
                            (1.0..=1e6).contains(&m),
                            c,
                            "memory_mb",
                            "memory must be between 1 and 1000000 MB",
                        )?;
                        Some(lambda_memory(m))
                    }
                    None => None,
                };
                Ok(Row {
                    t,
                    function: std::borrow::Cow::Borrowed(function),
                    work,
                    memory_mb,
                })
            }
            Format::Azure2021 => {
                let app = field(self.app, "app")?;
                let fc = self.function.expect("func");
                let func = field(fc, "func")?;
                let end = number(self.end, "end_timestamp")?;
                let dc = self.duration_ms.expect("duration");
                let duration = number(dc, "duration")?;
                check(duration >= 0.0, dc, "duration", "a negative duration")?;
                let t = end - duration;
                check(
                    t >= 0.0,
                    self.end,
                    "end_timestamp",
                    "the arrival (end_timestamp - duration) is negative",
                )?;
                Ok(Row {
                    t,
                    function: std::borrow::Cow::Owned(format!("{app}/{func}")),
                    work: Some(SimDuration::from_secs_f64(duration)),
                    memory_mb: None,
                })
            }
            Format::Azure2019 => unreachable!(),
        }
    }
}

/// What is wrong with a row: cheap to make, so that parsing good rows stays fast.
#[derive(Debug, Clone, Copy)]
struct RowFault {
    column: &'static str,
    /// The offending field's position, to quote its value.
    value: Option<usize>,
    why: &'static str,
}

impl RowFault {
    /// The error for this fault in row `rec` of `file`.
    fn error(self, rec: &csv::StringRecord, file: &Path) -> Error {
        let value = self.value.and_then(|c| rec.get(c)).map_or("", trim);
        row_error(file, line_of(rec), self.column, value, self.why)
    }
}

/// `str::trim`, skipping the Unicode scan for the usual field with no
/// space at either end.
#[inline]
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// Parses a number as `str::parse::<f64>` does, with a fast path for plain
/// decimals (`123`, `0.25`, `-1.5`) of at most 15 digits (not counting
/// leading zeros) and no exponent: the digits form an integer below 2^53 and
/// the scale a power of ten up to 10^22, both exact in an `f64`, so one
/// correctly rounded division gives the correctly rounded value, the same one `parse` gives
/// (the fast path of Clinger's algorithm). Anything else goes to `parse`.
#[inline]
fn parse_f64(s: &str) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let b = s.as_bytes();
    let (negative, body) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    // Digits after the leading zeros; too many and the mantissa may have wrapped.
    let mut significant = 0usize;
    let mut any = false;
    let mut dot = None;
    for (i, &c) in body.iter().enumerate() {
        let digit = c.wrapping_sub(b'0');
        if digit <= 9 {
            any = true;
            significant += usize::from(mantissa != 0 || digit != 0);
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
        } else if c == b'.' && dot.is_none() {
            dot = Some(i);
        } else {
            return s.parse().ok();
        }
    }
    let scale = dot.map_or(0, |d| body.len() - d - 1);
    if !any || significant > 15 || scale > 22 {
        return s.parse().ok();
    }
    let v = mantissa as f64 / POW10[scale];
    Some(if negative { -v } else { v })
}

/// The line a record starts on.
fn line_of(rec: &csv::StringRecord) -> u64 {
    rec.position().map_or(0, |p| p.line())
}

/// Lambda memory for a trace's memory figure: 1 MB steps within 128-10,240 MB.
fn lambda_memory(mb: f64) -> u32 {
    mb.ceil().clamp(128.0, 10_240.0) as u32
}

/// Reads the next record into `rec`: `Ok(false)` at the end of the file. An
/// unreadable row is skipped and counted in `skipped` when `skip`, else it is
/// an error naming its line.
fn next_record(
    reader: &mut csv::Reader<BufReader<File>>,
    rec: &mut csv::StringRecord,
    file: &Path,
    skip: bool,
    skipped: &mut u64,
) -> Result<bool> {
    let mut in_a_row = 0;
    loop {
        match reader.read_record(rec) {
            Ok(more) => return Ok(more),
            // Skip bad rows, but not forever on a file that fails to read at all.
            Err(_) if skip && in_a_row < 1000 => {
                *skipped += 1;
                in_a_row += 1;
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(row_error(
                    file,
                    line,
                    "(row)",
                    "",
                    &format!("unreadable row: {e}"),
                ));
            }
        }
    }
}

/// Azure 2019 invocation files: `HashOwner,HashApp,HashFunction,Trigger,1..1440`.
fn minute_columns(headers: &[String], file: &Path) -> Result<(usize, usize, Vec<usize>)> {
    let need = |n: &str| column(headers, n).ok_or_else(|| missing_column(file, n, headers));
    let app = need("HashApp")?;
    let func = need("HashFunction")?;
    let minutes: Vec<usize> = (1..=1440)
        .map(|m| need(&m.to_string()))
        .collect::<Result<_>>()?;
    Ok((app, func, minutes))
}

impl TraceSpec {
    /// Validates the fields and scans the trace. Paths are relative to `base`
    /// (the scenario file's folder). Returns the trace with its functions.
    pub fn scan(
        &self,
        path: &FieldPath,
        base: &Path,
        warn: &mut Vec<String>,
    ) -> Result<std::result::Result<Trace, FieldError>> {
        let resolve =
            |p: &Paths| -> Vec<PathBuf> { p.list().into_iter().map(|s| base.join(s)).collect() };
        let paths = resolve(&self.path);
        if paths.is_empty() {
            return Ok(Err(path.key("path").error("no trace files given")));
        }
        let positive =
            |name: &str, v: Option<f64>, d: f64| -> std::result::Result<f64, FieldError> {
                let v = v.unwrap_or(d);
                if v.is_finite() && v > 0.0 && v <= 1e6 {
                    Ok(v)
                } else {
                    Err(path.key(name).error(format!(
                        "{name} = {v}: must be greater than 0 and at most 1e6"
                    )))
                }
            };
        let time_scale = match positive("time_scale", self.time_scale, 1.0) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let rate_scale = match positive("rate_scale", self.rate_scale, 1.0) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let start_s = self.start_s.unwrap_or(0.0);
        let end_s = self.end_s.unwrap_or(f64::INFINITY);
        if !(start_s.is_finite() && start_s >= 0.0 && end_s > start_s) {
            return Ok(Err(path.key("end_s").error(format!(
                "the window [start_s, end_s) = [{start_s}, {end_s}) is empty or negative"
            ))));
        }
        if self.format != Format::Azure2019
            && (self.durations_path.is_some() || self.memory_path.is_some())
        {
            return Ok(Err(path.key("durations_path").error(
                "durations_path and memory_path belong to format = \"azure2019\"",
            )));
        }
        if self.format != Format::Azure2019 && self.spread.is_some() {
            return Ok(Err(path
                .key("spread")
                .error("spread belongs to format = \"azure2019\"")));
        }
        let mut trace = Trace {
            format: self.format,
            paths,
            durations: self
                .durations_path
                .as_ref()
                .map(resolve)
                .unwrap_or_default(),
            memory: self.memory_path.as_ref().map(resolve).unwrap_or_default(),
            time_scale,
            start_s,
            end_s,
            rate_scale,
            spread: self.spread.unwrap_or(Spread::Uniform),
            skip_bad_rows: self.skip_bad_rows.unwrap_or(false),
            index: FxHashMap::default(),
            functions: Vec::new(),
            last_arrival: SimTime::ZERO,
            rows: 0,
            skipped: 0,
        };
        // Every function seen, in order of first appearance, with its count.
        let mut seen: Vec<TraceFunction> = Vec::new();
        let mut seen_index: FxHashMap<String, usize> = FxHashMap::default();
        let mut note =
            |name: &str, memory_mb: Option<u32>, n: u64, seen: &mut Vec<TraceFunction>| {
                // Look up before inserting: no allocation per row for known functions.
                let i = match seen_index.get(name) {
                    Some(&i) => i,
                    None => {
                        seen.push(TraceFunction {
                            name: name.to_string(),
                            invocations: 0,
                            work: None,
                            memory_mb: None,
                        });
                        seen_index.insert(name.to_string(), seen.len() - 1);
                        seen.len() - 1
                    }
                };
                seen[i].invocations += n;
                if memory_mb.is_some() {
                    seen[i].memory_mb = memory_mb;
                }
            };
        let mut last_t = f64::NEG_INFINITY;
        match self.format {
            Format::Csv | Format::Azure2021 => {
                let default_fn = trace.paths[0]
                    .file_stem()
                    .map_or("trace".to_string(), |s| s.to_string_lossy().into_owned());
                // The replay's reorder buffer, simulated on times alone; it
                // runs on across files, as the replay's does.
                let mut window: Reorder<OrdF64> = Reorder::default();
                let mut released = f64::NEG_INFINITY;
                for file in &trace.paths {
                    let mut reader = open_csv(file)?;
                    let headers = headers(&mut reader, file)?;
                    let cols = Columns::of(self.format, &headers, file)?;
                    let ignored = cols.ignored(&headers);
                    if !ignored.is_empty() {
                        warn.push(format!(
                            "note: {}: ignoring column(s) {}",
                            file.display(),
                            ignored.join(", ")
                        ));
                    }
                    let mut rec = csv::StringRecord::new();
                    while next_record(
                        &mut reader,
                        &mut rec,
                        file,
                        trace.skip_bad_rows,
                        &mut trace.skipped,
                    )? {
                        let row = match cols.parse(&rec, &default_fn) {
                            Ok(r) => r,
                            Err(_) if trace.skip_bad_rows => {
                                trace.skipped += 1;
                                continue;
                            }
                            Err(fault) => return Err(fault.error(&rec, file)),
                        };
                        if row.t < trace.start_s || row.t >= trace.end_s {
                            continue;
                        }
                        if row.t < released {
                            return Err(row_error(
                                file,
                                line_of(&rec),
                                "timestamp",
                                &row.t.to_string(),
                                &format!(
                                    "this row is more than {REORDER_WINDOW} rows out of time order \
                                     (an arrival at {released} s was already replayed); sort the \
                                     file by arrival time"
                                ),
                            ));
                        }
                        window.push(OrdF64(row.t));
                        if window.len() > REORDER_WINDOW {
                            released = window.take_min(|_| false).expect("non-empty").0;
                        }
                        last_t = last_t.max(row.t);
                        note(&row.function, row.memory_mb, 1, &mut seen);
                    }
                }
            }
            Format::Azure2019 => {
                for (day, file) in trace.paths.iter().enumerate() {
                    let mut reader = open_csv(file)?;
                    let headers = headers(&mut reader, file)?;
                    let (_, func, minutes) = minute_columns(&headers, file)?;
                    let mut rec = csv::StringRecord::new();
                    while next_record(
                        &mut reader,
                        &mut rec,
                        file,
                        trace.skip_bad_rows,
                        &mut trace.skipped,
                    )? {
                        match parse_counts(&rec, file, func, &minutes) {
                            Ok((name, counts)) => {
                                let mut n = 0u64;
                                for (m, &c) in counts.iter().enumerate() {
                                    let t = day as f64 * 86_400.0 + m as f64 * 60.0;
                                    if c > 0 && t + 60.0 > trace.start_s && t < trace.end_s {
                                        n += u64::from(c);
                                        last_t = last_t.max((t + 60.0).min(trace.end_s));
                                    }
                                }
                                note(&name, None, n, &mut seen);
                            }
                            Err(_) if trace.skip_bad_rows => trace.skipped += 1,
                            Err(e) => return Err(e),
                        }
                    }
                }
                let works = read_durations(&trace.durations, trace.skip_bad_rows)?;
                let memory = read_app_memory(&trace.memory, &trace.paths, trace.skip_bad_rows)?;
                for f in &mut seen {
                    f.work = works.get(&f.name).cloned();
                    f.memory_mb = memory.get(&f.name).copied();
                }
            }
        }
        // functions / top_n.
        let mut keep: Vec<TraceFunction> = seen
            .into_iter()
            .filter(|f| f.invocations > 0 || self.format == Format::Csv)
            .collect();
        if let Some(names) = &self.functions {
            for n in names {
                if !keep.iter().any(|f| &f.name == n) {
                    let some: Vec<&str> = keep.iter().take(5).map(|f| f.name.as_str()).collect();
                    return Ok(Err(path.key("functions").error(format!(
                        "no function `{n}` in the trace (it has {} functions, e.g. {})",
                        keep.len(),
                        some.join(", ")
                    ))));
                }
            }
            keep.retain(|f| names.contains(&f.name));
        }
        if let Some(n) = self.top_n {
            if n == 0 {
                return Ok(Err(path
                    .key("top_n")
                    .error("top_n = 0 keeps nothing: give at least 1")));
            }
            let mut order: Vec<usize> = (0..keep.len()).collect();
            order.sort_by_key(|&i| (Reverse(keep[i].invocations), i));
            let mut chosen: Vec<usize> = order.into_iter().take(n as usize).collect();
            chosen.sort_unstable();
            keep = chosen.into_iter().map(|i| keep[i].clone()).collect();
        }
        if keep.is_empty() {
            return Ok(Err(path.key("path").error(
                "the trace has no invocations in the window [start_s, end_s)",
            )));
        }
        trace.rows = keep.iter().map(|f| f.invocations).sum();
        trace.index = keep
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i as u32))
            .collect();
        trace.functions = keep;
        trace.last_arrival = SimTime::from_secs_f64(last_t.max(0.0) / trace.time_scale);
        if trace.skipped > 0 {
            warn.push(format!("note: skipped {} bad trace row(s)", trace.skipped));
        }
        Ok(Ok(trace))
    }
}

/// A float with a total order, for the reorder buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF64(f64);
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// A reorder buffer: hands out the smallest item held. Items that come in
/// order (the whole of a sorted file) queue in a FIFO at O(1); only those
/// that come early go into a heap. The smallest item is the smaller of the
/// FIFO's front and the heap's top, so the order handed out is exactly that
/// of one heap holding everything.
#[derive(Debug)]
struct Reorder<T> {
    /// Items in non-decreasing order.
    run: VecDeque<T>,
    /// Items smaller than the FIFO's back when they came.
    early: BinaryHeap<Reverse<T>>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder {
            run: VecDeque::new(),
            early: BinaryHeap::new(),
        }
    }
}

impl<T: Ord + Copy> Reorder<T> {
    fn len(&self) -> usize {
        self.run.len() + self.early.len()
    }

    fn is_empty(&self) -> bool {
        self.run.is_empty() && self.early.is_empty()
    }

    #[inline]
    fn push(&mut self, item: T) {
        if self.run.back().is_none_or(|last| *last <= item) {
            self.run.push_back(item);
        } else {
            self.early.push(Reverse(item));
        }
    }

    /// The smallest item; it stays held when `keep` (given it to change in a
    /// way that keeps its order) says so. Returns it as it was.
    #[inline]
    fn take_min(&mut self, keep: impl FnOnce(&mut T) -> bool) -> Option<T> {
        let from_run = match (self.run.front(), self.early.peek()) {
            (Some(a), Some(Reverse(b))) => a <= b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if from_run {
            let front = self.run.front_mut().expect("checked");
            let item = *front;
            if !keep(front) {
                self.run.pop_front();
            }
            Some(item)
        } else {
            let mut top = self.early.peek_mut().expect("checked");
            let item = top.0;
            if !keep(&mut top.0) {
                std::collections::binary_heap::PeekMut::pop(top);
            }
            Some(item)
        }
    }
}

fn parse_counts(
    rec: &csv::StringRecord,
    file: &Path,
    func: usize,
    minutes: &[usize],
) -> Result<(String, Vec<u32>)> {
    let line = rec.position().map_or(0, |p| p.line());
    let name = rec
        .get(func)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| row_error(file, line, "HashFunction", "", "a missing function hash"))?;
    let mut counts = Vec::with_capacity(minutes.len());
    for (m, &c) in minutes.iter().enumerate() {
        let s = rec.get(c).map(str::trim).ok_or_else(|| {
            row_error(
                file,
                line,
                &(m + 1).to_string(),
                "",
                "the row has too few minute columns",
            )
        })?;
        let v: u32 = s.parse().map_err(|_| {
            row_error(
                file,
                line,
                &(m + 1).to_string(),
                s,
                "not a whole number of invocations",
            )
        })?;
        counts.push(v);
    }
    Ok((name.to_string(), counts))
}

/// Azure 2019 durations: per function, work from its percentiles (ms).
fn read_durations(files: &[PathBuf], skip: bool) -> Result<HashMap<String, Dist>> {
    let mut out = HashMap::new();
    const P: [(&str, f64); 7] = [
        ("percentile_Average_0", 0.0),
        ("percentile_Average_1", 0.01),
        ("percentile_Average_25", 0.25),
        ("percentile_Average_50", 0.5),
        ("percentile_Average_75", 0.75),
        ("percentile_Average_99", 0.99),
        ("percentile_Average_100", 1.0),
    ];
    for file in files {
        let mut reader = open_csv(file)?;
        let headers = headers(&mut reader, file)?;
        let func = column(&headers, "HashFunction")
            .ok_or_else(|| missing_column(file, "HashFunction", &headers))?;
        let cols: Vec<usize> = P
            .iter()
            .map(|(n, _)| column(&headers, n).ok_or_else(|| missing_column(file, n, &headers)))
            .collect::<Result<_>>()?;
        let (mut rec, mut skipped) = (csv::StringRecord::new(), 0);
        while next_record(&mut reader, &mut rec, file, skip, &mut skipped)? {
            let line = rec.position().map_or(0, |p| p.line());
            let parsed: Result<Vec<f64>> = cols
                .iter()
                .zip(P)
                .map(|(&c, (n, _))| {
                    let s = rec.get(c).map_or("", str::trim);
                    s.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && *v >= 0.0)
                        .ok_or_else(|| row_error(file, line, n, s, "not a duration in ms >= 0"))
                })
                .collect();
            let v = match parsed {
                Ok(v) => v,
                Err(_) if skip => continue,
                Err(e) => return Err(e),
            };
            // Percentiles of 30-second averages can dip: keep them non-decreasing.
            let mut secs = Vec::with_capacity(7);
            for x in v {
                let s = x / 1e3;
                secs.push(secs.last().map_or(s, |&l: &f64| l.max(s)));
            }
            let name = rec.get(func).map_or("", str::trim).to_string();
            out.insert(
                name,
                Dist::Empirical {
                    p: P.iter().map(|p| p.1).collect(),
                    v: secs,
                },
            );
        }
    }
    Ok(out)
}

/// Azure 2019 app memory (`AverageAllocatedMb` per app), mapped to each
/// function of the app through the invocation files.
fn read_app_memory(
    files: &[PathBuf],
    invocations: &[PathBuf],
    skip: bool,
) -> Result<HashMap<String, u32>> {
    if files.is_empty() {
        return Ok(HashMap::new());
    }
    let mut app_mb: HashMap<String, u32> = HashMap::new();
    for file in files {
        let mut reader = open_csv(file)?;
        let headers = headers(&mut reader, file)?;
        let app =
            column(&headers, "HashApp").ok_or_else(|| missing_column(file, "HashApp", &headers))?;
        let mb = column(&headers, "AverageAllocatedMb")
            .ok_or_else(|| missing_column(file, "AverageAllocatedMb", &headers))?;
        let (mut rec, mut skipped) = (csv::StringRecord::new(), 0);
        while next_record(&mut reader, &mut rec, file, skip, &mut skipped)? {
            let line = rec.position().map_or(0, |p| p.line());
            let s = rec.get(mb).map_or("", str::trim);
            match s.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0) {
                Some(v) => {
                    app_mb.insert(
                        rec.get(app).map_or("", str::trim).to_string(),
                        lambda_memory(v),
                    );
                }
                None if skip => continue,
                None => {
                    return Err(row_error(
                        file,
                        line,
                        "AverageAllocatedMb",
                        s,
                        "not a memory size in MB > 0",
                    ));
                }
            }
        }
    }
    let mut out = HashMap::new();
    for file in invocations {
        let mut reader = open_csv(file)?;
        let headers = headers(&mut reader, file)?;
        let (app, func, _) = minute_columns(&headers, file)?;
        for rec in reader.records().flatten() {
            if let (Some(a), Some(f)) = (rec.get(app).map(str::trim), rec.get(func).map(str::trim))
                && let Some(&mb) = app_mb.get(a)
            {
                out.insert(f.to_string(), mb);
            }
        }
    }
    Ok(out)
}

/// One arrival waiting in a reorder buffer: (time, sequence, function, work,
/// copies still to hand out under `rate_scale`). One entry per row, so the
/// buffer stays bounded by the reorder window whatever `rate_scale` is.
type Pending = (SimTime, u64, u32, Option<SimDuration>, u32);

/// The replay of a trace: requests in time order.
pub struct TraceStream {
    trace: std::sync::Arc<Trace>,
    /// Per-function work when the trace gives none: (distribution, stream).
    work: Vec<(Dist, SimRng)>,
    rate_rng: SimRng,
    spread_rng: SimRng,
    file: usize,
    reader: Option<(csv::Reader<BufReader<File>>, Columns, String)>,
    record: csv::StringRecord,
    buffer: Reorder<Pending>,
    seq: u64,
    next_id: u64,
    last: SimTime,
    /// Consecutive unreadable rows in the current file.
    errors: u32,
    done: bool,
    /// azure2019: counts of the current day per kept function, and the next minute.
    day_counts: Vec<Vec<u32>>,
    minute: usize,
}

impl TraceStream {
    pub fn new(
        trace: std::sync::Arc<Trace>,
        work: Vec<(Dist, SimRng)>,
        seed: u64,
        replication: u32,
    ) -> Self {
        TraceStream {
            trace,
            work,
            rate_rng: stream(seed, replication, "workload/trace/rate"),
            spread_rng: stream(seed, replication, "workload/trace/spread"),
            file: 0,
            reader: None,
            record: csv::StringRecord::new(),
            buffer: Reorder::default(),
            seq: 0,
            next_id: 0,
            last: SimTime::ZERO,
            errors: 0,
            done: false,
            day_counts: Vec::new(),
            minute: 1440,
        }
    }

    /// How many copies of an arrival `rate_scale` makes: thinning below 1,
    /// replication above.
    fn copies(&mut self) -> u32 {
        let r = self.trace.rate_scale;
        let whole = r.floor();
        let frac = r - whole;
        whole as u32 + u32::from(frac > 0.0 && self.rate_rng.random::<f64>() < frac)
    }

    fn push(&mut self, t_trace: f64, function: u32, work: Option<SimDuration>) {
        let t = SimTime::from_secs_f64(t_trace / self.trace.time_scale);
        let copies = self.copies();
        if copies > 0 {
            self.buffer.push((t, self.seq, function, work, copies));
            self.seq += 1;
        }
    }

    /// Reads more rows (csv, azure2021) into the buffer; false at the end.
    fn fill_rows(&mut self) -> bool {
        loop {
            if self.reader.is_none() {
                let Some(file) = self.trace.paths.get(self.file) else {
                    return false;
                };
                let file = file.clone();
                self.file += 1;
                let Ok(mut reader) = open_csv(&file) else {
                    continue;
                };
                let Ok(headers) = headers(&mut reader, &file) else {
                    continue;
                };
                let Ok(cols) = Columns::of(self.trace.format, &headers, &file) else {
                    continue;
                };
                let default_fn = self.trace.paths[0]
                    .file_stem()
                    .map_or("trace".to_string(), |s| s.to_string_lossy().into_owned());
                self.reader = Some((reader, cols, default_fn));
            }
            let (reader, cols, default_fn) = self.reader.as_mut().expect("opened");
            match reader.read_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => {
                    self.reader = None;
                    continue;
                }
                // Bad rows were reported (or counted) by the scan; a file
                // that keeps failing (changed since the scan) is given up.
                Err(_) => {
                    self.errors += 1;
                    if self.errors > 1000 {
                        self.reader = None;
                    }
                    continue;
                }
            }
            self.errors = 0;
            let Ok(row) = cols.parse(&self.record, default_fn) else {
                continue;
            };
            if row.t < self.trace.start_s || row.t >= self.trace.end_s {
                continue;
            }
            let Some(&f) = self.trace.index.get(row.function.as_ref()) else {
                continue;
            };
            let (time, work) = (row.t, row.work);
            self.push(time, f, work);
            return true;
        }
    }

    /// Loads the next minute of an azure2019 trace into the buffer; false at the end.
    fn fill_minute(&mut self) -> bool {
        loop {
            if self.minute >= 1440 {
                let Some(file) = self.trace.paths.get(self.file) else {
                    return false;
                };
                let file = file.clone();
                self.file += 1;
                self.minute = 0;
                self.day_counts = vec![vec![0; 1440]; self.trace.functions.len()];
                let Ok(mut reader) = open_csv(&file) else {
                    continue;
                };
                let Ok(headers) = headers(&mut reader, &file) else {
                    continue;
                };
                let Ok((_, func, minutes)) = minute_columns(&headers, &file) else {
                    continue;
                };
                for rec in reader.records().flatten() {
                    if let Ok((name, counts)) = parse_counts(&rec, &file, func, &minutes)
                        && let Some(&f) = self.trace.index.get(&name)
                    {
                        // A hash may repeat across apps: their counts add up, as in the scan.
                        for (total, c) in self.day_counts[f as usize].iter_mut().zip(counts) {
                            *total += c;
                        }
                    }
                }
            }
            let m = self.minute;
            self.minute += 1;
            let base = (self.file - 1) as f64 * 86_400.0 + m as f64 * 60.0;
            let mut any = false;
            for f in 0..self.day_counts.len() {
                let c = self.day_counts[f][m];
                for k in 0..c {
                    let offset = match self.trace.spread {
                        Spread::Uniform => (f64::from(k) + 0.5) / f64::from(c) * 60.0,
                        Spread::Random => self.spread_rng.random::<f64>() * 60.0,
                    };
                    let t = base + offset;
                    if t >= self.trace.start_s && t < self.trace.end_s {
                        self.push(t, f as u32, None);
                        any = true;
                    }
                }
            }
            if any {
                return true;
            }
        }
    }
}

impl Iterator for TraceStream {
    type Item = crate::workload::Request;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.done {
            match self.trace.format {
                Format::Azure2019 => {
                    // A whole minute at a time: everything in it sorts before the next.
                    if self.buffer.is_empty() && !self.fill_minute() {
                        self.done = true;
                    }
                }
                Format::Csv | Format::Azure2021 => {
                    while self.buffer.len() <= REORDER_WINDOW {
                        if !self.fill_rows() {
                            self.done = true;
                            break;
                        }
                    }
                }
            }
        }
        // While copies remain, the entry stays first: the sequence number
        // makes it unique, so the copy count never decides the order.
        let (arrival, _, function, work, _) = self.buffer.take_min(|top| {
            top.4 -= 1;
            top.4 > 0
        })?;
        // The scan proved the order; never hand the engine a step back anyway.
        let arrival = arrival.max(self.last);
        self.last = arrival;
        let work = work.unwrap_or_else(|| {
            let (dist, rng) = &mut self.work[function as usize];
            dist.sample(rng)
        });
        let id = self.next_id;
        self.next_id += 1;
        Some(crate::workload::Request {
            id,
            arrival,
            function,
            work,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_f64_agrees_with_std_on_edge_cases() {
        for s in [
            "0",
            "-0",
            "+0",
            "1",
            "1.",
            ".5",
            "-.5",
            "0.000500",
            "123456789012345",
            "1234567890123456",
            "0.1",
            "0.30000000000000004",
            "9007199254740993",
            "1e3",
            "1E-3",
            "inf",
            "-inf",
            "NaN",
            "",
            ".",
            "-",
            "+",
            "1.2.3",
            "1,5",
            " 1",
            "0x10",
            "00000000000000000000001.5",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "179769313486231570000000000000",
        ] {
            let ours = parse_f64(s).map(f64::to_bits);
            let std = s.parse::<f64>().ok().map(f64::to_bits);
            assert_eq!(ours, std, "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_f64_agrees_with_std(s in "[+-]?[0-9]{0,20}(\\.[0-9]{0,25})?") {
            let ours = parse_f64(&s).map(f64::to_bits);
            let std = s.parse::<f64>().ok().map(f64::to_bits);
            prop_assert_eq!(ours, std);
        }

        #[test]
        fn reorder_hands_out_what_one_heap_would(items in proptest::collection::vec(0u32..50, 0..300), window in 1usize..20) {
            // Same pushes and takes against a plain heap: same items out, in the same order.
            let mut ours: Reorder<(u32, usize)> = Reorder::default();
            let mut heap: BinaryHeap<Reverse<(u32, usize)>> = BinaryHeap::new();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for (seq, &t) in items.iter().enumerate() {
                ours.push((t, seq));
                heap.push(Reverse((t, seq)));
                if ours.len() > window {
                    a.push(ours.take_min(|_| false));
                    b.push(heap.pop().map(|r| r.0));
                }
            }
            while !ours.is_empty() {
                a.push(ours.take_min(|_| false));
                b.push(heap.pop().map(|r| r.0));
            }
            prop_assert!(heap.is_empty());
            prop_assert_eq!(a, b);
        }
    }
}
