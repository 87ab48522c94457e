//! The noisy quadratic model (Zhang et al. 2019; McCandlish et al. 2018): a diagonal quadratic
//! L = (1/2) sum h_i w_i^2 whose minibatch gradient has independent noise of variance c_i/b in
//! coordinate i. SGD's second moments m_i(t) = E[w_i(t)^2] obey
//!
//!   m(t+1) = (1 - eta h)^2 m(t) + eta^2 c / b,
//!
//! a geometric sequence with the closed form m(t) = a^t (m(0) - m_inf) + m_inf, a = (1 - eta h)^2,
//! m_inf = eta c / (b h (2 - eta h)). The expected loss at any t therefore costs O(d), and
//! steps-to-target come from a bisection over t.

use crate::SimError;
use crate::math::powf;

/// A noisy quadratic model.
#[derive(Clone, Debug, PartialEq)]
pub struct NoisyQuadratic {
    /// Curvatures h_i > 0.
    pub curvatures: Vec<f64>,
    /// Per-example gradient noise variances c_i >= 0 (minibatch variance c_i / b).
    pub noise: Vec<f64>,
    /// Initial second moments m_i(0).
    pub initial: Vec<f64>,
}

impl NoisyQuadratic {
    /// The harmonic model: h_i = c_i = 1/i for i = 1..d, m_i(0) = 1.
    pub fn harmonic(d: usize) -> Self {
        let h: Vec<f64> = (1..=d).map(|i| 1.0 / i as f64).collect();
        Self {
            noise: h.clone(),
            curvatures: h,
            initial: vec![1.0; d],
        }
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.curvatures.len()
    }

    /// The largest curvature.
    pub fn max_curvature(&self) -> f64 {
        self.curvatures.iter().copied().fold(0.0, f64::max)
    }

    /// The expected loss (1/2) sum h_i m_i for second moments m.
    pub fn loss_of_moments(&self, moments: &[f64]) -> f64 {
        0.5 * self
            .curvatures
            .iter()
            .zip(moments)
            .map(|(h, m)| h * m)
            .sum::<f64>()
    }

    /// The initial expected loss.
    pub fn initial_loss(&self) -> f64 {
        self.loss_of_moments(&self.initial)
    }

    /// One coordinate's second moment after t steps (t real, for interpolation), closed form.
    /// ((1 - eta h)^2)^t is evaluated as a power of a non-negative base, so it stays defined for
    /// eta h > 1; a = 1 (eta h in {0, 2}) is the linear-growth limit m(0) + t eta^2 c / b.
    pub fn moment(&self, i: usize, eta: f64, batch: f64, t: f64) -> f64 {
        let (h, c, m0) = (self.curvatures[i], self.noise[i], self.initial[i]);
        let a = (1.0 - eta * h) * (1.0 - eta * h);
        let drive = eta * eta * c / batch;
        if (1.0 - a).abs() < 1e-15 {
            return m0 + t * drive;
        }
        let m_inf = drive / (1.0 - a);
        powf(a, t) * (m0 - m_inf) + m_inf
    }

    /// All second moments after t steps.
    pub fn moments(&self, eta: f64, batch: f64, t: f64) -> Vec<f64> {
        (0..self.dim())
            .map(|i| self.moment(i, eta, batch, t))
            .collect()
    }

    /// The expected loss after t steps.
    pub fn expected_loss(&self, eta: f64, batch: f64, t: f64) -> f64 {
        0.5 * (0..self.dim())
            .map(|i| self.curvatures[i] * self.moment(i, eta, batch, t))
            .sum::<f64>()
    }

    /// The stationary expected loss (eta / 2b) sum c_i / (2 - eta h_i), infinite unless every
    /// eta h_i < 2.
    pub fn stationary_loss(&self, eta: f64, batch: f64) -> f64 {
        if self.curvatures.iter().any(|h| eta * h >= 2.0) {
            return f64::INFINITY;
        }
        eta / (2.0 * batch)
            * self
                .curvatures
                .iter()
                .zip(&self.noise)
                .map(|(h, c)| c / (2.0 - eta * h))
                .sum::<f64>()
    }

    /// The smallest integer t with expected loss <= target, by bisection; `None` when the target
    /// lies at or below the stationary loss (never reached) or eta is unstable.
    ///
    /// # Errors
    /// When some coordinate starts below its stationary moment, so the loss need not be monotone
    /// and bisection would not be exact.
    pub fn steps_to_target(
        &self,
        eta: f64,
        batch: f64,
        target: f64,
    ) -> Result<Option<u64>, SimError> {
        if self.curvatures.iter().any(|h| eta * h >= 2.0)
            || self.stationary_loss(eta, batch) >= target
        {
            return Ok(None);
        }
        for i in 0..self.dim() {
            let (h, c) = (self.curvatures[i], self.noise[i]);
            let m_inf = eta * c / (batch * h * (2.0 - eta * h));
            if self.initial[i] < m_inf {
                return Err(SimError::InvalidInput(format!(
                    "coordinate {i} starts below its stationary moment; the loss is not monotone"
                )));
            }
        }
        if self.initial_loss() <= target {
            return Ok(Some(0));
        }
        let mut hi = 1u64;
        while self.expected_loss(eta, batch, hi as f64) > target {
            hi = hi
                .checked_mul(2)
                .ok_or_else(|| SimError::InvalidInput("steps to target overflow u64".into()))?;
        }
        let mut lo = hi / 2; // loss(lo) > target (or lo = 0)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.expected_loss(eta, batch, mid as f64) > target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(Some(hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Streams, standard_normal};

    #[test]
    fn closed_form_equals_the_recursion() {
        let m = NoisyQuadratic::harmonic(20);
        for (eta, b) in [(0.5, 4.0), (1.5, 1.0), (1.99, 16.0)] {
            let mut rec = m.initial.clone();
            for t in 1..=300 {
                for i in 0..m.dim() {
                    let a = crate::math::powi(1.0 - eta * m.curvatures[i], 2);
                    rec[i] = a * rec[i] + eta * eta * m.noise[i] / b;
                }
                if t % 50 == 0 {
                    let closed = m.moments(eta, b, f64::from(t));
                    for i in 0..m.dim() {
                        assert!(
                            (closed[i] / rec[i] - 1.0).abs() < 1e-11,
                            "eta {eta} t {t} i {i}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn monte_carlo_matches_the_moments() {
        // 20000 replicas of the Gaussian-noise SGD on a 3-d instance; m_i(t) estimated with relative
        // SE sqrt(2/20000) = 1% (w is Gaussian), checked within 5 SE.
        let m = NoisyQuadratic {
            curvatures: vec![1.0, 0.3, 0.05],
            noise: vec![0.5, 1.0, 2.0],
            initial: vec![1.0, 1.0, 1.0],
        };
        let (eta, b, steps) = (0.4, 2.0, 40);
        let streams = Streams::new(12);
        let reps = 20_000;
        let mut sums = [0.0; 3];
        for r in 0..reps {
            let mut rng = streams.stream("mc", r);
            let mut w: Vec<f64> = (0..3).map(|_| standard_normal(&mut rng)).collect();
            for _ in 0..steps {
                for i in 0..3 {
                    let g = m.curvatures[i] * w[i]
                        + (m.noise[i] / b).sqrt() * standard_normal(&mut rng);
                    w[i] -= eta * g;
                }
            }
            for i in 0..3 {
                sums[i] += w[i] * w[i];
            }
        }
        let closed = m.moments(eta, b, f64::from(steps));
        for i in 0..3 {
            let est = sums[i] / reps as f64;
            assert!(
                (est / closed[i] - 1.0).abs() < 5.0 * (2.0 / reps as f64).sqrt(),
                "i {i}: {est} vs {}",
                closed[i]
            );
        }
    }

    #[test]
    fn steps_to_target_is_the_first_crossing() {
        let m = NoisyQuadratic::harmonic(100);
        let target = 0.01 * m.initial_loss();
        let t = m.steps_to_target(0.5, 64.0, target).unwrap().unwrap();
        assert!(m.expected_loss(0.5, 64.0, t as f64) <= target);
        assert!(m.expected_loss(0.5, 64.0, (t - 1) as f64) > target);
        assert_eq!(m.steps_to_target(0.5, 1.0, 1e-9).unwrap(), None);
        assert_eq!(m.steps_to_target(2.5, 1.0, target).unwrap(), None);
        // Stationary loss of the closed form equals its t -> infinity limit.
        assert!((m.expected_loss(0.5, 4.0, 1e7) / m.stationary_loss(0.5, 4.0) - 1.0).abs() < 1e-12);
    }
}
