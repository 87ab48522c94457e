//! Exact second-moment recursions of SGD: the theory the simulations of this family are checked against.
//!
//! Each follows from taking expectations in one SGD step, with the gradient noise independent of the
//! past; none is an approximation, so a simulation must agree with it within its statistical error.

/// Second moments e_t = E[w_t^2] of SGD on f(w) = h w^2 / 2 with additive gradient noise of
/// variance `noise_variance` (s^2), from e_0: the update w' = w - eta_t (h w + s xi) gives
///
///   e_{t+1} = (1 - eta_t h)^2 e_t + eta_t^2 s^2
///
/// (Robbins and Monro 1951; e.g. Bottou, Curtis and Nocedal 2018, section 4). Returns e_0, ..., e_T
/// for the T step sizes given.
pub fn scalar_second_moments(
    curvature: f64,
    noise_variance: f64,
    initial: f64,
    steps: &[f64],
) -> Vec<f64> {
    let mut out = Vec::with_capacity(steps.len() + 1);
    let mut e = initial;
    out.push(e);
    for &eta in steps {
        let contraction = 1.0 - eta * curvature;
        e = contraction * contraction * e + eta * eta * noise_variance;
        out.push(e);
    }
    out
}

/// Streaming least squares: one fresh example per step, inputs x ~ N(0, diag(h)), labels
/// y = x . w* + sigma eps with eps ~ N(0, 1). The loss is f(w) = E (x . w - y)^2 / 2
/// = (1/2) sum_i h_i (w_i - w*_i)^2 + sigma^2 / 2, and SGD's stochastic gradient is
/// g = x (x . w - y), unbiased.
///
/// With delta = w - w*, one step gives delta' = (I - eta x x^T) delta + eta sigma eps x, and for
/// Gaussian x Isserlis' theorem (Isserlis 1918) gives E[x x^T M x x^T] = 2 H M H + tr(H M) H.
/// On the diagonal m_i = E[delta_i^2] (the off-diagonal terms of M do not enter, since H is
/// diagonal):
///
///   m_i' = (1 - eta h_i)^2 m_i + eta^2 h_i (h_i m_i + sum_j h_j m_j + sigma^2).
///
/// This is the model of Bach and Moulines (2013) with Gaussian inputs, whose fourth moments make the
/// recursion closed.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamingLeastSquares {
    /// Eigenvalues h_i of the input covariance (the Hessian).
    pub curvatures: Vec<f64>,
    /// Label-noise variance sigma^2.
    pub label_noise_variance: f64,
}

impl StreamingLeastSquares {
    /// Advances the second moments `moments` (m_i = E[delta_i^2]) by one step of size `eta`.
    pub fn step(&self, moments: &mut [f64], eta: f64) {
        let weighted: f64 = self
            .curvatures
            .iter()
            .zip(moments.iter())
            .map(|(h, m)| h * m)
            .sum();
        for (m, &h) in moments.iter_mut().zip(&self.curvatures) {
            let contraction = 1.0 - eta * h;
            *m = contraction * contraction * *m
                + eta * eta * h * (h * *m + weighted + self.label_noise_variance);
        }
    }

    /// The expected excess loss (1/2) sum_i h_i m_i.
    pub fn excess_loss(&self, moments: &[f64]) -> f64 {
        0.5 * self
            .curvatures
            .iter()
            .zip(moments)
            .map(|(h, m)| h * m)
            .sum::<f64>()
    }
}

/// Curvatures spaced geometrically from `min` to `max` (d values; `min` alone when d = 1).
pub fn geometric_curvatures(dim: usize, min: f64, max: f64) -> Vec<f64> {
    if dim == 1 {
        return vec![min];
    }
    (0..dim)
        .map(|i| min * sgd_sim::math::powf(max / min, i as f64 / (dim - 1) as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::noisy_quadratic::NoisyQuadratic;
    use sgd_sim::rng::{Streams, standard_normal};
    use sgd_sim::stats::mean_estimate;

    #[test]
    fn scalar_recursion_has_the_closed_form_of_eta_one_over_t() {
        // eta_t = 1/t with h = 1: w_t = -s (xi_1 + ... + xi_t) / t, minus s times the running mean
        // of the noise, so e_t = s^2 / t exactly whatever e_0 (the first step sets w_1 = -s xi_1).
        let steps: Vec<f64> = (1..=1000).map(|t| 1.0 / f64::from(t)).collect();
        let e = scalar_second_moments(1.0, 2.0, 5.0, &steps);
        for t in [1usize, 10, 100, 1000] {
            assert!(
                (e[t] * t as f64 / 2.0 - 1.0).abs() < 1e-12,
                "t {t}: {}",
                e[t]
            );
        }
    }

    #[test]
    fn scalar_recursion_matches_monte_carlo() {
        // 40000 replicas, 50 steps of eta_t = 0.8 t^-0.6 from w_0 = 1: E[w^2] estimated with its
        // sample SE; a correct recursion is within 5 SE at each of 3 checkpoints (P(fail) ~ 2e-6).
        let steps: Vec<f64> = (1..=50)
            .map(|t| 0.8 * sgd_sim::math::powf(f64::from(t), -0.6))
            .collect();
        let e = scalar_second_moments(1.3, 0.5, 1.0, &steps);
        let streams = Streams::new(11);
        let reps = 40_000;
        let marks = [5usize, 20, 50];
        let mut values = vec![Vec::with_capacity(reps); marks.len()];
        for r in 0..reps {
            let mut rng = streams.stream("mc", r as u64);
            let mut w = 1.0;
            for (t, &eta) in steps.iter().enumerate() {
                w -= eta * (1.3 * w + 0.5f64.sqrt() * standard_normal(&mut rng));
                if let Some(k) = marks.iter().position(|&m| m == t + 1) {
                    values[k].push(w * w);
                }
            }
        }
        for (k, &m) in marks.iter().enumerate() {
            let est = mean_estimate(&values[k]);
            assert!(
                est.z_score(e[m]).abs() < 5.0,
                "t {m}: {} vs {}",
                est.value,
                e[m]
            );
        }
    }

    #[test]
    fn streaming_recursion_matches_monte_carlo() {
        // d = 3, a decaying schedule large enough that the multiplicative noise matters (eta h up
        // to 0.3), from delta_0 = (1, -1, 0.5) (a fixed, non-isotropic start: off-diagonal second
        // moments are non-zero and must not enter). 40000 replicas; each m_i(30) within 5 SE.
        let model = StreamingLeastSquares {
            curvatures: vec![1.0, 0.4, 0.1],
            label_noise_variance: 0.25,
        };
        let steps: Vec<f64> = (0..30).map(|t| 3.0 / (f64::from(t) + 10.0)).collect();
        let start = [1.0, -1.0, 0.5];
        let mut m: Vec<f64> = start.iter().map(|v| v * v).collect();
        for &eta in &steps {
            model.step(&mut m, eta);
        }
        let streams = Streams::new(21);
        let reps = 40_000;
        let mut samples: Vec<Vec<f64>> = (0..3).map(|_| Vec::with_capacity(reps)).collect();
        let mut losses = Vec::with_capacity(reps);
        let root: Vec<f64> = model.curvatures.iter().map(|h| h.sqrt()).collect();
        for r in 0..reps {
            let mut rng = streams.stream("mc", r as u64);
            let mut delta = start;
            for &eta in &steps {
                let x: Vec<f64> = root.iter().map(|s| s * standard_normal(&mut rng)).collect();
                let residual: f64 = x.iter().zip(&delta).map(|(a, b)| a * b).sum::<f64>()
                    - 0.5 * standard_normal(&mut rng);
                for (d, xi) in delta.iter_mut().zip(&x) {
                    *d -= eta * residual * xi;
                }
            }
            for i in 0..3 {
                samples[i].push(delta[i] * delta[i]);
            }
            losses.push(
                0.5 * model
                    .curvatures
                    .iter()
                    .zip(&delta)
                    .map(|(h, d)| h * d * d)
                    .sum::<f64>(),
            );
        }
        for i in 0..3 {
            let est = mean_estimate(&samples[i]);
            assert!(
                est.z_score(m[i]).abs() < 5.0,
                "i {i}: {} vs {}",
                est.value,
                m[i]
            );
        }
        let loss = mean_estimate(&losses);
        assert!(loss.z_score(model.excess_loss(&m)).abs() < 5.0);
    }

    #[test]
    fn stationary_loss_is_the_limit_and_the_time_average() {
        // The stationary loss (eta/2b) sum c_i/(2 - eta h_i) of sgd-sim's noisy quadratic equals
        // the t -> infinity limit of the recursion (to rounding) and a Monte Carlo time average:
        // 2-d instance, eta = 0.5, 40 replicas of 20000 steps after 200 steps of burn-in
        // (initial bias e^-40); the replica mean is within 5 SE.
        let model = NoisyQuadratic {
            curvatures: vec![1.0, 0.25],
            noise: vec![1.0, 2.0],
            initial: vec![0.0, 0.0],
        };
        let (eta, b) = (0.5, 2.0);
        let exact = model.stationary_loss(eta, b);
        let mut m = [0.0, 0.0];
        for _ in 0..5000 {
            for ((mi, h), c) in m.iter_mut().zip(&model.curvatures).zip(&model.noise) {
                let a = 1.0 - eta * h;
                *mi = a * a * *mi + eta * eta * c / b;
            }
        }
        assert!((model.loss_of_moments(&m) / exact - 1.0).abs() < 1e-12);
        let streams = Streams::new(4);
        let averages: Vec<f64> = (0..40)
            .map(|r| {
                let mut rng = streams.stream("mc", r);
                let mut w = [0.0f64; 2];
                let mut acc = 0.0;
                for step in 0..20_200 {
                    for ((wi, h), c) in w.iter_mut().zip(&model.curvatures).zip(&model.noise) {
                        let g = h * *wi + (c / b).sqrt() * standard_normal(&mut rng);
                        *wi -= eta * g;
                    }
                    if step >= 200 {
                        acc += model.loss_of_moments(&[w[0] * w[0], w[1] * w[1]]);
                    }
                }
                acc / 20_000.0
            })
            .collect();
        let est = mean_estimate(&averages);
        assert!(est.z_score(exact).abs() < 5.0, "{} vs {exact}", est.value);
    }

    #[test]
    fn geometric_curvatures_span_the_range() {
        let h = geometric_curvatures(10, 0.1, 1.0);
        assert_eq!(h.len(), 10);
        assert!((h[0] - 0.1).abs() < 1e-15 && (h[9] - 1.0).abs() < 1e-12);
        assert!((h[1] / h[0] - h[5] / h[4]).abs() < 1e-12);
        assert_eq!(geometric_curvatures(1, 0.3, 1.0), vec![0.3]);
    }
}
