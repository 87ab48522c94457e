//! Claim `sgd-as-bayes`: constant-step SGD as approximate posterior sampling (Mandt, Hoffman and Blei
//! 2017), on Bayesian linear regression with a flat prior.
//!
//! Per-sample losses l_i = (x_i . theta - y_i)^2 / (2 sigma^2); the mean loss has Hessian
//! H = X^T X / (N sigma^2) and minimizer theta^, the posterior is N(theta^, (N H)^-1) =
//! N(theta^, sigma^2 (X^T X)^-1), and the per-sample gradient covariance at theta^ is
//! C = (1/N) sum r_i^2 x_i x_i^T / sigma^4. SGD with preconditioner P (I for plain SGD), step eta and
//! with-replacement batches of b has, in the continuous-time limit, the stationary covariance S of
//!
//!   (P H) S + S (P H)^T = (eta / b) P C P,
//!
//! and KL(N(theta^, S) || posterior) is minimized over eta at eta* = 2 d b / (N tr(P C)) (their
//! eq. 15, written in the coordinates where the preconditioned step is plain SGD). For plain SGD the
//! shape of S is that of H^-1 C H^-1 / 2 ~ I / 2 when C ~ H, not that of the posterior H^-1 / N; with
//! P = H^-1 it is (eta / 2b) H^-1 C H^-1 ~ (eta / 2b) H^-1, the posterior's shape, and eta* scales it
//! onto it. The discrete-time stationary covariance solves S = B S B^T + (eta^2 / b) P C P with
//! B = I - eta P H ([`crate::lyapunov`]); the multiplicative part of the gradient noise, which the
//! constant C leaves out, is a relative O(eta tr(P C) / b) ~ 2e-3 here.

use crate::gaussian::{ellipse_points, kl_divergence};
use crate::least_squares::Problem;
use crate::lyapunov::discrete_lyapunov;
use crate::math_util::matmul;
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use ndarray::{Array1, Array2};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::data::{LeastSquaresSpec, generate_least_squares};
use sgd_sim::linalg::{solve_lyapunov, spd_inverse};
use sgd_sim::math::powf;
use sgd_sim::objective::FiniteSum;
use sgd_sim::parallel::trajectories;
use sgd_sim::rng::{Stream, uniform_index};
use sgd_sim::stats::{bootstrap_ci95, mean_estimate};

/// Relative allowance for what the constant-C theory leaves out: the multiplicative gradient noise,
/// a relative O(eta tr(P C) / b) ~ 2e-3 at both steps used; 0.5% covers it.
pub const MULTIPLICATIVE_ALLOWANCE: f64 = 0.005;

/// Parameters of `training-phases/sgd-as-bayes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Data points N.
    pub samples: usize,
    /// Variances of the (independent Gaussian) input coordinates; d is their number.
    pub input_variances: Vec<f64>,
    /// Label-noise standard deviation sigma (known to the model).
    pub label_noise: f64,
    /// Batch size b (with replacement).
    pub batch: usize,
    /// Independent chains per variant (plain and preconditioned).
    pub chains: usize,
    /// Steps discarded at the start of each chain (chains start at theta^).
    pub burn_in: usize,
    /// Steps recorded per chain.
    pub steps: usize,
    /// Bootstrap resamples (over chains) for the KL intervals.
    pub bootstrap_resamples: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            samples: 1000,
            input_variances: vec![1.0, 10.0],
            label_noise: 1.0,
            batch: 10,
            chains: 40,
            burn_in: 5000,
            steps: 50_000,
            bootstrap_resamples: 1000,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::all_positive("input_variances", &self.input_variances)?;
        let d = self.input_variances.len();
        if d != 2 {
            return Err(ParamError::new(
                "input_variances",
                "the figure draws 2-d ellipses: give exactly two variances",
            ));
        }
        ParamError::at_least("samples", self.samples as u64, 4 * d as u64)?;
        ParamError::positive("label_noise", self.label_noise)?;
        ParamError::at_least("batch", self.batch as u64, 1)?;
        ParamError::at_least("chains", self.chains as u64, 4)?;
        ParamError::at_least("steps", self.steps as u64, 100)?;
        ParamError::at_least("bootstrap_resamples", self.bootstrap_resamples as u64, 40)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        2.0 * self.chains as f64
            * (self.burn_in + self.steps) as f64
            * self.batch as f64
            * self.input_variances.len() as f64
            * 2.0
    }
}

/// One chain's sums: of e = theta - theta^, and of e e^T (row-major d x d); plus a thinned trace.
#[derive(Clone, Debug)]
struct ChainSums {
    first: Vec<f64>,
    second: Vec<f64>,
    trace: Vec<(f64, f64)>,
}

/// Runs one chain of preconditioned SGD theta <- theta - eta P g_b from theta^.
fn chain(
    problem: &Problem,
    preconditioner: &Array2<f64>,
    eta: f64,
    p: &Params,
    rng: &mut Stream,
) -> Result<ChainSums, ExperimentError> {
    let d = problem.minimizer.len();
    let n = problem.ls.len();
    let scale = 1.0 / (p.label_noise * p.label_noise);
    let mut theta = problem.minimizer.clone();
    let mut g = vec![0.0; d];
    let mut batch = vec![0usize; p.batch];
    let mut sums = ChainSums {
        first: vec![0.0; d],
        second: vec![0.0; d * d],
        trace: Vec::new(),
    };
    let thin = (p.steps / 250).max(1);
    for t in 0..p.burn_in + p.steps {
        for slot in batch.iter_mut() {
            *slot = uniform_index(rng, n);
        }
        problem.ls.batch_gradient(&batch, &theta, &mut g);
        for i in 0..d {
            let mut step = 0.0;
            for j in 0..d {
                step += preconditioner[[i, j]] * g[j];
            }
            theta[i] -= eta * scale * step;
        }
        if !theta.iter().all(|v| v.is_finite()) {
            return Err(ExperimentError::Diverged {
                step: t as u64 + 1,
                reason: format!("SGD on the posterior diverged at eta = {eta}"),
            });
        }
        if t >= p.burn_in {
            for i in 0..d {
                let ei = theta[i] - problem.minimizer[i];
                sums.first[i] += ei;
                for j in 0..d {
                    sums.second[i * d + j] += ei * (theta[j] - problem.minimizer[j]);
                }
            }
            if (t - p.burn_in).is_multiple_of(thin) && d == 2 {
                sums.trace.push((
                    theta[0] - problem.minimizer[0],
                    theta[1] - problem.minimizer[1],
                ));
            }
        }
    }
    Ok(sums)
}

/// The Gaussian fit (mean offset from theta^, covariance about its own mean) of pooled chains.
fn pooled_fit(chains: &[&ChainSums], d: usize, steps: usize) -> (Array1<f64>, Array2<f64>) {
    let total = (chains.len() * steps) as f64;
    let mut mean = Array1::<f64>::zeros(d);
    let mut second = Array2::<f64>::zeros((d, d));
    for c in chains {
        for i in 0..d {
            mean[i] += c.first[i];
            for j in 0..d {
                second[[i, j]] += c.second[i * d + j];
            }
        }
    }
    mean /= total;
    second /= total;
    let cov = Array2::from_shape_fn((d, d), |(i, j)| second[[i, j]] - mean[i] * mean[j]);
    (mean, cov)
}

/// max over entries of |A_ij - B_ij| / sqrt(B_ii B_jj): relative on the diagonal, on the
/// correlation scale off it.
fn max_scaled_difference(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let d = a.nrows();
    let mut worst: f64 = 0.0;
    for i in 0..d {
        for j in 0..d {
            let scale = (b[[i, i]] * b[[j, j]]).sqrt();
            worst = worst.max((a[[i, j]] - b[[i, j]]).abs() / scale);
        }
    }
    worst
}

/// Everything measured and predicted for one variant (plain or preconditioned).
struct Variant {
    name: &'static str,
    eta: f64,
    continuous: Array2<f64>,
    discrete: Array2<f64>,
    measured: Array2<f64>,
    measured_mean: Array1<f64>,
    kl: f64,
    kl_ci: [f64; 2],
    kl_theory: f64,
    kl_discrete_theory: f64,
    lyapunov_rel_error: f64,
    discrete_max_abs_z: f64,
    trace: Vec<(f64, f64)>,
    chains: Vec<ChainSums>,
}

/// Runs the claim.
///
/// # Errors
/// Invalid sizes, a singular design, a diverged chain.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let d = p.input_variances.len();
    let spec = LeastSquaresSpec {
        samples: p.samples,
        spectrum: p.input_variances.clone(),
        label_noise: p.label_noise,
    };
    let (ls, _) = generate_least_squares(&spec, &mut streams.stream("data", 0))?;
    let problem = Problem::new(ls)?;
    let n = p.samples as f64;
    let b = p.batch as f64;
    let s2 = p.label_noise * p.label_noise;
    // The Bayesian loss is the least-squares loss divided by sigma^2.
    let hessian = &problem.hessian / s2;
    let noise = &problem.noise_covariance / (s2 * s2);
    let posterior = spd_inverse(&(&hessian * n))?;
    let centre = Array1::from(problem.minimizer.clone());
    let identity = Array2::<f64>::eye(d);
    let h_inv = spd_inverse(&hessian)?;
    let chains = ctx.scaled(p.chains);

    let mut variants = Vec::new();
    for (k, (name, precond)) in [
        ("plain", identity.clone()),
        ("preconditioned", h_inv.clone()),
    ]
    .into_iter()
    .enumerate()
    {
        let pc = matmul(&matmul(&precond, &noise), &precond);
        let trace_pc: f64 = (0..d)
            .map(|i| (0..d).map(|j| precond[[i, j]] * noise[[j, i]]).sum::<f64>())
            .sum();
        let eta = 2.0 * d as f64 * b / (n * trace_pc);
        // Continuous: (P H) S + S (P H)^T = (eta/b) P C P; P H is H for plain SGD and I with P = H^-1.
        let drift = if k == 0 {
            hessian.clone()
        } else {
            identity.clone()
        };
        let continuous = solve_lyapunov(&drift, &(&pc * (eta / b)))?;
        let step_matrix = &identity - &(&drift * eta);
        let discrete = discrete_lyapunov(&step_matrix, &(&pc * (eta * eta / b)))?;
        let sums = trajectories(&streams, name, chains, |_, rng| {
            chain(&problem, &precond, eta, p, rng)
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let all: Vec<&ChainSums> = sums.iter().collect();
        let (mean, measured) = pooled_fit(&all, d, p.steps);
        let kl = kl_divergence(&(&centre + &mean), &measured, &centre, &posterior)?;
        let mut boot_rng = streams.stream("bootstrap", k as u64);
        let kl_ci = bootstrap_ci95(chains, p.bootstrap_resamples, &mut boot_rng, |idx| {
            let chosen: Vec<&ChainSums> = idx.iter().map(|&i| &sums[i]).collect();
            let (m, c) = pooled_fit(&chosen, d, p.steps);
            kl_divergence(&(&centre + &m), &c, &centre, &posterior).unwrap_or(f64::NAN)
        });
        // Per-entry z against the discrete theory: chains are independent replicates of the
        // second moment about theta^.
        let mut max_z: f64 = 0.0;
        for i in 0..d {
            for j in 0..d {
                let per_chain: Vec<f64> = sums
                    .iter()
                    .map(|c| c.second[i * d + j] / p.steps as f64)
                    .collect();
                let e = mean_estimate(&per_chain);
                let scale = (discrete[[i, i]] * discrete[[j, j]]).sqrt();
                let se = (e.se * e.se + (MULTIPLICATIVE_ALLOWANCE * scale).powi(2)).sqrt();
                max_z = max_z.max(((e.value - discrete[[i, j]]) / se).abs());
            }
        }
        let second_about_centre = Array2::from_shape_fn((d, d), |(i, j)| {
            sums.iter().map(|c| c.second[i * d + j]).sum::<f64>() / (chains * p.steps) as f64
        });
        variants.push(Variant {
            name,
            eta,
            kl_theory: kl_divergence(&centre, &continuous, &centre, &posterior)?,
            kl_discrete_theory: kl_divergence(&centre, &discrete, &centre, &posterior)?,
            lyapunov_rel_error: max_scaled_difference(&second_about_centre, &continuous),
            discrete_max_abs_z: max_z,
            continuous,
            discrete,
            measured,
            measured_mean: mean,
            kl,
            kl_ci,
            trace: sums.first().map(|c| c.trace.clone()).unwrap_or_default(),
            chains: sums,
        });
    }

    let mut out = Outcome::new();
    for v in &variants {
        let key = v.name;
        out.exact(&format!("eta_star_{key}"), v.eta);
        out.with_interval(&format!("kl_{key}"), v.kl, v.kl_ci);
        out.exact(&format!("kl_{key}_theory"), v.kl_theory);
        out.exact(&format!("kl_{key}_discrete_theory"), v.kl_discrete_theory);
        out.exact(
            &format!("discrete_stationary_max_abs_z_{key}"),
            v.discrete_max_abs_z,
        );
        out.exact(&format!("lyapunov_rel_error_{key}"), v.lyapunov_rel_error);
    }
    let plain = &variants[0];
    let pre = &variants[1];
    out.exact(
        "lyapunov_rel_error_max",
        plain.lyapunov_rel_error.max(pre.lyapunov_rel_error),
    );
    out.exact(
        "discrete_stationary_max_abs_z",
        plain.discrete_max_abs_z.max(pre.discrete_max_abs_z),
    );
    // The ratio's interval: one bootstrap over chain indices applied to both (independent) variants.
    let kl_of = |v: &Variant, idx: &[usize]| {
        let chosen: Vec<&ChainSums> = idx.iter().map(|&i| &v.chains[i]).collect();
        let (m, c) = pooled_fit(&chosen, d, p.steps);
        kl_divergence(&(&centre + &m), &c, &centre, &posterior).unwrap_or(f64::NAN)
    };
    let ratio_ci = bootstrap_ci95(
        chains,
        p.bootstrap_resamples,
        &mut streams.stream("bootstrap", 2),
        |idx| kl_of(plain, idx) / kl_of(pre, idx),
    );
    out.with_interval(
        "kl_ratio_plain_over_preconditioned",
        plain.kl / pre.kl,
        ratio_ci,
    );

    let mut table = Table::new([
        "variant",
        "entry",
        "posterior",
        "lyapunov_continuous",
        "stationary_discrete",
        "measured",
    ]);
    let entries = [(0usize, 0usize, "s11"), (1, 1, "s22"), (0, 1, "s12")];
    for v in &variants {
        for &(i, j, label) in &entries {
            table.push(row![
                v.name,
                label,
                posterior[[i, j]],
                v.continuous[[i, j]],
                v.discrete[[i, j]],
                v.measured[[i, j]] + v.measured_mean[i] * v.measured_mean[j]
            ]);
        }
    }
    out.table("covariances", table);

    // KL against the step, in units of each variant's eta*: continuous-time theory.
    let mut kl_table = Table::new(["variant", "eta_over_eta_star", "eta", "kl_theory"]);
    let mut kl_panel = Vec::new();
    for (k, v) in variants.iter().enumerate() {
        let precond = if k == 0 { &identity } else { &h_inv };
        let drift = if k == 0 { &hessian } else { &identity };
        let pc = matmul(&matmul(precond, &noise), precond);
        let mut pts = Vec::new();
        for i in 0..=40 {
            let ratio = powf(10.0, -1.0 + f64::from(i) / 20.0);
            let eta = v.eta * ratio;
            let s = solve_lyapunov(drift, &(&pc * (eta / b)))?;
            let kl = kl_divergence(&centre, &s, &centre, &posterior)?;
            kl_table.push(row![v.name, ratio, eta, kl]);
            pts.push(Point::new(ratio, kl));
        }
        kl_panel.push(Series {
            label: format!("{}, theory", v.name),
            kind: SeriesKind::Theory,
            color: k,
            points: pts,
        });
        kl_panel.push(Series {
            label: format!("{}, measured at eta*", v.name),
            kind: SeriesKind::Simulation,
            color: k,
            points: vec![Point::with_interval(1.0, v.kl, v.kl_ci)],
        });
    }
    out.table("kl-against-step", kl_table);

    // Ellipses in units of sqrt(N) (theta - theta^): posterior, continuous-time Lyapunov, measured.
    let root_n = n.sqrt();
    let mut panels = Vec::new();
    for v in &variants {
        let scaled = |m: &Array2<f64>| m * n;
        let mut series = vec![Series::from_xy(
            "iterates",
            SeriesKind::Simulation,
            5,
            v.trace.iter().map(|&(a, c)| (a * root_n, c * root_n)),
        )];
        series.push(Series::from_xy(
            "posterior",
            SeriesKind::Theory,
            6,
            ellipse_points([0.0, 0.0], &scaled(&posterior), 2.0, 120)?,
        ));
        series.push(Series::from_xy(
            "Lyapunov prediction",
            SeriesKind::Theory,
            1,
            ellipse_points([0.0, 0.0], &scaled(&v.continuous), 2.0, 120)?,
        ));
        let m = [v.measured_mean[0] * root_n, v.measured_mean[1] * root_n];
        series.push(Series::from_xy(
            "measured",
            SeriesKind::Guide,
            0,
            ellipse_points(m, &scaled(&v.measured), 2.0, 120)?,
        ));
        panels.push(Panel {
            title: format!("{} SGD at eta* = {:.4}: 2-sigma ellipses", v.name, v.eta),
            // About equal scales on both axes (plot area ~480 x 300 px), so shapes are not distorted.
            x: Axis::linear("sqrt(N) (theta_1 - theta^_1)").with_range(-3.2, 3.2),
            y: Axis::linear("sqrt(N) (theta_2 - theta^_2)").with_range(-2.0, 2.0),
            series,
            labels: Vec::new(),
        });
    }
    panels.push(Panel {
        title: "KL(q || posterior) against the step".into(),
        x: Axis::log("eta / eta*"),
        y: Axis::log("KL"),
        series: kl_panel,
        labels: Vec::new(),
    });
    out.figure("covariance-ellipses", FigureSpec { panels });
    out.samples = (2 * chains * (p.burn_in + p.steps) * p.batch) as u64;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            input_variances: vec![1.0, -1.0],
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "input_variances[1]");
        let p = Params {
            chains: 1,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "chains");
    }

    #[test]
    fn scaled_difference_is_relative_and_correlation_scaled() {
        let b = ndarray::arr2(&[[4.0, 0.0], [0.0, 1.0]]);
        let a = ndarray::arr2(&[[4.4, 0.2], [0.2, 1.0]]);
        // Diagonal: 0.4 / 4 = 0.1; off-diagonal: 0.2 / sqrt(4) = 0.1.
        assert!((max_scaled_difference(&a, &b) - 0.1).abs() < 1e-15);
    }
}
