//! A least-squares problem with what the theory of its SGD needs: the Hessian, the minimizer, the
//! residuals there, the gradient-noise covariance at the minimum and the Hessian's eigenbasis.

use crate::sgd_moments::SpectralMoments;
use claim_spec::ExperimentError;
use ndarray::{Array1, Array2};
use sgd_sim::linalg::{cholesky_solve, symmetric_eigen};
use sgd_sim::objective::{FiniteSum, LeastSquares, Objective};

/// A least-squares problem l_i(w) = (1/2)(x_i . w - y_i)^2 and its exact second-order data.
#[derive(Clone, Debug)]
pub struct Problem {
    /// The data.
    pub ls: LeastSquares,
    /// H = (1/N) sum x_i x_i^T.
    pub hessian: Array2<f64>,
    /// The minimizer w^ of the mean loss.
    pub minimizer: Vec<f64>,
    /// Sigma* = (1/N) sum r_i^2 x_i x_i^T, the per-sample gradient covariance at w^ (where the full
    /// gradient vanishes).
    pub noise_covariance: Array2<f64>,
    /// The minimum of the mean loss, L(w^) (the noise floor).
    pub min_loss: f64,
}

impl Problem {
    /// Computes H, w^, Sigma* and L(w^); sums run in sample order.
    ///
    /// # Errors
    /// When H is not positive definite (fewer independent samples than features).
    pub fn new(ls: LeastSquares) -> Result<Self, ExperimentError> {
        let (n, d) = (ls.len(), ls.dim());
        let x = &ls.inputs;
        let mut hessian = Array2::<f64>::zeros((d, d));
        let mut xty = Array1::<f64>::zeros(d);
        for i in 0..n {
            for j in 0..d {
                let xij = x[[i, j]];
                xty[j] += xij * ls.targets[i];
                for k in j..d {
                    hessian[[j, k]] += xij * x[[i, k]];
                }
            }
        }
        let inv_n = 1.0 / n as f64;
        for j in 0..d {
            xty[j] *= inv_n;
            for k in j..d {
                hessian[[j, k]] *= inv_n;
                hessian[[k, j]] = hessian[[j, k]];
            }
        }
        let minimizer = cholesky_solve(&hessian, &xty)?.to_vec();
        let mut noise_covariance = Array2::<f64>::zeros((d, d));
        let mut min_loss = 0.0;
        for i in 0..n {
            let r = ls.residual(i, &minimizer);
            min_loss += 0.5 * r * r;
            for j in 0..d {
                let rxj = r * r * x[[i, j]];
                for k in j..d {
                    noise_covariance[[j, k]] += rxj * x[[i, k]];
                }
            }
        }
        min_loss *= inv_n;
        for j in 0..d {
            for k in j..d {
                noise_covariance[[j, k]] *= inv_n;
                noise_covariance[[k, j]] = noise_covariance[[j, k]];
            }
        }
        Ok(Self {
            ls,
            hessian,
            minimizer,
            noise_covariance,
            min_loss,
        })
    }

    /// The excess loss L(w) - L(w^) = (1/2) (w - w^)^T H (w - w^), exact for a quadratic and free of
    /// the cancellation a difference of two losses would suffer.
    pub fn excess_loss(&self, w: &[f64]) -> f64 {
        let d = self.minimizer.len();
        let mut total = 0.0;
        for j in 0..d {
            let ej = w[j] - self.minimizer[j];
            let mut row = 0.0;
            for k in 0..d {
                row += self.hessian[[j, k]] * (w[k] - self.minimizer[k]);
            }
            total += ej * row;
        }
        0.5 * total
    }

    /// The closure's second moments at the deterministic start `w0` (see [`crate::sgd_moments`]).
    ///
    /// # Errors
    /// When the eigendecomposition fails.
    pub fn spectral_moments(&self, w0: &[f64]) -> Result<SpectralMoments, ExperimentError> {
        let (h, v) = symmetric_eigen(&self.hessian)?;
        let d = h.len();
        let mut noise = Vec::with_capacity(d);
        let mut moments = Vec::with_capacity(d);
        for j in 0..d {
            let mut s = 0.0;
            let mut proj = 0.0;
            for a in 0..d {
                proj += v[[a, j]] * (w0[a] - self.minimizer[a]);
                for c in 0..d {
                    s += v[[a, j]] * self.noise_covariance[[a, c]] * v[[c, j]];
                }
            }
            noise.push(s);
            moments.push(proj * proj);
        }
        Ok(SpectralMoments {
            curvatures: h.to_vec(),
            noise,
            moments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::data::{LeastSquaresSpec, generate_least_squares};
    use sgd_sim::rng::Streams;

    #[test]
    fn minimizer_zeroes_the_gradient_and_excess_matches_loss_difference() {
        let spec = LeastSquaresSpec {
            samples: 500,
            spectrum: vec![1.0, 0.5, 0.2, 0.1],
            label_noise: 0.3,
        };
        let (ls, _) =
            generate_least_squares(&spec, &mut Streams::new(4).stream("data", 0)).unwrap();
        let p = Problem::new(ls).unwrap();
        let mut g = vec![0.0; 4];
        p.ls.gradient(&p.minimizer, &mut g);
        assert!(g.iter().all(|v| v.abs() < 1e-14), "{g:?}");
        // L(w) - L(w^) = (1/2) e^T H e exactly for a quadratic; rounding of O(1) sums only.
        let w = [0.3, -0.2, 0.5, 1.0];
        let direct = p.ls.loss(&w) - p.ls.loss(&p.minimizer);
        assert!((p.excess_loss(&w) - direct).abs() < 1e-13);
        assert!((p.min_loss - p.ls.loss(&p.minimizer)).abs() < 1e-15);
        // tr(Sigma*) from the definition, (1/N) sum ||g_i(w^)||^2.
        let (trace, _) = p.ls.gradient_covariance_trace(&p.minimizer);
        let ours: f64 = (0..4).map(|j| p.noise_covariance[[j, j]]).sum();
        assert!((trace / ours - 1.0).abs() < 1e-12);
        // The spectral form of the excess equals the direct one.
        let m = p.spectral_moments(&w).unwrap();
        assert!((m.excess_loss() / p.excess_loss(&w) - 1.0).abs() < 1e-12);
    }
}
