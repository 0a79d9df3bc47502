//! `surgesim check` (SPEC 6): scenario outcomes as CI gates.
//!
//! `[expect]` entries are `"<platform>.<metric>" = "<op> <number>"` with an
//! optional `@ci_low` / `@ci_high` suffix; `[expect.tolerance]` sets
//! per-metric tolerances [%] for baseline comparisons. Each entry is checked
//! at every sweep point against the mean over replications (or an interval
//! bound), and every metric can be compared with a baseline run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, FieldError, FieldPath, Result};
use crate::output::aggregate::{Row, estimate};
use crate::output::csv::{FIRST_METRIC, SUMMARY_COLUMNS};
use crate::output::report::escape;

/// The metrics an expectation or a baseline can name.
pub fn metric_names() -> &'static [&'static str] {
    &SUMMARY_COLUMNS[FIRST_METRIC..]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            // Equal to the printed precision of summary.csv (6 decimals).
            Op::Eq => (a - b).abs() <= 5e-7 * b.abs().max(1.0),
        }
    }
}

/// Which statistic over replications an expectation checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Mean,
    CiLow,
    CiHigh,
}

/// One `[expect]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The key as written, e.g. `lambda.p95_ms`.
    pub key: String,
    pub platform: String,
    pub metric: String,
    pub op: Op,
    pub value: f64,
    pub bound: Bound,
    /// The expression as written, e.g. `< 900 @ci_high`.
    pub text: String,
}

/// The validated `[expect]` table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    pub entries: Vec<Expectation>,
    /// Per-metric baseline tolerances [%].
    pub tolerance: BTreeMap<String, f64>,
}

/// Parses `"< 900 @ci_high"`.
fn parse_expression(text: &str) -> std::result::Result<(Op, f64, Bound), String> {
    let t = text.trim();
    let (op, rest) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(s, op)| t.strip_prefix(s).map(|r| (*op, r.trim())))
    .ok_or_else(|| {
        format!(
            "\"{text}\": expected an operator (<, <=, >, >=, ==), then a number, e.g. \"< 900\""
        )
    })?;
    let (number, bound) = match rest.split_once('@') {
        Some((n, b)) => (
            n.trim(),
            match b.trim() {
                "ci_high" => Bound::CiHigh,
                "ci_low" => Bound::CiLow,
                other => {
                    return Err(format!(
                        "\"{text}\": unknown suffix `@{other}`: use @ci_high or @ci_low"
                    ));
                }
            },
        ),
        None => (rest, Bound::Mean),
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("\"{text}\": `{number}` is not a number"))?;
    Ok((op, value, bound))
}

/// Validates the `[expect]` table against the scenario's platform names.
pub fn validate(
    table: &toml::Table,
    platforms: &[String],
) -> std::result::Result<Expectations, FieldError> {
    let root = FieldPath::root().key("expect");
    let mut out = Expectations::default();
    for (key, value) in table {
        let at = root.key(key);
        if key == "tolerance" {
            let toml::Value::Table(t) = value else {
                return Err(at.error("[expect.tolerance] must be a table of `metric = percent`"));
            };
            for (metric, pct) in t {
                let p = at.key(metric);
                if !metric_names().contains(&metric.as_str()) {
                    return Err(p.error(format!(
                        "unknown metric `{metric}`; the metrics are: {}",
                        metric_names().join(", ")
                    )));
                }
                let pct = pct
                    .as_float()
                    .or_else(|| pct.as_integer().map(|i| i as f64))
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| p.error("a tolerance is a percentage >= 0, e.g. 10"))?;
                out.tolerance.insert(metric.clone(), pct);
            }
            continue;
        }
        let Some(text) = value.as_str() else {
            return Err(at.error("an expectation is a string such as \"< 900\""));
        };
        let Some((platform, metric)) = key.rsplit_once('.') else {
            return Err(at.error(format!(
                "`{key}`: write \"<platform>.<metric>\", e.g. \"{}.p95_ms\"",
                platforms.first().map_or("lambda", String::as_str)
            )));
        };
        if !platforms.iter().any(|p| p == platform) {
            return Err(at.error(format!(
                "unknown platform `{platform}`; the platforms are: {}",
                platforms.join(", ")
            )));
        }
        if !metric_names().contains(&metric) {
            return Err(at.error(format!(
                "unknown metric `{metric}`; the metrics are: {}",
                metric_names().join(", ")
            )));
        }
        let (op, value, bound) = parse_expression(text).map_err(|m| at.error(m))?;
        out.entries.push(Expectation {
            key: key.clone(),
            platform: platform.to_string(),
            metric: metric.to_string(),
            op,
            value,
            bound,
            text: text.trim().to_string(),
        });
    }
    Ok(out)
}

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

/// Mean and interval of `metric` for (point, platform) over replications.
fn statistic(
    rows: &[Row],
    point: usize,
    platform: &str,
    metric: &str,
) -> Option<(f64, Option<(f64, f64)>)> {
    let column = SUMMARY_COLUMNS.iter().position(|m| *m == metric)?;
    estimate(rows, point, platform, column)
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
pub fn evaluate(exp: &Expectations, points: &[usize], rows: &[Row]) -> Vec<CheckRow> {
    let mut out = Vec::new();
    for e in &exp.entries {
        for &point in points {
            let name = if points.len() > 1 {
                format!("{} @point {point}", e.key)
            } else {
                e.key.clone()
            };
            let stat = statistic(rows, point, &e.platform, &e.metric);
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

/// Whether lower (`Some(true)`), higher (`Some(false)`) or neither is better.
fn lower_is_better(metric: &str) -> Option<bool> {
    match metric {
        "requests" => None,
        "completed" => Some(false),
        _ => Some(true),
    }
}

/// Baseline values by (point, platform, metric): the mean over replications.
pub type Baseline = BTreeMap<(usize, String, String), f64>;

/// Reads a baseline: a `-o` folder (its `<name>/`), a scenario's output
/// folder, or a summary.csv / aggregate.csv file.
pub fn read_baseline(path: &Path, scenario: &str) -> Result<Baseline> {
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
    let text =
        std::fs::read_to_string(file).map_err(|e| Error::io(file, "cannot read baseline", e))?;
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
        for m in metric_names() {
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

/// Compares this run's means with a baseline, metric by metric.
pub fn compare(
    baseline: &Baseline,
    rows: &[Row],
    tolerance_pct: f64,
    overrides: &BTreeMap<String, f64>,
) -> Vec<CheckRow> {
    let mut out = Vec::new();
    let mut keys: Vec<(usize, &str)> = Vec::new();
    for r in rows {
        if !keys.contains(&(r.point, r.platform)) {
            keys.push((r.point, r.platform));
        }
    }
    for &(point, platform) in &keys {
        if !baseline
            .keys()
            .any(|(p, name, _)| *p == point && name == platform)
        {
            out.push(CheckRow {
                kind: "baseline",
                name: format!("{platform} @point {point}"),
                expected: "a baseline row".into(),
                actual: "none in the baseline".into(),
                pass: false,
                verdict: "FAIL (missing)".into(),
            });
            continue;
        }
        // in_flight_end only measures where the horizon cut: not a quality.
        for m in metric_names().iter().filter(|m| **m != "in_flight_end") {
            let Some(&old) = baseline.get(&(point, platform.to_string(), m.to_string())) else {
                continue;
            };
            let Some((new, _)) = statistic(rows, point, platform, m) else {
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
            let worse = match lower_is_better(m) {
                Some(true) => change_pct,
                Some(false) => -change_pct,
                None => change_pct.abs(),
            };
            let (pass, verdict) = if worse > tol {
                (false, "FAIL (regression)".to_string())
            } else if worse < -tol && lower_is_better(m).is_some() {
                (true, "improved".to_string())
            } else {
                (true, "pass".to_string())
            };
            let sweep = keys.iter().any(|k| k.0 != 0);
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

/// The verdict table for stdout.
pub fn table(scenario: &str, rows: &[CheckRow]) -> String {
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
    let failed = rows.iter().filter(|r| !r.pass).count();
    let _ = writeln!(out, "  {} passed, {} failed", rows.len() - failed, failed);
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

    #[test]
    fn expressions_parse() {
        assert_eq!(parse_expression("< 900"), Ok((Op::Lt, 900.0, Bound::Mean)));
        assert_eq!(
            parse_expression(" <= 0.01 "),
            Ok((Op::Le, 0.01, Bound::Mean))
        );
        assert_eq!(
            parse_expression("> 5 @ci_low"),
            Ok((Op::Gt, 5.0, Bound::CiLow))
        );
        assert_eq!(parse_expression("==0"), Ok((Op::Eq, 0.0, Bound::Mean)));
        assert!(
            parse_expression("< abc")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(parse_expression("~ 5").unwrap_err().contains("operator"));
        assert!(parse_expression("< 5 @p99").unwrap_err().contains("suffix"));
        assert!(parse_expression("< inf").is_err());
    }

    #[test]
    fn baseline_directions() {
        let mut fields = vec![String::new(); SUMMARY_COLUMNS.len()];
        let p95 = SUMMARY_COLUMNS.iter().position(|c| *c == "p95_ms").unwrap();
        let done = SUMMARY_COLUMNS
            .iter()
            .position(|c| *c == "completed")
            .unwrap();
        fields[p95] = "110".into();
        fields[done] = "90".into();
        let rows = [Row {
            point: 0,
            platform: "l",
            fields: &fields,
        }];
        let mut base = Baseline::new();
        base.insert((0, "l".into(), "p95_ms".into()), 100.0);
        base.insert((0, "l".into(), "completed".into()), 100.0);
        // +10 % latency and -10 % completed: both regressions beyond 5 %.
        let r = compare(&base, &rows, 5.0, &BTreeMap::new());
        assert!(r.iter().all(|c| !c.pass), "{r:?}");
        // Within a 10 % per-metric override and a 15 % default: pass.
        let mut o = BTreeMap::new();
        o.insert("p95_ms".to_string(), 10.0);
        let r = compare(&base, &rows, 15.0, &o);
        assert!(r.iter().all(|c| c.pass), "{r:?}");
        // An improvement passes and says so.
        base.insert((0, "l".into(), "p95_ms".into()), 200.0);
        let r = compare(&base, &rows, 5.0, &BTreeMap::new());
        assert_eq!(
            r.iter().find(|c| c.name == "l.p95_ms").unwrap().verdict,
            "improved"
        );
    }
}
