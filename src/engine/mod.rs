//! The event loop: a (time, sequence) queue merged with the arrival stream,
//! and the [`Model`] trait that every platform implements.
//!
//! Events are ordered by time and, at equal times, by the order in which they
//! were scheduled (a sequence number), so simultaneous events run first-in
//! first-out and a run is totally ordered whatever the platform does. The
//! arrival stream is never pushed into the heap: the loop compares its head
//! with the queue's head and takes the earlier, events first at equal times (a
//! request finishing at t frees its instance for an arrival at t). The heap
//! therefore holds only in-progress work, a few entries per busy instance.
//!
//! The loop is generic over [`Model`], so each platform's handlers are
//! monomorphised into it. The engine knows no platform by name.

mod cancel;
mod queue;

pub use cancel::{CancelToken, Cancelled};
pub use queue::EventQueue;

use crate::cost::Bill;
use crate::metrics::{Gauges, Recorder};
use crate::time::{SimDuration, SimTime};
use crate::workload::Request;

/// A model of a serving platform, as the event loop sees it.
///
/// A model receives the shared request stream one arrival at a time, owns
/// its own closed set of events, reports outcomes to the run's [`Recorder`]
/// through the [`Ctx`], and produces its bill at the horizon.
pub trait Model {
    /// The model's own events (a closed enum).
    type Event: Copy;

    /// Sets up the state at t = 0 and schedules the first periodic events.
    fn start(&mut self, _cx: &mut Ctx<Self::Event>) {}

    /// A request arrives at `cx.now()`.
    fn on_arrival(&mut self, req: Request, cx: &mut Ctx<Self::Event>);

    /// One of the model's events fires at `cx.now()`.
    fn on_event(&mut self, event: Self::Event, cx: &mut Ctx<Self::Event>);

    /// The gauges at a time-series boundary `at` (no event at `at` has run yet).
    fn gauges(&mut self, at: SimTime, cx: &mut Ctx<Self::Event>) -> Gauges;

    /// At the horizon: records every request still held as in flight and returns the bill.
    fn finish(self, cx: &mut Ctx<Self::Event>) -> Bill;
}

/// What a model's handlers see: the clock, the event queue and the recorder.
pub struct Ctx<E> {
    now: SimTime,
    queue: EventQueue<E>,
    /// Counters, histograms and time series of this run.
    pub rec: Recorder,
}

impl<E: Copy> Ctx<E> {
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

/// Steps between two looks at the cancel token (a few ms of simulation).
const CANCEL_EVERY: u32 = 1 << 16;

/// Runs `model` on `requests` until the horizon and returns the recorder and
/// the bill, or `Err(Cancelled)` soon after `cancel` is set.
pub fn run<M: Model>(
    mut platform: M,
    mut requests: impl Iterator<Item = Request>,
    clock: Clock,
    rec: Recorder,
    cancel: &CancelToken,
) -> Result<(Recorder, Bill), Cancelled> {
    let mut cx = Ctx {
        now: SimTime::ZERO,
        queue: EventQueue::default(),
        rec,
    };
    platform.start(&mut cx);
    let mut next_request = requests.next();
    let mut next_sample = SimTime::ZERO + clock.interval;
    let mut interval_start = SimTime::ZERO;
    let mut steps: u32 = 0;
    loop {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(CANCEL_EVERY) {
            cancel.check_at(cx.now)?;
        }
        let arrival_t = next_request.as_ref().map_or(SimTime::MAX, |r| r.arrival);
        let event_t = cx.queue.peek_time().unwrap_or(SimTime::MAX);
        let t = arrival_t.min(event_t);
        if t >= clock.horizon {
            break;
        }
        while next_sample <= t {
            // A long quiet stretch can close millions of intervals at once.
            steps = steps.wrapping_add(1);
            if steps.is_multiple_of(CANCEL_EVERY) {
                cancel.check_at(next_sample)?;
            }
            sample(&mut platform, &mut cx, interval_start, next_sample);
            interval_start = next_sample;
            next_sample += clock.interval;
        }
        cx.now = t;
        if event_t <= arrival_t {
            let (_, event) = cx.queue.pop().expect("peeked");
            platform.on_event(event, &mut cx);
        } else {
            let req = std::mem::replace(&mut next_request, requests.next()).expect("peeked");
            platform.on_arrival(req, &mut cx);
        }
    }
    while interval_start < clock.horizon {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(CANCEL_EVERY) {
            cancel.check_at(interval_start)?;
        }
        let end = next_sample.min(clock.horizon);
        sample(&mut platform, &mut cx, interval_start, end);
        interval_start = end;
        next_sample = end + clock.interval;
    }
    cx.now = clock.horizon;
    let bill = platform.finish(&mut cx);
    cx.rec.finish(clock.horizon);
    Ok((cx.rec, bill))
}

fn sample<M: Model>(platform: &mut M, cx: &mut Ctx<M::Event>, start: SimTime, end: SimTime) {
    let gauges = platform.gauges(end, cx);
    cx.rec.close_interval(start, gauges);
}
