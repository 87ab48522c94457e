//! The family's claim files load (kind, parameters and placeholders valid), and a small run of a
//! kind does not depend on the number of threads. Whole claims run in `cargo xtask verify-claims`,
//! never here.

use claim_spec::Registry;
use claim_spec::RunContext;
use claim_spec::experiment::run_experiment;
use claim_spec::load::load_claim;
use exp_gradient_diversity::batch_knee::{BatchKnee, Params};
use std::path::Path;

#[test]
fn every_claim_file_loads() {
    let mut registry = Registry::new();
    exp_gradient_diversity::register(&mut registry);
    for id in [
        "diversity-identity",
        "diversity-batch-knee",
        "critical-batch-size",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../claims/gradient-diversity")
            .join(format!("{id}.yaml"));
        if let Err(errors) = load_claim(&path, id, &registry, f64::INFINITY) {
            panic!("{id}: {errors:?}");
        }
    }
}

#[test]
fn outcomes_do_not_depend_on_the_thread_count() {
    let p = Params {
        samples: 64,
        dim: 3,
        batch_sizes: vec![1, 2, 4, 8, 16, 64],
        sim_batch_sizes: vec![1, 2, 4, 8, 16],
        sim_runs: 100,
        eta_grid_points: 12,
        eta_tolerance: 1e-2,
        ..Params::default()
    };
    let with = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
            .install(|| run_experiment::<BatchKnee>(&p, &RunContext::new("t", 7)).unwrap())
    };
    assert_eq!(with(1), with(3));
}
