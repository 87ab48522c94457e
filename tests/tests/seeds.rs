//! Every committed claim passes with seeds derived from its own, not only with the one it ships
//! with: its bounds come from theory and statistics, not from one lucky seed.

use claim_runner::verify::{self, Paths};

/// Derived seeds per claim. Each claim's bounds are about 4 SE wide, so a correct claim fails a
/// derived seed with probability well under 1%; two seeds keep the test's run time near two suite runs.
const DERIVED_SEEDS: u64 = 2;

#[test]
fn every_committed_claim_passes_with_derived_seeds() {
    let paths = Paths::new(end_to_end::repo_root());
    let registry = claim_runner::families::registry();
    let claims = verify::load(&paths, &registry)
        .unwrap_or_else(|e| panic!("committed claims must load: {e:?}"));
    let selected: Vec<_> = claims.iter().collect();
    assert!(!selected.is_empty());
    let reports = verify::seed_robustness(&selected, DERIVED_SEEDS, 1.0);
    let bad: Vec<String> = reports
        .iter()
        .filter(|r| !r.own_seed_passes || r.runs.iter().any(|x| !x.1))
        .map(|r| {
            format!(
                "{}: own seed passes {}; failures {:?}",
                r.id,
                r.own_seed_passes,
                r.runs.iter().filter(|x| !x.1).collect::<Vec<_>>()
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "claims not robust to their seed:\n{}",
        bad.join("\n")
    );
}
