//! Verification by default: a committed result edited by hand does not reproduce (exit 2, naming
//! the value with both numbers, the file kept), and a claim-file edit updates the result.

use end_to_end::{PASSING_CHECKS, Tree, small_unbiased_claim};
use serde_json::Value;

const RESULT: &str = "site/_data/claims/small.json";

fn tree() -> Tree {
    let t = Tree::new();
    t.claim(
        "minibatch-noise/small.yaml",
        &small_unbiased_claim("small", PASSING_CHECKS, "", "supported"),
    );
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 0, "{r:?}");
    t
}

/// Edits one value of the committed result (by a JSON pointer), runs verify-claims, expects exit 2
/// naming `path` with the committed and the fresh number, and that the edited file was kept.
fn edited_value_is_caught(t: &Tree, pointer: &str, path: &str) {
    let file = t.root().join(RESULT);
    let original = std::fs::read_to_string(&file).unwrap();
    let mut v: Value = serde_json::from_str(&original).unwrap();
    let slot = v
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}"));
    let fresh = slot.as_f64().unwrap();
    *slot = serde_json::json!(fresh * 1.5 + 0.25);
    let edited = serde_json::to_string_pretty(&v).unwrap();
    std::fs::write(&file, &edited).unwrap();
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 2, "{r:?}");
    let committed = fresh * 1.5 + 0.25;
    assert!(
        r.stdout.contains(&format!(
            "{path}: committed {}, fresh {}",
            serde_json::json!(committed),
            serde_json::json!(fresh)
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("NOT REPRODUCED") && r.stdout.contains("--drift"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("1 failed"), "{}", r.stdout);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        edited,
        "the committed file was replaced"
    );
    std::fs::write(&file, &original).unwrap();
    assert_eq!(t.xtask(&["verify-claims"]).code, 0);
}

#[test]
fn a_hand_edited_checked_metric_is_caught() {
    let t = tree();
    edited_value_is_caught(
        &t,
        "/metrics/mean_error_max_abs_z/value",
        "metrics.mean_error_max_abs_z.value",
    );
}

#[test]
fn a_hand_edited_table_cell_or_unchecked_metric_is_caught() {
    let t = tree();
    edited_value_is_caught(
        &t,
        "/tables/coordinate-z/rows/0/2",
        "tables.coordinate-z.rows[0][2]",
    );
    edited_value_is_caught(
        &t,
        "/metrics/trace_sigma/value",
        "metrics.trace_sigma.value",
    );
}

#[test]
fn a_claim_file_edit_is_an_update_and_writes_the_new_result() {
    let t = tree();
    t.claim(
        "minibatch-noise/small.yaml",
        &small_unbiased_claim("small", PASSING_CHECKS, "", "supported")
            .replace("title: Small unbiasedness test", "title: A retitled test"),
    );
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("updated: claim file changed")
            && r.stdout
                .contains("1 run, 0 reproduced, 1 updated, 0 reused, 1 passed, 0 failed"),
        "{}",
        r.stdout
    );
    let text = std::fs::read_to_string(t.root().join(RESULT)).unwrap();
    assert!(text.contains("A retitled test"));
    let r = t.xtask(&["verify-claims", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["claims"][0]["outcome"], "reproduced");
    assert_eq!(v["summary"]["reproduced"], 1);
}
