//! Claim `label-smoothing`: softmax regression on separable data (K classes, N < d), trained with
//! smoothed targets q_i = (1 - eps) e_{y_i} + eps/K and with one-hot targets.
//!
//! - Smoothed: the loss depends on W only through the training logits Z = X W^T. With X of full row
//!   rank N <= d, W = B^T X (weights in the span of the data) gives Z = G B with G = X X^T, a linear
//!   bijection B <-> Z; Newton's method is invariant under such a change of variables, so Newton on
//!   B is Newton on Z, where the loss is a sum of N independent K-dimensional cross-entropies. Each
//!   is minimized by damped Newton ([`crate::softmax::newton_cross_entropy`]), then B = G^-1 Z by
//!   Cholesky, and the fixed point is checked through a forward pass of W on every training point:
//!   p_max = 1 - eps + eps/K and logit gap ln(1 + K (1 - eps)/eps).
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
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use ndarray::{Array1, Array2};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::linalg::cholesky_solve;
use sgd_sim::math::{exp, ln, powf};
use sgd_sim::rng::{Stream, standard_normal, uniform_index};
use sgd_sim::stats::{LinearFit, Resamples, Z95, linear_fit, mean_estimate, wilson_interval};

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
pub struct TrainStats {
    /// ||W||_F.
    pub norm: f64,
    /// Mean over the training points of the largest probability.
    pub mean_confidence: f64,
    /// The smallest largest probability.
    pub min_confidence: f64,
    /// max_i |p_max,i - target|.
    pub p_max_abs_error_max: f64,
    /// max over points and other classes of |logit gap - target|.
    pub logit_gap_abs_error_max: f64,
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

/// The kind `noise-engineering/label-smoothing`.
#[derive(Debug)]
pub struct LabelSmoothing;

/// A model's predictions on the held-out points.
#[derive(Clone, Debug, PartialEq)]
pub struct TestPredictions {
    /// The largest probability per point.
    pub confidence: Vec<f64>,
    /// Whether the most probable class is the label.
    pub correct: Vec<bool>,
}

impl TestPredictions {
    fn new(weights: &[f64], data: &Dataset, k: usize) -> Self {
        let (confidence, correct) = predictions(weights, data, k);
        Self {
            confidence,
            correct,
        }
    }

    fn ece(&self, indices: &[usize], bins: usize) -> f64 {
        expected_calibration_error(&self.confidence, &self.correct, indices, bins)
    }

    fn accuracy(&self) -> f64 {
        self.correct.iter().filter(|&&c| c).count() as f64 / self.correct.len() as f64
    }

    fn mean_confidence(&self) -> f64 {
        self.confidence.iter().sum::<f64>() / self.confidence.len() as f64
    }
}

/// The smoothed fixed point on the training set (computed from the drawn data by Newton).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FixedPoint {
    /// 1 - eps + eps/K and ln(1 + K (1 - eps)/eps).
    pub target: (f64, f64),
    /// The training set at W* (forward pass).
    pub stats: TrainStats,
    /// The full gradient norm at W*.
    pub gradient_norm: f64,
    /// The most Newton iterations any point took.
    pub newton_iterations: usize,
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The checkpoints, in steps.
    pub checkpoints: Vec<usize>,
    /// The smoothed fixed point.
    pub fixed: FixedPoint,
    /// The training set along smoothed SGD, per checkpoint.
    pub smoothed: Vec<TrainStats>,
    /// The training set along plain SGD, per checkpoint.
    pub plain: Vec<TrainStats>,
    /// ||W_T - W*|| of smoothed SGD at the last step.
    pub smoothed_distance: f64,
    /// Held-out predictions of the fixed point, plain SGD and smoothed SGD at the last step.
    pub test: [TestPredictions; 3],
    /// Bootstrap resamples of the held-out points (smoothed, plain, difference).
    pub resamples: [Resamples; 3],
    /// SGD steps and held-out points drawn.
    pub drawn: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.drawn
    }
}

/// The Gram matrix G = X X^T, in index order.
fn gram_matrix(train: &Dataset) -> Vec<f64> {
    let n = train.len();
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
    gram
}

/// The smoothed fixed point: Newton in logit space point by point, B = G^-1 Z by Cholesky, and a
/// forward pass of W* = B^T X on every training point, independent of the Gram route.
fn fixed_point(
    p: &Params,
    train: &Dataset,
    gram: &[f64],
) -> Result<(Vec<f64>, Vec<f64>, FixedPoint), ExperimentError> {
    let (k, n, d) = (p.classes, p.samples, p.dim);
    let target = smoothed_fixed_point(k, p.smoothing);
    let mut z_star = vec![0.0; n * k];
    let mut q = vec![0.0; k];
    let mut newton_iterations = 0usize;
    for i in 0..n {
        smoothed_target(train.labels[i], k, p.smoothing, &mut q);
        let report =
            newton_cross_entropy(&mut z_star[i * k..(i + 1) * k], &q, p.newton_tolerance, 200);
        newton_iterations = newton_iterations.max(report.iterations);
    }
    let g = Array2::from_shape_vec((n, n), gram.to_vec())
        .map_err(|e| ExperimentError::Numerical(e.to_string()))?;
    let mut b_star = vec![0.0; n * k];
    for c in 0..k {
        let rhs = Array1::from_iter((0..n).map(|i| z_star[i * k + c]));
        let col = cholesky_solve(&g, &rhs)?;
        for i in 0..n {
            b_star[i * k + c] = col[i];
        }
    }
    let w_star = weights_from_span(&b_star, train, k);
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
    let stats = train_stats(
        &train_logits,
        &train.labels,
        k,
        w_star_norm,
        target.0,
        target.1,
    );
    let fixed = FixedPoint {
        target,
        stats,
        gradient_norm,
        newton_iterations,
    };
    Ok((b_star, w_star, fixed))
}

/// ||W - W*|| = sqrt(tr(D^T G D)) for span coefficients D = B - B*.
fn span_distance(gram: &[f64], n: usize, k: usize, b: &[f64], b_star: &[f64]) -> f64 {
    let mut delta_run = SpanSgd::new(gram, n, k);
    delta_run.coefficients = b.iter().zip(b_star).map(|(a, b)| a - b).collect();
    let delta_logits = delta_run.all_logits();
    delta_run.norm_squared(&delta_logits).max(0.0).sqrt()
}

/// The fits of the plain run over the last two decades: ||W_t|| and ln(1 - mean confidence)
/// against ln t.
fn plain_fits(p: &Params, m: &Measured) -> Result<(LinearFit, LinearFit), ExperimentError> {
    let last = p.steps as f64;
    let window: Vec<usize> = (0..m.checkpoints.len())
        .filter(|&c| m.checkpoints[c] as f64 >= last / 100.0)
        .collect();
    if window.len() < 3 {
        return Err(ExperimentError::InvalidParams(format!(
            "only {} checkpoints fall in the last two decades of steps; raise `checkpoints`",
            window.len()
        )));
    }
    let ln_t: Vec<f64> = window
        .iter()
        .map(|&c| ln(m.checkpoints[c] as f64))
        .collect();
    let norms: Vec<f64> = window.iter().map(|&c| m.plain[c].norm).collect();
    let gaps: Vec<f64> = window
        .iter()
        .map(|&c| ln(1.0 - m.plain[c].mean_confidence))
        .collect();
    Ok((linear_fit(&ln_t, &norms), linear_fit(&ln_t, &gaps)))
}

/// The fixed point, the SGD runs and their fits.
fn training_metrics(p: &Params, m: &Measured, out: &mut Metrics) -> Result<(), ExperimentError> {
    let f = &m.fixed;
    out.computed("p_max_target", f.target.0);
    out.computed("logit_gap_target", f.target.1);
    // Newton on the drawn data: exact to rounding, a code invariant.
    out.computed("p_max_abs_error_max", f.stats.p_max_abs_error_max);
    out.computed("logit_gap_abs_error_max", f.stats.logit_gap_abs_error_max);
    out.computed("newton_gradient_norm", f.gradient_norm);
    out.computed("newton_iterations_max", f.newton_iterations as f64);
    out.measured("smoothed_weight_norm", f.stats.norm);
    let final_smoothed = m.smoothed[m.smoothed.len() - 1];
    out.measured(
        "sgd_smoothed_p_max_abs_error_final",
        final_smoothed.p_max_abs_error_max,
    );
    out.measured(
        "sgd_smoothed_logit_gap_abs_error_final",
        final_smoothed.logit_gap_abs_error_max,
    );
    out.measured(
        "sgd_smoothed_distance_rel_final",
        m.smoothed_distance / f.stats.norm,
    );
    let (norm_fit, gap_fit) = plain_fits(p, m)?;
    out.estimate("norm_log_slope_unsmoothed", norm_fit.slope_estimate());
    out.measured("norm_log_r_squared_unsmoothed", norm_fit.r_squared);
    let final_plain = m.plain[m.plain.len() - 1];
    out.measured("plain_mean_confidence_final", final_plain.mean_confidence);
    out.measured("plain_min_confidence_final", final_plain.min_confidence);
    out.estimate("plain_confidence_gap_log_slope", gap_fit.slope_estimate());
    Ok(())
}

/// Calibration on held-out data, with paired bootstrap intervals.
fn calibration_metrics(p: &Params, m: &Measured, out: &mut Metrics) {
    let [fixed, plain, smoothed_sgd] = &m.test;
    let bins = p.ece_bins;
    let all: Vec<usize> = (0..fixed.correct.len()).collect();
    let ece_s = fixed.ece(&all, bins);
    let ece_p = plain.ece(&all, bins);
    let ece_sgd = smoothed_sgd.ece(&all, bins);
    let ci_s = m.resamples[0].ci95(|idx| fixed.ece(idx, bins));
    let ci_p = m.resamples[1].ci95(|idx| plain.ece(idx, bins));
    let ci_diff = m.resamples[2].ci95(|idx| plain.ece(idx, bins) - fixed.ece(idx, bins));
    out.estimate_with_interval("ece_smoothed", ece_s, ci_s);
    out.estimate_with_interval("ece_plain", ece_p, ci_p);
    out.estimate_with_interval("ece_reduction", ece_p - ece_s, ci_diff);
    out.measured("ece_smoothed_sgd", ece_sgd);
    out.measured("test_accuracy_smoothed", fixed.accuracy());
    out.measured("test_accuracy_plain", plain.accuracy());
    out.measured("test_mean_confidence_smoothed", fixed.mean_confidence());
    out.measured("test_mean_confidence_plain", plain.mean_confidence());
    overconfidence_metrics(m, out);
    let mut calibration = Table::new([
        "model",
        "ece",
        "ece_lo",
        "ece_hi",
        "test_accuracy",
        "test_mean_confidence",
    ]);
    let rows = [
        ("smoothed fixed point", fixed, ece_s, Some(ci_s)),
        ("plain SGD at the last step", plain, ece_p, Some(ci_p)),
        ("smoothed SGD at the last step", smoothed_sgd, ece_sgd, None),
    ];
    for (name, t, ece, ci) in rows {
        calibration.push(row![
            name,
            ece,
            ci.map(|c| c[0]),
            ci.map(|c| c[1]),
            t.accuracy(),
            t.mean_confidence()
        ]);
    }
    out.table("calibration", calibration);
}

/// Overconfidence on held-out points, against the smoothing bound 1 - eps + eps/K on the
/// training set: the fraction of points whose top probability exceeds it (Wilson intervals),
/// the mean of top probability minus correctness (confidence above accuracy; t intervals over
/// points), and the accuracy gap plain minus smoothed (paired over the same points).
fn overconfidence_metrics(m: &Measured, out: &mut Metrics) {
    let bound = m.fixed.target.0;
    for (name, t) in [("smoothed", &m.test[0]), ("plain", &m.test[1])] {
        let n = t.confidence.len() as u64;
        let above = t.confidence.iter().filter(|&&c| c > bound).count() as u64;
        out.estimate_with_interval(
            &format!("test_top_probability_above_bound_{name}"),
            above as f64 / n as f64,
            wilson_interval(above, n, Z95),
        );
        let over: Vec<f64> = t
            .confidence
            .iter()
            .zip(&t.correct)
            .map(|(c, &ok)| c - f64::from(u8::from(ok)))
            .collect();
        out.estimate(&format!("test_overconfidence_{name}"), mean_estimate(&over));
    }
    let gap: Vec<f64> = m.test[1]
        .correct
        .iter()
        .zip(&m.test[0].correct)
        .map(|(&a, &b)| f64::from(u8::from(a)) - f64::from(u8::from(b)))
        .collect();
    out.estimate(
        "test_accuracy_gap_plain_minus_smoothed",
        mean_estimate(&gap),
    );
}

/// The training set along both runs, per checkpoint.
fn training_table(m: &Measured) -> Table {
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
    for (c, &t) in m.checkpoints.iter().enumerate() {
        let (s, pl) = (m.smoothed[c], m.plain[c]);
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
    training
}

impl Experiment for LabelSmoothing {
    const KIND: &'static str = "noise-engineering/label-smoothing";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
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
        let gram = gram_matrix(&train);
        let (b_star, w_star, fixed) = fixed_point(p, &train, &gram)?;
        ctx.check_cancelled()?;
        // SGD with and without smoothing, one shared sample sequence (common random numbers).
        let checkpoints = checkpoint_steps(p.steps, p.checkpoints);
        let run = |smoothing: f64, targets: (f64, f64)| {
            let mut rng = streams.stream("sgd", 0);
            run_sgd(
                &gram,
                &train.labels,
                k,
                smoothing,
                p.step,
                &checkpoints,
                &mut rng,
                targets,
            )
        };
        let (smoothed_run, smoothed) = run(p.smoothing, fixed.target)?;
        ctx.check_cancelled()?;
        let (plain_run, plain) = run(0.0, (1.0, f64::INFINITY))?;
        let smoothed_distance = span_distance(&gram, n, k, &smoothed_run.coefficients, &b_star);
        let w_plain = weights_from_span(&plain_run.coefficients, &train, k);
        let w_smoothed_sgd = weights_from_span(&smoothed_run.coefficients, &train, k);
        let test_predictions = [
            TestPredictions::new(&w_star, &test, k),
            TestPredictions::new(&w_plain, &test, k),
            TestPredictions::new(&w_smoothed_sgd, &test, k),
        ];
        let resamples = std::array::from_fn(|r| {
            let mut boot = streams.stream("bootstrap", r as u64);
            Resamples::draw(&mut boot, test.len(), p.bootstrap_resamples)
        });
        Ok(Measured {
            checkpoints,
            fixed,
            smoothed,
            plain,
            smoothed_distance,
            test: test_predictions,
            resamples,
            drawn: (2 * p.steps + test_samples) as u64,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        training_metrics(p, m, &mut out)?;
        calibration_metrics(p, m, &mut out);
        out.table("training", training_table(m));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("training", training_figure(p, m)?);
        Ok(figures)
    }
}

/// The weight norm and the training confidence along both runs.
fn training_figure(p: &Params, m: &Measured) -> Result<FigureData, ExperimentError> {
    let xs: Vec<f64> = m.checkpoints.iter().map(|&t| t as f64).collect();
    let (t_first, t_last) = (xs[0], xs[xs.len() - 1]);
    let (norm_fit, _) = plain_fits(p, m)?;
    let last = p.steps as f64;
    let fit_line = (0..=50).map(|j| {
        let t = last / 100.0 * powf(100.0, f64::from(j) / 50.0);
        (t, norm_fit.intercept + norm_fit.slope * ln(t))
    });
    let points = |stats: &[TrainStats], f: fn(&TrainStats) -> f64| -> Vec<MeasuredPoint> {
        xs.iter()
            .zip(stats)
            .map(|(&t, s)| MeasuredPoint::new(t, f(s)))
            .collect()
    };
    let w_star_norm = m.fixed.stats.norm;
    let norms = CurvesPanel::new(
        "Weight norm",
        Axis::log("SGD step t"),
        Axis::linear("‖W_t‖"),
    )
    .measured(Points::new(
        "plain (one-hot)",
        0,
        points(&m.plain, |s| s.norm),
    ))
    .guide(Line::new("fit a + b ln t (last two decades)", 0, fit_line))
    .measured(Points::new("smoothed", 1, points(&m.smoothed, |s| s.norm)))
    .theory(Line::new(
        "smoothed fixed point ‖W*‖",
        1,
        [(t_first, w_star_norm), (t_last, w_star_norm)],
    ));
    let target = m.fixed.target.0;
    let confidence = CurvesPanel::new(
        "Confidence on the training set",
        Axis::log("SGD step t"),
        Axis::proportion("mean largest probability"),
    )
    .measured(Points::new(
        "plain (one-hot)",
        0,
        points(&m.plain, |s| s.mean_confidence),
    ))
    .measured(Points::new(
        "smoothed",
        1,
        points(&m.smoothed, |s| s.mean_confidence),
    ))
    .theory(Line::new(
        "1 − ε + ε/K",
        1,
        [(t_first, target), (t_last, target)],
    ));
    Ok(FigureData::stacked(vec![norms.into(), confidence.into()]))
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

    /// A hand-made measurement: the plain run's norm grows as 2 ln t with confidence 1 - 1/t;
    /// the smoothed run sits at the fixed point; four held-out points.
    fn hand_made() -> (Params, Measured) {
        let p = Params {
            steps: 1000,
            ..Params::default()
        };
        let checkpoints = vec![10, 100, 300, 1000];
        let stats = |norm: f64, confidence: f64| TrainStats {
            norm,
            mean_confidence: confidence,
            min_confidence: confidence,
            p_max_abs_error_max: 0.0,
            logit_gap_abs_error_max: 0.0,
        };
        let plain = checkpoints
            .iter()
            .map(|&t| stats(2.0 * ln(t as f64), 1.0 - 1.0 / t as f64))
            .collect();
        let target = smoothed_fixed_point(10, 0.1);
        let smoothed = vec![stats(3.0, target.0); 4];
        let predictions = |confidence: Vec<f64>| TestPredictions {
            confidence,
            correct: vec![true, true, false, true],
        };
        let mut rng = sgd_sim::rng::Streams::new(1).stream("t", 0);
        let resamples = std::array::from_fn(|_| Resamples::draw(&mut rng, 4, 40));
        let m = Measured {
            checkpoints,
            fixed: FixedPoint {
                target,
                stats: stats(3.0, target.0),
                gradient_norm: 1e-14,
                newton_iterations: 7,
            },
            smoothed,
            plain,
            smoothed_distance: 0.03,
            test: [
                predictions(vec![0.75; 4]),
                predictions(vec![0.95, 0.95, 0.95, 0.95]),
                predictions(vec![0.75; 4]),
            ],
            resamples,
            drawn: 2004,
        };
        (p, m)
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let (p, m) = hand_made();
        let out = LabelSmoothing::metrics(&p, &m).unwrap();
        let near = |name: &str, want: f64| {
            let v = out.value(name).unwrap();
            assert!((v - want).abs() < 1e-12, "{name}: {v} vs {want}");
        };
        near("norm_log_slope_unsmoothed", 2.0);
        near("norm_log_r_squared_unsmoothed", 1.0);
        near("plain_confidence_gap_log_slope", -1.0);
        near("sgd_smoothed_distance_rel_final", 0.01);
        // Accuracy 3/4 everywhere: ECE |0.75 - 0.75| = 0 smoothed, |0.75 - 0.95| = 0.2 plain.
        near("ece_smoothed", 0.0);
        near("ece_plain", 0.2);
        near("ece_reduction", 0.2);
        near("test_accuracy_plain", 0.75);
        assert_eq!(out.tables["training"].rows.len(), 4);
        assert_eq!(out.tables["calibration"].rows.len(), 3);
        let figures = LabelSmoothing::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["training"].panels.len(), 2);
    }
}
