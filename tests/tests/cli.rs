//! The runner end to end on temporary claim trees: exit codes, messages, outputs.

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

fn invalid(text: &str) -> end_to_end::Run {
    let t = Tree::new();
    t.claim("minibatch-noise/bad.yaml", text);
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 65, "{r:?}");
    assert!(r.stderr.contains("nothing was run"), "{}", r.stderr);
    assert!(
        !t.root().join("site/_data/claims/bad.json").exists(),
        "a result was written for an invalid claim"
    );
    r
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let good = small_unbiased_claim("bad", PASSING_CHECKS, "", "supported");
    let broken = good.replace("seed: 7\n", "seed: 7: 8\n");
    let line = broken.lines().position(|l| l.starts_with("seed:")).unwrap() + 1;
    let r = invalid(&broken);
    assert!(
        r.stderr
            .contains(&format!("claims/minibatch-noise/bad.yaml:{line}:")),
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_top_level_key_is_named_with_line_and_suggestion() {
    let text =
        small_unbiased_claim("bad", PASSING_CHECKS, "", "supported").replace("title:", "titel:");
    let r = invalid(&text);
    assert!(r.stderr.contains("bad.yaml:2:1"), "{}", r.stderr);
    assert!(
        r.stderr.contains("key `titel`") && r.stderr.contains("did you mean `title`"),
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_params_key_is_named_with_line_and_suggestion() {
    let text = small_unbiased_claim("bad", PASSING_CHECKS, "", "supported")
        .replace("  replicas: 4", "  replica: 4");
    let r = invalid(&text);
    let line = text.lines().position(|l| l.contains("replica: 4")).unwrap() + 1;
    assert!(
        r.stderr.contains(&format!("bad.yaml:{line}:")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("params.replica") && r.stderr.contains("did you mean `replicas`"),
        "{}",
        r.stderr
    );
}

#[test]
fn wrong_type_and_missing_field_are_named() {
    let text = small_unbiased_claim("bad", PASSING_CHECKS, "", "supported")
        .replace("  dim: 3", "  dim: three");
    let r = invalid(&text);
    assert!(r.stderr.contains("params.dim"), "{}", r.stderr);
    let text =
        small_unbiased_claim("bad", PASSING_CHECKS, "", "supported").replace("seed: 7\n", "");
    let r = invalid(&text);
    assert!(
        r.stderr.contains("key `seed`") && r.stderr.contains("missing field"),
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_kind_gets_the_closest_valid_one() {
    let text = small_unbiased_claim("bad", PASSING_CHECKS, "", "supported").replace(
        "minibatch-noise/gradient-unbiased",
        "minibatch-noise/gradient-unbaised",
    );
    let r = invalid(&text);
    assert!(
        r.stderr.contains("unknown experiment kind")
            && r.stderr
                .contains("did you mean `minibatch-noise/gradient-unbiased`"),
        "{}",
        r.stderr
    );
}

#[test]
fn out_of_range_params_are_refused_before_running() {
    let text = small_unbiased_claim("bad", PASSING_CHECKS, "", "supported")
        .replace("  replicas: 4", "  replicas: 0");
    let r = invalid(&text);
    assert!(
        r.stderr.contains("params.replicas") && r.stderr.contains("at least 2"),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_errors_exit_64() {
    let t = Tree::new();
    t.claim(
        "minibatch-noise/small.yaml",
        &small_unbiased_claim("small", PASSING_CHECKS, "", "supported"),
    );
    assert_eq!(t.xtask(&["verify-claims", "--jobs", "0"]).code, 64);
    assert_eq!(t.xtask(&["no-such-command"]).code, 64);
    let r = t.xtask(&["verify-claims", "smal"]);
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("did you mean `small`"), "{}", r.stderr);
}
