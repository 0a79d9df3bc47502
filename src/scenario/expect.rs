//! `\[expect\]` (README, 'Checks in CI'): `"<platform>.<metric>" = "<op> <number>"` entries,
//! with an optional `@ci_low` / `@ci_high` suffix, and `[expect.tolerance]`
//! per-metric baseline tolerances [%], validated against the scenario's
//! platforms and the summary metrics. `surgesim check` evaluates them.

use std::collections::BTreeMap;

use crate::error::{FieldError, FieldPath};
use crate::metrics::summary::METRICS;

/// The metrics an expectation or a baseline can name.
pub fn metric_names() -> Vec<&'static str> {
    METRICS.iter().map(|m| m.name).collect()
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
    pub fn holds(self, a: f64, b: f64) -> bool {
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

/// One `\[expect\]` entry.
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

/// The validated `\[expect\]` table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    pub entries: Vec<Expectation>,
    /// Per-metric baseline tolerances [%].
    pub tolerance: BTreeMap<String, f64>,
}

/// Parses `"< 900 @ci_high"`.
pub fn parse_expression(text: &str) -> std::result::Result<(Op, f64, Bound), String> {
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

/// Validates the `\[expect\]` table against the scenario's platform names.
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
}
