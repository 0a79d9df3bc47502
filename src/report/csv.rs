//! summary.csv and timeseries.csv: column names and definitions as in the README's 'Outputs'.
//! Renderers return bytes, so they are tested without touching files.

use std::fmt::Write as _;

use std::path::Path;

use crate::engine::CancelToken;
use crate::metrics::summary::{METRICS, RunSummary};
use crate::time::SimTime;

/// A CSV document in memory, written through the csv crate (fields quoted
/// only where they must be).
pub struct Doc<W: std::io::Write = Vec<u8>> {
    w: csv::Writer<W>,
    /// A reusable buffer for formatted fields.
    buf: String,
    /// The first write error (writing into memory cannot fail).
    error: Option<csv::Error>,
}

impl Doc {
    /// A document with `header` as its first row.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(header: I) -> Self {
        Doc::to_writer(header, Vec::with_capacity(1 << 16))
    }

    /// The document's text.
    pub fn finish(self) -> String {
        let bytes = self.w.into_inner().unwrap_or_default();
        // Every field came in as UTF-8.
        String::from_utf8(bytes).unwrap_or_default()
    }
}

impl<W: std::io::Write> Doc<W> {
    /// A document written to `out` as it grows, with `header` as its first
    /// row.
    pub fn to_writer<I: IntoIterator<Item = S>, S: AsRef<str>>(header: I, out: W) -> Self {
        let mut d = Doc {
            w: csv::WriterBuilder::new().flexible(true).from_writer(out),
            buf: String::new(),
            error: None,
        };
        for h in header {
            d.field(h.as_ref());
        }
        d.end();
        d
    }

    /// Whether a write has failed (the rest would be for nothing).
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    fn keep(&mut self, r: csv::Result<()>) {
        if let (Err(e), None) = (r, &self.error) {
            self.error = Some(e);
        }
    }

    /// Appends a field to the current row.
    #[inline]
    pub fn field(&mut self, f: &str) {
        let r = self.w.write_field(f);
        self.keep(r);
    }

    /// Appends a formatted field.
    #[inline]
    pub fn fmt(&mut self, args: std::fmt::Arguments) {
        self.buf.clear();
        let _ = self.buf.write_fmt(args);
        let r = self.w.write_field(&self.buf);
        self.keep(r);
    }

    /// Ends the current row.
    #[inline]
    pub fn end(&mut self) {
        let r = self.w.write_record(None::<&[u8]>);
        self.keep(r);
    }

    /// Flushes the document and returns its writer, or the first error.
    pub fn into_writer(self) -> std::io::Result<W> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

/// The identifying columns of summary.csv, before the metrics.
pub const ID_COLUMNS: &[&str] = &["scenario", "platform", "point", "replication", "seed"];

/// The columns of summary.csv, in order: the identifying columns, then
/// every [`METRICS`] name.
pub fn summary_columns() -> Vec<&'static str> {
    ID_COLUMNS
        .iter()
        .copied()
        .chain(METRICS.iter().map(|m| m.name))
        .collect()
}

/// The columns of timeseries.csv before the gauges.
const SERIES_HEAD: &[&str] = &[
    "t_s",
    "platform",
    "arrivals",
    "completed",
    "errors",
    "in_flight",
    "queued",
    "cold_starts",
];

/// The columns of timeseries.csv after the gauges.
const SERIES_TAIL: &[&str] = &["p95_ms", "cost_usd"];

/// The columns of timeseries.csv, in order: the common head, every platform
/// kind's gauges ([`crate::platform::gauge_columns`]; empty where a row's
/// platform does not report one), p95 and cost.
pub fn timeseries_columns() -> Vec<&'static str> {
    let mut cols = SERIES_HEAD.to_vec();
    cols.extend(crate::platform::gauge_columns());
    cols.extend(SERIES_TAIL);
    cols
}

fn ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_default()
}

/// One summary.csv row: a run, or one function of it (whose platform-wide
/// columns stay empty).
fn summary_row(doc: &mut Doc, scenario: &str, r: &RunSummary, function: Option<(usize, &str)>) {
    doc.field(scenario);
    match function {
        Some((_, name)) => doc.fmt(format_args!("{}/{name}", r.platform)),
        None => doc.field(&r.platform),
    }
    doc.fmt(format_args!("{}", r.point));
    doc.fmt(format_args!("{}", r.replication));
    doc.fmt(format_args!("{}", r.seed));
    for m in METRICS {
        match m.value(r, function.map(|f| f.0)) {
            Some(v) => doc.field(&m.format(v)),
            None => doc.field(""),
        }
    }
    doc.end();
}

/// summary.csv for the runs of one scenario, in run order, each run followed
/// by its per-function rows (if kept; the platform column reads
/// `<platform>/<function>`).
pub fn summary_csv(scenario: &str, functions: &[String], runs: &[RunSummary]) -> String {
    let mut doc = Doc::new(summary_columns());
    for r in runs {
        summary_row(&mut doc, scenario, r, None);
        for (i, name) in functions.iter().enumerate().take(r.functions.len()) {
            summary_row(&mut doc, scenario, r, Some((i, name)));
        }
    }
    doc.finish()
}

/// summary.csv as report.html shows it: each run's per-function rows sorted
/// by requests (most first, then in function order) and capped at `cap`;
/// with how many rows were left out.
pub fn summary_for_report(
    scenario: &str,
    functions: &[String],
    runs: &[RunSummary],
    cap: usize,
) -> (String, usize) {
    let mut doc = Doc::new(summary_columns());
    let mut left_out = 0;
    for r in runs {
        summary_row(&mut doc, scenario, r, None);
        let mut order: Vec<usize> = (0..r.functions.len().min(functions.len())).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(r.functions[i].counts.requests), i));
        left_out += order.len().saturating_sub(cap);
        for &i in order.iter().take(cap) {
            summary_row(&mut doc, scenario, r, Some((i, &functions[i])));
        }
    }
    (doc.finish(), left_out)
}

/// Writes timeseries.csv for the runs of one scenario to `out`: each run's
/// intervals in time order, read back from its stored series. With sweeps or
/// replications, only replication 0 of `point` (the series of every run
/// would multiply the file; aggregate.csv covers them).
pub fn write_timeseries<W: std::io::Write>(
    out: W,
    runs: &[RunSummary],
    point: usize,
    cancel: &CancelToken,
) -> std::result::Result<W, SeriesError> {
    let columns = crate::platform::gauge_columns();
    let mut doc = Doc::to_writer(timeseries_columns(), out);
    for r in runs
        .iter()
        .filter(|r| r.point == point && r.replication == 0)
    {
        let Some(series) = &r.series else { continue };
        // Where each gauge column is among this run's values.
        let slots: Vec<Option<usize>> = columns
            .iter()
            .map(|c| r.gauges.iter().position(|g| g == c))
            .collect();
        let origin = series.origin().unwrap_or(Path::new("memory")).to_path_buf();
        let read = |e| SeriesError::Read(origin.clone(), e);
        let done = series.try_for_each(read, |i, row| {
            // A long run can have ten million rows: seconds of formatting.
            // Every 65,536 rows left a stop waiting up to 178 ms with 1e7
            // rows (benches/signal_latency.py series); every 8,192, at
            // most 65 ms from the signal to the exit.
            if i.is_multiple_of(8_192) {
                cancel.check().map_err(|_| SeriesError::Interrupted)?;
            }
            let g = &row.gauges;
            doc.field(&secs(row.start));
            doc.field(&r.platform);
            for v in [
                row.arrivals,
                row.completed,
                row.errors,
                g.in_flight,
                g.queued,
            ] {
                doc.fmt(format_args!("{v}"));
            }
            doc.fmt(format_args!("{}", row.cold_starts));
            for slot in &slots {
                match slot {
                    Some(i) => doc.fmt(format_args!("{}", g.values[*i])),
                    None => doc.field(""),
                }
            }
            doc.field(&ms(row.p95_ms));
            doc.fmt(format_args!("{:.6}", g.cost_usd));
            doc.end();
            if doc.failed() {
                // into_writer below gives the error.
                return Err(SeriesError::Write(std::io::Error::other("stopped")));
            }
            Ok(())
        });
        match done {
            Err(SeriesError::Write(_)) => break,
            Err(e) => return Err(e),
            Ok(()) => {}
        }
    }
    doc.into_writer().map_err(SeriesError::Write)
}

/// Why timeseries.csv could not be written.
#[derive(Debug)]
pub enum SeriesError {
    /// Reading a stored series back (from this file or folder) failed.
    Read(std::path::PathBuf, std::io::Error),
    /// Writing the file failed.
    Write(std::io::Error),
    Interrupted,
}

/// Seconds with up to 9 decimals and no trailing zeros.
fn secs(t: SimTime) -> String {
    let s = crate::time::Secs9(t.0).to_string();
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_as_rfc_4180_needs() {
        let mut d = Doc::new(["a", "b"]);
        for f in ["plain", "a,b", "say \"hi\"", "two\nlines", "", "x/y - z"] {
            d.field(f);
        }
        d.end();
        assert_eq!(
            d.finish(),
            "a,b\nplain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,x/y - z\n"
        );
    }

    #[test]
    fn the_summary_columns_are_spec_5s() {
        let cols = summary_columns();
        assert_eq!(cols.len(), 37);
        assert_eq!(cols[ID_COLUMNS.len()], "requests");
        assert_eq!(cols.last(), Some(&"cost_front_door_usd"));
    }
}
