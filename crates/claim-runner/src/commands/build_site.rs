//! `build-site`: renders the post from the committed results and lints it (or, with `--check`,
//! fails when the committed post is stale).

use crate::exit;
use crate::report::Reporter;
use crate::verify::Paths;
use crate::{errln, outln};
use site_render::SiteError;
use site_render::build::Outcome;

/// Runs `build-site`.
pub fn run(paths: &Paths, check: bool, rep: &mut Reporter<'_>) -> u8 {
    match site_render::build::build(&paths.site(), check) {
        Ok(Outcome::Written { path, changed }) => {
            let what = if changed { "wrote" } else { "unchanged" };
            outln!(rep, "{what} {}", super::shown(paths, &path));
            exit::OK
        }
        Ok(Outcome::Fresh { path }) => {
            outln!(
                rep,
                "{} is up to date with the committed results",
                super::shown(paths, &path)
            );
            exit::OK
        }
        Ok(Outcome::Stale {
            path,
            first_difference,
        }) => {
            let why = first_difference.map_or_else(
                || "is missing".to_owned(),
                |l| format!("is stale: it differs from the render of the committed results from line {l} on"),
            );
            errln!(
                rep,
                "error: {} {why}\n  run `cargo xtask build-site` and commit the post",
                super::shown(paths, &path)
            );
            exit::CHECK_FAILED
        }
        Err(e) => {
            errln!(rep, "error: {e}");
            site_error_code(&e)
        }
    }
}

pub(crate) fn site_error_code(e: &SiteError) -> u8 {
    match e {
        SiteError::Unavailable(_) => exit::UNAVAILABLE,
        e if e.is_invalid_input() => exit::INVALID_INPUT,
        _ => exit::INTERNAL,
    }
}
