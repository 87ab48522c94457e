//! The tilted double well L(w) = (w^2 - 1)^2 + tilt w under SGD with Gaussian gradient noise:
//! its landmarks, the equilibrium occupancy of its global well, two-state escape dynamics with
//! exact rates, and the simulation loop.
//!
//! SGD with step eta and gradient noise of variance s^2 is the Euler–Maruyama discretization, with
//! time t = eta x steps, of dw = -L'(w) dt + sqrt(2T) dW at temperature T = eta s^2 / 2. Its
//! equilibrium is the Gibbs density exp(-L/T) / Z up to O(eta) (Talay and Tubaro 1990), so the
//! equilibrium probability of the global well is
//!
//!   P_eq(T) = int_{-R}^{w_s} exp(-L/T) / int_{-R}^{R} exp(-L/T),
//!
//! with w_s the saddle and R the clamp. Between the wells the dynamics reduce to a two-state Markov
//! chain with rates k = 1 / tau, tau the exact mean first-passage time from one minimum to the other
//! (Gardiner, *Handbook of Stochastic Methods*, 5.2.7, computed by `sgd_sim::first_passage`); over a
//! stage of constant T and duration t the global-well probability relaxes as
//! p(t) = p_inf + (p(0) - p_inf) exp(-(k_lg + k_gl) t), p_inf = k_lg / (k_lg + k_gl). The reduction
//! holds when the barrier is several T high; at higher T it is a guide.

use claim_spec::ExperimentError;
use sgd_sim::first_passage::{Quadrature, mean_first_passage_time};
use sgd_sim::math::{exp, exp_m1};
use sgd_sim::potential::{Potential, TiltedDoubleWell};
use sgd_sim::quadrature::simpson;
use sgd_sim::rng::{Stream, standard_normal};

/// The critical points of the tilted double well.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Landmarks {
    /// The global minimum (left, for positive tilt).
    pub global_min: f64,
    /// The barrier top between the wells.
    pub saddle: f64,
    /// The shallow (local) minimum.
    pub local_min: f64,
}

/// A root of L' on [lo, hi] by bisection (L' changes sign on the bracket); 200 halvings reach the
/// resolution of f64.
fn bisect(p: &TiltedDoubleWell, mut lo: f64, mut hi: f64) -> f64 {
    let f_lo = p.derivative(lo);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if (p.derivative(mid) > 0.0) == (f_lo > 0.0) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The three critical points of L. L'(w) = 4w^3 - 4w + tilt has three real roots, one on each side
/// of L'' = 0 at w = +-1/sqrt(3), when |tilt| < 8 / (3 sqrt 3).
///
/// # Errors
/// When the tilt is too large for two wells, or not finite.
pub fn landmarks(p: &TiltedDoubleWell) -> Result<Landmarks, ExperimentError> {
    let limit = 8.0 / (3.0 * 3f64.sqrt());
    if !p.tilt.is_finite() || p.tilt.abs() >= limit {
        return Err(ExperimentError::InvalidParams(format!(
            "a tilt of {} leaves one well (|tilt| must be below {limit})",
            p.tilt
        )));
    }
    let knee = 1.0 / 3f64.sqrt();
    let (left, mid, right) = (
        bisect(p, -3.0, -knee),
        bisect(p, -knee, knee),
        bisect(p, knee, 3.0),
    );
    let (global_min, local_min) = if p.value(left) <= p.value(right) {
        (left, right)
    } else {
        (right, left)
    };
    Ok(Landmarks {
        global_min,
        saddle: mid,
        local_min,
    })
}

/// Whether `w` lies on the global minimum's side of the saddle.
#[inline]
pub fn in_global_well(l: &Landmarks, w: f64) -> bool {
    (w - l.saddle) * (l.global_min - l.saddle) > 0.0
}

/// P_eq(T): the Gibbs probability of the global well on [-clamp, clamp], by Simpson's rule with
/// `intervals` intervals on each side of the saddle.
pub fn gibbs_global_probability(
    p: &TiltedDoubleWell,
    l: &Landmarks,
    temperature: f64,
    clamp: f64,
    intervals: usize,
) -> f64 {
    let floor = p.value(l.global_min);
    let density = |w: f64| exp(-(p.value(w) - floor) / temperature);
    let left = simpson(density, -clamp, l.saddle, intervals);
    let right = simpson(density, l.saddle, clamp, intervals);
    let global = if l.global_min < l.saddle { left } else { right };
    global / (left + right)
}

/// Escape rates 1/tau between the minima at temperature T, with reflecting walls at +-clamp:
/// (local -> global, global -> local).
///
/// # Errors
/// When the quadrature fails.
pub fn escape_rates(
    p: &TiltedDoubleWell,
    l: &Landmarks,
    temperature: f64,
    clamp: f64,
) -> Result<(f64, f64), ExperimentError> {
    let quad = Quadrature { intervals: 8000 };
    // mean_first_passage_time runs upwards (lower < x0 < b); mirror w -> -w for a downward passage.
    let passage = |from: f64, to: f64| -> Result<f64, ExperimentError> {
        let t = if from < to {
            mean_first_passage_time(|w| p.value(w), temperature, -clamp, from, to, quad)?
        } else {
            mean_first_passage_time(|w| p.value(-w), temperature, -clamp, -from, -to, quad)?
        };
        Ok(exp(-t.ln_tau))
    };
    Ok((
        passage(l.local_min, l.global_min)?,
        passage(l.global_min, l.local_min)?,
    ))
}

/// The two-state master equation over stages of (rates, duration): the global-well probability at
/// the end, from `p0`.
pub fn two_state_probability(p0: f64, stages: &[((f64, f64), f64)]) -> f64 {
    let mut p = p0;
    for &((k_lg, k_gl), duration) in stages {
        let total = k_lg + k_gl;
        if total <= 0.0 {
            continue;
        }
        let p_inf = k_lg / total;
        // p_inf + (p - p_inf) e^{-kt}, with 1 - e^{-kt} = -expm1(-kt) for small kt.
        p += (p_inf - p) * (-exp_m1(-total * duration));
    }
    p
}

/// One SGD stage on the well for `K` independent trajectories advanced in lockstep (independent
/// dependency chains overlap in the CPU): `steps` steps of w <- clamp(w - eta (L'(w) + s xi)),
/// recording L(w) every `record_every` steps into `losses[j]`. Lane j draws only from `rngs[j]`, in
/// the same order as alone, so each trajectory is bit-identical to a run with K = 1.
#[allow(clippy::too_many_arguments)]
pub fn well_stage<const K: usize>(
    p: &TiltedDoubleWell,
    w: &mut [f64; K],
    eta: f64,
    noise_std: f64,
    clamp: f64,
    steps: u64,
    record_every: u64,
    rngs: &mut [Stream; K],
    losses: &mut [Vec<f64>; K],
) {
    let kick = eta * noise_std;
    let mut x = *w;
    for _ in 0..steps / record_every {
        for _ in 0..record_every {
            for j in 0..K {
                let xi = standard_normal(&mut rngs[j]);
                x[j] = (x[j] - (eta * p.derivative(x[j]) + kick * xi)).clamp(-clamp, clamp);
            }
        }
        for j in 0..K {
            losses[j].push(p.value(x[j]));
        }
    }
    *w = x;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landmarks_are_critical_points() {
        let p = TiltedDoubleWell { tilt: 0.15 };
        let l = landmarks(&p).unwrap();
        for w in [l.global_min, l.saddle, l.local_min] {
            assert!(
                p.derivative(w).abs() < 1e-12,
                "L'({w}) = {}",
                p.derivative(w)
            );
        }
        assert!(l.global_min < l.saddle && l.saddle < l.local_min);
        assert!(p.value(l.global_min) < p.value(l.local_min));
        assert!(in_global_well(&l, -0.5) && !in_global_well(&l, 0.5));
        assert!(landmarks(&TiltedDoubleWell { tilt: 2.0 }).is_err());
    }

    #[test]
    fn symmetric_well_splits_evenly() {
        // tilt 0: L is even, so P_eq = 1/2 up to quadrature error (Simpson, O(h^4)).
        let p = TiltedDoubleWell { tilt: 0.0 };
        let l = landmarks(&p).unwrap();
        for t in [0.05, 0.3, 2.0] {
            let v = gibbs_global_probability(&p, &l, t, 2.5, 4000);
            assert!((v - 0.5).abs() < 1e-9, "T = {t}: {v}");
        }
    }

    #[test]
    // The reference is computed independently, with the platform's float functions.
    #[allow(clippy::disallowed_methods)]
    fn gibbs_probability_approaches_laplace_at_low_temperature() {
        // Laplace: P_g / P_l -> exp(-(L_g - L_l)/T) sqrt(L''_l / L''_g), with relative corrections
        // O(T) (about 1% at T = 0.01 for these curvatures).
        let p = TiltedDoubleWell { tilt: 0.15 };
        let l = landmarks(&p).unwrap();
        let t = 0.01;
        let v = gibbs_global_probability(&p, &l, t, 2.5, 20_000);
        let ratio = v / (1.0 - v);
        let laplace = ((p.value(l.local_min) - p.value(l.global_min)) / t).exp()
            * (p.second_derivative(l.local_min) / p.second_derivative(l.global_min)).sqrt();
        assert!((ratio / laplace - 1.0).abs() < 0.03, "{ratio} vs {laplace}");
    }

    #[test]
    fn two_state_equilibrium_matches_gibbs() {
        // The rates' equilibrium k_lg / (k_lg + k_gl) is the fraction of time since the last
        // minimum visited was the global one; it differs from the Gibbs split at the saddle only by
        // the time spent between the saddle and the next minimum, a fraction O(T / barrier) of the
        // barrier-crossing time. At T = 0.1 both agree within 1% (absolute).
        let p = TiltedDoubleWell { tilt: 0.15 };
        let l = landmarks(&p).unwrap();
        let (k_lg, k_gl) = escape_rates(&p, &l, 0.1, 2.5).unwrap();
        let eq = two_state_probability(0.0, &[((k_lg, k_gl), 1e12)]);
        let gibbs = gibbs_global_probability(&p, &l, 0.1, 2.5, 8000);
        assert!((eq - gibbs).abs() < 0.01, "{eq} vs {gibbs}");
    }

    #[test]
    // The reference is computed independently, with the platform's float functions.
    #[allow(clippy::disallowed_methods)]
    fn two_state_stages_compose() {
        // Two stages with the same rates equal one stage of the summed duration.
        let rates = (0.3, 0.1);
        let a = two_state_probability(0.2, &[(rates, 1.5), (rates, 2.5)]);
        let b = two_state_probability(0.2, &[(rates, 4.0)]);
        assert!((a - b).abs() < 1e-15);
        // Closed form p(t) = p_inf + (p0 - p_inf) e^{-kt}.
        let want = 0.75 + (0.2 - 0.75) * (-0.4f64 * 4.0).exp();
        assert!((b - want).abs() < 1e-15);
    }

    #[test]
    fn well_stage_without_noise_descends_to_the_minimum() {
        // With s = 0 the iteration is gradient descent: from 0.9 it converges to the local minimum.
        let p = TiltedDoubleWell { tilt: 0.15 };
        let l = landmarks(&p).unwrap();
        let mut w = [0.9];
        let mut losses = [Vec::new()];
        let mut rng = [sgd_sim::rng::Streams::new(1).stream("t", 0)];
        well_stage(
            &p,
            &mut w,
            0.01,
            0.0,
            2.5,
            5000,
            1000,
            &mut rng,
            &mut losses,
        );
        assert!((w[0] - l.local_min).abs() < 1e-10);
        assert_eq!(losses[0].len(), 5);
    }

    #[test]
    fn lockstep_lanes_equal_single_runs() {
        // Four lanes give, bit for bit, the trajectories each stream gives alone.
        let p = TiltedDoubleWell { tilt: 0.15 };
        let streams = sgd_sim::rng::Streams::new(8);
        let mut w4 = [1.0; 4];
        let mut rngs4: [Stream; 4] = std::array::from_fn(|j| streams.stream("w", j as u64));
        let mut l4: [Vec<f64>; 4] = Default::default();
        well_stage(&p, &mut w4, 0.01, 6.0, 2.5, 3000, 500, &mut rngs4, &mut l4);
        for j in 0..4 {
            let mut w1 = [1.0];
            let mut rng1 = [streams.stream("w", j as u64)];
            let mut l1: [Vec<f64>; 1] = Default::default();
            well_stage(&p, &mut w1, 0.01, 6.0, 2.5, 3000, 500, &mut rng1, &mut l1);
            assert_eq!(w1[0].to_bits(), w4[j].to_bits());
            assert_eq!(l1[0], l4[j]);
        }
    }
}
