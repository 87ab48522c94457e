//! The top eigenvalue of a symmetric operator given only by its products u -> A u: Lanczos with
//! full reorthogonalization (Golub and Van Loan, *Matrix Computations*, 4th ed., 10.1 and 10.3.1),
//! and power iteration as an independent check.

use ndarray::Array2;
use sgd_sim::SimError;
use sgd_sim::linalg::{dot, symmetric_eigen};

/// An eigenvalue estimate and how it was reached.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopEigen {
    /// The estimate.
    pub value: f64,
    /// Operator products used.
    pub products: usize,
    /// For Lanczos, the residual norm ||A y - theta y|| of the Ritz pair (beta_k |s_k|); for power
    /// iteration, the last relative change of the Rayleigh quotient.
    pub residual: f64,
}

fn normalize(v: &mut [f64]) -> f64 {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    n
}

/// The largest (algebraic) eigenvalue by Lanczos from `start`, stopping when the Ritz residual is
/// below `tol` times the Ritz value, the Krylov space is exhausted, or after `max_products`.
///
/// # Errors
/// A zero or non-finite start vector, or a failed tridiagonal eigensolve.
pub fn lanczos_top(
    apply: impl Fn(&[f64], &mut [f64]),
    start: &[f64],
    max_products: usize,
    tol: f64,
) -> Result<TopEigen, SimError> {
    let n = start.len();
    let mut q = start.to_vec();
    let norm = normalize(&mut q);
    if norm.is_nan() || norm <= 0.0 || q.iter().any(|x| !x.is_finite()) {
        return Err(SimError::InvalidInput(
            "Lanczos needs a non-zero finite start vector".into(),
        ));
    }
    let mut basis: Vec<Vec<f64>> = vec![q];
    let mut alphas: Vec<f64> = Vec::new();
    let mut betas: Vec<f64> = Vec::new();
    let mut w = vec![0.0; n];
    let mut best = TopEigen {
        value: f64::NAN,
        products: 0,
        residual: f64::INFINITY,
    };
    for k in 0..max_products.min(n) {
        apply(&basis[k], &mut w);
        let alpha = dot(&basis[k], &w);
        alphas.push(alpha);
        // Full reorthogonalization, twice ("twice is enough", Parlett 1980): removes the alpha and
        // beta terms and every loss of orthogonality.
        for _ in 0..2 {
            for qj in &basis {
                let c = dot(qj, &w);
                w.iter_mut().zip(qj).for_each(|(x, y)| *x -= c * y);
            }
        }
        let beta = dot(&w, &w).sqrt();
        let m = k + 1;
        let t = Array2::from_shape_fn((m, m), |(i, j)| {
            if i == j {
                alphas[i]
            } else if i + 1 == j {
                betas[i]
            } else if j + 1 == i {
                betas[j]
            } else {
                0.0
            }
        });
        let (values, vectors) = symmetric_eigen(&t)?;
        let theta = values[m - 1];
        let residual = beta * vectors[[m - 1, m - 1]].abs();
        best = TopEigen {
            value: theta,
            products: m,
            residual,
        };
        if residual <= tol * theta.abs() || beta <= 1e-14 * theta.abs().max(1e-300) {
            break;
        }
        betas.push(beta);
        let next: Vec<f64> = w.iter().map(|x| x / beta).collect();
        basis.push(next);
    }
    Ok(best)
}

/// The eigenvalue of largest magnitude by power iteration from `start` (Rayleigh quotient),
/// stopping when it changes by less than `tol` relative between iterations or after
/// `max_products`.
///
/// # Errors
/// A zero or non-finite start vector.
pub fn power_top(
    apply: impl Fn(&[f64], &mut [f64]),
    start: &[f64],
    max_products: usize,
    tol: f64,
) -> Result<TopEigen, SimError> {
    let mut v = start.to_vec();
    let norm = normalize(&mut v);
    if norm.is_nan() || norm <= 0.0 || v.iter().any(|x| !x.is_finite()) {
        return Err(SimError::InvalidInput(
            "power iteration needs a non-zero finite start vector".into(),
        ));
    }
    let mut w = vec![0.0; v.len()];
    let mut previous = f64::NAN;
    let mut out = TopEigen {
        value: f64::NAN,
        products: 0,
        residual: f64::INFINITY,
    };
    for k in 0..max_products {
        apply(&v, &mut w);
        let rayleigh = dot(&v, &w);
        let change = ((rayleigh - previous) / rayleigh).abs();
        out = TopEigen {
            value: rayleigh,
            products: k + 1,
            residual: change,
        };
        if change <= tol {
            break;
        }
        previous = rayleigh;
        v.copy_from_slice(&w);
        let norm = normalize(&mut v);
        if norm.is_nan() || norm <= 0.0 {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::{Streams, standard_normal};

    /// A symmetric matrix with the given eigenvalues and a random orthonormal basis.
    fn matrix_with_spectrum(values: &[f64], seed: u64) -> Array2<f64> {
        let n = values.len();
        let mut r = Streams::new(seed).stream("m", 0);
        let g = Array2::from_shape_fn((n, n), |_| standard_normal(&mut r));
        let s = &g + &g.t();
        let (_, q) = symmetric_eigen(&s).unwrap();
        Array2::from_shape_fn((n, n), |(i, j)| {
            (0..n).map(|k| q[[i, k]] * values[k] * q[[j, k]]).sum()
        })
    }

    #[test]
    fn lanczos_and_power_find_a_known_top_eigenvalue() {
        // Spectrum 1/k^2-like with a top value 5 and a gap to 3: Lanczos converges to 1e-10
        // relative in far fewer products than the dimension; power iteration's Rayleigh quotient
        // error falls as (3/5)^(2k), below 1e-9 after 25 products.
        let mut values: Vec<f64> = (1..=60).map(|k| 3.0 / f64::from(k * k)).collect();
        values[0] = 5.0;
        values[1] = -0.5;
        let a = matrix_with_spectrum(&values, 3);
        let apply = |u: &[f64], out: &mut [f64]| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = (0..u.len()).map(|j| a[[i, j]] * u[j]).sum();
            }
        };
        let mut r = Streams::new(4).stream("s", 0);
        let start: Vec<f64> = (0..60).map(|_| standard_normal(&mut r)).collect();
        let l = lanczos_top(apply, &start, 60, 1e-12).unwrap();
        assert!((l.value - 5.0).abs() < 1e-10, "{l:?}");
        assert!(l.products < 40, "{l:?}");
        let p = power_top(apply, &start, 500, 1e-14).unwrap();
        assert!((p.value - 5.0).abs() < 1e-8, "{p:?}");
    }
}
