//! `new-claim`: scaffolds a claim file for an existing kind. The section comes from `--section`,
//! else from the kind's existing claims; a kind without claims needs `--section`.

use crate::exit;
use crate::families;
use crate::report::Reporter;
use crate::verify::{self, Paths};
use crate::{errln, outln};
use claim_spec::sections::SECTIONS;

/// The section of a new claim of `kind`: `given`, else the section of the kind's existing claims.
///
/// # Errors
/// A usage message when `given` is not a section of the post, or when it is absent and no claim of
/// the kind exists.
pub fn section_for(
    existing: &[claim_spec::LoadedClaim],
    kind: &str,
    given: Option<&str>,
) -> Result<String, String> {
    let numbers = || SECTIONS.iter().map(|s| s.number);
    if let Some(s) = given {
        if numbers().any(|n| n == s) {
            return Ok(s.to_owned());
        }
        return Err(format!(
            "`--section {s}` is not a section of the post; sections: {}",
            numbers().collect::<Vec<_>>().join(", ")
        ));
    }
    existing
        .iter()
        .find(|c| c.claim.experiment == kind)
        .map(|c| c.claim.section.clone())
        .ok_or_else(|| {
            format!(
                "no claim of kind `{kind}` exists to take the section from; pass `--section N.M` (one of {})",
                numbers().collect::<Vec<_>>().join(", ")
            )
        })
}

/// Runs `new-claim`.
pub fn run(
    paths: &Paths,
    name: &str,
    kind: &str,
    section: Option<&str>,
    rep: &mut Reporter<'_>,
) -> u8 {
    let (family, id) = match crate::scaffold::parse_name(name) {
        Ok(p) => p,
        Err(e) => {
            errln!(rep, "error: {e}");
            return exit::USAGE;
        }
    };
    let registry = families::registry();
    let existing = match verify::load(paths, &registry) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                errln!(rep, "error: {e}");
            }
            errln!(rep, "fix the claim files above first; nothing was written");
            return exit::INVALID_CLAIMS;
        }
    };
    let text = crate::scaffold::new_claim_text(&registry, &existing, &family, &id, kind)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            let section = section_for(&existing, kind, section)?;
            Ok(text.replacen(crate::scaffold::SECTION_PLACEHOLDER, &section, 1))
        });
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            errln!(rep, "error: {e}");
            return exit::USAGE;
        }
    };
    let dir = paths.claims().join(&family);
    let path = dir.join(format!("{id}.yaml"));
    let shown = super::shown(paths, &path);
    if path.exists() {
        errln!(rep, "error: {shown} exists already");
        return exit::USAGE;
    }
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|()| claim_spec::result::write_atomic(&path, text.as_bytes()))
    {
        errln!(rep, "error: cannot write {shown}: {e}");
        return exit::INTERNAL;
    }
    outln!(
        rep,
        "wrote {shown}\nnext: edit its title, statement and bounds, then `cargo xtask verify-claims {id}`"
    );
    exit::OK
}
