//! Every bundled scenario runs, and shows what its comment says it shows.

use std::collections::BTreeMap;
use std::path::Path;

use surgesim::cli::run_scenario;
use surgesim::metrics::summary::RunSummary;
use surgesim::scenario::{self, Overrides};

use crate::common::{Simulated, parse_rows};

/// Runs `scenarios/<file>` and returns its runs by platform name, and
/// requests.csv when `requests` (only where a test reads it: the bundled
/// high-volume scenarios would write over a gigabyte).
fn run(file: &str, requests: bool) -> (BTreeMap<String, RunSummary>, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let s = scenario::load(&path, Overrides::default()).unwrap();
    let sim = Simulated::of(&s, requests);
    golden(&s.name, &sim.out());
    let requests = sim.read("requests.csv");
    (
        sim.runs
            .into_iter()
            .map(|r| (r.platform.clone(), r))
            .collect(),
        requests,
    )
}

/// Golden outputs: summary.csv of every bundled scenario is pinned in
/// tests/golden/, so a change that moves any number shows in review.
/// `UPDATE_GOLDEN=1 cargo test --test integration examples` rewrites them.
fn golden(name: &str, out: &Path) {
    let actual = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.summary.csv"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no golden file {}: run UPDATE_GOLDEN=1 cargo test --test integration examples",
            path.display()
        )
    });
    for (i, (a, b)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(
            a,
            b,
            "{name}: summary.csv line {} moved from the golden file",
            i + 1
        );
    }
    assert_eq!(
        actual.lines().count(),
        expected.lines().count(),
        "{name}: row count"
    );
}

#[test]
fn every_bundled_scenario_has_a_golden_summary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(root.join("scenarios")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let s = scenario::load(&p, Overrides::default()).unwrap();
            let g = root
                .join("tests/golden")
                .join(format!("{}.summary.csv", s.name));
            assert!(g.is_file(), "{} has no golden summary", p.display());
        }
    }
}

fn p50(r: &RunSummary) -> f64 {
    r.latency.p50.unwrap()
}

#[test]
fn default_puts_lambda_and_eks_on_one_stream() {
    let (runs, _) = run("default.toml", false);
    let (l, k) = (&runs["lambda"], &runs["eks-hpa"]);
    assert_eq!(l.counts.requests, k.counts.requests);
    // Lambda absorbs the spike (cold starts, no errors); the HPA lags it.
    assert_eq!(l.counts.throttled, 0);
    assert!(l.counts.cold_starts > 0);
    assert!(k.counts.rejected > 1000);
    // It scales up (pods and nodes) during the spike, too late for most of it.
    assert!(k.instances.peak >= 8 && k.nodes.unwrap().peak > 2);
    assert!(k.bill.cost.nodes > 0.0 && k.bill.cost.control_plane > 0.0);
}

#[test]
fn default_puts_fargate_on_the_same_stream_lagging_the_spike() {
    let (runs, _) = run("default.toml", false);
    let (l, f) = (&runs["lambda"], &runs["fargate"]);
    assert_eq!(l.counts.requests, f.counts.requests);
    // Target tracking waits three datapoints, then image pull and health
    // checks: most of the two-minute spike is rejected; no cold starts.
    assert!(f.counts.rejected > 1000);
    assert_eq!(f.counts.cold_starts, 0);
    assert!(f.instances.peak > 2 && f.nodes.is_none());
    assert!(f.bill.cost.compute > 0.0 && f.bill.cost.front_door > 0.0);
}

#[test]
fn high_resolution_metrics_shorten_target_trackings_lag() {
    let (runs, _) = run("fargate_spike.toml", false);
    let (slow, fast) = (&runs["fargate-60s"], &runs["fargate-20s"]);
    let l = &runs["lambda"];
    // Lambda follows the spike; both Fargate services reject part of it,
    // the 20-second metrics less, and pay less for it (they also scale in
    // sooner).
    assert_eq!(l.counts.throttled + l.counts.rejected, 0);
    assert!(slow.counts.rejected > fast.counts.rejected);
    assert!(fast.counts.rejected > 1000);
    assert!(fast.bill.cost.total() < slow.bill.cost.total());
}

#[test]
fn a_burst_after_idle_finds_cloud_run_scaled_in_and_lambda_cold() {
    let (runs, _) = run("burst_after_idle.toml", false);
    let (l, k, c) = (&runs["lambda"], &runs["eks-hpa"], &runs["cloud-run"]);
    let (a, n) = (&runs["app-runner"], &runs["knative"]);
    assert!(l.counts.requests == c.counts.requests && c.counts.requests == n.counts.requests);
    // Lambda and Cloud Run serve the burst; Cloud Run's first requests
    // waited for an instance (its idle ones went after 15 minutes).
    assert_eq!(l.counts.throttled + l.counts.rejected, 0);
    assert_eq!(c.counts.throttled + c.counts.rejected, 0);
    assert!(c.counts.cold_starts > 0 && l.counts.cold_starts > 0);
    // The CPU-scaled HPA and Knative's shrunk node pool lag it; App Runner
    // answers 429 while it adds instances.
    assert!(k.counts.rejected > 1000 && n.counts.rejected > 1000);
    assert!(a.counts.throttled > 0 && a.counts.rejected == 0);
    // Only Knative on its own cluster has nodes.
    assert!(n.nodes.is_some() && c.nodes.is_none() && a.nodes.is_none());
    assert!(n.bill.cost.nodes > 0.0 && c.bill.cost.requests > 0.0);
}

#[test]
fn lambda_is_cheaper_at_low_volume_and_eks_at_high() {
    let (low, _) = run("cost_low_volume.toml", false);
    assert!(low["lambda"].bill.per_month_usd * 10.0 < low["eks"].bill.per_month_usd);
    let (high, _) = run("cost_high_volume.toml", false);
    assert!(high["eks"].bill.per_month_usd < 0.8 * high["lambda"].bill.per_month_usd);
    for r in high.values().chain(low.values()) {
        assert_eq!(r.counts.errors(), 0, "{}", r.platform);
    }
}

#[test]
fn a_diurnal_day_is_served_by_both() {
    let (runs, _) = run("diurnal.toml", false);
    let k = &runs["eks-hpa"];
    assert!(k.counts.error_rate() < 0.001);
    assert!(runs["lambda"].counts.error_rate() < 0.001);
    // The HPA follows the day: far more pods at the peak than at night.
    assert!(k.instances.peak >= 10, "{}", k.instances.peak);
    assert!(k.nodes.unwrap().peak >= 5);
}

#[test]
fn steady_traffic_is_almost_always_warm() {
    let (runs, _) = run("steady.toml", false);
    for r in runs.values() {
        let c = &r.counts;
        assert!((c.cold_starts as f64) < 0.001 * c.requests as f64);
        assert_eq!(c.errors(), 0);
    }
    // Half the memory, half the CPU: the median doubles.
    let ratio = p50(&runs["lambda-512"]) / p50(&runs["lambda-1024"]);
    assert!((ratio - 2.0).abs() < 0.05, "{ratio}");
}

#[test]
fn after_idle_the_short_keep_alive_cold_starts_again() {
    let (runs, _) = run("after_idle.toml", false);
    assert_eq!(runs["eks-hpa"].counts.cold_starts, 0);
    let short = runs["keep-alive-10min"].counts.cold_starts;
    let long = runs["keep-alive-45min"].counts.cold_starts;
    assert!(short > long && long > 0, "{short} vs {long}");
}

#[test]
fn spike_is_throttled_by_the_account_limit() {
    let (runs, _) = run("spike.toml", false);
    let low = runs["account-1000"].counts.throttled;
    let high = runs["account-5000"].counts.throttled;
    assert!(low > 10 * high.max(1), "{low} vs {high}");
    assert_eq!(runs["account-1000"].concurrency.peak, 1000);
    // The HPA cannot follow a one-minute 150x spike.
    assert!(runs["eks-hpa"].counts.rejected > low);
}

#[test]
fn legacy_scaling_throttles_where_per_function_buckets_do_not() {
    let (runs, _) = run("scaling_buckets.toml", false);
    assert_eq!(runs["per-function"].counts.throttled, 0);
    assert!(runs["legacy-500"].counts.throttled > 1000);
}

#[test]
fn long_jobs_time_out_and_bill_the_full_timeout() {
    let (runs, _) = run("long_job.toml", false);
    let r = &runs["lambda-max-timeout"];
    let c = &r.counts;
    assert!(c.timed_out > 0 && c.completed > 0);
    // Every timed-out job bills at least 900 s at 3,008 MB.
    let gb_s = r.bill.cost.compute / 0.000_016_666_7;
    assert!(gb_s >= c.timed_out as f64 * 900.0 * 3008.0 / 1024.0);
    assert!(r.latency.max.unwrap() <= 900_000.0 + 10_000.0);
}

#[test]
fn memory_buys_speed_up_to_one_vcpu() {
    let (runs, _) = run("memory_sizes.toml", false);
    let m = |n: &str| p50(&runs[n]);
    assert!(
        m("mem-128") > m("mem-512")
            && m("mem-512") > m("mem-1024")
            && m("mem-1024") > m("mem-1769")
    );
    // Above 1,769 MB no faster (the two runs differ only in INIT draws).
    assert!((m("mem-1769") / m("mem-3008") - 1.0).abs() < 0.005);
    let cost = |n: &str| runs[n].bill.cost.total();
    assert!(cost("mem-3008") > 1.5 * cost("mem-1769"));
}

#[test]
fn arm_costs_a_fifth_less_for_the_same_run() {
    let (runs, _) = run("arm_vs_x86.toml", false);
    let (x, a) = (&runs["x86"], &runs["arm"]);
    let ratio = a.bill.cost.compute / x.bill.cost.compute;
    // $0.0000133334 / $0.0000166667; INIT samples differ between the two
    // platforms' streams, which moves the ratio by far less than 0.5 %.
    assert!((ratio - 0.8).abs() < 0.004, "{ratio}");
    assert_eq!(x.counts.requests, a.counts.requests);
}

#[test]
fn reserved_concurrency_shields_the_api() {
    let (_, requests) = run("reserved.toml", true);
    let rows = parse_rows(&requests);
    let platform_of = |l: &str| l.split(',').nth(2).unwrap().to_string();
    let platforms: Vec<String> = requests.lines().skip(1).map(platform_of).collect();
    let api_errors = |p: &str| {
        rows.iter()
            .zip(&platforms)
            .filter(|(r, q)| q.as_str() == p && r.function == "api" && r.outcome == "throttled")
            .count()
    };
    assert!(api_errors("shared") > 100);
    assert_eq!(api_errors("api-reserved"), 0);
}

#[test]
fn provisioned_concurrency_trades_cold_starts_for_a_fixed_charge() {
    let (runs, _) = run("provisioned.toml", false);
    let (od, pc) = (&runs["on-demand"], &runs["provisioned"]);
    assert!(pc.counts.cold_starts * 2 < od.counts.cold_starts);
    assert_eq!(od.bill.cost.provisioned, 0.0);
    assert!(pc.bill.cost.provisioned > 0.0);
    // Served duration is cheaper on provisioned environments.
    assert!(pc.bill.cost.compute < od.bill.cost.compute);
}

#[test]
fn async_bursts_wait_in_the_queue_and_only_old_events_drop() {
    let (runs, _) = run("async_burst.toml", false);
    let (long, short) = (&runs["max-age-6h"], &runs["max-age-10min"]);
    assert_eq!(long.counts.dropped, 0);
    assert_eq!(long.counts.completed, long.counts.requests);
    assert!(short.counts.dropped > 0);
    assert_eq!(long.counts.throttled + short.counts.throttled, 0);
    // Dropped events were never started, so they are not billed.
    assert!(short.bill.cost.requests < long.bill.cost.requests);
}

#[test]
fn client_retries_turn_throttles_into_slower_successes() {
    let (runs, _) = run("retries.toml", false);
    let (none, with) = (&runs["no-retries"], &runs["retries"]);
    assert!(with.counts.throttled * 4 < none.counts.throttled);
    assert!(with.counts.completed > none.counts.completed);
    assert!(with.latency.max.unwrap() >= none.latency.max.unwrap());
}

#[test]
fn the_sweep_shows_lambda_flat_and_the_hpa_growing_with_the_spike() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweep_spike.toml");
    let s = scenario::load(&path, Overrides::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runs = run_scenario(&s, dir.path(), false).unwrap();
    golden(&s.name, &dir.path().join(scenario::sanitize_name(&s.name)));
    let p95 = |platform: &str, point: usize| -> f64 {
        let v: Vec<f64> = runs
            .iter()
            .filter(|r| r.platform == platform && r.point == point)
            .map(|r| r.latency.p95.unwrap())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let last = s.points.len() - 1;
    assert!((p95("lambda-1769", last) / p95("lambda-1769", 0) - 1.0).abs() < 0.05);
    assert!(p95("eks-target-0.8", last) > 10.0 * p95("eks-target-0.8", 0));
    assert!(p95("lambda-512", 0) > 3.0 * p95("lambda-1769", 0));
    for f in [
        "aggregate.csv",
        "points.csv",
        "sweep_p95.svg",
        "report.html",
    ] {
        assert!(dir.path().join("sweep_spike").join(f).is_file(), "{f}");
    }
}

#[test]
fn the_ci_gate_passes_its_own_expectations() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ci_gate.toml");
    let s = scenario::load(&path, Overrides::default()).unwrap();
    assert!(!s.expect.entries.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let runs = run_scenario(&s, dir.path(), false).unwrap();
    golden(&s.name, &dir.path().join(scenario::sanitize_name(&s.name)));
    let grouped = surgesim::metrics::summary::Grouped::new(&runs);
    let checks = surgesim::check::evaluate(&s.expect, &[0], &grouped);
    assert!(checks.iter().all(|c| c.pass), "{checks:?}");
}

#[test]
fn the_trace_examples_replay_on_both_platforms() {
    for (file, rows) in [("trace_csv.toml", 16_758), ("trace_azure2021.toml", 11_188)] {
        let (runs, _) = run(file, false);
        for r in runs.values() {
            assert_eq!(r.counts.requests, rows, "{file}: {}", r.platform);
        }
    }
    let (runs, _) = run("trace_azure2019.toml", false);
    let l = &runs["lambda"];
    // Only noon to 14:00 of the day is replayed.
    assert!(l.counts.requests > 100_000);
    assert_eq!(l.counts.throttled, 0);
}

#[test]
fn an_alb_log_replays_on_lambda_and_eks_path_by_path() {
    let (runs, _) = run("trace_alb.toml", false);
    let (l, k) = (&runs["lambda"], &runs["eks"]);
    // Four nodes' files, merged by time: every entry once on both platforms.
    assert_eq!(l.counts.requests, k.counts.requests);
    assert!(l.counts.requests > 3000, "{}", l.counts.requests);
    assert_eq!(l.counts.error_rate(), 0.0);
}

#[test]
fn report_lines_replay_at_their_recorded_memory() {
    let (runs, _) = run("trace_lambda_report.toml", false);
    let l = &runs["lambda"];
    assert!(l.counts.requests > 1000);
    // Idle gaps of the recording were mostly shorter than the keep-alive:
    // few cold starts, as recorded.
    assert!(l.counts.cold_start_ratio() < 0.01);
}
