//! Linear stability of SGD at an interpolating minimum of a 1-D quadratic with per-sample curvatures.
//!
//! With l_i(w) = a_i w^2 / 2 and a minibatch mean curvature a_b, SGD is w <- (1 - eta a_b) w, so
//! E[w^2] contracts per step by the mean-square factor (Wu, Ma and E 2018, section 3)
//!
//!   rho(eta, b) = E[(1 - eta a_b)^2] = (1 - eta abar)^2 + eta^2 var(a) f(N, b),
//!
//! with var(a) the population variance (divisor N) and f the sampler's variance factor
//! ((N - b)/(b (N - 1)) without replacement). rho <= 1 iff eta <= eta_ms(b) = 2 abar / (abar^2 + var(a) f).

use crate::sampler::SamplerKind;

/// Mean and population variance (divisor N) of per-sample curvatures.
pub fn curvature_moments(curvatures: &[f64]) -> (f64, f64) {
    let n = curvatures.len() as f64;
    let mean = curvatures.iter().sum::<f64>() / n;
    let var = curvatures
        .iter()
        .map(|a| (a - mean) * (a - mean))
        .sum::<f64>()
        / n;
    (mean, var)
}

/// The mean-square factor rho(eta, b) = (1 - eta abar)^2 + eta^2 var(a) f(N, b).
pub fn mean_square_factor(
    eta: f64,
    mean: f64,
    variance: f64,
    n: usize,
    b: usize,
    kind: SamplerKind,
) -> f64 {
    crate::math::powi(1.0 - eta * mean, 2) + eta * eta * variance * kind.variance_factor(n, b)
}

/// The mean-square stability threshold eta_ms(b) = 2 abar / (abar^2 + var(a) f(N, b)), the
/// positive root of rho(eta, b) = 1.
pub fn mean_square_threshold(
    mean: f64,
    variance: f64,
    n: usize,
    b: usize,
    kind: SamplerKind,
) -> f64 {
    2.0 * mean / (mean * mean + variance * kind.variance_factor(n, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_the_root_of_rho() {
        let a = [0.1, 0.5, 2.0, 3.5, 0.05, 1.2];
        let (m, v) = curvature_moments(&a);
        for b in 1..=6 {
            let kind = SamplerKind::WithoutReplacement;
            let eta = mean_square_threshold(m, v, a.len(), b, kind);
            assert!((mean_square_factor(eta, m, v, a.len(), b, kind) - 1.0).abs() < 1e-12);
            assert!(mean_square_factor(0.99 * eta, m, v, a.len(), b, kind) < 1.0);
        }
        // Full batch without replacement: plain gradient descent, eta_ms = 2 / abar.
        assert!(
            (mean_square_threshold(m, v, a.len(), a.len(), SamplerKind::WithoutReplacement)
                - 2.0 / m)
                .abs()
                < 1e-12
        );
    }

    #[test]
    fn enumerated_factor_matches_formula() {
        // Exact expectation over all b-subsets of a 5-point set for b = 2.
        let a: [f64; 5] = [0.3, 1.0, 2.0, 0.1, 4.0];
        let eta: f64 = 0.4;
        let mut total = 0.0;
        let mut count = 0.0;
        for i in 0..5 {
            for j in i + 1..5 {
                let ab = (a[i] + a[j]) / 2.0;
                total += crate::math::powi(1.0 - eta * ab, 2);
                count += 1.0;
            }
        }
        let (m, v) = curvature_moments(&a);
        let f = mean_square_factor(eta, m, v, 5, 2, SamplerKind::WithoutReplacement);
        assert!((total / count - f).abs() < 1e-14);
    }
}
