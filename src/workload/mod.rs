//! Workloads: the request stream every platform of a scenario replays.
//!
//! Each function has its own arrival process, work distribution and optional
//! wait distribution, drawn from its own named streams
//! (`workload/arrival/<fn>`, `workload/work/<fn>`, `workload/wait/<fn>`) that
//! depend only on the scenario seed and the replication. The functions'
//! arrivals are merged in time order (ties by function index) and never all
//! held in memory: the stream is pulled one request at a time.

pub mod arrival;
pub mod dist;
pub mod traces;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::rng::{SimRng, stream};
use crate::time::{SimDuration, SimTime};
use arrival::{ArrivalGen, ArrivalProcess};
use dist::Dist;

/// Lambda memory with the equivalent of one full vCPU \[MB\] (AWS Lambda
/// developer guide, 'Configuring Lambda function memory': "At 1,769 MB, a
/// function has the equivalent of one vCPU"). A recorded duration's CPU part
/// is converted through it.
pub const MB_PER_VCPU: u32 = 1769;

/// What a request's `work` is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkBasis {
    /// CPU time on one full vCPU (synthetic work, and traces' `work` fallbacks).
    #[default]
    FullVcpu,
    /// CPU part of a recorded duration, recorded at this Lambda memory \[MB\]:
    /// CPU time at a vCPU share of min(1, memory / 1,769).
    RecordedAt(u16),
    /// CPU part of a recorded duration with no recorded memory: a Lambda
    /// replays it unchanged at any memory; a container runs it on one core.
    Wall,
}

/// One request as every platform sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request {
    /// Position in the arrival stream (0, 1, 2, ...).
    pub id: u64,
    pub arrival: SimTime,
    /// CPU work, in the units `basis` says; it runs first.
    pub work: SimDuration,
    /// Waiting after the CPU work (downstream calls, I/O): the request holds
    /// its slot but uses no CPU.
    pub wait: SimDuration,
    /// Index into the workload's functions.
    pub function: u32,
    pub basis: WorkBasis,
}

impl Request {
    /// Its CPU work as CPU time on one full core (container platforms),
    /// rounded up to the nanosecond.
    #[inline]
    pub fn cpu_on_full_core(&self) -> SimDuration {
        match self.basis {
            WorkBasis::FullVcpu | WorkBasis::Wall => self.work,
            WorkBasis::RecordedAt(mb) => {
                scale(self.work, u32::from(mb).min(MB_PER_VCPU), MB_PER_VCPU)
            }
        }
    }
}

/// `d` x `num` / `den`, rounded up to the nanosecond, in exact integers.
#[inline]
pub fn scale(d: SimDuration, num: u32, den: u32) -> SimDuration {
    if num == den {
        return d;
    }
    let ns = (u128::from(d.0) * u128::from(num)).div_ceil(u128::from(den));
    SimDuration(ns.min(u128::from(u64::MAX)) as u64)
}

/// One function of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    pub arrival: ArrivalProcess,
    pub work: Dist,
    /// Waiting after the work; none when `None`.
    pub wait: Option<Dist>,
    /// Lambda memory given by a trace for this function \[MB\].
    pub memory_mb: Option<u32>,
    /// Its application, for `deployment_by = "app"`: Azure's `HashApp`, the
    /// `app` of an `app/func` name, else the function's own name.
    pub app: String,
}

/// The validated workload of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub functions: Vec<Function>,
    /// Trace replay, when the arrivals come from one.
    pub trace: Option<std::sync::Arc<traces::Trace>>,
}

/// The request stream of a run: synthetic or replayed.
pub enum Requests {
    Synthetic(RequestStream),
    Trace(Box<traces::TraceStream>),
    /// Requests given in arrival order (tests, tools).
    List(std::vec::IntoIter<Request>),
}

impl Requests {
    /// Ends a replay soon after `cancel` is set (its rows can be slow to
    /// parse); synthetic streams are cheap enough for the event loop's own
    /// checkpoints.
    pub fn watch(&mut self, cancel: &crate::engine::CancelToken) {
        if let Requests::Trace(t) = self {
            t.watch(cancel);
        }
    }

    /// Where a replay leaves a read error (none for synthetic streams).
    pub fn fault(&self) -> Option<traces::replay::Fault> {
        match self {
            Requests::Trace(t) => Some(t.fault()),
            _ => None,
        }
    }
}

impl Iterator for Requests {
    type Item = Request;

    #[inline]
    fn next(&mut self) -> Option<Request> {
        match self {
            Requests::Synthetic(s) => s.next(),
            Requests::Trace(t) => t.next(),
            Requests::List(l) => l.next(),
        }
    }
}

impl Workload {
    /// The functions' names, in order (shared by the runs' request logs).
    pub fn function_names(&self) -> std::sync::Arc<[String]> {
        self.functions.iter().map(|f| f.name.clone()).collect()
    }

    /// The request stream of replication `replication`, arrivals in [0, horizon).
    pub fn requests(&self, seed: u64, replication: u32, horizon: SimTime) -> Requests {
        if let Some(trace) = &self.trace {
            let work = self
                .functions
                .iter()
                .map(|f| Sampler::new(f, seed, replication))
                .collect();
            return Requests::Trace(Box::new(traces::TraceStream::new(
                trace.clone(),
                work,
                seed,
                replication,
            )));
        }
        Requests::Synthetic(self.synthetic(seed, replication, horizon))
    }

    fn synthetic(&self, seed: u64, replication: u32, horizon: SimTime) -> RequestStream {
        let sources: Vec<Source> = self
            .functions
            .iter()
            .map(|f| Source {
                arrivals: ArrivalGen::new(
                    f.arrival.clone(),
                    stream(seed, replication, &format!("workload/arrival/{}", f.name)),
                    horizon,
                ),
                sampler: Sampler::new(f, seed, replication),
            })
            .collect();
        RequestStream::new(sources)
    }

    /// Expected number of requests in [0, horizon) over all functions.
    pub fn expected_requests(&self, horizon: SimTime) -> f64 {
        if let Some(t) = &self.trace {
            return t.rows as f64 * t.rate_scale;
        }
        self.functions
            .iter()
            .map(|f| f.arrival.expected_count(horizon.as_secs_f64()))
            .sum()
    }
}

/// Draws a function's work and wait from their own streams.
pub struct Sampler {
    work: Dist,
    work_rng: SimRng,
    /// The wait distribution and its stream; none draws nothing.
    wait: Option<(Dist, SimRng)>,
}

impl Sampler {
    /// The sampler of function `f` in replication `replication`.
    pub fn new(f: &Function, seed: u64, replication: u32) -> Self {
        Sampler {
            work: f.work.clone(),
            work_rng: stream(seed, replication, &format!("workload/work/{}", f.name)),
            wait: f.wait.clone().map(|d| {
                let rng = stream(seed, replication, &format!("workload/wait/{}", f.name));
                (d, rng)
            }),
        }
    }

    /// The next work.
    #[inline]
    pub fn work(&mut self) -> SimDuration {
        self.work.sample(&mut self.work_rng)
    }

    /// The next wait (zero without a wait distribution).
    #[inline]
    pub fn wait(&mut self) -> SimDuration {
        match &mut self.wait {
            Some((d, rng)) => d.sample(rng),
            None => SimDuration::ZERO,
        }
    }
}

struct Source {
    arrivals: ArrivalGen,
    sampler: Sampler,
}

/// Requests in arrival order, generated lazily.
pub struct RequestStream {
    sources: Vec<Source>,
    /// Next arrival of each source: (time, function index), when there are several.
    heads: BinaryHeap<Reverse<(SimTime, u32)>>,
    /// Next arrival of the only source, when there is one.
    single_head: Option<SimTime>,
    next_id: u64,
}

impl RequestStream {
    fn new(mut sources: Vec<Source>) -> Self {
        let (heads, single_head) = match sources.as_mut_slice() {
            [only] => (BinaryHeap::new(), only.arrivals.next()),
            _ => (
                sources
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(i, s)| s.arrivals.next().map(|t| Reverse((t, i as u32))))
                    .collect(),
                None,
            ),
        };
        RequestStream {
            sources,
            heads,
            single_head,
            next_id: 0,
        }
    }
}

impl RequestStream {
    /// The next request of the only source (no merge needed).
    #[inline]
    fn next_single(&mut self) -> Option<Request> {
        let src = &mut self.sources[0];
        let arrival = self.single_head?;
        let (work, wait) = (src.sampler.work(), src.sampler.wait());
        self.single_head = src.arrivals.next();
        Some(self.emit(arrival, 0, work, wait))
    }

    /// The earliest request of several sources (ties by function index).
    #[inline]
    fn next_merged(&mut self) -> Option<Request> {
        let mut head = self.heads.peek_mut()?;
        let Reverse((arrival, function)) = *head;
        let src = &mut self.sources[function as usize];
        let (work, wait) = (src.sampler.work(), src.sampler.wait());
        match src.arrivals.next() {
            Some(t) => {
                *head = Reverse((t, function));
                drop(head);
            }
            None => {
                std::collections::binary_heap::PeekMut::pop(head);
            }
        }
        Some(self.emit(arrival, function, work, wait))
    }

    #[inline]
    fn emit(
        &mut self,
        arrival: SimTime,
        function: u32,
        work: SimDuration,
        wait: SimDuration,
    ) -> Request {
        let id = self.next_id;
        self.next_id += 1;
        Request {
            id,
            arrival,
            work,
            wait,
            function,
            basis: WorkBasis::FullVcpu,
        }
    }
}

impl Iterator for RequestStream {
    type Item = Request;

    #[inline]
    fn next(&mut self) -> Option<Request> {
        if self.sources.len() == 1 {
            self.next_single()
        } else {
            self.next_merged()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str, rate: f64, work_ms: u64) -> Function {
        Function {
            name: name.into(),
            arrival: ArrivalProcess::Poisson { rate },
            work: Dist::Constant(SimDuration::from_millis(work_ms)),
            wait: None,
            memory_mb: None,
            app: name.to_string(),
        }
    }

    #[test]
    fn functions_merge_in_time_order_with_their_own_work() {
        let w = Workload {
            functions: vec![function("a", 50.0, 10), function("b", 20.0, 30)],
            trace: None,
        };
        let reqs: Vec<Request> = w.requests(9, 0, SimTime::from_secs_f64(100.0)).collect();
        assert!(reqs.windows(2).all(|p| p[0].arrival <= p[1].arrival));
        assert!(reqs.iter().enumerate().all(|(i, r)| r.id == i as u64));
        for r in &reqs {
            let expect = if r.function == 0 { 10 } else { 30 };
            assert_eq!(r.work, SimDuration::from_millis(expect));
        }
        let b = reqs.iter().filter(|r| r.function == 1).count();
        assert!(b > 1500 && b < 2500, "{b}");
    }

    #[test]
    fn a_function_arrivals_do_not_depend_on_the_others() {
        let alone = Workload {
            functions: vec![function("a", 50.0, 10)],
            trace: None,
        };
        let both = Workload {
            functions: vec![function("a", 50.0, 10), function("b", 20.0, 30)],
            trace: None,
        };
        let h = SimTime::from_secs_f64(50.0);
        let a1: Vec<SimTime> = alone.requests(1, 0, h).map(|r| r.arrival).collect();
        let a2: Vec<SimTime> = both
            .requests(1, 0, h)
            .filter(|r| r.function == 0)
            .map(|r| r.arrival)
            .collect();
        assert_eq!(a1, a2);
    }
}
