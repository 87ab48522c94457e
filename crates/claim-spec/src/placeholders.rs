//! Placeholders in claim-file prose (notes, details, captions): numbers and parameters are never
//! typed by hand, they are named and the post fills them in from the result file.
//!
//! A placeholder is `{params.KEY}` (a resolved parameter; nested keys are dotted, list elements
//! indexed as `etas.0`) or `{metrics.NAME}` (a metric with its interval), optionally followed by a
//! format: `:value` (the value alone), `:pct` (a percentage), `:count` (a whole number with
//! thousands separators). Braces whose content is not of this form (LaTeX groups such as
//! `\frac{a}{b}`) are left alone.

use std::ops::Range;

/// What a placeholder names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A resolved parameter, by dotted path.
    Param(String),
    /// A metric, by name.
    Metric(String),
}

/// How a placeholder's value is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A metric with its interval, a parameter as it is (lists joined in words).
    Default,
    /// The value alone.
    Value,
    /// A percentage.
    Percent,
    /// A whole number with thousands separators.
    Count,
}

/// One placeholder and where it stands in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placeholder {
    /// What it names.
    pub source: Source,
    /// How it is printed.
    pub format: Format,
    /// Its byte range in the text, braces included.
    pub span: Range<usize>,
}

fn parse_one(inner: &str) -> Option<(Source, Format)> {
    let (path, format) = match inner.split_once(':') {
        Some((p, "value")) => (p, Format::Value),
        Some((p, "pct")) => (p, Format::Percent),
        Some((p, "count")) => (p, Format::Count),
        Some(_) => return None,
        None => (inner, Format::Default),
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    };
    if let Some(key) = path.strip_prefix("params.") {
        return ok(key).then(|| (Source::Param(key.to_owned()), format));
    }
    if let Some(name) = path.strip_prefix("metrics.") {
        return ok(name).then(|| (Source::Metric(name.to_owned()), format));
    }
    None
}

/// Every placeholder of `text`, in order.
pub fn placeholders(text: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|k| k + from) {
        let Some(close) = text[open + 1..].find(['}', '{']).map(|k| k + open + 1) else {
            break;
        };
        if text.as_bytes()[close] == b'}'
            && let Some((source, format)) = parse_one(&text[open + 1..close])
        {
            found.push(Placeholder {
                source,
                format,
                span: open..close + 1,
            });
        }
        from = if text.as_bytes()[close] == b'{' {
            close
        } else {
            close + 1
        };
    }
    found
}

/// Words that look like a typed placeholder but are not one (`{params.eta}}`, `{metric.x}`), for
/// messages: every `{` immediately followed by `params` or `metric` that did not parse.
pub fn malformed(text: &str) -> Vec<String> {
    let good: Vec<usize> = placeholders(text).iter().map(|p| p.span.start).collect();
    text.match_indices('{')
        .filter(|(k, _)| {
            let rest = &text[k + 1..];
            (rest.starts_with("param") || rest.starts_with("metric")) && !good.contains(k)
        })
        .map(|(k, _)| {
            text[k..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The value at a dotted path of a JSON value (`etas.0` indexes a list).
pub fn lookup<'a>(root: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(root, |v, key| match v {
        serde_json::Value::Object(m) => m.get(key),
        serde_json::Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_and_latex_is_left_alone() {
        let t =
            r"With {params.trajectories:count} runs, $$\frac{a}{b}$$ gives {metrics.slope}, {x}.";
        let p = placeholders(t);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].source, Source::Param("trajectories".into()));
        assert_eq!(p[0].format, Format::Count);
        assert_eq!(&t[p[0].span.clone()], "{params.trajectories:count}");
        assert_eq!(p[1].source, Source::Metric("slope".into()));
        assert!(malformed(t).is_empty());
        assert_eq!(
            malformed("see {metric.slope} and {params.eta:bold}").len(),
            2
        );
        assert!(placeholders("{{params.eta}}").len() == 1);
    }

    #[test]
    fn paths_reach_nested_keys_and_list_elements() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"etas": [0.01, 0.02], "well": {"depth": 1}}"#).unwrap();
        assert_eq!(lookup(&v, "etas.1"), Some(&serde_json::json!(0.02)));
        assert_eq!(lookup(&v, "well.depth"), Some(&serde_json::json!(1)));
        assert_eq!(lookup(&v, "well.width"), None);
    }
}
