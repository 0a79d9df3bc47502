//! Shards and merge (SPEC 10): the merge of any complete set of shards is
//! byte for byte the single run; incomplete and mixed sets are refused with
//! nothing written; `check --from` gates on a merged folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use proptest::prelude::*;
use surgesim::engine::CancelToken;
use surgesim::experiment::RunOptions;
use surgesim::shard::{self, Shard};

fn surgesim() -> Command {
    Command::cargo_bin("surgesim").unwrap()
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Asserts the two folders hold the same files with the same bytes (what
/// `diff -r` says), naming the first file that differs.
fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = (tree(a), tree(b));
    assert!(!ta.is_empty(), "{} is empty", a.display());
    let names = |t: &BTreeMap<PathBuf, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&ta), names(&tb), "the same files");
    for (name, bytes) in &ta {
        assert!(
            *bytes == tb[name],
            "{} differs between {} and {}",
            name.display(),
            a.display(),
            b.display()
        );
    }
}

/// `surgesim ARGS`, asserting success.
fn ok(args: &[&str]) {
    surgesim().args(args).assert().success();
}

/// Runs `scenarios` as N shards under `root/shards-N/I`, merges them into
/// `root/merged-N`, and returns that folder.
fn shard_and_merge(root: &Path, scenarios: &[&str], n: u32, extra: &[&str]) -> PathBuf {
    let mut dirs = Vec::new();
    for i in 0..n {
        let dir = root.join(format!("shards-{n}/{i}"));
        let shard = format!("{i}/{n}");
        let mut args = vec!["run", "-q", "-j", "1", "--shard", &shard, "-o"];
        let d = dir.to_str().unwrap().to_string();
        args.push(&d);
        args.extend(extra);
        args.extend(scenarios);
        ok(&args);
        dirs.push(d);
    }
    let out = root.join(format!("merged-{n}"));
    // Any order of the folders.
    dirs.reverse();
    let mut args = vec!["merge", "-q", "-o", out.to_str().unwrap()];
    args.extend(dirs.iter().map(String::as_str));
    ok(&args);
    out
}

#[test]
fn every_bundled_scenario_merges_to_the_single_run() {
    let root = tempfile::tempdir().unwrap();
    let whole = root.path().join("whole");
    ok(&["run", "-q", "-o", whole.to_str().unwrap(), "scenarios"]);
    // 7 shards: more shards than some scenarios have units.
    for n in [1, 2, 3, 7] {
        let merged = shard_and_merge(root.path(), &["scenarios"], n, &[]);
        assert_same_tree(&whole, &merged);
    }
}

/// A sweep of 3 points with 4 replications and two functions: 12 units.
const SWEEP: &str = r#"
name = "sharded sweep"
seed = 5
duration_s = 120
warmup_s = 10
replications = 4
[[workload.functions]]
name = "api"
arrival = { kind = "poisson", rate_per_s = 30 }
work = { kind = "lognormal", median_ms = 40, p99_ms = 400 }
[[workload.functions]]
name = "batch"
arrival = { kind = "poisson", rate_per_s = 2 }
work = { kind = "exponential", mean_ms = 900 }
[[platforms]]
name = "lambda"
kind = "lambda"
memory_mb = 512
[[platforms]]
name = "pods"
kind = "kubernetes"
pod = { cpu = 1.0, memory_mb = 1024, concurrency = 8 }
scaling = { kind = "hpa", min_replicas = 1, max_replicas = 6, metric = "cpu", target = 0.6 }
[sweep]
"platforms.lambda.memory_mb" = [256, 512, 1024]
"#;

fn write_sweep(dir: &Path) -> PathBuf {
    let file = dir.join("sweep.toml");
    std::fs::write(&file, SWEEP).unwrap();
    file
}

#[test]
fn a_sweep_with_replications_merges_with_requests_and_functions() {
    let root = tempfile::tempdir().unwrap();
    let file = write_sweep(root.path());
    let file = file.to_str().unwrap();
    let whole = root.path().join("whole");
    let extra = ["--requests-csv", "--per-function"];
    let mut args = vec!["run", "-q", "-o", whole.to_str().unwrap()];
    args.extend(extra);
    args.push(file);
    ok(&args);
    let pooled = std::fs::read_to_string(whole.join("sharded_sweep/pooled.csv")).unwrap();
    assert_eq!(pooled.lines().count(), 1 + 3 * 2, "{pooled}");
    for n in [2, 5, 13] {
        let merged = shard_and_merge(root.path(), &[file], n, &extra);
        assert_same_tree(&whole, &merged);
    }
}

/// The whole run of `file` with the library, and the units' count.
fn library_whole(file: &Path, out: &Path) -> usize {
    let s = surgesim::scenario::load(file, Default::default()).unwrap();
    surgesim::cli::run_scenario(&s, out, true).unwrap();
    surgesim::experiment::ordinals(&s)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Any partition of the units into shards, merged in any order, gives
    /// the single run's bytes.
    #[test]
    fn any_partition_merged_in_any_order_gives_the_same_bytes(
        owners in proptest::collection::vec(0u32..4, 12),
        order in Just((0..4u32).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let root = tempfile::tempdir().unwrap();
        let file = write_sweep(root.path());
        let whole = root.path().join("whole");
        let units = library_whole(&file, &whole);
        prop_assert_eq!(units, 12);
        let s = surgesim::scenario::load(&file, Default::default()).unwrap();
        let opts = RunOptions { requests_csv: true, ..RunOptions::default() };
        let mut dirs = Vec::new();
        for i in 0..4u32 {
            let dir = root.path().join(format!("part-{i}"));
            let owners = owners.clone();
            shard::run_units(
                std::slice::from_ref(&s),
                &dir,
                Shard { index: i, count: 4 },
                &move |k| owners[k] == i,
                &opts,
                &CancelToken::never(),
            )
            .unwrap();
            dirs.push(dir);
        }
        let given: Vec<PathBuf> = order.iter().map(|&i| dirs[i as usize].clone()).collect();
        let merged = root.path().join("merged");
        shard::merge(&given, &merged, &RunOptions::default(), &CancelToken::never()).unwrap();
        assert_same_tree(&whole, &merged);
    }
}

/// The stderr of a refused merge, after checking its exit code and that
/// nothing was written.
fn refused(dirs: &[&Path], out: &Path) -> String {
    let mut cmd = surgesim();
    cmd.args(["merge", "-q", "-o"]).arg(out).args(dirs);
    let output = cmd.assert().code(2).get_output().clone();
    assert!(!out.exists(), "a refused merge writes nothing");
    String::from_utf8(output.stderr).unwrap()
}

fn run_shard(file: &Path, shard: &str, dir: &Path, extra: &[&str]) {
    surgesim()
        .args(["run", "-q", "--shard", shard, "-o"])
        .arg(dir)
        .args(extra)
        .arg(file)
        .assert()
        .success();
}

#[test]
fn incomplete_and_mixed_sets_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let file = write_sweep(r);
    let out = r.join("out");
    let d = |name: &str| r.join(name);
    run_shard(&file, "0/3", &d("a0"), &[]);
    run_shard(&file, "1/3", &d("a1"), &[]);
    run_shard(&file, "2/3", &d("a2"), &[]);

    // A missing shard.
    let e = refused(&[&d("a0"), &d("a2")], &out);
    assert!(
        e.contains("incomplete") && e.contains("shard 1 of 3 is missing"),
        "{e}"
    );
    // A shard run twice (the same index in two folders).
    run_shard(&file, "1/3", &d("again"), &[]);
    let e = refused(&[&d("a0"), &d("a1"), &d("again"), &d("a2")], &out);
    assert!(e.contains("shard 1/3 is given twice"), "{e}");
    // Shards of two seeds.
    run_shard(&file, "2/3", &d("seed9"), &["--seed", "9"]);
    let e = refused(&[&d("a0"), &d("a1"), &d("seed9")], &out);
    assert!(e.contains("seed 5") && e.contains("seed 9"), "{e}");
    // Shards of an edited scenario.
    let edited = r.join("edited.toml");
    std::fs::write(&edited, SWEEP.replace("rate_per_s = 30", "rate_per_s = 31")).unwrap();
    run_shard(&edited, "2/3", &d("edited"), &[]);
    let e = refused(&[&d("a0"), &d("a1"), &d("edited")], &out);
    assert!(e.contains("edited between the shard runs"), "{e}");
    // Shards of two sets.
    run_shard(&file, "1/2", &d("half"), &[]);
    let e = refused(&[&d("a0"), &d("half")], &out);
    assert!(e.contains("different sets"), "{e}");
    // Shards that chart different sweep points.
    run_shard(&file, "2/3", &d("point1"), &["--chart-point", "1"]);
    let e = refused(&[&d("a0"), &d("a1"), &d("point1")], &out);
    assert!(e.contains("--chart-point 0") && e.contains("1 in"), "{e}");
    // Other options.
    run_shard(&file, "2/3", &d("requests"), &["--requests-csv"]);
    let e = refused(&[&d("a0"), &d("a1"), &d("requests")], &out);
    assert!(e.contains("--requests-csv"), "{e}");
    // A shard that did not finish (no manifest) and a truncated copy.
    std::fs::remove_file(d("a2").join("shard.json")).unwrap();
    let e = refused(&[&d("a0"), &d("a1"), &d("a2")], &out);
    assert!(e.contains("did not finish"), "{e}");
    run_shard(&file, "2/3", &d("a2"), &[]);
    let hist = d("a2").join("sharded_sweep/latency.hdr");
    let bytes = std::fs::read(&hist).unwrap();
    std::fs::write(&hist, &bytes[..bytes.len() / 2]).unwrap();
    let e = refused(&[&d("a0"), &d("a1"), &d("a2")], &out);
    assert!(e.contains("latency.hdr") && e.contains("partial"), "{e}");
    std::fs::write(&hist, &bytes).unwrap();
    // Tampered manifests and files: refused, never a panic.
    let manifest = d("a2").join("shard.json");
    let good = std::fs::read_to_string(&manifest).unwrap();
    for (from, to, says) in [
        ("\"index\": 2", "\"index\": 5", "counts from 0"),
        ("\"count\": 3", "\"count\": 0", "number of shards"),
        (
            "\"units\": 12",
            "\"units\": 18446744073709551615",
            "damaged manifest",
        ),
        (
            "\"replications\": 4",
            "\"replications\": 4000000000",
            "4000000000",
        ),
    ] {
        assert!(good.contains(from), "{from} in {good}");
        std::fs::write(&manifest, good.replacen(from, to, 1)).unwrap();
        let e = refused(&[&d("a0"), &d("a1"), &d("a2")], &out);
        assert!(e.contains(says), "{to}: {e}");
    }
    std::fs::write(&manifest, &good).unwrap();
    // A run whose histogram span does not follow the previous run's.
    let runs_file = d("a2").join("sharded_sweep/runs.jsonl");
    let runs = std::fs::read_to_string(&runs_file).unwrap();
    let mut lines: Vec<&str> = runs.lines().collect();
    lines.swap(0, 1);
    std::fs::write(&runs_file, lines.join("\n") + "\n").unwrap();
    let e = refused(&[&d("a0"), &d("a1"), &d("a2")], &out);
    assert!(e.contains("after the previous run"), "{e}");
    std::fs::write(&runs_file, &runs).unwrap();
    // The charted runs' time series (unit 0, in the first shard): a span
    // that does not start where the previous one ended, and a series.bin
    // cut short.
    let runs_file = d("a0").join("sharded_sweep/runs.jsonl");
    let runs = std::fs::read_to_string(&runs_file).unwrap();
    assert!(runs.contains("\"series\":[0,"), "{runs}");
    std::fs::write(
        &runs_file,
        runs.replacen("\"series\":[0,", "\"series\":[1,", 1),
    )
    .unwrap();
    let e = refused(&[&d("a0"), &d("a1"), &d("a2")], &out);
    assert!(
        e.contains("its time series is not the") && e.contains("series.bin"),
        "{e}"
    );
    std::fs::write(&runs_file, &runs).unwrap();
    let series = d("a0").join("sharded_sweep/series.bin");
    let bytes = std::fs::read(&series).unwrap();
    std::fs::write(&series, &bytes[..bytes.len() - 1]).unwrap();
    let e = refused(&[&d("a0"), &d("a1"), &d("a2")], &out);
    assert!(e.contains("series.bin") && e.contains("partial"), "{e}");
    std::fs::write(&series, &bytes).unwrap();
    // And the good set merges.
    surgesim()
        .args(["merge", "-q", "-o"])
        .arg(&out)
        .args([d("a0"), d("a1"), d("a2")])
        .assert()
        .success();
    assert!(out.join("sharded_sweep/summary.csv").is_file());
}

#[test]
fn shard_indices_count_from_zero() {
    let root = tempfile::tempdir().unwrap();
    let file = write_sweep(root.path());
    let out = surgesim()
        .args(["run", "-q", "--shard", "3/3", "-o"])
        .arg(root.path().join("x"))
        .arg(&file)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("counts from 0"), "{e}");
}

#[test]
fn check_from_a_merged_folder_gates_like_the_run() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let gate = "scenarios/ci_gate.toml";
    let direct = surgesim()
        .args(["check", "-q", "-o"])
        .arg(r.join("direct"))
        .arg(gate)
        .output()
        .unwrap();
    let mut dirs = Vec::new();
    for i in 0..3 {
        let dir = r.join(format!("s{i}"));
        surgesim()
            .args(["check", "-q", "--shard", &format!("{i}/3"), "-o"])
            .arg(&dir)
            .arg(gate)
            .assert()
            .success();
        dirs.push(dir);
    }
    surgesim()
        .args(["merge", "-q", "-o"])
        .arg(r.join("merged"))
        .args(&dirs)
        .assert()
        .success();
    let from = surgesim()
        .args(["check", "-q", "--from"])
        .arg(r.join("merged"))
        .arg(gate)
        .output()
        .unwrap();
    assert_eq!(from.status.code(), direct.status.code());
    // The same verdicts (the run also printed its summary table first).
    let verdicts = |out: &[u8]| {
        let text = String::from_utf8_lossy(out).into_owned();
        text[text.find("check ci_gate").expect("a verdict table")..].to_string()
    };
    assert_eq!(verdicts(&from.stdout), verdicts(&direct.stdout));
    assert!(String::from_utf8_lossy(&from.stdout).contains("passed"));
    // Results of another seed are not checked as this one's.
    let e = surgesim()
        .args(["check", "-q", "--seed", "77", "--from"])
        .arg(r.join("merged"))
        .arg(gate)
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&e.stderr).contains("--seed"));
}

/// `line` with each shell or Actions variable (`${NAME}`, `${NAME:-x}`,
/// `${{ expr }}`) replaced by a value: 8 for a count, 3 for anything else.
fn fill_variables(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let (close, skip) = if rest[at..].starts_with("${{") {
            ("}}", 2)
        } else {
            ("}", 1)
        };
        let end = rest[at..].find(close).expect("a closed variable") + at;
        let name = &rest[at..end];
        let count = ["COUNT", "total", "SHARDS"]
            .iter()
            .any(|c| name.contains(c));
        out.push_str(if count { "8" } else { "3" });
        rest = &rest[end + skip..];
    }
    out.push_str(rest);
    out
}

/// Each launcher example's surgesim command lines, with the launcher's
/// variables filled in, parse as this build's command line; the YAML files
/// are YAML with the fields their engine needs.
#[test]
fn the_launcher_examples_parse() {
    use clap::Parser;
    let examples = [
        ("docs/shards/indexed-job.yaml", "JOB_COMPLETION_INDEX"),
        ("docs/shards/merge-job.yaml", "surgesim merge"),
        ("docs/shards/slurm-array.sh", "SLURM_ARRAY_TASK_ID"),
        ("docs/shards/slurm-merge.sh", "surgesim merge"),
        ("docs/shards/aws-batch.sh", "AWS_BATCH_JOB_ARRAY_INDEX"),
        ("docs/shards/github-actions.yml", "strategy.job-index"),
    ];
    for (file, must) in examples {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.contains(must), "{file} names {must}");
        let mut commands = 0;
        for line in text.lines() {
            let line = fill_variables(line);
            for part in line.split("&&") {
                let command = ["run", "merge", "check"]
                    .iter()
                    .find_map(|c| part.find(&format!("surgesim {c} ")));
                let Some(at) = command else {
                    continue;
                };
                let cmd = part[at..]
                    .trim_end_matches(['"', ']', ' '])
                    .replace('"', "");
                let words: Vec<&str> = cmd.split_whitespace().collect();
                if let Err(e) = surgesim::cli::Cli::try_parse_from(&words) {
                    panic!("{file}: `{cmd}` does not parse: {e}");
                }
                commands += 1;
            }
        }
        assert!(commands > 0, "{file} has a surgesim command");
    }
    use yaml_rust2::YamlLoader;
    let yaml = |file: &str| {
        let text = std::fs::read_to_string(file).unwrap();
        YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    let job = &yaml("docs/shards/indexed-job.yaml")[0];
    assert_eq!(job["kind"].as_str(), Some("Job"));
    assert_eq!(job["spec"]["completionMode"].as_str(), Some("Indexed"));
    let completions = job["spec"]["completions"].as_i64().unwrap();
    let command = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
        .as_str()
        .unwrap();
    assert!(command.contains(&format!("${{JOB_COMPLETION_INDEX}}/{completions}")));
    let merge = &yaml("docs/shards/merge-job.yaml")[0];
    assert_eq!(merge["kind"].as_str(), Some("Job"));
    let actions = &yaml("docs/shards/github-actions.yml")[0];
    let shard = &actions["jobs"]["shard"];
    assert!(shard["strategy"]["matrix"]["shard"].as_vec().is_some());
    assert_eq!(actions["jobs"]["merge"]["needs"].as_str(), Some("shard"));
}
