//! Family `escape-rates` (post section 2.1): noise lets SGD escape minima at an Arrhenius rate set by
//! the temperature eta * (noise variance) / 2, and kicks it off saddles where gradient descent crawls.
//!
//! - [`kernel`]: the hot path, exit-step counts of w <- w - eta (L'(w) + noise), several
//!   trajectories per thread, each with its own stream;
//! - [`chain`]: the exact mean exit step of the discrete SGD chain (the discretization bias);
//! - [`well`]: the double well's exact Langevin passage time, Kramers' asymptote and chain time;
//! - [`saddle`]: exit-step formulas at the quartic saddle;
//! - one module per claim.

use claim_spec::Registry;

pub mod chain;
pub mod effective_temperature;
pub mod kernel;
pub mod kramers_escape;
pub mod measure;
pub mod saddle;
pub mod saddle_escape;
pub mod well;

/// Hash of this crate's sources, part of its results' `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Registers the family's kinds.
pub fn register(registry: &mut Registry) {
    registry.add::<kramers_escape::KramersEscape>();
    registry.add::<effective_temperature::EffectiveTemperature>();
    registry.add::<saddle_escape::SaddleEscape>();
}
