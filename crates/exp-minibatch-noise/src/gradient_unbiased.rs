//! Claim `gradient-unbiased`: the minibatch gradient is an unbiased estimate of the full gradient.
//!
//! For each sampler and batch size, `replicas` independent sequences of M minibatch gradients are
//! drawn at a fixed w. Unbiasedness is tested per coordinate (z-scores of the mean error over all
//! draws), and the norm of the running mean's error is checked to fall as M^-1/2:
//! E||mean_M - G||^2 = tr(Sigma) f(b) / M, with f(b) the sampler's variance factor.

use crate::data::{GradientTable, gradient_table};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::trajectories;
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
struct Sequence {
    error_sq_at: Vec<f64>,
    dev_sum: Vec<f64>,
    dev_sq_sum: Vec<f64>,
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
    let mut next = 0;
    for step in 1..=m {
        table.batch_mean(sampler.next_batch(rng), &mut g);
        for j in 0..d {
            let dev = g[j] - table.full[j];
            running[j] += dev;
            dev_sum[j] += dev;
            dev_sq_sum[j] += dev * dev;
        }
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
    }
}

/// Runs the claim.
///
/// # Errors
/// Invalid sizes.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let table = gradient_table(&streams, p.samples, p.dim, p.label_noise)?;
    let replicas = ctx.scaled(p.replicas);
    let marks = checkpoints(p.batches);
    let configs: Vec<(SamplerKind, usize)> = SAMPLERS
        .iter()
        .flat_map(|&k| p.batch_sizes.iter().map(move |&b| (k, b)))
        .collect();
    let sequences = trajectories(&streams, "sequence", configs.len() * replicas, |i, rng| {
        let (kind, b) = configs[i / replicas];
        sequence(&table, kind, b, p.batches, &marks, rng)
    });

    let mut out = Outcome::new();
    let mut z_table = Table::new(["sampler", "batch_size", "max_abs_z", "draws"]);
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
    let mut normalized_by_mark = vec![Vec::new(); marks.len()];
    let mut panels = Vec::new();
    for (ki, &kind) in SAMPLERS.iter().enumerate() {
        let mut series = Vec::new();
        for (bi, &b) in p.batch_sizes.iter().enumerate() {
            let c = ki * p.batch_sizes.len() + bi;
            let seqs = &sequences[c * replicas..(c + 1) * replicas];
            let n = (replicas * p.batches) as f64;
            let mut config_z: f64 = 0.0;
            for j in 0..p.dim {
                let sum: f64 = seqs.iter().map(|s| s.dev_sum[j]).sum();
                let sq: f64 = seqs.iter().map(|s| s.dev_sq_sum[j]).sum();
                let mean = sum / n;
                let var = (sq - n * mean * mean) / (n - 1.0);
                let z = if var > 0.0 {
                    mean / (var / n).sqrt()
                } else {
                    0.0
                };
                config_z = config_z.max(z.abs());
            }
            max_abs_z = max_abs_z.max(config_z);
            z_table.push(row![kind.name(), b, config_z, n]);

            let expected = table.trace_sigma * kind.variance_factor(p.samples, b);
            let mut sim = Vec::new();
            let mut theory = Vec::new();
            for (k, &m) in marks.iter().enumerate() {
                let values: Vec<f64> = seqs.iter().map(|s| s.error_sq_at[k]).collect();
                let e: Estimate = mean_estimate(&values);
                normalized_by_mark[k].push(e.value / (expected / m as f64));
                let rms = e.value.sqrt();
                let [lo, hi] = e.ci95();
                let (lo, hi) = (lo.max(0.0).sqrt(), hi.sqrt());
                let t = (expected / m as f64).sqrt();
                norm_table.push(row![kind.name(), b, m, rms, lo, hi, t]);
                sim.push(Point::with_interval(m as f64, rms, [lo, hi]));
                theory.push(Point::new(m as f64, t));
            }
            series.push(Series {
                label: format!("b = {b}"),
                kind: SeriesKind::Simulation,
                color: bi,
                points: sim,
            });
            series.push(Series {
                label: String::new(),
                kind: SeriesKind::Theory,
                color: bi,
                points: theory,
            });
        }
        panels.push(Panel {
            title: format!("{} sampling", kind.name()),
            x: Axis::log("minibatches averaged, M"),
            y: Axis::log("norm of mean error"),
            series,
            labels: Vec::new(),
        });
    }
    // The normalized mean square M ||mean_M - G||^2 / (tr(Sigma) f(b)) has expectation 1 at every
    // M; averaged over configurations, its log-log slope against M is -1, so the norm's is -1/2.
    let log_m: Vec<f64> = marks
        .iter()
        .map(|&m| sgd_sim::math::log10(m as f64))
        .collect();
    let log_norm: Vec<f64> = normalized_by_mark
        .iter()
        .zip(&marks)
        .map(|(v, &m)| {
            0.5 * sgd_sim::math::log10(v.iter().sum::<f64>() / v.len() as f64 / m as f64)
        })
        .collect();
    let fit = linear_fit(&log_m, &log_norm);
    out.estimate("norm_decay_slope", fit.slope_estimate());
    out.exact("mean_error_max_abs_z", max_abs_z);

    // Epoch-shuffle: the mean of the batch means over one whole epoch is G up to rounding.
    let mut epoch_table = Table::new(["batch_size", "epoch_average_rel_error"]);
    let mut epoch_max: f64 = 0.0;
    let mut rng = streams.stream("epoch", 0);
    let full_norm = table.full_norm_sq().sqrt();
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
            .map(|(a, f)| (a / batches as f64 - f).powi(2))
            .sum::<f64>()
            .sqrt()
            / full_norm;
        epoch_max = epoch_max.max(err);
        epoch_table.push(row![b, err]);
    }
    out.exact("epoch_average_rel_error_max", epoch_max);
    out.exact("trace_sigma", table.trace_sigma);
    out.exact("full_gradient_norm", full_norm);

    out.table("coordinate-z", z_table);
    out.table("mean-error-norm", norm_table);
    out.table("epoch-shuffle", epoch_table);
    out.figure("mean-error", FigureSpec { panels });
    out.samples = (configs.len() * replicas * p.batches) as u64;
    Ok(out)
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
    fn defaults_validate_and_bad_sizes_do_not() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            batch_sizes: vec![3],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "batch_sizes[0]");
    }
}
