//! The committed post template against synthetic evidence: every claim of the catalog (and one that
//! is not in it) gets its evidence box in its section whatever its status, `also_in` sections link
//! to it, the timing file fills the 3.1 table, and the output passes the post lint. This is what lets
//! families land their claims without touching `post.md.j2`.

use site_render::data::{Evidence, load_claim, load_timings};
use site_render::lint::lint_with;
use site_render::render::{load_templates, render_post};
use site_render::{CATALOG, SECTIONS};
use std::path::{Path, PathBuf};

fn site() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../site")
}

/// The committed templates without the families' prose partials: those quote their own claims'
/// metrics, which synthetic results do not have. (The committed post, rendered from the committed
/// results with the partials, is checked by the `build-site --check` tests.)
fn generic_templates() -> site_render::render::Templates {
    let mut t = load_templates(&site()).unwrap();
    t.retain(|name, _| !name.starts_with("prose/"));
    t
}

/// The section of each catalog claim (shared/CLAIMS.md).
fn section_of(id: &str) -> &'static str {
    let i = CATALOG.iter().position(|c| *c == id).unwrap_or(0);
    match i {
        0..=1 => "1.1",
        2..=4 => "2.1",
        5..=8 => "2.2",
        9..=11 => "2.3",
        12..=14 => "3.1",
        15..=17 => "3.2",
        18..=22 => "4.1",
        23..=24 => "4.2",
        _ => "5",
    }
}

fn result(id: &str, section: &str, also_in: &[&str], status: &str) -> serde_json::Value {
    let run_failed = status == "error";
    serde_json::json!({
        "id": id,
        "title": format!("Title of {id} with ||g||^2 and a_b"),
        "section": section,
        "also_in": also_in,
        "statement": "A statement with | bars, *stars* and [brackets].",
        "status": status,
        "verdict": if run_failed { serde_json::Value::Null } else if status == "fail" { "contradicted".into() } else { "refined".into() },
        "expected_verdict": "refined",
        "note": "Measured: the slope is 0.97, not 1.",
        "problems": if status == "pass" { serde_json::json!([]) } else { serde_json::json!(["run failed: diverged at step 12"]) },
        "experiment": format!("fam/{id}"),
        "wording": if run_failed { serde_json::json!([]) } else { serde_json::json!([
            {"metric": "slope", "bound": "between [0.99, 1.01]", "value": 0.97, "pass": false, "if_fails": "refined"}
        ]) },
        "metrics": if run_failed { serde_json::json!({}) } else { serde_json::json!({
            "slope": {"value": 0.97, "ci": [0.95, 0.99]},
            "rel_error_max": {"value": 0.004},
            "count_runs": {"value": 8000.0}
        }) },
        "checks": if run_failed { serde_json::json!([]) } else { serde_json::json!([
            {"metric": "rel_error_max", "bound": "at_most 0.07", "value": 0.004, "pass": status == "pass"},
            {"metric": "missing_metric", "bound": "approx 1 (rel 0.03)", "value": null, "pass": false}
        ]) },
        "figures": if run_failed { serde_json::json!([]) } else { serde_json::json!([format!("assets/img/posts/sgd-noise-as-a-design-feature/{id}-main.svg")]) },
        "captions": if run_failed { serde_json::json!([]) } else { serde_json::json!(["A caption with E||x||^2 and $$\\eta$$."]) },
        "tables": {"main": {"columns": ["batch_size", "value", "label"], "rows": [[1.0, 0.5, "with-replacement"], [2.0, null, "without"]]}},
        "provenance": {"claim_sha256": "x", "seed": 7, "code_version": format!("v-{section}"), "samples": 1234567, "scale": 1.0}
    })
}

fn evidence(claims: &[(String, serde_json::Value)], timings: Option<&str>) -> Evidence {
    let mut ev = Evidence::default();
    for (id, json) in claims {
        let bytes = serde_json::to_vec(json).unwrap();
        let c = load_claim(Path::new(&format!("{id}.json")), &bytes).unwrap();
        ev.claims.insert(id.clone(), c);
    }
    ev.timings = timings.map(|t| load_timings(Path::new("timings.json"), t.as_bytes()).unwrap());
    ev
}

fn every_claim() -> Vec<(String, serde_json::Value)> {
    let mut all: Vec<(String, serde_json::Value)> = CATALOG
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let status = match i % 9 {
                4 => "fail",
                7 => "error",
                _ => "pass",
            };
            let also: &[&str] = if section_of(id) == "2.2" { &["5"] } else { &[] };
            ((*id).to_owned(), result(id, section_of(id), also, status))
        })
        .collect();
    all.push((
        "a-claim-not-in-the-catalog".to_owned(),
        result("a-claim-not-in-the-catalog", "4.2", &["2.1"], "pass"),
    ));
    all
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in the post"))
}

#[test]
fn every_claim_gets_a_box_in_its_section_and_the_post_lints_clean() {
    let templates = generic_templates();
    let claims = every_claim();
    let timings = r#"{"machine": {"cpu": "Test CPU", "cores": 2}, "command": "cargo xtask bench-table",
        "columns": ["batch_size", "updates_per_s", "examples_per_s"], "rows": [[1, 250000.0, 250000.0], [1024, 900.0, 921600.0]]}"#;
    let post = render_post(&templates, &evidence(&claims, Some(timings))).unwrap();

    let violations = lint_with(&post, &|_| true);
    assert!(violations.is_empty(), "{violations:#?}");

    // Each box stands after its section's heading and before the next section's.
    let headings: Vec<(String, usize)> = SECTIONS
        .iter()
        .map(|s| {
            let prefix = format!("{s} ");
            let line = post
                .lines()
                .position(|l| {
                    l.starts_with('#') && l.trim_start_matches('#').trim().starts_with(&prefix)
                })
                .unwrap_or_else(|| panic!("no heading for section {s}"));
            ((*s).to_owned(), line)
        })
        .collect();
    let cheat = line_of(&post, "## Cheat sheet");
    for (id, json) in &claims {
        let sec = json["section"].as_str().unwrap();
        let at = line_of(&post, &format!("id=\"claim-{id}\""));
        let i = headings.iter().position(|(s, _)| s == sec).unwrap();
        let end = headings.get(i + 1).map_or(cheat, |(_, l)| *l);
        assert!(
            at > headings[i].1 && at < end,
            "{id} is outside section {sec}"
        );
        assert!(
            post.contains(&format!("cargo xtask verify-claims {id}`")),
            "{id}"
        );
    }
    // also_in links, in the cited section.
    let five = headings.iter().find(|(s, _)| s == "5").unwrap().1;
    let link = post
        .lines()
        .enumerate()
        .skip(five)
        .find(|(_, l)| l.contains("](#claim-gibbs-stationary)"))
        .map(|(i, _)| i)
        .unwrap();
    assert!(link < cheat);
    // Statuses and verdicts.
    assert!(post.contains("**Status: fail.**"));
    assert!(post.contains("**Status: error.**"));
    assert!(post.contains("**Verdict: none.**"));
    assert!(post.contains("**Verdict: contradicted.**"));
    assert!(post.contains("run failed: diverged at step 12"));
    assert!(post.contains("wording fails: refined"));
    assert!(
        post.contains("| `missing_metric` | missing | ≈ 1.00 (within 3.00%) | **check fails** |")
    );
    assert!(post.contains("`slope` | 0.970 \\[0.950, 0.990\\]"));
    // Plain text is escaped, math in captions is kept.
    assert!(post.contains("A statement with \\| bars, \\*stars\\* and \\[brackets\\]."));
    assert!(post.contains("E\\|\\|x\\|\\|^2 and $$\\eta$$."));
    // The timing file fills the 3.1 table, with its machine.
    let machine = post
        .lines()
        .find(|l| l.starts_with("Measured on this machine"))
        .unwrap();
    assert!(machine.contains("(cores: 2, cpu: Test CPU)"), "{machine}");
    assert!(post.contains("| 1,024 | 900 | 921,600 |"));
    assert!(post.contains("| batch size | updates per s | examples per s |"));
    assert!(post.contains("by `cargo xtask bench-table`"));
    // The reproduction table lists every claim once, and every code version is named.
    for (id, _) in &claims {
        assert_eq!(
            post.matches(&format!("| [`{id}`](#claim-{id}) |")).count(),
            1,
            "{id}"
        );
    }
    for (_, json) in &claims {
        let version = json["provenance"]["code_version"].as_str().unwrap();
        assert!(post.contains(&format!("- `{version}` (fam)")), "{version}");
    }
    assert!(!post.contains("TODO"));
}

#[test]
fn the_post_reads_without_any_result() {
    let templates = load_templates(&site()).unwrap();
    let post = render_post(&templates, &Evidence::default()).unwrap();
    assert!(lint_with(&post, &|_| true).is_empty());
    assert!(!post.contains("](#claim-"), "no link without results");
    assert!(!post.contains("id=\"claim-"), "no box without results");
    for heading in [
        "## Cheat sheet",
        "## Reflection",
        "## Reproducing this post",
        "### 3.1 ",
    ] {
        assert!(post.contains(heading), "{heading}");
    }
    // The trade-off table is there even without measurements.
    assert!(post.contains("| Updates per second |"));
}

#[test]
fn without_timings_the_claim_tables_fill_the_tradeoff_section() {
    let templates = generic_templates();
    let claims = vec![(
        "batch-size-tradeoffs".to_owned(),
        result("batch-size-tradeoffs", "3.1", &[], "pass"),
    )];
    let post = render_post(&templates, &evidence(&claims, None)).unwrap();
    assert!(lint_with(&post, &|_| true).is_empty());
    assert!(post.contains("The deterministic side of the table, measured by the claim"));
    assert!(post.contains("| batch size | value | label |"));
    assert!(post.contains("| 1 | 0.500 | with-replacement |"));
    assert!(post.contains("| 2 | — | without |"));
}

#[test]
fn family_prose_survives_a_run_that_errored() {
    let templates = load_templates(&site()).unwrap();
    let claims = vec![
        (
            "gradient-unbiased".to_owned(),
            result("gradient-unbiased", "1.1", &[], "error"),
        ),
        (
            "minibatch-variance".to_owned(),
            result("minibatch-variance", "1.1", &[], "error"),
        ),
    ];
    let post = render_post(&templates, &evidence(&claims, None)).unwrap();
    assert!(lint_with(&post, &|_| true).is_empty());
    assert_eq!(post.matches("**Verdict: none.**").count(), 2);
}
