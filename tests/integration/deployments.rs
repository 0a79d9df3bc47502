//! `deployment_by` and per-deployment pod overrides on the container
//! platforms (SPEC 11): functions grouped into deployments, each with its
//! pods, and a warning when the minimum pods cannot fit.

use std::path::Path;

use surgesim::scenario::{self, Overrides};

use crate::common::Simulated;

/// Three functions in two apps (`shop/cart`, `shop/pay`, `blog/read`) as a
/// trace names them, each 2 requests/s of 20 ms.
fn trace(dir: &Path) -> String {
    use std::fmt::Write as _;
    let mut text = String::from("timestamp_s,function,duration_ms\n");
    for i in 0..600 {
        let t = f64::from(i) * 0.5;
        for f in ["shop/cart", "shop/pay", "blog/read"] {
            let _ = writeln!(text, "{t:.3},{f},20");
        }
    }
    let file = dir.join("t.csv");
    std::fs::write(&file, text).unwrap();
    file.to_string_lossy().into_owned()
}

fn scenario(dir: &Path, platform: &str) -> String {
    format!(
        "name = \"d\"\nseed = 1\nduration_s = 300\n[workload]\narrival = {{ kind = \"trace\", format = \"csv\", path = \"{}\" }}\n[[platforms]]\n{platform}\n",
        trace(dir)
    )
}

const K8S: &str = "name = \"k8s\"\nkind = \"kubernetes\"\npod = { cpu = 0.5, memory_mb = 512, concurrency = 4 }\nscaling = { kind = \"fixed\", replicas = 2 }\nnodes = { instance = \"m5.xlarge\", initial = 2, min = 2, max = 2 }";

fn peak_instances(src: &str) -> u64 {
    let sim = Simulated::text(src, false);
    assert_eq!(sim.runs.len(), 1);
    sim.runs[0].instances.peak
}

#[test]
fn functions_group_into_deployments_by_function_app_or_one() {
    let dir = tempfile::tempdir().unwrap();
    let base = scenario(dir.path(), K8S);
    // Two fixed replicas per deployment.
    assert_eq!(peak_instances(&base), 6);
    let by = |v: &str| {
        base.replace(
            "kind = \"kubernetes\"",
            &format!("kind = \"kubernetes\"\ndeployment_by = \"{v}\""),
        )
    };
    assert_eq!(peak_instances(&by("function")), 6);
    assert_eq!(peak_instances(&by("app")), 4);
    assert_eq!(peak_instances(&by("one")), 2);
    // ECS on Fargate and Knative group the same way.
    let fargate = scenario(
        dir.path(),
        "name = \"fg\"\nkind = \"ecs_fargate\"\ndeployment_by = \"one\"\nscaling = { kind = \"fixed\", tasks = 2 }",
    );
    assert_eq!(peak_instances(&fargate), 2);
    let knative = scenario(
        dir.path(),
        "name = \"kn\"\nkind = \"knative\"\ndeployment_by = \"app\"\nmin_scale = 1\nmax_scale = 1",
    );
    assert_eq!(peak_instances(&knative), 2);
}

#[test]
fn overrides_name_real_deployments_that_fit() {
    let dir = tempfile::tempdir().unwrap();
    // An override of an unknown deployment, or one too big for a node.
    for (pods, says) in [
        ("pods = { nope = { cpu = 1.0 } }", "no deployment `nope`"),
        ("pods = { \"shop/pay\" = { cpu = 64.0 } }", "does not fit"),
        (
            "pods = { \"shop/pay\" = { startup = { kind = \"constant\", s = 1 } } }",
            "startup",
        ),
    ] {
        let src = scenario(
            dir.path(),
            &K8S.replace("scaling =", &format!("{pods}\nscaling =")),
        );
        let e = scenario::parse(&src, Path::new("d.toml"), Overrides::default()).unwrap_err();
        assert!(e.to_string().contains(says), "{pods}: {e}");
    }
}

#[test]
fn an_override_with_fewer_slots_queues_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    // 60 requests at once for one function: 4 slots and a queue of 100 serve
    // them all; 1 slot and no queue reject 59.
    use std::fmt::Write as _;
    let mut text = String::from("timestamp_s,function,duration_ms\n");
    for f in ["a", "b"] {
        for _ in 0..60 {
            let _ = writeln!(text, "1.000,{f},100");
        }
    }
    std::fs::write(dir.path().join("burst.csv"), text).unwrap();
    let src = format!(
        "name = \"o\"\nseed = 1\nduration_s = 30\n[workload]\narrival = {{ kind = \"trace\", format = \"csv\", path = \"{}\" }}\n[[platforms]]\n{}\n",
        dir.path().join("burst.csv").display(),
        K8S.replace(
            "scaling = { kind = \"fixed\", replicas = 2 }",
            "scaling = { kind = \"fixed\", replicas = 1 }\npods = { a = { concurrency = 1, queue_capacity = 0 } }"
        )
    );
    let sim = Simulated::text(&src, true);
    let rows = crate::common::parse_rows(&sim.read("requests.csv"));
    let rejected = |f: &str| {
        rows.iter()
            .filter(|r| r.function == f && r.outcome == "rejected")
            .count()
    };
    assert_eq!(rejected("a"), 59);
    assert_eq!(rejected("b"), 0);
}

#[test]
fn minimum_pods_that_cannot_fit_are_warned_about_with_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let src = scenario(
        dir.path(),
        "name = \"k8s\"\nkind = \"kubernetes\"\npod = { cpu = 2.0, memory_mb = 4096 }\nscaling = { kind = \"fixed\", replicas = 2 }\nnodes = { instance = \"m5.large\", initial = 1, min = 1, max = 2 }",
    );
    let s = scenario::parse(&src, Path::new("d.toml"), Overrides::default()).unwrap();
    let warning = s
        .notes
        .iter()
        .find(|n| n.contains("minimum pod"))
        .unwrap_or_else(|| panic!("no warning in {:?}", s.notes));
    // 3 deployments x 2 pods of 2 CPU: 12 CPU, against 2 m5.large.
    assert!(
        warning.contains("3 deployment(s) x 2 minimum pod(s) = 6 pods"),
        "{warning}"
    );
    assert!(warning.contains("12.0 CPU"), "{warning}");
    assert!(warning.contains("deployment_by"), "{warning}");
    // One deployment fits: no warning.
    let one = src.replace(
        "kind = \"kubernetes\"",
        "kind = \"kubernetes\"\ndeployment_by = \"one\"",
    );
    let s = scenario::parse(&one, Path::new("d.toml"), Overrides::default()).unwrap();
    assert!(
        !s.notes.iter().any(|n| n.contains("minimum pod")),
        "{:?}",
        s.notes
    );
}
