//! Bound checks and the computed verdict.
//!
//! The verdict is `supported` when every wording check passes, otherwise the strongest `if_fails`
//! among the failed ones (`contradicted` over `refined`). A claim passes when its run succeeded,
//! every check passes, every named metric and figure exists, and the computed verdict equals the
//! expected one in the file.

use crate::claim::{CheckSpec, ClaimFile, Verdict};
use crate::outcome::Outcome;
use crate::registry::closest;
use serde::{Deserialize, Serialize};

/// One evaluated check, as written to the result file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// The metric.
    pub metric: String,
    /// The bound as written, for example `at_most 0.07`.
    pub bound: String,
    /// The measured value (absent when the metric is missing).
    pub value: Option<f64>,
    /// Whether the bound holds.
    pub pass: bool,
    /// Wording checks: the verdict when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_fails: Option<Verdict>,
}

/// The evaluation of one outcome against its claim file.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The checks, in file order.
    pub checks: Vec<CheckRecord>,
    /// The wording checks, in file order.
    pub wording: Vec<CheckRecord>,
    /// The computed verdict.
    pub verdict: Verdict,
    /// Problems that make the claim fail besides failed checks: missing metrics or figures,
    /// a verdict that differs from the expected one.
    pub problems: Vec<String>,
}

impl Evaluation {
    /// Whether the claim passes.
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.checks.iter().all(|c| c.pass)
    }
}

fn record(spec: &CheckSpec, outcome: &Outcome, problems: &mut Vec<String>) -> CheckRecord {
    let bound = spec.bound();
    let value = outcome.metrics.get(&spec.metric).map(|m| m.value);
    if value.is_none() {
        let hint = closest(&spec.metric, outcome.metrics.keys().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        problems.push(format!(
            "metric `{}` is not produced by the experiment{hint}",
            spec.metric
        ));
    }
    let pass = match (&bound, value) {
        (Ok(b), Some(v)) => b.holds(v),
        _ => false,
    };
    CheckRecord {
        metric: spec.metric.clone(),
        bound: bound.map(|b| b.describe()).unwrap_or_else(|e| e),
        value,
        pass,
        if_fails: spec.if_fails,
    }
}

/// Evaluates the checks and wording checks of `claim` on `outcome`.
pub fn evaluate(claim: &ClaimFile, outcome: &Outcome) -> Evaluation {
    let mut problems = Vec::new();
    let checks: Vec<CheckRecord> = claim
        .checks
        .iter()
        .map(|c| record(c, outcome, &mut problems))
        .collect();
    let wording: Vec<CheckRecord> = claim
        .wording
        .iter()
        .map(|c| record(c, outcome, &mut problems))
        .collect();
    let verdict = wording
        .iter()
        .filter(|w| !w.pass)
        .map(|w| w.if_fails.unwrap_or(Verdict::Refined))
        .max()
        .unwrap_or(Verdict::Supported);
    for fig in &claim.figures {
        if !outcome.figures.contains_key(&fig.name) {
            let hint = closest(&fig.name, outcome.figures.keys().map(String::as_str))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            problems.push(format!(
                "figure `{}` is not produced by the experiment{hint}",
                fig.name
            ));
        }
    }
    if verdict != claim.verdict {
        problems.push(format!(
            "computed verdict `{}` differs from the expected `{}` in the claim file",
            verdict.as_str(),
            claim.verdict.as_str()
        ));
    }
    Evaluation {
        checks,
        wording,
        verdict,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_yaml;

    fn claim(wording_if_fails: &str, expected: &str) -> ClaimFile {
        parse_yaml(&format!(
            "id: a\ntitle: t\nsection: '1.1'\nstatement: s\nverdict: {expected}\nnote: n\nexperiment: f/k\nseed: 1\n\
             checks:\n  - {{ metric: x, at_most: 1.0 }}\nwording:\n  - {{ metric: y, at_least: 2.0, if_fails: {wording_if_fails} }}\n  - {{ metric: x, at_least: 0.0, if_fails: refined }}\n"
        ))
        .unwrap()
    }

    fn outcome(x: f64, y: f64) -> Outcome {
        let mut o = Outcome::new();
        o.exact("x", x);
        o.exact("y", y);
        o
    }

    #[test]
    fn verdict_is_computed_from_wording() {
        let e = evaluate(&claim("contradicted", "supported"), &outcome(0.5, 3.0));
        assert_eq!(e.verdict, Verdict::Supported);
        assert!(e.passed());
        let e = evaluate(&claim("contradicted", "contradicted"), &outcome(0.5, 1.0));
        assert_eq!(e.verdict, Verdict::Contradicted);
        assert!(e.passed());
        // Both wording checks fail: contradicted outranks refined.
        let e = evaluate(&claim("contradicted", "contradicted"), &outcome(-0.5, 1.0));
        assert_eq!(e.verdict, Verdict::Contradicted);
    }

    #[test]
    fn failures_are_reported() {
        let e = evaluate(&claim("refined", "supported"), &outcome(2.0, 3.0));
        assert!(!e.passed() && !e.checks[0].pass);
        let e = evaluate(&claim("refined", "supported"), &outcome(0.5, 1.0));
        assert_eq!(e.verdict, Verdict::Refined);
        assert!(!e.passed() && e.problems[0].contains("differs from the expected"));
        let mut o = Outcome::new();
        o.exact("xx", 0.0);
        let e = evaluate(&claim("refined", "supported"), &o);
        assert!(!e.passed());
        assert!(
            e.problems[0].contains("`x` is not produced"),
            "{:?}",
            e.problems
        );
    }
}
