//! Family `flat-minima` (post sections 2.2 and 5): does SGD noise bias training towards flat minima?
//!
//! - [`gibbs_stationary`]: constant-step Langevin SGD samples the Gibbs density up to O(eta);
//! - [`flat_basin_occupancy`]: the stationary weight of a flat basin against a sharp one of the same
//!   depth under minibatch noise that arises from per-example losses, at several ratios of the
//!   noise at the two minima (measured);
//! - [`linear_stability_batch`]: which minima SGD can stay in, by batch size (Wu, Ma and E 2018),
//!   in mean square and per run, with simulated runs near the per-run edges;
//! - [`small_batch_flatter`]: sharpness and test loss of small- and large-batch training of a small
//!   tanh network (Keskar et al. 2017), with exact Hessian-vector products.
//!
//! Shared pieces: [`landscape`] (potentials and noise models), [`chains`] (lockstep Langevin chains),
//! [`stationary`] (Gibbs, Ito and exact Euler-chain stationary laws), [`resample`] (bootstrap),
//! [`stability`] (per-trajectory and sampled mean-square thresholds), [`network`] and [`spectrum`]
//! (the tanh network with its R-operator, Lanczos and power iteration).

use claim_spec::Registry;

pub mod chains;
pub mod flat_basin_occupancy;
pub mod gibbs_stationary;
pub mod landscape;
pub mod linear_stability_batch;
pub mod network;
pub mod resample;
pub mod small_batch_flatter;
pub mod spectrum;
pub mod stability;
pub mod stationary;

/// Hash of this crate's sources, part of its results' `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Registers the family's kinds.
pub fn register(registry: &mut Registry) {
    registry.add::<gibbs_stationary::GibbsStationary>();
    registry.add::<flat_basin_occupancy::FlatBasinOccupancy>();
    registry.add::<linear_stability_batch::LinearStabilityBatch>();
    registry.add::<small_batch_flatter::SmallBatchFlatter>();
}
