//! The `Platform` trait that every model (Lambda, Kubernetes) implements.
//!
//! A platform receives the shared request stream one arrival at a time, owns
//! its own closed set of events, and reports outcomes to the run's
//! [`Recorder`](crate::metrics::Recorder). The engine is generic over it, so
//! the hot loop is monomorphised per model.

pub mod lambda;

use crate::cost::Cost;
use crate::engine::Sim;
use crate::metrics::Snapshot;
use crate::time::SimTime;
use crate::workload::Request;

/// A platform's bill for the measurement window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bill {
    /// The bill for the measured usage, broken down.
    pub cost: Cost,
    /// The same usage rate over a 30-day month, priced as a month [USD].
    pub per_month_usd: f64,
}

/// A model of a serving platform.
pub trait Platform {
    /// The platform's own events (a closed enum).
    type Event;

    /// A request arrives at `sim.now()`.
    fn on_arrival(&mut self, req: Request, sim: &mut Sim<Self::Event>);

    /// One of the platform's events fires at `sim.now()`.
    fn on_event(&mut self, event: Self::Event, sim: &mut Sim<Self::Event>);

    /// The state at a time-series boundary `at` (no event at `at` has run yet).
    fn snapshot(&mut self, at: SimTime, sim: &mut Sim<Self::Event>) -> Snapshot;

    /// At the horizon: records every request still held as in flight and returns the bill.
    fn finish(self, sim: &mut Sim<Self::Event>) -> Bill;
}
