//! Gradient diversity of least-squares data sets (Yin, Pananjady, Lam et al., "Gradient diversity:
//! a key ingredient for scalable distributed learning", AISTATS 2018, who use
//! Delta = sum ||g_i||^2 / ||sum g_i||^2 = kappa / N).
//!
//! With per-sample gradients g_i(w) = (x_i . w - y_i) x_i, their mean G and covariance
//! Sigma = (1/N) sum (g_i - G)(g_i - G)^T,
//!
//!   kappa(w) = (1/N) sum ||g_i||^2 / ||G||^2 = 1 + tr(Sigma) / ||G||^2 = 1 + B_simple,
//!
//! because (1/N) sum ||g_i||^2 = tr(Sigma) + ||G||^2 (the parallel-axis identity).
//!
//! At an interpolating minimizer w* (every residual zero) write e = w - w*: then
//! (1/N) sum ||g_i||^2 = e^T M e with M = (1/N) sum ||x_i||^2 x_i x_i^T and ||G||^2 = e^T H^2 e,
//! so kappa is a ratio of two quadratic forms and stays in
//! [lambda_min(H^-1 M H^-1), lambda_max(H^-1 M H^-1)] however close w comes (substitute u = H e).
//! Gradient descent approaches w* along H's lowest eigenvector v, where kappa -> v^T M v / h_min^2.
//! At a noisy minimizer the residuals r_i stay, Sigma -> Sigma* = (1/N) sum r_i^2 x_i x_i^T != 0 while
//! G -> 0, so kappa ~ tr(Sigma*) / ||G||^2 grows without bound.

use crate::ls_moments::matmul;
use claim_spec::ExperimentError;
use ndarray::{Array1, Array2};
use sgd_sim::data::{LeastSquaresSpec, generate_least_squares};
use sgd_sim::linalg::{cholesky_solve, dot, symmetric_eigen};
use sgd_sim::rng::{Stream, standard_normal};

/// A least-squares data set, l_i(w) = (1/2)(x_i . w - y_i)^2, inputs row-major N x d.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Inputs x_i, row-major.
    pub inputs: Vec<f64>,
    /// Labels y_i.
    pub targets: Vec<f64>,
    /// d.
    pub dim: usize,
}

/// kappa and its parts at one w.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradientDiversity {
    /// (1/N) sum ||g_i||^2.
    pub mean_sq_norm: f64,
    /// ||G||^2.
    pub grad_sq: f64,
    /// tr(Sigma) = (1/N) sum ||g_i - G||^2, computed from the centred gradients.
    pub trace_sigma: f64,
}

impl GradientDiversity {
    /// kappa = (1/N) sum ||g_i||^2 / ||G||^2, straight from its definition.
    pub fn kappa(&self) -> f64 {
        self.mean_sq_norm / self.grad_sq
    }

    /// B_simple = tr(Sigma) / ||G||^2.
    pub fn b_simple(&self) -> f64 {
        self.trace_sigma / self.grad_sq
    }
}

/// The range of kappa near an interpolating minimizer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InterpolationKappa {
    /// lambda_min(H^-1 M H^-1): the smallest kappa at any w != w*.
    pub inf: f64,
    /// lambda_max(H^-1 M H^-1): the largest.
    pub sup: f64,
    /// v^T M v / h_min^2, the limit along gradient descent.
    pub gradient_descent_limit: f64,
}

impl Dataset {
    /// A data set from row-major inputs and labels.
    ///
    /// # Errors
    /// Empty data or sizes that disagree.
    pub fn new(inputs: Vec<f64>, targets: Vec<f64>, dim: usize) -> Result<Self, ExperimentError> {
        if dim == 0 || targets.is_empty() || inputs.len() != targets.len() * dim {
            return Err(ExperimentError::InvalidParams(format!(
                "a data set needs N x d inputs and N labels (got {} inputs, {} labels, d = {dim})",
                inputs.len(),
                targets.len()
            )));
        }
        Ok(Self {
            inputs,
            targets,
            dim,
        })
    }

    /// N.
    pub fn samples(&self) -> usize {
        self.targets.len()
    }

    /// Row i.
    pub fn input(&self, i: usize) -> &[f64] {
        &self.inputs[i * self.dim..(i + 1) * self.dim]
    }

    /// The residual x_i . w - y_i.
    pub fn residual(&self, i: usize, w: &[f64]) -> f64 {
        dot(self.input(i), w) - self.targets[i]
    }

    /// The per-sample gradient g_i(w) = (x_i . w - y_i) x_i.
    pub fn sample_gradient(&self, i: usize, w: &[f64]) -> Vec<f64> {
        let r = self.residual(i, w);
        self.input(i).iter().map(|x| r * x).collect()
    }

    /// The full gradient G(w), summed in sample order.
    pub fn gradient(&self, w: &[f64]) -> Vec<f64> {
        let mut g = vec![0.0; self.dim];
        for i in 0..self.samples() {
            let r = self.residual(i, w);
            for (gj, x) in g.iter_mut().zip(self.input(i)) {
                *gj += r * x;
            }
        }
        let inv = 1.0 / self.samples() as f64;
        g.iter_mut().for_each(|v| *v *= inv);
        g
    }

    /// The loss L(w) = (1/N) sum (1/2) r_i^2.
    pub fn loss(&self, w: &[f64]) -> f64 {
        (0..self.samples())
            .map(|i| {
                let r = self.residual(i, w);
                0.5 * r * r
            })
            .sum::<f64>()
            / self.samples() as f64
    }

    /// H = (1/N) sum x_i x_i^T, row-major d x d, summed in sample order.
    pub fn hessian(&self) -> Vec<f64> {
        let d = self.dim;
        let mut h = vec![0.0; d * d];
        for i in 0..self.samples() {
            let x = self.input(i);
            for j in 0..d {
                for k in 0..d {
                    h[j * d + k] += x[j] * x[k];
                }
            }
        }
        let inv = 1.0 / self.samples() as f64;
        h.iter_mut().for_each(|v| *v *= inv);
        h
    }

    /// M = (1/N) sum ||x_i||^2 x_i x_i^T.
    pub fn norm_weighted_second_moment(&self) -> Vec<f64> {
        let d = self.dim;
        let mut m = vec![0.0; d * d];
        for i in 0..self.samples() {
            let x = self.input(i);
            let s: f64 = x.iter().map(|v| v * v).sum();
            for j in 0..d {
                for k in 0..d {
                    m[j * d + k] += s * x[j] * x[k];
                }
            }
        }
        let inv = 1.0 / self.samples() as f64;
        m.iter_mut().for_each(|v| *v *= inv);
        m
    }

    /// The least-squares minimizer, solving H w = (1/N) X^T y by Cholesky.
    ///
    /// # Errors
    /// A singular H.
    pub fn minimizer(&self) -> Result<Vec<f64>, ExperimentError> {
        let d = self.dim;
        let h = self.hessian();
        let mut rhs = vec![0.0; d];
        for i in 0..self.samples() {
            for (r, x) in rhs.iter_mut().zip(self.input(i)) {
                *r += x * self.targets[i];
            }
        }
        let inv = 1.0 / self.samples() as f64;
        let w = cholesky_solve(
            &Array2::from_shape_fn((d, d), |(j, k)| h[j * d + k]),
            &Array1::from_iter(rhs.iter().map(|v| v * inv)),
        )?;
        Ok(w.to_vec())
    }

    /// kappa and its parts at w, in two passes: G first, then the raw and the centred squared
    /// norms of every g_i, summed in sample order.
    pub fn diversity(&self, w: &[f64]) -> GradientDiversity {
        let full = self.gradient(w);
        let mut mean_sq_norm = 0.0;
        let mut trace_sigma = 0.0;
        for i in 0..self.samples() {
            let r = self.residual(i, w);
            for (x, g) in self.input(i).iter().zip(&full) {
                let gi = r * x;
                mean_sq_norm += gi * gi;
                trace_sigma += (gi - g) * (gi - g);
            }
        }
        let inv = 1.0 / self.samples() as f64;
        GradientDiversity {
            mean_sq_norm: mean_sq_norm * inv,
            grad_sq: dot(&full, &full),
            trace_sigma: trace_sigma * inv,
        }
    }

    /// The data set with every point twice (points in order, then the same points again).
    pub fn duplicated(&self) -> Self {
        Self {
            inputs: [self.inputs.clone(), self.inputs.clone()].concat(),
            targets: [self.targets.clone(), self.targets.clone()].concat(),
            dim: self.dim,
        }
    }

    /// The range of kappa near an interpolating minimizer (see the module docs).
    ///
    /// # Errors
    /// A singular H.
    pub fn interpolation_kappa(&self) -> Result<InterpolationKappa, ExperimentError> {
        let d = self.dim;
        let h = self.hessian();
        let m = self.norm_weighted_second_moment();
        let as_array = |v: &[f64]| Array2::from_shape_fn((d, d), |(j, k)| v[j * d + k]);
        let (values, vectors) = symmetric_eigen(&as_array(&h))?;
        if values[0].is_nan() || values[0] <= 0.0 {
            return Err(ExperimentError::Numerical(
                "singular Hessian: kappa is unbounded near the minimizer".into(),
            ));
        }
        // H^-1 = V diag(1/h) V^T.
        let mut inv = vec![0.0; d * d];
        for j in 0..d {
            for k in 0..d {
                inv[j * d + k] = (0..d)
                    .map(|l| vectors[[j, l]] * vectors[[k, l]] / values[l])
                    .sum();
            }
        }
        let c = matmul(&matmul(&inv, &m, d), &inv, d);
        let sym: Vec<f64> = (0..d * d)
            .map(|idx| 0.5 * (c[idx] + c[(idx % d) * d + idx / d]))
            .collect();
        let (cv, _) = symmetric_eigen(&as_array(&sym))?;
        let v: Vec<f64> = (0..d).map(|j| vectors[[j, 0]]).collect();
        let vmv: f64 = (0..d)
            .map(|j| (0..d).map(|k| v[j] * m[j * d + k] * v[k]).sum::<f64>())
            .sum();
        Ok(InterpolationKappa {
            inf: cv[0],
            sup: cv[d - 1],
            gradient_descent_limit: vmv / (values[0] * values[0]),
        })
    }
}

/// Inputs N(0, diag(spectrum)), teacher N(0, I/d), labels with Gaussian noise: the core's
/// generator (draw order fixed there).
///
/// # Errors
/// Invalid sizes.
pub fn spectrum_dataset(
    samples: usize,
    spectrum: Vec<f64>,
    label_noise: f64,
    rng: &mut Stream,
) -> Result<Dataset, ExperimentError> {
    let dim = spectrum.len();
    let (ls, _) = generate_least_squares(
        &LeastSquaresSpec {
            samples,
            spectrum,
            label_noise,
        },
        rng,
    )?;
    Dataset::new(
        ls.inputs.iter().copied().collect(),
        ls.targets.to_vec(),
        dim,
    )
}

/// Correlated inputs: an AR(1) sequence across features, x_1 = z_1,
/// x_j = rho x_{j-1} + sqrt(1 - rho^2) z_j, so Cov(x_j, x_k) = rho^{|j-k|} with unit variances.
/// Teacher N(0, I/d); labels with Gaussian noise. Draws: teacher, then per row its inputs and
/// its noise.
///
/// # Errors
/// Invalid sizes or |rho| >= 1.
pub fn correlated_dataset(
    samples: usize,
    dim: usize,
    rho: f64,
    label_noise: f64,
    rng: &mut Stream,
) -> Result<Dataset, ExperimentError> {
    if rho.is_nan() || rho.abs() >= 1.0 || samples == 0 || dim == 0 {
        return Err(ExperimentError::InvalidParams(format!(
            "correlated data needs |rho| < 1 and a positive size (rho = {rho})"
        )));
    }
    let scale = 1.0 / (dim as f64).sqrt();
    let teacher: Vec<f64> = (0..dim).map(|_| scale * standard_normal(rng)).collect();
    let innovation = (1.0 - rho * rho).sqrt();
    let mut inputs = Vec::with_capacity(samples * dim);
    let mut targets = Vec::with_capacity(samples);
    for _ in 0..samples {
        let mut prev = 0.0;
        let mut y = 0.0;
        for (j, t) in teacher.iter().enumerate() {
            let z = standard_normal(rng);
            let x = if j == 0 {
                z
            } else {
                rho * prev + innovation * z
            };
            prev = x;
            inputs.push(x);
            y += x * t;
        }
        targets.push(y + label_noise * standard_normal(rng));
    }
    Dataset::new(inputs, targets, dim)
}

/// N copies of one point (x ~ N(0, I), y ~ N(0, 1)): every per-sample gradient is the same.
///
/// # Errors
/// Invalid sizes.
pub fn identical_dataset(
    samples: usize,
    dim: usize,
    rng: &mut Stream,
) -> Result<Dataset, ExperimentError> {
    let x: Vec<f64> = (0..dim).map(|_| standard_normal(rng)).collect();
    let y = standard_normal(rng);
    Dataset::new(x.repeat(samples), vec![y; samples], dim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::Streams;

    fn data(noise: f64) -> Dataset {
        correlated_dataset(200, 4, 0.7, noise, &mut Streams::new(2).stream("data", 0)).unwrap()
    }

    #[test]
    fn parallel_axis_identity_and_its_two_special_cases() {
        // mean ||g_i||^2 = tr(Sigma) + ||G||^2 up to rounding of 200-term sums (1e-13 relative).
        let d = data(0.5);
        let w = [0.3, -1.0, 0.2, 0.8];
        let g = d.diversity(&w);
        assert!((g.kappa() / (1.0 + g.b_simple()) - 1.0).abs() < 1e-13);
        assert!(g.kappa() >= 1.0);
        // Duplicating every point changes no average.
        let g2 = d.duplicated().diversity(&w);
        assert!((g2.kappa() / g.kappa() - 1.0).abs() < 1e-13);
        // Identical points: all g_i equal, kappa = 1 up to rounding.
        let same = identical_dataset(64, 3, &mut Streams::new(5).stream("x", 0)).unwrap();
        let gs = same.diversity(&[0.1, 0.2, 0.3]);
        assert!((gs.kappa() - 1.0).abs() < 1e-13 && gs.trace_sigma < 1e-25 * gs.grad_sq);
    }

    #[test]
    fn interpolation_range_brackets_kappa_at_random_points() {
        // For labels with no noise, kappa(w) is a Rayleigh quotient: 2000 random directions at
        // several distances all fall in [inf, sup] (up to 1e-12 rounding), and along H's lowest
        // eigenvector it equals the gradient-descent limit.
        let d = data(0.0);
        let w_star = d.minimizer().unwrap();
        let range = d.interpolation_kappa().unwrap();
        let mut rng = Streams::new(6).stream("dir", 0);
        for k in 0..2000 {
            let scale = [1e-3, 1.0, 10.0][k % 3];
            let w: Vec<f64> = w_star
                .iter()
                .map(|v| v + scale * standard_normal(&mut rng))
                .collect();
            let kappa = d.diversity(&w).kappa();
            assert!(kappa <= range.sup * (1.0 + 1e-9) && kappa >= range.inf * (1.0 - 1e-9));
        }
        let h = d.hessian();
        let (vals, vecs) =
            symmetric_eigen(&Array2::from_shape_fn((4, 4), |(j, k)| h[j * 4 + k])).unwrap();
        assert!(vals[0] > 0.0);
        let w: Vec<f64> = (0..4).map(|j| w_star[j] + 1e-3 * vecs[[j, 0]]).collect();
        let kappa = d.diversity(&w).kappa();
        assert!((kappa / range.gradient_descent_limit - 1.0).abs() < 1e-8);
    }

    #[test]
    fn correlated_inputs_have_the_ar1_covariance() {
        // Empirical Cov(x_1, x_2) = rho and Cov(x_1, x_3) = rho^2 within 5 SE (SE <= 1.5/sqrt(N)).
        let d =
            correlated_dataset(20_000, 3, 0.8, 0.0, &mut Streams::new(8).stream("d", 0)).unwrap();
        let h = d.hessian();
        let se = 1.5 / (20_000f64).sqrt();
        assert!((h[1] - 0.8).abs() < 5.0 * se && (h[2] - 0.64).abs() < 5.0 * se);
        assert!((h[0] - 1.0).abs() < 5.0 * se * 1.5);
        assert!(correlated_dataset(10, 3, 1.0, 0.0, &mut Streams::new(8).stream("d", 0)).is_err());
    }
}
