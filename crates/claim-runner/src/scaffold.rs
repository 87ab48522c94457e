//! `new-claim`: writes a claim file for a registered kind, with the kind's parameters, their
//! defaults and their documentation, ready to edit and to run.

use crate::schema::{claim_schema, params_definition_name};
use claim_spec::names::valid_slug;
use claim_spec::{LoadedClaim, Registry};
use serde_json::Value;

/// Stands for the section in [`new_claim_text`]; `new-claim` replaces it with the section it chose.
pub const SECTION_PLACEHOLDER: &str = "{section}";

/// Why a claim cannot be scaffolded.
#[derive(Debug, PartialEq, Eq)]
pub enum ScaffoldError {
    /// The name is not `<family>/<id>` with slugs.
    InvalidName(String),
    /// The kind is unknown (with the closest one).
    UnknownKind(String, Option<String>),
    /// The id exists already.
    Exists(String),
    /// The kind belongs to another family.
    WrongFamily(String),
}

impl std::fmt::Display for ScaffoldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidName(m) | Self::Exists(m) | Self::WrongFamily(m) => write!(f, "{m}"),
            Self::UnknownKind(k, Some(s)) => {
                write!(f, "unknown experiment kind `{k}` (did you mean `{s}`?)")
            }
            Self::UnknownKind(k, None) => write!(
                f,
                "unknown experiment kind `{k}`; `cargo xtask verify-claims --help` lists families"
            ),
        }
    }
}

/// Splits and checks `<family>/<id>`.
///
/// # Errors
/// When it is not two slugs separated by one `/`.
pub fn parse_name(name: &str) -> Result<(String, String), ScaffoldError> {
    match name.split_once('/') {
        Some((family, id)) if valid_slug(family) && valid_slug(id) => {
            Ok((family.to_owned(), id.to_owned()))
        }
        _ => Err(ScaffoldError::InvalidName(format!(
            "`{name}` is not <family>/<id> with lowercase letters, digits and dashes (no `..`, no further `/`)"
        ))),
    }
}

fn yaml_scalar(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The text of a new claim file. Parameters are the kind's defaults, each with its documentation;
/// checks, wording checks and figures are copied from an existing claim of the same kind when there
/// is one (their bounds were derived for the default parameters: re-derive them if you change any).
///
/// # Errors
/// Unknown kind, existing id, or a kind of another family.
pub fn new_claim_text(
    registry: &Registry,
    existing: &[LoadedClaim],
    family: &str,
    id: &str,
    kind_name: &str,
) -> Result<String, ScaffoldError> {
    let kind = registry.get(kind_name).ok_or_else(|| {
        ScaffoldError::UnknownKind(
            kind_name.to_owned(),
            registry.suggest(kind_name).map(str::to_owned),
        )
    })?;
    if !kind_name.starts_with(&format!("{family}/")) {
        return Err(ScaffoldError::WrongFamily(format!(
            "kind `{kind_name}` belongs to another family than `{family}`"
        )));
    }
    if let Some(c) = existing.iter().find(|c| c.claim.id == id) {
        return Err(ScaffoldError::Exists(format!(
            "a claim with id `{id}` exists already: {}",
            c.path.display()
        )));
    }
    let schema = claim_schema(registry);
    let params_schema = &schema["$defs"][params_definition_name(kind_name)];
    let defaults = kind.default_params();
    let template = existing.iter().find(|c| c.claim.experiment == kind_name);
    let mut text = String::new();
    text.push_str("# yaml-language-server: $schema=../schema.json\n");
    text.push_str(&format!("id: {id}\n"));
    text.push_str(&format!(
        "title: {id} (a claim of kind {kind_name}; edit this title)\n"
    ));
    text.push_str(&format!(
        "section: \"{SECTION_PLACEHOLDER}\"   # the post section whose evidence box shows this claim\n"
    ));
    text.push_str("statement: >\n  What the post claims, in your own words.\n");
    text.push_str("# The expected verdict: the runner computes it from `wording` and fails the claim if they differ.\n");
    match template.map(|t| t.claim.verdict) {
        Some(v) if v != claim_spec::Verdict::Supported => {
            text.push_str(&format!("verdict: {}\nnote: >\n  What the measurement shows, in your words (required for a {} verdict).\n", v.as_str(), v.as_str()));
        }
        _ => text.push_str("verdict: supported\n"),
    }
    text.push_str(&format!("experiment: {kind_name}\n"));
    text.push_str("seed: 20250531\n");
    text.push_str("params:\n");
    if let Some(map) = defaults.as_mapping() {
        for (key, value) in map {
            let key = key.as_str().unwrap_or_default();
            let value = serde_json::to_value(value).unwrap_or(Value::Null);
            let doc = params_schema["properties"][key]["description"]
                .as_str()
                .unwrap_or("")
                .replace('\n', " ");
            let line = format!("  {key}: {}", yaml_scalar(&value));
            if doc.is_empty() {
                text.push_str(&format!("{line}\n"))
            } else {
                text.push_str(&format!("{line}   # {doc}\n"))
            }
        }
    }
    match template {
        Some(template) => {
            text.push_str(&format!(
                "# Checks, wording checks and figures below are copied from {}: their bounds were derived\n# for the default parameters above; re-derive them (about 4 SE plus the known bias) if you change any.\n",
                template.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            ));
            let copy = |key: &str| -> String {
                let value = match key {
                    "checks" => serde_yaml::to_string(&template.claim.checks),
                    "wording" => serde_yaml::to_string(&template.claim.wording),
                    _ => serde_yaml::to_string(&template.claim.figures),
                };
                let body = value.unwrap_or_default();
                if body.trim() == "[]" {
                    format!("{key}: []\n")
                } else {
                    format!(
                        "{key}:\n{}",
                        body.lines().map(|l| format!("  {l}\n")).collect::<String>()
                    )
                }
            };
            text.push_str(&copy("checks"));
            text.push_str(&copy("wording"));
            text.push_str(&copy("figures"));
        }
        None => {
            text.push_str("checks: []   # add at least one: { metric: <name>, at_most | at_least | between | approx: ... }\nwording: []\nfigures: []\n");
        }
    }
    Ok(text)
}
