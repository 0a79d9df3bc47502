//! A continuously refilled token bucket in exact integer arithmetic, for
//! the platforms' rate limits (Lambda's scaling buckets, Fargate's task
//! launch quota).

use crate::time::{SimDuration, SimTime};

/// One token is `window` units, and `per_window` units are added per
/// nanosecond, up to `capacity` tokens.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    units: u128,
    cap: u128,
    per_token: u128,
    per_ns: u128,
    last: SimTime,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `per_window` tokens per `window`.
    pub fn new(capacity: u32, per_window: u32, window: SimDuration) -> Self {
        let per_token = u128::from(window.0);
        TokenBucket {
            units: u128::from(capacity) * per_token,
            cap: u128::from(capacity) * per_token,
            per_token,
            per_ns: u128::from(per_window),
            last: SimTime::ZERO,
        }
    }

    fn refill(&mut self, now: SimTime) {
        let elapsed = u128::from(now.since(self.last).0);
        self.units = (self.units + elapsed * self.per_ns).min(self.cap);
        self.last = now;
    }

    /// Takes one token at `now` if there is one.
    pub fn take(&mut self, now: SimTime) -> bool {
        self.refill(now);
        if self.units >= self.per_token {
            self.units -= self.per_token;
            true
        } else {
            false
        }
    }

    /// When the next token will be there (`now` if one is; never without a
    /// refill rate).
    pub fn next_token(&mut self, now: SimTime) -> SimTime {
        self.refill(now);
        if self.units >= self.per_token {
            return now;
        }
        if self.per_ns == 0 {
            return SimTime::MAX;
        }
        let ns = (self.per_token - self.units).div_ceil(self.per_ns);
        SimTime(now.0.saturating_add(ns.min(u128::from(u64::MAX)) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_continuously_up_to_its_capacity() {
        // 2 tokens, 1 per second.
        let mut b = TokenBucket::new(2, 1, SimDuration::from_secs(1));
        let s = |x: f64| SimTime::from_secs_f64(x);
        assert!(b.take(s(0.0)) && b.take(s(0.0)) && !b.take(s(0.0)));
        assert_eq!(b.next_token(s(0.25)), s(1.0));
        assert!(!b.take(s(0.999)) && b.take(s(1.0)));
        // Long idle: capped at 2.
        assert!(b.take(s(100.0)) && b.take(s(100.0)) && !b.take(s(100.0)));
    }
}
