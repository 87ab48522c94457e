//! Softmax regression pieces for claim `label-smoothing`: numerically safe softmax (libm), the
//! smoothed targets, damped Newton on one point's cross-entropy in logit space, and the expected
//! calibration error.
//!
//! Cross-entropy of logits z against a target distribution q: f(z) = logsumexp(z) - q.z, gradient
//! p - q with p = softmax(z), Hessian diag(p) - p p^T (singular along the all-ones vector, the
//! shift of every logit that leaves p unchanged).

use sgd_sim::math::{exp, ln};

/// Writes softmax(z) into `p` and returns logsumexp(z) (max-shifted, so no overflow).
pub fn softmax(z: &[f64], p: &mut [f64]) -> f64 {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for (pk, &zk) in p.iter_mut().zip(z) {
        *pk = exp(zk - m);
        sum += *pk;
    }
    for pk in p.iter_mut() {
        *pk /= sum;
    }
    m + ln(sum)
}

/// The label-smoothed target of class `label` among `classes`: (1 - eps) e_label + eps/K.
pub fn smoothed_target(label: usize, classes: usize, smoothing: f64, q: &mut [f64]) {
    let floor = smoothing / classes as f64;
    q[..classes].fill(floor);
    q[label] += 1.0 - smoothing;
}

/// The closed-form fixed point of smoothing: every training point's largest probability
/// 1 - eps + eps/K and its logit gap to every other class ln(1 + K (1 - eps)/eps).
pub fn smoothed_fixed_point(classes: usize, smoothing: f64) -> (f64, f64) {
    let k = classes as f64;
    (
        1.0 - smoothing + smoothing / k,
        ln(1.0 + k * (1.0 - smoothing) / smoothing),
    )
}

/// Cross-entropy f(z) = logsumexp(z) - q.z.
pub fn cross_entropy(z: &[f64], q: &[f64], p: &mut [f64]) -> f64 {
    let lse = softmax(z, p);
    lse - z.iter().zip(q).map(|(a, b)| a * b).sum::<f64>()
}

/// Result of one point's Newton solve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NewtonReport {
    /// Iterations taken.
    pub iterations: usize,
    /// The final gradient norm ||p - q||.
    pub gradient_norm: f64,
}

/// Minimizes f(z) = logsumexp(z) - q.z over z (q strictly positive) by damped Newton, in place,
/// keeping sum(z) = 0.
///
/// The Newton direction solves (diag(p) - p p^T) d = -(p - q) on the complement of the all-ones
/// vector: d_k = q_k/p_k - 1 + c with c chosen so sum(d) = 0 (substituting shows p.d = c, so every
/// c solves the system, and the zero-sum one is the pseudo-inverse's). The Newton decrement is
/// lambda^2 = sum (p_k - q_k)^2 / p_k. Steps are halved until Armijo's condition
/// f(z + s d) <= f(z) - s lambda^2/4 holds (Boyd and Vandenberghe 2004, algorithm 9.5), which makes
/// the method globally convergent and quadratically convergent near the solution; the first trial
/// step is capped so that no logit moves by more than 10.
pub fn newton_cross_entropy(
    z: &mut [f64],
    q: &[f64],
    tolerance: f64,
    max_iterations: usize,
) -> NewtonReport {
    let k = z.len();
    let mut p = vec![0.0; k];
    let mut trial = vec![0.0; k];
    let mut d = vec![0.0; k];
    let mut p_trial = vec![0.0; k];
    let mut f = cross_entropy(z, q, &mut p);
    let mut iterations = 0;
    loop {
        let gradient_norm = p
            .iter()
            .zip(q)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        if gradient_norm <= tolerance || iterations >= max_iterations {
            return NewtonReport {
                iterations,
                gradient_norm,
            };
        }
        for ((dk, &pk), &qk) in d.iter_mut().zip(&p).zip(q) {
            *dk = qk / pk - 1.0;
        }
        let mean = d.iter().sum::<f64>() / k as f64;
        for dk in d.iter_mut() {
            *dk -= mean;
        }
        let decrement: f64 = p.iter().zip(q).map(|(a, b)| (a - b) * (a - b) / a).sum();
        // Far from the solution q/p can be astronomically large: cap the first trial so no logit
        // moves by more than 10 (a trust region; near the solution the full step is taken).
        let largest = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mut s = if largest > 10.0 { 10.0 / largest } else { 1.0 };
        let mut accepted = false;
        for _ in 0..60 {
            for ((t, &zk), &dk) in trial.iter_mut().zip(z.iter()).zip(&d) {
                *t = zk + s * dk;
            }
            let f_trial = cross_entropy(&trial, q, &mut p_trial);
            if f_trial <= f - 0.25 * s * decrement {
                z.copy_from_slice(&trial);
                std::mem::swap(&mut p, &mut p_trial);
                f = f_trial;
                accepted = true;
                break;
            }
            s *= 0.5;
        }
        iterations += 1;
        if !accepted {
            // No decrease is representable any more: rounding has the last word.
            let gradient_norm = p
                .iter()
                .zip(q)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt();
            return NewtonReport {
                iterations,
                gradient_norm,
            };
        }
    }
}

/// The expected calibration error with `bins` equal-width confidence bins (Naeini et al. 2015;
/// Guo et al. 2017): sum over bins of (n_b/n) |accuracy_b - mean confidence_b|, over the points
/// `indices` (repeats allowed, for the bootstrap) of (confidence, correct) pairs.
pub fn expected_calibration_error(
    confidence: &[f64],
    correct: &[bool],
    indices: &[usize],
    bins: usize,
) -> f64 {
    let mut count = vec![0usize; bins];
    let mut conf_sum = vec![0.0; bins];
    let mut hits = vec![0usize; bins];
    for &i in indices {
        let c = confidence[i];
        let b = ((c * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        conf_sum[b] += c;
        hits[b] += usize::from(correct[i]);
    }
    let n = indices.len() as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let nb = count[b] as f64;
            (nb / n) * (hits[b] as f64 / nb - conf_sum[b] / nb).abs()
        })
        .sum()
}

#[cfg(test)]
// The platform float functions are the independent reference these tests compare libm with.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn softmax_matches_the_direct_formula_and_survives_large_logits() {
        let z = [1.0, -2.0, 0.5];
        let mut p = [0.0; 3];
        let lse = softmax(&z, &mut p);
        let total: f64 = z.iter().map(|v| v.exp()).sum();
        for (pk, zk) in p.iter().zip(z) {
            assert!((pk - zk.exp() / total).abs() < 1e-15);
        }
        assert!((lse - total.ln()).abs() < 1e-14);
        let big = [1000.0, 999.0];
        let mut q = [0.0; 2];
        let lse = softmax(&big, &mut q);
        assert!(q.iter().all(|v| v.is_finite()));
        assert!((lse - (1000.0 + (1.0 + (-1f64).exp()).ln())).abs() < 1e-12);
    }

    #[test]
    fn newton_reaches_the_closed_form_logits() {
        // The minimizer of logsumexp(z) - q.z is z = ln q + c: with sum(z) = 0, z_k = ln q_k - mean
        // ln q. Newton must land there to rounding (1e-12 on O(1) logits).
        let (classes, eps) = (10, 0.1);
        let mut q = vec![0.0; classes];
        smoothed_target(3, classes, eps, &mut q);
        let mut z = vec![0.0; classes];
        let report = newton_cross_entropy(&mut z, &q, 1e-14, 100);
        assert!(report.gradient_norm <= 1e-14, "{report:?}");
        assert!(report.iterations < 30, "{report:?}");
        let mean_ln_q = q.iter().map(|v| v.ln()).sum::<f64>() / classes as f64;
        for (zk, qk) in z.iter().zip(&q) {
            assert!((zk - (qk.ln() - mean_ln_q)).abs() < 1e-12);
        }
        let (p_max, gap) = smoothed_fixed_point(classes, eps);
        assert!((p_max - 0.91).abs() < 1e-15);
        assert!((gap - 91f64.ln()).abs() < 1e-14);
        assert!((z[3] - z[0] - gap).abs() < 1e-12);
    }

    #[test]
    fn newton_converges_from_far_away() {
        // Damping makes Newton globally convergent: from logits that predict the wrong class with
        // probability ~1 it still converges.
        let mut q = vec![0.0; 4];
        smoothed_target(0, 4, 0.2, &mut q);
        let mut z = vec![-30.0, 40.0, 0.0, -10.0];
        let report = newton_cross_entropy(&mut z, &q, 1e-12, 200);
        assert!(report.gradient_norm <= 1e-12, "{report:?}");
    }

    #[test]
    fn calibration_error_of_a_hand_example() {
        // Two bins used: [0.2, 0.3) holds conf 0.25 (wrong) and 0.25 (right): acc 0.5, conf 0.25,
        // weight 1/2 -> 0.125; [0.9, 1] holds 0.95 (right) and 0.95 (right): acc 1, conf 0.95,
        // weight 1/2 -> 0.025. ECE = 0.15.
        let conf = [0.25, 0.25, 0.95, 0.95];
        let correct = [false, true, true, true];
        let e = expected_calibration_error(&conf, &correct, &[0, 1, 2, 3], 10);
        assert!((e - 0.15).abs() < 1e-15);
        // Confidence exactly 1 falls in the last bin.
        let e = expected_calibration_error(&[1.0], &[true], &[0], 10);
        assert_eq!(e, 0.0);
    }
}
