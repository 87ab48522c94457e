//! The data-driven command-line cases: one YAML file per case under `tests/cases/`, run in process
//! through the runner's library entry point (`claim_runner::cli::run`) on a temporary tree.
//!
//! A case file holds:
//! - `args`: the arguments after `cargo xtask` (`--root <tree>` is appended);
//! - `claims` (optional): claim files to write, each `path` (under `claims/`) with either `text`
//!   or `small: <id>` (the small `gradient-unbiased` claim of the test helpers), then optional
//!   `replace: [[from, to], ...]` and `append`;
//! - `exit`: the expected exit code;
//! - `stdout`, `stderr` (optional): substrings each stream must contain;
//! - `writes_nothing` (optional): no file may appear under `site/`.
//!
//! Adding a bad input is adding a file. Cases that need `chmod`, generated contents (hostile YAML,
//! non-UTF-8 bytes) or a custom registry (diverging, NaN and panicking kinds) stay in Rust
//! (`bad_input.rs`).

use end_to_end::{PASSING_CHECKS, Tree, repo_root, small_unbiased_claim};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    args: Vec<String>,
    #[serde(default)]
    claims: Vec<CaseClaim>,
    exit: u8,
    #[serde(default)]
    stdout: Vec<String>,
    #[serde(default)]
    stderr: Vec<String>,
    #[serde(default)]
    writes_nothing: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseClaim {
    path: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    small: Option<String>,
    #[serde(default)]
    replace: Vec<(String, String)>,
    #[serde(default)]
    append: Option<String>,
}

impl CaseClaim {
    fn contents(&self) -> Result<String, String> {
        let mut text = match (&self.text, &self.small) {
            (Some(t), None) => t.clone(),
            (None, Some(id)) => small_unbiased_claim(id, PASSING_CHECKS, "", "supported"),
            _ => {
                return Err(format!(
                    "{}: give exactly one of `text` and `small`",
                    self.path
                ));
            }
        };
        for (from, to) in &self.replace {
            if !text.contains(from.as_str()) {
                return Err(format!("{}: `{from}` is not in the claim text", self.path));
            }
            text = text.replacen(from.as_str(), to, 1);
        }
        if let Some(a) = &self.append {
            text.push_str(a);
        }
        Ok(text)
    }
}

/// Runs one case; returns what went wrong, if anything.
fn run_case(path: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Case = serde_yaml::from_str(&text).map_err(|e| format!("invalid case file: {e}"))?;
    let t = Tree::new();
    for c in &case.claims {
        t.claim(&c.path, &c.contents()?);
    }
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let r = t.xtask(&args);
    let mut problems = Vec::new();
    if r.code != case.exit {
        problems.push(format!("exit code {} (expected {})", r.code, case.exit));
    }
    for (stream, got, wanted) in [
        ("stdout", &r.stdout, &case.stdout),
        ("stderr", &r.stderr, &case.stderr),
    ] {
        for w in wanted {
            if !got.contains(w.as_str()) {
                problems.push(format!("{stream} lacks `{w}`"));
            }
        }
    }
    if case.writes_nothing && !t.outputs().is_empty() {
        problems.push("files were written under site/".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n--- stdout\n{}--- stderr\n{}",
            problems.join("; "),
            r.stdout,
            r.stderr
        ))
    }
}

#[test]
fn every_case_under_tests_cases_holds() {
    let dir = repo_root().join("tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cases/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "only {} case files", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            run_case(f).err().map(|e| {
                format!(
                    "{}: {e}",
                    f.file_name().unwrap_or_default().to_string_lossy()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} case(s) failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
