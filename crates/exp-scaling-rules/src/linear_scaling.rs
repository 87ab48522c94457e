//! Claim `linear-scaling-rule`: multiplying the step size and the batch size by k keeps eta/b, the
//! temperature, fixed, not the per-step update variance, and the stationary loss of the noisy
//! quadratic model under the rule is
//!
//!   L_inf(k) = (eta / 2b) sum_i c_i / (2 - k eta h_i),
//!
//! the exact stationary moment m_i = k eta c_i / (k b h_i (2 - k eta h_i)) of each coordinate's
//! recursion m <- (1 - k eta h)^2 m + (k eta)^2 c / (k b) (`sgd_sim::noisy_quadratic`), which blows
//! up as k eta h_max -> 2.
//!
//! Three measurements:
//! - stationary losses for each k, from replicas of every coordinate. Coordinates are independent,
//!   so each runs as long as its precision needs (Neyman allocation: steps proportional to the
//!   coordinate's standard deviation of the loss per step, Cochran 1977, section 5.5), started from
//!   the small-step law N(0, eta c/(2bh)) and burnt in until within a relative 1e-4 of stationarity;
//! - loss-versus-examples curves for small k, all k on the same examples (common random numbers);
//! - the per-step update variance E||dw - E[dw | w]||^2 = (k eta)^2 tr(C)/(k b) under the linear
//!   rule (grows like k) and the square-root rule eta_k = sqrt(k) eta (constant).

use crate::nqm_sgd::{CoordinateDynamics, CoupledChain, run_coupled_curves, run_replicas};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{ln, powf};
use sgd_sim::noisy_quadratic::NoisyQuadratic;
use sgd_sim::parallel::map_indexed;
use sgd_sim::rng::{Stream, Streams};
use sgd_sim::stats::{Estimate, mean_estimate, paired_ratio, weighted_linear_fit};

/// Parameters of `scaling-rules/linear-scaling`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Dimension d of the noisy quadratic model h_i = c_i = 1/i.
    pub dim: usize,
    /// The base step size eta (k = 1).
    pub base_eta: f64,
    /// The base batch size b (k = 1).
    pub base_batch: u64,
    /// Scale factors k for the stationary losses and update variances; k eta h_max < 2.
    pub k_values: Vec<u64>,
    /// Replicas of every coordinate per k.
    pub replicas: usize,
    /// Planned relative standard error of each stationary loss; sets the run lengths.
    pub target_rel_se: f64,
    /// Fewest measured steps of any coordinate replica.
    pub min_steps: u64,
    /// Relative distance from stationarity left after burn-in.
    pub burn_in_tolerance: f64,
    /// Scale factors k of the loss-versus-examples curves (the first must be 1, the reference).
    pub curve_k_values: Vec<u64>,
    /// Examples seen at the end of the curves.
    pub curve_examples: u64,
    /// Checkpoints on each curve (log-spaced, rounded to whole steps of every k).
    pub curve_points: usize,
    /// Replicas of the curves.
    pub curve_replicas: usize,
    /// Replicas per coordinate for the update variance.
    pub update_replicas: usize,
    /// Steps per replica for the update variance.
    pub update_steps: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            dim: 1000,
            base_eta: 0.01,
            base_batch: 1,
            k_values: vec![1, 2, 4, 8, 16, 32, 64, 100, 150, 180, 190, 195],
            replicas: 64,
            target_rel_se: 0.01,
            min_steps: 16,
            burn_in_tolerance: 1e-4,
            curve_k_values: vec![1, 2, 5, 10, 20],
            curve_examples: 5000,
            curve_points: 24,
            curve_replicas: 16,
            update_replicas: 32,
            update_steps: 8,
        }
    }
}

impl Params {
    /// The largest curvature of the model (h_1 = 1).
    fn max_curvature(&self) -> f64 {
        1.0
    }

    /// Examples between curve checkpoints: the least common multiple of the curve batch sizes.
    fn curve_example_unit(&self) -> u64 {
        self.curve_k_values
            .iter()
            .fold(1u64, |l, &k| lcm(l, k * self.base_batch))
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b) * b
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("dim", self.dim as u64, 1)?;
        if self.dim > 100_000 {
            return Err(ParamError::new("dim", "must be at most 100000"));
        }
        ParamError::positive("base_eta", self.base_eta)?;
        ParamError::at_least("base_batch", self.base_batch, 1)?;
        if self.k_values.len() < 3 {
            return Err(ParamError::new(
                "k_values",
                "needs at least 3 values for the fits",
            ));
        }
        for (i, &k) in self.k_values.iter().enumerate() {
            let x = k as f64 * self.base_eta * self.max_curvature();
            if k == 0 || x >= 2.0 {
                return Err(ParamError::new(
                    format!("k_values[{i}]"),
                    format!(
                        "must satisfy 1 <= k and k eta h_max < 2 (got k = {k}, k eta h_max = {x})"
                    ),
                ));
            }
            if i > 0 && k <= self.k_values[i - 1] {
                return Err(ParamError::new(format!("k_values[{i}]"), "must increase"));
            }
        }
        ParamError::at_least("replicas", self.replicas as u64, 8)?;
        ParamError::positive("target_rel_se", self.target_rel_se)?;
        if self.target_rel_se < 1e-3 {
            return Err(ParamError::new(
                "target_rel_se",
                "must be at least 0.001 (cost grows as its inverse square)",
            ));
        }
        ParamError::at_least("min_steps", self.min_steps, 1)?;
        ParamError::positive("burn_in_tolerance", self.burn_in_tolerance)?;
        if self.burn_in_tolerance >= 0.1 {
            return Err(ParamError::new("burn_in_tolerance", "must be below 0.1"));
        }
        if self.curve_k_values.first() != Some(&1) {
            return Err(ParamError::new(
                "curve_k_values",
                "must start with 1, the reference curve",
            ));
        }
        for (i, &k) in self.curve_k_values.iter().enumerate() {
            if k == 0 || k as f64 * self.base_eta * self.max_curvature() >= 2.0 {
                return Err(ParamError::new(
                    format!("curve_k_values[{i}]"),
                    "must satisfy 1 <= k and k eta h_max < 2",
                ));
            }
        }
        let unit = self.curve_example_unit();
        if !self.curve_examples.is_multiple_of(unit) || self.curve_examples < unit {
            return Err(ParamError::new(
                "curve_examples",
                format!("must be a positive multiple of every curve batch size ({unit})"),
            ));
        }
        if self.curve_examples > 10_000_000 {
            return Err(ParamError::new("curve_examples", "must be at most 10^7"));
        }
        ParamError::at_least("curve_points", self.curve_points as u64, 2)?;
        ParamError::at_least("curve_replicas", self.curve_replicas as u64, 4)?;
        ParamError::at_least("update_replicas", self.update_replicas as u64, 4)?;
        ParamError::at_least("update_steps", self.update_steps, 1)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let model = NoisyQuadratic::harmonic(self.dim.clamp(1, 100_000));
        let stationary: f64 = self
            .k_values
            .iter()
            .map(|&k| {
                let (eta, b) = self.scaled(k);
                plan_stationary(
                    &model,
                    eta,
                    b,
                    self.replicas,
                    self.target_rel_se,
                    self.min_steps,
                    self.burn_in_tolerance,
                )
                .steps_total as f64
            })
            .sum();
        let curves = (self.curve_replicas as f64) * self.dim as f64 * self.curve_examples as f64;
        let updates = 2.0
            * self.k_values.len() as f64
            * self.dim as f64
            * (self.update_replicas as f64)
            * self.update_steps as f64;
        stationary + curves + updates
    }
}

impl Params {
    /// Step size and batch size under the linear rule with factor k.
    fn scaled(&self, k: u64) -> (f64, f64) {
        (k as f64 * self.base_eta, (k * self.base_batch) as f64)
    }
}

/// The run plan of one k: per coordinate, burn-in and measured steps.
#[derive(Clone, Debug, PartialEq)]
pub struct StationaryPlan {
    /// Burn-in steps per coordinate.
    pub burn_in: Vec<u64>,
    /// Measured steps per coordinate replica.
    pub steps: Vec<u64>,
    /// The planned relative SE of the loss estimate (conservative: the autocorrelation-time
    /// variance formula overstates the variance of runs shorter than the autocorrelation time).
    pub planned_rel_se: f64,
    /// Steps of all replicas of all coordinates, burn-in included.
    pub steps_total: u64,
}

/// Neyman allocation of measured steps over coordinates for a planned relative SE `target` of
/// the stationary loss with `replicas` replicas per coordinate.
///
/// The time average of w_i^2 over T steps of a stationary Gaussian AR(1) chain has variance about
/// 2 m_i^2 tau_i / T (tau_i the integrated autocorrelation time of w^2), so the loss estimate
/// sum_i (h_i/2) mean(w_i^2) has variance sum_i s_i^2 / (R T_i), s_i = (h_i/2) m_i sqrt(2 tau_i).
/// For a fixed total, T_i proportional to s_i minimizes it (Cochran 1977, section 5.5); the
/// constant follows from the target. The allocation sets only precision, never bias.
pub fn plan_stationary(
    model: &NoisyQuadratic,
    eta: f64,
    batch: f64,
    replicas: usize,
    target: f64,
    min_steps: u64,
    burn_in_tolerance: f64,
) -> StationaryPlan {
    let d = model.dim();
    let loss = model.stationary_loss(eta, batch);
    let spreads: Vec<f64> = (0..d)
        .map(|i| {
            let dynamics = CoordinateDynamics::new(eta, batch, model.curvatures[i], model.noise[i]);
            0.5 * model.curvatures[i]
                * dynamics.stationary_moment()
                * (2.0 * dynamics.square_autocorrelation_time()).sqrt()
        })
        .collect();
    let total_spread: f64 = spreads.iter().sum();
    let r = replicas as f64;
    let scale = total_spread / (r * target * target * loss * loss);
    let steps: Vec<u64> = spreads
        .iter()
        .map(|s| ((scale * s).ceil() as u64).max(min_steps))
        .collect();
    let burn_in: Vec<u64> = (0..d)
        .map(|i| {
            CoordinateDynamics::new(eta, batch, model.curvatures[i], model.noise[i])
                .burn_in(burn_in_tolerance)
        })
        .collect();
    let variance: f64 = spreads
        .iter()
        .zip(&steps)
        .map(|(s, &t)| s * s / (r * t as f64))
        .sum();
    let steps_total = steps
        .iter()
        .zip(&burn_in)
        .map(|(t, b)| (t + b) * replicas as u64)
        .sum();
    StationaryPlan {
        burn_in,
        steps,
        planned_rel_se: variance.sqrt() / loss,
        steps_total,
    }
}

/// The measured stationary quantities of one k.
#[derive(Clone, Debug, PartialEq)]
pub struct StationaryResult {
    /// The stationary loss, over replicas.
    pub loss: Estimate,
    /// The top coordinate's stationary loss, over replicas.
    pub top_coordinate_loss: Estimate,
    /// The mean squared update, over replicas.
    pub update_second_moment: Estimate,
    /// The exact expected loss of the measured windows (computed from the plan).
    pub expected_window_loss: f64,
    /// The run plan.
    pub plan: StationaryPlan,
}

fn stream_index(block: usize, item: usize, width: usize, replica: usize, replicas: usize) -> u64 {
    ((block * width + item) * replicas + replica) as u64
}

fn run_stationary(
    model: &NoisyQuadratic,
    streams: &Streams,
    k_index: usize,
    eta: f64,
    batch: f64,
    replicas: usize,
    p: &Params,
) -> Result<StationaryResult, ExperimentError> {
    let d = model.dim();
    let plan = plan_stationary(
        model,
        eta,
        batch,
        replicas,
        p.target_rel_se,
        p.min_steps,
        p.burn_in_tolerance,
    );
    let per_coordinate = map_indexed(d, |i| {
        let dynamics = CoordinateDynamics::new(eta, batch, model.curvatures[i], model.noise[i]);
        let mut rngs: Vec<Stream> = (0..replicas)
            .map(|r| streams.stream("stationary", stream_index(k_index, i, d, r, replicas)))
            .collect();
        run_replicas(
            dynamics,
            dynamics.small_step_variance().sqrt(),
            plan.burn_in[i],
            plan.steps[i],
            &mut rngs,
        )
    });
    let mut loss = vec![0.0; replicas];
    let mut update = vec![0.0; replicas];
    let mut expected_window_loss = 0.0;
    for (i, reps) in per_coordinate.iter().enumerate() {
        let h = model.curvatures[i];
        for (r, avg) in reps.iter().enumerate() {
            loss[r] += 0.5 * h * avg.mean_square;
            update[r] += avg.update_square;
        }
        let dynamics = CoordinateDynamics::new(eta, batch, h, model.noise[i]);
        expected_window_loss += 0.5
            * h
            * dynamics.expected_window_average(
                dynamics.small_step_variance(),
                plan.burn_in[i],
                plan.steps[i],
            );
    }
    let top: Vec<f64> = per_coordinate[0]
        .iter()
        .map(|a| 0.5 * model.curvatures[0] * a.mean_square)
        .collect();
    for v in loss.iter().chain(&update) {
        if !v.is_finite() {
            return Err(ExperimentError::Diverged {
                step: plan.steps.iter().copied().max().unwrap_or(0),
                reason: format!("non-finite stationary average at k eta = {eta}"),
            });
        }
    }
    Ok(StationaryResult {
        loss: mean_estimate(&loss),
        top_coordinate_loss: mean_estimate(&top),
        update_second_moment: mean_estimate(&update),
        expected_window_loss,
        plan,
    })
}

/// Log-spaced checkpoints in examples from `unit` to `end`, rounded to multiples of `unit`, unique.
fn curve_checkpoints(unit: u64, end: u64, points: usize) -> Vec<u64> {
    let (lo, hi) = (ln(unit as f64), ln(end as f64));
    let mut out: Vec<u64> = (0..points)
        .map(|j| {
            let x = sgd_sim::math::exp(lo + (hi - lo) * j as f64 / (points - 1) as f64);
            ((x / unit as f64).round() as u64).max(1) * unit
        })
        .collect();
    out.dedup();
    if out.last() != Some(&end) {
        out.push(end);
    }
    out
}

/// The kind `scaling-rules/linear-scaling`.
#[derive(Debug)]
pub struct LinearScaling;

/// The update-variance rules: the linear rule eta = k eta_0 and the square-root rule
/// eta = sqrt(k) eta_0, both with b = k b_0.
const RULES: [&str; 2] = ["linear", "sqrt"];

/// The step size of rule `rule` (an index into [`RULES`]) at factor k.
fn rule_eta(p: &Params, rule: usize, k: f64) -> f64 {
    if rule == 0 {
        k * p.base_eta
    } else {
        k.sqrt() * p.base_eta
    }
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The stationary measurements, one per k of `k_values`.
    pub stationary: Vec<StationaryResult>,
    /// The curves' checkpoints, in examples.
    pub checkpoints: Vec<u64>,
    /// Loss of each curve replica, chain (curve k) and checkpoint: `[replica][chain][checkpoint]`.
    pub curve_losses: Vec<Vec<Vec<f64>>>,
    /// The per-step update variance per rule ([`RULES`]) and k, over update replicas.
    pub updates: Vec<Vec<Estimate>>,
    /// Steps simulated.
    pub steps_simulated: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.steps_simulated
    }
}

/// The chains of the curves: each curve k's step size and batch.
fn curve_chains(p: &Params) -> Vec<CoupledChain> {
    p.curve_k_values
        .iter()
        .map(|&k| {
            let (eta, batch) = p.scaled(k);
            CoupledChain {
                eta,
                batch: batch as u64,
            }
        })
        .collect()
}

/// Loss against examples for every curve k on common examples: `[replica][chain][checkpoint]`,
/// summed over coordinates in index order.
fn measure_curves(
    p: &Params,
    model: &NoisyQuadratic,
    streams: &Streams,
    checkpoints: &[u64],
    curve_replicas: usize,
) -> Vec<Vec<Vec<f64>>> {
    let d = model.dim();
    let chains = curve_chains(p);
    let per_coordinate = map_indexed(d, |i| {
        (0..curve_replicas)
            .map(|r| {
                let mut rng = streams.stream("curves", stream_index(0, i, d, r, curve_replicas));
                run_coupled_curves(
                    model.curvatures[i],
                    model.noise[i],
                    &chains,
                    1.0,
                    checkpoints,
                    &mut rng,
                )
            })
            .collect::<Vec<_>>()
    });
    let mut losses = vec![vec![vec![0.0; checkpoints.len()]; chains.len()]; curve_replicas];
    for (i, reps) in per_coordinate.iter().enumerate() {
        let half_h = 0.5 * model.curvatures[i];
        for (r, chains_sq) in reps.iter().enumerate() {
            for (c, sq) in chains_sq.iter().enumerate() {
                for (j, s) in sq.iter().enumerate() {
                    losses[r][c][j] += half_h * s;
                }
            }
        }
    }
    losses
}

/// The per-step update variance of rule `rule` at the k of `k_values`, each over
/// `update_replicas` replicas of every coordinate.
fn measure_updates(
    p: &Params,
    model: &NoisyQuadratic,
    streams: &Streams,
    rule: usize,
    update_replicas: usize,
) -> Vec<Estimate> {
    let d = model.dim();
    let purpose = if rule == 0 {
        "update-linear"
    } else {
        "update-sqrt"
    };
    p.k_values
        .iter()
        .enumerate()
        .map(|(ki, &k)| {
            let batch = (k * p.base_batch) as f64;
            let eta = rule_eta(p, rule, k as f64);
            let per_coordinate = map_indexed(d, |i| {
                let dynamics =
                    CoordinateDynamics::new(eta, batch, model.curvatures[i], model.noise[i]);
                let mut rngs: Vec<Stream> = (0..update_replicas)
                    .map(|r| streams.stream(purpose, stream_index(ki, i, d, r, update_replicas)))
                    .collect();
                run_replicas(dynamics, 0.0, 0, p.update_steps, &mut rngs)
            });
            let mut per_replica = vec![0.0; update_replicas];
            for reps in &per_coordinate {
                for (r, a) in reps.iter().enumerate() {
                    per_replica[r] += a.update_noise_square;
                }
            }
            mean_estimate(&per_replica)
        })
        .collect()
}

/// The columns of the stationary table.
const STATIONARY_COLUMNS: [&str; 21] = [
    "k",
    "eta",
    "batch",
    "k_eta_h_max",
    "loss_sim",
    "loss_sim_lo",
    "loss_sim_hi",
    "loss_sim_se",
    "loss_theory",
    "expected_window_loss",
    "z",
    "planned_rel_se",
    "steps_total",
    "top_coordinate_loss_sim",
    "top_coordinate_loss_lo",
    "top_coordinate_loss_hi",
    "top_coordinate_loss_theory",
    "update_second_moment_sim",
    "update_second_moment_lo",
    "update_second_moment_hi",
    "update_second_moment_theory",
];

/// The exact stationary loss of the top coordinate at (eta, b).
fn top_theory(model: &NoisyQuadratic, eta: f64, batch: f64) -> f64 {
    let top = CoordinateDynamics::new(eta, batch, model.curvatures[0], model.noise[0]);
    0.5 * model.curvatures[0] * top.stationary_moment()
}

/// Stationary losses against the exact L_inf(k), and the blow-up of the top coordinate.
fn stationary_metrics(p: &Params, m: &Measured, model: &NoisyQuadratic, out: &mut Metrics) {
    let h_max = model.max_curvature();
    let base_loss = model.stationary_loss(p.base_eta, p.base_batch as f64);
    let mut table = Table::new(STATIONARY_COLUMNS);
    let (mut max_abs_z, mut max_rel_error, mut max_transient) = (0.0f64, 0.0f64, 0.0f64);
    let (mut blow_x, mut blow_y, mut blow_sigma) = (Vec::new(), Vec::new(), Vec::new());
    for (&k, res) in p.k_values.iter().zip(&m.stationary) {
        let (eta, batch) = p.scaled(k);
        let theory = model.stationary_loss(eta, batch);
        let z = res.loss.z_score(theory);
        max_abs_z = max_abs_z.max(z.abs());
        max_rel_error = max_rel_error.max((res.loss.value / theory - 1.0).abs());
        max_transient = max_transient.max((res.expected_window_loss / theory - 1.0).abs());
        let [lo, hi] = res.loss.ci95();
        let [tlo, thi] = res.top_coordinate_loss.ci95();
        let [ulo, uhi] = res.update_second_moment.ci95();
        table.push(row![
            k,
            eta,
            batch,
            eta * h_max,
            res.loss.value,
            lo,
            hi,
            res.loss.se,
            theory,
            res.expected_window_loss,
            z,
            res.plan.planned_rel_se,
            res.plan.steps_total,
            res.top_coordinate_loss.value,
            tlo,
            thi,
            top_theory(model, eta, batch),
            res.update_second_moment.value,
            ulo,
            uhi,
            4.0 * eta * theory
        ]);
        // Blow-up of the top coordinate: ln L_top = const - ln(2 - k eta h_1), slope -1 exactly.
        blow_x.push(ln(2.0 - eta * model.curvatures[0]));
        blow_y.push(ln(res.top_coordinate_loss.value));
        blow_sigma.push(res.top_coordinate_loss.se / res.top_coordinate_loss.value);
    }
    out.measured("stationary_loss_rel_error_max", max_rel_error);
    out.measured("stationary_loss_max_abs_z", max_abs_z);
    out.computed("stationary_transient_rel_max", max_transient);
    if let Some(last) = m.stationary.last() {
        out.estimate(
            "stationary_loss_ratio_at_max_k",
            last.loss.scaled(1.0 / base_loss),
        );
    }
    let k_max = *p.k_values.last().unwrap_or(&1);
    out.computed(
        "stationary_loss_ratio_theory_at_max_k",
        model.stationary_loss(p.scaled(k_max).0, p.scaled(k_max).1) / base_loss,
    );
    let blow = weighted_linear_fit(&blow_x, &blow_y, &blow_sigma);
    out.estimate("blowup_slope", blow.slope_estimate());
    out.measured("blowup_slope_z", (blow.slope + 1.0) / blow.slope_se);
    out.table("stationary", table);
}

/// The exact expected loss of curve chain `chain` after `examples` examples.
fn curve_theory(model: &NoisyQuadratic, chain: &CoupledChain, examples: f64) -> f64 {
    model.expected_loss(chain.eta, chain.batch as f64, examples / chain.batch as f64)
}

/// One curve point: the loss estimate and the paired ratio to the k = 1 curve.
fn curve_point(m: &Measured, c: usize, j: usize) -> (Estimate, Estimate) {
    let values: Vec<f64> = m.curve_losses.iter().map(|l| l[c][j]).collect();
    let reference: Vec<f64> = m.curve_losses.iter().map(|l| l[0][j]).collect();
    (mean_estimate(&values), paired_ratio(&values, &reference))
}

/// Loss against examples: agreement with the closed form and the paired ratios to k = 1.
fn curve_metrics(p: &Params, m: &Measured, model: &NoisyQuadratic, out: &mut Metrics) {
    let chains = curve_chains(p);
    let mut curves = Table::new([
        "k",
        "examples",
        "steps",
        "loss_sim",
        "loss_sim_lo",
        "loss_sim_hi",
        "loss_theory",
        "z",
        "ratio_to_k1_sim",
        "ratio_to_k1_lo",
        "ratio_to_k1_hi",
        "ratio_to_k1_theory",
    ]);
    let (mut max_dev, mut max_dev_theory, mut curve_z, mut max_ratio_se) =
        (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (c, chain) in chains.iter().enumerate() {
        for (j, &e) in m.checkpoints.iter().enumerate() {
            let (est, ratio) = curve_point(m, c, j);
            let theory = curve_theory(model, chain, e as f64);
            let theory_ref = curve_theory(model, &chains[0], e as f64);
            let z = est.z_score(theory);
            curve_z = curve_z.max(z.abs());
            let [lo, hi] = est.ci95();
            let ratio_ci = if c == 0 { [1.0, 1.0] } else { ratio.ci95() };
            if c > 0 {
                max_dev = max_dev.max((ratio.value - 1.0).abs());
                max_dev_theory = max_dev_theory.max((theory / theory_ref - 1.0).abs());
                max_ratio_se = max_ratio_se.max(ratio.se);
            }
            curves.push(row![
                p.curve_k_values[c],
                e,
                e / chain.batch,
                est.value,
                lo,
                hi,
                theory,
                z,
                ratio.value,
                ratio_ci[0],
                ratio_ci[1],
                theory / theory_ref
            ]);
        }
    }
    out.measured("curves_max_rel_deviation", max_dev);
    out.computed("curves_max_rel_deviation_theory", max_dev_theory);
    out.measured("curves_ratio_se_max", max_ratio_se);
    out.measured("curves_max_abs_z", curve_z);
    out.table("curves", curves);
}

/// The per-step update variance under both rules: log-log slopes against k, exactly 1 and 0.
fn update_metrics(p: &Params, m: &Measured, model: &NoisyQuadratic, out: &mut Metrics) {
    let mut table = Table::new([
        "rule",
        "k",
        "eta",
        "batch",
        "variance_sim",
        "variance_lo",
        "variance_hi",
        "variance_theory",
    ]);
    let trace_noise: f64 = model.noise.iter().sum();
    for (ri, rule) in RULES.iter().enumerate() {
        let (mut xs, mut ys, mut sig) = (Vec::new(), Vec::new(), Vec::new());
        for (&k, est) in p.k_values.iter().zip(&m.updates[ri]) {
            let batch = (k * p.base_batch) as f64;
            let eta = rule_eta(p, ri, k as f64);
            let [lo, hi] = est.ci95();
            let theory = eta * eta * trace_noise / batch;
            table.push(row![*rule, k, eta, batch, est.value, lo, hi, theory]);
            xs.push(ln(k as f64));
            ys.push(ln(est.value));
            sig.push(est.se / est.value);
        }
        let fit = weighted_linear_fit(&xs, &ys, &sig);
        let exact_slope = if ri == 0 { 1.0 } else { 0.0 };
        out.estimate(
            &format!("update_variance_slope_{rule}"),
            fit.slope_estimate(),
        );
        out.measured(
            &format!("update_variance_slope_{rule}_z"),
            (fit.slope - exact_slope) / fit.slope_se,
        );
    }
    out.table("update_variance", table);
}

impl Experiment for LinearScaling {
    const KIND: &'static str = "scaling-rules/linear-scaling";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let model = NoisyQuadratic::harmonic(p.dim);
        let streams = ctx.streams();
        let replicas = ctx.scaled(p.replicas);
        let mut steps_simulated = 0u64;
        let mut stationary = Vec::with_capacity(p.k_values.len());
        for (ki, &k) in p.k_values.iter().enumerate() {
            ctx.check_cancelled()?;
            let (eta, batch) = p.scaled(k);
            let res = run_stationary(&model, &streams, ki, eta, batch, replicas, p)?;
            steps_simulated += res.plan.steps_total;
            stationary.push(res);
        }
        ctx.check_cancelled()?;
        let checkpoints =
            curve_checkpoints(p.curve_example_unit(), p.curve_examples, p.curve_points);
        let curve_replicas = ctx.scaled(p.curve_replicas);
        let curve_losses = measure_curves(p, &model, &streams, &checkpoints, curve_replicas);
        steps_simulated += curve_replicas as u64 * model.dim() as u64 * p.curve_examples;
        let update_replicas = ctx.scaled(p.update_replicas);
        let mut updates = Vec::with_capacity(RULES.len());
        for rule in 0..RULES.len() {
            ctx.check_cancelled()?;
            updates.push(measure_updates(p, &model, &streams, rule, update_replicas));
            steps_simulated +=
                (model.dim() * update_replicas) as u64 * p.update_steps * p.k_values.len() as u64;
        }
        Ok(Measured {
            stationary,
            checkpoints,
            curve_losses,
            updates,
            steps_simulated,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let model = NoisyQuadratic::harmonic(p.dim);
        let mut out = Metrics::new();
        stationary_metrics(p, m, &model, &mut out);
        curve_metrics(p, m, &model, &mut out);
        update_metrics(p, m, &model, &mut out);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let model = NoisyQuadratic::harmonic(p.dim);
        let mut figures = Figures::new();
        figures.add("stationary-loss", stationary_figure(p, m, &model));
        figures.add("loss-vs-examples", curves_figure(p, m, &model));
        figures.add("update-variance", update_figure(p, m, &model));
        Ok(figures)
    }
}

/// Stationary loss relative to k = 1 against the exact L_inf(k), and the top coordinate's
/// blow-up against 2 - k eta_0 h_max.
fn stationary_figure(p: &Params, m: &Measured, model: &NoisyQuadratic) -> FigureData {
    let h_max = model.max_curvature();
    let base_loss = model.stationary_loss(p.base_eta, p.base_batch as f64);
    let k_hi = *p.k_values.last().unwrap_or(&1) as f64;
    // The exact curve runs a little past the largest simulated k, to k eta h_max = 1.97 at most.
    let k_end = (k_hi * 1.01).min(1.97 / (p.base_eta * h_max)).max(k_hi);
    let theory_curve: Vec<(f64, f64)> = (0..=300)
        .map(|j| {
            let k = powf(k_end, j as f64 / 300.0);
            let (eta, batch) = (k * p.base_eta, k * p.base_batch as f64);
            (k, model.stationary_loss(eta, batch) / base_loss)
        })
        .collect();
    let (gap_lo, gap_hi) = (2.0 - k_hi * p.base_eta * h_max, 2.0 - p.base_eta * h_max);
    let top_theory_curve: Vec<(f64, f64)> = (0..=100)
        .map(|j| {
            let gap = gap_lo * powf(gap_hi / gap_lo, j as f64 / 100.0);
            let eta = (2.0 - gap) / model.curvatures[0];
            let batch = eta / p.base_eta * p.base_batch as f64;
            (gap, top_theory(model, eta, batch))
        })
        .collect();
    let mut ratio_points = Vec::new();
    let mut top_points = Vec::new();
    for (&k, res) in p.k_values.iter().zip(&m.stationary) {
        let ratio = res.loss.scaled(1.0 / base_loss);
        ratio_points.push(MeasuredPoint::with_ci(k as f64, ratio.value, ratio.ci95()));
        let x = p.scaled(k).0 * h_max;
        let top = res.top_coordinate_loss;
        top_points.push(MeasuredPoint::with_ci(2.0 - x, top.value, top.ci95()));
    }
    let left = CurvesPanel::new(
        "Stationary loss under linear scaling",
        Axis::log("k (η = kη₀, b = kb₀)"),
        Axis::log("L∞(k) / L∞(1)"),
    )
    .theory(Line::new("exact L∞(k)", 0, theory_curve))
    .measured(Points::new("simulated (95% interval)", 0, ratio_points));
    let right = CurvesPanel::new(
        "Blow-up: the top coordinate",
        Axis::log("2 − kη₀h_max"),
        Axis::log("stationary loss of coordinate 1"),
    )
    .theory(Line::new("(η₀/2b₀) c₁/(2 − kη₀h₁)", 1, top_theory_curve))
    .measured(Points::new("simulated (95% interval)", 1, top_points));
    FigureData::stacked(vec![left.into(), right.into()])
}

/// Loss against examples for the curve k, and each curve over the k = 1 curve.
fn curves_figure(p: &Params, m: &Measured, model: &NoisyQuadratic) -> FigureData {
    let chains = curve_chains(p);
    let unit = p.curve_example_unit() as f64;
    let end = p.curve_examples as f64;
    let mut loss = CurvesPanel::new(
        "Loss against examples seen",
        Axis::log("examples"),
        Axis::linear("expected loss"),
    );
    let mut ratio = CurvesPanel::new(
        "Ratio to the k = 1 curve",
        Axis::log("examples"),
        Axis::linear("L_k / L_1 at equal examples").with_range(0.94, 1.06),
    );
    for (c, chain) in chains.iter().enumerate() {
        let k = p.curve_k_values[c];
        let grid: Vec<f64> = (0..=200)
            .map(|j| unit * powf(end / unit, j as f64 / 200.0))
            .collect();
        loss = loss.theory(Line::new(
            "",
            c,
            grid.iter().map(|&e| (e, curve_theory(model, chain, e))),
        ));
        let points: Vec<(Estimate, Estimate)> = (0..m.checkpoints.len())
            .map(|j| curve_point(m, c, j))
            .collect();
        loss = loss.measured(Points::new(
            format!("k = {k}"),
            c,
            m.checkpoints
                .iter()
                .zip(&points)
                .map(|(&e, (est, _))| MeasuredPoint::with_ci(e as f64, est.value, est.ci95()))
                .collect(),
        ));
        if c > 0 {
            ratio = ratio
                .theory(Line::new(
                    "",
                    c,
                    grid.iter().map(|&e| {
                        (
                            e,
                            curve_theory(model, chain, e) / curve_theory(model, &chains[0], e),
                        )
                    }),
                ))
                .measured(Points::new(
                    format!("k = {k}"),
                    c,
                    m.checkpoints
                        .iter()
                        .zip(&points)
                        .map(|(&e, (_, r))| MeasuredPoint::with_ci(e as f64, r.value, r.ci95()))
                        .collect(),
                ));
        }
    }
    let band = chains.len();
    ratio = ratio
        .guide(Line::new("±5%", band, [(unit, 0.95), (end, 0.95)]))
        .guide(Line::new("", band, [(unit, 1.05), (end, 1.05)]));
    FigureData::stacked(vec![loss.into(), ratio.into()])
}

/// The per-step update variance against k under both rules, with (eta_k)^2 tr(C)/b_k.
fn update_figure(p: &Params, m: &Measured, model: &NoisyQuadratic) -> FigureData {
    let trace_noise: f64 = model.noise.iter().sum();
    let k_lo = *p.k_values.first().unwrap_or(&1) as f64;
    let k_hi = *p.k_values.last().unwrap_or(&1) as f64;
    let mut panel = CurvesPanel::new(
        "Per-step update variance, b = kb₀",
        Axis::log("k"),
        Axis::log("E‖Δw − E[Δw | w]‖²"),
    );
    for (ri, label) in ["linear: η = kη₀", "square root: η = √k η₀"]
        .iter()
        .enumerate()
    {
        let theory = (0..=100).map(|j| {
            let k = k_lo * powf(k_hi / k_lo, j as f64 / 100.0);
            let eta = rule_eta(p, ri, k);
            (k, eta * eta * trace_noise / (k * p.base_batch as f64))
        });
        let points = p
            .k_values
            .iter()
            .zip(&m.updates[ri])
            .map(|(&k, e)| MeasuredPoint::with_ci(k as f64, e.value, e.ci95()))
            .collect();
        panel = panel
            .theory(Line::new("", ri, theory))
            .measured(Points::new(*label, ri, points));
    }
    FigureData::single(panel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_meets_its_target_and_covers_every_coordinate() {
        let model = NoisyQuadratic::harmonic(200);
        for (eta, b) in [(0.01, 1.0), (1.9, 190.0)] {
            let plan = plan_stationary(&model, eta, b, 16, 0.02, 8, 1e-4);
            assert!(
                plan.planned_rel_se <= 0.02 * (1.0 + 1e-9),
                "{}",
                plan.planned_rel_se
            );
            assert!(plan.steps.iter().all(|&t| t >= 8));
            assert_eq!(plan.steps.len(), 200);
        }
    }

    #[test]
    fn checkpoints_are_multiples_and_increasing() {
        let c = curve_checkpoints(20, 5000, 24);
        assert_eq!(c.first(), Some(&20));
        assert_eq!(c.last(), Some(&5000));
        assert!(c.windows(2).all(|w| w[0] < w[1]));
        assert!(c.iter().all(|e| e % 20 == 0));
    }

    #[test]
    fn defaults_validate_and_bad_values_name_their_key() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            k_values: vec![1, 2, 200],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "k_values[2]");
        let p = Params {
            curve_examples: 5001,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "curve_examples");
        let p = Params {
            base_eta: f64::NAN,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "base_eta");
        let p = Params {
            curve_k_values: vec![2, 5],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "curve_k_values");
    }

    /// Small parameters: d = 20, k = 1, 2, 4, 8, curves for k = 1, 2.
    fn small_params() -> Params {
        Params {
            dim: 20,
            base_eta: 0.1,
            k_values: vec![1, 2, 4, 8],
            curve_k_values: vec![1, 2],
            curve_examples: 40,
            curve_points: 4,
            ..Params::default()
        }
    }

    /// A hand-made measurement: every estimate exactly at its theory, with a 1% SE.
    fn hand_made(p: &Params) -> Measured {
        let model = NoisyQuadratic::harmonic(p.dim);
        let exact = |v: f64| Estimate {
            value: v,
            se: 0.01 * v,
            n: 64,
        };
        let stationary = p
            .k_values
            .iter()
            .map(|&k| {
                let (eta, batch) = p.scaled(k);
                let loss = model.stationary_loss(eta, batch);
                StationaryResult {
                    loss: exact(loss),
                    top_coordinate_loss: exact(top_theory(&model, eta, batch)),
                    update_second_moment: exact(4.0 * eta * loss),
                    expected_window_loss: loss,
                    plan: plan_stationary(&model, eta, batch, 8, 0.05, 4, 1e-4),
                }
            })
            .collect();
        let checkpoints = curve_checkpoints(p.curve_example_unit(), p.curve_examples, 4);
        let chains = curve_chains(p);
        // Two replicas, 1% above and below the closed form, the same for every chain.
        let curve_losses = [1.01, 0.99]
            .iter()
            .map(|f| {
                chains
                    .iter()
                    .map(|c| {
                        checkpoints
                            .iter()
                            .map(|&e| f * curve_theory(&model, c, e as f64))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let trace: f64 = model.noise.iter().sum();
        let updates = (0..2)
            .map(|rule| {
                p.k_values
                    .iter()
                    .map(|&k| {
                        let eta = rule_eta(p, rule, k as f64);
                        exact(eta * eta * trace / k as f64)
                    })
                    .collect()
            })
            .collect();
        Measured {
            stationary,
            checkpoints,
            curve_losses,
            updates,
            steps_simulated: 1000,
        }
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let p = small_params();
        let m = hand_made(&p);
        let out = LinearScaling::metrics(&p, &m).unwrap();
        let near = |name: &str, want: f64| {
            let v = out.value(name).unwrap();
            assert!((v - want).abs() < 1e-9, "{name}: {v} vs {want}");
        };
        near("stationary_loss_max_abs_z", 0.0);
        near("stationary_loss_rel_error_max", 0.0);
        near("blowup_slope", -1.0);
        near("update_variance_slope_linear", 1.0);
        near("update_variance_slope_sqrt", 0.0);
        near("update_variance_slope_linear_z", 0.0);
        // The replicas' 1% offsets are common to both chains: the paired ratio is the closed
        // form's ratio exactly.
        near(
            "curves_max_rel_deviation",
            out.value("curves_max_rel_deviation_theory").unwrap(),
        );
        assert_eq!(out.tables["stationary"].rows.len(), 4);
        assert_eq!(out.tables["update_variance"].rows.len(), 8);
        assert_eq!(
            out.values["stationary_transient_rel_max"].basis,
            claim_spec::Basis::Computed
        );
        let figures = LinearScaling::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["stationary-loss"].panels.len(), 2);
        assert_eq!(figures["loss-vs-examples"].panels.len(), 2);
        assert_eq!(figures["update-variance"].panels.len(), 1);
    }
}
