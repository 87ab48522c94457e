//! The gradient noise scales of McCandlish, Kaplan, Amodei et al. ("An empirical model of
//! large-batch training", 2018, section 2 and appendix A) and their one-step identities.
//!
//! For a loss whose Hessian H is constant along the step (a quadratic), a step w - eta g_b with an
//! unbiased minibatch gradient g_b of mean G and covariance Sigma / b (Sigma the per-example
//! covariance) changes the expected loss by exactly
//!
//!   E[L(w - eta g_b)] - L(w) = -eta G^T G + (eta^2 / 2) (G^T H G + tr(H Sigma) / b).
//!
//! Maximizing the decrease over eta gives
//!
//!   eta_opt(b) = eta_max / (1 + B_noise / b),    dL_opt(b) = dL_max / (1 + B_noise / b),
//!
//! with eta_max = G^T G / G^T H G, dL_max = (G^T G)^2 / (2 G^T H G), and the noise scale
//! B_noise = tr(H Sigma) / (G^T H G) (their eq. 2.6-2.7). Its Hessian-free surrogate is
//! B_simple = tr(Sigma) / G^T G (their eq. 2.8), and gradient diversity is kappa = 1 + B_simple.
//!
//! When w is random (an SGD iterate), every quadratic form is replaced by its expectation; the
//! identities still hold exactly for the expected one-step decrease, with G^T G -> E[G^T G], etc.

use sgd_sim::noisy_quadratic::NoisyQuadratic;

/// The four second-order quantities that set one SGD step's expected progress on a quadratic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseScales {
    /// G^T G (or its expectation).
    pub grad_sq: f64,
    /// G^T H G (or its expectation).
    pub grad_h_grad: f64,
    /// tr(Sigma), the per-example gradient covariance trace.
    pub trace_sigma: f64,
    /// tr(H Sigma).
    pub trace_h_sigma: f64,
}

impl NoiseScales {
    /// B_noise = tr(H Sigma) / G^T H G.
    pub fn b_noise(&self) -> f64 {
        self.trace_h_sigma / self.grad_h_grad
    }

    /// B_simple = tr(Sigma) / G^T G.
    pub fn b_simple(&self) -> f64 {
        self.trace_sigma / self.grad_sq
    }

    /// Gradient diversity kappa = mean ||g_i||^2 / ||G||^2 = 1 + B_simple.
    pub fn kappa(&self) -> f64 {
        1.0 + self.b_simple()
    }

    /// The noiseless optimal step eta_max = G^T G / G^T H G.
    pub fn eta_max(&self) -> f64 {
        self.grad_sq / self.grad_h_grad
    }

    /// The noiseless optimal one-step decrease dL_max = (G^T G)^2 / (2 G^T H G).
    pub fn gain_max(&self) -> f64 {
        self.grad_sq * self.grad_sq / (2.0 * self.grad_h_grad)
    }

    /// eta_opt(b) = eta_max / (1 + B_noise / b).
    pub fn optimal_rate(&self, batch: f64) -> f64 {
        self.eta_max() / (1.0 + self.b_noise() / batch)
    }

    /// dL_opt(b) = dL_max / (1 + B_noise / b).
    pub fn optimal_gain(&self, batch: f64) -> f64 {
        self.gain_max() / (1.0 + self.b_noise() / batch)
    }

    /// The expected one-step decrease eta G^T G - (eta^2 / 2)(G^T H G + tr(H Sigma) / b).
    pub fn expected_decrease(&self, eta: f64, batch: f64) -> f64 {
        eta * self.grad_sq - 0.5 * eta * eta * (self.grad_h_grad + self.trace_h_sigma / batch)
    }
}

/// The noise scales of the noisy quadratic model at expected second moments m_i = E[w_i^2]:
/// E[G^T G] = sum h_i^2 m_i, E[G^T H G] = sum h_i^3 m_i, tr(Sigma) = sum c_i, tr(H Sigma) = sum h_i c_i.
pub fn nqm_noise_scales(model: &NoisyQuadratic, moments: &[f64]) -> NoiseScales {
    let mut s = NoiseScales {
        grad_sq: 0.0,
        grad_h_grad: 0.0,
        trace_sigma: 0.0,
        trace_h_sigma: 0.0,
    };
    for ((h, c), m) in model.curvatures.iter().zip(&model.noise).zip(moments) {
        s.grad_sq += h * h * m;
        s.grad_h_grad += h * h * h * m;
        s.trace_sigma += c;
        s.trace_h_sigma += h * c;
    }
    s
}

/// The optimal one-step rate and gain found without the formulas above: the expected loss after
/// one step is evaluated by the noisy quadratic model's own moment update (the core's closed form
/// at t = 1, started from `moments`) at three step sizes, and the parabola through them, exact
/// because the expected loss is quadratic in eta, gives the argmin and the decrease there.
///
/// `probe` sets the three step sizes probe/2, probe, 3 probe/2; choose it near the optimum so
/// the differences are not lost to rounding.
pub fn one_step_optimum_by_recursion(
    model: &NoisyQuadratic,
    moments: &[f64],
    batch: f64,
    probe: f64,
) -> (f64, f64) {
    let start = NoisyQuadratic {
        curvatures: model.curvatures.clone(),
        noise: model.noise.clone(),
        initial: moments.to_vec(),
    };
    let loss0 = start.initial_loss();
    // Decreases D(eta) = L0 - E L(eta) = a eta - q eta^2 / 2 at eta = x, 2x, 3x (x = probe / 2).
    let x = 0.5 * probe;
    let d1 = loss0 - start.expected_loss(x, batch, 1.0);
    let d2 = loss0 - start.expected_loss(2.0 * x, batch, 1.0);
    let d3 = loss0 - start.expected_loss(3.0 * x, batch, 1.0);
    // Second difference: d1 - 2 d2 + d3 = -q x^2; first coefficient from D(x) and D(2x):
    // 2 D(x) - D(2x)/2 = a x (the quadratic terms cancel).
    let q = -(d1 - 2.0 * d2 + d3) / (x * x);
    let a = (2.0 * d1 - 0.5 * d2) / x;
    let eta_opt = a / q;
    (eta_opt, a * a / (2.0 * q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::{Streams, standard_normal};

    fn small_model() -> NoisyQuadratic {
        NoisyQuadratic {
            curvatures: vec![1.0, 0.4, 0.05],
            noise: vec![0.3, 1.0, 2.0],
            initial: vec![1.0, 2.0, 0.5],
        }
    }

    #[test]
    fn identities_match_the_parabola_of_the_recursion() {
        // Both sides are exact; the parabola's three-point differences lose about
        // eps * L0 / dL ~ 1e-14 relative here, so 1e-10 is a safe tolerance.
        let m = small_model();
        let s = nqm_noise_scales(&m, &m.initial);
        for b in [1.0, 3.0, 50.0, 1e4] {
            let (eta, gain) = one_step_optimum_by_recursion(&m, &m.initial, b, s.optimal_rate(b));
            assert!((eta / s.optimal_rate(b) - 1.0).abs() < 1e-10, "b {b}");
            assert!((gain / s.optimal_gain(b) - 1.0).abs() < 1e-10, "b {b}");
            // The decrease formula agrees with the recursion at an arbitrary eta too.
            let eta = 0.37;
            let direct = m.initial_loss() - m.expected_loss(eta, b, 1.0);
            assert!((s.expected_decrease(eta, b) / direct - 1.0).abs() < 1e-12);
        }
        assert!((s.kappa() - 1.0 - s.b_simple()).abs() < 1e-15);
    }

    #[test]
    fn optimal_gain_matches_a_monte_carlo_step() {
        // One SGD step from w ~ N(0, diag(m)) with Gaussian gradient noise of variance c_i / b,
        // 200,000 replicas. The decrease L0 - L(w') per replica has SD about 2 (w is O(1)), so the
        // mean's SE is about 0.005; the optimal gain here is about 0.35. Check within 5 SE.
        let m = small_model();
        let s = nqm_noise_scales(&m, &m.initial);
        let b = 4.0;
        let eta = s.optimal_rate(b);
        let streams = Streams::new(3);
        let mut rng = streams.stream("mc", 0);
        let reps = 200_000;
        let mut total = 0.0;
        let mut total_sq = 0.0;
        for _ in 0..reps {
            let mut before = 0.0;
            let mut after = 0.0;
            for i in 0..3 {
                let w = m.initial[i].sqrt() * standard_normal(&mut rng);
                let g = m.curvatures[i] * w + (m.noise[i] / b).sqrt() * standard_normal(&mut rng);
                let w2 = w - eta * g;
                before += 0.5 * m.curvatures[i] * w * w;
                after += 0.5 * m.curvatures[i] * w2 * w2;
            }
            total += before - after;
            total_sq += (before - after) * (before - after);
        }
        let mean = total / f64::from(reps);
        let se = ((total_sq / f64::from(reps) - mean * mean) / f64::from(reps)).sqrt();
        assert!(
            (mean - s.optimal_gain(b)).abs() < 5.0 * se,
            "{mean} vs {}",
            s.optimal_gain(b)
        );
    }
}
