//! Simulation time: `u64` nanoseconds. `f64` appears only at the edges (parsing, output).

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Nanoseconds in one millisecond.
pub const NANOS_PER_MS: u64 = 1_000_000;

/// An instant on the simulation clock [ns since t = 0].
#[derive(
    Copy,
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct SimTime(pub u64);

/// A span of simulated time \[ns\].
#[derive(
    Copy,
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct SimDuration(pub u64);

/// Converts seconds to nanoseconds, rounding to nearest and saturating at the
/// ends of the `u64` range (negative and NaN inputs give 0).
#[inline]
fn secs_to_nanos(secs: f64) -> u64 {
    let ns = secs * NANOS_PER_SEC as f64;
    // Half up, then truncate (saturating): the same as `round` for
    // non-negative values, without a libm call on the hot path. Below 9e18
    // ns (285 years: every time and duration a run meets) through `i64`,
    // which x86-64 converts in one instruction where `u64` takes a dozen;
    // the same value either way.
    if ns > 0.0 && ns < 9.0e18 {
        // SAFETY: 0.5 < ns + 0.5 < 9.0e18 + 1 < 2^63 here, so the value is
        // finite and its truncation fits in an `i64` (the condition of
        // `to_int_unchecked`). A plain `as` would check again and saturate:
        // six more instructions on every arrival and every work drawn.
        unsafe { (ns + 0.5).to_int_unchecked::<i64>() as u64 }
    } else if ns > 0.0 {
        (ns + 0.5) as u64
    } else {
        // Zero, negative or NaN.
        0
    }
}

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `secs` seconds after t = 0 (rounded to the nearest ns).
    pub fn from_secs_f64(secs: f64) -> Self {
        SimTime(secs_to_nanos(secs))
    }

    pub fn as_nanos(self) -> u64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// Time elapsed since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// `self - other`, or zero if `other` is longer.
    pub fn saturating_sub(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_sub(other.0))
    }

    pub fn from_secs_f64(secs: f64) -> Self {
        SimDuration(secs_to_nanos(secs))
    }

    pub fn from_millis_f64(ms: f64) -> Self {
        SimDuration(secs_to_nanos(ms / 1e3))
    }

    pub const fn from_secs(secs: u64) -> Self {
        SimDuration(secs.saturating_mul(NANOS_PER_SEC))
    }

    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms.saturating_mul(NANOS_PER_MS))
    }

    pub fn as_nanos(self) -> u64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_MS as f64
    }

    /// Whole milliseconds, rounded up: Lambda's 1 ms billing granularity.
    pub fn ceil_millis(self) -> u64 {
        self.0.div_ceil(NANOS_PER_MS)
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        self.0 = self.0.saturating_add(d.0);
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}

impl Sub for SimDuration {
    type Output = SimDuration;
    fn sub(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_sub(d.0))
    }
}

/// Formats nanoseconds as seconds with exactly 9 decimals, without going through `f64`.
pub struct Secs9(pub u64);

impl fmt::Display for Secs9 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}",
            self.0 / NANOS_PER_SEC,
            self.0 % NANOS_PER_SEC
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_to_nearest_and_saturate() {
        assert_eq!(SimTime::from_secs_f64(1.5).as_nanos(), 1_500_000_000);
        assert_eq!(SimDuration::from_millis_f64(0.0000004).as_nanos(), 0);
        assert_eq!(SimDuration::from_millis_f64(0.0000006).as_nanos(), 1);
        assert_eq!(SimDuration::from_secs_f64(-3.0), SimDuration::ZERO);
        assert_eq!(SimDuration::from_secs_f64(f64::NAN), SimDuration::ZERO);
        assert_eq!(SimDuration::from_secs_f64(1e300), SimDuration::MAX);
        assert_eq!(SimTime::MAX + SimDuration(5), SimTime::MAX);
    }

    #[test]
    fn the_fast_conversion_gives_the_saturating_one_everywhere() {
        // The i64 path below 9e18 ns against the plain saturating cast, at
        // its edges and beyond (2^63, 2^64, infinities, NaN, negatives).
        let plain = |secs: f64| {
            let ns = secs * NANOS_PER_SEC as f64;
            if ns.is_nan() || ns <= 0.0 {
                0
            } else {
                (ns + 0.5) as u64
            }
        };
        let mut cases = vec![
            0.0,
            -0.0,
            -1.0,
            1e-10,
            4.9e-10,
            5e-10,
            0.1,
            123.456_789_012,
            9.0e9,
            9.223e9,
            9.223_372_036_854_775e9,
            1.8446744e10,
            1e11,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
        ];
        // Around the 9e18 ns switch, a step of one unit in the last place at a time.
        let mut x: f64 = 9.0e9;
        for _ in 0..64 {
            x = f64::from_bits(x.to_bits() - 1);
        }
        for _ in 0..128 {
            cases.push(x);
            x = f64::from_bits(x.to_bits() + 1);
        }
        for s in cases {
            assert_eq!(secs_to_nanos(s), plain(s), "{s:e}");
        }
    }

    #[test]
    fn ceil_millis_rounds_up_partial_milliseconds() {
        assert_eq!(SimDuration(0).ceil_millis(), 0);
        assert_eq!(SimDuration(1).ceil_millis(), 1);
        assert_eq!(SimDuration(100_000_000).ceil_millis(), 100);
        assert_eq!(SimDuration(100_000_001).ceil_millis(), 101);
    }

    #[test]
    fn secs9_is_exact() {
        assert_eq!(Secs9(0).to_string(), "0.000000000");
        assert_eq!(Secs9(12_000_000_345).to_string(), "12.000000345");
    }
}
