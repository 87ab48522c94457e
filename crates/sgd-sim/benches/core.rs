//! Benchmarks of the simulation core's hot paths: one standard normal draw (the unit every
//! stochastic kernel is compared against), one minibatch gradient for several batch sizes, the
//! exact first-passage quadrature, and the noisy quadratic model's closed form.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sgd_sim::data::{LeastSquaresSpec, generate_least_squares, harmonic_spectrum};
use sgd_sim::first_passage::{Quadrature, mean_first_passage_time};
use sgd_sim::noisy_quadratic::NoisyQuadratic;
use sgd_sim::objective::FiniteSum;
use sgd_sim::potential::{DoubleWell, Potential};
use sgd_sim::rng::{Streams, standard_normal};
use sgd_sim::sampler::{BatchSampler, SamplerKind};
use std::hint::black_box;

fn normal_draw(c: &mut Criterion) {
    let mut rng = Streams::new(1).stream("bench", 0);
    c.bench_function("standard_normal (ziggurat, xoshiro256++)", |b| {
        b.iter(|| black_box(standard_normal(&mut rng)))
    });
}

fn minibatch_gradient(c: &mut Criterion) {
    let spec = LeastSquaresSpec {
        samples: 4096,
        spectrum: harmonic_spectrum(64),
        label_noise: 0.5,
    };
    let (ls, _) =
        generate_least_squares(&spec, &mut Streams::new(2).stream("data", 0)).expect("valid spec");
    let w = vec![0.1; 64];
    let mut g = vec![0.0; 64];
    let mut group = c.benchmark_group("minibatch gradient (least squares, d = 64)");
    for b in [1usize, 8, 64, 512] {
        let mut sampler = BatchSampler::new(SamplerKind::WithReplacement, ls.len(), b);
        let mut rng = Streams::new(3).stream("bench", b as u64);
        group.throughput(Throughput::Elements(b as u64));
        group.bench_with_input(BenchmarkId::from_parameter(b), &b, |bench, _| {
            bench.iter(|| {
                let batch = sampler.next_batch(&mut rng);
                ls.batch_gradient(batch, &w, &mut g);
                black_box(g[0])
            });
        });
    }
    group.finish();
}

fn first_passage(c: &mut Criterion) {
    let well = DoubleWell { height: 1.0 };
    c.bench_function(
        "mean first-passage time, double well, 4000 intervals",
        |b| {
            b.iter(|| {
                mean_first_passage_time(
                    |x| well.value(x),
                    black_box(0.2),
                    -2.5,
                    -1.0,
                    1.0,
                    Quadrature::default(),
                )
                .map(|p| p.tau)
            })
        },
    );
}

fn noisy_quadratic(c: &mut Criterion) {
    let model = NoisyQuadratic::harmonic(1000);
    let target = 0.01 * model.initial_loss();
    c.bench_function("noisy quadratic d = 1000: expected loss at t", |b| {
        b.iter(|| model.expected_loss(black_box(0.5), 64.0, 1234.0))
    });
    c.bench_function(
        "noisy quadratic d = 1000: steps to target by bisection",
        |b| b.iter(|| model.steps_to_target(black_box(0.5), 64.0, target)),
    );
}

criterion_group!(
    benches,
    normal_draw,
    minibatch_gradient,
    first_passage,
    noisy_quadratic
);
criterion_main!(benches);
