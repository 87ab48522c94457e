//! Gradients and Hessian-vector products against central finite differences over random
//! weights, batches, smoothing and dropout masks; Lanczos against a dense eigendecomposition.

use super::*;
use ndarray::Array2;
use sgd_sim::linalg::symmetric_eigen;
use sgd_sim::rng::{Stream, Streams, standard_normal, uniform_index, uniform01};

const SHAPE: Shape = Shape {
    inputs: 5,
    hidden: 4,
    outputs: 3,
};

/// A random case: weights (scaled up so tanh is curved), inputs, labels, smoothing, mask.
struct Case {
    w: Vec<f64>,
    x: Vec<f64>,
    labels: Vec<usize>,
    smoothing: f64,
    mask: Vec<f64>,
}

fn case(rng: &mut Stream) -> Case {
    let rows = 1 + uniform_index(rng, 6);
    let mut w = SHAPE.init(rng);
    for v in &mut w {
        *v += 0.3 * standard_normal(rng);
    }
    let x = (0..rows * SHAPE.inputs)
        .map(|_| standard_normal(rng))
        .collect();
    let labels = (0..rows)
        .map(|_| uniform_index(rng, SHAPE.outputs))
        .collect();
    let smoothing = if uniform01(rng) < 0.5 {
        0.0
    } else {
        0.2 * uniform01(rng)
    };
    let mask = (0..rows * SHAPE.hidden)
        .map(|_| if uniform01(rng) < 0.3 { 0.0 } else { 1.0 / 0.7 })
        .collect();
    Case {
        w,
        x,
        labels,
        smoothing,
        mask,
    }
}

impl Case {
    fn batch(&self) -> Batch<'_> {
        Batch {
            x: &self.x,
            labels: &self.labels,
            smoothing: self.smoothing,
        }
    }
    fn loss_at(&self, w: &[f64], mask: Option<&[f64]>) -> f64 {
        let mut ws = Workspace::new(SHAPE);
        let mut g = vec![0.0; w.len()];
        loss_grad(SHAPE, w, &self.batch(), mask, &mut ws, &mut g)
    }
    fn grad_at(&self, w: &[f64]) -> Vec<f64> {
        let mut ws = Workspace::new(SHAPE);
        let mut g = vec![0.0; w.len()];
        loss_grad(SHAPE, w, &self.batch(), None, &mut ws, &mut g);
        g
    }
}

#[test]
fn gradients_match_central_differences() {
    let streams = Streams::new(19);
    for c in 0..40 {
        let mut rng = streams.stream("mlp-grad-test", c);
        let k = case(&mut rng);
        let mask = (c % 2 == 0).then_some(k.mask.as_slice());
        let mut ws = Workspace::new(SHAPE);
        let mut g = vec![0.0; k.w.len()];
        let l = loss_grad(SHAPE, &k.w, &k.batch(), mask, &mut ws, &mut g);
        if mask.is_none() {
            assert!((l - loss(SHAPE, &k.w, &k.batch(), &mut ws)).abs() < 1e-12);
        }
        let h = 1e-5;
        for i in 0..k.w.len() {
            let mut wp = k.w.clone();
            wp[i] += h;
            let mut wm = k.w.clone();
            wm[i] -= h;
            let fd = (k.loss_at(&wp, mask) - k.loss_at(&wm, mask)) / (2.0 * h);
            // Central differences err by O(h^2) ~ 1e-10 plus rounding ~ 1e-11 / h.
            assert!(
                (fd - g[i]).abs() < 1e-7 * (1.0 + fd.abs()),
                "case {c}, param {i}: {fd} vs {}",
                g[i]
            );
        }
    }
}

#[test]
fn hessian_vector_products_match_differences_of_gradients() {
    let streams = Streams::new(20);
    for c in 0..40 {
        let mut rng = streams.stream("mlp-hvp-test", c);
        let k = case(&mut rng);
        let v: Vec<f64> = (0..k.w.len()).map(|_| standard_normal(&mut rng)).collect();
        let mut ws = Workspace::new(SHAPE);
        let mut hv = vec![0.0; k.w.len()];
        hvp(SHAPE, &k.w, &k.batch(), &v, &mut ws, &mut hv);
        let h = 1e-5;
        let wp: Vec<f64> = k.w.iter().zip(&v).map(|(a, b)| a + h * b).collect();
        let wm: Vec<f64> = k.w.iter().zip(&v).map(|(a, b)| a - h * b).collect();
        let (gp, gm) = (k.grad_at(&wp), k.grad_at(&wm));
        for i in 0..k.w.len() {
            let fd = (gp[i] - gm[i]) / (2.0 * h);
            assert!(
                (fd - hv[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                "case {c}, param {i}: {fd} vs {}",
                hv[i]
            );
        }
    }
}

#[test]
fn lanczos_finds_the_top_eigenvalue_of_the_dense_hessian() {
    let streams = Streams::new(21);
    for c in 0..5 {
        let mut rng = streams.stream("mlp-lanczos-test", c);
        let k = case(&mut rng);
        let n = k.w.len();
        let mut ws = Workspace::new(SHAPE);
        let mut dense = Array2::zeros((n, n));
        let mut col = vec![0.0; n];
        for j in 0..n {
            let mut e = vec![0.0; n];
            e[j] = 1.0;
            hvp(SHAPE, &k.w, &k.batch(), &e, &mut ws, &mut col);
            for i in 0..n {
                dense[[i, j]] = col[i];
            }
        }
        // The exact Hessian is symmetric.
        for i in 0..n {
            for j in 0..i {
                assert!((dense[[i, j]] - dense[[j, i]]).abs() < 1e-12);
            }
        }
        let (values, _) = symmetric_eigen(&dense).unwrap();
        let top = values[n - 1];
        let start: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let found = lanczos_top(&start, n, |v, out| {
            hvp(SHAPE, &k.w, &k.batch(), v, &mut ws, out);
        })
        .unwrap();
        assert!(
            (found.value - top).abs() < 1e-9 * top.abs().max(1.0),
            "{} vs {top}",
            found.value
        );
        // A few steps already give a lower bound close to it.
        let short = lanczos_top(&start, 12, |v, out| {
            hvp(SHAPE, &k.w, &k.batch(), v, &mut ws, out);
        })
        .unwrap();
        assert!(short.value <= top + 1e-12 && short.products == 12);
    }
}

#[test]
fn lanczos_refuses_a_zero_start_and_stops_on_an_invariant_subspace() {
    assert!(lanczos_top(&[0.0, 0.0], 2, |v, o| o.copy_from_slice(v)).is_err());
    // A = diag(3, 1), start e1: the Krylov space is one-dimensional.
    let r = lanczos_top(&[1.0, 0.0], 5, |v, o| {
        o[0] = 3.0 * v[0];
        o[1] = v[1];
    })
    .unwrap();
    assert_eq!((r.value, r.products), (3.0, 1));
}

#[test]
fn sgd_update_and_layout() {
    let s = Shape {
        inputs: 64,
        hidden: 32,
        outputs: 10,
    };
    assert_eq!(s.params(), 2410);
    assert_eq!(s.weight_ranges(), [0..2048, 2080..2400]);
    let mut w = vec![1.0, 2.0];
    sgd_update(&mut w, &[1.0, -1.0], 0.5);
    assert_eq!(w, vec![0.5, 2.5]);
}
