//! Simulated minibatch SGD for the family's steps-to-target claims, beside their closed forms.
//!
//! Each run records its loss at every step t = 0..=T. Over R independent runs the mean loss curve
//! estimates the expected loss E[L(w_t)] that the closed forms give exactly, so the measured
//! steps-to-target is the first crossing of the target by the mean curve, interpolated linearly
//! between the last step above it and the first at or below it (the same rule as the closed
//! forms). Its standard error follows by the delta method (Casella and Berger 2002, section 5.5.4):
//! at the crossing s, a shift dL of the mean curve moves s by dL / |L'(s)|, so
//! SE(s) = sqrt(Var_r L_r(s) / R) / |L(t - 1) - L(t)|, with the across-run variance interpolated
//! like the mean.
//!
//! Two simulators: the noisy quadratic model (independent Gaussian gradient noise of variance
//! c_i / b per coordinate, the model's definition of a b-sized minibatch) and least squares with
//! b indices drawn uniformly with replacement.

use crate::diversity::Dataset;
use crate::hyperbola::fit_hyperbola;
use claim_spec::{ExperimentError, RunContext};
use sgd_sim::linalg::dot;
use sgd_sim::noisy_quadratic::NoisyQuadratic;
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::rng::{Stream, standard_normal, uniform_index};
use sgd_sim::stats::{Estimate, NormalDraws, Z95, t_quantile_975};

/// The losses of R runs, step by step.
#[derive(Clone, Debug, PartialEq)]
pub struct LossCurve {
    /// L_r(t) for each run r (in index order), t = 0..=T.
    pub runs: Vec<Vec<f64>>,
}

impl LossCurve {
    /// The curve of `runs`, each of the same length.
    ///
    /// # Errors
    /// Fewer than two runs, or runs of different lengths.
    pub fn from_runs(runs: Vec<Vec<f64>>) -> Result<Self, ExperimentError> {
        let len = runs.first().map_or(0, Vec::len);
        if runs.len() < 2 || len == 0 || runs.iter().any(|r| r.len() != len) {
            return Err(ExperimentError::Numerical(
                "a loss curve needs at least two runs of equal, positive length".into(),
            ));
        }
        Ok(Self { runs })
    }

    /// Steps recorded per run, T + 1.
    pub fn len(&self) -> usize {
        self.runs[0].len()
    }

    /// Whether no step is recorded (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Run r's loss averaged over steps t - k..=t + k (clipped to the record).
    fn smoothed(&self, r: usize, t: usize, k: usize) -> f64 {
        let lo = t.saturating_sub(k);
        let hi = (t + k).min(self.len() - 1);
        let window = &self.runs[r][lo..=hi];
        window.iter().sum::<f64>() / window.len() as f64
    }

    /// The mean over runs of the smoothed loss at step t.
    pub fn mean(&self, t: usize, k: usize) -> f64 {
        let n = self.runs.len();
        (0..n).map(|r| self.smoothed(r, t, k)).sum::<f64>() / n as f64
    }

    /// [`LossCurve::mean`] at every step for one `k`, in O(R T) rather than O(R T k): the mean over
    /// runs taken first, then the window average from prefix sums (the same number up to rounding,
    /// since both averages are linear).
    fn smoothed_mean_curve(&self, k: usize) -> impl Fn(usize) -> f64 {
        let n = self.runs.len() as f64;
        let mut prefix = Vec::with_capacity(self.len() + 1);
        prefix.push(0.0);
        for t in 0..self.len() {
            let across: f64 = self.runs.iter().map(|r| r[t]).sum::<f64>() / n;
            prefix.push(prefix[t] + across);
        }
        let last = self.len() - 1;
        move |t| {
            let (lo, hi) = (t.saturating_sub(k), (t + k).min(last));
            (prefix[hi + 1] - prefix[lo]) / (hi - lo + 1) as f64
        }
    }

    /// The first crossing of `target` by the mean loss curve smoothed over 2k + 1 steps, with its
    /// delta-method standard error; `None` when the recorded steps never reach it.
    ///
    /// Smoothing matters: near a distant target the expected loss falls by much less per step
    /// than the fast coordinates' noise moves a run's loss from one step to the next, so the
    /// unsmoothed mean curve would cross at its first downward jitter (a first-passage bias
    /// towards early crossings). Averaging over a window of a few percent of the crossing step
    /// removes the jitter; its own bias, L'' k^2 / 6 in loss, shifts the crossing by about
    /// k^2 / (6 tau) steps for a loss decaying on a time scale tau, negligible for k << tau.
    pub fn crossing(&self, target: f64, k: usize) -> Option<Estimate> {
        let n = self.runs.len();
        let mean = self.smoothed_mean_curve(k);
        if self.mean(0, 0) <= target {
            return Some(Estimate {
                value: 0.0,
                se: 0.0,
                n,
            });
        }
        let t = (1..self.len()).find(|&t| mean(t) <= target)?;
        let (before, after) = (mean(t - 1), mean(t));
        let frac = (before - target) / (before - after);
        // The slope, from the smoothed curve at t - 4k and t + 4k: a secant over a baseline wider
        // than the smoothing window, so that the leftover jitter of the mean curve cannot make the
        // denominator small (its relative error from the curve's bend is O((4k / tau)^2)).
        let reach = (4 * k).max(1);
        let (lo, hi) = (t.saturating_sub(reach), (t + reach).min(self.len() - 1));
        let slope = (mean(lo) - mean(hi)) / (hi - lo) as f64;
        let at: Vec<f64> = (0..n)
            .map(|r| (1.0 - frac) * self.smoothed(r, t - 1, k) + frac * self.smoothed(r, t, k))
            .collect();
        let spread = sgd_sim::stats::sample_variance(&at);
        (slope > 0.0).then(|| Estimate {
            value: (t - 1) as f64 + frac,
            se: (spread / n as f64).sqrt() / slope,
            n,
        })
    }
}

/// The smoothing half-width for a crossing expected near `exact_steps`: 2% of it.
pub fn smoothing(exact_steps: f64) -> usize {
    (0.02 * exact_steps).ceil() as usize
}

/// The step budget of a simulated run whose expected crossing is at `exact_steps`: 30% and 20
/// steps beyond it (the slope's baseline reaches 8% beyond the crossing), far more than the sampling error of the mean curve moves the crossing, and
/// room for the smoothing window.
pub fn step_budget(exact_steps: f64) -> usize {
    (1.3 * exact_steps).ceil() as usize + 20
}

/// One SGD run on the noisy quadratic model from w_i(0) = sqrt(m_i(0)):
/// w_i <- (1 - eta h_i) w_i - eta sqrt(c_i / b) z_i; returns L(w_t) = (1/2) sum h_i w_i^2 for
/// t = 0..=steps.
pub fn nqm_run(
    model: &NoisyQuadratic,
    eta: f64,
    batch: f64,
    steps: usize,
    rng: &mut Stream,
) -> Vec<f64> {
    let decay: Vec<f64> = model.curvatures.iter().map(|h| 1.0 - eta * h).collect();
    let kick: Vec<f64> = model
        .noise
        .iter()
        .map(|c| eta * (c / batch).sqrt())
        .collect();
    let mut w: Vec<f64> = model.initial.iter().map(|m| m.sqrt()).collect();
    let mut losses = Vec::with_capacity(steps + 1);
    losses.push(model.loss_of_moments(&w.iter().map(|v| v * v).collect::<Vec<_>>()));
    for _ in 0..steps {
        let mut loss = 0.0;
        for (((wi, a), k), h) in w.iter_mut().zip(&decay).zip(&kick).zip(&model.curvatures) {
            *wi = a * *wi - k * standard_normal(rng);
            loss += h * *wi * *wi;
        }
        losses.push(0.5 * loss);
    }
    losses
}

/// A least-squares problem prepared for simulation: the data, its minimizer and its Hessian.
#[derive(Clone, Debug, PartialEq)]
pub struct LeastSquaresRun<'a> {
    /// The data set.
    pub data: &'a Dataset,
    /// Its minimizer w_hat.
    pub w_hat: &'a [f64],
    /// H = (1/N) sum x_i x_i^T, row-major.
    pub hessian: &'a [f64],
    /// The start is w_hat + init_scale z, z ~ N(0, I).
    pub init_scale: f64,
}

impl LeastSquaresRun<'_> {
    /// The excess loss L(w) - L(w_hat) = (1/2) e^T H e, e = w - w_hat (exact for least squares).
    fn excess(&self, e: &[f64]) -> f64 {
        let d = e.len();
        let mut q = 0.0;
        for (j, ej) in e.iter().enumerate() {
            q += ej * dot(&self.hessian[j * d..(j + 1) * d], e);
        }
        0.5 * q
    }

    /// One run of SGD with `batch` indices drawn uniformly with replacement per step; returns the
    /// excess loss at t = 0..=steps.
    pub fn run(&self, eta: f64, batch: usize, steps: usize, rng: &mut Stream) -> Vec<f64> {
        let d = self.data.dim;
        let n = self.data.samples();
        let mut w: Vec<f64> = self
            .w_hat
            .iter()
            .map(|v| v + self.init_scale * standard_normal(rng))
            .collect();
        let mut e: Vec<f64> = w.iter().zip(self.w_hat).map(|(a, b)| a - b).collect();
        let mut g = vec![0.0; d];
        let mut losses = Vec::with_capacity(steps + 1);
        losses.push(self.excess(&e));
        let scale = eta / batch as f64;
        for _ in 0..steps {
            g.iter_mut().for_each(|v| *v = 0.0);
            for _ in 0..batch {
                let i = uniform_index(rng, n);
                let r = self.data.residual(i, &w);
                for (gj, x) in g.iter_mut().zip(self.data.input(i)) {
                    *gj += r * x;
                }
            }
            for ((wj, ej), (gj, h)) in w.iter_mut().zip(e.iter_mut()).zip(g.iter().zip(self.w_hat))
            {
                *wj -= scale * gj;
                *ej = *wj - h;
            }
            losses.push(self.excess(&e));
        }
        losses
    }
}

/// `runs` independent runs of `one`, each with its own stream of `purpose`, combined in index
/// order into a loss curve; the runner's stop flag is polled before each run.
///
/// # Errors
/// Cancellation, or fewer than two runs.
pub fn loss_curve<F>(
    ctx: &RunContext,
    purpose: &str,
    runs: usize,
    one: F,
) -> Result<LossCurve, ExperimentError>
where
    F: Fn(&mut Stream) -> Vec<f64> + Sync + Send,
{
    let all = cancellable_trajectories(&ctx.streams(), purpose, runs, &ctx.cancel, |_, rng| {
        Ok::<_, ExperimentError>(one(rng))
    })?;
    LossCurve::from_runs(all)
}

/// Rows of normal deviates drawn for the propagated intervals of statistics of several measured
/// steps-to-target (fitted knees, ratios): enough for 2.5% and 97.5% quantiles to about 0.5% of
/// the interval's width.
pub const PROPAGATION_REPLICATES: usize = 2000;

/// One simulated batch size: the exact steps-to-target beside the measured one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimBatch {
    /// The batch size b.
    pub batch: f64,
    /// The tuned step size used.
    pub eta: f64,
    /// The exact steps-to-target at that step size (closed form).
    pub exact: f64,
    /// The measured steps-to-target, from the mean loss curve of the runs.
    pub steps: Estimate,
}

impl SimBatch {
    /// (measured - exact) / SE.
    pub fn z(&self) -> f64 {
        self.steps.z_score(self.exact)
    }
}

/// The largest |z| of measured against exact steps over a sweep.
pub fn max_abs_z(sims: &[SimBatch]) -> f64 {
    sims.iter().map(|s| s.z().abs()).fold(0.0, f64::max)
}

/// The largest |measured / exact - 1| of the steps over a sweep.
pub fn max_rel_error(sims: &[SimBatch]) -> f64 {
    sims.iter()
        .map(|s| (s.steps.value / s.exact - 1.0).abs())
        .fold(0.0, f64::max)
}

/// B* of the hyperbola fitted to steps `values` at `sims`' batch sizes (NaN when the points
/// admit no hyperbola, which a propagated interval then reports as not finite).
pub fn knee_of(sims: &[SimBatch], values: &[f64]) -> f64 {
    let batches: Vec<f64> = sims.iter().map(|s| s.batch).collect();
    fit_hyperbola(&batches, values).map_or(f64::NAN, |f| f.b_star.value)
}

/// A measured statistic of the sweep's steps, with its propagated 95% interval. Each standard
/// error is widened by t_{0.975, R-1} / z_{0.975} first, so that a normal draw stands for the
/// Student-t uncertainty of an SE estimated from R runs.
///
/// # Errors
/// A statistic or interval that is not finite.
pub fn propagated<F: Fn(&[f64]) -> f64>(
    name: &str,
    sims: &[SimBatch],
    draws: &NormalDraws,
    statistic: F,
) -> Result<(f64, [f64; 2]), ExperimentError> {
    let estimates: Vec<Estimate> = sims
        .iter()
        .map(|s| Estimate {
            se: s.steps.se * t_quantile_975(s.steps.n) / Z95,
            ..s.steps
        })
        .collect();
    let values: Vec<f64> = estimates.iter().map(|e| e.value).collect();
    let value = statistic(&values);
    let ci = draws.propagated_interval(&estimates, statistic);
    if !(value.is_finite() && ci[0].is_finite() && ci[1].is_finite()) {
        return Err(ExperimentError::Numerical(format!(
            "{name}: the measured value or its interval is not finite"
        )));
    }
    Ok((value, ci))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_interpolates_and_its_error_follows_the_spread() {
        // Runs 10 - t +- 1: the mean curve crosses -2.5 halfway between t = 12 and t = 13; the
        // across-run variance is 2 (n - 1 = 1) and the curve drops 1 per step, so
        // SE = sqrt(2 / 2) / 1 = 1. A window of +-1 step (and the slope's +-4 baseline) leaves a
        // linear curve unchanged.
        let runs: Vec<Vec<f64>> = [1.0, -1.0]
            .iter()
            .map(|s| (0..20).map(|t| 10.0 - f64::from(t) + s).collect())
            .collect();
        let curve = LossCurve::from_runs(runs.clone()).unwrap();
        for k in [0, 1] {
            let c = curve.crossing(-2.5, k).unwrap();
            assert!(
                (c.value - 12.5).abs() < 1e-12 && (c.se - 1.0).abs() < 1e-12,
                "{c:?}"
            );
        }
        assert!(curve.crossing(-20.0, 0).is_none());
        assert!(LossCurve::from_runs(runs[..1].to_vec()).is_err());
    }

    #[test]
    fn smoothing_removes_the_early_crossing_of_a_jittery_curve() {
        // 10 - t / 100 with a +-0.5 alternating jitter: unsmoothed, the curve first dips below 7
        // at t = 250; smoothed over +-25 steps the jitter left is 0.5 / 51 ~ 0.01, about one
        // step, so it crosses within 2 steps of 300.
        let run: Vec<f64> = (0..600)
            .map(|t| 10.0 - f64::from(t) / 100.0 + if t % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let curve = LossCurve::from_runs(vec![run.clone(), run]).unwrap();
        assert!(curve.crossing(7.0, 0).unwrap().value < 260.0);
        let c = curve.crossing(7.0, 25).unwrap().value;
        assert!((c - 300.0).abs() < 2.0, "{c}");
    }

    #[test]
    fn nqm_runs_follow_the_expected_loss() {
        // 400 runs of a 3-coordinate model: the mean loss after 20 steps lies within 4.5 SE of
        // the closed form.
        let model = NoisyQuadratic {
            curvatures: vec![1.0, 0.5, 0.1],
            noise: vec![1.0, 0.5, 0.1],
            initial: vec![1.0, 1.0, 1.0],
        };
        let streams = sgd_sim::rng::Streams::new(3);
        let runs: Vec<Vec<f64>> = (0..400)
            .map(|r| nqm_run(&model, 0.3, 2.0, 20, &mut streams.stream("t", r)))
            .collect();
        let at: Vec<f64> = runs.iter().map(|r| r[20]).collect();
        let e = sgd_sim::stats::mean_estimate(&at);
        let exact = model.expected_loss(0.3, 2.0, 20.0);
        assert!(
            (e.value - exact).abs() < 4.5 * e.se,
            "{} vs {exact}",
            e.value
        );
    }

    #[test]
    fn least_squares_runs_follow_the_exact_expected_loss() {
        // 4000 runs (b = 2, eta = 0.2, 25 steps) from w_hat + N(0, I) on a 3-d, 30-point noisy
        // problem: the mean excess loss after 25 steps lies within 4.5 SE of the second-moment
        // recursion's exact value.
        use crate::ls_moments::SecondMomentOperator;
        let streams = sgd_sim::rng::Streams::new(4);
        let data =
            crate::diversity::correlated_dataset(30, 3, 0.5, 0.5, &mut streams.stream("d", 0))
                .unwrap();
        let w_hat = data.minimizer().unwrap();
        let residuals: Vec<f64> = (0..30).map(|i| data.residual(i, &w_hat)).collect();
        let op = SecondMomentOperator::new(&data.inputs, &residuals, 3).unwrap();
        let exact = op.run(0.2, 2.0, &op.isotropic(1.0)).unwrap().unwrap();
        let hessian = data.hessian();
        let sim = LeastSquaresRun {
            data: &data,
            w_hat: &w_hat,
            hessian: &hessian,
            init_scale: 1.0,
        };
        let at: Vec<f64> = (0..4000)
            .map(|r| sim.run(0.2, 2, 25, &mut streams.stream("run", r))[25])
            .collect();
        let e = sgd_sim::stats::mean_estimate(&at);
        let want = exact.excess_loss(25);
        assert!(
            (e.value - want).abs() < 4.5 * e.se,
            "{} +- {} vs {want}",
            e.value,
            e.se
        );
    }
}
