//! Simulated requests per second (criterion, throughput in elements/s).
//!
//! `cargo bench --bench throughput` — see the README's performance table.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use surgesim::engine::EventQueue;
use surgesim::experiment::run_platform;
use surgesim::scenario::{self, Overrides};
use surgesim::time::SimTime;

/// Steady Poisson traffic on Lambda: 200 req/s of 100 ms for 5,000 s
/// (1,000,000 requests), keep-alive 600 s, default INIT.
const STEADY_LAMBDA: &str = r#"
seed = 1
duration_s = 5000
[workload]
arrival = { kind = "poisson", rate_per_s = 200 }
work = { kind = "exponential", mean_ms = 100 }
[[platforms]]
kind = "lambda"
memory_mb = 2048
keep_alive = { kind = "fixed", idle_s = 600 }
"#;

/// The same traffic on Kubernetes: 16 fixed pods of 2 CPU (processor
/// sharing), and an HPA with the cluster autoscaler starting from 2 pods.
const STEADY_KUBERNETES: &str = r#"
seed = 1
duration_s = 5000
[workload]
arrival = { kind = "poisson", rate_per_s = 200 }
work = { kind = "exponential", mean_ms = 100 }
[[platforms]]
name = "fixed"
kind = "kubernetes"
pod = { cpu = 2, memory_mb = 2048, concurrency = 16, queue_capacity = 100 }
load_balancer = "round_robin"
scaling = { kind = "fixed", replicas = 16 }
nodes = { instance = "m5.xlarge", initial = 8, autoscaler = "none" }
[[platforms]]
name = "hpa"
kind = "kubernetes"
pod = { cpu = 2, memory_mb = 2048, concurrency = 16, queue_capacity = 100 }
load_balancer = "round_robin"
scaling = { kind = "hpa", min_replicas = 2, max_replicas = 40, metric = "cpu", target = 0.6 }
nodes = { instance = "m5.xlarge", initial = 1, min = 1, max = 20 }
"#;

/// The same traffic on ECS on Fargate: 16 fixed tasks of 2 vCPU (the
/// fixed pods' size), and target tracking from 2 tasks.
const STEADY_FARGATE: &str = r#"
seed = 1
duration_s = 5000
[workload]
arrival = { kind = "poisson", rate_per_s = 200 }
work = { kind = "exponential", mean_ms = 100 }
[[platforms]]
name = "fixed"
kind = "ecs_fargate"
task = { vcpu = 2, memory_gb = 4, concurrency = 16, queue_capacity = 100 }
scaling = { kind = "fixed", tasks = 16 }
[[platforms]]
name = "target_tracking"
kind = "ecs_fargate"
task = { vcpu = 2, memory_gb = 4, concurrency = 16, queue_capacity = 100 }
scaling = { kind = "target_tracking", metric = "cpu", target = 0.6, min_tasks = 2, max_tasks = 40 }
"#;

/// The same traffic on Knative: 16 instances of 2 vCPU at a fixed scale
/// (16 slots each, priced per instance-second), and the KPA from 2.
const STEADY_KNATIVE: &str = r#"
seed = 1
duration_s = 5000
[workload]
arrival = { kind = "poisson", rate_per_s = 200 }
work = { kind = "exponential", mean_ms = 100 }
[[platforms]]
name = "fixed"
kind = "knative"
instance = { vcpu = 2, memory_gb = 4 }
container_concurrency = 16
min_scale = 16
max_scale = 16
pricing = { vcpu_s = 0.00001, gib_s = 0.000001 }
[[platforms]]
name = "kpa"
kind = "knative"
instance = { vcpu = 2, memory_gb = 4 }
container_concurrency = 16
min_scale = 2
pricing = { vcpu_s = 0.00001, gib_s = 0.000001 }
"#;

/// Benchmarks each platform of `src` in `group`, in simulated requests per second.
fn bench_platforms(c: &mut Criterion, group: &str, src: &str) {
    let s = scenario::parse(src, Path::new("bench.toml"), Overrides::default())
        .expect("the benchmark scenario is valid");
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    for p in &s.platforms {
        let n = run_platform(&s, p, 0, None).rec.counts.requests;
        g.throughput(Throughput::Elements(n));
        g.bench_function(&p.name, |b| {
            b.iter(|| run_platform(&s, p, 0, None).rec.counts.completed)
        });
    }
    g.finish();
}

fn steady_lambda(c: &mut Criterion) {
    bench_platforms(c, "lambda_steady_200rps", STEADY_LAMBDA);
}

fn steady_kubernetes(c: &mut Criterion) {
    bench_platforms(c, "kubernetes_steady_200rps", STEADY_KUBERNETES);
}

fn steady_fargate(c: &mut Criterion) {
    bench_platforms(c, "fargate_steady_200rps", STEADY_FARGATE);
}

fn steady_knative(c: &mut Criterion) {
    bench_platforms(c, "knative_steady_200rps", STEADY_KNATIVE);
}

/// Trace replay end to end: scan (at load) and replay on Lambda, in trace
/// rows per second, over a generated 500,000-row CSV of 50 functions.
fn trace_replay(c: &mut Criterion) {
    use std::fmt::Write as _;
    const ROWS: u64 = 500_000;
    let dir = std::env::temp_dir().join(format!("surgesim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let mut text = String::from("timestamp_s,function,duration_ms\n");
    for i in 0..ROWS {
        // 2,000 rows per second, 50 functions, durations 10-89 ms.
        let _ = writeln!(
            text,
            "{:.6},fn{},{}",
            i as f64 / 2000.0,
            i % 50,
            10 + i * 7 % 80
        );
    }
    std::fs::write(dir.join("trace.csv"), text).expect("the trace is written");
    let scenario = dir.join("trace.toml");
    std::fs::write(
        &scenario,
        "seed = 1\ntimeseries_interval_s = 60\n[workload]\narrival = { kind = \"trace\", format = \"csv\", path = \"trace.csv\" }\n[[platforms]]\nkind = \"lambda\"\nmemory_mb = 1769\n",
    )
    .expect("the scenario is written");
    let mut g = c.benchmark_group("trace_csv_500k_rows");
    g.throughput(Throughput::Elements(ROWS));
    g.sample_size(10);
    g.bench_function("scan_and_replay_on_lambda", |b| {
        b.iter(|| {
            let s = scenario::load(&scenario, Overrides::default()).expect("valid");
            run_platform(&s, &s.platforms[0], 0, None)
                .rec
                .counts
                .completed
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn event_queue(c: &mut Criterion) {
    // Hold 1,000 pending events; each step pops the earliest and schedules
    // one a pseudo-random delay later (the pattern of a busy platform).
    const STEPS: u64 = 1_000_000;
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(STEPS));
    g.bench_function("queue_pop_push_1000_pending", |b| {
        b.iter(|| {
            let mut q = EventQueue::default();
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            for i in 0..1000u64 {
                q.push(SimTime(i * 1000), i);
            }
            for _ in 0..STEPS {
                let (t, e) = q.pop().expect("the queue never empties");
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                q.push(SimTime(t.0 + 1 + x % 2_000_000), e);
            }
            q.len()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    steady_lambda,
    steady_kubernetes,
    steady_fargate,
    steady_knative,
    trace_replay,
    event_queue
);
criterion_main!(benches);
