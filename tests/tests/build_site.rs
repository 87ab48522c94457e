//! `build-site` and `check-site` through the command line, in process, on temporary copies of the
//! committed `site/` folder: the committed post is fresh, and any edit to the post, a result file
//! or a template is caught with the right exit code and a message that says what to do.

use claim_runner::cli::run;
use claim_runner::exit;
use end_to_end::repo_root;
use std::path::Path;

const POST: &str = "site/_posts/2025-05-31-sgd-noise-as-a-design-feature.md";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temporary repository holding a copy of the committed `site/`.
fn temp_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("site"), &dir.path().join("site"));
    dir
}

fn xtask(root: &Path, args: &[&str]) -> (u8, String, String) {
    let mut argv = vec!["cargo-xtask".to_owned()];
    argv.extend(args.iter().map(|s| (*s).to_owned()));
    argv.push("--root".into());
    argv.push(root.display().to_string());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(&argv, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[test]
fn the_committed_post_is_fresh() {
    let tree = temp_tree();
    let (code, out, err) = xtask(tree.path(), &["build-site", "--check"]);
    assert_eq!(code, exit::OK, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("is up to date"), "{out}");
}

#[test]
fn check_fails_after_an_edit_to_the_post_and_build_repairs_it() {
    let tree = temp_tree();
    let post = tree.path().join(POST);
    let original = std::fs::read_to_string(&post).unwrap();
    std::fs::write(&post, format!("{original}\nA line typed by hand.\n")).unwrap();
    let (code, _, err) = xtask(tree.path(), &["build-site", "--check"]);
    assert_eq!(code, exit::CHECK_FAILED, "{err}");
    assert!(err.contains("is stale"), "{err}");
    assert!(err.contains("run `cargo xtask build-site`"), "{err}");
    // --check writes nothing.
    assert_ne!(std::fs::read_to_string(&post).unwrap(), original);

    let (code, out, err) = xtask(tree.path(), &["build-site"]);
    assert_eq!(code, exit::OK, "{err}");
    assert!(out.starts_with("wrote "), "{out}");
    assert_eq!(std::fs::read_to_string(&post).unwrap(), original);
    let (code, out, _) = xtask(tree.path(), &["build-site"]);
    assert_eq!(code, exit::OK);
    assert!(out.starts_with("unchanged "), "{out}");
}

#[test]
fn check_fails_after_an_edit_to_a_result_file() {
    let tree = temp_tree();
    let result = tree.path().join("site/_data/claims/gradient-unbiased.json");
    let text = std::fs::read_to_string(&result).unwrap();
    let edited = text.replacen("-0.5046400925700502", "-0.4046400925700502", 1);
    assert_ne!(text, edited, "the test relies on the committed slope");
    std::fs::write(&result, edited).unwrap();
    let (code, _, err) = xtask(tree.path(), &["build-site", "--check"]);
    assert_eq!(code, exit::CHECK_FAILED, "{err}");
    assert!(err.contains("stale"), "{err}");
}

#[test]
fn a_missing_post_is_stale() {
    let tree = temp_tree();
    std::fs::remove_file(tree.path().join(POST)).unwrap();
    let (code, _, err) = xtask(tree.path(), &["build-site", "--check"]);
    assert_eq!(code, exit::CHECK_FAILED);
    assert!(err.contains("is missing"), "{err}");
}

#[test]
fn a_template_error_names_the_file_line_and_variable() {
    let tree = temp_tree();
    let tmpl = tree.path().join("site/_templates/parts/6-summary.md.j2");
    let text = std::fs::read_to_string(&tmpl).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("## Cheat sheet"))
        .unwrap()
        + 1;
    let broken = text.replacen(
        "## Cheat sheet {#cheat-sheet}",
        "## Cheat sheet {#cheat-sheet} {{ claim_typo.value }}",
        1,
    );
    std::fs::write(&tmpl, broken).unwrap();
    let post_before = std::fs::read(tree.path().join(POST)).unwrap();
    let (code, _, err) = xtask(tree.path(), &["build-site"]);
    assert_eq!(code, exit::INVALID_INPUT, "{err}");
    assert!(
        err.contains(&format!("site/_templates/parts/6-summary.md.j2:{line}:")),
        "expected line {line}: {err}"
    );
    assert!(err.contains("claim_typo"), "{err}");
    assert_eq!(std::fs::read(tree.path().join(POST)).unwrap(), post_before);
}

#[test]
fn a_lint_violation_fails_the_build_with_line_and_rule() {
    let tree = temp_tree();
    let tmpl = tree.path().join("site/_templates/parts/6-summary.md.j2");
    let text = std::fs::read_to_string(&tmpl).unwrap();
    let broken = text.replacen(
        "## Reflection {#reflection}\n",
        "## Reflection {#reflection}\n\nThe norm $$|w|$$ is written with bars.\n",
        1,
    );
    std::fs::write(&tmpl, broken).unwrap();
    let (code, _, err) = xtask(tree.path(), &["build-site"]);
    assert_eq!(code, exit::INVALID_INPUT, "{err}");
    assert!(err.contains("[no-pipe-in-math]"), "{err}");
    let line_msg = err
        .lines()
        .find(|l| l.contains("[no-pipe-in-math]"))
        .unwrap();
    assert!(line_msg.starts_with(&format!("{POST}:")), "{line_msg}");
}

#[test]
fn an_invalid_result_file_is_named() {
    let tree = temp_tree();
    let result = tree
        .path()
        .join("site/_data/claims/minibatch-variance.json");
    let text = std::fs::read_to_string(&result).unwrap();
    std::fs::write(
        &result,
        text.replacen("\"section\": \"1.1\"", "\"section\": \"9.9\"", 1),
    )
    .unwrap();
    let (code, _, err) = xtask(tree.path(), &["build-site", "--check"]);
    assert_eq!(code, exit::INVALID_INPUT, "{err}");
    assert!(err.contains("minibatch-variance.json"), "{err}");
    assert!(err.contains("section `9.9`"), "{err}");
}

#[test]
fn check_site_names_missing_tools_and_their_install_commands() {
    let tree = temp_tree();
    let (code, _, err) = xtask(
        tree.path(),
        &["check-site", "--chromium", "/nonexistent/chromium"],
    );
    assert_eq!(code, exit::UNAVAILABLE, "{err}");
    assert!(err.contains("apt-get install -y chromium"), "{err}");
    assert!(
        err.contains(
            "npm install --prefix target/check-site --no-audit --no-fund mathjax@3 mermaid@11"
        ),
        "{err}"
    );
}
