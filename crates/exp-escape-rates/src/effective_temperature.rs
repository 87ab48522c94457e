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
use crate::measure::{ExitSummary, PROPAGATION_REPLICATES, ols_slope, run_escapes, step_limit};
use crate::well::{START, TARGET, chain_exit_steps, langevin_passage_time};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{ln, powf};
use sgd_sim::potential::DoubleWell;
use sgd_sim::rng::standard_normal;
use sgd_sim::stats::{Estimate, NormalDraws};

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

/// The kind `escape-rates/effective-temperature`.
#[derive(Debug)]
pub struct EffectiveTemperature;

/// One measured configuration, with the theory at its own temperature.
#[derive(Clone, Debug, PartialEq)]
pub struct Configuration {
    /// The batch size; `None` for Gaussian noise.
    pub batch: Option<usize>,
    /// The step size.
    pub eta: f64,
    /// T = eta * (noise variance) / 2.
    pub temperature: f64,
    /// The exact variance of one noise draw.
    pub noise_variance: f64,
    /// Trajectories run (after `--scale`).
    pub trajectories: usize,
    /// The simulated exit steps.
    pub summary: ExitSummary,
    /// The exact Langevin mean first-passage time at `temperature` (computed).
    pub exact: f64,
    /// The exact mean exit step of a Gaussian chain of the same variance (computed).
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
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The Gaussian-noise configurations, in the order of `etas`.
    pub gaussian: Vec<Configuration>,
    /// The minibatch configurations, in the order of `minibatch`.
    pub minibatch: Vec<Configuration>,
    /// The exact Langevin time at the nominal temperature (computed).
    pub exact_time: f64,
    /// Normal deviates for the interval of the spread across eta (one per Gaussian point and row).
    pub spread_draws: NormalDraws,
    /// Normal deviates for the interval of the minibatch error at the data set's temperature.
    pub minibatch_draws: NormalDraws,
    /// Normal deviates for the interval of the minibatch error at the nominal temperature.
    pub nominal_draws: NormalDraws,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        // A minibatch step draws b per-sample gradients.
        self.gaussian
            .iter()
            .chain(&self.minibatch)
            .map(|m| m.summary.total_steps * m.batch.unwrap_or(1) as u64)
            .sum()
    }
}

/// Measures one configuration against the exact and chain predictions at its own temperature.
fn measure_config<N: GradientNoise>(
    well: &DoubleWell,
    noise: &N,
    eta: f64,
    batch: Option<usize>,
    trajectories: usize,
    purpose: &str,
    ctx: &RunContext,
) -> Result<Configuration, ExperimentError> {
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
    Ok(Configuration {
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

/// The Gaussian runs at every eta, then the minibatch runs on one data set of offsets.
fn measure_all(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
    let well = DoubleWell { height: p.barrier };
    let trajectories = ctx.scaled(p.trajectories);
    let mut gaussian = Vec::new();
    for &eta in &p.etas {
        ctx.check_cancelled()?;
        let noise = GaussianNoise {
            scale: (2.0 * p.temperature / eta).sqrt(),
        };
        let purpose = format!("effective-temperature/gaussian/eta={eta}");
        gaussian.push(measure_config(
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
        ctx.check_cancelled()?;
        let noise = MinibatchNoise::new(xi.clone(), c.batch)?;
        let purpose = format!(
            "effective-temperature/minibatch/eta={}/b={}",
            c.eta, c.batch
        );
        minibatch.push(measure_config(
            &well,
            &noise,
            c.eta,
            Some(c.batch),
            minibatch_trajectories,
            &purpose,
            ctx,
        )?);
    }
    // One stream for the three intervals, drawn in the order the metrics use them.
    let mut rng = ctx.streams().stream("effective-temperature/intervals", 0);
    let spread_draws = NormalDraws::draw(&mut rng, PROPAGATION_REPLICATES, gaussian.len());
    let minibatch_draws = NormalDraws::draw(&mut rng, PROPAGATION_REPLICATES, minibatch.len());
    let nominal_draws = NormalDraws::draw(&mut rng, PROPAGATION_REPLICATES, minibatch.len());
    Ok(Measured {
        gaussian,
        minibatch,
        exact_time: langevin_passage_time(&well, p.temperature)?,
        spread_draws,
        minibatch_draws,
        nominal_draws,
    })
}

/// Time units and steps: the spread of the escape time across eta, and the step ratio per halving
/// of eta (2^-slope of the least-squares slope of ln(steps) on ln(eta)).
fn gaussian_metrics(m: &Measured, out: &mut Metrics) -> Result<(), ExperimentError> {
    let gaussian = &m.gaussian;
    let times: Vec<Estimate> = gaussian.iter().map(Configuration::time).collect();
    let time_values: Vec<f64> = times.iter().map(|t| t.value).collect();
    out.estimate_with_interval(
        "time_units_rel_spread",
        relative_spread(&time_values),
        m.spread_draws.propagated_interval(&times, relative_spread),
    );
    let chain_times: Vec<f64> = gaussian.iter().map(|c| c.chain_steps * c.eta).collect();
    out.computed("time_units_rel_spread_chain", relative_spread(&chain_times));
    out.computed("exact_time", m.exact_time);

    let x: Vec<f64> = gaussian.iter().map(|c| ln(c.eta)).collect();
    let ln_steps: Vec<f64> = gaussian.iter().map(|c| ln(c.summary.steps.value)).collect();
    let ln_se: Vec<f64> = gaussian
        .iter()
        .map(|c| c.summary.steps.se / c.summary.steps.value)
        .collect();
    let samples = gaussian.iter().map(|c| c.trajectories).sum();
    let slope = ols_slope(&x, &ln_steps, &ln_se, samples)?;
    let [slope_lo, slope_hi] = slope.ci95();
    out.estimate_with_interval(
        "steps_ratio_per_halving",
        powf(2.0, -slope.value),
        [powf(2.0, -slope_hi), powf(2.0, -slope_lo)],
    );
    // The elasticity of the escape time (steps * eta) in eta: 0 when time counted in units of eta
    // does not depend on eta. ln(time) = ln(steps) + ln(eta), with the same relative SE.
    let ln_time: Vec<f64> = gaussian.iter().map(|c| ln(c.time().value)).collect();
    out.estimate(
        "time_units_eta_elasticity",
        ols_slope(&x, &ln_time, &ln_se, samples)?,
    );
    let ln_chain_time: Vec<f64> = gaussian.iter().map(|c| ln(c.chain_steps * c.eta)).collect();
    out.computed(
        "time_units_eta_elasticity_chain",
        ols_slope(&x, &ln_chain_time, &ln_se, samples)?.value,
    );
    let ln_chain: Vec<f64> = gaussian.iter().map(|c| ln(c.chain_steps)).collect();
    out.computed(
        "steps_ratio_per_halving_chain",
        powf(2.0, -ols_slope(&x, &ln_chain, &ln_se, samples)?.value),
    );
    let max_abs_z = gaussian
        .iter()
        .map(|c| c.z_vs_chain().abs())
        .fold(0.0, f64::max);
    out.measured("chain_max_abs_z", max_abs_z);
    Ok(())
}

/// Minibatch runs against the exact time at T = eta tr(Sigma)/(2b), and at the nominal
/// T = eta s0^2/(2b), which takes the population variance s0^2 of the offsets for the data set's
/// tr(Sigma).
fn minibatch_metrics(m: &Measured, out: &mut Metrics) {
    let minibatch = &m.minibatch;
    let mb_times: Vec<Estimate> = minibatch.iter().map(Configuration::time).collect();
    let mb_exact: Vec<f64> = minibatch.iter().map(|c| c.exact).collect();
    let max_rel = |values: &[f64]| {
        values
            .iter()
            .zip(&mb_exact)
            .map(|(v, e)| (v / e - 1.0).abs())
            .fold(0.0, f64::max)
    };
    let mb_values: Vec<f64> = mb_times.iter().map(|t| t.value).collect();
    out.estimate_with_interval(
        "minibatch_temperature_rel_error",
        max_rel(&mb_values),
        m.minibatch_draws.propagated_interval(&mb_times, max_rel),
    );
    let nominal = m.exact_time;
    let nominal_rel = |values: &[f64]| {
        values
            .iter()
            .map(|v| (v / nominal - 1.0).abs())
            .fold(0.0, f64::max)
    };
    out.estimate_with_interval(
        "minibatch_nominal_temperature_rel_error",
        nominal_rel(&mb_values),
        m.nominal_draws.propagated_interval(&mb_times, nominal_rel),
    );
    // The data set's offsets are random: its temperature and tr(Sigma) are measured.
    if let Some(c) = minibatch.first() {
        out.measured("minibatch_temperature", c.temperature);
        out.measured(
            "minibatch_trace_sigma",
            c.noise_variance * c.batch.unwrap_or(1) as f64,
        );
    }
    let mb_chain: Vec<f64> = minibatch.iter().map(|c| c.chain_steps * c.eta).collect();
    out.measured("minibatch_gaussian_chain_rel_error_max", max_rel(&mb_chain));
}

/// Every configuration, simulation and theory side by side.
fn escape_table(m: &Measured) -> Table {
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
    for c in m.gaussian.iter().chain(&m.minibatch) {
        let t = c.time();
        let [lo, hi] = t.ci95();
        table.push(row![
            if c.batch.is_some() {
                "minibatch"
            } else {
                "gaussian"
            },
            c.eta,
            c.batch.map(|b| b as f64),
            c.temperature,
            c.noise_variance,
            c.trajectories,
            c.summary.steps.value,
            c.summary.steps.se,
            t.value,
            t.se,
            lo,
            hi,
            c.exact,
            c.chain_steps * c.eta,
            t.value / c.exact,
            c.z_vs_chain()
        ]);
    }
    table
}

impl Experiment for EffectiveTemperature {
    const KIND: &'static str = "escape-rates/effective-temperature";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        measure_all(p, ctx)
    }

    fn metrics(_p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        gaussian_metrics(m, &mut out)?;
        minibatch_metrics(m, &mut out);
        out.table("escape-times", escape_table(m));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("escape-time-vs-eta", escape_figure(p, m)?);
        Ok(figures)
    }
}

/// Measured points of `configs`: the value `f` picks, with its 95% interval.
fn points(configs: &[Configuration], f: fn(&Configuration) -> Estimate) -> Vec<MeasuredPoint> {
    configs
        .iter()
        .map(|c| {
            let e = f(c);
            MeasuredPoint::with_ci(c.eta, e.value, e.ci95())
        })
        .collect()
}

/// Escape time against eta, in steps and in time units.
fn escape_figure(p: &Params, m: &Measured) -> Result<FigureData, ExperimentError> {
    let well = DoubleWell { height: p.barrier };
    let exact = m.exact_time;
    let all_etas = p.etas.iter().chain(p.minibatch.iter().map(|c| &c.eta));
    let lo = all_etas.clone().copied().fold(f64::INFINITY, f64::min) / 1.25;
    let hi = all_etas.copied().fold(f64::NEG_INFINITY, f64::max) * 1.25;
    let grid: Vec<f64> = (0..=60)
        .map(|k| lo + (hi - lo) * f64::from(k) / 60.0)
        .collect();
    let mut chain_curve = Vec::with_capacity(grid.len());
    for &eta in grid.iter().step_by(3) {
        let steps = chain_exit_steps(&well, eta, 2.0 * p.temperature / eta)?;
        chain_curve.push((eta, steps * eta));
    }
    let batches: Vec<String> = m
        .minibatch
        .iter()
        .filter_map(|c| c.batch.map(|b| b.to_string()))
        .collect();
    let mb_label = format!("minibatch SGD, b = {}", batches.join(", "));
    let mb_exact = m.minibatch.first().map_or(exact, |c| c.exact);
    let steps_of = |c: &Configuration| c.summary.steps;
    let steps_panel = CurvesPanel::new(
        "In steps",
        Axis::linear("step size η").with_range(lo, hi),
        Axis::linear("mean exit step"),
    )
    .theory(Line::new(
        "exact time / η",
        0,
        grid.iter().map(|&eta| (eta, exact / eta)),
    ))
    .guide(Line::new(
        "exact time at the minibatch T / η",
        2,
        grid.iter().map(|&eta| (eta, mb_exact / eta)),
    ))
    .measured(Points::new(
        "Gaussian-noise SGD",
        0,
        points(&m.gaussian, steps_of),
    ))
    .measured(Points::new(
        mb_label.clone(),
        2,
        points(&m.minibatch, steps_of),
    ));
    let time_panel = CurvesPanel::new(
        "In time units (steps × η)",
        Axis::linear("step size η").with_range(lo, hi),
        Axis::linear("mean escape time")
            .with_range(0.8 * mb_exact.min(exact), 1.15 * exact.max(mb_exact)),
    )
    .theory(Line::new(
        "exact Langevin time at T",
        0,
        [(lo, exact), (hi, exact)],
    ))
    .guide(Line::new("exact chain (Gaussian noise)", 1, chain_curve))
    .guide(Line::new(
        "exact Langevin time at the minibatch T",
        2,
        [(lo, mb_exact), (hi, mb_exact)],
    ))
    .measured(Points::new(
        "Gaussian-noise SGD",
        0,
        points(&m.gaussian, Configuration::time),
    ))
    .measured(Points::new(
        mb_label,
        2,
        points(&m.minibatch, Configuration::time),
    ));
    Ok(FigureData::stacked(vec![
        steps_panel.into(),
        time_panel.into(),
    ]))
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

    /// A hand-made measurement: two Gaussian and one minibatch configuration at dL/T = 5.
    fn hand_made() -> Measured {
        let well = DoubleWell { height: 1.0 };
        let exact = langevin_passage_time(&well, 0.2).unwrap();
        let config = |eta: f64, batch: Option<usize>, time: f64| Configuration {
            batch,
            eta,
            temperature: 0.2,
            noise_variance: 0.4 / eta,
            trajectories: 1000,
            summary: ExitSummary {
                steps: Estimate {
                    value: time / eta,
                    se: 0.01 * time / eta,
                    n: 1000,
                },
                steps_sd: time / eta,
                total_steps: 100,
            },
            exact,
            chain_steps: time / eta,
        };
        let mut rng = sgd_sim::rng::Streams::new(1).stream("test", 0);
        Measured {
            gaussian: vec![config(0.01, None, exact), config(0.02, None, 0.9 * exact)],
            minibatch: vec![config(0.01, Some(8), 1.05 * exact)],
            exact_time: exact,
            spread_draws: NormalDraws::draw(&mut rng, 200, 2),
            minibatch_draws: NormalDraws::draw(&mut rng, 200, 1),
            nominal_draws: NormalDraws::draw(&mut rng, 200, 1),
        }
    }

    #[test]
    fn metrics_and_figures_are_functions_of_the_measurement() {
        let p = Params::default();
        let m = hand_made();
        let out = EffectiveTemperature::metrics(&p, &m).unwrap();
        // Times 1 and 0.9 of the exact one: spread 0.1 / 0.95.
        let spread = out.value("time_units_rel_spread").unwrap();
        assert!((spread - 0.1 / 0.95).abs() < 1e-12, "{spread}");
        // Steps 1/0.01 and 0.9/0.02 of the exact time: ratio per halving 2/0.9.
        let ratio = out.value("steps_ratio_per_halving").unwrap();
        assert!((ratio - 2.0 / 0.9).abs() < 1e-9, "{ratio}");
        // Times 1 and 0.9 at eta and 2 eta: elasticity ln(0.9)/ln(2).
        let elasticity = out.value("time_units_eta_elasticity").unwrap();
        assert!(
            (elasticity - ln(0.9) / ln(2.0)).abs() < 1e-12,
            "{elasticity}"
        );
        assert_eq!(out.value("chain_max_abs_z"), Some(0.0));
        let mb = out.value("minibatch_temperature_rel_error").unwrap();
        assert!((mb - 0.05).abs() < 1e-12, "{mb}");
        assert_eq!(out.values["exact_time"].basis, claim_spec::Basis::Computed);
        assert_eq!(out.tables["escape-times"].rows.len(), 3);
        assert_eq!(m.samples(), 100 + 100 + 800);
        let figures = EffectiveTemperature::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["escape-time-vs-eta"].panels.len(), 2);
    }
}
