//! summary.csv and timeseries.csv: column names and definitions of SPEC 5.
//! Renderers return bytes, so they are tested without touching files.

use std::fmt::Write as _;

use crate::metrics::{Counts, Latencies, csv_field};
use crate::runner::RunResult;
use crate::time::SimTime;

/// Index of the first metric column of summary.csv (`requests`).
pub const FIRST_METRIC: usize = 5;

/// The columns of summary.csv, in order.
pub const SUMMARY_COLUMNS: &[&str] = &[
    "scenario",
    "platform",
    "point",
    "replication",
    "seed",
    "requests",
    "completed",
    "throttled",
    "rejected",
    "timed_out",
    "dropped",
    "in_flight_end",
    "cold_starts",
    "cold_start_ratio",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "mean_ms",
    "error_rate",
    "mean_concurrency",
    "peak_concurrency",
    "mean_instances",
    "peak_instances",
    "mean_nodes",
    "peak_nodes",
    "cost_usd",
    "cost_per_million_usd",
    "cost_per_month_usd",
    "cost_requests_usd",
    "cost_compute_usd",
    "cost_provisioned_usd",
    "cost_nodes_usd",
    "cost_control_plane_usd",
    "cost_front_door_usd",
];

/// The columns of timeseries.csv, in order.
pub const TIMESERIES_COLUMNS: &[&str] = &[
    "t_s",
    "platform",
    "arrivals",
    "completed",
    "errors",
    "in_flight",
    "queued",
    "cold_starts",
    "instances_busy",
    "instances_idle",
    "instances_initialising",
    "pods_desired",
    "pods_ready",
    "pods_pending",
    "nodes",
    "nodes_provisioning",
    "p95_ms",
    "cost_usd",
];

fn ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_default()
}

fn opt(v: Option<u64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// The summary.csv fields from `scenario` to `error_rate` for one set of
/// counts and latencies (a run, or one function of it).
fn leading_fields(
    scenario: &str,
    platform: &str,
    r: &RunResult,
    c: &Counts,
    lat: &Latencies,
) -> Vec<String> {
    vec![
        csv_field(scenario),
        csv_field(platform),
        r.point.to_string(),
        r.replication.to_string(),
        r.seed.to_string(),
        c.requests.to_string(),
        c.completed.to_string(),
        c.throttled.to_string(),
        c.rejected.to_string(),
        c.timed_out.to_string(),
        c.dropped.to_string(),
        c.in_flight_end.to_string(),
        c.cold_starts.to_string(),
        format!("{:.6}", c.cold_start_ratio()),
        ms(lat.quantile_ms(0.50)),
        ms(lat.quantile_ms(0.90)),
        ms(lat.quantile_ms(0.95)),
        ms(lat.quantile_ms(0.99)),
        ms(lat.quantile_ms(0.999)),
        ms(lat.max_ms()),
        ms(lat.mean_ms()),
        format!("{:.6}", c.error_rate()),
    ]
}

/// The summary.csv fields of one run, in [`SUMMARY_COLUMNS`] order.
pub fn summary_fields(scenario: &str, r: &RunResult) -> Vec<String> {
    let cost = &r.bill.cost;
    let total = cost.total();
    let requests = r.rec.counts.requests;
    let per_million = if requests == 0 {
        0.0
    } else {
        total / requests as f64 * 1e6
    };
    // Nodes do not apply to Lambda: empty rather than a misleading 0.
    let (nodes_mean, nodes_peak) = if r.has_nodes {
        (
            format!("{:.4}", r.rec.nodes.mean()),
            r.rec.nodes.peak().to_string(),
        )
    } else {
        (String::new(), String::new())
    };
    let mut fields = leading_fields(scenario, &r.platform, r, &r.rec.counts, &r.rec.latency);
    fields.extend([
        format!("{:.4}", r.rec.in_service.mean()),
        r.rec.in_service.peak().to_string(),
        format!("{:.4}", r.rec.instances.mean()),
        r.rec.instances.peak().to_string(),
        nodes_mean,
        nodes_peak,
        format!("{total:.6}"),
        format!("{per_million:.6}"),
        format!("{:.6}", r.bill.per_month_usd),
        format!("{:.6}", cost.requests),
        format!("{:.6}", cost.compute),
        format!("{:.6}", cost.provisioned),
        format!("{:.6}", cost.nodes),
        format!("{:.6}", cost.control_plane),
        format!("{:.6}", cost.front_door),
    ]);
    fields
}

/// Per-function summary.csv rows of one run (`--per-function`): the platform
/// column reads `<platform>/<function>`; counts, latency and error rate are
/// filled, the platform-wide columns (concurrency, instances, nodes, cost) left empty.
pub fn function_rows(scenario: &str, functions: &[String], r: &RunResult) -> Vec<Vec<String>> {
    let Some(stats) = &r.rec.per_function else {
        return Vec::new();
    };
    stats
        .iter()
        .zip(functions)
        .map(|(f, name)| {
            let platform = format!("{}/{name}", r.platform);
            let mut row = leading_fields(scenario, &platform, r, &f.counts, &f.latency);
            row.resize(SUMMARY_COLUMNS.len(), String::new());
            row
        })
        .collect()
}

/// summary.csv for the runs of one scenario, in run order, from their
/// [`summary_fields`], each run followed by its per-function rows (if kept).
pub fn summary_csv(
    scenario: &str,
    functions: &[String],
    runs: &[RunResult],
    fields: &[Vec<String>],
) -> String {
    let mut out = SUMMARY_COLUMNS.join(",");
    out.push('\n');
    for (r, f) in runs.iter().zip(fields) {
        out.push_str(&f.join(","));
        out.push('\n');
        for row in function_rows(scenario, functions, r) {
            out.push_str(&row.join(","));
            out.push('\n');
        }
    }
    out
}

/// timeseries.csv for the runs of one scenario: each run's intervals in time
/// order. With sweeps or replications, only point 0, replication 0 (the
/// series of every run would multiply the file; aggregate.csv covers them).
pub fn timeseries_csv(runs: &[RunResult]) -> String {
    let mut out = TIMESERIES_COLUMNS.join(",");
    out.push('\n');
    for r in runs.iter().filter(|r| r.point == 0 && r.replication == 0) {
        let platform = csv_field(&r.platform);
        for row in r.rec.rows() {
            let s = &row.snap;
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.6}",
                secs(row.start),
                platform,
                row.arrivals,
                row.completed,
                row.errors,
                s.in_flight,
                s.queued,
                row.cold_starts,
                opt(s.instances_busy),
                opt(s.instances_idle),
                opt(s.instances_initialising),
                opt(s.pods_desired),
                opt(s.pods_ready),
                opt(s.pods_pending),
                opt(s.nodes),
                opt(s.nodes_provisioning),
                ms(row.p95_ms),
                s.cost_usd,
            );
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
    fn the_first_metric_column_is_requests() {
        assert_eq!(SUMMARY_COLUMNS[FIRST_METRIC], "requests");
        assert_eq!(SUMMARY_COLUMNS[FIRST_METRIC - 1], "seed");
    }
}
