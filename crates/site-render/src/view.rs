//! What an evidence box shows, computed once from a result file so that templates only lay it
//! out: the verdict badge, the primary wording check as text, every check with its plain-words
//! label and bound, and the claim's prose with its placeholders filled in from the result.
//!
//! Placeholders (`{params.KEY}`, `{metrics.NAME}`, see `claim_spec::placeholders`) are replaced by
//! the values of this result, formatted by [`crate::numbers`]; a number never reaches the post
//! any other way.

use crate::numbers;
use claim_spec::claim::{Approx, Bound, Verdict};
use claim_spec::evaluate::CheckRecord;
use claim_spec::outcome::Basis;
use claim_spec::placeholders::{Format, Source, lookup, placeholders};
use claim_spec::result::{ResultFile, Status};
use serde::Serialize;

/// One check as the post shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckView {
    /// The metric's id (shown only inside collapsed blocks, next to its label).
    pub metric: String,
    /// The metric in plain words (the id's words when the claim file gives no label).
    pub label: String,
    /// The value, with its interval, or `computed: ...`.
    pub value: String,
    /// The bound in reader's notation.
    pub bound: String,
    /// `pass`, `fail` or `inconclusive`.
    pub outcome: &'static str,
    /// The theory value shown beside it, when the claim file names one.
    pub theory: Option<String>,
    /// Primary check: the effect the statement implies.
    pub effect: Option<String>,
    /// Primary check: the design's power, as a percentage.
    pub power: Option<String>,
    /// `measured` or `computed`.
    pub basis: &'static str,
}

/// Everything an evidence box needs beyond the raw result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClaimView {
    /// The badge's words: a verdict, "verified identity", or "no verdict".
    pub badge: String,
    /// The badge's CSS class suffix: `supported`, `refined`, `contradicted`, `inconclusive`,
    /// `identity` or `none`.
    pub badge_class: String,
    /// The primary wording check, when the claim has one.
    pub primary: Option<CheckView>,
    /// The checks, in file order.
    pub checks: Vec<CheckView>,
    /// The wording checks other than the primary one.
    pub wording: Vec<CheckView>,
    /// The note, placeholders filled in.
    pub note: Option<String>,
    /// The longer explanation, placeholders filled in.
    pub details: Option<String>,
    /// The captions, placeholders filled in.
    pub captions: Vec<String>,
    /// The alt texts (the caption's first words where the claim file gives none).
    pub alts: Vec<String>,
    /// The family: the experiment kind's first part.
    pub family: String,
    /// How many checks passed, and how many there are.
    pub checks_passed: usize,
}

/// A bound in reader's notation: `≤ 0.07`, `≥ 1`, `between 0.92 and 1.02`, `within 3% of 1`.
pub fn bound_text(b: &Bound) -> String {
    let n = numbers::written;
    match *b {
        Bound::AtMost(m) => format!("≤ {}", n(m)),
        Bound::AtLeast(m) => format!("≥ {}", n(m)),
        Bound::Between([lo, hi]) => format!("between {} and {}", n(lo), n(hi)),
        Bound::Approx(Approx {
            value,
            rel: Some(r),
            ..
        }) => format!("within {} of {}", numbers::percent(r, None), n(value)),
        Bound::Approx(a) => format!("within {} of {}", n(a.abs.unwrap_or(0.0)), n(a.value)),
    }
}

fn words_of(id: &str) -> String {
    id.replace('_', " ")
}

fn check_view(r: &CheckRecord, result: &ResultFile) -> CheckView {
    let computed = r.basis == Some(Basis::Computed);
    let value = r.value.map_or_else(
        || "missing".to_owned(),
        |v| numbers::metric(v, r.ci, computed),
    );
    let outcome = match r.outcome {
        Some(claim_spec::claim::Side::Inconclusive) => "inconclusive",
        _ if r.pass => "pass",
        _ => "fail",
    };
    let theory = r.theory.as_ref().and_then(|t| {
        result
            .metrics
            .get(t)
            .map(|m| numbers::metric(m.value, m.ci, m.basis == Basis::Computed))
    });
    CheckView {
        metric: r.metric.clone(),
        label: r.label.clone().unwrap_or_else(|| words_of(&r.metric)),
        value,
        bound: bound_text(&r.bound),
        outcome,
        theory,
        effect: r.effect.map(numbers::written),
        power: r.power.map(|p| numbers::percent(p, None)),
        basis: if computed { "computed" } else { "measured" },
    }
}

/// A parameter's value as prose: numbers by the number rule, lists joined with "and".
fn param_text(v: &serde_json::Value, format: Format) -> Option<String> {
    match v {
        serde_json::Value::Number(x) => {
            let x = x.as_f64()?;
            Some(match format {
                Format::Percent => numbers::percent(x, None),
                _ => numbers::written(x),
            })
        }
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(if *b { "yes" } else { "no" }.to_owned()),
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| param_text(i, format))
                .collect::<Option<_>>()?;
            Some(match parts.len() {
                0 => String::new(),
                1 => parts[0].clone(),
                n => format!("{} and {}", parts[..n - 1].join(", "), parts[n - 1]),
            })
        }
        _ => None,
    }
}

fn metric_text(result: &ResultFile, name: &str, format: Format) -> Option<String> {
    let m = result.metrics.get(name)?;
    let computed = m.basis == Basis::Computed;
    Some(match format {
        Format::Default => numbers::metric(m.value, m.ci, computed),
        Format::Percent => numbers::percent(m.value, m.ci),
        Format::Count => numbers::plain(m.value.round()),
        Format::Value => match m.ci {
            Some([lo, hi]) => numbers::with_interval(m.value, lo, hi)
                .split(" (")
                .next()
                .unwrap_or_default()
                .to_owned(),
            None => numbers::plain(m.value),
        },
    })
}

/// `text` with every placeholder replaced by the value it names in `result`.
///
/// # Errors
/// A placeholder that names no parameter or metric of the result, as a message.
pub fn fill(text: &str, result: &ResultFile) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for p in placeholders(text) {
        out.push_str(&text[at..p.span.start]);
        let value = match &p.source {
            Source::Param(path) => {
                lookup(&result.params, path).and_then(|v| param_text(v, p.format))
            }
            Source::Metric(name) => metric_text(result, name, p.format),
        };
        match value {
            Some(v) => out.push_str(&v),
            None => {
                return Err(format!(
                    "`{}` names nothing in the result of {}",
                    &text[p.span.clone()],
                    result.id
                ));
            }
        }
        at = p.span.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

fn badge(result: &ResultFile) -> (String, String) {
    match result.verdict {
        _ if result.status == Status::Error => ("no verdict".into(), "none".into()),
        Some(Verdict::Supported) if result.identity => {
            ("verified identity".into(), "identity".into())
        }
        Some(v) => (v.as_str().into(), v.as_str().into()),
        None => ("no verdict".into(), "none".into()),
    }
}

/// The view of one result.
///
/// # Errors
/// A placeholder that names nothing, as a message.
pub fn claim_view(result: &ResultFile) -> Result<ClaimView, String> {
    let (badge, badge_class) = badge(result);
    let primary = result
        .wording
        .iter()
        .find(|w| w.primary)
        .map(|w| check_view(w, result));
    let fill_opt = |t: &Option<String>| t.as_deref().map(|t| fill(t, result)).transpose();
    let captions = result
        .captions
        .iter()
        .map(|c| fill(c, result))
        .collect::<Result<Vec<_>, _>>()?;
    let alts = captions
        .iter()
        .enumerate()
        .map(|(k, c)| match result.alts.get(k) {
            Some(a) if !a.trim().is_empty() => a.clone(),
            _ => c.split_whitespace().take(10).collect::<Vec<_>>().join(" "),
        })
        .collect();
    Ok(ClaimView {
        badge,
        badge_class,
        primary,
        checks: result
            .checks
            .iter()
            .map(|c| check_view(c, result))
            .collect(),
        wording: result
            .wording
            .iter()
            .filter(|w| !w.primary)
            .map(|w| check_view(w, result))
            .collect(),
        note: fill_opt(&result.note)?,
        details: fill_opt(&result.details)?,
        captions,
        alts,
        family: result
            .experiment
            .split_once('/')
            .map_or(result.experiment.as_str(), |(f, _)| f)
            .to_owned(),
        checks_passed: result.checks.iter().filter(|c| c.pass).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_read_as_words() {
        assert_eq!(bound_text(&Bound::AtMost(0.07)), "≤ 0.07");
        assert_eq!(bound_text(&Bound::AtLeast(1.0)), "≥ 1");
        assert_eq!(
            bound_text(&Bound::Between([0.92, 1.02])),
            "between 0.92 and 1.02"
        );
        let a = Bound::Approx(Approx {
            value: 1.0,
            rel: Some(0.03),
            abs: None,
        });
        assert_eq!(bound_text(&a), "within 3.0% of 1");
    }

    #[test]
    fn parameters_read_as_prose() {
        let v = serde_json::json!([0.01, 0.02, 0.05]);
        assert_eq!(
            param_text(&v, Format::Default).unwrap(),
            "0.01, 0.02 and 0.05"
        );
        assert_eq!(
            param_text(&serde_json::json!(8000), Format::Default).unwrap(),
            "8,000"
        );
    }
}
