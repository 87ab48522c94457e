//! Helpers for the end-to-end tests: temporary claim trees and an in-process CLI with captured output.

use std::path::{Path, PathBuf};

/// The repository root (this package sits in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A temporary repository tree with a `claims/` folder, removed on drop.
pub struct Tree {
    dir: tempfile::TempDir,
}

/// What one CLI invocation returned.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: u8,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Tree {
    /// An empty tree.
    ///
    /// # Panics
    /// When the temporary folder cannot be created.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        std::fs::create_dir_all(dir.path().join("claims")).expect("claims folder");
        Self { dir }
    }

    /// The tree's root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `claims/<rel>` with `text`.
    ///
    /// # Panics
    /// On I/O errors.
    pub fn claim(&self, rel: &str, text: &str) -> &Self {
        let p = self.root().join("claims").join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("folder");
        std::fs::write(p, text).expect("write claim");
        self
    }

    /// Writes raw bytes to `claims/<rel>`.
    ///
    /// # Panics
    /// On I/O errors.
    pub fn claim_bytes(&self, rel: &str, bytes: &[u8]) -> &Self {
        let p = self.root().join("claims").join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("folder");
        std::fs::write(p, bytes).expect("write claim");
        self
    }

    /// Runs `cargo xtask <args> --root <tree>` in process.
    pub fn xtask(&self, args: &[&str]) -> Run {
        let mut argv: Vec<String> = vec!["xtask".into()];
        argv.extend(args.iter().map(|s| (*s).to_owned()));
        argv.push("--root".into());
        argv.push(self.root().display().to_string());
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = claim_runner::cli::run(&argv, &mut out, &mut err);
        Run {
            code,
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        }
    }

    /// Every file under `site/`, with its bytes, sorted by path.
    ///
    /// # Panics
    /// On I/O errors.
    pub fn outputs(&self) -> Vec<(String, Vec<u8>)> {
        let site = self.root().join("site");
        if !site.exists() {
            return Vec::new();
        }
        walkdir::WalkDir::new(&site)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e
                    .path()
                    .strip_prefix(&site)
                    .expect("under site")
                    .display()
                    .to_string();
                (rel, std::fs::read(e.path()).expect("read output"))
            })
            .collect()
    }
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

/// A small, fast `gradient-unbiased` claim file; `extra` is appended (more checks or wording).
pub fn small_unbiased_claim(id: &str, checks: &str, wording: &str, verdict: &str) -> String {
    format!(
        "id: {id}\ntitle: Small unbiasedness test\nsection: \"1.1\"\nstatement: A minibatch gradient is unbiased.\nverdict: {verdict}\n\
         note: Test claim.\nexperiment: minibatch-noise/gradient-unbiased\nseed: 7\nparams:\n  samples: 64\n  dim: 3\n  label_noise: 0.5\n  \
         batch_sizes: [1, 4]\n  batches: 400\n  replicas: 4\nchecks:\n{checks}wording:\n{wording}figures:\n  - {{ name: mean-error, caption: Error of the mean. }}\n"
    )
}

/// The passing check list of [`small_unbiased_claim`].
pub const PASSING_CHECKS: &str = "  - { metric: mean_error_max_abs_z, at_most: 4.5 }\n  - { metric: epoch_average_rel_error_max, at_most: 1.0e-12 }\n";
