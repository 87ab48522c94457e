//! Errors of the site crate: each names the file (and line, for templates and the lint) so a
//! message is enough to find and fix the problem.

use crate::lint::Violation;
use std::fmt;
use std::path::PathBuf;

/// A missing prerequisite of `check-site` and the command that installs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// What is missing.
    pub what: String,
    /// The command that installs it.
    pub install: String,
}

/// A template that failed to compile or render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The template file, relative to the repository (`site/_templates/post.md.j2`).
    pub file: String,
    /// The 1-based line in that file, when known.
    pub line: Option<usize>,
    /// What went wrong, including the undefined variable or the unexpected token.
    pub message: String,
    /// minijinja's debug view: the template lines around the error and the variables they use.
    pub context: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if !self.context.is_empty() {
            write!(f, "\n{}", self.context.trim_end())?;
        }
        Ok(())
    }
}

/// Everything that can stop `build-site` or `check-site`.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A committed input (a result file, the timing file, a prose file name) breaks its contract.
    #[error("{}: {message}", path.display())]
    Data {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A template did not compile or render.
    #[error("template error: {0}")]
    Template(TemplateError),
    /// Tools that `check-site` needs are missing; each comes with its install command.
    #[error("{}", render_missing(.0))]
    Unavailable(Vec<Missing>),
    /// An external tool (Kramdown, Chromium) failed.
    #[error("{tool}: {message}")]
    Tool {
        /// The tool.
        tool: String,
        /// What happened.
        message: String,
    },
    /// The rendered post breaks the post's rules.
    #[error("{}", render_violations(.file, .violations))]
    Lint {
        /// The post, relative to the repository.
        file: String,
        /// Every violation, in line order.
        violations: Vec<Violation>,
    },
}

impl SiteError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SiteError::Io {
            path: path.into(),
            source,
        }
    }

    /// A contract violation in the committed file `path`.
    pub fn data(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        SiteError::Data {
            path: path.into(),
            message: message.into(),
        }
    }

    /// True for errors in the inputs (templates, result files, the lint), as opposed to I/O.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            SiteError::Data { .. } | SiteError::Template(_) | SiteError::Lint { .. }
        )
    }
}

fn render_violations(file: &str, violations: &[Violation]) -> String {
    let mut s = format!(
        "{} violation(s) of the post's rules in the rendered post (site/_templates/README.md lists them)",
        violations.len()
    );
    for v in violations {
        s.push_str(&format!("\n{file}:{v}"));
    }
    s
}

fn render_missing(missing: &[Missing]) -> String {
    let mut s =
        String::from("check-site needs tools that are not installed (it installs nothing itself):");
    for m in missing {
        s.push_str(&format!("\n  - {}\n    install: {}", m.what, m.install));
    }
    s
}
