//! Claim `three-regime-schedule`: explore with a large step, converge with a smaller one, refine with
//! a small one, against a grid of constant steps on the same budget.
//!
//! (a) The noisy quadratic model (h_i = c_i = 1/i, d = 100, b = 1, m_i(0) = 1). Final expected losses
//! come from the closed form, composed stage by stage for the staged schedule
//! ([`crate::staged_quadratic`]); every grid step is tried both as a constant step and as the staged
//! schedule's eta_0, and each schedule keeps its best. A Monte Carlo of the two winners checks the
//! closed form.
//!
//! (b) The tilted double well with Gaussian gradient noise of fixed variance s^2, started at the
//! shallow minimum: the temperature T = eta s^2 / 2 follows the step size. A constant step either
//! crosses the barrier (hot, so it ends far above the bottom of its well) or converges (cold, so it
//! never leaves the shallow well); the staged schedule does both. Theory ([`crate::well`]): the Gibbs
//! occupancy of the global well at the exploration temperature, and the two-state master equation
//! with exact escape rates for every schedule.

use crate::staged_quadratic::{Stage, staged_loss, staged_loss_variance, stages_from_fractions};
use crate::well::{
    Landmarks, escape_rates, gibbs_global_probability, in_global_well, landmarks,
    two_state_probability, well_stage,
};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::powf;
use sgd_sim::noisy_quadratic::NoisyQuadratic;
use sgd_sim::parallel::{map_indexed, trajectories};
use sgd_sim::potential::{Potential, TiltedDoubleWell};
use sgd_sim::rng::{Stream, Streams, standard_normal};
use sgd_sim::stats::{Estimate, Z95, mean_estimate, proportion_estimate, wilson_interval};

/// Parameters of `training-phases/three-regime-schedule`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Fraction of the budget spent in each stage.
    pub stage_fractions: Vec<f64>,
    /// Step size of each stage as a multiple of eta_0.
    pub stage_step_factors: Vec<f64>,
    /// (a) Dimension d of the noisy quadratic model.
    pub quadratic_dim: usize,
    /// (a) Batch size b.
    pub quadratic_batch: usize,
    /// (a) Budget in examples (steps = examples / b).
    pub quadratic_examples: u64,
    /// (a) Smallest step of the grid.
    pub quadratic_grid_min: f64,
    /// (a) Largest step of the grid (below 2 / h_max = 2 for stability).
    pub quadratic_grid_max: f64,
    /// (a) Grid points per decade (log-uniform grid).
    pub quadratic_grid_per_decade: usize,
    /// (a) Monte Carlo runs of each winning schedule.
    pub quadratic_runs: usize,
    /// (b) Tilt of the double well.
    pub tilt: f64,
    /// (b) Variance s^2 of the Gaussian gradient noise: T = eta s^2 / 2.
    pub noise_variance: f64,
    /// (b) Budget in steps.
    pub well_steps: u64,
    /// (b) Runs per schedule.
    pub well_runs: usize,
    /// (b) The grid of constant steps.
    pub well_step_grid: Vec<f64>,
    /// (b) eta_0 of the staged schedule (one of the grid).
    pub well_initial_step: f64,
    /// (b) Iterates are clamped to |w| <= clamp.
    pub clamp: f64,
    /// (b) A schedule converges when its mean final loss is within this fraction of the global
    /// barrier above the minimum of the well each run ends in.
    pub converged_fraction: f64,
    /// (b) Loss recordings per run (equally spaced in steps).
    pub well_checkpoints: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            stage_fractions: vec![0.5, 0.3, 0.2],
            stage_step_factors: vec![1.0, 0.1, 0.01],
            quadratic_dim: 100,
            quadratic_batch: 1,
            quadratic_examples: 100_000,
            quadratic_grid_min: 1e-3,
            quadratic_grid_max: 1.5,
            quadratic_grid_per_decade: 8,
            quadratic_runs: 16,
            tilt: 0.15,
            noise_variance: 40.0,
            well_steps: 100_000,
            well_runs: 1000,
            well_step_grid: vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.02],
            well_initial_step: 0.01,
            clamp: 2.5,
            converged_fraction: 0.01,
            well_checkpoints: 40,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::all_positive("stage_fractions", &self.stage_fractions)?;
        ParamError::all_positive("stage_step_factors", &self.stage_step_factors)?;
        if self.stage_step_factors.len() != self.stage_fractions.len() {
            return Err(ParamError::new(
                "stage_step_factors",
                "needs one factor per stage fraction",
            ));
        }
        let sum: f64 = self.stage_fractions.iter().sum();
        if (sum - 1.0).abs() > 1e-9 {
            return Err(ParamError::new(
                "stage_fractions",
                format!("must sum to 1, got {sum}"),
            ));
        }
        ParamError::at_least("quadratic_dim", self.quadratic_dim as u64, 1)?;
        ParamError::at_least("quadratic_batch", self.quadratic_batch as u64, 1)?;
        ParamError::at_least("quadratic_runs", self.quadratic_runs as u64, 2)?;
        ParamError::at_least(
            "quadratic_grid_per_decade",
            self.quadratic_grid_per_decade as u64,
            1,
        )?;
        ParamError::positive("quadratic_grid_min", self.quadratic_grid_min)?;
        ParamError::positive("quadratic_grid_max", self.quadratic_grid_max)?;
        if !(self.quadratic_grid_max < 2.0 && self.quadratic_grid_min < self.quadratic_grid_max) {
            return Err(ParamError::new(
                "quadratic_grid_max",
                "must exceed quadratic_grid_min and stay below 2 / h_max = 2",
            ));
        }
        if !self
            .quadratic_examples
            .is_multiple_of(self.quadratic_batch as u64)
        {
            return Err(ParamError::new(
                "quadratic_examples",
                "must be a multiple of quadratic_batch",
            ));
        }
        ParamError::at_least("quadratic_examples", self.quadratic_examples, 10)?;
        ParamError::finite("tilt", self.tilt)?;
        ParamError::positive("noise_variance", self.noise_variance)?;
        ParamError::at_least("well_runs", self.well_runs as u64, 2)?;
        ParamError::all_positive("well_step_grid", &self.well_step_grid)?;
        ParamError::positive("clamp", self.clamp)?;
        ParamError::positive("converged_fraction", self.converged_fraction)?;
        if !self.well_step_grid.contains(&self.well_initial_step) {
            return Err(ParamError::new(
                "well_initial_step",
                "must be one of well_step_grid",
            ));
        }
        ParamError::at_least("well_checkpoints", self.well_checkpoints, 1)?;
        if !self.well_steps.is_multiple_of(self.well_checkpoints) {
            return Err(ParamError::new(
                "well_checkpoints",
                "must divide well_steps",
            ));
        }
        let every = self.well_steps / self.well_checkpoints;
        for (i, f) in self.stage_fractions.iter().enumerate() {
            let steps = f * self.well_steps as f64;
            if (steps - steps.round()).abs() > 1e-6 || !(steps.round() as u64).is_multiple_of(every)
            {
                return Err(ParamError::new(
                    format!("stage_fractions[{i}]"),
                    format!(
                        "must cut well_steps into whole multiples of well_steps / well_checkpoints = {every}"
                    ),
                ));
            }
            let q = f * (self.quadratic_examples / self.quadratic_batch as u64) as f64;
            if (q - q.round()).abs() > 1e-6 {
                return Err(ParamError::new(
                    format!("stage_fractions[{i}]"),
                    "must cut the quadratic budget into whole steps",
                ));
            }
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let quad_steps = (self.quadratic_examples / self.quadratic_batch as u64) as f64;
        2.0 * self.quadratic_runs as f64 * quad_steps * self.quadratic_dim as f64
            + (self.well_step_grid.len() + 1) as f64
                * self.well_runs as f64
                * self.well_steps as f64
    }
}

/// The log-uniform grid min * 10^(k / per_decade) up to max.
fn log_grid(min: f64, max: f64, per_decade: usize) -> Vec<f64> {
    (0..)
        .map(|k| min * powf(10.0, k as f64 / per_decade as f64))
        .take_while(|&v| v <= max * (1.0 + 1e-12))
        .collect()
}

/// One Monte Carlo run of the noisy quadratic: w_i <- w_i - eta (h_i w_i + sqrt(c_i / b) xi) from
/// w_i(0) = sqrt(m_i(0)); the loss (1/2) sum h_i w_i^2 every `record_every` steps.
fn quadratic_run(
    model: &NoisyQuadratic,
    stages: &[Stage],
    batch: f64,
    record_every: u64,
    rng: &mut Stream,
) -> Vec<f64> {
    let d = model.dim();
    let mut w: Vec<f64> = model.initial.iter().map(|m| m.sqrt()).collect();
    let noise: Vec<f64> = model.noise.iter().map(|c| (c / batch).sqrt()).collect();
    let mut losses = vec![model.loss_of_moments(&w.iter().map(|x| x * x).collect::<Vec<_>>())];
    let mut t = 0u64;
    for stage in stages {
        let shrink: Vec<f64> = model
            .curvatures
            .iter()
            .map(|h| 1.0 - stage.eta * h)
            .collect();
        let kick: Vec<f64> = noise.iter().map(|s| stage.eta * s).collect();
        for _ in 0..stage.steps {
            for i in 0..d {
                w[i] = shrink[i] * w[i] - kick[i] * standard_normal(rng);
            }
            t += 1;
            if t.is_multiple_of(record_every) {
                let loss: f64 = 0.5
                    * model
                        .curvatures
                        .iter()
                        .zip(&w)
                        .map(|(h, x)| h * x * x)
                        .sum::<f64>();
                losses.push(loss);
            }
        }
    }
    losses
}

/// What one well run leaves: the loss at each checkpoint (start included) and the final iterate.
struct WellRun {
    losses: Vec<f64>,
    final_w: f64,
}

/// The outcome of one well schedule over all runs.
struct WellSummary {
    label: String,
    /// eta of a constant schedule; eta_0 of the staged one.
    eta: f64,
    staged: bool,
    global: u64,
    runs: u64,
    excess: Estimate,
    mean_loss: Vec<Estimate>,
    losses: Vec<Vec<f64>>,
    predicted: f64,
}

/// Runs the claim.
///
/// # Errors
/// Invalid parameters, a failed quadrature, or no converging constant step.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let mut out = Outcome::new();
    let quadratic = quadratic_part(p, ctx, &streams, &mut out)?;
    let well = well_part(p, ctx, &streams, &mut out)?;
    out.figure(
        "loss-curves",
        FigureSpec {
            panels: vec![quadratic.0, well.0],
        },
    );
    out.figure(
        "final-outcomes",
        FigureSpec {
            panels: vec![quadratic.1, well.1],
        },
    );
    Ok(out)
}

/// Part (a); returns its two panels (curves, final loss against the step).
fn quadratic_part(
    p: &Params,
    ctx: &RunContext,
    streams: &Streams,
    out: &mut Outcome,
) -> Result<(Panel, Panel), ExperimentError> {
    let model = NoisyQuadratic::harmonic(p.quadratic_dim);
    let batch = p.quadratic_batch as f64;
    let total = p.quadratic_examples / p.quadratic_batch as u64;
    let grid = log_grid(
        p.quadratic_grid_min,
        p.quadratic_grid_max,
        p.quadratic_grid_per_decade,
    );
    let mut table = Table::new(["step_size", "final_loss_constant", "final_loss_staged"]);
    let mut best_constant = (f64::INFINITY, 0.0);
    let mut best_staged = (f64::INFINITY, 0.0);
    let mut constant_curve = Vec::new();
    let mut staged_curve = Vec::new();
    for &eta in &grid {
        let constant = model.expected_loss(eta, batch, total as f64);
        let stages = stages_from_fractions(eta, total, &p.stage_fractions, &p.stage_step_factors)?;
        let staged = staged_loss(&model, &stages, batch, total);
        table.push(row![eta, constant, staged]);
        constant_curve.push(Point::new(eta, constant));
        staged_curve.push(Point::new(eta, staged));
        if constant < best_constant.0 {
            best_constant = (constant, eta);
        }
        if staged < best_staged.0 {
            best_staged = (staged, eta);
        }
    }
    let staged_stages = stages_from_fractions(
        best_staged.1,
        total,
        &p.stage_fractions,
        &p.stage_step_factors,
    )?;
    let constant_stages = [Stage {
        eta: best_constant.1,
        steps: total,
    }];
    out.exact("loss_ratio_quadratic", best_constant.0 / best_staged.0);
    out.exact("quadratic_loss_best_constant", best_constant.0);
    out.exact("quadratic_loss_best_staged", best_staged.0);
    out.exact("quadratic_best_constant_step", best_constant.1);
    out.exact("quadratic_best_initial_step", best_staged.1);

    // The loss at the end of each stage of the best staged schedule: it drops at every change.
    let mut ends = Vec::new();
    let mut t = 0;
    for s in &staged_stages {
        t += s.steps;
        ends.push(staged_loss(&model, &staged_stages, batch, t));
    }
    let drop_max = ends.windows(2).map(|w| w[1] / w[0]).fold(0.0, f64::max);
    out.exact("quadratic_stage_loss_ratio_max", drop_max);

    // Monte Carlo of the two winners against the closed form.
    let points = 50u64;
    let record_every = total / points;
    let runs = ctx.scaled(p.quadratic_runs);
    let schedules: [&[Stage]; 2] = [&staged_stages, &constant_stages];
    let sims = trajectories(streams, "quadratic", 2 * runs, |i, rng| {
        quadratic_run(&model, schedules[i / runs], batch, record_every, rng)
    });
    let mut curves_table = Table::new([
        "schedule",
        "examples",
        "loss_mean",
        "loss_lo",
        "loss_hi",
        "loss_theory",
    ]);
    let names = ["staged (best eta_0)", "constant (best eta)"];
    let mut curve_series = Vec::new();
    let mut max_z: f64 = 0.0;
    for (s, stages) in schedules.iter().enumerate() {
        let mine = &sims[s * runs..(s + 1) * runs];
        let mut sim_points = Vec::new();
        let mut theory_points = Vec::new();
        for k in 0..=points as usize {
            let steps = k as u64 * record_every;
            let values: Vec<f64> = mine.iter().map(|r| r[k]).collect();
            let e = mean_estimate(&values);
            let th = staged_loss(&model, stages, batch, steps);
            let examples = steps * p.quadratic_batch as u64;
            let ci = e.ci95();
            curves_table.push(row![names[s], examples, e.value, ci[0], ci[1], th]);
            if k > 0 {
                sim_points.push(Point::with_interval(examples as f64, e.value, ci));
            }
            if k as u64 == points {
                // The final loss's run-to-run variance is known exactly (Gaussian iterates), so the
                // z-score uses it rather than the sample SD of 16 skewed values.
                let w0: Vec<f64> = model.initial.iter().map(|m| m.sqrt()).collect();
                let se =
                    (staged_loss_variance(&model, stages, batch, steps, &w0) / runs as f64).sqrt();
                max_z = max_z.max(((e.value - th) / se).abs());
            }
        }
        // A fine theory curve: 400 points.
        for k in 1..=400u64 {
            let steps = total * k / 400;
            theory_points.push(Point::new(
                (steps * p.quadratic_batch as u64) as f64,
                staged_loss(&model, stages, batch, steps),
            ));
        }
        curve_series.push(Series {
            label: format!("{} simulated", names[s]),
            kind: SeriesKind::Simulation,
            color: s,
            points: sim_points,
        });
        curve_series.push(Series {
            label: format!("{} closed form", names[s]),
            kind: SeriesKind::Theory,
            color: s,
            points: theory_points,
        });
    }
    out.exact("quadratic_sim_max_abs_z", max_z);
    out.table("quadratic-final-loss", table);
    out.table("quadratic-curves", curves_table);
    out.samples += 2 * runs as u64 * total * p.quadratic_dim as u64;

    let curves = Panel {
        title: "(a) Noisy quadratic, d = 100, b = 1".into(),
        x: Axis::linear("examples"),
        y: Axis::log("expected loss"),
        series: curve_series,
        labels: Vec::new(),
    };
    let finals = Panel {
        title: "(a) Final loss on a budget of 10^5 examples".into(),
        x: Axis::log("step size (eta, or eta_0 of the staged schedule)"),
        y: Axis::log("final expected loss"),
        series: vec![
            Series {
                label: "staged, closed form".into(),
                kind: SeriesKind::Theory,
                color: 0,
                points: staged_curve,
            },
            Series {
                label: "constant, closed form".into(),
                kind: SeriesKind::Theory,
                color: 1,
                points: constant_curve,
            },
        ],
        labels: Vec::new(),
    };
    Ok((curves, finals))
}

/// Part (b); returns its two panels (mean loss against steps, P(global) against the step).
fn well_part(
    p: &Params,
    ctx: &RunContext,
    streams: &Streams,
    out: &mut Outcome,
) -> Result<(Panel, Panel), ExperimentError> {
    let pot = TiltedDoubleWell { tilt: p.tilt };
    let marks: Landmarks = landmarks(&pot)?;
    let noise_std = p.noise_variance.sqrt();
    let temperature = |eta: f64| eta * p.noise_variance / 2.0;
    let barrier = pot.value(marks.saddle) - pot.value(marks.global_min);
    let tolerance = p.converged_fraction * barrier;
    let every = p.well_steps / p.well_checkpoints;
    let staged_stages = stages_from_fractions(
        p.well_initial_step,
        p.well_steps,
        &p.stage_fractions,
        &p.stage_step_factors,
    )?;
    // Schedules: every constant step of the grid, then the staged one.
    let mut schedules: Vec<(String, f64, bool, Vec<Stage>)> = p
        .well_step_grid
        .iter()
        .map(|&eta| {
            (
                format!("constant eta = {eta}"),
                eta,
                false,
                vec![Stage {
                    eta,
                    steps: p.well_steps,
                }],
            )
        })
        .collect();
    schedules.push((
        format!("staged, eta_0 = {}", p.well_initial_step),
        p.well_initial_step,
        true,
        staged_stages.clone(),
    ));
    let runs = ctx.scaled(p.well_runs);
    // Trajectory r of schedule k uses stream ("well", k runs + r); groups of LANES trajectories of
    // one schedule run in lockstep, which changes no result (see `well_stage`).
    const LANES: usize = 4;
    let groups_per_schedule = runs.div_ceil(LANES);
    let run_group = |first: usize, stages: &[Stage]| -> Vec<WellRun> {
        let lanes = (runs - first % runs).min(LANES);
        let mut finished = Vec::with_capacity(lanes);
        if lanes == LANES {
            let mut w = [marks.local_min; LANES];
            let mut rngs: [Stream; LANES] =
                std::array::from_fn(|j| streams.stream("well", (first + j) as u64));
            let mut losses: [Vec<f64>; LANES] = std::array::from_fn(|_| {
                let mut v = Vec::with_capacity(p.well_checkpoints as usize + 1);
                v.push(pot.value(marks.local_min));
                v
            });
            for s in stages {
                well_stage(
                    &pot,
                    &mut w,
                    s.eta,
                    noise_std,
                    p.clamp,
                    s.steps,
                    every,
                    &mut rngs,
                    &mut losses,
                );
            }
            for (l, x) in losses.into_iter().zip(w) {
                finished.push(WellRun {
                    losses: l,
                    final_w: x,
                });
            }
        } else {
            for j in 0..lanes {
                let mut w = [marks.local_min];
                let mut rngs = [streams.stream("well", (first + j) as u64)];
                let mut losses = [vec![pot.value(marks.local_min)]];
                for s in stages {
                    well_stage(
                        &pot,
                        &mut w,
                        s.eta,
                        noise_std,
                        p.clamp,
                        s.steps,
                        every,
                        &mut rngs,
                        &mut losses,
                    );
                }
                let [l] = losses;
                finished.push(WellRun {
                    losses: l,
                    final_w: w[0],
                });
            }
        }
        finished
    };
    let sims: Vec<WellRun> = map_indexed(schedules.len() * groups_per_schedule, |g| {
        let k = g / groups_per_schedule;
        let first = k * runs + (g % groups_per_schedule) * LANES;
        run_group(first, &schedules[k].3)
    })
    .into_iter()
    .flatten()
    .collect();
    out.samples += (schedules.len() * runs) as u64 * p.well_steps;

    // Two-state predictions: exact escape rates at each temperature used.
    let rates_at = |eta: f64| escape_rates(&pot, &marks, temperature(eta), p.clamp);
    let mut summaries = Vec::new();
    for (k, (label, eta, staged, stages)) in schedules.iter().enumerate() {
        let mine = &sims[k * runs..(k + 1) * runs];
        let global = mine
            .iter()
            .filter(|r| in_global_well(&marks, r.final_w))
            .count() as u64;
        let excess: Vec<f64> = mine
            .iter()
            .map(|r| {
                let floor = if in_global_well(&marks, r.final_w) {
                    pot.value(marks.global_min)
                } else {
                    pot.value(marks.local_min)
                };
                pot.value(r.final_w) - floor
            })
            .collect();
        let mean_loss = (0..=p.well_checkpoints as usize)
            .map(|c| mean_estimate(&mine.iter().map(|r| r.losses[c]).collect::<Vec<_>>()))
            .collect();
        let mut two_state = Vec::new();
        for s in stages {
            two_state.push((rates_at(s.eta)?, s.eta * s.steps as f64));
        }
        summaries.push(WellSummary {
            label: label.clone(),
            eta: *eta,
            staged: *staged,
            global,
            runs: runs as u64,
            excess: mean_estimate(&excess),
            mean_loss,
            losses: mine.iter().map(|r| r.losses.clone()).collect(),
            predicted: two_state_probability(0.0, &two_state),
        });
    }
    let staged = summaries
        .iter()
        .find(|s| s.staged)
        .ok_or_else(|| ExperimentError::InvalidParams("no staged schedule".into()))?;
    let best_constant = summaries
        .iter()
        .filter(|s| !s.staged && s.excess.value <= tolerance)
        .max_by(|a, b| a.global.cmp(&b.global).then(b.eta.total_cmp(&a.eta)))
        .ok_or_else(|| {
            ExperimentError::InvalidParams(format!(
                "no constant step of the grid converges (mean final excess <= {tolerance})"
            ))
        })?;
    // Wilson's interval, with its lower end exactly 0 when no run succeeded (the formula leaves a
    // rounding residue there).
    let wilson = |s: &WellSummary| {
        let [lo, hi] = wilson_interval(s.global, s.runs, Z95);
        [if s.global == 0 { 0.0 } else { lo }, hi]
    };
    let p_staged = proportion_estimate(staged.global, staged.runs);
    let p_const = proportion_estimate(best_constant.global, best_constant.runs);
    out.with_interval("p_global_staged", p_staged.value, wilson(staged));
    out.with_interval(
        "p_global_best_constant",
        p_const.value,
        wilson(best_constant),
    );
    out.exact("well_best_constant_step", best_constant.eta);
    // The difference of two independent proportions in units of its standard error, each arm's
    // variance q(1 - q)/n with q kept within [1/n, 1 - 1/n], so that an arm with no success (or no
    // failure) still carries the binomial uncertainty of one run in n.
    let arm_var = |e: &Estimate, n: u64| {
        let q = e.value.clamp(1.0 / n as f64, 1.0 - 1.0 / n as f64);
        q * (1.0 - q) / n as f64
    };
    let diff_se = (arm_var(&p_staged, staged.runs) + arm_var(&p_const, best_constant.runs)).sqrt();
    out.exact(
        "p_global_advantage_z",
        (p_staged.value - p_const.value) / diff_se,
    );
    let gibbs = gibbs_global_probability(
        &pot,
        &marks,
        temperature(p.well_initial_step),
        p.clamp,
        8000,
    );
    out.exact("p_global_staged_gibbs", gibbs);
    out.exact("p_global_staged_two_state", staged.predicted);
    out.exact("p_global_staged_abs_error", (p_staged.value - gibbs).abs());
    out.estimate("staged_final_excess", staged.excess);
    out.exact("converged_tolerance", tolerance);
    out.exact("exploration_temperature", temperature(p.well_initial_step));

    // Paired drops of the loss across each stage change of the staged schedule.
    let mut boundary = 0u64;
    let mut ends = Vec::new();
    for s in &staged_stages {
        boundary += s.steps;
        ends.push((boundary / every) as usize);
    }
    let mut min_z = f64::INFINITY;
    let mut drop_table = Table::new([
        "change",
        "step",
        "loss_before",
        "loss_after",
        "drop",
        "drop_se",
    ]);
    for (c, pair) in ends.windows(2).enumerate() {
        let drops: Vec<f64> = staged
            .losses
            .iter()
            .map(|l| l[pair[0]] - l[pair[1]])
            .collect();
        let e = mean_estimate(&drops);
        min_z = min_z.min(e.value / e.se);
        drop_table.push(row![
            c + 1,
            pair[0] as u64 * every,
            staged.mean_loss[pair[0]].value,
            staged.mean_loss[pair[1]].value,
            e.value,
            e.se
        ]);
    }
    out.exact("well_stage_drop_min_z", min_z);

    let mut table = Table::new([
        "schedule",
        "step_size",
        "temperature",
        "p_global",
        "p_global_lo",
        "p_global_hi",
        "p_global_two_state",
        "p_global_gibbs",
        "final_excess",
        "final_excess_se",
        "converged",
    ]);
    for s in &summaries {
        let ci = wilson(s);
        let t = temperature(s.eta);
        table.push(row![
            s.label.clone(),
            s.eta,
            t,
            s.global as f64 / s.runs as f64,
            ci[0],
            ci[1],
            s.predicted,
            gibbs_global_probability(&pot, &marks, t, p.clamp, 8000),
            s.excess.value,
            s.excess.se,
            if s.excess.value <= tolerance {
                "yes"
            } else {
                "no"
            }
        ]);
    }
    // Curves of the mean loss above the global minimum, L(w) - L(w_g) >= 0.
    let floor = pot.value(marks.global_min);
    let mut curves_table = Table::new([
        "schedule",
        "step",
        "loss_above_global_min_mean",
        "loss_above_global_min_lo",
        "loss_above_global_min_hi",
    ]);
    let mut curve_series = Vec::new();
    let shown: Vec<&WellSummary> = summaries
        .iter()
        .filter(|s| s.staged || s.eta == best_constant.eta || s.eta == p.well_initial_step)
        .collect();
    for (color, s) in shown.iter().enumerate() {
        let mut pts = Vec::new();
        for (c, e) in s.mean_loss.iter().enumerate() {
            let ci = e.ci95();
            let step = c as u64 * every;
            let (v, lo, hi) = (e.value - floor, ci[0] - floor, ci[1] - floor);
            curves_table.push(row![s.label.clone(), step, v, lo, hi]);
            pts.push(Point::with_interval(step as f64, v, [lo, hi]));
        }
        curve_series.push(Series {
            label: s.label.clone(),
            kind: SeriesKind::Simulation,
            color,
            points: pts,
        });
    }
    out.table("well-schedules", table);
    out.table("well-curves", curves_table);
    out.table("well-stage-drops", drop_table);

    // P(global) against the step: constants simulated, the two-state prediction and the Gibbs
    // equilibrium on a fine grid of steps, the staged schedule at its eta_0.
    let lo = p
        .well_step_grid
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let hi = p.well_step_grid.iter().copied().fold(0.0, f64::max);
    let mut gibbs_line = Vec::new();
    let mut two_state_line = Vec::new();
    for k in 0..=60 {
        let eta = lo * powf(hi / lo, f64::from(k) / 60.0);
        let t = temperature(eta);
        gibbs_line.push(Point::new(
            eta,
            gibbs_global_probability(&pot, &marks, t, p.clamp, 8000),
        ));
        two_state_line.push(Point::new(
            eta,
            two_state_probability(0.0, &[(rates_at(eta)?, eta * p.well_steps as f64)]),
        ));
    }
    let constants: Vec<Point> = summaries
        .iter()
        .filter(|s| !s.staged)
        .map(|s| Point::with_interval(s.eta, s.global as f64 / s.runs as f64, wilson(s)))
        .collect();
    let staged_point = vec![Point::with_interval(
        staged.eta,
        p_staged.value,
        wilson(staged),
    )];
    let finals = Panel {
        title: "(b) Tilted double well: runs ending in the global well".into(),
        x: Axis::log("step size (eta, or eta_0 of the staged schedule)").with_range(1e-4, 0.1),
        y: Axis::linear("P(global well)").with_range(-0.02, 1.4),
        series: vec![
            Series {
                label: "constant, simulated".into(),
                kind: SeriesKind::Simulation,
                color: 1,
                points: constants,
            },
            Series {
                label: "constant, two-state prediction".into(),
                kind: SeriesKind::Guide,
                color: 1,
                points: two_state_line,
            },
            Series {
                label: "Gibbs equilibrium at T = eta s^2/2".into(),
                kind: SeriesKind::Theory,
                color: 6,
                points: gibbs_line,
            },
            Series {
                label: "staged, simulated".into(),
                kind: SeriesKind::Simulation,
                color: 0,
                points: staged_point,
            },
        ],
        labels: Vec::new(),
    };
    let curves = Panel {
        title: "(b) Tilted double well, s^2 = 40".into(),
        x: Axis::linear("steps"),
        y: Axis::linear("mean L(w) - L(global min)").with_range(0.0, 0.45),
        series: curve_series,
        labels: Vec::new(),
    };
    Ok((curves, finals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            well_initial_step: 0.03,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "well_initial_step");
        let p = Params {
            stage_fractions: vec![0.5, 0.3, 0.3],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "stage_fractions");
        let p = Params {
            quadratic_grid_max: 2.5,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "quadratic_grid_max");
    }

    #[test]
    fn log_grid_is_log_uniform() {
        let g = log_grid(1e-3, 1.5, 8);
        assert_eq!(g.len(), 26);
        assert!((g[8] - 1e-2).abs() < 1e-15);
        assert!(g.last().copied().unwrap() <= 1.5);
    }

    #[test]
    fn quadratic_run_matches_the_closed_form_in_mean() {
        // 400 runs of a 5-d model over two stages: the mean final loss lies within 5 SE of the
        // composed closed form.
        let model = NoisyQuadratic::harmonic(5);
        let stages = [
            Stage {
                eta: 0.5,
                steps: 300,
            },
            Stage {
                eta: 0.05,
                steps: 200,
            },
        ];
        let streams = Streams::new(9);
        let finals: Vec<f64> = (0..400)
            .map(|r| {
                let mut rng = streams.stream("q", r);
                *quadratic_run(&model, &stages, 2.0, 100, &mut rng)
                    .last()
                    .unwrap()
            })
            .collect();
        let e = mean_estimate(&finals);
        let th = staged_loss(&model, &stages, 2.0, 500);
        assert!(
            (e.value - th).abs() < 5.0 * e.se,
            "{} +- {} vs {th}",
            e.value,
            e.se
        );
    }
}
