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
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::powf;
use sgd_sim::noisy_quadratic::NoisyQuadratic;
use sgd_sim::parallel::{cancellable_trajectories, map_indexed};
use sgd_sim::potential::{Potential, TiltedDoubleWell};
use sgd_sim::rng::{Stream, Streams, standard_normal};
use sgd_sim::stats::{
    Estimate, Z95, mean_estimate, paired_ratio, proportion_estimate, wilson_interval,
};

/// Parameters of `training-phases/three-regime-schedule`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Fraction of the budget spent in each stage.
    pub stage_fractions: Vec<f64>,
    /// Step size of each stage as a multiple of eta_0.
    pub stage_step_factors: Vec<f64>,
    /// The two-stage baseline: fraction of the budget in each of its stages.
    pub two_stage_fractions: Vec<f64>,
    /// The two-stage baseline: step size of each stage as a multiple of eta_0.
    pub two_stage_step_factors: Vec<f64>,
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
            two_stage_fractions: vec![0.5, 0.5],
            two_stage_step_factors: vec![1.0, 0.1],
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
        validate_two_stage(self)?;
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
            + (self.well_step_grid.len() + 2) as f64
                * self.well_runs as f64
                * self.well_steps as f64
    }
}

/// The two-stage baseline cuts both budgets into whole steps (and whole checkpoints on the well).
fn validate_two_stage(p: &Params) -> Result<(), ParamError> {
    ParamError::all_positive("two_stage_fractions", &p.two_stage_fractions)?;
    ParamError::all_positive("two_stage_step_factors", &p.two_stage_step_factors)?;
    if p.two_stage_step_factors.len() != p.two_stage_fractions.len() {
        return Err(ParamError::new(
            "two_stage_step_factors",
            "needs one factor per stage fraction",
        ));
    }
    let sum: f64 = p.two_stage_fractions.iter().sum();
    let every = p.well_steps / p.well_checkpoints.max(1);
    let quad = (p.quadratic_examples / p.quadratic_batch.max(1) as u64) as f64;
    let whole = |x: f64| (x - x.round()).abs() <= 1e-6;
    for (i, f) in p.two_stage_fractions.iter().enumerate() {
        let steps = f * p.well_steps as f64;
        if !whole(steps) || !whole(f * quad) || !(steps.round() as u64).is_multiple_of(every.max(1))
        {
            return Err(ParamError::new(
                format!("two_stage_fractions[{i}]"),
                "must cut both budgets into whole steps and whole well checkpoints",
            ));
        }
    }
    if (sum - 1.0).abs() > 1e-9 {
        return Err(ParamError::new(
            "two_stage_fractions",
            format!("must sum to 1, got {sum}"),
        ));
    }
    Ok(())
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

/// The closed-form plan of part (a): every grid step as a constant step and as eta_0, each
/// schedule's best, and the winners' stages.
#[derive(Clone, Debug, PartialEq)]
pub struct QuadraticPlan {
    /// (eta, final loss of the constant step, final loss of the staged schedule from eta_0 = eta).
    pub grid: Vec<(f64, f64, f64)>,
    /// Final loss of the two-stage baseline from eta_0 = eta, on the same grid.
    pub two_stage: Vec<f64>,
    /// (final loss, eta_0) of the best two-stage baseline.
    pub best_two_stage: (f64, f64),
    /// (final loss, eta) of the best constant step.
    pub best_constant: (f64, f64),
    /// (final loss, eta_0) of the best staged schedule.
    pub best_staged: (f64, f64),
    /// The winners' stages: staged, then constant.
    pub winners: [Vec<Stage>; 2],
    /// Steps in the budget.
    pub total: u64,
}

/// Loss recordings of a part (a) Monte Carlo run, besides the start.
const QUADRATIC_POINTS: u64 = 50;

/// Names of the two part (a) winners, in the order of [`QuadraticPlan::winners`].
const QUADRATIC_NAMES: [&str; 2] = ["three stages (best η₀)", "constant (best η)"];

/// Part (a)'s closed forms over the grid, and the winners.
fn quadratic_plan(p: &Params) -> Result<QuadraticPlan, ExperimentError> {
    let model = NoisyQuadratic::harmonic(p.quadratic_dim);
    let batch = p.quadratic_batch as f64;
    let total = p.quadratic_examples / p.quadratic_batch as u64;
    let grid = log_grid(
        p.quadratic_grid_min,
        p.quadratic_grid_max,
        p.quadratic_grid_per_decade,
    );
    let mut rows = Vec::new();
    let mut two_stage = Vec::new();
    let mut best_two_stage = (f64::INFINITY, 0.0);
    let mut best_constant = (f64::INFINITY, 0.0);
    let mut best_staged = (f64::INFINITY, 0.0);
    for &eta in &grid {
        let constant = model.expected_loss(eta, batch, total as f64);
        let stages = stages_from_fractions(eta, total, &p.stage_fractions, &p.stage_step_factors)?;
        let staged = staged_loss(&model, &stages, batch, total);
        rows.push((eta, constant, staged));
        let two = stages_from_fractions(
            eta,
            total,
            &p.two_stage_fractions,
            &p.two_stage_step_factors,
        )?;
        let two = staged_loss(&model, &two, batch, total);
        two_stage.push(two);
        if two < best_two_stage.0 {
            best_two_stage = (two, eta);
        }
        if constant < best_constant.0 {
            best_constant = (constant, eta);
        }
        if staged < best_staged.0 {
            best_staged = (staged, eta);
        }
    }
    let staged = stages_from_fractions(
        best_staged.1,
        total,
        &p.stage_fractions,
        &p.stage_step_factors,
    )?;
    let constant = vec![Stage {
        eta: best_constant.1,
        steps: total,
    }];
    Ok(QuadraticPlan {
        grid: rows,
        two_stage,
        best_two_stage,
        best_constant,
        best_staged,
        winners: [staged, constant],
        total,
    })
}

/// What one well run leaves: the loss at each checkpoint (start included) and the final iterate.
#[derive(Clone, Debug, PartialEq)]
pub struct WellRun {
    /// L(w) at every checkpoint, the start included.
    pub losses: Vec<f64>,
    /// The last iterate.
    pub final_w: f64,
}

/// One schedule of part (b).
#[derive(Clone, Debug, PartialEq)]
pub struct WellSchedule {
    /// Its name in tables and figures.
    pub label: String,
    /// eta of a constant schedule; eta_0 of the staged one.
    pub eta: f64,
    /// Whether it is the staged schedule.
    pub staged: bool,
    /// Whether it is the two-stage baseline.
    pub two_stage: bool,
    /// Its runs use the streams of this schedule index (the two-stage baseline shares the staged
    /// schedule's, so that the two are paired run by run).
    pub stream_block: usize,
    /// Its stages.
    pub stages: Vec<Stage>,
}

/// Part (b)'s schedules: every constant step of the grid, the staged one, the two-stage baseline.
fn well_schedules(p: &Params) -> Result<Vec<WellSchedule>, ExperimentError> {
    let mut schedules: Vec<WellSchedule> = p
        .well_step_grid
        .iter()
        .enumerate()
        .map(|(k, &eta)| WellSchedule {
            label: format!("constant η = {eta}"),
            eta,
            staged: false,
            two_stage: false,
            stream_block: k,
            stages: vec![Stage {
                eta,
                steps: p.well_steps,
            }],
        })
        .collect();
    let staged_block = schedules.len();
    schedules.push(WellSchedule {
        label: format!("three stages, η₀ = {}", p.well_initial_step),
        eta: p.well_initial_step,
        staged: true,
        two_stage: false,
        stream_block: staged_block,
        stages: stages_from_fractions(
            p.well_initial_step,
            p.well_steps,
            &p.stage_fractions,
            &p.stage_step_factors,
        )?,
    });
    schedules.push(WellSchedule {
        label: format!("two stages, η₀ = {}", p.well_initial_step),
        eta: p.well_initial_step,
        staged: false,
        two_stage: true,
        stream_block: staged_block,
        stages: stages_from_fractions(
            p.well_initial_step,
            p.well_steps,
            &p.two_stage_fractions,
            &p.two_stage_step_factors,
        )?,
    });
    Ok(schedules)
}

impl WellSchedule {
    /// Whether it is a constant step.
    fn is_constant(&self) -> bool {
        !self.staged && !self.two_stage
    }
}

/// The kind `training-phases/three-regime-schedule`.
#[derive(Debug)]
pub struct ThreeRegime;

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Part (a) Monte Carlo runs per winner (after `--scale`).
    pub quadratic_runs: usize,
    /// Part (a) loss curves: the staged winner's runs, then the constant winner's.
    pub quadratic: Vec<Vec<f64>>,
    /// Part (b) runs per schedule (after `--scale`).
    pub well_runs: usize,
    /// Part (b) runs, schedule by schedule in the order of [`well_schedules`].
    pub well: Vec<WellRun>,
    /// Random samples drawn.
    pub samples: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.samples
    }
}

impl Experiment for ThreeRegime {
    const KIND: &'static str = "training-phases/three-regime-schedule";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let plan = quadratic_plan(p)?;
        let model = NoisyQuadratic::harmonic(p.quadratic_dim);
        let runs = ctx.scaled(p.quadratic_runs);
        let record_every = plan.total / QUADRATIC_POINTS;
        let quadratic = cancellable_trajectories(
            &ctx.streams(),
            "quadratic",
            2 * runs,
            &ctx.cancel,
            |i, rng| {
                Ok::<_, ExperimentError>(quadratic_run(
                    &model,
                    &plan.winners[i / runs],
                    p.quadratic_batch as f64,
                    record_every,
                    rng,
                ))
            },
        )?;
        let schedules = well_schedules(p)?;
        let well_runs = ctx.scaled(p.well_runs);
        let well = simulate_well(p, &schedules, well_runs, ctx)?;
        Ok(Measured {
            quadratic_runs: runs,
            quadratic,
            well_runs,
            well,
            samples: 2 * runs as u64 * plan.total * p.quadratic_dim as u64
                + (schedules.len() * well_runs) as u64 * p.well_steps,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        let plan = quadratic_plan(p)?;
        quadratic_metrics(p, &plan, m, &mut out);
        let well = WellOutcome::new(p, m)?;
        well_metrics(p, &well, &mut out);
        out.table("well-schedules", well_table(p, &well));
        out.table("well-curves", well_curve_table(p, &well));
        out.table("well-stage-drops", stage_drops(p, &well).1);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let plan = quadratic_plan(p)?;
        let well = WellOutcome::new(p, m)?;
        let mut figures = Figures::new();
        figures.add(
            "loss-curves",
            FigureData::stacked(vec![
                quadratic_curves_panel(p, &plan, m).into(),
                well_curves_panel(p, &well).into(),
            ]),
        );
        figures.add(
            "final-outcomes",
            FigureData::stacked(vec![
                quadratic_finals_panel(&plan).into(),
                well_finals_panel(p, &well)?.into(),
            ]),
        );
        Ok(figures)
    }
}

/// Runs every schedule of part (b): trajectory r of schedule k uses stream ("well", k runs + r);
/// groups of LANES trajectories of one schedule run in lockstep, which changes no result (see
/// `well_stage`).
fn simulate_well(
    p: &Params,
    schedules: &[WellSchedule],
    runs: usize,
    ctx: &RunContext,
) -> Result<Vec<WellRun>, ExperimentError> {
    const LANES: usize = 4;
    let pot = TiltedDoubleWell { tilt: p.tilt };
    let marks: Landmarks = landmarks(&pot)?;
    let noise_std = p.noise_variance.sqrt();
    let every = p.well_steps / p.well_checkpoints;
    let streams = ctx.streams();
    let well = WellRunner {
        pot: &pot,
        start: marks.local_min,
        noise_std,
        clamp: p.clamp,
        every,
        checkpoints: p.well_checkpoints as usize,
        streams: &streams,
    };
    let groups = runs.div_ceil(LANES);
    let sims: Vec<Result<Vec<WellRun>, ExperimentError>> =
        map_indexed(schedules.len() * groups, |g| {
            ctx.check_cancelled()?;
            let k = g / groups;
            let offset = (g % groups) * LANES;
            let first = schedules[k].stream_block * runs + offset;
            let lanes = (runs - offset).min(LANES);
            let stages = &schedules[k].stages;
            Ok(if lanes == LANES {
                well.lanes::<LANES>(first, stages)
            } else {
                (0..lanes)
                    .flat_map(|j| well.lanes::<1>(first + j, stages))
                    .collect()
            })
        });
    ctx.check_cancelled()?;
    let mut out = Vec::with_capacity(schedules.len() * runs);
    for group in sims {
        out.extend(group?);
    }
    Ok(out)
}

/// What every trajectory of part (b) shares; [`WellRunner::lanes`] runs K of them in lockstep.
struct WellRunner<'a> {
    pot: &'a TiltedDoubleWell,
    start: f64,
    noise_std: f64,
    clamp: f64,
    every: u64,
    checkpoints: usize,
    streams: &'a Streams,
}

impl WellRunner<'_> {
    /// Trajectories `first..first + K` (streams ("well", index)) through `stages`, from the local
    /// minimum; K = 1 runs the ragged tail of a schedule with the same arithmetic.
    fn lanes<const K: usize>(&self, first: usize, stages: &[Stage]) -> Vec<WellRun> {
        let mut w = [self.start; K];
        let mut rngs: [Stream; K] =
            std::array::from_fn(|j| self.streams.stream("well", (first + j) as u64));
        let mut losses: [Vec<f64>; K] = std::array::from_fn(|_| {
            let mut v = Vec::with_capacity(self.checkpoints + 1);
            v.push(self.pot.value(self.start));
            v
        });
        for s in stages {
            well_stage(
                self.pot,
                &mut w,
                s.eta,
                self.noise_std,
                self.clamp,
                s.steps,
                self.every,
                &mut rngs,
                &mut losses,
            );
        }
        losses
            .into_iter()
            .zip(w)
            .map(|(l, x)| WellRun {
                losses: l,
                final_w: x,
            })
            .collect()
    }
}

/// Part (a)'s metrics and tables: the closed-form winners, the stage drops, and the Monte Carlo
/// check of both winners.
fn quadratic_metrics(p: &Params, plan: &QuadraticPlan, m: &Measured, out: &mut Metrics) {
    let model = NoisyQuadratic::harmonic(p.quadratic_dim);
    let batch = p.quadratic_batch as f64;
    out.computed(
        "loss_ratio_quadratic",
        plan.best_constant.0 / plan.best_staged.0,
    );
    out.computed("quadratic_loss_best_constant", plan.best_constant.0);
    out.computed("quadratic_loss_best_staged", plan.best_staged.0);
    out.computed("quadratic_best_constant_step", plan.best_constant.1);
    out.computed("quadratic_best_initial_step", plan.best_staged.1);
    out.computed("quadratic_loss_best_two_stage", plan.best_two_stage.0);
    out.computed("quadratic_best_two_stage_step", plan.best_two_stage.1);
    out.computed(
        "quadratic_loss_three_over_two",
        plan.best_staged.0 / plan.best_two_stage.0,
    );
    // The loss at the end of each stage of the best staged schedule: it drops at every change.
    let mut ends = Vec::new();
    let mut t = 0;
    for s in &plan.winners[0] {
        t += s.steps;
        ends.push(staged_loss(&model, &plan.winners[0], batch, t));
    }
    let drop_max = ends.windows(2).map(|w| w[1] / w[0]).fold(0.0, f64::max);
    out.computed("quadratic_stage_loss_ratio_max", drop_max);
    let mut table = Table::new([
        "step_size",
        "final_loss_constant",
        "final_loss_staged",
        "final_loss_two_stage",
    ]);
    for (&(eta, constant, staged), &two) in plan.grid.iter().zip(&plan.two_stage) {
        table.push(row![eta, constant, staged, two]);
    }
    out.table("quadratic-final-loss", table);

    let runs = m.quadratic_runs;
    let record_every = plan.total / QUADRATIC_POINTS;
    let mut curves = Table::new([
        "schedule",
        "examples",
        "loss_mean",
        "loss_lo",
        "loss_hi",
        "loss_theory",
    ]);
    let mut max_z: f64 = 0.0;
    for (s, stages) in plan.winners.iter().enumerate() {
        let mine = &m.quadratic[s * runs..(s + 1) * runs];
        for k in 0..=QUADRATIC_POINTS as usize {
            let steps = k as u64 * record_every;
            let e = mean_estimate(&mine.iter().map(|r| r[k]).collect::<Vec<_>>());
            let th = staged_loss(&model, stages, batch, steps);
            let ci = e.ci95();
            let examples = steps * p.quadratic_batch as u64;
            curves.push(row![
                QUADRATIC_NAMES[s],
                examples,
                e.value,
                ci[0],
                ci[1],
                th
            ]);
            if k as u64 == QUADRATIC_POINTS {
                // The final loss's run-to-run variance is known exactly (Gaussian iterates), so
                // the z-score uses it rather than the sample SD of 16 skewed values.
                let w0: Vec<f64> = model.initial.iter().map(|m| m.sqrt()).collect();
                let se =
                    (staged_loss_variance(&model, stages, batch, steps, &w0) / runs as f64).sqrt();
                max_z = max_z.max(((e.value - th) / se).abs());
            }
        }
    }
    out.measured("quadratic_sim_max_abs_z", max_z);
    out.table("quadratic-curves", curves);
}

/// The outcome of one well schedule over all its runs.
pub struct WellSummary {
    /// The schedule.
    pub schedule: WellSchedule,
    /// Runs ending in the global well.
    pub global: u64,
    /// Runs.
    pub runs: u64,
    /// Mean final loss above the minimum of the well each run ends in.
    pub excess: Estimate,
    /// Mean loss at every checkpoint.
    pub mean_loss: Vec<Estimate>,
    /// The two-state master equation's P(global) at the end.
    pub predicted: f64,
    /// The index of its first run in [`Measured::well`].
    pub first: usize,
}

impl WellSummary {
    /// Wilson's interval of P(global), with its lower end exactly 0 when no run succeeded (the
    /// formula leaves a rounding residue there).
    fn wilson(&self) -> [f64; 2] {
        let [lo, hi] = wilson_interval(self.global, self.runs, Z95);
        [if self.global == 0 { 0.0 } else { lo }, hi]
    }

    fn p_global(&self) -> f64 {
        self.global as f64 / self.runs as f64
    }
}

/// Part (b) summarized: every schedule, the staged one and the best converging constant step.
pub struct WellOutcome<'a> {
    pot: TiltedDoubleWell,
    marks: Landmarks,
    summaries: Vec<WellSummary>,
    staged: usize,
    best_constant: usize,
    tolerance: f64,
    runs: &'a [WellRun],
}

impl<'a> WellOutcome<'a> {
    fn new(p: &Params, m: &'a Measured) -> Result<Self, ExperimentError> {
        let pot = TiltedDoubleWell { tilt: p.tilt };
        let marks: Landmarks = landmarks(&pot)?;
        let barrier = pot.value(marks.saddle) - pot.value(marks.global_min);
        let tolerance = p.converged_fraction * barrier;
        let runs = m.well_runs;
        let mut summaries = Vec::new();
        for (k, schedule) in well_schedules(p)?.into_iter().enumerate() {
            let mine = &m.well[k * runs..(k + 1) * runs];
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
            for s in &schedule.stages {
                let t = s.eta * p.noise_variance / 2.0;
                two_state.push((
                    escape_rates(&pot, &marks, t, p.clamp)?,
                    s.eta * s.steps as f64,
                ));
            }
            summaries.push(WellSummary {
                schedule,
                global,
                runs: runs as u64,
                excess: mean_estimate(&excess),
                mean_loss,
                predicted: two_state_probability(0.0, &two_state),
                first: k * runs,
            });
        }
        let staged = summaries
            .iter()
            .position(|s| s.schedule.staged)
            .ok_or_else(|| ExperimentError::InvalidParams("no staged schedule".into()))?;
        let best_constant = summaries
            .iter()
            .enumerate()
            .filter(|(_, s)| s.schedule.is_constant() && s.excess.value <= tolerance)
            .max_by(|(_, a), (_, b)| {
                a.global
                    .cmp(&b.global)
                    .then(b.schedule.eta.total_cmp(&a.schedule.eta))
            })
            .map(|(i, _)| i)
            .ok_or_else(|| {
                ExperimentError::InvalidParams(format!(
                    "no constant step of the grid converges (mean final excess <= {tolerance})"
                ))
            })?;
        Ok(Self {
            pot,
            marks,
            summaries,
            staged,
            best_constant,
            tolerance,
            runs: &m.well,
        })
    }

    fn staged(&self) -> &WellSummary {
        &self.summaries[self.staged]
    }

    fn best_constant(&self) -> &WellSummary {
        &self.summaries[self.best_constant]
    }

    /// The two-stage baseline.
    fn two_stage(&self) -> Option<&WellSummary> {
        self.summaries.iter().find(|s| s.schedule.two_stage)
    }

    /// The constant step eta_0 (the staged schedule's first step).
    fn constant_eta0(&self) -> Option<&WellSummary> {
        let eta0 = self.staged().schedule.eta;
        self.summaries
            .iter()
            .find(|s| s.schedule.is_constant() && s.schedule.eta == eta0)
    }

    /// The final loss above the global minimum, L(w) - L(w_g), of each run of a schedule.
    fn final_losses(&self, s: &WellSummary) -> Vec<f64> {
        let floor = self.pot.value(self.marks.global_min);
        self.runs[s.first..s.first + s.runs as usize]
            .iter()
            .map(|r| self.pot.value(r.final_w) - floor)
            .collect()
    }

    fn gibbs(&self, p: &Params, eta: f64) -> f64 {
        let t = eta * p.noise_variance / 2.0;
        gibbs_global_probability(&self.pot, &self.marks, t, p.clamp, 8000)
    }
}

/// Part (b)'s metrics: P(global) of the staged schedule and of the best converging constant step,
/// against each other and against Gibbs, and the paired stage drops.
fn well_metrics(p: &Params, w: &WellOutcome, out: &mut Metrics) {
    let (staged, best) = (w.staged(), w.best_constant());
    let p_staged = proportion_estimate(staged.global, staged.runs);
    let p_const = proportion_estimate(best.global, best.runs);
    out.estimate_with_interval("p_global_staged", p_staged.value, staged.wilson());
    out.estimate_with_interval("p_global_best_constant", p_const.value, best.wilson());
    out.measured("well_best_constant_step", best.schedule.eta);
    // The difference of two independent proportions in units of its standard error, each arm's
    // variance q(1 - q)/n with q kept within [1/n, 1 - 1/n], so that an arm with no success (or no
    // failure) still carries the binomial uncertainty of one run in n.
    let arm_var = |e: &Estimate, n: u64| {
        let q = e.value.clamp(1.0 / n as f64, 1.0 - 1.0 / n as f64);
        q * (1.0 - q) / n as f64
    };
    let diff_se = (arm_var(&p_staged, staged.runs) + arm_var(&p_const, best.runs)).sqrt();
    out.measured(
        "p_global_advantage_z",
        (p_staged.value - p_const.value) / diff_se,
    );
    let gibbs = w.gibbs(p, p.well_initial_step);
    out.computed("p_global_staged_gibbs", gibbs);
    out.computed("p_global_staged_two_state", staged.predicted);
    out.measured("p_global_staged_abs_error", (p_staged.value - gibbs).abs());
    out.estimate("staged_final_excess", staged.excess);
    out.computed("converged_tolerance", w.tolerance);
    out.computed(
        "exploration_temperature",
        p.well_initial_step * p.noise_variance / 2.0,
    );
    out.measured("well_stage_drop_min_z", stage_drops(p, w).0);
    baseline_metrics(w, out);
}

/// The three-stage schedule against its baselines on the well: the two-stage schedule (paired run
/// by run: both read the same streams and share their first stage) and the constant step eta_0
/// (independent runs), by the mean final loss above the global minimum, which counts both the
/// basin a run ends in and how far it has converged there.
fn baseline_metrics(w: &WellOutcome, out: &mut Metrics) {
    let three = w.final_losses(w.staged());
    out.estimate("well_final_loss_staged", mean_estimate(&three));
    if let Some(two) = w.two_stage() {
        let losses = w.final_losses(two);
        out.estimate("well_final_loss_two_stage", mean_estimate(&losses));
        let p_two = proportion_estimate(two.global, two.runs);
        out.estimate_with_interval("p_global_two_stage", p_two.value, two.wilson());
        out.estimate("two_stage_final_excess", two.excess);
        out.estimate(
            "well_final_loss_three_over_two",
            paired_ratio(&three, &losses),
        );
    }
    if let Some(c) = w.constant_eta0() {
        let losses = w.final_losses(c);
        let (a, b) = (mean_estimate(&three), mean_estimate(&losses));
        out.estimate("well_final_loss_constant_eta0", b);
        let p_c = proportion_estimate(c.global, c.runs);
        out.estimate_with_interval("p_global_constant_eta0", p_c.value, c.wilson());
        out.estimate("constant_eta0_final_excess", c.excess);
        // Independent arms: the delta method, SE(R)^2 = R^2 (se_a^2 / a^2 + se_b^2 / b^2).
        let r = a.value / b.value;
        let (ra, rb) = (a.se / a.value, b.se / b.value);
        let ratio = Estimate {
            value: r,
            se: r.abs() * (ra * ra + rb * rb).sqrt(),
            n: a.n.min(b.n),
        };
        out.estimate("well_final_loss_three_over_constant_eta0", ratio);
    }
}

/// Paired drops of the loss across each stage change of the staged schedule: the smallest z and
/// the table.
fn stage_drops(p: &Params, w: &WellOutcome) -> (f64, Table) {
    let every = p.well_steps / p.well_checkpoints;
    let staged = w.staged();
    let runs = &w.runs[staged.first..staged.first + staged.runs as usize];
    let mut boundary = 0u64;
    let mut ends = Vec::new();
    for s in &staged.schedule.stages {
        boundary += s.steps;
        ends.push((boundary / every) as usize);
    }
    let mut min_z = f64::INFINITY;
    let mut table = Table::new([
        "change",
        "step",
        "loss_before",
        "loss_after",
        "drop",
        "drop_se",
    ]);
    for (c, pair) in ends.windows(2).enumerate() {
        let drops: Vec<f64> = runs
            .iter()
            .map(|r| r.losses[pair[0]] - r.losses[pair[1]])
            .collect();
        let e = mean_estimate(&drops);
        min_z = min_z.min(e.value / e.se);
        table.push(row![
            c + 1,
            pair[0] as u64 * every,
            staged.mean_loss[pair[0]].value,
            staged.mean_loss[pair[1]].value,
            e.value,
            e.se
        ]);
    }
    (min_z, table)
}

/// Every schedule of part (b): P(global) against its predictions, final excess, converged or not.
fn well_table(p: &Params, w: &WellOutcome) -> Table {
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
    for s in &w.summaries {
        let ci = s.wilson();
        let eta = s.schedule.eta;
        table.push(row![
            s.schedule.label.clone(),
            eta,
            eta * p.noise_variance / 2.0,
            s.p_global(),
            ci[0],
            ci[1],
            s.predicted,
            w.gibbs(p, eta),
            s.excess.value,
            s.excess.se,
            if s.excess.value <= w.tolerance {
                "yes"
            } else {
                "no"
            }
        ]);
    }
    table
}

/// The schedules part (b)'s curves show: the staged one, the best converging constant step and
/// the constant eta_0.
fn shown<'s>(w: &'s WellOutcome, eta0: f64) -> Vec<&'s WellSummary> {
    let best = w.best_constant().schedule.eta;
    w.summaries
        .iter()
        .filter(|s| !s.schedule.is_constant() || s.schedule.eta == best || s.schedule.eta == eta0)
        .collect()
}

/// Curves of the mean loss above the global minimum, L(w) - L(w_g) >= 0.
fn well_curve_table(p: &Params, w: &WellOutcome) -> Table {
    let floor = w.pot.value(w.marks.global_min);
    let mut table = Table::new([
        "schedule",
        "step",
        "loss_above_global_min_mean",
        "loss_above_global_min_lo",
        "loss_above_global_min_hi",
    ]);
    let step_every = p.well_steps / p.well_checkpoints;
    for s in shown(w, p.well_initial_step) {
        for (c, e) in s.mean_loss.iter().enumerate() {
            let ci = e.ci95();
            table.push(row![
                s.schedule.label.clone(),
                c as u64 * step_every,
                e.value - floor,
                ci[0] - floor,
                ci[1] - floor
            ]);
        }
    }
    table
}

/// (a) The winners' expected loss against examples: closed form and Monte Carlo.
fn quadratic_curves_panel(p: &Params, plan: &QuadraticPlan, m: &Measured) -> CurvesPanel {
    let model = NoisyQuadratic::harmonic(p.quadratic_dim);
    let batch = p.quadratic_batch as f64;
    let runs = m.quadratic_runs;
    let record_every = plan.total / QUADRATIC_POINTS;
    let mut panel = CurvesPanel::new(
        format!(
            "(a) Noisy quadratic, d = {}, b = {}",
            p.quadratic_dim, p.quadratic_batch
        ),
        Axis::linear("examples"),
        Axis::log("expected loss"),
    );
    for (s, stages) in plan.winners.iter().enumerate() {
        let mine = &m.quadratic[s * runs..(s + 1) * runs];
        let sim = (1..=QUADRATIC_POINTS as usize)
            .map(|k| {
                let e = mean_estimate(&mine.iter().map(|r| r[k]).collect::<Vec<_>>());
                let examples = k as u64 * record_every * p.quadratic_batch as u64;
                MeasuredPoint::with_ci(examples as f64, e.value, e.ci95())
            })
            .collect();
        let theory = (1..=400u64).map(|k| {
            let steps = plan.total * k / 400;
            (
                (steps * p.quadratic_batch as u64) as f64,
                staged_loss(&model, stages, batch, steps),
            )
        });
        panel = panel
            .theory(Line::new(
                format!("{}, closed form", QUADRATIC_NAMES[s]),
                s,
                theory,
            ))
            .measured(Points::new(
                format!("{}, simulated", QUADRATIC_NAMES[s]),
                s,
                sim,
            ));
    }
    panel
}

/// (a) Final expected loss against the step, for constant steps and staged schedules.
fn quadratic_finals_panel(plan: &QuadraticPlan) -> CurvesPanel {
    CurvesPanel::new(
        "(a) Final loss on the budget",
        Axis::log("step size (η, or η₀ of the staged schedule)"),
        Axis::log("final expected loss"),
    )
    .theory(Line::new(
        "three stages, closed form",
        0,
        plan.grid.iter().map(|&(eta, _, staged)| (eta, staged)),
    ))
    .theory(Line::new(
        "constant, closed form",
        1,
        plan.grid.iter().map(|&(eta, constant, _)| (eta, constant)),
    ))
    .theory(Line::new(
        "two stages, closed form",
        2,
        plan.grid
            .iter()
            .zip(&plan.two_stage)
            .map(|(&(eta, _, _), &two)| (eta, two)),
    ))
}

/// (b) Mean loss above the global minimum against steps.
fn well_curves_panel(p: &Params, w: &WellOutcome) -> CurvesPanel {
    let floor = w.pot.value(w.marks.global_min);
    let mut panel = CurvesPanel::new(
        "(b) Tilted double well",
        Axis::linear("steps"),
        Axis::linear("mean L(w) − L(global min)").with_range(0.0, 0.45),
    );
    let step_every = p.well_steps / p.well_checkpoints;
    for s in shown(w, p.well_initial_step) {
        // One colour per schedule, the same as in the final-outcomes figure.
        let group = if s.schedule.staged {
            0
        } else if s.schedule.two_stage {
            2
        } else if s.schedule.eta == p.well_initial_step {
            1
        } else {
            4
        };
        let points = s
            .mean_loss
            .iter()
            .enumerate()
            .map(|(c, e)| {
                let ci = e.ci95();
                MeasuredPoint::with_ci(
                    (c as u64 * step_every) as f64,
                    e.value - floor,
                    [ci[0] - floor, ci[1] - floor],
                )
            })
            .collect();
        panel = panel.measured(Points::new(s.schedule.label.clone(), group, points));
    }
    panel
}

/// (b) P(global) against the step: constants simulated, the two-state prediction and the Gibbs
/// equilibrium on a fine grid of steps, the staged schedule at its eta_0.
fn well_finals_panel(p: &Params, w: &WellOutcome) -> Result<CurvesPanel, ExperimentError> {
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
        let t = eta * p.noise_variance / 2.0;
        gibbs_line.push((eta, w.gibbs(p, eta)));
        let rates = escape_rates(&w.pot, &w.marks, t, p.clamp)?;
        two_state_line.push((
            eta,
            two_state_probability(0.0, &[(rates, eta * p.well_steps as f64)]),
        ));
    }
    let point = |s: &WellSummary| MeasuredPoint::with_ci(s.schedule.eta, s.p_global(), s.wilson());
    let constants = w
        .summaries
        .iter()
        .filter(|s| s.schedule.is_constant())
        .map(point)
        .collect();
    Ok(CurvesPanel::new(
        "(b) Tilted double well: runs ending in the global well",
        Axis::log("step size (η, or η₀ of the staged schedule)"),
        Axis::proportion("P(global well)"),
    )
    .measured(Points::new("constant, simulated", 1, constants))
    .guide(Line::new(
        "constant, two-state prediction",
        1,
        two_state_line,
    ))
    .theory(Line::new("Gibbs equilibrium at T = η s²/2", 3, gibbs_line))
    .measured(Points::new(
        "three stages, simulated",
        0,
        vec![point(w.staged())],
    ))
    .measured(Points::new(
        "two stages, simulated",
        2,
        // Shifted right a little: it shares its η₀ with the three-stage point.
        w.two_stage()
            .map(|s| {
                let mut q = point(s);
                q.x *= 1.12;
                q
            })
            .into_iter()
            .collect(),
    )))
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

    /// Small parameters: a 5-d quadratic on 1000 examples, two constant steps on the well.
    fn small() -> Params {
        Params {
            quadratic_dim: 5,
            quadratic_examples: 1000,
            quadratic_grid_min: 0.01,
            quadratic_grid_max: 1.0,
            quadratic_grid_per_decade: 2,
            quadratic_runs: 2,
            well_steps: 1000,
            well_runs: 2,
            well_step_grid: vec![0.001, 0.01],
            well_initial_step: 0.01,
            well_checkpoints: 10,
            ..Params::default()
        }
    }

    /// A hand-made measurement: flat quadratic curves; on the well, every run ends exactly at a
    /// minimum, the staged schedule's runs in the global well with a loss that drops at each change.
    fn hand_made(p: &Params) -> Measured {
        let marks = landmarks(&TiltedDoubleWell { tilt: p.tilt }).unwrap();
        let quadratic = vec![vec![0.1; QUADRATIC_POINTS as usize + 1]; 4];
        let run = |w: f64, drop: f64| WellRun {
            losses: (0..=10).map(|c| 1.0 - drop * f64::from(c)).collect(),
            final_w: w,
        };
        let well = vec![
            run(marks.local_min, 0.0),
            run(marks.local_min, 0.0),
            run(marks.global_min, 0.0),
            run(marks.local_min, 0.0),
            run(marks.global_min, 0.05),
            run(marks.global_min, 0.06),
            run(marks.global_min + 0.1, 0.05),
            run(marks.global_min + 0.1, 0.06),
        ];
        Measured {
            quadratic_runs: 2,
            quadratic,
            well_runs: 2,
            well,
            samples: 1,
        }
    }

    #[test]
    fn metrics_and_figures_are_functions_of_the_measurement() {
        let p = small();
        assert!(p.validate().is_ok());
        let m = hand_made(&p);
        let out = ThreeRegime::metrics(&p, &m).unwrap();
        assert_eq!(out.value("p_global_staged"), Some(1.0));
        // The best converging constant step is the one with a run in the global well.
        assert_eq!(out.value("p_global_best_constant"), Some(0.5));
        assert_eq!(out.value("well_best_constant_step"), Some(0.01));
        assert_eq!(out.value("staged_final_excess"), Some(0.0));
        assert!(out.value("well_stage_drop_min_z").unwrap() > 0.0);
        assert!(out.value("loss_ratio_quadratic").unwrap() > 0.0);
        assert_eq!(out.tables["well-schedules"].rows.len(), 4);
        // The two-stage runs end off the minimum, the three-stage ones on it: ratio 0.
        assert_eq!(out.value("well_final_loss_three_over_two"), Some(0.0));
        assert_eq!(out.value("p_global_two_stage"), Some(1.0));
        assert!(
            out.value("well_final_loss_three_over_constant_eta0")
                .unwrap()
                < 1.0
        );
        assert_eq!(out.tables["well-stage-drops"].rows.len(), 2);
        assert_eq!(out.tables["quadratic-curves"].rows.len(), 102);
        let figures = ThreeRegime::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["loss-curves"].panels.len(), 2);
        assert_eq!(figures["final-outcomes"].panels.len(), 2);
    }
}
