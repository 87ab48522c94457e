//! Claim `augmentation-invariance`: least squares on signals x in R^d, trained by SGD with and
//! without random cyclic shifts of each example (label kept), against the group-averaged minimizer.
//!
//! Theory (all exact for the empirical losses):
//! - Plain: the minimizer is ordinary least squares, w_ols = (X^T X)^-1 X^T y.
//! - Augmented: the loss (1/(N d)) sum_{i,k} (w.S_k x_i - y_i)^2 / 2 has Hessian
//!   A = (1/d) sum_k S_k Sigma S_k^T, which commutes with the shift and is therefore circulant, and
//!   right-hand side (1/d) sum_k S_k c = mean(c) 1 (c = X^T y / N). The all-ones vector is an
//!   eigenvector of every circulant matrix, so the minimizer is w_aug = beta 1 with
//!   beta = sum_i s_i y_i / sum_i s_i^2, s_i = 1.x_i: exactly shift-invariant, and in the
//!   population limit the group average P_G w* = mean(w*) 1 (Chen, Dobriban and Lee 2020).
//! - SGD noise: with gradient-noise covariance S at the minimizer, the averaged iterate over n steps
//!   has covariance H^-1 S H^-1 / n (Polyak and Juditsky 1992), and the last iterate the stationary
//!   covariance C solving C = (I - eta H) C (I - eta H) + eta^2 S, i.e. in H's eigenbasis
//!   C_ij = eta S_ij / (l_i + l_j - eta l_i l_j). Both neglect the O(eta) multiplicative part of
//!   the noise (relative size about eta tr(H) / 2).
//!
//! The invariance error of w is ||w - P_G w|| / ||w||, P_G w = mean(w) 1.

use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use ndarray::{Array1, Array2};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::linalg::{cholesky_solve, mat_mul, spd_inverse, symmetric_eigen};
use sgd_sim::math::{cos, powf};
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::rng::{Stream, standard_normal, uniform_index};
use sgd_sim::stats::{Z95, mean_estimate};

/// Parameters of `noise-engineering/augmentation-invariance`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Signal length d (the group is the d cyclic shifts).
    pub dim: usize,
    /// Training examples N.
    pub samples: usize,
    /// Standard deviation of the label noise.
    pub label_noise: f64,
    /// The teacher is w*_j = 1 + amplitude cos(2 pi j / d): smooth, not shift-invariant.
    pub teacher_amplitude: f64,
    /// SGD step size (batch 1, with replacement; one random shift per step when augmented).
    pub step: f64,
    /// log2 of the number of SGD steps; the averaged iterate at step 2^m averages steps
    /// (2^(m-1), 2^m].
    pub log2_steps: u32,
    /// The first checkpoint is step 2^first_log2_checkpoint.
    pub first_log2_checkpoint: u32,
    /// Independent SGD runs per arm, on the same data.
    pub replicas: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            dim: 16,
            samples: 200,
            label_noise: 0.5,
            teacher_amplitude: 1.0,
            step: 0.005,
            log2_steps: 18,
            first_log2_checkpoint: 6,
            replicas: 64,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("dim", self.dim as u64, 2)?;
        ParamError::at_least("samples", self.samples as u64, self.dim as u64)?;
        ParamError::non_negative("label_noise", self.label_noise)?;
        ParamError::finite("teacher_amplitude", self.teacher_amplitude)?;
        ParamError::positive("step", self.step)?;
        if !(4..=30).contains(&self.log2_steps) {
            return Err(ParamError::new("log2_steps", "must be in 4..=30"));
        }
        if !(1..=self.log2_steps).contains(&self.first_log2_checkpoint) {
            return Err(ParamError::new(
                "first_log2_checkpoint",
                "must be in 1..=log2_steps",
            ));
        }
        ParamError::at_least("replicas", self.replicas as u64, 2)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        4.0 * (self.replicas as f64)
            * sgd_sim::math::powi(2.0, self.log2_steps as i32)
            * self.dim as f64
    }
}

/// ||w - mean(w) 1|| / ||w||.
pub fn invariance_error(w: &[f64]) -> f64 {
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    let off: f64 = w.iter().map(|v| (v - mean) * (v - mean)).sum();
    let norm: f64 = w.iter().map(|v| v * v).sum();
    (off / norm).sqrt()
}

/// (S_k x)_j = x_{(j - k) mod d}: the slice of the doubled signal [x, x] starting at d - k.
#[inline]
fn shifted(doubled: &[f64], d: usize, k: usize) -> &[f64] {
    &doubled[d - k..2 * d - k]
}

/// The data set: inputs (row-major, each row stored twice for shifts), targets, teacher.
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftData {
    /// d.
    pub dim: usize,
    /// Rows [x_i, x_i], length 2d each, row-major.
    pub doubled: Vec<f64>,
    /// y_i.
    pub targets: Vec<f64>,
    /// w*.
    pub teacher: Vec<f64>,
}

impl ShiftData {
    /// Draws x_i with i.i.d. N(0, 1) entries and y_i = w*.x_i + noise.
    pub fn generate(p: &Params, rng: &mut Stream) -> Self {
        let d = p.dim;
        let teacher: Vec<f64> = (0..d)
            .map(|j| {
                1.0 + p.teacher_amplitude * cos(2.0 * std::f64::consts::PI * j as f64 / d as f64)
            })
            .collect();
        let mut doubled = Vec::with_capacity(2 * d * p.samples);
        let mut targets = Vec::with_capacity(p.samples);
        for _ in 0..p.samples {
            let x: Vec<f64> = (0..d).map(|_| standard_normal(rng)).collect();
            let y = x.iter().zip(&teacher).map(|(a, b)| a * b).sum::<f64>()
                + p.label_noise * standard_normal(rng);
            doubled.extend_from_slice(&x);
            doubled.extend_from_slice(&x);
            targets.push(y);
        }
        Self {
            dim: d,
            doubled,
            targets,
            teacher,
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Row i, doubled.
    pub fn doubled_row(&self, i: usize) -> &[f64] {
        &self.doubled[i * 2 * self.dim..(i + 1) * 2 * self.dim]
    }

    /// Row i.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.doubled_row(i)[..self.dim]
    }

    /// The examples seen by one arm: all (i, k) pairs with k = 0 only, or every shift.
    fn examples(&self, augmented: bool) -> Vec<(usize, usize)> {
        let shifts = if augmented { self.dim } else { 1 };
        (0..self.len())
            .flat_map(|i| (0..shifts).map(move |k| (i, k)))
            .collect()
    }

    /// Hessian H = mean over the arm's examples of x x^T, and the noise covariance S = mean of
    /// r^2 x x^T at w (the gradient's mean vanishes at the minimizer).
    pub fn moments(&self, augmented: bool, w: &[f64]) -> (Array2<f64>, Array2<f64>) {
        let d = self.dim;
        let examples = self.examples(augmented);
        let mut h = Array2::zeros((d, d));
        let mut s = Array2::zeros((d, d));
        for &(i, k) in &examples {
            let x = shifted(self.doubled_row(i), d, k);
            let r = x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() - self.targets[i];
            for a in 0..d {
                for b in 0..d {
                    h[[a, b]] += x[a] * x[b];
                    s[[a, b]] += r * r * x[a] * x[b];
                }
            }
        }
        let m = examples.len() as f64;
        (h / m, s / m)
    }

    /// The minimizer of the arm's empirical loss by a Cholesky solve of its normal equations.
    ///
    /// # Errors
    /// When the Hessian is singular.
    pub fn minimizer_by_solve(&self, augmented: bool) -> Result<Vec<f64>, ExperimentError> {
        let d = self.dim;
        let examples = self.examples(augmented);
        let mut h = Array2::zeros((d, d));
        let mut c = Array1::zeros(d);
        for &(i, k) in &examples {
            let x = shifted(self.doubled_row(i), d, k);
            for a in 0..d {
                c[a] += x[a] * self.targets[i];
                for b in 0..d {
                    h[[a, b]] += x[a] * x[b];
                }
            }
        }
        Ok(cholesky_solve(&h, &c)?.to_vec())
    }

    /// The closed-form augmented minimizer beta 1, beta = sum s_i y_i / sum s_i^2 with s_i = 1.x_i,
    /// and the standard error of beta as an estimate of mean(w*) from the residual variance:
    /// se^2 = sum (y_i - beta s_i)^2 / (N - 1) / sum s_i^2.
    pub fn augmented_level(&self) -> (f64, f64) {
        let sums: Vec<f64> = (0..self.len()).map(|i| self.row(i).iter().sum()).collect();
        let ss: f64 = sums.iter().map(|s| s * s).sum();
        let sy: f64 = sums.iter().zip(&self.targets).map(|(s, y)| s * y).sum();
        let beta = sy / ss;
        let rss: f64 = sums
            .iter()
            .zip(&self.targets)
            .map(|(s, y)| (y - beta * s) * (y - beta * s))
            .sum();
        (beta, (rss / (self.len() as f64 - 1.0) / ss).sqrt())
    }
}

/// Q M Q with Q = I - 11^T/d, traced: the part of a covariance orthogonal to the invariant line.
fn trace_off_invariant(m: &Array2<f64>) -> f64 {
    let d = m.nrows();
    let total: f64 = m.sum();
    (0..d).map(|i| m[[i, i]]).sum::<f64>() - total / d as f64
}

/// H^-1 S H^-1 (the Polyak–Ruppert covariance times n).
fn sandwich(h: &Array2<f64>, s: &Array2<f64>) -> Result<Array2<f64>, ExperimentError> {
    let hinv = spd_inverse(h)?;
    Ok(product(&product(&hinv, s), &hinv))
}

/// The fixed-order product A B (`sgd_sim::linalg::mat_mul`).
fn product(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    mat_mul(a.view(), b.view())
}

/// The stationary covariance of constant-step SGD under additive noise S:
/// C = (I - eta H) C (I - eta H) + eta^2 S, solved in H's eigenbasis.
///
/// # Errors
/// When eta l_i >= 2 for some eigenvalue (no stationary law) or the eigensolver fails.
pub fn stationary_covariance(
    h: &Array2<f64>,
    s: &Array2<f64>,
    eta: f64,
) -> Result<Array2<f64>, ExperimentError> {
    let (l, v) = symmetric_eigen(h)?;
    if l.iter().any(|&x| !(x > 0.0 && eta * x < 2.0)) {
        return Err(ExperimentError::InvalidParams(
            "step too large for a stationary law: eta times a curvature is not in (0, 2)".into(),
        ));
    }
    let vt = v.t().to_owned();
    let st = product(&product(&vt, s), &v);
    let ct = Array2::from_shape_fn(st.dim(), |(i, j)| {
        eta * st[[i, j]] / (l[i] + l[j] - eta * l[i] * l[j])
    });
    Ok(product(&product(&v, &ct), &vt))
}

/// What one SGD run records: per checkpoint 2^m, the averaged iterate of (2^(m-1), 2^m] and the
/// last iterate.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// The averaged iterate of (2^(m-1), 2^m] per checkpoint.
    pub averaged: Vec<Vec<f64>>,
    /// The last iterate per checkpoint.
    pub last: Vec<Vec<f64>>,
}

fn run_sgd(
    data: &ShiftData,
    augmented: bool,
    p: &Params,
    rng: &mut Stream,
) -> Result<RunRecord, ExperimentError> {
    let d = data.dim;
    let n = data.len();
    let mut w = vec![0.0; d];
    let mut sum = vec![0.0; d];
    let mut record = RunRecord {
        averaged: Vec::new(),
        last: Vec::new(),
    };
    let mut next_power = 1u64;
    let total = 1u64 << p.log2_steps;
    for t in 1..=total {
        let i = uniform_index(rng, n);
        let k = if augmented { uniform_index(rng, d) } else { 0 };
        let x = shifted(data.doubled_row(i), d, k);
        let r = x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() - data.targets[i];
        let scale = p.step * r;
        for (wj, xj) in w.iter_mut().zip(x) {
            *wj -= scale * xj;
        }
        for (s, wj) in sum.iter_mut().zip(&w) {
            *s += wj;
        }
        if t == next_power {
            // The window (t/2, t] has t/2 steps (t = 1: the single step 1).
            let len = (t / 2).max(1) as f64;
            if t >= 1 << p.first_log2_checkpoint {
                if w.iter().any(|v| !v.is_finite()) {
                    return Err(ExperimentError::Diverged {
                        step: t,
                        reason: "least-squares SGD iterate is no longer finite".into(),
                    });
                }
                record.averaged.push(sum.iter().map(|s| s / len).collect());
                record.last.push(w.clone());
            }
            sum.fill(0.0);
            next_power *= 2;
        }
    }
    Ok(record)
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The kind `noise-engineering/augmentation-invariance`.
#[derive(Debug)]
pub struct AugmentationInvariance;

/// The exact minimizers and SGD-noise theory of one drawn data set.
#[derive(Clone, Debug, PartialEq)]
pub struct Theory {
    /// The least-squares minimizer (plain arm).
    pub w_ols: Vec<f64>,
    /// beta of the augmented minimizer beta 1, and its SE as an estimate of mean(w*).
    pub beta: (f64, f64),
    /// The augmented minimizer by a Cholesky solve of its normal equations.
    pub w_aug_solved: Vec<f64>,
    /// H^-1 S H^-1 of each arm (Polyak–Ruppert covariance times n).
    pub polyak_ruppert: (Array2<f64>, Array2<f64>),
    /// The stationary covariance of the augmented arm's last iterate.
    pub stationary_augmented: Array2<f64>,
}

impl Theory {
    fn new(data: &ShiftData, step: f64) -> Result<Self, ExperimentError> {
        let w_ols = data.minimizer_by_solve(false)?;
        let beta = data.augmented_level();
        let w_aug = vec![beta.0; data.dim];
        let (h_aug, s_aug) = data.moments(true, &w_aug);
        let (h_plain, s_plain) = data.moments(false, &w_ols);
        Ok(Self {
            polyak_ruppert: (sandwich(&h_aug, &s_aug)?, sandwich(&h_plain, &s_plain)?),
            stationary_augmented: stationary_covariance(&h_aug, &s_aug, step)?,
            w_aug_solved: data.minimizer_by_solve(true)?,
            w_ols,
            beta,
        })
    }
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The drawn data set.
    pub data: ShiftData,
    /// Its exact theory (computed from the data, no SGD draw).
    pub theory: Theory,
    /// The augmented runs.
    pub augmented: Vec<RunRecord>,
    /// The plain runs.
    pub plain: Vec<RunRecord>,
    /// SGD steps per run.
    pub steps: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        (self.augmented.len() + self.plain.len()) as u64 * self.steps
    }
}

impl Measured {
    /// The checkpoints 2^m.
    fn checkpoints(&self, p: &Params) -> Vec<u64> {
        (p.first_log2_checkpoint..=p.log2_steps)
            .map(|m| 1u64 << m)
            .collect()
    }

    /// The augmented minimizer beta 1.
    fn w_aug(&self) -> Vec<f64> {
        vec![self.theory.beta.0; self.data.dim]
    }
}

/// f of each replica's iterate at checkpoint c (averaged or last).
fn per_replica(
    runs: &[RunRecord],
    c: usize,
    averaged: bool,
    f: &dyn Fn(&[f64]) -> f64,
) -> Vec<f64> {
    runs.iter()
        .map(|r| f(if averaged { &r.averaged[c] } else { &r.last[c] }))
        .collect()
}

/// The averaged iterates at the last checkpoint: invariance errors, distance to beta 1 and the
/// Polyak–Ruppert spread.
fn final_metrics(p: &Params, m: &Measured, out: &mut Metrics) {
    let d = m.data.dim;
    let checkpoints = m.checkpoints(p);
    let last = checkpoints.len() - 1;
    let w_aug = m.w_aug();
    let aug_norm = norm(&w_aug);
    let inv_aug = mean_estimate(&per_replica(&m.augmented, last, true, &invariance_error));
    let inv_plain = mean_estimate(&per_replica(&m.plain, last, true, &invariance_error));
    out.estimate("invariance_error_augmented", inv_aug);
    out.estimate("invariance_error_plain", inv_plain);
    let teacher_error = invariance_error(&m.data.teacher);
    out.computed("invariance_error_teacher", teacher_error);
    out.measured("invariance_error_ols", invariance_error(&m.theory.w_ols));
    out.measured(
        "invariance_error_plain_minus_teacher_abs",
        (inv_plain.value - teacher_error).abs(),
    );
    // The averaged iterate against the exact augmented minimizer beta 1.
    let window = (checkpoints[last] / 2) as f64;
    let dist_aug = mean_estimate(&per_replica(&m.augmented, last, true, &|w: &[f64]| {
        distance(w, &w_aug) / aug_norm
    }));
    out.estimate("augmented_distance_to_group_average_rel", dist_aug);
    // Polyak–Ruppert: E||Q (w_bar - w_aug)||^2 = tr(Q H^-1 S H^-1 Q) / n.
    let predicted_sq = trace_off_invariant(&m.theory.polyak_ruppert.0) / window;
    let off_sq = per_replica(&m.augmented, last, true, &|w: &[f64]| {
        let mean = w.iter().sum::<f64>() / d as f64;
        w.iter().map(|v| (v - mean) * (v - mean)).sum()
    });
    let off = mean_estimate(&off_sq);
    // RMS ratio and its delta-method interval: sqrt(m/pred) with se(m)/(2 sqrt(m pred)).
    let ratio = (off.value / predicted_sq).sqrt();
    let ratio_se = off.se / (2.0 * (off.value * predicted_sq).sqrt());
    out.estimate_with_interval(
        "augmented_off_invariant_rms_over_prediction",
        ratio,
        [ratio - Z95 * ratio_se, ratio + Z95 * ratio_se],
    );
    out.measured(
        "invariance_error_augmented_predicted",
        predicted_sq.sqrt() / aug_norm,
    );
    out.measured(
        "plain_distance_to_ols_rms_predicted_rel",
        (m.theory.polyak_ruppert.1.diag().sum() / window).sqrt() / norm(&m.theory.w_ols),
    );
    out.estimate(
        "invariance_error_augmented_last_iterate",
        mean_estimate(&per_replica(&m.augmented, last, false, &invariance_error)),
    );
}

/// The empirical minimizer beta 1 against the group average mean(w*) 1, and the closed form
/// against the solve.
fn minimizer_metrics(m: &Measured, out: &mut Metrics) {
    let d = m.data.dim;
    let teacher_mean = m.data.teacher.iter().sum::<f64>() / d as f64;
    let (beta, beta_se) = m.theory.beta;
    let level = beta / teacher_mean;
    let level_se = beta_se / teacher_mean;
    out.estimate_with_interval(
        "augmented_level_over_teacher_mean",
        level,
        [level - Z95 * level_se, level + Z95 * level_se],
    );
    out.measured("augmented_level_se", level_se);
    // The solve and the closed form agree to rounding: a code invariant.
    let w_aug = m.w_aug();
    out.computed(
        "augmented_minimizer_closed_form_rel_error",
        distance(&m.theory.w_aug_solved, &w_aug) / norm(&w_aug),
    );
}

/// The stationary spread of the augmented last iterate, relative to ||beta 1||.
fn stationary_spread(m: &Measured) -> f64 {
    trace_off_invariant(&m.theory.stationary_augmented).sqrt() / norm(&m.w_aug())
}

/// The Polyak–Ruppert spread of the augmented averaged iterate over t/2 steps, relative.
fn averaged_spread(m: &Measured, t: u64) -> f64 {
    (trace_off_invariant(&m.theory.polyak_ruppert.0) / (t / 2) as f64).sqrt() / norm(&m.w_aug())
}

/// The invariance errors of both arms at every checkpoint, with their predictions.
fn invariance_table(p: &Params, m: &Measured) -> Table {
    let mut table = Table::new([
        "step",
        "augmented_averaged",
        "augmented_averaged_lo",
        "augmented_averaged_hi",
        "augmented_averaged_predicted",
        "augmented_last",
        "augmented_last_lo",
        "augmented_last_hi",
        "augmented_last_predicted",
        "plain_averaged",
        "plain_averaged_lo",
        "plain_averaged_hi",
        "plain_last",
        "invariance_error_ols",
        "invariance_error_teacher",
    ]);
    let stationary = stationary_spread(m);
    let ols_error = invariance_error(&m.theory.w_ols);
    let teacher_error = invariance_error(&m.data.teacher);
    for (c, &t) in m.checkpoints(p).iter().enumerate() {
        let aa = mean_estimate(&per_replica(&m.augmented, c, true, &invariance_error));
        let al = mean_estimate(&per_replica(&m.augmented, c, false, &invariance_error));
        let pa = mean_estimate(&per_replica(&m.plain, c, true, &invariance_error));
        let pl = mean_estimate(&per_replica(&m.plain, c, false, &invariance_error));
        let (ci_aa, ci_al, ci_pa) = (aa.ci95(), al.ci95(), pa.ci95());
        table.push(row![
            t,
            aa.value,
            ci_aa[0],
            ci_aa[1],
            averaged_spread(m, t),
            al.value,
            ci_al[0],
            ci_al[1],
            stationary,
            pa.value,
            ci_pa[0],
            ci_pa[1],
            pl.value,
            ols_error,
            teacher_error
        ]);
    }
    table
}

impl Experiment for AugmentationInvariance {
    const KIND: &'static str = "noise-engineering/augmentation-invariance";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let mut data_rng = streams.stream("data", 0);
        let data = ShiftData::generate(p, &mut data_rng);
        let theory = Theory::new(&data, p.step)?;
        let replicas = ctx.scaled(p.replicas);
        let arm = |purpose: &str, augmented: bool| {
            cancellable_trajectories(&streams, purpose, replicas, &ctx.cancel, |_, rng| {
                run_sgd(&data, augmented, p, rng)
            })
        };
        let augmented = arm("augmented", true)?;
        let plain = arm("plain", false)?;
        Ok(Measured {
            data,
            theory,
            augmented,
            plain,
            steps: 1u64 << p.log2_steps,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        final_metrics(p, m, &mut out);
        minimizer_metrics(m, &mut out);
        out.measured(
            "invariance_error_augmented_last_iterate_predicted",
            stationary_spread(m),
        );
        out.table("invariance", invariance_table(p, m));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("invariance", invariance_figure(p, m));
        Ok(figures)
    }
}

/// Invariance errors of both arms during SGD, with the minimizers' and the predicted spreads.
fn invariance_figure(p: &Params, m: &Measured) -> FigureData {
    let checkpoints = m.checkpoints(p);
    let (x0, x1) = (
        checkpoints[0] as f64,
        checkpoints[checkpoints.len() - 1] as f64,
    );
    let series = |runs: &[RunRecord], averaged: bool| -> Vec<MeasuredPoint> {
        checkpoints
            .iter()
            .enumerate()
            .map(|(c, &t)| {
                let e = mean_estimate(&per_replica(runs, c, averaged, &invariance_error));
                MeasuredPoint::with_ci(t as f64, e.value, e.ci95())
            })
            .collect()
    };
    let ols_error = invariance_error(&m.theory.w_ols);
    let teacher_error = invariance_error(&m.data.teacher);
    let stationary = stationary_spread(m);
    let n = 100;
    let averaged_line = (0..=n).map(|j| {
        let t = x0 * powf(x1 / x0, f64::from(j) / f64::from(n));
        let spread = (trace_off_invariant(&m.theory.polyak_ruppert.0) / (t / 2.0)).sqrt();
        (t, spread / norm(&m.w_aug()))
    });
    let panel = CurvesPanel::new(
        "Invariance error ‖w − P_G w‖ / ‖w‖",
        Axis::log("SGD step t"),
        Axis::log("invariance error"),
    )
    .measured(Points::new(
        "plain, averaged iterate",
        0,
        series(&m.plain, true),
    ))
    .theory(Line::new(
        "least-squares minimizer",
        0,
        [(x0, ols_error), (x1, ols_error)],
    ))
    .guide(Line::new(
        "teacher w*",
        3,
        [(x0, teacher_error), (x1, teacher_error)],
    ))
    .measured(Points::new(
        "augmented, last iterate",
        2,
        series(&m.augmented, false),
    ))
    .theory(Line::new(
        "stationary SGD spread",
        2,
        [(x0, stationary), (x1, stationary)],
    ))
    .measured(Points::new(
        "augmented, averaged iterate",
        1,
        series(&m.augmented, true),
    ))
    .guide(Line::new("Polyak–Ruppert spread", 1, averaged_line));
    FigureData::single(panel)
}

#[cfg(test)]
// The platform float functions are the independent reference these tests compare libm with.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use sgd_sim::rng::Streams;

    fn small() -> (Params, ShiftData) {
        let p = Params {
            dim: 6,
            samples: 30,
            ..Params::default()
        };
        let mut rng = Streams::new(3).stream("data", 0);
        let data = ShiftData::generate(&p, &mut rng);
        (p, data)
    }

    #[test]
    fn augmented_minimizer_is_the_invariant_closed_form() {
        // Solving the d x d normal equations of the loss averaged over all N d shifted examples
        // gives beta 1 with beta = sum s_i y_i / sum s_i^2, to rounding (1e-12 relative).
        let (_, data) = small();
        let solved = data.minimizer_by_solve(true).unwrap();
        let (beta, _) = data.augmented_level();
        for v in &solved {
            assert!((v / beta - 1.0).abs() < 1e-12, "{v} vs {beta}");
        }
        assert!(invariance_error(&solved) < 1e-12);
        // Without augmentation the minimizer is not invariant.
        let ols = data.minimizer_by_solve(false).unwrap();
        assert!(invariance_error(&ols) > 0.1);
    }

    #[test]
    fn augmented_hessian_is_circulant() {
        let (_, data) = small();
        let (h, _) = data.moments(true, &[0.0; 6]);
        for i in 0..6 {
            for j in 0..6 {
                assert!((h[[i, j]] - h[[(i + 1) % 6, (j + 1) % 6]]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn shifts_rotate_the_signal() {
        let x = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0];
        assert_eq!(shifted(&x, 3, 0), &[1.0, 2.0, 3.0]);
        assert_eq!(shifted(&x, 3, 1), &[3.0, 1.0, 2.0]);
        assert_eq!(shifted(&x, 3, 2), &[2.0, 3.0, 1.0]);
    }

    #[test]
    fn stationary_covariance_solves_its_recursion() {
        // C = (I - eta H) C (I - eta H) + eta^2 S must hold to rounding (1e-12).
        let (_, data) = small();
        let w = data.minimizer_by_solve(false).unwrap();
        let (h, s) = data.moments(false, &w);
        let eta = 0.05;
        let c = stationary_covariance(&h, &s, eta).unwrap();
        let m = Array2::from_shape_fn((6, 6), |(i, j)| {
            f64::from(u8::from(i == j)) - eta * h[[i, j]]
        });
        let rhs = product(&product(&m, &c), &m) + &(eta * eta * &s);
        for (a, b) in c.iter().zip(rhs.iter()) {
            assert!((a - b).abs() < 1e-12 * c.iter().map(|v| v.abs()).fold(0.0, f64::max));
        }
        assert!(stationary_covariance(&h, &s, 100.0).is_err());
    }

    #[test]
    fn polyak_ruppert_matches_a_monte_carlo_of_scalar_sgd() {
        // Scalar SGD w <- w - eta (h w + sqrt(s) xi): the mean of n iterates after burn-in has
        // variance s/(h^2 n) (1 + O(1/(n eta h))). 4000 replicas estimate it to 2.2% (SE of a
        // variance, sqrt(2/4000)); with the O(1/(n eta h)) = 1% term, 12% is over 4 SE.
        let (h, s, eta, n): (f64, f64, f64, usize) = (2.0, 3.0, 0.05, 1000);
        let streams = Streams::new(11);
        let means: Vec<f64> = (0..4000)
            .map(|r| {
                let mut rng = streams.stream("pr", r);
                let mut w = 0.0;
                for _ in 0..200 {
                    w -= eta * (h * w + s.sqrt() * standard_normal(&mut rng));
                }
                let mut acc = 0.0;
                for _ in 0..n {
                    w -= eta * (h * w + s.sqrt() * standard_normal(&mut rng));
                    acc += w;
                }
                acc / n as f64
            })
            .collect();
        let var = means.iter().map(|m| m * m).sum::<f64>() / means.len() as f64;
        let want = s / (h * h * n as f64);
        assert!((var / want - 1.0).abs() < 0.12, "{var} vs {want}");
        let hh = Array2::from_elem((1, 1), h);
        let ss = Array2::from_elem((1, 1), s);
        assert!((sandwich(&hh, &ss).unwrap()[[0, 0]] - s / (h * h)).abs() < 1e-15);
    }

    #[test]
    fn invariance_error_of_known_vectors() {
        assert!(invariance_error(&[2.0, 2.0, 2.0]).abs() < 1e-15);
        // 1 + cos over 16 points: ||cos||^2 = 8, ||w||^2 = 16 + 8.
        let w: Vec<f64> = (0..16)
            .map(|j| 1.0 + (2.0 * std::f64::consts::PI * f64::from(j) / 16.0).cos())
            .collect();
        assert!((invariance_error(&w) - (8.0f64 / 24.0).sqrt()).abs() < 1e-14);
    }

    #[test]
    fn validation_names_the_key() {
        let p = Params {
            samples: 4,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "samples");
        assert!(Params::default().validate().is_ok());
    }

    /// A hand-made measurement on the small data set: two replicas per arm at three checkpoints,
    /// the augmented iterates at beta 1 plus or minus a fixed off-invariant offset, the plain ones
    /// at the least-squares minimizer.
    fn hand_made() -> (Params, Measured) {
        let (p, data) = small();
        let p = Params {
            log2_steps: 4,
            first_log2_checkpoint: 2,
            ..p
        };
        let theory = Theory::new(&data, p.step).unwrap();
        let beta = theory.beta.0;
        let offset = |s: f64| -> Vec<f64> {
            (0..6)
                .map(|j| beta + s * if j % 2 == 0 { 0.1 } else { -0.1 })
                .collect()
        };
        let record = |w: Vec<f64>| RunRecord {
            averaged: vec![w.clone(); 3],
            last: vec![w; 3],
        };
        let augmented = vec![record(offset(1.0)), record(offset(-1.0))];
        let plain = vec![record(theory.w_ols.clone()), record(theory.w_ols.clone())];
        let m = Measured {
            data,
            theory,
            augmented,
            plain,
            steps: 16,
        };
        (p, m)
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let (p, m) = hand_made();
        let out = AugmentationInvariance::metrics(&p, &m).unwrap();
        // ||w - mean(w) 1|| / ||w|| with offsets +-0.1 in six coordinates: sqrt(0.06)/||w||.
        let w = offset_norm(&m);
        let inv = out.value("invariance_error_augmented").unwrap();
        assert!((inv - 0.06f64.sqrt() / w).abs() < 1e-12, "{inv}");
        let ols = out.value("invariance_error_ols").unwrap();
        assert_eq!(out.value("invariance_error_plain"), Some(ols));
        assert!(
            out.value("augmented_minimizer_closed_form_rel_error")
                .unwrap()
                < 1e-12
        );
        assert_eq!(out.tables["invariance"].rows.len(), 3);
        assert_eq!(m.samples(), 4 * 16);
        let figures = AugmentationInvariance::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["invariance"].panels.len(), 1);
    }

    fn offset_norm(m: &Measured) -> f64 {
        norm(&m.augmented[0].averaged[2])
    }
}
