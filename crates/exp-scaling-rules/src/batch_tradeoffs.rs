//! Claim `batch-size-tradeoffs`, its deterministic part: the gradient noise of the benchmarked
//! step falls as 1/b, and the bytes the step touches grow linearly in b.
//!
//! With b indices drawn with replacement, the minibatch gradient is the mean of b i.i.d. draws of
//! the per-example gradient, so E||g_b - G||^2 = tr(Sigma)/b exactly, Sigma the per-example
//! covariance with divisor N (Cochran 1977, theorem 2.1). It is measured at a fixed point with the
//! step's own gradient kernel. Timings (updates and examples per second) come from the criterion
//! benchmark `minibatch_step` through `cargo xtask bench-table`, never from this run.

use crate::minibatch_step::{LeastSquaresModel, StepWorkspace};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::ln;
use sgd_sim::parallel::map_indexed;
use sgd_sim::stats::{linear_fit, mean_estimate, weighted_linear_fit};

/// Parameters of `scaling-rules/batch-noise-and-memory`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Examples N of the fixed model.
    pub samples: usize,
    /// Parameters d of the fixed model.
    pub dim: usize,
    /// Standard deviation of the label noise.
    pub label_noise: f64,
    /// Batch sizes b.
    pub batch_sizes: Vec<usize>,
    /// Examples drawn per batch size (so examples / b batches).
    pub examples_per_size: usize,
    /// Independent streams each batch size's draws are split over.
    pub streams: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            samples: 1024,
            dim: 256,
            label_noise: 0.5,
            batch_sizes: (0..=10).map(|k| 1usize << k).collect(),
            examples_per_size: 131_072,
            streams: 8,
        }
    }
}

/// The default model sizes, shared with the benchmark so it times the claim's step.
pub fn default_model_sizes() -> (usize, usize, f64) {
    let p = Params::default();
    (p.samples, p.dim, p.label_noise)
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("samples", self.samples as u64, 2)?;
        ParamError::at_least("dim", self.dim as u64, 1)?;
        if self.samples.saturating_mul(self.dim) > 50_000_000 {
            return Err(ParamError::new("dim", "samples * dim must be at most 5e7"));
        }
        ParamError::non_negative("label_noise", self.label_noise)?;
        if self.batch_sizes.len() < 3 {
            return Err(ParamError::new(
                "batch_sizes",
                "needs at least 3 sizes for the fits",
            ));
        }
        for (i, &b) in self.batch_sizes.iter().enumerate() {
            if b == 0 || (i > 0 && b <= self.batch_sizes[i - 1]) {
                return Err(ParamError::new(
                    format!("batch_sizes[{i}]"),
                    "must be positive and increasing",
                ));
            }
        }
        ParamError::at_least("streams", self.streams as u64, 1)?;
        let largest = *self.batch_sizes.last().unwrap_or(&1);
        if self.examples_per_size < 4 * largest * self.streams {
            return Err(ParamError::new(
                "examples_per_size",
                format!(
                    "must give every stream at least 4 batches of the largest size ({} examples)",
                    4 * largest * self.streams
                ),
            ));
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        2.0 * self.dim as f64 * self.examples_per_size as f64 * self.batch_sizes.len() as f64
    }
}

/// Runs the claim.
///
/// # Errors
/// Invalid sizes.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let (model, teacher) = LeastSquaresModel::generate(&streams, p.samples, p.dim, p.label_noise)?;
    // A point early in training, one unit from the teacher in every coordinate (where G is not small).
    let w: Vec<f64> = teacher.iter().map(|t| t + 1.0).collect();
    let (full, trace_sigma) = model.gradient_statistics(&w);
    let examples = ctx.scaled(p.examples_per_size);

    let mut out = Outcome::new();
    let mut table = Table::new([
        "batch_size",
        "batches",
        "noise_variance_sim",
        "noise_variance_lo",
        "noise_variance_hi",
        "noise_variance_theory",
        "z",
        "working_set_bytes",
    ]);
    let mut max_abs_z: f64 = 0.0;
    let (mut lx, mut ly, mut ls) = (Vec::new(), Vec::new(), Vec::new());
    let (mut bx, mut by) = (Vec::new(), Vec::new());
    let mut noise_points = Vec::new();
    let mut memory_points = Vec::new();
    let mut samples = 0u64;
    let mut smallest_and_largest = Vec::new();
    for (bi, &b) in p.batch_sizes.iter().enumerate() {
        let per_stream = (examples / b / p.streams).max(4);
        let chunks = map_indexed(p.streams, |s| {
            let mut rng = streams.stream("batches", (bi * p.streams + s) as u64);
            let rng = &mut rng;
            let mut ws = StepWorkspace::new(b, model.dim);
            (0..per_stream)
                .map(|_| {
                    ws.draw_batch(model.samples, rng);
                    model.batch_gradient(&w, &ws.batch, &mut ws.residuals, &mut ws.gradient);
                    ws.gradient
                        .iter()
                        .zip(&full)
                        .map(|(g, f)| (g - f) * (g - f))
                        .sum::<f64>()
                })
                .collect::<Vec<f64>>()
        });
        let values: Vec<f64> = chunks.into_iter().flatten().collect();
        samples += (values.len() * b) as u64;
        let e = mean_estimate(&values);
        let theory = trace_sigma / b as f64;
        let z = e.z_score(theory);
        max_abs_z = max_abs_z.max(z.abs());
        let bytes = StepWorkspace::new(b, model.dim).working_set_bytes(model.dim);
        let [lo, hi] = e.ci95();
        table.push(row![b, values.len(), e.value, lo, hi, theory, z, bytes]);
        lx.push(ln(b as f64));
        ly.push(ln(e.value));
        ls.push(e.se / e.value);
        bx.push(b as f64);
        by.push(bytes as f64);
        noise_points.push(Point::with_interval(b as f64, e.value, [lo, hi]));
        memory_points.push(Point::new(b as f64, bytes as f64 / 1024.0));
        if bi == 0 || bi + 1 == p.batch_sizes.len() {
            smallest_and_largest.push(e);
        }
    }
    out.exact("noise_variance_max_abs_z", max_abs_z);
    out.exact("trace_sigma", trace_sigma);
    let slope = weighted_linear_fit(&lx, &ly, &ls);
    out.estimate("noise_variance_slope", slope.slope_estimate());
    if let [small, large] = smallest_and_largest[..] {
        // Ratio of independent estimates, delta-method interval.
        let ratio = small.value / large.value;
        let rel = ((small.se / small.value).powi(2) + (large.se / large.value).powi(2)).sqrt();
        out.with_interval(
            "noise_variance_ratio_smallest_over_largest",
            ratio,
            [ratio * (1.0 - 1.96 * rel), ratio * (1.0 + 1.96 * rel)],
        );
    }
    // Working set: an exact line in b; its slope is the bytes per example.
    let fit = linear_fit(&bx, &by);
    let max_rel_residual = bx
        .iter()
        .zip(&by)
        .map(|(x, y)| ((fit.intercept + fit.slope * x) / y - 1.0).abs())
        .fold(0.0, f64::max);
    out.exact("working_set_bytes_per_example", fit.slope);
    out.exact("working_set_fixed_bytes", fit.intercept);
    out.exact("working_set_linear_max_rel_residual", max_rel_residual);
    out.exact("parameters", model.dim as f64);
    out.table("tradeoffs", table);

    let b_max = *p.batch_sizes.last().unwrap_or(&1) as f64;
    let b_min = p.batch_sizes[0] as f64;
    let theory_line: Vec<(f64, f64)> = (0..=100)
        .map(|j| {
            let b = b_min * sgd_sim::math::powf(b_max / b_min, j as f64 / 100.0);
            (b, trace_sigma / b)
        })
        .collect();
    let memory_line: Vec<(f64, f64)> = theory_line
        .iter()
        .map(|&(b, _)| (b, (fit.intercept + fit.slope * b) / 1024.0))
        .collect();
    out.figure(
        "noise-and-memory",
        FigureSpec {
            panels: vec![
                Panel {
                    title: "Gradient noise of one step".into(),
                    x: Axis::log("batch size b"),
                    y: Axis::log("E ||g_b - G||^2"),
                    series: vec![
                        Series::from_xy("tr(Sigma) / b", SeriesKind::Theory, 0, theory_line),
                        Series {
                            label: "measured (95% CI)".into(),
                            kind: SeriesKind::Simulation,
                            color: 1,
                            points: noise_points,
                        },
                    ],
                    labels: Vec::new(),
                },
                Panel {
                    title: "Bytes one step touches".into(),
                    x: Axis::log("batch size b"),
                    y: Axis::log("working set (KiB)").with_range(
                        0.5 * (fit.intercept + fit.slope * b_min) / 1024.0,
                        12.0 * (fit.intercept + fit.slope * b_max) / 1024.0,
                    ),
                    series: vec![
                        Series::from_xy("affine fit", SeriesKind::Theory, 2, memory_line),
                        Series {
                            label: "counted".into(),
                            kind: SeriesKind::Simulation,
                            color: 3,
                            points: memory_points,
                        },
                    ],
                    labels: Vec::new(),
                },
            ],
        },
    );
    out.samples = samples;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_their_key() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            batch_sizes: vec![1, 4, 2],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "batch_sizes[2]");
        let p = Params {
            examples_per_size: 100,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "examples_per_size");
        let p = Params {
            label_noise: f64::INFINITY,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "label_noise");
    }

    #[test]
    fn noise_variance_is_trace_over_b_by_enumeration() {
        // With replacement, b = 2 on N = 3: enumerate all 9 ordered pairs exactly.
        let (m, teacher) =
            LeastSquaresModel::generate(&sgd_sim::rng::Streams::new(2), 3, 4, 0.5).unwrap();
        let w: Vec<f64> = teacher.iter().map(|t| t + 1.0).collect();
        let (full, trace) = m.gradient_statistics(&w);
        let mut total = 0.0;
        let mut res = [0.0; 2];
        let mut g = vec![0.0; 4];
        for i in 0..3 {
            for j in 0..3 {
                m.batch_gradient(&w, &[i, j], &mut res, &mut g);
                total += g
                    .iter()
                    .zip(&full)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    / 9.0;
            }
        }
        assert!((total / (trace / 2.0) - 1.0).abs() < 1e-12);
    }
}
