//! Stationary laws of the Langevin chains, by quadrature: the Gibbs density, the Ito stationary
//! density of state-dependent noise, and the exact stationary law of the discrete Euler chain.
//!
//! - Gibbs: p(w) = exp(-L(w)/T) / Z, the stationary density of dw = -L' dt + sqrt(2T) dW.
//! - Ito: with a state-dependent diffusion D(w), the zero-flux solution of the Fokker–Planck
//!   equation 0 = d/dw [L' p + d/dw (D p)] is p(w) = D(w)^-1 exp(-int_0^w L'(u)/D(u) du) / Z
//!   (Gardiner, *Handbook of Stochastic Methods*, 5.2.2; Risken, *The Fokker–Planck Equation*, 5.1).
//! - Euler chain: the step w' = w - eta L'(w) + sqrt(2 eta D(w)) xi has the Gaussian kernel
//!   K(w'|w) = N(w'; mu(w), s(w)^2), mu = w - eta L', s^2 = 2 eta D, and its stationary density solves
//!   p(y) = int p(x) K(y|x) dx. The Nystrom method (Press et al., *Numerical Recipes*, 3rd ed., 19.1)
//!   replaces the integral by the trapezoid rule on a grid x_i: p_j = sum_i omega_i p_i K(x_j|x_i).
//!   The integrand is analytic in a strip of half-width about s, so the trapezoid error falls like
//!   exp(-2 pi^2 (s/h)^2) (Trefethen and Weideman 2014); with h <= s/2 it is below 1e-30. The law
//!   between nodes is the Nystrom interpolant p(y) = sum_i omega_i p_i K(y|x_i), a Gaussian
//!   mixture, so bin masses are exact sums of normal CDFs. This is the chain's law at finite eta,
//!   which carries the O(eta) discretization bias the claims measure.

use crate::landscape::Diffusion;
use ndarray::{Array1, Array2};
use sgd_sim::SimError;
use sgd_sim::linalg::solve;
use sgd_sim::math::{exp, ln};
use sgd_sim::potential::Potential;

/// The standard normal CDF Phi(z) = erfc(-z / sqrt 2) / 2 (pure-Rust libm), with -z multiplied by
/// 1/sqrt 2. `sgd_sim::stats::normal_cdf` divides by sqrt 2 instead, which differs in the last bit
/// and moves the golden-section fit of `gibbs-stationary` by about 1e-10 relative; this copy stays
/// until sgd-sim offers this rounding (a request is filed), so the ported results keep their bits.
#[inline]
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z * std::f64::consts::FRAC_1_SQRT_2)
}

/// E|b + s Z| for Z ~ N(0, 1): the mean of a folded normal,
/// s sqrt(2/pi) exp(-b^2/(2 s^2)) + b (1 - 2 Phi(-b/s)) (Leone, Nelson and Nottingham 1961).
pub fn folded_normal_mean(b: f64, s: f64) -> f64 {
    if s <= 0.0 {
        return b.abs();
    }
    let r = b / s;
    s * (2.0 / std::f64::consts::PI).sqrt() * exp(-0.5 * r * r) + b * (1.0 - 2.0 * normal_cdf(-r))
}

/// A normalized density tabulated on a uniform grid, integrated by Simpson's rule.
#[derive(Clone, Debug, PartialEq)]
pub struct DensityGrid {
    /// The first node.
    pub lo: f64,
    /// The node spacing.
    pub step: f64,
    /// The normalized density at the nodes.
    pub density: Vec<f64>,
    /// The trapezoid CDF at the nodes (for sampling initial states only).
    cdf: Vec<f64>,
}

impl DensityGrid {
    /// A density proportional to exp(log_density(w)) on [lo, hi] with `intervals` (even) intervals.
    ///
    /// # Errors
    /// An odd or zero interval count, an empty range, or a non-finite log-density.
    pub fn from_log_density(
        lo: f64,
        hi: f64,
        intervals: usize,
        log_density: impl Fn(f64) -> f64,
    ) -> Result<Self, SimError> {
        let step = check_grid(lo, hi, intervals)?;
        let logs: Vec<f64> = (0..=intervals)
            .map(|k| log_density(lo + k as f64 * step))
            .collect();
        Self::from_logs(lo, step, &logs)
    }

    /// The Gibbs density exp(-L/T)/Z of `potential` at temperature `temperature`.
    ///
    /// # Errors
    /// As [`DensityGrid::from_log_density`], or a non-positive temperature.
    pub fn gibbs<P: Potential>(
        potential: &P,
        temperature: f64,
        lo: f64,
        hi: f64,
        intervals: usize,
    ) -> Result<Self, SimError> {
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(SimError::InvalidInput(format!(
                "temperature must be positive, got {temperature}"
            )));
        }
        Self::from_log_density(lo, hi, intervals, |w| -potential.value(w) / temperature)
    }

    /// The Ito stationary density D^-1 exp(-int_0^w L'/D) / Z of a [`Diffusion`].
    ///
    /// # Errors
    /// As [`DensityGrid::ito_with`].
    pub fn ito<P: Potential>(
        potential: &P,
        diffusion: &Diffusion,
        lo: f64,
        hi: f64,
        intervals: usize,
    ) -> Result<Self, SimError> {
        Self::ito_with(potential, |w| diffusion.at(w), lo, hi, intervals)
    }

    /// The Ito stationary density D^-1 exp(-Phi) / Z for any diffusion coefficient D(w). The
    /// potential of mean force Phi(w) = int_lo^w L'/D is integrated interval by interval with
    /// Simpson's rule (midpoint evaluation, error O(h^4)); its constant cancels in Z.
    ///
    /// # Errors
    /// As [`DensityGrid::from_log_density`], or D not positive on the grid.
    pub fn ito_with<P: Potential>(
        potential: &P,
        diffusion: impl Fn(f64) -> f64,
        lo: f64,
        hi: f64,
        intervals: usize,
    ) -> Result<Self, SimError> {
        let step = check_grid(lo, hi, intervals)?;
        if (0..=2 * intervals).any(|k| {
            let d = diffusion(lo + 0.5 * k as f64 * step);
            !(d > 0.0 && d.is_finite())
        }) {
            return Err(SimError::InvalidInput(
                "the diffusion must be positive and finite on the grid".into(),
            ));
        }
        let drift_over_d = |w: f64| potential.derivative(w) / diffusion(w);
        let mut logs = Vec::with_capacity(intervals + 1);
        let mut phi = 0.0;
        logs.push(-ln(diffusion(lo)));
        for k in 0..intervals {
            let a = lo + k as f64 * step;
            let b = lo + (k + 1) as f64 * step;
            phi += step / 6.0
                * (drift_over_d(a) + 4.0 * drift_over_d(0.5 * (a + b)) + drift_over_d(b));
            logs.push(-phi - ln(diffusion(b)));
        }
        Self::from_logs(lo, step, &logs)
    }

    fn from_logs(lo: f64, step: f64, logs: &[f64]) -> Result<Self, SimError> {
        if logs.iter().any(|v| !v.is_finite()) {
            return Err(SimError::InvalidInput(
                "log-density is not finite on the grid".into(),
            ));
        }
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let raw: Vec<f64> = logs.iter().map(|l| exp(l - top)).collect();
        let total = simpson_nodes(&raw, step);
        let density: Vec<f64> = raw.iter().map(|v| v / total).collect();
        let mut cdf = Vec::with_capacity(density.len());
        let mut acc = 0.0;
        cdf.push(0.0);
        for w in density.windows(2) {
            acc += 0.5 * step * (w[0] + w[1]);
            cdf.push(acc);
        }
        Ok(Self {
            lo,
            step,
            density,
            cdf,
        })
    }

    /// The last node.
    pub fn hi(&self) -> f64 {
        self.lo + (self.density.len() - 1) as f64 * self.step
    }

    /// The node index of `x`, if x is a node (to 1e-9 of a step).
    fn node(&self, x: f64) -> Option<usize> {
        let pos = (x - self.lo) / self.step;
        let k = pos.round();
        ((pos - k).abs() < 1e-9 && k >= 0.0 && (k as usize) < self.density.len())
            .then_some(k as usize)
    }

    /// The probability of [a, b], both nodes an even number of intervals apart (Simpson's rule).
    ///
    /// # Errors
    /// When a or b is not a node, or they are an odd number of intervals apart.
    pub fn mass(&self, a: f64, b: f64) -> Result<f64, SimError> {
        let (i, j) = match (self.node(a), self.node(b)) {
            (Some(i), Some(j)) if i <= j && (j - i) % 2 == 0 => (i, j),
            _ => {
                return Err(SimError::InvalidInput(format!(
                    "[{a}, {b}] is not an even number of grid intervals of the density"
                )));
            }
        };
        Ok(if i == j {
            0.0
        } else {
            simpson_nodes(&self.density[i..=j], self.step)
        })
    }

    /// The w at which the (trapezoid) CDF reaches u, by linear interpolation: used to draw
    /// initial states, whose exact law the burn-in forgets.
    pub fn inverse_cdf(&self, u: f64) -> f64 {
        let total = self.cdf[self.cdf.len() - 1];
        let target = u.clamp(0.0, 1.0) * total;
        let k = self.cdf.partition_point(|&c| c < target).max(1);
        let (c0, c1) = (self.cdf[k - 1], self.cdf[k]);
        let frac = if c1 > c0 {
            (target - c0) / (c1 - c0)
        } else {
            0.0
        };
        self.lo + (k as f64 - 1.0 + frac) * self.step
    }
}

fn check_grid(lo: f64, hi: f64, intervals: usize) -> Result<f64, SimError> {
    if !(lo.is_finite() && hi.is_finite() && lo < hi)
        || intervals == 0
        || !intervals.is_multiple_of(2)
    {
        return Err(SimError::InvalidInput(format!(
            "a density grid needs lo < hi and an even number of intervals, got [{lo}, {hi}], {intervals}"
        )));
    }
    Ok((hi - lo) / intervals as f64)
}

/// Composite Simpson over node values (an even number of intervals).
fn simpson_nodes(values: &[f64], step: f64) -> f64 {
    let n = values.len() - 1;
    let mut s = values[0] + values[n];
    for (k, v) in values.iter().enumerate().take(n).skip(1) {
        s += if k % 2 == 1 { 4.0 * v } else { 2.0 * v };
    }
    s * step / 3.0
}

/// The stationary law of the Euler chain w' = w - eta L'(w) + sqrt(2 eta D(w)) xi, as the Gaussian
/// mixture sum_i m_i N(mu_i, s_i^2) of its Nystrom solution (module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct EulerChainLaw {
    /// Component means mu(x_i) = x_i - eta L'(x_i).
    pub means: Vec<f64>,
    /// Component standard deviations s(x_i) = sqrt(2 eta D(x_i)).
    pub sds: Vec<f64>,
    /// Component masses omega_i p_i, summing to 1.
    pub masses: Vec<f64>,
}

impl EulerChainLaw {
    /// Solves for the stationary law on the symmetric grid [-half_width, half_width], with node
    /// spacing at most min(s_min / 2, width of D / 5, 0.02) and a node at 0 (the kink of the
    /// compressed well). Mass that the kernel sends outside the grid is lost; it is below
    /// exp(-(L(edge) - min L)/T) and negligible for the domains used here.
    ///
    /// # Errors
    /// Non-positive eta or half-width, a singular system, or a law with negative mass.
    pub fn solve<P: Potential>(
        potential: &P,
        diffusion: &Diffusion,
        eta: f64,
        half_width: f64,
    ) -> Result<Self, SimError> {
        Self::solve_with_step(potential, diffusion, eta, half_width, 0.02)
    }

    /// As [`EulerChainLaw::solve`] with the cap on the node spacing set to `max_step` instead of
    /// 0.02. A kink of L' (the compressed well's jump of L'' at 0) makes the integrand only
    /// piecewise smooth: the trapezoid error there is O(h^2) (Euler–Maclaurin), so such potentials
    /// need a finer cap.
    ///
    /// # Errors
    /// As [`EulerChainLaw::solve`], or a non-positive `max_step`.
    pub fn solve_with_step<P: Potential>(
        potential: &P,
        diffusion: &Diffusion,
        eta: f64,
        half_width: f64,
        max_step: f64,
    ) -> Result<Self, SimError> {
        if !(max_step > 0.0 && max_step.is_finite()) {
            return Err(SimError::InvalidInput(format!(
                "the node spacing cap must be positive, got {max_step}"
            )));
        }
        if !(eta > 0.0 && eta.is_finite() && half_width > 0.0 && half_width.is_finite()) {
            return Err(SimError::InvalidInput(format!(
                "the Euler chain law needs eta > 0 and a positive half-width, got {eta}, {half_width}"
            )));
        }
        let s_min = (2.0 * eta * diffusion.minimum()).sqrt();
        let h_max = (s_min / 2.0)
            .min(diffusion.length_scale() / 5.0)
            .min(max_step);
        let half_intervals = (half_width / h_max).ceil() as usize;
        let n = 2 * half_intervals + 1;
        let h = half_width / half_intervals as f64;
        let nodes: Vec<f64> = (0..n)
            .map(|k| (k as f64 - half_intervals as f64) * h)
            .collect();
        let means: Vec<f64> = nodes
            .iter()
            .map(|&x| x - eta * potential.derivative(x))
            .collect();
        let sds: Vec<f64> = nodes
            .iter()
            .map(|&x| (2.0 * eta * diffusion.at(x)).sqrt())
            .collect();
        let weights: Vec<f64> = (0..n)
            .map(|k| if k == 0 || k == n - 1 { 0.5 * h } else { h })
            .collect();
        let norm = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
        let mut a = Array2::<f64>::zeros((n, n));
        for i in 0..n {
            let (mu, s) = (means[i], sds[i]);
            let c = weights[i] * norm / s;
            for j in 0..n - 1 {
                let z = (nodes[j] - mu) / s;
                a[[j, i]] = c * exp(-0.5 * z * z);
            }
        }
        for j in 0..n - 1 {
            a[[j, j]] -= 1.0;
        }
        // The last equation (at the far edge, where p ~ 0) becomes the normalization.
        for i in 0..n {
            a[[n - 1, i]] = weights[i];
        }
        let mut rhs = Array1::<f64>::zeros(n);
        rhs[n - 1] = 1.0;
        let p = solve(&a, &rhs)?;
        let masses: Vec<f64> = p.iter().zip(&weights).map(|(p, w)| p * w).collect();
        let most_negative = masses.iter().copied().fold(0.0, f64::min);
        if most_negative < -1e-9 || masses.iter().any(|m| !m.is_finite()) {
            return Err(SimError::LinearAlgebra(format!(
                "the Nystrom solution has a negative or non-finite mass ({most_negative:e})"
            )));
        }
        Ok(Self { means, sds, masses })
    }

    /// The stationary probability of [a, b].
    pub fn mass_between(&self, a: f64, b: f64) -> f64 {
        self.means
            .iter()
            .zip(&self.sds)
            .zip(&self.masses)
            .map(|((mu, s), m)| m * (normal_cdf((b - mu) / s) - normal_cdf((a - mu) / s)))
            .sum()
    }

    /// The stationary probability of w > x.
    pub fn mass_above(&self, x: f64) -> f64 {
        self.means
            .iter()
            .zip(&self.sds)
            .zip(&self.masses)
            .map(|((mu, s), m)| m * normal_cdf((mu - x) / s))
            .sum()
    }

    /// The stationary density at y.
    pub fn density(&self, y: f64) -> f64 {
        let norm = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
        self.means
            .iter()
            .zip(&self.sds)
            .zip(&self.masses)
            .map(|((mu, s), m)| {
                let z = (y - mu) / s;
                m * norm / s * exp(-0.5 * z * z)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::landscape::CompressedDoubleWell;
    use sgd_sim::potential::{DoubleWell, FnPotential};

    #[test]
    fn gibbs_occupancy_of_the_compressed_well_is_the_volume_factor() {
        // The right branch is the left one compressed by c, so int_0^inf exp(-L/T) is 1/c of the
        // left integral: P(w > 0) = 1/(1 + c) exactly at every T. Simpson with h = 1e-3 on this
        // smooth-by-pieces integrand (0 is a panel edge) is accurate to ~1e-12.
        for (c, t) in [(2.0, 0.5), (3.0, 0.2), (1.5, 1.0)] {
            let p = CompressedDoubleWell { compression: c };
            let g = DensityGrid::gibbs(&p, t, -3.0, 3.0, 6000).unwrap();
            let right = g.mass(0.0, 3.0).unwrap();
            assert!((right - 1.0 / (1.0 + c)).abs() < 1e-10, "c={c}: {right}");
            assert!((g.mass(-3.0, 3.0).unwrap() - 1.0).abs() < 1e-14);
        }
    }

    #[test]
    fn ito_density_with_constant_noise_is_gibbs() {
        // Phi = L/T when D = T; the Simpson integral of L'/T reproduces L/T to O(h^4) ~ 1e-13.
        let p = DoubleWell { height: 1.0 };
        let d = Diffusion::Constant { temperature: 0.5 };
        let g = DensityGrid::gibbs(&p, 0.5, -3.0, 3.0, 2400).unwrap();
        let i = DensityGrid::ito(&p, &d, -3.0, 3.0, 2400).unwrap();
        for (a, b) in g.density.iter().zip(&i.density) {
            assert!((a - b).abs() < 1e-10 * (1.0 + a), "{a} vs {b}");
        }
    }

    #[test]
    fn ito_density_matches_a_closed_form() {
        // L = a w^2/2 and D = T (1 + k w^2): Phi = (a/(2 T k)) ln(1 + k w^2), so
        // p ~ (1 + k w^2)^-(1 + a/(2Tk)). With a/(2Tk) = 1 the exponent is -2 and
        // int_0^x (1 + k w^2)^-2 dw = x/(2(1 + k x^2)) + atan(sqrt(k) x)/(2 sqrt k). The grid
        // ends at |w| = 40, where the neglected tail is ~ 1/(3 k^2 40^3) ~ 2e-6 of the mass: compare
        // masses normalized over the same window, to 1e-9 (Simpson with h = 2e-3).
        let (a, t, k) = (2.0, 0.5, 2.0);
        let p = FnPotential {
            value: move |w: f64| 0.5 * a * w * w,
            derivative: move |w: f64| a * w,
            second_derivative: move |_w: f64| a,
        };
        let d = FnDiffusionQuadratic { t, k };
        let grid = DensityGrid::ito_with(&p, |w| d.at(w), -40.0, 40.0, 40_000).unwrap();
        let prim = |x: f64| {
            x / (2.0 * (1.0 + k * x * x)) + sgd_sim::math::atan(k.sqrt() * x) / (2.0 * k.sqrt())
        };
        let total = 2.0 * prim(40.0);
        for x in [0.2, 0.5, 1.0, 3.0] {
            let want = prim(x) / total;
            let got = grid.mass(0.0, x).unwrap();
            assert!((got - want).abs() < 1e-9, "x={x}: {got} vs {want}");
        }
    }

    struct FnDiffusionQuadratic {
        t: f64,
        k: f64,
    }
    impl FnDiffusionQuadratic {
        fn at(&self, w: f64) -> f64 {
            self.t * (1.0 + self.k * w * w)
        }
    }

    #[test]
    fn euler_chain_law_of_an_ou_process_is_exact() {
        // L = a w^2/2, D = T: the chain is AR(1), w' = (1 - eta a) w + sqrt(2 eta T) xi, whose
        // stationary law is N(0, 2 eta T / (1 - (1 - eta a)^2)) exactly. The Nystrom solution has
        // trapezoid error ~ exp(-2 pi^2 4), the grid |w| <= 4 loses < 1e-15 of the mass beyond 8
        // standard deviations, and the LU solve loses about cond ~ 1e3 ulps: 1e-10.
        for (a, t, eta) in [(8.0, 0.5, 0.01), (32.0, 0.5, 0.002), (1.0, 0.2, 0.1)] {
            let p = FnPotential {
                value: move |w: f64| 0.5 * a * w * w,
                derivative: move |w: f64| a * w,
                second_derivative: move |_w: f64| a,
            };
            let law = EulerChainLaw::solve(&p, &Diffusion::Constant { temperature: t }, eta, 4.0)
                .unwrap();
            let var = 2.0 * eta * t / (1.0 - (1.0 - eta * a) * (1.0 - eta * a));
            let sd = var.sqrt();
            for (lo, hi) in [(-0.1, 0.1), (0.05, 0.3), (-2.0, -0.2)] {
                let want = normal_cdf(hi / sd) - normal_cdf(lo / sd);
                let got = law.mass_between(lo, hi);
                assert!((got - want).abs() < 1e-10, "a={a}: {got} vs {want}");
            }
            assert!((law.mass_between(-10.0, 10.0) - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn euler_chain_law_tends_to_the_ito_density_linearly_in_eta() {
        // The chain's law is p_eta = p_Ito (1 + eta q) + O(eta^2) (Talay and Tubaro 1990), so the
        // Richardson combination 2 P(eta/2) - P(eta) of the sharp-side occupancy removes the O(eta)
        // term. For the logistic-noise compressed well at T = 0.5, the O(eta) shift at eta = 0.004 is
        // of order 1e-3; the extrapolation must land within 2e-4 of the quadrature (an O(eta^2)
        // remainder ~ (eta q)^2 with q ~ 10), and the two raw values must straddle nothing absurd.
        let p = CompressedDoubleWell { compression: 2.0 };
        let d = Diffusion::Logistic {
            temperature: 0.5,
            gain: 3.0,
            width: 0.05,
        };
        let ito = DensityGrid::ito(&p, &d, -3.0, 3.0, 12_000).unwrap();
        let p_ito = ito.mass(0.0, 3.0).unwrap();
        let at = |eta: f64| {
            EulerChainLaw::solve(&p, &d, eta, 2.6)
                .unwrap()
                .mass_above(0.0)
        };
        let (coarse, fine) = (at(0.004), at(0.002));
        let extrapolated = 2.0 * fine - coarse;
        assert!(
            (extrapolated - p_ito).abs() < 2e-4,
            "P_ito {p_ito}, P(0.004) {coarse}, P(0.002) {fine}"
        );
    }

    #[test]
    fn folded_normal_limits() {
        assert!((folded_normal_mean(0.0, 1.0) - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-15);
        assert!((folded_normal_mean(30.0, 1.0) - 30.0).abs() < 1e-12);
        assert_eq!(folded_normal_mean(-2.0, 0.0), 2.0);
    }

    #[test]
    fn inverse_cdf_inverts() {
        let g = DensityGrid::gibbs(&DoubleWell { height: 1.0 }, 0.5, -3.0, 3.0, 6000).unwrap();
        assert!(g.inverse_cdf(0.5).abs() < 1e-9);
        // The Gibbs density of the symmetric well is even, so its quantiles are odd.
        assert!((g.inverse_cdf(0.2) + g.inverse_cdf(0.8)).abs() < 1e-9);
        assert!(g.inverse_cdf(0.2) < -0.5 && g.inverse_cdf(0.0) == -3.0);
    }

    #[test]
    fn the_kink_of_the_compressed_well_costs_second_order_in_the_grid_step() {
        // L'' jumps at 0, so the trapezoid rule loses its spectral accuracy there and the Nystrom
        // solution converges as O(h^2) (Euler–Maclaurin): halving the cap 0.02 -> 0.01 -> 0.005
        // must shrink the change of P(w > 0) by a factor near 4 (3 to 5), and the change at the
        // last halving bounds the error left at 0.005, which the claim's 0.01 is 4x.
        let p = CompressedDoubleWell { compression: 2.0 };
        let d = Diffusion::Constant { temperature: 0.5 };
        let at = |h: f64| {
            EulerChainLaw::solve_with_step(&p, &d, 0.002, 3.0, h)
                .unwrap()
                .mass_above(0.0)
        };
        let (a, b, c) = (at(0.02), at(0.01), at(0.005));
        let ratio = (b - a) / (c - b);
        assert!((3.0..5.0).contains(&ratio), "{a} {b} {c}: ratio {ratio}");
        // Error at 0.01 ~ 4/3 (c - b): below 1e-4, a tenth of the occupancy's standard error.
        assert!((c - b).abs() * 4.0 / 3.0 < 1e-4);
    }
}
