//! Results and figures are byte-identical across runs and thread counts (ARCHITECTURE.md,
//! "Randomness and determinism").

use end_to_end::{PASSING_CHECKS, Tree, small_unbiased_claim};

fn variance_claim() -> String {
    "id: var\ntitle: Small variance test\nsection: \"1.1\"\nstatement: Variance falls as 1/b.\nverdict: supported\n\
     experiment: minibatch-noise/minibatch-variance\nseed: 11\nparams:\n  samples: 64\n  dim: 3\n  label_noise: 0.5\n  \
     batch_sizes: [1, 8, 64]\n  batches: 2000\n  streams: 8\nchecks:\n  - { metric: ratio_max_abs_z, at_most: 4.5 }\n\
     figures:\n  - { name: variance, caption: Variance. }\n"
        .to_owned()
}

#[test]
fn two_runs_and_two_thread_counts_give_identical_bytes() {
    let t = Tree::new();
    t.claim(
        "minibatch-noise/small.yaml",
        &small_unbiased_claim("small", PASSING_CHECKS, "", "supported"),
    );
    t.claim("minibatch-noise/var.yaml", &variance_claim());
    assert_eq!(t.xtask(&["verify-claims", "--jobs", "2"]).code, 0);
    let first = t.outputs();
    assert_eq!(
        first.len(),
        4,
        "{:?}",
        first.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(t.xtask(&["verify-claims", "--jobs", "2"]).code, 0);
    assert_eq!(first, t.outputs(), "a second run changed bytes");
    assert_eq!(t.xtask(&["verify-claims", "--jobs", "1"]).code, 0);
    assert_eq!(first, t.outputs(), "one thread gave other bytes than two");
    assert_eq!(t.xtask(&["verify-claims", "--jobs", "3"]).code, 0);
    assert_eq!(
        first,
        t.outputs(),
        "three threads gave other bytes than two"
    );
}

#[test]
fn another_seed_gives_other_numbers() {
    let t = Tree::new();
    t.claim(
        "minibatch-noise/small.yaml",
        &small_unbiased_claim("small", PASSING_CHECKS, "", "supported"),
    );
    assert_eq!(t.xtask(&["verify-claims"]).code, 0);
    let a = std::fs::read_to_string(t.root().join("site/_data/claims/small.json")).unwrap();
    t.claim(
        "minibatch-noise/small.yaml",
        &small_unbiased_claim("small", PASSING_CHECKS, "", "supported")
            .replace("seed: 7", "seed: 8"),
    );
    assert_eq!(t.xtask(&["verify-claims"]).code, 0);
    let b = std::fs::read_to_string(t.root().join("site/_data/claims/small.json")).unwrap();
    assert_ne!(a, b);
}
