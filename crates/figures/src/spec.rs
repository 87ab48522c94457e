//! The figure specification the builders produce and the renderer draws: panels reduced to lines,
//! markers and text, with resolved ranges, colours and legend entries. Kinds never see it.

use plotters::style::RGBColor;

/// A resolved numeric axis.
#[derive(Clone, Debug, PartialEq)]
pub struct AxisSpec {
    /// Its label.
    pub label: String,
    /// Base-10 logarithmic.
    pub log: bool,
    /// The drawn range.
    pub range: [f64; 2],
}

/// How a line is stroked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    /// Solid: theory.
    Solid,
    /// Dashed: guides, asymptotes, reference slopes.
    Dashed,
    /// Dotted: vertical marks.
    Dotted,
}

/// One drawing layer of an x–y panel, in data coordinates.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// A polyline.
    Line {
        /// The points.
        points: Vec<(f64, f64)>,
        /// Its colour.
        color: RGBColor,
        /// Its stroke.
        stroke: Stroke,
        /// Its width, pixels.
        width: u32,
    },
    /// Markers with optional vertical interval bars.
    Markers {
        /// (x, y, interval of y).
        points: Vec<(f64, f64, Option<[f64; 2]>)>,
        /// Their colour.
        color: RGBColor,
        /// Radius, pixels.
        radius: u32,
    },
}

/// What a legend entry's glyph shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glyph {
    /// A line with this stroke.
    Line(Stroke),
    /// A marker with an interval bar.
    Marker,
    /// A filled square (a grid class).
    Swatch,
}

/// One legend entry.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    /// The glyph.
    pub glyph: Glyph,
    /// Its colour.
    pub color: RGBColor,
    /// The label.
    pub label: String,
}

/// A panel on x–y axes (curves, categories, paired values, histograms).
#[derive(Clone, Debug, PartialEq)]
pub struct XySpec {
    /// Title above the plot.
    pub title: String,
    /// Horizontal axis.
    pub x: AxisSpec,
    /// Vertical axis.
    pub y: AxisSpec,
    /// Category names at x = 0, 1, ..., for a categorical horizontal axis.
    pub categories: Option<Vec<String>>,
    /// Layers, drawn in order.
    pub layers: Vec<Layer>,
    /// The legend, drawn below the plot so that it never covers data.
    pub legend: Vec<LegendEntry>,
}

/// A categorical grid.
#[derive(Clone, Debug, PartialEq)]
pub struct GridSpec {
    /// Title.
    pub title: String,
    /// What the rows are.
    pub row_label: String,
    /// Row names.
    pub rows: Vec<String>,
    /// What the columns are.
    pub column_label: String,
    /// Column names.
    pub columns: Vec<String>,
    /// `cells[row][column]`: fill colour and text lines.
    pub cells: Vec<Vec<(RGBColor, Vec<String>)>>,
    /// The classes' legend.
    pub legend: Vec<LegendEntry>,
}

/// One panel, ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub enum PanelSpec {
    /// On x–y axes.
    Xy(XySpec),
    /// A grid.
    Grid(GridSpec),
}

/// A whole figure, ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct FigureSpec {
    /// The panels in reading order.
    pub panels: Vec<PanelSpec>,
    /// Two columns instead of one.
    pub side_by_side: bool,
}
