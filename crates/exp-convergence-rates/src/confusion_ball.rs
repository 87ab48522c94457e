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

use crate::recursions::geometric_curvatures;
use crate::slopes::pooled;
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{ln, powf};
use sgd_sim::noisy_quadratic::NoisyQuadratic;
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::rng::{Stream, standard_normal};
use sgd_sim::stats::{Estimate, mean_estimate, weighted_linear_fit};

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

/// The kind `convergence-rates/confusion-ball`.
#[derive(Debug)]
pub struct ConfusionBall;

/// What the measure step produced: one time-averaged loss per replica and grid point.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Replicas per (eta, b) (after `--scale`).
    pub replicas: usize,
    /// Time-averaged excess losses, grid point (eta outer, b inner) outer, replica inner.
    pub losses: Vec<f64>,
    /// Scalar SGD steps simulated.
    pub steps: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.steps
    }
}

impl Params {
    /// The grid points (eta, b), eta outer and b inner.
    fn configs(&self) -> Vec<(f64, usize)> {
        self.etas
            .iter()
            .flat_map(|&eta| self.batch_sizes.iter().map(move |&b| (eta, b)))
            .collect()
    }

    fn model(&self) -> NoisyQuadratic {
        NoisyQuadratic {
            curvatures: geometric_curvatures(self.dim, self.curvature_min, self.curvature_max),
            noise: vec![self.noise_variance; self.dim],
            initial: vec![0.0; self.dim],
        }
    }

    /// tr(C) of the per-example noise covariance.
    fn trace_c(&self) -> f64 {
        self.noise_variance * self.dim as f64
    }

    /// The temperature eta tr(C) / (2b).
    fn temperature(&self, eta: f64, b: usize) -> f64 {
        eta * self.trace_c() / (2.0 * b as f64)
    }
}

/// Per grid point: the replica mean, the exact stationary loss and the temperature.
struct GridPoint {
    eta: f64,
    batch: usize,
    estimate: Estimate,
    exact: f64,
    temperature: f64,
}

fn grid(p: &Params, m: &Measured) -> Vec<GridPoint> {
    let model = p.model();
    let r = m.replicas;
    p.configs()
        .into_iter()
        .enumerate()
        .map(|(c, (eta, b))| GridPoint {
            eta,
            batch: b,
            estimate: mean_estimate(&m.losses[c * r..(c + 1) * r]),
            exact: model.stationary_loss(eta, b as f64),
            temperature: p.temperature(eta, b),
        })
        .collect()
}

/// Every grid point against the exact stationary loss: the table and the largest |z| and error.
fn agreement_metrics(points: &[GridPoint], out: &mut Metrics) {
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
    let mut max_abs_z: f64 = 0.0;
    let mut max_rel: f64 = 0.0;
    for g in points {
        let e = g.estimate;
        let z = e.z_score(g.exact);
        let rel = e.value / g.exact - 1.0;
        max_abs_z = max_abs_z.max(z.abs());
        max_rel = max_rel.max(rel.abs());
        let [lo, hi] = e.ci95();
        table.push(row![
            g.eta,
            g.batch,
            g.temperature,
            e.value,
            lo,
            hi,
            e.se,
            g.exact,
            rel,
            z,
            e.value / g.temperature,
            g.exact / g.temperature
        ]);
    }
    out.measured("stationary_max_abs_z", max_abs_z);
    out.measured("stationary_rel_error_max", max_rel);
    out.table("stationary-loss", table);
}

/// Slope in eta on the small-eta range, one weighted fit per b pooled over b; slope in b at each
/// eta, pooled over eta.
fn slope_metrics(
    p: &Params,
    points: &[GridPoint],
    out: &mut Metrics,
) -> Result<(), ExperimentError> {
    let small = p.small_etas();
    let nb = p.batch_sizes.len();
    let mut eta_slopes = Vec::with_capacity(nb);
    let mut eta_slopes_exact = Vec::with_capacity(nb);
    for bi in 0..nb {
        let (mut x, mut y, mut s, mut y_exact) = (vec![], vec![], vec![], vec![]);
        for &ei in &small {
            let g = &points[ei * nb + bi];
            x.push(ln(g.eta));
            y.push(ln(g.estimate.value));
            s.push(g.estimate.se / g.estimate.value);
            y_exact.push(ln(g.exact));
        }
        eta_slopes.push(weighted_linear_fit(&x, &y, &s).slope_estimate());
        eta_slopes_exact.push(weighted_linear_fit(&x, &y_exact, &s).slope);
    }
    out.estimate("eta_slope_small", pooled(&eta_slopes)?);
    out.computed(
        "eta_slope_small_exact",
        eta_slopes_exact.iter().sum::<f64>() / nb as f64,
    );
    let x_b: Vec<f64> = p.batch_sizes.iter().map(|&b| ln(b as f64)).collect();
    let mut batch_slopes = Vec::with_capacity(p.etas.len());
    for group in points.chunks(nb) {
        let y: Vec<f64> = group.iter().map(|g| ln(g.estimate.value)).collect();
        let s: Vec<f64> = group
            .iter()
            .map(|g| g.estimate.se / g.estimate.value)
            .collect();
        batch_slopes.push(weighted_linear_fit(&x_b, &y, &s).slope_estimate());
    }
    out.estimate("batch_slope", pooled(&batch_slopes)?);
    ball_slope_metrics(p, points, out);
    Ok(())
}

/// The ball against eta/b: one weighted fit of ln L on ln(eta/b) over every small-eta grid point
/// and every b, beside the same fit of the exact losses. The per-point SEs come from the
/// replicas, so the interval uses Student's t with replicas - 1 degrees of freedom.
fn ball_slope_metrics(p: &Params, points: &[GridPoint], out: &mut Metrics) {
    let small = p.small_etas();
    let nb = p.batch_sizes.len();
    let (mut x, mut y, mut s, mut y_exact) = (vec![], vec![], vec![], vec![]);
    let mut replicas = usize::MAX;
    for &ei in &small {
        for g in &points[ei * nb..(ei + 1) * nb] {
            x.push(ln(g.eta / g.batch as f64));
            y.push(ln(g.estimate.value));
            s.push(g.estimate.se / g.estimate.value);
            y_exact.push(ln(g.exact));
            replicas = replicas.min(g.estimate.n);
        }
    }
    let fit = weighted_linear_fit(&x, &y, &s);
    out.estimate(
        "ball_slope_eta_over_b",
        Estimate {
            value: fit.slope,
            se: fit.slope_se,
            n: replicas,
        },
    );
    out.computed(
        "ball_slope_eta_over_b_exact",
        weighted_linear_fit(&x, &y_exact, &s).slope,
    );
}

/// Ball size over temperature. Exactly, L/T = sum c_i/(2 - eta h_i) / sum c_i depends on eta
/// only and increases with it, so its spread over the grid is between the smallest and the
/// largest eta. Measured: r(eta) = mean over b of L/T at each end; the spread r(max)/r(min) - 1
/// with a delta-method SE from the independent per-point SEs (no max/min over noisy values,
/// which would select upwards).
fn ratio_metrics(p: &Params, m: &Measured, points: &[GridPoint], out: &mut Metrics) {
    let nb = p.batch_sizes.len();
    let ratio_at = |ei: usize| -> Estimate {
        let group = &points[ei * nb..(ei + 1) * nb];
        let value = group
            .iter()
            .map(|g| g.estimate.value / g.temperature)
            .sum::<f64>()
            / nb as f64;
        let variance = group
            .iter()
            .map(|g| {
                let s = g.estimate.se / g.temperature;
                s * s
            })
            .sum::<f64>()
            / (nb * nb) as f64;
        Estimate {
            value,
            se: variance.sqrt(),
            n: m.replicas * nb,
        }
    };
    let low = ratio_at(0);
    let high = ratio_at(p.etas.len() - 1);
    let spread = high.value / low.value - 1.0;
    let (rh, rl) = (high.se / high.value, low.se / low.value);
    let spread_se = (high.value / low.value) * (rh * rh + rl * rl).sqrt();
    out.estimate(
        "ball_over_temperature_rel_spread",
        Estimate {
            value: spread,
            se: spread_se,
            n: m.replicas * nb,
        },
    );
    let model = p.model();
    let exact_ratio = |eta: f64| model.stationary_loss(eta, 1.0) / (eta * p.trace_c() / 2.0);
    out.computed(
        "ball_over_temperature_rel_spread_exact",
        exact_ratio(p.etas[p.etas.len() - 1]) / exact_ratio(p.etas[0]) - 1.0,
    );
    out.estimate("ball_over_temperature_at_min_eta", low);
    out.estimate("ball_over_temperature_at_max_eta", high);
    // Ball size times temperature over the grid: it grows as (eta/b)^2.
    let products: Vec<f64> = points
        .iter()
        .map(|g| g.estimate.value * g.temperature)
        .collect();
    let pmax = products.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pmin = products.iter().copied().fold(f64::INFINITY, f64::min);
    out.measured("ball_times_temperature_max_over_min", pmax / pmin);
}

impl Experiment for ConfusionBall {
    const KIND: &'static str = "convergence-rates/confusion-ball";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let curvatures = geometric_curvatures(p.dim, p.curvature_min, p.curvature_max);
        let replicas = ctx.scaled(p.replicas).max(2);
        let configs = p.configs();
        let losses = cancellable_trajectories(
            &streams,
            "replica",
            configs.len() * replicas,
            &ctx.cancel,
            |i, rng| {
                let (eta, b) = configs[i / replicas];
                let (burn, average) = p.steps(eta);
                let noise_std = (p.noise_variance / b as f64).sqrt();
                replica(&curvatures, noise_std, eta, burn, average, rng)
            },
        )?;
        let steps = configs
            .iter()
            .map(|&(eta, _)| {
                let (burn, average) = p.steps(eta);
                (burn + average) * p.dim as u64 * replicas as u64
            })
            .sum();
        Ok(Measured {
            replicas,
            losses,
            steps,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let points = grid(p, m);
        let mut out = Metrics::new();
        agreement_metrics(&points, &mut out);
        slope_metrics(p, &points, &mut out)?;
        ratio_metrics(p, m, &points, &mut out);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("excess-loss", excess_loss_figure(p, &grid(p, m)));
        Ok(figures)
    }
}

/// The stationary loss against eta, and the same over the temperature, per batch size.
fn excess_loss_figure(p: &Params, points: &[GridPoint]) -> FigureData {
    let model = p.model();
    let eta_lo = p.etas[0];
    let eta_hi = p.etas[p.etas.len() - 1];
    let dense: Vec<f64> = (0..=100)
        .map(|k| eta_lo * powf(eta_hi / eta_lo, f64::from(k) / 100.0))
        .collect();
    let mut left = CurvesPanel::new(
        "Stationary excess loss (lines: exact)",
        Axis::log("step size η"),
        Axis::log("stationary excess loss"),
    );
    let mut right = CurvesPanel::new(
        "Ball size over temperature",
        Axis::log("temperature T = η tr(C) / 2b"),
        Axis::linear("excess loss / T"),
    );
    for (bi, &b) in p.batch_sizes.iter().enumerate() {
        let bf = b as f64;
        let mine = || points.iter().filter(move |g| g.batch == b);
        let loss_points = mine()
            .map(|g| MeasuredPoint::with_ci(g.eta, g.estimate.value, g.estimate.ci95()))
            .collect();
        let ratio_points = mine()
            .map(|g| {
                let [lo, hi] = g.estimate.ci95();
                let t = g.temperature;
                MeasuredPoint::with_ci(t, g.estimate.value / t, [lo / t, hi / t])
            })
            .collect();
        left = left
            .measured(Points::new(format!("b = {b}"), bi, loss_points))
            .theory(Line::new(
                "",
                bi,
                dense
                    .iter()
                    .map(|&eta| (eta, model.stationary_loss(eta, bf))),
            ));
        right = right
            .measured(Points::new(format!("b = {b}"), bi, ratio_points))
            .theory(Line::new(
                "",
                bi,
                dense.iter().map(|&eta| {
                    let t = p.temperature(eta, b);
                    (t, model.stationary_loss(eta, bf) / t)
                }),
            ));
    }
    FigureData::stacked(vec![left.into(), right.into()])
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

    /// A hand-made measurement on a small grid: the replicas of each point sit at the exact
    /// stationary loss times 0.99 and 1.01, so each mean is exact with a 1% spread.
    fn hand_made() -> (Params, Measured) {
        let p = Params {
            etas: vec![0.01, 0.02, 0.03, 0.3],
            batch_sizes: vec![1, 16],
            ..Params::default()
        };
        let model = p.model();
        let losses = p
            .configs()
            .iter()
            .flat_map(|&(eta, b)| {
                let exact = model.stationary_loss(eta, b as f64);
                [0.99 * exact, 1.01 * exact]
            })
            .collect();
        (
            p,
            Measured {
                replicas: 2,
                losses,
                steps: 100,
            },
        )
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let (p, m) = hand_made();
        let out = ConfusionBall::metrics(&p, &m).unwrap();
        // Means exactly at the formula: no z-score, no error, the exact slopes and spread.
        assert!(out.value("stationary_max_abs_z").unwrap() < 1e-9);
        assert!(out.value("stationary_rel_error_max").unwrap() < 1e-12);
        let slope = out.value("eta_slope_small").unwrap();
        let exact = out.value("eta_slope_small_exact").unwrap();
        assert!((slope - exact).abs() < 1e-9, "{slope} vs {exact}");
        assert!((out.value("batch_slope").unwrap() + 1.0).abs() < 1e-9);
        let ball = out.value("ball_slope_eta_over_b").unwrap();
        let ball_exact = out.value("ball_slope_eta_over_b_exact").unwrap();
        assert!((ball - ball_exact).abs() < 1e-9 && (ball - 1.0).abs() < 0.01);
        let spread = out.value("ball_over_temperature_rel_spread").unwrap();
        let spread_exact = out.value("ball_over_temperature_rel_spread_exact").unwrap();
        assert!((spread - spread_exact).abs() < 1e-9);
        assert_eq!(
            out.values["eta_slope_small_exact"].basis,
            claim_spec::Basis::Computed
        );
        assert_eq!(
            out.values["stationary_max_abs_z"].basis,
            claim_spec::Basis::Measured
        );
        assert_eq!(out.tables["stationary-loss"].rows.len(), 8);
        assert_eq!(m.samples(), 100);
    }

    #[test]
    fn figures_show_every_batch_size() {
        let (p, m) = hand_made();
        let figures = ConfusionBall::figures(&p, &m).unwrap().into_map();
        let figure = &figures["excess-loss"];
        assert_eq!(figure.panels.len(), 2);
        let claim_spec::figure::Panel::Curves(left) = &figure.panels[0] else {
            panic!("not a curves panel")
        };
        assert_eq!(left.measured.len(), 2);
        assert_eq!(left.measured[0].points.len(), 4);
        assert!(left.theory[0].points.len() > 50);
    }

    #[test]
    fn the_loss_scales_exactly_as_one_over_b() {
        // From w = 0 the iterate is linear in the noise, so with the same draws and the noise
        // scaled by 1/sqrt(b) every replica's loss is exactly 1/b times the b = 1 loss (up to
        // rounding): the loss's 1/b law is a property of the model, not a finding.
        let h = geometric_curvatures(4, 0.1, 1.0);
        let streams = sgd_sim::rng::Streams::new(7);
        let one = replica(&h, 1.0, 0.1, 50, 200, &mut streams.stream("r", 0)).unwrap();
        let four = replica(&h, 0.5, 0.1, 50, 200, &mut streams.stream("r", 0)).unwrap();
        assert!((four * 4.0 / one - 1.0).abs() < 1e-12, "{four} vs {one}");
    }

    #[test]
    fn a_tiny_run_completes() {
        // Two grid points at 2 replicas and short windows: the measurement runs and is finite.
        let p = Params {
            etas: vec![0.2, 0.3],
            batch_sizes: vec![1, 4],
            small_eta_h_max: 0.3,
            average_relaxation_times: 2.0,
            ..Params::default()
        };
        let mut ctx = RunContext::new("confusion-ball", 3);
        ctx.scale = 0.01;
        let m = ConfusionBall::measure(&p, &ctx).unwrap();
        assert_eq!(m.losses.len(), 8);
        assert!(m.losses.iter().all(|l| l.is_finite() && *l > 0.0));
    }
}
