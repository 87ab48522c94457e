//! Family `training-phases` (post sections 4.2 and 5): how schedules of step size and
//! batch size shape training, the order in which a deep linear network learns, and constant-step
//! SGD as approximate posterior sampling.
//!
//! - [`increase_batch`]: decaying the step and growing the batch are equivalent at equal eta/b;
//! - [`three_regime`]: explore, converge, refine against constant steps (noisy quadratic, tilted well);
//! - [`implicit_curriculum`]: modes are learned in order of their singular values, noise or not;
//! - [`sgd_as_bayes`]: the stationary covariance of SGD against the posterior.
//!
//! The theory each claim checks against lives in its own module: [`sgd_moments`] (second moments of
//! SGD on least squares), [`staged_quadratic`] (the noisy quadratic under staged steps), [`well`]
//! (the tilted double well), [`deep_linear`] (Saxe et al.'s mode dynamics), [`lyapunov`] and
//! [`gaussian`] (stationary covariances and KL divergences).

use claim_spec::Registry;

pub mod deep_linear;
pub mod gaussian;
pub mod implicit_curriculum;
pub mod increase_batch;
pub mod least_squares;
pub mod lyapunov;
pub mod math_util;
pub mod sgd_as_bayes;
pub mod sgd_moments;
pub mod staged_quadratic;
pub mod three_regime;
pub mod well;

/// Hash of this crate's sources, part of its results' `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Registers the family's kinds.
pub fn register(registry: &mut Registry) {
    registry.add::<increase_batch::IncreaseBatch>();
    registry.add::<three_regime::ThreeRegime>();
    registry.add::<implicit_curriculum::ImplicitCurriculum>();
    registry.add::<sgd_as_bayes::SgdAsBayes>();
}
