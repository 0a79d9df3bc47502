//! Duration distributions (README, 'Distributions'): work, Lambda INIT, pod
//! startup, node provisioning.
//!
//! Every form accepts `_ms` or `_s` fields, as the writer prefers. Sampling
//! returns whole nanoseconds. Transcendental functions come from `libm`
//! rather than the platform's maths library, so samples are the same bits on
//! every operating system.

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use serde::Deserialize;

use crate::error::{FieldError, FieldPath};
use crate::rng::{SimRng, exp1};
use crate::time::SimDuration;

/// The standard normal quantile at 0.99, used to turn (median, p99) into sigma.
const Z_99: f64 = 2.326_347_874_040_840_8;

/// Longest duration any distribution may produce or be configured with \[s\]
/// (about 31.7 years): keeps every nanosecond sum far from `u64` overflow.
pub const MAX_DURATION_S: f64 = 1e9;

/// A duration distribution as written in a scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DistSpec {
    Constant(ConstantSpec),
    Exponential(ExponentialSpec),
    Lognormal(LognormalSpec),
    Uniform(UniformSpec),
    Pareto(ParetoSpec),
    Empirical(EmpiricalSpec),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantSpec {
    ms: Option<f64>,
    s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExponentialSpec {
    mean_ms: Option<f64>,
    mean_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LognormalSpec {
    median_ms: Option<f64>,
    median_s: Option<f64>,
    p99_ms: Option<f64>,
    p99_s: Option<f64>,
    /// Mean of ln(duration in seconds).
    mu: Option<f64>,
    /// Standard deviation of ln(duration in seconds).
    sigma: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniformSpec {
    min_ms: Option<f64>,
    min_s: Option<f64>,
    max_ms: Option<f64>,
    max_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParetoSpec {
    scale_ms: Option<f64>,
    scale_s: Option<f64>,
    shape: f64,
    max_ms: Option<f64>,
    max_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmpiricalSpec {
    /// `[[percent, ms], ...]`, percent from 0 to 100.
    percentiles: Option<Vec<(f64, f64)>>,
    /// `[[percent, s], ...]`.
    percentiles_s: Option<Vec<(f64, f64)>>,
}

/// A validated distribution, ready to sample.
///
/// A one-byte tag (`repr(u8)`): without it the variant lives in a niche of
/// the empirical knots' vector, and every draw decodes it (callgrind,
/// Lambda 1 M requests: 970.1 M instructions with the niche, 961.1 M
/// with the tag).
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum Dist {
    Constant(SimDuration),
    Exponential {
        mean_s: f64,
    },
    /// Parameters of ln(duration in seconds).
    Lognormal {
        mu: f64,
        sigma: f64,
    },
    Uniform {
        min_s: f64,
        max_s: f64,
    },
    Pareto {
        scale_s: f64,
        shape: f64,
        max_s: f64,
    },
    /// Inverse CDF knots: cumulative probability (0..=1) and seconds.
    Empirical {
        p: Vec<f64>,
        v: Vec<f64>,
    },
}

/// Reads one of a `_ms` / `_s` pair as seconds; exactly one may be given.
fn seconds(
    path: &FieldPath,
    ms: (&str, Option<f64>),
    s: (&str, Option<f64>),
) -> Result<Option<f64>, FieldError> {
    let value = match (ms.1, s.1) {
        (Some(_), Some(_)) => {
            return Err(path.error(format!("give either `{}` or `{}`, not both", ms.0, s.0)));
        }
        (Some(v), None) => Some((ms.0, v / 1e3, v)),
        (None, Some(v)) => Some((s.0, v, v)),
        (None, None) => None,
    };
    match value {
        None => Ok(None),
        Some((name, secs, raw)) => {
            if !raw.is_finite() || raw < 0.0 {
                return Err(path
                    .key(name)
                    .error(format!("{name} = {raw}: must be a finite number >= 0")));
            }
            if secs > MAX_DURATION_S {
                return Err(path.key(name).error(format!(
                    "{name} = {raw}: longer than the {MAX_DURATION_S:e} s surgesim accepts"
                )));
            }
            Ok(Some(secs))
        }
    }
}

fn required(
    path: &FieldPath,
    ms: (&str, Option<f64>),
    s: (&str, Option<f64>),
) -> Result<f64, FieldError> {
    seconds(path, ms, s)?.ok_or_else(|| {
        path.error(format!(
            "missing `{}` (or `{}`): add it to this distribution",
            ms.0, s.0
        ))
    })
}

impl DistSpec {
    /// Validates the parameters at `path` into a samplable distribution.
    pub fn compile(&self, path: &FieldPath) -> Result<Dist, FieldError> {
        match self {
            DistSpec::Constant(c) => {
                let v = required(path, ("ms", c.ms), ("s", c.s))?;
                Ok(Dist::Constant(SimDuration::from_secs_f64(v)))
            }
            DistSpec::Exponential(e) => {
                let mean_s = required(path, ("mean_ms", e.mean_ms), ("mean_s", e.mean_s))?;
                Ok(Dist::Exponential { mean_s })
            }
            DistSpec::Lognormal(l) => {
                let median = seconds(path, ("median_ms", l.median_ms), ("median_s", l.median_s))?;
                let p99 = seconds(path, ("p99_ms", l.p99_ms), ("p99_s", l.p99_s))?;
                match (median, p99, l.mu, l.sigma) {
                    (Some(m), Some(q), None, None) => {
                        if m <= 0.0 {
                            return Err(path.error("the median must be > 0"));
                        }
                        if q <= m {
                            return Err(path.error(format!(
                                "p99 ({} ms) must be greater than the median ({} ms)",
                                q * 1e3,
                                m * 1e3
                            )));
                        }
                        Ok(Dist::lognormal(m, q))
                    }
                    (None, None, Some(mu), Some(sigma)) => {
                        if !mu.is_finite() || mu > libm::log(MAX_DURATION_S) {
                            return Err(path.key("mu").error(format!(
                                "mu = {mu}: must be finite and at most ln({MAX_DURATION_S:e})"
                            )));
                        }
                        if !(sigma.is_finite() && sigma > 0.0 && sigma <= 10.0) {
                            return Err(path
                                .key("sigma")
                                .error(format!("sigma = {sigma}: must be in (0, 10]")));
                        }
                        Ok(Dist::Lognormal { mu, sigma })
                    }
                    _ => Err(path.error(
                        "a lognormal takes either `median_ms` and `p99_ms` (or `median_s` and \
                         `p99_s`), or `mu` and `sigma` (of ln-seconds)",
                    )),
                }
            }
            DistSpec::Uniform(u) => {
                let min_s = required(path, ("min_ms", u.min_ms), ("min_s", u.min_s))?;
                let max_s = required(path, ("max_ms", u.max_ms), ("max_s", u.max_s))?;
                if max_s < min_s {
                    return Err(path.error("the maximum must be at least the minimum"));
                }
                Ok(Dist::Uniform { min_s, max_s })
            }
            DistSpec::Pareto(p) => {
                let scale_s = required(path, ("scale_ms", p.scale_ms), ("scale_s", p.scale_s))?;
                if scale_s <= 0.0 {
                    return Err(path.error("the scale must be > 0"));
                }
                if !(p.shape.is_finite() && p.shape > 0.0) {
                    return Err(path
                        .key("shape")
                        .error(format!("shape = {}: must be > 0", p.shape)));
                }
                let max_s = seconds(path, ("max_ms", p.max_ms), ("max_s", p.max_s))?
                    .unwrap_or(MAX_DURATION_S);
                if max_s < scale_s {
                    return Err(path.error("the maximum must be at least the scale"));
                }
                Ok(Dist::Pareto {
                    scale_s,
                    shape: p.shape,
                    max_s,
                })
            }
            DistSpec::Empirical(e) => {
                let (field, knots, to_s) = match (&e.percentiles, &e.percentiles_s) {
                    (Some(k), None) => ("percentiles", k, 1e-3),
                    (None, Some(k)) => ("percentiles_s", k, 1.0),
                    _ => {
                        return Err(path.error(
                            "an empirical distribution takes exactly one of `percentiles` \
                             ([[percent, ms], ...]) or `percentiles_s`",
                        ));
                    }
                };
                let fpath = path.key(field);
                if knots.len() < 2 {
                    return Err(fpath.error("needs at least two [p, value] points"));
                }
                // p is a percent (0-100) or, when the last is 1, a fraction (0-1).
                let scale = if knots.last().map(|k| k.0) == Some(1.0) {
                    1.0
                } else {
                    100.0
                };
                let mut p = Vec::with_capacity(knots.len());
                let mut v = Vec::with_capacity(knots.len());
                for (i, &(pct, val)) in knots.iter().enumerate() {
                    if !(pct.is_finite() && (0.0..=scale).contains(&pct)) {
                        return Err(fpath.index(i).error(format!(
                            "p = {pct} must be a percent from 0 to 100 (or a fraction from 0 to 1)"
                        )));
                    }
                    let secs = val * to_s;
                    if !(val.is_finite() && val >= 0.0 && secs <= MAX_DURATION_S) {
                        return Err(fpath
                            .index(i)
                            .error(format!("value {val} must be a finite duration >= 0")));
                    }
                    if let (Some(&lp), Some(&lv)) = (p.last(), v.last())
                        && (pct / scale < lp || secs < lv)
                    {
                        return Err(fpath
                            .index(i)
                            .error("percents and values must both be non-decreasing"));
                    }
                    p.push(pct / scale);
                    v.push(secs);
                }
                if p[0] != 0.0 || p[p.len() - 1] != 1.0 {
                    return Err(
                        fpath.error("the points must start at percent 0 and end at percent 100")
                    );
                }
                Ok(Dist::Empirical { p, v })
            }
        }
    }
}

impl Dist {
    /// The lognormal with the given median and 99th percentile \[s\].
    pub fn lognormal(median_s: f64, p99_s: f64) -> Dist {
        Dist::Lognormal {
            mu: libm::log(median_s),
            sigma: libm::log(p99_s / median_s) / Z_99,
        }
    }

    /// Draws one duration. Constant and exponential, the commonest, are
    /// drawn inline, in the caller's loop; the others out of line.
    #[inline(always)]
    pub fn sample(&self, rng: &mut SimRng) -> SimDuration {
        let secs = match self {
            Dist::Constant(d) => return *d,
            Dist::Exponential { mean_s } => {
                let e = exp1(rng);
                (e * mean_s).min(MAX_DURATION_S)
            }
            _ => self.other_secs(rng),
        };
        SimDuration::from_secs_f64(secs)
    }

    /// A draw of the kinds [`Dist::sample`] leaves out of line \[s\].
    #[inline(never)]
    fn other_secs(&self, rng: &mut SimRng) -> f64 {
        match self {
            Dist::Constant(_) | Dist::Exponential { .. } => {
                unreachable!("drawn inline by Dist::sample")
            }
            Dist::Lognormal { mu, sigma } => {
                let z: f64 = StandardNormal.sample(rng);
                libm::exp(mu + sigma * z).min(MAX_DURATION_S)
            }
            Dist::Uniform { min_s, max_s } => min_s + (max_s - min_s) * rng.random::<f64>(),
            Dist::Pareto {
                scale_s,
                shape,
                max_s,
            } => {
                // Inverse CDF; 1 - u lies in (0, 1], so the power is finite.
                let u: f64 = rng.random();
                (scale_s * libm::pow(1.0 - u, -1.0 / shape)).min(*max_s)
            }
            Dist::Empirical { p, v } => {
                let u: f64 = rng.random();
                let i = p.partition_point(|&x| x <= u).clamp(1, p.len() - 1);
                let (p0, p1, v0, v1) = (p[i - 1], p[i], v[i - 1], v[i]);
                if p1 > p0 {
                    v0 + (v1 - v0) * (u - p0) / (p1 - p0)
                } else {
                    v1
                }
            }
        }
    }

    /// The distribution's mean \[s\] (for the capped Pareto, of the capped variable).
    pub fn mean_s(&self) -> f64 {
        match self {
            Dist::Constant(d) => d.as_secs_f64(),
            Dist::Exponential { mean_s } => *mean_s,
            Dist::Lognormal { mu, sigma } => libm::exp(mu + sigma * sigma / 2.0),
            Dist::Uniform { min_s, max_s } => (min_s + max_s) / 2.0,
            Dist::Pareto {
                scale_s: x,
                shape: a,
                max_s: m,
            } => {
                // E[min(X, m)] = x + integral from x to m of (x/t)^a dt.
                let tail = if (a - 1.0).abs() < 1e-12 {
                    x * libm::log(m / x)
                } else {
                    x / (1.0 - a) * (libm::pow(m / x, 1.0 - a) - 1.0)
                };
                x + tail
            }
            Dist::Empirical { p, v } => p
                .windows(2)
                .zip(v.windows(2))
                .map(|(pw, vw)| (pw[1] - pw[0]) * (vw[0] + vw[1]) / 2.0)
                .sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn compile(src: &str) -> Result<Dist, FieldError> {
        let spec: DistSpec = toml::from_str(src).unwrap();
        spec.compile(&FieldPath::root().key("work"))
    }

    fn sample_mean(d: &Dist, n: usize) -> f64 {
        let mut rng = stream(7, 0, "test");
        (0..n)
            .map(|_| d.sample(&mut rng).as_secs_f64())
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn lognormal_from_median_and_p99_hits_both_quantiles() {
        let d = compile("kind = 'lognormal'\nmedian_ms = 80\np99_ms = 400").unwrap();
        let mut rng = stream(1, 0, "q");
        let mut xs: Vec<f64> = (0..200_000)
            .map(|_| d.sample(&mut rng).as_millis_f64())
            .collect();
        xs.sort_by(f64::total_cmp);
        // 200k samples: the sample median and p99 have standard errors well under
        // 1 % of their values, so 2 % catches a wrong sigma or mu.
        assert!(
            (xs[100_000] / 80.0 - 1.0).abs() < 0.02,
            "median {}",
            xs[100_000]
        );
        assert!(
            (xs[198_000] / 400.0 - 1.0).abs() < 0.02,
            "p99 {}",
            xs[198_000]
        );
    }

    #[test]
    fn sample_means_match_analytic_means() {
        // 400k samples: the relative standard error of the mean is below
        // 0.5 % for every case here (CV <= 2), so a 2 % band is > 4 sigma.
        for src in [
            "kind = 'exponential'\nmean_ms = 100",
            "kind = 'uniform'\nmin_ms = 10\nmax_s = 0.03",
            "kind = 'pareto'\nscale_ms = 10\nshape = 2.5\nmax_ms = 1000",
            "kind = 'empirical'\npercentiles = [[0, 1], [50, 10], [99, 100], [100, 200]]",
            "kind = 'lognormal'\nmu = -2.0\nsigma = 0.5",
        ] {
            let d = compile(src).unwrap();
            let m = sample_mean(&d, 400_000);
            assert!(
                (m / d.mean_s() - 1.0).abs() < 0.02,
                "{src}: {m} vs {}",
                d.mean_s()
            );
        }
    }

    #[test]
    fn empirical_points_may_be_percents_or_fractions() {
        let pct =
            compile("kind = 'empirical'\npercentiles = [[0, 1], [50, 10], [100, 200]]").unwrap();
        let frac =
            compile("kind = 'empirical'\npercentiles = [[0, 1], [0.5, 10], [1, 200]]").unwrap();
        assert_eq!(pct, frac);
    }

    #[test]
    fn constant_accepts_ms_or_s() {
        assert_eq!(
            compile("kind = 'constant'\nms = 250").unwrap(),
            Dist::Constant(SimDuration::from_millis(250))
        );
        assert_eq!(
            compile("kind = 'constant'\ns = 2").unwrap(),
            Dist::Constant(SimDuration::from_secs(2))
        );
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let cases = [
            ("kind = 'constant'\nms = 1\ns = 1", "not both"),
            ("kind = 'constant'\nms = -1", "work.ms"),
            (
                "kind = 'lognormal'\nmedian_ms = 100\np99_ms = 50",
                "greater than the median",
            ),
            ("kind = 'lognormal'\nmedian_ms = 100", "either"),
            (
                "kind = 'uniform'\nmin_ms = 10\nmax_ms = 5",
                "at least the minimum",
            ),
            ("kind = 'pareto'\nscale_ms = 10\nshape = 0", "shape"),
            (
                "kind = 'empirical'\npercentiles = [[0, 5], [50, 1], [100, 9]]",
                "non-decreasing",
            ),
            (
                "kind = 'empirical'\npercentiles = [[10, 5], [100, 9]]",
                "start at percent 0",
            ),
        ];
        for (src, needle) in cases {
            let e = compile(src).unwrap_err();
            let text = format!("{}: {}", e.path, e.message);
            assert!(text.contains(needle), "{src}: {text}");
        }
    }
}
