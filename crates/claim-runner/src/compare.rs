//! Does a fresh run reproduce the committed result? The comparison behind the default
//! `verify-claims`.
//!
//! - **updated**: the claim file, seed, scale, code version or result format differs from the
//!   committed result's provenance (or there is no committed result): the fresh result replaces it.
//! - **reproduced**: the same provenance and the same values: floats equal within round-off
//!   (`|a - b| <= 1e-9 max(|a|, |b|) + 1e-12`), and integers, strings, verdicts and table cells
//!   exactly; every figure byte-identical to the committed file.
//! - **not reproduced**: the same provenance but different values, each named with both numbers.
//!
//! Both files are compared as parsed from their JSON text, so a value that round-trips through
//! the same text compares equal however the parser rounds it.

use crate::verify::{Paths, RunOutput};
use serde_json::Value;

/// Relative tolerance of the round-off comparison.
pub const REL_TOL: f64 = 1e-9;
/// Absolute tolerance of the round-off comparison.
pub const ABS_TOL: f64 = 1e-12;

/// One value that differs between the committed and the fresh result.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// Where: a dotted path into the result file (`metrics.mfpt.value`), or a figure's path.
    pub path: String,
    /// The committed value, as JSON text.
    pub committed: String,
    /// The fresh value, as JSON text.
    pub fresh: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: committed {}, fresh {}",
            self.path, self.committed, self.fresh
        )
    }
}

/// How a fresh run relates to the committed result.
#[derive(Clone, Debug, PartialEq)]
pub enum Comparison {
    /// Same provenance and values.
    Reproduced,
    /// Different provenance (what changed, in words), or no committed result.
    Updated(Vec<String>),
    /// Same provenance, different values.
    NotReproduced(Vec<Difference>),
}

/// Whether two floats agree within round-off.
pub fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= REL_TOL * a.abs().max(b.abs()) + ABS_TOL
}

fn text(v: Option<&Value>) -> String {
    v.map_or_else(|| "(absent)".to_owned(), Value::to_string)
}

/// What changed in the provenance between `committed` and `fresh` (both parsed result files).
pub fn provenance_changes(committed: &Value, fresh: &Value) -> Vec<String> {
    let mut changes = Vec::new();
    if committed["format_version"] != fresh["format_version"] {
        changes.push(format!(
            "result format {} -> {}",
            text(committed.get("format_version")),
            text(fresh.get("format_version"))
        ));
    }
    let (a, b) = (&committed["provenance"], &fresh["provenance"]);
    if a["claim_sha256"] != b["claim_sha256"] {
        changes.push("claim file changed".into());
    }
    if a["seed"] != b["seed"] {
        changes.push(format!(
            "seed {} -> {}",
            text(a.get("seed")),
            text(b.get("seed"))
        ));
    }
    let scale = |v: &Value| v["scale"].as_f64();
    if scale(a) != scale(b) {
        changes.push(format!(
            "scale {} -> {}",
            text(a.get("scale")),
            text(b.get("scale"))
        ));
    }
    if a["code_version"] != b["code_version"] {
        changes.push(format!(
            "code version {} -> {}",
            a["code_version"].as_str().unwrap_or("(absent)"),
            b["code_version"].as_str().unwrap_or("(absent)")
        ));
    }
    changes
}

/// Every differing value between two parsed result files (floats under `tables` compare exactly).
pub fn differences(committed: &Value, fresh: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk("", committed, fresh, false, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, a: &Value, b: &Value, exact: bool, out: &mut Vec<Difference>) {
    let differ = |out: &mut Vec<Difference>| {
        out.push(Difference {
            path: path.to_owned(),
            committed: a.to_string(),
            fresh: b.to_string(),
        });
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = join(path, k);
                let exact = exact || (path.is_empty() && k == "tables");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => walk(&p, u, v, exact, out),
                    (u, v) => out.push(Difference {
                        path: p,
                        committed: text(u),
                        fresh: text(v),
                    }),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}[{i}]"), u, v, exact, out);
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let floats = x.is_f64() && y.is_f64();
            let same = if floats && !exact {
                matches!((x.as_f64(), y.as_f64()), (Some(u), Some(v)) if close(u, v))
            } else {
                x == y
            };
            if !same {
                differ(out);
            }
        }
        _ if a == b => {}
        _ => differ(out),
    }
}

/// Compares a fresh run with the committed result file's text and the figure files on disk.
pub fn compare(paths: &Paths, committed_text: &[u8], fresh: &RunOutput) -> Comparison {
    let fresh_bytes = fresh.result.to_bytes().unwrap_or_default();
    let fresh_value: Value = serde_json::from_slice(&fresh_bytes).unwrap_or(Value::Null);
    let committed_value: Value = match serde_json::from_slice(committed_text) {
        Ok(v) => v,
        Err(e) => {
            return Comparison::NotReproduced(vec![Difference {
                path: "(the whole file)".into(),
                committed: format!("not valid JSON ({e})"),
                fresh: "a result file".into(),
            }]);
        }
    };
    let changes = provenance_changes(&committed_value, &fresh_value);
    if !changes.is_empty() {
        return Comparison::Updated(changes);
    }
    let mut diffs = if committed_text == fresh_bytes.as_slice() {
        Vec::new()
    } else {
        differences(&committed_value, &fresh_value)
    };
    for (rel, svg) in &fresh.svgs {
        let on_disk = std::fs::read(paths.site().join(rel)).ok();
        let same = on_disk.as_deref() == Some(svg.as_bytes());
        if !same {
            diffs.push(Difference {
                path: format!("site/{rel}"),
                committed: on_disk.map_or_else(
                    || "(missing)".to_owned(),
                    |b| format!("sha256 {}", short_sha(&b)),
                ),
                fresh: format!("sha256 {}", short_sha(svg.as_bytes())),
            });
        }
    }
    if diffs.is_empty() {
        Comparison::Reproduced
    } else {
        Comparison::NotReproduced(diffs)
    }
}

fn short_sha(bytes: &[u8]) -> String {
    claim_spec::load::source_hash_hex(bytes)
        .chars()
        .take(12)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_agree_within_round_off_and_tables_exactly() {
        let a = json!({"metrics": {"m": {"value": 1.0, "ci": [0.5, 1.5]}}, "tables": {"t": {"rows": [[1.0]]}}, "n": 3});
        let b = json!({"metrics": {"m": {"value": 1.0 + 1e-13, "ci": [0.5, 1.5]}}, "tables": {"t": {"rows": [[1.0 + 1e-13]]}}, "n": 3});
        let d = differences(&a, &b);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].path, "tables.t.rows[0][0]");
        let c = json!({"metrics": {"m": {"value": 1.1, "ci": [0.5, 1.5]}}, "tables": {"t": {"rows": [[1.0]]}}, "n": 4});
        let d = differences(&a, &c);
        let paths: Vec<&str> = d.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(paths, ["metrics.m.value", "n"]);
        assert_eq!(
            d[0].to_string(),
            "metrics.m.value: committed 1.0, fresh 1.1"
        );
    }

    #[test]
    fn integers_strings_and_missing_keys_are_exact() {
        let a = json!({"verdict": "supported", "samples": 10, "x": 1});
        let b = json!({"verdict": "refined", "samples": 11});
        let d = differences(&a, &b);
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!((d[2].path.as_str(), d[2].fresh.as_str()), ("x", "(absent)"));
    }

    #[test]
    fn provenance_changes_are_named() {
        let p = |sha: &str, seed: u64, code: &str| json!({"format_version": 2, "provenance": {"claim_sha256": sha, "seed": seed, "scale": 1.0, "code_version": code}});
        assert!(provenance_changes(&p("a", 1, "c"), &p("a", 1, "c")).is_empty());
        let ch = provenance_changes(&p("a", 1, "c"), &p("b", 2, "d"));
        assert_eq!(
            ch,
            ["claim file changed", "seed 1 -> 2", "code version c -> d"]
        );
    }
}
