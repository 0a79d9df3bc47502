//! `surgesim check` (README, 'Checks in CI'): scenario outcomes as CI gates.
//!
//! `\[expect\]` entries are `"<platform>.<metric>" = "<op> <number>"` with an
//! optional `@ci_low` / `@ci_high` suffix; `[expect.tolerance]` sets
//! per-metric tolerances [%] for baseline comparisons. Each entry is checked
//! at every sweep point against the mean over replications (or an interval
//! bound), and every metric can be compared with a baseline run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::metrics::summary::{Better, Estimate, Grouped, METRICS, PublishedRun, metric};
use crate::report::html::escape;
use crate::scenario::expect::{Bound, Expectations};

/// Largest results file `check` reads (summary.csv of a million runs is
/// well under 1 GB); the cap stops a device or a wrong path early.
const MAX_RESULTS_BYTES: u64 = 2 << 30;

/// One line of the verdict table (and one JUnit test case).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    /// `expect` or `baseline`.
    pub kind: &'static str,
    /// e.g. `lambda.p95_ms` (with ` @point 2` in a sweep).
    pub name: String,
    pub expected: String,
    pub actual: String,
    pub pass: bool,
    /// `pass`, `FAIL`, `improved`, ...
    pub verdict: String,
}

/// Mean and interval of `name` for (point, platform) over replications.
fn statistic(grouped: &Grouped, point: usize, platform: &str, name: &str) -> Option<Estimate> {
    grouped.estimate(point, platform, metric(name)?)
}

fn fmt(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Evaluates the expectations against this run's summary rows.
pub fn evaluate(exp: &Expectations, points: &[usize], grouped: &Grouped) -> Vec<CheckRow> {
    let mut out = Vec::new();
    for e in &exp.entries {
        for &point in points {
            let name = if points.len() > 1 {
                format!("{} @point {point}", e.key)
            } else {
                e.key.clone()
            };
            let stat = statistic(grouped, point, &e.platform, &e.metric);
            let (actual, note) = match (stat, e.bound) {
                (None, _) => (None, String::new()),
                (Some((m, _)), Bound::Mean) => (Some(m), String::new()),
                (Some((m, None)), _) => (Some(m), " (one replication: no interval)".to_string()),
                (Some((_, Some((lo, _)))), Bound::CiLow) => (Some(lo), " (ci_low)".to_string()),
                (Some((_, Some((_, hi)))), Bound::CiHigh) => (Some(hi), " (ci_high)".to_string()),
            };
            let (pass, actual_text) = match actual {
                Some(a) => (e.op.holds(a, e.value), format!("{}{note}", fmt(a))),
                None => (false, "no value".to_string()),
            };
            out.push(CheckRow {
                kind: "expect",
                name,
                expected: e.text.clone(),
                actual: actual_text,
                pass,
                verdict: if pass { "pass".into() } else { "FAIL".into() },
            });
        }
    }
    out
}

/// Baseline values by (point, platform, metric): the mean over replications.
pub type Baseline = BTreeMap<(usize, String, String), f64>;

/// Reads a baseline: a `-o` folder (its `<name>/`), a scenario's output
/// folder, or a summary.csv / aggregate.csv file. `None` when the baseline
/// holds nothing of this scenario (a scenario new in this change).
pub fn read_baseline(path: &Path, scenario: &str) -> Result<Option<Baseline>> {
    if !path.exists() {
        return Err(Error::Usage(format!(
            "{}: no such baseline: give an output folder, a scenario's output folder, or a \
             summary.csv or aggregate.csv",
            path.display()
        )));
    }
    if path.is_dir() {
        let named = path.join(crate::scenario::sanitize_name(scenario));
        let any = [
            named.join("summary.csv"),
            named.join("aggregate.csv"),
            path.join("summary.csv"),
            path.join("aggregate.csv"),
        ]
        .iter()
        .any(|p| p.is_file());
        if !any {
            return Ok(None);
        }
    }
    let b = read_baseline_file(path, scenario)?;
    Ok((!b.is_empty()).then_some(b))
}

fn read_baseline_file(path: &Path, scenario: &str) -> Result<Baseline> {
    let candidates: Vec<PathBuf> = if path.is_dir() {
        let named = path.join(crate::scenario::sanitize_name(scenario));
        [
            named.join("summary.csv"),
            named.join("aggregate.csv"),
            path.join("summary.csv"),
            path.join("aggregate.csv"),
        ]
        .into_iter()
        .collect()
    } else {
        vec![path.to_path_buf()]
    };
    let file = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        Error::Usage(format!(
            "{}: no baseline here: give an output folder (with {}/summary.csv), a scenario's \
             output folder, or a summary.csv or aggregate.csv",
            path.display(),
            crate::scenario::sanitize_name(scenario)
        ))
    })?;
    let text = crate::files::read_capped(file, MAX_RESULTS_BYTES, "results file")?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::Usage(format!("{}: not a CSV file: {e}", file.display())))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let sc = col("scenario");
    let (Some(pc), Some(ptc)) = (col("platform"), col("point")) else {
        return Err(Error::Usage(format!(
            "{}: not a surgesim summary.csv or aggregate.csv (no platform and point columns)",
            file.display()
        )));
    };
    let mut sums: BTreeMap<(usize, String, String), (f64, usize)> = BTreeMap::new();
    for (i, rec) in reader.records().enumerate() {
        let rec =
            rec.map_err(|e| Error::Usage(format!("{}: row {}: {e}", file.display(), i + 2)))?;
        let platform = rec.get(pc).unwrap_or_default().to_string();
        if platform.contains(" - ") || platform.contains('/') {
            continue; // paired-difference rows of aggregate.csv, per-function rows
        }
        if sc.and_then(|c| rec.get(c)).is_some_and(|n| n != scenario) {
            continue; // another scenario's rows
        }
        let point: usize = rec.get(ptc).and_then(|p| p.parse().ok()).unwrap_or(0);
        for m in METRICS.iter().map(|m| m.name) {
            if let Some(v) = col(m)
                .and_then(|c| rec.get(c))
                .and_then(|v| v.parse::<f64>().ok())
            {
                let e = sums
                    .entry((point, platform.clone(), m.to_string()))
                    .or_insert((0.0, 0));
                e.0 += v;
                e.1 += 1;
            }
        }
    }
    Ok(sums
        .into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect())
}

/// Reads back the runs of scenario `s` from an output folder (`-o DIR` of a
/// run or a merge, or the scenario's own folder): its summary.csv rows of
/// the scenario's platforms, each metric as published. Refuses results of
/// another seed or number of replications.
pub fn read_results(path: &Path, s: &crate::Scenario) -> Result<Vec<PublishedRun>> {
    let name = crate::scenario::sanitize_name(&s.name);
    let file = [path.join(&name).join("summary.csv"), path.join("summary.csv")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}: no results of scenario `{}` here: give the -o folder of a run or merge (with {name}/summary.csv), or the scenario's own output folder",
                path.display(),
                s.name
            ))
        })?;
    let text = crate::files::read_capped(&file, MAX_RESULTS_BYTES, "results file")?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::Usage(format!("{}: not a CSV file: {e}", file.display())))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            Error::Usage(format!(
                "{}: no `{name}` column: not a summary.csv of this surgesim version; run the scenario again",
                file.display()
            ))
        })
    };
    let (sc, pc, ptc, rc, seedc) = (
        col("scenario")?,
        col("platform")?,
        col("point")?,
        col("replication")?,
        col("seed")?,
    );
    let metric_cols = METRICS
        .iter()
        .map(|m| col(m.name))
        .collect::<Result<Vec<_>>>()?;
    let platforms: std::collections::HashSet<&str> = s
        .point_scenarios()
        .iter()
        .flat_map(|(_, sc)| sc.platforms.iter().map(|p| p.name.as_str()))
        .collect();
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| Error::Usage(format!("{}: line {line}: {e}", file.display())))?;
        let field = |c: usize| rec.get(c).unwrap_or_default();
        if field(sc) != s.name || !platforms.contains(field(pc)) {
            continue; // another scenario's rows, per-function rows
        }
        let number = |c: usize| -> Result<Option<f64>> {
            let v = field(c);
            if v.is_empty() {
                return Ok(None);
            }
            v.parse::<f64>().map(Some).map_err(|_| {
                Error::Usage(format!(
                    "{}: line {line}, column `{}`: `{v}` is not a number",
                    file.display(),
                    &headers[c]
                ))
            })
        };
        let whole = |c: usize| -> Result<u64> {
            field(c).parse::<u64>().map_err(|_| {
                Error::Usage(format!(
                    "{}: line {line}, column `{}`: `{}` is not a whole number",
                    file.display(),
                    &headers[c],
                    field(c)
                ))
            })
        };
        let seed = whole(seedc)?;
        if seed != s.seed {
            return Err(Error::Usage(format!(
                "{}: line {line}: results of seed {seed}, the scenario's is {}: check the results of this seed (or give --seed {seed})",
                file.display(),
                s.seed
            )));
        }
        out.push(PublishedRun {
            point: whole(ptc)? as usize,
            platform: field(pc).to_string(),
            replication: whole(rc)? as u32,
            values: metric_cols
                .iter()
                .map(|&c| number(c))
                .collect::<Result<Vec<_>>>()?,
        });
    }
    let grouped = Grouped::read(&out);
    for (point, sc) in s.point_scenarios() {
        for p in &sc.platforms {
            let have = grouped.group(point, &p.name).map_or(0, |g| g.runs.len());
            if have != sc.replications as usize {
                return Err(Error::Usage(format!(
                    "{}: {have} replication(s) of `{}` at point {point}, the scenario has {}: results of another --replications (give check the same one the run had) or of an edited scenario; run or merge it again",
                    file.display(),
                    p.name,
                    sc.replications
                )));
            }
        }
    }
    Ok(out)
}

/// The verdict of a scenario or platform the baseline does not have.
pub const NEW: &str = "new, no baseline";
/// The verdict of a baseline entry this run does not have.
pub const GONE: &str = "gone (not in this run)";

/// The row of a scenario the baseline holds nothing of.
pub fn new_scenario(name: &str) -> CheckRow {
    CheckRow {
        kind: "baseline",
        name: format!("scenario {name}"),
        expected: "a baseline".into(),
        actual: "none in the baseline".into(),
        pass: true,
        verdict: NEW.into(),
    }
}

/// Whether a row evaluated something: an expectation, or a metric compared
/// with its baseline (not a "new" or "gone" note).
pub fn evaluated(r: &CheckRow) -> bool {
    r.kind == "expect" || (r.verdict != NEW && r.verdict != GONE)
}

/// Compares this run's means with a baseline, metric by metric.
pub fn compare(
    baseline: &Baseline,
    grouped: &Grouped,
    tolerance_pct: f64,
    overrides: &BTreeMap<String, f64>,
) -> Vec<CheckRow> {
    let mut out = Vec::new();
    let keys: Vec<(usize, &str)> = grouped
        .groups
        .iter()
        .map(|g| (g.point, g.platform.as_str()))
        .collect();
    let sweep = keys.iter().any(|k| k.0 != 0);
    let label = |point: usize, platform: &str| {
        if sweep {
            format!("{platform} @point {point}")
        } else {
            platform.to_string()
        }
    };
    // Baseline entries with no counterpart in this run: reported.
    let mut gone: Vec<(usize, &str)> = baseline
        .keys()
        .map(|(p, name, _)| (*p, name.as_str()))
        .filter(|k| !keys.contains(k))
        .collect();
    gone.dedup();
    for (point, platform) in gone {
        out.push(CheckRow {
            kind: "baseline",
            name: label(point, platform),
            expected: "in the baseline".into(),
            actual: "not in this run".into(),
            pass: true,
            verdict: GONE.into(),
        });
    }
    for &(point, platform) in &keys {
        if !baseline
            .keys()
            .any(|(p, name, _)| *p == point && name == platform)
        {
            out.push(CheckRow {
                kind: "baseline",
                name: label(point, platform),
                expected: "a baseline row".into(),
                actual: "none in the baseline".into(),
                pass: true,
                verdict: NEW.into(),
            });
            continue;
        }
        // in_flight_end only measures where the horizon cut: not a quality.
        for metric in METRICS.iter().filter(|m| m.name != "in_flight_end") {
            let m = &metric.name;
            let Some(&old) = baseline.get(&(point, platform.to_string(), m.to_string())) else {
                continue;
            };
            let Some((new, _)) = grouped.estimate(point, platform, metric) else {
                continue;
            };
            // Compare at the 6 decimals the CSV files carry, so a baseline
            // read back from aggregate.csv equals the run that wrote it.
            let round6 = |v: f64| (v * 1e6).round() / 1e6;
            let (old, new) = (round6(old), round6(new));
            let tol = overrides.get(*m).copied().unwrap_or(tolerance_pct);
            let change_pct = if old == new {
                0.0
            } else if old == 0.0 {
                f64::INFINITY.copysign(new)
            } else {
                (new - old) / old.abs() * 100.0
            };
            let worse = match metric.better {
                Better::Lower => change_pct,
                Better::Higher => -change_pct,
                Better::Neither => change_pct.abs(),
            };
            let (pass, verdict) = if worse > tol {
                (false, "FAIL (regression)".to_string())
            } else if worse < -tol && metric.better != Better::Neither {
                (true, "improved".to_string())
            } else {
                (true, "pass".to_string())
            };
            out.push(CheckRow {
                kind: "baseline",
                name: if sweep {
                    format!("{platform}.{m} @point {point}")
                } else {
                    format!("{platform}.{m}")
                },
                expected: format!("{} ± {}%", fmt(old), fmt(tol)),
                actual: if change_pct.is_finite() {
                    format!("{} ({:+.2}%)", fmt(new), change_pct)
                } else {
                    format!("{} (from 0)", fmt(new))
                },
                pass,
                verdict,
            });
        }
    }
    out
}

/// The verdict table for stdout: expectations, and of the baseline rows
/// only regressions, improvements and new or gone entries unless `verbose`.
pub fn table(scenario: &str, all: &[CheckRow], verbose: bool) -> String {
    let quiet = |r: &CheckRow| !verbose && r.kind == "baseline" && r.verdict == "pass";
    let hidden = all.iter().filter(|r| quiet(r)).count();
    let rows: Vec<&CheckRow> = all.iter().filter(|r| !quiet(r)).collect();
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(6).max(6);
    let we = rows
        .iter()
        .map(|r| r.expected.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let wa = rows
        .iter()
        .map(|r| r.actual.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!("check {scenario}\n");
    let _ = writeln!(
        out,
        "  {:<8} {:<w$} {:<we$} {:<wa$} verdict",
        "kind", "metric", "expected", "actual"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "  {:<8} {:<w$} {:<we$} {:<wa$} {}",
            r.kind, r.name, r.expected, r.actual, r.verdict
        );
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "  ({hidden} baseline comparisons within tolerance not listed: --verbose lists them)"
        );
    }
    let failed = all.iter().filter(|r| !r.pass).count();
    let _ = writeln!(out, "  {} passed, {} failed", all.len() - failed, failed);
    out
}

/// JUnit XML: one test suite per scenario, one test case per check.
pub fn junit(suites: &[(String, Vec<CheckRow>)]) -> String {
    let total: usize = suites.iter().map(|s| s.1.len()).sum();
    let failures: usize = suites
        .iter()
        .map(|s| s.1.iter().filter(|r| !r.pass).count())
        .sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"surgesim check\" tests=\"{total}\" failures=\"{failures}\">\n"
    );
    for (name, rows) in suites {
        let f = rows.iter().filter(|r| !r.pass).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"0\">",
            escape(name),
            rows.len()
        );
        for r in rows {
            let _ = write!(
                out,
                "    <testcase classname=\"{}.{}\" name=\"{}\"",
                escape(name),
                r.kind,
                escape(&r.name)
            );
            if r.pass {
                let _ = writeln!(out, "/>");
            } else {
                let msg = format!("expected {}, actual {}", r.expected, r.actual);
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    escape(&msg),
                    r.kind,
                    escape(&format!("{}: {msg} ({})", r.name, r.verdict))
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Recorder;
    use crate::metrics::summary::RunSummary;
    use crate::time::SimTime;

    #[test]
    fn baseline_directions() {
        let mut run = RunSummary::of(
            &Recorder::new(SimTime::ZERO, SimTime(1), None),
            crate::cost::Bill::default(),
            false,
        );
        run.platform = "l".into();
        run.latency.p95 = Some(110.0);
        run.counts.completed = 90;
        let runs = [run];
        let grouped = Grouped::new(&runs);
        let mut base = Baseline::new();
        base.insert((0, "l".into(), "p95_ms".into()), 100.0);
        base.insert((0, "l".into(), "completed".into()), 100.0);
        // +10 % latency and -10 % completed: both regressions beyond 5 %.
        let r = compare(&base, &grouped, 5.0, &BTreeMap::new());
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|c| !c.pass), "{r:?}");
        // Within a 10 % per-metric override and a 15 % default: pass.
        let mut o = BTreeMap::new();
        o.insert("p95_ms".to_string(), 10.0);
        let r = compare(&base, &grouped, 15.0, &o);
        assert!(r.iter().all(|c| c.pass), "{r:?}");
        // An improvement passes and says so.
        base.insert((0, "l".into(), "p95_ms".into()), 200.0);
        let r = compare(&base, &grouped, 5.0, &BTreeMap::new());
        assert_eq!(
            r.iter().find(|c| c.name == "l.p95_ms").unwrap().verdict,
            "improved"
        );
    }
}
