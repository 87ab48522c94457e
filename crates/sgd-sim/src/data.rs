//! Generated data sets: least squares whose input covariance has a chosen spectrum.

use crate::SimError;
use crate::objective::LeastSquares;
use crate::rng::{Stream, standard_normal};
use ndarray::{Array1, Array2};

/// A least-squares data set x_i ~ N(0, diag(spectrum)), y_i = x_i . w* + noise.
#[derive(Clone, Debug, PartialEq)]
pub struct LeastSquaresSpec {
    /// Number of samples N.
    pub samples: usize,
    /// Eigenvalues of the input covariance, one per feature (so d = spectrum.len()).
    pub spectrum: Vec<f64>,
    /// Standard deviation of the Gaussian label noise (0 gives an interpolating problem).
    pub label_noise: f64,
}

/// Draws a data set from `spec` with teacher w* ~ N(0, I/d); returns the problem and w*.
///
/// Draw order is fixed (teacher, then each row's inputs, then its noise), so a seed gives the same
/// data everywhere.
///
/// # Errors
/// When the spec has no samples or features, or a negative eigenvalue or noise level.
pub fn generate_least_squares(
    spec: &LeastSquaresSpec,
    rng: &mut Stream,
) -> Result<(LeastSquares, Vec<f64>), SimError> {
    let d = spec.spectrum.len();
    let valid = |x: f64| x.is_finite() && x >= 0.0;
    if !spec.spectrum.iter().all(|&s| valid(s)) || !valid(spec.label_noise) {
        return Err(SimError::InvalidInput(
            "spectrum and label noise must be finite and non-negative".into(),
        ));
    }
    if spec.samples == 0 || d == 0 {
        return Err(SimError::InvalidInput(
            "a data set needs samples and features".into(),
        ));
    }
    let scale = 1.0 / (d as f64).sqrt();
    let teacher: Vec<f64> = (0..d).map(|_| standard_normal(rng) * scale).collect();
    let mut inputs = Array2::zeros((spec.samples, d));
    let mut targets = Array1::zeros(spec.samples);
    let root: Vec<f64> = spec.spectrum.iter().map(|s| s.sqrt()).collect();
    for i in 0..spec.samples {
        let mut y = 0.0;
        for j in 0..d {
            let x = standard_normal(rng) * root[j];
            inputs[[i, j]] = x;
            y += x * teacher[j];
        }
        targets[i] = y + spec.label_noise * standard_normal(rng);
    }
    Ok((LeastSquares::new(inputs, targets)?, teacher))
}

/// The spectrum 1, 1/2, ..., 1/d (eigenvalue i proportional to 1/i), used by several claims.
pub fn harmonic_spectrum(d: usize) -> Vec<f64> {
    (1..=d).map(|i| 1.0 / i as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::{FiniteSum, Objective};
    use crate::rng::Streams;

    #[test]
    fn empirical_covariance_matches_spectrum() {
        // Diagonal of X^T X / N estimates the spectrum with relative SE sqrt(2/N) = 0.014 at N = 10^4;
        // 5 SE = 0.07 bounds the deviation.
        let spec = LeastSquaresSpec {
            samples: 10_000,
            spectrum: vec![4.0, 1.0, 0.25],
            label_noise: 0.0,
        };
        let (ls, teacher) =
            generate_least_squares(&spec, &mut Streams::new(9).stream("data", 0)).unwrap();
        let h = ls.hessian();
        for (j, s) in spec.spectrum.iter().enumerate() {
            assert!(
                (h[[j, j]] / s - 1.0).abs() < 0.07,
                "feature {j}: {}",
                h[[j, j]]
            );
        }
        // Without label noise the teacher interpolates: loss zero up to rounding.
        assert!(ls.loss(&teacher) < 1e-28);
        assert_eq!(ls.len(), 10_000);
    }

    #[test]
    fn rejects_bad_specs() {
        let mut r = Streams::new(1).stream("data", 0);
        let bad = LeastSquaresSpec {
            samples: 0,
            spectrum: vec![1.0],
            label_noise: 0.0,
        };
        assert!(generate_least_squares(&bad, &mut r).is_err());
        let bad = LeastSquaresSpec {
            samples: 3,
            spectrum: vec![-1.0],
            label_noise: 0.0,
        };
        assert!(generate_least_squares(&bad, &mut r).is_err());
        let bad = LeastSquaresSpec {
            samples: 3,
            spectrum: vec![1.0],
            label_noise: f64::NAN,
        };
        assert!(generate_least_squares(&bad, &mut r).is_err());
    }
}
