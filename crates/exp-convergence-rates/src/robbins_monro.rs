//! Claim `robbins-monro-schedules`: convergence to a point needs sum eta_t = infinity and
//! sum eta_t^2 < infinity.
//!
//! SGD on the scalar quadratic f(w) = h w^2 / 2 with additive gradient noise of standard deviation s,
//! under schedules eta_t = a t^-p (the t-th update, t = 1, 2, ...). The second moment e_t = E[w_t^2]
//! obeys the exact recursion e_{t+1} = (1 - eta_t h)^2 e_t + eta_t^2 s^2
//! ([`crate::recursions::scalar_second_moments`]); its asymptotics (e.g. Bach and Moulines 2011):
//! e_t ~ a s^2 t^-p / (2h) for p < 1; e_t ~ t^-1 for p = 1 and a h > 1/2, t^-2ah for a h < 1/2;
//! and for p > 1 the steps are summable, so e_t tends to a positive limit: the iterate stalls.
//!
//! For a summable schedule the limit is bracketed without running to infinity: from step T on,
//! the contraction prod (1 - eta_t h)^2 >= exp(-2 h S1 / (1 - eta_T h)) and the added noise is at
//! most s^2 S2, with S1 = sum_{t > T} eta_t <= a T^(1-p) / (p - 1) and
//! S2 = sum_{t > T} eta_t^2 <= a^2 T^(1-2p) / (2p - 1) (integral bounds of decreasing sums).

use crate::recursions::scalar_second_moments;
use crate::slopes::{deterministic_log_log_slope, log_checkpoints, log_log_slope, ratio_of_means};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{exp, powf};
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::rng::standard_normal;
use sgd_sim::stats::mean_estimate;

/// One schedule eta_t = a t^-p.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The suffix of this schedule's metric names (`exponent_<label>`): lowercase, digits, `_`.
    pub label: String,
    /// Scale a.
    pub a: f64,
    /// Exponent p.
    pub p: f64,
}

/// Parameters of `convergence-rates/robbins-monro-schedules`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Curvature h.
    pub curvature: f64,
    /// Standard deviation s of the additive gradient noise.
    pub noise_std: f64,
    /// Starting point w_0.
    pub initial: f64,
    /// The schedules.
    pub schedules: Vec<Schedule>,
    /// Independent replicas per schedule.
    pub replicas: usize,
    /// Steps per replica, T.
    pub steps: u64,
    /// First step of the window of the exponent fits (the window ends at T).
    pub fit_from: u64,
    /// Checkpoints per decade inside the fit window.
    pub fit_points_per_decade: u32,
}

impl Default for Params {
    fn default() -> Self {
        let schedule = |label: &str, a: f64, p: f64| Schedule {
            label: label.to_owned(),
            a,
            p,
        };
        Self {
            curvature: 1.0,
            noise_std: 1.0,
            initial: 1.0,
            schedules: vec![
                schedule("p0_3", 1.0, 0.3),
                schedule("p0_6", 1.0, 0.6),
                schedule("p1_ah1", 1.0, 1.0),
                schedule("p1_ah0_25", 0.25, 1.0),
                schedule("p1_5", 1.0, 1.5),
            ],
            replicas: 2000,
            steps: 10_000,
            fit_from: 1000,
            fit_points_per_decade: 10,
        }
    }
}

impl Params {
    /// Checkpoints: 1, 2, 5 per decade below the fit window, `fit_points_per_decade` inside it.
    fn checkpoints(&self) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        let mut decade = 1u64;
        while decade < self.fit_from {
            for t in [decade, 2 * decade, 5 * decade] {
                if t < self.fit_from {
                    out.push(t);
                }
            }
            decade = decade.saturating_mul(10);
        }
        out.extend(log_checkpoints(
            self.fit_from,
            self.steps,
            self.fit_points_per_decade,
        ));
        out
    }

    /// The checkpoints at which simulation and recursion are compared: the powers of ten.
    fn decades(&self) -> Vec<u64> {
        self.checkpoints()
            .into_iter()
            .filter(|&t| t >= 10 && is_power_of_ten(t))
            .collect()
    }
}

fn is_power_of_ten(mut t: u64) -> bool {
    while t >= 10 && t.is_multiple_of(10) {
        t /= 10;
    }
    t == 1
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::positive("curvature", self.curvature)?;
        ParamError::positive("noise_std", self.noise_std)?;
        ParamError::finite("initial", self.initial)?;
        if self.schedules.is_empty() {
            return Err(ParamError::new("schedules", "must not be empty"));
        }
        for (i, s) in self.schedules.iter().enumerate() {
            let valid_label = !s.label.is_empty()
                && s.label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid_label {
                return Err(ParamError::new(
                    format!("schedules[{i}].label"),
                    "must be lowercase letters, digits and underscores",
                ));
            }
            if self.schedules[..i].iter().any(|o| o.label == s.label) {
                return Err(ParamError::new(
                    format!("schedules[{i}].label"),
                    "is used twice",
                ));
            }
            ParamError::positive(&format!("schedules[{i}].a"), s.a)?;
            ParamError::positive(&format!("schedules[{i}].p"), s.p)?;
            if s.a * self.curvature >= 2.0 {
                return Err(ParamError::new(
                    format!("schedules[{i}].a"),
                    "a h must be below 2 (the first step would not contract)",
                ));
            }
        }
        ParamError::at_least("replicas", self.replicas as u64, 2)?;
        ParamError::at_least("fit_from", self.fit_from, 1)?;
        ParamError::at_least(
            "fit_points_per_decade",
            u64::from(self.fit_points_per_decade),
            1,
        )?;
        if self.steps < 10 * self.fit_from {
            return Err(ParamError::new(
                "steps",
                format!("must be at least 10 fit_from = {}", 10 * self.fit_from),
            ));
        }
        if self.steps > 100_000_000 {
            return Err(ParamError::new("steps", "must be at most 1e8"));
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        (self.schedules.len() * self.replicas) as f64 * self.steps as f64
    }
}

/// The kind `convergence-rates/robbins-monro-schedules`.
#[derive(Debug)]
pub struct RobbinsMonroSchedules;

/// What the measure step produced: squared errors at the checkpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Replicas per schedule (after `--scale`).
    pub replicas: usize,
    /// One row per (schedule, replica), schedule outer: w_t^2 at each checkpoint.
    pub rows: Vec<Vec<f64>>,
    /// Steps per replica.
    pub steps: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.rows.len() as u64 * self.steps
    }
}

impl Params {
    /// eta_t = a t^-p for t = 1..=T, per schedule.
    fn step_tables(&self) -> Vec<Vec<f64>> {
        self.schedules
            .iter()
            .map(|s| {
                (1..=self.steps)
                    .map(|t| s.a * powf(t as f64, -s.p))
                    .collect()
            })
            .collect()
    }

    /// The exact second moments e_0..e_T, per schedule.
    fn recursions(&self, step_tables: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let noise_variance = self.noise_std * self.noise_std;
        step_tables
            .iter()
            .map(|etas| {
                scalar_second_moments(
                    self.curvature,
                    noise_variance,
                    self.initial * self.initial,
                    etas,
                )
            })
            .collect()
    }

    /// Indices of the checkpoints inside the fit window, and their steps.
    fn window(&self, marks: &[u64]) -> (Vec<usize>, Vec<f64>) {
        let window: Vec<usize> = (0..marks.len())
            .filter(|&k| marks[k] >= self.fit_from)
            .collect();
        let t = window.iter().map(|&k| marks[k] as f64).collect();
        (window, t)
    }
}

/// The theory every metric and figure of a run compares with, computed from the parameters.
struct Theory {
    marks: Vec<u64>,
    window: Vec<usize>,
    window_t: Vec<f64>,
    decades: Vec<u64>,
    step_tables: Vec<Vec<f64>>,
    recursions: Vec<Vec<f64>>,
}

impl Theory {
    fn new(p: &Params) -> Self {
        let marks = p.checkpoints();
        let (window, window_t) = p.window(&marks);
        let step_tables = p.step_tables();
        let recursions = p.recursions(&step_tables);
        Self {
            decades: p.decades(),
            marks,
            window,
            window_t,
            step_tables,
            recursions,
        }
    }
}

/// The stall of a summable schedule: its level at T, the ratio e(T)/e(T/10), and the rigorous
/// bracket of its limit from the tail sums of eta_t and eta_t^2.
fn stall_metrics(
    p: &Params,
    th: &Theory,
    si: usize,
    block: &[Vec<f64>],
    out: &mut Metrics,
) -> Result<(), ExperimentError> {
    let s = &p.schedules[si];
    let marks = &th.marks;
    let last = marks.len() - 1;
    let tenth = marks.iter().rposition(|&t| t * 10 <= p.steps).unwrap_or(0);
    let level = mean_estimate(&block.iter().map(|r| r[last]).collect::<Vec<_>>());
    out.estimate(&format!("stall_level_{}", s.label), level);
    let ratio = ratio_of_means(block.len(), |r| block[r][tenth], |r| block[r][last])?;
    out.estimate(&format!("stall_ratio_{}", s.label), ratio);
    let eta_t = th.step_tables[si][th.step_tables[si].len() - 1];
    let tf = p.steps as f64;
    let s1 = s.a * powf(tf, 1.0 - s.p) / (s.p - 1.0);
    let s2 = s.a * s.a * powf(tf, 1.0 - 2.0 * s.p) / (2.0 * s.p - 1.0);
    let recursion = &th.recursions[si];
    let e_t = recursion[recursion.len() - 1];
    let contraction = 1.0 - eta_t * p.curvature;
    out.computed(
        &format!("stall_limit_lower_{}", s.label),
        e_t * exp(-2.0 * p.curvature * s1 / contraction),
    );
    out.computed(
        &format!("stall_limit_upper_{}", s.label),
        e_t + p.noise_std * p.noise_std * s2,
    );
    Ok(())
}

/// One schedule's rows of the error table and its exponents; returns the largest |z| at the
/// decades and the z of the simulated exponent against the recursion's.
fn schedule_metrics(
    p: &Params,
    th: &Theory,
    si: usize,
    block: &[Vec<f64>],
    tables: &mut [Table; 2],
    out: &mut Metrics,
) -> Result<(f64, f64), ExperimentError> {
    let s = &p.schedules[si];
    let recursion = &th.recursions[si];
    let mut max_abs_z: f64 = 0.0;
    for (k, &t) in th.marks.iter().enumerate() {
        let e = mean_estimate(&block.iter().map(|r| r[k]).collect::<Vec<_>>());
        let exact = recursion[t as usize];
        let z = e.z_score(exact);
        if th.decades.contains(&t) {
            max_abs_z = max_abs_z.max(z.abs());
        }
        let [lo, hi] = e.ci95();
        tables[0].push(row![
            s.label.as_str(),
            s.a,
            s.p,
            t,
            e.value,
            lo,
            hi,
            exact,
            z
        ]);
    }
    let exact_window: Vec<f64> = th
        .window
        .iter()
        .map(|&k| recursion[th.marks[k] as usize])
        .collect();
    let exponent = deterministic_log_log_slope(&th.window_t, &exact_window)?;
    let sim = log_log_slope(&th.window_t, block.len(), |r, j| block[r][th.window[j]])?;
    out.computed(&format!("exponent_{}", s.label), exponent);
    out.estimate(&format!("sim_exponent_{}", s.label), sim);
    let [lo, hi] = sim.ci95();
    tables[1].push(row![
        s.label.as_str(),
        s.a,
        s.p,
        exponent,
        sim.value,
        lo,
        hi,
        predicted_exponent(s.a * p.curvature, s.p)
    ]);
    if s.p > 1.0 {
        stall_metrics(p, th, si, block, out)?;
    }
    Ok((max_abs_z, sim.z_score(exponent)))
}

fn tables() -> [Table; 2] {
    [
        Table::new([
            "schedule",
            "a",
            "p",
            "t",
            "error_sim",
            "error_sim_lo",
            "error_sim_hi",
            "error_recursion",
            "z",
        ]),
        Table::new([
            "schedule",
            "a",
            "p",
            "exponent_recursion",
            "exponent_sim",
            "exponent_sim_lo",
            "exponent_sim_hi",
            "exponent_predicted",
        ]),
    ]
}

impl Experiment for RobbinsMonroSchedules {
    const KIND: &'static str = "convergence-rates/robbins-monro-schedules";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let replicas = ctx.scaled(p.replicas).max(2);
        let marks = p.checkpoints();
        let step_tables = p.step_tables();
        let rows = cancellable_trajectories(
            &ctx.streams(),
            "replica",
            p.schedules.len() * replicas,
            &ctx.cancel,
            |i, rng| {
                let etas = &step_tables[i / replicas];
                let mut w = p.initial;
                let mut recorded = Vec::with_capacity(marks.len());
                let mut next = 0;
                for (t, &eta) in etas.iter().enumerate() {
                    w -= eta * (p.curvature * w + p.noise_std * standard_normal(rng));
                    if next < marks.len() && t as u64 + 1 == marks[next] {
                        recorded.push(w * w);
                        next += 1;
                    }
                }
                Ok::<_, ExperimentError>(recorded)
            },
        )?;
        if let Some(bad) = rows.iter().position(|r| r.iter().any(|v| !v.is_finite())) {
            return Err(ExperimentError::Diverged {
                step: p.steps,
                reason: format!("replica {bad} left the finite numbers"),
            });
        }
        Ok(Measured {
            replicas,
            rows,
            steps: p.steps,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let th = Theory::new(p);
        let mut out = Metrics::new();
        let mut tables = tables();
        let mut max_abs_z: f64 = 0.0;
        let mut sim_max_abs_z: f64 = 0.0;
        for (si, block) in m.rows.chunks(m.replicas).enumerate() {
            let (z, sim_z) = schedule_metrics(p, &th, si, block, &mut tables, &mut out)?;
            max_abs_z = max_abs_z.max(z);
            sim_max_abs_z = sim_max_abs_z.max(sim_z.abs());
        }
        out.measured("recursion_max_abs_z", max_abs_z);
        out.measured("sim_exponent_max_abs_z", sim_max_abs_z);
        let [error, exponents] = tables;
        out.table("error", error);
        out.table("exponents", exponents);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let th = Theory::new(p);
        let mut panel = CurvesPanel::new(
            "Squared error under η_t = a t^−p (lines: exact recursion)",
            Axis::log("step t"),
            Axis::log("E[w_t²]"),
        );
        for (si, (s, block)) in p
            .schedules
            .iter()
            .zip(m.rows.chunks(m.replicas))
            .enumerate()
        {
            let points = (0..th.marks.len())
                .map(|k| {
                    let e = mean_estimate(&block.iter().map(|r| r[k]).collect::<Vec<_>>());
                    let [lo, hi] = e.ci95();
                    let t = th.marks[k] as f64;
                    MeasuredPoint::with_ci(t, e.value, [lo.max(e.value * 1e-3), hi])
                })
                .collect();
            let recursion = &th.recursions[si];
            panel = panel
                .measured(Points::new(format!("a = {}, p = {}", s.a, s.p), si, points))
                .theory(Line::new(
                    "",
                    si,
                    log_checkpoints(1, p.steps, 20)
                        .into_iter()
                        .map(|t| (t as f64, recursion[t as usize])),
                ));
        }
        let mut figures = Figures::new();
        figures.add("error", FigureData::single(panel));
        Ok(figures)
    }
}

/// The asymptotic exponent of e_t: -p for p < 1, -min(1, 2 a h) for p = 1, 0 for p > 1.
fn predicted_exponent(ah: f64, p: f64) -> f64 {
    if p < 1.0 {
        -p
    } else if p == 1.0 {
        -(2.0 * ah).min(1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_cover_decades_and_the_window() {
        let p = Params::default();
        let marks = p.checkpoints();
        assert_eq!(&marks[..6], &[1, 2, 5, 10, 20, 50]);
        assert_eq!(marks[marks.len() - 1], 10_000);
        assert_eq!(marks.iter().filter(|&&t| t >= 1000).count(), 11);
        assert_eq!(p.decades(), vec![10, 100, 1000, 10_000]);
        assert!(marks.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn bad_schedules_name_their_key() {
        assert!(Params::default().validate().is_ok());
        let mut p = Params::default();
        p.schedules[1].label = "p0_3".into();
        assert_eq!(p.validate().unwrap_err().key, "schedules[1].label");
        let mut p = Params::default();
        p.schedules[0].a = 2.5;
        assert_eq!(p.validate().unwrap_err().key, "schedules[0].a");
        let p = Params {
            steps: 5000,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "steps");
    }

    /// A hand-made measurement: every replica's squared error equals the recursion's second
    /// moment times 0.9 or 1.1 (alternating over checkpoints, the other replica the other way),
    /// so every mean is exact with a 10% spread.
    fn hand_made() -> (Params, Measured) {
        let p = Params {
            steps: 2000,
            fit_from: 200,
            ..Params::default()
        };
        let th = Theory::new(&p);
        let mut rows = Vec::new();
        for recursion in &th.recursions {
            for r in 0..2 {
                rows.push(
                    th.marks
                        .iter()
                        .enumerate()
                        .map(|(k, &t)| {
                            let factor = if (k + r).is_multiple_of(2) { 0.9 } else { 1.1 };
                            factor * recursion[t as usize]
                        })
                        .collect(),
                );
            }
        }
        let m = Measured {
            replicas: 2,
            rows,
            steps: p.steps,
        };
        (p, m)
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let (p, m) = hand_made();
        let out = RobbinsMonroSchedules::metrics(&p, &m).unwrap();
        // Means at the recursion: no z-score, simulated exponents equal the recursion's.
        assert!(out.value("recursion_max_abs_z").unwrap() < 1e-9);
        assert!(out.value("sim_exponent_max_abs_z").unwrap() < 1e-6);
        // a h = 1, p = 1: e_t = s^2 / t exactly, so the recursion's exponent is -1 to rounding.
        assert!((out.value("exponent_p1_ah1").unwrap() + 1.0).abs() < 1e-9);
        let lower = out.value("stall_limit_lower_p1_5").unwrap();
        let upper = out.value("stall_limit_upper_p1_5").unwrap();
        assert!(lower > 0.0 && lower <= upper);
        assert_eq!(
            out.values["exponent_p0_3"].basis,
            claim_spec::Basis::Computed
        );
        assert_eq!(
            out.values["sim_exponent_p0_3"].basis,
            claim_spec::Basis::Measured
        );
        assert_eq!(out.tables["exponents"].rows.len(), 5);
        assert_eq!(m.samples(), 10 * 2000);
        let figures = RobbinsMonroSchedules::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["error"].panels.len(), 1);
    }

    #[test]
    fn a_tiny_run_completes() {
        let p = Params {
            steps: 200,
            fit_from: 20,
            replicas: 2,
            ..Params::default()
        };
        let m = RobbinsMonroSchedules::measure(&p, &RunContext::new("rm", 5)).unwrap();
        assert_eq!(m.rows.len(), 10);
        assert_eq!(m.rows[0].len(), p.checkpoints().len());
    }
}
