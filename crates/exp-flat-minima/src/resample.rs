//! A bootstrap distribution of a statistic, computed from resamples drawn in a kind's measure step,
//! kept whole so that both its standard deviation and its percentile interval can be reported
//! (Efron and Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 6 and 13).

use sgd_sim::stats::{quantile_sorted, sample_variance};

/// A bootstrap distribution of a statistic, sorted.
#[derive(Clone, Debug, PartialEq)]
pub struct Bootstrap {
    /// The resampled statistics, sorted ascending.
    pub sorted: Vec<f64>,
}

impl Bootstrap {
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
    use sgd_sim::rng::{Streams, standard_normal, uniform_index};

    #[test]
    fn bootstrap_se_of_a_mean_matches_the_formula() {
        // For the mean of n i.i.d. values the bootstrap SE is s sqrt((n-1)/n) / sqrt(n) up to its
        // Monte Carlo error, about 1/sqrt(2 * 2000) = 2.2% relative; allow 8%.
        let mut r = Streams::new(3).stream("t", 0);
        let xs: Vec<f64> = (0..400).map(|_| standard_normal(&mut r)).collect();
        let n = xs.len();
        let means: Vec<f64> = (0..2000)
            .map(|_| (0..n).map(|_| xs[uniform_index(&mut r, n)]).sum::<f64>() / n as f64)
            .collect();
        let b = Bootstrap::from_values(&means);
        let s = sample_variance(&xs).sqrt() / (n as f64).sqrt();
        assert!((b.se() / s - 1.0).abs() < 0.08, "{} vs {s}", b.se());
        let [lo, hi] = b.ci95();
        assert!(lo < hi && ((hi - lo) / (2.0 * 1.96 * s) - 1.0).abs() < 0.1);
    }
}
