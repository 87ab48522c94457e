//! Claim `gibbs-stationary`: constant-step Langevin SGD on the double well L = (w^2 - 1)^2 settles
//! into the Gibbs density exp(-L/T)/Z, up to an O(eta) discretization bias.
//!
//! For each eta, `chains` independent chains run `burn_in` + `steps` steps of
//! w <- w - eta L'(w) + sqrt(2 eta T) xi from a Gibbs-distributed start, counting their states in
//! uniform bins. The measured distance is the total variation (TV) between the pooled histogram
//! and the Gibbs bin probabilities (bins plus one cell for everything outside the range).
//!
//! Sampling floor. Each bin fraction p^_k is a mean over independent chains, so its noise is
//! estimated from the spread between chains, without any assumption on the correlation inside a
//! chain: every autocorrelation, including the slow hopping between wells (which moves whole wells
//! of bins together), is in that spread. With d_k = p^_k - q_k = b_k + eps_k, the floor is the
//! expected TV of pure noise, (1/2) sqrt(2/pi) sum_k sigma_k for normal eps_k with
//! sigma_k^2 = Var_chains(p^_k^(c)) / C. Resampling the chains gives draws of eps (the resampled
//! pooled fractions minus the pooled ones), hence the distribution of the TV of pure noise (its SD
//! tests "TV at the floor") and of the TV of bias plus noise (1/2) sum_k |b_k + eps_k| (its mean is
//! the expected TV, its SD that of the measured TV). The effective sample size n_eff = n / tau is
//! the i.i.d. count with the same floor, tau the (bin-averaged) integrated autocorrelation time. Two
//! independent halves of the chains give a second estimate: E TV(half A, half B) = 2 floor.
//!
//! Theory. The Gibbs bin probabilities by Simpson quadrature, and the exact stationary law of the
//! Euler chain at each eta (Nystrom, [`crate::stationary::EulerChainLaw`]), whose distance to Gibbs
//! is the discretization bias b_k. The excess of the measured TV over the floor is removed in
//! quadrature, excess = sqrt(max(TV^2 - floor^2, 0)) (noise and bias add in quadrature when
//! independent), and A eta^beta is fitted to it by weighted least squares; beta's interval comes from
//! resampling the chains.

use crate::chains::{BinCounts, groups, run_group};
use crate::resample::Bootstrap;
use crate::stationary::{DensityGrid, EulerChainLaw, folded_normal_mean};
use claim_spec::figure::{
    Axis, Bins, CurvesPanel, FigureData, HistogramPanel, Line, MeasuredPoint, Points,
};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::map_indexed;
use sgd_sim::potential::{DoubleWell, Potential};
use sgd_sim::rng::uniform01;
use sgd_sim::stats::{Z95, sample_variance, total_variation};

/// Parameters of `flat-minima/gibbs-stationary`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Temperature T = eta s^2 / 2 of the gradient noise.
    pub temperature: f64,
    /// Step sizes eta, ascending.
    pub etas: Vec<f64>,
    /// Independent chains per eta.
    pub chains: usize,
    /// Recorded steps per chain.
    pub steps: u64,
    /// Unrecorded steps per chain before recording.
    pub burn_in: u64,
    /// Histogram bins.
    pub bins: usize,
    /// Histogram range [lo, hi].
    pub range: [f64; 2],
    /// Bootstrap resamples of the chains.
    pub bootstrap_resamples: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            temperature: 0.5,
            etas: vec![0.001, 0.002, 0.005, 0.01, 0.02],
            chains: 100,
            steps: 1_000_000,
            burn_in: 10_000,
            bins: 200,
            range: [-2.5, 2.5],
            bootstrap_resamples: 1000,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::positive("temperature", self.temperature)?;
        if self.temperature > 2.0 {
            return Err(ParamError::new(
                "temperature",
                "must be at most 2 (the quadrature domain |w| <= 3 must hold all the mass)",
            ));
        }
        ParamError::all_positive("etas", &self.etas)?;
        if self.etas.len() < 2 {
            return Err(ParamError::new(
                "etas",
                "needs at least two step sizes for a slope",
            ));
        }
        for (i, w) in self.etas.windows(2).enumerate() {
            if w[1] <= w[0] {
                return Err(ParamError::new(
                    format!("etas[{}]", i + 1),
                    "step sizes must be strictly ascending",
                ));
            }
        }
        if let Some((i, _)) = self.etas.iter().enumerate().find(|(_, e)| **e > 0.05) {
            return Err(ParamError::new(
                format!("etas[{i}]"),
                "must be at most 0.05 (beyond, the Euler step is not a Langevin discretization of this well)",
            ));
        }
        ParamError::at_least("chains", self.chains as u64, 4)?;
        ParamError::at_least("steps", self.steps, 1000)?;
        if self.steps > u64::from(u32::MAX) {
            return Err(ParamError::new("steps", "must be at most 2^32 - 1"));
        }
        ParamError::at_least("bins", self.bins as u64, 2)?;
        if self.bins > 2000 {
            return Err(ParamError::new("bins", "must be at most 2000"));
        }
        let [lo, hi] = self.range;
        ParamError::finite("range[0]", lo)?;
        ParamError::finite("range[1]", hi)?;
        if !(lo < hi && lo >= -3.0 && hi <= 3.0) {
            return Err(ParamError::new(
                "range",
                format!("must satisfy -3 <= lo < hi <= 3, got [{lo}, {hi}]"),
            ));
        }
        ParamError::at_least("bootstrap_resamples", self.bootstrap_resamples as u64, 100)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        self.etas.len() as f64 * self.chains as f64 * (self.steps + self.burn_in) as f64
    }
}

/// Half-width of the Nystrom grid and of the Gibbs quadrature (L(3) = 64: nothing lies beyond).
const DOMAIN: f64 = 3.0;
/// Simpson intervals per histogram bin for the Gibbs bin masses.
const SUBINTERVALS: usize = 16;

/// Per-eta statistics of the chains' bin fractions.
struct BinStats {
    /// Pooled fractions p^_k (bins, then outside).
    pooled: Vec<f64>,
    /// Standard errors sigma_k of the pooled fractions, from the spread between chains.
    se: Vec<f64>,
}

fn bin_stats(fractions: &[Vec<f64>], chains: &[usize]) -> BinStats {
    let cells = fractions[0].len();
    let c = chains.len() as f64;
    let mut sum = vec![0.0; cells];
    let mut sum_sq = vec![0.0; cells];
    for &i in chains {
        for (k, f) in fractions[i].iter().enumerate() {
            sum[k] += f;
            sum_sq[k] += f * f;
        }
    }
    let pooled: Vec<f64> = sum.iter().map(|s| s / c).collect();
    let se = sum_sq
        .iter()
        .zip(&pooled)
        .map(|(sq, m)| ((sq / c - m * m).max(0.0) * c / (c - 1.0) / c).sqrt())
        .collect();
    BinStats { pooled, se }
}

fn floor_of(se: &[f64]) -> f64 {
    0.5 * (2.0 / std::f64::consts::PI).sqrt() * se.iter().sum::<f64>()
}

fn quadrature_excess(tv: f64, floor: f64) -> f64 {
    (tv * tv - floor * floor).max(0.0).sqrt()
}

/// Weighted least-squares fit of y = A x^beta (weights 1/se^2) on the linear scale, so that zero
/// or noisy values enter with their weight instead of being dropped by a logarithm. For fixed
/// beta the best A is closed-form; beta is found by golden-section search on [0, 3].
pub fn fit_power_law(x: &[f64], y: &[f64], se: &[f64]) -> (f64, f64) {
    let best_a = |beta: f64| -> (f64, f64) {
        let mut num = 0.0;
        let mut den = 0.0;
        for ((&xi, &yi), &si) in x.iter().zip(y).zip(se) {
            let w = 1.0 / (si * si);
            let g = sgd_sim::math::powf(xi, beta);
            num += w * g * yi;
            den += w * g * g;
        }
        let a = num / den;
        let rss = x
            .iter()
            .zip(y)
            .zip(se)
            .map(|((&xi, &yi), &si)| {
                let r = (yi - a * sgd_sim::math::powf(xi, beta)) / si;
                r * r
            })
            .sum();
        (a, rss)
    };
    let (mut lo, mut hi) = (0.0_f64, 3.0_f64);
    let phi = 0.5 * (5f64.sqrt() - 1.0);
    let mut c = hi - phi * (hi - lo);
    let mut d = lo + phi * (hi - lo);
    let (mut fc, mut fd) = (best_a(c).1, best_a(d).1);
    for _ in 0..100 {
        if fc < fd {
            hi = d;
            d = c;
            fd = fc;
            c = hi - phi * (hi - lo);
            fc = best_a(c).1;
        } else {
            lo = c;
            c = d;
            fc = fd;
            d = lo + phi * (hi - lo);
            fd = best_a(d).1;
        }
    }
    let beta = 0.5 * (lo + hi);
    (best_a(beta).0, beta)
}

/// The kind `flat-minima/gibbs-stationary`.
#[derive(Debug)]
pub struct GibbsStationary;

/// The exact theory the chains are compared with (computed, no random number).
#[derive(Clone, Debug, PartialEq)]
pub struct Theory {
    /// The histogram's bin edges.
    pub edges: Vec<f64>,
    /// Gibbs probabilities of the bins, then of everything outside the range.
    pub gibbs_cells: Vec<f64>,
    /// Per eta: the exact Euler chain law's probabilities of the same cells.
    pub chain_cells: Vec<Vec<f64>>,
}

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Chains per eta (after `--scale`).
    pub chains: usize,
    /// The theory of the cells.
    pub theory: Theory,
    /// Per eta, per chain: the fraction of its states in each cell (bins, then outside).
    pub fractions: Vec<Vec<Vec<f64>>>,
    /// Bootstrap resamples of the chains, resample-major then eta: `chains` indices each.
    pub resample_indices: Vec<u32>,
    /// Steps run by all chains, burn-in included.
    pub steps: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.steps
    }
}

/// The Gibbs cells and the Euler chain law's cells at every eta.
fn theory(p: &Params) -> Result<(Theory, DensityGrid), ExperimentError> {
    let potential = DoubleWell { height: 1.0 };
    let t = p.temperature;
    let [lo, hi] = p.range;
    let width = (hi - lo) / p.bins as f64;
    let edges: Vec<f64> = (0..=p.bins).map(|k| lo + k as f64 * width).collect();
    // Gibbs bin probabilities: a grid aligned with the bin edges, padded to |w| >= 3.
    let pad_lo = ((lo + DOMAIN) / width).ceil() as usize;
    let pad_hi = ((DOMAIN - hi) / width).ceil() as usize;
    let grid_lo = lo - pad_lo as f64 * width;
    let grid_hi = hi + pad_hi as f64 * width;
    let intervals = (p.bins + pad_lo + pad_hi) * SUBINTERVALS;
    let gibbs = DensityGrid::gibbs(&potential, t, grid_lo, grid_hi, intervals)?;
    let mut gibbs_cells = Vec::with_capacity(p.bins + 1);
    for k in 0..p.bins {
        gibbs_cells.push(gibbs.mass(edges[k], edges[k + 1])?);
    }
    gibbs_cells.push((1.0 - gibbs_cells.iter().sum::<f64>()).max(0.0));
    // The exact stationary law of the Euler chain at each eta.
    let laws = map_indexed(p.etas.len(), |i| {
        let diffusion = crate::landscape::Diffusion::Constant { temperature: t };
        EulerChainLaw::solve(&potential, &diffusion, p.etas[i], DOMAIN)
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let chain_cells: Vec<Vec<f64>> = laws
        .iter()
        .map(|law| {
            let mut cells: Vec<f64> = edges
                .windows(2)
                .map(|e| law.mass_between(e[0], e[1]))
                .collect();
            cells.push((1.0 - cells.iter().sum::<f64>()).max(0.0));
            cells
        })
        .collect();
    let theory = Theory {
        edges,
        gibbs_cells,
        chain_cells,
    };
    Ok((theory, gibbs))
}

/// The chains: groups of four per eta, each chain on its own stream, from a Gibbs start.
fn run_chains(
    p: &Params,
    ctx: &RunContext,
    gibbs: &DensityGrid,
    chains: usize,
) -> Result<Vec<Vec<Vec<f64>>>, ExperimentError> {
    let potential = DoubleWell { height: 1.0 };
    let t = p.temperature;
    let [lo, hi] = p.range;
    let chain_groups = groups(chains, 4);
    let tasks: Vec<(usize, usize, usize)> = (0..p.etas.len())
        .flat_map(|e| {
            chain_groups
                .iter()
                .map(move |&(first, size)| (e, first, size))
        })
        .collect();
    let streams = ctx.streams();
    let results = map_indexed(tasks.len(), |task| {
        ctx.check_cancelled()?;
        let (e, first, size) = tasks[task];
        let eta = p.etas[e];
        let noise = (2.0 * eta * t).sqrt();
        let mut rngs: Vec<_> = (first..first + size)
            .map(|c| streams.stream("chain", (e * chains + c) as u64))
            .collect();
        let mut w: Vec<f64> = rngs
            .iter_mut()
            .map(|r| gibbs.inverse_cdf(uniform01(r)))
            .collect();
        let mut bins: Vec<BinCounts> = (0..size).map(|_| BinCounts::new(lo, hi, p.bins)).collect();
        run_group(
            &mut w,
            &mut rngs,
            &mut bins,
            p.burn_in,
            p.steps,
            1e3,
            |w, xi| w - eta * potential.derivative(w) + noise * xi,
        )
        .map_err(|d| ExperimentError::Diverged {
            step: d.step,
            reason: format!(
                "chain {} at eta = {eta} reached w = {:e}",
                first + d.chain,
                d.state
            ),
        })?;
        Ok::<_, ExperimentError>(bins)
    });
    ctx.check_cancelled()?;
    let mut fractions: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(chains); p.etas.len()];
    for (task, result) in results.into_iter().enumerate() {
        let e = tasks[task].0;
        for b in result? {
            fractions[e].push(b.fractions());
        }
    }
    Ok(fractions)
}

/// Everything derived from the measurement, shared by the metric and figure steps.
struct Derived {
    stats: Vec<BinStats>,
    tv: Vec<f64>,
    floor: Vec<f64>,
    excess: Vec<f64>,
    bias_tv: Vec<f64>,
    expected_tv_normal: Vec<f64>,
    halves_floor: Vec<f64>,
    n_eff: Vec<f64>,
    n_total: f64,
    resampled: Resampled,
    amplitude: f64,
    slope: f64,
    slope_boot: Bootstrap,
    slope_theory: f64,
    slope_expected: f64,
}

/// What resampling the chains gives, per eta.
struct Resampled {
    noise_sd: Vec<f64>,
    expected_tv: Vec<f64>,
    model_sd: Vec<f64>,
    floor_boot: Vec<Bootstrap>,
    boot_excess: Vec<Vec<f64>>,
    excess_se: Vec<f64>,
}

impl Derived {
    /// A TV's interval: +- 1.96 SDs of its model distribution (the percentile interval of an
    /// ordinary bootstrap is biased upward for a sum of absolute values near zero).
    fn tv_ci(&self, e: usize) -> [f64; 2] {
        let h = Z95 * self.resampled.model_sd[e];
        [(self.tv[e] - h).max(0.0), self.tv[e] + h]
    }

    fn z_model(&self, e: usize) -> f64 {
        (self.tv[e] - self.resampled.expected_tv[e]) / self.resampled.model_sd[e]
    }

    fn z_noise(&self, e: usize) -> f64 {
        (self.tv[e] - self.floor[e]) / self.resampled.noise_sd[e]
    }
}

/// Resampling the chains within each eta. From one resample p^* of the pooled fractions:
/// - the noise replicate eps* = p^* - p^ (centred): (1/2) sum |eps*| is a draw of the TV of pure
///   sampling noise, and (1/2) sum |b + eps*|, with b the exact chain law's bias, a draw of the
///   TV that bias plus noise produce. Their means and SDs give the floor, the expected TV and the
///   SDs of both, with every correlation between bins (the hopping between wells moves whole
///   wells of bins together) included;
/// - the ordinary replicate: TV, floor and excess recomputed, for the slope's interval.
fn resample(m: &Measured, stats: &[BinStats]) -> Resampled {
    let th = &m.theory;
    let n_eta = m.fractions.len();
    let chains = m.chains;
    let resamples = m.resample_indices.len() / (chains * n_eta);
    let mut noise_tv = vec![Vec::with_capacity(resamples); n_eta];
    let mut model_tv = vec![Vec::with_capacity(resamples); n_eta];
    let mut boot_floor = vec![Vec::with_capacity(resamples); n_eta];
    let mut boot_excess = vec![Vec::with_capacity(resamples); n_eta];
    let mut idx = vec![0usize; chains];
    for (j, chunk) in m.resample_indices.chunks_exact(chains).enumerate() {
        let e = j % n_eta;
        for (slot, &i) in idx.iter_mut().zip(chunk) {
            *slot = i as usize;
        }
        let s = bin_stats(&m.fractions[e], &idx);
        let mut noise = 0.0;
        let mut model = 0.0;
        for k in 0..s.pooled.len() {
            let eps = s.pooled[k] - stats[e].pooled[k];
            noise += eps.abs();
            model += (th.chain_cells[e][k] - th.gibbs_cells[k] + eps).abs();
        }
        noise_tv[e].push(0.5 * noise);
        model_tv[e].push(0.5 * model);
        let a = total_variation(&s.pooled, &th.gibbs_cells);
        let f = floor_of(&s.se);
        boot_floor[e].push(f);
        boot_excess[e].push(quadrature_excess(a, f));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sd = |v: &[f64]| sample_variance(v).sqrt();
    Resampled {
        noise_sd: noise_tv.iter().map(|v| sd(v)).collect(),
        expected_tv: model_tv.iter().map(|v| mean(v)).collect(),
        model_sd: model_tv.iter().map(|v| sd(v)).collect(),
        floor_boot: boot_floor
            .iter()
            .map(|v| Bootstrap::from_values(v))
            .collect(),
        // Weights of the fit: the bootstrap SE of each excess (floored at a tiny positive value).
        excess_se: boot_excess
            .iter()
            .map(|v| Bootstrap::from_values(v).se().max(1e-12))
            .collect(),
        boot_excess,
    }
}

/// The statistics of every eta, their resampling, and the fitted eta^beta law.
fn derive(p: &Params, m: &Measured) -> Derived {
    let th = &m.theory;
    let chains = m.chains;
    let all: Vec<usize> = (0..chains).collect();
    let stats: Vec<BinStats> = m.fractions.iter().map(|f| bin_stats(f, &all)).collect();
    let tv: Vec<f64> = stats
        .iter()
        .map(|s| total_variation(&s.pooled, &th.gibbs_cells))
        .collect();
    let floor: Vec<f64> = stats.iter().map(|s| floor_of(&s.se)).collect();
    let excess: Vec<f64> = tv
        .iter()
        .zip(&floor)
        .map(|(&a, &f)| quadrature_excess(a, f))
        .collect();
    let bias_tv: Vec<f64> = th
        .chain_cells
        .iter()
        .map(|c| total_variation(c, &th.gibbs_cells))
        .collect();
    let expected_tv_normal: Vec<f64> = stats
        .iter()
        .zip(&th.chain_cells)
        .map(|(s, c)| {
            0.5 * c
                .iter()
                .zip(&th.gibbs_cells)
                .zip(&s.se)
                .map(|((ck, qk), sk)| folded_normal_mean(ck - qk, *sk))
                .sum::<f64>()
        })
        .collect();
    let halves_floor: Vec<f64> = m
        .fractions
        .iter()
        .map(|f| {
            let half = chains / 2;
            let a = bin_stats(f, &all[..half]);
            let b = bin_stats(f, &all[half..2 * half]);
            0.5 * total_variation(&a.pooled, &b.pooled)
        })
        .collect();
    // n_eff: the i.i.d. sample size with the same floor; tau = n / n_eff steps per sample.
    let iid_floor_coefficient = 0.5
        * (2.0 / std::f64::consts::PI).sqrt()
        * th.gibbs_cells
            .iter()
            .map(|q| (q * (1.0 - q)).sqrt())
            .sum::<f64>();
    let n_eff: Vec<f64> = floor
        .iter()
        .map(|f| {
            let r = iid_floor_coefficient / f;
            r * r
        })
        .collect();
    let resampled = resample(m, &stats);
    let etas = &p.etas;
    let (amplitude, slope) = fit_power_law(etas, &excess, &resampled.excess_se);
    let resamples = resampled.boot_excess[0].len();
    let slope_boot = Bootstrap::from_values(
        &(0..resamples)
            .map(|r| {
                let y: Vec<f64> = resampled.boot_excess.iter().map(|b| b[r]).collect();
                fit_power_law(etas, &y, &resampled.excess_se).1
            })
            .collect::<Vec<_>>(),
    );
    // The same estimator applied to the exact bias, and to the expected TV of bias plus noise.
    let (_, slope_theory) = fit_power_law(etas, &bias_tv, &resampled.excess_se);
    let expected_excess: Vec<f64> = resampled
        .expected_tv
        .iter()
        .zip(&floor)
        .map(|(&a, &f)| quadrature_excess(a, f))
        .collect();
    let (_, slope_expected) = fit_power_law(etas, &expected_excess, &resampled.excess_se);
    Derived {
        stats,
        tv,
        floor,
        excess,
        bias_tv,
        expected_tv_normal,
        halves_floor,
        n_eff,
        n_total: chains as f64 * p.steps as f64,
        resampled,
        amplitude,
        slope,
        slope_boot,
        slope_theory,
        slope_expected,
    }
}

/// The claim's metrics.
fn tv_metrics(d: &Derived, out: &mut Metrics) {
    let last = d.tv.len() - 1;
    let r = &d.resampled;
    out.estimate_with_interval("tv_distance_smallest_eta", d.tv[0], d.tv_ci(0));
    out.estimate_with_interval("tv_sampling_floor", d.floor[0], r.floor_boot[0].ci95());
    let [tl, th] = d.tv_ci(0);
    out.estimate_with_interval(
        "tv_over_floor_smallest_eta",
        d.tv[0] / d.floor[0],
        [tl / d.floor[0], th / d.floor[0]],
    );
    out.measured("tv_noise_z_smallest_eta", d.z_noise(0));
    out.measured(
        "tv_noise_sd_over_floor_smallest_eta",
        r.noise_sd[0] / d.floor[0],
    );
    out.estimate_with_interval("tv_eta_slope", d.slope, d.slope_boot.ci95());
    out.measured("tv_eta_slope_theory", d.slope_theory);
    out.measured("tv_eta_slope_expected", d.slope_expected);
    out.measured("tv_excess_amplitude", d.amplitude);
    out.measured(
        "tv_expected_max_abs_z",
        (0..d.tv.len()).fold(0.0_f64, |m, e| m.max(d.z_model(e).abs())),
    );
    out.computed("tv_bias_theory_smallest_eta", d.bias_tv[0]);
    out.computed("tv_bias_theory_largest_eta", d.bias_tv[last]);
    out.estimate_with_interval("tv_distance_largest_eta", d.tv[last], d.tv_ci(last));
    out.measured("effective_samples_smallest_eta", d.n_eff[0]);
    out.measured(
        "steps_per_effective_sample_smallest_eta",
        d.n_total / d.n_eff[0],
    );
}

/// The TV table: one row per eta.
fn tv_table(p: &Params, d: &Derived) -> Table {
    let r = &d.resampled;
    let mut table = Table::new([
        "eta",
        "tv",
        "tv_lo",
        "tv_hi",
        "floor",
        "floor_lo",
        "floor_hi",
        "noise_tv_sd",
        "floor_halves",
        "excess",
        "excess_se",
        "bias_tv_theory",
        "expected_tv",
        "expected_tv_normal_approx",
        "model_tv_sd",
        "z_vs_expected",
        "z_vs_floor",
        "effective_samples",
        "steps_per_effective_sample",
    ]);
    for (e, &eta) in p.etas.iter().enumerate() {
        let [tl, th] = d.tv_ci(e);
        let [fl, fh] = r.floor_boot[e].ci95();
        table.push(row![
            eta,
            d.tv[e],
            tl,
            th,
            d.floor[e],
            fl,
            fh,
            r.noise_sd[e],
            d.halves_floor[e],
            d.excess[e],
            r.excess_se[e],
            d.bias_tv[e],
            r.expected_tv[e],
            d.expected_tv_normal[e],
            r.model_sd[e],
            d.z_model(e),
            d.z_noise(e),
            d.n_eff[e],
            d.n_total / d.n_eff[e]
        ]);
    }
    table
}

/// The histogram table: densities per bin, simulation and theory, every eta.
fn histogram_table(p: &Params, m: &Measured, d: &Derived) -> Table {
    let th = &m.theory;
    let width = (p.range[1] - p.range[0]) / p.bins as f64;
    let mut columns: Vec<String> = vec!["w".into(), "gibbs_density".into()];
    for e in &p.etas {
        columns.push(format!("sim_density_eta_{e}"));
        columns.push(format!("sim_density_se_eta_{e}"));
        columns.push(format!("chain_density_eta_{e}"));
    }
    let mut table = Table::new(columns);
    for k in 0..p.bins {
        let mut r = row![
            0.5 * (th.edges[k] + th.edges[k + 1]),
            th.gibbs_cells[k] / width
        ];
        for (e, s) in d.stats.iter().enumerate() {
            r.extend(row![
                s.pooled[k] / width,
                s.se[k] / width,
                th.chain_cells[e][k] / width
            ]);
        }
        table.push(r);
    }
    table
}

impl Experiment for GibbsStationary {
    const KIND: &'static str = "flat-minima/gibbs-stationary";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let (theory, gibbs) = theory(p)?;
        let chains = ctx.scaled(p.chains).max(4);
        let fractions = run_chains(p, ctx, &gibbs, chains)?;
        let mut rng = ctx.streams().stream("bootstrap", 0);
        let draws = p.bootstrap_resamples * p.etas.len() * chains;
        let resample_indices = (0..draws)
            .map(|_| sgd_sim::rng::uniform_index(&mut rng, chains) as u32)
            .collect();
        Ok(Measured {
            chains,
            theory,
            fractions,
            resample_indices,
            steps: (p.etas.len() * chains) as u64 * (p.steps + p.burn_in),
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let d = derive(p, m);
        let mut out = Metrics::new();
        tv_metrics(&d, &mut out);
        out.table("tv", tv_table(p, &d));
        out.table("histogram", histogram_table(p, m, &d));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let d = derive(p, m);
        let mut figures = Figures::new();
        figures.add("histogram", histogram_figure(p, m, &d));
        figures.add("tv-distance", tv_figure(p, &d));
        Ok(figures)
    }
}

/// The pooled histograms against Gibbs, and the deviation from Gibbs at the largest eta.
fn histogram_figure(p: &Params, m: &Measured, d: &Derived) -> FigureData {
    let th = &m.theory;
    let etas = &p.etas;
    let last = etas.len() - 1;
    let [lo, hi] = p.range;
    let width = (hi - lo) / p.bins as f64;
    let centre = |k: usize| 0.5 * (th.edges[k] + th.edges[k + 1]);
    let bins = |e: usize, group: usize| Bins {
        label: format!("histogram, η = {}", etas[e]),
        group,
        lo,
        width,
        values: (0..p.bins).map(|k| d.stats[e].pooled[k] / width).collect(),
    };
    let density = HistogramPanel {
        title: format!("Stationary histogram, T = {}", p.temperature),
        x: Axis::linear("w"),
        y: Axis::linear("density").with_range(0.0, 1.0),
        histograms: vec![bins(last, 1), bins(0, 0)],
        densities: vec![Line::new(
            "Gibbs exp(−L/T)/Z",
            6,
            (0..p.bins).map(|k| (centre(k), th.gibbs_cells[k] / width)),
        )],
    };
    // Every few bins, to keep the interval bars readable; in units of 1e-2.
    let stride = (p.bins / 50).max(1);
    let unit = 100.0;
    let s = &d.stats[last];
    let dev = |k: usize| unit * (s.pooled[k] - th.gibbs_cells[k]) / width;
    let half = |k: usize| unit * 1.96 * s.se[k] / width;
    let (dev_lo, dev_hi) = (0..p.bins).fold((0.0_f64, 0.0_f64), |(lo, hi), k| {
        (lo.min(dev(k) - half(k)), hi.max(dev(k) + half(k)))
    });
    let span = dev_hi - dev_lo;
    let deviation = CurvesPanel::new(
        format!("Deviation from Gibbs, η = {}", etas[last]),
        Axis::linear("w"),
        Axis::linear("(density − Gibbs density) × 100").with_range(
            (dev_lo - 0.05 * span).floor(),
            (dev_hi + 0.45 * span).ceil(),
        ),
    )
    .measured(Points::new(
        "simulation (95% CI)",
        1,
        (0..p.bins)
            .step_by(stride)
            .map(|k| {
                MeasuredPoint::with_ci(centre(k), dev(k), [dev(k) - half(k), dev(k) + half(k)])
            })
            .collect(),
    ))
    .theory(Line::new(
        "exact law of the Euler chain",
        0,
        (0..p.bins).map(|k| {
            (
                centre(k),
                unit * (th.chain_cells[last][k] - th.gibbs_cells[k]) / width,
            )
        }),
    ));
    FigureData::stacked(vec![density.into(), deviation.into()])
}

/// The TV distance against eta, with the floor, the bias and the fitted law.
fn tv_figure(p: &Params, d: &Derived) -> FigureData {
    let etas = &p.etas;
    let n_eta = etas.len();
    let last = n_eta - 1;
    let curve = |values: &[f64]| -> Vec<(f64, f64)> {
        etas.iter().copied().zip(values.iter().copied()).collect()
    };
    let powf = sgd_sim::math::powf;
    let log10 = sgd_sim::math::log10;
    let fitted: Vec<(f64, f64)> = (0..=20)
        .map(|k| {
            let e = etas[0] * powf(etas[last] / etas[0], f64::from(k) / 20.0);
            (e, d.amplitude * powf(e, d.slope))
        })
        .collect();
    let excess_points = (0..n_eta)
        .filter(|&e| d.excess[e] > 0.0)
        .map(|e| {
            let x = d.excess[e];
            let h = Z95 * d.resampled.excess_se[e];
            MeasuredPoint::with_ci(etas[e], x, [(x - h).max(0.1 * x), x + h])
        })
        .collect();
    let panel = CurvesPanel::new(
        "TV distance to the Gibbs density",
        // Whole decades, so the log axis is labelled at decades only.
        Axis::log("step size η").with_range(
            powf(10.0, (log10(etas[0]) - 0.3).floor()),
            powf(10.0, (log10(etas[last]) + 0.3).ceil()),
        ),
        // Headroom above the data for the legend.
        Axis::log("total variation").with_range(1e-4, 3.0),
    )
    .measured(Points::new(
        "TV, simulation",
        0,
        (0..n_eta)
            .map(|e| MeasuredPoint::with_ci(etas[e], d.tv[e], d.tv_ci(e)))
            .collect(),
    ))
    .measured(Points::new("excess over the floor", 1, excess_points))
    .guide(Line::new("sampling floor", 6, curve(&d.floor)))
    .theory(Line::new(
        "bias of the exact chain law",
        1,
        curve(&d.bias_tv),
    ))
    .theory(Line::new(
        "expected TV (bias + floor)",
        0,
        curve(&d.resampled.expected_tv),
    ))
    .guide(Line::new(
        format!("fit A η^β, β = {:.2}", d.slope),
        2,
        fitted,
    ));
    FigureData::single(panel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_law_fit_recovers_exact_data() {
        let x = [0.001, 0.002, 0.005, 0.01, 0.02];
        let y: Vec<f64> = x.iter().map(|&e: &f64| 1.7 * e * e.sqrt()).collect();
        let (a, b) = fit_power_law(&x, &y, &[1e-4; 5]);
        assert!((b - 1.5).abs() < 1e-8 && (a - 1.7).abs() < 1e-6, "{a} {b}");
    }

    #[test]
    fn floor_of_iid_multinomial_matches_its_formula() {
        // C chains of m i.i.d. categorical draws: the between-chain SE of each cell is
        // sqrt(q(1-q)/(C m)), so the floor is the i.i.d. formula; at C = 200, m = 2000 the
        // SE estimate of each cell has relative error 1/sqrt(2 C) = 5%, averaged over 4 cells.
        let q = [0.1, 0.2, 0.3, 0.4];
        let mut r = sgd_sim::rng::Streams::new(9).stream("t", 0);
        let (chains, m) = (200, 2000);
        let fractions: Vec<Vec<f64>> = (0..chains)
            .map(|_| {
                let mut c = [0.0; 4];
                for _ in 0..m {
                    let u = uniform01(&mut r);
                    let k = if u < 0.1 {
                        0
                    } else if u < 0.3 {
                        1
                    } else if u < 0.6 {
                        2
                    } else {
                        3
                    };
                    c[k] += 1.0 / m as f64;
                }
                c.to_vec()
            })
            .collect();
        let all: Vec<usize> = (0..chains).collect();
        let s = bin_stats(&fractions, &all);
        let n = (chains * m) as f64;
        let want = 0.5
            * (2.0 / std::f64::consts::PI).sqrt()
            * q.iter().map(|q| (q * (1.0 - q) / n).sqrt()).sum::<f64>();
        assert!((floor_of(&s.se) / want - 1.0).abs() < 0.1);
    }

    /// A hand-made measurement: 4 cells, 8 chains at two etas whose fractions scatter around
    /// the Gibbs cells, with no bias in the chain law at the first eta.
    fn hand_made() -> (Params, Measured) {
        let p = Params {
            etas: vec![0.001, 0.002],
            chains: 8,
            bins: 3,
            range: [-1.5, 1.5],
            bootstrap_resamples: 100,
            ..Params::default()
        };
        let gibbs = vec![0.3, 0.2, 0.3, 0.2];
        let biased = vec![0.31, 0.19, 0.31, 0.19];
        let fractions = |centre: &[f64]| -> Vec<Vec<f64>> {
            (0..8)
                .map(|c| {
                    let d = if c % 2 == 0 { 0.01 } else { -0.01 };
                    vec![centre[0] + d, centre[1] - d, centre[2] + d, centre[3] - d]
                })
                .collect()
        };
        let mut rng = sgd_sim::rng::Streams::new(5).stream("t", 0);
        let resample_indices = (0..100 * 2 * 8)
            .map(|_| sgd_sim::rng::uniform_index(&mut rng, 8) as u32)
            .collect();
        let m = Measured {
            chains: 8,
            theory: Theory {
                edges: vec![-1.5, -0.5, 0.5, 1.5],
                gibbs_cells: gibbs.clone(),
                chain_cells: vec![gibbs.clone(), biased.clone()],
            },
            fractions: vec![fractions(&gibbs), fractions(&biased)],
            resample_indices,
            steps: 16,
        };
        (p, m)
    }

    #[test]
    fn metrics_and_figures_are_functions_of_the_measurement() {
        let (p, m) = hand_made();
        let out = GibbsStationary::metrics(&p, &m).unwrap();
        // The pooled fractions are the cells' centres: TV 0 at the first eta, 0.02 at the second.
        assert!(out.value("tv_distance_smallest_eta").unwrap().abs() < 1e-12);
        let tv = out.value("tv_distance_largest_eta").unwrap();
        assert!((tv - 0.02).abs() < 1e-12, "{tv}");
        // Bias of the chain law: 0 and 0.02 exactly (computed).
        assert_eq!(out.value("tv_bias_theory_smallest_eta"), Some(0.0));
        assert_eq!(
            out.values["tv_bias_theory_largest_eta"].basis,
            claim_spec::Basis::Computed
        );
        // Each cell's chains spread +-0.01: SE 0.01 sqrt(8/7)/sqrt(8) per cell.
        let se = 0.01 * (8.0_f64 / 7.0).sqrt() / 8.0_f64.sqrt();
        let floor = 0.5 * (2.0 / std::f64::consts::PI).sqrt() * 4.0 * se;
        let got = out.value("tv_sampling_floor").unwrap();
        assert!((got / floor - 1.0).abs() < 1e-9, "{got} vs {floor}");
        assert_eq!(out.tables["tv"].rows.len(), 2);
        assert_eq!(out.tables["histogram"].rows.len(), 3);
        let f = GibbsStationary::figures(&p, &m).unwrap().into_map();
        assert_eq!(f["histogram"].panels.len(), 2);
        assert_eq!(f["tv-distance"].panels.len(), 1);
    }

    #[test]
    fn bad_parameters_are_rejected_by_key() {
        let bad = Params {
            etas: vec![0.01, 0.005],
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "etas[1]");
        let bad = Params {
            range: [1.0, -1.0],
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "range");
        let bad = Params {
            temperature: -0.5,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "temperature");
        assert!(Params::default().validate().is_ok());
    }
}
