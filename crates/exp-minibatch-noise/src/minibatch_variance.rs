//! Claim `minibatch-variance`: E||g_b - G||^2 = tr(Sigma)/b with replacement and
//! tr(Sigma)/b * (N-b)/(N-1) without (Cochran 1977, theorem 2.2), measured at a fixed w.

use crate::data::gradient_table;
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::trajectories;
use sgd_sim::sampler::{BatchSampler, SamplerKind};
use sgd_sim::stats::mean_estimate;

/// Parameters of `minibatch-noise/minibatch-variance`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Data points N.
    pub samples: usize,
    /// Features d.
    pub dim: usize,
    /// Standard deviation of the label noise.
    pub label_noise: f64,
    /// Batch sizes b (at most N).
    pub batch_sizes: Vec<usize>,
    /// Minibatches drawn per (sampler, b).
    pub batches: usize,
    /// Independent streams the batches are split over (for parallelism; results do not depend on
    /// the thread count, but do on this number).
    pub streams: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            samples: 1024,
            dim: 10,
            label_noise: 0.5,
            batch_sizes: vec![1, 4, 16, 64, 256, 1024],
            batches: 20_000,
            streams: 20,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("samples", self.samples as u64, 2)?;
        ParamError::at_least("dim", self.dim as u64, 1)?;
        ParamError::non_negative("label_noise", self.label_noise)?;
        ParamError::at_least("streams", self.streams as u64, 1)?;
        ParamError::at_least("batches", self.batches as u64, 100)?;
        if !self.batches.is_multiple_of(self.streams) {
            return Err(ParamError::new(
                "batches",
                format!("must be a multiple of streams = {}", self.streams),
            ));
        }
        if self.batch_sizes.is_empty() {
            return Err(ParamError::new("batch_sizes", "must not be empty"));
        }
        for (i, &b) in self.batch_sizes.iter().enumerate() {
            if b == 0 || b > self.samples {
                return Err(ParamError::new(
                    format!("batch_sizes[{i}]"),
                    format!("must be in 1..={}, got {b}", self.samples),
                ));
            }
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        2.0 * self.batch_sizes.iter().map(|&b| b as f64).sum::<f64>()
            * self.dim as f64
            * self.batches as f64
    }
}

const SAMPLERS: [SamplerKind; 2] = [
    SamplerKind::WithReplacement,
    SamplerKind::WithoutReplacement,
];

/// Runs the claim.
///
/// # Errors
/// Invalid sizes.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let table = gradient_table(&streams, p.samples, p.dim, p.label_noise)?;
    let batches = ctx.scaled(p.batches / p.streams) * p.streams;
    let per_stream = batches / p.streams;
    let configs: Vec<(SamplerKind, usize)> = SAMPLERS
        .iter()
        .flat_map(|&k| p.batch_sizes.iter().map(move |&b| (k, b)))
        .collect();
    // Squared deviations ||g_b - G||^2, one vector per (configuration, stream).
    let chunks = trajectories(&streams, "batches", configs.len() * p.streams, |i, rng| {
        let (kind, b) = configs[i / p.streams];
        let mut sampler = BatchSampler::new(kind, table.samples, b);
        let mut g = vec![0.0; table.dim];
        let mut sorted = Vec::with_capacity(b);
        (0..per_stream)
            .map(|_| {
                let batch = sampler.next_batch(rng);
                let batch = if kind == SamplerKind::WithReplacement {
                    batch
                } else {
                    // A subset's mean does not depend on order; summing in index order makes the
                    // b = N batch equal G bit for bit.
                    sorted.clear();
                    sorted.extend_from_slice(batch);
                    sorted.sort_unstable();
                    &sorted[..]
                };
                table.batch_mean(batch, &mut g);
                g.iter()
                    .zip(&table.full)
                    .map(|(a, f)| (a - f) * (a - f))
                    .sum::<f64>()
            })
            .collect::<Vec<f64>>()
    });

    let mut out = Outcome::new();
    let mut results = Table::new([
        "sampler",
        "batch_size",
        "variance",
        "variance_lo",
        "variance_hi",
        "theory",
        "ratio",
        "ratio_se",
        "z",
    ]);
    let mut max_abs_z: f64 = 0.0;
    let mut max_rel: f64 = 0.0;
    let mut full_batch_variance = None;
    let mut panels_series = Vec::new();
    let mut measured_b1_with = None;
    for (ki, &kind) in SAMPLERS.iter().enumerate() {
        let mut sim = Vec::new();
        for (bi, &b) in p.batch_sizes.iter().enumerate() {
            let c = ki * p.batch_sizes.len() + bi;
            let values: Vec<f64> = chunks[c * p.streams..(c + 1) * p.streams]
                .iter()
                .flatten()
                .copied()
                .collect();
            let e = mean_estimate(&values);
            let theory = table.trace_sigma * kind.variance_factor(p.samples, b);
            if theory == 0.0 {
                // b = N without replacement: every batch is the whole data set.
                full_batch_variance = Some(e.value);
                results.push(row![
                    kind.name(),
                    b,
                    e.value,
                    e.value,
                    e.value,
                    theory,
                    None::<f64>,
                    None::<f64>,
                    None::<f64>
                ]);
                continue;
            }
            let z = (e.value - theory) / e.se;
            max_abs_z = max_abs_z.max(z.abs());
            max_rel = max_rel.max((e.value / theory - 1.0).abs());
            let [lo, hi] = e.ci95();
            results.push(row![
                kind.name(),
                b,
                e.value,
                lo,
                hi,
                theory,
                e.value / theory,
                e.se / theory,
                z
            ]);
            sim.push(Point::with_interval(b as f64, e.value, [lo, hi]));
            if kind == SamplerKind::WithReplacement && b == 1 {
                measured_b1_with = Some(e);
            }
        }
        panels_series.push(Series {
            label: format!("{} (simulated)", kind.name()),
            kind: SeriesKind::Simulation,
            color: ki,
            points: sim,
        });
        let max_b = *p.batch_sizes.iter().max().unwrap_or(&1);
        let curve = (0..=200).map(|k| {
            let b = sgd_sim::math::powf(max_b as f64, f64::from(k) / 200.0);
            let factor = match kind {
                SamplerKind::WithReplacement => 1.0 / b,
                _ => (p.samples as f64 - b) / (b * (p.samples as f64 - 1.0)),
            };
            (b, table.trace_sigma * factor)
        });
        panels_series.push(Series::from_xy(
            format!("{} (theory)", kind.name()),
            SeriesKind::Theory,
            ki,
            curve,
        ));
    }
    out.exact("ratio_max_abs_z", max_abs_z);
    out.exact("ratio_max_rel_error", max_rel);
    out.exact("trace_sigma", table.trace_sigma);
    if let Some(v) = full_batch_variance {
        out.exact("full_batch_variance_over_trace", v / table.trace_sigma);
    }
    // Reading sigma^2 as the mean squared per-sample norm predicts (tr(Sigma) + ||G||^2)/b: it
    // overstates the variance by the fraction ||G||^2 / tr(Sigma), exactly.
    out.exact(
        "naive_variance_overstatement",
        table.full_norm_sq() / table.trace_sigma,
    );
    if let Some(e) = measured_b1_with {
        out.with_interval(
            "naive_prediction_over_measured_b1",
            table.mean_square_norm / e.value,
            {
                let [lo, hi] = e.ci95();
                [
                    table.mean_square_norm / hi,
                    table.mean_square_norm / lo.max(f64::MIN_POSITIVE),
                ]
            },
        );
    }
    out.table("variance", results);
    out.figure(
        "variance",
        FigureSpec {
            panels: vec![Panel {
                title: "Minibatch gradient variance".into(),
                x: Axis::log("batch size b"),
                y: Axis::log("E ||g_b - G||^2"),
                series: panels_series,
                labels: Vec::new(),
            }],
        },
    );
    out.samples = (configs.len() * batches) as u64;
    Ok(out)
}
