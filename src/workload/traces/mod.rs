//! Trace replay (`arrival = { kind = "trace" }`): generic CSV, Azure
//! Functions 2019 (per-minute counts) and 2021 (per invocation), streamed.
//!
//! A trace is read twice, through one reader ([`records`]): the scan
//! ([`scan`]), at validation, checks every row (errors name the file, line,
//! column and value), learns the functions, their invocation counts and the
//! last arrival, and applies `functions` / `top_n`; it keeps per-function
//! data only. The replay ([`replay`]), once per run, streams the rows again
//! into requests, through a bounded reorder buffer for files that are not
//! quite sorted; a file that cannot be read then, or no longer matches what
//! the scan saw, fails the run with an error rather than losing requests.
//! Memory is bounded by the number of functions (and the reorder window),
//! never by the number of invocations. Row formats: [`rows`] (csv,
//! azure2021) and [`azure2019`].

pub mod azure2019;
pub mod csv_lines;
mod input;
pub mod logs;
pub mod records;
pub mod replay;
pub mod rows;
pub mod scan;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::prefetch;
use crate::error::{Error, Result};
use crate::time::SimTime;
use crate::workload::dist::Dist;

pub use replay::TraceStream;

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
    pub(super) fn list(&self) -> Vec<String> {
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
    /// AWS Application Load Balancer access logs.
    Alb,
    /// CloudWatch Logs exports of Lambda REPORT lines.
    LambdaReport,
}

impl Format {
    /// Whether its times are UTC wall-clock times (t = 0 at the earliest
    /// arrival) rather than seconds from the trace's own zero.
    pub fn wall_clock(self) -> bool {
        matches!(self, Format::Alb | Format::LambdaReport)
    }

    /// How its files are read.
    pub(super) fn layout(self) -> fn(&Path) -> logs::Layout {
        match self {
            Format::Alb => |_| logs::Layout::Alb,
            Format::LambdaReport => logs::report_layout,
            Format::Csv | Format::Azure2019 | Format::Azure2021 => |_| logs::Layout::Header,
        }
    }
}

/// What names an ALB log entry's function (`function_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionBy {
    /// The request's path without the query string (its first `path_depth`
    /// segments, if given).
    Path,
    /// The request's host.
    Host,
    /// The target group's name.
    TargetGroup,
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
    pub(super) path: Paths,
    pub(super) format: Format,
    pub(super) durations_path: Option<Paths>,
    pub(super) memory_path: Option<Paths>,
    pub(super) time_scale: Option<f64>,
    pub(super) start_s: Option<f64>,
    pub(super) end_s: Option<f64>,
    pub(super) functions: Option<Vec<String>>,
    pub(super) top_n: Option<u64>,
    pub(super) rate_scale: Option<f64>,
    pub(super) spread: Option<Spread>,
    pub(super) skip_bad_rows: Option<bool>,
    pub(super) cpu_fraction: Option<f64>,
    pub(super) recorded_memory_mb: Option<i64>,
    pub(super) function_by: Option<FunctionBy>,
    pub(super) path_depth: Option<i64>,
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
    /// The share of a recorded duration that is CPU (the rest is wait).
    pub cpu_fraction: f64,
    /// The Lambda memory the durations were recorded at \[MB\] (a
    /// `memory_mb` column gives its rows' own).
    pub recorded_memory_mb: Option<u16>,
    /// Kept functions: name -> index into the workload's functions.
    pub index: NameIndex,
    /// Kept functions in index order, with their scan-time data.
    pub functions: Vec<TraceFunction>,
    /// The last arrival (scaled), for the default horizon.
    pub last_arrival: SimTime,
    /// Rows in the window that were kept, and rows skipped as bad.
    pub rows: u64,
    pub skipped: u64,
    /// Each of `paths` as the scan saw it: the replay refuses a changed file.
    pub stamps: Vec<records::Stamp>,
    /// A hash of each of `paths`' bytes as the scan read them (decompressed;
    /// a JSON export up to where its events end).
    pub content: Vec<u64>,
    /// alb: what names a function, and how many path segments it keeps.
    pub function_by: FunctionBy,
    pub path_depth: Option<u32>,
    /// Wall-clock formats: the earliest arrival, t = 0 \[ns since the epoch, UTC\].
    pub origin_ns: i64,
    /// Wall-clock formats: each file's earliest arrival \[ns since the
    /// epoch\] (`None` for a file without rows), for the replay's merge of
    /// files that overlap in time.
    pub file_starts: Vec<Option<i64>>,
    /// lambda_report: rows with an Init Duration (cold starts AWS observed).
    pub observed_cold_starts: u64,
    /// Whether the rows in the window come in time order as the replay
    /// reads them (each file's, for files merged by time; all of them in
    /// sequence otherwise). The replay then hands each row out as it reads
    /// it, which is the order a full reorder buffer gives, instead of
    /// holding [`REORDER_WINDOW`] rows: 6.4 MB streamed through the cache,
    /// a miss a row (`perf record` of a 10 M-row trace).
    pub in_order: bool,
    /// With many functions (32,768 kept): the function of each row in the
    /// window from row `row_functions_from` on (the rows from the one that
    /// brought the scan's 32,768th name), in the order the scan
    /// read them, as an index into `functions` or [`u32::MAX`] for a
    /// function not kept. The replay takes those rows' functions from here
    /// instead of looking their names up again, which waits for memory
    /// twice a row once the names outgrow the cache. Empty otherwise, or
    /// past [`ROW_FUNCTIONS_MAX`] rows: the replay looks names up.
    pub row_functions: Vec<u32>,
    /// The number of `row_functions`' first row among the rows in the window.
    pub row_functions_from: usize,
    /// The number of each file's first row among the rows in the window
    /// (files merged by time are replayed side by side).
    pub file_rows: Vec<usize>,
}

/// The most rows whose functions a scan keeps for the replay
/// ([`Trace::row_functions`]): 64 MB at 4 bytes a row.
pub const ROW_FUNCTIONS_MAX: usize = 1 << 24;

/// What the scan learns about one function.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceFunction {
    pub name: String,
    pub invocations: u64,
    /// Recorded durations from the Azure 2019 durations file (percentiles).
    pub durations: Option<Dist>,
    /// Lambda memory from the trace (`memory_mb` column or Azure app memory) \[MB\].
    pub memory_mb: Option<u32>,
    /// lambda_report: its rows with an Init Duration.
    pub observed_cold_starts: u64,
    /// Its application, where the trace names one (Azure 2019's `HashApp`).
    pub app: Option<String>,
}

impl Trace {
    /// The row in the window from which [`Trace::row_functions`] gives the
    /// rows' functions, if the scan kept them.
    #[inline]
    pub fn row_functions_start(&self) -> Option<usize> {
        (!self.row_functions.is_empty()).then_some(self.row_functions_from)
    }

    /// The window on simulated time \[s\] (trace time over `time_scale`):
    /// its start, and its end when `end_s` is given.
    pub fn sim_window(&self) -> (f64, Option<f64>) {
        (
            self.start_s / self.time_scale,
            self.end_s.is_finite().then(|| self.end_s / self.time_scale),
        )
    }

    /// What its rows are read with besides their columns.
    fn row_options(&self) -> rows::Options {
        rows::Options {
            cpu_fraction: self.cpu_fraction,
            function_by: self.function_by,
            path_depth: self.path_depth,
            origin_ns: self.origin_ns,
        }
    }
}

/// A row error: names the file, line, column and value, and says how to proceed.
pub(super) fn row_error(file: &Path, line: u64, column: &str, value: &str, why: &str) -> Error {
    row_error_at(file, (line, 1), column, value, why)
}

/// [`row_error`] at a known column of the line.
pub(super) fn row_error_at(
    file: &Path,
    at: (u64, u64),
    column: &str,
    value: &str,
    why: &str,
) -> Error {
    bad_row(file, at, column, &format!("{why} (value {value:?})"))
}

/// [`row_error_at`] for a field the row does not have: no value to quote,
/// the row's field count instead.
pub(super) fn missing_field_error(
    file: &Path,
    at: (u64, u64),
    column: &str,
    why: &str,
    fields: usize,
) -> Error {
    bad_row(file, at, column, &format!("{why} (it has {fields})"))
}

/// A bad row's error: what is wrong with field `column`, and the way out.
fn bad_row(file: &Path, (line, col): (u64, u64), column: &str, what: &str) -> Error {
    Error::Scenario {
        file: file.to_path_buf(),
        location: Some((line as usize, col as usize)),
        field: Some(column.to_string()),
        message: format!("{what}; fix the row, or set skip_bad_rows = true to skip bad rows"),
    }
}

/// An error reading a trace file (not a bad row: nothing to skip).
pub(super) fn read_error(file: &Path, line: u64, why: &str) -> Error {
    Error::Scenario {
        file: file.to_path_buf(),
        location: Some((line as usize, 1)),
        field: None,
        message: why.to_string(),
    }
}

/// Function names to indices in order of first appearance, for the scan's
/// and the replay's per-row lookup: an open-addressed table whose 16-byte
/// slots hold all a probe needs (32 bits of the name's hash, its index and
/// where it starts in the arena), the names in one arena, each behind its
/// length. A lookup reads one slot, usually in the cache line it lands on,
/// and the name it compares: two cache misses where the names no longer
/// fit in the cache (100,000 of them), against four or five with the hash,
/// the name's end and its start each in an array of its own (then half the
/// replay's time of a 10 M-row trace of 100,000 functions; `perf record`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NameIndex {
    /// A power of two of slots, at most half of them used.
    table: Vec<NameSlot>,
    /// Each name as its length (4 bytes, little-endian) then its bytes.
    arena: Vec<u8>,
    len: usize,
}

/// A slot of [`NameIndex`]'s table.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct NameSlot {
    /// The top 32 bits of the name's hash (the slot comes from the bottom).
    tag: u32,
    /// The name's index + 1; 0 for an empty slot.
    index: u32,
    /// Where the name's length starts in the arena.
    start: u64,
}

impl NameIndex {
    fn hash(name: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(name)
    }

    /// The name stored at arena offset `start`.
    #[inline]
    fn stored(&self, start: u64) -> &[u8] {
        let start = start as usize;
        let len = u32::from_le_bytes(
            self.arena[start..start + 4]
                .try_into()
                .expect("a name's length is 4 bytes"),
        ) as usize;
        &self.arena[start + 4..start + 4 + len]
    }

    /// The slot holding `name` (hashed to `h`), or the empty one where it would go.
    #[inline]
    fn find(&self, name: &str, h: u64) -> usize {
        let mask = self.table.len() - 1;
        let tag = (h >> 32) as u32;
        let mut slot = (h as usize) & mask;
        loop {
            let s = self.table[slot];
            if s.index == 0 || (s.tag == tag && self.stored(s.start) == name.as_bytes()) {
                return slot;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The names held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no name.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `name`'s index, if it holds it.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.get_hashed(name, Self::hash_of(name))
    }

    /// [`NameIndex::get`] of a name whose [`NameIndex::hash_of`] is `h`.
    #[inline]
    pub(super) fn get_hashed(&self, name: &str, h: u64) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let s = self.table[self.find(name, h)];
        (s.index != 0).then(|| s.index as usize - 1)
    }

    /// The hash a lookup of `name` starts from.
    #[inline]
    pub(super) fn hash_of(name: &str) -> u64 {
        Self::hash(name.as_bytes())
    }

    /// Asks the processor for the slot a lookup of hash `h` reads first,
    /// some rows before the lookup (see [`Staged`]).
    #[inline]
    pub(super) fn prefetch_slot(&self, h: u64) {
        if !self.table.is_empty() {
            prefetch(&self.table[(h as usize) & (self.table.len() - 1)]);
        }
    }

    /// Asks for the stored name a lookup of hash `h` compares first (its
    /// slot fetched by [`NameIndex::prefetch_slot`] some rows earlier).
    /// Returns the index of that name, which is the looked-up one but for
    /// a collision of 32 hash bits, for the caller to ask for its own data.
    #[inline]
    pub(super) fn prefetch_name(&self, h: u64) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let tag = (h >> 32) as u32;
        let mut slot = (h as usize) & mask;
        loop {
            let s = &self.table[slot];
            if s.index == 0 {
                return None;
            }
            if s.tag == tag {
                prefetch(&self.arena[s.start as usize]);
                return Some(s.index as usize - 1);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// `name`'s index, added at the end if it is new; with whether it was.
    pub(super) fn get_or_insert(&mut self, name: &str) -> (usize, bool) {
        self.get_or_insert_hashed(name, Self::hash_of(name))
    }

    /// [`NameIndex::get_or_insert`] of a name whose [`NameIndex::hash_of`] is `h`.
    pub(super) fn get_or_insert_hashed(&mut self, name: &str, h: u64) -> (usize, bool) {
        if self.table.is_empty() {
            self.table = vec![NameSlot::default(); 64];
        }
        let slot = self.find(name, h);
        if self.table[slot].index != 0 {
            return (self.table[slot].index as usize - 1, false);
        }
        let i = self.len;
        self.table[slot] = NameSlot {
            tag: (h >> 32) as u32,
            index: u32::try_from(i + 1).expect("fewer than 2^32 names"),
            start: self.arena.len() as u64,
        };
        let len = u32::try_from(name.len()).expect("a name is shorter than a line");
        self.arena.extend_from_slice(&len.to_le_bytes());
        self.arena.extend_from_slice(name.as_bytes());
        self.len += 1;
        if 2 * self.len > self.table.len() {
            self.grow();
        }
        (i, true)
    }

    /// Doubles the table, each name's slot found again from its hash.
    fn grow(&mut self) {
        let mut table = vec![NameSlot::default(); self.table.len() * 2];
        let mask = table.len() - 1;
        for s in self.table.iter().filter(|s| s.index != 0) {
            let h = Self::hash(self.stored(s.start));
            let mut slot = (h as usize) & mask;
            while table[slot].index != 0 {
                slot = (slot + 1) & mask;
            }
            table[slot] = *s;
        }
        self.table = table;
    }
}

/// Name lookups held back a few rows, in order: a row's name is hashed and
/// its slot asked for when it is read, its stored name asked for
/// [`Staged::DEPTH`] / 2 rows later, and the lookup made [`Staged::DEPTH`]
/// rows later, when both are in the cache. With 100,000 function names
/// each lookup otherwise waited for memory twice (`perf record` of a 10
/// M-row trace: 37 % of the run in the lookup).
#[derive(Debug)]
pub(super) struct Staged<T> {
    rows: VecDeque<StagedRow<T>>,
    /// Name buffers of rows handed out, reused.
    spare: Vec<String>,
}

/// A row in [`Staged`]: its name, the name's hash, and the rest of it.
#[derive(Debug)]
pub(super) struct StagedRow<T> {
    pub(super) name: String,
    pub(super) hash: u64,
    pub(super) item: T,
}

impl<T> Default for Staged<T> {
    fn default() -> Self {
        Staged {
            rows: VecDeque::with_capacity(Self::DEPTH + 1),
            spare: Vec::new(),
        }
    }
}

impl<T> Staged<T> {
    /// Rows between a row's read and its lookup: enough to cover two
    /// memory latencies with the parsing of the rows between.
    pub(super) const DEPTH: usize = 16;

    /// Names from which rows are staged: below, the table and the names
    /// (about 1 MB at this count) stay in the processor's cache and the
    /// staging, which costs about 220 instructions a row (callgrind), would
    /// only slow the lookup down.
    pub(super) const FROM_NAMES: usize = 32_768;

    /// Whether the next row of names looked up in `index` should be
    /// staged: once it holds [`Staged::FROM_NAMES`] names, and while rows
    /// are staged (a row never overtakes one staged before it).
    #[inline]
    pub(super) fn wanted(&self, index: &NameIndex) -> bool {
        !self.rows.is_empty() || index.len() >= Self::FROM_NAMES
    }

    /// Adds a row whose name is `name`, to be looked up in `index`.
    /// Returns the likely index of the name looked up [`Staged::DEPTH`] / 2
    /// rows from now (see [`NameIndex::prefetch_name`]), if it is held.
    #[inline]
    pub(super) fn push(&mut self, index: &NameIndex, name: &str, item: T) -> Option<usize> {
        let hash = NameIndex::hash_of(name);
        index.prefetch_slot(hash);
        let likely = self
            .rows
            .len()
            .checked_sub(Self::DEPTH / 2)
            .and_then(|mid| index.prefetch_name(self.rows[mid].hash));
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.push_str(name);
        self.rows.push_back(StagedRow {
            name: buf,
            hash,
            item,
        });
        likely
    }

    /// The oldest row, once [`Staged::DEPTH`] rows are behind it.
    #[inline]
    pub(super) fn ready(&mut self) -> Option<StagedRow<T>> {
        if self.rows.len() > Self::DEPTH {
            self.rows.pop_front()
        } else {
            None
        }
    }

    /// Whether no row is staged.
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The oldest row, however few are behind it (at the end of the rows).
    pub(super) fn oldest(&mut self) -> Option<StagedRow<T>> {
        self.rows.pop_front()
    }

    /// Gives a handed-out row's name buffer back.
    #[inline]
    pub(super) fn recycle(&mut self, name: String) {
        self.spare.push(name);
    }
}

/// The longest line a trace may have \[bytes\]: far beyond any real row, and
/// what keeps a file without line breaks (`/dev/zero`) from growing one
/// record without bound.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A trace file's bytes (decompressed, for a `.gz`), lines capped, read
/// ahead on a thread while few files are open.
pub(super) type TraceBytes = input::Input;

/// A trace file as the CSV reader reads it.
pub(super) type TraceReader = csv_lines::CsvLines<TraceBytes>;

/// A reader that fails once more than `max` bytes pass without a line break,
/// and hashes what passes.
#[derive(Debug)]
pub(super) struct LineCap<R> {
    inner: R,
    /// Bytes since the last line break.
    run: usize,
    max: usize,
    pub(super) content: ContentHash,
}

/// A hash of a byte stream that does not depend on how it is cut into
/// reads: 32-byte blocks, each of its four little-endian words
/// multiply-rotate mixed into its own lane (four independent chains, so the
/// multiplications overlap; with one chain the reader's `LineCap::read`
/// took 6.6 % of a 2M-line gzip ALB scan's samples under `perf record`,
/// with four 1.9 %), then the lanes, the bytes left over and the length. What tells two copies of a trace apart at a
/// shard merge.
#[derive(Debug, Clone, Default)]
pub(super) struct ContentHash {
    lanes: [u64; 4],
    block: [u8; 32],
    filled: usize,
    len: u64,
}

impl ContentHash {
    fn mix(h: u64, w: u64) -> u64 {
        (h.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95)
    }

    fn absorb(lanes: &mut [u64; 4], block: &[u8]) {
        for (k, lane) in lanes.iter_mut().enumerate() {
            let w = u64::from_le_bytes(block[8 * k..8 * k + 8].try_into().expect("8 bytes"));
            *lane = Self::mix(*lane, w);
        }
    }

    pub(super) fn write(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.filled > 0 {
            let take = (32 - self.filled).min(bytes.len());
            self.block[self.filled..self.filled + take].copy_from_slice(&bytes[..take]);
            self.filled += take;
            bytes = &bytes[take..];
            if self.filled < 32 {
                return;
            }
            let block = self.block;
            Self::absorb(&mut self.lanes, &block);
            self.filled = 0;
        }
        let mut blocks = bytes.chunks_exact(32);
        for b in &mut blocks {
            Self::absorb(&mut self.lanes, b);
        }
        let rest = blocks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    pub(super) fn finish(&self) -> u64 {
        let mut h = self.lanes.iter().fold(0, |h, &l| Self::mix(h, l));
        for word in self.block[..self.filled].chunks(8) {
            let mut w = [0u8; 8];
            w[..word.len()].copy_from_slice(word);
            h = Self::mix(h, u64::from_le_bytes(w));
        }
        Self::mix(h, self.len)
    }
}

impl<R: std::io::Read> std::io::Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let long = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {} bytes", MAX_LINE_BYTES),
            )
        };
        if self.run > self.max {
            return Err(long());
        }
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        self.content.write(chunk);
        // Reads come a buffer (at most the read-ahead's 256 KiB) at a
        // time, below the cap: the text before the chunk's first break and
        // after its last is what can make a line too long.
        // The csv reader ends records at \n, \r\n or a lone \r.
        let brk = |b: &u8| *b == b'\n' || *b == b'\r';
        match (chunk.iter().position(brk), chunk.iter().rposition(brk)) {
            (Some(first), Some(last)) => {
                if self.run + first > self.max {
                    self.run += first;
                    return Err(long());
                }
                self.run = n - last - 1;
            }
            _ => self.run += n,
        }
        if self.run > self.max {
            return Err(long());
        }
        Ok(n)
    }
}

/// Opens `file` for reading as `layout` says (decompressing a `.gz`), with
/// the stamp of the file opened.
fn open_csv(file: &Path, layout: logs::Layout) -> Result<(records::Source, records::Stamp)> {
    let (inner, stamp) = logs::open_bytes(file)?;
    let capped = LineCap {
        inner,
        run: 0,
        // A JSON export may be one line (`jq -c`); its events are capped
        // one by one instead.
        max: if layout == logs::Layout::Json {
            usize::MAX
        } else {
            MAX_LINE_BYTES
        },
        content: ContentHash::default(),
    };
    let buffered = input::Input::new(capped);
    let source = match layout {
        logs::Layout::Header => records::Source::Csv(csv_lines::CsvLines::new(buffered)),
        // Space-separated, double-quoted fields; no header.
        logs::Layout::Alb => records::Source::Lines(logs::LogLines::new(buffered, true)),
        // The whole line as one field.
        logs::Layout::Lines => records::Source::Lines(logs::LogLines::new(buffered, false)),
        logs::Layout::Json => records::Source::Json(Box::new(logs::JsonEvents::new(buffered))),
    };
    Ok((source, stamp))
}

/// The names of a file's fields: its header row, or the layout's own.
fn headers(source: &mut records::Source, layout: logs::Layout, file: &Path) -> Result<Vec<String>> {
    let own = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
    let reader = match (layout, source) {
        (logs::Layout::Alb, _) => return Ok(own(logs::ALB_FIELDS)),
        (logs::Layout::Lines, _) => return Ok(own(&["line"])),
        (logs::Layout::Json, _) => return Ok(own(logs::JSON_FIELDS)),
        (logs::Layout::Header, records::Source::Csv(r)) => r,
        (logs::Layout::Header, records::Source::Json(_) | records::Source::Lines(_)) => {
            unreachable!("a header layout opens a CSV reader")
        }
    };
    let h = reader.headers().map_err(|e| Error::Scenario {
        file: file.to_path_buf(),
        location: Some((e.line().max(1) as usize, 1)),
        field: None,
        message: format!("cannot read the header row: {e}"),
    })?;
    Ok(h.iter().map(|s| s.trim().to_string()).collect())
}

pub(super) fn column(headers: &[String], name: &str) -> Option<usize> {
    headers.iter().position(|h| h == name)
}

pub(super) fn missing_column(file: &Path, name: &str, headers: &[String]) -> Error {
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

/// Lambda memory for a trace's memory figure: 1 MB steps within 128-10,240 MB.
pub(super) fn lambda_memory(mb: f64) -> u32 {
    mb.ceil().clamp(128.0, 10_240.0) as u32
}

/// A float with a total order, for the reorder buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct OrdF64(pub(super) f64);
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
pub(super) struct Reorder<T> {
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
    pub(super) fn len(&self) -> usize {
        self.run.len() + self.early.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.run.is_empty() && self.early.is_empty()
    }

    #[inline]
    pub(super) fn push(&mut self, item: T) {
        if self.run.back().is_none_or(|last| *last <= item) {
            self.run.push_back(item);
        } else {
            self.early.push(Reverse(item));
        }
    }

    /// The smallest item; it stays held when `keep` (given it to change in a
    /// way that keeps its order) says so. Returns it as it was.
    #[inline]
    pub(super) fn take_min(&mut self, keep: impl FnOnce(&mut T) -> bool) -> Option<T> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_name_index_numbers_names_by_first_appearance(
            names in proptest::collection::vec("[a-c]{0,3}", 0..400),
        ) {
            let mut ours = NameIndex::default();
            let mut want: std::collections::HashMap<String, usize> = Default::default();
            for n in &names {
                let next = want.len();
                let (i, new) = ours.get_or_insert(n);
                let w = *want.entry(n.clone()).or_insert(next);
                prop_assert_eq!((i, new), (w, w == next));
                prop_assert_eq!(ours.get(n), Some(w));
            }
            prop_assert_eq!(ours.get("not one of them"), None);
            prop_assert_eq!(ours.len(), want.len());
        }

        #[test]
        fn the_content_hash_does_not_depend_on_the_reads(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..8),
        ) {
            let mut whole = ContentHash::default();
            whole.write(&bytes);
            let mut cut = ContentHash::default();
            let mut at: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            at.sort_unstable();
            let mut from = 0;
            for c in at.into_iter().chain(std::iter::once(bytes.len())) {
                cut.write(&bytes[from..c]);
                from = c;
            }
            prop_assert_eq!(whole.finish(), cut.finish());
            // One byte more, or one byte changed, is another hash.
            let mut longer = whole.clone();
            longer.write(&[0]);
            prop_assert_ne!(longer.finish(), whole.finish());
            if let Some(&b0) = bytes.first() {
                let mut other = bytes.clone();
                other[0] = b0 ^ 1;
                let mut changed = ContentHash::default();
                changed.write(&other);
                prop_assert_ne!(changed.finish(), whole.finish());
            }
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
