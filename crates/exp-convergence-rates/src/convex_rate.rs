//! Claim `convex-rate`: on a convex Lipschitz problem, eta_t ~ 1/sqrt(t + 1) gives O(1/sqrt(T)).
//!
//! SGD on f(w) = |w| with stochastic subgradients sign(w) + s xi, xi ~ N(0, 1), and
//! eta_t = c / sqrt(t + 1) (t = 0, 1, ...), from w_0. The function is convex and 1-Lipschitz but
//! not strongly convex, and the O(1/sqrt(T)) rate is tight there: near the minimum the iterate
//! performs a random walk whose width is proportional to the step. In units of the step the walk
//! has a stationary law with E|u| = kappa = (1 + s^2)/2 ([`crate::sign_chain`]), so the last
//! iterate follows E|w_T| = kappa eta_{T-1} (1 + O(1/T)), a T^-1/2 law with a known constant. The averaged iterate
//! wbar_T = (1/T) sum_{t=1..T} w_t averages the nearly independent fluctuations and converges
//! much faster (about sqrt(log T) / T).

use crate::sign_chain;
use crate::slopes::{log_checkpoints, log_log_slope};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::trajectories;
use sgd_sim::rng::standard_normal;
use sgd_sim::stats::mean_estimate;

/// Parameters of `convergence-rates/convex-rate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Step constant c of eta_t = c / sqrt(t + 1).
    pub step_scale: f64,
    /// Standard deviation s of the subgradient noise.
    pub noise_std: f64,
    /// Starting point w_0.
    pub initial: f64,
    /// Independent replicas.
    pub replicas: usize,
    /// Steps T per replica.
    pub steps: u64,
    /// First step of the slope window (the window ends at T).
    pub fit_from: u64,
    /// Checkpoints per decade.
    pub points_per_decade: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            step_scale: 0.5,
            noise_std: 1.0,
            initial: 1.0,
            replicas: 2000,
            steps: 100_000,
            fit_from: 1000,
            points_per_decade: 5,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::positive("step_scale", self.step_scale)?;
        ParamError::positive("noise_std", self.noise_std)?;
        ParamError::finite("initial", self.initial)?;
        ParamError::at_least("replicas", self.replicas as u64, 2)?;
        ParamError::at_least("fit_from", self.fit_from, 10)?;
        ParamError::at_least("points_per_decade", u64::from(self.points_per_decade), 1)?;
        if self.steps < 10 * self.fit_from {
            return Err(ParamError::new("steps", "must be at least 10 fit_from"));
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        self.replicas as f64 * self.steps as f64
    }
}

/// One replica's |w_T| and |wbar_T| at the checkpoints.
struct Record {
    last: Vec<f64>,
    averaged: Vec<f64>,
}

/// Runs the claim.
///
/// # Errors
/// A diverging trajectory or a vanishing replica mean.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let replicas = ctx.scaled(p.replicas).max(2);
    let marks = log_checkpoints(10, p.steps, p.points_per_decade);
    let kappa = sign_chain::stationary_mean_abs(p.noise_std);

    let records = trajectories(&streams, "replica", replicas, |_, rng| {
        let mut w = p.initial;
        let mut sum = 0.0;
        let mut record = Record {
            last: Vec::with_capacity(marks.len()),
            averaged: Vec::with_capacity(marks.len()),
        };
        let mut next = 0;
        for t in 0..p.steps {
            let eta = p.step_scale / ((t + 1) as f64).sqrt();
            let sign = if w > 0.0 {
                1.0
            } else if w < 0.0 {
                -1.0
            } else {
                0.0
            };
            w -= eta * (sign + p.noise_std * standard_normal(rng));
            sum += w;
            if next < marks.len() && t + 1 == marks[next] {
                record.last.push(w.abs());
                record.averaged.push((sum / (t + 1) as f64).abs());
                next += 1;
            }
        }
        record
    });
    if records
        .iter()
        .any(|r| r.last.iter().chain(&r.averaged).any(|v| !v.is_finite()))
    {
        return Err(ExperimentError::Diverged {
            step: p.steps,
            reason: "a replica left the finite numbers".into(),
        });
    }

    let window: Vec<usize> = (0..marks.len())
        .filter(|&k| marks[k] >= p.fit_from)
        .collect();
    let window_t: Vec<f64> = window.iter().map(|&k| marks[k] as f64).collect();
    let mut out = Outcome::new();
    out.estimate(
        "slope_last",
        log_log_slope(&window_t, replicas, |r, j| records[r].last[window[j]])?,
    );
    out.estimate(
        "slope_averaged",
        log_log_slope(&window_t, replicas, |r, j| records[r].averaged[window[j]])?,
    );
    out.exact("stationary_mean_abs", kappa);

    let mut table = Table::new([
        "t",
        "last_sim",
        "last_sim_lo",
        "last_sim_hi",
        "last_quasi_stationary",
        "z",
        "sqrt_t_last",
        "averaged_sim",
        "averaged_sim_lo",
        "averaged_sim_hi",
    ]);
    let mut scaled_min = f64::INFINITY;
    let mut scaled_max: f64 = 0.0;
    let mut max_abs_z: f64 = 0.0;
    let (mut last_points, mut avg_points, mut theory) = (Vec::new(), Vec::new(), Vec::new());
    let mut scaled_at_end = None;
    for (k, &t) in marks.iter().enumerate() {
        let last = mean_estimate(&records.iter().map(|r| r.last[k]).collect::<Vec<_>>());
        let averaged = mean_estimate(&records.iter().map(|r| r.averaged[k]).collect::<Vec<_>>());
        // The iterate after t steps has just taken step eta_{t-1} = c / sqrt(t).
        let quasi = kappa * p.step_scale / (t as f64).sqrt();
        let z = last.z_score(quasi);
        let root_t = (t as f64).sqrt();
        if t >= p.fit_from {
            scaled_min = scaled_min.min(root_t * last.value);
            scaled_max = scaled_max.max(root_t * last.value);
            max_abs_z = max_abs_z.max(z.abs());
        }
        let [llo, lhi] = last.ci95();
        let [alo, ahi] = averaged.ci95();
        table.push(row![
            t,
            last.value,
            llo,
            lhi,
            quasi,
            z,
            root_t * last.value,
            averaged.value,
            alo,
            ahi
        ]);
        last_points.push(Point::with_interval(t as f64, last.value, [llo, lhi]));
        avg_points.push(Point::with_interval(
            t as f64,
            averaged.value,
            [alo.max(averaged.value * 1e-3), ahi],
        ));
        theory.push((t as f64, quasi));
        scaled_at_end = Some(last.scaled(root_t));
    }
    out.exact("sqrt_t_scaled_max_over_min", scaled_max / scaled_min);
    out.exact("quasi_stationary_max_abs_z", max_abs_z);
    if let Some(e) = scaled_at_end {
        out.estimate("sqrt_t_last_at_end", e);
        out.exact("sqrt_t_last_quasi_stationary", kappa * p.step_scale);
    }
    out.table("suboptimality", table);

    let tf = p.steps as f64;
    let anchor = kappa * p.step_scale / tf.sqrt();
    let series = vec![
        Series {
            label: "last iterate".into(),
            kind: SeriesKind::Simulation,
            color: 0,
            points: last_points,
        },
        Series::from_xy("", SeriesKind::Theory, 0, theory),
        Series {
            label: "averaged iterate".into(),
            kind: SeriesKind::Simulation,
            color: 1,
            points: avg_points,
        },
        Series::from_xy(
            "T^-1/2",
            SeriesKind::Guide,
            6,
            [marks[0] as f64, tf]
                .into_iter()
                .map(|t| (t, 3.0 * anchor * (tf / t).sqrt())),
        ),
    ];
    out.figure(
        "suboptimality",
        FigureSpec {
            panels: vec![Panel {
                title: "f(w) = |w|, eta_t = c/sqrt(t+1) (line: (1+s^2)/2 eta_T)".into(),
                x: Axis::log("step T"),
                y: Axis::log("E f(w) - f*"),
                series,
                labels: Vec::new(),
            }],
        },
    );
    out.samples = replicas as u64 * p.steps;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_follows_the_quasi_stationary_law() {
        // 400 replicas of 20000 steps: E|w_T| within 5 SE of kappa eta_T at every checkpoint
        // beyond 1000 (the quasi-stationary bias is O(1/T), below 0.5% there, a third of an SE).
        let p = Params {
            steps: 20_000,
            fit_from: 1000,
            ..Params::default()
        };
        let mut ctx = RunContext::new("convex-rate", 2);
        ctx.scale = 0.2;
        let out = run(&p, &ctx).unwrap();
        assert!(out.metrics["quasi_stationary_max_abs_z"].value < 5.0);
        assert!((out.metrics["slope_last"].value + 0.5).abs() < 0.1);
        assert!(out.metrics["slope_averaged"].value < -0.6);
    }
}
