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
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::map_indexed;
use sgd_sim::potential::{DoubleWell, Potential};
use sgd_sim::rng::uniform01;
use sgd_sim::stats::{Z95, sample_variance};

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

fn total_variation(p: &[f64], q: &[f64]) -> f64 {
    0.5 * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>()
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

/// Runs the claim.
///
/// # Errors
/// A diverged chain, or a failed quadrature or linear solve.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
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

    // The chains: groups of four per eta, each chain on its own stream.
    let chains = ctx.scaled(p.chains).max(4);
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
    let mut fractions: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(chains); p.etas.len()];
    for (task, result) in results.into_iter().enumerate() {
        let e = tasks[task].0;
        for b in result? {
            fractions[e].push(b.fractions());
        }
    }

    // Statistics per eta, and their bootstrap over chains.
    let all: Vec<usize> = (0..chains).collect();
    let stats: Vec<BinStats> = fractions.iter().map(|f| bin_stats(f, &all)).collect();
    let tv: Vec<f64> = stats
        .iter()
        .map(|s| total_variation(&s.pooled, &gibbs_cells))
        .collect();
    let floor: Vec<f64> = stats.iter().map(|s| floor_of(&s.se)).collect();
    let excess: Vec<f64> = tv
        .iter()
        .zip(&floor)
        .map(|(&a, &f)| quadrature_excess(a, f))
        .collect();
    let bias_tv: Vec<f64> = chain_cells
        .iter()
        .map(|c| total_variation(c, &gibbs_cells))
        .collect();
    let expected_tv_normal: Vec<f64> = stats
        .iter()
        .zip(&chain_cells)
        .map(|(s, c)| {
            0.5 * c
                .iter()
                .zip(&gibbs_cells)
                .zip(&s.se)
                .map(|((ck, qk), sk)| folded_normal_mean(ck - qk, *sk))
                .sum::<f64>()
        })
        .collect();
    let halves_floor: Vec<f64> = fractions
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
        * gibbs_cells
            .iter()
            .map(|q| (q * (1.0 - q)).sqrt())
            .sum::<f64>();
    let n_total = chains as f64 * p.steps as f64;
    let n_eff: Vec<f64> = floor
        .iter()
        .map(|f| (iid_floor_coefficient / f).powi(2))
        .collect();

    // Resampling the chains within each eta. From one resample p^* of the pooled fractions:
    // - the noise replicate eps* = p^* - p^ (centred): (1/2) sum |eps*| is a draw of the TV of pure
    //   sampling noise, and (1/2) sum |b + eps*|, with b the exact chain law's bias, a draw of the
    //   TV that bias plus noise produce. Their means and SDs give the floor, the expected TV and the
    //   SDs of both, with every correlation between bins (the hopping between wells moves whole
    //   wells of bins together) included;
    // - the ordinary replicate: TV, floor and excess recomputed, for the slope's interval.
    let mut rng = streams.stream("bootstrap", 0);
    let etas = &p.etas;
    let n_eta = etas.len();
    let resamples = p.bootstrap_resamples;
    let mut noise_tv = vec![Vec::with_capacity(resamples); n_eta];
    let mut model_tv = vec![Vec::with_capacity(resamples); n_eta];
    let mut boot_floor = vec![Vec::with_capacity(resamples); n_eta];
    let mut boot_excess = vec![Vec::with_capacity(resamples); n_eta];
    let mut idx = vec![0usize; chains];
    for _ in 0..resamples {
        for e in 0..n_eta {
            for slot in idx.iter_mut() {
                *slot = sgd_sim::rng::uniform_index(&mut rng, chains);
            }
            let s = bin_stats(&fractions[e], &idx);
            let mut noise = 0.0;
            let mut model = 0.0;
            for k in 0..s.pooled.len() {
                let eps = s.pooled[k] - stats[e].pooled[k];
                noise += eps.abs();
                model += (chain_cells[e][k] - gibbs_cells[k] + eps).abs();
            }
            noise_tv[e].push(0.5 * noise);
            model_tv[e].push(0.5 * model);
            let a = total_variation(&s.pooled, &gibbs_cells);
            let f = floor_of(&s.se);
            boot_floor[e].push(f);
            boot_excess[e].push(quadrature_excess(a, f));
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sd = |v: &[f64]| sample_variance(v).sqrt();
    let noise_sd: Vec<f64> = noise_tv.iter().map(|v| sd(v)).collect();
    let expected_tv: Vec<f64> = model_tv.iter().map(|v| mean(v)).collect();
    let model_sd: Vec<f64> = model_tv.iter().map(|v| sd(v)).collect();
    let floor_boot: Vec<Bootstrap> = boot_floor
        .iter()
        .map(|v| Bootstrap::from_values(v))
        .collect();
    let excess_boot: Vec<Bootstrap> = boot_excess
        .iter()
        .map(|v| Bootstrap::from_values(v))
        .collect();
    // Weights of the fit: the bootstrap SE of each excess (floored at a tiny positive value).
    let excess_se: Vec<f64> = excess_boot.iter().map(|b| b.se().max(1e-12)).collect();
    let (amplitude, slope) = fit_power_law(etas, &excess, &excess_se);
    let slope_boot = Bootstrap::from_values(
        &(0..resamples)
            .map(|r| {
                let y: Vec<f64> = (0..n_eta).map(|e| boot_excess[e][r]).collect();
                fit_power_law(etas, &y, &excess_se).1
            })
            .collect::<Vec<_>>(),
    );
    // The same estimator applied to the exact bias, and to the expected TV of bias plus noise.
    let (_, slope_theory) = fit_power_law(etas, &bias_tv, &excess_se);
    let expected_excess: Vec<f64> = expected_tv
        .iter()
        .zip(&floor)
        .map(|(&a, &f)| quadrature_excess(a, f))
        .collect();
    let (_, slope_expected) = fit_power_law(etas, &expected_excess, &excess_se);
    let z_model: Vec<f64> = (0..n_eta)
        .map(|e| (tv[e] - expected_tv[e]) / model_sd[e])
        .collect();
    let z_noise: Vec<f64> = (0..n_eta)
        .map(|e| (tv[e] - floor[e]) / noise_sd[e])
        .collect();
    // A TV's interval: +- 1.96 SDs of its model distribution (the percentile interval of an
    // ordinary bootstrap is biased upward for a sum of absolute values near zero).
    let tv_ci = |e: usize| {
        [
            (tv[e] - Z95 * model_sd[e]).max(0.0),
            tv[e] + Z95 * model_sd[e],
        ]
    };

    // Metrics.
    let mut out = Outcome::new();
    let last = n_eta - 1;
    out.with_interval("tv_distance_smallest_eta", tv[0], tv_ci(0));
    out.with_interval("tv_sampling_floor", floor[0], floor_boot[0].ci95());
    let [tl, th] = tv_ci(0);
    out.with_interval(
        "tv_over_floor_smallest_eta",
        tv[0] / floor[0],
        [tl / floor[0], th / floor[0]],
    );
    out.exact("tv_noise_z_smallest_eta", z_noise[0]);
    out.exact(
        "tv_noise_sd_over_floor_smallest_eta",
        noise_sd[0] / floor[0],
    );
    out.with_interval("tv_eta_slope", slope, slope_boot.ci95());
    out.exact("tv_eta_slope_theory", slope_theory);
    out.exact("tv_eta_slope_expected", slope_expected);
    out.exact("tv_excess_amplitude", amplitude);
    out.exact(
        "tv_expected_max_abs_z",
        z_model.iter().fold(0.0_f64, |m, z| m.max(z.abs())),
    );
    out.exact("tv_bias_theory_smallest_eta", bias_tv[0]);
    out.exact("tv_bias_theory_largest_eta", bias_tv[last]);
    out.with_interval("tv_distance_largest_eta", tv[last], tv_ci(last));
    out.exact("effective_samples_smallest_eta", n_eff[0]);
    out.exact(
        "steps_per_effective_sample_smallest_eta",
        n_total / n_eff[0],
    );

    // Tables.
    let mut tv_table = Table::new([
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
    for e in 0..n_eta {
        let [tl, th] = tv_ci(e);
        let [fl, fh] = floor_boot[e].ci95();
        tv_table.push(row![
            etas[e],
            tv[e],
            tl,
            th,
            floor[e],
            fl,
            fh,
            noise_sd[e],
            halves_floor[e],
            excess[e],
            excess_se[e],
            bias_tv[e],
            expected_tv[e],
            expected_tv_normal[e],
            model_sd[e],
            z_model[e],
            z_noise[e],
            n_eff[e],
            n_total / n_eff[e]
        ]);
    }
    out.table("tv", tv_table);

    let mut columns: Vec<String> = vec!["w".into(), "gibbs_density".into()];
    for e in etas {
        columns.push(format!("sim_density_eta_{e}"));
        columns.push(format!("sim_density_se_eta_{e}"));
        columns.push(format!("chain_density_eta_{e}"));
    }
    let mut hist_table = Table::new(columns);
    for k in 0..p.bins {
        let mut r = row![0.5 * (edges[k] + edges[k + 1]), gibbs_cells[k] / width];
        for e in 0..n_eta {
            r.extend(row![
                stats[e].pooled[k] / width,
                stats[e].se[k] / width,
                chain_cells[e][k] / width
            ]);
        }
        hist_table.push(r);
    }
    out.table("histogram", hist_table);

    // Figures.
    let centre = |k: usize| 0.5 * (edges[k] + edges[k + 1]);
    let density_panel = Panel {
        title: format!("Stationary histogram, T = {t}"),
        x: Axis::linear("w"),
        y: Axis::linear("density").with_range(0.0, 1.0),
        series: vec![
            Series::from_xy(
                format!("histogram, eta = {}", etas[last]),
                SeriesKind::Histogram,
                1,
                (0..p.bins).map(|k| (centre(k), stats[last].pooled[k] / width)),
            ),
            Series::from_xy(
                format!("histogram, eta = {}", etas[0]),
                SeriesKind::Histogram,
                0,
                (0..p.bins).map(|k| (centre(k), stats[0].pooled[k] / width)),
            ),
            Series::from_xy(
                "Gibbs exp(-L/T)/Z",
                SeriesKind::Theory,
                6,
                (0..p.bins).map(|k| (centre(k), gibbs_cells[k] / width)),
            ),
        ],
        labels: Vec::new(),
    };
    // Deviation from Gibbs at the largest eta, on every 4th bin to keep the error bars readable.
    let stride = (p.bins / 50).max(1);
    // In units of 1e-2, so the ticks are whole numbers.
    let unit = 100.0;
    let (dev_lo, dev_hi) = (0..p.bins).fold((0.0_f64, 0.0_f64), |(lo, hi), k| {
        let d = unit * (stats[last].pooled[k] - gibbs_cells[k]) / width;
        let h = unit * 1.96 * stats[last].se[k] / width;
        (lo.min(d - h), hi.max(d + h))
    });
    let dev_span = dev_hi - dev_lo;
    let deviation_panel = Panel {
        title: format!("Deviation from Gibbs, eta = {}", etas[last]),
        x: Axis::linear("w"),
        y: Axis::linear("(density - Gibbs density) x 100").with_range(
            (dev_lo - 0.05 * dev_span).floor(),
            (dev_hi + 0.45 * dev_span).ceil(),
        ),
        series: vec![
            Series {
                label: "simulation (95% CI)".into(),
                kind: SeriesKind::Simulation,
                color: 1,
                points: (0..p.bins)
                    .step_by(stride)
                    .map(|k| {
                        let d = unit * (stats[last].pooled[k] - gibbs_cells[k]) / width;
                        let h = unit * 1.96 * stats[last].se[k] / width;
                        Point::with_interval(centre(k), d, [d - h, d + h])
                    })
                    .collect(),
            },
            Series::from_xy(
                "exact law of the Euler chain",
                SeriesKind::Theory,
                0,
                (0..p.bins).map(|k| {
                    (
                        centre(k),
                        unit * (chain_cells[last][k] - gibbs_cells[k]) / width,
                    )
                }),
            ),
        ],
        labels: Vec::new(),
    };
    out.figure(
        "histogram",
        FigureSpec {
            panels: vec![density_panel, deviation_panel],
        },
    );
    let eta_curve = |values: &[f64]| -> Vec<(f64, f64)> {
        etas.iter().copied().zip(values.iter().copied()).collect()
    };
    let fitted: Vec<(f64, f64)> = (0..=20)
        .map(|k| {
            let e = etas[0] * sgd_sim::math::powf(etas[last] / etas[0], f64::from(k) / 20.0);
            (e, amplitude * sgd_sim::math::powf(e, slope))
        })
        .collect();
    out.figure(
        "tv-distance",
        FigureSpec {
            panels: vec![Panel {
                title: "TV distance to the Gibbs density".into(),
                // Whole decades, so the log axis is labelled at decades only.
                x: Axis::log("eta").with_range(
                    sgd_sim::math::powf(10.0, (sgd_sim::math::log10(etas[0]) - 0.3).floor()),
                    sgd_sim::math::powf(10.0, (sgd_sim::math::log10(etas[last]) + 0.3).ceil()),
                ),
                // Headroom above the data for the legend.
                y: Axis::log("total variation").with_range(1e-4, 3.0),
                series: vec![
                    Series {
                        label: "TV, simulation".into(),
                        kind: SeriesKind::Simulation,
                        color: 0,
                        points: (0..n_eta)
                            .map(|e| Point::with_interval(etas[e], tv[e], tv_ci(e)))
                            .collect(),
                    },
                    Series {
                        label: "excess over the floor".into(),
                        kind: SeriesKind::Simulation,
                        color: 1,
                        points: (0..n_eta)
                            .filter(|&e| excess[e] > 0.0)
                            .map(|e| {
                                let h = Z95 * excess_se[e];
                                Point::with_interval(
                                    etas[e],
                                    excess[e],
                                    [(excess[e] - h).max(0.1 * excess[e]), excess[e] + h],
                                )
                            })
                            .collect(),
                    },
                    Series::from_xy("sampling floor", SeriesKind::Guide, 6, eta_curve(&floor)),
                    Series::from_xy(
                        "bias of the exact chain law",
                        SeriesKind::Theory,
                        1,
                        eta_curve(&bias_tv),
                    ),
                    Series::from_xy(
                        "expected TV (bias + floor)",
                        SeriesKind::Theory,
                        0,
                        eta_curve(&expected_tv),
                    ),
                    Series::from_xy(
                        format!("fit A eta^beta, beta = {slope:.2}"),
                        SeriesKind::Guide,
                        2,
                        fitted,
                    ),
                ],
                labels: Vec::new(),
            }],
        },
    );
    out.samples = (n_eta * chains) as u64 * (p.steps + p.burn_in);
    Ok(out)
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
