//! Claim `sgd-vs-gd-cost`: cheap O(b) iterations make SGD cheaper overall than O(N) full-batch steps
//! on large data.
//!
//! Least squares with label noise: inputs x ~ N(0, diag(1/j)), j = 1..d, teacher w* ~ N(0, I/d),
//! labels y = x . w* + sigma eps, N examples. The target is a population loss 10% above the noise
//! floor sigma^2/2, i.e. an excess (1/2)(w - w*)^T Sigma (w - w*) of 0.1 sigma^2 / 2. The cost is
//! the number of per-example gradient evaluations until the expected excess first reaches it:
//!
//! - GD on the empirical loss (gradient H_N w - b_N, with H_N = X^T X / N and b_N = X^T y / N,
//!   which equals the mean of the N per-example gradients), with the constant step, from a grid,
//!   that reaches the target first; each step costs N;
//! - SGD with one example per step drawn with replacement and eta_t = a / (t + t0), a = 1/mu;
//!   each step costs 1.
//!
//! Steps to target are interpolated log-linearly between the two iterates that bracket the target,
//! so costs vary continuously with the data. Large-N theory (Bottou and Bousquet 2008): GD needs
//! O(kappa log(1/eps)) steps whatever N, so its cost grows as N; SGD's steps depend on the noise
//! and the target, not on N. Their N -> infinity values are drawn as guides: GD on the population
//! loss, and the streaming second-moment recursion ([`crate::recursions::StreamingLeastSquares`]).

use crate::recursions::StreamingLeastSquares;
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use ndarray::Array2;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::data::{LeastSquaresSpec, generate_least_squares, harmonic_spectrum};
use sgd_sim::linalg::symmetric_eigen;
use sgd_sim::math::ln;
use sgd_sim::parallel::map_indexed;
use sgd_sim::rng::{Streams, uniform_index};
use sgd_sim::stats::{Estimate, mean_estimate, t_quantile_975, weighted_linear_fit};

/// Parameters of `convergence-rates/sgd-vs-gd-cost`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Dimension d.
    pub dim: usize,
    /// Data set sizes N.
    pub sample_sizes: Vec<usize>,
    /// Standard deviation sigma of the label noise.
    pub label_noise: f64,
    /// The target: population loss at most (1 + this) times the noise floor sigma^2/2.
    pub target_above_floor: f64,
    /// Independent data sets per N.
    pub data_sets: usize,
    /// SGD runs per data set.
    pub sgd_runs: usize,
    /// Offset t0 of SGD's eta_t = a / (t + t0), a = 1/mu.
    pub sgd_t0: f64,
    /// SGD steps per run (the target must be reached before).
    pub sgd_max_steps: usize,
    /// GD step sizes tried: eta = k / (steps + 1) * 2 / lambda_max for k = 1..=gd_step_grid.
    pub gd_step_grid: usize,
    /// GD steps at most per step size.
    pub gd_max_steps: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            dim: 20,
            sample_sizes: vec![1000, 10_000, 100_000],
            label_noise: 0.1,
            target_above_floor: 0.1,
            data_sets: 8,
            sgd_runs: 16,
            sgd_t0: 120.0,
            sgd_max_steps: 4000,
            gd_step_grid: 100,
            gd_max_steps: 2000,
        }
    }
}

impl Params {
    fn spectrum(&self) -> Vec<f64> {
        harmonic_spectrum(self.dim)
    }

    fn target_excess(&self) -> f64 {
        self.target_above_floor * self.label_noise * self.label_noise / 2.0
    }

    fn sgd_step(&self, t: usize) -> f64 {
        // a = 1/mu with mu = 1/d, the smallest eigenvalue of the harmonic spectrum.
        self.dim as f64 / (t as f64 + self.sgd_t0)
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("dim", self.dim as u64, 1)?;
        if self.sample_sizes.len() < 2 {
            return Err(ParamError::new(
                "sample_sizes",
                "needs at least two sizes for a slope",
            ));
        }
        for (i, &n) in self.sample_sizes.iter().enumerate() {
            if n < 2 * self.dim || n > 10_000_000 {
                return Err(ParamError::new(
                    format!("sample_sizes[{i}]"),
                    format!("must be between 2 d = {} and 1e7", 2 * self.dim),
                ));
            }
        }
        if self.sample_sizes.windows(2).any(|w| w[1] <= w[0]) {
            return Err(ParamError::new("sample_sizes", "must be increasing"));
        }
        ParamError::positive("label_noise", self.label_noise)?;
        ParamError::positive("target_above_floor", self.target_above_floor)?;
        ParamError::at_least("data_sets", self.data_sets as u64, 2)?;
        ParamError::at_least("sgd_runs", self.sgd_runs as u64, 1)?;
        ParamError::positive("sgd_t0", self.sgd_t0)?;
        // First SGD step a/t0 = d/t0 must be mean-square stable: eta (2 lambda_max + tr) <= 1.
        let trace: f64 = self.spectrum().iter().sum();
        if self.sgd_step(0) * (2.0 + trace) > 1.0 {
            return Err(ParamError::new(
                "sgd_t0",
                "the first SGD step d/t0 is too large for mean-square stability",
            ));
        }
        ParamError::at_least("sgd_max_steps", self.sgd_max_steps as u64, 10)?;
        ParamError::at_least("gd_step_grid", self.gd_step_grid as u64, 2)?;
        ParamError::at_least("gd_max_steps", self.gd_max_steps as u64, 2)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let d = self.dim as f64;
        self.sample_sizes
            .iter()
            .map(|&n| {
                let n = n as f64;
                self.data_sets as f64
                    * (n * d * (d + 3.0) / 2.0
                        + (self.sgd_runs * self.sgd_max_steps) as f64 * 3.0 * d
                        + (self.gd_step_grid * self.gd_max_steps) as f64 * d * d / 10.0)
            })
            .sum()
    }
}

/// The fractional step at which a decreasing sequence first reaches `target`: log-linear
/// interpolation between the bracketing steps; `None` if it never does.
fn crossing(values: impl IntoIterator<Item = f64>, target: f64) -> Option<f64> {
    let mut previous: Option<f64> = None;
    for (k, v) in values.into_iter().enumerate() {
        if v <= target {
            return Some(match previous {
                Some(prev) if prev > target && v > 0.0 => {
                    (k - 1) as f64 + ln(prev / target) / ln(prev / v)
                }
                _ => k as f64,
            });
        }
        previous = Some(v);
    }
    None
}

/// The population excess (1/2) sum_j lambda_j (w_j - w*_j)^2.
fn excess(spectrum: &[f64], w: &[f64], teacher: &[f64]) -> f64 {
    0.5 * spectrum
        .iter()
        .zip(w)
        .zip(teacher)
        .map(|((l, a), b)| l * (a - b) * (a - b))
        .sum::<f64>()
}

/// GD's fewest steps to the target over the step grid, from w = 0, with its step size.
/// `hessian` is d x d row-major; the gradient is H w - rhs.
fn gd_best_steps(
    hessian: &[f64],
    rhs: &[f64],
    lambda_max: f64,
    excess_of: impl Fn(&[f64]) -> f64,
    target: f64,
    grid: usize,
    max_steps: usize,
) -> Option<(f64, f64)> {
    let d = rhs.len();
    let mut best: Option<(f64, f64)> = None;
    let mut w = vec![0.0; d];
    let mut g = vec![0.0; d];
    for k in 1..=grid {
        let eta = 2.0 * k as f64 / ((grid + 1) as f64 * lambda_max);
        w.iter_mut().for_each(|v| *v = 0.0);
        let mut trace = Vec::with_capacity(64);
        trace.push(excess_of(&w));
        while trace.len() <= max_steps && trace[trace.len() - 1] > target {
            if let Some((steps, _)) = best
                && (trace.len() as f64) > steps + 1.0
            {
                break;
            }
            for i in 0..d {
                g[i] = hessian[i * d..(i + 1) * d]
                    .iter()
                    .zip(&w)
                    .map(|(h, v)| h * v)
                    .sum::<f64>()
                    - rhs[i];
            }
            for i in 0..d {
                w[i] -= eta * g[i];
            }
            trace.push(excess_of(&w));
        }
        if let Some(steps) = crossing(trace.iter().copied(), target)
            && best.is_none_or(|(b, _)| steps < b)
        {
            best = Some((steps, eta));
        }
    }
    best
}

/// What one data set gives: GD's steps and step size, and the mean SGD excess curve.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSetResult {
    /// GD's fewest (fractional) steps to the target over the step grid.
    pub gd_steps: f64,
    /// The step size that achieved them.
    pub gd_eta: f64,
    /// The population excess after each SGD step, averaged over the data set's SGD runs.
    pub sgd_mean_curve: Vec<f64>,
}

fn one_data_set(
    p: &Params,
    n: usize,
    streams: &Streams,
    index: u64,
    runs: usize,
) -> Result<DataSetResult, ExperimentError> {
    let d = p.dim;
    let spectrum = p.spectrum();
    let spec = LeastSquaresSpec {
        samples: n,
        spectrum: spectrum.clone(),
        label_noise: p.label_noise,
    };
    let (ls, teacher) = generate_least_squares(&spec, &mut streams.stream("data", index))?;
    let x = ls
        .inputs
        .as_slice()
        .ok_or_else(|| ExperimentError::Numerical("inputs are not contiguous".into()))?;
    let y = ls
        .targets
        .as_slice()
        .ok_or_else(|| ExperimentError::Numerical("targets are not contiguous".into()))?;
    let target = p.target_excess();

    // Sufficient statistics of the empirical loss, summed in example order.
    let mut hessian = vec![0.0; d * d];
    let mut rhs = vec![0.0; d];
    for i in 0..n {
        let row = &x[i * d..(i + 1) * d];
        for a in 0..d {
            rhs[a] += row[a] * y[i];
            for b in a..d {
                hessian[a * d + b] += row[a] * row[b];
            }
        }
    }
    for a in 0..d {
        rhs[a] /= n as f64;
        for b in a..d {
            hessian[a * d + b] /= n as f64;
            hessian[b * d + a] = hessian[a * d + b];
        }
    }
    let matrix = Array2::from_shape_vec((d, d), hessian.clone())
        .map_err(|e| ExperimentError::Numerical(e.to_string()))?;
    let (eigenvalues, _) = symmetric_eigen(&matrix)?;
    let lambda_max = eigenvalues[d - 1];
    let (gd_steps, gd_eta) = gd_best_steps(
        &hessian,
        &rhs,
        lambda_max,
        |w| excess(&spectrum, w, &teacher),
        target,
        p.gd_step_grid,
        p.gd_max_steps,
    )
    .ok_or_else(|| {
        ExperimentError::Numerical(format!(
            "GD did not reach the target within {} steps at N = {n}",
            p.gd_max_steps
        ))
    })?;

    // SGD runs: the mean excess after each step.
    let mut curve = vec![0.0; p.sgd_max_steps + 1];
    let mut w = vec![0.0; d];
    for r in 0..runs {
        let mut rng = streams.stream("sgd", index * runs as u64 + r as u64);
        w.iter_mut().for_each(|v| *v = 0.0);
        curve[0] += excess(&spectrum, &w, &teacher);
        for t in 0..p.sgd_max_steps {
            let i = uniform_index(&mut rng, n);
            let row = &x[i * d..(i + 1) * d];
            let residual = row.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() - y[i];
            let eta = p.sgd_step(t);
            for (wj, xj) in w.iter_mut().zip(row) {
                *wj -= eta * residual * xj;
            }
            curve[t + 1] += excess(&spectrum, &w, &teacher);
        }
        if w.iter().any(|v| !v.is_finite()) {
            return Err(ExperimentError::Diverged {
                step: p.sgd_max_steps as u64,
                reason: format!("an SGD run at N = {n} left the finite numbers"),
            });
        }
    }
    curve.iter_mut().for_each(|v| *v /= runs as f64);
    Ok(DataSetResult {
        gd_steps,
        gd_eta,
        sgd_mean_curve: curve,
    })
}

/// The crossing step of the mean of `curves` with a delta-method standard error
/// SE(mean at the crossing) / |slope of the mean there|, the SE from the spread of the curves.
fn crossing_estimate(curves: &[&[f64]], target: f64) -> Option<Estimate> {
    let k = curves.len();
    let len = curves.iter().map(|c| c.len()).min()?;
    let mean: Vec<f64> = (0..len)
        .map(|t| curves.iter().map(|c| c[t]).sum::<f64>() / k as f64)
        .collect();
    let t_hat = crossing(mean.iter().copied(), target)?;
    let t0 = t_hat.round() as usize;
    let at: Vec<f64> = curves.iter().map(|c| c[t0.min(len - 1)]).collect();
    let se_mean = mean_estimate(&at).se;
    let half = ((t_hat / 10.0).round() as usize).max(1);
    let lo = t0.saturating_sub(half);
    let hi = (t0 + half).min(len - 1);
    let derivative = (mean[hi] - mean[lo]) / (hi - lo) as f64;
    if derivative >= 0.0 || !se_mean.is_finite() {
        return None;
    }
    Some(Estimate {
        value: t_hat,
        se: se_mean / derivative.abs(),
        n: k,
    })
}

/// The kind `convergence-rates/sgd-vs-gd-cost`.
#[derive(Debug)]
pub struct SgdVsGdCost;

/// What the measure step produced: one result per data set, size outer.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Data sets per N (after `--scale`).
    pub data_sets: usize,
    /// SGD runs per data set (after `--scale`).
    pub runs: usize,
    /// The data sets' results, `data_sets` per N in the order of `sample_sizes`.
    pub results: Vec<DataSetResult>,
}

impl Measured {
    fn block(&self, ni: usize) -> &[DataSetResult] {
        &self.results[ni * self.data_sets..(ni + 1) * self.data_sets]
    }
}

/// The N -> infinity references: GD's steps on the population loss with E[w* w*^T] = I/d, over
/// the same step grid, and the crossing of SGD's streaming second-moment recursion.
fn references(p: &Params) -> (f64, Option<f64>) {
    let spectrum = p.spectrum();
    let d = p.dim;
    let initial = 1.0 / d as f64;
    let target = p.target_excess();
    let mut population_gd = f64::INFINITY;
    for k in 1..=p.gd_step_grid {
        let eta = 2.0 * k as f64 / ((p.gd_step_grid + 1) as f64 * spectrum[0]);
        let curve = (0..=p.gd_max_steps).map(|s| {
            0.5 * spectrum
                .iter()
                .map(|l| l * initial * sgd_sim::math::powi(1.0 - eta * l, 2 * s as i32))
                .sum::<f64>()
        });
        if let Some(s) = crossing(curve, target) {
            population_gd = population_gd.min(s);
        }
    }
    let streaming = StreamingLeastSquares {
        curvatures: spectrum,
        label_noise_variance: p.label_noise * p.label_noise,
    };
    let mut m = vec![initial; d];
    let mut recursion_curve = vec![streaming.excess_loss(&m)];
    for t in 0..p.sgd_max_steps {
        streaming.step(&mut m, p.sgd_step(t));
        recursion_curve.push(streaming.excess_loss(&m));
    }
    (population_gd, crossing(recursion_curve, target))
}

/// Per N: GD's steps (mean over data sets), its cost N x steps, and SGD's crossing step, which is
/// also its cost.
struct SizePoint {
    n: f64,
    gd: Estimate,
    gd_cost: Estimate,
    gd_eta_mean: f64,
    sgd: Estimate,
}

fn size_points(p: &Params, m: &Measured) -> Result<Vec<SizePoint>, ExperimentError> {
    let target = p.target_excess();
    p.sample_sizes
        .iter()
        .enumerate()
        .map(|(ni, &n)| {
            let block = m.block(ni);
            let gd = mean_estimate(&block.iter().map(|r| r.gd_steps).collect::<Vec<_>>());
            let gd_eta_mean = block.iter().map(|r| r.gd_eta).sum::<f64>() / m.data_sets as f64;
            let curves: Vec<&[f64]> = block.iter().map(|r| r.sgd_mean_curve.as_slice()).collect();
            let sgd = crossing_estimate(&curves, target).ok_or_else(|| {
                ExperimentError::Numerical(format!(
                    "the mean SGD run did not reach the target within {} steps at N = {n}",
                    p.sgd_max_steps
                ))
            })?;
            let nf = n as f64;
            Ok(SizePoint {
                n: nf,
                gd,
                gd_cost: gd.scaled(nf),
                gd_eta_mean,
                sgd,
            })
        })
        .collect()
}

fn cost_table(points: &[SizePoint]) -> Table {
    let mut table = Table::new([
        "n",
        "gd_steps",
        "gd_steps_se",
        "gd_cost",
        "gd_cost_lo",
        "gd_cost_hi",
        "gd_best_eta_mean",
        "sgd_steps",
        "sgd_steps_se",
        "sgd_cost",
        "sgd_cost_lo",
        "sgd_cost_hi",
        "gd_over_sgd",
    ]);
    for s in points {
        let [glo, ghi] = s.gd_cost.ci95();
        let [slo, shi] = s.sgd.ci95();
        table.push(row![
            s.n,
            s.gd.value,
            s.gd.se,
            s.gd_cost.value,
            glo,
            ghi,
            s.gd_eta_mean,
            s.sgd.value,
            s.sgd.se,
            s.sgd.value,
            slo,
            shi,
            s.gd_cost.value / s.sgd.value
        ]);
    }
    table
}

impl Experiment for SgdVsGdCost {
    const KIND: &'static str = "convergence-rates/sgd-vs-gd-cost";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let data_sets = ctx.scaled(p.data_sets).max(2);
        let runs = ctx.scaled(p.sgd_runs);
        // One task per data set; each draws its data and its SGD runs from its own streams.
        let results = map_indexed(p.sample_sizes.len() * data_sets, |i| {
            ctx.check_cancelled()?;
            one_data_set(p, p.sample_sizes[i / data_sets], &streams, i as u64, runs)
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        Ok(Measured {
            data_sets,
            runs,
            results,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let points = size_points(p, m)?;
        let (mut x, mut gd_y, mut gd_s, mut sgd_y, mut sgd_s) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for s in &points {
            x.push(ln(s.n));
            gd_y.push(ln(s.gd_cost.value));
            gd_s.push((s.gd.se / s.gd.value).max(f64::MIN_POSITIVE));
            sgd_y.push(ln(s.sgd.value));
            sgd_s.push((s.sgd.se / s.sgd.value).max(f64::MIN_POSITIVE));
        }
        let mut out = Metrics::new();
        // The fits' SEs come from per-point SEs estimated from `data_sets` data sets each: use
        // Student's t with data_sets - 1 degrees of freedom for their intervals.
        let with_dof = |e: Estimate| Estimate {
            n: m.data_sets,
            ..e
        };
        let gd_fit = weighted_linear_fit(&x, &gd_y, &gd_s).slope_estimate();
        let sgd_fit = weighted_linear_fit(&x, &sgd_y, &sgd_s).slope_estimate();
        out.estimate("gd_cost_slope", with_dof(gd_fit));
        out.estimate("sgd_cost_slope", with_dof(sgd_fit));
        if let Some(s) = points.last() {
            // Ratio of independent estimates: relative SEs add in quadrature.
            let ratio = s.gd_cost.value / s.sgd.value;
            let (rg, rs) = (s.gd.se / s.gd.value, s.sgd.se / s.sgd.value);
            let rel = (rg * rg + rs * rs).sqrt();
            out.estimate(
                "gd_over_sgd_cost_ratio_at_max_n",
                Estimate {
                    value: ratio,
                    se: ratio * rel,
                    n: m.data_sets,
                },
            );
        }
        let (population_gd, streaming_sgd) = references(p);
        out.computed("gd_steps_population", population_gd);
        if let Some(s) = streaming_sgd {
            out.computed("sgd_steps_streaming_recursion", s);
        }
        out.computed("t_quantile_used", t_quantile_975(m.data_sets));
        out.table("cost", cost_table(&points));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let points = size_points(p, m)?;
        let (population_gd, streaming_sgd) = references(p);
        let gd_points = points
            .iter()
            .map(|s| MeasuredPoint::with_ci(s.n, s.gd_cost.value, s.gd_cost.ci95()))
            .collect();
        let sgd_points = points
            .iter()
            .map(|s| {
                let [lo, hi] = s.sgd.ci95();
                MeasuredPoint::with_ci(s.n, s.sgd.value, [lo.max(s.sgd.value * 1e-3), hi])
            })
            .collect();
        let n_lo = p.sample_sizes[0] as f64;
        let n_hi = p.sample_sizes[p.sample_sizes.len() - 1] as f64;
        let mut panel = CurvesPanel::new(
            "Gradient evaluations to the target loss (dashed: N → ∞)",
            Axis::log("data set size N"),
            Axis::log("per-example gradients"),
        )
        .measured(Points::new("GD (best constant step)", 1, gd_points))
        .measured(Points::new("SGD (η_t = a/(t + t₀))", 0, sgd_points));
        if population_gd.is_finite() {
            panel = panel.guide(Line::new(
                "",
                1,
                [n_lo, n_hi].into_iter().map(|n| (n, n * population_gd)),
            ));
        }
        if let Some(s) = streaming_sgd {
            panel = panel.guide(Line::new("", 0, [n_lo, n_hi].into_iter().map(|n| (n, s))));
        }
        let mut figures = Figures::new();
        figures.add("cost", FigureData::single(panel));
        Ok(figures)
    }
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.results
            .iter()
            .map(|r| (self.runs * (r.sgd_mean_curve.len() - 1)) as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_interpolates_log_linearly() {
        assert_eq!(crossing([4.0, 2.0, 1.0], 1.0), Some(2.0));
        let c = crossing([4.0, 1.0], 2.0).unwrap();
        assert!((c - 0.5).abs() < 1e-15);
        assert_eq!(crossing([4.0, 3.0], 1.0), None);
        assert_eq!(crossing([0.5, 0.1], 1.0), Some(0.0));
    }

    #[test]
    fn gd_on_a_diagonal_problem_finds_the_best_step() {
        // H = diag(1, 0.5), optimum (1, 1) reached from 0; the excess is the empirical loss
        // itself. With eta = 1 the first coordinate is solved in one step and the second halves
        // per step; the grid contains eta = 2k/((grid+1) lambda_max), including 1 for grid = 99.
        let hessian = [1.0, 0.0, 0.0, 0.5];
        let rhs = [1.0, 0.5];
        let excess_of =
            |w: &[f64]| 0.5 * ((w[0] - 1.0) * (w[0] - 1.0) + 0.5 * (w[1] - 1.0) * (w[1] - 1.0));
        let (steps, eta) = gd_best_steps(&hessian, &rhs, 1.0, excess_of, 1e-6, 99, 1000).unwrap();
        assert!(eta > 1.0, "{eta}");
        assert!(steps < 12.0, "{steps}");
    }

    /// A hand-made measurement: per N, two data sets with GD at 14 and 16 steps and SGD curves
    /// 0.09 x 0.99^t scaled by 0.95 and 1.05, the same at every N.
    fn hand_made() -> (Params, Measured) {
        let p = Params::default();
        let mut results = Vec::new();
        for _ in &p.sample_sizes {
            for (steps, scale) in [(14.0, 0.95), (16.0, 1.05)] {
                results.push(DataSetResult {
                    gd_steps: steps,
                    gd_eta: 1.0,
                    sgd_mean_curve: (0..=p.sgd_max_steps)
                        .map(|t| scale * 0.09 * sgd_sim::math::powi(0.99, t as i32))
                        .collect(),
                });
            }
        }
        let m = Measured {
            data_sets: 2,
            runs: 3,
            results,
        };
        (p, m)
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let (p, m) = hand_made();
        let out = SgdVsGdCost::metrics(&p, &m).unwrap();
        // GD's steps do not depend on N, so its cost grows as N; SGD's does not grow at all.
        assert!((out.value("gd_cost_slope").unwrap() - 1.0).abs() < 1e-9);
        assert!(out.value("sgd_cost_slope").unwrap().abs() < 1e-9);
        let ratio = out.value("gd_over_sgd_cost_ratio_at_max_n").unwrap();
        let rows = &out.tables["cost"].rows;
        let sgd = rows[2][7].as_f64().unwrap();
        assert!((ratio - 15.0 * 100_000.0 / sgd).abs() < 1e-6 * ratio);
        assert_eq!(
            out.values["gd_steps_population"].basis,
            claim_spec::Basis::Computed
        );
        assert_eq!(m.samples(), 6 * 3 * p.sgd_max_steps as u64);
        let figures = SgdVsGdCost::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["cost"].panels.len(), 1);
    }

    #[test]
    fn a_tiny_run_completes() {
        let p = Params {
            sample_sizes: vec![1000, 2000],
            data_sets: 2,
            sgd_runs: 1,
            gd_step_grid: 10,
            ..Params::default()
        };
        let m = SgdVsGdCost::measure(&p, &RunContext::new("sgd-vs-gd", 1)).unwrap();
        assert_eq!(m.results.len(), 4);
        assert!(m.results.iter().all(|r| r.gd_steps > 0.0));
    }

    #[test]
    fn defaults_validate() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            sample_sizes: vec![1000, 10],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "sample_sizes[1]");
        let p = Params {
            sgd_t0: 10.0,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "sgd_t0");
    }
}
