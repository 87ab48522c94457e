//! One-dimensional potentials L(w) with exact first and second derivatives.

/// A smooth 1-D potential with exact derivatives.
pub trait Potential: Sync {
    /// L(w).
    fn value(&self, w: f64) -> f64;
    /// L'(w).
    fn derivative(&self, w: f64) -> f64;
    /// L''(w).
    fn second_derivative(&self, w: f64) -> f64;
}

/// The symmetric double well L(w) = h (w^2 - 1)^2: minima at +-1, barrier h at 0, L''(+-1) = 8h, L''(0) = -4h.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DoubleWell {
    /// Barrier height h.
    pub height: f64,
}

impl Potential for DoubleWell {
    #[inline]
    fn value(&self, w: f64) -> f64 {
        let u = w * w - 1.0;
        self.height * u * u
    }
    #[inline]
    fn derivative(&self, w: f64) -> f64 {
        4.0 * self.height * w * (w * w - 1.0)
    }
    #[inline]
    fn second_derivative(&self, w: f64) -> f64 {
        self.height * (12.0 * w * w - 4.0)
    }
}

/// The tilted double well L(w) = (w^2 - 1)^2 + tilt * w.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TiltedDoubleWell {
    /// The linear tilt; positive tilt makes the left well the global minimum.
    pub tilt: f64,
}

impl Potential for TiltedDoubleWell {
    #[inline]
    fn value(&self, w: f64) -> f64 {
        let u = w * w - 1.0;
        u * u + self.tilt * w
    }
    #[inline]
    fn derivative(&self, w: f64) -> f64 {
        4.0 * w * (w * w - 1.0) + self.tilt
    }
    #[inline]
    fn second_derivative(&self, w: f64) -> f64 {
        12.0 * w * w - 4.0
    }
}

/// The quartic saddle L(y) = -lambda y^2 / 2 + y^4 / 4: a maximum at 0, minima at +-sqrt(lambda).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuarticSaddle {
    /// The negative curvature at the saddle, lambda > 0.
    pub lambda: f64,
}

impl Potential for QuarticSaddle {
    #[inline]
    fn value(&self, y: f64) -> f64 {
        let y2 = y * y;
        -0.5 * self.lambda * y2 + 0.25 * y2 * y2
    }
    #[inline]
    fn derivative(&self, y: f64) -> f64 {
        -self.lambda * y + y * y * y
    }
    #[inline]
    fn second_derivative(&self, y: f64) -> f64 {
        -self.lambda + 3.0 * y * y
    }
}

/// A linear potential L(w) = slope * w (constant force), for closed-form tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Linear {
    /// The constant slope.
    pub slope: f64,
}

impl Potential for Linear {
    #[inline]
    fn value(&self, w: f64) -> f64 {
        self.slope * w
    }
    #[inline]
    fn derivative(&self, _w: f64) -> f64 {
        self.slope
    }
    #[inline]
    fn second_derivative(&self, _w: f64) -> f64 {
        0.0
    }
}

/// A potential given by three closures, for families that need a one-off shape.
pub struct FnPotential<V, D, D2> {
    /// L(w).
    pub value: V,
    /// L'(w).
    pub derivative: D,
    /// L''(w).
    pub second_derivative: D2,
}

impl<V, D, D2> Potential for FnPotential<V, D, D2>
where
    V: Fn(f64) -> f64 + Sync,
    D: Fn(f64) -> f64 + Sync,
    D2: Fn(f64) -> f64 + Sync,
{
    fn value(&self, w: f64) -> f64 {
        (self.value)(w)
    }
    fn derivative(&self, w: f64) -> f64 {
        (self.derivative)(w)
    }
    fn second_derivative(&self, w: f64) -> f64 {
        (self.second_derivative)(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Central differences with h = 1e-5: truncation O(h^2 L''') ~ 1e-9 on these O(1)-sized
    // polynomials, rounding O(eps L / h) ~ 1e-10; 1e-6 is a safe bound.
    fn check<P: Potential>(p: &P) {
        let h = 1e-5;
        for &w in &[-1.7, -1.0, -0.3, 0.0, 0.4, 1.0, 2.1] {
            let d = (p.value(w + h) - p.value(w - h)) / (2.0 * h);
            let d2 = (p.derivative(w + h) - p.derivative(w - h)) / (2.0 * h);
            assert!(
                (d - p.derivative(w)).abs() < 1e-6 * (1.0 + d.abs()),
                "L' at {w}"
            );
            assert!(
                (d2 - p.second_derivative(w)).abs() < 1e-6 * (1.0 + d2.abs()),
                "L'' at {w}"
            );
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        check(&DoubleWell { height: 1.3 });
        check(&TiltedDoubleWell { tilt: 0.15 });
        check(&QuarticSaddle { lambda: 1.0 });
        check(&Linear { slope: -2.0 });
        check(&FnPotential {
            value: |w: f64| crate::math::sin(w),
            derivative: |w: f64| crate::math::cos(w),
            second_derivative: |w: f64| -crate::math::sin(w),
        });
    }

    #[test]
    fn double_well_landmarks() {
        let p = DoubleWell { height: 1.0 };
        assert_eq!(p.value(1.0), 0.0);
        assert_eq!(p.value(0.0), 1.0);
        assert_eq!(p.second_derivative(1.0), 8.0);
        assert_eq!(p.second_derivative(0.0), -4.0);
    }
}
