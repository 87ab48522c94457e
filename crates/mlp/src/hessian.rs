//! Exact Hessian-vector products of the mean cross-entropy (Pearlmutter's R-operator: forward
//! mode over the hand-written reverse pass), and the top Hessian eigenvalue by Lanczos.

use crate::net::{Batch, Shape, Workspace, axpy, hidden_layer, output_layer, softmax};
use ndarray::Array2;
use sgd_sim::linalg::{dot, symmetric_eigen};

/// H v for the mean loss of `batch` at `w`, written into `out` (overwritten). Exact: no finite
/// difference, no dropout.
///
/// # Panics
/// When the buffers do not match the shape (a programming error).
pub fn hvp(
    shape: Shape,
    w: &[f64],
    batch: &Batch<'_>,
    v: &[f64],
    ws: &mut Workspace,
    out: &mut [f64],
) {
    let (ni, no) = (shape.inputs, shape.outputs);
    let rows = batch.rows();
    assert!(
        rows > 0 && batch.x.len() == rows * ni,
        "batch of the wrong size"
    );
    assert!(
        w.len() == shape.params() && v.len() == w.len() && out.len() == w.len(),
        "parameters of the wrong size"
    );
    out.fill(0.0);
    let inv = 1.0 / rows as f64;
    for r in 0..rows {
        let x = &batch.x[r * ni..(r + 1) * ni];
        r_forward(shape, w, v, x, ws);
        let pr = dot(&ws.p, &ws.rz);
        for k in 0..no {
            ws.dz[k] = (ws.p[k] - batch.target(r, k, no)) * inv;
            ws.rdz[k] = ws.p[k] * (ws.rz[k] - pr) * inv;
        }
        r_backward(shape, w, v, x, ws, out);
    }
}

/// The forward pass and its directional derivative along v: h, Rh (in `ws.rh`), z, Rz, p.
#[inline]
fn r_forward(shape: Shape, w: &[f64], v: &[f64], x: &[f64], ws: &mut Workspace) {
    let (nh, no) = (shape.hidden, shape.outputs);
    hidden_layer(shape, w, x, &mut ws.h);
    // Ra = vW1 x + vb1; Rh = (1 - h^2) Ra.
    ws.rh.copy_from_slice(&v[shape.b1()..shape.w2()]);
    for (i, &xi) in x.iter().enumerate() {
        axpy(&mut ws.rh, xi, &v[i * nh..(i + 1) * nh]);
    }
    for j in 0..nh {
        ws.rh[j] *= 1.0 - ws.h[j] * ws.h[j];
    }
    output_layer(shape, w, &ws.h, &mut ws.z);
    softmax(&ws.z, &mut ws.p);
    // Rz = vW2 h + W2 Rh + vb2.
    let w2 = shape.w2();
    ws.rz.copy_from_slice(&v[shape.b2()..]);
    for j in 0..nh {
        axpy(&mut ws.rz, ws.h[j], &v[w2 + j * no..w2 + (j + 1) * no]);
        axpy(&mut ws.rz, ws.rh[j], &w[w2 + j * no..w2 + (j + 1) * no]);
    }
}

/// The directional derivative of the reverse pass, accumulated into `out`.
#[inline]
fn r_backward(shape: Shape, w: &[f64], v: &[f64], x: &[f64], ws: &mut Workspace, out: &mut [f64]) {
    let (nh, no) = (shape.hidden, shape.outputs);
    let (w2, b2) = (shape.w2(), shape.b2());
    axpy(&mut out[b2..], 1.0, &ws.rdz);
    for j in 0..nh {
        // R gW2[j,:] = Rh_j dz + h_j Rdz.
        let dst = &mut out[w2 + j * no..w2 + (j + 1) * no];
        axpy(dst, ws.rh[j], &ws.dz);
        axpy(dst, ws.h[j], &ws.rdz);
        let wr = &w[w2 + j * no..w2 + (j + 1) * no];
        let vr = &v[w2 + j * no..w2 + (j + 1) * no];
        let dh = dot(wr, &ws.dz);
        let rdh = dot(vr, &ws.dz) + dot(wr, &ws.rdz);
        let s = 1.0 - ws.h[j] * ws.h[j];
        // da = dh (1 - h^2); Rda = Rdh (1 - h^2) - 2 h Rh dh.
        ws.rdh[j] = rdh * s - 2.0 * ws.h[j] * ws.rh[j] * dh;
    }
    axpy(&mut out[shape.b1()..w2], 1.0, &ws.rdh);
    for (i, &xi) in x.iter().enumerate() {
        axpy(&mut out[i * nh..(i + 1) * nh], xi, &ws.rdh);
    }
}

/// What Lanczos found: the top Ritz value, its residual bound, and the products used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopEigen {
    /// The largest Ritz value: a lower bound on, and estimate of, the top eigenvalue.
    pub value: f64,
    /// |beta_k s_k|: the residual norm of its Ritz vector, a bound on its distance to an eigenvalue.
    pub residual: f64,
    /// Operator applications.
    pub products: usize,
}

/// The top eigenvalue of the symmetric operator `op` (v -> A v, dimension `start.len()`) by
/// `steps` Lanczos steps with full reorthogonalization, from `start`.
///
/// # Errors
/// A message when `start` is zero or the tridiagonal eigenproblem fails.
pub fn lanczos_top<F>(start: &[f64], steps: usize, mut op: F) -> Result<TopEigen, String>
where
    F: FnMut(&[f64], &mut [f64]),
{
    let n = start.len();
    let norm = dot(start, start).sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return Err("Lanczos start vector is zero or not finite".into());
    }
    let mut basis: Vec<Vec<f64>> = vec![start.iter().map(|s| s / norm).collect()];
    let (mut alpha, mut beta) = (Vec::new(), Vec::new());
    let mut wv = vec![0.0; n];
    for k in 0..steps.min(n) {
        op(&basis[k], &mut wv);
        let a = dot(&wv, &basis[k]);
        alpha.push(a);
        // Full reorthogonalization, twice (classical Gram-Schmidt is enough done twice).
        for _ in 0..2 {
            for q in &basis {
                let c = dot(&wv, q);
                axpy(&mut wv, -c, q);
            }
        }
        let b = dot(&wv, &wv).sqrt();
        beta.push(b);
        if b <= 1e-12 * a.abs().max(1.0) || k + 1 == steps.min(n) {
            break;
        }
        basis.push(wv.iter().map(|x| x / b).collect());
    }
    let m = alpha.len();
    let t = Array2::from_shape_fn((m, m), |(i, j)| {
        if i == j {
            alpha[i]
        } else if i + 1 == j {
            beta[i]
        } else if j + 1 == i {
            beta[j]
        } else {
            0.0
        }
    });
    let (values, vectors) = symmetric_eigen(&t).map_err(|e| e.to_string())?;
    Ok(TopEigen {
        value: values[m - 1],
        residual: (beta[m - 1] * vectors[[m - 1, m - 1]]).abs(),
        products: m,
    })
}
