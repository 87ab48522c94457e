//! Claim `diversity-identity`: kappa = mean ||g_i||^2 / ||G||^2 equals 1 + tr(Sigma)/||G||^2 =
//! 1 + B_simple on any data set and at any w; it is 1 when all per-sample gradients coincide and
//! unchanged when every point is duplicated. Along gradient descent it stays bounded on an
//! interpolating problem (inside the exact range of [`crate::diversity::InterpolationKappa`]) and
//! grows like tr(Sigma*)/||G||^2 without bound on a noisy one.
//!
//! Everything above is deterministic given the data sets, which are drawn from the claim's seed.
//! The measurement: minibatches sampled with replacement at w = 0, whose squared deviation from
//! the full gradient must average tr(Sigma) / b = (kappa - 1) ||G||^2 / b.

use crate::diversity::{
    Dataset, GradientDiversity, InterpolationKappa, correlated_dataset, identical_dataset,
    spectrum_dataset,
};
use claim_spec::figure::{
    Axis, CategoriesPanel, CategorySeries, CurvesPanel, FigureData, Line, MeasuredPoint, Points,
    Value,
};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::data::harmonic_spectrum;
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::rng::{Streams, standard_normal, uniform_index};
use sgd_sim::stats::mean_estimate;

/// Parameters of `gradient-diversity/identity`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Data points N per data set.
    pub samples: usize,
    /// Features d.
    pub dim: usize,
    /// Label noise of the noisy data sets.
    pub label_noise: f64,
    /// Correlation rho of neighbouring features in the correlated data set.
    pub correlation: f64,
    /// Distances r of the points w_hat + r u (u a random unit vector) where kappa is evaluated,
    /// besides w = 0.
    pub radii: Vec<f64>,
    /// The gradient-descent runs stop when ||w - w_hat|| falls below this fraction of its start.
    pub run_stop_distance: f64,
    /// Safety limit on gradient-descent steps.
    pub max_run_steps: usize,
    /// Batch sizes b of the sampled minibatches (indices drawn uniformly with replacement).
    pub minibatch_sizes: Vec<usize>,
    /// Minibatches sampled per data set and batch size, at w = 0.
    pub minibatches: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            samples: 1024,
            dim: 10,
            label_noise: 0.5,
            correlation: 0.9,
            radii: vec![0.01, 0.1, 1.0, 10.0],
            run_stop_distance: 1e-6,
            max_run_steps: 100_000,
            minibatch_sizes: vec![1, 4, 16],
            minibatches: 20_000,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("dim", self.dim as u64, 1)?;
        if self.dim > 1000 {
            return Err(ParamError::new("dim", "at most 1000"));
        }
        ParamError::at_least("samples", self.samples as u64, self.dim as u64 + 1)?;
        if self.samples > 1_000_000 {
            return Err(ParamError::new("samples", "at most 10^6"));
        }
        ParamError::positive("label_noise", self.label_noise)?;
        ParamError::finite("correlation", self.correlation)?;
        if self.correlation.abs() >= 1.0 {
            return Err(ParamError::new("correlation", "must lie in (-1, 1)"));
        }
        ParamError::all_positive("radii", &self.radii)?;
        ParamError::positive("run_stop_distance", self.run_stop_distance)?;
        if !(1e-10..1.0).contains(&self.run_stop_distance) {
            return Err(ParamError::new(
                "run_stop_distance",
                "must lie in [1e-10, 1): below 1e-10 rounding of the residuals dominates G",
            ));
        }
        ParamError::at_least("max_run_steps", self.max_run_steps as u64, 1)?;
        crate::critical_batch::validate_batches("minibatch_sizes", &self.minibatch_sizes, 1)?;
        ParamError::at_least("minibatches", self.minibatches as u64, 100)
    }

    fn estimated_work(&self) -> f64 {
        let per_eval = (self.samples * self.dim) as f64;
        // 5 data sets x (radii + 1) points, each also duplicated; two runs of up to a few
        // thousand steps, each step one gradient and one kappa.
        let sampled: usize = self.minibatch_sizes.iter().sum();
        10.0 * (self.radii.len() as f64 + 1.0) * 3.0 * per_eval
            + 2.0 * 2000.0 * 2.0 * per_eval
            + 4.0 * (self.minibatches * sampled * self.dim) as f64 * 4.0
    }
}

/// One gradient-descent run's record.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// ||w - w_hat|| / ||w_0 - w_hat|| at every step, the start included.
    pub distance: Vec<f64>,
    /// kappa and its parts at every step.
    pub stats: Vec<GradientDiversity>,
}

/// Gradient descent with step 1/h_max from w = 0 until the distance to w_hat falls below
/// `stop` times its start.
fn gradient_descent(
    data: &Dataset,
    w_hat: &[f64],
    eta: f64,
    stop: f64,
    max_steps: usize,
) -> Result<RunRecord, ExperimentError> {
    let dist = |w: &[f64]| -> f64 {
        w.iter()
            .zip(w_hat)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
    };
    let mut w = vec![0.0; data.dim];
    let d0 = dist(&w);
    let mut record = RunRecord {
        distance: vec![1.0],
        stats: vec![data.diversity(&w)],
    };
    for step in 1..=max_steps {
        let g = data.gradient(&w);
        for (wj, gj) in w.iter_mut().zip(&g) {
            *wj -= eta * gj;
        }
        let rel = dist(&w) / d0;
        if !rel.is_finite() {
            return Err(ExperimentError::Diverged {
                step: step as u64,
                reason: "gradient descent left the finite numbers".into(),
            });
        }
        record.distance.push(rel);
        record.stats.push(data.diversity(&w));
        if rel <= stop {
            return Ok(record);
        }
    }
    Err(ExperimentError::Numerical(format!(
        "gradient descent did not reach {stop} of its initial distance in {max_steps} steps"
    )))
}

/// The kind `gradient-diversity/identity`.
#[derive(Debug)]
pub struct Identity;

/// kappa at one point of one data set, and on the data set with every point twice.
#[derive(Clone, Debug, PartialEq)]
pub struct PointRecord {
    /// The data set's name.
    pub data_set: String,
    /// The point's name.
    pub point: String,
    /// Whether the data set is the identical-points one.
    pub identical: bool,
    /// kappa and its parts.
    pub stats: GradientDiversity,
    /// The same on the duplicated data set.
    pub duplicated: GradientDiversity,
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Every (data set, point), data sets in order, w = 0 first.
    pub points: Vec<PointRecord>,
    /// Gradient descent on the exact-label (interpolating) harmonic set.
    pub interpolating: RunRecord,
    /// Gradient descent on the noisy-label harmonic set.
    pub noisy: RunRecord,
    /// kappa's exact range near the interpolating minimizer.
    pub range: InterpolationKappa,
    /// tr(Sigma*) at the noisy minimizer.
    pub trace_sigma_star: f64,
    /// Sampled minibatches per data set and batch size.
    pub minibatch: Vec<MinibatchSample>,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.minibatch
            .iter()
            .map(|s| (s.values.len() * s.batch) as u64)
            .sum()
    }
}

/// Sampled minibatch gradients at w = 0 on one data set and batch size.
#[derive(Clone, Debug, PartialEq)]
pub struct MinibatchSample {
    /// The data set's name.
    pub data_set: String,
    /// The batch size b.
    pub batch: usize,
    /// kappa at w = 0 from its definition (all N per-example gradients).
    pub kappa: f64,
    /// Per sampled minibatch: b ||g_B - G||^2 / ((kappa - 1) ||G||^2), whose expectation is 1
    /// exactly when kappa = 1 + tr(Sigma) / ||G||^2 (with replacement, E ||g_B - G||^2 =
    /// tr(Sigma) / b).
    pub values: Vec<f64>,
}

/// Samples `count` minibatches of size `batch` at w = 0 and normalizes each squared deviation
/// by what the identity predicts from kappa.
fn sample_minibatches(
    name: &str,
    data: &Dataset,
    batch: usize,
    count: usize,
    ctx: &RunContext,
) -> Result<MinibatchSample, ExperimentError> {
    let d = data.dim;
    let w = vec![0.0; d];
    let stats = data.diversity(&w);
    let full = data.gradient(&w);
    let kappa = stats.kappa();
    let predicted = (kappa - 1.0) * stats.grad_sq / batch as f64;
    let purpose = format!("identity/minibatches/{name}/b={batch}");
    let values =
        cancellable_trajectories(&ctx.streams(), &purpose, count, &ctx.cancel, |_, rng| {
            let mut g = vec![0.0; d];
            for _ in 0..batch {
                let i = uniform_index(rng, data.samples());
                let r = data.residual(i, &w);
                for (gj, x) in g.iter_mut().zip(data.input(i)) {
                    *gj += r * x / batch as f64;
                }
            }
            let sq: f64 = g.iter().zip(&full).map(|(a, b)| (a - b) * (a - b)).sum();
            Ok::<f64, ExperimentError>(sq / predicted)
        })?;
    Ok(MinibatchSample {
        data_set: name.to_owned(),
        batch,
        kappa,
        values,
    })
}

/// The pooled ratio of measured to predicted minibatch noise, and each sample's mean.
fn minibatch_metrics(m: &Measured, out: &mut Metrics) -> Table {
    let pooled: Vec<f64> = m
        .minibatch
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .collect();
    if !pooled.is_empty() {
        out.estimate("minibatch_noise_ratio", mean_estimate(&pooled));
    }
    let mut table = Table::new([
        "data_set",
        "batch_size",
        "kappa",
        "minibatches",
        "noise_ratio",
        "noise_ratio_lo",
        "noise_ratio_hi",
    ]);
    let mut max_z: f64 = 0.0;
    for s in &m.minibatch {
        let e = mean_estimate(&s.values);
        let [lo, hi] = e.ci95();
        max_z = max_z.max(e.z_score(1.0).abs());
        table.push(row![
            s.data_set.as_str(),
            s.batch,
            s.kappa,
            s.values.len(),
            e.value,
            lo,
            hi
        ]);
    }
    out.measured("minibatch_noise_ratio_max_abs_z", max_z);
    table
}

/// The five data sets, by name: isotropic, correlated, harmonic noisy and exact (same inputs and
/// teacher, from the same stream), identical points.
fn data_sets(
    p: &Params,
    streams: &Streams,
) -> Result<Vec<(&'static str, Dataset)>, ExperimentError> {
    let (n, d) = (p.samples, p.dim);
    let harmonic = |noise: f64| {
        spectrum_dataset(
            n,
            harmonic_spectrum(d),
            noise,
            &mut streams.stream("data", 2),
        )
    };
    Ok(vec![
        (
            "isotropic",
            spectrum_dataset(
                n,
                vec![1.0; d],
                p.label_noise,
                &mut streams.stream("data", 0),
            )?,
        ),
        (
            "correlated",
            correlated_dataset(
                n,
                d,
                p.correlation,
                p.label_noise,
                &mut streams.stream("data", 1),
            )?,
        ),
        ("harmonic, noisy labels", harmonic(p.label_noise)?),
        ("harmonic, exact labels", harmonic(0.0)?),
        (
            "identical points",
            identical_dataset(n, d, &mut streams.stream("data", 4))?,
        ),
    ])
}

/// kappa at w = 0 and at centre + r u for every radius r (u a random unit vector per point).
fn point_records(
    p: &Params,
    streams: &Streams,
    k: usize,
    name: &str,
    data: &Dataset,
) -> Result<Vec<PointRecord>, ExperimentError> {
    let d = p.dim;
    let doubled = data.duplicated();
    let identical = name == "identical points";
    // The identical-points set has a singular H (no unique minimizer): its points are taken
    // around w = 0.
    let (centre, centre_name) = if identical {
        (vec![0.0; d], "0")
    } else {
        (data.minimizer()?, "w_hat")
    };
    let mut rng = streams.stream("direction", k as u64);
    let mut points: Vec<(String, Vec<f64>)> = vec![("w = 0".into(), vec![0.0; d])];
    for &r in &p.radii {
        let u: Vec<f64> = (0..d).map(|_| standard_normal(&mut rng)).collect();
        let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
        let w = centre
            .iter()
            .zip(&u)
            .map(|(c, v)| c + r * v / norm)
            .collect();
        points.push((format!("{centre_name} + {r} u"), w));
    }
    Ok(points
        .into_iter()
        .map(|(point, w)| PointRecord {
            data_set: name.to_owned(),
            point,
            identical,
            stats: data.diversity(&w),
            duplicated: doubled.diversity(&w),
        })
        .collect())
}

/// The largest eigenvalue of a data set's Hessian.
fn max_curvature(data: &Dataset) -> Result<f64, ExperimentError> {
    let d = data.dim;
    let h = data.hessian();
    let (vals, _) =
        sgd_sim::linalg::symmetric_eigen(&ndarray::Array2::from_shape_fn((d, d), |(j, k)| {
            h[j * d + k]
        }))?;
    Ok(vals[d - 1])
}

/// The identity's parts over every point: (largest identity error, largest duplication change,
/// smallest kappa, largest deviation from 1 on identical points).
fn identity_summary(points: &[PointRecord]) -> Result<[f64; 4], ExperimentError> {
    let mut identity_max: f64 = 0.0;
    let mut duplication_max: f64 = 0.0;
    let mut kappa_min = f64::INFINITY;
    let mut identical_dev: f64 = 0.0;
    for r in points {
        let kappa = r.stats.kappa();
        let err = (kappa / (1.0 + r.stats.b_simple()) - 1.0).abs();
        let dup = (r.duplicated.kappa() / kappa - 1.0).abs();
        if !(err.is_finite() && dup.is_finite()) {
            return Err(ExperimentError::Numerical(format!(
                "kappa is not finite on {} at {} (G = 0?)",
                r.data_set, r.point
            )));
        }
        identity_max = identity_max.max(err);
        duplication_max = duplication_max.max(dup);
        kappa_min = kappa_min.min(kappa);
        if r.identical {
            identical_dev = identical_dev.max((kappa - 1.0).abs());
        }
    }
    Ok([identity_max, duplication_max, kappa_min, identical_dev])
}

/// The metrics of the two gradient-descent runs.
fn run_metrics(m: &Measured, out: &mut Metrics) -> Result<(), ExperimentError> {
    let (interp, noisy, range) = (&m.interpolating, &m.noisy, &m.range);
    let interp_final = interp
        .stats
        .last()
        .map_or(f64::NAN, GradientDiversity::kappa);
    let noisy_last = noisy
        .stats
        .last()
        .copied()
        .ok_or_else(|| ExperimentError::Numerical("empty gradient-descent record".into()))?;
    let interp_max = interp
        .stats
        .iter()
        .map(GradientDiversity::kappa)
        .fold(0.0, f64::max);
    out.computed("kappa_interpolating_final", interp_final);
    out.computed("kappa_interpolating_sup", range.sup);
    out.computed("kappa_interpolating_inf", range.inf);
    out.computed("kappa_interpolating_gd_limit", range.gradient_descent_limit);
    out.computed("kappa_interpolating_max_over_sup", interp_max / range.sup);
    out.computed("kappa_noisy_final", noisy_last.kappa());
    out.computed(
        "kappa_noisy_final_over_interpolating_sup",
        noisy_last.kappa() / range.sup,
    );
    out.computed("trace_sigma_at_noisy_minimum", m.trace_sigma_star);
    out.computed(
        "noisy_trace_sigma_final_rel_error",
        (noisy_last.trace_sigma / m.trace_sigma_star - 1.0).abs(),
    );
    out.computed(
        "run_steps_interpolating",
        interp.distance.len().saturating_sub(1) as f64,
    );
    out.computed(
        "run_steps_noisy",
        noisy.distance.len().saturating_sub(1) as f64,
    );
    Ok(())
}

/// Every (data set, point): kappa beside 1 + B_simple, and on the duplicated set.
fn identity_table(points: &[PointRecord]) -> Table {
    let mut table = Table::new([
        "data_set",
        "point",
        "kappa",
        "one_plus_b_simple",
        "identity_rel_error",
        "kappa_duplicated",
        "duplication_rel_change",
        "grad_sq",
        "trace_sigma",
    ]);
    for r in points {
        let (g, g2) = (&r.stats, &r.duplicated);
        let kappa = g.kappa();
        let identity = 1.0 + g.b_simple();
        table.push(row![
            r.data_set.as_str(),
            r.point.as_str(),
            kappa,
            identity,
            (kappa / identity - 1.0).abs(),
            g2.kappa(),
            (g2.kappa() / kappa - 1.0).abs(),
            g.grad_sq,
            g.trace_sigma
        ]);
    }
    table
}

/// Every step of both runs, with the noisy run's asymptote.
fn runs_table(m: &Measured) -> Table {
    let mut runs = Table::new([
        "run",
        "step",
        "distance_ratio",
        "kappa",
        "grad_sq",
        "trace_sigma",
        "asymptote_one_plus_trace_sigma_star_over_grad_sq",
    ]);
    for (name, rec) in [("interpolating", &m.interpolating), ("noisy", &m.noisy)] {
        for (step, (dist, s)) in rec.distance.iter().zip(&rec.stats).enumerate() {
            let asymptote = (name == "noisy").then(|| 1.0 + m.trace_sigma_star / s.grad_sq);
            runs.push(row![
                name,
                step,
                *dist,
                s.kappa(),
                s.grad_sq,
                s.trace_sigma,
                asymptote
            ]);
        }
    }
    runs
}

impl Experiment for Identity {
    const KIND: &'static str = "gradient-diversity/identity";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let sets = data_sets(p, &streams)?;
        let mut points = Vec::new();
        for (k, (name, data)) in sets.iter().enumerate() {
            ctx.check_cancelled()?;
            points.extend(point_records(p, &streams, k, name, data)?);
        }
        // Gradient descent to the interpolating and to the noisy minimizer (same inputs).
        let (noisy_set, exact_set) = (&sets[2].1, &sets[3].1);
        let range = exact_set.interpolation_kappa()?;
        let eta = 1.0 / max_curvature(exact_set)?;
        let w_exact = exact_set.minimizer()?;
        let w_noisy = noisy_set.minimizer()?;
        let (stop, limit) = (p.run_stop_distance, p.max_run_steps);
        let interpolating = gradient_descent(exact_set, &w_exact, eta, stop, limit)?;
        ctx.check_cancelled()?;
        let noisy = gradient_descent(noisy_set, &w_noisy, eta, stop, limit)?;
        let trace_sigma_star = noisy_set.diversity(&w_noisy).trace_sigma;
        let mut minibatch = Vec::new();
        for (name, data) in sets.iter().filter(|(name, _)| *name != "identical points") {
            for &b in &p.minibatch_sizes {
                let count = ctx.scaled(p.minibatches);
                minibatch.push(sample_minibatches(name, data, b, count, ctx)?);
            }
        }
        Ok(Measured {
            minibatch,
            points,
            interpolating,
            noisy,
            range,
            trace_sigma_star,
        })
    }

    fn metrics(_p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        let [identity_max, duplication_max, kappa_min, identical_dev] =
            identity_summary(&m.points)?;
        out.computed("identity_rel_error_max", identity_max);
        out.computed("duplication_rel_change_max", duplication_max);
        out.computed("kappa_identical_points_abs_deviation", identical_dev);
        out.computed("kappa_min", kappa_min);
        run_metrics(m, &mut out)?;
        out.table("identity", identity_table(&m.points));
        out.table("runs", runs_table(m));
        let table = minibatch_metrics(m, &mut out);
        out.table("minibatches", table);
        Ok(out)
    }

    fn figures(_p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("kappa-along-runs", FigureData::single(runs_panel(m)));
        figures.add("minibatch-noise", FigureData::single(minibatch_panel(m)));
        Ok(figures)
    }
}

/// Measured over predicted minibatch noise per data set (categories) and batch size (series).
fn minibatch_panel(m: &Measured) -> CategoriesPanel {
    let mut categories: Vec<String> = Vec::new();
    let mut batches: Vec<usize> = Vec::new();
    for s in &m.minibatch {
        if !categories.contains(&s.data_set) {
            categories.push(s.data_set.clone());
        }
        if !batches.contains(&s.batch) {
            batches.push(s.batch);
        }
    }
    let measured = batches
        .iter()
        .enumerate()
        .map(|(g, &b)| {
            let values = categories
                .iter()
                .map(|c| {
                    m.minibatch
                        .iter()
                        .find(|s| &s.data_set == c && s.batch == b)
                        .map(|s| {
                            let e = mean_estimate(&s.values);
                            Value::with_ci(e.value, e.ci95())
                        })
                })
                .collect();
            CategorySeries::new(format!("b = {b}"), g, values)
        })
        .collect();
    let identity = CategorySeries::new(
        "the identity's prediction",
        batches.len(),
        vec![Some(Value::exact(1.0)); categories.len()],
    );
    CategoriesPanel {
        title: "Sampled minibatch noise over the identity's prediction".into(),
        category_label: "data set (at w = 0)".into(),
        categories,
        y: Axis::linear("b ‖g_B − G‖² / ((κ − 1) ‖G‖²)"),
        measured,
        theory: vec![identity],
    }
}

/// About 40 markers per run: every k-th step, and the last.
fn thinned(rec: &RunRecord) -> Vec<MeasuredPoint> {
    let every = (rec.distance.len() / 40).max(1);
    rec.distance
        .iter()
        .zip(&rec.stats)
        .enumerate()
        .filter(|(k, _)| k % every == 0 || *k + 1 == rec.distance.len())
        .map(|(_, (d, s))| MeasuredPoint::new(*d, s.kappa()))
        .collect()
}

/// kappa against the distance to the minimizer along both runs.
fn runs_panel(m: &Measured) -> CurvesPanel {
    let (interp, noisy) = (&m.interpolating, &m.noisy);
    let x_min = interp
        .distance
        .iter()
        .chain(&noisy.distance)
        .copied()
        .fold(1.0, f64::min);
    let (inf, sup) = (m.range.inf, m.range.sup);
    let asymptote = noisy
        .distance
        .iter()
        .zip(&noisy.stats)
        .map(|(d, s)| (*d, 1.0 + m.trace_sigma_star / s.grad_sq));
    CurvesPanel::new(
        "Gradient diversity along gradient descent",
        Axis::log("distance to the minimizer, relative to the start"),
        Axis::log("gradient diversity κ"),
    )
    .guide(Line::new(
        "range at an interpolating minimum",
        0,
        [(x_min, sup), (1.0, sup)],
    ))
    .guide(Line::new("", 0, [(x_min, inf), (1.0, inf)]))
    .theory(Line::new("1 + tr Σ* / ‖G‖²", 1, asymptote))
    .measured(Points::new(
        "exact labels (interpolating)",
        0,
        thinned(interp),
    ))
    .measured(Points::new("noisy labels", 1, thinned(noisy)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        assert!(Params::default().validate().is_ok());
        let bad = Params {
            correlation: 1.0,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "correlation");
        let bad = Params {
            radii: vec![1.0, -2.0],
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "radii[1]");
        let bad = Params {
            run_stop_distance: 1e-14,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "run_stop_distance");
    }

    fn stats(mean_sq_norm: f64, grad_sq: f64, trace_sigma: f64) -> GradientDiversity {
        GradientDiversity {
            mean_sq_norm,
            grad_sq,
            trace_sigma,
        }
    }

    /// A hand-made measurement: two points where the identity holds exactly, one on identical
    /// points, and two short runs.
    fn hand_made() -> Measured {
        let point = |data_set: &str, identical: bool, g: GradientDiversity| PointRecord {
            data_set: data_set.into(),
            point: "w = 0".into(),
            identical,
            stats: g,
            duplicated: g,
        };
        Measured {
            points: vec![
                point("a", false, stats(3.0, 1.0, 2.0)),
                point("b", false, stats(10.0, 2.0, 8.0)),
                point("identical points", true, stats(4.0, 4.0, 0.0)),
            ],
            interpolating: RunRecord {
                distance: vec![1.0, 0.1, 0.01],
                stats: vec![
                    stats(3.0, 1.0, 2.0),
                    stats(0.3, 0.1, 0.2),
                    stats(0.03, 0.01, 0.02),
                ],
            },
            noisy: RunRecord {
                distance: vec![1.0, 0.1],
                stats: vec![stats(3.0, 1.0, 2.0), stats(2.25, 0.25, 2.0)],
            },
            range: InterpolationKappa {
                inf: 2.0,
                sup: 4.0,
                gradient_descent_limit: 3.0,
            },
            trace_sigma_star: 2.0,
            minibatch: vec![MinibatchSample {
                data_set: "a".into(),
                batch: 4,
                kappa: 3.0,
                values: vec![0.5, 1.5, 1.0, 1.0],
            }],
        }
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let m = hand_made();
        let out = Identity::metrics(&Params::default(), &m).unwrap();
        assert_eq!(out.value("identity_rel_error_max"), Some(0.0));
        assert_eq!(out.value("duplication_rel_change_max"), Some(0.0));
        assert_eq!(out.value("kappa_min"), Some(1.0));
        assert_eq!(out.value("kappa_identical_points_abs_deviation"), Some(0.0));
        // The interpolating run's largest kappa is 3, the supremum 4.
        assert_eq!(out.value("kappa_interpolating_max_over_sup"), Some(0.75));
        assert_eq!(out.value("kappa_noisy_final"), Some(9.0));
        assert_eq!(out.value("noisy_trace_sigma_final_rel_error"), Some(0.0));
        assert_eq!(out.value("run_steps_interpolating"), Some(2.0));
        assert_eq!(out.tables["identity"].rows.len(), 3);
        assert_eq!(out.tables["runs"].rows.len(), 5);
        // The sampled minibatches average exactly the identity's prediction.
        assert_eq!(out.value("minibatch_noise_ratio"), Some(1.0));
        assert_eq!(out.value("minibatch_noise_ratio_max_abs_z"), Some(0.0));
        assert_eq!(
            out.values["minibatch_noise_ratio"].basis,
            claim_spec::Basis::Measured
        );
        assert_eq!(out.values["kappa_min"].basis, claim_spec::Basis::Computed);
        let figures = Identity::figures(&Params::default(), &m)
            .unwrap()
            .into_map();
        assert_eq!(figures["kappa-along-runs"].panels.len(), 1);
        assert_eq!(figures["minibatch-noise"].panels.len(), 1);
    }

    #[test]
    fn a_vanishing_gradient_is_an_error_not_a_nan() {
        let mut m = hand_made();
        m.points[0].stats = stats(1.0, 0.0, 1.0);
        assert!(Identity::metrics(&Params::default(), &m).is_err());
    }
}
