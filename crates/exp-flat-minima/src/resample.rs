//! Percentile bootstrap over independent units (chains, seeds), returning the whole bootstrap
//! distribution so that both its standard deviation and its percentile interval can be reported
//! (Efron and Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 6 and 13).

use sgd_sim::rng::{Stream, uniform_index};
use sgd_sim::stats::{quantile_sorted, sample_variance};

/// A bootstrap distribution of a statistic, sorted.
#[derive(Clone, Debug, PartialEq)]
pub struct Bootstrap {
    /// The resampled statistics, sorted ascending.
    pub sorted: Vec<f64>,
}

impl Bootstrap {
    /// Resamples the indices 0..n with replacement `resamples` times and evaluates `statistic`
    /// on each resample. Every index draw comes from `rng`, in order, so the result is the same
    /// on every run.
    ///
    /// # Panics
    /// Panics when n == 0 or resamples < 2 (callers validate both).
    pub fn new(
        n: usize,
        resamples: usize,
        rng: &mut Stream,
        statistic: impl Fn(&[usize]) -> f64,
    ) -> Self {
        assert!(
            n > 0 && resamples >= 2,
            "bootstrap needs data and >= 2 resamples"
        );
        let mut idx = vec![0usize; n];
        let mut sorted: Vec<f64> = (0..resamples)
            .map(|_| {
                for slot in idx.iter_mut() {
                    *slot = uniform_index(rng, n);
                }
                statistic(&idx)
            })
            .collect();
        sorted.sort_by(f64::total_cmp);
        Self { sorted }
    }

    /// The distribution of already resampled statistics.
    pub fn from_values(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Self { sorted }
    }

    /// The 95% percentile interval.
    pub fn ci95(&self) -> [f64; 2] {
        [
            quantile_sorted(&self.sorted, 0.025),
            quantile_sorted(&self.sorted, 0.975),
        ]
    }

    /// The bootstrap standard error (standard deviation of the resampled statistics).
    pub fn se(&self) -> f64 {
        sample_variance(&self.sorted).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::{Streams, standard_normal};

    #[test]
    fn bootstrap_se_of_a_mean_matches_the_formula() {
        // For the mean of n i.i.d. values the bootstrap SE is s sqrt((n-1)/n) / sqrt(n) up to its
        // Monte Carlo error, about 1/sqrt(2 * 2000) = 2.2% relative; allow 8%.
        let mut r = Streams::new(3).stream("t", 0);
        let xs: Vec<f64> = (0..400).map(|_| standard_normal(&mut r)).collect();
        let b = Bootstrap::new(xs.len(), 2000, &mut r, |idx| {
            idx.iter().map(|&i| xs[i]).sum::<f64>() / idx.len() as f64
        });
        let s = sample_variance(&xs).sqrt() / (xs.len() as f64).sqrt();
        assert!((b.se() / s - 1.0).abs() < 0.08, "{} vs {s}", b.se());
        let [lo, hi] = b.ci95();
        assert!(lo < hi && ((hi - lo) / (2.0 * 1.96 * s) - 1.0).abs() < 0.1);
    }
}
