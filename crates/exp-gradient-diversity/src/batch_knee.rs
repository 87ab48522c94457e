//! Claim `diversity-batch-knee`: gradient diversity sets how large a batch stays useful. Two
//! least-squares data sets share their inputs and teacher; one has exact labels (an interpolating
//! problem, low diversity at the target), the other label noise (high diversity at the target).
//! For each, steps-to-target S(b) with eta tuned per b are computed exactly from the second-moment
//! recursion of [`crate::ls_moments`] (with-replacement sampling, start w_hat + N(0, s^2 I)), and
//! S = S_min (1 + B*/b) is fitted. Diversity moves the knee B*; it does not make progress per
//! example faster.

use crate::critical_batch::{validate_batches, validate_search};
use crate::diversity::{Dataset, spectrum_dataset};
use crate::hyperbola::{HyperbolaFit, fit_hyperbola};
use crate::ls_moments::SecondMomentOperator;
use crate::mccandlish::NoiseScales;
use crate::tuning::{LogSearch, TunedRate};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Series, SeriesKind, TextLabel};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{ln, powf};
use sgd_sim::parallel::map_indexed;

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
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        // Per evaluation: an m x m symmetric eigendecomposition (~10 m^3) and a scan of up to S
        // steps (2 m each); S is at most ~1e5 at the bottom of the grid. Two data sets.
        let m = (self.dim * (self.dim + 1) / 2) as f64;
        let per_eval = 10.0 * m * m * m + 2.0 * m * 2e4;
        2.0 * (self.eta_grid_points as f64 + 30.0) * per_eval * self.batch_sizes.len() as f64
            + (self.samples as f64) * m * m
    }
}

/// One data set's prepared problem.
struct Problem {
    name: &'static str,
    operator: SecondMomentOperator,
    start: Vec<f64>,
    target: f64,
}

/// One tuned batch size.
struct Tuned {
    batch: f64,
    rate: TunedRate,
    step: u64,
    at_target: NoiseScales,
}

fn prepare(
    name: &'static str,
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
        name,
        operator,
        start,
        target,
    })
}

fn tune(problem: &Problem, batch: f64, p: &Params) -> Result<Tuned, ExperimentError> {
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
    Ok(Tuned {
        batch,
        rate,
        step: crossing.step,
        at_target: op.noise_scales(&run.moments(crossing.step)),
    })
}

/// The index of the batch size nearest `b` on a log scale.
fn nearest(batches: &[f64], b: f64) -> usize {
    (0..batches.len())
        .min_by(|&i, &j| {
            (ln(batches[i]) - ln(b))
                .abs()
                .total_cmp(&(ln(batches[j]) - ln(b)).abs())
        })
        .unwrap_or(0)
}

/// A data set's sweep, fit and kappa at the target.
struct Sweep {
    tuned: Vec<Tuned>,
    fit: HyperbolaFit,
    reference: usize,
}

impl Sweep {
    fn kappa(&self) -> f64 {
        self.tuned[self.reference].at_target.kappa()
    }
    fn min_examples(&self) -> f64 {
        self.tuned
            .iter()
            .map(|t| t.rate.value * t.batch)
            .fold(f64::INFINITY, f64::min)
    }
}

/// Runs the claim.
///
/// # Errors
/// Invalid data, a failed search or fit.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    // Both data sets come from the same stream: same inputs and teacher (the label-noise draws
    // are taken either way, scaled by the noise level).
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
    let problems = [
        prepare("uniform", &uniform, p.init_scale, p.target_fraction)?,
        prepare("diverse", &diverse, p.init_scale, p.target_fraction)?,
    ];
    let nb = p.batch_sizes.len();
    let tuned: Vec<Tuned> = map_indexed(2 * nb, |k| {
        tune(&problems[k / nb], p.batch_sizes[k % nb] as f64, p)
    })
    .into_iter()
    .collect::<Result<_, _>>()?;
    let batches: Vec<f64> = p.batch_sizes.iter().map(|&b| b as f64).collect();
    let mut tuned = tuned.into_iter();
    let mut sweeps = Vec::with_capacity(2);
    for _ in 0..2 {
        let part: Vec<Tuned> = tuned.by_ref().take(nb).collect();
        let steps: Vec<f64> = part.iter().map(|t| t.rate.value).collect();
        let fit = fit_hyperbola(&batches, &steps)?;
        let reference = nearest(&batches, fit.b_star.value);
        sweeps.push(Sweep {
            tuned: part,
            fit,
            reference,
        });
    }
    let (uni, div) = (&sweeps[0], &sweeps[1]);

    let mut out = Outcome::new();
    let (bu, bd) = (uni.fit.b_star, div.fit.b_star);
    out.estimate("b_star_uniform", bu);
    out.estimate("b_star_diverse", bd);
    // Ratio of two independent fits: relative errors add in quadrature (delta method).
    let ratio = bd.value / bu.value;
    let rel = ((bd.se / bd.value).powi(2) + (bu.se / bu.value).powi(2)).sqrt();
    let q = sgd_sim::stats::t_quantile_975(bu.n.min(bd.n));
    out.with_interval(
        "knee_ratio",
        ratio,
        [ratio * (1.0 - q * rel), ratio * (1.0 + q * rel)],
    );
    let (ku, kd) = (uni.kappa(), div.kappa());
    out.exact("kappa_uniform", ku);
    out.exact("kappa_diverse", kd);
    out.exact("kappa_ratio", kd / ku);
    out.with_interval("knee_over_kappa_uniform", bu.value / ku, {
        let [lo, hi] = bu.ci95();
        [lo / ku, hi / ku]
    });
    out.with_interval("knee_over_kappa_diverse", bd.value / kd, {
        let [lo, hi] = bd.ci95();
        [lo / kd, hi / kd]
    });
    for (name, s) in [("uniform", uni), ("diverse", div)] {
        let at = &s.tuned[s.reference].at_target;
        out.exact(&format!("b_noise_at_target_{name}"), at.b_noise());
        out.exact(&format!("b_simple_at_target_{name}"), at.b_simple());
        out.estimate(&format!("s_min_{name}"), s.fit.s_min);
        out.estimate(&format!("e_min_{name}"), s.fit.e_min);
        out.exact(
            &format!("hyperbola_max_rel_residual_{name}"),
            s.fit.max_rel_residual,
        );
        out.exact(&format!("min_examples_{name}"), s.min_examples());
    }
    // Progress per example: the fewest examples (over b) that reach the target, diverse over uniform.
    out.exact(
        "min_examples_ratio",
        div.min_examples() / uni.min_examples(),
    );

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
    for (problem, s) in problems.iter().zip(&sweeps) {
        for (k, t) in s.tuned.iter().enumerate() {
            table.push(row![
                problem.name,
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
    let mut setup = Table::new([
        "data_set",
        "label_noise",
        "h_max",
        "h_min",
        "initial_excess",
        "target_excess",
    ]);
    for (problem, noise) in problems
        .iter()
        .zip([p.label_noise_uniform, p.label_noise_diverse])
    {
        setup.push(row![
            problem.name,
            noise,
            problem.operator.max_curvature(),
            problem.operator.min_curvature(),
            problem.operator.excess_loss(&problem.start),
            problem.target
        ]);
    }
    out.table("batch-sweep", table);
    out.table("data-sets", setup);
    out.figure("knee", figure(&sweeps, &batches));
    out.samples = 0;
    Ok(out)
}

fn figure(sweeps: &[Sweep], batches: &[f64]) -> FigureSpec {
    let (b_lo, b_hi) = (batches[0], batches[batches.len() - 1]);
    let grid: Vec<f64> = (0..=120)
        .map(|k| b_lo * powf(b_hi / b_lo, f64::from(k) / 120.0))
        .collect();
    let names = [
        "low diversity (exact labels)",
        "high diversity (noisy labels)",
    ];
    let mut steps_series = Vec::new();
    let mut examples_series = Vec::new();
    let mut labels = Vec::new();
    let s_max = sweeps
        .iter()
        .flat_map(|s| s.tuned.iter().map(|t| t.rate.value))
        .fold(0.0, f64::max);
    let s_min = sweeps
        .iter()
        .flat_map(|s| s.tuned.iter().map(|t| t.rate.value))
        .fold(f64::INFINITY, f64::min);
    for (c, (s, name)) in sweeps.iter().zip(names).enumerate() {
        steps_series.push(Series::from_xy(
            "",
            SeriesKind::Theory,
            c,
            grid.iter().map(|&b| (b, s.fit.steps(b))),
        ));
        steps_series.push(Series::from_xy(
            name,
            SeriesKind::Simulation,
            c,
            s.tuned.iter().map(|t| (t.batch, t.rate.value)),
        ));
        let kappa = s.kappa();
        steps_series.push(Series::from_xy(
            "",
            SeriesKind::Guide,
            c,
            [(kappa, s_min * 0.7), (kappa, s_max * 1.4)],
        ));
        labels.push(TextLabel {
            x: kappa * 1.15,
            y: s_max * (0.5 - 0.3 * c as f64),
            text: format!("kappa = {kappa:.0}"),
        });
        examples_series.push(Series::from_xy(
            "",
            SeriesKind::Theory,
            c,
            grid.iter().map(|&b| (b, s.fit.steps(b) * b)),
        ));
        examples_series.push(Series::from_xy(
            name,
            SeriesKind::Simulation,
            c,
            s.tuned.iter().map(|t| (t.batch, t.rate.value * t.batch)),
        ));
    }
    FigureSpec {
        panels: vec![
            Panel {
                title: "Steps to target, eta tuned per b".into(),
                x: Axis::log("batch size b"),
                y: Axis::log("steps S(b)"),
                series: steps_series,
                labels,
            },
            Panel {
                title: "Examples to target".into(),
                x: Axis::log("batch size b"),
                y: Axis::log("examples S(b) b"),
                series: examples_series,
                labels: Vec::new(),
            },
        ],
    }
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
}
