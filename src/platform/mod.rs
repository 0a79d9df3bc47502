//! The platforms, and the registry: the one list of platform kinds.
//!
//! A kind is one folder under `platform/` and one line in [`KINDS`]. Each
//! kind owns its strict scenario table (serde, unknown keys rejected, errors
//! at their line and column), its validation into a config, its model (an
//! [`engine::Model`](crate::engine::Model)), its pricing and the names of the
//! gauges it reports in timeseries.csv. Nothing outside its folder names it.

pub mod container;
pub mod ecs_fargate;
pub mod fixed_pool;
pub mod knative;
pub mod kubernetes;
pub mod lambda;
pub mod token_bucket;

use std::any::Any;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::cost::Bill;
use crate::engine::{CancelToken, Cancelled, Clock};
use crate::error::{FieldError, FieldPath};
use crate::metrics::Recorder;
use crate::rng::{SimRng, stream};
use crate::workload::{Function, Requests};

/// Every platform kind, in the order their gauges appear in timeseries.csv.
/// Adding a platform: its folder, and one line here.
pub const KINDS: &[&Kind] = &[
    &lambda::KIND,
    &kubernetes::KIND,
    &ecs_fargate::KIND,
    &knative::KIND,
    &fixed_pool::KIND,
];

pub use crate::metrics::MAX_GAUGES;

/// A platform kind: how its `[[platforms]]` table is read and what it reports.
pub struct Kind {
    /// The `kind = "..."` value.
    pub name: &'static str,
    /// A platform's `name` when the table gives none.
    pub default_name: &'static str,
    /// Its gauges (timeseries.csv columns), at most [`MAX_GAUGES`]; kinds
    /// share a column by naming the same gauge.
    pub gauges: &'static [&'static str],
    /// The gauges summed into the capacity line of the load chart.
    pub capacity: &'static [&'static str],
    /// What that line counts, for the chart's legend.
    pub capacity_label: &'static str,
    /// Whether it has nodes (the `mean_nodes` / `peak_nodes` columns and the
    /// `nodes` gauge).
    pub has_nodes: bool,
    /// The keys its table accepts besides `name` and `kind`.
    pub fields: fn() -> &'static [&'static str],
    /// Reads its table (the shape: serde, strict) into its spec.
    pub read: fn(Table) -> Result<Box<dyn PlatformSpec>, toml::de::Error>,
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().copied().find(|k| k.name == name)
}

/// The gauge columns of timeseries.csv: every kind's gauges, in registry
/// order, each once.
pub fn gauge_columns() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for k in KINDS {
        for g in k.gauges {
            if !out.contains(g) {
                out.push(g);
            }
        }
    }
    out
}

/// What validation of a platform table may need from the rest of the scenario.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a> {
    /// The workload's function names, in order.
    pub functions: &'a [String],
    /// Each function's application (Azure's `HashApp`, the `app` of an
    /// `app/func` name, else the function's own name).
    pub apps: &'a [String],
    /// Notes for stderr (warnings that do not stop the run).
    pub notes: &'a std::cell::RefCell<Vec<String>>,
    /// Where the table is, for error paths (`platforms[i]`).
    pub path: &'a FieldPath,
}

/// A `[[platforms]]` table, without its `name` and `kind` keys: from the
/// scenario file (with source positions) or from an edited sweep point.
pub enum Table<'a> {
    Spanned(toml::Spanned<toml::de::DeValue<'a>>),
    Plain(toml::Value),
}

impl Table<'_> {
    /// Deserialises the table into a kind's spec.
    pub fn into_spec<T: DeserializeOwned>(self) -> Result<T, toml::de::Error> {
        match self {
            Table::Spanned(v) => T::deserialize(toml::de::ValueDeserializer::from(v)),
            Table::Plain(v) => T::deserialize(v),
        }
    }
}

/// A kind's table as read, before validation.
pub trait PlatformSpec: std::fmt::Debug + Send + Sync {
    /// Validates it into the platform's config.
    fn validate(&self, setting: &Setting) -> Result<Arc<dyn Platform>, FieldError>;
}

/// A kind's `read`: its spec `S` from the table.
pub fn read_spec<S: DeserializeOwned + PlatformSpec + 'static>(
    table: Table,
) -> Result<Box<dyn PlatformSpec>, toml::de::Error> {
    let spec: S = table.into_spec()?;
    Ok(Box::new(spec))
}

/// The field names of a serde struct, read from its derived `Deserialize`
/// (which hands them to the deserializer), for error messages.
pub fn fields_of<S: DeserializeOwned>() -> &'static [&'static str] {
    struct Fields(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Stop
        }
    }
    impl<'de> serde::Deserializer<'de> for &mut Fields {
        type Error = Stop;
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut f = Fields(None);
    let _ = S::deserialize(&mut f);
    f.0.unwrap_or(&[])
}

/// A platform's random streams for one replication, named after it, so
/// adding a platform never moves another's draws.
#[derive(Debug, Clone, Copy)]
pub struct Streams<'a> {
    pub seed: u64,
    pub replication: u32,
    pub platform: &'a str,
}

impl Streams<'_> {
    /// The stream `platform/<name>/<what>`.
    pub fn named(&self, what: &str) -> SimRng {
        stream(
            self.seed,
            self.replication,
            &format!("platform/{}/{what}", self.platform),
        )
    }
}

/// Everything one run of a platform needs besides its config.
pub struct RunInput<'a> {
    /// The workload's functions, in order.
    pub functions: &'a [Function],
    pub streams: Streams<'a>,
    pub requests: Requests,
    pub clock: Clock,
    pub rec: Recorder,
    pub cancel: &'a CancelToken,
}

/// A validated platform configuration: it knows its kind and runs its model.
pub trait Platform: std::fmt::Debug + Send + Sync + Any {
    /// Its kind in the registry.
    fn kind(&self) -> &'static Kind;

    /// Builds the model at t = 0 and runs it to the horizon (the engine's
    /// loop, monomorphised for the model).
    fn simulate(&self, input: RunInput) -> Result<(Recorder, Bill), Cancelled>;

    /// For downcasting to the concrete config (tests, tools).
    fn as_any(&self) -> &dyn Any;

    /// The longest a request may execute before the platform stops it
    /// (Lambda's `timeout_s`), if it has such a limit: how long a trace
    /// window's run goes on after the window's last arrival.
    fn longest_execution(&self) -> Option<crate::time::SimDuration> {
        None
    }

    /// The most attempts one request can make (throttles and failures
    /// tried again), for the event budget checked before a run.
    fn most_attempts(&self) -> f64 {
        1.0
    }
}

/// A platform of a scenario.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// The platform's `name`, unique within the scenario.
    pub name: String,
    pub config: Arc<dyn Platform>,
}

impl PlatformConfig {
    /// Its kind.
    pub fn kind(&self) -> &'static Kind {
        self.config.kind()
    }

    /// The concrete config, when it is a `T`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.config.as_any().downcast_ref::<T>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauge_columns_are_the_kinds_in_registry_order() {
        assert_eq!(
            gauge_columns(),
            [
                "instances_busy",
                "instances_idle",
                "instances_initialising",
                "pods_desired",
                "pods_ready",
                "pods_pending",
                "nodes",
                "nodes_provisioning"
            ]
        );
        for k in KINDS {
            assert!(k.gauges.len() <= MAX_GAUGES, "{}", k.name);
            assert!(k.capacity.iter().all(|c| k.gauges.contains(c)));
            assert_eq!(kind(k.name).map(|k| k.name), Some(k.name));
        }
    }

    #[test]
    fn field_names_come_from_the_spec() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            a: Option<i64>,
            b_c: Option<String>,
        }
        assert_eq!(fields_of::<S>(), ["a", "b_c"]);
    }
}
