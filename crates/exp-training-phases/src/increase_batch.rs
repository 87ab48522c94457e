//! Claim `increase-batch-equals-decay`: dividing the step size by k and multiplying the batch size
//! by k change the noise scale eta/b the same way, so the two schedules reach the same loss; the
//! second does it with k times fewer updates (Smith, Kindermans, Ying and Le 2018).
//!
//! Both schedules run on one least-squares data set. For each seed, schedules A (step decay) and B
//! (batch growth) read the same stream of with-replacement indices: B's batch of k b examples is
//! exactly A's next k batches of b (common random numbers). Each schedule alone is ordinary
//! with-replacement SGD; the coupling only makes the paired ratio B/A precise.
//!
//! Theory: the expected excess loss of each schedule from the second-moment recursion of
//! [`crate::sgd_moments`], stepped through the same stages. In the SDE limit (eta h -> 0 at fixed
//! eta/b and fixed eta times steps) the two schedules are identical; their difference is the O(eta h)
//! discretization, largest in B's last stage where eta h_max = 0.4.

use crate::least_squares::Problem;
use crate::sgd_moments::SpectralMoments;
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::data::{LeastSquaresSpec, generate_least_squares, harmonic_spectrum};
use sgd_sim::objective::FiniteSum;
use sgd_sim::parallel::map_indexed;
use sgd_sim::rng::Streams;
use sgd_sim::sampler::{BatchSampler, SamplerKind};
use sgd_sim::stats::{Estimate, mean_estimate};

/// Relative error allowed for the theory's fourth-moment closure at the end of the schedules: the
/// closure only touches the multiplicative noise terms, which near the minimum are a fraction
/// 2 (excess loss) / (label-noise variance) ~ 2e-3 of the drive; earlier stages are forgotten to
/// e^-4 or less. 0.5% is a generous allowance (see `sgd_moments` for the derivation).
pub const CLOSURE_ALLOWANCE: f64 = 0.005;

/// Parameters of `training-phases/increase-batch-equals-decay`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Data points N.
    pub samples: usize,
    /// Features d (input spectrum 1/i).
    pub dim: usize,
    /// Standard deviation of the label noise.
    pub label_noise: f64,
    /// Independent seeds (each runs both schedules on its own index stream).
    pub runs: usize,
    /// Epochs of each stage.
    pub epochs_per_stage: Vec<usize>,
    /// Schedule A (step decay): step size per stage.
    pub step_sizes_a: Vec<f64>,
    /// Schedule A: batch size per stage.
    pub batch_sizes_a: Vec<usize>,
    /// Schedule B (batch growth): step size per stage.
    pub step_sizes_b: Vec<f64>,
    /// Schedule B: batch size per stage.
    pub batch_sizes_b: Vec<usize>,
    /// Loss evaluations per epoch (for the curves).
    pub checkpoints_per_epoch: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            samples: 10_000,
            dim: 50,
            label_noise: 1.0,
            runs: 20,
            epochs_per_stage: vec![10, 10, 10],
            step_sizes_a: vec![0.4, 0.08, 0.016],
            batch_sizes_a: vec![16, 16, 16],
            step_sizes_b: vec![0.4, 0.4, 0.4],
            batch_sizes_b: vec![16, 80, 400],
            checkpoints_per_epoch: 5,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("dim", self.dim as u64, 1)?;
        ParamError::at_least("samples", self.samples as u64, 2 * self.dim as u64)?;
        ParamError::positive("label_noise", self.label_noise)?;
        ParamError::at_least("runs", self.runs as u64, 2)?;
        ParamError::at_least(
            "checkpoints_per_epoch",
            self.checkpoints_per_epoch as u64,
            1,
        )?;
        let stages = self.epochs_per_stage.len();
        if stages == 0 {
            return Err(ParamError::new("epochs_per_stage", "must not be empty"));
        }
        for (i, &e) in self.epochs_per_stage.iter().enumerate() {
            ParamError::at_least(&format!("epochs_per_stage[{i}]"), e as u64, 1)?;
        }
        if !self.samples.is_multiple_of(self.checkpoints_per_epoch) {
            return Err(ParamError::new(
                "checkpoints_per_epoch",
                format!("must divide samples = {}", self.samples),
            ));
        }
        let per_checkpoint = self.samples / self.checkpoints_per_epoch;
        for (key_eta, etas, key_b, batches) in [
            (
                "step_sizes_a",
                &self.step_sizes_a,
                "batch_sizes_a",
                &self.batch_sizes_a,
            ),
            (
                "step_sizes_b",
                &self.step_sizes_b,
                "batch_sizes_b",
                &self.batch_sizes_b,
            ),
        ] {
            ParamError::all_positive(key_eta, etas)?;
            if etas.len() != stages {
                return Err(ParamError::new(
                    key_eta,
                    format!("needs one value per stage ({stages})"),
                ));
            }
            if batches.len() != stages {
                return Err(ParamError::new(
                    key_b,
                    format!("needs one value per stage ({stages})"),
                ));
            }
            for (i, &b) in batches.iter().enumerate() {
                if b == 0 || !per_checkpoint.is_multiple_of(b) {
                    return Err(ParamError::new(
                        format!("{key_b}[{i}]"),
                        format!(
                            "must be positive and divide samples / checkpoints_per_epoch = \
                             {per_checkpoint}, got {b}"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let epochs: usize = self.epochs_per_stage.iter().sum();
        2.0 * self.runs as f64 * epochs as f64 * self.samples as f64 * self.dim as f64 * 2.0
    }
}

/// One stage of a schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stage {
    eta: f64,
    batch: usize,
    steps: u64,
}

fn schedule(p: &Params, etas: &[f64], batches: &[usize]) -> Vec<Stage> {
    p.epochs_per_stage
        .iter()
        .zip(etas.iter().zip(batches))
        .map(|(&epochs, (&eta, &batch))| Stage {
            eta,
            batch,
            steps: (epochs * p.samples / batch) as u64,
        })
        .collect()
}

/// A curve sampled every `per_checkpoint` examples (the start included): excess loss and updates.
#[derive(Clone, Debug, PartialEq)]
struct Curve {
    excess: Vec<f64>,
    updates: Vec<u64>,
}

/// Runs one schedule of SGD from w = 0 on the index stream of seed `seed`.
fn simulate(
    problem: &Problem,
    stages: &[Stage],
    per_checkpoint: usize,
    streams: &Streams,
    seed: u64,
) -> Result<Curve, ExperimentError> {
    let d = problem.minimizer.len();
    let mut rng = streams.stream("batches", seed);
    let mut sampler = BatchSampler::new(SamplerKind::WithReplacement, problem.ls.len(), 1);
    let mut w = vec![0.0; d];
    let mut g = vec![0.0; d];
    let mut curve = Curve {
        excess: vec![problem.excess_loss(&w)],
        updates: vec![0],
    };
    let (mut examples, mut updates) = (0usize, 0u64);
    for stage in stages {
        sampler.set_batch_size(stage.batch);
        for _ in 0..stage.steps {
            problem
                .ls
                .batch_gradient(sampler.next_batch(&mut rng), &w, &mut g);
            let mut bad = false;
            for (wi, gi) in w.iter_mut().zip(&g) {
                *wi -= stage.eta * gi;
                bad |= !wi.is_finite() || wi.abs() > 1e6;
            }
            updates += 1;
            if bad {
                return Err(ExperimentError::Diverged {
                    step: updates,
                    reason: format!("|w| left 1e6 at eta = {}, b = {}", stage.eta, stage.batch),
                });
            }
            examples += stage.batch;
            if examples.is_multiple_of(per_checkpoint) {
                curve.excess.push(problem.excess_loss(&w));
                curve.updates.push(updates);
            }
        }
    }
    Ok(curve)
}

/// The theory's expected excess loss at the same checkpoints, and the moments at the end.
fn theory(
    start: &SpectralMoments,
    stages: &[Stage],
    per_checkpoint: usize,
) -> Result<(Vec<f64>, SpectralMoments), ExperimentError> {
    let mut m = start.clone();
    let mut out = vec![m.excess_loss()];
    let mut examples = 0usize;
    for stage in stages {
        for _ in 0..stage.steps {
            m.step(stage.eta, stage.batch as f64);
            examples += stage.batch;
            if examples.is_multiple_of(per_checkpoint) {
                out.push(m.excess_loss());
            }
        }
    }
    if out.iter().all(|v| v.is_finite()) {
        Ok((out, m))
    } else {
        Err(ExperimentError::Diverged {
            step: 0,
            reason: "the second-moment recursion diverged".into(),
        })
    }
}

/// The ratio of two paired means, mean(b)/mean(a), with its delta-method standard error
/// SE^2 = Var(b_i - R a_i) / (n mean(a)^2) (e.g. Cochran 1977, eq. 6.13).
pub fn paired_ratio(a: &[f64], b: &[f64]) -> Estimate {
    let n = a.len();
    let ma = a.iter().sum::<f64>() / n as f64;
    let mb = b.iter().sum::<f64>() / n as f64;
    let r = mb / ma;
    let resid: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - r * x).collect();
    let e = mean_estimate(&resid);
    Estimate {
        value: r,
        se: e.se / ma.abs(),
        n,
    }
}

/// Runs the claim.
///
/// # Errors
/// Invalid sizes, a singular Hessian, or a diverged run.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let spec = LeastSquaresSpec {
        samples: p.samples,
        spectrum: harmonic_spectrum(p.dim),
        label_noise: p.label_noise,
    };
    let (ls, _teacher) = generate_least_squares(&spec, &mut streams.stream("data", 0))?;
    let problem = Problem::new(ls)?;
    let per_checkpoint = p.samples / p.checkpoints_per_epoch;
    let schedules = [
        schedule(p, &p.step_sizes_a, &p.batch_sizes_a),
        schedule(p, &p.step_sizes_b, &p.batch_sizes_b),
    ];
    let w0 = vec![0.0; p.dim];
    let start = problem.spectral_moments(&w0)?;
    let (theory_a, end_a) = theory(&start, &schedules[0], per_checkpoint)?;
    let (theory_b, end_b) = theory(&start, &schedules[1], per_checkpoint)?;
    let theories = [theory_a, theory_b];
    let end_moments = [end_a, end_b];
    let runs = ctx.scaled(p.runs);
    let curves: Vec<Curve> = map_indexed(2 * runs, |i| {
        simulate(
            &problem,
            &schedules[i % 2],
            per_checkpoint,
            &streams,
            (i / 2) as u64,
        )
    })
    .into_iter()
    .collect::<Result<_, _>>()?;

    let mut out = Outcome::new();
    let names = ["A (step decay)", "B (batch growth)"];
    let short = ["a", "b"];
    let marks = theories[0].len();
    let mut table = Table::new([
        "schedule",
        "epoch",
        "updates",
        "excess_mean",
        "excess_lo",
        "excess_hi",
        "excess_theory",
    ]);
    let mut finals: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut panels = vec![
        Panel {
            title: "Excess loss against epochs".into(),
            x: Axis::linear("epoch"),
            y: Axis::log("excess training loss"),
            series: Vec::new(),
            labels: Vec::new(),
        },
        Panel {
            title: "Excess loss against updates".into(),
            x: Axis::linear("updates"),
            y: Axis::log("excess training loss"),
            series: Vec::new(),
            labels: Vec::new(),
        },
    ];
    for s in 0..2 {
        let mine: Vec<&Curve> = curves.iter().skip(s).step_by(2).collect();
        finals[s] = mine.iter().map(|c| c.excess[marks - 1]).collect();
        let mut sim_epochs = Vec::new();
        let mut sim_updates = Vec::new();
        let mut th_epochs = Vec::new();
        let mut th_updates = Vec::new();
        for k in 0..marks {
            let values: Vec<f64> = mine.iter().map(|c| c.excess[k]).collect();
            let e = mean_estimate(&values);
            let ci = e.ci95();
            let epoch = k as f64 / p.checkpoints_per_epoch as f64;
            let updates = mine[0].updates[k];
            table.push(row![
                names[s],
                epoch,
                updates,
                e.value,
                ci[0],
                ci[1],
                theories[s][k]
            ]);
            th_epochs.push(Point::new(epoch, theories[s][k]));
            if updates > 0 {
                th_updates.push(Point::new(updates as f64, theories[s][k]));
            }
            if k % p.checkpoints_per_epoch == 0 {
                sim_epochs.push(Point::with_interval(epoch, e.value, ci));
                if updates > 0 {
                    sim_updates.push(Point::with_interval(updates as f64, e.value, ci));
                }
            }
        }
        for (panel, sim, th) in [
            (0usize, sim_epochs, th_epochs),
            (1usize, sim_updates, th_updates),
        ] {
            panels[panel].series.push(Series {
                label: format!("{} simulated", names[s]),
                kind: SeriesKind::Simulation,
                color: s,
                points: sim,
            });
            panels[panel].series.push(Series {
                label: format!("{} theory", names[s]),
                kind: SeriesKind::Theory,
                color: s,
                points: th,
            });
        }
        let e = mean_estimate(&finals[s]);
        out.estimate(&format!("final_excess_{}", short[s]), e);
        out.exact(
            &format!("final_excess_{}_theory", short[s]),
            theories[s][marks - 1],
        );
        out.exact(
            &format!("updates_{}", short[s]),
            schedules[s].iter().map(|st| st.steps).sum::<u64>() as f64,
        );
    }

    // Agreement of each final mean with the theory, in standard errors. The excess loss is a
    // weighted sum of squares, skewed, and the sample SD of 20 such values is low exactly when their
    // mean is (a t-statistic beyond 4 is then ~7x likelier than Student's t says); the SE used is the
    // larger of the sample SE and the theory's own run-to-run spread (Gaussian error, see
    // `SpectralMoments::excess_variance_gaussian`), with the closure allowance in quadrature.
    let mut max_z: f64 = 0.0;
    for s in 0..2 {
        let e = mean_estimate(&finals[s]);
        let th = theories[s][marks - 1];
        let spread = (end_moments[s].excess_variance_gaussian() / finals[s].len() as f64).sqrt();
        let se = e.se.max(spread);
        let se = (se * se + (CLOSURE_ALLOWANCE * th).powi(2)).sqrt();
        max_z = max_z.max(((e.value - th) / se).abs());
    }
    out.exact("final_excess_theory_max_abs_z", max_z);

    let ratio = paired_ratio(&finals[0], &finals[1]);
    let ratio_theory = theories[1][marks - 1] / theories[0][marks - 1];
    out.estimate("final_excess_ratio", ratio);
    out.exact("final_excess_ratio_theory", ratio_theory);
    let se = (ratio.se * ratio.se + (2.0 * CLOSURE_ALLOWANCE * ratio_theory).powi(2)).sqrt();
    out.exact(
        "final_excess_ratio_abs_z",
        ((ratio.value - ratio_theory) / se).abs(),
    );

    // The noise scale eta/b of each stage, B over A: equal by construction.
    let mismatch = schedules[0]
        .iter()
        .zip(&schedules[1])
        .map(|(a, b)| ((b.eta / b.batch as f64) / (a.eta / a.batch as f64) - 1.0).abs())
        .fold(0.0, f64::max);
    out.exact("noise_scale_mismatch_max", mismatch);
    out.exact("noise_floor", problem.min_loss);
    out.exact("initial_excess", theories[0][0]);

    let mut stage_table = Table::new([
        "schedule",
        "stage",
        "step_size",
        "batch_size",
        "updates",
        "noise_scale",
        "eta_h_max",
    ]);
    let h_max = start.curvatures.iter().copied().fold(0.0, f64::max);
    for s in 0..2 {
        for (k, st) in schedules[s].iter().enumerate() {
            stage_table.push(row![
                names[s],
                k + 1,
                st.eta,
                st.batch,
                st.steps,
                st.eta / st.batch as f64,
                st.eta * h_max
            ]);
        }
    }
    out.table("excess-loss", table);
    out.table("stages", stage_table);
    out.figure("loss-curves", FigureSpec { panels });
    let examples: usize = p.epochs_per_stage.iter().sum::<usize>() * p.samples;
    out.samples = (2 * runs * examples) as u64;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedules_have_the_catalog_update_counts() {
        let p = Params::default();
        assert!(p.validate().is_ok());
        let a: u64 = schedule(&p, &p.step_sizes_a, &p.batch_sizes_a)
            .iter()
            .map(|s| s.steps)
            .sum();
        let b: u64 = schedule(&p, &p.step_sizes_b, &p.batch_sizes_b)
            .iter()
            .map(|s| s.steps)
            .sum();
        assert_eq!((a, b), (18_750, 7_750));
    }

    #[test]
    fn bad_params_name_their_key() {
        let p = Params {
            batch_sizes_b: vec![16, 80, 300],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "batch_sizes_b[2]");
        let p = Params {
            step_sizes_a: vec![0.4, f64::NAN, 0.1],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "step_sizes_a[1]");
        let p = Params {
            step_sizes_a: vec![0.4],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "step_sizes_a");
    }

    #[test]
    fn paired_ratio_se_matches_its_sampling_spread() {
        // Over 2000 replications of 20 correlated pairs, the SD of the ratio estimates equals the
        // mean reported SE within 10% (the SE of an SD from 2000 draws is ~1.6%; the delta method
        // adds O(1/n) bias at n = 20).
        use sgd_sim::rng::standard_normal;
        let mut rng = Streams::new(5).stream("t", 0);
        let mut ratios = Vec::new();
        let mut ses = Vec::new();
        for _ in 0..2000 {
            let mut a = Vec::new();
            let mut b = Vec::new();
            for _ in 0..20 {
                let common = standard_normal(&mut rng);
                a.push(10.0 + common + 0.5 * standard_normal(&mut rng));
                b.push(11.0 + common + 0.5 * standard_normal(&mut rng));
            }
            let r = paired_ratio(&a, &b);
            ratios.push(r.value);
            ses.push(r.se);
        }
        let sd = sgd_sim::stats::sample_variance(&ratios).sqrt();
        let mean_se = ses.iter().sum::<f64>() / ses.len() as f64;
        assert!((sd / mean_se - 1.0).abs() < 0.1, "sd {sd} vs se {mean_se}");
    }

    #[test]
    fn small_instance_runs_and_is_deterministic() {
        let p = Params {
            samples: 400,
            dim: 5,
            runs: 3,
            epochs_per_stage: vec![2, 2, 2],
            checkpoints_per_epoch: 1,
            ..Params::default()
        };
        assert!(p.validate().is_ok());
        let a = run(&p, &RunContext::new("t", 7)).unwrap();
        let b = run(&p, &RunContext::new("t", 7)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.metrics["updates_a"].value, 150.0);
        assert!(a.metrics["final_excess_ratio"].value.is_finite());
    }
}
