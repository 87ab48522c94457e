//! Claim kind `digits-network/noise-regularizers`: plain SGD against the same runs (same seeds)
//! with Gaussian input noise, with dropout, and with weight decay: the paired effects on the test
//! accuracy and loss, and the weight norm under weight decay.

use crate::common::{
    SPLIT_SEED, digits, mean_of, paired_diff, provenance_table, run_grid, seed_count, total_steps,
    validate_data, validate_seeds,
};
use crate::train::{Probes, Recipe, Run};
use claim_spec::figure::{Axis, CategoriesPanel, CategorySeries, FigureData, Value};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::stats::paired_ratio;

/// Parameters of `digits-network/noise-regularizers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The plain recipe (its regularizer fields are ignored).
    pub recipe: Recipe,
    /// Standard deviation of the Gaussian input noise (preprocessed pixel units).
    pub input_noise: f64,
    /// Dropout probability of the hidden units.
    pub dropout: f64,
    /// Weight decay lambda.
    pub weight_decay: f64,
    /// Seeds, shared by the four conditions.
    pub seeds: usize,
    /// The seed of the train/test split.
    pub split_seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            recipe: Recipe {
                batch: 32,
                lr: 1.0,
                epochs: 20,
                ..Recipe::default()
            },
            input_noise: 0.2,
            dropout: 0.2,
            weight_decay: 1e-3,
            seeds: 8,
            split_seed: SPLIT_SEED,
        }
    }
}

/// The conditions, in order.
pub const CONDITIONS: [&str; 4] = ["plain", "input_noise", "dropout", "weight_decay"];

impl Params {
    fn jobs(&self) -> Vec<(Recipe, Probes)> {
        let plain = Recipe {
            input_noise: 0.0,
            dropout: 0.0,
            weight_decay: 0.0,
            ..self.recipe.clone()
        };
        [
            plain.clone(),
            Recipe {
                input_noise: self.input_noise,
                ..plain.clone()
            },
            Recipe {
                dropout: self.dropout,
                ..plain.clone()
            },
            Recipe {
                weight_decay: self.weight_decay,
                ..plain
            },
        ]
        .into_iter()
        .map(|r| (r, Probes::default()))
        .collect()
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        validate_data()?;
        for (i, (r, _)) in self.jobs().iter().enumerate() {
            r.validate(&format!("{}.", CONDITIONS[i]))?;
        }
        ParamError::positive("input_noise", self.input_noise)?;
        ParamError::positive("dropout", self.dropout)?;
        ParamError::positive("weight_decay", self.weight_decay)?;
        validate_seeds(self.seeds)
    }

    fn estimated_work(&self) -> f64 {
        4.0 * self.recipe.work() * self.seeds as f64
    }
}

/// The kind.
pub struct NoiseRegularizers;

/// `runs[c][s]`: condition c of [`CONDITIONS`] at seed s.
pub struct Measured {
    /// The runs.
    pub runs: Vec<Vec<Run>>,
    /// The data's provenance.
    pub provenance: Table,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        total_steps(&self.runs)
    }
}

impl Experiment for NoiseRegularizers {
    const KIND: &'static str = "digits-network/noise-regularizers";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let d = digits(p.split_seed)?;
        let runs = run_grid(&p.jobs(), seed_count(ctx, p.seeds), &d, ctx)?;
        Ok(Measured {
            runs,
            provenance: provenance_table(&d),
        })
    }

    fn metrics(_p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        if m.runs.len() != CONDITIONS.len() {
            return Err(ExperimentError::InvalidParams(
                "four conditions expected".into(),
            ));
        }
        let mut out = Metrics::new();
        let plain = &m.runs[0];
        for (c, runs) in CONDITIONS.iter().zip(&m.runs) {
            out.estimate(
                &format!("test_accuracy_{c}"),
                mean_of(runs, |r| r.test.accuracy),
            );
            out.estimate(&format!("test_loss_{c}"), mean_of(runs, |r| r.test.loss));
            out.estimate(&format!("train_loss_{c}"), mean_of(runs, |r| r.train.loss));
            out.estimate(
                &format!("weight_norm_{c}"),
                mean_of(runs, |r| r.weight_norm),
            );
            if *c != "plain" {
                out.estimate(
                    &format!("test_accuracy_gain_{c}"),
                    paired_diff(runs, plain, |r| r.test.accuracy),
                );
                out.estimate(
                    &format!("test_loss_change_{c}"),
                    paired_diff(runs, plain, |r| r.test.loss),
                );
            }
        }
        let norm = |runs: &[Run]| runs.iter().map(|r| r.weight_norm).collect::<Vec<_>>();
        out.estimate(
            "weight_norm_ratio_decay_over_plain",
            paired_ratio(&norm(&m.runs[3]), &norm(plain)),
        );
        out.table("runs", runs_table(m));
        out.table("data", m.provenance.clone());
        Ok(out)
    }

    fn figures(_p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let plain = &m.runs[0];
        let gain = |f: fn(&Run) -> f64| -> Vec<Option<Value>> {
            m.runs[1..]
                .iter()
                .map(|runs| {
                    let e = paired_diff(runs, plain, f);
                    Some(Value::with_ci(e.value, e.ci95()))
                })
                .collect()
        };
        let categories = vec![
            "input noise".into(),
            "dropout".into(),
            "weight decay".into(),
        ];
        let acc = CategoriesPanel {
            title: "Test accuracy, regularized minus plain".into(),
            category_label: "regularizer".into(),
            categories: categories.clone(),
            y: Axis::linear("paired difference in test accuracy"),
            measured: vec![CategorySeries::new(
                "mean over seeds",
                0,
                gain(|r| r.test.accuracy),
            )],
            theory: vec![CategorySeries::new(
                "no effect",
                1,
                vec![Some(Value::exact(0.0)); 3],
            )],
        };
        let loss = CategoriesPanel {
            title: "Test loss, regularized minus plain".into(),
            category_label: "regularizer".into(),
            categories,
            y: Axis::linear("paired difference in test loss"),
            measured: vec![CategorySeries::new(
                "mean over seeds",
                0,
                gain(|r| r.test.loss),
            )],
            theory: vec![CategorySeries::new(
                "no effect",
                1,
                vec![Some(Value::exact(0.0)); 3],
            )],
        };
        let mut figures = Figures::new();
        figures.add(
            "effects",
            FigureData::stacked(vec![acc.into(), loss.into()]),
        );
        Ok(figures)
    }
}

fn runs_table(m: &Measured) -> Table {
    let mut t = Table::new([
        "condition",
        "seed",
        "train_loss",
        "test_accuracy",
        "test_loss",
        "weight_norm",
    ]);
    for (c, runs) in CONDITIONS.iter().zip(&m.runs) {
        for (s, r) in runs.iter().enumerate() {
            t.push(row![
                *c,
                s,
                r.train.loss,
                r.test.accuracy,
                r.test.loss,
                r.weight_norm
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
        let r = |a: f64, sharp: f64| {
            vec![
                run(a, 0.1, sharp, 10.0, 0.01),
                run(a + 0.01, 0.1, sharp, 10.0, 0.01),
            ]
        };
        let m = Measured {
            runs: vec![r(0.96, 2.0), r(0.97, 2.0), r(0.955, 2.0), r(0.96, 1.5)],
            provenance: Table::new(["x"]),
        };
        let out = NoiseRegularizers::metrics(&p, &m).unwrap();
        let v = |k: &str| out.value(k).unwrap();
        assert!((v("test_accuracy_gain_input_noise") - 0.01).abs() < 1e-12);
        assert!((v("test_accuracy_gain_dropout") + 0.005).abs() < 1e-12);
        assert!((v("weight_norm_ratio_decay_over_plain") - 0.75).abs() < 1e-12);
        let f = NoiseRegularizers::figures(&p, &m).unwrap();
        assert_eq!(f.get("effects").unwrap().panels.len(), 2);
    }
}
