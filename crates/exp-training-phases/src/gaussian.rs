//! Multivariate Gaussians: the Kullback–Leibler divergence between two of them, and the points of a
//! two-dimensional covariance ellipse for figures.
//!
//! KL(N(m_q, S_q) || N(m_p, S_p)) = (1/2) [ tr(S_p^-1 S_q) + (m_p - m_q)^T S_p^-1 (m_p - m_q) - d
//!                                          + ln det S_p - ln det S_q ]
//! (Kullback 1959; e.g. Pardo, *Statistical Inference Based on Divergence Measures*, 2006, p. 45).

use crate::math_util::ln_det_spd;
use claim_spec::ExperimentError;
use ndarray::{Array1, Array2};
use sgd_sim::linalg::{dot, mat_vec, spd_inverse, symmetric_eigen};
use sgd_sim::math::{cos, sin};

/// KL(q || p) for Gaussians q = N(mean_q, cov_q) and p = N(mean_p, cov_p).
///
/// # Errors
/// When the shapes disagree or a covariance is not positive definite.
pub fn kl_divergence(
    mean_q: &Array1<f64>,
    cov_q: &Array2<f64>,
    mean_p: &Array1<f64>,
    cov_p: &Array2<f64>,
) -> Result<f64, ExperimentError> {
    let d = mean_q.len();
    if mean_p.len() != d || cov_q.dim() != (d, d) || cov_p.dim() != (d, d) {
        return Err(ExperimentError::InvalidParams(format!(
            "KL between Gaussians of different dimensions ({d}, {}, {:?}, {:?})",
            mean_p.len(),
            cov_q.dim(),
            cov_p.dim()
        )));
    }
    let p_inv = spd_inverse(cov_p)?;
    let trace: f64 = (0..d)
        .map(|i| (0..d).map(|k| p_inv[[i, k]] * cov_q[[k, i]]).sum::<f64>())
        .sum();
    let diff = mean_p - mean_q;
    let diff = diff.to_vec();
    let mahalanobis = dot(&diff, &mat_vec(p_inv.view(), &diff).to_vec());
    let kl = 0.5 * (trace + mahalanobis - d as f64 + ln_det_spd(cov_p)? - ln_det_spd(cov_q)?);
    // KL >= 0; rounding can leave a tiny negative value when q = p.
    Ok(kl.max(0.0))
}

/// `points` points (closing the curve) of the ellipse {x : (x - centre)^T cov^-1 (x - centre) = radius^2}
/// of a 2x2 covariance: centre + radius * V diag(sqrt(l)) (cos a, sin a).
///
/// # Errors
/// When `cov` is not a 2x2 positive semi-definite matrix.
pub fn ellipse_points(
    centre: [f64; 2],
    cov: &Array2<f64>,
    radius: f64,
    points: usize,
) -> Result<Vec<(f64, f64)>, ExperimentError> {
    if cov.dim() != (2, 2) {
        return Err(ExperimentError::InvalidParams(format!(
            "an ellipse needs a 2x2 covariance, got {:?}",
            cov.dim()
        )));
    }
    let (l, v) = symmetric_eigen(cov)?;
    if l.iter().any(|x| *x < 0.0) {
        return Err(ExperimentError::Numerical(
            "covariance has a negative eigenvalue".into(),
        ));
    }
    let (r0, r1) = (radius * l[0].sqrt(), radius * l[1].sqrt());
    Ok((0..=points)
        .map(|k| {
            let a = 2.0 * std::f64::consts::PI * k as f64 / points as f64;
            let (c, s) = (r0 * cos(a), r1 * sin(a));
            (
                centre[0] + v[[0, 0]] * c + v[[0, 1]] * s,
                centre[1] + v[[1, 0]] * c + v[[1, 1]] * s,
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2};
    use sgd_sim::rng::{Streams, standard_normal};

    #[test]
    fn kl_of_identical_gaussians_is_zero() {
        let m = arr1(&[0.3, -1.0]);
        let s = arr2(&[[2.0, 0.4], [0.4, 1.0]]);
        assert!(kl_divergence(&m, &s, &m, &s).unwrap() < 1e-15);
    }

    #[test]
    // The reference is computed independently, with the platform's float functions.
    #[allow(clippy::disallowed_methods)]
    fn kl_matches_the_one_dimensional_closed_form() {
        // KL(N(a, s^2) || N(b, t^2)) = ln(t/s) + (s^2 + (a-b)^2)/(2 t^2) - 1/2; rounding only.
        let (a, s, b, t) = (0.5_f64, 0.7_f64, -0.2_f64, 1.3_f64);
        let want = (t / s).ln() + (s * s + (a - b) * (a - b)) / (2.0 * t * t) - 0.5;
        let got = kl_divergence(
            &arr1(&[a]),
            &arr2(&[[s * s]]),
            &arr1(&[b]),
            &arr2(&[[t * t]]),
        )
        .unwrap();
        assert!((got - want).abs() < 1e-14, "{got} vs {want}");
    }

    #[test]
    // The reference is computed independently, with the platform's float functions.
    #[allow(clippy::disallowed_methods)]
    fn kl_of_a_scaled_covariance() {
        // KL(N(0, a S) || N(0, S)) = (d/2)(a - 1 - ln a) for any S: the shape matches, only the size
        // differs. Rounding only.
        let s = arr2(&[[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 2.0]]);
        let z = arr1(&[0.0, 0.0, 0.0]);
        for a in [0.5_f64, 1.2, 3.0] {
            let got = kl_divergence(&z, &(&s * a), &z, &s).unwrap();
            let want = 1.5 * (a - 1.0 - a.ln());
            assert!((got - want).abs() < 1e-13, "a = {a}: {got} vs {want}");
        }
    }

    /// d^T A d, in index order.
    fn quadratic_form(d: &Array1<f64>, a: &Array2<f64>) -> f64 {
        let d = d.to_vec();
        dot(&d, &mat_vec(a.view(), &d).to_vec())
    }

    #[test]
    fn kl_matches_a_monte_carlo_estimate() {
        // KL(q || p) = E_q[ln q(x) - ln p(x)], estimated from 200,000 draws of q; the estimate's SE
        // is computed from the draws, and the closed form must lie within 5 SE.
        let mq = arr1(&[0.2, -0.1]);
        let sq = arr2(&[[0.5, 0.2], [0.2, 0.4]]);
        let mp = arr1(&[0.0, 0.3]);
        let sp = arr2(&[[1.0, -0.3], [-0.3, 0.8]]);
        let closed = kl_divergence(&mq, &sq, &mp, &sp).unwrap();
        let log_density = |x: &Array1<f64>, m: &Array1<f64>, s: &Array2<f64>| {
            let inv = spd_inverse(s).unwrap();
            let d = x - m;
            -0.5 * quadratic_form(&d, &inv) - 0.5 * ln_det_spd(s).unwrap()
        };
        // Cholesky factor of sq by hand: [[a, 0], [b, c]].
        let a = sq[[0, 0]].sqrt();
        let b = sq[[1, 0]] / a;
        let c = (sq[[1, 1]] - b * b).sqrt();
        let mut rng = Streams::new(11).stream("kl-mc", 0);
        let n = 200_000;
        let values: Vec<f64> = (0..n)
            .map(|_| {
                let (z0, z1) = (standard_normal(&mut rng), standard_normal(&mut rng));
                let x = arr1(&[mq[0] + a * z0, mq[1] + b * z0 + c * z1]);
                log_density(&x, &mq, &sq) - log_density(&x, &mp, &sp)
            })
            .collect();
        let e = sgd_sim::stats::mean_estimate(&values);
        assert!(
            (e.value - closed).abs() < 5.0 * e.se,
            "MC {} +- {} vs closed {closed}",
            e.value,
            e.se
        );
    }

    #[test]
    fn kl_rejects_bad_inputs() {
        let m = arr1(&[0.0, 0.0]);
        let s = arr2(&[[1.0, 0.0], [0.0, 1.0]]);
        let not_pd = arr2(&[[1.0, 2.0], [2.0, 1.0]]);
        assert!(kl_divergence(&m, &s, &m, &not_pd).is_err());
        assert!(kl_divergence(&m, &not_pd, &m, &s).is_err());
        assert!(kl_divergence(&arr1(&[0.0]), &s, &m, &s).is_err());
    }

    #[test]
    fn ellipse_points_lie_on_the_level_set() {
        // Every point satisfies (x - c)^T S^-1 (x - c) = r^2 up to rounding.
        let s = arr2(&[[2.0, 0.6], [0.6, 0.5]]);
        let inv = spd_inverse(&s).unwrap();
        let pts = ellipse_points([1.0, -1.0], &s, 2.0, 40).unwrap();
        assert_eq!(pts.len(), 41);
        for (x, y) in pts {
            let d = arr1(&[x - 1.0, y + 1.0]);
            assert!((quadratic_form(&d, &inv) - 4.0).abs() < 1e-12);
        }
    }
}
