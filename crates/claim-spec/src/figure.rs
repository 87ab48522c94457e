//! Figure data: what a kind's figure step returns, as plain data. A kind says *what* to show
//! (curves against theory, points with intervals, categories, paired values, a grid, a histogram
//! against a density); the `figures` crate decides *how*: sizes, fonts, palette, line styles,
//! legends and axes are its one house style. Experiment crates never plot and never depend on
//! plotters.
//!
//! Every panel type is one of the figure types the post uses:
//! - [`CurvesPanel`]: quantities against a numeric x, theory as lines, measurements as points
//!   with 95% intervals, guides (asymptotes, reference slopes) dashed, marks at special x;
//! - [`CategoriesPanel`]: values per category (remedy, schedule, regime) on a categorical axis;
//! - [`PairedPanel`]: the same units (seeds) measured under two or more conditions;
//! - [`GridPanel`]: a categorical grid, each cell classed and annotated;
//! - [`HistogramPanel`]: binned samples against densities.
//!
//! Series that describe one quantity (a theory line and the points it predicts) share a `group`:
//! the house style gives each group one colour, in order.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The figures of one run, by the names the claim file lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures(BTreeMap<String, FigureData>);

impl Figures {
    /// No figures yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds figure `name`.
    pub fn add(&mut self, name: &str, figure: FigureData) {
        self.0.insert(name.to_owned(), figure);
    }

    /// Figure `name`, if drawn.
    pub fn get(&self, name: &str) -> Option<&FigureData> {
        self.0.get(name)
    }

    /// The figures by name.
    pub fn into_map(self) -> BTreeMap<String, FigureData> {
        self.0
    }
}

/// One figure: its panels, stacked top to bottom, or two side by side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FigureData {
    /// The panels, in reading order.
    pub panels: Vec<Panel>,
    /// How the panels are arranged.
    pub layout: Layout,
}

impl FigureData {
    /// A figure of one panel.
    pub fn single(panel: impl Into<Panel>) -> Self {
        Self {
            panels: vec![panel.into()],
            layout: Layout::Stacked,
        }
    }

    /// Panels stacked top to bottom, each the full column width.
    pub fn stacked(panels: Vec<Panel>) -> Self {
        Self {
            panels,
            layout: Layout::Stacked,
        }
    }

    /// Two panels side by side, each half the column width (for simple panels only: the house
    /// style's text sizes must still hold at half width).
    pub fn side_by_side(left: impl Into<Panel>, right: impl Into<Panel>) -> Self {
        Self {
            panels: vec![left.into(), right.into()],
            layout: Layout::SideBySide,
        }
    }
}

/// How a figure's panels are arranged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Top to bottom.
    #[default]
    Stacked,
    /// Two columns.
    SideBySide,
}

/// One panel, of one of the post's figure types.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Panel {
    /// Quantities against a numeric x.
    Curves(CurvesPanel),
    /// Values per category.
    Categories(CategoriesPanel),
    /// Paired units under several conditions.
    Paired(PairedPanel),
    /// A categorical grid.
    Grid(GridPanel),
    /// Binned samples against densities.
    Histogram(HistogramPanel),
}

macro_rules! into_panel {
    ($($t:ident => $v:ident),*) => {$(
        impl From<$t> for Panel {
            fn from(p: $t) -> Self {
                Panel::$v(p)
            }
        }
    )*};
}
into_panel!(CurvesPanel => Curves, CategoriesPanel => Categories, PairedPanel => Paired, GridPanel => Grid, HistogramPanel => Histogram);

/// A numeric axis: its label (Unicode math, such as "η" or "‖g_B − G‖²"), scale and range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// The label.
    pub label: String,
    /// Base-10 logarithmic; non-positive values are not drawn.
    pub log: bool,
    /// A fixed range; otherwise the data's extent with a margin.
    pub range: Option<[f64; 2]>,
}

impl Axis {
    /// A linear axis.
    pub fn linear(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            log: false,
            range: None,
        }
    }

    /// A base-10 logarithmic axis.
    pub fn log(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            log: true,
            range: None,
        }
    }

    /// A proportion's axis: linear on [0, 1].
    pub fn proportion(label: impl Into<String>) -> Self {
        Self::linear(label).with_range(0.0, 1.0)
    }

    /// The same axis with a fixed range.
    pub fn with_range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some([lo, hi]);
        self
    }
}

/// A value, with its 95% interval when it is an estimate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Value {
    /// The value.
    pub value: f64,
    /// Its 95% interval.
    pub ci: Option<[f64; 2]>,
}

impl Value {
    /// A value without an interval.
    pub fn exact(value: f64) -> Self {
        Self { value, ci: None }
    }

    /// A value with its 95% interval.
    pub fn with_ci(value: f64, ci: [f64; 2]) -> Self {
        Self {
            value,
            ci: Some(ci),
        }
    }
}

/// A line through (x, y) points: theory (solid) or a guide (dashed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Legend label (empty: no legend entry).
    pub label: String,
    /// Colour group.
    pub group: usize,
    /// The points, in drawing order. Sample theory finely enough to look smooth.
    pub points: Vec<[f64; 2]>,
}

impl Line {
    /// A line from (x, y) pairs.
    pub fn new(
        label: impl Into<String>,
        group: usize,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        Self {
            label: label.into(),
            group,
            points: points.into_iter().map(|(x, y)| [x, y]).collect(),
        }
    }
}

/// A measured point: (x, y) with the 95% interval of y.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasuredPoint {
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
    /// The 95% interval of y, when it is an estimate.
    pub ci: Option<[f64; 2]>,
}

impl MeasuredPoint {
    /// A point with its interval.
    pub fn with_ci(x: f64, y: f64, ci: [f64; 2]) -> Self {
        Self { x, y, ci: Some(ci) }
    }

    /// A point without an interval.
    pub fn new(x: f64, y: f64) -> Self {
        Self { x, y, ci: None }
    }
}

/// Measured points of one quantity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Points {
    /// Legend label.
    pub label: String,
    /// Colour group.
    pub group: usize,
    /// The points.
    pub points: Vec<MeasuredPoint>,
}

impl Points {
    /// Points of one quantity.
    pub fn new(label: impl Into<String>, group: usize, points: Vec<MeasuredPoint>) -> Self {
        Self {
            label: label.into(),
            group,
            points,
        }
    }
}

/// A labelled vertical reference at x (a predicted threshold, a fitted knee).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// Where.
    pub x: f64,
    /// Its label, shown in the legend.
    pub label: String,
    /// Colour group.
    pub group: usize,
}

/// Quantities against a numeric x.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CurvesPanel {
    /// Title above the panel (may be empty).
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Theory: solid lines.
    pub theory: Vec<Line>,
    /// Guides, asymptotes and reference slopes: dashed lines.
    pub guides: Vec<Line>,
    /// Measurements: points with interval bars.
    pub measured: Vec<Points>,
    /// Vertical marks.
    pub marks: Vec<Mark>,
}

impl CurvesPanel {
    /// An empty panel with these axes.
    pub fn new(title: impl Into<String>, x: Axis, y: Axis) -> Self {
        Self {
            title: title.into(),
            x,
            y,
            ..Self::default()
        }
    }

    /// Adds a theory line.
    pub fn theory(mut self, line: Line) -> Self {
        self.theory.push(line);
        self
    }

    /// Adds a guide.
    pub fn guide(mut self, line: Line) -> Self {
        self.guides.push(line);
        self
    }

    /// Adds measured points.
    pub fn measured(mut self, points: Points) -> Self {
        self.measured.push(points);
        self
    }

    /// Adds a vertical mark.
    pub fn mark(mut self, x: f64, label: impl Into<String>, group: usize) -> Self {
        self.marks.push(Mark {
            x,
            label: label.into(),
            group,
        });
        self
    }
}

/// Values of one quantity per category (`None` where it was not measured).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategorySeries {
    /// Legend label.
    pub label: String,
    /// Colour group.
    pub group: usize,
    /// One entry per category.
    pub values: Vec<Option<Value>>,
}

impl CategorySeries {
    /// A series of values, one per category.
    pub fn new(label: impl Into<String>, group: usize, values: Vec<Option<Value>>) -> Self {
        Self {
            label: label.into(),
            group,
            values,
        }
    }
}

/// Values per category: measured as dots with interval bars, theory as short horizontal ticks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoriesPanel {
    /// Title.
    pub title: String,
    /// What the categories are (the axis label).
    pub category_label: String,
    /// The categories, left to right.
    pub categories: Vec<String>,
    /// The value axis.
    pub y: Axis,
    /// Measured series, placed side by side within each category.
    pub measured: Vec<CategorySeries>,
    /// Theory values per category.
    pub theory: Vec<CategorySeries>,
}

/// The same units (seeds) measured under each condition; each unit is drawn as a line joining its
/// values, with the conditions' means and intervals beside them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairedPanel {
    /// Title.
    pub title: String,
    /// The conditions, left to right.
    pub conditions: Vec<String>,
    /// The value axis.
    pub y: Axis,
    /// One row per unit: its value under each condition.
    pub units: Vec<Vec<f64>>,
    /// Per condition: the mean (or other summary) with its interval.
    pub summary: Vec<Value>,
}

/// One cell of a categorical grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridCell {
    /// Its class: an index into [`GridPanel::classes`], which sets its shade.
    pub class: usize,
    /// Short lines of text inside the cell (numbers formatted by the kind).
    pub lines: Vec<String>,
}

/// A categorical grid: rows by columns, each cell shaded by its class and annotated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GridPanel {
    /// Title.
    pub title: String,
    /// What the rows are.
    pub row_label: String,
    /// Row names, top to bottom.
    pub rows: Vec<String>,
    /// What the columns are.
    pub column_label: String,
    /// Column names, left to right.
    pub columns: Vec<String>,
    /// Cells, `cells[row][column]`.
    pub cells: Vec<Vec<GridCell>>,
    /// The classes' names, shown in the legend.
    pub classes: Vec<String>,
}

/// A histogram: bins of equal width from `lo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bins {
    /// Legend label.
    pub label: String,
    /// Colour group.
    pub group: usize,
    /// The left edge of the first bin.
    pub lo: f64,
    /// The bin width.
    pub width: f64,
    /// The value of each bin (a density or a probability).
    pub values: Vec<f64>,
}

/// Binned samples against densities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistogramPanel {
    /// Title.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Histograms, drawn as step outlines.
    pub histograms: Vec<Bins>,
    /// Densities (theory): solid lines.
    pub densities: Vec<Line>,
}

/// A number for text inside a figure: three significant digits, or a power of ten when very large
/// or small. Figures are pictures of the data; the post's prose has its own number rules.
pub fn short_number(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let digits = 2 - decimal_exponent(a);
        let decimals = usize::try_from(digits.max(0)).unwrap_or(0);
        format!("{v:.decimals$}")
    } else {
        format!("{v:.2e}")
    }
}

/// floor(log10(a)) for a > 0, by comparison (no platform logarithm).
fn decimal_exponent(a: f64) -> i32 {
    let mut e = 0;
    let mut p = 1.0;
    if a >= 1.0 {
        while a >= p * 10.0 {
            p *= 10.0;
            e += 1;
        }
    } else {
        while a < p {
            p /= 10.0;
            e -= 1;
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers_have_three_significant_digits() {
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(0.974), "0.974");
        assert_eq!(short_number(12.345), "12.3");
        assert_eq!(short_number(1234.4), "1234");
        assert_eq!(short_number(0.0012), "0.00120");
        assert_eq!(short_number(2.5e6), "2.50e6");
        assert_eq!(short_number(f64::NAN), "—");
    }

    #[test]
    fn builders_fill_panels() {
        let p = CurvesPanel::new("t", Axis::linear("η"), Axis::log("τ"))
            .theory(Line::new("exact", 0, [(0.0, 1.0), (1.0, 2.0)]))
            .measured(Points::new(
                "SGD",
                0,
                vec![MeasuredPoint::with_ci(0.5, 1.5, [1.4, 1.6])],
            ))
            .mark(0.7, "edge", 1);
        let f = FigureData::single(p);
        assert_eq!(f.panels.len(), 1);
        let Panel::Curves(c) = &f.panels[0] else {
            panic!("not a curves panel")
        };
        assert_eq!(c.theory[0].points, vec![[0.0, 1.0], [1.0, 2.0]]);
        assert!(c.y.log && c.marks[0].x == 0.7);
        assert_eq!(Axis::proportion("P").range, Some([0.0, 1.0]));
    }
}
