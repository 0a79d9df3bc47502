//! The short human summary printed on stdout.

use crate::metrics::summary::{Grouped, RunSummary, metric};
use crate::report::human;
use crate::scenario::Outline;

/// The short human summary printed on stdout: one line per platform (per
/// sweep point with a sweep, labelled with its values), means over
/// replications, the errors broken down by kind.
pub fn summary_table(s: &Outline, runs: &[RunSummary]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(s));
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
        let rows = s.trace.map_or(0, |t| t.rows);
        let _ = writeln!(
            out,
            "  recorded cold starts (REPORT lines with an Init Duration): {cold} of {rows} ({}); \
             the simulated ones are the cold column",
            human::percent(cold as f64 / rows.max(1) as f64)
        );
    }
    let grouped = Grouped::new(runs);
    let rows: Vec<Row> = grouped
        .groups
        .iter()
        .map(|g| Row::of(s, runs, &g.runs, &g.platform, g.point))
        .collect();
    let width = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 48);
    let _ = writeln!(
        out,
        "  {:<width$} {:>10} {:>8} {:>8} {:>8} {:>7} {:>16} {:>10} {:>11}  errors by kind",
        "platform",
        "requests",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "errors",
        "cold starts",
        "cost",
        "per month*",
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "  {:<width$} {:>10} {:>8} {:>8} {:>8} {:>7} {:>16} {:>10} {:>11}  {}",
            r.label,
            human::count(r.requests),
            human::ms(r.p50),
            human::ms(r.p95),
            human::ms(r.p99),
            human::percent(r.error_rate),
            format!(
                "{} ({})",
                human::count(r.cold_starts),
                human::percent(r.cold_ratio)
            ),
            human::usd(r.cost),
            human::usd(r.per_month),
            r.breakdown(),
        );
    }
    let _ = writeln!(
        out,
        "  * per month: the cost of the measured {} scaled to 30 days; an extrapolation of \
         this traffic, not a forecast",
        s.measured()
    );
    out
}

/// The table's first line: name, run length, measurement window when it
/// is not the whole run, replications, seed, sweep points.
pub fn headline(s: &Outline) -> String {
    let horizon = s.horizon.as_secs_f64();
    let (from, to) = (s.window.0.as_secs_f64(), s.window.1.as_secs_f64());
    let varies = s.measured() != human::duration(to - from);
    let measured = if varies {
        ", measured windows differ by sweep point (see points.csv)".to_string()
    } else if from == 0.0 && to == horizon {
        String::new()
    } else {
        format!(
            ", measured over [{} s, {} s) ({})",
            human::seconds(from),
            human::seconds(to),
            human::duration(to - from)
        )
    };
    let points = if s.points.is_empty() {
        String::new()
    } else {
        format!(
            ", {} sweep points (see points.csv)",
            human::count(s.points.len() as f64)
        )
    };
    format!(
        "{} — {} run{measured}, {} replication{}, seed {}{points}",
        s.name,
        human::duration(horizon),
        human::count(f64::from(s.replications)),
        if s.replications == 1 { "" } else { "s" },
        s.seed,
    )
}

/// One (point, platform)'s means over its replications, as the stdout
/// table and the report's headline show them.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The platform, and with a sweep its point's values.
    pub label: String,
    pub platform: String,
    pub point: usize,
    pub replications: usize,
    pub requests: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub error_rate: f64,
    /// Each error kind's share of the requests with an outcome, in
    /// [`ERROR_KINDS`] order (they sum to `error_rate`).
    pub errors: [f64; 4],
    /// Requests still in flight at the end (no outcome, not an error).
    pub in_flight_end: f64,
    pub cold_starts: f64,
    pub cold_ratio: f64,
    pub cost: f64,
    pub per_month: f64,
}

/// The error kinds, as the table names them.
pub const ERROR_KINDS: [&str; 4] = ["throttled", "rejected", "timed out", "dropped"];

impl Row {
    /// The row of `group` (indices into `runs`).
    pub fn of(
        s: &Outline,
        runs: &[RunSummary],
        group: &[usize],
        platform: &str,
        point: usize,
    ) -> Row {
        let n = group.len().max(1) as f64;
        let mean = |name: &str| {
            let m = metric(name).expect("a summary metric");
            group
                .iter()
                .map(|&i| m.value(&runs[i], None).unwrap_or(f64::NAN))
                .sum::<f64>()
                / n
        };
        // Over the replications that completed a request, as the interval
        // and the charts take it; `None` when none did.
        let latency = |name: &str| {
            let m = metric(name).expect("a summary metric");
            let values: Vec<f64> = group
                .iter()
                .filter_map(|&i| m.value(&runs[i], None))
                .collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let share = |f: fn(&crate::metrics::Counts) -> u64| {
            group
                .iter()
                .map(|&i| {
                    let c = &runs[i].counts;
                    let with_outcome = c.requests - c.in_flight_end;
                    if with_outcome == 0 {
                        0.0
                    } else {
                        f(c) as f64 / with_outcome as f64
                    }
                })
                .sum::<f64>()
                / n
        };
        Row {
            label: s.point_label(point).map_or_else(
                || platform.to_string(),
                |values| format!("{platform} @ {values}"),
            ),
            platform: platform.to_string(),
            point,
            replications: group.len(),
            requests: mean("requests"),
            p50: latency("p50_ms"),
            p95: latency("p95_ms"),
            p99: latency("p99_ms"),
            error_rate: mean("error_rate"),
            errors: [
                share(|c| c.throttled),
                share(|c| c.rejected),
                share(|c| c.timed_out),
                share(|c| c.dropped),
            ],
            in_flight_end: mean("in_flight_end"),
            cold_starts: mean("cold_starts"),
            cold_ratio: mean("cold_start_ratio"),
            cost: mean("cost_usd"),
            per_month: mean("cost_per_month_usd"),
        }
    }

    /// The errors by kind, largest first: `rejected 24.6%, timed out
    /// 0.01%`; `none` without errors. Requests in flight at the end follow.
    pub fn breakdown(&self) -> String {
        let mut kinds: Vec<(usize, f64)> = self
            .errors
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, v)| *v > 0.0)
            .collect();
        kinds.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut out: Vec<String> = kinds
            .iter()
            .map(|(k, v)| format!("{} {}", ERROR_KINDS[*k], human::percent(*v)))
            .collect();
        if out.is_empty() {
            out.push("none".into());
        }
        let mut text = out.join(", ");
        if self.in_flight_end > 0.0 {
            text.push_str(&format!(
                "; {} still in flight at the end",
                human::count(self.in_flight_end)
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::PointOutline;
    use crate::time::{SimDuration, SimTime};

    fn outline() -> Outline {
        Outline {
            name: "s".into(),
            description: String::new(),
            seed: 1,
            replications: 1,
            horizon: SimTime::from_secs_f64(51_300.0),
            window: (
                SimTime::from_secs_f64(43_200.0),
                SimTime::from_secs_f64(50_400.0),
            ),
            chart_start: SimTime::from_secs_f64(43_200.0),
            chart_point: 0,
            interval: SimDuration::from_secs(10),
            functions: vec!["f".into()],
            points: Vec::new(),
            runs: Vec::new(),
            trace: None,
        }
    }

    #[test]
    fn the_headline_states_run_window_and_replications() {
        let mut s = outline();
        assert_eq!(
            headline(&s),
            "s — 14 h 15 min run, measured over [43,200 s, 50,400 s) (2 h), 1 replication, seed 1"
        );
        s.window = (SimTime::ZERO, s.horizon);
        s.replications = 3;
        assert_eq!(headline(&s), "s — 14 h 15 min run, 3 replications, seed 1");
        s.replications = 100_000;
        assert_eq!(
            headline(&s),
            "s — 14 h 15 min run, 100,000 replications, seed 1"
        );
        s.replications = 3;
        // A sweep over duration_s measures a window per point.
        let runs = |window_s| crate::scenario::PointRuns {
            point: 0,
            replications: 1,
            platforms: vec!["p".into()],
            window_s,
        };
        s.runs = vec![runs(51_300.0), runs(51_300.0)];
        assert_eq!(s.measured(), "14 h 15 min");
        s.runs[1].window_s = 900.0;
        assert_eq!(s.measured(), "window of each sweep point");
        assert!(headline(&s).contains("measured windows differ by sweep point"));
    }

    /// A replication that completed nothing has no latency: the mean is
    /// over the others, as the interval and the charts take it (it showed
    /// `–` beside an interval of [613, 621]).
    #[test]
    fn latency_means_skip_replications_without_a_completed_request() {
        let base = RunSummary::of(
            &crate::metrics::Recorder::new(SimTime::ZERO, SimTime(1), None),
            crate::cost::Bill::default(),
            false,
        );
        let run = |replication, p95| {
            let mut r = base.clone();
            r.platform = "l".into();
            r.replication = replication;
            r.latency.p95 = p95;
            r
        };
        let runs = [run(0, Some(600.0)), run(1, None), run(2, Some(620.0))];
        let row = Row::of(&outline(), &runs, &[0, 1, 2], "l", 0);
        assert_eq!(row.p95, Some(610.0));
        assert_eq!(row.p50, None);
    }

    #[test]
    fn sweep_points_are_labelled_by_their_values() {
        let mut s = outline();
        s.points = vec![PointOutline {
            id: 0,
            params: vec![
                ("workload.arrival.spikes[0].rate_per_s".into(), "80".into()),
                ("platforms.lambda.memory_mb".into(), "512".into()),
            ],
        }];
        assert_eq!(
            s.point_label(0).as_deref(),
            Some("rate_per_s=80, memory_mb=512")
        );
        // Two parameters ending alike keep their paths.
        s.points[0].params[1].0 = "platforms.other.rate_per_s".into();
        assert_eq!(
            s.point_label(0).as_deref(),
            Some("workload.arrival.spikes[0].rate_per_s=80, platforms.other.rate_per_s=512")
        );
        assert_eq!(s.point_label(1), None);
        assert_eq!(outline().point_label(0), None);
    }

    #[test]
    fn errors_are_broken_down_largest_first() {
        let mut r = Row {
            label: "p".into(),
            platform: "p".into(),
            point: 0,
            replications: 1,
            requests: 100.0,
            p50: None,
            p95: None,
            p99: None,
            error_rate: 0.0,
            errors: [0.0; 4],
            in_flight_end: 0.0,
            cold_starts: 0.0,
            cold_ratio: 0.0,
            cost: 0.0,
            per_month: 0.0,
        };
        assert_eq!(r.breakdown(), "none");
        r.errors = [0.01, 0.0, 0.2, 0.0];
        r.in_flight_end = 2.0;
        assert_eq!(
            r.breakdown(),
            "timed out 20%, throttled 1%; 2 still in flight at the end"
        );
    }
}
