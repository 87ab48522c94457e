//! The JSON Schemas generated from the Rust types: claim files (`claims/schema.json`), with one
//! parameter definition per registered kind so editors check `params` too, and result files
//! (`claims/result.schema.json`).

use claim_spec::{ClaimFile, Registry};
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

/// The schema's `$defs` key for a kind's parameters, for example `params-escape-rates-kramers-escape`.
pub fn params_definition_name(kind: &str) -> String {
    format!("params-{}", kind.replace('/', "-"))
}

/// The claim-file schema (JSON Schema 2020-12): the claim fields, `experiment` restricted to the
/// registered kinds, and for each kind an `if experiment is K then params follows K's schema`.
pub fn claim_schema(registry: &Registry) -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let root = generator.root_schema_for::<ClaimFile>();
    let mut value = serde_json::to_value(&root).unwrap_or(Value::Null);
    let kinds: Vec<&str> = registry.kinds().map(|k| k.name.as_str()).collect();
    let mut defs = value.get("$defs").cloned().unwrap_or_else(|| json!({}));
    let mut all_of = Vec::new();
    for kind in registry.kinds() {
        // A fresh inlining generator per kind: every family names its parameter struct `Params`.
        let mut inline = SchemaSettings::draft2020_12()
            .with(|s| s.inline_subschemas = true)
            .into_generator();
        let mut params =
            serde_json::to_value(kind.params_schema(&mut inline)).unwrap_or(Value::Null);
        if let Some(obj) = params.as_object_mut() {
            obj.insert(
                "description".into(),
                Value::String(format!(
                    "Parameters of `{}`; omitted keys take these defaults.",
                    kind.name
                )),
            );
            obj.insert(
                "default".into(),
                serde_json::to_value(kind.default_params()).unwrap_or(Value::Null),
            );
        }
        let name = params_definition_name(&kind.name);
        if let Some(d) = defs.as_object_mut() {
            d.insert(name.clone(), params);
        }
        all_of.push(json!({
            "if": { "properties": { "experiment": { "const": kind.name } }, "required": ["experiment"] },
            "then": { "properties": { "params": { "$ref": format!("#/$defs/{name}") } } }
        }));
    }
    if let Some(obj) = value.as_object_mut() {
        obj.insert("$defs".into(), defs);
        obj.insert("allOf".into(), Value::Array(all_of));
        obj.insert(
            "title".into(),
            Value::String("sgd-claims claim file".into()),
        );
        if let Some(exp) = obj
            .get_mut("properties")
            .and_then(|p| p.get_mut("experiment"))
            .and_then(Value::as_object_mut)
        {
            exp.insert("enum".into(), json!(kinds));
        }
    }
    value
}

/// The schema file's bytes: pretty JSON and a final newline.
pub fn claim_schema_bytes(registry: &Registry) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&claim_schema(registry)).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The first line of every claim file: it points editors at the schema.
pub const SCHEMA_LINE: &str = "# yaml-language-server: $schema=../schema.json";

/// Checks every claim file under `claims_dir`: it starts with [`SCHEMA_LINE`] and validates against
/// the claim schema `schema` (what an editor with the YAML language server would report).
///
/// # Errors
/// When the schema does not compile or the folder cannot be read; otherwise the problems found,
/// one per file, are returned as `Ok`.
pub fn validate_claim_files(
    claims_dir: &std::path::Path,
    schema: &Value,
) -> Result<Vec<String>, String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("urn:sgd-claims:claim", schema.clone())
        .map_err(|e| format!("the claim schema: {e}"))?;
    let index = compiler
        .compile("urn:sgd-claims:claim", &mut schemas)
        .map_err(|e| format!("the claim schema does not compile: {e}"))?;
    let files = claim_spec::load::discover(claims_dir)
        .map_err(|e| format!("cannot list {}: {e}", claims_dir.display()))?;
    let mut problems = Vec::new();
    for file in files {
        let shown = file
            .strip_prefix(claims_dir.parent().unwrap_or(claims_dir))
            .unwrap_or(&file)
            .display()
            .to_string();
        let Ok(text) = std::fs::read_to_string(&file) else {
            problems.push(format!("{shown}: cannot be read as UTF-8"));
            continue;
        };
        if !text.starts_with(&format!("{SCHEMA_LINE}\n")) {
            problems.push(format!("{shown}: the first line must be `{SCHEMA_LINE}`"));
        }
        let instance = serde_yaml::from_str::<serde_yaml::Value>(&text)
            .map_err(|e| e.to_string())
            .and_then(|y| serde_json::to_value(y).map_err(|e| e.to_string()));
        match instance {
            Ok(v) => {
                if let Err(e) = schemas.validate(&v, index) {
                    problems.push(format!(
                        "{shown}: does not validate against the schema: {e}"
                    ));
                }
            }
            Err(e) => problems.push(format!("{shown}: {e}")),
        }
    }
    Ok(problems)
}

/// The result-file schema's bytes: pretty JSON and a final newline.
pub fn result_schema_bytes() -> Vec<u8> {
    let mut bytes =
        serde_json::to_vec_pretty(&claim_spec::ResultFile::schema()).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_every_kind_and_its_params() {
        let registry = crate::families::registry();
        let schema = claim_schema(&registry);
        let kinds = schema["properties"]["experiment"]["enum"]
            .as_array()
            .unwrap();
        assert_eq!(kinds.len(), registry.kinds().count());
        for k in registry.kinds() {
            let def = &schema["$defs"][params_definition_name(&k.name)];
            assert_eq!(def["type"], "object", "{}", k.name);
            assert_eq!(
                def["additionalProperties"], false,
                "{} must reject unknown params",
                k.name
            );
        }
        assert_eq!(schema["additionalProperties"], false);
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "seed")
        );
    }
}
