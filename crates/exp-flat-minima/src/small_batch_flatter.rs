//! Claim `small-batch-flatter`: do small batches find flatter minima that generalize better than
//! large batches (Keskar et al. 2017)? A pre-registered comparison on a small tanh network.
//!
//! Task: regression on x ~ N(0, I_d) with targets from a random two-layer tanh teacher of
//! `teacher_hidden` units plus Gaussian label noise; a training set and a held-out test set with
//! noisy labels, drawn once with the claim's seed. Student: [`crate::network::TanhNetwork`],
//! trained with epoch-shuffle minibatches (one permutation per epoch, consecutive slices).
//!
//! For every seed s (the initialization and the batch order) three runs start from the same
//! initialization:
//! - large: b = `large_batch` at step size eta;
//! - small, same eta: b = `small_batch` at eta (protocol "same eta");
//! - small, linear scaling: b = `small_batch` at eta * small/large (protocol "linear scaling", the
//!   step size proportional to the batch size, anchored at the large batch).
//!
//! Every run stops at the first step whose full training loss is at most `target_loss` (checked
//! after every epoch, and step by step within the epoch that crosses), so all runs are compared at
//! the same training loss. Sharpness is the top
//! eigenvalue of the Hessian of the training loss there, by Lanczos on exact Hessian-vector
//! products ([`crate::network::HessianOperator`]), checked against power iteration.
//!
//! Per protocol the paired statistics over seeds are the geometric mean of the sharpness ratio
//! large/small and the mean test-loss gap large - small, with percentile bootstrap intervals over
//! seeds.

use crate::network::{Dataset, HessianOperator, TanhNetwork};
use crate::spectrum::{TopEigen, lanczos_top, power_top};
use claim_spec::figure::{Axis, CategoriesPanel, CategorySeries, FigureData, PairedPanel, Value};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{exp, ln, tanh};
use sgd_sim::parallel::map_indexed;
use sgd_sim::rng::{Stream, Streams, shuffle, standard_normal};
use sgd_sim::stats::{Resamples, mean_estimate};

/// Parameters of `flat-minima/small-batch-flatter`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Input dimension d.
    pub inputs: usize,
    /// Hidden units of the student.
    pub hidden: usize,
    /// Hidden units of the teacher.
    pub teacher_hidden: usize,
    /// Standard deviation of the label noise.
    pub label_noise: f64,
    /// Training examples N.
    pub train_samples: usize,
    /// Test examples.
    pub test_samples: usize,
    /// The small batch size (divides N).
    pub small_batch: usize,
    /// The large batch size (divides N).
    pub large_batch: usize,
    /// Seeds (initializations) per configuration.
    pub seeds: usize,
    /// Step size of the large batch, shared by the small batch in the same-eta protocol.
    pub learning_rate: f64,
    /// Training-loss target (mean of (f - y)^2 / 2 over the training set).
    pub target_loss: f64,
    /// Epochs after which a run that has not reached the target stops (and counts as failed).
    pub max_epochs: usize,
    /// Largest Krylov dimension of Lanczos.
    pub lanczos_products: usize,
    /// Largest number of power-iteration products.
    pub power_products: usize,
    /// Bootstrap resamples of the seeds.
    pub bootstrap_resamples: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            inputs: 10,
            hidden: 20,
            teacher_hidden: 4,
            label_noise: 0.5,
            train_samples: 1024,
            test_samples: 4096,
            small_batch: 8,
            large_batch: 512,
            seeds: 16,
            learning_rate: 0.1,
            target_loss: 0.15,
            max_epochs: 3000,
            lanczos_products: 80,
            power_products: 2000,
            bootstrap_resamples: 10_000,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("inputs", self.inputs as u64, 1)?;
        ParamError::at_least("hidden", self.hidden as u64, 1)?;
        ParamError::at_least("teacher_hidden", self.teacher_hidden as u64, 1)?;
        ParamError::non_negative("label_noise", self.label_noise)?;
        ParamError::at_least("train_samples", self.train_samples as u64, 2)?;
        ParamError::at_least("test_samples", self.test_samples as u64, 1)?;
        for (key, b) in [
            ("small_batch", self.small_batch),
            ("large_batch", self.large_batch),
        ] {
            ParamError::at_least(key, b as u64, 1)?;
            if b > self.train_samples || !self.train_samples.is_multiple_of(b) {
                return Err(ParamError::new(
                    key,
                    format!("must divide train_samples = {}", self.train_samples),
                ));
            }
        }
        if self.small_batch >= self.large_batch {
            return Err(ParamError::new(
                "small_batch",
                "must be smaller than large_batch",
            ));
        }
        ParamError::at_least("seeds", self.seeds as u64, 2)?;
        ParamError::positive("learning_rate", self.learning_rate)?;
        ParamError::positive("target_loss", self.target_loss)?;
        ParamError::at_least("max_epochs", self.max_epochs as u64, 1)?;
        ParamError::at_least("lanczos_products", self.lanczos_products as u64, 2)?;
        ParamError::at_least("power_products", self.power_products as u64, 2)?;
        ParamError::at_least("bootstrap_resamples", self.bootstrap_resamples as u64, 100)?;
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        // Three runs per seed, each at most max_epochs passes over the data plus one loss pass per
        // epoch, at about (2 h d) multiply-adds per example, counted in units of 100.
        let per_example = (2 * self.hidden * self.inputs) as f64 / 100.0;
        3.0 * self.seeds as f64
            * self.max_epochs as f64
            * 2.0
            * self.train_samples as f64
            * per_example
    }
}

/// The three training configurations per seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Config {
    /// Large batch at eta.
    Large,
    /// Small batch at the same eta.
    SmallSameEta,
    /// Small batch at eta * small / large.
    SmallLinear,
}

const CONFIGS: [Config; 3] = [Config::Large, Config::SmallSameEta, Config::SmallLinear];

impl Config {
    fn label(self) -> &'static str {
        match self {
            Config::Large => "large",
            Config::SmallSameEta => "small-same-eta",
            Config::SmallLinear => "small-linear-scaling",
        }
    }
}

/// The outcome of one training run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunResult {
    /// Whether the training loss reached the target.
    pub reached: bool,
    /// Whether the loss became non-finite or exceeded 1e6.
    pub diverged: bool,
    /// Epochs run.
    pub epochs: usize,
    /// SGD steps taken.
    pub steps: u64,
    /// Final training loss.
    pub train_loss: f64,
    /// Final test loss.
    pub test_loss: f64,
    /// Top Hessian eigenvalue by Lanczos.
    pub lanczos: TopEigen,
    /// Top-magnitude Hessian eigenvalue by power iteration.
    pub power: TopEigen,
}

/// The synthetic task: a teacher network's outputs plus label noise.
pub fn make_task(p: &Params, streams: &Streams) -> (Dataset, Dataset) {
    let mut rng = streams.stream("data", 0);
    let d = p.inputs;
    let m = p.teacher_hidden;
    // Teacher weights N(0, 2/d) (pre-activations of variance ~2: clearly nonlinear), output
    // weights N(0, 1).
    let t: Vec<f64> = (0..m * d)
        .map(|_| (2.0 / d as f64).sqrt() * standard_normal(&mut rng))
        .collect();
    let u: Vec<f64> = (0..m).map(|_| standard_normal(&mut rng)).collect();
    let sample = |n: usize, rng: &mut Stream| {
        let inputs: Vec<f64> = (0..n * d).map(|_| standard_normal(rng)).collect();
        let targets: Vec<f64> = (0..n)
            .map(|i| {
                let x = &inputs[i * d..(i + 1) * d];
                let clean: f64 = (0..m)
                    .map(|j| {
                        let z: f64 = t[j * d..(j + 1) * d]
                            .iter()
                            .zip(x)
                            .map(|(a, b)| a * b)
                            .sum();
                        u[j] * tanh(z)
                    })
                    .sum();
                clean + p.label_noise * standard_normal(rng)
            })
            .collect();
        Dataset {
            inputs,
            targets,
            dim: d,
        }
    };
    let train = sample(p.train_samples, &mut rng);
    let test = sample(p.test_samples, &mut rng);
    (train, test)
}

/// One SGD step on the examples of `chunk`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn sgd_step(
    net: TanhNetwork,
    train: &Dataset,
    theta: &mut [f64],
    chunk: &[usize],
    eta: f64,
    weight: f64,
    grad: &mut [f64],
    acts: &mut [f64],
) {
    grad.iter_mut().for_each(|g| *g = 0.0);
    for &i in chunk {
        net.accumulate_gradient(theta, train.input(i), train.targets[i], weight, grad, acts);
    }
    theta
        .iter_mut()
        .zip(grad.iter())
        .for_each(|(t, g)| *t -= eta * g);
}

/// Trains from `theta` with epoch-shuffle batches of size b at step size eta until the training
/// loss is at most `target`, then measures the sharpness. The loss is evaluated after every epoch;
/// the epoch in which it first falls below the target is replayed step by step, so the run stops at
/// the first step whose loss is at most the target (a dip below the target that is undone within
/// one epoch is not seen).
///
/// # Errors
/// A failed eigen-solve.
#[allow(clippy::too_many_arguments)]
pub fn train_run(
    net: TanhNetwork,
    train: &Dataset,
    test: &Dataset,
    mut theta: Vec<f64>,
    batch: usize,
    eta: f64,
    target: f64,
    max_epochs: usize,
    rng: &mut Stream,
    lanczos_products: usize,
    power_products: usize,
) -> Result<RunResult, ExperimentError> {
    let n = train.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut grad = vec![0.0; theta.len()];
    let mut acts = vec![0.0; net.hidden];
    let weight = 1.0 / batch as f64;
    let mut steps = 0u64;
    let mut epochs = 0;
    let mut train_loss = net.loss(&theta, train, &mut acts);
    let mut reached = train_loss <= target;
    let mut diverged = false;
    let mut epoch_start = theta.clone();
    while !reached && epochs < max_epochs {
        shuffle(rng, &mut order);
        epoch_start.copy_from_slice(&theta);
        for chunk in order.chunks(batch) {
            sgd_step(
                net, train, &mut theta, chunk, eta, weight, &mut grad, &mut acts,
            );
        }
        epochs += 1;
        train_loss = net.loss(&theta, train, &mut acts);
        if !train_loss.is_finite() || train_loss > 1e6 {
            diverged = true;
            break;
        }
        if train_loss <= target {
            // Replay the epoch from its start, in the same order (the same bits), checking the
            // loss after every step: the run stops at the first step with loss <= target.
            theta.copy_from_slice(&epoch_start);
            for chunk in order.chunks(batch) {
                sgd_step(
                    net, train, &mut theta, chunk, eta, weight, &mut grad, &mut acts,
                );
                steps += 1;
                train_loss = net.loss(&theta, train, &mut acts);
                if train_loss <= target {
                    break;
                }
            }
            reached = true;
        } else {
            steps += (n / batch) as u64;
        }
    }
    let test_loss = net.loss(&theta, test, &mut acts);
    let nan = TopEigen {
        value: f64::NAN,
        products: 0,
        residual: f64::NAN,
    };
    if diverged || theta.iter().any(|t| !t.is_finite()) {
        return Ok(RunResult {
            reached: false,
            diverged: true,
            epochs,
            steps,
            train_loss,
            test_loss,
            lanczos: nan,
            power: nan,
        });
    }
    let op = HessianOperator::new(net, &theta, train);
    let start: Vec<f64> = (0..theta.len()).map(|_| standard_normal(rng)).collect();
    let lanczos = lanczos_top(|u, out| op.apply(u, out), &start, lanczos_products, 1e-10)?;
    let power = power_top(|u, out| op.apply(u, out), &start, power_products, 1e-9)?;
    Ok(RunResult {
        reached,
        diverged: false,
        epochs,
        steps,
        train_loss,
        test_loss,
        lanczos,
        power,
    })
}

/// The kind `flat-minima/small-batch-flatter`.
#[derive(Debug)]
pub struct SmallBatchFlatter;

/// The two protocols: their name and the configuration of their small batch.
const PROTOCOLS: [(&str, usize); 2] = [("same_eta", 1), ("linear_scaling", 2)];

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Seeds run (after `--scale`).
    pub seeds: usize,
    /// The runs, seed-major: seed s, configuration c at `s * 3 + c`.
    pub runs: Vec<RunResult>,
    /// Per protocol: the seeds whose two runs are both valid.
    pub pairs: Vec<Vec<usize>>,
    /// Per protocol: bootstrap resamples of its pairs for the sharpness ratio, then for the gap.
    pub resamples: Vec<[Resamples; 2]>,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        self.runs.iter().map(|r| r.steps).sum()
    }
}

impl Measured {
    fn at(&self, seed: usize, config: usize) -> &RunResult {
        &self.runs[seed * CONFIGS.len() + config]
    }

    /// Per pair of protocol `k`: ln(sharpness large / small) and test loss large - small.
    fn pair_values(&self, k: usize) -> Vec<(f64, f64)> {
        let small = PROTOCOLS[k].1;
        self.pairs[k]
            .iter()
            .map(|&s| {
                let (l, r) = (self.at(s, 0), self.at(s, small));
                (
                    ln(l.lanczos.value / r.lanczos.value),
                    l.test_loss - r.test_loss,
                )
            })
            .collect()
    }
}

/// The batch size and step size of a configuration.
fn setting(p: &Params, config: Config) -> (usize, f64) {
    match config {
        Config::Large => (p.large_batch, p.learning_rate),
        Config::SmallSameEta => (p.small_batch, p.learning_rate),
        Config::SmallLinear => (
            p.small_batch,
            p.learning_rate * p.small_batch as f64 / p.large_batch as f64,
        ),
    }
}

/// One protocol's paired summary: geometric-mean ratio and mean gap, with bootstrap intervals.
struct Protocol {
    ratio: f64,
    ratio_ci: [f64; 2],
    gap: f64,
    gap_ci: [f64; 2],
    larger_fraction: f64,
    pairs: usize,
}

fn protocol(m: &Measured, k: usize) -> Protocol {
    let pairs = m.pair_values(k);
    let n = pairs.len() as f64;
    let mean_of = |idx: &[usize], f: fn(&(f64, f64)) -> f64| {
        idx.iter().map(|&i| f(&pairs[i])).sum::<f64>() / idx.len() as f64
    };
    let [ratio_boot, gap_boot] = &m.resamples[k];
    Protocol {
        ratio: exp(pairs.iter().map(|q| q.0).sum::<f64>() / n),
        ratio_ci: ratio_boot.ci95(|idx| exp(mean_of(idx, |q| q.0))),
        gap: pairs.iter().map(|q| q.1).sum::<f64>() / n,
        gap_ci: gap_boot.ci95(|idx| mean_of(idx, |q| q.1)),
        larger_fraction: pairs.iter().filter(|q| q.0 > 0.0).count() as f64 / n,
        pairs: pairs.len(),
    }
}

/// Convergence of the runs and of the eigen-solvers.
fn run_metrics(p: &Params, m: &Measured, out: &mut Metrics) {
    let total = m.runs.len();
    let reached = m.runs.iter().filter(|r| r.reached).count();
    out.measured(
        "runs_reaching_target_fraction",
        reached as f64 / total as f64,
    );
    out.measured(
        "runs_diverged",
        m.runs.iter().filter(|r| r.diverged).count() as f64,
    );
    let valid: Vec<&RunResult> = m.runs.iter().filter(|r| !r.diverged).collect();
    let rel_diff = valid
        .iter()
        .map(|r| ((r.lanczos.value - r.power.value) / r.lanczos.value).abs())
        .fold(0.0_f64, f64::max);
    out.measured("lanczos_power_rel_diff_max", rel_diff);
    out.measured(
        "lanczos_residual_max",
        valid
            .iter()
            .map(|r| r.lanczos.residual / r.lanczos.value.abs())
            .fold(0.0_f64, f64::max),
    );
    out.computed("target_loss", p.target_loss);
    out.measured(
        "final_train_loss_min",
        valid
            .iter()
            .map(|r| r.train_loss)
            .fold(f64::INFINITY, f64::min),
    );
    out.computed("noise_floor_loss", 0.5 * p.label_noise * p.label_noise);
    let net = TanhNetwork {
        inputs: p.inputs,
        hidden: p.hidden,
    };
    out.computed("parameters", net.parameter_count() as f64);
}

/// Per configuration: mean sharpness, test loss and epochs over its valid runs.
fn config_metrics(m: &Measured, out: &mut Metrics) {
    for (c, config) in CONFIGS.iter().enumerate() {
        let vals: Vec<&RunResult> = (0..m.seeds)
            .map(|s| m.at(s, c))
            .filter(|r| !r.diverged)
            .collect();
        if vals.len() >= 2 {
            let of = |f: fn(&RunResult) -> f64| -> Vec<f64> { vals.iter().map(|r| f(r)).collect() };
            let key = config.label().replace('-', "_");
            out.estimate(
                &format!("sharpness_{key}"),
                mean_estimate(&of(|r| r.lanczos.value)),
            );
            out.estimate(
                &format!("test_loss_{key}"),
                mean_estimate(&of(|r| r.test_loss)),
            );
            out.estimate(
                &format!("epochs_{key}"),
                mean_estimate(&of(|r| r.epochs as f64)),
            );
        }
    }
}

/// Every run, one row each.
fn runs_table(p: &Params, m: &Measured) -> Table {
    let mut runs = Table::new([
        "seed",
        "config",
        "batch_size",
        "learning_rate",
        "reached_target",
        "diverged",
        "epochs",
        "steps",
        "train_loss",
        "test_loss",
        "sharpness_lanczos",
        "lanczos_products",
        "sharpness_power",
        "power_products",
    ]);
    for s in 0..m.seeds {
        for (c, config) in CONFIGS.iter().enumerate() {
            let r = m.at(s, c);
            let (b, eta) = setting(p, *config);
            runs.push(row![
                s,
                config.label(),
                b,
                eta,
                if r.reached { 1.0 } else { 0.0 },
                if r.diverged { 1.0 } else { 0.0 },
                r.epochs,
                r.steps,
                r.train_loss,
                r.test_loss,
                r.lanczos.value,
                r.lanczos.products,
                r.power.value,
                r.power.products
            ]);
        }
    }
    runs
}

impl Experiment for SmallBatchFlatter {
    const KIND: &'static str = "flat-minima/small-batch-flatter";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let (train, test) = make_task(p, &streams);
        let net = TanhNetwork {
            inputs: p.inputs,
            hidden: p.hidden,
        };
        let seeds = ctx.scaled(p.seeds).max(2);
        let runs = map_indexed(seeds * CONFIGS.len(), |job| {
            ctx.check_cancelled()?;
            let seed = job / CONFIGS.len();
            let config = CONFIGS[job % CONFIGS.len()];
            let theta = net.initialize(&mut streams.stream("init", seed as u64));
            let mut rng = streams.stream(config.label(), seed as u64);
            let (batch, eta) = setting(p, config);
            train_run(
                net,
                &train,
                &test,
                theta,
                batch,
                eta,
                p.target_loss,
                p.max_epochs,
                &mut rng,
                p.lanczos_products,
                p.power_products,
            )
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        ctx.check_cancelled()?;
        let mut rng = streams.stream("bootstrap", 0);
        let mut pairs = Vec::new();
        let mut resamples = Vec::new();
        for (name, small) in PROTOCOLS {
            let valid: Vec<usize> = (0..seeds)
                .filter(|&s| {
                    !runs[s * CONFIGS.len()].diverged && !runs[s * CONFIGS.len() + small].diverged
                })
                .collect();
            if valid.len() < 2 {
                return Err(ExperimentError::Diverged {
                    step: 0,
                    reason: format!("fewer than two valid pairs in protocol {name}"),
                });
            }
            let r = p.bootstrap_resamples;
            let ratio = Resamples::draw(&mut rng, valid.len(), r);
            let gap = Resamples::draw(&mut rng, valid.len(), r);
            pairs.push(valid);
            resamples.push([ratio, gap]);
        }
        Ok(Measured {
            seeds,
            runs,
            pairs,
            resamples,
        })
    }

    fn metrics(p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        run_metrics(p, m, &mut out);
        let mut protocols = Table::new([
            "protocol",
            "sharpness_ratio_large_over_small",
            "ratio_lo",
            "ratio_hi",
            "test_loss_gap_large_minus_small",
            "gap_lo",
            "gap_hi",
            "pairs",
        ]);
        for (k, (name, _)) in PROTOCOLS.iter().enumerate() {
            let s = protocol(m, k);
            out.estimate_with_interval(&format!("sharpness_ratio_{name}"), s.ratio, s.ratio_ci);
            out.measured(&format!("sharpness_ratio_{name}_ci_lo"), s.ratio_ci[0]);
            out.estimate_with_interval(&format!("test_loss_gap_{name}"), s.gap, s.gap_ci);
            out.measured(&format!("test_loss_gap_{name}_ci_lo"), s.gap_ci[0]);
            out.measured(
                &format!("larger_sharpness_fraction_{name}"),
                s.larger_fraction,
            );
            let [rl, rh] = s.ratio_ci;
            let [gl, gh] = s.gap_ci;
            protocols.push(row![*name, s.ratio, rl, rh, s.gap, gl, gh, s.pairs]);
        }
        config_metrics(m, &mut out);
        out.table("runs", runs_table(p, m));
        out.table("protocols", protocols);
        Ok(out)
    }

    fn figures(p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("sharpness-test-loss", per_seed_figure(p, m));
        figures.add("paired", paired_figure(m));
        Ok(figures)
    }
}

/// The three configurations' names, for categorical axes.
fn config_names(p: &Params) -> Vec<String> {
    vec![
        format!("b = {}", p.large_batch),
        format!("b = {}, same η", p.small_batch),
        format!("b = {}, η scaled", p.small_batch),
    ]
}

/// Sharpness and test loss of every seed under the three configurations (seeds whose three runs
/// are all valid), with the configurations' means.
fn per_seed_figure(p: &Params, m: &Measured) -> FigureData {
    let seeds: Vec<usize> = (0..m.seeds)
        .filter(|&s| (0..CONFIGS.len()).all(|c| !m.at(s, c).diverged))
        .collect();
    let panel = |title: &str, label: &str, f: fn(&RunResult) -> f64| {
        let units: Vec<Vec<f64>> = seeds
            .iter()
            .map(|&s| (0..CONFIGS.len()).map(|c| f(m.at(s, c))).collect())
            .collect();
        let summary = (0..CONFIGS.len())
            .map(|c| {
                let v: Vec<f64> = units.iter().map(|u| u[c]).collect();
                let e = mean_estimate(&v);
                Value::with_ci(e.value, e.ci95())
            })
            .collect();
        PairedPanel {
            title: title.into(),
            conditions: config_names(p),
            y: Axis::linear(label),
            units,
            summary,
        }
    };
    FigureData::stacked(vec![
        panel(
            "Sharpness at the training-loss target",
            "top Hessian eigenvalue",
            |r| r.lanczos.value,
        )
        .into(),
        panel("Test loss at the same target", "test loss", |r| r.test_loss).into(),
    ])
}

/// The paired comparisons per protocol with their bootstrap intervals, against no difference.
fn paired_figure(m: &Measured) -> FigureData {
    let summaries: Vec<Protocol> = (0..PROTOCOLS.len()).map(|k| protocol(m, k)).collect();
    let categories = vec!["same η".to_owned(), "η scaled with b".to_owned()];
    let panel =
        |title: &str, label: &str, f: &dyn Fn(&Protocol) -> Value, none: f64| CategoriesPanel {
            title: title.into(),
            category_label: "protocol".into(),
            categories: categories.clone(),
            y: Axis::linear(label),
            measured: vec![CategorySeries::new(
                "paired summary, 95% bootstrap CI",
                0,
                summaries.iter().map(|s| Some(f(s))).collect(),
            )],
            theory: vec![CategorySeries::new(
                "no difference",
                6,
                summaries.iter().map(|_| Some(Value::exact(none))).collect(),
            )],
        };
    FigureData::stacked(vec![
        panel(
            "Sharpness ratio large / small (geometric mean)",
            "ratio",
            &|s| Value::with_ci(s.ratio, s.ratio_ci),
            1.0,
        )
        .into(),
        panel(
            "Test-loss gap large − small (mean)",
            "gap",
            &|s| Value::with_ci(s.gap, s.gap_ci),
            0.0,
        )
        .into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_rejected_by_key() {
        let bad = Params {
            small_batch: 512,
            large_batch: 8,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "small_batch");
        let bad = Params {
            large_batch: 500,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "large_batch");
        let bad = Params {
            learning_rate: 0.0,
            ..Params::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "learning_rate");
        assert!(Params::default().validate().is_ok());
    }

    /// A hand-made measurement: three seeds, the large batch twice as sharp in every pair.
    fn hand_made() -> Measured {
        let run = |sharpness: f64, test_loss: f64| RunResult {
            reached: true,
            diverged: false,
            epochs: 3,
            steps: 10,
            train_loss: 0.15,
            test_loss,
            lanczos: TopEigen {
                value: sharpness,
                products: 20,
                residual: 1e-12,
            },
            power: TopEigen {
                value: sharpness,
                products: 200,
                residual: 1e-10,
            },
        };
        let mut runs = Vec::new();
        for s in 0..3 {
            let base = 1.0 + s as f64;
            runs.extend([run(2.0 * base, 0.2), run(base, 0.19), run(2.0 * base, 0.2)]);
        }
        let mut rng = Streams::new(1).stream("t", 0);
        let mut draw = || {
            [
                Resamples::draw(&mut rng, 3, 100),
                Resamples::draw(&mut rng, 3, 100),
            ]
        };
        Measured {
            seeds: 3,
            runs,
            pairs: vec![vec![0, 1, 2], vec![0, 1, 2]],
            resamples: vec![draw(), draw()],
        }
    }

    #[test]
    fn metrics_and_figures_are_functions_of_the_measurement() {
        let p = Params::default();
        let m = hand_made();
        let out = SmallBatchFlatter::metrics(&p, &m).unwrap();
        // Every pair has ratio 2 (same eta) or 1 (linear scaling): so have all resamples.
        assert!((out.value("sharpness_ratio_same_eta").unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(
            out.values["sharpness_ratio_same_eta"]
                .ci
                .map(|c| (c[0] - 2.0).abs() < 1e-12),
            Some(true)
        );
        assert!((out.value("sharpness_ratio_linear_scaling").unwrap() - 1.0).abs() < 1e-12);
        assert!((out.value("test_loss_gap_same_eta").unwrap() - 0.01).abs() < 1e-12);
        assert_eq!(out.value("larger_sharpness_fraction_same_eta"), Some(1.0));
        assert_eq!(out.value("runs_reaching_target_fraction"), Some(1.0));
        assert_eq!(out.tables["runs"].rows.len(), 9);
        assert_eq!(m.samples(), 90);
        let f = SmallBatchFlatter::figures(&p, &m).unwrap().into_map();
        assert_eq!(f["sharpness-test-loss"].panels.len(), 2);
        assert_eq!(f["paired"].panels.len(), 2);
    }

    #[test]
    fn a_diverging_run_is_reported_not_a_nan() {
        // At eta = 50 gradient descent on this network blows up: the run is marked diverged and
        // stops, with no eigen-solve on non-finite parameters.
        let p = Params::default();
        let streams = Streams::new(1);
        let (train, test) = make_task(&p, &streams);
        let net = TanhNetwork {
            inputs: p.inputs,
            hidden: p.hidden,
        };
        let theta = net.initialize(&mut streams.stream("init", 0));
        let mut rng = streams.stream("x", 0);
        let r = train_run(
            net, &train, &test, theta, 512, 50.0, 0.15, 50, &mut rng, 10, 10,
        )
        .unwrap();
        assert!(r.diverged && !r.reached);
    }
}
