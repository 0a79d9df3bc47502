//! The AWS Lambda model (README, 'Lambda platform'): execution environments, concurrency,
//! scaling buckets, cold starts, keep-alive, timeouts, provisioned
//! concurrency, throttling with client or async retries, and the bill.
//!
//! Environments live in a slab. Each function keeps its idle on-demand
//! environments in a deque, most recently freed at the back (reused first),
//! and its idle provisioned environments in a stack (used before on-demand
//! ones). How long an idle environment stays is the keep-alive policy's
//! ([`keepalive`]). Idle expiry is lazy: with the fixed policy (`idle_s` one
//! platform-wide constant) the order in which environments become idle is
//! the order of their idle deadlines, kept in a FIFO from which a reused
//! environment leaves in O(1) by a generation number of its own; other
//! policies keep a lazy heap. Every handler first retires the environments
//! whose deadline has passed, *at* their deadline. That keeps
//! the instance count exact at every point it is read, at O(1) cost, without
//! a timer event per request, and in memory bounded by the environments.
//! Retirement at `max_lifetime_s` is lazy too: environments are created in
//! the order of their end of life, so a FIFO of (end of life, environment)
//! is drained the same way, in time order with the idle deadlines (an idle
//! one retires then; a busy one is recycled when its request ends). No timer
//! sits in the event queue, which stays as small as the work in progress.
//! Stale deque entries are recognised by a generation counter.

pub mod config;
pub mod keepalive;

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use rand::RngExt;

use crate::cost::{Bill, LambdaUsage};
use crate::engine::{self, Cancelled, Ctx, Model};
use crate::metrics::{Gauges, Outcome, Recorder};
use std::sync::Arc;

use crate::error::FieldError;
use crate::platform::token_bucket::TokenBucket;
use crate::platform::{Kind, Platform, PlatformSpec, RunInput, Setting, fields_of, read_spec};
use crate::rng::SimRng;
use crate::time::{NANOS_PER_SEC, SimDuration, SimTime};
use crate::workload::{Request, WorkBasis, scale};
use keepalive::{Deadlines, KeepAlive, KeepAliveDecision, WithPolicy};

pub use config::{
    ASYNC_RETRY_DELAYS, INIT_LIMIT, Invocation, LambdaConfig, LambdaSpec, MB_PER_VCPU, Retries,
    Scaling,
};

/// The registry entry of `kind = "lambda"`.
pub const KIND: Kind = Kind {
    name: "lambda",
    default_name: "lambda",
    gauges: &["instances_busy", "instances_idle", "instances_initialising"],
    capacity: &["instances_busy", "instances_idle", "instances_initialising"],
    capacity_label: "execution environments",
    has_nodes: false,
    fields: fields_of::<LambdaSpec>,
    read: read_spec::<LambdaSpec>,
};

impl PlatformSpec for LambdaSpec {
    fn validate(&self, s: &Setting) -> Result<Arc<dyn Platform>, FieldError> {
        Ok(Arc::new(self.to_config(s.path, s.functions)?))
    }
}

impl Platform for LambdaConfig {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn longest_execution(&self) -> Option<SimDuration> {
        Some(self.timeout)
    }

    fn most_attempts(&self) -> f64 {
        match self.invocation {
            Invocation::Async => {
                // A throttled event is tried again after 1 s doubling to 5
                // minutes until its maximum age (as `throttled` does). A
                // failed attempt's retry starts the backoff again within the
                // same age: each adds at most the tries before the backoff
                // reaches its cap.
                let age = self.max_event_age.as_secs_f64();
                let (mut waited, mut backoff) = (0.0, 1.0);
                let (mut tries, mut fast) = (1.0, 1.0);
                while waited + backoff <= age {
                    waited += backoff;
                    if backoff < 300.0 {
                        fast += 1.0;
                    }
                    backoff = (backoff * 2.0f64).min(300.0);
                    tries += 1.0;
                }
                tries + fast * f64::from(self.max_retry_attempts)
            }
            Invocation::Sync => self
                .retries
                .as_ref()
                .map_or(1.0, |r| f64::from(r.max_attempts)),
        }
    }

    fn simulate(&self, mut input: RunInput) -> Result<(Recorder, Bill), Cancelled> {
        input.rec.set_overhead(self.overhead);
        let memory: Vec<Option<u32>> = input.functions.iter().map(|f| f.memory_mb).collect();
        // Monomorphised for the configured keep-alive policy: each has its
        // own event type, so each loop inlines its own event queue.
        struct Run<'a> {
            cfg: &'a LambdaConfig,
            memory: Vec<Option<u32>>,
            input: RunInput<'a>,
        }
        impl WithPolicy for Run<'_> {
            type Output = Result<(Recorder, Bill), Cancelled>;
            fn run<P: KeepAlive>(self, policy: P) -> Self::Output {
                let lambda = Lambda::new(
                    self.cfg.clone(),
                    policy,
                    &self.memory,
                    self.input.streams.named("init"),
                    self.input.streams.named("retry"),
                );
                let i = self.input;
                engine::run(lambda, i.requests, i.clock, i.rec, i.cancel)
            }
        }
        self.keep_alive.with(Run {
            cfg: self,
            memory,
            input,
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvState {
    Initialising,
    Busy,
    Idle,
    Dead,
}

/// The request an environment is working on, as billing and outcomes take
/// it ([`Env::job`]).
#[derive(Debug, Clone, Copy)]
struct Job {
    req: Request,
    /// When the environment took the request (INIT starts then on a cold start).
    taken: SimTime,
    /// When the handler started (after INIT): set once the environment is busy.
    start: SimTime,
    cold: bool,
    /// The handler will be killed at the timeout.
    times_out: bool,
}

/// An execution environment: one cache line (`align(64)`, 64 bytes), which
/// a warm start reads and writes whole; with 100,000 functions it is
/// seldom in the cache when its request arrives, and at 96 bytes it took
/// two lines (about 0.1 s of 3.8 s on the 100,000-function trace, timed
/// before and after). Its job's rare parts,
/// an INIT run again and the failed attempts of an async event, are kept
/// apart ([`Lambda::init_retries`], [`Lambda::failures`]), and when it took
/// its job follows from the rest ([`Env::job`]).
#[derive(Debug, Clone)]
#[repr(align(64))]
struct Env {
    /// Its request while [`Env::working`], left as it was otherwise; of its
    /// function always (an environment serves one function), and so the
    /// environment's function.
    req: Request,
    /// When its handler started (after INIT): set once it is busy; when it
    /// took its request before.
    start: SimTime,
    created: SimTime,
    /// Bumped whenever the environment stops being idle: older deque entries
    /// for it are stale.
    epoch: u32,
    state: EnvState,
    /// A provisioned environment: never expires, billed at the provisioned rates.
    provisioned: bool,
    /// Its job is a cold start's (it was created for it).
    cold: bool,
    /// Its handler will be killed at the timeout.
    times_out: bool,
}

// One line, as the layout above says.
const _: () = assert!(std::mem::size_of::<Env>() == 64);

impl Env {
    /// Initialising or busy: it holds a job.
    #[inline(always)]
    fn working(&self) -> bool {
        matches!(self.state, EnvState::Initialising | EnvState::Busy)
    }

    /// When its handler started, if it has.
    fn started(&self) -> Option<SimTime> {
        (self.state == EnvState::Busy).then_some(self.start)
    }

    /// The function it serves.
    #[inline(always)]
    fn function(&self) -> u32 {
        self.req.function
    }

    /// Takes `req` at `now` (its handler not started yet).
    #[inline(always)]
    fn take(&mut self, req: Request, now: SimTime, cold: bool) {
        // What `function` and `job` rest on: an environment serves one
        // function, and a cold start's was created as it took its request.
        debug_assert_eq!(
            self.req.function, req.function,
            "one function an environment"
        );
        debug_assert!(
            !cold || self.created == now,
            "a cold start's environment is new"
        );
        self.req = req;
        self.start = now;
        self.cold = cold;
        self.times_out = false;
    }

    /// Its job. A cold start's environment was created as it took its
    /// request; a warm one takes its request as its handler starts.
    #[inline(always)]
    fn job(&self) -> Job {
        Job {
            req: self.req,
            taken: if self.cold { self.created } else { self.start },
            start: self.start,
            cold: self.cold,
            times_out: self.times_out,
        }
    }
}

/// Whether `env` is still in the idle period `epoch` (lazy deadline entries).
#[inline]
fn idle_in(envs: &[Env], env: u32, epoch: u32) -> bool {
    let e = &envs[env as usize];
    e.state == EnvState::Idle && e.epoch == epoch
}

/// A function's state. What a warm start reads comes first, in the one
/// cache line the struct starts on (`repr(C)` keeps the order): with
/// 100,000 functions a function's state is seldom in the cache when its
/// request arrives, and each line more is one more wait for memory.
#[derive(Debug, Clone, Default)]
#[repr(C, align(64))]
struct FunctionState {
    /// Idle on-demand environments, most recently freed at the back.
    idle: VecDeque<(u32, u32)>,
    /// Concurrency in use: on-demand environments initialising or busy, plus
    /// every provisioned environment.
    in_use: u32,
    /// Memory \[MB\]: the platform's, or a trace's for the function.
    memory: u32,
    reserved: Option<u32>,
    /// Provisioned environments that exist (idle or busy).
    provisioned: u32,
    /// Provisioned concurrency configured now.
    provisioned_target: u32,
    /// Idle provisioned environments (none while `provisioned` is 0).
    provisioned_idle: Vec<u32>,
    bucket: Option<TokenBucket>,
}

/// Events of the Lambda model.
#[derive(Debug, Clone, Copy)]
pub enum LambdaEvent {
    /// INIT finished: the handler starts.
    InitDone(u32),
    /// The handler returned or was killed at the timeout.
    Finish(u32),
    /// A throttled request is tried again (client retry or async queue).
    Retry(u32),
    /// An async event reaches its maximum age.
    Drop(u32),
    /// Provisioned concurrency of a function changes (schedule step `step`).
    Provision { function: u32, step: u32 },
}

/// A [`LambdaEvent`] of the model under keep-alive policy `K`: a type of
/// its own per policy, so that each policy's event loop has its own event
/// queue code, inlined into it (a queue shared by two loops was not).
pub struct Ev<K>(LambdaEvent, std::marker::PhantomData<fn() -> K>);

impl<K> Clone for Ev<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Ev<K> {}

impl<K> Ev<K> {
    #[inline(always)]
    fn of(e: LambdaEvent) -> Self {
        Ev(e, std::marker::PhantomData)
    }
}

/// A throttled request waiting for its next attempt.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    req: Request,
    /// Throttled attempts made so far.
    attempts: u32,
    /// Attempts that ran and failed (async events).
    failures: u32,
}

/// Integer usage counters of one function (exact; converted to dollars once).
#[derive(Debug, Clone, Copy, Default)]
struct UsageCounters {
    requests: u64,
    /// On-demand billed milliseconds x memory [MB-ms].
    on_demand_mb_ms: u128,
    /// Billed milliseconds on provisioned environments x memory [MB-ms].
    provisioned_mb_ms: u128,
    front_door: u64,
}

impl UsageCounters {
    /// The MB-ms `job` is billed, run on `memory` MB until `end`.
    #[inline(always)]
    fn mb_ms(job: &Job, end: SimTime, memory: u32) -> u128 {
        u128::from(end.since(job.taken).ceil_millis()) * u128::from(memory)
    }

    /// Adds one request of `mb_ms`.
    #[inline(always)]
    fn add(&mut self, provisioned: bool, mb_ms: u128) {
        self.requests += 1;
        if provisioned {
            self.provisioned_mb_ms += mb_ms;
        } else {
            self.on_demand_mb_ms += mb_ms;
        }
    }
}

/// What every request updates of its function's counters, the run's
/// (`gross`, for the running cost in the time series) and the measurement
/// window's side by side in one cache line; the provisioned MB-ms, which
/// only provisioned environments add to, are kept apart
/// ([`Lambda::provisioned_mb_ms`]).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct FunctionUsage {
    gross: HotCounters,
    measured: HotCounters,
}

/// [`UsageCounters`] but the provisioned MB-ms.
#[derive(Debug, Clone, Copy, Default)]
struct HotCounters {
    requests: u64,
    front_door: u64,
    on_demand_mb_ms: u128,
}

/// MB-ms to GB-s.
fn gb_s(mb_ms: u128) -> f64 {
    mb_ms as f64 / 1024.0 / 1000.0
}

/// The Lambda platform during one run.
pub struct Lambda<K: KeepAlive> {
    cfg: LambdaConfig,
    rng: SimRng,
    retry_rng: SimRng,
    envs: Vec<Env>,
    free_slots: Vec<u32>,
    functions: Vec<FunctionState>,
    /// Idle on-demand environments in deadline order.
    /// The keep-alive policy.
    keep_alive: K,
    expiry: K::Deadlines,
    /// On-demand environments by end of life: (end of life, environment).
    lifetimes: VecDeque<(SimTime, u32)>,
    /// No idle deadline or end of life falls before this time (a lower
    /// bound, exact after `expire` looks): before it, nothing can
    /// be due, and `expire` returns at once.
    quiet_until: SimTime,
    unreserved_in_use: u32,
    unreserved_cap: u32,
    legacy: Option<TokenBucket>,
    /// The account's requests-per-second quota.
    rps: RateBucket,
    busy: u32,
    initialising: u32,
    alive: u32,
    /// INITs past [`INIT_LIMIT`], run again at the invocation, by
    /// environment: from the cold start to the end of its INIT.
    init_retries: FxHashMap<u32, SimDuration>,
    /// Earlier failed attempts of the async event an environment works on,
    /// by environment, for events that have any: until its handler ends.
    failures: FxHashMap<u32, u32>,
    /// Requests waiting for a retry, in a slab.
    waiting: Vec<Option<Waiting>>,
    free_waiting: Vec<u32>,
    waiting_count: u64,
    /// Usage of every request and of those that arrived in the measurement
    /// window, per function.
    usage: Vec<FunctionUsage>,
    /// Billed MB-ms on provisioned environments per function: of every
    /// request, and of those in the measurement window.
    provisioned_mb_ms: Vec<[u128; 2]>,
    /// Functions whose provisioned-concurrency plan never configures any:
    /// they bill no provisioned GB-s and stay eligible for the free tier
    /// (read per function each time series interval, where the plans
    /// themselves are one allocation each).
    never_provisioned: Vec<bool>,
    /// The running cost's scratch: (function, provisioned, MB-ms so far) of
    /// each request executing, by function.
    in_flight: Vec<(u32, bool, u128)>,
}

/// A full bucket of one second's worth of tokens at `rate` per second,
/// refilled continuously: [`TokenBucket`] for a one-second window, in `u64`
/// on the path every invocation takes (a token is 10^9 units, `rate` units
/// come in per nanosecond; at most 10^9 x 10^9 units, and the refill
/// saturates before it could overflow).
#[derive(Debug, Clone)]
struct RateBucket {
    units: u64,
    cap: u64,
    per_ns: u64,
    last: SimTime,
}

impl RateBucket {
    const TOKEN: u64 = NANOS_PER_SEC;

    fn per_second(rate: u32) -> Self {
        let cap = u64::from(rate) * Self::TOKEN;
        RateBucket {
            units: cap,
            cap,
            per_ns: u64::from(rate),
            last: SimTime::ZERO,
        }
    }

    /// Refills to `now`; whether a token is there (nothing is taken).
    #[inline(always)]
    fn ready(&mut self, now: SimTime) -> bool {
        let elapsed = now.0 - self.last.0;
        self.units = self
            .units
            .saturating_add(elapsed.saturating_mul(self.per_ns))
            .min(self.cap);
        self.last = now;
        self.units >= Self::TOKEN
    }

    /// Takes the token [`RateBucket::ready`] found.
    #[inline(always)]
    fn spend(&mut self) {
        self.units -= Self::TOKEN;
    }

    /// Takes one token at `now` if there is one.
    #[inline(always)]
    fn take(&mut self, now: SimTime) -> bool {
        let ready = self.ready(now);
        if ready {
            self.spend();
        }
        ready
    }
}

/// Handler time of `req` on `mem` MB: its CPU part, scaled to the vCPU
/// share the memory gives (with `cpu_scaling`), then its wait, which no
/// memory shortens. A recorded CPU part is scaled from the share it was
/// recorded at, so at that memory it comes out unchanged; one without a
/// recorded memory is replayed as it is.
///
/// Work on a full vCPU is work recorded at 1,769 MB: below that the function
/// has a fraction of a vCPU and runs proportionally longer (rounded up to
/// the nanosecond), above it no faster.
#[inline(always)]
pub fn handler_time(mem: u32, cpu_scaling: bool, req: &Request) -> SimDuration {
    let at = match req.basis {
        WorkBasis::FullVcpu => MB_PER_VCPU,
        WorkBasis::RecordedAt(mb) => u32::from(mb).min(MB_PER_VCPU),
        // No recorded share: the share it runs at, so it replays unchanged.
        WorkBasis::Wall => MB_PER_VCPU.min(mem),
    };
    let share = mem.min(MB_PER_VCPU);
    let cpu = if cpu_scaling && at != share {
        scale(req.work, at, share)
    } else {
        req.work
    };
    cpu + req.wait
}

/// Seconds of a provisioned-concurrency step within [from, to), rounded up
/// to five minutes (AWS Lambda pricing page: "rounded up to the nearest five minutes").
fn provisioned_seconds(start: SimTime, end: SimTime, from: SimTime, to: SimTime) -> u64 {
    let (a, b) = (start.max(from), end.min(to));
    if b <= a {
        return 0;
    }
    b.since(a).0.div_ceil(NANOS_PER_SEC).div_ceil(300) * 300
}

impl<K: KeepAlive> Lambda<K> {
    /// A platform with only its provisioned environments (created by
    /// [`Model::start`]), drawing INIT times from `rng` and retry jitter
    /// from `retry_rng`. `memory` overrides the platform's memory per
    /// function (a trace's), `None` keeps it.
    pub fn new(
        cfg: LambdaConfig,
        keep_alive: K,
        memory: &[Option<u32>],
        rng: SimRng,
        retry_rng: SimRng,
    ) -> Self {
        let window = SimDuration::from_secs(10);
        let functions: Vec<FunctionState> = cfg
            .reserved
            .iter()
            .enumerate()
            .map(|(f, &reserved)| FunctionState {
                memory: memory.get(f).copied().flatten().unwrap_or(cfg.memory_mb),
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
        let n = functions.len();
        let rps = cfg.rps_quota_per_s;
        Lambda {
            rps: RateBucket::per_second(rps),
            unreserved_cap: cfg.account_concurrency - reserved,
            never_provisioned: (0..n)
                .map(|f| cfg.provisioned[f].iter().all(|c| c.1 == 0))
                .collect(),
            cfg,
            rng,
            retry_rng,
            envs: Vec::new(),
            free_slots: Vec::new(),
            functions,
            expiry: keep_alive.deadlines(),
            keep_alive,
            lifetimes: VecDeque::new(),
            quiet_until: SimTime::MAX,
            unreserved_in_use: 0,
            legacy,
            busy: 0,
            initialising: 0,
            alive: 0,
            init_retries: FxHashMap::default(),
            failures: FxHashMap::default(),
            waiting: Vec::new(),
            free_waiting: Vec::new(),
            waiting_count: 0,
            usage: vec![FunctionUsage::default(); n],
            provisioned_mb_ms: vec![[0; 2]; n],
            in_flight: Vec::new(),
        }
    }

    #[inline(always)]
    fn has_concurrency(&self, f: usize) -> bool {
        match self.functions[f].reserved {
            Some(r) => self.functions[f].in_use < r,
            None => self.unreserved_in_use < self.unreserved_cap,
        }
    }

    #[inline(always)]
    fn take_token(&mut self, f: usize, now: SimTime) -> bool {
        match &mut self.legacy {
            Some(bucket) => bucket.take(now),
            None => self.functions[f]
                .bucket
                .as_mut()
                .is_some_and(|b| b.take(now)),
        }
    }

    #[inline(always)]
    fn acquire(&mut self, f: usize) {
        let fs = &mut self.functions[f];
        fs.in_use += 1;
        if fs.reserved.is_none() {
            self.unreserved_in_use += 1;
        }
    }

    #[inline(always)]
    fn release(&mut self, f: usize) {
        let fs = &mut self.functions[f];
        fs.in_use -= 1;
        if fs.reserved.is_none() {
            self.unreserved_in_use -= 1;
        }
    }

    /// Retires, in time order and each at its own deadline, every idle
    /// environment whose idle deadline or end of life is at or before `now`.
    #[inline(always)]
    fn expire(&mut self, now: SimTime, cx: &mut Ctx<Ev<K>>) {
        if now < self.quiet_until {
            return;
        }
        let mut due = self.next_due();
        if due.is_some_and(|at| at <= now) {
            self.expire_due(now, cx);
            due = self.next_due();
        }
        self.quiet_until = due.unwrap_or(SimTime::MAX);
    }

    /// The earliest live idle deadline or end of life, if any.
    #[inline(always)]
    fn next_due(&mut self) -> Option<SimTime> {
        let envs = &self.envs;
        let idle = self.expiry.first(|env, epoch| idle_in(envs, env, epoch));
        let end_of_life = self.lifetimes.front().map(|&(end, _)| end);
        idle.map(|(_, at)| at).into_iter().chain(end_of_life).min()
    }

    #[inline(never)]
    fn expire_due(&mut self, now: SimTime, cx: &mut Ctx<Ev<K>>) {
        loop {
            let envs = &self.envs;
            let idle = self
                .expiry
                .first(|env, epoch| idle_in(envs, env, epoch))
                .filter(|&(_, at)| at <= now);
            let old = self.lifetimes.front().copied().filter(|&(at, _)| at <= now);
            match (idle, old) {
                (None, None) => break,
                (Some((env, at)), None) => self.retire(env, at, cx),
                (Some((env, at)), Some((end, _))) if at <= end => self.retire(env, at, cx),
                (_, Some((end, env))) => {
                    self.lifetimes.pop_front();
                    // A slot since reused holds a younger environment.
                    let e = &self.envs[env as usize];
                    if e.state == EnvState::Idle
                        && !e.provisioned
                        && e.created + self.cfg.max_lifetime == end
                    {
                        self.retire(env, end, cx);
                    }
                }
            }
        }
    }

    fn retire(&mut self, env: u32, at: SimTime, cx: &mut Ctx<Ev<K>>) {
        self.expiry.remove(env);
        let e = &mut self.envs[env as usize];
        e.state = EnvState::Dead;
        e.epoch = e.epoch.wrapping_add(1);
        let fs = &mut self.functions[e.function() as usize];
        self.alive -= 1;
        self.free_slots.push(env);
        cx.rec.instances.set(at, u64::from(self.alive));
        // Drop stale entries at the old end of the function's idle deque (the
        // retired environment's among them, usually), so it stays bounded.
        while let Some(&(old, g)) = fs.idle.front() {
            let oe = &self.envs[old as usize];
            if oe.epoch == g && oe.state == EnvState::Idle {
                break;
            }
            fs.idle.pop_front();
        }
    }

    /// The most recently freed live idle on-demand environment of function `f`.
    #[inline(always)]
    fn pop_warm(&mut self, f: usize) -> Option<u32> {
        while let Some((env, epoch)) = self.functions[f].idle.pop_back() {
            let e = &self.envs[env as usize];
            if e.epoch == epoch && e.state == EnvState::Idle {
                return Some(env);
            }
        }
        None
    }

    fn new_env(&mut self, f: u32, now: SimTime, provisioned: bool) -> u32 {
        let env = Env {
            req: Request {
                function: f,
                ..Request::default()
            },
            start: now,
            created: now,
            epoch: 0,
            state: if provisioned {
                EnvState::Idle
            } else {
                EnvState::Initialising
            },
            provisioned,
            cold: false,
            times_out: false,
        };
        self.alive += 1;
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

    /// Gives `env` the job `req` at `now`, a cold start's or not, after
    /// `failures` failed attempts (kept apart when there are any).
    #[inline(always)]
    fn take(&mut self, env: u32, req: Request, now: SimTime, cold: bool, failures: u32) {
        self.envs[env as usize].take(req, now, cold);
        if failures > 0 {
            self.failures.insert(env, failures);
        }
    }

    /// Gives `env` the job `req` at `now` and starts its handler (a warm start).
    #[inline(always)]
    fn start_warm(
        &mut self,
        env: u32,
        req: Request,
        failures: u32,
        now: SimTime,
        cx: &mut Ctx<Ev<K>>,
    ) {
        self.expiry.remove(env);
        let e = &mut self.envs[env as usize];
        e.epoch = e.epoch.wrapping_add(1);
        self.take(env, req, now, false, failures);
        self.start_handler(env, now, SimDuration::ZERO, cx);
    }

    /// Starts the handler of the job held by `env` at `now`, after an INIT
    /// cut at [`INIT_LIMIT`] of `init_retry` to run again (zero otherwise).
    #[inline(always)]
    fn start_handler(
        &mut self,
        env: u32,
        now: SimTime,
        init_retry: SimDuration,
        cx: &mut Ctx<Ev<K>>,
    ) {
        let timeout = self.cfg.timeout;
        let e = &mut self.envs[env as usize];
        let exec = handler_time(
            self.functions[e.req.function as usize].memory,
            self.cfg.cpu_scaling,
            &e.req,
        );
        // A retried INIT runs within the function's timeout (and one longer
        // than the timeout was cut at it).
        let cut = init_retry > timeout;
        let timeout = timeout.saturating_sub(init_retry);
        e.start = now;
        e.times_out = exec > timeout || cut;
        e.state = EnvState::Busy;
        self.busy += 1;
        cx.schedule(now + exec.min(timeout), Ev::of(LambdaEvent::Finish(env)));
    }

    /// One attempt to run `req` (after `failures` failed ones) at `now`: a
    /// provisioned environment, a warm on-demand one, or a cold start.
    /// `false` when throttled: for concurrency, for the scaling rate, or for
    /// the account's requests-per-second quota, whose token an invocation
    /// takes as it starts (a request throttled otherwise takes none).
    #[inline(always)]
    fn attempt(&mut self, req: Request, failures: u32, now: SimTime, cx: &mut Ctx<Ev<K>>) -> bool {
        let f = req.function as usize;
        let fs = &self.functions[f];
        if fs.provisioned > 0 && !fs.provisioned_idle.is_empty() {
            if !self.rps.take(now) {
                return false;
            }
            let env = self.functions[f].provisioned_idle.pop().expect("checked");
            self.start_warm(env, req, failures, now, cx);
            cx.rec.in_service.set(now, self.in_service());
            return true;
        }
        if !self.has_concurrency(f) || !self.rps.ready(now) {
            return false;
        }
        if let Some(env) = self.pop_warm(f) {
            self.rps.spend();
            self.acquire(f);
            self.start_warm(env, req, failures, now, cx);
            cx.rec.in_service.set(now, self.in_service());
            return true;
        }
        if !self.take_token(f, now) {
            return false;
        }
        self.rps.spend();
        self.cold_start(req, failures, now, cx);
        true
    }

    /// Starts `req` on a new environment: INIT, then the handler. Out of
    /// line: it is the rare path, and the warm path stays small.
    #[cold]
    #[inline(never)]
    fn cold_start(&mut self, req: Request, failures: u32, now: SimTime, cx: &mut Ctx<Ev<K>>) {
        self.acquire(req.function as usize);
        let env = self.new_env(req.function, now, false);
        let end_of_life = now + self.cfg.max_lifetime;
        self.lifetimes.push_back((end_of_life, env));
        self.quiet_until = self.quiet_until.min(end_of_life);
        let sample = self.cfg.init.sample(&mut self.rng);
        // Past the limit, the Init phase is cut at 10 s and run again, in
        // full, at the invocation, within the function's timeout.
        let (init, init_retry) = if sample > INIT_LIMIT {
            (INIT_LIMIT + sample.min(self.cfg.timeout), sample)
        } else {
            (sample, SimDuration::ZERO)
        };
        self.take(env, req, now, true, failures);
        cx.rec.instances.set(now, u64::from(self.alive));
        cx.rec.cold_start(&req);
        if init == SimDuration::ZERO {
            self.start_handler(env, now, init_retry, cx);
        } else {
            if init_retry > SimDuration::ZERO {
                self.init_retries.insert(env, init_retry);
            }
            self.initialising += 1;
            cx.schedule(now + init, Ev::of(LambdaEvent::InitDone(env)));
        }
        cx.rec.in_service.set(now, self.in_service());
    }

    /// After a throttled attempt (`attempts` made so far): retry later, drop,
    /// or report the throttle.
    fn throttled(
        &mut self,
        req: Request,
        attempts: u32,
        failures: u32,
        now: SimTime,
        cx: &mut Ctx<Ev<K>>,
    ) {
        let next = match (self.cfg.invocation, self.cfg.retries) {
            (Invocation::Async, _) => {
                // Lambda's own retries: 1 s doubling to 5 minutes
                // (Lambda developer guide, 'How Lambda handles errors and retries
                // with asynchronous invocation'), until the event is too old.
                let backoff = SimDuration::from_secs(1u64 << (attempts - 1).min(9))
                    .min(SimDuration::from_secs(300));
                let deadline = req.arrival + self.cfg.max_event_age;
                let at = now + backoff;
                if at > deadline {
                    let slot = self.park(req, attempts, failures);
                    cx.schedule(deadline.max(now), Ev::of(LambdaEvent::Drop(slot)));
                    return;
                }
                at
            }
            (Invocation::Sync, Some(r)) if attempts < r.max_attempts => {
                // Full jitter: uniform in [0, min(cap, base x 2^retry)].
                let ceiling = (r.base.0 as f64 * f64::from(1u32 << (attempts - 1).min(30)))
                    .min(r.cap.0 as f64);
                now + SimDuration((self.retry_rng.random::<f64>() * ceiling) as u64)
            }
            (Invocation::Sync, _) => {
                cx.rec.outcome(&req, Outcome::Throttled, None, now, false);
                return;
            }
        };
        let slot = self.park(req, attempts, failures);
        cx.schedule(next, Ev::of(LambdaEvent::Retry(slot)));
    }

    /// After an async event's attempt failed at `now` (its `failures`-th
    /// failure): whether Lambda tries it again, one minute after the first
    /// failure and two after the second, unless the event is too old by then.
    fn retry_failed(
        &mut self,
        req: Request,
        failures: u32,
        now: SimTime,
        cx: &mut Ctx<Ev<K>>,
    ) -> bool {
        if self.cfg.invocation != Invocation::Async || failures > self.cfg.max_retry_attempts {
            return false;
        }
        let at = now + ASYNC_RETRY_DELAYS[failures as usize - 1];
        let deadline = req.arrival + self.cfg.max_event_age;
        let slot = self.park(req, 0, failures);
        if at > deadline {
            cx.schedule(deadline.max(now), Ev::of(LambdaEvent::Drop(slot)));
        } else {
            cx.schedule(at, Ev::of(LambdaEvent::Retry(slot)));
        }
        true
    }

    fn park(&mut self, req: Request, attempts: u32, failures: u32) -> u32 {
        self.waiting_count += 1;
        let w = Some(Waiting {
            req,
            attempts,
            failures,
        });
        match self.free_waiting.pop() {
            Some(slot) => {
                self.waiting[slot as usize] = w;
                slot
            }
            None => {
                self.waiting.push(w);
                (self.waiting.len() - 1) as u32
            }
        }
    }

    fn unpark(&mut self, slot: u32) -> Waiting {
        self.waiting_count -= 1;
        self.free_waiting.push(slot);
        self.waiting[slot as usize]
            .take()
            .expect("a parked request is taken once")
    }

    /// Makes function `f` hold `target` provisioned environments at `now`:
    /// new ones are ready at once; surplus idle ones go now, busy ones when
    /// their request ends.
    fn provision(&mut self, f: usize, target: u32, now: SimTime, cx: &mut Ctx<Ev<K>>) {
        self.functions[f].provisioned_target = target;
        while self.functions[f].provisioned < target {
            let env = self.new_env(f as u32, now, true);
            let fs = &mut self.functions[f];
            fs.provisioned += 1;
            fs.provisioned_idle.push(env);
            self.acquire(f);
        }
        while self.functions[f].provisioned > target {
            let Some(env) = self.functions[f].provisioned_idle.pop() else {
                break;
            };
            self.functions[f].provisioned -= 1;
            self.release(f);
            self.retire(env, now, cx);
        }
        cx.rec.instances.set(now, u64::from(self.alive));
    }

    #[inline(always)]
    fn bill_job(&mut self, job: &Job, provisioned: bool, end: SimTime, measured: bool) {
        let f = job.req.function as usize;
        // Billed once, counted in both.
        let mb_ms = UsageCounters::mb_ms(job, end, self.functions[f].memory);
        let u = &mut self.usage[f];
        u.gross.requests += 1;
        u.measured.requests += u64::from(measured);
        // The provisioned entry is indexed only for a provisioned request.
        if provisioned {
            let p = &mut self.provisioned_mb_ms[f];
            p[0] += mb_ms;
            if measured {
                p[1] += mb_ms;
            }
        } else {
            u.gross.on_demand_mb_ms += mb_ms;
            if measured {
                u.measured.on_demand_mb_ms += mb_ms;
            }
        }
    }

    #[inline(always)]
    fn in_service(&self) -> u64 {
        u64::from(self.busy + self.initialising)
    }

    /// Configured provisioned GB-s of function `f` over [from, to).
    fn provisioned_gb_s(&self, f: usize, from: SimTime, to: SimTime) -> f64 {
        let plan = &self.cfg.provisioned[f];
        let gb = f64::from(self.functions[f].memory) / 1024.0;
        plan.iter()
            .enumerate()
            .map(|(i, &(start, value))| {
                let end = plan.get(i + 1).map_or(to, |n| n.0);
                f64::from(value) * gb * provisioned_seconds(start, end, from, to) as f64
            })
            .sum()
    }

    /// Function `f`'s counters: of the requests in the measurement window
    /// when `measured`, of every request otherwise.
    #[inline]
    fn counters(&self, f: usize, measured: bool) -> UsageCounters {
        let u = &self.usage[f];
        let hot = if measured { &u.measured } else { &u.gross };
        // A function never provisioned has none: its entry is not read
        // (each time series interval goes through every function).
        let provisioned_mb_ms = if self.never_provisioned[f] {
            0
        } else {
            self.provisioned_mb_ms[f][usize::from(measured)]
        };
        UsageCounters {
            requests: hot.requests,
            on_demand_mb_ms: hot.on_demand_mb_ms,
            provisioned_mb_ms,
            front_door: hot.front_door,
        }
    }

    /// The usage of the requests in the measurement window (`measured`) or
    /// of every request, with the requests `in_flight` (by function:
    /// function, provisioned, MB-ms) added to their functions', and of the
    /// provisioned configuration over [from, to), in the form the pricing
    /// takes.
    fn usage(
        &self,
        measured: bool,
        in_flight: &[(u32, bool, u128)],
        from: SimTime,
        to: SimTime,
    ) -> LambdaUsage {
        debug_assert!(in_flight.is_sorted_by_key(|r| r.0));
        let mut u = LambdaUsage::default();
        let mut in_flight = in_flight.iter().peekable();
        for f in 0..self.functions.len() {
            let mut x = self.counters(f, measured);
            while let Some(&(_, provisioned, mb_ms)) = in_flight.next_if(|r| r.0 as usize == f) {
                x.add(provisioned, mb_ms);
            }
            let on_demand = gb_s(x.on_demand_mb_ms);
            u.requests += x.requests as f64;
            u.gb_s += on_demand;
            u.provisioned_duration_gb_s += gb_s(x.provisioned_mb_ms);
            u.front_door_requests += x.front_door as f64;
            // The free tier does not apply to functions with provisioned
            // concurrency; the others' provisioned GB-s are 0, and adding
            // them would leave the sum as it is.
            if !self.never_provisioned[f] {
                u.provisioned_gb_s += self.provisioned_gb_s(f, from, to);
            } else {
                u.free_eligible_requests += x.requests as f64;
                u.free_eligible_gb_s += on_demand;
            }
        }
        u
    }
}

/// Functions from which [`Lambda`]'s per-function state no longer fits the
/// cache and the model asks for it ahead ([`Model::prefetch`]): with fewer,
/// reading ahead costs more than the waits it saves.
pub const PREFETCH_FROM_FUNCTIONS: usize = 4096;

impl<K: KeepAlive> Model for Lambda<K> {
    type Event = Ev<K>;

    fn start(&mut self, cx: &mut Ctx<Ev<K>>) {
        for f in 0..self.functions.len() {
            let plan = self.cfg.provisioned[f].clone();
            self.provision(f, plan[0].1, SimTime::ZERO, cx);
            for (step, &(at, _)) in plan.iter().enumerate().skip(1) {
                cx.schedule(
                    at,
                    Ev::of(LambdaEvent::Provision {
                        function: f as u32,
                        step: step as u32,
                    }),
                );
            }
        }
    }

    fn read_ahead(&self) -> bool {
        self.functions.len() >= PREFETCH_FROM_FUNCTIONS
    }

    /// A warm start reads, in order, the function's state, the back of its
    /// idle deque, the environment found there and its generation in the
    /// deadline queue, and the function's memory and usage counters: each
    /// a wait for memory when there are many functions. One step of that
    /// chain is asked for per arrival, from the request five arrivals
    /// ahead, so that the chain is in the cache when it arrives. Each step
    /// reads only what the step before asked for.
    #[inline(always)]
    fn prefetch(&self, ahead: &engine::Upcoming) {
        let function = |k: usize| ahead.get(k).map(|r| &self.functions[r.function as usize]);
        let newest_idle = |k: usize| {
            function(k)
                .and_then(|fs| fs.idle.back())
                .map(|&(env, _)| env)
        };
        if let Some(r) = ahead.get(3) {
            let f = r.function as usize;
            // The lines a warm start reads (see FunctionState and
            // FunctionUsage).
            engine::prefetch(&self.functions[f].idle);
            engine::prefetch(&self.usage[f]);
        }
        if let Some(fs) = function(2) {
            // Where the back entry lies, from the deque's header alone.
            let (front, back) = fs.idle.as_slices();
            if let Some(slot) = back.last().or(front.last()) {
                engine::prefetch(slot);
            }
        }
        if let Some(env) = newest_idle(1) {
            if let Some(e) = self.envs.get(env as usize) {
                engine::prefetch(e);
            }
            self.expiry.prefetch(env);
        }
    }

    fn on_arrival(&mut self, req: Request, cx: &mut Ctx<Ev<K>>) {
        let now = cx.now();
        self.expire(now, cx);
        self.keep_alive.on_arrival(req.function, now);
        cx.rec.arrived(&req);
        let f = req.function as usize;
        let u = &mut self.usage[f];
        u.gross.front_door += 1;
        u.measured.front_door += u64::from(cx.rec.measured(&req));
        if !self.attempt(req, 0, now, cx) {
            self.throttled(req, 1, 0, now, cx);
        }
    }

    fn on_event(&mut self, event: Ev<K>, cx: &mut Ctx<Ev<K>>) {
        let event = event.0;
        let now = cx.now();
        self.expire(now, cx);
        match event {
            LambdaEvent::InitDone(env) => {
                self.initialising -= 1;
                // Only an INIT past the limit left one.
                let init_retry = if self.init_retries.is_empty() {
                    SimDuration::ZERO
                } else {
                    self.init_retries.remove(&env).unwrap_or(SimDuration::ZERO)
                };
                self.start_handler(env, now, init_retry, cx);
            }
            LambdaEvent::Finish(env) => {
                let e = &mut self.envs[env as usize];
                debug_assert_eq!(e.state, EnvState::Busy, "a finishing environment is busy");
                let job = e.job();
                let f = e.function() as usize;
                let provisioned = e.provisioned;
                // Earlier failed attempts, if any (none but for async events).
                let failures = if self.failures.is_empty() {
                    0
                } else {
                    self.failures.remove(&env).unwrap_or(0)
                };
                let measured = cx.rec.measured(&job.req);
                self.bill_job(&job, provisioned, now, measured);
                if !job.times_out {
                    cx.rec
                        .outcome(&job.req, Outcome::Completed, Some(job.start), now, job.cold);
                } else if !self.retry_failed(job.req, failures + 1, now, cx) {
                    cx.rec
                        .outcome(&job.req, Outcome::TimedOut, Some(job.start), now, job.cold);
                }
                self.busy -= 1;
                if provisioned {
                    let fs = &mut self.functions[f];
                    if fs.provisioned > fs.provisioned_target {
                        // Configured down while it was busy.
                        fs.provisioned -= 1;
                        self.release(f);
                        self.retire(env, now, cx);
                    } else {
                        // Kept warm (a killed one is replaced, invisibly).
                        let e = &mut self.envs[env as usize];
                        e.state = EnvState::Idle;
                        self.functions[f].provisioned_idle.push(env);
                    }
                    cx.rec.in_service.set(now, self.in_service());
                    return;
                }
                self.release(f);
                cx.rec.in_service.set(now, self.in_service());
                let e = &mut self.envs[env as usize];
                let end_of_life = e.created + self.cfg.max_lifetime;
                if job.times_out || now >= end_of_life {
                    // A killed handler's environment is discarded; an old one is recycled.
                    self.retire(env, now, cx);
                } else {
                    match self.keep_alive.on_idle(f as u32, now) {
                        KeepAliveDecision::Retire => self.retire(env, now, cx),
                        KeepAliveDecision::KeepFor(window) => {
                            let e = &mut self.envs[env as usize];
                            e.state = EnvState::Idle;
                            let epoch = e.epoch;
                            let idle_until = now + window;
                            // Otherwise it reaches its end of life first.
                            if idle_until <= end_of_life {
                                self.expiry.push(env, idle_until, epoch);
                                self.quiet_until = self.quiet_until.min(idle_until);
                            }
                            self.functions[f].idle.push_back((env, epoch));
                        }
                    }
                }
            }
            LambdaEvent::Retry(slot) => {
                let w = self.unpark(slot);
                if !self.attempt(w.req, w.failures, now, cx) {
                    self.throttled(w.req, w.attempts + 1, w.failures, now, cx);
                }
            }
            LambdaEvent::Drop(slot) => {
                let w = self.unpark(slot);
                cx.rec.outcome(&w.req, Outcome::Dropped, None, now, false);
            }
            LambdaEvent::Provision { function, step } => {
                let f = function as usize;
                let target = self.cfg.provisioned[f][step as usize].1;
                self.provision(f, target, now, cx);
            }
        }
    }

    fn gauges(&mut self, at: SimTime, cx: &mut Ctx<Ev<K>>) -> Gauges {
        self.expire(at, cx);
        // The running bill includes what requests still executing have used so far.
        let mut in_flight = std::mem::take(&mut self.in_flight);
        in_flight.clear();
        for e in &self.envs {
            if e.working() {
                let f = e.function();
                let mb_ms = UsageCounters::mb_ms(&e.job(), at, self.functions[f as usize].memory);
                in_flight.push((f, e.provisioned, mb_ms));
            }
        }
        in_flight.sort_unstable_by_key(|r| r.0);
        let u = self.usage(false, &in_flight, SimTime::ZERO, at);
        self.in_flight = in_flight;
        let cost = self.cfg.pricing.list_cost(self.cfg.architecture, &u);
        let mut values = [0; crate::metrics::MAX_GAUGES];
        // In KIND.gauges order.
        values[..3].copy_from_slice(&[
            u64::from(self.busy),
            u64::from(self.alive - self.busy - self.initialising),
            u64::from(self.initialising),
        ]);
        Gauges {
            in_flight: self.in_service() + self.waiting_count,
            queued: self.waiting_count,
            values,
            cost_usd: cost,
        }
    }

    fn finish(mut self, cx: &mut Ctx<Ev<K>>) -> Bill {
        let now = cx.now();
        self.expire(now, cx);
        // Requests still initialising or executing: billed for the time so far.
        let mut jobs: Vec<(Job, bool, Option<SimTime>)> = self
            .envs
            .iter()
            .filter(|e| e.working())
            .map(|e| (e.job(), e.provisioned, e.started()))
            .collect();
        // Requests waiting for a retry never started.
        let mut parked: Vec<Request> = self.waiting.iter().flatten().map(|w| w.req).collect();
        jobs.sort_by_key(|(j, _, _)| j.req.id);
        parked.sort_by_key(|r| r.id);
        for (job, provisioned, started) in &jobs {
            let measured = cx.rec.measured(&job.req);
            self.bill_job(job, *provisioned, now, measured);
            cx.rec
                .outcome(&job.req, Outcome::InFlight, *started, now, job.cold);
        }
        for req in &parked {
            cx.rec.outcome(req, Outcome::InFlight, None, now, false);
        }
        let (from, to) = cx.rec.window();
        let window_s = to.since(from).as_secs_f64();
        let usage = self.usage(true, &[], from, to);
        let (cost, month) =
            self.cfg
                .pricing
                .bill_and_month(self.cfg.architecture, &usage, window_s);
        Bill {
            cost,
            per_month_usd: month.total(),
        }
    }
}
