//! report.html: one self-contained page (no network) with the scenario
//! description, the summary and aggregate tables and the charts inline.

use std::fmt::Write as _;

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

/// A CSV document as an HTML table (numbers right-aligned).
fn table(csv_text: &str) -> String {
    let mut out = String::from("<div class=\"scroll\"><table>\n");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv_text.as_bytes());
    if let Ok(h) = reader.headers() {
        out.push_str("<thead><tr>");
        for f in h {
            let _ = write!(out, "<th>{}</th>", escape(f));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
    }
    for rec in reader.records().flatten() {
        out.push_str("<tr>");
        for f in &rec {
            let class = if f.parse::<f64>().is_ok() {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(f));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    out
}

/// The page's parts.
pub struct Report<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub summary_csv: &'a str,
    /// Said under the summary table (per-function rows left out).
    pub summary_note: Option<String>,
    pub aggregate_csv: &'a str,
    pub points_csv: Option<&'a str>,
    /// (title, SVG document) in display order.
    pub charts: &'a [(String, String)],
}

/// Renders the page.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <title>surgesim: {name}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }}\n\
         h1 {{ font-size: 1.6em; }} h2 {{ font-size: 1.25em; margin-top: 2em; }}\n\
         .scroll {{ overflow-x: auto; }}\n\
         table {{ border-collapse: collapse; font-size: 0.8em; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 2px 6px; white-space: nowrap; }}\n\
         th {{ background: #f0f0f0; }} td.n {{ text-align: right; }}\n\
         figure {{ margin: 1em 0; }} figure svg {{ max-width: 100%; height: auto; }}\n\
         </style>\n</head>\n<body>\n<h1>surgesim: {name}</h1>\n",
        name = escape(r.name)
    );
    if !r.description.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"description\">{}</p>",
            escape(r.description)
        );
    }
    out.push_str("<h2 id=\"charts\">Charts</h2>\n");
    for (title, svg) in r.charts {
        // Inline SVG: drop the XML prolog, keep the <svg> element.
        let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
        let _ = write!(
            out,
            "<figure>\n{body}\n<figcaption>{}</figcaption>\n</figure>\n",
            escape(title)
        );
    }
    out.push_str("<h2 id=\"summary\">Summary (summary.csv)</h2>\n");
    out.push_str(&table(r.summary_csv));
    if let Some(note) = &r.summary_note {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(note));
    }
    out.push_str(
        "<h2 id=\"aggregate\">Means and 95 % confidence intervals over replications \
         (aggregate.csv)</h2>\n",
    );
    out.push_str(&table(r.aggregate_csv));
    if let Some(points) = r.points_csv {
        out.push_str("<h2 id=\"points\">Sweep points (points.csv)</h2>\n");
        out.push_str(&table(points));
    }
    out.push_str("</body>\n</html>\n");
    out
}
