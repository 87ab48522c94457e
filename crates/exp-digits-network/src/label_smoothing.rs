//! Claim kind `digits-network/label-smoothing`: the same runs with and without label smoothing.
//! On the training set, the top probability and the logit gap against the smoothing bound (at
//! the optimum of the smoothed loss p_y = 1 - eps + eps/K, and the gap is
//! ln((1 - eps + eps/K) / (eps/K))); on the test set, the accuracy, the confidence and the
//! expected calibration error over bins fixed beforehand.

use crate::common::{
    SPLIT_SEED, digits, mean_of, paired_diff, provenance_table, run_grid, seed_count, total_steps,
    validate_data, validate_seeds,
};
use crate::data::CLASSES;
use crate::train::{Eval, Probes, Recipe, Run};
use claim_spec::figure::{Axis, CategoriesPanel, CategorySeries, FigureData, Value};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::ln;

/// Parameters of `digits-network/label-smoothing`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The training recipe without smoothing (its `smoothing` is ignored).
    pub recipe: Recipe,
    /// Label smoothing epsilon of the smoothed runs.
    pub smoothing: f64,
    /// Equal-width confidence bins of the calibration error, fixed beforehand.
    pub ece_bins: usize,
    /// Seeds, shared by both conditions.
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
                epochs: 30,
                ..Recipe::default()
            },
            smoothing: 0.1,
            ece_bins: 15,
            seeds: 8,
            split_seed: SPLIT_SEED,
        }
    }
}

impl Params {
    fn jobs(&self) -> Vec<(Recipe, Probes)> {
        let plain = Recipe {
            smoothing: 0.0,
            ..self.recipe.clone()
        };
        let smoothed = Recipe {
            smoothing: self.smoothing,
            ..self.recipe.clone()
        };
        vec![(plain, Probes::default()), (smoothed, Probes::default())]
    }

    /// The largest top probability the smoothed loss rewards: 1 - eps + eps / K.
    pub fn top_bound(&self) -> f64 {
        1.0 - self.smoothing + self.smoothing / CLASSES as f64
    }

    /// The logit gap at the smoothed optimum: ln((1 - eps + eps/K) / (eps/K)).
    pub fn gap_bound(&self) -> f64 {
        ln(self.top_bound() / (self.smoothing / CLASSES as f64))
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        validate_data()?;
        self.recipe.validate("recipe.")?;
        ParamError::in_range("smoothing", self.smoothing, 1e-3, 0.5)?;
        ParamError::at_least("ece_bins", self.ece_bins as u64, 2)?;
        validate_seeds(self.seeds)
    }

    fn estimated_work(&self) -> f64 {
        2.0 * self.recipe.work() * self.seeds as f64
    }
}

/// The kind.
pub struct LabelSmoothing;

/// The runs: `plain[s]` and `smoothed[s]` share seed s.
pub struct Measured {
    /// Without smoothing.
    pub plain: Vec<Run>,
    /// With smoothing.
    pub smoothed: Vec<Run>,
    /// The data's provenance.
    pub provenance: Table,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        total_steps(&[self.plain.clone(), self.smoothed.clone()])
    }
}

fn above(e: &Eval, bound: f64) -> f64 {
    e.top.iter().filter(|&&t| t > bound).count() as f64 / e.top.len().max(1) as f64
}

fn overconfidence(e: &Eval) -> f64 {
    e.mean_top() - e.accuracy
}

impl Experiment for LabelSmoothing {
    const KIND: &'static str = "digits-network/label-smoothing";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let d = digits(p.split_seed)?;
        let mut runs = run_grid(&p.jobs(), seed_count(ctx, p.seeds), &d, ctx)?;
        let smoothed = runs.pop().unwrap_or_default();
        let plain = runs.pop().unwrap_or_default();
        Ok(Measured {
            plain,
            smoothed,
            provenance: provenance_table(&d),
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        out.computed("top_probability_bound", p.top_bound());
        out.computed("logit_gap_bound", p.gap_bound());
        let (tb, gb, bins) = (p.top_bound(), p.gap_bound(), p.ece_bins);
        for (name, runs) in [("plain", &m.plain), ("smoothed", &m.smoothed)] {
            let est = |f: &dyn Fn(&Run) -> f64| mean_of(runs, f);
            out.estimate(
                &format!("train_mean_top_{name}"),
                est(&|r| r.train.mean_top()),
            );
            out.estimate(
                &format!("train_mean_gap_{name}"),
                est(&|r| r.train.mean_gap()),
            );
            out.estimate(
                &format!("train_above_top_bound_{name}"),
                est(&|r| above(&r.train, tb)),
            );
            let gap_above = |r: &Run| {
                r.train.gap.iter().filter(|&&g| g > gb).count() as f64
                    / r.train.gap.len().max(1) as f64
            };
            out.estimate(&format!("train_above_gap_bound_{name}"), est(&gap_above));
            out.estimate(&format!("test_accuracy_{name}"), est(&|r| r.test.accuracy));
            out.estimate(
                &format!("test_mean_top_{name}"),
                est(&|r| r.test.mean_top()),
            );
            out.estimate(&format!("test_ece_{name}"), est(&|r| r.test.ece(bins)));
            out.estimate(
                &format!("test_overconfidence_{name}"),
                est(&|r| overconfidence(&r.test)),
            );
        }
        out.estimate(
            "test_accuracy_smoothed_minus_plain",
            paired_diff(&m.smoothed, &m.plain, |r| r.test.accuracy),
        );
        out.estimate(
            "test_ece_smoothed_minus_plain",
            paired_diff(&m.smoothed, &m.plain, |r| r.test.ece(bins)),
        );
        out.table("runs", runs_table(p, m));
        out.table("data", m.provenance.clone());
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let value = |runs: &[Run], f: &dyn Fn(&Run) -> f64| {
            let e = mean_of(runs, f);
            Some(Value::with_ci(e.value, e.ci95()))
        };
        let series = |label: &str, group: usize, f: &dyn Fn(&Run) -> f64| {
            CategorySeries::new(
                label,
                group,
                vec![value(&m.plain, f), value(&m.smoothed, f)],
            )
        };
        let panel = CategoriesPanel {
            title: String::new(),
            category_label: "training labels".into(),
            categories: vec!["one-hot".into(), format!("smoothed, ε = {}", p.smoothing)],
            y: Axis::proportion("probability or accuracy"),
            measured: vec![
                series("mean top probability, training set", 0, &|r| {
                    r.train.mean_top()
                }),
                series("mean top probability, test set", 1, &|r| r.test.mean_top()),
                series("test accuracy", 2, &|r| r.test.accuracy),
            ],
            theory: vec![CategorySeries::new(
                "smoothing bound 1 − ε + ε/K",
                3,
                vec![None, Some(Value::exact(p.top_bound()))],
            )],
        };
        let mut figures = Figures::new();
        figures.add("confidence", FigureData::single(panel));
        Ok(figures)
    }
}

fn runs_table(p: &Params, m: &Measured) -> Table {
    let mut t = Table::new([
        "seed",
        "smoothing",
        "train_mean_top",
        "train_mean_gap",
        "test_accuracy",
        "test_mean_top",
        "test_ece",
    ]);
    for (s, (a, b)) in m.plain.iter().zip(&m.smoothed).enumerate() {
        for (eps, r) in [(0.0, a), (p.smoothing, b)] {
            t.push(row![
                s,
                eps,
                r.train.mean_top(),
                r.train.mean_gap(),
                r.test.accuracy,
                r.test.mean_top(),
                r.test.ece(p.ece_bins)
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
    fn bounds_and_metrics_from_hand_made_runs() {
        let p = Params::default();
        assert!(p.validate().is_ok());
        assert!((p.top_bound() - 0.91).abs() < 1e-12);
        assert!((p.gap_bound() - ln(91.0)).abs() < 1e-12);
        let m = Measured {
            plain: vec![
                run(0.96, 0.1, 0.1, 10.0, 0.01),
                run(0.97, 0.1, 0.1, 10.0, 0.01),
            ],
            smoothed: vec![
                run(0.97, 0.2, 0.3, 10.0, 0.1),
                run(0.97, 0.2, 0.3, 10.0, 0.1),
            ],
            provenance: Table::new(["x"]),
        };
        let out = LabelSmoothing::metrics(&p, &m).unwrap();
        let v = |k: &str| out.value(k).unwrap();
        // Fixture tops 0.9, 0.99, 0.8, 0.95: two of four above 0.91; mean 0.91.
        assert!((v("train_above_top_bound_smoothed") - 0.5).abs() < 1e-12);
        assert!((v("test_overconfidence_plain") - (0.91 - 0.965)).abs() < 1e-12);
        assert!((v("test_accuracy_smoothed_minus_plain") - 0.005).abs() < 1e-12);
        let f = LabelSmoothing::figures(&p, &m).unwrap();
        assert_eq!(f.get("confidence").unwrap().panels.len(), 1);
    }

    #[test]
    fn the_calibration_error_uses_fixed_bins() {
        let e = Eval {
            loss: 0.0,
            accuracy: 0.5,
            top: vec![0.95, 0.95, 0.55, 0.55],
            gap: vec![0.0; 4],
            correct: vec![true, false, true, true],
        };
        // Bin of 0.95: accuracy 0.5, confidence 0.95; bin of 0.55: accuracy 1, confidence 0.55.
        assert!((e.ece(10) - (0.5 * 0.45 + 0.5 * 0.45)).abs() < 1e-12);
    }
}
