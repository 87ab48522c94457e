//! Composite quadrature on uniform grids: Simpson's rule and cumulative trapezoids.

/// Composite Simpson's rule for the integral of f over [a, b] with `intervals` subintervals
/// (rounded up to even); error O(h^4 f'''') (Press et al., *Numerical Recipes*, 3rd ed., 4.1).
pub fn simpson<F: Fn(f64) -> f64>(f: F, a: f64, b: f64, intervals: usize) -> f64 {
    let n = intervals.max(2).div_ceil(2) * 2;
    let h = (b - a) / n as f64;
    let mut s = f(a) + f(b);
    for k in 1..n {
        let x = a + k as f64 * h;
        s += if k % 2 == 1 { 4.0 * f(x) } else { 2.0 * f(x) };
    }
    s * h / 3.0
}

/// Cumulative trapezoid integral of samples `values` on a uniform grid of spacing `h`:
/// out[k] = integral from the first grid point to the k-th.
pub fn cumulative_trapezoid(values: &[f64], h: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len());
    let mut acc = 0.0;
    out.push(0.0);
    for w in values.windows(2) {
        acc += 0.5 * h * (w[0] + w[1]);
        out.push(acc);
    }
    out.truncate(values.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simpson_is_exact_for_cubics_and_converges() {
        let v = simpson(|x| x * x * x - 2.0 * x, 0.0, 2.0, 2);
        assert!((v - 0.0).abs() < 1e-14);
        let v = simpson(crate::math::exp, 0.0, 1.0, 200);
        // Error bound h^4/180 * e ~ 1e-12.
        assert!((v - (crate::math::exp(1.0) - 1.0)).abs() < 1e-11);
    }

    #[test]
    fn cumulative_trapezoid_of_a_line_is_exact() {
        let h = 0.5;
        let vals: Vec<f64> = (0..5).map(|k| k as f64 * h).collect();
        let c = cumulative_trapezoid(&vals, h);
        for (k, ck) in c.iter().enumerate() {
            let x = k as f64 * h;
            assert!((ck - x * x / 2.0).abs() < 1e-15);
        }
    }
}
