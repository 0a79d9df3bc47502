//! Charts (SVG, drawn with plotters' SVG backend: text is left to the
//! viewer's fonts, so no font files are needed to build or render).
//! Each function returns the SVG document as a string. Legends sit in a
//! column of their own right of the data, never over it.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::report::human;

/// Width of every chart, and of the legend column inside it \[px\].
const WIDTH: u32 = 1100;
const LEGEND_WIDTH: u32 = 260;
const FONT: &str = "sans-serif";
/// Tick labels and axis descriptions, and legend entries \[px, before
/// plotters' SVG scaling\].
const LABEL_SIZE: u32 = 16;
const LEGEND_SIZE: u32 = 17;

fn chart_error(e: impl std::fmt::Display) -> Error {
    Error::Chart(e.to_string())
}

fn color(i: usize) -> RGBColor {
    // A colour-blind-friendly qualitative palette (Okabe-Ito).
    const C: [(u8, u8, u8); 7] = [
        (0, 114, 178),
        (213, 94, 0),
        (0, 158, 115),
        (204, 121, 167),
        (230, 159, 0),
        (86, 180, 233),
        (120, 120, 120),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

const RED: RGBColor = RGBColor(200, 30, 30);
const PURPLE: RGBColor = RGBColor(120, 60, 160);
const GREY: RGBColor = RGBColor(110, 110, 110);

/// How a legend entry is marked.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Line(RGBColor),
    Block(RGBColor),
    Triangle(RGBColor),
}

/// Draws a legend column: one entry per line, mark then label.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    top: i32,
    entries: &[(String, Mark)],
) -> Result<()> {
    for (i, (label, mark)) in entries.iter().enumerate() {
        let y = top + 22 * i as i32;
        match *mark {
            Mark::Line(c) => area.draw(&PathElement::new(
                vec![(8, y + 8), (30, y + 8)],
                c.stroke_width(3),
            )),
            Mark::Block(c) => area.draw(&Rectangle::new([(10, y + 1), (28, y + 15)], c.filled())),
            Mark::Triangle(c) => area.draw(&TriangleMarker::new((19, y + 8), 5, c.filled())),
        }
        .map_err(chart_error)?;
        let text: String = if label.chars().count() > 34 {
            label.chars().take(33).chain(std::iter::once('…')).collect()
        } else {
            label.clone()
        };
        area.draw(&Text::new(text, (38, y), (FONT, LEGEND_SIZE)))
            .map_err(chart_error)?;
    }
    Ok(())
}

/// Tick labels without needless decimals: 2,500, 12.5, 0.25.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        human::count(*v)
    } else if a >= 100.0 || *v == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}").trim_end_matches(".0").to_string()
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// Log-axis ticks: 1, 2 and 5 times every power of ten in [lo, hi], so
/// every decade and its halves are labelled however narrow the range.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    if !(lo > 0.0 && hi > lo) {
        return out;
    }
    let mut decade = 10f64.powi(lo.log10().floor() as i32);
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let v = m * decade;
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
        decade *= 10.0;
    }
    out
}

/// Time-axis ticks over [from, to] \[s\], about eight, at a round step,
/// and whether to label them as clock times (`hh:mm`, runs over 2 h) or
/// seconds.
pub fn time_ticks(from: f64, to: f64) -> (Vec<f64>, bool) {
    let span = (to - from).max(1.0);
    let clock = span > 7200.0;
    const STEPS: [f64; 19] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10800.0, 21600.0, 43200.0, 86400.0, 172800.0,
    ];
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 10.0)
        .unwrap_or_else(|| (span / 8.0 / 86400.0).ceil() * 86400.0);
    let mut t = (from / step).ceil() * step;
    let mut out = Vec::new();
    while t <= to + 1e-9 {
        out.push(t);
        t += step;
    }
    (out, clock)
}

/// A linear axis with the given ticks (plotters' `with_key_points` on an
/// f64 range cannot be the x axis of a chart with a secondary axis).
#[derive(Clone)]
struct Ticked {
    range: std::ops::Range<f64>,
    ticks: Vec<f64>,
}

impl plotters::coord::ranged1d::Ranged for Ticked {
    type ValueType = f64;
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let f = if span > 0.0 {
            (v - self.range.start) / span
        } else {
            0.0
        };
        limit.0 + (f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

fn time_label(clock: bool) -> impl Fn(&f64) -> String {
    move |v: &f64| {
        if clock {
            human::clock(*v, false)
        } else {
            tick(v)
        }
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo > hi { (0.0, 1.0) } else { (lo, hi) }
}

/// One platform's latency distribution for the CDF chart.
pub struct CdfSeries {
    pub name: String,
    /// (latency \[ms\], cumulative fraction of the completed requests).
    pub points: Vec<(f64, f64)>,
    /// The completed share of the requests with an outcome: the curve
    /// ends there, the rest failed.
    pub completed: f64,
}

/// Latency CDF per platform over every request with an outcome (log
/// latency axis): each curve ends at its completed share, so the failed
/// share is the gap above it.
pub fn latency_cdf(title: &str, series: &[CdfSeries]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let root = root.titled(title, (FONT, 22)).map_err(chart_error)?;
        let (plot, side) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let (lo, hi) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
        let (lo, hi) = (lo.max(0.01) * 0.8, hi.max(lo.max(0.01) * 2.0) * 1.25);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
                0f64..1.02f64,
            )
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, LABEL_SIZE))
            .x_desc("latency [ms] (log scale)")
            .y_desc("share of requests (curves end at the completed share)")
            .x_label_formatter(&tick)
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .y_labels(6)
            .draw()
            .map_err(chart_error)?;
        let mut entries = Vec::new();
        for (i, s) in series.iter().enumerate() {
            let c = color(i);
            let scaled: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|&(x, y)| (x, y * s.completed))
                .collect();
            chart
                .draw_series(LineSeries::new(scaled.iter().copied(), c.stroke_width(2)))
                .map_err(chart_error)?;
            if let Some(&end) = scaled.last() {
                chart
                    .draw_series(std::iter::once(Circle::new(end, 4, c.filled())))
                    .map_err(chart_error)?;
            }
            entries.push((
                format!("{} ({} completed)", s.name, human::percent(s.completed)),
                Mark::Line(c),
            ));
        }
        legend(&side, 60, &entries)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// The outcome kinds of the outcome chart, in drawing order.
pub const OUTCOMES: [&str; 6] = [
    "completed",
    "throttled",
    "rejected",
    "timed out",
    "dropped",
    "in flight at the end",
];

fn outcome_color(k: usize) -> RGBColor {
    [
        RGBColor(0, 158, 115),
        RGBColor(230, 159, 0),
        RED,
        PURPLE,
        RGBColor(140, 80, 40),
        RGBColor(170, 170, 170),
    ][k]
}

/// One platform's request outcomes as shares of its requests, in
/// [`OUTCOMES`] order (they sum to 1).
pub struct OutcomeBar {
    pub label: String,
    pub shares: [f64; 6],
}

/// Every request's outcome as shares, one stacked bar per platform.
pub fn outcomes(title: &str, bars: &[OutcomeBar]) -> Result<String> {
    let mut svg = String::new();
    {
        let n = bars.len().max(1);
        let height = 110 + 46 * n as u32;
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let root = root.titled(title, (FONT, 22)).map_err(chart_error)?;
        let (plot, side) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(8);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size((label_width as u32 * 8).clamp(80, 300))
            .build_cartesian_2d(0f64..1f64, -0.5f64..(n as f64 - 0.5))
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, LABEL_SIZE))
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() < 1e-6 && i >= 0.0 {
                    // Top to bottom in the order given.
                    labels.get(n - 1 - i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc("share of requests")
            .x_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .draw()
            .map_err(chart_error)?;
        for (i, b) in bars.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let mut x = 0.0;
            for (k, &share) in b.shares.iter().enumerate() {
                if share <= 0.0 {
                    continue;
                }
                let c = outcome_color(k);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y - 0.32), (x + share, y + 0.32)],
                        c.filled(),
                    )))
                    .map_err(chart_error)?;
                if share >= 0.06 {
                    chart
                        .draw_series(std::iter::once(Text::new(
                            human::percent(share),
                            (x + 0.01, y + 0.12),
                            (FONT, 13).into_font().color(&WHITE),
                        )))
                        .map_err(chart_error)?;
                }
                x += share;
            }
        }
        let entries: Vec<(String, Mark)> = OUTCOMES
            .iter()
            .enumerate()
            .map(|(k, o)| (o.to_string(), Mark::Block(outcome_color(k))))
            .collect();
        legend(&side, 20, &entries)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// One platform's load and capacity over time.
pub struct LoadPanel {
    pub platform: String,
    /// Interval starts \[s\].
    pub t: Vec<f64>,
    /// Arrivals and errors per second in each interval.
    pub arrival_rate: Vec<f64>,
    pub error_rate: Vec<f64>,
    /// Capacity at the interval's end: environments or ready pods.
    pub capacity: Vec<f64>,
    pub capacity_label: String,
    /// Nodes, for platforms that have them.
    pub nodes: Option<Vec<f64>>,
    /// Requests waiting at the interval's end: Lambda's retry and async
    /// queue, the pods' queues.
    pub queued: Vec<f64>,
    /// Cold starts per second in each interval (a rate, like errors: on
    /// Knative they count requests that waited for an instance, many more
    /// than the instances on the capacity axis).
    pub cold_starts: Vec<f64>,
}

/// Arrival rate against capacity over time, one panel per platform, with
/// errors and cold starts; below it, when there is one, the backlog of
/// waiting requests and the nodes, each on its own axis. Time from `from`
/// \[s\] to `to`.
pub fn load_capacity(title: &str, panels: &[LoadPanel], from: f64, to: f64) -> Result<String> {
    let mut svg = String::new();
    {
        let lower = |p: &LoadPanel| p.nodes.is_some() || p.queued.iter().any(|&q| q > 0.0);
        let panel_height = |p: &LoadPanel| if lower(p) { 520 } else { 320 };
        let height: u32 = 50
            + panels
                .iter()
                .map(|p| panel_height(p) as u32)
                .sum::<u32>()
                .max(320);
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let root = root.titled(title, (FONT, 22)).map_err(chart_error)?;
        let breaks: Vec<i32> = panels
            .iter()
            .scan(0i32, |y, p| {
                *y += panel_height(p);
                Some(*y)
            })
            .collect();
        let areas =
            root.split_by_breakpoints(Vec::<i32>::new(), &breaks[..breaks.len().saturating_sub(1)]);
        let (ticks, clock) = time_ticks(from, to);
        let x_desc = if clock {
            "time [hh:mm from the run's start]"
        } else {
            "time [s]"
        };
        let t_max = to.max(from + 1.0);
        let x_axis = || Ticked {
            range: from..t_max,
            ticks: ticks.clone(),
        };
        for (panel, area) in panels.iter().zip(areas.iter()) {
            let (top, bottom) = if lower(panel) {
                let (t, b) = area.split_vertically(320);
                (t, Some(b))
            } else {
                (area.clone(), None)
            };
            let (top_plot, top_side) = top.split_horizontally(WIDTH - LEGEND_WIDTH);
            let (_, rate_max) = bounds(
                panel
                    .arrival_rate
                    .iter()
                    .chain(&panel.error_rate)
                    .chain(&panel.cold_starts)
                    .copied(),
            );
            let (_, cap_max) = bounds(panel.capacity.iter().copied());
            let mut chart = ChartBuilder::on(&top_plot)
                .caption(&panel.platform, (FONT, 17))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .right_y_label_area_size(64)
                .build_cartesian_2d(x_axis(), 0f64..(rate_max * 1.15).max(1.0))
                .map_err(chart_error)?
                .set_secondary_coord(x_axis(), 0f64..(cap_max * 1.15).max(1.0));
            chart
                .configure_mesh()
                .label_style((FONT, LABEL_SIZE))
                .axis_desc_style((FONT, LABEL_SIZE))
                .x_desc(x_desc)
                .y_desc("requests per second")
                .x_label_formatter(&time_label(clock))
                .y_label_formatter(&tick)
                .draw()
                .map_err(chart_error)?;
            chart
                .configure_secondary_axes()
                .label_style((FONT, LABEL_SIZE))
                .axis_desc_style((FONT, LABEL_SIZE))
                .y_desc(format!("{} (count)", panel.capacity_label))
                .y_label_formatter(&tick)
                .draw()
                .map_err(chart_error)?;
            let line = |ys: &[f64]| -> Vec<(f64, f64)> {
                panel.t.iter().copied().zip(ys.iter().copied()).collect()
            };
            let blue = color(0);
            let green = color(2);
            let orange = color(1);
            chart
                .draw_series(LineSeries::new(
                    line(&panel.arrival_rate),
                    blue.stroke_width(2),
                ))
                .map_err(chart_error)?;
            chart
                .draw_series(LineSeries::new(
                    line(&panel.error_rate),
                    RED.stroke_width(2),
                ))
                .map_err(chart_error)?;
            chart
                .draw_secondary_series(LineSeries::new(
                    line(&panel.capacity),
                    green.stroke_width(2),
                ))
                .map_err(chart_error)?;
            chart
                .draw_series(
                    line(&panel.cold_starts)
                        .into_iter()
                        .filter(|p| p.1 > 0.0)
                        .map(|p| TriangleMarker::new(p, 4, orange.filled())),
                )
                .map_err(chart_error)?;
            legend(
                &top_side,
                40,
                &[
                    ("arrivals per second (left)".into(), Mark::Line(blue)),
                    ("errors per second (left)".into(), Mark::Line(RED)),
                    (
                        "cold starts per second (left)".into(),
                        Mark::Triangle(orange),
                    ),
                    (
                        format!("{} (right)", panel.capacity_label),
                        Mark::Line(green),
                    ),
                ],
            )?;
            let Some(bottom) = bottom else { continue };
            let (plot, side) = bottom.split_horizontally(WIDTH - LEGEND_WIDTH);
            let (_, q_max) = bounds(panel.queued.iter().copied());
            let (_, n_max) = bounds(panel.nodes.iter().flatten().copied());
            let mut chart = ChartBuilder::on(&plot)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .right_y_label_area_size(64)
                .build_cartesian_2d(x_axis(), 0f64..(q_max * 1.15).max(1.0))
                .map_err(chart_error)?
                .set_secondary_coord(x_axis(), 0f64..(n_max * 1.15).max(1.0));
            chart
                .configure_mesh()
                .label_style((FONT, LABEL_SIZE))
                .axis_desc_style((FONT, LABEL_SIZE))
                .x_desc(x_desc)
                .y_desc("waiting requests")
                .x_label_formatter(&time_label(clock))
                .y_label_formatter(&tick)
                .draw()
                .map_err(chart_error)?;
            chart
                .draw_series(LineSeries::new(line(&panel.queued), PURPLE.stroke_width(2)))
                .map_err(chart_error)?;
            let mut entries = vec![(
                "waiting: queued or retrying (left)".to_string(),
                Mark::Line(PURPLE),
            )];
            if let Some(nodes) = &panel.nodes {
                chart
                    .configure_secondary_axes()
                    .label_style((FONT, LABEL_SIZE))
                    .axis_desc_style((FONT, LABEL_SIZE))
                    .y_desc("nodes (count)")
                    .y_label_formatter(&tick)
                    .draw()
                    .map_err(chart_error)?;
                chart
                    .draw_secondary_series(LineSeries::new(line(nodes), GREY.stroke_width(2)))
                    .map_err(chart_error)?;
                entries.push(("nodes (right)".into(), Mark::Line(GREY)));
            }
            legend(&side, 20, &entries)?;
        }
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// A value with its 95 % interval.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub label: String,
    pub mean: f64,
    pub ci: Option<(f64, f64)>,
}

/// One panel of means with error bars, one category per estimate.
fn estimate_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    values: &[Estimate],
) -> Result<()> {
    let n = values.len().max(1);
    let (_, hi) = bounds(values.iter().map(|e| e.ci.map_or(e.mean, |c| c.1)));
    let labels: Vec<String> = values.iter().map(|e| e.label.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..(hi * 1.2).max(1e-9))
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE))
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc("platform")
        .y_desc(y_desc)
        .y_label_formatter(&tick)
        .draw()
        .map_err(chart_error)?;
    for (i, e) in values.iter().enumerate() {
        let c = color(i);
        let x = i as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x - 0.3, 0.0), (x + 0.3, e.mean)],
                c.mix(0.75).filled(),
            )))
            .map_err(chart_error)?;
        if let Some((lo, hi)) = e.ci {
            chart
                .draw_series(std::iter::once(ErrorBar::new_vertical(
                    x,
                    lo,
                    e.mean,
                    hi,
                    BLACK.stroke_width(2),
                    12,
                )))
                .map_err(chart_error)?;
        }
    }
    Ok(())
}

/// p95 latency and cost per month per platform, with 95 % error bars.
pub fn p95_and_cost(title: &str, p95: &[Estimate], cost: &[Estimate]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let root = root.titled(title, (FONT, 22)).map_err(chart_error)?;
        let (left, right) = root.split_horizontally(WIDTH / 2);
        estimate_panel(
            &left,
            "p95 latency (mean, 95 % CI)",
            "p95 latency [ms]",
            p95,
        )?;
        estimate_panel(
            &right,
            "cost per month, extrapolated (mean, 95 % CI)",
            "cost [USD per month]",
            cost,
        )?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// A mean with its optional 95 % interval (low, high).
pub type Mean = (f64, Option<(f64, f64)>);

/// A platform's metric across the sweep: (x, mean, CI).
pub struct Curve {
    pub name: String,
    pub points: Vec<(f64, Mean)>,
}

/// A metric against a swept parameter, one line per platform. `x_labels`:
/// the x ticks' labels by position when the parameter is not a number.
pub fn sweep_curves(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    curves: &[Curve],
    x_labels: Option<&[String]>,
    y_percent: bool,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let root = root.titled(title, (FONT, 22)).map_err(chart_error)?;
        let (plot, side) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let (x0, x1) = bounds(curves.iter().flat_map(|c| c.points.iter().map(|p| p.0)));
        let (_, y1) = bounds(
            curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p.1.1.map_or(p.1.0, |ci| ci.1))),
        );
        let pad = ((x1 - x0) * 0.05).max(0.5);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), 0f64..(y1 * 1.15).max(1e-9))
            .map_err(chart_error)?;
        let label_of = |x: &f64| match x_labels {
            Some(labels) => {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
            None => tick(x),
        };
        let y_label = |v: &f64| {
            if y_percent {
                format!("{}%", tick(&(v * 100.0)))
            } else {
                tick(v)
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, LABEL_SIZE));
        mesh.x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&label_of)
            .y_label_formatter(&y_label);
        if let Some(labels) = x_labels {
            mesh.x_labels(labels.len().max(1));
        }
        mesh.draw().map_err(chart_error)?;
        let mut entries = Vec::new();
        for (i, c) in curves.iter().enumerate() {
            let col = color(i);
            chart
                .draw_series(LineSeries::new(
                    c.points.iter().map(|p| (p.0, p.1.0)),
                    col.stroke_width(2),
                ))
                .map_err(chart_error)?;
            chart
                .draw_series(
                    c.points
                        .iter()
                        .map(|p| Circle::new((p.0, p.1.0), 4, col.filled())),
                )
                .map_err(chart_error)?;
            chart
                .draw_series(c.points.iter().filter_map(|p| {
                    p.1.1.map(|(lo, hi)| {
                        ErrorBar::new_vertical(p.0, lo, p.1.0, hi, col.stroke_width(1), 10)
                    })
                }))
                .map_err(chart_error)?;
            entries.push((c.name.clone(), Mark::Line(col)));
        }
        legend(&side, 60, &entries)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_label_every_decade_and_its_halves() {
        assert_eq!(
            log_ticks(0.4, 120.0),
            [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
        // A range inside one decade still gets labels.
        assert_eq!(log_ticks(150.0, 900.0), [200.0, 500.0]);
        assert!(log_ticks(0.0, 1.0).is_empty());
    }

    #[test]
    fn long_runs_get_clock_times_at_round_steps() {
        let (t, clock) = time_ticks(0.0, 900.0);
        assert!(!clock);
        assert_eq!(t, (0..8).map(|i| f64::from(i) * 120.0).collect::<Vec<_>>());
        let (t, clock) = time_ticks(43_200.0, 51_300.0);
        assert!(clock);
        assert_eq!(t.first(), Some(&43_200.0));
        assert!(t.windows(2).all(|w| w[1] - w[0] == 900.0), "{t:?}");
        let (t, clock) = time_ticks(0.0, 86_400.0);
        assert!(clock);
        assert_eq!(t.len(), 9); // every 3 h
        assert_eq!(human::clock(t[1], false), "03:00");
    }
}
