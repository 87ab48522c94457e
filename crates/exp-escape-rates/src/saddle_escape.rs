//! Claim `saddle-escape`: at the saddle of L(y) = -lambda y^2/2 + y^4/4, SGD started exactly at the
//! saddle leaves |y| < R after a number of steps set by the noise, logarithmic in 1/s, while
//! gradient descent needs ln(1/y0)/ln(1 + eta lambda) steps from y0 and never moves from y0 = 0.
//!
//! SGD: `runs` trajectories of y <- y - eta (L'(y) + s z) from y = 0 per noise scale s, compared with
//! the linearized asymptotic formula and with its exact discrete-time form ([`crate::saddle`]).
//! Gradient descent: iterated from each y0 and compared with its formula and with the exact Koenigs
//! count.

use crate::kernel::{EscapeSpec, ExitOutside, GaussianNoise, gradient_descent_exit_step};
use crate::measure::{ExitSummary, PROPAGATION_REPLICATES, ols_slope, run_escapes, step_limit};
use crate::saddle::SaddleExit;
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{ln, log10, powf};
use sgd_sim::potential::{Potential, QuarticSaddle};
use sgd_sim::stats::{Estimate, NormalDraws};

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

/// The kind `escape-rates/saddle-escape`.
#[derive(Debug)]
pub struct SaddleEscape;

/// One SGD noise scale.
#[derive(Clone, Debug, PartialEq)]
pub struct SgdPoint {
    /// The noise scale s.
    pub noise_scale: f64,
    /// The simulated exit steps.
    pub summary: ExitSummary,
    /// The asymptotic formula's mean exit step (computed).
    pub formula: f64,
    /// Its exact discrete-time form (computed).
    pub discrete: f64,
    /// The predicted standard deviation of the exit step (computed).
    pub predicted_sd: f64,
}

/// One gradient-descent start (all deterministic).
#[derive(Clone, Debug, PartialEq)]
pub struct GdPoint {
    /// The start y0.
    pub start: f64,
    /// The exit step found by iterating the map.
    pub iterated: f64,
    /// The formula ln(R_eff/y0)/ln(1 + eta lambda) plus the rounding to a whole step.
    pub formula: f64,
    /// The exact Koenigs count.
    pub discrete: f64,
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// SGD runs per noise scale (after `--scale`).
    pub runs: usize,
    /// One point per noise scale, in the order of `noise_scales`.
    pub sgd: Vec<SgdPoint>,
    /// One point per gradient-descent start, in the order of `gd_starts`.
    pub gd: Vec<GdPoint>,
    /// Gradient descent's exit step from `gd_reference_start`.
    pub gd_reference: f64,
    /// The largest |y| of gradient descent started at y = 0 exactly.
    pub gd_from_saddle_displacement: f64,
    /// Normal deviates for the interval of the largest relative error.
    pub rel_error_draws: NormalDraws,
    /// Normal deviates for the interval of the SGD over gradient-descent ratio.
    pub ratio_draws: NormalDraws,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.sgd.iter().map(|m| m.summary.total_steps).sum()
    }
}

/// SGD from the saddle at every noise scale.
fn measure_sgd(
    p: &Params,
    geometry: &SaddleExit,
    runs: usize,
    ctx: &RunContext,
) -> Result<Vec<SgdPoint>, ExperimentError> {
    let saddle = QuarticSaddle { lambda: p.lambda };
    let streams = ctx.streams();
    let mut sgd = Vec::new();
    for &s in &p.noise_scales {
        ctx.check_cancelled()?;
        let formula = geometry.sgd_mean_exit_steps_formula(s);
        let noise = GaussianNoise { scale: s };
        let spec = EscapeSpec {
            potential: &saddle,
            noise: &noise,
            exit: ExitOutside(p.radius),
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
    Ok(sgd)
}

/// Gradient descent's exit step from y0, by iterating the map.
fn gd_exit(p: &Params, geometry: &SaddleExit, y0: f64) -> Result<f64, ExperimentError> {
    let saddle = QuarticSaddle { lambda: p.lambda };
    let limit = step_limit(geometry.gd_exit_steps_formula(y0));
    gradient_descent_exit_step(&saddle, &ExitOutside(p.radius), p.eta, y0, limit)
        .map(|k| k as f64)
        .ok_or_else(|| ExperimentError::Diverged {
            step: limit,
            reason: format!("gradient descent from {y0} did not exit"),
        })
}

/// Gradient descent from the saddle itself: the largest |y| reached (y stays exactly 0).
fn gd_from_saddle(p: &Params, ctx: &RunContext) -> Result<f64, ExperimentError> {
    let saddle = QuarticSaddle { lambda: p.lambda };
    let mut y = 0.0f64;
    let mut farthest = 0.0f64;
    for k in 0..p.gd_stationary_steps {
        if k % 1_000_000 == 0 {
            ctx.check_cancelled()?;
        }
        y -= p.eta * saddle.derivative(y);
        farthest = farthest.max(y.abs());
    }
    Ok(farthest)
}

fn measure_all(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
    let geometry = p.geometry()?;
    let runs = ctx.scaled(p.runs);
    let sgd = measure_sgd(p, &geometry, runs, ctx)?;
    let mut gd = Vec::new();
    for &y0 in &p.gd_starts {
        gd.push(GdPoint {
            start: y0,
            iterated: gd_exit(p, &geometry, y0)?,
            formula: geometry.gd_exit_steps_formula(y0),
            discrete: geometry.gd_exit_step_exact(y0)?,
        });
    }
    let gd_reference = gd_exit(p, &geometry, p.gd_reference_start)?;
    let gd_from_saddle_displacement = gd_from_saddle(p, ctx)?;
    // One stream for both intervals, drawn in the order the metrics use them.
    let mut rng = ctx.streams().stream("saddle-escape/intervals", 0);
    let rel_error_draws = NormalDraws::draw(&mut rng, PROPAGATION_REPLICATES, sgd.len());
    let ratio_draws = NormalDraws::draw(&mut rng, PROPAGATION_REPLICATES, sgd.len());
    Ok(Measured {
        runs,
        sgd,
        gd,
        gd_reference,
        gd_from_saddle_displacement,
        rel_error_draws,
        ratio_draws,
    })
}

/// The largest of `f` over the points.
fn max_over<T>(items: &[T], f: impl Fn(&T) -> f64) -> f64 {
    items.iter().map(f).fold(0.0, f64::max)
}

/// SGD against its formula and its discrete form, gradient descent against its formulas, and the
/// slowest SGD mean over gradient descent from the reference start.
/// The slope of the mean exit step against ln(1/s), in units of its linearized value
/// 1/ln(1 + eta lambda): by the linearization of [`crate::saddle`], the exit step is
/// ln(h(R)/|X|)/ln(1 + eta lambda) with |X| proportional to s, so each factor e less noise adds
/// 1/ln(1 + eta lambda) steps. Its SE is propagated from the points' SEs ([`ols_slope`]).
fn log_slope_metrics(
    geometry: &SaddleExit,
    m: &Measured,
    out: &mut Metrics,
) -> Result<(), ExperimentError> {
    let x: Vec<f64> = m.sgd.iter().map(|s| -ln(s.noise_scale)).collect();
    let y: Vec<f64> = m.sgd.iter().map(|s| s.summary.steps.value).collect();
    let se: Vec<f64> = m.sgd.iter().map(|s| s.summary.steps.se).collect();
    let total = m.runs * m.sgd.len();
    let unit = geometry.growth();
    let slope = ols_slope(&x, &y, &se, total)?;
    out.estimate("sgd_log_slope_over_theory", slope.scaled(unit));
    let discrete: Vec<f64> = m.sgd.iter().map(|s| s.discrete).collect();
    out.computed(
        "sgd_log_slope_over_theory_discrete",
        ols_slope(&x, &discrete, &se, total)?.value * unit,
    );
    Ok(())
}

fn saddle_metrics(m: &Measured, out: &mut Metrics) {
    let means: Vec<Estimate> = m.sgd.iter().map(|s| s.summary.steps).collect();
    let formulas: Vec<f64> = m.sgd.iter().map(|s| s.formula).collect();
    let max_rel = |values: &[f64]| {
        values
            .iter()
            .zip(&formulas)
            .map(|(v, f)| (v / f - 1.0).abs())
            .fold(0.0, f64::max)
    };
    let mean_values: Vec<f64> = means.iter().map(|e| e.value).collect();
    out.estimate_with_interval(
        "sgd_exit_steps_rel_error_max",
        max_rel(&mean_values),
        m.rel_error_draws.propagated_interval(&means, max_rel),
    );
    out.measured(
        "sgd_exit_steps_max_abs_z_discrete",
        max_over(&m.sgd, |s| s.summary.steps.z_score(s.discrete).abs()),
    );
    out.computed(
        "sgd_formula_minus_discrete_max_steps",
        max_over(&m.sgd, |s| (s.formula - s.discrete).abs()),
    );
    out.computed(
        "gd_exit_steps_abs_error_max",
        max_over(&m.gd, |g| (g.iterated - g.formula).abs()),
    );
    out.computed(
        "gd_exit_steps_discrete_mismatch",
        max_over(&m.gd, |g| (g.iterated - g.discrete).abs()),
    );
    out.computed("gd_from_saddle_displacement", m.gd_from_saddle_displacement);
    out.computed("gd_reference_exit_steps", m.gd_reference);
    let gd_reference = m.gd_reference;
    let ratio = |values: &[f64]| values.iter().map(|v| v / gd_reference).fold(0.0, f64::max);
    out.estimate_with_interval(
        "sgd_over_gd_exit_ratio",
        ratio(&mean_values),
        m.ratio_draws.propagated_interval(&means, ratio),
    );
}

/// The SGD points, simulation and theory side by side.
fn sgd_table(m: &Measured) -> Table {
    let mut table = Table::new([
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
    for s in &m.sgd {
        let [lo, hi] = s.summary.steps.ci95();
        table.push(row![
            s.noise_scale,
            m.runs,
            s.summary.steps.value,
            s.summary.steps.se,
            lo,
            hi,
            s.formula,
            s.discrete,
            s.summary.steps.value / s.formula - 1.0,
            s.summary.steps.z_score(s.discrete),
            s.summary.steps_sd,
            s.predicted_sd,
            s.summary.steps.value / m.gd_reference
        ]);
    }
    table
}

/// The gradient-descent starts: iterated, formula and Koenigs count.
fn gd_table(m: &Measured) -> Table {
    let mut table = Table::new([
        "start",
        "log10_inverse_start",
        "exit_step_iterated",
        "formula",
        "exit_step_koenigs",
        "abs_error_vs_formula",
    ]);
    for g in &m.gd {
        table.push(row![
            g.start,
            -log10(g.start),
            g.iterated,
            g.formula,
            g.discrete,
            (g.iterated - g.formula).abs()
        ]);
    }
    table
}

impl Experiment for SaddleEscape {
    const KIND: &'static str = "escape-rates/saddle-escape";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        measure_all(p, ctx)
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        saddle_metrics(m, &mut out);
        log_slope_metrics(&p.geometry()?, m, &mut out)?;
        out.table("sgd", sgd_table(m));
        out.table("gd", gd_table(m));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let geometry = p.geometry()?;
        let mut figures = Figures::new();
        figures.add("exit-steps", exit_steps_figure(p, &geometry, m));
        Ok(figures)
    }
}

/// `count + 1` points of `f` geometrically spaced over [lo, hi] (lo, hi > 0), for a log axis.
fn log_curve(lo: f64, hi: f64, count: u32, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    let (a, b) = (log10(lo), log10(hi));
    (0..=count)
        .map(|k| {
            let x = powf(10.0, a + (b - a) * f64::from(k) / f64::from(count));
            (x, f(x))
        })
        .collect()
}

/// The smallest and largest of positive values, widened by `margin` decades on each side.
fn log_extent(values: &[f64], margin: f64) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let m = powf(10.0, margin);
    (lo / m, hi * m)
}

/// SGD exit steps against the noise scale s, and gradient descent's against y0 (log axes): both
/// fall to the right.
fn exit_steps_figure(p: &Params, geometry: &SaddleExit, m: &Measured) -> FigureData {
    let (s_lo, s_hi) = log_extent(&p.noise_scales, 0.15);
    let sgd_panel = CurvesPanel::new(
        "SGD from the saddle (y₀ = 0)",
        Axis::log("noise scale s"),
        Axis::linear("mean exit step"),
    )
    .theory(Line::new(
        "asymptotic formula",
        0,
        log_curve(s_lo, s_hi, 60, |s| geometry.sgd_mean_exit_steps_formula(s)),
    ))
    .measured(Points::new(
        format!("SGD, {} runs each", m.runs),
        0,
        m.sgd
            .iter()
            .map(|s| {
                MeasuredPoint::with_ci(s.noise_scale, s.summary.steps.value, s.summary.steps.ci95())
            })
            .collect(),
    ));
    let (x_lo, x_hi) = log_extent(&p.gd_starts, 0.5);
    let mut gd_panel = CurvesPanel::new(
        "Gradient descent from y₀",
        Axis::log("start y₀"),
        Axis::linear("exit step"),
    )
    .theory(Line::new(
        "formula ln(R_eff/y₀)/ln(1 + ηλ)",
        1,
        log_curve(x_lo, x_hi, 60, |y0| geometry.gd_exit_steps_formula(y0)),
    ))
    .measured(Points::new(
        "gradient descent, iterated",
        1,
        m.gd.iter()
            .map(|g| MeasuredPoint::new(g.start, g.iterated))
            .collect(),
    ));
    for (i, s) in m.sgd.iter().enumerate() {
        gd_panel = gd_panel.guide(Line::new(
            format!("SGD mean, s = {}", s.noise_scale),
            2 + i,
            [(x_lo, s.summary.steps.value), (x_hi, s.summary.steps.value)],
        ));
    }
    FigureData::stacked(vec![sgd_panel.into(), gd_panel.into()])
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

    /// A hand-made measurement: SGD exactly at the discrete form, gradient descent at its formula.
    fn hand_made(p: &Params) -> Measured {
        let geometry = p.geometry().unwrap();
        let sgd = p
            .noise_scales
            .iter()
            .map(|&s| {
                let discrete = geometry.sgd_mean_exit_steps_discrete(s).unwrap();
                SgdPoint {
                    noise_scale: s,
                    summary: ExitSummary {
                        steps: Estimate {
                            value: discrete,
                            se: 1.0,
                            n: 1000,
                        },
                        steps_sd: 30.0,
                        total_steps: 10,
                    },
                    formula: geometry.sgd_mean_exit_steps_formula(s),
                    discrete,
                    predicted_sd: geometry.sgd_exit_steps_sd(),
                }
            })
            .collect();
        let gd = p
            .gd_starts
            .iter()
            .map(|&y0| GdPoint {
                start: y0,
                iterated: geometry.gd_exit_step_exact(y0).unwrap(),
                formula: geometry.gd_exit_steps_formula(y0),
                discrete: geometry.gd_exit_step_exact(y0).unwrap(),
            })
            .collect();
        let mut rng = sgd_sim::rng::Streams::new(1).stream("test", 0);
        Measured {
            runs: 1000,
            sgd,
            gd,
            gd_reference: 2000.0,
            gd_from_saddle_displacement: 0.0,
            rel_error_draws: NormalDraws::draw(&mut rng, 200, 3),
            ratio_draws: NormalDraws::draw(&mut rng, 200, 3),
        }
    }

    #[test]
    fn gradient_descent_never_leaves_the_saddle() {
        // y = 0 is a fixed point of y - eta (y^3 - lambda y), exactly in floating point.
        let p = Params::default();
        let far = gd_from_saddle(&p, &RunContext::new("t", 1)).unwrap();
        assert_eq!(far, 0.0);
    }

    #[test]
    fn metrics_and_figures_are_functions_of_the_measurement() {
        let p = Params::default();
        let m = hand_made(&p);
        let out = SaddleEscape::metrics(&p, &m).unwrap();
        assert_eq!(out.value("sgd_exit_steps_max_abs_z_discrete"), Some(0.0));
        assert_eq!(out.value("gd_exit_steps_discrete_mismatch"), Some(0.0));
        let slowest = m.sgd.iter().map(|s| s.discrete).fold(0.0, f64::max);
        let ratio = out.value("sgd_over_gd_exit_ratio").unwrap();
        assert!((ratio - slowest / 2000.0).abs() < 1e-15, "{ratio}");
        assert_eq!(
            out.values["gd_reference_exit_steps"].basis,
            claim_spec::Basis::Computed
        );
        assert_eq!(out.tables["sgd"].rows.len(), 3);
        // The discrete form is linear in ln(1/s) with slope 1/ln(1 + eta lambda).
        let slope = out.value("sgd_log_slope_over_theory").unwrap();
        assert!((slope - 1.0).abs() < 1e-9, "{slope}");
        assert_eq!(out.tables["gd"].rows.len(), 3);
        assert_eq!(m.samples(), 30);
        let figures = SaddleEscape::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["exit-steps"].panels.len(), 2);
    }
}
