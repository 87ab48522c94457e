//! The minijinja environment and the render of the post: strict undefined behaviour, debug
//! information, comment delimiters `{## ##}` that leave LaTeX and Kramdown alone, the filters of
//! [`crate::filters`], and errors that name the template file, the line and the variable.

use crate::data::{self, Evidence, POST_TEMPLATE, TEMPLATES_DIR};
use crate::error::{SiteError, TemplateError};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use std::collections::BTreeMap;
use std::path::Path;

/// Template sources by name (`post.md.j2`, `parts/6-summary.md.j2`).
pub type Templates = BTreeMap<String, String>;

/// Reads every template under `site/_templates/` (`post.md.j2`, and the files it includes or
/// imports from subfolders, named by their path: `parts/boxes.md.j2`).
///
/// # Errors
/// An unreadable template or folder; a missing post template.
pub fn load_templates(site: &Path) -> Result<Templates, SiteError> {
    let dir = site.join(TEMPLATES_DIR);
    let post = dir.join(POST_TEMPLATE);
    if !post.is_file() {
        return Err(SiteError::io(
            &post,
            std::io::Error::new(std::io::ErrorKind::NotFound, "the post template is missing"),
        ));
    }
    let mut t = Templates::new();
    let mut stack = vec![dir.clone()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).map_err(|e| SiteError::io(&folder, e))? {
            let path = entry.map_err(|e| SiteError::io(&folder, e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "j2") {
                let name = path
                    .strip_prefix(&dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                let src = std::fs::read_to_string(&path).map_err(|e| SiteError::io(&path, e))?;
                t.insert(name, src);
            }
        }
    }
    Ok(t)
}

/// The syntax of this project's templates: Jinja's, with comments `{## … ##}`; block tags eat
/// the newline after them and the indentation before them, so Markdown keeps its shape.
///
/// # Errors
/// Never with these delimiters; kept as a `Result` because minijinja validates them.
pub fn syntax() -> Result<SyntaxConfig, minijinja::Error> {
    SyntaxConfig::builder()
        .block_delimiters("{%", "%}")
        .variable_delimiters("{{", "}}")
        .comment_delimiters("{##", "##}")
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
}

/// A template error as file, line, message and minijinja's debug view. An error inside an
/// included template is reported where it happened, with the include chain after it.
pub fn template_error(err: &minijinja::Error) -> TemplateError {
    // minijinja wraps an error of an included template in an error at the include statement:
    // walk to the innermost template error.
    let mut chain = vec![err];
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    let mut other = Vec::new();
    while let Some(s) = source {
        match s.downcast_ref::<minijinja::Error>() {
            Some(e) => chain.push(e),
            None => other.push(s.to_string()),
        }
        source = s.source();
    }
    let inner = chain.last().copied().unwrap_or(err);
    let mut message = inner.kind().to_string();
    if let Some(detail) = inner.detail() {
        message.push_str(": ");
        message.push_str(detail);
    }
    for o in other {
        message.push_str(&format!(" ({o})"));
    }
    for outer in chain.iter().rev().skip(1) {
        if let (Some(name), Some(line)) = (outer.name(), outer.line()) {
            message.push_str(&format!(
                "\n  included from site/{TEMPLATES_DIR}/{name}:{line}"
            ));
        }
    }
    TemplateError {
        file: format!(
            "site/{TEMPLATES_DIR}/{}",
            inner.name().unwrap_or(POST_TEMPLATE)
        ),
        line: inner.line(),
        message,
        context: inner.display_debug_info().to_string(),
    }
}

/// The environment for `templates`: strict undefined values, debug information, no escaping
/// (Markdown is not HTML), the project's syntax and filters, and every template compiled upfront
/// so a syntax error anywhere fails the build.
///
/// # Errors
/// A template that does not compile.
pub fn environment(templates: &Templates) -> Result<Environment<'static>, SiteError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_debug(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_syntax(syntax().map_err(|e| SiteError::Template(template_error(&e)))?);
    crate::filters::register(&mut env);
    for (name, src) in templates {
        env.add_template_owned(name.clone(), src.clone())
            .map_err(|e| SiteError::Template(template_error(&e)))?;
    }
    Ok(env)
}

/// Collapses runs of blank lines outside code fences to one and ends the text with one newline:
/// templates can then use blank lines freely around blocks without changing the Markdown.
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_fence = false;
    let mut blank_run = 0;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
        }
        let blank = line.trim().is_empty();
        if blank && !in_fence {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
            out.push('\n');
            continue;
        }
        blank_run = 0;
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let trimmed = out.trim_end_matches('\n').len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

/// Renders the post from `templates` and `evidence`, then checks that every claim with a result
/// got its evidence box (`id="claim-<id>"`).
///
/// # Errors
/// A template error (file, line, variable), a misnamed prose partial, or a claim without a box.
pub fn render_post(templates: &Templates, evidence: &Evidence) -> Result<String, SiteError> {
    let env = environment(templates)?;
    let prose = data::prose_by_section(templates.keys().cloned())?;
    let index = data::index(evidence, prose);
    let claims: BTreeMap<&String, &serde_json::Value> =
        evidence.claims.iter().map(|(k, c)| (k, &c.json)).collect();
    let ctx = minijinja::context! {
        claims => Serde(&claims),
        timings => Serde(&evidence.timings),
        post => Serde(&index),
    };
    let tmpl = env
        .get_template(POST_TEMPLATE)
        .map_err(|e| SiteError::Template(template_error(&e)))?;
    let text = tmpl
        .render(ctx)
        .map_err(|e| SiteError::Template(template_error(&e)))?;
    for id in evidence.claims.keys() {
        if !text.contains(&format!("id=\"claim-{id}\"")) {
            return Err(SiteError::data(
                Path::new("site").join(TEMPLATES_DIR).join(POST_TEMPLATE),
                format!(
                    "claim `{id}` has a result but no evidence box (an element with id=\"claim-{id}\") in the rendered post"
                ),
            ));
        }
    }
    Ok(tidy(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates(post: &str) -> Templates {
        [(POST_TEMPLATE.to_owned(), post.to_owned())].into()
    }

    fn err_of(post: &str) -> TemplateError {
        match render_post(&templates(post), &Evidence::default()) {
            Err(SiteError::Template(t)) => t,
            other => panic!("expected a template error, got {other:?}"),
        }
    }

    #[test]
    fn an_undefined_variable_names_the_template_line_and_the_variable() {
        let t = err_of("line one\nline two {{ claims_typo }}\n");
        assert_eq!(t.file, "site/_templates/post.md.j2");
        assert_eq!(t.line, Some(2));
        assert!(t.message.contains("undefined"), "{t}");
        let shown = t.to_string();
        assert!(
            shown.starts_with("site/_templates/post.md.j2:2: "),
            "{shown}"
        );
        assert!(shown.contains("claims_typo"), "{shown}");
    }

    #[test]
    fn an_undefined_attribute_is_an_error_too() {
        let t = err_of("a\nb\n{{ post.no_such_field }}\n");
        assert_eq!(t.line, Some(3));
        assert!(t.to_string().contains("no_such_field"), "{t}");
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let t = err_of("ok\n{% if x %}\nnever closed\n");
        assert_eq!(t.file, "site/_templates/post.md.j2");
        assert!(t.line.is_some_and(|l| l >= 2), "{t}");
        assert!(t.message.contains("syntax error"), "{t}");
    }

    #[test]
    fn errors_in_partials_name_the_partial() {
        let mut t = templates("{% include \"prose/1.1-x.md.j2\" %}\n");
        t.insert(
            "prose/1.1-x.md.j2".into(),
            "fine\n\n{{ missing_in_partial }}\n".into(),
        );
        match render_post(&t, &Evidence::default()) {
            Err(SiteError::Template(e)) => {
                assert_eq!(e.file, "site/_templates/prose/1.1-x.md.j2");
                assert_eq!(e.line, Some(3));
                assert!(e.to_string().contains("missing_in_partial"), "{e}");
                assert!(
                    e.message
                        .contains("included from site/_templates/post.md.j2:1"),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn comments_use_double_hashes_and_latex_braces_survive() {
        let out = render_post(
            &templates("{## a comment ##}$$\\{#S\\}$$ and {#id} stay\n"),
            &Evidence::default(),
        )
        .unwrap();
        assert_eq!(out, "$$\\{#S\\}$$ and {#id} stay\n");
    }

    #[test]
    fn filters_are_registered() {
        let out = render_post(
            &templates("{{ 0.1234 | num }} {{ 0.5 | pct }} {{ {\"value\": 1.0, \"ci\": [0.9, 1.1]} | metric }}\n"),
            &Evidence::default(),
        )
        .unwrap();
        assert_eq!(out, "0.123 50.0% 1.00 (95% CI 0.90 to 1.10)\n");
    }

    #[test]
    fn timings_are_none_when_absent() {
        let out = render_post(
            &templates("{% if timings is none %}no timings{% endif %}\n"),
            &Evidence::default(),
        )
        .unwrap();
        assert_eq!(out, "no timings\n");
    }

    #[test]
    fn tidy_collapses_blank_runs_outside_fences() {
        assert_eq!(
            tidy("a\n\n\n\nb  \n```\nx\n\n\ny\n```\n\n\n"),
            "a\n\nb\n```\nx\n\n\ny\n```\n"
        );
    }
}
