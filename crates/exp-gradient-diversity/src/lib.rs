//! Family `gradient-diversity` (post section 2.3): gradient diversity kappa = 1 + B_simple, the
//! batch-size knee it sets, and McCandlish et al.'s critical batch size on the noisy quadratic model.
//!
//! Theory of the family lives here: [`diversity`] (kappa of least-squares data sets and its range
//! near an interpolating minimum), [`mccandlish`] (B_noise, B_simple, the one-step optimal rate and
//! gain), [`ls_moments`] (exact expected losses of with-replacement SGD on least squares, from the
//! second-moment recursion), [`tuning`] (the per-b step-size search) and [`hyperbola`] (the fit of
//! S = S_min (1 + B*/b)), and [`sgd_runs`] (simulated minibatch SGD and its steps-to-target with
//! sampling intervals). The closed forms are computed (fitted quantities carry the standard errors
//! of a deterministic fit); every verdict rests on a simulated measurement beside them: sampled
//! minibatches for the identity, simulated SGD runs for the two steps-to-target claims.

use claim_spec::Registry;

pub mod batch_knee;
pub mod critical_batch;
pub mod diversity;
pub mod hyperbola;
pub mod identity;
pub mod ls_moments;
pub mod mccandlish;
pub mod sgd_runs;
pub mod tuning;

/// Hash of this crate's sources, part of its results' `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Registers the family's kinds.
pub fn register(registry: &mut Registry) {
    registry.add::<batch_knee::BatchKnee>();
    registry.add::<critical_batch::CriticalBatch>();
    registry.add::<identity::Identity>();
}
