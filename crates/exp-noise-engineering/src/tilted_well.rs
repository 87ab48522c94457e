//! The tilted double well L(w) = (w^2 - 1)^2 + tilt w of claim `annealed-gradient-noise`, and the
//! two-state master equation that predicts where annealed Langevin dynamics on it ends up.
//!
//! - Stationary points: the three real roots of L'(w) = 4 w^3 - 4 w + tilt (for 0 < tilt <
//!   8/(3 sqrt 3), the discriminant condition of the depressed cubic), by Newton's method from
//!   -1, 0 and +1. With tilt > 0 the left minimum is the global one.
//! - Escape rates: k = 1/tau, with tau the exact mean first-passage time of dw = -L'(w) dt +
//!   sqrt(2T) dW from one minimum to the other, a reflecting wall at the clamp |w| = wall behind the
//!   start (Gardiner, *Handbook of Stochastic Methods*, 5.2.7), computed by the core's quadrature
//!   [`sgd_sim::first_passage::mean_first_passage_time`]. The shallow-to-global direction is the
//!   same quadrature on the mirrored potential L(-w).
//! - Master equation: the populations P_g (global well, w < saddle) and 1 - P_g obey
//!   dP_g/dt = k_sg (1 - P_g) - k_gs P_g. Over one step of length alpha at frozen T_t it is solved
//!   exactly: P_g <- P_eq + (P_g - P_eq) exp(-(k_sg + k_gs) alpha), P_eq = k_sg/(k_sg + k_gs).
//!
//! Rates are tabulated once on a grid uniform in ln(beta), beta = 1/T (dense where the barrier is
//! low and ln k bends, sparse where Arrhenius' law makes ln k nearly linear in beta), and
//! interpolated with four-point Lagrange polynomials.

use sgd_sim::SimError;
use sgd_sim::first_passage::{Quadrature, mean_first_passage_time};
use sgd_sim::math::{exp, ln, powf};
use sgd_sim::parallel::map_indexed;
use sgd_sim::quadrature::simpson;

/// The largest tilt for which L has two minima: |tilt| < 8/(3 sqrt 3).
pub fn max_tilt() -> f64 {
    8.0 / (3.0 * 3f64.sqrt())
}

/// The tilted double well with a reflecting clamp at |w| = wall.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TiltedWell {
    /// The tilt (positive: the left well is the global minimum).
    pub tilt: f64,
    /// The clamp |w| <= wall, a reflecting wall for the diffusion.
    pub wall: f64,
    /// The global (left) minimum.
    pub global_min: f64,
    /// The saddle (barrier top) between the wells.
    pub saddle: f64,
    /// The shallow (right) minimum.
    pub shallow_min: f64,
}

/// A root of L'(w) = 4 w^3 - 4 w + tilt by Newton's method from `start`.
fn stationary_point(tilt: f64, start: f64) -> f64 {
    let mut w = start;
    for _ in 0..100 {
        let f = 4.0 * w * (w * w - 1.0) + tilt;
        let df = 12.0 * w * w - 4.0;
        let step = f / df;
        w -= step;
        if step.abs() <= 1e-16 * w.abs().max(1.0) {
            break;
        }
    }
    w
}

impl TiltedWell {
    /// The well of tilt `tilt` clamped at `wall`.
    ///
    /// # Errors
    /// When the tilt leaves no second minimum (0 < tilt < 8/(3 sqrt 3) is required) or the wall
    /// does not enclose both minima.
    pub fn new(tilt: f64, wall: f64) -> Result<Self, SimError> {
        if !(tilt > 0.0 && tilt < max_tilt()) {
            return Err(SimError::InvalidInput(format!(
                "tilt must be in (0, {}), got {tilt}",
                max_tilt()
            )));
        }
        let global_min = stationary_point(tilt, -1.0);
        let saddle = stationary_point(tilt, 0.0);
        let shallow_min = stationary_point(tilt, 1.0);
        if !(global_min < saddle && saddle < shallow_min) {
            return Err(SimError::InvalidInput(format!(
                "stationary points out of order for tilt {tilt}"
            )));
        }
        if !(wall.is_finite() && wall > shallow_min.abs().max(global_min.abs())) {
            return Err(SimError::InvalidInput(format!(
                "wall must enclose both minima, got {wall}"
            )));
        }
        Ok(Self {
            tilt,
            wall,
            global_min,
            saddle,
            shallow_min,
        })
    }

    /// L(w).
    #[inline]
    pub fn value(&self, w: f64) -> f64 {
        let u = w * w - 1.0;
        u * u + self.tilt * w
    }

    /// L'(w).
    #[inline]
    pub fn derivative(&self, w: f64) -> f64 {
        4.0 * w * (w * w - 1.0) + self.tilt
    }

    /// L''(w).
    pub fn second_derivative(&self, w: f64) -> f64 {
        12.0 * w * w - 4.0
    }

    /// The barrier seen from the global well, L(saddle) - L(global_min).
    pub fn barrier_from_global(&self) -> f64 {
        self.value(self.saddle) - self.value(self.global_min)
    }

    /// The barrier seen from the shallow well, L(saddle) - L(shallow_min).
    pub fn barrier_from_shallow(&self) -> f64 {
        self.value(self.saddle) - self.value(self.shallow_min)
    }

    /// The Gibbs probability of the global well, int_{-wall}^{saddle} e^{-L/T} / int_{-wall}^{wall}
    /// e^{-L/T}, by Simpson's rule (exponents shifted by min L so nothing overflows).
    pub fn boltzmann_global_fraction(&self, temperature: f64, intervals: usize) -> f64 {
        let shift = self.value(self.global_min);
        let density = |w: f64| exp(-(self.value(w) - shift) / temperature);
        let left = simpson(density, -self.wall, self.saddle, intervals);
        let right = simpson(density, self.saddle, self.wall, intervals);
        left / (left + right)
    }

    /// ln of the mean first-passage time from the global minimum to the shallow one (wall at -wall).
    ///
    /// # Errors
    /// When the quadrature rejects its input (non-positive temperature).
    pub fn ln_time_global_to_shallow(
        &self,
        temperature: f64,
        quadrature: Quadrature,
    ) -> Result<f64, SimError> {
        Ok(mean_first_passage_time(
            |w| self.value(w),
            temperature,
            -self.wall,
            self.global_min,
            self.shallow_min,
            quadrature,
        )?
        .ln_tau)
    }

    /// ln of the mean first-passage time from the shallow minimum to the global one (wall at
    /// +wall): the same quadrature on the mirrored potential w -> -w.
    ///
    /// # Errors
    /// When the quadrature rejects its input (non-positive temperature).
    pub fn ln_time_shallow_to_global(
        &self,
        temperature: f64,
        quadrature: Quadrature,
    ) -> Result<f64, SimError> {
        Ok(mean_first_passage_time(
            |x| self.value(-x),
            temperature,
            -self.wall,
            -self.shallow_min,
            -self.global_min,
            quadrature,
        )?
        .ln_tau)
    }
}

/// ln k of both escape directions on a grid uniform in ln(1/T).
#[derive(Clone, Debug, PartialEq)]
pub struct RateTable {
    /// ln(beta) at the first node.
    ln_beta_lo: f64,
    /// Node spacing in ln(beta).
    step: f64,
    /// ln k(shallow -> global) at the nodes.
    ln_rate_to_global: Vec<f64>,
    /// ln k(global -> shallow) at the nodes.
    ln_rate_to_shallow: Vec<f64>,
}

/// Four-point Lagrange interpolation of equally spaced values `v` (nodes 0..n) at position `u`
/// (in units of the spacing); the stencil is clamped to the table.
fn lagrange4(v: &[f64], u: f64) -> f64 {
    let n = v.len();
    let i = (u.floor() as isize - 1).clamp(0, n as isize - 4) as usize;
    let x = u - i as f64;
    let (a, b, c, d) = (v[i], v[i + 1], v[i + 2], v[i + 3]);
    // Nodes at 0, 1, 2, 3.
    let l0 = -(x - 1.0) * (x - 2.0) * (x - 3.0) / 6.0;
    let l1 = x * (x - 2.0) * (x - 3.0) / 2.0;
    let l2 = -x * (x - 1.0) * (x - 3.0) / 2.0;
    let l3 = x * (x - 1.0) * (x - 2.0) / 6.0;
    a * l0 + b * l1 + c * l2 + d * l3
}

impl RateTable {
    /// Tabulates ln k both ways at `nodes` inverse temperatures spread evenly in ln(beta) over
    /// [1/t_hi, 1/t_lo] (computed in parallel, in index order).
    ///
    /// # Errors
    /// When the temperatures are not ordered and positive, there are fewer than 4 nodes, or a
    /// quadrature fails.
    pub fn new(
        well: &TiltedWell,
        t_lo: f64,
        t_hi: f64,
        nodes: usize,
        quadrature: Quadrature,
    ) -> Result<Self, SimError> {
        if !(t_lo > 0.0 && t_lo < t_hi && t_hi.is_finite()) || nodes < 4 {
            return Err(SimError::InvalidInput(format!(
                "rate table needs 0 < t_lo < t_hi and >= 4 nodes, got {t_lo}, {t_hi}, {nodes}"
            )));
        }
        let ln_beta_lo = -ln(t_hi);
        let step = (-ln(t_lo) - ln_beta_lo) / (nodes - 1) as f64;
        let pairs = map_indexed(nodes, |k| -> Result<(f64, f64), SimError> {
            let t = exp(-(ln_beta_lo + k as f64 * step));
            Ok((
                -well.ln_time_shallow_to_global(t, quadrature)?,
                -well.ln_time_global_to_shallow(t, quadrature)?,
            ))
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let (ln_rate_to_global, ln_rate_to_shallow) = pairs.into_iter().unzip();
        Ok(Self {
            ln_beta_lo,
            step,
            ln_rate_to_global,
            ln_rate_to_shallow,
        })
    }

    /// The temperature range covered, (t_lo, t_hi).
    pub fn temperature_range(&self) -> (f64, f64) {
        let ln_beta_hi = self.ln_beta_lo + self.step * (self.ln_rate_to_global.len() - 1) as f64;
        (exp(-ln_beta_hi), exp(-self.ln_beta_lo))
    }

    /// (k_sg, k_gs): the escape rates shallow -> global and global -> shallow at temperature T.
    /// Outside the tabulated range the nearest cubic is extrapolated; callers keep T inside.
    pub fn rates(&self, temperature: f64) -> (f64, f64) {
        let u = (-ln(temperature) - self.ln_beta_lo) / self.step;
        (
            exp(lagrange4(&self.ln_rate_to_global, u)),
            exp(lagrange4(&self.ln_rate_to_shallow, u)),
        )
    }
}

/// The annealing schedule T_t = T_0 (1 + t)^-p of step t.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cooling {
    /// T_0.
    pub initial_temperature: f64,
    /// The decay exponent p.
    pub exponent: f64,
}

impl Cooling {
    /// T_t.
    #[inline]
    pub fn temperature(&self, step: u64) -> f64 {
        self.initial_temperature * powf(1.0 + step as f64, -self.exponent)
    }

    /// The first step whose temperature is at most `temperature` (steps whose T_t is above it
    /// come before it).
    pub fn first_step_at_or_below(&self, temperature: f64) -> u64 {
        if self.initial_temperature <= temperature {
            return 0;
        }
        // (1 + t)^p >= T0/T  <=>  t >= (T0/T)^(1/p) - 1; rounding is corrected by a local search.
        let guess = powf(self.initial_temperature / temperature, 1.0 / self.exponent) - 1.0;
        let mut t = guess.max(0.0).floor() as u64;
        while t > 0 && self.temperature(t - 1) <= temperature {
            t -= 1;
        }
        while self.temperature(t) > temperature {
            t += 1;
        }
        t
    }
}

/// The master equation's P(global well) after each step from `start` to `steps`.
///
/// The state before step `start` is the Boltzmann split at T_start; step t uses T_t and lasts
/// `alpha` time units. Returns the probability after steps start+1, ..., steps (index t - start - 1
/// holds the value after t steps).
pub fn master_equation_path(
    table: &RateTable,
    cooling: Cooling,
    alpha: f64,
    start: u64,
    initial_global: f64,
    steps: u64,
) -> Vec<f64> {
    let mut p = initial_global;
    (start..steps)
        .map(|t| {
            let (k_sg, k_gs) = table.rates(cooling.temperature(t));
            let total = k_sg + k_gs;
            let equilibrium = k_sg / total;
            p = equilibrium + (p - equilibrium) * exp(-total * alpha);
            p
        })
        .collect()
}

/// ln of the Boltzmann odds of the two wells at the bottoms, for the harmonic approximation:
/// P_g/P_s ~ sqrt(L''(shallow)/L''(global)) exp((L(shallow) - L(global))/T).
pub fn harmonic_odds_global(well: &TiltedWell, temperature: f64) -> f64 {
    0.5 * ln(well.second_derivative(well.shallow_min) / well.second_derivative(well.global_min))
        + (well.value(well.shallow_min) - well.value(well.global_min)) / temperature
}

#[cfg(test)]
// The platform float functions are the independent reference these tests compare libm with.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use sgd_sim::first_passage::kramers_time;

    fn well() -> TiltedWell {
        TiltedWell::new(0.15, 2.5).unwrap()
    }

    #[test]
    fn stationary_points_match_the_trigonometric_roots() {
        // Viete's trigonometric solution of t^3 + p t + q = 0 with p = -1, q = tilt/4:
        // t_k = 2 sqrt(1/3) cos(acos(3q/(2p) sqrt(-3/p))/3 - 2 pi k/3). Newton should agree to
        // rounding (1e-14 leaves room for acos's conditioning).
        let w = well();
        let q: f64 = 0.15 / 4.0;
        let theta = ((3.0 * q / (-2.0)) * 3f64.sqrt()).acos() / 3.0;
        let mut roots: Vec<f64> = (0..3)
            .map(|k| {
                2.0 / 3f64.sqrt() * (theta - 2.0 * std::f64::consts::PI * f64::from(k) / 3.0).cos()
            })
            .collect();
        roots.sort_by(f64::total_cmp);
        for (got, want) in [w.global_min, w.saddle, w.shallow_min].iter().zip(&roots) {
            assert!((got - want).abs() < 1e-14, "{got} vs {want}");
        }
        assert!(w.value(w.global_min) < w.value(w.shallow_min));
        assert!(w.second_derivative(w.saddle) < 0.0);
    }

    #[test]
    fn rejects_tilts_without_two_wells() {
        assert!(TiltedWell::new(1.6, 2.5).is_err());
        assert!(TiltedWell::new(0.0, 2.5).is_err());
        assert!(TiltedWell::new(0.15, 0.5).is_err());
        assert!(TiltedWell::new(f64::NAN, 2.5).is_err());
    }

    #[test]
    fn boltzmann_fraction_approaches_the_harmonic_odds_at_low_temperature() {
        // At T = 0.02 the Laplace approximation of each well's mass is accurate to O(T) relative
        // (about 1% of the odds), and the wells are far from the saddle.
        let w = well();
        let t = 0.02;
        let p = w.boltzmann_global_fraction(t, 20_000);
        let odds = exp(harmonic_odds_global(&w, t));
        let want = odds / (1.0 + odds);
        assert!(
            ((1.0 - p) / (1.0 - want) - 1.0).abs() < 0.02,
            "{p} vs {want}"
        );
        // At infinite temperature the clamp makes the split the interval's: (saddle + wall)/(2 wall).
        let p = w.boltzmann_global_fraction(1e6, 2000);
        assert!((p - (w.saddle + 2.5) / 5.0).abs() < 1e-5);
    }

    #[test]
    fn passage_times_approach_kramers_at_high_barriers() {
        // Kramers' asymptote is exact to O(T/dL): at dL/T of about 15 within 10% (both ways).
        let w = well();
        let q = Quadrature { intervals: 8000 };
        let t = 0.06;
        let to_shallow = exp(w.ln_time_global_to_shallow(t, q).unwrap());
        let kramers_gs = kramers_time(
            w.second_derivative(w.global_min),
            w.second_derivative(w.saddle),
            w.barrier_from_global(),
            t,
        );
        assert!((to_shallow / kramers_gs - 1.0).abs() < 0.1);
        let to_global = exp(w.ln_time_shallow_to_global(t, q).unwrap());
        let kramers_sg = kramers_time(
            w.second_derivative(w.shallow_min),
            w.second_derivative(w.saddle),
            w.barrier_from_shallow(),
            t,
        );
        assert!((to_global / kramers_sg - 1.0).abs() < 0.1);
    }

    #[test]
    fn rate_ratio_approaches_detailed_balance() {
        // For passage over a high barrier, tau_gs/tau_sg -> Z_g/Z_s (both times are dominated by
        // the same barrier integral), so k_sg/(k_sg + k_gs) -> the Boltzmann split. At T = 0.1 the
        // residual difference is O(exp(-dL/T)) plus the well-edge contributions, below 1e-3.
        let w = well();
        let q = Quadrature { intervals: 8000 };
        let t = 0.1;
        let k_sg = exp(-w.ln_time_shallow_to_global(t, q).unwrap());
        let k_gs = exp(-w.ln_time_global_to_shallow(t, q).unwrap());
        let p = w.boltzmann_global_fraction(t, 20_000);
        assert!(
            (k_sg / (k_sg + k_gs) - p).abs() < 1e-3,
            "{} vs {p}",
            k_sg / (k_sg + k_gs)
        );
    }

    #[test]
    fn interpolated_rates_match_direct_quadrature() {
        // 400 nodes over ln(beta) in [ln(1/0.6), ln(1/0.01)] (spacing 0.010): the four-point
        // rule's error is O(h^4 (ln k)''''), below 1e-6 in ln k; checked at off-grid temperatures
        // against direct quadrature.
        let w = well();
        let q = Quadrature { intervals: 2000 };
        let table = RateTable::new(&w, 0.01, 0.6, 400, q).unwrap();
        for t in [0.59, 0.41, 0.2333, 0.1, 0.037, 0.0101] {
            let (k_sg, k_gs) = table.rates(t);
            let want_sg = -w.ln_time_shallow_to_global(t, q).unwrap();
            let want_gs = -w.ln_time_global_to_shallow(t, q).unwrap();
            assert!(
                (ln(k_sg) - want_sg).abs() < 1e-6,
                "T={t}: {} vs {want_sg}",
                ln(k_sg)
            );
            assert!(
                (ln(k_gs) - want_gs).abs() < 1e-6,
                "T={t}: {} vs {want_gs}",
                ln(k_gs)
            );
        }
        let (lo, hi) = table.temperature_range();
        assert!((lo - 0.01).abs() < 1e-12 && (hi - 0.6).abs() < 1e-12);
    }

    #[test]
    fn quadrature_grid_is_fine_enough() {
        // The claim uses 2000 intervals (Richardson-extrapolated trapezoid); 8000 must agree to
        // 1e-6 in ln tau down to the coldest temperature the claim reaches (about 0.015).
        let w = well();
        for t in [0.6, 0.1, 0.015] {
            let a = w
                .ln_time_global_to_shallow(t, Quadrature { intervals: 2000 })
                .unwrap();
            let b = w
                .ln_time_global_to_shallow(t, Quadrature { intervals: 8000 })
                .unwrap();
            assert!((a - b).abs() < 1e-6, "T={t}: {a} vs {b}");
        }
    }

    #[test]
    fn master_equation_step_solves_the_two_state_ode() {
        // Constant rates: P(t) = P_eq + (P0 - P_eq) e^{-(k1+k2) t} exactly; compare with a fine
        // explicit Euler integration of the ODE (error O(dt) = 1e-6 relative at dt = 1e-6 * scale).
        let w = well();
        let table = RateTable::new(&w, 0.2, 0.6, 16, Quadrature { intervals: 2000 }).unwrap();
        let cooling = Cooling {
            initial_temperature: 0.3,
            exponent: 0.0,
        };
        let path = master_equation_path(&table, cooling, 0.5, 0, 0.1, 20);
        let (k_sg, k_gs) = table.rates(0.3);
        let mut p = 0.1;
        let dt = 1e-4;
        for _ in 0..(20.0 * 0.5 / dt) as usize {
            p += dt * (k_sg * (1.0 - p) - k_gs * p);
        }
        assert!((path[19] - p).abs() < 1e-5, "{} vs {p}", path[19]);
    }

    #[test]
    fn cooling_start_step_is_the_first_at_or_below() {
        let c = Cooling {
            initial_temperature: 20.0,
            exponent: 0.55,
        };
        let t = c.first_step_at_or_below(0.6);
        assert!(c.temperature(t) <= 0.6 && c.temperature(t - 1) > 0.6);
        assert_eq!(c.first_step_at_or_below(25.0), 0);
    }
}
