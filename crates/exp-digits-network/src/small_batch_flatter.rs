//! Claim kind `digits-network/small-batch-flatter`: at one learning rate, small-batch and
//! large-batch SGD from the same initializations are stopped at the same training loss; the
//! sharpness (top Hessian eigenvalue of the training loss, by Lanczos) and the test accuracy and
//! loss of each end point are compared seed by seed.

use crate::common::{
    SPLIT_SEED, digits, final_sharpness, mean_of, paired_diff, provenance_table, run_grid,
    seed_count, total_steps, validate_data, validate_seeds,
};
use crate::train::{Probes, Recipe, Run};
use claim_spec::figure::{Axis, FigureData, PairedPanel, Value};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::stats::{Estimate, mean_estimate, paired_ratio};

/// Parameters of `digits-network/small-batch-flatter`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The small batch size.
    pub small_batch: usize,
    /// The large batch size.
    pub large_batch: usize,
    /// The learning rate both use.
    pub lr: f64,
    /// The training loss (mean cross-entropy) at which both stop.
    pub target_loss: f64,
    /// The most epochs a run may take to reach it.
    pub max_epochs: usize,
    /// Training images between checks of the training loss.
    pub check_examples: usize,
    /// Lanczos steps for the sharpness.
    pub lanczos_steps: usize,
    /// Seeds (initialization and batch order), shared by the two batch sizes.
    pub seeds: usize,
    /// The seed of the train/test split.
    pub split_seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            small_batch: 8,
            large_batch: 512,
            lr: 2.0,
            target_loss: 0.05,
            max_epochs: 200,
            check_examples: 256,
            lanczos_steps: 10,
            seeds: 6,
            split_seed: SPLIT_SEED,
        }
    }
}

impl Params {
    fn recipe(&self, batch: usize) -> Recipe {
        Recipe {
            batch,
            lr: self.lr,
            epochs: self.max_epochs,
            ..Recipe::default()
        }
    }

    fn probes(&self) -> Probes {
        Probes {
            target_loss: Some(self.target_loss),
            check_examples: self.check_examples,
            sharpness_at_end: true,
            lanczos_steps: self.lanczos_steps,
            ..Probes::default()
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        validate_data()?;
        self.recipe(self.small_batch).validate("small_batch/")?;
        self.recipe(self.large_batch).validate("large_batch/")?;
        if self.small_batch >= self.large_batch {
            return Err(ParamError::new("small_batch", "must be below large_batch"));
        }
        ParamError::positive("target_loss", self.target_loss)?;
        ParamError::at_least("lanczos_steps", self.lanczos_steps as u64, 2)?;
        validate_seeds(self.seeds)
    }

    fn estimated_work(&self) -> f64 {
        // At most max_epochs per run, plus one check per step at the large batch, plus Lanczos.
        2.0 * self.seeds as f64
            * (self.recipe(self.large_batch).work() * 2.0 + 2e7 * self.lanczos_steps as f64)
    }
}

/// The kind.
pub struct SmallBatchFlatter;

/// The measured runs: `small[s]` and `large[s]` share seed s.
pub struct Measured {
    /// Small-batch runs.
    pub small: Vec<Run>,
    /// Large-batch runs.
    pub large: Vec<Run>,
    /// The data's provenance.
    pub provenance: Table,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        total_steps(&[self.small.clone(), self.large.clone()])
    }
}

/// Per seed: test accuracy of the flatter end point minus that of the sharper one.
fn flatter_minus_sharper(m: &Measured, f: impl Fn(&Run) -> f64) -> Estimate {
    let d: Vec<f64> = m
        .small
        .iter()
        .zip(&m.large)
        .map(|(a, b)| {
            let (flat, sharp) = if final_sharpness(a) <= final_sharpness(b) {
                (a, b)
            } else {
                (b, a)
            };
            f(flat) - f(sharp)
        })
        .collect();
    mean_estimate(&d)
}

impl Experiment for SmallBatchFlatter {
    const KIND: &'static str = "digits-network/small-batch-flatter";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let d = digits(p.split_seed)?;
        let seeds = seed_count(ctx, p.seeds);
        let jobs = [
            (p.recipe(p.small_batch), p.probes()),
            (p.recipe(p.large_batch), p.probes()),
        ];
        let mut runs = run_grid(&jobs, seeds, &d, ctx)?;
        let large = runs.pop().unwrap_or_default();
        let small = runs.pop().unwrap_or_default();
        Ok(Measured {
            small,
            large,
            provenance: provenance_table(&d),
        })
    }

    fn metrics(_p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        let all = || m.small.iter().chain(&m.large);
        let reached = all().filter(|r| r.steps_to_target.is_some()).count();
        out.measured(
            "runs_reaching_target_fraction",
            reached as f64 / all().count() as f64,
        );
        let stop_losses: Vec<f64> = all().map(|r| r.train.loss).collect();
        out.measured(
            "stop_train_loss_max",
            stop_losses.iter().copied().fold(f64::MIN, f64::max),
        );
        out.measured(
            "stop_train_loss_min",
            stop_losses.iter().copied().fold(f64::MAX, f64::min),
        );
        let sharp = |r: &Run| final_sharpness(r);
        let num: Vec<f64> = m.large.iter().map(sharp).collect();
        let den: Vec<f64> = m.small.iter().map(sharp).collect();
        out.estimate("sharpness_ratio_large_over_small", paired_ratio(&num, &den));
        out.estimate("sharpness_small", mean_of(&m.small, sharp));
        out.estimate("sharpness_large", mean_of(&m.large, sharp));
        for (name, runs) in [("small", &m.small), ("large", &m.large)] {
            out.estimate(
                &format!("test_accuracy_{name}"),
                mean_of(runs, |r| r.test.accuracy),
            );
            out.estimate(&format!("test_loss_{name}"), mean_of(runs, |r| r.test.loss));
        }
        out.estimate(
            "test_accuracy_small_minus_large",
            paired_diff(&m.small, &m.large, |r| r.test.accuracy),
        );
        out.estimate(
            "test_accuracy_flatter_minus_sharper",
            flatter_minus_sharper(m, |r| r.test.accuracy),
        );
        out.estimate(
            "test_loss_flatter_minus_sharper",
            flatter_minus_sharper(m, |r| r.test.loss),
        );
        let flatter_small = m
            .small
            .iter()
            .zip(&m.large)
            .filter(|(a, b)| sharp(a) <= sharp(b))
            .count();
        out.measured(
            "seeds_small_batch_flatter_fraction",
            flatter_small as f64 / m.small.len() as f64,
        );
        out.table("runs", runs_table(m));
        out.table("data", m.provenance.clone());
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let conditions = vec![
            format!("b = {}", p.small_batch),
            format!("b = {}", p.large_batch),
        ];
        let paired = |title: &str, axis: Axis, f: &dyn Fn(&Run) -> f64| {
            let units = m
                .small
                .iter()
                .zip(&m.large)
                .map(|(a, b)| vec![f(a), f(b)])
                .collect();
            let summary = [&m.small, &m.large]
                .iter()
                .map(|runs| {
                    let e = mean_of(runs, f);
                    Value::with_ci(e.value, e.ci95())
                })
                .collect();
            PairedPanel {
                title: title.into(),
                conditions: conditions.clone(),
                y: axis,
                units,
                summary,
            }
        };
        let left = paired(
            "Sharpness at the stop",
            Axis::linear("top Hessian eigenvalue λ_max"),
            &final_sharpness,
        );
        let right = paired(
            "Test accuracy at the stop",
            Axis::linear("test accuracy"),
            &|r: &Run| r.test.accuracy,
        );
        let mut figures = Figures::new();
        figures.add("sharpness-and-test", FigureData::side_by_side(left, right));
        Ok(figures)
    }
}

fn runs_table(m: &Measured) -> Table {
    let mut t = Table::new([
        "seed",
        "batch",
        "steps_to_target",
        "stop_train_loss",
        "sharpness",
        "test_accuracy",
        "test_loss",
    ]);
    for (s, (a, b)) in m.small.iter().zip(&m.large).enumerate() {
        for r in [a, b] {
            t.push(row![
                s,
                r.batch,
                r.steps_to_target,
                r.train.loss,
                final_sharpness(r),
                r.test.accuracy,
                r.test.loss
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
        let p = Params::default();
        assert!(p.validate().is_ok());
        let m = Measured {
            small: vec![
                run(0.95, 0.2, 0.1, 400.0, 0.04),
                run(0.96, 0.18, 0.12, 410.0, 0.045),
            ],
            large: vec![
                run(0.96, 0.13, 0.2, 100.0, 0.05),
                run(0.97, 0.12, 0.24, 102.0, 0.049),
            ],
            provenance: Table::new(["x"]),
        };
        let out = SmallBatchFlatter::metrics(&p, &m).unwrap();
        let v = |k: &str| out.value(k).unwrap();
        assert!((v("sharpness_ratio_large_over_small") - 0.44 / 0.22).abs() < 1e-12);
        assert!((v("test_accuracy_flatter_minus_sharper") + 0.01).abs() < 1e-12);
        assert!((v("test_loss_flatter_minus_sharper") - 0.065).abs() < 1e-12);
        assert_eq!(v("seeds_small_batch_flatter_fraction"), 1.0);
        assert_eq!(v("runs_reaching_target_fraction"), 1.0);
        assert_eq!(out.tables["runs"].rows.len(), 4);
        let f = SmallBatchFlatter::figures(&p, &m).unwrap();
        assert_eq!(f.get("sharpness-and-test").unwrap().panels.len(), 2);
    }
}
