//! One training run: plain minibatch SGD on the digits network, epoch-shuffled without
//! replacement, with the variants the claims need (warm-up, label smoothing, Gaussian input noise,
//! dropout, weight decay), an optional stop at a target training loss, and probes along the run
//! (sharpness by Lanczos, the gradient noise scale).
//!
//! A run of seed index `s` draws its initialization from `digits/init`, its batch order from
//! `digits/order` and its injected noise from `digits/noise`, each at index `s`: runs of the same
//! seed under different recipes share their initialization and order streams (paired designs).

use crate::data::{CLASSES, Digits, PIXELS};
use claim_spec::ExperimentError;
use mlp::{Batch, Shape, Workspace, hvp, lanczos_top, logits, loss_grad, sgd_update};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::cancel::Cancel;
use sgd_sim::linalg::dot;
use sgd_sim::math::{exp, ln};
use sgd_sim::rng::{Stream, Streams, shuffle, standard_normal, uniform01};

/// The network: 64 inputs, 32 tanh units, 10 softmax outputs (2,410 parameters).
pub const SHAPE: Shape = Shape {
    inputs: PIXELS,
    hidden: 32,
    outputs: CLASSES,
};

/// Training-loss checks run once an epoch until the loss is within this factor of the target.
const COARSE_FACTOR: f64 = 3.0;

/// A loss above this (or not finite) stops a run as diverged.
const DIVERGED_LOSS: f64 = 1e3;

/// How one run trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Recipe {
    /// Batch size b (divides the 1,024 training images).
    pub batch: usize,
    /// Learning rate eta.
    pub lr: f64,
    /// Epochs (the most, when a target loss stops the run earlier).
    pub epochs: usize,
    /// Epochs of linear learning-rate warm-up from eta / steps to eta (0: none).
    pub warmup_epochs: f64,
    /// Label smoothing epsilon.
    pub smoothing: f64,
    /// Standard deviation of Gaussian noise added to every input pixel (preprocessed units).
    pub input_noise: f64,
    /// Dropout probability of the hidden units.
    pub dropout: f64,
    /// Weight decay lambda (the gradient gains lambda w on the weights, not the biases).
    pub weight_decay: f64,
}

impl Default for Recipe {
    fn default() -> Self {
        Self {
            batch: 32,
            lr: 0.1,
            epochs: 30,
            warmup_epochs: 0.0,
            smoothing: 0.0,
            input_noise: 0.0,
            dropout: 0.0,
            weight_decay: 0.0,
        }
    }
}

impl Recipe {
    /// Checks ranges, naming keys under `prefix`.
    ///
    /// # Errors
    /// The first invalid key.
    pub fn validate(&self, prefix: &str) -> Result<(), claim_spec::ParamError> {
        use claim_spec::ParamError;
        let key = |k: &str| format!("{prefix}{k}");
        if self.batch == 0 || !crate::data::TRAIN.is_multiple_of(self.batch) {
            return Err(ParamError::new(
                key("batch"),
                "must divide the 1024 training images",
            ));
        }
        ParamError::positive(&key("lr"), self.lr)?;
        ParamError::at_least(&key("epochs"), self.epochs as u64, 1)?;
        ParamError::non_negative(&key("warmup_epochs"), self.warmup_epochs)?;
        ParamError::in_range(&key("smoothing"), self.smoothing, 0.0, 0.5)?;
        ParamError::non_negative(&key("input_noise"), self.input_noise)?;
        ParamError::in_range(&key("dropout"), self.dropout, 0.0, 0.9)?;
        ParamError::non_negative(&key("weight_decay"), self.weight_decay)
    }

    /// Multiply-accumulates of the run at its full length (without probes).
    pub fn work(&self) -> f64 {
        (self.epochs * crate::data::TRAIN * SHAPE.step_macs()) as f64
    }
}

/// What to measure along a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Probes {
    /// Stop at the first check whose training loss is at most this.
    pub target_loss: Option<f64>,
    /// Training images between checks of the training loss (at least one step, at most an epoch).
    pub check_examples: usize,
    /// Epoch ends (0: the initialization) at which to measure the sharpness.
    pub sharpness_epochs: Vec<usize>,
    /// Measure the sharpness at the end of the run too.
    pub sharpness_at_end: bool,
    /// Lanczos steps per sharpness.
    pub lanczos_steps: usize,
    /// Epoch ends at which to measure the gradient noise scale.
    pub noise_scale_epochs: Vec<usize>,
    /// Measure the gradient noise scale at the end of the run too.
    pub noise_scale_at_end: bool,
}

impl Default for Probes {
    fn default() -> Self {
        Self {
            target_loss: None,
            check_examples: crate::data::TRAIN,
            sharpness_epochs: Vec::new(),
            sharpness_at_end: false,
            lanczos_steps: 20,
            noise_scale_epochs: Vec::new(),
            noise_scale_at_end: false,
        }
    }
}

/// Loss, accuracy and confidence of the network on one data set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Eval {
    /// Mean cross-entropy against the one-hot labels.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Top softmax probability of each example.
    pub top: Vec<f64>,
    /// Logit gap of each example: the top logit minus the runner-up.
    pub gap: Vec<f64>,
    /// Whether each example was classified correctly.
    pub correct: Vec<bool>,
}

impl Eval {
    /// What a diverged run counts as: a chance-level predictor (accuracy 1/10, loss ln 10).
    pub fn chance(n: usize) -> Self {
        Self {
            loss: ln(CLASSES as f64),
            accuracy: 1.0 / CLASSES as f64,
            top: vec![1.0 / CLASSES as f64; n],
            gap: vec![0.0; n],
            correct: (0..n).map(|i| i % CLASSES == 0).collect(),
        }
    }

    /// Mean top probability.
    pub fn mean_top(&self) -> f64 {
        self.top.iter().sum::<f64>() / self.top.len().max(1) as f64
    }

    /// Mean logit gap.
    pub fn mean_gap(&self) -> f64 {
        self.gap.iter().sum::<f64>() / self.gap.len().max(1) as f64
    }

    /// Expected calibration error over `bins` equal-width confidence bins on [0, 1].
    pub fn ece(&self, bins: usize) -> f64 {
        let mut n = vec![0usize; bins];
        let mut conf = vec![0.0; bins];
        let mut acc = vec![0.0; bins];
        for (&t, &c) in self.top.iter().zip(&self.correct) {
            let k = ((t * bins as f64) as usize).min(bins - 1);
            n[k] += 1;
            conf[k] += t;
            acc[k] += f64::from(u8::from(c));
        }
        let total = self.top.len().max(1) as f64;
        (0..bins)
            .filter(|&k| n[k] > 0)
            .map(|k| (acc[k] - conf[k]).abs() / total)
            .sum()
    }
}

/// The gradient noise scale at one point of a run (per-example gradients over the training set).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseScale {
    /// Epoch end.
    pub epoch: usize,
    /// tr Sigma, the trace of the per-example gradient covariance.
    pub trace_sigma: f64,
    /// ||G||^2, the squared norm of the full gradient.
    pub grad_norm2: f64,
}

impl NoiseScale {
    /// B_simple = tr Sigma / ||G||^2 (McCandlish et al. 2018).
    pub fn b_simple(&self) -> f64 {
        self.trace_sigma / self.grad_norm2
    }
}

/// Everything one run measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    /// Its batch size.
    pub batch: usize,
    /// Its (peak) learning rate.
    pub lr: f64,
    /// The loss left the finite range; training stopped there.
    pub diverged: bool,
    /// Epochs completed.
    pub epochs: usize,
    /// SGD steps taken.
    pub steps: u64,
    /// Steps to the target training loss, interpolated in ln loss between epoch ends.
    pub steps_to_target: Option<f64>,
    /// The end point on the training set.
    pub train: Eval,
    /// The end point on the test set.
    pub test: Eval,
    /// (epoch, top Hessian eigenvalue of the training loss).
    pub sharpness: Vec<(f64, f64)>,
    /// The noise scale at the probed epochs.
    pub noise_scale: Vec<NoiseScale>,
    /// ||W||: the Euclidean norm of the weights (not the biases).
    pub weight_norm: f64,
}

/// Evaluates `w` on `x`, `y`.
pub fn evaluate(w: &[f64], x: &[f64], y: &[usize]) -> Eval {
    let mut ws = Workspace::new(SHAPE);
    let mut z = vec![0.0; y.len() * CLASSES];
    logits(SHAPE, w, x, &mut ws, &mut z);
    let mut e = Eval::default();
    let mut loss = 0.0;
    for (r, &label) in y.iter().enumerate() {
        let zr = &z[r * CLASSES..(r + 1) * CLASSES];
        let (mut best, mut second) = (0, usize::MAX);
        for k in 1..CLASSES {
            if zr[k] > zr[best] {
                second = best;
                best = k;
            } else if second == usize::MAX || zr[k] > zr[second] {
                second = k;
            }
        }
        let m = zr[best];
        let s: f64 = zr.iter().map(|&v| exp(v - m)).sum();
        loss += m + ln(s) - zr[label];
        e.top.push(1.0 / s);
        e.gap.push(m - zr[second]);
        e.correct.push(best == label);
    }
    e.loss = loss / y.len() as f64;
    e.accuracy = e.correct.iter().filter(|&&c| c).count() as f64 / y.len() as f64;
    e
}

/// The sharpness: the top eigenvalue of the Hessian of the (smoothed) training loss.
fn sharpness(w: &[f64], d: &Digits, smoothing: f64, steps: usize, rng: &mut Stream) -> f64 {
    let batch = Batch {
        x: &d.train_x,
        labels: &d.train_y,
        smoothing,
    };
    let mut ws = Workspace::new(SHAPE);
    let start: Vec<f64> = (0..w.len()).map(|_| standard_normal(rng)).collect();
    lanczos_top(&start, steps, |v, out| {
        hvp(SHAPE, w, &batch, v, &mut ws, out)
    })
    .map_or(f64::NAN, |t| t.value)
}

/// The gradient noise scale at `w` from the training set's per-example gradients.
fn noise_scale(w: &[f64], d: &Digits, smoothing: f64, epoch: usize) -> NoiseScale {
    let n = d.train_y.len();
    let mut ws = Workspace::new(SHAPE);
    let mut g = vec![0.0; w.len()];
    let mut sum = vec![0.0; w.len()];
    let mut sum_sq = 0.0;
    for i in 0..n {
        let batch = Batch {
            x: &d.train_x[i * PIXELS..(i + 1) * PIXELS],
            labels: &d.train_y[i..=i],
            smoothing,
        };
        loss_grad(SHAPE, w, &batch, None, &mut ws, &mut g);
        sum_sq += dot(&g, &g);
        for (s, gi) in sum.iter_mut().zip(&g) {
            *s += gi;
        }
    }
    let nf = n as f64;
    let grad_norm2 = dot(&sum, &sum) / (nf * nf);
    NoiseScale {
        epoch,
        trace_sigma: (sum_sq - nf * grad_norm2) / (nf - 1.0),
        grad_norm2,
    }
}

/// The weights' Euclidean norm.
pub fn weight_norm(w: &[f64]) -> f64 {
    SHAPE
        .weight_ranges()
        .iter()
        .map(|r| dot(&w[r.clone()], &w[r.clone()]))
        .sum::<f64>()
        .sqrt()
}

/// The streams of seed index `seed`.
struct SeedStreams {
    order: Stream,
    noise: Stream,
    lanczos: Stream,
}

/// One run of `recipe` from seed index `seed`.
///
/// # Errors
/// `Cancelled` when the run was interrupted.
pub fn run(
    recipe: &Recipe,
    probes: &Probes,
    d: &Digits,
    streams: &Streams,
    seed: u64,
    cancel: &Cancel,
) -> Result<Run, ExperimentError> {
    let mut w = SHAPE.init(&mut streams.stream("digits/init", seed));
    let mut rs = SeedStreams {
        order: streams.stream("digits/order", seed),
        noise: streams.stream("digits/noise", seed),
        lanczos: streams.stream("digits/lanczos", seed),
    };
    let mut out = Run {
        batch: recipe.batch,
        lr: recipe.lr,
        ..Run::default()
    };
    let mut lp = Loop::new(recipe, d);
    let mut last = (0.0, evaluate(&w, &d.train_x, &d.train_y).loss);
    probe(&w, d, recipe, probes, 0, &mut rs, &mut out);
    let per_epoch = lp.order.len() / recipe.batch;
    let chunk = (probes.check_examples / recipe.batch).clamp(1, per_epoch);
    'epochs: for epoch in 1..=recipe.epochs {
        cancel.check()?;
        let mut done = 0;
        while done < per_epoch {
            // Far from the target, check once an epoch; within COARSE_FACTOR of it, every chunk.
            let near = probes
                .target_loss
                .is_some_and(|t| last.1 <= COARSE_FACTOR * t);
            let count = if near { chunk } else { per_epoch }.min(per_epoch - done);
            if !lp.steps(count, recipe, d, &mut w, &mut rs) {
                out.diverged = true;
                break 'epochs;
            }
            done += count;
            if let Some(target) = probes.target_loss {
                let now = (lp.step as f64, evaluate(&w, &d.train_x, &d.train_y).loss);
                if now.1 <= target {
                    let f = (ln(last.1) - ln(target)) / (ln(last.1) - ln(now.1));
                    out.steps_to_target = Some(last.0 + f.clamp(0.0, 1.0) * (now.0 - last.0));
                    out.epochs = epoch;
                    break 'epochs;
                }
                last = now;
            }
        }
        out.epochs = epoch;
        probe(&w, d, recipe, probes, epoch, &mut rs, &mut out);
    }
    out.steps = lp.step;
    if out.diverged {
        out.train = Eval::chance(d.train_y.len());
        out.test = Eval::chance(d.test_y.len());
        return Ok(out);
    }
    if probes.sharpness_at_end {
        let s = sharpness(
            &w,
            d,
            recipe.smoothing,
            probes.lanczos_steps,
            &mut rs.lanczos,
        );
        out.sharpness.push((out.epochs as f64, s));
    }
    if probes.noise_scale_at_end {
        out.noise_scale
            .push(noise_scale(&w, d, recipe.smoothing, out.epochs));
    }
    out.train = evaluate(&w, &d.train_x, &d.train_y);
    out.test = evaluate(&w, &d.test_x, &d.test_y);
    out.weight_norm = weight_norm(&w);
    Ok(out)
}

/// The probes due at the end of `epoch`.
fn probe(
    w: &[f64],
    d: &Digits,
    recipe: &Recipe,
    probes: &Probes,
    epoch: usize,
    rs: &mut SeedStreams,
    out: &mut Run,
) {
    if probes.sharpness_epochs.contains(&epoch) {
        let s = sharpness(
            w,
            d,
            recipe.smoothing,
            probes.lanczos_steps,
            &mut rs.lanczos,
        );
        out.sharpness.push((epoch as f64, s));
    }
    if probes.noise_scale_epochs.contains(&epoch) {
        out.noise_scale
            .push(noise_scale(w, d, recipe.smoothing, epoch));
    }
}

/// The buffers and counters of the SGD loop.
struct Loop {
    order: Vec<usize>,
    xb: Vec<f64>,
    yb: Vec<usize>,
    mask: Vec<f64>,
    grad: Vec<f64>,
    ws: Workspace,
    step: u64,
    pos: usize,
    warmup_steps: f64,
}

impl Loop {
    fn new(recipe: &Recipe, d: &Digits) -> Self {
        let n = d.train_y.len();
        let b = recipe.batch;
        Self {
            order: (0..n).collect(),
            xb: vec![0.0; b * PIXELS],
            yb: vec![0; b],
            mask: vec![1.0; b * SHAPE.hidden],
            grad: vec![0.0; SHAPE.params()],
            ws: Workspace::new(SHAPE),
            step: 0,
            pos: 0,
            warmup_steps: recipe.warmup_epochs * (n / b) as f64,
        }
    }

    /// `count` steps, reshuffling at each epoch start; false when the loss diverged.
    fn steps(
        &mut self,
        count: usize,
        recipe: &Recipe,
        d: &Digits,
        w: &mut [f64],
        rs: &mut SeedStreams,
    ) -> bool {
        let b = recipe.batch;
        let keep = 1.0 / (1.0 - recipe.dropout);
        for _ in 0..count {
            if self.pos == 0 {
                shuffle(&mut rs.order, &mut self.order);
            }
            let s = self.pos;
            self.pos = (self.pos + b) % self.order.len();
            for (r, &i) in self.order[s..s + b].iter().enumerate() {
                self.yb[r] = d.train_y[i];
                let src = &d.train_x[i * PIXELS..(i + 1) * PIXELS];
                let dst = &mut self.xb[r * PIXELS..(r + 1) * PIXELS];
                dst.copy_from_slice(src);
                if recipe.input_noise > 0.0 {
                    for v in dst.iter_mut() {
                        *v += recipe.input_noise * standard_normal(&mut rs.noise);
                    }
                }
            }
            if recipe.dropout > 0.0 {
                for m in &mut self.mask {
                    *m = if uniform01(&mut rs.noise) < recipe.dropout {
                        0.0
                    } else {
                        keep
                    };
                }
            }
            let batch = Batch {
                x: &self.xb,
                labels: &self.yb,
                smoothing: recipe.smoothing,
            };
            let mask = (recipe.dropout > 0.0).then_some(self.mask.as_slice());
            let loss = loss_grad(SHAPE, w, &batch, mask, &mut self.ws, &mut self.grad);
            if !(loss.is_finite() && loss < DIVERGED_LOSS) {
                return false;
            }
            if recipe.weight_decay > 0.0 {
                for r in SHAPE.weight_ranges() {
                    for i in r {
                        self.grad[i] += recipe.weight_decay * w[i];
                    }
                }
            }
            self.step += 1;
            let warm = if self.warmup_steps > 0.0 {
                (self.step as f64 / self.warmup_steps).min(1.0)
            } else {
                1.0
            };
            sgd_update(w, &self.grad, recipe.lr * warm);
        }
        w.iter().all(|v| v.is_finite())
    }
}
