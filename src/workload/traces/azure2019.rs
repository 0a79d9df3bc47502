//! Azure Functions 2019: invocation counts per minute
//! (`HashOwner,HashApp,HashFunction,Trigger,1..1440`, one file per day),
//! durations as percentiles per function, and allocated memory per app.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::records::{Next, Records};
use super::{column, lambda_memory, missing_column, row_error};
use crate::engine::CancelToken;
use crate::error::Result;
use crate::workload::dist::{Dist, MAX_DURATION_S};

/// Azure 2019 invocation files: `HashOwner,HashApp,HashFunction,Trigger,1..1440`.
pub(super) fn minute_columns(
    headers: &[String],
    file: &Path,
) -> Result<(usize, usize, Vec<usize>)> {
    let need = |n: &str| column(headers, n).ok_or_else(|| missing_column(file, n, headers));
    let app = need("HashApp")?;
    let func = need("HashFunction")?;
    let minutes: Vec<usize> = (1..=1440)
        .map(|m| need(&m.to_string()))
        .collect::<Result<_>>()?;
    Ok((app, func, minutes))
}

pub(super) fn parse_counts(
    rec: &super::csv_lines::Record,
    file: &Path,
    func: usize,
    minutes: &[usize],
) -> Result<(String, Vec<u32>)> {
    let line = rec.line();
    let name = rec
        .get(func)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| row_error(file, line, "HashFunction", "", "a missing function hash"))?;
    let mut counts = Vec::with_capacity(minutes.len());
    for (m, &c) in minutes.iter().enumerate() {
        let s = rec.get(c).map(str::trim).ok_or_else(|| {
            row_error(
                file,
                line,
                &(m + 1).to_string(),
                "",
                "the row has too few minute columns",
            )
        })?;
        let v: u32 = s.parse().map_err(|_| {
            row_error(
                file,
                line,
                &(m + 1).to_string(),
                s,
                "not a whole number of invocations",
            )
        })?;
        counts.push(v);
    }
    Ok((name.to_string(), counts))
}

/// Azure 2019 durations: per function, work from its percentiles (ms).
pub(super) fn read_durations(
    files: &[PathBuf],
    skip: bool,
    cancel: &CancelToken,
) -> Result<HashMap<String, Dist>> {
    let mut out = HashMap::new();
    const P: [(&str, f64); 7] = [
        ("percentile_Average_0", 0.0),
        ("percentile_Average_1", 0.01),
        ("percentile_Average_25", 0.25),
        ("percentile_Average_50", 0.5),
        ("percentile_Average_75", 0.75),
        ("percentile_Average_99", 0.99),
        ("percentile_Average_100", 1.0),
    ];
    let mut records = Records::new(files, skip, cancel);
    let (mut func, mut cols) = (0, Vec::new());
    loop {
        match records.advance()? {
            Next::End => break,
            Next::File(_) => {
                let (file, headers) = (records.file(), records.headers());
                func = column(headers, "HashFunction")
                    .ok_or_else(|| missing_column(file, "HashFunction", headers))?;
                cols = P
                    .iter()
                    .map(|(n, _)| {
                        column(headers, n).ok_or_else(|| missing_column(file, n, headers))
                    })
                    .collect::<Result<_>>()?;
                continue;
            }
            Next::Record => {}
        }
        let (rec, file) = (&records.record, records.file());
        let line = rec.line();
        let parsed: Result<Vec<f64>> = cols
            .iter()
            .zip(P)
            .map(|(&c, (n, _))| {
                let s = rec.get(c).map_or("", str::trim);
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && (0.0..=MAX_DURATION_S * 1e3).contains(v))
                    .ok_or_else(|| {
                        row_error(
                            file,
                            line,
                            n,
                            s,
                            "not a duration in ms from 0 to 1e12 (1e9 s)",
                        )
                    })
            })
            .collect();
        let v = match parsed {
            Ok(v) => v,
            Err(_) if skip => continue,
            Err(e) => return Err(e),
        };
        // Percentiles of 30-second averages can dip: keep them non-decreasing.
        let mut secs = Vec::with_capacity(7);
        for x in v {
            let s = x / 1e3;
            secs.push(secs.last().map_or(s, |&l: &f64| l.max(s)));
        }
        let name = rec.get(func).map_or("", str::trim).to_string();
        out.insert(
            name,
            Dist::Empirical {
                p: P.iter().map(|p| p.1).collect(),
                v: secs,
            },
        );
    }
    Ok(out)
}

/// Azure 2019 app memory (`AverageAllocatedMb` per app), mapped to each
/// function of the app through the invocation files.
pub(super) fn read_app_memory(
    files: &[PathBuf],
    invocations: &[PathBuf],
    skip: bool,
    cancel: &CancelToken,
) -> Result<HashMap<String, u32>> {
    if files.is_empty() {
        return Ok(HashMap::new());
    }
    let mut app_mb: HashMap<String, u32> = HashMap::new();
    let mut records = Records::new(files, skip, cancel);
    let (mut app, mut mb) = (0, 0);
    loop {
        match records.advance()? {
            Next::End => break,
            Next::File(_) => {
                let (file, headers) = (records.file(), records.headers());
                app = column(headers, "HashApp")
                    .ok_or_else(|| missing_column(file, "HashApp", headers))?;
                mb = column(headers, "AverageAllocatedMb")
                    .ok_or_else(|| missing_column(file, "AverageAllocatedMb", headers))?;
                continue;
            }
            Next::Record => {}
        }
        let rec = &records.record;
        let s = rec.get(mb).map_or("", str::trim);
        match s.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0) {
            Some(v) => {
                app_mb.insert(
                    rec.get(app).map_or("", str::trim).to_string(),
                    lambda_memory(v),
                );
            }
            None if skip => continue,
            None => {
                return Err(row_error(
                    records.file(),
                    rec.line(),
                    "AverageAllocatedMb",
                    s,
                    "not a memory size in MB > 0",
                ));
            }
        }
    }
    let mut out = HashMap::new();
    let mut records = Records::new(invocations, skip, cancel);
    let (mut app, mut func) = (0, 0);
    loop {
        match records.advance()? {
            Next::End => break,
            Next::File(_) => {
                (app, func, _) = minute_columns(records.headers(), records.file())?;
                continue;
            }
            Next::Record => {}
        }
        let rec = &records.record;
        if let (Some(a), Some(f)) = (rec.get(app).map(str::trim), rec.get(func).map(str::trim))
            && let Some(&mb) = app_mb.get(a)
        {
            out.insert(f.to_string(), mb);
        }
    }
    Ok(out)
}
