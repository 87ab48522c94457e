//! The runner behind `cargo xtask`: assembles the registry of every family, loads and validates
//! claim files, runs the selected claims on one rayon pool, verifies them against their committed
//! results, and writes results and figures.
//!
//! - [`cli`]: argument parsing and dispatch; [`commands`]: one module per command;
//! - [`report`]: the one reporter for text and JSON output;
//! - [`verify`]: from claim files to results (load, select, shard, run, write, seeds, drift);
//! - [`compare`]: whether a fresh result reproduces the committed one;
//! - [`interrupt`]: SIGINT and SIGTERM;
//! - [`families`]: the one list of family crates (registration and code versions);
//! - [`schema`], [`scaffold`], [`reference`], [`timings`]: the schemas, `new-claim`,
//!   `bench-reference` and the `bench-table` timing file.
//!
//! Invariant: everything written goes through `claim_spec::result::write_atomic`; nothing written
//! depends on the thread count, the clock or the machine (the timing file records its machine).

pub mod cli;
pub mod commands;
pub mod compare;
pub mod families;
pub mod interrupt;
pub mod progress;
pub mod reference;
pub mod report;
pub mod scaffold;
pub mod schema;
pub mod timings;
pub mod verify;

/// Exit codes of the runner (BSD sysexits for 64, 65 and 69; 128 + the signal after an interrupt).
pub mod exit {
    /// Every selected claim passed.
    pub const OK: u8 = 0;
    /// An internal error: a bug or an I/O failure.
    pub const INTERNAL: u8 = 1;
    /// At least one claim failed its checks, did not reproduce, or its run failed; or a result or
    /// figure file belongs to no claim.
    pub const CLAIM_FAILED: u8 = 2;
    /// A check found a problem: `build-site --check` found the committed post stale, `schema
    /// --check` a stale schema, or `check-site` render problems.
    pub const CHECK_FAILED: u8 = 2;
    /// A usage error.
    pub const USAGE: u8 = 64;
    /// Invalid claim files, found before anything ran.
    pub const INVALID_CLAIMS: u8 = 65;
    /// Invalid site inputs: a template error, an invalid result or timing file, a lint violation.
    pub const INVALID_INPUT: u8 = 65;
    /// A tool that `check-site` needs is missing (BSD EX_UNAVAILABLE).
    pub const UNAVAILABLE: u8 = 69;
    /// Interrupted by SIGINT.
    pub const SIGINT: u8 = 130;
    /// Interrupted by SIGTERM.
    pub const SIGTERM: u8 = 143;
}
