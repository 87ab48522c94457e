//! The committed evidence the post is rendered from: result files `site/_data/claims/<id>.json`,
//! the optional timing file `site/_data/timings.json`, and the prose partials
//! `site/_templates/prose/<section>-<family>.md.j2`; and the template context built from them.
//!
//! Nothing here runs an experiment. Every result file is read twice: as a typed
//! [`ResultFile`](claim_spec::ResultFile), which checks the contract, and as plain JSON, which is
//! what templates see (so a field added to the contract reaches templates without a change here).

use crate::error::SiteError;
use claim_spec::ResultFile;
use claim_spec::sections::{SECTIONS, Section};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The timing file of section 3.1, relative to `site/`.
pub const TIMINGS_FILE: &str = "_data/timings.json";
/// The result files, relative to `site/`.
pub const RESULTS_DIR: &str = "_data/claims";
/// The templates, relative to `site/`.
pub const TEMPLATES_DIR: &str = "_templates";
/// The post template's name.
pub const POST_TEMPLATE: &str = "post.md.j2";
/// The prose partials' folder, relative to the templates.
pub const PROSE_DIR: &str = "prose";

/// One claim's result, typed and as written.
#[derive(Clone, Debug)]
pub struct Claim {
    /// The checked contents.
    pub result: ResultFile,
    /// The file's JSON, as templates see it.
    pub json: serde_json::Value,
}

/// Everything a render reads.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// Results by claim id.
    pub claims: BTreeMap<String, Claim>,
    /// The timing file, when committed.
    pub timings: Option<serde_json::Value>,
}

fn read(path: &Path) -> Result<Vec<u8>, SiteError> {
    std::fs::read(path).map_err(|e| SiteError::io(path, e))
}

/// Reads every result file under `site/_data/claims/` and the optional timing file.
///
/// # Errors
/// An unreadable file, invalid JSON, a file that breaks the result contract (its id differs from its
/// name, a section the post does not have), or a timing file without `machine`, `columns` and `rows`.
pub fn load_evidence(site: &Path) -> Result<Evidence, SiteError> {
    let dir = site.join(RESULTS_DIR);
    let mut claims = BTreeMap::new();
    if dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| SiteError::io(&dir, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            let claim = load_claim(&path, &read(&path)?)?;
            claims.insert(claim.result.id.clone(), claim);
        }
    }
    let timings_path = site.join(TIMINGS_FILE);
    let timings = if timings_path.is_file() {
        Some(load_timings(&timings_path, &read(&timings_path)?)?)
    } else {
        None
    };
    Ok(Evidence { claims, timings })
}

/// Parses and checks one result file.
///
/// # Errors
/// Invalid JSON, a contract violation, or a section or `also_in` entry the post does not have.
pub fn load_claim(path: &Path, bytes: &[u8]) -> Result<Claim, SiteError> {
    let result: ResultFile = serde_json::from_slice(bytes).map_err(|e| {
        SiteError::data(
            path,
            format!("not a result file: {e} (the result-file contract is in claims/README.md)"),
        )
    })?;
    let mut json: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| SiteError::data(path, e.to_string()))?;
    let view = crate::view::claim_view(&result).map_err(|m| SiteError::data(path, m))?;
    if let Some(map) = json.as_object_mut() {
        map.insert(
            "view".to_owned(),
            serde_json::to_value(&view).map_err(|e| SiteError::data(path, e.to_string()))?,
        );
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if result.id != stem {
        return Err(SiteError::data(
            path,
            format!("the id `{}` differs from the file name `{stem}`", result.id),
        ));
    }
    for s in std::iter::once(&result.section).chain(&result.also_in) {
        if claim_spec::sections::section(s).is_none() {
            return Err(SiteError::data(
                path,
                format!(
                    "section `{s}` is not a section of the post (one of {})",
                    claim_spec::sections::numbers()
                ),
            ));
        }
    }
    if result.figures.len() != result.captions.len() {
        return Err(SiteError::data(
            path,
            format!(
                "{} figure(s) but {} caption(s)",
                result.figures.len(),
                result.captions.len()
            ),
        ));
    }
    Ok(Claim { result, json })
}

/// Parses and checks the timing file: an object with `machine` (an object), `columns` (strings)
/// and `rows` (lists as long as `columns`).
///
/// # Errors
/// Invalid JSON or a missing or malformed field.
pub fn load_timings(path: &Path, bytes: &[u8]) -> Result<serde_json::Value, SiteError> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| SiteError::data(path, format!("not JSON: {e}")))?;
    let contract = "(see `timings` in site/_templates/README.md)";
    if !v.get("machine").is_some_and(serde_json::Value::is_object) {
        return Err(SiteError::data(
            path,
            format!("`machine` must be an object {contract}"),
        ));
    }
    let columns = v
        .get("columns")
        .and_then(serde_json::Value::as_array)
        .filter(|c| c.iter().all(serde_json::Value::is_string))
        .ok_or_else(|| {
            SiteError::data(
                path,
                format!("`columns` must be a list of names {contract}"),
            )
        })?;
    let rows = v
        .get("rows")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| SiteError::data(path, format!("`rows` must be a list {contract}")))?;
    for (i, r) in rows.iter().enumerate() {
        if r.as_array().is_none_or(|r| r.len() != columns.len()) {
            return Err(SiteError::data(
                path,
                format!(
                    "row {i} must be a list of {} cells {contract}",
                    columns.len()
                ),
            ));
        }
    }
    Ok(v)
}

/// The prose partials by section: `prose/<section>-<family>.md.j2`, in name order.
///
/// # Errors
/// A partial whose name does not start with a section of the post.
pub fn prose_by_section(
    template_names: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, Vec<String>>, SiteError> {
    let mut by: BTreeMap<String, Vec<String>> = SECTIONS
        .iter()
        .map(|s| (s.number.to_owned(), Vec::new()))
        .collect();
    let prefix = format!("{PROSE_DIR}/");
    for name in template_names {
        let Some(file) = name.strip_prefix(&prefix) else {
            continue;
        };
        let section = file.split_once('-').map_or("", |(s, _)| s);
        match by.get_mut(section) {
            Some(list) if file.ends_with(".md.j2") => list.push(name.clone()),
            _ => {
                return Err(SiteError::data(
                    PathBuf::from("site").join(TEMPLATES_DIR).join(&name),
                    format!(
                        "a prose partial is named `<section>-<family>.md.j2` with a section of the post ({})",
                        claim_spec::sections::numbers()
                    ),
                ));
            }
        }
    }
    for list in by.values_mut() {
        list.sort();
    }
    Ok(by)
}

/// The reading order of claims: by the section of their box, then by family, then by id.
fn reading_key(r: &ResultFile) -> (usize, String, String) {
    let section = SECTIONS
        .iter()
        .position(|s| s.number == r.section)
        .unwrap_or(SECTIONS.len());
    let family = r.experiment.split_once('/').map_or("", |(f, _)| f);
    (section, family.to_owned(), r.id.clone())
}

/// A code version and the claims whose results it produced.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CodeVersion {
    /// The `provenance.code_version` hash.
    pub code_version: String,
    /// The families (experiment prefixes) of those claims.
    pub families: Vec<String>,
    /// Their ids, in catalog order.
    pub claims: Vec<String>,
}

/// Derived views of the evidence that templates would otherwise compute by hand.
#[derive(Clone, Debug, Serialize)]
pub struct PostIndex {
    /// Every claim id with a result, in reading order (section, family, id).
    pub order: Vec<String>,
    /// The sections of the post: number, title and anchor.
    pub outline: Vec<Section>,
    /// For every section of the post, the ids whose evidence box stands there.
    pub sections: BTreeMap<String, Vec<String>>,
    /// For every section, the ids that list it in `also_in`.
    pub cited: BTreeMap<String, Vec<String>>,
    /// For every section, its prose partials in name order.
    pub prose: BTreeMap<String, Vec<String>>,
    /// The code versions behind the results.
    pub code_versions: Vec<CodeVersion>,
    /// Counts: `claims`, `pass`, `fail`, `error`, and one per verdict.
    pub counts: BTreeMap<String, usize>,
}

/// Builds the index of `evidence` with the prose partials `prose`.
///
/// A family's prose partial quotes that family's measured numbers, so it is kept only when the
/// family has results and none of them is a failed run (`error`); otherwise the section reads on
/// without it, and the evidence boxes say what happened.
pub fn index(evidence: &Evidence, prose: BTreeMap<String, Vec<String>>) -> PostIndex {
    let family_of = |experiment: &str| {
        experiment
            .split_once('/')
            .map_or(experiment, |(f, _)| f)
            .to_owned()
    };
    let mut family_ready: BTreeMap<String, bool> = BTreeMap::new();
    for c in evidence.claims.values() {
        let ok = c.result.status != claim_spec::Status::Error;
        let entry = family_ready
            .entry(family_of(&c.result.experiment))
            .or_insert(true);
        *entry &= ok;
    }
    let prose: BTreeMap<String, Vec<String>> = prose
        .into_iter()
        .map(|(section, files)| {
            let kept = files
                .into_iter()
                .filter(|name| {
                    let family = name
                        .rsplit('/')
                        .next()
                        .and_then(|f| f.strip_suffix(".md.j2"))
                        .and_then(|f| f.split_once('-'))
                        .map_or("", |(_, fam)| fam);
                    family_ready.get(family).copied().unwrap_or(false)
                })
                .collect();
            (section, kept)
        })
        .collect();
    let mut order: Vec<&String> = evidence.claims.keys().collect();
    order.sort_by_key(|id| reading_key(&evidence.claims[*id].result));
    let mut sections: BTreeMap<String, Vec<String>> = SECTIONS
        .iter()
        .map(|s| (s.number.to_owned(), Vec::new()))
        .collect();
    let mut cited = sections.clone();
    let mut counts: BTreeMap<String, usize> = [
        "claims",
        "pass",
        "fail",
        "error",
        "supported",
        "refined",
        "contradicted",
        "inconclusive",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), 0))
    .collect();
    let mut versions: Vec<CodeVersion> = Vec::new();
    for id in &order {
        let r = &evidence.claims[*id].result;
        sections
            .entry(r.section.clone())
            .or_default()
            .push(r.id.clone());
        for s in &r.also_in {
            let list = cited.entry(s.clone()).or_default();
            if s != &r.section && !list.contains(&r.id) {
                list.push(r.id.clone());
            }
        }
        *counts.entry("claims".into()).or_default() += 1;
        let status = serde_json::to_value(r.status)
            .ok()
            .and_then(|s| s.as_str().map(str::to_owned))
            .unwrap_or_default();
        *counts.entry(status).or_default() += 1;
        if let Some(verdict) = r.verdict {
            *counts.entry(verdict.as_str().to_owned()).or_default() += 1;
        }
        let family = r
            .experiment
            .split_once('/')
            .map_or(r.experiment.as_str(), |(f, _)| f)
            .to_owned();
        match versions
            .iter_mut()
            .find(|v| v.code_version == r.provenance.code_version)
        {
            Some(v) => {
                if !v.families.contains(&family) {
                    v.families.push(family);
                }
                v.claims.push(r.id.clone());
            }
            None => versions.push(CodeVersion {
                code_version: r.provenance.code_version.clone(),
                families: vec![family],
                claims: vec![r.id.clone()],
            }),
        }
    }
    PostIndex {
        order: order.into_iter().cloned().collect(),
        outline: SECTIONS.to_vec(),
        sections,
        cited,
        prose,
        code_versions: versions,
        counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_json(id: &str, section: &str, also_in: &[&str], code: &str) -> String {
        serde_json::json!({
            "format_version": claim_spec::result::FORMAT_VERSION,
            "id": id, "title": "T", "section": section, "also_in": also_in,
            "statement": "S", "status": "pass", "verdict": "supported",
            "expected_verdict": "supported", "note": "n = {params.n}", "experiment": format!("fam-{code}/k"),
            "params": {"n": 8000},
            "wording": [], "metrics": {"m": {"value": 1.0, "ci": [0.5, 1.5], "basis": "measured"}}, "checks": [],
            "figures": [], "captions": [], "tables": {},
            "provenance": {"claim_sha256": "x", "seed": 1, "code_version": code, "samples": 1, "scale": 1.0}
        })
        .to_string()
    }

    #[test]
    fn a_result_file_must_match_its_name_and_a_section() {
        let ok = result_json("kramers-escape", "2.1", &["5"], "a");
        let c = load_claim(Path::new("x/kramers-escape.json"), ok.as_bytes()).unwrap();
        assert_eq!(
            c.json["view"]["note"], "n = 8,000",
            "placeholders are filled in"
        );
        assert_eq!(c.json["view"]["badge"], "supported");
        let e = load_claim(Path::new("x/other.json"), ok.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("differs from the file name"), "{e}");
        let bad = result_json("kramers-escape", "9.9", &[], "a");
        let e = load_claim(Path::new("x/kramers-escape.json"), bad.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("section `9.9`"), "{e}");
        let e = load_claim(Path::new("x/kramers-escape.json"), b"{}").unwrap_err();
        assert!(e.to_string().contains("not a result file"), "{e}");
    }

    #[test]
    fn timings_need_machine_columns_and_rows() {
        let p = Path::new("timings.json");
        let good =
            br#"{"machine": {"cpu": "x"}, "columns": ["b", "updates_per_s"], "rows": [[1, 2.0]]}"#;
        assert!(load_timings(p, good).is_ok());
        for bad in [
            &br#"{"columns": ["b"], "rows": []}"#[..],
            br#"{"machine": {}, "columns": "b", "rows": []}"#,
            br#"{"machine": {}, "columns": ["b"], "rows": [[1, 2]]}"#,
            b"not json",
        ] {
            assert!(load_timings(p, bad).is_err());
        }
    }

    #[test]
    fn prose_partials_group_by_section_in_name_order() {
        let names = [
            "post.md.j2",
            "prose/2.1-b.md.j2",
            "prose/2.1-a.md.j2",
            "prose/5-flat-minima.md.j2",
        ]
        .map(String::from);
        let by = prose_by_section(names).unwrap();
        assert_eq!(by["2.1"], vec!["prose/2.1-a.md.j2", "prose/2.1-b.md.j2"]);
        assert_eq!(by["5"], vec!["prose/5-flat-minima.md.j2"]);
        assert!(by["1.1"].is_empty());
        assert!(prose_by_section(["prose/7.7-x.md.j2".to_owned()]).is_err());
        assert!(prose_by_section(["prose/notes.md.j2".to_owned()]).is_err());
    }

    #[test]
    fn the_index_orders_by_section_family_and_id() {
        let mut ev = Evidence::default();
        for (id, sec, also, code) in [
            ("saddle-escape", "2.1", vec![], "a"),
            ("kramers-escape", "2.1", vec!["5"], "a"),
            ("zeta-new-claim", "2.1", vec![], "b"),
            ("gibbs-stationary", "2.2", vec!["5", "2.2"], "b"),
        ] {
            let c = load_claim(
                Path::new(&format!("{id}.json")),
                result_json(id, sec, &also, code).as_bytes(),
            )
            .unwrap();
            ev.claims.insert(id.to_owned(), c);
        }
        let idx = index(&ev, BTreeMap::new());
        assert_eq!(
            idx.sections["2.1"],
            vec!["kramers-escape", "saddle-escape", "zeta-new-claim"]
        );
        assert_eq!(idx.outline.len(), SECTIONS.len());
        assert_eq!(idx.cited["5"], vec!["kramers-escape", "gibbs-stationary"]);
        assert!(
            idx.cited["2.2"].is_empty(),
            "a claim is not cited in its own section"
        );
        assert_eq!(idx.counts["claims"], 4);
        assert_eq!(idx.counts["pass"], 4);
        assert_eq!(idx.counts["supported"], 4);
        assert_eq!(idx.code_versions.len(), 2);
        assert_eq!(
            idx.code_versions[0].claims,
            vec!["kramers-escape", "saddle-escape"]
        );
        assert_eq!(idx.code_versions[0].families, vec!["fam-a"]);
    }
}
