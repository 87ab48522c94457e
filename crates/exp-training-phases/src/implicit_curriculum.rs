//! Claim `implicit-curriculum`: a deep linear network learns its target's modes in order of their
//! singular values (Saxe, McClelland and Ganguli 2014), and the order comes from the gradient flow,
//! not from minibatch noise.
//!
//! Full-batch gradient descent from the aligned, balanced initialization is compared with the
//! closed-form half-learning times ([`crate::deep_linear`]); minibatch SGD (batch size 1, the
//! noisiest) from the same initialization is compared with it, run by run.

use crate::deep_linear::{
    Task, crossing_time, half_time_formula, half_time_of_map, logistic_strength,
};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::try_trajectories;
use sgd_sim::stats::{Z95, mean_estimate, wilson_interval};

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
    /// Minibatch SGD runs.
    pub sgd_runs: usize,
    /// Minibatch size of the SGD runs (with replacement).
    pub sgd_batch: usize,
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
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let d3 = (self.dim * self.dim * self.dim) as f64;
        let d2 = (self.dim * self.dim) as f64;
        let per_step_full = 3.0 * d3 + 2.0 * d2 * self.samples as f64;
        let per_step_sgd = 3.0 * d3 + 2.0 * d2 * self.sgd_batch as f64;
        self.steps as f64 * (per_step_full + self.sgd_runs as f64 * per_step_sgd)
    }
}

/// The permutation that sorts modes by half-learning time (earliest first).
fn learning_order(half_times: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..half_times.len()).collect();
    order.sort_by(|&a, &b| half_times[a].total_cmp(&half_times[b]));
    order
}

/// Runs the claim.
///
/// # Errors
/// Invalid sizes, a diverged run, or a mode that is not learned within the steps.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let task = Task::new(
        p.dim,
        p.samples,
        &p.singular_values,
        &mut streams.stream("task", 0),
    )?;
    let (eta, u0) = (p.step_size, p.initial_strength);
    let modes = p.singular_values.len();
    let not_learned = |k: usize, who: &str| {
        ExperimentError::InvalidParams(format!(
            "mode {} (s = {}) does not reach half strength within {} steps ({who}); raise `steps`",
            k + 1,
            p.singular_values[k],
            p.steps
        ))
    };

    let gd = task.train(u0, eta, p.steps, None, &mut streams.stream("unused", 0))?;
    let mut gd_half = Vec::with_capacity(modes);
    for (k, &s) in p.singular_values.iter().enumerate() {
        gd_half.push(crossing_time(&gd[k], s / 2.0).ok_or_else(|| not_learned(k, "GD"))?);
    }
    let formula: Vec<f64> = p
        .singular_values
        .iter()
        .map(|&s| half_time_formula(s, u0, eta))
        .collect();
    let mut map_half = Vec::with_capacity(modes);
    for (k, &s) in p.singular_values.iter().enumerate() {
        map_half.push(half_time_of_map(s, u0, eta, p.steps).ok_or_else(|| not_learned(k, "map"))?);
    }

    let runs = ctx.scaled(p.sgd_runs);
    let sgd = try_trajectories(&streams, "sgd", runs, |_, rng| {
        task.train(u0, eta, p.steps, Some(p.sgd_batch), rng)
    })?;
    let mut sgd_half = vec![Vec::with_capacity(runs); modes];
    for curves in &sgd {
        for (k, &s) in p.singular_values.iter().enumerate() {
            sgd_half[k]
                .push(crossing_time(&curves[k], s / 2.0).ok_or_else(|| not_learned(k, "SGD"))?);
        }
    }

    let mut out = Outcome::new();
    let rel_error_max = gd_half
        .iter()
        .zip(&formula)
        .map(|(m, f)| (m / f - 1.0).abs())
        .fold(0.0, f64::max);
    out.exact("t_half_rel_error_max", rel_error_max);
    let map_error = gd_half
        .iter()
        .zip(&map_half)
        .map(|(m, f)| (m - f).abs())
        .fold(0.0, f64::max);
    out.exact("t_half_map_abs_error_max", map_error);
    let gd_order = learning_order(&gd_half);
    let strict = gd_half.windows(2).all(|w| w[0] < w[1]);
    out.exact("order_strict", if strict { 1.0 } else { 0.0 });

    let mut differs = 0u64;
    let mut sgd_strict = 0u64;
    for r in 0..runs {
        let half: Vec<f64> = (0..modes).map(|k| sgd_half[k][r]).collect();
        if learning_order(&half) != gd_order {
            differs += 1;
        }
        if half.windows(2).all(|w| w[0] < w[1]) {
            sgd_strict += 1;
        }
    }
    let n = runs as u64;
    out.with_interval(
        "sgd_order_differs_fraction",
        differs as f64 / n as f64,
        wilson_interval(differs, n, Z95),
    );
    out.with_interval(
        "sgd_order_strict_fraction",
        sgd_strict as f64 / n as f64,
        wilson_interval(sgd_strict, n, Z95),
    );

    let mut table = Table::new([
        "mode",
        "singular_value",
        "t_half_formula",
        "t_half_map",
        "t_half_gd",
        "t_half_gd_rel_error",
        "t_half_sgd_mean",
        "t_half_sgd_lo",
        "t_half_sgd_hi",
    ]);
    let mut max_shift: f64 = 0.0;
    for k in 0..modes {
        let e = mean_estimate(&sgd_half[k]);
        let ci = e.ci95();
        max_shift = max_shift.max((e.value / gd_half[k] - 1.0).abs());
        table.push(row![
            k + 1,
            p.singular_values[k],
            formula[k],
            map_half[k],
            gd_half[k],
            gd_half[k] / formula[k] - 1.0,
            e.value,
            ci[0],
            ci[1]
        ]);
    }
    out.exact("sgd_t_half_rel_shift_max", max_shift);

    // Curves: u_k / s_k against steps; theory lines, GD and the SGD mean as points every 1/40 of
    // the run.
    let every = (p.steps / 40).max(1);
    let mut curve_table = Table::new([
        "mode",
        "step",
        "u_theory",
        "u_gd",
        "u_sgd_mean",
        "u_sgd_lo",
        "u_sgd_hi",
    ]);
    let mut gd_series = Vec::new();
    let mut sgd_series = Vec::new();
    for (k, &s) in p.singular_values.iter().enumerate() {
        let theory: Vec<Point> = (0..=400)
            .map(|i| {
                let t = p.steps as f64 * f64::from(i) / 400.0;
                Point::new(t, logistic_strength(s, u0, eta, t) / s)
            })
            .collect();
        let mut gd_pts = Vec::new();
        let mut sgd_pts = Vec::new();
        for t in (0..=p.steps).step_by(every) {
            let e = mean_estimate(&sgd.iter().map(|c| c[k][t] / s).collect::<Vec<_>>());
            let ci = e.ci95();
            let th = logistic_strength(s, u0, eta, t as f64);
            curve_table.push(row![
                k + 1,
                t,
                th,
                gd[k][t],
                e.value * s,
                ci[0] * s,
                ci[1] * s
            ]);
            gd_pts.push(Point::new(t as f64, gd[k][t] / s));
            sgd_pts.push(Point::with_interval(t as f64, e.value, ci));
        }
        let label = format!("s = {s}");
        for (series, pts) in [(&mut gd_series, gd_pts), (&mut sgd_series, sgd_pts)] {
            series.push(Series {
                label: label.clone(),
                kind: SeriesKind::Simulation,
                color: k,
                points: pts,
            });
            series.push(Series {
                label: String::new(),
                kind: SeriesKind::Theory,
                color: k,
                points: theory.clone(),
            });
        }
    }
    let half_line = |series: &mut Vec<Series>| {
        series.push(Series::from_xy(
            "half strength",
            SeriesKind::Guide,
            6,
            [(0.0, 0.5), (p.steps as f64, 0.5)],
        ));
    };
    half_line(&mut gd_series);
    half_line(&mut sgd_series);
    out.table("half-times", table);
    out.table("mode-curves", curve_table);
    out.figure(
        "mode-strengths",
        FigureSpec {
            panels: vec![
                Panel {
                    title: "Full-batch gradient descent".into(),
                    x: Axis::linear("step"),
                    y: Axis::linear("mode strength u / s").with_range(-0.02, 1.05),
                    series: gd_series,
                    labels: Vec::new(),
                },
                Panel {
                    title: format!("Minibatch SGD, b = {}, mean of {runs} runs", p.sgd_batch),
                    x: Axis::linear("step"),
                    y: Axis::linear("mode strength u / s").with_range(-0.02, 1.05),
                    series: sgd_series,
                    labels: Vec::new(),
                },
            ],
        },
    );
    out.samples = (runs * p.steps * p.sgd_batch + p.steps * p.samples) as u64;
    Ok(out)
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
        assert!(run(&p, &RunContext::new("t", 1)).is_err());
    }
}
