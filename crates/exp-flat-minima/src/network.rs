//! A two-layer tanh network for scalar regression, f(x) = sum_j v_j tanh(W_j . x + c_j) + e, with
//! its squared loss l = (f - y)^2 / 2, the exact gradient (backpropagation) and exact
//! Hessian-vector products (Pearlmutter's R-operator, Pearlmutter 1994).
//!
//! Parameters theta = (W, c, v, e), stored in that order, W row-major (hidden x inputs).
//!
//! Forward: z_j = W_j . x + c_j, a_j = tanh z_j, f = v . a + e, r = f - y.
//! Gradient: dl/de = r, dl/dv_j = r a_j, delta_j = r v_j (1 - a_j^2), dl/dc_j = delta_j,
//! dl/dW_jk = delta_j x_k.
//! Hessian-vector product H u = R{grad l} along u = (U, gamma, nu, epsilon), with
//! s_j = 1 - a_j^2: R{z_j} = U_j . x + gamma_j, R{a_j} = s_j R{z_j}, R{s_j} = -2 a_j R{a_j},
//! R{f} = sum_j (nu_j a_j + v_j R{a_j}) + epsilon = R{r}, and
//! R{dl/de} = R{r}, R{dl/dv_j} = R{r} a_j + r R{a_j},
//! R{delta_j} = R{r} v_j s_j + r nu_j s_j + r v_j R{s_j}, R{dl/dc_j} = R{delta_j},
//! R{dl/dW_jk} = R{delta_j} x_k.

use sgd_sim::math::tanh;
use sgd_sim::rng::{Stream, standard_normal};

/// The architecture: input dimension and hidden width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TanhNetwork {
    /// Input dimension d.
    pub inputs: usize,
    /// Hidden units h.
    pub hidden: usize,
}

/// A regression data set: inputs row-major (n x d) and targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Inputs, example i at [i d, (i + 1) d).
    pub inputs: Vec<f64>,
    /// Targets.
    pub targets: Vec<f64>,
    /// Input dimension d.
    pub dim: usize,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Input i.
    #[inline]
    pub fn input(&self, i: usize) -> &[f64] {
        &self.inputs[i * self.dim..(i + 1) * self.dim]
    }
}

impl TanhNetwork {
    /// Number of parameters h d + 2 h + 1.
    pub fn parameter_count(&self) -> usize {
        self.hidden * self.inputs + 2 * self.hidden + 1
    }

    fn offsets(&self) -> (usize, usize, usize) {
        let w = self.hidden * self.inputs;
        (w, w + self.hidden, w + 2 * self.hidden)
    }

    /// LeCun-style initialization: W_jk ~ N(0, 1/d), v_j ~ N(0, 1/h), c = 0, e = 0.
    pub fn initialize(&self, rng: &mut Stream) -> Vec<f64> {
        let (oc, ov, oe) = self.offsets();
        let mut theta = vec![0.0; self.parameter_count()];
        let sw = 1.0 / (self.inputs as f64).sqrt();
        let sv = 1.0 / (self.hidden as f64).sqrt();
        for t in &mut theta[..oc] {
            *t = sw * standard_normal(rng);
        }
        for t in &mut theta[ov..oe] {
            *t = sv * standard_normal(rng);
        }
        theta
    }

    /// Hidden activations a = tanh(W x + c) into `acts`; returns f(x).
    #[inline]
    pub fn forward(&self, theta: &[f64], x: &[f64], acts: &mut [f64]) -> f64 {
        let (oc, ov, oe) = self.offsets();
        let d = self.inputs;
        let mut f = theta[oe];
        for j in 0..self.hidden {
            let row = &theta[j * d..(j + 1) * d];
            let z = row.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + theta[oc + j];
            let a = tanh(z);
            acts[j] = a;
            f += theta[ov + j] * a;
        }
        f
    }

    /// The prediction f(x).
    pub fn predict(&self, theta: &[f64], x: &[f64], acts: &mut [f64]) -> f64 {
        self.forward(theta, x, acts)
    }

    /// Adds the gradient of (f(x) - y)^2 / 2 times `weight` to `grad`; returns the loss.
    #[inline]
    pub fn accumulate_gradient(
        &self,
        theta: &[f64],
        x: &[f64],
        y: f64,
        weight: f64,
        grad: &mut [f64],
        acts: &mut [f64],
    ) -> f64 {
        let (oc, ov, oe) = self.offsets();
        let d = self.inputs;
        let r = self.forward(theta, x, acts) - y;
        let rw = r * weight;
        grad[oe] += rw;
        for j in 0..self.hidden {
            let a = acts[j];
            grad[ov + j] += rw * a;
            let delta = rw * theta[ov + j] * (1.0 - a * a);
            grad[oc + j] += delta;
            for (g, xk) in grad[j * d..(j + 1) * d].iter_mut().zip(x) {
                *g += delta * xk;
            }
        }
        0.5 * r * r
    }

    /// The mean loss over a data set.
    pub fn loss(&self, theta: &[f64], data: &Dataset, acts: &mut [f64]) -> f64 {
        let mut total = 0.0;
        for i in 0..data.len() {
            let r = self.forward(theta, data.input(i), acts) - data.targets[i];
            total += 0.5 * r * r;
        }
        total / data.len() as f64
    }

    /// The mean gradient over a data set into `grad`; returns the mean loss.
    pub fn full_gradient(
        &self,
        theta: &[f64],
        data: &Dataset,
        grad: &mut [f64],
        acts: &mut [f64],
    ) -> f64 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let w = 1.0 / data.len() as f64;
        let mut total = 0.0;
        for i in 0..data.len() {
            total += self.accumulate_gradient(theta, data.input(i), data.targets[i], w, grad, acts);
        }
        total * w
    }
}

/// The Hessian of the mean training loss at a fixed theta, as an operator u -> H u: the
/// activations and residuals of every example are computed once, so one product costs about four
/// passes of multiply-adds and no tanh.
#[derive(Clone, Debug)]
pub struct HessianOperator<'a> {
    net: TanhNetwork,
    theta: &'a [f64],
    data: &'a Dataset,
    acts: Vec<f64>,
    residuals: Vec<f64>,
}

impl<'a> HessianOperator<'a> {
    /// The operator at theta for the mean loss over `data`.
    pub fn new(net: TanhNetwork, theta: &'a [f64], data: &'a Dataset) -> Self {
        let h = net.hidden;
        let mut acts = vec![0.0; data.len() * h];
        let mut residuals = vec![0.0; data.len()];
        for i in 0..data.len() {
            let f = net.forward(theta, data.input(i), &mut acts[i * h..(i + 1) * h]);
            residuals[i] = f - data.targets[i];
        }
        Self {
            net,
            theta,
            data,
            acts,
            residuals,
        }
    }

    /// The dimension of the operator (the parameter count).
    pub fn dim(&self) -> usize {
        self.net.parameter_count()
    }

    /// out = H u.
    pub fn apply(&self, u: &[f64], out: &mut [f64]) {
        let net = self.net;
        let (oc, ov, oe) = net.offsets();
        let (d, h) = (net.inputs, net.hidden);
        let theta = self.theta;
        out.iter_mut().for_each(|o| *o = 0.0);
        let mut ra = vec![0.0; h];
        for i in 0..self.data.len() {
            let x = self.data.input(i);
            let a = &self.acts[i * h..(i + 1) * h];
            let r = self.residuals[i];
            let mut rf = u[oe];
            for j in 0..h {
                let rz = u[j * d..(j + 1) * d]
                    .iter()
                    .zip(x)
                    .map(|(uk, xk)| uk * xk)
                    .sum::<f64>()
                    + u[oc + j];
                let s = 1.0 - a[j] * a[j];
                ra[j] = s * rz;
                rf += u[ov + j] * a[j] + theta[ov + j] * ra[j];
            }
            out[oe] += rf;
            for j in 0..h {
                let s = 1.0 - a[j] * a[j];
                let v = theta[ov + j];
                out[ov + j] += rf * a[j] + r * ra[j];
                let r_delta = rf * v * s + r * u[ov + j] * s + r * v * (-2.0 * a[j] * ra[j]);
                out[oc + j] += r_delta;
                for (o, xk) in out[j * d..(j + 1) * d].iter_mut().zip(x) {
                    *o += r_delta * xk;
                }
            }
        }
        let w = 1.0 / self.data.len() as f64;
        out.iter_mut().for_each(|o| *o *= w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::Streams;

    fn setup() -> (TanhNetwork, Vec<f64>, Dataset) {
        let net = TanhNetwork {
            inputs: 3,
            hidden: 4,
        };
        let mut r = Streams::new(21).stream("t", 0);
        let mut theta = net.initialize(&mut r);
        // Non-zero biases so every parameter's derivative is exercised.
        for t in theta.iter_mut() {
            *t += 0.3 * standard_normal(&mut r);
        }
        let n = 7;
        let inputs: Vec<f64> = (0..n * 3).map(|_| standard_normal(&mut r)).collect();
        let targets: Vec<f64> = (0..n).map(|_| standard_normal(&mut r)).collect();
        (
            net,
            theta,
            Dataset {
                inputs,
                targets,
                dim: 3,
            },
        )
    }

    #[test]
    fn gradient_matches_central_differences_of_the_loss() {
        // Central differences with h = 1e-5: truncation h^2 L''' / 6 ~ 1e-11 for these O(1)
        // quantities, rounding eps L / h ~ 1e-11; every component within 1e-7 absolute.
        let (net, theta, data) = setup();
        let mut acts = vec![0.0; net.hidden];
        let mut grad = vec![0.0; net.parameter_count()];
        net.full_gradient(&theta, &data, &mut grad, &mut acts);
        let h = 1e-5;
        for k in 0..theta.len() {
            let mut tp = theta.clone();
            let mut tm = theta.clone();
            tp[k] += h;
            tm[k] -= h;
            let fd =
                (net.loss(&tp, &data, &mut acts) - net.loss(&tm, &data, &mut acts)) / (2.0 * h);
            assert!(
                (fd - grad[k]).abs() < 1e-7,
                "component {k}: {fd} vs {}",
                grad[k]
            );
        }
    }

    #[test]
    fn hessian_vector_product_matches_central_differences_of_the_gradient() {
        // (grad(theta + h u) - grad(theta - h u)) / (2h) = H u + O(h^2): with h = 1e-5 the same
        // error budget as above, 1e-7 absolute per component, for random directions u.
        let (net, theta, data) = setup();
        let mut r = Streams::new(22).stream("u", 0);
        let mut acts = vec![0.0; net.hidden];
        let op = HessianOperator::new(net, &theta, &data);
        let n = net.parameter_count();
        for _ in 0..3 {
            let u: Vec<f64> = (0..n).map(|_| standard_normal(&mut r)).collect();
            let mut hu = vec![0.0; n];
            op.apply(&u, &mut hu);
            let h = 1e-5;
            let tp: Vec<f64> = theta.iter().zip(&u).map(|(t, u)| t + h * u).collect();
            let tm: Vec<f64> = theta.iter().zip(&u).map(|(t, u)| t - h * u).collect();
            let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
            net.full_gradient(&tp, &data, &mut gp, &mut acts);
            net.full_gradient(&tm, &data, &mut gm, &mut acts);
            for k in 0..n {
                let fd = (gp[k] - gm[k]) / (2.0 * h);
                assert!(
                    (fd - hu[k]).abs() < 1e-7,
                    "component {k}: {fd} vs {}",
                    hu[k]
                );
            }
        }
    }

    #[test]
    fn hessian_is_symmetric() {
        // u . H v = v . H u to rounding (1e-12 relative on O(1) sums of O(10^2) terms).
        let (net, theta, data) = setup();
        let op = HessianOperator::new(net, &theta, &data);
        let n = net.parameter_count();
        let mut r = Streams::new(23).stream("u", 0);
        let u: Vec<f64> = (0..n).map(|_| standard_normal(&mut r)).collect();
        let v: Vec<f64> = (0..n).map(|_| standard_normal(&mut r)).collect();
        let (mut hu, mut hv) = (vec![0.0; n], vec![0.0; n]);
        op.apply(&u, &mut hu);
        op.apply(&v, &mut hv);
        let a: f64 = v.iter().zip(&hu).map(|(a, b)| a * b).sum();
        let b: f64 = u.iter().zip(&hv).map(|(a, b)| a * b).sum();
        assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()), "{a} vs {b}");
    }

    #[test]
    fn lanczos_on_the_network_hessian_matches_its_dense_eigendecomposition() {
        // The dense Hessian assembled column by column from n exact products (symmetrized, its
        // asymmetry is rounding only), eigendecomposed by nalgebra: an independent computation of
        // the top eigenvalue; Lanczos converged to a Ritz residual of 1e-12 agrees to 1e-9.
        let (net, theta, data) = setup();
        let op = HessianOperator::new(net, &theta, &data);
        let n = net.parameter_count();
        let mut dense = ndarray::Array2::<f64>::zeros((n, n));
        let mut e = vec![0.0; n];
        let mut col = vec![0.0; n];
        for j in 0..n {
            e.iter_mut().for_each(|x| *x = 0.0);
            e[j] = 1.0;
            op.apply(&e, &mut col);
            for i in 0..n {
                dense[[i, j]] = col[i];
            }
        }
        let sym = (&dense + &dense.t()) * 0.5;
        let (values, _) = sgd_sim::linalg::symmetric_eigen(&sym).unwrap();
        let top = values[n - 1];
        let mut r = Streams::new(24).stream("s", 0);
        let start: Vec<f64> = (0..n).map(|_| standard_normal(&mut r)).collect();
        let l = crate::spectrum::lanczos_top(|u, out| op.apply(u, out), &start, n, 1e-12).unwrap();
        assert!(
            (l.value - top).abs() < 1e-9 * top.abs().max(1.0),
            "{} vs {top}",
            l.value
        );
    }
}
