//! `verify-claims --drift`: reruns the selected claims, writes nothing, and fails where fresh
//! metrics differ from the committed ones by more than their statistical error allows (the
//! regression check for runs on another kind of machine).

use crate::exit;
use crate::interrupt::{self, Interrupt};
use crate::report::Reporter;
use crate::verify::{self, Paths};
use crate::{errln, humanln};
use claim_spec::LoadedClaim;
use rayon::prelude::*;

/// Runs the drift mode.
pub fn run(
    paths: &Paths,
    pool: &rayon::ThreadPool,
    selected: &[&LoadedClaim],
    scale: f64,
    rep: &mut Reporter<'_>,
    stop: &Interrupt,
) -> u8 {
    let outputs: Vec<verify::RunOutput> = pool.install(|| {
        selected
            .par_iter()
            .with_max_len(1)
            .map(|c| verify::run_claim_cancellable(c, c.claim.seed, scale, &stop.cancel))
            .collect()
    });
    let mut ok = true;
    let mut json = Vec::new();
    for o in outputs.iter().filter(|o| !o.cancelled) {
        let Ok(committed) = claim_spec::ResultFile::read(&paths.result_file(&o.result.id)) else {
            ok = false;
            humanln!(
                rep,
                "DRIFT   {}  no committed result to compare with",
                o.result.id
            );
            json.push(serde_json::json!({"id": o.result.id, "label": "DRIFT", "drifted": ["no committed result"], "differing_exact": []}));
            continue;
        };
        let d = verify::drift(&committed, &o.result);
        let label = if d.drifted.is_empty() {
            "SAME"
        } else {
            "DRIFT"
        };
        ok &= d.drifted.is_empty();
        humanln!(
            rep,
            "{label:<7} {}  ({} exact value(s) differ)",
            d.id,
            d.differing_exact.len()
        );
        for m in &d.drifted {
            humanln!(rep, "        {m}");
        }
        json.push(serde_json::json!({"id": d.id, "label": label, "drifted": d.drifted, "differing_exact": d.differing_exact}));
    }
    rep.json(&serde_json::json!({ "claims": json }));
    if let Some(sig) = stop.signal() {
        let not_run = outputs.iter().filter(|o| o.cancelled).count();
        errln!(
            rep,
            "interrupted by {}: 0 result(s) written, {not_run} not run",
            interrupt::signal_name(sig)
        );
        return interrupt::exit_code(sig);
    }
    if ok { exit::OK } else { exit::CLAIM_FAILED }
}
