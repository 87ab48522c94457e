//! A two-layer linear network y = W2 W1 x trained on the loss (1/2N) sum ||y_n - W2 W1 x_n||^2, and the
//! closed-form mode dynamics of Saxe, McClelland and Ganguli (2014).
//!
//! With whitened inputs ((1/N) X X^T = I), targets Y = M X, M = sum_k s_k u_k v_k^T, and an
//! initialization aligned with the singular vectors and balanced between the layers
//! (W1 = sum_k a_k r_k v_k^T, W2 = sum_k a_k u_k r_k^T, orthonormal hidden directions r_k), gradient
//! descent keeps the modes decoupled and balanced: each a_k follows a <- a + eta a (s - a^2) exactly,
//! and the mode strength u = a^2 = u_k^T W2 W1 v_k. In continuous time (time in steps, tau = 1/eta)
//! tau du/dt = 2 u (s - u), a logistic curve
//!
//!   u(t) = s / (1 + (s/u0 - 1) exp(-2 s t / tau)),
//!
//! which reaches s/2 at t_half = (tau / 2s) ln(s/u0 - 1).
//!
//! The discrete map differs at first order in eta. In x = ln u it reads
//! x' = x + 2 ln(1 + eta (s - u)) = x + eta f + eta^2 g + O(eta^3) with f = 2(s - u), g = -(s - u)^2, whose
//! modified equation (e.g. Hairer, Lubich and Wanner, *Geometric Numerical Integration*, IX.1) is
//! dx/dn = eta f + eta^2 (g - f f'/2) = 2 eta (s - u) [1 + eta (3u - s)/2]: slower than the flow while
//! u < s/3, faster after. Integrating the difference from u0 to s/2 gives
//!
//!   t_half(map) - t_half(flow) = (1/4) [ln(s / 2u0) - 2 ln(2 (s - u0) / s)] + O(eta) steps,
//!
//! a relative excess of about (eta s / 2)(1 - 3 ln 2 / ln(s/u0)), below eta s / 2.

use crate::math_util::{orthonormalize_rows, random_orthogonal};
use claim_spec::ExperimentError;
use ndarray::Array2;
use sgd_sim::linalg::mat_mul;
use sgd_sim::math::{exp, ln};
use sgd_sim::rng::{Stream, standard_normal, uniform_index};

/// The logistic mode strength u(t) of the gradient flow, t in steps.
pub fn logistic_strength(s: f64, u0: f64, eta: f64, t: f64) -> f64 {
    s / (1.0 + (s / u0 - 1.0) * exp(-2.0 * s * eta * t))
}

/// Saxe et al.'s half-learning time (tau / 2s) ln(s/u0 - 1), tau = 1/eta, in steps.
pub fn half_time_formula(s: f64, u0: f64, eta: f64) -> f64 {
    ln(s / u0 - 1.0) / (2.0 * s * eta)
}

/// The first (interpolated) time at which a recorded curve reaches `level`, or None.
pub fn crossing_time(curve: &[f64], level: f64) -> Option<f64> {
    if curve.first().is_some_and(|&u| u >= level) {
        return Some(0.0);
    }
    curve.windows(2).enumerate().find_map(|(t, w)| {
        (w[1] >= level && w[0] < level).then(|| t as f64 + (level - w[0]) / (w[1] - w[0]))
    })
}

/// The half-learning time of the discrete map a <- a + eta a (s - a^2) from a^2 = u0, in steps
/// (interpolated), iterating at most `max_steps` steps.
pub fn half_time_of_map(s: f64, u0: f64, eta: f64, max_steps: usize) -> Option<f64> {
    let mut a = u0.sqrt();
    let mut curve = Vec::with_capacity(max_steps + 1);
    curve.push(u0);
    for _ in 0..max_steps {
        a += eta * a * (s - a * a);
        curve.push(a * a);
        if a * a >= s / 2.0 {
            break;
        }
    }
    crossing_time(&curve, s / 2.0)
}

/// The task: whitened inputs, a target map of given singular values and its singular vectors.
#[derive(Clone, Debug)]
pub struct Task {
    /// Inputs, d x N, with (1/N) X X^T = I.
    pub inputs: Array2<f64>,
    /// Targets Y = M X, d x N.
    pub targets: Array2<f64>,
    /// Left singular vectors u_k (columns of a d x d orthogonal matrix).
    pub left: Array2<f64>,
    /// Right singular vectors v_k (columns).
    pub right: Array2<f64>,
    /// Singular values s_k of the learned modes (the rest are zero).
    pub singular_values: Vec<f64>,
}

impl Task {
    /// Draws the task: orthonormal rows scaled by sqrt(N) for X, random orthogonal U and V.
    ///
    /// # Errors
    /// When N < d or more singular values than dimensions are given.
    pub fn new(
        dim: usize,
        samples: usize,
        singular_values: &[f64],
        rng: &mut Stream,
    ) -> Result<Self, ExperimentError> {
        if samples < dim || singular_values.len() > dim {
            return Err(ExperimentError::InvalidParams(format!(
                "need samples >= dim and at most dim singular values (d = {dim}, N = {samples}, {} values)",
                singular_values.len()
            )));
        }
        let mut inputs = Array2::from_shape_fn((dim, samples), |_| standard_normal(rng));
        orthonormalize_rows(&mut inputs)?;
        inputs *= (samples as f64).sqrt();
        let left = random_orthogonal(dim, rng)?.t().to_owned();
        let right = random_orthogonal(dim, rng)?.t().to_owned();
        let mut map = Array2::<f64>::zeros((dim, dim));
        for (k, &s) in singular_values.iter().enumerate() {
            for i in 0..dim {
                for j in 0..dim {
                    map[[i, j]] += s * left[[i, k]] * right[[j, k]];
                }
            }
        }
        let targets = mat_mul(map.view(), inputs.view());
        Ok(Self {
            inputs,
            targets,
            left,
            right,
            singular_values: singular_values.to_vec(),
        })
    }

    /// The aligned, balanced initialization with every learned mode at strength u0 (hidden width d,
    /// hidden directions r_k = e_k): (W1, W2).
    pub fn aligned_init(&self, u0: f64) -> (Array2<f64>, Array2<f64>) {
        let d = self.left.nrows();
        let a = u0.sqrt();
        let mut w1 = Array2::<f64>::zeros((d, d));
        let mut w2 = Array2::<f64>::zeros((d, d));
        for k in 0..self.singular_values.len() {
            for j in 0..d {
                w1[[k, j]] = a * self.right[[j, k]];
                w2[[j, k]] = a * self.left[[j, k]];
            }
        }
        (w1, w2)
    }

    /// The mode strengths u_k^T W2 W1 v_k of the learned modes, written into `out`, with
    /// `product` as scratch for W2 W1.
    pub fn strengths_into(
        &self,
        w1: &Array2<f64>,
        w2: &Array2<f64>,
        product: &mut Array2<f64>,
        out: &mut [f64],
    ) {
        multiply_into(w2, w1, product);
        let d = product.nrows();
        for (k, o) in out.iter_mut().enumerate() {
            let mut s = 0.0;
            for i in 0..d {
                for j in 0..d {
                    s += self.left[[i, k]] * product[[i, j]] * self.right[[j, k]];
                }
            }
            *o = s;
        }
    }

    /// One (minibatch) gradient step on the samples `batch`, both layers updated from the old values:
    /// G = (1/b) sum (y - W2 W1 x) x^T, W2 += eta G W1^T, W1 += eta W2^T G. No allocation.
    pub fn step(
        &self,
        w1: &mut Array2<f64>,
        w2: &mut Array2<f64>,
        batch: &[usize],
        eta: f64,
        scratch: &mut Scratch,
    ) {
        let d = w1.nrows();
        multiply_into(w2, w1, &mut scratch.product);
        scratch.g.fill(0.0);
        for &n in batch {
            for i in 0..d {
                let mut pred = 0.0;
                for j in 0..d {
                    pred += scratch.product[[i, j]] * self.inputs[[j, n]];
                }
                scratch.residual[i] = self.targets[[i, n]] - pred;
            }
            for i in 0..d {
                for j in 0..d {
                    scratch.g[[i, j]] += scratch.residual[i] * self.inputs[[j, n]];
                }
            }
        }
        scratch.g /= batch.len() as f64;
        Self::apply_gradient(w1, w2, eta, scratch);
    }

    /// One full-batch gradient step using whitening, (1/N) X X^T = I: G = (1/N) Y X^T - W2 W1, the
    /// same gradient as [`Task::step`] on all samples up to rounding, at O(d^3) cost.
    pub fn full_step(
        &self,
        w1: &mut Array2<f64>,
        w2: &mut Array2<f64>,
        cross: &Array2<f64>,
        eta: f64,
        scratch: &mut Scratch,
    ) {
        multiply_into(w2, w1, &mut scratch.product);
        scratch.g.assign(cross);
        scratch.g -= &scratch.product;
        Self::apply_gradient(w1, w2, eta, scratch);
    }

    /// (1/N) Y X^T, the input-output correlation of the task.
    pub fn cross_correlation(&self) -> Array2<f64> {
        mat_mul(self.targets.view(), self.inputs.t()) / self.inputs.ncols() as f64
    }

    /// The same task with Gaussian noise of standard deviation `sigma` added to every target.
    pub fn with_label_noise(&self, sigma: f64, rng: &mut Stream) -> Self {
        let mut noisy = self.clone();
        noisy
            .targets
            .mapv_inplace(|y| y + sigma * standard_normal(rng));
        noisy
    }

    /// A small random initialization: every weight of both layers N(0, scale^2), W1 row by row,
    /// then W2.
    pub fn random_init(&self, scale: f64, rng: &mut Stream) -> (Array2<f64>, Array2<f64>) {
        let d = self.left.nrows();
        let w1 = Array2::from_shape_fn((d, d), |_| scale * standard_normal(rng));
        let w2 = Array2::from_shape_fn((d, d), |_| scale * standard_normal(rng));
        (w1, w2)
    }

    /// Applies the gradient G held in `scratch.g`: W2 += eta G W1^T, W1 += eta W2^T G, both from the
    /// old weights.
    fn apply_gradient(w1: &mut Array2<f64>, w2: &mut Array2<f64>, eta: f64, scratch: &mut Scratch) {
        let d = w1.nrows();
        // grad_w2 = G W1^T, grad_w1 = W2^T G, both from the old weights.
        for i in 0..d {
            for j in 0..d {
                let mut a = 0.0;
                let mut b = 0.0;
                for k in 0..d {
                    a += scratch.g[[i, k]] * w1[[j, k]];
                    b += w2[[k, i]] * scratch.g[[k, j]];
                }
                scratch.grad_w2[[i, j]] = a;
                scratch.grad_w1[[i, j]] = b;
            }
        }
        w2.scaled_add(eta, &scratch.grad_w2);
        w1.scaled_add(eta, &scratch.grad_w1);
    }

    /// Trains for `steps` steps (full batch when `batch` is None, else with-replacement minibatches
    /// of that size drawn from `rng`) and returns each learned mode's strength after every step
    /// (index 0 is the start).
    ///
    /// # Errors
    /// [`ExperimentError::Diverged`] when a weight stops being finite.
    pub fn train(
        &self,
        u0: f64,
        eta: f64,
        steps: usize,
        batch: Option<usize>,
        rng: &mut Stream,
    ) -> Result<Vec<Vec<f64>>, ExperimentError> {
        self.train_from(self.aligned_init(u0), eta, steps, batch, rng)
    }

    /// Like [`Task::train`] from the weights `init`. Full-batch runs (`batch` None) sum the
    /// gradient over the samples as [`Task::step`] does.
    ///
    /// # Errors
    /// [`ExperimentError::Diverged`] when a weight stops being finite.
    pub fn train_from(
        &self,
        init: (Array2<f64>, Array2<f64>),
        eta: f64,
        steps: usize,
        batch: Option<usize>,
        rng: &mut Stream,
    ) -> Result<Vec<Vec<f64>>, ExperimentError> {
        let (mut w1, mut w2) = init;
        let d = w1.nrows();
        let samples = self.inputs.ncols();
        let full: Vec<usize> = (0..samples).collect();
        let mut indices = vec![0; batch.unwrap_or(0)];
        let modes = self.singular_values.len();
        let mut scratch = Scratch::new(d);
        let mut current = vec![0.0; modes];
        let mut curves = vec![Vec::with_capacity(steps + 1); modes];
        self.strengths_into(&w1, &w2, &mut scratch.product, &mut current);
        for (c, u) in curves.iter_mut().zip(&current) {
            c.push(*u);
        }
        for t in 0..steps {
            let chosen: &[usize] = if batch.is_some() {
                for slot in indices.iter_mut() {
                    *slot = uniform_index(rng, samples);
                }
                &indices
            } else {
                &full
            };
            self.step(&mut w1, &mut w2, chosen, eta, &mut scratch);
            if !w1.iter().chain(w2.iter()).all(|v| v.is_finite()) {
                return Err(ExperimentError::Diverged {
                    step: t as u64 + 1,
                    reason: "a weight of the linear network is not finite".into(),
                });
            }
            self.strengths_into(&w1, &w2, &mut scratch.product, &mut current);
            for (c, u) in curves.iter_mut().zip(&current) {
                c.push(*u);
            }
        }
        Ok(curves)
    }
}

impl Task {
    /// Full-batch gradient descent from `init` with the whitened gradient of [`Task::full_step`]
    /// (the correlation `cross` = (1/N) Y X^T); each learned mode's strength after every step.
    ///
    /// # Errors
    /// [`ExperimentError::Diverged`] when a weight stops being finite.
    pub fn train_whitened(
        &self,
        init: (Array2<f64>, Array2<f64>),
        cross: &Array2<f64>,
        eta: f64,
        steps: usize,
    ) -> Result<Vec<Vec<f64>>, ExperimentError> {
        let (mut w1, mut w2) = init;
        let modes = self.singular_values.len();
        let mut scratch = Scratch::new(w1.nrows());
        let mut current = vec![0.0; modes];
        let mut curves = vec![Vec::with_capacity(steps + 1); modes];
        self.strengths_into(&w1, &w2, &mut scratch.product, &mut current);
        for (c, u) in curves.iter_mut().zip(&current) {
            c.push(*u);
        }
        for t in 0..steps {
            self.full_step(&mut w1, &mut w2, cross, eta, &mut scratch);
            if !w1.iter().chain(w2.iter()).all(|v| v.is_finite()) {
                return Err(ExperimentError::Diverged {
                    step: t as u64 + 1,
                    reason: "a weight of the linear network is not finite".into(),
                });
            }
            self.strengths_into(&w1, &w2, &mut scratch.product, &mut current);
            for (c, u) in curves.iter_mut().zip(&current) {
                c.push(*u);
            }
        }
        Ok(curves)
    }
}

/// Buffers of one training run, so steps do not allocate.
#[derive(Clone, Debug)]
pub struct Scratch {
    product: Array2<f64>,
    g: Array2<f64>,
    grad_w1: Array2<f64>,
    grad_w2: Array2<f64>,
    residual: Vec<f64>,
}

impl Scratch {
    /// Buffers for width d.
    pub fn new(d: usize) -> Self {
        Self {
            product: Array2::zeros((d, d)),
            g: Array2::zeros((d, d)),
            grad_w1: Array2::zeros((d, d)),
            grad_w2: Array2::zeros((d, d)),
            residual: vec![0.0; d],
        }
    }
}

/// out = a b for square matrices of one size, summed in index order.
fn multiply_into(a: &Array2<f64>, b: &Array2<f64>, out: &mut Array2<f64>) {
    let d = a.nrows();
    for i in 0..d {
        for j in 0..d {
            let mut s = 0.0;
            for k in 0..d {
                s += a[[i, k]] * b[[k, j]];
            }
            out[[i, j]] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::Streams;

    #[test]
    fn whitened_full_step_is_the_summed_gradient_step() {
        let mut rng = Streams::new(4).stream("t", 0);
        let task = Task::new(5, 30, &[2.0, 1.0], &mut rng)
            .unwrap()
            .with_label_noise(0.3, &mut rng);
        let (a1, a2) = task.random_init(0.1, &mut rng);
        let (mut b1, mut b2) = (a1.clone(), a2.clone());
        let (mut c1, mut c2) = (a1, a2);
        let mut scratch = Scratch::new(5);
        let all: Vec<usize> = (0..30).collect();
        task.step(&mut b1, &mut b2, &all, 0.01, &mut scratch);
        task.full_step(
            &mut c1,
            &mut c2,
            &task.cross_correlation(),
            0.01,
            &mut scratch,
        );
        for (x, y) in b1.iter().chain(b2.iter()).zip(c1.iter().chain(c2.iter())) {
            assert!((x - y).abs() < 1e-13, "{x} vs {y}");
        }
    }

    #[test]
    fn inputs_are_whitened_and_targets_have_the_given_spectrum() {
        let task = Task::new(6, 40, &[3.0, 1.0], &mut Streams::new(2).stream("t", 0)).unwrap();
        let xxt = mat_mul(task.inputs.view(), task.inputs.t()) / 40.0;
        for i in 0..6 {
            for j in 0..6 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((xxt[[i, j]] - want).abs() < 1e-13);
            }
        }
        // (1/N) Y X^T = M, so u_k^T M v_k = s_k.
        let yxt = mat_mul(task.targets.view(), task.inputs.t()) / 40.0;
        for (k, s) in [3.0, 1.0].iter().enumerate() {
            let mut v = 0.0;
            for i in 0..6 {
                for j in 0..6 {
                    v += task.left[[i, k]] * yxt[[i, j]] * task.right[[j, k]];
                }
            }
            assert!((v - s).abs() < 1e-12);
        }
    }

    #[test]
    fn gradient_descent_follows_the_scalar_map_exactly() {
        // Aligned, balanced init: each mode obeys a <- a + eta a (s - a^2); the network reproduces it
        // to rounding (1e-10 relative over 600 steps).
        let task = Task::new(5, 30, &[2.0, 0.7], &mut Streams::new(3).stream("t", 0)).unwrap();
        let (eta, u0) = (0.01, 1e-3);
        let mut rng = Streams::new(0).stream("unused", 0);
        let curves = task.train(u0, eta, 600, None, &mut rng).unwrap();
        for (k, &s) in task.singular_values.iter().enumerate() {
            let mut a = u0.sqrt();
            for t in 1..=600 {
                a += eta * a * (s - a * a);
                assert!(
                    (curves[k][t] / (a * a) - 1.0).abs() < 1e-10,
                    "mode {k} step {t}"
                );
            }
        }
    }

    #[test]
    fn logistic_solves_the_flow_and_half_time_is_where_it_crosses() {
        // u(t) solves du/dt = 2 eta u (s - u): central difference with h = 1e-3 steps, error O(h^2).
        let (s, u0, eta) = (2.0, 1e-3, 0.005);
        for t in [10.0, 300.0, 900.0] {
            let h = 1e-3;
            let du = (logistic_strength(s, u0, eta, t + h) - logistic_strength(s, u0, eta, t - h))
                / (2.0 * h);
            let u = logistic_strength(s, u0, eta, t);
            assert!((du - 2.0 * eta * u * (s - u)).abs() < 1e-9 * (1.0 + du.abs()));
        }
        let th = half_time_formula(s, u0, eta);
        assert!((logistic_strength(s, u0, eta, th) - s / 2.0).abs() < 1e-12);
        assert!((logistic_strength(s, u0, eta, 0.0) - u0).abs() < 1e-15);
    }

    #[test]
    // The reference is computed independently, with the platform's float functions.
    #[allow(clippy::disallowed_methods)]
    fn discrete_half_time_exceeds_the_flow_by_the_modified_equation_gap() {
        // The map's half time exceeds the flow's by (1/4)[ln(s/2u0) - 2 ln(2(s - u0)/s)] steps up to
        // O(eta) steps and the interpolation of the crossing (a few hundredths of a step here).
        let (u0, eta) = (1e-3, 0.005);
        for s in [3.0, 2.0, 0.5] {
            let map = half_time_of_map(s, u0, eta, 100_000).unwrap();
            let flow = half_time_formula(s, u0, eta);
            let gap = 0.25 * ((s / (2.0 * u0)).ln() - 2.0 * (2.0 * (s - u0) / s).ln());
            assert!(
                (map - flow - gap).abs() < 0.05,
                "s {s}: {map} - {flow} vs {gap}"
            );
        }
    }

    #[test]
    fn crossing_time_interpolates() {
        assert_eq!(crossing_time(&[0.0, 1.0, 3.0], 2.0), Some(1.5));
        assert_eq!(crossing_time(&[0.0, 1.0], 2.0), None);
        assert_eq!(crossing_time(&[2.5, 1.0], 2.0), Some(0.0));
    }
}
