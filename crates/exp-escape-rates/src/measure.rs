//! Shared measurement steps of the claims: running a batch of escapes and summarizing the exit
//! steps, and the least-squares slope of several estimates with its propagated error.

use crate::kernel::{EscapeSpec, ExitRule, GradientNoise, escape_steps};
use claim_spec::ExperimentError;
use sgd_sim::potential::Potential;
use sgd_sim::rng::Streams;
use sgd_sim::stats::{Estimate, mean_estimate};

/// A trajectory is allowed this many times its expected exit step before the run is declared
/// stuck (an exit-time distribution with an exponential tail exceeds it with probability ~e^-1000).
pub const STEP_LIMIT_FACTOR: f64 = 1000.0;

/// Rows of normal deviates drawn for a propagated interval
/// ([`sgd_sim::stats::NormalDraws::propagated_interval`]).
pub const PROPAGATION_REPLICATES: usize = 4000;

/// The exit steps of one configuration: their mean with its standard error, and their total.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExitSummary {
    /// The mean exit step, with its standard error over trajectories.
    pub steps: Estimate,
    /// The sample standard deviation of the exit step.
    pub steps_sd: f64,
    /// Steps taken by all trajectories together.
    pub total_steps: u64,
}

impl ExitSummary {
    /// The mean exit time in time units, steps * eta.
    pub fn time(&self, eta: f64) -> Estimate {
        self.steps.scaled(eta)
    }
}

/// Step limit for a configuration whose mean exit step is about `expected_steps`.
pub fn step_limit(expected_steps: f64) -> u64 {
    let limit = (STEP_LIMIT_FACTOR * expected_steps.max(1.0)).ceil();
    if limit >= u64::MAX as f64 {
        u64::MAX
    } else {
        limit as u64
    }
}

/// Runs `trajectories` escapes (trajectory i on `streams.stream(purpose, i)`) and summarizes them.
///
/// # Errors
/// A diverging or stuck trajectory.
pub fn run_escapes<P: Potential, N: GradientNoise, E: ExitRule>(
    spec: &EscapeSpec<'_, P, N, E>,
    streams: &Streams,
    purpose: &str,
    trajectories: usize,
) -> Result<ExitSummary, ExperimentError> {
    if trajectories < 2 {
        return Err(ExperimentError::InvalidParams(
            "at least two trajectories are needed for a standard error".into(),
        ));
    }
    let steps = escape_steps(spec, streams, purpose, trajectories)?;
    let values: Vec<f64> = steps.iter().map(|&k| k as f64).collect();
    let estimate = mean_estimate(&values);
    Ok(ExitSummary {
        steps: estimate,
        steps_sd: estimate.se * (trajectories as f64).sqrt(),
        total_steps: steps.iter().sum(),
    })
}

/// The ordinary least-squares slope of y on x, with its standard error propagated from known
/// per-point standard errors `sigma` of y: slope = sum c_i y_i with c_i = (x_i - mean x)/Sxx, so
/// SE = sqrt(sum c_i^2 sigma_i^2). Returned as an estimate backed by `samples` draws (the normal
/// quantile applies: the error comes from the known point errors, not from the residuals).
///
/// # Errors
/// Fewer than two distinct x, or lengths that differ.
pub fn ols_slope(
    x: &[f64],
    y: &[f64],
    sigma: &[f64],
    samples: usize,
) -> Result<Estimate, ExperimentError> {
    if x.len() != y.len() || x.len() != sigma.len() || x.len() < 2 {
        return Err(ExperimentError::InvalidParams(
            "a slope needs at least two points with errors".into(),
        ));
    }
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mean_x) * (v - mean_x)).sum();
    if sxx.is_nan() || sxx <= 0.0 {
        return Err(ExperimentError::InvalidParams(
            "a slope needs at least two distinct x values".into(),
        ));
    }
    let c: Vec<f64> = x.iter().map(|v| (v - mean_x) / sxx).collect();
    let slope = c.iter().zip(y).map(|(c, y)| c * y).sum();
    let variance: f64 = c.iter().zip(sigma).map(|(c, s)| c * c * s * s).sum();
    Ok(Estimate {
        value: slope,
        se: variance.sqrt(),
        n: samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::stats::linear_fit;

    #[test]
    fn ols_slope_matches_the_line_fit_and_propagates_errors() {
        // The slope equals sgd-sim's least-squares slope; with equal sigma the propagated SE is
        // sigma / sqrt(Sxx) exactly (x = 4, 5, 6 twice: Sxx = 4).
        let x = [4.0, 5.0, 6.0, 4.0, 5.0, 6.0];
        let y = [1.0, 2.1, 2.9, 1.2, 1.9, 3.1];
        let e = ols_slope(&x, &y, &[0.1; 6], 100).unwrap();
        assert!((e.value - linear_fit(&x, &y).slope).abs() < 1e-14);
        assert!((e.se - 0.05).abs() < 1e-15);
        assert!(ols_slope(&[1.0, 1.0], &[0.0, 1.0], &[1.0, 1.0], 2).is_err());
    }

    #[test]
    fn step_limit_saturates() {
        assert_eq!(step_limit(10.0), 10_000);
        assert_eq!(step_limit(1e300), u64::MAX);
        assert_eq!(step_limit(0.0), 1000);
    }
}
