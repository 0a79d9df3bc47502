//! Lambda keep-alive policies: how long an execution environment stays warm
//! after its request ends.
//!
//! A policy is a [`KeepAlive`]: it sees every arrival and, when an
//! environment goes idle, returns a [`KeepAliveDecision`]. It also picks the
//! structure that holds the idle deadlines ([`KeepAlive::Deadlines`]): a
//! policy whose window is one constant keeps [`ExpiryList`], O(1) per idle
//! period because deadlines arrive in time order; a policy that varies the
//! window per environment gets [`ExpiryHeap`], a lazy min-heap. The model is
//! generic over the policy and each policy gets its own loop
//! ([`KeepAliveConfig::with`]).
//!
//! Adding a policy: a file in this folder with its spec (serde, strict) and
//! its [`KeepAlive`] implementation, and one line in the `policies!` list at
//! the bottom of this file (which declares the module too); scenarios then
//! name it as `keep_alive = { kind = "<name>", ... }`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::Deserialize;

use crate::error::{FieldError, FieldPath};
use crate::time::{SimDuration, SimTime};

/// What happens to an environment whose request just ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveDecision {
    /// Keep it warm for this long (it still retires at its end of life).
    KeepFor(SimDuration),
    /// Retire it now.
    Retire,
}

/// A keep-alive policy.
pub trait KeepAlive: std::fmt::Debug + Clone + Send + Sync + 'static {
    /// Where the idle deadlines are kept.
    type Deadlines: Deadlines;

    /// An empty deadline structure for a run.
    fn deadlines(&self) -> Self::Deadlines;

    /// A request of function `function` arrives at `now`.
    #[inline]
    fn on_arrival(&mut self, _function: u32, _now: SimTime) {}

    /// An environment of `function` goes idle at `now`.
    fn on_idle(&mut self, function: u32, now: SimTime) -> KeepAliveDecision;
}

/// The idle deadlines of a run's environments (slab indices).
pub trait Deadlines {
    /// `env` is idle until `deadline`, in its idle period `epoch`.
    fn push(&mut self, env: u32, deadline: SimTime, epoch: u32);
    /// `env` is no longer idle (reused or retired).
    fn remove(&mut self, env: u32);
    /// The earliest deadline and its environment; `live(env, epoch)` tells
    /// whether an entry still stands (lazy structures skip those that do not).
    fn first(&mut self, live: impl Fn(u32, u32) -> bool) -> Option<(u32, SimTime)>;

    /// Asks the cache for what [`Deadlines::remove`] of `env` reads first
    /// (a hint only; see [`crate::engine::Model::prefetch`]).
    #[inline(always)]
    fn prefetch(&self, _env: u32) {}

    /// Asks the cache for what [`Deadlines::remove`] of `env` writes once
    /// its own entry has been read (its neighbours, in a linked list).
    #[inline(always)]
    fn prefetch_neighbours(&self, _env: u32) {}
}

/// "No environment" in [`ExpiryList`] links.
const NIL: u32 = u32::MAX;

/// Idle environments in the order they became idle, which is the order of
/// their idle deadlines: a doubly linked list over slab indices.
#[derive(Debug, Clone)]
pub struct ExpiryList {
    head: u32,
    tail: u32,
    /// Per slab index: (previous, next, deadline, in the list).
    links: Vec<(u32, u32, SimTime, bool)>,
}

impl Default for ExpiryList {
    fn default() -> Self {
        ExpiryList {
            head: NIL,
            tail: NIL,
            links: Vec::new(),
        }
    }
}

impl Deadlines for ExpiryList {
    /// Appends `env`, idle until `deadline` (no earlier than any deadline in the list).
    #[inline(always)]
    fn push(&mut self, env: u32, deadline: SimTime, _epoch: u32) {
        let i = env as usize;
        if self.links.len() <= i {
            self.links.resize(i + 1, (NIL, NIL, SimTime::ZERO, false));
        }
        self.links[i] = (self.tail, NIL, deadline, true);
        match self.tail {
            NIL => self.head = env,
            tail => self.links[tail as usize].1 = env,
        }
        self.tail = env;
    }

    /// Takes `env` out, if it is in.
    #[inline(always)]
    fn remove(&mut self, env: u32) {
        let Some(&(prev, next, _, true)) = self.links.get(env as usize) else {
            return;
        };
        self.links[env as usize].3 = false;
        match prev {
            NIL => self.head = next,
            p => self.links[p as usize].1 = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.links[n as usize].0 = prev,
        }
    }

    /// The environment with the earliest deadline, and the deadline.
    #[inline(always)]
    fn first(&mut self, _live: impl Fn(u32, u32) -> bool) -> Option<(u32, SimTime)> {
        (self.head != NIL).then(|| (self.head, self.links[self.head as usize].2))
    }

    #[inline(always)]
    fn prefetch(&self, env: u32) {
        if let Some(link) = self.links.get(env as usize) {
            crate::engine::prefetch(link);
        }
    }

    #[inline(always)]
    fn prefetch_neighbours(&self, env: u32) {
        if let Some(&(prev, next, _, true)) = self.links.get(env as usize) {
            for n in [prev, next] {
                if let Some(link) = self.links.get(n as usize) {
                    crate::engine::prefetch(link);
                }
            }
        }
    }
}

/// Idle deadlines in any order: a min-heap of (deadline, push order,
/// environment, idle period), whose entries go stale when the environment is
/// reused or retired and are dropped when they reach the top. Equal
/// deadlines come out in the order they went in, as from [`ExpiryList`].
#[derive(Debug, Clone, Default)]
pub struct ExpiryHeap {
    heap: BinaryHeap<Reverse<(SimTime, u64, u32, u32)>>,
    pushed: u64,
}

impl Deadlines for ExpiryHeap {
    #[inline(always)]
    fn push(&mut self, env: u32, deadline: SimTime, epoch: u32) {
        self.heap.push(Reverse((deadline, self.pushed, env, epoch)));
        self.pushed += 1;
    }

    #[inline(always)]
    fn remove(&mut self, _env: u32) {}

    #[inline(always)]
    fn first(&mut self, live: impl Fn(u32, u32) -> bool) -> Option<(u32, SimTime)> {
        while let Some(&Reverse((at, _, env, epoch))) = self.heap.peek() {
            if live(env, epoch) {
                return Some((env, at));
            }
            self.heap.pop();
        }
        None
    }
}

/// A `[[platforms]]` `keep_alive` policy's spec, validated into the policy.
pub trait PolicySpec {
    type Policy: KeepAlive;
    /// The policy for `functions` functions, and the environments' maximum lifetime.
    fn compile(
        &self,
        path: &FieldPath,
        functions: usize,
    ) -> Result<(Self::Policy, SimDuration), FieldError>;
}

/// `max_lifetime_s` of any policy: 7,200 s unless given (the scenario reference's default,
/// README; AWS does not document environment lifetimes).
pub fn max_lifetime(path: &FieldPath, v: Option<f64>) -> Result<SimDuration, FieldError> {
    path.positive_secs("max_lifetime_s", v.unwrap_or(7200.0), 1e9)
}

/// Code to run with a concrete policy type (so it is monomorphised for it).
pub trait WithPolicy {
    type Output;
    fn run<P: KeepAlive>(self, policy: P) -> Self::Output;
}

/// Declares the policies: their modules, the `keep_alive` spec enum (tagged
/// by `kind`) and the validated [`KeepAliveConfig`] with its dispatch to a
/// [`WithPolicy`]. One line per policy: its variant (the `kind`, in snake case) and its module,
/// which defines `Spec` and the policy type named like the variant.
macro_rules! policies {
    ($($variant:ident => $module:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// `keep_alive = { kind = "...", ... }`.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum KeepAliveSpec {
            $($variant($module::Spec),)+
        }

        /// A validated keep-alive policy, in its initial state.
        #[derive(Debug, Clone, PartialEq)]
        pub enum KeepAliveConfig {
            $($variant($module::$variant),)+
        }

        impl KeepAliveSpec {
            /// The policy and the environments' maximum lifetime.
            pub fn compile(
                &self,
                path: &FieldPath,
                functions: usize,
            ) -> Result<(KeepAliveConfig, SimDuration), FieldError> {
                match self {
                    $(KeepAliveSpec::$variant(s) => {
                        let (p, life) = s.compile(path, functions)?;
                        Ok((KeepAliveConfig::$variant(p), life))
                    })+
                }
            }
        }

        impl KeepAliveConfig {
            /// Runs `w` with the concrete policy (a fresh copy of it).
            pub fn with<W: WithPolicy>(&self, w: W) -> W::Output {
                match self {
                    $(KeepAliveConfig::$variant(p) => w.run(p.clone()),)+
                }
            }
        }
    };
}

policies! {
    Fixed => fixed,
    HybridHistogram => hybrid,
}
