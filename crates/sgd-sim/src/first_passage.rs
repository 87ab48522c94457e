//! Exact mean first-passage times of overdamped Langevin dynamics over a 1-D potential, by quadrature.
//!
//! For dx = -L'(x) dt + sqrt(2T) dW with a reflecting boundary at `lower` and an absorbing point
//! `b` > x0, the mean time to reach b from x0 is (Gardiner, *Handbook of Stochastic Methods*, 5.2.7)
//!
//!   tau(x0) = (1/T) int_{x0}^{b} exp(L(y)/T) [ int_{lower}^{y} exp(-L(z)/T) dz ] dy.
//!
//! A reflecting wall far up the confining wall of the potential stands in for lower = -infinity
//! (its contribution is of relative order exp(-(L(lower) - min L)/T)). Exponents are shifted by the
//! extremes of L on the grid, so barriers of hundreds of T neither overflow nor underflow; the result
//! is returned as its logarithm too. The quadrature is the trapezoid rule with one Richardson step
//! (error O(h^4) for smooth L).

use crate::SimError;
use crate::math::{exp, ln};

/// Grid settings of the quadrature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quadrature {
    /// Intervals on the coarse grid (the fine grid has twice as many).
    pub intervals: usize,
}

impl Default for Quadrature {
    fn default() -> Self {
        Self { intervals: 4000 }
    }
}

/// ln tau and tau of a mean first-passage time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PassageTime {
    /// The mean first-passage time (infinite if it overflows f64).
    pub tau: f64,
    /// Its natural logarithm (always finite).
    pub ln_tau: f64,
}

/// ln of the double integral on a grid: nodes on [lower, x0] (n1 intervals) then [x0, b] (n2).
fn ln_double_integral<L: Fn(f64) -> f64>(
    potential: &L,
    temperature: f64,
    lower: f64,
    x0: f64,
    b: f64,
    n1: usize,
    n2: usize,
) -> f64 {
    let h1 = (x0 - lower) / n1 as f64;
    let h2 = (b - x0) / n2 as f64;
    let xs: Vec<f64> = (0..=n1)
        .map(|k| lower + k as f64 * h1)
        .chain((1..=n2).map(|k| x0 + k as f64 * h2))
        .collect();
    let l: Vec<f64> = xs.iter().map(|&x| potential(x) / temperature).collect();
    if l.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    let l_min = l.iter().copied().fold(f64::INFINITY, f64::min);
    let l_max = l[n1..].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // Inner integral J(y) = int_lower^y exp(-(L - Lmin)/T), cumulative trapezoid.
    let mut inner = Vec::with_capacity(xs.len());
    let mut acc = 0.0;
    inner.push(0.0);
    for k in 1..xs.len() {
        let h = xs[k] - xs[k - 1];
        acc += 0.5 * h * (exp(l_min - l[k - 1]) + exp(l_min - l[k]));
        inner.push(acc);
    }
    // Outer integral over [x0, b] of exp((L - Lmax)/T) J(y).
    let mut outer = 0.0;
    for k in n1 + 1..xs.len() {
        let f0 = exp(l[k - 1] - l_max) * inner[k - 1];
        let f1 = exp(l[k] - l_max) * inner[k];
        outer += 0.5 * h2 * (f0 + f1);
    }
    ln(outer) + l_max - l_min
}

/// The mean first-passage time from `x0` to `b` (> x0) with a reflecting wall at `lower` (< x0),
/// at temperature `temperature`, for the potential `potential`.
///
/// # Errors
/// When the points are not ordered lower < x0 < b, the temperature is not positive, a potential
/// value is not finite, or the grid is too coarse.
pub fn mean_first_passage_time<L: Fn(f64) -> f64>(
    potential: L,
    temperature: f64,
    lower: f64,
    x0: f64,
    b: f64,
    quadrature: Quadrature,
) -> Result<PassageTime, SimError> {
    if !(lower < x0 && x0 < b && [lower, x0, b].iter().all(|v| v.is_finite())) {
        return Err(SimError::InvalidInput(format!(
            "first passage needs lower < x0 < b, got {lower}, {x0}, {b}"
        )));
    }
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(SimError::InvalidInput(format!(
            "temperature must be positive, got {temperature}"
        )));
    }
    if quadrature.intervals < 16 {
        return Err(SimError::InvalidInput(
            "first passage needs at least 16 intervals".into(),
        ));
    }
    // Split the intervals between the two segments in proportion to their lengths (at least 8 each).
    let total = b - lower;
    let n1 = ((quadrature.intervals as f64 * (x0 - lower) / total).round() as usize).max(8);
    let n2 = quadrature.intervals.saturating_sub(n1).max(8);
    let coarse = ln_double_integral(&potential, temperature, lower, x0, b, n1, n2);
    let fine = ln_double_integral(&potential, temperature, lower, x0, b, 2 * n1, 2 * n2);
    if !coarse.is_finite() || !fine.is_finite() {
        return Err(SimError::InvalidInput(
            "potential is not finite on the integration grid".into(),
        ));
    }
    // Richardson: I = (4 I_fine - I_coarse)/3, done relative to the fine value in log space.
    let ratio = exp(coarse - fine);
    let ln_integral = fine + ln((4.0 - ratio) / 3.0);
    let ln_tau = ln_integral - ln(temperature);
    Ok(PassageTime {
        tau: exp(ln_tau),
        ln_tau,
    })
}

/// Kramers' asymptote for escape over a barrier (Kramers 1940; Hanggi, Talkner and Borkovec 1990,
/// eq. 4.56 in the overdamped limit): tau_K = 2 pi / sqrt(L''(min) |L''(saddle)|) exp(dL / T).
pub fn kramers_time(
    curvature_min: f64,
    curvature_saddle: f64,
    barrier: f64,
    temperature: f64,
) -> f64 {
    2.0 * std::f64::consts::PI / (curvature_min * curvature_saddle.abs()).sqrt()
        * exp(barrier / temperature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::{exp, ln, powi};
    use crate::potential::{DoubleWell, Potential};

    #[test]
    fn free_diffusion_matches_closed_form() {
        // L = 0: tau = ((b - r)^2 - (x0 - r)^2) / (2T). The integrand is a polynomial of degree 1
        // in y, integrated exactly by the trapezoid rule up to rounding.
        let (r, x0, b, t) = (-1.0, 0.3, 2.0, 0.7);
        let p = mean_first_passage_time(|_| 0.0, t, r, x0, b, Quadrature::default()).unwrap();
        let want = (powi(b - r, 2) - powi(x0 - r, 2)) / (2.0 * t);
        assert!((p.tau / want - 1.0).abs() < 1e-12, "{} vs {want}", p.tau);
    }

    #[test]
    fn linear_potential_matches_closed_form() {
        // L = F x: tau = (1/F) [ (T/F)(e^{F(b-r)/T} - e^{F(x0-r)/T}) - (b - x0) ].
        for (f, t) in [(0.5, 0.3), (-0.8, 0.5), (2.0, 0.25)] {
            let (r, x0, b) = (-0.5, 0.0, 1.0);
            let p = mean_first_passage_time(|x| f * x, t, r, x0, b, Quadrature::default()).unwrap();
            let want = ((t / f) * (exp(f * (b - r) / t) - exp(f * (x0 - r) / t)) - (b - x0)) / f;
            // Richardson-extrapolated trapezoid: error O(h^4) ~ 1e-12 relative here.
            assert!(
                (p.tau / want - 1.0).abs() < 1e-9,
                "F={f}: {} vs {want}",
                p.tau
            );
        }
    }

    #[test]
    fn converges_under_grid_refinement() {
        let w = DoubleWell { height: 1.0 };
        let t = 0.2;
        let at = |n| {
            mean_first_passage_time(
                |x| w.value(x),
                t,
                -2.5,
                -1.0,
                1.0,
                Quadrature { intervals: n },
            )
            .unwrap()
            .tau
        };
        let (a, b) = (at(2000), at(8000));
        assert!((a / b - 1.0).abs() < 1e-6, "{a} vs {b}");
    }

    #[test]
    fn high_barriers_do_not_overflow_and_approach_kramers() {
        // dL/T = 12 and 400: finite logs; at 12 Kramers' asymptote is within its O(T/dL) correction
        // (about 10% here), at 400 far within 1%.
        let w = DoubleWell { height: 1.0 };
        for (ratio, tol) in [(12.0, 0.12), (400.0, 0.01)] {
            let t = 1.0 / ratio;
            let p = mean_first_passage_time(
                |x| w.value(x),
                t,
                -2.0,
                -1.0,
                1.0,
                Quadrature { intervals: 20_000 },
            )
            .unwrap();
            assert!(p.ln_tau.is_finite());
            let ln_kramers = ln(2.0 * std::f64::consts::PI / (8.0f64 * 4.0).sqrt()) + ratio;
            assert!(
                (p.ln_tau - ln_kramers).abs() < tol,
                "dL/T={ratio}: {} vs {ln_kramers}",
                p.ln_tau
            );
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(
            mean_first_passage_time(|_| 0.0, 1.0, 1.0, 0.0, 2.0, Quadrature::default()).is_err()
        );
        assert!(
            mean_first_passage_time(|_| 0.0, 0.0, -1.0, 0.0, 2.0, Quadrature::default()).is_err()
        );
        assert!(
            mean_first_passage_time(
                |x: f64| if x > 1.0 { f64::NAN } else { x },
                1.0,
                -1.0,
                0.5,
                2.0,
                Quadrature::default()
            )
            .is_err()
        );
    }
}
