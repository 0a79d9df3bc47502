//! The replay of a scanned trace: its requests, in time order, streamed
//! through a bounded reorder buffer. A file that cannot be read, or no longer
//! holds what the scan found, ends the stream with an error in its [`Fault`],
//! which fails the run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use rand::RngExt;

use super::azure2019::{minute_columns, parse_counts};
use super::records::{Next, Records};
use super::rows::{Columns, split};
use super::{Format, REORDER_WINDOW, Reorder, Spread, Staged, StagedRow, Trace};
use crate::engine::CancelToken;
use crate::error::{Error, Result};
use crate::rng::{SimRng, stream};
use crate::time::{SimDuration, SimTime};
use crate::workload::{Request, Sampler, WorkBasis};

/// One arrival waiting in a reorder buffer, ordered by (time, sequence).
/// One entry per row, so the buffer stays bounded by the reorder window
/// whatever `rate_scale` is.
#[derive(Debug, Clone, Copy)]
struct Pending {
    t: SimTime,
    seq: u64,
    function: u32,
    /// What the row recorded.
    rec: Recorded,
    /// Copies still to hand out under `rate_scale`.
    copies: u32,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.t, self.seq).cmp(&(o.t, o.seq))
    }
}

/// What a row recorded: its CPU part, wait and memory.
#[derive(Debug, Clone, Copy, Default)]
struct Recorded {
    cpu: Option<SimDuration>,
    wait: Option<SimDuration>,
    memory_mb: Option<u16>,
}

/// Rows between two looks at the cancel token during a replay.
const CANCEL_ROWS: u64 = 4096;

/// The replay of a trace: requests in time order.
pub struct TraceStream {
    trace: std::sync::Arc<Trace>,
    /// Per-function work and wait where the trace gives none (for Azure
    /// 2019 with a durations file, the work drawn is a recorded duration).
    work: Vec<Sampler>,
    rate_rng: SimRng,
    spread_rng: SimRng,
    /// azure2019: the day files.
    records: Records,
    /// The other formats: their rows.
    rows_in: RowsIn,
    /// Rows replayed in the window, of kept functions (csv, azure2021): at
    /// the end they must be the scan's count.
    rows: u64,
    /// Where a read error is left for the run to report.
    fault: Fault,
    /// Looked at every [`CANCEL_ROWS`] rows: a row of a log can take a
    /// microsecond to parse, so the event loop's own checkpoint (every
    /// 65,536 steps) could leave a stop waiting 100 ms.
    cancel: CancelToken,
    buffer: Reorder<Pending>,
    seq: u64,
    next_id: u64,
    last: SimTime,
    done: bool,
    /// azure2019: counts of the current day per kept function, the day and
    /// the next minute.
    day_counts: Vec<Vec<u32>>,
    day: usize,
    /// The next day file, already opened at the end of the previous one.
    next_day: Option<usize>,
    minute: usize,
}

/// A row of a kept function in the window, as the replay takes it.
#[derive(Debug, Clone, Copy)]
struct KeptRow {
    /// Arrival in trace time \[s\], and (wall-clock formats) in ns since the epoch.
    t: f64,
    ns: i64,
    function: u32,
    rec: Recorded,
}

/// The rows of a list of files read in sequence (every format's, and a
/// wall-clock trace of one file).
struct FileRows {
    records: Records,
    columns: Option<Columns>,
    /// The name of rows without a `function` column: the first file's stem.
    default_fn: String,
    /// Whether rows wait for their name's lookup ([`Staged::FROM_NAMES`]).
    staging: bool,
    /// The number of the next row in the window (see [`Trace::file_rows`]).
    window_row: usize,
    /// Rows read, waiting for their name's lookup.
    staged: Staged<KeptRow>,
    /// The end of the rows, or a read error, reached by the reading ahead.
    ended: bool,
    error: Option<Error>,
}

impl FileRows {
    /// The rows of `paths`, whose first row in the window is row
    /// `first_row` of the trace's (see [`Trace::file_rows`]).
    fn new(
        trace: &Trace,
        paths: &[std::path::PathBuf],
        stamps: &[super::records::Stamp],
        first_row: usize,
    ) -> Self {
        FileRows {
            records: Records::new(paths, trace.skip_bad_rows, &CancelToken::never())
                .with_layout(trace.format.layout())
                .checked(stamps),
            columns: None,
            default_fn: trace.paths[0]
                .file_stem()
                .map_or("trace".to_string(), |s| s.to_string_lossy().into_owned()),
            staging: trace.index.len() >= Staged::<KeptRow>::FROM_NAMES,
            window_row: first_row,
            staged: Staged::default(),
            ended: false,
            error: None,
        }
    }

    /// The next row of a kept function in the window; `None` at the end.
    /// With many names, rows are read [`Staged::DEPTH`] ahead of their
    /// name's lookup (a read error waits its turn behind the rows read
    /// before it).
    fn next(&mut self, trace: &Trace) -> Result<Option<KeptRow>> {
        loop {
            if !self.staging {
                return Ok(self.read(trace)?.flatten());
            }
            // Every row from here on has its function from the scan: the
            // rows staged before it are handed out first, then rows are no
            // longer staged.
            let known = trace
                .row_functions_start()
                .is_some_and(|from| self.window_row >= from);
            if known && self.error.is_none() && !self.ended && self.staged.is_empty() {
                self.staging = false;
                continue;
            }
            while !known && self.error.is_none() && !self.ended {
                match self.read(trace) {
                    Ok(Some(_)) => {}
                    Ok(None) => self.ended = true,
                    Err(e) => self.error = Some(e),
                }
                if let Some(row) = self.staged.ready()
                    && let Some(kept) = self.resolve(trace, row)
                {
                    return Ok(Some(kept));
                }
            }
            let Some(row) = self.staged.oldest() else {
                return self.error.take().map_or(Ok(None), Err);
            };
            if let Some(kept) = self.resolve(trace, row) {
                return Ok(Some(kept));
            }
        }
    }

    /// `row` with its function's index, if it is a kept function.
    #[inline]
    fn resolve(&mut self, trace: &Trace, row: StagedRow<KeptRow>) -> Option<KeptRow> {
        let function = trace.index.get_hashed(&row.name, row.hash);
        self.staged.recycle(row.name);
        Some(KeptRow {
            function: function? as u32,
            ..row.item
        })
    }

    /// Reads rows until one in the window is staged (`Some(None)`) or,
    /// when rows are not staged, one of a kept function is read
    /// (`Some(Some(row))`); `None` at the end.
    fn read(&mut self, trace: &Trace) -> Result<Option<Option<KeptRow>>> {
        loop {
            match self.records.advance()? {
                Next::End => return Ok(None),
                Next::File(_) => {
                    let (file, headers) = (self.records.file(), self.records.headers());
                    self.columns = Some(Columns::of(
                        trace.format,
                        headers,
                        file,
                        self.records.layout(),
                        &trace.row_options(),
                    )?);
                    continue;
                }
                Next::Record => {}
            }
            let cols = self
                .columns
                .as_ref()
                .expect("a file's columns before its rows");
            let row = match cols.parse(&self.records.record, &self.default_fn) {
                Ok(Some(row)) => row,
                Ok(None) => continue,
                // Rows the scan skipped as bad, skipped again.
                Err(_) if trace.skip_bad_rows => continue,
                Err(fault) => {
                    let e = fault.error(&self.records.record, self.records.file());
                    return Err(changed(self.records.file(), &e.to_string()));
                }
            };
            if row.t < trace.start_s || row.t >= trace.end_s {
                continue;
            }
            let k = self.window_row;
            self.window_row += 1;
            let function = if self.staging {
                0
            } else if let Some(from) = trace.row_functions_start() {
                match trace.row_functions.get(k.wrapping_sub(from)) {
                    Some(&u32::MAX) => continue,
                    Some(&f) => f,
                    None => {
                        let why = "more rows in the window than the scan found";
                        return Err(changed(self.records.file(), why));
                    }
                }
            } else {
                match trace.index.get(&row.function) {
                    Some(f) => f as u32,
                    None => continue,
                }
            };
            let kept = KeptRow {
                t: row.t,
                ns: row.ns,
                function,
                rec: Recorded {
                    cpu: row.cpu,
                    wait: row.wait,
                    // Lambda memory is at most 10,240 MB.
                    memory_mb: row.memory_mb.map(|m| m as u16),
                },
            };
            if !self.staging {
                return Ok(Some(Some(kept)));
            }
            let _ = self.staged.push(&trace.index, &row.function, kept);
            return Ok(Some(None));
        }
    }
}

/// Most files of a wall-clock trace the replay holds open at once (files
/// whose times overlap).
pub const MAX_OPEN_FILES: usize = 1024;

/// The rows of a wall-clock trace's files merged by time: ALB writes a file
/// per load balancer node per 5 minutes, so files overlap. A file is opened
/// once the merge reaches its earliest arrival (the scan's), and each step
/// takes the earliest next row of the open files; the reorder buffer then
/// sorts what each file holds out of order.
struct MergedRows {
    /// (file index, earliest arrival) in order of earliest arrival.
    files: Vec<(usize, i64)>,
    next: usize,
    /// Open files and their next row, by slot (a slot is free once its file ends).
    open: Vec<Option<(FileRows, KeptRow)>>,
    /// The open files' next rows, earliest first: (arrival, file index, slot).
    heads: BinaryHeap<Reverse<(i64, usize, usize)>>,
    free: Vec<usize>,
}

impl MergedRows {
    fn new(trace: &Trace) -> Self {
        let mut files: Vec<(usize, i64)> = trace
            .file_starts
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .collect();
        files.sort_by_key(|&(i, s)| (s, i));
        MergedRows {
            files,
            next: 0,
            open: Vec::new(),
            heads: BinaryHeap::new(),
            free: Vec::new(),
        }
    }

    /// The earliest next row of the open files; at equal times, the file
    /// first in order. Files open as the merge reaches their earliest
    /// arrival (the scan refused more than [`MAX_OPEN_FILES`] at once).
    fn next(&mut self, trace: &Trace) -> Result<Option<KeptRow>> {
        while let Some(&(i, start)) = self.files.get(self.next) {
            if self.heads.peek().is_some_and(|Reverse(h)| h.0 < start) {
                break;
            }
            self.next += 1;
            let mut rows = FileRows::new(
                trace,
                std::slice::from_ref(&trace.paths[i]),
                std::slice::from_ref(&trace.stamps[i]),
                trace.file_rows[i],
            );
            if let Some(first) = rows.next(trace)? {
                let slot = self.free.pop().unwrap_or(self.open.len());
                if slot == self.open.len() {
                    self.open.push(None);
                }
                self.open[slot] = Some((rows, first));
                self.heads.push(Reverse((first.ns, i, slot)));
            }
        }
        let Some(Reverse((_, i, slot))) = self.heads.pop() else {
            return Ok(None);
        };
        let (rows, row) = self.open[slot].as_mut().expect("a head's file is open");
        let taken = *row;
        match rows.next(trace)? {
            Some(next) => {
                *row = next;
                self.heads.push(Reverse((next.ns, i, slot)));
            }
            None => {
                self.open[slot] = None;
                self.free.push(slot);
            }
        }
        Ok(Some(taken))
    }
}

/// Where the replay's rows come from.
enum RowsIn {
    One(Box<FileRows>),
    Merged(MergedRows),
}

/// A replay's read error, shared with the run that reports it.
pub type Fault = std::sync::Arc<std::sync::Mutex<Option<Error>>>;

impl TraceStream {
    /// The replay of `trace`; a read error ends the stream and is left in
    /// its [`TraceStream::fault`].
    pub fn new(
        trace: std::sync::Arc<Trace>,
        work: Vec<Sampler>,
        seed: u64,
        replication: u32,
    ) -> Self {
        let azure2019 = trace.format == Format::Azure2019;
        let days: &[std::path::PathBuf] = if azure2019 { &trace.paths } else { &[] };
        let rows_in = if trace.format.wall_clock() && trace.paths.len() > 1 {
            RowsIn::Merged(MergedRows::new(&trace))
        } else if azure2019 {
            RowsIn::One(Box::new(FileRows::new(&trace, &[], &[], 0)))
        } else {
            RowsIn::One(Box::new(FileRows::new(
                &trace,
                &trace.paths,
                &trace.stamps,
                0,
            )))
        };
        TraceStream {
            records: Records::new(days, trace.skip_bad_rows, &CancelToken::never())
                .checked(&trace.stamps),
            rows_in,
            trace,
            work,
            rate_rng: stream(seed, replication, "workload/trace/rate"),
            spread_rng: stream(seed, replication, "workload/trace/spread"),
            rows: 0,
            fault: Fault::default(),
            cancel: CancelToken::never(),
            buffer: Reorder::default(),
            seq: 0,
            next_id: 0,
            last: SimTime::ZERO,
            done: false,
            day_counts: Vec::new(),
            day: 0,
            next_day: None,
            minute: 1440,
        }
    }

    /// Ends the stream soon after `cancel` is set, leaving
    /// [`Error::Interrupted`] in the fault.
    pub fn watch(&mut self, cancel: &CancelToken) {
        self.cancel = cancel.clone();
    }

    /// Where a read error is left: the run reports it once the stream ends.
    pub fn fault(&self) -> Fault {
        self.fault.clone()
    }

    /// Ends the stream with `e` for the run to report.
    fn fail(&mut self, e: Error) -> bool {
        let mut slot = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
        false
    }

    /// How many copies of an arrival `rate_scale` makes: thinning below 1,
    /// replication above.
    fn copies(&mut self) -> u32 {
        let r = self.trace.rate_scale;
        let whole = r.floor();
        let frac = r - whole;
        whole as u32 + u32::from(frac > 0.0 && self.rate_rng.random::<f64>() < frac)
    }

    fn push(&mut self, t_trace: f64, function: u32, rec: Recorded) {
        let t = SimTime::from_secs_f64(t_trace / self.trace.time_scale);
        let copies = self.copies();
        if copies > 0 {
            self.buffer.push(Pending {
                t,
                seq: self.seq,
                function,
                rec,
                copies,
            });
            self.seq += 1;
        }
    }

    /// Reads more rows (csv, azure2021) into the buffer; false at the end
    /// (or at a read error, left in the fault).
    fn fill_rows(&mut self) -> bool {
        match self.next_row() {
            Ok(more) => more,
            Err(e) => self.fail(e),
        }
    }

    fn next_row(&mut self) -> Result<bool> {
        if self.rows.is_multiple_of(CANCEL_ROWS) && self.cancel.is_cancelled() {
            return Err(Error::Interrupted);
        }
        let next = match &mut self.rows_in {
            RowsIn::One(r) => r.next(&self.trace)?,
            RowsIn::Merged(m) => m.next(&self.trace)?,
        };
        match next {
            Some(row) => {
                self.rows += 1;
                self.push(row.t, row.function, row.rec);
                Ok(true)
            }
            None => {
                if self.rows != self.trace.rows {
                    let last = self.trace.paths.last().expect("a trace has files");
                    return Err(changed(
                        last,
                        &format!(
                            "{} rows replayed where the scan found {}",
                            self.rows, self.trace.rows
                        ),
                    ));
                }
                Ok(false)
            }
        }
    }

    /// Loads the next minute of an azure2019 trace into the buffer; false at
    /// the end (or at a read error, left in the fault).
    fn fill_minute(&mut self) -> bool {
        if self.cancel.is_cancelled() {
            return self.fail(Error::Interrupted);
        }
        loop {
            if self.minute >= 1440 {
                match self.load_day() {
                    Ok(true) => {}
                    Ok(false) => return false,
                    Err(e) => return self.fail(e),
                }
            }
            let m = self.minute;
            self.minute += 1;
            let base = self.day as f64 * 86_400.0 + m as f64 * 60.0;
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
                        self.push(t, f as u32, Recorded::default());
                        any = true;
                    }
                }
            }
            if any {
                return true;
            }
        }
    }

    /// Reads the next day file's counts of the kept functions; false after the last.
    fn load_day(&mut self) -> Result<bool> {
        // The reader opens the next file as the last one ends: a day starts
        // at its file's header, seen at the end of the previous day.
        let day = match self.next_day.take() {
            Some(i) => i,
            None => match self.records.advance()? {
                Next::End => return Ok(false),
                Next::File(i) => i,
                Next::Record => unreachable!("a file's records come after its header"),
            },
        };
        let (_, func, minutes) = minute_columns(self.records.headers(), self.records.file())?;
        self.day = day;
        self.minute = 0;
        self.day_counts = vec![vec![0; 1440]; self.trace.functions.len()];
        loop {
            match self.records.advance()? {
                Next::End => break,
                Next::File(i) => {
                    self.next_day = Some(i);
                    break;
                }
                Next::Record => {
                    let (rec, file) = (&self.records.record, self.records.file());
                    match parse_counts(rec, file, func, &minutes) {
                        Ok((name, counts)) => {
                            if let Some(f) = self.trace.index.get(&name) {
                                // A hash may repeat across apps: their counts
                                // add up, as in the scan.
                                for (total, c) in self.day_counts[f].iter_mut().zip(counts) {
                                    *total += c;
                                }
                            }
                        }
                        Err(_) if self.trace.skip_bad_rows => {}
                        Err(e) => return Err(changed(file, &e.to_string())),
                    }
                }
            }
        }
        Ok(true)
    }
}

/// The error for a trace file that no longer reads as it did at validation.
fn changed(file: &Path, what: &str) -> Error {
    Error::Usage(format!(
        "{}: the trace changed after it was validated ({what}); replay it again from an \
         unchanged copy",
        file.display()
    ))
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
                Format::Csv | Format::Azure2021 | Format::Alb | Format::LambdaReport => {
                    // Rows the scan found in order need no reordering: the
                    // buffer holds just the row being handed out.
                    let window = if self.trace.in_order {
                        0
                    } else {
                        REORDER_WINDOW
                    };
                    while self.buffer.len() <= window {
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
        let p = self.buffer.take_min(|top| {
            top.copies -= 1;
            top.copies > 0
        })?;
        // The scan proved each file's order. Files merged by time can still
        // hold a row further out of order than the buffer reaches (a long
        // request logged late in a busy period): a fault, never a moved
        // arrival.
        if p.t < self.last {
            let last = self.trace.paths.last().expect("a trace has files");
            let e = if self.trace.in_order {
                changed(last, "its rows are no longer in time order")
            } else {
                Error::Usage(format!(
                    "{}: after merging the files by time, a request at {} s comes after one at {} \
                 s, more than {REORDER_WINDOW} rows out of order; sort the entries by \
                 arrival (e.g. zcat the files, sort by request_creation_time) and replay the \
                 sorted file",
                    last.parent().unwrap_or(last).display(),
                    p.t.as_secs_f64(),
                    self.last.as_secs_f64()
                ))
            };
            self.fail(e);
            self.done = true;
            return None;
        }
        let arrival = p.t;
        self.last = arrival;
        let f = p.function as usize;
        let recorded = |memory_mb: Option<u16>| match memory_mb.or(self.trace.recorded_memory_mb) {
            Some(mb) => WorkBasis::RecordedAt(mb),
            None => WorkBasis::Wall,
        };
        let sampler = &mut self.work[f];
        let (work, wait, basis) = match p.rec.cpu {
            Some(cpu) => (
                cpu,
                p.rec.wait.unwrap_or_else(|| sampler.wait()),
                recorded(p.rec.memory_mb),
            ),
            // Azure 2019: a recorded duration from the function's percentiles.
            None if self.trace.functions[f].durations.is_some() => {
                let (cpu, wait) = split(sampler.work(), self.trace.cpu_fraction);
                (cpu, wait, recorded(None))
            }
            None => (
                sampler.work(),
                p.rec.wait.unwrap_or_else(|| sampler.wait()),
                WorkBasis::FullVcpu,
            ),
        };
        let id = self.next_id;
        self.next_id += 1;
        Some(Request {
            id,
            arrival,
            work,
            wait,
            function: p.function,
            basis,
        })
    }
}
