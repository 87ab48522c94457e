//! Family `noise-engineering` (post section 3.2): noise put in on purpose. Annealed Gaussian gradient
//! noise on a tilted double well, against a two-state master equation with exact escape rates;
//! label smoothing on separable softmax regression, against its closed-form fixed point; cyclic-shift
//! augmentation in linear regression, against the group-averaged minimizer.

use claim_spec::Registry;

pub mod annealed_gradient_noise;
pub mod augmentation_invariance;
pub mod fokker_planck;
pub mod label_smoothing;
pub mod softmax;
pub mod tilted_well;

/// Hash of this crate's sources, part of its results' `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Registers the family's kinds.
pub fn register(registry: &mut Registry) {
    registry.add::<annealed_gradient_noise::AnnealedGradientNoise>();
    registry.add::<label_smoothing::LabelSmoothing>();
    registry.add::<augmentation_invariance::AugmentationInvariance>();
}
