//! Family `scaling-rules` (post section 3.1): the batch size as a control.
//!
//! - [`linear_scaling`]: claim `linear-scaling-rule`, on the noisy quadratic model ([`nqm_sgd`]);
//! - [`batch_tradeoffs`]: claim `batch-size-tradeoffs`, the deterministic part (noise and memory of
//!   the step in [`minibatch_step`]); [`timings`] names the criterion benchmark of that step, which
//!   `cargo xtask bench-table` turns into the committed timing file;
//! - [`instability`]: claim `instability-remedies`, on the problem of [`per_sample_quadratic`].

use claim_spec::Registry;

pub mod batch_tradeoffs;
pub mod instability;
pub mod linear_scaling;
pub mod minibatch_step;
pub mod nqm_sgd;
pub mod per_sample_quadratic;
pub mod timings;

/// Hash of this crate's sources, part of its results' `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Registers the family's kinds.
pub fn register(registry: &mut Registry) {
    registry.add::<linear_scaling::LinearScaling>();
    registry.add::<batch_tradeoffs::BatchNoiseAndMemory>();
    registry.add::<instability::InstabilityRemedies>();
}
