//! `verify-claims --seeds K`: every selected claim under its own seed and K derived seeds, writing
//! nothing. A claim whose checks fail under a derived seed is FRAGILE (exit 2); one whose verdict
//! fewer than 80% of the derived seeds reproduce is flagged VERDICT-FRAGILE, reported and not failed.

use crate::exit;
use crate::interrupt::{self, Interrupt};
use crate::report::Reporter;
use crate::verify::{self, SeedReport};
use crate::{errln, humanln};
use claim_spec::LoadedClaim;

/// The label of one claim's line.
pub fn label(r: &SeedReport) -> &'static str {
    if !r.own_seed_passes {
        "FAIL"
    } else if r.fragile() {
        "FRAGILE"
    } else if r.verdict_fragile() {
        "VERDICT-FRAGILE"
    } else {
        "PASS"
    }
}

fn json(r: &SeedReport) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "label": label(r), "own_seed_passes": r.own_seed_passes,
        "expected_verdict": r.expected_verdict, "derived_seeds": r.runs.len(),
        "passing": r.passing(), "agreeing": r.agreeing(), "runs": r.runs,
    })
}

/// Runs the seed-robustness mode.
pub fn run(
    pool: &rayon::ThreadPool,
    selected: &[&LoadedClaim],
    k: u64,
    scale: f64,
    rep: &mut Reporter<'_>,
    stop: &Interrupt,
) -> u8 {
    let reports = pool.install(|| verify::seed_robustness(selected, k, scale, &stop.cancel));
    let width = selected.iter().map(|c| c.claim.id.len()).max().unwrap_or(0);
    let mut failed = 0;
    let mut flagged = 0;
    for r in reports.iter().filter(|r| !r.cancelled) {
        let label = label(r);
        failed += usize::from(matches!(label, "FAIL" | "FRAGILE"));
        flagged += usize::from(r.verdict_fragile());
        let own = if r.own_seed_passes { "passes" } else { "fails" };
        humanln!(
            rep,
            "{label:<15} {:<width$}  own seed {own}; {}/{} derived seeds pass their checks, {}/{} give the verdict `{}`",
            r.id,
            r.passing(),
            r.runs.len(),
            r.agreeing(),
            r.runs.len(),
            r.expected_verdict.as_str()
        );
        for run in &r.runs {
            let verdict = run.verdict.map_or("-", |v| v.as_str());
            if !run.checks_pass || run.verdict != Some(r.expected_verdict) {
                humanln!(
                    rep,
                    "                seed {}: verdict {verdict}; {}",
                    run.seed,
                    if run.reasons.is_empty() {
                        "checks pass".to_owned()
                    } else {
                        run.reasons.join("; ")
                    }
                );
            }
        }
    }
    let done = reports.iter().filter(|r| !r.cancelled).count();
    humanln!(
        rep,
        "{done} claim(s) under {k} derived seed(s): {failed} failed, {flagged} VERDICT-FRAGILE (reported, not failed)"
    );
    rep.json(&serde_json::json!({
        "claims": reports.iter().filter(|r| !r.cancelled).map(json).collect::<Vec<_>>(),
        "summary": { "claims": done, "derived_seeds": k, "failed": failed, "verdict_fragile": flagged },
    }));
    if let Some(sig) = stop.signal() {
        errln!(
            rep,
            "interrupted by {}: 0 result(s) written, {} not run",
            interrupt::signal_name(sig),
            reports.len() - done
        );
        return interrupt::exit_code(sig);
    }
    if failed == 0 {
        exit::OK
    } else {
        exit::CLAIM_FAILED
    }
}
