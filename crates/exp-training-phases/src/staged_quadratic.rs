//! The noisy quadratic model under a piecewise-constant step size: the closed form of
//! `sgd_sim::noisy_quadratic` composed stage by stage.
//!
//! Within a stage of constant eta the second moments obey m(t+1) = (1 - eta h)^2 m(t) + eta^2 c / b,
//! whose solution from any starting moments m(s) is m(s + k) = a^k (m(s) - m_inf) + m_inf with
//! a = (1 - eta h)^2 and m_inf = eta c / (b h (2 - eta h)). The recursion is Markov in m, so the moments
//! at the end of one stage are the starting moments of the next, and the expected loss at any step
//! costs O(d x stages).

use claim_spec::ExperimentError;
use sgd_sim::math::powf;
use sgd_sim::noisy_quadratic::NoisyQuadratic;

/// A stage: a step size held for a number of steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    /// The step size.
    pub eta: f64,
    /// How many steps it is held.
    pub steps: u64,
}

/// The second moments after `t` steps of the staged schedule (t beyond the last stage continues it).
pub fn staged_moments(model: &NoisyQuadratic, stages: &[Stage], batch: f64, t: u64) -> Vec<f64> {
    let mut current = model.clone();
    let mut remaining = t;
    for (k, stage) in stages.iter().enumerate() {
        let last = k + 1 == stages.len();
        let steps = if last {
            remaining
        } else {
            remaining.min(stage.steps)
        };
        current.initial = current.moments(stage.eta, batch, steps as f64);
        remaining -= steps;
        if remaining == 0 {
            break;
        }
    }
    current.initial
}

/// The expected loss (1/2) sum h_i m_i after `t` steps of the staged schedule.
pub fn staged_loss(model: &NoisyQuadratic, stages: &[Stage], batch: f64, t: u64) -> f64 {
    model.loss_of_moments(&staged_moments(model, stages, batch, t))
}

/// The run-to-run variance of the loss after `t` steps from the deterministic start `w0`
/// (w0_i^2 = m_i(0)) with Gaussian noise. Each w_i(t) is Gaussian with mean
/// mu_i = w0_i prod_k (1 - eta_k h_i)^(steps_k) and variance v_i = m_i(t) - mu_i^2, independent across
/// i, so (Isserlis) Var[(1/2) sum h_i w_i^2] = sum (h_i/2)^2 (2 v_i^2 + 4 mu_i^2 v_i).
pub fn staged_loss_variance(
    model: &NoisyQuadratic,
    stages: &[Stage],
    batch: f64,
    t: u64,
    w0: &[f64],
) -> f64 {
    let moments = staged_moments(model, stages, batch, t);
    let mut total = 0.0;
    for (i, (&h, &m)) in model.curvatures.iter().zip(&moments).enumerate() {
        let mut factor = 1.0;
        let mut remaining = t;
        for (k, stage) in stages.iter().enumerate() {
            let steps = if k + 1 == stages.len() {
                remaining
            } else {
                remaining.min(stage.steps)
            };
            let a = 1.0 - stage.eta * h;
            let sign = if a < 0.0 && steps % 2 == 1 { -1.0 } else { 1.0 };
            factor *= sign * powf(a.abs(), steps as f64);
            remaining -= steps;
        }
        let mu = w0[i] * factor;
        let v = (m - mu * mu).max(0.0);
        total += 0.25 * h * h * (2.0 * v * v + 4.0 * mu * mu * v);
    }
    total
}

/// Stages from budget fractions and step factors: stage k holds eta_0 * factors[k] for
/// round(fractions[k] * total) steps.
///
/// # Errors
/// When a fraction of the budget is not a whole number of steps.
pub fn stages_from_fractions(
    eta0: f64,
    total: u64,
    fractions: &[f64],
    factors: &[f64],
) -> Result<Vec<Stage>, ExperimentError> {
    fractions
        .iter()
        .zip(factors)
        .map(|(&f, &c)| {
            let exact = f * total as f64;
            let steps = exact.round();
            if (exact - steps).abs() > 1e-6 {
                return Err(ExperimentError::InvalidParams(format!(
                    "fraction {f} of {total} steps is not a whole number of steps"
                )));
            }
            Ok(Stage {
                eta: eta0 * c,
                steps: steps as u64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composition_equals_the_step_by_step_recursion() {
        // Iterating m <- (1 - eta h)^2 m + eta^2 c / b through the stages gives the same moments as
        // the composed closed form, to rounding (relative 1e-10 after 1200 steps).
        let model = NoisyQuadratic::harmonic(30);
        let stages = [
            Stage {
                eta: 1.2,
                steps: 600,
            },
            Stage {
                eta: 0.12,
                steps: 360,
            },
            Stage {
                eta: 0.012,
                steps: 240,
            },
        ];
        let b = 2.0;
        let mut rec = model.initial.clone();
        let mut t = 0u64;
        for stage in &stages {
            for _ in 0..stage.steps {
                for i in 0..model.dim() {
                    let shrink = 1.0 - stage.eta * model.curvatures[i];
                    let a = shrink * shrink;
                    rec[i] = a * rec[i] + stage.eta * stage.eta * model.noise[i] / b;
                }
                t += 1;
                if t.is_multiple_of(100) || t == 601 {
                    let closed = staged_moments(&model, &stages, b, t);
                    for i in 0..model.dim() {
                        assert!(
                            (closed[i] / rec[i] - 1.0).abs() < 1e-10,
                            "t {t} i {i}: {} vs {}",
                            closed[i],
                            rec[i]
                        );
                    }
                }
            }
        }
        // One stage reduces to the core's constant-step closed form.
        let one = [Stage {
            eta: 0.3,
            steps: 500,
        }];
        assert_eq!(
            staged_loss(&model, &one, b, 500),
            model.expected_loss(0.3, b, 500.0)
        );
    }

    #[test]
    fn loss_variance_matches_monte_carlo() {
        // 20,000 runs of a 4-d model from w0 = 1 through two stages: the sample variance of the final
        // loss agrees with the formula within 5 SE of a variance estimate (SE from the sample's
        // fourth moment).
        use sgd_sim::rng::{Streams, standard_normal};
        let model = NoisyQuadratic::harmonic(4);
        let stages = [
            Stage { eta: 0.3, steps: 6 },
            Stage {
                eta: 0.05,
                steps: 10,
            },
        ];
        let b = 2.0;
        let w0 = vec![1.0; 4];
        let streams = Streams::new(17);
        let losses: Vec<f64> = (0..20_000)
            .map(|r| {
                let mut rng = streams.stream("v", r);
                let mut w = w0.clone();
                for s in &stages {
                    for _ in 0..s.steps {
                        for i in 0..4 {
                            let g = model.curvatures[i] * w[i]
                                + (model.noise[i] / b).sqrt() * standard_normal(&mut rng);
                            w[i] -= s.eta * g;
                        }
                    }
                }
                0.5 * (0..4)
                    .map(|i| model.curvatures[i] * w[i] * w[i])
                    .sum::<f64>()
            })
            .collect();
        let n = losses.len() as f64;
        let mean = losses.iter().sum::<f64>() / n;
        let var = losses.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        let m4 = losses
            .iter()
            .map(|x| sgd_sim::math::powi(x - mean, 4))
            .sum::<f64>()
            / n;
        let se = ((m4 - var * var) / n).sqrt();
        let want = staged_loss_variance(&model, &stages, b, 16, &w0);
        assert!((var - want).abs() < 5.0 * se, "{var} +- {se} vs {want}");
        assert!((mean / staged_loss(&model, &stages, b, 16) - 1.0).abs() < 0.02);
    }

    #[test]
    fn fractions_must_be_whole_steps() {
        let s = stages_from_fractions(0.5, 100_000, &[0.5, 0.3, 0.2], &[1.0, 0.1, 0.01]).unwrap();
        assert_eq!(
            s.iter().map(|s| s.steps).collect::<Vec<_>>(),
            vec![50_000, 30_000, 20_000]
        );
        assert!((s[2].eta - 0.005).abs() < 1e-18);
        assert!(stages_from_fractions(0.5, 7, &[0.5, 0.5], &[1.0, 0.1]).is_err());
    }
}
