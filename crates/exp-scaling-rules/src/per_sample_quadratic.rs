//! The one-dimensional least-squares problem of `instability-remedies`: per-sample curvatures
//! a_i ~ Gamma(shape, scale) (the model of `linear-stability-batch`) plus label noise, so the
//! optimum does not interpolate.
//!
//! Sample i has input x_i = sqrt(a_i) and label y_i = sigma eps_i (teacher w* = 0), loss
//! l_i(w) = (x_i w - y_i)^2 / 2 and gradient a_i w - x_i y_i. A minibatch B gives the gradient
//! a_B w - (xy)_B with a_B, (xy)_B the batch means, so SGD is the random affine recursion
//!
//!   w - w_opt <- (1 - eta a_B)(w - w_opt) + eta ((xy)_B - a_B w_opt),
//!
//! whose driving term has mean zero. Its homogeneous part contracts E[(w - w_opt)^2] by the
//! mean-square factor rho(eta, b) = E[(1 - eta a_B)^2] = (1 - eta abar)^2 + eta^2 var(a) (N-b)/(b(N-1))
//! without replacement (Wu, Ma and E 2018; `sgd_sim::stability`): with rho < 1 the second moment
//! settles, with rho >= 1 it grows without bound. A single trajectory contracts instead when
//! E ln|1 - eta a_B| < 0 (the top Lyapunov exponent of the product of factors; Kesten 1973), which
//! for b = 1 is the average of ln|1 - eta a_i| over the samples.

use claim_spec::ExperimentError;
use sgd_sim::math::ln;
use sgd_sim::rng::{Streams, gamma, standard_normal};
use sgd_sim::sampler::SamplerKind;
use sgd_sim::stability::{curvature_moments, mean_square_factor, mean_square_threshold};

/// The data set and its exact summaries.
#[derive(Clone, Debug, PartialEq)]
pub struct PerSampleQuadratic {
    /// Per-sample curvatures a_i = x_i^2.
    pub curvatures: Vec<f64>,
    /// Products x_i y_i.
    pub input_label: Vec<f64>,
    /// abar, the mean curvature.
    pub mean_curvature: f64,
    /// var(a), the population variance of the curvatures (divisor N).
    pub curvature_variance: f64,
    /// The full-batch minimizer w_opt = mean(x y) / abar.
    pub optimum: f64,
    /// The minimum of the full-batch loss, (1/2N) sum (x_i w_opt - y_i)^2.
    pub min_loss: f64,
}

impl PerSampleQuadratic {
    /// Draws N curvatures from Gamma(shape, scale) on the `"curvatures"` stream and N label-noise
    /// values N(0, label_sd^2) on the `"labels"` stream.
    ///
    /// # Errors
    /// When N < 2, shape, scale or the label noise is not finite and positive (zero label noise
    /// is allowed), or the drawn curvatures have zero mean.
    pub fn generate(
        streams: &Streams,
        samples: usize,
        shape: f64,
        scale: f64,
        label_sd: f64,
    ) -> Result<Self, ExperimentError> {
        if samples < 2 || !(shape > 0.0 && shape.is_finite() && scale > 0.0 && scale.is_finite()) {
            return Err(ExperimentError::InvalidParams(
                "the curvature distribution needs N >= 2 and a finite positive shape and scale"
                    .into(),
            ));
        }
        if !(label_sd >= 0.0 && label_sd.is_finite()) {
            return Err(ExperimentError::InvalidParams(
                "label noise must be finite and non-negative".into(),
            ));
        }
        let mut curvature_rng = streams.stream("curvatures", 0);
        let curvatures: Vec<f64> = (0..samples)
            .map(|_| gamma(&mut curvature_rng, shape, scale))
            .collect();
        let mut label_rng = streams.stream("labels", 0);
        let labels: Vec<f64> = (0..samples)
            .map(|_| label_sd * standard_normal(&mut label_rng))
            .collect();
        Self::from_data(&curvatures, &labels)
    }

    /// The problem with curvatures a_i (inputs sqrt(a_i)) and labels y_i.
    ///
    /// # Errors
    /// When the lengths differ, there are fewer than 2 samples, a curvature is negative or not
    /// finite, or the mean curvature is zero.
    pub fn from_data(curvatures: &[f64], labels: &[f64]) -> Result<Self, ExperimentError> {
        if curvatures.len() != labels.len() || curvatures.len() < 2 {
            return Err(ExperimentError::InvalidParams(
                "curvatures and labels need the same length, at least 2".into(),
            ));
        }
        if curvatures.iter().any(|a| !(a.is_finite() && *a >= 0.0))
            || labels.iter().any(|y| !y.is_finite())
        {
            return Err(ExperimentError::InvalidParams(
                "curvatures must be finite and non-negative, labels finite".into(),
            ));
        }
        let n = curvatures.len() as f64;
        let (mean_curvature, curvature_variance) = curvature_moments(curvatures);
        if mean_curvature <= 0.0 {
            return Err(ExperimentError::InvalidParams(
                "the mean curvature is zero".into(),
            ));
        }
        let input_label: Vec<f64> = curvatures
            .iter()
            .zip(labels)
            .map(|(a, y)| a.sqrt() * y)
            .collect();
        let optimum = input_label.iter().sum::<f64>() / n / mean_curvature;
        let min_loss = curvatures
            .iter()
            .zip(labels)
            .map(|(a, y)| {
                let r = a.sqrt() * optimum - y;
                r * r
            })
            .sum::<f64>()
            / (2.0 * n);
        Ok(Self {
            curvatures: curvatures.to_vec(),
            input_label,
            mean_curvature,
            curvature_variance,
            optimum,
            min_loss,
        })
    }

    /// N.
    pub fn len(&self) -> usize {
        self.curvatures.len()
    }

    /// Whether the data set is empty (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.curvatures.is_empty()
    }

    /// The full-batch loss (abar/2)(w - w_opt)^2 + L_min, exact for a quadratic.
    #[inline]
    pub fn loss(&self, w: f64) -> f64 {
        let v = w - self.optimum;
        0.5 * self.mean_curvature * v * v + self.min_loss
    }

    /// The mean-square factor rho(eta, b) without replacement.
    pub fn mean_square_factor(&self, eta: f64, batch: usize) -> f64 {
        mean_square_factor(
            eta,
            self.mean_curvature,
            self.curvature_variance,
            self.len(),
            batch,
            SamplerKind::WithoutReplacement,
        )
    }

    /// The mean-square threshold eta_ms(b) = 2 abar / (abar^2 + var(a)(N-b)/(b(N-1))).
    pub fn mean_square_threshold(&self, batch: usize) -> f64 {
        mean_square_threshold(
            self.mean_curvature,
            self.curvature_variance,
            self.len(),
            batch,
            SamplerKind::WithoutReplacement,
        )
    }

    /// The full-batch (gradient descent) stability limit 2 / abar.
    pub fn gradient_descent_limit(&self) -> f64 {
        2.0 / self.mean_curvature
    }

    /// The per-step Lyapunov exponent at b = 1: (1/N) sum ln|1 - eta a_i| (minus infinity when
    /// some factor is exactly zero).
    pub fn single_sample_lyapunov(&self, eta: f64) -> f64 {
        self.curvatures
            .iter()
            .map(|a| ln((1.0 - eta * a).abs()))
            .sum::<f64>()
            / self.len() as f64
    }

    /// The per-trajectory threshold eta_run(1): the first step size at which the b = 1 Lyapunov
    /// exponent turns positive, found on a grid of `grid` points over (0, eta_max] and refined by
    /// bisection to relative 1e-12. `None` when it stays non-positive up to eta_max.
    pub fn single_sample_run_threshold(&self, eta_max: f64, grid: usize) -> Option<f64> {
        let mut lo = 0.0;
        for k in 1..=grid {
            let eta = eta_max * k as f64 / grid as f64;
            if self.single_sample_lyapunov(eta) > 0.0 {
                let mut hi = eta;
                while hi - lo > 1e-12 * hi {
                    let mid = 0.5 * (lo + hi);
                    if self.single_sample_lyapunov(mid) > 0.0 {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                return Some(0.5 * (lo + hi));
            }
            lo = eta;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PerSampleQuadratic {
        PerSampleQuadratic::from_data(&[0.2, 1.5, 0.05, 3.0, 0.9], &[0.1, -0.2, 0.05, 0.0, 0.3])
            .unwrap()
    }

    #[test]
    fn loss_identity_matches_the_direct_mean() {
        // (abar/2)(w - w_opt)^2 + L_min equals (1/2N) sum (x_i w - y_i)^2 for any w (a quadratic
        // is its Taylor expansion at the minimizer); rounding only, 1e-13.
        let p = small();
        let labels = [0.1, -0.2, 0.05, 0.0, 0.3];
        for w in [-3.0, 0.0, 0.7, 12.0] {
            let direct = p
                .curvatures
                .iter()
                .zip(labels)
                .map(|(a, y)| {
                    let r = a.sqrt() * w - y;
                    r * r
                })
                .sum::<f64>()
                / 10.0;
            assert!((p.loss(w) - direct).abs() < 1e-13 * direct.max(1.0));
        }
        // The optimum zeroes the full gradient abar w - mean(xy).
        let g = p.mean_curvature * p.optimum - p.input_label.iter().sum::<f64>() / 5.0;
        assert!(g.abs() < 1e-15);
    }

    #[test]
    fn mean_square_factor_matches_enumeration_with_label_noise() {
        // E[(1 - eta a_B)^2] over all C(5,2) = 10 subsets, enumerated, equals rho(eta, 2).
        let p = small();
        let eta = 0.8;
        let mut total = 0.0;
        for i in 0..5 {
            for j in i + 1..5 {
                let ab = (p.curvatures[i] + p.curvatures[j]) / 2.0;
                let f = 1.0 - eta * ab;
                total += f * f;
            }
        }
        assert!((total / 10.0 - p.mean_square_factor(eta, 2)).abs() < 1e-14);
        // Full batch: the factor of gradient descent, (1 - eta abar)^2.
        let f = 1.0 - eta * p.mean_curvature;
        let gd = f * f;
        assert!((p.mean_square_factor(eta, 5) - gd).abs() < 1e-15);
    }

    #[test]
    fn mean_square_recursion_with_noise_is_exact() {
        // Enumerate one step over all 10 subsets of size 2 from a point v = w - w_opt: the exact
        // E[v'^2] equals rho v^2 + 2 eta v E[(1 - eta a_B) z_B] + eta^2 E[z_B^2] with
        // z_B = (xy)_B - a_B w_opt, the decomposition behind "rho governs growth".
        let p = small();
        let eta = 0.8;
        let w = 2.5;
        let v = w - p.optimum;
        let (mut direct, mut cross, mut drive) = (0.0, 0.0, 0.0);
        for i in 0..5 {
            for j in i + 1..5 {
                let ab = (p.curvatures[i] + p.curvatures[j]) / 2.0;
                let xy = (p.input_label[i] + p.input_label[j]) / 2.0;
                let w_next = w - eta * (ab * w - xy);
                let v_next = w_next - p.optimum;
                direct += v_next * v_next / 10.0;
                let z = xy - ab * p.optimum;
                cross += (1.0 - eta * ab) * z / 10.0;
                drive += z * z / 10.0;
            }
        }
        let decomposed =
            p.mean_square_factor(eta, 2) * v * v + 2.0 * eta * v * cross + eta * eta * drive;
        assert!(
            (direct - decomposed).abs() < 1e-13,
            "{direct} vs {decomposed}"
        );
    }

    #[test]
    fn run_threshold_is_a_root_of_the_lyapunov_exponent() {
        let p = small();
        let eta = p.single_sample_run_threshold(10.0, 20_000).unwrap();
        assert!(p.single_sample_lyapunov(eta * (1.0 - 1e-9)) <= 1e-6);
        assert!(p.single_sample_lyapunov(eta * (1.0 + 1e-6)) > 0.0);
        // Jensen: E ln|f| <= (1/2) ln E f^2, so a trajectory is stable wherever the second
        // moment is: eta_run(1) >= eta_ms(1).
        assert!(eta >= p.mean_square_threshold(1));
    }
}
