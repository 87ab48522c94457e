//! Claim `gradient-unbiased`: the minibatch gradient is an unbiased estimate of the full gradient.
//!
//! For each sampler and batch size, `replicas` independent sequences of M minibatch gradients are
//! drawn at a fixed w. Unbiasedness is tested per coordinate (z-scores of the mean error over all
//! draws), and the norm of the running mean's error is checked to fall as M^-1/2:
//! E||mean_M - G||^2 = tr(Sigma) f(b) / M, with f(b) the sampler's variance factor.

use crate::data::{GradientTable, gradient_table};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::log10;
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::rng::shuffle;
use sgd_sim::sampler::{BatchSampler, SamplerKind};
use sgd_sim::stats::{Estimate, linear_fit, mean_estimate};

/// Parameters of `minibatch-noise/gradient-unbiased`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Data points N.
    pub samples: usize,
    /// Features d.
    pub dim: usize,
    /// Standard deviation of the label noise.
    pub label_noise: f64,
    /// Batch sizes b (each must divide N, for the epoch-shuffle identity).
    pub batch_sizes: Vec<usize>,
    /// Minibatch gradients per sequence, M.
    pub batches: usize,
    /// Independent sequences per (sampler, b).
    pub replicas: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            samples: 1024,
            dim: 10,
            label_noise: 0.5,
            batch_sizes: vec![1, 4, 16, 64, 256],
            batches: 10_000,
            replicas: 8,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("samples", self.samples as u64, 2)?;
        ParamError::at_least("dim", self.dim as u64, 1)?;
        ParamError::non_negative("label_noise", self.label_noise)?;
        ParamError::at_least("batches", self.batches as u64, 100)?;
        ParamError::at_least("replicas", self.replicas as u64, 2)?;
        if self.batch_sizes.is_empty() {
            return Err(ParamError::new("batch_sizes", "must not be empty"));
        }
        for (i, &b) in self.batch_sizes.iter().enumerate() {
            if b == 0 || b > self.samples || !self.samples.is_multiple_of(b) {
                return Err(ParamError::new(
                    format!("batch_sizes[{i}]"),
                    format!(
                        "must be positive and divide samples = {}, got {b}",
                        self.samples
                    ),
                ));
            }
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let per_draw: f64 =
            self.batch_sizes.iter().map(|&b| b as f64).sum::<f64>() * self.dim as f64;
        2.0 * per_draw * self.batches as f64 * self.replicas as f64
    }
}

const SAMPLERS: [SamplerKind; 2] = [
    SamplerKind::WithReplacement,
    SamplerKind::WithoutReplacement,
];

/// Checkpoints M = 1, 2, 5 x 10^k up to `max`, and `max` itself.
fn checkpoints(max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut decade = 1;
    while decade <= max {
        for m in [decade, 2 * decade, 5 * decade] {
            if m >= 10 && m <= max {
                out.push(m);
            }
        }
        decade *= 10;
    }
    if out.last() != Some(&max) {
        out.push(max);
    }
    out
}

/// One sequence: squared error norms of the running mean at the checkpoints, and per-coordinate
/// sums of deviations g - G and of their squares.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// ||mean_M - G||^2 at each checkpoint M.
    pub error_sq_at: Vec<f64>,
    /// Per coordinate: the sum of g - G over the sequence.
    pub dev_sum: Vec<f64>,
    /// Per coordinate: the sum of (g - G)^2 over the sequence.
    pub dev_sq_sum: Vec<f64>,
    /// The sum over the sequence of the error along G, <g - G, G> / ||G||^2.
    pub along_sum: f64,
    /// The sum of its squares.
    pub along_sq_sum: f64,
}

fn sequence(
    table: &GradientTable,
    kind: SamplerKind,
    b: usize,
    m: usize,
    marks: &[usize],
    rng: &mut sgd_sim::rng::Stream,
) -> Sequence {
    let d = table.dim;
    let mut sampler = BatchSampler::new(kind, table.samples, b);
    let mut g = vec![0.0; d];
    let mut running = vec![0.0; d];
    let mut dev_sum = vec![0.0; d];
    let mut dev_sq_sum = vec![0.0; d];
    let mut error_sq_at = Vec::with_capacity(marks.len());
    let inv_full_sq = 1.0 / table.full_norm_sq();
    let (mut along_sum, mut along_sq_sum) = (0.0, 0.0);
    let mut next = 0;
    for step in 1..=m {
        table.batch_mean(sampler.next_batch(rng), &mut g);
        let mut along = 0.0;
        for j in 0..d {
            let dev = g[j] - table.full[j];
            running[j] += dev;
            dev_sum[j] += dev;
            dev_sq_sum[j] += dev * dev;
            along += dev * table.full[j];
        }
        along *= inv_full_sq;
        along_sum += along;
        along_sq_sum += along * along;
        if next < marks.len() && step == marks[next] {
            let inv = 1.0 / step as f64;
            error_sq_at.push(running.iter().map(|r| (r * inv) * (r * inv)).sum());
            next += 1;
        }
    }
    Sequence {
        error_sq_at,
        dev_sum,
        dev_sq_sum,
        along_sum,
        along_sq_sum,
    }
}

/// The kind `minibatch-noise/gradient-unbiased`.
#[derive(Debug)]
pub struct GradientUnbiased;

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The per-sample gradients at the fixed point (the data set is drawn from the claim's seed).
    pub table: GradientTable,
    /// Sequences per (sampler, b), after `--scale`.
    pub replicas: usize,
    /// Minibatch gradients per sequence, M.
    pub batches: usize,
    /// The checkpoints M.
    pub marks: Vec<usize>,
    /// The sequences: sampler outer, batch size, then replica inner.
    pub sequences: Vec<Sequence>,
    /// Per batch size: ||mean of one epoch-shuffle epoch's batch means - G|| / ||G||.
    pub epoch_errors: Vec<f64>,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        (self.sequences.len() * self.batches) as u64
    }
}

/// One epoch of epoch-shuffle batches per batch size: the relative error of the mean of its
/// batch means against G.
fn epoch_errors(p: &Params, table: &GradientTable, ctx: &RunContext) -> Vec<f64> {
    let mut rng = ctx.streams().stream("epoch", 0);
    let full_norm = table.full_norm_sq().sqrt();
    let mut errors = Vec::with_capacity(p.batch_sizes.len());
    for &b in &p.batch_sizes {
        let mut perm: Vec<usize> = (0..p.samples).collect();
        shuffle(&mut rng, &mut perm);
        let mut g = vec![0.0; p.dim];
        let mut acc = vec![0.0; p.dim];
        let batches = p.samples / b;
        for k in 0..batches {
            table.batch_mean(&perm[k * b..(k + 1) * b], &mut g);
            acc.iter_mut().zip(&g).for_each(|(a, x)| *a += x);
        }
        let err: f64 = acc
            .iter()
            .zip(&table.full)
            .map(|(a, f)| {
                let d = a / batches as f64 - f;
                d * d
            })
            .sum::<f64>()
            .sqrt()
            / full_norm;
        errors.push(err);
    }
    errors
}

/// The configurations (sampler, b), sampler outer.
fn configs(p: &Params) -> Vec<(SamplerKind, usize)> {
    SAMPLERS
        .iter()
        .flat_map(|&k| p.batch_sizes.iter().map(move |&b| (k, b)))
        .collect()
}

impl Measured {
    /// The sequences of configuration `c`.
    fn of(&self, c: usize) -> &[Sequence] {
        &self.sequences[c * self.replicas..(c + 1) * self.replicas]
    }
}

/// The largest |z| over coordinates of the mean deviation of configuration `seqs`.
fn coordinate_max_abs_z(seqs: &[Sequence], dim: usize, draws: f64) -> f64 {
    let mut config_z: f64 = 0.0;
    for j in 0..dim {
        let sum: f64 = seqs.iter().map(|s| s.dev_sum[j]).sum();
        let sq: f64 = seqs.iter().map(|s| s.dev_sq_sum[j]).sum();
        let mean = sum / draws;
        let var = (sq - draws * mean * mean) / (draws - 1.0);
        let z = if var > 0.0 {
            mean / (var / draws).sqrt()
        } else {
            0.0
        };
        config_z = config_z.max(z.abs());
    }
    config_z
}

/// The mean error along G of one configuration, <mean(g) - G, G> / ||G||^2 over all its draws,
/// with its standard error from the draws' sample variance (the draws are independent).
fn bias_along_gradient(seqs: &[Sequence], draws: f64) -> Estimate {
    let sum: f64 = seqs.iter().map(|s| s.along_sum).sum();
    let sq: f64 = seqs.iter().map(|s| s.along_sq_sum).sum();
    let mean = sum / draws;
    let var = ((sq - draws * mean * mean) / (draws - 1.0)).max(0.0);
    Estimate {
        value: mean,
        se: (var / draws).sqrt(),
        n: draws as usize,
    }
}

/// The equally weighted mean of independent configurations' estimates: SE sqrt(sum se_k^2) / K.
fn pooled(estimates: &[Estimate]) -> Estimate {
    let k = estimates.len() as f64;
    let variance: f64 = estimates.iter().map(|e| e.se * e.se).sum();
    Estimate {
        value: estimates.iter().map(|e| e.value).sum::<f64>() / k,
        se: variance.sqrt() / k,
        n: estimates.iter().map(|e| e.n).sum(),
    }
}

/// The mean of ||mean_M - G||^2 over the sequences at each checkpoint, and its exact value
/// tr(Sigma) f(b) / M.
fn mean_square_errors(
    m: &Measured,
    c: usize,
    kind: SamplerKind,
    b: usize,
) -> Vec<(usize, Estimate, f64)> {
    let expected = m.table.trace_sigma * kind.variance_factor(m.table.samples, b);
    let seqs = m.of(c);
    m.marks
        .iter()
        .enumerate()
        .map(|(k, &mark)| {
            let values: Vec<f64> = seqs.iter().map(|s| s.error_sq_at[k]).collect();
            (mark, mean_estimate(&values), expected / mark as f64)
        })
        .collect()
}

/// The root of a mean square with its interval (the interval of the mean square, rooted).
fn rms(e: &Estimate) -> (f64, [f64; 2]) {
    let [lo, hi] = e.ci95();
    (e.value.sqrt(), [lo.max(0.0).sqrt(), hi.sqrt()])
}

fn unbiased_metrics(p: &Params, m: &Measured, out: &mut Metrics) {
    let mut z_table = Table::new([
        "sampler",
        "batch_size",
        "max_abs_z",
        "draws",
        "bias_along_gradient",
        "bias_along_gradient_se",
    ]);
    let mut biases = Vec::new();
    let mut norm_table = Table::new([
        "sampler",
        "batch_size",
        "m",
        "rms_error_norm",
        "rms_error_norm_lo",
        "rms_error_norm_hi",
        "theory_rms_error_norm",
    ]);
    let mut max_abs_z: f64 = 0.0;
    let mut normalized_by_mark = vec![Vec::new(); m.marks.len()];
    let draws = (m.replicas * m.batches) as f64;
    for (c, (kind, b)) in configs(p).into_iter().enumerate() {
        let config_z = coordinate_max_abs_z(m.of(c), p.dim, draws);
        max_abs_z = max_abs_z.max(config_z);
        let bias = bias_along_gradient(m.of(c), draws);
        biases.push(bias);
        z_table.push(row![kind.name(), b, config_z, draws, bias.value, bias.se]);
        for (k, (mark, e, expected)) in mean_square_errors(m, c, kind, b).into_iter().enumerate() {
            normalized_by_mark[k].push(e.value / expected);
            let (value, [lo, hi]) = rms(&e);
            norm_table.push(row![kind.name(), b, mark, value, lo, hi, expected.sqrt()]);
        }
    }
    // The normalized mean square M ||mean_M - G||^2 / (tr(Sigma) f(b)) has expectation 1 at every
    // M; averaged over configurations, its log-log slope against M is -1, so the norm's is -1/2.
    let log_m: Vec<f64> = m.marks.iter().map(|&mark| log10(mark as f64)).collect();
    let log_norm: Vec<f64> = normalized_by_mark
        .iter()
        .zip(&m.marks)
        .map(|(v, &mark)| 0.5 * log10(v.iter().sum::<f64>() / v.len() as f64 / mark as f64))
        .collect();
    let fit = linear_fit(&log_m, &log_norm);
    out.estimate("norm_decay_slope", fit.slope_estimate());
    out.measured("mean_error_max_abs_z", max_abs_z);
    out.estimate("bias_along_gradient", pooled(&biases));
    let mut epoch_table = Table::new(["batch_size", "epoch_average_rel_error"]);
    for (&b, &err) in p.batch_sizes.iter().zip(&m.epoch_errors) {
        epoch_table.push(row![b, err]);
    }
    let epoch_max = m.epoch_errors.iter().copied().fold(0.0, f64::max);
    out.computed("epoch_average_rel_error_max", epoch_max);
    out.measured("trace_sigma", m.table.trace_sigma);
    out.measured("full_gradient_norm", m.table.full_norm_sq().sqrt());
    out.table("coordinate-z", z_table);
    out.table("mean-error-norm", norm_table);
    out.table("epoch-shuffle", epoch_table);
}

impl Experiment for GradientUnbiased {
    const KIND: &'static str = "minibatch-noise/gradient-unbiased";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let table = gradient_table(&streams, p.samples, p.dim, p.label_noise)?;
        let replicas = ctx.scaled(p.replicas);
        let marks = checkpoints(p.batches);
        let configs = configs(p);
        let n = configs.len() * replicas;
        let sequences =
            cancellable_trajectories(&streams, "sequence", n, &ctx.cancel, |i, rng| {
                let (kind, b) = configs[i / replicas];
                Ok::<Sequence, ExperimentError>(sequence(&table, kind, b, p.batches, &marks, rng))
            })?;
        let epoch_errors = epoch_errors(p, &table, ctx);
        Ok(Measured {
            table,
            replicas,
            batches: p.batches,
            marks,
            sequences,
            epoch_errors,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        unbiased_metrics(p, m, &mut out);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("mean-error", mean_error_figure(p, m));
        Ok(figures)
    }
}

/// The norm of the mean error against M, per sampler: simulation and exact theory per b.
fn mean_error_figure(p: &Params, m: &Measured) -> FigureData {
    let configs = configs(p);
    let mut panels = Vec::new();
    for &kind in &SAMPLERS {
        let mut panel = CurvesPanel::new(
            format!("{} sampling", kind.name()),
            Axis::log("minibatches averaged, M"),
            Axis::log("‖mean error‖ (root mean square)"),
        );
        for (c, &(k, b)) in configs.iter().enumerate() {
            if k != kind {
                continue;
            }
            let group = p.batch_sizes.iter().position(|&x| x == b).unwrap_or(0);
            let errors = mean_square_errors(m, c, kind, b);
            let points = errors
                .iter()
                .map(|(mark, e, _)| {
                    let (value, ci) = rms(e);
                    MeasuredPoint::with_ci(*mark as f64, value, ci)
                })
                .collect();
            panel = panel
                .measured(Points::new(format!("b = {b}"), group, points))
                .theory(Line::new(
                    "",
                    group,
                    errors.iter().map(|(mark, _, t)| (*mark as f64, t.sqrt())),
                ));
        }
        panels.push(panel.into());
    }
    FigureData::stacked(panels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_log_spaced() {
        assert_eq!(
            checkpoints(10_000),
            vec![10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000]
        );
        assert_eq!(checkpoints(300), vec![10, 20, 50, 100, 200, 300]);
    }

    #[test]
    fn one_epoch_of_epoch_shuffle_batches_averages_to_the_full_gradient() {
        // Every point is used once per epoch, so the mean of the batch means is G up to the
        // rounding of N additions.
        let p = Params {
            samples: 256,
            batch_sizes: vec![1, 4, 64, 256],
            ..Params::default()
        };
        let ctx = RunContext::new("t", 3);
        let table = gradient_table(&ctx.streams(), p.samples, p.dim, p.label_noise).unwrap();
        let errors = epoch_errors(&p, &table, &ctx);
        assert_eq!(errors.len(), 4);
        assert!(errors.iter().all(|&e| e < 1e-12), "{errors:?}");
    }

    #[test]
    fn defaults_validate_and_bad_sizes_do_not() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            batch_sizes: vec![3],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "batch_sizes[0]");
    }

    /// A hand-made measurement: one batch size, two replicas, errors exactly at theory.
    #[test]
    fn metrics_and_figures_are_functions_of_the_measurement() {
        let p = Params {
            samples: 8,
            dim: 2,
            batch_sizes: vec![2],
            batches: 100,
            replicas: 2,
            ..Params::default()
        };
        let table = GradientTable {
            rows: vec![
                1.0, 0.0, -1.0, 0.0, 0.0, 2.0, 0.0, -2.0, 1.0, 1.0, -1.0, -1.0, 0.5, 0.0, -0.5, 0.0,
            ],
            samples: 8,
            dim: 2,
            full: vec![0.0, 0.0],
            trace_sigma: 1.0,
            mean_square_norm: 1.0,
        };
        let marks = checkpoints(100);
        let seq = |kind: SamplerKind| Sequence {
            error_sq_at: marks
                .iter()
                .map(|&mark| kind.variance_factor(8, 2) / mark as f64)
                .collect(),
            dev_sum: vec![0.0, 0.0],
            dev_sq_sum: vec![50.0, 50.0],
            along_sum: 0.0,
            along_sq_sum: 100.0,
        };
        let m = Measured {
            table,
            replicas: 2,
            batches: 100,
            marks: marks.clone(),
            sequences: SAMPLERS.iter().flat_map(|&k| [seq(k), seq(k)]).collect(),
            epoch_errors: vec![0.0],
        };
        let out = GradientUnbiased::metrics(&p, &m).unwrap();
        assert_eq!(out.value("mean_error_max_abs_z"), Some(0.0));
        // Two configurations of 200 draws of sample variance 200/199: SE sqrt(2 x 200/199/200)/2.
        let bias = out.values["bias_along_gradient"];
        assert_eq!(bias.value, 0.0);
        let se = (2.0 * 200.0 / 199.0 / 200.0f64).sqrt() / 2.0;
        let [lo, hi] = bias.ci.unwrap();
        assert!(hi > 1.9 * se && hi < 2.0 * se && lo == -hi, "{hi} {se}");
        let slope = out.value("norm_decay_slope").unwrap();
        assert!((slope + 0.5).abs() < 1e-12, "{slope}");
        assert_eq!(out.tables["mean-error-norm"].rows.len(), 2 * m.marks.len());
        assert_eq!(m.samples(), 400);
        let figures = GradientUnbiased::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["mean-error"].panels.len(), 2);
    }
}
