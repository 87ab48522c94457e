//! The run-function interface that kinds used before the three-step [`Experiment`] shape, kept
//! only while kinds are ported; nothing new may use it.
//!
//! [`Experiment`]: crate::experiment::Experiment

pub mod figure;

use crate::outcome::{Basis, Metric, Table};
use figure::FigureSpec;
use sgd_sim::stats::Estimate;
use std::collections::BTreeMap;

/// What a run function returned: metrics, tables, hand-built figure specifications, samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Named metrics.
    pub metrics: BTreeMap<String, Metric>,
    /// Named tables.
    pub tables: BTreeMap<String, Table>,
    /// Figure specifications by figure name.
    pub figures: BTreeMap<String, FigureSpec>,
    /// Random samples drawn.
    pub samples: u64,
}

impl Outcome {
    /// An empty outcome.
    pub fn new() -> Self {
        Self::default()
    }

    /// An exact or deterministic value (recorded as computed).
    pub fn exact(&mut self, name: &str, value: f64) {
        self.metrics.insert(
            name.to_owned(),
            Metric {
                value,
                ci: None,
                basis: Basis::Computed,
            },
        );
    }

    /// A statistical estimate with its 95% interval.
    pub fn estimate(&mut self, name: &str, estimate: Estimate) {
        self.with_interval(name, estimate.value, estimate.ci95());
    }

    /// A value with an interval computed elsewhere.
    pub fn with_interval(&mut self, name: &str, value: f64, ci: [f64; 2]) {
        self.metrics.insert(
            name.to_owned(),
            Metric {
                value,
                ci: Some(ci),
                basis: Basis::Measured,
            },
        );
    }

    /// Adds a table.
    pub fn table(&mut self, name: &str, table: Table) {
        self.tables.insert(name.to_owned(), table);
    }

    /// Adds a figure's specification.
    pub fn figure(&mut self, name: &str, figure: FigureSpec) {
        self.figures.insert(name.to_owned(), figure);
    }
}
