//! The typed result of a finished run, and the one list of metrics every
//! output reads it through: summary.csv, aggregate.csv, `check` and the
//! stdout table.
//!
//! A run's [`Recorder`] is turned into a [`RunSummary`] as soon as the run
//! ends and is dropped, so memory grows with the number of runs only by their
//! summaries (a few hundred bytes each), not by their histograms.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::cost::Bill;
use crate::metrics::series::Series;
use crate::metrics::{Counts, IntervalRow, Latencies, Recorder};

/// Which way a metric improves, for baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Neither: a change either way beyond tolerance is a regression (`requests`).
    Neither,
}

/// Latency figures of completed requests \[ms\]; `None` when none completed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

impl LatencyStats {
    fn of(l: &impl crate::metrics::Quantiles) -> Self {
        LatencyStats {
            p50: l.quantile_ms(0.50),
            p90: l.quantile_ms(0.90),
            p95: l.quantile_ms(0.95),
            p99: l.quantile_ms(0.99),
            p999: l.quantile_ms(0.999),
            max: l.max_ms(),
            mean: l.mean_ms(),
        }
    }
}

/// Time average and peak of a level over the measurement window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LevelStats {
    pub mean: f64,
    pub peak: u64,
}

impl LevelStats {
    fn of(l: &crate::metrics::Level) -> Self {
        LevelStats {
            mean: l.mean(),
            peak: l.peak(),
        }
    }
}

/// Counts and latencies of one workload function in a run (`--per-function`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSummary {
    pub counts: Counts,
    pub latency: LatencyStats,
}

impl RunSummary {
    /// The gauge `name` of a time-series row, if this run's kind reports it.
    pub fn gauge(&self, row: &IntervalRow, name: &str) -> Option<u64> {
        let i = self.gauges.iter().position(|g| *g == name)?;
        Some(row.gauges.values[i])
    }
}

/// The result of one platform in one replication of one sweep point.
///
/// Serialisable without loss (a shard's runs travel this way), but for its
/// kind and gauges, which the reader looks up in the platform registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The sweep point (0 without a sweep).
    pub point: usize,
    pub platform: String,
    /// The platform's kind (its registry name).
    #[serde(skip)]
    pub kind: &'static str,
    /// The names of its gauges, in the order of each row's values.
    #[serde(skip)]
    pub gauges: &'static [&'static str],
    pub replication: u32,
    pub seed: u64,
    pub counts: Counts,
    pub latency: LatencyStats,
    /// Requests in service.
    pub concurrency: LevelStats,
    /// Lambda environments alive, or pods existing.
    pub instances: LevelStats,
    /// Nodes, for platforms that have them.
    pub nodes: Option<LevelStats>,
    pub bill: Bill,
    /// Per-function figures, when asked for.
    pub functions: Vec<FunctionSummary>,
    /// The time series, for the run whose series is written (a shard
    /// carries it in its series.bin).
    #[serde(skip)]
    pub series: Option<Series>,
}

impl RunSummary {
    /// Summarises a finished run's recorder (which the caller then drops;
    /// the time series is the caller's to take). `has_nodes`: whether the
    /// platform reports nodes.
    pub fn of(rec: &Recorder, bill: Bill, has_nodes: bool) -> Self {
        RunSummary {
            point: 0,
            platform: String::new(),
            kind: "",
            gauges: &[],
            replication: 0,
            seed: 0,
            counts: rec.counts,
            latency: LatencyStats::of(&rec.latency),
            concurrency: LevelStats::of(&rec.in_service),
            instances: LevelStats::of(&rec.instances),
            nodes: has_nodes.then(|| LevelStats::of(&rec.nodes)),
            bill,
            functions: rec.per_function.as_ref().map_or_else(Vec::new, |fs| {
                fs.iter()
                    .map(|f| FunctionSummary {
                        counts: f.counts,
                        latency: LatencyStats::of(&f.latency),
                    })
                    .collect()
            }),
            series: None,
        }
    }

    fn cost_per_million(&self) -> f64 {
        if self.counts.requests == 0 {
            0.0
        } else {
            self.bill.cost.total() / self.counts.requests as f64 * 1e6
        }
    }
}

/// The latencies of every replication of one (sweep point, platform),
/// pooled: quantiles of all their requests together, from the runs'
/// histograms added bucket by bucket (exact, in any order).
#[derive(Debug, Clone, PartialEq)]
pub struct Pooled {
    pub point: usize,
    pub platform: String,
    /// Replications pooled.
    pub runs: usize,
    /// Completed requests pooled.
    pub completed: u64,
    pub latency: LatencyStats,
    /// The pooled distribution as (latency \[ms\], cumulative fraction),
    /// at the charts' point only; empty elsewhere.
    pub cdf: Vec<(f64, f64)>,
}

/// Pools the latencies of a scenario's runs by (point, platform) as they
/// finish, in any order; a group's histogram is made with its first run
/// and dropped once its last run is in, so memory holds only the groups
/// open.
pub struct Pools {
    groups: Vec<PoolGroup>,
    chart_point: usize,
}

struct PoolGroup {
    point: usize,
    platform: String,
    runs: usize,
    remaining: usize,
    acc: Option<Latencies>,
    done: Option<Pooled>,
}

impl Pools {
    /// Pools for runs with these (point, platform) keys, in run order;
    /// with each run's group. Groups come in order of first appearance, as
    /// [`Grouped`]'s do.
    /// `chart_point`: the point whose groups keep their distribution.
    pub fn new<'a>(
        keys: impl IntoIterator<Item = (usize, &'a str)>,
        chart_point: usize,
    ) -> (Pools, Vec<usize>) {
        let mut groups: Vec<PoolGroup> = Vec::new();
        let mut index: HashMap<(usize, &'a str), usize> = HashMap::new();
        let of_run = keys
            .into_iter()
            .map(|(point, platform)| {
                let g = *index.entry((point, platform)).or_insert_with(|| {
                    groups.push(PoolGroup {
                        point,
                        platform: platform.to_string(),
                        runs: 0,
                        remaining: 0,
                        // Made when its first run comes in: an empty
                        // histogram is 16 kB, and a 10,000-point sweep
                        // holds 20,000 groups.
                        acc: None,
                        done: None,
                    });
                    groups.len() - 1
                });
                groups[g].runs += 1;
                groups[g].remaining += 1;
                g
            })
            .collect();
        (
            Pools {
                groups,
                chart_point,
            },
            of_run,
        )
    }

    /// Adds one run's latencies to its group.
    pub fn add(&mut self, group: usize, latencies: &Latencies) {
        let g = &mut self.groups[group];
        assert!(g.done.is_none(), "a run is added to its group once");
        g.acc.get_or_insert_with(Latencies::pool).add(latencies);
        g.remaining -= 1;
        if g.remaining == 0 {
            let acc = g.acc.take().expect("an open group");
            g.done = Some(Pooled {
                point: g.point,
                platform: g.platform.clone(),
                runs: g.runs,
                completed: acc.count(),
                latency: LatencyStats::of(&acc),
                cdf: if g.point == self.chart_point {
                    acc.cdf()
                } else {
                    Vec::new()
                },
            });
        }
    }

    /// Every group's pool, in group order; `None` if a run is missing.
    pub fn finish(self) -> Option<Vec<Pooled>> {
        self.groups.into_iter().map(|g| g.done).collect()
    }
}

/// Where a metric's value comes from.
#[derive(Clone, Copy)]
enum Source {
    /// Request counts: per run and per function.
    Counts(fn(&Counts) -> f64),
    /// Latencies: per run and per function.
    Latency(fn(&LatencyStats) -> Option<f64>),
    /// Platform-wide figures (levels, cost): per run only.
    Run(fn(&RunSummary) -> Option<f64>),
}

/// One summary metric: its column name, unit, direction and printed precision.
#[derive(Clone, Copy)]
pub struct Metric {
    /// The summary.csv column.
    pub name: &'static str,
    /// The unit (`requests`, `ms`, `USD`, `ratio`, ...).
    pub unit: &'static str,
    pub better: Better,
    /// Decimals printed; `None` for whole numbers.
    pub decimals: Option<usize>,
    source: Source,
}

impl std::fmt::Debug for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Metric {
    /// The value for `run`, or for its function `function` (`None` for
    /// platform-wide metrics there), at full precision.
    pub fn value(&self, run: &RunSummary, function: Option<usize>) -> Option<f64> {
        match (self.source, function) {
            (Source::Counts(f), None) => Some(f(&run.counts)),
            (Source::Counts(f), Some(i)) => Some(f(&run.functions[i].counts)),
            (Source::Latency(f), None) => f(&run.latency),
            (Source::Latency(f), Some(i)) => f(&run.functions[i].latency),
            (Source::Run(f), None) => f(run),
            (Source::Run(_), Some(_)) => None,
        }
    }

    /// `v` as summary.csv prints it.
    pub fn format(&self, v: f64) -> String {
        match self.decimals {
            Some(d) => format!("{v:.d$}"),
            None => format!("{}", v as u64),
        }
    }

    /// The value as published in summary.csv (rounded to the printed
    /// decimals): aggregate.csv, `check` and shard merges all compute from
    /// these, so each can be reproduced from summary.csv alone.
    pub fn published(&self, run: &RunSummary, function: Option<usize>) -> Option<f64> {
        let v = self.value(run, function)?;
        Some(match self.decimals {
            Some(_) => self.format(v).parse().unwrap_or(v),
            None => v,
        })
    }
}

const fn count(name: &'static str, better: Better, f: fn(&Counts) -> f64) -> Metric {
    Metric {
        name,
        unit: "requests",
        better,
        decimals: None,
        source: Source::Counts(f),
    }
}

const fn latency(name: &'static str, f: fn(&LatencyStats) -> Option<f64>) -> Metric {
    Metric {
        name,
        unit: "ms",
        better: Better::Lower,
        decimals: Some(3),
        source: Source::Latency(f),
    }
}

const fn run(
    name: &'static str,
    unit: &'static str,
    decimals: Option<usize>,
    f: fn(&RunSummary) -> Option<f64>,
) -> Metric {
    Metric {
        name,
        unit,
        better: Better::Lower,
        decimals,
        source: Source::Run(f),
    }
}

/// Every summary metric, in summary.csv's column order (after the five
/// identifying columns). The one list summary.csv, aggregate.csv, `check`
/// and the stdout table read.
pub const METRICS: &[Metric] = &[
    count("requests", Better::Neither, |c| c.requests as f64),
    count("completed", Better::Higher, |c| c.completed as f64),
    count("throttled", Better::Lower, |c| c.throttled as f64),
    count("rejected", Better::Lower, |c| c.rejected as f64),
    count("timed_out", Better::Lower, |c| c.timed_out as f64),
    count("dropped", Better::Lower, |c| c.dropped as f64),
    count("in_flight_end", Better::Lower, |c| c.in_flight_end as f64),
    count("cold_starts", Better::Lower, |c| c.cold_starts as f64),
    Metric {
        name: "cold_start_ratio",
        unit: "ratio",
        better: Better::Lower,
        decimals: Some(6),
        source: Source::Counts(Counts::cold_start_ratio),
    },
    latency("p50_ms", |l| l.p50),
    latency("p90_ms", |l| l.p90),
    latency("p95_ms", |l| l.p95),
    latency("p99_ms", |l| l.p99),
    latency("p999_ms", |l| l.p999),
    latency("max_ms", |l| l.max),
    latency("mean_ms", |l| l.mean),
    Metric {
        name: "error_rate",
        unit: "ratio",
        better: Better::Lower,
        decimals: Some(6),
        source: Source::Counts(Counts::error_rate),
    },
    run("mean_concurrency", "requests", Some(4), |r| {
        Some(r.concurrency.mean)
    }),
    run("peak_concurrency", "requests", None, |r| {
        Some(r.concurrency.peak as f64)
    }),
    run("mean_instances", "instances", Some(4), |r| {
        Some(r.instances.mean)
    }),
    run("peak_instances", "instances", None, |r| {
        Some(r.instances.peak as f64)
    }),
    // Nodes do not apply to every platform: empty rather than a misleading 0.
    run("mean_nodes", "nodes", Some(4), |r| r.nodes.map(|n| n.mean)),
    run("peak_nodes", "nodes", None, |r| {
        r.nodes.map(|n| n.peak as f64)
    }),
    run("cost_usd", "USD", Some(6), |r| Some(r.bill.cost.total())),
    run("cost_per_million_usd", "USD", Some(6), |r| {
        Some(r.cost_per_million())
    }),
    run("cost_per_month_usd", "USD", Some(6), |r| {
        Some(r.bill.per_month_usd)
    }),
    run("cost_requests_usd", "USD", Some(6), |r| {
        Some(r.bill.cost.requests)
    }),
    run("cost_compute_usd", "USD", Some(6), |r| {
        Some(r.bill.cost.compute)
    }),
    run("cost_provisioned_usd", "USD", Some(6), |r| {
        Some(r.bill.cost.provisioned)
    }),
    run("cost_nodes_usd", "USD", Some(6), |r| {
        Some(r.bill.cost.nodes)
    }),
    run("cost_control_plane_usd", "USD", Some(6), |r| {
        Some(r.bill.cost.control_plane)
    }),
    run("cost_front_door_usd", "USD", Some(6), |r| {
        Some(r.bill.cost.front_door)
    }),
];

/// The metric named `name`.
pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

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

/// A mean and, with two or more values, its 95 % Student-t interval.
pub type Estimate = (f64, Option<(f64, f64)>);

/// Mean and, with two or more values, the 95 % Student-t interval.
pub fn interval(values: &[f64]) -> Option<Estimate> {
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

/// The runs of one (sweep point, platform): its replications.
#[derive(Debug, Clone)]
pub struct Group {
    pub point: usize,
    pub platform: String,
    /// Indices into the runs, in run order.
    pub runs: Vec<usize>,
}

/// A run's published values read back from a summary.csv row
/// (`check --from`): one per [`METRICS`] entry, `None` where empty.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedRun {
    pub point: usize,
    pub platform: String,
    pub replication: u32,
    pub values: Vec<Option<f64>>,
}

/// A scenario's runs grouped by (point, platform), in order of first
/// appearance; built once, in one pass, from the runs or from their
/// summary.csv rows read back.
pub struct Grouped<'a> {
    /// The runs (empty when grouped from summary.csv rows).
    pub runs: &'a [RunSummary],
    read: &'a [PublishedRun],
    pub groups: Vec<Group>,
    index: HashMap<(usize, &'a str), usize>,
}

impl<'a> Grouped<'a> {
    pub fn new(runs: &'a [RunSummary]) -> Self {
        Self::of_keys(
            runs.iter().map(|r| (r.point, r.platform.as_str())),
            runs,
            &[],
        )
    }

    /// Grouped from summary.csv rows read back: the published values are the
    /// rows' own, so every estimate is the one the run computed.
    pub fn read(rows: &'a [PublishedRun]) -> Self {
        Self::of_keys(
            rows.iter().map(|r| (r.point, r.platform.as_str())),
            &[],
            rows,
        )
    }

    fn of_keys(
        keys: impl Iterator<Item = (usize, &'a str)>,
        runs: &'a [RunSummary],
        read: &'a [PublishedRun],
    ) -> Self {
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<(usize, &'a str), usize> = HashMap::new();
        for (i, (point, platform)) in keys.enumerate() {
            let g = *index.entry((point, platform)).or_insert_with(|| {
                groups.push(Group {
                    point,
                    platform: platform.to_string(),
                    runs: Vec::new(),
                });
                groups.len() - 1
            });
            groups[g].runs.push(i);
        }
        Grouped {
            runs,
            read,
            groups,
            index,
        }
    }

    /// The group of (point, platform).
    pub fn group(&self, point: usize, platform: &str) -> Option<&Group> {
        self.index.get(&(point, platform)).map(|&g| &self.groups[g])
    }

    /// The published value of `metric` for run `i`.
    pub fn published(&self, i: usize, metric: &Metric) -> Option<f64> {
        if self.read.is_empty() {
            metric.published(&self.runs[i], None)
        } else {
            let m = METRICS.iter().position(|m| m.name == metric.name)?;
            self.read[i].values[m]
        }
    }

    /// The published values of `metric` over a group's replications.
    pub fn values(&self, group: &Group, metric: &Metric) -> Vec<f64> {
        group
            .runs
            .iter()
            .filter_map(|&i| self.published(i, metric))
            .collect()
    }

    /// The counts of a (point, platform)'s runs, summed over replications
    /// (zero when it has none).
    pub fn counts(&self, point: usize, platform: &str) -> Counts {
        let mut sum = Counts::default();
        for &i in self.group(point, platform).map_or(&[][..], |g| &g.runs[..]) {
            sum += &self.runs[i].counts;
        }
        sum
    }

    /// Mean and 95 % interval of `metric` over the replications of (point,
    /// platform) that have it: the numbers aggregate.csv prints.
    pub fn estimate(&self, point: usize, platform: &str, metric: &Metric) -> Option<Estimate> {
        interval(&self.values(self.group(point, platform)?, metric))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_hold_a_histogram_only_while_a_group_is_open() {
        // 20,000 groups of one run each, as a 10,000-point sweep of two
        // platforms makes: none holds a histogram before its run (each
        // held 16 kB from the start: 372 MB for that sweep).
        let keys: Vec<(usize, &str)> = (0..20_000).map(|i| (i / 2, ["a", "b"][i % 2])).collect();
        let (mut pools, of_run) = Pools::new(keys.iter().copied(), 0);
        assert!(pools.groups.iter().all(|g| g.acc.is_none()));
        let mut rec = Recorder::new(crate::time::SimTime::ZERO, crate::time::SimTime::MAX, None);
        let latencies = rec.take_latency();
        pools.add(of_run[0], &latencies);
        assert!(pools.groups.iter().all(|g| g.acc.is_none()));
        assert_eq!(pools.groups[0].done.as_ref().map(|p| p.runs), Some(1));
    }

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

    #[test]
    fn published_values_are_the_printed_ones() {
        let m = metric("p95_ms").unwrap();
        let mut r = RunSummary::of(
            &Recorder::new(crate::time::SimTime::ZERO, crate::time::SimTime(1), None),
            Bill::default(),
            false,
        );
        r.latency.p95 = Some(12.345_678_9);
        assert_eq!(m.published(&r, None), Some(12.346));
        assert_eq!(m.format(12.346), "12.346");
        // Nodes are empty for a platform without them, counts whole.
        assert_eq!(metric("mean_nodes").unwrap().value(&r, None), None);
        assert_eq!(metric("requests").unwrap().format(7.0), "7");
    }

    #[test]
    fn groups_keep_first_appearance_order() {
        let base = RunSummary::of(
            &Recorder::new(crate::time::SimTime::ZERO, crate::time::SimTime(1), None),
            Bill::default(),
            false,
        );
        let run = |point, platform: &str| RunSummary {
            point,
            platform: platform.into(),
            ..base.clone()
        };
        let runs = [run(0, "b"), run(0, "a"), run(0, "b"), run(1, "a")];
        let g = Grouped::new(&runs);
        let keys: Vec<(usize, &str, &[usize])> = g
            .groups
            .iter()
            .map(|g| (g.point, g.platform.as_str(), g.runs.as_slice()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (0, "b", &[0, 2][..]),
                (0, "a", &[1][..]),
                (1, "a", &[3][..])
            ]
        );
    }
}
