//! Step-by-step Lambda lifecycle: cold start, warm reuse order, expiry,
//! recycling, timeout kill, throttling, both scaling buckets, reserved concurrency.

use surgesim::time::SimTime;

use crate::common::{Simulated, close, lambda_scenario, run_requests};

/// INIT 250 ms, 2,048 MB (a full vCPU: handler time = work), no overhead.
const BASE: &str = "memory_mb = 2048\ninit = { kind = \"constant\", ms = 250 }";

#[test]
fn first_request_cold_starts_then_the_environment_is_reused() {
    let s = lambda_scenario(BASE, &["f"], 100.0);
    let (rows, rec, _) = run_requests(&s, &[(0.0, 0, 100.0), (1.0, 0, 100.0), (2.0, 0, 100.0)]);
    assert!(rows[0].cold && !rows[1].cold && !rows[2].cold);
    // Cold: INIT then the handler; the handler starts after INIT.
    close(rows[0].start_s.unwrap(), 0.25);
    close(rows[0].latency_ms.unwrap(), 350.0);
    close(rows[1].latency_ms.unwrap(), 100.0);
    assert_eq!(rec.counts.cold_starts, 1);
    assert_eq!(rec.instances.peak(), 1);
}

#[test]
fn the_most_recently_freed_environment_is_reused() {
    // A holds env1 until 1.0, B holds env2 until 1.5. C at 2.0 must take env2
    // (freed last), so env1 idles from 1.0 and expires at 6.0, env2 at 7.1.
    // At 6.2 only env2 is left: D is warm and E needs a cold start. Had C
    // taken env1, both would still be alive at 6.2 and E would be warm.
    let s = lambda_scenario(
        "memory_mb = 2048\ninit = { kind = \"constant\", ms = 0 }\nkeep_alive = { kind = \"fixed\", idle_s = 5 }",
        &["f"],
        100.0,
    );
    let (rows, _, _) = run_requests(
        &s,
        &[
            (0.0, 0, 1000.0),
            (0.5, 0, 1000.0),
            (2.0, 0, 100.0),
            (6.2, 0, 100.0),
            (6.201, 0, 100.0),
        ],
    );
    let cold: Vec<bool> = rows.iter().map(|r| r.cold).collect();
    assert_eq!(cold, vec![true, true, false, false, true]);
}

#[test]
fn idle_environments_expire_after_idle_s() {
    let s = lambda_scenario(
        &format!("{BASE}\nkeep_alive = {{ kind = \"fixed\", idle_s = 10 }}"),
        &["f"],
        100.0,
    );
    // Ends at 0.35; idle until 10.35. 10.349 is warm (then ends at 10.449);
    // 20.449 is exactly the deadline and finds it gone.
    let (rows, _, _) = run_requests(
        &s,
        &[(0.0, 0, 100.0), (10.349, 0, 100.0), (20.449, 0, 100.0)],
    );
    let cold: Vec<bool> = rows.iter().map(|r| r.cold).collect();
    assert_eq!(cold, vec![true, false, true]);
}

#[test]
fn environments_are_recycled_at_max_lifetime() {
    let s = lambda_scenario(
        "memory_mb = 2048\ninit = { kind = \"constant\", ms = 0 }\n\
         keep_alive = { kind = \"fixed\", idle_s = 600, max_lifetime_s = 10 }",
        &["f"],
        100.0,
    );
    // Created at 0: idle at 9.1 but retired at 10.0, so 10.0 is cold. The new
    // environment (born 10.0) is busy across 20.0 and retired when that request ends.
    let (rows, rec, _) = run_requests(
        &s,
        &[
            (0.0, 0, 100.0),
            (9.0, 0, 100.0),
            (10.0, 0, 100.0),
            (19.95, 0, 100.0),
            (20.1, 0, 100.0),
        ],
    );
    let cold: Vec<bool> = rows.iter().map(|r| r.cold).collect();
    assert_eq!(cold, vec![true, false, true, false, true]);
    assert_eq!(rows[3].outcome, "completed");
    assert_eq!(rec.counts.cold_starts, 3);
}

#[test]
fn end_of_life_and_idle_expiry_retire_in_time_order_each_at_its_own_instant() {
    // Env A, born at 0, busy until 5.0, would idle until 13.0 but reaches
    // its end of life (10 s) at 10.0. Env B, born at 0.05 and idle from 0.15,
    // expires at 8.15 (idle_s = 8). Nothing happens between 5.0 and the
    // request at 30, so both retirements are settled late, at that request,
    // and must still land at their own instants, B's first. C lives from 30
    // to 38.1. Instance-seconds: 10 + 8.1 + 8.1.
    let s = lambda_scenario(
        "memory_mb = 2048\ninit = { kind = \"constant\", ms = 0 }\n\
         keep_alive = { kind = \"fixed\", idle_s = 8, max_lifetime_s = 10 }",
        &["f"],
        40.0,
    );
    let (rows, rec, _) = run_requests(&s, &[(0.0, 0, 5000.0), (0.05, 0, 100.0), (30.0, 0, 100.0)]);
    let cold: Vec<bool> = rows.iter().map(|r| r.cold).collect();
    assert_eq!(cold, vec![true, true, true]);
    close(rec.instances.mean() * 40.0, 10.0 + 8.1 + 8.1);
    assert_eq!(rec.instances.peak(), 2);
}

#[test]
fn a_handler_over_the_timeout_is_killed_and_its_environment_discarded() {
    let s = lambda_scenario(&format!("{BASE}\ntimeout_s = 1"), &["f"], 100.0);
    let (rows, rec, _) = run_requests(&s, &[(0.0, 0, 2500.0), (5.0, 0, 100.0)]);
    assert_eq!(rows[0].outcome, "timed_out");
    // Killed 1 s after the handler started (INIT 0.25 s first).
    close(rows[0].end_s.unwrap(), 1.25);
    assert!(rows[1].cold, "a killed environment is not reused");
    assert_eq!(rec.counts.timed_out, 1);
    assert_eq!(rec.counts.completed, 1);
    // Latency percentiles cover completed requests only.
    close(rec.max_ms().unwrap(), 350.0);
}

#[test]
fn exactly_the_timeout_completes() {
    let s = lambda_scenario(&format!("{BASE}\ntimeout_s = 1"), &["f"], 100.0);
    let (rows, _, _) = run_requests(&s, &[(0.0, 0, 1000.0)]);
    assert_eq!(rows[0].outcome, "completed");
}

#[test]
fn account_concurrency_throttles_the_excess() {
    let s = lambda_scenario(&format!("{BASE}\naccount_concurrency = 2"), &["f"], 100.0);
    let (rows, rec, _) = run_requests(
        &s,
        &[
            (0.0, 0, 1000.0),
            (0.001, 0, 1000.0),
            (0.002, 0, 1000.0),
            (2.0, 0, 100.0),
        ],
    );
    let outcomes: Vec<&str> = rows.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        vec!["completed", "completed", "throttled", "completed"]
    );
    assert_eq!(rows[2].start_s, None);
    assert_eq!(rows[2].latency_ms, None);
    assert_eq!(rec.counts.throttled, 1);
    assert_eq!(rec.in_service.peak(), 2);
}

#[test]
fn the_per_function_bucket_limits_new_environments() {
    // 2 tokens, refilled at 0.2/s: one new token every 5 s.
    let s = lambda_scenario(
        &format!("{BASE}\nscaling = {{ kind = \"per_function\", per_10s = 2 }}"),
        &["a", "b"],
        100.0,
    );
    let long = 500_000.0;
    let (rows, _, _) = run_requests(
        &s,
        &[
            (0.0, 0, long),
            (0.001, 0, long),
            (0.002, 0, long), // bucket of `a` empty
            (0.003, 1, long), // `b` has its own bucket
            (4.9, 0, long),   // 0.98 tokens: still throttled
            (5.003, 0, long), // a full token again
            (5.004, 0, long),
        ],
    );
    let outcomes: Vec<&str> = rows.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        vec![
            "in_flight",
            "in_flight",
            "throttled",
            "in_flight",
            "throttled",
            "in_flight",
            "throttled"
        ]
    );
}

#[test]
fn the_legacy_bucket_is_shared_by_the_account() {
    // burst 3, 60 per minute (1/s), shared by both functions.
    let s = lambda_scenario(
        &format!("{BASE}\nscaling = {{ kind = \"legacy\", burst = 3, per_minute = 60 }}"),
        &["a", "b"],
        100.0,
    );
    let long = 500_000.0;
    let (rows, _, _) = run_requests(
        &s,
        &[
            (0.0, 0, long),
            (0.001, 1, long),
            (0.002, 0, long),
            (0.003, 1, long), // the account's burst is spent
            (1.002, 1, long), // one token per second
            (1.003, 0, long),
        ],
    );
    let outcomes: Vec<&str> = rows.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        vec![
            "in_flight",
            "in_flight",
            "in_flight",
            "throttled",
            "in_flight",
            "throttled"
        ]
    );
}

#[test]
fn warm_reuse_needs_no_token() {
    let s = lambda_scenario(
        &format!("{BASE}\nscaling = {{ kind = \"per_function\", per_10s = 1 }}"),
        &["f"],
        100.0,
    );
    let (rows, _, _) = run_requests(&s, &[(0.0, 0, 100.0), (1.0, 0, 100.0), (2.0, 0, 100.0)]);
    assert!(rows.iter().all(|r| r.outcome == "completed"));
}

#[test]
fn reserved_concurrency_caps_its_function_and_is_withheld_from_others() {
    // Account 103: `a` reserves 2 and 101 stay unreserved (AWS keeps at least 100).
    let s = lambda_scenario(
        &format!("{BASE}\naccount_concurrency = 103\nreserved_concurrency = {{ a = 2 }}"),
        &["a", "b"],
        100.0,
    );
    let long = 500_000.0;
    let mut reqs = vec![(0.0, 0, long), (0.0001, 0, long), (0.0002, 0, long)];
    for i in 0..102 {
        reqs.push((0.001 + i as f64 * 1e-5, 1, long));
    }
    let (rows, _, _) = run_requests(&s, &reqs);
    let count = |f: &str, o: &str| {
        rows.iter()
            .filter(|r| r.function == f && r.outcome == o)
            .count()
    };
    assert_eq!(count("a", "in_flight"), 2);
    assert_eq!(count("a", "throttled"), 1);
    // `b` gets the 101 unreserved, never `a`'s reservation.
    assert_eq!(count("b", "in_flight"), 101);
    assert_eq!(count("b", "throttled"), 1);
}

#[test]
fn reserved_zero_throttles_everything() {
    let s = lambda_scenario(&format!("{BASE}\nreserved_concurrency = 0"), &["f"], 100.0);
    let (rows, _, _) = run_requests(&s, &[(0.0, 0, 100.0), (1.0, 0, 100.0)]);
    assert!(rows.iter().all(|r| r.outcome == "throttled"));
}

#[test]
fn memory_below_one_vcpu_slows_the_handler() {
    // 512 MB is 512/1769 of a vCPU: 100 ms of work takes 100 x 1769 / 512 ms.
    let s = lambda_scenario(
        "memory_mb = 512\ninit = { kind = \"constant\", ms = 0 }",
        &["f"],
        100.0,
    );
    let (rows, _, _) = run_requests(&s, &[(0.0, 0, 100.0)]);
    close(rows[0].latency_ms.unwrap(), 345.507813);
    let s = lambda_scenario(
        "memory_mb = 512\ncpu_scaling = false\ninit = { kind = \"constant\", ms = 0 }",
        &["f"],
        100.0,
    );
    close(
        run_requests(&s, &[(0.0, 0, 100.0)]).0[0]
            .latency_ms
            .unwrap(),
        100.0,
    );
    // Above 1,769 MB a single-threaded handler gets no faster.
    let s = lambda_scenario(
        "memory_mb = 10240\ninit = { kind = \"constant\", ms = 0 }",
        &["f"],
        100.0,
    );
    close(
        run_requests(&s, &[(0.0, 0, 100.0)]).0[0]
            .latency_ms
            .unwrap(),
        100.0,
    );
}

#[test]
fn an_init_past_ten_seconds_is_retried_at_the_invocation() {
    // Lambda developer guide, 'Understanding the Lambda execution environment
    // lifecycle': the Init phase is limited to 10 s; Lambda then retries it
    // at the first invocation, within the function timeout. A 15 s INIT: 10 s
    // lost, the 15 s INIT again, then the 100 ms handler; all of it billed.
    let s = lambda_scenario(
        "memory_mb = 2048\ninit = { kind = \"constant\", s = 15 }",
        &["f"],
        100.0,
    );
    let (rows, _, bill) = run_requests(&s, &[(0.0, 0, 100.0)]);
    close(rows[0].latency_ms.unwrap(), 10_000.0 + 15_000.0 + 100.0);
    close(rows[0].start_s.unwrap(), 25.0);
    assert!(rows[0].cold && rows[0].outcome == "completed");
    // 25.1 s x 2 GB x $0.0000166667 per GB-s, plus $0.20 per million requests.
    let expected = 25.1 * 2.0 * 0.000_016_666_7 + 0.2e-6;
    assert!(
        (bill.cost.total() - expected).abs() < 1e-9,
        "{}",
        bill.cost.total()
    );
    // No cap on the sample: a 30 s INIT gives 10 + 30 s before the handler.
    let s = lambda_scenario(
        "memory_mb = 2048\ninit = { kind = \"constant\", s = 30 }",
        &["f"],
        100.0,
    );
    let (rows, _, _) = run_requests(&s, &[(0.0, 0, 100.0)]);
    close(rows[0].latency_ms.unwrap(), 40_100.0);
    // The retried INIT runs within the timeout: 20 s of timeout, a 15 s
    // INIT and a 10 s handler are killed 20 s into the invocation, at 30 s.
    let s = lambda_scenario(
        "memory_mb = 2048\ntimeout_s = 20\ninit = { kind = \"constant\", s = 15 }",
        &["f"],
        100.0,
    );
    let (rows, _, _) = run_requests(&s, &[(0.0, 0, 10_000.0)]);
    assert_eq!(rows[0].outcome, "timed_out");
    close(rows[0].end_s.unwrap(), 30.0);
    // An INIT of exactly 10 s is within the limit: no retry.
    let s = lambda_scenario(
        "memory_mb = 2048\ninit = { kind = \"constant\", s = 10 }",
        &["f"],
        100.0,
    );
    let (rows, _, _) = run_requests(&s, &[(0.0, 0, 100.0)]);
    close(rows[0].latency_ms.unwrap(), 10_100.0);
}

#[test]
fn overhead_adds_to_latency_not_to_the_handler() {
    let s = lambda_scenario(&format!("{BASE}\noverhead_ms = 15"), &["f"], 100.0);
    let (rows, rec, _) = run_requests(&s, &[(0.0, 0, 100.0), (1.0, 0, 100.0)]);
    close(rows[1].latency_ms.unwrap(), 115.0);
    close(rows[1].end_s.unwrap(), 1.1);
    close(rec.mean_ms().unwrap(), (365.0 + 115.0) / 2.0);
}

#[test]
fn requests_running_at_the_horizon_are_in_flight() {
    let s = lambda_scenario(BASE, &["f"], 10.0);
    let (rows, rec, _) = run_requests(&s, &[(9.0, 0, 5000.0), (9.9, 0, 5000.0)]);
    assert!(rows.iter().all(|r| r.outcome == "in_flight"));
    // The first had started its handler; the second was still in INIT.
    close(rows[0].start_s.unwrap(), 9.25);
    assert_eq!(rows[1].start_s, None);
    assert_eq!(rows[0].end_s, None);
    assert_eq!(rec.counts.in_flight_end, 2);
    assert_eq!(rec.quantile_ms(0.5), None);
}

#[test]
fn time_averages_by_hand() {
    // One request at 0: INIT 250 ms + 100 ms, then idle until 5.35 s.
    let s = lambda_scenario(
        &format!("{BASE}\nkeep_alive = {{ kind = \"fixed\", idle_s = 5 }}"),
        &["f"],
        20.0,
    );
    let (_, rec, _) = run_requests(&s, &[(0.0, 0, 100.0)]);
    close(rec.instances.mean(), 5.35 / 20.0);
    close(rec.in_service.mean(), 0.35 / 20.0);
    assert_eq!((rec.instances.peak(), rec.in_service.peak()), (1, 1));
    // With a 2 s warm-up the window is [2, 20): the environment idles through 5.35 s.
    let mut s = s;
    s.warmup = SimTime::from_secs_f64(2.0);
    s.window.0 = s.warmup;
    let (_, rec, _) = run_requests(&s, &[(0.0, 0, 100.0)]);
    close(rec.instances.mean(), 3.35 / 18.0);
    close(rec.in_service.mean(), 0.0);
    assert_eq!((rec.instances.peak(), rec.in_service.peak()), (1, 0));
    assert_eq!(rec.counts.requests, 0);
}

#[test]
fn quantiles_of_identical_latencies_equal_them() {
    let s = lambda_scenario(
        "memory_mb = 2048\ninit = { kind = \"constant\", ms = 0 }",
        &["f"],
        100.0,
    );
    let reqs: Vec<(f64, u32, f64)> = (0..50).map(|i| (i as f64, 0, 100.2)).collect();
    let (_, rec, _) = run_requests(&s, &reqs);
    close(rec.max_ms().unwrap(), 100.2);
    for q in [0.5, 0.95, 0.999] {
        let v = rec.quantile_ms(q).unwrap();
        // Kept within the exact minimum and maximum: exact here.
        close(v, 100.2);
    }
}

/// One request every 20 minutes, beyond the fixed 10-minute window: every
/// request is a cold start under `fixed`; `hybrid_histogram` learns the
/// 20-minute idle time once it has `min_samples` (10) of them, and keeps the
/// environment warm from then on: requests 1 to 11 are cold (the window set
/// at the end of request k uses the k - 1 idle times seen so far), the other
/// 19 warm.
#[test]
fn the_hybrid_histogram_policy_learns_a_periodic_function() {
    let scenario = |keep_alive: &str| {
        format!(
            r#"
            seed = 1
            duration_s = 36000
            [workload]
            arrival = {{ kind = "constant", rate_per_s = {rate} }}
            work = {{ kind = "constant", ms = 100 }}
            [[platforms]]
            kind = "lambda"
            memory_mb = 1769
            init = {{ kind = "constant", ms = 200 }}
            keep_alive = {keep_alive}
            "#,
            rate = 1.0 / 1200.0
        )
    };
    let fixed = Simulated::text(
        &scenario(r#"{ kind = "fixed", idle_s = 600, max_lifetime_s = 1e6 }"#),
        false,
    );
    assert_eq!(fixed.runs[0].counts.requests, 30);
    assert_eq!(fixed.runs[0].counts.cold_starts, 30);
    let hybrid = Simulated::text(
        &scenario(r#"{ kind = "hybrid_histogram", max_lifetime_s = 1e6 }"#),
        false,
    );
    assert_eq!(hybrid.runs[0].counts.requests, 30);
    assert_eq!(hybrid.runs[0].counts.cold_starts, 11);
    // The price of the warm starts: under the fixed window an environment
    // lives 600.3 s of every 1,200 s; under the hybrid policy requests 1 to
    // 10 each leave one for 600.3 s and request 11's (created at 12,000 s)
    // stays to the horizon: (10 x 600.3 + 24,000) / 36,000 = 0.8334.
    let (h, f) = (hybrid.runs[0].instances.mean, fixed.runs[0].instances.mean);
    assert!((f - 600.3 / 1200.0).abs() < 0.001, "{f}");
    assert!(
        (h - (10.0 * 600.3 + 24_000.0) / 36_000.0).abs() < 0.001,
        "{h}"
    );
}
