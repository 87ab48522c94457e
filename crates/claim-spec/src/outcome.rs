//! What an experiment returns: named metrics (value and interval), tables, and figure data.

use crate::figure::FigureSpec;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sgd_sim::stats::Estimate;
use std::collections::BTreeMap;

/// A metric: a value, with its 95% interval when it is a statistical estimate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The value.
    pub value: f64,
    /// The 95% confidence interval; absent for exact or deterministic values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<[f64; 2]>,
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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

/// Everything one experiment run produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Named metrics (snake_case).
    pub metrics: BTreeMap<String, Metric>,
    /// Named tables.
    pub tables: BTreeMap<String, Table>,
    /// Figure data by figure name (the names the claim file lists).
    pub figures: BTreeMap<String, FigureSpec>,
    /// Random samples drawn (trajectory steps, batches, ...), for provenance.
    pub samples: u64,
}

impl Outcome {
    /// An empty outcome.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an exact or deterministic value (no interval).
    pub fn exact(&mut self, name: &str, value: f64) {
        self.metrics
            .insert(name.to_owned(), Metric { value, ci: None });
    }

    /// Records a statistical estimate with its 95% interval.
    pub fn estimate(&mut self, name: &str, estimate: Estimate) {
        self.metrics.insert(
            name.to_owned(),
            Metric {
                value: estimate.value,
                ci: Some(estimate.ci95()),
            },
        );
    }

    /// Records a value with an interval computed elsewhere (bootstrap, Wilson, delta method).
    pub fn with_interval(&mut self, name: &str, value: f64, ci: [f64; 2]) {
        self.metrics.insert(
            name.to_owned(),
            Metric {
                value,
                ci: Some(ci),
            },
        );
    }

    /// Adds a table.
    pub fn table(&mut self, name: &str, table: Table) {
        self.tables.insert(name.to_owned(), table);
    }

    /// Adds a figure's data.
    pub fn figure(&mut self, name: &str, figure: FigureSpec) {
        self.figures.insert(name.to_owned(), figure);
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
    fn non_finite_metrics_are_found() {
        let mut o = Outcome::new();
        o.exact("a", 1.0);
        assert!(o.first_non_finite_metric().is_none());
        o.with_interval("b", 1.0, [0.0, f64::INFINITY]);
        assert_eq!(o.first_non_finite_metric().unwrap().0, "b");
    }
}
