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
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::powf;
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::rng::{Stream, standard_normal};
use sgd_sim::stats::mean_estimate;

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
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The excess loss (1/2) sum_i h_i delta_i^2 at each checkpoint.
    pub loss: Vec<f64>,
    /// delta_1^2, the error along the flattest direction h = mu, at each checkpoint.
    pub slowest: Vec<f64>,
}

/// The kind `convergence-rates/strongly-convex-rate`.
#[derive(Debug)]
pub struct StronglyConvexRate;

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Replicas per schedule (after `--scale`).
    pub replicas: usize,
    /// One record per (schedule, replica), schedule outer (a = 1/mu, then 1/(factor mu)).
    pub records: Vec<Record>,
    /// Steps per replica.
    pub steps: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.records.len() as u64 * self.steps
    }
}

/// The names of the two schedules, in metric names.
const NAMES: [&str; 2] = ["correct_mu", "overestimated_mu"];

/// The exact recursion of both schedules, to the horizon: values at the checkpoints, on a dense
/// log grid, and at a tenth of the horizon and at the horizon.
struct Theory {
    marks: Vec<u64>,
    window: Vec<usize>,
    window_t: Vec<f64>,
    loss: [Vec<f64>; 2],
    slowest: [Vec<f64>; 2],
    dense: [Vec<(f64, f64)>; 2],
    late_from: u64,
    late: [(f64, f64); 2],
}

impl Theory {
    fn new(p: &Params) -> Self {
        let model = p.model();
        let marks = p.checkpoints();
        let window: Vec<usize> = (0..marks.len())
            .filter(|&k| marks[k] >= p.fit_from)
            .collect();
        let window_t = window.iter().map(|&k| marks[k] as f64).collect();
        let dense_t = log_checkpoints(1, p.recursion_horizon, 20);
        let late_from = p.recursion_horizon / 10;
        let mut th = Self {
            loss: [vec![0.0; marks.len()], vec![0.0; marks.len()]],
            slowest: [vec![0.0; marks.len()], vec![0.0; marks.len()]],
            dense: [Vec::new(), Vec::new()],
            late: [(0.0, 0.0); 2],
            late_from,
            marks,
            window,
            window_t,
        };
        for (s, &a) in p.step_constants().iter().enumerate() {
            let mut m = vec![p.initial_error * p.initial_error; p.dim];
            let (mut k, mut kd) = (0, 0);
            for t in 0..p.recursion_horizon {
                model.step(&mut m, a / (t as f64 + p.t0));
                let step = t + 1;
                if k < th.marks.len() && step == th.marks[k] {
                    th.loss[s][k] = model.excess_loss(&m);
                    th.slowest[s][k] = m[0];
                    k += 1;
                }
                if kd < dense_t.len() && step == dense_t[kd] {
                    th.dense[s].push((step as f64, model.excess_loss(&m)));
                    kd += 1;
                }
                if step == late_from {
                    th.late[s].0 = model.excess_loss(&m);
                }
            }
            th.late[s].1 = model.excess_loss(&m);
        }
        th
    }
}

/// One replica of SGD on streaming least squares with eta_t = a / (t + t0).
fn replica(p: &Params, a: f64, root: &[f64], marks: &[u64], rng: &mut Stream) -> Record {
    let d = p.dim;
    let model = p.model();
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
}

/// One schedule's table rows, slopes and recursion slopes; returns the largest |z| against the
/// recursion at the checkpoints t >= 10.
fn schedule_metrics(
    p: &Params,
    th: &Theory,
    s: usize,
    block: &[Record],
    table: &mut Table,
    out: &mut Metrics,
) -> Result<f64, ExperimentError> {
    let name = NAMES[s];
    let constants = p.step_constants();
    let mut max_abs_z: f64 = 0.0;
    for (k, &t) in th.marks.iter().enumerate() {
        let e = mean_estimate(&block.iter().map(|r| r.loss[k]).collect::<Vec<_>>());
        let slow = mean_estimate(&block.iter().map(|r| r.slowest[k]).collect::<Vec<_>>());
        let z = e.z_score(th.loss[s][k]);
        if t >= 10 {
            max_abs_z = max_abs_z.max(z.abs());
        }
        let [lo, hi] = e.ci95();
        table.push(row![
            name,
            constants[s],
            t,
            e.value,
            lo,
            hi,
            th.loss[s][k],
            z,
            slow.value,
            th.slowest[s][k]
        ]);
    }
    let (window, window_t) = (&th.window, &th.window_t);
    let slope = log_log_slope(window_t, block.len(), |r, j| block[r].loss[window[j]])?;
    let exact_window: Vec<f64> = window.iter().map(|&k| th.loss[s][k]).collect();
    let exact_slope = deterministic_log_log_slope(window_t, &exact_window)?;
    out.estimate(&format!("slope_{name}"), slope);
    out.computed(&format!("slope_{name}_recursion"), exact_slope);
    out.measured(
        &format!("slope_{name}_vs_recursion_z"),
        slope.z_score(exact_slope),
    );
    let slowest = log_log_slope(window_t, block.len(), |r, j| block[r].slowest[window[j]])?;
    let exact_slowest: Vec<f64> = window.iter().map(|&k| th.slowest[s][k]).collect();
    out.estimate(&format!("slope_{name}_slowest_direction"), slowest);
    out.computed(
        &format!("slope_{name}_slowest_direction_recursion"),
        deterministic_log_log_slope(window_t, &exact_slowest)?,
    );
    let late_slope = deterministic_log_log_slope(
        &[th.late_from as f64, p.recursion_horizon as f64],
        &[th.late[s].0, th.late[s].1],
    )?;
    out.computed(&format!("slope_{name}_recursion_late"), late_slope);
    out.computed(
        &format!("predicted_asymptotic_slope_{name}"),
        -(2.0 * constants[s] * p.mu).min(1.0),
    );
    Ok(max_abs_z)
}

impl Experiment for StronglyConvexRate {
    const KIND: &'static str = "convergence-rates/strongly-convex-rate";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let replicas = ctx.scaled(p.replicas).max(2);
        let root: Vec<f64> = p.model().curvatures.iter().map(|h| h.sqrt()).collect();
        let marks = p.checkpoints();
        let constants = p.step_constants();
        let records = cancellable_trajectories(
            &ctx.streams(),
            "replica",
            2 * replicas,
            &ctx.cancel,
            |i, rng| {
                Ok::<_, ExperimentError>(replica(p, constants[i / replicas], &root, &marks, rng))
            },
        )?;
        if records
            .iter()
            .any(|r| r.loss.iter().any(|v| !v.is_finite()))
        {
            return Err(ExperimentError::Diverged {
                step: p.steps,
                reason: "a replica's loss left the finite numbers".into(),
            });
        }
        Ok(Measured {
            replicas,
            records,
            steps: p.steps,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let th = Theory::new(p);
        let mut out = Metrics::new();
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
        for (s, block) in m.records.chunks(m.replicas).enumerate() {
            max_abs_z = max_abs_z.max(schedule_metrics(p, &th, s, block, &mut table, &mut out)?);
        }
        out.measured("recursion_max_abs_z", max_abs_z);
        out.table("suboptimality", table);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("suboptimality", suboptimality_figure(p, m, &Theory::new(p)));
        Ok(figures)
    }
}

/// The schedule's legend name.
fn schedule_label(p: &Params, s: usize) -> String {
    if s == 0 {
        "a = 1/μ".to_owned()
    } else {
        format!("a = 1/({} μ)", p.mu_overestimate)
    }
}

/// Simulation against the recursion over the run, and the recursion alone to the horizon.
fn suboptimality_figure(p: &Params, m: &Measured, th: &Theory) -> FigureData {
    let mut left = CurvesPanel::new(
        "Simulation and exact recursion",
        Axis::log("step T"),
        Axis::log("E f(w_T) − f*"),
    );
    let mut right = CurvesPanel::new(
        "Exact recursion, longer horizon",
        Axis::log("step T"),
        Axis::log("E f(w_T) − f*"),
    );
    let constants = p.step_constants();
    let end = th.marks.len() - 1;
    let tf = p.steps as f64;
    for (s, block) in m.records.chunks(m.replicas).enumerate() {
        let points = (0..th.marks.len())
            .map(|k| {
                let e = mean_estimate(&block.iter().map(|r| r.loss[k]).collect::<Vec<_>>());
                MeasuredPoint::with_ci(th.marks[k] as f64, e.value, e.ci95())
            })
            .collect();
        let exponent = -(2.0 * constants[s] * p.mu).min(1.0);
        let anchor = th.loss[s][end];
        left = left
            .measured(Points::new(schedule_label(p, s), s, points))
            .theory(Line::new(
                "",
                s,
                th.dense[s].iter().copied().filter(|&(t, _)| t <= tf),
            ))
            .guide(Line::new(
                if s == 0 { "T^−1, T^−1/2" } else { "" },
                6,
                [p.fit_from as f64, tf]
                    .into_iter()
                    .map(|t| (t, anchor * powf(t / tf, exponent))),
            ));
        right = right.theory(Line::new(
            schedule_label(p, s),
            s,
            th.dense[s].iter().copied(),
        ));
    }
    FigureData::stacked(vec![left.into(), right.into()])
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

    /// A small configuration and a hand-made measurement: each replica is the recursion times
    /// 0.9 or 1.1, alternating over checkpoints (the other replica the other way), so every mean
    /// is exactly the recursion's value.
    fn hand_made() -> (Params, Measured) {
        let p = Params {
            steps: 2000,
            fit_from: 200,
            recursion_horizon: 20_000,
            ..Params::default()
        };
        let th = Theory::new(&p);
        let mut records = Vec::new();
        for s in 0..2 {
            for r in 0..2 {
                let f = |k: usize| if (k + r).is_multiple_of(2) { 0.9 } else { 1.1 };
                records.push(Record {
                    loss: (0..th.marks.len()).map(|k| f(k) * th.loss[s][k]).collect(),
                    slowest: (0..th.marks.len())
                        .map(|k| f(k) * th.slowest[s][k])
                        .collect(),
                });
            }
        }
        let m = Measured {
            replicas: 2,
            records,
            steps: p.steps,
        };
        (p, m)
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let (p, m) = hand_made();
        let out = StronglyConvexRate::metrics(&p, &m).unwrap();
        assert!(out.value("recursion_max_abs_z").unwrap() < 1e-9);
        for name in NAMES {
            let sim = out.value(&format!("slope_{name}")).unwrap();
            let exact = out.value(&format!("slope_{name}_recursion")).unwrap();
            assert!((sim - exact).abs() < 1e-9, "{name}: {sim} vs {exact}");
        }
        // With a mu = 1 the recursion's slope over [200, 2000] is near -1 (bias terms decay
        // as t^-2 or faster; the noise term is 1/t up to O(t0/t)).
        assert!((out.value("slope_correct_mu_recursion").unwrap() + 1.0).abs() < 0.1);
        assert_eq!(
            out.values["slope_correct_mu_recursion"].basis,
            claim_spec::Basis::Computed
        );
        assert_eq!(
            out.tables["suboptimality"].rows.len(),
            2 * p.checkpoints().len()
        );
        let figures = StronglyConvexRate::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["suboptimality"].panels.len(), 2);
    }

    #[test]
    fn a_tiny_run_completes() {
        let p = Params {
            steps: 200,
            fit_from: 20,
            replicas: 2,
            recursion_horizon: 200,
            ..Params::default()
        };
        let m = StronglyConvexRate::measure(&p, &RunContext::new("sc", 9)).unwrap();
        assert_eq!(m.records.len(), 4);
        assert_eq!(m.samples(), 800);
    }
}
