//! One SGD training step of the digits network (64-32-10) at b = 8 and b = 32, and one
//! Hessian-vector product over the 1,024 training images, with throughput in multiply-accumulates
//! (criterion's "elements" per second are MAC/s; divide by 1e9 for GMAC/s).
//!
//! Run with `cargo bench -p mlp --bench step`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mlp::{Batch, Shape, Workspace, hvp, loss_grad, sgd_update};
use sgd_sim::rng::{Streams, standard_normal, uniform_index};
use std::hint::black_box;

const SHAPE: Shape = Shape {
    inputs: 64,
    hidden: 32,
    outputs: 10,
};

fn bench(c: &mut Criterion) {
    let streams = Streams::new(19);
    let mut rng = streams.stream("bench", 0);
    let n = 1024;
    let x: Vec<f64> = (0..n * SHAPE.inputs)
        .map(|_| 0.3 * standard_normal(&mut rng))
        .collect();
    let labels: Vec<usize> = (0..n).map(|_| uniform_index(&mut rng, 10)).collect();
    let mut w = SHAPE.init(&mut rng);
    let mut ws = Workspace::new(SHAPE);
    let mut g = vec![0.0; SHAPE.params()];
    let mut group = c.benchmark_group("mlp");
    for b in [8usize, 32] {
        group.throughput(Throughput::Elements((b * SHAPE.step_macs()) as u64));
        group.bench_function(format!("sgd_step_b{b}"), |bench| {
            let mut start = 0;
            bench.iter(|| {
                let batch = Batch {
                    x: &x[start * SHAPE.inputs..(start + b) * SHAPE.inputs],
                    labels: &labels[start..start + b],
                    smoothing: 0.0,
                };
                loss_grad(SHAPE, &w, &batch, None, &mut ws, &mut g);
                sgd_update(&mut w, &g, 1e-3);
                start = (start + b) % n;
                black_box(&mut w);
            });
        });
    }
    let v: Vec<f64> = (0..SHAPE.params())
        .map(|_| standard_normal(&mut rng))
        .collect();
    let full = Batch {
        x: &x,
        labels: &labels,
        smoothing: 0.0,
    };
    let mut out = vec![0.0; SHAPE.params()];
    group.throughput(Throughput::Elements((n * SHAPE.hvp_macs()) as u64));
    group.bench_function("hvp_full_1024", |bench| {
        bench.iter(|| {
            hvp(SHAPE, &w, &full, &v, &mut ws, &mut out);
            black_box(&mut out);
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
