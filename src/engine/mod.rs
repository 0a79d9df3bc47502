//! The event loop: a (time, sequence) queue merged with the arrival stream.
//!
//! Events are ordered by time and, at equal times, by the order in which they
//! were scheduled (a sequence number), so simultaneous events run first-in
//! first-out and a run is totally ordered whatever the platform does. The
//! arrival stream is never pushed into the heap: the loop compares its head
//! with the queue's head and takes the earlier, events first at equal times (a
//! request finishing at t frees its instance for an arrival at t). The heap
//! therefore holds only in-progress work, a few entries per busy instance.
//!
//! The loop is generic over [`Platform`], so each model's handlers are
//! monomorphised into it.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use dary_heap::QuaternaryHeap;

/// Set by SIGINT / SIGTERM: runs stop at their next check and no output is written.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether a stop was requested.
pub fn interrupted() -> bool {
    INTERRUPTED.load(AtomicOrdering::Relaxed)
}

use crate::metrics::Recorder;
use crate::platform::{Bill, Platform};
use crate::time::{SimDuration, SimTime};
use crate::workload::Request;

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

/// What a platform handler sees: the clock, the queue and the recorder.
pub struct Sim<E> {
    now: SimTime,
    queue: EventQueue<E>,
    /// Counters, histograms and time series of this run.
    pub rec: Recorder,
}

impl<E> Sim<E> {
    /// The current simulation time.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at `at`, which must not be in the past.
    #[inline]
    pub fn schedule(&mut self, at: SimTime, event: E) {
        debug_assert!(at >= self.now, "event scheduled in the past");
        self.queue.push(at.max(self.now), event);
    }
}

/// The clock settings of one run.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Arrivals happen in [0, horizon); the run stops at the horizon.
    pub horizon: SimTime,
    /// Width of a timeseries.csv row.
    pub interval: SimDuration,
}

/// Runs `platform` on `requests` until the horizon and returns the recorder and the bill.
pub fn run<P: Platform>(
    mut platform: P,
    mut requests: impl Iterator<Item = Request>,
    clock: Clock,
    rec: Recorder,
) -> (Recorder, Bill) {
    let mut sim = Sim {
        now: SimTime::ZERO,
        queue: EventQueue::default(),
        rec,
    };
    platform.start(&mut sim);
    let mut next_request = requests.next();
    let mut next_sample = SimTime::ZERO + clock.interval;
    let mut interval_start = SimTime::ZERO;
    let mut steps: u32 = 0;
    loop {
        steps = steps.wrapping_add(1);
        if steps & 0xFFFF == 0 && interrupted() {
            break;
        }
        let arrival_t = next_request.as_ref().map_or(SimTime::MAX, |r| r.arrival);
        let event_t = sim.queue.peek_time().unwrap_or(SimTime::MAX);
        let t = arrival_t.min(event_t);
        if t >= clock.horizon {
            break;
        }
        while next_sample <= t {
            sample(&mut platform, &mut sim, interval_start, next_sample);
            interval_start = next_sample;
            next_sample += clock.interval;
        }
        sim.now = t;
        if event_t <= arrival_t {
            let (_, event) = sim.queue.pop().expect("peeked");
            platform.on_event(event, &mut sim);
        } else {
            let req = std::mem::replace(&mut next_request, requests.next()).expect("peeked");
            platform.on_arrival(req, &mut sim);
        }
    }
    while interval_start < clock.horizon {
        let end = next_sample.min(clock.horizon);
        sample(&mut platform, &mut sim, interval_start, end);
        interval_start = end;
        next_sample = end + clock.interval;
    }
    sim.now = clock.horizon;
    let bill = platform.finish(&mut sim);
    sim.rec.finish(clock.horizon);
    (sim.rec, bill)
}

fn sample<P: Platform>(platform: &mut P, sim: &mut Sim<P::Event>, start: SimTime, end: SimTime) {
    let snap = platform.snapshot(end, sim);
    sim.rec.close_interval(start, snap);
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
}
