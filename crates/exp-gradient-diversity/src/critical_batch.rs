//! Claim `critical-batch-size`: on the noisy quadratic model, steps-to-target S(b) with eta tuned
//! per b trace McCandlish et al.'s hyperbola (S/S_min - 1)(E/E_min - 1) = 1: larger batches cut
//! the steps about proportionally below B* = E_min/S_min and hardly at all above it.
//!
//! Everything is computed from the model's closed-form second moments (`sgd_sim::noisy_quadratic`):
//! the expected loss at any step costs O(d), steps-to-target come from the core's bisection over t
//! (then interpolated linearly between the last step above the target and the first at or below
//! it), and eta is tuned per b by [`crate::tuning::LogSearch`] on (0, 2/h_max). No Monte Carlo.

use crate::hyperbola::{HyperbolaFit, fit_hyperbola, hyperbola_product};
use crate::mccandlish::{NoiseScales, nqm_noise_scales, one_step_optimum_by_recursion};
use crate::tuning::{LogSearch, TunedRate};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Series, SeriesKind, TextLabel};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{ln, powf};
use sgd_sim::noisy_quadratic::NoisyQuadratic;
use sgd_sim::parallel::map_indexed;
use sgd_sim::stats::linear_fit;

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
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        // Per evaluation of steps-to-target: about 60 closed-form losses (doubling + bisection),
        // each d powers (~20 elementary steps); ~grid + 30 golden evaluations per b.
        let per_eval = 60.0 * self.dim as f64 * 20.0;
        (self.eta_grid_points as f64 + 30.0) * per_eval * self.batch_sizes.len() as f64
    }
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
struct Tuned {
    batch: f64,
    rate: TunedRate,
    /// First integer step at or below the target.
    step: u64,
    /// Noise scales of the expected second moments at that step.
    at_target: NoiseScales,
    moments_at_target: Vec<f64>,
}

/// Runs the claim.
///
/// # Errors
/// A failed search or fit.
pub fn run(p: &Params, _ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let model = NoisyQuadratic::harmonic(p.dim);
    let target = p.target_fraction * model.initial_loss();
    let h_max = model.max_curvature();
    let search = LogSearch {
        upper: 2.0 / h_max,
        decades: p.eta_grid_decades,
        grid_points: p.eta_grid_points,
        tolerance: p.eta_tolerance,
    };
    let tuned: Vec<Tuned> = map_indexed(p.batch_sizes.len(), |k| {
        let batch = p.batch_sizes[k] as f64;
        let rate = search
            .minimize(|eta| Ok(interpolated_steps(&model, eta, batch, target)?.map(|(s, _)| s)))?;
        let (_, step) = interpolated_steps(&model, rate.eta, batch, target)?.ok_or_else(|| {
            ExperimentError::Numerical("the tuned step size does not reach the target".into())
        })?;
        let moments_at_target = model.moments(rate.eta, batch, step as f64);
        Ok(Tuned {
            batch,
            rate,
            step,
            at_target: nqm_noise_scales(&model, &moments_at_target),
            moments_at_target,
        })
    })
    .into_iter()
    .collect::<Result<_, ExperimentError>>()?;

    let batches: Vec<f64> = tuned.iter().map(|t| t.batch).collect();
    let steps: Vec<f64> = tuned.iter().map(|t| t.rate.value).collect();
    let fit = fit_hyperbola(&batches, &steps)?;
    let b_star = fit.b_star.value;

    // eta_opt against b at small b: log-log slope over b <= fraction * B*, at least 3 points.
    let small = tuned
        .iter()
        .filter(|t| t.batch <= p.small_batch_fraction * b_star)
        .count()
        .max(3);
    let log_b: Vec<f64> = batches[..small].iter().map(|b| ln(*b)).collect();
    let log_eta: Vec<f64> = tuned[..small].iter().map(|t| ln(t.rate.eta)).collect();
    let slope = linear_fit(&log_b, &log_eta);

    // The run whose b is nearest B* on a log scale.
    let nearest = (0..tuned.len())
        .min_by(|&i, &j| {
            let di = (ln(batches[i]) - ln(b_star)).abs();
            let dj = (ln(batches[j]) - ln(b_star)).abs();
            di.total_cmp(&dj)
        })
        .unwrap_or(0);
    let reference = &tuned[nearest];

    // One-step identities at several expected states: the start, halfway and at the target of the
    // run nearest B*, and at the target of the smallest-b run.
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
    let mut identity_table = Table::new([
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
        let scales = nqm_noise_scales(&model, moments);
        for &b in &p.identity_batch_sizes {
            let b = b as f64;
            let eta = scales.optimal_rate(b);
            let gain = scales.optimal_gain(b);
            let (eta_rec, gain_rec) = one_step_optimum_by_recursion(&model, moments, b, eta);
            let err = (eta_rec / eta - 1.0)
                .abs()
                .max((gain_rec / gain - 1.0).abs());
            identity_max = identity_max.max(err);
            identity_table.push(row![
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

    let last = tuned.len() - 1;
    let mut out = Outcome::new();
    out.exact("one_step_identity_rel_error_max", identity_max);
    out.estimate("eta_opt_linear_slope", slope.slope_estimate());
    out.exact("eta_opt_slope_points", small as f64);
    out.exact("eta_opt_max_times_h_max", tuned[last].rate.eta * h_max);
    out.exact(
        "eta_opt_saturation_ratio",
        tuned[last].rate.eta / tuned[last - 1].rate.eta,
    );
    out.estimate("b_star", fit.b_star);
    out.estimate("s_min", fit.s_min);
    out.estimate("e_min", fit.e_min);
    out.exact("hyperbola_max_rel_residual", fit.max_rel_residual);
    out.exact("b_nearest_b_star", reference.batch);
    out.exact("b_noise_at_target", reference.at_target.b_noise());
    out.exact("b_simple_at_target", reference.at_target.b_simple());
    // B* with its fit interval against the exact noise scales.
    let [lo, hi] = fit.b_star.ci95();
    let bn = reference.at_target.b_noise();
    let bs = reference.at_target.b_simple();
    out.with_interval("b_star_over_b_noise", b_star / bn, [lo / bn, hi / bn]);
    out.with_interval("b_star_over_b_simple", b_star / bs, [lo / bs, hi / bs]);
    out.exact("target_loss", target);
    out.exact("initial_loss", model.initial_loss());

    out.table("batch-sweep", sweep_table(&tuned, &fit));
    out.table("one-step-identities", identity_table);
    out.figure(
        "critical-batch",
        figure(&tuned, &fit, &slope_guide(&tuned), 2.0 / h_max),
    );
    out.samples = 0;
    Ok(out)
}

fn sweep_table(tuned: &[Tuned], fit: &HyperbolaFit) -> Table {
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

/// eta_opt(1) * b, the linear growth at small b.
fn slope_guide(tuned: &[Tuned]) -> Vec<(f64, f64)> {
    let e1 = tuned[0].rate.eta / tuned[0].batch;
    tuned.iter().map(|t| (t.batch, e1 * t.batch)).collect()
}

fn figure(
    tuned: &[Tuned],
    fit: &HyperbolaFit,
    linear: &[(f64, f64)],
    eta_limit: f64,
) -> FigureSpec {
    let sim_examples: Vec<(f64, f64)> = tuned
        .iter()
        .map(|t| (t.rate.value * t.batch, t.rate.value))
        .collect();
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
    let knee = (2.0 * e_min, 2.0 * s_min);
    let left = Panel {
        title: "Steps against examples to reach 1% of the initial loss".into(),
        x: Axis::log("examples E = S b"),
        y: Axis::log("steps S"),
        series: vec![
            Series::from_xy("fitted hyperbola", SeriesKind::Theory, 0, curve),
            Series::from_xy(
                "S_min, E_min",
                SeriesKind::Guide,
                2,
                [(e_min, s_min), (x_max, s_min)],
            ),
            Series::from_xy("", SeriesKind::Guide, 2, [(e_min, s_min), (e_min, y_max)]),
            Series::from_xy("tuned eta per b", SeriesKind::Simulation, 1, sim_examples),
            Series::from_xy("b = B*", SeriesKind::Simulation, 3, [knee]),
        ],
        labels: vec![TextLabel {
            x: knee.0 * 1.3,
            y: knee.1 * 1.3,
            text: format!("B* = {:.0}", fit.b_star.value),
        }],
    };
    let eta_points: Vec<(f64, f64)> = tuned.iter().map(|t| (t.batch, t.rate.eta)).collect();
    let b_max = tuned[tuned.len() - 1].batch;
    let eta_lo = tuned[0].rate.eta * 0.5;
    // Room above 2/h_max for the legend, which sits in the upper right corner.
    let eta_hi = eta_limit * 30.0;
    let right = Panel {
        title: "Tuned step size".into(),
        x: Axis::log("batch size b"),
        y: Axis::log("eta_opt").with_range(eta_lo, eta_hi),
        series: vec![
            Series::from_xy(
                "eta_opt(1) b",
                SeriesKind::Guide,
                0,
                linear
                    .iter()
                    .copied()
                    .filter(|&(_, e)| e <= 1.5 * eta_limit),
            ),
            Series::from_xy(
                "2 / h_max",
                SeriesKind::Guide,
                2,
                [(1.0, eta_limit), (b_max, eta_limit)],
            ),
            Series::from_xy(
                "b = B*",
                SeriesKind::Guide,
                3,
                [(fit.b_star.value, eta_lo), (fit.b_star.value, eta_limit)],
            ),
            Series::from_xy("tuned eta", SeriesKind::Simulation, 1, eta_points),
        ],
        labels: Vec::new(),
    };
    FigureSpec {
        panels: vec![left, right],
    }
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
}
