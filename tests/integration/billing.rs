//! The bill against hand-computed examples, to the cent.

use std::path::Path;

use surgesim::cli::run_scenario;
use surgesim::scenario::{self, Overrides};

use crate::common::{lambda_scenario, run_requests};

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// Billed GB-seconds from the bill itself, to check durations exactly.
fn gb_s(compute_usd: f64, price: f64) -> f64 {
    compute_usd / price
}

#[test]
fn duration_is_rounded_up_per_request_and_init_is_billed() {
    // 1 GB. Cold: INIT 250 ms + 100.2 ms handler = 350.2 -> 351 ms.
    // Warm: 100.2 -> 101 ms. Total 452 ms x 1 GB = 0.452 GB-s.
    let s = lambda_scenario(
        "memory_mb = 1024\ncpu_scaling = false\ninit = { kind = \"constant\", ms = 250 }",
        &["f"],
        60.0,
    );
    let (_, _, bill) = run_requests(&s, &[(0.0, 0, 100.2), (1.0, 0, 100.2)]);
    let billed = gb_s(bill.cost.compute, 0.000_016_666_7);
    assert!((billed - 0.452).abs() < 1e-9, "{billed}");
    assert!((bill.cost.requests - 2.0 * 0.2 / 1e6).abs() < 1e-15);
}

#[test]
fn throttled_attempts_are_free_and_timeouts_bill_the_timeout() {
    // Account 1: the second overlapping request is throttled (no charge). The
    // first runs into the 2 s timeout: billed INIT 0 + 2,000 ms at 2 GB = 4 GB-s.
    let s = lambda_scenario(
        "memory_mb = 2048\naccount_concurrency = 1\ntimeout_s = 2\ninit = { kind = \"constant\", ms = 0 }",
        &["f"],
        60.0,
    );
    let (_, rec, bill) = run_requests(&s, &[(0.0, 0, 5000.0), (0.5, 0, 100.0)]);
    assert_eq!(rec.counts.throttled, 1);
    assert!((bill.cost.requests - 0.2 / 1e6).abs() < 1e-15);
    let billed = gb_s(bill.cost.compute, 0.000_016_666_7);
    assert!((billed - 4.0).abs() < 1e-9, "{billed}");
}

/// One hour at a constant 100 req/s of 1,000.4 ms at 10,240 MB, INIT 0:
///
/// - 360,000 requests, all started: 360,000 x $0.20 / 1e6 = $0.072
/// - 359,900 completed, each billed 1,001 ms; the last 100 (arriving from
///   3,599.00 s) are in flight at the horizon and billed the time so far,
///   1,000 - 10k ms for k = 0..99: 50,500 ms in all.
/// - (359,900 x 1,001 + 50,500) ms x 10 GB = 3,603,104 GB-s x $0.0000166667 = $60.05185
/// - total $60.12385; per month (720 h) x 720 = $43,289.17
#[test]
fn an_hour_of_constant_traffic_by_hand() {
    let src = r#"
        seed = 7
        duration_s = 3600
        [workload]
        arrival = { kind = "constant", rate_per_s = 100 }
        work = { kind = "constant", ms = 1000.4 }
        [[platforms]]
        name = "big"
        kind = "lambda"
        memory_mb = 10240
        init = { kind = "constant", ms = 0 }
        [[platforms]]
        name = "big-arm"
        kind = "lambda"
        memory_mb = 10240
        architecture = "arm64"
        init = { kind = "constant", ms = 0 }
    "#;
    let s = scenario::parse(src, Path::new("hour.toml"), Overrides::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runs = run_scenario(&s, dir.path(), false).unwrap();
    let x86 = &runs[0];
    assert_eq!(x86.counts.requests, 360_000);
    assert_eq!(x86.counts.in_flight_end, 100);
    assert_eq!(x86.counts.completed, 359_900);
    assert_eq!(cents(x86.bill.cost.requests), 7);
    assert!((x86.bill.cost.requests - 0.072).abs() < 1e-12);
    assert!((x86.bill.cost.compute - 60.051_853_436_8).abs() < 1e-6);
    assert_eq!(cents(x86.bill.cost.total()), 6012);
    assert_eq!(cents(x86.bill.per_month_usd), 4_328_917);
    // Same usage on arm64: 3,603,104 GB-s x $0.0000133334 = $48.04163
    let arm = &runs[1];
    assert_eq!(cents(arm.bill.cost.compute), 4804);
    // Cost per million requests: $60.12385 / 0.36 M = $167.01
    let text = std::fs::read_to_string(dir.path().join("hour/summary.csv")).unwrap();
    let row = text.lines().nth(1).unwrap();
    assert!(
        row.contains(",60.123853,167.010704,43289.174474,0.072000,60.051853,"),
        "{row}"
    );
}

#[test]
fn the_free_tier_is_prorated_to_the_measured_window() {
    // One request per second for 3 days, 100 ms at 1 GB: 259,200 requests and
    // 25,920 GB-s. The free tier for 3 days (a tenth of a 30-day month) is
    // 100,000 requests and 40,000 GB-s: requests (259,200 - 100,000) x $0.20/M
    // = $0.03184; duration fully free.
    let src = r#"
        seed = 1
        duration_s = 259200
        [workload]
        arrival = { kind = "constant", rate_per_s = 1 }
        work = { kind = "constant", ms = 100 }
        [[platforms]]
        kind = "lambda"
        memory_mb = 1024
        cpu_scaling = false
        init = { kind = "constant", ms = 0 }
        pricing = { free_tier = true }
    "#;
    let s = scenario::parse(src, Path::new("free.toml"), Overrides::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runs = run_scenario(&s, dir.path(), false).unwrap();
    let bill = &runs[0].bill;
    assert!(
        (bill.cost.requests - 0.031_84).abs() < 1e-9,
        "{}",
        bill.cost.requests
    );
    assert_eq!(bill.cost.compute, 0.0);
    // A month of it: 2.592 M requests -> (2.592 - 1) x $0.20 = $0.3184;
    // 259,200 GB-s < 400,000 free.
    assert!((bill.per_month_usd - 0.3184).abs() < 1e-9);
}

#[test]
fn warmup_requests_are_not_billed() {
    let src = r#"
        seed = 1
        duration_s = 100
        warmup_s = 50
        [workload]
        arrival = { kind = "constant", rate_per_s = 1 }
        work = { kind = "constant", ms = 100 }
        [[platforms]]
        kind = "lambda"
        memory_mb = 1024
        cpu_scaling = false
        init = { kind = "constant", ms = 0 }
    "#;
    let s = scenario::parse(src, Path::new("w.toml"), Overrides::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = &run_scenario(&s, dir.path(), false).unwrap()[0];
    assert_eq!(r.counts.requests, 50);
    // 50 requests x 0.1 GB-s.
    assert!((r.bill.cost.compute / 0.000_016_666_7 - 5.0).abs() < 1e-9);
    // A month at that rate: 2,592,000 requests x $0.20/M = $0.5184 and
    // 259,200 GB-s x $0.0000166667 = $4.32000864; total $4.83840864.
    assert!(
        (r.bill.per_month_usd - 4.838_408_64).abs() < 1e-8,
        "{}",
        r.bill.per_month_usd
    );
}
