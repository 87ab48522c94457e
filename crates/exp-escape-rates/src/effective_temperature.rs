//! Claim `effective-temperature`: the escape time of SGD from the double well depends on the step
//! size and the noise only through T = eta * (noise variance) / 2, when time is counted in units of
//! eta; and for minibatch noise the variance is tr(Sigma)/b, so T = eta tr(Sigma) / (2b).
//!
//! - Gaussian noise: at fixed T the step sizes eta differ and s = sqrt(2T/eta); the mean exit time
//!   steps * eta must agree across eta, so the step count doubles per halving of eta.
//! - Minibatch noise: per-sample losses l_i(w) = L(w) + xi_i w with N offsets xi_i drawn once from
//!   N(0, s0^2) and centred, batches of b drawn with replacement; the minibatch gradient is
//!   L'(w) + mean of b offsets. Pairs (eta, b) with the same eta/b share
//!   T = eta tr(Sigma)/(2b), tr(Sigma) = (1/N) sum xi_i^2, and must escape in the exact Langevin
//!   time at that T.

use crate::kernel::{EscapeSpec, ExitAbove, GaussianNoise, GradientNoise, MinibatchNoise};
use crate::kramers_escape::{approximate_exit_steps, validate_etas};
use crate::measure::{ExitSummary, ols_slope, propagated_interval, run_escapes, step_limit};
use crate::well::{START, TARGET, chain_exit_steps, langevin_passage_time};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{ln, powf};
use sgd_sim::potential::DoubleWell;
use sgd_sim::rng::standard_normal;
use sgd_sim::stats::Estimate;

/// One minibatch configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinibatchConfig {
    /// The step size eta.
    pub eta: f64,
    /// The batch size b (indices drawn with replacement).
    pub batch: usize,
}

/// Parameters of `escape-rates/effective-temperature`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The barrier dL = h of L(w) = h (w^2 - 1)^2.
    pub barrier: f64,
    /// The temperature T = eta s^2 / 2 shared by the Gaussian runs, and the target of the
    /// minibatch runs (s0 is set so that eta s0^2 / (2b) = T).
    pub temperature: f64,
    /// Step sizes of the Gaussian-noise runs (at least two distinct values).
    pub etas: Vec<f64>,
    /// Trajectories per Gaussian step size.
    pub trajectories: usize,
    /// Data points N of the minibatch runs.
    pub data_points: usize,
    /// Minibatch configurations; all share eta/b, hence the temperature.
    pub minibatch: Vec<MinibatchConfig>,
    /// Trajectories per minibatch configuration.
    pub minibatch_trajectories: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            barrier: 1.0,
            temperature: 0.2,
            etas: vec![0.005, 0.01, 0.02],
            trajectories: 8000,
            data_points: 1000,
            minibatch: vec![
                MinibatchConfig {
                    eta: 0.005,
                    batch: 4,
                },
                MinibatchConfig {
                    eta: 0.01,
                    batch: 8,
                },
            ],
            minibatch_trajectories: 8000,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::positive("barrier", self.barrier)?;
        ParamError::positive("temperature", self.temperature)?;
        if self.barrier / self.temperature > 30.0 {
            return Err(ParamError::new(
                "temperature",
                format!(
                    "barrier/temperature must be at most 30, got {}",
                    self.barrier / self.temperature
                ),
            ));
        }
        validate_etas("etas", &self.etas, self.barrier)?;
        if self.etas.iter().all(|&e| e == self.etas[0]) {
            return Err(ParamError::new(
                "etas",
                "needs at least two distinct step sizes",
            ));
        }
        ParamError::at_least("trajectories", self.trajectories as u64, 100)?;
        ParamError::at_least("data_points", self.data_points as u64, 2)?;
        ParamError::at_least(
            "minibatch_trajectories",
            self.minibatch_trajectories as u64,
            100,
        )?;
        let Some(first) = self.minibatch.first() else {
            return Err(ParamError::new("minibatch", "must not be empty"));
        };
        for (i, c) in self.minibatch.iter().enumerate() {
            ParamError::at_least(&format!("minibatch[{i}].batch"), c.batch as u64, 1)?;
            validate_etas(&format!("minibatch[{i}].eta"), &[c.eta], self.barrier)
                .map_err(|e| ParamError::new(format!("minibatch[{i}].eta"), e.message))?;
            let ratio = c.eta / c.batch as f64;
            let first_ratio = first.eta / first.batch as f64;
            if (ratio / first_ratio - 1.0).abs() > 1e-12 {
                return Err(ParamError::new(
                    format!("minibatch[{i}]"),
                    format!(
                        "eta/batch must equal that of minibatch[0] ({first_ratio}) so all share one temperature, got {ratio}"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let gaussian: f64 = self
            .etas
            .iter()
            .map(|&eta| approximate_exit_steps(self.barrier, self.temperature, eta))
            .sum::<f64>()
            * self.trajectories as f64;
        // A minibatch step costs b per-sample gradients.
        let minibatch: f64 = self
            .minibatch
            .iter()
            .map(|c| approximate_exit_steps(self.barrier, self.temperature, c.eta) * c.batch as f64)
            .sum::<f64>()
            * self.minibatch_trajectories as f64;
        gaussian + minibatch
    }
}

/// One measured configuration.
struct Measured {
    /// None for Gaussian noise.
    batch: Option<usize>,
    eta: f64,
    temperature: f64,
    noise_variance: f64,
    trajectories: usize,
    summary: ExitSummary,
    exact: f64,
    chain_steps: f64,
}

impl Measured {
    fn time(&self) -> Estimate {
        self.summary.time(self.eta)
    }
    fn z_vs_chain(&self) -> f64 {
        (self.summary.steps.value - self.chain_steps) / self.summary.steps.se
    }
}

/// Measures one configuration against the exact and chain predictions at its own temperature.
fn measure<N: GradientNoise>(
    well: &DoubleWell,
    noise: &N,
    eta: f64,
    batch: Option<usize>,
    trajectories: usize,
    purpose: &str,
    ctx: &RunContext,
) -> Result<Measured, ExperimentError> {
    let noise_variance = noise.variance();
    let temperature = eta * noise_variance / 2.0;
    let exact = langevin_passage_time(well, temperature)?;
    let chain_steps = chain_exit_steps(well, eta, noise_variance)?;
    let spec = EscapeSpec {
        potential: well,
        noise,
        exit: ExitAbove(TARGET),
        eta,
        start: START,
        max_steps: step_limit(chain_steps),
    };
    let summary = run_escapes(&spec, &ctx.streams(), purpose, trajectories)?;
    Ok(Measured {
        batch,
        eta,
        temperature,
        noise_variance,
        trajectories,
        summary,
        exact,
        chain_steps,
    })
}

/// The centred offsets xi_i: N standard normals from the claim's data stream, centred to mean zero
/// and scaled by s0.
fn offsets(ctx: &RunContext, data_points: usize, scale: f64) -> Vec<f64> {
    let mut rng = ctx.streams().stream("effective-temperature/offsets", 0);
    let raw: Vec<f64> = (0..data_points)
        .map(|_| standard_normal(&mut rng))
        .collect();
    let mean = raw.iter().sum::<f64>() / data_points as f64;
    raw.iter().map(|x| scale * (x - mean)).collect()
}

/// (max - min) / mean of the values.
fn relative_spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (max - min) / mean
}

/// Runs the claim.
///
/// # Errors
/// Invalid parameters, a failed quadrature, or a diverging trajectory.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let well = DoubleWell { height: p.barrier };
    let trajectories = ctx.scaled(p.trajectories);
    let mut gaussian = Vec::new();
    for &eta in &p.etas {
        let noise = GaussianNoise {
            scale: (2.0 * p.temperature / eta).sqrt(),
        };
        let purpose = format!("effective-temperature/gaussian/eta={eta}");
        gaussian.push(measure(
            &well,
            &noise,
            eta,
            None,
            trajectories,
            &purpose,
            ctx,
        )?);
    }
    let first = p
        .minibatch
        .first()
        .ok_or_else(|| ExperimentError::InvalidParams("minibatch must not be empty".into()))?;
    let offset_scale = (2.0 * p.temperature * first.batch as f64 / first.eta).sqrt();
    let xi = offsets(ctx, p.data_points, offset_scale);
    let minibatch_trajectories = ctx.scaled(p.minibatch_trajectories);
    let mut minibatch = Vec::new();
    for c in &p.minibatch {
        let noise = MinibatchNoise::new(xi.clone(), c.batch)?;
        let purpose = format!(
            "effective-temperature/minibatch/eta={}/b={}",
            c.eta, c.batch
        );
        minibatch.push(measure(
            &well,
            &noise,
            c.eta,
            Some(c.batch),
            minibatch_trajectories,
            &purpose,
            ctx,
        )?);
    }

    let mut out = Outcome::new();
    let mut interval_rng = ctx.streams().stream("effective-temperature/intervals", 0);

    // Time units: the spread across eta, measured and as the chain predicts it.
    let times: Vec<Estimate> = gaussian.iter().map(Measured::time).collect();
    let time_values: Vec<f64> = times.iter().map(|t| t.value).collect();
    out.with_interval(
        "time_units_rel_spread",
        relative_spread(&time_values),
        propagated_interval(&times, relative_spread, &mut interval_rng),
    );
    let chain_times: Vec<f64> = gaussian.iter().map(|m| m.chain_steps * m.eta).collect();
    out.exact("time_units_rel_spread_chain", relative_spread(&chain_times));
    let exact_time = langevin_passage_time(&well, p.temperature)?;
    out.exact("exact_time", exact_time);

    // Steps: the least-squares slope of ln(steps) on ln(eta) gives the ratio per halving 2^-slope.
    let x: Vec<f64> = gaussian.iter().map(|m| ln(m.eta)).collect();
    let ln_steps: Vec<f64> = gaussian.iter().map(|m| ln(m.summary.steps.value)).collect();
    let ln_se: Vec<f64> = gaussian
        .iter()
        .map(|m| m.summary.steps.se / m.summary.steps.value)
        .collect();
    let samples = trajectories * gaussian.len();
    let slope = ols_slope(&x, &ln_steps, &ln_se, samples)?;
    let [slope_lo, slope_hi] = slope.ci95();
    out.with_interval(
        "steps_ratio_per_halving",
        powf(2.0, -slope.value),
        [powf(2.0, -slope_hi), powf(2.0, -slope_lo)],
    );
    let ln_chain: Vec<f64> = gaussian.iter().map(|m| ln(m.chain_steps)).collect();
    out.exact(
        "steps_ratio_per_halving_chain",
        powf(2.0, -ols_slope(&x, &ln_chain, &ln_se, samples)?.value),
    );

    // Minibatch: against the exact time at T = eta tr(Sigma)/(2b).
    let mb_times: Vec<Estimate> = minibatch.iter().map(Measured::time).collect();
    let mb_exact: Vec<f64> = minibatch.iter().map(|m| m.exact).collect();
    let max_rel = |values: &[f64]| {
        values
            .iter()
            .zip(&mb_exact)
            .map(|(v, e)| (v / e - 1.0).abs())
            .fold(0.0, f64::max)
    };
    let mb_values: Vec<f64> = mb_times.iter().map(|t| t.value).collect();
    out.with_interval(
        "minibatch_temperature_rel_error",
        max_rel(&mb_values),
        propagated_interval(&mb_times, max_rel, &mut interval_rng),
    );
    // The same runs against the exact time at the nominal T = eta s0^2/(2b), which takes the
    // population variance s0^2 of the offsets for the data set's tr(Sigma).
    let nominal = exact_time;
    let nominal_rel = |values: &[f64]| {
        values
            .iter()
            .map(|v| (v / nominal - 1.0).abs())
            .fold(0.0, f64::max)
    };
    out.with_interval(
        "minibatch_nominal_temperature_rel_error",
        nominal_rel(&mb_values),
        propagated_interval(&mb_times, nominal_rel, &mut interval_rng),
    );
    if let Some(m) = minibatch.first() {
        out.exact("minibatch_temperature", m.temperature);
        out.exact(
            "minibatch_trace_sigma",
            m.noise_variance * m.batch.unwrap_or(1) as f64,
        );
    }
    let mb_chain: Vec<f64> = minibatch.iter().map(|m| m.chain_steps * m.eta).collect();
    out.exact("minibatch_gaussian_chain_rel_error_max", max_rel(&mb_chain));

    let max_abs_z = gaussian
        .iter()
        .map(|m| m.z_vs_chain().abs())
        .fold(0.0, f64::max);
    out.exact("chain_max_abs_z", max_abs_z);

    let mut table = Table::new([
        "noise",
        "eta",
        "batch",
        "temperature",
        "noise_variance",
        "trajectories",
        "mean_steps",
        "mean_steps_se",
        "time",
        "time_se",
        "time_lo",
        "time_hi",
        "exact_time",
        "chain_time",
        "sim_over_exact",
        "z_vs_chain",
    ]);
    for m in gaussian.iter().chain(&minibatch) {
        let t = m.time();
        let [lo, hi] = t.ci95();
        table.push(row![
            if m.batch.is_some() {
                "minibatch"
            } else {
                "gaussian"
            },
            m.eta,
            m.batch.map(|b| b as f64),
            m.temperature,
            m.noise_variance,
            m.trajectories,
            m.summary.steps.value,
            m.summary.steps.se,
            t.value,
            t.se,
            lo,
            hi,
            m.exact,
            m.chain_steps * m.eta,
            t.value / m.exact,
            m.z_vs_chain()
        ]);
    }
    out.table("escape-times", table);
    out.figure(
        "escape-time-vs-eta",
        figure(p, &well, exact_time, &gaussian, &minibatch)?,
    );
    out.samples = gaussian
        .iter()
        .chain(&minibatch)
        .map(|m| m.summary.total_steps * m.batch.unwrap_or(1) as u64)
        .sum();
    Ok(out)
}

/// Escape time against eta, in steps and in time units.
fn figure(
    p: &Params,
    well: &DoubleWell,
    exact: f64,
    gaussian: &[Measured],
    minibatch: &[Measured],
) -> Result<FigureSpec, ExperimentError> {
    let all_etas = p.etas.iter().chain(p.minibatch.iter().map(|c| &c.eta));
    let lo = all_etas.clone().copied().fold(f64::INFINITY, f64::min) / 1.25;
    let hi = all_etas.copied().fold(f64::NEG_INFINITY, f64::max) * 1.25;
    let grid: Vec<f64> = (0..=12)
        .map(|k| lo * powf(hi / lo, f64::from(k) / 12.0))
        .collect();
    let mut chain_curve = Vec::with_capacity(grid.len());
    for &eta in &grid {
        let steps = chain_exit_steps(well, eta, 2.0 * p.temperature / eta)?;
        chain_curve.push((eta, steps * eta));
    }
    let sim_steps = |ms: &[Measured]| -> Vec<Point> {
        ms.iter()
            .map(|m| Point::with_interval(m.eta, m.summary.steps.value, m.summary.steps.ci95()))
            .collect()
    };
    let sim_time = |ms: &[Measured]| -> Vec<Point> {
        ms.iter()
            .map(|m| {
                let t = m.time();
                Point::with_interval(m.eta, t.value, t.ci95())
            })
            .collect()
    };
    let batches: Vec<String> = minibatch
        .iter()
        .filter_map(|m| m.batch.map(|b| b.to_string()))
        .collect();
    let mb_label = format!("minibatch SGD, b = {}", batches.join(", "));
    let mb_exact = minibatch.first().map_or(exact, |m| m.exact);
    let steps_panel = Panel {
        title: "In steps".into(),
        x: Axis::linear("eta").with_range(0.0, hi),
        y: Axis::log("mean exit step"),
        series: vec![
            Series::from_xy(
                "exact time / eta",
                SeriesKind::Theory,
                0,
                grid.iter().map(|&eta| (eta, exact / eta)),
            ),
            Series {
                label: "Gaussian-noise SGD".into(),
                kind: SeriesKind::Simulation,
                color: 0,
                points: sim_steps(gaussian),
            },
            Series::from_xy(
                "exact time at the minibatch T / eta",
                SeriesKind::Guide,
                2,
                grid.iter().map(|&eta| (eta, mb_exact / eta)),
            ),
            Series {
                label: mb_label.clone(),
                kind: SeriesKind::Simulation,
                color: 2,
                points: sim_steps(minibatch),
            },
        ],
        labels: Vec::new(),
    };
    let time_panel = Panel {
        title: "In time units (steps x eta)".into(),
        x: Axis::linear("eta").with_range(0.0, hi),
        y: Axis::linear("mean escape time")
            .with_range(0.8 * mb_exact.min(exact), 1.15 * exact.max(mb_exact)),
        series: vec![
            Series::from_xy(
                "exact Langevin time at T",
                SeriesKind::Theory,
                0,
                [(lo, exact), (hi, exact)],
            ),
            Series::from_xy(
                "exact chain (Gaussian noise)",
                SeriesKind::Guide,
                1,
                chain_curve,
            ),
            Series::from_xy(
                "exact Langevin time at the minibatch T",
                SeriesKind::Guide,
                2,
                [(lo, mb_exact), (hi, mb_exact)],
            ),
            Series {
                label: "Gaussian-noise SGD".into(),
                kind: SeriesKind::Simulation,
                color: 0,
                points: sim_time(gaussian),
            },
            Series {
                label: mb_label,
                kind: SeriesKind::Simulation,
                color: 2,
                points: sim_time(minibatch),
            },
        ],
        labels: Vec::new(),
    };
    Ok(FigureSpec {
        panels: vec![steps_panel, time_panel],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(Params::default().validate().is_ok());
        let mut p = Params::default();
        p.minibatch[1].batch = 4;
        assert_eq!(p.validate().unwrap_err().key, "minibatch[1]");
        let mut p = Params::default();
        p.minibatch[0].batch = 0;
        assert_eq!(p.validate().unwrap_err().key, "minibatch[0].batch");
        let p = Params {
            minibatch: Vec::new(),
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "minibatch");
        let p = Params {
            etas: vec![0.01],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "etas");
    }

    #[test]
    fn offsets_are_centred_and_their_trace_sets_the_temperature() {
        // Centred to rounding; tr(Sigma) of N = 1000 normals of variance s0^2 is s0^2 (N-1)/N
        // in expectation with relative SD sqrt(2/N) = 4.5%: within 5 SD.
        let ctx = RunContext::new("t", 1);
        let xi = offsets(&ctx, 1000, 2.0);
        let mean = xi.iter().sum::<f64>() / 1000.0;
        assert!(mean.abs() < 1e-12);
        let noise = MinibatchNoise::new(xi, 4).unwrap();
        assert!((noise.trace_sigma() / 4.0 - 1.0).abs() < 5.0 * (2.0f64 / 1000.0).sqrt());
    }

    #[test]
    fn spread_is_range_over_mean() {
        assert!((relative_spread(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-15);
    }
}
