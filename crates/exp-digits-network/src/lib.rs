//! Family `digits-network` (post sections 2.2, 2.3, 3.1, 3.2): the post's deep-network claims
//! measured on a real network with a real held-out test set, a 64-32-10 tanh network trained by
//! SGD on the UCI 8x8 digits.
//!
//! - [`data`]: the committed data file, its checks, the fixed stratified split, preprocessing;
//! - [`train`]: one SGD run with its variants and probes (sharpness, gradient noise scale);
//! - one module per claim.

use claim_spec::Registry;

pub mod common;
pub mod critical_batch;
pub mod data;
pub mod generalization_gap;
pub mod label_smoothing;
pub mod linear_scaling;
pub mod noise_regularizers;
pub mod small_batch_flatter;
pub mod train;

#[cfg(test)]
mod train_tests;

/// Hash of this crate's sources, of the network crate and of the data file, part of its results'
/// `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Registers the family's kinds.
pub fn register(registry: &mut Registry) {
    registry.add::<small_batch_flatter::SmallBatchFlatter>();
    registry.add::<generalization_gap::GeneralizationGap>();
    registry.add::<linear_scaling::LinearScaling>();
    registry.add::<critical_batch::CriticalBatch>();
    registry.add::<label_smoothing::LabelSmoothing>();
    registry.add::<noise_regularizers::NoiseRegularizers>();
}
