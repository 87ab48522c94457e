//! Claim `saddle-escape`: at the saddle of L(y) = -lambda y^2/2 + y^4/4, SGD started exactly at the
//! saddle leaves |y| < R after a number of steps set by the noise, logarithmic in 1/s, while
//! gradient descent needs ln(1/y0)/ln(1 + eta lambda) steps from y0 and never moves from y0 = 0.
//!
//! SGD: `runs` trajectories of y <- y - eta (L'(y) + s z) from y = 0 per noise scale s, compared with
//! CLAIMS.md's formula and with its exact discrete-time form ([`crate::saddle`]). Gradient descent:
//! iterated from each y0 and compared with its formula and with the exact Koenigs count.

use crate::kernel::{EscapeSpec, ExitOutside, GaussianNoise, gradient_descent_exit_step};
use crate::measure::{ExitSummary, propagated_interval, run_escapes, step_limit};
use crate::saddle::SaddleExit;
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{log10, powf};
use sgd_sim::potential::{Potential, QuarticSaddle};
use sgd_sim::stats::Estimate;

/// Parameters of `escape-rates/saddle-escape`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The negative curvature lambda at the saddle.
    pub lambda: f64,
    /// The exit radius R (below sqrt(lambda), where the minima are).
    pub radius: f64,
    /// The step size eta.
    pub eta: f64,
    /// Noise scales s of the SGD runs.
    pub noise_scales: Vec<f64>,
    /// SGD runs per noise scale.
    pub runs: usize,
    /// Starting points y0 of gradient descent (in (0, R)).
    pub gd_starts: Vec<f64>,
    /// The start whose gradient-descent exit step the SGD exit steps are compared with.
    pub gd_reference_start: f64,
    /// Steps of gradient descent from y0 = 0 exactly, to show it never moves.
    pub gd_stationary_steps: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            lambda: 1.0,
            radius: 0.5,
            eta: 0.01,
            noise_scales: vec![0.1, 0.03, 0.01],
            runs: 20_000,
            gd_starts: vec![1e-4, 1e-8, 1e-12],
            gd_reference_start: 1e-8,
            gd_stationary_steps: 100_000,
        }
    }
}

impl Params {
    fn geometry(&self) -> Result<SaddleExit, ParamError> {
        SaddleExit::new(self.lambda, self.eta, self.radius)
            .map_err(|e| ParamError::new("radius", e.to_string()))
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::positive("lambda", self.lambda)?;
        ParamError::positive("eta", self.eta)?;
        ParamError::positive("radius", self.radius)?;
        self.geometry()?;
        ParamError::all_positive("noise_scales", &self.noise_scales)?;
        ParamError::at_least("runs", self.runs as u64, 100)?;
        ParamError::all_positive("gd_starts", &self.gd_starts)?;
        for (i, &y0) in self
            .gd_starts
            .iter()
            .chain(std::iter::once(&self.gd_reference_start))
            .enumerate()
        {
            if !(y0 > 0.0 && y0 < self.radius) {
                let key = if i < self.gd_starts.len() {
                    format!("gd_starts[{i}]")
                } else {
                    "gd_reference_start".into()
                };
                return Err(ParamError::new(
                    key,
                    format!("must lie in (0, radius = {}), got {y0}", self.radius),
                ));
            }
        }
        ParamError::at_least("gd_stationary_steps", self.gd_stationary_steps, 1)?;
        if self.gd_stationary_steps > 100_000_000 {
            return Err(ParamError::new(
                "gd_stationary_steps",
                "must be at most 1e8",
            ));
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let Ok(geometry) = self.geometry() else {
            return 0.0;
        };
        let sgd: f64 = self
            .noise_scales
            .iter()
            .map(|&s| geometry.sgd_mean_exit_steps_formula(s).max(1.0))
            .sum::<f64>()
            * self.runs as f64;
        let gd: f64 = self
            .gd_starts
            .iter()
            .map(|&y0| geometry.gd_exit_steps_formula(y0).max(1.0))
            .sum();
        sgd + gd + self.gd_stationary_steps as f64
    }
}

/// One SGD noise scale.
struct SgdPoint {
    noise_scale: f64,
    summary: ExitSummary,
    formula: f64,
    discrete: f64,
    predicted_sd: f64,
}

/// One gradient-descent start.
struct GdPoint {
    start: f64,
    iterated: f64,
    formula: f64,
    discrete: f64,
}

/// Runs the claim.
///
/// # Errors
/// Invalid geometry, a failed Koenigs inversion, or a trajectory that does not exit.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let geometry = p.geometry()?;
    let saddle = QuarticSaddle { lambda: p.lambda };
    let exit = ExitOutside(p.radius);
    let streams = ctx.streams();
    let runs = ctx.scaled(p.runs);

    let mut sgd = Vec::new();
    for &s in &p.noise_scales {
        let formula = geometry.sgd_mean_exit_steps_formula(s);
        let noise = GaussianNoise { scale: s };
        let spec = EscapeSpec {
            potential: &saddle,
            noise: &noise,
            exit,
            eta: p.eta,
            start: 0.0,
            max_steps: step_limit(formula),
        };
        let summary = run_escapes(&spec, &streams, &format!("saddle-escape/s={s}"), runs)?;
        sgd.push(SgdPoint {
            noise_scale: s,
            summary,
            formula,
            discrete: geometry.sgd_mean_exit_steps_discrete(s)?,
            predicted_sd: geometry.sgd_exit_steps_sd(),
        });
    }

    let gd_exit = |y0: f64| -> Result<f64, ExperimentError> {
        let limit = step_limit(geometry.gd_exit_steps_formula(y0));
        gradient_descent_exit_step(&saddle, &exit, p.eta, y0, limit)
            .map(|k| k as f64)
            .ok_or_else(|| ExperimentError::Diverged {
                step: limit,
                reason: format!("gradient descent from {y0} did not exit"),
            })
    };
    let mut gd = Vec::new();
    for &y0 in &p.gd_starts {
        gd.push(GdPoint {
            start: y0,
            iterated: gd_exit(y0)?,
            formula: geometry.gd_exit_steps_formula(y0),
            discrete: geometry.gd_exit_step_exact(y0)?,
        });
    }
    let gd_reference = gd_exit(p.gd_reference_start)?;

    // Gradient descent from the saddle itself: y stays exactly 0.
    let mut y = 0.0f64;
    let mut farthest = 0.0f64;
    for _ in 0..p.gd_stationary_steps {
        y -= p.eta * saddle.derivative(y);
        farthest = farthest.max(y.abs());
    }

    let mut out = Outcome::new();
    let mut interval_rng = streams.stream("saddle-escape/intervals", 0);
    let means: Vec<Estimate> = sgd.iter().map(|m| m.summary.steps).collect();
    let formulas: Vec<f64> = sgd.iter().map(|m| m.formula).collect();
    let max_rel = |values: &[f64]| {
        values
            .iter()
            .zip(&formulas)
            .map(|(v, f)| (v / f - 1.0).abs())
            .fold(0.0, f64::max)
    };
    let mean_values: Vec<f64> = means.iter().map(|e| e.value).collect();
    out.with_interval(
        "sgd_exit_steps_rel_error_max",
        max_rel(&mean_values),
        propagated_interval(&means, max_rel, &mut interval_rng),
    );
    out.exact(
        "sgd_exit_steps_max_abs_z_discrete",
        sgd.iter()
            .map(|m| m.summary.steps.z_score(m.discrete).abs())
            .fold(0.0, f64::max),
    );
    out.exact(
        "sgd_formula_minus_discrete_max_steps",
        sgd.iter()
            .map(|m| (m.formula - m.discrete).abs())
            .fold(0.0, f64::max),
    );
    out.exact(
        "gd_exit_steps_abs_error_max",
        gd.iter()
            .map(|g| (g.iterated - g.formula).abs())
            .fold(0.0, f64::max),
    );
    out.exact(
        "gd_exit_steps_discrete_mismatch",
        gd.iter()
            .map(|g| (g.iterated - g.discrete).abs())
            .fold(0.0, f64::max),
    );
    out.exact("gd_from_saddle_displacement", farthest);
    out.exact("gd_reference_exit_steps", gd_reference);
    let ratio = |values: &[f64]| values.iter().map(|v| v / gd_reference).fold(0.0, f64::max);
    out.with_interval(
        "sgd_over_gd_exit_ratio",
        ratio(&mean_values),
        propagated_interval(&means, ratio, &mut interval_rng),
    );

    let mut sgd_table = Table::new([
        "noise_scale",
        "runs",
        "mean_steps",
        "mean_steps_se",
        "mean_steps_lo",
        "mean_steps_hi",
        "formula",
        "discrete_formula",
        "rel_error_vs_formula",
        "z_vs_discrete",
        "steps_sd",
        "steps_sd_predicted",
        "over_gd_reference",
    ]);
    for m in &sgd {
        let [lo, hi] = m.summary.steps.ci95();
        sgd_table.push(row![
            m.noise_scale,
            runs,
            m.summary.steps.value,
            m.summary.steps.se,
            lo,
            hi,
            m.formula,
            m.discrete,
            m.summary.steps.value / m.formula - 1.0,
            m.summary.steps.z_score(m.discrete),
            m.summary.steps_sd,
            m.predicted_sd,
            m.summary.steps.value / gd_reference
        ]);
    }
    out.table("sgd", sgd_table);
    let mut gd_table = Table::new([
        "start",
        "log10_inverse_start",
        "exit_step_iterated",
        "formula",
        "exit_step_koenigs",
        "abs_error_vs_formula",
    ]);
    for g in &gd {
        gd_table.push(row![
            g.start,
            -log10(g.start),
            g.iterated,
            g.formula,
            g.discrete,
            (g.iterated - g.formula).abs()
        ]);
    }
    out.table("gd", gd_table);
    out.figure("exit-steps", figure(p, &geometry, &sgd, &gd));
    out.samples = sgd.iter().map(|m| m.summary.total_steps).sum();
    Ok(out)
}

/// SGD exit steps against log10(s), and gradient descent's against log10(y0): both fall to the
/// right, which leaves the legend's corner (upper right) free.
fn figure(p: &Params, geometry: &SaddleExit, sgd: &[SgdPoint], gd: &[GdPoint]) -> FigureSpec {
    let logs: Vec<f64> = p.noise_scales.iter().map(|&s| log10(s)).collect();
    let s_lo = logs.iter().copied().fold(f64::INFINITY, f64::min) - 0.15;
    let s_hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max) + 0.15;
    let s_curve = (0..=40).map(|k| {
        let x = s_lo + (s_hi - s_lo) * f64::from(k) / 40.0;
        (x, geometry.sgd_mean_exit_steps_formula(powf(10.0, x)))
    });
    let sgd_panel = Panel {
        title: "SGD from the saddle (y0 = 0)".into(),
        x: Axis::linear("log10(noise scale s)"),
        y: Axis::linear("mean exit step"),
        series: vec![
            Series::from_xy("asymptotic formula", SeriesKind::Theory, 0, s_curve),
            Series {
                label: format!("SGD, {} runs each", ctx_runs(sgd)),
                kind: SeriesKind::Simulation,
                color: 0,
                points: sgd
                    .iter()
                    .map(|m| {
                        Point::with_interval(
                            log10(m.noise_scale),
                            m.summary.steps.value,
                            m.summary.steps.ci95(),
                        )
                    })
                    .collect(),
            },
        ],
        labels: Vec::new(),
    };
    let x_of = |y0: f64| log10(y0);
    let x_lo = p
        .gd_starts
        .iter()
        .map(|&y| x_of(y))
        .fold(f64::INFINITY, f64::min)
        - 0.5;
    let x_hi = p
        .gd_starts
        .iter()
        .map(|&y| x_of(y))
        .fold(f64::NEG_INFINITY, f64::max)
        + 0.5;
    let gd_curve = (0..=40).map(|k| {
        let x = x_lo + (x_hi - x_lo) * f64::from(k) / 40.0;
        (x, geometry.gd_exit_steps_formula(powf(10.0, x)))
    });
    let mut gd_series = vec![
        Series::from_xy(
            "formula ln(R_eff/y0)/ln(1+eta lambda)",
            SeriesKind::Theory,
            1,
            gd_curve,
        ),
        Series::from_xy(
            "gradient descent, iterated",
            SeriesKind::Simulation,
            1,
            gd.iter().map(|g| (x_of(g.start), g.iterated)),
        ),
    ];
    for (i, m) in sgd.iter().enumerate() {
        gd_series.push(Series::from_xy(
            format!("SGD mean, s = {}", m.noise_scale),
            SeriesKind::Guide,
            2 + i,
            [(x_lo, m.summary.steps.value), (x_hi, m.summary.steps.value)],
        ));
    }
    let gd_panel = Panel {
        title: "Gradient descent from y0".into(),
        x: Axis::linear("log10(y0)"),
        y: Axis::linear("exit step"),
        series: gd_series,
        labels: Vec::new(),
    };
    FigureSpec {
        panels: vec![sgd_panel, gd_panel],
    }
}

/// The number of runs behind each SGD point.
fn ctx_runs(sgd: &[SgdPoint]) -> usize {
    sgd.first().map_or(0, |m| m.summary.steps.n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            radius: 1.5,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "radius");
        let p = Params {
            gd_starts: vec![1e-4, 0.7],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "gd_starts[1]");
        let p = Params {
            gd_reference_start: 0.0,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "gd_reference_start");
        let p = Params {
            noise_scales: vec![],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "noise_scales");
    }
}
