//! The simulation core of sgd-claims: everything an experiment needs to run seeded SGD and measure it.
//!
//! - [`cancel`]: the stop flag that interrupted runs poll;
//! - [`rng`]: one deterministic random stream per (claim seed, purpose, index);
//! - [`objective`], [`potential`], [`data`]: losses with exact gradients;
//! - [`sampler`], [`oracle`]: minibatch samplers and gradient oracles (exact, minibatch, additive noise);
//! - [`schedule`], [`sgd`]: step-size and batch-size schedules and the SGD loop;
//! - [`parallel`]: trajectories spread over threads, combined in index order;
//! - [`stats`]: means with intervals, regression with standard errors, histograms, distances;
//! - [`linalg`]: the one boundary to nalgebra for dense symmetric linear algebra;
//! - [`quadrature`]: composite rules on uniform grids;
//! - [`first_passage`]: exact mean first-passage times of overdamped Langevin dynamics, Kramers' asymptote;
//! - [`noisy_quadratic`]: the closed-form second moments of SGD on the noisy quadratic model;
//! - [`stability`]: the mean-square stability factor of SGD at an interpolating minimum.
//!
//! Invariants: nothing here reads a clock, the environment or an unseeded generator; parallel results
//! never depend on the number of threads; transcendental functions that feed results go through
//! [`math`] (pure-Rust `libm`), so results are the same bits on every machine.

pub mod cancel;
pub mod data;
pub mod first_passage;
pub mod linalg;
pub mod math;
pub mod noisy_quadratic;
pub mod objective;
pub mod oracle;
pub mod parallel;
pub mod potential;
pub mod quadrature;
pub mod rng;
pub mod sampler;
pub mod schedule;
pub mod sgd;
pub mod stability;
pub mod stats;

/// Hash of this crate's sources, part of every result's `code_version`.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Errors of the simulation core.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SimError {
    /// An iterate or a loss became NaN or infinite, or left the region where the run is meaningful.
    #[error("diverged at step {step}: {reason}")]
    Diverged { step: u64, reason: String },
    /// Inputs that violate a documented precondition (empty data, zero batch, mismatched sizes).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A linear-algebra operation failed (a matrix that should be positive definite is not).
    #[error("linear algebra: {0}")]
    LinearAlgebra(String),
    /// The run was cancelled (an interrupt) before it finished.
    #[error("cancelled")]
    Cancelled,
}

impl From<cancel::Cancelled> for SimError {
    fn from(_: cancel::Cancelled) -> Self {
        SimError::Cancelled
    }
}
