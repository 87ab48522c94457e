//! Claim `critical-batch-size`: on the noisy quadratic model, steps-to-target S(b) with eta tuned
//! per b trace McCandlish et al.'s hyperbola (S/S_min - 1)(E/E_min - 1) = 1: larger batches cut
//! the steps about proportionally below B* = E_min/S_min and hardly at all above it.
//!
//! The exact sweep is computed from the model's closed-form second moments
//! (`sgd_sim::noisy_quadratic`): the expected loss at any step costs O(d), steps-to-target come
//! from the core's bisection over t (then interpolated linearly between the last step above the
//! target and the first at or below it), and eta is tuned per b by [`crate::tuning::LogSearch`] on
//! (0, 2/h_max). The measurement: minibatch SGD simulated at a subset of the batch sizes with the
//! tuned eta ([`crate::sgd_runs`]), whose steps-to-target, knee and doubling ratios carry sampling
//! intervals.

use crate::hyperbola::{HyperbolaFit, fit_hyperbola, hyperbola_product};
use crate::mccandlish::{NoiseScales, nqm_noise_scales, one_step_optimum_by_recursion};
use crate::sgd_runs::{
    PROPAGATION_REPLICATES, SimBatch, knee_of, loss_curve, max_abs_z, max_rel_error, nqm_run,
    propagated, smoothing, step_budget,
};
use crate::tuning::{LogSearch, TunedRate};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{ln, powf};
use sgd_sim::noisy_quadratic::NoisyQuadratic;
use sgd_sim::parallel::map_indexed;
use sgd_sim::stats::{NormalDraws, linear_fit};

/// Parameters of `gradient-diversity/critical-batch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Dimension d of the model h_i = c_i = 1/i, m_i(0) = 1.
    pub dim: usize,
    /// Target loss as a fraction of the initial loss.
    pub target_fraction: f64,
    /// Batch sizes b, increasing.
    pub batch_sizes: Vec<usize>,
    /// Log-spaced step sizes of the tuning grid on [2/h_max 10^-decades, 2/h_max).
    pub eta_grid_points: usize,
    /// Decades below 2/h_max covered by the tuning grid.
    pub eta_grid_decades: f64,
    /// Final width of the golden-section bracket, in ln eta.
    pub eta_tolerance: f64,
    /// Batch sizes at which the one-step identities are checked.
    pub identity_batch_sizes: Vec<usize>,
    /// The eta_opt slope is fitted over b <= small_batch_fraction * B* (at least the three
    /// smallest b).
    pub small_batch_fraction: f64,
    /// Batch sizes (each one of `batch_sizes`) at which minibatch SGD is simulated with the tuned
    /// step size.
    pub sim_batch_sizes: Vec<usize>,
    /// Simulated runs per batch size.
    pub sim_runs: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            dim: 1000,
            target_fraction: 0.01,
            batch_sizes: (0..=14).map(|k| 1usize << k).collect(),
            eta_grid_points: 40,
            eta_grid_decades: 5.0,
            eta_tolerance: 1e-5,
            identity_batch_sizes: vec![1, 16, 256, 4096],
            small_batch_fraction: 1.0 / 32.0,
            sim_batch_sizes: (4..=12).map(|k| 1usize << k).collect(),
            sim_runs: 12,
        }
    }
}

/// Checks a batch-size list: non-empty, positive, strictly increasing.
pub(crate) fn validate_batches(
    key: &str,
    batches: &[usize],
    min_len: usize,
) -> Result<(), ParamError> {
    if batches.len() < min_len {
        return Err(ParamError::new(
            key,
            format!("needs at least {min_len} batch sizes"),
        ));
    }
    for (i, &b) in batches.iter().enumerate() {
        if b == 0 || (i > 0 && b <= batches[i - 1]) {
            return Err(ParamError::new(
                format!("{key}[{i}]"),
                "batch sizes must be positive and strictly increasing",
            ));
        }
    }
    Ok(())
}

/// Checks the step-size search parameters.
pub(crate) fn validate_search(
    points: usize,
    decades: f64,
    tolerance: f64,
) -> Result<(), ParamError> {
    ParamError::at_least("eta_grid_points", points as u64, 3)?;
    ParamError::positive("eta_grid_decades", decades)?;
    if decades > 15.0 {
        return Err(ParamError::new("eta_grid_decades", "at most 15"));
    }
    ParamError::positive("eta_tolerance", tolerance)?;
    if tolerance > 0.1 {
        return Err(ParamError::new("eta_tolerance", "at most 0.1 (in ln eta)"));
    }
    Ok(())
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("dim", self.dim as u64, 2)?;
        if self.dim > 1_000_000 {
            return Err(ParamError::new("dim", "at most 10^6"));
        }
        ParamError::positive("target_fraction", self.target_fraction)?;
        if self.target_fraction >= 1.0 {
            return Err(ParamError::new("target_fraction", "must be below 1"));
        }
        validate_batches("batch_sizes", &self.batch_sizes, 3)?;
        validate_batches("identity_batch_sizes", &self.identity_batch_sizes, 1)?;
        validate_search(
            self.eta_grid_points,
            self.eta_grid_decades,
            self.eta_tolerance,
        )?;
        ParamError::positive("small_batch_fraction", self.small_batch_fraction)?;
        if self.small_batch_fraction > 1.0 {
            return Err(ParamError::new("small_batch_fraction", "at most 1"));
        }
        validate_sim_batches(&self.sim_batch_sizes, &self.batch_sizes)?;
        ParamError::at_least("sim_runs", self.sim_runs as u64, 2)
    }

    fn estimated_work(&self) -> f64 {
        // Per evaluation of steps-to-target: about 60 closed-form losses (doubling + bisection),
        // each d powers (~20 elementary steps); ~grid + 30 golden evaluations per b.
        let per_eval = 60.0 * self.dim as f64 * 20.0;
        let tuning =
            (self.eta_grid_points as f64 + 30.0) * per_eval * self.batch_sizes.len() as f64;
        // Simulation: about S_min (1 + B*/b) steps of d coordinates per run, B* ~ 200, S_min ~ 400
        // on the default model, 10 elementary steps per coordinate (a normal draw and an update).
        let sim_steps: f64 = self
            .sim_batch_sizes
            .iter()
            .map(|&b| 1.3 * 400.0 * (1.0 + 200.0 / b as f64))
            .sum();
        tuning + sim_steps * self.dim as f64 * 10.0 * self.sim_runs as f64
    }
}

/// Checks that the simulated batch sizes are at least three of the swept ones, each double the
/// one before (so that neighbouring ratios are doubling ratios).
pub(crate) fn validate_sim_batches(sim: &[usize], swept: &[usize]) -> Result<(), ParamError> {
    validate_batches("sim_batch_sizes", sim, 3)?;
    for (i, b) in sim.iter().enumerate() {
        if !swept.contains(b) {
            return Err(ParamError::new(
                format!("sim_batch_sizes[{i}]"),
                "must be one of batch_sizes (its step size is tuned there)",
            ));
        }
        if i > 0 && *b != 2 * sim[i - 1] {
            return Err(ParamError::new(
                format!("sim_batch_sizes[{i}]"),
                "each simulated batch size must double the one before",
            ));
        }
    }
    Ok(())
}

/// Steps to reach `target`, interpolated linearly between the last step above it (t - 1) and the
/// first at or below it (t, from the core's bisection); `None` when never reached.
fn interpolated_steps(
    model: &NoisyQuadratic,
    eta: f64,
    batch: f64,
    target: f64,
) -> Result<Option<(f64, u64)>, ExperimentError> {
    let Some(t) = model.steps_to_target(eta, batch, target)? else {
        return Ok(None);
    };
    if t == 0 {
        return Ok(Some((0.0, 0)));
    }
    let before = model.expected_loss(eta, batch, (t - 1) as f64);
    let after = model.expected_loss(eta, batch, t as f64);
    Ok(Some((
        (t - 1) as f64 + (before - target) / (before - after),
        t,
    )))
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
    /// The expected second moments at that step.
    pub moments_at_target: Vec<f64>,
}

/// The kind `gradient-diversity/critical-batch`.
#[derive(Debug)]
pub struct CriticalBatch;

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Every batch size of the sweep, in order.
    pub tuned: Vec<TunedBatch>,
    /// The simulated batch sizes, in order.
    pub sims: Vec<SimBatch>,
    /// Simulated runs per batch size (after `--scale`).
    pub runs: usize,
    /// Normal deviates for the propagated intervals, one per simulated batch size and row.
    pub interval_draws: NormalDraws,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        // Coordinate updates: runs x recorded steps x d, summed over the simulated batch sizes.
        self.sims
            .iter()
            .map(|s| (self.runs * step_budget(s.exact)) as u64)
            .sum::<u64>()
            * self
                .tuned
                .first()
                .map_or(0, |t| t.moments_at_target.len() as u64)
    }
}

/// Simulates minibatch SGD at each simulated batch size with its tuned step size.
fn simulate(
    p: &Params,
    model: &NoisyQuadratic,
    tuned: &[TunedBatch],
    ctx: &RunContext,
) -> Result<(Vec<SimBatch>, usize), ExperimentError> {
    let runs = ctx.scaled(p.sim_runs).max(2);
    let mut sims = Vec::new();
    for &b in &p.sim_batch_sizes {
        let batch = b as f64;
        let t = tuned
            .iter()
            .find(|t| t.batch == batch)
            .ok_or_else(|| ExperimentError::InvalidParams(format!("b = {b} was not swept")))?;
        let budget = step_budget(t.rate.value);
        let curve = loss_curve(ctx, &format!("critical-batch/sgd/b={b}"), runs, |rng| {
            nqm_run(model, t.rate.eta, batch, budget, rng)
        })?;
        let target = p.target_fraction * model.initial_loss();
        let steps = curve
            .crossing(target, smoothing(t.rate.value))
            .ok_or_else(|| {
                ExperimentError::Numerical(format!(
                    "the simulated runs at b = {b} did not reach the target in {budget} steps"
                ))
            })?;
        sims.push(SimBatch {
            batch,
            eta: t.rate.eta,
            exact: t.rate.value,
            steps,
        });
    }
    Ok((sims, runs))
}

/// The model, its target loss and 2 / h_max.
fn model_and_target(p: &Params) -> (NoisyQuadratic, f64) {
    let model = NoisyQuadratic::harmonic(p.dim);
    let target = p.target_fraction * model.initial_loss();
    (model, target)
}

/// Tunes eta for one batch size and records the expected state at the target.
fn tune_batch(
    p: &Params,
    model: &NoisyQuadratic,
    target: f64,
    batch: f64,
) -> Result<TunedBatch, ExperimentError> {
    let search = LogSearch {
        upper: 2.0 / model.max_curvature(),
        decades: p.eta_grid_decades,
        grid_points: p.eta_grid_points,
        tolerance: p.eta_tolerance,
    };
    let rate = search
        .minimize(|eta| Ok(interpolated_steps(model, eta, batch, target)?.map(|(s, _)| s)))?;
    let (_, step) = interpolated_steps(model, rate.eta, batch, target)?.ok_or_else(|| {
        ExperimentError::Numerical("the tuned step size does not reach the target".into())
    })?;
    let moments_at_target = model.moments(rate.eta, batch, step as f64);
    Ok(TunedBatch {
        batch,
        rate,
        step,
        at_target: nqm_noise_scales(model, &moments_at_target),
        moments_at_target,
    })
}

/// The index of the batch size nearest `b` on a log scale.
pub(crate) fn nearest_index(batches: &[f64], b: f64) -> usize {
    (0..batches.len())
        .min_by(|&i, &j| {
            (ln(batches[i]) - ln(b))
                .abs()
                .total_cmp(&(ln(batches[j]) - ln(b)).abs())
        })
        .unwrap_or(0)
}

/// The one-step identities at several expected states: the start, halfway and at the target of
/// the run nearest B*, and at the target of the smallest-b run. Returns the table and the largest
/// relative error.
fn identity_table(
    p: &Params,
    model: &NoisyQuadratic,
    tuned: &[TunedBatch],
    reference: &TunedBatch,
) -> Result<(Table, f64), ExperimentError> {
    let halfway = model.moments(
        reference.rate.eta,
        reference.batch,
        (reference.step / 2) as f64,
    );
    let states: Vec<(String, Vec<f64>)> = vec![
        ("start".into(), model.initial.clone()),
        (format!("halfway, b = {}", reference.batch), halfway),
        (
            format!("target, b = {}", reference.batch),
            reference.moments_at_target.clone(),
        ),
        (
            format!("target, b = {}", tuned[0].batch),
            tuned[0].moments_at_target.clone(),
        ),
    ];
    let mut table = Table::new([
        "state",
        "batch_size",
        "b_noise",
        "eta_opt_formula",
        "eta_opt_recursion",
        "gain_formula",
        "gain_recursion",
        "rel_error_max",
    ]);
    let mut identity_max: f64 = 0.0;
    for (label, moments) in &states {
        let scales = nqm_noise_scales(model, moments);
        for &b in &p.identity_batch_sizes {
            let b = b as f64;
            let eta = scales.optimal_rate(b);
            let gain = scales.optimal_gain(b);
            let (eta_rec, gain_rec) = one_step_optimum_by_recursion(model, moments, b, eta);
            let err = (eta_rec / eta - 1.0)
                .abs()
                .max((gain_rec / gain - 1.0).abs());
            identity_max = identity_max.max(err);
            table.push(row![
                label.as_str(),
                b,
                scales.b_noise(),
                eta,
                eta_rec,
                gain,
                gain_rec,
                err
            ]);
        }
    }
    if !identity_max.is_finite() {
        return Err(ExperimentError::Numerical(
            "one-step identity check produced a non-finite error".into(),
        ));
    }
    Ok((table, identity_max))
}

/// The hyperbola fit of the exact sweep.
fn exact_fit(tuned: &[TunedBatch]) -> Result<HyperbolaFit, ExperimentError> {
    let batches: Vec<f64> = tuned.iter().map(|t| t.batch).collect();
    let steps: Vec<f64> = tuned.iter().map(|t| t.rate.value).collect();
    fit_hyperbola(&batches, &steps)
}

/// The tuned eta against b: its log-log slope at small b, its largest value and its saturation.
fn eta_metrics(p: &Params, tuned: &[TunedBatch], b_star: f64, h_max: f64, out: &mut Metrics) {
    // eta_opt against b at small b: log-log slope over b <= fraction * B*, at least 3 points.
    let small = tuned
        .iter()
        .filter(|t| t.batch <= p.small_batch_fraction * b_star)
        .count()
        .max(3);
    let log_b: Vec<f64> = tuned[..small].iter().map(|t| ln(t.batch)).collect();
    let log_eta: Vec<f64> = tuned[..small].iter().map(|t| ln(t.rate.eta)).collect();
    let slope = linear_fit(&log_b, &log_eta).slope_estimate();
    let last = tuned.len() - 1;
    out.computed_with_interval("eta_opt_linear_slope", slope.value, slope.ci95());
    out.computed("eta_opt_slope_points", small as f64);
    out.computed("eta_opt_max_times_h_max", tuned[last].rate.eta * h_max);
    out.computed(
        "eta_opt_saturation_ratio",
        tuned[last].rate.eta / tuned[last - 1].rate.eta,
    );
}

/// The fit's coefficients and B* against the noise scales at the target of the run nearest B*.
fn fit_metrics(fit: &HyperbolaFit, reference: &TunedBatch, out: &mut Metrics) {
    for (name, e) in [
        ("b_star", fit.b_star),
        ("s_min", fit.s_min),
        ("e_min", fit.e_min),
    ] {
        out.computed_with_interval(name, e.value, e.ci95());
    }
    out.computed("hyperbola_max_rel_residual", fit.max_rel_residual);
    out.computed("b_nearest_b_star", reference.batch);
    let bn = reference.at_target.b_noise();
    let bs = reference.at_target.b_simple();
    out.computed("b_noise_at_target", bn);
    out.computed("b_simple_at_target", bs);
    // B* with its fit interval against the exact noise scales.
    let b_star = fit.b_star.value;
    let [lo, hi] = fit.b_star.ci95();
    out.computed_with_interval("b_star_over_b_noise", b_star / bn, [lo / bn, hi / bn]);
    out.computed_with_interval("b_star_over_b_simple", b_star / bs, [lo / bs, hi / bs]);
}

impl Experiment for CriticalBatch {
    const KIND: &'static str = "gradient-diversity/critical-batch";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let (model, target) = model_and_target(p);
        let tuned: Vec<TunedBatch> = map_indexed(p.batch_sizes.len(), |k| {
            ctx.check_cancelled()?;
            tune_batch(p, &model, target, p.batch_sizes[k] as f64)
        })
        .into_iter()
        .collect::<Result<_, ExperimentError>>()?;
        let (sims, runs) = simulate(p, &model, &tuned, ctx)?;
        let mut rng = ctx.streams().stream("critical-batch/intervals", 0);
        let interval_draws = NormalDraws::draw(&mut rng, PROPAGATION_REPLICATES, sims.len());
        Ok(Measured {
            tuned,
            sims,
            runs,
            interval_draws,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let (model, target) = model_and_target(p);
        let tuned = &m.tuned;
        if tuned.len() < 3 {
            return Err(ExperimentError::InvalidParams(
                "the sweep needs at least three batch sizes".into(),
            ));
        }
        let fit = exact_fit(tuned)?;
        let batches: Vec<f64> = tuned.iter().map(|t| t.batch).collect();
        let reference = &tuned[nearest_index(&batches, fit.b_star.value)];
        let (identities, identity_max) = identity_table(p, &model, tuned, reference)?;
        let mut out = Metrics::new();
        out.computed("one_step_identity_rel_error_max", identity_max);
        eta_metrics(p, tuned, fit.b_star.value, model.max_curvature(), &mut out);
        fit_metrics(&fit, reference, &mut out);
        out.computed("target_loss", target);
        out.computed("initial_loss", model.initial_loss());
        sim_metrics(m, &mut out)?;
        out.table("batch-sweep", sweep_table(tuned, &fit));
        out.table("simulated-sgd", sim_table(&m.sims, m.runs));
        out.table("one-step-identities", identities);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let fit = exact_fit(&m.tuned)?;
        let (model, _) = model_and_target(p);
        let eta_limit = 2.0 / model.max_curvature();
        let mut figures = Figures::new();
        figures.add(
            "critical-batch",
            FigureData::stacked(vec![
                tradeoff_panel(&m.tuned, &fit, &m.sims).into(),
                eta_panel(&m.tuned, &fit, eta_limit).into(),
            ]),
        );
        Ok(figures)
    }
}

/// The measured knee and doubling ratios from the simulated runs, beside their exact values on the
/// same batch sizes.
fn sim_metrics(m: &Measured, out: &mut Metrics) -> Result<(), ExperimentError> {
    let sims = &m.sims;
    let draws = &m.interval_draws;
    let exact: Vec<f64> = sims.iter().map(|s| s.exact).collect();
    let b_exact = knee_of(sims, &exact);
    out.computed("b_star_sim_range", b_exact);
    let (b, ci) = propagated("b_star_measured", sims, draws, |v| knee_of(sims, v))?;
    out.estimate_with_interval("b_star_measured", b, ci);
    out.estimate_with_interval(
        "b_star_measured_over_exact",
        b / b_exact,
        [ci[0] / b_exact, ci[1] / b_exact],
    );
    let last = sims.len() - 1;
    for (name, i) in [
        ("halving_ratio_small_b", 0),
        ("halving_ratio_large_b", last - 1),
    ] {
        let (r, ci) = propagated(name, sims, draws, |v| v[i + 1] / v[i])?;
        out.estimate_with_interval(name, r, ci);
        out.computed(&format!("{name}_exact"), exact[i + 1] / exact[i]);
    }
    out.measured("steps_sim_max_abs_z", max_abs_z(sims));
    out.measured("steps_sim_max_rel_error", max_rel_error(sims));
    out.computed("sim_runs", m.runs as f64);
    Ok(())
}

/// Every simulated batch size: measured steps with their interval beside the exact ones.
pub(crate) fn sim_table(sims: &[SimBatch], runs: usize) -> Table {
    let mut t = Table::new([
        "batch_size",
        "eta",
        "runs",
        "steps_exact",
        "steps_sim",
        "steps_sim_se",
        "steps_sim_lo",
        "steps_sim_hi",
        "z_vs_exact",
    ]);
    for s in sims {
        let [lo, hi] = s.steps.ci95();
        t.push(row![
            s.batch,
            s.eta,
            runs,
            s.exact,
            s.steps.value,
            s.steps.se,
            lo,
            hi,
            s.z()
        ]);
    }
    t
}

fn sweep_table(tuned: &[TunedBatch], fit: &HyperbolaFit) -> Table {
    let mut t = Table::new([
        "batch_size",
        "eta_opt",
        "steps",
        "steps_integer",
        "examples",
        "steps_fit",
        "rel_residual",
        "hyperbola_product",
        "b_noise_at_target",
        "b_simple_at_target",
        "eta_evaluations",
    ]);
    for (k, x) in tuned.iter().enumerate() {
        t.push(row![
            x.batch,
            x.rate.eta,
            x.rate.value,
            x.step,
            x.rate.value * x.batch,
            fit.fitted[k],
            x.rate.value / fit.fitted[k] - 1.0,
            hyperbola_product(fit, x.batch, x.rate.value),
            x.at_target.b_noise(),
            x.at_target.b_simple(),
            x.rate.evaluations
        ]);
    }
    t
}

/// Steps against examples: the exact tuned sweep, the fitted hyperbola and its asymptotes.
fn tradeoff_panel(tuned: &[TunedBatch], fit: &HyperbolaFit, sims: &[SimBatch]) -> CurvesPanel {
    // The fitted hyperbola, parametrized by b over the swept range (and a little beyond).
    let (b_lo, b_hi) = (tuned[0].batch / 2.0, tuned[tuned.len() - 1].batch * 2.0);
    let curve: Vec<(f64, f64)> = (0..=200)
        .map(|k| {
            let b = b_lo * powf(b_hi / b_lo, f64::from(k) / 200.0);
            let s = fit.steps(b);
            (s * b, s)
        })
        .collect();
    let (s_min, e_min) = (fit.s_min.value, fit.e_min.value);
    let x_max = curve.last().map_or(1.0, |c| c.0);
    let y_max = curve.first().map_or(1.0, |c| c.1);
    let exact = tuned.iter().map(|t| (t.rate.value * t.batch, t.rate.value));
    let measured: Vec<MeasuredPoint> = sims
        .iter()
        .map(|s| {
            let v = s.steps.value;
            MeasuredPoint::with_ci(v * s.batch, v, s.steps.ci95())
        })
        .collect();
    CurvesPanel::new(
        "Steps against examples to reach the target loss",
        Axis::log("examples E = S b"),
        Axis::log("steps S"),
    )
    .theory(Line::new("fitted hyperbola", 0, curve))
    .theory(Line::new("exact, η tuned per b", 1, exact))
    .guide(Line::new(
        "S_min and E_min",
        2,
        [(e_min, s_min), (x_max, s_min)],
    ))
    .guide(Line::new("", 2, [(e_min, s_min), (e_min, y_max)]))
    .measured(Points::new("simulated SGD (95% interval)", 4, measured))
    .measured(Points::new(
        format!("b = B* ≈ {:.0}", fit.b_star.value),
        3,
        vec![MeasuredPoint::new(2.0 * e_min, 2.0 * s_min)],
    ))
}

/// The tuned step size against b, with linear growth and the stability limit.
fn eta_panel(tuned: &[TunedBatch], fit: &HyperbolaFit, eta_limit: f64) -> CurvesPanel {
    // eta_opt(1) * b, the linear growth at small b.
    let e1 = tuned[0].rate.eta / tuned[0].batch;
    let linear = tuned
        .iter()
        .map(|t| (t.batch, e1 * t.batch))
        .filter(|&(_, e)| e <= 1.5 * eta_limit);
    let b_max = tuned[tuned.len() - 1].batch;
    let eta_lo = tuned[0].rate.eta * 0.5;
    let points = tuned.iter().map(|t| (t.batch, t.rate.eta));
    CurvesPanel::new(
        "Tuned step size",
        Axis::log("batch size b"),
        Axis::log("tuned step size η_opt").with_range(eta_lo, eta_limit * 3.0),
    )
    .guide(Line::new("η_opt(1) b", 0, linear))
    .guide(Line::new(
        "stability limit 2 / h_max",
        2,
        [(1.0, eta_limit), (b_max, eta_limit)],
    ))
    .mark(fit.b_star.value, "b = B*", 3)
    .theory(Line::new("η tuned per b (exact)", 1, points))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        assert!(Params::default().validate().is_ok());
        let bad = Params {
            batch_sizes: vec![1, 4, 2],
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "batch_sizes[2]");
        let bad = Params {
            target_fraction: 1.5,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "target_fraction");
        let bad = Params {
            eta_grid_decades: f64::NAN,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "eta_grid_decades");
    }

    #[test]
    fn interpolated_steps_bracket_the_integer_crossing() {
        let m = NoisyQuadratic::harmonic(50);
        let target = 0.05 * m.initial_loss();
        let (s, t) = interpolated_steps(&m, 0.3, 8.0, target).unwrap().unwrap();
        assert!(s > (t - 1) as f64 && s <= t as f64);
        assert!(interpolated_steps(&m, 0.3, 8.0, 1e-12).unwrap().is_none());
    }

    /// A hand-made sweep on the exact hyperbola S = 40 (1 + 300 / b), with the tuned eta following
    /// the one-step rule eta = 0.01 b / (1 + b / 300), on a 20-dimensional model.
    pub(crate) fn hand_made() -> (Params, Measured) {
        let p = Params {
            dim: 20,
            batch_sizes: (0..12).map(|k| 1usize << k).collect(),
            identity_batch_sizes: vec![1, 16],
            ..Params::default()
        };
        let model = NoisyQuadratic::harmonic(p.dim);
        let tuned = p
            .batch_sizes
            .iter()
            .map(|&b| {
                let batch = b as f64;
                let steps = 40.0 * (1.0 + 300.0 / batch);
                let moments = vec![0.5; p.dim];
                TunedBatch {
                    batch,
                    rate: TunedRate {
                        eta: 0.01 * batch / (1.0 + batch / 300.0),
                        value: steps,
                        evaluations: 50,
                    },
                    step: steps.ceil() as u64,
                    at_target: nqm_noise_scales(&model, &moments),
                    moments_at_target: moments,
                }
            })
            .collect::<Vec<TunedBatch>>();
        // Simulated steps exactly on the exact ones, with an SE of one step.
        let sims: Vec<SimBatch> = tuned[4..]
            .iter()
            .map(|t| SimBatch {
                batch: t.batch,
                eta: t.rate.eta,
                exact: t.rate.value,
                steps: sgd_sim::stats::Estimate {
                    value: t.rate.value,
                    se: 1.0,
                    n: 12,
                },
            })
            .collect();
        let mut rng = sgd_sim::rng::Streams::new(1).stream("test", 0);
        let interval_draws = NormalDraws::draw(&mut rng, 400, sims.len());
        (
            p,
            Measured {
                tuned,
                sims,
                runs: 12,
                interval_draws,
            },
        )
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let (p, m) = hand_made();
        let out = CriticalBatch::metrics(&p, &m).unwrap();
        let b_star = out.value("b_star").unwrap();
        assert!((b_star / 300.0 - 1.0).abs() < 1e-10, "{b_star}");
        assert!(out.value("hyperbola_max_rel_residual").unwrap() < 1e-12);
        assert_eq!(out.value("b_nearest_b_star"), Some(256.0));
        // The one-step identities hold on the model's own moments whatever the sweep.
        assert!(out.value("one_step_identity_rel_error_max").unwrap() < 1e-9);
        // Slope of ln eta over the three smallest b: 1 - O(b / 300).
        let slope = out.value("eta_opt_linear_slope").unwrap();
        assert!((slope - 1.0).abs() < 0.02, "{slope}");
        assert_eq!(out.values["b_star"].basis, claim_spec::Basis::Computed);
        // The simulated steps sit on the exact ones: no z-score, the same knee.
        assert_eq!(out.value("steps_sim_max_abs_z"), Some(0.0));
        let ratio = out.value("b_star_measured_over_exact").unwrap();
        assert!((ratio - 1.0).abs() < 1e-12, "{ratio}");
        let [lo, hi] = out.values["b_star_measured"].ci.unwrap();
        assert!(lo < 300.0 && hi > 300.0);
        assert_eq!(
            out.values["b_star_measured"].basis,
            claim_spec::Basis::Measured
        );
        assert_eq!(out.tables["batch-sweep"].rows.len(), 12);
        assert_eq!(out.tables["one-step-identities"].rows.len(), 8);
        let figures = CriticalBatch::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["critical-batch"].panels.len(), 2);
    }

    #[test]
    fn tuning_one_batch_size_reaches_the_target() {
        // A small model (d = 50): the tuned eta reaches the target and stays below 2 / h_max.
        let p = Params {
            dim: 50,
            target_fraction: 0.05,
            eta_grid_points: 20,
            eta_tolerance: 1e-3,
            ..Params::default()
        };
        let (model, target) = model_and_target(&p);
        let t = tune_batch(&p, &model, target, 8.0).unwrap();
        assert!(t.rate.eta < 2.0 / model.max_curvature());
        assert!(model.expected_loss(t.rate.eta, 8.0, t.step as f64) <= target);
    }
}
