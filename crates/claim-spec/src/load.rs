//! Finding, reading and validating claim files. Every error names the file, the line and column
//! where known, and the key; misspelled keys and kinds get the closest valid name.

use crate::claim::{ClaimFile, Verdict};
use crate::names::valid_slug;
use crate::registry::{PreparedParams, Registry};
use crate::yaml::{YamlError, parse_yaml};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Claim files larger than this are refused before parsing: a YAML parser can spend minutes and
/// gigabytes on deeply nested or alias-heavy input.
pub const MAX_CLAIM_BYTES: u64 = 64 * 1024;

/// A claim-file problem found before anything runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The file, as given to the loader (relative to the working directory where possible).
    pub file: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// The offending key, where there is one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The closest valid name, for a misspelling.
    pub suggestion: Option<String>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(k) = &self.key {
            write!(f, "key `{k}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    fn at(
        file: &str,
        position: Option<(usize, usize)>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1),
            key: key.map(str::to_owned),
            message: message.into(),
            suggestion: None,
        }
    }

    fn from_yaml(file: &str, e: YamlError) -> Self {
        Self {
            file: file.to_owned(),
            line: e.line,
            column: e.column,
            key: e.key,
            message: e.message,
            suggestion: e.suggestion,
        }
    }

    fn suggest(mut self, suggestion: Option<&str>) -> Self {
        self.suggestion = suggestion.map(str::to_owned);
        self
    }
}

/// A claim file that parsed and validated, with its parameters ready to run.
#[derive(Clone, Debug)]
pub struct LoadedClaim {
    /// The file path.
    pub path: PathBuf,
    /// The folder it sits in: its family.
    pub family: String,
    /// The parsed file.
    pub claim: ClaimFile,
    /// The file's text.
    pub source: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// The kind's parsed parameters.
    pub params: PreparedParams,
}

/// Every `*.yaml` file under `dir`, sorted by path (so the run order never depends on the file system).
///
/// # Errors
/// I/O errors while walking.
pub fn discover(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .follow_links(false)
    {
        let entry = entry.map_err(std::io::Error::other)?;
        let p = entry.path();
        if entry.file_type().is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(p.to_path_buf());
        }
    }
    Ok(files)
}

/// The 1-based (line, column) of `key:` at the start of a line (after indentation), searching from
/// line `from` on; `None` when absent.
fn find_key(source: &str, key: &str, from: usize) -> Option<(usize, usize)> {
    source.lines().enumerate().skip(from).find_map(|(i, line)| {
        let trimmed = line.trim_start();
        let trimmed = trimmed.strip_prefix("- ").unwrap_or(trimmed).trim_start();
        let col = line.len() - trimmed.len() + 1;
        (trimmed.starts_with(&format!("{key}:")) || trimmed.starts_with(&format!("\"{key}\":")))
            .then_some((i + 1, col))
    })
}

/// The position of a dotted key path such as `params.eta`: each segment is searched after the
/// previous one. Also finds keys in flow mappings (`params: { eta: 1 }`) by substring.
pub fn locate_key(source: &str, path: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    let mut found = None;
    for segment in path.split('.') {
        let segment = segment.split('[').next().unwrap_or(segment);
        if let Some(pos) = find_key(source, segment, from) {
            from = pos.0 - 1;
            found = Some(pos);
        } else {
            let line = source
                .lines()
                .enumerate()
                .skip(from)
                .find(|(_, l)| l.contains(&format!("{segment}:")))?;
            let col = line.1.find(&format!("{segment}:")).unwrap_or(0) + 1;
            from = line.0;
            found = Some((line.0 + 1, col));
        }
    }
    found
}

/// The position of the check on `metric` (its `metric:` line).
fn locate_check(source: &str, metric: &str) -> Option<(usize, usize)> {
    source.lines().enumerate().find_map(|(i, l)| {
        let k = l.find("metric:")?;
        let rest = l[k + 7..].trim_start().trim_start_matches(['"', '\'']);
        let ok = rest.starts_with(metric)
            && !rest[metric.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        ok.then_some((i + 1, k + 1))
    })
}

/// Reads, parses and validates one claim file.
///
/// # Errors
/// Every problem found in the file (several when several keys are wrong).
pub fn load_claim(
    path: &Path,
    display: &str,
    registry: &Registry,
    max_work: f64,
) -> Result<LoadedClaim, Vec<LoadError>> {
    let one = |e: LoadError| vec![e];
    let meta = std::fs::metadata(path).map_err(|e| {
        one(LoadError::at(
            display,
            None,
            None,
            format!("cannot read: {e}"),
        ))
    })?;
    if meta.len() > MAX_CLAIM_BYTES {
        return Err(one(LoadError::at(
            display,
            None,
            None,
            format!(
                "file is {} bytes, over the {MAX_CLAIM_BYTES}-byte limit for claim files; refused before parsing",
                meta.len()
            ),
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        one(LoadError::at(
            display,
            None,
            None,
            format!("cannot read: {e}"),
        ))
    })?;
    if bytes.is_empty() || bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(one(LoadError::at(
            display,
            None,
            None,
            "file is empty; a claim file needs id, title, section, statement, verdict, experiment, seed and checks",
        )));
    }
    if let Some(k) = bytes.iter().position(|b| *b == 0) {
        let line = bytes[..k].iter().filter(|b| **b == b'\n').count() + 1;
        return Err(one(LoadError::at(
            display,
            Some((line, 1)),
            None,
            "file contains a NUL byte: it is binary, not YAML",
        )));
    }
    let source = String::from_utf8(bytes.clone()).map_err(|e| {
        let k = e.utf8_error().valid_up_to();
        let line = bytes[..k].iter().filter(|b| **b == b'\n').count() + 1;
        one(LoadError::at(
            display,
            Some((line, 1)),
            None,
            format!("file is not valid UTF-8 (byte {k})"),
        ))
    })?;
    let claim: ClaimFile =
        parse_yaml(&source).map_err(|e| one(LoadError::from_yaml(display, e)))?;
    let mut errors = Vec::new();
    let at = |key: &str| locate_key(&source, key);

    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    let family = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    if !valid_slug(&claim.id) {
        errors.push(LoadError::at(display, at("id"), Some("id"), format!("`{}` is not a valid id: use lowercase letters, digits and dashes (no `/`, `.` or spaces)", claim.id)));
    } else if claim.id != stem {
        errors.push(LoadError::at(
            display,
            at("id"),
            Some("id"),
            format!("id `{}` differs from the file stem `{stem}`", claim.id),
        ));
    }
    for s in std::iter::once(&claim.section).chain(&claim.also_in) {
        if crate::sections::section(s).is_none() {
            let key = if s == &claim.section {
                "section"
            } else {
                "also_in"
            };
            errors.push(LoadError::at(
                display,
                at(key),
                Some(key),
                format!(
                    "`{s}` is not a section of the post (one of {})",
                    crate::sections::numbers()
                ),
            ));
        }
    }
    for (key, value) in [
        ("title", &claim.title),
        ("section", &claim.section),
        ("statement", &claim.statement),
    ] {
        if value.trim().is_empty() {
            errors.push(LoadError::at(
                display,
                at(key),
                Some(key),
                "must not be empty",
            ));
        }
    }
    if claim.verdict != Verdict::Supported
        && claim.note.as_deref().is_none_or(|n| n.trim().is_empty())
    {
        errors.push(LoadError::at(
            display,
            at("verdict"),
            Some("note"),
            format!(
                "a `{}` verdict needs a note saying what the measurement shows",
                claim.verdict.as_str()
            ),
        ));
    }

    let kind = match registry.get(&claim.experiment) {
        Some(k) => Some(k),
        None => {
            errors.push(
                LoadError::at(
                    display,
                    at("experiment"),
                    Some("experiment"),
                    format!("unknown experiment kind `{}`", claim.experiment),
                )
                .suggest(registry.suggest(&claim.experiment)),
            );
            None
        }
    };
    if let Some((kind_family, _)) = claim.experiment.split_once('/')
        && !family.is_empty()
        && kind_family != family
        && kind.is_some()
    {
        errors.push(LoadError::at(
            display,
            at("experiment"),
            Some("experiment"),
            format!(
                "the file sits in `claims/{family}/` but its kind belongs to family `{kind_family}`"
            ),
        ));
    }

    if claim.checks.is_empty() {
        errors.push(LoadError::at(
            display,
            at("checks"),
            Some("checks"),
            "a claim needs at least one check",
        ));
    }
    for (list, specs) in [("checks", &claim.checks), ("wording", &claim.wording)] {
        for spec in specs.iter() {
            let pos = locate_check(&source, &spec.metric).or_else(|| at(list));
            if let Err(m) = spec.bound() {
                errors.push(LoadError::at(display, pos, Some(list), m));
            }
            match (list, spec.if_fails) {
                ("checks", Some(_)) => errors.push(LoadError::at(
                    display,
                    pos,
                    Some("checks.if_fails"),
                    "`if_fails` belongs to wording checks; a failed check always fails the claim",
                )),
                ("wording", None) => errors.push(LoadError::at(
                    display,
                    pos,
                    Some("wording.if_fails"),
                    "a wording check needs `if_fails: refined` or `if_fails: contradicted`",
                )),
                ("wording", Some(Verdict::Supported | Verdict::Inconclusive)) => {
                    errors.push(LoadError::at(
                        display,
                        pos,
                        Some("wording.if_fails"),
                        "`if_fails` must be `refined` or `contradicted`",
                    ))
                }
                _ => {}
            }
            if !spec
                .metric
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                || spec.metric.is_empty()
            {
                errors.push(LoadError::at(
                    display,
                    pos,
                    Some(list),
                    format!("metric `{}` is not snake_case", spec.metric),
                ));
            }
        }
    }
    validate_primary(&claim, &source, display, &mut errors);
    let mut names = std::collections::BTreeSet::new();
    for fig in &claim.figures {
        if !valid_slug(&fig.name) {
            errors.push(LoadError::at(display, at("figures"), Some("figures.name"), format!("figure name `{}` must be lowercase letters, digits and dashes (no path separators)", fig.name)));
        } else if !names.insert(fig.name.clone()) {
            errors.push(LoadError::at(
                display,
                at("figures"),
                Some("figures.name"),
                format!("figure `{}` is listed twice", fig.name),
            ));
        }
    }

    let mut params = None;
    if let Some(kind) = kind {
        match kind.prepare(&source) {
            Err(e) => errors.push(LoadError::from_yaml(display, e)),
            Ok(p) => {
                if let Err(e) = &p.validation {
                    let key = format!("params.{}", e.key);
                    errors.push(LoadError::at(
                        display,
                        locate_key(&source, &key).or_else(|| at("params")),
                        Some(&key),
                        e.message.clone(),
                    ));
                } else if p.estimated_work.is_nan() || p.estimated_work > max_work {
                    errors.push(LoadError::at(
                        display,
                        at("params"),
                        Some("params"),
                        format!(
                            "estimated cost {:.2e} steps (about {:.0} s on one core) exceeds the limit of {max_work:.2e} steps; lower the sample sizes",
                            p.estimated_work,
                            p.estimated_work / 1e9
                        ),
                    ));
                }
                validate_placeholders(&claim, &p, &source, display, &mut errors);
                params = Some(p);
            }
        }
    }

    match (errors.is_empty(), params) {
        (true, Some(params)) => {
            let sha256 = source_hash_hex(&bytes);
            Ok(LoadedClaim {
                path: path.to_path_buf(),
                family,
                claim,
                source,
                sha256,
                params,
            })
        }
        _ => Err(errors),
    }
}

/// The rules of the primary wording check: at most one, only among wording checks, with a finite
/// `effect` and a positive `design_se`, which no other check gives; beside it, other wording
/// checks can only refine.
fn validate_primary(claim: &ClaimFile, source: &str, display: &str, errors: &mut Vec<LoadError>) {
    let mut push = |metric: &str, key: &str, message: String| {
        let pos = locate_check(source, metric).or_else(|| locate_key(source, "wording"));
        errors.push(LoadError::at(display, pos, Some(key), message));
    };
    for c in &claim.checks {
        if c.primary || c.effect.is_some() || c.design_se.is_some() {
            push(
                &c.metric,
                "checks.primary",
                "`primary`, `effect` and `design_se` belong to the primary wording check".into(),
            );
        }
    }
    let primaries: Vec<_> = claim.wording.iter().filter(|w| w.primary).collect();
    if primaries.len() > 1 {
        push(
            &primaries[1].metric,
            "wording.primary",
            format!(
                "{} wording checks are marked primary; exactly one decides the verdict",
                primaries.len()
            ),
        );
    }
    for w in &claim.wording {
        if w.primary {
            match (w.effect, w.design_se) {
                (Some(e), Some(se)) if e.is_finite() && se.is_finite() && se > 0.0 => {}
                _ => push(&w.metric, "wording.effect", "the primary wording check needs a finite `effect` (the value the statement implies) and a positive `design_se` (the design's expected standard error), stated before any run".into()),
            }
        } else if w.effect.is_some() || w.design_se.is_some() {
            push(
                &w.metric,
                "wording.effect",
                "`effect` and `design_se` belong to the primary wording check".into(),
            );
        } else if !primaries.is_empty() && w.if_fails == Some(Verdict::Contradicted) {
            push(&w.metric, "wording.if_fails", "beside a primary wording check, other wording checks can only refine: use `if_fails: refined`".into());
        }
    }
    if claim.verdict == Verdict::Inconclusive && primaries.is_empty() {
        errors.push(LoadError::at(
            display,
            locate_key(source, "verdict"),
            Some("verdict"),
            "an `inconclusive` verdict comes only from a primary wording check",
        ));
    }
}

/// The prose of a claim file (note, details, captions) with its key, for placeholder checks.
pub fn prose(claim: &ClaimFile) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    if let Some(n) = &claim.note {
        out.push(("note".to_owned(), n.as_str()));
    }
    if let Some(d) = &claim.details {
        out.push(("details".to_owned(), d.as_str()));
    }
    for f in &claim.figures {
        out.push((format!("figures.{}.caption", f.name), f.caption.as_str()));
    }
    out
}

/// Every placeholder is well formed, and every parameter it names exists.
fn validate_placeholders(
    claim: &ClaimFile,
    params: &PreparedParams,
    source: &str,
    display: &str,
    errors: &mut Vec<LoadError>,
) {
    let resolved = serde_json::to_value(&params.resolved).unwrap_or_default();
    for (key, text) in prose(claim) {
        let top = key.split('.').next().unwrap_or("note");
        let pos = locate_key(source, top);
        for bad in crate::placeholders::malformed(text) {
            errors.push(LoadError::at(display, pos, Some(&key), format!("`{bad}` is not a placeholder: write {{params.KEY}} or {{metrics.NAME}}, optionally with :value, :pct or :count")));
        }
        for p in crate::placeholders::placeholders(text) {
            if let crate::placeholders::Source::Param(path) = &p.source
                && crate::placeholders::lookup(&resolved, path).is_none()
            {
                errors.push(LoadError::at(
                    display,
                    pos,
                    Some(&key),
                    format!(
                        "placeholder {{params.{path}}} names no parameter of kind `{}`",
                        claim.experiment
                    ),
                ));
            }
        }
    }
}

/// SHA-256 of bytes, lowercase hex.
pub fn source_hash_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads every claim file under `claims_dir`, validating each and checking that ids are unique.
/// `display_base` is stripped from paths in messages.
///
/// # Errors
/// All problems in all files; nothing should run when there are any.
pub fn load_claims(
    claims_dir: &Path,
    display_base: &Path,
    registry: &Registry,
    max_work: f64,
) -> Result<Vec<LoadedClaim>, Vec<LoadError>> {
    let files = discover(claims_dir).map_err(|e| {
        vec![LoadError::at(
            &claims_dir.display().to_string(),
            None,
            None,
            format!("cannot list claim files: {e}"),
        )]
    })?;
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for path in &files {
        let display = path
            .strip_prefix(display_base)
            .unwrap_or(path)
            .display()
            .to_string();
        match load_claim(path, &display, registry, max_work) {
            Ok(c) => loaded.push((display, c)),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (display, c) in &loaded {
        if let Some(first) = seen.insert(c.claim.id.clone(), display.clone()) {
            errors.push(LoadError::at(
                display,
                locate_key(&c.source, "id"),
                Some("id"),
                format!("id `{}` is also used by {first}", c.claim.id),
            ));
        }
    }
    if errors.is_empty() {
        Ok(loaded.into_iter().map(|(_, c)| c).collect())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_located() {
        let src = "id: x\nparams:\n  eta: 1\n  nested:\n    eta: 2\nchecks:\n  - { metric: slope_a, at_most: 1 }\n  - metric: slope\n";
        assert_eq!(locate_key(src, "params.eta"), Some((3, 3)));
        assert_eq!(locate_key(src, "params.nested.eta"), Some((5, 5)));
        assert_eq!(locate_check(src, "slope"), Some((8, 5)));
        assert_eq!(locate_check(src, "slope_a"), Some((7, 7)));
        assert_eq!(
            locate_key("params: { eta: 1 }\n", "params.eta"),
            Some((1, 11))
        );
    }
}
