//! The escape kernel's time per trajectory-step, next to the time of one standard normal draw from
//! the same generator (xoshiro256++ through rand_distr's ziggurat): the floor a Gaussian-noise step
//! cannot go below. The goal, measured and not asserted, is at most 1.3x that floor.
//!
//! Run with `cargo bench -p exp-escape-rates --bench escape_kernel`; criterion prints each
//! benchmark's throughput in elements (steps or draws) per second, whose inverse is the time per
//! step.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exp_escape_rates::kernel::{
    BLOCK, EscapeSpec, ExitAbove, GaussianNoise, MinibatchNoise, escape_steps_block,
};
use sgd_sim::potential::DoubleWell;
use sgd_sim::rng::{Streams, standard_normal};
use std::hint::black_box;

/// Trajectories per measured iteration: one work item of the claims' runs.
const TRAJECTORIES: usize = BLOCK;

fn bench(c: &mut Criterion) {
    let streams = Streams::new(20_250_531);
    let mut group = c.benchmark_group("escape_kernel");

    // The floor: draws into a buffer, 1024 per iteration, so criterion's per-iteration overhead
    // does not count (and no floating-point sum chains the draws together).
    let mut draws = vec![0.0f64; 1024];
    group.throughput(Throughput::Elements(draws.len() as u64));
    group.bench_function("standard_normal_draw", |b| {
        let mut rng = streams.stream("bench-normal", 0);
        b.iter(|| {
            for z in draws.iter_mut() {
                *z = standard_normal(&mut rng);
            }
            black_box(&mut draws);
        });
    });

    // The double well at dL/T = 4, eta = 0.02 (about 3400 steps per trajectory): the same
    // iteration as the claims, with a shorter mean exit time.
    let well = DoubleWell { height: 1.0 };
    let (eta, temperature): (f64, f64) = (0.02, 0.25);
    let gaussian = GaussianNoise {
        scale: (2.0 * temperature / eta).sqrt(),
    };
    let spec = EscapeSpec {
        potential: &well,
        noise: &gaussian,
        exit: ExitAbove(1.0),
        eta,
        start: -1.0,
        max_steps: u64::MAX,
    };
    let mut out = vec![0u64; TRAJECTORIES];
    escape_steps_block(&spec, &streams, "bench", 0, &mut out).expect("the bench run exits");
    group.throughput(Throughput::Elements(out.iter().sum()));
    group.bench_function("trajectory_step_gaussian", |b| {
        b.iter(|| {
            escape_steps_block(&spec, &streams, "bench", 0, &mut out).expect("exits");
            black_box(out[0])
        });
    });

    // Minibatch noise, b = 4 offsets of a centred data set of 1000, at the same temperature.
    let mut rng = streams.stream("bench-data", 0);
    let raw: Vec<f64> = (0..1000).map(|_| standard_normal(&mut rng)).collect();
    let mean = raw.iter().sum::<f64>() / raw.len() as f64;
    let batch = 4;
    let s0 = gaussian.scale * (batch as f64).sqrt();
    let offsets: Vec<f64> = raw.iter().map(|x| s0 * (x - mean)).collect();
    let minibatch = MinibatchNoise::new(offsets, batch).expect("valid offsets");
    let spec = EscapeSpec {
        potential: &well,
        noise: &minibatch,
        exit: ExitAbove(1.0),
        eta,
        start: -1.0,
        max_steps: u64::MAX,
    };
    escape_steps_block(&spec, &streams, "bench", 0, &mut out).expect("the bench run exits");
    group.throughput(Throughput::Elements(out.iter().sum()));
    group.bench_function("trajectory_step_minibatch_b4", |b| {
        b.iter(|| {
            escape_steps_block(&spec, &streams, "bench", 0, &mut out).expect("exits");
            black_box(out[0])
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
