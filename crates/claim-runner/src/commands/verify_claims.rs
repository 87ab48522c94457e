//! `verify-claims`: runs every selected claim and verifies it against its committed result.
//!
//! Each claim ends as **reproduced** (same provenance, same values), **updated** (claim file,
//! seed, scale or code changed, or no committed result: the fresh result is written), **not
//! reproduced** (same provenance, different values: exit 2, the committed files are kept unless
//! `--force`), or, with `--changed`, **reused** (its committed result is still valid and it was
//! not run). Result and figure files that no claim produces fail the run too. On SIGINT or
//! SIGTERM no further claim starts, running ones stop, and temporary files are removed.

use crate::cli::VerifyArgs;
use crate::compare::{self, Comparison, Difference};
use crate::exit;
use crate::families;
use crate::interrupt::{self, Interrupt};
use crate::progress::Progress;
use crate::report::Reporter;
use crate::verify::{self, ClaimReport, Paths, RunOutput, Selection};
use crate::{errln, humanln};
use claim_spec::{LoadedClaim, Status};
use rayon::prelude::*;
use std::sync::Mutex;
use std::time::Instant;

/// How one claim ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Same provenance and values as the committed result.
    Reproduced,
    /// New provenance (or no committed result): written.
    Updated,
    /// Same provenance, other values: kept (a failure).
    NotReproduced,
    /// Did not reproduce, but `--force` wrote the fresh values.
    Rewritten,
    /// Not run: the committed result is still valid (`--changed`).
    Reused,
    /// Not run: interrupted first.
    NotRun,
}

/// One claim's line of the report.
#[derive(Clone, Debug)]
pub struct ClaimLine {
    /// Status, verdict, failed checks, problems and run time.
    pub report: ClaimReport,
    /// How it ended.
    pub outcome: Outcome,
    /// What changed in the provenance (for `updated`).
    pub changes: Vec<String>,
    /// The values that differ (for `not reproduced` and `rewritten`).
    pub differences: Vec<Difference>,
    /// A result file was written.
    pub written: bool,
}

impl ClaimLine {
    fn failed(&self) -> bool {
        match self.outcome {
            Outcome::NotRun => false,
            Outcome::NotReproduced => true,
            _ => self.report.status != Status::Pass,
        }
    }
}

/// Loads every claim and selects the ones to run; on failure, the exit code after printing.
pub(crate) fn load_and_select(
    paths: &Paths,
    args: &VerifyArgs,
    rep: &mut Reporter<'_>,
) -> Result<(Vec<LoadedClaim>, Vec<LoadedClaim>), u8> {
    let registry = families::registry();
    let claims = verify::load(paths, &registry).map_err(|errors| {
        for e in &errors {
            errln!(rep, "error: {e}");
        }
        errln!(
            rep,
            "{} problem(s) in claim files; nothing was run",
            errors.len()
        );
        exit::INVALID_CLAIMS
    })?;
    let selection = Selection {
        ids: args.ids.clone(),
        family: args.family.clone(),
    };
    let selected = verify::select(&claims, &selection).map_err(|m| {
        errln!(rep, "error: {m}");
        exit::USAGE
    })?;
    let selected = match args.shard {
        Some(s) => verify::shard(&selected, s),
        None => selected,
    };
    let selected = selected.into_iter().cloned().collect();
    Ok((claims, selected))
}

/// The worker pool of a run and its size.
pub(crate) fn thread_pool(jobs: Option<u16>) -> Result<(rayon::ThreadPool, usize), String> {
    let threads = jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map(|p| (p, threads))
        .map_err(|e| format!("cannot start {threads} worker threads: {e}"))
}

/// Runs `verify-claims` (and its `--seeds` and `--drift` modes).
pub fn run(paths: &Paths, args: &VerifyArgs, rep: &mut Reporter<'_>, stop: &Interrupt) -> u8 {
    let (all, selected) = match load_and_select(paths, args, rep) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (pool, threads) = match thread_pool(args.jobs) {
        Ok(p) => p,
        Err(m) => {
            errln!(rep, "error: {m}");
            return exit::INTERNAL;
        }
    };
    let selected: Vec<&LoadedClaim> = selected.iter().collect();
    if let Some(k) = args.seeds {
        return super::seeds::run(&pool, &selected, k, args.scale, rep, stop);
    }
    if args.drift {
        return super::drift::run(paths, &pool, &selected, args.scale, rep, stop);
    }
    if let Err(m) = verify::prepare_output_dirs(paths) {
        errln!(rep, "error: {m}");
        return exit::INTERNAL;
    }
    let start = Instant::now();
    let lines = run_all(paths, args, &pool, &selected, rep, stop);
    verify::remove_partials(paths);
    let lines = match lines {
        Ok(l) => l,
        Err(m) => {
            errln!(rep, "error: {m}");
            return exit::INTERNAL;
        }
    };
    let orphans = verify::orphans(paths, &all);
    summarize(
        &lines,
        &orphans,
        start.elapsed().as_secs_f64(),
        threads,
        rep,
        stop,
    )
}

fn run_all(
    paths: &Paths,
    args: &VerifyArgs,
    pool: &rayon::ThreadPool,
    selected: &[&LoadedClaim],
    rep: &mut Reporter<'_>,
    stop: &Interrupt,
) -> Result<Vec<ClaimLine>, String> {
    let width = selected.iter().map(|c| c.claim.id.len()).max().unwrap_or(0);
    let progress = Progress::new(selected.len());
    let rep = Mutex::new(rep);
    let print = |line: &ClaimLine| {
        let text = human_line(line, width);
        progress.suspend(|| {
            if let Ok(mut r) = rep.lock() {
                r.human(format_args!("{text}"));
            }
        });
    };
    // Claims and their trajectories share one pool: a slow claim's trajectories fill idle cores.
    let lines: Vec<Result<ClaimLine, String>> = pool.install(|| {
        selected
            .par_iter()
            .with_max_len(1)
            .map(|c| {
                let line = one_claim(paths, args, c, &progress, stop)?;
                if line.outcome != Outcome::NotRun {
                    print(&line);
                }
                Ok(line)
            })
            .collect()
    });
    progress.clear();
    lines.into_iter().collect()
}

fn not_run(c: &LoadedClaim) -> ClaimLine {
    ClaimLine {
        report: ClaimReport {
            id: c.claim.id.clone(),
            status: Status::Error,
            verdict: None,
            failed_checks: Vec::new(),
            problems: Vec::new(),
            seconds: 0.0,
        },
        outcome: Outcome::NotRun,
        changes: Vec::new(),
        differences: Vec::new(),
        written: false,
    }
}

fn one_claim(
    paths: &Paths,
    args: &VerifyArgs,
    c: &LoadedClaim,
    progress: &Progress,
    stop: &Interrupt,
) -> Result<ClaimLine, String> {
    if stop.is_raised() {
        return Ok(not_run(c));
    }
    if args.changed
        && let Some(committed) = verify::reusable_result(paths, c, args.scale)
    {
        progress.finished();
        let output = RunOutput {
            result: committed,
            svgs: Vec::new(),
            cancelled: false,
        };
        return Ok(ClaimLine {
            report: verify::report(&output, 0.0),
            outcome: Outcome::Reused,
            changes: Vec::new(),
            differences: Vec::new(),
            written: false,
        });
    }
    let spinner = progress.start(&c.claim.id);
    let t = Instant::now();
    let output = verify::run_claim_cancellable(c, c.claim.seed, args.scale, &stop.cancel);
    progress.done(spinner);
    if output.cancelled {
        return Ok(not_run(c));
    }
    let committed = std::fs::read(paths.result_file(&c.claim.id)).ok();
    let comparison = match &committed {
        None => Comparison::Updated(vec!["no committed result".into()]),
        Some(bytes) => compare::compare(paths, bytes, &output),
    };
    let (outcome, changes, differences) = match comparison {
        Comparison::Reproduced => (Outcome::Reproduced, Vec::new(), Vec::new()),
        Comparison::Updated(ch) => (Outcome::Updated, ch, Vec::new()),
        Comparison::NotReproduced(d) if only_missing_figures(&d) => (
            Outcome::Updated,
            d.iter()
                .map(|x| format!("{} was missing", x.path))
                .collect(),
            Vec::new(),
        ),
        Comparison::NotReproduced(d) if args.force => (Outcome::Rewritten, Vec::new(), d),
        Comparison::NotReproduced(d) => (Outcome::NotReproduced, Vec::new(), d),
    };
    let written = matches!(outcome, Outcome::Updated | Outcome::Rewritten)
        || (args.force && outcome == Outcome::Reproduced);
    if written {
        verify::write_outputs(paths, &output)?;
    }
    Ok(ClaimLine {
        report: verify::report(&output, t.elapsed().as_secs_f64()),
        outcome,
        changes,
        differences,
        written,
    })
}

/// A committed figure file that is simply absent (deleted, or never committed) is restored, not a
/// failed reproduction.
fn only_missing_figures(d: &[Difference]) -> bool {
    d.iter()
        .all(|x| x.path.starts_with("site/") && x.committed == "(missing)")
}

/// At most this many differing values are listed per claim (the JSON report lists all).
const MAX_LISTED: usize = 20;

/// One line per claim, plus an indented line per failed check, problem or differing value.
pub fn human_line(l: &ClaimLine, width: usize) -> String {
    let r = &l.report;
    let verdict = r.verdict.map_or("-", |v| v.as_str());
    let status = if l.outcome == Outcome::NotReproduced {
        "FAIL"
    } else {
        r.status.label()
    };
    let how = match l.outcome {
        Outcome::Reproduced => "reproduced".to_owned(),
        Outcome::Updated => format!("updated: {}", l.changes.join("; ")),
        Outcome::NotReproduced => format!(
            "NOT REPRODUCED: {} value(s) differ from the committed result",
            l.differences.len()
        ),
        Outcome::Rewritten => format!(
            "rewritten by --force: {} value(s) did not reproduce",
            l.differences.len()
        ),
        Outcome::Reused => "reused (not run: unchanged since its committed result)".to_owned(),
        Outcome::NotRun => "not run".to_owned(),
    };
    let mut s = format!(
        "{status:<5} {:<width$}  {verdict:<12} {:>6.1} s  {how}\n",
        r.id, r.seconds
    );
    for c in &r.failed_checks {
        let value = c
            .value
            .map_or_else(|| "missing".to_owned(), |v| format!("{v}"));
        s.push_str(&format!(
            "      check {}: value {value} violates {}\n",
            c.metric, c.bound
        ));
    }
    for p in &r.problems {
        s.push_str(&format!("      {p}\n"));
    }
    for d in l.differences.iter().take(MAX_LISTED) {
        s.push_str(&format!("      {d}\n"));
    }
    if l.differences.len() > MAX_LISTED {
        s.push_str(&format!(
            "      ... and {} more (`--format json` lists all)\n",
            l.differences.len() - MAX_LISTED
        ));
    }
    if l.outcome == Outcome::NotReproduced {
        s.push_str(
            "      the committed files are kept. On another kind of machine, `cargo xtask verify-claims --drift` \
             compares within statistical error; `--force` writes the fresh results.\n",
        );
    }
    s
}

fn json_line(l: &ClaimLine) -> serde_json::Value {
    let r = &l.report;
    serde_json::json!({
        "id": r.id, "status": r.status, "verdict": r.verdict, "outcome": l.outcome,
        "changes": l.changes, "differences": l.differences,
        "failed_checks": r.failed_checks, "problems": r.problems, "written": l.written,
    })
}

fn summarize(
    lines: &[ClaimLine],
    orphans: &[String],
    seconds: f64,
    threads: usize,
    rep: &mut Reporter<'_>,
    stop: &Interrupt,
) -> u8 {
    let count = |o: Outcome| lines.iter().filter(|l| l.outcome == o).count();
    let not_run = count(Outcome::NotRun);
    let reused = count(Outcome::Reused);
    let ran = lines.len() - not_run - reused;
    let reproduced = count(Outcome::Reproduced);
    let updated = count(Outcome::Updated) + count(Outcome::Rewritten);
    let failed = lines.iter().filter(|l| l.failed()).count();
    let passed = lines
        .iter()
        .filter(|l| !matches!(l.outcome, Outcome::NotRun | Outcome::Reused) && !l.failed())
        .count();
    let written = lines.iter().filter(|l| l.written).count();
    for o in orphans {
        errln!(
            rep,
            "error: {o}: no claim produces this file (a renamed or removed claim or figure); remove it"
        );
    }
    humanln!(
        rep,
        "{} claim(s): {ran} run, {reproduced} reproduced, {updated} updated, {reused} reused, {passed} passed, {failed} failed in {seconds:.1} s on {threads} thread(s)",
        lines.len()
    );
    let signal = stop.signal();
    rep.json(&serde_json::json!({
        "claims": lines.iter().filter(|l| l.outcome != Outcome::NotRun).map(json_line).collect::<Vec<_>>(),
        "orphans": orphans,
        "summary": {
            "claims": lines.len(), "run": ran, "reproduced": reproduced, "updated": updated,
            "reused": reused, "passed": passed, "failed": failed, "not_run": not_run,
            "written": written, "seconds": seconds, "threads": threads,
            "interrupted": signal.map(interrupt::signal_name),
        }
    }));
    if let Some(sig) = signal {
        errln!(
            rep,
            "interrupted by {}: {written} result(s) written, {not_run} not run",
            interrupt::signal_name(sig)
        );
        return interrupt::exit_code(sig);
    }
    if failed > 0 || !orphans.is_empty() {
        exit::CLAIM_FAILED
    } else {
        exit::OK
    }
}
