//! Lambda in depth: provisioned concurrency, async invocation, client
//! retries, volume tiers and the front door.

use surgesim::metrics::summary::RunSummary;

use crate::common::{Simulated, close, cost_at, lambda_scenario, parse_rows, run_requests};

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// Runs scenario text; returns the runs and requests.csv.
fn run(src: &str) -> (Vec<RunSummary>, String) {
    let sim = Simulated::text(src, true);
    let requests = sim.read("requests.csv");
    (sim.runs, requests)
}

#[test]
fn requests_within_provisioned_capacity_never_cold_start() {
    let s = lambda_scenario(
        "memory_mb = 2048\nprovisioned_concurrency = 2\ninit = { kind = \"constant\", ms = 250 }",
        &["f"],
        100.0,
    );
    let (rows, rec, _) = run_requests(
        &s,
        &[
            (0.0, 0, 1000.0),
            (0.1, 0, 1000.0),
            (0.2, 0, 1000.0), // both provisioned environments busy: spills over
            (5.0, 0, 100.0),  // provisioned first again
            (5.001, 0, 100.0),
        ],
    );
    let cold: Vec<bool> = rows.iter().map(|r| r.cold).collect();
    assert_eq!(cold, vec![false, false, true, false, false]);
    close(rows[0].latency_ms.unwrap(), 1000.0);
    close(rows[2].latency_ms.unwrap(), 1250.0);
    // 2 provisioned + the on-demand one.
    assert_eq!(rec.instances.peak(), 3);
}

#[test]
fn provisioned_environments_count_against_concurrency() {
    // Account 105 with 5 provisioned (the most it allows: 100 stay
    // unallocated): 5 requests take the provisioned environments, 100 go
    // on demand, and the last 5 find the account full.
    let s = lambda_scenario(
        "memory_mb = 2048\naccount_concurrency = 105\nprovisioned_concurrency = 5\ninit = { kind = \"constant\", ms = 0 }",
        &["f"],
        100.0,
    );
    let reqs: Vec<(f64, u32, f64)> = (0..110).map(|i| (i as f64 * 1e-4, 0, 50_000.0)).collect();
    let (rows, _, _) = run_requests(&s, &reqs);
    let throttled = rows.iter().filter(|r| r.outcome == "throttled").count();
    assert_eq!(throttled, 5);
}

#[test]
fn the_running_cost_prices_executing_provisioned_requests_at_the_provisioned_rate() {
    // One provisioned environment of 2 GB runs one request from 0.5 s to
    // 10.5 s. Between the time-series edges at 4 s and 5 s the running cost
    // grows by 1 s x 2 GB at the provisioned duration price ($0.0000097222
    // per GB-s, platform-facts 1.4), not the on-demand one.
    let s = lambda_scenario(
        "memory_mb = 2048\nprovisioned_concurrency = 1\ninit = { kind = \"constant\", ms = 0 }",
        &["f"],
        20.0,
    );
    let (_, rec, _) = run_requests(&s, &[(0.5, 0, 10_000.0)]);
    let cost_at = |t: f64| cost_at(&rec, t);
    let step = cost_at(5.0) - cost_at(4.0);
    assert!((step - 2.0 * 0.000_009_722_2).abs() < 1e-12, "{step}");
}

#[test]
fn the_running_cost_counts_every_executing_request_of_every_function_once() {
    // Three 10 s requests of 2 GB on demand, one of the first function and
    // two of the last, run across the time-series edges at 4 s and 5 s:
    // the running cost grows by 3 x 1 s x 2 GB at $0.0000166667 per GB-s
    // (x86, platform-facts 1.2) between them, and by nothing once they have
    // all finished.
    let s = lambda_scenario(
        "memory_mb = 2048\ninit = { kind = \"constant\", ms = 0 }",
        &["a", "b", "c"],
        20.0,
    );
    let (_, rec, _) = run_requests(
        &s,
        &[(0.5, 0, 10_000.0), (0.5, 2, 10_000.0), (0.6, 2, 10_000.0)],
    );
    let cost_at = |t: f64| cost_at(&rec, t);
    let step = cost_at(5.0) - cost_at(4.0);
    assert!((step - 3.0 * 2.0 * 0.000_016_666_7).abs() < 1e-11, "{step}");
    assert!((cost_at(15.0) - cost_at(12.0)).abs() < 1e-15);
}

#[test]
fn a_provisioned_schedule_adds_and_removes_environments() {
    let s = lambda_scenario(
        "memory_mb = 2048\nprovisioned_concurrency = 1\n\
         provisioned_schedule = [{ at_s = 10, value = 3 }, { at_s = 20, value = 0 }]\n\
         init = { kind = \"constant\", ms = 250 }",
        &["f"],
        30.0,
    );
    let (rows, _, _) = run_requests(
        &s,
        &[
            (1.0, 0, 5000.0),
            (2.0, 0, 100.0), // the one provisioned environment is busy: cold
            (11.0, 0, 100.0),
            (11.1, 0, 100.0),
            (11.2, 0, 100.0), // 3 provisioned from 10 s
            (21.0, 0, 100.0), // none from 20 s; the on-demand one from 2 s idles
            (21.1, 0, 100.0),
        ],
    );
    let cold: Vec<bool> = rows.iter().map(|r| r.cold).collect();
    assert_eq!(cold, vec![false, true, false, false, false, false, false]);
    // The on-demand environment from 2 s serves 21.0 and 21.1 (one after the other).
    close(rows[6].latency_ms.unwrap(), 100.0);
}

/// One hour, 100 provisioned environments of 10 GB, 50 req/s of 999 ms
/// (all served by provisioned environments):
///
/// - configured: 100 x 10 GB x 3,600 s = 3,600,000 GB-s x $0.0000041667 = $15.00012
/// - served: 179,951 completed x 999 ms + the 49 in flight at the horizon
///   (980 - 20j ms, j = 0..48: 24,500 ms) = 179,795,549 ms x 10 GB
///   = 1,797,955.49 GB-s x $0.0000097222 = $17.480083
/// - requests: 180,000 x $0.20 / 1e6 = $0.036
#[test]
fn provisioned_concurrency_bill_by_hand() {
    let src = |duration: u32| {
        format!(
            r#"
            name = "pc"
            seed = 1
            duration_s = {duration}
            [workload]
            arrival = {{ kind = "constant", rate_per_s = 50 }}
            work = {{ kind = "constant", ms = 999 }}
            [[platforms]]
            kind = "lambda"
            memory_mb = 10240
            provisioned_concurrency = 100
            account_concurrency = 1000
            pricing = {{ free_tier = true }}
            "#
        )
    };
    let (runs, _) = run(&src(3600));
    let r = &runs[0];
    assert_eq!(r.counts.cold_starts, 0);
    let c = &r.bill.cost;
    assert!(
        (c.provisioned - 15.000_12).abs() < 1e-6,
        "{}",
        c.provisioned
    );
    assert!(
        (c.compute - 17.480_082_864_878).abs() < 1e-6,
        "{}",
        c.compute
    );
    // No free tier for a function with provisioned concurrency.
    assert_eq!(cents(c.requests), 4);
    assert!((c.requests - 0.036).abs() < 1e-12);
    // Rounded up to five minutes: 3,610 s of configuration bill 3,900 s.
    let (runs, _) = run(&src(3610));
    let expected = 100.0 * 10.0 * 3900.0 * 0.000_004_166_7;
    assert!((runs[0].bill.cost.provisioned - expected).abs() < 1e-6);
    assert_eq!(cents(runs[0].bill.cost.provisioned), 1625);
}

/// One hour at a constant 300 req/s of 999 ms at 10,240 MB: 10,787,708.99
/// GB-s (299 requests in flight at the horizon, billed so far). A month at
/// that rate is 7,767,150,472.8 GB-s, past the first x86 tier (6 B):
/// 6e9 x $0.0000166667 + 1,767,150,472.8 x $0.000015 = $126,507.457092,
/// plus 777.6 M requests x $0.20/M = $155.52: $126,662.98 a month, and the
/// hour's compute is a 720th of the month's: $175.70.
#[test]
fn duration_tiers_apply_across_a_boundary_by_hand() {
    let src = r#"
        name = "tiers"
        seed = 1
        duration_s = 3600
        [workload]
        arrival = { kind = "constant", rate_per_s = 300 }
        work = { kind = "constant", ms = 999 }
        [[platforms]]
        kind = "lambda"
        memory_mb = 10240
        init = { kind = "constant", ms = 0 }
    "#;
    let (runs, _) = run(src);
    let r = &runs[0];
    assert_eq!(r.counts.in_flight_end, 299);
    assert_eq!(cents(r.bill.per_month_usd), 12_666_298);
    assert_eq!(cents(r.bill.cost.compute), 17_570);
    assert!((r.bill.cost.requests - 0.216).abs() < 1e-9);
}

#[test]
fn the_front_door_charges_every_request_even_throttled() {
    // 10,000 requests at 10/s through an HTTP API ($1.00 per million), with
    // a concurrency of 1 so most are throttled: $0.01 whatever happened.
    let src = r#"
        name = "fd"
        seed = 1
        duration_s = 1000
        [workload]
        arrival = { kind = "constant", rate_per_s = 10 }
        work = { kind = "constant", ms = 500 }
        [[platforms]]
        kind = "lambda"
        account_concurrency = 1
        pricing = { api_gateway_per_million = 1.0 }
    "#;
    let (runs, _) = run(src);
    let r = &runs[0];
    assert!(r.counts.throttled > 5000);
    assert!((r.bill.cost.front_door - 0.01).abs() < 1e-12);
}

fn async_burst(max_age_s: u32) -> String {
    format!(
        r#"
        name = "async"
        seed = 2
        duration_s = 7200
        [workload]
        arrival = {{ kind = "phases", phases = [{{ duration_s = 10, rate_per_s = 100 }}, {{ duration_s = 7190, rate_per_s = 0 }}] }}
        work = {{ kind = "constant", ms = 2000 }}
        [[platforms]]
        kind = "lambda"
        memory_mb = 2048
        account_concurrency = 20
        invocation = "async"
        async = {{ max_event_age_s = {max_age_s} }}
        init = {{ kind = "constant", ms = 0 }}
        "#
    )
}

#[test]
fn an_async_burst_beyond_concurrency_loses_nothing_within_the_event_age() {
    // ~1,000 events of 2 s against 20 environments: 10 events/s of capacity,
    // so the backlog takes about 100 s (longer with the retry backoff).
    let (runs, requests) = run(&async_burst(3600));
    let c = &runs[0].counts;
    assert!(c.requests > 900);
    assert_eq!(c.dropped, 0);
    assert_eq!(c.throttled, 0);
    assert_eq!(c.completed, c.requests);
    // Latency is measured from the original arrival, waits included.
    let rows = parse_rows(&requests);
    let late = rows
        .iter()
        .filter(|r| r.latency_ms.unwrap() > 30_000.0)
        .count();
    assert!(late > 100, "{late}");
}

#[test]
fn async_events_past_the_maximum_age_are_dropped_and_only_those() {
    let (runs, requests) = run(&async_burst(60));
    let c = &runs[0].counts;
    assert!(c.dropped > 0 && c.completed > 0);
    assert_eq!(c.completed + c.dropped, c.requests);
    for r in parse_rows(&requests) {
        match r.outcome.as_str() {
            // Dropped exactly when the event turns 60 s old.
            "dropped" => close(r.end_s.unwrap() - r.arrival_s, 60.0),
            // Everything else started within its 60 s.
            "completed" => assert!(r.start_s.unwrap() - r.arrival_s <= 60.0 + 1e-9),
            other => panic!("unexpected outcome {other}"),
        }
    }
}

fn throttling(retries: &str) -> String {
    format!(
        r#"
        name = "retries"
        seed = 4
        duration_s = 20000
        [workload]
        arrival = {{ kind = "poisson", rate_per_s = 12 }}
        work = {{ kind = "exponential", mean_ms = 1000 }}
        [[platforms]]
        kind = "lambda"
        memory_mb = 2048
        account_concurrency = 12
        init = {{ kind = "constant", ms = 0 }}
        {retries}
        "#
    )
}

#[test]
fn retries_lower_throttling_and_add_their_waits_to_latency() {
    let (none, _) = run(&throttling(""));
    let (with, requests) = run(&throttling(
        "retries = { max_attempts = 4, base_ms = 200, cap_ms = 5000 }",
    ));
    let (n, w) = (&none[0], &with[0]);
    let rate = |r: &RunSummary| r.counts.throttled as f64 / r.counts.requests as f64;
    // 12 erlangs on 12 environments: Erlang B(12, 12) = 0.1986 throttled
    // without retries (20,000 s: the estimate's sd is ~0.002). Retries turn
    // many of those into late successes, though at full load the retried
    // attempts also add load: the fraction falls from ~0.20 to ~0.12.
    assert!((rate(n) - 0.1986).abs() < 0.01, "{}", rate(n));
    assert!(rate(w) < 0.75 * rate(n), "{} vs {}", rate(w), rate(n));
    assert!(w.latency.mean.unwrap() > n.latency.mean.unwrap());
    assert!(w.latency.p99.unwrap() > n.latency.p99.unwrap());
    // Waits count: some successes started well after they arrived.
    let rows = parse_rows(&requests);
    assert!(
        rows.iter()
            .any(|r| r.outcome == "completed" && r.start_s.unwrap() - r.arrival_s > 0.2)
    );
    // Only started attempts are charged: one per completed or running request.
    let c = &w.counts;
    let started = (c.completed + c.timed_out) as f64;
    let charged = w.bill.cost.requests / 0.2 * 1e6;
    assert!(
        charged >= started && charged <= started + c.in_flight_end as f64,
        "{charged} {started}"
    );
}

/// 5,000 functions (past the count from which the model prefetches its
/// per-function state ahead of each arrival, `PREFETCH_FROM_FUNCTIONS`),
/// their requests interleaved:
/// each function's first request starts cold, its second (after the first
/// ended) reuses that environment, a third while the second runs starts a
/// second cold one, and a fourth after both idled past `idle_s` is cold
/// again. Every request completes, at 100 ms warm and 350 ms cold.
#[test]
fn many_interleaved_functions_keep_their_own_warm_environments() {
    let n_functions = surgesim::platform::lambda::PREFETCH_FROM_FUNCTIONS + 904;
    let n = u32::try_from(n_functions).unwrap();
    let names: Vec<String> = (0..n).map(|f| format!("f{f}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let s = lambda_scenario(
        "memory_mb = 1769\ninit = { kind = \"constant\", ms = 250 }\nkeep_alive = { kind = \"fixed\", idle_s = 20 }",
        &names,
        100.0,
    );
    // 1,769 MB is one vCPU: 100 ms of work takes 100 ms.
    // (offset from the function's first arrival [s], cold start expected).
    let pattern = [(0.0, true), (10.0, false), (10.0505, true), (60.0, true)];
    let mut requests: Vec<(f64, u32, f64)> = (0..n)
        .flat_map(|f| {
            pattern
                .iter()
                .map(move |&(dt, _)| (f64::from(f) * 0.001 + dt, f, 100.0))
        })
        .collect();
    requests.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (rows, rec, _) = run_requests(&s, &requests);
    assert_eq!(rows.len(), requests.len());
    assert_eq!(rec.counts.completed, requests.len() as u64);
    for (row, &(t, f, _)) in rows.iter().zip(&requests) {
        assert_eq!(row.function, format!("f{f}"));
        let dt = t - f64::from(f) * 0.001;
        let &(_, cold) = pattern
            .iter()
            .find(|(p, _)| (p - dt).abs() < 1e-6)
            .expect("a pattern offset");
        assert_eq!(row.cold, cold, "function {f} at {t} s");
        close(row.latency_ms.unwrap(), if cold { 350.0 } else { 100.0 });
    }
}
