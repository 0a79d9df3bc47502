//! A pod (or an ECS task, or a Knative instance): `concurrency` service slots, then a FIFO queue of
//! `queue_capacity`. A request in service first computes, sharing the pod's
//! cores with the others computing (processor sharing, at most one core per
//! request, at most `cpu_limit` cores in all), then waits (downstream calls,
//! I/O) holding its slot but no CPU.
//!
//! Processor sharing is simulated with a virtual work clock `v` that advances
//! at the per-request service rate r(n) = min(1, cpu / n) (work-ns per ns):
//! a request entering service at virtual time v with work w finishes when the
//! clock reaches v + w, whatever happens to n meanwhile. Only the smallest
//! finish tag matters, so the next completion is one heap peek away, and a
//! change of n only reschedules that one event.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::time::{SimDuration, SimTime};
use crate::workload::Request;

/// A request in service: ordered by finish tag, then by arrival order.
#[derive(Debug, Clone, Copy)]
struct InService {
    /// Virtual finish time [work-ns]; non-negative, so its bits order like the value.
    tag: f64,
    req: Request,
    start: SimTime,
}

impl PartialEq for InService {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for InService {}
impl PartialOrd for InService {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InService {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key().cmp(&o.key())
    }
}
impl InService {
    fn key(&self) -> (u64, u64) {
        (self.tag.to_bits(), self.req.id)
    }
}

/// What happened to a request offered to a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Started,
    Queued,
    Full,
}

/// A request in its wait: ordered by the end of the wait, then arrival order.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    end: SimTime,
    req: Request,
    start: SimTime,
}

impl PartialEq for Waiting {
    fn eq(&self, o: &Self) -> bool {
        (self.end, self.req.id) == (o.end, o.req.id)
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Waiting {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.end, self.req.id).cmp(&(o.end, o.req.id))
    }
}

/// A request that left the pod.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    pub req: Request,
    pub start: SimTime,
}

/// The request-serving part of a pod.
#[derive(Debug, Clone)]
pub struct Server {
    /// Cores it may use: its CPU limit \[cores\].
    cpu: f64,
    /// The same \[millicores\].
    cpu_m: u64,
    slots: usize,
    queue_capacity: usize,
    v: f64,
    last: SimTime,
    /// Requests computing.
    in_service: BinaryHeap<Reverse<InService>>,
    /// Requests in their wait, holding a slot.
    waiting: BinaryHeap<Reverse<Waiting>>,
    queue: VecDeque<Request>,
    /// Bumped whenever the next completion moves; older timers are stale.
    pub epoch: u32,
}

impl Server {
    /// A server of `limit_m` millicores (the pod's CPU limit).
    pub fn new(limit_m: u64, slots: u32, queue_capacity: u32) -> Self {
        Server {
            cpu: limit_m as f64 / 1000.0,
            cpu_m: limit_m,
            slots: slots as usize,
            queue_capacity: queue_capacity as usize,
            v: 0.0,
            last: SimTime::ZERO,
            in_service: BinaryHeap::new(),
            waiting: BinaryHeap::new(),
            queue: VecDeque::new(),
            epoch: 0,
        }
    }

    /// (in service, queued, epoch): what a model compares after a change.
    #[inline]
    pub fn state(&self) -> (usize, usize, u32) {
        (self.busy(), self.queued(), self.epoch)
    }

    /// After a change since `before` (a [`Server::state`]): when its timer
    /// must fire, with the epoch that keeps it current, if the next
    /// completion moved.
    #[inline]
    pub fn timer_since(&self, before: (usize, usize, u32)) -> Option<(SimTime, u32)> {
        if self.epoch == before.2 {
            return None;
        }
        self.next_completion().map(|t| (t, self.epoch))
    }

    /// Requests in service (computing or waiting).
    pub fn busy(&self) -> usize {
        self.in_service.len() + self.waiting.len()
    }

    /// Requests computing.
    fn computing(&self) -> usize {
        self.in_service.len()
    }

    /// Requests waiting for a slot.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// In service plus queued.
    pub fn outstanding(&self) -> usize {
        self.busy() + self.queued()
    }

    /// Cores in use \[millicores\]: one per request computing, at most the limit.
    pub fn cpu_used_m(&self) -> u64 {
        (self.computing() as u64 * 1000).min(self.cpu_m)
    }

    /// Per-request service rate at `n` in service [work-ns per ns].
    fn rate(&self, n: usize) -> f64 {
        if n == 0 {
            0.0
        } else {
            (self.cpu / n as f64).min(1.0)
        }
    }

    fn advance(&mut self, now: SimTime) {
        let n = self.computing();
        if n > 0 {
            self.v += now.since(self.last).0 as f64 * self.rate(n);
        }
        self.last = now;
    }

    fn start(&mut self, req: Request, now: SimTime) {
        self.in_service.push(Reverse(InService {
            tag: self.v + req.cpu_on_full_core().0 as f64,
            req,
            start: now,
        }));
    }

    /// Offers `req` at `now`: into service, into the queue, or refused.
    pub fn offer(&mut self, req: Request, now: SimTime) -> Admission {
        if self.busy() < self.slots {
            self.advance(now);
            self.start(req, now);
            self.epoch = self.epoch.wrapping_add(1);
            Admission::Started
        } else if self.queue.len() < self.queue_capacity {
            self.queue.push_back(req);
            Admission::Queued
        } else {
            Admission::Full
        }
    }

    /// When the next request finishes computing or waiting, if any.
    #[inline]
    pub fn next_completion(&self) -> Option<SimTime> {
        let wait_end = self.waiting.peek().map(|Reverse(w)| w.end);
        let Some(Reverse(first)) = self.in_service.peek() else {
            return wait_end;
        };
        let n = self.in_service.len();
        let rate = self.rate(n);
        let remaining = (first.tag - self.v).max(0.0) / rate;
        // Round up to the next nanosecond (without a libm call).
        let whole = remaining as u64;
        let ns = whole.saturating_add(u64::from((whole as f64) < remaining));
        let cpu_end = self.last + SimDuration(ns);
        Some(match wait_end {
            Some(w) if w < cpu_end => w,
            _ => cpu_end,
        })
    }

    /// Completes, at `now`, every request whose work is done (pushing them to
    /// `done`), and starts queued requests in the freed slots.
    pub fn complete(&mut self, now: SimTime, done: &mut Vec<Done>) {
        self.advance(now);
        // The completion time was rounded up to the next nanosecond, so the
        // clock is at or past the tag but for float rounding (a few ulps of
        // v): allow a thousandth of a nanosecond plus 1e-12 of v.
        let eps = 1e-3 + 1e-12 * self.v;
        while let Some(Reverse(first)) = self.in_service.peek() {
            if first.tag > self.v + eps {
                break;
            }
            let Reverse(f) = self.in_service.pop().expect("peeked");
            if f.req.wait == SimDuration::ZERO {
                done.push(Done {
                    req: f.req,
                    start: f.start,
                });
            } else {
                self.waiting.push(Reverse(Waiting {
                    end: now + f.req.wait,
                    req: f.req,
                    start: f.start,
                }));
            }
        }
        while let Some(Reverse(w)) = self.waiting.peek() {
            if w.end > now {
                break;
            }
            let Reverse(w) = self.waiting.pop().expect("peeked");
            done.push(Done {
                req: w.req,
                start: w.start,
            });
        }
        while self.busy() < self.slots {
            let Some(req) = self.queue.pop_front() else {
                break;
            };
            self.start(req, now);
        }
        if self.in_service.is_empty() {
            // Idle: restart the virtual clock so it never loses precision.
            self.v = 0.0;
        }
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// Everything still held, for the horizon: (request, service start if any).
    pub fn held(&self) -> impl Iterator<Item = (Request, Option<SimTime>)> + '_ {
        self.in_service
            .iter()
            .map(|Reverse(s)| (s.req, Some(s.start)))
            .chain(self.waiting.iter().map(|Reverse(w)| (w.req, Some(w.start))))
            .chain(self.queue.iter().map(|r| (*r, None)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: u64, work_ms: u64) -> Request {
        Request {
            id,
            arrival: SimTime::ZERO,
            work: SimDuration::from_millis(work_ms),
            wait: SimDuration::ZERO,
            function: 0,
            basis: crate::workload::WorkBasis::FullVcpu,
        }
    }

    fn ms(x: u64) -> SimTime {
        SimTime(x * 1_000_000)
    }

    /// Drives the server to empty, returning (id, completion ms).
    fn drain(s: &mut Server) -> Vec<(u64, f64)> {
        let mut out = Vec::new();
        while let Some(t) = s.next_completion() {
            let mut done = Vec::new();
            s.complete(t, &mut done);
            out.extend(done.iter().map(|d| (d.req.id, t.0 as f64 / 1e6)));
        }
        out
    }

    #[test]
    fn one_core_shared_by_two_requests_halves_their_speed() {
        let mut s = Server::new(1000, 4, 0);
        s.offer(req(0, 100), ms(0));
        s.offer(req(1, 100), ms(0));
        // Both at half speed: both done at 200 ms.
        let done = drain(&mut s);
        assert_eq!(done.len(), 2);
        assert!(done.iter().all(|&(_, t)| (t - 200.0).abs() < 1e-3));
    }

    #[test]
    fn enough_cores_run_each_request_at_full_speed() {
        let mut s = Server::new(2000, 4, 0);
        s.offer(req(0, 100), ms(0));
        s.offer(req(1, 300), ms(0));
        assert_eq!(s.cpu_used_m(), 2000);
        let done = drain(&mut s);
        assert!((done[0].1 - 100.0).abs() < 1e-3 && (done[1].1 - 300.0).abs() < 1e-3);
    }

    #[test]
    fn processor_sharing_speeds_up_when_a_request_leaves() {
        // 1 core: A (100 ms) and B (300 ms) share it: A done at 200 ms having
        // had half a core; B has 200 ms of work left, alone: done at 400 ms.
        let mut s = Server::new(1000, 4, 0);
        s.offer(req(0, 100), ms(0));
        s.offer(req(1, 300), ms(0));
        let done = drain(&mut s);
        assert!((done[0].1 - 200.0).abs() < 1e-3, "{done:?}");
        assert!((done[1].1 - 400.0).abs() < 1e-3, "{done:?}");
    }

    #[test]
    fn slots_then_queue_then_full() {
        let mut s = Server::new(1000, 1, 1);
        assert_eq!(s.offer(req(0, 100), ms(0)), Admission::Started);
        assert_eq!(s.offer(req(1, 100), ms(0)), Admission::Queued);
        assert_eq!(s.offer(req(2, 100), ms(0)), Admission::Full);
        // FIFO: the queued one starts when the first finishes.
        let done = drain(&mut s);
        assert_eq!(done, vec![(0, 100.0), (1, 200.0)]);
    }
}
