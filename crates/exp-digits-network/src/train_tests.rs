//! Short real runs (a few epochs, never a claim's size): the trainer's stops, variants and
//! determinism across thread counts.

use crate::common::run_grid;
use crate::data::load;
use crate::train::{Probes, Recipe, run};
use claim_spec::RunContext;
use sgd_sim::cancel::Cancel;
use sgd_sim::rng::Streams;

fn short(batch: usize, lr: f64, epochs: usize) -> Recipe {
    Recipe {
        batch,
        lr,
        epochs,
        ..Recipe::default()
    }
}

#[test]
fn a_run_learns_stops_at_its_target_and_probes() {
    let d = load(19).unwrap();
    let probes = Probes {
        target_loss: Some(0.5),
        check_examples: 256,
        sharpness_epochs: vec![0],
        sharpness_at_end: true,
        lanczos_steps: 6,
        noise_scale_at_end: true,
        ..Probes::default()
    };
    let r = run(
        &short(64, 1.0, 5),
        &probes,
        &d,
        &Streams::new(1),
        0,
        &Cancel::new(),
    )
    .unwrap();
    assert!(!r.diverged);
    let steps = r.steps_to_target.unwrap();
    assert!(steps <= r.steps as f64 && steps > 0.0);
    assert!(
        r.train.loss <= 0.5 && r.test.accuracy > 0.7,
        "{} {}",
        r.train.loss,
        r.test.accuracy
    );
    assert_eq!(r.sharpness.len(), 2);
    assert!(r.sharpness.iter().all(|s| s.1 > 0.0));
    let ns = r.noise_scale[0];
    assert!(ns.trace_sigma > 0.0 && ns.grad_norm2 > 0.0);
}

#[test]
fn a_huge_learning_rate_diverges_to_a_chance_level_result() {
    let d = load(19).unwrap();
    let r = run(
        &short(512, 1e4, 3),
        &Probes::default(),
        &d,
        &Streams::new(1),
        0,
        &Cancel::new(),
    )
    .unwrap();
    assert!(r.diverged);
    assert_eq!(r.test.accuracy, 0.1);
    assert!(r.test.loss.is_finite());
}

#[test]
fn variants_change_the_run_and_the_same_seed_repeats_it() {
    let d = load(19).unwrap();
    let s = Streams::new(2);
    let go = |r: &Recipe| run(r, &Probes::default(), &d, &s, 3, &Cancel::new()).unwrap();
    let base = go(&short(128, 1.0, 2));
    assert_eq!(go(&short(128, 1.0, 2)), base);
    for v in [
        Recipe {
            warmup_epochs: 1.0,
            ..short(128, 1.0, 2)
        },
        Recipe {
            smoothing: 0.1,
            ..short(128, 1.0, 2)
        },
        Recipe {
            input_noise: 0.2,
            ..short(128, 1.0, 2)
        },
        Recipe {
            dropout: 0.2,
            ..short(128, 1.0, 2)
        },
        Recipe {
            weight_decay: 1e-2,
            ..short(128, 1.0, 2)
        },
    ] {
        assert_ne!(go(&v).test.loss, base.test.loss, "{v:?}");
    }
    let decayed = go(&Recipe {
        weight_decay: 1e-2,
        ..short(128, 1.0, 2)
    });
    assert!(decayed.weight_norm < base.weight_norm);
}

#[test]
fn results_are_the_same_bits_with_one_or_two_threads() {
    let d = load(19).unwrap();
    let jobs = vec![
        (short(256, 1.0, 1), Probes::default()),
        (short(512, 2.0, 2), Probes::default()),
    ];
    let ctx = RunContext::new("determinism", 5);
    let with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run_grid(&jobs, 3, &d, &ctx).unwrap())
    };
    assert_eq!(with(1), with(2));
}

#[test]
fn a_cancelled_run_stops() {
    let d = load(19).unwrap();
    let cancel = Cancel::new();
    cancel.cancel();
    let r = run(
        &short(512, 1.0, 3),
        &Probes::default(),
        &d,
        &Streams::new(1),
        0,
        &cancel,
    );
    assert!(matches!(r, Err(claim_spec::ExperimentError::Cancelled)));
}
