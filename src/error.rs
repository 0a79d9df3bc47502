//! Errors: what went wrong, where (file, line, column, field) and how to fix it.
//!
//! Every variant is fatal for the run that raised it and maps to exit code 2
//! (bad input or I/O); a failed `check` expectation is not an error.

use std::fmt;

use crate::time::SimDuration;
use std::path::PathBuf;

/// One step of a field path inside a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A dotted field path such as `platforms[0].timeout_s`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// This path extended by a table key.
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        FieldPath(v)
    }

    /// This path extended by an array index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        FieldPath(v)
    }

    /// A validation error about the field at this path.
    pub fn error(&self, message: impl Into<String>) -> FieldError {
        FieldError {
            path: self.clone(),
            message: message.into(),
        }
    }

    // The range checks every spec uses, on field `name` of the table here.

    /// `v` as a whole number in [min, max] (a count; `max` fits a `u32`).
    pub fn int_in(&self, name: &str, v: i64, min: i64, max: i64) -> Result<u32, FieldError> {
        if v < min || v > max {
            return Err(self
                .key(name)
                .error(format!("{name} = {v}: must be between {min} and {max}")));
        }
        Ok(v as u32)
    }

    /// `v` as a finite number in [min, max].
    pub fn num_in(&self, name: &str, v: f64, min: f64, max: f64) -> Result<f64, FieldError> {
        if !(v.is_finite() && v >= min && v <= max) {
            return Err(self
                .key(name)
                .error(format!("{name} = {v}: must be between {min} and {max}")));
        }
        Ok(v)
    }

    /// `v` seconds, in [min, max].
    pub fn secs_in(
        &self,
        name: &str,
        v: f64,
        min: f64,
        max: f64,
    ) -> Result<SimDuration, FieldError> {
        self.num_in(name, v, min, max)
            .map(SimDuration::from_secs_f64)
    }

    /// `v` seconds, greater than 0 and at most `max`.
    pub fn positive_secs(&self, name: &str, v: f64, max: f64) -> Result<SimDuration, FieldError> {
        if !(v.is_finite() && v > 0.0 && v <= max) {
            return Err(self.key(name).error(format!(
                "{name} = {v}: must be greater than 0 and at most {max} s"
            )));
        }
        Ok(SimDuration::from_secs_f64(v))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A scenario value that parsed but breaks a rule (a limit, a relation between fields).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub path: FieldPath,
    pub message: String,
}

/// Everything surgesim can fail with. All are fatal (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scenario file is malformed or breaks a rule.
    #[error("{}", scenario_message(.file, *.location, .field, .message))]
    Scenario {
        file: PathBuf,
        /// 1-based line and column, where known.
        location: Option<(usize, usize)>,
        /// The dotted field path, where known.
        field: Option<String>,
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    /// A chart could not be drawn.
    #[error("drawing a chart: {0}")]
    Chart(String),
    /// SIGINT or SIGTERM: the run stopped and wrote nothing.
    #[error(
        "interrupted: stopped before writing any output (files from earlier runs are untouched)"
    )]
    Interrupted,
    /// A command-line argument is unusable.
    #[error("{0}")]
    Usage(String),
}

fn scenario_message(
    file: &std::path::Path,
    location: Option<(usize, usize)>,
    field: &Option<String>,
    message: &str,
) -> String {
    let mut s = file.display().to_string();
    if let Some((line, col)) = location {
        s.push_str(&format!(":{line}:{col}"));
    }
    s.push_str(": ");
    if let Some(field) = field {
        s.push_str(&format!("field `{field}`: "));
    }
    s.push_str(message);
    s
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
