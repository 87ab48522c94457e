//! The result file `site/_data/claims/<id>.json` (its contract is described in
//! `claims/README.md`, and its JSON Schema is `claims/result.schema.json`), and the atomic write
//! every output of the project goes through.

use crate::claim::{Revision, Verdict};
use crate::evaluate::{CheckRecord, Evaluation};
use crate::load::LoadedClaim;
use crate::outcome::{Metric, Outcome, Table};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The version of the result-file format; bumped whenever a field changes meaning.
pub const FORMAT_VERSION: u32 = 2;

/// pass | fail | error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every check passed and the verdict is the expected one.
    Pass,
    /// A check failed, a metric or figure is missing, or the verdict changed.
    Fail,
    /// The run failed (diverged, NaN, numerical failure).
    Error,
}

impl Status {
    /// Upper-case label for the terminal.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
        }
    }
}

/// Where a result came from. No times, hosts or absolute paths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Provenance {
    /// SHA-256 of the claim file's bytes.
    pub claim_sha256: String,
    /// The seed the run used.
    pub seed: u64,
    /// Hash of the sources of the crates that produced the result (family and core crates).
    pub code_version: String,
    /// Random samples drawn.
    pub samples: u64,
    /// The multiplier on sample counts (1 by default).
    pub scale: f64,
    /// SHA-256 of each figure file's bytes, by path relative to `site/`: a figure that no longer
    /// has these bytes makes the result stale, whoever changed it.
    #[serde(default)]
    pub figures_sha256: BTreeMap<String, String>,
}

/// The deterministic record of one claim run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultFile {
    /// The result-file format, [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The claim id.
    pub id: String,
    /// The claim's title.
    pub title: String,
    /// The post section of its evidence box.
    pub section: String,
    /// Other sections that refer to it.
    #[serde(default)]
    pub also_in: Vec<String>,
    /// What the post claims.
    pub statement: String,
    /// The statement is a mathematical identity (the badge reads "verified identity").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identity: bool,
    /// pass | fail | error.
    pub status: Status,
    /// The computed verdict (absent when the run failed).
    pub verdict: Option<Verdict>,
    /// The verdict the claim file expects.
    pub expected_verdict: Verdict,
    /// The claim file's note (one sentence, with placeholders).
    #[serde(default)]
    pub note: Option<String>,
    /// The claim file's longer explanation (with placeholders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Why the run failed or which problems failed the claim, besides failed checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The experiment kind.
    pub experiment: String,
    /// The parameters the run used, defaults filled in.
    pub params: serde_json::Value,
    /// Wording checks.
    pub wording: Vec<CheckRecord>,
    /// Every metric of the outcome.
    pub metrics: BTreeMap<String, Metric>,
    /// The checks.
    pub checks: Vec<CheckRecord>,
    /// Figure paths relative to `site/`.
    pub figures: Vec<String>,
    /// Figure captions, in the order of `figures` (with placeholders).
    pub captions: Vec<String>,
    /// Figure alt texts, in the order of `figures` (empty where the claim file gives none).
    #[serde(default)]
    pub alts: Vec<String>,
    /// The data behind every figure.
    pub tables: BTreeMap<String, Table>,
    /// Changes to bounds or methods made after results were seen, from the claim file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<Revision>,
    /// Provenance.
    pub provenance: Provenance,
}

/// Where the post's figures live, relative to `site/`.
pub const FIGURE_DIR: &str = "assets/img/posts/sgd-noise-as-a-design-feature";

/// The path, relative to `site/`, of figure `name` of claim `id`.
pub fn figure_path(id: &str, name: &str) -> String {
    format!("{FIGURE_DIR}/{id}-{name}.svg")
}

impl ResultFile {
    /// Assembles the result of a claim run (or of its failure).
    pub fn new(
        loaded: &LoadedClaim,
        seed: u64,
        scale: f64,
        code_version: &str,
        run: Result<(&Outcome, &Evaluation), String>,
    ) -> Self {
        let c = &loaded.claim;
        let figures = c
            .figures
            .iter()
            .map(|f| figure_path(&c.id, &f.name))
            .collect();
        let captions = c
            .figures
            .iter()
            .map(|f| f.caption.trim().to_owned())
            .collect();
        let alts = c
            .figures
            .iter()
            .map(|f| f.alt.clone().unwrap_or_default())
            .collect();
        let mut result = ResultFile {
            format_version: FORMAT_VERSION,
            id: c.id.clone(),
            title: c.title.clone(),
            section: c.section.clone(),
            also_in: c.also_in.clone(),
            statement: c.statement.trim().to_owned(),
            identity: c.identity,
            status: Status::Error,
            verdict: None,
            expected_verdict: c.verdict,
            note: c.note.as_ref().map(|n| n.trim().to_owned()),
            details: c.details.as_ref().map(|n| n.trim().to_owned()),
            problems: Vec::new(),
            experiment: c.experiment.clone(),
            params: serde_json::to_value(&loaded.params.resolved).unwrap_or_default(),
            wording: Vec::new(),
            metrics: BTreeMap::new(),
            checks: Vec::new(),
            figures,
            captions,
            alts,
            tables: BTreeMap::new(),
            revisions: c.revisions.clone(),
            provenance: Provenance {
                claim_sha256: loaded.sha256.clone(),
                seed,
                code_version: code_version.to_owned(),
                samples: 0,
                scale,
                figures_sha256: BTreeMap::new(),
            },
        };
        match run {
            Ok((outcome, eval)) => {
                result.status = if eval.passed() {
                    Status::Pass
                } else {
                    Status::Fail
                };
                result.verdict = Some(eval.verdict);
                result.problems = eval.problems.clone();
                result.wording = eval.wording.clone();
                result.checks = eval.checks.clone();
                result.metrics = outcome.metrics.clone();
                result.tables = outcome.tables.clone();
                result.provenance.samples = outcome.samples;
            }
            Err(reason) => {
                result.problems = vec![reason];
                result.figures.clear();
                result.captions.clear();
                result.alts.clear();
            }
        }
        result
    }

    /// The file's bytes: pretty JSON with a final newline. Deterministic (sorted maps, shortest
    /// round-trip floats).
    ///
    /// # Errors
    /// Serialization errors (a non-finite metric, which the runner rules out beforehand).
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Reads a result file.
    ///
    /// # Errors
    /// I/O or JSON errors.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    /// The JSON Schema of result files, as `claims/result.schema.json` holds it.
    pub fn schema() -> schemars::Schema {
        schemars::schema_for!(ResultFile)
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed, then renamed
/// over the target. An interrupted run leaves the old file or the new one, never a partial one.
///
/// # Errors
/// I/O errors; the target is untouched when one occurs.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".partial")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"old").unwrap();
        write_atomic(&p, b"new contents").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new contents");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name() != "a.json")
            .collect();
        assert!(leftovers.is_empty());
        assert!(write_atomic(&dir.path().join("missing/a.json"), b"x").is_err());
    }

    #[test]
    fn figure_paths_follow_the_post_layout() {
        assert_eq!(
            figure_path("kramers-escape", "arrhenius"),
            "assets/img/posts/sgd-noise-as-a-design-feature/kramers-escape-arrhenius.svg"
        );
    }
}
