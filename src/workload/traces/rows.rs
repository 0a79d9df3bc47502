//! Per-invocation rows: the generic csv format (`timestamp_s` or
//! `timestamp_ms`, optional `function`, `duration_ms`, `cpu_ms`, `wait_ms`,
//! `memory_mb`) and Azure Functions 2021 (`app,func,end_timestamp,duration`,
//! arrival = end - duration). Parsing is allocation-free for good rows.
//!
//! A recorded duration is split into its CPU part and its wait by the
//! trace's `cpu_fraction`; `cpu_ms` and `wait_ms` columns, when present,
//! are taken as they are (with a duration, the one not given is the rest).

use std::path::Path;

use super::logs::{self, Layout};
use super::{
    Format, FunctionBy, column, lambda_memory, missing_column, missing_field_error, row_error_at,
};
use crate::error::{Error, Result};
use crate::time::SimDuration;
use crate::workload::dist::MAX_DURATION_S;

/// A timestamp the wall-clock formats cannot read.
const NOT_A_TIMESTAMP: &str = "not a UTC timestamp (2018-07-02T22:22:48.364000Z, \
     2018-07-02 22:22:48.364, or epoch milliseconds)";

/// A recorded duration longer than any duration field accepts.
pub(super) const TOO_LONG: &str = "a duration above 1e9 s, the longest any duration may be";

/// One parsed row of a per-invocation trace (csv, azure2021).
#[derive(Debug, Clone)]
pub(super) struct Row<'a> {
    /// Arrival in trace time \[s\].
    pub(super) t: f64,
    /// Borrowed from the record where possible: no allocation per row.
    pub(super) function: std::borrow::Cow<'a, str>,
    /// The recorded CPU part and wait, where the row gives them.
    pub(super) cpu: Option<SimDuration>,
    pub(super) wait: Option<SimDuration>,
    pub(super) memory_mb: Option<u32>,
    /// Wall-clock formats: the arrival \[ns since the epoch, UTC\].
    pub(super) ns: i64,
    /// lambda_report: the line has an Init Duration (a cold start).
    pub(super) init: bool,
}

/// What a trace's rows are read with besides their columns.
#[derive(Debug, Clone, Copy)]
pub(super) struct Options {
    pub(super) cpu_fraction: f64,
    pub(super) function_by: FunctionBy,
    pub(super) path_depth: Option<u32>,
    /// Wall-clock formats: the arrival that is t = 0 \[ns since the epoch\].
    pub(super) origin_ns: i64,
}

/// The CPU part of recorded duration `d` at `cpu_fraction`; the rest is wait.
#[inline]
pub(super) fn split(d: SimDuration, cpu_fraction: f64) -> (SimDuration, SimDuration) {
    if cpu_fraction >= 1.0 {
        return (d, SimDuration::ZERO);
    }
    let cpu = SimDuration(((d.0 as f64) * cpu_fraction).round() as u64).min(d);
    (cpu, SimDuration(d.0 - cpu.0))
}

/// Column positions of a per-invocation trace.
#[derive(Debug, Clone)]
pub(super) struct Columns {
    format: Format,
    /// csv: timestamp column and its unit (1 for s, 1e-3 for ms).
    time: usize,
    time_unit: f64,
    function: Option<usize>,
    duration_ms: Option<usize>,
    cpu_ms: Option<usize>,
    wait_ms: Option<usize>,
    memory_mb: Option<usize>,
    /// The share of a recorded duration that is CPU.
    cpu_fraction: f64,
    /// azure2021: app, func, end_timestamp, duration.
    app: usize,
    end: usize,
    layout: Layout,
    /// lambda_report: timestamp, message and log group columns.
    stamp: usize,
    message: usize,
    log: Option<usize>,
    /// lambda_report: the function of rows without a log group (the file's stem).
    file_fn: String,
    function_by: FunctionBy,
    path_depth: Option<u32>,
    origin_ns: i64,
}

impl Columns {
    pub(super) fn of(
        format: Format,
        headers: &[String],
        file: &Path,
        layout: Layout,
        opts: &Options,
    ) -> Result<Columns> {
        let cpu_fraction = opts.cpu_fraction;
        let need = |n: &str| column(headers, n).ok_or_else(|| missing_column(file, n, headers));
        let base = Columns {
            format,
            time: 0,
            time_unit: 1.0,
            function: None,
            duration_ms: None,
            cpu_ms: None,
            wait_ms: None,
            memory_mb: None,
            cpu_fraction,
            app: 0,
            end: 0,
            layout,
            stamp: 0,
            message: 0,
            log: None,
            file_fn: String::new(),
            function_by: opts.function_by,
            path_depth: opts.path_depth,
            origin_ns: opts.origin_ns,
        };
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
                    time,
                    time_unit,
                    function: column(headers, "function"),
                    duration_ms: column(headers, "duration_ms"),
                    cpu_ms: column(headers, "cpu_ms"),
                    wait_ms: column(headers, "wait_ms"),
                    memory_mb: column(headers, "memory_mb"),
                    ..base
                })
            }
            Format::Azure2021 => Ok(Columns {
                function: Some(need("func")?),
                duration_ms: Some(need("duration")?),
                app: need("app")?,
                end: need("end_timestamp")?,
                ..base
            }),
            Format::Alb => Ok(base),
            Format::LambdaReport => {
                let file_fn = logs::stem(file);
                match layout {
                    Layout::Header => Ok(Columns {
                        stamp: need("@timestamp")?,
                        message: need("@message")?,
                        log: column(headers, "@log"),
                        file_fn,
                        ..base
                    }),
                    // [timestamp, message, log] from the JSON reader.
                    Layout::Json => Ok(Columns {
                        stamp: 0,
                        message: 1,
                        log: Some(2),
                        file_fn,
                        ..base
                    }),
                    Layout::Lines | Layout::Alb => Ok(Columns { file_fn, ..base }),
                }
            }
            Format::Azure2019 => unreachable!("azure2019 has per-minute counts, not rows"),
        }
    }

    /// The extra columns a csv trace ignores.
    pub(super) fn ignored(&self, headers: &[String]) -> Vec<String> {
        if self.format != Format::Csv {
            return Vec::new();
        }
        let used = [
            Some(self.time),
            self.function,
            self.duration_ms,
            self.cpu_ms,
            self.wait_ms,
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
    ///
    /// `Ok(None)` for a line that is not a request (a lambda_report START,
    /// END or the function's own output).
    pub(super) fn parse<'a>(
        &'a self,
        rec: &'a super::csv_lines::Record,
        default_fn: &'a str,
    ) -> std::result::Result<Option<Row<'a>>, RowFault> {
        let field = |c: usize, name: &'static str| -> std::result::Result<&'a str, RowFault> {
            rec.get(c).map(trim).ok_or(RowFault::missing(name))
        };
        let number = |c: usize, name: &'static str| -> std::result::Result<f64, RowFault> {
            number_in(rec, c).map_err(|e| e.fault(c, name))
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
                let millis = |col: Option<usize>, name: &'static str| match col {
                    Some(c) => {
                        let d = number(c, name)?;
                        check(d >= 0.0, c, name, "a negative duration")?;
                        check(d <= MAX_DURATION_S * 1e3, c, name, TOO_LONG)?;
                        Ok(Some(SimDuration::from_millis_f64(d)))
                    }
                    None => Ok(None),
                };
                let duration = millis(self.duration_ms, "duration_ms")?;
                let cpu = millis(self.cpu_ms, "cpu_ms")?;
                let wait = millis(self.wait_ms, "wait_ms")?;
                let (cpu, wait) = match (duration, cpu, wait) {
                    (_, Some(c), Some(w)) => (Some(c), Some(w)),
                    (Some(d), Some(c), None) => {
                        let col = self.cpu_ms.expect("read");
                        check(c <= d, col, "cpu_ms", "cpu_ms is longer than duration_ms")?;
                        (Some(c), Some(SimDuration(d.0 - c.0)))
                    }
                    (Some(d), None, Some(w)) => {
                        let col = self.wait_ms.expect("read");
                        check(w <= d, col, "wait_ms", "wait_ms is longer than duration_ms")?;
                        (Some(SimDuration(d.0 - w.0)), Some(w))
                    }
                    (Some(d), None, None) => {
                        let (c, w) = split(d, self.cpu_fraction);
                        (Some(c), Some(w))
                    }
                    (None, c, w) => (c, w),
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
                Ok(Some(Row {
                    t,
                    function: std::borrow::Cow::Borrowed(function),
                    cpu,
                    wait,
                    memory_mb,
                    ns: 0,
                    init: false,
                }))
            }
            Format::Azure2021 => {
                let app = field(self.app, "app")?;
                let fc = self.function.expect("func");
                let func = field(fc, "func")?;
                let end = number(self.end, "end_timestamp")?;
                let dc = self.duration_ms.expect("duration");
                let duration = number(dc, "duration")?;
                check(duration >= 0.0, dc, "duration", "a negative duration")?;
                check(duration <= MAX_DURATION_S, dc, "duration", TOO_LONG)?;
                let t = end - duration;
                let (cpu, wait) = split(SimDuration::from_secs_f64(duration), self.cpu_fraction);
                check(
                    t >= 0.0,
                    self.end,
                    "end_timestamp",
                    "the arrival (end_timestamp - duration) is negative",
                )?;
                Ok(Some(Row {
                    t,
                    function: std::borrow::Cow::Owned(format!("{app}/{func}")),
                    cpu: Some(cpu),
                    wait: Some(wait),
                    memory_mb: None,
                    ns: 0,
                    init: false,
                }))
            }
            Format::Alb => {
                // Columns of ALB_FIELDS.
                const TIME: usize = 1;
                const PROCESSING: [(usize, &str); 3] = [
                    (5, "request_processing_time"),
                    (6, "target_processing_time"),
                    (7, "response_processing_time"),
                ];
                const REQUEST: usize = 12;
                const TARGET_GROUP: usize = 16;
                const CREATED: usize = 21;
                // Each processing time is -1 (no answer) or 0 to 1e9 s.
                let seconds = |(c, name): (usize, &'static str)| {
                    let v = number(c, name)?;
                    check(
                        v == -1.0 || (0.0..=MAX_DURATION_S).contains(&v),
                        c,
                        name,
                        "a processing time is -1 (no answer) or 0 to 1e9 s",
                    )?;
                    Ok(v)
                };
                let times = [
                    seconds(PROCESSING[0])?,
                    seconds(PROCESSING[1])?,
                    seconds(PROCESSING[2])?,
                ];
                let target = times[1];
                let created = field(CREATED, "request_creation_time")?;
                let ns = match logs::parse_utc_ns(created) {
                    Some(ns) => ns,
                    None if created == "-" => {
                        // No creation time: the response time minus the
                        // three processing times (-1, no answer, counts 0).
                        let time = field(TIME, "time")?;
                        let end = logs::parse_utc_ns(time).ok_or(RowFault {
                            column: "time",
                            value: Some(TIME),
                            why: NOT_A_TIMESTAMP,
                        })?;
                        let spent: f64 = times.iter().map(|t| t.max(0.0)).sum();
                        end - (spent * 1e9).round() as i64
                    }
                    None => {
                        return Err(RowFault {
                            column: "request_creation_time",
                            value: Some(CREATED),
                            why: NOT_A_TIMESTAMP,
                        });
                    }
                };
                // -1: no target answered; the request keeps its arrival
                // and takes workload.work.
                let (cpu, wait) = if target < 0.0 {
                    check(
                        target == -1.0,
                        6,
                        "target_processing_time",
                        "a negative time other than -1",
                    )?;
                    (None, None)
                } else {
                    check(
                        target <= MAX_DURATION_S,
                        6,
                        "target_processing_time",
                        TOO_LONG,
                    )?;
                    let (c, w) = split(SimDuration::from_secs_f64(target), self.cpu_fraction);
                    (Some(c), Some(w))
                };
                let function = match self.function_by {
                    FunctionBy::Path => logs::alb_path(field(REQUEST, "request")?, self.path_depth),
                    FunctionBy::Host => logs::alb_host(field(REQUEST, "request")?),
                    FunctionBy::TargetGroup => {
                        logs::alb_target_group(field(TARGET_GROUP, "target_group_arn")?)
                    }
                };
                check(
                    !function.is_empty(),
                    REQUEST,
                    "request",
                    "no function name in the entry (an empty host or path)",
                )?;
                Ok(Some(Row {
                    t: (i128::from(ns) - i128::from(self.origin_ns)) as f64 / 1e9,
                    function: std::borrow::Cow::Borrowed(function),
                    cpu,
                    wait,
                    memory_mb: None,
                    ns,
                    init: false,
                }))
            }
            Format::LambdaReport => {
                let (stamp, message, stamp_col, stamp_name) = match self.layout {
                    Layout::Lines => {
                        let line = field(0, "line")?;
                        if !line.contains("REPORT RequestId:") {
                            return Ok(None);
                        }
                        // The leading timestamp, then the message.
                        let stamp = line.split([' ', '\t']).next().unwrap_or_default();
                        (stamp, line, 0, "timestamp")
                    }
                    _ => {
                        let message = field(self.message, "@message")?;
                        if !message.contains("REPORT RequestId:") {
                            return Ok(None);
                        }
                        let name = if self.layout == Layout::Json {
                            "timestamp"
                        } else {
                            "@timestamp"
                        };
                        (field(self.stamp, name)?, message, self.stamp, name)
                    }
                };
                let message_col = if self.layout == Layout::Lines {
                    0
                } else {
                    self.message
                };
                let report = match logs::parse_report(message) {
                    Some(Ok(r)) => r,
                    Some(Err((column, why))) => {
                        return Err(RowFault {
                            column,
                            value: Some(message_col),
                            why,
                        });
                    }
                    None => return Ok(None),
                };
                let end = logs::parse_utc_ns(stamp).ok_or(RowFault {
                    column: stamp_name,
                    value: Some(stamp_col),
                    why: NOT_A_TIMESTAMP,
                })?;
                let too_long = |ms: f64| ms > MAX_DURATION_S * 1e3;
                check(
                    !too_long(report.duration_ms),
                    message_col,
                    "Duration",
                    TOO_LONG,
                )?;
                let init_ms = report.init_ms.unwrap_or(0.0);
                check(!too_long(init_ms), message_col, "Init Duration", TOO_LONG)?;
                let duration = SimDuration::from_millis_f64(report.duration_ms);
                let init = SimDuration::from_millis_f64(init_ms);
                // The REPORT line is written as the invocation ends.
                let ns = end - duration.0 as i64 - init.0 as i64;
                let memory_mb = match report.memory_mb {
                    Some(m) => {
                        check(
                            (1.0..=1e6).contains(&m),
                            message_col,
                            "Memory Size",
                            "memory must be between 1 and 1000000 MB",
                        )?;
                        Some(lambda_memory(m))
                    }
                    None => None,
                };
                let function = match self.log.map(|c| rec.get(c).map_or("", trim)) {
                    Some(log) if !log.is_empty() => logs::function_of_log(log),
                    _ => self.file_fn.as_str(),
                };
                let (cpu, wait) = split(duration, self.cpu_fraction);
                Ok(Some(Row {
                    t: (i128::from(ns) - i128::from(self.origin_ns)) as f64 / 1e9,
                    function: std::borrow::Cow::Borrowed(function),
                    cpu: Some(cpu),
                    wait: Some(wait),
                    memory_mb,
                    ns,
                    init: report.init_ms.is_some(),
                }))
            }
            Format::Azure2019 => unreachable!(),
        }
    }
}

/// What is wrong with a row: cheap to make, so that parsing good rows stays fast.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowFault {
    column: &'static str,
    /// The offending field's position, to quote its value; `None` for a
    /// field the row does not have (reported with the row's field count).
    value: Option<usize>,
    why: &'static str,
}

impl RowFault {
    /// Field `column` is not in the row.
    fn missing(column: &'static str) -> RowFault {
        RowFault {
            column,
            value: None,
            why: "the row has too few columns",
        }
    }

    /// The error for this fault in row `rec` of `file`.
    pub(super) fn error(self, rec: &super::csv_lines::Record, file: &Path) -> Error {
        let Some(c) = self.value else {
            // A field the row does not have: at the row's end.
            let col = column_of(rec, rec.len());
            let at = (rec.line(), col);
            return missing_field_error(file, at, self.column, self.why, rec.len());
        };
        let value = rec.get(c).map_or("", trim);
        row_error_at(
            file,
            (rec.line(), column_of(rec, c)),
            self.column,
            value,
            self.why,
        )
    }
}

/// The 1-based column where field `i` of `rec` starts on its line (past
/// the line's end for `i` = the field count): each field before it and one
/// separator. Exact for unquoted fields; a quoted field before it counts
/// its two quotes short.
fn column_of(rec: &super::csv_lines::Record, i: usize) -> u64 {
    let before: usize = rec.iter().take(i).map(|f| f.len() + 1).sum();
    if i >= rec.len() {
        // Just past the line's last byte (no separator after it).
        before.max(1) as u64
    } else {
        before as u64 + 1
    }
}

/// `str::trim`, skipping the Unicode scan for the usual field with no
/// space at either end.
#[inline]
pub(super) fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// Why a number field could not be read: a byte, returned beside the
/// value in registers, where a [`RowFault`] (48 bytes) went through memory
/// on every field; the fault is made from it only when there is one.
#[derive(Debug, Clone, Copy)]
enum NumberFault {
    Missing,
    NotFinite,
    NotANumber,
}

impl NumberFault {
    #[cold]
    fn fault(self, c: usize, column: &'static str) -> RowFault {
        let why = match self {
            NumberFault::Missing => return RowFault::missing(column),
            NumberFault::NotFinite => "not a finite number",
            NumberFault::NotANumber => "not a number",
        };
        RowFault {
            column,
            value: Some(c),
            why,
        }
    }
}

/// Field `c` of `rec` as a finite number, trimmed as [`trim`] trims. The
/// field's bytes are read as they lie: fields are cut at commas, so the
/// `str` slicing's check for a character boundary could never fail.
#[inline]
fn number_in(rec: &super::csv_lines::Record, c: usize) -> std::result::Result<f64, NumberFault> {
    let b = rec.bytes(c).ok_or(NumberFault::Missing)?;
    let v = match (b.first(), b.last()) {
        (Some(x), Some(y)) if x.is_ascii_graphic() && y.is_ascii_graphic() => parse_f64_bytes(b),
        // Space around it, or empty: trimmed as a `str`.
        _ => parse_f64(trim(rec.get(c).ok_or(NumberFault::Missing)?)),
    };
    match v {
        Some(v) if v.is_finite() => Ok(v),
        Some(_) => Err(NumberFault::NotFinite),
        None => Err(NumberFault::NotANumber),
    }
}

/// Parses a number as `str::parse::<f64>` does, with a fast path for plain
/// decimals (`123`, `0.25`, `-1.5`) of at most 19 digits and no exponent
/// whose digits form an integer of at most 2^53: that integer and the
/// scale, a power of ten up to 10^19 (exact in an `f64` up to 10^22), so
/// one correctly rounded division gives the correctly rounded value, the
/// same one `parse` gives (the fast path of Clinger's algorithm). Anything
/// else goes to `parse`.
#[inline]
pub(super) fn parse_f64(s: &str) -> Option<f64> {
    parse_f64_bytes(s.as_bytes())
}

/// [`parse_f64`] of a field's bytes; bytes that are not UTF-8 are not a number.
#[inline]
fn parse_f64_bytes(b: &[u8]) -> Option<f64> {
    const POW10: [f64; 20] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19,
    ];
    let (negative, body) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    // The integer digits, then those after a point: two tight loops.
    let mut mantissa: u64 = 0;
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
        i += 1;
    }
    let (mut scale, mut dot) = (0, false);
    if body.get(i) == Some(&b'.') {
        dot = true;
        i += 1;
        let start = i;
        while let Some(&c) = body.get(i) {
            let digit = c.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
            i += 1;
        }
        scale = i - start;
    }
    let digits = body.len() - usize::from(dot);
    // Anything but digits and one point; 19 digits cannot wrap a u64
    // (10^19 - 1 < 2^64), and an integer up to 2^53 is exact in an f64.
    // The scale is at most the digits, so within `POW10`.
    if i < body.len() || digits == 0 || digits > 19 || mantissa > 1 << 53 {
        return parse_slow(b);
    }
    let v = mantissa as f64 / POW10[scale];
    Some(if negative { -v } else { v })
}

/// What `parse_f64` hands to `str::parse` (exponents, long or odd forms).
#[cold]
#[inline(never)]
fn parse_slow(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b).ok()?.parse().ok()
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
            "9007199254740992",
            "900719925474099.2",
            "0.9007199254740993",
            "1234567890123456789",
            "9999999999999999999",
            "18446744073709551616",
            "0.0000000000000000001",
            "0000000000000000001",
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

    /// A number field is read as its trimmed text parses, whether it takes
    /// the bytes' path (nothing to trim) or the `str` one, and a missing,
    /// empty, infinite or odd field gives the fault the `str` path gave.
    #[test]
    fn number_fields_read_as_their_trimmed_text() {
        for f in [
            "2.5",
            " 2.5",
            "2.5 ",
            "\t-0.25\t",
            "\u{a0}7\u{a0}",
            "",
            " ",
            "1e3",
            "inf",
            "-inf",
            "NaN",
            "1e400",
            "abc",
            "1.2.3",
            "\u{e9}",
        ] {
            let mut rec = super::super::csv_lines::Record::new();
            rec.push_field("0");
            rec.push_field(f);
            let want = match f.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v.to_bits()),
                Ok(_) => Err("NotFinite"),
                Err(_) => Err("NotANumber"),
            };
            let got = number_in(&rec, 1).map(f64::to_bits).map_err(|e| match e {
                NumberFault::Missing => "Missing",
                NumberFault::NotFinite => "NotFinite",
                NumberFault::NotANumber => "NotANumber",
            });
            assert_eq!(got, want, "{f:?}");
            assert!(matches!(number_in(&rec, 2), Err(NumberFault::Missing)));
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
        fn parse_f64_agrees_with_std_on_any_text(s in "[0-9.+eE ,a\\-]{0,30}") {
            let ours = parse_f64(&s).map(f64::to_bits);
            let std = s.parse::<f64>().ok().map(f64::to_bits);
            prop_assert_eq!(ours, std);
        }
    }
}
