//! Exit steps from the saddle of L(y) = -lambda y^2/2 + y^4/4 through |y| >= R: the formulas of
//! the claim (the continuum, flow-based asymptotes) and the exact discrete-time versions they
//! approximate.
//!
//! Gradient descent is the map f(y) = y + eta (lambda y - y^3), with multiplier a = 1 + eta lambda at
//! the saddle. Near 0 it grows as a^k; the cubic slows it down on the way to R.
//!
//! - The claim's gradient-descent formula: k = ln(R_eff / y0) / ln a with R_eff = R / sqrt(1 - R^2/lambda),
//!   the effective radius of the gradient *flow* y' = lambda y - y^3, whose exact solution satisfies
//!   y(t) / sqrt(1 - y(t)^2/lambda) = e^{lambda t} y0 / sqrt(1 - y0^2/lambda).
//! - The discrete map has its own linearizing coordinate, the Koenigs function
//!   h(y) = lim_n a^n f^{-n}(y), with h(f(y)) = a h(y) and h(y) = y + O(y^3) (Koenigs 1884; Milnor,
//!   *Dynamics in One Complex Variable*, theorem 8.2). Hence gradient descent from y0 exits after
//!   exactly ceil(ln(h(R)/h(y0)) / ln a) steps: the formula with R_eff replaced by h(R) (which tends
//!   to R_eff as eta -> 0) and rounded up to the step at which the exit is seen.
//! - SGD from 0: linearized, y_k = a^k X_k with X_k = -sum_{j<k} a^{-j-1} eta s z_j, which converges
//!   to X ~ N(0, V), V = eta^2 s^2 / (a^2 - 1) (the geometric series of the variances). The
//!   trajectory then follows gradient descent from the effective start |X|, so the exit step is
//!   ln(h(R)/|X|)/ln a rounded up, and with E ln|Z| = -(gamma_E + ln 2)/2 for Z ~ N(0, 1):
//!   E[k] = [ln(R_eff/sqrt V) + (gamma_E + ln 2)/2] / ln a (the claim's formula, with the flow's R_eff), or
//!   exactly to this order, [ln(h(R)/sqrt V) + (gamma_E + ln 2)/2] / ln a + 1/2, the 1/2 being the
//!   mean of the rounding up (the fractional part of ln(h(R)/|X|)/ln a is uniform to high accuracy
//!   because ln|X| spreads over about 1.1/ln a steps). What is left is relative O(V/R^2) from noise
//!   drawn after the linear phase.

use sgd_sim::SimError;
use sgd_sim::math::{ln, ln_1p};

/// The Euler–Mascheroni constant gamma_E.
pub const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// -E ln|Z| for a standard normal Z: (gamma_E + ln 2)/2.
pub fn minus_mean_log_abs_normal() -> f64 {
    0.5 * (EULER_GAMMA + std::f64::consts::LN_2)
}

/// Escape from the saddle of the quartic by gradient descent or SGD with step eta through |y| = R.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SaddleExit {
    /// The negative curvature lambda at the saddle.
    pub lambda: f64,
    /// The step size eta.
    pub eta: f64,
    /// The exit radius R.
    pub radius: f64,
}

impl SaddleExit {
    /// Checks 0 < R < sqrt(lambda) (the exit lies before the minima) and that the map is
    /// increasing on [0, R] (1 + eta lambda - 3 eta R^2 > 0), so it is invertible there.
    ///
    /// # Errors
    /// The first condition that fails.
    pub fn new(lambda: f64, eta: f64, radius: f64) -> Result<Self, SimError> {
        let all_positive = [lambda, eta, radius]
            .iter()
            .all(|v| v.is_finite() && *v > 0.0);
        if !all_positive {
            return Err(SimError::InvalidInput(format!(
                "lambda, eta and R must be positive, got {lambda}, {eta}, {radius}"
            )));
        }
        if radius * radius >= lambda {
            return Err(SimError::InvalidInput(format!(
                "the exit radius {radius} must lie inside the minima at sqrt(lambda) = {}",
                lambda.sqrt()
            )));
        }
        if 1.0 + eta * lambda - 3.0 * eta * radius * radius <= 0.0 {
            return Err(SimError::InvalidInput(format!(
                "eta = {eta} makes gradient descent non-monotone before |y| = {radius}"
            )));
        }
        Ok(Self {
            lambda,
            eta,
            radius,
        })
    }

    /// ln a = ln(1 + eta lambda), the growth per step at the saddle.
    pub fn growth(&self) -> f64 {
        ln_1p(self.eta * self.lambda)
    }

    /// One gradient-descent step f(y) = y + eta (lambda y - y^3).
    #[inline]
    pub fn step(&self, y: f64) -> f64 {
        y + self.eta * (self.lambda * y - y * y * y)
    }

    /// The flow's effective radius R / sqrt(1 - R^2/lambda) (the claim's formulas use it).
    pub fn flow_effective_radius(&self) -> f64 {
        self.radius / (1.0 - self.radius * self.radius / self.lambda).sqrt()
    }

    /// ln h(y) of the Koenigs coordinate of the map, for 0 < y <= R: the backward orbit
    /// f^{-n}(y) is followed (Newton on the increasing cubic) until it is below 1e-9, where
    /// h(x) = x (1 + O(x^2)) to 1e-18, and ln h(y) = n ln a + ln f^{-n}(y).
    ///
    /// # Errors
    /// y outside (0, R], or a Newton step that fails to converge.
    pub fn ln_koenigs(&self, y: f64) -> Result<f64, SimError> {
        if !(y > 0.0 && y <= self.radius) {
            return Err(SimError::InvalidInput(format!(
                "the Koenigs coordinate is computed on (0, R], got {y}"
            )));
        }
        let a = 1.0 + self.eta * self.lambda;
        let mut x = y;
        let mut n = 0u32;
        while x > 1e-9 {
            // Solve f(u) = x for u in (0, x): start from x / a and refine.
            let mut u = x / a;
            let mut converged = false;
            for _ in 0..60 {
                let g = self.step(u) - x;
                let dg = a - 3.0 * self.eta * u * u;
                let next = u - g / dg;
                if (next - u).abs() <= 4.0 * f64::EPSILON * u.abs() {
                    u = next;
                    converged = true;
                    break;
                }
                u = next;
            }
            if !converged || u.is_nan() || u <= 0.0 {
                return Err(SimError::Diverged {
                    step: u64::from(n),
                    reason: format!("inverting the gradient-descent map at {x} failed"),
                });
            }
            x = u;
            n += 1;
        }
        Ok(f64::from(n) * self.growth() + ln(x))
    }

    /// The claim's gradient-descent exit step from y0: ln(R_eff/y0) / ln(1 + eta lambda).
    pub fn gd_exit_steps_formula(&self, y0: f64) -> f64 {
        ln(self.flow_effective_radius() / y0) / self.growth()
    }

    /// The exact gradient-descent exit step from 0 < y0 < R: ceil(ln(h(R)/h(y0)) / ln a).
    ///
    /// # Errors
    /// As [`Self::ln_koenigs`].
    pub fn gd_exit_step_exact(&self, y0: f64) -> Result<f64, SimError> {
        let k = (self.ln_koenigs(self.radius)? - self.ln_koenigs(y0)?) / self.growth();
        Ok(k.ceil())
    }

    /// V = eta^2 s^2 / ((1 + eta lambda)^2 - 1), the variance of the linearized SGD's effective
    /// start X.
    pub fn effective_start_variance(&self, noise_scale: f64) -> f64 {
        let a = 1.0 + self.eta * self.lambda;
        self.eta * self.eta * noise_scale * noise_scale / (a * a - 1.0)
    }

    /// The claim's SGD mean exit step from 0:
    /// [ln(R_eff / sqrt V) + (gamma_E + ln 2)/2] / ln(1 + eta lambda).
    pub fn sgd_mean_exit_steps_formula(&self, noise_scale: f64) -> f64 {
        let v = self.effective_start_variance(noise_scale);
        (ln(self.flow_effective_radius()) - 0.5 * ln(v) + minus_mean_log_abs_normal())
            / self.growth()
    }

    /// The discrete-time SGD mean exit step from 0:
    /// [ln(h(R) / sqrt V) + (gamma_E + ln 2)/2] / ln(1 + eta lambda) + 1/2.
    ///
    /// # Errors
    /// As [`Self::ln_koenigs`].
    pub fn sgd_mean_exit_steps_discrete(&self, noise_scale: f64) -> Result<f64, SimError> {
        let v = self.effective_start_variance(noise_scale);
        Ok(
            (self.ln_koenigs(self.radius)? - 0.5 * ln(v) + minus_mean_log_abs_normal())
                / self.growth()
                + 0.5,
        )
    }

    /// The standard deviation of the exit step predicted by the same argument:
    /// sd(ln|Z|) / ln a = (pi / sqrt 8) / ln a (Var ln|Z| = pi^2/8), with the rounding's 1/12 added.
    pub fn sgd_exit_steps_sd(&self) -> f64 {
        let g = self.growth();
        (std::f64::consts::PI * std::f64::consts::PI / 8.0 / (g * g) + 1.0 / 12.0).sqrt()
    }
}

#[cfg(test)]
// The tests compute independent references with the platform's float functions.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use crate::kernel::{EscapeSpec, ExitOutside, GaussianNoise, escape_steps};
    use sgd_sim::potential::QuarticSaddle;
    use sgd_sim::quadrature::simpson;
    use sgd_sim::rng::Streams;
    use sgd_sim::stats::mean_estimate;

    fn claims_setup() -> SaddleExit {
        SaddleExit::new(1.0, 0.01, 0.5).unwrap()
    }

    #[test]
    fn mean_log_abs_normal_matches_quadrature() {
        // E ln|Z| = 2 int_0^inf ln z phi(z) dz; with z = e^t the integrand t phi(e^t) e^t is
        // smooth and decays like e^t at -inf and doubly exponentially at +inf. Simpson on
        // [-40, 4] with 20000 intervals: error far below 1e-10.
        let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let integral = 2.0 * simpson(|t| t * phi(t.exp()) * t.exp(), -40.0, 4.0, 20_000);
        assert!(
            (integral + minus_mean_log_abs_normal()).abs() < 1e-10,
            "{integral}"
        );
    }

    #[test]
    fn flow_radius_matches_the_exact_flow_solution() {
        // The flow y' = lambda y - y^3 reaches R from y0 at
        // t = ln(R^2 (lambda - y0^2) / (y0^2 (lambda - R^2))) / (2 lambda); as y0 -> 0 this is
        // ln(R_eff / y0) / lambda, the formula with ln a replaced by eta lambda.
        let s = claims_setup();
        for y0 in [1e-4, 1e-8, 1e-12] {
            let (l, r) = (s.lambda, s.radius);
            let t = ((r * r * (l - y0 * y0)) / (y0 * y0 * (l - r * r))).ln() / (2.0 * l);
            let formula_time = (s.flow_effective_radius() / y0).ln() / l;
            assert!((t - formula_time).abs() < 1e-7, "{t} vs {formula_time}");
        }
    }

    #[test]
    fn koenigs_coordinate_conjugates_the_map() {
        // h(f(y)) = a h(y) to rounding, h(y) ~ y for small y, and h(R) -> R_eff as eta -> 0 with
        // an O(eta) gap.
        let s = claims_setup();
        let ln_a = s.growth();
        for y in [1e-6, 1e-3, 0.1, 0.3, 0.45] {
            let lhs = s.ln_koenigs(s.step(y)).unwrap();
            let rhs = ln_a + s.ln_koenigs(y).unwrap();
            assert!((lhs - rhs).abs() < 1e-12, "y = {y}: {lhs} vs {rhs}");
        }
        assert!((s.ln_koenigs(1e-7).unwrap() - (1e-7f64).ln()).abs() < 1e-12);
        let gap = |eta: f64| {
            let t = SaddleExit::new(1.0, eta, 0.5).unwrap();
            t.ln_koenigs(0.5).unwrap() - t.flow_effective_radius().ln()
        };
        let (g1, g2) = (gap(0.01), gap(0.005));
        assert!((g1 / g2 - 2.0).abs() < 0.05, "{g1} {g2}");
    }

    #[test]
    fn gd_exit_step_is_exactly_the_rounded_koenigs_count() {
        // Iterating the map is the ground truth; the Koenigs count reproduces it exactly and the
        // claim's formula lies within one step of it.
        let s = claims_setup();
        let saddle = QuarticSaddle { lambda: 1.0 };
        for y0 in [1e-4, 1e-6, 1e-8, 1e-10, 1e-12, 3e-7] {
            let iterated = crate::kernel::gradient_descent_exit_step(
                &saddle,
                &ExitOutside(0.5),
                0.01,
                y0,
                1_000_000,
            )
            .unwrap() as f64;
            assert_eq!(iterated, s.gd_exit_step_exact(y0).unwrap(), "y0 = {y0}");
            assert!((iterated - s.gd_exit_steps_formula(y0)).abs() <= 1.0);
        }
    }

    #[test]
    fn effective_start_variance_is_the_geometric_series() {
        // X_k = -sum_{j<k} a^{-j-1} eta s z_j has variance eta^2 s^2 sum_{j<k} a^{-2(j+1)}, summed
        // term by term for k = 20000 (a^{-40000} is negligible).
        let s = claims_setup();
        let a: f64 = 1.01;
        let series: f64 = (0..20_000).map(|j| a.powi(-2 * (j + 1))).sum::<f64>() * 1e-4 * 0.01;
        assert!((series / s.effective_start_variance(0.1) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn discrete_formula_matches_monte_carlo_of_sgd() {
        // 40000 SGD runs at s = 0.1: the mean exit step has SE sd/sqrt(n) ~ 0.56 steps; the
        // discrete formula must lie within 4 SE. The formula's own neglected terms are relative
        // O(V/R^2) ~ 1e-4, i.e. 0.05 steps.
        let s = claims_setup();
        let saddle = QuarticSaddle { lambda: 1.0 };
        let noise = GaussianNoise { scale: 0.1 };
        let spec = EscapeSpec {
            potential: &saddle,
            noise: &noise,
            exit: ExitOutside(0.5),
            eta: 0.01,
            start: 0.0,
            max_steps: 1_000_000,
        };
        let steps = escape_steps(&spec, &Streams::new(23), "saddle-test", 40_000).unwrap();
        let xs: Vec<f64> = steps.iter().map(|&k| k as f64).collect();
        let e = mean_estimate(&xs);
        let want = s.sgd_mean_exit_steps_discrete(0.1).unwrap();
        assert!(
            (e.value - want).abs() < 4.0 * e.se,
            "{} +- {} vs {want}",
            e.value,
            e.se
        );
        // The predicted spread matches the sample's to a few percent.
        let sd = e.se * (xs.len() as f64).sqrt();
        assert!((sd / s.sgd_exit_steps_sd() - 1.0).abs() < 0.03, "{sd}");
    }

    #[test]
    fn rejects_bad_geometry() {
        assert!(SaddleExit::new(1.0, 0.01, 1.0).is_err());
        assert!(SaddleExit::new(1.0, 0.0, 0.5).is_err());
        assert!(SaddleExit::new(1.0, 10.0, 0.9).is_err());
        assert!(claims_setup().ln_koenigs(0.0).is_err());
        assert!(claims_setup().ln_koenigs(0.6).is_err());
    }
}
