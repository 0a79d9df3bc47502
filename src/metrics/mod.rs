//! Measurement: outcome counters, latency histograms, time-averaged levels,
//! the per-interval time series and the optional per-request log.
//!
//! Summary figures cover the measurement window (the scenario's
//! [`window`](crate::scenario::Scenario::window): [warmup, horizon), or a
//! trace window's [max(warmup, start_s), end_s)): a request
//! counts when it *arrived* in the window, and time averages integrate over the
//! window only. The time series covers the whole run. A finished run becomes
//! a typed [`summary::RunSummary`].

pub mod series;
pub mod summary;

use std::io::Write;
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

use crate::time::{SimDuration, SimTime};
use crate::workload::Request;

/// How a request ended (README, requests.csv `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Refused by Lambda (429): concurrency or scaling rate exhausted.
    Throttled,
    /// Refused by Kubernetes (503): no ready pod or every queue full.
    Rejected,
    /// Killed at the Lambda timeout.
    TimedOut,
    /// An async event older than its maximum age.
    Dropped,
    /// Still queued or executing at the horizon.
    InFlight,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Throttled => "throttled",
            Outcome::Rejected => "rejected",
            Outcome::TimedOut => "timed_out",
            Outcome::Dropped => "dropped",
            Outcome::InFlight => "in_flight",
        }
    }
}

/// Request counts of the measurement window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub requests: u64,
    pub completed: u64,
    pub throttled: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub dropped: u64,
    pub in_flight_end: u64,
    pub cold_starts: u64,
}

impl std::ops::AddAssign<&Counts> for Counts {
    /// Adds another run's counts (replications summed).
    fn add_assign(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.completed += o.completed;
        self.throttled += o.throttled;
        self.rejected += o.rejected;
        self.timed_out += o.timed_out;
        self.dropped += o.dropped;
        self.in_flight_end += o.in_flight_end;
        self.cold_starts += o.cold_starts;
    }
}

impl Counts {
    /// Requests with a final outcome, whatever it was.
    pub fn accounted(&self) -> u64 {
        self.completed
            + self.throttled
            + self.rejected
            + self.timed_out
            + self.dropped
            + self.in_flight_end
    }

    pub fn errors(&self) -> u64 {
        self.throttled + self.rejected + self.timed_out + self.dropped
    }

    /// Error rate as the README's summary.csv defines it: errors over requests with a final
    /// outcome (0 with none).
    pub fn error_rate(&self) -> f64 {
        ratio(self.errors(), self.requests - self.in_flight_end)
    }

    /// Cold starts over requests (0 with none).
    pub fn cold_start_ratio(&self) -> f64 {
        ratio(self.cold_starts, self.requests)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// A piecewise-constant quantity (requests in service, instances, nodes):
/// its time average and peak over the measurement window.
#[derive(Debug, Clone)]
pub struct Level {
    value: u64,
    last: SimTime,
    /// Integral of the value over the window so far [value x ns].
    area: u128,
    peak: u64,
    window: (SimTime, SimTime),
}

impl Level {
    fn new(window: (SimTime, SimTime)) -> Self {
        Level {
            value: 0,
            last: SimTime::ZERO,
            area: 0,
            peak: 0,
            window,
        }
    }

    /// The value changes to `value` at `now` (calls must come in time order).
    #[inline]
    pub fn set(&mut self, now: SimTime, value: u64) {
        debug_assert!(now >= self.last, "level updated in the past");
        let (ws, we) = self.window;
        if self.last >= ws && now >= self.last && now < we {
            // Inside the window (nearly every call): the old value, set
            // inside it too, is in the peak already.
            self.area += u128::from(self.value) * u128::from(now.0 - self.last.0);
            self.peak = self.peak.max(value);
            self.value = value;
            self.last = now;
            return;
        }
        let from = self.last.max(ws);
        let to = now.min(we);
        if to > from {
            self.area += u128::from(self.value) * u128::from(to.0 - from.0);
            self.peak = self.peak.max(self.value);
        }
        if now >= ws && now < we {
            self.peak = self.peak.max(value);
        }
        self.value = value;
        self.last = now.max(self.last);
    }

    /// Time average over the window (after [`Recorder::finish`]).
    pub fn mean(&self) -> f64 {
        let span = self.window.1.since(self.window.0).0;
        if span == 0 {
            0.0
        } else {
            self.area as f64 / span as f64
        }
    }

    pub fn peak(&self) -> u64 {
        self.peak
    }
}

/// Most gauges a platform kind may report.
pub const MAX_GAUGES: usize = 8;

/// What a platform reports at the end of each time-series interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// Requests in service or queued.
    pub in_flight: u64,
    pub queued: u64,
    /// The kind's own gauges, in the order its registry entry names them.
    pub values: [u64; MAX_GAUGES],
    /// The bill so far (gross list prices, whole run, no free tier) \[USD\].
    pub cost_usd: f64,
}

/// One row of timeseries.csv (before the platform name is attached).
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalRow {
    pub start: SimTime,
    pub arrivals: u64,
    pub completed: u64,
    pub errors: u64,
    pub cold_starts: u64,
    /// p95 latency of the requests completed in the interval \[ms\].
    pub p95_ms: Option<f64>,
    pub gauges: Gauges,
}

/// Where a recorder's time-series rows go.
enum Rows {
    Drop,
    Memory(Vec<IntervalRow>),
    Stream(Box<series::SeriesWriter>),
}

/// The first write error of a run's outputs (its request rows, its time
/// series), shared with the event loop, which stops the run at its next
/// checkpoint instead of simulating to the end for nothing.
#[derive(Debug, Clone, Default)]
pub struct WriteFailure(Arc<Mutex<Option<Failed>>>);

/// What failed: the file or folder, what was being done, the error.
pub type Failed = (std::path::PathBuf, &'static str, std::io::Error);

impl WriteFailure {
    /// Records `e` (writing `path`) unless an earlier error was recorded.
    pub fn set(&self, path: &std::path::Path, action: &'static str, e: &std::io::Error) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some((
                path.to_path_buf(),
                action,
                std::io::Error::new(e.kind(), e.to_string()),
            ));
        }
    }

    /// Whether an error was recorded.
    pub fn is_set(&self) -> bool {
        self.0.lock().map_or(true, |s| s.is_some())
    }

    /// The recorded error, if any.
    pub fn take(&self) -> Option<Failed> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Writes requests.csv rows for one run.
pub struct RequestLog {
    out: Box<dyn Write + Send>,
    platform: String,
    functions: Arc<[String]>,
    /// The run's sweep point and replication, as the row's last two fields.
    unit: String,
    error: Option<std::io::Error>,
    /// Where the rows go (for the error) and who hears of a failure.
    path: std::path::PathBuf,
    failure: Option<WriteFailure>,
}

impl RequestLog {
    /// The header line of requests.csv.
    pub const HEADER: &'static str =
        "arrival_s,function,platform,start_s,end_s,latency_ms,outcome,cold,point,replication\n";

    /// The log of a run of `platform` (sweep point 0, replication 0 until
    /// [`RequestLog::of_unit`] says otherwise).
    pub fn new(out: Box<dyn Write + Send>, platform: &str, functions: Arc<[String]>) -> Self {
        RequestLog {
            out,
            platform: csv_field(platform),
            functions: functions.iter().map(|f| csv_field(f)).collect(),
            unit: "0,0".into(),
            error: None,
            path: "requests.csv".into(),
            failure: None,
        }
    }

    /// The same log, naming `path` when a write fails.
    pub fn written_to(mut self, path: &std::path::Path) -> Self {
        self.path = path.to_path_buf();
        self
    }

    /// The same log, telling `failure` of its first write error.
    pub fn reporting_to(mut self, failure: WriteFailure) -> Self {
        self.failure = Some(failure);
        self
    }

    /// The same log for the run of sweep point `point`, replication `replication`.
    pub fn of_unit(mut self, point: usize, replication: u32) -> Self {
        self.unit = format!("{point},{replication}");
        self
    }

    fn row(
        &mut self,
        req: &Request,
        outcome: Outcome,
        start: Option<SimTime>,
        end: Option<SimTime>,
        latency: Option<SimDuration>,
        cold: bool,
    ) {
        if self.error.is_some() {
            return;
        }
        use crate::time::Secs9;
        let opt = |t: Option<SimTime>| t.map(|t| Secs9(t.0).to_string()).unwrap_or_default();
        let lat = latency
            .map(|d| format!("{}.{:06}", d.0 / 1_000_000, d.0 % 1_000_000))
            .unwrap_or_default();
        let r = writeln!(
            self.out,
            "{},{},{},{},{},{},{},{},{}",
            Secs9(req.arrival.0),
            self.functions[req.function as usize],
            self.platform,
            opt(start),
            opt(end),
            lat,
            outcome.as_str(),
            cold,
            self.unit
        );
        if let Err(e) = r {
            if let Some(f) = &self.failure {
                f.set(&self.path, "cannot write", &e);
            }
            self.error = Some(e);
        }
    }

    /// Hands the writer back (for the next run), or the first write error.
    pub fn into_inner(mut self) -> std::io::Result<Box<dyn Write + Send>> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(self.out),
        }
    }
}

/// Quotes a CSV field when it needs it, as the csv crate's
/// `QuoteStyle::Necessary` does for the other files (requests.csv is written
/// row by row on the hot path; the exporter snapshots pin both).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Records into an auto-resizing histogram (which cannot fail for a `u64`
/// below its 2^63 ceiling); saturates beyond.
#[inline]
fn record(h: &mut Histogram<u64>, v: u64) {
    record_n(h, v, 1);
}

/// [`record`] of `n` equal values.
#[inline]
fn record_n(h: &mut Histogram<u64>, v: u64, n: u64) {
    if h.record_n(v, n).is_err() {
        h.saturating_record_n(v, n);
    }
}

/// Quantile `q` \[ms\]: the middle of the histogram bucket holding it (the
/// bucket's top would bias every quantile up by up to 0.1 %), kept within
/// the exact minimum and maximum \[ns\] (so identical latencies give exact
/// quantiles).
fn quantile(h: &Histogram<u64>, q: f64, min: u64, max: u64) -> Option<f64> {
    (!h.is_empty()).then(|| {
        h.median_equivalent(h.value_at_quantile(q))
            .clamp(min.min(max), max) as f64
            / 1e6
    })
}

/// Latencies of the open time-series interval, for its p95.
///
/// Kept as raw values and selected when the interval closes: a push per
/// completion instead of a histogram record, and no histogram to clear per
/// interval (clearing one costs as much as the counts it can hold). The
/// result is exactly the histogram's: the value of rank k lies in the bucket
/// where the histogram's cumulative count first reaches k, and the answer is
/// the middle of that bucket. Beyond [`Self::SPILL`] values (a very busy or
/// very long interval) they move into the histogram, so memory stays bounded.
#[derive(Debug, Clone)]
struct IntervalLatencies {
    values: Vec<u64>,
    /// Empty unless the interval spilled.
    hist: Histogram<u64>,
    min: u64,
    max: u64,
}

impl IntervalLatencies {
    /// Values held before spilling into the histogram (8 MB).
    const SPILL: usize = 1 << 20;

    fn new() -> Self {
        IntervalLatencies {
            values: Vec::new(),
            // Nanoseconds with 3 significant digits (quantiles within 0.1 %),
            // auto-resizing so no latency is ever out of range.
            hist: Histogram::new(3).expect("3 significant digits is a valid precision"),
            min: u64::MAX,
            max: 0,
        }
    }

    #[inline]
    fn record(&mut self, ns: u64) {
        if self.values.len() == Self::SPILL {
            self.spill();
        }
        self.values.push(ns);
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    fn spill(&mut self) {
        for v in self.values.drain(..) {
            record(&mut self.hist, v);
        }
    }

    /// Quantile `q` (0 < q <= 1) of the interval \[ms\], as [`quantile`] of a
    /// histogram of the same values would give; then starts a new interval.
    fn take_quantile(&mut self, q: f64) -> Option<f64> {
        let (min, max) = (self.min.min(self.max), self.max);
        let out = if !self.hist.is_empty() {
            self.spill();
            let out = quantile(&self.hist, q, min, max);
            self.hist.reset();
            out
        } else if self.values.is_empty() {
            None
        } else {
            // The rank the histogram looks for: ceil(q n), at least 1.
            let n = self.values.len();
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            let (_, &mut v, _) = self.values.select_nth_unstable(rank - 1);
            Some(self.hist.median_equivalent(v).clamp(min, max) as f64 / 1e6)
        };
        self.values.clear();
        self.min = u64::MAX;
        self.max = 0;
        out
    }
}

/// What a latency summary reads from a set of latencies \[ms\].
pub trait Quantiles {
    fn quantile_ms(&self, q: f64) -> Option<f64>;
    fn mean_ms(&self) -> Option<f64>;
    fn max_ms(&self) -> Option<f64>;
}

impl Quantiles for Latencies {
    fn quantile_ms(&self, q: f64) -> Option<f64> {
        Latencies::quantile_ms(self, q)
    }
    fn mean_ms(&self) -> Option<f64> {
        Latencies::mean_ms(self)
    }
    fn max_ms(&self) -> Option<f64> {
        Latencies::max_ms(self)
    }
}

impl Quantiles for FunctionLatencies {
    fn quantile_ms(&self, q: f64) -> Option<f64> {
        FunctionLatencies::quantile_ms(self, q)
    }
    fn mean_ms(&self) -> Option<f64> {
        FunctionLatencies::mean_ms(self)
    }
    fn max_ms(&self) -> Option<f64> {
        FunctionLatencies::max_ms(self)
    }
}

/// A run's latency counts in the bucket layout of a 3-significant-digit
/// `Histogram<u64>` whose lowest discernible value is 1 ns (2,048
/// sub-buckets, each bucket past the first using its top 1,024), indexed as
/// hdrhistogram indexes them, so that adding each bucket's count at its
/// lowest value gives the histogram that recording every value would: the
/// same counts, total and bounds (a property test checks the V2 bytes).
///
/// A record is a shift, a count of leading zeros and an increment, against
/// hdrhistogram's range checks, resize check and minimum and maximum
/// updates (callgrind, `benches/scenarios/lambda_1m.toml`: 62 instructions
/// a record inside `record_n_inner`).
#[derive(Debug, Clone, Default)]
struct FlatCounts {
    counts: Vec<u64>,
}

impl FlatCounts {
    /// log2 of half the sub-buckets.
    const HALF: u32 = 10;
    /// Values below 2^11 share bucket 0.
    const MASK: u64 = (1 << (Self::HALF + 1)) - 1;
    /// hdrhistogram's `leading_zero_count_base`: 64 - 0 (unit magnitude) - 11.
    const BASE: u32 = 64 - (Self::HALF + 1);

    #[inline(always)]
    fn index(v: u64) -> usize {
        let bucket = Self::BASE - (v | Self::MASK).leading_zeros();
        ((bucket as usize) << Self::HALF) + (v >> bucket) as usize
    }

    /// The lowest value of the bucket at `index`.
    fn lowest(index: usize) -> u64 {
        if index < 2 << Self::HALF {
            return index as u64;
        }
        let bucket = (index >> Self::HALF) - 1;
        let sub = (index & ((1 << Self::HALF) - 1)) + (1 << Self::HALF);
        (sub as u64) << bucket
    }

    #[inline(always)]
    fn record(&mut self, v: u64) {
        let i = Self::index(v);
        match self.counts.get_mut(i) {
            Some(c) => *c += 1,
            None => self.grow(i),
        }
    }

    /// Makes room up to the end of `index`'s bucket (as hdrhistogram's
    /// resize does) and counts one there.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, index: usize) {
        let len = ((index >> Self::HALF) + 1) << Self::HALF;
        // A fresh zeroed allocation (pages of it the counts never reach
        // are never touched), then the counts so far.
        let mut counts = vec![0; len.max(2 << Self::HALF)];
        counts[..self.counts.len()].copy_from_slice(&self.counts);
        counts[index] += 1;
        self.counts = counts;
    }

    /// Adds every count, all of values within [min, max], to `hist` and
    /// empties itself.
    fn drain_into(&mut self, hist: &mut Histogram<u64>, min: u64, max: u64) {
        if !self.counts.is_empty() {
            let (from, to) = (
                Self::index(min),
                Self::index(max).min(self.counts.len() - 1),
            );
            for (i, &n) in self.counts.iter().enumerate().take(to + 1).skip(from) {
                if n > 0 {
                    record_n(hist, Self::lowest(i), n);
                }
            }
        }
        self.counts = Vec::new();
    }
}

/// Latencies of completed requests: a histogram for quantiles, exact sum,
/// minimum and maximum.
///
/// During a run the counts go to a flat array in the histogram's own
/// layout, added to the histogram once by [`Latencies::settle`]
/// ([`Recorder::finish`] and [`Recorder::take_latency`] call it); the
/// readers expect it settled.
#[derive(Debug, Clone)]
pub struct Latencies {
    hist: Histogram<u64>,
    pending: FlatCounts,
    sum: u128,
    count: u64,
    min: u64,
    max: u64,
}

impl Latencies {
    /// Values from which a record goes straight to the histogram: 2^62 ns,
    /// 146 years (the flat counts stop short of the top buckets).
    const FLAT_BELOW: u64 = 1 << 62;

    /// With 3 significant digits in the histogram (quantiles within 0.1 %),
    /// auto-resizing so no latency is ever out of range.
    fn new() -> Self {
        Latencies {
            hist: Histogram::new(3).expect("a valid histogram precision"),
            pending: FlatCounts::default(),
            sum: 0,
            count: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records that go straight to the histogram before the flat counts
    /// start: a short run (a sweep of many) never allocates or scans them.
    /// The order makes no difference: only the counts do.
    const DIRECT_FIRST: u64 = 4096;

    #[inline(always)]
    fn record(&mut self, ns: u64) {
        if ns < Self::FLAT_BELOW && self.count >= Self::DIRECT_FIRST {
            self.pending.record(ns);
        } else {
            record(&mut self.hist, ns);
        }
        self.sum += u128::from(ns);
        self.count += 1;
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    /// Adds the counts recorded since the last call to the histogram.
    pub fn settle(&mut self) {
        self.pending.drain_into(&mut self.hist, self.min, self.max);
    }

    /// The histogram, once settled.
    fn hist(&self) -> &Histogram<u64> {
        debug_assert!(
            self.pending.counts.is_empty(),
            "latencies read before Latencies::settle"
        );
        &self.hist
    }

    /// Quantile `q` \[ms\] (within the histogram's precision, inside [min, max]).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        quantile(self.hist(), q, self.min, self.max)
    }

    /// Exact mean \[ms\].
    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64 / 1e6)
    }

    /// Exact maximum \[ms\].
    pub fn max_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.max as f64 / 1e6)
    }

    /// Latencies recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// An empty pool of latencies, for [`Latencies::add`]: a run's precision.
    pub fn pool() -> Self {
        Latencies::new()
    }

    /// Adds `other`'s latencies: bucket counts, sum, count, minimum and
    /// maximum, all exact, so a pool is the same whatever order its parts
    /// come in.
    pub fn add(&mut self, other: &Latencies) {
        if other.count == 0 {
            return;
        }
        // The pool resizes itself to hold any u64, so adding cannot fail.
        self.hist
            .add(other.hist())
            .expect("an auto-resizing histogram takes any other");
        // A u128 sum of u64 latencies, and a u64 count, overflow only for
        // more than 2^64 requests: saturate rather than wrap.
        self.sum = self.sum.saturating_add(other.sum);
        self.count = self.count.saturating_add(other.count);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The distribution as (latency \[ms\], cumulative fraction) points,
    /// for a CDF chart: every half percent, then 99.9, 99.99 and 100 %.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        if self.count == 0 {
            return Vec::new();
        }
        let mut qs: Vec<f64> = (1..200).map(|i| f64::from(i) / 200.0).collect();
        qs.extend([0.999, 0.9999, 1.0]);
        qs.into_iter()
            .map(|q| (self.quantile_ms(q).unwrap_or(0.0), q))
            .collect()
    }

    /// The exact figures besides the histogram, for [`Latencies::from_parts`].
    pub fn exact(&self) -> ExactLatencies {
        ExactLatencies {
            sum: self.sum,
            count: self.count,
            min: self.min,
            max: self.max,
        }
    }

    /// The histogram in the hdrhistogram crate's V2 serialisation (the
    /// HdrHistogram family's portable format).
    pub fn histogram_v2(&self) -> Vec<u8> {
        use hdrhistogram::serialization::Serializer as _;
        let mut out = Vec::new();
        hdrhistogram::serialization::V2Serializer::new()
            .serialize(self.hist(), &mut out)
            .expect("a histogram of u64 counts serialises into memory");
        out
    }

    /// Latencies from a V2-serialised histogram and their exact figures;
    /// `Err` says what does not fit (a damaged or foreign histogram).
    pub fn from_parts(v2: &[u8], exact: ExactLatencies) -> std::result::Result<Self, String> {
        // The header first (hdrhistogram's V2: cookie, payload length,
        // normalising offset, significant digits, bounds, ratio; 40 bytes,
        // big-endian): the decoder sizes its buffer from the stated payload
        // length before reading it.
        const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(v2.get(at..at + 4)?.try_into().ok()?))
        };
        let (Some(cookie), Some(payload), Some(digits)) = (word(0), word(4), word(12)) else {
            return Err(format!("{} bytes: shorter than a V2 header", v2.len()));
        };
        if cookie != V2_COOKIE {
            return Err(format!(
                "cookie {cookie:#x}: not an uncompressed V2 histogram"
            ));
        }
        if 40 + payload as usize != v2.len() {
            return Err(format!(
                "the header says {payload} bytes of counts, {} follow it",
                v2.len().saturating_sub(40)
            ));
        }
        if digits != 3 {
            return Err(format!("a histogram of {digits} significant digits, not 3"));
        }
        let consistent = exact.count == 0
            || (exact.min <= exact.max
                && exact.sum >= u128::from(exact.min) * u128::from(exact.count)
                && exact.sum <= u128::from(exact.max) * u128::from(exact.count));
        if !consistent {
            return Err("its sum, minimum and maximum disagree".into());
        }
        let mut reader = v2;
        let hist: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut reader)
            .map_err(|e| format!("not a V2 histogram: {e}"))?;
        if !reader.is_empty() {
            return Err(format!("{} bytes after the histogram", reader.len()));
        }
        if hist.len() != exact.count {
            return Err(format!(
                "the histogram holds {} latencies, its run {}",
                hist.len(),
                exact.count
            ));
        }
        let mut l = Latencies::pool();
        if exact.count > 0 {
            l.hist
                .add(&hist)
                .map_err(|e| format!("cannot pool the histogram: {e}"))?;
        }
        l.sum = exact.sum;
        l.count = exact.count;
        l.min = exact.min;
        l.max = exact.max;
        Ok(l)
    }
}

/// The exact sum, count, minimum and maximum of a run's latencies \[ns\],
/// kept beside its histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExactLatencies {
    pub sum: u128,
    pub count: u64,
    pub min: u64,
    pub max: u64,
}

impl Counts {
    /// Counts one final outcome.
    #[inline]
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Completed => self.completed += 1,
            Outcome::Throttled => self.throttled += 1,
            Outcome::Rejected => self.rejected += 1,
            Outcome::TimedOut => self.timed_out += 1,
            Outcome::Dropped => self.dropped += 1,
            Outcome::InFlight => self.in_flight_end += 1,
        }
    }
}

/// Per-function measurements (`--per-function`).
#[derive(Debug, Clone)]
pub struct FunctionStats {
    pub counts: Counts,
    pub latency: FunctionLatencies,
}

impl FunctionStats {
    fn new() -> Self {
        FunctionStats {
            counts: Counts::default(),
            latency: FunctionLatencies::default(),
        }
    }
}

/// One function's latencies (`--per-function`): the counts of a
/// two-significant-digit HDR histogram (1 %), kept sparse, as (bucket,
/// count) pairs of the buckets that hold any, in bucket order: a 20,000-
/// function trace holds 20,000 of these, and most functions fill a few
/// dozen buckets of the histogram's thousands. Quantiles are exactly the
/// histogram's: the same buckets, ranks and bucket middles.
#[derive(Debug, Clone, Default)]
pub struct FunctionLatencies {
    buckets: Vec<u16>,
    counts: Vec<u32>,
    sum: u128,
    count: u64,
    min: u64,
    max: u64,
}

impl FunctionLatencies {
    /// The bucket of `v` in an HDR histogram of 2 significant digits and
    /// lowest value 1 (256 sub-buckets, the top half of each after the
    /// first): hdrhistogram's `index_for`, at most 7,423.
    #[inline]
    fn bucket(v: u64) -> u16 {
        let b = 56 - (v | 255).leading_zeros() as u64;
        ((b << 7) + (v >> b)) as u16
    }

    /// The lowest value of bucket `i` (hdrhistogram's `lowest_equivalent`).
    fn lowest(i: u16) -> u64 {
        let i = u64::from(i);
        if i < 256 {
            i
        } else {
            let b = (i >> 7) - 1;
            ((i & 127) + 128) << b
        }
    }

    #[inline]
    fn record(&mut self, ns: u64) {
        let b = Self::bucket(ns);
        match self.buckets.binary_search(&b) {
            Ok(i) => self.counts[i] = self.counts[i].saturating_add(1),
            Err(i) => {
                self.buckets.insert(i, b);
                self.counts.insert(i, 1);
            }
        }
        self.sum += u128::from(ns);
        self.count += 1;
        if self.count == 1 {
            self.min = ns;
        }
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    /// Quantile `q` \[ms\]: the middle of the bucket where the cumulative
    /// count first reaches rank ceil(q n), within [min, max], as
    /// [`Latencies::quantile_ms`] gives for a histogram.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.min(1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        let mut at = *self.buckets.last().expect("a bucket per latency");
        for (b, c) in self.buckets.iter().zip(&self.counts) {
            seen += u64::from(*c);
            if seen >= rank {
                at = *b;
                break;
            }
        }
        // The bucket's width: 1 below 256, then doubling every 128 buckets.
        let width = if at < 256 { 1 } else { 1u64 << ((at >> 7) - 1) };
        let median = Self::lowest(at) + (width >> 1);
        Some(median.clamp(self.min, self.max) as f64 / 1e6)
    }

    /// Exact mean \[ms\].
    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64 / 1e6)
    }

    /// Exact maximum \[ms\].
    pub fn max_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.max as f64 / 1e6)
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * 2 + self.counts.capacity() * 4
    }
}

/// Everything measured in one run of one platform.
pub struct Recorder {
    /// Per-function counters, when asked for (`--per-function`).
    pub per_function: Option<Vec<FunctionStats>>,
    window: (SimTime, SimTime),
    pub counts: Counts,
    /// Latencies of completed requests that arrived in the window.
    pub latency: Latencies,
    /// Requests in service (Lambda: environments initialising or busy).
    pub in_service: Level,
    /// Lambda environments alive, or Kubernetes pods existing.
    pub instances: Level,
    /// Kubernetes nodes (ready or provisioning).
    pub nodes: Level,
    // The open interval of the time series.
    iv_arrivals: u64,
    iv_completed: u64,
    iv_errors: u64,
    iv_cold: u64,
    iv_latency: IntervalLatencies,
    rows: Rows,
    /// Told of the first failed write of the series or the log.
    output: Option<WriteFailure>,
    log: Option<RequestLog>,
    overhead: SimDuration,
}

impl Recorder {
    /// A recorder whose summary window is [from, to): the scenario's
    /// measurement window (`to` is the horizon but for a trace window,
    /// whose replay has no arrivals past it).
    pub fn new(from: SimTime, to: SimTime, log: Option<RequestLog>) -> Self {
        let window = (from.min(to), to);
        Recorder {
            per_function: None,
            window,
            counts: Counts::default(),
            latency: Latencies::new(),
            in_service: Level::new(window),
            instances: Level::new(window),
            nodes: Level::new(window),
            iv_arrivals: 0,
            iv_completed: 0,
            iv_errors: 0,
            iv_cold: 0,
            iv_latency: IntervalLatencies::new(),
            rows: Rows::Memory(Vec::new()),
            output: None,
            log,
            overhead: SimDuration::ZERO,
        }
    }

    /// Reserves room for `n` time-series rows up front, if they are kept
    /// in memory: a long series then never reallocates.
    pub fn reserve_rows(&mut self, n: usize) {
        if let Rows::Memory(rows) = &mut self.rows {
            rows.reserve_exact(n);
        }
    }

    /// Drops the time series of this run (memory stays flat over many runs).
    pub fn drop_rows(&mut self) {
        self.rows = Rows::Drop;
    }

    /// Streams the time series to `writer` as intervals close, instead of
    /// keeping it in memory.
    pub fn stream_rows(&mut self, writer: series::SeriesWriter) {
        self.rows = Rows::Stream(Box::new(writer));
    }

    /// Watches `failure` (shared with the series writer and the log): the
    /// run stops at its next checkpoint once a write has failed.
    pub fn watch_output(&mut self, failure: WriteFailure) {
        self.output = Some(failure);
    }

    /// Whether a write of this run's outputs has failed.
    pub fn output_failed(&self) -> bool {
        self.output.as_ref().is_some_and(WriteFailure::is_set)
    }

    /// Keeps per-function counters for `functions` functions.
    pub fn track_functions(&mut self, functions: usize) {
        self.per_function = Some((0..functions).map(|_| FunctionStats::new()).collect());
    }

    /// A fixed latency added to every request that gets an answer (Lambda `overhead_ms`).
    pub fn set_overhead(&mut self, overhead: SimDuration) {
        self.overhead = overhead;
    }

    /// Whether `req` is inside the measurement window (arrived at or after warm-up).
    #[inline]
    pub fn measured(&self, req: &Request) -> bool {
        req.arrival >= self.window.0
    }

    /// The summary window [from, to).
    pub fn window(&self) -> (SimTime, SimTime) {
        self.window
    }

    #[inline]
    pub fn arrived(&mut self, req: &Request) {
        self.iv_arrivals += 1;
        if self.measured(req) {
            self.counts.requests += 1;
            if let Some(f) = &mut self.per_function {
                f[req.function as usize].counts.requests += 1;
            }
        }
    }

    #[inline]
    pub fn cold_start(&mut self, req: &Request) {
        self.iv_cold += 1;
        if self.measured(req) {
            self.counts.cold_starts += 1;
            if let Some(f) = &mut self.per_function {
                f[req.function as usize].counts.cold_starts += 1;
            }
        }
    }

    /// Records the end of `req`: its outcome at `end`, having started
    /// executing at `start` (if it did).
    #[inline(always)]
    pub fn outcome(
        &mut self,
        req: &Request,
        outcome: Outcome,
        start: Option<SimTime>,
        end: SimTime,
        cold: bool,
    ) {
        let answered = matches!(outcome, Outcome::Completed | Outcome::TimedOut);
        let latency = answered.then(|| end.since(req.arrival) + self.overhead);
        match outcome {
            Outcome::Completed => self.iv_completed += 1,
            Outcome::InFlight => {}
            _ => self.iv_errors += 1,
        }
        let lat_ns = latency.map_or(0, |d| d.0);
        if outcome == Outcome::Completed {
            self.iv_latency.record(lat_ns);
        }
        if self.measured(req) {
            self.counts.count(outcome);
            if outcome == Outcome::Completed {
                self.latency.record(lat_ns);
            }
            if let Some(fs) = &mut self.per_function {
                let f = &mut fs[req.function as usize];
                f.counts.count(outcome);
                if outcome == Outcome::Completed {
                    f.latency.record(lat_ns);
                }
            }
        }
        if let Some(log) = &mut self.log {
            let end = (outcome != Outcome::InFlight).then_some(end);
            log.row(req, outcome, start, end, latency, cold);
        }
    }

    /// Closes the time-series interval that started at `start`.
    pub fn close_interval(&mut self, start: SimTime, gauges: Gauges) {
        let p95_ms = self.iv_latency.take_quantile(0.95);
        let row = IntervalRow {
            start,
            arrivals: std::mem::take(&mut self.iv_arrivals),
            completed: std::mem::take(&mut self.iv_completed),
            errors: std::mem::take(&mut self.iv_errors),
            cold_starts: std::mem::take(&mut self.iv_cold),
            p95_ms,
            gauges,
        };
        match &mut self.rows {
            Rows::Drop => {}
            Rows::Memory(rows) => rows.push(row),
            Rows::Stream(w) => w.push(&row),
        }
    }

    /// Closes the levels at the horizon.
    pub fn finish(&mut self, horizon: SimTime) {
        for level in [&mut self.in_service, &mut self.instances, &mut self.nodes] {
            let v = level.value;
            level.set(horizon, v);
        }
        self.latency.settle();
    }

    /// Takes the request log out (to close it).
    pub fn take_log(&mut self) -> Option<RequestLog> {
        self.log.take()
    }

    /// The time-series rows kept in memory (none if dropped or streamed).
    pub fn rows(&self) -> &[IntervalRow] {
        match &self.rows {
            Rows::Memory(rows) => rows,
            _ => &[],
        }
    }

    /// Moves the time series out (`None` if it was dropped), or the error
    /// that stopped streaming it.
    pub fn take_series(&mut self) -> std::io::Result<Option<series::Series>> {
        match std::mem::replace(&mut self.rows, Rows::Drop) {
            Rows::Drop => Ok(None),
            Rows::Memory(rows) => Ok(Some(series::Series::from_rows(rows))),
            Rows::Stream(w) => w.finish().map(Some),
        }
    }

    /// Latency quantile of completed requests \[ms\] (within 0.1 %), or `None` if none completed.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.latency.quantile_ms(q)
    }

    /// Moves the run's latencies out (an empty set stays behind).
    pub fn take_latency(&mut self) -> Latencies {
        self.latency.settle();
        std::mem::replace(&mut self.latency, Latencies::pool())
    }

    /// Exact mean latency of completed requests \[ms\].
    pub fn mean_ms(&self) -> Option<f64> {
        self.latency.mean_ms()
    }

    /// Exact maximum latency of completed requests \[ms\].
    pub fn max_ms(&self) -> Option<f64> {
        self.latency.max_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A run's latencies, counted flat and settled, are the histogram
        /// that recording each value gives: equal, and the same V2 bytes
        /// (shards carry those), quantiles and pool.
        #[test]
        fn flat_counts_settle_into_the_histogram_recording_gives(
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    0u64..5_000,
                    1_000_000u64..200_000_000,
                    0u64..u64::MAX / 2,
                    proptest::prelude::Just(u64::MAX - 1),
                    proptest::prelude::Just((1 << 62) - 1),
                ],
                0..400,
            ),
            direct in 0u64..50,
        ) {
            let mut ours = Latencies::new();
            // The first `direct` records straight to the histogram, the
            // rest flat, as in a long run.
            ours.count = Latencies::DIRECT_FIRST - direct;
            let mut h: Histogram<u64> = Histogram::new(3).unwrap();
            for &v in &values {
                ours.record(v);
                record(&mut h, v);
                let i = FlatCounts::index(v);
                if v < Latencies::FLAT_BELOW {
                    proptest::prop_assert_eq!(FlatCounts::lowest(i), h.lowest_equivalent(v));
                }
            }
            ours.settle();
            proptest::prop_assert!(ours.hist == h);
            let mut direct = Latencies::new();
            direct.hist = h;
            proptest::prop_assert_eq!(ours.histogram_v2(), direct.histogram_v2());
            for q in [0.001, 0.5, 0.95, 0.99, 1.0] {
                proptest::prop_assert_eq!(
                    ours.hist.value_at_quantile(q),
                    direct.hist.value_at_quantile(q)
                );
            }
            let mut pool = Latencies::pool();
            pool.add(&ours);
            proptest::prop_assert!(pool.hist == direct.hist || values.is_empty());
        }

        /// The sparse per-function latencies give exactly what a
        /// 2-significant-digit HDR histogram of the same values gives.
        #[test]
        fn function_latencies_are_the_histograms(
            values in proptest::collection::vec(
                proptest::prop_oneof![0u64..300, 0u64..100_000, 0u64..u64::MAX / 4, proptest::prelude::Just(u64::MAX - 1)],
                1..400,
            ),
        ) {
            let mut ours = FunctionLatencies::default();
            let mut h: Histogram<u64> = Histogram::new(2).unwrap();
            let (mut min, mut max) = (u64::MAX, 0);
            for &v in &values {
                ours.record(v);
                record(&mut h, v);
                min = min.min(v);
                max = max.max(v);
                proptest::prop_assert_eq!(
                    FunctionLatencies::lowest(FunctionLatencies::bucket(v)),
                    h.lowest_equivalent(v)
                );
            }
            for q in [0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                proptest::prop_assert_eq!(ours.quantile_ms(q), quantile(&h, q, min, max), "q {}", q);
            }
        }
    }

    #[test]
    fn level_integrates_only_inside_the_window() {
        let s = |x: u64| SimTime(x * 1_000_000_000);
        let mut l = Level::new((s(10), s(20)));
        l.set(s(0), 100); // before the window: no area, no peak
        l.set(s(15), 2); // 100 over [10, 15)
        l.set(s(25), 7); // 2 over [15, 20); 7 after the window
        assert_eq!(l.area, (100 * 5 + 2 * 5) as u128 * 1_000_000_000);
        assert!((l.mean() - 51.0).abs() < 1e-12);
        assert_eq!(l.peak(), 100);
    }

    #[test]
    fn warmup_requests_are_logged_in_the_series_but_not_counted() {
        let mut r = Recorder::new(SimTime(100), SimTime(1000), None);
        let early = Request {
            id: 0,
            arrival: SimTime(50),
            function: 0,
            work: SimDuration(1),
            ..Request::default()
        };
        let late = Request {
            arrival: SimTime(150),
            id: 1,
            ..early
        };
        for req in [early, late] {
            r.arrived(&req);
            r.outcome(
                &req,
                Outcome::Completed,
                Some(req.arrival),
                req.arrival + SimDuration(10),
                false,
            );
        }
        assert_eq!(r.counts.requests, 1);
        assert_eq!(r.counts.completed, 1);
        r.close_interval(SimTime::ZERO, Gauges::default());
        assert_eq!(r.rows()[0].arrivals, 2);
        assert_eq!(r.rows()[0].completed, 2);
    }

    #[test]
    fn interval_quantile_matches_the_histogram_exactly() {
        // The selection path (and the spill path past SPILL values) must give
        // what a histogram of the same values gives, to the bit.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Latencies from 1 us to ~17 min, spread over many buckets.
            1_000 + (x % 1_000_000_007) * (1 + x % 1_000)
        };
        for n in [
            1,
            2,
            3,
            19,
            20,
            21,
            1_000,
            4_096,
            IntervalLatencies::SPILL + 5_000,
        ] {
            let mut iv = IntervalLatencies::new();
            let mut h: Histogram<u64> = Histogram::new(3).unwrap();
            let (mut min, mut max) = (u64::MAX, 0);
            for _ in 0..n {
                let v = next();
                iv.record(v);
                h.record(v).unwrap();
                min = min.min(v);
                max = max.max(v);
            }
            for q in [0.5, 0.95, 0.99, 1.0] {
                let mut again = iv.clone();
                let got = again.take_quantile(q).map(f64::to_bits);
                assert_eq!(
                    got,
                    quantile(&h, q, min, max).map(f64::to_bits),
                    "n {n} q {q}"
                );
            }
            assert!(iv.take_quantile(0.95).is_some());
            assert_eq!(
                iv.take_quantile(0.95),
                None,
                "a closed interval starts empty"
            );
        }
    }
}
