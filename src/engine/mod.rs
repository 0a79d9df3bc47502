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

    /// Whether the loop should read [`READ_AHEAD`] arrivals further ahead
    /// and show them to [`Model::prefetch`] (asked once, before
    /// [`Model::start`]). Reading ahead costs some instructions per request,
    /// so a model asks only when its state for a request is spread over
    /// more memory than the cache holds. A model that keeps this default
    /// compiles without the look-ahead: the `false` is inlined into its loop.
    #[inline(always)]
    fn read_ahead(&self) -> bool {
        false
    }

    /// With [`Model::read_ahead`], called before each arrival with the
    /// [`READ_AHEAD`] requests that follow the next one (`ahead.get(0)`
    /// arrives two arrivals after this one): the model can ask for their
    /// state here ([`prefetch`]), so that it is in the cache by the time
    /// they arrive. A hint only: it changes no state.
    #[inline(always)]
    fn prefetch(&self, _ahead: &Upcoming) {}

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

/// How many arrivals the loop reads ahead for [`Model::prefetch`].
pub const READ_AHEAD: usize = 4;

/// Arrivals read ahead, oldest first: at most [`READ_AHEAD`] requests read
/// from the stream beyond the next arrival.
#[derive(Debug, Clone, Copy)]
pub struct Upcoming {
    ring: [Request; READ_AHEAD],
    head: usize,
    len: usize,
}

impl Upcoming {
    fn new() -> Self {
        Upcoming {
            ring: [Request::default(); READ_AHEAD],
            head: 0,
            len: 0,
        }
    }

    /// The `k`-th request held (0: the oldest), if there is one.
    #[inline(always)]
    pub fn get(&self, k: usize) -> Option<&Request> {
        (k < self.len).then(|| &self.ring[(self.head + k) % READ_AHEAD])
    }

    #[inline(always)]
    fn push(&mut self, req: Request) {
        debug_assert!(self.len < READ_AHEAD);
        self.ring[(self.head + self.len) % READ_AHEAD] = req;
        self.len += 1;
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<Request> {
        (self.len > 0).then(|| {
            let req = self.ring[self.head];
            self.head = (self.head + 1) % READ_AHEAD;
            self.len -= 1;
            req
        })
    }
}

/// The request stream, read [`READ_AHEAD`] requests further than the loop
/// has taken when `on` (the loop holds the next arrival itself, so
/// `ahead.get(0)` is the one after it); a plain pass-through otherwise,
/// at the cost of one predictable branch per request. It reads no further
/// than the first request at or past the horizon, as the loop without it
/// does: a trace whose rows past the horizon are bad (out of order, or the
/// file changed) fails or not the same way with it.
struct Lookahead<I> {
    requests: I,
    ahead: Upcoming,
    /// The stream may hold more (an ended one is not asked again) and the
    /// last request read was before the horizon.
    more: bool,
    on: bool,
    horizon: SimTime,
}

impl<I: Iterator<Item = Request>> Lookahead<I> {
    fn new(requests: I, on: bool, horizon: SimTime) -> Self {
        let mut l = Lookahead {
            requests,
            ahead: Upcoming::new(),
            more: true,
            on,
            horizon,
        };
        if on {
            l.fill();
        }
        l
    }

    #[inline(always)]
    fn fill(&mut self) {
        while self.more && self.ahead.len < READ_AHEAD {
            match self.requests.next() {
                Some(req) => {
                    self.more = req.arrival < self.horizon;
                    self.ahead.push(req);
                }
                None => self.more = false,
            }
        }
    }

    #[inline(always)]
    fn next(&mut self) -> Option<Request> {
        if !self.on {
            return self.requests.next();
        }
        let req = self.ahead.pop();
        self.fill();
        req
    }
}

/// The cache line size assumed by [`prefetch`] (x86-64's, and most
/// others').
const LINE: usize = 64;

/// Asks the processor to bring in every cache line `r` spans, without
/// waiting for them: a hint, which changes no value. An element that does
/// not start on a line boundary can reach into one line more than its size
/// suggests; one no larger than its alignment (nor a line) cannot, and
/// costs a single hint.
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    let start = std::ptr::from_ref(r).cast::<u8>();
    let (size, align) = (std::mem::size_of::<T>(), std::mem::align_of::<T>());
    if size <= align && size <= LINE {
        prefetch_line(start);
        return;
    }
    let (first, lines) = lines_of(start.addr(), size);
    let line = start.wrapping_sub(start.addr() - first);
    for k in 0..lines {
        prefetch_line(line.wrapping_add(k * LINE));
    }
}

/// The first cache line (its address) and the number of lines that `size`
/// bytes from `addr` touch (one at least).
#[inline(always)]
fn lines_of(addr: usize, size: usize) -> (usize, usize) {
    let first = addr - addr % LINE;
    let end = addr + size.max(1);
    (first, (end - first).div_ceil(LINE))
}

#[inline(always)]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 only hints the cache; it reads no value and cannot
    // fault, whatever the address (Intel SDM, PREFETCHh).
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
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
    requests: impl Iterator<Item = Request>,
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
    // Constant false for a model that never reads ahead, so that its loop
    // compiles as if there were no look-ahead at all.
    let mut requests = Lookahead::new(requests, platform.read_ahead(), clock.horizon);
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
            if requests.on {
                platform.prefetch(&requests.ahead);
            }
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

    /// A model that records every arrival and what the loop showed it ahead.
    #[derive(Default)]
    struct Log {
        read_ahead: bool,
        arrived: Vec<u64>,
        ahead: Vec<Vec<u64>>,
    }

    impl Model for Log {
        type Event = ();
        fn read_ahead(&self) -> bool {
            self.read_ahead
        }
        fn prefetch(&self, ahead: &Upcoming) {
            let ids = (0..READ_AHEAD + 1)
                .filter_map(|k| ahead.get(k))
                .map(|r| r.id);
            // `prefetch` takes `&self`: the test smuggles the view out through
            // a thread-local instead.
            AHEAD.with(|a| a.borrow_mut().push(ids.collect()));
        }
        fn on_arrival(&mut self, req: Request, _: &mut Ctx<()>) {
            self.arrived.push(req.id);
            self.ahead
                .push(AHEAD.with(|a| a.borrow_mut().pop()).unwrap_or_default());
        }
        fn on_event(&mut self, _: (), _: &mut Ctx<()>) {}
        fn gauges(&mut self, _: SimTime, _: &mut Ctx<()>) -> Gauges {
            Gauges::default()
        }
        fn finish(self, _: &mut Ctx<()>) -> Bill {
            LOGGED.with(|l| *l.borrow_mut() = (self.arrived, self.ahead));
            Bill::default()
        }
    }

    thread_local! {
        static AHEAD: std::cell::RefCell<Vec<Vec<u64>>> = const { std::cell::RefCell::new(Vec::new()) };
        static LOGGED: std::cell::RefCell<(Vec<u64>, Vec<Vec<u64>>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
    }

    /// Every request reaches the model once, in order, whatever the length
    /// of the stream against the read-ahead, and (when the model asks)
    /// before each arrival the model is shown exactly the requests that
    /// follow the next one, up to [`READ_AHEAD`]. Requests at or past the
    /// horizon are never handed over, and none is read after the first of
    /// them.
    #[test]
    fn every_request_arrives_once_in_order_with_the_following_ones_ahead() {
        let clock = Clock {
            horizon: SimTime::from_secs_f64(100.0),
            interval: SimDuration::from_secs(10),
        };
        for read_ahead in [false, true] {
            for n in 0..12u64 {
                for (past_horizon, past_at) in [(0u64, 200.0), (1, 200.0), (5, 200.0), (3, 100.0)] {
                    let reqs: Vec<Request> = (0..n + past_horizon)
                        .map(|id| Request {
                            id,
                            arrival: SimTime::from_secs_f64(if id < n {
                                id as f64
                            } else {
                                past_at
                            }),
                            ..Request::default()
                        })
                        .collect();
                    let rec = Recorder::new(SimTime::ZERO, clock.horizon, None);
                    let model = Log {
                        read_ahead,
                        ..Log::default()
                    };
                    let read = std::cell::Cell::new(0u64);
                    let stream = reqs.into_iter().inspect(|_| read.set(read.get() + 1));
                    run(model, stream, clock, rec, &CancelToken::never()).unwrap();
                    let (arrived, ahead) = LOGGED.with(|l| std::mem::take(&mut *l.borrow_mut()));
                    assert_eq!(arrived, (0..n).collect::<Vec<_>>(), "{n} requests");
                    // Read up to the first request at or past the horizon, never further.
                    let total = n + past_horizon.min(1);
                    assert_eq!(read.get(), total, "{n} requests, read-ahead {read_ahead}");
                    for (i, seen) in ahead.iter().enumerate() {
                        let i = i as u64;
                        let want: Vec<u64> = if read_ahead {
                            (i + 2..total).take(READ_AHEAD).collect()
                        } else {
                            Vec::new()
                        };
                        assert_eq!(seen, &want, "ahead of request {i} of {total}");
                    }
                }
            }
        }
    }

    /// An element that straddles a line boundary is two lines, one that
    /// fits in a line is one, and a zero-sized one still names its line.
    #[test]
    fn an_element_touches_every_line_between_its_first_and_last_byte() {
        assert_eq!(lines_of(0, 64), (0, 1));
        assert_eq!(lines_of(0, 65), (0, 2));
        assert_eq!(lines_of(48, 48), (0, 2));
        assert_eq!(lines_of(64 + 16, 48), (64, 1));
        assert_eq!(lines_of(128 + 48, 176), (128, 4));
        assert_eq!(lines_of(63, 2), (0, 2));
        assert_eq!(lines_of(200, 0), (192, 1));
        // Every size and skew against a count of the lines byte by byte.
        for addr in 1000..1128 {
            for size in 1..300 {
                let mut lines: Vec<usize> = (addr..addr + size).map(|b| b / LINE).collect();
                lines.dedup();
                assert_eq!(
                    lines_of(addr, size),
                    (lines[0] * LINE, lines.len()),
                    "{addr} {size}"
                );
            }
        }
    }

    /// The ring keeps first-in first-out order across wrap-arounds.
    #[test]
    fn upcoming_is_a_fifo_of_at_most_read_ahead() {
        let mut model = std::collections::VecDeque::new();
        let mut ring = Upcoming::new();
        let mut next = 0u64;
        // Pushes and pops in a pattern that wraps the ring many times.
        for step in 0..200u64 {
            if step % 3 != 2 && ring.len < READ_AHEAD {
                ring.push(Request {
                    id: next,
                    ..Request::default()
                });
                model.push_back(next);
                next += 1;
            } else {
                assert_eq!(ring.pop().map(|r| r.id), model.pop_front());
            }
            assert_eq!(ring.len, model.len());
            for k in 0..READ_AHEAD + 1 {
                assert_eq!(ring.get(k).map(|r| r.id), model.get(k).copied());
            }
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
