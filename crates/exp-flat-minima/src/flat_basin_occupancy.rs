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
use claim_spec::figure::{
    Axis, Bins, CategoriesPanel, CategorySeries, FigureData, HistogramPanel, Line, Value,
};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::map_indexed;
use sgd_sim::potential::Potential;
use sgd_sim::rng::uniform01;
use sgd_sim::stats::{Estimate, mean_estimate};

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

/// The kind `flat-minima/flat-basin-occupancy`.
#[derive(Debug)]
pub struct FlatBasinOccupancy;

/// One noise model's measurement, with its theory.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// The model's name.
    pub name: &'static str,
    /// Its diffusion D(w).
    pub diffusion: Diffusion,
    /// Its continuum stationary density (Gibbs or Ito), by quadrature.
    pub density: DensityGrid,
    /// The continuum occupancy of w > 0 (computed).
    pub p_theory: f64,
    /// The occupancy of w > 0 under the exact law of the Euler chain at eta (computed).
    pub p_chain: f64,
    /// Per chain: the fraction of recorded states with w >= 0.
    pub per_chain: Vec<f64>,
    /// Pooled histogram counts per bin of `range`.
    pub counts: Vec<u64>,
    /// All states counted (inside and outside the range).
    pub total: u64,
}

impl Model {
    fn estimate(&self) -> Estimate {
        mean_estimate(&self.per_chain)
    }

    fn histogram(&self, width: f64) -> Vec<f64> {
        self.counts
            .iter()
            .map(|&c| c as f64 / self.total as f64 / width)
            .collect()
    }

    /// The theory density on the quadrature grid, read at the nearest node (h = 5e-4).
    fn theory_density(&self, w: f64) -> f64 {
        let d = &self.density;
        let k = ((w - d.lo) / d.step).round() as usize;
        d.density[k.min(d.density.len() - 1)]
    }
}

/// What the measure step produced: the isotropic model, then the curvature-dependent one.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The two noise models.
    pub models: Vec<Model>,
    /// Recorded plus burn-in steps of all chains.
    pub steps: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.steps
    }
}

/// The two noise models of the claim.
fn diffusions(p: &Params) -> [(&'static str, Diffusion); 2] {
    let t = p.temperature;
    [
        ("isotropic", Diffusion::Constant { temperature: t }),
        (
            "curvature-dependent",
            Diffusion::Logistic {
                temperature: t,
                gain: p.noise_gain,
                width: p.noise_width,
            },
        ),
    ]
}

/// Runs one group of up to four chains of one noise model.
fn run_chain_group(
    p: &Params,
    potential: &CompressedDoubleWell,
    diffusion: Diffusion,
    w: &mut [f64],
    rngs: &mut [sgd_sim::rng::Stream],
    bins: &mut [BinCounts],
) -> Result<(), crate::chains::ChainDiverged> {
    let eta = p.eta;
    match diffusion {
        Diffusion::Constant { temperature } => {
            let noise = (2.0 * eta * temperature).sqrt();
            run_group(w, rngs, bins, p.burn_in, p.steps, 1e3, |w, xi| {
                w - eta * potential.derivative(w) + noise * xi
            })
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
            run_group(w, rngs, bins, p.burn_in, p.steps, 1e3, |w, xi| {
                w - eta * potential.derivative(w)
                    + (base + raise / (1.0 + sgd_sim::math::exp(w * rate))).sqrt() * xi
            })
        }
    }
}

/// Runs every chain of both models: per model, the chains' counts in index order.
fn run_chains(
    p: &Params,
    ctx: &RunContext,
    densities: &[DensityGrid; 2],
    chains: usize,
) -> Result<Vec<Vec<BinCounts>>, ExperimentError> {
    let potential = CompressedDoubleWell {
        compression: p.compression,
    };
    let models = diffusions(p);
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
        ctx.check_cancelled()?;
        let (m, first, size) = tasks[task];
        let mut rngs: Vec<_> = (first..first + size)
            .map(|c| streams.stream("chain", (m * chains + c) as u64))
            .collect();
        let mut w: Vec<f64> = rngs
            .iter_mut()
            .map(|r| densities[m].inverse_cdf(uniform01(r)))
            .collect();
        let mut bins: Vec<BinCounts> = (0..size).map(|_| BinCounts::new(lo, hi, p.bins)).collect();
        run_chain_group(p, &potential, models[m].1, &mut w, &mut rngs, &mut bins).map_err(|d| {
            ExperimentError::Diverged {
                step: d.step,
                reason: format!(
                    "{} chain {} reached w = {:e}",
                    models[m].0,
                    first + d.chain,
                    d.state
                ),
            }
        })?;
        Ok::<_, ExperimentError>(bins)
    });
    ctx.check_cancelled()?;
    let mut per_model: Vec<Vec<BinCounts>> =
        vec![Vec::with_capacity(chains), Vec::with_capacity(chains)];
    for (task, result) in results.into_iter().enumerate() {
        per_model[tasks[task].0].extend(result?);
    }
    Ok(per_model)
}

/// The interval of |x/v - 1| over x in the estimate's interval.
fn rel_error_ci(e: Estimate, v: f64) -> [f64; 2] {
    let [l, h] = e.ci95();
    let f = |x: f64| (x / v - 1.0).abs();
    let (fl, fh) = (f(l), f(h));
    let low = if l <= v && v <= h { 0.0 } else { fl.min(fh) };
    [low, fl.max(fh)]
}

/// Odds of the flat basin over the sharp one, with the interval mapped from P's.
fn odds(e: Estimate) -> (f64, [f64; 2]) {
    let [l, h] = e.ci95();
    ((1.0 - e.value) / e.value, [(1.0 - h) / h, (1.0 - l) / l])
}

/// The occupancy metrics of both models.
fn occupancy_metrics(
    p: &Params,
    a: &Model,
    b: &Model,
    out: &mut Metrics,
) -> Result<(), ExperimentError> {
    let volume_factor = 1.0 / (1.0 + p.compression);
    let (ea, eb) = (a.estimate(), b.estimate());
    out.estimate("p_sharp_isotropic", ea);
    out.computed("p_sharp_isotropic_theory", a.p_theory);
    out.computed("p_sharp_isotropic_quadrature", a.density.mass(0.0, DOMAIN)?);
    out.computed("p_sharp_isotropic_chain_theory", a.p_chain);
    out.measured("p_sharp_isotropic_z_vs_chain", ea.z_score(a.p_chain));
    out.measured(
        "p_sharp_isotropic_error_over_allowance",
        (ea.value - a.p_theory).abs() / (4.0 * ea.se + 0.005),
    );
    out.estimate("p_sharp_curvature_noise", eb);
    out.computed("p_sharp_curvature_noise_theory", b.p_theory);
    out.computed("p_sharp_curvature_noise_chain_theory", b.p_chain);
    out.measured("p_sharp_curvature_noise_z_vs_chain", eb.z_score(b.p_chain));
    out.measured(
        "p_sharp_curvature_noise_rel_error",
        (eb.value / b.p_theory - 1.0).abs(),
    );
    out.computed("volume_factor", volume_factor);
    out.estimate_with_interval(
        "volume_factor_rel_error_isotropic",
        (ea.value / volume_factor - 1.0).abs(),
        rel_error_ci(ea, volume_factor),
    );
    out.estimate_with_interval(
        "volume_factor_rel_error_curvature_noise",
        (eb.value / volume_factor - 1.0).abs(),
        rel_error_ci(eb, volume_factor),
    );
    let (oa, oa_ci) = odds(ea);
    let (ob, ob_ci) = odds(eb);
    out.estimate_with_interval("flat_over_sharp_odds_isotropic", oa, oa_ci);
    out.estimate_with_interval("flat_over_sharp_odds_curvature_noise", ob, ob_ci);
    out.computed(
        "flat_over_sharp_odds_curvature_noise_theory",
        (1.0 - b.p_theory) / b.p_theory,
    );
    Ok(())
}

/// The occupancy table: simulation and theory per model.
fn occupancy_table(p: &Params, models: &[Model]) -> Table {
    let volume_factor = 1.0 / (1.0 + p.compression);
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
    for m in models {
        let e = m.estimate();
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
    occupancy
}

/// The density table: histograms and theory densities at the bin centres.
fn density_table(p: &Params, a: &Model, b: &Model) -> Table {
    let [lo, hi] = p.range;
    let width = (hi - lo) / p.bins as f64;
    let (ha, hb) = (a.histogram(width), b.histogram(width));
    let mut table = Table::new([
        "w",
        "density_isotropic",
        "density_isotropic_theory",
        "density_curvature_noise",
        "density_curvature_noise_theory",
        "diffusion_curvature_noise",
    ]);
    for k in 0..p.bins {
        let w = lo + (k as f64 + 0.5) * width;
        table.push(row![
            w,
            ha[k],
            a.theory_density(w),
            hb[k],
            b.theory_density(w),
            b.diffusion.at(w)
        ]);
    }
    table
}

impl Experiment for FlatBasinOccupancy {
    const KIND: &'static str = "flat-minima/flat-basin-occupancy";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let potential = CompressedDoubleWell {
            compression: p.compression,
        };
        let models = diffusions(p);
        let densities = [
            DensityGrid::gibbs(
                &potential,
                p.temperature,
                -DOMAIN,
                DOMAIN,
                QUADRATURE_INTERVALS,
            )?,
            DensityGrid::ito(
                &potential,
                &models[1].1,
                -DOMAIN,
                DOMAIN,
                QUADRATURE_INTERVALS,
            )?,
        ];
        let laws = map_indexed(2, |m| {
            EulerChainLaw::solve_with_step(&potential, &models[m].1, p.eta, DOMAIN, KINK_STEP)
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let chains = ctx.scaled(p.chains).max(4);
        let per_model = run_chains(p, ctx, &densities, chains)?;
        let mut out = Vec::with_capacity(2);
        for (m, (density, counts)) in densities.into_iter().zip(per_model).enumerate() {
            let p_theory = if m == 0 {
                1.0 / (1.0 + p.compression)
            } else {
                density.mass(0.0, DOMAIN)?
            };
            let per_chain = counts
                .iter()
                .map(|b| b.fraction_at_or_above(0.0))
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| {
                    ExperimentError::InvalidParams("0 must be a bin edge of `range`".into())
                })?;
            out.push(Model {
                name: models[m].0,
                diffusion: models[m].1,
                density,
                p_theory,
                p_chain: laws[m].mass_above(0.0),
                per_chain,
                counts: (0..p.bins)
                    .map(|k| counts.iter().map(|b| b.counts[k]).sum())
                    .collect(),
                total: counts.iter().map(BinCounts::total).sum(),
            });
        }
        Ok(Measured {
            models: out,
            steps: 2 * chains as u64 * (p.steps + p.burn_in),
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let (a, b) = (&m.models[0], &m.models[1]);
        let mut out = Metrics::new();
        occupancy_metrics(p, a, b, &mut out)?;
        out.table("occupancy", occupancy_table(p, &m.models));
        out.table("density", density_table(p, a, b));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("occupancy", occupancy_figure(p, m));
        Ok(figures)
    }
}

/// Left: the histograms against their stationary densities; right: the sharp basin's occupancy.
fn occupancy_figure(p: &Params, m: &Measured) -> FigureData {
    let [lo, hi] = p.range;
    let width = (hi - lo) / p.bins as f64;
    let (a, b) = (&m.models[0], &m.models[1]);
    let curve = |model: &Model| -> Vec<(f64, f64)> {
        (0..=400)
            .map(|k| {
                let w = lo + (hi - lo) * f64::from(k) / 400.0;
                (w, model.theory_density(w))
            })
            .collect()
    };
    let bins = |label: &str, group: usize, model: &Model| Bins {
        label: label.into(),
        group,
        lo,
        width,
        values: model.histogram(width),
    };
    let density = HistogramPanel {
        title: format!(
            "Stationary densities, c = {}, T = {}",
            p.compression, p.temperature
        ),
        x: Axis::linear("w"),
        y: Axis::linear("density"),
        histograms: vec![
            bins("isotropic: histogram", 0, a),
            bins("curvature noise: histogram", 1, b),
        ],
        densities: vec![
            Line::new("isotropic: Gibbs", 0, curve(a)),
            Line::new("curvature noise: Ito density", 1, curve(b)),
        ],
    };
    let volume_factor = 1.0 / (1.0 + p.compression);
    let values = |f: &dyn Fn(&Model) -> Value| m.models.iter().map(|x| Some(f(x))).collect();
    let occupancy = CategoriesPanel {
        title: "Occupancy of the sharp basin".into(),
        category_label: "noise model".into(),
        categories: vec!["isotropic".into(), "larger on the sharp side".into()],
        y: Axis::proportion("P(w > 0)"),
        measured: vec![CategorySeries::new(
            "simulation (95% CI)",
            0,
            values(&|x| {
                let e = x.estimate();
                Value::with_ci(e.value, e.ci95())
            }),
        )],
        theory: vec![
            CategorySeries::new(
                "theory (Gibbs / Ito)",
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
        // 8 chains x 5e4 steps: P(sharp) has SE ~ 0.02 from the spread of chain means; the
        // estimates must lie within 5 SE of the exact chain law (a smoke test of the pipeline).
        let p = Params {
            chains: 8,
            steps: 50_000,
            burn_in: 1000,
            ..Params::default()
        };
        let m =
            FlatBasinOccupancy::measure(&p, &RunContext::new("flat-basin-occupancy", 3)).unwrap();
        let o = FlatBasinOccupancy::metrics(&p, &m).unwrap();
        assert!(o.value("p_sharp_isotropic_z_vs_chain").unwrap().abs() < 5.0);
        assert!(o.value("p_sharp_curvature_noise_z_vs_chain").unwrap().abs() < 5.0);
    }

    /// A hand-made measurement on a coarse grid: chains at exactly the volume factor.
    fn hand_made(p: &Params) -> Measured {
        let potential = CompressedDoubleWell {
            compression: p.compression,
        };
        let density = DensityGrid::gibbs(&potential, p.temperature, -DOMAIN, DOMAIN, 600).unwrap();
        let model = |name, diffusion, value: f64| Model {
            name,
            diffusion,
            density: density.clone(),
            p_theory: value,
            p_chain: value,
            per_chain: vec![value - 0.01, value, value + 0.01],
            counts: vec![1; p.bins],
            total: 2 * p.bins as u64,
        };
        let [(na, da), (nb, db)] = diffusions(p);
        Measured {
            models: vec![model(na, da, 1.0 / 3.0), model(nb, db, 0.05)],
            steps: 10,
        }
    }

    #[test]
    fn metrics_and_figures_are_functions_of_the_measurement() {
        let p = Params::default();
        let m = hand_made(&p);
        let o = FlatBasinOccupancy::metrics(&p, &m).unwrap();
        // Chain means centred on the volume factor: no error, odds c = 2.
        assert!(o.value("volume_factor_rel_error_isotropic").unwrap().abs() < 1e-12);
        assert!((o.value("flat_over_sharp_odds_isotropic").unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(o.value("p_sharp_isotropic_z_vs_chain"), Some(0.0));
        // 0.05 against 1/3: 85% below the volume factor.
        let rel = o.value("volume_factor_rel_error_curvature_noise").unwrap();
        assert!((rel - 0.85).abs() < 1e-12, "{rel}");
        assert_eq!(o.values["volume_factor"].basis, claim_spec::Basis::Computed);
        assert_eq!(o.tables["density"].rows.len(), p.bins);
        let f = FlatBasinOccupancy::figures(&p, &m).unwrap().into_map();
        assert_eq!(f["occupancy"].panels.len(), 2);
    }
}
