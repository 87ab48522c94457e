//! Pilot runs on seeds other than the claims' (seed 777), to size designs. Not part of any result.
//!
//! `cargo run -p exp-digits-network --example pilot -- <batch> <lr> <epochs> [target] [seeds]`

use exp_digits_network::data::load;
use exp_digits_network::train::{Probes, Recipe, run};
use sgd_sim::cancel::Cancel;
use sgd_sim::rng::Streams;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: f64| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let recipe = Recipe {
        batch: num(0, 32.0) as usize,
        lr: num(1, 0.1),
        epochs: num(2, 30.0) as usize,
        smoothing: num(5, 0.0),
        input_noise: num(6, 0.0),
        dropout: num(7, 0.0),
        weight_decay: num(8, 0.0),
        warmup_epochs: num(9, 0.0),
    };
    let target = num(3, 0.0);
    let seeds = num(4, 4.0) as u64;
    let probes = Probes {
        target_loss: (target > 0.0).then_some(target),
        sharpness_at_end: true,
        check_examples: num(10, 1024.0) as usize,
        sharpness_epochs: vec![0, 1],
        ..Probes::default()
    };
    let d = load(19).unwrap();
    let streams = Streams::new(777);
    let t0 = std::time::Instant::now();
    for s in 0..seeds {
        let r = run(&recipe, &probes, &d, &streams, s, &Cancel::new()).unwrap();
        println!(
            "seed {s}: div {} ep {} steps {} to_target {:?} train {:.4}/{:.4} test {:.4}/{:.4} top {:.3} sharp {:?} |w| {:.2}",
            r.diverged,
            r.epochs,
            r.steps,
            r.steps_to_target,
            r.train.loss,
            r.train.accuracy,
            r.test.loss,
            r.test.accuracy,
            r.train.mean_top(),
            r.sharpness,
            r.weight_norm
        );
    }
    eprintln!("{:?}", t0.elapsed());
}
