//! Benchmarks of the two-layer tanh network of `small-batch-flatter`: the gradient of the mean
//! training loss over a minibatch and over the full training set, and one exact Hessian-vector
//! product (Pearlmutter's R-operator), the unit of work of Lanczos.

use criterion::{Criterion, criterion_group, criterion_main};
use exp_flat_minima::network::{Dataset, HessianOperator, TanhNetwork};
use sgd_sim::rng::{Streams, standard_normal};
use std::hint::black_box;

/// A synthetic regression set of `n` examples in `d` dimensions, from a fixed stream.
fn dataset(n: usize, d: usize, streams: &Streams) -> Dataset {
    let mut rng = streams.stream("bench-data", 0);
    let inputs: Vec<f64> = (0..n * d).map(|_| standard_normal(&mut rng)).collect();
    let targets: Vec<f64> = (0..n)
        .map(|i| sgd_sim::math::sin(inputs[i * d]) + 0.1 * standard_normal(&mut rng))
        .collect();
    Dataset {
        inputs,
        targets,
        dim: d,
    }
}

fn network(c: &mut Criterion) {
    let streams = Streams::new(5);
    let net = TanhNetwork {
        inputs: 10,
        hidden: 32,
    };
    let theta = net.initialize(&mut streams.stream("bench-init", 0));
    let data = dataset(512, 10, &streams);
    let batch = Dataset {
        inputs: data.inputs[..8 * 10].to_vec(),
        targets: data.targets[..8].to_vec(),
        dim: 10,
    };
    let mut grad = vec![0.0; net.parameter_count()];
    let mut acts = vec![0.0; net.hidden];
    c.bench_function(
        &format!(
            "tanh network ({} parameters): gradient over b = 8",
            net.parameter_count()
        ),
        |b| b.iter(|| net.full_gradient(black_box(&theta), &batch, &mut grad, &mut acts)),
    );
    c.bench_function("tanh network: gradient over b = 512", |b| {
        b.iter(|| net.full_gradient(black_box(&theta), &data, &mut grad, &mut acts))
    });
    let op = HessianOperator::new(net, &theta, &data);
    let u: Vec<f64> = (0..op.dim())
        .map(|k| ((k % 7) as f64 - 3.0) / 3.0)
        .collect();
    let mut out = vec![0.0; op.dim()];
    c.bench_function(
        "tanh network: Hessian-vector product over 512 examples",
        |b| b.iter(|| op.apply(black_box(&u), &mut out)),
    );
}

criterion_group!(benches, network);
criterion_main!(benches);
