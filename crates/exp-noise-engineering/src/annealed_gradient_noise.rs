//! Claim `annealed-gradient-noise`: gradient descent with added Gaussian noise whose variance decays
//! as (1 + t)^-0.55 (Neelakantan et al. 2015), started in the shallow well of a tilted double well,
//! against the two-state master equation with exact escape rates both ways ([`crate::tilted_well`]).
//!
//! Each run iterates w <- clamp(w - alpha (L'(w) + sigma_t xi_t), -wall, wall) with xi_t standard
//! normal and sigma_t^2 = sigma_0^2 (1 + t)^-p, i.e. temperature T_t = alpha sigma_t^2 / 2, and ends
//! in the global well when w < saddle after the last step. Runs are advanced eight at a time in
//! lockstep (independent dependency chains keep the core busy); each run draws only from its own
//! stream, so results do not depend on that grouping or on the thread count.
//!
//! Theory: the master equation starts at the first step with T_t <= 0.6. Starting it from the
//! Gibbs split there assumes the hot phase equilibrates; but the hot phase is short (166 steps at
//! T_0 = 10) and does not, so the split is taken instead from the Fokker–Planck density carried
//! from the shallow minimum through the hot phase ([`crate::fokker_planck`]). Both predictions are
//! reported.

use crate::fokker_planck::GridDensity;
use crate::tilted_well::{Cooling, RateTable, TiltedWell, master_equation_path};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::first_passage::Quadrature;
use sgd_sim::math::{ln, powf};
use sgd_sim::parallel::map_indexed;
use sgd_sim::rng::{Stream, standard_normal};
use sgd_sim::stats::{Estimate, Z95, proportion_estimate, wilson_interval};

/// Runs advanced together in one lockstep group.
pub const LANES: usize = 8;

/// Parameters of `noise-engineering/annealed-gradient-noise`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Tilt of L(w) = (w^2 - 1)^2 + tilt w (positive: the left well is global).
    pub tilt: f64,
    /// Step size alpha.
    pub step: f64,
    /// Initial temperatures T_0 = alpha sigma_0^2 / 2, one experiment each.
    pub initial_temperatures: Vec<f64>,
    /// Exponent p of the noise variance decay sigma_t^2 = sigma_0^2 (1 + t)^-p.
    pub decay_exponent: f64,
    /// Runs per initial temperature (a multiple of 8, the lockstep group).
    pub runs: usize,
    /// Steps per run.
    pub steps: usize,
    /// The iterate is clamped to |w| <= clamp.
    pub clamp: f64,
    /// The master equation starts from the Boltzmann split at the first step with T_t at most this.
    pub master_equation_start_temperature: f64,
    /// Intervals of the first-passage quadrature (Richardson-extrapolated trapezoid).
    pub quadrature_intervals: usize,
    /// Inverse temperatures at which the escape rates are tabulated.
    pub rate_table_nodes: usize,
    /// Cells of the Fokker–Planck grid that carries the hot phase up to the start temperature.
    pub fokker_planck_cells: usize,
    /// Log-spaced steps at which the fraction in the global well is recorded.
    pub checkpoints: usize,
    /// Initial temperatures on the master equation's curve in the figure (log-spaced over
    /// [min T_0 / 2, 2 max T_0]).
    pub theory_curve_points: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            tilt: 0.15,
            step: 0.02,
            initial_temperatures: vec![10.0, 20.0, 40.0],
            decay_exponent: 0.55,
            runs: 4000,
            steps: 40_000,
            clamp: 2.5,
            master_equation_start_temperature: 0.6,
            quadrature_intervals: 2000,
            rate_table_nodes: 400,
            fokker_planck_cells: 400,
            checkpoints: 30,
            theory_curve_points: 25,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::positive("tilt", self.tilt)?;
        if self.tilt >= crate::tilted_well::max_tilt() {
            return Err(ParamError::new(
                "tilt",
                format!(
                    "must be below 8/(3 sqrt 3) = {:.4} for two wells",
                    crate::tilted_well::max_tilt()
                ),
            ));
        }
        ParamError::positive("step", self.step)?;
        ParamError::all_positive("initial_temperatures", &self.initial_temperatures)?;
        ParamError::positive("decay_exponent", self.decay_exponent)?;
        ParamError::at_least("runs", self.runs as u64, LANES as u64)?;
        if !self.runs.is_multiple_of(LANES) {
            return Err(ParamError::new(
                "runs",
                format!("must be a multiple of {LANES}"),
            ));
        }
        ParamError::at_least("steps", self.steps as u64, 10)?;
        ParamError::positive("clamp", self.clamp)?;
        if self.clamp <= 1.2 {
            return Err(ParamError::new(
                "clamp",
                "must enclose both minima (near -1 and +1) with room: above 1.2",
            ));
        }
        ParamError::positive(
            "master_equation_start_temperature",
            self.master_equation_start_temperature,
        )?;
        // T_t at the last step t = steps - 1 is T0 steps^-p: every run must cool below the start
        // temperature of the master equation before it ends.
        let cooling_factor = powf(self.steps as f64, -self.decay_exponent);
        for (i, &t0) in self.initial_temperatures.iter().enumerate() {
            if t0 <= self.master_equation_start_temperature {
                return Err(ParamError::new(
                    format!("initial_temperatures[{i}]"),
                    "must exceed master_equation_start_temperature",
                ));
            }
            if t0 * cooling_factor >= self.master_equation_start_temperature {
                return Err(ParamError::new(
                    format!("initial_temperatures[{i}]"),
                    "does not cool below master_equation_start_temperature within `steps`",
                ));
            }
        }
        ParamError::at_least("quadrature_intervals", self.quadrature_intervals as u64, 64)?;
        ParamError::at_least("rate_table_nodes", self.rate_table_nodes as u64, 4)?;
        ParamError::at_least("fokker_planck_cells", self.fokker_planck_cells as u64, 16)?;
        ParamError::at_least("checkpoints", self.checkpoints as u64, 2)?;
        ParamError::at_least("theory_curve_points", self.theory_curve_points as u64, 2)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let simulation = (self.runs * self.steps * self.initial_temperatures.len()) as f64;
        let rates = (self.rate_table_nodes * self.quadrature_intervals * 12) as f64;
        // The Fokker-Planck hot phase: (T0/T_start)^(1/p) steps of a tridiagonal solve per T0,
        // for the claim's T0 and the theory curve (up to twice the largest T0).
        let t0_max = self
            .initial_temperatures
            .iter()
            .copied()
            .fold(0.0, f64::max);
        let hot_steps = powf(
            2.0 * t0_max / self.master_equation_start_temperature,
            1.0 / self.decay_exponent,
        )
        .min(self.steps as f64);
        let hot = hot_steps
            * (self.fokker_planck_cells * 10) as f64
            * (self.initial_temperatures.len() + self.theory_curve_points) as f64;
        let master =
            (self.steps * (self.initial_temperatures.len() + self.theory_curve_points)) as f64;
        simulation + rates + hot + 20.0 * master
    }
}

/// The metric-name suffix of an initial temperature: `10` for 10, `2_5` for 2.5.
pub fn temperature_label(t0: f64) -> String {
    if t0.fract() == 0.0 && t0.abs() < 1e15 {
        format!("{}", t0 as i64)
    } else {
        format!("{t0}").replace(['.', '-'], "_")
    }
}

/// Log-spaced step counts in [10, steps], unique, ending at `steps`.
fn checkpoint_steps(steps: u64, count: usize) -> Vec<u64> {
    let lo = ln(10.0f64.min(steps as f64));
    let hi = ln(steps as f64);
    let mut out: Vec<u64> = (0..count)
        .map(|k| {
            let x = lo + (hi - lo) * k as f64 / (count - 1) as f64;
            sgd_sim::math::exp(x).round() as u64
        })
        .collect();
    out.push(steps);
    out.sort_unstable();
    out.dedup();
    out
}

/// The number of runs of one group that are in the global well (w < saddle) at each checkpoint.
///
/// `noise_scale[t]` is alpha sigma_t, the standard deviation of the noise part of step t.
fn simulate_group(
    well: &TiltedWell,
    alpha: f64,
    noise_scale: &[f64],
    rngs: &mut [Stream; LANES],
    checkpoints: &[u64],
) -> Vec<u32> {
    let mut w = [well.shallow_min; LANES];
    let (tilt, wall, saddle) = (well.tilt, well.wall, well.saddle);
    let mut counts = Vec::with_capacity(checkpoints.len());
    let mut next = 0;
    for (t, &scale) in noise_scale.iter().enumerate() {
        for (wj, rng) in w.iter_mut().zip(rngs.iter_mut()) {
            let x = *wj;
            let gradient = 4.0 * x * (x * x - 1.0) + tilt;
            let xi = standard_normal(rng);
            *wj = (x - alpha * gradient - scale * xi).clamp(-wall, wall);
        }
        if next < checkpoints.len() && checkpoints[next] == t as u64 + 1 {
            counts.push(w.iter().filter(|&&x| x < saddle).count() as u32);
            next += 1;
        }
    }
    counts
}

/// Plain gradient descent from the shallow minimum for `steps` steps: its final iterate.
fn plain_gradient_descent(well: &TiltedWell, alpha: f64, steps: usize) -> f64 {
    let mut w = well.shallow_min;
    for _ in 0..steps {
        w = (w - alpha * well.derivative(w)).clamp(-well.wall, well.wall);
    }
    w
}

/// How the master equation's initial split between the wells is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The Gibbs split at the start temperature (the hot phase assumed equilibrated).
    Boltzmann,
    /// The split of the Fokker–Planck density propagated from the shallow minimum through the hot
    /// phase (no equilibrium assumed).
    FokkerPlanck,
}

/// The master equation's prediction for one T_0.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// P(global) after the last step.
    pub final_global: f64,
    /// P(global) at each checkpoint (None before the master equation starts).
    pub at_checkpoints: Vec<Option<f64>>,
    /// The step at which the master equation starts.
    pub start_step: u64,
    /// P(global) at that step.
    pub initial_global: f64,
}

/// The master equation's prediction for initial temperature `t0`, started as `start` says.
pub fn master_equation(
    p: &Params,
    well: &TiltedWell,
    table: &RateTable,
    t0: f64,
    checkpoints: &[u64],
    start: Start,
) -> Prediction {
    let cooling = Cooling {
        initial_temperature: t0,
        exponent: p.decay_exponent,
    };
    let steps = p.steps as u64;
    let start_step = cooling
        .first_step_at_or_below(p.master_equation_start_temperature)
        .min(steps - 1);
    let initial_global = match start {
        Start::Boltzmann => well.boltzmann_global_fraction(cooling.temperature(start_step), 4000),
        Start::FokkerPlanck => {
            let mut density =
                GridDensity::point_mass(well, p.fokker_planck_cells, well.shallow_min);
            density.propagate(cooling, p.step, 0, start_step);
            density.mass_below(well.saddle)
        }
    };
    let path = master_equation_path(table, cooling, p.step, start_step, initial_global, steps);
    let at_checkpoints = checkpoints
        .iter()
        .map(|&c| (c > start_step).then(|| path[(c - start_step - 1) as usize]))
        .collect();
    Prediction {
        final_global: path[path.len() - 1],
        at_checkpoints,
        start_step,
        initial_global,
    }
}

/// The kind `noise-engineering/annealed-gradient-noise`.
#[derive(Debug)]
pub struct AnnealedGradientNoise;

/// One initial temperature: the simulated runs and the master equation's predictions.
#[derive(Clone, Debug, PartialEq)]
pub struct TemperatureRun {
    /// T_0.
    pub t0: f64,
    /// Runs in the global well at each checkpoint.
    pub counts: Vec<u64>,
    /// The master equation started from the Fokker–Planck hot phase (computed).
    pub prediction: Prediction,
    /// The master equation started from the Gibbs split (computed).
    pub boltzmann: Prediction,
}

/// What the measure step produced, with the deterministic theory computed alongside.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The well.
    pub well: TiltedWell,
    /// Runs per T_0 (after `--scale`).
    pub runs: usize,
    /// The checkpoints, in steps.
    pub checkpoints: Vec<u64>,
    /// One entry per T_0 of the parameters, in their order.
    pub temperatures: Vec<TemperatureRun>,
    /// The master equation over a continuum of T_0: (T_0, Fokker–Planck start, Gibbs start).
    pub curve: Vec<(f64, f64, f64)>,
    /// Plain gradient descent's final iterate (computed).
    pub gd_final: f64,
    /// Steps per run.
    pub steps: usize,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        (self.runs * self.steps * self.temperatures.len()) as u64
    }
}

/// The range of T_0 on the theory curve: from half the smallest T_0 (above the start
/// temperature) to twice the largest, stopping where a run would no longer cool to the start
/// temperature in time (the master equation needs T_t <= start temperature before the last step).
fn curve_range(p: &Params) -> (f64, f64) {
    let t0_min = p
        .initial_temperatures
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let t0_max = p.initial_temperatures.iter().copied().fold(0.0, f64::max);
    let curve_lo = (0.5 * t0_min).max(p.master_equation_start_temperature * 1.01);
    let hottest_that_cools =
        p.master_equation_start_temperature * powf(p.steps as f64, p.decay_exponent) * 0.99;
    let curve_hi = (2.0 * t0_max).min(hottest_that_cools).max(t0_max);
    (curve_lo, curve_hi)
}

/// The escape rates, tabulated from the start temperature down to the coldest final temperature
/// of the theory curve.
fn rate_table(p: &Params, well: &TiltedWell) -> Result<RateTable, ExperimentError> {
    let t0_min = p
        .initial_temperatures
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let coldest = Cooling {
        initial_temperature: curve_range(p).0.min(t0_min),
        exponent: p.decay_exponent,
    }
    .temperature(p.steps as u64);
    let quadrature = Quadrature {
        intervals: p.quadrature_intervals,
    };
    Ok(RateTable::new(
        well,
        0.99 * coldest,
        p.master_equation_start_temperature,
        p.rate_table_nodes,
        quadrature,
    )?)
}

/// Simulates `runs` annealed runs at T_0 = `t0` (purpose index `ti`): runs in the global well at
/// each checkpoint.
fn simulate_temperature(
    p: &Params,
    well: &TiltedWell,
    ctx: &RunContext,
    ti: usize,
    groups: usize,
    checkpoints: &[u64],
) -> Result<Vec<u64>, ExperimentError> {
    let cooling = Cooling {
        initial_temperature: p.initial_temperatures[ti],
        exponent: p.decay_exponent,
    };
    let noise_scale: Vec<f64> = (0..p.steps as u64)
        .map(|t| (2.0 * p.step * cooling.temperature(t)).sqrt())
        .collect();
    let streams = ctx.streams();
    let purpose = format!("annealing-{ti}");
    let group_counts = map_indexed(groups, |g| {
        if ctx.check_cancelled().is_err() {
            return None;
        }
        let mut rngs: [Stream; LANES] =
            std::array::from_fn(|j| streams.stream(&purpose, (g * LANES + j) as u64));
        Some(simulate_group(
            well,
            p.step,
            &noise_scale,
            &mut rngs,
            checkpoints,
        ))
    });
    let mut counts = vec![0u64; checkpoints.len()];
    for gc in group_counts {
        let gc = gc.ok_or(ExperimentError::Cancelled)?;
        for (c, &v) in counts.iter_mut().zip(&gc) {
            *c += u64::from(v);
        }
    }
    Ok(counts)
}

/// One T_0's metrics; returns its estimate, |sim - theory| and that distance's interval.
fn temperature_metrics(
    m: &Measured,
    run: &TemperatureRun,
    out: &mut Metrics,
) -> (Estimate, f64, [f64; 2]) {
    let runs = m.runs as u64;
    let successes = run.counts[run.counts.len() - 1];
    let estimate = proportion_estimate(successes, runs);
    let wilson = wilson_interval(successes, runs, Z95);
    let me_final = run.prediction.final_global;
    let label = temperature_label(run.t0);
    out.computed(
        &format!("p_global_master_equation_boltzmann_start_t0_{label}"),
        run.boltzmann.final_global,
    );
    out.estimate_with_interval(&format!("p_global_t0_{label}"), estimate.value, wilson);
    out.computed(&format!("p_global_master_equation_t0_{label}"), me_final);
    // Interval of |sim - theory| from the Wilson interval: distance of theory to the interval
    // (0 when inside) up to the farthest end.
    let lo = if me_final < wilson[0] {
        wilson[0] - me_final
    } else if me_final > wilson[1] {
        me_final - wilson[1]
    } else {
        0.0
    };
    let hi = (wilson[1] - me_final)
        .abs()
        .max((me_final - wilson[0]).abs());
    (estimate, (estimate.value - me_final).abs(), [lo, hi])
}

/// The summary row of one T_0.
fn summary_row(p: &Params, m: &Measured, run: &TemperatureRun) -> Vec<claim_spec::Cell> {
    let runs = m.runs as u64;
    let successes = run.counts[run.counts.len() - 1];
    let estimate = proportion_estimate(successes, runs);
    let wilson = wilson_interval(successes, runs, Z95);
    let cooling = Cooling {
        initial_temperature: run.t0,
        exponent: p.decay_exponent,
    };
    let start = run.prediction.start_step;
    let final_temperature = cooling.temperature(p.steps as u64 - 1);
    row![
        run.t0,
        m.runs,
        estimate.value,
        wilson[0],
        wilson[1],
        run.prediction.final_global,
        run.boltzmann.final_global,
        start,
        cooling.temperature(start),
        run.prediction.initial_global,
        run.boltzmann.initial_global,
        final_temperature,
        m.well.boltzmann_global_fraction(final_temperature, 20_000)
    ]
}

/// The smallest increase of P(global) between consecutive T_0 (sorted), with a normal interval
/// from the two binomial standard errors.
fn min_increase(p: &Params, estimates: &[Estimate], out: &mut Metrics) {
    let mut order: Vec<usize> = (0..p.initial_temperatures.len()).collect();
    order.sort_by(|&a, &b| p.initial_temperatures[a].total_cmp(&p.initial_temperatures[b]));
    if order.len() >= 2 {
        let (value, se) = order
            .windows(2)
            .map(|w| {
                let (a, b) = (&estimates[w[0]], &estimates[w[1]]);
                (b.value - a.value, (a.se * a.se + b.se * b.se).sqrt())
            })
            .min_by(|x, y| x.0.total_cmp(&y.0))
            .unwrap_or((0.0, 0.0));
        out.estimate_with_interval(
            "p_global_min_increase",
            value,
            [value - Z95 * se, value + Z95 * se],
        );
    }
}

/// The tables: one row per T_0, the paths during cooling, and the theory curve.
fn tables(p: &Params, m: &Measured, out: &mut Metrics) {
    let mut summary = Table::new([
        "initial_temperature",
        "runs",
        "p_global_sim",
        "p_global_lo",
        "p_global_hi",
        "p_global_master_equation",
        "p_global_master_equation_boltzmann_start",
        "master_equation_start_step",
        "start_temperature",
        "fokker_planck_global_at_start",
        "boltzmann_global_at_start",
        "final_temperature",
        "boltzmann_global_at_final_temperature",
    ]);
    let mut paths = Table::new([
        "initial_temperature",
        "step",
        "temperature",
        "p_global_sim",
        "p_global_lo",
        "p_global_hi",
        "p_global_master_equation",
    ]);
    for run in &m.temperatures {
        summary.push(summary_row(p, m, run));
        let cooling = Cooling {
            initial_temperature: run.t0,
            exponent: p.decay_exponent,
        };
        for (k, &c) in m.checkpoints.iter().enumerate() {
            let f = run.counts[k] as f64 / m.runs as f64;
            let ci = wilson_interval(run.counts[k], m.runs as u64, Z95);
            paths.push(row![
                run.t0,
                c,
                cooling.temperature(c - 1),
                f,
                ci[0],
                ci[1],
                run.prediction.at_checkpoints[k]
            ]);
        }
    }
    let mut curve = Table::new([
        "initial_temperature",
        "p_global_master_equation",
        "p_global_master_equation_boltzmann_start",
    ]);
    for &(t0, a, b) in &m.curve {
        curve.push(row![t0, a, b]);
    }
    out.table("summary", summary);
    out.table("paths", paths);
    out.table("master_equation_curve", curve);
}

impl Experiment for AnnealedGradientNoise {
    const KIND: &'static str = "noise-engineering/annealed-gradient-noise";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let well = TiltedWell::new(p.tilt, p.clamp)?;
        let runs = ctx.scaled(p.runs / LANES) * LANES;
        let steps = p.steps as u64;
        let checkpoints = checkpoint_steps(steps, p.checkpoints);
        let table = rate_table(p, &well)?;
        let mut temperatures = Vec::with_capacity(p.initial_temperatures.len());
        for (ti, &t0) in p.initial_temperatures.iter().enumerate() {
            ctx.check_cancelled()?;
            let counts = simulate_temperature(p, &well, ctx, ti, runs / LANES, &checkpoints)?;
            temperatures.push(TemperatureRun {
                t0,
                counts,
                prediction: master_equation(
                    p,
                    &well,
                    &table,
                    t0,
                    &checkpoints,
                    Start::FokkerPlanck,
                ),
                boltzmann: master_equation(p, &well, &table, t0, &checkpoints, Start::Boltzmann),
            });
        }
        // The master equation over a continuum of T_0, for the figure.
        let (curve_lo, curve_hi) = curve_range(p);
        let n = p.theory_curve_points;
        let curve = map_indexed(n, |k| {
            let t0 = curve_lo * powf(curve_hi / curve_lo, k as f64 / (n - 1) as f64);
            let fp = master_equation(p, &well, &table, t0, &[steps], Start::FokkerPlanck);
            let gibbs = master_equation(p, &well, &table, t0, &[steps], Start::Boltzmann);
            (t0, fp.final_global, gibbs.final_global)
        });
        Ok(Measured {
            well,
            runs,
            checkpoints,
            temperatures,
            curve,
            gd_final: plain_gradient_descent(&well, p.step, p.steps),
            steps: p.steps,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        let mut estimates = Vec::new();
        let mut error_max: f64 = 0.0;
        let mut error_interval = [0.0f64, 0.0f64];
        let mut start_shift_max: f64 = 0.0;
        for run in &m.temperatures {
            let (estimate, error, [lo, hi]) = temperature_metrics(m, run, &mut out);
            start_shift_max = start_shift_max
                .max((run.boltzmann.final_global - run.prediction.final_global).abs());
            error_max = error_max.max(error);
            error_interval = [error_interval[0].max(lo), error_interval[1].max(hi)];
            estimates.push(estimate);
        }
        out.estimate_with_interval("p_global_abs_error_max", error_max, error_interval);
        // The best initial temperature tried: its P(global) with its Wilson interval.
        if let Some(best) = m
            .temperatures
            .iter()
            .max_by_key(|r| r.counts[r.counts.len() - 1])
        {
            let successes = best.counts[best.counts.len() - 1];
            out.estimate_with_interval(
                "p_global_max",
                successes as f64 / m.runs as f64,
                wilson_interval(successes, m.runs as u64, Z95),
            );
        }
        // How much assuming an equilibrated hot phase (a Gibbs start) moves the prediction.
        out.computed("boltzmann_start_shift_max", start_shift_max);
        min_increase(p, &estimates, &mut out);
        out.computed("gd_final_w", m.gd_final);
        out.computed(
            "gd_p_global",
            if m.gd_final < m.well.saddle { 1.0 } else { 0.0 },
        );
        out.computed("barrier_from_shallow", m.well.barrier_from_shallow());
        out.computed("barrier_from_global", m.well.barrier_from_global());
        tables(p, m, &mut out);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("p-global", p_global_figure(p, m));
        Ok(figures)
    }
}

/// P(global) against T_0 with the master equation, and the fraction in the global well during
/// cooling.
fn p_global_figure(p: &Params, m: &Measured) -> FigureData {
    let (curve_lo, curve_hi) = curve_range(p);
    let sim_points = m
        .temperatures
        .iter()
        .map(|run| {
            let successes = run.counts[run.counts.len() - 1];
            let wilson = wilson_interval(successes, m.runs as u64, Z95);
            MeasuredPoint::with_ci(run.t0, successes as f64 / m.runs as f64, wilson)
        })
        .collect();
    let left = CurvesPanel::new(
        "Ending in the global well",
        Axis::log("initial temperature T₀"),
        Axis::proportion("P(global)"),
    )
    .theory(Line::new(
        "master equation",
        0,
        m.curve.iter().map(|&(t, a, _)| (t, a)),
    ))
    .guide(Line::new(
        "master equation, equilibrated start",
        1,
        m.curve.iter().map(|&(t, _, b)| (t, b)),
    ))
    .guide(Line::new("plain GD", 2, [(curve_lo, 0.0), (curve_hi, 0.0)]))
    .measured(Points::new(
        format!("simulated ({} runs)", m.runs),
        0,
        sim_points,
    ));
    let mut right = CurvesPanel::new(
        "Fraction in the global well during cooling",
        Axis::log("step t"),
        Axis::proportion("fraction in global well"),
    );
    for (ti, run) in m.temperatures.iter().enumerate() {
        let points = m
            .checkpoints
            .iter()
            .zip(&run.counts)
            .map(|(&c, &k)| {
                let ci = wilson_interval(k, m.runs as u64, Z95);
                MeasuredPoint::with_ci(c as f64, k as f64 / m.runs as f64, ci)
            })
            .collect();
        let line = m
            .checkpoints
            .iter()
            .zip(&run.prediction.at_checkpoints)
            .filter_map(|(&c, v)| v.map(|v| (c as f64, v)));
        // One legend entry per T_0; the caption says lines are the master equation.
        right = right
            .theory(Line::new("", 3 + ti, line))
            .measured(Points::new(format!("T₀ = {}", run.t0), 3 + ti, points));
    }
    FigureData::stacked(vec![left.into(), right.into()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::Streams;

    #[test]
    fn master_equation_tracks_the_full_fokker_planck_solution() {
        // The claim's theory reduces the dynamics below T = 0.6 to two states. Against the full
        // Fokker-Planck solution over all 40,000 steps (same grid as the hot phase), the reduction
        // errs by 0.0043 at T0 = 10 and 0.0011 at T0 = 20 (the values the claim's bound uses);
        // these tolerances pin them.
        let p = Params::default();
        let well = TiltedWell::new(p.tilt, p.clamp).unwrap();
        let table = RateTable::new(
            &well,
            0.01,
            p.master_equation_start_temperature,
            p.rate_table_nodes,
            Quadrature {
                intervals: p.quadrature_intervals,
            },
        )
        .unwrap();
        for (t0, tolerance) in [(10.0, 0.005), (20.0, 0.0015)] {
            let cooling = Cooling {
                initial_temperature: t0,
                exponent: p.decay_exponent,
            };
            let mut full = GridDensity::point_mass(&well, p.fokker_planck_cells, well.shallow_min);
            full.propagate(cooling, p.step, 0, p.steps as u64);
            let exact = full.mass_below(well.saddle);
            let reduced = master_equation(
                &p,
                &well,
                &table,
                t0,
                &[p.steps as u64],
                Start::FokkerPlanck,
            );
            let gap = (reduced.final_global - exact).abs();
            assert!(
                gap < tolerance,
                "T0={t0}: {} vs {exact}",
                reduced.final_global
            );
        }
    }

    #[test]
    fn labels_are_metric_safe() {
        assert_eq!(temperature_label(10.0), "10");
        assert_eq!(temperature_label(2.5), "2_5");
    }

    #[test]
    fn checkpoints_are_increasing_and_end_at_steps() {
        let c = checkpoint_steps(40_000, 30);
        assert_eq!(*c.last().unwrap(), 40_000);
        assert!(c.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(c[0], 10);
    }

    #[test]
    fn lockstep_groups_equal_single_runs() {
        // Each lane draws only from its own stream: a lane's trajectory is the same as a run done
        // alone, so the grouping cannot change results.
        let well = TiltedWell::new(0.15, 2.5).unwrap();
        let streams = Streams::new(9);
        let noise: Vec<f64> = (0..500).map(|t| 0.5 / (1.0 + t as f64).sqrt()).collect();
        let checkpoints = vec![500];
        let mut rngs: [Stream; LANES] = std::array::from_fn(|j| streams.stream("x", j as u64));
        let together = simulate_group(&well, 0.02, &noise, &mut rngs, &checkpoints)[0];
        let mut alone = 0;
        for j in 0..LANES {
            let mut rng = streams.stream("x", j as u64);
            let mut w = well.shallow_min;
            for &s in &noise {
                let g = well.derivative(w);
                w = (w - 0.02 * g - s * standard_normal(&mut rng)).clamp(-2.5, 2.5);
            }
            alone += u32::from(w < well.saddle);
        }
        assert_eq!(together, alone);
    }

    #[test]
    fn plain_gradient_descent_stays_in_the_shallow_well() {
        let well = TiltedWell::new(0.15, 2.5).unwrap();
        let w = plain_gradient_descent(&well, 0.02, 40_000);
        assert!((w - well.shallow_min).abs() < 1e-12);
    }

    #[test]
    fn validation_names_the_key() {
        let p = Params {
            runs: 12,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "runs");
        let p = Params {
            initial_temperatures: vec![10.0, 0.5],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "initial_temperatures[1]");
        let p = Params {
            initial_temperatures: vec![10.0, 1e4],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "initial_temperatures[1]");
        let p = Params {
            tilt: 2.0,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "tilt");
        assert!(Params::default().validate().is_ok());
    }

    /// A hand-made measurement: two T_0 with 80 and 90 of 100 runs in the global well at the end.
    fn hand_made() -> Measured {
        let well = TiltedWell::new(0.15, 2.5).unwrap();
        let prediction = |final_global: f64| Prediction {
            final_global,
            at_checkpoints: vec![None, Some(final_global)],
            start_step: 5,
            initial_global: 0.5,
        };
        let run = |t0: f64, end: u64, theory: f64| TemperatureRun {
            t0,
            counts: vec![50, end],
            prediction: prediction(theory),
            boltzmann: prediction(theory + 0.01),
        };
        Measured {
            well,
            runs: 100,
            checkpoints: vec![10, 40_000],
            temperatures: vec![run(10.0, 80, 0.78), run(20.0, 90, 0.95)],
            curve: vec![(5.0, 0.7, 0.71), (40.0, 0.9, 0.91)],
            gd_final: well.shallow_min,
            steps: 40_000,
        }
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let p = Params {
            initial_temperatures: vec![10.0, 20.0],
            ..Params::default()
        };
        let m = hand_made();
        let out = AnnealedGradientNoise::metrics(&p, &m).unwrap();
        assert_eq!(out.value("p_global_t0_10"), Some(0.8));
        let error = out.value("p_global_abs_error_max").unwrap();
        assert!((error - 0.05).abs() < 1e-12, "{error}");
        let increase = out.value("p_global_min_increase").unwrap();
        assert!((increase - 0.1).abs() < 1e-12);
        assert_eq!(out.value("gd_p_global"), Some(0.0));
        assert_eq!(out.value("p_global_max"), Some(0.9));
        let shift = out.value("boltzmann_start_shift_max").unwrap();
        assert!((shift - 0.01).abs() < 1e-12);
        assert_eq!(out.tables["paths"].rows.len(), 4);
        assert_eq!(m.samples(), 2 * 100 * 40_000);
        let figures = AnnealedGradientNoise::figures(&p, &m).unwrap().into_map();
        let f = &figures["p-global"];
        let claim_spec::figure::Panel::Curves(c) = &f.panels[0] else {
            panic!("curves")
        };
        assert_eq!(c.y.range, Some([0.0, 1.0]));
    }
}
