//! A scenario's output folder (README, 'Outputs'): summary, aggregate, points,
//! timeseries and requests CSV, the charts and report.html, rendered from
//! the typed run summaries and committed together.

pub mod aggregate;
pub mod chart;
pub mod csv;
pub mod html;
pub mod human;
pub mod table;

use std::io::{BufWriter, Read, Seek, Write};
use std::path::PathBuf;

use crate::engine::CancelToken;
use crate::error::{Error, Result};
use crate::experiment::RunOptions;
use crate::files::OutputDir;
use crate::metrics::IntervalRow;
use crate::metrics::RequestLog;
use crate::metrics::summary::{Grouped, Metric, Pooled, RunSummary};
use crate::scenario::Outline;
use crate::time::SimTime;

/// Most per-function rows of a run that report.html shows.
pub const MAX_FUNCTION_ROWS: usize = 50;

/// Most points per line of the load chart.
const MAX_POINTS: usize = 5_000;

/// Every chart file a run may write.
pub const CHART_FILES: &[&str] = &[
    "outcomes.svg",
    "latency_cdf.svg",
    "load_capacity.svg",
    "p95_cost.svg",
    "sweep_p95.svg",
    "sweep_errors.svg",
    "sweep_cost.svg",
];

/// points.csv: each sweep point's parameter values.
pub fn points_csv(s: &Outline) -> Option<String> {
    let first = s.points.first()?;
    let header = std::iter::once("point").chain(first.params.iter().map(|(k, _)| k.as_str()));
    let mut doc = csv::Doc::new(header);
    for p in &s.points {
        doc.fmt(format_args!("{}", p.id));
        for (_, v) in &p.params {
            doc.field(v);
        }
        doc.end();
    }
    Some(doc.finish())
}

/// The charts of a scenario: (file name, SVG), in the report's
/// order. The per-run charts show the chart point (`--chart-point`, titled
/// with its values in a sweep): its replications pooled, and its
/// replication 0's time series. `pooled`: each (point, platform)'s pooled
/// latencies, in group order.
pub fn figures(
    s: &Outline,
    grouped: &Grouped,
    pooled: &[Pooled],
    cancel: &CancelToken,
) -> Result<Vec<(String, String)>> {
    let interrupted = || cancel.check().map_err(|_| Error::Interrupted);
    use chart::{CdfSeries, Curve, Estimate, LoadPanel};
    let point = s.chart_point;
    let at = s
        .point_label(point)
        .map_or_else(String::new, |l| format!(" at {l}"));
    let names: Vec<&str> = s
        .runs
        .iter()
        .find(|r| r.point == point)
        .map_or_else(Vec::new, |r| {
            r.platforms.iter().map(String::as_str).collect()
        });
    let counts = |platform: &str| grouped.counts(point, platform);
    let replications = s
        .runs
        .iter()
        .find(|r| r.point == point)
        .map_or(s.replications, |r| r.replications);
    let pooled_note = if replications > 1 {
        format!(", {replications} replications pooled")
    } else {
        String::new()
    };
    let col = |name: &str| crate::metrics::summary::metric(name).expect("a summary metric");
    let estimate = |point: usize, platform: &str, m: &Metric| grouped.estimate(point, platform, m);
    let est = |column: &Metric| -> Vec<Estimate> {
        names
            .iter()
            .filter_map(|p| {
                estimate(point, p, column).map(|(mean, ci)| Estimate {
                    label: p.to_string(),
                    mean,
                    ci,
                })
            })
            .collect()
    };
    let mut out = Vec::new();

    let title = format!("{}: p95 latency and cost per month{at}", s.name);
    out.push(("p95_cost.svg".into(), {
        interrupted()?;
        chart::p95_and_cost(&title, &est(col("p95_ms")), &est(col("cost_per_month_usd")))?
    }));

    let bars = outcome_bars(grouped, point, &names);
    let title = format!("{}: request outcomes{at}{pooled_note}", s.name);
    out.push(("outcomes.svg".into(), {
        interrupted()?;
        chart::outcomes(&title, &bars)?
    }));

    let cdf: Vec<CdfSeries> = names
        .iter()
        .map(|p| {
            let c = counts(p);
            let with_outcome = c.requests - c.in_flight_end;
            CdfSeries {
                name: p.to_string(),
                points: pooled
                    .iter()
                    .find(|x| x.point == point && x.platform == *p)
                    .map_or_else(Vec::new, |x| x.cdf.clone()),
                completed: if with_outcome == 0 {
                    0.0
                } else {
                    c.completed as f64 / with_outcome as f64
                },
            }
        })
        .collect();
    let title = format!("{}: latency CDF{at}{pooled_note}", s.name);
    out.push(("latency_cdf.svg".into(), {
        interrupted()?;
        chart::latency_cdf(&title, &cdf)?
    }));

    // The run whose series was kept: the chart point's replication 0.
    let series: Vec<(&RunSummary, &crate::metrics::series::Series)> = grouped
        .runs
        .iter()
        .filter(|r| r.point == point && r.replication == 0)
        .filter_map(|r| Some((r, r.series.as_ref()?)))
        .collect();
    let interval_s = s.interval.as_secs_f64();
    let from = s.chart_start;
    let panels = series
        .iter()
        .map(|(r, series)| load_panel(r, series, from, interval_s, cancel))
        .collect::<Result<Vec<LoadPanel>>>()?;
    let title = format!("{}: load vs. capacity{at}", s.name);
    out.push(("load_capacity.svg".into(), {
        interrupted()?;
        chart::load_capacity(&title, &panels, from.as_secs_f64(), s.horizon.as_secs_f64())?
    }));

    if let Some(first_point) = s.points.first() {
        // x: the swept parameter when there is one and it is a number, else
        // the points in order, labelled with their values.
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
        let labels: Vec<String> = s
            .points
            .iter()
            .map(|p| s.point_label(p.id).unwrap_or_default())
            .collect();
        let x_desc = if numeric {
            key.clone()
        } else {
            "sweep point".into()
        };
        let all_names: Vec<&str> = {
            let mut v: Vec<&str> = Vec::new();
            for r in &s.runs {
                for p in &r.platforms {
                    if !v.contains(&p.as_str()) {
                        v.push(p);
                    }
                }
            }
            v
        };
        for (metric, y_desc, file) in [
            ("p95_ms", "p95 latency [ms]", "sweep_p95.svg"),
            ("error_rate", "error rate", "sweep_errors.svg"),
            (
                "cost_per_month_usd",
                "cost [USD per month]",
                "sweep_cost.svg",
            ),
        ] {
            let curves: Vec<Curve> = all_names
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
            out.push((file.into(), {
                interrupted()?;
                chart::sweep_curves(
                    &title,
                    &x_desc,
                    y_desc,
                    &curves,
                    (!numeric).then_some(&labels[..]),
                    metric == "error_rate",
                )?
            }));
        }
    }
    Ok(out)
}

/// Each platform's outcome shares of its requests (summed over the
/// replications), in [`chart::OUTCOMES`] order: they sum to 1 (every
/// request has one outcome, in flight at the end included).
pub fn outcome_bars(grouped: &Grouped, point: usize, names: &[&str]) -> Vec<chart::OutcomeBar> {
    names
        .iter()
        .map(|p| {
            let c = grouped.counts(point, p);
            let share = |x: u64| {
                if c.requests == 0 {
                    0.0
                } else {
                    x as f64 / c.requests as f64
                }
            };
            chart::OutcomeBar {
                label: p.to_string(),
                shares: [
                    share(c.completed),
                    share(c.throttled),
                    share(c.rejected),
                    share(c.timed_out),
                    share(c.dropped),
                    share(c.in_flight_end),
                ],
            }
        })
        .collect()
}

/// A run's request rows: `len` bytes of `path` from `start` (the whole
/// file for `None`). A part that is `temporary` (a run's rows in the
/// staging folder) is removed once copied.
#[derive(Debug, Clone)]
pub struct RequestPart {
    pub path: PathBuf,
    pub start: u64,
    pub len: Option<u64>,
    pub temporary: bool,
}

/// Every file a run writes into a scenario's folder (others there are
/// the user's, and kept).
pub fn output_files() -> Vec<&'static str> {
    let mut files = vec![
        "summary.csv",
        "aggregate.csv",
        "pooled.csv",
        "timeseries.csv",
        "points.csv",
        "report.html",
        REQUESTS_CSV,
    ];
    files.extend_from_slice(CHART_FILES);
    files
}

/// The request rows' file.
pub const REQUESTS_CSV: &str = "requests.csv";

/// Writes the output folder `out` of scenario `s` from its runs (in plan
/// order), their pooled latencies (in group order) and (with requests.csv)
/// their request rows, and commits it: the whole set replaces the old one
/// at once. `Err(Error::Interrupted)` soon after `cancel` is set, with the
/// folder as it was.
pub fn write(
    s: &Outline,
    out: OutputDir,
    runs: &[RunSummary],
    pooled: &[Pooled],
    request_parts: &[RequestPart],
    opts: &RunOptions,
    cancel: &CancelToken,
) -> Result<()> {
    stage(s, &out, runs, pooled, request_parts, opts, cancel)?;
    out.commit(&output_files())
}

/// [`write()`] up to the commit: every file written into the staging
/// folder of `out`, to be put in place by [`OutputDir::commit`] (with other
/// folders', for a merge).
pub fn stage(
    s: &Outline,
    out: &OutputDir,
    runs: &[RunSummary],
    pooled: &[Pooled],
    request_parts: &[RequestPart],
    opts: &RunOptions,
    cancel: &CancelToken,
) -> Result<()> {
    let interrupted = || cancel.check().map_err(|_| Error::Interrupted);
    let summary = csv::summary_csv(&s.name, &s.functions, runs);
    let grouped = Grouped::new(runs);
    let aggregate_csv = aggregate::aggregate_csv(&s.name, &grouped);
    let pooled_csv = aggregate::pooled_csv(&s.name, pooled);
    let points_csv = points_csv(s);
    out.write("summary.csv", summary.as_bytes())?;
    out.write("aggregate.csv", aggregate_csv.as_bytes())?;
    out.write("pooled.csv", pooled_csv.as_bytes())?;
    interrupted()?;
    write_series(out, "timeseries.csv", runs, s.chart_point, cancel)?;
    interrupted()?;
    if let Some(p) = &points_csv {
        out.write("points.csv", p.as_bytes())?;
    }
    if opts.charts {
        let charts = figures(s, &grouped, pooled, cancel)?;
        interrupted()?;
        for (file, svg) in &charts {
            out.write(file, svg.as_bytes())?;
        }
        let (shown, left_out) =
            csv::summary_for_report(&s.name, &s.functions, runs, MAX_FUNCTION_ROWS);
        let page = html::render(&html::Report {
            outline: s,
            runs,
            summary_csv: &shown,
            summary_note: (left_out > 0).then(|| {
                format!(
                    "Per-function rows: the {MAX_FUNCTION_ROWS} with the most requests of each \
                     run, most first; {left_out} more rows are in summary.csv."
                )
            }),
            aggregate_csv: &aggregate_csv,
            pooled_csv: &pooled_csv,
            points_csv: points_csv.as_deref(),
            charts: &charts,
        });
        out.write("report.html", page.as_bytes())?;
    }
    if opts.requests_csv {
        join_requests(out, request_parts, true, cancel)?;
    }
    interrupted()?;
    Ok(())
}

/// The load chart's panel of run `r` from its `series`, from time `from`.
/// A long series is drawn from at most MAX_POINTS buckets of consecutive
/// intervals, each at its first interval's time with the largest value in
/// it (peaks stay visible): ten million points made a 160 MB chart that
/// took seconds to draw. Two passes over the stored rows: one counts them,
/// one fills the buckets.
fn load_panel(
    r: &RunSummary,
    series: &crate::metrics::series::Series,
    from: SimTime,
    interval_s: f64,
    cancel: &CancelToken,
) -> Result<chart::LoadPanel> {
    let read = |e| {
        Error::io(
            "the output folder",
            "cannot read back a run's time series in",
            e,
        )
    };
    // Looked at every 8,192 rows, as timeseries.csv does.
    let check = |i: u64| {
        if i.is_multiple_of(8_192) {
            cancel.check().map_err(|_| Error::Interrupted)?;
        }
        Ok(())
    };
    let mut shown = 0usize;
    series.try_for_each(read, |i, w| {
        check(i)?;
        shown += usize::from(w.start >= from);
        Ok(())
    })?;
    let bucket = shown.div_ceil(MAX_POINTS).max(1);
    let kind = crate::platform::kind(r.kind).expect("a registered kind");
    let per_s = |x: u64| x as f64 / interval_s;
    let gauge = |w: &IntervalRow, name: &str| r.gauge(w, name).unwrap_or(0) as f64;
    let has_nodes = r.nodes.is_some();
    let mut p = chart::LoadPanel {
        platform: r.platform.clone(),
        t: Vec::new(),
        arrival_rate: Vec::new(),
        error_rate: Vec::new(),
        capacity: Vec::new(),
        capacity_label: kind.capacity_label.into(),
        nodes: has_nodes.then(Vec::new),
        queued: Vec::new(),
        cold_starts: Vec::new(),
    };
    let mut j = 0usize;
    series.try_for_each(read, |i, w| {
        check(i)?;
        if w.start < from {
            return Ok(());
        }
        let mut columns = [
            &mut p.arrival_rate,
            &mut p.error_rate,
            &mut p.capacity,
            &mut p.queued,
            &mut p.cold_starts,
        ];
        if j.is_multiple_of(bucket) {
            p.t.push(w.start.as_secs_f64());
            for c in columns.iter_mut() {
                c.push(f64::NEG_INFINITY);
            }
            if let Some(n) = &mut p.nodes {
                n.push(f64::NEG_INFINITY);
            }
        }
        j += 1;
        let values = [
            per_s(w.arrivals),
            per_s(w.errors),
            kind.capacity.iter().map(|c| gauge(w, c)).sum(),
            w.gauges.queued as f64,
            per_s(w.cold_starts),
        ];
        for (c, v) in columns.iter_mut().zip(values) {
            let last = c.last_mut().expect("a bucket was opened");
            *last = last.max(v);
        }
        if let Some(n) = &mut p.nodes {
            let last = n.last_mut().expect("a bucket was opened");
            *last = last.max(gauge(w, "nodes"));
        }
        Ok(())
    })?;
    Ok(p)
}

/// Writes `file` (timeseries.csv) into the staging folder of `out`,
/// streaming each run's stored rows.
fn write_series(
    out: &OutputDir,
    file: &str,
    runs: &[RunSummary],
    point: usize,
    cancel: &CancelToken,
) -> Result<()> {
    let path = out.shown(file);
    let f = std::fs::File::create(out.work_file(file))
        .map_err(|e| Error::io(&path, "cannot write", e))?;
    let w = BufWriter::with_capacity(1 << 16, &f);
    match csv::write_timeseries(w, runs, point, cancel) {
        Ok(mut w) => w.flush().map_err(|e| Error::io(&path, "cannot write", e))?,
        Err(csv::SeriesError::Interrupted) => return Err(Error::Interrupted),
        Err(csv::SeriesError::Write(e)) => return Err(Error::io(&path, "cannot write", e)),
        Err(csv::SeriesError::Read(origin, e)) => {
            return Err(Error::io(
                origin,
                "cannot read back a run's time series from",
                e,
            ));
        }
    }
    f.sync_all()
        .map_err(|e| Error::io(&path, "cannot write", e))
}

/// Joins the runs' request rows, in run order, into requests.csv in the
/// staging folder of `out` (under one header if `header`). The first part,
/// when a run wrote it there in place (header included), is not copied:
/// the others are appended to it, each removed once copied if temporary.
pub fn join_requests(
    out: &OutputDir,
    parts: &[RequestPart],
    header: bool,
    cancel: &CancelToken,
) -> Result<u64> {
    let target = out.work_file(REQUESTS_CSV);
    let shown = out.shown(REQUESTS_CSV);
    let io = |e| Error::io(&shown, "cannot write", e);
    let in_place = parts.first().is_some_and(|p| p.path == target);
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&target)
        .map_err(io)?;
    let mut w = BufWriter::with_capacity(1 << 16, crate::files::WriteBehind::new(&file));
    if !in_place && header {
        w.write_all(RequestLog::HEADER.as_bytes()).map_err(io)?;
    }
    // Copied a megabyte at a time, looking at the token between chunks.
    let mut chunk = vec![0u8; 1 << 20];
    for part in &parts[usize::from(in_place)..] {
        let read = |e| Error::io(&part.path, "cannot read", e);
        // A temporary part is shrunk once copied: opened for that too.
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(part.temporary)
            .open(&part.path)
            .map_err(read)?;
        f.seek(std::io::SeekFrom::Start(part.start)).map_err(read)?;
        let mut left = part.len.unwrap_or(u64::MAX);
        while left > 0 {
            cancel.check().map_err(|_| Error::Interrupted)?;
            let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = f.read(&mut chunk[..want]).map_err(read)?;
            if n == 0 {
                if part.len.is_some() {
                    // A shard's part shorter than its manifest says.
                    return Err(Error::Usage(format!(
                        "{}: ends {left} bytes before the request rows it should hold: a \
                         partial copy; copy the shard again",
                        part.path.display()
                    )));
                }
                break;
            }
            w.write_all(&chunk[..n]).map_err(io)?;
            left -= n as u64;
        }
        if part.temporary {
            // Its rows are in requests.csv now: the disk holds them once.
            // Freeing a file's blocks takes the kernel up to half a second
            // a GB, in one uninterruptible call if the file is removed
            // whole: it is shrunk from the end a step at a time instead,
            // looking at the token between steps (a stop leaves the rest
            // to the staging folder's removal).
            const STEP: u64 = 32 << 20;
            let mut len = f.metadata().map_err(read)?.len();
            while len > STEP {
                cancel.check().map_err(|_| Error::Interrupted)?;
                len -= STEP;
                f.set_len(len)
                    .map_err(|e| Error::io(&part.path, "cannot remove", e))?;
            }
            drop(f);
            std::fs::remove_file(&part.path).map_err(read)?;
        }
    }
    w.flush().map_err(io)?;
    drop(w);
    file.sync_all().map_err(io)?;
    file.metadata().map(|m| m.len()).map_err(io)
}
