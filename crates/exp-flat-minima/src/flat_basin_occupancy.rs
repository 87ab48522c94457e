//! Claim `flat-basin-occupancy`: in the stationary law of Langevin SGD, a flat basin outweighs a
//! sharp one of the same depth, by the volume factor 1/(1 + c) under isotropic noise, and by much
//! more when the noise grows with curvature.
//!
//! The compressed double well ([`crate::landscape::CompressedDoubleWell`]) has a flat minimum at -1
//! (curvature 8) and a sharp one at 1/c (curvature 8 c^2), both of depth 1, with the barrier at 0.
//!
//! - (a) isotropic noise D = T. The right branch is the left one compressed by c, so
//!   int_0^inf exp(-L/T) = (1/c) int_-inf^0 exp(-L/T), and the Gibbs occupancy of the sharp side
//!   is P = 1/(1 + c) exactly, at every T: a polynomial (volume) preference for the flat basin.
//! - (b) D(w) = T (1 + g sigma(w/s)): the Ito stationary density D^-1 exp(-int L'/D), by
//!   quadrature. The sharp well, at temperature (1 + g) T, is effectively shallower by a factor
//!   1 + g in exp(-depth/T): an exponential preference.
//!
//! Chains start from the stationary density of their model, so the burn-in only forgets the
//! difference between it and the chain's own law. P is the fraction of recorded states with
//! w >= 0 (0 is a bin edge; w = 0 exactly has probability 0), averaged over independent chains; its standard error is the spread of the chain means
//! (batch means with one batch per chain, each 10^6 steps, far longer than the hopping time).
//! The exact law of the Euler chain at the simulated eta gives the discretization bias.

use crate::chains::{BinCounts, groups, run_group};
use crate::landscape::{CompressedDoubleWell, Diffusion};
use crate::stationary::{DensityGrid, EulerChainLaw};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind, TextLabel};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::map_indexed;
use sgd_sim::potential::Potential;
use sgd_sim::rng::uniform01;
use sgd_sim::stats::mean_estimate;

/// Parameters of `flat-minima/flat-basin-occupancy`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Compression c of the sharp basin (curvature ratio c^2).
    pub compression: f64,
    /// Temperature T (on the flat side, for the curvature-dependent noise).
    pub temperature: f64,
    /// Step size eta.
    pub eta: f64,
    /// Independent chains per noise model.
    pub chains: usize,
    /// Recorded steps per chain.
    pub steps: u64,
    /// Unrecorded steps per chain before recording.
    pub burn_in: u64,
    /// Relative noise increase g on the sharp side, D = T (1 + g sigma(w/s)).
    pub noise_gain: f64,
    /// Width s of the switch of the noise at the barrier.
    pub noise_width: f64,
    /// Bins of the histogram drawn in the figure.
    pub bins: usize,
    /// Range of that histogram.
    pub range: [f64; 2],
}

impl Default for Params {
    fn default() -> Self {
        Self {
            compression: 2.0,
            temperature: 0.5,
            eta: 0.002,
            chains: 400,
            steps: 1_000_000,
            burn_in: 10_000,
            noise_gain: 3.0,
            noise_width: 0.05,
            bins: 140,
            range: [-2.0, 1.5],
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::positive("compression", self.compression)?;
        if !(1.0..=4.0).contains(&self.compression) {
            return Err(ParamError::new("compression", "must be in [1, 4]"));
        }
        ParamError::positive("temperature", self.temperature)?;
        if self.temperature > 1.0 {
            return Err(ParamError::new(
                "temperature",
                "must be at most 1 (both basins must stay basins)",
            ));
        }
        ParamError::positive("eta", self.eta)?;
        // The Euler step is stable in the sharp well only for eta L'' < 2, L'' = 8 c^2.
        if self.eta * 8.0 * self.compression * self.compression > 0.5 {
            return Err(ParamError::new(
                "eta",
                "eta * 8 c^2 must be at most 0.5 (the sharp well's curvature)",
            ));
        }
        ParamError::at_least("chains", self.chains as u64, 4)?;
        ParamError::at_least("steps", self.steps, 1000)?;
        ParamError::finite("noise_gain", self.noise_gain)?;
        if !(0.0..=10.0).contains(&self.noise_gain) {
            return Err(ParamError::new("noise_gain", "must be in [0, 10]"));
        }
        ParamError::positive("noise_width", self.noise_width)?;
        if self.noise_width > 1.0 || self.noise_width < 0.01 {
            return Err(ParamError::new("noise_width", "must be in [0.01, 1]"));
        }
        ParamError::at_least("bins", self.bins as u64, 2)?;
        if self.bins > 2000 {
            return Err(ParamError::new("bins", "must be at most 2000"));
        }
        let [lo, hi] = self.range;
        ParamError::finite("range[0]", lo)?;
        ParamError::finite("range[1]", hi)?;
        if !(lo < 0.0 && 0.0 < hi && lo >= -3.0 && hi <= 3.0) {
            return Err(ParamError::new(
                "range",
                format!("must satisfy -3 <= lo < 0 < hi <= 3, got [{lo}, {hi}]"),
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
        2.0 * self.chains as f64 * (self.steps + self.burn_in) as f64
    }
}

/// Half-width of the quadrature and Nystrom domains (L(-3) = 64, L(3) = (9 c^2 - 1)^2).
const DOMAIN: f64 = 3.0;
/// Node spacing cap of the Nystrom solution. L'' jumps at the barrier, so the error there is
/// O(h^2): refining 0.02, 0.01, 0.005, 0.0025 at eta = 0.002 moves P(sharp) of the isotropic chain
/// by 1.3e-4, 3.3e-5, 8e-6 (ratios of 4), so at 0.01 it is within 4.4e-5 of its limit, 1/20 of the
/// standard error of the simulated occupancy; the logistic noise already forces 0.01.
const KINK_STEP: f64 = 0.01;
/// Intervals of the stationary-density quadrature (h = 5e-4, far below the noise width 0.01..).
const QUADRATURE_INTERVALS: usize = 12_000;

/// One noise model's measurement.
struct Model {
    name: &'static str,
    diffusion: Diffusion,
    density: DensityGrid,
    p_theory: f64,
    p_chain: f64,
    per_chain: Vec<f64>,
    histogram: Vec<f64>,
}

/// Runs the claim.
///
/// # Errors
/// A diverged chain, or a failed quadrature or linear solve.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let potential = CompressedDoubleWell {
        compression: p.compression,
    };
    let t = p.temperature;
    let volume_factor = 1.0 / (1.0 + p.compression);
    let diffusions = [
        ("isotropic", Diffusion::Constant { temperature: t }),
        (
            "curvature-dependent",
            Diffusion::Logistic {
                temperature: t,
                gain: p.noise_gain,
                width: p.noise_width,
            },
        ),
    ];
    let densities = [
        DensityGrid::gibbs(&potential, t, -DOMAIN, DOMAIN, QUADRATURE_INTERVALS)?,
        DensityGrid::ito(
            &potential,
            &diffusions[1].1,
            -DOMAIN,
            DOMAIN,
            QUADRATURE_INTERVALS,
        )?,
    ];
    let laws = map_indexed(2, |m| {
        EulerChainLaw::solve_with_step(&potential, &diffusions[m].1, p.eta, DOMAIN, KINK_STEP)
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;

    let chains = ctx.scaled(p.chains).max(4);
    let chain_groups = groups(chains, 4);
    let tasks: Vec<(usize, usize, usize)> = (0..2)
        .flat_map(|m| {
            chain_groups
                .iter()
                .map(move |&(first, size)| (m, first, size))
        })
        .collect();
    let streams = ctx.streams();
    let [lo, hi] = p.range;
    let results = map_indexed(tasks.len(), |task| {
        let (m, first, size) = tasks[task];
        let mut rngs: Vec<_> = (first..first + size)
            .map(|c| streams.stream("chain", (m * chains + c) as u64))
            .collect();
        let mut w: Vec<f64> = rngs
            .iter_mut()
            .map(|r| densities[m].inverse_cdf(uniform01(r)))
            .collect();
        let mut bins: Vec<BinCounts> = (0..size).map(|_| BinCounts::new(lo, hi, p.bins)).collect();
        let eta = p.eta;
        let outcome = match diffusions[m].1 {
            Diffusion::Constant { temperature } => {
                let noise = (2.0 * eta * temperature).sqrt();
                run_group(
                    &mut w,
                    &mut rngs,
                    &mut bins,
                    p.burn_in,
                    p.steps,
                    1e3,
                    |w, xi| w - eta * potential.derivative(w) + noise * xi,
                )
            }
            Diffusion::Logistic {
                temperature,
                gain,
                width,
            } => {
                // 2 eta D(w) = 2 eta T + 2 eta T g / (1 + e^(-w/s)), branch-free: e^(-w/s) over-
                // or underflows to inf or 0 far out, where the logistic is 0 or 1 exactly.
                let base = 2.0 * eta * temperature;
                let raise = base * gain;
                let rate = -1.0 / width;
                run_group(
                    &mut w,
                    &mut rngs,
                    &mut bins,
                    p.burn_in,
                    p.steps,
                    1e3,
                    |w, xi| {
                        w - eta * potential.derivative(w)
                            + (base + raise / (1.0 + sgd_sim::math::exp(w * rate))).sqrt() * xi
                    },
                )
            }
        };
        outcome.map_err(|d| ExperimentError::Diverged {
            step: d.step,
            reason: format!(
                "{} chain {} reached w = {:e}",
                diffusions[m].0,
                first + d.chain,
                d.state
            ),
        })?;
        Ok::<_, ExperimentError>(bins)
    });
    let mut per_model: Vec<Vec<BinCounts>> =
        vec![Vec::with_capacity(chains), Vec::with_capacity(chains)];
    for (task, result) in results.into_iter().enumerate() {
        per_model[tasks[task].0].extend(result?);
    }

    let width = (hi - lo) / p.bins as f64;
    let [dens_a, dens_b] = densities;
    let mut models = Vec::with_capacity(2);
    for (m, (density, counts)) in [dens_a, dens_b].into_iter().zip(per_model).enumerate() {
        let p_theory = if m == 0 {
            volume_factor
        } else {
            density.mass(0.0, DOMAIN)?
        };
        let per_chain: Vec<f64> = counts
            .iter()
            .map(|b| b.fraction_at_or_above(0.0))
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| {
                ExperimentError::InvalidParams("0 must be a bin edge of `range`".into())
            })?;
        let total: u64 = counts.iter().map(BinCounts::total).sum();
        let histogram: Vec<f64> = (0..p.bins)
            .map(|k| counts.iter().map(|b| b.counts[k]).sum::<u64>() as f64 / total as f64 / width)
            .collect();
        models.push(Model {
            name: diffusions[m].0,
            diffusion: diffusions[m].1,
            density,
            p_theory,
            p_chain: laws[m].mass_above(0.0),
            per_chain,
            histogram,
        });
    }

    let mut out = Outcome::new();
    let estimates: Vec<_> = models.iter().map(|m| mean_estimate(&m.per_chain)).collect();
    let (a, b) = (&models[0], &models[1]);
    let (ea, eb) = (estimates[0], estimates[1]);
    out.estimate("p_sharp_isotropic", ea);
    out.exact("p_sharp_isotropic_theory", a.p_theory);
    out.exact("p_sharp_isotropic_quadrature", a.density.mass(0.0, DOMAIN)?);
    out.exact("p_sharp_isotropic_chain_theory", a.p_chain);
    out.exact("p_sharp_isotropic_z_vs_chain", ea.z_score(a.p_chain));
    out.exact(
        "p_sharp_isotropic_error_over_allowance",
        (ea.value - a.p_theory).abs() / (4.0 * ea.se + 0.005),
    );
    out.estimate("p_sharp_curvature_noise", eb);
    out.exact("p_sharp_curvature_noise_theory", b.p_theory);
    out.exact("p_sharp_curvature_noise_chain_theory", b.p_chain);
    out.exact("p_sharp_curvature_noise_z_vs_chain", eb.z_score(b.p_chain));
    out.exact(
        "p_sharp_curvature_noise_rel_error",
        (eb.value / b.p_theory - 1.0).abs(),
    );
    out.exact("volume_factor", volume_factor);
    let rel_ci = |e: sgd_sim::stats::Estimate| {
        let [l, h] = e.ci95();
        let f = |x: f64| (x / volume_factor - 1.0).abs();
        let (fl, fh) = (f(l), f(h));
        // The interval of |x/v - 1| over x in [l, h].
        let low = if l <= volume_factor && volume_factor <= h {
            0.0
        } else {
            fl.min(fh)
        };
        [low, fl.max(fh)]
    };
    out.with_interval(
        "volume_factor_rel_error_isotropic",
        (ea.value / volume_factor - 1.0).abs(),
        rel_ci(ea),
    );
    out.with_interval(
        "volume_factor_rel_error_curvature_noise",
        (eb.value / volume_factor - 1.0).abs(),
        rel_ci(eb),
    );
    // Odds of the flat basin over the sharp one: c under isotropic noise.
    let odds = |e: sgd_sim::stats::Estimate| {
        let [l, h] = e.ci95();
        ((1.0 - e.value) / e.value, [(1.0 - h) / h, (1.0 - l) / l])
    };
    let (oa, oa_ci) = odds(ea);
    let (ob, ob_ci) = odds(eb);
    out.with_interval("flat_over_sharp_odds_isotropic", oa, oa_ci);
    out.with_interval("flat_over_sharp_odds_curvature_noise", ob, ob_ci);
    out.exact(
        "flat_over_sharp_odds_curvature_noise_theory",
        (1.0 - b.p_theory) / b.p_theory,
    );

    let mut occupancy = Table::new([
        "noise_model",
        "p_sharp",
        "p_sharp_lo",
        "p_sharp_hi",
        "p_sharp_se",
        "p_sharp_theory",
        "p_sharp_chain_theory",
        "volume_factor",
    ]);
    for (m, e) in models.iter().zip(&estimates) {
        let [l, h] = e.ci95();
        occupancy.push(row![
            m.name,
            e.value,
            l,
            h,
            e.se,
            m.p_theory,
            m.p_chain,
            volume_factor
        ]);
    }
    out.table("occupancy", occupancy);

    let centre = |k: usize| lo + (k as f64 + 0.5) * width;
    let theory_density = |m: &Model, w: f64| {
        // Density on the quadrature grid, read at the nearest node (h = 5e-4).
        let k = ((w - m.density.lo) / m.density.step).round() as usize;
        m.density.density[k.min(m.density.density.len() - 1)]
    };
    let mut density_table = Table::new([
        "w",
        "density_isotropic",
        "density_isotropic_theory",
        "density_curvature_noise",
        "density_curvature_noise_theory",
        "diffusion_curvature_noise",
    ]);
    for k in 0..p.bins {
        let w = centre(k);
        density_table.push(row![
            w,
            a.histogram[k],
            theory_density(a, w),
            b.histogram[k],
            theory_density(b, w),
            b.diffusion.at(w)
        ]);
    }
    out.table("density", density_table);

    let curve = |m: &Model| -> Vec<(f64, f64)> {
        (0..=400)
            .map(|k| {
                let w = lo + (hi - lo) * f64::from(k) / 400.0;
                (w, theory_density(m, w))
            })
            .collect()
    };
    let density_panel = Panel {
        title: format!("Stationary densities, c = {}, T = {t}", p.compression),
        x: Axis::linear("w"),
        y: Axis::linear("density"),
        series: vec![
            Series::from_xy(
                "isotropic: histogram",
                SeriesKind::Histogram,
                0,
                (0..p.bins).map(|k| (centre(k), a.histogram[k])),
            ),
            Series::from_xy("isotropic: Gibbs", SeriesKind::Theory, 0, curve(a)),
            Series::from_xy(
                "curvature noise: histogram",
                SeriesKind::Histogram,
                1,
                (0..p.bins).map(|k| (centre(k), b.histogram[k])),
            ),
            Series::from_xy(
                "curvature noise: Ito density",
                SeriesKind::Theory,
                1,
                curve(b),
            ),
        ],
        labels: Vec::new(),
    };
    let occupancy_panel = Panel {
        title: "Occupancy of the sharp basin".into(),
        x: Axis::linear("noise model").with_range(0.4, 2.6),
        y: Axis::linear("P(w > 0)").with_range(0.0, 0.45),
        series: vec![
            Series::from_xy(
                format!("volume factor 1/(1+c) = {:.3}", volume_factor),
                SeriesKind::Guide,
                6,
                [(0.5, volume_factor), (2.5, volume_factor)],
            ),
            Series::from_xy(
                "theory (Gibbs / Ito)",
                SeriesKind::Theory,
                2,
                [(0.75, a.p_theory), (1.25, a.p_theory)],
            ),
            Series::from_xy(
                "",
                SeriesKind::Theory,
                2,
                [(1.75, b.p_theory), (2.25, b.p_theory)],
            ),
            Series {
                label: "simulation (95% CI)".into(),
                kind: SeriesKind::Simulation,
                color: 1,
                points: estimates
                    .iter()
                    .enumerate()
                    .map(|(m, e)| Point::with_interval(m as f64 + 1.0, e.value, e.ci95()))
                    .collect(),
            },
        ],
        labels: vec![
            TextLabel {
                x: 0.7,
                y: 0.05,
                text: "1: isotropic".into(),
            },
            TextLabel {
                x: 1.55,
                y: 0.02,
                text: "2: noise 4x on sharp side".into(),
            },
        ],
    };
    out.figure(
        "occupancy",
        FigureSpec {
            panels: vec![density_panel, occupancy_panel],
        },
    );
    out.samples = 2 * chains as u64 * (p.steps + p.burn_in);
    Ok(out)
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
            noise_width: 0.0,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "noise_width");
        assert!(Params::default().validate().is_ok());
    }

    #[test]
    fn a_short_run_lands_near_its_exact_chain_law() {
        // 16 chains x 2e5 steps: P(sharp) has SE ~ 0.01 from the spread of chain means; the
        // isotropic estimate must lie within 5 SE of the exact chain law (a smoke test of the
        // pipeline; the claim's own run is 1000x longer).
        let p = Params {
            chains: 16,
            steps: 200_000,
            ..Params::default()
        };
        let o = run(&p, &RunContext::new("flat-basin-occupancy", 3)).unwrap();
        assert!(o.metrics["p_sharp_isotropic_z_vs_chain"].value.abs() < 5.0);
        assert!(o.metrics["p_sharp_curvature_noise_z_vs_chain"].value.abs() < 5.0);
    }
}
