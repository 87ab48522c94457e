//! Bad claim files and failing experiments: a clear message, the right exit code, nothing written.

use claim_spec::{ExperimentError, ExperimentParams, Outcome, ParamError, Registry, RunContext};
use end_to_end::{PASSING_CHECKS, Run, Tree, small_unbiased_claim};

fn good() -> String {
    small_unbiased_claim("bad", PASSING_CHECKS, "", "supported")
}

/// Runs a tree holding `bytes` as its one claim file; expects exit 65, no output written.
fn refused(bytes: &[u8]) -> Run {
    let t = Tree::new();
    t.claim_bytes("minibatch-noise/bad.yaml", bytes);
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 65, "{r:?}");
    assert!(
        r.stderr.contains("claims/minibatch-noise/bad.yaml"),
        "{}",
        r.stderr
    );
    assert!(
        t.outputs().is_empty(),
        "something was written for a refused claim file"
    );
    r
}

#[test]
fn empty_binary_and_non_utf8_files() {
    assert!(refused(b"").stderr.contains("empty"));
    assert!(refused(b"  \n\n").stderr.contains("empty"));
    assert!(refused(b"id: a\x00\x01\x02").stderr.contains("binary"));
    assert!(refused(b"id: caf\xe9\n").stderr.contains("UTF-8"));
}

#[test]
fn oversized_files_are_refused_before_parsing() {
    let big = format!("{}\n# {}\n", good(), "x".repeat(70 * 1024));
    let r = refused(big.as_bytes());
    assert!(
        r.stderr.contains("limit") && r.stderr.contains("before parsing"),
        "{}",
        r.stderr
    );
}

#[test]
fn deep_nesting_and_alias_bombs_fail_fast() {
    let start = std::time::Instant::now();
    let deep = format!(
        "id: bad\nparams: {}{}\n",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    refused(deep.as_bytes());
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n\
                d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    refused(bomb.as_bytes());
    assert!(
        start.elapsed().as_secs() < 20,
        "hostile YAML took {:?}",
        start.elapsed()
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let text = good().replace("seed: 7\n", "seed: 7\nseed: 8\n");
    let r = refused(text.as_bytes());
    assert!(r.stderr.contains("duplicate"), "{}", r.stderr);
    let text = good().replace("  dim: 3\n", "  dim: 3\n  dim: 4\n");
    assert!(refused(text.as_bytes()).stderr.contains("duplicate"));
}

#[test]
fn non_finite_negative_zero_and_absurd_parameters() {
    let r = refused(
        good()
            .replace("label_noise: 0.5", "label_noise: .nan")
            .as_bytes(),
    );
    assert!(
        r.stderr.contains("params.label_noise") && r.stderr.contains("finite"),
        "{}",
        r.stderr
    );
    let r = refused(
        good()
            .replace("label_noise: 0.5", "label_noise: .inf")
            .as_bytes(),
    );
    assert!(r.stderr.contains("params.label_noise"), "{}", r.stderr);
    let r = refused(good().replace("replicas: 4", "replicas: -3").as_bytes());
    assert!(r.stderr.contains("params.replicas"), "{}", r.stderr);
    let r = refused(good().replace("batches: 400", "batches: 0").as_bytes());
    assert!(r.stderr.contains("params.batches"), "{}", r.stderr);
    let r = refused(
        good()
            .replace("batches: 400", "batches: 100000000000")
            .as_bytes(),
    );
    assert!(
        r.stderr.contains("estimated cost") && r.stderr.contains("exceeds the limit"),
        "{}",
        r.stderr
    );
}

#[test]
fn ids_and_figure_names_cannot_escape_their_folders() {
    let r = refused(good().replace("id: bad", "id: ../evil").as_bytes());
    assert!(r.stderr.contains("not a valid id"), "{}", r.stderr);
    let r = refused(good().replace("id: bad", "id: a/b").as_bytes());
    assert!(r.stderr.contains("not a valid id"), "{}", r.stderr);
    let r = refused(
        good()
            .replace("name: mean-error", "name: ../../../etc/x")
            .as_bytes(),
    );
    assert!(r.stderr.contains("figure name"), "{}", r.stderr);
}

#[test]
fn two_files_with_one_id_are_refused() {
    let t = Tree::new();
    let text = small_unbiased_claim("twin", PASSING_CHECKS, "", "supported");
    t.claim("minibatch-noise/twin.yaml", &text);
    t.claim("archive/minibatch-noise/twin.yaml", &text);
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 65, "{r:?}");
    assert!(
        r.stderr.contains("id `twin` is also used by"),
        "{}",
        r.stderr
    );
    assert!(t.outputs().is_empty());
}

#[test]
fn an_unwritable_output_folder_is_a_clear_error_and_touches_nothing_else() {
    let t = Tree::new();
    t.claim(
        "minibatch-noise/small.yaml",
        &small_unbiased_claim("small", PASSING_CHECKS, "", "supported"),
    );
    // A file where the results folder should be: it cannot be created, even by root.
    std::fs::create_dir_all(t.root().join("site/_data")).unwrap();
    std::fs::write(t.root().join("site/_data/claims"), b"not a folder").unwrap();
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("cannot create") && r.stderr.contains("site/_data/claims"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read(t.root().join("site/_data/claims")).unwrap(),
        b"not a folder"
    );
    assert!(!t.root().join("site/assets").exists());
}

// Experiments that fail: a test registry with kinds that diverge, produce NaN, or panic.

#[derive(Debug, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct NoParams {}

impl ExperimentParams for NoParams {
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }
    fn estimated_work(&self) -> f64 {
        1.0
    }
}

fn diverges(_: &NoParams, _: &RunContext) -> Result<Outcome, ExperimentError> {
    Err(ExperimentError::Diverged {
        step: 17,
        reason: "|w| exceeded 1e6".into(),
    })
}

fn nan_metric(_: &NoParams, _: &RunContext) -> Result<Outcome, ExperimentError> {
    let mut o = Outcome::new();
    o.exact("x", f64::NAN);
    Ok(o)
}

fn panics(_: &NoParams, _: &RunContext) -> Result<Outcome, ExperimentError> {
    panic!("index out of bounds in a test kind")
}

#[test]
fn failing_runs_are_error_results_with_reasons_never_nan() {
    let mut registry = Registry::new();
    registry.add("broken/diverges", diverges);
    registry.add("broken/nan-metric", nan_metric);
    registry.add("broken/panics", panics);
    let t = Tree::new();
    for name in ["diverges", "nan-metric", "panics"] {
        t.claim(
            &format!("broken/{name}.yaml"),
            &format!(
                "id: {name}\ntitle: t\nsection: \"1.1\"\nstatement: s\nverdict: supported\nexperiment: broken/{name}\nseed: 1\nchecks:\n  - {{ metric: x, at_most: 1.0 }}\n"
            ),
        );
    }
    let paths = claim_runner::verify::Paths::new(t.root());
    let claims = claim_runner::verify::load(&paths, &registry).unwrap();
    let reasons: Vec<String> = claims
        .iter()
        .map(|c| {
            let out = claim_runner::verify::run_claim(c, c.claim.seed, 1.0);
            assert_eq!(
                out.result.status,
                claim_spec::Status::Error,
                "{}",
                c.claim.id
            );
            let json = String::from_utf8(out.result.to_bytes().unwrap()).unwrap();
            // The file is valid JSON (which has no NaN or infinity) and carries no metric at all.
            let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert!(parsed["metrics"].as_object().unwrap().is_empty(), "{json}");
            assert!(
                !json.contains("NaN") && !json.contains("Infinity"),
                "{json}"
            );
            out.result.problems.join("; ")
        })
        .collect();
    assert!(
        reasons[0].contains("diverged at step 17") && reasons[0].contains("exceeded"),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].contains("metric `x` is not finite"),
        "{}",
        reasons[1]
    );
    assert!(
        reasons[2].contains("panicked") && reasons[2].contains("index out of bounds"),
        "{}",
        reasons[2]
    );
}
