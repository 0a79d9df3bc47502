//! Concurrency-scaled containers (`kind = "knative"`, README,
//! 'Concurrency-scaled containers'): Knative Serving's KPA on one's own
//! cluster, with Google Cloud Run and AWS App Runner as presets.
//!
//! An instance is the container model's [`Server`] (`container_concurrency`
//! slots, a queue, processor sharing over its vCPUs, the wait phase). One
//! revision per workload function: its instances, a least-loaded balancer
//! (the activator and queue-proxy route to the instance with the fewest
//! requests), its autoscaler ([`kpa::Kpa`]) and the requests it holds while
//! no instance can take them (the activator, or Cloud Run's pending
//! queue). In-flight requests (in service, queued at instances, held) are
//! averaged over 1-second buckets; the autoscaler decides every tick from
//! the stable- and panic-window averages. With no instance, an arriving
//! request asks for one at once (the activator pokes the autoscaler). The
//! knative preset runs on a node pool: Kubernetes' nodes and cluster
//! autoscaler ([`crate::platform::kubernetes`]), placing instances first-fit.

pub mod config;
pub mod kpa;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::cost::{Bill, Cost, MONTH_S};
use crate::engine::{self, Cancelled, Ctx, Model};
use crate::error::FieldError;
use crate::metrics::{Gauges, MAX_GAUGES, Outcome, Recorder};
use crate::platform::container::load_balancer::{Balancer, LeastOutstanding};
use crate::platform::container::server::{Admission, Done, Server};
use crate::platform::kubernetes::cluster_autoscaler::{
    Cluster, ClusterAutoscaler, NodeAction, NodeAutoscaler,
};
use crate::platform::kubernetes::config::NodePool;
use crate::platform::kubernetes::nodes::{self, Node, NodeState};
use crate::platform::kubernetes::pricing;
use crate::platform::{Kind, Platform, PlatformSpec, RunInput, Setting, fields_of, read_spec};
use crate::rng::SimRng;
use crate::time::{NANOS_PER_SEC, SimDuration, SimTime};
use crate::workload::Request;

pub use config::{Billing, KnativeConfig, KnativeSpec, Preset};
use kpa::{Kpa, Observed};

const GAUGES: &[&str] = &[
    "pods_desired",
    "pods_ready",
    "pods_pending",
    "nodes",
    "nodes_provisioning",
];

/// The registry entry of `kind = "knative"` (the knative preset, on nodes).
pub const KIND: Kind = Kind {
    name: "knative",
    default_name: "knative",
    gauges: GAUGES,
    capacity: &["pods_ready"],
    capacity_label: "ready instances",
    has_nodes: true,
    fields: fields_of::<KnativeSpec>,
    read: read_spec::<KnativeSpec>,
};

/// The same kind for the managed presets (Cloud Run, App Runner, or
/// Knative priced per instance-second): no nodes.
pub const KIND_MANAGED: Kind = Kind {
    has_nodes: false,
    ..KIND
};

impl PlatformSpec for KnativeSpec {
    fn validate(&self, s: &Setting) -> Result<Arc<dyn Platform>, FieldError> {
        Ok(Arc::new(self.to_config(s)?))
    }
}

impl Platform for KnativeConfig {
    fn kind(&self) -> &'static Kind {
        match self.billing {
            Billing::Nodes(_) => &KIND,
            _ => &KIND_MANAGED,
        }
    }

    fn simulate(&self, input: RunInput) -> Result<(Recorder, Bill), Cancelled> {
        let model = Knative::new(
            self.clone(),
            self.deployments.names.len(),
            input.streams.named("startup"),
            input.streams.named("provision"),
            input.streams.named("lb"),
        );
        engine::run(model, input.requests, input.clock, input.rec, input.cancel)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    /// Waiting for a node (knative on a node pool).
    Pending,
    Starting,
    Ready,
    /// Scaled away: finishing what it holds.
    Terminating,
    Gone,
}

#[derive(Debug, Clone)]
struct Instance {
    revision: u32,
    state: State,
    node: Option<u32>,
    created: SimTime,
    ready_at: Option<SimTime>,
    stopped: Option<SimTime>,
    server: Server,
    /// Since when it has had a request in flight, if it has one.
    busy_since: Option<SimTime>,
    /// When it last had none (for Cloud Run's idle removal).
    idle_since: SimTime,
    /// Time with a request in flight inside the window, and in all \[ns\]
    /// (Cloud Run: each busy period rounded up to 100 ms).
    active_measured: u64,
    active_gross: u64,
}

/// Events of the model.
#[derive(Debug, Clone, Copy)]
pub enum KnativeEvent {
    /// The next request at an instance may be done (stale if the epoch moved).
    Tick {
        instance: u32,
        epoch: u32,
    },
    Ready(u32),
    /// The 1-second metric bucket edge.
    Scrape,
    /// The autoscaler's tick.
    Decide,
    /// Held requests of a revision past their pending timeout.
    Expire(u32),
    NodeReady(u32),
    AutoscalerScan,
}

/// A request held while no instance can take it.
#[derive(Debug, Clone, Copy)]
struct Held {
    req: Request,
    /// When it gives up (Cloud Run), if ever.
    deadline: Option<SimTime>,
    /// It waited because no instance was ready: a cold start.
    cold: bool,
}

/// One revision (a workload function's service).
struct Revision {
    live: BTreeSet<u32>,
    lb: LeastOutstanding,
    desired: u32,
    kpa: Kpa,
    held: VecDeque<Held>,
    expiry_scheduled: bool,
    /// In flight now (in service, queued at instances, held), its integral
    /// [request x ns] and when that was last brought up to date.
    in_flight: u64,
    area: u128,
    touched: SimTime,
    /// (second, area) at each bucket edge, the last stable window's worth.
    buckets: VecDeque<(SimTime, u128)>,
    /// Since when the autoscaler has wanted zero.
    zero_since: Option<SimTime>,
    /// Recent desired counts, for `scale_down_delay_s`.
    delay: VecDeque<(SimTime, u32)>,
}

impl Revision {
    fn touch(&mut self, now: SimTime) {
        let dt = u128::from(now.since(self.touched).0);
        self.area += u128::from(self.in_flight) * dt;
        self.touched = now;
    }

    /// Average in flight over the `window` ending at `now` (over what
    /// exists of it early in the run).
    fn average(&self, now: SimTime, window: SimDuration) -> f64 {
        let from = SimTime(now.0.saturating_sub(window.0));
        let Some(&(t, a)) = self
            .buckets
            .iter()
            .find(|(t, _)| *t >= from)
            .or(self.buckets.back())
        else {
            return self.in_flight as f64;
        };
        let span = now.since(t).0;
        if span == 0 {
            return self.in_flight as f64;
        }
        (self.area - a) as f64 / span as f64
    }
}

/// The node pool under the knative preset.
struct Pool {
    cfg: NodePool,
    nodes: Vec<Node>,
    /// Instances waiting for a node, oldest first.
    pending: VecDeque<u32>,
    autoscaler: Option<ClusterAutoscaler>,
    rng: SimRng,
}

/// Knative (or a preset) during one run.
pub struct Knative {
    cfg: KnativeConfig,
    startup_rng: SimRng,
    /// The balancer's stream (least-loaded picks draw nothing).
    lb_rng: SimRng,
    instances: Vec<Instance>,
    live: BTreeSet<u32>,
    revisions: Vec<Revision>,
    pool: Option<Pool>,
    in_service: u64,
    queued: u64,
    /// Requests that reached an instance, arriving in the window (Cloud
    /// Run's request charge), and in all.
    started_measured: u64,
    started_gross: u64,
    done: Vec<Done>,
}

impl Knative {
    /// The platform at t = 0 (call [`Model::start`] before events): one
    /// revision per function (`functions` of them).
    pub fn new(
        cfg: KnativeConfig,
        functions: usize,
        startup_rng: SimRng,
        provision_rng: SimRng,
        lb_rng: SimRng,
    ) -> Self {
        let revisions = (0..functions.max(1))
            .map(|_| Revision {
                live: BTreeSet::new(),
                lb: LeastOutstanding::default(),
                desired: 0,
                kpa: Kpa::new(cfg.scaler.clone()),
                held: VecDeque::new(),
                expiry_scheduled: false,
                in_flight: 0,
                area: 0,
                touched: SimTime::ZERO,
                buckets: VecDeque::new(),
                zero_since: None,
                delay: VecDeque::new(),
            })
            .collect();
        let pool = match &cfg.billing {
            Billing::Nodes(p) => Some(Pool {
                cfg: p.clone(),
                nodes: Vec::new(),
                pending: VecDeque::new(),
                autoscaler: p.autoscaler.clone().map(ClusterAutoscaler::new),
                rng: provision_rng,
            }),
            _ => None,
        };
        Knative {
            cfg,
            startup_rng,
            lb_rng,
            instances: Vec::new(),
            live: BTreeSet::new(),
            revisions,
            pool,
            in_service: 0,
            queued: 0,
            started_measured: 0,
            started_gross: 0,
            done: Vec::new(),
        }
    }

    fn memory_mb(&self) -> u64 {
        (self.cfg.memory_gb * 1024.0).round() as u64
    }

    fn existing(&self) -> u64 {
        self.live.len() as u64
    }

    /// Instances of revision `r` not scaled away.
    fn active(&self, r: usize) -> u32 {
        self.revisions[r]
            .live
            .iter()
            .filter(|&&i| {
                matches!(
                    self.instances[i as usize].state,
                    State::Pending | State::Starting | State::Ready
                )
            })
            .count() as u32
    }

    fn starting(&self, r: usize) -> bool {
        self.revisions[r].live.iter().any(|&i| {
            matches!(
                self.instances[i as usize].state,
                State::Pending | State::Starting
            )
        })
    }

    fn new_instance(&mut self, r: usize, now: SimTime, cx: &mut Ctx<KnativeEvent>) -> u32 {
        let c = &self.cfg;
        let slots = if c.container_concurrency == 0 {
            u32::MAX
        } else {
            c.container_concurrency
        };
        self.instances.push(Instance {
            revision: r as u32,
            state: State::Pending,
            node: None,
            created: now,
            ready_at: None,
            stopped: None,
            server: Server::new(c.cpu_m, slots, c.instance_queue),
            busy_since: None,
            idle_since: now,
            active_measured: 0,
            active_gross: 0,
        });
        let id = (self.instances.len() - 1) as u32;
        self.live.insert(id);
        self.revisions[r].live.insert(id);
        if let Some(pool) = &mut self.pool {
            pool.pending.push_back(id);
            self.place_pending(now, cx);
        } else {
            self.start_instance(id, now, cx);
        }
        cx.rec.instances.set(now, self.existing());
        id
    }

    fn start_instance(&mut self, i: u32, now: SimTime, cx: &mut Ctx<KnativeEvent>) {
        self.instances[i as usize].state = State::Starting;
        let delay = self.cfg.startup.sample(&mut self.startup_rng);
        cx.schedule(now + delay, KnativeEvent::Ready(i));
    }

    /// Places pending instances first-fit on ready nodes, oldest first.
    fn place_pending(&mut self, now: SimTime, cx: &mut Ctx<KnativeEvent>) {
        let (cpu, mem) = (self.cfg.cpu_m, self.memory_mb());
        let Some(pool) = &mut self.pool else { return };
        let mut still = VecDeque::new();
        let mut placed = Vec::new();
        while let Some(i) = pool.pending.pop_front() {
            match pool
                .nodes
                .iter()
                .position(|n| n.state == NodeState::Ready && n.fits(cpu, mem))
            {
                Some(n) => {
                    pool.nodes[n].add(cpu, mem);
                    self.instances[i as usize].node = Some(n as u32);
                    placed.push(i);
                }
                None => still.push_back(i),
            }
        }
        pool.pending = still;
        for i in placed {
            self.start_instance(i, now, cx);
        }
    }

    fn launch_node(&mut self, now: SimTime, ready: bool, cx: &mut Ctx<KnativeEvent>) {
        let pool = self.pool.as_mut().expect("a node pool");
        let delay = (!ready).then(|| {
            let ca = pool
                .cfg
                .autoscaler
                .as_ref()
                .expect("the autoscaler launches");
            ca.provision.sample(&mut pool.rng)
        });
        let c = &pool.cfg;
        let size = (c.node_cpu_m, c.node_memory_mb, c.instance.max_pods);
        let id = nodes::launch(&mut pool.nodes, now, size, delay);
        if let Some(d) = delay {
            cx.schedule(now + d, KnativeEvent::NodeReady(id));
        }
        cx.rec.nodes.set(now, nodes::live(&pool.nodes));
    }

    /// Instance `i` stops at `now`: its node capacity is freed.
    fn stop(&mut self, i: u32, now: SimTime, cx: &mut Ctx<KnativeEvent>) {
        let inst = &mut self.instances[i as usize];
        let was = inst.state;
        inst.state = State::Gone;
        inst.stopped = Some(now);
        let r = inst.revision as usize;
        let node = inst.node.take();
        self.live.remove(&i);
        self.revisions[r].live.remove(&i);
        let (cpu, mem) = (self.cfg.cpu_m, self.memory_mb());
        if let Some(pool) = &mut self.pool {
            if was == State::Pending {
                pool.pending.retain(|&p| p != i);
            }
            if let Some(n) = node {
                let node = &mut pool.nodes[n as usize];
                node.remove(cpu, mem);
                if node.state == NodeState::Draining && node.pods == 0 {
                    node.state = NodeState::Removed;
                    node.removed = Some(now);
                    cx.rec.nodes.set(now, nodes::live(&pool.nodes));
                }
            }
        }
        cx.rec.instances.set(now, self.existing());
        self.place_pending(now, cx);
    }

    /// Scales instance `i` away: one not yet ready goes at once, a ready
    /// one leaves the balancer and finishes what it holds.
    fn remove(&mut self, i: u32, now: SimTime, cx: &mut Ctx<KnativeEvent>) {
        match self.instances[i as usize].state {
            State::Pending | State::Starting => self.stop(i, now, cx),
            State::Ready => {
                let inst = &mut self.instances[i as usize];
                inst.state = State::Terminating;
                let out = inst.server.outstanding();
                let r = inst.revision as usize;
                self.revisions[r].lb.leave(i, out);
                if out == 0 {
                    self.stop(i, now, cx);
                }
            }
            State::Terminating | State::Gone => {}
        }
    }

    /// Brings revision `r` to its desired count (Cloud Run removes only
    /// instances idle long enough).
    fn reconcile(&mut self, r: usize, now: SimTime, cx: &mut Ctx<KnativeEvent>) {
        let desired = self.revisions[r].desired;
        let have = self.active(r);
        if have < desired {
            for _ in have..desired {
                self.new_instance(r, now, cx);
            }
            return;
        }
        if have == desired {
            return;
        }
        let mut victims: Vec<u32> = self.revisions[r]
            .live
            .iter()
            .copied()
            .filter(|&i| {
                let inst = &self.instances[i as usize];
                match inst.state {
                    State::Pending | State::Starting => self.cfg.idle_removal.is_none(),
                    State::Ready => match self.cfg.idle_removal {
                        Some(idle) => inst.busy_since.is_none() && inst.idle_since + idle <= now,
                        None => true,
                    },
                    State::Terminating | State::Gone => false,
                }
            })
            .collect();
        // Not yet ready first, then the newest ready.
        victims.sort_by_key(|&i| {
            let inst = &self.instances[i as usize];
            (
                inst.state != State::Pending,
                inst.state != State::Starting,
                std::cmp::Reverse(inst.ready_at.unwrap_or(inst.created)),
                std::cmp::Reverse(i),
            )
        });
        for &i in victims.iter().take((have - desired) as usize) {
            self.remove(i, now, cx);
        }
    }

    /// Counts a busy period of instance `i` ending at `now`.
    fn close_busy(&mut self, i: u32, now: SimTime, window: (SimTime, SimTime)) {
        let round = matches!(self.cfg.billing, Billing::CloudRunRequest { .. });
        let inst = &mut self.instances[i as usize];
        let Some(since) = inst.busy_since.take() else {
            return;
        };
        inst.idle_since = now;
        let billed = |a: SimTime, b: SimTime| {
            let ns = b.since(a).0;
            if round {
                ns.div_ceil(100_000_000) * 100_000_000
            } else {
                ns
            }
        };
        inst.active_gross += billed(since, now);
        let (a, b) = (since.max(window.0), now.min(window.1));
        if b > a {
            inst.active_measured += billed(a, b);
        }
    }

    /// Updates the totals, the balancer and the busy periods after
    /// instance `i` changed (`before`: in service, queued and epoch).
    fn account(
        &mut self,
        i: u32,
        before: (usize, usize, u32),
        now: SimTime,
        cx: &mut Ctx<KnativeEvent>,
    ) {
        let inst = &self.instances[i as usize];
        let after = (inst.server.busy(), inst.server.queued());
        self.in_service = self.in_service + after.0 as u64 - before.0 as u64;
        self.queued = self.queued + after.1 as u64 - before.1 as u64;
        let (b, a) = (before.0 + before.1, after.0 + after.1);
        let r = inst.revision as usize;
        if inst.state == State::Ready && b != a {
            self.revisions[r].lb.load_changed(i, b, a);
        }
        if before.0 != after.0 {
            cx.rec.in_service.set(now, self.in_service);
        }
        if b == 0 && a > 0 {
            self.instances[i as usize].busy_since = Some(now);
        } else if b > 0 && a == 0 {
            let window = cx.rec.window();
            self.close_busy(i, now, window);
        }
        let inst = &self.instances[i as usize];
        if let Some((t, epoch)) = inst.server.timer_since(before) {
            cx.schedule(t, KnativeEvent::Tick { instance: i, epoch });
        }
    }

    /// Offers `req` to the least-loaded ready instance of revision `r`.
    fn offer(
        &mut self,
        r: usize,
        req: Request,
        cold: bool,
        now: SimTime,
        cx: &mut Ctx<KnativeEvent>,
    ) -> bool {
        let Some(i) = self.revisions[r].lb.pick(&mut self.lb_rng) else {
            return false;
        };
        let inst = &mut self.instances[i as usize];
        let before = inst.server.state();
        match inst.server.offer(req, now) {
            Admission::Full => false,
            Admission::Started | Admission::Queued => {
                if cold {
                    cx.rec.cold_start(&req);
                }
                self.started_gross += 1;
                if cx.rec.measured(&req) {
                    self.started_measured += 1;
                }
                self.account(i, before, now, cx);
                true
            }
        }
    }

    /// Hands held requests of revision `r` to instances while they take them.
    fn release_held(&mut self, r: usize, now: SimTime, cx: &mut Ctx<KnativeEvent>) {
        while let Some(&h) = self.revisions[r].held.front() {
            if !self.offer(r, h.req, h.cold, now, cx) {
                break;
            }
            self.revisions[r].held.pop_front();
        }
    }

    /// Holds `req` (no instance can take it), or refuses it when the hold is full.
    fn hold(&mut self, r: usize, req: Request, now: SimTime, cx: &mut Ctx<KnativeEvent>) {
        let rev = &self.revisions[r];
        if rev.held.len() >= self.cfg.holding_capacity as usize {
            self.refuse(r, req, now, cx);
            return;
        }
        let cold = rev.lb.ready() == 0;
        let deadline = self.cfg.pending_timeout.map(|t| now + t);
        let rev = &mut self.revisions[r];
        rev.held.push_back(Held {
            req,
            deadline,
            cold,
        });
        if let Some(d) = deadline
            && !rev.expiry_scheduled
        {
            rev.expiry_scheduled = true;
            cx.schedule(d, KnativeEvent::Expire(r as u32));
        }
    }

    /// A request refused: 503 (Knative) or 429 (Cloud Run, App Runner).
    fn refuse(&mut self, r: usize, req: Request, now: SimTime, cx: &mut Ctx<KnativeEvent>) {
        let rev = &mut self.revisions[r];
        rev.touch(now);
        rev.in_flight -= 1;
        cx.rec.outcome(&req, self.cfg.overflow, None, now, false);
    }

    /// The autoscaler's tick for revision `r`.
    fn decide(&mut self, r: usize, now: SimTime, cx: &mut Ctx<KnativeEvent>) {
        let c = &self.cfg;
        let rev = &mut self.revisions[r];
        rev.touch(now);
        let stable = rev.average(now, c.scaler.stable_window);
        let panic = c.scaler.panic.map_or(stable, |(w, _)| rev.average(now, w));
        let ready = rev.lb.ready() as u32;
        let mut desired = rev.kpa.decide(
            now,
            Observed {
                stable,
                panic,
                ready,
            },
        );
        // `scale_down_delay_s`: the largest desired count of that window.
        if c.scale_down_delay > SimDuration::ZERO {
            let from = SimTime(now.0.saturating_sub(c.scale_down_delay.0));
            while rev.delay.front().is_some_and(|&(t, _)| t <= from) {
                rev.delay.pop_front();
            }
            rev.delay.push_back((now, desired));
            desired = rev.delay.iter().map(|d| d.1).max().unwrap_or(desired);
        }
        // Scale to zero only after the grace period, and never with held requests.
        if desired == 0 {
            let since = *rev.zero_since.get_or_insert(now);
            if !c.scale_to_zero || now < since + c.scale_to_zero_grace || !rev.held.is_empty() {
                desired = rev.desired.min(1).max(u32::from(!rev.held.is_empty()));
            }
        } else {
            rev.zero_since = None;
        }
        rev.desired = desired.clamp(c.min_scale, c.max_scale);
        self.reconcile(r, now, cx);
    }

    /// One scan of the cluster autoscaler.
    fn scan_nodes(&mut self, now: SimTime, cx: &mut Ctx<KnativeEvent>) {
        let (cpu, mem) = (self.cfg.cpu_m, self.memory_mb());
        let pool = self.pool.as_mut().expect("a node pool");
        let mut ca = pool.autoscaler.take().expect("an autoscaler");
        loop {
            let pool = self.pool.as_ref().expect("a node pool");
            // Instances that would move: those starting or ready on each
            // node (terminating ones are not rescheduled).
            let mut moving_on = vec![0usize; pool.nodes.len()];
            for &i in &self.live {
                let inst = &self.instances[i as usize];
                if let Some(n) = inst.node
                    && matches!(inst.state, State::Starting | State::Ready)
                {
                    moving_on[n as usize] += 1;
                }
            }
            let fits = |n: u32| {
                nodes::fit_elsewhere(&pool.nodes, n, &vec![(cpu, mem); moving_on[n as usize]])
            };
            let c = &pool.cfg;
            let size = (c.node_cpu_m, c.node_memory_mb, c.instance.max_pods);
            let action = ca.scan(
                now,
                &Cluster {
                    nodes: &pool.nodes,
                    pending: pool.pending.len(),
                    pods_per_node: nodes::per_node(size, cpu, mem),
                    live_nodes: nodes::live(&pool.nodes),
                    min_nodes: c.min_nodes,
                    max_nodes: c.max_nodes,
                    fits_elsewhere: &fits,
                },
            );
            match action {
                None => break,
                Some(NodeAction::Launch(k)) => {
                    for _ in 0..k {
                        self.launch_node(now, false, cx);
                    }
                }
                Some(NodeAction::Remove(n)) => {
                    let pool = self.pool.as_mut().expect("a node pool");
                    let node = &mut pool.nodes[n as usize];
                    node.state = NodeState::Removed;
                    node.removed = Some(now);
                    cx.rec.nodes.set(now, nodes::live(&pool.nodes));
                }
                Some(NodeAction::Drain(n)) => {
                    self.pool.as_mut().expect("a node pool").nodes[n as usize].state =
                        NodeState::Draining;
                    let on_node: Vec<u32> = self
                        .live
                        .iter()
                        .copied()
                        .filter(|&i| self.instances[i as usize].node == Some(n))
                        .collect();
                    for i in on_node {
                        let r = self.instances[i as usize].revision as usize;
                        if matches!(
                            self.instances[i as usize].state,
                            State::Starting | State::Ready
                        ) {
                            self.remove(i, now, cx);
                            self.new_instance(r, now, cx);
                        }
                    }
                }
            }
        }
        self.pool.as_mut().expect("a node pool").autoscaler = Some(ca);
    }

    /// The bill over [from, to), with instances still running billed to `to`.
    fn cost_between(&self, from: SimTime, to: SimTime, measured: bool) -> Cost {
        let c = &self.cfg;
        let vcpu = c.cpu_m as f64 / 1000.0;
        let life = |i: &Instance, granularity: u64| -> u64 {
            let end = i.stopped.unwrap_or(to).min(to);
            let start = i.created.max(from);
            if end <= start {
                return 0;
            }
            end.since(start).0.div_ceil(granularity) * granularity
        };
        let active = |i: &Instance| -> u64 {
            let closed = if measured {
                i.active_measured
            } else {
                i.active_gross
            };
            // An open busy period, counted up to `to`.
            let open = i.busy_since.map_or(0, |b| to.since(b.max(from)).0);
            let open = if matches!(c.billing, Billing::CloudRunRequest { .. }) {
                open.div_ceil(100_000_000) * 100_000_000
            } else {
                open
            };
            closed + open
        };
        let secs = |ns: u64| ns as f64 / NANOS_PER_SEC as f64;
        match &c.billing {
            Billing::Nodes(pool) => {
                let nodes = self.pool.as_ref().map_or(&[][..], |p| &p.nodes[..]);
                Cost {
                    nodes: pricing::nodes_usd(nodes, pool.instance.usd_per_hour, from, to),
                    ..Cost::default()
                }
            }
            Billing::PerInstanceSecond {
                vcpu_s,
                gib_s,
                granularity,
            } => {
                let s: f64 = self
                    .instances
                    .iter()
                    .map(|i| secs(life(i, granularity.0.max(1))))
                    .sum();
                Cost {
                    compute: s * (vcpu * vcpu_s + c.memory_gb * gib_s),
                    ..Cost::default()
                }
            }
            Billing::CloudRunRequest {
                vcpu_s,
                gib_s,
                per_million,
            } => {
                let s: f64 = self.instances.iter().map(|i| secs(active(i))).sum();
                let requests = if measured {
                    self.started_measured
                } else {
                    self.started_gross
                };
                Cost {
                    compute: s * (vcpu * vcpu_s + c.memory_gb * gib_s),
                    requests: requests as f64 * per_million / 1e6,
                    ..Cost::default()
                }
            }
            Billing::AppRunner { vcpu_hour, gb_hour } => {
                let (mut active_s, mut life_s) = (0.0, 0.0);
                for i in &self.instances {
                    active_s += secs(active(i));
                    life_s += secs(life(i, 1));
                }
                let idle_s = (life_s - active_s).max(0.0);
                Cost {
                    compute: (active_s * (vcpu * vcpu_hour + c.memory_gb * gb_hour)
                        + idle_s * c.memory_gb * gb_hour)
                        / 3600.0,
                    ..Cost::default()
                }
            }
        }
    }
}

impl Model for Knative {
    type Event = KnativeEvent;

    fn start(&mut self, cx: &mut Ctx<KnativeEvent>) {
        let now = SimTime::ZERO;
        if let Some(pool) = &self.pool {
            for _ in 0..pool.cfg.initial_nodes {
                self.launch_node(now, true, cx);
            }
        }
        let initial = self
            .cfg
            .initial_scale
            .max(self.cfg.min_scale)
            .min(self.cfg.max_scale);
        for r in 0..self.revisions.len() {
            self.revisions[r].desired = initial;
            for _ in 0..initial {
                let i = self.new_instance(r, now, cx);
                // Ready at t = 0 (where a node holds it).
                let inst = &mut self.instances[i as usize];
                if inst.state == State::Starting {
                    inst.state = State::Ready;
                    inst.ready_at = Some(now);
                    self.revisions[r].lb.join(i, 0);
                }
            }
        }
        cx.schedule(now + SimDuration::from_secs(1), KnativeEvent::Scrape);
        cx.schedule(now + self.cfg.scaler.tick, KnativeEvent::Decide);
        if let Some(ca) = self.pool.as_ref().and_then(|p| p.cfg.autoscaler.as_ref()) {
            cx.schedule(now + ca.scan_interval, KnativeEvent::AutoscalerScan);
        }
    }

    fn on_arrival(&mut self, req: Request, cx: &mut Ctx<KnativeEvent>) {
        let now = cx.now();
        cx.rec.arrived(&req);
        let r = self.cfg.deployments.of_fn(req.function);
        let rev = &mut self.revisions[r];
        rev.touch(now);
        rev.in_flight += 1;
        // Scale from zero: the activator asks for an instance at once.
        if self.revisions[r].lb.ready() == 0 && self.active(r) == 0 && self.cfg.max_scale > 0 {
            let rev = &mut self.revisions[r];
            rev.desired = rev.desired.max(1);
            rev.zero_since = None;
            self.new_instance(r, now, cx);
        }
        if !self.revisions[r].held.is_empty() || !self.offer(r, req, false, now, cx) {
            let no_ready = self.revisions[r].lb.ready() == 0;
            // On-demand scale-out: a request with no free slot starts one
            // instance now, unless one is already starting.
            if self.cfg.on_demand
                && !no_ready
                && !self.starting(r)
                && self.active(r) < self.cfg.max_scale
            {
                let active = self.active(r);
                let rev = &mut self.revisions[r];
                rev.desired = rev.desired.max(active + 1);
                self.new_instance(r, now, cx);
            }
            // Held (the activator, Cloud Run's pending queue) or refused: a
            // Knative queue-proxy with a full queue answers 503; App Runner
            // holds nothing, 429.
            if no_ready || self.cfg.preset == Preset::CloudRun {
                self.hold(r, req, now, cx);
            } else {
                self.refuse(r, req, now, cx);
            }
        }
    }

    fn on_event(&mut self, event: KnativeEvent, cx: &mut Ctx<KnativeEvent>) {
        let now = cx.now();
        match event {
            KnativeEvent::Tick { instance: i, epoch } => {
                let inst = &mut self.instances[i as usize];
                if inst.server.epoch != epoch {
                    return;
                }
                let before = inst.server.state();
                let mut done = std::mem::take(&mut self.done);
                inst.server.complete(now, &mut done);
                let r = inst.revision as usize;
                let rev = &mut self.revisions[r];
                rev.touch(now);
                for d in done.drain(..) {
                    rev.in_flight -= 1;
                    cx.rec
                        .outcome(&d.req, Outcome::Completed, Some(d.start), now, false);
                }
                self.done = done;
                self.account(i, before, now, cx);
                if self.instances[i as usize].state == State::Terminating
                    && self.instances[i as usize].server.outstanding() == 0
                {
                    self.stop(i, now, cx);
                }
                self.release_held(r, now, cx);
            }
            KnativeEvent::Ready(i) => {
                let inst = &mut self.instances[i as usize];
                if inst.state == State::Starting {
                    inst.state = State::Ready;
                    inst.ready_at = Some(now);
                    let r = inst.revision as usize;
                    self.revisions[r].lb.join(i, 0);
                    self.release_held(r, now, cx);
                }
            }
            KnativeEvent::Scrape => {
                let keep = self.cfg.scaler.stable_window + SimDuration::from_secs(1);
                for rev in &mut self.revisions {
                    rev.touch(now);
                    rev.buckets.push_back((now, rev.area));
                    while rev.buckets.front().is_some_and(|&(t, _)| t + keep < now) {
                        rev.buckets.pop_front();
                    }
                }
                cx.schedule(now + SimDuration::from_secs(1), KnativeEvent::Scrape);
            }
            KnativeEvent::Decide => {
                for r in 0..self.revisions.len() {
                    self.decide(r, now, cx);
                }
                cx.schedule(now + self.cfg.scaler.tick, KnativeEvent::Decide);
            }
            KnativeEvent::Expire(r) => {
                let r = r as usize;
                self.revisions[r].expiry_scheduled = false;
                while let Some(&h) = self.revisions[r].held.front() {
                    if h.deadline.is_none_or(|d| d > now) {
                        break;
                    }
                    self.revisions[r].held.pop_front();
                    self.refuse(r, h.req, now, cx);
                }
                if let Some(d) = self.revisions[r].held.front().and_then(|h| h.deadline) {
                    self.revisions[r].expiry_scheduled = true;
                    cx.schedule(d, KnativeEvent::Expire(r as u32));
                }
            }
            KnativeEvent::NodeReady(n) => {
                let pool = self.pool.as_mut().expect("a node pool");
                if pool.nodes[n as usize].state == NodeState::Provisioning {
                    pool.nodes[n as usize].state = NodeState::Ready;
                    self.place_pending(now, cx);
                }
            }
            KnativeEvent::AutoscalerScan => {
                self.scan_nodes(now, cx);
                let interval = self
                    .pool
                    .as_ref()
                    .and_then(|p| p.cfg.autoscaler.as_ref())
                    .expect("an autoscaler")
                    .scan_interval;
                cx.schedule(now + interval, KnativeEvent::AutoscalerScan);
            }
        }
    }

    fn gauges(&mut self, at: SimTime, _cx: &mut Ctx<KnativeEvent>) -> Gauges {
        let pending = self
            .live
            .iter()
            .filter(|&&i| {
                matches!(
                    self.instances[i as usize].state,
                    State::Pending | State::Starting
                )
            })
            .count() as u64;
        let (nodes, provisioning) = self.pool.as_ref().map_or((0, 0), |p| {
            let count = |f: &dyn Fn(NodeState) -> bool| {
                p.nodes.iter().filter(|n| f(n.state)).count() as u64
            };
            (
                count(&|s| matches!(s, NodeState::Ready | NodeState::Draining)),
                count(&|s| s == NodeState::Provisioning),
            )
        });
        let held: u64 = self.revisions.iter().map(|r| r.held.len() as u64).sum();
        let mut values = [0; MAX_GAUGES];
        // In KIND.gauges order.
        values[..5].copy_from_slice(&[
            self.revisions.iter().map(|r| u64::from(r.desired)).sum(),
            self.revisions.iter().map(|r| r.lb.ready() as u64).sum(),
            pending,
            nodes,
            provisioning,
        ]);
        Gauges {
            in_flight: self.in_service + self.queued + held,
            queued: self.queued + held,
            values,
            cost_usd: self.cost_between(SimTime::ZERO, at, false).total(),
        }
    }

    fn finish(self, cx: &mut Ctx<KnativeEvent>) -> Bill {
        let now = cx.now();
        let mut held: Vec<(Request, Option<SimTime>)> = self
            .instances
            .iter()
            .flat_map(|i| i.server.held())
            .collect();
        held.extend(
            self.revisions
                .iter()
                .flat_map(|r| r.held.iter().map(|h| (h.req, None))),
        );
        held.sort_by_key(|(r, _)| r.id);
        for (req, start) in held {
            cx.rec.outcome(&req, Outcome::InFlight, start, now, false);
        }
        let (from, to) = cx.rec.window();
        let cost = self.cost_between(from, to, true);
        let window_s = to.since(from).0 as f64 / NANOS_PER_SEC as f64;
        Bill {
            cost,
            per_month_usd: cost.total() * MONTH_S / window_s,
        }
    }
}
