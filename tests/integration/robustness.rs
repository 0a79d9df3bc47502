//! Hostile inputs, invariants under random scenarios, safe output.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use proptest::prelude::*;
use surgesim::cli::run_scenario;
use surgesim::scenario::{self, Overrides};

fn surgesim() -> Command {
    Command::cargo_bin("surgesim").unwrap()
}

/// A random valid scenario: arrival kind, work distribution, a Lambda and a
/// Kubernetes platform with random parameters, a short horizon.
/// The knobs of a random scenario.
#[derive(Clone, Copy)]
struct Params {
    arrival: u8,
    rate: f64,
    work: u8,
    work_ms: f64,
    memory: u32,
    account: u32,
    timeout: u32,
    replicas: (u32, u32),
    metric: u8,
    nodes: (u32, u32),
    duration: u32,
    seed: u64,
}

fn scenario_text(p: &Params) -> String {
    let Params {
        arrival,
        rate,
        work,
        work_ms,
        memory,
        account,
        timeout,
        replicas,
        metric,
        nodes,
        duration,
        seed,
    } = *p;
    let arrival = match arrival % 6 {
        0 => format!("{{ kind = \"constant\", rate_per_s = {rate} }}"),
        1 => format!("{{ kind = \"poisson\", rate_per_s = {rate} }}"),
        2 => format!(
            "{{ kind = \"phases\", phases = [{{ duration_s = 30, rate_per_s = {rate} }}, {{ duration_s = 30, rate_per_s = 0, ramp_to_per_s = {} }}] }}",
            rate * 3.0
        ),
        3 => format!(
            "{{ kind = \"spike\", base_per_s = {rate}, spikes = [{{ at_s = 20, duration_s = 10, rate_per_s = {} }}] }}",
            rate * 10.0
        ),
        4 => {
            format!("{{ kind = \"diurnal\", mean_per_s = {rate}, amplitude = 0.7, period_s = 60 }}")
        }
        _ => format!(
            "{{ kind = \"mmpp\", states = [{{ rate_per_s = {rate}, mean_duration_s = 5 }}, {{ rate_per_s = {}, mean_duration_s = 2 }}] }}",
            rate * 5.0
        ),
    };
    let work = match work % 6 {
        0 => format!("{{ kind = \"constant\", ms = {work_ms} }}"),
        1 => format!("{{ kind = \"exponential\", mean_ms = {work_ms} }}"),
        2 => format!(
            "{{ kind = \"lognormal\", median_ms = {work_ms}, p99_ms = {} }}",
            work_ms * 8.0
        ),
        3 => format!(
            "{{ kind = \"uniform\", min_ms = 1, max_ms = {} }}",
            work_ms * 2.0
        ),
        4 => format!("{{ kind = \"pareto\", scale_ms = {work_ms}, shape = 1.3, max_ms = 60000 }}"),
        _ => format!(
            "{{ kind = \"empirical\", percentiles = [[0, 1], [50, {work_ms}], [100, {}]] }}",
            work_ms * 20.0
        ),
    };
    let metric = ["cpu", "concurrency", "rps"][metric as usize % 3];
    let target = if metric == "cpu" { "0.6" } else { "3" };
    let (min_r, max_r) = (replicas.0.min(replicas.1), replicas.0.max(replicas.1));
    let (min_n, max_n) = (nodes.0.min(nodes.1), nodes.0.max(nodes.1));
    format!(
        r#"
        name = "p"
        seed = {seed}
        duration_s = {duration}
        warmup_s = 5
        timeseries_interval_s = 5
        [workload]
        arrival = {arrival}
        work = {work}
        [[platforms]]
        name = "lambda"
        kind = "lambda"
        memory_mb = {memory}
        account_concurrency = {account}
        timeout_s = {timeout}
        [[platforms]]
        name = "eks"
        kind = "kubernetes"
        pod = {{ cpu = 0.5, memory_mb = 512, concurrency = 4, queue_capacity = 20, startup = {{ kind = "constant", s = 3 }} }}
        scaling = {{ kind = "hpa", min_replicas = {min_r}, max_replicas = {max_r}, metric = "{metric}", target = {target} }}
        nodes = {{ instance = "m5.large", initial = {min_n}, min = {min_n}, max = {max_n}, provision = {{ kind = "constant", s = 20 }} }}
        "#
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    #[test]
    fn invariants_hold_on_random_scenarios(
        arrival in 0u8..6, rate in 0.5f64..40.0, work in 0u8..6, work_ms in 1.0f64..400.0,
        memory in 128u32..4000, account in 1u32..200, timeout in 1u32..30,
        replicas in (1u32..5, 1u32..12), metric in 0u8..3, nodes in (1u32..3, 1u32..6),
        duration in 30u32..120, seed in 0u64..1000,
    ) {
        let src = scenario_text(&Params { arrival, rate, work, work_ms, memory, account, timeout, replicas, metric, nodes, duration, seed });
        let s = scenario::parse(&src, Path::new("p.toml"), Overrides::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let dir = tempfile::tempdir().unwrap();
        let runs = run_scenario(&s, dir.path(), true).unwrap();
        let text = std::fs::read_to_string(dir.path().join("p/requests.csv")).unwrap();
        let again = run_scenario(&s, dir.path(), false).unwrap();
        let max_r = replicas.0.max(replicas.1);
        let max_n = nodes.0.max(nodes.1);
        for (r, r2) in runs.iter().zip(&again) {
            let c = &r.counts;
            // Every request accounted for.
            prop_assert_eq!(c.requests, c.accounted());
            // Determinism: the same counts and bill twice.
            prop_assert_eq!(c, &r2.counts);
            prop_assert_eq!(r.bill, r2.bill);
            // Quantiles ordered, latencies non-negative.
            let q: Vec<f64> = [r.latency.p50, r.latency.p95, r.latency.p99].into_iter().flatten().collect();
            if let Some(max) = r.latency.max {
                prop_assert!(q.windows(2).all(|w| w[0] <= w[1]));
                prop_assert!(q.iter().all(|&v| v >= 0.0 && v <= max));
            }
            // Costs non-negative.
            let b = &r.bill.cost;
            prop_assert!([b.requests, b.compute, b.provisioned, b.nodes, b.control_plane, b.front_door].iter().all(|&x| x >= 0.0));
            prop_assert!(r.bill.per_month_usd >= 0.0);
            if r.platform == "lambda" {
                // Concurrency never above the account's.
                prop_assert!(r.concurrency.peak <= u64::from(account));
            } else {
                prop_assert!(r.nodes.unwrap().peak <= u64::from(max_n));
                let mut bad = None;
                if let Some(series) = &r.series {
                    series.try_for_each(|e| e.to_string(), |i, row| {
                        let g = |name| r.gauge(row, name).unwrap();
                        if g("pods_desired") > u64::from(max_r)
                            || g("nodes") + g("nodes_provisioning") > u64::from(max_n)
                        {
                            bad.get_or_insert(i);
                        }
                        Ok(())
                    }).map_err(TestCaseError::fail)?;
                }
                prop_assert_eq!(bad, None, "pods or nodes above their maximum at this row");
            }
        }
        // Every completed request took at least its work (CPU time at one
        // vCPU): no platform runs a request faster than a full core.
        let mut work: std::collections::HashMap<(u64, u32), f64> = std::collections::HashMap::new();
        for r in s.workload.requests(s.seed, 0, s.horizon) {
            let e = work.entry((r.arrival.as_nanos(), r.function)).or_insert(f64::INFINITY);
            *e = e.min(r.work.as_millis_f64());
        }
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f[6] == "completed" {
                let arrival = (f[0].parse::<f64>().unwrap() * 1e9).round() as u64;
                let w = work[&(arrival, 0)];
                let latency: f64 = f[5].parse().unwrap();
                prop_assert!(latency + 1e-6 >= w, "latency {} < work {}", latency, w);
            }
        }
        // requests.csv: one row per measured request.
        let total: u64 = runs.iter().map(|r| r.counts.requests).sum();
        let logged = text.lines().skip(1).filter(|l| l.split(',').next().unwrap().parse::<f64>().unwrap() >= 5.0).count() as u64;
        prop_assert_eq!(logged, total);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = scenario::parse(&text, Path::new("x.toml"), Overrides::default());
    }

    #[test]
    fn the_parser_never_panics_on_mangled_scenarios(cut in 0usize..1500, junk in "[ -~\\n]{0,20}") {
        let src = scenario_text(&Params {
            arrival: 1, rate: 5.0, work: 2, work_ms: 50.0, memory: 512, account: 10, timeout: 3,
            replicas: (1, 3), metric: 0, nodes: (1, 2), duration: 60, seed: 1,
        });
        let cut = cut.min(src.len());
        let mangled = format!("{}{junk}{}", &src[..cut], &src[cut..]);
        let _ = scenario::parse(&mangled, Path::new("x.toml"), Overrides::default());
    }

    #[test]
    fn trace_readers_never_panic_on_arbitrary_files(body in "[0-9a-z,.\\-\\n ]{0,300}", format in 0u8..3) {
        let dir = tempfile::tempdir().unwrap();
        let header = ["timestamp_s,function,duration_ms\n", "app,func,end_timestamp,duration\n", "HashOwner,HashApp,HashFunction,Trigger,1,2\n"][format as usize];
        std::fs::write(dir.path().join("t.csv"), format!("{header}{body}")).unwrap();
        let fmt = ["csv", "azure2021", "azure2019"][format as usize];
        let src = format!("seed = 1\n[workload]\narrival = {{ kind = \"trace\", format = \"{fmt}\", path = \"t.csv\" }}\n[[platforms]]\nkind = \"lambda\"\n");
        let file = dir.path().join("s.toml");
        std::fs::write(&file, &src).unwrap();
        if let Ok(s) = scenario::load(&file, Overrides::default()) {
            // Whatever was accepted replays without panicking.
            let n = s.workload.requests(1, 0, s.horizon).take(10_000).count();
            prop_assert!(n as u64 <= s.workload.trace.as_ref().unwrap().rows * 2);
        }
    }
}

/// The first lines of each bundled sample trace, as (format, file name,
/// text): the seeds the reader fuzz target mangles.
fn trace_seeds() -> Vec<(&'static str, &'static str, String)> {
    use std::io::Read;
    let traces = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/traces");
    let head = |text: &str, lines: usize| -> String {
        text.lines().take(lines).flat_map(|l| [l, "\n"]).collect()
    };
    let read = |f: &str| std::fs::read_to_string(traces.join(f)).unwrap();
    let alb = std::fs::read_dir(traces.join("alb"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let mut gz = flate2::read::MultiGzDecoder::new(std::fs::File::open(alb).unwrap());
    let mut alb_text = String::new();
    gz.read_to_string(&mut alb_text).unwrap();
    let json = read("lambda_report/search.json");
    // The JSON's first three events, closed as the file closes its list.
    let events: String = json
        .splitn(5, "        },")
        .take(3)
        .collect::<Vec<_>>()
        .join("        },");
    vec![
        ("csv", "t.csv", head(&read("sample.csv"), 40)),
        ("azure2021", "t.csv", head(&read("azure2021.csv"), 40)),
        (
            "azure2019",
            "t.csv",
            head(&read("azure2019_invocations.d01.csv"), 6),
        ),
        ("alb", "t.log", head(&alb_text, 30)),
        (
            "lambda_report",
            "t.log",
            head(&read("lambda_report/checkout.log"), 40),
        ),
        (
            "lambda_report",
            "t.json",
            format!("{events}        }}\n    ]\n}}\n"),
        ),
        (
            "lambda_report",
            "t.csv",
            head(&read("lambda_report/insights.csv"), 30),
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// The fuzz target of each trace reader (issue 21): a bundled sample,
    /// mangled (bytes cut out, junk put in, a line repeated or moved), is
    /// either refused with an error naming the file or scanned, validated
    /// and replayed on Lambda to the end with every request accounted for.
    /// The long campaign (examples/fuzz_campaign.rs) does the same through
    /// the binary under memory and time limits.
    #[test]
    fn every_trace_reader_refuses_or_replays_a_mangled_recording(
        which in 0usize..7,
        cut in (0usize..4000, 0usize..40),
        junk in proptest::string::string_regex("[ -~\t\n]{0,24}|-?[0-9]{1,25}(\\.[0-9]{0,12})?(e[+-]?[0-9]{1,3})?|NaN|-inf|\\}|\"").unwrap(),
        repeat in 0usize..60,
        skip_bad_rows in proptest::bool::ANY,
    ) {
        let (format, name, seed_text) = trace_seeds().swap_remove(which);
        let at = cut.0.min(seed_text.len());
        let at = (0..=at).rev().find(|&i| seed_text.is_char_boundary(i)).unwrap();
        let end = (at + cut.1).min(seed_text.len());
        let end = (end..=seed_text.len()).find(|&i| seed_text.is_char_boundary(i)).unwrap();
        let mut text = format!("{}{junk}{}", &seed_text[..at], &seed_text[end..]);
        let lines: Vec<&str> = text.lines().collect();
        if let Some(line) = lines.get(repeat % lines.len().max(1)).map(|l| l.to_string()) {
            text.push_str(&line);
            text.push('\n');
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), &text).unwrap();
        let src = format!(
            "seed = 1\n[workload]\narrival = {{ kind = \"trace\", format = \"{format}\", path = \"{name}\", skip_bad_rows = {skip_bad_rows} }}\nwork = {{ kind = \"constant\", ms = 20 }}\n[[platforms]]\nkind = \"lambda\"\n"
        );
        let file = dir.path().join("s.toml");
        std::fs::write(&file, &src).unwrap();
        match scenario::load(&file, Overrides::default()) {
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains(name) || msg.contains("s.toml"), "{}", msg);
            }
            Ok(s) => {
                let runs = run_scenario(&s, &dir.path().join("out"), false)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let trace = s.workload.trace.as_ref().unwrap();
                for r in &runs {
                    prop_assert_eq!(r.counts.requests, r.counts.accounted());
                    // A row is a request but in Azure 2019 (a function's
                    // counts per minute).
                    prop_assert!(format == "azure2019" || r.counts.requests <= trace.rows);
                }
            }
        }
    }
}

/// A run of 4e7 requests: seconds, long enough to act on while it runs.
const LONG_RUN: &str = "seed = 1\nduration_s = 200000\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 200 }\n[[platforms]]\nkind = \"lambda\"\n";

/// Waits (at most a minute) until a run has made `path`: it is under way.
fn wait_for(path: &Path) {
    let started = std::time::Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the run never started writing {}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

const SMALL: &str = "seed = 1\nduration_s = 30\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 5 }\n[[platforms]]\nkind = \"lambda\"\n";

#[test]
fn names_cannot_escape_the_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (name, folder) in [
        ("../../x", "_._.._x"),
        ("/abs/path", "_abs_path"),
        ("..", "_."),
    ] {
        let file = dir.path().join("n.toml");
        std::fs::write(&file, format!("name = \"{name}\"\n{SMALL}")).unwrap();
        surgesim()
            .args(["run", "-q", "-o"])
            .arg(&out)
            .arg(&file)
            .assert()
            .success();
        assert!(out.join(folder).join("summary.csv").is_file(), "{name}");
    }
    // Nothing was written outside `out`.
    let mut entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, vec!["n.toml", "out"]);
    // Control characters are refused.
    let file = dir.path().join("n.toml");
    std::fs::write(&file, format!("name = \"a\\u0007b\"\n{SMALL}")).unwrap();
    surgesim()
        .args(["run", "-q", "-o"])
        .arg(&out)
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("control characters"));
}

#[test]
fn an_unusable_output_folder_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, SMALL).unwrap();
    surgesim()
        .args(["run", "-q", "-o"])
        .arg(not_a_dir.join("sub"))
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot create folder"));
}

#[test]
fn a_failing_writer_is_reported_not_swallowed() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let s = scenario::parse(SMALL, Path::new("s.toml"), Overrides::default()).unwrap();
    let log = surgesim::metrics::RequestLog::new(
        Box::new(Full),
        "lambda",
        vec!["default".to_string()].into(),
    );
    let mut r = surgesim::experiment::run_platform(&s, &s.platforms[0], 0, Some(log));
    let err = r
        .rec
        .take_log()
        .unwrap()
        .into_inner()
        .err()
        .expect("the write error surfaces");
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
}

#[test]
fn huge_scenarios_are_refused_up_front_saying_how_big() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.toml");
    std::fs::write(
        &file,
        "seed = 1\nduration_s = 100000000\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1000 }\n[[platforms]]\nkind = \"lambda\"\n",
    )
    .unwrap();
    surgesim()
        .args(["run", "-q", "-o"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .assert()
        .code(2)
        .stderr(
            predicates::str::contains("about 1.000e11 requests")
                .and(predicates::str::contains("--max-requests")),
        );
    assert!(!dir.path().join("out").exists());
    // requests.csv has its own limit, estimated from the real names (issue
    // 21: long function names wrote 5x the limit): 500,000 rows of about 85
    // bytes plus the function's name and `lambda`: 49 MB with `default`,
    // 121 MB with a 151-byte name.
    let long = SMALL.replace("duration_s = 30", "duration_s = 100000");
    let named = long.replace(
        "[workload]\n",
        &format!("[workload]\nname = \"{}\"\n", "f".repeat(151)),
    );
    for (text, mb) in [(long, 49), (named, 121)] {
        std::fs::write(&file, text).unwrap();
        surgesim()
            .args([
                "run",
                "-q",
                "--requests-csv",
                "--max-requests-csv-mb",
                "1",
                "-o",
            ])
            .arg(dir.path().join("out"))
            .arg(&file)
            .assert()
            .code(2)
            .stderr(predicates::str::contains(format!(
                "requests.csv would be about {mb} MB"
            )));
    }
    // The time series (issue 21: a trace whose last arrival is two years
    // out, found by the mutation campaign, aborted allocating 5.4 million
    // rows per platform under a 2 GB limit). It is streamed to disk now;
    // its size there, about 60 bytes of timeseries.csv and 32 of the stored
    // row per interval and platform, is refused up front with the interval
    // that would fit (three platforms: 1.5 GB).
    let size = surgesim::metrics::series::TYPICAL_ROW_BYTES + 60;
    let three = format!(
        "{}[[platforms]]\nname = \"second\"\nkind = \"lambda\"\n[[platforms]]\nname = \"third\"\nkind = \"lambda\"\n",
        SMALL.replace("duration_s = 30", "duration_s = 54101280")
    );
    std::fs::write(&file, three).unwrap();
    let mb = (5_410_128.0 * 3.0 * size as f64 / 1e6).round();
    surgesim()
        .args(["run", "-q", "-o"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .assert()
        .code(2)
        .stderr(
            predicates::str::contains(format!(
                "5410128 rows x 3 platform(s), about {mb} MB on disk (timeseries.csv and the \
                 stored rows it is written from), more than --max-series-mb 1024"
            ))
            .and(predicates::str::contains("timeseries_interval_s (at least")),
        );
    assert!(!dir.path().join("out").exists());
}

/// Issue 21: a 45 MB scenario took 1.7 GB to parse; a sweep multiplies a
/// large scenario by its points. Both are refused before the parsing work
/// grows, with the size and the limit.
#[test]
fn scenario_text_too_big_to_parse_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.toml");
    let limit = scenario::MAX_SCENARIO_BYTES as usize;
    let mut text = SMALL.to_string();
    text.push_str(&"# padding\n".repeat(limit / 10 + 1));
    std::fs::write(&file, &text).unwrap();
    surgesim()
        .arg("validate")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!(
            "big.toml: {} bytes, more than the {limit} bytes a scenario file may have",
            text.len()
        )));
    // A device without end is refused after reading past the limit, not
    // read into memory for ever.
    #[cfg(unix)]
    surgesim()
        .args(["validate", "/dev/zero"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "/dev/zero: longer than the 8388608 bytes a scenario file may have",
        ));
    // 10,000 points of a 20 kB scenario: 200 MB of text to validate.
    let mut text = SMALL.to_string();
    text.push_str(&"# padding\n".repeat(2_000));
    text.push_str("[sweep]\nseed = [");
    text.push_str(
        &(0..10_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    text.push_str("]\n");
    std::fs::write(&file, &text).unwrap();
    surgesim()
        .arg("validate")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!(
            "field `sweep.seed`: 10000 points, each a copy of this {}-byte scenario to \
             validate, expand to {} MiB, more than the 128 MiB a sweep may",
            text.len(),
            (10_000 * text.len()).div_ceil(1 << 20)
        )));
}

/// Issue 21: 3.6 M throttled async events took 38 s where the synchronous
/// run took 0.09 s, and the guard counted requests only. The budget counts
/// each request's most attempts: on the async queue, retried after 1 s
/// doubling to 5 minutes until the maximum age (6 h: 10 tries to 511 s, then
/// 70 more every 300 s, 80 in all; 10 min: 10), plus for each of the two
/// retries of a failure the 10 tries before the backoff reaches its cap
/// (100 and 30 in all); synchronous with client retries, their max_attempts.
#[test]
fn the_event_budget_counts_retries_and_async_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.toml");
    for (platform, attempts) in [
        ("invocation = \"async\"", "1.000e8"),
        (
            "invocation = \"async\"\nasync = { max_event_age_s = 600 }",
            "3.000e7",
        ),
        ("retries = { max_attempts = 4 }", "4.000e6"),
        ("", "1.000e6"),
    ] {
        std::fs::write(
            &file,
            format!(
                "seed = 1\nduration_s = 1000\ntimeseries_interval_s = 10\n[workload]\n\
                 arrival = {{ kind = \"poisson\", rate_per_s = 1000 }}\n\
                 [[platforms]]\nkind = \"lambda\"\n{platform}\n"
            ),
        )
        .unwrap();
        surgesim()
            .args(["run", "-q", "--max-events", "100000", "-o"])
            .arg(dir.path().join("out"))
            .arg(&file)
            .assert()
            .code(2)
            .stderr(
                predicates::str::contains(format!("({attempts} request attempts"))
                    .and(predicates::str::contains("1.000e2 time-series samples"))
                    .and(predicates::str::contains("more than --max-events 100000")),
            );
    }
    // A run without requests still samples every function each interval
    // (issue 21: a zero-request run cost functions x intervals): 3
    // functions x 100,000 one-second intervals.
    let mut quiet =
        String::from("seed = 1\nduration_s = 100000\ntimeseries_interval_s = 1\n[workload]\n");
    for f in ["a", "b", "c"] {
        quiet.push_str(&format!(
            "[[workload.functions]]\nname = \"{f}\"\narrival = {{ kind = \"poisson\", rate_per_s = 0 }}\nwork = {{ kind = \"constant\", ms = 1 }}\n"
        ));
    }
    quiet.push_str("[[platforms]]\nkind = \"lambda\"\n");
    std::fs::write(&file, quiet).unwrap();
    surgesim()
        .args(["run", "-q", "--max-events", "100000", "-o"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .assert()
        .code(2)
        .stderr(
            predicates::str::contains("(0.000e0 request attempts")
                .and(predicates::str::contains("3.000e5 time-series samples")),
        );
    assert!(!dir.path().join("out").exists());
}

/// The output's file system is asked for its free space before a large
/// run: 1e12 requests' requests.csv (about 100 TB, twice while joined) fits
/// on no test machine, and is refused before simulating.
#[cfg(unix)]
#[test]
fn a_run_larger_than_the_free_space_is_refused_before_simulating() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.toml");
    std::fs::write(
        &file,
        "seed = 1\nduration_s = 10000\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1e8 }\n[[platforms]]\nkind = \"lambda\"\n",
    )
    .unwrap();
    surgesim()
        .args([
            "run",
            "-q",
            "--requests-csv",
            "--max-requests",
            "1000000000000000",
            "--max-events",
            "1000000000000000",
            "--max-requests-csv-mb",
            "1000000000000",
            "-o",
        ])
        .arg(dir.path().join("not/yet/made"))
        .arg(&file)
        .assert()
        .code(2)
        .stderr(
            predicates::str::contains("the run would write about")
                .and(predicates::str::contains("MB free; free some space")),
        );
    assert!(!dir.path().join("not").exists());
}

/// Issue 21: 1e5 one-request runs aborted at 12 GB; they take 110 MB now
/// (`/usr/bin/time`, README), and their report.html was 70 MB of table. The
/// report's full tables show their first 2,000 rows and say where the rest
/// are; summary.csv has every run.
#[test]
fn the_report_of_thousands_of_runs_shows_the_first_rows_and_says_where_the_rest_are() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.toml");
    std::fs::write(
        &file,
        "name = \"many\"\nseed = 1\nduration_s = 1\nreplications = 2100\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\n",
    )
    .unwrap();
    surgesim()
        .args(["run", "-q", "-o"])
        .arg(dir.path())
        .arg(&file)
        .assert()
        .success();
    let folder = dir.path().join("many");
    let summary = std::fs::read_to_string(folder.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 2_101);
    let page = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert!(page.contains("The first 2,000 of 2,100 rows; every row is in summary.csv."));
    assert!(page.len() < 3_000_000, "{} bytes", page.len());
}

#[test]
fn extreme_numbers_are_rejected_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (body, needle) in [
        (
            "duration_s = 1e300\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }",
            "duration_s",
        ),
        (
            "[workload]\narrival = { kind = \"poisson\", rate_per_s = 1e12 }",
            "rate_per_s",
        ),
        (
            "[workload]\narrival = { kind = \"poisson\", rate_per_s = nan }",
            "rate_per_s",
        ),
        (
            "[workload]\narrival = { kind = \"poisson\", rate_per_s = inf }",
            "rate_per_s",
        ),
        (
            "[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\nwork = { kind = \"constant\", s = 1e15 }",
            "work.s",
        ),
        (
            "[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\nwork = { kind = \"exponential\", mean_ms = -inf }",
            "mean_ms",
        ),
        (
            "warmup_s = nan\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }",
            "warmup_s",
        ),
        (
            "timeseries_interval_s = 1e-9\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }",
            "timeseries_interval_s",
        ),
    ] {
        let file = dir.path().join("x.toml");
        std::fs::write(
            &file,
            format!("seed = 1\n{body}\n[[platforms]]\nkind = \"lambda\"\n"),
        )
        .unwrap();
        let out = surgesim().args(["validate"]).arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{body}: {stderr}");
        assert!(stderr.contains(needle), "{body}: {stderr}");
    }
}

#[cfg(unix)]
#[test]
fn an_interrupted_run_leaves_no_output_that_looks_complete() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.toml");
    std::fs::write(&file, format!("name = \"long\"\n{LONG_RUN}")).unwrap();
    let out = dir.path().join("out");
    let mut child = spawn_run(&["--requests-csv"], &out, &file);
    // Interrupt once the run is under way (its output folder exists), so the
    // test cannot pass by stopping a run that had not started writing.
    wait_for(&out.join("long"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(interrupt(&mut child), Some(130));
    // No output file, complete-looking or not, and no temporaries left.
    let left: Vec<String> = std::fs::read_dir(out.join("long"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // Nor the folder it made (issue 21: an interrupted run left an empty
    // DIR/<name>/), nor its staging folder beside it.
    assert!(!out.join("long").exists(), "the empty folder is left");
    // A staging folder past 64 MB goes by a helper process just after the
    // exit; one that small, before it.
    wait_until_listing(&out, &[]);
}

/// `surgesim run -q <extra> -o <out> <file>`, started and left running.
fn spawn_run(extra: &[&str], out: &Path, file: &Path) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("surgesim"))
        .args(["run", "-q"])
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(file)
        .spawn()
        .unwrap()
}

/// Sends SIGINT to `child`; its exit code.
#[cfg(unix)]
fn interrupt(child: &mut std::process::Child) -> Option<i32> {
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap().code()
}

/// The names in `dir`, sorted.
#[cfg(unix)]
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits (at most a minute) until `dir` holds exactly `names`: a large
/// staging folder is removed by a helper process after the run has exited.
#[cfg(unix)]
fn wait_until_listing(dir: &Path, names: &[&str]) {
    let started = std::time::Instant::now();
    loop {
        let left = listing(dir);
        if left == names {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "left in {}: {left:?}",
            dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn a_run_interrupted_while_writing_a_large_requests_csv_keeps_the_earlier_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let small = dir.path().join("small.toml");
    std::fs::write(&small, format!("name = \"big\"\n{SMALL}")).unwrap();
    surgesim()
        .args(["run", "-q", "--no-charts", "-o"])
        .arg(&out)
        .arg(&small)
        .assert()
        .success();
    let before = contents(&out.join("big"));
    let long = dir.path().join("long.toml");
    std::fs::write(&long, format!("name = \"big\"\n{LONG_RUN}")).unwrap();
    let mut child = spawn_run(&["--requests-csv"], &out, &long);
    // Interrupt once the staging folder holds over 100 MB of requests, past
    // the size handed to the helper process.
    let started = std::time::Instant::now();
    let staged = || -> u64 {
        std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".surgesim-"))
            .filter_map(|e| std::fs::metadata(e.path().join("requests.csv")).ok())
            .map(|m| m.len())
            .sum()
    };
    while staged() < 100 << 20 {
        assert!(started.elapsed() < std::time::Duration::from_secs(120));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(interrupt(&mut child), Some(130));
    // The staging folder goes, by the helper, moments after the exit; the
    // earlier set stays, exactly as it was.
    wait_until_listing(&out, &["big"]);
    assert_eq!(
        contents(&out.join("big")),
        before,
        "the earlier set changed"
    );
}

/// The files of `dir` and their bytes, by name.
#[cfg(unix)]
fn contents(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn the_staging_remover_removes_only_staging_folders() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join(".surgesim-x-abc123");
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join("requests.csv"), "a,b\n").unwrap();
    surgesim()
        .arg("__remove-staging")
        .arg(&staging)
        .assert()
        .success();
    assert!(!staging.exists());
    // A folder of another name, a link named like a staging folder, a
    // file: refused, exit 2, left alone.
    let mine = dir.path().join("results");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("keep.txt"), "x").unwrap();
    let link = dir.path().join(".surgesim-y-abc123");
    std::os::unix::fs::symlink(&mine, &link).unwrap();
    let file = dir.path().join(".surgesim-z.tmp");
    std::fs::write(&file, "x").unwrap();
    // The link with a trailing `/` or `/.` names the folder it points to.
    let slash = std::path::PathBuf::from(format!("{}/", link.display()));
    let dot = link.join(".");
    for target in [&mine, &link, &file, &slash, &dot] {
        let out = surgesim()
            .arg("__remove-staging")
            .arg(target)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", target.display());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a staging folder"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(mine.join("keep.txt").exists() && link.exists() && file.exists());
}

#[test]
fn work_at_the_documented_cap_on_a_slow_pod_cannot_stall_the_clock() {
    // 60 requests of 1e9 s of work on a pod of 0.1 CPU with 64 slots: the
    // completion time lies past the end of the u64 clock. It used to wrap
    // to "now" and reschedule itself for ever; it must saturate, and the
    // run end at its horizon with every request in flight. Run on a thread
    // with a deadline, so that a regression fails instead of hanging.
    let src = r#"
        seed = 1
        duration_s = 60
        [workload]
        arrival = { kind = "constant", rate_per_s = 1 }
        work = { kind = "constant", s = 1e9 }
        [[platforms]]
        name = "pod"
        kind = "kubernetes"
        pod = { cpu = 0.1, memory_mb = 256, concurrency = 64, queue_capacity = 10 }
        scaling = { kind = "fixed", replicas = 1 }
        nodes = { instance = "m5.large", initial = 1, autoscaler = "none" }
        [[platforms]]
        name = "task"
        kind = "ecs_fargate"
        task = { vcpu = 0.25, memory_gb = 0.5, concurrency = 64 }
        [[platforms]]
        name = "kn"
        kind = "knative"
        instance = { vcpu = 0.1, memory_gb = 0.25 }
        container_concurrency = 64
        pricing = { vcpu_s = 0.00001, gib_s = 0.000001 }
    "#;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let s = scenario::parse(src, Path::new("s.toml"), Overrides::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let runs = run_scenario(&s, dir.path(), false).unwrap();
        tx.send(runs).ok();
    });
    let runs = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the run ends");
    for r in &runs {
        assert_eq!(r.counts.requests, 60, "{}", r.platform);
        assert_eq!(r.counts.in_flight_end, 60, "{}", r.platform);
    }
}

#[test]
fn requests_csv_tells_the_runs_of_a_sweep_apart() {
    // Issue 21: requests.csv had no point or replication column.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(
        &file,
        format!("{SMALL}[sweep]\n\"workload.arrival.rate_per_s\" = [2, 4]\n")
            .replace("seed = 1\n", "seed = 1\nreplications = 2\n"),
    )
    .unwrap();
    surgesim()
        .args(["run", "-q", "--no-charts", "--requests-csv", "-o"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .assert()
        .success();
    let name = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(name.join("requests.csv")).unwrap();
    let units: std::collections::BTreeSet<(String, String)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[8].to_string(), f[9].to_string())
        })
        .collect();
    let expected: std::collections::BTreeSet<(String, String)> =
        [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
            .iter()
            .map(|(p, r)| (p.to_string(), r.to_string()))
            .collect();
    assert_eq!(units, expected);
}

/// Issue 21: after a disk-full error the folder held 2 of 5 charts and a
/// summary.csv of the new run beside the old run's timeseries.csv. A write
/// that fails part-way (here a file-size limit, as `ulimit -f` sets: the
/// same writes fail with EFBIG as with a full disk's ENOSPC) leaves the
/// previous set exactly as it was and nothing beside it. The limits make
/// the failure come at three stages: streaming a run's time series (about
/// 10 kB a platform), timeseries.csv (60 kB), report.html (173 kB).
#[cfg(unix)]
#[test]
fn a_run_that_cannot_finish_writing_leaves_the_previous_set_intact() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/default.toml");
    surgesim()
        .args(["run", "-q", "-o"])
        .arg(&out)
        .arg(&scenario)
        .assert()
        .success();
    let folder = out.join("default");
    let before = contents(&folder);
    assert!(before.contains_key("report.html") && before.contains_key("timeseries.csv"));
    let bin = assert_cmd::cargo::cargo_bin("surgesim");
    // Blocks of 512 bytes, as POSIX `ulimit -f` counts them.
    for (blocks, failed) in [
        (8, "cannot write the time series to a file in"),
        (110, "timeseries.csv: cannot write"),
        (250, "report.html: cannot write"),
    ] {
        let run = std::process::Command::new("sh")
            .args(["-c", "trap '' XFSZ; ulimit -f \"$1\"; shift; exec \"$@\""])
            .arg("sh")
            .arg(blocks.to_string())
            .arg(&bin)
            .args(["run", "-q", "--seed", "7", "-o"])
            .arg(&out)
            .arg(&scenario)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(failed), "limit {blocks}: {stderr}");
        assert!(stderr.contains("File too large"), "{stderr}");
        assert_eq!(
            contents(&folder),
            before,
            "limit {blocks}: the folder changed"
        );
        // Nor is the failed run's staging folder left beside it.
        assert_eq!(listing(&out), ["default"], "limit {blocks}");
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_at_the_scenario_folder_is_refused_not_followed() {
    // Issue 21: a symlink at DIR/<name> pointing outside -o was followed.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("s")).unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, format!("name = \"s\"\n{SMALL}")).unwrap();
    surgesim()
        .args(["run", "-q", "-o"])
        .arg(&out)
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("symbolic link"));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn the_name_limit_says_bytes_as_it_counts_them() {
    // Issue 21: the limit counted bytes but said characters. 70 "é" are 70
    // characters but 140 bytes: accepted; 101 are 202 bytes: refused, saying so.
    let ok = format!("name = \"{}\"\n{SMALL}", "é".repeat(70));
    assert!(scenario::parse(&ok, Path::new("n.toml"), Overrides::default()).is_ok());
    let long = format!("name = \"{}\"\n{SMALL}", "é".repeat(101));
    let e = scenario::parse(&long, Path::new("n.toml"), Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("200 bytes") && e.contains("202 bytes"), "{e}");
}

#[test]
fn two_runs_into_one_folder_cannot_mix() {
    // Issue 21: two concurrent runs into one -o mixed their files in 2 of
    // 40 trials, both exiting 0. The second now finds the folder locked.
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.toml");
    std::fs::write(&long, format!("name = \"same\"\n{LONG_RUN}")).unwrap();
    let short = dir.path().join("short.toml");
    std::fs::write(&short, format!("name = \"same\"\n{SMALL}")).unwrap();
    let out = dir.path().join("out");
    let mut first = spawn_run(&["--no-charts"], &out, &long);
    wait_for(&out.join("same"));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let second = surgesim()
        .args(["run", "-q", "-o"])
        .arg(&out)
        .arg(&short)
        .output()
        .unwrap();
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.status.code(), Some(2));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("another surgesim run is writing this folder"),
        "{err}"
    );
    // Once the first is gone, the folder is free again.
    assert!(
        surgesim()
            .args(["run", "-q", "-o"])
            .arg(&out)
            .arg(&short)
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(out.join("same/summary.csv").is_file());
}

#[cfg(unix)]
#[allow(dead_code)]
#[path = "../../examples/fuzz_campaign.rs"]
mod fuzz_campaign;

#[cfg(unix)]
#[test]
fn a_mutation_campaign_smoke_run_finds_no_crash_hang_or_memory_failure() {
    // The long campaign is `cargo run --release --example fuzz_campaign`
    // (README, 'What surgesim rejects'); here a bounded smoke run of it
    // against the test build, under the same memory limit and timeout.
    let keep = tempfile::tempdir().unwrap();
    let found = fuzz_campaign::campaign(&fuzz_campaign::Config {
        scenarios: 40,
        traces: 80,
        seed: 7,
        jobs: 2,
        timeout: 60,
        memory_kb: 2_000_000,
        bin: assert_cmd::cargo::cargo_bin("surgesim"),
        root: Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf(),
        keep: keep.path().to_path_buf(),
        verbose: false,
    });
    assert_eq!(
        (found.crashes, found.hangs, found.memory),
        (0, 0, 0),
        "{:?}",
        found.failures
    );
    // The mutations reach the models, not only the parser.
    assert!(found.ran > 10 && found.refused > 10, "{found:?}");
}
