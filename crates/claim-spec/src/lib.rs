//! Claim files and result files: the two contracts of sgd-claims (DESIGN.md).
//!
//! - [`claim`]: the claim-file types, parsed with unknown keys rejected;
//! - [`load`]: discovery, size limits, YAML parsing with file/line/column/key in every error;
//! - [`registry`]: experiment kinds, their typed parameters, and the run context;
//! - [`outcome`]: what an experiment returns (metrics with intervals, tables, figure data);
//! - [`figure`]: the data of a figure, which the `figures` crate draws;
//! - [`evaluate`]: bound checks, wording checks and the computed verdict;
//! - [`result`]: the deterministic result file and its atomic write.
//!
//! Invariants: all YAML parsing goes through [`load::parse_yaml`]; a result file never holds a NaN,
//! an infinity, a time, a host name or an absolute path.

pub mod claim;
pub mod evaluate;
pub mod figure;
pub mod load;
pub mod outcome;
pub mod registry;
pub mod result;

pub use claim::{Bound, CheckSpec, ClaimFile, FigureRef, Verdict};
pub use evaluate::{Evaluation, evaluate};
pub use load::{LoadError, LoadedClaim, load_claims};
pub use outcome::{Cell, Metric, Outcome, Table};
pub use registry::{ExperimentError, ExperimentParams, ParamError, Registry, RunContext};
pub use result::{ResultFile, Status};

/// Hash of this crate's sources, part of every result's `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");
