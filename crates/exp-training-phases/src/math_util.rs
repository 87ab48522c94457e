//! Small dense helpers in plain loops: log-determinants and orthonormal bases. Products go through
//! `sgd_sim::linalg`, which sums in index order (ndarray's matrix product picks CPU kernels at run
//! time, so results could differ between machines in the last bits).

use claim_spec::ExperimentError;
use ndarray::Array2;
use sgd_sim::linalg::symmetric_eigen;
use sgd_sim::math::ln;
use sgd_sim::rng::{Stream, standard_normal};

/// ln det A of a symmetric positive definite matrix, as the sum of the logs of its eigenvalues.
///
/// # Errors
/// When A is malformed or has an eigenvalue that is not positive.
pub fn ln_det_spd(a: &Array2<f64>) -> Result<f64, ExperimentError> {
    let (l, _) = symmetric_eigen(a)?;
    if l.iter().any(|x| x.is_nan() || *x <= 0.0) {
        return Err(ExperimentError::Numerical(
            "log-determinant of a matrix that is not positive definite".into(),
        ));
    }
    Ok(l.iter().map(|x| ln(*x)).sum())
}

/// Orthonormalizes the rows of `m` in place by modified Gram–Schmidt, applied twice (Giraud et al.
/// 2005: "twice is enough" for orthogonality to working precision).
///
/// # Errors
/// When the rows are linearly dependent to working precision.
pub fn orthonormalize_rows(m: &mut Array2<f64>) -> Result<(), ExperimentError> {
    let (rows, cols) = m.dim();
    for _pass in 0..2 {
        for i in 0..rows {
            for j in 0..i {
                let proj: f64 = (0..cols).map(|k| m[[i, k]] * m[[j, k]]).sum();
                for k in 0..cols {
                    m[[i, k]] -= proj * m[[j, k]];
                }
            }
            let norm = (0..cols).map(|k| m[[i, k]] * m[[i, k]]).sum::<f64>().sqrt();
            if norm.is_nan() || norm <= 1e-10 {
                return Err(ExperimentError::Numerical(format!(
                    "rows are linearly dependent (row {i})"
                )));
            }
            for k in 0..cols {
                m[[i, k]] /= norm;
            }
        }
    }
    Ok(())
}

/// A random d x d orthogonal matrix: Gram–Schmidt on a matrix of standard normal entries (its
/// rows are then uniformly distributed on the orthogonal group; Mezzadri 2007).
///
/// # Errors
/// When Gram–Schmidt fails (probability zero).
pub fn random_orthogonal(d: usize, rng: &mut Stream) -> Result<Array2<f64>, ExperimentError> {
    let mut m = Array2::from_shape_fn((d, d), |_| standard_normal(rng));
    orthonormalize_rows(&mut m)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;
    use sgd_sim::rng::Streams;

    #[test]
    // The reference is computed independently, with the platform's float functions.
    #[allow(clippy::disallowed_methods)]
    fn ln_det_of_a_known_matrix() {
        // det [[2, 1], [1, 2]] = 3; rounding only.
        let v = ln_det_spd(&arr2(&[[2.0, 1.0], [1.0, 2.0]])).unwrap();
        assert!((v - 3f64.ln()).abs() < 1e-14);
        assert!(ln_det_spd(&arr2(&[[1.0, 2.0], [2.0, 1.0]])).is_err());
    }

    #[test]
    fn random_orthogonal_is_orthogonal() {
        let q = random_orthogonal(8, &mut Streams::new(3).stream("q", 0)).unwrap();
        let qqt = sgd_sim::linalg::mat_mul(q.view(), q.t());
        for i in 0..8 {
            for j in 0..8 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((qqt[[i, j]] - want).abs() < 1e-14);
            }
        }
        let mut dependent = arr2(&[[1.0, 2.0], [2.0, 4.0]]);
        assert!(orthonormalize_rows(&mut dependent).is_err());
    }
}
