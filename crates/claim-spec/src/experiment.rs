//! The one shape of an experiment kind: parameters, a measure step, and pure metric and figure
//! steps.
//!
//! A kind is a unit struct implementing [`Experiment`]:
//!
//! - [`Experiment::measure`] turns the parameters and the [`RunContext`] into the kind's measured
//!   data. It is the only step that draws random numbers (every stream comes from
//!   [`RunContext::streams`]), and it polls [`RunContext::check_cancelled`] so an interrupted run
//!   stops promptly.
//! - [`Experiment::metrics`] turns the parameters and the measured data into named metrics, each
//!   with its 95% interval where it is an estimate and its [`Basis`](crate::outcome::Basis), and
//!   into tables.
//! - [`Experiment::figures`] turns the same inputs into figure data
//!   ([`FigureData`](crate::figure::FigureData)): curves, points with intervals, categories,
//!   histograms. The `figures` crate draws them in the house style.
//!
//! The metric and figure steps are pure functions of their inputs: they draw no random numbers,
//! read no clock and write nothing, so they can be unit-tested on small hand-made measured data.
//! Deterministic theory (quadrature, recursions, closed forms) may be computed in any step. Checks,
//! verdicts, provenance and files belong to the runner, which composes the three steps with
//! [`run_experiment`].

use crate::figure::Figures;
use crate::outcome::{Metrics, Outcome};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sgd_sim::SimError;
use sgd_sim::cancel::{Cancel, Cancelled};
use sgd_sim::rng::Streams;

/// A parameter value out of its valid range, named by its key inside `params`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("params.{key}: {message}")]
pub struct ParamError {
    /// The key inside `params` (dotted for nested keys).
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ParamError {
    /// An error for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Requires a finite, strictly positive number.
    ///
    /// # Errors
    /// When it is not.
    pub fn positive(key: &str, value: f64) -> Result<(), ParamError> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(Self::new(
                key,
                format!("must be a finite positive number, got {value}"),
            ))
        }
    }

    /// Requires a finite number.
    ///
    /// # Errors
    /// When it is not.
    pub fn finite(key: &str, value: f64) -> Result<(), ParamError> {
        if value.is_finite() {
            Ok(())
        } else {
            Err(Self::new(
                key,
                format!("must be a finite number, got {value}"),
            ))
        }
    }

    /// Requires a finite, non-negative number (a noise level, a separation).
    ///
    /// # Errors
    /// When it is not.
    pub fn non_negative(key: &str, value: f64) -> Result<(), ParamError> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(Self::new(
                key,
                format!("must be a finite non-negative number, got {value}"),
            ))
        }
    }

    /// Requires a finite number in `[lo, hi]`.
    ///
    /// # Errors
    /// When it is not.
    pub fn in_range(key: &str, value: f64, lo: f64, hi: f64) -> Result<(), ParamError> {
        if value.is_finite() && (lo..=hi).contains(&value) {
            Ok(())
        } else {
            Err(Self::new(
                key,
                format!("must be a finite number in [{lo}, {hi}], got {value}"),
            ))
        }
    }

    /// Requires a count of at least `min`.
    ///
    /// # Errors
    /// When it is smaller.
    pub fn at_least(key: &str, value: u64, min: u64) -> Result<(), ParamError> {
        if value >= min {
            Ok(())
        } else {
            Err(Self::new(
                key,
                format!("must be at least {min}, got {value}"),
            ))
        }
    }

    /// Requires every element of a list to be finite and positive, and the list non-empty.
    ///
    /// # Errors
    /// At the first element that is not.
    pub fn all_positive(key: &str, values: &[f64]) -> Result<(), ParamError> {
        if values.is_empty() {
            return Err(Self::new(key, "must not be empty"));
        }
        for (i, v) in values.iter().enumerate() {
            Self::positive(&format!("{key}[{i}]"), *v)?;
        }
        Ok(())
    }
}

/// The parameters of one experiment kind.
///
/// `Default` gives the documented defaults; `#[serde(default, deny_unknown_fields)]` on the struct
/// lets a claim file omit a key (taking its default) but never misspell one.
pub trait ExperimentParams:
    DeserializeOwned + Serialize + JsonSchema + Default + Send + Sync + 'static
{
    /// Checks ranges: counts positive, reals finite, sizes consistent.
    ///
    /// # Errors
    /// The first key whose value is invalid.
    fn validate(&self) -> Result<(), ParamError>;

    /// An estimate of the run's cost in elementary steps (one SGD step of one scalar trajectory,
    /// one per-example gradient, ...): about 1e9 per second per core. The runner refuses claims
    /// whose estimate exceeds its limit before running anything.
    fn estimated_work(&self) -> f64;
}

/// What a measurement may read: its seed, the scale of sample counts, its id, and the stop flag.
#[derive(Clone, Debug)]
pub struct RunContext {
    /// The claim seed (or a seed derived from it, for robustness runs).
    pub seed: u64,
    /// Multiplier on trajectory and replica counts (1 by default); bounds still apply.
    pub scale: f64,
    /// The claim id, for messages.
    pub claim_id: String,
    /// Raised by the runner on an interrupt.
    pub cancel: Cancel,
}

impl RunContext {
    /// A context with scale 1 and a flag that is never raised.
    pub fn new(claim_id: impl Into<String>, seed: u64) -> Self {
        Self {
            seed,
            scale: 1.0,
            claim_id: claim_id.into(),
            cancel: Cancel::new(),
        }
    }

    /// The random streams of this run.
    pub fn streams(&self) -> Streams {
        Streams::new(self.seed)
    }

    /// A trajectory or replica count scaled by `scale`, rounded up, at least 1.
    pub fn scaled(&self, count: usize) -> usize {
        ((count as f64 * self.scale).ceil() as usize).max(1)
    }

    /// `Err(Cancelled)` once the run was interrupted; measurements call it between units of work.
    ///
    /// # Errors
    /// When the stop flag is raised.
    pub fn check_cancelled(&self) -> Result<(), ExperimentError> {
        self.cancel.check().map_err(ExperimentError::from)
    }
}

/// Why an experiment run failed. A failed run is a failed claim with this reason, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A simulation left the region where it means anything (NaN, overflow).
    #[error("diverged at step {step}: {reason}")]
    Diverged {
        /// The step at which it was detected.
        step: u64,
        /// What happened.
        reason: String,
    },
    /// Parameters that passed validation but cannot be run together.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// A numerical procedure failed (no bracket, no convergence, a singular matrix).
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// The run was interrupted before it finished.
    #[error("cancelled")]
    Cancelled,
}

impl From<SimError> for ExperimentError {
    fn from(e: SimError) -> Self {
        match e {
            SimError::Diverged { step, reason } => ExperimentError::Diverged { step, reason },
            SimError::InvalidInput(m) => ExperimentError::InvalidParams(m),
            SimError::LinearAlgebra(m) => ExperimentError::Numerical(m),
            SimError::Cancelled => ExperimentError::Cancelled,
        }
    }
}

impl From<Cancelled> for ExperimentError {
    fn from(_: Cancelled) -> Self {
        ExperimentError::Cancelled
    }
}

impl From<ParamError> for ExperimentError {
    fn from(e: ParamError) -> Self {
        ExperimentError::InvalidParams(e.to_string())
    }
}

/// What every kind's measured data tells the runner: how many random samples it drew.
pub trait MeasuredData: Send + Sync + 'static {
    /// Random samples drawn (trajectory steps, batches, ...), recorded in the result's provenance.
    fn samples(&self) -> u64;
}

/// One experiment kind, in three steps (see the module documentation).
pub trait Experiment: 'static {
    /// The kind's name, `<family>/<name>`: the `experiment:` key of claim files.
    const KIND: &'static str;
    /// The parameters a claim file gives.
    type Params: ExperimentParams;
    /// Everything the measure step produced: simulated samples, their summaries, and any random
    /// draws the metric step needs (bootstrap resamples), so that metrics draw none.
    type Measured: MeasuredData;

    /// Runs the simulation. The only step that draws random numbers.
    ///
    /// # Errors
    /// A diverging run, a numerical failure, invalid parameters, or cancellation.
    fn measure(params: &Self::Params, ctx: &RunContext) -> Result<Self::Measured, ExperimentError>;

    /// The metrics (with intervals and basis) and tables: a pure function of its inputs.
    ///
    /// # Errors
    /// A numerical failure of deterministic theory computed here.
    fn metrics(
        params: &Self::Params,
        measured: &Self::Measured,
    ) -> Result<Metrics, ExperimentError>;

    /// The figure data, by figure name: a pure function of its inputs.
    ///
    /// # Errors
    /// A numerical failure of deterministic theory computed here.
    fn figures(
        params: &Self::Params,
        measured: &Self::Measured,
    ) -> Result<Figures, ExperimentError>;
}

/// Runs a kind's three steps in order and composes what the runner evaluates.
///
/// # Errors
/// The first step's error.
pub fn run_experiment<E: Experiment>(
    params: &E::Params,
    ctx: &RunContext,
) -> Result<Outcome, ExperimentError> {
    let measured = E::measure(params, ctx)?;
    let metrics = E::metrics(params, &measured)?;
    let figures = E::figures(params, &measured)?;
    Ok(Outcome {
        metrics: metrics.values,
        tables: metrics.tables,
        figures: figures.into_map(),
        samples: measured.samples(),
    })
}
