//! Family `training-phases` of CLAIMS.md (work in progress: its kinds are registered as they land).

use claim_spec::Registry;

/// Hash of this crate's sources, part of its results' `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Registers the family's kinds.
pub fn register(_registry: &mut Registry) {}
