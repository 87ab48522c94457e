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
use crate::measure::{ExitSummary, ols_slope, propagated_interval, run_escapes, step_limit};
use crate::well::{START, TARGET, chain_exit_steps, kramers_passage_time, langevin_passage_time};
use claim_spec::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{ExperimentError, ExperimentParams, Outcome, ParamError, RunContext, Table, row};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::ln;
use sgd_sim::potential::DoubleWell;

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

/// One measured point.
struct Measured {
    ratio: f64,
    eta: f64,
    temperature: f64,
    noise_scale: f64,
    summary: ExitSummary,
    exact: f64,
    kramers: f64,
    chain_steps: f64,
}

impl Measured {
    fn z_vs_chain(&self) -> f64 {
        (self.summary.steps.value - self.chain_steps) / self.summary.steps.se
    }
}

/// Runs the claim.
///
/// # Errors
/// Invalid parameters, a failed quadrature, or a diverging trajectory.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let well = DoubleWell { height: p.barrier };
    let trajectories = ctx.scaled(p.trajectories);
    let mut points = Vec::new();
    for &ratio in &p.barrier_over_temperature {
        let temperature = p.barrier / ratio;
        let exact = langevin_passage_time(&well, temperature)?;
        let kramers = kramers_passage_time(&well, temperature);
        for &eta in &p.etas {
            let noise_scale = (2.0 * temperature / eta).sqrt();
            let chain_steps = chain_exit_steps(&well, eta, noise_scale * noise_scale)?;
            let noise = GaussianNoise { scale: noise_scale };
            let spec = EscapeSpec {
                potential: &well,
                noise: &noise,
                exit: ExitAbove(TARGET),
                eta,
                start: START,
                max_steps: step_limit(chain_steps),
            };
            let purpose = format!("kramers-escape/dl-over-t={ratio}/eta={eta}");
            let summary = run_escapes(&spec, &streams, &purpose, trajectories)?;
            points.push(Measured {
                ratio,
                eta,
                temperature,
                noise_scale,
                summary,
                exact,
                kramers,
                chain_steps,
            });
        }
    }

    let mut out = Outcome::new();
    let times: Vec<_> = points.iter().map(|m| m.summary.time(m.eta)).collect();
    let exact: Vec<f64> = points.iter().map(|m| m.exact).collect();
    let max_rel_error = |values: &[f64]| {
        values
            .iter()
            .zip(&exact)
            .map(|(v, e)| (v / e - 1.0).abs())
            .fold(0.0, f64::max)
    };
    let time_values: Vec<f64> = times.iter().map(|t| t.value).collect();
    let mut interval_rng = streams.stream("kramers-escape/intervals", 0);
    out.with_interval(
        "mfpt_rel_error_max",
        max_rel_error(&time_values),
        propagated_interval(&times, max_rel_error, &mut interval_rng),
    );
    let chain_times: Vec<f64> = points.iter().map(|m| m.chain_steps * m.eta).collect();
    out.exact("chain_rel_error_max", max_rel_error(&chain_times));
    let max_abs_z = points
        .iter()
        .map(|m| m.z_vs_chain().abs())
        .fold(0.0, f64::max);
    out.exact("chain_max_abs_z", max_abs_z);

    // Arrhenius slope: least squares of ln tau on dL/T over all points, SE from the points' SEs
    // (the SE of ln tau is SE(tau)/tau).
    let x: Vec<f64> = points.iter().map(|m| m.ratio).collect();
    let ln_sim: Vec<f64> = times.iter().map(|t| ln(t.value)).collect();
    let ln_se: Vec<f64> = times.iter().map(|t| t.se / t.value).collect();
    let total = trajectories * points.len();
    let slope = ols_slope(&x, &ln_sim, &ln_se, total)?;
    out.estimate("arrhenius_slope", slope);
    let ln_exact: Vec<f64> = exact.iter().map(|&e| ln(e)).collect();
    let exact_slope = ols_slope(&x, &ln_exact, &ln_se, total)?.value;
    out.exact("arrhenius_slope_exact", exact_slope);
    let ln_chain: Vec<f64> = chain_times.iter().map(|&c| ln(c)).collect();
    out.exact(
        "arrhenius_slope_chain",
        ols_slope(&x, &ln_chain, &ln_se, total)?.value,
    );
    let [lo, hi] = slope.ci95();
    out.with_interval(
        "arrhenius_slope_minus_exact",
        slope.value - exact_slope,
        [lo - exact_slope, hi - exact_slope],
    );

    // Kramers' asymptote against the exact time, per dL/T (it does not depend on eta).
    let kramers_error = |m: &Measured| (m.kramers / m.exact - 1.0).abs();
    let by_ratio = |pick: fn(f64, f64) -> bool| {
        points
            .iter()
            .reduce(|a, b| if pick(b.ratio, a.ratio) { b } else { a })
    };
    if let (Some(high), Some(low)) = (by_ratio(|b, a| b > a), by_ratio(|b, a| b < a)) {
        out.exact("kramers_rel_error_at_max_barrier", kramers_error(high));
        out.exact("kramers_rel_error_at_min_barrier", kramers_error(low));
        out.exact(
            "kramers_rel_error_shrink_factor",
            kramers_error(high) / kramers_error(low),
        );
    }

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
    for (m, t) in points.iter().zip(&times) {
        let [lo, hi] = t.ci95();
        table.push(row![
            m.ratio,
            m.eta,
            m.temperature,
            m.noise_scale,
            trajectories,
            m.summary.steps.value,
            m.summary.steps.se,
            t.value,
            t.se,
            lo,
            hi,
            m.exact,
            m.chain_steps * m.eta,
            m.kramers,
            t.value / m.exact,
            m.chain_steps * m.eta / m.exact,
            kramers_error(m),
            m.z_vs_chain(),
            m.summary.steps_sd / m.summary.steps.value
        ]);
    }
    out.table("arrhenius", table);
    out.figure("arrhenius", figure(p, &well, &points, &times)?);
    out.samples = points.iter().map(|m| m.summary.total_steps).sum();
    Ok(out)
}

/// The Arrhenius plot and the ratios to the exact time.
fn figure(
    p: &Params,
    well: &DoubleWell,
    points: &[Measured],
    times: &[sgd_sim::stats::Estimate],
) -> Result<FigureSpec, ExperimentError> {
    let lo = p
        .barrier_over_temperature
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        - 0.25;
    let hi = p
        .barrier_over_temperature
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
        + 0.25;
    let grid: Vec<f64> = (0..=40)
        .map(|k| lo + (hi - lo) * f64::from(k) / 40.0)
        .collect();
    // ln(1/tau) falls to the right, which leaves the legend's corner (upper right) free.
    let mut exact_curve = Vec::with_capacity(grid.len());
    let mut kramers_curve = Vec::with_capacity(grid.len());
    let mut kramers_ratio = Vec::with_capacity(grid.len());
    for &r in &grid {
        let t = p.barrier / r;
        let e = langevin_passage_time(well, t)?;
        let k = kramers_passage_time(well, t);
        exact_curve.push((r, -ln(e)));
        kramers_curve.push((r, -ln(k)));
        kramers_ratio.push((r, k / e));
    }
    let mut left = vec![
        Series::from_xy("exact (Langevin)", SeriesKind::Theory, 0, exact_curve),
        Series::from_xy("Kramers", SeriesKind::Guide, 1, kramers_curve),
    ];
    let mut right = vec![
        Series::from_xy("exact", SeriesKind::Theory, 0, [(lo, 1.0), (hi, 1.0)]),
        Series::from_xy("Kramers / exact", SeriesKind::Guide, 1, kramers_ratio),
    ];
    let n_eta = p.etas.len() as f64;
    for (ei, &eta) in p.etas.iter().enumerate() {
        // Points of different eta sit at the same dL/T: shift them apart a little for reading.
        let shift = (ei as f64 - (n_eta - 1.0) / 2.0) * 0.05;
        let color = 2 + ei;
        let mine = || points.iter().zip(times).filter(move |(m, _)| m.eta == eta);
        left.push(Series {
            label: format!("SGD, eta = {eta}"),
            kind: SeriesKind::Simulation,
            color,
            points: mine()
                .map(|(m, t)| {
                    let [a, b] = t.ci95();
                    Point::with_interval(m.ratio + shift, -ln(t.value), [-ln(b), -ln(a)])
                })
                .collect(),
        });
        right.push(Series {
            label: format!("SGD / exact, eta = {eta}"),
            kind: SeriesKind::Simulation,
            color,
            points: mine()
                .map(|(m, t)| {
                    let [a, b] = t.ci95();
                    Point::with_interval(
                        m.ratio + shift,
                        t.value / m.exact,
                        [a / m.exact, b / m.exact],
                    )
                })
                .collect(),
        });
        right.push(Series::from_xy(
            format!("chain / exact, eta = {eta}"),
            SeriesKind::Guide,
            color,
            mine().map(|(m, _)| (m.ratio + shift, m.chain_steps * m.eta / m.exact)),
        ));
    }
    Ok(FigureSpec {
        panels: vec![
            Panel {
                title: "Arrhenius plot of the escape rate 1/tau".into(),
                x: Axis::linear("dL/T"),
                y: Axis::linear("ln(1/tau), tau in units of eta"),
                series: left,
                labels: Vec::new(),
            },
            Panel {
                title: "Relative to the exact Langevin time".into(),
                x: Axis::linear("dL/T"),
                y: Axis::linear("time / exact time").with_range(0.84, 1.14),
                series: right,
                labels: Vec::new(),
            },
        ],
    })
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

    #[test]
    fn work_estimate_is_close_to_the_chain() {
        // The closed-form estimate is within 10% of the exact chain steps at the defaults.
        let well = DoubleWell { height: 1.0 };
        let approx = approximate_exit_steps(1.0, 0.2, 0.01);
        let chain = chain_exit_steps(&well, 0.01, 2.0 * 0.2 / 0.01).unwrap();
        assert!((approx / chain - 1.0).abs() < 0.1, "{approx} vs {chain}");
    }
}
