//! Traffic as AWS records it (SPEC 11): ALB access logs and Lambda REPORT
//! lines replayed exactly, gzip read as plain, files merged by time, bad
//! input named.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

use crate::common::parse_rows;

fn surgesim() -> Command {
    Command::cargo_bin("surgesim").unwrap()
}

/// An ALB access log entry as AWS documents the layout (fields in order,
/// `request`, `user_agent` and the trace fields quoted).
fn alb(created: &str, time: &str, times: (&str, &str, &str), url: &str, group: &str) -> String {
    let (rp, tp, resp) = times;
    let status = if tp == "-1" { "502 -" } else { "200 200" };
    format!(
        "https {time} app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 {rp} {tp} {resp} {status} 34 366 \"GET {url} HTTP/1.1\" \"curl/7.46.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/{group}/73e2d6bc24d8a067 \"Root=1-58337281-1d84f3d73c47ec4e58577259\" \"www.example.com\" \"arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012\" 1 {created} \"authenticate,forward\" \"-\" \"-\" \"10.0.0.1:80\" \"200\" \"-\" \"-\" TID_1234abcd5678ef90\n"
    )
}

/// Two nodes' logs for the same minutes (they overlap in time), an entry no
/// target answered, one without a creation time.
fn alb_files(dir: &Path) -> (PathBuf, PathBuf) {
    let node1 = [
        alb(
            "2026-11-30T12:00:00.000000Z",
            "2026-11-30T12:00:00.101000Z",
            ("0.000", "0.100", "0.001"),
            "https://www.example.com:443/api/orders?id=1",
            "orders",
        ),
        alb(
            "2026-11-30T12:00:01.500000Z",
            "2026-11-30T12:00:01.520000Z",
            ("0.000", "0.020", "0.000"),
            "https://www.example.com:443/api/orders/7/items",
            "orders",
        ),
        // No target answered: the arrival stays, the work is workload.work.
        alb(
            "2026-11-30T12:00:02.000000Z",
            "2026-11-30T12:00:02.003000Z",
            ("-1", "-1", "-1"),
            "https://www.example.com:443/api/search?q=x",
            "search",
        ),
    ]
    .concat();
    let node2 = [
        alb(
            "2026-11-30T12:00:00.250000Z",
            "2026-11-30T12:00:00.550000Z",
            ("0.000", "0.300", "0.000"),
            "https://api.example.com:443/api/search",
            "search",
        ),
        // No creation time: `time` minus the three processing times.
        alb(
            "-",
            "2026-11-30T12:00:03.042000Z",
            ("0.001", "0.040", "0.001"),
            "https://www.example.com:443/api/orders",
            "orders",
        ),
    ]
    .concat();
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let (a, b) = (logs.join("node1.log"), logs.join("node2.log"));
    std::fs::write(&a, node1).unwrap();
    std::fs::write(&b, node2).unwrap();
    (a, b)
}

fn gzip(from: &Path, to: &Path) {
    let bytes = std::fs::read(from).unwrap();
    let f = std::fs::File::create(to).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    gz.finish().unwrap();
}

/// requests.csv's (arrival, function, handler time) in arrival order.
fn replayed(requests: &str) -> Vec<(f64, String, f64)> {
    let mut rows = parse_rows(requests);
    rows.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    rows.into_iter()
        .map(|r| {
            (
                r.arrival_s,
                r.function,
                r.end_s.unwrap() - r.start_s.unwrap(),
            )
        })
        .collect()
}

/// Every request at its expected arrival with its expected duration (to
/// the nanosecond requests.csv prints).
fn assert_replayed(got: &[(f64, String, f64)], want: &[(f64, &str, f64)], requests: &str) {
    assert_eq!(got.len(), want.len(), "{requests}");
    for (g, w) in got.iter().zip(want) {
        assert!((g.0 - w.0).abs() < 1e-9, "arrival {g:?} vs {w:?}");
        assert_eq!(g.1, w.1);
        assert!((g.2 - w.2).abs() < 1e-9, "duration {g:?} vs {w:?}");
    }
}

fn write_scenario(dir: &Path, name: &str, arrival: &str) -> PathBuf {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(
        &file,
        format!(
            "name = \"{name}\"\nseed = 1\n[workload]\narrival = {arrival}\nwork = {{ kind = \"constant\", ms = 50 }}\n[[platforms]]\nname = \"lambda\"\nkind = \"lambda\"\nmemory_mb = 1769\n"
        ),
    )
    .unwrap();
    file
}

/// Runs `file` with requests.csv; returns (requests.csv, summary.csv, stdout).
fn replay(file: &Path, out: &Path) -> (String, String, String) {
    let o = surgesim()
        .args(["run", "-q", "--no-charts", "--requests-csv", "-o"])
        .arg(out)
        .arg(file)
        .assert()
        .success()
        .get_output()
        .clone();
    let name = file.file_stem().unwrap().to_str().unwrap();
    let read = |f: &str| std::fs::read_to_string(out.join(name).join(f)).unwrap();
    (
        read("requests.csv"),
        read("summary.csv"),
        String::from_utf8(o.stdout).unwrap(),
    )
}

#[test]
fn alb_entries_replay_at_their_creation_time_with_their_target_time() {
    let dir = tempfile::tempdir().unwrap();
    alb_files(dir.path());
    let file = write_scenario(
        dir.path(),
        "alb",
        "{ kind = \"trace\", format = \"alb\", path = \"logs\" }",
    );
    let (requests, _, _) = replay(&file, &dir.path().join("out"));
    let got = replayed(&requests);
    // t = 0 at the earliest creation time (node 1's first entry); both
    // nodes' files merged by time; the path without its query string.
    let want = [
        (0.0, "/api/orders", 0.100),
        (0.25, "/api/search", 0.300),
        (1.5, "/api/orders/7/items", 0.020),
        (2.0, "/api/search", 0.050), // -1: workload.work
        (3.0, "/api/orders", 0.040), // time - 0.042 s
    ];
    assert_replayed(&got, &want, &requests);
    // The other ways to name a function.
    for (by, names) in [
        (
            "function_by = \"path\", path_depth = 1",
            vec!["/api", "/api", "/api", "/api", "/api"],
        ),
        (
            "function_by = \"host\"",
            vec![
                "www.example.com",
                "api.example.com",
                "www.example.com",
                "www.example.com",
                "www.example.com",
            ],
        ),
        (
            "function_by = \"target_group\"",
            vec!["orders", "search", "orders", "search", "orders"],
        ),
    ] {
        let file = write_scenario(
            dir.path(),
            "alb_by",
            &format!("{{ kind = \"trace\", format = \"alb\", path = \"logs\", {by} }}"),
        );
        let (requests, _, _) = replay(&file, &dir.path().join("by"));
        let mut rows = parse_rows(&requests);
        rows.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
        let got: Vec<&str> = rows.iter().map(|r| r.function.as_str()).collect();
        assert_eq!(got, names, "{by}");
    }
}

#[test]
fn gzip_and_plain_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = alb_files(dir.path());
    let gz = dir.path().join("gz");
    std::fs::create_dir_all(&gz).unwrap();
    gzip(&a, &gz.join("node1.log.gz"));
    gzip(&b, &gz.join("node2.log.gz"));
    let plain = write_scenario(
        dir.path(),
        "same",
        "{ kind = \"trace\", format = \"alb\", path = \"logs/*.log\" }",
    );
    let p = replay(&plain, &dir.path().join("plain"));
    let compressed = write_scenario(
        dir.path(),
        "same",
        "{ kind = \"trace\", format = \"alb\", path = \"gz/*.log.gz\" }",
    );
    let c = replay(&compressed, &dir.path().join("compressed"));
    assert_eq!(p, c);
    // The bundled REPORT export too.
    let text = std::fs::read_to_string("scenarios/traces/lambda_report/checkout.log").unwrap();
    let d = dir.path();
    std::fs::write(d.join("checkout.log"), &text).unwrap();
    gzip(&d.join("checkout.log"), &d.join("checkout.log.gz"));
    let plain = write_scenario(
        d,
        "report",
        "{ kind = \"trace\", format = \"lambda_report\", path = \"checkout.log\" }",
    );
    let p = replay(&plain, &d.join("rp"));
    let compressed = write_scenario(
        d,
        "report",
        "{ kind = \"trace\", format = \"lambda_report\", path = \"checkout.log.gz\" }",
    );
    assert_eq!(p, replay(&compressed, &d.join("rc")));
}

#[test]
fn report_lines_replay_at_their_start_with_their_duration_at_the_recorded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `aws logs tail` lines: START, the function's output, END, REPORT.
    let text = "\
2026-11-30T12:00:00.500Z START RequestId: a Version: $LATEST
2026-11-30T12:00:00.501Z a INFO hello
2026-11-30T12:00:00.800Z END RequestId: a
2026-11-30T12:00:00.800Z REPORT RequestId: a\tDuration: 100.00 ms\tBilled Duration: 100 ms\tMemory Size: 512 MB\tMax Memory Used: 70 MB\tInit Duration: 200.00 ms\t
2026-11-30T12:00:02.000Z REPORT RequestId: b\tDuration: 250.50 ms\tBilled Duration: 251 ms\tMemory Size: 512 MB\tMax Memory Used: 71 MB\t
";
    std::fs::write(d.join("checkout.log"), text).unwrap();
    // filter-log-events JSON of another function, epoch-millisecond stamps.
    let json = r#"{"events": [
 {"logStreamName": "s", "timestamp": 1796040001000, "message": "REPORT RequestId: c\tDuration: 40.00 ms\tBilled Duration: 40 ms\tMemory Size: 256 MB\tMax Memory Used: 30 MB\t", "eventId": "1"},
 {"logStreamName": "s", "timestamp": 1796040001100, "message": "END RequestId: c"}
]}"#;
    std::fs::write(d.join("search.json"), json).unwrap();
    // Logs Insights CSV, its function from @log.
    let csv = "@timestamp,@message,@log\n2026-11-30 12:00:03.000,\"REPORT RequestId: e\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 1024 MB\tMax Memory Used: 40 MB\t\",123456789012:/aws/lambda/report-fn\n";
    std::fs::write(d.join("insights.csv"), csv).unwrap();
    let file = d.join("r.toml");
    std::fs::write(
        &file,
        "name = \"r\"\nseed = 1\n[workload]\narrival = { kind = \"trace\", format = \"lambda_report\", path = [\"checkout.log\", \"search.json\", \"insights.csv\"] }\n[[platforms]]\nname = \"lambda\"\nkind = \"lambda\"\n",
    )
    .unwrap();
    let (requests, _, stdout) = replay(&file, &d.join("out"));
    let got = replayed(&requests);
    // arrival = stamp - Duration (- Init Duration): 12:00:00.500, 01.750,
    // 00.960, 02.990; t = 0 at the first.
    let want = [
        (0.0, "checkout", 0.100),
        (0.46, "search", 0.040),
        (1.2495, "checkout", 0.2505),
        (2.49, "report-fn", 0.010),
    ];
    assert_replayed(&got, &want, &requests);
    assert!(
        stdout.contains("recorded cold starts (REPORT lines with an Init Duration): 1 of 4"),
        "{stdout}"
    );
}

/// The stderr of a refused run.
fn refused(dir: &Path, arrival: &str) -> String {
    let file = write_scenario(dir, "bad", arrival);
    let o = surgesim()
        .args(["run", "-q", "--no-charts", "-o"])
        .arg(dir.join("out"))
        .arg(&file)
        .assert()
        .code(2)
        .get_output()
        .clone();
    String::from_utf8(o.stderr).unwrap()
}

#[test]
fn bad_logs_are_named_by_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, _) = alb_files(d);
    // A truncated gzip.
    gzip(&a, &d.join("whole.log.gz"));
    let bytes = std::fs::read(d.join("whole.log.gz")).unwrap();
    std::fs::write(d.join("cut.log.gz"), &bytes[..bytes.len() - 12]).unwrap();
    let e = refused(
        d,
        "{ kind = \"trace\", format = \"alb\", path = \"cut.log.gz\" }",
    );
    assert!(e.contains("cut.log.gz") && e.contains("truncated"), "{e}");
    // A line with a missing field.
    let good = std::fs::read_to_string(&a).unwrap();
    let first = good.lines().next().unwrap();
    let short: String = first.split(' ').take(15).collect::<Vec<_>>().join(" ");
    std::fs::write(d.join("short.log"), format!("{first}\n{short}\n")).unwrap();
    let e = refused(
        d,
        "{ kind = \"trace\", format = \"alb\", path = \"short.log\" }",
    );
    assert!(
        e.contains("short.log:2:") && e.contains("request_creation_time") && e.contains("too few"),
        "{e}"
    );
    // An unparseable timestamp.
    let bad_time = first.replace("2026-11-30T12:00:00.000000Z", "2026-11-30T12:00:99Z");
    std::fs::write(d.join("time.log"), format!("{bad_time}\n")).unwrap();
    let e = refused(
        d,
        "{ kind = \"trace\", format = \"alb\", path = \"time.log\" }",
    );
    assert!(
        e.contains("time.log:1:") && e.contains("request_creation_time") && e.contains("timestamp"),
        "{e}"
    );
    // A processing time no ALB writes (past the 1e9 s cap).
    let huge = first.replace("0.000 0.100 0.001", "1e10 0.100 0.001");
    assert_ne!(huge, first);
    std::fs::write(d.join("huge.log"), format!("{huge}\n")).unwrap();
    let e = refused(
        d,
        "{ kind = \"trace\", format = \"alb\", path = \"huge.log\" }",
    );
    assert!(
        e.contains("huge.log:1:") && e.contains("request_processing_time"),
        "{e}"
    );
    // A REPORT line without Duration.
    std::fs::write(
        d.join("f.log"),
        "2026-11-30T12:00:00.800Z REPORT RequestId: a\tBilled Duration: 100 ms\tMemory Size: 512 MB\t\n",
    )
    .unwrap();
    let e = refused(
        d,
        "{ kind = \"trace\", format = \"lambda_report\", path = \"f.log\" }",
    );
    assert!(e.contains("f.log:1:") && e.contains("Duration"), "{e}");
    // With skip_bad_rows, the bad line is skipped and counted.
    std::fs::write(d.join("mixed.log"), format!("{first}\n{short}\n")).unwrap();
    let file = write_scenario(
        d,
        "mixed",
        "{ kind = \"trace\", format = \"alb\", path = \"mixed.log\", skip_bad_rows = true }",
    );
    let o = surgesim()
        .args(["run", "--no-charts", "-o"])
        .arg(d.join("out"))
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .clone();
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        out.contains("1 bad rows skipped") || out.contains("skipped 1 bad"),
        "{out}"
    );
    // A glob that matches nothing, and fields of another format.
    let e = refused(
        d,
        "{ kind = \"trace\", format = \"alb\", path = \"none/*.gz\" }",
    );
    assert!(e.contains("matches no file"), "{e}");
    let e = refused(
        d,
        "{ kind = \"trace\", format = \"csv\", path = \"short.log\", function_by = \"host\" }",
    );
    assert!(e.contains("function_by") && e.contains("alb"), "{e}");
}

#[test]
fn report_html_caps_per_function_rows_sorted_by_requests() {
    use std::fmt::Write as _;
    let dir = tempfile::tempdir().unwrap();
    // 120 functions, function k with k + 1 requests.
    let mut text = String::from("timestamp_s,function,duration_ms\n");
    let mut rows = Vec::new();
    for k in 0..120u32 {
        for j in 0..=k {
            rows.push((f64::from(j) * 0.5 + f64::from(k) * 0.001, k));
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (t, k) in rows {
        let _ = writeln!(text, "{t:.4},fn{k:03},10");
    }
    std::fs::write(dir.path().join("many.csv"), text).unwrap();
    let file = write_scenario(
        dir.path(),
        "many",
        "{ kind = \"trace\", format = \"csv\", path = \"many.csv\" }",
    );
    let out = dir.path().join("out");
    surgesim()
        .args(["run", "-q", "--per-function", "-o"])
        .arg(&out)
        .arg(&file)
        .assert()
        .success();
    let summary = std::fs::read_to_string(out.join("many/summary.csv")).unwrap();
    assert_eq!(
        summary.lines().filter(|l| l.contains("lambda/fn")).count(),
        120
    );
    let html = std::fs::read_to_string(out.join("many/report.html")).unwrap();
    let shown: Vec<&str> = html
        .match_indices("lambda/fn")
        .map(|(i, _)| &html[i + 7..i + 12])
        .collect();
    assert_eq!(shown.len(), 50, "{shown:?}");
    // Most requests first: fn119, fn118, ...
    assert_eq!(shown[0], "fn119");
    assert_eq!(shown[49], "fn070");
    assert!(html.contains("70 more rows are in summary.csv"), "the note");
}

#[test]
fn more_overlapping_files_than_the_replay_holds_open_are_refused_at_validation() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = alb_files(dir.path());
    let text = std::fs::read_to_string(&a).unwrap();
    let first = text.lines().next().unwrap();
    let many = dir.path().join("many");
    std::fs::create_dir_all(&many).unwrap();
    // 1,025 nodes' files, each spanning the same second.
    let second = first.replace("12:00:00.000000Z", "12:00:01.000000Z");
    for i in 0..1025 {
        std::fs::write(
            many.join(format!("n{i:04}.log")),
            format!("{first}\n{second}\n"),
        )
        .unwrap();
    }
    let e = refused(
        dir.path(),
        "{ kind = \"trace\", format = \"alb\", path = \"many\" }",
    );
    assert!(e.contains("1025 of the trace's files overlap"), "{e}");
}

/// Files merged by time with many functions: each file's rows take their
/// functions from the scan from their own place in its rows (the first
/// file's partly, past its 32,768th name; the second's wholly), and the
/// requests are those the lookup of every name gives.
#[test]
fn merged_files_of_many_functions_replay_as_name_lookups_would() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let entry = |i: u64, f: u64| {
        let t = format!(
            "2026-11-30T12:{:02}:{:02}.{:06}Z",
            i / 60_000,
            i / 1000 % 60,
            i % 1000 * 1000
        );
        alb(
            &t,
            &t,
            ("0.000", "0.010", "0.000"),
            &format!("https://www.example.com:443/f{f}"),
            "g",
        )
    };
    // Node 1: 34,000 functions at even milliseconds; node 2: 3,000 at odd
    // ones, half of them new.
    let one: String = (0..34_000).map(|i| entry(2 * i, i)).collect();
    let two: String = (0..3_000).map(|i| entry(2 * i + 1, 32_500 + i)).collect();
    std::fs::write(logs.join("node1.log"), one).unwrap();
    std::fs::write(logs.join("node2.log"), two).unwrap();
    let file = write_scenario(
        dir.path(),
        "many",
        "{ kind = \"trace\", format = \"alb\", path = \"logs\" }",
    );
    let s = surgesim::scenario::load(&file, surgesim::scenario::Overrides::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let trace = s.workload.trace.as_ref().unwrap();
    assert_eq!(trace.functions.len(), 35_500);
    assert_eq!(trace.file_rows, [0, 34_000]);
    assert_eq!(trace.row_functions_from, 32_767);
    let by_name = crate::common::with_trace(&s, |t| t.row_functions.clear());
    let (got, want) = (
        crate::common::stream_of(&s),
        crate::common::stream_of(&by_name),
    );
    assert_eq!(want.len(), 37_000);
    assert_eq!(got, want);
}
