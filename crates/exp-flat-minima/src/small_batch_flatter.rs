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
use crate::resample::Bootstrap;
use crate::spectrum::{TopEigen, lanczos_top, power_top};
use claim_spec::legacy::figure::{Axis, FigureSpec, Panel, Point, Series, SeriesKind};
use claim_spec::{
    ExperimentError, ExperimentParams, ParamError, RunContext, Table, legacy::Outcome, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::math::{exp, ln, tanh};
use sgd_sim::parallel::map_indexed;
use sgd_sim::rng::{Stream, Streams, shuffle, standard_normal};

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

/// The paired comparison of one protocol, for the figure.
struct PairedSummary {
    /// The protocol's name.
    name: &'static str,
    /// Per seed: the sharpness ratio large/small, and the test-loss gap large - small.
    per_seed: [Vec<f64>; 2],
    /// The geometric-mean ratio and the mean gap.
    summary: [f64; 2],
    /// Their 95% bootstrap intervals.
    intervals: [[f64; 2]; 2],
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

/// Runs the claim.
///
/// # Errors
/// A failed eigen-solve.
pub fn run(p: &Params, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
    let streams = ctx.streams();
    let (train, test) = make_task(p, &streams);
    let net = TanhNetwork {
        inputs: p.inputs,
        hidden: p.hidden,
    };
    let seeds = ctx.scaled(p.seeds).max(2);
    let eta_small_linear = p.learning_rate * p.small_batch as f64 / p.large_batch as f64;
    let results = map_indexed(seeds * CONFIGS.len(), |job| {
        let seed = job / CONFIGS.len();
        let config = CONFIGS[job % CONFIGS.len()];
        let theta = net.initialize(&mut streams.stream("init", seed as u64));
        let mut rng = streams.stream(config.label(), seed as u64);
        let (batch, eta) = match config {
            Config::Large => (p.large_batch, p.learning_rate),
            Config::SmallSameEta => (p.small_batch, p.learning_rate),
            Config::SmallLinear => (p.small_batch, eta_small_linear),
        };
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
    let at = |seed: usize, c: usize| &results[seed * CONFIGS.len() + c];

    let mut out = Outcome::new();
    let total = results.len();
    let reached = results.iter().filter(|r| r.reached).count();
    out.exact(
        "runs_reaching_target_fraction",
        reached as f64 / total as f64,
    );
    out.exact(
        "runs_diverged",
        results.iter().filter(|r| r.diverged).count() as f64,
    );
    let valid: Vec<&RunResult> = results.iter().filter(|r| !r.diverged).collect();
    let rel_diff = valid
        .iter()
        .map(|r| ((r.lanczos.value - r.power.value) / r.lanczos.value).abs())
        .fold(0.0_f64, f64::max);
    out.exact("lanczos_power_rel_diff_max", rel_diff);
    out.exact(
        "lanczos_residual_max",
        valid
            .iter()
            .map(|r| r.lanczos.residual / r.lanczos.value.abs())
            .fold(0.0_f64, f64::max),
    );
    out.exact("target_loss", p.target_loss);
    out.exact(
        "final_train_loss_min",
        valid
            .iter()
            .map(|r| r.train_loss)
            .fold(f64::INFINITY, f64::min),
    );
    out.exact("noise_floor_loss", 0.5 * p.label_noise * p.label_noise);
    out.exact("parameters", net.parameter_count() as f64);

    // Paired statistics per protocol; only when every run of the pair is valid.
    let mut rng = streams.stream("bootstrap", 0);
    let mut protocol_rows = Vec::new();
    let mut paired: Vec<PairedSummary> = Vec::new();
    for (name, small) in [("same_eta", 1usize), ("linear_scaling", 2usize)] {
        let pairs: Vec<(f64, f64)> = (0..seeds)
            .filter(|&s| !at(s, 0).diverged && !at(s, small).diverged)
            .map(|s| {
                (
                    ln(at(s, 0).lanczos.value / at(s, small).lanczos.value),
                    at(s, 0).test_loss - at(s, small).test_loss,
                )
            })
            .collect();
        if pairs.len() < 2 {
            return Err(ExperimentError::Diverged {
                step: 0,
                reason: format!("fewer than two valid pairs in protocol {name}"),
            });
        }
        let m = pairs.len() as f64;
        let log_ratio = pairs.iter().map(|p| p.0).sum::<f64>() / m;
        let gap = pairs.iter().map(|p| p.1).sum::<f64>() / m;
        let ratio_boot = Bootstrap::new(pairs.len(), p.bootstrap_resamples, &mut rng, |idx| {
            exp(idx.iter().map(|&i| pairs[i].0).sum::<f64>() / idx.len() as f64)
        });
        let gap_boot = Bootstrap::new(pairs.len(), p.bootstrap_resamples, &mut rng, |idx| {
            idx.iter().map(|&i| pairs[i].1).sum::<f64>() / idx.len() as f64
        });
        let [rl, rh] = ratio_boot.ci95();
        let [gl, gh] = gap_boot.ci95();
        out.with_interval(&format!("sharpness_ratio_{name}"), exp(log_ratio), [rl, rh]);
        out.exact(&format!("sharpness_ratio_{name}_ci_lo"), rl);
        out.with_interval(&format!("test_loss_gap_{name}"), gap, [gl, gh]);
        out.exact(&format!("test_loss_gap_{name}_ci_lo"), gl);
        out.exact(
            &format!("larger_sharpness_fraction_{name}"),
            pairs.iter().filter(|p| p.0 > 0.0).count() as f64 / m,
        );
        protocol_rows.push((name, exp(log_ratio), rl, rh, gap, gl, gh, pairs.len()));
        paired.push(PairedSummary {
            name: if small == 1 {
                "same eta"
            } else {
                "linear scaling"
            },
            per_seed: [
                pairs.iter().map(|q| exp(q.0)).collect(),
                pairs.iter().map(|q| q.1).collect(),
            ],
            summary: [exp(log_ratio), gap],
            intervals: [[rl, rh], [gl, gh]],
        });
    }
    for (c, config) in CONFIGS.iter().enumerate() {
        let vals: Vec<&RunResult> = (0..seeds)
            .map(|s| at(s, c))
            .filter(|r| !r.diverged)
            .collect();
        if vals.len() >= 2 {
            let sharp: Vec<f64> = vals.iter().map(|r| r.lanczos.value).collect();
            let test_l: Vec<f64> = vals.iter().map(|r| r.test_loss).collect();
            let epochs: Vec<f64> = vals.iter().map(|r| r.epochs as f64).collect();
            let key = config.label().replace('-', "_");
            out.estimate(
                &format!("sharpness_{key}"),
                sgd_sim::stats::mean_estimate(&sharp),
            );
            out.estimate(
                &format!("test_loss_{key}"),
                sgd_sim::stats::mean_estimate(&test_l),
            );
            out.estimate(
                &format!("epochs_{key}"),
                sgd_sim::stats::mean_estimate(&epochs),
            );
        }
    }

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
    for s in 0..seeds {
        for (c, config) in CONFIGS.iter().enumerate() {
            let r = at(s, c);
            let (b, eta) = match config {
                Config::Large => (p.large_batch, p.learning_rate),
                Config::SmallSameEta => (p.small_batch, p.learning_rate),
                Config::SmallLinear => (p.small_batch, eta_small_linear),
            };
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
    out.table("runs", runs);
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
    for (name, r, rl, rh, g, gl, gh, n) in &protocol_rows {
        protocols.push(row![*name, *r, *rl, *rh, *g, *gl, *gh, *n]);
    }
    out.table("protocols", protocols);

    // Figure: one point per seed, by batch size; the two small-batch configurations are offset
    // slightly along the (log) batch axis so they can be told apart.
    let xpos = |c: usize| match CONFIGS[c] {
        Config::Large => p.large_batch as f64,
        Config::SmallSameEta => p.small_batch as f64 / 1.15,
        Config::SmallLinear => p.small_batch as f64 * 1.15,
    };
    let labels = [
        format!("b = {}, eta = {}", p.large_batch, p.learning_rate),
        format!("b = {}, same eta", p.small_batch),
        format!(
            "b = {}, eta x {}/{}",
            p.small_batch, p.small_batch, p.large_batch
        ),
    ];
    let panel = |title: &str, ylabel: &str, value: &dyn Fn(&RunResult) -> f64| {
        let mut series = Vec::new();
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (c, label) in labels.iter().enumerate() {
            let points: Vec<(f64, f64)> = (0..seeds)
                .map(|s| at(s, c))
                .filter(|r| !r.diverged)
                .map(|r| (xpos(c), value(r)))
                .collect();
            for q in &points {
                lo = lo.min(q.1);
                hi = hi.max(q.1);
            }
            let m = points.iter().map(|q| q.1).sum::<f64>() / points.len().max(1) as f64;
            series.push(Series::from_xy(
                label.clone(),
                SeriesKind::Simulation,
                c,
                points,
            ));
            series.push(Series::from_xy(
                "",
                SeriesKind::Theory,
                c,
                [(xpos(c) / 1.12, m), (xpos(c) * 1.12, m)],
            ));
        }
        // Headroom above the points for the legend.
        let span = (hi - lo).max(1e-12);
        Panel {
            title: title.into(),
            x: Axis::log("batch size").with_range(4.0, 1200.0),
            y: Axis::linear(ylabel).with_range(lo - 0.05 * span, hi + 0.5 * span),
            series,
            labels: Vec::new(),
        }
    };
    out.figure(
        "sharpness-test-loss",
        FigureSpec {
            panels: vec![
                panel(
                    "Sharpness at the training-loss target",
                    "top Hessian eigenvalue",
                    &|r| r.lanczos.value,
                ),
                panel("Test loss at the same target", "test loss", &|r| {
                    r.test_loss
                }),
            ],
        },
    );

    // Paired figure: per seed, the ratio and the gap, with the bootstrap interval of the summary.
    let paired_panel = |title: &str, ylabel: &str, reference: f64, which: usize| {
        let mut series = vec![Series::from_xy(
            "",
            SeriesKind::Guide,
            6,
            [(0.5, reference), (2.5, reference)],
        )];
        for (k, summary) in paired.iter().enumerate() {
            let x = k as f64 + 1.0;
            let name = summary.name;
            let vals = &summary.per_seed[which];
            series.push(Series::from_xy(
                format!("{name}: seeds"),
                SeriesKind::Simulation,
                k + 1,
                vals.iter().enumerate().map(|(i, v)| {
                    (
                        x - 0.15 + 0.3 * i as f64 / (vals.len().max(2) - 1) as f64,
                        *v,
                    )
                }),
            ));
            series.push(Series {
                label: format!("{name}: summary, 95% bootstrap CI"),
                kind: SeriesKind::Simulation,
                color: 6,
                points: vec![Point::with_interval(
                    x + 0.3,
                    summary.summary[which],
                    summary.intervals[which],
                )],
            });
        }
        Panel {
            title: title.into(),
            x: Axis::linear("protocol: 1 same eta, 2 eta scaled with b").with_range(0.5, 2.5),
            y: Axis::linear(ylabel),
            series,
            labels: Vec::new(),
        }
    };
    out.figure(
        "paired",
        FigureSpec {
            panels: vec![
                paired_panel("Sharpness ratio large / small, per seed", "ratio", 1.0, 0),
                paired_panel("Test-loss gap large - small, per seed", "gap", 0.0, 1),
            ],
        },
    );
    out.samples = results.iter().map(|r| r.steps).sum();
    Ok(out)
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
