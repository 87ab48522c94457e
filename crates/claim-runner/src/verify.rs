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
use sgd_sim::cancel::Cancel;
use std::path::{Path, PathBuf};

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
    /// The run stopped on an interrupt: nothing of it may be written.
    pub cancelled: bool,
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
            let hint = claim_spec::names::closest(id, claims.iter().map(|c| c.claim.id.as_str()))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(format!("no claim with id `{id}`{hint}"));
        }
    }
    if let Some(f) = &selection.family
        && !claims.iter().any(|c| &c.family == f)
    {
        let hint = claim_spec::names::closest(f, families::FAMILIES.iter().map(|f| f.name))
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
    run_claim_cancellable(loaded, seed, scale, &Cancel::new())
}

/// [`run_claim`] with a stop flag that the measurement polls.
pub fn run_claim_cancellable(
    loaded: &LoadedClaim,
    seed: u64,
    scale: f64,
    cancel: &Cancel,
) -> RunOutput {
    let ctx = RunContext {
        seed,
        scale,
        claim_id: loaded.claim.id.clone(),
        cancel: cancel.clone(),
    };
    let code_version = families::code_version(&loaded.family);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (loaded.params.run)(&ctx)));
    let failed = |reason: String, cancelled: bool| RunOutput {
        result: ResultFile::new(loaded, seed, scale, &code_version, Err(reason)),
        svgs: Vec::new(),
        cancelled,
    };
    let outcome = match run {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            let cancelled = matches!(e, claim_spec::ExperimentError::Cancelled);
            return failed(format!("run failed: {e}"), cancelled);
        }
        Err(p) => {
            return failed(
                format!("experiment panicked: {}", panic_message(&*p)),
                false,
            );
        }
    };
    if let Some((name, m)) = outcome.first_non_finite_metric() {
        let what = if m.value.is_finite() {
            "its interval"
        } else {
            "its value"
        };
        return failed(
            format!("run failed: metric `{name}` is not finite ({what} is not a finite number)"),
            false,
        );
    }
    let mut evaluation = evaluate(&loaded.claim, &outcome);
    let mut svgs = Vec::new();
    for fig in &loaded.claim.figures {
        if let Some(rendered) = outcome.figures.get(&fig.name).map(figures::render_svg) {
            match rendered {
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
    let mut result = ResultFile::new(
        loaded,
        seed,
        scale,
        &code_version,
        Ok((&outcome, &evaluation)),
    );
    result.provenance.figures_sha256 = svgs
        .iter()
        .map(|(path, svg)| {
            (
                path.clone(),
                claim_spec::load::source_hash_hex(svg.as_bytes()),
            )
        })
        .collect();
    RunOutput {
        result,
        svgs,
        cancelled: false,
    }
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
        remove_stale_partials(&dir);
        let probe = tempfile_probe(&dir);
        probe.map_err(|e| format!("cannot write to {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Removes temporary files an interrupted or killed run left behind (`.tmp-*.partial`) in the
/// output folders; the files they were to replace are intact, because every write is a rename.
pub fn remove_partials(paths: &Paths) {
    for dir in [paths.results(), paths.figures()] {
        remove_stale_partials(&dir);
    }
}

fn remove_stale_partials(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".tmp-") && name.ends_with(".partial") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
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

/// One run of a claim under a derived seed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SeedRun {
    /// The derived seed.
    pub seed: u64,
    /// Every check passed and the run did not fail.
    pub checks_pass: bool,
    /// The verdict it computed (absent when the run failed).
    pub verdict: Option<Verdict>,
    /// Failed checks and problems, in words.
    pub reasons: Vec<String>,
}

/// How one claim fared under other seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedReport {
    /// The claim id.
    pub id: String,
    /// The verdict the claim file expects.
    pub expected_verdict: Verdict,
    /// Whether it passes with its own seed.
    pub own_seed_passes: bool,
    /// The derived seeds' runs.
    pub runs: Vec<SeedRun>,
    /// A run was interrupted: the report is incomplete.
    pub cancelled: bool,
}

/// Below this share of derived seeds agreeing with the expected verdict, a claim is flagged
/// VERDICT-FRAGILE (reported, not failed: the verdict is a statement about the wording, and an
/// inconclusive interval under another seed is information, not an error).
pub const VERDICT_AGREEMENT_MIN: f64 = 0.8;

impl SeedReport {
    /// Passes on its own seed but fails a check on another: a bound tuned to one seed, or too tight.
    pub fn fragile(&self) -> bool {
        self.own_seed_passes && self.runs.iter().any(|r| !r.checks_pass)
    }
    /// Derived seeds whose checks pass.
    pub fn passing(&self) -> usize {
        self.runs.iter().filter(|r| r.checks_pass).count()
    }
    /// Derived seeds whose verdict is the expected one.
    pub fn agreeing(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.verdict == Some(self.expected_verdict))
            .count()
    }
    /// Fewer than [`VERDICT_AGREEMENT_MIN`] of the derived seeds agree with the verdict.
    pub fn verdict_fragile(&self) -> bool {
        !self.runs.is_empty()
            && (self.agreeing() as f64) < VERDICT_AGREEMENT_MIN * self.runs.len() as f64
    }
}

/// The i-th seed derived from a claim's own seed (for robustness runs).
pub fn derived_seed(seed: u64, i: u64) -> u64 {
    sgd_sim::rng::Streams::new(seed).derived_seed(i)
}

fn reasons(output: &RunOutput) -> Vec<String> {
    let r = &output.result;
    r.checks
        .iter()
        .filter(|c| !c.pass)
        .map(|c| {
            let value = c
                .value
                .map_or_else(|| "missing".to_owned(), |v| format!("{v}"));
            format!("check {}: value {value} violates {}", c.metric, c.bound)
        })
        .chain(r.problems.iter().cloned())
        .collect()
}

/// Runs each claim with its own seed and with `k` derived seeds, writing nothing; stops early
/// when `cancel` is raised.
pub fn seed_robustness(
    claims: &[&LoadedClaim],
    k: u64,
    scale: f64,
    cancel: &Cancel,
) -> Vec<SeedReport> {
    claims
        .par_iter()
        .with_max_len(1)
        .map(|c| {
            let own = run_claim_cancellable(c, c.claim.seed, scale, cancel);
            let runs: Vec<(SeedRun, bool)> = (0..usize::try_from(k).unwrap_or(usize::MAX))
                .into_par_iter()
                .with_max_len(1)
                .map(|i| {
                    let seed = derived_seed(c.claim.seed, i as u64);
                    let out = run_claim_cancellable(c, seed, scale, cancel);
                    let r = &out.result;
                    let checks_pass = r.status != Status::Error && r.checks.iter().all(|x| x.pass);
                    let run = SeedRun {
                        seed,
                        checks_pass,
                        verdict: r.verdict,
                        reasons: reasons(&out),
                    };
                    (run, out.cancelled)
                })
                .collect();
            SeedReport {
                id: c.claim.id.clone(),
                expected_verdict: c.claim.verdict,
                own_seed_passes: own.result.status == Status::Pass,
                cancelled: own.cancelled || runs.iter().any(|r| r.1),
                runs: runs.into_iter().map(|r| r.0).collect(),
            }
        })
        .collect()
}

/// A deterministic slice of the claims: shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard `{s}` is not K/N"))?;
        let index: usize = k
            .trim()
            .parse()
            .map_err(|_| format!("shard index `{k}` is not a number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("shard count `{n}` is not a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard {index}/{count}: need 1 <= K <= N"));
        }
        Ok(Self { index, count })
    }
}

/// The claims of one shard. Claims are dealt by estimated cost, largest first, each to the shard
/// with the least work so far (ties to the lower shard), so the split is balanced and depends only
/// on the claim files: shards run on different machines merge by file into the unsharded result.
pub fn shard<'a>(claims: &[&'a LoadedClaim], shard: Shard) -> Vec<&'a LoadedClaim> {
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_by(|&a, &b| {
        claims[b]
            .params
            .estimated_work
            .total_cmp(&claims[a].params.estimated_work)
            .then_with(|| claims[a].claim.id.cmp(&claims[b].claim.id))
    });
    let mut load = vec![0.0f64; shard.count];
    let mut owner = vec![0usize; claims.len()];
    for i in order {
        let k = (0..shard.count)
            .min_by(|&x, &y| load[x].total_cmp(&load[y]).then(x.cmp(&y)))
            .unwrap_or(0);
        load[k] += claims[i].params.estimated_work.max(1.0);
        owner[i] = k;
    }
    claims
        .iter()
        .zip(owner)
        .filter(|(_, k)| *k + 1 == shard.index)
        .map(|(c, _)| *c)
        .collect()
}

/// The committed result of a claim when it is still valid for the same inputs: same claim bytes,
/// seed, scale and code version, and every figure file present with the bytes the run wrote. Results are deterministic, so
/// rerunning such a claim would write the same bytes.
pub fn reusable_result(paths: &Paths, loaded: &LoadedClaim, scale: f64) -> Option<ResultFile> {
    let committed = ResultFile::read(&paths.result_file(&loaded.claim.id)).ok()?;
    let p = &committed.provenance;
    let same = p.claim_sha256 == loaded.sha256
        && p.seed == loaded.claim.seed
        && p.scale == scale
        && p.code_version == families::code_version(&loaded.family)
        && committed.figures.iter().all(|f| {
            let on_disk = std::fs::read(paths.site().join(f)).ok();
            let recorded = p.figures_sha256.get(f);
            matches!((on_disk, recorded), (Some(bytes), Some(sha)) if claim_spec::load::source_hash_hex(&bytes) == *sha)
        });
    same.then_some(committed)
}

/// How one claim's fresh metrics compare with the committed ones.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftReport {
    /// The claim id.
    pub id: String,
    /// Metrics whose fresh and committed values differ by more than 4 combined standard errors,
    /// or changes of status or verdict.
    pub drifted: Vec<String>,
    /// Metrics without an interval whose values differ (information: a different bit of input
    /// changes a stochastic run entirely, and their checks still decide pass or fail).
    pub differing_exact: Vec<String>,
}

/// The 95% interval's implied standard error (half-width / 1.96).
fn implied_se(ci: [f64; 2]) -> f64 {
    (ci[1] - ci[0]) / (2.0 * sgd_sim::stats::Z95)
}

/// Compares a fresh result with the committed one within statistical error (the drift check for
/// runs on another kind of machine).
pub fn drift(committed: &ResultFile, fresh: &ResultFile) -> DriftReport {
    let mut drifted = Vec::new();
    let mut differing_exact = Vec::new();
    if committed.status != fresh.status {
        drifted.push(format!(
            "status {:?} -> {:?}",
            committed.status, fresh.status
        ));
    }
    if committed.verdict != fresh.verdict {
        drifted.push(format!(
            "verdict {:?} -> {:?}",
            committed.verdict, fresh.verdict
        ));
    }
    for (name, old) in &committed.metrics {
        let Some(new) = fresh.metrics.get(name) else {
            drifted.push(format!("{name}: no longer produced"));
            continue;
        };
        match (old.ci, new.ci) {
            (Some(a), Some(b)) => {
                let se = (implied_se(a) * implied_se(a) + implied_se(b) * implied_se(b)).sqrt();
                let z = (new.value - old.value).abs() / se;
                if (z.is_nan() || z > 4.0) && new.value != old.value {
                    drifted.push(format!(
                        "{name}: {} -> {} ({z:.1} combined SE)",
                        old.value, new.value
                    ));
                }
            }
            _ => {
                let scale = old.value.abs().max(new.value.abs()).max(f64::MIN_POSITIVE);
                if (new.value - old.value).abs() > 1e-9 * scale {
                    differing_exact.push(format!("{name}: {} -> {}", old.value, new.value));
                }
            }
        }
    }
    DriftReport {
        id: fresh.id.clone(),
        drifted,
        differing_exact,
    }
}

/// Result and figure files that no claim produces: left behind by a renamed or removed claim or
/// figure. Paths are relative to the root.
pub fn orphans(paths: &Paths, claims: &[LoadedClaim]) -> Vec<String> {
    let results: std::collections::BTreeSet<String> = claims
        .iter()
        .map(|c| format!("{}.json", c.claim.id))
        .collect();
    let figures: std::collections::BTreeSet<String> = claims
        .iter()
        .flat_map(|c| {
            c.claim.figures.iter().map(|f| {
                claim_spec::result::figure_path(&c.claim.id, &f.name)
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
        })
        .collect();
    let mut out = Vec::new();
    for (dir, expected, ext) in [
        (paths.results(), &results, ".json"),
        (paths.figures(), &figures, ".svg"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(ext) && !n.starts_with('.'))
            .filter(|n| !expected.contains(n))
            .collect();
        names.sort();
        for n in names {
            let p = dir.join(n);
            out.push(
                p.strip_prefix(&paths.root)
                    .unwrap_or(&p)
                    .display()
                    .to_string(),
            );
        }
    }
    out
}
