//! One module per command of `cargo xtask`. Each takes the parsed arguments and the
//! [`Reporter`](crate::report::Reporter), and returns the exit code.

pub mod bench_reference;
pub mod bench_table;
pub mod build_site;
pub mod check_site;
pub mod drift;
pub mod new_claim;
pub mod schema;
pub mod seeds;
pub mod verify_claims;

use crate::verify::Paths;
use std::path::Path;

/// A path relative to the repository root, for messages.
pub(crate) fn shown(paths: &Paths, p: &Path) -> String {
    p.strip_prefix(&paths.root)
        .unwrap_or(p)
        .display()
        .to_string()
}
