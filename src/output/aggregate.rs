//! aggregate.csv: per platform x sweep point, each summary metric's mean and
//! 95 % confidence interval (Student t) over replications, and paired
//! differences between the platforms of a point (they share arrivals, so the
//! difference's interval is tight).

use std::fmt::Write as _;

use crate::metrics::csv_field;
use crate::output::csv::{FIRST_METRIC, SUMMARY_COLUMNS};
use crate::runner::RunResult;

/// Metrics compared between platforms in the paired-difference rows.
pub const PAIRED: &[&str] = &["p95_ms", "cost_usd", "cost_per_month_usd"];

/// The 0.975 quantile of Student's t with `df` degrees of freedom (two-sided
/// 95 %). Exact table values to 4 decimals for df <= 30; beyond, linear in
/// 1/df between the table's 40, 60, 120 and infinity rows.
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
        2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
        2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];
    const TAIL: [(f64, f64); 5] = [
        (30.0, 2.0423),
        (40.0, 2.0211),
        (60.0, 2.0003),
        (120.0, 1.9799),
        (f64::INFINITY, 1.9600),
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => {
            let x = 1.0 / df as f64;
            let i = TAIL.iter().rposition(|&(d, _)| d <= df as f64).unwrap_or(0);
            let (d0, t0) = TAIL[i];
            let (d1, t1) = TAIL[(i + 1).min(TAIL.len() - 1)];
            let (x0, x1) = (1.0 / d0, 1.0 / d1);
            if x0 == x1 {
                t0
            } else {
                t0 + (t1 - t0) * (x - x0) / (x1 - x0)
            }
        }
    }
}

/// Mean and, with two or more values, the 95 % Student-t interval.
pub fn interval(values: &[f64]) -> Option<(f64, Option<(f64, f64)>)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return Some((mean, None));
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = t_975(values.len() - 1) * (var / n).sqrt();
    Some((mean, Some((mean - half, mean + half))))
}

/// One summary row for aggregation.
pub struct Row<'a> {
    pub point: usize,
    pub platform: &'a str,
    /// The summary.csv fields in [`SUMMARY_COLUMNS`] order.
    pub fields: &'a [String],
}

/// Pairs each run with its summary.csv fields (both in run order).
pub fn rows<'a>(runs: &'a [RunResult], summaries: &'a [Vec<String>]) -> Vec<Row<'a>> {
    runs.iter()
        .zip(summaries)
        .map(|(r, fields)| Row {
            point: r.point,
            platform: &r.platform,
            fields,
        })
        .collect()
}

fn value(fields: &[String], column: usize) -> Option<f64> {
    fields.get(column).and_then(|f| f.parse().ok())
}

/// The replications' values of summary column `column` for (point, platform).
fn values(rows: &[Row], point: usize, platform: &str, column: usize) -> Vec<f64> {
    rows.iter()
        .filter(|r| r.point == point && r.platform == platform)
        .filter_map(|r| value(r.fields, column))
        .collect()
}

/// Mean and 95 % interval over replications of summary column `column` for
/// (point, platform): the numbers aggregate.csv prints, for `check` and the
/// charts to read without parsing it back.
pub fn estimate(
    rows: &[Row],
    point: usize,
    platform: &str,
    column: usize,
) -> Option<(f64, Option<(f64, f64)>)> {
    interval(&values(rows, point, platform, column))
}

/// The header of aggregate.csv.
pub fn header() -> String {
    let mut h = String::from("scenario,platform,point,replications");
    for m in &SUMMARY_COLUMNS[FIRST_METRIC..] {
        let _ = write!(h, ",{m},{m}_ci_low,{m}_ci_high");
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

/// aggregate.csv for one scenario's summary rows (in run order).
pub fn aggregate_csv(scenario: &str, rows: &[Row]) -> String {
    let mut out = header();
    let mut groups: Vec<(usize, &str)> = Vec::new();
    for r in rows {
        if !groups.contains(&(r.point, r.platform)) {
            groups.push((r.point, r.platform));
        }
    }
    let metrics = FIRST_METRIC..SUMMARY_COLUMNS.len();
    for &(point, platform) in &groups {
        let replications = rows
            .iter()
            .filter(|r| r.point == point && r.platform == platform)
            .count();
        let _ = write!(
            out,
            "{},{},{point},{replications}",
            csv_field(scenario),
            csv_field(platform),
        );
        for c in metrics.clone() {
            cells(&mut out, &values(rows, point, platform, c));
        }
        out.push('\n');
    }
    // Paired differences a - b, replication by replication.
    let points: Vec<usize> = {
        let mut p: Vec<usize> = groups.iter().map(|g| g.0).collect();
        p.dedup();
        p
    };
    for point in points {
        let platforms: Vec<&str> = groups
            .iter()
            .filter(|g| g.0 == point)
            .map(|g| g.1)
            .collect();
        for (i, a) in platforms.iter().enumerate() {
            for b in &platforms[i + 1..] {
                let side = |p: &str| -> Vec<&Row> {
                    rows.iter()
                        .filter(|r| r.point == point && r.platform == p)
                        .collect()
                };
                let (ra, rb) = (side(a), side(b));
                let _ = write!(
                    out,
                    "{},{},{point},{}",
                    csv_field(scenario),
                    csv_field(&format!("{a} - {b}")),
                    ra.len().min(rb.len())
                );
                for c in metrics.clone() {
                    if PAIRED.contains(&SUMMARY_COLUMNS[c]) {
                        let d: Vec<f64> = ra
                            .iter()
                            .zip(&rb)
                            .filter_map(|(x, y)| Some(value(x.fields, c)? - value(y.fields, c)?))
                            .collect();
                        cells(&mut out, &d);
                    } else {
                        out.push_str(",,,");
                    }
                }
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_table() {
        assert_eq!(t_975(1), 12.7062);
        assert_eq!(t_975(9), 2.2622);
        assert_eq!(t_975(30), 2.0423);
        assert!((t_975(60) - 2.0003).abs() < 1e-9);
        // 2.0086 is the exact value at 50; the 1/df interpolation is within 0.001.
        assert!((t_975(50) - 2.0086).abs() < 1e-3);
        assert!((t_975(1_000_000) - 1.96).abs() < 1e-4);
    }

    #[test]
    fn interval_by_hand() {
        // 1, 2, 3, 4, 5: mean 3, s = 1.5811, t(4) = 2.7764: 3 +- 1.9632.
        let (m, ci) = interval(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let (lo, hi) = ci.unwrap();
        assert_eq!(m, 3.0);
        assert!((hi - 3.0 - 2.7764 * 1.581_138_83 / 5f64.sqrt()).abs() < 1e-6);
        assert!((3.0 - lo - (hi - 3.0)).abs() < 1e-12);
        assert_eq!(interval(&[7.0]), Some((7.0, None)));
        assert_eq!(interval(&[]), None);
    }
}
