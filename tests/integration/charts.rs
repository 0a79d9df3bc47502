//! Every chart renders: each SVG parses and has its axes, labels, legend
//! entries and one series per platform; the outcome chart's shares sum to 1;
//! report.html leads with the headline table.

use std::collections::HashMap;
use std::path::Path;

use assert_cmd::Command;

const SCENARIO: &str = r#"
name = "c"
seed = 3
duration_s = 600
replications = 2
[workload]
arrival = { kind = "spike", base_per_s = 10, spikes = [{ at_s = 200, duration_s = 60, rate_per_s = 400 }] }
work = { kind = "lognormal", median_ms = 80, p99_ms = 400 }
[[platforms]]
name = "lam"
kind = "lambda"
account_concurrency = 20
[[platforms]]
name = "kube"
kind = "kubernetes"
scaling = { kind = "hpa", min_replicas = 2, max_replicas = 10, metric = "cpu", target = 0.6 }
nodes = { instance = "m5.large", initial = 1, min = 1, max = 3 }
[sweep]
"platforms.lam.memory_mb" = [512, 1024]
"#;

fn run(dir: &Path, src: &str, args: &[&str]) -> std::process::Output {
    let file = dir.join("c.toml");
    std::fs::write(&file, src).unwrap();
    Command::cargo_bin("surgesim")
        .unwrap()
        .args(["run", "-q", "-o"])
        .arg(dir.join("out"))
        .args(args)
        .arg(&file)
        .output()
        .unwrap()
}

/// The SVG's text elements, trimmed.
fn texts(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

/// How many polylines each stroke colour draws, black (axes) left out.
fn lines_by_colour(doc: &roxmltree::Document) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for n in doc.descendants().filter(|n| n.has_tag_name("polyline")) {
        let c = n.attribute("stroke").unwrap_or("").to_string();
        if c != "#000000" {
            *out.entry(c).or_insert(0) += 1;
        }
    }
    out
}

fn parse(text: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(text).expect("a well-formed SVG")
}

fn has_all(texts: &[String], wanted: &[&str], file: &str) {
    for w in wanted {
        assert!(
            texts.iter().any(|t| t.contains(w)),
            "{file}: no text `{w}` in {texts:?}"
        );
    }
}

#[test]
fn every_chart_has_axes_labels_legend_and_a_series_per_platform() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), SCENARIO, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folder = dir.path().join("out/c");
    let read = |f: &str| std::fs::read_to_string(folder.join(f)).unwrap();

    // Latency CDF: log axis labelled at 1-2-5 steps, share axis, one curve
    // per platform named in the legend with its completed share.
    let svg = read("latency_cdf.svg");
    let doc = parse(&svg);
    let t = texts(&doc);
    has_all(
        &t,
        &[
            "c: latency CDF at memory_mb=512, 2 replications pooled",
            "latency [ms] (log scale)",
            "share of requests",
            "100",
            "200",
            "500",
            "lam (",
            "kube (",
            "% completed)",
        ],
        "latency_cdf.svg",
    );
    let lines = lines_by_colour(&doc);
    assert_eq!(lines.len(), 2, "one colour per platform: {lines:?}");
    assert!(
        lines.values().all(|&n| n == 2),
        "curve + legend mark: {lines:?}"
    );
    // Lambda at 20 concurrent executions throttles part of the spike: its
    // curve ends below 100 %.
    let lam = t.iter().find(|x| x.starts_with("lam (")).unwrap();
    assert!(!lam.contains("(100% completed)"), "{lam}");

    // Load: every platform's panel with its axes; the Kubernetes one has
    // the waiting requests and the nodes on their own axes.
    let svg = read("load_capacity.svg");
    let doc = parse(&svg);
    let t = texts(&doc);
    has_all(
        &t,
        &[
            "c: load vs. capacity at memory_mb=512",
            "lam",
            "kube",
            "time [s]",
            "requests per second",
            "arrivals per second (left)",
            "errors per second (left)",
            "cold starts per second (left)",
            "execution environments (right)",
            "ready pods (right)",
            "waiting requests",
            "nodes (count)",
            "nodes (right)",
        ],
        "load_capacity.svg",
    );
    // Arrivals (blue) in both panels.
    let lines = lines_by_colour(&doc);
    assert!(lines.get("#0072B2").copied().unwrap_or(0) >= 4, "{lines:?}");

    // Outcomes: a bar per platform, every outcome in the legend.
    let svg = read("outcomes.svg");
    let doc = parse(&svg);
    let t = texts(&doc);
    has_all(
        &t,
        &[
            "c: request outcomes at memory_mb=512, 2 replications pooled",
            "share of requests",
            "lam",
            "kube",
            "completed",
            "throttled",
            "rejected",
            "timed out",
            "dropped",
            "in flight at the end",
            "100%",
        ],
        "outcomes.svg",
    );

    // p95 and cost: both panels, each platform on the x axis.
    let t = texts(&parse(&read("p95_cost.svg")));
    has_all(
        &t,
        &[
            "p95 latency [ms]",
            "cost [USD per month]",
            "lam",
            "kube",
            "platform",
        ],
        "p95_cost.svg",
    );

    // Sweep charts: the parameter on x, one line per platform.
    for (file, y) in [
        ("sweep_p95.svg", "p95 latency [ms]"),
        ("sweep_errors.svg", "error rate"),
        ("sweep_cost.svg", "cost [USD per month]"),
    ] {
        let svg = read(file);
        let doc = parse(&svg);
        has_all(
            &texts(&doc),
            &["platforms.lam.memory_mb", y, "lam", "kube", "600", "1,000"],
            file,
        );
        assert_eq!(lines_by_colour(&doc).len(), 2, "{file}");
    }
}

/// The outcome shares of the chart: for each bar (by its y), the widths of
/// its rectangles over the plot's width.
#[test]
fn the_outcome_shares_sum_to_one_and_match_summary_csv() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), SCENARIO, &[]).status.success());
    let folder = dir.path().join("out/c");
    let s = surgesim::scenario::load(&dir.path().join("c.toml"), Default::default()).unwrap();
    let runs = surgesim::cli::run_scenario(&s, dir.path(), false).unwrap();
    let grouped = surgesim::metrics::summary::Grouped::new(&runs);
    let bars = surgesim::report::outcome_bars(&grouped, 0, &["lam", "kube"]);
    for b in &bars {
        let sum: f64 = b.shares.iter().sum();
        assert!((sum - 1.0).abs() < 1e-12, "{}: {sum}", b.label);
    }
    // lam throttles, kube rejects: both kinds show.
    assert!(bars[0].shares[1] > 0.0 && bars[1].shares[2] > 0.0);
    // In the SVG: the segments of each bar fill the axis (to a pixel per
    // segment, plotters rounds each edge).
    let svg = std::fs::read_to_string(folder.join("outcomes.svg")).unwrap();
    let doc = parse(&svg);
    let mut by_row: HashMap<String, (f64, usize)> = HashMap::new();
    let coloured: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| n.attribute("fill") != Some("#FFFFFF"))
        .collect();
    for n in &coloured {
        let (Some(y), Some(w)) = (n.attribute("y"), n.attribute("width")) else {
            continue;
        };
        let h: f64 = n.attribute("height").unwrap().parse().unwrap();
        if h < 16.0 {
            continue; // legend blocks
        }
        let e = by_row.entry(y.to_string()).or_insert((0.0, 0));
        e.0 += w.parse::<f64>().unwrap();
        e.1 += 1;
    }
    assert_eq!(by_row.len(), 2, "{by_row:?}");
    let widths: Vec<f64> = by_row.values().map(|v| v.0).collect();
    let segments: usize = by_row.values().map(|v| v.1).max().unwrap();
    assert!(
        (widths[0] - widths[1]).abs() <= segments as f64 + 1.0,
        "both bars span the axis: {widths:?}"
    );
}

#[test]
fn the_report_leads_with_the_headline_and_folds_the_full_tables() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), SCENARIO, &[]).status.success());
    let html = std::fs::read_to_string(dir.path().join("out/c/report.html")).unwrap();
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("report.html is well-formed");
    // Order: headline, differences, charts, full tables.
    let h2: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("h2"))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        h2,
        ["Results", "Paired differences", "Charts", "Full tables"]
    );
    let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("no `{s}`"));
    assert!(at("<table class=\"headline\">") < at("<svg"));
    assert!(at("<svg") < at("<details>"));
    // Every full table is folded away.
    let folded = doc
        .descendants()
        .filter(|n| n.has_tag_name("details"))
        .count();
    assert_eq!(folded, 4, "summary, aggregate, pooled, points");
    // The headline: one row per (point, platform), labelled with the
    // point's values; counts with separators, money in dollars, errors by
    // kind, intervals with two replications.
    let headline = doc
        .descendants()
        .find(|n| n.has_tag_name("table") && n.attribute("class") == Some("headline"))
        .unwrap();
    let rows: Vec<Vec<String>> = headline
        .descendants()
        .filter(|n| n.has_tag_name("tr"))
        .skip(1)
        .map(|tr| {
            tr.children()
                .filter(|c| c.is_element())
                .map(|c| {
                    c.descendants()
                        .filter(|d| d.is_text())
                        .map(|d| d.text().unwrap_or(""))
                        .collect::<String>()
                })
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0][0], "lam @ memory_mb=512");
    assert_eq!(rows[3][0], "kube @ memory_mb=1024");
    let requests = &rows[0][1];
    assert!(requests.contains(','), "{requests}");
    assert!(!requests.contains('.'), "{requests}");
    assert!(rows[0][6].contains("throttled"), "{:?}", rows[0]);
    assert!(rows[1][6].contains("rejected"), "{:?}", rows[1]);
    assert!(
        rows[0][3].contains('['),
        "p95 with its interval: {:?}",
        rows[0]
    );
    assert!(rows[0][8].starts_with('$'), "{:?}", rows[0]);
    assert!(html.contains("scaled to 30 days"));
    // The paired differences name both platforms and the point.
    assert!(html.contains("lam - kube @ memory_mb=512"));
    // No full-table number keeps six decimals.
    assert!(!html.contains(".000000"));
}

#[test]
fn chart_point_selects_the_point_of_the_per_run_charts_and_the_series() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), SCENARIO, &["--chart-point", "1", "--no-charts"]);
    assert!(out.status.success());
    let series = std::fs::read_to_string(dir.path().join("out/c/timeseries.csv")).unwrap();
    let other = tempfile::tempdir().unwrap();
    assert!(
        run(other.path(), SCENARIO, &["--no-charts"])
            .status
            .success()
    );
    let default = std::fs::read_to_string(other.path().join("out/c/timeseries.csv")).unwrap();
    // Lambda's memory is the sweep: its series differs, Kubernetes' not.
    assert_ne!(series, default);
    let kube = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains(",kube,"))
            .map(String::from)
            .collect()
    };
    assert_eq!(kube(&series), kube(&default));
    assert!(
        run(dir.path(), SCENARIO, &["--chart-point", "1"])
            .status
            .success()
    );
    let cdf = std::fs::read_to_string(dir.path().join("out/c/latency_cdf.svg")).unwrap();
    assert!(cdf.contains("at memory_mb=1024"));
    // A point the scenario does not have is a usage error.
    let bad = run(dir.path(), SCENARIO, &["--chart-point", "2"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--chart-point 2") && err.contains("2 sweep points"),
        "{err}"
    );
}
