//! Family `convergence-rates` (post section 4.1): what gradient noise does to convergence.
//!
//! - [`confusion_ball`]: a constant step settles in a ball whose size is proportional to the
//!   temperature eta tr(C) / 2b;
//! - [`robbins_monro`]: step-size schedules eta_t = a t^-p, against the exact second-moment recursion;
//! - [`strongly_convex`]: the O(1/T) rate of eta_t = 1/(mu (t + t0)), and its loss when mu is
//!   overestimated;
//! - [`convex_rate`]: the O(1/sqrt(T)) rate on the convex Lipschitz f(w) = |w|;
//! - [`sgd_vs_gd`]: per-example gradients to a statistical target, GD against SGD, as N grows.
//!
//! Theory lives in [`recursions`] (exact second-moment recursions) and [`sign_chain`] (the
//! stationary mean of |w| under constant-step subgradient descent on |w|); [`slopes`] turns replica
//! averages into log-log slopes with delta-method standard errors.

use claim_spec::Registry;

pub mod confusion_ball;
pub mod convex_rate;
pub mod recursions;
pub mod robbins_monro;
pub mod sgd_vs_gd;
pub mod sign_chain;
pub mod slopes;
pub mod strongly_convex;

/// Hash of this crate's sources, part of its results' `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Registers the family's kinds.
pub fn register(registry: &mut Registry) {
    registry.add::<confusion_ball::ConfusionBall>();
    registry.add::<robbins_monro::RobbinsMonroSchedules>();
    registry.add::<strongly_convex::StronglyConvexRate>();
    registry.add::<convex_rate::ConvexRate>();
    registry.add::<sgd_vs_gd::SgdVsGdCost>();
}
