//! The AWS Lambda model (SPEC 3): execution environments, concurrency,
//! scaling buckets, cold starts, keep-alive, timeouts, throttling and the bill.
//!
//! Environments live in a slab. Each function keeps its idle environments in
//! a deque, most recently freed at the back (reused first). Idle expiry is
//! lazy: since `idle_s` is one platform-wide constant, idle deadlines are
//! pushed in time order onto one FIFO, and every handler first retires the
//! environments whose deadline has passed, *at* their deadline. That keeps the
//! instance count exact at every point it is read, at O(1) amortised cost and
//! without a timer event per request. The rarer retirement at
//! `max_lifetime_s` of an idle environment uses a timer event; stale
//! deque entries and timers are recognised by a generation counter.

use serde::Deserialize;
use std::collections::VecDeque;

use crate::cost::{Architecture, LambdaPricing, LambdaUsage, MONTH_S};
use crate::engine::Sim;
use crate::error::{FieldError, FieldPath};
use crate::metrics::{Outcome, Snapshot};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::workload::Request;
use crate::workload::dist::Dist;

use super::{Bill, Platform, PlatformSpec, ScalingSpec};

/// Memory at which a function has one full vCPU [MB] (platform-facts 3).
pub const MB_PER_VCPU: u32 = 1769;
/// Memory limits [MB] (platform-facts 3).
pub const MIN_MEMORY_MB: i64 = 128;
pub const MAX_MEMORY_MB: i64 = 10_240;
/// Longest function timeout [s] (platform-facts 3).
pub const MAX_TIMEOUT_S: f64 = 900.0;
/// Longest on-demand INIT phase [s] (platform-facts 2.1).
pub const INIT_CAP: SimDuration = SimDuration::from_secs(10);
/// Account concurrency that cannot be reserved (platform-facts 1.1).
pub const UNRESERVABLE: u32 = 100;

/// `reserved_concurrency = 50` (every function) or `{ fn_a = 50, fn_b = 10 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum ReservedSpec {
    All(i64),
    PerFunction(std::collections::BTreeMap<String, i64>),
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

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum KeepAliveSpec {
    Fixed(FixedKeepAlive),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixedKeepAlive {
    idle_s: Option<f64>,
    max_lifetime_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Invocation {
    Sync,
    Async,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AsyncSpec {
    max_event_age_s: Option<f64>,
}

/// How new execution environments are rate-limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    /// Since 2023-11-27: a bucket per function of `per_10s` tokens, refilled
    /// continuously at `per_10s / 10` per second (platform-facts 1.2).
    PerFunction { per_10s: u32 },
    /// Before: one account-wide bucket of `burst` tokens refilled at
    /// `per_minute / 60` per second (platform-facts 1.2).
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
    /// INIT duration; samples are capped at [`INIT_CAP`].
    pub init: Dist,
    pub idle: SimDuration,
    pub max_lifetime: SimDuration,
    pub overhead: SimDuration,
    pub cpu_scaling: bool,
    pub pricing: LambdaPricing,
}

fn positive_int(
    path: &FieldPath,
    name: &str,
    v: i64,
    min: i64,
    max: i64,
) -> Result<u32, FieldError> {
    if v < min || v > max {
        return Err(path
            .key(name)
            .error(format!("{name} = {v}: must be between {min} and {max}")));
    }
    Ok(v as u32)
}

fn secs_field(path: &FieldPath, name: &str, v: f64, max: f64) -> Result<SimDuration, FieldError> {
    if !(v.is_finite() && v > 0.0 && v <= max) {
        return Err(path.key(name).error(format!(
            "{name} = {v}: must be greater than 0 and at most {max} s"
        )));
    }
    Ok(SimDuration::from_secs_f64(v))
}

impl PlatformSpec {
    /// Validates the Lambda platform at `path` for a workload with `functions`.
    pub fn lambda(
        &self,
        path: &FieldPath,
        functions: &[String],
    ) -> Result<LambdaConfig, FieldError> {
        let memory_mb = positive_int(
            path,
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
        let timeout = secs_field(path, "timeout_s", timeout_s, MAX_TIMEOUT_S)?;
        let account = positive_int(
            path,
            "account_concurrency",
            self.account_concurrency.unwrap_or(1000),
            1,
            10_000_000,
        )?;
        let reserved = match &self.reserved_concurrency {
            None => vec![None; functions.len()],
            Some(ReservedSpec::All(n)) => {
                let n = positive_int(path, "reserved_concurrency", *n, 0, i64::from(account))?;
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
                    v[i] = Some(positive_int(&rpath, name, n, 0, i64::from(account))?);
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
        if let Some(pc) = self.provisioned_concurrency
            && pc != 0
        {
            return Err(path.key("provisioned_concurrency").error(
                "provisioned concurrency is not modelled in this version yet; remove the \
                 field or set it to 0",
            ));
        }
        if self.invocation == Some(Invocation::Async) {
            return Err(path.key("invocation").error(
                "asynchronous invocation is not modelled in this version yet; use \
                 invocation = \"sync\"",
            ));
        }
        if self.retries.is_some() {
            return Err(path
                .key("retries")
                .error("client retries are not modelled in this version yet; remove `retries`"));
        }
        if let Some(age) = self.async_.as_ref().and_then(|a| a.max_event_age_s) {
            secs_field(&path.key("async"), "max_event_age_s", age, 21_600.0)?;
        }
        let scaling = match &self.scaling {
            None => Scaling::PerFunction { per_10s: 1000 },
            Some(ScalingSpec::PerFunction(p)) => Scaling::PerFunction {
                per_10s: positive_int(
                    &path.key("scaling"),
                    "per_10s",
                    p.per_10s.unwrap_or(1000),
                    1,
                    100_000_000,
                )?,
            },
            Some(ScalingSpec::Hpa(_) | ScalingSpec::Fixed(_)) => {
                return Err(path.key("scaling").error(
                    "Lambda scales with { kind = \"per_function\", per_10s = N } or \
                     { kind = \"legacy\", burst = N, per_minute = N }; hpa and fixed are \
                     Kubernetes'",
                ));
            }
            Some(ScalingSpec::Legacy(l)) => {
                let sp = path.key("scaling");
                Scaling::Legacy {
                    burst: positive_int(&sp, "burst", l.burst.unwrap_or(3000), 1, 100_000_000)?,
                    per_minute: positive_int(
                        &sp,
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
            // Median 200 ms, p99 1200 ms (SPEC 3; platform-facts 2.2 puts
            // Python/Node cold starts around 250 ms with a heavy tail).
            None => Dist::lognormal(0.2, 1.2),
        };
        let (idle, max_lifetime) = match &self.keep_alive {
            None => (SimDuration::from_secs(600), SimDuration::from_secs(7200)),
            Some(KeepAliveSpec::Fixed(k)) => {
                let kp = path.key("keep_alive");
                let idle_s = k.idle_s.unwrap_or(600.0);
                if !(idle_s.is_finite() && (0.0..=1e9).contains(&idle_s)) {
                    return Err(kp
                        .key("idle_s")
                        .error(format!("idle_s = {idle_s}: must be between 0 and 1e9 s")));
                }
                (
                    SimDuration::from_secs_f64(idle_s),
                    secs_field(
                        &kp,
                        "max_lifetime_s",
                        k.max_lifetime_s.unwrap_or(7200.0),
                        1e9,
                    )?,
                )
            }
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
            idle,
            max_lifetime,
            overhead: SimDuration::from_millis_f64(overhead_ms),
            cpu_scaling: self.cpu_scaling.unwrap_or(true),
            pricing,
        })
    }
}

/// A continuously refilled token bucket in exact integer arithmetic: one
/// token is `window` units, and `per_window` units are added per nanosecond.
#[derive(Debug, Clone)]
struct TokenBucket {
    units: u128,
    cap: u128,
    per_token: u128,
    per_ns: u128,
    last: SimTime,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `per_window` tokens per `window`.
    fn new(capacity: u32, per_window: u32, window: SimDuration) -> Self {
        let per_token = u128::from(window.0);
        TokenBucket {
            units: u128::from(capacity) * per_token,
            cap: u128::from(capacity) * per_token,
            per_token,
            per_ns: u128::from(per_window),
            last: SimTime::ZERO,
        }
    }

    /// Takes one token at `now` if there is one.
    fn take(&mut self, now: SimTime) -> bool {
        let elapsed = u128::from(now.since(self.last).0);
        self.units = (self.units + elapsed * self.per_ns).min(self.cap);
        self.last = now;
        if self.units >= self.per_token {
            self.units -= self.per_token;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvState {
    Initialising,
    Busy,
    Idle,
    Dead,
}

/// The request an environment is working on.
#[derive(Debug, Clone, Copy)]
struct Job {
    req: Request,
    /// When the environment took the request (INIT starts then on a cold start).
    taken: SimTime,
    /// When the handler started (after INIT), once it has.
    start: Option<SimTime>,
    cold: bool,
    /// The handler will be killed at the timeout.
    times_out: bool,
}

#[derive(Debug, Clone)]
struct Env {
    created: SimTime,
    function: u32,
    /// Bumped whenever the environment stops being idle: older deque entries
    /// and timers for it are stale.
    epoch: u32,
    state: EnvState,
    job: Option<Job>,
}

#[derive(Debug, Clone, Default)]
struct FunctionState {
    /// Idle environments, most recently freed at the back.
    idle: VecDeque<(u32, u32)>,
    /// Environments initialising or busy.
    in_use: u32,
    reserved: Option<u32>,
    bucket: Option<TokenBucket>,
}

/// Events of the Lambda model.
#[derive(Debug, Clone, Copy)]
pub enum LambdaEvent {
    /// INIT finished: the handler starts.
    InitDone(u32),
    /// The handler returned or was killed at the timeout.
    Finish(u32),
    /// An idle environment reaches its maximum lifetime.
    Retire { env: u32, epoch: u32 },
}

/// The Lambda platform during one run.
pub struct Lambda {
    cfg: LambdaConfig,
    rng: SimRng,
    envs: Vec<Env>,
    free_slots: Vec<u32>,
    functions: Vec<FunctionState>,
    /// Idle deadlines in time order: (deadline, env, epoch).
    expiry: VecDeque<(SimTime, u32, u32)>,
    unreserved_in_use: u32,
    unreserved_cap: u32,
    legacy: Option<TokenBucket>,
    busy: u32,
    initialising: u32,
    alive: u32,
    /// Usage of requests that arrived in the measurement window.
    measured: Usage,
    /// Usage of every request, for the running cost in the time series.
    gross: Usage,
}

/// Integer usage counters (exact; converted to dollars once).
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    requests: u64,
    /// Billed milliseconds x memory [MB-ms].
    mb_ms: u128,
    front_door: u64,
}

impl Usage {
    fn to_usage(self) -> LambdaUsage {
        LambdaUsage {
            requests: self.requests as f64,
            gb_s: self.mb_ms as f64 / 1024.0 / 1000.0,
            front_door_requests: self.front_door as f64,
        }
    }
}

/// Handler time for `work` CPU-seconds: with `cpu_scaling`, below 1,769 MB
/// the function has a fraction of a vCPU and runs proportionally longer
/// (rounded up to the nanosecond).
pub fn exec_time(cfg: &LambdaConfig, work: SimDuration) -> SimDuration {
    let mem = cfg.memory_mb;
    if cfg.cpu_scaling && mem < MB_PER_VCPU {
        let ns = (u128::from(work.0) * u128::from(MB_PER_VCPU)).div_ceil(u128::from(mem));
        SimDuration(ns.min(u128::from(u64::MAX)) as u64)
    } else {
        work
    }
}

impl Lambda {
    /// A platform with no environments (Lambda starts cold), drawing INIT times from `rng`.
    pub fn new(cfg: LambdaConfig, rng: SimRng) -> Self {
        let window = SimDuration::from_secs(10);
        let functions = cfg
            .reserved
            .iter()
            .map(|&reserved| FunctionState {
                reserved,
                bucket: match cfg.scaling {
                    Scaling::PerFunction { per_10s } => {
                        Some(TokenBucket::new(per_10s, per_10s, window))
                    }
                    Scaling::Legacy { .. } => None,
                },
                ..FunctionState::default()
            })
            .collect();
        let legacy = match cfg.scaling {
            Scaling::Legacy { burst, per_minute } => Some(TokenBucket::new(
                burst,
                per_minute,
                SimDuration::from_secs(60),
            )),
            Scaling::PerFunction { .. } => None,
        };
        let reserved: u32 = cfg.reserved.iter().flatten().sum();
        Lambda {
            unreserved_cap: cfg.account_concurrency - reserved,
            cfg,
            rng,
            envs: Vec::new(),
            free_slots: Vec::new(),
            functions,
            expiry: VecDeque::new(),
            unreserved_in_use: 0,
            legacy,
            busy: 0,
            initialising: 0,
            alive: 0,
            measured: Usage::default(),
            gross: Usage::default(),
        }
    }

    fn has_concurrency(&self, f: usize) -> bool {
        match self.functions[f].reserved {
            Some(r) => self.functions[f].in_use < r,
            None => self.unreserved_in_use < self.unreserved_cap,
        }
    }

    fn take_token(&mut self, f: usize, now: SimTime) -> bool {
        match &mut self.legacy {
            Some(bucket) => bucket.take(now),
            None => self.functions[f]
                .bucket
                .as_mut()
                .is_some_and(|b| b.take(now)),
        }
    }

    fn acquire(&mut self, f: usize) {
        let fs = &mut self.functions[f];
        fs.in_use += 1;
        if fs.reserved.is_none() {
            self.unreserved_in_use += 1;
        }
    }

    fn release(&mut self, f: usize) {
        let fs = &mut self.functions[f];
        fs.in_use -= 1;
        if fs.reserved.is_none() {
            self.unreserved_in_use -= 1;
        }
    }

    /// Retires every idle environment whose idle deadline is at or before `now`, at its deadline.
    #[inline]
    fn expire(&mut self, now: SimTime, sim: &mut Sim<LambdaEvent>) {
        while let Some(&(deadline, env, epoch)) = self.expiry.front() {
            if deadline > now {
                break;
            }
            self.expiry.pop_front();
            let e = &self.envs[env as usize];
            if e.epoch == epoch && e.state == EnvState::Idle {
                self.retire(env, deadline, sim);
            }
        }
    }

    fn retire(&mut self, env: u32, at: SimTime, sim: &mut Sim<LambdaEvent>) {
        let e = &mut self.envs[env as usize];
        e.state = EnvState::Dead;
        e.epoch = e.epoch.wrapping_add(1);
        e.job = None;
        self.alive -= 1;
        self.free_slots.push(env);
        sim.rec.instances.set(at, u64::from(self.alive));
    }

    /// The most recently freed live idle environment of function `f`.
    fn pop_warm(&mut self, f: usize) -> Option<u32> {
        while let Some((env, epoch)) = self.functions[f].idle.pop_back() {
            let e = &self.envs[env as usize];
            if e.epoch == epoch && e.state == EnvState::Idle {
                return Some(env);
            }
        }
        None
    }

    fn new_env(&mut self, f: u32, now: SimTime) -> u32 {
        let env = Env {
            created: now,
            function: f,
            epoch: 0,
            state: EnvState::Initialising,
            job: None,
        };
        match self.free_slots.pop() {
            Some(slot) => {
                let epoch = self.envs[slot as usize].epoch;
                self.envs[slot as usize] = Env { epoch, ..env };
                slot
            }
            None => {
                self.envs.push(env);
                (self.envs.len() - 1) as u32
            }
        }
    }

    /// Starts the handler of the job held by `env` at `now`.
    fn start_handler(&mut self, env: u32, now: SimTime, sim: &mut Sim<LambdaEvent>) {
        let timeout = self.cfg.timeout;
        let e = &mut self.envs[env as usize];
        let job = e
            .job
            .as_mut()
            .expect("an environment starting a handler holds a job");
        let exec = exec_time(&self.cfg, job.req.work);
        job.start = Some(now);
        job.times_out = exec > timeout;
        e.state = EnvState::Busy;
        self.busy += 1;
        sim.schedule(now + exec.min(timeout), LambdaEvent::Finish(env));
    }

    fn bill_job(&mut self, job: &Job, end: SimTime, measured: bool) {
        let mb_ms = u128::from(end.since(job.taken).ceil_millis()) * u128::from(self.cfg.memory_mb);
        for u in [
            Some(&mut self.gross),
            measured.then_some(&mut self.measured),
        ]
        .into_iter()
        .flatten()
        {
            u.requests += 1;
            u.mb_ms += mb_ms;
        }
    }

    fn in_service(&self) -> u64 {
        u64::from(self.busy + self.initialising)
    }
}

impl Platform for Lambda {
    type Event = LambdaEvent;

    fn on_arrival(&mut self, req: Request, sim: &mut Sim<LambdaEvent>) {
        let now = sim.now();
        self.expire(now, sim);
        sim.rec.arrived(&req);
        let measured = sim.rec.measured(&req);
        self.gross.front_door += 1;
        if measured {
            self.measured.front_door += 1;
        }
        let f = req.function as usize;
        if !self.has_concurrency(f) {
            sim.rec.outcome(&req, Outcome::Throttled, None, now, false);
            return;
        }
        if let Some(env) = self.pop_warm(f) {
            self.acquire(f);
            let e = &mut self.envs[env as usize];
            e.epoch = e.epoch.wrapping_add(1);
            e.job = Some(Job {
                req,
                taken: now,
                start: None,
                cold: false,
                times_out: false,
            });
            self.start_handler(env, now, sim);
            sim.rec.in_service.set(now, self.in_service());
            return;
        }
        if !self.take_token(f, now) {
            sim.rec.outcome(&req, Outcome::Throttled, None, now, false);
            return;
        }
        // Cold start: a new environment runs INIT, then the handler.
        self.acquire(f);
        let env = self.new_env(req.function, now);
        self.envs[env as usize].job = Some(Job {
            req,
            taken: now,
            start: None,
            cold: true,
            times_out: false,
        });
        self.alive += 1;
        sim.rec.instances.set(now, u64::from(self.alive));
        sim.rec.cold_start(&req);
        let init = self.cfg.init.sample(&mut self.rng).min(INIT_CAP);
        if init == SimDuration::ZERO {
            self.start_handler(env, now, sim);
        } else {
            self.initialising += 1;
            sim.schedule(now + init, LambdaEvent::InitDone(env));
        }
        sim.rec.in_service.set(now, self.in_service());
    }

    fn on_event(&mut self, event: LambdaEvent, sim: &mut Sim<LambdaEvent>) {
        let now = sim.now();
        self.expire(now, sim);
        match event {
            LambdaEvent::InitDone(env) => {
                self.initialising -= 1;
                self.start_handler(env, now, sim);
            }
            LambdaEvent::Finish(env) => {
                let e = &mut self.envs[env as usize];
                let job = e.job.take().expect("a finishing environment holds a job");
                let f = e.function as usize;
                let measured = sim.rec.measured(&job.req);
                self.bill_job(&job, now, measured);
                let outcome = if job.times_out {
                    Outcome::TimedOut
                } else {
                    Outcome::Completed
                };
                sim.rec.outcome(&job.req, outcome, job.start, now, job.cold);
                self.busy -= 1;
                self.release(f);
                sim.rec.in_service.set(now, self.in_service());
                let e = &mut self.envs[env as usize];
                let end_of_life = e.created + self.cfg.max_lifetime;
                if job.times_out || now >= end_of_life {
                    // A killed handler's environment is discarded; an old one is recycled.
                    self.retire(env, now, sim);
                } else {
                    e.state = EnvState::Idle;
                    let epoch = e.epoch;
                    let idle_until = now + self.cfg.idle;
                    if end_of_life < idle_until {
                        sim.schedule(end_of_life, LambdaEvent::Retire { env, epoch });
                    } else {
                        self.expiry.push_back((idle_until, env, epoch));
                    }
                    let fs = &mut self.functions[f];
                    // Drop stale entries at the old end so the deque stays bounded.
                    while let Some(&(old, g)) = fs.idle.front() {
                        let oe = &self.envs[old as usize];
                        if oe.epoch == g && oe.state == EnvState::Idle {
                            break;
                        }
                        fs.idle.pop_front();
                    }
                    fs.idle.push_back((env, epoch));
                }
            }
            LambdaEvent::Retire { env, epoch } => {
                let e = &self.envs[env as usize];
                if e.epoch == epoch && e.state == EnvState::Idle {
                    self.retire(env, now, sim);
                }
            }
        }
    }

    fn snapshot(&mut self, at: SimTime, sim: &mut Sim<LambdaEvent>) -> Snapshot {
        self.expire(at, sim);
        let p = &self.cfg.pricing;
        // The running bill includes what requests still executing have used so far.
        let mut gross = self.gross;
        for job in self.envs.iter().filter_map(|e| e.job.as_ref()) {
            gross.requests += 1;
            gross.mb_ms +=
                u128::from(at.since(job.taken).ceil_millis()) * u128::from(self.cfg.memory_mb);
        }
        let u = gross.to_usage();
        let cost = u.requests * p.request_per_million / 1e6
            + u.gb_s * p.gb_s(self.cfg.architecture)
            + u.front_door_requests * p.api_gateway_per_million / 1e6;
        Snapshot {
            in_flight: self.in_service(),
            queued: 0,
            instances_busy: Some(u64::from(self.busy)),
            instances_idle: Some(u64::from(self.alive - self.busy - self.initialising)),
            instances_initialising: Some(u64::from(self.initialising)),
            cost_usd: cost,
            ..Snapshot::default()
        }
    }

    fn finish(mut self, sim: &mut Sim<LambdaEvent>) -> Bill {
        let now = sim.now();
        self.expire(now, sim);
        // Requests still initialising or executing: billed for the time so far.
        let mut jobs: Vec<Job> = self.envs.iter().filter_map(|e| e.job).collect();
        jobs.sort_by_key(|j| j.req.id);
        for job in &jobs {
            let measured = sim.rec.measured(&job.req);
            self.bill_job(job, now, measured);
            sim.rec
                .outcome(&job.req, Outcome::InFlight, job.start, now, job.cold);
        }
        let (ws, we) = sim.rec.window();
        let window_s = we.since(ws).as_secs_f64();
        let usage = self.measured.to_usage();
        let p = &self.cfg.pricing;
        let arch = self.cfg.architecture;
        let cost = p.bill(arch, &usage, window_s);
        let per_month_usd = if window_s > 0.0 {
            p.bill(arch, &usage.scaled(MONTH_S / window_s), MONTH_S)
                .total()
        } else {
            0.0
        };
        Bill {
            cost,
            per_month_usd,
        }
    }
}
