//! What an experiment returns: named metrics (value, interval and basis), tables, and figure data.

use crate::figure::FigureData;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sgd_sim::stats::Estimate;
use std::collections::BTreeMap;

/// What a value rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// It depends on the random simulation: another seed gives another value.
    Measured,
    /// A closed form, a recursion, a quadrature or a code invariant: no random number enters it.
    Computed,
}

impl Basis {
    /// The lowercase name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Measured => "measured",
            Basis::Computed => "computed",
        }
    }
}

/// A metric: a value, its 95% interval when it is a statistical estimate, and its basis.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metric {
    /// The value.
    pub value: f64,
    /// The 95% confidence interval; absent for computed values and for measured statistics that
    /// are not estimates (a maximum |z| over points, a count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<[f64; 2]>,
    /// Measured or computed.
    pub basis: Basis,
}

/// A table cell: a number (non-finite numbers become `null`), a label, or empty.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// A number.
    Number(f64),
    /// A label.
    Text(String),
    /// Missing.
    Null,
}

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        if v.is_finite() {
            Cell::Number(v)
        } else {
            Cell::Null
        }
    }
}
impl From<u64> for Cell {
    fn from(v: u64) -> Self {
        Cell::Number(v as f64)
    }
}
impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Number(v as f64)
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_owned())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}
impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Cell::Null, Cell::from)
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Number(v) if v.is_finite() => s.serialize_f64(*v),
            Cell::Number(_) | Cell::Null => s.serialize_none(),
            Cell::Text(t) => s.serialize_str(t),
        }
    }
}

impl JsonSchema for Cell {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Cell".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number, a label, or null (missing or not finite).",
            "type": ["number", "string", "null"]
        })
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(match v {
            serde_json::Value::Null => Cell::Null,
            serde_json::Value::Number(n) => n.as_f64().map_or(Cell::Null, Cell::Number),
            serde_json::Value::String(s) => Cell::Text(s),
            other => Cell::Text(other.to_string()),
        })
    }
}

impl Cell {
    /// The number in the cell, if any.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Number(v) => Some(*v),
            _ => None,
        }
    }
}

/// A table: named columns and rows of cells; the data behind a figure, simulation and theory side by side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Table {
    /// Column names (snake_case).
    pub columns: Vec<String>,
    /// Rows; each has one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Self {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    ///
    /// # Panics
    /// Panics when the row has the wrong number of cells: a programming error in the experiment.
    pub fn push(&mut self, row: Vec<Cell>) {
        assert_eq!(
            row.len(),
            self.columns.len(),
            "table row width differs from its columns"
        );
        self.rows.push(row);
    }

    /// The numbers of a column, by name (None where a cell holds no number).
    pub fn column(&self, name: &str) -> Option<Vec<Option<f64>>> {
        let k = self.columns.iter().position(|c| c == name)?;
        Some(self.rows.iter().map(|r| r[k].as_f64()).collect())
    }
}

/// Builds a table row from heterogeneous values: `row![1.0, "label", 3usize]`.
#[macro_export]
macro_rules! row {
    ($($v:expr),* $(,)?) => { vec![$($crate::outcome::Cell::from($v)),*] };
}

/// What a kind's metric step returns: named metrics and named tables.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Metrics by name (snake_case).
    pub values: BTreeMap<String, Metric>,
    /// Tables by name: the data behind the figures, simulation and theory side by side.
    pub tables: BTreeMap<String, Table>,
}

impl Metrics {
    /// No metrics yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn insert(&mut self, name: &str, value: f64, ci: Option<[f64; 2]>, basis: Basis) {
        self.values
            .insert(name.to_owned(), Metric { value, ci, basis });
    }

    /// A measured estimate with its 95% interval (Student's t on the estimate's samples).
    pub fn estimate(&mut self, name: &str, estimate: Estimate) {
        self.insert(name, estimate.value, Some(estimate.ci95()), Basis::Measured);
    }

    /// A measured value with an interval computed elsewhere (bootstrap, Wilson, delta method).
    pub fn estimate_with_interval(&mut self, name: &str, value: f64, ci: [f64; 2]) {
        self.insert(name, value, Some(ci), Basis::Measured);
    }

    /// A measured statistic without an interval: it depends on the simulation, but it is not an
    /// estimate of a quantity (the largest |z| over points, a count of diverged runs).
    pub fn measured(&mut self, name: &str, value: f64) {
        self.insert(name, value, None, Basis::Measured);
    }

    /// A computed value: a closed form, a recursion, a quadrature or a code invariant.
    pub fn computed(&mut self, name: &str, value: f64) {
        self.insert(name, value, None, Basis::Computed);
    }

    /// A computed value with the interval of a deterministic fit or numerical error (not a
    /// sampling interval; the post says "computed" for it).
    pub fn computed_with_interval(&mut self, name: &str, value: f64, ci: [f64; 2]) {
        self.insert(name, value, Some(ci), Basis::Computed);
    }

    /// Adds a table.
    pub fn table(&mut self, name: &str, table: Table) {
        self.tables.insert(name.to_owned(), table);
    }

    /// The value of metric `name`, if recorded.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.values.get(name).map(|m| m.value)
    }
}

/// Everything one experiment run produced, composed by [`crate::experiment::run_experiment`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Named metrics (snake_case).
    pub metrics: BTreeMap<String, Metric>,
    /// Named tables.
    pub tables: BTreeMap<String, Table>,
    /// Figure data by figure name (the names the claim file lists).
    pub figures: BTreeMap<String, FigureData>,
    /// Random samples drawn (trajectory steps, batches, ...), for provenance.
    pub samples: u64,
}

impl Outcome {
    /// Whether figure `name` was produced.
    pub fn has_figure(&self, name: &str) -> bool {
        self.figures.contains_key(name)
    }

    /// The first metric whose value or interval is not finite, if any.
    pub fn first_non_finite_metric(&self) -> Option<(&str, &Metric)> {
        self.metrics.iter().find_map(|(k, m)| {
            let bad = !m.value.is_finite()
                || m.ci.is_some_and(|c| !c[0].is_finite() || !c[1].is_finite());
            bad.then_some((k.as_str(), m))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_serialize_non_finite_as_null() {
        let t = Table {
            columns: vec!["a".into(), "b".into(), "c".into()],
            rows: vec![row![f64::NAN, "x", 2.5]],
        };
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, r#"{"columns":["a","b","c"],"rows":[[null,"x",2.5]]}"#);
        let back: Table = serde_json::from_str(&s).unwrap();
        assert_eq!(back.rows[0][0], Cell::Null);
        assert_eq!(back.column("c").unwrap(), vec![Some(2.5)]);
    }

    #[test]
    fn metrics_record_their_basis() {
        let mut m = Metrics::new();
        m.computed("theory", 2.0);
        m.estimate(
            "slope",
            Estimate {
                value: 1.0,
                se: 0.1,
                n: 5000,
            },
        );
        m.measured("max_abs_z", 1.5);
        assert_eq!(m.values["theory"].basis, Basis::Computed);
        assert_eq!(m.values["slope"].basis, Basis::Measured);
        let [lo, hi] = m.values["slope"].ci.unwrap();
        assert!((lo - (1.0 - 0.1 * sgd_sim::stats::Z95)).abs() < 1e-15 && hi > 1.19);
        assert_eq!(m.values["max_abs_z"].ci, None);
        assert_eq!(
            serde_json::to_string(&m.values["theory"]).unwrap(),
            r#"{"value":2.0,"basis":"computed"}"#
        );
    }

    #[test]
    fn non_finite_metrics_are_found() {
        let mut m = Metrics::new();
        m.computed("a", 1.0);
        let mut o = Outcome {
            metrics: m.values.clone(),
            ..Outcome::default()
        };
        assert!(o.first_non_finite_metric().is_none());
        m.estimate_with_interval("b", 1.0, [0.0, f64::INFINITY]);
        o.metrics = m.values;
        assert_eq!(o.first_non_finite_metric().unwrap().0, "b");
    }
}
