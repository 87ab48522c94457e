//! Family `minibatch-noise` (post section 1.1): a minibatch gradient is an unbiased estimate of the
//! full gradient, and its variance is tr(Sigma)/b, with the finite-population factor without replacement.
//!
//! Both claims evaluate per-sample gradients of one least-squares data set at one fixed point, so
//! every minibatch gradient is the mean of b rows of a precomputed N x d matrix.

use claim_spec::Registry;

pub mod data;
pub mod gradient_unbiased;
pub mod minibatch_variance;

/// Hash of this crate's sources, part of its results' `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Registers the family's kinds.
pub fn register(registry: &mut Registry) {
    registry.add::<gradient_unbiased::GradientUnbiased>();
    registry.add::<minibatch_variance::MinibatchVariance>();
}
