//! The network: shapes, parameter layout, initialization, the forward pass and hand-written
//! backpropagation of the mean softmax cross-entropy.
//!
//! Layout of the flat parameter vector: `W1` (inputs x hidden, input-major), `b1` (hidden),
//! `W2` (hidden x outputs, hidden-major), `b2` (outputs). Every product is an axpy over the
//! contiguous inner index, so each output is summed in one fixed order (the compiler may
//! vectorize across outputs, never reassociate a sum): the same bits on every machine.

use sgd_sim::math::{exp, ln, tanh};
use sgd_sim::rng::{Rng, standard_normal};

/// The sizes of a one-hidden-layer network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Inputs.
    pub inputs: usize,
    /// Hidden tanh units.
    pub hidden: usize,
    /// Softmax outputs (classes).
    pub outputs: usize,
}

impl Shape {
    /// The number of parameters.
    pub fn params(&self) -> usize {
        self.inputs * self.hidden + self.hidden + self.hidden * self.outputs + self.outputs
    }

    /// Where `b1` starts.
    pub fn b1(&self) -> usize {
        self.inputs * self.hidden
    }

    /// Where `W2` starts.
    pub fn w2(&self) -> usize {
        self.b1() + self.hidden
    }

    /// Where `b2` starts.
    pub fn b2(&self) -> usize {
        self.w2() + self.hidden * self.outputs
    }

    /// The index ranges of the weights (not the biases): what weight decay acts on.
    pub fn weight_ranges(&self) -> [std::ops::Range<usize>; 2] {
        [0..self.b1(), self.w2()..self.b2()]
    }

    /// Multiply-accumulates of one forward pass of one example.
    pub fn forward_macs(&self) -> usize {
        self.inputs * self.hidden + self.hidden * self.outputs
    }

    /// Multiply-accumulates of one forward and backward pass of one example.
    pub fn step_macs(&self) -> usize {
        2 * self.inputs * self.hidden + 3 * self.hidden * self.outputs
    }

    /// Multiply-accumulates of one Hessian-vector product per example.
    pub fn hvp_macs(&self) -> usize {
        4 * self.inputs * self.hidden + 8 * self.hidden * self.outputs
    }

    /// Initial parameters: weights N(0, 1/fan_in) (LeCun), biases zero.
    pub fn init<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let mut w = vec![0.0; self.params()];
        let s1 = 1.0 / (self.inputs as f64).sqrt();
        for v in &mut w[..self.b1()] {
            *v = s1 * standard_normal(rng);
        }
        let s2 = 1.0 / (self.hidden as f64).sqrt();
        for v in &mut w[self.w2()..self.b2()] {
            *v = s2 * standard_normal(rng);
        }
        w
    }
}

/// A minibatch: `rows` inputs laid out row by row, their labels, and label smoothing.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// Inputs, `rows x inputs`, row-major.
    pub x: &'a [f64],
    /// The class of each row.
    pub labels: &'a [usize],
    /// Label smoothing epsilon: the target is (1 - eps) one-hot + eps / outputs.
    pub smoothing: f64,
}

impl Batch<'_> {
    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// The target probability of class `k` for row `r`.
    #[inline]
    pub fn target(&self, r: usize, k: usize, outputs: usize) -> f64 {
        let base = self.smoothing / outputs as f64;
        if self.labels[r] == k {
            1.0 - self.smoothing + base
        } else {
            base
        }
    }
}

/// Buffers of one example's pass, reused across examples and steps (nothing allocates per step).
#[derive(Clone, Debug)]
pub struct Workspace {
    pub(crate) h: Vec<f64>,
    pub(crate) hm: Vec<f64>,
    pub(crate) z: Vec<f64>,
    pub(crate) p: Vec<f64>,
    pub(crate) dz: Vec<f64>,
    pub(crate) dh: Vec<f64>,
    pub(crate) rh: Vec<f64>,
    pub(crate) rz: Vec<f64>,
    pub(crate) rdz: Vec<f64>,
    pub(crate) rdh: Vec<f64>,
}

impl Workspace {
    /// Buffers for `shape`.
    pub fn new(shape: Shape) -> Self {
        let (h, o) = (shape.hidden, shape.outputs);
        Self {
            h: vec![0.0; h],
            hm: vec![0.0; h],
            z: vec![0.0; o],
            p: vec![0.0; o],
            dz: vec![0.0; o],
            dh: vec![0.0; h],
            rh: vec![0.0; h],
            rz: vec![0.0; o],
            rdz: vec![0.0; o],
            rdh: vec![0.0; h],
        }
    }
}

/// y += a x over the common length.
#[inline]
pub(crate) fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// Hidden activations h = tanh(W1 x + b1) of one input row.
#[inline]
pub(crate) fn hidden_layer(shape: Shape, w: &[f64], x: &[f64], h: &mut [f64]) {
    let nh = shape.hidden;
    h.copy_from_slice(&w[shape.b1()..shape.w2()]);
    for (i, &xi) in x.iter().enumerate() {
        axpy(h, xi, &w[i * nh..(i + 1) * nh]);
    }
    for v in h.iter_mut() {
        *v = tanh(*v);
    }
}

/// Logits z = W2 h + b2.
#[inline]
pub(crate) fn output_layer(shape: Shape, w: &[f64], h: &[f64], z: &mut [f64]) {
    let no = shape.outputs;
    let w2 = &w[shape.w2()..shape.b2()];
    z.copy_from_slice(&w[shape.b2()..]);
    for (j, &hj) in h.iter().enumerate() {
        axpy(z, hj, &w2[j * no..(j + 1) * no]);
    }
}

/// Softmax of `z` into `p`; returns ln sum exp z.
#[inline]
pub(crate) fn softmax(z: &[f64], p: &mut [f64]) -> f64 {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for (pk, &zk) in p.iter_mut().zip(z) {
        *pk = exp(zk - m);
        s += *pk;
    }
    for pk in p.iter_mut() {
        *pk /= s;
    }
    m + ln(s)
}

/// The logits of every row of `x` (`rows x outputs`, row-major) into `logits`.
///
/// # Panics
/// When the buffers do not match the shape (a programming error).
pub fn logits(shape: Shape, w: &[f64], x: &[f64], ws: &mut Workspace, logits: &mut [f64]) {
    assert_eq!(
        w.len(),
        shape.params(),
        "parameter vector of the wrong size"
    );
    let rows = x.len() / shape.inputs;
    assert_eq!(
        logits.len(),
        rows * shape.outputs,
        "logit buffer of the wrong size"
    );
    for r in 0..rows {
        let xr = &x[r * shape.inputs..(r + 1) * shape.inputs];
        hidden_layer(shape, w, xr, &mut ws.h);
        output_layer(
            shape,
            w,
            &ws.h,
            &mut logits[r * shape.outputs..(r + 1) * shape.outputs],
        );
    }
}

/// The mean cross-entropy of `batch`, and its gradient written into `grad` (overwritten).
///
/// `mask`, when given, multiplies the hidden activations (inverted dropout: entries 0 or
/// 1/(1 - p)); it is `rows x hidden`.
///
/// # Panics
/// When the buffers do not match the shape (a programming error).
pub fn loss_grad(
    shape: Shape,
    w: &[f64],
    batch: &Batch<'_>,
    mask: Option<&[f64]>,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    let (ni, nh, no) = (shape.inputs, shape.hidden, shape.outputs);
    let rows = batch.rows();
    assert!(
        rows > 0 && batch.x.len() == rows * ni,
        "batch of the wrong size"
    );
    assert!(
        w.len() == shape.params() && grad.len() == w.len(),
        "parameters of the wrong size"
    );
    grad.fill(0.0);
    let inv = 1.0 / rows as f64;
    let mut loss = 0.0;
    for r in 0..rows {
        let xr = &batch.x[r * ni..(r + 1) * ni];
        hidden_layer(shape, w, xr, &mut ws.h);
        match mask {
            Some(m) => {
                for j in 0..nh {
                    ws.hm[j] = ws.h[j] * m[r * nh + j];
                }
            }
            None => ws.hm.copy_from_slice(&ws.h),
        }
        output_layer(shape, w, &ws.hm, &mut ws.z);
        let lse = softmax(&ws.z, &mut ws.p);
        for k in 0..no {
            let t = batch.target(r, k, no);
            loss += t * (lse - ws.z[k]);
            ws.dz[k] = (ws.p[k] - t) * inv;
        }
        backward(
            shape,
            w,
            xr,
            mask.map(|m| &m[r * nh..(r + 1) * nh]),
            ws,
            grad,
        );
    }
    loss * inv
}

/// Accumulates one example's gradient from `ws.dz`, `ws.h` and `ws.hm`.
#[inline]
fn backward(
    shape: Shape,
    w: &[f64],
    x: &[f64],
    mask: Option<&[f64]>,
    ws: &mut Workspace,
    grad: &mut [f64],
) {
    let (nh, no) = (shape.hidden, shape.outputs);
    let (w2, b2) = (shape.w2(), shape.b2());
    axpy(&mut grad[b2..], 1.0, &ws.dz);
    for j in 0..nh {
        let hj = ws.hm[j];
        axpy(&mut grad[w2 + j * no..w2 + (j + 1) * no], hj, &ws.dz);
        // dh_j = sum_k W2[j,k] dz_k, summed in k order.
        let row = &w[w2 + j * no..w2 + (j + 1) * no];
        ws.dh[j] = row.iter().zip(&ws.dz).fold(0.0, |s, (a, b)| s + a * b);
    }
    for j in 0..nh {
        let m = mask.map_or(1.0, |m| m[j]);
        ws.dh[j] *= m * (1.0 - ws.h[j] * ws.h[j]);
    }
    axpy(&mut grad[shape.b1()..w2], 1.0, &ws.dh);
    for (i, &xi) in x.iter().enumerate() {
        axpy(&mut grad[i * nh..(i + 1) * nh], xi, &ws.dh);
    }
}

/// The mean cross-entropy of `batch` without its gradient (one forward pass per row).
pub fn loss(shape: Shape, w: &[f64], batch: &Batch<'_>, ws: &mut Workspace) -> f64 {
    let (ni, no) = (shape.inputs, shape.outputs);
    let mut total = 0.0;
    for r in 0..batch.rows() {
        hidden_layer(shape, w, &batch.x[r * ni..(r + 1) * ni], &mut ws.h);
        output_layer(shape, w, &ws.h, &mut ws.z);
        let lse = softmax(&ws.z, &mut ws.p);
        for k in 0..no {
            total += batch.target(r, k, no) * (lse - ws.z[k]);
        }
    }
    total / batch.rows() as f64
}
