//! Claim `strongly-convex-rate`: on a strongly convex problem, eta_t = 1/(mu (t + t0)) gives O(1/T).
//!
//! SGD on streaming least squares (one fresh Gaussian example per step; inputs x ~ N(0, diag(h)) with
//! h spaced geometrically from mu to L, labels with Gaussian noise), under eta_t = a / (t + t0) with
//! a = 1/mu and with a = 1/(4 mu) (mu overestimated 4x). The exact second moments of the error
//! follow [`crate::recursions::StreamingLeastSquares`].
//!
//! Theory (e.g. Bach and Moulines 2011; Nemirovski et al. 2009, section 1): in eigendirection i the
//! bias decays as t^(-2 a h_i) and the noise leaves a term a^2 h_i sigma^2 / ((2 a h_i - 1) t) when
//! a h_i > 1/2. So the suboptimality is O(1/T) when a mu > 1/2 and decays as T^(-2 a mu) otherwise,
//! *asymptotically*. Over a finite window it is a sum of powers: directions with 2 a h_i just above
//! 2 a mu decay almost as slowly as the slowest, and the fitted slope lies between -2 a mu and -1.
//! The exact recursion predicts it; the slope of the slowest direction alone is -2 a mu.

use crate::recursions::{StreamingLeastSquares, geometric_curvatures};
use crate::slopes::{deterministic_log_log_slope, log_checkpoints, log_log_slope};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::powf;
use sgd_sim::parallel::trajectories;
use sgd_sim::rng::standard_normal;
use sgd_sim::stats::{Estimate, mean_estimate};

/// Parameters of `convergence-rates/strongly-convex-rate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Dimension d.
    pub dim: usize,
    /// Strong convexity mu: the smallest curvature.
    pub mu: f64,
    /// The largest curvature L (curvatures are spaced geometrically from mu to L).
    pub curvature_max: f64,
    /// Standard deviation sigma of the label noise.
    pub label_noise: f64,
    /// Offset t0 of eta_t = a / (t + t0), t = 0, 1, ...
    pub t0: f64,
    /// The factor by which mu is overestimated in the second schedule (a = 1 / (factor mu)).
    pub mu_overestimate: f64,
    /// Initial error |w_0 - w*| in every coordinate.
    pub initial_error: f64,
    /// Independent replicas per schedule.
    pub replicas: usize,
    /// Steps T per replica.
    pub steps: u64,
    /// First step of the slope window (the window ends at T).
    pub fit_from: u64,
    /// Checkpoints per decade in the window.
    pub fit_points_per_decade: u32,
    /// The recursion is also run to this step, to show how slowly the slope tends to -2 a mu.
    pub recursion_horizon: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            dim: 10,
            mu: 0.1,
            curvature_max: 1.0,
            label_noise: 1.0,
            t0: 100.0,
            mu_overestimate: 4.0,
            initial_error: 1.0,
            replicas: 1000,
            steps: 10_000,
            fit_from: 1000,
            fit_points_per_decade: 5,
            recursion_horizon: 1_000_000,
        }
    }
}

impl Params {
    fn model(&self) -> StreamingLeastSquares {
        StreamingLeastSquares {
            curvatures: geometric_curvatures(self.dim, self.mu, self.curvature_max),
            label_noise_variance: self.label_noise * self.label_noise,
        }
    }

    /// Step constants a: 1/mu and 1/(factor mu).
    fn step_constants(&self) -> [f64; 2] {
        [1.0 / self.mu, 1.0 / (self.mu_overestimate * self.mu)]
    }

    fn checkpoints(&self) -> Vec<u64> {
        let mut out = log_checkpoints(1, self.fit_from, 4);
        out.pop();
        out.extend(log_checkpoints(
            self.fit_from,
            self.steps,
            self.fit_points_per_decade,
        ));
        out
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("dim", self.dim as u64, 1)?;
        ParamError::positive("mu", self.mu)?;
        ParamError::positive("curvature_max", self.curvature_max)?;
        if self.curvature_max < self.mu {
            return Err(ParamError::new("curvature_max", "must be at least mu"));
        }
        ParamError::non_negative("label_noise", self.label_noise)?;
        ParamError::positive("t0", self.t0)?;
        ParamError::positive("mu_overestimate", self.mu_overestimate)?;
        ParamError::positive("initial_error", self.initial_error)?;
        // Mean-square stability of the first step of the streaming recursion needs about
        // eta (2 L + tr H) < 2; require half of that margin.
        let trace: f64 = geometric_curvatures(self.dim, self.mu, self.curvature_max)
            .iter()
            .sum();
        let eta0 = self.step_constants()[0].max(self.step_constants()[1]) / self.t0;
        if eta0 * (2.0 * self.curvature_max + trace) > 1.0 {
            return Err(ParamError::new(
                "t0",
                format!(
                    "the first step a/t0 = {eta0} is too large for mean-square stability \
                     (needs eta (2L + tr H) <= 1)"
                ),
            ));
        }
        ParamError::at_least("replicas", self.replicas as u64, 2)?;
        ParamError::at_least("fit_from", self.fit_from, 10)?;
        ParamError::at_least(
            "fit_points_per_decade",
            u64::from(self.fit_points_per_decade),
            1,
        )?;
        if self.steps < 10 * self.fit_from {
            return Err(ParamError::new("steps", "must be at least 10 fit_from"));
        }
        if self.recursion_horizon < self.steps || self.recursion_horizon > 1_000_000_000 {
            return Err(ParamError::new(
                "recursion_horizon",
                "must be between steps and 1e9",
            ));
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        2.0 * self.replicas as f64 * self.steps as f64 * (3 * self.dim + 1) as f64
            + 2.0 * self.recursion_horizon as f64 * (3 * self.dim) as f64
    }
}

/// One replica's record at the checkpoints: the excess loss and delta_1^2 (the mu direction).
struct Record {
    loss: Vec<f64>,
    slowest: Vec<f64>,
}

/// Runs the claim.
///
/// # Errors
/// A diverging trajectory or a vanishing replica mean.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let replicas = ctx.scaled(p.replicas).max(2);
    let model = p.model();
    let d = p.dim;
    let root: Vec<f64> = model.curvatures.iter().map(|h| h.sqrt()).collect();
    let marks = p.checkpoints();
    let window: Vec<usize> = (0..marks.len())
        .filter(|&k| marks[k] >= p.fit_from)
        .collect();
    let window_t: Vec<f64> = window.iter().map(|&k| marks[k] as f64).collect();
    let constants = p.step_constants();

    let records = trajectories(&streams, "replica", 2 * replicas, |i, rng| {
        let a = constants[i / replicas];
        let mut delta = vec![p.initial_error; d];
        let mut x = vec![0.0; d];
        let mut record = Record {
            loss: Vec::with_capacity(marks.len()),
            slowest: Vec::with_capacity(marks.len()),
        };
        let mut next = 0;
        for t in 0..p.steps {
            let eta = a / (t as f64 + p.t0);
            let mut residual = -p.label_noise * standard_normal(rng);
            for j in 0..d {
                x[j] = root[j] * standard_normal(rng);
                residual += x[j] * delta[j];
            }
            for j in 0..d {
                delta[j] -= eta * residual * x[j];
            }
            if next < marks.len() && t + 1 == marks[next] {
                record.loss.push(
                    0.5 * model
                        .curvatures
                        .iter()
                        .zip(&delta)
                        .map(|(h, v)| h * v * v)
                        .sum::<f64>(),
                );
                record.slowest.push(delta[0] * delta[0]);
                next += 1;
            }
        }
        record
    });
    if records
        .iter()
        .any(|r| r.loss.iter().any(|v| !v.is_finite()))
    {
        return Err(ExperimentError::Diverged {
            step: p.steps,
            reason: "a replica's loss left the finite numbers".into(),
        });
    }

    // Exact recursion, to the horizon; values kept at the checkpoints and on a dense log grid.
    let dense = log_checkpoints(1, p.recursion_horizon, 20);
    let mut exact_loss = vec![vec![0.0; marks.len()]; 2];
    let mut exact_slowest = vec![vec![0.0; marks.len()]; 2];
    let mut exact_dense: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    let late_from = p.recursion_horizon / 10;
    let mut late = [(0.0, 0.0); 2];
    for (s, &a) in constants.iter().enumerate() {
        let mut m = vec![p.initial_error * p.initial_error; d];
        let (mut k, mut kd) = (0, 0);
        for t in 0..p.recursion_horizon {
            model.step(&mut m, a / (t as f64 + p.t0));
            let step = t + 1;
            if k < marks.len() && step == marks[k] {
                exact_loss[s][k] = model.excess_loss(&m);
                exact_slowest[s][k] = m[0];
                k += 1;
            }
            if kd < dense.len() && step == dense[kd] {
                exact_dense[s].push((step as f64, model.excess_loss(&m)));
                kd += 1;
            }
            if step == late_from {
                late[s].0 = model.excess_loss(&m);
            }
        }
        late[s].1 = model.excess_loss(&m);
    }

    let mut out = Outcome::new();
    let names = ["correct_mu", "overestimated_mu"];
    let mut table = Table::new([
        "schedule",
        "a",
        "t",
        "loss_sim",
        "loss_sim_lo",
        "loss_sim_hi",
        "loss_recursion",
        "z",
        "slowest_sim",
        "slowest_recursion",
    ]);
    let mut max_abs_z: f64 = 0.0;
    let mut series = Vec::new();
    let mut slopes: Vec<Estimate> = Vec::new();
    for (s, name) in names.iter().enumerate() {
        let block = &records[s * replicas..(s + 1) * replicas];
        let mut points = Vec::with_capacity(marks.len());
        for (k, &t) in marks.iter().enumerate() {
            let e = mean_estimate(&block.iter().map(|r| r.loss[k]).collect::<Vec<_>>());
            let slow = mean_estimate(&block.iter().map(|r| r.slowest[k]).collect::<Vec<_>>());
            let z = e.z_score(exact_loss[s][k]);
            if t >= 10 {
                max_abs_z = max_abs_z.max(z.abs());
            }
            let [lo, hi] = e.ci95();
            table.push(row![
                *name,
                constants[s],
                t,
                e.value,
                lo,
                hi,
                exact_loss[s][k],
                z,
                slow.value,
                exact_slowest[s][k]
            ]);
            points.push(Point::with_interval(t as f64, e.value, [lo, hi]));
        }
        let slope = log_log_slope(&window_t, replicas, |r, j| block[r].loss[window[j]])?;
        let exact_window: Vec<f64> = window.iter().map(|&k| exact_loss[s][k]).collect();
        let exact_slope = deterministic_log_log_slope(&window_t, &exact_window)?;
        out.estimate(&format!("slope_{name}"), slope);
        out.exact(&format!("slope_{name}_recursion"), exact_slope);
        out.exact(
            &format!("slope_{name}_vs_recursion_z"),
            slope.z_score(exact_slope),
        );
        slopes.push(slope);
        let slowest = log_log_slope(&window_t, replicas, |r, j| block[r].slowest[window[j]])?;
        let exact_slowest_window: Vec<f64> = window.iter().map(|&k| exact_slowest[s][k]).collect();
        out.estimate(&format!("slope_{name}_slowest_direction"), slowest);
        out.exact(
            &format!("slope_{name}_slowest_direction_recursion"),
            deterministic_log_log_slope(&window_t, &exact_slowest_window)?,
        );
        let late_slope = deterministic_log_log_slope(
            &[late_from as f64, p.recursion_horizon as f64],
            &[late[s].0, late[s].1],
        )?;
        out.exact(&format!("slope_{name}_recursion_late"), late_slope);
        out.exact(
            &format!("predicted_asymptotic_slope_{name}"),
            -(2.0 * constants[s] * p.mu).min(1.0),
        );
        series.push(Series {
            label: if s == 0 {
                format!("a = 1/mu = {}", constants[s])
            } else {
                format!("a = 1/({} mu) = {}", p.mu_overestimate, constants[s])
            },
            kind: SeriesKind::Simulation,
            color: s,
            points,
        });
        series.push(Series::from_xy(
            "",
            SeriesKind::Theory,
            s,
            exact_dense[s]
                .iter()
                .copied()
                .filter(|&(t, _)| t <= p.steps as f64),
        ));
    }
    out.exact("recursion_max_abs_z", max_abs_z);

    // Guides: T^-1 and T^-(2 a mu) through the recursion at the end of the window.
    let end = marks.len() - 1;
    let tf = p.steps as f64;
    for (s, color) in [(0usize, 6usize), (1, 6)] {
        let exponent = -(2.0 * constants[s] * p.mu).min(1.0);
        let anchor = exact_loss[s][end];
        series.push(Series::from_xy(
            if s == 0 { "T^-1, T^-1/2" } else { "" },
            SeriesKind::Guide,
            color,
            [p.fit_from as f64, tf]
                .into_iter()
                .map(|t| (t, anchor * powf(t / tf, exponent))),
        ));
    }
    let late_series: Vec<Series> = exact_dense
        .iter()
        .enumerate()
        .map(|(s, curve)| {
            Series::from_xy(
                if s == 0 {
                    "a = 1/mu".to_owned()
                } else {
                    format!("a = 1/({} mu)", p.mu_overestimate)
                },
                SeriesKind::Theory,
                s,
                curve.iter().copied(),
            )
        })
        .collect();
    out.table("suboptimality", table);
    out.figure(
        "suboptimality",
        FigureSpec {
            panels: vec![
                Panel {
                    title: "Simulation and exact recursion".into(),
                    x: Axis::log("step T"),
                    y: Axis::log("E f(w_T) - f*"),
                    series,
                    labels: Vec::new(),
                },
                Panel {
                    title: "Exact recursion, longer horizon".into(),
                    x: Axis::log("step T"),
                    y: Axis::log("E f(w_T) - f*"),
                    series: late_series,
                    labels: Vec::new(),
                },
            ],
        },
    );
    out.samples = 2 * replicas as u64 * p.steps;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_unstable_steps_do_not() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            t0: 5.0,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "t0");
        let p = Params {
            recursion_horizon: 10,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "recursion_horizon");
    }

    #[test]
    fn small_run_produces_the_contract_metrics() {
        let p = Params {
            steps: 2000,
            fit_from: 200,
            recursion_horizon: 20_000,
            ..Params::default()
        };
        let mut ctx = RunContext::new("strongly-convex-rate", 9);
        ctx.scale = 0.1;
        let out = run(&p, &ctx).unwrap();
        for name in ["slope_correct_mu", "slope_overestimated_mu"] {
            assert!(out.metrics.contains_key(name), "{name}");
        }
        // With a mu = 1 the recursion's slope over [200, 2000] is near -1 (bias terms decay
        // as t^-2 or faster; the noise term is 1/t up to O(t0/t)).
        assert!((out.metrics["slope_correct_mu_recursion"].value + 1.0).abs() < 0.1);
    }
}
