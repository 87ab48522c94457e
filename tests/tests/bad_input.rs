//! Bad inputs that are not plain data (generated or non-UTF-8 bytes, an unwritable folder, kinds
//! that diverge, return NaN or panic): a clear message, the right exit code, nothing written.
//! Bad inputs that are data live in `tests/cases/`.

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
fn non_utf8_files_are_refused() {
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
    let mut m = claim_spec::Metrics::new();
    m.computed("x", f64::NAN);
    Ok(Outcome {
        metrics: m.values,
        ..Outcome::default()
    })
}

fn panics(_: &NoParams, _: &RunContext) -> Result<Outcome, ExperimentError> {
    panic!("index out of bounds in a test kind")
}

#[test]
fn failing_runs_are_error_results_with_reasons_never_nan() {
    let mut registry = Registry::new();
    registry.add_run("broken/diverges", diverges);
    registry.add_run("broken/nan-metric", nan_metric);
    registry.add_run("broken/panics", panics);
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
