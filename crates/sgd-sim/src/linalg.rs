//! Dense linear algebra for result-producing code: the one boundary to nalgebra (symmetric
//! eigendecomposition, Cholesky and LU solves), the Lyapunov equation, and fixed-order products.
//!
//! Everything here gives the same bits on every machine. nalgebra's decompositions are plain
//! loops with no run-time CPU dispatch (its matrix product would call matrixmultiply's dgemm,
//! which picks AVX or FMA kernels at run time, so it is not used). ndarray's 2-D `dot` is that
//! same dgemm, so products go through [`dot`], [`mat_vec`] and [`mat_mul`], which sum in index
//! order. A tidy test keeps ndarray's `dot` out of result-producing code.

use crate::SimError;
use nalgebra::DMatrix;
use ndarray::{Array1, Array2, ArrayView2};

/// The inner product sum_i a_i b_i, summed in index order.
///
/// # Panics
/// When the lengths differ (a programming error).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(
        a.len(),
        b.len(),
        "dot product of vectors of different lengths"
    );
    a.iter().zip(b).fold(0.0, |s, (x, y)| s + x * y)
}

/// The product A x, each row summed in index order.
///
/// # Panics
/// When the shapes do not match (a programming error).
pub fn mat_vec(a: ArrayView2<'_, f64>, x: &[f64]) -> Array1<f64> {
    assert_eq!(
        a.ncols(),
        x.len(),
        "matrix-vector product of mismatched shapes"
    );
    Array1::from_iter(
        a.rows()
            .into_iter()
            .map(|row| row.iter().zip(x).fold(0.0, |s, (r, v)| s + r * v)),
    )
}

/// The product A B, each entry c_ij = sum_k a_ik b_kj summed in k order.
///
/// # Panics
/// When the shapes do not match (a programming error).
pub fn mat_mul(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    assert_eq!(a.ncols(), b.nrows(), "matrix product of mismatched shapes");
    Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
        (0..a.ncols()).fold(0.0, |s, k| s + a[[i, k]] * b[[k, j]])
    })
}

fn to_nalgebra(a: &Array2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

fn from_nalgebra(m: &DMatrix<f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

fn check_square(a: &Array2<f64>) -> Result<(), SimError> {
    if a.nrows() != a.ncols() || a.nrows() == 0 {
        return Err(SimError::InvalidInput(format!(
            "expected a non-empty square matrix, got {}x{}",
            a.nrows(),
            a.ncols()
        )));
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err(SimError::InvalidInput(
            "matrix has a non-finite entry".into(),
        ));
    }
    Ok(())
}

/// Eigenvalues (ascending) and orthonormal eigenvectors (columns, in the same order) of a
/// symmetric matrix.
///
/// # Errors
/// When the matrix is not square or has non-finite entries.
pub fn symmetric_eigen(a: &Array2<f64>) -> Result<(Array1<f64>, Array2<f64>), SimError> {
    check_square(a)?;
    let eig = to_nalgebra(a).symmetric_eigen();
    let mut order: Vec<usize> = (0..a.nrows()).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[i].total_cmp(&eig.eigenvalues[j]));
    let values = Array1::from_iter(order.iter().map(|&i| eig.eigenvalues[i]));
    let vectors = Array2::from_shape_fn((a.nrows(), a.ncols()), |(r, c)| {
        eig.eigenvectors[(r, order[c])]
    });
    Ok((values, vectors))
}

/// Solves A x = b for symmetric positive definite A by Cholesky.
///
/// # Errors
/// When A is not square, not finite, or not positive definite.
pub fn cholesky_solve(a: &Array2<f64>, b: &Array1<f64>) -> Result<Array1<f64>, SimError> {
    check_square(a)?;
    let chol = to_nalgebra(a)
        .cholesky()
        .ok_or_else(|| SimError::LinearAlgebra("matrix is not positive definite".into()))?;
    let x = chol.solve(&nalgebra::DVector::from_iterator(
        b.len(),
        b.iter().copied(),
    ));
    Ok(Array1::from_iter(x.iter().copied()))
}

/// The inverse of a symmetric positive definite matrix, by Cholesky.
///
/// # Errors
/// When A is not square, not finite, or not positive definite.
pub fn spd_inverse(a: &Array2<f64>) -> Result<Array2<f64>, SimError> {
    check_square(a)?;
    let chol = to_nalgebra(a)
        .cholesky()
        .ok_or_else(|| SimError::LinearAlgebra("matrix is not positive definite".into()))?;
    Ok(from_nalgebra(&chol.inverse()))
}

/// Solves A x = b for a general square A by LU with partial pivoting.
///
/// # Errors
/// When A is not square, not finite, or singular.
pub fn solve(a: &Array2<f64>, b: &Array1<f64>) -> Result<Array1<f64>, SimError> {
    check_square(a)?;
    let x = to_nalgebra(a)
        .lu()
        .solve(&nalgebra::DVector::from_iterator(
            b.len(),
            b.iter().copied(),
        ))
        .ok_or_else(|| SimError::LinearAlgebra("matrix is singular".into()))?;
    Ok(Array1::from_iter(x.iter().copied()))
}

/// Solves the Lyapunov equation H S + S H = C for symmetric H with positive eigenvalues and
/// symmetric C: in H's eigenbasis (H = V diag(l) V^T), S~_ij = C~_ij / (l_i + l_j).
///
/// # Errors
/// When a matrix is malformed or l_i + l_j is not positive.
pub fn solve_lyapunov(h: &Array2<f64>, c: &Array2<f64>) -> Result<Array2<f64>, SimError> {
    check_square(c)?;
    let (l, v) = symmetric_eigen(h)?;
    if l.iter().any(|x| *x <= 0.0) {
        return Err(SimError::LinearAlgebra(
            "Lyapunov solve needs a positive definite H".into(),
        ));
    }
    let ct = mat_mul(mat_mul(v.t(), c.view()).view(), v.view());
    let st = Array2::from_shape_fn(ct.dim(), |(i, j)| ct[[i, j]] / (l[i] + l[j]));
    Ok(mat_mul(mat_mul(v.view(), st.view()).view(), v.t()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};

    #[test]
    fn fixed_order_products_match_their_definitions() {
        let a = arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let b = arr2(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]);
        assert_eq!(
            mat_mul(a.view(), b.view()),
            arr2(&[[4.0, 5.0], [10.0, 11.0]])
        );
        assert_eq!(mat_vec(a.view(), &[1.0, 1.0, 1.0]), arr1(&[6.0, 15.0]));
        // Summed left to right: (1e16 + 1) - 1e16 loses the 1, as index order demands.
        assert_eq!(dot(&[1e16, 1.0, -1e16], &[1.0, 1.0, 1.0]), 0.0);
    }

    #[test]
    fn eigen_of_known_matrix() {
        // [[2,1],[1,2]] has eigenvalues 1 and 3.
        let (l, v) = symmetric_eigen(&arr2(&[[2.0, 1.0], [1.0, 2.0]])).unwrap();
        assert!((l[0] - 1.0).abs() < 1e-14 && (l[1] - 3.0).abs() < 1e-14);
        let vtv = mat_mul(v.t(), v.view());
        assert!((vtv[[0, 1]]).abs() < 1e-14 && (vtv[[0, 0]] - 1.0).abs() < 1e-14);
    }

    #[test]
    fn solves_agree() {
        let a = arr2(&[[4.0, 1.0], [1.0, 3.0]]);
        let b = arr1(&[1.0, 2.0]);
        let x1 = cholesky_solve(&a, &b).unwrap();
        let x2 = solve(&a, &b).unwrap();
        // Exact solution: (1/11, 7/11).
        assert!((x1[0] - 1.0 / 11.0).abs() < 1e-15 && (x1[1] - 7.0 / 11.0).abs() < 1e-15);
        assert!((&x1 - &x2).iter().all(|d| d.abs() < 1e-15));
        let inv = spd_inverse(&a).unwrap();
        let id = mat_mul(a.view(), inv.view());
        assert!((id[[0, 0]] - 1.0).abs() < 1e-14 && id[[0, 1]].abs() < 1e-14);
        assert!(cholesky_solve(&arr2(&[[1.0, 2.0], [2.0, 1.0]]), &b).is_err());
        assert!(symmetric_eigen(&arr2(&[[1.0, 2.0]])).is_err());
    }

    #[test]
    fn lyapunov_residual_vanishes() {
        let h = arr2(&[[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]]);
        let c = arr2(&[[1.0, 0.2, 0.0], [0.2, 2.0, 0.0], [0.0, 0.0, 0.5]]);
        let s = solve_lyapunov(&h, &c).unwrap();
        let resid = mat_mul(h.view(), s.view()) + mat_mul(s.view(), h.view()) - &c;
        assert!(resid.iter().all(|r| r.abs() < 1e-13));
        // Diagonal H: S_ii = C_ii / (2 h_i).
        let s = solve_lyapunov(
            &arr2(&[[2.0, 0.0], [0.0, 0.5]]),
            &arr2(&[[1.0, 0.0], [0.0, 1.0]]),
        )
        .unwrap();
        assert!((s[[0, 0]] - 0.25).abs() < 1e-15 && (s[[1, 1]] - 1.0).abs() < 1e-15);
    }
}
