//! Claim kind `digits-network/linear-scaling`: with eta = eta0 b / b0 and a fixed number of
//! epochs, the test accuracy against the batch size, next to the stability edge eta lambda_max = 2
//! with lambda_max measured along the base run; warm-up at the largest batch sizes; and the
//! square-root rule eta = eta0 sqrt(b / b0).

use crate::common::{
    SPLIT_SEED, digits, mean_of, paired_diff, provenance_table, run_grid, seed_count, total_steps,
    validate_data, validate_seeds,
};
use crate::train::{Probes, Recipe, Run};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::stats::mean_estimate;

/// Parameters of `digits-network/linear-scaling`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Batch sizes, increasing; the first is the base batch b0.
    pub batches: Vec<usize>,
    /// The base learning rate eta0 at b0.
    pub base_lr: f64,
    /// Epochs of every run.
    pub epochs: usize,
    /// The tolerance on the test accuracy relative to b0's.
    pub tolerance: f64,
    /// The batch size up to which the rule is claimed to hold (one of `batches`).
    pub hold_batch: usize,
    /// Batch sizes also run with warm-up (among `batches`).
    pub warmup_batches: Vec<usize>,
    /// Epochs of linear warm-up.
    pub warmup_epochs: f64,
    /// Batch sizes also run with the square-root rule.
    pub sqrt_batches: Vec<usize>,
    /// Epoch ends of the base run at which the sharpness is measured.
    pub sharpness_epochs: Vec<usize>,
    /// Lanczos steps per sharpness.
    pub lanczos_steps: usize,
    /// Seeds, shared by every run.
    pub seeds: usize,
    /// The seed of the train/test split.
    pub split_seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            batches: vec![8, 16, 32, 64, 128, 256, 512],
            base_lr: 0.25,
            epochs: 10,
            tolerance: 0.01,
            hold_batch: 128,
            warmup_batches: vec![256, 512],
            warmup_epochs: 2.0,
            sqrt_batches: vec![128, 256, 512],
            sharpness_epochs: vec![0, 1, 2, 5],
            lanczos_steps: 10,
            seeds: 6,
            split_seed: SPLIT_SEED,
        }
    }
}

/// Which rule a run follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// eta = eta0 b / b0.
    Linear,
    /// The same with warm-up.
    LinearWarmup,
    /// eta = eta0 sqrt(b / b0).
    Sqrt,
}

impl Params {
    fn base(&self) -> usize {
        self.batches[0]
    }

    fn recipe(&self, b: usize, rule: Rule) -> Recipe {
        let k = b as f64 / self.base() as f64;
        let lr = match rule {
            Rule::Linear | Rule::LinearWarmup => self.base_lr * k,
            Rule::Sqrt => self.base_lr * k.sqrt(),
        };
        let warmup_epochs = if rule == Rule::LinearWarmup {
            self.warmup_epochs
        } else {
            0.0
        };
        Recipe {
            batch: b,
            lr,
            epochs: self.epochs,
            warmup_epochs,
            ..Recipe::default()
        }
    }

    /// Every (batch, rule) run, linear first in batch order.
    fn configs(&self) -> Vec<(usize, Rule)> {
        let mut c: Vec<(usize, Rule)> = self.batches.iter().map(|&b| (b, Rule::Linear)).collect();
        c.extend(self.warmup_batches.iter().map(|&b| (b, Rule::LinearWarmup)));
        c.extend(self.sqrt_batches.iter().map(|&b| (b, Rule::Sqrt)));
        c
    }

    fn jobs(&self) -> Vec<(Recipe, Probes)> {
        self.configs()
            .iter()
            .enumerate()
            .map(|(i, &(b, rule))| {
                let probes = if i == 0 {
                    Probes {
                        sharpness_epochs: self.sharpness_epochs.clone(),
                        lanczos_steps: self.lanczos_steps,
                        ..Probes::default()
                    }
                } else {
                    Probes::default()
                };
                (self.recipe(b, rule), probes)
            })
            .collect()
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        validate_data()?;
        if self.batches.len() < 2 || !self.batches.windows(2).all(|w| w[0] < w[1]) {
            return Err(ParamError::new(
                "batches",
                "must be at least two, increasing",
            ));
        }
        for (i, (r, _)) in self.jobs().iter().enumerate() {
            r.validate(&format!("runs[{i}]/"))?;
        }
        if !self.batches.contains(&self.hold_batch) {
            return Err(ParamError::new("hold_batch", "must be one of batches"));
        }
        if self
            .warmup_batches
            .iter()
            .any(|b| !self.batches.contains(b))
        {
            return Err(ParamError::new("warmup_batches", "must be among batches"));
        }
        ParamError::in_range("tolerance", self.tolerance, 0.0, 1.0)?;
        ParamError::at_least("lanczos_steps", self.lanczos_steps as u64, 2)?;
        validate_seeds(self.seeds)
    }

    fn estimated_work(&self) -> f64 {
        let runs: f64 = self.jobs().iter().map(|(r, _)| r.work()).sum();
        let lanczos = self.sharpness_epochs.len() as f64 * self.lanczos_steps as f64 * 2e7;
        self.seeds as f64 * (runs + lanczos)
    }
}

/// The kind.
pub struct LinearScaling;

/// The runs of every configuration, by seed.
pub struct Measured {
    /// (batch, rule) of each entry of `runs`.
    pub configs: Vec<(usize, Rule)>,
    /// `runs[c][s]`.
    pub runs: Vec<Vec<Run>>,
    /// The data's provenance.
    pub provenance: Table,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        total_steps(&self.runs)
    }
}

impl Measured {
    fn find(&self, b: usize, rule: Rule) -> Option<&[Run]> {
        self.configs
            .iter()
            .position(|&c| c == (b, rule))
            .map(|i| self.runs[i].as_slice())
    }

    /// lambda_max along the base run: per seed, the largest probed sharpness.
    fn lambda_max_per_seed(&self) -> Vec<f64> {
        self.runs[0]
            .iter()
            .map(|r| r.sharpness.iter().map(|s| s.1).fold(0.0, f64::max))
            .collect()
    }
}

fn acc(r: &Run) -> f64 {
    r.test.accuracy
}

impl Experiment for LinearScaling {
    const KIND: &'static str = "digits-network/linear-scaling";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let d = digits(p.split_seed)?;
        let runs = run_grid(&p.jobs(), seed_count(ctx, p.seeds), &d, ctx)?;
        Ok(Measured {
            configs: p.configs(),
            runs,
            provenance: provenance_table(&d),
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let missing =
            || ExperimentError::InvalidParams("a configured batch size has no runs".into());
        let mut out = Metrics::new();
        let base = m.find(p.base(), Rule::Linear).ok_or_else(missing)?;
        let hold = m.find(p.hold_batch, Rule::Linear).ok_or_else(missing)?;
        let largest = *p.batches.last().ok_or_else(missing)?;
        let last = m.find(largest, Rule::Linear).ok_or_else(missing)?;
        out.estimate("test_accuracy_base", mean_of(base, acc));
        out.estimate("test_accuracy_change_at_hold", paired_diff(hold, base, acc));
        out.estimate(
            "test_accuracy_change_at_largest",
            paired_diff(last, base, acc),
        );
        if let Some(w) = m.find(largest, Rule::LinearWarmup) {
            out.estimate("warmup_gain_at_largest", paired_diff(w, last, acc));
        }
        if let Some(s) = m.find(largest, Rule::Sqrt) {
            out.estimate("sqrt_minus_linear_at_largest", paired_diff(s, last, acc));
        }
        let lambda = mean_estimate(&m.lambda_max_per_seed());
        out.estimate("lambda_max_base_run", lambda);
        // The edge eta0 (b / b0) lambda_max = 2.
        let predicted = p.base() as f64 * 2.0 / (p.base_lr * lambda.value);
        out.measured("predicted_break_batch", predicted);
        let base_acc = mean_of(base, acc).value;
        let broken = |rule: Rule| {
            p.batches.iter().copied().find(|&b| {
                m.find(b, rule)
                    .is_some_and(|r| mean_of(r, acc).value < base_acc - p.tolerance)
            })
        };
        let first_break = broken(Rule::Linear).map_or(2.0 * largest as f64, |b| b as f64);
        out.measured("measured_break_batch", first_break);
        out.measured("measured_over_predicted_break", first_break / predicted);
        let diverged = m.runs.iter().flatten().filter(|r| r.diverged).count();
        out.measured("diverged_runs", diverged as f64);
        out.table("by_batch", batch_table(p, m, lambda.value));
        out.table("data", m.provenance.clone());
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let points = |rule: Rule| -> Vec<MeasuredPoint> {
            m.configs
                .iter()
                .zip(&m.runs)
                .filter(|(c, _)| c.1 == rule)
                .map(|(c, rs)| {
                    let e = mean_of(rs, acc);
                    MeasuredPoint::with_ci(c.0 as f64, e.value, e.ci95())
                })
                .collect()
        };
        let lambda = mean_estimate(&m.lambda_max_per_seed()).value;
        let predicted = p.base() as f64 * 2.0 / (p.base_lr * lambda);
        let base_acc = m.runs.first().map_or(0.0, |r| mean_of(r, acc).value);
        let (lo, hi) = (p.base() as f64, *p.batches.last().unwrap_or(&1) as f64);
        let panel = CurvesPanel::new("", Axis::log("batch size b"), Axis::linear("test accuracy"))
            .measured(Points::new("η = η₀ b/b₀", 0, points(Rule::Linear)))
            .measured(Points::new(
                "η = η₀ b/b₀, warm-up",
                1,
                points(Rule::LinearWarmup),
            ))
            .measured(Points::new("η = η₀ √(b/b₀)", 2, points(Rule::Sqrt)))
            .guide(Line::new(
                "b₀'s accuracy − tolerance",
                3,
                [(lo, base_acc - p.tolerance), (hi, base_acc - p.tolerance)],
            ))
            .mark(predicted, "stability edge η λ_max = 2", 4);
        let mut figures = Figures::new();
        figures.add("accuracy-by-batch", FigureData::single(panel));
        Ok(figures)
    }
}

fn batch_table(p: &Params, m: &Measured, lambda: f64) -> Table {
    let mut t = Table::new([
        "batch",
        "rule",
        "lr",
        "eta_lambda_max",
        "test_accuracy",
        "test_accuracy_lo",
        "test_accuracy_hi",
        "train_loss",
        "diverged",
    ]);
    for (&(b, rule), runs) in m.configs.iter().zip(&m.runs) {
        let e = mean_of(runs, acc);
        let [lo, hi] = e.ci95();
        let lr = p.recipe(b, rule).lr;
        let name = match rule {
            Rule::Linear => "linear",
            Rule::LinearWarmup => "linear_warmup",
            Rule::Sqrt => "sqrt",
        };
        let diverged = runs.iter().filter(|r| r.diverged).count();
        t.push(row![
            b,
            name,
            lr,
            lr * lambda,
            e.value,
            lo,
            hi,
            mean_of(runs, |r| r.train.loss).value,
            diverged
        ]);
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
            batches: vec![8, 64, 512],
            hold_batch: 64,
            warmup_batches: vec![512],
            sqrt_batches: vec![512],
            ..Params::default()
        };
        assert!(p.validate().is_ok());
        let r = |a: f64| {
            vec![
                run(a, 0.1, 0.4, 100.0, 0.01),
                run(a + 0.01, 0.1, 0.5, 100.0, 0.01),
            ]
        };
        let m = Measured {
            configs: p.configs(),
            runs: vec![r(0.96), r(0.955), r(0.80), r(0.90), r(0.93)],
            provenance: Table::new(["x"]),
        };
        let out = LinearScaling::metrics(&p, &m).unwrap();
        let v = |k: &str| out.value(k).unwrap();
        assert!((v("test_accuracy_change_at_hold") + 0.005).abs() < 1e-12);
        assert!((v("warmup_gain_at_largest") - 0.10).abs() < 1e-12);
        // lambda_max = 0.4 and 0.5 (the largest probe of each seed): edge at 8 * 2 / (0.25 * 0.45).
        assert!((v("predicted_break_batch") - 16.0 / 0.1125).abs() < 1e-9);
        assert_eq!(v("measured_break_batch"), 512.0);
        let f = LinearScaling::figures(&p, &m).unwrap();
        assert_eq!(f.get("accuracy-by-batch").unwrap().panels.len(), 1);
    }
}
