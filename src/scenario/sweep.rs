//! Sweeps (`[sweep]`, README 'Sweeps'): the cartesian product of dotted parameter
//! paths, each point a complete scenario validated like any other.
//!
//! A path walks the scenario's tables: `platforms.<name>.<field>` picks a
//! platform by its `name`, `workload.functions.<name>` a function,
//! `key[i]` an array element (`workload.arrival.phases[1].rate_per_s`).
//! Points are numbered in row-major order over the sweep's keys sorted by
//! name (the last key varies fastest), so a point's id is stable.

use std::path::Path;

use crate::error::{Error, FieldError, FieldPath, Result};
use crate::scenario::{
    RawPlatform, RawScenario, Scenario, field_error, raw_from_table, read_platforms_plain,
};

/// Most points one sweep may have.
pub const MAX_POINTS: usize = 10_000;
/// Most scenario text a sweep may expand to (points x the file's bytes):
/// each point validates its own copy, taking time and memory in proportion
/// (100 points of a 258 KB scenario of 2,000 functions: 1.1 s, 77 MB).
pub const MAX_EXPANDED_BYTES: usize = 128 << 20;

/// One point of a sweep.
#[derive(Debug, Clone)]
pub struct Point {
    /// Row-major index over the sorted sweep keys.
    pub id: usize,
    /// (path, value as written in TOML) for each sweep key.
    pub params: Vec<(String, String)>,
    pub scenario: Scenario,
}

enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> std::result::Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() {
            return Err(format!("`{path}` has an empty part"));
        }
        steps.push(Step::Key(key.to_string()));
        while let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("`{path}`: unclosed `[`"))?;
            let i = r[..end]
                .parse()
                .map_err(|_| format!("`{path}`: `[{}]` is not an index", &r[..end]))?;
            steps.push(Step::Index(i));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("`{path}`: unexpected `{rest}`"));
        }
    }
    Ok(steps)
}

/// The name an array element is picked by: its `name`, else its `kind`.
fn element_name(v: &toml::Value) -> Option<&str> {
    let t = v.as_table()?;
    t.get("name")
        .or_else(|| t.get("kind"))
        .and_then(|n| n.as_str())
}

/// Sets `value` at `path` inside `root`, creating missing tables on the way.
fn set(root: &mut toml::Table, path: &str, value: toml::Value) -> std::result::Result<(), String> {
    let steps = parse_path(path)?;
    let mut v = toml::Value::Table(std::mem::take(root));
    let r = set_in(&mut v, &steps, value, path);
    if let toml::Value::Table(t) = v {
        *root = t;
    }
    r
}

fn set_in(
    here: &mut toml::Value,
    steps: &[Step],
    value: toml::Value,
    path: &str,
) -> std::result::Result<(), String> {
    let last = steps.len() == 1;
    let next = match (here, &steps[0]) {
        (toml::Value::Table(t), Step::Key(k)) => {
            if last {
                t.insert(k.clone(), value);
                return Ok(());
            }
            t.entry(k.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        }
        (toml::Value::Array(a), Step::Key(name)) => {
            let Some(j) = a
                .iter()
                .position(|v| element_name(v) == Some(name.as_str()))
            else {
                let names: Vec<&str> = a.iter().filter_map(element_name).collect();
                return Err(format!(
                    "`{path}`: nothing named `{name}` here; the names are: {}",
                    names.join(", ")
                ));
            };
            &mut a[j]
        }
        (toml::Value::Array(a), Step::Index(j)) => {
            let len = a.len();
            a.get_mut(*j)
                .ok_or_else(|| format!("`{path}`: index {j} is past the {len} elements"))?
        }
        _ => {
            return Err(format!(
                "`{path}` does not lead through tables and arrays of this scenario"
            ));
        }
    };
    if last {
        *next = value;
        Ok(())
    } else {
        set_in(next, &steps[1..], value, path)
    }
}

/// Expands the `[sweep]` of scenario text `src` (already validated without
/// it) into its points, each checked by `validate`.
pub(crate) fn expand(
    src: &str,
    file: &Path,
    validate: impl Fn(RawScenario, Vec<RawPlatform>) -> std::result::Result<Scenario, FieldError>,
) -> Result<Vec<Point>> {
    let at = |key: &str, msg: String| {
        field_error(
            src,
            file,
            FieldPath::root().key("sweep").key(key).error(msg),
        )
    };
    let mut table: toml::Table = toml::from_str(src).map_err(|e| Error::Scenario {
        file: file.to_path_buf(),
        location: None,
        field: None,
        message: e.message().to_string(),
    })?;
    let Some(toml::Value::Table(sweep)) = table.remove("sweep") else {
        return Err(at(
            "",
            "[sweep] must be a table of `\"path\" = [values]`".into(),
        ));
    };
    let mut keys: Vec<(String, Vec<toml::Value>)> = Vec::new();
    for (k, v) in sweep {
        match v {
            toml::Value::Array(values) if !values.is_empty() => keys.push((k, values)),
            _ => {
                return Err(at(
                    &k,
                    format!("`{k}` must be a non-empty array of values, e.g. [512, 1024]"),
                ));
            }
        }
    }
    if keys.is_empty() {
        return Err(at(
            "",
            "[sweep] is empty: give at least one \"path\" = [values]".into(),
        ));
    }
    let total = keys
        .iter()
        .try_fold(1usize, |n, (_, v)| n.checked_mul(v.len()))
        .filter(|&n| n <= MAX_POINTS)
        .ok_or_else(|| {
            at(
                &keys[0].0,
                format!("the sweep has more than {MAX_POINTS} points: sweep fewer values"),
            )
        })?;
    if total.saturating_mul(src.len()) > MAX_EXPANDED_BYTES {
        return Err(at(
            &keys[0].0,
            format!(
                "{total} points, each a copy of this {}-byte scenario to validate, expand to \
                 {} MiB, more than the {} MiB a sweep may (validating takes time and memory in \
                 proportion); sweep fewer values, list fewer functions (a trace replays \
                 many), or split the sweep into several files",
                src.len(),
                total.saturating_mul(src.len()).div_ceil(1 << 20),
                MAX_EXPANDED_BYTES >> 20
            ),
        ));
    }
    // A trace is scanned once for the file: its settings cannot be swept.
    let traced = matches!(
        table.get("workload").and_then(|w| w.get("arrival")).and_then(|a| a.get("kind")),
        Some(toml::Value::String(k)) if k == "trace"
    );
    if let Some((k, _)) = keys
        .iter()
        .find(|(k, _)| traced && k.starts_with("workload"))
    {
        return Err(at(
            k,
            format!("`{k}`: a replayed trace's settings cannot be swept; use one file per setting"),
        ));
    }
    let mut points = Vec::with_capacity(total);
    for id in 0..total {
        let mut t = table.clone();
        let mut params = Vec::with_capacity(keys.len());
        let mut rest = id;
        let mut choice = vec![0; keys.len()];
        for (i, (_, values)) in keys.iter().enumerate().rev() {
            choice[i] = rest % values.len();
            rest /= values.len();
        }
        for ((k, values), &c) in keys.iter().zip(&choice) {
            set(&mut t, k, values[c].clone()).map_err(|m| at(k, m))?;
            params.push((k.clone(), values[c].to_string()));
        }
        let label = params
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let in_point = |e: FieldError| {
            at(
                &keys[0].0,
                format!("at sweep point {id} ({label}): `{}`: {}", e.path, e.message),
            )
        };
        let platforms = read_platforms_plain(&t).map_err(in_point)?;
        let raw = raw_from_table(t)
            .map_err(|m| at(&keys[0].0, format!("at sweep point {id} ({label}): {m}")))?;
        let scenario = validate(raw, platforms).map_err(in_point)?;
        points.push(Point {
            id,
            params,
            scenario,
        });
    }
    Ok(points)
}
