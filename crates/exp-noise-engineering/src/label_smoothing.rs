//! Claim `label-smoothing`: softmax regression on separable data (K classes, N < d), trained with
//! smoothed targets q_i = (1 - eps) e_{y_i} + eps/K and with one-hot targets.
//!
//! - Smoothed: the loss depends on W only through the training logits Z = X W^T. With X of full row
//!   rank N <= d, W = B^T X (weights in the span of the data) gives Z = G B with G = X X^T, a linear
//!   bijection B <-> Z; Newton's method is invariant under such a change of variables, so Newton on
//!   B is Newton on Z, where the loss is a sum of N independent K-dimensional cross-entropies. Each
//!   is minimized by damped Newton ([`crate::softmax::newton_cross_entropy`]), then B = G^-1 Z by
//!   Cholesky, and the fixed point is checked through a forward pass of W on every training point:
//!   p_max = 1 - eps + eps/K and logit gap ln(1 + K (1 - eps)/eps) (CLAIMS.md).
//! - SGD (batch 1, with replacement, constant step) from W = 0 stays in the span of the data, so it
//!   is run in B coordinates: a step on point i computes z_i = sum_j G_ij b_j and updates b_i only.
//!   At the smoothed fixed point every per-sample gradient vanishes (p_i = q_i), so SGD has no noise
//!   floor there and converges to it.
//! - One-hot targets on separable data have no minimizer: ||W_t|| grows like ln t along the
//!   max-margin direction (Soudry et al. 2018; Nacson et al. 2019 for SGD), and confidence tends to 1.
//! - Calibration is measured on held-out data from the same Gaussian mixture: x = mu_y + noise.

use crate::softmax::{
    expected_calibration_error, newton_cross_entropy, smoothed_fixed_point, smoothed_target,
    softmax,
};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use ndarray::{Array1, Array2};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::linalg::cholesky_solve;
use sgd_sim::math::{exp, ln};
use sgd_sim::rng::{Stream, standard_normal, uniform_index};
use sgd_sim::stats::{bootstrap_ci95, linear_fit};

/// Parameters of `noise-engineering/label-smoothing`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Classes K.
    pub classes: usize,
    /// Training points N (balanced: point i has class i mod K).
    pub samples: usize,
    /// Input dimension d (at least N, so the data are separable).
    pub dim: usize,
    /// Label smoothing eps in (0, 1).
    pub smoothing: f64,
    /// Norm of the class means: mu_k has i.i.d. N(0, s^2/d) entries; the noise has N(0, 1/d).
    pub class_separation: f64,
    /// Held-out points for the calibration error.
    pub test_samples: usize,
    /// SGD step size (batch 1, with replacement).
    pub step: f64,
    /// SGD steps of each run.
    pub steps: usize,
    /// Log-spaced checkpoints at which the training set is evaluated.
    pub checkpoints: usize,
    /// Newton stops when the gradient norm of every point's cross-entropy is below this.
    pub newton_tolerance: f64,
    /// Confidence bins of the expected calibration error.
    pub ece_bins: usize,
    /// Bootstrap resamples of the test set for the calibration intervals.
    pub bootstrap_resamples: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            classes: 10,
            samples: 200,
            dim: 400,
            smoothing: 0.1,
            class_separation: 0.2,
            test_samples: 10_000,
            step: 1.0,
            steps: 200_000,
            checkpoints: 41,
            newton_tolerance: 1e-12,
            ece_bins: 15,
            bootstrap_resamples: 400,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("classes", self.classes as u64, 2)?;
        ParamError::at_least("samples", self.samples as u64, self.classes as u64)?;
        if self.dim < self.samples {
            return Err(ParamError::new(
                "dim",
                format!(
                    "must be at least samples = {} (separable data)",
                    self.samples
                ),
            ));
        }
        ParamError::positive("smoothing", self.smoothing)?;
        if self.smoothing >= 1.0 {
            return Err(ParamError::new("smoothing", "must be below 1"));
        }
        ParamError::non_negative("class_separation", self.class_separation)?;
        ParamError::at_least("test_samples", self.test_samples as u64, 100)?;
        ParamError::positive("step", self.step)?;
        ParamError::at_least("steps", self.steps as u64, 1000)?;
        ParamError::at_least("checkpoints", self.checkpoints as u64, 5)?;
        ParamError::positive("newton_tolerance", self.newton_tolerance)?;
        ParamError::at_least("ece_bins", self.ece_bins as u64, 1)?;
        ParamError::at_least("bootstrap_resamples", self.bootstrap_resamples as u64, 40)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let (k, n, d) = (self.classes as f64, self.samples as f64, self.dim as f64);
        let sgd = 2.0 * self.steps as f64 * k * n;
        let setup = n * n * d + n * n * n;
        let test = 2.0 * self.test_samples as f64 * k * d
            + 2.0 * self.bootstrap_resamples as f64 * self.test_samples as f64;
        sgd + setup + test + self.checkpoints as f64 * 2.0 * n * n * k
    }
}

/// A labelled data set, inputs row-major N x d.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Inputs, row-major.
    pub inputs: Vec<f64>,
    /// Labels.
    pub labels: Vec<usize>,
    /// d.
    pub dim: usize,
}

impl Dataset {
    /// Row i.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.inputs[i * self.dim..(i + 1) * self.dim]
    }
    /// Number of points.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Class means mu_k with i.i.d. N(0, s^2/d) entries, row-major K x d.
fn class_means(rng: &mut Stream, classes: usize, dim: usize, separation: f64) -> Vec<f64> {
    let scale = separation / (dim as f64).sqrt();
    (0..classes * dim)
        .map(|_| scale * standard_normal(rng))
        .collect()
}

/// Points x = mu_y + N(0, I/d) with the given labels.
fn mixture_points(rng: &mut Stream, means: &[f64], labels: Vec<usize>, dim: usize) -> Dataset {
    let scale = 1.0 / (dim as f64).sqrt();
    let mut inputs = Vec::with_capacity(labels.len() * dim);
    for &y in &labels {
        for j in 0..dim {
            inputs.push(means[y * dim + j] + scale * standard_normal(rng));
        }
    }
    Dataset {
        inputs,
        labels,
        dim,
    }
}

/// Logits W x for row-major W (K x d).
fn logits(weights: &[f64], x: &[f64], out: &mut [f64]) {
    let d = x.len();
    for (k, o) in out.iter_mut().enumerate() {
        *o = weights[k * d..(k + 1) * d]
            .iter()
            .zip(x)
            .map(|(a, b)| a * b)
            .sum();
    }
}

/// SGD in span coordinates: B (N x K, row i = b_i) with W = B^T X.
struct SpanSgd<'a> {
    gram: &'a [f64],
    n: usize,
    k: usize,
    coefficients: Vec<f64>,
}

impl<'a> SpanSgd<'a> {
    fn new(gram: &'a [f64], n: usize, k: usize) -> Self {
        Self {
            gram,
            n,
            k,
            coefficients: vec![0.0; n * k],
        }
    }

    /// Training logits of point i: z_i = sum_j G_ij b_j.
    fn point_logits(&self, i: usize, z: &mut [f64]) {
        z.fill(0.0);
        let g = &self.gram[i * self.n..(i + 1) * self.n];
        for (j, &gij) in g.iter().enumerate() {
            let b = &self.coefficients[j * self.k..(j + 1) * self.k];
            for (zk, bk) in z.iter_mut().zip(b) {
                *zk += gij * bk;
            }
        }
    }

    /// All training logits Z = G B, row-major N x K.
    fn all_logits(&self) -> Vec<f64> {
        let mut z = vec![0.0; self.n * self.k];
        for i in 0..self.n {
            self.point_logits(i, &mut z[i * self.k..(i + 1) * self.k]);
        }
        z
    }

    /// ||W||_F^2 = sum_ik B_ik Z_ik = tr(B^T G B).
    fn norm_squared(&self, z: &[f64]) -> f64 {
        self.coefficients.iter().zip(z).map(|(a, b)| a * b).sum()
    }
}

/// Training-set summaries at one checkpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
struct TrainStats {
    norm: f64,
    mean_confidence: f64,
    min_confidence: f64,
    p_max_abs_error_max: f64,
    logit_gap_abs_error_max: f64,
}

/// Evaluates the training set from its logits Z (N x K).
fn train_stats(
    z: &[f64],
    labels: &[usize],
    k: usize,
    norm: f64,
    target_p: f64,
    target_gap: f64,
) -> TrainStats {
    let mut p = vec![0.0; k];
    let mut s = TrainStats {
        norm,
        mean_confidence: 0.0,
        min_confidence: f64::INFINITY,
        p_max_abs_error_max: 0.0,
        logit_gap_abs_error_max: 0.0,
    };
    for (i, &y) in labels.iter().enumerate() {
        let zi = &z[i * k..(i + 1) * k];
        softmax(zi, &mut p);
        let conf = p.iter().copied().fold(0.0, f64::max);
        s.mean_confidence += conf / labels.len() as f64;
        s.min_confidence = s.min_confidence.min(conf);
        s.p_max_abs_error_max = s.p_max_abs_error_max.max((conf - target_p).abs());
        for (c, &zc) in zi.iter().enumerate() {
            if c != y {
                s.logit_gap_abs_error_max = s
                    .logit_gap_abs_error_max
                    .max((zi[y] - zc - target_gap).abs());
            }
        }
    }
    s
}

/// Log-spaced checkpoints in [10, steps], unique, ending at steps.
fn checkpoint_steps(steps: usize, count: usize) -> Vec<usize> {
    let (lo, hi) = (ln(10.0), ln(steps as f64));
    let mut out: Vec<usize> = (0..count)
        .map(|c| exp(lo + (hi - lo) * c as f64 / (count - 1) as f64).round() as usize)
        .collect();
    out.push(steps);
    out.sort_unstable();
    out.dedup();
    out
}

/// Runs SGD (batch 1, with replacement) and evaluates the training set at the checkpoints.
#[allow(clippy::too_many_arguments)]
fn run_sgd<'g>(
    gram: &'g [f64],
    labels: &[usize],
    k: usize,
    smoothing: f64,
    step: f64,
    checkpoints: &[usize],
    rng: &mut Stream,
    targets: (f64, f64),
) -> Result<(SpanSgd<'g>, Vec<TrainStats>), ExperimentError> {
    let n = labels.len();
    let mut sgd = SpanSgd::new(gram, n, k);
    let mut z = vec![0.0; k];
    let mut p = vec![0.0; k];
    let mut q = vec![0.0; k];
    let mut stats = Vec::with_capacity(checkpoints.len());
    let mut t = 0;
    for &c in checkpoints {
        while t < c {
            let i = uniform_index(rng, n);
            sgd.point_logits(i, &mut z);
            softmax(&z, &mut p);
            smoothed_target(labels[i], k, smoothing, &mut q);
            let b = &mut sgd.coefficients[i * k..(i + 1) * k];
            for ((bk, pk), qk) in b.iter_mut().zip(&p).zip(&q) {
                *bk -= step * (pk - qk);
            }
            t += 1;
        }
        let all = sgd.all_logits();
        let norm_sq = sgd.norm_squared(&all);
        if !norm_sq.is_finite() || all.iter().any(|v| !v.is_finite()) {
            return Err(ExperimentError::Diverged {
                step: t as u64,
                reason: "softmax regression weights are no longer finite".into(),
            });
        }
        stats.push(train_stats(
            &all,
            labels,
            k,
            norm_sq.max(0.0).sqrt(),
            targets.0,
            targets.1,
        ));
    }
    Ok((sgd, stats))
}

/// W = B^T X, row-major K x d.
fn weights_from_span(coefficients: &[f64], data: &Dataset, k: usize) -> Vec<f64> {
    let d = data.dim;
    let mut w = vec![0.0; k * d];
    for i in 0..data.len() {
        let x = data.row(i);
        for c in 0..k {
            let b = coefficients[i * k + c];
            for (wj, xj) in w[c * d..(c + 1) * d].iter_mut().zip(x) {
                *wj += b * xj;
            }
        }
    }
    w
}

/// Confidence and correctness of a model on a data set.
fn predictions(weights: &[f64], data: &Dataset, k: usize) -> (Vec<f64>, Vec<bool>) {
    let mut z = vec![0.0; k];
    let mut p = vec![0.0; k];
    let mut confidence = Vec::with_capacity(data.len());
    let mut correct = Vec::with_capacity(data.len());
    for i in 0..data.len() {
        logits(weights, data.row(i), &mut z);
        softmax(&z, &mut p);
        let (arg, conf) =
            p.iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |acc, (c, v)| {
                        if v > acc.1 { (c, v) } else { acc }
                    },
                );
        confidence.push(conf);
        correct.push(arg == data.labels[i]);
    }
    (confidence, correct)
}

/// Runs the claim.
///
/// # Errors
/// A singular Gram matrix (inputs not of full row rank) or diverging SGD.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let (k, n, d) = (p.classes, p.samples, p.dim);
    let mut data_rng = streams.stream("data", 0);
    let means = class_means(&mut data_rng, k, d, p.class_separation);
    let train = mixture_points(&mut data_rng, &means, (0..n).map(|i| i % k).collect(), d);
    let test_samples = ctx.scaled(p.test_samples);
    let mut test_rng = streams.stream("test-data", 0);
    let test_labels: Vec<usize> = (0..test_samples)
        .map(|_| uniform_index(&mut test_rng, k))
        .collect();
    let test = mixture_points(&mut test_rng, &means, test_labels, d);

    // Gram matrix G = X X^T, in index order.
    let mut gram = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v: f64 = train
                .row(i)
                .iter()
                .zip(train.row(j))
                .map(|(a, b)| a * b)
                .sum();
            gram[i * n + j] = v;
            gram[j * n + i] = v;
        }
    }
    let (target_p, target_gap) = smoothed_fixed_point(k, p.smoothing);

    // Newton in logit space, point by point.
    let mut z_star = vec![0.0; n * k];
    let mut q = vec![0.0; k];
    let mut newton_iterations = 0usize;
    for i in 0..n {
        smoothed_target(train.labels[i], k, p.smoothing, &mut q);
        let report =
            newton_cross_entropy(&mut z_star[i * k..(i + 1) * k], &q, p.newton_tolerance, 200);
        newton_iterations = newton_iterations.max(report.iterations);
    }
    // B = G^-1 Z, column by column (Cholesky).
    let g = Array2::from_shape_vec((n, n), gram.clone())
        .map_err(|e| ExperimentError::Numerical(e.to_string()))?;
    let mut b_star = vec![0.0; n * k];
    for c in 0..k {
        let rhs = Array1::from_iter((0..n).map(|i| z_star[i * k + c]));
        let col = cholesky_solve(&g, &rhs)?;
        for i in 0..n {
            b_star[i * k + c] = col[i];
        }
    }
    let w_star = weights_from_span(&b_star, &train, k);

    // Forward pass of W* on every training point, independent of the Gram route.
    let mut z = vec![0.0; k];
    let mut probs = vec![0.0; k];
    let mut full_gradient = vec![0.0; k * d];
    let mut train_logits = vec![0.0; n * k];
    for i in 0..n {
        let x = train.row(i);
        logits(&w_star, x, &mut z);
        train_logits[i * k..(i + 1) * k].copy_from_slice(&z);
        softmax(&z, &mut probs);
        smoothed_target(train.labels[i], k, p.smoothing, &mut q);
        for c in 0..k {
            let r = (probs[c] - q[c]) / n as f64;
            for (gj, xj) in full_gradient[c * d..(c + 1) * d].iter_mut().zip(x) {
                *gj += r * xj;
            }
        }
    }
    let gradient_norm = full_gradient.iter().map(|v| v * v).sum::<f64>().sqrt();
    let w_star_norm = w_star.iter().map(|v| v * v).sum::<f64>().sqrt();
    let fixed = train_stats(
        &train_logits,
        &train.labels,
        k,
        w_star_norm,
        target_p,
        target_gap,
    );

    // SGD with and without smoothing, one shared sample sequence (common random numbers).
    let checkpoints = checkpoint_steps(p.steps, p.checkpoints);
    let mut rng = streams.stream("sgd", 0);
    let (smoothed_run, smoothed_stats) = run_sgd(
        &gram,
        &train.labels,
        k,
        p.smoothing,
        p.step,
        &checkpoints,
        &mut rng,
        (target_p, target_gap),
    )?;
    let mut rng = streams.stream("sgd", 0);
    let (plain_run, plain_stats) = run_sgd(
        &gram,
        &train.labels,
        k,
        0.0,
        p.step,
        &checkpoints,
        &mut rng,
        (1.0, f64::INFINITY),
    )?;
    // Distance of the smoothed SGD iterate to the fixed point: ||W - W*||^2 = tr(D^T G D).
    let delta: Vec<f64> = smoothed_run
        .coefficients
        .iter()
        .zip(&b_star)
        .map(|(a, b)| a - b)
        .collect();
    let mut delta_run = SpanSgd::new(&gram, n, k);
    delta_run.coefficients = delta;
    let delta_logits = delta_run.all_logits();
    let distance = delta_run.norm_squared(&delta_logits).max(0.0).sqrt();

    // Norm growth without smoothing: ||W_t|| against ln t over the last two decades.
    let last = p.steps as f64;
    let window: Vec<usize> = (0..checkpoints.len())
        .filter(|&c| checkpoints[c] as f64 >= last / 100.0)
        .collect();
    if window.len() < 3 {
        return Err(ExperimentError::InvalidParams(format!(
            "only {} checkpoints fall in the last two decades of steps; raise `checkpoints`",
            window.len()
        )));
    }
    let ln_t: Vec<f64> = window.iter().map(|&c| ln(checkpoints[c] as f64)).collect();
    let norms: Vec<f64> = window.iter().map(|&c| plain_stats[c].norm).collect();
    let norm_fit = linear_fit(&ln_t, &norms);
    let gaps: Vec<f64> = window
        .iter()
        .map(|&c| ln(1.0 - plain_stats[c].mean_confidence))
        .collect();
    let gap_fit = linear_fit(&ln_t, &gaps);

    // Calibration on held-out data.
    let w_plain = weights_from_span(&plain_run.coefficients, &train, k);
    let w_smoothed_sgd = weights_from_span(&smoothed_run.coefficients, &train, k);
    let (conf_s, correct_s) = predictions(&w_star, &test, k);
    let (conf_p, correct_p) = predictions(&w_plain, &test, k);
    let (conf_sgd, correct_sgd) = predictions(&w_smoothed_sgd, &test, k);
    let all: Vec<usize> = (0..test.len()).collect();
    let bins = p.ece_bins;
    let ece_s = expected_calibration_error(&conf_s, &correct_s, &all, bins);
    let ece_p = expected_calibration_error(&conf_p, &correct_p, &all, bins);
    let ece_sgd = expected_calibration_error(&conf_sgd, &correct_sgd, &all, bins);
    let mut boot = streams.stream("bootstrap", 0);
    let ci_s = bootstrap_ci95(test.len(), p.bootstrap_resamples, &mut boot, |idx| {
        expected_calibration_error(&conf_s, &correct_s, idx, bins)
    });
    let mut boot = streams.stream("bootstrap", 1);
    let ci_p = bootstrap_ci95(test.len(), p.bootstrap_resamples, &mut boot, |idx| {
        expected_calibration_error(&conf_p, &correct_p, idx, bins)
    });
    let mut boot = streams.stream("bootstrap", 2);
    let ci_diff = bootstrap_ci95(test.len(), p.bootstrap_resamples, &mut boot, |idx| {
        expected_calibration_error(&conf_p, &correct_p, idx, bins)
            - expected_calibration_error(&conf_s, &correct_s, idx, bins)
    });
    let proportion = |v: &[bool]| v.iter().filter(|&&c| c).count() as f64 / v.len() as f64;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;

    let mut out = Outcome::new();
    out.exact("p_max_target", target_p);
    out.exact("logit_gap_target", target_gap);
    out.exact("p_max_abs_error_max", fixed.p_max_abs_error_max);
    out.exact("logit_gap_abs_error_max", fixed.logit_gap_abs_error_max);
    out.exact("newton_gradient_norm", gradient_norm);
    out.exact("newton_iterations_max", newton_iterations as f64);
    out.exact("smoothed_weight_norm", w_star_norm);
    let final_smoothed = smoothed_stats[smoothed_stats.len() - 1];
    out.exact(
        "sgd_smoothed_p_max_abs_error_final",
        final_smoothed.p_max_abs_error_max,
    );
    out.exact(
        "sgd_smoothed_logit_gap_abs_error_final",
        final_smoothed.logit_gap_abs_error_max,
    );
    out.exact("sgd_smoothed_distance_rel_final", distance / w_star_norm);
    out.estimate("norm_log_slope_unsmoothed", norm_fit.slope_estimate());
    out.exact("norm_log_r_squared_unsmoothed", norm_fit.r_squared);
    let final_plain = plain_stats[plain_stats.len() - 1];
    out.exact("plain_mean_confidence_final", final_plain.mean_confidence);
    out.exact("plain_min_confidence_final", final_plain.min_confidence);
    out.estimate("plain_confidence_gap_log_slope", gap_fit.slope_estimate());
    out.with_interval("ece_smoothed", ece_s, ci_s);
    out.with_interval("ece_plain", ece_p, ci_p);
    out.with_interval("ece_reduction", ece_p - ece_s, ci_diff);
    out.exact("ece_smoothed_sgd", ece_sgd);
    out.exact("test_accuracy_smoothed", proportion(&correct_s));
    out.exact("test_accuracy_plain", proportion(&correct_p));
    out.exact("test_mean_confidence_smoothed", mean(&conf_s));
    out.exact("test_mean_confidence_plain", mean(&conf_p));

    let mut training = Table::new([
        "step",
        "norm_smoothed",
        "mean_confidence_smoothed",
        "min_confidence_smoothed",
        "p_max_abs_error_max_smoothed",
        "norm_plain",
        "mean_confidence_plain",
        "min_confidence_plain",
    ]);
    for (c, &t) in checkpoints.iter().enumerate() {
        let (s, pl) = (smoothed_stats[c], plain_stats[c]);
        training.push(row![
            t,
            s.norm,
            s.mean_confidence,
            s.min_confidence,
            s.p_max_abs_error_max,
            pl.norm,
            pl.mean_confidence,
            pl.min_confidence
        ]);
    }
    out.table("training", training);
    let mut calibration = Table::new([
        "model",
        "ece",
        "ece_lo",
        "ece_hi",
        "test_accuracy",
        "test_mean_confidence",
    ]);
    calibration.push(row![
        "smoothed fixed point",
        ece_s,
        ci_s[0],
        ci_s[1],
        proportion(&correct_s),
        mean(&conf_s)
    ]);
    calibration.push(row![
        "plain SGD at the last step",
        ece_p,
        ci_p[0],
        ci_p[1],
        proportion(&correct_p),
        mean(&conf_p)
    ]);
    calibration.push(row![
        "smoothed SGD at the last step",
        ece_sgd,
        None::<f64>,
        None::<f64>,
        proportion(&correct_sgd),
        mean(&conf_sgd)
    ]);
    out.table("calibration", calibration);

    let xs: Vec<f64> = checkpoints.iter().map(|&t| t as f64).collect();
    let (t_first, t_last) = (xs[0], xs[xs.len() - 1]);
    let fitted = |t: f64| norm_fit.intercept + norm_fit.slope * ln(t);
    out.figure(
        "training",
        FigureSpec {
            panels: vec![
                Panel {
                    title: "Weight norm".into(),
                    x: Axis::log("SGD step t"),
                    // Headroom above the data for the legend.
                    y: Axis::linear("||W_t||").with_range(
                        0.0,
                        1.5 * plain_stats[plain_stats.len() - 1].norm.max(w_star_norm),
                    ),
                    series: vec![
                        Series::from_xy(
                            "plain (one-hot)",
                            SeriesKind::Simulation,
                            0,
                            xs.iter().zip(&plain_stats).map(|(&t, s)| (t, s.norm)),
                        ),
                        Series::from_xy(
                            "fit a + b ln t (last two decades)",
                            SeriesKind::Guide,
                            0,
                            [(last / 100.0, fitted(last / 100.0)), (last, fitted(last))],
                        ),
                        Series::from_xy(
                            "smoothed",
                            SeriesKind::Simulation,
                            1,
                            xs.iter().zip(&smoothed_stats).map(|(&t, s)| (t, s.norm)),
                        ),
                        Series::from_xy(
                            "smoothed fixed point ||W*||",
                            SeriesKind::Theory,
                            1,
                            [(t_first, w_star_norm), (t_last, w_star_norm)],
                        ),
                    ],
                    labels: Vec::new(),
                },
                Panel {
                    title: "Confidence on the training set".into(),
                    x: Axis::log("SGD step t"),
                    y: Axis::linear("mean max probability").with_range(0.0, 1.3),
                    series: vec![
                        Series::from_xy(
                            "plain (one-hot)",
                            SeriesKind::Simulation,
                            0,
                            xs.iter()
                                .zip(&plain_stats)
                                .map(|(&t, s)| (t, s.mean_confidence)),
                        ),
                        Series::from_xy(
                            "smoothed",
                            SeriesKind::Simulation,
                            1,
                            xs.iter()
                                .zip(&smoothed_stats)
                                .map(|(&t, s)| (t, s.mean_confidence)),
                        ),
                        Series::from_xy(
                            "1 - eps + eps/K",
                            SeriesKind::Theory,
                            1,
                            [(t_first, target_p), (t_last, target_p)],
                        ),
                    ],
                    labels: Vec::new(),
                },
            ],
        },
    );
    out.samples = (2 * p.steps + test_samples) as u64;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::Streams;

    #[test]
    fn span_sgd_equals_sgd_on_the_weights() {
        // From W = 0 every step adds a multiple of some x_i^T, so W_t = B_t^T X exactly; the two
        // parametrizations agree to rounding (1e-12 on O(1) weights over 200 steps).
        let streams = Streams::new(5);
        let mut rng = streams.stream("data", 0);
        let (k, n, d) = (3, 6, 9);
        let means = class_means(&mut rng, k, d, 1.0);
        let data = mixture_points(&mut rng, &means, (0..n).map(|i| i % k).collect(), d);
        let mut gram = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                gram[i * n + j] = data
                    .row(i)
                    .iter()
                    .zip(data.row(j))
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
        let mut a = streams.stream("sgd", 0);
        let (span, _) =
            run_sgd(&gram, &data.labels, k, 0.1, 0.7, &[200], &mut a, (0.0, 0.0)).unwrap();
        let w_span = weights_from_span(&span.coefficients, &data, k);
        let mut b = streams.stream("sgd", 0);
        let mut w = vec![0.0; k * d];
        let (mut z, mut p, mut q) = (vec![0.0; k], vec![0.0; k], vec![0.0; k]);
        for _ in 0..200 {
            let i = uniform_index(&mut b, n);
            logits(&w, data.row(i), &mut z);
            softmax(&z, &mut p);
            smoothed_target(data.labels[i], k, 0.1, &mut q);
            for c in 0..k {
                for j in 0..d {
                    w[c * d + j] -= 0.7 * (p[c] - q[c]) * data.row(i)[j];
                }
            }
        }
        for (x, y) in w.iter().zip(&w_span) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
    }

    #[test]
    fn checkpoints_cover_the_run() {
        let c = checkpoint_steps(200_000, 41);
        assert_eq!(c[0], 10);
        assert_eq!(*c.last().unwrap(), 200_000);
        assert!(c.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn validation_names_the_key() {
        let p = Params {
            dim: 100,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "dim");
        let p = Params {
            smoothing: 1.0,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "smoothing");
        assert!(Params::default().validate().is_ok());
    }
}
