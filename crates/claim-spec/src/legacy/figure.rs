//! The hand-built figure specifications of the run-function interface (see [`super`]).

use serde::{Deserialize, Serialize};

/// A figure: one or more panels side by side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FigureSpec {
    /// Panels, left to right.
    pub panels: Vec<Panel>,
}

/// One set of axes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    /// Title above the panel (may be empty).
    pub title: String,
    /// The horizontal axis.
    pub x: Axis,
    /// The vertical axis.
    pub y: Axis,
    /// The series drawn, in drawing order.
    pub series: Vec<Series>,
    /// Text placed at data coordinates.
    #[serde(default)]
    pub labels: Vec<TextLabel>,
}

/// An axis: its label, scale and optional fixed range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// The axis label (plain text; keep it short).
    pub label: String,
    /// Linear or logarithmic.
    pub scale: Scale,
    /// A fixed range; otherwise the range covers the data with a margin.
    pub range: Option<(f64, f64)>,
}

impl Axis {
    /// A linear axis.
    pub fn linear(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            scale: Scale::Linear,
            range: None,
        }
    }
    /// A logarithmic (base 10) axis.
    pub fn log(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            scale: Scale::Log,
            range: None,
        }
    }
    /// The same axis with a fixed range.
    pub fn with_range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }
}

/// Axis scale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scale {
    /// Linear.
    #[default]
    Linear,
    /// Base-10 logarithmic; non-positive values are not drawn.
    Log,
}

/// How a series is drawn. The house style: theory is a line, simulation is points with error bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeriesKind {
    /// Exact theory: a solid line.
    Theory,
    /// An asymptote, guide or reference slope: a dashed line.
    Guide,
    /// Measured values: markers with error bars where given.
    Simulation,
    /// A histogram: a step outline of bin values (x are bin centres).
    Histogram,
}

/// A data series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Legend label (empty: no legend entry).
    pub label: String,
    /// How it is drawn.
    pub kind: SeriesKind,
    /// Palette slot (0..8); series of one quantity share a slot across kinds.
    pub color: usize,
    /// The points.
    pub points: Vec<Point>,
}

impl Series {
    /// A series from (x, y) pairs.
    pub fn from_xy(
        label: impl Into<String>,
        kind: SeriesKind,
        color: usize,
        xy: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        Self {
            label: label.into(),
            kind,
            color,
            points: xy.into_iter().map(|(x, y)| Point::new(x, y)).collect(),
        }
    }
}

/// A point, with an optional vertical error bar [y_lo, y_hi].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
    /// Error bar, low end.
    pub y_lo: Option<f64>,
    /// Error bar, high end.
    pub y_hi: Option<f64>,
}

impl Point {
    /// A point without error bar.
    pub fn new(x: f64, y: f64) -> Self {
        Self {
            x,
            y,
            y_lo: None,
            y_hi: None,
        }
    }
    /// A point with error bar [lo, hi].
    pub fn with_interval(x: f64, y: f64, interval: [f64; 2]) -> Self {
        Self {
            x,
            y,
            y_lo: Some(interval[0]),
            y_hi: Some(interval[1]),
        }
    }
}

/// Text at data coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextLabel {
    /// x in data coordinates.
    pub x: f64,
    /// y in data coordinates.
    pub y: f64,
    /// The text.
    pub text: String,
}
