//! The stationary mean of |w| for constant-step subgradient descent on f(w) = |w| with noise.
//!
//! With step eta and stochastic subgradient sign(w) + s xi (xi ~ N(0, 1), or any noise of mean 0
//! and variance 1 independent of the past), the scaled iterate u = w / eta follows a Markov chain
//! that does not depend on eta:
//!
//!   u' = u - sign(u) - s xi.
//!
//! Squaring and taking expectations (sign(u)^2 = 1 almost surely, since u has a density after one
//! step, and E[xi] = 0): E[u'^2] = E[u^2] - 2 E|u| + 1 + s^2. The chain drifts towards 0 by one
//! unit per step wherever |u| > 1 + O(s), so it is geometrically ergodic with finite moments, and at
//! stationarity E[u'^2] = E[u^2], which leaves
//!
//!   kappa = E|u| = (1 + s^2) / 2,
//!
//! so E|w| = kappa eta at stationarity. With a slowly decaying step eta_t the same identity in w,
//! E[w_{t+1}^2] = E[w_t^2] - 2 eta_t E|w_t| + eta_t^2 (1 + s^2), gives E|w_t| = kappa eta_t plus
//! (E[w_t^2] - E[w_{t+1}^2]) / (2 eta_t); with E[w_t^2] of order eta_t^2 and eta_t = c/sqrt(t + 1),
//! that correction is a relative O(1/t): the quasi-stationary law E|w_T| = kappa eta_{T-1}.

/// kappa = E|u| = (1 + s^2)/2 under the stationary law of u' = u - sign(u) - s xi.
pub fn stationary_mean_abs(noise_std: f64) -> f64 {
    0.5 * (1.0 + noise_std * noise_std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::{Streams, standard_normal};
    use sgd_sim::stats::batch_means;

    #[test]
    fn mean_abs_matches_a_long_simulation() {
        // One chain of 4e6 steps after 1000 of burn-in; the chain forgets in a few steps (more for
        // larger s: its width is (1 + s^2)/2 and it moves about 1 + s per step), so 200 batch
        // means of 20000 steps are independent; the closed form is within 5 SE of their mean.
        for s in [0.5, 1.0, 2.0] {
            let exact = stationary_mean_abs(s);
            let mut rng = Streams::new(8).stream("chain", 0);
            let mut u = 0.3f64;
            let mut values = Vec::with_capacity(4_000_000);
            for step in 0..4_001_000 {
                let sign = if u > 0.0 {
                    1.0
                } else if u < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                u = u - sign - s * standard_normal(&mut rng);
                if step >= 1000 {
                    values.push(u.abs());
                }
            }
            let est = batch_means(&values, 200);
            assert!(
                est.z_score(exact).abs() < 5.0,
                "s {s}: {} vs {exact}",
                est.value
            );
        }
    }

    #[test]
    fn decaying_steps_follow_the_quasi_stationary_law() {
        // 20000 replicas of 2000 steps of eta_t = 0.5/sqrt(t + 1) from w = 1: E|w_T| / eta_{T-1}
        // is within 5 SE (relative SE about 0.75/sqrt(20000) = 0.5%) of kappa at T = 2000, where
        // the O(1/T) correction is below 0.1%.
        let streams = Streams::new(3);
        let steps = 2000u64;
        let values: Vec<f64> = (0..20_000)
            .map(|r| {
                let mut rng = streams.stream("replica", r);
                let mut w = 1.0f64;
                for t in 0..steps {
                    let eta = 0.5 / ((t + 1) as f64).sqrt();
                    let sign = if w > 0.0 { 1.0 } else { -1.0 };
                    w -= eta * (sign + standard_normal(&mut rng));
                }
                w.abs() / (0.5 / (steps as f64).sqrt())
            })
            .collect();
        let est = sgd_sim::stats::mean_estimate(&values);
        assert!(
            est.z_score(stationary_mean_abs(1.0)).abs() < 5.0,
            "{}",
            est.value
        );
    }
}
