//! Lambda keep-alive policies: how long an execution environment stays warm
//! after its request ends.
//!
//! A policy is a [`KeepAlive`]: it sees every arrival and, when an
//! environment goes idle, returns a [`KeepAliveDecision`]. It also picks the
//! structure that holds the idle deadlines ([`KeepAlive::Deadlines`]): a
//! policy whose window is one constant keeps [`ExpiryQueue`], O(1) per idle
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
}

/// Entries [`ExpiryQueue`] may hold beyond twice the idle environments
/// before it drops its stale ones. A compaction walks the entries once;
/// each entry is pushed once and goes stale at most once, so the walks
/// cost at most two entry visits a push, amortised.
const COMPACT_SLACK: usize = 1024;

/// Idle environments in the order they became idle, which is the order of
/// their idle deadlines: a FIFO of (deadline, environment, generation),
/// from which removal is lazy. Each environment has a generation, odd
/// while it is in the queue; an entry stands while its generation is the
/// environment's. Removing an environment writes only its own generation
/// (4 bytes in a dense array: 400 KB for 100,000 environments, in the
/// processor's cache; the model's own epoch is on the environment's line,
/// which each stale entry reaching the front would read), where unlinking
/// it from a list wrote two neighbours that, with many functions, were
/// seldom in the cache (`perf` of the 100,000-function trace: two waits
/// for memory a warm start). Stale
/// entries leave from the front as [`Deadlines::first`] reaches them, and
/// all at once when they outnumber the live ones (`COMPACT_SLACK`):
/// memory is bounded by the environments, not the request rate. An entry
/// popped at the back takes its generation back with it, so a generation
/// moves only with an entry left in the queue, fewer than
/// 2 × (2 × idle + `COMPACT_SLACK`) times between compactions: it cannot
/// come round (2^32) to a stale entry's while fewer than 2^29
/// environments are idle.
#[derive(Debug, Clone, Default)]
pub struct ExpiryQueue {
    /// The entries from `head` on; those before it have left the front.
    entries: Vec<(SimTime, u32, u32)>,
    head: usize,
    /// Per slab index: its generation, odd while it is in the queue.
    generation: Vec<u32>,
    /// Environments in the queue (live entries).
    live: usize,
}

impl Deadlines for ExpiryQueue {
    /// Appends `env`, idle until `deadline` (no earlier than any deadline in
    /// the queue); an entry of `env` already in stands no more.
    #[inline(always)]
    fn push(&mut self, env: u32, deadline: SimTime, _epoch: u32) {
        if self.entries.len() >= 2 * self.live + COMPACT_SLACK {
            self.compact();
        }
        let i = env as usize;
        if self.generation.len() <= i {
            self.generation.resize(i + 1, 0);
        }
        let g = &mut self.generation[i];
        if *g % 2 == 1 {
            // Already in: its entry goes stale, the new one stands.
            *g = g.wrapping_add(2);
        } else {
            *g = g.wrapping_add(1);
            self.live += 1;
        }
        let g = *g;
        self.entries.push((deadline, env, g));
    }

    /// Takes `env` out, if it is in: at once if it is the last in (the
    /// environment a function's next request reuses, when the functions
    /// are few), its generation set back to what it was before that push;
    /// else by moving its generation on.
    #[inline(always)]
    fn remove(&mut self, env: u32) {
        if let Some(g) = self.generation.get_mut(env as usize)
            && *g % 2 == 1
        {
            self.live -= 1;
            // An entry of `env` at the back is its latest, the one that
            // stood; every other entry of `env` is older than the even
            // generation before it.
            if self.entries.len() > self.head
                && self.entries.last().is_some_and(|&(_, e, _)| e == env)
            {
                self.entries.pop();
                *g = g.wrapping_sub(1);
            } else {
                *g = g.wrapping_add(1);
            }
        }
    }

    /// The environment with the earliest deadline, and the deadline.
    #[inline(always)]
    fn first(&mut self, _live: impl Fn(u32, u32) -> bool) -> Option<(u32, SimTime)> {
        while let Some(&(at, env, g)) = self.entries.get(self.head) {
            if self.generation[env as usize] == g {
                return Some((env, at));
            }
            self.head += 1;
        }
        None
    }

    #[inline(always)]
    fn prefetch(&self, env: u32) {
        if let Some(g) = self.generation.get(env as usize) {
            crate::engine::prefetch(g);
        }
    }
}

impl ExpiryQueue {
    /// Drops the entries that left the front and every stale one, keeping
    /// the order of the others.
    #[cold]
    fn compact(&mut self) {
        let generation = &self.generation;
        self.entries.drain(..self.head);
        self.head = 0;
        self.entries
            .retain(|&(_, env, g)| generation[env as usize] == g);
        debug_assert_eq!(self.entries.len(), self.live);
    }
}

/// Idle deadlines in any order: a min-heap of (deadline, push order,
/// environment, idle period), whose entries go stale when the environment is
/// reused or retired and are dropped when they reach the top. Equal
/// deadlines come out in the order they went in, as from [`ExpiryQueue`].
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What [`ExpiryQueue`] must behave as: a list of (environment,
    /// deadline) in push order, taken out eagerly.
    #[derive(Default)]
    struct Eager(Vec<(u32, SimTime)>);

    impl Eager {
        fn push(&mut self, env: u32, at: SimTime) {
            self.remove(env);
            self.0.push((env, at));
        }
        fn remove(&mut self, env: u32) {
            self.0.retain(|&(e, _)| e != env);
        }
        fn first(&self) -> Option<(u32, SimTime)> {
            self.0.first().copied()
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Op {
        Push(u32),
        Remove(u32),
        First,
    }

    fn op(envs: u32) -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..envs).prop_map(Op::Push),
            2 => (0..envs).prop_map(Op::Remove),
            1 => Just(Op::First),
        ]
    }

    proptest! {
        /// Long enough runs (up to 4,000 steps) that compactions happen,
        /// over few environments (stale entries pile up) and many.
        #[test]
        fn the_queue_is_the_eager_list(
            envs in prop_oneof![Just(3u32), Just(40), Just(5000)],
            ops in proptest::collection::vec(op(5000), 1..4000),
        ) {
            let (mut q, mut eager) = (ExpiryQueue::default(), Eager::default());
            for (k, op) in ops.into_iter().enumerate() {
                // Deadlines in push order, as the fixed policy's are.
                let at = SimTime(k as u64 * 10);
                match op {
                    Op::Push(e) => {
                        q.push(e % envs, at, 0);
                        eager.push(e % envs, at);
                        // Bounded by the live entries as each one goes in.
                        prop_assert!(q.entries.len() <= 2 * q.live + COMPACT_SLACK);
                    }
                    Op::Remove(e) => {
                        q.remove(e % envs);
                        eager.remove(e % envs);
                    }
                    Op::First => prop_assert_eq!(q.first(|_, _| true), eager.first()),
                }
                prop_assert_eq!(q.live, eager.0.len());
                prop_assert!(q.head <= q.entries.len());
            }
            // Drained in order, as the expiry takes them.
            while let Some((env, at)) = eager.first() {
                prop_assert_eq!(q.first(|_, _| true), Some((env, at)));
                q.remove(env);
                eager.remove(env);
            }
            prop_assert_eq!(q.first(|_, _| true), None);
        }
    }

    #[test]
    fn stale_entries_are_dropped_once_they_outnumber_the_live_ones() {
        let mut q = ExpiryQueue::default();
        // One environment idle for good at the front; two more idle and
        // reused in turn, the first of each pair taken out from behind
        // the second: one stale entry a round, never at the back.
        q.push(0, SimTime(0), 0);
        for k in 1..100_000u64 {
            q.push(1, SimTime(2 * k), 0);
            q.push(2, SimTime(2 * k + 1), 0);
            q.remove(1);
            q.remove(2);
            assert!(q.entries.len() <= 2 * q.live + COMPACT_SLACK + 2);
        }
        assert_eq!(q.live, 1);
        assert!(
            q.entries.len() > 1,
            "stale entries are left between compactions"
        );
        assert_eq!(q.first(|_, _| true), Some((0, SimTime(0))));
    }

    #[test]
    fn a_pop_at_the_back_takes_its_generation_back() {
        let mut q = ExpiryQueue::default();
        // A stale entry of 1 behind the live 2, then 1 reused over and
        // over, each time popped at the back: its generation stays where
        // it was, so it never comes round to the stale entry's (1).
        q.push(1, SimTime(0), 0);
        q.push(2, SimTime(1), 0);
        q.remove(1);
        assert_eq!(q.generation[1], 2);
        for k in 0..1000u64 {
            q.push(1, SimTime(2 + k), 0);
            q.remove(1);
        }
        assert_eq!(q.generation[1], 2);
        assert_eq!(q.entries, vec![(SimTime(0), 1, 1), (SimTime(1), 2, 1)]);
        assert_eq!(q.first(|_, _| true), Some((2, SimTime(1))));
    }
}
