//! Tidy tests of the house rules, in the manner of rust-analyzer's `tidy`: plain text checks over
//! the repository's own files.
//!
//! - every reference to a repository file resolves (Markdown links, and path-like tokens ending in
//!   `.md`, `.rs`, `.yaml`, `.json` or `.toml`; URLs and theme imports are exempt), and nothing
//!   mentions the files of [`BANNED`] (documents that were never in the repository, and a folder
//!   outside it);
//! - every Rust module starts with `//!` (build scripts are exempt);
//! - every bound in a claim file has a comment above it or above its group;
//! - the runner never ignores a `write!` result;
//! - experiment crates neither spawn processes nor write files;
//! - result-producing crates call no ndarray `.dot(` (a 2-D `dot` is matrixmultiply's run-time
//!   dispatched dgemm; clippy's `disallowed-methods` cannot name the inherent method).

use end_to_end::repo_root;
use std::collections::BTreeSet;
use std::path::Path;

/// Names no file may mention (spelled in pieces, so that this file does not mention them either).
pub const BANNED: [&str; 4] = [
    concat!("DESIGN", ".md"),
    concat!("CLAIMS", ".md"),
    concat!("POST", ".md"),
    concat!("..", "/shared"),
];

/// Folders never scanned: build output, dependencies, generated site data and VCS metadata.
const SKIP_DIRS: &[&str] = &[
    "target",
    ".git",
    "node_modules",
    "site/_data",
    "site/_posts",
    "site/assets",
    ".jekyll-cache",
    "_site",
];

/// Every file of the repository (relative paths with `/`), sorted.
fn repo_files() -> Vec<String> {
    let root = repo_root();
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(&root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let rel = rel_path(&root, e.path());
            !SKIP_DIRS.iter().any(|d| rel == *d)
        });
    for e in walker.filter_map(Result::ok) {
        if e.file_type().is_file() {
            out.push(rel_path(&root, e.path()));
        }
    }
    out
}

fn rel_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_default()
}

/// All files, including generated site data, for resolving references (a reference to a
/// generated file is fine).
fn all_paths() -> BTreeSet<String> {
    let root = repo_root();
    walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_entry(|e| {
            let rel = rel_path(&root, e.path());
            !["target", ".git", "node_modules"].contains(&rel.as_str())
        })
        .filter_map(Result::ok)
        .map(|e| rel_path(&root, e.path()))
        .collect()
}

/// Resolves `..` and `.` in a `/`-separated path; `None` when it climbs above the root.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Whether the reference `token`, found in file `from`, names a file or folder that exists: relative
/// to the file's folder, to the root, or as the tail of an existing path (`src/lib.rs` of a crate,
/// a bare file name).
fn resolves(token: &str, from: &str, paths: &BTreeSet<String>) -> bool {
    let token = token.trim_start_matches("./");
    let dir = from.rsplit_once('/').map_or("", |(d, _)| d);
    let relative = normalize(&format!("{dir}/{token}"));
    if token.starts_with("../") {
        return relative.is_some_and(|r| paths.contains(&r));
    }
    if relative.is_some_and(|r| paths.contains(&r)) {
        return true;
    }
    let Some(t) = normalize(token) else {
        return false;
    };
    paths.contains(&t) || paths.iter().any(|p| p.ends_with(&format!("/{t}")))
}

/// Exempt tokens: URLs, placeholders and globs (`<id>.json`, `{id}.json`, `exp-*`), theme imports.
fn exempt(token: &str) -> bool {
    token.contains("://")
        || token.starts_with("http")
        || token.starts_with('/')
        || token.starts_with('~')
        || token.contains(['<', '>', '{', '}', '*', '$', '%', '\\', '|', '#'])
        || token.contains("jekyll-theme-chirpy")
        || token.starts_with("assets/") && token.ends_with(".scss")
}

/// Files the documentation's `new-claim` examples create: named on purpose before they exist.
const EXAMPLE_FILES: &[&str] = &[
    "claims/escape-rates/kramers-escape-deep-well.yaml",
    "claims/escape-rates/my-claim.yaml",
];

/// Folders whose files name files of temporary trees (the command-line cases), never the
/// repository's.
const TEMPORARY_TREE_DIRS: &[&str] = &["tests/cases/"];

const EXTENSIONS: &[&str] = &[".md", ".rs", ".yaml", ".json", ".toml"];

/// Path-like tokens ending in a checked extension, and Markdown link targets, in `text`.
fn references(text: &str, markdown: bool) -> Vec<String> {
    let mut out = Vec::new();
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "-_./<>{}*$%~:#".contains(c);
    for raw in text.split(|c: char| !is_path_char(c)) {
        let token = raw.trim_matches(|c: char| c == '.' || c == ':' || c == '#');
        if token.is_empty() || !token.contains('.') {
            continue;
        }
        if EXTENSIONS.iter().any(|e| token.ends_with(e)) && token.len() > 3 {
            out.push(token.to_owned());
        }
    }
    if markdown {
        let mut rest = text;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split('#').next().unwrap_or("").trim();
            if !target.is_empty() && !target.contains(' ') {
                out.push(target.to_owned());
            }
            rest = &after[end.min(after.len())..];
        }
    }
    out
}

/// The text of `file` in which references are looked for: for Rust files, the comments only
/// (string literals in tests name temporary files that do not exist on purpose).
fn checked_text(file: &str, text: &str) -> String {
    if !file.ends_with(".rs") {
        return text.to_owned();
    }
    text.lines()
        .filter_map(|l| l.find("//").map(|i| &l[i..]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn text_files() -> Vec<String> {
    repo_files()
        .into_iter()
        .filter(|f| {
            [
                ".md", ".rs", ".yaml", ".yml", ".toml", ".j2", ".html", ".sh",
            ]
            .iter()
            .any(|e| f.ends_with(e))
                || f.starts_with(".ci/")
        })
        .filter(|f| f != "Cargo.lock")
        .collect()
}

/// The references to repository files that do not exist, as `file: token` lines.
pub fn dead_references() -> Vec<String> {
    let paths = all_paths();
    let mut dead = Vec::new();
    for file in text_files() {
        let text = read(&file);
        for banned in BANNED {
            if text.contains(banned) {
                dead.push(format!("{file}: mentions {banned}"));
            }
        }
        let checked = checked_text(&file, &text);
        let mut seen = BTreeSet::new();
        for token in references(&checked, file.ends_with(".md")) {
            if exempt(&token)
                || EXAMPLE_FILES.contains(&token.as_str())
                || TEMPORARY_TREE_DIRS.iter().any(|d| file.starts_with(d))
                || !seen.insert(token.clone())
            {
                continue;
            }
            if BANNED.iter().any(|b| token.ends_with(b)) {
                continue; // reported above
            }
            if !resolves(&token, &file, &paths) {
                dead.push(format!("{file}: `{token}` does not exist"));
            }
        }
    }
    dead
}

#[test]
fn references_to_repository_files_resolve() {
    let dead = dead_references();
    assert!(
        dead.is_empty(),
        "{} dead reference(s):\n{}",
        dead.len(),
        dead.join("\n")
    );
}

#[test]
fn the_reference_scanner_finds_links_tokens_and_exemptions() {
    let refs = references(
        "see [the guide](CONTRIBUTING.md#adding) and `crates/figures/src/lib.rs`, or https://x.org/a.md",
        true,
    );
    assert!(refs.contains(&"CONTRIBUTING.md".to_owned()), "{refs:?}");
    assert!(
        refs.contains(&"crates/figures/src/lib.rs".to_owned()),
        "{refs:?}"
    );
    let paths: BTreeSet<String> = ["CONTRIBUTING.md", "crates/figures/src/lib.rs", "docs/a.md"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert!(resolves("src/lib.rs", "crates/figures/README.md", &paths));
    assert!(resolves("../CONTRIBUTING.md", "docs/x.md", &paths));
    assert!(!resolves(
        &format!("{}/notes.md", BANNED[3]),
        "README.md",
        &paths
    ));
    assert!(!resolves(BANNED[0], "README.md", &paths));
    assert!(exempt("claims/<family>/<id>.yaml") && exempt("https://x.org/a.md"));
}

fn rust_files() -> Vec<String> {
    repo_files()
        .into_iter()
        .filter(|f| f.ends_with(".rs"))
        .collect()
}

#[test]
fn every_module_starts_with_a_module_comment() {
    let missing: Vec<String> = rust_files()
        .into_iter()
        .filter(|f| !f.ends_with("build.rs"))
        .filter(|f| !read(f).trim_start().starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a `//!` comment at the top:\n{}",
        missing.join("\n")
    );
}

/// The lines of a claim file's `checks:` and `wording:` lists that hold a bound and have no
/// comment above them or above their group.
pub fn uncommented_bounds(text: &str) -> Vec<usize> {
    let bound_keys = ["at_most", "at_least", "between", "approx"];
    let lines: Vec<&str> = text.lines().collect();
    let mut bad = Vec::new();
    let mut in_list = false;
    // Whether the current group (list items without a blank line between them) has a comment.
    let mut covered = false;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let prev = i.checked_sub(1).map_or("", |k| lines[k].trim());
        if indent == 0 && !t.is_empty() && !t.starts_with('#') {
            in_list = t.starts_with("checks:") || t.starts_with("wording:");
            covered = in_list && prev.starts_with('#');
            continue;
        }
        if !in_list {
            continue;
        }
        if t.is_empty() {
            covered = false;
            continue;
        }
        if t.starts_with('#') {
            covered = true;
            continue;
        }
        if t.starts_with("- ") {
            covered = covered || prev.starts_with('#');
            if bound_keys.iter().any(|k| t.contains(&format!("{k}:"))) && !covered {
                bad.push(i + 1);
            }
        } else if bound_keys.iter().any(|k| t.starts_with(&format!("{k}:"))) && !covered {
            bad.push(i + 1);
        }
    }
    bad
}

#[test]
fn every_bound_in_a_claim_file_has_a_comment() {
    let mut bad = Vec::new();
    for f in repo_files()
        .into_iter()
        .filter(|f| f.starts_with("claims/") && f.ends_with(".yaml"))
    {
        for line in uncommented_bounds(&read(&f)) {
            bad.push(format!("{f}:{line}"));
        }
    }
    assert!(
        bad.is_empty(),
        "bounds without a comment deriving them (above the bound or its group):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_bound_comment_rule_accepts_groups_and_catches_bare_bounds() {
    let ok =
        "checks:\n  # derivation\n  - { metric: a, at_most: 1 }\n  - { metric: b, at_least: 2 }\n";
    assert!(uncommented_bounds(ok).is_empty());
    let group = "# all of them: 4 SE\nchecks:\n  - { metric: a, at_most: 1 }\n";
    assert!(uncommented_bounds(group).is_empty());
    let bare = "checks:\n  # a\n  - { metric: a, at_most: 1 }\n\n  - { metric: b, at_most: 1 }\n";
    assert_eq!(uncommented_bounds(bare), vec![5]);
}

fn files_under(prefix: &str) -> Vec<String> {
    rust_files()
        .into_iter()
        .filter(|f| f.starts_with(prefix))
        .collect()
}

#[test]
fn the_runner_never_ignores_a_write_result() {
    let bad: Vec<String> = files_under("crates/claim-runner/")
        .into_iter()
        .chain(files_under("xtask/"))
        .flat_map(|f| {
            read(&f)
                .lines()
                .enumerate()
                .filter(|(_, l)| {
                    let l = l.replace(' ', "");
                    l.contains("let_=write!(") || l.contains("let_=writeln!(")
                })
                .map(|(i, _)| format!("{f}:{}", i + 1))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        bad.is_empty(),
        "ignored write results (print through the reporter):\n{}",
        bad.join("\n")
    );
}

/// Lines of `files` containing any of `needles`, outside comments.
fn offending_lines(files: &[String], needles: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        for (i, line) in read(f).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if let Some(n) = needles.iter().find(|n| code.contains(*n)) {
                out.push(format!("{f}:{}: `{n}`", i + 1));
            }
        }
    }
    out
}

fn experiment_crate_files() -> Vec<String> {
    rust_files()
        .into_iter()
        .filter(|f| f.starts_with("crates/exp-"))
        .collect()
}

#[test]
fn experiment_crates_neither_spawn_processes_nor_write_files() {
    let bad = offending_lines(
        &experiment_crate_files(),
        &[
            "std::process::Command",
            "process::Command",
            "Command::new",
            "std::fs::write",
            "fs::write(",
            "File::create",
            "OpenOptions",
            "create_dir",
            "remove_file",
            "write_atomic",
            "tempfile",
        ],
    );
    assert!(
        bad.is_empty(),
        "experiment crates compute; the runner spawns and writes:\n{}",
        bad.join("\n")
    );
}

#[test]
fn result_producing_crates_call_no_ndarray_dot() {
    let files: Vec<String> = rust_files()
        .into_iter()
        .filter(|f| {
            [
                "crates/exp-",
                "crates/sgd-sim/",
                "crates/claim-spec/",
                "crates/figures/",
            ]
            .iter()
            .any(|p| f.starts_with(p))
        })
        .filter(|f| f.contains("/src/"))
        .collect();
    let bad = offending_lines(&files, &[".dot("]);
    assert!(
        bad.is_empty(),
        "ndarray `dot` (a 2-D product dispatches kernels at run time; use sgd_sim::linalg):\n{}",
        bad.join("\n")
    );
}

#[test]
fn tidy_sees_the_repository() {
    let files = repo_files();
    assert!(files.iter().any(|f| f == "README.md"));
    assert!(files.iter().any(|f| f == "tests/tests/tidy.rs"));
    assert!(!files.iter().any(|f| f.starts_with("target/")));
}

/// The longest function allowed in an experiment crate, counted from its `fn` line to its closing
/// brace, tests included: a kind is short steps, not one long function.
const MAX_EXPERIMENT_FN_LINES: usize = 120;

/// `(line, length)` of every function in `text` longer than `max` lines. A function starts at a
/// line whose first token (after `pub`, `const` and the like) is `fn`, and ends at the first later
/// line that is a `}` at the same indentation.
pub fn long_functions(text: &str, max: usize) -> Vec<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let head = t
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ")
            .trim_start_matches("const ")
            .trim_start_matches("unsafe ");
        if !head.starts_with("fn ") || t.ends_with(';') {
            continue;
        }
        let indent = line.len() - t.len();
        let close = format!("{}}}", " ".repeat(indent));
        if let Some(end) = lines[i + 1..]
            .iter()
            .position(|l| l.starts_with(&close) && l.trim_end() == close)
        {
            let length = end + 2;
            if length > max {
                out.push((i + 1, length));
            }
        }
    }
    out
}

#[test]
fn experiment_functions_are_short() {
    let mut long = Vec::new();
    for f in experiment_crate_files() {
        for (line, length) in long_functions(&read(&f), MAX_EXPERIMENT_FN_LINES) {
            long.push(format!("{f}:{line}: {length} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_EXPERIMENT_FN_LINES} lines in experiment crates (split them into steps):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_function_length_rule_counts_from_fn_to_its_brace() {
    let text = "pub fn a() {\n    x();\n}\n\n    fn b(\n        y: u8,\n    ) {\n    }\nfn c();\n";
    assert_eq!(long_functions(text, 2), vec![(1, 3), (5, 4)]);
    assert!(long_functions(text, 4).is_empty());
}

#[test]
fn every_committed_claim_has_exactly_one_primary_wording_check() {
    let mut wrong = Vec::new();
    for f in repo_files() {
        if f.starts_with("claims/") && f.ends_with(".yaml") {
            let n = read(&f)
                .lines()
                .filter(|l| {
                    let t = l.split('#').next().unwrap_or("");
                    t.contains("primary: true")
                })
                .count();
            if n != 1 {
                wrong.push(format!("{f}: {n} primary wording checks"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "every claim's verdict rests on one primary wording check:\n{}",
        wrong.join("\n")
    );
}
