//! Objectives with exact gradients: diagonal and dense quadratics, and least squares on a finite data set.

use crate::SimError;
use ndarray::{Array1, Array2};

/// A differentiable loss over R^d with an exact gradient.
pub trait Objective: Sync {
    /// The dimension d of the parameter vector.
    fn dim(&self) -> usize;
    /// The loss L(w).
    fn loss(&self, w: &[f64]) -> f64;
    /// Writes the exact gradient of L at w into `out`.
    fn gradient(&self, w: &[f64], out: &mut [f64]);
}

/// A loss that is the mean of N per-sample losses, L(w) = (1/N) sum_i l_i(w).
pub trait FiniteSum: Objective {
    /// The number of samples N.
    fn len(&self) -> usize;
    /// Whether the data set is empty (never, for a valid objective).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Adds `weight` times the gradient of the per-sample loss l_i at w to `out`.
    fn add_sample_gradient(&self, i: usize, w: &[f64], weight: f64, out: &mut [f64]);
    /// The per-sample loss l_i(w).
    fn sample_loss(&self, i: usize, w: &[f64]) -> f64;

    /// The mean of per-sample gradients over `batch`, summed in the order given.
    fn batch_gradient(&self, batch: &[usize], w: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        let weight = 1.0 / batch.len() as f64;
        for &i in batch {
            self.add_sample_gradient(i, w, weight, out);
        }
    }
}

/// f(w) = (1/2) sum_i h_i (w_i - w*_i)^2, a quadratic with diagonal Hessian diag(h).
#[derive(Clone, Debug, PartialEq)]
pub struct DiagonalQuadratic {
    /// Curvatures h_i.
    pub curvatures: Vec<f64>,
    /// Minimizer w*.
    pub minimizer: Vec<f64>,
}

impl DiagonalQuadratic {
    /// A quadratic with the given curvatures and its minimum at the origin.
    pub fn centred(curvatures: Vec<f64>) -> Self {
        let d = curvatures.len();
        Self {
            curvatures,
            minimizer: vec![0.0; d],
        }
    }
}

impl Objective for DiagonalQuadratic {
    fn dim(&self) -> usize {
        self.curvatures.len()
    }
    fn loss(&self, w: &[f64]) -> f64 {
        self.curvatures
            .iter()
            .zip(w)
            .zip(&self.minimizer)
            .map(|((h, w), m)| 0.5 * h * (w - m) * (w - m))
            .sum()
    }
    fn gradient(&self, w: &[f64], out: &mut [f64]) {
        for (((o, h), w), m) in out
            .iter_mut()
            .zip(&self.curvatures)
            .zip(w)
            .zip(&self.minimizer)
        {
            *o = h * (w - m);
        }
    }
}

/// f(w) = (1/2) (w - w*)^T H (w - w*) with a dense symmetric H.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseQuadratic {
    /// The Hessian H (symmetric).
    pub hessian: Array2<f64>,
    /// The minimizer w*.
    pub minimizer: Array1<f64>,
}

impl Objective for DenseQuadratic {
    fn dim(&self) -> usize {
        self.minimizer.len()
    }
    fn loss(&self, w: &[f64]) -> f64 {
        let diff: Vec<f64> = w.iter().zip(&self.minimizer).map(|(a, b)| a - b).collect();
        let h_diff = crate::linalg::mat_vec(self.hessian.view(), &diff);
        0.5 * crate::linalg::dot(&diff, &h_diff.to_vec())
    }
    fn gradient(&self, w: &[f64], out: &mut [f64]) {
        let d = self.dim();
        for (i, o) in out.iter_mut().enumerate().take(d) {
            let row = self.hessian.row(i);
            *o = row
                .iter()
                .zip(w)
                .zip(&self.minimizer)
                .map(|((h, w), m)| h * (w - m))
                .sum();
        }
    }
}

/// Least squares on a finite data set: l_i(w) = (1/2)(x_i . w - y_i)^2, L = mean of l_i.
#[derive(Clone, Debug, PartialEq)]
pub struct LeastSquares {
    /// Inputs, one row per sample (N x d).
    pub inputs: Array2<f64>,
    /// Targets (N).
    pub targets: Array1<f64>,
}

impl LeastSquares {
    /// A least-squares problem; rows of `inputs` pair with `targets`.
    ///
    /// # Errors
    /// When the data set is empty or the sizes disagree.
    pub fn new(inputs: Array2<f64>, targets: Array1<f64>) -> Result<Self, SimError> {
        if inputs.nrows() == 0 || inputs.ncols() == 0 {
            return Err(SimError::InvalidInput(
                "least squares needs at least one sample and one feature".into(),
            ));
        }
        if inputs.nrows() != targets.len() {
            return Err(SimError::InvalidInput(format!(
                "{} input rows but {} targets",
                inputs.nrows(),
                targets.len()
            )));
        }
        Ok(Self { inputs, targets })
    }

    /// The residual x_i . w - y_i.
    #[inline]
    pub fn residual(&self, i: usize, w: &[f64]) -> f64 {
        let row = self.inputs.row(i);
        let mut s = 0.0;
        for (x, w) in row.iter().zip(w) {
            s += x * w;
        }
        s - self.targets[i]
    }

    /// The Hessian (1/N) X^T X, summed in sample order.
    pub fn hessian(&self) -> Array2<f64> {
        let n = self.inputs.nrows() as f64;
        crate::linalg::mat_mul(self.inputs.t(), self.inputs.view()) / n
    }

    /// The per-sample gradient g_i(w) as a new vector.
    pub fn sample_gradient(&self, i: usize, w: &[f64]) -> Vec<f64> {
        let mut g = vec![0.0; self.dim()];
        self.add_sample_gradient(i, w, 1.0, &mut g);
        g
    }

    /// Trace of the per-sample gradient covariance, tr(Sigma) = (1/N) sum_i ||g_i - G||^2,
    /// together with the full gradient G; sums run in sample order.
    pub fn gradient_covariance_trace(&self, w: &[f64]) -> (f64, Vec<f64>) {
        let mut full = vec![0.0; self.dim()];
        self.gradient(w, &mut full);
        let mut total = 0.0;
        for i in 0..self.len() {
            let g = self.sample_gradient(i, w);
            total += g
                .iter()
                .zip(&full)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>();
        }
        (total / self.len() as f64, full)
    }
}

impl Objective for LeastSquares {
    fn dim(&self) -> usize {
        self.inputs.ncols()
    }
    fn loss(&self, w: &[f64]) -> f64 {
        let n = self.len();
        (0..n).map(|i| self.sample_loss(i, w)).sum::<f64>() / n as f64
    }
    fn gradient(&self, w: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        let weight = 1.0 / self.len() as f64;
        for i in 0..self.len() {
            self.add_sample_gradient(i, w, weight, out);
        }
    }
}

impl FiniteSum for LeastSquares {
    fn len(&self) -> usize {
        self.inputs.nrows()
    }
    #[inline]
    fn add_sample_gradient(&self, i: usize, w: &[f64], weight: f64, out: &mut [f64]) {
        let r = self.residual(i, w) * weight;
        for (o, x) in out.iter_mut().zip(self.inputs.row(i)) {
            *o += r * x;
        }
    }
    fn sample_loss(&self, i: usize, w: &[f64]) -> f64 {
        let r = self.residual(i, w);
        0.5 * r * r
    }
}

/// Central finite-difference gradient with step `h`, for tests of exact gradients.
pub fn finite_difference_gradient<O: Objective + ?Sized>(
    objective: &O,
    w: &[f64],
    h: f64,
) -> Vec<f64> {
    let mut probe = w.to_vec();
    (0..w.len())
        .map(|i| {
            probe[i] = w[i] + h;
            let up = objective.loss(&probe);
            probe[i] = w[i] - h;
            let down = objective.loss(&probe);
            probe[i] = w[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{LeastSquaresSpec, generate_least_squares};
    use crate::rng::Streams;

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    // Central differences have truncation error O(h^2 f''') and rounding error O(eps f / h);
    // with h = 1e-5 on O(1) losses both are below 1e-8, so 1e-7 is a safe tolerance.
    #[test]
    fn gradients_match_central_differences() {
        let q = DiagonalQuadratic {
            curvatures: vec![0.5, 2.0, 3.0],
            minimizer: vec![1.0, -1.0, 0.5],
        };
        let w = [0.3, 0.2, -0.7];
        let mut g = vec![0.0; 3];
        q.gradient(&w, &mut g);
        assert!(max_abs_diff(&g, &finite_difference_gradient(&q, &w, 1e-5)) < 1e-7);

        let dense = DenseQuadratic {
            hessian: ndarray::arr2(&[[2.0, 0.5], [0.5, 1.0]]),
            minimizer: ndarray::arr1(&[0.1, -0.2]),
        };
        let w = [0.4, 0.9];
        let mut g = vec![0.0; 2];
        dense.gradient(&w, &mut g);
        assert!(max_abs_diff(&g, &finite_difference_gradient(&dense, &w, 1e-5)) < 1e-7);

        let spec = LeastSquaresSpec {
            samples: 50,
            spectrum: vec![1.0, 0.5, 0.25, 0.1],
            label_noise: 0.3,
        };
        let (ls, _) =
            generate_least_squares(&spec, &mut Streams::new(5).stream("data", 0)).unwrap();
        let w = [0.2, -0.4, 0.8, 1.1];
        let mut g = vec![0.0; 4];
        ls.gradient(&w, &mut g);
        assert!(max_abs_diff(&g, &finite_difference_gradient(&ls, &w, 1e-5)) < 1e-7);
    }

    #[test]
    fn batch_of_everything_is_the_full_gradient() {
        let spec = LeastSquaresSpec {
            samples: 20,
            spectrum: vec![1.0, 0.3],
            label_noise: 0.1,
        };
        let (ls, _) =
            generate_least_squares(&spec, &mut Streams::new(1).stream("data", 0)).unwrap();
        let w = [0.5, 0.5];
        let all: Vec<usize> = (0..20).collect();
        let mut gb = vec![0.0; 2];
        let mut g = vec![0.0; 2];
        ls.batch_gradient(&all, &w, &mut gb);
        ls.gradient(&w, &mut g);
        assert!(max_abs_diff(&g, &gb) < 1e-15);
    }

    #[test]
    fn least_squares_rejects_bad_shapes() {
        assert!(LeastSquares::new(Array2::zeros((0, 2)), Array1::zeros(0)).is_err());
        assert!(LeastSquares::new(Array2::zeros((3, 2)), Array1::zeros(2)).is_err());
    }
}
