//! The post's one number rule, as plain functions (the template filters and the placeholder
//! resolution both call these):
//!
//! - a value with a 95% interval is rounded to two significant digits of the interval's
//!   half-width (the narrower side when the interval is asymmetric), and its endpoints to the same
//!   decimal: `0.974 (95% CI 0.963 to 0.985)`;
//! - a value without an interval gets three significant digits; a whole number is printed exactly,
//!   with thousands separators (`18,750`);
//! - a proportion of zero is printed with its upper bound: `0 (95% upper bound 1.5%)`;
//! - a computed value says so: `computed: 0.974`.
//!
//! Negative numbers carry a true minus sign (U+2212).

const SUPERSCRIPTS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
const MINUS: char = '−';

fn superscript(e: i32) -> String {
    let mut s = String::new();
    if e < 0 {
        s.push('⁻');
    }
    for d in e.unsigned_abs().to_string().bytes() {
        s.push(SUPERSCRIPTS[usize::from(d - b'0')]);
    }
    s
}

/// floor(log10(|x|)) for x != 0, from the decimal representation rounded to 12 significant
/// digits (so 1.0 - 0.9 = 0.09999999999999998 counts as 0.1), not from a logarithm.
pub fn decimal_exponent(x: f64) -> i32 {
    let s = format!("{:.11e}", x.abs());
    s.split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0)
}

/// A true minus sign in place of the ASCII hyphen at the start.
fn signed(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().any(|c| c.is_ascii_digit() && c != '0') => {
            format!("{MINUS}{rest}")
        }
        Some(rest) => rest.to_owned(),
        None => s,
    }
}

/// Thousands separators in the integer part of a plain decimal string.
fn group_thousands(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    if int.len() <= 3 {
        return s.to_owned();
    }
    let mut out = String::new();
    for (k, c) in int.chars().enumerate() {
        if k > 0 && (int.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

/// `x` with `digits` significant digits: fixed notation when 10⁻³ ≤ |x| < 10⁶, otherwise
/// `m×10ᵉ`. Zero is `0`.
pub fn significant(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x == 0.0 { "0".into() } else { "—".into() };
    }
    let e = decimal_exponent(x);
    if !(-3..6).contains(&e) {
        let m = format!("{:.*e}", digits.saturating_sub(1), x);
        let (mantissa, exp) = m.split_once('e').unwrap_or((&m, "0"));
        let exp: i32 = exp.parse().unwrap_or(e);
        return format!("{}×10{}", signed(mantissa.to_owned()), superscript(exp));
    }
    let decimals = usize::try_from(digits as i32 - 1 - e).unwrap_or(0);
    // Rounding can carry into a new digit (9.995 -> 10.0): recompute from the rounded value.
    let s = format!("{x:.decimals$}");
    let rounded: f64 = s.parse().unwrap_or(x);
    let e2 = decimal_exponent(rounded);
    let s = if e2 > e {
        let d2 = usize::try_from(digits as i32 - 1 - e2).unwrap_or(0);
        format!("{rounded:.d2$}")
    } else {
        s
    };
    signed(group_thousands(&s))
}

/// `x` with exactly `decimals` decimals (negative: rounded to tens, hundreds, ...).
fn at_decimals(x: f64, decimals: i32) -> String {
    if decimals >= 0 {
        let d = decimals as usize;
        signed(group_thousands(&format!("{x:.d$}")))
    } else {
        let unit = (0..-decimals).fold(1.0, |u, _| u * 10.0);
        signed(group_thousands(&format!(
            "{:.0}",
            (x / unit).round() * unit
        )))
    }
}

/// A number without an interval: a whole number exactly with thousands separators, otherwise
/// three significant digits.
pub fn plain(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        return signed(group_thousands(&format!("{x:.0}")));
    }
    significant(x, 3)
}

/// A number as it was written in a claim file (a parameter, a bound): its shortest decimal form
/// when that has at most four significant digits (`0.01`, `2.5`, `8,000`), otherwise three
/// significant digits; powers of ten for very small or large values (`10⁻¹²`).
pub fn written(x: f64) -> String {
    if !x.is_finite() {
        return "—".into();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return plain(x);
    }
    let e = decimal_exponent(x);
    let digits = format!("{:e}", x.abs())
        .split_once('e')
        .map_or(0, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    if digits > 4 {
        return significant(x, 3);
    }
    if !(-3..6).contains(&e) {
        return significant(x, digits.max(1));
    }
    signed(group_thousands(&format!("{x}")))
}

/// The decimals that two significant digits of `half` need, or `None` when the numbers need a
/// power of ten (tiny or huge).
fn interval_decimals(value: f64, half: f64) -> Option<i32> {
    let d = 1 - decimal_exponent(half);
    let big = value.abs().max(half) >= 1e6;
    (d <= 6 && !big).then_some(d)
}

/// A value with its 95% interval, by the rule of the module documentation.
pub fn with_interval(value: f64, lo: f64, hi: f64) -> String {
    if value == 0.0 && lo == 0.0 && hi > 0.0 {
        return format!("0 (95% upper bound {})", significant(hi, 2));
    }
    let sides = [value - lo, hi - value];
    let half = sides
        .iter()
        .copied()
        .filter(|s| *s > 0.0 && s.is_finite())
        .fold(f64::INFINITY, f64::min);
    if !half.is_finite() {
        return plain(value);
    }
    match interval_decimals(value, half) {
        Some(d) => format!(
            "{} (95% CI {} to {})",
            at_decimals(value, d),
            at_decimals(lo, d),
            at_decimals(hi, d)
        ),
        None => {
            let digits = |x: f64| {
                let e = decimal_exponent(x);
                usize::try_from(e - decimal_exponent(half) + 2)
                    .unwrap_or(2)
                    .clamp(2, 6)
            };
            format!(
                "{} (95% CI {} to {})",
                significant(value, digits(value)),
                significant(lo, digits(lo)),
                significant(hi, digits(hi))
            )
        }
    }
}

/// A fraction as a percentage: with its interval by the same rule (in percentage points), or
/// with one decimal without one; a zero proportion with its upper bound.
pub fn percent(value: f64, ci: Option<[f64; 2]>) -> String {
    let p = |x: f64| 100.0 * x;
    match ci {
        Some([lo, hi]) if value == 0.0 && lo == 0.0 && hi > 0.0 => {
            format!("0% (95% upper bound {}%)", significant(p(hi), 2))
        }
        Some([lo, hi]) => {
            let s = with_interval(p(value), p(lo), p(hi));
            // "12.3 (95% CI 11.0 to 13.6)" -> "12.3% (95% CI 11.0% to 13.6%)"
            let (v, rest) = s.split_once(" (95% CI ").unwrap_or((&s, ""));
            let rest = rest.trim_end_matches(')');
            match rest.split_once(" to ") {
                Some((a, b)) => format!("{v}% (95% CI {a}% to {b}%)"),
                None => format!("{v}%"),
            }
        }
        None => format!("{}%", at_decimals(p(value), 1)),
    }
}

/// A metric as the post prints it: with its interval when it has one, and `computed: ` before a
/// computed value.
pub fn metric(value: f64, ci: Option<[f64; 2]>, computed: bool) -> String {
    let body = match ci {
        Some([lo, hi]) => with_interval(value, lo, hi),
        None => plain(value),
    };
    if computed {
        format!("computed: {body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_to_two_digits_of_the_narrower_half_width() {
        assert_eq!(
            with_interval(0.97432, 0.96311, 0.98554),
            "0.974 (95% CI 0.963 to 0.986)"
        );
        // Asymmetric: the narrower side (0.0021) sets four decimals.
        assert_eq!(
            with_interval(0.5, 0.4979, 0.53),
            "0.5000 (95% CI 0.4979 to 0.5300)"
        );
        assert_eq!(
            with_interval(-0.505, -0.519, -0.491),
            "−0.505 (95% CI −0.519 to −0.491)"
        );
        assert_eq!(
            with_interval(200.4, 182.0, 218.0),
            "200 (95% CI 182 to 218)"
        );
        assert_eq!(
            with_interval(18345.0, 18000.0, 18700.0),
            "18,350 (95% CI 18,000 to 18,700)"
        );
    }

    #[test]
    fn zero_proportions_show_their_upper_bound() {
        assert_eq!(
            with_interval(0.0, 0.0, 0.01847),
            "0 (95% upper bound 0.018)"
        );
        assert_eq!(
            percent(0.0, Some([0.0, 0.01847])),
            "0% (95% upper bound 1.8%)"
        );
        assert_eq!(
            percent(0.5, Some([0.43, 0.57])),
            "50.0% (95% CI 43.0% to 57.0%)"
        );
        assert_eq!(percent(0.123, None), "12.3%");
    }

    #[test]
    fn plain_numbers_and_counts() {
        assert_eq!(plain(18750.0), "18,750");
        assert_eq!(plain(7.0), "7");
        assert_eq!(plain(0.0772), "0.0772");
        assert_eq!(plain(1.03e-15), "1.03×10⁻¹⁵");
        assert_eq!(plain(-2.5e7 + 0.5), "−2.50×10⁷");
        assert_eq!(significant(9.9996, 3), "10.0");
        assert_eq!(metric(0.974, None, true), "computed: 0.974");
        assert_eq!(decimal_exponent(0.00999), -3);
        assert_eq!(written(0.01), "0.01");
        assert_eq!(written(1e-12), "1×10⁻¹²");
        assert_eq!(written(2.0 / 3.0), "0.667");
        assert_eq!(written(8000.0), "8,000");
    }
}
