//! Claim `diversity-batch-knee`: gradient diversity sets how large a batch stays useful. Two
//! least-squares data sets share their inputs and teacher; one has exact labels (an interpolating
//! problem, low diversity at the target), the other label noise (high diversity at the target).
//! For each, steps-to-target S(b) with eta tuned per b are computed exactly from the second-moment
//! recursion of [`crate::ls_moments`] (with-replacement sampling, start w_hat + N(0, s^2 I)), and
//! S = S_min (1 + B*/b) is fitted. Minibatch SGD is then simulated on both data sets at a subset
//! of the batch sizes with the tuned eta ([`crate::sgd_runs`]): the measured examples-to-target
//! ratio and knees carry sampling intervals. Diversity moves the knee B*; it does not make progress
//! per example faster.

use crate::critical_batch::{
    nearest_index, sim_table, validate_batches, validate_search, validate_sim_batches,
};
use crate::diversity::{Dataset, spectrum_dataset};
use crate::hyperbola::{HyperbolaFit, fit_hyperbola};
use crate::ls_moments::SecondMomentOperator;
use crate::mccandlish::NoiseScales;
use crate::sgd_runs::{
    LeastSquaresRun, PROPAGATION_REPLICATES, SimBatch, knee_of, loss_curve, max_abs_z,
    max_rel_error, propagated, smoothing, step_budget,
};
use crate::tuning::{LogSearch, TunedRate};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::powf;
use sgd_sim::parallel::map_indexed;
use sgd_sim::stats::NormalDraws;

/// Parameters of `gradient-diversity/batch-knee`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Data points N.
    pub samples: usize,
    /// Features d.
    pub dim: usize,
    /// Input covariance eigenvalues i^-p, i = 1..d: this is p.
    pub spectrum_exponent: f64,
    /// Label noise of the low-diversity data set (0: interpolating).
    pub label_noise_uniform: f64,
    /// Label noise of the high-diversity data set.
    pub label_noise_diverse: f64,
    /// Standard deviation s of the start w_0 = w_hat + s z, z ~ N(0, I).
    pub init_scale: f64,
    /// Target excess loss as a fraction of the initial expected excess loss.
    pub target_fraction: f64,
    /// Batch sizes b (with replacement), increasing.
    pub batch_sizes: Vec<usize>,
    /// Log-spaced step sizes of the tuning grid on [2/h_max 10^-decades, 2/h_max).
    pub eta_grid_points: usize,
    /// Decades below 2/h_max covered by the grid.
    pub eta_grid_decades: f64,
    /// Final golden-section bracket in ln eta.
    pub eta_tolerance: f64,
    /// Runs needing more steps than this count as not reaching the target.
    pub max_steps: u64,
    /// Batch sizes (each one of `batch_sizes`, each double the one before) at which minibatch
    /// SGD is simulated with the tuned step size.
    pub sim_batch_sizes: Vec<usize>,
    /// Simulated runs per data set and batch size.
    pub sim_runs: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            samples: 1024,
            dim: 10,
            spectrum_exponent: 2.0,
            label_noise_uniform: 0.0,
            label_noise_diverse: 0.3,
            init_scale: 1.0,
            target_fraction: 0.01,
            batch_sizes: (0..=14).map(|k| 1usize << k).collect(),
            eta_grid_points: 32,
            eta_grid_decades: 4.0,
            eta_tolerance: 1e-4,
            max_steps: 10_000_000,
            sim_batch_sizes: (0..=8).map(|k| 1usize << k).collect(),
            sim_runs: 400,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("dim", self.dim as u64, 1)?;
        if self.dim > 20 {
            return Err(ParamError::new(
                "dim",
                "at most 20 (the second-moment operator has d(d+1)/2 coordinates)",
            ));
        }
        ParamError::at_least("samples", self.samples as u64, self.dim as u64 + 1)?;
        ParamError::finite("spectrum_exponent", self.spectrum_exponent)?;
        if !(0.0..=4.0).contains(&self.spectrum_exponent) {
            return Err(ParamError::new("spectrum_exponent", "must be in [0, 4]"));
        }
        if self.samples > 1_000_000 {
            return Err(ParamError::new("samples", "at most 10^6"));
        }
        for (key, v) in [
            ("label_noise_uniform", self.label_noise_uniform),
            ("label_noise_diverse", self.label_noise_diverse),
        ] {
            ParamError::non_negative(key, v)?;
        }
        ParamError::positive("init_scale", self.init_scale)?;
        ParamError::positive("target_fraction", self.target_fraction)?;
        if self.target_fraction >= 1.0 {
            return Err(ParamError::new("target_fraction", "must be below 1"));
        }
        validate_batches("batch_sizes", &self.batch_sizes, 3)?;
        validate_search(
            self.eta_grid_points,
            self.eta_grid_decades,
            self.eta_tolerance,
        )?;
        ParamError::at_least("max_steps", self.max_steps, 1)?;
        validate_sim_batches(&self.sim_batch_sizes, &self.batch_sizes)?;
        ParamError::at_least("sim_runs", self.sim_runs as u64, 2)
    }

    fn estimated_work(&self) -> f64 {
        // Per evaluation: an m x m symmetric eigendecomposition (~10 m^3) and a scan of up to S
        // steps (2 m each); S is at most ~1e5 at the bottom of the grid. Two data sets.
        let m = (self.dim * (self.dim + 1) / 2) as f64;
        let per_eval = 10.0 * m * m * m + 2.0 * m * 2e4;
        2.0 * (self.eta_grid_points as f64 + 30.0) * per_eval * self.batch_sizes.len() as f64
            + (self.samples as f64) * m * m
            + self.simulation_work()
    }
}

/// One data set's prepared problem.
struct Problem {
    operator: SecondMomentOperator,
    start: Vec<f64>,
    target: f64,
}

/// One tuned batch size.
#[derive(Clone, Debug, PartialEq)]
pub struct TunedBatch {
    /// The batch size b.
    pub batch: f64,
    /// The tuned step size and its steps-to-target.
    pub rate: TunedRate,
    /// First integer step at or below the target.
    pub step: u64,
    /// Noise scales of the expected second moments at that step.
    pub at_target: NoiseScales,
}

/// One data set's setup and exact sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSetSweep {
    /// "uniform" or "diverse".
    pub name: &'static str,
    /// Its label noise.
    pub label_noise: f64,
    /// Largest and smallest eigenvalues of H.
    pub h_max: f64,
    /// The smallest.
    pub h_min: f64,
    /// The initial expected excess loss.
    pub initial_excess: f64,
    /// The target excess loss.
    pub target: f64,
    /// Every batch size, in order.
    pub tuned: Vec<TunedBatch>,
    /// The simulated batch sizes, in order.
    pub sims: Vec<SimBatch>,
}

/// The kind `gradient-diversity/batch-knee`.
#[derive(Debug)]
pub struct BatchKnee;

impl Params {
    /// The simulation's cost: about S (b + d) elementary steps per run and b (b examples of d
    /// features, and the excess loss), S <= 30 (1 + 70 / b) on the default problems.
    fn simulation_work(&self) -> f64 {
        let d = self.dim as f64;
        let per_run: f64 = self
            .sim_batch_sizes
            .iter()
            .map(|&b| {
                let b = b as f64;
                1.3 * 30.0 * (1.0 + 70.0 / b) * (3.0 * b * d + d * d)
            })
            .sum();
        2.0 * per_run * self.sim_runs as f64
    }
}

/// What the measure step produced: the two data sets, low diversity first.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The uniform (exact labels) and the diverse (noisy labels) data sets.
    pub sets: Vec<DataSetSweep>,
    /// Simulated runs per data set and batch size (after `--scale`).
    pub runs: usize,
    /// Normal deviates for the propagated intervals: one per simulated batch size of the uniform
    /// set, then of the diverse set, per row.
    pub interval_draws: NormalDraws,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        // Examples drawn: runs x recorded steps x b.
        self.sets
            .iter()
            .flat_map(|s| &s.sims)
            .map(|s| (self.runs * step_budget(s.exact)) as u64 * s.batch as u64)
            .sum()
    }
}

/// Simulates minibatch SGD on one data set at each simulated batch size with its tuned step size.
fn simulate(
    p: &Params,
    name: &str,
    data: &Dataset,
    problem: &Problem,
    tuned: &[TunedBatch],
    runs: usize,
    ctx: &RunContext,
) -> Result<Vec<SimBatch>, ExperimentError> {
    let w_hat = data.minimizer()?;
    let hessian = data.hessian();
    let sim = LeastSquaresRun {
        data,
        w_hat: &w_hat,
        hessian: &hessian,
        init_scale: p.init_scale,
    };
    let mut sims = Vec::new();
    for &b in &p.sim_batch_sizes {
        let t = tuned
            .iter()
            .find(|t| t.batch == b as f64)
            .ok_or_else(|| ExperimentError::InvalidParams(format!("b = {b} was not swept")))?;
        let budget = step_budget(t.rate.value);
        let purpose = format!("batch-knee/sgd/{name}/b={b}");
        let curve = loss_curve(ctx, &purpose, runs, |rng| {
            sim.run(t.rate.eta, b, budget, rng)
        })?;
        let steps = curve
            .crossing(problem.target, smoothing(t.rate.value))
            .ok_or_else(|| {
                ExperimentError::Numerical(format!(
                    "the simulated runs on {name} at b = {b} did not reach the target"
                ))
            })?;
        sims.push(SimBatch {
            batch: b as f64,
            eta: t.rate.eta,
            exact: t.rate.value,
            steps,
        });
    }
    Ok(sims)
}

fn prepare(
    data: &Dataset,
    init_scale: f64,
    target_fraction: f64,
) -> Result<Problem, ExperimentError> {
    let w_hat = data.minimizer()?;
    let residuals: Vec<f64> = (0..data.samples())
        .map(|i| data.residual(i, &w_hat))
        .collect();
    let operator = SecondMomentOperator::new(&data.inputs, &residuals, data.dim)?;
    let start = operator.isotropic(init_scale * init_scale);
    let target = target_fraction * operator.excess_loss(&start);
    Ok(Problem {
        operator,
        start,
        target,
    })
}

fn tune(problem: &Problem, batch: f64, p: &Params) -> Result<TunedBatch, ExperimentError> {
    let op = &problem.operator;
    let search = LogSearch {
        upper: 2.0 / op.max_curvature(),
        decades: p.eta_grid_decades,
        grid_points: p.eta_grid_points,
        tolerance: p.eta_tolerance,
    };
    let rate = search.minimize(|eta| {
        Ok(op.run(eta, batch, &problem.start)?.and_then(|run| {
            run.first_crossing(problem.target, p.max_steps)
                .map(|c| c.interpolated)
        }))
    })?;
    let run = op.run(rate.eta, batch, &problem.start)?;
    let crossing = run
        .as_ref()
        .and_then(|r| r.first_crossing(problem.target, p.max_steps));
    let (Some(run), Some(crossing)) = (run, crossing) else {
        return Err(ExperimentError::Numerical(
            "the tuned step size does not reach the target".into(),
        ));
    };
    Ok(TunedBatch {
        batch,
        rate,
        step: crossing.step,
        at_target: op.noise_scales(&run.moments(crossing.step)),
    })
}

/// The two data sets: the same inputs and teacher from the same stream (the label-noise draws
/// are taken either way, scaled by the noise level).
fn data_sets(p: &Params, ctx: &RunContext) -> Result<[Dataset; 2], ExperimentError> {
    let streams = ctx.streams();
    let spectrum: Vec<f64> = (1..=p.dim)
        .map(|i| powf(i as f64, -p.spectrum_exponent))
        .collect();
    let uniform = spectrum_dataset(
        p.samples,
        spectrum.clone(),
        p.label_noise_uniform,
        &mut streams.stream("data", 0),
    )?;
    let diverse = spectrum_dataset(
        p.samples,
        spectrum,
        p.label_noise_diverse,
        &mut streams.stream("data", 0),
    )?;
    if uniform.inputs != diverse.inputs {
        return Err(ExperimentError::Numerical(
            "the two data sets must share their inputs".into(),
        ));
    }
    Ok([uniform, diverse])
}

/// A data set's fit and the index of its run nearest B*.
struct Sweep<'a> {
    set: &'a DataSetSweep,
    fit: HyperbolaFit,
    reference: usize,
}

impl Sweep<'_> {
    fn new(set: &DataSetSweep) -> Result<Sweep<'_>, ExperimentError> {
        let batches: Vec<f64> = set.tuned.iter().map(|t| t.batch).collect();
        let steps: Vec<f64> = set.tuned.iter().map(|t| t.rate.value).collect();
        let fit = fit_hyperbola(&batches, &steps)?;
        let reference = nearest_index(&batches, fit.b_star.value);
        Ok(Sweep {
            set,
            fit,
            reference,
        })
    }
    fn kappa(&self) -> f64 {
        self.set.tuned[self.reference].at_target.kappa()
    }
    fn min_examples(&self) -> f64 {
        self.set
            .tuned
            .iter()
            .map(|t| t.rate.value * t.batch)
            .fold(f64::INFINITY, f64::min)
    }
}

/// Both sweeps' fits, uniform first.
fn sweeps(m: &Measured) -> Result<[Sweep<'_>; 2], ExperimentError> {
    if m.sets.len() != 2 {
        return Err(ExperimentError::InvalidParams(
            "the claim compares exactly two data sets".into(),
        ));
    }
    Ok([Sweep::new(&m.sets[0])?, Sweep::new(&m.sets[1])?])
}

/// The knees, their ratio and kappa at the target (exact sweeps).
fn knee_metrics(uni: &Sweep, div: &Sweep, out: &mut Metrics) {
    let (bu, bd) = (uni.fit.b_star, div.fit.b_star);
    out.computed_with_interval("b_star_uniform", bu.value, bu.ci95());
    out.computed_with_interval("b_star_diverse", bd.value, bd.ci95());
    // Ratio of two independent fits: relative errors add in quadrature (delta method).
    let ratio = bd.value / bu.value;
    let (ru, rd) = (bu.se / bu.value, bd.se / bd.value);
    let rel = (rd * rd + ru * ru).sqrt();
    let q = sgd_sim::stats::t_quantile_975(bu.n.min(bd.n));
    out.computed_with_interval(
        "knee_ratio",
        ratio,
        [ratio * (1.0 - q * rel), ratio * (1.0 + q * rel)],
    );
    let (ku, kd) = (uni.kappa(), div.kappa());
    out.computed("kappa_uniform", ku);
    out.computed("kappa_diverse", kd);
    out.computed("kappa_ratio", kd / ku);
    let [lo, hi] = bu.ci95();
    out.computed_with_interval("knee_over_kappa_uniform", bu.value / ku, [lo / ku, hi / ku]);
    let [lo, hi] = bd.ci95();
    out.computed_with_interval("knee_over_kappa_diverse", bd.value / kd, [lo / kd, hi / kd]);
}

/// Per data set: noise scales at the target, the fit's coefficients, the fewest examples.
fn per_set_metrics(s: &Sweep, out: &mut Metrics) {
    let name = s.set.name;
    let at = &s.set.tuned[s.reference].at_target;
    out.computed(&format!("b_noise_at_target_{name}"), at.b_noise());
    out.computed(&format!("b_simple_at_target_{name}"), at.b_simple());
    let (s_min, e_min) = (s.fit.s_min, s.fit.e_min);
    out.computed_with_interval(&format!("s_min_{name}"), s_min.value, s_min.ci95());
    out.computed_with_interval(&format!("e_min_{name}"), e_min.value, e_min.ci95());
    out.computed(
        &format!("hyperbola_max_rel_residual_{name}"),
        s.fit.max_rel_residual,
    );
    out.computed(&format!("min_examples_{name}"), s.min_examples());
}

/// The index of the simulated batch size with the fewest exact examples (chosen from the closed
/// form, so that the measured ratio carries no selection bias).
fn fewest_examples(sims: &[SimBatch]) -> usize {
    (0..sims.len())
        .min_by(|&i, &j| {
            (sims[i].exact * sims[i].batch).total_cmp(&(sims[j].exact * sims[j].batch))
        })
        .unwrap_or(0)
}

/// The measured examples ratio, knees and their ratio from the simulated runs.
fn sim_metrics(m: &Measured, out: &mut Metrics) -> Result<(), ExperimentError> {
    let (us, ds) = (&m.sets[0].sims, &m.sets[1].sims);
    let n = us.len();
    let all: Vec<SimBatch> = us.iter().chain(ds).copied().collect();
    let draws = &m.interval_draws;
    let (iu, id) = (fewest_examples(us), fewest_examples(ds));
    let examples = |v: &[f64]| (v[n + id] * ds[id].batch) / (v[iu] * us[iu].batch);
    let (r, ci) = propagated("min_examples_ratio_measured", &all, draws, examples)?;
    out.estimate_with_interval("min_examples_ratio_measured", r, ci);
    let (bu, ci) = propagated("b_star_uniform_measured", &all, draws, |v| {
        knee_of(us, &v[..n])
    })?;
    out.estimate_with_interval("b_star_uniform_measured", bu, ci);
    let (bd, ci) = propagated("b_star_diverse_measured", &all, draws, |v| {
        knee_of(ds, &v[n..])
    })?;
    out.estimate_with_interval("b_star_diverse_measured", bd, ci);
    let ratio = |v: &[f64]| knee_of(ds, &v[n..]) / knee_of(us, &v[..n]);
    let (k, ci) = propagated("knee_ratio_measured", &all, draws, ratio)?;
    out.estimate_with_interval("knee_ratio_measured", k, ci);
    out.measured("steps_sim_max_abs_z", max_abs_z(&all));
    out.measured("steps_sim_max_rel_error", max_rel_error(&all));
    out.computed("sim_runs", m.runs as f64);
    Ok(())
}

/// Every batch size of both sweeps beside its fit.
fn sweep_table(sweeps: &[Sweep]) -> Table {
    let mut table = Table::new([
        "data_set",
        "batch_size",
        "eta_opt",
        "steps",
        "steps_integer",
        "examples",
        "steps_fit",
        "rel_residual",
        "kappa_at_target",
        "b_noise_at_target",
        "b_simple_at_target",
    ]);
    for s in sweeps {
        for (k, t) in s.set.tuned.iter().enumerate() {
            table.push(row![
                s.set.name,
                t.batch,
                t.rate.eta,
                t.rate.value,
                t.step,
                t.rate.value * t.batch,
                s.fit.fitted[k],
                t.rate.value / s.fit.fitted[k] - 1.0,
                t.at_target.kappa(),
                t.at_target.b_noise(),
                t.at_target.b_simple()
            ]);
        }
    }
    table
}

/// The two data sets' setups.
fn setup_table(m: &Measured) -> Table {
    let mut setup = Table::new([
        "data_set",
        "label_noise",
        "h_max",
        "h_min",
        "initial_excess",
        "target_excess",
    ]);
    for s in &m.sets {
        setup.push(row![
            s.name,
            s.label_noise,
            s.h_max,
            s.h_min,
            s.initial_excess,
            s.target
        ]);
    }
    setup
}

impl Experiment for BatchKnee {
    const KIND: &'static str = "gradient-diversity/batch-knee";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let [uniform, diverse] = data_sets(p, ctx)?;
        let problems = [
            prepare(&uniform, p.init_scale, p.target_fraction)?,
            prepare(&diverse, p.init_scale, p.target_fraction)?,
        ];
        let nb = p.batch_sizes.len();
        let tuned: Vec<TunedBatch> = map_indexed(2 * nb, |k| {
            ctx.check_cancelled()?;
            tune(&problems[k / nb], p.batch_sizes[k % nb] as f64, p)
        })
        .into_iter()
        .collect::<Result<_, ExperimentError>>()?;
        let mut tuned = tuned.into_iter();
        let names = [
            ("uniform", p.label_noise_uniform),
            ("diverse", p.label_noise_diverse),
        ];
        let runs = ctx.scaled(p.sim_runs).max(2);
        let mut sets = Vec::new();
        for ((problem, (name, label_noise)), data) in
            problems.iter().zip(names).zip([&uniform, &diverse])
        {
            let tuned: Vec<TunedBatch> = tuned.by_ref().take(nb).collect();
            let sims = simulate(p, name, data, problem, &tuned, runs, ctx)?;
            sets.push(DataSetSweep {
                name,
                label_noise,
                h_max: problem.operator.max_curvature(),
                h_min: problem.operator.min_curvature(),
                initial_excess: problem.operator.excess_loss(&problem.start),
                target: problem.target,
                tuned,
                sims,
            });
        }
        let mut rng = ctx.streams().stream("batch-knee/intervals", 0);
        let width = 2 * p.sim_batch_sizes.len();
        let interval_draws = NormalDraws::draw(&mut rng, PROPAGATION_REPLICATES, width);
        Ok(Measured {
            sets,
            runs,
            interval_draws,
        })
    }

    fn metrics(_p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let [uni, div] = sweeps(m)?;
        let mut out = Metrics::new();
        knee_metrics(&uni, &div, &mut out);
        per_set_metrics(&uni, &mut out);
        per_set_metrics(&div, &mut out);
        // Progress per example: the fewest examples (over b) that reach the target, diverse over
        // uniform.
        out.computed(
            "min_examples_ratio",
            div.min_examples() / uni.min_examples(),
        );
        sim_metrics(m, &mut out)?;
        out.table("batch-sweep", sweep_table(&[uni, div]));
        let mut sims = Table::new(Vec::<String>::new());
        for set in &m.sets {
            let mut t = sim_table(&set.sims, m.runs);
            t.columns.insert(0, "data_set".into());
            for row in &mut t.rows {
                row.insert(0, set.name.into());
            }
            sims.columns = t.columns;
            sims.rows.extend(t.rows);
        }
        out.table("simulated-sgd", sims);
        out.table("data-sets", setup_table(m));
        Ok(out)
    }

    fn figures(_p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let sweeps = sweeps(m)?;
        let mut figures = Figures::new();
        figures.add(
            "knee",
            FigureData::stacked(vec![
                steps_panel(&sweeps).into(),
                examples_panel(&sweeps).into(),
            ]),
        );
        Ok(figures)
    }
}

/// The legend names of the two data sets.
const SET_NAMES: [&str; 2] = ["low diversity", "high diversity"];

/// One data set's exact values (a line through the swept b) and simulated values (points with
/// their 95% intervals), each as `f(b, steps)`.
fn exact_and_simulated(
    set: &DataSetSweep,
    name: &str,
    c: usize,
    f: fn(f64, f64) -> f64,
) -> (Line, Points) {
    let exact = set
        .tuned
        .iter()
        .map(|t| (t.batch, f(t.batch, t.rate.value)));
    let sims = set
        .sims
        .iter()
        .map(|s| {
            let [lo, hi] = s.steps.ci95();
            let y = f(s.batch, s.steps.value);
            MeasuredPoint::with_ci(s.batch, y, [f(s.batch, lo), f(s.batch, hi)])
        })
        .collect();
    (
        Line::new(format!("{name}, exact"), c, exact),
        Points::new(format!("{name}, simulated SGD"), c, sims),
    )
}

/// Steps to target against b, with kappa at the target marked.
fn steps_panel(sweeps: &[Sweep]) -> CurvesPanel {
    let mut panel = CurvesPanel::new(
        "Steps to target, η tuned per b",
        Axis::log("batch size b"),
        Axis::log("steps S(b)"),
    );
    for (c, (s, name)) in sweeps.iter().zip(SET_NAMES).enumerate() {
        let (line, points) = exact_and_simulated(s.set, name, c, |_, v| v);
        panel = panel.theory(line).measured(points).mark(
            s.kappa(),
            format!("κ at target ≈ {:.0}", s.kappa()),
            c,
        );
    }
    panel
}

/// Examples to target against b.
fn examples_panel(sweeps: &[Sweep]) -> CurvesPanel {
    let mut panel = CurvesPanel::new(
        "Examples to target",
        Axis::log("batch size b"),
        Axis::log("examples S(b) b"),
    );
    for (c, (s, name)) in sweeps.iter().zip(SET_NAMES).enumerate() {
        let (line, points) = exact_and_simulated(s.set, name, c, |b, v| b * v);
        panel = panel.theory(line).measured(points);
    }
    panel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        assert!(Params::default().validate().is_ok());
        let bad = Params {
            dim: 30,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "dim");
        let bad = Params {
            label_noise_diverse: -1.0,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "label_noise_diverse");
        let bad = Params {
            samples: 5,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "samples");
    }

    /// A hand-made measurement: two sweeps on exact hyperbolas with the same S_min = 27 and knees
    /// 6 and 60, kappa at the target 7 and 61.
    fn hand_made() -> Measured {
        let scales = |kappa: f64| NoiseScales {
            grad_sq: 1.0,
            grad_h_grad: 1.0,
            trace_sigma: kappa - 1.0,
            trace_h_sigma: kappa - 1.0,
        };
        let sims = |knee: f64| -> Vec<SimBatch> {
            (0..6)
                .map(|k| {
                    let batch = f64::from(1 << k);
                    let exact = 27.0 * (1.0 + knee / batch);
                    SimBatch {
                        batch,
                        eta: 0.1,
                        exact,
                        steps: sgd_sim::stats::Estimate {
                            value: exact,
                            se: 0.01 * exact,
                            n: 400,
                        },
                    }
                })
                .collect()
        };
        let set = |name: &'static str, knee: f64| DataSetSweep {
            name,
            label_noise: 0.0,
            h_max: 1.0,
            h_min: 0.01,
            initial_excess: 1.0,
            target: 0.01,
            tuned: (0..10)
                .map(|k| {
                    let batch = f64::from(1 << k);
                    let steps = 27.0 * (1.0 + knee / batch);
                    TunedBatch {
                        batch,
                        rate: TunedRate {
                            eta: 0.1,
                            value: steps,
                            evaluations: 40,
                        },
                        step: steps.ceil() as u64,
                        at_target: scales(knee + 1.0),
                    }
                })
                .collect(),
            sims: sims(knee),
        };
        let mut rng = sgd_sim::rng::Streams::new(1).stream("test", 0);
        Measured {
            sets: vec![set("uniform", 6.0), set("diverse", 60.0)],
            runs: 400,
            interval_draws: NormalDraws::draw(&mut rng, 400, 12),
        }
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let m = hand_made();
        let out = BatchKnee::metrics(&Params::default(), &m).unwrap();
        let ratio = out.value("knee_ratio").unwrap();
        assert!((ratio / 10.0 - 1.0).abs() < 1e-9, "{ratio}");
        assert!((out.value("kappa_ratio").unwrap() - 61.0 / 7.0).abs() < 1e-12);
        // Examples S b = 27 (b + B*) are fewest at b = 1: (27 * 61) / (27 * 7).
        let examples = out.value("min_examples_ratio").unwrap();
        assert!((examples - 61.0 / 7.0).abs() < 1e-12, "{examples}");
        assert_eq!(out.tables["batch-sweep"].rows.len(), 20);
        // The simulated steps sit on the exact hyperbolas: the same ratios, measured.
        let measured = out.value("min_examples_ratio_measured").unwrap();
        assert!((measured - 61.0 / 7.0).abs() < 1e-12, "{measured}");
        let knees = out.value("knee_ratio_measured").unwrap();
        assert!((knees / 10.0 - 1.0).abs() < 1e-9, "{knees}");
        assert_eq!(out.value("steps_sim_max_abs_z"), Some(0.0));
        assert_eq!(out.value("steps_sim_max_rel_error"), Some(0.0));
        assert_eq!(out.tables["simulated-sgd"].rows.len(), 12);
        assert_eq!(out.values["knee_ratio"].basis, claim_spec::Basis::Computed);
        let figures = BatchKnee::figures(&Params::default(), &m)
            .unwrap()
            .into_map();
        assert_eq!(figures["knee"].panels.len(), 2);
    }
}
