//! Criterion benchmark of one minibatch SGD step of the fixed least-squares model of the claim
//! `batch-size-tradeoffs` (N = 1024 examples, d = 256 parameters), for b = 1, 2, 4, ..., 1024.
//! `cargo xtask bench-table` runs it and writes site/_data/timings.json from its estimates.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use exp_scaling_rules::batch_tradeoffs::default_model_sizes;
use exp_scaling_rules::minibatch_step::{LeastSquaresModel, StepWorkspace, sgd_step};
use exp_scaling_rules::timings::{BATCH_SIZES, BENCH_GROUP};
use sgd_sim::rng::Streams;
use std::hint::black_box;
use std::time::Duration;

/// Step size of the timed steps: stable for this model (largest per-example curvature ||x||^2
/// about 6, so eta ||x||^2 < 2), so the weights stay finite however many steps criterion runs.
const ETA: f64 = 0.1;

fn minibatch_step(c: &mut Criterion) {
    let (samples, dim, label_noise) = default_model_sizes();
    let streams = Streams::new(20_250_531);
    let (model, teacher) = match LeastSquaresModel::generate(&streams, samples, dim, label_noise) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cannot build the benchmark model: {e}");
            std::process::exit(1);
        }
    };
    let mut group = c.benchmark_group(BENCH_GROUP);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for &b in &BATCH_SIZES {
        group.throughput(Throughput::Elements(b as u64));
        let mut w: Vec<f64> = teacher.iter().map(|t| t + 1.0).collect();
        let mut workspace = StepWorkspace::new(b, dim);
        let mut rng = streams.stream("bench", b as u64);
        group.bench_function(BenchmarkId::from_parameter(b), |bencher| {
            bencher.iter(|| sgd_step(&model, black_box(&mut w), ETA, &mut workspace, &mut rng));
        });
    }
    group.finish();
}

criterion_group!(benches, minibatch_step);
criterion_main!(benches);
