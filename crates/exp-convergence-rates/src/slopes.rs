//! Log-log slopes and ratios of replica means, with delta-method standard errors.
//!
//! R independent replicas are observed at K checkpoints t_k; v_rk is replica r's value at t_k.
//! The slope is the least-squares slope of ln(vbar_k) on x_k = ln t_k, where vbar_k is the mean
//! over replicas:
//!
//!   b = sum_k c_k ln(vbar_k),   c_k = (x_k - xbar) / sum_j (x_j - xbar)^2.
//!
//! To first order (the delta method; Casella and Berger 2002, section 5.5.4),
//! b - E[b] = sum_k c_k (vbar_k - E vbar_k) / E vbar_k, which is the mean over replicas of
//! u_r = sum_k c_k v_rk / vbar_k. Hence SE(b) = sd(u) / sqrt(R): the correlation between the
//! checkpoints of one trajectory is accounted for, without modelling it.

use claim_spec::ExperimentError;
use sgd_sim::math::ln;
use sgd_sim::stats::{Estimate, linear_fit, mean_estimate};

/// The least-squares weights c_k of a slope on the abscissae `x`.
fn slope_weights(x: &[f64]) -> Vec<f64> {
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let sxx: f64 = x.iter().map(|v| (v - mean) * (v - mean)).sum();
    x.iter().map(|v| (v - mean) / sxx).collect()
}

/// The log-log slope of replica means against `t`, with its delta-method standard error
/// (see the module documentation). `value(r, k)` is replica r's value at checkpoint k.
///
/// # Errors
/// Fewer than two checkpoints or replicas, checkpoints that are not positive and distinct, or a
/// replica mean that is not positive and finite (its logarithm is undefined).
pub fn log_log_slope(
    t: &[f64],
    replicas: usize,
    value: impl Fn(usize, usize) -> f64,
) -> Result<Estimate, ExperimentError> {
    if t.len() < 2 || replicas < 2 {
        return Err(ExperimentError::InvalidParams(
            "a slope needs at least two checkpoints and two replicas".into(),
        ));
    }
    if t.iter().any(|&v| !(v > 0.0 && v.is_finite())) || t.windows(2).any(|w| w[0] == w[1]) {
        return Err(ExperimentError::InvalidParams(
            "slope checkpoints must be positive and distinct".into(),
        ));
    }
    let x: Vec<f64> = t.iter().map(|&v| ln(v)).collect();
    let c = slope_weights(&x);
    let means: Vec<f64> = (0..t.len())
        .map(|k| (0..replicas).map(|r| value(r, k)).sum::<f64>() / replicas as f64)
        .collect();
    if let Some(k) = means.iter().position(|m| !(*m > 0.0 && m.is_finite())) {
        return Err(ExperimentError::Numerical(format!(
            "the replica mean at checkpoint {} is {}, so its logarithm is undefined",
            t[k], means[k]
        )));
    }
    let slope: f64 = c.iter().zip(&means).map(|(c, m)| c * ln(*m)).sum();
    let influence: Vec<f64> = (0..replicas)
        .map(|r| {
            (0..t.len())
                .map(|k| c[k] * value(r, k) / means[k])
                .sum::<f64>()
        })
        .collect();
    let spread = mean_estimate(&influence);
    Ok(Estimate {
        value: slope,
        se: spread.se,
        n: replicas,
    })
}

/// The ratio of two replica means, mean(b) / mean(a), with its delta-method standard error:
/// the ratio times sd(b_r / bbar - a_r / abar) / sqrt(R).
///
/// # Errors
/// Fewer than two replicas or a mean of `a` that is not positive and finite.
pub fn ratio_of_means(
    replicas: usize,
    a: impl Fn(usize) -> f64,
    b: impl Fn(usize) -> f64,
) -> Result<Estimate, ExperimentError> {
    if replicas < 2 {
        return Err(ExperimentError::InvalidParams(
            "a ratio of means needs two replicas".into(),
        ));
    }
    let mean_a = (0..replicas).map(&a).sum::<f64>() / replicas as f64;
    let mean_b = (0..replicas).map(&b).sum::<f64>() / replicas as f64;
    if !(mean_a > 0.0 && mean_a.is_finite() && mean_b.is_finite()) {
        return Err(ExperimentError::Numerical(format!(
            "ratio of means with denominator mean {mean_a}"
        )));
    }
    let ratio = mean_b / mean_a;
    let influence: Vec<f64> = (0..replicas)
        .map(|r| b(r) / mean_a - ratio * a(r) / mean_a)
        .collect();
    Ok(Estimate {
        value: ratio,
        se: mean_estimate(&influence).se,
        n: replicas,
    })
}

/// The least-squares slope of ln(y) on ln(t) for deterministic values (theory curves).
///
/// # Errors
/// Fewer than two points, or a value or abscissa that is not positive and finite.
pub fn deterministic_log_log_slope(t: &[f64], y: &[f64]) -> Result<f64, ExperimentError> {
    if t.len() != y.len() || t.len() < 2 {
        return Err(ExperimentError::InvalidParams(
            "a slope needs at least two paired points".into(),
        ));
    }
    if t.iter().chain(y).any(|&v| !(v > 0.0 && v.is_finite())) {
        return Err(ExperimentError::Numerical(
            "log-log slope of a non-positive or non-finite value".into(),
        ));
    }
    let x: Vec<f64> = t.iter().map(|&v| ln(v)).collect();
    let ly: Vec<f64> = y.iter().map(|&v| ln(v)).collect();
    Ok(linear_fit(&x, &ly).slope)
}

/// The inverse-variance weighted mean of independent estimates of one quantity, with standard
/// error (sum 1/se_i^2)^(-1/2); `n` is the total sample count behind them.
///
/// # Errors
/// No estimates, or one whose standard error is not positive and finite.
pub fn pooled(estimates: &[Estimate]) -> Result<Estimate, ExperimentError> {
    if estimates.is_empty() {
        return Err(ExperimentError::InvalidParams("nothing to pool".to_owned()));
    }
    if estimates.iter().any(|e| !(e.se > 0.0 && e.se.is_finite())) {
        return Err(ExperimentError::Numerical(
            "pooling an estimate without a positive finite standard error".into(),
        ));
    }
    let weights: Vec<f64> = estimates.iter().map(|e| 1.0 / (e.se * e.se)).collect();
    let total: f64 = weights.iter().sum();
    let value = estimates
        .iter()
        .zip(&weights)
        .map(|(e, w)| e.value * w)
        .sum::<f64>()
        / total;
    Ok(Estimate {
        value,
        se: 1.0 / total.sqrt(),
        n: estimates.iter().map(|e| e.n).sum(),
    })
}

/// Log-spaced integer checkpoints: `per_decade` points per decade from `first` to `last`
/// (both included), rounded to integers and deduplicated, in increasing order.
pub fn log_checkpoints(first: u64, last: u64, per_decade: u32) -> Vec<u64> {
    let mut out = Vec::new();
    if first == 0 || last < first || per_decade == 0 {
        return out;
    }
    let lo = sgd_sim::math::log10(first as f64);
    let hi = sgd_sim::math::log10(last as f64);
    let count = ((hi - lo) * f64::from(per_decade)).round() as u64;
    for k in 0..=count {
        let e = if count == 0 {
            lo
        } else {
            lo + (hi - lo) * k as f64 / count as f64
        };
        let t = (sgd_sim::math::powf(10.0, e).round() as u64).clamp(first, last);
        if out.last() != Some(&t) {
            out.push(t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::{Streams, standard_normal};

    #[test]
    fn slope_of_an_exact_power_law_is_its_exponent() {
        // Every replica equals 3 t^-0.7: the slope is -0.7 up to rounding and the SE is 0.
        let t = [10.0, 20.0, 50.0, 100.0];
        let e = log_log_slope(&t, 5, |_, k| 3.0 * sgd_sim::math::powf(t[k], -0.7)).unwrap();
        assert!((e.value + 0.7).abs() < 1e-12);
        assert!(e.se < 1e-12);
        assert!(
            (deterministic_log_log_slope(&t, &[1.0, 0.5, 0.2, 0.1]).unwrap() + 1.0).abs() < 0.01
        );
    }

    #[test]
    fn delta_method_se_matches_the_spread_over_repetitions() {
        // 400 repetitions of a 200-replica experiment whose checkpoints are correlated (a shared
        // factor per replica) with squared-Gaussian values: the SD of the 400 slopes estimates the
        // true SE with relative error 1/sqrt(2 * 400) = 3.5%; the mean delta-method SE must match
        // it within 15% (4 such errors), and the mean slope must be within 4 SE/sqrt(400) of -0.5.
        let t: [f64; 3] = [100.0, 300.0, 1000.0];
        let streams = Streams::new(5);
        let mut slopes = Vec::new();
        let mut ses = Vec::new();
        for rep in 0..400 {
            let mut rng = streams.stream("rep", rep);
            let values: Vec<[f64; 3]> = (0..200)
                .map(|_| {
                    let shared = standard_normal(&mut rng);
                    let mut v = [0.0; 3];
                    for (k, slot) in v.iter_mut().enumerate() {
                        let z = 0.8 * shared + 0.6 * standard_normal(&mut rng);
                        *slot = z * z * sgd_sim::math::powf(t[k], -0.5);
                    }
                    v
                })
                .collect();
            let e = log_log_slope(&t, 200, |r, k| values[r][k]).unwrap();
            slopes.push(e.value);
            ses.push(e.se);
        }
        let spread = mean_estimate(&slopes);
        let empirical_sd = spread.se * (slopes.len() as f64).sqrt();
        let mean_se = ses.iter().sum::<f64>() / ses.len() as f64;
        assert!(
            (mean_se / empirical_sd - 1.0).abs() < 0.15,
            "{mean_se} vs {empirical_sd}"
        );
        assert!(
            (spread.value + 0.5).abs() < 4.0 * spread.se,
            "{}",
            spread.value
        );
    }

    #[test]
    fn ratio_se_matches_independent_case() {
        // Independent a and b with equal means and relative SD s: the ratio's relative SE is
        // s sqrt(2/R). With constant a the SE is that of mean(b)/a exactly.
        let e = ratio_of_means(4, |_| 2.0, |r| [1.0, 2.0, 3.0, 4.0][r]).unwrap();
        assert!((e.value - 1.25).abs() < 1e-15);
        let direct = mean_estimate(&[0.5, 1.0, 1.5, 2.0]);
        assert!((e.se - direct.se).abs() < 1e-15);
    }

    #[test]
    fn pooling_weights_by_inverse_variance() {
        let a = Estimate {
            value: 1.0,
            se: 1.0,
            n: 10,
        };
        let b = Estimate {
            value: 2.0,
            se: 0.5,
            n: 10,
        };
        let p = pooled(&[a, b]).unwrap();
        assert!((p.value - 1.8).abs() < 1e-15);
        assert!((p.se - (1.0f64 / 5.0).sqrt()).abs() < 1e-15);
        assert!(pooled(&[]).is_err());
    }

    #[test]
    fn checkpoints_are_log_spaced_integers() {
        assert_eq!(
            log_checkpoints(1000, 10_000, 4),
            vec![1000, 1778, 3162, 5623, 10_000]
        );
        assert_eq!(log_checkpoints(1, 10, 1), vec![1, 10]);
        assert!(log_checkpoints(10, 1, 3).is_empty());
    }
}
