//! The end-to-end tests, in one test binary (one link instead of one per file). Every claim here is
//! small: the committed claims run at full size in `cargo xtask verify-claims`, and under derived
//! seeds in `.ci/run`, never in `cargo test`.

mod bad_input;
mod build_site;
mod cases;
mod cli;
mod contributors;
mod determinism;
mod incremental;
mod reproduce;
mod seeds;
mod tidy;
