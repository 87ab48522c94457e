//! `verify-claims --seeds K` on small claims: derived seeds are run, counted and reported in text
//! and JSON; nothing is written. (Seed robustness of the committed claims runs in `.ci/run`, as
//! `cargo xtask verify-claims --seeds 2`, never in `cargo test`.)

use end_to_end::{PASSING_CHECKS, Tree, small_unbiased_claim};

#[test]
fn derived_seeds_are_counted_and_nothing_is_written() {
    let t = Tree::new();
    t.claim(
        "minibatch-noise/small.yaml",
        &small_unbiased_claim("small", PASSING_CHECKS, "", "supported"),
    );
    let r = t.xtask(&["verify-claims", "--seeds", "2"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("PASS")
            && r.stdout
                .contains("own seed passes; 2/2 derived seeds pass their checks, 2/2 give the verdict `supported`"),
        "{}",
        r.stdout
    );
    assert!(t.outputs().is_empty(), "--seeds wrote files");
    let r = t.xtask(&["verify-claims", "--seeds", "2", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["claims"][0]["label"], "PASS");
    assert_eq!(v["claims"][0]["agreeing"], 2);
    assert_eq!(v["claims"][0]["runs"].as_array().unwrap().len(), 2);
}

#[test]
fn a_verdict_no_seed_gives_fails_the_own_seed_and_is_counted() {
    // A wording check no seed meets: every run computes `refined`, never the expected `supported`.
    let t = Tree::new();
    let wording = "  - { metric: mean_error_max_abs_z, at_most: 0.0, if_fails: refined }\n";
    t.claim(
        "minibatch-noise/w.yaml",
        &small_unbiased_claim("w", PASSING_CHECKS, wording, "supported"),
    );
    let r = t.xtask(&["verify-claims", "--seeds", "1"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("FAIL") && r.stdout.contains("0/1 give the verdict"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_verdict_the_derived_seeds_do_not_give_is_flagged_not_failed() {
    // The own seed's max |z| is 2.47; the two derived seeds give 1.58 and 1.71, so a wording
    // bound at 2 is met by the own seed only: its checks pass everywhere, its verdict does not.
    let t = Tree::new();
    let wording = "  - { metric: mean_error_max_abs_z, at_least: 2.0, if_fails: refined }\n";
    t.claim(
        "minibatch-noise/v.yaml",
        &small_unbiased_claim("v", PASSING_CHECKS, wording, "supported"),
    );
    let r = t.xtask(&["verify-claims", "--seeds", "2"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("VERDICT-FRAGILE")
            && r.stdout
                .contains("2/2 derived seeds pass their checks, 0/2 give the verdict `supported`")
            && r.stdout
                .contains("1 VERDICT-FRAGILE (reported, not failed)"),
        "{}",
        r.stdout
    );
}
