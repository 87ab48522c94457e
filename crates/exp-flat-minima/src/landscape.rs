//! The one-dimensional landscapes and noise models of the Langevin claims, with exact derivatives.
//!
//! - the double well L(w) = (w^2 - 1)^2 (from `sgd_sim::potential::DoubleWell`);
//! - the compressed double well of `flat-basin-occupancy`: L(w) = (w^2 - 1)^2 for w <= 0 and
//!   ((c w)^2 - 1)^2 for w > 0. Both minima have depth 1; the right one, at 1/c, has curvature
//!   8 c^2 against 8 on the left. L and L' are continuous at the barrier w = 0 (L'(0) = 0), L'' jumps
//!   from -4 to -4 c^2;
//! - the diffusion profiles D(w): constant T, or T (1 + g sigma(w / s)) with sigma the logistic
//!   function, which raises the noise by the factor 1 + g on the sharp side.
//!
//! The update of every chain is the Euler–Maruyama step of dw = -L'(w) dt + sqrt(2 D(w)) dW,
//!
//!   w <- w - eta L'(w) + sqrt(2 eta D(w)) xi,  xi ~ N(0, 1),
//!
//! i.e. SGD with gradient noise of variance 2 D(w) / eta, whose temperature is T = eta s^2 / 2.

use sgd_sim::math::logistic;
use sgd_sim::potential::Potential;

/// The compressed double well: (w^2 - 1)^2 for w <= 0, ((c w)^2 - 1)^2 for w > 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompressedDoubleWell {
    /// The compression c > 0 of the right basin (its minimum sits at 1/c, curvature 8 c^2).
    pub compression: f64,
}

impl Potential for CompressedDoubleWell {
    #[inline]
    fn value(&self, w: f64) -> f64 {
        let u = if w > 0.0 { self.compression * w } else { w };
        let q = u * u - 1.0;
        q * q
    }
    #[inline]
    fn derivative(&self, w: f64) -> f64 {
        // d/dw ((c w)^2 - 1)^2 = 4 c^2 w ((c w)^2 - 1); c = 1 on the left.
        let c2 = if w > 0.0 {
            self.compression * self.compression
        } else {
            1.0
        };
        4.0 * c2 * w * (c2 * w * w - 1.0)
    }
    #[inline]
    fn second_derivative(&self, w: f64) -> f64 {
        let c2 = if w > 0.0 {
            self.compression * self.compression
        } else {
            1.0
        };
        c2 * (12.0 * c2 * w * w - 4.0)
    }
}

/// A diffusion coefficient D(w) (half the variance rate of the noise).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Diffusion {
    /// D(w) = T: isotropic noise at temperature T.
    Constant {
        /// The temperature T.
        temperature: f64,
    },
    /// D(w) = T (1 + gain sigma(w / width)): T on the left, T (1 + gain) on the right, switching
    /// over a few `width` around 0.
    Logistic {
        /// The temperature T far on the left.
        temperature: f64,
        /// The relative increase on the right (3 makes the noise 4x larger).
        gain: f64,
        /// The width of the switch.
        width: f64,
    },
}

impl Diffusion {
    /// D(w).
    #[inline]
    pub fn at(&self, w: f64) -> f64 {
        match *self {
            Diffusion::Constant { temperature } => temperature,
            Diffusion::Logistic {
                temperature,
                gain,
                width,
            } => temperature * (1.0 + gain * logistic(w / width)),
        }
    }

    /// The smallest value of D anywhere (for grid resolutions).
    pub fn minimum(&self) -> f64 {
        match *self {
            Diffusion::Constant { temperature } => temperature,
            Diffusion::Logistic {
                temperature, gain, ..
            } => temperature * (1.0 + gain.min(0.0)),
        }
    }

    /// The length scale over which D varies (infinite when constant).
    pub fn length_scale(&self) -> f64 {
        match *self {
            Diffusion::Constant { .. } => f64::INFINITY,
            Diffusion::Logistic { width, .. } => width,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_well_landmarks_and_derivatives() {
        let p = CompressedDoubleWell { compression: 2.0 };
        assert_eq!(p.value(-1.0), 0.0);
        assert_eq!(p.value(0.5), 0.0);
        assert_eq!(p.value(0.0), 1.0);
        assert_eq!(p.second_derivative(-1.0), 8.0);
        assert_eq!(p.second_derivative(0.5), 32.0);
        // Central differences with h = 1e-6 away from the kink of L'' at 0: truncation
        // O(h^2 L''') ~ 1e-10, rounding O(eps L / h) ~ 1e-10; 1e-6 relative is safe.
        let h = 1e-6;
        for &w in &[-1.7, -1.0, -0.3, 0.2, 0.5, 0.9] {
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
        // L' is continuous at the barrier.
        assert!(p.derivative(1e-12).abs() < 1e-10 && p.derivative(-1e-12).abs() < 1e-10);
    }

    #[test]
    fn logistic_diffusion_limits() {
        let d = Diffusion::Logistic {
            temperature: 0.5,
            gain: 3.0,
            width: 0.05,
        };
        assert!((d.at(-5.0) - 0.5).abs() < 1e-12);
        assert!((d.at(5.0) - 2.0).abs() < 1e-12);
        assert!((d.at(0.0) - 1.25).abs() < 1e-15);
        assert_eq!(d.minimum(), 0.5);
    }
}
