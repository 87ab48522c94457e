//! Claim kind `digits-network/critical-batch`: the steps to a target training loss against the
//! batch size, each batch size at the best of a pre-registered band of learning rates; the knee of
//! S(b) = S_min (1 + B_crit / b) fitted per seed, against the gradient noise scale
//! B_simple = tr Sigma / ||G||^2 and the gradient diversity measured along the run.

use crate::common::{
    SPLIT_SEED, digits, provenance_table, run_grid, seed_count, total_steps, validate_data,
    validate_seeds,
};
use crate::data::TRAIN;
use crate::train::{NoiseScale, Probes, Recipe, Run};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{exp, ln};
use sgd_sim::stats::{mean_estimate, paired_ratio};

/// Parameters of `digits-network/critical-batch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Batch sizes, increasing.
    pub batches: Vec<usize>,
    /// The band of three learning rates of each batch size, in the order of `batches`.
    pub lrs: Vec<[f64; 3]>,
    /// The training loss the steps are counted to.
    pub target_loss: f64,
    /// The most epochs of a run.
    pub max_epochs: usize,
    /// Training images between checks of the training loss.
    pub check_examples: usize,
    /// The batch size whose middle-rate run carries the noise-scale probes.
    pub noise_batch: usize,
    /// The two batch sizes of the headline ratio steps(first) / steps(second).
    pub ratio_batches: [usize; 2],
    /// Seeds, shared by every run.
    pub seeds: usize,
    /// The seed of the train/test split.
    pub split_seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        let batches = vec![4, 8, 16, 32, 64, 128, 256, 512];
        let lrs = batches
            .iter()
            .map(|&b| {
                let c = (b as f64 / 8.0).min(8.0);
                [c / 2.0, c, 2.0 * c]
            })
            .collect();
        Self {
            batches,
            lrs,
            target_loss: 0.05,
            max_epochs: 300,
            check_examples: 256,
            noise_batch: 32,
            ratio_batches: [256, 512],
            seeds: 5,
            split_seed: SPLIT_SEED,
        }
    }
}

impl Params {
    fn jobs(&self) -> Vec<(Recipe, Probes)> {
        let mut jobs = Vec::new();
        for (&b, band) in self.batches.iter().zip(&self.lrs) {
            for (k, &lr) in band.iter().enumerate() {
                let noise = b == self.noise_batch && k == 1;
                let probes = Probes {
                    target_loss: Some(self.target_loss),
                    check_examples: self.check_examples,
                    noise_scale_epochs: if noise {
                        (0..=self.max_epochs).collect()
                    } else {
                        Vec::new()
                    },
                    noise_scale_at_end: k == 1,
                    ..Probes::default()
                };
                jobs.push((
                    Recipe {
                        batch: b,
                        lr,
                        epochs: self.max_epochs,
                        ..Recipe::default()
                    },
                    probes,
                ));
            }
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
        if self.batches.len() < 3 || !self.batches.windows(2).all(|w| w[0] < w[1]) {
            return Err(ParamError::new(
                "batches",
                "must be at least three, increasing",
            ));
        }
        if self.lrs.len() != self.batches.len() {
            return Err(ParamError::new(
                "lrs",
                "needs one band of three rates per batch size",
            ));
        }
        for (i, (r, _)) in self.jobs().iter().enumerate() {
            r.validate(&format!("lrs[{}][{}]/", i / 3, i % 3))?;
        }
        if self.index(self.noise_batch).is_none() {
            return Err(ParamError::new("noise_batch", "must be one of batches"));
        }
        if self.ratio_batches.iter().any(|&b| self.index(b).is_none()) {
            return Err(ParamError::new("ratio_batches", "must be among batches"));
        }
        ParamError::positive("target_loss", self.target_loss)?;
        validate_seeds(self.seeds)
    }

    fn estimated_work(&self) -> f64 {
        // Runs stop at the target; budget a tenth of max_epochs each, with checks.
        let per_seed: f64 = self.jobs().iter().map(|(r, _)| 0.2 * r.work()).sum();
        per_seed * self.seeds as f64
    }
}

/// The kind.
pub struct CriticalBatch;

/// Every run: `runs[b * 3 + k][s]` is batch b at rate k of its band, seed s.
pub struct Measured {
    /// Batch sizes.
    pub batches: Vec<usize>,
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

impl Measured {
    fn seeds(&self) -> usize {
        self.runs.first().map_or(0, Vec::len)
    }

    /// The fewest steps to the target over batch i's band at seed s, and the rate index.
    fn best(&self, i: usize, s: usize) -> Option<(f64, usize)> {
        (0..3)
            .filter_map(|k| self.runs[3 * i + k][s].steps_to_target.map(|t| (t, k)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }
}

/// Least squares of ln S on ln(S_min (1 + B / b)): the best B on a log grid from 1/4 to 2^14,
/// refined by a finer grid around it; returns (B, S_min).
pub fn fit_knee(batches: &[f64], steps: &[f64]) -> (f64, f64) {
    let ln_s: Vec<f64> = steps.iter().map(|&s| ln(s)).collect();
    let sse = |bc: f64| -> (f64, f64) {
        let resid: Vec<f64> = batches
            .iter()
            .zip(&ln_s)
            .map(|(&b, &l)| l - ln(1.0 + bc / b))
            .collect();
        let ln_min = resid.iter().sum::<f64>() / resid.len() as f64;
        (
            resid.iter().map(|r| (r - ln_min) * (r - ln_min)).sum(),
            ln_min,
        )
    };
    let (lo, hi) = (ln(0.25), ln(16384.0));
    let grid = |a: f64, b: f64, n: usize| -> f64 {
        (0..=n)
            .map(|k| a + (b - a) * k as f64 / n as f64)
            .min_by(|x, y| sse(exp(*x)).0.total_cmp(&sse(exp(*y)).0))
            .unwrap_or(a)
    };
    let coarse = grid(lo, hi, 400);
    let step = (hi - lo) / 400.0;
    let fine = grid(coarse - step, coarse + step, 200);
    (exp(fine), exp(sse(exp(fine)).1))
}

impl Experiment for CriticalBatch {
    const KIND: &'static str = "digits-network/critical-batch";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let d = digits(p.split_seed)?;
        let runs = run_grid(&p.jobs(), seed_count(ctx, p.seeds), &d, ctx)?;
        Ok(Measured {
            batches: p.batches.clone(),
            runs,
            provenance: provenance_table(&d),
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        let bad = |w: &str| ExperimentError::Numerical(format!("critical batch: {w}"));
        let (mut knees, mut bsimple, mut diversity, mut smin) = (vec![], vec![], vec![], vec![]);
        let noise_i = p.index(p.noise_batch).ok_or_else(|| bad("noise batch"))?;
        for s in 0..m.seeds() {
            let (bs, st): (Vec<f64>, Vec<f64>) = (0..m.batches.len())
                .filter_map(|i| m.best(i, s).map(|(t, _)| (m.batches[i] as f64, t)))
                .unzip();
            if bs.len() < 3 {
                return Err(bad("fewer than three batch sizes reached the target"));
            }
            let (knee, s_min) = fit_knee(&bs, &st);
            knees.push(knee);
            smin.push(s_min);
            // B_simple and the diversity bound at the target, averaged over the middle-rate runs
            // of every batch size of this seed.
            let ends: Vec<NoiseScale> = (0..m.batches.len())
                .filter_map(|i| m.runs[3 * i + 1][s].noise_scale.last().copied())
                .collect();
            if ends.is_empty() {
                return Err(bad("no noise scale"));
            }
            let k = ends.len() as f64;
            bsimple.push(ends.iter().map(NoiseScale::b_simple).sum::<f64>() / k);
            let n = TRAIN as f64;
            let bound =
                |ns: &NoiseScale| (ns.trace_sigma * (n - 1.0) / n + ns.grad_norm2) / ns.grad_norm2;
            diversity.push(ends.iter().map(bound).sum::<f64>() / k);
        }
        out.estimate("knee_batch", mean_estimate(&knees));
        out.estimate("steps_min_fit", mean_estimate(&smin));
        out.estimate("b_simple_at_target", mean_estimate(&bsimple));
        out.estimate("gradient_diversity_batch_bound", mean_estimate(&diversity));
        out.estimate("knee_over_b_simple", paired_ratio(&knees, &bsimple));
        let [a, b] = p.ratio_batches.map(|x| p.index(x).unwrap_or(0));
        let steps_at = |i: usize| -> Result<Vec<f64>, ExperimentError> {
            (0..m.seeds())
                .map(|s| {
                    m.best(i, s)
                        .map(|x| x.0)
                        .ok_or_else(|| bad("a ratio batch missed the target"))
                })
                .collect()
        };
        out.estimate("steps_ratio", paired_ratio(&steps_at(a)?, &steps_at(b)?));
        let reached = m
            .runs
            .iter()
            .flatten()
            .filter(|r| r.steps_to_target.is_some())
            .count();
        out.measured(
            "runs_reaching_target_fraction",
            reached as f64 / m.runs.iter().flatten().count() as f64,
        );
        let edge = (0..m.batches.len())
            .filter(|&i| (0..m.seeds()).any(|s| m.best(i, s).is_some_and(|x| x.1 == 2)))
            .count();
        out.measured("batches_best_at_band_top", edge as f64);
        out.table("steps_by_batch", steps_table(p, m));
        out.table("noise_scale_along_run", noise_table(m, noise_i));
        out.table("data", m.provenance.clone());
        Ok(out)
    }

    fn figures(_p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut pts = Vec::new();
        let (mut bs, mut st) = (Vec::new(), Vec::new());
        for (i, &b) in m.batches.iter().enumerate() {
            let v: Vec<f64> = (0..m.seeds())
                .filter_map(|s| m.best(i, s).map(|x| x.0))
                .collect();
            if v.len() >= 2 {
                let e = mean_estimate(&v);
                pts.push(MeasuredPoint::with_ci(b as f64, e.value, e.ci95()));
                bs.push(b as f64);
                st.push(e.value);
            }
        }
        let mut panel = CurvesPanel::new(
            "",
            Axis::log("batch size b"),
            Axis::log("steps to the target loss"),
        )
        .measured(Points::new("best of the band", 0, pts));
        if bs.len() >= 3 {
            let (knee, s_min) = fit_knee(&bs, &st);
            let (lo, hi) = (bs[0], bs[bs.len() - 1]);
            let curve = (0..=60).map(|k| {
                let b = lo * exp(ln(hi / lo) * f64::from(k) / 60.0);
                (b, s_min * (1.0 + knee / b))
            });
            panel = panel
                .theory(Line::new("fit S_min (1 + B_crit / b)", 1, curve))
                .mark(knee, "fitted knee B_crit", 1);
        }
        let noise = m
            .runs
            .iter()
            .flatten()
            .filter_map(|r| r.noise_scale.last())
            .map(|n| n.b_simple())
            .collect::<Vec<_>>();
        if !noise.is_empty() {
            panel = panel.mark(mean_estimate(&noise).value, "B_simple at the target", 2);
        }
        let mut figures = Figures::new();
        figures.add("steps-by-batch", FigureData::single(panel));
        Ok(figures)
    }
}

fn steps_table(p: &Params, m: &Measured) -> Table {
    let mut t = Table::new(["batch", "lr", "seed", "steps_to_target", "best_in_band"]);
    for (i, &b) in m.batches.iter().enumerate() {
        for k in 0..3 {
            for s in 0..m.seeds() {
                let best = m.best(i, s).is_some_and(|x| x.1 == k);
                t.push(row![
                    b,
                    p.lrs[i][k],
                    s,
                    m.runs[3 * i + k][s].steps_to_target,
                    if best { "yes" } else { "no" }
                ]);
            }
        }
    }
    t
}

fn noise_table(m: &Measured, noise_i: usize) -> Table {
    let mut t = Table::new(["seed", "epoch", "trace_sigma", "grad_norm2", "b_simple"]);
    for (s, r) in m.runs[3 * noise_i + 1].iter().enumerate() {
        for n in &r.noise_scale {
            t.push(row![s, n.epoch, n.trace_sigma, n.grad_norm2, n.b_simple()]);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::fixtures::run;

    #[test]
    fn the_knee_fit_recovers_an_exact_curve() {
        let b = [4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        let s: Vec<f64> = b.iter().map(|x| 30.0 * (1.0 + 100.0 / x)).collect();
        let (knee, s_min) = fit_knee(&b, &s);
        assert!((knee / 100.0 - 1.0).abs() < 2e-3, "{knee}");
        assert!((s_min / 30.0 - 1.0).abs() < 2e-3, "{s_min}");
    }

    #[test]
    fn metrics_and_figures_from_hand_made_runs() {
        let p = Params {
            batches: vec![32, 256, 512],
            lrs: vec![[1.0, 2.0, 4.0]; 3],
            ..Params::default()
        };
        assert!(p.validate().is_ok());
        let mut runs = Vec::new();
        for &b in &p.batches {
            for k in 0..3 {
                let steps = 20.0 * (1.0 + 64.0 / b as f64) * (1.0 + k as f64 * 0.1);
                let mut r = vec![
                    run(0.96, 0.1, 0.3, steps, 0.05),
                    run(0.96, 0.1, 0.3, steps * 1.01, 0.05),
                ];
                if k == 1 {
                    for x in &mut r {
                        x.noise_scale = vec![NoiseScale {
                            epoch: 3,
                            trace_sigma: 6.4,
                            grad_norm2: 0.1,
                        }];
                    }
                }
                runs.push(r);
            }
        }
        let m = Measured {
            batches: p.batches.clone(),
            runs,
            provenance: Table::new(["x"]),
        };
        let out = CriticalBatch::metrics(&p, &m).unwrap();
        let v = |k: &str| out.value(k).unwrap();
        assert!((v("knee_batch") / 64.0 - 1.0).abs() < 5e-3);
        assert!((v("b_simple_at_target") - 64.0).abs() < 1e-9);
        assert!((v("steps_ratio") - (1.25 / 1.125)).abs() < 1e-9);
        assert_eq!(v("batches_best_at_band_top"), 0.0);
        let f = CriticalBatch::figures(&p, &m).unwrap();
        assert_eq!(f.get("steps-by-batch").unwrap().panels.len(), 1);
    }
}
