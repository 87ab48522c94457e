//! Escape from the left well of the double well L(w) = h (w^2 - 1)^2 to the bottom of the right one:
//! the three predictions the claims compare with (continuum, Kramers, discrete chain).
//!
//! - the exact mean first-passage time of overdamped Langevin dynamics dw = -L'(w) dt + sqrt(2T) dW
//!   from -1 to +1, by quadrature ([`sgd_sim::first_passage`]), in time units;
//! - Kramers' asymptote 2 pi / sqrt(L''(-1) |L''(0)|) exp(h/T) = 2 pi / (sqrt(32) h) exp(h/T);
//! - the exact mean exit step of the SGD chain itself ([`crate::chain`]), whose gap to the
//!   continuum is the discretization bias of the simulation.

use crate::chain::{ChainGrid, ChainPassage};
use sgd_sim::SimError;
use sgd_sim::first_passage::{Quadrature, kramers_time, mean_first_passage_time};
use sgd_sim::potential::{DoubleWell, Potential};

/// The well's minimum, where trajectories start.
pub const START: f64 = -1.0;
/// The bottom of the other well, where they have escaped.
pub const TARGET: f64 = 1.0;
/// The wall is placed where L exceeds its minimum by this many T (the neglected mass beyond it is
/// of relative order exp(-WALL_HEIGHT_IN_T)).
pub const WALL_HEIGHT_IN_T: f64 = 40.0;

/// The point w < -1 where h (w^2 - 1)^2 = WALL_HEIGHT_IN_T * T: a reflecting wall for the quadrature
/// and the lower end of the chain's grid.
pub fn wall(well: &DoubleWell, temperature: f64) -> f64 {
    let rise = (WALL_HEIGHT_IN_T * temperature / well.height).sqrt();
    -(1.0 + rise).sqrt()
}

/// The exact mean first-passage time (time units) of the Langevin dynamics from -1 to +1.
///
/// # Errors
/// A non-positive temperature or height.
pub fn langevin_passage_time(well: &DoubleWell, temperature: f64) -> Result<f64, SimError> {
    if !(well.height > 0.0 && well.height.is_finite()) {
        return Err(SimError::InvalidInput(format!(
            "barrier height must be positive, got {}",
            well.height
        )));
    }
    let passage = mean_first_passage_time(
        |x| well.value(x),
        temperature,
        wall(well, temperature),
        START,
        TARGET,
        Quadrature { intervals: 8000 },
    )?;
    if passage.tau.is_finite() {
        Ok(passage.tau)
    } else {
        Err(SimError::InvalidInput(format!(
            "mean passage time overflows at dL/T = {}",
            well.height / temperature
        )))
    }
}

/// Kramers' asymptote (time units) for this well: L''(-1) = 8h, L''(0) = -4h.
pub fn kramers_passage_time(well: &DoubleWell, temperature: f64) -> f64 {
    kramers_time(
        well.second_derivative(START),
        well.second_derivative(0.0),
        well.height,
        temperature,
    )
}

/// The exact mean exit step of SGD with Gaussian noise of per-step variance `noise_variance`
/// (temperature eta * noise_variance / 2), from -1 to the first w >= +1.
///
/// # Errors
/// As [`ChainPassage::mean_exit_steps`].
pub fn chain_exit_steps(well: &DoubleWell, eta: f64, noise_variance: f64) -> Result<f64, SimError> {
    let temperature = eta * noise_variance / 2.0;
    let chain = ChainPassage {
        potential: well,
        eta,
        sigma: eta * noise_variance.sqrt(),
        lower: wall(well, temperature),
        start: START,
        level: TARGET,
    };
    chain.mean_exit_steps(ChainGrid::default())
}

#[cfg(test)]
// The tests compute independent references with the platform's float functions.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn wall_is_where_the_potential_reaches_its_height() {
        let well = DoubleWell { height: 1.0 };
        let x = wall(&well, 0.2);
        assert!((well.value(x) - 8.0).abs() < 1e-12 && x < -1.0);
    }

    #[test]
    fn passage_time_has_the_laplace_correction_to_kramers() {
        // Laplace's method to the next order (Bender and Orszag 6.4): with L = A u^2 + B u^3 + C u^4
        // near a minimum, int exp(-L/T) du = sqrt(pi T/A) (1 + T (15 B^2/(16 A^3) - 3 C/(4 A^2))).
        // Around w = -1, u = w + 1: L = 4u^2 - 4u^3 + u^4, factor 1 + 3T/16. Around the barrier,
        // int exp(L/T) = e^{1/T} int exp(-(2w^2 - w^4)/T): A = 2, B = 0, C = -1, factor 1 + 3T/16.
        // So tau / tau_K = 1 + (3/8) T + O(T^2) at h = 1: c(r) = r (tau/tau_K - 1) -> 3/8 as
        // r = dL/T grows, and Richardson 2 c(80) - c(40) removes the O(1/r) term, leaving
        // O(1/r^2) ~ 1e-3.
        let well = DoubleWell { height: 1.0 };
        let c = |ratio: f64| {
            let t = 1.0 / ratio;
            (langevin_passage_time(&well, t).unwrap() / kramers_passage_time(&well, t) - 1.0)
                * ratio
        };
        let limit = 2.0 * c(80.0) - c(40.0);
        assert!((limit - 0.375).abs() < 0.01, "{limit}");
    }

    #[test]
    fn kramers_landmarks() {
        // 2 pi / sqrt(8 * 4) e^{dL/T} at h = 1.
        let well = DoubleWell { height: 1.0 };
        let want = 2.0 * std::f64::consts::PI / 32f64.sqrt() * 5f64.exp();
        assert!((kramers_passage_time(&well, 0.2) / want - 1.0).abs() < 1e-14);
    }
}
