//! The short human summary printed on stdout.

use crate::metrics::summary::{Grouped, RunSummary, metric};
use crate::scenario::Outline;

/// The short human summary printed on stdout: one line per platform (per
/// sweep point with a sweep), means over replications.
pub fn summary_table(s: &Outline, runs: &[RunSummary]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {} s, {} replication(s), seed {}{}",
        s.name,
        s.horizon.as_secs_f64(),
        s.replications,
        s.seed,
        if s.points.is_empty() {
            String::new()
        } else {
            format!(", {} sweep points (see points.csv)", s.points.len())
        }
    );
    if !s.description.is_empty() {
        let _ = writeln!(out, "  {}", s.description);
    }
    if let Some(t) = s.trace.filter(|t| t.skipped > 0) {
        let _ = writeln!(
            out,
            "  trace: {} rows replayed, {} bad rows skipped",
            t.rows, t.skipped
        );
    }
    if let Some(cold) = s.trace.and_then(|t| t.observed_cold_starts) {
        let share = cold as f64 / s.trace.map_or(1, |t| t.rows.max(1)) as f64;
        let _ = writeln!(
            out,
            "  recorded cold starts (REPORT lines with an Init Duration): {cold} of {} ({:.2}%); \
             the simulated ones are the cold column",
            s.trace.map_or(0, |t| t.rows),
            share * 100.0
        );
    }
    let _ = writeln!(
        out,
        "  {:<22} {:>10} {:>9} {:>9} {:>9} {:>8} {:>8} {:>12} {:>14}",
        "platform",
        "requests",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "errors",
        "cold",
        "cost_usd",
        "usd_per_month"
    );
    let grouped = Grouped::new(runs);
    let stat = |name: &str| metric(name).expect("a summary metric");
    let (p50, p95, p99) = (stat("p50_ms"), stat("p95_ms"), stat("p99_ms"));
    let (requests, errors, cold) = (
        stat("requests"),
        stat("error_rate"),
        stat("cold_start_ratio"),
    );
    let (cost, per_month) = (stat("cost_usd"), stat("cost_per_month_usd"));
    for g in &grouped.groups {
        let n = g.runs.len().max(1) as f64;
        let mean = |m: &crate::metrics::summary::Metric| {
            g.runs
                .iter()
                .map(|&i| m.value(&runs[i], None).unwrap_or(f64::NAN))
                .sum::<f64>()
                / n
        };
        let label = if s.points.is_empty() {
            g.platform.clone()
        } else {
            format!("{} @{}", g.platform, g.point)
        };
        let _ = writeln!(
            out,
            "  {:<22} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>7.2}% {:>7.2}% {:>12.4} {:>14.2}",
            label,
            mean(requests),
            mean(p50),
            mean(p95),
            mean(p99),
            100.0 * mean(errors),
            100.0 * mean(cold),
            mean(cost),
            mean(per_month),
        );
    }
    out
}
