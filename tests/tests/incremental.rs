//! Sharded runs merge into the unsharded result; every claim reruns by default, `--changed` reuses
//! valid results, and files that no claim produces fail the run.

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
fn every_claim_reruns_by_default_and_changed_reuses_only_valid_results() {
    let t = Tree::new();
    three_claims(&t);
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout.matches("updated: no committed result").count(),
        3,
        "{}",
        r.stdout
    );
    let before = t.outputs();
    // The default reruns and verifies every claim.
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout
            .lines()
            .filter(|l| l.ends_with("  reproduced"))
            .count(),
        3,
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "3 claim(s): 3 run, 3 reproduced, 0 updated, 0 reused, 3 passed, 0 failed in "
        ),
        "{}",
        r.stdout
    );
    assert_eq!(before, t.outputs());
    // --changed reuses valid results without running them, and never calls them passed.
    let r = t.xtask(&["verify-claims", "--changed"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout.matches("reused (not run").count(),
        3,
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("0 run, 0 reproduced, 0 updated, 3 reused, 0 passed, 0 failed"),
        "{}",
        r.stdout
    );
    // Change one claim's seed: it is updated, and says why; the others are reused.
    let text =
        small_unbiased_claim("b", PASSING_CHECKS, "", "supported").replace("seed: 7", "seed: 99");
    t.claim("minibatch-noise/b.yaml", &text);
    let r = t.xtask(&["verify-claims", "--changed"]);
    assert_eq!(
        r.stdout.matches("reused (not run").count(),
        2,
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains(" b ") && l.contains("updated: claim file changed; seed 2 -> 99")),
        "{}",
        r.stdout
    );
    assert_ne!(before, t.outputs());
    // A deleted figure is restored (updated), by the default and by --changed.
    let fig = |id: &str| {
        t.root().join(format!(
            "site/assets/img/posts/sgd-noise-as-a-design-feature/{id}-mean-error.svg"
        ))
    };
    std::fs::remove_file(fig("a")).unwrap();
    let r = t.xtask(&["verify-claims", "--changed"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("-mean-error.svg was missing"),
        "{}",
        r.stdout
    );
    assert!(fig("a").is_file());
    // A figure edited by hand does not reproduce: exit 2, the edited file is kept.
    let original = std::fs::read(fig("c")).unwrap();
    std::fs::write(fig("c"), b"<svg/>").unwrap();
    let r = t.xtask(&["verify-claims", "c"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("NOT REPRODUCED")
            && r.stdout.contains("c-mean-error.svg: committed sha256"),
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read(fig("c")).unwrap(), b"<svg/>");
    // --force writes the fresh figure back.
    let r = t.xtask(&["verify-claims", "--force"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("rewritten by --force"), "{}", r.stdout);
    assert_eq!(std::fs::read(fig("c")).unwrap(), original);
}

#[test]
fn result_and_figure_files_no_claim_produces_fail_the_run() {
    let t = Tree::new();
    three_claims(&t);
    assert_eq!(t.xtask(&["verify-claims"]).code, 0);
    std::fs::remove_file(t.root().join("claims/minibatch-noise/c.yaml")).unwrap();
    let r = t.xtask(&["verify-claims"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("site/_data/claims/c.json: no claim produces this file")
            && r.stderr
                .contains("c-mean-error.svg: no claim produces this file"),
        "{}",
        r.stderr
    );
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
