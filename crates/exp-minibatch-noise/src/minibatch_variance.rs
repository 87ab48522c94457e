//! Claim `minibatch-variance`: E||g_b - G||^2 = tr(Sigma)/b with replacement and
//! tr(Sigma)/b * (N-b)/(N-1) without (Cochran 1977, theorem 2.2), measured at a fixed w.

use crate::data::{GradientTable, gradient_table};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::powf;
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::sampler::{BatchSampler, SamplerKind};
use sgd_sim::stats::{Estimate, mean_estimate};

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

/// The kind `minibatch-noise/minibatch-variance`.
#[derive(Debug)]
pub struct MinibatchVariance;

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The per-sample gradients at the fixed point (the data set is drawn from the claim's seed).
    pub table: GradientTable,
    /// Squared deviations ||g_b - G||^2 of every batch, per configuration (sampler outer, batch
    /// size inner), streams concatenated in index order.
    pub deviations: Vec<Vec<f64>>,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.deviations.iter().map(|d| d.len() as u64).sum()
    }
}

/// The configurations (sampler, b), sampler outer.
fn configs(p: &Params) -> Vec<(SamplerKind, usize)> {
    SAMPLERS
        .iter()
        .flat_map(|&k| p.batch_sizes.iter().map(move |&b| (k, b)))
        .collect()
}

/// `per_stream` squared deviations ||g_b - G||^2 of one stream.
fn stream_deviations(
    table: &GradientTable,
    kind: SamplerKind,
    b: usize,
    per_stream: usize,
    rng: &mut sgd_sim::rng::Stream,
) -> Vec<f64> {
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
        .collect()
}

/// One configuration's estimate of E||g_b - G||^2 beside its exact value.
struct Point {
    kind: SamplerKind,
    b: usize,
    estimate: Estimate,
    theory: f64,
}

fn points(p: &Params, m: &Measured) -> Vec<Point> {
    configs(p)
        .into_iter()
        .zip(&m.deviations)
        .map(|((kind, b), values)| Point {
            kind,
            b,
            estimate: mean_estimate(values),
            theory: m.table.trace_sigma * kind.variance_factor(p.samples, b),
        })
        .collect()
}

fn variance_metrics(p: &Params, m: &Measured, out: &mut Metrics) {
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
    let mut measured_b1_with = None;
    let mut ratios = Vec::new();
    for pt in points(p, m) {
        let e = pt.estimate;
        let theory = pt.theory;
        if theory == 0.0 {
            // b = N without replacement: every batch is the whole data set.
            full_batch_variance = Some(e.value);
            let none = None::<f64>;
            results.push(row![
                pt.kind.name(),
                pt.b,
                e.value,
                e.value,
                e.value,
                theory,
                none,
                none,
                none
            ]);
            continue;
        }
        let z = (e.value - theory) / e.se;
        ratios.push(e.scaled(1.0 / theory));
        max_abs_z = max_abs_z.max(z.abs());
        max_rel = max_rel.max((e.value / theory - 1.0).abs());
        let [lo, hi] = e.ci95();
        results.push(row![
            pt.kind.name(),
            pt.b,
            e.value,
            lo,
            hi,
            theory,
            e.value / theory,
            e.se / theory,
            z
        ]);
        if pt.kind == SamplerKind::WithReplacement && pt.b == 1 {
            measured_b1_with = Some(e);
        }
    }
    let table = &m.table;
    if let Some(mean) = mean_of_estimates(&ratios) {
        out.estimate("variance_ratio_mean", mean);
    }
    out.measured("ratio_max_abs_z", max_abs_z);
    out.measured("ratio_max_rel_error", max_rel);
    out.measured("trace_sigma", table.trace_sigma);
    if let Some(v) = full_batch_variance {
        out.computed("full_batch_variance_over_trace", v / table.trace_sigma);
    }
    // Reading sigma^2 as the mean squared per-sample norm predicts (tr(Sigma) + ||G||^2)/b: it
    // overstates the variance by the fraction ||G||^2 / tr(Sigma), exactly.
    out.measured(
        "naive_variance_overstatement",
        table.full_norm_sq() / table.trace_sigma,
    );
    if let Some(e) = measured_b1_with {
        let [lo, hi] = e.ci95();
        out.estimate_with_interval(
            "naive_prediction_over_measured_b1",
            table.mean_square_norm / e.value,
            [
                table.mean_square_norm / hi,
                table.mean_square_norm / lo.max(f64::MIN_POSITIVE),
            ],
        );
    }
    out.table("variance", results);
}

/// The mean of independent estimates, with the standard error sqrt(sum se_k^2) / K (the
/// configurations draw from independent streams).
fn mean_of_estimates(estimates: &[Estimate]) -> Option<Estimate> {
    if estimates.is_empty() {
        return None;
    }
    let k = estimates.len() as f64;
    let value = estimates.iter().map(|e| e.value).sum::<f64>() / k;
    let variance: f64 = estimates.iter().map(|e| e.se * e.se).sum();
    Some(Estimate {
        value,
        se: variance.sqrt() / k,
        n: estimates.iter().map(|e| e.n).sum(),
    })
}

impl Experiment for MinibatchVariance {
    const KIND: &'static str = "minibatch-noise/minibatch-variance";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let table = gradient_table(&streams, p.samples, p.dim, p.label_noise)?;
        let batches = ctx.scaled(p.batches / p.streams) * p.streams;
        let per_stream = batches / p.streams;
        let configs = configs(p);
        let n = configs.len() * p.streams;
        let chunks = cancellable_trajectories(&streams, "batches", n, &ctx.cancel, |i, rng| {
            let (kind, b) = configs[i / p.streams];
            Ok::<Vec<f64>, ExperimentError>(stream_deviations(&table, kind, b, per_stream, rng))
        })?;
        let deviations = chunks
            .chunks(p.streams)
            .map(|c| c.iter().flatten().copied().collect())
            .collect();
        Ok(Measured { table, deviations })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        variance_metrics(p, m, &mut out);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("variance", variance_figure(p, m));
        Ok(figures)
    }
}

/// E||g_b - G||^2 against b per sampler, with the exact curves.
fn variance_figure(p: &Params, m: &Measured) -> FigureData {
    let pts = points(p, m);
    let max_b = *p.batch_sizes.iter().max().unwrap_or(&1);
    let n = p.samples as f64;
    let mut panel = CurvesPanel::new(
        "Minibatch gradient variance",
        Axis::log("batch size b"),
        Axis::log("E‖g_b − G‖²"),
    );
    for (ki, &kind) in SAMPLERS.iter().enumerate() {
        let sim = pts
            .iter()
            .filter(|pt| pt.kind == kind && pt.theory != 0.0)
            .map(|pt| MeasuredPoint::with_ci(pt.b as f64, pt.estimate.value, pt.estimate.ci95()))
            .collect();
        let curve = (0..=200).filter_map(|k| {
            let b = powf(max_b as f64, f64::from(k) / 200.0);
            let factor = match kind {
                SamplerKind::WithReplacement => 1.0 / b,
                _ => (n - b) / (b * (n - 1.0)),
            };
            // Without replacement the variance vanishes at b = N, off a log axis.
            (factor > 0.0).then_some((b, m.table.trace_sigma * factor))
        });
        panel = panel
            .measured(Points::new(format!("{} (simulated)", kind.name()), ki, sim))
            .theory(Line::new(format!("{} (theory)", kind.name()), ki, curve));
    }
    let mut ratio_panel = CurvesPanel::new(
        "Measured over exact (σ²/b, with (N−b)/(N−1) without replacement)",
        Axis::log("batch size b"),
        Axis::linear("measured / exact variance"),
    )
    .theory(Line::new("exact", 2, [(1.0, 1.0), (max_b as f64, 1.0)]));
    for (ki, &kind) in SAMPLERS.iter().enumerate() {
        // The two samplers share each b: nudge them apart for reading.
        let nudge = if ki == 0 { 0.94 } else { 1.06 };
        let ratios = pts
            .iter()
            .filter(|pt| pt.kind == kind && pt.theory != 0.0)
            .map(|pt| {
                let r = pt.estimate.scaled(1.0 / pt.theory);
                MeasuredPoint::with_ci(pt.b as f64 * nudge, r.value, r.ci95())
            })
            .collect();
        ratio_panel = ratio_panel.measured(Points::new(kind.name(), ki, ratios));
    }
    FigureData::stacked(vec![panel.into(), ratio_panel.into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two points, each batch's squared deviation alternating around the exact variance.
    fn hand_made() -> (Params, Measured) {
        let p = Params {
            samples: 4,
            dim: 1,
            batch_sizes: vec![1, 4],
            batches: 100,
            streams: 1,
            ..Params::default()
        };
        let table = GradientTable {
            rows: vec![1.0, -1.0, 1.0, -1.0],
            samples: 4,
            dim: 1,
            full: vec![0.0],
            trace_sigma: 1.0,
            mean_square_norm: 1.0,
        };
        let around = |v: f64| {
            (0..100)
                .map(|i| if i % 2 == 0 { 0.5 * v } else { 1.5 * v })
                .collect()
        };
        let deviations = vec![around(1.0), around(0.25), around(1.0), vec![0.0; 100]];
        (p, Measured { table, deviations })
    }

    #[test]
    fn metrics_and_figures_are_functions_of_the_measurement() {
        let (p, m) = hand_made();
        let out = MinibatchVariance::metrics(&p, &m).unwrap();
        // With replacement at b = 4: theory 1/4, measured mean 1/4.
        assert!(out.value("ratio_max_rel_error").unwrap() < 1e-12);
        let mean = out.values["variance_ratio_mean"];
        assert!((mean.value - 1.0).abs() < 1e-12 && mean.ci.is_some());
        assert_eq!(out.value("full_batch_variance_over_trace"), Some(0.0));
        assert_eq!(out.value("naive_variance_overstatement"), Some(0.0));
        assert_eq!(out.tables["variance"].rows.len(), 4);
        assert_eq!(m.samples(), 400);
        let figures = MinibatchVariance::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["variance"].panels.len(), 2);
    }

    #[test]
    fn a_full_batch_without_replacement_is_the_full_gradient_to_the_last_bit() {
        // Every batch of b = N drawn without replacement is the data set; summed in index order
        // its mean is G bit for bit, so its squared deviation is exactly 0.
        let streams = sgd_sim::rng::Streams::new(7);
        let table = gradient_table(&streams, 64, 3, 0.5).unwrap();
        let mut rng = streams.stream("test", 0);
        let d = stream_deviations(&table, SamplerKind::WithoutReplacement, 64, 50, &mut rng);
        assert!(d.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn the_mean_of_estimates_adds_variances() {
        let e = |value, se| Estimate { value, se, n: 10 };
        let m = mean_of_estimates(&[e(1.0, 0.3), e(2.0, 0.4)]).unwrap();
        assert!((m.value - 1.5).abs() < 1e-15 && (m.se - 0.25).abs() < 1e-15 && m.n == 20);
        assert!(mean_of_estimates(&[]).is_none());
    }

    #[test]
    fn defaults_validate_and_bad_sizes_do_not() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            batches: 20_001,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "batches");
    }
}
