//! One minibatch SGD step of a fixed least-squares model: the step that the `minibatch_step`
//! benchmark times and the claim `batch-size-tradeoffs` measures.
//!
//! The model is linear least squares, l_j(w) = (x_j . w - y_j)^2 / 2, with N examples of d features
//! stored row by row. A step draws b indices with replacement, computes the residuals
//! r_j = x_j . w - y_j of the batch, the gradient g = (1/b) sum_j r_j x_j, and sets w <- w - eta g.
//!
//! Each residual is summed over features in index order, so a batch's gradient does not depend on
//! how the kernel groups examples. The kernel computes four residuals side by side: their sums are
//! independent chains of additions, which the core overlaps; a single example is one chain, each
//! addition waiting for the previous one. That, with the per-step costs (the update of w, clearing
//! g, drawing indices) spread over b examples, is what a batch buys on one core.

use claim_spec::ExperimentError;
use sgd_sim::data::{LeastSquaresSpec, generate_least_squares, harmonic_spectrum};
use sgd_sim::rng::{Stream, Streams, uniform_index};

/// Examples whose residuals the kernel computes together.
pub const RESIDUAL_BLOCK: usize = 4;

/// A least-squares data set stored row-major for the step kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct LeastSquaresModel {
    /// N x d inputs, row-major.
    pub inputs: Vec<f64>,
    /// N targets.
    pub targets: Vec<f64>,
    /// N.
    pub samples: usize,
    /// d, the number of parameters.
    pub dim: usize,
}

impl LeastSquaresModel {
    /// Generates the data set from the `"data"` stream: inputs N(0, diag(1, 1/2, ..., 1/d)), labels
    /// from a teacher w* ~ N(0, I/d) plus N(0, label_noise^2) noise (`sgd_sim::data`). Returns the
    /// model and the teacher.
    ///
    /// # Errors
    /// When N or d is zero or the noise level is negative or not finite.
    pub fn generate(
        streams: &Streams,
        samples: usize,
        dim: usize,
        label_noise: f64,
    ) -> Result<(Self, Vec<f64>), ExperimentError> {
        let spec = LeastSquaresSpec {
            samples,
            spectrum: harmonic_spectrum(dim),
            label_noise,
        };
        let (ls, teacher) = generate_least_squares(&spec, &mut streams.stream("data", 0))?;
        let inputs: Vec<f64> = ls.inputs.iter().copied().collect();
        let targets: Vec<f64> = ls.targets.iter().copied().collect();
        Ok((
            Self {
                inputs,
                targets,
                samples,
                dim,
            },
            teacher,
        ))
    }

    /// Row j of the inputs.
    #[inline]
    pub fn row(&self, j: usize) -> &[f64] {
        &self.inputs[j * self.dim..(j + 1) * self.dim]
    }

    /// The residual x_j . w - y_j, summed over features in index order.
    #[inline]
    pub fn residual(&self, j: usize, w: &[f64]) -> f64 {
        let mut acc = 0.0;
        for (x, wf) in self.row(j).iter().zip(w) {
            acc += x * wf;
        }
        acc - self.targets[j]
    }

    /// Writes the residuals of `batch` into `residuals[..batch.len()]`, four examples side by side;
    /// each equals [`Self::residual`] bit for bit.
    ///
    /// # Panics
    /// When `residuals` is shorter than the batch or `w` is not of length d.
    pub fn batch_residuals(&self, w: &[f64], batch: &[usize], residuals: &mut [f64]) {
        assert!(residuals.len() >= batch.len() && w.len() == self.dim);
        let blocks = batch.len() / RESIDUAL_BLOCK;
        for (block, out) in batch
            .chunks_exact(RESIDUAL_BLOCK)
            .zip(residuals.chunks_exact_mut(RESIDUAL_BLOCK))
        {
            let (r0, r1, r2, r3) = (
                self.row(block[0]),
                self.row(block[1]),
                self.row(block[2]),
                self.row(block[3]),
            );
            let mut acc = [0.0f64; RESIDUAL_BLOCK];
            for ((((a, b), c), e), wf) in r0.iter().zip(r1).zip(r2).zip(r3).zip(w) {
                acc[0] += a * wf;
                acc[1] += b * wf;
                acc[2] += c * wf;
                acc[3] += e * wf;
            }
            for l in 0..RESIDUAL_BLOCK {
                out[l] = acc[l] - self.targets[block[l]];
            }
        }
        for k in blocks * RESIDUAL_BLOCK..batch.len() {
            residuals[k] = self.residual(batch[k], w);
        }
    }

    /// Writes the minibatch gradient (1/b) sum_j r_j x_j of `batch` into `gradient`, accumulated in
    /// batch order, using `residuals` as scratch.
    ///
    /// # Panics
    /// When a buffer is too short or the batch is empty.
    pub fn batch_gradient(
        &self,
        w: &[f64],
        batch: &[usize],
        residuals: &mut [f64],
        gradient: &mut [f64],
    ) {
        assert!(!batch.is_empty() && gradient.len() == self.dim);
        self.batch_residuals(w, batch, residuals);
        gradient.iter_mut().for_each(|g| *g = 0.0);
        for (&j, &r) in batch.iter().zip(residuals.iter()) {
            for (g, x) in gradient.iter_mut().zip(self.row(j)) {
                *g += r * x;
            }
        }
        let inv = 1.0 / batch.len() as f64;
        gradient.iter_mut().for_each(|g| *g *= inv);
    }

    /// The full gradient (1/N) sum_j r_j x_j and the trace of the per-example gradient covariance
    /// tr(Sigma) = (1/N) sum_j ||r_j x_j - G||^2 (sums in index order).
    pub fn gradient_statistics(&self, w: &[f64]) -> (Vec<f64>, f64) {
        let mut full = vec![0.0; self.dim];
        let residuals: Vec<f64> = (0..self.samples).map(|j| self.residual(j, w)).collect();
        for (j, r) in residuals.iter().enumerate() {
            for (g, x) in full.iter_mut().zip(self.row(j)) {
                *g += r * x;
            }
        }
        let n = self.samples as f64;
        full.iter_mut().for_each(|g| *g /= n);
        let trace = residuals
            .iter()
            .enumerate()
            .map(|(j, r)| {
                self.row(j)
                    .iter()
                    .zip(&full)
                    .map(|(x, g)| (r * x - g) * (r * x - g))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / n;
        (full, trace)
    }
}

/// The buffers of one step at batch size b, allocated once and reused.
#[derive(Clone, Debug, PartialEq)]
pub struct StepWorkspace {
    /// The batch's indices.
    pub batch: Vec<usize>,
    /// The batch's residuals.
    pub residuals: Vec<f64>,
    /// The minibatch gradient.
    pub gradient: Vec<f64>,
}

impl StepWorkspace {
    /// Buffers for batch size `batch` and d = `dim`.
    pub fn new(batch: usize, dim: usize) -> Self {
        Self {
            batch: vec![0; batch],
            residuals: vec![0.0; batch],
            gradient: vec![0.0; dim],
        }
    }

    /// Draws the batch: b independent uniform indices (with replacement).
    #[inline]
    pub fn draw_batch(&mut self, samples: usize, rng: &mut Stream) {
        for j in self.batch.iter_mut() {
            *j = uniform_index(rng, samples);
        }
    }

    /// Bytes one step reads or writes: the b input rows and targets it reads, its indices and
    /// residuals, the gradient, and the weights, b (8 (d + 1) + 16) + 16 d on a 64-bit machine.
    pub fn working_set_bytes(&self, dim: usize) -> usize {
        let f = std::mem::size_of::<f64>();
        let rows_read = self.batch.len() * (dim + 1) * f;
        let indices = self.batch.len() * std::mem::size_of::<usize>();
        let residuals = self.residuals.len() * f;
        let gradient = self.gradient.len() * f;
        let weights = dim * f;
        rows_read + indices + residuals + gradient + weights
    }
}

/// One SGD step: draw a batch, compute its gradient, w <- w - eta g.
///
/// # Panics
/// When `w` or the workspace do not match the model's dimension.
#[inline]
pub fn sgd_step(
    model: &LeastSquaresModel,
    w: &mut [f64],
    eta: f64,
    workspace: &mut StepWorkspace,
    rng: &mut Stream,
) {
    workspace.draw_batch(model.samples, rng);
    model.batch_gradient(
        w,
        &workspace.batch,
        &mut workspace.residuals,
        &mut workspace.gradient,
    );
    for (wf, g) in w.iter_mut().zip(&workspace.gradient) {
        *wf -= eta * g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::objective::{FiniteSum, Objective};

    fn model() -> (LeastSquaresModel, Vec<f64>) {
        LeastSquaresModel::generate(&Streams::new(4), 37, 9, 0.3).unwrap()
    }

    #[test]
    fn blocked_residuals_equal_the_scalar_ones_bit_for_bit() {
        let (m, teacher) = model();
        let w: Vec<f64> = teacher.iter().map(|t| t + 0.7).collect();
        let batch: Vec<usize> = (0..23).map(|k| (k * 7) % 37).collect();
        let mut res = vec![0.0; 23];
        m.batch_residuals(&w, &batch, &mut res);
        for (k, &j) in batch.iter().enumerate() {
            assert_eq!(res[k].to_bits(), m.residual(j, &w).to_bits());
        }
    }

    #[test]
    fn batch_gradient_matches_the_core_least_squares() {
        // Against sgd-sim's LeastSquares (an independent implementation on ndarray): the mean of
        // per-sample gradients over the batch, to rounding (1e-13 relative).
        let streams = Streams::new(4);
        let spec = LeastSquaresSpec {
            samples: 37,
            spectrum: harmonic_spectrum(9),
            label_noise: 0.3,
        };
        let (ls, teacher) = generate_least_squares(&spec, &mut streams.stream("data", 0)).unwrap();
        let (m, _) = model();
        let w: Vec<f64> = teacher.iter().map(|t| t - 0.4).collect();
        let batch = [3usize, 3, 36, 0, 12, 7];
        let mut res = vec![0.0; 6];
        let mut g = vec![0.0; 9];
        m.batch_gradient(&w, &batch, &mut res, &mut g);
        let mut expected = vec![0.0; 9];
        for &j in &batch {
            ls.add_sample_gradient(j, &w, 1.0 / 6.0, &mut expected);
        }
        for (a, b) in g.iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-13 * b.abs().max(1e-3), "{a} vs {b}");
        }
        // Full gradient and tr(Sigma) against the core's.
        let (full, trace) = m.gradient_statistics(&w);
        let (core_trace, core_full) = ls.gradient_covariance_trace(&w);
        assert!((trace / core_trace - 1.0).abs() < 1e-12);
        for (a, b) in full.iter().zip(&core_full) {
            assert!((a - b).abs() < 1e-13);
        }
        assert!(ls.loss(&w) > 0.0);
    }

    #[test]
    fn sgd_step_moves_against_the_gradient() {
        let (m, teacher) = model();
        let mut w: Vec<f64> = teacher.iter().map(|t| t + 1.0).collect();
        let before = w.clone();
        let mut ws = StepWorkspace::new(5, m.dim);
        let mut rng = Streams::new(1).stream("t", 0);
        sgd_step(&m, &mut w, 0.1, &mut ws, &mut rng);
        for ((a, b), g) in w.iter().zip(&before).zip(&ws.gradient) {
            assert!((a - (b - 0.1 * g)).abs() < 1e-15);
        }
    }

    #[test]
    fn working_set_is_affine_in_b() {
        let (m, _) = model();
        let bytes = |b: usize| StepWorkspace::new(b, m.dim).working_set_bytes(m.dim);
        assert_eq!(bytes(1), 8 * (9 + 1) + 16 + 16 * 9);
        assert_eq!(bytes(64) - bytes(32), 32 * (8 * 10 + 16));
    }
}
