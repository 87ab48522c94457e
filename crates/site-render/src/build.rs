//! `build-site`: render the post from the committed evidence, lint it, and write it atomically, or,
//! with `--check`, compare it with the committed post without writing anything.

use crate::POST_FILE;
use crate::data::load_evidence;
use crate::error::SiteError;
use crate::lint;
use crate::render::{load_templates, render_post};
use claim_spec::result::write_atomic;
use std::path::{Path, PathBuf};

/// What `build` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The post was written; `changed` is false when it already had these bytes.
    Written {
        /// The post's path.
        path: PathBuf,
        /// Whether the bytes changed.
        changed: bool,
    },
    /// `--check`: the committed post is what the evidence renders to.
    Fresh {
        /// The post's path.
        path: PathBuf,
    },
    /// `--check`: the committed post differs from (or lacks) the render.
    Stale {
        /// The post's path.
        path: PathBuf,
        /// The first line that differs (1-based), or `None` when the post is missing.
        first_difference: Option<usize>,
    },
}

/// Renders and lints the post of the site at `site` (the `site/` folder), in memory.
///
/// # Errors
/// Unreadable or invalid inputs, template errors, or lint violations.
pub fn render(site: &Path) -> Result<String, SiteError> {
    let evidence = load_evidence(site)?;
    let templates = load_templates(site)?;
    let text = render_post(&templates, &evidence)?;
    let ids: std::collections::BTreeSet<String> = evidence
        .claims
        .values()
        .flat_map(|c| c.result.metrics.keys().filter(|k| k.contains('_')).cloned())
        .collect();
    let mut violations = lint::lint(&text, site);
    violations.extend(crate::budget::check(&text, &ids));
    violations.sort();
    if violations.is_empty() {
        Ok(text)
    } else {
        Err(SiteError::Lint {
            file: format!("site/{POST_FILE}"),
            violations,
        })
    }
}

/// The first differing line of two texts (1-based).
pub fn first_difference(a: &str, b: &str) -> Option<usize> {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    (0..la.len().max(lb.len()))
        .find(|&i| la.get(i) != lb.get(i))
        .map(|i| i + 1)
        .or_else(|| (a != b).then_some(la.len().max(1)))
}

/// Renders the post; writes it (atomically) unless `check`, in which case it only compares.
///
/// # Errors
/// As [`render`], plus I/O errors on the post.
pub fn build(site: &Path, check: bool) -> Result<Outcome, SiteError> {
    let text = render(site)?;
    let path = site.join(POST_FILE);
    let current = match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(SiteError::io(&path, e)),
    };
    let same = current.as_deref() == Some(text.as_bytes());
    if check {
        return Ok(if same {
            Outcome::Fresh { path }
        } else {
            let first =
                current.map(|c| first_difference(&String::from_utf8_lossy(&c), &text).unwrap_or(1));
            Outcome::Stale {
                path,
                first_difference: first,
            }
        });
    }
    if !same {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| SiteError::io(dir, e))?;
        }
        write_atomic(&path, text.as_bytes()).map_err(|e| SiteError::io(&path, e))?;
    }
    Ok(Outcome::Written {
        path,
        changed: !same,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_finds_the_line() {
        assert_eq!(first_difference("a\nb\nc\n", "a\nb\nc\n"), None);
        assert_eq!(first_difference("a\nb\nc\n", "a\nB\nc\n"), Some(2));
        assert_eq!(first_difference("a\nb\n", "a\nb\nc\n"), Some(3));
        assert_eq!(first_difference("a\nb", "a\nb\n"), Some(2));
    }
}
