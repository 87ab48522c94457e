//! The stationary covariance of a linear stochastic recursion e' = B e + xi, Cov(xi) = Q: the discrete
//! Lyapunov (Stein) equation S = B S B^T + Q, solved as the linear system
//! (I - B (x) B) vec(S) = vec(Q) (e.g. Anderson and Moore, *Optimal Filtering*, 1979, sec. 4.3).
//! Small sizes only: the system has d^2 unknowns.
//!
//! For SGD on a quadratic with Hessian H, preconditioner P and step eta, B = I - eta P H and
//! Q = (eta^2 / b) P C P; as eta -> 0, S / eta tends to the solution of the continuous Lyapunov
//! equation (P H) S + S (P H)^T = (1/b) P C P (Mandt, Hoffman and Blei 2017), with relative
//! corrections O(eta P H).

use claim_spec::ExperimentError;
use ndarray::{Array1, Array2};
use sgd_sim::linalg::solve;

/// Solves S = B S B^T + Q for the stationary covariance S (B stable: spectral radius below 1).
///
/// # Errors
/// When the shapes disagree or I - B (x) B is singular (B not stable).
pub fn discrete_lyapunov(b: &Array2<f64>, q: &Array2<f64>) -> Result<Array2<f64>, ExperimentError> {
    let d = b.nrows();
    if b.dim() != (d, d) || q.dim() != (d, d) {
        return Err(ExperimentError::InvalidParams(format!(
            "discrete Lyapunov needs square matrices of one size, got {:?} and {:?}",
            b.dim(),
            q.dim()
        )));
    }
    // Row-major vec: S_ij at i d + j; (B S B^T)_ij = sum_kl B_ik B_jl S_kl.
    let n = d * d;
    let mut system = Array2::<f64>::zeros((n, n));
    for i in 0..d {
        for j in 0..d {
            let row = i * d + j;
            system[[row, row]] += 1.0;
            for k in 0..d {
                for l in 0..d {
                    system[[row, k * d + l]] -= b[[i, k]] * b[[j, l]];
                }
            }
        }
    }
    let rhs = Array1::from_iter(q.iter().copied());
    let x = solve(&system, &rhs)?;
    let mut s = Array2::from_shape_fn((d, d), |(i, j)| x[i * d + j]);
    // Symmetrize away rounding.
    for i in 0..d {
        for j in i + 1..d {
            let m = 0.5 * (s[[i, j]] + s[[j, i]]);
            s[[i, j]] = m;
            s[[j, i]] = m;
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;
    use sgd_sim::linalg::{mat_mul, solve_lyapunov};

    #[test]
    fn scalar_case_is_q_over_one_minus_b_squared() {
        let s = discrete_lyapunov(&arr2(&[[0.6]]), &arr2(&[[2.0]])).unwrap();
        assert!((s[[0, 0]] - 2.0 / (1.0 - 0.36)).abs() < 1e-14);
    }

    #[test]
    fn residual_vanishes_for_a_non_symmetric_b() {
        let b = arr2(&[[0.5, 0.2], [-0.1, 0.7]]);
        let q = arr2(&[[1.0, 0.3], [0.3, 0.5]]);
        let s = discrete_lyapunov(&b, &q).unwrap();
        let bsbt = mat_mul(mat_mul(b.view(), s.view()).view(), b.t());
        for i in 0..2 {
            for j in 0..2 {
                assert!((s[[i, j]] - bsbt[[i, j]] - q[[i, j]]).abs() < 1e-13);
            }
        }
    }

    #[test]
    fn small_steps_approach_the_continuous_lyapunov_solution() {
        // B = I - eta H, Q = eta^2 C: S / eta -> X with H X + X H = C; relative gap O(eta h_max).
        let h = arr2(&[[2.0, 0.4], [0.4, 1.0]]);
        let c = arr2(&[[1.0, 0.1], [0.1, 0.6]]);
        let x = solve_lyapunov(&h, &c).unwrap();
        for eta in [1e-3, 1e-4] {
            let b = Array2::eye(2) - &h * eta;
            let s = discrete_lyapunov(&b, &(&c * (eta * eta))).unwrap() / eta;
            let gap = (&s - &x).iter().map(|v| v.abs()).fold(0.0, f64::max) / x[[0, 0]];
            assert!(gap < 3.0 * eta * 2.2, "eta {eta}: gap {gap}");
        }
        assert!(discrete_lyapunov(&arr2(&[[1.0]]), &arr2(&[[1.0]])).is_err());
    }
}
