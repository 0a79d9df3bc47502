//! Generates the sample traces under `scenarios/traces/` (made by the
//! project, not copied from any dataset), or a large CSV trace for scale tests.
//!
//! ```sh
//! cargo run --release --example gen_traces                     # rewrite scenarios/traces/
//! cargo run --release --example gen_traces -- big FILE ROWS [FUNCTIONS]   # e.g. 10000000 rows, 100 functions
//! cargo run --release --example gen_traces -- alb-big FILE.log.gz LINES PATHS
//! ```
//!
//! The ALB access logs follow the entry layout of AWS's "Access log entries
//! for your Application Load Balancer" page; the Lambda REPORT lines the
//! layout of the Lambda developer guide's logging pages (START, END and
//! REPORT lines, tab-separated fields).

use std::fmt::Write as _;
use std::io::{BufWriter, Write};

use rand::RngExt;
use surgesim::rng::{SimRng, stream};

fn exp(rng: &mut SimRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// A made-up hash-like identifier.
fn id(rng: &mut SimRng) -> String {
    format!("{:016x}", rng.random::<u64>())
}

fn write(path: &str, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{path}: {e}"));
    eprintln!("wrote {path}");
}

/// Generic CSV: three functions with different rates and durations over ten
/// minutes, unsorted in places (two rows swapped every 500) and one extra column.
fn sample_csv(dir: &str) {
    let mut rng = stream(2026, 0, "gen/csv");
    let mut rows: Vec<(f64, &str, f64, u32)> = Vec::new();
    for (name, rate, mean_ms, mem) in [
        ("checkout", 8.0, 120.0, 1024),
        ("search", 20.0, 40.0, 512),
        ("report", 0.2, 4000.0, 3008),
    ] {
        let mut t = 0.0;
        loop {
            t += exp(&mut rng, 1.0 / rate);
            if t >= 600.0 {
                break;
            }
            rows.push((t, name, exp(&mut rng, mean_ms), mem));
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    for i in (0..rows.len().saturating_sub(1)).step_by(500) {
        rows.swap(i, i + 1);
    }
    let mut out = String::from("timestamp_ms,function,duration_ms,memory_mb,region\n");
    for (t, f, d, m) in rows {
        let _ = writeln!(out, "{:.3},{f},{:.3},{m},eu", t * 1e3, d);
    }
    write(&format!("{dir}/sample.csv"), &out);
}

/// Azure Functions 2019 layout: one day, 12 functions in 5 apps, per-minute
/// counts with a diurnal shape, durations percentiles and app memory.
fn azure2019(dir: &str) {
    let mut rng = stream(2026, 0, "gen/azure2019");
    let owner = id(&mut rng);
    let apps: Vec<String> = (0..5).map(|_| id(&mut rng)).collect();
    let mut inv = String::from("HashOwner,HashApp,HashFunction,Trigger");
    for m in 1..=1440 {
        let _ = write!(inv, ",{m}");
    }
    inv.push('\n');
    let mut dur = String::from(
        "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,\
         percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,\
         percentile_Average_99,percentile_Average_100\n",
    );
    for f in 0..12 {
        let app = &apps[f % apps.len()];
        let func = id(&mut rng);
        let trigger = ["http", "queue", "timer", "event"][f % 4];
        let per_min = [600.0, 120.0, 30.0, 6.0, 1.0, 0.2][f % 6];
        let _ = write!(inv, "{owner},{app},{func},{trigger}");
        let mut total = 0u64;
        for m in 0..1440 {
            let shape = 1.0 + 0.8 * (std::f64::consts::TAU * (m as f64 - 840.0) / 1440.0).cos();
            let mean = per_min * shape;
            // Poisson count by inversion of exponential gaps within the minute.
            let mut c = 0u32;
            let mut acc = exp(&mut rng, 1.0);
            while acc < mean {
                c += 1;
                acc += exp(&mut rng, 1.0);
            }
            total += u64::from(c);
            let _ = write!(inv, ",{c}");
        }
        inv.push('\n');
        let median = [80.0, 250.0, 1500.0, 40.0][f % 4];
        let p = [0.2, 0.4, 0.8, 1.0, 1.3, 3.0, 6.0].map(|x| x * median);
        let _ = writeln!(
            dur,
            "{owner},{app},{func},{:.1},{total},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1}",
            median * 1.2,
            p[0],
            p[6],
            p[0],
            p[1],
            p[2],
            p[3],
            p[4],
            p[5],
            p[6]
        );
    }
    let mut mem = String::from(
        "HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1,\
         AverageAllocatedMb_pct5,AverageAllocatedMb_pct25,AverageAllocatedMb_pct50,\
         AverageAllocatedMb_pct75,AverageAllocatedMb_pct95,AverageAllocatedMb_pct99,\
         AverageAllocatedMb_pct100\n",
    );
    for (i, app) in apps.iter().enumerate() {
        let mb = [150.0, 300.0, 700.0, 1400.0, 90.0][i];
        let _ = writeln!(
            mem,
            "{owner},{app},1440,{mb:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1}",
            mb * 0.8,
            mb * 0.85,
            mb * 0.9,
            mb,
            mb * 1.1,
            mb * 1.2,
            mb * 1.3,
            mb * 1.4
        );
    }
    write(&format!("{dir}/azure2019_invocations.d01.csv"), &inv);
    write(&format!("{dir}/azure2019_durations.d01.csv"), &dur);
    write(&format!("{dir}/azure2019_memory.d01.csv"), &mem);
}

/// Azure Functions 2021 layout: per invocation `app,func,end_timestamp,duration`
/// (seconds), sorted by end time as the dataset is, for ten minutes.
fn azure2021(dir: &str) {
    let mut rng = stream(2026, 0, "gen/azure2021");
    let mut rows: Vec<(f64, String, String, f64)> = Vec::new();
    for f in 0..6 {
        let app = id(&mut rng);
        let func = id(&mut rng);
        let rate = [5.0, 2.0, 0.5, 10.0, 0.1, 1.0][f];
        let mean_s = [0.05, 0.3, 2.0, 0.02, 20.0, 0.5][f];
        let mut t = 0.0;
        loop {
            t += exp(&mut rng, 1.0 / rate);
            if t >= 600.0 {
                break;
            }
            let d = exp(&mut rng, mean_s);
            rows.push((t + d, app.clone(), func.clone(), d));
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = String::from("app,func,end_timestamp,duration\n");
    for (end, app, func, d) in rows {
        let _ = writeln!(out, "{app},{func},{end:.6},{d:.6}");
    }
    write(&format!("{dir}/azure2021.csv"), &out);
}

/// A large sorted CSV trace: ROWS invocations of FUNCTIONS functions (100 unless given) at 2,000 req/s.
fn big(path: &str, rows: u64, functions: u32) {
    let mut rng = stream(2026, 0, "gen/big");
    let f = std::fs::File::create(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut w = BufWriter::with_capacity(1 << 20, f);
    writeln!(w, "timestamp_s,function,duration_ms").unwrap();
    let mut t = 0.0;
    for _ in 0..rows {
        t += exp(&mut rng, 1.0 / 2000.0);
        let fun = rng.random_range(0..functions);
        writeln!(w, "{t:.6},fn{fun},{:.3}", exp(&mut rng, 50.0)).unwrap();
    }
    w.flush().unwrap();
    eprintln!("wrote {path}: {rows} rows");
}

/// `ns` since the epoch as ISO 8601 UTC with `digits` decimals (AWS writes 6
/// in ALB logs, 3 in CloudWatch).
fn iso(ns: i64, digits: usize) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let frac = format!("{frac:09}");
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        &frac[..digits]
    )
}

/// 2026-11-30T12:00:00Z, the samples' start [ns since the epoch].
const EPOCH_NS: i64 = 1_796_040_000 * 1_000_000_000;

/// One ALB access log entry.
struct Entry<'a> {
    created_ns: i64,
    path: &'a str,
    query: String,
    target_group: &'a str,
    /// The target's processing time [s]; `None`: no target answered.
    target_s: Option<f64>,
    client: u32,
}

fn alb_line(e: &Entry, rng: &mut SimRng) -> String {
    let (rp, tp, resp) = match e.target_s {
        Some(t) => (0.000_3 + rng.random::<f64>() * 0.001, t, 0.000_02),
        None => (-1.0, -1.0, -1.0),
    };
    let spent = if e.target_s.is_some() {
        rp + tp + resp
    } else {
        0.0
    };
    let time_ns = e.created_ns + (spent * 1e9).round() as i64;
    let target = format!("10.0.{}.{}:80", e.client % 4, 10 + e.client % 7);
    let (elb_status, target_status) = if e.target_s.is_some() {
        ("200", "200")
    } else {
        ("502", "-")
    };
    let target_field = if e.target_s.is_some() {
        target.as_str()
    } else {
        "-"
    };
    let query = if e.query.is_empty() {
        String::new()
    } else {
        format!("?{}", e.query)
    };
    format!(
        "http {} app/my-loadbalancer/50dc6c495c0c9188 192.168.{}.{}:{} {target_field} {rp:.6} {tp:.6} {resp:.6} {elb_status} {target_status} {} {} \"GET http://www.example.com:80{}{query} HTTP/1.1\" \"curl/8.5.0\" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/{}/73e2d6bc24d8a067 \"Root=1-{:08x}-{:024x}\" \"-\" \"-\" 0 {} \"forward\" \"-\" \"-\" \"{target_field}\" \"{target_status}\" \"-\" \"-\"",
        iso(time_ns, 6),
        e.client % 250,
        e.client / 250 % 250,
        1024 + e.client % 60_000,
        120 + rng.random_range(0..200u32),
        300 + rng.random_range(0..4000u32),
        e.path,
        e.target_group,
        (e.created_ns / 1_000_000_000) as u32,
        rng.random::<u128>() >> 32,
        iso(e.created_ns, 6),
    )
}

fn gzip(path: &str, text: &str) {
    let f = std::fs::File::create(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
    eprintln!("wrote {path}");
}

/// An ALB's access logs for ten minutes: two load balancer nodes, one gzip
/// file per node per 5 minutes (as ALB writes them), four paths (one with a
/// query string and ids), and a few requests no target answered (-1).
fn alb(dir: &str) {
    let mut rng = stream(2026, 0, "gen/alb");
    let folder = format!("{dir}/alb");
    std::fs::create_dir_all(&folder).unwrap();
    let paths = [
        ("/api/orders", 2.0, 0.080, "orders"),
        ("/api/search", 3.0, 0.030, "search"),
        ("/api/reports/monthly", 0.1, 2.500, "reports"),
        ("/health", 0.5, 0.001, "orders"),
    ];
    let mut entries: Vec<(i64, usize, String)> = Vec::new();
    for (path, rate, mean_s, group) in paths {
        let mut t = 0.0;
        loop {
            t += exp(&mut rng, 1.0 / rate);
            if t >= 600.0 {
                break;
            }
            let created_ns = EPOCH_NS + (t * 1e6).round() as i64 * 1000;
            let answered = rng.random::<f64>() >= 0.01;
            let target_s = answered.then(|| (exp(&mut rng, mean_s) * 1e3).round() / 1e3);
            let query = if path == "/api/orders" {
                format!("id={}", rng.random_range(1..5000u32))
            } else {
                String::new()
            };
            let client = rng.random_range(0..100_000u32);
            let node = rng.random_range(0..2usize);
            let e = Entry {
                created_ns,
                path,
                query,
                target_group: group,
                target_s,
                client,
            };
            let line = alb_line(&e, &mut rng);
            entries.push((created_ns, node, line));
        }
    }
    // A node writes each entry as its response goes out: in order of the
    // `time` field, so long requests come late.
    entries.sort_by_key(|(created, _, line)| (*created + response_offset(line), 0));
    for window in 0..2 {
        for node in 0..2 {
            let start = EPOCH_NS + window * 300 * 1_000_000_000;
            let end = start + 300 * 1_000_000_000;
            let mut out = String::new();
            for (created, n, line) in &entries {
                let at = created + response_offset(line);
                if *n == node && at >= start && at < end {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            let name = format!(
                "{folder}/123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.50dc6c495c0c9188_{}_10.0.0.{}_sample.log.gz",
                &iso(end, 0)[..16].replace(['-', ':'], ""),
                node + 1
            );
            gzip(&name, &out);
        }
    }
}

/// How long after its creation an entry's response went out [ns]: its
/// three processing times (fields 6 to 8).
fn response_offset(line: &str) -> i64 {
    let fields: Vec<&str> = line.splitn(9, ' ').collect();
    let spent: f64 = fields[5..8]
        .iter()
        .map(|f| f.parse::<f64>().unwrap().max(0.0))
        .sum();
    (spent * 1e9).round() as i64
}

/// CloudWatch Logs of two Lambda functions: START, the function's own
/// output, END and REPORT per invocation (Init Duration on a cold start),
/// as `aws logs tail` prints them (`checkout.log`, a leading timestamp),
/// as a Logs Insights CSV export (`insights.csv`) and as the JSON of
/// `aws logs filter-log-events` (`search.json`).
fn lambda_report(dir: &str) {
    let mut rng = stream(2026, 0, "gen/lambda_report");
    let folder = format!("{dir}/lambda_report");
    std::fs::create_dir_all(&folder).unwrap();
    let mut events = |rate: f64, mean_ms: f64, idle_s: f64| {
        // (end ns, duration ms, init ms)
        let mut out: Vec<(i64, f64, Option<f64>)> = Vec::new();
        let mut t = 0.0;
        let mut warm_until = f64::NEG_INFINITY;
        loop {
            t += exp(&mut rng, 1.0 / rate);
            if t >= 600.0 {
                break;
            }
            let init = (t > warm_until).then(|| 150.0 + rng.random::<f64>() * 250.0);
            let d = (exp(&mut rng, mean_ms) * 100.0).round() / 100.0;
            let end = t + (d + init.unwrap_or(0.0)) / 1e3;
            warm_until = end + idle_s;
            out.push((
                (EPOCH_NS as f64 + end * 1e9).round() as i64 / 1_000_000 * 1_000_000,
                d,
                init,
            ));
        }
        out
    };
    let report = |d: f64, memory: u32, init: Option<f64>, rid: u64| {
        let mut s = format!(
            "REPORT RequestId: {rid:016x}-0000-4000-8000-000000000000\tDuration: {d:.2} ms\tBilled Duration: {} ms\tMemory Size: {memory} MB\tMax Memory Used: {} MB\t",
            d.ceil() as u64,
            memory / 4
        );
        if let Some(i) = init {
            let _ = write!(s, "Init Duration: {i:.2} ms\t");
        }
        s
    };
    let checkout = events(1.0, 120.0, 300.0);
    let mut text = String::new();
    for (i, (end, d, init)) in checkout.iter().enumerate() {
        let start = end - ((d + init.unwrap_or(0.0)) * 1e6) as i64;
        let rid = i as u64;
        let _ = writeln!(
            text,
            "{} START RequestId: {rid:016x}-0000-4000-8000-000000000000 Version: $LATEST",
            iso(start, 3)
        );
        let _ = writeln!(
            text,
            "{} {rid:016x}-0000-4000-8000-000000000000 INFO order placed",
            iso(start + 1_000_000, 3)
        );
        let _ = writeln!(
            text,
            "{} END RequestId: {rid:016x}-0000-4000-8000-000000000000",
            iso(*end, 3)
        );
        let _ = writeln!(text, "{} {}", iso(*end, 3), report(*d, 1024, *init, rid));
    }
    write(&format!("{folder}/checkout.log"), &text);
    let search = events(1.0, 40.0, 300.0);
    let mut json = String::from("{\n    \"events\": [\n");
    for (i, (end, d, init)) in search.iter().enumerate() {
        let msg = report(*d, 512, *init, 1_000_000 + i as u64).replace('\t', "\\t");
        let _ = writeln!(
            json,
            "        {{\n            \"logStreamName\": \"2026/11/30/[$LATEST]0123456789abcdef\",\n            \"timestamp\": {},\n            \"message\": \"{msg}\\n\",\n            \"ingestionTime\": {},\n            \"eventId\": \"{:056}\"\n        }}{}",
            end / 1_000_000,
            end / 1_000_000 + 50,
            i,
            if i + 1 < search.len() { "," } else { "" }
        );
    }
    json.push_str("    ],\n    \"searchedLogStreams\": []\n}\n");
    write(&format!("{folder}/search.json"), &json);
    // Logs Insights: `fields @timestamp, @message, @log | filter @type = "REPORT"`.
    let mut csv = String::from("@timestamp,@message,@log\n");
    for (i, (end, d, init)) in checkout.iter().enumerate().take(200) {
        let ts = iso(*end, 3).replace('T', " ").replace('Z', "");
        let _ = writeln!(
            csv,
            "{ts},\"{}\",123456789012:/aws/lambda/checkout",
            report(*d, 1024, *init, i as u64)
        );
    }
    write(&format!("{folder}/insights.csv"), &csv);
}

/// A large gzip ALB log: LINES entries over PATHS distinct paths at 2,000
/// requests per second, one file (for the throughput figure in the README).
fn alb_big(path: &str, lines: u64, paths: u32) {
    let mut rng = stream(2026, 0, "gen/alb-big");
    let f = std::fs::File::create(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut gz = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 20, f),
        flate2::Compression::fast(),
    );
    let names: Vec<String> = (0..paths).map(|i| format!("/api/v1/resource{i}")).collect();
    let mut t = 0.0;
    for _ in 0..lines {
        t += exp(&mut rng, 1.0 / 2000.0);
        let p = rng.random_range(0..paths) as usize;
        let e = Entry {
            created_ns: EPOCH_NS + (t * 1e6).round() as i64 * 1000,
            path: &names[p],
            query: String::new(),
            target_group: "api",
            target_s: Some((exp(&mut rng, 0.05) * 1e3).round() / 1e3),
            client: rng.random_range(0..100_000u32),
        };
        let line = alb_line(&e, &mut rng);
        gz.write_all(line.as_bytes()).unwrap();
        gz.write_all(b"\n").unwrap();
    }
    gz.finish().unwrap().flush().unwrap();
    eprintln!("wrote {path}: {lines} lines, {paths} paths");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("big") => {
            let path = args.get(1).map_or("big.csv", String::as_str);
            let rows = args
                .get(2)
                .and_then(|r| r.parse().ok())
                .unwrap_or(10_000_000);
            let functions = args.get(3).and_then(|f| f.parse().ok()).unwrap_or(100);
            big(path, rows, functions);
        }
        Some("alb-big") => {
            let path = args.get(1).map_or("alb-big.log.gz", String::as_str);
            let lines = args
                .get(2)
                .and_then(|r| r.parse().ok())
                .unwrap_or(2_000_000);
            let paths = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(20_000);
            alb_big(path, lines, paths);
        }
        _ => {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/traces");
            std::fs::create_dir_all(dir).unwrap();
            sample_csv(dir);
            azure2019(dir);
            azure2021(dir);
            alb(dir);
            lambda_report(dir);
        }
    }
}
