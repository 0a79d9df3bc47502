//! Concurrency-scaled containers: a fixed-scale instance against queueing
//! theory, the KPA's cold path and scale to zero, Cloud Run's pending
//! timeout, App Runner's 429 while scaling out, and each preset's bill.

use crate::common::{Simulated, assert_m_m_4_like_the_pod, rows_of, series};

/// A trace in a temporary folder: rows of (arrival s, cpu ms).
fn trace(rows: &[(f64, f64)]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    let mut text = String::from("timestamp_s,cpu_ms\n");
    for (t, ms) in rows {
        text.push_str(&format!("{t},{ms}\n"));
    }
    std::fs::write(&path, text).unwrap();
    let p = format!("{:?}", path.display().to_string());
    (dir, p)
}

#[test]
fn at_a_fixed_scale_an_instance_is_the_m_m_c_queue_of_a_pod() {
    // min = max = 1, 4 slots on 4 vCPU, its queue 10 x 4: M/M/4/44 at A = 3
    // (P(44 in the system) is below 1e-5: Erlang C's 0.5094 for the wait).
    // The same requests on a pod of 4 slots and a 40-deep queue come out
    // the same, request by request.
    let src = r#"
        seed = 21
        duration_s = 150000
        warmup_s = 1000
        [workload]
        arrival = { kind = "poisson", rate_per_s = 3 }
        work = { kind = "exponential", mean_s = 1 }
        [[platforms]]
        name = "kn"
        kind = "knative"
        instance = { vcpu = 4, memory_gb = 1 }
        container_concurrency = 4
        min_scale = 1
        max_scale = 1
        pricing = { vcpu_s = 0.00001, gib_s = 0.000001 }
        [[platforms]]
        name = "pod"
        kind = "kubernetes"
        pod = { cpu = 4, memory_mb = 1024, concurrency = 4, queue_capacity = 40 }
        scaling = { kind = "fixed", replicas = 1 }
        nodes = { instance = "m5.xlarge", initial = 1, autoscaler = "none" }
    "#;
    let sim = Simulated::text(src, true);
    assert_m_m_4_like_the_pod(&sim, "kn", "pod");
    // Billed per instance-second: one instance for the 149,000 s window.
    let r = sim.runs.iter().find(|r| r.platform == "kn").unwrap();
    let expected_usd = 149_000.0 * (4.0 * 0.00001 + 1.0 * 0.000001);
    assert!(
        (r.bill.cost.compute - expected_usd).abs() < 1e-6,
        "{:?}",
        r.bill.cost
    );
    assert!(r.nodes.is_none());
}

#[test]
fn from_zero_the_first_request_waits_for_an_instance_then_it_scales_to_zero() {
    // initial_scale = 0: no instance. A 100 ms request at 10 s asks for one
    // at once (the activator pokes the autoscaler); startup 2 s, so its
    // latency is 2.1 s, a cold start, in flight from 10 s to 12.1 s. Then
    // nothing: the stable window (60 s, over 1 s buckets) is empty from the
    // 74 s tick (the 72 s one still reaches back to 12 s); the 30 s grace
    // then ends at the 104 s tick, where the instance goes.
    let (_dir, path) = trace(&[(10.0, 100.0)]);
    let src = format!(
        r#"
        seed = 1
        duration_s = 140
        timeseries_interval_s = 2
        [workload]
        arrival = {{ kind = "trace", format = "csv", path = {path} }}
        [[platforms]]
        name = "kn"
        kind = "knative"
        instance = {{ vcpu = 1, memory_gb = 0.5, startup = {{ kind = "constant", s = 2 }} }}
        container_concurrency = 10
        initial_scale = 0
        pricing = {{ vcpu_s = 0.00001, gib_s = 0.000001 }}
        "#
    );
    let sim = Simulated::text(&src, true);
    let rows = rows_of(&sim, "kn");
    assert_eq!(rows.len(), 1);
    crate::common::close(rows[0].latency_ms.unwrap(), 2100.0);
    assert_eq!(sim.runs[0].counts.cold_starts, 1);
    let ready = series(&sim, "kn", "pods_ready");
    // Rows are [t, t + 2): ready from 12 s through the row starting at 102 s.
    let first = ready.iter().position(|r| r == "1").unwrap();
    let last = ready.iter().rposition(|r| r == "1").unwrap();
    assert_eq!((first * 2, last * 2), (12, 102), "{ready:?}");
    // Billed: the instance lived from 10 s to 104 s.
    let expected = 94.0 * (0.00001 + 0.5 * 0.000001);
    assert!((sim.runs[0].bill.cost.compute - expected).abs() < 1e-9);
}

#[test]
fn cloud_run_pends_at_max_scale_then_answers_429() {
    // max_scale = 1, one slot: a 30 s request holds it; two more arriving
    // at 0 s pend for max(10 s, 3.5 x 2 s) = 10 s, then get 429 (throttled).
    let (_dir, path) = trace(&[(0.0, 30_000.0), (0.0, 1.0), (0.0, 1.0)]);
    let src = format!(
        r#"
        seed = 1
        duration_s = 60
        [workload]
        arrival = {{ kind = "trace", format = "csv", path = {path} }}
        [[platforms]]
        name = "run"
        kind = "knative"
        preset = "cloud_run"
        instance = {{ vcpu = 1, memory_gb = 0.5, startup = {{ kind = "constant", s = 2 }} }}
        container_concurrency = 1
        max_scale = 1
        "#
    );
    let sim = Simulated::text(&src, true);
    let rows = rows_of(&sim, "run");
    let outcomes: Vec<&str> = rows.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "throttled").count(),
        2,
        "{outcomes:?}"
    );
    for r in rows.iter().filter(|r| r.outcome == "throttled") {
        crate::common::close(r.end_s.unwrap(), 10.0);
    }
    // Below max_scale, a request with no free slot starts an instance at
    // once and waits for it (2 s), not for the 30 s request.
    let src = src.replace("max_scale = 1", "max_scale = 5");
    let sim = Simulated::text(&src, true);
    let rows = rows_of(&sim, "run");
    assert!(
        rows.len() == 3 && rows.iter().all(|r| r.outcome == "completed"),
        "{rows:?}"
    );
    let waits: Vec<f64> = rows
        .iter()
        .map(|r| r.start_s.unwrap() - r.arrival_s)
        .collect();
    assert!(
        waits.iter().filter(|w| (**w - 2.0).abs() < 1e-6).count() >= 1,
        "{waits:?}"
    );
}

#[test]
fn app_runner_answers_429_while_it_scales_out() {
    // One slot per instance (overriding 100), min 1: a second request at
    // 0 s finds no free slot: 429, and an instance starts (2 s). A request
    // at 3 s is served by it while the first still runs.
    let (_dir, path) = trace(&[(0.0, 10_000.0), (0.0, 10.0), (3.0, 10.0)]);
    let src = format!(
        r#"
        seed = 1
        duration_s = 60
        [workload]
        arrival = {{ kind = "trace", format = "csv", path = {path} }}
        [[platforms]]
        name = "ar"
        kind = "knative"
        preset = "app_runner"
        instance = {{ vcpu = 1, memory_gb = 2, startup = {{ kind = "constant", s = 2 }} }}
        container_concurrency = 1
        "#
    );
    let sim = Simulated::text(&src, true);
    let rows = rows_of(&sim, "ar");
    let outcome = |t: f64, ms: Option<f64>| {
        rows.iter()
            .find(|r| r.arrival_s == t && (ms.is_none() || r.latency_ms == ms))
            .map(|r| r.outcome.clone())
    };
    assert_eq!(outcome(0.0, Some(10_000.0)).as_deref(), Some("completed"));
    assert_eq!(
        rows.iter().filter(|r| r.outcome == "throttled").count(),
        1,
        "{rows:?}"
    );
    assert_eq!(
        outcome(3.0, Some(10.0)).as_deref(),
        Some("completed"),
        "{rows:?}"
    );
}

/// One 250 ms request at 1 s on a preset's single instance, 100 s.
fn one_request(preset: &str, extra: &str) -> surgesim::cost::Cost {
    let (_dir, path) = trace(&[(1.0, 250.0)]);
    let src = format!(
        r#"
        seed = 1
        duration_s = 100
        [workload]
        arrival = {{ kind = "trace", format = "csv", path = {path} }}
        [[platforms]]
        name = "p"
        kind = "knative"
        preset = "{preset}"
        instance = {{ vcpu = 1, memory_gb = 2 }}
        {extra}
        "#
    );
    Simulated::text(&src, false).runs[0].bill.cost
}

#[test]
fn each_preset_bills_as_its_price_page_says() {
    // Cloud Run, request-based: 250 ms in flight, rounded up to 300 ms, of
    // 1 vCPU at $0.000024 and 2 GiB at $0.0000025 per second, plus
    // $0.40 per million requests. The idle instance costs nothing.
    let c = one_request("cloud_run", "");
    assert!(
        (c.compute - 0.3 * (0.000024 + 2.0 * 0.0000025)).abs() < 1e-12,
        "{c:?}"
    );
    assert!((c.requests - 0.4e-6).abs() < 1e-15);
    // Instance-based: the whole 100 s life at $0.000018 and $0.000002.
    let c = one_request("cloud_run", "billing = \"instance\"");
    assert!(
        (c.compute - 100.0 * (0.000018 + 2.0 * 0.000002)).abs() < 1e-12,
        "{c:?}"
    );
    assert_eq!(c.requests, 0.0);
    // App Runner: 0.25 s active at $0.064 per vCPU-hour + $0.007 per
    // GB-hour, the other 99.75 s provisioned, memory only.
    let c = one_request("app_runner", "");
    let expected = (0.25 * (0.064 + 2.0 * 0.007) + 99.75 * 2.0 * 0.007) / 3600.0;
    assert!((c.compute - expected).abs() < 1e-12, "{c:?} vs {expected}");
    // Knative on its node pool: two m5.large nodes for 100 s at $0.096 an
    // hour (per second, the minute's minimum not applying: still running).
    let c = one_request(
        "knative",
        "nodes = { instance = \"m5.large\", initial = 2, autoscaler = \"none\" }",
    );
    assert!(
        (c.nodes - 2.0 * 100.0 * 0.096 / 3600.0).abs() < 1e-12,
        "{c:?}"
    );
    assert_eq!(c.compute, 0.0);
}

#[test]
fn bad_knative_tables_name_the_field() {
    let parse = |extra: &str| {
        let src = format!(
            "seed = 1\nduration_s = 10\n[workload]\narrival = {{ kind = \"poisson\", rate_per_s = 1 }}\n\
             [[platforms]]\nkind = \"knative\"\n{extra}\n"
        );
        surgesim::scenario::parse(
            &src,
            std::path::Path::new("s.toml"),
            surgesim::scenario::Overrides::default(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    assert!(parse("preset = \"cloud_run\"").is_ok());
    let e = parse("preset = \"app_runner\"\nmin_scale = 0").unwrap_err();
    assert!(e.contains("min_scale"), "{e}");
    let e = parse("billing = \"instance\"").unwrap_err();
    assert!(e.contains("billing") && e.contains("cloud_run"), "{e}");
    let e = parse("min_scale = 5\nmax_scale = 2").unwrap_err();
    assert!(e.contains("min_scale = 5"), "{e}");
    let e = parse("instance = { vcpu = 8 }\nnodes = { instance = \"m5.large\" }").unwrap_err();
    assert!(e.contains("fits on no node"), "{e}");
}

#[test]
fn refused_requests_leave_the_autoscalers_view() {
    // One instance of one slot (queue 10) takes 11 of 100 simultaneous
    // 1-second requests; the other 89 get 503 from its queue-proxy. Once
    // the 11 are done nothing is in flight: the autoscaler, which counted
    // the 100 for a moment, comes back down to zero.
    let rows: Vec<(f64, f64)> = (0..100).map(|_| (0.0, 1000.0)).collect();
    let (_dir, path) = trace(&rows);
    let src = format!(
        r#"
        seed = 1
        duration_s = 300
        timeseries_interval_s = 10
        [workload]
        arrival = {{ kind = "trace", format = "csv", path = {path} }}
        [[platforms]]
        name = "kn"
        kind = "knative"
        instance = {{ vcpu = 1, memory_gb = 0.5, startup = {{ kind = "constant", s = 600 }} }}
        container_concurrency = 1
        pricing = {{ vcpu_s = 0.00001, gib_s = 0.000001 }}
        "#
    );
    let sim = Simulated::text(&src, false);
    assert_eq!(sim.runs[0].counts.rejected, 89);
    assert_eq!(sim.runs[0].counts.completed, 11);
    let desired = series(&sim, "kn", "pods_desired");
    assert!(desired[0].parse::<u32>().unwrap() > 1, "{desired:?}");
    assert_eq!(desired.last().unwrap(), "0", "{desired:?}");
}

#[test]
fn the_activator_holds_ten_thousand_and_refuses_the_next() {
    // No instance (initial_scale = 0) and a 600 s startup: 10,001 requests
    // at once; the activator holds 10,000 (in flight at the horizon), the
    // 10,001st gets 503.
    let rows: Vec<(f64, f64)> = (0..10_001).map(|_| (0.0, 1.0)).collect();
    let (_dir, path) = trace(&rows);
    let src = format!(
        r#"
        seed = 1
        duration_s = 60
        [workload]
        arrival = {{ kind = "trace", format = "csv", path = {path} }}
        [[platforms]]
        name = "kn"
        kind = "knative"
        instance = {{ vcpu = 1, memory_gb = 0.5, startup = {{ kind = "constant", s = 600 }} }}
        initial_scale = 0
        pricing = {{ vcpu_s = 0.00001, gib_s = 0.000001 }}
        "#
    );
    let c = Simulated::text(&src, false).runs[0].counts;
    assert_eq!((c.rejected, c.in_flight_end), (1, 10_000));
}

#[test]
fn scale_down_delay_holds_the_highest_desired_count_of_its_window() {
    // A 30-request burst of 5 s at 10 s on one-slot instances (startup 1 s):
    // the scale goes up; without a delay it falls back within a stable
    // window of the burst's end; with scale_down_delay_s = 120 the peak is
    // held 120 s after the last tick that asked for it.
    let rows: Vec<(f64, f64)> = (0..30).map(|_| (10.0, 5000.0)).collect();
    let (_dir, path) = trace(&rows);
    let run = |delay: u32| {
        let src = format!(
            r#"
            seed = 1
            duration_s = 400
            timeseries_interval_s = 2
            [workload]
            arrival = {{ kind = "trace", format = "csv", path = {path} }}
            [[platforms]]
            name = "kn"
            kind = "knative"
            instance = {{ vcpu = 1, memory_gb = 0.5, startup = {{ kind = "constant", s = 1 }} }}
            container_concurrency = 1
            scale_down_delay_s = {delay}
            pricing = {{ vcpu_s = 0.00001, gib_s = 0.000001 }}
            "#
        );
        let sim = Simulated::text(&src, false);
        series(&sim, "kn", "pods_desired")
            .iter()
            .map(|d| d.parse::<u32>().unwrap())
            .collect::<Vec<_>>()
    };
    let (plain, delayed) = (run(0), run(120));
    let peak = *plain.iter().max().unwrap();
    assert_eq!(*delayed.iter().max().unwrap(), peak);
    // The last row at the peak, in seconds.
    let last_peak = |v: &[u32]| v.iter().rposition(|&d| d == peak).unwrap() as u32 * 2;
    let (p, d) = (last_peak(&plain), last_peak(&delayed));
    assert!(d >= p + 118, "without delay {p} s, with {d} s");
}
