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

/// The same while closing intervals, each about a microsecond (the gauges,
/// the row written): 65,536 of them left a stop waiting over 100 ms.
const CANCEL_EVERY_SAMPLE: u32 = 1 << 12;

/// Events at one instant past which a run is stalled, not busy: 2^30, tens
/// of seconds of events at the tens of millions per second the models run;
/// a legitimate burst takes a few events per request at that instant. Checked at the cancel checkpoints, so it costs nothing per
/// event.
pub const STALL_EVENTS: u64 = 1 << 30;

/// Runs `model` on `requests` until the horizon and returns the recorder and
/// the bill; `Err(Cancelled::Asked)` soon after `cancel` is set, or
/// `Err(Cancelled::Stalled)` once [`STALL_EVENTS`] events pass without the
/// clock advancing.
pub fn run<M: Model>(
    platform: M,
    requests: impl Iterator<Item = Request>,
    clock: Clock,
    rec: Recorder,
    cancel: &CancelToken,
) -> Result<(Recorder, Bill), Cancelled> {
    run_checked(platform, requests, clock, rec, cancel, STALL_EVENTS)
}

/// [`run`] with the stall limit given (tests use a small one).
fn run_checked<M: Model>(
    mut platform: M,
    mut requests: impl Iterator<Item = Request>,
    clock: Clock,
    rec: Recorder,
    cancel: &CancelToken,
    stall_events: u64,
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
    // The clock at the last checkpoint, and checkpoints since it moved.
    let (mut checkpoint_t, mut still) = (SimTime::ZERO, 0u64);
    loop {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(CANCEL_EVERY) {
            checkpoint(cancel, &cx.rec, cx.now)?;
            if cx.now == checkpoint_t {
                still += 1;
                if still * u64::from(CANCEL_EVERY) > stall_events {
                    return Err(Cancelled::Stalled { at: cx.now });
                }
            } else {
                (checkpoint_t, still) = (cx.now, 0);
            }
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
            if steps.is_multiple_of(CANCEL_EVERY_SAMPLE) {
                checkpoint(cancel, &cx.rec, next_sample)?;
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
        if steps.is_multiple_of(CANCEL_EVERY_SAMPLE) {
            checkpoint(cancel, &cx.rec, interval_start)?;
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

/// The checkpoint every [`CANCEL_EVERY`] steps: a stop asked for, or an
/// output that can no longer be written, ends the run.
fn checkpoint(cancel: &CancelToken, rec: &Recorder, now: SimTime) -> Result<(), Cancelled> {
    cancel.check_at(now)?;
    if rec.output_failed() {
        return Err(Cancelled::Output);
    }
    Ok(())
}

fn sample<M: Model>(platform: &mut M, cx: &mut Ctx<M::Event>, start: SimTime, end: SimTime) {
    let gauges = platform.gauges(end, cx);
    cx.rec.close_interval(start, gauges);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model that reschedules one event at "now" for ever (the live-lock
    /// issue 21 found: a completion rescheduled at the current time).
    struct Spin;

    impl Model for Spin {
        type Event = ();
        fn start(&mut self, cx: &mut Ctx<()>) {
            cx.schedule(SimTime::from_secs_f64(5.0), ());
        }
        fn on_arrival(&mut self, _: Request, _: &mut Ctx<()>) {}
        fn on_event(&mut self, _: (), cx: &mut Ctx<()>) {
            let now = cx.now();
            cx.schedule(now, ());
        }
        fn gauges(&mut self, _: SimTime, _: &mut Ctx<()>) -> Gauges {
            Gauges::default()
        }
        fn finish(self, _: &mut Ctx<()>) -> Bill {
            Bill::default()
        }
    }

    #[test]
    fn a_clock_that_stops_advancing_fails_the_run_instead_of_spinning() {
        let clock = Clock {
            horizon: SimTime::from_secs_f64(10.0),
            interval: SimDuration::from_secs(1),
        };
        let rec = Recorder::new(SimTime::ZERO, clock.horizon, None);
        let got = run_checked(
            Spin,
            std::iter::empty(),
            clock,
            rec,
            &CancelToken::never(),
            1 << 22,
        );
        assert_eq!(
            got.err(),
            Some(Cancelled::Stalled {
                at: SimTime::from_secs_f64(5.0)
            })
        );
    }
}
