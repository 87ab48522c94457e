//! Claim `linear-stability-batch`: which minima can SGD stay in? At an interpolating minimum with
//! per-sample curvatures a_i, the largest stable step size grows with the batch size, so at a given
//! step size small batches can only stay in flatter minima (Wu, Ma and E 2018).
//!
//! N curvatures are drawn once from Gamma(shape, scale) with the claim's seed. For each batch size
//! b (without replacement):
//! - eta_ms(b) = 2 abar / (abar^2 + var(a) (N - b)/(b (N - 1))), Wu–Ma–E's mean-square threshold
//!   (`sgd_sim::stability`), against the crossing of 1 by the mean-square factor estimated from
//!   sampled batches (mean of (1 - eta a_b)^2 over batches, [`crate::stability::CurvatureMoments`]);
//! - eta_run(b), the per-trajectory threshold where E ln|1 - eta a_b| = 0: exact for b = 1 (an
//!   average over the N curvatures) and b = N (2/abar), Monte Carlo over sampled batches otherwise.
//!
//! Scaling every curvature by lambda scales both thresholds by 1/lambda, so at step size eta a
//! minimum whose curvatures are lambda a_i is stable iff lambda abar <= abar eta_ms(b) / eta: the
//! largest stable sharpness is proportional to eta_ms(b), the figure's stable region.

use crate::stability::{CurvatureMoments, lyapunov_exponent, per_trajectory_threshold};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::exp;
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::rng::gamma;
use sgd_sim::sampler::{BatchSampler, SamplerKind};
use sgd_sim::stability::{curvature_moments, mean_square_factor, mean_square_threshold};
use sgd_sim::stats::{Estimate, Z95, wilson_interval};

/// Parameters of `flat-minima/linear-stability-batch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Number of per-sample curvatures N.
    pub samples: usize,
    /// Gamma shape of the curvatures.
    pub shape: f64,
    /// Gamma scale of the curvatures.
    pub scale: f64,
    /// Batch sizes b (without replacement), ascending, at most N.
    pub batch_sizes: Vec<usize>,
    /// Sampled batches per batch size, for the mean-square factor.
    pub batches: usize,
    /// Independent streams the batches are split over (results depend on this number, not on the
    /// thread count).
    pub streams: usize,
    /// Sampled batches kept per batch size for the Monte Carlo per-trajectory threshold.
    pub lyapunov_batches: usize,
    /// Batch sizes (each in `batch_sizes`, below N) whose runs are simulated near their edges.
    pub run_batch_sizes: Vec<usize>,
    /// Simulated runs per (batch size, step size).
    pub runs: usize,
    /// Steps per simulated run (a run stops earlier once |w| leaves [1e-100, 1e100]).
    pub run_steps: u64,
    /// Relative distance of the simulated step sizes from each per-run edge: (1 - d) and (1 + d).
    pub edge_offset: f64,
    /// The shared simulated step size, as a fraction of the full-batch limit 2 / abar.
    pub full_batch_fraction: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            samples: 100,
            shape: 0.5,
            scale: 2.0,
            batch_sizes: vec![1, 5, 100],
            batches: 1_000_000,
            streams: 20,
            lyapunov_batches: 100_000,
            run_batch_sizes: vec![1, 5],
            runs: 400,
            run_steps: 20_000,
            edge_offset: 0.05,
            full_batch_fraction: 0.95,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("samples", self.samples as u64, 2)?;
        if self.samples > 100_000 {
            return Err(ParamError::new("samples", "must be at most 100000"));
        }
        ParamError::positive("shape", self.shape)?;
        ParamError::positive("scale", self.scale)?;
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
            if i > 0 && b <= self.batch_sizes[i - 1] {
                return Err(ParamError::new(
                    format!("batch_sizes[{i}]"),
                    "batch sizes must be strictly ascending",
                ));
            }
        }
        ParamError::at_least("streams", self.streams as u64, 1)?;
        ParamError::at_least("batches", self.batches as u64, 1000)?;
        if !self.batches.is_multiple_of(self.streams) {
            return Err(ParamError::new(
                "batches",
                format!("must be a multiple of streams = {}", self.streams),
            ));
        }
        ParamError::at_least("lyapunov_batches", self.lyapunov_batches as u64, 1000)?;
        for (i, b) in self.run_batch_sizes.iter().enumerate() {
            if !self.batch_sizes.contains(b) || *b >= self.samples {
                return Err(ParamError::new(
                    format!("run_batch_sizes[{i}]"),
                    "must be one of batch_sizes and below samples",
                ));
            }
        }
        ParamError::at_least("runs", self.runs as u64, 10)?;
        ParamError::at_least("run_steps", self.run_steps, 100)?;
        ParamError::in_range("edge_offset", self.edge_offset, 0.001, 0.5)?;
        ParamError::in_range("full_batch_fraction", self.full_batch_fraction, 0.1, 1.0)?;
        if self.lyapunov_batches > self.batches {
            return Err(ParamError::new(
                "lyapunov_batches",
                "must be at most `batches`",
            ));
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        self.batch_sizes.iter().map(|&b| b as f64).sum::<f64>() * self.batches as f64
            + 2000.0 * self.lyapunov_batches as f64 * self.batch_sizes.len() as f64
            + 3.0
                * (self.runs as f64 * self.run_steps as f64)
                * self.run_batch_sizes.iter().map(|&b| b as f64).sum::<f64>()
    }
}

const KIND: SamplerKind = SamplerKind::WithoutReplacement;

/// The lowest value drawn on the log axes of the factor figure.
const FACTOR_FLOOR: f64 = 0.01;

/// A curve on a log axis as lines of consecutive points at or above `floor` (a curve that dips
/// to 0, like (1 - eta abar)^2, is drawn as two pieces instead of a line along the floor).
fn pieces_above(label: String, group: usize, points: Vec<(f64, f64)>, floor: f64) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for q in points
        .into_iter()
        .chain(std::iter::once((f64::NAN, f64::NAN)))
    {
        if q.1 >= floor {
            current.push(q);
        } else if !current.is_empty() {
            let name = if out.is_empty() {
                label.clone()
            } else {
                String::new()
            };
            out.push(Line::new(name, group, std::mem::take(&mut current)));
        }
    }
    out
}

/// The kind `flat-minima/linear-stability-batch`.
#[derive(Debug)]
pub struct LinearStabilityBatch;

/// What was sampled at one batch size.
#[derive(Clone, Debug, PartialEq)]
pub struct SampledBatch {
    /// The batch size b.
    pub b: usize,
    /// Power sums of all sampled batch-mean curvatures a_b.
    pub sampled: CurvatureMoments,
    /// The first sampled a_b of every stream, kept for the Monte Carlo Lyapunov exponent.
    pub kept: Vec<f64>,
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The N per-sample curvatures, drawn once.
    pub curvatures: Vec<f64>,
    /// Per batch size, in the order of `batch_sizes`.
    pub batches: Vec<SampledBatch>,
    /// The simulated runs, per (run batch size, step size).
    pub runs: Vec<RunPoint>,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.batches.iter().map(|b| b.sampled.count).sum::<u64>()
            + self.runs.iter().map(|r| r.steps).sum::<u64>()
    }
}

/// Where a simulated step size sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// At a fraction of the full-batch limit 2 / abar, where gradient descent converges.
    FullBatchStable,
    /// Just below the batch size's own per-run edge.
    BelowEdge,
    /// Just above it.
    AboveEdge,
}

impl Place {
    fn key(self) -> &'static str {
        match self {
            Place::FullBatchStable => "at_gd_stable",
            Place::BelowEdge => "below_edge",
            Place::AboveEdge => "above_edge",
        }
    }
}

/// Simulated runs w <- (1 - eta a_b) w from w = 1 at one (batch size, step size).
#[derive(Clone, Debug, PartialEq)]
pub struct RunPoint {
    /// The batch size.
    pub b: usize,
    /// Where the step size sits.
    pub place: Place,
    /// The step size.
    pub eta: f64,
    /// The per-run edge eta_run(b) it was placed from (computed in the measure step from the
    /// same curvatures and batches as the metrics).
    pub edge: f64,
    /// Runs.
    pub runs: u64,
    /// Runs that diverged: |w| reached 1e100, or ended above its start.
    pub diverged: u64,
    /// Steps taken by all runs.
    pub steps: u64,
}

/// One simulated run: whether it diverged, and its steps. It stops once |w| leaves
/// [1e-100, 1e100] (the multiplicative walk ln|w| has then drifted 230 units one way; coming back
/// against a drift of the other sign has a probability far below 1e-10 here).
fn simulate_run(
    curvatures: &[f64],
    b: usize,
    eta: f64,
    steps: u64,
    rng: &mut sgd_sim::rng::Stream,
) -> (bool, u64) {
    let mut sampler = BatchSampler::new(KIND, curvatures.len(), b);
    let mut w = 1.0_f64;
    for t in 0..steps {
        let batch = sampler.next_batch(rng);
        let a_b = batch.iter().map(|&i| curvatures[i]).sum::<f64>() / b as f64;
        w *= 1.0 - eta * a_b;
        let size = w.abs();
        if size >= 1e100 {
            return (true, t + 1);
        }
        if size <= 1e-100 {
            return (false, t + 1);
        }
    }
    (w.abs() > 1.0, steps)
}

/// The simulated runs near each run batch size's edge and at the shared step size.
fn simulate_runs(
    p: &Params,
    ctx: &RunContext,
    curvatures: &[f64],
    batches: &[SampledBatch],
) -> Result<Vec<RunPoint>, ExperimentError> {
    let (mean, var) = curvature_moments(curvatures);
    let mut points = Vec::new();
    for &b in &p.run_batch_sizes {
        let s = batches
            .iter()
            .find(|s| s.b == b)
            .ok_or_else(|| ExperimentError::InvalidParams(format!("no batches of size {b}")))?;
        let edge = eta_run_at(curvatures, mean, var, s)?.0.value;
        for (place, eta) in [
            (Place::FullBatchStable, p.full_batch_fraction * 2.0 / mean),
            (Place::BelowEdge, edge * (1.0 - p.edge_offset)),
            (Place::AboveEdge, edge * (1.0 + p.edge_offset)),
        ] {
            ctx.check_cancelled()?;
            let purpose = format!("runs/b={b}/{}", place.key());
            let n = ctx.scaled(p.runs);
            let out =
                cancellable_trajectories(&ctx.streams(), &purpose, n, &ctx.cancel, |_, rng| {
                    Ok::<_, ExperimentError>(simulate_run(curvatures, b, eta, p.run_steps, rng))
                })?;
            points.push(RunPoint {
                b,
                place,
                eta,
                edge,
                runs: n as u64,
                diverged: out.iter().filter(|r| r.0).count() as u64,
                steps: out.iter().map(|r| r.1).sum(),
            });
        }
    }
    Ok(points)
}

/// The simulated runs' divergence fractions (Wilson intervals) and their table.
fn run_metrics(m: &Measured, out: &mut Metrics) {
    let mut table = Table::new([
        "batch_size",
        "place",
        "eta",
        "edge",
        "eta_over_edge",
        "runs",
        "diverged",
        "diverged_fraction",
        "lo",
        "hi",
        "lyapunov_exponent",
    ]);
    let (mean, var) = curvature_moments(&m.curvatures);
    for r in &m.runs {
        let f = r.diverged as f64 / r.runs as f64;
        let ci = wilson_interval(r.diverged, r.runs, Z95);
        out.estimate_with_interval(
            &format!("diverged_fraction_b{}_{}", r.b, r.place.key()),
            f,
            ci,
        );
        let sample = m
            .batches
            .iter()
            .find(|s| s.b == r.b)
            .and_then(|s| eta_run_at(&m.curvatures, mean, var, s).ok())
            .map_or_else(Vec::new, |x| x.1);
        let g = if sample.is_empty() {
            f64::NAN
        } else {
            lyapunov_exponent(r.eta, &sample)
        };
        table.push(row![
            r.b,
            r.place.key(),
            r.eta,
            r.edge,
            r.eta / r.edge,
            r.runs,
            r.diverged,
            f,
            ci[0],
            ci[1],
            g
        ]);
    }
    out.table("runs", table);
}

/// The divergence fractions of the simulated runs against eta / eta_run(b).
fn runs_figure(p: &Params, m: &Measured) -> FigureData {
    let mut panel = CurvesPanel::new(
        "Simulated runs near their per-run edge",
        Axis::linear("step size over the per-run edge, η / η_run(b)"),
        Axis::proportion("fraction of runs that diverge"),
    );
    let mut sizes: Vec<usize> = m.runs.iter().map(|r| r.b).collect();
    sizes.dedup();
    for (k, &b) in sizes.iter().enumerate() {
        let mut pts: Vec<&RunPoint> = m.runs.iter().filter(|r| r.b == b).collect();
        pts.sort_by(|x, y| x.eta.total_cmp(&y.eta));
        panel = panel.measured(Points::new(
            format!("b = {b}"),
            k,
            pts.iter()
                .map(|r| {
                    let f = r.diverged as f64 / r.runs as f64;
                    MeasuredPoint::with_ci(
                        r.eta / r.edge,
                        f,
                        wilson_interval(r.diverged, r.runs, Z95),
                    )
                })
                .collect(),
        ));
        if let Some(r) = pts.iter().find(|r| r.place == Place::FullBatchStable) {
            panel = panel.mark(
                r.eta / r.edge,
                format!("b = {b}: {} of GD's limit 2/ā", p.full_batch_fraction),
                k,
            );
        }
    }
    FigureData::single(panel.mark(1.0, "per-run edge (Lyapunov exponent 0)", 6))
}

/// Everything derived at one batch size.
struct AtBatch {
    b: usize,
    eta_ms: f64,
    sampled: CurvatureMoments,
    crossing: Estimate,
    eta_run: Estimate,
    /// Batch-mean curvatures for the Lyapunov exponent (all N for b = 1, abar for b = N).
    lyapunov_sample: Vec<f64>,
}

/// The per-trajectory threshold at one batch size: exact for b = 1 and b = N, Monte Carlo over
/// the kept batches otherwise (with a delta-method SE).
fn eta_run_at(
    curvatures: &[f64],
    mean: f64,
    var: f64,
    s: &SampledBatch,
) -> Result<(Estimate, Vec<f64>), ExperimentError> {
    let n = curvatures.len();
    let exact = |value: f64| Estimate {
        value,
        se: 0.0,
        n: 1,
    };
    if s.b == n {
        // Every batch is the data set: a_b = abar, g = ln|1 - eta abar|, root 2/abar exactly.
        return Ok((exact(2.0 / mean), vec![mean]));
    }
    if s.b == 1 {
        // Exact: g is the average over the N curvatures.
        let start = 2.0 * mean / (var + mean * mean);
        let root = per_trajectory_threshold(curvatures, start, start / 200.0)?;
        return Ok((exact(root), curvatures.to_vec()));
    }
    // Monte Carlo over the kept batches; start at their own mean-square crossing (Jensen).
    let kept = &s.kept;
    let mut own = CurvatureMoments::default();
    kept.iter().for_each(|&a| own.add(a));
    let start = own.crossing().value;
    let root = per_trajectory_threshold(kept, start, start / 200.0)?;
    // Delta method: SE(g^(root)) / |g'(root)|, g' by a central difference over +-1%.
    let logs: Vec<f64> = kept
        .iter()
        .map(|a| sgd_sim::math::ln((1.0 - root * a).abs()))
        .collect();
    let g_se = sgd_sim::stats::mean_estimate(&logs).se;
    let h = 0.01 * root;
    let slope = (lyapunov_exponent(root + h, kept) - lyapunov_exponent(root - h, kept)) / (2.0 * h);
    let estimate = Estimate {
        value: root,
        se: g_se / slope.abs(),
        n: kept.len(),
    };
    Ok((estimate, kept.clone()))
}

/// The thresholds at every batch size.
fn at_batches(m: &Measured) -> Result<Vec<AtBatch>, ExperimentError> {
    let n = m.curvatures.len();
    let (mean, var) = curvature_moments(&m.curvatures);
    m.batches
        .iter()
        .map(|s| {
            let (eta_run, lyapunov_sample) = eta_run_at(&m.curvatures, mean, var, s)?;
            Ok(AtBatch {
                b: s.b,
                eta_ms: mean_square_threshold(mean, var, n, s.b, KIND),
                sampled: s.sampled,
                crossing: s.sampled.crossing(),
                eta_run,
                lyapunov_sample,
            })
        })
        .collect()
}

/// The thresholds' metrics.
fn threshold_metrics(rows: &[AtBatch], n: usize, out: &mut Metrics) {
    let mut rel_max: f64 = 0.0;
    let mut z_max: f64 = 0.0;
    for r in rows {
        out.computed(&format!("eta_ms_b{}", r.b), r.eta_ms);
        out.estimate(&format!("eta_ms_sampled_b{}", r.b), r.crossing);
        if r.eta_run.se > 0.0 {
            out.estimate(&format!("eta_run_b{}", r.b), r.eta_run);
        } else {
            out.computed(&format!("eta_run_b{}", r.b), r.eta_run.value);
        }
        rel_max = rel_max.max((r.crossing.value / r.eta_ms - 1.0).abs());
        if r.crossing.se > 0.0 {
            z_max = z_max.max(r.crossing.z_score(r.eta_ms).abs());
        }
    }
    out.measured("eta_ms_rel_error_max", rel_max);
    out.measured("eta_ms_max_abs_z", z_max);
    let min_ratio = |f: &dyn Fn(&AtBatch) -> f64| {
        rows.windows(2)
            .map(|w| f(&w[1]) / f(&w[0]))
            .fold(f64::INFINITY, f64::min)
    };
    out.computed("eta_ms_min_step_ratio", min_ratio(&|r| r.eta_ms));
    let run_ratio = min_ratio(&|r| r.eta_run.value);
    let run_over_ms = rows
        .iter()
        .filter(|r| r.b < n)
        .map(|r| r.eta_run.value / r.eta_ms)
        .fold(f64::INFINITY, f64::min);
    if rows.iter().any(|r| r.eta_run.se > 0.0) {
        out.measured("eta_run_min_step_ratio", run_ratio);
        out.measured("eta_run_over_eta_ms_min", run_over_ms);
    } else {
        out.computed("eta_run_min_step_ratio", run_ratio);
        out.computed("eta_run_over_eta_ms_min", run_over_ms);
    }
}

/// The thresholds table.
fn thresholds_table(rows: &[AtBatch], mean: f64) -> Table {
    let mut table = Table::new([
        "batch_size",
        "eta_ms",
        "eta_ms_sampled",
        "eta_ms_sampled_se",
        "eta_ms_rel_error",
        "eta_run",
        "eta_run_se",
        "max_stable_sharpness_at_eta_1",
        "max_stable_sharpness_at_eta_1_per_trajectory",
    ]);
    for r in rows {
        table.push(row![
            r.b,
            r.eta_ms,
            r.crossing.value,
            r.crossing.se,
            r.crossing.value / r.eta_ms - 1.0,
            r.eta_run.value,
            r.eta_run.se,
            mean * r.eta_ms,
            mean * r.eta_run.value
        ]);
    }
    table
}

/// The largest step size drawn in the factor figure: 1.2 times the largest per-run threshold.
fn eta_top(rows: &[AtBatch]) -> f64 {
    rows.iter().map(|r| r.eta_run.value).fold(0.0, f64::max) * 1.2
}

/// The coarse grid of step sizes at which the sampled factor is shown.
fn factor_grid(top: f64) -> Vec<f64> {
    (1..=24).map(|k| top * f64::from(k) / 24.0).collect()
}

/// The factor against eta: formula and sampled, and the per-trajectory growth exp(2 g).
fn factor_table(rows: &[AtBatch], m: &Measured) -> Table {
    let n = m.curvatures.len();
    let (mean, var) = curvature_moments(&m.curvatures);
    let mut table = Table::new([
        "batch_size",
        "eta",
        "factor_formula",
        "factor_sampled",
        "factor_sampled_se",
        "per_trajectory_growth",
    ]);
    for r in rows {
        for &eta in &factor_grid(eta_top(rows)) {
            let e = r.sampled.mean_square_factor(eta);
            table.push(row![
                r.b,
                eta,
                mean_square_factor(eta, mean, var, n, r.b, KIND),
                e.value,
                e.se,
                exp(2.0 * lyapunov_exponent(eta, &r.lyapunov_sample))
            ]);
        }
    }
    table
}

impl Experiment for LinearStabilityBatch {
    const KIND: &'static str = "flat-minima/linear-stability-batch";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let mut data_rng = streams.stream("curvatures", 0);
        let curvatures: Vec<f64> = (0..p.samples)
            .map(|_| gamma(&mut data_rng, p.shape, p.scale))
            .collect();
        let n = p.samples;
        let per_stream = ctx.scaled(p.batches / p.streams);
        let kept_per_stream = p.lyapunov_batches.div_ceil(p.streams);
        // Sampled batches: per (b, stream) the power sums of a_b, and the first few a_b kept.
        let jobs = p.batch_sizes.len() * p.streams;
        let chunks = cancellable_trajectories(&streams, "batches", jobs, &ctx.cancel, |j, rng| {
            let b = p.batch_sizes[j / p.streams];
            let mut sampler = BatchSampler::new(KIND, n, b);
            let mut sums = CurvatureMoments::default();
            let mut kept = Vec::with_capacity(kept_per_stream);
            for t in 0..per_stream {
                let batch = sampler.next_batch(rng);
                let a_b = batch.iter().map(|&i| curvatures[i]).sum::<f64>() / b as f64;
                sums.add(a_b);
                if t < kept_per_stream {
                    kept.push(a_b);
                }
            }
            Ok::<_, ExperimentError>((sums, kept))
        })?;
        let batches = p
            .batch_sizes
            .iter()
            .enumerate()
            .map(|(bi, &b)| {
                let mut sampled = CurvatureMoments::default();
                let mut kept = Vec::new();
                for (sums, k) in &chunks[bi * p.streams..(bi + 1) * p.streams] {
                    sampled.merge(sums);
                    kept.extend_from_slice(k);
                }
                SampledBatch { b, sampled, kept }
            })
            .collect();
        let batches: Vec<SampledBatch> = batches;
        let runs = simulate_runs(p, ctx, &curvatures, &batches)?;
        Ok(Measured {
            curvatures,
            batches,
            runs,
        })
    }

    fn metrics(_p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let rows = at_batches(m)?;
        let mut out = Metrics::new();
        let n = m.curvatures.len();
        threshold_metrics(&rows, n, &mut out);
        let (mean, var) = curvature_moments(&m.curvatures);
        out.measured("curvature_mean", mean);
        out.measured("curvature_variance", var);
        out.measured(
            "curvature_max",
            m.curvatures.iter().copied().fold(0.0, f64::max),
        );
        out.table("thresholds", thresholds_table(&rows, mean));
        out.table("factor", factor_table(&rows, m));
        run_metrics(m, &mut out);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let rows = at_batches(m)?;
        let mut figures = Figures::new();
        figures.add("mean-square-factor", factor_figure(&rows, m));
        figures.add("stable-region", region_figure(&rows, m));
        figures.add("runs", runs_figure(p, m));
        Ok(figures)
    }
}

/// The mean-square factor (formula and sampled) and the per-trajectory growth against eta.
fn factor_figure(rows: &[AtBatch], m: &Measured) -> FigureData {
    let n = m.curvatures.len();
    let (mean, var) = curvature_moments(&m.curvatures);
    let top = eta_top(rows);
    let y_axis = |label: &str| Axis::log(label).with_range(FACTOR_FLOOR, 300.0);
    let mut factor = CurvesPanel::new(
        "Mean-square factor E[(1 − η a_b)²]",
        Axis::linear("step size η"),
        y_axis("factor per step"),
    );
    let mut growth = CurvesPanel::new(
        "Per-run factor exp(2 E ln|1 − η a_b|)",
        Axis::linear("step size η"),
        y_axis("typical factor per step"),
    );
    for (ci, r) in rows.iter().enumerate() {
        let fine: Vec<(f64, f64)> = (1..=240)
            .map(|k| {
                let eta = top * f64::from(k) / 240.0;
                (eta, mean_square_factor(eta, mean, var, n, r.b, KIND))
            })
            .collect();
        for line in pieces_above(format!("b = {}: formula", r.b), ci, fine, FACTOR_FLOOR) {
            factor = factor.theory(line);
        }
        let points = factor_grid(top)
            .into_iter()
            .filter_map(|eta| {
                let e = r.sampled.mean_square_factor(eta);
                (e.value >= FACTOR_FLOOR).then(|| MeasuredPoint::with_ci(eta, e.value, e.ci95()))
            })
            .collect();
        factor = factor.measured(Points::new(format!("b = {}: sampled", r.b), ci, points));
        let g: Vec<(f64, f64)> = (1..=480)
            .map(|k| {
                let eta = top * f64::from(k) / 480.0;
                (eta, exp(2.0 * lyapunov_exponent(eta, &r.lyapunov_sample)))
            })
            .collect();
        for line in pieces_above(format!("b = {}", r.b), ci, g, FACTOR_FLOOR) {
            growth = growth.theory(line);
        }
    }
    let one = || Line::new("", 6, [(0.0, 1.0), (top, 1.0)]);
    factor = factor.guide(one());
    growth = growth.guide(one());
    FigureData::stacked(vec![factor.into(), growth.into()])
}

/// Stable region in the (sharpness, eta) plane: lambda abar <= abar eta_ms(b) / eta.
fn region_figure(rows: &[AtBatch], m: &Measured) -> FigureData {
    let (mean, _) = curvature_moments(&m.curvatures);
    let mut panel = CurvesPanel::new(
        "Largest stable step size by sharpness (stable below)",
        Axis::log("sharpness: mean curvature of the minimum"),
        Axis::log("step size η"),
    );
    let curve = |c: f64| {
        (0..=100).map(move |k| {
            let s = 0.1 * sgd_sim::math::powf(100.0, f64::from(k) / 100.0);
            (s, c / s)
        })
    };
    for (ci, r) in rows.iter().enumerate() {
        panel = panel
            .theory(Line::new(
                format!("b = {}: mean square", r.b),
                ci,
                curve(mean * r.eta_ms),
            ))
            .guide(Line::new(
                format!("b = {}: per run", r.b),
                ci,
                curve(mean * r.eta_run.value),
            ));
    }
    FigureData::single(panel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let p = Params {
            batches: 20_000,
            lyapunov_batches: 2_000,
            runs: 20,
            run_steps: 500,
            ..Params::default()
        };
        let at = |threads: usize| {
            rayon_pool(threads).install(|| {
                let m = LinearStabilityBatch::measure(&p, &RunContext::new("x", 7)).unwrap();
                LinearStabilityBatch::metrics(&p, &m).unwrap()
            })
        };
        let (one, two) = (at(1), at(2));
        for (k, m) in &one.values {
            assert_eq!(m.value.to_bits(), two.values[k].value.to_bits(), "{k}");
        }
    }

    fn rayon_pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// A hand-made measurement: four curvatures {1, 1, 3, 3}, batches of 1, 2 and 4 sampled
    /// exactly in proportion.
    fn hand_made() -> Measured {
        let curvatures = vec![1.0, 1.0, 3.0, 3.0];
        let sample = |values: &[f64]| {
            let mut m = CurvatureMoments::default();
            values.iter().for_each(|&a| m.add(a));
            m
        };
        // Without replacement, b = 2: a_b is 1 (1 pair in 6), 2 (4 in 6), 3 (1 in 6).
        let b2 = [1.0, 2.0, 2.0, 2.0, 2.0, 3.0];
        Measured {
            curvatures: curvatures.clone(),
            batches: vec![
                SampledBatch {
                    b: 1,
                    sampled: sample(&curvatures),
                    kept: curvatures.clone(),
                },
                SampledBatch {
                    b: 2,
                    sampled: sample(&b2),
                    kept: b2.to_vec(),
                },
                SampledBatch {
                    b: 4,
                    sampled: sample(&[2.0; 4]),
                    kept: vec![2.0; 4],
                },
            ],
            runs: vec![
                RunPoint {
                    b: 1,
                    place: Place::FullBatchStable,
                    eta: 0.95,
                    edge: 4.0 / 3.0,
                    runs: 100,
                    diverged: 0,
                    steps: 1000,
                },
                RunPoint {
                    b: 1,
                    place: Place::AboveEdge,
                    eta: 1.4,
                    edge: 4.0 / 3.0,
                    runs: 100,
                    diverged: 90,
                    steps: 1000,
                },
            ],
        }
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let p = Params {
            samples: 4,
            batch_sizes: vec![1, 2, 4],
            run_batch_sizes: vec![1],
            ..Params::default()
        };
        let m = hand_made();
        let out = LinearStabilityBatch::metrics(&p, &m).unwrap();
        // b = 1: m1 = 2, m2 = 5: eta_ms = 2 m1 / m2 = 0.8, and the batches sampled in proportion
        // give the same crossing.
        assert!((out.value("eta_ms_b1").unwrap() - 0.8).abs() < 1e-12);
        assert!((out.value("eta_ms_sampled_b1").unwrap() - 0.8).abs() < 1e-12);
        // b = N: a_b = 2 always, both thresholds are 2 / 2 = 1.
        assert!((out.value("eta_ms_b4").unwrap() - 1.0).abs() < 1e-12);
        assert!((out.value("eta_run_b4").unwrap() - 1.0).abs() < 1e-12);
        // b = 1 per run: ln|1 - eta| + ln|1 - 3 eta| = 0 where |(1 - x)(1 - 3x)| = 1: no root
        // below 1 (the product peaks at 1/3), then (x - 1)(3x - 1) = 1 at x = 4/3.
        assert!((out.value("eta_run_b1").unwrap() - 4.0 / 3.0).abs() < 1e-9);
        assert!(out.value("eta_ms_min_step_ratio").unwrap() > 1.0);
        assert!(out.value("eta_run_over_eta_ms_min").unwrap() >= 1.0 - 1e-12);
        assert_eq!(out.tables["thresholds"].rows.len(), 3);
        assert_eq!(out.tables["factor"].rows.len(), 3 * 24);
        let figures = LinearStabilityBatch::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["mean-square-factor"].panels.len(), 2);
        assert_eq!(figures["stable-region"].panels.len(), 1);
        assert_eq!(figures["runs"].panels.len(), 1);
        // Runs: 0 of 100 and 90 of 100 diverged, with Wilson intervals.
        assert_eq!(out.value("diverged_fraction_b1_at_gd_stable"), Some(0.0));
        let above = out.values["diverged_fraction_b1_above_edge"];
        assert!((above.value - 0.9).abs() < 1e-12 && above.ci.unwrap()[0] > 0.8);
        assert_eq!(out.tables["runs"].rows.len(), 2);
        assert_eq!(m.samples(), 6 + 4 + 4 + 2000);
    }

    #[test]
    fn the_mean_square_threshold_grows_with_the_batch_size() {
        // Formerly a claim check: eta_ms = 2 abar / (abar^2 + var (N - b)/(b (N - 1))) increases
        // strictly in b for var > 0 (the variance factor decreases), and reaches 2/abar at b = N.
        for &(mean, var) in &[(0.8, 0.75), (1.0, 3.0), (2.0, 0.01)] {
            let n = 100;
            let t: Vec<f64> = (1..=n)
                .map(|b| mean_square_threshold(mean, var, n, b, KIND))
                .collect();
            assert!(t.windows(2).all(|w| w[1] > w[0]), "{mean} {var}");
            assert!((t[n - 1] - 2.0 / mean).abs() < 1e-12);
        }
    }

    #[test]
    fn pieces_split_at_the_floor() {
        let pts = vec![(0.0, 1.0), (1.0, 0.001), (2.0, 2.0), (3.0, 3.0)];
        let lines = pieces_above("x".into(), 0, pts, 0.01);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].label, "x");
        assert!(lines[1].label.is_empty() && lines[1].points.len() == 2);
    }

    #[test]
    fn bad_parameters_are_rejected_by_key() {
        let bad = Params {
            batch_sizes: vec![5, 1],
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "batch_sizes[1]");
        let bad = Params {
            batch_sizes: vec![1, 101],
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "batch_sizes[1]");
        let bad = Params {
            shape: f64::NAN,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "shape");
    }
}
