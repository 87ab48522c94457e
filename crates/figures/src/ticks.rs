//! Axis ranges and tick labels. Every number that decides SVG bytes goes through libm or exact
//! arithmetic, never the platform's float functions.

use crate::FigureError;

/// The range of an axis: the fixed range, or the values' extent with a 5% margin (multiplicative
/// on log axes, where non-positive values are skipped).
///
/// # Errors
/// When no value can be drawn on the axis.
pub fn axis_range(
    label: &str,
    log: bool,
    fixed: Option<[f64; 2]>,
    values: impl Iterator<Item = f64>,
) -> Result<[f64; 2], FigureError> {
    if let Some(r) = fixed {
        return Ok(r);
    }
    let usable = |v: &f64| v.is_finite() && (!log || *v > 0.0);
    let (lo, hi) = values
        .filter(usable)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return Err(FigureError::Invalid(format!(
            "axis `{label}` has no drawable value"
        )));
    }
    Ok(if log {
        let ratio = if hi > lo {
            libm::pow(hi / lo, 0.05)
        } else {
            2.0
        };
        [lo / ratio, hi * ratio]
    } else {
        let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
        [lo - 0.05 * span, hi + 0.05 * span]
    })
}

const SUPERSCRIPTS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];

/// 10 to the power `e`, written with superscripts: `10⁻³`.
fn power_of_ten(e: i32) -> String {
    let mut s = String::from("10");
    if e < 0 {
        s.push('⁻');
    }
    for d in e.unsigned_abs().to_string().bytes() {
        s.push(SUPERSCRIPTS[usize::from(d - b'0')]);
    }
    s
}

/// A tick label: plain decimals for moderate magnitudes (at most four decimals, trailing zeros
/// dropped), otherwise a power of ten or a mantissa times one, with a true minus sign.
pub fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let sign = if v < 0.0 { "−" } else { "" };
    if (1e-3..1e5).contains(&a) {
        let s = format!("{a:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return format!("{sign}{s}");
    }
    let e = libm::floor(libm::log10(a)) as i32;
    let m = a / libm::pow(10.0, f64::from(e));
    if (m - 1.0).abs() < 1e-9 {
        format!("{sign}{}", power_of_ten(e))
    } else {
        format!("{sign}{m:.1}×{}", power_of_ten(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_read_as_math() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(-0.5), "−0.5");
        assert_eq!(tick_label(1000.0), "1000");
        assert_eq!(tick_label(1e-6), "10⁻⁶");
        assert_eq!(tick_label(1e6), "10⁶");
        assert_eq!(tick_label(2.5e6), "2.5×10⁶");
    }

    #[test]
    fn ranges_cover_the_data_with_a_margin() {
        let r = axis_range("x", false, None, [0.0, 10.0].into_iter()).unwrap();
        assert_eq!(r, [-0.5, 10.5]);
        let r = axis_range("x", true, None, [1.0, 100.0, -1.0].into_iter()).unwrap();
        assert!((r[0] - 1.0 / libm::pow(100.0, 0.05)).abs() < 1e-12);
        assert_eq!(
            axis_range("x", true, Some([0.1, 1.0]), [5.0].into_iter()).unwrap(),
            [0.1, 1.0]
        );
        assert!(axis_range("x", true, None, [0.0, -2.0].into_iter()).is_err());
    }
}
