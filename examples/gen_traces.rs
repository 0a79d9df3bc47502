//! Generates the sample traces under `scenarios/traces/` (made by the
//! project, not copied from any dataset), or a large CSV trace for scale tests.
//!
//! ```sh
//! cargo run --release --example gen_traces                     # rewrite scenarios/traces/
//! cargo run --release --example gen_traces -- big FILE ROWS    # e.g. 10000000 rows
//! ```

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

/// A large sorted CSV trace: ROWS invocations of 100 functions at 2,000 req/s.
fn big(path: &str, rows: u64) {
    let mut rng = stream(2026, 0, "gen/big");
    let f = std::fs::File::create(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut w = BufWriter::with_capacity(1 << 20, f);
    writeln!(w, "timestamp_s,function,duration_ms").unwrap();
    let mut t = 0.0;
    for _ in 0..rows {
        t += exp(&mut rng, 1.0 / 2000.0);
        let fun = rng.random_range(0..100u32);
        writeln!(w, "{t:.6},fn{fun},{:.3}", exp(&mut rng, 50.0)).unwrap();
    }
    w.flush().unwrap();
    eprintln!("wrote {path}: {rows} rows");
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
            big(path, rows);
        }
        _ => {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/traces");
            std::fs::create_dir_all(dir).unwrap();
            sample_csv(dir);
            azure2019(dir);
            azure2021(dir);
        }
    }
}
