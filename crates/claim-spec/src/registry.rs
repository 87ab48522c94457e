//! Experiment kinds: a name `<family>/<name>`, a typed parameter struct, and a run function.
//!
//! A family crate registers each kind with one line, `registry.add("family/name", run)`, where
//! `run: fn(&Params, &RunContext) -> Result<Outcome, ExperimentError>`. The parameter type gives
//! the kind its defaults, its JSON schema and its validation.

use crate::load::{YamlError, parse_yaml};
use crate::outcome::Outcome;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sgd_sim::SimError;
use sgd_sim::rng::Streams;
use std::collections::BTreeMap;
use std::sync::Arc;

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
/// `Default` gives the defaults of CLAIMS.md; `#[serde(default, deny_unknown_fields)]` on the
/// struct lets a claim file omit a key (taking its default) but never misspell one.
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

/// What a run may read: its seed, the scale of sample counts, and its id.
#[derive(Clone, Debug, PartialEq)]
pub struct RunContext {
    /// The claim seed (or a seed derived from it, for robustness runs).
    pub seed: u64,
    /// Multiplier on trajectory and replica counts (1 by default); bounds still apply.
    pub scale: f64,
    /// The claim id, for messages.
    pub claim_id: String,
}

impl RunContext {
    /// A context with scale 1.
    pub fn new(claim_id: impl Into<String>, seed: u64) -> Self {
        Self {
            seed,
            scale: 1.0,
            claim_id: claim_id.into(),
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
}

impl From<SimError> for ExperimentError {
    fn from(e: SimError) -> Self {
        match e {
            SimError::Diverged { step, reason } => ExperimentError::Diverged { step, reason },
            SimError::InvalidInput(m) => ExperimentError::InvalidParams(m),
            SimError::LinearAlgebra(m) => ExperimentError::Numerical(m),
        }
    }
}

impl From<ParamError> for ExperimentError {
    fn from(e: ParamError) -> Self {
        ExperimentError::InvalidParams(e.to_string())
    }
}

/// A run function bound to parsed parameters.
pub type BoundRun = Arc<dyn Fn(&RunContext) -> Result<Outcome, ExperimentError> + Send + Sync>;

/// The parameters of one claim file, parsed for its kind and ready to run.
#[derive(Clone)]
pub struct PreparedParams {
    /// Runs the experiment with these parameters.
    pub run: BoundRun,
    /// The kind's range validation of these parameters.
    pub validation: Result<(), ParamError>,
    /// The estimated cost in elementary steps.
    pub estimated_work: f64,
    /// The parameters as parsed, defaults filled in, as YAML (for provenance and `new-claim`).
    pub resolved: serde_yaml::Value,
}

impl std::fmt::Debug for PreparedParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedParams")
            .field("validation", &self.validation)
            .field("estimated_work", &self.estimated_work)
            .finish()
    }
}

type PrepareFn = dyn Fn(&str) -> Result<PreparedParams, YamlError> + Send + Sync;
type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// A registered experiment kind.
pub struct Kind {
    /// `<family>/<name>`.
    pub name: String,
    prepare: Box<PrepareFn>,
    default_params: fn() -> serde_yaml::Value,
    schema: SchemaFn,
}

impl Kind {
    /// Parses the `params` of a whole claim-file text for this kind (errors carry positions).
    ///
    /// # Errors
    /// The YAML error, with line, column and the path of the offending key.
    pub fn prepare(&self, claim_source: &str) -> Result<PreparedParams, YamlError> {
        (self.prepare)(claim_source)
    }

    /// The kind's default parameters as YAML.
    pub fn default_params(&self) -> serde_yaml::Value {
        (self.default_params)()
    }

    /// The JSON schema of the kind's parameters.
    pub fn params_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        (self.schema)(generator)
    }
}

#[derive(serde::Deserialize)]
#[serde(bound = "P: DeserializeOwned + Default")]
struct ParamsOnly<P> {
    #[serde(default)]
    params: P,
}

/// All registered kinds, by name.
#[derive(Default)]
pub struct Registry {
    kinds: BTreeMap<String, Kind>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a kind: its name and its run function. The parameter type is inferred from `run`.
    ///
    /// # Panics
    /// Panics when the name is registered twice or is not `<family>/<name>` in lowercase with
    /// dashes: a programming error caught by the registry's own test.
    pub fn add<P: ExperimentParams>(
        &mut self,
        name: &str,
        run: fn(&P, &RunContext) -> Result<Outcome, ExperimentError>,
    ) {
        assert!(
            valid_kind_name(name),
            "kind name `{name}` is not <family>/<name> in lowercase with dashes"
        );
        let prepare = move |source: &str| -> Result<PreparedParams, YamlError> {
            let parsed: ParamsOnly<P> = parse_yaml(source)?;
            let params = Arc::new(parsed.params);
            let validation = params.validate();
            let estimated_work = params.estimated_work();
            let resolved = serde_yaml::to_value(&*params).unwrap_or(serde_yaml::Value::Null);
            let bound: BoundRun = Arc::new(move |ctx: &RunContext| run(&params, ctx));
            Ok(PreparedParams {
                run: bound,
                validation,
                estimated_work,
                resolved,
            })
        };
        let kind = Kind {
            name: name.to_owned(),
            prepare: Box::new(prepare),
            default_params: || {
                serde_yaml::to_value(P::default()).unwrap_or(serde_yaml::Value::Null)
            },
            schema: |g| g.subschema_for::<P>(),
        };
        let previous = self.kinds.insert(name.to_owned(), kind);
        assert!(previous.is_none(), "kind `{name}` registered twice");
    }

    /// The kind called `name`.
    pub fn get(&self, name: &str) -> Option<&Kind> {
        self.kinds.get(name)
    }

    /// All kinds, sorted by name.
    pub fn kinds(&self) -> impl Iterator<Item = &Kind> {
        self.kinds.values()
    }

    /// The registered name closest to `name`, if any is reasonably close.
    pub fn suggest(&self, name: &str) -> Option<&str> {
        closest(name, self.kinds.keys().map(String::as_str))
    }
}

/// Whether `name` is `<family>/<name>` with lowercase letters, digits and dashes.
pub fn valid_kind_name(name: &str) -> bool {
    let mut parts = name.split('/');
    let ok = |s: Option<&str>| s.is_some_and(crate::load::valid_slug);
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// The candidate closest to `word` by Jaro–Winkler similarity, when the similarity is at least 0.8
/// or one contains the other.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            let contains = c.contains(word) || word.contains(c);
            let s = strsim::jaro_winkler(word, c).max(if contains { 0.85 } else { 0.0 });
            (s, c)
        })
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    struct Toy {
        trajectories: u64,
        eta: f64,
    }

    impl ExperimentParams for Toy {
        fn validate(&self) -> Result<(), ParamError> {
            ParamError::at_least("trajectories", self.trajectories, 1)?;
            ParamError::positive("eta", self.eta)
        }
        fn estimated_work(&self) -> f64 {
            self.trajectories as f64
        }
    }

    fn toy_run(p: &Toy, _ctx: &RunContext) -> Result<Outcome, ExperimentError> {
        let mut o = Outcome::new();
        o.exact("n", p.trajectories as f64);
        Ok(o)
    }

    #[test]
    fn prepare_parses_validates_and_runs() {
        let mut r = Registry::new();
        r.add("toy-family/toy", toy_run);
        let kind = r.get("toy-family/toy").unwrap();
        let p = kind
            .prepare("id: x\nparams:\n  trajectories: 5\n  eta: 0.1\n")
            .unwrap();
        assert!(p.validation.is_ok());
        assert_eq!(p.estimated_work, 5.0);
        let out = (p.run)(&RunContext::new("x", 1)).unwrap();
        assert_eq!(out.metrics["n"].value, 5.0);

        let bad = kind
            .prepare("id: x\nparams:\n  trajectories: 0\n  eta: 0.1\n")
            .unwrap();
        assert_eq!(bad.validation.unwrap_err().key, "trajectories");

        let err = kind
            .prepare("id: x\nparams:\n  trajectorys: 5\n")
            .unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("trajectorys"), "{}", err.message);
    }

    #[test]
    fn suggestions_find_near_names() {
        let mut r = Registry::new();
        r.add("escape-rates/kramers", toy_run);
        r.add("minibatch-noise/variance", toy_run);
        assert_eq!(
            r.suggest("escape-rates/kramer"),
            Some("escape-rates/kramers")
        );
        assert_eq!(
            r.suggest("minibatch-noise/varience"),
            Some("minibatch-noise/variance")
        );
        assert_eq!(r.suggest("zzzz"), None);
        assert!(
            valid_kind_name("a-b/c-d")
                && !valid_kind_name("a/b/c")
                && !valid_kind_name("A/b")
                && !valid_kind_name("a/")
        );
    }
}
