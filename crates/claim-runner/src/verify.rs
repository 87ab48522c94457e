//! `verify-claims`: load and validate every claim file, run the selected claims on one thread pool,
//! evaluate their checks, and write result files and SVG figures atomically.

use crate::families;
use claim_spec::evaluate::CheckRecord;
use claim_spec::result::{FIGURE_DIR, write_atomic};
use claim_spec::{
    LoadError, LoadedClaim, Registry, ResultFile, RunContext, Status, Verdict, evaluate,
    load_claims,
};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Claims whose estimated cost exceeds this many elementary steps are refused before running
/// (about five minutes on one core).
pub const MAX_WORK: f64 = 3e11;

/// The project's folders, all below one root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The repository root.
    pub root: PathBuf,
}

impl Paths {
    /// Paths below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// `claims/`.
    pub fn claims(&self) -> PathBuf {
        self.root.join("claims")
    }
    /// `site/`.
    pub fn site(&self) -> PathBuf {
        self.root.join("site")
    }
    /// `site/_data/claims/`.
    pub fn results(&self) -> PathBuf {
        self.site().join("_data").join("claims")
    }
    /// `site/_data/claims/<id>.json`.
    pub fn result_file(&self, id: &str) -> PathBuf {
        self.results().join(format!("{id}.json"))
    }
    /// `site/assets/img/posts/<post>/`.
    pub fn figures(&self) -> PathBuf {
        self.site().join(FIGURE_DIR)
    }
}

/// What to run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    /// Claim ids (all when empty).
    pub ids: Vec<String>,
    /// Only this family.
    pub family: Option<String>,
}

/// The outcome of one claim, for the terminal (the result file holds the deterministic part).
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimReport {
    /// The claim id.
    pub id: String,
    /// pass | fail | error.
    pub status: Status,
    /// The computed verdict.
    pub verdict: Option<Verdict>,
    /// The checks that failed.
    pub failed_checks: Vec<CheckRecord>,
    /// Other problems (missing metrics, verdict changes, run errors).
    pub problems: Vec<String>,
    /// Wall time of the run, seconds (terminal only; never written to a result).
    pub seconds: f64,
}

/// One run's outputs, before anything is written.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutput {
    /// The result file.
    pub result: ResultFile,
    /// SVG documents by path relative to `site/`.
    pub svgs: Vec<(String, String)>,
}

/// Loads and validates every claim under `paths.claims()`.
///
/// # Errors
/// Every problem found, in file order.
pub fn load(paths: &Paths, registry: &Registry) -> Result<Vec<LoadedClaim>, Vec<LoadError>> {
    if !paths.claims().is_dir() {
        return Err(vec![LoadError {
            file: paths.claims().display().to_string(),
            line: None,
            column: None,
            key: None,
            message: "no claims folder here; run from the repository or pass --root".into(),
            suggestion: None,
        }]);
    }
    load_claims(&paths.claims(), &paths.root, registry, MAX_WORK)
}

/// The claims a selection names, in file order.
///
/// # Errors
/// A usage message for an unknown id or family, with the closest valid one.
pub fn select<'a>(
    claims: &'a [LoadedClaim],
    selection: &Selection,
) -> Result<Vec<&'a LoadedClaim>, String> {
    for id in &selection.ids {
        if !claims.iter().any(|c| &c.claim.id == id) {
            let hint =
                claim_spec::registry::closest(id, claims.iter().map(|c| c.claim.id.as_str()))
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
            return Err(format!("no claim with id `{id}`{hint}"));
        }
    }
    if let Some(f) = &selection.family
        && !claims.iter().any(|c| &c.family == f)
    {
        let hint = claim_spec::registry::closest(f, families::FAMILIES.iter().map(|f| f.name))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(format!("no claims in family `{f}`{hint}"));
    }
    Ok(claims
        .iter()
        .filter(|c| selection.ids.is_empty() || selection.ids.contains(&c.claim.id))
        .filter(|c| selection.family.as_ref().is_none_or(|f| &c.family == f))
        .collect())
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs one claim with `seed` and `scale` and evaluates it; writes nothing. A panic or an error
/// in the experiment becomes an `error` result with its reason.
pub fn run_claim(loaded: &LoadedClaim, seed: u64, scale: f64) -> RunOutput {
    let ctx = RunContext {
        seed,
        scale,
        claim_id: loaded.claim.id.clone(),
    };
    let code_version = families::code_version(&loaded.family);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (loaded.params.run)(&ctx)));
    let outcome = match run {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            return RunOutput {
                result: ResultFile::new(
                    loaded,
                    seed,
                    scale,
                    &code_version,
                    Err(format!("run failed: {e}")),
                ),
                svgs: Vec::new(),
            };
        }
        Err(p) => {
            let reason = format!("experiment panicked: {}", panic_message(&*p));
            return RunOutput {
                result: ResultFile::new(loaded, seed, scale, &code_version, Err(reason)),
                svgs: Vec::new(),
            };
        }
    };
    if let Some((name, m)) = outcome.first_non_finite_metric() {
        let reason = format!(
            "run failed: metric `{name}` is not finite (value {}, interval {:?})",
            m.value, m.ci
        );
        return RunOutput {
            result: ResultFile::new(loaded, seed, scale, &code_version, Err(reason)),
            svgs: Vec::new(),
        };
    }
    let mut evaluation = evaluate(&loaded.claim, &outcome);
    let mut svgs = Vec::new();
    for fig in &loaded.claim.figures {
        if let Some(spec) = outcome.figures.get(&fig.name) {
            match figures::render_svg(spec) {
                Ok(svg) => svgs.push((
                    claim_spec::result::figure_path(&loaded.claim.id, &fig.name),
                    svg,
                )),
                Err(e) => evaluation
                    .problems
                    .push(format!("figure `{}`: {e}", fig.name)),
            }
        }
    }
    let result = ResultFile::new(
        loaded,
        seed,
        scale,
        &code_version,
        Ok((&outcome, &evaluation)),
    );
    RunOutput { result, svgs }
}

/// Writes a run's figures, then its result file, each atomically.
///
/// # Errors
/// The first I/O error, naming the path.
pub fn write_outputs(paths: &Paths, output: &RunOutput) -> Result<(), String> {
    for (rel, svg) in &output.svgs {
        let path = paths.site().join(rel);
        write_atomic(&path, svg.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let path = paths.result_file(&output.result.id);
    let bytes = output
        .result
        .to_bytes()
        .map_err(|e| format!("cannot serialize the result of {}: {e}", output.result.id))?;
    write_atomic(&path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Makes sure the output folders exist and can be written.
///
/// # Errors
/// A message naming the folder.
pub fn prepare_output_dirs(paths: &Paths) -> Result<(), String> {
    for dir in [paths.results(), paths.figures()] {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let probe = tempfile_probe(&dir);
        probe.map_err(|e| format!("cannot write to {}: {e}", dir.display()))?;
    }
    Ok(())
}

fn tempfile_probe(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&p, b"")?;
    std::fs::remove_file(&p)
}

/// The report of a finished run.
pub fn report(output: &RunOutput, seconds: f64) -> ClaimReport {
    let r = &output.result;
    ClaimReport {
        id: r.id.clone(),
        status: r.status,
        verdict: r.verdict,
        failed_checks: r.checks.iter().filter(|c| !c.pass).cloned().collect(),
        problems: r.problems.clone(),
        seconds,
    }
}

/// Runs the claims on the current rayon pool (claims and their trajectories share it), writing
/// each claim's outputs as it finishes and calling `on_done` with its report. Reports come back in
/// claim order.
///
/// # Errors
/// The first write error.
pub fn run_and_write(
    paths: &Paths,
    claims: &[&LoadedClaim],
    scale: f64,
    on_done: &(dyn Fn(&ClaimReport) + Sync),
) -> Result<Vec<ClaimReport>, String> {
    let results: Vec<Result<ClaimReport, String>> = claims
        .par_iter()
        .with_max_len(1)
        .map(|c| {
            let start = Instant::now();
            let output = run_claim(c, c.claim.seed, scale);
            write_outputs(paths, &output)?;
            let rep = report(&output, start.elapsed().as_secs_f64());
            on_done(&rep);
            Ok(rep)
        })
        .collect();
    results.into_iter().collect()
}
