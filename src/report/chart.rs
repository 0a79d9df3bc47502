//! Charts (SVG, drawn with plotters' SVG backend: text is left to the
//! viewer's fonts, so no font files are needed to build or render).
//! Each function returns the SVG document as a string.

use plotters::chart::SeriesLabelStyle;
use plotters::prelude::*;

use crate::error::{Error, Result};

const WIDTH: u32 = 960;
const FONT: &str = "sans-serif";

fn chart_error(e: impl std::fmt::Display) -> Error {
    Error::Chart(e.to_string())
}

/// Draws the series legend in the house style at `position`.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    labels: &mut SeriesLabelStyle<'a, '_, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    labels
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(chart_error)
}

/// The legend mark of a line series: a short stroke in its colour.
fn line_mark(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
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

/// Tick labels without needless decimals: 2500, 12.5, 0.25.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a >= 100.0 || *v == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}").trim_end_matches(".0").to_string()
    } else {
        format!("{v:.2}")
    }
}

/// A named line of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo > hi { (0.0, 1.0) } else { (lo, hi) }
}

/// Latency CDF per platform, log-scaled latency axis.
pub fn latency_cdf(title: &str, series: &[Series]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let (lo, hi) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
        let (lo, hi) = (lo.max(0.01) * 0.8, hi.max(lo.max(0.01) * 2.0) * 1.25);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1f64)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc("latency [ms] (log scale)")
            .y_desc("fraction of completed requests")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()
            .map_err(chart_error)?;
        for (i, s) in series.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
                .map_err(chart_error)?
                .label(s.name.clone())
                .legend(line_mark(c));
        }
        draw_legend(
            &mut chart.configure_series_labels(),
            SeriesLabelPosition::LowerRight,
        )?;
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
    /// Nodes (Kubernetes), same units as capacity.
    pub nodes: Option<Vec<f64>>,
    /// Cold starts per second in each interval (a rate, like errors: on
    /// Knative they count requests that waited for an instance, many more
    /// than the instances on the capacity axis).
    pub cold_starts: Vec<f64>,
}

/// Arrival rate against capacity over time, one panel per platform, with
/// errors and cold starts marked.
pub fn load_capacity(title: &str, panels: &[LoadPanel]) -> Result<String> {
    let mut svg = String::new();
    {
        let height = 90 + 300 * panels.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let root = root.titled(title, (FONT, 22)).map_err(chart_error)?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            let t_max = panel.t.last().copied().unwrap_or(1.0).max(1.0) * 1.02;
            let (_, rate_max) = bounds(
                panel
                    .arrival_rate
                    .iter()
                    .chain(&panel.error_rate)
                    .chain(&panel.cold_starts)
                    .copied(),
            );
            let (_, cap_max) = bounds(
                panel
                    .capacity
                    .iter()
                    .chain(panel.nodes.iter().flatten())
                    .copied(),
            );
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.platform, (FONT, 17))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .right_y_label_area_size(64)
                .build_cartesian_2d(0f64..t_max, 0f64..(rate_max * 1.15).max(1.0))
                .map_err(chart_error)?
                .set_secondary_coord(0f64..t_max, 0f64..(cap_max * 1.15).max(1.0));
            chart
                .configure_mesh()
                .x_desc("time [s]")
                .y_desc("requests per second")
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .draw()
                .map_err(chart_error)?;
            chart
                .configure_secondary_axes()
                .y_desc(format!("{} (count)", panel.capacity_label))
                .y_label_formatter(&tick)
                .draw()
                .map_err(chart_error)?;
            let line = |ys: &[f64]| -> Vec<(f64, f64)> {
                panel.t.iter().copied().zip(ys.iter().copied()).collect()
            };
            let blue = color(0);
            chart
                .draw_series(LineSeries::new(
                    line(&panel.arrival_rate),
                    blue.stroke_width(2),
                ))
                .map_err(chart_error)?
                .label("arrivals per second (left)")
                .legend(line_mark(blue));
            let red = RGBColor(200, 30, 30);
            chart
                .draw_series(
                    line(&panel.error_rate)
                        .into_iter()
                        .filter(|p| p.1 > 0.0)
                        .map(|p| Cross::new(p, 4, red.stroke_width(2))),
                )
                .map_err(chart_error)?
                .label("errors per second (left)")
                .legend(move |(x, y)| Cross::new((x + 10, y), 4, red.stroke_width(2)));
            let green = color(2);
            chart
                .draw_secondary_series(LineSeries::new(
                    line(&panel.capacity),
                    green.stroke_width(2),
                ))
                .map_err(chart_error)?
                .label(format!("{} (right)", panel.capacity_label))
                .legend(line_mark(green));
            if let Some(nodes) = &panel.nodes {
                let grey = color(6);
                chart
                    .draw_secondary_series(LineSeries::new(line(nodes), grey.stroke_width(2)))
                    .map_err(chart_error)?
                    .label("nodes (right)")
                    .legend(line_mark(grey));
            }
            let orange = color(1);
            chart
                .draw_series(
                    line(&panel.cold_starts)
                        .into_iter()
                        .filter(|p| p.1 > 0.0)
                        .map(|p| TriangleMarker::new(p, 4, orange.filled())),
                )
                .map_err(chart_error)?
                .label("cold starts per second (left)")
                .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 4, orange.filled()));
            draw_legend(
                &mut chart.configure_series_labels(),
                SeriesLabelPosition::UpperLeft,
            )?;
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
    area: &DrawingArea<DB, plotters::coord::Shift>,
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
            "cost per month (mean, 95 % CI)",
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

/// A metric against a swept parameter, one line per platform.
pub fn sweep_curves(title: &str, x_desc: &str, y_desc: &str, curves: &[Curve]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let (x0, x1) = bounds(curves.iter().flat_map(|c| c.points.iter().map(|p| p.0)));
        let (_, y1) = bounds(
            curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p.1.1.map_or(p.1.0, |ci| ci.1))),
        );
        let pad = ((x1 - x0) * 0.05).max(0.5);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), 0f64..(y1 * 1.15).max(1e-9))
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()
            .map_err(chart_error)?;
        for (i, c) in curves.iter().enumerate() {
            let col = color(i);
            chart
                .draw_series(LineSeries::new(
                    c.points.iter().map(|p| (p.0, p.1.0)),
                    col.stroke_width(2),
                ))
                .map_err(chart_error)?
                .label(c.name.clone())
                .legend(line_mark(col));
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
        }
        draw_legend(
            &mut chart.configure_series_labels(),
            SeriesLabelPosition::UpperLeft,
        )?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}
