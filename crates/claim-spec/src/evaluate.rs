//! Bound checks and the computed verdict.
//!
//! A check passes when its metric's value satisfies its bound. A claim passes when its run
//! succeeded, every check passes, every named metric and figure exists, and the computed verdict
//! equals the expected one in the claim file.
//!
//! The verdict follows the claim's primary wording check, which must be a measured value with a
//! 95% interval:
//! - the interval lies wholly on the claimed side of the bound: `supported`;
//! - wholly on the other side: the check's `if_fails` (`refined` or `contradicted`);
//! - across the bound: `inconclusive`, since the measurement cannot decide.
//!
//! Other wording checks can only turn `supported` into `refined`, when they fail (their interval,
//! or their value where they have none, lies outside their bound).
//!
//! A claim file without a primary wording check keeps the earlier rule: `supported` when every
//! wording check's value passes, otherwise the strongest `if_fails` among the failed ones.

use crate::claim::{Bound, CheckSpec, ClaimFile, Side, Verdict};
use crate::names::closest;
use crate::outcome::{Basis, Metric, Outcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One evaluated check or wording check, as written to the result file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckRecord {
    /// The metric.
    pub metric: String,
    /// The metric in plain words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The bound.
    pub bound: Bound,
    /// The metric's value (absent when the metric is missing).
    pub value: Option<f64>,
    /// The metric's 95% interval, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<[f64; 2]>,
    /// What the value rests on (absent when the metric is missing).
    pub basis: Option<Basis>,
    /// Whether the check passes (for wording checks: whether `outcome` is `pass`).
    pub pass: bool,
    /// Wording checks: where the interval (or the value) lies relative to the bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Side>,
    /// Wording checks: the verdict when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_fails: Option<Verdict>,
    /// Wording checks: this one decides the verdict.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary: bool,
    /// Primary check: the value the statement implies, stated before any run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<f64>,
    /// Primary check: the design's expected standard error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design_se: Option<f64>,
    /// Primary check: the probability that the 95% interval lies wholly on the claimed side when
    /// the metric's true value is `effect` and its standard error `design_se`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<f64>,
    /// The computed metric shown beside this one as its theory value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theory: Option<String>,
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
    /// Problems that make the claim fail besides failed checks: missing metrics or figures, a
    /// primary check without an interval, a verdict that differs from the expected one.
    pub problems: Vec<String>,
}

impl Evaluation {
    /// Whether the claim passes.
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.checks.iter().all(|c| c.pass)
    }
}

/// The power of a 95% interval to lie wholly inside `bound`'s accepted region, when the estimate
/// is normal around `effect` with standard error `se`.
pub fn power(bound: &Bound, effect: f64, se: f64) -> f64 {
    let [lo, hi] = bound.region();
    sgd_sim::stats::power_interval_inside(lo, hi, effect, se)
}

fn missing_metric(spec: &CheckSpec, outcome: &Outcome) -> String {
    let hint = closest(&spec.metric, outcome.metrics.keys().map(String::as_str))
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    format!(
        "metric `{}` is not produced by the experiment{hint}",
        spec.metric
    )
}

fn record(spec: &CheckSpec, bound: Bound, metric: Option<&Metric>) -> CheckRecord {
    let value = metric.map(|m| m.value);
    CheckRecord {
        metric: spec.metric.clone(),
        label: spec.label.clone(),
        bound,
        value,
        ci: metric.and_then(|m| m.ci),
        basis: metric.map(|m| m.basis),
        pass: value.is_some_and(|v| bound.holds(v)),
        outcome: None,
        if_fails: spec.if_fails,
        primary: spec.primary,
        effect: spec.effect,
        design_se: spec.design_se,
        power: match (spec.effect, spec.design_se) {
            (Some(e), Some(se)) => Some(power(&bound, e, se)),
            _ => None,
        },
        theory: spec.theory.clone(),
    }
}

/// Where a wording check's interval lies; a value without an interval is compared as a point.
fn wording_side(r: &CheckRecord) -> Side {
    match (r.value, r.ci) {
        (None, _) => Side::Inconclusive,
        (Some(_), Some(ci)) => r.bound.side(ci),
        (Some(v), None) if r.bound.holds(v) => Side::Pass,
        (Some(_), None) => Side::Fail,
    }
}

fn evaluate_list(
    specs: &[CheckSpec],
    outcome: &Outcome,
    problems: &mut Vec<String>,
) -> Vec<CheckRecord> {
    specs
        .iter()
        .filter_map(|spec| {
            let bound = match spec.bound() {
                Ok(b) => b,
                Err(m) => {
                    problems.push(m);
                    return None;
                }
            };
            let metric = outcome.metrics.get(&spec.metric);
            if metric.is_none() {
                problems.push(missing_metric(spec, outcome));
            }
            Some(record(spec, bound, metric))
        })
        .collect()
}

/// The verdict of a claim file without a primary wording check (test fixtures; every committed
/// claim has one, which a tidy test keeps): the worst `if_fails` of its failed wording checks.
fn verdict_without_primary(wording: &[CheckRecord]) -> Verdict {
    wording
        .iter()
        .filter(|w| !w.pass)
        .map(|w| w.if_fails.unwrap_or(Verdict::Refined))
        .max()
        .unwrap_or(Verdict::Supported)
}

/// The verdict of the primary rule (see the module documentation); marks each wording outcome.
fn primary_verdict(wording: &mut [CheckRecord], problems: &mut Vec<String>) -> Verdict {
    for w in wording.iter_mut() {
        let side = wording_side(w);
        w.outcome = Some(side);
        w.pass = side == Side::Pass;
    }
    let Some(primary) = wording.iter().find(|w| w.primary) else {
        return Verdict::Inconclusive;
    };
    if primary.ci.is_none() || primary.basis != Some(Basis::Measured) {
        problems.push(format!(
            "primary wording check `{}` needs a measured value with a 95% interval",
            primary.metric
        ));
    }
    let base = match primary.outcome {
        Some(Side::Pass) => Verdict::Supported,
        Some(Side::Fail) => primary.if_fails.unwrap_or(Verdict::Refined),
        _ => Verdict::Inconclusive,
    };
    let secondary_failed = wording
        .iter()
        .any(|w| !w.primary && w.outcome == Some(Side::Fail));
    if base == Verdict::Supported && secondary_failed {
        Verdict::Refined
    } else {
        base
    }
}

fn missing_figures(claim: &ClaimFile, outcome: &Outcome, problems: &mut Vec<String>) {
    for fig in &claim.figures {
        if !outcome.has_figure(&fig.name) {
            let names = outcome.figures.keys();
            let hint = closest(&fig.name, names.map(String::as_str))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            problems.push(format!(
                "figure `{}` is not produced by the experiment{hint}",
                fig.name
            ));
        }
    }
}

fn missing_placeholder_metrics(claim: &ClaimFile, outcome: &Outcome, problems: &mut Vec<String>) {
    for (key, text) in crate::load::prose(claim) {
        for p in crate::placeholders::placeholders(text) {
            if let crate::placeholders::Source::Metric(name) = &p.source
                && !outcome.metrics.contains_key(name)
            {
                problems.push(format!(
                    "{key}: placeholder {{metrics.{name}}} names a metric the experiment does not produce"
                ));
            }
        }
    }
    let named = claim.checks.iter().chain(&claim.wording);
    for t in named.filter_map(|c| c.theory.as_deref()) {
        if !outcome.metrics.contains_key(t) {
            problems.push(format!(
                "theory metric `{t}` is not produced by the experiment"
            ));
        }
    }
}

/// Evaluates the checks and wording checks of `claim` on `outcome`.
pub fn evaluate(claim: &ClaimFile, outcome: &Outcome) -> Evaluation {
    let mut problems = Vec::new();
    let checks = evaluate_list(&claim.checks, outcome, &mut problems);
    let mut wording = evaluate_list(&claim.wording, outcome, &mut problems);
    let verdict = if claim.wording.iter().any(|w| w.primary) {
        primary_verdict(&mut wording, &mut problems)
    } else {
        verdict_without_primary(&wording)
    };
    missing_figures(claim, outcome, &mut problems);
    missing_placeholder_metrics(claim, outcome, &mut problems);
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
    use crate::outcome::Metrics;
    use crate::yaml::parse_yaml;

    fn claim(wording_if_fails: &str, expected: &str) -> ClaimFile {
        parse_yaml(&format!(
            "id: a\ntitle: t\nsection: '1.1'\nstatement: s\nverdict: {expected}\nnote: n\nexperiment: f/k\nseed: 1\n\
             checks:\n  - {{ metric: x, at_most: 1.0 }}\nwording:\n  - {{ metric: y, at_least: 2.0, if_fails: {wording_if_fails} }}\n  - {{ metric: x, at_least: 0.0, if_fails: refined }}\n"
        ))
        .unwrap()
    }

    fn primary_claim(expected: &str) -> ClaimFile {
        parse_yaml(&format!(
            "id: a\ntitle: t\nsection: '1.1'\nstatement: s\nverdict: {expected}\nnote: n\nexperiment: f/k\nseed: 1\n\
             checks:\n  - {{ metric: x, at_most: 1.0 }}\nwording:\n  - {{ metric: y, at_least: 2.0, if_fails: contradicted, primary: true, effect: 2.5, design_se: 0.1 }}\n  - {{ metric: x, at_least: 0.0, if_fails: refined }}\n"
        ))
        .unwrap()
    }

    fn outcome(x: f64, y: f64) -> Outcome {
        let mut m = Metrics::new();
        m.computed("x", x);
        m.computed("y", y);
        Outcome {
            metrics: m.values,
            ..Outcome::default()
        }
    }

    fn measured(x: f64, y: f64, y_ci: [f64; 2]) -> Outcome {
        let mut m = Metrics::new();
        m.computed("x", x);
        m.estimate_with_interval("y", y, y_ci);
        Outcome {
            metrics: m.values,
            ..Outcome::default()
        }
    }

    #[test]
    fn a_claim_without_a_primary_check_takes_its_worst_failed_wording() {
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
    fn the_primary_interval_decides_all_three_ways() {
        let cases = [
            ([2.1, 2.9], "supported", Verdict::Supported),
            ([1.0, 1.9], "contradicted", Verdict::Contradicted),
            ([1.9, 2.2], "inconclusive", Verdict::Inconclusive),
        ];
        for (ci, expected, verdict) in cases {
            let mid = 0.5 * (ci[0] + ci[1]);
            let e = evaluate(&primary_claim(expected), &measured(0.5, mid, ci));
            assert_eq!(e.verdict, verdict, "{ci:?}");
            assert!(e.passed(), "{:?}", e.problems);
            let p = &e.wording[0];
            assert!(p.primary && p.effect == Some(2.5) && p.basis == Some(Basis::Measured));
            // (2.5 - 2) / 0.1 = 5 SE from the bound: the interval clears it almost surely.
            assert!(p.power.unwrap() > 0.99);
        }
    }

    #[test]
    fn a_failed_secondary_check_refines_a_supported_verdict() {
        let e = evaluate(&primary_claim("refined"), &measured(-0.5, 2.5, [2.2, 2.8]));
        assert_eq!(e.verdict, Verdict::Refined);
        assert_eq!(e.wording[1].outcome, Some(Side::Fail));
        // ...but it never overrides the primary check's own failure.
        let e = evaluate(
            &primary_claim("contradicted"),
            &measured(-0.5, 1.5, [1.2, 1.8]),
        );
        assert_eq!(e.verdict, Verdict::Contradicted);
    }

    #[test]
    fn a_primary_check_without_interval_is_a_problem() {
        let e = evaluate(&primary_claim("supported"), &outcome(0.5, 3.0));
        assert!(!e.passed());
        assert!(e.problems[0].contains("needs a measured value with a 95% interval"));
    }

    #[test]
    fn failures_are_reported() {
        let e = evaluate(&claim("refined", "supported"), &outcome(2.0, 3.0));
        assert!(!e.passed() && !e.checks[0].pass);
        let e = evaluate(&claim("refined", "supported"), &outcome(0.5, 1.0));
        assert_eq!(e.verdict, Verdict::Refined);
        assert!(!e.passed() && e.problems[0].contains("differs from the expected"));
        let mut m = Metrics::new();
        m.computed("xx", 0.0);
        let o = Outcome {
            metrics: m.values,
            ..Outcome::default()
        };
        let e = evaluate(&claim("refined", "supported"), &o);
        assert!(!e.passed());
        assert!(
            e.problems[0].contains("`x` is not produced"),
            "{:?}",
            e.problems
        );
    }
}
