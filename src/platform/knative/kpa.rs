//! The Knative Pod Autoscaler's decision, following knative/serving
//! `pkg/autoscaler/scaling/autoscaler.go` (`Scale`): pure logic, fed the
//! stable- and panic-window averages of in-flight requests at each tick.
//!
//! desired = ceil(observed / target) for each window, kept within
//! [floor(ready / max_scale_down_rate), ceil(max_scale_up_rate x ready)]
//! (ready counted as at least 1); panic mode starts when the panic window's
//! count reaches `panic_threshold` x ready, lasts until a full stable window
//! has passed without crossing it, uses the larger of the two counts and
//! never scales down while it lasts (the `maxPanicPods` ratchet).
//! Cloud Run's autoscaler is the stable half alone (no panic mode, no
//! scale-down bound).

use super::config::ScalerConfig;
use crate::time::SimTime;

/// The autoscaler's state between ticks.
#[derive(Debug, Clone)]
pub struct Kpa {
    pub cfg: ScalerConfig,
    /// When panic mode was last (re)entered.
    panic_since: Option<SimTime>,
    max_panic_pods: u32,
}

/// One tick's inputs.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    /// Average in-flight requests over the stable and the panic windows.
    pub stable: f64,
    pub panic: f64,
    /// Instances ready.
    pub ready: u32,
}

impl Kpa {
    pub fn new(cfg: ScalerConfig) -> Self {
        Kpa {
            cfg,
            panic_since: None,
            max_panic_pods: 0,
        }
    }

    /// Whether panic mode is on.
    pub fn panicking(&self) -> bool {
        self.panic_since.is_some()
    }

    /// The desired scale at `now` (before min / max and the scale-down delay).
    pub fn decide(&mut self, now: SimTime, o: Observed) -> u32 {
        let c = &self.cfg;
        let ready = f64::from(o.ready.max(1));
        let max_up = (c.max_scale_up_rate * ready).ceil();
        let max_down = if o.ready > 0 {
            (ready / c.max_scale_down_rate).floor()
        } else {
            0.0
        };
        let dspc = (o.stable / c.target).ceil();
        let dppc = (o.panic / c.target).ceil();
        let bound = |x: f64| x.max(max_down).min(max_up) as u32;
        let stable_pods = bound(dspc);
        let panic_pods = bound(dppc);
        let Some((_, threshold)) = c.panic else {
            return stable_pods;
        };
        let over = dppc / ready >= threshold;
        if over {
            // Entering, or still over: the panic runs on from now.
            self.panic_since = Some(now);
        } else if self.panic_since.is_some_and(|t| t + c.stable_window < now) {
            // The surge has made its way into the stable window.
            self.panic_since = None;
            self.max_panic_pods = 0;
        }
        let mut desired = stable_pods;
        if self.panic_since.is_some() {
            desired = desired.max(panic_pods);
            if desired > self.max_panic_pods {
                self.max_panic_pods = desired;
            } else {
                desired = self.max_panic_pods;
            }
        }
        desired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    fn kpa() -> Kpa {
        // A target of 10 in flight per instance.
        Kpa::new(ScalerConfig {
            tick: SimDuration::from_secs(2),
            stable_window: SimDuration::from_secs(60),
            panic: Some((SimDuration::from_secs(6), 2.0)),
            max_scale_up_rate: 1000.0,
            max_scale_down_rate: 2.0,
            target: 10.0,
        })
    }

    fn at(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    fn obs(stable: f64, panic: f64, ready: u32) -> Observed {
        Observed {
            stable,
            panic,
            ready,
        }
    }

    #[test]
    fn the_stable_window_sets_the_scale_within_the_rate_bounds() {
        let mut k = kpa();
        // 35 in flight over 4 ready: ceil(3.5) = 4, no panic (ceil(3.5) / 4 < 2).
        assert_eq!(k.decide(at(2), obs(35.0, 35.0, 4)), 4);
        assert!(!k.panicking());
        // A drop to 5: ceil(0.5) = 1, but at most halving per tick: floor(4 / 2) = 2.
        assert_eq!(k.decide(at(4), obs(5.0, 5.0, 4)), 2);
        // From 0 ready (counted as 1): up to 1000 at once; down to 0 allowed.
        assert_eq!(k.decide(at(6), obs(0.0, 0.0, 0)), 0);
    }

    #[test]
    fn panic_starts_at_twice_the_capacity_and_never_scales_down_while_it_lasts() {
        let mut k = kpa();
        // 2 ready, the panic window sees 40 in flight: ceil(4) / 2 = 2 >= 2: panic.
        // The stable window lags (15): max(ceil(1.5) = 2, 4) = 4.
        assert_eq!(k.decide(at(2), obs(15.0, 40.0, 2)), 4);
        assert!(k.panicking());
        // The burst ends: the panic window sees 5 -> 1 wanted, below threshold;
        // still within 60 s of the last crossing: the ratchet holds 4.
        assert_eq!(k.decide(at(4), obs(12.0, 5.0, 4)), 4);
        assert_eq!(k.decide(at(60), obs(12.0, 5.0, 4)), 4);
        // 62 s is exactly one stable window after the crossing at 2 s: not yet
        // past it (`Before`), still panicking.
        assert_eq!(k.decide(at(62), obs(12.0, 5.0, 4)), 4);
        // 64 s: past it, panic over, the stable count applies (within the
        // halving bound): ceil(1.2) = 2.
        assert_eq!(k.decide(at(64), obs(12.0, 5.0, 4)), 2);
        assert!(!k.panicking());
    }

    #[test]
    fn a_new_crossing_extends_the_panic_and_the_ratchet_rises() {
        let mut k = kpa();
        assert_eq!(k.decide(at(2), obs(10.0, 40.0, 2)), 4);
        // Again over (ceil(9) / 4 >= 2): 9 pods, the ratchet rises to 9.
        assert_eq!(k.decide(at(30), obs(20.0, 90.0, 4)), 9);
        // Below threshold at 80 s (< 30 + 60): held at 9.
        assert_eq!(k.decide(at(80), obs(20.0, 10.0, 9)), 9);
        // 92 s: past 30 + 60 s, the panic is over: the stable count ceil(2) = 2,
        // bounded by floor(9 / 2) = 4.
        assert_eq!(k.decide(at(92), obs(20.0, 10.0, 9)), 4);
    }
}
