//! Claim `confusion-ball`: with a constant step, SGD settles in a ball whose size grows with eta and
//! the noise variance.
//!
//! SGD on the diagonal quadratic f(w) = (1/2) sum h_i w_i^2 with additive Gaussian gradient noise of
//! covariance diag(c)/b. Each coordinate is an AR(1) process, w_i' = (1 - eta h_i) w_i - eta
//! sqrt(c_i/b) xi_i, with stationary variance eta c_i / (b h_i (2 - eta h_i)), so the stationary
//! excess loss is exactly
//!
//!   L(eta, b) = (eta / 2b) sum_i c_i / (2 - eta h_i)
//!
//! (the noisy quadratic model of Zhang et al. 2019; sgd-sim's `NoisyQuadratic::stationary_loss`).
//! With the temperature T = eta tr(C) / (2b), L / T = sum_i c_i / (2 - eta h_i) / sum_i c_i, which
//! is 1/2 + O(eta h): the ball size is proportional to the temperature, not inversely.
//!
//! Measurement: each replica starts at w = 0, runs a burn-in of several relaxation times
//! 1/(eta h_min), then averages the loss over the following steps; replicas are independent, so the
//! standard error comes from their spread.

use crate::slopes::pooled;
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{ln, powf};
use sgd_sim::noisy_quadratic::NoisyQuadratic;
use sgd_sim::parallel::try_trajectories;
use sgd_sim::rng::{Stream, standard_normal};
use sgd_sim::stats::{Estimate, mean_estimate, weighted_linear_fit};

use crate::recursions::geometric_curvatures;

/// Parameters of `convergence-rates/confusion-ball`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Dimension d.
    pub dim: usize,
    /// Smallest curvature h_min.
    pub curvature_min: f64,
    /// Largest curvature h_max (curvatures are spaced geometrically in between).
    pub curvature_max: f64,
    /// Per-example gradient noise variance c_i (the same in every coordinate).
    pub noise_variance: f64,
    /// Step sizes eta of the grid.
    pub etas: Vec<f64>,
    /// Batch sizes b of the grid.
    pub batch_sizes: Vec<usize>,
    /// The small-eta range of the slope fit: eta h_max at most this.
    pub small_eta_h_max: f64,
    /// Independent replicas per (eta, b).
    pub replicas: usize,
    /// Burn-in, in relaxation times 1/(eta h_min) of the slowest coordinate.
    pub burn_in_relaxation_times: f64,
    /// Averaging window, in relaxation times 1/(eta h_min).
    pub average_relaxation_times: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            dim: 10,
            curvature_min: 0.1,
            curvature_max: 1.0,
            noise_variance: 1.0,
            etas: vec![0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3],
            batch_sizes: vec![1, 4, 16],
            small_eta_h_max: 0.03,
            replicas: 64,
            burn_in_relaxation_times: 3.0,
            average_relaxation_times: 25.0,
        }
    }
}

impl Params {
    fn steps(&self, eta: f64) -> (u64, u64) {
        let relaxation = 1.0 / (eta * self.curvature_min);
        (
            (self.burn_in_relaxation_times * relaxation).ceil() as u64,
            (self.average_relaxation_times * relaxation).ceil() as u64,
        )
    }

    /// Indices of the step sizes with eta h_max <= `small_eta_h_max`.
    fn small_etas(&self) -> Vec<usize> {
        (0..self.etas.len())
            .filter(|&i| self.etas[i] * self.curvature_max <= self.small_eta_h_max * (1.0 + 1e-12))
            .collect()
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("dim", self.dim as u64, 1)?;
        ParamError::positive("curvature_min", self.curvature_min)?;
        ParamError::positive("curvature_max", self.curvature_max)?;
        if self.curvature_max < self.curvature_min {
            return Err(ParamError::new(
                "curvature_max",
                "must be at least curvature_min",
            ));
        }
        ParamError::positive("noise_variance", self.noise_variance)?;
        ParamError::all_positive("etas", &self.etas)?;
        for (i, eta) in self.etas.iter().enumerate() {
            if eta * self.curvature_max >= 2.0 {
                return Err(ParamError::new(
                    format!("etas[{i}]"),
                    format!(
                        "eta h_max must be below 2 for a stationary law, got {}",
                        eta * self.curvature_max
                    ),
                ));
            }
        }
        if self.etas.windows(2).any(|w| w[1] <= w[0]) {
            return Err(ParamError::new("etas", "must be increasing"));
        }
        if self.batch_sizes.len() < 2 {
            return Err(ParamError::new(
                "batch_sizes",
                "needs at least two batch sizes for the 1/b slope",
            ));
        }
        for (i, &b) in self.batch_sizes.iter().enumerate() {
            if b == 0 {
                return Err(ParamError::new(
                    format!("batch_sizes[{i}]"),
                    "must be positive",
                ));
            }
        }
        if self.batch_sizes.windows(2).any(|w| w[1] <= w[0]) {
            return Err(ParamError::new("batch_sizes", "must be increasing"));
        }
        ParamError::positive("small_eta_h_max", self.small_eta_h_max)?;
        if self.small_etas().len() < 2 {
            return Err(ParamError::new(
                "small_eta_h_max",
                "must admit at least two step sizes of the grid for the slope",
            ));
        }
        ParamError::at_least("replicas", self.replicas as u64, 2)?;
        ParamError::positive("burn_in_relaxation_times", self.burn_in_relaxation_times)?;
        ParamError::positive("average_relaxation_times", self.average_relaxation_times)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let per_replica: f64 = self
            .etas
            .iter()
            .map(|&eta| {
                let (burn, average) = self.steps(eta);
                (burn + average) as f64
            })
            .sum();
        per_replica * (self.dim * self.batch_sizes.len() * self.replicas) as f64
    }
}

/// One replica: the time-averaged excess loss after burn-in.
fn replica(
    curvatures: &[f64],
    noise_std: f64,
    eta: f64,
    burn_in: u64,
    average: u64,
    rng: &mut Stream,
) -> Result<f64, ExperimentError> {
    let d = curvatures.len();
    let mut w = vec![0.0; d];
    let mut sum_sq = vec![0.0; d];
    for step in 0..burn_in + average {
        let measuring = step >= burn_in;
        for i in 0..d {
            let gradient = curvatures[i] * w[i] + noise_std * standard_normal(rng);
            w[i] -= eta * gradient;
            if measuring {
                sum_sq[i] += w[i] * w[i];
            }
        }
    }
    let loss = 0.5
        * curvatures
            .iter()
            .zip(&sum_sq)
            .map(|(h, s)| h * s)
            .sum::<f64>()
        / average as f64;
    if !loss.is_finite() {
        return Err(ExperimentError::Diverged {
            step: burn_in + average,
            reason: format!("the time-averaged loss is {loss} at eta = {eta}"),
        });
    }
    Ok(loss)
}

/// Runs the claim.
///
/// # Errors
/// A run that diverges (never, for validated parameters) or a degenerate fit.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let curvatures = geometric_curvatures(p.dim, p.curvature_min, p.curvature_max);
    let model = NoisyQuadratic {
        curvatures: curvatures.clone(),
        noise: vec![p.noise_variance; p.dim],
        initial: vec![0.0; p.dim],
    };
    let trace_c = p.noise_variance * p.dim as f64;
    let replicas = ctx.scaled(p.replicas).max(2);
    let configs: Vec<(f64, usize)> = p
        .etas
        .iter()
        .flat_map(|&eta| p.batch_sizes.iter().map(move |&b| (eta, b)))
        .collect();
    let losses = try_trajectories(&streams, "replica", configs.len() * replicas, |i, rng| {
        let (eta, b) = configs[i / replicas];
        let (burn, average) = p.steps(eta);
        let noise_std = (p.noise_variance / b as f64).sqrt();
        replica(&curvatures, noise_std, eta, burn, average, rng)
    })?;

    let mut table = Table::new([
        "eta",
        "batch_size",
        "temperature",
        "loss_sim",
        "loss_sim_lo",
        "loss_sim_hi",
        "loss_sim_se",
        "loss_exact",
        "rel_error",
        "z",
        "loss_over_temperature_sim",
        "loss_over_temperature_exact",
    ]);
    let mut estimates: Vec<Estimate> = Vec::with_capacity(configs.len());
    let mut max_abs_z: f64 = 0.0;
    let mut max_rel: f64 = 0.0;
    let mut temperatures = Vec::with_capacity(configs.len());
    for (c, &(eta, b)) in configs.iter().enumerate() {
        let e = mean_estimate(&losses[c * replicas..(c + 1) * replicas]);
        let exact = model.stationary_loss(eta, b as f64);
        let temperature = eta * trace_c / (2.0 * b as f64);
        let z = e.z_score(exact);
        let rel = e.value / exact - 1.0;
        max_abs_z = max_abs_z.max(z.abs());
        max_rel = max_rel.max(rel.abs());
        let [lo, hi] = e.ci95();
        table.push(row![
            eta,
            b,
            temperature,
            e.value,
            lo,
            hi,
            e.se,
            exact,
            rel,
            z,
            e.value / temperature,
            exact / temperature
        ]);
        estimates.push(e);
        temperatures.push(temperature);
    }
    let mut out = Outcome::new();
    out.exact("stationary_max_abs_z", max_abs_z);
    out.exact("stationary_rel_error_max", max_rel);

    // Slope in eta on the small-eta range, one weighted fit per b, pooled over b.
    let small = p.small_etas();
    let nb = p.batch_sizes.len();
    let mut eta_slopes = Vec::with_capacity(nb);
    let mut eta_slopes_exact = Vec::with_capacity(nb);
    for (bi, &b) in p.batch_sizes.iter().enumerate() {
        let (x, y, s, y_exact): (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) = small
            .iter()
            .map(|&ei| {
                let eta = p.etas[ei];
                let e = estimates[ei * nb + bi];
                (
                    ln(eta),
                    ln(e.value),
                    e.se / e.value,
                    ln(model.stationary_loss(eta, b as f64)),
                )
            })
            .fold((vec![], vec![], vec![], vec![]), |mut acc, v| {
                acc.0.push(v.0);
                acc.1.push(v.1);
                acc.2.push(v.2);
                acc.3.push(v.3);
                acc
            });
        eta_slopes.push(weighted_linear_fit(&x, &y, &s).slope_estimate());
        eta_slopes_exact.push(weighted_linear_fit(&x, &y_exact, &s).slope);
    }
    let eta_slope = pooled(&eta_slopes)?;
    out.estimate("eta_slope_small", eta_slope);
    out.exact(
        "eta_slope_small_exact",
        eta_slopes_exact.iter().sum::<f64>() / nb as f64,
    );

    // Slope in b at each eta, pooled over eta.
    let x_b: Vec<f64> = p.batch_sizes.iter().map(|&b| ln(b as f64)).collect();
    let mut batch_slopes = Vec::with_capacity(p.etas.len());
    for ei in 0..p.etas.len() {
        let group = &estimates[ei * nb..(ei + 1) * nb];
        let y: Vec<f64> = group.iter().map(|e| ln(e.value)).collect();
        let s: Vec<f64> = group.iter().map(|e| e.se / e.value).collect();
        batch_slopes.push(weighted_linear_fit(&x_b, &y, &s).slope_estimate());
    }
    out.estimate("batch_slope", pooled(&batch_slopes)?);

    // Ball size over temperature. Exactly, L/T = sum c_i/(2 - eta h_i) / sum c_i depends on eta
    // only and increases with it, so its spread over the grid is between the smallest and the
    // largest eta. Measured: r(eta) = mean over b of L/T at each end; the spread r(max)/r(min) - 1
    // with a delta-method SE from the independent per-point SEs (no max/min over noisy values,
    // which would select upwards).
    let ratio_at = |ei: usize| -> Estimate {
        let group = &estimates[ei * nb..(ei + 1) * nb];
        let temps = &temperatures[ei * nb..(ei + 1) * nb];
        let value = group
            .iter()
            .zip(temps)
            .map(|(e, t)| e.value / t)
            .sum::<f64>()
            / nb as f64;
        let variance = group
            .iter()
            .zip(temps)
            .map(|(e, t)| (e.se / t).powi(2))
            .sum::<f64>()
            / (nb * nb) as f64;
        Estimate {
            value,
            se: variance.sqrt(),
            n: replicas * nb,
        }
    };
    let low = ratio_at(0);
    let high = ratio_at(p.etas.len() - 1);
    let spread = high.value / low.value - 1.0;
    let spread_se = (high.value / low.value)
        * ((high.se / high.value).powi(2) + (low.se / low.value).powi(2)).sqrt();
    out.estimate(
        "ball_over_temperature_rel_spread",
        Estimate {
            value: spread,
            se: spread_se,
            n: replicas * nb,
        },
    );
    let exact_ratio = |eta: f64| model.stationary_loss(eta, 1.0) / (eta * trace_c / 2.0);
    out.exact(
        "ball_over_temperature_rel_spread_exact",
        exact_ratio(p.etas[p.etas.len() - 1]) / exact_ratio(p.etas[0]) - 1.0,
    );
    out.estimate("ball_over_temperature_at_min_eta", low);
    out.estimate("ball_over_temperature_at_max_eta", high);

    // The post's "uncertainty principle": ball size x temperature about constant.
    let products: Vec<f64> = estimates
        .iter()
        .zip(&temperatures)
        .map(|(e, t)| e.value * t)
        .collect();
    let pmax = products.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pmin = products.iter().copied().fold(f64::INFINITY, f64::min);
    out.exact("ball_times_temperature_max_over_min", pmax / pmin);

    out.table("stationary-loss", table);
    out.figure(
        "excess-loss",
        figure(p, &model, &configs, &estimates, &temperatures, trace_c),
    );
    out.samples = configs
        .iter()
        .map(|&(eta, _)| {
            let (burn, average) = p.steps(eta);
            (burn + average) * p.dim as u64 * replicas as u64
        })
        .sum();
    Ok(out)
}

fn figure(
    p: &Params,
    model: &NoisyQuadratic,
    configs: &[(f64, usize)],
    estimates: &[Estimate],
    temperatures: &[f64],
    trace_c: f64,
) -> FigureSpec {
    let nb = p.batch_sizes.len();
    let eta_lo = p.etas[0];
    let eta_hi = p.etas[p.etas.len() - 1];
    let dense: Vec<f64> = (0..=100)
        .map(|k| eta_lo * powf(eta_hi / eta_lo, f64::from(k) / 100.0))
        .collect();
    let mut loss_series = Vec::new();
    let mut ratio_series = Vec::new();
    for (bi, &b) in p.batch_sizes.iter().enumerate() {
        let bf = b as f64;
        let points = |f: &dyn Fn(usize) -> (f64, f64, [f64; 2])| -> Vec<Point> {
            configs
                .iter()
                .enumerate()
                .filter(|(c, _)| c % nb == bi)
                .map(|(c, _)| {
                    let (x, y, ci) = f(c);
                    Point::with_interval(x, y, ci)
                })
                .collect()
        };
        loss_series.push(Series {
            label: format!("b = {b}"),
            kind: SeriesKind::Simulation,
            color: bi,
            points: points(&|c| (configs[c].0, estimates[c].value, estimates[c].ci95())),
        });
        loss_series.push(Series::from_xy(
            "",
            SeriesKind::Theory,
            bi,
            dense
                .iter()
                .map(|&eta| (eta, model.stationary_loss(eta, bf))),
        ));
        ratio_series.push(Series {
            label: format!("b = {b}"),
            kind: SeriesKind::Simulation,
            color: bi,
            points: points(&|c| {
                let [lo, hi] = estimates[c].ci95();
                let t = temperatures[c];
                (t, estimates[c].value / t, [lo / t, hi / t])
            }),
        });
        ratio_series.push(Series::from_xy(
            "",
            SeriesKind::Theory,
            bi,
            dense.iter().map(|&eta| {
                let t = eta * trace_c / (2.0 * bf);
                (t, model.stationary_loss(eta, bf) / t)
            }),
        ));
    }
    // Ranges with headroom above the data, where the legend sits.
    let (loss_lo, loss_hi, ratio_lo, ratio_hi) = estimates.iter().zip(temperatures).fold(
        (f64::INFINITY, 0.0f64, f64::INFINITY, 0.0f64),
        |(a, b, c, d), (e, t)| {
            let [lo, hi] = e.ci95();
            (a.min(lo), b.max(hi), c.min(lo / t), d.max(hi / t))
        },
    );
    let ratio_span = (ratio_hi - ratio_lo).max(1e-3);
    FigureSpec {
        panels: vec![
            Panel {
                title: "Stationary excess loss (lines: exact)".into(),
                x: Axis::log("step size eta"),
                y: Axis::log("excess loss").with_range(loss_lo / 1.5, loss_hi * 10.0),
                series: loss_series,
                labels: Vec::new(),
            },
            Panel {
                title: "Ball size over temperature".into(),
                x: Axis::log("temperature eta tr(C) / 2b"),
                y: Axis::linear("excess loss / temperature")
                    .with_range(ratio_lo - 0.05 * ratio_span, ratio_hi + 0.45 * ratio_span),
                series: ratio_series,
                labels: Vec::new(),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_their_key() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            etas: vec![0.01, 2.5],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "etas[1]");
        let p = Params {
            small_eta_h_max: 0.001,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "small_eta_h_max");
        let p = Params {
            batch_sizes: vec![4],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "batch_sizes");
    }

    #[test]
    fn small_run_matches_theory() {
        // A reduced grid at 1/4 of the replicas: the run completes, every contract metric exists,
        // and the measured slopes are near their exact values (tolerance 0.1, about 10 SE).
        let p = Params {
            etas: vec![0.02, 0.03, 0.3],
            batch_sizes: vec![1, 16],
            average_relaxation_times: 5.0,
            ..Params::default()
        };
        let mut ctx = RunContext::new("confusion-ball", 3);
        ctx.scale = 0.25;
        let out = run(&p, &ctx).unwrap();
        for name in [
            "stationary_rel_error_max",
            "eta_slope_small",
            "batch_slope",
            "ball_over_temperature_rel_spread",
        ] {
            assert!(out.metrics.contains_key(name), "{name}");
        }
        assert!((out.metrics["batch_slope"].value + 1.0).abs() < 0.1);
        assert!((out.metrics["eta_slope_small"].value - 1.0).abs() < 0.3);
        assert!(out.metrics["ball_times_temperature_max_over_min"].value > 100.0);
    }
}
