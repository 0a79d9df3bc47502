//! The scan of a trace, at validation: every row checked, the functions and
//! their invocation counts learnt, `functions` / `top_n` applied.

use std::cmp::Reverse;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use super::azure2019::{minute_columns, parse_counts, read_app_memory, read_durations};
use super::records::{Next, Records};
use super::rows::Columns;
use super::{
    Format, FunctionBy, NameIndex, OrdF64, Paths, REORDER_WINDOW, ROW_FUNCTIONS_MAX, Reorder,
    Spread, Staged, StagedRow, Trace, TraceFunction, TraceSpec, row_error,
};
use crate::engine::CancelToken;
use crate::error::{FieldError, FieldPath, Result};
use crate::time::SimTime;

impl TraceSpec {
    /// Validates the fields and scans the trace. Paths are relative to `base`
    /// (the scenario file's folder). Returns the trace with its functions.
    pub fn scan(
        &self,
        path: &FieldPath,
        base: &Path,
        warn: &mut Vec<String>,
        cancel: &CancelToken,
    ) -> Result<std::result::Result<Trace, FieldError>> {
        let resolve = |p: &Paths, key: &str| -> std::result::Result<Vec<PathBuf>, FieldError> {
            let mut out = Vec::new();
            for s in p.list() {
                out.extend(expand(base, &s).map_err(|why| path.key(key).error(why))?);
            }
            Ok(out)
        };
        let paths = match resolve(&self.path, "path") {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        if paths.is_empty() {
            return Ok(Err(path.key("path").error("no trace files given")));
        }
        if self.format != Format::Alb && (self.function_by.is_some() || self.path_depth.is_some()) {
            return Ok(Err(path
                .key("function_by")
                .error("function_by and path_depth belong to format = \"alb\"")));
        }
        if self.path_depth.is_some() && self.function_by.is_some_and(|f| f != FunctionBy::Path) {
            return Ok(Err(path.key("path_depth").error(
                "path_depth cuts paths: it goes with function_by = \"path\"",
            )));
        }
        let path_depth = match self.path_depth {
            None => None,
            Some(d) => match path.int_in("path_depth", d, 1, 1000) {
                Ok(v) => Some(v),
                Err(e) => return Ok(Err(e)),
            },
        };
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
        let cpu_fraction =
            match path.num_in("cpu_fraction", self.cpu_fraction.unwrap_or(1.0), 0.0, 1.0) {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
        let recorded_memory_mb = match self.recorded_memory_mb {
            None => None,
            Some(mb) => match path.int_in("recorded_memory_mb", mb, 128, 10_240) {
                Ok(v) => Some(v as u16),
                Err(e) => return Ok(Err(e)),
            },
        };
        let mut trace = Trace {
            format: self.format,
            paths,
            durations: match self
                .durations_path
                .as_ref()
                .map(|p| resolve(p, "durations_path"))
            {
                Some(Err(e)) => return Ok(Err(e)),
                Some(Ok(p)) => p,
                None => Vec::new(),
            },
            memory: match self.memory_path.as_ref().map(|p| resolve(p, "memory_path")) {
                Some(Err(e)) => return Ok(Err(e)),
                Some(Ok(p)) => p,
                None => Vec::new(),
            },
            time_scale,
            start_s,
            end_s,
            rate_scale,
            spread: self.spread.unwrap_or(Spread::Uniform),
            skip_bad_rows: self.skip_bad_rows.unwrap_or(false),
            cpu_fraction,
            recorded_memory_mb,
            index: NameIndex::default(),
            functions: Vec::new(),
            last_arrival: SimTime::ZERO,
            rows: 0,
            skipped: 0,
            stamps: Vec::new(),
            content: Vec::new(),
            function_by: self.function_by.unwrap_or(FunctionBy::Path),
            path_depth,
            origin_ns: 0,
            file_starts: Vec::new(),
            observed_cold_starts: 0,
            in_order: true,
            row_functions: Vec::new(),
            row_functions_from: 0,
            file_rows: Vec::new(),
        };
        let windowed = self.start_s.is_some() || self.end_s.is_some();
        if self.format.wall_clock() && windowed {
            // start_s and end_s count from the earliest arrival: found first.
            trace.origin_ns = earliest_arrival(&trace, cancel)?;
        }
        let opts = trace.row_options();
        // Every function seen, in order of first appearance, with its count.
        let mut seen = Seen::default();
        let mut seen_index = NameIndex::default();
        // Rows of the csv-like formats, noted DEPTH rows after their read
        // once the functions are many.
        let mut staged: Staged<(Option<u32>, u64)> = Staged::default();
        let note = |name: &str,
                    hash: u64,
                    memory_mb: Option<u32>,
                    n: u64,
                    cold: u64,
                    seen: &mut Seen,
                    seen_index: &mut NameIndex|
         -> usize {
            // No allocation per row for known functions.
            let (i, new) = seen_index.get_or_insert_hashed(name, hash);
            if new {
                seen.functions.push(TraceFunction {
                    name: name.to_string(),
                    invocations: 0,
                    durations: None,
                    memory_mb: None,
                    observed_cold_starts: 0,
                    app: None,
                });
                seen.tally.push(Tally::default());
            }
            let t = &mut seen.tally[i];
            t.invocations += n;
            t.cold_starts += cold;
            if memory_mb.is_some() {
                t.memory_mb = memory_mb;
            }
            i
        };
        let note_staged =
            |r: &StagedRow<(Option<u32>, u64)>, seen: &mut Seen, index: &mut NameIndex| {
                let (memory_mb, cold) = r.item;
                note(&r.name, r.hash, memory_mb, 1, cold, seen, index)
            };
        // Rows are noted in the order they are read: the first one kept,
        // the one that brings the FROM_NAMES-th name, is noted as it is
        // read, and every row after it is staged.
        let mut row_functions = RowFunctions::new(ROW_FUNCTIONS_MAX);
        // Rows in the window read so far.
        let mut window_rows = 0usize;
        let mut last_t = f64::NEG_INFINITY;
        // Wall-clock formats: the first and last arrival in the window [ns],
        // and each file's latest arrival.
        let (mut first_ns, mut last_ns) = (i64::MAX, i64::MIN);
        let mut file_ends: Vec<i64> = Vec::new();
        match self.format {
            Format::Csv | Format::Azure2021 | Format::Alb | Format::LambdaReport => {
                let default_fn = trace.paths[0]
                    .file_stem()
                    .map_or("trace".to_string(), |s| s.to_string_lossy().into_owned());
                // The replay's reorder buffer, simulated on times alone; it
                // runs on across files, as the replay's does.
                let mut window: Reorder<OrdF64> = Reorder::default();
                let mut released = f64::NEG_INFINITY;
                // The latest arrival in the window so far, for `in_order`.
                let mut latest = f64::NEG_INFINITY;
                let mut records = Records::new(&trace.paths, trace.skip_bad_rows, cancel)
                    .with_layout(self.format.layout());
                let mut cols = None;
                loop {
                    match records.advance()? {
                        Next::End => break,
                        Next::File(_) => {
                            let (file, headers) = (records.file(), records.headers());
                            let c =
                                Columns::of(self.format, headers, file, records.layout(), &opts)?;
                            trace.file_starts.push(None);
                            trace.file_rows.push(window_rows);
                            file_ends.push(i64::MIN);
                            if self.format.wall_clock() {
                                // Files of wall-clock logs overlap in time (one
                                // per load balancer node): the replay merges
                                // them by time, so order is checked per file.
                                window = Reorder::default();
                                released = f64::NEG_INFINITY;
                                latest = f64::NEG_INFINITY;
                            }
                            let ignored = c.ignored(headers);
                            if !ignored.is_empty() {
                                warn.push(format!(
                                    "note: {}: ignoring column(s) {}",
                                    file.display(),
                                    ignored.join(", ")
                                ));
                            }
                            cols = Some(c);
                            continue;
                        }
                        Next::Record => {}
                    }
                    let (rec, file) = (&records.record, records.file());
                    let cols = cols.as_ref().expect("a file's columns before its rows");
                    {
                        let row = match cols.parse(rec, &default_fn) {
                            Ok(Some(r)) => r,
                            Ok(None) => continue,
                            Err(_) if trace.skip_bad_rows => {
                                trace.skipped += 1;
                                continue;
                            }
                            Err(fault) => return Err(fault.error(rec, file)),
                        };
                        if self.format.wall_clock() {
                            let start = trace.file_starts.last_mut().expect("a file's slot");
                            *start = Some(start.map_or(row.ns, |s| s.min(row.ns)));
                            let end = file_ends.last_mut().expect("a file's slot");
                            *end = (*end).max(row.ns);
                        }
                        if row.t < trace.start_s || row.t >= trace.end_s {
                            continue;
                        }
                        if row.t < released {
                            return Err(row_error(
                                file,
                                rec.line(),
                                "timestamp",
                                &row.t.to_string(),
                                &format!(
                                    "this row is more than {REORDER_WINDOW} rows out of time order \
                                     (an arrival at {released} s was already replayed); sort the \
                                     file by arrival time"
                                ),
                            ));
                        }
                        window_rows += 1;
                        trace.in_order &= row.t >= latest;
                        latest = latest.max(row.t);
                        window.push(OrdF64(row.t));
                        if window.len() > REORDER_WINDOW {
                            released = window.take_min(|_| false).expect("non-empty").0;
                        }
                        last_t = last_t.max(row.t);
                        first_ns = first_ns.min(row.ns);
                        last_ns = last_ns.max(row.ns);
                        if !staged.wanted(&seen_index) {
                            let hash = NameIndex::hash_of(&row.function);
                            let (memory_mb, cold) = (row.memory_mb, u64::from(row.init));
                            let (name, index) = (&row.function, &mut seen_index);
                            let i = note(name, hash, memory_mb, 1, cold, &mut seen, index);
                            if seen_index.len() >= Staged::<()>::FROM_NAMES {
                                // The row that brings the FROM_NAMES-th name:
                                // every row after it is staged.
                                row_functions.start(window_rows - 1);
                                row_functions.push(i);
                            }
                            continue;
                        }
                        let likely = staged.push(
                            &seen_index,
                            &row.function,
                            (row.memory_mb, u64::from(row.init)),
                        );
                        // Its counters, asked for while the rows between are read.
                        if let Some(t) = likely.and_then(|i| seen.tally.get(i)) {
                            crate::engine::prefetch(t);
                        }
                        if let Some(r) = staged.ready() {
                            let i = note_staged(&r, &mut seen, &mut seen_index);
                            row_functions.push(i);
                            staged.recycle(r.name);
                        }
                    }
                }
                while let Some(r) = staged.oldest() {
                    let i = note_staged(&r, &mut seen, &mut seen_index);
                    row_functions.push(i);
                }
                trace.skipped += records.skipped;
                // Each file as the scan opened it, for the replay to check.
                trace.stamps = std::mem::take(&mut records.opened);
                trace.content = std::mem::take(&mut records.content);
                if self.format.wall_clock() && trace.paths.len() > 1 {
                    // The replay holds a file open from its earliest to its
                    // latest arrival: at most MAX_OPEN_FILES at once.
                    let mut edges: Vec<(i64, i32)> = Vec::new();
                    for (s, e) in trace.file_starts.iter().zip(&file_ends) {
                        if let Some(s) = s {
                            edges.push((*s, 1));
                            edges.push((*e, -1));
                        }
                    }
                    // At one instant, a file opening counts before one closing.
                    edges.sort_by_key(|&(t, d)| (t, -d));
                    let (mut open, mut most) = (0i32, 0i32);
                    for (_, d) in edges {
                        open += d;
                        most = most.max(open);
                    }
                    if most as usize > super::replay::MAX_OPEN_FILES {
                        return Ok(Err(path.key("path").error(format!(
                            "{most} of the trace's files overlap in time, more than the {} \
                             the replay holds open at once; join the files of each period \
                             into one (e.g. `zcat` an hour's files into one .gz)",
                            super::replay::MAX_OPEN_FILES
                        ))));
                    }
                }
            }
            Format::Azure2019 => {
                let mut records = Records::new(&trace.paths, trace.skip_bad_rows, cancel);
                let (mut day, mut app, mut func, mut minutes) = (0, 0, 0, Vec::new());
                let mut apps: FxHashMap<String, String> = FxHashMap::default();
                loop {
                    match records.advance()? {
                        Next::End => break,
                        Next::File(i) => {
                            day = i;
                            (app, func, minutes) =
                                minute_columns(records.headers(), records.file())?;
                            continue;
                        }
                        Next::Record => {}
                    }
                    {
                        match parse_counts(&records.record, records.file(), func, &minutes) {
                            Ok((name, counts)) => {
                                let mut n = 0u64;
                                for (m, &c) in counts.iter().enumerate() {
                                    let t = day as f64 * 86_400.0 + m as f64 * 60.0;
                                    if c > 0 && t + 60.0 > trace.start_s && t < trace.end_s {
                                        n += u64::from(c);
                                        last_t = last_t.max((t + 60.0).min(trace.end_s));
                                    }
                                }
                                if let Some(a) = records.record.get(app).map(str::trim)
                                    && !apps.contains_key(&name)
                                {
                                    apps.insert(name.clone(), a.to_string());
                                }
                                note(
                                    &name,
                                    NameIndex::hash_of(&name),
                                    None,
                                    n,
                                    0,
                                    &mut seen,
                                    &mut seen_index,
                                );
                            }
                            Err(_) if trace.skip_bad_rows => trace.skipped += 1,
                            Err(e) => return Err(e),
                        }
                    }
                }
                trace.skipped += records.skipped;
                // Each file as the scan opened it, for the replay to check.
                trace.stamps = std::mem::take(&mut records.opened);
                trace.content = std::mem::take(&mut records.content);
                let works = read_durations(&trace.durations, trace.skip_bad_rows, cancel)?;
                let memory =
                    read_app_memory(&trace.memory, &trace.paths, trace.skip_bad_rows, cancel)?;
                // The app memory stands: Azure 2019 rows carry no memory of
                // their own, so `Seen::finish` has none to put over it.
                debug_assert!(seen.tally.iter().all(|t| t.memory_mb.is_none()));
                for f in &mut seen.functions {
                    f.app = apps.get(&f.name).cloned();
                    f.durations = works.get(&f.name).cloned();
                    f.memory_mb = memory.get(&f.name).copied();
                }
            }
        }
        // functions / top_n.
        let mut keep: Vec<TraceFunction> = seen
            .finish()
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
        trace.index = NameIndex::default();
        for f in &keep {
            trace.index.get_or_insert(&f.name);
        }
        if let Some((from, mut rows)) = row_functions.finish()
            && trace.index.len() >= Staged::<()>::FROM_NAMES
        {
            // From order of first appearance (the scan's own index) to the
            // kept functions' order.
            let mut kept = vec![u32::MAX; seen_index.len()];
            for (k, f) in keep.iter().enumerate() {
                let i = seen_index.get(&f.name).expect("a kept function was seen");
                kept[i] = k as u32;
            }
            for r in &mut rows {
                *r = kept[*r as usize];
            }
            trace.row_functions = rows;
            trace.row_functions_from = from;
        }
        trace.observed_cold_starts = keep.iter().map(|f| f.observed_cold_starts).sum();
        trace.functions = keep;
        if self.format.wall_clock() && !windowed {
            // t = 0 at the earliest arrival (of every function: the scan
            // cannot know which top_n keeps until the end).
            trace.origin_ns = first_ns;
            last_t = (i128::from(last_ns) - i128::from(first_ns)) as f64 / 1e9;
        }
        trace.last_arrival = SimTime::from_secs_f64(last_t.max(0.0) / trace.time_scale);
        if trace.skipped > 0 {
            warn.push(format!("note: skipped {} bad trace row(s)", trace.skipped));
        }
        Ok(Ok(trace))
    }
}

/// The trace files a `path` entry names: a file; a folder (every file in it
/// and its subfolders, hidden ones aside, in name order: ALB writes one file
/// per load balancer node per 5 minutes in dated folders); or a glob
/// (`logs/*.log.gz`, `**` for any depth), its matches in name order.
/// Relative to `base`.
fn expand(base: &Path, entry: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let full = base.join(entry);
    if entry.contains(['*', '?', '[']) {
        let pattern = full.to_string_lossy().into_owned();
        let matches = glob::glob(&pattern).map_err(|e| format!("`{entry}`: not a glob: {e}"))?;
        let mut files: Vec<PathBuf> = matches
            .filter_map(|m| m.ok())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(format!("`{entry}` matches no file (in {})", base.display()));
        }
        return Ok(files);
    }
    if full.is_dir() {
        let mut files = Vec::new();
        let mut stack = vec![full.clone()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| format!("{}: cannot list: {e}", dir.display()))?;
            for e in entries.flatten() {
                let p = e.path();
                if e.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                match e.file_type() {
                    Ok(t) if t.is_dir() => stack.push(p),
                    Ok(t) if t.is_file() => files.push(p),
                    _ => {}
                }
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(format!("{}: the folder holds no files", full.display()));
        }
        return Ok(files);
    }
    if !full.exists() {
        let shown = std::path::absolute(&full).unwrap_or_else(|_| full.clone());
        return Err(format!(
            "`{entry}`: no such file: {} (a relative path is read from the scenario's \
             folder{})",
            shown.display(),
            if base.as_os_str().is_empty() {
                String::new()
            } else {
                format!(", {}", base.display())
            }
        ));
    }
    Ok(vec![full])
}

/// The earliest arrival of a wall-clock trace \[ns since the epoch\]: a
/// first pass over the files, for a window counted from it (bad rows are
/// the main pass's to report).
fn earliest_arrival(trace: &Trace, cancel: &CancelToken) -> Result<i64> {
    let opts = trace.row_options();
    let mut records = Records::new(&trace.paths, true, cancel).with_layout(trace.format.layout());
    let default_fn = String::new();
    let mut cols = None;
    let mut first = i64::MAX;
    loop {
        match records.advance()? {
            Next::End => break,
            Next::File(_) => {
                cols = Some(Columns::of(
                    trace.format,
                    records.headers(),
                    records.file(),
                    records.layout(),
                    &opts,
                )?);
            }
            Next::Record => {
                let cols = cols.as_ref().expect("a file's columns before its rows");
                if let Ok(Some(row)) = cols.parse(&records.record, &default_fn) {
                    first = first.min(row.ns);
                }
            }
        }
    }
    Ok(if first == i64::MAX { 0 } else { first })
}

/// The functions a scan has seen, in order of first appearance, and their
/// counts kept apart: the counts are what every row updates, and at 24 bytes
/// a function (a [`TraceFunction`] takes over 100) those of 100,000
/// functions take 2.4 MB, so a row's update finds them in the cache (and
/// their page in the TLB) far more often.
#[derive(Default)]
struct Seen {
    functions: Vec<TraceFunction>,
    tally: Vec<Tally>,
}

/// The functions of the rows a scan notes, for [`Trace::row_functions`]:
/// from the first row that brings [`Staged::FROM_NAMES`] names (with fewer,
/// the replay's lookups stay in the cache), as long as there are at most
/// `max` of them.
struct RowFunctions {
    /// `None` past `max` rows.
    rows: Option<Vec<u32>>,
    /// The number of the first row kept, among the rows in the window.
    from: usize,
    max: usize,
}

impl RowFunctions {
    fn new(max: usize) -> Self {
        RowFunctions {
            rows: Some(Vec::new()),
            from: 0,
            max,
        }
    }

    /// The rows kept start at row `row` among the rows in the window.
    fn start(&mut self, row: usize) {
        self.from = row;
    }

    /// The next row's function, its index in order of first appearance.
    #[inline]
    fn push(&mut self, function: usize) {
        let Some(v) = &mut self.rows else { return };
        if v.len() == self.max {
            self.rows = None;
        } else {
            v.push(function as u32);
        }
    }

    /// The number of the first row kept and the functions from it on, if
    /// any were kept.
    fn finish(self) -> Option<(usize, Vec<u32>)> {
        self.rows.filter(|v| !v.is_empty()).map(|v| (self.from, v))
    }
}

/// A function's counts during a scan (see [`Seen`]).
#[derive(Default, Clone, Copy)]
struct Tally {
    invocations: u64,
    cold_starts: u64,
    /// The last memory a row gave.
    memory_mb: Option<u32>,
}

impl Seen {
    /// The functions with their counts.
    fn finish(self) -> Vec<TraceFunction> {
        let mut functions = self.functions;
        for (f, t) in functions.iter_mut().zip(self.tally) {
            f.invocations = t.invocations;
            f.observed_cold_starts = t.cold_starts;
            if t.memory_mb.is_some() {
                f.memory_mb = t.memory_mb;
            }
        }
        functions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_functions_start_at_their_first_row_and_give_up_past_their_cap() {
        let kept = |rows: usize, max: usize| {
            let mut r = RowFunctions::new(max);
            r.start(40);
            for row in 40..40 + rows {
                r.push(row % 3);
            }
            r.finish()
        };
        assert_eq!(kept(0, 10), None);
        assert_eq!(kept(4, 10), Some((40, vec![1, 2, 0, 1])));
        // Exactly `max` rows kept; one more and none are.
        assert_eq!(kept(3, 3).map(|k| k.1.len()), Some(3));
        assert_eq!(kept(4, 3), None);
    }

    fn function(name: &str, memory_mb: Option<u32>) -> TraceFunction {
        TraceFunction {
            name: name.to_string(),
            invocations: 0,
            durations: None,
            memory_mb,
            observed_cold_starts: 0,
            app: None,
        }
    }

    /// The counts kept apart come back onto their functions, in order; a
    /// memory from the rows replaces the one the function had, and no
    /// memory from the rows keeps it (an Azure 2019 app memory, set on the
    /// function before the counts come back).
    #[test]
    fn counts_kept_apart_come_back_onto_their_functions() {
        let seen = Seen {
            functions: vec![function("a", None), function("b", Some(512))],
            tally: vec![
                Tally {
                    invocations: 3,
                    cold_starts: 1,
                    memory_mb: Some(1024),
                },
                Tally {
                    invocations: 7,
                    cold_starts: 0,
                    memory_mb: None,
                },
            ],
        };
        let got: Vec<_> = seen
            .finish()
            .into_iter()
            .map(|f| (f.name, f.invocations, f.observed_cold_starts, f.memory_mb))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".to_string(), 3, 1, Some(1024)),
                ("b".to_string(), 7, 0, Some(512))
            ]
        );
    }
}
