//! `check-site`: renders the committed post in headless Chromium and reports every problem.

use crate::exit;
use crate::report::Reporter;
use crate::verify::Paths;
use crate::{errln, outln};
use site_render::browser;
use std::path::PathBuf;

/// Runs `check-site`.
pub fn run(paths: &Paths, chromium: PathBuf, rep: &mut Reporter<'_>) -> u8 {
    let mut cfg = browser::Config::new(&paths.root);
    cfg.chromium = chromium;
    let report = match browser::check_site(&cfg) {
        Ok(r) => r,
        Err(e) => {
            errln!(rep, "error: {e}");
            return super::build_site::site_error_code(&e);
        }
    };
    let p = &report.page;
    outln!(
        rep,
        "check-site: {} formula(s) typeset, {} MathJax error(s); {} of {} Mermaid diagram(s) rendered; {} of {} figure(s) loaded; {} in-page link(s), {} broken",
        p.math,
        p.math_errors.len(),
        p.diagrams,
        report.expected_diagrams,
        p.images - p.broken_images.len().min(p.images),
        report.expected_images,
        p.links,
        p.broken_links.len()
    );
    if let Some(shot) = &report.screenshot {
        outln!(rep, "screenshot: {}", super::shown(paths, shot));
    }
    let problems = report.problems();
    if problems.is_empty() {
        exit::OK
    } else {
        for pr in &problems {
            errln!(rep, "error: {pr}");
        }
        errln!(
            rep,
            "{} problem(s) in the rendered post (page: {})",
            problems.len(),
            super::shown(paths, &cfg.work.join("post.html"))
        );
        exit::CHECK_FAILED
    }
}
