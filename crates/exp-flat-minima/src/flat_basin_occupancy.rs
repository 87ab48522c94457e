//! Claim `flat-basin-occupancy`: in the stationary law of minibatch SGD, a flat basin outweighs a
//! sharp one of the same depth; by the volume factor 1/(1 + c) when the minibatch noise is the
//! same everywhere, and by more when the noise grows with the curvature, as it does when the
//! examples disagree more where the loss is sharper.
//!
//! The mean loss is the compressed double well L ([`crate::landscape::CompressedDoubleWell`]): a
//! flat minimum at -1 (curvature 8) and a sharp one at 1/c (curvature 8 c^2), both of depth 1. It is
//! the mean of N per-example losses
//!
//!   l_i(w) = L(w) + a u_i Psi(w) + s v_i w,   Psi' = kappa = L'' clipped to [-K, K], K = 8 c^2,
//!
//! with u and v fixed per data set, centred, of unit variance and uncorrelated over the N examples
//! (standardized exactly after drawing), so the mean of the l_i is L itself. Inside both basins
//! (|L''| <= K) Psi = L' up to a constant, so each example sees the well shifted by a u_i to first
//! order (l_i ~ L(w + a u_i)) and tilted by s v_i: the per-example gradients
//! l_i' = L' + a u_i kappa + s v_i spread by sqrt(a^2 kappa^2 + s^2), more where the curvature is
//! larger. (The clip only acts outside the sharp minimum, where L'' keeps growing as w^2: unclipped,
//! a noise variance growing as L''^2 gives the stationary law power-law tails and the chains
//! diverge.) SGD draws b examples with replacement per step, w <- w - eta g_B(w), so the minibatch
//! gradient has variance (a^2 kappa(w)^2 + s^2) / b and the diffusion of its continuum limit is
//! D(w) = eta (a^2 kappa^2 + s^2) / (2 b) (the Ito limit of SGD: Li, Tai and E 2017).
//!
//! A noise level is given by the ratio r = D(1/c) / D(-1) of the noise at the two minima and the
//! temperature T = D(-1) at the flat one: with x = a^2 64 / s^2, r = (c^4 x + 1) / (x + 1), so
//! x = (r - 1) / (c^4 - r) and s^2 = 2 b T / (eta (1 + x)). r = 1 is isotropic minibatch noise
//! (a = 0): its stationary law is Gibbs, and the Gibbs occupancy of the sharp side is exactly
//! 1/(1 + c), since the right branch is the left one compressed by c. For r > 1 the Ito stationary
//! density D^-1 exp(-int L'/D) (Gardiner, 5.2.2) gives the occupancy by quadrature.
//!
//! Measured per level: the minibatch gradient variance at both minima (the same batches at both,
//! a paired ratio), and the occupancy P(w >= 0) of the sharp basin over independent chains (each
//! from the level's stationary density; its SE from the spread of the chain means).

use crate::chains::BinCounts;
use crate::landscape::CompressedDoubleWell;
use crate::stationary::DensityGrid;
use claim_spec::figure::{
    Axis, Bins, CategoriesPanel, CategorySeries, FigureData, HistogramPanel, Line, Value,
};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::potential::Potential;
use sgd_sim::rng::{Stream, standard_normal, uniform_index, uniform01};
use sgd_sim::stats::{Estimate, mean_estimate, paired_ratio};

/// Parameters of `flat-minima/flat-basin-occupancy`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Compression c of the sharp basin (curvature ratio c^2).
    pub compression: f64,
    /// Temperature T = D(-1) of the minibatch noise at the flat minimum.
    pub temperature: f64,
    /// Step size eta.
    pub eta: f64,
    /// Examples N of the data set.
    pub examples: usize,
    /// Batch size b (drawn with replacement).
    pub batch_size: usize,
    /// Noise levels: the ratio r of the minibatch noise at the sharp minimum to that at the flat
    /// one; the first must be 1 (isotropic), all below c^4.
    pub noise_ratios: Vec<f64>,
    /// Independent chains per level.
    pub chains: usize,
    /// Recorded steps per chain.
    pub steps: u64,
    /// Unrecorded steps per chain before recording.
    pub burn_in: u64,
    /// Minibatches drawn at the minima to measure the gradient variance.
    pub noise_batches: usize,
    /// Bins of the histogram drawn in the figure.
    pub bins: usize,
    /// Range of that histogram (0 must be a bin edge).
    pub range: [f64; 2],
}

impl Default for Params {
    fn default() -> Self {
        Self {
            compression: 2.0,
            temperature: 0.5,
            eta: 0.002,
            examples: 1000,
            batch_size: 4,
            noise_ratios: vec![1.0, 2.0, 4.0],
            chains: 100,
            steps: 200_000,
            burn_in: 10_000,
            noise_batches: 20_000,
            bins: 140,
            range: [-2.0, 1.5],
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::in_range("compression", self.compression, 1.0, 4.0)?;
        ParamError::in_range("temperature", self.temperature, 0.05, 1.0)?;
        ParamError::positive("eta", self.eta)?;
        // The iteration is stable in the sharp well only for eta L'' < 2, L'' = 8 c^2.
        if self.eta * 8.0 * self.compression * self.compression > 0.5 {
            return Err(ParamError::new(
                "eta",
                "eta * 8 c^2 must be at most 0.5 (the sharp well's curvature)",
            ));
        }
        ParamError::at_least("examples", self.examples as u64, 10)?;
        ParamError::at_least("batch_size", self.batch_size as u64, 1)?;
        ParamError::all_positive("noise_ratios", &self.noise_ratios)?;
        if self.noise_ratios[0] != 1.0 {
            return Err(ParamError::new("noise_ratios[0]", "must be 1 (isotropic)"));
        }
        let c4 = sgd_sim::math::powi(self.compression, 4);
        for (i, &r) in self.noise_ratios.iter().enumerate() {
            if !(1.0..c4).contains(&r) || (i > 0 && r <= self.noise_ratios[i - 1]) {
                return Err(ParamError::new(
                    format!("noise_ratios[{i}]"),
                    format!("must ascend from 1 and stay below c^4 = {c4}"),
                ));
            }
        }
        ParamError::at_least("chains", self.chains as u64, 4)?;
        ParamError::at_least("steps", self.steps, 1000)?;
        ParamError::at_least("noise_batches", self.noise_batches as u64, 100)?;
        ParamError::at_least("bins", self.bins as u64, 2)?;
        let [lo, hi] = self.range;
        if !((-3.0..0.0).contains(&lo) && hi > 0.0 && hi <= 3.0) {
            return Err(ParamError::new(
                "range",
                "must satisfy -3 <= lo < 0 < hi <= 3",
            ));
        }
        let zero_edge = -lo / (hi - lo) * self.bins as f64;
        if (zero_edge - zero_edge.round()).abs() > 1e-9 {
            return Err(ParamError::new(
                "range",
                "0 must be a bin edge (the barrier separates the basins' counts)",
            ));
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let per_step = self.batch_size as f64 + 2.0;
        self.noise_ratios.len() as f64
            * (self.chains as f64 * (self.steps + self.burn_in) as f64 + self.noise_batches as f64)
            * per_step
    }
}

/// Half-width of the quadrature domain (L(-3) = 64, L(3) = (9 c^2 - 1)^2).
const DOMAIN: f64 = 3.0;
/// Intervals of the stationary-density quadrature (h = 5e-4).
const QUADRATURE_INTERVALS: usize = 12_000;

/// The per-example coefficients: centred, unit variance, uncorrelated over the data set.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSet {
    /// u_i, the shifts (scaled by a per level).
    pub u: Vec<f64>,
    /// v_i, the tilts (scaled by s per level).
    pub v: Vec<f64>,
}

impl DataSet {
    /// Draws N normal pairs and standardizes them exactly (Gram-Schmidt on centred vectors).
    fn draw(n: usize, rng: &mut Stream) -> Self {
        let mut u: Vec<f64> = (0..n).map(|_| standard_normal(rng)).collect();
        let mut v: Vec<f64> = (0..n).map(|_| standard_normal(rng)).collect();
        let centre = |x: &mut Vec<f64>| {
            let m = x.iter().sum::<f64>() / n as f64;
            x.iter_mut().for_each(|e| *e -= m);
        };
        let scale = |x: &mut Vec<f64>| {
            let var = sgd_sim::linalg::dot(x, x) / n as f64;
            let k = 1.0 / var.sqrt();
            x.iter_mut().for_each(|e| *e *= k);
        };
        centre(&mut u);
        centre(&mut v);
        scale(&mut u);
        let proj = sgd_sim::linalg::dot(&u, &v) / n as f64;
        v.iter_mut().zip(&u).for_each(|(e, a)| *e -= proj * a);
        scale(&mut v);
        Self { u, v }
    }
}

/// One noise level: the ratio r and the per-example scales a and s it implies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    /// r = D(1/c) / D(-1).
    pub ratio: f64,
    /// The shift scale a.
    pub a: f64,
    /// The tilt scale s.
    pub s: f64,
}

impl Level {
    fn new(p: &Params, ratio: f64) -> Self {
        let c4 = sgd_sim::math::powi(p.compression, 4);
        let x = (ratio - 1.0) / (c4 - ratio);
        let s2 = 2.0 * p.batch_size as f64 * p.temperature / (p.eta * (1.0 + x));
        Self {
            ratio,
            a: (x * s2 / 64.0).sqrt(),
            s: s2.sqrt(),
        }
    }

    /// The metric suffix: `isotropic`, or `noise_ratio_<r>`.
    pub fn name(&self) -> String {
        if self.ratio == 1.0 {
            "isotropic".into()
        } else {
            format!("noise_ratio_{}", self.ratio)
        }
    }

    /// D(w) = eta (a^2 kappa^2 + s^2) / (2 b).
    fn diffusion(&self, p: &Params, w: f64) -> f64 {
        let h = clipped_curvature(&well(p), w);
        p.eta * (self.a * self.a * h * h + self.s * self.s) / (2.0 * p.batch_size as f64)
    }
}

/// kappa(w): L''(w) clipped to [-K, K], K = 8 c^2 the curvature of the sharp minimum.
#[inline]
fn clipped_curvature(well: &CompressedDoubleWell, w: f64) -> f64 {
    let k = 8.0 * well.compression * well.compression;
    well.second_derivative(w).clamp(-k, k)
}

fn well(p: &Params) -> CompressedDoubleWell {
    CompressedDoubleWell {
        compression: p.compression,
    }
}

/// The minibatch gradient at w: L' + a mean(u_B) kappa + s mean(v_B), b indices with replacement.
#[inline]
fn minibatch_gradient(
    well: &CompressedDoubleWell,
    data: &DataSet,
    level: &Level,
    b: usize,
    w: f64,
    rng: &mut Stream,
) -> f64 {
    let n = data.u.len();
    let (mut su, mut sv) = (0.0, 0.0);
    for _ in 0..b {
        let i = uniform_index(rng, n);
        su += data.u[i];
        sv += data.v[i];
    }
    let k = 1.0 / b as f64;
    well.derivative(w) + level.a * su * k * clipped_curvature(well, w) + level.s * sv * k
}

/// What was measured at one noise level.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelMeasured {
    /// The level.
    pub level: Level,
    /// The level's Ito (for r = 1, Gibbs) stationary density, by quadrature.
    pub density: DensityGrid,
    /// The continuum occupancy of w > 0 (computed; exactly 1/(1 + c) for r = 1).
    pub p_theory: f64,
    /// Squared minibatch gradients at the flat minimum, one per batch.
    pub flat_sq: Vec<f64>,
    /// Squared minibatch gradients at the sharp minimum, the same batches.
    pub sharp_sq: Vec<f64>,
    /// Per chain: the fraction of recorded states with w >= 0.
    pub per_chain: Vec<f64>,
    /// Pooled histogram counts per bin of `range`.
    pub counts: Vec<u64>,
    /// All states counted.
    pub total: u64,
}

impl LevelMeasured {
    fn occupancy(&self) -> Estimate {
        mean_estimate(&self.per_chain)
    }

    fn noise_ratio(&self) -> Estimate {
        paired_ratio(&self.sharp_sq, &self.flat_sq)
    }

    fn histogram(&self, width: f64) -> Vec<f64> {
        self.counts
            .iter()
            .map(|&c| c as f64 / self.total as f64 / width)
            .collect()
    }

    fn theory_density(&self, w: f64) -> f64 {
        let d = &self.density;
        let k = ((w - d.lo) / d.step).round() as usize;
        d.density[k.min(d.density.len() - 1)]
    }
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// One entry per noise level, in the order of `noise_ratios`.
    pub levels: Vec<LevelMeasured>,
    /// Steps and batches drawn.
    pub steps: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.steps
    }
}

/// The kind `flat-minima/flat-basin-occupancy`.
#[derive(Debug)]
pub struct FlatBasinOccupancy;

/// Squared minibatch gradients at both minima, from the same batches (a paired design).
fn noise_at_minima(p: &Params, data: &DataSet, level: &Level, rng: &mut Stream) -> [Vec<f64>; 2] {
    let w = well(p);
    let mut flat = Vec::with_capacity(p.noise_batches);
    let mut sharp = Vec::with_capacity(p.noise_batches);
    let n = data.u.len();
    let k = 1.0 / p.batch_size as f64;
    for _ in 0..p.noise_batches {
        let (mut su, mut sv) = (0.0, 0.0);
        for _ in 0..p.batch_size {
            let i = uniform_index(rng, n);
            su += data.u[i];
            sv += data.v[i];
        }
        let g = |x: f64| {
            w.derivative(x) + level.a * su * k * clipped_curvature(&w, x) + level.s * sv * k
        };
        let (gf, gs) = (g(-1.0), g(1.0 / p.compression));
        flat.push(gf * gf);
        sharp.push(gs * gs);
    }
    [flat, sharp]
}

/// One chain of minibatch SGD: its counts, or the step at which it left |w| <= 1e3.
fn run_chain(
    p: &Params,
    data: &DataSet,
    level: &Level,
    start: f64,
    rng: &mut Stream,
) -> Result<BinCounts, ExperimentError> {
    let w_well = well(p);
    let [lo, hi] = p.range;
    let mut bins = BinCounts::new(lo, hi, p.bins);
    let mut w = start;
    for t in 0..p.burn_in + p.steps {
        w -= p.eta * minibatch_gradient(&w_well, data, level, p.batch_size, w, rng);
        if t >= p.burn_in {
            bins.add(w);
        }
        if t % 4096 == 0 && (w.is_nan() || w.abs() > 1e3) {
            return Err(ExperimentError::Diverged {
                step: t,
                reason: format!("a chain at noise ratio {} reached w = {w:e}", level.ratio),
            });
        }
    }
    Ok(bins)
}

/// Measures one noise level.
fn measure_level(
    p: &Params,
    ctx: &RunContext,
    data: &DataSet,
    k: usize,
) -> Result<LevelMeasured, ExperimentError> {
    let level = Level::new(p, p.noise_ratios[k]);
    let density = DensityGrid::ito_with(
        &well(p),
        |w| level.diffusion(p, w),
        -DOMAIN,
        DOMAIN,
        QUADRATURE_INTERVALS,
    )?;
    let p_theory = if k == 0 {
        1.0 / (1.0 + p.compression)
    } else {
        density.mass(0.0, DOMAIN)?
    };
    let streams = ctx.streams();
    let mut rng = streams.stream("noise", k as u64);
    let [flat_sq, sharp_sq] = noise_at_minima(p, data, &level, &mut rng);
    let chains = ctx.scaled(p.chains).max(4);
    let purpose = format!("chains/ratio={}", level.ratio);
    let counts = cancellable_trajectories(&streams, &purpose, chains, &ctx.cancel, |_, rng| {
        let start = density.inverse_cdf(uniform01(rng));
        run_chain(p, data, &level, start, rng)
    })?;
    let per_chain = counts
        .iter()
        .map(|b| b.fraction_at_or_above(0.0))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| ExperimentError::InvalidParams("0 must be a bin edge of `range`".into()))?;
    Ok(LevelMeasured {
        level,
        p_theory,
        flat_sq,
        sharp_sq,
        per_chain,
        counts: (0..p.bins)
            .map(|j| counts.iter().map(|b| b.counts[j]).sum())
            .collect(),
        total: counts.iter().map(BinCounts::total).sum(),
        density,
    })
}

/// The interval of |x/v - 1| over x in the estimate's interval.
fn rel_error_ci(e: Estimate, v: f64) -> [f64; 2] {
    let [l, h] = e.ci95();
    let f = |x: f64| (x / v - 1.0).abs();
    let (fl, fh) = (f(l), f(h));
    let low = if l <= v && v <= h { 0.0 } else { fl.min(fh) };
    [low, fl.max(fh)]
}

/// The metrics of one level.
fn level_metrics(p: &Params, m: &LevelMeasured, out: &mut Metrics) {
    let name = m.level.name();
    let volume_factor = 1.0 / (1.0 + p.compression);
    let e = m.occupancy();
    out.estimate(&format!("p_sharp_{name}"), e);
    out.computed(&format!("p_sharp_{name}_theory"), m.p_theory);
    out.estimate_with_interval(
        &format!("p_sharp_{name}_rel_error"),
        (e.value / m.p_theory - 1.0).abs(),
        rel_error_ci(e, m.p_theory),
    );
    out.estimate_with_interval(
        &format!("volume_factor_rel_error_{name}"),
        (e.value / volume_factor - 1.0).abs(),
        rel_error_ci(e, volume_factor),
    );
    let [l, h] = e.ci95();
    out.estimate_with_interval(
        &format!("flat_over_sharp_odds_{name}"),
        (1.0 - e.value) / e.value,
        [(1.0 - h) / h, (1.0 - l) / l],
    );
    out.estimate(&format!("noise_variance_ratio_{name}"), m.noise_ratio());
    out.computed(
        &format!("noise_variance_ratio_{name}_theory"),
        m.level.ratio,
    );
    out.estimate(
        &format!("noise_variance_flat_{name}"),
        mean_estimate(&m.flat_sq),
    );
    out.computed(
        &format!("noise_variance_flat_{name}_theory"),
        2.0 * m.level.diffusion(p, -1.0) / p.eta,
    );
}

/// The per-level table: noise, occupancy and theory side by side.
fn levels_table(p: &Params, m: &Measured) -> Table {
    let mut table = Table::new([
        "noise_ratio",
        "a",
        "s",
        "noise_variance_flat",
        "noise_variance_sharp",
        "noise_variance_ratio",
        "noise_variance_ratio_se",
        "curvature_ratio",
        "p_sharp",
        "p_sharp_lo",
        "p_sharp_hi",
        "p_sharp_theory",
        "volume_factor",
    ]);
    for l in &m.levels {
        let e = l.occupancy();
        let [lo, hi] = e.ci95();
        let r = l.noise_ratio();
        table.push(row![
            l.level.ratio,
            l.level.a,
            l.level.s,
            mean_estimate(&l.flat_sq).value,
            mean_estimate(&l.sharp_sq).value,
            r.value,
            r.se,
            p.compression * p.compression,
            e.value,
            lo,
            hi,
            l.p_theory,
            1.0 / (1.0 + p.compression)
        ]);
    }
    table
}

impl Experiment for FlatBasinOccupancy {
    const KIND: &'static str = "flat-minima/flat-basin-occupancy";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let data = DataSet::draw(p.examples, &mut ctx.streams().stream("data", 0));
        let mut levels = Vec::with_capacity(p.noise_ratios.len());
        for k in 0..p.noise_ratios.len() {
            ctx.check_cancelled()?;
            levels.push(measure_level(p, ctx, &data, k)?);
        }
        let chains = ctx.scaled(p.chains).max(4) as u64;
        let per_level = chains * (p.steps + p.burn_in) + p.noise_batches as u64;
        Ok(Measured {
            steps: per_level * levels.len() as u64,
            levels,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        out.computed("volume_factor", 1.0 / (1.0 + p.compression));
        out.computed("curvature_ratio", p.compression * p.compression);
        let mut z_max: f64 = 0.0;
        for l in &m.levels {
            level_metrics(p, l, &mut out);
            z_max = z_max.max(l.noise_ratio().z_score(l.level.ratio).abs());
        }
        out.measured("noise_variance_ratio_max_abs_z", z_max);
        let worst = m
            .levels
            .iter()
            .map(|l| (l.occupancy().value / l.p_theory - 1.0).abs())
            .fold(0.0, f64::max);
        out.measured("p_sharp_rel_error_max", worst);
        out.table("levels", levels_table(p, m));
        out.table("density", density_table(p, m));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("occupancy", occupancy_figure(p, m));
        figures.add("noise", noise_figure(p, m));
        Ok(figures)
    }
}

/// Histograms and theory densities at the bin centres, per level.
fn density_table(p: &Params, m: &Measured) -> Table {
    let [lo, hi] = p.range;
    let width = (hi - lo) / p.bins as f64;
    let mut columns = vec!["w".to_owned()];
    for l in &m.levels {
        columns.push(format!("density_{}", l.level.name()));
        columns.push(format!("density_{}_theory", l.level.name()));
    }
    let mut table = Table::new(columns);
    let hists: Vec<Vec<f64>> = m.levels.iter().map(|l| l.histogram(width)).collect();
    for k in 0..p.bins {
        let w = lo + (k as f64 + 0.5) * width;
        let mut r = row![w];
        for (l, h) in m.levels.iter().zip(&hists) {
            r.extend(row![h[k], l.theory_density(w)]);
        }
        table.push(r);
    }
    table
}

/// The levels' names for a categorical axis.
fn level_categories(m: &Measured) -> Vec<String> {
    m.levels
        .iter()
        .map(|l| {
            if l.level.ratio == 1.0 {
                "same noise at both minima".to_owned()
            } else {
                format!("{}× the noise at the sharp one", l.level.ratio)
            }
        })
        .collect()
}

/// Top: histograms against the stationary densities; bottom: the sharp basin's occupancy.
fn occupancy_figure(p: &Params, m: &Measured) -> FigureData {
    let [lo, hi] = p.range;
    let width = (hi - lo) / p.bins as f64;
    let mut density = HistogramPanel {
        title: format!(
            "Stationary densities, c = {}, T = {} at the flat minimum",
            p.compression, p.temperature
        ),
        x: Axis::linear("w"),
        y: Axis::linear("density"),
        histograms: Vec::new(),
        densities: Vec::new(),
    };
    let categories = level_categories(m);
    for (g, (l, name)) in m.levels.iter().zip(&categories).enumerate() {
        density.histograms.push(Bins {
            label: format!("SGD: {name}"),
            group: g,
            lo,
            width,
            values: l.histogram(width),
        });
        let curve: Vec<(f64, f64)> = (0..=400)
            .map(|k| {
                let w = lo + (hi - lo) * f64::from(k) / 400.0;
                (w, l.theory_density(w))
            })
            .collect();
        let label = if g + 1 == m.levels.len() {
            "lines: stationary densities (Gibbs / Ito)"
        } else {
            ""
        };
        density.densities.push(Line::new(label, g, curve));
    }
    let volume_factor = 1.0 / (1.0 + p.compression);
    let values =
        |f: &dyn Fn(&LevelMeasured) -> Value| m.levels.iter().map(|x| Some(f(x))).collect();
    let occupancy = CategoriesPanel {
        title: "Occupancy of the sharp basin".into(),
        category_label: "minibatch noise".into(),
        categories,
        y: Axis::proportion("P(w > 0)"),
        measured: vec![CategorySeries::new(
            "SGD (95% CI)",
            0,
            values(&|x| {
                let e = x.occupancy();
                Value::with_ci(e.value, e.ci95())
            }),
        )],
        theory: vec![
            CategorySeries::new(
                "stationary density (Gibbs / Ito)",
                2,
                values(&|x| Value::exact(x.p_theory)),
            ),
            CategorySeries::new(
                "volume factor 1/(1 + c)",
                6,
                values(&|_| Value::exact(volume_factor)),
            ),
        ],
    };
    FigureData::stacked(vec![density.into(), occupancy.into()])
}

/// The measured minibatch gradient variance at the sharp minimum over that at the flat one.
fn noise_figure(p: &Params, m: &Measured) -> FigureData {
    let values =
        |f: &dyn Fn(&LevelMeasured) -> Value| m.levels.iter().map(|x| Some(f(x))).collect();
    let panel = CategoriesPanel {
        title: "Minibatch gradient variance, sharp minimum over flat minimum".into(),
        category_label: "data set".into(),
        categories: level_categories(m),
        y: Axis::linear("variance ratio sharp / flat")
            .with_range(0.0, p.compression * p.compression + 1.0),
        measured: vec![CategorySeries::new(
            "measured (95% CI)",
            0,
            values(&|x| {
                let e = x.noise_ratio();
                Value::with_ci(e.value, e.ci95())
            }),
        )],
        theory: vec![
            CategorySeries::new(
                "designed ratio",
                2,
                values(&|x| Value::exact(x.level.ratio)),
            ),
            CategorySeries::new(
                "curvature ratio c²",
                6,
                values(&|_| Value::exact(p.compression * p.compression)),
            ),
        ],
    };
    FigureData::single(panel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_rejected_by_key() {
        let bad = Params {
            range: [-2.0, 1.51],
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "range");
        let bad = Params {
            eta: 0.05,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "eta");
        let bad = Params {
            noise_ratios: vec![1.0, 20.0],
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "noise_ratios[1]");
        assert!(Params::default().validate().is_ok());
    }

    #[test]
    fn the_data_set_has_exact_moments_and_the_levels_their_ratio() {
        let mut rng = sgd_sim::rng::Streams::new(1).stream("t", 0);
        let d = DataSet::draw(50, &mut rng);
        let n = 50.0;
        let mean = |x: &[f64]| x.iter().sum::<f64>() / n;
        assert!(mean(&d.u).abs() < 1e-12 && mean(&d.v).abs() < 1e-12);
        assert!((sgd_sim::linalg::dot(&d.u, &d.u) / n - 1.0).abs() < 1e-12);
        assert!((sgd_sim::linalg::dot(&d.v, &d.v) / n - 1.0).abs() < 1e-12);
        assert!((sgd_sim::linalg::dot(&d.u, &d.v) / n).abs() < 1e-12);
        let p = Params::default();
        for &r in &[1.0, 2.0, 4.0] {
            let l = Level::new(&p, r);
            assert!((l.diffusion(&p, -1.0) - p.temperature).abs() < 1e-12);
            let sharp = l.diffusion(&p, 1.0 / p.compression);
            assert!((sharp / l.diffusion(&p, -1.0) - r).abs() < 1e-12, "{r}");
        }
    }

    #[test]
    fn minibatch_gradient_variance_at_the_minima_is_the_formula() {
        // 20000 batches: the variance ratio's relative SE is about 2%; it must lie within 5 SE of
        // the designed ratio, and the mean gradient at a minimum is 0 within 5 SE.
        let p = Params::default();
        let mut rng = sgd_sim::rng::Streams::new(2).stream("t", 0);
        let data = DataSet::draw(p.examples, &mut rng);
        let level = Level::new(&p, 4.0);
        let [flat, sharp] = noise_at_minima(&p, &data, &level, &mut rng);
        let r = paired_ratio(&sharp, &flat);
        assert!(r.z_score(4.0).abs() < 5.0, "{r:?}");
        let v = mean_estimate(&flat);
        assert!(v.z_score(2.0 * p.temperature / p.eta).abs() < 5.0, "{v:?}");
    }

    #[test]
    fn a_short_run_lands_near_the_volume_factor() {
        // 8 chains of 5e4 steps, isotropic level only: P(sharp) has SE ~ 0.03; within 5 SE of 1/3.
        let p = Params {
            noise_ratios: vec![1.0],
            chains: 8,
            steps: 50_000,
            burn_in: 1000,
            noise_batches: 200,
            ..Params::default()
        };
        let m = FlatBasinOccupancy::measure(&p, &RunContext::new("x", 3)).unwrap();
        let e = m.levels[0].occupancy();
        assert!(e.z_score(1.0 / 3.0).abs() < 5.0, "{e:?}");
    }

    /// A hand-made measurement: one isotropic level at exactly the volume factor, and one with
    /// the sharp occupancy at 0.1.
    fn hand_made(p: &Params) -> Measured {
        let density = DensityGrid::gibbs(&well(p), p.temperature, -DOMAIN, DOMAIN, 600).unwrap();
        let level = |ratio: f64, occupancy: f64| LevelMeasured {
            level: Level::new(p, ratio),
            density: density.clone(),
            p_theory: occupancy,
            flat_sq: vec![1.0, 2.0, 3.0],
            sharp_sq: vec![ratio, 2.0 * ratio, 3.0 * ratio],
            per_chain: vec![occupancy - 0.01, occupancy, occupancy + 0.01],
            counts: vec![1; p.bins],
            total: 2 * p.bins as u64,
        };
        Measured {
            levels: vec![level(1.0, 1.0 / 3.0), level(4.0, 0.1)],
            steps: 10,
        }
    }

    #[test]
    fn metrics_and_figures_are_functions_of_the_measurement() {
        let p = Params {
            noise_ratios: vec![1.0, 4.0],
            ..Params::default()
        };
        let m = hand_made(&p);
        let o = FlatBasinOccupancy::metrics(&p, &m).unwrap();
        assert!(o.value("volume_factor_rel_error_isotropic").unwrap().abs() < 1e-12);
        assert!((o.value("flat_over_sharp_odds_isotropic").unwrap() - 2.0).abs() < 1e-12);
        let rel = o.value("volume_factor_rel_error_noise_ratio_4").unwrap();
        assert!((rel - 0.7).abs() < 1e-12, "{rel}");
        // Squared gradients exactly r times larger at the sharp minimum: ratio r, no error.
        assert!((o.value("noise_variance_ratio_noise_ratio_4").unwrap() - 4.0).abs() < 1e-12);
        assert!(o.value("noise_variance_ratio_max_abs_z").unwrap().abs() < 1e-9);
        assert_eq!(o.values["volume_factor"].basis, claim_spec::Basis::Computed);
        assert_eq!(o.tables["levels"].rows.len(), 2);
        assert_eq!(o.tables["density"].rows.len(), p.bins);
        let f = FlatBasinOccupancy::figures(&p, &m).unwrap().into_map();
        assert_eq!(f["occupancy"].panels.len(), 2);
        assert_eq!(f["noise"].panels.len(), 1);
    }
}
