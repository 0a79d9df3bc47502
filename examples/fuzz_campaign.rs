//! A mutation campaign against the `surgesim` binary: mutated copies of the
//! bundled scenarios and of every sample trace format, each run through
//! `surgesim run` under a memory limit (`ulimit -v`) and a timeout, counting
//! crashes (a panic, an abort, a signal), hangs (the timeout) and memory
//! failures. Every input that fails is kept, with the command that
//! reproduces it.
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example fuzz_campaign -- --scenarios 10000 --traces 10000
//! ```
//!
//! Options: `--seed S` (default 1), `--jobs N` (default 2), `--bin PATH`
//! (default `target/release/surgesim`), `--keep DIR` (failing inputs,
//! default `fuzz-failures`), `--timeout S` (default 20), `--memory-kb KB`
//! (default 2000000). `FUZZ_VERBOSE=1` prints why each refused case was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A small deterministic generator (xorshift64*), so a campaign is
/// reproducible from its seed.
struct Rng(u64);

impl Rng {
    /// Case `i` of campaign `seed`: the pair mixed by splitmix64, so
    /// neighbouring cases share nothing.
    fn of(seed: u64, i: u64) -> Rng {
        let mut z = seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that have broken parsers and models before.
const EXTREMES: &[&str] = &[
    "NaN",
    "-inf",
    "inf",
    "1e300",
    "-1e300",
    "4294967296",
    "18446744073709551616",
    "-1",
    "0",
    "-0",
    "1e-300",
    "99999999999999999999",
    "",
    "\"\"",
    "[]",
    "{}",
    "1e9",
    "1e13",
    "0.0000001",
    "2200-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "9999-99-99T99:99:99Z",
    "\u{0}",
    "\u{feff}",
];

/// One random edit of `text` (line-aware, so most results still parse far
/// enough to reach the models).
fn mutate(text: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = text.to_vec();
    let edits = 1 + rng.below(3);
    for _ in 0..edits {
        let len = out.len().max(1);
        match rng.below(10) {
            // Flip a byte.
            0 => {
                let i = rng.below(len);
                if let Some(b) = out.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            // Replace a number (or any token) by an extreme value.
            1..=3 => {
                let starts: Vec<usize> = (0..out.len())
                    .filter(|&i| {
                        out[i].is_ascii_digit() && (i == 0 || !out[i - 1].is_ascii_alphanumeric())
                    })
                    .collect();
                if starts.is_empty() {
                    continue;
                }
                let s = starts[rng.below(starts.len())];
                let mut e = s;
                while e < out.len()
                    && (out[e].is_ascii_alphanumeric() || b".:-+TZ".contains(&out[e]))
                {
                    e += 1;
                }
                let v = EXTREMES[rng.below(EXTREMES.len())].as_bytes();
                out.splice(s..e, v.iter().copied());
            }
            // Delete a span.
            4 => {
                let s = rng.below(len);
                let e = (s + rng.below(64)).min(out.len());
                if s < e {
                    out.drain(s..e);
                }
            }
            // Duplicate, drop or swap lines.
            5 | 6 => {
                let mut lines: Vec<Vec<u8>> =
                    out.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                let n = lines.len();
                let (a, b) = (rng.below(n), rng.below(n));
                match rng.below(3) {
                    0 => {
                        let l = lines[a].clone();
                        let times = 1 + rng.below(50);
                        for _ in 0..times {
                            lines.insert(a, l.clone());
                        }
                    }
                    1 => {
                        lines.remove(a);
                    }
                    _ => lines.swap(a, b),
                }
                out = lines.join(&b'\n');
            }
            // Reverse the lines (out of time order).
            7 => {
                let mut lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
                lines.reverse();
                out = lines.join(&b'\n');
            }
            // Truncate.
            8 => out.truncate(rng.below(len)),
            // Insert random bytes, rarely a line past the 1 MiB cap.
            _ => {
                let i = rng.below(len).min(out.len());
                let n = if rng.below(50) == 0 {
                    (1 << 20) + 10
                } else {
                    1 + rng.below(16)
                };
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                out.splice(i..i, bytes);
            }
        }
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("the sample decompresses");
    out
}

/// A trace case: files to write and the scenario that replays them.
struct Case {
    files: Vec<(String, Vec<u8>)>,
    scenario: String,
}

const PLATFORMS: &str = "[[platforms]]\nname = \"lambda\"\nkind = \"lambda\"\n[[platforms]]\nname = \"eks\"\nkind = \"kubernetes\"\ndeployment_by = \"one\"\n";

fn trace_case(root: &Path, rng: &mut Rng) -> Case {
    let t = root.join("scenarios/traces");
    let read = |p: &Path| std::fs::read(p).expect("a sample trace");
    let skip = if rng.below(4) == 0 {
        ", skip_bad_rows = true"
    } else {
        ""
    };
    let scenario = |arrival: String| {
        format!("name = \"fuzz\"\nseed = 1\n[workload]\narrival = {arrival}\n{PLATFORMS}")
    };
    match rng.below(7) {
        0 => Case {
            files: vec![("t.csv".into(), mutate(&read(&t.join("sample.csv")), rng))],
            scenario: scenario(format!(
                "{{ kind = \"trace\", format = \"csv\", path = \"t.csv\"{skip} }}"
            )),
        },
        1 => Case {
            files: vec![("t.csv".into(), mutate(&read(&t.join("azure2021.csv")), rng))],
            scenario: scenario(format!(
                "{{ kind = \"trace\", format = \"azure2021\", path = \"t.csv\"{skip} }}"
            )),
        },
        2 => {
            // One of the three files mutated.
            let mut files = vec![
                (
                    "i.csv".to_string(),
                    read(&t.join("azure2019_invocations.d01.csv")),
                ),
                (
                    "d.csv".to_string(),
                    read(&t.join("azure2019_durations.d01.csv")),
                ),
                (
                    "m.csv".to_string(),
                    read(&t.join("azure2019_memory.d01.csv")),
                ),
            ];
            let k = rng.below(3);
            files[k].1 = mutate(&files[k].1, rng);
            Case {
                files,
                scenario: scenario(format!(
                    "{{ kind = \"trace\", format = \"azure2019\", path = \"i.csv\", durations_path = \"d.csv\", memory_path = \"m.csv\", top_n = 4{skip} }}"
                )),
            }
        }
        3 => {
            let logs: Vec<PathBuf> = std::fs::read_dir(t.join("alb"))
                .expect("the ALB samples")
                .map(|e| e.expect("an entry").path())
                .collect();
            let pick = &logs[rng.below(logs.len())];
            let plain = gunzip(&read(pick));
            // The text mutated and compressed again, or the gzip bytes themselves.
            let bytes = if rng.below(3) == 0 {
                mutate(&read(pick), rng)
            } else {
                gzip(&mutate(&plain, rng))
            };
            Case {
                files: vec![("a.log.gz".into(), bytes)],
                scenario: scenario(format!(
                    "{{ kind = \"trace\", format = \"alb\", path = \"a.log.gz\"{skip} }}"
                )),
            }
        }
        k => {
            let (name, file) = [
                ("checkout.log", "t.log"),
                ("insights.csv", "t.csv"),
                ("search.json", "t.json"),
            ][k - 4];
            Case {
                files: vec![(
                    file.into(),
                    mutate(&read(&t.join("lambda_report").join(name)), rng),
                )],
                scenario: scenario(format!(
                    "{{ kind = \"trace\", format = \"lambda_report\", path = \"{file}\"{skip} }}"
                )),
            }
        }
    }
}

fn scenario_case(root: &Path, rng: &mut Rng) -> Case {
    let mut bundled: Vec<PathBuf> = std::fs::read_dir(root.join("scenarios"))
        .expect("the bundled scenarios")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    bundled.sort();
    let pick = &bundled[rng.below(bundled.len())];
    let text = std::fs::read(pick).expect("a scenario");
    // Traces it names stay where they are: the mutated copy is written
    // beside the bundled ones' folder through an absolute `traces/` path.
    let text = String::from_utf8_lossy(&text).replace(
        "\"traces/",
        &format!("\"{}/", root.join("scenarios/traces").display()),
    );
    Case {
        files: Vec::new(),
        scenario: String::from_utf8_lossy(&mutate(text.as_bytes(), rng)).into_owned(),
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    refused: AtomicUsize,
    crashes: AtomicUsize,
    hangs: AtomicUsize,
    memory: AtomicUsize,
}

/// What a campaign runs.
pub struct Config {
    pub scenarios: usize,
    pub traces: usize,
    pub seed: u64,
    pub jobs: usize,
    /// Seconds per case.
    pub timeout: u64,
    /// `ulimit -v` per case \[KB\].
    pub memory_kb: u64,
    /// The `surgesim` binary.
    pub bin: PathBuf,
    /// The repository (for the bundled scenarios and sample traces).
    pub root: PathBuf,
    /// Where failing inputs are kept.
    pub keep: PathBuf,
    /// Print why each refused case was refused.
    pub verbose: bool,
}

/// What a campaign found.
#[derive(Debug)]
pub struct Found {
    pub ran: usize,
    pub refused: usize,
    pub crashes: usize,
    pub hangs: usize,
    pub memory: usize,
    /// One line per failing case, with where its input was kept.
    pub failures: Vec<String>,
    pub seconds: f64,
}

/// Runs the campaign.
pub fn campaign(cfg: &Config) -> Found {
    let work = tempfile::tempdir().expect("a temporary folder");
    let tally = Tally::default();
    let next = AtomicUsize::new(0);
    let total = cfg.scenarios + cfg.traces;
    let failures = Mutex::new(Vec::new());
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for w in 0..cfg.jobs.max(1) {
            let (tally, next, failures, work) = (&tally, &next, &failures, work.path());
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return;
                    }
                    // One generator per case: a case is reproducible alone.
                    let mut rng = Rng::of(cfg.seed, i as u64);
                    let case = if i < cfg.scenarios {
                        scenario_case(&cfg.root, &mut rng)
                    } else {
                        trace_case(&cfg.root, &mut rng)
                    };
                    let dir = work.join(format!("w{w}"));
                    let _ = std::fs::remove_dir_all(&dir);
                    std::fs::create_dir_all(&dir).expect("a case folder");
                    for (name, bytes) in &case.files {
                        std::fs::write(dir.join(name), bytes).expect("a case file");
                    }
                    std::fs::write(dir.join("fuzz.toml"), &case.scenario).expect("the scenario");
                    let out = Command::new("sh")
                        .arg("-c")
                        .arg(format!(
                            "ulimit -v {}; exec timeout -s KILL {} '{}' run -q \
                             --no-charts --max-requests 20000000 -o out fuzz.toml",
                            cfg.memory_kb,
                            cfg.timeout,
                            cfg.bin.display()
                        ))
                        .current_dir(&dir)
                        .output()
                        .expect("sh runs");
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    use std::os::unix::process::ExitStatusExt;
                    // `exec` in sh: a signal that ended surgesim ends sh.
                    let memory = stderr.contains("memory allocation")
                        || stderr.contains("capacity overflow");
                    let kind = match (out.status.code(), out.status.signal()) {
                        (Some(0), _) => {
                            tally.ok.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        // A model stall is a hang, whatever its exit code.
                        _ if stderr.contains("simulated clock stopped") => &tally.hangs,
                        (Some(2), _) if !stderr.contains("panicked") => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                            if cfg.verbose {
                                eprintln!("case {i} refused: {}", stderr.trim());
                            }
                            continue;
                        }
                        // timeout -s KILL: SIGKILL, or 137 through a shell.
                        (Some(124 | 137), _) | (None, Some(9)) => &tally.hangs,
                        _ if memory => &tally.memory,
                        _ => &tally.crashes,
                    };
                    kind.fetch_add(1, Ordering::Relaxed);
                    let kept = cfg.keep.join(format!("case-{i}"));
                    let _ = std::fs::create_dir_all(&kept);
                    for (name, bytes) in &case.files {
                        let _ = std::fs::write(kept.join(name), bytes);
                    }
                    let _ = std::fs::write(kept.join("fuzz.toml"), &case.scenario);
                    let _ = std::fs::write(kept.join("stderr.txt"), stderr.as_bytes());
                    failures.lock().expect("no panic holding it").push(format!(
                        "case {i}: exit {:?}, signal {:?} ({})",
                        out.status.code(),
                        out.status.signal(),
                        kept.display()
                    ));
                }
            });
        }
    });
    let get = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    Found {
        ran: get(&tally.ok),
        refused: get(&tally.refused),
        crashes: get(&tally.crashes),
        hangs: get(&tally.hangs),
        memory: get(&tally.memory),
        failures: failures.into_inner().expect("no panic holding it"),
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cfg = Config {
        scenarios: opt("--scenarios", "1000").parse().expect("--scenarios N"),
        traces: opt("--traces", "1000").parse().expect("--traces N"),
        seed: opt("--seed", "1").parse().expect("--seed S"),
        jobs: opt("--jobs", "2").parse().expect("--jobs N"),
        timeout: opt("--timeout", "20").parse().expect("--timeout S"),
        memory_kb: opt("--memory-kb", "2000000")
            .parse()
            .expect("--memory-kb KB"),
        bin: PathBuf::from(opt(
            "--bin",
            &root.join("target/release/surgesim").to_string_lossy(),
        )),
        keep: PathBuf::from(opt("--keep", "fuzz-failures")),
        root,
        verbose: std::env::var_os("FUZZ_VERBOSE").is_some(),
    };
    assert!(
        cfg.bin.is_file(),
        "{}: build it first (cargo build --release)",
        cfg.bin.display()
    );
    let found = campaign(&cfg);
    println!(
        "{} cases ({} mutated scenarios, {} mutated traces; seed {}) in {:.0} s: {} ran, {} \
         refused with exit 2; crashes {}, hangs {}, memory failures {}",
        cfg.scenarios + cfg.traces,
        cfg.scenarios,
        cfg.traces,
        cfg.seed,
        found.seconds,
        found.ran,
        found.refused,
        found.crashes,
        found.hangs,
        found.memory,
    );
    for f in &found.failures {
        println!("  {f}");
    }
}
