//! Claim `kramers-escape`: SGD with Gaussian gradient noise escapes the double well
//! L(w) = h (w^2 - 1)^2 at the Arrhenius rate of overdamped Langevin dynamics at T = eta s^2 / 2.
//!
//! For each barrier-to-temperature ratio dL/T and step size eta, `trajectories` runs of
//! w <- w - eta (L'(w) + s z) start at -1 and stop at the first w >= +1; the mean exit time
//! steps * eta is compared with three predictions:
//! - the exact Langevin mean first-passage time (quadrature; the continuum limit eta -> 0);
//! - Kramers' asymptote 2 pi / sqrt(L''(-1) |L''(0)|) e^{dL/T} (large dL/T);
//! - the exact mean exit step of the simulated chain itself (the continuum plus the O(eta)
//!   discretization bias), which the simulation must match within its sampling error.

use crate::kernel::{EscapeSpec, ExitAbove, GaussianNoise};
use crate::measure::{ExitSummary, PROPAGATION_REPLICATES, ols_slope, run_escapes, step_limit};
use crate::well::{START, TARGET, chain_exit_steps, kramers_passage_time, langevin_passage_time};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::ln;
use sgd_sim::potential::DoubleWell;
use sgd_sim::stats::{Estimate, NormalDraws};

/// Parameters of `escape-rates/kramers-escape`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The barrier dL = h of L(w) = h (w^2 - 1)^2.
    pub barrier: f64,
    /// Barrier over temperature, dL/T (at least two distinct values, for the slope).
    pub barrier_over_temperature: Vec<f64>,
    /// Step sizes eta (each below 1/(4h), where the iteration is stable at the minima).
    pub etas: Vec<f64>,
    /// Trajectories per (dL/T, eta).
    pub trajectories: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            barrier: 1.0,
            barrier_over_temperature: vec![4.0, 5.0, 6.0],
            etas: vec![0.01, 0.02],
            trajectories: 8000,
        }
    }
}

/// The largest dL/T accepted: the mean exit step grows as e^{dL/T}.
const MAX_BARRIER_OVER_TEMPERATURE: f64 = 30.0;

/// Checks step sizes against the stability limit eta L''(min) < 2, L''(+-1) = 8h.
pub(crate) fn validate_etas(key: &str, etas: &[f64], barrier: f64) -> Result<(), ParamError> {
    ParamError::all_positive(key, etas)?;
    for (i, &eta) in etas.iter().enumerate() {
        if eta * 8.0 * barrier >= 2.0 {
            return Err(ParamError::new(
                format!("{key}[{i}]"),
                format!(
                    "must be below 1/(4 barrier) = {} (eta L''(min) < 2), got {eta}",
                    0.25 / barrier
                ),
            ));
        }
    }
    Ok(())
}

/// A closed-form estimate of the mean exit step, for work estimates: Kramers' time with its first
/// correction (1 + 3T/(8h)) divided by eta.
pub(crate) fn approximate_exit_steps(barrier: f64, temperature: f64, eta: f64) -> f64 {
    let well = DoubleWell { height: barrier };
    kramers_passage_time(&well, temperature) * (1.0 + 0.375 * temperature / barrier) / eta
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::positive("barrier", self.barrier)?;
        ParamError::all_positive("barrier_over_temperature", &self.barrier_over_temperature)?;
        for (i, &r) in self.barrier_over_temperature.iter().enumerate() {
            if r > MAX_BARRIER_OVER_TEMPERATURE {
                return Err(ParamError::new(
                    format!("barrier_over_temperature[{i}]"),
                    format!("must be at most {MAX_BARRIER_OVER_TEMPERATURE}, got {r}"),
                ));
            }
        }
        let first = self.barrier_over_temperature[0];
        if self.barrier_over_temperature.iter().all(|&r| r == first) {
            return Err(ParamError::new(
                "barrier_over_temperature",
                "needs at least two distinct values for the Arrhenius slope",
            ));
        }
        validate_etas("etas", &self.etas, self.barrier)?;
        ParamError::at_least("trajectories", self.trajectories as u64, 100)
    }

    fn estimated_work(&self) -> f64 {
        let mut steps = 0.0;
        for &r in &self.barrier_over_temperature {
            for &eta in &self.etas {
                steps += approximate_exit_steps(self.barrier, self.barrier / r, eta);
            }
        }
        steps * self.trajectories as f64
    }
}

/// The kind `escape-rates/kramers-escape`.
#[derive(Debug)]
pub struct KramersEscape;

/// One measured configuration (dL/T, eta), with the theory it is compared with.
#[derive(Clone, Debug, PartialEq)]
pub struct Configuration {
    /// Barrier over temperature.
    pub ratio: f64,
    /// Step size.
    pub eta: f64,
    /// T = barrier / ratio.
    pub temperature: f64,
    /// The gradient-noise scale s = sqrt(2 T / eta).
    pub noise_scale: f64,
    /// The simulated exit steps.
    pub summary: ExitSummary,
    /// The exact Langevin mean first-passage time (computed).
    pub exact: f64,
    /// Kramers' asymptote (computed).
    pub kramers: f64,
    /// The exact mean exit step of the simulated chain (computed).
    pub chain_steps: f64,
}

impl Configuration {
    /// The mean exit time in time units, steps * eta.
    fn time(&self) -> Estimate {
        self.summary.time(self.eta)
    }

    fn z_vs_chain(&self) -> f64 {
        (self.summary.steps.value - self.chain_steps) / self.summary.steps.se
    }

    fn kramers_error(&self) -> f64 {
        (self.kramers / self.exact - 1.0).abs()
    }
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Trajectories per configuration (after `--scale`).
    pub trajectories: usize,
    /// The configurations, dL/T outer, eta inner.
    pub points: Vec<Configuration>,
    /// Normal deviates for the interval of the largest relative error, one per point and row.
    pub interval_draws: NormalDraws,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.points.iter().map(|m| m.summary.total_steps).sum()
    }
}

/// Measures one configuration: `trajectories` escapes from -1 to +1.
fn measure_point(
    well: &DoubleWell,
    ratio: f64,
    eta: f64,
    trajectories: usize,
    ctx: &RunContext,
) -> Result<Configuration, ExperimentError> {
    let temperature = well.height / ratio;
    let noise_scale = (2.0 * temperature / eta).sqrt();
    let chain_steps = chain_exit_steps(well, eta, noise_scale * noise_scale)?;
    let noise = GaussianNoise { scale: noise_scale };
    let spec = EscapeSpec {
        potential: well,
        noise: &noise,
        exit: ExitAbove(TARGET),
        eta,
        start: START,
        max_steps: step_limit(chain_steps),
    };
    let purpose = format!("kramers-escape/dl-over-t={ratio}/eta={eta}");
    let summary = run_escapes(&spec, &ctx.streams(), &purpose, trajectories)?;
    Ok(Configuration {
        ratio,
        eta,
        temperature,
        noise_scale,
        summary,
        exact: langevin_passage_time(well, temperature)?,
        kramers: kramers_passage_time(well, temperature),
        chain_steps,
    })
}

/// The largest relative error of `values` against the points' exact times.
fn max_rel_error(values: &[f64], points: &[Configuration]) -> f64 {
    values
        .iter()
        .zip(points)
        .map(|(v, m)| (v / m.exact - 1.0).abs())
        .fold(0.0, f64::max)
}

/// Agreement with the exact Langevin time and with the exact chain.
fn accuracy_metrics(m: &Measured, out: &mut Metrics) {
    let times: Vec<Estimate> = m.points.iter().map(Configuration::time).collect();
    let values: Vec<f64> = times.iter().map(|t| t.value).collect();
    let interval = m
        .interval_draws
        .propagated_interval(&times, |v| max_rel_error(v, &m.points));
    out.estimate_with_interval(
        "mfpt_rel_error_max",
        max_rel_error(&values, &m.points),
        interval,
    );
    let chain_times: Vec<f64> = m.points.iter().map(|p| p.chain_steps * p.eta).collect();
    out.computed(
        "chain_rel_error_max",
        max_rel_error(&chain_times, &m.points),
    );
    let max_abs_z = m
        .points
        .iter()
        .map(|p| p.z_vs_chain().abs())
        .fold(0.0, f64::max);
    out.measured("chain_max_abs_z", max_abs_z);
}

/// The Arrhenius slope: least squares of ln tau on dL/T over all points, its SE from the points'
/// SEs (the SE of ln tau is SE(tau)/tau), beside the exact and chain slopes.
fn slope_metrics(m: &Measured, out: &mut Metrics) -> Result<(), ExperimentError> {
    let x: Vec<f64> = m.points.iter().map(|p| p.ratio).collect();
    let times: Vec<Estimate> = m.points.iter().map(Configuration::time).collect();
    let ln_sim: Vec<f64> = times.iter().map(|t| ln(t.value)).collect();
    let ln_se: Vec<f64> = times.iter().map(|t| t.se / t.value).collect();
    let total = m.trajectories * m.points.len();
    let slope = ols_slope(&x, &ln_sim, &ln_se, total)?;
    out.estimate("arrhenius_slope", slope);
    let ln_exact: Vec<f64> = m.points.iter().map(|p| ln(p.exact)).collect();
    let exact_slope = ols_slope(&x, &ln_exact, &ln_se, total)?.value;
    out.computed("arrhenius_slope_exact", exact_slope);
    let ln_chain: Vec<f64> = m.points.iter().map(|p| ln(p.chain_steps * p.eta)).collect();
    out.computed(
        "arrhenius_slope_chain",
        ols_slope(&x, &ln_chain, &ln_se, total)?.value,
    );
    let [lo, hi] = slope.ci95();
    out.estimate_with_interval(
        "arrhenius_slope_minus_exact",
        slope.value - exact_slope,
        [lo - exact_slope, hi - exact_slope],
    );
    Ok(())
}

/// Kramers' asymptote against the exact time at the highest and lowest dL/T (it does not depend
/// on eta).
fn kramers_metrics(m: &Measured, out: &mut Metrics) {
    let by_ratio = |pick: fn(f64, f64) -> bool| {
        m.points
            .iter()
            .reduce(|a, b| if pick(b.ratio, a.ratio) { b } else { a })
    };
    if let (Some(high), Some(low)) = (by_ratio(|b, a| b > a), by_ratio(|b, a| b < a)) {
        // The simulated time at the highest dL/T and the smallest eta there (the closest to the
        // continuum) over Kramers' asymptote: the prefactor as measured.
        let closest = m
            .points
            .iter()
            .filter(|p| p.ratio == high.ratio)
            .reduce(|a, b| if b.eta < a.eta { b } else { a })
            .unwrap_or(high);
        out.estimate(
            "sim_over_kramers_at_max_barrier",
            closest.time().scaled(1.0 / closest.kramers),
        );
        out.computed(
            "exact_over_kramers_at_max_barrier",
            closest.exact / closest.kramers,
        );
        out.computed("kramers_rel_error_at_max_barrier", high.kramers_error());
        out.computed("kramers_rel_error_at_min_barrier", low.kramers_error());
        out.computed(
            "kramers_rel_error_shrink_factor",
            high.kramers_error() / low.kramers_error(),
        );
    }
}

/// Every configuration, simulation and theory side by side.
fn arrhenius_table(m: &Measured) -> Table {
    let mut table = Table::new([
        "dl_over_t",
        "eta",
        "temperature",
        "noise_scale",
        "trajectories",
        "mean_steps",
        "mean_steps_se",
        "mfpt_sim",
        "mfpt_sim_se",
        "mfpt_sim_lo",
        "mfpt_sim_hi",
        "mfpt_exact",
        "mfpt_chain",
        "mfpt_kramers",
        "sim_over_exact",
        "chain_over_exact",
        "kramers_rel_error",
        "z_vs_chain",
        "exit_steps_sd_over_mean",
    ]);
    for p in &m.points {
        let t = p.time();
        let [lo, hi] = t.ci95();
        table.push(row![
            p.ratio,
            p.eta,
            p.temperature,
            p.noise_scale,
            m.trajectories,
            p.summary.steps.value,
            p.summary.steps.se,
            t.value,
            t.se,
            lo,
            hi,
            p.exact,
            p.chain_steps * p.eta,
            p.kramers,
            t.value / p.exact,
            p.chain_steps * p.eta / p.exact,
            p.kramers_error(),
            p.z_vs_chain(),
            p.summary.steps_sd / p.summary.steps.value
        ]);
    }
    table
}

impl Experiment for KramersEscape {
    const KIND: &'static str = "escape-rates/kramers-escape";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let well = DoubleWell { height: p.barrier };
        let trajectories = ctx.scaled(p.trajectories);
        let mut points = Vec::new();
        for &ratio in &p.barrier_over_temperature {
            for &eta in &p.etas {
                ctx.check_cancelled()?;
                points.push(measure_point(&well, ratio, eta, trajectories, ctx)?);
            }
        }
        let mut rng = ctx.streams().stream("kramers-escape/intervals", 0);
        let interval_draws = NormalDraws::draw(&mut rng, PROPAGATION_REPLICATES, points.len());
        Ok(Measured {
            trajectories,
            points,
            interval_draws,
        })
    }

    fn metrics(_p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        accuracy_metrics(m, &mut out);
        slope_metrics(m, &mut out)?;
        kramers_metrics(m, &mut out);
        out.table("arrhenius", arrhenius_table(m));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("arrhenius", arrhenius_figure(p, m)?);
        Ok(figures)
    }
}

/// The Arrhenius plot, and the same times relative to the exact Langevin time.
fn arrhenius_figure(p: &Params, m: &Measured) -> Result<FigureData, ExperimentError> {
    let ratios = &p.barrier_over_temperature;
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min) - 0.25;
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max) + 0.25;
    let well = DoubleWell { height: p.barrier };
    let mut exact_curve = Vec::new();
    let mut kramers_curve = Vec::new();
    let mut kramers_ratio = Vec::new();
    for k in 0..=80 {
        let r = lo + (hi - lo) * f64::from(k) / 80.0;
        let t = p.barrier / r;
        let e = langevin_passage_time(&well, t)?;
        let kr = kramers_passage_time(&well, t);
        exact_curve.push((r, -ln(e)));
        kramers_curve.push((r, -ln(kr)));
        kramers_ratio.push((r, kr / e));
    }
    let mut left = CurvesPanel::new(
        "Arrhenius plot of the escape rate 1/τ",
        Axis::linear("barrier over temperature ΔL/T"),
        Axis::linear("ln(1/τ), τ in units of η"),
    )
    .theory(Line::new("exact (Langevin)", 0, exact_curve))
    .guide(Line::new("Kramers' asymptote", 1, kramers_curve));
    let mut right = CurvesPanel::new(
        "Relative to the exact Langevin time",
        Axis::linear("barrier over temperature ΔL/T"),
        Axis::linear("time / exact time"),
    )
    .theory(Line::new("", 0, [(lo, 1.0), (hi, 1.0)]))
    .guide(Line::new("Kramers / exact", 1, kramers_ratio));
    let n_eta = p.etas.len() as f64;
    for (ei, &eta) in p.etas.iter().enumerate() {
        // Points of different eta sit at the same dL/T: shift them apart a little for reading.
        let shift = (ei as f64 - (n_eta - 1.0) / 2.0) * 0.05;
        let group = 2 + ei;
        let mine = || m.points.iter().filter(move |q| q.eta == eta);
        let sim = |f: &dyn Fn(&Configuration, f64) -> f64| -> Vec<MeasuredPoint> {
            mine()
                .map(|q| {
                    let t = q.time();
                    let [a, b] = t.ci95();
                    let (lo, hi) = (f(q, a).min(f(q, b)), f(q, a).max(f(q, b)));
                    MeasuredPoint::with_ci(q.ratio + shift, f(q, t.value), [lo, hi])
                })
                .collect()
        };
        left = left.measured(Points::new(
            format!("SGD, η = {eta}"),
            group,
            sim(&|_, v| -ln(v)),
        ));
        right = right
            .measured(Points::new(
                format!("SGD / exact, η = {eta}"),
                group,
                sim(&|q, v| v / q.exact),
            ))
            .guide(Line::new(
                format!("chain / exact, η = {eta}"),
                group,
                mine().map(|q| (q.ratio + shift, q.chain_steps * q.eta / q.exact)),
            ));
    }
    Ok(FigureData::stacked(vec![left.into(), right.into()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            etas: vec![0.01, 0.3],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "etas[1]");
        let p = Params {
            barrier_over_temperature: vec![5.0, 5.0],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "barrier_over_temperature");
        let p = Params {
            barrier: f64::NAN,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "barrier");
        let p = Params {
            trajectories: 1,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "trajectories");
    }

    /// A hand-made measurement: three dL/T at one eta, SGD exactly at the chain's time.
    fn hand_made() -> Measured {
        let well = DoubleWell { height: 1.0 };
        let points = [4.0, 5.0, 6.0]
            .iter()
            .map(|&ratio| {
                let temperature = 1.0 / ratio;
                let exact = langevin_passage_time(&well, temperature).unwrap();
                let chain_steps = 0.99 * exact / 0.01;
                Configuration {
                    ratio,
                    eta: 0.01,
                    temperature,
                    noise_scale: (2.0 * temperature / 0.01).sqrt(),
                    summary: ExitSummary {
                        steps: Estimate {
                            value: chain_steps,
                            se: 0.01 * chain_steps,
                            n: 8000,
                        },
                        steps_sd: chain_steps,
                        total_steps: 1000,
                    },
                    exact,
                    kramers: kramers_passage_time(&well, temperature),
                    chain_steps,
                }
            })
            .collect();
        let mut rng = sgd_sim::rng::Streams::new(1).stream("test", 0);
        Measured {
            trajectories: 8000,
            points,
            interval_draws: NormalDraws::draw(&mut rng, 400, 3),
        }
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let p = Params::default();
        let m = hand_made();
        let out = KramersEscape::metrics(&p, &m).unwrap();
        // SGD sits exactly on the chain: no z-score, and a 1% error against the exact time.
        assert_eq!(out.value("chain_max_abs_z"), Some(0.0));
        let err = out.value("mfpt_rel_error_max").unwrap();
        assert!((err - 0.01).abs() < 1e-12, "{err}");
        // Times proportional to the exact ones share its Arrhenius slope.
        let diff = out.value("arrhenius_slope_minus_exact").unwrap();
        assert!(diff.abs() < 1e-12, "{diff}");
        assert_eq!(
            out.values["arrhenius_slope_exact"].basis,
            claim_spec::Basis::Computed
        );
        assert_eq!(out.tables["arrhenius"].rows.len(), 3);
        // SGD at 0.99 of the exact time: 0.99 exact/Kramers over Kramers' asymptote.
        let q = &m.points[2];
        let ratio = out.value("sim_over_kramers_at_max_barrier").unwrap();
        assert!(
            (ratio - 0.99 * q.exact / q.kramers).abs() < 1e-12,
            "{ratio}"
        );
        assert_eq!(m.samples(), 3000);
        let figures = KramersEscape::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["arrhenius"].panels.len(), 2);
    }

    #[test]
    fn work_estimate_is_close_to_the_chain() {
        // The closed-form estimate is within 10% of the exact chain steps at the defaults.
        let well = DoubleWell { height: 1.0 };
        let approx = approximate_exit_steps(1.0, 0.2, 0.01);
        let chain = chain_exit_steps(&well, 0.01, 2.0 * 0.2 / 0.01).unwrap();
        assert!((approx / chain - 1.0).abs() < 0.1, "{approx} vs {chain}");
    }
}
