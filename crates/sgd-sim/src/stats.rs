//! Statistics for claims: means with standard errors and intervals, least-squares fits with the
//! standard errors of their coefficients, binomial intervals, bootstrap, histograms and distances.
//!
//! Sums run in index order, so a statistic of the same samples is the same bits on every run.

use crate::rng::{Stream, uniform_index};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The two-sided 95% standard normal quantile, Phi^-1(0.975).
pub const Z95: f64 = 1.959_963_984_540_054;

/// A statistical estimate: value, standard error and the number of samples behind it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Its standard error.
    pub se: f64,
    /// Samples (or independent batches) behind it; the interval uses n - 1 degrees of freedom.
    pub n: usize,
}

impl Estimate {
    /// The two-sided 95% interval value +- t_{0.975, n-1} se (Student's t; normal for n > 1000).
    pub fn ci95(&self) -> [f64; 2] {
        let q = t_quantile_975(self.n);
        [self.value - q * self.se, self.value + q * self.se]
    }

    /// The estimate scaled by a constant c (an exact factor): value and SE both scale.
    pub fn scaled(&self, c: f64) -> Self {
        Self {
            value: self.value * c,
            se: self.se * c.abs(),
            n: self.n,
        }
    }

    /// How many standard errors `value` lies from `reference`.
    pub fn z_score(&self, reference: f64) -> f64 {
        (self.value - reference) / self.se
    }
}

/// The 0.975 quantile of Student's t with n - 1 degrees of freedom (Z95 beyond 1000 samples,
/// where the two differ by less than 0.1%).
pub fn t_quantile_975(n: usize) -> f64 {
    if !(2..=1000).contains(&n) {
        return Z95;
    }
    StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(Z95)
}

/// Sample mean and its standard error s / sqrt(n) (two passes, index order).
///
/// # Panics
/// Panics on an empty slice.
pub fn mean_estimate(xs: &[f64]) -> Estimate {
    assert!(!xs.is_empty(), "mean of no samples");
    let n = xs.len();
    let mean = xs.iter().sum::<f64>() / n as f64;
    let se = if n > 1 {
        (sample_variance_about(xs, mean) / n as f64).sqrt()
    } else {
        f64::INFINITY
    };
    Estimate { value: mean, se, n }
}

/// The unbiased sample variance about a given mean.
fn sample_variance_about(xs: &[f64], mean: f64) -> f64 {
    xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (xs.len() as f64 - 1.0)
}

/// Sample variance (divisor n - 1).
///
/// # Panics
/// Panics with fewer than two samples.
pub fn sample_variance(xs: &[f64]) -> f64 {
    assert!(xs.len() >= 2, "variance needs two samples");
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    sample_variance_about(xs, mean)
}

/// The mean of a correlated series with its standard error from `batches` non-overlapping batch
/// means (Flegal and Jones 2010): valid when each batch is much longer than the correlation time.
///
/// # Panics
/// Panics when there are fewer samples than batches or fewer than two batches.
pub fn batch_means(xs: &[f64], batches: usize) -> Estimate {
    assert!(
        batches >= 2 && xs.len() >= batches,
        "batch means needs >= 2 batches and a sample each"
    );
    let size = xs.len() / batches;
    let means: Vec<f64> = (0..batches)
        .map(|k| xs[k * size..(k + 1) * size].iter().sum::<f64>() / size as f64)
        .collect();
    mean_estimate(&means)
}

/// Result of a least-squares line fit y = intercept + slope x.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearFit {
    /// Fitted slope.
    pub slope: f64,
    /// Fitted intercept.
    pub intercept: f64,
    /// Standard error of the slope (from the residual variance, n - 2 degrees of freedom; or from
    /// the given per-point errors for a weighted fit).
    pub slope_se: f64,
    /// Standard error of the intercept.
    pub intercept_se: f64,
    /// Coefficient of determination R^2.
    pub r_squared: f64,
    /// Number of points.
    pub n: usize,
}

impl LinearFit {
    /// The slope as an estimate (n - 2 degrees of freedom, so its interval uses n - 1 "samples").
    pub fn slope_estimate(&self) -> Estimate {
        Estimate {
            value: self.slope,
            se: self.slope_se,
            n: self.n.saturating_sub(1),
        }
    }
}

/// Ordinary least squares of y on x.
///
/// # Panics
/// Panics with fewer than two points or mismatched lengths.
pub fn linear_fit(x: &[f64], y: &[f64]) -> LinearFit {
    assert!(
        x.len() == y.len() && x.len() >= 2,
        "a line fit needs >= 2 paired points"
    );
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mx) * (v - mx)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let syy: f64 = y.iter().map(|v| (v - my) * (v - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let rss: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - intercept - slope * a).powi(2))
        .sum();
    let (slope_se, intercept_se) = if x.len() > 2 {
        let s2 = rss / (n - 2.0);
        ((s2 / sxx).sqrt(), (s2 * (1.0 / n + mx * mx / sxx)).sqrt())
    } else {
        (0.0, 0.0)
    };
    let r_squared = if syy > 0.0 { 1.0 - rss / syy } else { 1.0 };
    LinearFit {
        slope,
        intercept,
        slope_se,
        intercept_se,
        r_squared,
        n: x.len(),
    }
}

/// Weighted least squares with known per-point standard errors `sigma` (weights 1/sigma^2); the
/// coefficient errors come from the weights, not the residuals (Bevington and Robinson, ch. 6).
///
/// # Panics
/// Panics with fewer than two points, mismatched lengths, or a non-positive sigma.
pub fn weighted_linear_fit(x: &[f64], y: &[f64], sigma: &[f64]) -> LinearFit {
    assert!(x.len() == y.len() && y.len() == sigma.len() && x.len() >= 2);
    assert!(
        sigma.iter().all(|s| *s > 0.0),
        "weights need positive sigma"
    );
    let w: Vec<f64> = sigma.iter().map(|s| 1.0 / (s * s)).collect();
    let sw: f64 = w.iter().sum();
    let swx: f64 = w.iter().zip(x).map(|(w, x)| w * x).sum();
    let swy: f64 = w.iter().zip(y).map(|(w, y)| w * y).sum();
    let swxx: f64 = w.iter().zip(x).map(|(w, x)| w * x * x).sum();
    let swxy: f64 = w.iter().zip(x).zip(y).map(|((w, x), y)| w * x * y).sum();
    let delta = sw * swxx - swx * swx;
    let slope = (sw * swxy - swx * swy) / delta;
    let intercept = (swxx * swy - swx * swxy) / delta;
    let my = swy / sw;
    let ss_tot: f64 = w.iter().zip(y).map(|(w, y)| w * (y - my) * (y - my)).sum();
    let ss_res: f64 = w
        .iter()
        .zip(x)
        .zip(y)
        .map(|((w, x), y)| w * (y - intercept - slope * x).powi(2))
        .sum();
    LinearFit {
        slope,
        intercept,
        slope_se: (sw / delta).sqrt(),
        intercept_se: (swxx / delta).sqrt(),
        r_squared: if ss_tot > 0.0 {
            1.0 - ss_res / ss_tot
        } else {
            1.0
        },
        n: x.len(),
    }
}

/// The Wilson score interval for a binomial proportion k/n at normal quantile z (Wilson 1927).
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> [f64; 2] {
    if trials == 0 {
        return [0.0, 1.0];
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// A binomial proportion as an estimate with SE sqrt(p(1-p)/n).
pub fn proportion_estimate(successes: u64, trials: u64) -> Estimate {
    let n = trials.max(1) as f64;
    let p = successes as f64 / n;
    Estimate {
        value: p,
        se: (p * (1.0 - p) / n).sqrt(),
        n: trials as usize,
    }
}

/// The percentile bootstrap 95% interval of `statistic` over `resamples` resamples of the indices
/// 0..n drawn from `rng` (Efron and Tibshirani 1993, ch. 13).
///
/// # Panics
/// Panics when n == 0 or resamples < 40.
pub fn bootstrap_ci95<F>(n: usize, resamples: usize, rng: &mut Stream, statistic: F) -> [f64; 2]
where
    F: Fn(&[usize]) -> f64,
{
    assert!(
        n > 0 && resamples >= 40,
        "bootstrap needs data and >= 40 resamples"
    );
    let mut idx = vec![0usize; n];
    let mut stats: Vec<f64> = (0..resamples)
        .map(|_| {
            for slot in idx.iter_mut() {
                *slot = uniform_index(rng, n);
            }
            statistic(&idx)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    [
        quantile_sorted(&stats, 0.025),
        quantile_sorted(&stats, 0.975),
    ]
}

/// The q-quantile of sorted data by linear interpolation between order statistics (type 7).
///
/// # Panics
/// Panics on empty data.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty());
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The median of unsorted data.
///
/// # Panics
/// Panics on empty data.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, 0.5)
}

/// A histogram with uniform bins on [lo, hi); values outside are counted apart.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Left edge.
    pub lo: f64,
    /// Right edge.
    pub hi: f64,
    /// Counts per bin.
    pub counts: Vec<u64>,
    /// Values that fell outside [lo, hi).
    pub outside: u64,
}

impl Histogram {
    /// An empty histogram of `bins` bins on [lo, hi).
    pub fn new(lo: f64, hi: f64, bins: usize) -> Self {
        Self {
            lo,
            hi,
            counts: vec![0; bins],
            outside: 0,
        }
    }

    /// Bin width.
    pub fn width(&self) -> f64 {
        (self.hi - self.lo) / self.counts.len() as f64
    }

    /// The centre of bin k.
    pub fn centre(&self, k: usize) -> f64 {
        self.lo + (k as f64 + 0.5) * self.width()
    }

    /// Counts one value.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let pos = (x - self.lo) / (self.hi - self.lo) * self.counts.len() as f64;
        if pos >= 0.0 && pos < self.counts.len() as f64 {
            self.counts[pos as usize] += 1;
        } else {
            self.outside += 1;
        }
    }

    /// Adds another histogram of the same bins.
    ///
    /// # Panics
    /// Panics when the bins differ.
    pub fn merge(&mut self, other: &Histogram) {
        assert!(
            self.lo == other.lo && self.hi == other.hi && self.counts.len() == other.counts.len()
        );
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.outside += other.outside;
    }

    /// Total number of values counted, inside and outside.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.outside
    }

    /// The fraction of all values in each bin.
    pub fn probabilities(&self) -> Vec<f64> {
        let t = self.total().max(1) as f64;
        self.counts.iter().map(|&c| c as f64 / t).collect()
    }

    /// Density estimate per bin (probability / width).
    pub fn densities(&self) -> Vec<f64> {
        let w = self.width();
        self.probabilities().into_iter().map(|p| p / w).collect()
    }
}

/// Total-variation distance between two discrete distributions, (1/2) sum |p_k - q_k|.
///
/// # Panics
/// Panics when the lengths differ.
pub fn total_variation(p: &[f64], q: &[f64]) -> f64 {
    assert_eq!(p.len(), q.len(), "distributions over different supports");
    0.5 * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>()
}

/// The integrated autocorrelation time tau = 1 + 2 sum_k rho_k of a series, with Sokal's
/// self-consistent window (stop at the first k >= c tau, c = 5; Sokal 1997, section 3).
///
/// # Panics
/// Panics with fewer than 4 samples.
pub fn integrated_autocorrelation_time(xs: &[f64]) -> f64 {
    assert!(xs.len() >= 4);
    let n = xs.len();
    let mean = xs.iter().sum::<f64>() / n as f64;
    let c0: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
    if c0 == 0.0 {
        return 1.0;
    }
    let mut tau = 1.0;
    for k in 1..n / 2 {
        let ck: f64 = (0..n - k)
            .map(|i| (xs[i] - mean) * (xs[i + k] - mean))
            .sum::<f64>()
            / n as f64;
        tau += 2.0 * ck / c0;
        if k as f64 >= 5.0 * tau {
            break;
        }
    }
    tau.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Streams, standard_normal};

    #[test]
    fn mean_and_se_of_known_data() {
        let e = mean_estimate(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(e.value, 2.5);
        // s^2 = 5/3, se = sqrt(5/12).
        assert!((e.se - (5.0f64 / 12.0).sqrt()).abs() < 1e-15);
        // t_{0.975, 3} = 3.182446305284263.
        let ci = e.ci95();
        assert!((ci[1] - 2.5 - 3.182_446_305_284_263 * e.se).abs() < 1e-9);
    }

    #[test]
    fn exact_line_is_recovered() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let y = [1.0, 3.0, 5.0, 7.0];
        let f = linear_fit(&x, &y);
        assert!((f.slope - 2.0).abs() < 1e-14 && (f.intercept - 1.0).abs() < 1e-14);
        assert!(f.slope_se < 1e-14 && (f.r_squared - 1.0).abs() < 1e-14);
        let wf = weighted_linear_fit(&x, &y, &[1.0, 2.0, 1.0, 0.5]);
        assert!((wf.slope - 2.0).abs() < 1e-13 && (wf.intercept - 1.0).abs() < 1e-13);
    }

    #[test]
    fn slope_se_is_calibrated() {
        // Over 400 noisy data sets the fitted slopes scatter with SD equal to the reported SE;
        // the ratio of the two is within 10% (its relative SE is ~1/sqrt(800) = 3.5%).
        let mut r = Streams::new(5).stream("t", 0);
        let x: Vec<f64> = (0..20).map(f64::from).collect();
        let mut slopes = Vec::new();
        let mut ses = Vec::new();
        for _ in 0..400 {
            let y: Vec<f64> = x
                .iter()
                .map(|x| 0.5 * x + standard_normal(&mut r))
                .collect();
            let f = linear_fit(&x, &y);
            slopes.push(f.slope);
            ses.push(f.slope_se);
        }
        let sd = sample_variance(&slopes).sqrt();
        let mean_se = ses.iter().sum::<f64>() / ses.len() as f64;
        assert!((sd / mean_se - 1.0).abs() < 0.1, "sd {sd} vs se {mean_se}");
    }

    #[test]
    fn wilson_interval_known_value() {
        // 8 of 10 at z = 1.96: (0.4902, 0.9433) to 4 decimals (Newcombe 1998, table I style check).
        let [lo, hi] = wilson_interval(8, 10, 1.96);
        assert!(
            (lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4,
            "{lo} {hi}"
        );
        assert_eq!(wilson_interval(0, 0, 1.96), [0.0, 1.0]);
    }

    #[test]
    fn histogram_and_tv() {
        let mut h = Histogram::new(0.0, 1.0, 4);
        for x in [0.1, 0.3, 0.35, 0.9, 1.5, -0.1] {
            h.add(x);
        }
        assert_eq!(h.counts, vec![1, 2, 0, 1]);
        assert_eq!(h.outside, 2);
        assert_eq!(h.total(), 6);
        assert_eq!(total_variation(&[0.5, 0.5], &[1.0, 0.0]), 0.5);
        assert_eq!(total_variation(&[0.2, 0.8], &[0.2, 0.8]), 0.0);
    }

    #[test]
    fn autocorrelation_time_of_ar1() {
        // AR(1) with coefficient a has tau = (1 + a)/(1 - a) = 3 at a = 0.5; with 2*10^5 samples
        // the windowed estimate is within 10%.
        let mut r = Streams::new(6).stream("t", 0);
        let mut x = 0.0;
        let xs: Vec<f64> = (0..200_000)
            .map(|_| {
                x = 0.5 * x + standard_normal(&mut r);
                x
            })
            .collect();
        let tau = integrated_autocorrelation_time(&xs);
        assert!((tau / 3.0 - 1.0).abs() < 0.1, "tau = {tau}");
    }

    #[test]
    fn bootstrap_covers_the_mean() {
        let mut r = Streams::new(7).stream("t", 0);
        let xs: Vec<f64> = (0..200).map(|_| standard_normal(&mut r)).collect();
        let ci = bootstrap_ci95(xs.len(), 1000, &mut r, |idx| {
            idx.iter().map(|&i| xs[i]).sum::<f64>() / idx.len() as f64
        });
        let e = mean_estimate(&xs);
        // The percentile interval of a mean is close to the t interval: endpoints within 30% of its half-width.
        let t = e.ci95();
        let half = (t[1] - t[0]) / 2.0;
        assert!(
            (ci[0] - t[0]).abs() < 0.3 * half && (ci[1] - t[1]).abs() < 0.3 * half,
            "{ci:?} vs {t:?}"
        );
    }

    #[test]
    fn batch_means_of_iid_data_agrees_with_plain_se() {
        let mut r = Streams::new(8).stream("t", 0);
        let xs: Vec<f64> = (0..100_000).map(|_| standard_normal(&mut r)).collect();
        let b = batch_means(&xs, 50);
        let plain = mean_estimate(&xs);
        // With 50 batches the SE estimate has relative SE 1/sqrt(98) = 10%; allow 40%.
        assert!((b.se / plain.se - 1.0).abs() < 0.4);
    }
}
