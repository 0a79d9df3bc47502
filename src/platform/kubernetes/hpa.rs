//! The Horizontal Pod Autoscaler, following the controller
//! (kubernetes `pkg/controller/podautoscaler`: `replica_calculator.go` for
//! the replica count, `horizontal.go` for stabilisation and behaviour
//! policies). Pure logic: the platform feeds it per-pod samples at each sync.
//!
//! Defaults are the controller's and the API's (kubernetes
//! `pkg/apis/autoscaling/v2/defaults.go`, the kube-controller-manager HPA flags).

use crate::time::{SimDuration, SimTime};

/// The metric the HPA scales on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// CPU utilisation: cores used / cores requested, as the controller's
    /// integer percent (a `Resource` metric with `averageUtilization`).
    Cpu,
    /// Requests in service + queued per pod (a `Pods` metric, `AverageValue`).
    Concurrency,
    /// Requests routed to the pod per second, accepted or rejected.
    Rps,
}

/// `select` of a behaviour rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Max,
    Min,
    Disabled,
}

/// `type` of a scaling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Pods,
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub kind: PolicyKind,
    pub value: u32,
    pub period: SimDuration,
}

/// `scale_up` or `scale_down` of `behavior`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub stabilization: SimDuration,
    pub select: Select,
    pub policies: Vec<Policy>,
}

impl Rules {
    /// autoscaling/v2 default scale-up: no stabilisation, max of +4 pods and
    /// +100 % per 15 s (kubernetes `pkg/apis/autoscaling/v2/defaults.go`).
    pub fn default_up() -> Self {
        Rules {
            stabilization: SimDuration::ZERO,
            select: Select::Max,
            policies: vec![
                Policy {
                    kind: PolicyKind::Pods,
                    value: 4,
                    period: SimDuration::from_secs(15),
                },
                Policy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period: SimDuration::from_secs(15),
                },
            ],
        }
    }

    /// Default scale-down: 300 s stabilisation, up to 100 % per 15 s.
    pub fn default_down() -> Self {
        Rules {
            stabilization: SimDuration::from_secs(300),
            select: Select::Max,
            policies: vec![Policy {
                kind: PolicyKind::Percent,
                value: 100,
                period: SimDuration::from_secs(15),
            }],
        }
    }
}

/// A validated HPA configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaConfig {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub metric: Metric,
    /// Target per pod: utilisation fraction (cpu), requests (concurrency) or requests/s (rps).
    pub target: f64,
    /// How often the controller syncs: 15 s.
    pub sync_period: SimDuration,
    /// The metric is averaged over this window: 15 s (metrics-server resolution).
    pub metric_window: SimDuration,
    /// ... ending this long before the sync: 15 s.
    pub metric_delay: SimDuration,
    /// No scaling while 1 - tolerance_down <= ratio <= 1 + tolerance_up
    /// (`Tolerances.isWithin`, Kubernetes 1.33+): 0.1 each, the controller's
    /// `--horizontal-pod-autoscaler-tolerance`.
    pub tolerance_up: f64,
    pub tolerance_down: f64,
    /// CPU samples of pods started less than this ago need care: 300 s.
    pub cpu_initialization: SimDuration,
    pub scale_up: Rules,
    pub scale_down: Rules,
    /// No `behavior` was given: the controller's legacy path
    /// (`normalizeDesiredReplicas`), with the scale-down stabilisation of
    /// `scale_down` and a scale-up cap of max(2 x current, 4) per sync.
    pub legacy: bool,
}

/// The legacy path's scale-up cap: max(factor x current, minimum)
/// (`horizontal.go`: `scaleUpLimitFactor` 2.0, `scaleUpLimitMinimum` 4.0).
pub fn legacy_scale_up_limit(current: u32) -> u32 {
    (2.0 * f64::from(current)).max(4.0) as u32
}

/// What the controller knows of one pod of the deployment at a sync.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PodSample {
    /// A ready pod with a metric: millicores used (cpu), requests in the pod
    /// (concurrency) or requests/s (rps), averaged over the metric window.
    Ready(f64),
    /// Not ready: for cpu, pending, starting, or a sample taken too close
    /// to readiness; for the other metrics, not yet placed on a node (the
    /// Pending phase, `groupPods`).
    Unready,
    /// Ready but without a metric yet.
    Missing,
}

/// A scale event remembered for the behaviour policies.
#[derive(Debug, Clone, Copy)]
struct ScaleEvent {
    at: SimTime,
    change: u32,
}

/// The controller's state for one deployment.
#[derive(Debug, Clone)]
pub struct Hpa {
    pub cfg: HpaConfig,
    /// Unstabilised recommendations: (time, replicas).
    recommendations: Vec<(SimTime, u32)>,
    up_events: Vec<ScaleEvent>,
    down_events: Vec<ScaleEvent>,
}

impl Hpa {
    pub fn new(cfg: HpaConfig) -> Self {
        Hpa {
            cfg,
            recommendations: Vec::new(),
            up_events: Vec::new(),
            down_events: Vec::new(),
        }
    }

    /// The target in the units [`PodSample::Ready`] carries, and for cpu the
    /// integer target percent.
    fn target_percent(&self) -> i64 {
        (self.cfg.target * 100.0).round() as i64
    }

    /// The usage ratio over `values` (one per pod counted).
    fn ratio(&self, values: &[f64], request_m: f64) -> f64 {
        if values.is_empty() {
            return 0.0;
        }
        match self.cfg.metric {
            Metric::Cpu => {
                // metrics/utilization.go: utilisation = int32(sum(usage) * 100 / sum(requests)).
                let total: f64 = values.iter().sum();
                let requests = request_m * values.len() as f64;
                let utilization = (total * 100.0 / requests).floor();
                utilization / self.target_percent() as f64
            }
            Metric::Concurrency | Metric::Rps => {
                values.iter().sum::<f64>() / (self.cfg.target * values.len() as f64)
            }
        }
    }

    /// `Tolerances.isWithin` (`replica_calculator.go`): no change for a
    /// ratio in [1 - tolerance_down, 1 + tolerance_up].
    pub fn within_tolerance(&self, ratio: f64) -> bool {
        1.0 - self.cfg.tolerance_down <= ratio && ratio <= 1.0 + self.cfg.tolerance_up
    }

    /// The replica count the metric asks for (`replica_calculator.go`), or
    /// `None` when no pod has a metric. `request_m` is the pod's CPU request
    /// in millicores (used by the cpu metric).
    pub fn replicas_for_metric(
        &self,
        current: u32,
        samples: &[PodSample],
        request_m: f64,
    ) -> Option<u32> {
        let ready: Vec<f64> = samples
            .iter()
            .filter_map(|s| match s {
                PodSample::Ready(v) => Some(*v),
                _ => None,
            })
            .collect();
        if ready.is_empty() {
            return None;
        }
        let unready = samples.iter().filter(|s| **s == PodSample::Unready).count();
        let missing = samples.iter().filter(|s| **s == PodSample::Missing).count();
        let usage_ratio = self.ratio(&ready, request_m);
        let scale_up_with_unready = unready > 0 && usage_ratio > 1.0;
        if !scale_up_with_unready && missing == 0 {
            if self.within_tolerance(usage_ratio) {
                return Some(current);
            }
            return Some((usage_ratio * ready.len() as f64).ceil() as u32);
        }
        // Recompute with the conservative assumptions: missing pods at 100 %
        // of target on a scale-down and at 0 on a scale-up; unready pods at 0.
        let mut values = ready.clone();
        if missing > 0 {
            // A missing pod counts as using everything on a scale-down: for
            // cpu, max(100 %, target) of its request; for the others, the target.
            let fill = if usage_ratio < 1.0 {
                match self.cfg.metric {
                    Metric::Cpu => request_m * self.target_percent().max(100) as f64 / 100.0,
                    Metric::Concurrency | Metric::Rps => self.cfg.target,
                }
            } else {
                0.0
            };
            if usage_ratio != 1.0 {
                values.extend(std::iter::repeat_n(fill, missing));
            }
        }
        if scale_up_with_unready {
            values.extend(std::iter::repeat_n(0.0, unready));
        }
        let new_ratio = self.ratio(&values, request_m);
        if self.within_tolerance(new_ratio)
            || (usage_ratio < 1.0 && new_ratio > 1.0)
            || (usage_ratio > 1.0 && new_ratio < 1.0)
        {
            return Some(current);
        }
        let proposed = (new_ratio * values.len() as f64).ceil() as u32;
        if (new_ratio < 1.0 && proposed > current) || (new_ratio > 1.0 && proposed < current) {
            return Some(current);
        }
        Some(proposed)
    }

    /// One sync at `now` for a deployment of `current` replicas: the new
    /// replica count after stabilisation, behaviour policies and clamping
    /// (`horizontal.go` `reconcileAutoscaler`).
    pub fn sync(
        &mut self,
        now: SimTime,
        current: u32,
        samples: &[PodSample],
        request_m: f64,
    ) -> u32 {
        let (min, max) = (self.cfg.min_replicas, self.cfg.max_replicas);
        let desired = if current > max {
            max
        } else if current < min {
            min
        } else {
            let Some(proposed) = self.replicas_for_metric(current, samples, request_m) else {
                // No metrics at all: the controller reports an error and changes nothing.
                return current;
            };
            if self.cfg.legacy {
                let stabilized = self.stabilize_legacy(now, proposed);
                // `convertDesiredReplicasWithRules`.
                let ceiling = max.min(legacy_scale_up_limit(current));
                stabilized.clamp(min, ceiling.max(min))
            } else {
                let stabilized = self.stabilize(now, current, proposed);
                self.limit_rate(now, current, stabilized)
            }
        };
        if desired != current {
            let event = ScaleEvent {
                at: now,
                change: desired.abs_diff(current),
            };
            if desired > current {
                self.up_events.push(event);
            } else {
                self.down_events.push(event);
            }
        }
        self.forget_old_events(now);
        desired
    }

    /// `stabilizeRecommendationWithBehaviors`: the current count is raised to
    /// the minimum recommendation of the scale-up window and lowered to the
    /// maximum of the scale-down window.
    fn stabilize(&mut self, now: SimTime, current: u32, proposed: u32) -> u32 {
        let cutoff = |w: SimDuration| SimTime(now.0.saturating_sub(w.0));
        let up_cutoff = cutoff(self.cfg.scale_up.stabilization);
        let down_cutoff = cutoff(self.cfg.scale_down.stabilization);
        let mut up = proposed;
        let mut down = proposed;
        let mut old = None;
        for (i, &(at, rec)) in self.recommendations.iter().enumerate() {
            if at > up_cutoff {
                up = up.min(rec);
            }
            if at > down_cutoff {
                down = down.max(rec);
            }
            if at < up_cutoff && at < down_cutoff {
                old = Some(i);
            }
        }
        let recommendation = current.max(up).min(down);
        match old {
            Some(i) => self.recommendations[i] = (now, proposed),
            None => self.recommendations.push((now, proposed)),
        }
        recommendation
    }

    /// `stabilizeRecommendation` (the legacy path): the highest
    /// recommendation of the scale-down window, this one included; a
    /// recommendation exactly one window old is still in it (`Before(cutoff)`
    /// is what drops one).
    fn stabilize_legacy(&mut self, now: SimTime, proposed: u32) -> u32 {
        let cutoff = SimTime(now.0.saturating_sub(self.cfg.scale_down.stabilization.0));
        let mut highest = proposed;
        let mut old = None;
        for (i, &(at, rec)) in self.recommendations.iter().enumerate() {
            if at < cutoff {
                old = Some(i);
            } else {
                highest = highest.max(rec);
            }
        }
        match old {
            Some(i) => self.recommendations[i] = (now, proposed),
            None => self.recommendations.push((now, proposed)),
        }
        highest
    }

    fn changed_within(events: &[ScaleEvent], now: SimTime, period: SimDuration) -> u32 {
        let cutoff = SimTime(now.0.saturating_sub(period.0));
        events
            .iter()
            .filter(|e| e.at > cutoff)
            .map(|e| e.change)
            .sum()
    }

    /// `convertDesiredReplicasWithBehaviorRate`.
    fn limit_rate(&self, now: SimTime, current: u32, desired: u32) -> u32 {
        let (min, max) = (self.cfg.min_replicas, self.cfg.max_replicas);
        let period_start = |p: &Policy| {
            i64::from(current) - i64::from(Self::changed_within(&self.up_events, now, p.period))
                + i64::from(Self::changed_within(&self.down_events, now, p.period))
        };
        if desired > current {
            let rules = &self.cfg.scale_up;
            let limit = match rules.select {
                Select::Disabled => i64::from(current),
                select => {
                    let proposals = rules.policies.iter().map(|p| {
                        let start = period_start(p);
                        match p.kind {
                            PolicyKind::Pods => start + i64::from(p.value),
                            // Rounded up, so a small deployment can always grow.
                            PolicyKind::Percent => {
                                (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
                            }
                        }
                    });
                    if select == Select::Max {
                        proposals.max()
                    } else {
                        proposals.min()
                    }
                    .unwrap_or(i64::from(current))
                }
            };
            let limit = limit.max(i64::from(current));
            let allowed = i64::from(max).min(limit);
            desired.min(allowed as u32)
        } else if desired < current {
            let rules = &self.cfg.scale_down;
            let limit = match rules.select {
                Select::Disabled => i64::from(current),
                select => {
                    let proposals = rules.policies.iter().map(|p| {
                        let start = period_start(p);
                        match p.kind {
                            PolicyKind::Pods => start - i64::from(p.value),
                            // int32() truncates: at most the percentage is removed.
                            PolicyKind::Percent => {
                                (start as f64 * (1.0 - f64::from(p.value) / 100.0)) as i64
                            }
                        }
                    });
                    // The largest change is the lowest count.
                    if select == Select::Max {
                        proposals.min()
                    } else {
                        proposals.max()
                    }
                    .unwrap_or(i64::from(current))
                }
            };
            let limit = limit.min(i64::from(current));
            let allowed = i64::from(min).max(limit);
            desired.max(allowed.max(0) as u32)
        } else {
            desired
        }
    }

    fn forget_old_events(&mut self, now: SimTime) {
        let longest = |r: &Rules| {
            r.policies
                .iter()
                .map(|p| p.period)
                .max()
                .unwrap_or_default()
        };
        let keep_up = SimTime(now.0.saturating_sub(longest(&self.cfg.scale_up).0));
        let keep_down = SimTime(now.0.saturating_sub(longest(&self.cfg.scale_down).0));
        self.up_events.retain(|e| e.at > keep_up);
        self.down_events.retain(|e| e.at > keep_down);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(metric: Metric, target: f64) -> HpaConfig {
        HpaConfig {
            min_replicas: 1,
            max_replicas: 100,
            metric,
            target,
            sync_period: SimDuration::from_secs(15),
            metric_window: SimDuration::from_secs(15),
            metric_delay: SimDuration::from_secs(15),
            tolerance_up: 0.1,
            tolerance_down: 0.1,
            cpu_initialization: SimDuration::from_secs(300),
            scale_up: Rules::default_up(),
            scale_down: Rules::default_down(),
            legacy: false,
        }
    }

    fn secs(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    #[test]
    fn replica_formula_with_tolerance() {
        let h = Hpa::new(cfg(Metric::Concurrency, 10.0));
        let ready = |v: f64, n: usize| vec![PodSample::Ready(v); n];
        // ratio 1.08: inside the 0.1 tolerance, no change.
        assert_eq!(h.replicas_for_metric(4, &ready(10.8, 4), 1000.0), Some(4));
        // ratio 1.5 over 4 ready pods: ceil(6.0) = 6.
        assert_eq!(h.replicas_for_metric(4, &ready(15.0, 4), 1000.0), Some(6));
        // ratio 0.25: ceil(1.0) = 1.
        assert_eq!(h.replicas_for_metric(4, &ready(2.5, 4), 1000.0), Some(1));
        // The multiplier is the number of ready pods, not the spec's replicas.
        assert_eq!(h.replicas_for_metric(7, &ready(15.0, 4), 1000.0), Some(6));
        // No metrics at all: nothing to say.
        assert_eq!(
            h.replicas_for_metric(3, &[PodSample::Unready; 3], 1000.0),
            None
        );
    }

    #[test]
    fn cpu_utilisation_is_an_integer_percent() {
        // Target 60 %. 2 pods at 500 m of a 1000 m request: 50 % -> ratio
        // 0.833, outside the tolerance -> ceil(0.833 x 2) = 2.
        let h = Hpa::new(cfg(Metric::Cpu, 0.6));
        let s = vec![PodSample::Ready(500.0); 2];
        assert_eq!(h.replicas_for_metric(2, &s, 1000.0), Some(2));
        // 659 m each: 65.9 % truncates to 65 %, ratio 1.083: within tolerance.
        let s = vec![PodSample::Ready(659.0); 3];
        assert_eq!(h.replicas_for_metric(3, &s, 1000.0), Some(3));
        // 66 % is ratio 66/60: in floating point 1.1000000000000000888, the
        // same double as 1 + 0.1, so `isWithin` (Kubernetes 1.33+: ratio <=
        // 1 + tolerance) keeps 3 pods. (The older |1 - ratio| <= 0.1 put it
        // just outside: 1 - 1.1 is -0.10000000000000009.)
        let s = vec![PodSample::Ready(669.0); 3];
        assert_eq!(h.replicas_for_metric(3, &s, 1000.0), Some(3));
        // 67 %: ratio 1.1167, outside -> ceil(3.35) = 4.
        let s = vec![PodSample::Ready(670.0); 3];
        assert_eq!(h.replicas_for_metric(3, &s, 1000.0), Some(4));
        // Truncation matters: 5 pods at 80.5 % of a 50 % target. The integer
        // 80 % gives ratio 1.6 -> 8 pods; a float ratio 1.61 would give 9.
        let h50 = Hpa::new(cfg(Metric::Cpu, 0.5));
        let s = vec![PodSample::Ready(805.0); 5];
        assert_eq!(h50.replicas_for_metric(5, &s, 1000.0), Some(8));
        // 900 m: 90 % -> ratio 1.5 -> ceil(4.5) = 5.
        let s = vec![PodSample::Ready(900.0); 3];
        assert_eq!(h.replicas_for_metric(3, &s, 1000.0), Some(5));
    }

    #[test]
    fn unready_pods_count_as_zero_on_a_scale_up() {
        let h = Hpa::new(cfg(Metric::Concurrency, 10.0));
        // 2 ready pods at 20 (ratio 2) and 2 unready: recompute over 4 pods
        // at (40 + 0) / 4 = 10 -> ratio 1.0, within tolerance: no change.
        let s = [
            PodSample::Ready(20.0),
            PodSample::Ready(20.0),
            PodSample::Unready,
            PodSample::Unready,
        ];
        assert_eq!(h.replicas_for_metric(4, &s, 1000.0), Some(4));
        // 2 ready at 30 and 2 unready: (60 + 0) / 4 = 15 -> 1.5 x 4 = 6.
        let s = [
            PodSample::Ready(30.0),
            PodSample::Ready(30.0),
            PodSample::Unready,
            PodSample::Unready,
        ];
        assert_eq!(h.replicas_for_metric(4, &s, 1000.0), Some(6));
        // On a scale-down unready pods are simply left out: 2 ready at 2.5 ->
        // ceil(0.25 x 2) = 1.
        let s = [
            PodSample::Ready(2.5),
            PodSample::Ready(2.5),
            PodSample::Unready,
        ];
        assert_eq!(h.replicas_for_metric(3, &s, 1000.0), Some(1));
    }

    #[test]
    fn missing_pods_are_assumed_at_target_on_a_scale_down() {
        let h = Hpa::new(cfg(Metric::Concurrency, 10.0));
        // 2 ready at 5 (ratio 0.5) + 2 missing taken at the target 10:
        // (10 + 20) / 4 / 10 = 0.75 -> ceil(3.0) = 3, not ceil(0.5 x 2) = 1.
        let s = [
            PodSample::Ready(5.0),
            PodSample::Ready(5.0),
            PodSample::Missing,
            PodSample::Missing,
        ];
        assert_eq!(h.replicas_for_metric(4, &s, 1000.0), Some(3));
        // On a scale-up missing pods count as 0: 2 at 30 + 2 missing -> 15 avg -> 6.
        let s = [
            PodSample::Ready(30.0),
            PodSample::Ready(30.0),
            PodSample::Missing,
            PodSample::Missing,
        ];
        assert_eq!(h.replicas_for_metric(4, &s, 1000.0), Some(6));
        // A recomputation that flips direction changes nothing: 1 ready at 12
        // (ratio 1.2) and 3 missing at 0 -> 0.3: no change.
        let s = [
            PodSample::Ready(12.0),
            PodSample::Missing,
            PodSample::Missing,
            PodSample::Missing,
        ];
        assert_eq!(h.replicas_for_metric(4, &s, 1000.0), Some(4));
    }

    #[test]
    fn missing_cpu_pods_count_as_their_full_request_on_a_scale_down() {
        // Target 60 %. 2 ready at 300 m (30 %, ratio 0.5) and 2 missing, which
        // count as 100 % of their request (max(100 %, target)):
        // (300 + 300 + 1000 + 1000) / 4 = 650 m = 65 % -> ratio 1.083, within
        // tolerance: no change. At the 60 % target they would give 45 % -> 3.
        let h = Hpa::new(cfg(Metric::Cpu, 0.6));
        let s = [
            PodSample::Ready(300.0),
            PodSample::Ready(300.0),
            PodSample::Missing,
            PodSample::Missing,
        ];
        assert_eq!(h.replicas_for_metric(4, &s, 1000.0), Some(4));
    }

    #[test]
    fn default_policies_scale_up_1_5_10_20() {
        // A huge load: the metric asks for 100 replicas at every sync.
        let mut h = Hpa::new(cfg(Metric::Concurrency, 1.0));
        let mut current = 1;
        let mut seen = vec![current];
        for k in 1..=4 {
            let samples = vec![PodSample::Ready(100.0); current as usize];
            current = h.sync(secs(15 * k), current, &samples, 1000.0);
            seen.push(current);
        }
        // 1 -> max(1 + 4, 2 x 1) = 5 -> max(5 + 4, 2 x 5) = 10 -> 20 -> 40.
        assert_eq!(seen, vec![1, 5, 10, 20, 40]);
    }

    #[test]
    fn scale_up_within_one_period_counts_earlier_additions() {
        // Syncs every 5 s with 15 s policy periods: the period started at 1
        // pod, so 5 is the cap until the first event leaves the period.
        let mut h = Hpa::new(cfg(Metric::Concurrency, 1.0));
        let big = |n: u32| vec![PodSample::Ready(100.0); n as usize];
        assert_eq!(h.sync(secs(5), 1, &big(1), 1000.0), 5);
        assert_eq!(h.sync(secs(10), 5, &big(5), 1000.0), 5);
        assert_eq!(h.sync(secs(15), 5, &big(5), 1000.0), 5);
        // At 20 s the event at 5 s is older than 15 s: the period starts at 5.
        assert_eq!(h.sync(secs(20), 5, &big(5), 1000.0), 10);
    }

    #[test]
    fn scale_down_waits_for_the_stabilisation_window() {
        let mut h = Hpa::new(cfg(Metric::Concurrency, 10.0));
        let load = |v: f64, n: u32| vec![PodSample::Ready(v); n as usize];
        // At 15 s the load wants 10 pods (recorded).
        assert_eq!(h.sync(secs(15), 10, &load(10.0, 10), 1000.0), 10);
        // From 30 s the load drops to a tenth: the metric wants 1 pod, but the
        // window (now - 300 s, now] still holds the recommendation of 10 made at 15 s.
        let mut current = 10;
        for t in (30..=300).step_by(15) {
            current = h.sync(secs(t), current, &load(1.0, current), 1000.0);
            assert_eq!(current, 10, "at {t} s");
        }
        // At 315 s it has left the window.
        assert_eq!(h.sync(secs(315), 10, &load(1.0, 10), 1000.0), 1);
    }

    #[test]
    fn percent_policies_round_like_the_controller() {
        let mut c = cfg(Metric::Concurrency, 10.0);
        c.scale_down = Rules {
            stabilization: SimDuration::ZERO,
            select: Select::Max,
            policies: vec![Policy {
                kind: PolicyKind::Percent,
                value: 50,
                period: SimDuration::from_secs(60),
            }],
        };
        c.scale_up = Rules {
            stabilization: SimDuration::ZERO,
            select: Select::Max,
            policies: vec![Policy {
                kind: PolicyKind::Percent,
                value: 10,
                period: SimDuration::from_secs(60),
            }],
        };
        let mut h = Hpa::new(c.clone());
        // Down 50 % of 5: int32(2.5) = 2, so at most 3 pods go.
        assert_eq!(h.sync(secs(15), 5, &[PodSample::Ready(0.1); 5], 1000.0), 2);
        // Up 10 % of 3: ceil(3.3) = 4, so even 10 % always adds a pod.
        let mut h = Hpa::new(c);
        assert_eq!(
            h.sync(secs(15), 3, &[PodSample::Ready(100.0); 3], 1000.0),
            4
        );
    }

    #[test]
    fn min_and_max_clamp() {
        let mut c = cfg(Metric::Concurrency, 10.0);
        c.min_replicas = 2;
        c.max_replicas = 6;
        c.scale_down.stabilization = SimDuration::ZERO;
        let mut h = Hpa::new(c);
        assert_eq!(
            h.sync(secs(15), 4, &[PodSample::Ready(1000.0); 4], 1000.0),
            6
        );
        assert_eq!(h.sync(secs(30), 6, &[PodSample::Ready(0.0); 6], 1000.0), 2);
        // Outside the range the controller moves straight to the bound.
        assert_eq!(h.sync(secs(45), 9, &[], 1000.0), 6);
        assert_eq!(h.sync(secs(60), 1, &[], 1000.0), 2);
    }

    #[test]
    fn disabled_select_never_scales_that_way() {
        let mut c = cfg(Metric::Concurrency, 10.0);
        c.scale_down.select = Select::Disabled;
        c.scale_down.stabilization = SimDuration::ZERO;
        let mut h = Hpa::new(c);
        assert_eq!(h.sync(secs(15), 4, &[PodSample::Ready(0.0); 4], 1000.0), 4);
    }

    #[test]
    fn tolerances_up_and_down_are_separate() {
        // KEP-4951: within when 1 - down <= ratio <= 1 + up. Up 0.5, down 0.05
        // over 4 pods at a target of 10 in flight.
        let mut c = cfg(Metric::Concurrency, 10.0);
        c.tolerance_up = 0.5;
        c.tolerance_down = 0.05;
        let h = Hpa::new(c);
        let ready = |v: f64| vec![PodSample::Ready(v); 4];
        // ratio 1.4 and 1.5: within the wide upward band.
        assert_eq!(h.replicas_for_metric(4, &ready(14.0), 1000.0), Some(4));
        assert_eq!(h.replicas_for_metric(4, &ready(15.0), 1000.0), Some(4));
        // 1.6: out -> ceil(6.4) = 7.
        assert_eq!(h.replicas_for_metric(4, &ready(16.0), 1000.0), Some(7));
        // 0.95: on the edge of the narrow downward band, within.
        assert_eq!(h.replicas_for_metric(4, &ready(9.5), 1000.0), Some(4));
        // 0.9: out -> ceil(3.6) = 4 (no change by the formula itself).
        assert_eq!(h.replicas_for_metric(4, &ready(9.0), 1000.0), Some(4));
        // 0.7: out -> ceil(2.8) = 3.
        assert_eq!(h.replicas_for_metric(4, &ready(7.0), 1000.0), Some(3));
    }

    #[test]
    fn without_behavior_the_legacy_path_doubles_at_most_and_keeps_the_window_edge() {
        // `normalizeDesiredReplicas` (horizontal.go): scale-up capped at
        // max(2 x current, 4) per sync, no per-period policies.
        let mut c = cfg(Metric::Rps, 1.0);
        c.legacy = true;
        c.max_replicas = 50;
        let mut h = Hpa::new(c);
        let mut current = 1;
        let mut seen = vec![current];
        for k in 1..=5 {
            // Every ready pod sees 100x its target: the formula asks for 100 x pods.
            let s = vec![PodSample::Ready(100.0); current as usize];
            current = h.sync(secs(15 * k), current, &s, 1000.0);
            seen.push(current);
        }
        assert_eq!(seen, [1, 4, 8, 16, 32, 50]);
        // Scale-down stabilisation: the highest recommendation of the last
        // 300 s, one exactly 300 s old included (`Before(cutoff)` drops it).
        let mut c = cfg(Metric::Rps, 1.0);
        c.legacy = true;
        let mut h = Hpa::new(c);
        let at = |v: f64, n: usize| vec![PodSample::Ready(v); n];
        // t = 0: 10 pods at target -> recommendation 10 (within tolerance).
        assert_eq!(h.sync(secs(0), 10, &at(1.0, 10), 1000.0), 10);
        // Then no load at all: recommendation 1, held at 10 through t = 300.
        for k in 1..=20 {
            assert_eq!(
                h.sync(secs(15 * k), 10, &at(0.0, 10), 1000.0),
                10,
                "t = {}",
                15 * k
            );
        }
        // At t = 315 the t = 0 recommendation is 315 s old: out.
        assert_eq!(h.sync(secs(315), 10, &at(0.0, 10), 1000.0), 1);
    }
}
