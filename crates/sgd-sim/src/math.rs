//! Transcendental functions for result-producing code, through the pure-Rust `libm` crate.
//!
//! The platform C library may choose FMA or other code paths at run time, so `f64::exp` can differ
//! by one ulp between machines; in a stochastic simulation one bit changes a whole trajectory.
//! `libm` is the same code everywhere. The workspace's `clippy.toml` forbids the platform
//! functions and names these replacements.

/// e^x.
#[inline]
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// Natural logarithm.
#[inline]
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}

/// ln(1 + x), accurate for small x.
#[inline]
pub fn ln_1p(x: f64) -> f64 {
    libm::log1p(x)
}

/// e^x - 1, accurate for small x.
#[inline]
pub fn exp_m1(x: f64) -> f64 {
    libm::expm1(x)
}

/// x^y.
#[inline]
pub fn powf(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// Hyperbolic tangent.
#[inline]
pub fn tanh(x: f64) -> f64 {
    libm::tanh(x)
}

/// Base-10 logarithm.
#[inline]
pub fn log10(x: f64) -> f64 {
    libm::log10(x)
}

/// Sine and cosine.
#[inline]
pub fn sin(x: f64) -> f64 {
    libm::sin(x)
}

/// Cosine.
#[inline]
pub fn cos(x: f64) -> f64 {
    libm::cos(x)
}

/// x^n by binary powering: a fixed sequence of multiplications (Rust leaves the rounding of
/// `f64::powi` unspecified). Negative n gives 1 / x^|n|.
#[inline]
pub fn powi(x: f64, n: i32) -> f64 {
    let mut base = x;
    let mut e = n.unsigned_abs();
    let mut acc = 1.0;
    while e > 0 {
        if e & 1 == 1 {
            acc *= base;
        }
        e >>= 1;
        if e > 0 {
            base *= base;
        }
    }
    if n < 0 { 1.0 / acc } else { acc }
}

/// Base-2 logarithm.
#[inline]
pub fn log2(x: f64) -> f64 {
    libm::log2(x)
}

/// Tangent.
#[inline]
pub fn tan(x: f64) -> f64 {
    libm::tan(x)
}

/// Arcsine.
#[inline]
pub fn asin(x: f64) -> f64 {
    libm::asin(x)
}

/// Arccosine.
#[inline]
pub fn acos(x: f64) -> f64 {
    libm::acos(x)
}

/// Arctangent.
#[inline]
pub fn atan(x: f64) -> f64 {
    libm::atan(x)
}

/// The angle of (x, y), atan2(y, x).
#[inline]
pub fn atan2(y: f64, x: f64) -> f64 {
    libm::atan2(y, x)
}

/// Hyperbolic sine.
#[inline]
pub fn sinh(x: f64) -> f64 {
    libm::sinh(x)
}

/// Hyperbolic cosine.
#[inline]
pub fn cosh(x: f64) -> f64 {
    libm::cosh(x)
}

/// Inverse hyperbolic sine.
#[inline]
pub fn asinh(x: f64) -> f64 {
    libm::asinh(x)
}

/// Inverse hyperbolic cosine.
#[inline]
pub fn acosh(x: f64) -> f64 {
    libm::acosh(x)
}

/// Inverse hyperbolic tangent.
#[inline]
pub fn atanh(x: f64) -> f64 {
    libm::atanh(x)
}

/// Cube root.
#[inline]
pub fn cbrt(x: f64) -> f64 {
    libm::cbrt(x)
}

/// sqrt(x^2 + y^2) without overflow.
#[inline]
pub fn hypot(x: f64, y: f64) -> f64 {
    libm::hypot(x, y)
}

/// The logistic function 1/(1 + e^-x), evaluated without overflow for large |x|.
#[inline]
pub fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + exp(-x))
    } else {
        let e = exp(x);
        e / (1.0 + e)
    }
}

/// ln(e^a + e^b) without overflow.
#[inline]
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + ln_1p(exp(lo - hi))
}

#[cfg(test)]
// The references below are the platform's own functions, which these wrappers replace.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn powi_multiplies_in_a_fixed_order() {
        assert_eq!(powi(2.0, 10), 1024.0);
        assert_eq!(powi(3.0, 0), 1.0);
        assert_eq!(powi(2.0, -2), 0.25);
        assert_eq!(powi(1.1, 3), 1.1 * (1.1 * 1.1));
        // Each squaring doubles the relative error of what it squares, so binary powering is
        // within about n ulps of the exact power, as is the platform's version.
        for &(x, n) in &[(0.9f64, 7), (1.0001, 100), (-1.5, 5)] {
            let tol = 2.0 * f64::from(n) * f64::EPSILON * x.powi(n).abs();
            assert!((powi(x, n) - x.powi(n)).abs() <= tol, "{x}^{n}");
        }
    }

    #[test]
    fn libm_agrees_with_std_to_an_ulp_or_two() {
        for &x in &[-3.5, -0.1, 0.0, 1e-9, 0.7, 2.0, 30.0] {
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 4.0 * f64::EPSILON, "exp({x})");
        }
        for &x in &[1e-300, 0.5, 1.0, 2.0, 1e300] {
            assert!((ln(x) - x.ln()).abs() <= 4.0 * f64::EPSILON * x.ln().abs().max(1.0));
        }
    }

    #[test]
    fn logistic_is_symmetric_and_finite() {
        for &x in &[-800.0, -3.0, 0.0, 3.0, 800.0] {
            let s = logistic(x) + logistic(-x);
            assert!((s - 1.0).abs() < 1e-15);
        }
        assert_eq!(logistic(0.0), 0.5);
    }

    #[test]
    fn log_add_exp_matches_direct_sum() {
        let v = log_add_exp(1.0, 2.0);
        assert!((v - (1f64.exp() + 2f64.exp()).ln()).abs() < 1e-14);
        assert!((log_add_exp(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
    }
}
