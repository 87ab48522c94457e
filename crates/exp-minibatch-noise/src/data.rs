//! The shared setup: a least-squares data set and the per-sample gradients at a fixed point.

use claim_spec::ExperimentError;
use sgd_sim::data::{LeastSquaresSpec, generate_least_squares, harmonic_spectrum};
use sgd_sim::rng::Streams;

/// Per-sample gradients g_i (rows), their mean G and tr(Sigma) = (1/N) sum ||g_i - G||^2.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientTable {
    /// N x d per-sample gradients, row-major.
    pub rows: Vec<f64>,
    /// N.
    pub samples: usize,
    /// d.
    pub dim: usize,
    /// The full gradient G.
    pub full: Vec<f64>,
    /// tr(Sigma).
    pub trace_sigma: f64,
    /// Mean squared per-sample norm, (1/N) sum ||g_i||^2 = tr(Sigma) + ||G||^2.
    pub mean_square_norm: f64,
}

impl GradientTable {
    /// Row i.
    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }

    /// Writes the mean of the rows in `batch` into `out` (summed in the order given).
    #[inline]
    pub fn batch_mean(&self, batch: &[usize], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        for &i in batch {
            for (o, g) in out.iter_mut().zip(self.row(i)) {
                *o += g;
            }
        }
        let inv = 1.0 / batch.len() as f64;
        out.iter_mut().for_each(|o| *o *= inv);
    }

    /// ||G||^2.
    pub fn full_norm_sq(&self) -> f64 {
        self.full.iter().map(|g| g * g).sum()
    }
}

/// Generates the data set (input spectrum 1/i, label noise `label_noise`) from the claim's
/// `"data"` stream and tabulates per-sample gradients at w = w* + (1, ..., 1): one unit from the
/// teacher in every coordinate, a point early in training where G is not small.
///
/// # Errors
/// Invalid sizes.
pub fn gradient_table(
    streams: &Streams,
    samples: usize,
    dim: usize,
    label_noise: f64,
) -> Result<GradientTable, ExperimentError> {
    let spec = LeastSquaresSpec {
        samples,
        spectrum: harmonic_spectrum(dim),
        label_noise,
    };
    let (ls, teacher) = generate_least_squares(&spec, &mut streams.stream("data", 0))?;
    let w: Vec<f64> = teacher.iter().map(|t| t + 1.0).collect();
    let mut rows = Vec::with_capacity(samples * dim);
    for i in 0..samples {
        rows.extend(ls.sample_gradient(i, &w));
    }
    let mut table = GradientTable {
        rows,
        samples,
        dim,
        full: vec![0.0; dim],
        trace_sigma: 0.0,
        mean_square_norm: 0.0,
    };
    // G is the batch mean over all indices in index order, computed by the same routine as every
    // minibatch mean, so a without-replacement batch of size N (summed in sorted order) equals G
    // to the last bit.
    let all: Vec<usize> = (0..samples).collect();
    let mut full = vec![0.0; dim];
    table.batch_mean(&all, &mut full);
    let rows = &table.rows;
    let mut trace_sigma = 0.0;
    let mut mean_square_norm = 0.0;
    for i in 0..samples {
        let g = &rows[i * dim..(i + 1) * dim];
        trace_sigma += g
            .iter()
            .zip(&full)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>();
        mean_square_norm += g.iter().map(|a| a * a).sum::<f64>();
    }
    trace_sigma /= samples as f64;
    mean_square_norm /= samples as f64;
    table.full = full;
    table.trace_sigma = trace_sigma;
    table.mean_square_norm = mean_square_norm;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_moment_identity_holds() {
        // (1/N) sum ||g_i||^2 = tr(Sigma) + ||G||^2 exactly; rounding only.
        let t = gradient_table(&Streams::new(3), 200, 5, 0.5).unwrap();
        let lhs = t.mean_square_norm;
        let rhs = t.trace_sigma + t.full_norm_sq();
        assert!((lhs / rhs - 1.0).abs() < 1e-13);
        let mut m = vec![0.0; 5];
        t.batch_mean(&(0..200).collect::<Vec<_>>(), &mut m);
        assert!(m.iter().zip(&t.full).all(|(a, b)| (a - b).abs() < 1e-14));
    }
}
