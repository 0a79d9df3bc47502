//! Sweeps, replications, parallel runs, confidence intervals, charts and the report.

use std::path::Path;

use assert_cmd::Command;
use surgesim::experiment::run_platform;
use surgesim::metrics::summary::interval;
use surgesim::scenario::{self, Overrides};

const SWEEP: &str = r#"
name = "sw"
seed = 5
duration_s = 300
replications = 3
[workload]
arrival = { kind = "spike", base_per_s = 20, spikes = [{ at_s = 100, duration_s = 60, rate_per_s = 200 }] }
work = { kind = "lognormal", median_ms = 80, p99_ms = 400 }
[[platforms]]
name = "lambda"
kind = "lambda"
memory_mb = 1024
[[platforms]]
name = "eks"
kind = "kubernetes"
scaling = { kind = "hpa", min_replicas = 2, max_replicas = 30, metric = "cpu", target = 0.6 }
[sweep]
"platforms.lambda.memory_mb" = [512, 2048]
"workload.arrival.spikes[0].rate_per_s" = [100, 400]
"#;

fn run_cli(dir: &Path, src: &str, args: &[&str]) -> std::process::Output {
    let file = dir.join("s.toml");
    std::fs::write(&file, src).unwrap();
    Command::cargo_bin("surgesim")
        .unwrap()
        .args(["run", "-q", "--requests-csv", "-o"])
        .arg(dir.join("out"))
        .args(args)
        .arg(&file)
        .output()
        .unwrap()
}

const FILES: &[&str] = &[
    "summary.csv",
    "aggregate.csv",
    "timeseries.csv",
    "requests.csv",
    "points.csv",
    "latency_cdf.svg",
    "load_capacity.svg",
    "p95_cost.svg",
    "outcomes.svg",
    "sweep_p95.svg",
    "sweep_errors.svg",
    "sweep_cost.svg",
    "report.html",
];

#[test]
fn outputs_are_byte_identical_for_any_number_of_jobs() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    assert!(
        run_cli(one.path(), SWEEP, &["--jobs", "1"])
            .status
            .success()
    );
    assert!(
        run_cli(two.path(), SWEEP, &["--jobs", "2"])
            .status
            .success()
    );
    for f in FILES {
        let a = std::fs::read(one.path().join("out/sw").join(f)).unwrap();
        let b = std::fs::read(two.path().join("out/sw").join(f)).unwrap();
        assert!(a == b, "{f} differs between --jobs 1 and --jobs 2");
    }
    // 4 points x 3 replications x 2 platforms.
    let summary = std::fs::read_to_string(one.path().join("out/sw/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 24);
}

#[test]
fn sweep_points_get_stable_ids_and_share_arrivals() {
    let s = scenario::parse(SWEEP, Path::new("sw.toml"), Overrides::default()).unwrap();
    assert_eq!(s.points.len(), 4);
    // Keys sorted by name, the last varying fastest.
    let p1 = &s.points[1].params;
    assert_eq!(
        p1[0],
        ("platforms.lambda.memory_mb".to_string(), "512".to_string())
    );
    assert_eq!(
        p1[1],
        (
            "workload.arrival.spikes[0].rate_per_s".to_string(),
            "400".to_string()
        )
    );
    // Points 0 and 2 differ only in Lambda memory: identical arrivals (common
    // random numbers), different latency.
    let a = run_platform(
        &s.points[0].scenario,
        &s.points[0].scenario.platforms[0],
        0,
        None,
    );
    let b = run_platform(
        &s.points[2].scenario,
        &s.points[2].scenario.platforms[0],
        0,
        None,
    );
    assert_eq!(a.rec.counts.requests, b.rec.counts.requests);
    assert!(a.rec.quantile_ms(0.5).unwrap() > 3.0 * b.rec.quantile_ms(0.5).unwrap());
    // The EKS platform is untouched by the memory sweep: the same results.
    let c = run_platform(
        &s.points[0].scenario,
        &s.points[0].scenario.platforms[1],
        0,
        None,
    );
    let d = run_platform(
        &s.points[2].scenario,
        &s.points[2].scenario.platforms[1],
        0,
        None,
    );
    assert_eq!(c.rec.counts, d.rec.counts);
}

#[test]
fn bad_sweep_paths_are_errors_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    for (sweep, needle) in [
        (
            "\"platforms.nosuch.memory_mb\" = [512]",
            "nothing named `nosuch`",
        ),
        ("\"platforms.lambda.memory_mb\" = []", "non-empty array"),
        ("\"platforms.lambda.memory_mb\" = [99999]", "memory_mb"),
        ("\"platforms.lambda.memory_mb\" = [\"big\"]", "invalid type"),
    ] {
        let src = format!(
            "{}\n[sweep]\n{sweep}\n",
            &SWEEP[..SWEEP.find("[sweep]").unwrap()]
        );
        let out = run_cli(dir.path(), &src, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sweep}: {stderr}");
        assert!(stderr.contains(needle), "{sweep}: {stderr}");
        assert!(stderr.contains("sweep."), "{sweep}: {stderr}");
    }
}

#[test]
fn confidence_intervals_cover_the_true_mean_about_95_percent_of_the_time() {
    // A single-slot pod on one core with Poisson(0.5/s) arrivals and
    // exponential work of mean 1 s is M/M/1 at rho = 0.5: mean time in the
    // system 1 / (1 - 0.5) = 2 s. 200 seeds, 10 replications each: the
    // 95 % Student-t interval of the replication means should cover 2 s in
    // about 190 of them (binomial sd 3.1): the test accepts 182 to 196.
    let src = |seed: u64| {
        format!(
            r#"
            seed = {seed}
            duration_s = 4000
            warmup_s = 200
            [workload]
            arrival = {{ kind = "poisson", rate_per_s = 0.5 }}
            work = {{ kind = "exponential", mean_s = 1 }}
            [[platforms]]
            kind = "kubernetes"
            pod = {{ cpu = 1, memory_mb = 256, concurrency = 1, queue_capacity = 100000 }}
            scaling = {{ kind = "fixed", replicas = 1 }}
            nodes = {{ initial = 1, autoscaler = "none" }}
            "#
        )
    };
    let mut covered = 0;
    for seed in 0..200 {
        let s = scenario::parse(&src(seed), Path::new("ci.toml"), Overrides::default()).unwrap();
        let means: Vec<f64> = (0..10)
            .map(|rep| {
                run_platform(&s, &s.platforms[0], rep, None)
                    .rec
                    .mean_ms()
                    .unwrap()
                    / 1e3
            })
            .collect();
        let (_, ci) = interval(&means).unwrap();
        let (lo, hi) = ci.unwrap();
        if lo <= 2.0 && 2.0 <= hi {
            covered += 1;
        }
    }
    assert!((182..=196).contains(&covered), "covered {covered} of 200");
}

#[test]
fn the_report_holds_every_chart_and_table_and_the_charts_are_labelled() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run_cli(dir.path(), SWEEP, &[]).status.success());
    let html = std::fs::read_to_string(dir.path().join("out/sw/report.html")).unwrap();
    // Self-contained: nothing to fetch.
    for external in ["<script", "<link", "src=\"", "href=\"http", "url("] {
        assert!(
            !html.contains(external),
            "report.html refers to `{external}`"
        );
    }
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("report.html is well-formed");
    let svgs: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("svg"))
        .collect();
    assert_eq!(svgs.len(), 7, "seven charts inline");
    let tables = doc
        .descendants()
        .filter(|n| n.has_tag_name("table"))
        .count();
    assert_eq!(
        tables, 6,
        "headline and differences, then summary, aggregate, pooled and points tables"
    );
    let text: Vec<String> = doc
        .descendants()
        .filter(|n| n.is_text())
        .map(|n| n.text().unwrap_or("").to_string())
        .collect();
    let has = |s: &str| text.iter().any(|t| t.contains(s));
    for label in [
        "latency [ms] (log scale)",
        "share of requests (curves end at the completed share)",
        "time [s]",
        "requests per second",
        "p95 latency [ms]",
        "cost [USD per month]",
        "sw: latency CDF",
        "sw: load vs. capacity",
        "lambda",
        "eks",
    ] {
        assert!(has(label), "missing `{label}`");
    }
    // The aggregate table has the paired difference row.
    assert!(has("lambda - eks"));
}
