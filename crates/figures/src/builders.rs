//! The figure builders: each panel type of the figure data becomes a [`PanelSpec`] in the house
//! style. Theory is a solid line, guides dashed, marks dotted, measurements are points with 95%
//! interval bars, categories sit on a categorical axis, and each colour group keeps its colour
//! across a panel's series.

use crate::FigureError;
use crate::spec::{
    AxisSpec, FigureSpec, Glyph, GridSpec, Layer, LegendEntry, PanelSpec, Stroke, XySpec,
};
use crate::style::{UNIT_GREY, group_color, tint};
use crate::ticks::axis_range;
use claim_spec::figure::{
    Axis, CategoriesPanel, CurvesPanel, FigureData, GridPanel, HistogramPanel, Layout, Line,
    PairedPanel, Panel,
};

/// Builds the specification of a whole figure.
///
/// # Errors
/// When the figure has no panels, a side-by-side figure does not have two, or a panel cannot be
/// drawn (no drawable value, cells that do not match their rows and columns).
pub fn build(figure: &FigureData) -> Result<FigureSpec, FigureError> {
    if figure.panels.is_empty() {
        return Err(FigureError::Invalid("no panels".into()));
    }
    let side_by_side = figure.layout == Layout::SideBySide;
    if side_by_side && figure.panels.len() != 2 {
        return Err(FigureError::Invalid(format!(
            "a side-by-side figure has two panels, not {}",
            figure.panels.len()
        )));
    }
    let panels = figure
        .panels
        .iter()
        .map(build_panel)
        .collect::<Result<_, _>>()?;
    Ok(FigureSpec {
        panels,
        side_by_side,
    })
}

fn build_panel(panel: &Panel) -> Result<PanelSpec, FigureError> {
    Ok(match panel {
        Panel::Curves(p) => PanelSpec::Xy(curves(p)?),
        Panel::Categories(p) => PanelSpec::Xy(categories(p)?),
        Panel::Paired(p) => PanelSpec::Xy(paired(p)?),
        Panel::Histogram(p) => PanelSpec::Xy(histogram(p)?),
        Panel::Grid(p) => PanelSpec::Grid(grid(p)?),
    })
}

fn resolve(axis: &Axis, values: impl Iterator<Item = f64>) -> Result<AxisSpec, FigureError> {
    Ok(AxisSpec {
        label: axis.label.clone(),
        log: axis.log,
        range: axis_range(&axis.label, axis.log, axis.range, values)?,
    })
}

fn line_layer(line: &Line, stroke: Stroke) -> Layer {
    Layer::Line {
        points: line.points.iter().map(|p| (p[0], p[1])).collect(),
        color: group_color(line.group),
        stroke,
        width: 2,
    }
}

fn entry(glyph: Glyph, group: usize, label: &str) -> Option<LegendEntry> {
    (!label.is_empty()).then(|| LegendEntry {
        glyph,
        color: group_color(group),
        label: label.to_owned(),
    })
}

fn curves(p: &CurvesPanel) -> Result<XySpec, FigureError> {
    let lines = p.theory.iter().chain(&p.guides);
    let xs = lines
        .clone()
        .flat_map(|l| l.points.iter().map(|q| q[0]))
        .chain(p.measured.iter().flat_map(|s| s.points.iter().map(|q| q.x)))
        .chain(p.marks.iter().map(|m| m.x));
    let ys = lines
        .flat_map(|l| l.points.iter().map(|q| q[1]))
        .chain(p.measured.iter().flat_map(|s| {
            s.points
                .iter()
                .flat_map(|q| [q.y].into_iter().chain(q.ci.into_iter().flatten()))
        }));
    let x = resolve(&p.x, xs)?;
    let y = resolve(&p.y, ys)?;
    let mut layers = Vec::new();
    let mut legend = Vec::new();
    for l in &p.theory {
        layers.push(line_layer(l, Stroke::Solid));
        legend.extend(entry(Glyph::Line(Stroke::Solid), l.group, &l.label));
    }
    for l in &p.guides {
        layers.push(line_layer(l, Stroke::Dashed));
        legend.extend(entry(Glyph::Line(Stroke::Dashed), l.group, &l.label));
    }
    for m in &p.marks {
        layers.push(Layer::Line {
            points: vec![(m.x, y.range[0]), (m.x, y.range[1])],
            color: group_color(m.group),
            stroke: Stroke::Dotted,
            width: 2,
        });
        legend.extend(entry(Glyph::Line(Stroke::Dotted), m.group, &m.label));
    }
    for s in &p.measured {
        layers.push(Layer::Markers {
            points: s.points.iter().map(|q| (q.x, q.y, q.ci)).collect(),
            color: group_color(s.group),
            radius: 4,
        });
        legend.extend(entry(Glyph::Marker, s.group, &s.label));
    }
    Ok(XySpec {
        title: p.title.clone(),
        x,
        y,
        categories: None,
        layers,
        legend,
    })
}

/// x positions of `count` series dodged within each category slot.
fn dodge(k: usize, count: usize) -> f64 {
    if count <= 1 {
        return 0.0;
    }
    let step = 0.6 / count as f64;
    (k as f64 - (count as f64 - 1.0) / 2.0) * step
}

fn category_axis(label: &str, n: usize) -> AxisSpec {
    AxisSpec {
        label: label.to_owned(),
        log: false,
        range: [-0.5, n as f64 - 0.5],
    }
}

fn categories(p: &CategoriesPanel) -> Result<XySpec, FigureError> {
    let n = p.categories.len();
    if n == 0 {
        return Err(FigureError::Invalid(
            "a categorical panel needs categories".into(),
        ));
    }
    let all = p.measured.iter().chain(&p.theory);
    if let Some(s) = all.clone().find(|s| s.values.len() != n) {
        return Err(FigureError::Invalid(format!(
            "series `{}` has {} values for {n} categories",
            s.label,
            s.values.len()
        )));
    }
    let ys = all.flat_map(|s| {
        s.values
            .iter()
            .flatten()
            .flat_map(|v| [v.value].into_iter().chain(v.ci.into_iter().flatten()))
    });
    let y = resolve(&p.y, ys)?;
    let count = p.measured.len();
    let offset_of = |group: usize| {
        p.measured
            .iter()
            .position(|s| s.group == group)
            .map_or(0.0, |k| dodge(k, count))
    };
    let half = if count > 1 { 0.3 / count as f64 } else { 0.25 };
    let mut layers = Vec::new();
    let mut legend = Vec::new();
    for t in &p.theory {
        let dx = offset_of(t.group);
        for (i, v) in t.values.iter().enumerate() {
            if let Some(v) = v {
                let x = i as f64 + dx;
                layers.push(Layer::Line {
                    points: vec![(x - half, v.value), (x + half, v.value)],
                    color: group_color(t.group),
                    stroke: Stroke::Solid,
                    width: 3,
                });
            }
        }
        legend.extend(entry(Glyph::Line(Stroke::Solid), t.group, &t.label));
    }
    for (k, s) in p.measured.iter().enumerate() {
        let dx = dodge(k, count);
        let points = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as f64 + dx, v.value, v.ci)))
            .collect();
        layers.push(Layer::Markers {
            points,
            color: group_color(s.group),
            radius: 5,
        });
        legend.extend(entry(Glyph::Marker, s.group, &s.label));
    }
    Ok(XySpec {
        title: p.title.clone(),
        x: category_axis(&p.category_label, n),
        y,
        categories: Some(p.categories.clone()),
        layers,
        legend,
    })
}

fn paired(p: &PairedPanel) -> Result<XySpec, FigureError> {
    let n = p.conditions.len();
    if n < 2
        || p.units.iter().any(|u| u.len() != n)
        || !(p.summary.is_empty() || p.summary.len() == n)
    {
        return Err(FigureError::Invalid(format!(
            "a paired panel needs at least two conditions, one value per condition for every unit and at most one summary each (conditions: {n})"
        )));
    }
    let ys = p.units.iter().flatten().copied().chain(
        p.summary
            .iter()
            .flat_map(|v| [v.value].into_iter().chain(v.ci.into_iter().flatten())),
    );
    let y = resolve(&p.y, ys)?;
    let shift = 0.2;
    let mut layers: Vec<Layer> = p
        .units
        .iter()
        .map(|u| Layer::Line {
            points: u
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64 - shift, *v))
                .collect(),
            color: UNIT_GREY,
            stroke: Stroke::Solid,
            width: 1,
        })
        .collect();
    layers.push(Layer::Markers {
        points: p
            .units
            .iter()
            .flat_map(|u| {
                u.iter()
                    .enumerate()
                    .map(|(i, v)| (i as f64 - shift, *v, None))
            })
            .collect(),
        color: UNIT_GREY,
        radius: 3,
    });
    let mut legend = vec![LegendEntry {
        glyph: Glyph::Line(Stroke::Solid),
        color: UNIT_GREY,
        label: format!("one line per unit ({})", p.units.len()),
    }];
    if !p.summary.is_empty() {
        layers.push(Layer::Markers {
            points: p
                .summary
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64 + shift, v.value, v.ci))
                .collect(),
            color: group_color(0),
            radius: 5,
        });
        legend.extend(entry(Glyph::Marker, 0, "mean with 95% interval"));
    }
    Ok(XySpec {
        title: p.title.clone(),
        x: category_axis("", n),
        y,
        categories: Some(p.conditions.clone()),
        layers,
        legend,
    })
}

fn histogram(p: &HistogramPanel) -> Result<XySpec, FigureError> {
    let steps: Vec<(usize, Vec<(f64, f64)>)> = p
        .histograms
        .iter()
        .map(|h| {
            let pts = h
                .values
                .iter()
                .enumerate()
                .flat_map(|(k, v)| {
                    let left = h.lo + k as f64 * h.width;
                    [(left, *v), (left + h.width, *v)]
                })
                .collect();
            (h.group, pts)
        })
        .collect();
    let xs = steps.iter().flat_map(|s| s.1.iter().map(|q| q.0)).chain(
        p.densities
            .iter()
            .flat_map(|l| l.points.iter().map(|q| q[0])),
    );
    let ys = steps.iter().flat_map(|s| s.1.iter().map(|q| q.1)).chain(
        p.densities
            .iter()
            .flat_map(|l| l.points.iter().map(|q| q[1])),
    );
    let x = resolve(&p.x, xs)?;
    let y = resolve(&p.y, ys)?;
    let mut layers = Vec::new();
    let mut legend = Vec::new();
    for ((group, pts), h) in steps.into_iter().zip(&p.histograms) {
        layers.push(Layer::Line {
            points: pts,
            color: group_color(group),
            stroke: Stroke::Solid,
            width: 1,
        });
        legend.extend(entry(Glyph::Line(Stroke::Solid), group, &h.label));
    }
    for l in &p.densities {
        layers.push(line_layer(l, Stroke::Solid));
        legend.extend(entry(Glyph::Line(Stroke::Solid), l.group, &l.label));
    }
    Ok(XySpec {
        title: p.title.clone(),
        x,
        y,
        categories: None,
        layers,
        legend,
    })
}

fn grid(p: &GridPanel) -> Result<GridSpec, FigureError> {
    let fits = p.cells.len() == p.rows.len()
        && p.cells.iter().all(|r| r.len() == p.columns.len())
        && p.cells.iter().flatten().all(|c| c.class < p.classes.len());
    if !fits || p.rows.is_empty() || p.columns.is_empty() {
        return Err(FigureError::Invalid(format!(
            "grid `{}`: cells must be rows x columns with classes in 0..{}",
            p.title,
            p.classes.len()
        )));
    }
    let cells = p
        .cells
        .iter()
        .map(|r| r.iter().map(|c| (tint(c.class), c.lines.clone())).collect())
        .collect();
    let legend = p
        .classes
        .iter()
        .enumerate()
        .map(|(k, label)| LegendEntry {
            glyph: Glyph::Swatch,
            color: tint(k),
            label: label.clone(),
        })
        .collect();
    Ok(GridSpec {
        title: p.title.clone(),
        row_label: p.row_label.clone(),
        rows: p.rows.clone(),
        column_label: p.column_label.clone(),
        columns: p.columns.clone(),
        cells,
        legend,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use claim_spec::figure::{CategorySeries, GridCell, MeasuredPoint, Points, Value};

    #[test]
    fn curves_keep_group_colours_and_label_the_legend() {
        let p = CurvesPanel::new("t", Axis::linear("x"), Axis::linear("y"))
            .theory(Line::new("theory", 1, [(0.0, 0.0), (1.0, 1.0)]))
            .measured(Points::new(
                "sim",
                1,
                vec![MeasuredPoint::with_ci(0.5, 0.5, [0.4, 0.6])],
            ))
            .mark(0.2, "", 2);
        let PanelSpec::Xy(s) = build_panel(&p.into()).unwrap() else {
            panic!("not x-y")
        };
        assert_eq!(s.legend.len(), 2, "marks without label have no entry");
        assert_eq!(s.legend[0].color, s.legend[1].color);
        assert_eq!(s.x.range, [-0.05, 1.05]);
    }

    #[test]
    fn categories_dodge_series_and_check_lengths() {
        let values = vec![
            Some(Value::exact(0.2)),
            None,
            Some(Value::with_ci(0.5, [0.4, 0.6])),
        ];
        let mut p = CategoriesPanel {
            title: String::new(),
            category_label: "remedy".into(),
            categories: vec!["a".into(), "b".into(), "c".into()],
            y: Axis::proportion("fraction"),
            measured: vec![
                CategorySeries::new("one", 0, values.clone()),
                CategorySeries::new("two", 1, values),
            ],
            theory: vec![],
        };
        let PanelSpec::Xy(s) = build_panel(&p.clone().into()).unwrap() else {
            panic!("not x-y")
        };
        assert_eq!(s.x.range, [-0.5, 2.5]);
        assert_eq!(s.y.range, [0.0, 1.0]);
        let Layer::Markers { points, .. } = &s.layers[0] else {
            panic!("not markers")
        };
        assert_eq!(points.len(), 2, "a missing value draws nothing");
        assert!((points[0].0 + 0.15).abs() < 1e-12);
        p.measured[1].values.pop();
        assert!(build_panel(&p.into()).is_err());
    }

    #[test]
    fn grids_must_match_their_rows_and_columns() {
        let cell = |class| GridCell {
            class,
            lines: vec!["ρ 0.9".into()],
        };
        let mut g = GridPanel {
            title: "g".into(),
            row_label: "regime".into(),
            rows: vec!["noise".into()],
            column_label: "remedy".into(),
            columns: vec!["none".into(), "halve η".into()],
            cells: vec![vec![cell(0), cell(1)]],
            classes: vec!["settles".into(), "grows".into()],
        };
        assert!(build_panel(&g.clone().into()).is_ok());
        g.cells[0][1].class = 2;
        assert!(build_panel(&g.into()).is_err());
    }

    #[test]
    fn figures_need_panels() {
        assert!(build(&FigureData::default()).is_err());
        let p = PairedPanel {
            title: String::new(),
            conditions: vec!["b = 8".into(), "b = 512".into()],
            y: Axis::linear("λ_max"),
            units: vec![vec![1.0, 1.2], vec![0.9, 1.1]],
            summary: vec![
                Value::with_ci(0.95, [0.9, 1.0]),
                Value::with_ci(1.15, [1.1, 1.2]),
            ],
        };
        let f = FigureData::side_by_side(p.clone(), p);
        assert!(build(&f).unwrap().side_by_side);
    }
}
