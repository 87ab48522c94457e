//! Experiment kinds by name: each registered [`Experiment`] with its typed parameters, its
//! defaults, its JSON schema and its validation.
//!
//! A family crate registers each kind with one line, `registry.add::<KramersEscape>()`; the name
//! is the kind's [`Experiment::KIND`].

use crate::experiment::{
    Experiment, ExperimentError, ExperimentParams, ParamError, RunContext, run_experiment,
};
use crate::names::{closest, valid_kind_name};
use crate::outcome::Outcome;
use crate::yaml::{YamlError, parse_yaml};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Arc;

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

type ParamsRun<P> = dyn Fn(&P, &RunContext) -> Result<Outcome, ExperimentError> + Send + Sync;
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

    /// Registers the kind `E` under its name [`Experiment::KIND`].
    ///
    /// # Panics
    /// Panics when the name is registered twice or is not `<family>/<name>` in lowercase with
    /// dashes: a programming error caught by the registry's own test.
    pub fn add<E: Experiment>(&mut self) {
        self.add_run::<E::Params>(E::KIND, run_experiment::<E>);
    }

    /// Registers a run function directly, bypassing the three-step shape. Only for tests of the
    /// runner itself (kinds that diverge, return NaN or panic on purpose).
    ///
    /// # Panics
    /// As [`Registry::add`].
    pub fn add_run<P: ExperimentParams>(
        &mut self,
        name: &str,
        run: fn(&P, &RunContext) -> Result<Outcome, ExperimentError>,
    ) {
        self.add_closure::<P>(name, Arc::new(run));
    }

    fn add_closure<P: ExperimentParams>(&mut self, name: &str, run: Arc<ParamsRun<P>>) {
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
            let run = Arc::clone(&run);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::Figures;
    use crate::outcome::Metrics;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

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

    struct ToyKind;

    struct Counted(u64);

    impl crate::experiment::MeasuredData for Counted {
        fn samples(&self) -> u64 {
            self.0
        }
    }

    impl Experiment for ToyKind {
        const KIND: &'static str = "toy-family/toy";
        type Params = Toy;
        type Measured = Counted;
        fn measure(p: &Toy, _ctx: &RunContext) -> Result<Counted, ExperimentError> {
            Ok(Counted(p.trajectories))
        }
        fn metrics(_p: &Toy, m: &Counted) -> Result<Metrics, ExperimentError> {
            let mut out = Metrics::new();
            out.measured("n", m.0 as f64);
            Ok(out)
        }
        fn figures(_p: &Toy, _m: &Counted) -> Result<Figures, ExperimentError> {
            Ok(Figures::new())
        }
    }

    fn toy_run(p: &Toy, ctx: &RunContext) -> Result<Outcome, ExperimentError> {
        run_experiment::<ToyKind>(p, ctx)
    }

    #[test]
    fn prepare_parses_validates_and_runs() {
        let mut r = Registry::new();
        r.add::<ToyKind>();
        let kind = r.get("toy-family/toy").unwrap();
        let p = kind
            .prepare("id: x\nparams:\n  trajectories: 5\n  eta: 0.1\n")
            .unwrap();
        assert!(p.validation.is_ok());
        assert_eq!(p.estimated_work, 5.0);
        let out = (p.run)(&RunContext::new("x", 1)).unwrap();
        assert_eq!(out.metrics["n"].value, 5.0);
        assert_eq!(out.samples, 5);

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
        r.add_run("escape-rates/kramers", toy_run);
        r.add_run("minibatch-noise/variance", toy_run);
        assert_eq!(
            r.suggest("escape-rates/kramer"),
            Some("escape-rates/kramers")
        );
        assert_eq!(
            r.suggest("minibatch-noise/varience"),
            Some("minibatch-noise/variance")
        );
        assert_eq!(r.suggest("zzzz"), None);
    }
}
