//! The event queue: pending events ordered by (time, sequence number), so
//! events at equal times pop in the order they were scheduled (FIFO).

use std::cmp::Ordering;

use dary_heap::QuaternaryHeap;

use crate::time::SimTime;

/// A pending event. The key packs (time, sequence) into one integer, so
/// the queue orders entries with a single comparison.
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> Entry<E> {
    #[inline]
    fn time(&self) -> SimTime {
        SimTime((self.key >> 64) as u64)
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed, so the max-heap pops the earliest (time, seq) first.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// Pending events, earliest first; equal times in scheduling order.
///
/// A quaternary heap: half the depth of a binary one, which pays off because
/// popping (a chain of dependent loads down the tree) dominates the loop.
pub struct EventQueue<E> {
    heap: QuaternaryHeap<Entry<E>>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: QuaternaryHeap::new(),
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    #[inline]
    pub fn push(&mut self, time: SimTime, event: E) {
        let key = (u128::from(time.0) << 64) | u128::from(self.seq);
        self.heap.push(Entry { key, event });
        self.seq += 1;
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.heap.pop().map(|e| (e.time(), e.event))
    }

    #[inline]
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(Entry::time)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_times_pop_in_scheduling_order() {
        let mut q = EventQueue::default();
        q.push(SimTime(5), 'a');
        q.push(SimTime(3), 'b');
        q.push(SimTime(5), 'c');
        q.push(SimTime(3), 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
    }

    proptest::proptest! {
        /// Any interleaving of pushes and pops hands events out as a stable
        /// sort by time of everything pushed would: earliest first, equal
        /// times in push order, never one earlier than the last popped.
        #[test]
        fn pops_in_time_then_push_order(ops in proptest::collection::vec((0u64..20, proptest::bool::ANY), 0..400)) {
            let mut q = EventQueue::default();
            let mut pending: Vec<(u64, usize)> = Vec::new();
            let mut now = 0;
            for (i, &(dt, pop)) in ops.iter().enumerate() {
                if pop {
                    let want = pending
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, e)| **e)
                        .map(|(k, _)| k)
                        .map(|k| pending.remove(k));
                    let got = q.pop().map(|(t, e)| (t.0, e));
                    proptest::prop_assert_eq!(got, want);
                    if let Some((t, _)) = got {
                        proptest::prop_assert!(t >= now);
                        now = t;
                    }
                } else {
                    // Events are never scheduled in the past.
                    let t = now + dt;
                    q.push(SimTime(t), i);
                    pending.push((t, i));
                }
                proptest::prop_assert_eq!(q.len(), pending.len());
                proptest::prop_assert_eq!(q.peek_time().map(|t| t.0), pending.iter().min().map(|e| e.0));
            }
        }
    }
}
