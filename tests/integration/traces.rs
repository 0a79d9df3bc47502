//! Trace replay: exact arrivals, scaling and windows, Azure layouts, bad rows.

use std::fmt::Write as _;
use std::path::Path;

use assert_cmd::Command;
use surgesim::scenario::{self, Overrides, Scenario};
use surgesim::time::SimTime;

use crate::common::{Simulated, parse_rows, stream_of, with_trace};

fn scenario_in(dir: &Path, arrival: &str, platforms: &str) -> String {
    let src = format!(
        "name = \"t\"\nseed = 1\n[workload]\narrival = {arrival}\nwork = {{ kind = \"constant\", ms = 10 }}\n{platforms}"
    );
    let file = dir.join("t.toml");
    std::fs::write(&file, &src).unwrap();
    file.to_string_lossy().into_owned()
}

const LAMBDA: &str = "[[platforms]]\nname = \"lambda\"\nkind = \"lambda\"\nmemory_mb = 1769\n";

/// `surgesim validate FILE`'s output.
fn validate(file: &str) -> std::process::Output {
    Command::cargo_bin("surgesim")
        .unwrap()
        .args(["validate", file])
        .output()
        .unwrap()
}

fn load(file: &str) -> Scenario {
    scenario::load(Path::new(file), Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn arrivals(s: &Scenario) -> Vec<(SimTime, u32)> {
    s.workload
        .requests(s.seed, 0, s.horizon)
        .map(|r| (r.arrival, r.function))
        .collect()
}

fn secs(v: &[(SimTime, u32)]) -> Vec<u64> {
    v.iter().map(|a| a.0.as_nanos()).collect()
}

/// A CSV trace with `n` rows, every 7th pair swapped (unsorted), two functions.
fn csv_trace(dir: &Path, n: usize) -> Vec<(u64, &'static str)> {
    let mut rows: Vec<(u64, &str)> = (0..n)
        .map(|i| {
            (
                (i as u64) * 137_000_000 + (i as u64 % 13) * 1_000,
                if i % 3 == 0 { "a" } else { "b" },
            )
        })
        .collect();
    let mut text = String::from("function,timestamp_s,duration_ms,note\n");
    let mut order: Vec<usize> = (0..n).collect();
    for i in (0..n.saturating_sub(1)).step_by(7) {
        order.swap(i, i + 1);
    }
    for &i in &order {
        let (t, f) = rows[i];
        let _ = writeln!(
            text,
            "{f},{}.{:09},{},x",
            t / 1_000_000_000,
            t % 1_000_000_000,
            5 + i % 50
        );
    }
    std::fs::write(dir.join("trace.csv"), text).unwrap();
    rows.sort();
    rows
}

#[test]
fn every_arrival_replays_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rows = csv_trace(dir.path(), 3000);
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = \"trace.csv\" }",
        LAMBDA,
    );
    let s = load(&file);
    assert_eq!(s.workload.functions.len(), 2);
    let got = arrivals(&s);
    let want: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(
        secs(&got),
        want,
        "arrival times, sorted, none lost or duplicated"
    );
    // Work comes from duration_ms; the horizon defaults to the last arrival + 900 s.
    let first = s.workload.requests(1, 0, s.horizon).next().unwrap();
    assert_eq!(first.work.as_nanos(), 5_000_000);
    assert_eq!(s.horizon.as_nanos(), want.last().unwrap() + 900_000_000_000);
    // And through the binary into requests.csv.
    let out = Command::cargo_bin("surgesim")
        .unwrap()
        .args(["run", "--requests-csv", "-o"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ignoring column(s) note"));
    let text = std::fs::read_to_string(dir.path().join("out/t/requests.csv")).unwrap();
    let mut logged: Vec<u64> = parse_rows(&text)
        .iter()
        .map(|r| (r.arrival_s * 1e9).round() as u64)
        .collect();
    logged.sort();
    assert_eq!(logged, want);
}

#[test]
fn time_scale_and_windows() {
    let dir = tempfile::tempdir().unwrap();
    let rows = csv_trace(dir.path(), 1000);
    let base = |extra: &str| {
        load(&scenario_in(
            dir.path(),
            &format!("{{ kind = \"trace\", format = \"csv\", path = \"trace.csv\"{extra} }}"),
            LAMBDA,
        ))
    };
    // Twice as fast: every time halved (to the nanosecond).
    let fast = arrivals(&base(", time_scale = 2"));
    let want: Vec<u64> = rows
        .iter()
        .map(|r| (r.0 as f64 / 2.0 / 1e9 * 1e9).round() as u64)
        .collect();
    for (g, w) in secs(&fast).iter().zip(&want) {
        assert!(g.abs_diff(*w) <= 1, "{g} vs {w}");
    }
    // A window keeps exactly the rows in [start_s, end_s), not rebased.
    let win = arrivals(&base(", start_s = 20, end_s = 50"));
    let want: Vec<u64> = rows
        .iter()
        .map(|r| r.0)
        .filter(|&t| (20_000_000_000..50_000_000_000).contains(&t))
        .collect();
    assert_eq!(secs(&win), want);
    // One function only.
    let only_a = base(", functions = [\"a\"]");
    assert_eq!(only_a.workload.functions.len(), 1);
    assert_eq!(
        arrivals(&only_a).len(),
        rows.iter().filter(|r| r.1 == "a").count()
    );
    // top_n = 1 keeps the busier function (b has two thirds of the rows).
    let top = base(", top_n = 1");
    assert_eq!(top.workload.functions[0].name, "b");
    // rate_scale 3 replays every arrival three times; 0.5 about half of them.
    assert_eq!(arrivals(&base(", rate_scale = 3")).len(), 3000);
    let half = arrivals(&base(", rate_scale = 0.5")).len();
    assert!((430..=570).contains(&half), "{half}");
}

#[test]
fn a_trace_window_runs_to_its_end_plus_the_longest_timeout_and_is_measured_over_itself() {
    // SPEC 2: a window with no duration_s runs over [start_s, end_s + D),
    // D the largest Lambda timeout_s or 900 s, and summary.csv measures
    // [max(warmup_s, start_s), end_s).
    let dir = tempfile::tempdir().unwrap();
    csv_trace(dir.path(), 1000); // 137 s of rows
    let with = |extra: &str, platforms: &str| {
        load(&scenario_in(
            dir.path(),
            &format!("{{ kind = \"trace\", format = \"csv\", path = \"trace.csv\"{extra} }}"),
            platforms,
        ))
    };
    let two_timeouts = format!(
        "{LAMBDA}timeout_s = 30\n[[platforms]]\nname = \"l2\"\nkind = \"lambda\"\ntimeout_s = 45\n"
    );
    let s = with(", start_s = 20, end_s = 50", &two_timeouts);
    assert_eq!(s.horizon, SimTime::from_secs_f64(50.0 + 45.0));
    assert_eq!(
        s.window,
        (SimTime::from_secs_f64(20.0), SimTime::from_secs_f64(50.0))
    );
    assert_eq!(s.outline().chart_start, SimTime::from_secs_f64(20.0));
    // No Lambda platform: 900 s after the window.
    let eks = "[[platforms]]\nname = \"eks\"\nkind = \"kubernetes\"\n";
    let s = with(", start_s = 20, end_s = 50", eks);
    assert_eq!(s.horizon, SimTime::from_secs_f64(950.0));
    // Beside a short Lambda timeout, a platform without an execution limit
    // still gets 900 s to drain its queues.
    let s = with(
        ", start_s = 20, end_s = 50",
        &format!("{two_timeouts}{eks}"),
    );
    assert_eq!(s.horizon, SimTime::from_secs_f64(950.0));
    // Time scale: the window is on trace time, the drain time is not scaled.
    let s = with(", start_s = 20, end_s = 50, time_scale = 2", &two_timeouts);
    assert_eq!(s.horizon, SimTime::from_secs_f64(25.0 + 45.0));
    assert_eq!(
        s.window,
        (SimTime::from_secs_f64(10.0), SimTime::from_secs_f64(25.0))
    );
    // A warm-up past start_s starts the window; one past end_s leaves none.
    let src = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = \"trace.csv\", start_s = 20, end_s = 50 }",
        LAMBDA,
    );
    let text = std::fs::read_to_string(&src).unwrap();
    std::fs::write(
        &src,
        text.replacen("seed = 1\n", "seed = 1\nwarmup_s = 30\n", 1),
    )
    .unwrap();
    assert_eq!(load(&src).window.0, SimTime::from_secs_f64(30.0));
    std::fs::write(
        &src,
        std::fs::read_to_string(&src)
            .unwrap()
            .replacen("warmup_s = 30", "warmup_s = 60", 1),
    )
    .unwrap();
    let err = scenario::load(Path::new(&src), Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("warmup_s") && err.contains("is empty"),
        "{err}"
    );
    // The run: every kept row counted, time averages over the 30 s window
    // (an environment alive the whole window averages 1, not 30/2000).
    let s = with(", start_s = 20, end_s = 50", LAMBDA);
    let sim = Simulated::of(&s, false);
    let run = &sim.runs[0];
    let kept = (0..1000u64)
        .map(|i| i * 137_000_000 + (i % 13) * 1_000)
        .filter(|t| (20_000_000_000..50_000_000_000).contains(t))
        .count() as u64;
    assert_eq!(run.counts.requests, kept);
    // 10 ms of work every 137 ms: one environment, alive from the first
    // row on; its time average over [20, 50) is close to 1.
    assert!(run.instances.mean > 0.95, "{}", run.instances.mean);
    // Without the window's end (end_s absent), the run is measured to its horizon.
    let s = with(", start_s = 20", LAMBDA);
    assert_eq!(s.window.1, s.horizon);
}

/// An Azure 2019 day: 3 functions with known per-minute counts, durations and memory.
fn azure2019(dir: &Path) -> Vec<[u32; 1440]> {
    let mut counts = vec![[0u32; 1440]; 3];
    for (f, c) in counts.iter_mut().enumerate() {
        for (m, x) in c.iter_mut().enumerate() {
            *x = ((m * (f + 1) * 7) % 11) as u32 * (f as u32 + 1);
        }
    }
    let mut inv = String::from("HashOwner,HashApp,HashFunction,Trigger");
    for m in 1..=1440 {
        let _ = write!(inv, ",{m}");
    }
    inv.push('\n');
    for (f, c) in counts.iter().enumerate() {
        let _ = write!(inv, "o,app{},fn{f},http", f % 2);
        for x in c {
            let _ = write!(inv, ",{x}");
        }
        inv.push('\n');
    }
    std::fs::write(dir.join("inv.csv"), inv).unwrap();
    let mut dur = String::from(
        "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100\n",
    );
    dur.push_str("o,app0,fn0,100,1,10,1000,10,20,50,100,200,800,1000\n");
    std::fs::write(dir.join("dur.csv"), dur).unwrap();
    std::fs::write(
        dir.join("mem.csv"),
        "HashOwner,HashApp,SampleCount,AverageAllocatedMb\no,app0,10,200.5\no,app1,10,4000\n",
    )
    .unwrap();
    counts
}

#[test]
fn azure2019_reproduces_every_minute_count_and_the_durations() {
    let dir = tempfile::tempdir().unwrap();
    let counts = azure2019(dir.path());
    for spread in ["uniform", "random"] {
        let s = load(&scenario_in(
            dir.path(),
            &format!(
                "{{ kind = \"trace\", format = \"azure2019\", path = \"inv.csv\", durations_path = \"dur.csv\", memory_path = \"mem.csv\", spread = \"{spread}\" }}"
            ),
            LAMBDA,
        ));
        let mut got = vec![[0u32; 1440]; 3];
        for (t, f) in arrivals(&s) {
            got[f as usize][(t.as_nanos() / 60_000_000_000) as usize] += 1;
        }
        assert_eq!(got, counts, "{spread}: per-minute counts");
        // Memory per app, rounded up to Lambda's 1 MB steps.
        let mem: Vec<Option<u32>> = s.workload.functions.iter().map(|f| f.memory_mb).collect();
        assert_eq!(mem, vec![Some(201), Some(4000), Some(201)]);
    }
    // fn0's work follows its percentiles (ms): 10 / 20 / 50 / 100 / 200 / 800 / 1000.
    let s = load(&scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"azure2019\", path = \"inv.csv\", durations_path = \"dur.csv\" }",
        LAMBDA,
    ));
    let mut work: Vec<f64> = s
        .workload
        .requests(3, 0, s.horizon)
        .filter(|r| r.function == 0)
        .map(|r| r.work.as_millis_f64())
        .collect();
    work.sort_by(f64::total_cmp);
    let q = |p: f64| work[((work.len() - 1) as f64 * p) as usize];
    // ~7,000 samples: quantiles within a few percent of the interpolated CDF.
    assert!((q(0.25) - 50.0).abs() < 5.0, "{}", q(0.25));
    assert!((q(0.5) - 100.0).abs() < 8.0, "{}", q(0.5));
    assert!((q(0.75) - 200.0).abs() < 15.0, "{}", q(0.75));
    assert!(work[0] >= 10.0 && *work.last().unwrap() <= 1000.0);
    // Functions without durations use workload.work (constant 10 ms).
    assert!(
        s.workload
            .requests(3, 0, s.horizon)
            .filter(|r| r.function == 1)
            .all(|r| r.work.as_millis_f64() == 10.0)
    );
}

#[test]
fn azure2021_arrives_at_end_minus_duration() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.csv"),
        "app,func,end_timestamp,duration\nA,f,10.5,0.5\nA,g,11.0,3.0\nB,f,12.0,0.25\n",
    )
    .unwrap();
    let s = load(&scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"azure2021\", path = \"a.csv\" }",
        LAMBDA,
    ));
    let names: Vec<&str> = s
        .workload
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, vec!["A/f", "A/g", "B/f"]);
    let reqs: Vec<(u64, u32, u64)> = s
        .workload
        .requests(1, 0, s.horizon)
        .map(|r| (r.arrival.as_nanos(), r.function, r.work.as_nanos()))
        .collect();
    assert_eq!(
        reqs,
        vec![
            (8_000_000_000, 1, 3_000_000_000),
            (10_000_000_000, 0, 500_000_000),
            (11_750_000_000, 2, 250_000_000)
        ]
    );
}

#[test]
fn functions_are_deployments_on_kubernetes_and_keep_their_memory_on_lambda() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.csv"),
        "timestamp_s,function,duration_ms,memory_mb\n0,small,100,512\n1,big,100,3538\n",
    )
    .unwrap();
    let k8s = "[[platforms]]\nname = \"eks\"\nkind = \"kubernetes\"\nscaling = { kind = \"fixed\", replicas = 2 }\nnodes = { instance = \"m5.xlarge\", initial = 1, autoscaler = \"none\" }\n";
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = \"m.csv\" }",
        &format!("{LAMBDA}init = {{ kind = \"constant\", ms = 0 }}\n{k8s}"),
    );
    let out = Command::cargo_bin("surgesim")
        .unwrap()
        .args(["run", "-q", "--requests-csv", "--per-function", "-o"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("out/t/requests.csv")).unwrap();
    let rows = parse_rows(&text);
    // Lambda, no INIT: the memory_mb column is the memory each duration was
    // recorded at and the function's Lambda memory, so both replay their
    // recorded 100 ms unchanged.
    let lat = |f: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(&format!(",{f},lambda,")))
            .unwrap();
        line.split(',').nth(5).unwrap().parse::<f64>().unwrap()
    };
    assert!((lat("small") - 100.0).abs() < 1e-6);
    assert!((lat("big") - 100.0).abs() < 1e-6);
    // On a pod the CPU part runs on a full core: recorded at 512 MB (a
    // 512/1769 vCPU share), 100 ms is 100 x 512 / 1769 = 28.9429 ms of CPU;
    // at 3,538 MB (capped at one vCPU per request) it stays 100 ms.
    let eks = |f: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(&format!(",{f},eks,")))
            .unwrap();
        line.split(',').nth(5).unwrap().parse::<f64>().unwrap()
    };
    assert!(
        (eks("small") - 100.0 * 512.0 / 1769.0).abs() < 1e-5,
        "{}",
        eks("small")
    );
    assert!((eks("big") - 100.0).abs() < 1e-5);
    assert_eq!(rows.iter().filter(|r| r.outcome == "completed").count(), 4);
    // Each function has its own deployment of 2 pods: 4 pods in all.
    let ts = std::fs::read_to_string(dir.path().join("out/t/timeseries.csv")).unwrap();
    let eks = ts.lines().find(|l| l.contains(",eks,")).unwrap();
    let f: Vec<&str> = eks.split(',').collect();
    assert_eq!(
        (f[11], f[12]),
        ("4", "4"),
        "pods_desired, pods_ready: {eks}"
    );
    // --per-function rows.
    let summary = std::fs::read_to_string(dir.path().join("out/t/summary.csv")).unwrap();
    for p in ["lambda/small", "lambda/big", "eks/small", "eks/big"] {
        assert!(
            summary.lines().any(|l| l.split(',').nth(1) == Some(p)),
            "{p}: {summary}"
        );
    }
}

#[test]
fn bad_traces_are_errors_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "truncated file",
            "csv",
            "timestamp_s,function,duration_ms\n1,a,5\n2,a",
            &["bad.csv:3:4:", "too few columns (it has 2);"],
        ),
        (
            "non-numeric field",
            "csv",
            "timestamp_s,function\n1,a\nabc,a\n",
            &["bad.csv:3", "timestamp_s", "not a number", "\"abc\""],
        ),
        (
            "negative duration",
            "csv",
            "timestamp_s,duration_ms\n1,5\n2,-3\n",
            &["bad.csv:3:3:", "duration_ms", "negative duration"],
        ),
        (
            // The csv crate's reader named line 2: where it stood before
            // the \n of the line above and the empty line were read.
            "a bad row after an empty line, \\r\\n line ends",
            "csv",
            "timestamp_s,duration_ms\r\n1,5\r\n\r\n2,-3\r\n",
            &["bad.csv:4:3:", "duration_ms", "negative duration"],
        ),
        (
            "a bad row after a byte-order mark and empty lines",
            "csv",
            "\u{feff}timestamp_s,duration_ms\n1,5\n\n\n2,-3\n",
            &["bad.csv:5:3:", "duration_ms", "negative duration"],
        ),
        (
            "missing column",
            "csv",
            "time,function\n1,a\n",
            &[
                "bad.csv:1",
                "missing column `timestamp_s` or `timestamp_ms`",
            ],
        ),
        (
            "header only",
            "csv",
            "timestamp_s,function\n",
            &["no invocations"],
        ),
        (
            "azure2021 missing column",
            "azure2021",
            "app,func,end,duration\nA,f,1,1\n",
            &["bad.csv:1", "end_timestamp"],
        ),
        (
            "a duration past the 1e9 s cap (issue 21: 1e300 ms was accepted)",
            "csv",
            "timestamp_s,duration_ms\n1,5\n2,1e300\n",
            &["bad.csv:3:3:", "duration_ms", "above 1e9 s", "\"1e300\""],
        ),
        (
            "a cpu_ms past the cap",
            "csv",
            "timestamp_s,cpu_ms\n1,1e13\n",
            &["bad.csv:2", "cpu_ms", "above 1e9 s"],
        ),
        (
            "an azure2021 duration past the cap",
            "azure2021",
            "app,func,end_timestamp,duration\nA,f,2e9,1.5e9\n",
            &["bad.csv:2:9:", "duration", "above 1e9 s"],
        ),
        (
            "a bad column names its column (issue 17: it said column 1)",
            "csv",
            "timestamp_s,function,duration_ms\n0.5,a,10\n1.0,a,abc\n",
            &["bad.csv:3:7:", "duration_ms", "\"abc\""],
        ),
        (
            "a line without end (issue 21: /dev/zero grew to 12 GB)",
            "csv",
            &format!("timestamp_s,duration_ms\n1,{}\n", "5".repeat(2 << 20)),
            &["bad.csv", "longer than 1048576 bytes"],
        ),
        (
            "azure2019 minute columns missing",
            "azure2019",
            "HashOwner,HashApp,HashFunction,Trigger,1,2,3\no,a,f,http,1,2,3\n",
            &["bad.csv:1", "missing column `4`"],
        ),
    ];
    for (what, format, text, needles) in cases {
        std::fs::write(dir.path().join("bad.csv"), text).unwrap();
        let file = scenario_in(
            dir.path(),
            &format!("{{ kind = \"trace\", format = \"{format}\", path = \"bad.csv\" }}"),
            LAMBDA,
        );
        let out = validate(&file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        for n in *needles {
            assert!(stderr.contains(n), "{what}: `{n}` not in {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{what}");
    }
    // A missing trace file names the scenario, its field and the resolved
    // path (issue 17: it named neither).
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = \"nope/trace.csv\" }",
        LAMBDA,
    );
    let out = validate(&file);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let resolved = dir.path().join("nope/trace.csv");
    for n in [
        "t.toml:",
        "workload.arrival.path",
        "no such file",
        &resolved.display().to_string(),
    ] {
        assert!(stderr.contains(n), "`{n}` not in {stderr}");
    }
    // A wrong format name is a scenario error.
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"parquet\", path = \"bad.csv\" }",
        LAMBDA,
    );
    let out = validate(&file);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown variant `parquet`"));
    // With skip_bad_rows the good rows replay and the bad ones are counted.
    std::fs::write(
        dir.path().join("bad.csv"),
        "timestamp_s,duration_ms\n1,5\n2,-3\nx,1\n4,5\n",
    )
    .unwrap();
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = \"bad.csv\", skip_bad_rows = true }",
        LAMBDA,
    );
    let s = load(&file);
    assert_eq!(s.workload.trace.as_ref().unwrap().skipped, 2);
    assert_eq!(arrivals(&s).len(), 2);
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("skipped 2 bad trace row(s)"))
    );
}

#[test]
fn rows_too_far_out_of_order_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("timestamp_s\n");
    for i in 0..(surgesim::workload::traces::REORDER_WINDOW + 10) {
        let _ = writeln!(text, "{}", 10 + i);
    }
    text.push_str("1\n");
    std::fs::write(dir.path().join("late.csv"), text).unwrap();
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = \"late.csv\" }",
        LAMBDA,
    );
    let err = scenario::load(Path::new(&file), Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("out of time order") && err.contains("sort the file"),
        "{err}"
    );
}

#[test]
fn review_regressions_for_traces() {
    let dir = tempfile::tempdir().unwrap();
    // A hash repeated in two apps: both rows' counts replay.
    let mut inv = String::from("HashOwner,HashApp,HashFunction,Trigger");
    for m in 1..=1440 {
        let _ = write!(inv, ",{m}");
    }
    inv.push('\n');
    for app in ["x", "y"] {
        let _ = write!(inv, "o,{app},same,http");
        for m in 0..1440 {
            let _ = write!(inv, ",{}", u32::from(m < 2));
        }
        inv.push('\n');
    }
    std::fs::write(dir.path().join("dup.csv"), inv).unwrap();
    let s = load(&scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"azure2019\", path = \"dup.csv\" }",
        LAMBDA,
    ));
    assert_eq!(arrivals(&s).len(), 4);
    // Files in sequence must be in order across the boundary too.
    std::fs::write(dir.path().join("one.csv"), "timestamp_s\n100\n").unwrap();
    let mut two = String::from("timestamp_s\n");
    for i in 0..(surgesim::workload::traces::REORDER_WINDOW + 5) {
        let _ = writeln!(two, "{}", 200 + i);
    }
    two.push_str("50\n");
    std::fs::write(dir.path().join("two.csv"), two).unwrap();
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = [\"one.csv\", \"two.csv\"] }",
        LAMBDA,
    );
    let err = scenario::load(Path::new(&file), Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("out of time order"), "{err}");
    // A trace's settings cannot be swept (it is scanned once per file).
    std::fs::write(dir.path().join("one.csv"), "timestamp_s\n1\n2\n").unwrap();
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = \"one.csv\" }",
        &format!("{LAMBDA}[sweep]\n\"workload.arrival.rate_scale\" = [1, 2]\n"),
    );
    let err = scenario::load(Path::new(&file), Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be swept"), "{err}");
}

/// Issue 13: the replay reads the trace with the scan's reader, so a trace
/// that changes between validation and the run fails the run with an error
/// naming the file, instead of losing requests silently.
#[test]
fn a_trace_changed_after_validation_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", path = \"trace.csv\", format = \"csv\" }",
        LAMBDA,
    );
    let rows = csv_trace(dir.path(), 2_000);
    let trace = dir.path().join("trace.csv");
    let text = std::fs::read_to_string(&trace).unwrap();
    let out = tempfile::tempdir().unwrap();
    // The replay checks each file's size and modification time against the
    // scan's (issue 21), before it reads a row.
    let same_size = {
        let i = text.rfind(",x\n").unwrap();
        let mut t = text.clone();
        t.replace_range(i + 1..i + 2, "y");
        t
    };
    let changes: [(&str, Option<String>); 4] = [
        // Truncated in place: half the rows.
        (
            "changed after it was validated (now",
            Some(
                text.lines()
                    .take(rows.len() / 2)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ),
        // A row no longer valid.
        (
            "changed after it was validated (now",
            Some(text.replacen(",x\n", ",x\nb,oops,5,x\n", 1)),
        ),
        // The same size, rewritten.
        ("and modified since", Some(same_size)),
        // Deleted.
        ("cannot read trace", None),
    ];
    for (needle, new) in changes {
        std::fs::write(&trace, &text).unwrap();
        let s = load(&file);
        match &new {
            Some(t) => {
                std::fs::write(&trace, t).unwrap();
                // Timestamps tick in milliseconds: move the modification
                // time on, so a same-size rewrite is told apart for sure.
                let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
                std::fs::File::options()
                    .write(true)
                    .open(&trace)
                    .unwrap()
                    .set_modified(later)
                    .unwrap();
            }
            None => std::fs::remove_file(&trace).unwrap(),
        }
        let e = surgesim::cli::run_scenario(&s, out.path(), false)
            .err()
            .unwrap_or_else(|| panic!("{needle}: the run succeeded"));
        let msg = e.to_string();
        assert!(msg.contains(needle), "{needle}: {msg}");
        assert!(msg.contains("trace.csv"), "{msg}");
        assert!(
            !out.path().join("t").join("summary.csv").exists(),
            "{needle}: a summary was written"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_trace_path_of_dev_zero_is_refused_not_read_without_end() {
    // Issue 21: /dev/zero as a trace grew to 12 GB during validation. The
    // line cap stops it after 1 MiB.
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = \"/dev/zero\" }",
        LAMBDA,
    );
    let out = Command::cargo_bin("surgesim")
        .unwrap()
        .args(["validate", &file])
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("longer than"),
        "{stderr}"
    );
}

#[test]
fn azure2019_percentiles_past_the_cap_are_row_errors() {
    // Issue 21: a 4294967296 (ms) or non-finite percentile under
    // skip_bad_rows replayed for ever; past 1e12 ms (1e9 s) is now an error
    // naming the column, and skipped and counted with skip_bad_rows.
    let dir = tempfile::tempdir().unwrap();
    let minutes: Vec<String> = (1..=1440).map(|m| m.to_string()).collect();
    let counts: Vec<&str> = (1..=1440).map(|m| if m == 1 { "2" } else { "0" }).collect();
    std::fs::write(
        dir.path().join("inv.csv"),
        format!(
            "HashOwner,HashApp,HashFunction,Trigger,{}\no,a,f,http,{}\n",
            minutes.join(","),
            counts.join(",")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dur.csv"),
        "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,\
         percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,\
         percentile_Average_99,percentile_Average_100\no,a,f,1,1,1,1,1,2,3,4,5,6,2e12\n",
    )
    .unwrap();
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"azure2019\", path = \"inv.csv\", durations_path = \"dur.csv\" }",
        LAMBDA,
    );
    let out = validate(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("dur.csv:2") && stderr.contains("percentile_Average_100"),
        "{stderr}"
    );
}

/// A trace the scan finds in time order is replayed without the reorder
/// buffer's window: the requests must be those a full window gives, with
/// equal timestamps kept in file order and `rate_scale`'s copies and
/// thinning drawn alike.
#[test]
fn a_trace_found_in_order_replays_as_a_full_reorder_buffer_would() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("timestamp_s,function,duration_ms\n");
    for i in 0..5_000u64 {
        // Runs of three equal times, across functions.
        let _ = writeln!(text, "{}.5,f{},{}", i / 3, i % 7, 1 + i % 40);
    }
    std::fs::write(dir.path().join("sorted.csv"), &text).unwrap();
    for rate_scale in ["1", "2.5", "0.4"] {
        let file = scenario_in(
            dir.path(),
            &format!(
                "{{ kind = \"trace\", format = \"csv\", path = \"sorted.csv\", rate_scale = {rate_scale} }}"
            ),
            LAMBDA,
        );
        let s = load(&file);
        let trace = s.workload.trace.as_ref().unwrap();
        assert!(trace.in_order, "a sorted file is in order");
        let full = with_trace(&s, |t| t.in_order = false);
        let (got, want) = (stream_of(&s), stream_of(&full));
        assert!(want.len() > 1_000, "{rate_scale}: {}", want.len());
        assert_eq!(got, want, "rate_scale {rate_scale}");
    }
    // Rows out of order, within a file or across two, are not in order.
    std::fs::write(dir.path().join("swapped.csv"), "timestamp_s\n1\n3\n2\n").unwrap();
    std::fs::write(dir.path().join("later.csv"), "timestamp_s\n5\n6\n").unwrap();
    std::fs::write(dir.path().join("earlier.csv"), "timestamp_s\n4\n7\n").unwrap();
    for (paths, in_order) in [
        ("\"swapped.csv\"", false),
        ("[\"later.csv\", \"earlier.csv\"]", false),
        ("[\"earlier.csv\", \"later.csv\"]", false),
        ("[\"swapped.csv\", \"later.csv\"]", false),
        ("[\"later.csv\"]", true),
    ] {
        let file = scenario_in(
            dir.path(),
            &format!("{{ kind = \"trace\", format = \"csv\", path = {paths} }}"),
            LAMBDA,
        );
        let s = load(&file);
        assert_eq!(
            s.workload.trace.as_ref().unwrap().in_order,
            in_order,
            "{paths}"
        );
        let got: Vec<u64> = arrivals(&s).iter().map(|a| a.0.as_nanos()).collect();
        assert!(got.is_sorted(), "{paths}: {got:?}");
    }
}

/// Rows out of order where the scan found them in order (a file changed
/// behind the replay's check of its size, times and inode) end the stream
/// with an error naming the file, never a request out of order.
#[test]
fn rows_out_of_order_where_the_scan_found_them_in_order_fail_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("trace.csv"), "timestamp_s\n1\n3\n2\n4\n").unwrap();
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = \"trace.csv\" }",
        LAMBDA,
    );
    let s = load(&file);
    assert!(!s.workload.trace.as_ref().unwrap().in_order);
    let s = with_trace(&s, |t| t.in_order = true);
    let mut requests = s.workload.requests(s.seed, 0, s.horizon);
    let got: Vec<u64> = requests.by_ref().map(|r| r.arrival.as_nanos()).collect();
    assert_eq!(got, [1_000_000_000, 3_000_000_000]);
    let fault = requests.fault().unwrap();
    let msg = fault.lock().unwrap().take().expect("a fault").to_string();
    assert!(
        msg.contains("trace.csv") && msg.contains("no longer in time order"),
        "{msg}"
    );
}

/// With many functions the scan keeps each row's function for the replay
/// (`Trace::row_functions`, from the row where the 32,768th name appears;
/// the rows before are looked up by name): the requests must be those the
/// lookup of every name gives, with functions `top_n` drops, rows outside
/// the window and bad rows skipped.
#[test]
fn rows_whose_functions_the_scan_kept_replay_as_name_lookups_would() {
    let dir = tempfile::tempdir().unwrap();
    let n_functions = 40_000u64;
    let mut text = String::from("timestamp_s,function,duration_ms\n");
    for i in 0..60_000u64 {
        // Every function once first, then the first 20,000 again, so that
        // `top_n` keeps those with two rows and the lowest of the rest.
        let f = if i < n_functions { i } else { i - n_functions };
        let _ = writeln!(text, "{}.{:03},fn{f},{}", i / 100, i % 100 * 10, 1 + i % 30);
        if i == 50_000 {
            text.push_str("not a time,fnbad,1\n");
        }
    }
    std::fs::write(dir.path().join("many.csv"), &text).unwrap();
    let file = scenario_in(
        dir.path(),
        "{ kind = \"trace\", format = \"csv\", path = \"many.csv\", top_n = 33000, \
         start_s = 2, skip_bad_rows = true }",
        LAMBDA,
    );
    let s = load(&file);
    let trace = s.workload.trace.as_ref().unwrap();
    assert_eq!(trace.functions.len(), 33_000);
    // Rows from 2 s: row 200 on; its 32,768th name is that of row 200 + 32,767.
    assert_eq!(trace.row_functions_from, 32_767);
    assert_eq!(trace.row_functions.len(), 60_000 - 200 - 32_767);
    assert!(
        trace.row_functions.contains(&u32::MAX),
        "rows of dropped functions"
    );
    let by_name = with_trace(&s, |t| t.row_functions.clear());
    let (got, want) = (stream_of(&s), stream_of(&by_name));
    assert_eq!(want.len() as u64, trace.rows);
    assert_eq!(got, want);
}
