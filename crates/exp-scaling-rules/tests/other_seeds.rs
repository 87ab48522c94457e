//! Every claim of the family passes its checks, with its expected verdict, under seeds derived from
//! its own: the bounds come from theory and statistics, not from one lucky seed. Also: the same
//! seed gives the same outcome bit for bit whatever the number of threads.

use claim_spec::{ClaimFile, Outcome, Registry, RunContext, evaluate};
use sgd_sim::rng::Streams;
use std::path::Path;

/// Derived seeds per claim; the workspace-wide test `tests/tests/seeds.rs` runs 2 more.
const DERIVED_SEEDS: u64 = 3;

fn claim(id: &str) -> (ClaimFile, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../claims/scaling-rules")
        .join(format!("{id}.yaml"));
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: ClaimFile =
        claim_spec::yaml::parse_yaml(&source).unwrap_or_else(|e| panic!("{id}: {e:?}"));
    (file, source)
}

fn run(id: &str, seed_of: impl Fn(u64) -> u64, seeds: u64) -> Vec<(u64, Outcome)> {
    let (file, source) = claim(id);
    let mut registry = Registry::new();
    exp_scaling_rules::register(&mut registry);
    let kind = registry
        .get(&file.experiment)
        .unwrap_or_else(|| panic!("{id}: kind {} is not registered", file.experiment));
    let prepared = kind
        .prepare(&source)
        .unwrap_or_else(|e| panic!("{id}: {e:?}"));
    prepared
        .validation
        .clone()
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    (0..seeds)
        .map(|k| {
            let seed = seed_of(k);
            let out = (prepared.run)(&RunContext::new(id, seed))
                .unwrap_or_else(|e| panic!("{id} seed {seed}: {e}"));
            (seed, out)
        })
        .collect()
}

fn passes_with_derived_seeds(id: &str) {
    let (file, _) = claim(id);
    let streams = Streams::new(file.seed);
    for (seed, out) in run(id, |k| streams.derived_seed(k), DERIVED_SEEDS) {
        let ev = evaluate(&file, &out);
        let failed: Vec<_> = ev.checks.iter().filter(|c| !c.pass).collect();
        assert!(
            ev.passed(),
            "{id} seed {seed}: failed checks {failed:?}, problems {:?}",
            ev.problems
        );
        assert_eq!(ev.verdict, file.verdict, "{id} seed {seed}: verdict");
    }
}

#[test]
fn linear_scaling_rule_holds_for_other_seeds() {
    passes_with_derived_seeds("linear-scaling-rule");
}

#[test]
fn batch_size_tradeoffs_holds_for_other_seeds() {
    passes_with_derived_seeds("batch-size-tradeoffs");
}

#[test]
fn instability_remedies_holds_for_other_seeds() {
    passes_with_derived_seeds("instability-remedies");
}

#[test]
fn outcomes_do_not_depend_on_the_thread_count() {
    for id in ["instability-remedies", "batch-size-tradeoffs"] {
        let (file, _) = claim(id);
        let with = |threads: usize| {
            let pool = rayon_pool(threads);
            pool.install(|| run(id, |_| file.seed, 1).remove(0).1)
        };
        let (one, three) = (with(1), with(3));
        for (name, m) in &one.metrics {
            let other = three.metrics[name];
            assert_eq!(m.value.to_bits(), other.value.to_bits(), "{id}: {name}");
        }
        assert_eq!(one.tables, three.tables, "{id}: tables");
    }
}

fn rayon_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
}
