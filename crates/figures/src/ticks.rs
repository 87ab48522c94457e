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

/// Where an axis puts its ticks, in data units, chosen here rather than by plotters (whose own
/// choice takes std `log10` and `powf`), so that every tick position comes from libm.
///
/// Linear axes get about six ticks at a multiple of 1, 2 or 5 times a power of ten. Log axes get
/// their powers of ten; when the range holds fewer than three, also 2 and 5 times them, and when
/// even that gives fewer than three, linear ticks.
pub fn tick_values(range: [f64; 2], log: bool) -> Vec<f64> {
    let [lo, hi] = range;
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Vec::new();
    }
    if !log || lo <= 0.0 {
        return linear_ticks(lo, hi, 6);
    }
    let first = libm::ceil(libm::log10(lo) - 1e-9) as i32;
    let last = libm::floor(libm::log10(hi) + 1e-9) as i32;
    let decades: Vec<i32> = (first..=last).collect();
    if decades.len() >= 3 {
        let every = decades.len().div_ceil(8);
        return decades
            .iter()
            .step_by(every)
            .map(|&e| libm::pow(10.0, f64::from(e)))
            .collect();
    }
    let mut out = Vec::new();
    for e in (first - 1)..=(last + 1) {
        for m in [1.0, 2.0, 5.0] {
            let v = m * libm::pow(10.0, f64::from(e));
            if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                out.push(v);
            }
        }
    }
    if out.len() >= 3 {
        out
    } else {
        linear_ticks(lo, hi, 4)
    }
}

/// About `target` ticks between `lo` and `hi` at multiples of a 1-2-5 step.
fn linear_ticks(lo: f64, hi: f64, target: u32) -> Vec<f64> {
    let raw = (hi - lo) / f64::from(target);
    let magnitude = libm::pow(10.0, libm::floor(libm::log10(raw)));
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let start = libm::ceil(lo / step - 1e-9) as i64;
    let end = libm::floor(hi / step + 1e-9) as i64;
    (start..=end).map(|k| k as f64 * step).collect()
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
    fn ticks_fall_on_round_numbers() {
        // Positions are k × step in floating point; their labels are the round numbers.
        let labels = |r: [f64; 2], log: bool| -> Vec<String> {
            tick_values(r, log).into_iter().map(tick_label).collect()
        };
        assert_eq!(
            labels([-0.05, 1.05], false),
            ["0", "0.2", "0.4", "0.6", "0.8", "1"]
        );
        assert_eq!(labels([0.5, 2000.0], true), ["1", "10", "100", "1000"]);
        // Less than two decades: 2 and 5 times the powers of ten join in.
        assert_eq!(labels([3.0, 60.0], true), ["5", "10", "20", "50"]);
        // Eleven decades: every other one.
        assert_eq!(tick_values([1e-12, 1e-2], true).len(), 6);
        // A narrow log range falls back to linear ticks.
        assert_eq!(
            labels([1.1, 1.3], true),
            ["1.1", "1.15", "1.2", "1.25", "1.3"]
        );
        assert!(tick_values([1.0, 1.0], false).is_empty());
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
