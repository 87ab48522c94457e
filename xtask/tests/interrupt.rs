//! Interrupts of the real binary. On SIGINT or SIGTERM the runner starts no further claim, stops
//! the running ones, removes temporary files, says what it wrote and what it did not run, and exits
//! with 130 or 143; a second signal ends it at once. A SIGKILL leaves every result and figure either
//! as it was or as the finished run writes it, never partial: every output is written to a
//! temporary file in the same folder and renamed.

use end_to_end::{PASSING_CHECKS, Tree, small_unbiased_claim};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Six claims of about a second each on one thread: a run that a signal reaches mid-way.
fn slow_tree() -> Tree {
    let t = Tree::new();
    for i in 1..=6 {
        let text = small_unbiased_claim(&format!("slow{i}"), PASSING_CHECKS, "", "supported")
            .replace("seed: 7", &format!("seed: {i}"))
            .replace("batches: 400", "batches: 400000")
            .replace("replicas: 4", "replicas: 16");
        t.claim(&format!("minibatch-noise/slow{i}.yaml"), &text);
    }
    t
}

fn send(signal: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{signal} {pid}");
}

/// Temporary files anywhere under the tree's `site/`.
fn leftovers(t: &Tree) -> Vec<String> {
    t.outputs()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.ends_with(".partial") || p.contains(".tmp-"))
        .collect()
}

#[test]
fn sigint_and_sigterm_stop_the_run_say_what_was_written_and_leave_no_temporary_file() {
    for (signal, code, name, delay_ms) in [
        ("INT", 130, "SIGINT", 150u64),
        ("TERM", 143, "SIGTERM", 900),
        ("INT", 130, "SIGINT", 2200),
    ] {
        let t = slow_tree();
        let child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["verify-claims", "--jobs", "1", "--root"])
            .arg(t.root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn xtask");
        std::thread::sleep(Duration::from_millis(delay_ms));
        send(signal, child.id());
        let out = child.wait_with_output().expect("wait for xtask");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{name} at {delay_ms} ms: {stderr}"
        );
        let written = t
            .outputs()
            .iter()
            .filter(|(p, _)| p.starts_with("_data/claims/") && p.ends_with(".json"))
            .count();
        let expected = format!(
            "interrupted by {name}: {written} result(s) written, {} not run",
            6 - written
        );
        assert!(
            stderr.contains(&expected),
            "{name} at {delay_ms} ms: expected `{expected}` in {stderr}"
        );
        assert!(
            written < 6,
            "{name} at {delay_ms} ms: the run finished before the signal"
        );
        assert!(leftovers(&t).is_empty(), "{:?}", leftovers(&t));
    }
}

#[test]
fn a_second_signal_ends_the_run_at_once() {
    let t = slow_tree();
    let child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["verify-claims", "--jobs", "1", "--root"])
        .arg(t.root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn xtask");
    std::thread::sleep(Duration::from_millis(300));
    // Back to back, and of two kinds (two pending signals of one kind merge into one): the runner
    // stops within a few tens of milliseconds after the first, so the second arrives before.
    send("INT", child.id());
    send("TERM", child.id());
    let out = child.wait_with_output().expect("wait for xtask");
    assert!(
        matches!(out.status.signal(), Some(2 | 15)),
        "not ended by the second signal: {:?}",
        out.status
    );
}

fn claim(seed: u64) -> String {
    // Large enough to run for a while, small enough for a test.
    small_unbiased_claim("slow", PASSING_CHECKS, "", "supported")
        .replace("seed: 7", &format!("seed: {seed}"))
        .replace("batches: 400", "batches: 40000")
        .replace("replicas: 4", "replicas: 16")
}

fn run_to_completion(t: &Tree) {
    let status = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["verify-claims", "--force", "--root"])
        .arg(t.root())
        .stdout(Stdio::null())
        .status()
        .expect("run xtask");
    assert!(status.success());
}

#[test]
fn killed_runs_leave_old_or_new_files_never_partial() {
    let old = Tree::new();
    old.claim("minibatch-noise/slow.yaml", &claim(1));
    run_to_completion(&old);
    let old_files = old.outputs();
    let new = Tree::new();
    new.claim("minibatch-noise/slow.yaml", &claim(2));
    run_to_completion(&new);
    let new_files = new.outputs();
    assert_ne!(old_files, new_files);

    for delay_ms in [5u64, 40, 120, 300, 700, 1500] {
        let t = Tree::new();
        t.claim("minibatch-noise/slow.yaml", &claim(1));
        run_to_completion(&t);
        t.claim("minibatch-noise/slow.yaml", &claim(2));
        let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["verify-claims", "--root"])
            .arg(t.root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn xtask");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        for (path, bytes) in t.outputs() {
            if path.ends_with(".partial") {
                continue; // a temporary file of the killed run, never read by anything
            }
            let was = old_files.iter().find(|(p, _)| *p == path).map(|(_, b)| b);
            let will = new_files.iter().find(|(p, _)| *p == path).map(|(_, b)| b);
            assert!(
                Some(&bytes) == was || Some(&bytes) == will,
                "{path} is neither old nor new after a kill at {delay_ms} ms"
            );
        }
        // The next run cleans up and finishes the job.
        run_to_completion(&t);
        assert_eq!(t.outputs(), new_files);
    }
}
