//! Load balancers: which ready pod of a deployment (or task of a service)
//! gets a request (`load_balancer = "round_robin" | "random" |
//! "least_outstanding"`).
//!
//! A balancer is told when a pod joins or leaves the ready set and, when it
//! asks to be ([`Balancer::watches_load`]), when a pod's outstanding
//! requests change; [`Balancer::pick`] is its decision. The model is generic
//! over it; scenarios run it with [`AnyBalancer`], which dispatches to the
//! named one. Adding one: an implementation here (or in its own file), a
//! variant of [`super::LoadBalancer`] with its arm in
//! [`super::LoadBalancer::balancer`], and a variant of [`AnyBalancer`] with
//! its arm in the `each!` macro.

use std::collections::BTreeSet;

use rand::RngExt;

use crate::rng::SimRng;

/// A load-balancing policy over one deployment's ready pods.
pub trait Balancer: std::fmt::Debug + Clone + Send + 'static {
    /// Whether [`Balancer::load_changed`] must be called on every change of a
    /// ready pod's outstanding requests (it costs an index update per request).
    #[inline(always)]
    fn watches_load(&self) -> bool {
        false
    }

    /// Pod `pod`, with `outstanding` requests, is ready to receive traffic.
    fn join(&mut self, pod: u32, outstanding: usize);

    /// Pod `pod`, with `outstanding` requests (its count as last told),
    /// stops receiving traffic.
    fn leave(&mut self, pod: u32, outstanding: usize);

    /// A ready pod's outstanding requests went from `before` (its count as
    /// last told) to `after`.
    fn load_changed(&mut self, _pod: u32, _before: usize, _after: usize) {}

    /// The pod for the next request; `None` when no pod is ready.
    fn pick(&mut self, rng: &mut SimRng) -> Option<u32>;

    /// Ready pods.
    fn ready(&self) -> usize;
}

/// Ready pods in the order they became ready.
#[derive(Debug, Clone, Default)]
struct Ready(Vec<u32>);

impl Ready {
    /// Removes `pod`, returning where it was.
    fn remove(&mut self, pod: u32) -> Option<usize> {
        let i = self.0.iter().position(|&q| q == pod)?;
        self.0.remove(i);
        Some(i)
    }
}

/// Each ready pod in turn (kube-proxy's iptables mode is random; an ALB or
/// an ingress controller's default is round robin).
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    ready: Ready,
    next: usize,
}

impl Balancer for RoundRobin {
    fn join(&mut self, pod: u32, _: usize) {
        self.ready.0.push(pod);
    }

    fn leave(&mut self, pod: u32, _: usize) {
        // Keep the rotation on the pod it was going to visit next.
        if let Some(i) = self.ready.remove(pod)
            && i < self.next
        {
            self.next -= 1;
        }
    }

    #[inline]
    fn pick(&mut self, _: &mut SimRng) -> Option<u32> {
        let ready = &self.ready.0;
        if ready.is_empty() {
            return None;
        }
        let p = ready[self.next % ready.len()];
        self.next = (self.next + 1) % ready.len();
        Some(p)
    }

    fn ready(&self) -> usize {
        self.ready.0.len()
    }
}

/// A ready pod drawn uniformly (the platform's `lb` stream).
#[derive(Debug, Clone, Default)]
pub struct Random {
    ready: Ready,
}

impl Balancer for Random {
    fn join(&mut self, pod: u32, _: usize) {
        self.ready.0.push(pod);
    }

    fn leave(&mut self, pod: u32, _: usize) {
        self.ready.remove(pod);
    }

    #[inline]
    fn pick(&mut self, rng: &mut SimRng) -> Option<u32> {
        let ready = &self.ready.0;
        (!ready.is_empty()).then(|| ready[rng.random_range(0..ready.len())])
    }

    fn ready(&self) -> usize {
        self.ready.0.len()
    }
}

/// The ready pod with the fewest requests in service or queued; ties to the
/// lowest pod id.
///
/// Up to [`LeastOutstanding::SMALL`] ready pods are a `Levels` index (a
/// bit set of pods per load, so a pick and a change of load are a few
/// instructions); beyond that, an ordered set. Both give the smallest
/// (outstanding, pod), so the choice is the same either way, as long as
/// callers keep the [`Balancer`] contract: a pod joins once, and `leave` and
/// `load_changed` are given its current load (as every model does; checked
/// in debug builds).
#[derive(Debug, Clone)]
pub struct LeastOutstanding {
    index: Index,
}

#[derive(Debug, Clone)]
enum Index {
    Small(Levels),
    Large(BTreeSet<(usize, u32)>),
}

/// Up to 64 ready pods by load: bit `i` of `by_load[l]` is set when
/// `pods[i]` has `l` requests. `pods` is kept in increasing pod id, so the
/// lowest bit of the lowest non-empty load is the smallest (load, pod).
#[derive(Debug, Clone, Default)]
struct Levels {
    /// (pod, load), in increasing pod id.
    pods: Vec<(u32, usize)>,
    /// The position in `pods` of each pod id (stale for pods not in it).
    at: Vec<u8>,
    by_load: Vec<u64>,
    /// The lowest load with a pod; every lower one is empty.
    low: usize,
}

impl Levels {
    fn from_pairs(pairs: impl IntoIterator<Item = (usize, u32)>) -> Self {
        let mut l = Levels {
            pods: pairs.into_iter().map(|(n, p)| (p, n)).collect(),
            ..Levels::default()
        };
        l.pods.sort_unstable();
        l.index_all();
        l
    }

    fn pairs(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.pods.iter().map(|&(p, n)| (n, p))
    }

    /// Clears every load's bits (only those of the pods, which are the only
    /// ones set), before `pods` changes.
    fn clear_all(&mut self) {
        for &(_, n) in &self.pods {
            self.by_load[n] = 0;
        }
    }

    /// Sets every pod's position and bit from `pods`.
    fn index_all(&mut self) {
        debug_assert!(self.pods.len() <= 64);
        self.low = usize::MAX;
        for (i, &(p, n)) in self.pods.iter().enumerate() {
            let p = p as usize;
            if p >= self.at.len() {
                self.at.resize(p + 1, 0);
            }
            self.at[p] = i as u8;
            if n >= self.by_load.len() {
                self.by_load.resize(n + 1, 0);
            }
            self.by_load[n] |= 1 << i;
            self.low = self.low.min(n);
        }
        if self.pods.is_empty() {
            self.low = 0;
        }
    }

    // Rare (a pod becomes ready or leaves): kept out of the hot loop.
    #[inline(never)]
    fn join(&mut self, pod: u32, load: usize) {
        debug_assert!(
            self.pods.iter().all(|e| e.0 != pod),
            "pod {pod} joins twice"
        );
        self.clear_all();
        let i = self.pods.partition_point(|e| e.0 < pod);
        self.pods.insert(i, (pod, load));
        self.index_all();
    }

    // Rare (a pod becomes ready or leaves): kept out of the hot loop.
    #[inline(never)]
    fn leave(&mut self, pod: u32, load: usize) {
        let Some(&i) = self.at.get(pod as usize) else {
            return;
        };
        if self.pods.get(i as usize).is_none_or(|e| e.0 != pod) {
            return;
        }
        debug_assert_eq!(
            self.pods[i as usize].1, load,
            "pod {pod} leaves with another load"
        );
        self.clear_all();
        self.pods.remove(i as usize);
        self.index_all();
    }

    #[inline]
    fn load_changed(&mut self, pod: u32, before: usize, after: usize) {
        let Some(&i) = self.at.get(pod as usize) else {
            return;
        };
        let Some(e) = self.pods.get_mut(i as usize).filter(|e| e.0 == pod) else {
            return;
        };
        debug_assert_eq!(e.1, before, "pod {pod}'s load was not {before}");
        let before = e.1;
        e.1 = after;
        let bit = 1u64 << i;
        self.by_load[before] &= !bit;
        if after >= self.by_load.len() {
            self.by_load.resize(after + 1, 0);
        }
        self.by_load[after] |= bit;
        if after < self.low {
            self.low = after;
        } else {
            // Loads move by one request at a time, so this is a step or two.
            while self.by_load[self.low] == 0 {
                self.low += 1;
            }
        }
    }

    #[inline]
    fn pick(&self) -> Option<u32> {
        let bits = *self.by_load.get(self.low)?;
        (bits != 0).then(|| self.pods[bits.trailing_zeros() as usize].0)
    }
}

impl Default for LeastOutstanding {
    fn default() -> Self {
        LeastOutstanding {
            index: Index::Small(Levels::default()),
        }
    }
}

impl LeastOutstanding {
    /// Ready pods up to which the bit sets are kept; back to them below half.
    pub const SMALL: usize = 64;

    fn resize(&mut self) {
        match &self.index {
            Index::Small(v) if v.pods.len() > Self::SMALL => {
                self.index = Index::Large(v.pairs().collect());
            }
            Index::Large(t) if t.len() < Self::SMALL / 2 => {
                self.index = Index::Small(Levels::from_pairs(t.iter().copied()));
            }
            _ => {}
        }
    }
}

impl Balancer for LeastOutstanding {
    #[inline(always)]
    fn watches_load(&self) -> bool {
        true
    }

    fn join(&mut self, pod: u32, outstanding: usize) {
        match &mut self.index {
            Index::Small(v) if v.pods.len() < Self::SMALL => v.join(pod, outstanding),
            Index::Small(v) => {
                let mut t: BTreeSet<_> = v.pairs().collect();
                t.insert((outstanding, pod));
                self.index = Index::Large(t);
            }
            Index::Large(t) => {
                t.insert((outstanding, pod));
            }
        }
        self.resize();
    }

    fn leave(&mut self, pod: u32, outstanding: usize) {
        match &mut self.index {
            Index::Small(v) => v.leave(pod, outstanding),
            Index::Large(t) => {
                t.remove(&(outstanding, pod));
            }
        }
        self.resize();
    }

    #[inline]
    fn load_changed(&mut self, pod: u32, before: usize, after: usize) {
        match &mut self.index {
            Index::Small(v) => v.load_changed(pod, before, after),
            Index::Large(t) => {
                t.remove(&(before, pod));
                t.insert((after, pod));
            }
        }
    }

    #[inline]
    fn pick(&mut self, _: &mut SimRng) -> Option<u32> {
        match &self.index {
            Index::Small(v) => v.pick(),
            Index::Large(t) => t.first().map(|&(_, p)| p),
        }
    }

    fn ready(&self) -> usize {
        match &self.index {
            Index::Small(v) => v.pods.len(),
            Index::Large(t) => t.len(),
        }
    }
}

/// The balancer a scenario names, dispatched by a `match`: one model loop
/// serves every balancer, so its hot calls (the event heap's pop among them)
/// stay inlined; three monomorphised loops measured 14 % slower.
#[derive(Debug, Clone)]
pub enum AnyBalancer {
    RoundRobin(RoundRobin),
    Random(Random),
    LeastOutstanding(LeastOutstanding),
}

macro_rules! each {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            AnyBalancer::RoundRobin($b) => $e,
            AnyBalancer::Random($b) => $e,
            AnyBalancer::LeastOutstanding($b) => $e,
        }
    };
}

impl Balancer for AnyBalancer {
    #[inline(always)]
    fn watches_load(&self) -> bool {
        each!(self, b => b.watches_load())
    }

    #[inline(always)]
    fn join(&mut self, pod: u32, outstanding: usize) {
        each!(self, b => b.join(pod, outstanding))
    }

    #[inline(always)]
    fn leave(&mut self, pod: u32, outstanding: usize) {
        each!(self, b => b.leave(pod, outstanding))
    }

    #[inline(always)]
    fn load_changed(&mut self, pod: u32, before: usize, after: usize) {
        each!(self, b => b.load_changed(pod, before, after))
    }

    #[inline(always)]
    fn pick(&mut self, rng: &mut SimRng) -> Option<u32> {
        each!(self, b => b.pick(rng))
    }

    #[inline(always)]
    fn ready(&self) -> usize {
        each!(self, b => b.ready())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> SimRng {
        crate::rng::stream(1, 0, "test/lb")
    }

    #[test]
    fn round_robin_keeps_its_place_when_a_pod_leaves() {
        let mut lb = RoundRobin::default();
        for p in [10, 11, 12] {
            lb.join(p, 0);
        }
        let mut r = rng();
        assert_eq!(lb.pick(&mut r), Some(10));
        assert_eq!(lb.pick(&mut r), Some(11));
        // 10 leaves: 12 is still next.
        lb.leave(10, 0);
        assert_eq!(lb.pick(&mut r), Some(12));
        assert_eq!(lb.pick(&mut r), Some(11));
        lb.leave(11, 0);
        lb.leave(12, 0);
        assert_eq!(lb.pick(&mut r), None);
    }

    #[test]
    fn least_outstanding_picks_the_least_loaded_then_the_lowest_id() {
        let mut lb = LeastOutstanding::default();
        lb.join(3, 2);
        lb.join(1, 2);
        lb.join(2, 5);
        let mut r = rng();
        assert_eq!(lb.pick(&mut r), Some(1));
        lb.load_changed(1, 2, 3);
        assert_eq!(lb.pick(&mut r), Some(3));
        lb.leave(3, 2);
        assert_eq!(lb.pick(&mut r), Some(1));
        assert_eq!(lb.ready(), 2);
    }

    #[test]
    fn least_outstanding_follows_loads_far_apart_and_pods_leaving() {
        let mut lb = LeastOutstanding::default();
        lb.join(7, 10_000);
        lb.join(2, 40_000);
        let mut r = rng();
        assert_eq!(lb.pick(&mut r), Some(7));
        lb.load_changed(7, 10_000, 50_000);
        assert_eq!(lb.pick(&mut r), Some(2));
        lb.load_changed(2, 40_000, 50_000);
        // A tie: the lower id.
        assert_eq!(lb.pick(&mut r), Some(2));
        lb.leave(2, 50_000);
        assert_eq!(lb.pick(&mut r), Some(7));
        // Leaving again, or a change for a pod that is not ready, is ignored.
        lb.leave(2, 50_000);
        lb.load_changed(2, 50_000, 0);
        assert_eq!(lb.pick(&mut r), Some(7));
        lb.leave(7, 50_000);
        assert_eq!(lb.pick(&mut r), None);
        lb.join(1, 3);
        assert_eq!(lb.pick(&mut r), Some(1));
    }

    #[test]
    fn random_draws_only_ready_pods() {
        let mut lb = Random::default();
        lb.join(4, 0);
        lb.join(7, 0);
        lb.leave(4, 0);
        let mut r = rng();
        assert!((0..50).all(|_| lb.pick(&mut r) == Some(7)));
    }

    proptest::proptest! {
        #[test]
        fn least_outstanding_picks_as_an_ordered_set_at_any_size(
            ops in proptest::collection::vec((0u8..3, 0u32..200, 0usize..6), 0..800)
        ) {
            // The vector (up to 64 ready pods) and the ordered set beyond
            // it against one reference set: the same pick after every step.
            let mut lb = LeastOutstanding::default();
            let mut reference: BTreeSet<(usize, u32)> = BTreeSet::new();
            let mut load: std::collections::BTreeMap<u32, usize> = Default::default();
            let mut r = rng();
            for (op, pod, n) in ops {
                match (op, load.get(&pod).copied()) {
                    (0, None) => {
                        lb.join(pod, n);
                        reference.insert((n, pod));
                        load.insert(pod, n);
                    }
                    (1, Some(l)) => {
                        lb.leave(pod, l);
                        reference.remove(&(l, pod));
                        load.remove(&pod);
                    }
                    (2, Some(l)) => {
                        lb.load_changed(pod, l, n);
                        reference.remove(&(l, pod));
                        reference.insert((n, pod));
                        load.insert(pod, n);
                    }
                    _ => {}
                }
                proptest::prop_assert_eq!(lb.pick(&mut r), reference.first().map(|&(_, p)| p));
                proptest::prop_assert_eq!(lb.ready(), reference.len());
            }
        }
    }
}
