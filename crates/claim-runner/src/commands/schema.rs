//! `schema`: writes the claim-file and result-file JSON Schemas under `claims/`, or checks that
//! the committed ones are what the code generates and that every claim file validates.

use crate::exit;
use crate::families;
use crate::report::Reporter;
use crate::verify::Paths;
use crate::{errln, outln};

/// Runs `schema`.
pub fn run(paths: &Paths, check: bool, rep: &mut Reporter<'_>) -> u8 {
    let files = [
        (
            paths.claims().join("schema.json"),
            crate::schema::claim_schema_bytes(&families::registry()),
        ),
        (
            paths.claims().join("result.schema.json"),
            crate::schema::result_schema_bytes(),
        ),
    ];
    let mut code = exit::OK;
    for (path, bytes) in &files {
        let shown = super::shown(paths, path);
        if check {
            if std::fs::read(path).ok().as_deref() == Some(&bytes[..]) {
                outln!(rep, "{shown} is fresh");
            } else {
                errln!(
                    rep,
                    "error: {shown} is stale or missing; run `cargo xtask schema` and commit it"
                );
                code = exit::CHECK_FAILED;
            }
            continue;
        }
        match claim_spec::result::write_atomic(path, bytes) {
            Ok(()) => outln!(rep, "wrote {shown}"),
            Err(e) => {
                errln!(rep, "error: cannot write {shown}: {e}");
                return exit::INTERNAL;
            }
        }
    }
    if check {
        // The committed claim files must validate against the committed claim schema.
        let schema = serde_json::from_slice(&files[0].1).unwrap_or(serde_json::Value::Null);
        match crate::schema::validate_claim_files(&paths.claims(), &schema) {
            Ok(problems) if problems.is_empty() => {
                outln!(rep, "every claim file validates against claims/schema.json");
            }
            Ok(problems) => {
                for p in &problems {
                    errln!(rep, "error: {p}");
                }
                code = exit::CHECK_FAILED;
            }
            Err(m) => {
                errln!(rep, "error: {m}");
                return exit::INTERNAL;
            }
        }
    }
    code
}
