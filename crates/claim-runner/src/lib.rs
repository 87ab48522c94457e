//! The runner behind `cargo xtask`: assembles the registry of every family, loads and validates
//! claim files, runs the selected claims on one rayon pool, and writes results and figures.
//!
//! - [`families`]: the one list of family crates (registration and source hashes);
//! - [`verify`]: `verify-claims`, from claim files to result files and SVGs;
//! - [`cli`]: argument parsing, output and exit codes.
//!
//! Invariant: everything written goes through `claim_spec::result::write_atomic`; nothing written
//! depends on the thread count, the clock or the machine.

pub mod cli;
pub mod families;
pub mod scaffold;
pub mod schema;
pub mod verify;

/// Exit codes of the runner (DESIGN.md, "Command line"; BSD sysexits for 64 and 65).
pub mod exit {
    /// Every selected claim passed.
    pub const OK: u8 = 0;
    /// An internal error: a bug or an I/O failure.
    pub const INTERNAL: u8 = 1;
    /// At least one claim failed its checks or its run failed.
    pub const CLAIM_FAILED: u8 = 2;
    /// A usage error.
    pub const USAGE: u8 = 64;
    /// Invalid claim files, found before anything ran.
    pub const INVALID_CLAIMS: u8 = 65;
}
