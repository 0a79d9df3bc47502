//! aggregate.csv: per platform x sweep point, each summary metric's mean and
//! 95 % confidence interval (Student t) over replications, and paired
//! differences between the platforms of a point (they share arrivals, so the
//! difference's interval is tight).

use crate::metrics::summary::{Grouped, METRICS, Pooled, interval};
use crate::report::csv::Doc;

/// Metrics compared between platforms in the paired-difference rows.
pub const PAIRED: &[&str] = &["p95_ms", "error_rate", "cost_usd", "cost_per_month_usd"];

/// The columns of aggregate.csv.
pub fn columns() -> Vec<String> {
    let mut h: Vec<String> = ["scenario", "platform", "point", "replications"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for m in METRICS {
        let name = m.name;
        h.extend([
            name.to_string(),
            format!("{name}_ci_low"),
            format!("{name}_ci_high"),
        ]);
    }
    h
}

/// Mean and interval cells of `values`, empty where undefined.
fn cells(doc: &mut Doc, values: &[f64]) {
    match interval(values) {
        None => (0..3).for_each(|_| doc.field("")),
        Some((m, ci)) => {
            doc.fmt(format_args!("{m:.6}"));
            match ci {
                None => (0..2).for_each(|_| doc.field("")),
                Some((lo, hi)) => {
                    doc.fmt(format_args!("{lo:.6}"));
                    doc.fmt(format_args!("{hi:.6}"));
                }
            }
        }
    }
}

/// The paired differences of two platforms at one point.
pub struct Paired<'a> {
    pub point: usize,
    pub a: &'a str,
    pub b: &'a str,
    /// Replications paired (the fewer of the two's).
    pub replications: usize,
    /// Each [`PAIRED`] metric's per-replication differences a - b.
    pub values: Vec<(&'static str, Vec<f64>)>,
}

/// Every pair of platforms of each point, in group order, with their
/// per-replication differences (they share arrivals: common random
/// numbers, so the difference varies less than either).
pub fn paired<'a>(grouped: &'a Grouped) -> Vec<Paired<'a>> {
    let mut out = Vec::new();
    // Groups of a point are contiguous: runs come point by point.
    let mut i = 0;
    while i < grouped.groups.len() {
        let point = grouped.groups[i].point;
        let end = grouped.groups[i..]
            .iter()
            .position(|g| g.point != point)
            .map_or(grouped.groups.len(), |n| i + n);
        let platforms = &grouped.groups[i..end];
        for (k, a) in platforms.iter().enumerate() {
            for b in &platforms[k + 1..] {
                let values = METRICS
                    .iter()
                    .filter(|m| PAIRED.contains(&m.name))
                    .map(|m| {
                        let d: Vec<f64> = a
                            .runs
                            .iter()
                            .zip(&b.runs)
                            .filter_map(|(&x, &y)| {
                                Some(grouped.published(x, m)? - grouped.published(y, m)?)
                            })
                            .collect();
                        (m.name, d)
                    })
                    .collect();
                out.push(Paired {
                    point,
                    a: &a.platform,
                    b: &b.platform,
                    replications: a.runs.len().min(b.runs.len()),
                    values,
                });
            }
        }
        i = end;
    }
    out
}

/// aggregate.csv for one scenario's runs, grouped by (point, platform).
pub fn aggregate_csv(scenario: &str, grouped: &Grouped) -> String {
    let mut doc = Doc::new(columns());
    for g in &grouped.groups {
        doc.field(scenario);
        doc.field(&g.platform);
        doc.fmt(format_args!("{}", g.point));
        doc.fmt(format_args!("{}", g.runs.len()));
        for m in METRICS {
            cells(&mut doc, &grouped.values(g, m));
        }
        doc.end();
    }
    // Paired differences a - b, replication by replication.
    for d in paired(grouped) {
        doc.field(scenario);
        doc.fmt(format_args!("{} - {}", d.a, d.b));
        doc.fmt(format_args!("{}", d.point));
        doc.fmt(format_args!("{}", d.replications));
        for m in METRICS {
            match d.values.iter().find(|(name, _)| *name == m.name) {
                Some((_, v)) => cells(&mut doc, v),
                None => cells(&mut doc, &[]),
            }
        }
        doc.end();
    }
    doc.finish()
}

/// pooled.csv: per platform x sweep point, the latency quantiles of every
/// replication's completed requests together (their histograms added), next
/// to aggregate.csv's means of per-replication quantiles.
pub fn pooled_csv(scenario: &str, pooled: &[Pooled]) -> String {
    let mut doc = Doc::new([
        "scenario",
        "platform",
        "point",
        "replications",
        "completed",
        "p50_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "p999_ms",
        "max_ms",
        "mean_ms",
    ]);
    for p in pooled {
        doc.field(scenario);
        doc.field(&p.platform);
        doc.fmt(format_args!("{}", p.point));
        doc.fmt(format_args!("{}", p.runs));
        doc.fmt(format_args!("{}", p.completed));
        let l = &p.latency;
        for v in [l.p50, l.p90, l.p95, l.p99, l.p999, l.max, l.mean] {
            match v {
                Some(v) => doc.fmt(format_args!("{v:.3}")),
                None => doc.field(""),
            }
        }
        doc.end();
    }
    doc.finish()
}
