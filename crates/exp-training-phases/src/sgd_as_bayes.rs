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
use claim_spec::figure::{Axis, CurvesPanel, FigureData, Line, MeasuredPoint, Points};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use ndarray::{Array1, Array2};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::data::{LeastSquaresSpec, generate_least_squares};
use sgd_sim::linalg::{mat_mul, solve_lyapunov, spd_inverse};
use sgd_sim::math::powf;
use sgd_sim::objective::FiniteSum;
use sgd_sim::parallel::{cancellable_trajectories, map_indexed};
use sgd_sim::rng::{Stream, uniform_index};
use sgd_sim::stats::{Resamples, mean_estimate, quantile_sorted};

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
    /// Fresh data draws whose theory (tr C and the KL of both variants) is computed.
    pub theory_draws: usize,
    /// Of those, the first ones on which plain SGD is run at its eta*.
    pub data_draws: usize,
    /// Chains of plain SGD per data draw.
    pub draw_chains: usize,
    /// Steps discarded per chain of a data draw.
    pub draw_burn_in: usize,
    /// Steps recorded per chain of a data draw.
    pub draw_steps: usize,
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
            theory_draws: 400,
            data_draws: 12,
            draw_chains: 8,
            draw_burn_in: 2000,
            draw_steps: 15_000,
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
        ParamError::at_least("data_draws", self.data_draws as u64, 2)?;
        ParamError::at_least(
            "theory_draws",
            self.theory_draws as u64,
            self.data_draws as u64,
        )?;
        ParamError::at_least("draw_chains", self.draw_chains as u64, 1)?;
        ParamError::at_least("draw_steps", self.draw_steps as u64, 100)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        (self.data_draws * self.draw_chains * (self.draw_burn_in + self.draw_steps)) as f64
            * self.batch as f64
            * 4.0
            + self.theory_draws as f64 * self.samples as f64 * 10.0
            + 2.0
                * self.chains as f64
                * (self.burn_in + self.steps) as f64
                * self.batch as f64
                * self.input_variances.len() as f64
                * 2.0
    }
}

/// One chain's sums: of e = theta - theta^, and of e e^T (row-major d x d); plus a thinned trace.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainSums {
    /// sum_t e_t.
    pub first: Vec<f64>,
    /// sum_t e_t e_t^T, row-major.
    pub second: Vec<f64>,
    /// Every few steps, (e_1, e_2).
    pub trace: Vec<(f64, f64)>,
}

/// Runs one chain of preconditioned SGD theta <- theta - eta P g_b from theta^.
fn chain(
    problem: &Problem,
    preconditioner: &Array2<f64>,
    eta: f64,
    p: &Params,
    (burn_in, steps): (usize, usize),
    rng: &mut Stream,
    ctx: &RunContext,
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
    let thin = (steps / 250).max(1);
    for t in 0..burn_in + steps {
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
        if t % 4096 == 0 {
            ctx.check_cancelled()?;
        }
        if t >= burn_in {
            for i in 0..d {
                let ei = theta[i] - problem.minimizer[i];
                sums.first[i] += ei;
                for j in 0..d {
                    sums.second[i * d + j] += ei * (theta[j] - problem.minimizer[j]);
                }
            }
            if (t - burn_in).is_multiple_of(thin) && d == 2 {
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

/// The Bayesian model of the drawn data set: what every variant's theory needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// H of the Bayesian loss (the least-squares Hessian over sigma^2).
    pub hessian: Array2<f64>,
    /// C, the per-sample gradient covariance at theta^ of the Bayesian loss.
    pub noise: Array2<f64>,
    /// The posterior covariance (N H)^-1.
    pub posterior: Array2<f64>,
    /// H^-1.
    pub h_inv: Array2<f64>,
    /// theta^.
    pub centre: Array1<f64>,
}

impl Model {
    /// The preconditioner P and the drift P H of variant `k` (0 plain, 1 preconditioned).
    fn variant(&self, k: usize) -> (Array2<f64>, Array2<f64>) {
        let identity = Array2::<f64>::eye(self.hessian.nrows());
        if k == 0 {
            (identity, self.hessian.clone())
        } else {
            (self.h_inv.clone(), identity)
        }
    }

    /// P C P of variant `k`.
    fn pcp(&self, k: usize) -> Array2<f64> {
        let (precond, _) = self.variant(k);
        mat_mul(
            mat_mul(precond.view(), self.noise.view()).view(),
            precond.view(),
        )
    }

    /// The continuous-time stationary covariance of variant `k` at step `eta`.
    fn continuous(&self, k: usize, eta: f64, b: f64) -> Result<Array2<f64>, ExperimentError> {
        let (_, drift) = self.variant(k);
        Ok(solve_lyapunov(&drift, &(&self.pcp(k) * (eta / b)))?)
    }

    /// Mandt et al.'s KL-optimal step 2 d b / (N tr(P C)) of variant `k`.
    fn eta_star(&self, k: usize, n: f64, b: f64) -> f64 {
        let (precond, _) = self.variant(k);
        let d = self.hessian.nrows();
        let trace_pc: f64 = (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| precond[[i, j]] * self.noise[[j, i]])
                    .sum::<f64>()
            })
            .sum();
        2.0 * d as f64 * b / (n * trace_pc)
    }

    /// The continuous-time KL of variant `k` at its own eta*.
    fn kl_theory(&self, k: usize, n: f64, b: f64) -> Result<f64, ExperimentError> {
        let s = self.continuous(k, self.eta_star(k, n, b), b)?;
        kl_divergence(&self.centre, &s, &self.centre, &self.posterior)
    }

    /// KL(N(theta^ + mean, cov) || posterior).
    fn kl(&self, mean: &Array1<f64>, cov: &Array2<f64>) -> f64 {
        kl_divergence(&(&self.centre + mean), cov, &self.centre, &self.posterior)
            .unwrap_or(f64::NAN)
    }
}

/// One variant (plain or preconditioned): its step, its theory and its chains.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// "plain" or "preconditioned".
    pub name: &'static str,
    /// Its KL-optimal step eta*.
    pub eta: f64,
    /// The continuous-time stationary covariance.
    pub continuous: Array2<f64>,
    /// The discrete-time stationary covariance.
    pub discrete: Array2<f64>,
    /// The chains' sums.
    pub chains: Vec<ChainSums>,
    /// Bootstrap resamples of the chains, for the KL interval.
    pub resamples: Resamples,
}

/// The theory of one fresh data draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrawTheory {
    /// tr C of the draw.
    pub trace_c: f64,
    /// Continuous-time KL of plain SGD at its eta*.
    pub kl_plain: f64,
    /// Continuous-time KL of preconditioned SGD at its eta*.
    pub kl_preconditioned: f64,
}

impl DrawTheory {
    /// The KL ratio plain over preconditioned.
    fn ratio(&self) -> f64 {
        self.kl_plain / self.kl_preconditioned
    }
}

/// The study over fresh data draws: each draw's theory, and plain SGD chains on the first ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Draws {
    /// The theory of every draw.
    pub theory: Vec<DrawTheory>,
    /// The models of the draws run by SGD.
    pub models: Vec<Model>,
    /// Their chains, draw by draw.
    pub chains: Vec<Vec<ChainSums>>,
    /// Bootstrap resamples over the theory draws, for the interval of the median ratio.
    pub resamples: Resamples,
}

/// Draws `theory_draws` fresh data sets (stream "data-draws", j), computes their theory, and runs
/// `draw_chains` chains of plain SGD at eta* on the first `data_draws` of them.
fn measure_draws(p: &Params, ctx: &RunContext) -> Result<Draws, ExperimentError> {
    let streams = ctx.streams();
    let (n, b) = (p.samples as f64, p.batch as f64);
    let all: Vec<(Problem, Model, DrawTheory)> = map_indexed(p.theory_draws, |j| {
        let (problem, model) = model(p, &mut streams.stream("data-draws", j as u64))?;
        let theory = DrawTheory {
            trace_c: (0..model.noise.nrows()).map(|i| model.noise[[i, i]]).sum(),
            kl_plain: model.kl_theory(0, n, b)?,
            kl_preconditioned: model.kl_theory(1, n, b)?,
        };
        Ok::<_, ExperimentError>((problem, model, theory))
    })
    .into_iter()
    .collect::<Result<_, _>>()?;
    ctx.check_cancelled()?;
    let k = p.data_draws;
    let per = ctx.scaled(p.draw_chains);
    let identity = Array2::<f64>::eye(p.input_variances.len());
    let flat =
        cancellable_trajectories(&streams, "draw-chains", k * per, &ctx.cancel, |i, rng| {
            let (problem, model, _) = &all[i / per];
            let eta = model.eta_star(0, n, b);
            chain(
                problem,
                &identity,
                eta,
                p,
                (p.draw_burn_in, p.draw_steps),
                rng,
                ctx,
            )
        })?;
    let chains = flat.chunks(per).map(<[ChainSums]>::to_vec).collect();
    let resamples = Resamples::draw(
        &mut streams.stream("bootstrap-draws", 0),
        p.theory_draws,
        p.bootstrap_resamples,
    );
    Ok(Draws {
        theory: all.iter().map(|(_, _, t)| *t).collect(),
        models: all.into_iter().take(k).map(|(_, m, _)| m).collect(),
        chains,
        resamples,
    })
}

/// The measured KL of plain SGD on each data draw run by SGD.
fn draw_kls(p: &Params, m: &Measured) -> Vec<f64> {
    let d = p.input_variances.len();
    m.draws
        .models
        .iter()
        .zip(&m.draws.chains)
        .map(|(model, chains)| {
            let all: Vec<&ChainSums> = chains.iter().collect();
            let (mean, cov) = pooled_fit(&all, d, p.draw_steps);
            model.kl(&mean, &cov)
        })
        .collect()
}

/// The data-draw study: the mean measured KL of plain SGD over draws, and the distribution of
/// the theory's KL ratio over draws, with the main draw's place in it.
fn draw_metrics(p: &Params, m: &Measured, out: &mut Metrics) {
    let d = p.input_variances.len();
    let kls = draw_kls(p, m);
    out.estimate("kl_plain_mean_over_draws", mean_estimate(&kls));
    let k = kls.len();
    let theory_k: Vec<f64> = m.draws.theory[..k].iter().map(|t| t.kl_plain).collect();
    out.estimate("kl_plain_theory_mean_over_draws", mean_estimate(&theory_k));
    let ratios: Vec<f64> = m.draws.theory.iter().map(DrawTheory::ratio).collect();
    let median_of = |idx: &[usize]| {
        let mut v: Vec<f64> = idx.iter().map(|&i| ratios[i]).collect();
        v.sort_by(f64::total_cmp);
        quantile_sorted(&v, 0.5)
    };
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    out.estimate_with_interval(
        "kl_ratio_theory_median",
        quantile_sorted(&sorted, 0.5),
        m.draws.resamples.ci95(median_of),
    );
    out.measured("kl_ratio_theory_q025", quantile_sorted(&sorted, 0.025));
    out.measured("kl_ratio_theory_q975", quantile_sorted(&sorted, 0.975));
    let main_trace: f64 = (0..d).map(|i| m.model.noise[[i, i]]).sum();
    let below = m
        .draws
        .theory
        .iter()
        .filter(|t| t.trace_c < main_trace)
        .count();
    out.measured(
        "main_draw_trace_percentile",
        below as f64 / m.draws.theory.len() as f64,
    );
}

/// The kind `training-phases/sgd-as-bayes`.
#[derive(Debug)]
pub struct SgdAsBayes;

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The model of the drawn data.
    pub model: Model,
    /// Plain, then preconditioned.
    pub variants: Vec<Variant>,
    /// Bootstrap resamples for the interval of the KL ratio.
    pub ratio_resamples: Resamples,
    /// The study over fresh data draws.
    pub draws: Draws,
    /// Random samples drawn.
    pub samples: u64,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.samples
    }
}

/// The Bayesian model of a fresh data set.
fn model(p: &Params, rng: &mut Stream) -> Result<(Problem, Model), ExperimentError> {
    let spec = LeastSquaresSpec {
        samples: p.samples,
        spectrum: p.input_variances.clone(),
        label_noise: p.label_noise,
    };
    let (ls, _) = generate_least_squares(&spec, rng)?;
    let problem = Problem::new(ls)?;
    let s2 = p.label_noise * p.label_noise;
    // The Bayesian loss is the least-squares loss divided by sigma^2.
    let hessian = &problem.hessian / s2;
    let noise = &problem.noise_covariance / (s2 * s2);
    let posterior = spd_inverse(&(&hessian * p.samples as f64))?;
    let h_inv = spd_inverse(&hessian)?;
    let centre = Array1::from(problem.minimizer.clone());
    Ok((
        problem,
        Model {
            hessian,
            noise,
            posterior,
            h_inv,
            centre,
        },
    ))
}

impl Experiment for SgdAsBayes {
    const KIND: &'static str = "training-phases/sgd-as-bayes";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let (problem, model) = model(p, &mut streams.stream("data", 0))?;
        let d = p.input_variances.len();
        let (n, b) = (p.samples as f64, p.batch as f64);
        let chains = ctx.scaled(p.chains);
        let draws = measure_draws(p, ctx)?;
        let mut variants = Vec::new();
        for (k, name) in ["plain", "preconditioned"].into_iter().enumerate() {
            let (precond, drift) = model.variant(k);
            let pc = model.pcp(k);
            let eta = model.eta_star(k, n, b);
            // Continuous: (P H) S + S (P H)^T = (eta/b) P C P; P H is H for plain SGD and I with
            // P = H^-1.
            let continuous = solve_lyapunov(&drift, &(&pc * (eta / b)))?;
            let step_matrix = &Array2::<f64>::eye(d) - &(&drift * eta);
            let discrete = discrete_lyapunov(&step_matrix, &(&pc * (eta * eta / b)))?;
            let sums = cancellable_trajectories(&streams, name, chains, &ctx.cancel, |_, rng| {
                chain(&problem, &precond, eta, p, (p.burn_in, p.steps), rng, ctx)
            })?;
            let mut boot_rng = streams.stream("bootstrap", k as u64);
            variants.push(Variant {
                name,
                eta,
                continuous,
                discrete,
                chains: sums,
                resamples: Resamples::draw(&mut boot_rng, chains, p.bootstrap_resamples),
            });
        }
        let ratio_resamples = Resamples::draw(
            &mut streams.stream("bootstrap", 2),
            chains,
            p.bootstrap_resamples,
        );
        let draw_samples = draws.chains.iter().map(Vec::len).sum::<usize>()
            * (p.draw_burn_in + p.draw_steps)
            * p.batch;
        Ok(Measured {
            model,
            variants,
            ratio_resamples,
            draws,
            samples: (2 * chains * (p.burn_in + p.steps) * p.batch + draw_samples) as u64,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        variant_metrics(p, m, &mut out)?;
        draw_metrics(p, m, &mut out);
        out.table("covariances", covariance_table(p, m));
        out.table("kl-against-step", kl_table(p, m)?);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("covariance-ellipses", ellipse_figure(p, m)?);
        Ok(figures)
    }
}

/// The Gaussian fit of the chosen chains of a variant, and its KL to the posterior.
fn kl_of(m: &Measured, v: &Variant, idx: &[usize], steps: usize) -> f64 {
    let chosen: Vec<&ChainSums> = idx.iter().map(|&i| &v.chains[i]).collect();
    let (mean, cov) = pooled_fit(&chosen, m.model.centre.len(), steps);
    m.model.kl(&mean, &cov)
}

/// Largest |z| of the chains' second moments about theta^ against the discrete theory: chains are
/// independent replicates.
fn discrete_max_abs_z(v: &Variant, d: usize, steps: usize) -> f64 {
    let mut max_z: f64 = 0.0;
    for i in 0..d {
        for j in 0..d {
            let per_chain: Vec<f64> = v
                .chains
                .iter()
                .map(|c| c.second[i * d + j] / steps as f64)
                .collect();
            let e = mean_estimate(&per_chain);
            let allowance =
                MULTIPLICATIVE_ALLOWANCE * (v.discrete[[i, i]] * v.discrete[[j, j]]).sqrt();
            let se = (e.se * e.se + allowance * allowance).sqrt();
            max_z = max_z.max(((e.value - v.discrete[[i, j]]) / se).abs());
        }
    }
    max_z
}

/// KL of each variant with its bootstrap interval, its theory, and the covariance errors.
fn variant_metrics(p: &Params, m: &Measured, out: &mut Metrics) -> Result<(), ExperimentError> {
    let d = m.model.centre.len();
    let all: Vec<usize> = (0..m.variants[0].chains.len()).collect();
    let mut lyapunov = Vec::new();
    let mut max_z = Vec::new();
    let mut kls = Vec::new();
    for v in &m.variants {
        let key = v.name;
        let kl = kl_of(m, v, &all, p.steps);
        let kl_ci = v.resamples.ci95(|idx| kl_of(m, v, idx, p.steps));
        kls.push(kl);
        // eta* and the theory values depend on the drawn data set (through H and C): measured.
        out.measured(&format!("eta_star_{key}"), v.eta);
        out.estimate_with_interval(&format!("kl_{key}"), kl, kl_ci);
        out.measured(
            &format!("kl_{key}_theory"),
            kl_divergence(
                &m.model.centre,
                &v.continuous,
                &m.model.centre,
                &m.model.posterior,
            )?,
        );
        out.measured(
            &format!("kl_{key}_discrete_theory"),
            kl_divergence(
                &m.model.centre,
                &v.discrete,
                &m.model.centre,
                &m.model.posterior,
            )?,
        );
        let z = discrete_max_abs_z(v, d, p.steps);
        out.measured(&format!("discrete_stationary_max_abs_z_{key}"), z);
        max_z.push(z);
        let second_about_centre = Array2::from_shape_fn((d, d), |(i, j)| {
            v.chains.iter().map(|c| c.second[i * d + j]).sum::<f64>()
                / (v.chains.len() * p.steps) as f64
        });
        let err = max_scaled_difference(&second_about_centre, &v.continuous);
        out.measured(&format!("lyapunov_rel_error_{key}"), err);
        lyapunov.push(err);
    }
    out.measured("lyapunov_rel_error_max", lyapunov[0].max(lyapunov[1]));
    out.measured("discrete_stationary_max_abs_z", max_z[0].max(max_z[1]));
    // The ratio's interval: one bootstrap over chain indices applied to both (independent) variants.
    let (plain, pre) = (&m.variants[0], &m.variants[1]);
    let ratio_ci = m
        .ratio_resamples
        .ci95(|idx| kl_of(m, plain, idx, p.steps) / kl_of(m, pre, idx, p.steps));
    out.estimate_with_interval(
        "kl_ratio_plain_over_preconditioned",
        kls[0] / kls[1],
        ratio_ci,
    );
    Ok(())
}

/// Posterior, continuous and discrete theory, and measured second moments, entry by entry.
fn covariance_table(p: &Params, m: &Measured) -> Table {
    let d = m.model.centre.len();
    let mut table = Table::new([
        "variant",
        "entry",
        "posterior",
        "lyapunov_continuous",
        "stationary_discrete",
        "measured",
    ]);
    let entries = [(0usize, 0usize, "s11"), (1, 1, "s22"), (0, 1, "s12")];
    for v in &m.variants {
        let all: Vec<&ChainSums> = v.chains.iter().collect();
        let (mean, cov) = pooled_fit(&all, d, p.steps);
        for &(i, j, label) in &entries {
            table.push(row![
                v.name,
                label,
                m.model.posterior[[i, j]],
                v.continuous[[i, j]],
                v.discrete[[i, j]],
                cov[[i, j]] + mean[i] * mean[j]
            ]);
        }
    }
    table
}

/// KL of the continuous-time stationary Gaussian against the step, eta / eta* from 0.1 to 10.
fn kl_curve(p: &Params, m: &Measured, k: usize) -> Result<Vec<(f64, f64, f64)>, ExperimentError> {
    let v = &m.variants[k];
    let mut out = Vec::new();
    for i in 0..=40 {
        let ratio = powf(10.0, -1.0 + f64::from(i) / 20.0);
        let eta = v.eta * ratio;
        let s = m.model.continuous(k, eta, p.batch as f64)?;
        let kl = kl_divergence(&m.model.centre, &s, &m.model.centre, &m.model.posterior)?;
        out.push((ratio, eta, kl));
    }
    Ok(out)
}

/// The KL curves of both variants, as a table.
fn kl_table(p: &Params, m: &Measured) -> Result<Table, ExperimentError> {
    let mut table = Table::new(["variant", "eta_over_eta_star", "eta", "kl_theory"]);
    for (k, v) in m.variants.iter().enumerate() {
        for (ratio, eta, kl) in kl_curve(p, m, k)? {
            table.push(row![v.name, ratio, eta, kl]);
        }
    }
    Ok(table)
}

/// The 2-sigma ellipses of both variants (in units of sqrt(N)) and the KL against the step.
fn ellipse_figure(p: &Params, m: &Measured) -> Result<FigureData, ExperimentError> {
    let n = p.samples as f64;
    let root_n = n.sqrt();
    let d = m.model.centre.len();
    let mut panels = Vec::new();
    let mut kl_panel = CurvesPanel::new(
        "KL(q ‖ posterior) against the step",
        Axis::log("η / η*"),
        Axis::log("KL"),
    );
    for (k, v) in m.variants.iter().enumerate() {
        let all: Vec<&ChainSums> = v.chains.iter().collect();
        let (mean, cov) = pooled_fit(&all, d, p.steps);
        let scaled = |a: &Array2<f64>| a * n;
        let trace = v
            .chains
            .first()
            .map(|c| {
                c.trace
                    .iter()
                    .map(|&(a, b)| MeasuredPoint::new(a * root_n, b * root_n))
                    .collect()
            })
            .unwrap_or_default();
        let centre = [mean[0] * root_n, mean[1] * root_n];
        let panel = CurvesPanel::new(
            format!("{} SGD at η* = {:.4}: 2σ ellipses", v.name, v.eta),
            Axis::linear("√N (θ₁ − θ̂₁)").with_range(-3.2, 3.2),
            Axis::linear("√N (θ₂ − θ̂₂)").with_range(-2.0, 2.0),
        )
        .measured(Points::new("iterates", 2, trace))
        .theory(Line::new(
            "posterior",
            6,
            ellipse_points([0.0, 0.0], &scaled(&m.model.posterior), 2.0, 120)?,
        ))
        .theory(Line::new(
            "Lyapunov prediction",
            1,
            ellipse_points([0.0, 0.0], &scaled(&v.continuous), 2.0, 120)?,
        ))
        .guide(Line::new(
            "fitted to the chains",
            0,
            ellipse_points(centre, &scaled(&cov), 2.0, 120)?,
        ));
        panels.push(panel.into());
        let kl = kl_of(m, v, &(0..v.chains.len()).collect::<Vec<_>>(), p.steps);
        let ci = v.resamples.ci95(|idx| kl_of(m, v, idx, p.steps));
        let curve = kl_curve(p, m, k)?;
        kl_panel = kl_panel
            .theory(Line::new(
                format!("{}, theory", v.name),
                k,
                curve.into_iter().map(|(r, _, kl)| (r, kl)),
            ))
            .measured(Points::new(
                format!("{}, measured at η*", v.name),
                k,
                vec![MeasuredPoint::with_ci(1.0, kl, ci)],
            ));
    }
    // The primary measurement: plain SGD's KL averaged over fresh data sets, beside the main one's
    // (shifted right a little for reading).
    let e = mean_estimate(&draw_kls(p, m));
    kl_panel = kl_panel.measured(Points::new(
        "plain, mean over data sets",
        3,
        vec![MeasuredPoint::with_ci(1.12, e.value, e.ci95())],
    ));
    panels.push(kl_panel.into());
    Ok(FigureData::stacked(panels))
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

    /// A hand-made measurement: H = diag(1, 10), C = H, chains whose second moments are exactly
    /// the continuous theory.
    fn hand_made(p: &Params) -> Measured {
        let hessian = ndarray::arr2(&[[1.0, 0.0], [0.0, 10.0]]);
        let n = p.samples as f64;
        let model = Model {
            hessian: hessian.clone(),
            noise: hessian.clone(),
            posterior: spd_inverse(&(&hessian * n)).unwrap(),
            h_inv: spd_inverse(&hessian).unwrap(),
            centre: Array1::zeros(2),
        };
        let mut rng = sgd_sim::rng::Streams::new(1).stream("t", 0);
        let variants: Vec<Variant> = (0..2)
            .map(|k| {
                let eta = 0.004 * (k + 1) as f64;
                let continuous = model.continuous(k, eta, p.batch as f64).unwrap();
                let second: Vec<f64> = continuous.iter().map(|v| v * p.steps as f64).collect();
                let chains = (0..4)
                    .map(|_| ChainSums {
                        first: vec![0.0, 0.0],
                        second: second.clone(),
                        trace: vec![(0.01, -0.01)],
                    })
                    .collect();
                Variant {
                    name: ["plain", "preconditioned"][k],
                    eta,
                    discrete: continuous.clone(),
                    continuous,
                    chains,
                    resamples: Resamples::draw(&mut rng, 4, 40),
                }
            })
            .collect();
        let draws = Draws {
            theory: vec![
                DrawTheory {
                    trace_c: 1.0,
                    kl_plain: 0.5,
                    kl_preconditioned: 0.01,
                },
                DrawTheory {
                    trace_c: 30.0,
                    kl_plain: 0.6,
                    kl_preconditioned: 0.02,
                },
            ],
            models: vec![model.clone(), model.clone()],
            chains: vec![variants[0].chains.clone(), variants[0].chains.clone()],
            resamples: Resamples::draw(&mut rng, 2, 40),
        };
        Measured {
            model,
            variants,
            ratio_resamples: Resamples::draw(&mut rng, 4, 40),
            draws,
            samples: 8,
        }
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let p = Params {
            steps: 100,
            draw_steps: 100,
            ..Params::default()
        };
        let m = hand_made(&p);
        let out = SgdAsBayes::metrics(&p, &m).unwrap();
        // The chains reproduce the continuous theory exactly: no error, and KL equal to its theory.
        assert!(out.value("lyapunov_rel_error_max").unwrap() < 1e-12);
        let kl = out.value("kl_plain").unwrap();
        assert!((kl - out.value("kl_plain_theory").unwrap()).abs() < 1e-12);
        // Identical chains: the bootstrap interval has zero width.
        let ci = out.values["kl_plain"].ci.unwrap();
        assert!((ci[1] - ci[0]).abs() < 1e-12);
        assert_eq!(out.tables["covariances"].rows.len(), 6);
        // Two draws with the main draw's chains: the mean KL over draws is the main draw's KL.
        let over = out.value("kl_plain_mean_over_draws").unwrap();
        assert!((over - kl).abs() < 1e-12);
        assert!((out.value("kl_ratio_theory_median").unwrap() - 40.0).abs() < 1e-9);
        // tr C of the main draw (11) lies above one of the two draws.
        assert_eq!(out.value("main_draw_trace_percentile"), Some(0.5));
        assert_eq!(out.tables["kl-against-step"].rows.len(), 82);
        let figures = SgdAsBayes::figures(&p, &m).unwrap().into_map();
        assert_eq!(figures["covariance-ellipses"].panels.len(), 3);
    }
}
