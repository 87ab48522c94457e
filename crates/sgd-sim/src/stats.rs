//! Statistics for claims: means with standard errors and intervals, least-squares fits with the
//! standard errors of their coefficients, binomial intervals, bootstrap, histograms and distances.
//!
//! Sums run in index order, so a statistic of the same samples is the same bits on every run.

use crate::rng::{Stream, uniform_index};

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
/// where the two differ by less than 0.1%), found by bisection on the t distribution function.
/// Everything goes through libm, so the quantile is the same bits on every machine.
pub fn t_quantile_975(n: usize) -> f64 {
    if !(2..=1000).contains(&n) {
        return Z95;
    }
    let dof = (n - 1) as f64;
    // The upper tail P(T > t) = I_{dof/(dof+t^2)}(dof/2, 1/2) / 2 falls from 1/2 at t = 0; the
    // quantile with one degree of freedom is 12.7, so [0, 64] brackets every case.
    let (mut lo, mut hi) = (0.0f64, 64.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        let tail = 0.5 * regularized_incomplete_beta(dof / (dof + mid * mid), 0.5 * dof, 0.5);
        if tail > 0.025 { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction evaluated with
/// the modified Lentz method (Abramowitz and Stegun 26.5.8; Press et al., Numerical Recipes,
/// section 6.4), using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges
/// slowly.
pub fn regularized_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = libm::lgamma(a + b) - libm::lgamma(a) - libm::lgamma(b)
        + a * libm::log(x)
        + b * libm::log1p(-x);
    if x < (a + 1.0) / (a + b + 2.0) {
        libm::exp(ln_front) * beta_continued_fraction(x, a, b) / a
    } else {
        1.0 - libm::exp(ln_front) * beta_continued_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of I_x(a, b) (see [`regularized_incomplete_beta`]).
fn beta_continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let two_m = 2.0 * m;
        let even = m * (b - m) * x / ((a + two_m - 1.0) * (a + two_m));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + two_m) * (a + two_m + 1.0));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The standard normal distribution function Phi(x) = erfc(-x / sqrt 2) / 2 (libm's erfc), with
/// -x multiplied by 1/sqrt 2: the one copy, whose rounding every caller shares.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * core::f64::consts::FRAC_1_SQRT_2)
}

/// The power of a design: the probability that the 95% interval est +- Z95 se lies wholly inside
/// [lo, hi] (either end may be infinite) when the estimate is normal with mean `effect` and
/// standard error `se`. With c = Z95 se, this is Phi((hi - c - effect)/se) - Phi((lo + c - effect)/se),
/// or 0 when the region is narrower than the interval.
///
/// This is the one power computation of the project: a claim's pre-registered `effect` and
/// `design_se` give the power of its primary wording check.
pub fn power_interval_inside(lo: f64, hi: f64, effect: f64, se: f64) -> f64 {
    if !(se > 0.0 && effect.is_finite()) {
        return 0.0;
    }
    let c = Z95 * se;
    let (a, b) = (lo + c, hi - c);
    if a >= b {
        return 0.0;
    }
    let upper = if b.is_finite() {
        normal_cdf((b - effect) / se)
    } else {
        1.0
    };
    let lower = if a.is_finite() {
        normal_cdf((a - effect) / se)
    } else {
        0.0
    };
    (upper - lower).max(0.0)
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
        .map(|(a, b)| crate::math::powi(b - intercept - slope * a, 2))
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
        .map(|((w, x), y)| w * crate::math::powi(y - intercept - slope * x, 2))
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

/// Bootstrap resamples of the indices 0..n, drawn ahead so that the statistic can be computed
/// later by code that draws no random numbers (a kind's metric step).
#[derive(Clone, Debug, PartialEq)]
pub struct Resamples {
    n: usize,
    indices: Vec<u32>,
}

impl Resamples {
    /// Draws `resamples` resamples of 0..n with replacement from `rng`, in order.
    ///
    /// # Panics
    /// Panics when n == 0, n does not fit in 32 bits, or resamples < 40.
    pub fn draw(rng: &mut Stream, n: usize, resamples: usize) -> Self {
        assert!(
            n > 0 && resamples >= 40 && u32::try_from(n).is_ok(),
            "bootstrap needs data and >= 40 resamples"
        );
        let indices = (0..n * resamples)
            .map(|_| uniform_index(rng, n) as u32)
            .collect();
        Self { n, indices }
    }

    /// The number of resamples.
    pub fn count(&self) -> usize {
        self.indices.len() / self.n
    }

    /// The size of the data each resample indexes.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The percentile bootstrap 95% interval of `statistic` over the resamples (Efron and
    /// Tibshirani 1993, ch. 13).
    pub fn ci95<F: Fn(&[usize]) -> f64>(&self, statistic: F) -> [f64; 2] {
        let mut idx = vec![0usize; self.n];
        let mut stats: Vec<f64> = self
            .indices
            .chunks_exact(self.n)
            .map(|chunk| {
                for (slot, &i) in idx.iter_mut().zip(chunk) {
                    *slot = i as usize;
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
}

/// The percentile bootstrap 95% interval of `statistic` over `resamples` resamples of the indices
/// 0..n drawn from `rng` (Efron and Tibshirani 1993, ch. 13): [`Resamples`] drawn and used at once.
///
/// # Panics
/// Panics when n == 0 or resamples < 40.
pub fn bootstrap_ci95<F>(n: usize, resamples: usize, rng: &mut Stream, statistic: F) -> [f64; 2]
where
    F: Fn(&[usize]) -> f64,
{
    Resamples::draw(rng, n, resamples).ci95(statistic)
}

/// Standard normal deviates drawn ahead, `replicates` rows of `width`, for parametric bootstraps
/// computed later by code that draws no random numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct NormalDraws {
    width: usize,
    values: Vec<f64>,
}

impl NormalDraws {
    /// Draws `replicates * width` standard normals from `rng`, row by row.
    pub fn draw(rng: &mut Stream, replicates: usize, width: usize) -> Self {
        let values = (0..replicates * width)
            .map(|_| crate::rng::standard_normal(rng))
            .collect();
        Self { width, values }
    }

    /// The rows, in draw order.
    pub fn rows(&self) -> impl Iterator<Item = &[f64]> {
        self.values.chunks_exact(self.width.max(1))
    }

    /// The width of a row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// A 95% interval for `statistic` of several independent estimates, by propagating their
    /// sampling errors: each row redraws the estimates as value + se z, and the 2.5% and 97.5%
    /// quantiles of the statistic over rows are taken (a parametric bootstrap; Efron and
    /// Tibshirani 1993, section 6.5). For maxima and spreads, which have no closed-form interval.
    ///
    /// # Panics
    /// Panics when the rows are not as wide as the estimates are many.
    pub fn propagated_interval<F: Fn(&[f64]) -> f64>(
        &self,
        estimates: &[Estimate],
        statistic: F,
    ) -> [f64; 2] {
        assert_eq!(
            self.width,
            estimates.len(),
            "one deviate per estimate and row"
        );
        let mut draws = vec![0.0; estimates.len()];
        let mut values: Vec<f64> = self
            .rows()
            .map(|z| {
                for ((d, e), z) in draws.iter_mut().zip(estimates).zip(z) {
                    *d = e.value + e.se * z;
                }
                statistic(&draws)
            })
            .collect();
        values.sort_by(f64::total_cmp);
        [
            quantile_sorted(&values, 0.025),
            quantile_sorted(&values, 0.975),
        ]
    }
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

/// The ratio of two paired means, mean(numerator) / mean(denominator), with its delta-method
/// standard error SE^2 = Var(numerator_i - R denominator_i) / (n mean(denominator)^2)
/// (Cochran, *Sampling Techniques*, 1977, eq. 6.13). Pairs share a seed or a random stream, so
/// the correlation between the two means is kept, which is what makes paired designs precise.
///
/// The convention is the one of a fraction: numerator first, then denominator.
///
/// # Panics
/// When the lengths differ or there are fewer than two pairs.
pub fn paired_ratio(numerator: &[f64], denominator: &[f64]) -> Estimate {
    assert!(
        numerator.len() == denominator.len() && numerator.len() >= 2,
        "a paired ratio needs at least two pairs of equal length"
    );
    let n = numerator.len();
    let mean_den = denominator.iter().sum::<f64>() / n as f64;
    let mean_num = numerator.iter().sum::<f64>() / n as f64;
    let r = mean_num / mean_den;
    let resid: Vec<f64> = numerator
        .iter()
        .zip(denominator)
        .map(|(y, x)| y - r * x)
        .collect();
    let e = mean_estimate(&resid);
    Estimate {
        value: r,
        se: e.se / mean_den.abs(),
        n,
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

    #[test]
    fn power_of_one_and_two_sided_designs() {
        // Phi at known points (Abramowitz and Stegun, table 26.1).
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-16);
        assert!((normal_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-15);
        assert!((normal_cdf(-1.0) - 0.158_655_253_931_457_05).abs() < 1e-15);
        // One-sided: effect 3.24 SE above the bound gives Phi(3.24 - 1.96) = Phi(1.28) = 0.90.
        let p = power_interval_inside(0.0, f64::INFINITY, 1.0, 1.0 / 3.241_55);
        assert!((p - 0.90).abs() < 1e-4, "{p}");
        // At the bound itself, an interval clears it with probability 2.5%.
        let p = power_interval_inside(f64::NEG_INFINITY, 0.0, 0.0, 1.0);
        assert!((p - 0.025).abs() < 1e-12, "{p}");
        // Two-sided: [-0.5, 0.5] around 0 with se 0.1: 1 - 2 Phi(-(0.5 - 0.196)/0.1).
        let p = power_interval_inside(-0.5, 0.5, 0.0, 0.1);
        let expected = 1.0 - 2.0 * normal_cdf(-(0.5 - 0.1 * Z95) / 0.1);
        assert!((p - expected).abs() < 1e-14);
        // A region narrower than the interval cannot contain it.
        assert_eq!(power_interval_inside(-0.1, 0.1, 0.0, 0.1), 0.0);
    }

    #[test]
    fn t_quantiles_match_published_tables() {
        // 0.975 quantiles of Student's t (Abramowitz and Stegun, table 26.10; more digits from
        // the standard tables), by degrees of freedom n - 1.
        for (n, q) in [
            (2, 12.706_204_736_174_7),
            (3, 4.302_652_729_749_46),
            (11, 2.228_138_851_986_27),
            (31, 2.042_272_456_301_24),
            (1000, 1.962_341_461_133_45),
        ] {
            let got = t_quantile_975(n);
            assert!((got - q).abs() < 1e-10 * q, "n = {n}: {got} vs {q}");
        }
        assert_eq!(t_quantile_975(5000), Z95);
        // I_x(1, 1) = x, and I_x(a, b) + I_{1-x}(b, a) = 1.
        assert!((regularized_incomplete_beta(0.3, 1.0, 1.0) - 0.3).abs() < 1e-15);
        let s =
            regularized_incomplete_beta(0.2, 2.5, 0.5) + regularized_incomplete_beta(0.8, 0.5, 2.5);
        assert!((s - 1.0).abs() < 1e-14);
    }

    #[test]
    fn paired_ratio_is_numerator_over_denominator_with_the_delta_method_se() {
        let den = [1.0, 2.0, 3.0, 4.0];
        let num = [2.0, 4.0, 6.0, 8.0];
        let r = paired_ratio(&num, &den);
        // Exactly proportional pairs: ratio 2, no residual, no error.
        assert_eq!(r.value, 2.0);
        assert_eq!(r.se, 0.0);
        // Residuals y - R x = (1, -1, 1, -1) around R = 2.5 / 2.5 = 1: SE = sd(resid)/sqrt(n)/mean(x).
        let r = paired_ratio(&[2.0, 1.0, 4.0, 3.0], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(r.value, 1.0);
        let sd = (4.0f64 / 3.0).sqrt();
        assert!((r.se - sd / 2.0 / 2.5).abs() < 1e-15);
    }
}
