//! Amazon ECS on AWS Fargate (`kind = "ecs_fargate"`, README, 'ECS on
//! Fargate'): tasks behind an Application Load Balancer, a fixed count or
//! Service Auto Scaling target tracking, the account's task launch quota,
//! and the per-second Fargate bill. No nodes.
//!
//! A task is a pod of the container model ([`Server`]: slots, a queue,
//! processor sharing over its vCPUs, the wait phase). Its life: it waits for
//! a launch token (neither billed nor counted), starts (billed from its
//! token: provisioning, ENI, image pull) until RUNNING, passes the ALB's
//! health checks (`healthy_threshold` x `interval_s`), then receives
//! traffic; a task removed by a scale-in leaves the load balancer and stops
//! once it has finished what it holds. One ECS service per workload
//! function, sharing the launch quota.

pub mod config;
pub mod target_tracking;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::cost::{Bill, Cost, MONTH_S};
use crate::engine::{self, Cancelled, Ctx, Model};
use crate::error::FieldError;
use crate::metrics::{Gauges, MAX_GAUGES, Outcome, Recorder};
use crate::platform::container::billed_seconds;
use crate::platform::container::load_balancer::Balancer;
use crate::platform::container::server::{Admission, Done, Server};
use crate::platform::token_bucket::TokenBucket;
use crate::platform::{Kind, Platform, PlatformSpec, RunInput, Setting, fields_of, read_spec};
use crate::rng::SimRng;
use crate::time::{NANOS_PER_SEC, SimDuration, SimTime};
use crate::workload::Request;

pub use config::{FargateConfig, FargateSpec, TaskScaling};
use target_tracking::{TargetTracking, Tracking, TrackingMetric};

/// The registry entry of `kind = "ecs_fargate"`.
pub const KIND: Kind = Kind {
    name: "ecs_fargate",
    default_name: "fargate",
    // Tasks in the pods_* columns: desired count, receiving traffic,
    // launched but not yet receiving traffic.
    gauges: &["pods_desired", "pods_ready", "pods_pending"],
    capacity: &["pods_ready"],
    capacity_label: "tasks receiving traffic",
    has_nodes: false,
    fields: fields_of::<FargateSpec>,
    read: read_spec::<FargateSpec>,
};

impl PlatformSpec for FargateSpec {
    fn validate(&self, s: &Setting) -> Result<Arc<dyn Platform>, FieldError> {
        Ok(Arc::new(self.to_config(s)?))
    }
}

impl Platform for FargateConfig {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn simulate(&self, input: RunInput) -> Result<(Recorder, Bill), Cancelled> {
        let model = Fargate::new(
            self.clone(),
            self.load_balancer.balancer(),
            self.deployments.names.len(),
            input.streams.named("startup"),
            input.streams.named("lb"),
        );
        engine::run(model, input.requests, input.clock, input.rec, input.cancel)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TaskState {
    /// Waiting for a launch token: not billed, not counted.
    Waiting,
    /// Launched (billed): provisioning, pulling its image, starting.
    Starting,
    /// RUNNING, passing the load balancer's health checks.
    Unhealthy,
    /// Receiving traffic.
    Healthy,
    /// Deregistered: finishing what it holds.
    Draining,
    Gone,
}

/// Cumulative usage of a task, for the service's metrics.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    /// CPU used [millicore x ns].
    cpu: u128,
    /// Time RUNNING (health checks, traffic or draining) [ns].
    running: u128,
    /// Time receiving traffic [ns].
    healthy: u128,
    /// Requests the load balancer sent it.
    routed: u64,
}

impl Usage {
    fn add(&mut self, o: &Usage) {
        self.cpu += o.cpu;
        self.running += o.running;
        self.healthy += o.healthy;
        self.routed += o.routed;
    }
}

#[derive(Debug, Clone)]
struct Task {
    service: u32,
    state: TaskState,
    created: SimTime,
    /// When it took its launch token (billing starts) and when it stopped.
    launched: Option<SimTime>,
    stopped: Option<SimTime>,
    healthy_at: Option<SimTime>,
    server: Server,
    usage: Usage,
    touched: SimTime,
}

impl Task {
    /// Brings the cumulative usage up to `now`.
    fn touch(&mut self, now: SimTime) {
        let dt = u128::from(now.since(self.touched).0);
        if dt == 0 {
            return;
        }
        self.usage.cpu += u128::from(self.server.cpu_used_m()) * dt;
        if matches!(
            self.state,
            TaskState::Unhealthy | TaskState::Healthy | TaskState::Draining
        ) {
            self.usage.running += dt;
        }
        if self.state == TaskState::Healthy {
            self.usage.healthy += dt;
        }
        self.touched = now;
    }
}

/// Events of the Fargate model.
#[derive(Debug, Clone, Copy)]
pub enum FargateEvent {
    /// The next request at a task may be done (stale if the epoch moved).
    TaskTick { task: u32, epoch: u32 },
    /// A task reached RUNNING.
    Running(u32),
    /// A task passed its health checks.
    Healthy(u32),
    /// A launch token is due for the tasks waiting.
    Launch,
    /// The end of a metric period.
    Datapoint,
}

/// One ECS service: its tasks, load balancer target group and policy.
struct Service<B> {
    /// Tasks not yet gone.
    live: BTreeSet<u32>,
    lb: B,
    desired: u32,
    tracking: Option<TargetTracking>,
    /// Usage of the service's tasks gone so far, and the total at the last datapoint.
    retired: Usage,
    last: Usage,
}

/// ECS on Fargate during one run.
pub struct Fargate<B: Balancer> {
    cfg: FargateConfig,
    startup_rng: SimRng,
    lb_rng: SimRng,
    tasks: Vec<Task>,
    live: BTreeSet<u32>,
    services: Vec<Service<B>>,
    /// Tasks waiting for a launch token, oldest first.
    waiting: VecDeque<u32>,
    launch: TokenBucket,
    /// A `Launch` event is in the queue.
    launch_scheduled: bool,
    in_service: u64,
    queued: u64,
    done: Vec<Done>,
}

impl<B: Balancer> Fargate<B> {
    /// The platform at t = 0 (call [`Model::start`] before events): one
    /// service per function (`functions` of them).
    pub fn new(
        cfg: FargateConfig,
        lb: B,
        functions: usize,
        startup_rng: SimRng,
        lb_rng: SimRng,
    ) -> Self {
        let tracking = match &cfg.scaling {
            TaskScaling::TargetTracking(t) => Some(TargetTracking::new(t.clone())),
            TaskScaling::Fixed(_) => None,
        };
        let services = (0..functions.max(1))
            .map(|_| Service {
                live: BTreeSet::new(),
                lb: lb.clone(),
                desired: 0,
                tracking: tracking.clone(),
                retired: Usage::default(),
                last: Usage::default(),
            })
            .collect();
        Fargate {
            launch: TokenBucket::new(
                cfg.launch_burst,
                cfg.launch_per_s,
                SimDuration::from_secs(1),
            ),
            cfg,
            startup_rng,
            lb_rng,
            tasks: Vec::new(),
            live: BTreeSet::new(),
            services,
            waiting: VecDeque::new(),
            launch_scheduled: false,
            in_service: 0,
            queued: 0,
            done: Vec::new(),
        }
    }

    /// Tasks launched and not stopped (what `mean_instances` counts).
    fn existing(&self) -> u64 {
        self.live
            .iter()
            .filter(|&&t| self.tasks[t as usize].state != TaskState::Waiting)
            .count() as u64
    }

    fn new_task(&mut self, now: SimTime, service: usize) -> u32 {
        let c = &self.cfg;
        self.tasks.push(Task {
            service: service as u32,
            state: TaskState::Waiting,
            created: now,
            launched: None,
            stopped: None,
            healthy_at: None,
            server: Server::new(c.task_cpu_m, c.concurrency, c.queue_capacity),
            usage: Usage::default(),
            touched: now,
        });
        let id = (self.tasks.len() - 1) as u32;
        self.live.insert(id);
        self.services[service].live.insert(id);
        self.waiting.push_back(id);
        id
    }

    /// Launches waiting tasks while there are launch tokens; otherwise asks
    /// to be called again when the next token is due.
    fn launch_waiting(&mut self, now: SimTime, cx: &mut Ctx<FargateEvent>) {
        let mut launched = false;
        while let Some(&t) = self.waiting.front() {
            if !self.launch.take(now) {
                if !self.launch_scheduled {
                    self.launch_scheduled = true;
                    cx.schedule(self.launch.next_token(now), FargateEvent::Launch);
                }
                break;
            }
            self.waiting.pop_front();
            let task = &mut self.tasks[t as usize];
            task.state = TaskState::Starting;
            task.launched = Some(now);
            task.touched = now;
            let delay = self.cfg.startup.sample(&mut self.startup_rng);
            cx.schedule(now + delay, FargateEvent::Running(t));
            launched = true;
        }
        if launched {
            cx.rec.instances.set(now, self.existing());
        }
    }

    /// Stops task `t` at `now`: billing ends, its usage joins the service's.
    fn stop(&mut self, t: u32, now: SimTime, cx: &mut Ctx<FargateEvent>) {
        let task = &mut self.tasks[t as usize];
        task.touch(now);
        let was_launched = task.state != TaskState::Waiting;
        task.state = TaskState::Gone;
        if was_launched {
            task.stopped = Some(now);
        }
        let s = task.service as usize;
        let usage = task.usage;
        self.services[s].retired.add(&usage);
        self.services[s].live.remove(&t);
        self.live.remove(&t);
        if was_launched {
            cx.rec.instances.set(now, self.existing());
        } else {
            self.waiting.retain(|&w| w != t);
        }
    }

    /// Takes a task out of service: one not yet receiving traffic stops at
    /// once; one receiving traffic drains first.
    fn remove_task(&mut self, t: u32, now: SimTime, cx: &mut Ctx<FargateEvent>) {
        match self.tasks[t as usize].state {
            TaskState::Waiting | TaskState::Starting | TaskState::Unhealthy => {
                self.stop(t, now, cx)
            }
            TaskState::Healthy => {
                let task = &mut self.tasks[t as usize];
                task.touch(now);
                task.state = TaskState::Draining;
                let out = task.server.outstanding();
                let s = task.service as usize;
                self.services[s].lb.leave(t, out);
                if out == 0 {
                    self.stop(t, now, cx);
                }
            }
            TaskState::Draining | TaskState::Gone => {}
        }
    }

    /// Brings service `s` to its desired count (draining tasks not counted).
    fn reconcile(&mut self, s: usize, now: SimTime, cx: &mut Ctx<FargateEvent>) {
        let desired = self.services[s].desired;
        let active: Vec<u32> = self.services[s]
            .live
            .iter()
            .copied()
            .filter(|&t| {
                !matches!(
                    self.tasks[t as usize].state,
                    TaskState::Draining | TaskState::Gone
                )
            })
            .collect();
        let have = active.len() as u32;
        if have < desired {
            for _ in have..desired {
                self.new_task(now, s);
            }
            self.launch_waiting(now, cx);
        } else if have > desired {
            // Not launched first, then not yet receiving traffic, then the
            // newest receiving traffic.
            let mut victims = active;
            victims.sort_by_key(|&t| {
                let task = &self.tasks[t as usize];
                let newest = std::cmp::Reverse(task.healthy_at.unwrap_or(task.created));
                (task.state, newest, std::cmp::Reverse(t))
            });
            for &t in victims.iter().take((have - desired) as usize) {
                self.remove_task(t, now, cx);
            }
        }
    }

    /// Updates the totals and the least-outstanding index after task `t`
    /// changed (`before`: in service, queued and epoch before the change).
    fn account(
        &mut self,
        t: u32,
        before: (usize, usize, u32),
        now: SimTime,
        cx: &mut Ctx<FargateEvent>,
    ) {
        let task = &self.tasks[t as usize];
        let after = (task.server.busy(), task.server.queued());
        self.in_service = self.in_service + after.0 as u64 - before.0 as u64;
        self.queued = self.queued + after.1 as u64 - before.1 as u64;
        let s = task.service as usize;
        if self.services[s].lb.watches_load()
            && task.state == TaskState::Healthy
            && before.0 + before.1 != after.0 + after.1
        {
            self.services[s]
                .lb
                .load_changed(t, before.0 + before.1, after.0 + after.1);
        }
        if before.0 != after.0 {
            cx.rec.in_service.set(now, self.in_service);
        }
        if let Some((at, epoch)) = task.server.timer_since(before) {
            cx.schedule(at, FargateEvent::TaskTick { task: t, epoch });
        }
    }

    /// The datapoint of service `s` for the period ending at `now`, and
    /// its tasks running.
    fn datapoint(&mut self, s: usize, now: SimTime) -> (Option<f64>, u32) {
        let mut total = self.services[s].retired;
        let mut running = 0;
        for &t in &self.services[s].live {
            let task = &mut self.tasks[t as usize];
            task.touch(now);
            total.add(&task.usage);
            if matches!(task.state, TaskState::Unhealthy | TaskState::Healthy) {
                running += 1;
            }
        }
        let svc = &mut self.services[s];
        let last = std::mem::replace(&mut svc.last, total);
        let tracking = svc.tracking.as_ref().expect("a policy");
        let period_ns = tracking.cfg.period.0 as f64;
        let value = match tracking.cfg.metric {
            // CPU used over the CPU of the tasks running, through the period.
            TrackingMetric::Cpu => {
                let task_time = (total.running - last.running) as f64;
                (task_time > 0.0).then(|| {
                    (total.cpu - last.cpu) as f64 / (task_time * self.cfg.task_cpu_m as f64)
                })
            }
            // Requests per healthy target, per minute.
            TrackingMetric::Requests => {
                let targets = (total.healthy - last.healthy) as f64 / period_ns;
                (targets > 0.0)
                    .then(|| (total.routed - last.routed) as f64 / targets * 60e9 / period_ns)
            }
        };
        (value, running)
    }

    /// The bill of the tasks and the load balancer over [from, to).
    fn cost_between(&self, from: SimTime, to: SimTime) -> Cost {
        let c = &self.cfg;
        let per_s = (c.task_cpu_m as f64 / 1000.0 * c.vcpu_usd_per_hour
            + c.task_memory_gb * c.gb_usd_per_hour)
            / 3600.0;
        let task_s: u64 = self
            .tasks
            .iter()
            .filter_map(|t| t.launched.map(|l| billed_seconds(l, t.stopped, from, to)))
            .sum();
        let hours = to.since(from).as_secs_f64() / 3600.0;
        Cost {
            compute: task_s as f64 * per_s,
            front_door: c.load_balancer_usd_per_hour * hours,
            ..Cost::default()
        }
    }
}

impl<B: Balancer> Model for Fargate<B> {
    type Event = FargateEvent;

    fn start(&mut self, cx: &mut Ctx<FargateEvent>) {
        let now = SimTime::ZERO;
        let initial = match &self.cfg.scaling {
            TaskScaling::Fixed(n) => *n,
            TaskScaling::TargetTracking(t) => t.min_tasks,
        };
        // The initial tasks run, healthy, from t = 0, outside the launch quota.
        for s in 0..self.services.len() {
            self.services[s].desired = initial;
            for _ in 0..initial {
                let t = self.new_task(now, s);
                self.waiting.pop_back();
                let task = &mut self.tasks[t as usize];
                task.state = TaskState::Healthy;
                task.launched = Some(now);
                task.healthy_at = Some(now);
                self.services[s].lb.join(t, 0);
            }
        }
        cx.rec.instances.set(now, self.existing());
        if let TaskScaling::TargetTracking(t) = &self.cfg.scaling {
            cx.schedule(now + t.period, FargateEvent::Datapoint);
        }
    }

    fn on_arrival(&mut self, req: Request, cx: &mut Ctx<FargateEvent>) {
        let now = cx.now();
        cx.rec.arrived(&req);
        let s = self.cfg.deployments.of_fn(req.function);
        let Some(t) = self.services[s].lb.pick(&mut self.lb_rng) else {
            cx.rec.outcome(&req, Outcome::Rejected, None, now, false);
            return;
        };
        let task = &mut self.tasks[t as usize];
        task.touch(now);
        task.usage.routed += 1;
        let before = task.server.state();
        match task.server.offer(req, now) {
            Admission::Full => cx.rec.outcome(&req, Outcome::Rejected, None, now, false),
            Admission::Started | Admission::Queued => self.account(t, before, now, cx),
        }
    }

    fn on_event(&mut self, event: FargateEvent, cx: &mut Ctx<FargateEvent>) {
        let now = cx.now();
        match event {
            FargateEvent::TaskTick { task: t, epoch } => {
                let task = &mut self.tasks[t as usize];
                if task.server.epoch != epoch {
                    return;
                }
                task.touch(now);
                let before = task.server.state();
                let mut done = std::mem::take(&mut self.done);
                task.server.complete(now, &mut done);
                for d in done.drain(..) {
                    cx.rec
                        .outcome(&d.req, Outcome::Completed, Some(d.start), now, false);
                }
                self.done = done;
                self.account(t, before, now, cx);
                let task = &self.tasks[t as usize];
                if task.state == TaskState::Draining && task.server.outstanding() == 0 {
                    self.stop(t, now, cx);
                }
            }
            FargateEvent::Running(t) => {
                let task = &mut self.tasks[t as usize];
                if task.state == TaskState::Starting {
                    task.touch(now);
                    task.state = TaskState::Unhealthy;
                    cx.schedule(now + self.cfg.health_check, FargateEvent::Healthy(t));
                }
            }
            FargateEvent::Healthy(t) => {
                let task = &mut self.tasks[t as usize];
                if task.state == TaskState::Unhealthy {
                    task.touch(now);
                    task.state = TaskState::Healthy;
                    task.healthy_at = Some(now);
                    let out = task.server.outstanding();
                    let s = task.service as usize;
                    self.services[s].lb.join(t, out);
                }
            }
            FargateEvent::Launch => {
                self.launch_scheduled = false;
                self.launch_waiting(now, cx);
            }
            FargateEvent::Datapoint => {
                for s in 0..self.services.len() {
                    let (value, running) = self.datapoint(s, now);
                    let svc = &mut self.services[s];
                    let desired = svc.desired;
                    let policy = svc.tracking.as_mut().expect("a policy");
                    match policy.datapoint(now, value, running, desired) {
                        Tracking::Keep => {}
                        Tracking::ScaleOut(n) | Tracking::ScaleIn(n) => {
                            svc.desired = n;
                            self.reconcile(s, now, cx);
                        }
                    }
                }
                let TaskScaling::TargetTracking(t) = &self.cfg.scaling else {
                    unreachable!("datapoints need a policy")
                };
                cx.schedule(now + t.period, FargateEvent::Datapoint);
            }
        }
    }

    fn gauges(&mut self, at: SimTime, _cx: &mut Ctx<FargateEvent>) -> Gauges {
        let pending = self
            .live
            .iter()
            .filter(|&&t| {
                matches!(
                    self.tasks[t as usize].state,
                    TaskState::Starting | TaskState::Unhealthy
                )
            })
            .count() as u64;
        let mut values = [0; MAX_GAUGES];
        // In KIND.gauges order.
        values[..3].copy_from_slice(&[
            self.services.iter().map(|s| u64::from(s.desired)).sum(),
            self.services.iter().map(|s| s.lb.ready() as u64).sum(),
            pending,
        ]);
        Gauges {
            in_flight: self.in_service + self.queued,
            queued: self.queued,
            values,
            cost_usd: self.cost_between(SimTime::ZERO, at).total(),
        }
    }

    fn finish(self, cx: &mut Ctx<FargateEvent>) -> Bill {
        let now = cx.now();
        let mut held: Vec<(Request, Option<SimTime>)> =
            self.tasks.iter().flat_map(|t| t.server.held()).collect();
        held.sort_by_key(|(r, _)| r.id);
        for (req, start) in held {
            cx.rec.outcome(&req, Outcome::InFlight, start, now, false);
        }
        let (from, to) = cx.rec.window();
        let cost = self.cost_between(from, to);
        let window_s = to.since(from).0 as f64 / NANOS_PER_SEC as f64;
        Bill {
            cost,
            per_month_usd: cost.total() * MONTH_S / window_s,
        }
    }
}
