//! `keep_alive = { kind = "hybrid_histogram", ... }`: the keep-alive half of
//! the hybrid histogram policy of Shahrad et al., "Serverless in the Wild"
//! (USENIX ATC 2020, section 4.2).
//!
//! Each function keeps a histogram of its idle times (from the end of an
//! invocation to the next arrival of the same function, when nothing arrived
//! in between) in `bin_s` bins over `range_s`. Once it holds `min_samples`
//! idle times, fewer than `max_out_of_range` of them beyond the range, an
//! environment going idle stays warm until the upper edge of the bin holding
//! the `percentile` quantile, plus `margin` of it; before that, or when the
//! pattern falls outside the histogram, it stays `fallback_idle_s`, the
//! platform's fixed window. The paper's defaults: 4-hour range, 1-minute
//! bins, the 99th percentile with a 10 % margin. Its pre-warming (unloading
//! an environment and loading it again before the expected arrival) and its
//! time-series forecast for out-of-range patterns are not modelled: the
//! environment stays loaded from the end of its request, and out-of-range
//! functions get the fallback window.

use serde::Deserialize;

use super::{ExpiryHeap, KeepAlive, KeepAliveDecision, PolicySpec, max_lifetime};
use crate::error::{FieldError, FieldPath};
use crate::time::{SimDuration, SimTime};

/// The scenario table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    range_s: Option<f64>,
    bin_s: Option<f64>,
    percentile: Option<f64>,
    margin: Option<f64>,
    min_samples: Option<i64>,
    max_out_of_range: Option<f64>,
    fallback_idle_s: Option<f64>,
    max_lifetime_s: Option<f64>,
}

/// One function's idle-time histogram.
#[derive(Debug, Clone, PartialEq)]
struct History {
    bins: Vec<u32>,
    in_range: u64,
    out_of_range: u64,
    /// When its last invocation ended, if nothing has arrived since.
    last_end: Option<SimTime>,
}

/// The policy, with every function's histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridHistogram {
    bin: SimDuration,
    percentile: f64,
    margin: f64,
    min_samples: u64,
    max_out_of_range: f64,
    fallback: SimDuration,
    history: Vec<History>,
}

impl PolicySpec for Spec {
    type Policy = HybridHistogram;

    fn compile(
        &self,
        path: &FieldPath,
        functions: usize,
    ) -> Result<(HybridHistogram, SimDuration), FieldError> {
        let range_s = path.num_in("range_s", self.range_s.unwrap_or(14_400.0), 1.0, 1e7)?;
        let bin_s = path.num_in("bin_s", self.bin_s.unwrap_or(60.0), 1e-3, range_s)?;
        let bins = (range_s / bin_s).ceil();
        if bins > 1e6 {
            return Err(path.key("bin_s").error(format!(
                "{bins} bins of {bin_s} s over range_s = {range_s}: at most 1000000; use wider bins"
            )));
        }
        let percentile = path.num_in("percentile", self.percentile.unwrap_or(0.99), 0.01, 1.0)?;
        let margin = path.num_in("margin", self.margin.unwrap_or(0.10), 0.0, 10.0)?;
        let max_out_of_range = path.num_in(
            "max_out_of_range",
            self.max_out_of_range.unwrap_or(0.5),
            0.0,
            1.0,
        )?;
        let fallback = path.secs_in(
            "fallback_idle_s",
            self.fallback_idle_s.unwrap_or(600.0),
            0.0,
            1e9,
        )?;
        let min_samples = path.int_in(
            "min_samples",
            self.min_samples.unwrap_or(10),
            1,
            1_000_000_000,
        )?;
        let history = History {
            bins: vec![0; bins as usize],
            in_range: 0,
            out_of_range: 0,
            last_end: None,
        };
        let policy = HybridHistogram {
            bin: SimDuration::from_secs_f64(bin_s),
            percentile,
            margin,
            min_samples: u64::from(min_samples),
            max_out_of_range,
            fallback,
            history: vec![history; functions],
        };
        Ok((policy, max_lifetime(path, self.max_lifetime_s)?))
    }
}

impl HybridHistogram {
    /// The window for `function` from its histogram, or `None` when the
    /// histogram does not (yet) describe it.
    fn window(&self, function: usize) -> Option<SimDuration> {
        let h = &self.history[function];
        let total = h.in_range + h.out_of_range;
        if total < self.min_samples || h.out_of_range as f64 > self.max_out_of_range * total as f64
        {
            return None;
        }
        // The bin where the cumulative count reaches the percentile's rank.
        let rank = ((self.percentile * h.in_range as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        let bin = h.bins.iter().position(|&c| {
            seen += u64::from(c);
            seen >= rank
        })?;
        let edge = self.bin.0 as f64 * (bin + 1) as f64;
        Some(SimDuration((edge * (1.0 + self.margin)).round() as u64))
    }
}

impl KeepAlive for HybridHistogram {
    /// Windows differ per function and over time: a lazy heap.
    type Deadlines = ExpiryHeap;

    fn deadlines(&self) -> ExpiryHeap {
        ExpiryHeap::default()
    }

    fn on_arrival(&mut self, function: u32, now: SimTime) {
        let bins = self.history[function as usize].bins.len();
        let h = &mut self.history[function as usize];
        if let Some(end) = h.last_end.take() {
            let bin = (now.since(end).0 / self.bin.0.max(1)) as usize;
            if bin < bins {
                h.bins[bin] += 1;
                h.in_range += 1;
            } else {
                h.out_of_range += 1;
            }
        }
    }

    fn on_idle(&mut self, function: u32, now: SimTime) -> KeepAliveDecision {
        let f = function as usize;
        self.history[f].last_end = Some(now);
        KeepAliveDecision::KeepFor(self.window(f).unwrap_or(self.fallback))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(min_samples: i64) -> HybridHistogram {
        let spec = Spec {
            range_s: Some(600.0),
            bin_s: Some(60.0),
            percentile: Some(0.99),
            margin: Some(0.1),
            min_samples: Some(min_samples),
            max_out_of_range: Some(0.5),
            fallback_idle_s: Some(300.0),
            max_lifetime_s: None,
        };
        spec.compile(&FieldPath::root(), 1).unwrap().0
    }

    fn secs(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    #[test]
    fn the_window_is_the_percentiles_bin_edge_plus_the_margin() {
        let mut p = policy(3);
        // Idle times of 30 s, 90 s and 150 s: bins 0, 1 and 2.
        let mut t = 0;
        for gap in [30, 90, 150] {
            p.on_idle(0, secs(t));
            t += gap;
            p.on_arrival(0, secs(t));
        }
        // Rank ceil(0.99 x 3) = 3 lies in bin 2, whose upper edge is 180 s: x 1.1.
        assert_eq!(
            p.on_idle(0, secs(t)),
            KeepAliveDecision::KeepFor(SimDuration::from_secs(198))
        );
    }

    #[test]
    fn too_few_or_out_of_range_idle_times_fall_back() {
        let mut p = policy(3);
        let fallback = KeepAliveDecision::KeepFor(SimDuration::from_secs(300));
        assert_eq!(p.on_idle(0, secs(0)), fallback, "no history yet");
        p.on_arrival(0, secs(30));
        assert_eq!(p.on_idle(0, secs(40)), fallback, "one sample of three");
        // Two idle times beyond the 600 s range: 2 of 3 out of range.
        p.on_arrival(0, secs(1000));
        p.on_idle(0, secs(1001));
        p.on_arrival(0, secs(2000));
        assert_eq!(p.on_idle(0, secs(2001)), fallback);
        // The next arrival records its 1 s idle time; one with no end
        // before it (a second request while the first runs) records nothing.
        p.on_arrival(0, secs(2002));
        p.on_arrival(0, secs(2003));
        assert_eq!(p.history[0].in_range + p.history[0].out_of_range, 4);
    }
}
