//! Every claim of the family passes its checks, with its expected verdict, under seeds other than
//! its own: the bounds hold for the statistics, not for one draw. The seeds are derived from the
//! claim seed as `verify-claims --seeds` derives them, at indices (5, 6) beyond the five that
//! command checks by default.

use claim_spec::load::load_claim;
use claim_spec::{Registry, RunContext, evaluate};
use sgd_sim::rng::Streams;
use std::path::PathBuf;

/// The runner's work limit (claim-runner's MAX_WORK), so the files load as they do there.
const MAX_WORK: f64 = 3e11;

fn claims_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../claims/escape-rates")
}

fn passes_under_other_seeds(id: &str) {
    let mut registry = Registry::new();
    exp_escape_rates::register(&mut registry);
    let path = claims_dir().join(format!("{id}.yaml"));
    let loaded = load_claim(&path, id, &registry, MAX_WORK)
        .unwrap_or_else(|e| panic!("{id} does not load: {e:?}"));
    assert!(loaded.params.validation.is_ok(), "{id}: invalid params");
    for index in [5, 6] {
        let seed = Streams::new(loaded.claim.seed).derived_seed(index);
        let ctx = RunContext::new(id, seed);
        let outcome = (loaded.params.run)(&ctx)
            .unwrap_or_else(|e| panic!("{id}, seed {seed}: run failed: {e}"));
        let evaluation = evaluate(&loaded.claim, &outcome);
        let failed: Vec<String> = evaluation
            .checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| format!("{} = {:?} violates {}", c.metric, c.value, c.bound))
            .chain(evaluation.problems.iter().cloned())
            .collect();
        assert!(evaluation.passed(), "{id}, seed {seed}: {failed:?}");
    }
}

#[test]
fn kramers_escape_passes_under_other_seeds() {
    passes_under_other_seeds("kramers-escape");
}

#[test]
fn effective_temperature_passes_under_other_seeds() {
    passes_under_other_seeds("effective-temperature");
}

#[test]
fn saddle_escape_passes_under_other_seeds() {
    passes_under_other_seeds("saddle-escape");
}
