//! summary.csv and timeseries.csv: column names and definitions of SPEC 5.
//! Renderers return bytes, so they are tested without touching files.

use std::fmt::Write as _;

use crate::metrics::csv_field;
use crate::metrics::summary::{METRICS, RunSummary};
use crate::time::SimTime;

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
fn summary_row(out: &mut String, scenario: &str, r: &RunSummary, function: Option<(usize, &str)>) {
    let platform = match function {
        Some((_, name)) => csv_field(&format!("{}/{name}", r.platform)),
        None => csv_field(&r.platform),
    };
    let _ = write!(
        out,
        "{},{platform},{},{},{}",
        csv_field(scenario),
        r.point,
        r.replication,
        r.seed
    );
    for m in METRICS {
        out.push(',');
        if let Some(v) = m.value(r, function.map(|f| f.0)) {
            out.push_str(&m.format(v));
        }
    }
    out.push('\n');
}

/// summary.csv for the runs of one scenario, in run order, each run followed
/// by its per-function rows (if kept; the platform column reads
/// `<platform>/<function>`).
pub fn summary_csv(scenario: &str, functions: &[String], runs: &[RunSummary]) -> String {
    let mut out = summary_columns().join(",");
    out.push('\n');
    for r in runs {
        summary_row(&mut out, scenario, r, None);
        for (i, name) in functions.iter().enumerate().take(r.functions.len()) {
            summary_row(&mut out, scenario, r, Some((i, name)));
        }
    }
    out
}

/// timeseries.csv for the runs of one scenario: each run's intervals in time
/// order. With sweeps or replications, only point 0, replication 0 (the
/// series of every run would multiply the file; aggregate.csv covers them).
pub fn timeseries_csv(runs: &[RunSummary]) -> String {
    let columns = crate::platform::gauge_columns();
    let mut out = timeseries_columns().join(",");
    out.push('\n');
    for r in runs.iter().filter(|r| r.point == 0 && r.replication == 0) {
        let platform = csv_field(&r.platform);
        let Some(series) = &r.series else { continue };
        // Where each gauge column is among this run's values.
        let slots: Vec<Option<usize>> = columns
            .iter()
            .map(|c| r.gauges.iter().position(|g| g == c))
            .collect();
        for row in &series.rows {
            let g = &row.gauges;
            let _ = write!(
                out,
                "{},{},{},{},{},{},{},{}",
                secs(row.start),
                platform,
                row.arrivals,
                row.completed,
                row.errors,
                g.in_flight,
                g.queued,
                row.cold_starts,
            );
            for slot in &slots {
                out.push(',');
                if let Some(i) = slot {
                    let _ = write!(out, "{}", g.values[*i]);
                }
            }
            let _ = writeln!(out, ",{},{:.6}", ms(row.p95_ms), g.cost_usd);
        }
    }
    out
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
    fn the_summary_columns_are_spec_5s() {
        let cols = summary_columns();
        assert_eq!(cols.len(), 37);
        assert_eq!(cols[ID_COLUMNS.len()], "requests");
        assert_eq!(cols.last(), Some(&"cost_front_door_usd"));
    }
}
