//! A fixed pool of servers (`kind = "fixed_pool"`): `servers` machines that
//! each serve one request at a time, at one full core (service time = the
//! request's CPU work plus its wait), in front of one FIFO queue of `queue_capacity`; a request
//! finding the queue full is rejected (503). No scaling, no cold starts.
//!
//! It is the classic M/G/c/K queue: a baseline fleet to set the autoscaled
//! platforms against, and the model the engine is checked on against
//! queueing theory (Erlang C). Cost: each server for the whole window at
//! `server_usd_per_hour` (a reserved or always-on fleet).

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Deserialize;

use crate::cost::{Bill, Cost, MONTH_S};
use crate::engine::{self, Cancelled, Ctx, Model};
use crate::error::{FieldError, FieldPath};
use crate::metrics::{Gauges, MAX_GAUGES, Outcome, Recorder};
use crate::platform::{Kind, Platform, PlatformSpec, RunInput, Setting, fields_of, read_spec};
use crate::time::SimTime;
use crate::workload::Request;

/// The registry entry of `kind = "fixed_pool"`.
pub const KIND: Kind = Kind {
    name: "fixed_pool",
    default_name: "fixed_pool",
    // Lambda's instance columns: a server is busy or idle.
    gauges: &["instances_busy", "instances_idle"],
    capacity: &["instances_busy", "instances_idle"],
    capacity_label: "servers",
    has_nodes: false,
    fields: fields_of::<FixedPoolSpec>,
    read: read_spec::<FixedPoolSpec>,
};

/// A `[[platforms]]` table of `kind = "fixed_pool"` (without `name` and `kind`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedPoolSpec {
    servers: Option<i64>,
    queue_capacity: Option<i64>,
    server_usd_per_hour: Option<f64>,
}

/// A validated fixed pool.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedPoolConfig {
    pub servers: u32,
    /// Requests that may wait for a server.
    pub queue_capacity: u32,
    /// Price of one server \[USD per hour\].
    pub server_usd_per_hour: f64,
}

impl FixedPoolSpec {
    /// Validates the pool at `path`.
    pub fn to_config(&self, path: &FieldPath) -> Result<FixedPoolConfig, FieldError> {
        Ok(FixedPoolConfig {
            servers: path.int_in("servers", self.servers.unwrap_or(1), 1, 100_000)?,
            queue_capacity: path.int_in(
                "queue_capacity",
                self.queue_capacity.unwrap_or(100_000),
                0,
                100_000_000,
            )?,
            server_usd_per_hour: path.num_in(
                "server_usd_per_hour",
                self.server_usd_per_hour.unwrap_or(0.0),
                0.0,
                1e6,
            )?,
        })
    }
}

impl PlatformSpec for FixedPoolSpec {
    fn validate(&self, s: &Setting) -> Result<Arc<dyn Platform>, FieldError> {
        Ok(Arc::new(self.to_config(s.path)?))
    }
}

impl Platform for FixedPoolConfig {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn simulate(&self, input: RunInput) -> Result<(Recorder, Bill), Cancelled> {
        let pool = FixedPool {
            cfg: self.clone(),
            busy: 0,
            queue: VecDeque::new(),
            servers: Vec::new(),
            free: Vec::new(),
        };
        engine::run(pool, input.requests, input.clock, input.rec, input.cancel)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Events of the pool.
#[derive(Debug, Clone, Copy)]
pub enum PoolEvent {
    /// Server `n` finished its request.
    Done(u32),
}

/// The pool during one run.
struct FixedPool {
    cfg: FixedPoolConfig,
    busy: u32,
    queue: VecDeque<Request>,
    /// Each server's request and its start, while it has one (servers are
    /// made as first needed).
    servers: Vec<Option<(Request, SimTime)>>,
    /// Idle servers.
    free: Vec<u32>,
}

impl FixedPool {
    /// Server `n` starts `req` now.
    fn serve(&mut self, n: u32, req: Request, now: SimTime, cx: &mut Ctx<PoolEvent>) {
        self.servers[n as usize] = Some((req, now));
        // One core per server: the CPU work, then the wait, holding it.
        cx.schedule(now + req.cpu_on_full_core() + req.wait, PoolEvent::Done(n));
    }
}

impl Model for FixedPool {
    type Event = PoolEvent;

    fn start(&mut self, cx: &mut Ctx<PoolEvent>) {
        cx.rec
            .instances
            .set(SimTime::ZERO, u64::from(self.cfg.servers));
    }

    fn on_arrival(&mut self, req: Request, cx: &mut Ctx<PoolEvent>) {
        let now = cx.now();
        cx.rec.arrived(&req);
        if self.busy < self.cfg.servers {
            self.busy += 1;
            cx.rec.in_service.set(now, u64::from(self.busy));
            let n = self.free.pop().unwrap_or_else(|| {
                self.servers.push(None);
                (self.servers.len() - 1) as u32
            });
            self.serve(n, req, now, cx);
        } else if self.queue.len() < self.cfg.queue_capacity as usize {
            self.queue.push_back(req);
        } else {
            cx.rec.outcome(&req, Outcome::Rejected, None, now, false);
        }
    }

    fn on_event(&mut self, event: PoolEvent, cx: &mut Ctx<PoolEvent>) {
        let PoolEvent::Done(n) = event;
        let now = cx.now();
        let Some((req, start)) = self.servers[n as usize].take() else {
            return;
        };
        cx.rec
            .outcome(&req, Outcome::Completed, Some(start), now, false);
        match self.queue.pop_front() {
            // The freed server takes the oldest waiting request.
            Some(next) => self.serve(n, next, now, cx),
            None => {
                self.free.push(n);
                self.busy -= 1;
                cx.rec.in_service.set(now, u64::from(self.busy));
            }
        }
    }

    fn gauges(&mut self, at: SimTime, _cx: &mut Ctx<PoolEvent>) -> Gauges {
        let mut values = [0; MAX_GAUGES];
        // In KIND.gauges order.
        values[..2].copy_from_slice(&[
            u64::from(self.busy),
            u64::from(self.cfg.servers - self.busy),
        ]);
        let hours = at.as_secs_f64() / 3600.0;
        Gauges {
            in_flight: u64::from(self.busy) + self.queue.len() as u64,
            queued: self.queue.len() as u64,
            values,
            cost_usd: f64::from(self.cfg.servers) * self.cfg.server_usd_per_hour * hours,
        }
    }

    fn finish(self, cx: &mut Ctx<PoolEvent>) -> Bill {
        let now = cx.now();
        let mut running: Vec<(Request, SimTime)> = self.servers.iter().flatten().copied().collect();
        running.sort_by_key(|(r, _)| r.id);
        for (req, start) in &running {
            cx.rec
                .outcome(req, Outcome::InFlight, Some(*start), now, false);
        }
        for req in &self.queue {
            cx.rec.outcome(req, Outcome::InFlight, None, now, false);
        }
        let (from, to) = cx.rec.window();
        let window_s = to.since(from).as_secs_f64();
        let compute =
            f64::from(self.cfg.servers) * self.cfg.server_usd_per_hour * window_s / 3600.0;
        let cost = Cost {
            compute,
            ..Cost::default()
        };
        Bill {
            cost,
            per_month_usd: compute * MONTH_S / window_s,
        }
    }
}
