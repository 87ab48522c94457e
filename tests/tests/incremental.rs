//! Sharded runs merge into the unsharded result; unchanged claims are skipped, changed ones rerun.

use end_to_end::{PASSING_CHECKS, Tree, small_unbiased_claim};

fn three_claims(t: &Tree) {
    for (id, seed) in [("a", 1), ("b", 2), ("c", 3)] {
        let text = small_unbiased_claim(id, PASSING_CHECKS, "", "supported")
            .replace("seed: 7", &format!("seed: {seed}"));
        t.claim(&format!("minibatch-noise/{id}.yaml"), &text);
    }
}

#[test]
fn three_shards_merged_equal_one_unsharded_run() {
    let whole = Tree::new();
    three_claims(&whole);
    assert_eq!(whole.xtask(&["verify-claims"]).code, 0);
    let sharded = Tree::new();
    three_claims(&sharded);
    let mut ran = Vec::new();
    for k in 1..=3 {
        let r = sharded.xtask(&["verify-claims", "--shard", &format!("{k}/3")]);
        assert_eq!(r.code, 0, "{r:?}");
        ran.extend(
            r.stdout
                .lines()
                .filter(|l| l.starts_with("PASS"))
                .map(str::to_owned),
        );
    }
    assert_eq!(
        ran.len(),
        3,
        "each claim runs in exactly one shard: {ran:?}"
    );
    assert_eq!(whole.outputs(), sharded.outputs());
    assert_eq!(sharded.xtask(&["verify-claims", "--shard", "4/3"]).code, 64);
    assert_eq!(sharded.xtask(&["verify-claims", "--shard", "0/3"]).code, 64);
}

#[test]
fn unchanged_claims_are_skipped_and_changed_ones_rerun() {
    let t = Tree::new();
    three_claims(&t);
    assert_eq!(t.xtask(&["verify-claims"]).code, 0);
    let before = t.outputs();
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout
            .matches("unchanged since its committed result")
            .count(),
        3,
        "{}",
        r.stdout
    );
    assert_eq!(before, t.outputs());
    // Change one claim's seed: only it reruns, and its result changes.
    let text =
        small_unbiased_claim("b", PASSING_CHECKS, "", "supported").replace("seed: 7", "seed: 99");
    t.claim("minibatch-noise/b.yaml", &text);
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(
        r.stdout.matches("unchanged since").count(),
        2,
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains(" b ") && !l.contains("unchanged")),
        "{}",
        r.stdout
    );
    assert_ne!(before, t.outputs());
    // A deleted figure makes the result stale too.
    std::fs::remove_file(
        t.root()
            .join("site/assets/img/posts/sgd-noise-as-a-design-feature/a-mean-error.svg"),
    )
    .unwrap();
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(
        r.stdout.matches("unchanged since").count(),
        2,
        "{}",
        r.stdout
    );
    assert!(
        t.root()
            .join("site/assets/img/posts/sgd-noise-as-a-design-feature/a-mean-error.svg")
            .is_file()
    );
    // A figure edited by hand (or drawn by other code) makes its result stale too.
    let fig = t
        .root()
        .join("site/assets/img/posts/sgd-noise-as-a-design-feature/c-mean-error.svg");
    let original = std::fs::read(&fig).unwrap();
    std::fs::write(&fig, b"<svg/>").unwrap();
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(
        r.stdout.matches("unchanged since").count(),
        2,
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read(&fig).unwrap(), original);
    // --force reruns everything and writes the same bytes.
    let snapshot = t.outputs();
    let r = t.xtask(&["verify-claims", "--force"]);
    assert_eq!(r.stdout.matches("unchanged since").count(), 0);
    assert_eq!(snapshot, t.outputs());
}

#[test]
fn drift_compares_with_committed_results_and_writes_nothing() {
    let t = Tree::new();
    three_claims(&t);
    assert_eq!(t.xtask(&["verify-claims"]).code, 0);
    let before = t.outputs();
    let r = t.xtask(&["verify-claims", "--drift"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.matches("SAME").count(), 3);
    // Tamper with a committed estimate far beyond its interval: the drift check fails on it.
    let p = t.root().join("site/_data/claims/a.json");
    let text = std::fs::read_to_string(&p).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let slope = v["metrics"]["norm_decay_slope"]["value"].as_f64().unwrap();
    let tampered = text.replacen(&format!("\"value\": {slope}"), "\"value\": -0.9", 1);
    assert_ne!(text, tampered);
    std::fs::write(&p, &tampered).unwrap();
    let r = t.xtask(&["verify-claims", "--drift"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("DRIFT") && r.stdout.contains("norm_decay_slope"),
        "{}",
        r.stdout
    );
    std::fs::write(&p, &text).unwrap();
    assert_eq!(before, t.outputs());
}
