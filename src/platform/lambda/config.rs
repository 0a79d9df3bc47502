//! Lambda configuration: the `[[platforms]]` fields of `kind = "lambda"`,
//! validated into [`LambdaConfig`]. Limits and defaults are from the Lambda
//! developer guide and the AWS Lambda pricing page; each constant names its page.

use serde::Deserialize;

use crate::cost::LambdaPricingSpec;
use crate::cost::{Architecture, LambdaPricing};
use crate::error::{FieldError, FieldPath};
use crate::time::{SimDuration, SimTime};
use crate::workload::dist::Dist;
use crate::workload::dist::DistSpec;

use super::keepalive::fixed::Fixed;
use super::keepalive::{KeepAliveConfig, KeepAliveSpec};

pub use crate::workload::MB_PER_VCPU;
/// Memory limits \[MB\] (Lambda developer guide, 'Configure Lambda function memory').
pub const MIN_MEMORY_MB: i64 = 128;
pub const MAX_MEMORY_MB: i64 = 10_240;
/// Longest function timeout \[s\] (Lambda developer guide, 'Lambda quotas').
pub const MAX_TIMEOUT_S: f64 = 900.0;
/// Longest on-demand INIT phase (Lambda developer guide, 'Understanding the Lambda
/// execution environment lifecycle': "The Init phase is limited to 10 seconds. If
/// all three tasks do not complete within 10 seconds, Lambda retries the Init phase
/// at the time of the first function invocation with the configured function
/// timeout").
pub const INIT_LIMIT: SimDuration = SimDuration::from_secs(10);
/// Retries of an async event's function error or timeout: at most 2, the
/// default (Lambda developer guide, 'How Lambda handles errors and retries with
/// asynchronous invocation'), one minute before the first retry and two
/// minutes before the second.
pub const MAX_ASYNC_RETRIES: i64 = 2;
pub const ASYNC_RETRY_DELAYS: [SimDuration; 2] =
    [SimDuration::from_secs(60), SimDuration::from_secs(120)];
/// Invocations per second the account may start, per unit of account
/// concurrency (Lambda developer guide, 'Understanding Lambda function
/// scaling': "Lambda enforces a requests per second limit of 10 times your
/// account's concurrency").
pub const RPS_PER_CONCURRENCY: u32 = 10;
/// Account concurrency that cannot be reserved (Lambda developer guide, 'Configuring reserved
/// concurrency for a function').
pub const UNRESERVABLE: u32 = 100;

/// A count for every function (`50`) or per function (`{ fn_a = 50, fn_b = 10 }`):
/// `reserved_concurrency`, `provisioned_concurrency`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum ReservedSpec {
    All(i64),
    PerFunction(std::collections::BTreeMap<String, i64>),
}

/// One change of `provisioned_schedule`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleEntry {
    at_s: f64,
    value: i64,
    /// Only this function (default: every function).
    function: Option<String>,
}

/// `retries = { max_attempts, base_ms, cap_ms }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetriesSpec {
    max_attempts: Option<i64>,
    base_ms: Option<f64>,
    cap_ms: Option<f64>,
}

/// A `[[platforms]]` table of `kind = "lambda"` (without `name` and `kind`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaSpec {
    memory_mb: Option<i64>,
    architecture: Option<Architecture>,
    timeout_s: Option<f64>,
    account_concurrency: Option<i64>,
    reserved_concurrency: Option<ReservedSpec>,
    provisioned_concurrency: Option<ReservedSpec>,
    provisioned_schedule: Option<Vec<ScheduleEntry>>,
    scaling: Option<ScalingSpec>,
    init: Option<DistSpec>,
    keep_alive: Option<KeepAliveSpec>,
    invocation: Option<Invocation>,
    retries: Option<RetriesSpec>,
    #[serde(rename = "async")]
    async_: Option<AsyncSpec>,
    overhead_ms: Option<f64>,
    cpu_scaling: Option<bool>,
    rps_quota_per_s: Option<i64>,
    pricing: Option<LambdaPricingSpec>,
}

/// `scaling = { kind = "per_function" | "legacy", ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ScalingSpec {
    PerFunction(PerFunctionSpec),
    Legacy(LegacySpec),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PerFunctionSpec {
    per_10s: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LegacySpec {
    burst: Option<i64>,
    per_minute: Option<i64>,
}

/// How the caller invokes the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invocation {
    /// RequestResponse: a throttle is a 429 to the caller.
    Sync,
    /// Event: Lambda queues the event and retries throttles itself.
    Async,
}

/// Sync client retries on 429: exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base: SimDuration,
    pub cap: SimDuration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AsyncSpec {
    max_event_age_s: Option<f64>,
    max_retry_attempts: Option<i64>,
}

/// How new execution environments are rate-limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    /// Since 2023-11-27: a bucket per function of `per_10s` tokens, refilled
    /// continuously at `per_10s / 10` per second (Lambda developer guide, 'Lambda scaling
    /// behavior').
    PerFunction { per_10s: u32 },
    /// Before: one account-wide bucket of `burst` tokens refilled at
    /// `per_minute / 60` per second (AWS News Blog, 'AWS Lambda functions now scale 12 times
    /// faster when handling high-volume requests', 2023-11-27).
    Legacy { burst: u32, per_minute: u32 },
}

/// A validated Lambda configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaConfig {
    pub memory_mb: u32,
    pub architecture: Architecture,
    pub timeout: SimDuration,
    pub account_concurrency: u32,
    /// Reserved concurrency of each function (by function index).
    pub reserved: Vec<Option<u32>>,
    pub scaling: Scaling,
    /// INIT duration; a sample past [`INIT_LIMIT`] is retried at the invocation.
    pub init: Dist,
    /// The keep-alive policy, in its initial state.
    pub keep_alive: KeepAliveConfig,
    pub max_lifetime: SimDuration,
    pub overhead: SimDuration,
    pub cpu_scaling: bool,
    pub pricing: LambdaPricing,
    /// Provisioned concurrency of each function: changes (time, environments),
    /// the first at t = 0.
    pub provisioned: Vec<Vec<(SimTime, u32)>>,
    pub invocation: Invocation,
    pub retries: Option<Retries>,
    /// Async events older than this are dropped.
    pub max_event_age: SimDuration,
    /// Retries of an async event after a function error or timeout (0-2).
    pub max_retry_attempts: u32,
    /// Invocations the account may start per second (a token bucket of one
    /// second's worth, refilled continuously).
    pub rps_quota_per_s: u32,
}

/// Largest `max_event_age_s`: 6 hours (Lambda developer guide, 'Configuring error handling
/// settings for Lambda asynchronous invocations').
pub const MAX_EVENT_AGE_S: f64 = 21_600.0;
/// Smallest `max_event_age_s`: 60 s (the API's lower bound).
pub const MIN_EVENT_AGE_S: f64 = 60.0;

impl LambdaSpec {
    /// Validates the Lambda platform at `path` for a workload with `functions`.
    pub fn to_config(
        &self,
        path: &FieldPath,
        functions: &[String],
    ) -> Result<LambdaConfig, FieldError> {
        let memory_mb = path.int_in(
            "memory_mb",
            self.memory_mb.unwrap_or(128),
            MIN_MEMORY_MB,
            MAX_MEMORY_MB,
        )?;
        let timeout_s = self.timeout_s.unwrap_or(MAX_TIMEOUT_S);
        if timeout_s > MAX_TIMEOUT_S {
            return Err(path.key("timeout_s").error(format!(
                "timeout_s = {timeout_s}: Lambda's maximum is {MAX_TIMEOUT_S} s (15 minutes); \
                 longer jobs need another platform, or split the work"
            )));
        }
        let timeout = path.positive_secs("timeout_s", timeout_s, MAX_TIMEOUT_S)?;
        let account = path.int_in(
            "account_concurrency",
            self.account_concurrency.unwrap_or(1000),
            1,
            10_000_000,
        )?;
        let reserved = match &self.reserved_concurrency {
            None => vec![None; functions.len()],
            Some(ReservedSpec::All(n)) => {
                let n = path.int_in("reserved_concurrency", *n, 0, i64::from(account))?;
                vec![Some(n); functions.len()]
            }
            Some(ReservedSpec::PerFunction(map)) => {
                let rpath = path.key("reserved_concurrency");
                let mut v = vec![None; functions.len()];
                for (name, &n) in map {
                    let Some(i) = functions.iter().position(|f| f == name) else {
                        return Err(rpath.key(name).error(format!(
                            "no function named `{name}`; the workload's functions are: {}",
                            functions.join(", ")
                        )));
                    };
                    v[i] = Some(rpath.int_in(name, n, 0, i64::from(account))?);
                }
                v
            }
        };
        let total_reserved: u64 = reserved.iter().flatten().map(|&r| u64::from(r)).sum();
        if total_reserved > 0 && total_reserved + u64::from(UNRESERVABLE) > u64::from(account) {
            return Err(path.key("reserved_concurrency").error(format!(
                "{total_reserved} reserved in total, but Lambda keeps {UNRESERVABLE} of the \
                 account's {account} unreserved: reserve at most {} or raise account_concurrency",
                u64::from(account).saturating_sub(u64::from(UNRESERVABLE))
            )));
        }
        let provisioned = self.provisioned(path, functions, account, &reserved)?;
        let retries = match &self.retries {
            None => None,
            Some(r) => {
                let rp = path.key("retries");
                let base_ms = r.base_ms.unwrap_or(100.0);
                let cap_ms = r.cap_ms.unwrap_or(20_000.0);
                for (name, v) in [("base_ms", base_ms), ("cap_ms", cap_ms)] {
                    if !(v.is_finite() && v > 0.0 && v <= 3.6e6) {
                        return Err(rp.key(name).error(format!(
                            "{name} = {v}: must be greater than 0 and at most 3600000"
                        )));
                    }
                }
                Some(Retries {
                    max_attempts: rp.int_in("max_attempts", r.max_attempts.unwrap_or(3), 1, 100)?,
                    base: SimDuration::from_millis_f64(base_ms),
                    cap: SimDuration::from_millis_f64(cap_ms.max(base_ms)),
                })
            }
        };
        let invocation = self.invocation.unwrap_or(Invocation::Sync);
        if invocation == Invocation::Async && retries.is_some() {
            return Err(path.key("retries").error(
                "`retries` are the synchronous caller's; with invocation = \"async\" Lambda \
                 retries throttled events itself (1 s doubling to 5 min) until async.max_event_age_s",
            ));
        }
        let max_event_age_s = self
            .async_
            .as_ref()
            .and_then(|a| a.max_event_age_s)
            .unwrap_or(MAX_EVENT_AGE_S);
        if !(MIN_EVENT_AGE_S..=MAX_EVENT_AGE_S).contains(&max_event_age_s) {
            return Err(path.key("async").key("max_event_age_s").error(format!(
                "max_event_age_s = {max_event_age_s}: Lambda accepts {MIN_EVENT_AGE_S} to \
                 {MAX_EVENT_AGE_S} s (6 hours)"
            )));
        }
        if invocation == Invocation::Sync
            && self
                .async_
                .as_ref()
                .is_some_and(|a| a.max_retry_attempts.is_some())
        {
            return Err(path.key("async").key("max_retry_attempts").error(
                "Lambda retries function errors and timeouts only of asynchronous invocations: \
                 set invocation = \"async\", or leave max_retry_attempts out",
            ));
        }
        let max_retry_attempts = path.key("async").int_in(
            "max_retry_attempts",
            self.async_
                .as_ref()
                .and_then(|a| a.max_retry_attempts)
                .unwrap_or(MAX_ASYNC_RETRIES),
            0,
            MAX_ASYNC_RETRIES,
        )?;
        let rps_quota_per_s = match self.rps_quota_per_s {
            Some(v) => path.int_in("rps_quota_per_s", v, 1, 1_000_000_000)?,
            None => account.saturating_mul(RPS_PER_CONCURRENCY),
        };
        let scaling = match &self.scaling {
            None => Scaling::PerFunction { per_10s: 1000 },
            Some(ScalingSpec::PerFunction(p)) => Scaling::PerFunction {
                per_10s: path.key("scaling").int_in(
                    "per_10s",
                    p.per_10s.unwrap_or(1000),
                    1,
                    100_000_000,
                )?,
            },
            Some(ScalingSpec::Legacy(l)) => {
                let sp = path.key("scaling");
                Scaling::Legacy {
                    burst: sp.int_in("burst", l.burst.unwrap_or(3000), 1, 100_000_000)?,
                    per_minute: sp.int_in(
                        "per_minute",
                        l.per_minute.unwrap_or(500),
                        0,
                        100_000_000,
                    )?,
                }
            }
        };
        let init = match &self.init {
            Some(d) => d.compile(&path.key("init"))?,
            // Median 200 ms, p99 1200 ms (the scenario reference's default, README;
            // Wang et al., USENIX ATC'18, put Python/Node cold starts around 250 ms
            // with a heavy tail).
            None => Dist::lognormal(0.2, 1.2),
        };
        let (keep_alive, max_lifetime) = match &self.keep_alive {
            None => (
                KeepAliveConfig::Fixed(Fixed::default()),
                SimDuration::from_secs(7200),
            ),
            Some(k) => k.compile(&path.key("keep_alive"), functions.len())?,
        };
        let overhead_ms = self.overhead_ms.unwrap_or(0.0);
        if !(overhead_ms.is_finite() && (0.0..=3.6e6).contains(&overhead_ms)) {
            return Err(path.key("overhead_ms").error(format!(
                "overhead_ms = {overhead_ms}: must be between 0 and 3600000"
            )));
        }
        let pricing = match &self.pricing {
            Some(p) => p.compile(&path.key("pricing"))?,
            None => LambdaPricing::default(),
        };
        Ok(LambdaConfig {
            memory_mb,
            architecture: self.architecture.unwrap_or(Architecture::X86_64),
            timeout,
            account_concurrency: account,
            reserved,
            scaling,
            init,
            keep_alive,
            max_lifetime,
            overhead: SimDuration::from_millis_f64(overhead_ms),
            cpu_scaling: self.cpu_scaling.unwrap_or(true),
            pricing,
            provisioned,
            invocation,
            retries,
            max_event_age: SimDuration::from_secs_f64(max_event_age_s),
            max_retry_attempts,
            rps_quota_per_s,
        })
    }
}

impl LambdaSpec {
    /// `provisioned_concurrency` and `provisioned_schedule`, per function.
    fn provisioned(
        &self,
        path: &FieldPath,
        functions: &[String],
        account: u32,
        reserved: &[Option<u32>],
    ) -> Result<Vec<Vec<(SimTime, u32)>>, FieldError> {
        let ppath = path.key("provisioned_concurrency");
        let index = |p: &FieldPath, name: &str| {
            functions.iter().position(|f| f == name).ok_or_else(|| {
                p.error(format!(
                    "no function named `{name}`; the workload's functions are: {}",
                    functions.join(", ")
                ))
            })
        };
        let mut initial = vec![0u32; functions.len()];
        match &self.provisioned_concurrency {
            None => {}
            Some(ReservedSpec::All(n)) => {
                let n = path.int_in("provisioned_concurrency", *n, 0, i64::from(account))?;
                initial.fill(n);
            }
            Some(ReservedSpec::PerFunction(map)) => {
                for (name, &n) in map {
                    let i = index(&ppath.key(name), name)?;
                    initial[i] = ppath.int_in(name, n, 0, i64::from(account))?;
                }
            }
        }
        let mut plan: Vec<Vec<(SimTime, u32)>> =
            initial.iter().map(|&n| vec![(SimTime::ZERO, n)]).collect();
        let spath = path.key("provisioned_schedule");
        let mut entries: Vec<(usize, &ScheduleEntry)> = self
            .provisioned_schedule
            .iter()
            .flatten()
            .enumerate()
            .collect();
        entries.sort_by(|a, b| a.1.at_s.total_cmp(&b.1.at_s));
        for (i, e) in entries {
            let at = spath.index(i);
            if !(e.at_s.is_finite() && e.at_s >= 0.0 && e.at_s <= 1e9) {
                return Err(at
                    .key("at_s")
                    .error(format!("at_s = {}: must be between 0 and 1e9", e.at_s)));
            }
            let value = at.int_in("value", e.value, 0, i64::from(account))?;
            let t = SimTime::from_secs_f64(e.at_s);
            let targets: Vec<usize> = match &e.function {
                Some(name) => vec![index(&at.key("function"), name)?],
                None => (0..functions.len()).collect(),
            };
            for f in targets {
                match plan[f].last_mut() {
                    Some(last) if last.0 == t => last.1 = value,
                    _ => plan[f].push((t, value)),
                }
            }
        }
        // Provisioned environments count against concurrency: within a
        // reservation, or within the unreserved pool less the 100 Lambda keeps.
        let peak = |f: usize| plan[f].iter().map(|c| c.1).max().unwrap_or(0);
        for (f, r) in reserved.iter().enumerate() {
            if let Some(r) = r
                && peak(f) > *r
            {
                return Err(ppath.error(format!(
                    "`{}` would have {} provisioned environments but only {r} reserved: \
                     provisioned concurrency must fit in the function's reservation",
                    functions[f],
                    peak(f)
                )));
            }
        }
        let reserved_total: u32 = reserved.iter().flatten().sum();
        let unreserved_pc: u32 = (0..functions.len())
            .filter(|&f| reserved[f].is_none())
            .map(peak)
            .sum();
        let room = account
            .saturating_sub(reserved_total)
            .saturating_sub(UNRESERVABLE);
        if unreserved_pc > room {
            return Err(ppath.error(format!(
                "{unreserved_pc} provisioned environments, but only {room} of the account's \
                 {account} can be allocated (Lambda keeps {UNRESERVABLE} unreserved): lower it \
                 or raise account_concurrency"
            )));
        }
        Ok(plan)
    }
}
