//! aggregate.csv: per platform x sweep point, each summary metric's mean and
//! 95 % confidence interval (Student t) over replications, and paired
//! differences between the platforms of a point (they share arrivals, so the
//! difference's interval is tight).

use std::fmt::Write as _;

use crate::metrics::csv_field;
use crate::metrics::summary::{Grouped, METRICS, interval};

/// Metrics compared between platforms in the paired-difference rows.
pub const PAIRED: &[&str] = &["p95_ms", "cost_usd", "cost_per_month_usd"];

/// The header of aggregate.csv.
pub fn header() -> String {
    let mut h = String::from("scenario,platform,point,replications");
    for m in METRICS {
        let name = m.name;
        let _ = write!(h, ",{name},{name}_ci_low,{name}_ci_high");
    }
    h.push('\n');
    h
}

fn cells(out: &mut String, values: &[f64]) {
    match interval(values) {
        None => out.push_str(",,,"),
        Some((m, None)) => {
            let _ = write!(out, ",{m:.6},,");
        }
        Some((m, Some((lo, hi)))) => {
            let _ = write!(out, ",{m:.6},{lo:.6},{hi:.6}");
        }
    }
}

/// aggregate.csv for one scenario's runs, grouped by (point, platform).
pub fn aggregate_csv(scenario: &str, grouped: &Grouped) -> String {
    let mut out = header();
    for g in &grouped.groups {
        let _ = write!(
            out,
            "{},{},{},{}",
            csv_field(scenario),
            csv_field(&g.platform),
            g.point,
            g.runs.len()
        );
        for m in METRICS {
            cells(&mut out, &grouped.values(g, m));
        }
        out.push('\n');
    }
    // Paired differences a - b, replication by replication. Groups of a
    // point are contiguous: runs come point by point.
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
                let _ = write!(
                    out,
                    "{},{},{point},{}",
                    csv_field(scenario),
                    csv_field(&format!("{} - {}", a.platform, b.platform)),
                    a.runs.len().min(b.runs.len())
                );
                for m in METRICS {
                    if PAIRED.contains(&m.name) {
                        let d: Vec<f64> = a
                            .runs
                            .iter()
                            .zip(&b.runs)
                            .filter_map(|(&x, &y)| {
                                Some(
                                    m.published(&grouped.runs[x], None)?
                                        - m.published(&grouped.runs[y], None)?,
                                )
                            })
                            .collect();
                        cells(&mut out, &d);
                    } else {
                        out.push_str(",,,");
                    }
                }
                out.push('\n');
            }
        }
        i = end;
    }
    out
}
