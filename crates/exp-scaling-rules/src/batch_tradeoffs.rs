//! Claim `batch-size-tradeoffs`, its deterministic part: the gradient noise of the benchmarked
//! step falls as 1/b, and the bytes the step touches grow linearly in b.
//!
//! With b indices drawn with replacement, the minibatch gradient is the mean of b i.i.d. draws of
//! the per-example gradient, so E||g_b - G||^2 = tr(Sigma)/b exactly, Sigma the per-example
//! covariance with divisor N (Cochran 1977, theorem 2.1). It is measured at a fixed point with the
//! step's own gradient kernel. Timings (updates and examples per second) come from the criterion
//! benchmark `minibatch_step` through `cargo xtask bench-table`, never from this run.

use crate::minibatch_step::{LeastSquaresModel, StepWorkspace};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::ln;
use sgd_sim::parallel::map_indexed;
use sgd_sim::stats::{Estimate, linear_fit, mean_estimate, weighted_linear_fit};

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

/// The kind `scaling-rules/batch-noise-and-memory`.
#[derive(Debug)]
pub struct BatchNoiseAndMemory;

/// One batch size: its measured gradient noise and the bytes its step touches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SizeMeasurement {
    /// The batch size b.
    pub batch: usize,
    /// Minibatches drawn.
    pub batches: usize,
    /// The mean of ||g_b - G||^2 over the minibatches, with its SE.
    pub noise: Estimate,
    /// Bytes one step reads or writes ([`StepWorkspace::working_set_bytes`]).
    pub bytes: usize,
}

impl SizeMeasurement {
    /// The exact E||g_b - G||^2 = tr(Sigma)/b with replacement.
    fn theory(&self, trace_sigma: f64) -> f64 {
        trace_sigma / self.batch as f64
    }
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// d.
    pub dim: usize,
    /// tr(Sigma) of the per-example gradients at the evaluation point (of the drawn data set).
    pub trace_sigma: f64,
    /// The batch sizes, in increasing order.
    pub sizes: Vec<SizeMeasurement>,
    /// Examples drawn.
    pub examples_drawn: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.examples_drawn
    }
}

/// The squared error ||g_b - G||^2 of `batches` minibatches of size b on one stream.
fn noise_draws(
    model: &LeastSquaresModel,
    w: &[f64],
    full: &[f64],
    batch: usize,
    batches: usize,
    rng: &mut sgd_sim::rng::Stream,
) -> Vec<f64> {
    let mut ws = StepWorkspace::new(batch, model.dim);
    (0..batches)
        .map(|_| {
            ws.draw_batch(model.samples, rng);
            model.batch_gradient(w, &ws.batch, &mut ws.residuals, &mut ws.gradient);
            ws.gradient
                .iter()
                .zip(full)
                .map(|(g, f)| (g - f) * (g - f))
                .sum::<f64>()
        })
        .collect()
}

/// The affine fit of the working set against b.
fn memory_fit(m: &Measured) -> sgd_sim::stats::LinearFit {
    let bx: Vec<f64> = m.sizes.iter().map(|s| s.batch as f64).collect();
    let by: Vec<f64> = m.sizes.iter().map(|s| s.bytes as f64).collect();
    linear_fit(&bx, &by)
}

/// The gradient-noise metrics: the largest |z| against tr(Sigma)/b, the log-log slope, and the
/// ratio of the smallest to the largest batch.
fn noise_metrics(m: &Measured, out: &mut Metrics) {
    let max_abs_z = m
        .sizes
        .iter()
        .map(|s| s.noise.z_score(s.theory(m.trace_sigma)).abs())
        .fold(0.0, f64::max);
    out.measured("noise_variance_max_abs_z", max_abs_z);
    out.measured("trace_sigma", m.trace_sigma);
    let lx: Vec<f64> = m.sizes.iter().map(|s| ln(s.batch as f64)).collect();
    let ly: Vec<f64> = m.sizes.iter().map(|s| ln(s.noise.value)).collect();
    let ls: Vec<f64> = m.sizes.iter().map(|s| s.noise.se / s.noise.value).collect();
    let slope = weighted_linear_fit(&lx, &ly, &ls);
    out.estimate("noise_variance_slope", slope.slope_estimate());
    if let (Some(small), Some(large)) = (m.sizes.first(), m.sizes.last())
        && m.sizes.len() >= 2
    {
        // Ratio of independent estimates, delta-method interval.
        let (small, large) = (small.noise, large.noise);
        let ratio = small.value / large.value;
        let (rs, rl) = (small.se / small.value, large.se / large.value);
        let rel = (rs * rs + rl * rl).sqrt();
        out.estimate_with_interval(
            "noise_variance_ratio_smallest_over_largest",
            ratio,
            [ratio * (1.0 - 1.96 * rel), ratio * (1.0 + 1.96 * rel)],
        );
    }
}

impl Experiment for BatchNoiseAndMemory {
    const KIND: &'static str = "scaling-rules/batch-noise-and-memory";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let (model, teacher) =
            LeastSquaresModel::generate(&streams, p.samples, p.dim, p.label_noise)?;
        // A point early in training, one unit from the teacher in every coordinate (where G is
        // not small).
        let w: Vec<f64> = teacher.iter().map(|t| t + 1.0).collect();
        let (full, trace_sigma) = model.gradient_statistics(&w);
        let examples = ctx.scaled(p.examples_per_size);
        let mut sizes = Vec::with_capacity(p.batch_sizes.len());
        let mut examples_drawn = 0u64;
        for (bi, &b) in p.batch_sizes.iter().enumerate() {
            ctx.check_cancelled()?;
            let per_stream = (examples / b / p.streams).max(4);
            let chunks = map_indexed(p.streams, |s| {
                let mut rng = streams.stream("batches", (bi * p.streams + s) as u64);
                noise_draws(&model, &w, &full, b, per_stream, &mut rng)
            });
            let values: Vec<f64> = chunks.into_iter().flatten().collect();
            examples_drawn += (values.len() * b) as u64;
            sizes.push(SizeMeasurement {
                batch: b,
                batches: values.len(),
                noise: mean_estimate(&values),
                bytes: StepWorkspace::new(b, model.dim).working_set_bytes(model.dim),
            });
        }
        Ok(Measured {
            dim: model.dim,
            trace_sigma,
            sizes,
            examples_drawn,
        })
    }

    fn metrics(_p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        noise_metrics(m, &mut out);
        // Working set: a line in b by the step's buffers; its slope is the bytes per example.
        let fit = memory_fit(m);
        let max_rel_residual = m
            .sizes
            .iter()
            .map(|s| ((fit.intercept + fit.slope * s.batch as f64) / s.bytes as f64 - 1.0).abs())
            .fold(0.0, f64::max);
        out.computed("working_set_bytes_per_example", fit.slope);
        out.computed("working_set_fixed_bytes", fit.intercept);
        out.computed("working_set_linear_max_rel_residual", max_rel_residual);
        out.computed("parameters", m.dim as f64);
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
        for s in &m.sizes {
            let theory = s.theory(m.trace_sigma);
            let [lo, hi] = s.noise.ci95();
            table.push(row![
                s.batch,
                s.batches,
                s.noise.value,
                lo,
                hi,
                theory,
                s.noise.z_score(theory),
                s.bytes
            ]);
        }
        out.table("tradeoffs", table);
        Ok(out)
    }

    fn figures(_p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("noise-and-memory", noise_and_memory_figure(m));
        Ok(figures)
    }
}

/// The gradient noise against tr(Sigma)/b, and the bytes one step touches.
fn noise_and_memory_figure(m: &Measured) -> FigureData {
    let b_min = m.sizes.first().map_or(1.0, |s| s.batch as f64);
    let b_max = m.sizes.last().map_or(1.0, |s| s.batch as f64);
    let theory_line: Vec<(f64, f64)> = (0..=100)
        .map(|j| {
            let b = b_min * sgd_sim::math::powf(b_max / b_min, j as f64 / 100.0);
            (b, m.trace_sigma / b)
        })
        .collect();
    let fit = memory_fit(m);
    let kib = |b: f64| (fit.intercept + fit.slope * b) / 1024.0;
    let memory_line: Vec<(f64, f64)> = theory_line.iter().map(|&(b, _)| (b, kib(b))).collect();
    let noise_points = m
        .sizes
        .iter()
        .map(|s| MeasuredPoint::with_ci(s.batch as f64, s.noise.value, s.noise.ci95()))
        .collect();
    let memory_points = m
        .sizes
        .iter()
        .map(|s| MeasuredPoint::new(s.batch as f64, s.bytes as f64 / 1024.0))
        .collect();
    let noise = CurvesPanel::new(
        "Gradient noise of one step",
        Axis::log("batch size b"),
        Axis::log("E‖g_b − G‖²"),
    )
    .theory(Line::new("tr(Σ)/b", 0, theory_line))
    .measured(Points::new("measured (95% interval)", 0, noise_points));
    let memory = CurvesPanel::new(
        "Bytes one step touches",
        Axis::log("batch size b"),
        Axis::log("working set (KiB)").with_range(0.5 * kib(b_min), 2.0 * kib(b_max)),
    )
    .theory(Line::new("affine in b", 1, memory_line))
    .measured(Points::new("counted from the buffers", 1, memory_points));
    FigureData::stacked(vec![noise.into(), memory.into()])
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

    /// A hand-made measurement: noise exactly at tr(Sigma)/b with a 1% SE, bytes from the step.
    fn hand_made() -> Measured {
        let sizes = [1usize, 4, 16]
            .iter()
            .map(|&b| SizeMeasurement {
                batch: b,
                batches: 1000,
                noise: Estimate {
                    value: 8.0 / b as f64,
                    se: 0.08 / b as f64,
                    n: 1000,
                },
                bytes: StepWorkspace::new(b, 4).working_set_bytes(4),
            })
            .collect();
        Measured {
            dim: 4,
            trace_sigma: 8.0,
            sizes,
            examples_drawn: 21_000,
        }
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let m = hand_made();
        let out = BatchNoiseAndMemory::metrics(&Params::default(), &m).unwrap();
        assert_eq!(out.value("noise_variance_max_abs_z"), Some(0.0));
        let slope = out.value("noise_variance_slope").unwrap();
        assert!((slope + 1.0).abs() < 1e-12, "{slope}");
        let ratio = out
            .value("noise_variance_ratio_smallest_over_largest")
            .unwrap();
        assert!((ratio - 16.0).abs() < 1e-12);
        // b (8 (d + 1) + 16) + 16 d at d = 4: 56 bytes per example and 64 fixed.
        let per_example = out.value("working_set_bytes_per_example").unwrap();
        assert!((per_example - 56.0).abs() < 1e-9, "{per_example}");
        assert_eq!(out.tables["tradeoffs"].rows.len(), 3);
        assert_eq!(
            out.values["noise_variance_slope"].basis,
            claim_spec::Basis::Measured
        );
        assert_eq!(m.samples(), 21_000);
        let figures = BatchNoiseAndMemory::figures(&Params::default(), &m)
            .unwrap()
            .into_map();
        assert_eq!(figures["noise-and-memory"].panels.len(), 2);
    }

    #[test]
    fn a_small_run_measures_every_size() {
        let p = Params {
            samples: 64,
            dim: 8,
            batch_sizes: vec![1, 2, 4],
            examples_per_size: 512,
            streams: 2,
            ..Params::default()
        };
        let m = BatchNoiseAndMemory::measure(&p, &RunContext::new("t", 1)).unwrap();
        assert_eq!(m.sizes.len(), 3);
        assert_eq!(m.sizes[2].batches, 128);
        let out = BatchNoiseAndMemory::metrics(&p, &m).unwrap();
        assert!(out.value("noise_variance_max_abs_z").unwrap() < 5.0);
    }
}
