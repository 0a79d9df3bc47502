//! The exporters' bytes, pinned as snapshots (insta): summary, aggregate,
//! points, timeseries and requests CSV of a small scenario with both
//! platforms, per-function rows, replications and a sweep. A change to any
//! byte shows in review; `INSTA_UPDATE=always cargo test --test integration
//! exporters` rewrites the snapshots after a deliberate change.

use std::path::Path;

use surgesim::cli::run_scenario_with;
use surgesim::engine::CancelToken;
use surgesim::experiment::RunOptions;
use surgesim::metrics::summary::Grouped;
use surgesim::report::{aggregate, csv, points_csv};
use surgesim::scenario::{self, Overrides};

const SCENARIO: &str = r#"
name = "exporters, \"quoted\""
seed = 11
duration_s = 40
warmup_s = 5
replications = 2
timeseries_interval_s = 10

[[workload.functions]]
name = "api"
arrival = { kind = "poisson", rate_per_s = 3 }
work = { kind = "lognormal", median_ms = 50, p99_ms = 300 }

[[workload.functions]]
name = "batch,job"
arrival = { kind = "constant", rate_per_s = 0.5 }
work = { kind = "constant", ms = 800 }

[[platforms]]
name = "lambda"
kind = "lambda"
memory_mb = 512

[[platforms]]
name = "eks"
kind = "kubernetes"
scaling = { kind = "fixed", replicas = 1 }
pod = { cpu = 0.5, concurrency = 2, queue_capacity = 3 }

[sweep]
"platforms.lambda.memory_mb" = [512, 1024]
"#;

#[test]
fn exporter_bytes_are_pinned() {
    let s = scenario::parse(SCENARIO, Path::new("e.toml"), Overrides::default()).unwrap();
    let names: Vec<String> = s
        .workload
        .functions
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        requests_csv: true,
        per_function: true,
        charts: false,
        ..RunOptions::default()
    };
    let runs = run_scenario_with(&s, dir.path(), &opts, &CancelToken::never()).unwrap();
    let read = |f: &str| {
        std::fs::read_to_string(dir.path().join(scenario::sanitize_name(&s.name)).join(f)).unwrap()
    };
    let grouped = Grouped::new(&runs);
    // The files written are the exporters' bytes.
    let summary = csv::summary_csv(&s.name, &names, &runs);
    assert_eq!(summary, read("summary.csv"));
    let aggregate = aggregate::aggregate_csv(&s.name, &grouped);
    assert_eq!(aggregate, read("aggregate.csv"));
    let timeseries = String::from_utf8(
        csv::write_timeseries(Vec::new(), &runs, 0, &CancelToken::never()).unwrap(),
    )
    .unwrap();
    assert_eq!(timeseries, read("timeseries.csv"));
    let points = points_csv(&s.outline()).unwrap();
    assert_eq!(points, read("points.csv"));
    insta::assert_snapshot!("summary.csv", summary);
    insta::assert_snapshot!("aggregate.csv", aggregate);
    insta::assert_snapshot!("points.csv", points);
    insta::assert_snapshot!("timeseries.csv", timeseries);
    insta::assert_snapshot!("requests.csv", read("requests.csv"));
}
