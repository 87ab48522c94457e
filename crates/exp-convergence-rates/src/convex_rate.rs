//! Claim `convex-rate`: on a convex Lipschitz problem, eta_t ~ 1/sqrt(t + 1) gives O(1/sqrt(T)).
//!
//! SGD on f(w) = |w| with stochastic subgradients sign(w) + s xi, xi ~ N(0, 1), and
//! eta_t = c / sqrt(t + 1) (t = 0, 1, ...), from w_0. The function is convex and 1-Lipschitz but
//! not strongly convex, and the O(1/sqrt(T)) rate is tight there: near the minimum the iterate
//! performs a random walk whose width is proportional to the step. In units of the step the walk
//! has a stationary law with E|u| = kappa = (1 + s^2)/2 ([`crate::sign_chain`]), so the last
//! iterate follows E|w_T| = kappa eta_{T-1} (1 + O(1/T)), a T^-1/2 law with a known constant. The averaged iterate
//! wbar_T = (1/T) sum_{t=1..T} w_t averages the nearly independent fluctuations and converges
//! much faster (about sqrt(log T) / T).

use crate::sign_chain;
use crate::slopes::{log_checkpoints, log_log_slope};
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::rng::{Stream, standard_normal};
use sgd_sim::stats::{Estimate, mean_estimate};

/// Parameters of `convergence-rates/convex-rate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Step constant c of eta_t = c / sqrt(t + 1).
    pub step_scale: f64,
    /// Standard deviation s of the subgradient noise.
    pub noise_std: f64,
    /// Starting point w_0.
    pub initial: f64,
    /// Independent replicas.
    pub replicas: usize,
    /// Steps T per replica.
    pub steps: u64,
    /// First step of the slope window (the window ends at T).
    pub fit_from: u64,
    /// Checkpoints per decade.
    pub points_per_decade: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            step_scale: 0.5,
            noise_std: 1.0,
            initial: 1.0,
            replicas: 2000,
            steps: 100_000,
            fit_from: 1000,
            points_per_decade: 5,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::positive("step_scale", self.step_scale)?;
        ParamError::positive("noise_std", self.noise_std)?;
        ParamError::finite("initial", self.initial)?;
        ParamError::at_least("replicas", self.replicas as u64, 2)?;
        ParamError::at_least("fit_from", self.fit_from, 10)?;
        ParamError::at_least("points_per_decade", u64::from(self.points_per_decade), 1)?;
        if self.steps < 10 * self.fit_from {
            return Err(ParamError::new("steps", "must be at least 10 fit_from"));
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        self.replicas as f64 * self.steps as f64
    }
}

/// One replica's |w_T| and |wbar_T| at the checkpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// |w_t| of the last iterate.
    pub last: Vec<f64>,
    /// |wbar_t| of the running average.
    pub averaged: Vec<f64>,
}

/// The kind `convergence-rates/convex-rate`.
#[derive(Debug)]
pub struct ConvexRate;

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// One record per replica.
    pub records: Vec<Record>,
    /// Steps per replica.
    pub steps: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.records.len() as u64 * self.steps
    }
}

impl Params {
    fn checkpoints(&self) -> Vec<u64> {
        log_checkpoints(10, self.steps, self.points_per_decade)
    }
}

/// One replica of subgradient SGD on |w| with eta_t = c / sqrt(t + 1).
fn replica(p: &Params, marks: &[u64], rng: &mut Stream) -> Record {
    let mut w = p.initial;
    let mut sum = 0.0;
    let mut record = Record {
        last: Vec::with_capacity(marks.len()),
        averaged: Vec::with_capacity(marks.len()),
    };
    let mut next = 0;
    for t in 0..p.steps {
        let eta = p.step_scale / ((t + 1) as f64).sqrt();
        let sign = if w > 0.0 {
            1.0
        } else if w < 0.0 {
            -1.0
        } else {
            0.0
        };
        w -= eta * (sign + p.noise_std * standard_normal(rng));
        sum += w;
        if next < marks.len() && t + 1 == marks[next] {
            record.last.push(w.abs());
            record.averaged.push((sum / (t + 1) as f64).abs());
            next += 1;
        }
    }
    record
}

/// Per checkpoint: the last and averaged iterates' means, and the quasi-stationary law
/// kappa eta_{t-1} = kappa c / sqrt(t) (the iterate after t steps has just taken step eta_{t-1}).
struct Checkpoint {
    t: u64,
    last: Estimate,
    averaged: Estimate,
    quasi: f64,
}

fn checkpoints(p: &Params, m: &Measured) -> Vec<Checkpoint> {
    let kappa = sign_chain::stationary_mean_abs(p.noise_std);
    let rs = &m.records;
    p.checkpoints()
        .into_iter()
        .enumerate()
        .map(|(k, t)| Checkpoint {
            t,
            last: mean_estimate(&rs.iter().map(|r| r.last[k]).collect::<Vec<_>>()),
            averaged: mean_estimate(&rs.iter().map(|r| r.averaged[k]).collect::<Vec<_>>()),
            quasi: kappa * p.step_scale / (t as f64).sqrt(),
        })
        .collect()
}

/// The table, sqrt(t) E|w_t| over the window, and the quasi-stationary law's z-scores.
fn law_metrics(p: &Params, points: &[Checkpoint], out: &mut Metrics) {
    let mut table = Table::new([
        "t",
        "last_sim",
        "last_sim_lo",
        "last_sim_hi",
        "last_quasi_stationary",
        "z",
        "sqrt_t_last",
        "averaged_sim",
        "averaged_sim_lo",
        "averaged_sim_hi",
    ]);
    let mut scaled_min = f64::INFINITY;
    let mut scaled_max: f64 = 0.0;
    let mut max_abs_z: f64 = 0.0;
    for c in points {
        let z = c.last.z_score(c.quasi);
        let root_t = (c.t as f64).sqrt();
        if c.t >= p.fit_from {
            scaled_min = scaled_min.min(root_t * c.last.value);
            scaled_max = scaled_max.max(root_t * c.last.value);
            max_abs_z = max_abs_z.max(z.abs());
        }
        let [llo, lhi] = c.last.ci95();
        let [alo, ahi] = c.averaged.ci95();
        table.push(row![
            c.t,
            c.last.value,
            llo,
            lhi,
            c.quasi,
            z,
            root_t * c.last.value,
            c.averaged.value,
            alo,
            ahi
        ]);
    }
    out.measured("sqrt_t_scaled_max_over_min", scaled_max / scaled_min);
    out.measured("quasi_stationary_max_abs_z", max_abs_z);
    if let Some(c) = points.last() {
        let kappa = sign_chain::stationary_mean_abs(p.noise_std);
        out.estimate("sqrt_t_last_at_end", c.last.scaled((c.t as f64).sqrt()));
        out.computed("sqrt_t_last_quasi_stationary", kappa * p.step_scale);
    }
    out.table("suboptimality", table);
}

impl Experiment for ConvexRate {
    const KIND: &'static str = "convergence-rates/convex-rate";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let replicas = ctx.scaled(p.replicas).max(2);
        let marks = p.checkpoints();
        let records = cancellable_trajectories(
            &ctx.streams(),
            "replica",
            replicas,
            &ctx.cancel,
            |_, rng| Ok::<_, ExperimentError>(replica(p, &marks, rng)),
        )?;
        if records
            .iter()
            .any(|r| r.last.iter().chain(&r.averaged).any(|v| !v.is_finite()))
        {
            return Err(ExperimentError::Diverged {
                step: p.steps,
                reason: "a replica left the finite numbers".into(),
            });
        }
        Ok(Measured {
            records,
            steps: p.steps,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let marks = p.checkpoints();
        let window: Vec<usize> = (0..marks.len())
            .filter(|&k| marks[k] >= p.fit_from)
            .collect();
        let window_t: Vec<f64> = window.iter().map(|&k| marks[k] as f64).collect();
        let rs = &m.records;
        let mut out = Metrics::new();
        out.estimate(
            "slope_last",
            log_log_slope(&window_t, rs.len(), |r, j| rs[r].last[window[j]])?,
        );
        out.estimate(
            "slope_averaged",
            log_log_slope(&window_t, rs.len(), |r, j| rs[r].averaged[window[j]])?,
        );
        out.computed(
            "stationary_mean_abs",
            sign_chain::stationary_mean_abs(p.noise_std),
        );
        law_metrics(p, &checkpoints(p, m), &mut out);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let points = checkpoints(p, m);
        let kappa = sign_chain::stationary_mean_abs(p.noise_std);
        let tf = p.steps as f64;
        let anchor = kappa * p.step_scale / tf.sqrt();
        let first = points.first().map_or(1.0, |c| c.t as f64);
        // The law kappa c / sqrt(T), drawn finely.
        let law = log_checkpoints(points.first().map_or(1, |c| c.t), p.steps, 20)
            .into_iter()
            .map(|t| (t as f64, kappa * p.step_scale / (t as f64).sqrt()));
        let panel = CurvesPanel::new(
            "f(w) = |w|, η_t = c/√(t+1) (line: (1 + s²)/2 · η_T)",
            Axis::log("step T"),
            Axis::log("E f(w_T) − f*"),
        )
        .measured(Points::new(
            "last iterate",
            0,
            points
                .iter()
                .map(|c| MeasuredPoint::with_ci(c.t as f64, c.last.value, c.last.ci95()))
                .collect(),
        ))
        .theory(Line::new("", 0, law))
        .measured(Points::new(
            "averaged iterate",
            1,
            points
                .iter()
                .map(|c| {
                    let [lo, hi] = c.averaged.ci95();
                    let v = c.averaged.value;
                    MeasuredPoint::with_ci(c.t as f64, v, [lo.max(v * 1e-3), hi])
                })
                .collect(),
        ))
        .guide(Line::new(
            "T^−1/2",
            6,
            [first, tf]
                .into_iter()
                .map(|t| (t, 3.0 * anchor * (tf / t).sqrt())),
        ));
        let mut figures = Figures::new();
        figures.add("suboptimality", FigureData::single(panel));
        Ok(figures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made measurement: the last iterate sits at the quasi-stationary law times 0.9 or
    /// 1.1 (alternating over checkpoints, the other replica the other way), the averaged iterate
    /// at 1/t.
    fn hand_made() -> (Params, Measured) {
        let p = Params {
            steps: 10_000,
            fit_from: 100,
            ..Params::default()
        };
        let kappa = sign_chain::stationary_mean_abs(p.noise_std);
        let marks = p.checkpoints();
        let records = (0..2)
            .map(|r| {
                let f = |k: usize| if (k + r).is_multiple_of(2) { 0.9 } else { 1.1 };
                Record {
                    last: marks
                        .iter()
                        .enumerate()
                        .map(|(k, &t)| f(k) * kappa * p.step_scale / (t as f64).sqrt())
                        .collect(),
                    averaged: marks
                        .iter()
                        .enumerate()
                        .map(|(k, &t)| f(k) / t as f64)
                        .collect(),
                }
            })
            .collect();
        let m = Measured {
            records,
            steps: p.steps,
        };
        (p, m)
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let (p, m) = hand_made();
        let out = ConvexRate::metrics(&p, &m).unwrap();
        assert!((out.value("slope_last").unwrap() + 0.5).abs() < 1e-9);
        assert!((out.value("slope_averaged").unwrap() + 1.0).abs() < 1e-9);
        assert!(out.value("quasi_stationary_max_abs_z").unwrap() < 1e-9);
        assert!((out.value("sqrt_t_scaled_max_over_min").unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(out.value("stationary_mean_abs"), Some(1.0));
        assert_eq!(
            out.values["sqrt_t_last_at_end"].basis,
            claim_spec::Basis::Measured
        );
        assert_eq!(
            out.tables["suboptimality"].rows.len(),
            p.checkpoints().len()
        );
        let figures = ConvexRate::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["suboptimality"].panels.len(), 1);
    }

    #[test]
    fn a_tiny_run_completes() {
        let p = Params {
            steps: 200,
            fit_from: 20,
            replicas: 2,
            ..Params::default()
        };
        let m = ConvexRate::measure(&p, &RunContext::new("convex-rate", 2)).unwrap();
        assert_eq!(m.records.len(), 2);
        assert_eq!(m.samples(), 400);
    }
}
