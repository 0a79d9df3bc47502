//! Prices and billing rules, in one place.
//!
//! List prices are us-east-1: Lambda's from the AWS Lambda pricing page and
//! the AWS Price List; API Gateway's unverified.

use serde::Deserialize;

use crate::error::{FieldError, FieldPath};

/// Seconds in the 30-day (720 h) month that `cost_per_month_usd` scales to.
pub const MONTH_S: f64 = 30.0 * 86_400.0;

/// A bill broken down as summary.csv reports it \[USD\].
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cost {
    pub requests: f64,
    pub compute: f64,
    pub provisioned: f64,
    pub nodes: f64,
    pub control_plane: f64,
    pub front_door: f64,
}

/// A platform's bill for the measurement window.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bill {
    /// The bill for the measured usage, broken down.
    pub cost: Cost,
    /// The same usage rate over a 30-day month, priced as a month \[USD\].
    pub per_month_usd: f64,
}

impl Cost {
    pub fn total(&self) -> f64 {
        self.requests
            + self.compute
            + self.provisioned
            + self.nodes
            + self.control_plane
            + self.front_door
    }
}

/// Lambda's instruction set: the duration price differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    X86_64,
    Arm64,
}

/// `pricing = { ... }` of a Lambda platform, every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaPricingSpec {
    request_per_million: Option<f64>,
    gb_s_x86: Option<f64>,
    gb_s_arm: Option<f64>,
    provisioned_gb_s: Option<f64>,
    provisioned_duration_gb_s: Option<f64>,
    api_gateway_per_million: Option<f64>,
    free_tier: Option<bool>,
}

/// Lambda list prices \[USD\].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambdaPricing {
    /// Per million started executions: $0.20 (AWS Lambda pricing page).
    pub request_per_million: f64,
    /// Per GB-second of duration, x86 tier 1: $0.0000166667 (AWS Lambda pricing page).
    pub gb_s_x86: f64,
    /// Per GB-second of duration, arm64 tier 1: $0.0000133334 (AWS Lambda pricing page).
    pub gb_s_arm: f64,
    /// Per configured GB-second of provisioned concurrency: $0.0000041667 (AWS Price List,
    /// us-east-1 x86).
    pub provisioned_gb_s: f64,
    /// Per GB-second of duration on provisioned environments: $0.0000097222 (AWS Price List,
    /// us-east-1 x86).
    pub provisioned_duration_gb_s: f64,
    /// Front door per million requests: 0 (none); an HTTP API is $1.00 (us-east-1 list price,
    /// unverified).
    pub api_gateway_per_million: f64,
    /// Subtract the monthly free tier (1 M requests, 400,000 GB-s), prorated.
    pub free_tier: bool,
}

impl Default for LambdaPricing {
    fn default() -> Self {
        LambdaPricing {
            request_per_million: 0.20,
            gb_s_x86: 0.000_016_666_7,
            gb_s_arm: 0.000_013_333_4,
            provisioned_gb_s: 0.000_004_166_7,
            provisioned_duration_gb_s: 0.000_009_722_2,
            api_gateway_per_million: 0.0,
            free_tier: false,
        }
    }
}

/// Monthly free tier: requests and GB-seconds (AWS Lambda pricing page).
const FREE_REQUESTS_PER_MONTH: f64 = 1_000_000.0;
const FREE_GB_S_PER_MONTH: f64 = 400_000.0;

/// Monthly on-demand duration tiers per architecture: (upper bound of the
/// tier [GB-s per month], list price [USD per GB-s]) (AWS Lambda pricing page; AWS Compute
/// Blog, 'Introducing tiered pricing for AWS Lambda'; arm64 tier 3 derived as 80 % of tier 1).
const TIERS_X86: [(f64, f64); 3] = [
    (6e9, 0.000_016_666_7),
    (15e9, 0.000_015),
    (f64::INFINITY, 0.000_013_333_4),
];
const TIERS_ARM: [(f64, f64); 3] = [
    (7.5e9, 0.000_013_333_4),
    (18.75e9, 0.000_012_000_1),
    (f64::INFINITY, 0.000_010_666_7),
];

impl LambdaPricingSpec {
    pub fn compile(&self, path: &FieldPath) -> Result<LambdaPricing, FieldError> {
        let d = LambdaPricing::default();
        let price = |name: &str, v: Option<f64>, default: f64| match v {
            None => Ok(default),
            Some(p) if p.is_finite() && p >= 0.0 => Ok(p),
            Some(p) => Err(path.key(name).error(format!(
                "{name} = {p}: a price must be a finite number >= 0"
            ))),
        };
        Ok(LambdaPricing {
            request_per_million: price(
                "request_per_million",
                self.request_per_million,
                d.request_per_million,
            )?,
            gb_s_x86: price("gb_s_x86", self.gb_s_x86, d.gb_s_x86)?,
            gb_s_arm: price("gb_s_arm", self.gb_s_arm, d.gb_s_arm)?,
            provisioned_gb_s: price(
                "provisioned_gb_s",
                self.provisioned_gb_s,
                d.provisioned_gb_s,
            )?,
            provisioned_duration_gb_s: price(
                "provisioned_duration_gb_s",
                self.provisioned_duration_gb_s,
                d.provisioned_duration_gb_s,
            )?,
            api_gateway_per_million: price(
                "api_gateway_per_million",
                self.api_gateway_per_million,
                d.api_gateway_per_million,
            )?,
            free_tier: self.free_tier.unwrap_or(d.free_tier),
        })
    }
}

/// Billable Lambda usage over some period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LambdaUsage {
    /// Started executions (throttled attempts are free).
    pub requests: f64,
    /// On-demand billed duration (1 ms-rounded, INIT included) x memory [GB-s].
    pub gb_s: f64,
    /// Billed duration of requests served by provisioned environments [GB-s].
    pub provisioned_duration_gb_s: f64,
    /// Configured provisioned concurrency x memory x time (5-minute rounded) [GB-s].
    pub provisioned_gb_s: f64,
    /// The part of `requests` and `gb_s` from functions without provisioned
    /// concurrency: what the free tier may cover.
    pub free_eligible_requests: f64,
    pub free_eligible_gb_s: f64,
    /// Requests that reached the front door, whatever their outcome.
    pub front_door_requests: f64,
}

impl LambdaUsage {
    /// The same usage rate over a period `factor` times as long.
    pub fn scaled(&self, factor: f64) -> LambdaUsage {
        LambdaUsage {
            requests: self.requests * factor,
            gb_s: self.gb_s * factor,
            provisioned_duration_gb_s: self.provisioned_duration_gb_s * factor,
            provisioned_gb_s: self.provisioned_gb_s * factor,
            free_eligible_requests: self.free_eligible_requests * factor,
            free_eligible_gb_s: self.free_eligible_gb_s * factor,
            front_door_requests: self.front_door_requests * factor,
        }
    }
}

impl Cost {
    /// Every component multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Cost {
        Cost {
            requests: self.requests * factor,
            compute: self.compute * factor,
            provisioned: self.provisioned * factor,
            nodes: self.nodes * factor,
            control_plane: self.control_plane * factor,
            front_door: self.front_door * factor,
        }
    }
}

impl LambdaPricing {
    /// Tier-1 duration price for an architecture [USD per GB-s].
    pub fn gb_s(&self, arch: Architecture) -> f64 {
        match arch {
            Architecture::X86_64 => self.gb_s_x86,
            Architecture::Arm64 => self.gb_s_arm,
        }
    }

    /// The duration charge for `gb_s` of on-demand duration in one month:
    /// each tier at its price. A custom tier-1 price scales the lower tiers
    /// by the same factor.
    pub fn tiered_duration(&self, arch: Architecture, gb_s: f64) -> f64 {
        let tiers = match arch {
            Architecture::X86_64 => &TIERS_X86,
            Architecture::Arm64 => &TIERS_ARM,
        };
        let scale = self.gb_s(arch) / tiers[0].1;
        let mut below = 0.0;
        let mut cost = 0.0;
        for &(upper, price) in tiers {
            let in_tier = gb_s.min(upper) - below;
            if in_tier <= 0.0 {
                break;
            }
            cost += in_tier * price * scale;
            below = upper;
        }
        cost
    }

    /// The bill for one month of `usage`: free tier, then duration tiers.
    pub fn bill_month(&self, arch: Architecture, usage: &LambdaUsage) -> Cost {
        let (free_requests, free_gb_s) = if self.free_tier {
            (
                FREE_REQUESTS_PER_MONTH.min(usage.free_eligible_requests),
                FREE_GB_S_PER_MONTH.min(usage.free_eligible_gb_s),
            )
        } else {
            (0.0, 0.0)
        };
        Cost {
            requests: (usage.requests - free_requests).max(0.0) * self.request_per_million / 1e6,
            compute: self.tiered_duration(arch, (usage.gb_s - free_gb_s).max(0.0))
                + usage.provisioned_duration_gb_s * self.provisioned_duration_gb_s,
            provisioned: usage.provisioned_gb_s * self.provisioned_gb_s,
            front_door: usage.front_door_requests * self.api_gateway_per_million / 1e6,
            ..Cost::default()
        }
    }

    /// `usage` at the list prices: tier 1, no free tier (the running cost of
    /// the time series) \[USD\].
    pub fn list_cost(&self, arch: Architecture, usage: &LambdaUsage) -> f64 {
        usage.requests * self.request_per_million / 1e6
            + usage.gb_s * self.gb_s(arch)
            + usage.provisioned_duration_gb_s * self.provisioned_duration_gb_s
            + usage.provisioned_gb_s * self.provisioned_gb_s
            + usage.front_door_requests * self.api_gateway_per_million / 1e6
    }

    /// The bill for `usage` accrued over `period_s` seconds: the usage rate is
    /// priced as a 30-day month (free tier and tiers apply to monthly
    /// volumes) and the month's bill is prorated back to the period.
    pub fn bill(&self, arch: Architecture, usage: &LambdaUsage, period_s: f64) -> Cost {
        self.bill_and_month(arch, usage, period_s).0
    }

    /// [`Self::bill`], and the bill of the same usage rate over a 30-day
    /// month (from which it is prorated).
    pub fn bill_and_month(
        &self,
        arch: Architecture,
        usage: &LambdaUsage,
        period_s: f64,
    ) -> (Cost, Cost) {
        if period_s <= 0.0 {
            return (Cost::default(), Cost::default());
        }
        let factor = MONTH_S / period_s;
        let month = self.bill_month(arch, &usage.scaled(factor));
        (month.scaled(1.0 / factor), month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(x: f64) -> i64 {
        (x * 100.0).round() as i64
    }

    #[test]
    fn on_demand_bill_by_hand() {
        // 3,000,000 requests of 120 ms billed at 1,024 MB:
        //   requests 3 x $0.20 = $0.60
        //   duration 3e6 x 0.120 s x 1 GB = 360,000 GB-s x $0.0000166667 = $6.000012
        let p = LambdaPricing::default();
        let u = LambdaUsage {
            requests: 3e6,
            gb_s: 360_000.0,
            front_door_requests: 3e6,
            ..LambdaUsage::default()
        };
        let c = p.bill(Architecture::X86_64, &u, MONTH_S);
        assert_eq!(cents(c.requests), 60);
        assert_eq!(cents(c.compute), 600);
        assert_eq!(c.front_door, 0.0);
        // arm64: 360,000 x $0.0000133334 = $4.800024
        assert_eq!(cents(p.bill(Architecture::Arm64, &u, MONTH_S).compute), 480);
    }

    #[test]
    fn free_tier_is_prorated_to_the_period() {
        // Over one month the free tier removes 1 M requests and 400,000 GB-s:
        //   (3e6 - 1e6) x $0.20/M = $0.40; (450,000 - 400,000) x $0.0000166667 = $0.833335
        let p = LambdaPricing {
            free_tier: true,
            ..LambdaPricing::default()
        };
        let u = LambdaUsage {
            requests: 3e6,
            gb_s: 450_000.0,
            free_eligible_requests: 3e6,
            free_eligible_gb_s: 450_000.0,
            ..LambdaUsage::default()
        };
        let month = p.bill(Architecture::X86_64, &u, MONTH_S);
        assert_eq!(cents(month.requests), 40);
        assert_eq!(cents(month.compute), 83);
        // Over 3 days (a tenth of the month) only 100,000 requests and 40,000 GB-s are free:
        //   2.9e6 x $0.20/M = $0.58; 410,000 x $0.0000166667 = $6.833347
        let c = p.bill(Architecture::X86_64, &u, MONTH_S / 10.0);
        assert_eq!(cents(c.requests), 58);
        assert_eq!(cents(c.compute), 683);
    }

    #[test]
    fn duration_tiers_apply_to_monthly_volume() {
        // x86, 10 billion GB-s in a month: 6 B at $0.0000166667 = $100,000.20,
        // then 4 B at $0.000015 = $60,000: $160,000.20.
        let p = LambdaPricing::default();
        let u = LambdaUsage {
            gb_s: 10e9,
            ..LambdaUsage::default()
        };
        assert_eq!(
            cents(p.bill_month(Architecture::X86_64, &u).compute),
            16_000_020
        );
        // 20 B: + 9 B at $0.000015 ($135,000) + 5 B at $0.0000133334 ($66,667):
        // $301,667.20.
        let u = LambdaUsage {
            gb_s: 20e9,
            ..LambdaUsage::default()
        };
        assert_eq!(
            cents(p.bill_month(Architecture::X86_64, &u).compute),
            30_166_720
        );
        // arm64, 10 B: 7.5 B at $0.0000133334 = $100,000.50 + 2.5 B at
        // $0.0000120001 = $30,000.25: $130,000.75.
        assert_eq!(
            cents(p.bill_month(Architecture::Arm64, &u.scaled(0.5)).compute),
            13_000_075
        );
        // Over one day of a month with that rate the tiers are prorated: a day of
        // 10 B/month is billed 1/30 of $160,000.20.
        let day = u.scaled(0.5 / 30.0);
        let c = p.bill(Architecture::X86_64, &day, 86_400.0);
        assert!((c.compute - 160_000.2 / 30.0).abs() < 1e-6, "{}", c.compute);
    }

    #[test]
    fn provisioned_concurrency_charges() {
        // 10 environments of 1 GB for one hour: 36,000 GB-s x $0.0000041667 =
        // $0.150001; 100,000 requests of 200 ms on them: 20,000 GB-s x
        // $0.0000097222 = $0.194444.
        let p = LambdaPricing::default();
        let u = LambdaUsage {
            requests: 1e5,
            provisioned_gb_s: 36_000.0,
            provisioned_duration_gb_s: 20_000.0,
            ..LambdaUsage::default()
        };
        let c = p.bill(Architecture::X86_64, &u, 3600.0);
        assert!((c.provisioned - 0.150_001_2).abs() < 1e-9);
        assert!((c.compute - 0.194_444).abs() < 1e-9);
        assert_eq!(cents(c.requests), 2);
    }

    #[test]
    fn front_door_charges_every_request() {
        // 2.5 M requests through an HTTP API at $1.00 per million = $2.50.
        let p = LambdaPricing {
            api_gateway_per_million: 1.0,
            ..LambdaPricing::default()
        };
        let u = LambdaUsage {
            front_door_requests: 2.5e6,
            ..LambdaUsage::default()
        };
        assert_eq!(
            cents(p.bill(Architecture::X86_64, &u, 3600.0).front_door),
            250
        );
    }
}
