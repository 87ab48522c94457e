//! Claim kind `digits-network/generalization-gap`: the train-test gap and the test accuracy
//! against the batch size at one learning rate, (a) after a fixed number of epochs and (b) stopped
//! at the same training loss.

use crate::common::{
    SPLIT_SEED, digits, mean_of, paired_diff, provenance_table, run_grid, seed_count, total_steps,
    validate_data, validate_seeds,
};
use crate::train::{Probes, Recipe, Run};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Parameters of `digits-network/generalization-gap`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Batch sizes, increasing.
    pub batches: Vec<usize>,
    /// The learning rate every batch size uses.
    pub lr: f64,
    /// Epochs of regime (a).
    pub fixed_epochs: usize,
    /// The training loss at which regime (b) stops.
    pub target_loss: f64,
    /// The most epochs of regime (b).
    pub max_epochs: usize,
    /// Training images between checks of the training loss in regime (b).
    pub check_examples: usize,
    /// The small batch of the headline comparison (one of `batches`).
    pub small_batch: usize,
    /// The large batch of the headline comparison (one of `batches`).
    pub large_batch: usize,
    /// Seeds, shared by every batch size.
    pub seeds: usize,
    /// The seed of the train/test split.
    pub split_seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            batches: vec![8, 32, 128, 512],
            lr: 2.0,
            fixed_epochs: 10,
            target_loss: 0.05,
            max_epochs: 200,
            check_examples: 256,
            small_batch: 32,
            large_batch: 512,
            seeds: 12,
            split_seed: SPLIT_SEED,
        }
    }
}

impl Params {
    fn jobs(&self) -> Vec<(Recipe, Probes)> {
        let mut jobs = Vec::new();
        for &b in &self.batches {
            let base = Recipe {
                batch: b,
                lr: self.lr,
                ..Recipe::default()
            };
            jobs.push((
                Recipe {
                    epochs: self.fixed_epochs,
                    ..base.clone()
                },
                Probes::default(),
            ));
            let probes = Probes {
                target_loss: Some(self.target_loss),
                check_examples: self.check_examples,
                ..Probes::default()
            };
            jobs.push((
                Recipe {
                    epochs: self.max_epochs,
                    ..base
                },
                probes,
            ));
        }
        jobs
    }

    fn index(&self, b: usize) -> Option<usize> {
        self.batches.iter().position(|&x| x == b)
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        validate_data()?;
        for (i, (r, _)) in self.jobs().iter().enumerate() {
            r.validate(&format!("batches[{}]/", i / 2))?;
        }
        if !self.batches.windows(2).all(|w| w[0] < w[1]) || self.batches.len() < 2 {
            return Err(ParamError::new(
                "batches",
                "must be at least two, increasing",
            ));
        }
        if self.index(self.small_batch).is_none() || self.index(self.large_batch).is_none() {
            return Err(ParamError::new(
                "small_batch",
                "small_batch and large_batch must be in batches",
            ));
        }
        ParamError::positive("target_loss", self.target_loss)?;
        validate_seeds(self.seeds)
    }

    fn estimated_work(&self) -> f64 {
        let per_seed: f64 = self.jobs().iter().map(|(r, _)| r.work()).sum();
        2.0 * per_seed * self.seeds as f64
    }
}

/// The kind.
pub struct GeneralizationGap;

/// Per batch size: the fixed-epoch runs and the equal-loss runs, by seed.
pub struct Measured {
    /// Batch sizes.
    pub batches: Vec<usize>,
    /// Regime (a), `fixed[b][s]`.
    pub fixed: Vec<Vec<Run>>,
    /// Regime (b), `equal[b][s]`.
    pub equal: Vec<Vec<Run>>,
    /// The data's provenance.
    pub provenance: Table,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        total_steps(&self.fixed) + total_steps(&self.equal)
    }
}

fn loss_gap(r: &Run) -> f64 {
    r.test.loss - r.train.loss
}

fn accuracy_gap(r: &Run) -> f64 {
    r.train.accuracy - r.test.accuracy
}

impl Experiment for GeneralizationGap {
    const KIND: &'static str = "digits-network/generalization-gap";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let d = digits(p.split_seed)?;
        let runs = run_grid(&p.jobs(), seed_count(ctx, p.seeds), &d, ctx)?;
        let (mut fixed, mut equal) = (Vec::new(), Vec::new());
        for (i, r) in runs.into_iter().enumerate() {
            if i % 2 == 0 {
                fixed.push(r)
            } else {
                equal.push(r)
            }
        }
        Ok(Measured {
            batches: p.batches.clone(),
            fixed,
            equal,
            provenance: provenance_table(&d),
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        let (s, l) = match (p.index(p.small_batch), p.index(p.large_batch)) {
            (Some(s), Some(l)) => (s, l),
            _ => return Err(ExperimentError::InvalidParams("batches".into())),
        };
        for (regime, runs) in [("equal_loss", &m.equal), ("fixed_epochs", &m.fixed)] {
            let acc = |r: &Run| r.test.accuracy;
            out.estimate(
                &format!("test_accuracy_small_minus_large_{regime}"),
                paired_diff(&runs[s], &runs[l], acc),
            );
            out.estimate(
                &format!("loss_gap_large_minus_small_{regime}"),
                paired_diff(&runs[l], &runs[s], loss_gap),
            );
            out.estimate(
                &format!("test_accuracy_small_{regime}"),
                mean_of(&runs[s], acc),
            );
            out.estimate(
                &format!("test_accuracy_large_{regime}"),
                mean_of(&runs[l], acc),
            );
            out.estimate(
                &format!("loss_gap_small_{regime}"),
                mean_of(&runs[s], loss_gap),
            );
            out.estimate(
                &format!("loss_gap_large_{regime}"),
                mean_of(&runs[l], loss_gap),
            );
        }
        let reached = m
            .equal
            .iter()
            .flatten()
            .filter(|r| r.steps_to_target.is_some())
            .count();
        let total = m.equal.iter().flatten().count();
        out.measured(
            "runs_reaching_target_fraction",
            reached as f64 / total as f64,
        );
        let stop_max = m
            .equal
            .iter()
            .flatten()
            .map(|r| r.train.loss)
            .fold(f64::MIN, f64::max);
        out.measured("stop_train_loss_max", stop_max);
        out.table("by_batch", batch_table(m));
        out.table("data", m.provenance.clone());
        Ok(out)
    }

    fn figures(_p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let series = |runs: &[Vec<Run>], f: &dyn Fn(&Run) -> f64| -> Vec<MeasuredPoint> {
            m.batches
                .iter()
                .zip(runs)
                .map(|(&b, rs)| {
                    let e = mean_of(rs, f);
                    MeasuredPoint::with_ci(b as f64, e.value, e.ci95())
                })
                .collect()
        };
        let acc = |r: &Run| r.test.accuracy;
        let top = CurvesPanel::new(
            "Test accuracy",
            Axis::log("batch size b"),
            Axis::linear("test accuracy"),
        )
        .measured(Points::new("(a) fixed epochs", 0, series(&m.fixed, &acc)))
        .measured(Points::new(
            "(b) equal training loss",
            1,
            series(&m.equal, &acc),
        ));
        let bottom = CurvesPanel::new(
            "Generalization gap",
            Axis::log("batch size b"),
            Axis::linear("test loss − training loss"),
        )
        .measured(Points::new(
            "(a) fixed epochs",
            0,
            series(&m.fixed, &loss_gap),
        ))
        .measured(Points::new(
            "(b) equal training loss",
            1,
            series(&m.equal, &loss_gap),
        ));
        let mut figures = Figures::new();
        figures.add(
            "gap-by-batch",
            FigureData::stacked(vec![top.into(), bottom.into()]),
        );
        Ok(figures)
    }
}

/// Per batch size and regime: means over seeds (the trade-off table's generalization column).
fn batch_table(m: &Measured) -> Table {
    let mut t = Table::new([
        "batch",
        "regime",
        "steps",
        "train_loss",
        "train_accuracy",
        "test_accuracy",
        "test_accuracy_lo",
        "test_accuracy_hi",
        "test_loss",
        "loss_gap",
        "accuracy_gap",
    ]);
    for (i, &b) in m.batches.iter().enumerate() {
        for (regime, runs) in [("fixed_epochs", &m.fixed[i]), ("equal_loss", &m.equal[i])] {
            let acc = mean_of(runs, |r| r.test.accuracy);
            let [lo, hi] = acc.ci95();
            t.push(row![
                b,
                regime,
                mean_of(runs, |r| r.steps as f64).value,
                mean_of(runs, |r| r.train.loss).value,
                mean_of(runs, |r| r.train.accuracy).value,
                acc.value,
                lo,
                hi,
                mean_of(runs, |r| r.test.loss).value,
                mean_of(runs, loss_gap).value,
                mean_of(runs, accuracy_gap).value
            ]);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::fixtures::run;

    #[test]
    fn metrics_and_figures_from_hand_made_runs() {
        let p = Params {
            batches: vec![32, 512],
            ..Params::default()
        };
        assert!(p.validate().is_ok());
        let small = vec![
            run(0.97, 0.12, 0.2, 100.0, 0.04),
            run(0.96, 0.13, 0.2, 100.0, 0.05),
        ];
        let large = vec![
            run(0.96, 0.14, 0.2, 50.0, 0.05),
            run(0.96, 0.15, 0.2, 50.0, 0.05),
        ];
        let m = Measured {
            batches: vec![32, 512],
            fixed: vec![small.clone(), large.clone()],
            equal: vec![small, large],
            provenance: Table::new(["x"]),
        };
        let out = GeneralizationGap::metrics(&p, &m).unwrap();
        let v = |k: &str| out.value(k).unwrap();
        assert!((v("test_accuracy_small_minus_large_equal_loss") - 0.005).abs() < 1e-12);
        // Gaps: small 0.08, 0.08; large 0.09, 0.10.
        assert!((v("loss_gap_large_minus_small_fixed_epochs") - 0.015).abs() < 1e-12);
        assert_eq!(out.tables["by_batch"].rows.len(), 4);
        let f = GeneralizationGap::figures(&p, &m).unwrap();
        assert_eq!(f.get("gap-by-batch").unwrap().panels.len(), 2);
    }
}
