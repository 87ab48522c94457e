//! The runner end to end on temporary claim trees: exit codes, messages, outputs. (Bad inputs
//! that are data live in `tests/cases/`, one file each.)

use end_to_end::{PASSING_CHECKS, Tree, small_unbiased_claim};

#[test]
fn passing_tree_exits_zero_and_writes_result_and_figure() {
    let t = Tree::new();
    t.claim(
        "minibatch-noise/small.yaml",
        &small_unbiased_claim("small", PASSING_CHECKS, "", "supported"),
    );
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("PASS") && r.stdout.contains("small"),
        "{}",
        r.stdout
    );
    let result = std::fs::read_to_string(t.root().join("site/_data/claims/small.json")).unwrap();
    assert!(
        result.contains("\"status\": \"pass\"") && result.contains("\"verdict\": \"supported\"")
    );
    assert!(
        t.root()
            .join("site/assets/img/posts/sgd-noise-as-a-design-feature/small-mean-error.svg")
            .is_file()
    );
    // No absolute path of the temporary tree leaks into the result.
    assert!(!result.contains(&t.root().display().to_string()));
}

#[test]
fn failing_bound_exits_two_and_names_the_check() {
    let t = Tree::new();
    let checks = "  - { metric: mean_error_max_abs_z, at_most: 0.0 }\n";
    t.claim(
        "minibatch-noise/tight.yaml",
        &small_unbiased_claim("tight", checks, "", "supported"),
    );
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("FAIL")
            && r.stdout.contains("check mean_error_max_abs_z")
            && r.stdout.contains("at_most 0"),
        "{}",
        r.stdout
    );
    let result = std::fs::read_to_string(t.root().join("site/_data/claims/tight.json")).unwrap();
    assert!(result.contains("\"status\": \"fail\""));
}

#[test]
fn failing_wording_sets_the_verdict_and_a_mismatch_fails_the_claim() {
    let wording = "  - { metric: mean_error_max_abs_z, at_most: 0.0, if_fails: refined }\n";
    // The file expects `refined`: the computed verdict matches, the claim passes.
    let t = Tree::new();
    t.claim(
        "minibatch-noise/w.yaml",
        &small_unbiased_claim("w", PASSING_CHECKS, wording, "refined"),
    );
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("refined"));
    // The file expects `supported`: the claim fails and says why.
    let t = Tree::new();
    t.claim(
        "minibatch-noise/w.yaml",
        &small_unbiased_claim("w", PASSING_CHECKS, wording, "supported"),
    );
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout
            .contains("computed verdict `refined` differs from the expected `supported`"),
        "{}",
        r.stdout
    );
    // `contradicted` outranks `refined`.
    let both = format!(
        "{wording}  - {{ metric: epoch_average_rel_error_max, at_least: 1.0, if_fails: contradicted }}\n"
    );
    let t = Tree::new();
    t.claim(
        "minibatch-noise/w.yaml",
        &small_unbiased_claim("w", PASSING_CHECKS, &both, "contradicted"),
    );
    assert_eq!(t.xtask(&["verify-claims"]).code, 0);
}
