//! The template filters, defined once: numbers by the post's number rule (`num`, `metric`,
//! `pct`, `count`; see [`crate::numbers`]), bounds of checks in reader's notation (`bound`),
//! Markdown escaping of plain text (`md`), readable column names (`label`) and table cells
//! (`cell`). Every filter fails, rather than printing something odd, on a value that is not what it
//! expects; the error names the filter.

use crate::numbers;
use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};

/// Significant digits when a filter is called without an argument.
pub const DEFAULT_DIGITS: u32 = 3;

/// Most significant digits a filter accepts (an f64 carries about 17).
pub const MAX_DIGITS: u32 = 15;

fn invalid(filter: &str, message: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("filter `{filter}`: {message}"),
    )
}

fn digits_arg(filter: &str, digits: Option<u32>) -> Result<usize, Error> {
    let d = digits.unwrap_or(DEFAULT_DIGITS);
    if (1..=MAX_DIGITS).contains(&d) {
        Ok(d as usize)
    } else {
        Err(invalid(
            filter,
            format!("significant digits must be between 1 and {MAX_DIGITS}, got {d}"),
        ))
    }
}

fn number(filter: &str, v: &Value) -> Result<f64, Error> {
    if v.kind() == ValueKind::Map {
        // A metric object `{value, ci}` stands for its value.
        let value = v.get_attr("value")?;
        if !value.is_undefined() {
            return number(filter, &value);
        }
    }
    if v.kind() != ValueKind::Number {
        return Err(invalid(
            filter,
            format!("expected a number, got {} `{v}`", v.kind()),
        ));
    }
    let x = f64::try_from(v.clone()).map_err(|e| invalid(filter, e))?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(invalid(filter, format!("the number {x} is not finite")))
    }
}

/// `x | num` or `x | num(4)`: a number to 3 (or the given) significant digits; a whole number
/// exactly, with thousands separators. A metric object `{value, ci}` stands for its value.
///
/// # Errors
/// When `x` is not a finite number or the digits are out of range.
pub fn num(value: &Value, digits: Option<u32>) -> Result<String, Error> {
    let x = number("num", value)?;
    Ok(match digits {
        None => numbers::plain(x),
        Some(_) => numbers::significant(x, digits_arg("num", digits)?),
    })
}

/// The `ci` of a metric object, when it has one.
fn interval(filter: &str, m: &Value) -> Result<Option<[f64; 2]>, Error> {
    if m.kind() != ValueKind::Map {
        return Ok(None);
    }
    let ci = m.get_attr("ci")?;
    if ci.is_undefined() || ci.is_none() {
        return Ok(None);
    }
    let lo = ci.get_item(&Value::from(0))?;
    let hi = ci.get_item(&Value::from(1))?;
    if ci.len() != Some(2) || lo.is_undefined() || hi.is_undefined() {
        return Err(invalid(
            filter,
            format!("`ci` must hold two numbers, got `{ci}`"),
        ));
    }
    Ok(Some([number(filter, &lo)?, number(filter, &hi)?]))
}

/// `x | pct`: a fraction as a percentage, with its interval when `x` is a metric object that has
/// one (a zero proportion with its upper bound), otherwise with one decimal.
///
/// # Errors
/// When `x` is not a finite number or a well-formed metric object.
pub fn pct(value: &Value) -> Result<String, Error> {
    let x = number("pct", value)?;
    Ok(numbers::percent(x, interval("pct", value)?))
}

/// `m | metric`: a metric object `{value, ci, basis}` by the number rule: with its interval, or
/// alone, and `computed: ` before a computed value. A bare number is printed like `num`.
///
/// # Errors
/// When `m` is neither a number nor an object with a numeric `value`.
pub fn metric(m: &Value) -> Result<String, Error> {
    if m.kind() == ValueKind::Number {
        return Ok(numbers::plain(number("metric", m)?));
    }
    if m.kind() != ValueKind::Map || m.get_attr("value")?.is_undefined() {
        return Err(invalid(
            "metric",
            format!("expected a metric object {{value, ci, basis}} or a number, got `{m}`"),
        ));
    }
    let value = number("metric", m)?;
    let computed = m.get_attr("basis")?.as_str() == Some("computed");
    Ok(numbers::metric(value, interval("metric", m)?, computed))
}

/// `check.bound | bound`: a bound object of a result file (`{"at_most": 0.07}`,
/// `{"between": [0.92, 1.02]}`, `{"approx": {"value": 1, "rel": 0.03}}`) in reader's notation
/// (`≤ 0.07`, `between 0.92 and 1.02`, `within 3.0% of 1`).
///
/// # Errors
/// When the value is not a bound object.
pub fn bound(b: &Value) -> Result<String, Error> {
    let json = serde_json::to_value(b).map_err(|e| invalid("bound", e))?;
    let parsed: claim_spec::Bound = serde_json::from_value(json)
        .map_err(|e| invalid("bound", format!("expected a bound object, got `{b}`: {e}")))?;
    Ok(crate::view::bound_text(&parsed))
}

/// Escapes plain text for Markdown (Kramdown): characters that would start emphasis, links, code,
/// HTML, tables or math get a backslash, so a statement or caption written as plain text (with
/// `||g||^2` or `g_b` in it) prints as written. Spans between `$$` pairs are kept as math, with
/// any `|` in them turned into `\vert`/`\Vert` (the post's math rule: no literal `|` in math). Line breaks become spaces.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    let parts: Vec<&str> = s.split("$$").collect();
    let last = parts.len() - 1;
    // An odd count of `$$` leaves the last one unmatched: it is text, not math.
    let unmatched = last % 2 == 1;
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && !(unmatched && i == last) {
            out.push_str("$$");
            out.push_str(
                &part
                    .replace(['\n', '\r'], " ")
                    .replace("\\|", "\\Vert ")
                    .replace('|', "\\vert "),
            );
            out.push_str("$$");
            continue;
        }
        if unmatched && i == last {
            out.push_str("\\$\\$");
        }
        for c in part.chars() {
            match c {
                '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '$' | '#' | '{' | '}' => {
                    out.push('\\');
                    out.push(c);
                }
                '\n' | '\r' => out.push(' '),
                _ => out.push(c),
            }
        }
    }
    out.trim().to_owned()
}

/// `s | md`: plain text (a statement, note, caption or table label) escaped for Markdown.
///
/// # Errors
/// When the value is undefined or not a string.
pub fn md(s: &Value) -> Result<String, Error> {
    if let Some(text) = s.as_str() {
        Ok(escape_markdown(text))
    } else {
        Err(invalid(
            "md",
            format!("expected a string, got {} `{s}`", s.kind()),
        ))
    }
}

/// `name | label`: a snake_case column or metric name as words (`batch_size` to `batch size`),
/// escaped for Markdown.
///
/// # Errors
/// When the value is not a string.
pub fn label(s: &Value) -> Result<String, Error> {
    let text = s.as_str().ok_or_else(|| {
        invalid(
            "label",
            format!("expected a string, got {} `{s}`", s.kind()),
        )
    })?;
    Ok(escape_markdown(&text.replace('_', " ")))
}

/// `v | cell` or `v | cell(4)`: a table cell: a whole number as a count (`1,024`), another number
/// through `num`, a string through `md`, `null` as an em dash.
///
/// # Errors
/// When the cell is a list, a map or undefined.
pub fn cell(v: &Value, digits: Option<u32>) -> Result<String, Error> {
    match v.kind() {
        ValueKind::Number => {
            let x = number("cell", v)?;
            if digits.is_none() && x.fract() == 0.0 && x.abs() < 1e15 {
                count(v)
            } else {
                Ok(numbers::significant(x, digits_arg("cell", digits)?))
            }
        }
        ValueKind::String => md(v),
        ValueKind::None => Ok("—".to_owned()),
        ValueKind::Bool => Ok(if v.is_true() { "yes" } else { "no" }.to_owned()),
        k => Err(invalid(
            "cell",
            format!("expected a number, a string or null, got {k} `{v}`"),
        )),
    }
}

/// `n | count`: a whole number with thousands separators (`800000` to `800,000`).
///
/// # Errors
/// When `n` is not a finite number or is not whole.
pub fn count(n: &Value) -> Result<String, Error> {
    let x = number("count", n)?;
    if x.fract() != 0.0 || x.abs() > 9.0e15 {
        return Err(invalid(
            "count",
            format!("expected a whole number, got {x}"),
        ));
    }
    Ok(numbers::plain(x))
}

/// Registers every filter of this module on `env`.
pub fn register(env: &mut minijinja::Environment<'_>) {
    env.add_filter("num", num);
    env.add_filter("pct", pct);
    env.add_filter("metric", metric);
    env.add_filter("bound", bound);
    env.add_filter("md", md);
    env.add_filter("label", label);
    env.add_filter("cell", cell);
    env.add_filter("count", count);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> Value {
        Value::from(minijinja::value::Serde(
            serde_json::from_str::<serde_json::Value>(s).unwrap(),
        ))
    }

    #[test]
    fn numbers_follow_the_post_rule() {
        assert_eq!(num(&Value::from(0.97), None).unwrap(), "0.970");
        assert_eq!(num(&Value::from(18750.0), None).unwrap(), "18,750");
        assert_eq!(num(&Value::from(0.123456), Some(4)).unwrap(), "0.1235");
        assert!(num(&Value::from("x"), None).is_err());
        assert!(num(&Value::from(1.0), Some(0)).is_err());
        let m = json(r#"{"value": 0.97432, "ci": [0.96311, 0.98554], "basis": "measured"}"#);
        assert_eq!(metric(&m).unwrap(), "0.974 (95% CI 0.963 to 0.986)");
        let c = json(r#"{"value": 0.0772, "basis": "computed"}"#);
        assert_eq!(metric(&c).unwrap(), "computed: 0.0772");
        assert!(metric(&json(r#"{"ci": [1, 2]}"#)).is_err());
        let z = json(r#"{"value": 0.0, "ci": [0.0, 0.0184], "basis": "measured"}"#);
        assert_eq!(pct(&z).unwrap(), "0% (95% upper bound 1.8%)");
        assert_eq!(pct(&Value::from(0.25)).unwrap(), "25.0%");
    }

    #[test]
    fn bounds_read_as_notation() {
        assert_eq!(bound(&json(r#"{"at_most": 4.0}"#)).unwrap(), "≤ 4");
        assert_eq!(
            bound(&json(r#"{"between": [0.92, 1.02]}"#)).unwrap(),
            "between 0.92 and 1.02"
        );
        assert_eq!(
            bound(&json(r#"{"approx": {"value": 1.0, "rel": 0.03}}"#)).unwrap(),
            "within 3.0% of 1"
        );
        assert!(bound(&Value::from("at_most 4")).is_err());
    }

    #[test]
    fn markdown_escaping_neutralizes_syntax_but_keeps_math() {
        assert_eq!(escape_markdown("a_b *c* [d]"), "a\\_b \\*c\\* \\[d\\]");
        assert_eq!(
            escape_markdown("E $$\\Vert g \\Vert$$ ||x||"),
            "E $$\\Vert g \\Vert$$ \\|\\|x\\|\\|"
        );
        assert_eq!(escape_markdown("$$a|b$$"), "$$a\\vert b$$");
    }

    #[test]
    fn cells_counts_and_labels() {
        assert_eq!(cell(&Value::from(1024.0), None).unwrap(), "1,024");
        assert_eq!(cell(&Value::from(0.5), None).unwrap(), "0.500");
        assert_eq!(cell(&Value::from(()), None).unwrap(), "—");
        assert_eq!(count(&Value::from(800000)).unwrap(), "800,000");
        assert!(count(&Value::from(1.5)).is_err());
        assert_eq!(label(&Value::from("batch_size")).unwrap(), "batch size");
    }
}
