//! The template filters, defined once: number formatting (`num`, `metric`, `pct`), bounds of checks
//! (`bound`), Markdown escaping of plain text (`md`), readable column names (`label`), table cells
//! (`cell`) and whole numbers (`count`).
//!
//! Numbers keep a fixed count of significant digits, trailing zeros included (`0.970`), and switch
//! to a power of ten below 10^-3 and from 10^6 on (`1.03×10⁻¹⁵`), so a value reads the same in prose,
//! tables and math. Every filter fails, rather than printing something odd, on a value that is not
//! what it expects; the error names the filter.

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

const SUPERSCRIPTS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];

fn superscript(mut e: i32) -> String {
    let mut s = String::new();
    if e < 0 {
        s.push('⁻');
        e = -e;
    }
    for c in e.to_string().chars() {
        // `c` is an ASCII digit of a formatted integer.
        let d = c.to_digit(10).unwrap_or(0) as usize;
        s.push(SUPERSCRIPTS[d]);
    }
    s
}

/// The significant digits and the decimal exponent of `x` rounded to `digits` significant digits:
/// `x ≈ 0.d1d2d3… × 10^(e+1)`, that is `d1.d2d3… × 10^e`.
fn decompose(x: f64, digits: usize) -> (bool, String, i32) {
    let s = format!("{:.*e}", digits - 1, x.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = exp.parse().unwrap_or(0);
    let ds: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (x.is_sign_negative() && x != 0.0, ds, e)
}

/// `x` with `digits` significant digits: fixed notation when 10^-3 <= |x| < 10^6, otherwise
/// `m×10ᵉ` with a Unicode superscript exponent. Zero is `0`.
pub fn format_sig(x: f64, digits: usize) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    let (negative, ds, e) = decompose(x, digits);
    let sign = if negative { "-" } else { "" };
    if !(-3..6).contains(&e) {
        let mut m = ds[..1].to_owned();
        if ds.len() > 1 {
            m.push('.');
            m.push_str(&ds[1..]);
        }
        return format!("{sign}{m}×10{}", superscript(e));
    }
    format!("{sign}{}", fixed_from_digits(&ds, e))
}

/// Lays out significant digits `ds` (of `d1.d2… × 10^e`) in fixed notation.
fn fixed_from_digits(ds: &str, e: i32) -> String {
    let n = ds.len() as i32;
    if e >= n - 1 {
        let zeros = (e - (n - 1)) as usize;
        format!("{ds}{}", "0".repeat(zeros))
    } else if e >= 0 {
        let split = (e + 1) as usize;
        format!("{}.{}", &ds[..split], &ds[split..])
    } else {
        format!("0.{}{ds}", "0".repeat((-e - 1) as usize))
    }
}

/// `x` in fixed notation with exactly `decimals` decimals.
fn format_decimals(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    // Avoid "-0.00": a rounded zero carries no sign.
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_owned()
    } else {
        s
    }
}

/// The number of decimals `format_sig(x, digits)` shows, when it uses fixed notation.
fn decimals_shown(x: f64, digits: usize) -> Option<usize> {
    if x == 0.0 {
        return Some(0);
    }
    let (_, ds, e) = decompose(x, digits);
    if (-3..6).contains(&e) {
        Some((ds.len() as i32 - 1 - e).max(0) as usize)
    } else {
        None
    }
}

/// `x | num` or `x | num(4)`: a number to 3 (or the given) significant digits. A metric object
/// `{value, ci}` is formatted by its value.
///
/// # Errors
/// When `x` is not a finite number or the digits are out of range.
pub fn num(value: &Value, digits: Option<u32>) -> Result<String, Error> {
    let d = digits_arg("num", digits)?;
    Ok(format_sig(number("num", value)?, d))
}

/// `x | pct` or `x | pct(2)`: a fraction as a percentage with 3 (or the given) significant digits.
/// A metric object `{value, ci}` is formatted by its value.
///
/// # Errors
/// When `x` is not a finite number or the digits are out of range.
pub fn pct(value: &Value, digits: Option<u32>) -> Result<String, Error> {
    let d = digits_arg("pct", digits)?;
    Ok(format!("{}%", format_sig(number("pct", value)? * 100.0, d)))
}

/// Formats an estimate and its interval: the value to `digits` significant digits and the bounds to
/// the same decimals as the value (so `-0.505 [-0.519, -0.491]`), or to `digits` significant digits
/// when the value needs a power of ten.
pub fn format_estimate(value: f64, ci: Option<(f64, f64)>, digits: usize) -> String {
    let v = format_sig(value, digits);
    let Some((lo, hi)) = ci else {
        return v;
    };
    let bound = |b: f64| match decimals_shown(value, digits) {
        Some(dec) if (1e-3..1e6).contains(&b.abs()) || b == 0.0 => format_decimals(b, dec),
        _ => format_sig(b, digits),
    };
    // Escaped brackets: Kramdown would otherwise read `[a, b]` as a link reference.
    format!("{v} \\[{}, {}\\]", bound(lo), bound(hi))
}

/// `m | metric` or `m | metric(2)`: a metric object `{value, ci}` as `0.970 [0.950, 0.990]`, or the
/// value alone when it has no interval. A bare number is formatted like `num`.
///
/// # Errors
/// When `m` is neither a number nor an object with a numeric `value` (and an optional two-number
/// `ci`), or the digits are out of range.
pub fn metric(m: &Value, digits: Option<u32>) -> Result<String, Error> {
    let d = digits_arg("metric", digits)?;
    if m.kind() == ValueKind::Number {
        return Ok(format_sig(number("metric", m)?, d));
    }
    if m.kind() != ValueKind::Map {
        return Err(invalid(
            "metric",
            format!(
                "expected a metric object {{value, ci}} or a number, got {} `{m}`",
                m.kind()
            ),
        ));
    }
    let value = m.get_attr("value")?;
    if value.is_undefined() {
        return Err(invalid(
            "metric",
            format!("the object `{m}` has no `value`"),
        ));
    }
    let value = number("metric", &value)?;
    let ci = m.get_attr("ci")?;
    let ci = if ci.is_undefined() || ci.is_none() {
        None
    } else {
        let lo = ci.get_item(&Value::from(0))?;
        let hi = ci.get_item(&Value::from(1))?;
        if ci.len() != Some(2) || lo.is_undefined() || hi.is_undefined() {
            return Err(invalid(
                "metric",
                format!("`ci` must hold two numbers, got `{ci}`"),
            ));
        }
        Some((number("metric", &lo)?, number("metric", &hi)?))
    };
    Ok(format_estimate(value, ci, d))
}

/// `check.bound | bound`: a bound as written in result files (`at_most 4`, `between [0.92, 1.02]`,
/// `approx 1 (rel 0.03)`) in reader's notation (`≤ 4`, `in [0.920, 1.02]`, `≈ 1 (within 3%)`),
/// numbers through `num`. An unknown form is returned as escaped text.
///
/// # Errors
/// When the value is not a string.
pub fn bound(b: &Value) -> Result<String, Error> {
    let s = b.as_str().ok_or_else(|| {
        invalid(
            "bound",
            format!("expected a string, got {} `{b}`", b.kind()),
        )
    })?;
    Ok(describe_bound(s).unwrap_or_else(|| escape_markdown(s)))
}

fn parse_num(s: &str) -> Option<String> {
    let x: f64 = s.trim().parse().ok()?;
    x.is_finite()
        .then(|| format_sig(x, DEFAULT_DIGITS as usize))
}

fn describe_bound(s: &str) -> Option<String> {
    let (kind, rest) = s.split_once(' ')?;
    match kind {
        "at_most" => Some(format!("≤ {}", parse_num(rest)?)),
        "at_least" => Some(format!("≥ {}", parse_num(rest)?)),
        "between" => {
            let inner = rest.trim().strip_prefix('[')?.strip_suffix(']')?;
            let (lo, hi) = inner.split_once(',')?;
            Some(format!("in \\[{}, {}\\]", parse_num(lo)?, parse_num(hi)?))
        }
        "approx" => {
            let (target, tol) = rest.split_once(" (")?;
            let tol = tol.strip_suffix(')')?;
            let (how, t) = tol.split_once(' ')?;
            let target = parse_num(target)?;
            match how {
                "rel" => {
                    let t: f64 = t.trim().parse().ok()?;
                    Some(format!(
                        "≈ {target} (within {}%)",
                        format_sig(t * 100.0, DEFAULT_DIGITS as usize)
                    ))
                }
                "abs" => Some(format!("≈ {target} ± {}", parse_num(t)?)),
                _ => None,
            }
        }
        _ => None,
    }
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
                num(v, digits)
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

/// `n | count`: a whole number with thin groups of three digits (`800000` to `800,000`).
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
    let digits = format!("{}", x.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    Ok(if x < 0.0 { format!("-{out}") } else { out })
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

    fn n(x: f64) -> String {
        num(&Value::from(x), None).unwrap()
    }

    #[test]
    fn num_keeps_three_significant_digits_with_trailing_zeros() {
        assert_eq!(n(0.97), "0.970");
        assert_eq!(n(-0.5046400925700502), "-0.505");
        assert_eq!(n(11.253142957309162), "11.3");
        assert_eq!(n(1.0), "1.00");
        assert_eq!(n(0.0), "0");
        assert_eq!(n(20000.0), "20000");
        assert_eq!(n(12345.0), "12300");
        assert_eq!(n(0.001), "0.00100");
        assert_eq!(n(999_999.0), "1.00×10⁶");
    }

    #[test]
    fn num_rounds_across_a_power_of_ten() {
        assert_eq!(n(9.996), "10.0");
        assert_eq!(n(0.0009996), "0.00100");
        assert_eq!(n(-99.96), "-100");
    }

    #[test]
    fn num_uses_powers_of_ten_for_tiny_and_huge_values() {
        assert_eq!(n(1.026127719047723e-15), "1.03×10⁻¹⁵");
        assert_eq!(n(-2.5e-7), "-2.50×10⁻⁷");
        assert_eq!(n(3.0e12), "3.00×10¹²");
        assert_eq!(num(&Value::from(1.0e-20), Some(1)).unwrap(), "1×10⁻²⁰");
    }

    #[test]
    fn num_takes_optional_digits_and_integers() {
        assert_eq!(num(&Value::from(0.14708365), Some(4)).unwrap(), "0.1471");
        assert_eq!(num(&Value::from(0.14708365), Some(1)).unwrap(), "0.1");
        assert_eq!(num(&Value::from(8_i64), None).unwrap(), "8.00");
        assert!(num(&Value::from(1.0), Some(0)).is_err());
        assert!(num(&Value::from(1.0), Some(16)).is_err());
    }

    #[test]
    fn num_refuses_what_is_not_a_finite_number() {
        for bad in [
            Value::from("1.0"),
            Value::from(()),
            Value::UNDEFINED,
            Value::from(f64::NAN),
            Value::from(f64::INFINITY),
        ] {
            let e = num(&bad, None).unwrap_err();
            assert!(e.to_string().contains("filter `num`"), "{e}");
        }
    }

    #[test]
    fn num_and_pct_read_the_value_of_a_metric_object() {
        let m: serde_json::Value = serde_json::json!({"value": 0.25, "ci": [0.2, 0.3]});
        let m = Value::from(minijinja::value::Serde(&m));
        assert_eq!(num(&m, None).unwrap(), "0.250");
        assert_eq!(pct(&m, None).unwrap(), "25.0%");
        let no_value = Value::from(minijinja::value::Serde(&serde_json::json!({"ci": [0, 1]})));
        assert!(num(&no_value, None).is_err());
    }

    #[test]
    fn pct_scales_fractions() {
        assert_eq!(pct(&Value::from(0.123), None).unwrap(), "12.3%");
        assert_eq!(
            pct(&Value::from(0.14708365003905147), None).unwrap(),
            "14.7%"
        );
        assert_eq!(
            pct(&Value::from(0.14708365003905147), Some(2)).unwrap(),
            "15%"
        );
        assert_eq!(
            pct(&Value::from(0.009955185607042338), None).unwrap(),
            "0.996%"
        );
        assert_eq!(pct(&Value::from(1.0), None).unwrap(), "100%");
    }

    fn metric_of(json: &str, digits: Option<u32>) -> Result<String, Error> {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        metric(&Value::from(minijinja::value::Serde(&v)), digits)
    }

    #[test]
    fn metric_prints_value_and_interval_at_the_same_decimals() {
        assert_eq!(
            metric_of(r#"{"value": 0.97, "ci": [0.95, 0.99]}"#, None).unwrap(),
            "0.970 \\[0.950, 0.990\\]"
        );
        assert_eq!(
            metric_of(
                r#"{"value": -0.5046400925700502, "ci": [-0.5185295299324607, -0.49075065520763966]}"#,
                None
            )
            .unwrap(),
            "-0.505 \\[-0.519, -0.491\\]"
        );
        assert_eq!(
            metric_of(r#"{"value": 1.1487, "ci": [1.1189, 1.1802]}"#, Some(4)).unwrap(),
            "1.149 \\[1.119, 1.180\\]"
        );
        assert_eq!(
            metric_of(r#"{"value": 2.5e-7, "ci": [1e-7, 4e-7]}"#, None).unwrap(),
            "2.50×10⁻⁷ \\[1.00×10⁻⁷, 4.00×10⁻⁷\\]"
        );
    }

    #[test]
    fn metric_without_interval_is_the_value() {
        assert_eq!(metric_of(r#"{"value": 0.0}"#, None).unwrap(), "0");
        assert_eq!(
            metric_of(r#"{"value": 2.831756117024454}"#, None).unwrap(),
            "2.83"
        );
        assert_eq!(metric_of("0.5", None).unwrap(), "0.500");
    }

    #[test]
    fn metric_refuses_malformed_objects() {
        assert!(metric_of(r#"{"ci": [0, 1]}"#, None).is_err());
        assert!(metric_of(r#"{"value": 1, "ci": [0]}"#, None).is_err());
        assert!(metric_of(r#"{"value": "x"}"#, None).is_err());
        assert!(metric_of(r#""text""#, None).is_err());
    }

    #[test]
    fn bounds_read_as_notation() {
        let b = |s: &str| bound(&Value::from(s)).unwrap();
        assert_eq!(b("at_most 4"), "≤ 4.00");
        assert_eq!(b("at_most 0.00000000000000000001"), "≤ 1.00×10⁻²⁰");
        assert_eq!(b("at_least 0.5"), "≥ 0.500");
        assert_eq!(b("between [-0.6, -0.4]"), "in \\[-0.600, -0.400\\]");
        assert_eq!(b("approx 1 (rel 0.03)"), "≈ 1.00 (within 3.00%)");
        assert_eq!(b("approx 0.5 (abs 0.01)"), "≈ 0.500 ± 0.0100");
        assert_eq!(b("odd_bound x|y"), "odd\\_bound x\\|y");
    }

    #[test]
    fn markdown_escaping_neutralizes_syntax_but_keeps_math() {
        assert_eq!(
            escape_markdown("E||g_b - G||^2 = tr(Sigma)/b"),
            "E\\|\\|g\\_b - G\\|\\|^2 = tr(Sigma)/b"
        );
        assert_eq!(
            escape_markdown("a *b* [c] <d>\nnext"),
            "a \\*b\\* \\[c\\] \\<d\\> next"
        );
        assert_eq!(
            escape_markdown("noise $$\\|g\\|^2 / |b|$$ here"),
            "noise $$\\Vert g\\Vert ^2 / \\vert b\\vert $$ here"
        );
        assert_eq!(escape_markdown("costs $$5"), "costs \\$\\$5");
        assert_eq!(escape_markdown("{{ x }}"), "\\{\\{ x \\}\\}");
    }

    #[test]
    fn counts_group_digits() {
        assert_eq!(count(&Value::from(800_000_u64)).unwrap(), "800,000");
        assert_eq!(count(&Value::from(1234567_i64)).unwrap(), "1,234,567");
        assert_eq!(count(&Value::from(999)).unwrap(), "999");
        assert_eq!(count(&Value::from(-1000)).unwrap(), "-1,000");
        assert!(count(&Value::from(1.5)).is_err());
    }

    #[test]
    fn cells_and_labels() {
        assert_eq!(label(&Value::from("batch_size")).unwrap(), "batch size");
        assert_eq!(cell(&Value::from(()), None).unwrap(), "—");
        assert_eq!(
            cell(&Value::from("with-replacement"), None).unwrap(),
            "with-replacement"
        );
        assert_eq!(cell(&Value::from(0.25), Some(2)).unwrap(), "0.25");
        assert_eq!(cell(&Value::from(1024.0), None).unwrap(), "1,024");
        assert_eq!(cell(&Value::from(0.5), None).unwrap(), "0.500");
        assert!(cell(&Value::from(vec![1, 2]), None).is_err());
    }
}
