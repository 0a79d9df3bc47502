//! The Lambda model against queueing theory.
//!
//! With Poisson arrivals, a concurrency cap of c, no INIT and a bucket that
//! never runs dry, Lambda is an M/G/c/c loss system: a request finding c
//! environments busy is throttled. Its blocking probability is Erlang B,
//! whatever the work distribution (insensitivity), and Little's law ties mean
//! concurrency to throughput and latency.

use std::path::Path;

use surgesim::cli::run_scenario;

use crate::common::erlang_c;
use surgesim::metrics::summary::RunSummary;
use surgesim::scenario::{self, Overrides};

/// Erlang B by the stable recursion B(k) = A B(k-1) / (k + A B(k-1)).
fn erlang_b(c: u32, a: f64) -> f64 {
    (1..=c).fold(1.0, |b, k| a * b / (f64::from(k) + a * b))
}

fn run(src: &str) -> Vec<RunSummary> {
    let s = scenario::parse(src, Path::new("v.toml"), Overrides::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    run_scenario(&s, dir.path(), false).unwrap()
}

fn loss_scenario(seed: u64, work: &str) -> String {
    format!(
        r#"
        seed = {seed}
        duration_s = 100000
        warmup_s = 1000
        [workload]
        arrival = {{ kind = "poisson", rate_per_s = 8 }}
        work = {work}
        [[platforms]]
        kind = "lambda"
        memory_mb = 2048
        account_concurrency = 10
        init = {{ kind = "constant", ms = 0 }}
        "#
    )
}

#[test]
fn throttling_matches_erlang_b() {
    // lambda = 8/s, mean work 1 s, c = 10: offered load A = 8 erlangs,
    // B(10, 8) = 0.12166.
    let expected = erlang_b(10, 8.0);
    assert!((expected - 0.121_661).abs() < 1e-6);
    for work in [
        r#"{ kind = "exponential", mean_ms = 1000 }"#,
        // Insensitivity: same blocking for a lognormal of the same mean
        // (median 0.8 s, sigma 0.668 -> mean 1.0 s).
        r#"{ kind = "lognormal", mu = -0.22314355, sigma = 0.66805 }"#,
    ] {
        let r = &run(&loss_scenario(3, work))[0];
        let c = &r.counts;
        let blocked = c.throttled as f64 / c.requests as f64;
        // ~792,000 measured arrivals. Blocking events are correlated over a
        // busy period (~1 s), so the estimator's standard error exceeds the
        // binomial sqrt(p(1-p)/n) = 0.00037: over seeds 1..20 (exponential
        // work) the run-to-run standard deviation measured 0.0006, mean
        // 0.12176. A band of 0.003 (2.5 % relative) is 5 standard deviations,
        // and a model error as small as one extra environment (B(11, 8) =
        // 0.0813) or a wrong reuse rule fails it by far.
        assert!(
            (blocked - expected).abs() < 0.003,
            "{work}: {blocked} vs {expected}"
        );
    }
}

#[test]
fn littles_law_holds_for_concurrency() {
    // With cold starts on (lognormal INIT) the time in service includes INIT:
    // mean concurrency = throughput x mean time in service (latency here, as
    // there is no overhead). Both sides are measured on the same run; they
    // differ only by the requests straddling the window edges (a few seconds'
    // worth out of 50,000 s), so they agree to well under 1 %.
    let src = r#"
        seed = 5
        duration_s = 50000
        warmup_s = 500
        [workload]
        arrival = { kind = "diurnal", mean_per_s = 30, amplitude = 0.9, period_s = 3600 }
        work = { kind = "lognormal", median_ms = 120, p99_ms = 900 }
        [[platforms]]
        kind = "lambda"
        memory_mb = 1024
        keep_alive = { kind = "fixed", idle_s = 60 }
    "#;
    let r = &run(src)[0];
    let c = &r.counts;
    assert!(c.cold_starts > 1000, "the test should exercise cold starts");
    assert_eq!(c.throttled, 0);
    let window_s = 49_500.0;
    let throughput = c.completed as f64 / window_s;
    let little = throughput * r.latency.mean.unwrap() / 1e3;
    let measured = r.concurrency.mean;
    assert!(
        (measured / little - 1.0).abs() < 0.005,
        "{measured} vs {little}"
    );
}

#[test]
fn every_request_is_accounted_for() {
    let src = r#"
        seed = 9
        duration_s = 2000
        warmup_s = 100
        [workload]
        arrival = { kind = "spike", base_per_s = 20, spikes = [{ at_s = 600, duration_s = 60, rate_per_s = 2000 }] }
        work = { kind = "pareto", scale_ms = 50, shape = 1.5, max_ms = 30000 }
        [[platforms]]
        kind = "lambda"
        memory_mb = 512
        timeout_s = 3
        account_concurrency = 150
        scaling = { kind = "per_function", per_10s = 40 }
    "#;
    let r = &run(src)[0];
    let c = &r.counts;
    assert!(c.throttled > 0 && c.timed_out > 0 && c.completed > 0);
    assert_eq!(c.requests, c.accounted());
    assert!(r.concurrency.peak <= 150);
}

fn pool_scenario(seed: u64, rate: f64, servers: u32, queue: u32, duration_s: f64) -> String {
    format!(
        r#"
        seed = {seed}
        duration_s = {duration_s}
        warmup_s = 1000
        [workload]
        arrival = {{ kind = "poisson", rate_per_s = {rate} }}
        work = {{ kind = "exponential", mean_ms = 1000 }}
        [[platforms]]
        kind = "fixed_pool"
        servers = {servers}
        queue_capacity = {queue}
        "#
    )
}

#[test]
fn a_fixed_pool_waits_as_erlang_c_says() {
    // M/M/10, lambda = 8/s, mean service 1 s: a = 8, C(10, 8) = 0.40918,
    // mean wait W = C / (c mu - lambda) = 0.2046 s, mean latency 1.2046 s.
    let c = erlang_c(10, 8.0);
    assert!((c - 0.409_18).abs() < 1e-4, "{c}");
    let expected_ms = (c / 2.0 + 1.0) * 1e3;
    let r = &run(&pool_scenario(4, 8.0, 10, 100_000_000, 201_000.0))[0];
    assert_eq!(r.counts.rejected, 0);
    // 1.6 M measured arrivals; the waits are correlated over busy periods,
    // so the spread is wider than independent samples would give: over seeds
    // 1..10 the mean measured 1204.1 ms, standard deviation 1.7 ms (0.14 %).
    // A 1 % band is 7 of them, while one server fewer (C(9, 8) = 0.67, mean
    // 1.67 s) or service at another speed fails it by far.
    let mean = r.latency.mean.unwrap();
    assert!(
        (mean / expected_ms - 1.0).abs() < 0.01,
        "{mean} ms vs {expected_ms} ms"
    );
    // Little's law on the servers: busy servers = throughput x service time = 8.
    assert!(
        (r.concurrency.mean / 8.0 - 1.0).abs() < 0.01,
        "{}",
        r.concurrency.mean
    );
}

#[test]
fn a_fixed_pool_with_a_short_queue_rejects_as_mmck_says() {
    // M/M/2/5 (2 servers, 3 places in the queue), lambda = 2/s, mu = 1/s:
    // P(block) = p_N, p_k = p_0 a^k / k! for k < c, p_0 a^k / (c! c^(k-c))
    // for c <= k <= N.
    let (c, n, a) = (2u32, 5u32, 2.0f64);
    let fact = |k: u32| (1..=k).map(f64::from).product::<f64>();
    let term = |k: u32| {
        if k < c {
            a.powi(k as i32) / fact(k)
        } else {
            a.powi(k as i32) / (fact(c) * f64::from(c).powi((k - c) as i32))
        }
    };
    let p0 = 1.0 / (0..=n).map(term).sum::<f64>();
    let expected = p0 * term(n);
    // Every state from 2 on weighs 2 (a = c = 2): p_0 = 1/11, p_5 = 2/11.
    assert!((expected - 2.0 / 11.0).abs() < 1e-12, "{expected}");
    let r = &run(&pool_scenario(6, 2.0, 2, 3, 201_000.0))[0];
    let blocked = r.counts.rejected as f64 / r.counts.requests as f64;
    // 400,000 arrivals; over seeds 1..10 the blocking measured a mean of
    // 0.18184 and a standard deviation of 0.00048. A band of 0.003 is 6 of
    // them; a queue one place longer (p = 2/13 = 0.154) fails it.
    assert!(
        (blocked - expected).abs() < 0.003,
        "{blocked} vs {expected}"
    );
    assert_eq!(r.counts.requests, r.counts.accounted());
}

#[test]
fn a_fixed_pool_bills_its_servers_for_the_window() {
    // 3 servers at $0.50 per hour over a 2-hour window (after a 1,000 s
    // warm-up): $3.00; a 30-day month at that rate, 3 x 0.5 x 720 = $1,080.
    let src = r#"
        seed = 1
        duration_s = 8200
        warmup_s = 1000
        [workload]
        arrival = { kind = "poisson", rate_per_s = 1 }
        [[platforms]]
        kind = "fixed_pool"
        servers = 3
        server_usd_per_hour = 0.5
    "#;
    let r = &run(src)[0];
    assert_eq!((r.bill.cost.compute * 100.0).round(), 300.0);
    assert!((r.bill.cost.total() - 3.0).abs() < 1e-9);
    assert!((r.bill.per_month_usd - 1080.0).abs() < 1e-6);
    assert_eq!(r.instances.peak, 3);
    assert!((r.instances.mean - 3.0).abs() < 1e-12);
}
