//! Claim files and result files: the two contracts of sgd-claims (described in
//! `claims/README.md`), and the one shape of an experiment kind.
//!
//! - [`claim`]: the claim-file types, parsed with unknown keys rejected;
//! - [`yaml`]: the one YAML entry point, with positions and key paths in every error;
//! - [`names`]: ids, figure and kind names, and "did you mean" suggestions;
//! - [`load`]: discovery, size limits, validation with file/line/column/key in every error;
//! - [`experiment`]: the [`Experiment`] trait (measure, metrics, figures), parameters, the run
//!   context;
//! - [`registry`]: experiment kinds by name;
//! - [`outcome`]: metrics with intervals and basis, tables, and the composed outcome;
//! - [`figure`]: figure data, which the `figures` crate draws;
//! - [`placeholders`]: `{params.KEY}` and `{metrics.NAME}` in claim-file prose;
//! - [`evaluate`]: bound checks, wording checks and the computed verdict;
//! - [`sections`]: the post's sections, once;
//! - [`result`]: the deterministic result file and its atomic write.
//!
//! Invariants: all YAML parsing goes through [`load::parse_yaml`]; a result file never holds a NaN,
//! an infinity, a time, a host name or an absolute path.

pub mod claim;
pub mod evaluate;
pub mod experiment;
pub mod figure;
pub mod load;
pub mod names;
pub mod outcome;
pub mod placeholders;
pub mod registry;
pub mod result;
pub mod sections;
pub mod yaml;

pub use claim::{Bound, CheckSpec, ClaimFile, FigureRef, Verdict};
pub use evaluate::{Evaluation, evaluate};
pub use experiment::{
    Experiment, ExperimentError, ExperimentParams, MeasuredData, ParamError, RunContext,
};
pub use figure::{FigureData, Figures};
pub use load::{LoadError, LoadedClaim, load_claims};
pub use outcome::{Basis, Cell, Metric, Metrics, Outcome, Table};
pub use registry::Registry;
pub use result::{ResultFile, Status};

/// Hash of this crate's sources, part of every result's `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");
