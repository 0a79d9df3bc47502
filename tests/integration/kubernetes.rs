//! The Kubernetes model: queueing theory, the HPA end to end, the cluster
//! autoscaler, node billing.

use std::path::Path;

use surgesim::metrics::summary::RunSummary;
use surgesim::scenario::{self, Overrides};

use crate::common::{Simulated, erlang_c, parse_rows};

/// Runs scenario text; returns the runs, timeseries.csv rows (as fields) and requests.csv.
fn run(src: &str, requests: bool) -> (Vec<RunSummary>, Vec<Vec<String>>, String) {
    let sim = Simulated::text(src, requests);
    let rows = sim
        .read("timeseries.csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let req = sim.read("requests.csv");
    (sim.runs, rows, req)
}

/// Column `name` of timeseries.csv.
fn col(name: &str) -> usize {
    surgesim::report::csv::timeseries_columns()
        .iter()
        .position(|c| *c == name)
        .unwrap()
}

/// Column `name` of the timeseries.csv row that starts at `t_s`.
fn cell<'a>(rows: &'a [Vec<String>], t_s: u64, name: &str) -> &'a str {
    let t = t_s.to_string();
    let row = rows.iter().find(|r| r[0] == t);
    &row.unwrap_or_else(|| panic!("no timeseries row at {t} s"))[col(name)]
}

#[test]
fn one_pod_with_c_slots_and_c_cores_is_m_m_c() {
    // lambda = 3/s, mean work 1 s, c = 4 slots on 4 cores (each request gets
    // a full core): M/M/4 at A = 3. Erlang C = 0.50943 = P(wait) = mean wait
    // in seconds (C / (c mu - lambda) with c mu - lambda = 1).
    let src = r#"
        seed = 21
        duration_s = 150000
        warmup_s = 1000
        [workload]
        arrival = { kind = "poisson", rate_per_s = 3 }
        work = { kind = "exponential", mean_s = 1 }
        [[platforms]]
        name = "pod"
        kind = "kubernetes"
        pod = { cpu = 4, memory_mb = 1024, concurrency = 4, queue_capacity = 1000000 }
        scaling = { kind = "fixed", replicas = 1 }
        nodes = { instance = "m5.xlarge", initial = 1, autoscaler = "none" }
    "#;
    let (runs, _, requests) = run(src, true);
    let expected = erlang_c(4, 3.0);
    assert!((expected - 0.509_434).abs() < 1e-6);
    let rows = parse_rows(&requests);
    let measured: Vec<_> = rows
        .iter()
        .filter(|r| r.arrival_s >= 1000.0 && r.outcome == "completed")
        .collect();
    let waited = measured
        .iter()
        .filter(|r| r.start_s.unwrap() > r.arrival_s + 1e-9)
        .count() as f64
        / measured.len() as f64;
    let mean_wait = measured
        .iter()
        .map(|r| r.start_s.unwrap() - r.arrival_s)
        .sum::<f64>()
        / measured.len() as f64;
    // ~447,000 requests; waiting is correlated over busy periods. Over seeds
    // 21..30 the run-to-run standard deviations measured 0.0021 (P(wait)),
    // 0.0045 s (mean wait) and 5.7 ms (mean latency), with means 0.5091,
    // 0.5082 s and 1.5074 s; each band below is 5 standard deviations.
    assert!(
        (waited - expected).abs() < 0.011,
        "P(wait) {waited} vs {expected}"
    );
    assert!(
        (mean_wait - expected).abs() < 0.023,
        "W {mean_wait} vs {expected}"
    );
    // Mean latency = W + 1 s of service.
    let mean_ms = runs[0].latency.mean.unwrap();
    assert!(
        (mean_ms / 1e3 - (expected + 1.0)).abs() < 0.029,
        "{mean_ms}"
    );
    assert_eq!(runs[0].counts.rejected, 0);
}

fn four_pods(lb: &str, seed: u64) -> String {
    format!(
        r#"
        name = "{lb}"
        seed = {seed}
        duration_s = 100000
        warmup_s = 1000
        [workload]
        arrival = {{ kind = "poisson", rate_per_s = 2.8 }}
        work = {{ kind = "exponential", mean_s = 1 }}
        [[platforms]]
        name = "pods"
        kind = "kubernetes"
        load_balancer = "{lb}"
        pod = {{ cpu = 1, memory_mb = 1024, concurrency = 1, queue_capacity = 1000000 }}
        scaling = {{ kind = "fixed", replicas = 4 }}
        nodes = {{ instance = "m5.large", initial = 2, autoscaler = "none" }}
        "#
    )
}

#[test]
fn random_routing_over_single_slot_pods_is_independent_m_m_1_queues() {
    // Random splitting of Poisson(2.8) over 4 pods gives each a Poisson(0.7)
    // stream: M/M/1 at rho = 0.7, mean time in system 1 / (1 - 0.7) = 3.333 s.
    let (runs, _, _) = run(&four_pods("random", 31), false);
    let mean_s = runs[0].latency.mean.unwrap() / 1e3;
    // M/M/1 at 0.7 has long busy periods: over seeds 31..40 the run-to-run
    // standard deviation of this mean measured 0.038 s (1.1 %, mean 3.323 s);
    // 0.19 s is 5 of them.
    assert!((mean_s - 10.0 / 3.0).abs() < 0.19, "{mean_s}");
    assert_eq!(runs[0].counts.rejected, 0);
    // One request in service per pod at most.
    assert!(runs[0].concurrency.peak <= 4);
}

#[test]
fn smarter_balancing_queues_less() {
    let mean = |lb: &str| run(&four_pods(lb, 41), false).0[0].latency.mean.unwrap();
    let (random, rr, least) = (
        mean("random"),
        mean("round_robin"),
        mean("least_outstanding"),
    );
    // Round robin turns each pod's arrivals into Erlang-4 gaps: E4/M/1 at
    // rho = 0.7 has mean time in system 1 / (1 - sigma) = 2.2367 s, sigma =
    // 0.55291 solving sigma = (2.8 / (3.8 - sigma))^4. Over seeds 31..40 the
    // run-to-run standard deviation of this mean measured 11.6 ms (0.5 %,
    // mean 2.2308 s); 3 % is about 6 of them.
    assert!((rr / 2236.7 - 1.0).abs() < 0.03, "round robin {rr}");
    // Least outstanding is bounded below by one shared M/M/4 queue (1.357 s)
    // and beats round robin, which beats random (M/M/1: 3.333 s).
    assert!(
        1357.0 < least && least < 0.8 * rr && rr < 0.8 * random,
        "{least} {rr} {random}"
    );
}

/// pods_desired every 15 s under a step; `behavior` is extra HPA fields.
fn step_desired(delay_s: u32, behavior: &str) -> Vec<String> {
    // From t = 0, far more load than one pod takes.
    let src = format!(
        r#"
        seed = 3
        duration_s = 120
        timeseries_interval_s = 15
        [workload]
        arrival = {{ kind = "constant", rate_per_s = 400 }}
        work = {{ kind = "constant", s = 1 }}
        [[platforms]]
        name = "hpa"
        kind = "kubernetes"
        pod = {{ cpu = 1, memory_mb = 256, concurrency = 1, queue_capacity = 50, startup = {{ kind = "constant", s = 5 }} }}
        scaling = {{ kind = "hpa", min_replicas = 1, max_replicas = 100, metric = "concurrency", target = 1, metric_delay_s = {delay_s}{behavior} }}
        nodes = {{ instance = {{ vcpu = 128, memory_mb = 524288, usd_per_hour = 1.0, max_pods = 500 }}, initial = 1, autoscaler = "none" }}
        "#
    );
    let (_, rows, _) = run(&src, false);
    // Row t_s = k x 15 ends just before the sync at (k + 1) x 15, so it shows
    // the replicas decided at the sync at k x 15.
    rows.iter()
        .map(|r| r[col("pods_desired")].clone())
        .collect()
}

#[test]
fn with_the_default_behavior_the_hpa_scales_up_1_5_10_20_40_under_a_step() {
    // The metric is read over [t - 30, t - 15): first available at the 30 s
    // sync; then the default policies allow max(+4, x2) per 15 s.
    assert_eq!(
        step_desired(15, ", behavior = {}"),
        ["1", "1", "5", "10", "20", "40", "80", "100"]
    );
    // scale_up given directly in the HPA table is a behavior too.
    assert_eq!(
        step_desired(15, ", scale_up = { stabilization_s = 0 }"),
        ["1", "1", "5", "10", "20", "40", "80", "100"]
    );
}

#[test]
fn without_behavior_the_hpa_scales_up_1_4_8_16_under_a_step() {
    // No behavior: the controller's legacy path (`horizontal.go`,
    // `normalizeDesiredReplicas` -> `convertDesiredReplicasWithRules`), a
    // scale-up cap of max(2 x current, 4) per sync: 1 -> 4 -> 8 -> 16.
    assert_eq!(
        step_desired(15, ""),
        ["1", "1", "4", "8", "16", "32", "64", "100"]
    );
}

#[test]
fn a_step_of_a_hundred_times_the_rps_target_goes_1_4_8_16_32() {
    // 1,000 req/s at a target of 10 req/s per pod (rps counts rejected
    // requests too): the legacy cap, not the metric, sets the pace.
    let src = r#"
        seed = 3
        duration_s = 75
        timeseries_interval_s = 15
        [workload]
        arrival = { kind = "constant", rate_per_s = 1000 }
        work = { kind = "constant", s = 1 }
        [[platforms]]
        name = "hpa"
        kind = "kubernetes"
        pod = { cpu = 1, memory_mb = 256, concurrency = 1, queue_capacity = 0, startup = { kind = "constant", s = 5 } }
        scaling = { kind = "hpa", min_replicas = 1, max_replicas = 100, metric = "rps", target = 10, metric_delay_s = 0 }
        nodes = { instance = { vcpu = 128, memory_mb = 524288, usd_per_hour = 1.0 }, initial = 1, autoscaler = "none" }
    "#;
    let (_, rows, _) = run(src, false);
    let desired: Vec<&str> = rows
        .iter()
        .map(|r| r[col("pods_desired")].as_str())
        .collect();
    // Sync at 15 s: 1 pod at 100x -> 100 wanted, capped at 4. At 30 s, over
    // [15, 30): the 3 new pods, ready at 20 s, have no metric for the whole
    // window (missing, so 0 on a scale-up): 15,000 requests / (4 x 15 s x
    // 10) = ratio 25 -> 100, capped at 8. Each later sync alike: the ready
    // pods' requests over all pods stay well above 2x the target.
    assert_eq!(desired, ["1", "4", "8", "16", "32"], "{desired:?}");
}

#[test]
fn the_metric_delay_postpones_the_first_reaction() {
    // With no delay the 15 s sync already reads [0, 15); with 30 s the first
    // window, [0, 15), is read at the 45 s sync.
    assert_eq!(
        step_desired(0, ""),
        ["1", "4", "8", "16", "32", "64", "100", "100"]
    );
    assert_eq!(
        step_desired(30, ""),
        ["1", "1", "1", "4", "8", "16", "32", "64"]
    );
}

#[test]
fn the_hpa_holds_replicas_for_the_scale_down_window() {
    // 600 s of load, then nothing: the deployment stays up for the 300 s
    // stabilisation window after the last high recommendation.
    let src = r#"
        seed = 4
        duration_s = 1500
        timeseries_interval_s = 15
        [workload]
        arrival = { kind = "phases", phases = [{ duration_s = 600, rate_per_s = 40 }, { duration_s = 900, rate_per_s = 0 }] }
        work = { kind = "constant", ms = 100 }
        # constant would be exact; Poisson within phases is fine with round
        # robin: 8 pods see 5 req/s of 0.1 s each, 50 % on average.
        [[platforms]]
        name = "hpa"
        kind = "kubernetes"
        pod = { cpu = 1, memory_mb = 256, concurrency = 4, queue_capacity = 50, startup = { kind = "constant", s = 5 } }
        scaling = { kind = "hpa", min_replicas = 1, max_replicas = 20, metric = "cpu", target = 0.5 }
        nodes = { instance = { vcpu = 64, memory_mb = 262144, usd_per_hour = 1.0, max_pods = 200 }, initial = 1, autoscaler = "none" }
    "#;
    let (_, rows, _) = run(src, false);
    let desired = |t: u64| -> u32 { cell(&rows, t, "pods_desired").parse().unwrap() };
    // 40 req/s x 0.1 s = 4 cores at a 50 % target: about 8 pods.
    let high = desired(570);
    assert!((7..=9).contains(&high), "{high}");
    // The metric window [t - 30, t - 15) sees no load from the 630 s sync on.
    // The last recommendation made with load is the 615 s one (window
    // [585, 600)), so the count holds at that recommendation through the
    // sync at 900 s...
    assert!((7..=9).contains(&desired(900)), "{}", desired(900));
    // ... and, without a behavior (the legacy `stabilizeRecommendation`,
    // which drops a recommendation only once it is *before* the cutoff),
    // through the 915 s sync too, with the 615 s one exactly 300 s old; the
    // 930 s sync drops to the minimum.
    assert!((7..=9).contains(&desired(915)), "{}", desired(915));
    assert_eq!(desired(930), 1);
}

#[test]
fn pending_pods_get_a_node_after_the_provisioning_delay() {
    // 4 pods of 1 CPU, one m5.large (2 vCPU) at start: 2 pods pending. The
    // scan at 10 s launches one node, ready at 110 s; its pods are ready at 115 s.
    let src = r#"
        seed = 5
        duration_s = 200
        timeseries_interval_s = 5
        [workload]
        arrival = { kind = "poisson", rate_per_s = 1 }
        work = { kind = "constant", ms = 10 }
        [[platforms]]
        name = "ca"
        kind = "kubernetes"
        pod = { cpu = 1, memory_mb = 1024, startup = { kind = "constant", s = 5 } }
        scaling = { kind = "fixed", replicas = 4 }
        nodes = { instance = "m5.large", initial = 1, min = 1, max = 5, provision = { kind = "constant", s = 100 } }
    "#;
    let (runs, rows, _) = run(src, false);
    let at = |t: u64, c: &str| cell(&rows, t, c);
    // The row starting at t shows the state just before t + 5.
    assert_eq!(at(5, "nodes_provisioning"), "0");
    assert_eq!(at(10, "nodes_provisioning"), "1");
    assert_eq!(at(10, "pods_pending"), "2");
    assert_eq!(at(105, "nodes_provisioning"), "1");
    assert_eq!(at(110, "nodes"), "2");
    assert_eq!(at(110, "pods_pending"), "2");
    assert_eq!(at(110, "pods_ready"), "2");
    assert_eq!(at(115, "pods_ready"), "4");
    assert_eq!(at(115, "pods_pending"), "0");
    assert_eq!(runs[0].nodes.unwrap().peak, 2);
}

#[test]
fn underused_nodes_go_after_the_unneeded_time_and_billing_follows() {
    // 3 nodes, 2 pods of 1 CPU: both on the first node; the other two are
    // empty from the first scan (10 s) and removed at the scan at 610 s.
    let src = r#"
        seed = 6
        duration_s = 1000
        timeseries_interval_s = 10
        [workload]
        arrival = { kind = "poisson", rate_per_s = 1 }
        work = { kind = "constant", ms = 10 }
        [[platforms]]
        name = "ca"
        kind = "kubernetes"
        pod = { cpu = 1, memory_mb = 1024 }
        scaling = { kind = "fixed", replicas = 2 }
        nodes = { instance = "m5.large", initial = 3, min = 1, max = 5 }
    "#;
    let (runs, rows, _) = run(src, false);
    let nodes = |t: u64| cell(&rows, t, "nodes");
    // The row starting at t shows the state just before t + 10.
    assert_eq!(nodes(600), "3");
    assert_eq!(nodes(610), "1");
    // Billing by hand: (1000 + 610 + 610) node-seconds x $0.096/h = $0.0592;
    // control plane 1000 s x $0.10/h = $0.0277778.
    let cost = &runs[0].bill.cost;
    assert!((cost.nodes - 0.0592).abs() < 1e-9, "{}", cost.nodes);
    assert!((cost.control_plane - 0.1 / 3.6).abs() < 1e-9);
    assert_eq!(cost.requests + cost.compute, 0.0);
    assert!((runs[0].nodes.unwrap().mean - 2220.0 / 1000.0).abs() < 1e-9);
}

#[test]
fn a_node_with_pods_is_drained_only_when_they_fit_elsewhere() {
    // 2 nodes and 3 pods of 0.5 CPU. First-fit puts all three on the first
    // node (1.5 of 2 CPU: 75 %, not under the 0.5 threshold); the second node
    // is empty and goes: the node count settles at the minimum that holds them.
    let src = r#"
        seed = 7
        duration_s = 2000
        timeseries_interval_s = 10
        [workload]
        arrival = { kind = "poisson", rate_per_s = 1 }
        work = { kind = "constant", ms = 10 }
        [[platforms]]
        name = "ca"
        kind = "kubernetes"
        pod = { cpu = 0.5, memory_mb = 512, startup = { kind = "constant", s = 5 } }
        scaling = { kind = "fixed", replicas = 3 }
        nodes = { instance = "m5.large", initial = 2, min = 1, max = 5 }
    "#;
    let (runs, rows, _) = run(src, false);
    let last = rows.last().unwrap();
    assert_eq!(last[col("nodes")], "1");
    assert_eq!(last[col("pods_ready")], "3");
    assert_eq!(runs[0].counts.rejected, 0);
}

#[test]
fn lambda_and_kubernetes_side_by_side_are_deterministic_and_independent() {
    let lambda = r#"
        name = "mix"
        seed = 8
        duration_s = 900
        [workload]
        arrival = { kind = "spike", base_per_s = 20, spikes = [{ at_s = 300, duration_s = 120, rate_per_s = 200 }] }
        work = { kind = "lognormal", median_ms = 80, p99_ms = 400 }
        [[platforms]]
        name = "lambda"
        kind = "lambda"
        memory_mb = 1769
    "#;
    let k8s = r#"
        [[platforms]]
        name = "eks"
        kind = "kubernetes"
        load_balancer = "least_outstanding"
        scaling = { kind = "hpa", min_replicas = 2, max_replicas = 30, metric = "cpu", target = 0.6 }
        nodes = { instance = "m5.large", initial = 1, min = 1, max = 15 }
    "#;
    let both = format!("{lambda}{k8s}");
    let (a, ta, ra) = run(&both, true);
    let (b, tb, rb) = run(&both, true);
    assert_eq!((ta, ra.clone()), (tb, rb));
    assert_eq!(a[1].counts, b[1].counts);
    // The Lambda platform's results are the same without the Kubernetes one.
    let (alone, _, ralone) = run(lambda, true);
    assert_eq!(alone[0].counts, a[0].counts);
    let lambda_rows = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains(",lambda,"))
            .map(String::from)
            .collect()
    };
    assert_eq!(lambda_rows(&ralone), lambda_rows(&ra));
    // The HPA really scaled during the spike.
    assert!(a[1].instances.peak > 2);
}

#[test]
fn behaviour_rules_may_sit_inside_behavior_or_directly_in_the_hpa_table() {
    use surgesim::platform::kubernetes::PodScaling;
    let src = |hpa: &str| {
        format!(
            "seed = 1\n[workload]\narrival = {{ kind = \"poisson\", rate_per_s = 1 }}\n[[platforms]]\nkind = \"kubernetes\"\nscaling = {{ kind = \"hpa\", max_replicas = 5, {hpa} }}\n"
        )
    };
    let stab = |hpa: &str| {
        let s = scenario::parse(&src(hpa), Path::new("b.toml"), Overrides::default()).unwrap();
        let Some(k) = s.platforms[0].get::<surgesim::platform::kubernetes::KubernetesConfig>()
        else {
            panic!("kubernetes")
        };
        let PodScaling::Hpa(h) = &k.scaling else {
            panic!("hpa")
        };
        h.scale_down.stabilization.as_secs_f64()
    };
    assert_eq!(
        stab("behavior = { scale_down = { stabilization_s = 60 } }"),
        60.0
    );
    assert_eq!(stab("scale_down = { stabilization_s = 30 }"), 30.0);
    assert_eq!(stab("target = 0.5"), 300.0);
}
