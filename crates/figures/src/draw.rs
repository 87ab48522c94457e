//! Draws x–y panels and categorical grids with plotters.

use crate::spec::{GridSpec, Layer, Stroke, XySpec};
use crate::style::{FONT, LABEL_PX, MESH_BOLD, TICK_PX, TITLE_PX, font_size, text_width};
use crate::ticks::{tick_label, tick_values};
use crate::{Area, FigureError, drawing, legend};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;

/// Space for the horizontal axis' tick labels and label, pixels (numeric axes).
const X_LABEL_AREA: u32 = 48;
/// Height of one line of a wrapped category name, pixels.
const CATEGORY_LINE: u32 = 15;

/// The width each category name may take in a plot `width` wide.
fn category_width(width: u32, categories: usize) -> u32 {
    (width.saturating_sub(Y_LABEL_AREA + 26) / categories.max(1) as u32).max(40)
}

/// Space below the plot for tick labels (or wrapped category names) and the axis label.
pub fn x_label_area(spec: &XySpec, width: u32) -> u32 {
    match &spec.categories {
        None => X_LABEL_AREA,
        Some(names) => {
            let per = category_width(width, names.len());
            let lines = names.iter().map(|n| wrap(n, per).len()).max().unwrap_or(1) as u32;
            let desc = if spec.x.label.is_empty() { 4 } else { 22 };
            12 + lines * CATEGORY_LINE + desc
        }
    }
}
/// Space for the vertical axis' tick labels and label, pixels.
const Y_LABEL_AREA: u32 = 72;

fn text_style(px: f64, h: HPos, v: VPos) -> TextStyle<'static> {
    (FONT, font_size(px))
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(h, v))
}

/// Draws an x–y panel: the plot in `plot`, the legend in `legend_area`.
///
/// # Errors
/// When plotters fails.
pub fn xy(spec: &XySpec, plot: &Area, legend_area: &Area) -> Result<(), FigureError> {
    xy_in(spec, plot)?;
    legend::draw(legend_area, &spec.legend)
}

/// A log axis is drawn as a linear one in log10 units (libm's), so plotters' own logarithm never
/// decides a pixel.
fn to_axis(v: f64, log: bool) -> f64 {
    if log { libm::log10(v) } else { v }
}

/// A linear axis in drawing units whose ticks are chosen by [`tick_values`]; plotters maps with it
/// and draws its key points, and computes nothing else.
struct TickedAxis {
    range: Range<f64>,
    keys: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (lo, hi) = (self.range.start, self.range.end);
        if hi == lo {
            return (limit.1 - limit.0) / 2;
        }
        let t = (value - lo) / (hi - lo);
        limit.0 + libm::floor(f64::from(limit.1 - limit.0) * t + 1e-3) as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// The axis' range and key points in drawing units, and the labels of those points.
fn axis_ticks(range: [f64; 2], log: bool, ticks: bool) -> (TickedAxis, Vec<(f64, String)>) {
    let values = if ticks {
        tick_values(range, log)
    } else {
        Vec::new()
    };
    let labelled: Vec<(f64, String)> = values
        .iter()
        .map(|&v| (to_axis(v, log), tick_label(v)))
        .collect();
    let axis = TickedAxis {
        range: to_axis(range[0], log)..to_axis(range[1], log),
        keys: labelled.iter().map(|t| t.0).collect(),
    };
    (axis, labelled)
}

/// The label of the key point at `u` (key points are the only values plotters labels).
fn label_at(labels: &[(f64, String)], u: f64) -> String {
    labels
        .iter()
        .find(|t| t.0 == u)
        .map(|t| t.1.clone())
        .unwrap_or_default()
}

fn xy_in(spec: &XySpec, area: &Area) -> Result<(), FigureError> {
    let categorical = spec.categories.is_some();
    let (xlog, ylog) = (spec.x.log, spec.y.log);
    let (x, x_labels) = axis_ticks(spec.x.range, xlog, !categorical);
    let (y, y_labels) = axis_ticks(spec.y.range, ylog, true);
    let mut chart = ChartBuilder::on(area)
        .caption(&spec.title, (FONT, font_size(TITLE_PX)))
        .margin_top(8)
        .margin_left(8)
        .margin_right(18)
        .x_label_area_size(x_label_area(spec, area.dim_in_pixel().0))
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x, y)
        .map_err(drawing)?;
    let x_format = |v: &f64| label_at(&x_labels, *v);
    let y_format = |v: &f64| label_at(&y_labels, *v);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(spec.x.label.as_str())
        .y_desc(spec.y.label.as_str())
        .label_style((FONT, font_size(TICK_PX)))
        .axis_desc_style((FONT, font_size(LABEL_PX)))
        .light_line_style(WHITE)
        .bold_line_style(MESH_BOLD)
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format);
    if categorical {
        mesh.disable_x_mesh();
    }
    mesh.draw().map_err(drawing)?;
    let visible = |xv: f64, yv: f64| {
        xv.is_finite() && yv.is_finite() && (!spec.x.log || xv > 0.0) && (!spec.y.log || yv > 0.0)
    };
    for layer in &spec.layers {
        match layer {
            Layer::Line {
                points,
                color,
                stroke,
                width,
            } => {
                let pts: Vec<(f64, f64)> = points
                    .iter()
                    .copied()
                    .filter(|p| visible(p.0, p.1))
                    .map(|(a, b)| (to_axis(a, xlog), to_axis(b, ylog)))
                    .collect();
                let style = color.stroke_width(*width);
                match stroke {
                    Stroke::Solid => chart.draw_series(LineSeries::new(pts, style)),
                    Stroke::Dashed => chart.draw_series(DashedLineSeries::new(pts, 7, 4, style)),
                    Stroke::Dotted => chart.draw_series(DashedLineSeries::new(pts, 2, 4, style)),
                }
                .map_err(drawing)?;
            }
            Layer::Markers {
                points,
                color,
                radius,
            } => {
                let bars = points.iter().filter_map(|&(xv, yv, ci)| {
                    let [lo, hi] = ci?;
                    (visible(xv, lo) && visible(xv, hi)).then(|| {
                        let (u, [l, m, h]) =
                            (to_axis(xv, xlog), [lo, yv, hi].map(|v| to_axis(v, ylog)));
                        ErrorBar::new_vertical(u, l, m, h, color.stroke_width(1), 8)
                    })
                });
                chart.draw_series(bars).map_err(drawing)?;
                let dots = points
                    .iter()
                    .filter(|p| visible(p.0, p.1))
                    .map(|&(xv, yv, _)| {
                        let at = (to_axis(xv, xlog), to_axis(yv, ylog));
                        Circle::new(at, *radius, color.filled())
                    });
                chart.draw_series(dots).map_err(drawing)?;
            }
        }
    }
    if let Some(names) = &spec.categories {
        let y_bottom = to_axis(spec.y.range[0], ylog);
        let per = category_width(area.dim_in_pixel().0, names.len());
        for (i, name) in names.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64, y_bottom));
            draw_wrapped(area, name, (px, py + 6), per)?;
        }
    }
    Ok(())
}

/// Splits `text` into lines no wider than `width` pixels at tick size (at least one word a line).
pub fn wrap(text: &str, width: u32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(last) if text_width(&format!("{last} {word}"), TICK_PX) <= width => {
                last.push(' ');
                last.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

fn draw_wrapped(area: &Area, text: &str, at: (i32, i32), width: u32) -> Result<(), FigureError> {
    let origin = area.get_base_pixel();
    let style = text_style(TICK_PX, HPos::Center, VPos::Top);
    for (k, line) in wrap(text, width).into_iter().enumerate() {
        let pos = (
            at.0 - origin.0,
            at.1 - origin.1 + (CATEGORY_LINE * k as u32) as i32,
        );
        area.draw(&Text::new(line, pos, style.clone()))
            .map_err(drawing)?;
    }
    Ok(())
}

/// Height of one grid cell line and the padding of a cell, pixels.
const CELL_LINE: u32 = 16;
const CELL_PAD: u32 = 10;

/// The height a grid needs, legend excluded, pixels.
pub fn grid_height(spec: &GridSpec) -> u32 {
    let lines = spec
        .cells
        .iter()
        .flatten()
        .map(|c| c.1.len())
        .max()
        .unwrap_or(1) as u32;
    let title = if spec.title.is_empty() { 0 } else { 28 };
    title + 44 + spec.rows.len() as u32 * (lines * CELL_LINE + 2 * CELL_PAD)
}

/// Draws a categorical grid in `area`, its legend in `legend_area`.
///
/// # Errors
/// When plotters fails.
pub fn grid(spec: &GridSpec, area: &Area, legend_area: &Area) -> Result<(), FigureError> {
    let (w, _) = area.dim_in_pixel();
    let mut top = 6;
    if !spec.title.is_empty() {
        area.draw(&Text::new(
            spec.title.clone(),
            (w as i32 / 2, top),
            text_style(TITLE_PX, HPos::Center, VPos::Top),
        ))
        .map_err(drawing)?;
        top += 28;
    }
    let label_w = spec
        .rows
        .iter()
        .map(|r| text_width(r, TICK_PX))
        .chain([text_width(&spec.row_label, LABEL_PX)])
        .max()
        .unwrap_or(60)
        + 24;
    let cols = spec.columns.len() as u32;
    let cell_w = (w.saturating_sub(label_w + 12)) / cols.max(1);
    let lines = spec
        .cells
        .iter()
        .flatten()
        .map(|c| c.1.len())
        .max()
        .unwrap_or(1) as u32;
    let cell_h = lines * CELL_LINE + 2 * CELL_PAD;
    let left = label_w as i32;
    let header = text_style(LABEL_PX, HPos::Center, VPos::Top);
    let tick = text_style(TICK_PX, HPos::Center, VPos::Top);
    area.draw(&Text::new(
        spec.column_label.clone(),
        (left + (cell_w * cols) as i32 / 2, top),
        header.clone(),
    ))
    .map_err(drawing)?;
    area.draw(&Text::new(
        spec.row_label.clone(),
        (8, top),
        text_style(LABEL_PX, HPos::Left, VPos::Top),
    ))
    .map_err(drawing)?;
    let head_y = top + 20;
    for (j, name) in spec.columns.iter().enumerate() {
        let cx = left + (cell_w * j as u32 + cell_w / 2) as i32;
        area.draw(&Text::new(name.clone(), (cx, head_y), tick.clone()))
            .map_err(drawing)?;
    }
    let body = head_y + 24;
    for (i, (row, cells)) in spec.rows.iter().zip(&spec.cells).enumerate() {
        let y = body + (i as u32 * cell_h) as i32;
        area.draw(&Text::new(
            row.clone(),
            (8, y + cell_h as i32 / 2),
            text_style(TICK_PX, HPos::Left, VPos::Center),
        ))
        .map_err(drawing)?;
        for (j, (fill, text)) in cells.iter().enumerate() {
            let x = left + (j as u32 * cell_w) as i32;
            area.draw(&Rectangle::new(
                [
                    (x + 1, y + 1),
                    (x + cell_w as i32 - 1, y + cell_h as i32 - 1),
                ],
                fill.filled(),
            ))
            .map_err(drawing)?;
            for (k, line) in text.iter().enumerate() {
                let ty = y + CELL_PAD as i32 + (k as u32 * CELL_LINE) as i32;
                area.draw(&Text::new(
                    line.clone(),
                    (x + cell_w as i32 / 2, ty),
                    tick.clone(),
                ))
                .map_err(drawing)?;
            }
        }
    }
    legend::draw(legend_area, &spec.legend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_category_names_wrap() {
        assert_eq!(wrap("halve η", 200), vec!["halve η"]);
        assert_eq!(
            wrap("raise the batch to all examples", 100),
            vec!["raise the", "batch to all", "examples"]
        );
    }
}
