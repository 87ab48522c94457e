//! Exact expected losses of SGD on least squares with with-replacement minibatches, from the
//! linear recursion of the iterate's second-moment matrix: no Monte Carlo noise.
//!
//! Write e = w - w_hat (w_hat the least-squares minimizer), r_i = x_i . w_hat - y_i the residuals
//! at the minimizer (so sum_i x_i r_i = 0, the normal equations) and H = (1/N) sum_i x_i x_i^T.
//! A minibatch of b independent uniform indices gives g_B = H_B e + q_B, with
//! H_B = (1/b) sum_k x_{i_k} x_{i_k}^T and q_B = (1/b) sum_k r_{i_k} x_{i_k}, E[q_B] = 0. The batch
//! is independent of e_t, so from a start with E[e_0] = 0 the mean stays zero, every cross term
//! E[(I - eta H_B) e q_B^T] vanishes, and P_t = E[e_t e_t^T] obeys exactly
//!
//!   P_{t+1} = A(P_t) + (eta^2 / b) R,
//!   A(P) = P - eta (H P + P H) + eta^2 [(1 - 1/b) H P H + (1/b) T(P)],
//!   T(P) = (1/N) sum_i (x_i^T P x_i) x_i x_i^T,    R = (1/N) sum_i r_i^2 x_i x_i^T,
//!
//! using E[H_B P H_B] = (1 - 1/b) H P H + (1/b) T(P) for i.i.d. indices. A(P) = E[(I - eta H_B) P
//! (I - eta H_B)] is self-adjoint for the Frobenius inner product, so in the orthonormal basis
//! {E_jj, (E_jk + E_kj)/sqrt 2} of symmetric matrices it is a symmetric m x m matrix,
//! m = d (d + 1) / 2. With its eigendecomposition A = U diag(lambda) U^T the solution is
//! P_t = A^t (P_0 - P_inf) + P_inf, P_inf = (I - A)^-1 (eta^2 / b) R, whenever the spectral radius,
//! which A, a completely positive map, attains at its largest eigenvalue, is below 1 (mean-square
//! stability). The expected excess loss is E[L(w_t)] - L(w_hat) = (1/2) tr(H P_t).

use crate::mccandlish::NoiseScales;
use claim_spec::ExperimentError;
use ndarray::Array2;
use sgd_sim::linalg::{dot, mat_mul, symmetric_eigen};
use sgd_sim::math::powf;
use std::f64::consts::SQRT_2;

/// The second-moment operator of one least-squares data set, in the orthonormal basis of
/// symmetric matrices.
#[derive(Clone, Debug)]
pub struct SecondMomentOperator {
    dim: usize,
    pairs: Vec<(usize, usize)>,
    /// P -> H P + P H, m x m row-major.
    lyapunov: Vec<f64>,
    /// P -> H P H.
    sandwich: Vec<f64>,
    /// P -> T(P).
    fourth: Vec<f64>,
    /// Coordinates of R.
    residual_drive: Vec<f64>,
    /// Coordinates of H, H^2, H^3.
    hessian: Vec<f64>,
    hessian_sq: Vec<f64>,
    hessian_cube: Vec<f64>,
    /// Coordinates of M = (1/N) sum ||x_i||^2 x_i x_i^T.
    norm_weighted: Vec<f64>,
    /// Coordinates of T(H) = (1/N) sum (x_i^T H x_i) x_i x_i^T.
    curvature_weighted: Vec<f64>,
    /// (1/N) sum ||x_i||^2 r_i^2, the residual part of E mean ||g_i||^2.
    residual_norm_term: f64,
    /// tr(H R).
    residual_h_term: f64,
    /// Largest and smallest eigenvalues of H.
    max_curvature: f64,
    min_curvature: f64,
}

/// The first step at which a run's expected excess loss is at or below the target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crossing {
    /// The first integer step t with excess(t) <= target.
    pub step: u64,
    /// The crossing by linear interpolation of the excess between steps t - 1 and t: a
    /// continuous function of eta, used for tuning and fitting.
    pub interpolated: f64,
}

/// The product of two d x d row-major matrices, by the core's fixed-order product.
pub(crate) fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let view = |m: &[f64]| Array2::from_shape_fn((d, d), |(i, j)| m[i * d + j]);
    mat_mul(view(a).view(), view(b).view())
        .iter()
        .copied()
        .collect()
}

/// The coordinates of a symmetric d x d matrix (row-major) in the basis given by `pairs`.
fn coords_in(pairs: &[(usize, usize)], dim: usize, mat: &[f64]) -> Vec<f64> {
    pairs
        .iter()
        .map(|&(j, k)| {
            if j == k {
                mat[j * dim + j]
            } else {
                0.5 * SQRT_2 * (mat[j * dim + k] + mat[k * dim + j])
            }
        })
        .collect()
}

/// The m x m matrices of P -> H P + P H and P -> H P H, column by column (each map applied to
/// every basis matrix), symmetrized against rounding (each map is self-adjoint exactly).
fn lyapunov_and_sandwich(h: &[f64], pairs: &[(usize, usize)], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let m = pairs.len();
    let coords_of = |mat: &[f64]| coords_in(pairs, dim, mat);
    let mut lyapunov = vec![0.0; m * m];
    let mut sandwich = vec![0.0; m * m];
    for (b, &(j, k)) in pairs.iter().enumerate() {
        let mut basis = vec![0.0; dim * dim];
        if j == k {
            basis[j * dim + j] = 1.0;
        } else {
            basis[j * dim + k] = 0.5 * SQRT_2;
            basis[k * dim + j] = 0.5 * SQRT_2;
        }
        let hb = matmul(h, &basis, dim);
        let bh = matmul(&basis, h, dim);
        let hbh = matmul(&hb, h, dim);
        let sum: Vec<f64> = hb.iter().zip(&bh).map(|(x, y)| x + y).collect();
        for (a, (l, s)) in coords_of(&sum).into_iter().zip(coords_of(&hbh)).enumerate() {
            lyapunov[a * m + b] = l;
            sandwich[a * m + b] = s;
        }
    }
    // Symmetrize against rounding (each map is self-adjoint exactly).
    for a in 0..m {
        for b in 0..a {
            for mat in [&mut lyapunov, &mut sandwich] {
                let v = 0.5 * (mat[a * m + b] + mat[b * m + a]);
                mat[a * m + b] = v;
                mat[b * m + a] = v;
            }
        }
    }
    (lyapunov, sandwich)
}

impl SecondMomentOperator {
    /// Builds the operator from inputs (rows x_i, row-major N x d) and residuals r_i at the
    /// minimizer. Sums run in sample order.
    ///
    /// # Errors
    /// Mismatched sizes, or an H that is not positive definite (fewer independent samples than
    /// features).
    pub fn new(inputs: &[f64], residuals: &[f64], dim: usize) -> Result<Self, ExperimentError> {
        let n = residuals.len();
        if dim == 0 || n == 0 || inputs.len() != n * dim {
            return Err(ExperimentError::InvalidParams(
                "second-moment operator: inputs must be N x d with N residuals".into(),
            ));
        }
        let pairs: Vec<(usize, usize)> = (0..dim)
            .flat_map(|j| (j..dim).map(move |k| (j, k)))
            .collect();
        let m = pairs.len();
        let nf = n as f64;
        let coords_of = |mat: &[f64]| coords_in(&pairs, dim, mat);
        // H, and the per-sample coordinates phi_i of x_i x_i^T.
        let mut h = vec![0.0; dim * dim];
        let mut fourth = vec![0.0; m * m];
        let mut residual_drive = vec![0.0; m];
        let mut norm_weighted = vec![0.0; m];
        let mut residual_norm_term = 0.0;
        let mut phi = vec![0.0; m];
        for i in 0..n {
            let x = &inputs[i * dim..(i + 1) * dim];
            for (p, &(j, k)) in phi.iter_mut().zip(&pairs) {
                *p = if j == k {
                    x[j] * x[j]
                } else {
                    SQRT_2 * x[j] * x[k]
                };
            }
            for j in 0..dim {
                for k in 0..dim {
                    h[j * dim + k] += x[j] * x[k] / nf;
                }
            }
            let norm_sq: f64 = x.iter().map(|v| v * v).sum();
            let r2 = residuals[i] * residuals[i];
            residual_norm_term += norm_sq * r2 / nf;
            for a in 0..m {
                let pa = phi[a] / nf;
                residual_drive[a] += r2 * pa;
                norm_weighted[a] += norm_sq * pa;
                let row = &mut fourth[a * m..(a + 1) * m];
                for (t, &pb) in row.iter_mut().zip(&phi) {
                    *t += pa * pb;
                }
            }
        }
        let (eigenvalues, _) =
            symmetric_eigen(&Array2::from_shape_fn((dim, dim), |(j, k)| h[j * dim + k]))?;
        let min_curvature = eigenvalues[0];
        let max_curvature = eigenvalues[dim - 1];
        if min_curvature.is_nan() || min_curvature <= 0.0 {
            return Err(ExperimentError::Numerical(
                "the Hessian of the data set is singular: need more independent samples".into(),
            ));
        }
        let (lyapunov, sandwich) = lyapunov_and_sandwich(&h, &pairs, dim);
        let h2 = matmul(&h, &h, dim);
        let h3 = matmul(&h2, &h, dim);
        let hessian = coords_of(&h);
        let curvature_weighted: Vec<f64> = (0..m)
            .map(|a| dot(&fourth[a * m..(a + 1) * m], &hessian))
            .collect();
        let residual_h_term = dot(&hessian, &residual_drive);
        let hessian_sq = coords_of(&h2);
        let hessian_cube = coords_of(&h3);
        Ok(Self {
            dim,
            pairs,
            lyapunov,
            sandwich,
            fourth,
            residual_drive,
            hessian,
            hessian_sq,
            hessian_cube,
            norm_weighted,
            curvature_weighted,
            residual_norm_term,
            residual_h_term,
            max_curvature,
            min_curvature,
        })
    }

    /// The number of coordinates m = d (d + 1) / 2.
    pub fn size(&self) -> usize {
        self.pairs.len()
    }

    /// The largest eigenvalue of H (gradient descent is stable for eta < 2 / h_max).
    pub fn max_curvature(&self) -> f64 {
        self.max_curvature
    }

    /// The smallest eigenvalue of H.
    pub fn min_curvature(&self) -> f64 {
        self.min_curvature
    }

    /// The coordinates of a symmetric d x d matrix (row-major).
    pub fn coords(&self, matrix: &[f64]) -> Vec<f64> {
        coords_in(&self.pairs, self.dim, matrix)
    }

    /// The coordinates of s^2 I, the second moments of an isotropic start around the minimizer.
    pub fn isotropic(&self, variance: f64) -> Vec<f64> {
        self.pairs
            .iter()
            .map(|&(j, k)| if j == k { variance } else { 0.0 })
            .collect()
    }

    /// The expected excess loss (1/2) tr(H P).
    pub fn excess_loss(&self, p: &[f64]) -> f64 {
        0.5 * dot(&self.hessian, p)
    }

    /// The expected gradient statistics at second moments P (mean zero): E||G||^2 = tr(H^2 P),
    /// E[G^T H G] = tr(H^3 P), E tr(Sigma) = tr(M P) + (1/N) sum ||x_i||^2 r_i^2 - tr(H^2 P),
    /// E tr(H Sigma) = tr(T(H) P) + tr(H R) - tr(H^3 P).
    pub fn noise_scales(&self, p: &[f64]) -> NoiseScales {
        let grad_sq = dot(&self.hessian_sq, p);
        let grad_h_grad = dot(&self.hessian_cube, p);
        NoiseScales {
            grad_sq,
            grad_h_grad,
            trace_sigma: dot(&self.norm_weighted, p) + self.residual_norm_term - grad_sq,
            trace_h_sigma: dot(&self.curvature_weighted, p) + self.residual_h_term - grad_h_grad,
        }
    }

    /// One step of the recursion, A(P) + (eta^2 / b) R, by matrix-vector products.
    pub fn step(&self, eta: f64, batch: f64, p: &[f64]) -> Vec<f64> {
        let a = self.matrix(eta, batch);
        let m = self.size();
        (0..m)
            .map(|i| dot(&a[i * m..(i + 1) * m], p) + eta * eta / batch * self.residual_drive[i])
            .collect()
    }

    /// The m x m matrix of A for (eta, b), row-major.
    fn matrix(&self, eta: f64, batch: f64) -> Vec<f64> {
        let m = self.size();
        let (e2k, e2t) = (eta * eta * (1.0 - 1.0 / batch), eta * eta / batch);
        let mut a = vec![0.0; m * m];
        for (i, v) in a.iter_mut().enumerate() {
            *v = -eta * self.lyapunov[i] + e2k * self.sandwich[i] + e2t * self.fourth[i];
        }
        for i in 0..m {
            a[i * m + i] += 1.0;
        }
        a
    }

    /// The closed-form run from second moments `start` (coordinates), or `None` when (eta, b) is
    /// not mean-square stable (largest eigenvalue of A at or above 1).
    ///
    /// # Errors
    /// A failed eigendecomposition (non-finite entries).
    pub fn run(
        &self,
        eta: f64,
        batch: f64,
        start: &[f64],
    ) -> Result<Option<SpectralRun>, ExperimentError> {
        let m = self.size();
        let a = self.matrix(eta, batch);
        let (values, vectors) =
            symmetric_eigen(&Array2::from_shape_fn((m, m), |(i, j)| a[i * m + j]))?;
        if values[m - 1] >= 1.0 {
            return Ok(None);
        }
        let eigenvalues: Vec<f64> = values.to_vec();
        // Column k of U, stored contiguously.
        let basis: Vec<f64> = (0..m)
            .flat_map(|k| (0..m).map(move |i| (i, k)))
            .map(|(i, k)| vectors[[i, k]])
            .collect();
        let project = |v: &[f64]| -> Vec<f64> {
            (0..m).map(|k| dot(&basis[k * m..(k + 1) * m], v)).collect()
        };
        let drive = eta * eta / batch;
        let stationary: Vec<f64> = project(&self.residual_drive)
            .iter()
            .zip(&eigenvalues)
            .map(|(r, l)| drive * r / (1.0 - l))
            .collect();
        let start_dev: Vec<f64> = project(start)
            .iter()
            .zip(&stationary)
            .map(|(p, s)| p - s)
            .collect();
        let h = project(&self.hessian);
        let loss_coeff: Vec<f64> = h.iter().zip(&start_dev).map(|(h, d)| 0.5 * h * d).collect();
        let stationary_loss = 0.5 * dot(&h, &stationary);
        Ok(Some(SpectralRun {
            eigenvalues,
            basis,
            start_dev,
            stationary,
            loss_coeff,
            stationary_loss,
        }))
    }
}

/// P_t = A^t (P_0 - P_inf) + P_inf in A's eigenbasis.
#[derive(Clone, Debug)]
pub struct SpectralRun {
    eigenvalues: Vec<f64>,
    /// Eigenvectors, one contiguous column per eigenvalue.
    basis: Vec<f64>,
    start_dev: Vec<f64>,
    stationary: Vec<f64>,
    loss_coeff: Vec<f64>,
    stationary_loss: f64,
}

impl SpectralRun {
    /// The stationary expected excess loss (1/2) tr(H P_inf).
    pub fn stationary_loss(&self) -> f64 {
        self.stationary_loss
    }

    /// The largest eigenvalue of A (the mean-square contraction factor per step).
    pub fn contraction(&self) -> f64 {
        self.eigenvalues.last().copied().unwrap_or(0.0)
    }

    /// The expected excess loss after t steps.
    pub fn excess_loss(&self, t: u64) -> f64 {
        let tf = t as f64;
        self.stationary_loss
            + self
                .loss_coeff
                .iter()
                .zip(&self.eigenvalues)
                .map(|(c, l)| c * powf(*l, tf))
                .sum::<f64>()
    }

    /// The second moments P_t (coordinates) after t steps.
    pub fn moments(&self, t: u64) -> Vec<f64> {
        let m = self.eigenvalues.len();
        let tf = t as f64;
        let mut p = vec![0.0; m];
        for k in 0..m {
            let weight = powf(self.eigenvalues[k], tf) * self.start_dev[k] + self.stationary[k];
            for (pi, u) in p.iter_mut().zip(&self.basis[k * m..(k + 1) * m]) {
                *pi += weight * u;
            }
        }
        p
    }

    /// The first step at which the expected excess loss is at or below `target`, by scanning
    /// t = 1, 2, ... (exact whether or not the loss is monotone); `None` when the stationary loss
    /// is at or above the target or more than `max_steps` steps are needed.
    pub fn first_crossing(&self, target: f64, max_steps: u64) -> Option<Crossing> {
        if self.stationary_loss >= target {
            return None;
        }
        let mut powers = vec![1.0; self.eigenvalues.len()];
        let mut previous = self.excess_loss(0);
        if previous <= target {
            return Some(Crossing {
                step: 0,
                interpolated: 0.0,
            });
        }
        for t in 1..=max_steps {
            let mut loss = self.stationary_loss;
            for ((p, l), c) in powers
                .iter_mut()
                .zip(&self.eigenvalues)
                .zip(&self.loss_coeff)
            {
                *p *= l;
                loss += c * *p;
            }
            if loss <= target {
                return Some(Crossing {
                    step: t,
                    interpolated: (t - 1) as f64 + (previous - target) / (previous - loss),
                });
            }
            previous = loss;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diversity::Dataset;
    use sgd_sim::rng::{Streams, standard_normal, uniform_index};

    /// A small data set: N points in d dimensions, labels with noise; returns inputs, labels,
    /// the minimizer and residuals.
    fn small_problem(n: usize, d: usize, noise: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut rng = Streams::new(4).stream("data", 0);
        let x: Vec<f64> = (0..n * d)
            .map(|k| standard_normal(&mut rng) * (1.0 + (k % d) as f64).recip().sqrt())
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| x[i * d] - 0.5 * x[i * d + 1] + noise * standard_normal(&mut rng))
            .collect();
        let data = Dataset::new(x.clone(), y.clone(), d).unwrap();
        let w = data.minimizer().unwrap();
        let r: Vec<f64> = (0..n).map(|i| data.residual(i, &w)).collect();
        (x, y, w, r)
    }

    fn direct_step(x: &[f64], r: &[f64], d: usize, eta: f64, b: f64, p: &[f64]) -> Vec<f64> {
        // The recursion written with d x d matrices straight from the data.
        let n = r.len();
        let nf = n as f64;
        let mut h = vec![0.0; d * d];
        let mut t = vec![0.0; d * d];
        let mut rr = vec![0.0; d * d];
        for i in 0..n {
            let xi = &x[i * d..(i + 1) * d];
            let q: f64 = (0..d)
                .map(|j| (0..d).map(|k| xi[j] * p[j * d + k] * xi[k]).sum::<f64>())
                .sum();
            for j in 0..d {
                for k in 0..d {
                    h[j * d + k] += xi[j] * xi[k] / nf;
                    t[j * d + k] += q * xi[j] * xi[k] / nf;
                    rr[j * d + k] += r[i] * r[i] * xi[j] * xi[k] / nf;
                }
            }
        }
        let hp = matmul(&h, p, d);
        let ph = matmul(p, &h, d);
        let hph = matmul(&hp, &h, d);
        (0..d * d)
            .map(|i| {
                p[i] - eta * (hp[i] + ph[i])
                    + eta * eta * ((1.0 - 1.0 / b) * hph[i] + t[i] / b)
                    + eta * eta / b * rr[i]
            })
            .collect()
    }

    #[test]
    fn operator_matches_the_matrix_recursion_and_its_closed_form() {
        // Coordinates are an isometry, so one step through the m x m matrix must equal the d x d
        // recursion to rounding (1e-13), and the eigen closed form must equal 40 iterated steps to
        // 1e-10 (eigendecomposition error ~ m eps times 40 powers).
        let d = 4;
        let (x, _, _, r) = small_problem(30, d, 0.3);
        let op = SecondMomentOperator::new(&x, &r, d).unwrap();
        let (eta, b) = (0.4, 3.0);
        let mut p = vec![0.0; d * d];
        for j in 0..d {
            p[j * d + j] = 1.0;
        }
        p[1] = 0.2;
        p[d] = 0.2;
        let mut coords = op.coords(&p);
        let start = coords.clone();
        let direct = op.coords(&direct_step(&x, &r, d, eta, b, &p));
        let via_op = op.step(eta, b, &coords);
        for (u, v) in direct.iter().zip(&via_op) {
            assert!((u - v).abs() < 1e-13, "{u} vs {v}");
        }
        let run = op.run(eta, b, &start).unwrap().unwrap();
        for t in 1..=40u64 {
            coords = op.step(eta, b, &coords);
            if t % 10 == 0 {
                let closed = run.moments(t);
                for (u, v) in coords.iter().zip(&closed) {
                    assert!((u - v).abs() < 1e-10 * (1.0 + u.abs()), "t {t}");
                }
                assert!((run.excess_loss(t) / op.excess_loss(&coords) - 1.0).abs() < 1e-10);
            }
        }
        // An unstable step size is refused.
        assert!(
            op.run(2.5 / op.max_curvature(), 1.0, &start)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn monte_carlo_sgd_matches_the_exact_expected_loss() {
        // 40,000 SGD runs (with-replacement, b = 2, eta = 0.3, 25 steps) from w_hat + N(0, I) on a
        // 3-d, 20-point problem. The excess loss after 25 steps is estimated with its SE from the
        // samples; the closed form must lie within 4.5 SE (two checkpoints).
        let d = 3;
        let n = 20;
        let (x, y, w_hat, r) = small_problem(n, d, 0.5);
        let op = SecondMomentOperator::new(&x, &r, d).unwrap();
        let (eta, b, steps) = (0.3, 2usize, 25u64);
        let run = op.run(eta, b as f64, &op.isotropic(1.0)).unwrap().unwrap();
        let streams = Streams::new(9);
        let reps = 40_000;
        let checkpoints = [5u64, 25];
        let mut sums = [0.0; 2];
        let mut sq = [0.0; 2];
        let loss = |w: &[f64]| -> f64 {
            (0..n)
                .map(|i| {
                    let res = (0..d).map(|j| x[i * d + j] * w[j]).sum::<f64>() - y[i];
                    0.5 * res * res
                })
                .sum::<f64>()
                / n as f64
        };
        let l_hat = loss(&w_hat);
        for rep in 0..reps {
            let mut rng = streams.stream("mc", rep);
            let mut w: Vec<f64> = w_hat
                .iter()
                .map(|v| v + standard_normal(&mut rng))
                .collect();
            let mut g = vec![0.0; d];
            let mut c = 0;
            for t in 1..=steps {
                g.iter_mut().for_each(|v| *v = 0.0);
                for _ in 0..b {
                    let i = uniform_index(&mut rng, n);
                    let res = (0..d).map(|j| x[i * d + j] * w[j]).sum::<f64>() - y[i];
                    for j in 0..d {
                        g[j] += res * x[i * d + j] / b as f64;
                    }
                }
                for j in 0..d {
                    w[j] -= eta * g[j];
                }
                if t == checkpoints[c] {
                    let e = loss(&w) - l_hat;
                    sums[c] += e;
                    sq[c] += e * e;
                    c = (c + 1).min(1);
                }
            }
        }
        for (c, &t) in checkpoints.iter().enumerate() {
            let mean = sums[c] / reps as f64;
            let se = ((sq[c] / reps as f64 - mean * mean) / reps as f64).sqrt();
            let exact = run.excess_loss(t);
            assert!(
                (mean - exact).abs() < 4.5 * se,
                "t {t}: {mean} +- {se} vs {exact}"
            );
        }
    }

    #[test]
    fn expected_gradient_statistics_are_exact_for_a_symmetric_pair() {
        // With e = +-v (probability 1/2 each) the mean is 0 and P = v v^T, so the expected
        // statistics equal the average of the direct ones at w_hat + v and w_hat - v, to rounding.
        let d = 3;
        let (x, y, w_hat, r) = small_problem(25, d, 0.4);
        let op = SecondMomentOperator::new(&x, &r, d).unwrap();
        let v = [0.3, -0.7, 0.2];
        let mut p = vec![0.0; d * d];
        for j in 0..d {
            for k in 0..d {
                p[j * d + k] = v[j] * v[k];
            }
        }
        let s = op.noise_scales(&op.coords(&p));
        let data = Dataset::new(x, y, d).unwrap();
        let h = data.hessian();
        let mut avg = [0.0; 4];
        for sign in [1.0, -1.0] {
            let w: Vec<f64> = w_hat.iter().zip(&v).map(|(a, b)| a + sign * b).collect();
            let g = data.diversity(&w);
            // G^T H G and tr(H Sigma) directly from the per-sample gradients.
            let full = data.gradient(&w);
            let ghg: f64 = (0..d)
                .map(|j| {
                    (0..d)
                        .map(|k| full[j] * h[j * d + k] * full[k])
                        .sum::<f64>()
                })
                .sum();
            let n = 25;
            let mut ths = 0.0;
            for i in 0..n {
                let gi = data.sample_gradient(i, &w);
                let dev: Vec<f64> = (0..d).map(|j| gi[j] - full[j]).collect();
                ths += (0..d)
                    .map(|j| (0..d).map(|k| dev[j] * h[j * d + k] * dev[k]).sum::<f64>())
                    .sum::<f64>()
                    / n as f64;
            }
            avg[0] += 0.5 * g.grad_sq;
            avg[1] += 0.5 * ghg;
            avg[2] += 0.5 * g.trace_sigma;
            avg[3] += 0.5 * ths;
        }
        let got = [s.grad_sq, s.grad_h_grad, s.trace_sigma, s.trace_h_sigma];
        for (a, b) in avg.iter().zip(&got) {
            assert!((a / b - 1.0).abs() < 1e-11, "{a} vs {b}");
        }
    }
}
