//! `surgesim check`: expectations, baselines, JUnit XML and exit codes.

use std::path::Path;

use assert_cmd::Command;

const GATE: &str = r#"
name = "gate"
seed = 3
duration_s = 300
replications = 3
[workload]
arrival = { kind = "poisson", rate_per_s = 20 }
work = { kind = "constant", ms = 100 }
[[platforms]]
name = "lambda"
kind = "lambda"
memory_mb = 1769
init = { kind = "constant", ms = 200 }
[expect]
"lambda.p50_ms" = "< 150"
"lambda.error_rate" = "== 0"
"lambda.p95_ms" = "<= 400 @ci_high"
"#;

fn check(dir: &Path, src: &str, args: &[&str]) -> std::process::Output {
    let file = dir.join("gate.toml");
    std::fs::write(&file, src).unwrap();
    Command::cargo_bin("surgesim")
        .unwrap()
        .args(["check", "-q", "-o"])
        .arg(dir.join("out"))
        .args(args)
        .arg(&file)
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn passing_expectations_exit_0_with_a_row_each() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), GATE, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    for row in ["lambda.p50_ms", "lambda.error_rate", "lambda.p95_ms"] {
        let line = text.lines().find(|l| l.contains(row)).unwrap();
        assert!(line.trim_end().ends_with("pass"), "{line}");
    }
    assert!(text.contains("(ci_high)"));
    assert!(text.contains("3 passed, 0 failed"));
    // check writes the same outputs as run.
    assert!(dir.path().join("out/gate/summary.csv").is_file());
    assert!(dir.path().join("out/gate/aggregate.csv").is_file());
}

#[test]
fn a_failing_expectation_exits_1_and_shows_expected_and_actual() {
    let dir = tempfile::tempdir().unwrap();
    let src = GATE.replace("\"< 150\"", "\"< 50\"");
    let out = check(
        dir.path(),
        &src,
        &["--junit", dir.path().join("j.xml").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("lambda.p50_ms")).unwrap();
    assert!(
        line.contains("< 50") && line.contains("100") && line.contains("FAIL"),
        "{line}"
    );
    // JUnit: one test case per expectation; the failure carries both values.
    let xml = std::fs::read_to_string(dir.path().join("j.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML is well-formed");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("3"));
    assert_eq!(root.attribute("failures"), Some("1"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 3);
    let failed: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|f| f.has_tag_name("failure")))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attribute("name"), Some("lambda.p50_ms"));
    let failure = failed[0]
        .children()
        .find(|f| f.has_tag_name("failure"))
        .unwrap();
    let msg = failure.attribute("message").unwrap();
    assert!(
        msg.contains("expected < 50") && msg.contains("actual 100"),
        "{msg}"
    );
}

#[test]
fn bad_expressions_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    for (entry, needle) in [
        ("\"lambda.p95_ms\" = \"< abc\"", "`abc` is not a number"),
        ("\"lambda.p95_ms\" = \"~ 5\"", "expected an operator"),
        ("\"lambda.p96_ms\" = \"< 5\"", "unknown metric `p96_ms`"),
        ("\"eks.p95_ms\" = \"< 5\"", "unknown platform `eks`"),
        ("\"lambda.p95_ms\" = \"< 5 @p99\"", "unknown suffix"),
    ] {
        let src = format!(
            "{}[expect]\n{entry}\n",
            &GATE[..GATE.find("[expect]").unwrap()]
        );
        let out = check(dir.path(), &src, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{entry}: {stderr}");
        assert!(stderr.contains(needle), "{entry}: {stderr}");
        assert!(stderr.contains("gate.toml:"), "{entry}: {stderr}");
    }
    // The lists of valid names come with the message.
    let src = format!(
        "{}[expect]\n\"x.p95_ms\" = \"< 5\"\n",
        &GATE[..GATE.find("[expect]").unwrap()]
    );
    let stderr = String::from_utf8_lossy(&check(dir.path(), &src, &[]).stderr).into_owned();
    assert!(stderr.contains("the platforms are: lambda"), "{stderr}");
}

#[test]
fn an_unchanged_configuration_passes_against_its_own_baseline_identically() {
    let dir = tempfile::tempdir().unwrap();
    let first = check(dir.path(), GATE, &[]);
    assert_eq!(first.status.code(), Some(0));
    let base = dir.path().join("base");
    std::fs::rename(dir.path().join("out"), &base).unwrap();
    let second = check(
        dir.path(),
        GATE,
        &[
            "--baseline",
            base.to_str().unwrap(),
            "--tolerance",
            "0",
            "--verbose",
        ],
    );
    assert_eq!(second.status.code(), Some(0), "{}", stdout(&second));
    assert!(stdout(&second).contains("baseline lambda.p95_ms"));
    for f in ["summary.csv", "aggregate.csv", "timeseries.csv"] {
        assert_eq!(
            std::fs::read(base.join("gate").join(f)).unwrap(),
            std::fs::read(dir.path().join("out/gate").join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn baselines_fail_beyond_tolerance_and_report_improvements() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(check(dir.path(), GATE, &[]).status.code(), Some(0));
    let base = dir.path().join("base");
    std::fs::rename(dir.path().join("out"), &base).unwrap();
    let summary = base.join("gate/summary.csv");
    // Half the memory: the handler takes 1769/884 ~ 2x as long.
    let slower = GATE
        .replace("memory_mb = 1769", "memory_mb = 884")
        .replace("[expect]\n", "[expect]\n\"lambda.requests\" = \"> 0\"\n")
        .replace("\"lambda.p50_ms\" = \"< 150\"\n", "")
        .replace("\"lambda.p95_ms\" = \"<= 400 @ci_high\"\n", "");
    let out = check(
        dir.path(),
        &slower,
        &["--baseline", summary.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    let p50 = text
        .lines()
        .find(|l| l.contains("baseline lambda.p50_ms"))
        .unwrap();
    assert!(p50.contains("FAIL (regression)"), "{p50}");
    // Within a generous tolerance the same comparison passes.
    let out = check(
        dir.path(),
        &slower,
        &[
            "--baseline",
            summary.to_str().unwrap(),
            "--tolerance",
            "500",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // The other way round the latencies improve: reported, and passing.
    let fast_base = dir.path().join("slow");
    std::fs::rename(dir.path().join("out"), &fast_base).unwrap();
    let out = check(
        dir.path(),
        GATE,
        &["--baseline", fast_base.to_str().unwrap()],
    );
    let text = stdout(&out);
    let p50 = text
        .lines()
        .find(|l| l.contains("baseline lambda.p50_ms"))
        .unwrap();
    assert!(p50.contains("improved"), "{p50}");
    // An aggregate.csv works as a baseline too.
    let agg = fast_base.join("gate/aggregate.csv");
    let out = check(dir.path(), GATE, &["--baseline", agg.to_str().unwrap()]);
    assert!(stdout(&out).contains("baseline lambda.p50_ms"));
    // A baseline that is not one is bad input.
    let out = check(dir.path(), GATE, &["--baseline", "/nonexistent/base"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_baseline_is_read_before_the_run_overwrites_it() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(check(dir.path(), GATE, &[]).status.code(), Some(0));
    // Same -o folder as the baseline: the slower run must still be compared
    // with the old numbers, not with itself.
    let slower = GATE
        .replace("memory_mb = 1769", "memory_mb = 884")
        .replace("\"lambda.p50_ms\" = \"< 150\"\n", "")
        .replace("\"lambda.p95_ms\" = \"<= 400 @ci_high\"\n", "");
    let base = dir.path().join("out");
    let out = check(dir.path(), &slower, &["--baseline", base.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

#[test]
fn platform_names_with_dots_can_be_checked() {
    let dir = tempfile::tempdir().unwrap();
    let src = GATE
        .replace("\"lambda.", "\"lambda.v2.")
        .replace("name = \"lambda\"", "name = \"lambda.v2\"");
    let out = check(dir.path(), &src, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("lambda.v2.p50_ms"));
}

/// The README's CI job, end to end: a baseline from the target branch that
/// lacks a scenario and a platform the pull request adds.
#[test]
fn a_pull_request_that_adds_a_scenario_and_a_platform_passes_then_a_regression_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (base, pr) = (d.join("base"), d.join("pr"));
    std::fs::create_dir_all(&base).unwrap();
    std::fs::create_dir_all(&pr).unwrap();
    std::fs::write(base.join("gate.toml"), GATE).unwrap();
    let second_platform = "\n[[platforms]]\nname = \"lambda-arm\"\nkind = \"lambda\"\nmemory_mb = 1769\narchitecture = \"arm64\"\n";
    // The PR's gate: the same with one more platform ([expect] stays last).
    let (head, expect) = GATE.split_at(GATE.find("[expect]").unwrap());
    std::fs::write(
        pr.join("gate.toml"),
        format!("{head}{second_platform}{expect}"),
    )
    .unwrap();
    std::fs::write(
        pr.join("other.toml"),
        GATE.replace("name = \"gate\"", "name = \"other\""),
    )
    .unwrap();
    let surgesim = || Command::cargo_bin("surgesim").unwrap();
    surgesim()
        .args(["run", "-q", "--no-charts", "-o"])
        .arg(d.join("baseline"))
        .arg(&base)
        .assert()
        .success();
    let gate = |scenarios: &Path, extra: &[&str]| {
        surgesim()
            .args(["check", "-q", "--no-charts", "--tolerance", "5", "-o"])
            .arg(d.join("results"))
            .arg("--baseline")
            .arg(d.join("baseline"))
            .args(extra)
            .arg(scenarios)
            .output()
            .unwrap()
    };
    let out = gate(&pr, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle) && l.contains("new, no baseline"))
            .unwrap_or_else(|| panic!("no `{needle}` new row in {text}"))
            .to_string()
    };
    line("lambda-arm");
    line("scenario other");
    // Within tolerance: not listed by default, listed with --verbose.
    assert!(
        !text.lines().any(|l| l.contains("lambda.p95_ms")
            && l.trim_end().ends_with(" pass")
            && l.contains("baseline")),
        "{text}"
    );
    assert!(text.contains("within tolerance not listed"), "{text}");
    let verbose = stdout(&gate(&pr, &["--verbose"]));
    assert!(
        verbose.lines().any(|l| l.starts_with("  baseline")
            && l.contains("lambda.p95_ms")
            && l.trim_end().ends_with("pass")),
        "{verbose}"
    );
    // A real regression: slower work fails the gate.
    std::fs::write(pr.join("other.toml"), "").unwrap();
    std::fs::remove_file(pr.join("other.toml")).unwrap();
    std::fs::write(
        pr.join("gate.toml"),
        format!("{head}{second_platform}{expect}").replace("ms = 100", "ms = 130"),
    )
    .unwrap();
    let out = gate(&pr, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL (regression)"), "{text}");
    // A platform the baseline has and the run does not is reported.
    std::fs::write(
        pr.join("gate.toml"),
        GATE.replace("name = \"lambda\"\n", "name = \"lambda-renamed\"\n")
            .replace("\"lambda.", "\"lambda-renamed."),
    )
    .unwrap();
    let text = stdout(&gate(&pr, &[]));
    assert!(
        text.lines()
            .any(|l| l.contains("lambda ") && l.contains("gone")),
        "{text}"
    );
}

#[test]
fn a_check_of_nothing_fails_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let bare = GATE.split_at(GATE.find("[expect]").unwrap()).0.to_string();
    let out = check(dir.path(), &bare, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("no expectation and no baseline") && err.contains("--allow-empty"),
        "{err}"
    );
    let out = check(dir.path(), &bare, &["--allow-empty"]);
    assert_eq!(out.status.code(), Some(0));
}
