//! report.html: one self-contained page (no network) that leads with the
//! answer: a headline table per platform, the paired differences with their
//! intervals, the charts, then the full tables folded away, every number
//! formatted for people.

use std::fmt::Write as _;

use crate::metrics::summary::{Grouped, RunSummary, interval, metric};
use crate::report::aggregate::{PAIRED, paired};
use crate::report::human;
use crate::report::table::{self, Row};
use crate::scenario::Outline;

/// Most rows of the headline and difference tables (a large sweep's rows
/// stay in the CSV files).
pub const MAX_ROWS: usize = 200;

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    // Control characters other than tab and newline are not allowed in XML.
    s.chars()
        .filter(|c| !c.is_control() || *c == '\t' || *c == '\n')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A CSV cell for people, by its column's metric unit (the summary's one
/// metric list): money in dollars, latencies in ms, ratios as percentages,
/// counts with separators; text as it is.
fn cell(column: &str, text: &str) -> (String, bool) {
    let Ok(v) = text.parse::<f64>() else {
        return (escape(text), false);
    };
    // `_ci_low` / `_ci_high` read as their metric.
    let base = column
        .strip_suffix("_ci_low")
        .or_else(|| column.strip_suffix("_ci_high"))
        .unwrap_or(column);
    let shown = match metric(base).map(|m| m.unit) {
        Some("USD") => human::usd(v),
        Some("ms") => human::ms(Some(v)),
        Some("ratio") => human::percent(v),
        _ if v.fract() == 0.0 => human::count(v),
        _ => format!("{v:.2}"),
    };
    (escape(&shown), true)
}

/// A percentage, escaped (`<0.001%`).
fn pct(ratio: f64) -> String {
    escape(&human::percent(ratio))
}

/// Most rows of a full table: the report of 100,000 runs was a 70 MB page;
/// every row stays in its CSV file.
pub const MAX_TABLE_ROWS: usize = 2_000;

/// A CSV document (file `name`) as an HTML table, numbers formatted by
/// column and right-aligned, its first [`MAX_TABLE_ROWS`] rows.
fn table(csv_text: &str, name: &str) -> String {
    let mut out = String::from("<div class=\"scroll\"><table class=\"full\">\n");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv_text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map(|h| h.iter().map(str::to_string).collect())
        .unwrap_or_default();
    out.push_str("<thead><tr>");
    for f in &headers {
        let _ = write!(out, "<th>{}</th>", escape(f));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let mut rows = 0usize;
    for rec in reader.records().flatten() {
        rows += 1;
        if rows > MAX_TABLE_ROWS {
            continue;
        }
        out.push_str("<tr>");
        for (i, f) in rec.iter().enumerate() {
            let column = headers.get(i).map_or("", String::as_str);
            // Identifying columns stay as written (a point id is not a count).
            let (shown, numeric) = if matches!(column, "point" | "replication" | "seed") {
                (escape(f), true)
            } else {
                cell(column, f)
            };
            let class = if numeric { " class=\"n\"" } else { "" };
            let _ = write!(out, "<td{class}>{shown}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    if rows > MAX_TABLE_ROWS {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first {} of {} rows; every row is in {}.</p>",
            human::count(MAX_TABLE_ROWS as f64),
            human::count(rows as f64),
            escape(name)
        );
    }
    out
}

/// The page's parts.
pub struct Report<'a> {
    pub outline: &'a Outline,
    pub runs: &'a [RunSummary],
    pub summary_csv: &'a str,
    /// Said under the summary table (per-function rows left out).
    pub summary_note: Option<String>,
    pub aggregate_csv: &'a str,
    pub pooled_csv: &'a str,
    pub points_csv: Option<&'a str>,
    /// (file name, SVG document) in display order.
    pub charts: &'a [(String, String)],
}

/// A mean with its interval when there is one: `248`, `248 [241, 255]`.
fn with_interval(mean: String, ci: Option<(String, String)>) -> String {
    match ci {
        Some((lo, hi)) => format!("{mean} <span class=\"ci\">[{lo}, {hi}]</span>"),
        None => mean,
    }
}

/// The headline table: one row per (point, platform).
fn headline(r: &Report, grouped: &Grouped) -> String {
    let s = r.outline;
    let mut out = String::new();
    let many = s.replications > 1 || s.runs.iter().any(|p| p.replications > 1);
    let _ = writeln!(
        out,
        "<table class=\"headline\">\n<thead><tr><th>platform</th><th>requests</th>\
         <th>p50 ms</th><th>p95 ms{}</th><th>p99 ms</th><th>errors</th>\
         <th>errors by kind</th><th>cold starts</th><th>cost, {}</th>\
         <th>per month*</th></tr></thead>\n<tbody>",
        if many { " [95 % CI]" } else { "" },
        escape(&s.measured()),
    );
    let p95 = metric("p95_ms").expect("a summary metric");
    let per_month = metric("cost_per_month_usd").expect("a summary metric");
    for g in grouped.groups.iter().take(MAX_ROWS) {
        let row = Row::of(s, r.runs, &g.runs, &g.platform, g.point);
        let ci = |m, f: fn(f64) -> String| {
            grouped
                .estimate(g.point, &g.platform, m)
                .and_then(|e| e.1)
                .map(|(lo, hi)| (f(lo), f(hi)))
        };
        let error_class = if row.error_rate >= 0.01 {
            " class=\"n bad\""
        } else {
            " class=\"n\""
        };
        let _ = writeln!(
            out,
            "<tr><th class=\"label\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td{error_class}>{}</td>\
             <td>{}</td><td class=\"n\">{} ({})</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&row.label),
            human::count(row.requests),
            human::ms(row.p50),
            with_interval(human::ms(row.p95), ci(p95, |v| human::ms(Some(v)))),
            human::ms(row.p99),
            pct(row.error_rate),
            escape(&row.breakdown()),
            human::count(row.cold_starts),
            pct(row.cold_ratio),
            human::usd(row.cost),
            with_interval(human::usd(row.per_month), ci(per_month, human::usd)),
        );
    }
    out.push_str("</tbody></table>\n");
    if grouped.groups.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first {MAX_ROWS} of {} rows; the rest are in summary.csv \
             and aggregate.csv.</p>",
            grouped.groups.len()
        );
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">Means over {}. * Per month: the cost of the measured {} scaled \
         to 30 days, an extrapolation of this traffic, not a forecast. Errors are shares \
         of the requests with an outcome; requests still in flight at the end have none.</p>",
        if many {
            "the replications; brackets: 95 % confidence intervals (Student t)".to_string()
        } else {
            "one replication (add `replications` for confidence intervals)".to_string()
        },
        escape(&s.measured()),
    );
    out
}

/// The paired differences table, or `None` with a single platform.
fn differences(r: &Report, grouped: &Grouped) -> Option<String> {
    let pairs = paired(grouped);
    if pairs.is_empty() {
        return None;
    }
    let mut out = String::from(
        "<table class=\"headline\">\n<thead><tr><th>difference</th><th>replications</th>\
         <th>p95 ms</th><th>error rate</th><th>cost of the window</th><th>per month</th>\
         </tr></thead>\n<tbody>\n",
    );
    let format = |name: &str, v: f64| -> String {
        let signed = |s: String| if v > 0.0 { format!("+{s}") } else { s };
        match name {
            "p95_ms" => signed(human::ms(Some(v))),
            "error_rate" => {
                // Percentage points: a difference of two rates.
                let pp = v * 100.0;
                let t = escape(human::percent(v.abs()).trim_end_matches('%'));
                format!(
                    "{}{t} pp",
                    if pp > 0.0 {
                        "+"
                    } else if pp < 0.0 {
                        "-"
                    } else {
                        ""
                    }
                )
            }
            _ => signed(human::usd(v)),
        }
    };
    for d in pairs.iter().take(MAX_ROWS) {
        let label = match r.outline.point_label(d.point) {
            Some(l) => format!("{} - {} @ {l}", d.a, d.b),
            None => format!("{} - {}", d.a, d.b),
        };
        let _ = write!(
            out,
            "<tr><th class=\"label\">{}</th><td class=\"n\">{}</td>",
            escape(&label),
            d.replications
        );
        for name in PAIRED {
            let text = d
                .values
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| interval(v))
                .map_or_else(
                    || "–".to_string(),
                    |(mean, ci)| {
                        with_interval(
                            format(name, mean),
                            ci.map(|(lo, hi)| (format(name, lo), format(name, hi))),
                        )
                    },
                );
            let _ = write!(out, "<td class=\"n\">{text}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    out.push_str(
        "<p class=\"note\">a - b, replication by replication: the platforms of a \
         replication see the same arrivals, so a difference's interval is narrower than \
         either platform's. An interval that excludes 0 is a difference the replications \
         agree on; pp: percentage points.</p>\n",
    );
    Some(out)
}

/// Renders the page.
pub fn render(r: &Report) -> String {
    let s = r.outline;
    let grouped = Grouped::new(r.runs);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>surgesim: {name}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 1.5em auto; max-width: 1360px; \
         padding: 0 1em; color: #222; }}\n\
         h1 {{ font-size: 1.6em; margin-bottom: 0.2em; }} h2 {{ font-size: 1.25em; margin-top: 1.6em; }}\n\
         p.run {{ color: #555; margin-top: 0; }}\n\
         .scroll {{ overflow-x: auto; }}\n\
         table {{ border-collapse: collapse; }}\n\
         table.headline {{ font-size: 0.92em; }}\n\
         table.full {{ font-size: 0.78em; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 3px 7px; }}\n\
         table.full th, table.full td {{ white-space: nowrap; }}\n\
         th {{ background: #f0f0f0; text-align: left; }} th.label {{ background: #fafafa; }}\n\
         td.n {{ text-align: right; white-space: nowrap; }} td.bad {{ color: #b00; font-weight: bold; }}\n\
         span.ci {{ color: #666; font-size: 0.9em; }}\n\
         p.note {{ color: #555; font-size: 0.88em; max-width: 60em; }}\n\
         figure {{ margin: 1em 0; }} figure svg {{ max-width: 100%; height: auto; }}\n\
         figcaption {{ color: #555; font-size: 0.9em; }}\n\
         details {{ margin: 0.8em 0; }} summary {{ cursor: pointer; font-weight: bold; }}\n\
         </style>\n</head>\n<body>\n<h1>surgesim: {name}</h1>\n",
        name = escape(&s.name)
    );
    if !s.description.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"description\">{}</p>",
            escape(&s.description)
        );
    }
    let _ = writeln!(out, "<p class=\"run\">{}</p>", escape(&table::headline(s)));
    out.push_str("<h2 id=\"headline\">Results</h2>\n");
    out.push_str(&headline(r, &grouped));
    if let Some(d) = differences(r, &grouped) {
        out.push_str("<h2 id=\"differences\">Paired differences</h2>\n");
        out.push_str(&d);
    }
    out.push_str("<h2 id=\"charts\">Charts</h2>\n");
    for (file, svg) in r.charts {
        // Inline SVG: drop the XML prolog, keep the <svg> element.
        let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
        let _ = write!(
            out,
            "<figure>\n{body}\n<figcaption>{}</figcaption>\n</figure>\n",
            escape(file)
        );
    }
    out.push_str("<h2 id=\"tables\">Full tables</h2>\n");
    let mut fold = |title: &str, body: String| {
        let _ = write!(
            out,
            "<details>\n<summary>{}</summary>\n{body}</details>\n",
            escape(title)
        );
    };
    let mut summary = table(r.summary_csv, "summary.csv");
    if let Some(note) = &r.summary_note {
        let _ = writeln!(summary, "<p class=\"note\">{}</p>", escape(note));
    }
    fold("Every run (summary.csv)", summary);
    fold(
        "Means and 95 % confidence intervals over replications (aggregate.csv)",
        table(r.aggregate_csv, "aggregate.csv"),
    );
    fold(
        "Latency quantiles of the replications pooled (pooled.csv)",
        table(r.pooled_csv, "pooled.csv"),
    );
    if let Some(points) = r.points_csv {
        fold("Sweep points (points.csv)", table(points, "points.csv"));
    }
    out.push_str("</body>\n</html>\n");
    out
}
