//! What contributors rely on: the claim schema is fresh and validates every committed claim file,
//! and `new-claim` followed by `verify-claims` works for an existing kind with no Rust change (the
//! refusals of `new-claim` are cases under `tests/cases/`).

use end_to_end::{Tree, repo_root};

#[test]
fn schema_is_fresh_and_every_claim_file_points_at_it_and_validates() {
    let registry = claim_runner::families::registry();
    let generated = claim_runner::schema::claim_schema_bytes(&registry);
    let committed = std::fs::read(repo_root().join("claims/schema.json"))
        .expect("claims/schema.json is committed");
    assert!(
        generated == committed,
        "claims/schema.json is stale: run `cargo xtask schema` and commit it"
    );

    let schema: serde_json::Value = serde_json::from_slice(&committed).unwrap();
    let problems =
        claim_runner::schema::validate_claim_files(&repo_root().join("claims"), &schema).unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_schema_rejects_a_misspelled_param() {
    let registry = claim_runner::families::registry();
    let schema: serde_json::Value =
        serde_json::from_slice(&claim_runner::schema::claim_schema_bytes(&registry)).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("urn:sgd-claims:claim", schema)
        .unwrap();
    let index = compiler
        .compile("urn:sgd-claims:claim", &mut schemas)
        .unwrap();
    let text = end_to_end::small_unbiased_claim("x", end_to_end::PASSING_CHECKS, "", "supported")
        .replace("replicas:", "replica:");
    let instance =
        serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(&text).unwrap()).unwrap();
    assert!(schemas.validate(&instance, index).is_err());
}

#[test]
fn new_claim_then_verify_works_without_rust_changes() {
    let t = Tree::new();
    let r = t.xtask(&[
        "new-claim",
        "minibatch-noise/fresh-variance",
        "--kind",
        "minibatch-noise/minibatch-variance",
        "--section",
        "1.2",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(t.root().join("claims/minibatch-noise/fresh-variance.yaml"))
        .unwrap();
    assert!(
        text.contains("samples: 1024") && text.contains("# Data points N."),
        "{text}"
    );
    // No claim of this kind in the tree to copy the section and checks from: `--section` was
    // needed, and the scaffold is refused until a check is added.
    assert!(text.contains("section: \"1.2\""), "{text}");
    let r = t.xtask(&["verify-claims", "fresh-variance"]);
    assert_eq!(r.code, 65, "{r:?}");
    assert!(r.stderr.contains("at least one check"), "{}", r.stderr);

    // In a tree with a claim of the kind, checks are copied and the new claim runs as it is.
    let t = Tree::new();
    let source =
        std::fs::read_to_string(repo_root().join("claims/minibatch-noise/minibatch-variance.yaml"))
            .unwrap();
    t.claim("minibatch-noise/minibatch-variance.yaml", &source);
    let r = t.xtask(&[
        "new-claim",
        "minibatch-noise/fresh-variance",
        "--kind",
        "minibatch-noise/minibatch-variance",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(t.root().join("claims/minibatch-noise/fresh-variance.yaml"))
        .unwrap();
    assert!(
        text.contains("section: \"1.1\""),
        "the section of the kind's claim: {text}"
    );
    // A tenth of the samples: the test checks the scaffold runs, not the claim at full size.
    let r = t.xtask(&["verify-claims", "fresh-variance", "--scale", "0.1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        t.root()
            .join("site/_data/claims/fresh-variance.json")
            .is_file()
    );
}
