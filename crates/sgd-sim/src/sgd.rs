//! The SGD loop: w <- w - eta_t g_t(w), with step-size and batch-size schedules, an observer, and
//! divergence detection (a diverged run is an error with its step, never a panic or a NaN).

use crate::SimError;
use crate::oracle::GradientOracle;
use crate::rng::Stream;
use crate::schedule::{BatchSize, StepSize};

/// What the observer asks the loop to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Take the next step.
    Continue,
    /// Stop now (for example, a target was reached).
    Stop,
}

/// Settings of one SGD run.
#[derive(Clone, Debug, PartialEq)]
pub struct SgdRun {
    /// Step sizes eta_t.
    pub step_size: StepSize,
    /// Batch sizes b_t (ignored by oracles without a batch).
    pub batch_size: BatchSize,
    /// The number of steps to take at most.
    pub steps: u64,
    /// The run has diverged when any |w_i| exceeds this bound (or is not finite).
    pub divergence_bound: f64,
}

/// Summary of a finished run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunSummary {
    /// Steps taken.
    pub steps: u64,
    /// Per-example gradient evaluations spent.
    pub examples: u64,
}

/// Runs SGD from `w` (updated in place). `observe(t, w)` is called before step t = 0 and after
/// every step with the new iterate and step count; it can stop the run.
///
/// # Errors
/// [`SimError::Diverged`] when an iterate is not finite or leaves the divergence bound.
pub fn run_sgd<O: GradientOracle + ?Sized>(
    w: &mut [f64],
    oracle: &mut O,
    run: &SgdRun,
    rng: &mut Stream,
    mut observe: impl FnMut(u64, &[f64]) -> Control,
) -> Result<RunSummary, SimError> {
    let mut g = vec![0.0; w.len()];
    let mut examples = 0u64;
    let mut current_batch = None;
    if observe(0, w) == Control::Stop {
        return Ok(RunSummary {
            steps: 0,
            examples: 0,
        });
    }
    for t in 0..run.steps {
        let b = run.batch_size.at(t);
        if current_batch != Some(b) {
            oracle.set_batch_size(b);
            current_batch = Some(b);
        }
        oracle.estimate(w, rng, &mut g);
        examples += oracle.examples_per_call() as u64;
        let eta = run.step_size.at(t);
        let mut bad = false;
        for (wi, gi) in w.iter_mut().zip(&g) {
            *wi -= eta * gi;
            bad |= wi.is_nan() || wi.abs() > run.divergence_bound;
        }
        if bad {
            return Err(SimError::Diverged {
                step: t + 1,
                reason: format!(
                    "an iterate left |w| <= {:e} (eta = {eta:e})",
                    run.divergence_bound
                ),
            });
        }
        if observe(t + 1, w) == Control::Stop {
            return Ok(RunSummary {
                steps: t + 1,
                examples,
            });
        }
    }
    Ok(RunSummary {
        steps: run.steps,
        examples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::DiagonalQuadratic;
    use crate::oracle::ExactGradient;
    use crate::rng::Streams;

    #[test]
    fn gradient_descent_contracts_geometrically() {
        // On f = (1/2) sum h_i w_i^2, GD gives w_i(t) = (1 - eta h_i)^t w_i(0) exactly; the loop
        // computes the same product, so the only error is rounding, O(t eps).
        let h = vec![0.5, 1.0, 3.0];
        let eta = 0.1;
        let mut oracle = ExactGradient {
            objective: DiagonalQuadratic::centred(h.clone()),
            cost: 1,
        };
        let mut w = vec![1.0, -2.0, 0.5];
        let w0 = w.clone();
        let run = SgdRun {
            step_size: StepSize::Constant(eta),
            batch_size: BatchSize::Constant(1),
            steps: 50,
            divergence_bound: 1e6,
        };
        let mut rng = Streams::new(0).stream("t", 0);
        let mut observed = Vec::new();
        run_sgd(&mut w, &mut oracle, &run, &mut rng, |t, w| {
            observed.push((t, w[2]));
            Control::Continue
        })
        .unwrap();
        for i in 0..3 {
            let want = w0[i] * crate::math::powi(1.0 - eta * h[i], 50);
            assert!(
                (w[i] - want).abs() <= 1e-13 * want.abs().max(1e-300) + 1e-300,
                "coordinate {i}"
            );
        }
        assert_eq!(observed.len(), 51);
        assert_eq!(observed[0], (0, 0.5));
    }

    #[test]
    fn divergence_is_an_error_with_its_step() {
        // eta h = 3 > 2: |w| grows by 2x per step and crosses 1e3 after 10 steps.
        let mut oracle = ExactGradient {
            objective: DiagonalQuadratic::centred(vec![3.0]),
            cost: 1,
        };
        let mut w = vec![1.0];
        let run = SgdRun {
            step_size: StepSize::Constant(1.0),
            batch_size: BatchSize::Constant(1),
            steps: 100,
            divergence_bound: 1e3,
        };
        let err = run_sgd(
            &mut w,
            &mut oracle,
            &run,
            &mut Streams::new(0).stream("t", 0),
            |_, _| Control::Continue,
        )
        .unwrap_err();
        assert!(
            matches!(err, SimError::Diverged { step: 10, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn observer_can_stop() {
        let mut oracle = ExactGradient {
            objective: DiagonalQuadratic::centred(vec![1.0]),
            cost: 3,
        };
        let mut w = vec![1.0];
        let run = SgdRun {
            step_size: StepSize::Constant(0.5),
            batch_size: BatchSize::Constant(1),
            steps: 100,
            divergence_bound: 1e3,
        };
        let s = run_sgd(
            &mut w,
            &mut oracle,
            &run,
            &mut Streams::new(0).stream("t", 0),
            |_, w| {
                if w[0] < 0.1 {
                    Control::Stop
                } else {
                    Control::Continue
                }
            },
        )
        .unwrap();
        // 0.5^4 = 0.0625 < 0.1 <= 0.5^3.
        assert_eq!(
            s,
            RunSummary {
                steps: 4,
                examples: 12
            }
        );
    }
}
