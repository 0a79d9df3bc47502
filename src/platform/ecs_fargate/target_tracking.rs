//! Service Auto Scaling target tracking, as Application Auto Scaling runs it
//! for an ECS service: pure logic, fed one datapoint per period.
//!
//! Target tracking creates two CloudWatch alarms: a high one (the last
//! `datapoints_out` datapoints above the target) that scales out, and a low
//! one (the last `datapoints_in` below `scale_in_threshold` x the target)
//! that scales in. The new desired count is computed from the tasks
//! *running*, not the desired count ("the actual running task count ... is
//! the value that Service Auto Scaling uses as its starting point", Amazon
//! ECS developer guide, 'Automatically scale your Amazon ECS service'):
//! ceil(running x metric / target). A scale-out during the scale-out
//! cooldown applies only if it is larger than what is already desired; a
//! scale-in waits for the scale-in cooldown; a scale-out ends a running
//! scale-in cooldown (Application Auto Scaling user guide, 'Target tracking
//! scaling policies'). A period without data (no task running) is
//! insufficient data, which neither alarm reads as high or low.

use std::collections::VecDeque;

use crate::time::{SimDuration, SimTime};

/// The metric a target-tracking policy follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackingMetric {
    /// `ECSServiceAverageCPUUtilization`: CPU used / CPU of the running
    /// tasks over the period, as a fraction.
    Cpu,
    /// `ALBRequestCountPerTarget`: requests routed to the service's targets
    /// per healthy target per minute.
    Requests,
}

/// A validated target-tracking policy.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackingConfig {
    pub metric: TrackingMetric,
    /// Utilisation fraction (cpu) or requests per target per minute.
    pub target: f64,
    pub min_tasks: u32,
    pub max_tasks: u32,
    /// One datapoint per period: 60 s, or 20 s (high-resolution metrics).
    pub period: SimDuration,
    pub scale_out_cooldown: SimDuration,
    pub scale_in_cooldown: SimDuration,
    pub datapoints_out: u32,
    pub datapoints_in: u32,
    pub scale_in_threshold: f64,
}

/// A policy's state: the recent datapoints and the cooldowns.
#[derive(Debug, Clone)]
pub struct TargetTracking {
    pub cfg: TrackingConfig,
    /// The latest datapoints, newest at the back; `None` for insufficient data.
    history: VecDeque<Option<f64>>,
    /// The scale-in cooldown runs until then.
    in_until: SimTime,
}

/// What a datapoint led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracking {
    Keep,
    ScaleOut(u32),
    ScaleIn(u32),
}

impl TargetTracking {
    pub fn new(cfg: TrackingConfig) -> Self {
        TargetTracking {
            cfg,
            history: VecDeque::new(),
            in_until: SimTime::ZERO,
        }
    }

    /// Whether the last `n` datapoints all exist and satisfy `f`.
    fn last_all(&self, n: u32, f: impl Fn(f64) -> bool) -> bool {
        let n = n as usize;
        self.history.len() >= n && self.history.iter().rev().take(n).all(|d| d.is_some_and(&f))
    }

    /// ceil(running x value / target), clamped to the bounds. A hair below
    /// an integer is that integer: 4 tasks at 0.9 of a 0.6 target ask for 6,
    /// not 7, whatever the floating point says.
    fn proposal(&self, running: u32, value: f64) -> u32 {
        let x = f64::from(running) * value / self.cfg.target;
        let n = (x - 1e-9).ceil().max(0.0) as u32;
        n.clamp(self.cfg.min_tasks, self.cfg.max_tasks)
    }

    /// The datapoint of the period ending at `now` (`None`: no data), with
    /// `running` tasks running and `desired` desired.
    pub fn datapoint(
        &mut self,
        now: SimTime,
        value: Option<f64>,
        running: u32,
        desired: u32,
    ) -> Tracking {
        self.history.push_back(value);
        let keep = self.cfg.datapoints_out.max(self.cfg.datapoints_in) as usize;
        while self.history.len() > keep {
            self.history.pop_front();
        }
        let target = self.cfg.target;
        let Some(latest) = value else {
            return Tracking::Keep;
        };
        if self.last_all(self.cfg.datapoints_out, |v| v > target) {
            let n = self.proposal(running, latest);
            // Within the scale-out cooldown only a larger scale-out than
            // the one made applies; counted from the running tasks, outside
            // it too nothing below the desired count does: the same
            // comparison either way, so the cooldown itself changes nothing.
            if n > desired {
                // A scale-out ends the scale-in cooldown.
                self.in_until = now;
                return Tracking::ScaleOut(n);
            }
            return Tracking::Keep;
        }
        let low = self.cfg.scale_in_threshold * target;
        if self.last_all(self.cfg.datapoints_in, |v| v < low) && now >= self.in_until {
            let n = self.proposal(running, latest);
            if n < desired {
                self.in_until = now + self.cfg.scale_in_cooldown;
                return Tracking::ScaleIn(n);
            }
        }
        Tracking::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TrackingConfig {
        TrackingConfig {
            metric: TrackingMetric::Cpu,
            target: 0.5,
            min_tasks: 2,
            max_tasks: 50,
            period: SimDuration::from_secs(60),
            scale_out_cooldown: SimDuration::from_secs(300),
            scale_in_cooldown: SimDuration::from_secs(300),
            datapoints_out: 3,
            datapoints_in: 15,
            scale_in_threshold: 0.9,
        }
    }

    fn at(minute: u64) -> SimTime {
        SimTime(minute * 60_000_000_000)
    }

    #[test]
    fn scale_out_needs_three_high_datapoints_and_counts_from_running_tasks() {
        let mut t = TargetTracking::new(cfg());
        // 2 tasks at 100 % of a 50 % target.
        assert_eq!(t.datapoint(at(1), Some(1.0), 2, 2), Tracking::Keep);
        assert_eq!(t.datapoint(at(2), Some(1.0), 2, 2), Tracking::Keep);
        // Third high datapoint: ceil(2 x 1.0 / 0.5) = 4.
        assert_eq!(t.datapoint(at(3), Some(1.0), 2, 2), Tracking::ScaleOut(4));
        // Still high, the 2 new tasks not running yet: ceil(2 x 1.0 / 0.5) =
        // 4 again, not larger than desired: nothing, cooldown or not.
        assert_eq!(t.datapoint(at(4), Some(1.0), 2, 4), Tracking::Keep);
        // Within the cooldown a larger scale-out applies: 2 x 1.5 / 0.5 = 6.
        assert_eq!(t.datapoint(at(5), Some(1.5), 2, 4), Tracking::ScaleOut(6));
        // Running counts, not desired: 6 running at 0.6 -> ceil(7.2) = 8.
        assert_eq!(t.datapoint(at(6), Some(0.6), 6, 6), Tracking::ScaleOut(8));
        // The maximum bounds it.
        assert_eq!(
            t.datapoint(at(7), Some(1.0), 40, 40),
            Tracking::ScaleOut(50)
        );
    }

    #[test]
    fn a_datapoint_below_the_target_or_missing_breaks_the_streak() {
        let mut t = TargetTracking::new(cfg());
        t.datapoint(at(1), Some(0.9), 2, 2);
        t.datapoint(at(2), Some(0.9), 2, 2);
        // Exactly at target is not above it.
        assert_eq!(t.datapoint(at(3), Some(0.5), 2, 2), Tracking::Keep);
        assert_eq!(t.datapoint(at(4), Some(0.9), 2, 2), Tracking::Keep);
        assert_eq!(t.datapoint(at(5), None, 0, 2), Tracking::Keep);
        assert_eq!(t.datapoint(at(6), Some(0.9), 2, 2), Tracking::Keep);
        assert_eq!(t.datapoint(at(7), Some(0.9), 2, 2), Tracking::Keep);
        assert_eq!(t.datapoint(at(8), Some(0.9), 2, 2), Tracking::ScaleOut(4));
    }

    #[test]
    fn scale_in_needs_fifteen_low_datapoints_and_waits_for_its_cooldown() {
        let mut t = TargetTracking::new(cfg());
        // 10 tasks at 20 % of a 50 % target (below 0.9 x 0.5 = 0.45).
        for m in 1..15 {
            assert_eq!(
                t.datapoint(at(m), Some(0.2), 10, 10),
                Tracking::Keep,
                "minute {m}"
            );
        }
        // The fifteenth: ceil(10 x 0.2 / 0.5) = 4.
        assert_eq!(t.datapoint(at(15), Some(0.2), 10, 10), Tracking::ScaleIn(4));
        // Lower still, but the 300 s scale-in cooldown runs until minute 20.
        for m in 16..20 {
            assert_eq!(
                t.datapoint(at(m), Some(0.1), 4, 4),
                Tracking::Keep,
                "minute {m}"
            );
        }
        // Then ceil(4 x 0.1 / 0.5) = 1, held at the minimum of 2.
        assert_eq!(t.datapoint(at(20), Some(0.1), 4, 4), Tracking::ScaleIn(2));
        // 0.44 is below 0.45: low; 0.46 is not.
        let mut t = TargetTracking::new(cfg());
        for m in 1..=15 {
            let d = if m == 8 { 0.46 } else { 0.44 };
            assert_eq!(
                t.datapoint(at(m), Some(d), 10, 10),
                Tracking::Keep,
                "minute {m}"
            );
        }
    }

    #[test]
    fn a_scale_out_ends_the_scale_in_cooldown() {
        // A one-hour scale-in cooldown, to see it end early.
        let long = TrackingConfig {
            scale_in_cooldown: SimDuration::from_secs(3600),
            ..cfg()
        };
        let scale_in_again = |scale_out: bool| {
            let mut t = TargetTracking::new(long.clone());
            for m in 1..=15 {
                t.datapoint(at(m), Some(0.2), 10, 10);
            }
            // Scaled in to 4 at minute 15; cooldown until minute 75.
            let mut desired = 4;
            if scale_out {
                for m in 16..=17 {
                    assert_eq!(t.datapoint(at(m), Some(0.9), 4, 4), Tracking::Keep);
                }
                assert_eq!(t.datapoint(at(18), Some(0.9), 4, 4), Tracking::ScaleOut(8));
                desired = 8;
            }
            // Fifteen low datapoints, minutes 19 to 33.
            (19..=33)
                .map(|m| t.datapoint(at(m), Some(0.1), desired, desired))
                .find(|d| *d != Tracking::Keep)
        };
        // The scale-out at minute 18 ended the cooldown: a scale-in at 33.
        assert_eq!(scale_in_again(true), Some(Tracking::ScaleIn(2)));
        // Without it, the cooldown holds every scale-in until minute 75.
        assert_eq!(scale_in_again(false), None);
    }
}
