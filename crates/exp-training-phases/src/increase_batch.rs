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
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::data::{LeastSquaresSpec, generate_least_squares, harmonic_spectrum};
use sgd_sim::objective::FiniteSum;
use sgd_sim::parallel::map_indexed;
use sgd_sim::sampler::{BatchSampler, SamplerKind};
use sgd_sim::stats::{mean_estimate, paired_ratio};

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
pub struct Stage {
    /// Step size.
    pub eta: f64,
    /// Batch size.
    pub batch: usize,
    /// Updates in the stage.
    pub steps: u64,
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

/// Schedules A and B of the parameters.
fn schedules(p: &Params) -> [Vec<Stage>; 2] {
    [
        schedule(p, &p.step_sizes_a, &p.batch_sizes_a),
        schedule(p, &p.step_sizes_b, &p.batch_sizes_b),
    ]
}

/// A curve sampled every `per_checkpoint` examples (the start included): excess loss and updates.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Excess loss above the noise floor at each checkpoint.
    pub excess: Vec<f64>,
    /// Updates made by each checkpoint.
    pub updates: Vec<u64>,
}

/// Runs one schedule of SGD from w = 0 on the index stream of seed `seed`.
fn simulate(
    problem: &Problem,
    stages: &[Stage],
    per_checkpoint: usize,
    ctx: &RunContext,
    seed: u64,
) -> Result<Curve, ExperimentError> {
    let d = problem.minimizer.len();
    let mut rng = ctx.streams().stream("batches", seed);
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
                ctx.check_cancelled()?;
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

/// The kind `training-phases/increase-batch-equals-decay`.
#[derive(Debug)]
pub struct IncreaseBatch;

/// What the measure step produced: the paired curves and the theory of the drawn data set.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Seeds run (after `--scale`).
    pub runs: usize,
    /// The curves, schedule A and B of seed 0, then of seed 1, ...
    pub curves: Vec<Curve>,
    /// The theory's expected excess loss of A and B at every checkpoint.
    pub theory: [Vec<f64>; 2],
    /// The theory's run-to-run variance of the final excess loss of A and B, for a Gaussian error.
    pub final_variance: [f64; 2],
    /// L(w^), the noise floor of the drawn data set.
    pub noise_floor: f64,
    /// The largest curvature of the drawn data set.
    pub h_max: f64,
    /// Examples per schedule and run.
    pub examples: usize,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        (2 * self.runs * self.examples) as u64
    }
}

impl Measured {
    /// The curves of schedule `s` (0 = A, 1 = B), seed by seed.
    fn of(&self, s: usize) -> Vec<&Curve> {
        self.curves.iter().skip(s).step_by(2).collect()
    }

    /// The final excess losses of schedule `s`, seed by seed.
    fn finals(&self, s: usize) -> Vec<f64> {
        self.of(s)
            .iter()
            .map(|c| c.excess.last().copied().unwrap_or(f64::NAN))
            .collect()
    }
}

const NAMES: [&str; 2] = ["A (step decay)", "B (batch growth)"];
const SHORT: [&str; 2] = ["a", "b"];

impl Experiment for IncreaseBatch {
    const KIND: &'static str = "training-phases/increase-batch-equals-decay";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let spec = LeastSquaresSpec {
            samples: p.samples,
            spectrum: harmonic_spectrum(p.dim),
            label_noise: p.label_noise,
        };
        let (ls, _teacher) = generate_least_squares(&spec, &mut streams.stream("data", 0))?;
        let problem = Problem::new(ls)?;
        let per_checkpoint = p.samples / p.checkpoints_per_epoch;
        let schedules = schedules(p);
        let start = problem.spectral_moments(&vec![0.0; p.dim])?;
        let (theory_a, end_a) = theory(&start, &schedules[0], per_checkpoint)?;
        let (theory_b, end_b) = theory(&start, &schedules[1], per_checkpoint)?;
        let runs = ctx.scaled(p.runs);
        let curves: Vec<Curve> = map_indexed(2 * runs, |i| {
            simulate(
                &problem,
                &schedules[i % 2],
                per_checkpoint,
                ctx,
                (i / 2) as u64,
            )
        })
        .into_iter()
        .collect::<Result<_, _>>()?;
        ctx.check_cancelled()?;
        Ok(Measured {
            runs,
            curves,
            theory: [theory_a, theory_b],
            final_variance: [
                end_a.excess_variance_gaussian(),
                end_b.excess_variance_gaussian(),
            ],
            noise_floor: problem.min_loss,
            h_max: start.curvatures.iter().copied().fold(0.0, f64::max),
            examples: p.epochs_per_stage.iter().sum::<usize>() * p.samples,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        final_metrics(p, m, &mut out);
        out.table("excess-loss", excess_table(p, m));
        out.table("stages", stage_table(p, m));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("loss-curves", loss_figure(p, m));
        Ok(figures)
    }
}

/// The final excess losses against the theory, their paired ratio, the update counts.
fn final_metrics(p: &Params, m: &Measured, out: &mut Metrics) {
    let schedules = schedules(p);
    let finals = [m.finals(0), m.finals(1)];
    let last = |s: usize| m.theory[s].last().copied().unwrap_or(f64::NAN);
    for s in 0..2 {
        out.estimate(
            &format!("final_excess_{}", SHORT[s]),
            mean_estimate(&finals[s]),
        );
        // The theory of the drawn data set: another seed draws other data.
        out.measured(&format!("final_excess_{}_theory", SHORT[s]), last(s));
        out.computed(
            &format!("updates_{}", SHORT[s]),
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
        let th = last(s);
        let spread = (m.final_variance[s] / finals[s].len() as f64).sqrt();
        let se = e.se.max(spread);
        let allowance = CLOSURE_ALLOWANCE * th;
        let se = (se * se + allowance * allowance).sqrt();
        max_z = max_z.max(((e.value - th) / se).abs());
    }
    out.measured("final_excess_theory_max_abs_z", max_z);
    let ratio = paired_ratio(&finals[1], &finals[0]);
    let ratio_theory = last(1) / last(0);
    out.estimate("final_excess_ratio", ratio);
    out.measured("final_excess_ratio_theory", ratio_theory);
    let allowance = 2.0 * CLOSURE_ALLOWANCE * ratio_theory;
    let se = (ratio.se * ratio.se + allowance * allowance).sqrt();
    out.measured(
        "final_excess_ratio_abs_z",
        ((ratio.value - ratio_theory) / se).abs(),
    );
    out.computed("noise_scale_mismatch_max", noise_scale_mismatch(&schedules));
    out.measured("noise_floor", m.noise_floor);
    out.measured("initial_excess", m.theory[0][0]);
}

/// The noise scale eta/b of each stage, B over A: equal by construction of the default schedules.
fn noise_scale_mismatch(schedules: &[Vec<Stage>; 2]) -> f64 {
    schedules[0]
        .iter()
        .zip(&schedules[1])
        .map(|(a, b)| ((b.eta / b.batch as f64) / (a.eta / a.batch as f64) - 1.0).abs())
        .fold(0.0, f64::max)
}

/// The mean excess loss at every checkpoint of both schedules, with its theory.
fn excess_table(p: &Params, m: &Measured) -> Table {
    let mut table = Table::new([
        "schedule",
        "epoch",
        "updates",
        "excess_mean",
        "excess_lo",
        "excess_hi",
        "excess_theory",
    ]);
    for s in 0..2 {
        let mine = m.of(s);
        for k in 0..m.theory[s].len() {
            let values: Vec<f64> = mine.iter().map(|c| c.excess[k]).collect();
            let e = mean_estimate(&values);
            let ci = e.ci95();
            let epoch = k as f64 / p.checkpoints_per_epoch as f64;
            table.push(row![
                NAMES[s],
                epoch,
                mine[0].updates[k],
                e.value,
                ci[0],
                ci[1],
                m.theory[s][k]
            ]);
        }
    }
    table
}

/// The stages of both schedules: step, batch, updates, noise scale and eta h_max.
fn stage_table(p: &Params, m: &Measured) -> Table {
    let mut table = Table::new([
        "schedule",
        "stage",
        "step_size",
        "batch_size",
        "updates",
        "noise_scale",
        "eta_h_max",
    ]);
    for (s, stages) in schedules(p).iter().enumerate() {
        for (k, st) in stages.iter().enumerate() {
            table.push(row![
                NAMES[s],
                k + 1,
                st.eta,
                st.batch,
                st.steps,
                st.eta / st.batch as f64,
                st.eta * m.h_max
            ]);
        }
    }
    table
}

/// Excess loss against epochs (top) and against updates (bottom): mean of the runs once per epoch
/// with 95% intervals, theory at every checkpoint.
fn loss_figure(p: &Params, m: &Measured) -> FigureData {
    let y = || Axis::log("excess training loss L(w) − L(ŵ)");
    let mut epochs = CurvesPanel::new("Against epochs", Axis::linear("epoch"), y());
    let mut updates = CurvesPanel::new("Against parameter updates", Axis::linear("updates"), y());
    for s in 0..2 {
        let mine = m.of(s);
        let (mut sim_e, mut sim_u, mut th_e, mut th_u) = (vec![], vec![], vec![], vec![]);
        for k in 0..m.theory[s].len() {
            let epoch = k as f64 / p.checkpoints_per_epoch as f64;
            let n_updates = mine[0].updates[k] as f64;
            let th = m.theory[s][k];
            th_e.push((epoch, th));
            if n_updates > 0.0 {
                th_u.push((n_updates, th));
            }
            if k % p.checkpoints_per_epoch == 0 {
                let e = mean_estimate(&mine.iter().map(|c| c.excess[k]).collect::<Vec<_>>());
                sim_e.push(MeasuredPoint::with_ci(epoch, e.value, e.ci95()));
                if n_updates > 0.0 {
                    sim_u.push(MeasuredPoint::with_ci(n_updates, e.value, e.ci95()));
                }
            }
        }
        epochs = epochs
            .theory(Line::new(format!("{}, theory", NAMES[s]), s, th_e))
            .measured(Points::new(format!("{}, SGD", NAMES[s]), s, sim_e));
        updates = updates
            .theory(Line::new("", s, th_u))
            .measured(Points::new("", s, sim_u));
    }
    FigureData::stacked(vec![epochs.into(), updates.into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedules_have_the_catalog_update_counts() {
        let p = Params::default();
        assert!(p.validate().is_ok());
        let total = |s: &[Stage]| s.iter().map(|st| st.steps).sum::<u64>();
        let [a, b] = schedules(&p);
        assert_eq!((total(&a), total(&b)), (18_750, 7_750));
        // eta/b is the same in every stage of the default schedules (rounding only).
        assert!(noise_scale_mismatch(&[a, b]) < 1e-12);
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

    /// Two checkpoints per schedule (start and end), three seeds; B ends at 1.1 x A's level.
    fn hand_made() -> (Params, Measured) {
        let p = Params {
            samples: 400,
            dim: 5,
            runs: 3,
            epochs_per_stage: vec![1],
            step_sizes_a: vec![0.1],
            batch_sizes_a: vec![4],
            step_sizes_b: vec![0.1],
            batch_sizes_b: vec![4],
            checkpoints_per_epoch: 1,
            ..Params::default()
        };
        let curve = |end: f64| Curve {
            excess: vec![1.0, end],
            updates: vec![0, 100],
        };
        let curves = vec![
            curve(0.10),
            curve(0.11),
            curve(0.12),
            curve(0.132),
            curve(0.08),
            curve(0.088),
        ];
        let m = Measured {
            runs: 3,
            curves,
            theory: [vec![1.0, 0.1], vec![1.0, 0.11]],
            final_variance: [1e-6, 1e-6],
            noise_floor: 0.5,
            h_max: 1.0,
            examples: 400,
        };
        (p, m)
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let (p, m) = hand_made();
        let out = IncreaseBatch::metrics(&p, &m).unwrap();
        let ratio = out.values["final_excess_ratio"];
        assert!((ratio.value - 1.1).abs() < 1e-12, "{}", ratio.value);
        // Every pair has the same ratio: no spread, a zero-width interval.
        assert!((ratio.ci.unwrap()[1] - 1.1).abs() < 1e-12);
        assert!((out.value("final_excess_a").unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(out.value("updates_a"), Some(100.0));
        assert_eq!(out.value("noise_scale_mismatch_max"), Some(0.0));
        assert_eq!(
            out.values["final_excess_a"].basis,
            claim_spec::Basis::Measured
        );
        assert_eq!(out.tables["excess-loss"].rows.len(), 4);
        assert_eq!(out.tables["stages"].rows.len(), 2);
        assert_eq!(m.samples(), 2400);
        let figures = IncreaseBatch::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["loss-curves"].panels.len(), 2);
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
        let ctx = RunContext::new("t", 7);
        let a = IncreaseBatch::measure(&p, &ctx).unwrap();
        let b = IncreaseBatch::measure(&p, &ctx).unwrap();
        assert_eq!(a, b);
        let out = IncreaseBatch::metrics(&p, &a).unwrap();
        assert_eq!(out.value("updates_a"), Some(150.0));
        assert!(out.value("final_excess_ratio").unwrap().is_finite());
    }
}
