//! Numbers formatted for people, for the stdout table and report.html
//! (the CSV files keep their fixed decimals for machines).

/// A count with thousands separators: `75,881`. Rounded to the nearest
/// integer (a mean over replications may not be whole).
pub fn count(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let n = v.round();
    let digits = format!("{:.0}", n.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0.0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// US dollars: cents from one dollar up (`$1,234.56`), four decimals below
/// (`$0.0752`: a short run's bill is often a few cents).
pub fn usd(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v < 0.0 {
        return format!("-{}", usd(-v));
    }
    if v >= 1.0 {
        let cents = (v * 100.0).round();
        let whole = (cents / 100.0).trunc();
        format!(
            "${}.{:02}",
            count(whole),
            (cents - whole * 100.0).abs() as u64
        )
    } else {
        format!("${v:.4}")
    }
}

/// A ratio as a percentage with three significant digits: `12.3%`,
/// `0.0823%`; `0%` for none and `<0.001%` for a share too small to show.
pub fn percent(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "–".into();
    }
    let p = ratio * 100.0;
    if p == 0.0 {
        "0%".into()
    } else if p < 0.001 {
        "<0.001%".into()
    } else if (99.95..100.0).contains(&p) {
        // Never round a share short of all up to 100%.
        "99.9%".into()
    } else {
        format!("{}%", significant(p, 3))
    }
}

/// `v` with `digits` significant digits, no exponent, trailing zeros cut.
fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Milliseconds: one decimal below 100 ms, none from there (`80.1`,
/// `10,675`); `–` when there is no value.
pub fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v.abs() < 100.0 => format!("{v:.1}"),
        Some(v) if v.is_finite() => count(v),
        _ => "–".into(),
    }
}

/// A length of time in seconds, as people say it: `15 min`, `2 h`,
/// `14 h 15 min`, `3 d 4 h`, `1.5 s`, `1499.94 s`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "–".into();
    }
    let whole = secs.round();
    if (secs - whole).abs() > 0.005 || secs < 60.0 {
        // Not a whole number of seconds, or short: seconds as they are.
        return format!("{} s", trim(secs));
    }
    let s = whole as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "min"), (sec, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n} {u}"))
        .collect();
    parts.join(" ")
}

/// A length of time to its two largest units: `9 d 23 h`, `2 h 5 min`,
/// `42 s` (for a line that changes while people read it).
pub fn duration_coarse(secs: f64) -> String {
    let full = duration(secs.max(0.0).round());
    let parts: Vec<&str> = full.split(' ').collect();
    parts
        .chunks(2)
        .take(2)
        .map(|c| c.join(" "))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seconds with at most two decimals, trailing zeros cut: `1499.94`, `900`.
pub fn trim(secs: f64) -> String {
    let s = format!("{secs:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Seconds with thousands separators and at most two decimals: `43,200`,
/// `1,499.94`.
pub fn seconds(secs: f64) -> String {
    let t = trim(secs);
    match t.split_once('.') {
        Some((whole, frac)) => format!("{}.{frac}", count(whole.parse().unwrap_or(0.0))),
        None => count(secs.round()),
    }
}

/// A time of day on a run's clock: `hh:mm` (`27:30` past a day), or
/// `hh:mm:ss` when `seconds`.
pub fn clock(secs: f64, seconds: bool) -> String {
    let s = secs.max(0.0).round() as u64;
    if seconds {
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 3600, s / 60 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(75_881.0), "75,881");
        assert_eq!(count(1_234_567.4), "1,234,567");
        assert_eq!(count(-1_000.0), "-1,000");
        assert_eq!(count(f64::NAN), "–");
    }

    #[test]
    fn money_has_cents_and_small_bills_four_decimals() {
        assert_eq!(usd(1234.567), "$1,234.57");
        assert_eq!(usd(170.905), "$170.91");
        assert_eq!(usd(1.0), "$1.00");
        assert_eq!(usd(0.07523), "$0.0752");
        assert_eq!(usd(0.0), "$0.0000");
        assert_eq!(usd(-0.097), "-$0.0970");
        assert_eq!(usd(-69.864), "-$69.86");
    }

    #[test]
    fn percentages_keep_three_significant_digits() {
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.2463), "24.6%");
        assert_eq!(percent(0.12), "12%");
        assert_eq!(percent(252.0 / 318_874.0), "0.079%");
        assert_eq!(percent(207.0 / 318_874.0), "0.0649%");
        assert_eq!(percent(1e-9), "<0.001%");
        assert_eq!(percent(0.99999), "99.9%");
        assert_eq!(percent(1.0), "100%");
    }

    #[test]
    fn durations_read_as_spoken() {
        assert_eq!(duration(900.0), "15 min");
        assert_eq!(duration(3600.0), "1 h");
        assert_eq!(duration(51_300.0), "14 h 15 min");
        assert_eq!(duration(1499.935756), "1499.94 s");
        assert_eq!(duration(30.0), "30 s");
        assert_eq!(duration(90_061.0), "1 d 1 h 1 min 1 s");
        assert_eq!(duration_coarse(90_061.0), "1 d 1 h");
        assert_eq!(duration_coarse(7_530.4), "2 h 5 min");
        assert_eq!(duration_coarse(42.0), "42 s");
    }

    #[test]
    fn latencies_and_clocks() {
        assert_eq!(ms(Some(80.14)), "80.1");
        assert_eq!(ms(Some(10_674.5)), "10,675");
        assert_eq!(ms(None), "–");
        assert_eq!(seconds(43_200.0), "43,200");
        assert_eq!(seconds(1499.935756), "1,499.94");
        assert_eq!(clock(45_000.0, false), "12:30");
        assert_eq!(clock(99_000.0, false), "27:30");
        assert_eq!(clock(3_725.0, true), "01:02:05");
    }
}
