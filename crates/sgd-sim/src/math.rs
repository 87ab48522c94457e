//! Transcendental functions for result-producing code, through the pure-Rust `libm` crate.
//!
//! The platform C library may choose FMA or other code paths at run time, so `f64::exp` can differ
//! by one ulp between machines; in a stochastic simulation one bit changes a whole trajectory.
//! `libm` is the same code everywhere (DESIGN.md, "Determinism and randomness").

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
mod tests {
    use super::*;

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
