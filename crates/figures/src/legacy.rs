//! The renderer of hand-built figure specifications, kept only while kinds are ported to figure
//! data; its output keeps the earlier look (560 px panels side by side).

use crate::{FigureError, GENERATED_MARK, drawing};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Scale, SeriesKind};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;

/// Width of one panel, pixels.
const PANEL_WIDTH: u32 = 560;
/// Height of a figure, pixels.
const HEIGHT: u32 = 400;
/// Font family of all text.
const FONT: &str = "sans-serif";
/// The palette.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// Renders the figure to an SVG document.
///
/// # Errors
/// When the spec has no panels, a panel has no drawable point, or plotters fails.
pub fn render_svg(spec: &FigureSpec) -> Result<String, FigureError> {
    if spec.panels.is_empty() {
        return Err(FigureError::Invalid("no panels".into()));
    }
    let width = PANEL_WIDTH * spec.panels.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let areas = root.split_evenly((1, spec.panels.len()));
        for (panel, area) in spec.panels.iter().zip(areas.iter()) {
            draw_panel(panel, area)?;
        }
        root.present().map_err(drawing)?;
    }
    Ok(format!("{GENERATED_MARK}\n{svg}"))
}

/// The data range of an axis: the fixed range, or the data's extent (error bars included) with a
/// 5% margin (multiplicative on log axes).
fn axis_range(axis: &Axis, values: impl Iterator<Item = f64>) -> Result<(f64, f64), FigureError> {
    if let Some(r) = axis.range {
        return Ok(r);
    }
    let usable = |v: &f64| v.is_finite() && (axis.scale == Scale::Linear || *v > 0.0);
    let (lo, hi) = values
        .filter(usable)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return Err(FigureError::Invalid(format!(
            "axis `{}` has no drawable value",
            axis.label
        )));
    }
    Ok(match axis.scale {
        Scale::Linear => {
            let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
            (lo - 0.05 * span, hi + 0.05 * span)
        }
        Scale::Log => {
            let ratio = if hi > lo {
                libm::pow(hi / lo, 0.05)
            } else {
                2.0
            };
            (lo / ratio, hi * ratio)
        }
    })
}

fn draw_panel(panel: &Panel, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), FigureError> {
    let xs = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.x));
    let ys = panel.series.iter().flat_map(|s| {
        s.points
            .iter()
            .flat_map(|p| [Some(p.y), p.y_lo, p.y_hi].into_iter().flatten())
    });
    let (x0, x1) = axis_range(&panel.x, xs)?;
    let (y0, y1) = axis_range(&panel.y, ys)?;
    match (panel.x.scale, panel.y.scale) {
        (Scale::Linear, Scale::Linear) => draw_in(panel, area, x0..x1, y0..y1),
        (Scale::Log, Scale::Linear) => draw_in(panel, area, (x0..x1).log_scale(), y0..y1),
        (Scale::Linear, Scale::Log) => draw_in(panel, area, x0..x1, (y0..y1).log_scale()),
        (Scale::Log, Scale::Log) => {
            draw_in(panel, area, (x0..x1).log_scale(), (y0..y1).log_scale())
        }
    }
}

fn draw_in<X, Y>(
    panel: &Panel,
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    x: X,
    y: Y,
) -> Result<(), FigureError>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64> + Ranged<ValueType = f64>,
    Y::CoordDescType: ValueFormatter<f64> + Ranged<ValueType = f64>,
{
    let visible_x = |v: f64| v.is_finite() && (panel.x.scale == Scale::Linear || v > 0.0);
    let visible_y = |v: f64| v.is_finite() && (panel.y.scale == Scale::Linear || v > 0.0);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 16))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc(panel.x.label.as_str())
        .y_desc(panel.y.label.as_str())
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .draw()
        .map_err(drawing)?;

    let mut any_legend = false;
    for series in &panel.series {
        let color = PALETTE[series.color % PALETTE.len()];
        let pts: Vec<(f64, f64)> = series
            .points
            .iter()
            .filter(|p| visible_x(p.x) && visible_y(p.y))
            .map(|p| (p.x, p.y))
            .collect();
        let legend = !series.label.is_empty();
        any_legend |= legend;
        let drawn = match series.kind {
            SeriesKind::Theory => chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(drawing)?,
            SeriesKind::Guide => chart
                .draw_series(DashedLineSeries::new(pts, 6, 4, color.stroke_width(2)))
                .map_err(drawing)?,
            SeriesKind::Histogram => {
                let steps = step_outline(&pts);
                chart
                    .draw_series(LineSeries::new(steps, color.stroke_width(1)))
                    .map_err(drawing)?
            }
            SeriesKind::Simulation => {
                let bars = series
                    .points
                    .iter()
                    .filter(|p| visible_x(p.x))
                    .filter_map(|p| match (p.y_lo, p.y_hi) {
                        (Some(lo), Some(hi)) if visible_y(lo) && visible_y(hi) => Some(
                            ErrorBar::new_vertical(p.x, lo, p.y, hi, color.stroke_width(1), 6),
                        ),
                        _ => None,
                    });
                chart.draw_series(bars).map_err(drawing)?;
                chart
                    .draw_series(
                        pts.iter()
                            .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                    )
                    .map_err(drawing)?
            }
        };
        if legend {
            let kind = series.kind;
            drawn
                .label(series.label.as_str())
                .legend(move |(lx, ly)| legend_glyph(kind, color, lx, ly));
        }
    }
    for label in &panel.labels {
        if visible_x(label.x) && visible_y(label.y) {
            chart
                .draw_series(std::iter::once(Text::new(
                    label.text.clone(),
                    (label.x, label.y),
                    (FONT, 12).into_font().color(&BLACK),
                )))
                .map_err(drawing)?;
        }
    }
    if any_legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 12))
            .draw()
            .map_err(drawing)?;
    }
    Ok(())
}

fn legend_glyph<DB: DrawingBackend>(
    kind: SeriesKind,
    color: RGBColor,
    x: i32,
    y: i32,
) -> DynElement<'static, DB, (i32, i32)> {
    match kind {
        SeriesKind::Simulation => Circle::new((x + 10, y), 3, color.filled()).into_dyn(),
        // Dashed, as the guide itself is drawn.
        SeriesKind::Guide => plotters::element::DashedPathElement::new(
            vec![(x, y), (x + 20, y)],
            6,
            3,
            color.stroke_width(2),
        )
        .into_dyn(),
        SeriesKind::Theory | SeriesKind::Histogram => {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)).into_dyn()
        }
    }
}

/// Turns bin centres into the outline of a histogram (steps between midpoints).
fn step_outline(centres: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if centres.len() < 2 {
        return centres.to_vec();
    }
    let half = (centres[1].0 - centres[0].0) / 2.0;
    let mut out = Vec::with_capacity(centres.len() * 2);
    for &(x, y) in centres {
        out.push((x - half, y));
        out.push((x + half, y));
    }
    out
}

/// A short tick label: plain decimals for moderate magnitudes, otherwise `1e-3` style.
fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_owned()
    } else {
        let e = libm::floor(libm::log10(a)) as i32;
        let m = v / libm::pow(10.0, f64::from(e));
        if (m.abs() - 1.0).abs() < 1e-9 {
            format!("{}1e{e}", if v < 0.0 { "-" } else { "" })
        } else {
            format!("{m:.1}e{e}")
        }
    }
}
