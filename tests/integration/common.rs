//! Helpers: run the Lambda model on hand-written requests and read back every outcome.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use surgesim::cost::Bill;
use surgesim::engine::{self, Clock};
use surgesim::metrics::{Recorder, RequestLog};
use surgesim::platform::Platform;
use surgesim::scenario::{self, Overrides, Scenario};
use surgesim::time::{SimDuration, SimTime};
use surgesim::workload::Request;

/// A `Write` into a shared buffer, to read requests.csv rows back in memory.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One requests.csv row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub arrival_s: f64,
    pub function: String,
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
    pub latency_ms: Option<f64>,
    pub outcome: String,
    pub cold: bool,
}

pub fn parse_rows(text: &str) -> Vec<Row> {
    let num = |s: &str| (!s.is_empty()).then(|| s.parse::<f64>().unwrap());
    text.lines()
        .filter(|l| !l.starts_with("arrival_s"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row {
                arrival_s: f[0].parse().unwrap(),
                function: f[1].to_string(),
                start_s: num(f[3]),
                end_s: num(f[4]),
                latency_ms: num(f[5]),
                outcome: f[6].to_string(),
                cold: f[7] == "true",
            }
        })
        .collect()
}

/// A scenario with functions `functions` (no arrivals of their own) and one
/// Lambda platform whose fields are `platform` (TOML lines).
pub fn lambda_scenario(platform: &str, functions: &[&str], horizon_s: f64) -> Scenario {
    let mut src = format!("seed = 1\nduration_s = {horizon_s}\ntimeseries_interval_s = 1\n");
    for f in functions {
        src.push_str(&format!(
            "[[workload.functions]]\nname = \"{f}\"\narrival = {{ kind = \"poisson\", rate_per_s = 0 }}\n\n"
        ));
    }
    src.push_str(&format!(
        "[[platforms]]\nname = \"l\"\nkind = \"lambda\"\n{platform}\n"
    ));
    scenario::parse(&src, Path::new("test.toml"), Overrides::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the scenario's first (Lambda) platform on `requests`:
/// (arrival [s], function index, work [ms]). Rows come back in request order.
pub fn run_requests(s: &Scenario, requests: &[(f64, u32, f64)]) -> (Vec<Row>, Recorder, Bill) {
    let reqs: Vec<(f64, u32, f64, f64)> =
        requests.iter().map(|&(t, f, w)| (t, f, w, 0.0)).collect();
    run_waiting(s, &reqs)
}

/// As [`run_requests`], with a wait after the work: (arrival [s], function
/// index, work [ms], wait [ms]).
pub fn run_waiting(s: &Scenario, requests: &[(f64, u32, f64, f64)]) -> (Vec<Row>, Recorder, Bill) {
    let Some(cfg) = s.platforms[0].get::<surgesim::platform::lambda::LambdaConfig>() else {
        panic!("the first platform is not Lambda")
    };
    let reqs: Vec<Request> = requests
        .iter()
        .enumerate()
        .map(|(i, &(t, f, work_ms, wait_ms))| Request {
            id: i as u64,
            arrival: SimTime::from_secs_f64(t),
            function: f,
            work: SimDuration::from_millis_f64(work_ms),
            wait: SimDuration::from_millis_f64(wait_ms),
            ..Request::default()
        })
        .collect();
    let buf = SharedBuf::default();
    let names = s.workload.function_names();
    let log = RequestLog::new(Box::new(buf.clone()), "l", names);
    let rec = Recorder::new(s.window.0, s.window.1, Some(log));
    let clock = Clock {
        horizon: s.horizon,
        interval: s.interval,
    };
    let (mut rec, bill) = cfg
        .simulate(surgesim::platform::RunInput {
            functions: &[],
            streams: surgesim::platform::Streams {
                seed: 1,
                replication: 0,
                platform: "l",
            },
            requests: surgesim::workload::Requests::List(reqs.into_iter()),
            clock,
            rec,
            cancel: &engine::CancelToken::never(),
        })
        .unwrap();
    drop(rec.take_log());
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let mut rows = parse_rows(&text);
    // Rows are logged when requests end; put them back in arrival order.
    rows.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    (rows, rec, bill)
}

/// Asserts two floats agree to 1e-6 (times in s, latencies in ms).
#[track_caller]
pub fn close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-6,
        "expected {expected}, got {actual}"
    );
}

/// A scenario run through `run_scenario` into a temporary folder.
pub struct Simulated {
    pub runs: Vec<surgesim::metrics::summary::RunSummary>,
    pub name: String,
    dir: tempfile::TempDir,
}

impl Simulated {
    /// Runs `s` (with requests.csv when `requests`), checking every run's
    /// accounting identity.
    pub fn of(s: &Scenario, requests: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runs = surgesim::cli::run_scenario(s, dir.path(), requests).unwrap();
        for r in &runs {
            let c = &r.counts;
            assert_eq!(c.requests, c.accounted(), "{}: {}", s.name, r.platform);
        }
        Simulated {
            runs,
            name: scenario::sanitize_name(&s.name),
            dir,
        }
    }

    /// Runs scenario text.
    pub fn text(src: &str, requests: bool) -> Self {
        let s = scenario::parse(src, Path::new("scenario.toml"), Overrides::default())
            .unwrap_or_else(|e| panic!("{e}"));
        Simulated::of(&s, requests)
    }

    /// The scenario's output folder.
    pub fn out(&self) -> std::path::PathBuf {
        self.dir.path().join(&self.name)
    }

    /// An output file's text (empty if it was not written).
    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.out().join(file)).unwrap_or_default()
    }
}

/// Erlang C: the probability that an arrival waits in an M/M/c queue at
/// `a` erlangs (also the mean wait in service times when c - a = 1).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        if k > 0 {
            term *= a / f64::from(k);
        }
        sum += term;
    }
    let top = term * a / f64::from(c) * f64::from(c) / (f64::from(c) - a);
    top / (sum + top)
}

/// Column `name` of timeseries.csv, every row of `platform`.
pub fn series(sim: &Simulated, platform: &str, name: &str) -> Vec<String> {
    let cols = surgesim::report::csv::timeseries_columns();
    let c = cols.iter().position(|x| *x == name).unwrap();
    sim.read("timeseries.csv")
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some(platform))
        .map(|l| l.split(',').nth(c).unwrap().to_string())
        .collect()
}

/// The requests.csv rows of `platform`, in arrival order.
pub fn rows_of(sim: &Simulated, platform: &str) -> Vec<Row> {
    let text = sim.read("requests.csv");
    let mut v: Vec<_> = text
        .lines()
        .filter(|l| l.split(',').nth(2) == Some(platform))
        .flat_map(parse_rows)
        .collect();
    v.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    v
}

/// Asserts that `platform`'s requests came out exactly as `pod`'s, request
/// by request, and that its mean wait after 1,000 s is M/M/4's at 3 erlangs
/// (Erlang C, 0.5094 s) within the band of the pod test
/// (tests/integration/kubernetes.rs): 5 standard deviations measured over
/// seeds 21..30 of the same scenario.
pub fn assert_m_m_4_like_the_pod(sim: &Simulated, platform: &str, pod: &str) {
    let (rows, pods) = (rows_of(sim, platform), rows_of(sim, pod));
    assert!(!rows.is_empty());
    assert_eq!(rows.len(), pods.len());
    assert!(
        rows.iter()
            .zip(&pods)
            .all(|(a, b)| a.end_s == b.end_s && a.outcome == b.outcome)
    );
    let measured: Vec<_> = rows
        .iter()
        .filter(|r| r.arrival_s >= 1000.0 && r.outcome == "completed")
        .collect();
    let mean_wait = measured
        .iter()
        .map(|r| r.start_s.unwrap() - r.arrival_s)
        .sum::<f64>()
        / measured.len() as f64;
    let expected = erlang_c(4, 3.0);
    assert!(
        (mean_wait - expected).abs() < 0.023,
        "{platform}: W {mean_wait} vs {expected}"
    );
}

/// Replication 0's requests of `s`: (id, arrival \[ns\], function, work \[ns\]).
pub fn stream_of(s: &Scenario) -> Vec<(u64, u64, u32, u64)> {
    s.workload
        .requests(s.seed, 0, s.horizon)
        .map(|r| (r.id, r.arrival.as_nanos(), r.function, r.work.as_nanos()))
        .collect()
}

/// `s` with its trace changed by `edit` (a field the scan sets, to compare
/// the replay's two ways of reading it).
pub fn with_trace(
    s: &Scenario,
    edit: impl FnOnce(&mut surgesim::workload::traces::Trace),
) -> Scenario {
    let mut t = (**s.workload.trace.as_ref().expect("a trace")).clone();
    edit(&mut t);
    let mut out = s.clone();
    out.workload.trace = Some(std::sync::Arc::new(t));
    out
}

/// The running cost at the time-series interval that ends at `t` \[s\].
pub fn cost_at(rec: &Recorder, t: f64) -> f64 {
    rec.rows()
        .iter()
        .find(|r| (r.start.as_secs_f64() - (t - 1.0)).abs() < 1e-9)
        .expect("an interval ending there")
        .gauges
        .cost_usd
}
