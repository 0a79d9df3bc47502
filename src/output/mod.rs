//! Output files (SPEC 5), written to temporary names and renamed when complete.

pub mod aggregate;
pub mod chart;
pub mod csv;
pub mod report;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::metrics::summary::{Grouped, Metric, RunSummary};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// renamed over `path` only once fully written and flushed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = temp_builder()
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, "cannot create a file in", e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io(path, "cannot write", e))?;
    tmp.persist(path)
        .map_err(|e| Error::io(path, "cannot rename into place", e.error))?;
    Ok(())
}

/// Temporary output files: hidden names, and the ordinary permissions
/// (rw-r--r-- on Unix) rather than a temporary file's private ones, since
/// they are renamed into place.
pub fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(".surgesim-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o644));
    }
    b
}

/// Creates (if needed) the output folder `parent/<name>`.
pub fn scenario_dir(parent: &Path, name: &str) -> Result<PathBuf> {
    let dir = parent.join(crate::scenario::sanitize_name(name));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "cannot create folder", e))?;
    Ok(dir)
}

/// Every chart file a run may write.
pub const CHART_FILES: &[&str] = &[
    "latency_cdf.svg",
    "load_capacity.svg",
    "p95_cost.svg",
    "sweep_p95.svg",
    "sweep_cost.svg",
];

/// Options of one `run`.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub requests_csv: bool,
    /// Threads for runs in parallel (output is the same for any value).
    pub jobs: usize,
    pub charts: bool,
    /// No progress bar.
    pub quiet: bool,
    /// Per-function rows in summary.csv.
    pub per_function: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            requests_csv: false,
            jobs: 1,
            charts: true,
            quiet: true,
            per_function: false,
        }
    }
}

/// points.csv: each sweep point's parameter values.
pub fn points_csv(s: &crate::scenario::Scenario) -> Option<String> {
    let first = s.points.first()?;
    let mut out = String::from("point");
    for (k, _) in &first.params {
        out.push(',');
        out.push_str(&crate::metrics::csv_field(k));
    }
    out.push('\n');
    for p in &s.points {
        out.push_str(&p.id.to_string());
        for (_, v) in &p.params {
            out.push(',');
            out.push_str(&crate::metrics::csv_field(v));
        }
        out.push('\n');
    }
    Some(out)
}

/// The charts of a scenario: (file name, title, SVG).
pub fn figures(
    s: &crate::scenario::Scenario,
    grouped: &Grouped,
) -> Result<Vec<(String, String, String)>> {
    use chart::{Curve, Estimate, LoadPanel, Series};
    // The runs whose series was kept: point 0, replication 0.
    let first: Vec<(&RunSummary, &crate::metrics::summary::Series)> = grouped
        .runs
        .iter()
        .filter(|r| r.point == 0 && r.replication == 0)
        .filter_map(|r| Some((r, r.series.as_ref()?)))
        .collect();
    let mut out = Vec::new();
    let cdf: Vec<Series> = first
        .iter()
        .map(|(r, series)| Series {
            name: r.platform.clone(),
            points: series.cdf.clone(),
        })
        .collect();
    let title = format!("{}: latency CDF", s.name);
    out.push((
        "latency_cdf.svg".into(),
        title.clone(),
        chart::latency_cdf(&title, &cdf)?,
    ));

    let interval_s = s.interval.as_secs_f64();
    let panels: Vec<LoadPanel> = first
        .iter()
        .map(|(r, series)| {
            let rows = &series.rows;
            let per_s = |x: u64| x as f64 / interval_s;
            let kubernetes = r.nodes.is_some();
            LoadPanel {
                platform: r.platform.clone(),
                t: rows.iter().map(|w| w.start.as_secs_f64()).collect(),
                arrival_rate: rows.iter().map(|w| per_s(w.arrivals)).collect(),
                error_rate: rows.iter().map(|w| per_s(w.errors)).collect(),
                capacity: rows
                    .iter()
                    .map(|w| {
                        let s = &w.snap;
                        if kubernetes {
                            s.pods_ready.unwrap_or(0) as f64
                        } else {
                            (s.instances_busy.unwrap_or(0)
                                + s.instances_idle.unwrap_or(0)
                                + s.instances_initialising.unwrap_or(0))
                                as f64
                        }
                    })
                    .collect(),
                capacity_label: if kubernetes {
                    "ready pods".into()
                } else {
                    "execution environments".into()
                },
                nodes: kubernetes.then(|| {
                    rows.iter()
                        .map(|w| w.snap.nodes.unwrap_or(0) as f64)
                        .collect()
                }),
                cold_starts: rows.iter().map(|w| w.cold_starts as f64).collect(),
            }
        })
        .collect();
    let title = format!("{}: load vs. capacity", s.name);
    out.push((
        "load_capacity.svg".into(),
        title.clone(),
        chart::load_capacity(&title, &panels)?,
    ));

    // Means and intervals per platform at point 0.
    let col = |name: &str| crate::metrics::summary::metric(name).expect("a summary metric");
    let estimate = |point: usize, platform: &str, m: &Metric| grouped.estimate(point, platform, m);
    let names: Vec<&str> = first.iter().map(|(r, _)| r.platform.as_str()).collect();
    let est = |column: &Metric| -> Vec<Estimate> {
        names
            .iter()
            .filter_map(|p| {
                estimate(0, p, column).map(|(mean, ci)| Estimate {
                    label: p.to_string(),
                    mean,
                    ci,
                })
            })
            .collect()
    };
    let title = format!("{}: p95 latency and cost per month", s.name);
    out.push((
        "p95_cost.svg".into(),
        title.clone(),
        chart::p95_and_cost(&title, &est(col("p95_ms")), &est(col("cost_per_month_usd")))?,
    ));

    if let Some(first_point) = s.points.first() {
        // x: the first swept parameter when it is a number, else the point id.
        let key = first_point.params[0].0.clone();
        let numeric = first_point.params.len() == 1
            && s.points
                .iter()
                .all(|p| p.params[0].1.parse::<f64>().is_ok());
        let x_of = |id: usize| -> f64 {
            let p = &s.points[id];
            if numeric {
                p.params[0].1.parse().unwrap_or(id as f64)
            } else {
                id as f64
            }
        };
        let x_desc = if numeric {
            key.clone()
        } else {
            "sweep point (see points.csv)".into()
        };
        for (metric, y_desc, file) in [
            ("p95_ms", "p95 latency [ms]", "sweep_p95.svg"),
            (
                "cost_per_month_usd",
                "cost [USD per month]",
                "sweep_cost.svg",
            ),
        ] {
            let curves: Vec<Curve> = names
                .iter()
                .map(|p| Curve {
                    name: p.to_string(),
                    points: s
                        .points
                        .iter()
                        .filter_map(|pt| estimate(pt.id, p, col(metric)).map(|e| (x_of(pt.id), e)))
                        .collect(),
                })
                .collect();
            let title = format!("{}: {y_desc} across the sweep", s.name);
            out.push((
                file.into(),
                title.clone(),
                chart::sweep_curves(&title, &x_desc, y_desc, &curves)?,
            ));
        }
    }
    Ok(out)
}
