//! The binary: commands, outputs, exit codes and error messages.

use assert_cmd::Command;
use predicates::prelude::*;

fn surgesim() -> Command {
    Command::cargo_bin("surgesim").unwrap()
}

const GOOD: &str = r#"
seed = 1
duration_s = 60
[workload]
arrival = { kind = "poisson", rate_per_s = 5 }
work = { kind = "constant", ms = 50 }
[[platforms]]
name = "lambda"
kind = "lambda"
"#;

#[test]
fn run_without_a_file_uses_the_bundled_scenario() {
    let dir = tempfile::tempdir().unwrap();
    surgesim()
        .args(["run", "-q", "-o"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("p95_ms").and(predicate::str::contains("eks-hpa")));
    for f in ["summary.csv", "timeseries.csv"] {
        assert!(dir.path().join("default").join(f).is_file(), "{f}");
    }
    assert!(!dir.path().join("default/requests.csv").exists());
    // Only finished files remain: no temporaries.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("default"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn summary_and_timeseries_have_the_spec_columns() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cols.toml");
    std::fs::write(&file, GOOD).unwrap();
    surgesim()
        .args(["run", "-q", "--requests-csv", "-o"])
        .arg(dir.path())
        .arg(&file)
        .assert()
        .success();
    let read = |f: &str| std::fs::read_to_string(dir.path().join("cols").join(f)).unwrap();
    let summary = read("summary.csv");
    assert_eq!(
        summary.lines().next().unwrap(),
        "scenario,platform,point,replication,seed,requests,completed,throttled,rejected,\
         timed_out,dropped,in_flight_end,cold_starts,cold_start_ratio,p50_ms,p90_ms,p95_ms,\
         p99_ms,p999_ms,max_ms,mean_ms,error_rate,mean_concurrency,peak_concurrency,\
         mean_instances,peak_instances,mean_nodes,peak_nodes,cost_usd,cost_per_million_usd,\
         cost_per_month_usd,cost_requests_usd,cost_compute_usd,cost_provisioned_usd,\
         cost_nodes_usd,cost_control_plane_usd,cost_front_door_usd"
    );
    assert_eq!(
        read("timeseries.csv").lines().next().unwrap(),
        "t_s,platform,arrivals,completed,errors,in_flight,queued,cold_starts,instances_busy,\
         instances_idle,instances_initialising,pods_desired,pods_ready,pods_pending,nodes,\
         nodes_provisioning,p95_ms,cost_usd"
    );
    assert_eq!(read("timeseries.csv").lines().count(), 1 + 6);
    let requests = read("requests.csv");
    assert_eq!(
        requests.lines().next().unwrap(),
        "arrival_s,function,platform,start_s,end_s,latency_ms,outcome,cold,point,replication"
    );
    // The accounting identity holds in the row, and requests.csv has every request.
    let row: Vec<&str> = summary.lines().nth(1).unwrap().split(',').collect();
    let n = |i: usize| row[i].parse::<u64>().unwrap();
    assert_eq!(n(5), n(6) + n(7) + n(8) + n(9) + n(10) + n(11));
    assert_eq!(requests.lines().count() as u64 - 1, n(5));
}

#[test]
fn seed_on_the_command_line_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, GOOD).unwrap();
    surgesim()
        .args(["run", "-q", "--seed", "99", "-o"])
        .arg(dir.path())
        .arg(&file)
        .assert()
        .success();
    let summary = std::fs::read_to_string(dir.path().join("s/summary.csv")).unwrap();
    assert!(
        summary
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("s,lambda,0,0,99,")
    );
}

#[test]
fn replications_give_one_row_each() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(&file, GOOD).unwrap();
    surgesim()
        .args(["run", "-q", "--replications", "3", "-o"])
        .arg(dir.path())
        .arg(&file)
        .assert()
        .success();
    let summary = std::fs::read_to_string(dir.path().join("r/summary.csv")).unwrap();
    let reps: Vec<&str> = summary
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    assert_eq!(reps, vec!["0", "1", "2"]);
    let requests: Vec<&str> = summary
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(5).unwrap())
        .collect();
    assert!(requests[0] != requests[1] || requests[1] != requests[2]);
}

#[test]
fn a_folder_runs_every_scenario_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.toml"), GOOD).unwrap();
    std::fs::write(input.join("b.toml"), GOOD).unwrap();
    surgesim()
        .args(["run", "-q", "-o"])
        .arg(dir.path().join("out"))
        .arg(&input)
        .assert()
        .success();
    assert!(dir.path().join("out/a/summary.csv").is_file());
    assert!(dir.path().join("out/b/summary.csv").is_file());
}

#[test]
fn every_bundled_scenario_validates() {
    surgesim()
        .args(["validate", "scenarios"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ok"));
}

/// Malformed scenarios: (what is wrong, the file, text the message must contain).
const BAD: &[(&str, &str, &[&str])] = &[
    (
        "unknown key",
        "seed = 1\nduraton_s = 60\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\n",
        &["bad.toml:2:1", "duraton_s"],
    ),
    (
        "unknown key in a platform",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\nmemory = 512\n",
        &["bad.toml:6:1", "memory"],
    ),
    (
        "wrong type",
        "seed = 1\nduration_s = \"long\"\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\n",
        &["bad.toml:2:", "duration_s"],
    ),
    (
        "negative rate",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = -5 }\n[[platforms]]\nkind = \"lambda\"\n",
        &["bad.toml:3:", "workload.arrival.rate_per_s", ">= 0"],
    ),
    (
        "memory out of range",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\nmemory_mb = 20000\n",
        &["bad.toml:6:13", "platforms[0].memory_mb", "10240"],
    ),
    (
        "timeout over 900 s",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\ntimeout_s = 1200\n",
        &[
            "bad.toml:6:13",
            "platforms[0].timeout_s",
            "maximum is 900 s",
        ],
    ),
    (
        "missing seed",
        "[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\n",
        &["field `seed`", "seed = 42", "--seed"],
    ),
    (
        "empty phases",
        "seed = 1\n[workload]\narrival = { kind = \"phases\", phases = [] }\n[[platforms]]\nkind = \"lambda\"\n",
        &["bad.toml:3:", "workload.arrival.phases", "empty"],
    ),
    (
        "unknown platform kind",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"fargate\"\n",
        &[
            "bad.toml:5:",
            "unknown platform kind `fargate`",
            "lambda, kubernetes",
        ],
    ),
    (
        "no platforms",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n",
        &["platforms", "[[platforms]]"],
    ),
    (
        "warm-up past the horizon",
        "seed = 1\nduration_s = 60\nwarmup_s = 60\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\n",
        &["bad.toml:3:", "warmup_s", "less than duration_s"],
    ),
    (
        "duplicate platform names",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\n[[platforms]]\nkind = \"lambda\"\n",
        &["platforms[1].name", "unique"],
    ),
    (
        "reservation over the unreservable 100",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\nreserved_concurrency = 950\n",
        &["reserved_concurrency", "unreserved", "900"],
    ),
    (
        "bad distribution",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\nwork = { kind = \"lognormal\", median_ms = 100, p99_ms = 10 }\n[[platforms]]\nkind = \"lambda\"\n",
        &["bad.toml:4:", "workload.work", "greater than the median"],
    ),
    (
        "min_replicas above max_replicas",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"kubernetes\"\nscaling = { kind = \"hpa\", min_replicas = 5, max_replicas = 2 }\n",
        &[
            "bad.toml:6:",
            "platforms[0].scaling.min_replicas",
            "greater than max_replicas",
        ],
    ),
    (
        "a pod larger than any node",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"kubernetes\"\npod = { cpu = 4 }\nnodes = { instance = \"m5.large\" }\n",
        &["bad.toml:6:", "platforms[0].pod", "fits on no node"],
    ),
    (
        "zero concurrency",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"kubernetes\"\npod = { concurrency = 0 }\n",
        &["platforms[0].pod.concurrency", "between 1 and"],
    ),
    (
        "unknown instance type",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"kubernetes\"\nnodes = { instance = \"m9.huge\" }\n",
        &["platforms[0].nodes.instance", "m9.huge", "m5.large"],
    ),
    (
        "a Lambda field on a Kubernetes platform",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"kubernetes\"\nmemory_mb = 512\n",
        &["bad.toml:6:13", "platforms[0].memory_mb", "lambda field"],
    ),
    (
        "HPA scaling on Lambda",
        "seed = 1\n[workload]\narrival = { kind = \"poisson\", rate_per_s = 1 }\n[[platforms]]\nkind = \"lambda\"\nscaling = { kind = \"hpa\" }\n",
        &["bad.toml:6:", "platforms[0].scaling", "per_function"],
    ),
    ("not TOML", "seed = = 1\n", &["bad.toml:1:"]),
];

#[test]
fn bad_scenarios_exit_2_naming_the_field() {
    for (what, text, needles) in BAD {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).unwrap();
        for cmd in ["run", "validate"] {
            let out = surgesim()
                .args(
                    [cmd, "-o"]
                        .into_iter()
                        .take(if cmd == "run" { 2 } else { 1 }),
                )
                .args(if cmd == "run" {
                    vec![dir.path().join("out")]
                } else {
                    vec![]
                })
                .arg(&file)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what} ({cmd}): {stderr}");
            for needle in *needles {
                assert!(
                    stderr.contains(needle),
                    "{what} ({cmd}): `{needle}` not in: {stderr}"
                );
            }
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        }
        // Nothing was written for a scenario that failed validation.
        assert!(!dir.path().join("out").exists(), "{what}");
    }
}

#[test]
fn a_missing_file_and_a_bad_flag_exit_2() {
    surgesim()
        .args(["run", "no/such/file.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such scenario file"));
    surgesim().args(["run", "--frobnicate"]).assert().code(2);
    surgesim()
        .args(["run", "--replications", "0"])
        .assert()
        .code(2);
}

#[test]
fn a_long_run_draws_no_progress_bar_when_stderr_is_not_a_terminal() {
    // About two seconds (1.6e7 requests): past the bar's one-second delay.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.toml");
    std::fs::write(
        &file,
        GOOD.replace("duration_s = 60", "duration_s = 80000")
            .replace("rate_per_s = 5", "rate_per_s = 200"),
    )
    .unwrap();
    let out = surgesim()
        .args(["run", "--no-charts", "-o"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("eta") && !err.contains("simulated"), "{err}");
    assert!(err.trim_end().ends_with("out/long"), "{err}");
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    // `surgesim run a b | head -0`: the reader is gone before the first
    // table; the run still writes both scenarios' files and exits 0 (it
    // panicked with "failed printing to stdout: Broken pipe", exit 101).
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, format!("name = \"{name}\"\n{GOOD}")).unwrap();
    }
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("surgesim"))
        .args(["run", "--no-charts", "-o"])
        .arg(&out)
        .arg(dir.path().join("a.toml"))
        .arg(dir.path().join("b.toml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for name in ["a", "b"] {
        assert!(out.join(name).join("summary.csv").is_file(), "{name}");
    }
    assert!(err.contains("out/b"), "the notes still reach stderr: {err}");
}

#[test]
fn an_unknown_platform_key_suggests_that_kinds_own_keys() {
    // Issue 17: a Lambda table's unknown key listed the Kubernetes keys.
    for (kind, own, other) in [
        ("lambda", "memory_mb", "load_balancer"),
        ("kubernetes", "load_balancer", "account_concurrency"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            format!(
                "seed = 1\n[workload]\narrival = {{ kind = \"poisson\", rate_per_s = 1 }}\n\
                 [[platforms]]\nkind = \"{kind}\"\nmemroy = 5\n"
            ),
        )
        .unwrap();
        let out = surgesim().arg("validate").arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bad.toml:6:1") && err.contains(own),
            "{kind}: {err}"
        );
        assert!(!err.contains(other), "{kind}: {err}");
    }
}
