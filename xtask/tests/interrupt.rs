//! A killed run leaves every result and figure either as it was or as the finished run writes it,
//! never partial: every output is written to a temporary file in the same folder and renamed.
//! (SIGINT has the same effect as the SIGKILL sent here: the runner installs no handler.)

use end_to_end::{PASSING_CHECKS, Tree, small_unbiased_claim};
use std::process::{Command, Stdio};
use std::time::Duration;

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
