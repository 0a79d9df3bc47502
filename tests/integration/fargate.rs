//! ECS on Fargate: tasks as pods (queueing theory), target tracking step
//! by step, the launch quota, and the bill by hand.

use crate::common::{Simulated, assert_m_m_4_like_the_pod, parse_rows, series};

#[test]
fn a_fixed_task_is_the_m_m_c_queue_of_a_pod_of_its_size() {
    // lambda = 3/s, exponential work of 1 s, one task of 4 vCPU with 4
    // slots: M/M/4 at A = 3, Erlang C = 0.50943 = P(wait) = mean wait [s].
    // The same requests on a Kubernetes pod of the same size come out the
    // same, request by request: a task is a pod.
    let src = r#"
        seed = 21
        duration_s = 150000
        warmup_s = 1000
        [workload]
        arrival = { kind = "poisson", rate_per_s = 3 }
        work = { kind = "exponential", mean_s = 1 }
        [[platforms]]
        name = "task"
        kind = "ecs_fargate"
        task = { vcpu = 4, memory_gb = 8, concurrency = 4, queue_capacity = 1000000 }
        scaling = { kind = "fixed", tasks = 1 }
        [[platforms]]
        name = "pod"
        kind = "kubernetes"
        pod = { cpu = 4, memory_mb = 1024, concurrency = 4, queue_capacity = 1000000 }
        scaling = { kind = "fixed", replicas = 1 }
        nodes = { instance = "m5.xlarge", initial = 1, autoscaler = "none" }
    "#;
    let sim = Simulated::text(src, true);
    assert_m_m_4_like_the_pod(&sim, "task", "pod");
}

#[test]
fn requests_on_a_task_share_its_vcpus() {
    // Processor sharing: two 100 ms requests at once on 0.25 vCPU take
    // 800 ms each; on 2 vCPU 100 ms each.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("two.csv");
    std::fs::write(&trace, "timestamp_s,cpu_ms\n0,100\n0,100\n").unwrap();
    let latencies = |vcpu: f64| {
        let src = format!(
            "seed = 1\nduration_s = 10\n[workload]\narrival = {{ kind = \"trace\", format = \"csv\", path = {:?} }}\n\
             [[platforms]]\nname = \"task\"\nkind = \"ecs_fargate\"\ntask = {{ vcpu = {vcpu}, concurrency = 4 }}\n",
            trace.display().to_string()
        );
        let sim = Simulated::text(&src, true);
        parse_rows(&sim.read("requests.csv"))
            .iter()
            .map(|r| r.latency_ms.unwrap())
            .collect::<Vec<_>>()
    };
    for (vcpu, ms) in [(0.25, 800.0), (2.0, 100.0)] {
        let l = latencies(vcpu);
        assert!(
            l.len() == 2 && l.iter().all(|&x| (x - ms).abs() < 1e-5),
            "{vcpu} vCPU: {l:?}"
        );
    }
}

/// 40 req/s of 50 ms CPU (2 cores) on tasks of 1 vCPU: 2 tasks at 100 %.
fn step(duration_s: u32) -> Simulated {
    let src = format!(
        r#"
        seed = 1
        duration_s = {duration_s}
        timeseries_interval_s = 60
        [workload]
        arrival = {{ kind = "constant", rate_per_s = 40 }}
        work = {{ kind = "constant", ms = 50 }}
        [[platforms]]
        name = "fargate"
        kind = "ecs_fargate"
        task = {{ vcpu = 1, memory_gb = 2, concurrency = 100, queue_capacity = 10000, startup = {{ kind = "constant", s = 30 }} }}
        scaling = {{ kind = "target_tracking", metric = "cpu", target = 0.5, min_tasks = 2, max_tasks = 50 }}
        "#
    );
    Simulated::text(&src, false)
}

#[test]
fn target_tracking_under_a_step_follows_the_alarms_step_by_step() {
    // Row t shows what the datapoint at t decided (rows are [t, t + 60)).
    // t = 60, 120: two datapoints at 100 % of a 50 % target, not yet three.
    // t = 180: the third -> ceil(2 running x 1.0 / 0.5) = 4; the 2 new tasks
    //   launch at once, RUNNING at 210 (startup 30 s), receiving traffic
    //   150 s later (health checks 5 x 30 s), at 360.
    // t = 240: the 2 RUNNING tasks without traffic count at 0 %: 120
    //   core-s over 180 task-s = 66.7 %, still high; from the 4 running,
    //   ceil(4 x 0.667 / 0.5) = 6 > 4: a larger scale-out, allowed in the
    //   cooldown. The 2 more are RUNNING at 270, receive traffic at 420.
    // t = 300: 120 core-s over 300 task-s = 40 %: not high; below 45 %
    //   (0.9 x target): the first low datapoint.
    let sim = step(600);
    assert_eq!(
        series(&sim, "fargate", "pods_desired"),
        ["2", "2", "2", "4", "6", "6", "6", "6", "6", "6"]
    );
    assert_eq!(
        series(&sim, "fargate", "pods_ready"),
        ["2", "2", "2", "2", "2", "2", "4", "6", "6", "6"]
    );
    assert_eq!(
        series(&sim, "fargate", "pods_pending"),
        ["0", "0", "0", "2", "4", "4", "2", "0", "0", "0"]
    );
    // The bill by hand: 2 tasks x 600 s, 2 x 420 s, 2 x 360 s = 2,760
    // task-s of 1 vCPU and 2 GB at $0.04048 and $0.004445 per hour, plus the
    // ALB at $0.0225 per hour for 600 s.
    let r = &sim.runs[0];
    let compute: f64 = 2760.0 * (0.04048 + 2.0 * 0.004445) / 3600.0;
    assert_eq!(
        (r.bill.cost.compute * 1e6).round(),
        (compute * 1e6).round(),
        "{:?}",
        r.bill.cost
    );
    assert!((r.bill.cost.front_door - 0.0225 / 6.0).abs() < 1e-12);
    assert_eq!(r.counts.cold_starts, 0);
}

#[test]
fn target_tracking_on_alb_requests_per_target() {
    // ALBRequestCountPerTarget: 40 req/s over 2 healthy tasks is 1,200
    // requests per target per minute; at a target of 600 the third datapoint
    // (180 s) asks for ceil(2 running x 1200 / 600) = 4. Tasks count as
    // running from RUNNING but take traffic only once healthy, 150 s later,
    // so requests per healthy target stay at 1,200 and every datapoint until
    // then scales out again from the running count, each larger than the
    // last: 240 s, 4 running (2 since 210 s) -> 8; 300 s, 8 -> 16; 360 s,
    // 16 -> 32 (the first 2 new tasks turn healthy at 360 s, the end of that
    // period). 420 s: 4 healthy targets all period, 2,400 / 4 = 600, at the
    // target, not above it. Target tracking overshoots when health checks
    // are long: a reason to shorten them or use the cpu metric.
    let src = r#"
        seed = 1
        duration_s = 480
        timeseries_interval_s = 60
        [workload]
        arrival = { kind = "constant", rate_per_s = 40 }
        work = { kind = "constant", ms = 10 }
        [[platforms]]
        name = "fargate"
        kind = "ecs_fargate"
        task = { vcpu = 1, memory_gb = 2, concurrency = 100, startup = { kind = "constant", s = 30 } }
        scaling = { kind = "target_tracking", metric = "requests", target = 600, min_tasks = 2, max_tasks = 50 }
    "#;
    let sim = Simulated::text(src, false);
    assert_eq!(
        series(&sim, "fargate", "pods_desired"),
        ["2", "2", "2", "4", "8", "16", "32", "32"]
    );
}

#[test]
fn target_tracking_scales_in_after_fifteen_low_datapoints() {
    // Low from t = 300 (40 %, then 2 cores over 6 tasks = 33 %): the
    // fifteenth low datapoint is at 300 + 14 x 60 = 1,140 s ->
    // ceil(6 x 0.333 / 0.5) = 4. Then 2 cores over 4 tasks = 50 %, not low.
    let sim = step(1800);
    let desired = series(&sim, "fargate", "pods_desired");
    assert_eq!(desired[18], "6", "{desired:?}");
    assert_eq!(desired[19], "4", "{desired:?}");
    assert!(desired[19..].iter().all(|d| d == "4"), "{desired:?}");
    // The newest two (launched at 240 s, receiving traffic from 420 s)
    // leave the load balancer and stop once their few 50 ms requests are
    // done: 4 tasks receive traffic from then on.
    let ready = series(&sim, "fargate", "pods_ready");
    assert!(ready[19..].iter().all(|r| r == "4"), "{ready:?}");
    // Billed: 2 x 1,800 s, 2 x (1,800 - 180) s, and for the two removed at
    // 1,140 s after 900 s, one idle at that instant (900 s) and one still
    // finishing a request (stopped a few ms later: 901 s, rounded up).
    let task_s = 2.0 * 1800.0 + 2.0 * 1620.0 + 900.0 + 901.0;
    let expected: f64 = task_s * (0.04048 + 2.0 * 0.004445) / 3600.0;
    let compute = sim.runs[0].bill.cost.compute;
    assert!((compute - expected).abs() < 1e-9, "{compute} vs {expected}");
}

#[test]
fn the_launch_quota_admits_a_burst_of_100_then_20_a_second() {
    // Amazon ECS developer guide, 'Handle Amazon ECS throttling issues': a
    // token bucket of 100 task launches refilled at 20 per second. 3 tasks
    // of 0.25 vCPU kept fully busy from t = 0 (one 100 s request each) at a
    // 1 % target: the 20 s datapoint asks for ceil(3 x 1.0 / 0.01) = 300. 100
    // launch at 20 s, then 20 a second; tasks take 600 s to start, so the
    // launched count is pods_pending.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("busy.csv");
    std::fs::write(&trace, "timestamp_s,cpu_ms\n0,100000\n0,100000\n0,100000\n").unwrap();
    let src = format!(
        r#"
        seed = 1
        duration_s = 40
        timeseries_interval_s = 1
        [workload]
        arrival = {{ kind = "trace", format = "csv", path = {:?} }}
        [[platforms]]
        name = "fargate"
        kind = "ecs_fargate"
        task = {{ vcpu = 0.25, memory_gb = 0.5, startup = {{ kind = "constant", s = 600 }} }}
        scaling = {{ kind = "target_tracking", metric = "cpu", target = 0.01, min_tasks = 3, max_tasks = 300, period_s = 20, datapoints_out = 1 }}
        "#,
        trace.display().to_string()
    );
    let sim = Simulated::text(&src, false);
    let pending: Vec<u32> = series(&sim, "fargate", "pods_pending")
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pending[..20].iter().all(|&p| p == 0), "{pending:?}");
    // Row t is sampled at its end, t + 1, before the events due then: 100 at
    // 20 s, then one every 50 ms, the one due at t + 1 not yet: 99 + 20 (t +
    // 1 - 20), up to the 297 wanted.
    for t in 20..40usize {
        let expected = (99 + 20 * (t + 1 - 20)).min(297) as u32;
        assert_eq!(pending[t], expected, "t = {t}: {pending:?}");
    }
}

#[test]
fn a_short_lived_task_is_billed_its_minute() {
    // One datapoint out and one in, 20 s periods, no cooldowns: load only
    // in [0, 20) (20 req/s of 50 ms on 1 vCPU: 100 % of a 50 % target) ->
    // a second task launched at 20 s; the 40 s datapoint sees no load ->
    // back to 1, and the task, still starting (60 s startup), stops at 40 s
    // after 20 s: billed 60 s (Fargate's one-minute minimum).
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("burst.csv");
    let mut text = String::from("timestamp_s,cpu_ms\n");
    for i in 0..400 {
        text.push_str(&format!("{},50\n", f64::from(i) * 0.05));
    }
    std::fs::write(&trace, text).unwrap();
    let src = format!(
        r#"
        seed = 1
        duration_s = 120
        [workload]
        arrival = {{ kind = "trace", format = "csv", path = {:?} }}
        [[platforms]]
        name = "fargate"
        kind = "ecs_fargate"
        task = {{ vcpu = 1, memory_gb = 2, startup = {{ kind = "constant", s = 60 }} }}
        scaling = {{ kind = "target_tracking", target = 0.5, min_tasks = 1, max_tasks = 5, period_s = 20, datapoints_out = 1, datapoints_in = 1, scale_out_cooldown_s = 0, scale_in_cooldown_s = 0 }}
        load_balancer_usd_per_hour = 0
        "#,
        trace.display().to_string()
    );
    let sim = Simulated::text(&src, false);
    let r = &sim.runs[0];
    // 120 s for the first task, 60 s for the short-lived one, per second.
    let expected: f64 = (120.0 + 60.0) * (0.04048 + 2.0 * 0.004445) / 3600.0;
    assert_eq!(
        (r.bill.cost.compute * 1e6).round(),
        (expected * 1e6).round(),
        "{:?}",
        r.bill.cost
    );
    assert_eq!(r.instances.peak, 2);
}

#[test]
fn invalid_task_sizes_list_the_valid_memory() {
    let parse = |task: &str| {
        let src = format!(
            "seed = 1\nduration_s = 10\n[workload]\narrival = {{ kind = \"poisson\", rate_per_s = 1 }}\n\
             [[platforms]]\nkind = \"ecs_fargate\"\ntask = {task}\n"
        );
        surgesim::scenario::parse(
            &src,
            std::path::Path::new("s.toml"),
            surgesim::scenario::Overrides::default(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    assert!(parse("{ vcpu = 0.25, memory_gb = 2 }").is_ok());
    let e = parse("{ vcpu = 0.25, memory_gb = 3 }").unwrap_err();
    assert!(
        e.contains("task.memory_gb") && e.contains("0.5, 1 or 2 GB"),
        "{e}"
    );
    let e = parse("{ vcpu = 4, memory_gb = 31 }").unwrap_err();
    assert!(e.contains("8 to 30 GB in steps of 1"), "{e}");
    let e = parse("{ vcpu = 8, memory_gb = 18 }").unwrap_err();
    assert!(e.contains("16 to 60 GB in steps of 4"), "{e}");
    let e = parse("{ vcpu = 3 }").unwrap_err();
    assert!(
        e.contains("task.vcpu") && e.contains("0.25, 0.5, 1, 2, 4, 8, 16"),
        "{e}"
    );
}
