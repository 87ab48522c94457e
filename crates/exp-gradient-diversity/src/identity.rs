//! Claim `diversity-identity`: kappa = mean ||g_i||^2 / ||G||^2 equals 1 + tr(Sigma)/||G||^2 =
//! 1 + B_simple on any data set and at any w; it is 1 when all per-sample gradients coincide and
//! unchanged when every point is duplicated. Along gradient descent it stays bounded on an
//! interpolating problem (inside the exact range of [`crate::diversity::InterpolationKappa`]) and
//! grows like tr(Sigma*)/||G||^2 without bound on a noisy one.
//!
//! Everything is deterministic given the data sets, which are drawn from the claim's seed.

use crate::diversity::{
    Dataset, GradientDiversity, correlated_dataset, identical_dataset, spectrum_dataset,
};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::data::harmonic_spectrum;
use sgd_sim::rng::standard_normal;

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
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let per_eval = (self.samples * self.dim) as f64;
        // 5 data sets x (radii + 1) points, each also duplicated; two runs of up to a few
        // thousand steps, each step one gradient and one kappa.
        10.0 * (self.radii.len() as f64 + 1.0) * 3.0 * per_eval + 2.0 * 2000.0 * 2.0 * per_eval
    }
}

/// One gradient-descent run's record.
struct RunRecord {
    /// ||w - w_hat|| / ||w_0 - w_hat||.
    distance: Vec<f64>,
    stats: Vec<GradientDiversity>,
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

/// Runs the claim.
///
/// # Errors
/// Invalid data or a run that does not converge.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let n = p.samples;
    let d = p.dim;
    let noisy_harmonic = spectrum_dataset(
        n,
        harmonic_spectrum(d),
        p.label_noise,
        &mut streams.stream("data", 2),
    )?;
    // Same stream: same inputs and teacher, exact labels.
    let exact_harmonic =
        spectrum_dataset(n, harmonic_spectrum(d), 0.0, &mut streams.stream("data", 2))?;
    let sets: Vec<(&str, Dataset)> = vec![
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
        ("harmonic, noisy labels", noisy_harmonic.clone()),
        ("harmonic, exact labels", exact_harmonic.clone()),
        (
            "identical points",
            identical_dataset(n, d, &mut streams.stream("data", 4))?,
        ),
    ];

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
    let mut identity_max: f64 = 0.0;
    let mut duplication_max: f64 = 0.0;
    let mut kappa_min = f64::INFINITY;
    let mut identical_dev: f64 = 0.0;
    for (k, (name, data)) in sets.iter().enumerate() {
        let doubled = data.duplicated();
        // The identical-points set has a singular H (no unique minimizer): its points are taken
        // around w = 0.
        let (centre, centre_name) = if *name == "identical points" {
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
        for (label, w) in &points {
            let g = data.diversity(w);
            let g2 = doubled.diversity(w);
            let kappa = g.kappa();
            let identity = 1.0 + g.b_simple();
            let err = (kappa / identity - 1.0).abs();
            let dup = (g2.kappa() / kappa - 1.0).abs();
            if !(err.is_finite() && dup.is_finite()) {
                return Err(ExperimentError::Numerical(format!(
                    "kappa is not finite on {name} at {label} (G = 0?)"
                )));
            }
            identity_max = identity_max.max(err);
            duplication_max = duplication_max.max(dup);
            kappa_min = kappa_min.min(kappa);
            if *name == "identical points" {
                identical_dev = identical_dev.max((kappa - 1.0).abs());
            }
            table.push(row![
                *name,
                label.as_str(),
                kappa,
                identity,
                err,
                g2.kappa(),
                dup,
                g.grad_sq,
                g.trace_sigma
            ]);
        }
    }

    // Gradient descent to the interpolating and to the noisy minimizer (same inputs).
    let range = exact_harmonic.interpolation_kappa()?;
    let h = exact_harmonic.hessian();
    let h_max = {
        let (vals, _) =
            sgd_sim::linalg::symmetric_eigen(&ndarray::Array2::from_shape_fn((d, d), |(j, k)| {
                h[j * d + k]
            }))?;
        vals[d - 1]
    };
    let eta = 1.0 / h_max;
    let w_exact = exact_harmonic.minimizer()?;
    let w_noisy = noisy_harmonic.minimizer()?;
    let interp = gradient_descent(
        &exact_harmonic,
        &w_exact,
        eta,
        p.run_stop_distance,
        p.max_run_steps,
    )?;
    let noisy = gradient_descent(
        &noisy_harmonic,
        &w_noisy,
        eta,
        p.run_stop_distance,
        p.max_run_steps,
    )?;
    let trace_sigma_star = noisy_harmonic.diversity(&w_noisy).trace_sigma;

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

    let mut out = Outcome::new();
    out.exact("identity_rel_error_max", identity_max);
    out.exact("duplication_rel_change_max", duplication_max);
    out.exact("kappa_identical_points_abs_deviation", identical_dev);
    out.exact("kappa_min", kappa_min);
    out.exact("kappa_interpolating_final", interp_final);
    out.exact("kappa_interpolating_sup", range.sup);
    out.exact("kappa_interpolating_inf", range.inf);
    out.exact("kappa_interpolating_gd_limit", range.gradient_descent_limit);
    out.exact("kappa_interpolating_max_over_sup", interp_max / range.sup);
    out.exact("kappa_noisy_final", noisy_last.kappa());
    out.exact(
        "kappa_noisy_final_over_interpolating_sup",
        noisy_last.kappa() / range.sup,
    );
    out.exact("trace_sigma_at_noisy_minimum", trace_sigma_star);
    out.exact(
        "noisy_trace_sigma_final_rel_error",
        (noisy_last.trace_sigma / trace_sigma_star - 1.0).abs(),
    );
    out.exact(
        "run_steps_interpolating",
        (interp.distance.len() - 1) as f64,
    );
    out.exact("run_steps_noisy", (noisy.distance.len() - 1) as f64);

    let mut runs = Table::new([
        "run",
        "step",
        "distance_ratio",
        "kappa",
        "grad_sq",
        "trace_sigma",
        "asymptote_one_plus_trace_sigma_star_over_grad_sq",
    ]);
    for (name, rec) in [("interpolating", &interp), ("noisy", &noisy)] {
        for (step, (dist, s)) in rec.distance.iter().zip(&rec.stats).enumerate() {
            let asymptote = if name == "noisy" {
                Some(1.0 + trace_sigma_star / s.grad_sq)
            } else {
                None
            };
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
    out.table("identity", table);
    out.table("runs", runs);
    out.figure(
        "kappa-along-runs",
        figure(&interp, &noisy, range.inf, range.sup, trace_sigma_star),
    );
    out.samples = 0;
    Ok(out)
}

fn figure(
    interp: &RunRecord,
    noisy: &RunRecord,
    inf: f64,
    sup: f64,
    trace_sigma_star: f64,
) -> FigureSpec {
    // About 40 markers per run: every k-th step.
    let thin = |rec: &RunRecord| -> Vec<(f64, f64)> {
        let every = (rec.distance.len() / 40).max(1);
        rec.distance
            .iter()
            .zip(&rec.stats)
            .enumerate()
            .filter(|(k, _)| k % every == 0 || *k + 1 == rec.distance.len())
            .map(|(_, (d, s))| (*d, s.kappa()))
            .collect()
    };
    let x_min = interp
        .distance
        .iter()
        .chain(&noisy.distance)
        .copied()
        .fold(1.0, f64::min);
    FigureSpec {
        panels: vec![Panel {
            title: "Gradient diversity along gradient descent".into(),
            x: Axis::log("distance to the minimizer, relative to the start"),
            y: Axis::log("kappa"),
            series: vec![
                Series::from_xy(
                    "range at an interpolating minimum",
                    SeriesKind::Guide,
                    0,
                    [(x_min, sup), (1.0, sup)],
                ),
                Series::from_xy("", SeriesKind::Guide, 0, [(x_min, inf), (1.0, inf)]),
                Series::from_xy(
                    "1 + tr(Sigma*) / ||G||^2",
                    SeriesKind::Theory,
                    1,
                    noisy
                        .distance
                        .iter()
                        .zip(&noisy.stats)
                        .map(|(d, s)| (*d, 1.0 + trace_sigma_star / s.grad_sq)),
                ),
                Series::from_xy(
                    "exact labels (interpolating)",
                    SeriesKind::Simulation,
                    0,
                    thin(interp),
                ),
                Series::from_xy("noisy labels", SeriesKind::Simulation, 1, thin(noisy)),
            ],
            labels: Vec::new(),
        }],
    }
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
}
