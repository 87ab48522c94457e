//! Claim `implicit-curriculum`: a deep linear network learns its target's modes in order of their
//! singular values (Saxe, McClelland and Ganguli 2014); is the order set by minibatch noise or by
//! the gradient flow?
//!
//! Full-batch gradient descent from the aligned, balanced initialization is compared with the
//! closed-form half-learning times ([`crate::deep_linear`]). Then, on the same task with noisy
//! targets (so that minibatch noise does not vanish at the optimum), each of `sgd_runs` small
//! random initializations is trained twice: by full-batch gradient descent and by minibatch SGD
//! (batch size `sgd_batch`), and the two learning orders are compared run by run.

use crate::deep_linear::{
    Task, crossing_time, half_time_formula, half_time_of_map, logistic_strength,
};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::stats::{Z95, mean_estimate, paired_ratio, wilson_interval};

/// Parameters of `training-phases/implicit-curriculum`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Input and output dimension d (the hidden width is d too).
    pub dim: usize,
    /// Singular values of the target map, in decreasing order.
    pub singular_values: Vec<f64>,
    /// Training samples N (whitened exactly).
    pub samples: usize,
    /// Step size eta.
    pub step_size: f64,
    /// Initial strength u0 of every mode.
    pub initial_strength: f64,
    /// Training steps.
    pub steps: usize,
    /// Random initializations; each is trained by full-batch GD and by minibatch SGD.
    pub sgd_runs: usize,
    /// Minibatch size of the SGD runs (with replacement).
    pub sgd_batch: usize,
    /// Standard deviation of the Gaussian noise added to every target of the random-init runs.
    pub label_noise: f64,
    /// Standard deviation of every weight of the random initializations.
    pub init_scale: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            dim: 8,
            singular_values: vec![3.0, 2.0, 1.0, 0.5],
            samples: 64,
            step_size: 0.005,
            initial_strength: 1e-3,
            steps: 4000,
            sgd_runs: 16,
            sgd_batch: 1,
            label_noise: 0.5,
            init_scale: 0.02,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("dim", self.dim as u64, 1)?;
        ParamError::all_positive("singular_values", &self.singular_values)?;
        if self.singular_values.len() > self.dim {
            return Err(ParamError::new(
                "singular_values",
                format!("at most dim = {} values", self.dim),
            ));
        }
        if self.singular_values.windows(2).any(|w| w[0] <= w[1]) {
            return Err(ParamError::new(
                "singular_values",
                "must be strictly decreasing",
            ));
        }
        ParamError::at_least("samples", self.samples as u64, self.dim as u64)?;
        ParamError::positive("step_size", self.step_size)?;
        ParamError::positive("initial_strength", self.initial_strength)?;
        let smallest = self
            .singular_values
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        if self.initial_strength >= smallest / 2.0 {
            return Err(ParamError::new(
                "initial_strength",
                "must be below half the smallest singular value",
            ));
        }
        ParamError::at_least("steps", self.steps as u64, 2)?;
        ParamError::at_least("sgd_runs", self.sgd_runs as u64, 2)?;
        ParamError::at_least("sgd_batch", self.sgd_batch as u64, 1)?;
        ParamError::non_negative("label_noise", self.label_noise)?;
        ParamError::positive("init_scale", self.init_scale)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let d3 = (self.dim * self.dim * self.dim) as f64;
        let d2 = (self.dim * self.dim) as f64;
        let per_step_full = 3.0 * d3 + 2.0 * d2 * self.samples as f64;
        let per_step_sgd = 3.0 * d3 + 2.0 * d2 * self.sgd_batch as f64;
        let per_step_whitened = 4.0 * d3;
        self.steps as f64
            * (per_step_full + self.sgd_runs as f64 * (per_step_sgd + per_step_whitened))
    }
}

/// The permutation that sorts modes by half-learning time (earliest first).
fn learning_order(half_times: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..half_times.len()).collect();
    order.sort_by(|&a, &b| half_times[a].total_cmp(&half_times[b]));
    order
}

/// The kind `training-phases/implicit-curriculum`.
#[derive(Debug)]
pub struct ImplicitCurriculum;

/// What the measure step produced: the strength curves of gradient descent and of every SGD run,
/// and their half-learning times.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Full-batch gradient descent: u_k at every step, per mode.
    pub gd: Vec<Vec<f64>>,
    /// Its half-learning time per mode.
    pub gd_half: Vec<f64>,
    /// The exact scalar map's half-learning time per mode (computed).
    pub map_half: Vec<f64>,
    /// Full-batch GD from each random initialization (noisy targets): u_k at every step, per run
    /// and mode.
    pub random_gd: Vec<Vec<Vec<f64>>>,
    /// Its half-learning times, per mode and run.
    pub random_gd_half: Vec<Vec<f64>>,
    /// SGD from the same initializations: u_k at every step, per run and mode.
    pub sgd: Vec<Vec<Vec<f64>>>,
    /// SGD half-learning times, per mode and run.
    pub sgd_half: Vec<Vec<f64>>,
    /// Random samples drawn.
    pub samples: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.samples
    }
}

/// The error of a mode that never reaches half strength.
fn not_learned(p: &Params, k: usize, who: &str) -> ExperimentError {
    ExperimentError::InvalidParams(format!(
        "mode {} (s = {}) does not reach half strength within {} steps ({who}); raise `steps`",
        k + 1,
        p.singular_values[k],
        p.steps
    ))
}

/// The half-learning time of every mode of one run.
fn half_times(p: &Params, curves: &[Vec<f64>], who: &str) -> Result<Vec<f64>, ExperimentError> {
    p.singular_values
        .iter()
        .enumerate()
        .map(|(k, &s)| crossing_time(&curves[k], s / 2.0).ok_or_else(|| not_learned(p, k, who)))
        .collect()
}

impl Experiment for ImplicitCurriculum {
    const KIND: &'static str = "training-phases/implicit-curriculum";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let task = Task::new(
            p.dim,
            p.samples,
            &p.singular_values,
            &mut streams.stream("task", 0),
        )?;
        let (eta, u0) = (p.step_size, p.initial_strength);
        let gd = task.train(u0, eta, p.steps, None, &mut streams.stream("unused", 0))?;
        let gd_half = half_times(p, &gd, "GD")?;
        let mut map_half = Vec::with_capacity(p.singular_values.len());
        for (k, &s) in p.singular_values.iter().enumerate() {
            map_half.push(
                half_time_of_map(s, u0, eta, p.steps).ok_or_else(|| not_learned(p, k, "map"))?,
            );
        }
        let noisy = task.with_label_noise(p.label_noise, &mut streams.stream("targets", 0));
        let cross = noisy.cross_correlation();
        let runs = ctx.scaled(p.sgd_runs);
        let pairs =
            cancellable_trajectories(&streams, "random-init", runs, &ctx.cancel, |_, rng| {
                let init = noisy.random_init(p.init_scale, rng);
                let gd = noisy.train_whitened(init.clone(), &cross, eta, p.steps)?;
                let sgd = noisy.train_from(init, eta, p.steps, Some(p.sgd_batch), rng)?;
                Ok::<_, ExperimentError>((gd, sgd))
            })?;
        let (random_gd, sgd): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
        let modes = p.singular_values.len();
        let mut random_gd_half = vec![Vec::with_capacity(runs); modes];
        let mut sgd_half = vec![Vec::with_capacity(runs); modes];
        for (g, s) in random_gd.iter().zip(&sgd) {
            let (hg, hs) = (
                half_times(p, g, "GD, random init")?,
                half_times(p, s, "SGD")?,
            );
            for k in 0..modes {
                random_gd_half[k].push(hg[k]);
                sgd_half[k].push(hs[k]);
            }
        }
        Ok(Measured {
            gd,
            gd_half,
            map_half,
            random_gd,
            random_gd_half,
            sgd,
            sgd_half,
            samples: (runs * p.steps * p.sgd_batch + p.steps * p.samples) as u64,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        half_time_metrics(p, m, &mut out);
        order_metrics(m, &mut out);
        let table = half_time_table(p, m, &mut out);
        out.table("half-times", table);
        out.table("mode-curves", curve_table(p, m));
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("mode-strengths", strength_figure(p, m));
        Ok(figures)
    }
}

/// Gradient descent's half times against the formula and against the exact scalar map.
fn half_time_metrics(p: &Params, m: &Measured, out: &mut Metrics) {
    let formula: Vec<f64> = p
        .singular_values
        .iter()
        .map(|&s| half_time_formula(s, p.initial_strength, p.step_size))
        .collect();
    let rel_error_max = m
        .gd_half
        .iter()
        .zip(&formula)
        .map(|(g, f)| (g / f - 1.0).abs())
        .fold(0.0, f64::max);
    // Gradient descent draws no random number except the task's orthonormal bases, which enter the
    // half times only through rounding; they are recorded as measured all the same.
    out.measured("t_half_rel_error_max", rel_error_max);
    let map_error = m
        .gd_half
        .iter()
        .zip(&m.map_half)
        .map(|(g, f)| (g - f).abs())
        .fold(0.0, f64::max);
    out.measured("t_half_map_abs_error_max", map_error);
    let strict = m.gd_half.windows(2).all(|w| w[0] < w[1]);
    out.measured("order_strict", if strict { 1.0 } else { 0.0 });
}

/// How often an SGD run learns the modes in another order than gradient descent from the same
/// random initialization, and how often each learns them strictly by strength.
fn order_metrics(m: &Measured, out: &mut Metrics) {
    let runs = m.sgd.len();
    let modes = m.gd_half.len();
    let mut differs = 0u64;
    let mut sgd_strict = 0u64;
    let mut gd_strict = 0u64;
    let strict = |h: &[f64]| h.windows(2).all(|w| w[0] < w[1]);
    for r in 0..runs {
        let half: Vec<f64> = (0..modes).map(|k| m.sgd_half[k][r]).collect();
        let gd: Vec<f64> = (0..modes).map(|k| m.random_gd_half[k][r]).collect();
        if learning_order(&half) != learning_order(&gd) {
            differs += 1;
        }
        sgd_strict += u64::from(strict(&half));
        gd_strict += u64::from(strict(&gd));
    }
    let n = runs as u64;
    out.estimate_with_interval(
        "gd_random_order_strict_fraction",
        gd_strict as f64 / n as f64,
        wilson_interval(gd_strict, n, Z95),
    );
    out.estimate_with_interval(
        "sgd_order_differs_fraction",
        differs as f64 / n as f64,
        wilson_interval(differs, n, Z95),
    );
    out.estimate_with_interval(
        "sgd_order_strict_fraction",
        sgd_strict as f64 / n as f64,
        wilson_interval(sgd_strict, n, Z95),
    );
}

/// Half times per mode: formula, map, GD, and the SGD mean; records the largest SGD shift.
fn half_time_table(p: &Params, m: &Measured, out: &mut Metrics) -> Table {
    let mut table = Table::new([
        "mode",
        "singular_value",
        "t_half_formula",
        "t_half_map",
        "t_half_gd",
        "t_half_gd_rel_error",
        "t_half_gd_random_mean",
        "t_half_sgd_mean",
        "t_half_sgd_lo",
        "t_half_sgd_hi",
        "t_half_sgd_over_gd",
    ]);
    let mut max_shift: f64 = 0.0;
    for (k, &s) in p.singular_values.iter().enumerate() {
        let formula = half_time_formula(s, p.initial_strength, p.step_size);
        let e = mean_estimate(&m.sgd_half[k]);
        let ci = e.ci95();
        let gd = mean_estimate(&m.random_gd_half[k]).value;
        // SGD against GD from the same initializations, paired.
        let shift = paired_ratio(&m.sgd_half[k], &m.random_gd_half[k]).value;
        max_shift = max_shift.max((shift - 1.0).abs());
        table.push(row![
            k + 1,
            s,
            formula,
            m.map_half[k],
            m.gd_half[k],
            m.gd_half[k] / formula - 1.0,
            gd,
            e.value,
            ci[0],
            ci[1],
            shift
        ]);
    }
    out.measured("sgd_t_half_rel_shift_max", max_shift);
    table
}

/// The checkpoints of the curves: every 1/40 of the run.
fn every(p: &Params) -> usize {
    (p.steps / 40).max(1)
}

/// u_k against steps: theory, GD and the SGD mean with its interval.
fn curve_table(p: &Params, m: &Measured) -> Table {
    let mut table = Table::new([
        "mode",
        "step",
        "u_theory",
        "u_gd",
        "u_gd_random_mean",
        "u_sgd_mean",
        "u_sgd_lo",
        "u_sgd_hi",
    ]);
    for (k, &s) in p.singular_values.iter().enumerate() {
        for t in (0..=p.steps).step_by(every(p)) {
            let e = mean_estimate(&m.sgd.iter().map(|c| c[k][t] / s).collect::<Vec<_>>());
            let ci = e.ci95();
            let th = logistic_strength(s, p.initial_strength, p.step_size, t as f64);
            let g = mean_estimate(&m.random_gd.iter().map(|c| c[k][t]).collect::<Vec<_>>());
            table.push(row![
                k + 1,
                t,
                th,
                m.gd[k][t],
                g.value,
                e.value * s,
                ci[0] * s,
                ci[1] * s
            ]);
        }
    }
    table
}

/// u_k / s_k against steps: GD from the aligned initialization against Saxe et al.'s curves (top),
/// and from the random initializations the mean of the SGD runs (points) and of GD from the same
/// initializations (dashed).
fn strength_figure(p: &Params, m: &Measured) -> FigureData {
    let y = || Axis::linear("mode strength u / s").with_range(-0.02, 1.05);
    let mut gd = CurvesPanel::new(
        "Gradient descent from the aligned initialization",
        Axis::linear("step"),
        y(),
    );
    let mut random = CurvesPanel::new(
        format!(
            "From random initializations, noisy targets: SGD (b = {}) and GD",
            p.sgd_batch
        ),
        Axis::linear("step"),
        y(),
    );
    for (k, &s) in p.singular_values.iter().enumerate() {
        let theory: Vec<(f64, f64)> = (0..=400)
            .map(|i| {
                let t = p.steps as f64 * f64::from(i) / 400.0;
                (
                    t,
                    logistic_strength(s, p.initial_strength, p.step_size, t) / s,
                )
            })
            .collect();
        let mut gd_pts = Vec::new();
        let mut sgd_pts = Vec::new();
        let mut gd_mean = Vec::new();
        for t in (0..=p.steps).step_by(every(p)) {
            let e = mean_estimate(&m.sgd.iter().map(|c| c[k][t] / s).collect::<Vec<_>>());
            let g = mean_estimate(&m.random_gd.iter().map(|c| c[k][t] / s).collect::<Vec<_>>());
            gd_pts.push(MeasuredPoint::new(t as f64, m.gd[k][t] / s));
            sgd_pts.push(MeasuredPoint::with_ci(t as f64, e.value, e.ci95()));
            gd_mean.push((t as f64, g.value));
        }
        let label = format!("s = {s}");
        gd = gd
            .theory(Line::new("", k, theory))
            .measured(Points::new(label.clone(), k, gd_pts));
        random = random
            .guide(Line::new("", k, gd_mean))
            .measured(Points::new(label, k, sgd_pts));
    }
    let half = [(0.0, 0.5), (p.steps as f64, 0.5)];
    // Black (group 6), apart from the modes' colours.
    gd = gd.guide(Line::new("half strength", 6, half));
    random = random.guide(Line::new("half strength", 6, half));
    FigureData::stacked(vec![gd.into(), random.into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            singular_values: vec![1.0, 2.0],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "singular_values");
        let p = Params {
            initial_strength: 0.3,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "initial_strength");
    }

    #[test]
    fn order_is_the_sorting_permutation() {
        assert_eq!(learning_order(&[3.0, 1.0, 2.0]), vec![1, 2, 0]);
    }

    #[test]
    fn too_few_steps_is_an_error_not_a_panic() {
        let p = Params {
            steps: 50,
            sgd_runs: 2,
            ..Params::default()
        };
        assert!(ImplicitCurriculum::measure(&p, &RunContext::new("t", 1)).is_err());
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let p = Params {
            singular_values: vec![2.0, 1.0],
            steps: 2,
            ..Params::default()
        };
        let curve = |a: f64, b: f64| vec![vec![0.0, a, 2.0], vec![0.0, b, 1.0]];
        let m = Measured {
            gd: curve(1.0, 0.2),
            gd_half: vec![1.0, 1.5],
            map_half: vec![1.0, 1.5],
            random_gd: vec![curve(1.0, 0.2), curve(1.0, 0.2)],
            random_gd_half: vec![vec![1.0, 1.0], vec![1.5, 1.5]],
            // Two runs: the first learns in GD's order, the second the other way round.
            sgd: vec![curve(1.0, 0.2), curve(0.5, 0.8)],
            sgd_half: vec![vec![1.0, 1.5], vec![1.5, 1.2]],
            samples: 10,
        };
        let out = ImplicitCurriculum::metrics(&p, &m).unwrap();
        assert_eq!(out.value("sgd_order_differs_fraction"), Some(0.5));
        assert_eq!(out.value("sgd_order_strict_fraction"), Some(0.5));
        assert_eq!(out.value("gd_random_order_strict_fraction"), Some(1.0));
        assert_eq!(out.value("order_strict"), Some(1.0));
        assert_eq!(out.value("t_half_map_abs_error_max"), Some(0.0));
        assert_eq!(out.tables["half-times"].rows.len(), 2);
        let figures = ImplicitCurriculum::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["mode-strengths"].panels.len(), 2);
    }
}
