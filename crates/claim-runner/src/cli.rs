//! Command-line parsing, terminal output and exit codes of `cargo xtask`.

use crate::exit;
use crate::families;
use crate::verify::{self, ClaimReport, Paths, Selection};
use claim_spec::Status;
use clap::{Parser, Subcommand, ValueEnum};
use site_render::SiteError;
use site_render::browser;
use site_render::build::Outcome;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// sgd-claims: every claim of the post, measured.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// The repository root (default: found from the current folder).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of `verify-claims`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per claim and a summary.
    Human,
    /// A JSON array of per-claim reports on standard output.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run claims, check their bounds, write results and figures.
    VerifyClaims {
        /// Claim ids to run (default: all).
        ids: Vec<String>,
        /// Only the claims of this family.
        #[arg(long, value_name = "F")]
        family: Option<String>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Render the post from the committed results, lint it, and write
    /// site/_posts/2025-05-31-sgd-noise-as-a-design-feature.md.
    ///
    /// Exit codes: 0 written or fresh; 2 with --check, the committed post is stale; 65 a template
    /// error, an invalid result file or a lint violation (file:line and the rule); 1 I/O error.
    BuildSite {
        /// Render in memory only and fail (exit 2) when the committed post differs.
        #[arg(long)]
        check: bool,
    },
    /// Render the committed post with Kramdown, MathJax 3 and Mermaid in headless Chromium; fail
    /// on any math error, diagram that does not parse, figure that does not load, or broken
    /// in-page link; save a screenshot to target/check-site/post.png.
    ///
    /// Exit codes: 0 clean; 2 render problems; 69 a tool is missing (with its install command);
    /// 1 a tool failed to run.
    CheckSite {
        /// The Chromium binary.
        #[arg(long, value_name = "PATH", default_value = "/usr/bin/chromium")]
        chromium: PathBuf,
    },
}

/// Entry point for the binary: parses `std::env::args`, prints to the terminal, returns the exit code.
pub fn main_with_env() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    std::process::ExitCode::from(run(&args, &mut out, &mut err))
}

/// Finds the repository root: the nearest ancestor of the current folder with `claims/` and
/// `Cargo.toml`, else the workspace this binary was built from.
fn find_root() -> PathBuf {
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            if dir.join("claims").is_dir() && dir.join("Cargo.toml").is_file() {
                return dir.to_path_buf();
            }
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the command line `args` (program name first), writing to `out` and `err`; returns the exit code.
pub fn run(args: &[String], out: &mut (dyn Write + Send), err: &mut (dyn Write + Send)) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let rendered = e.render().to_string();
            let _ = if e.use_stderr() {
                write!(err, "{rendered}")
            } else {
                write!(out, "{rendered}")
            };
            return code;
        }
    };
    let paths = Paths::new(cli.root.clone().unwrap_or_else(find_root));
    match cli.command {
        Command::VerifyClaims {
            ids,
            family,
            jobs,
            format,
        } => verify_claims(&paths, Selection { ids, family }, jobs, format, out, err),
        Command::BuildSite { check } => build_site(&paths, check, out, err),
        Command::CheckSite { chromium } => check_site(&paths, chromium, out, err),
    }
}

/// A path relative to the repository root, for messages.
fn shown(paths: &Paths, p: &Path) -> String {
    p.strip_prefix(&paths.root)
        .unwrap_or(p)
        .display()
        .to_string()
}

fn site_error_code(e: &SiteError) -> u8 {
    match e {
        SiteError::Unavailable(_) => exit::UNAVAILABLE,
        e if e.is_invalid_input() => exit::INVALID_INPUT,
        _ => exit::INTERNAL,
    }
}

fn build_site(
    paths: &Paths,
    check: bool,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    match site_render::build::build(&paths.site(), check) {
        Ok(Outcome::Written { path, changed }) => {
            let what = if changed { "wrote" } else { "unchanged" };
            let _ = writeln!(out, "{what} {}", shown(paths, &path));
            exit::OK
        }
        Ok(Outcome::Fresh { path }) => {
            let _ = writeln!(
                out,
                "{} is up to date with the committed results",
                shown(paths, &path)
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
            let _ = writeln!(
                err,
                "error: {} {why}\n  run `cargo xtask build-site` and commit the post",
                shown(paths, &path)
            );
            exit::CHECK_FAILED
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            site_error_code(&e)
        }
    }
}

fn check_site(
    paths: &Paths,
    chromium: PathBuf,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    let mut cfg = browser::Config::new(&paths.root);
    cfg.chromium = chromium;
    let report = match browser::check_site(&cfg) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return site_error_code(&e);
        }
    };
    let p = &report.page;
    let _ = writeln!(
        out,
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
        let _ = writeln!(out, "screenshot: {}", shown(paths, shot));
    }
    let problems = report.problems();
    if problems.is_empty() {
        exit::OK
    } else {
        for pr in &problems {
            let _ = writeln!(err, "error: {pr}");
        }
        let _ = writeln!(
            err,
            "{} problem(s) in the rendered post (page: {})",
            problems.len(),
            shown(paths, &cfg.work.join("post.html"))
        );
        exit::CHECK_FAILED
    }
}

fn verify_claims(
    paths: &Paths,
    selection: Selection,
    jobs: Option<u16>,
    format: Format,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    let registry = families::registry();
    let claims = match verify::load(paths, &registry) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                let _ = writeln!(err, "error: {e}");
            }
            let _ = writeln!(
                err,
                "{} problem(s) in claim files; nothing was run",
                errors.len()
            );
            return exit::INVALID_CLAIMS;
        }
    };
    let selected = match verify::select(&claims, &selection) {
        Ok(s) => s,
        Err(m) => {
            let _ = writeln!(err, "error: {m}");
            return exit::USAGE;
        }
    };
    if let Err(m) = verify::prepare_output_dirs(paths) {
        let _ = writeln!(err, "error: {m}");
        return exit::INTERNAL;
    }
    let threads = jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start {threads} worker threads: {e}");
            return exit::INTERNAL;
        }
    };
    let width = selected.iter().map(|c| c.claim.id.len()).max().unwrap_or(0);
    let start = Instant::now();
    let out_lock = Mutex::new(&mut *out);
    let on_done = |r: &ClaimReport| {
        if format == Format::Human
            && let Ok(mut o) = out_lock.lock()
        {
            let _ = write!(o, "{}", human_line(r, width));
        }
    };
    let reports = pool.install(|| verify::run_and_write(paths, &selected, 1.0, &on_done));
    let out = out_lock
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let reports = match reports {
        Ok(r) => r,
        Err(m) => {
            let _ = writeln!(err, "error: {m}");
            return exit::INTERNAL;
        }
    };
    let passed = reports.iter().filter(|r| r.status == Status::Pass).count();
    let failed = reports.iter().filter(|r| r.status == Status::Fail).count();
    let errored = reports.iter().filter(|r| r.status == Status::Error).count();
    match format {
        Format::Human => {
            let _ = writeln!(
                out,
                "{} claim(s): {passed} passed, {failed} failed, {errored} run error(s) in {:.1} s on {threads} thread(s)",
                reports.len(),
                start.elapsed().as_secs_f64()
            );
        }
        Format::Json => {
            let list: Vec<serde_json::Value> = reports
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "status": r.status, "verdict": r.verdict,
                        "failed_checks": r.failed_checks, "problems": r.problems,
                    })
                })
                .collect();
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&list).unwrap_or_default()
            );
        }
    }
    if passed == reports.len() {
        exit::OK
    } else {
        exit::CLAIM_FAILED
    }
}

/// One line per claim, plus an indented line per failed check or problem.
pub fn human_line(r: &ClaimReport, width: usize) -> String {
    let verdict = r.verdict.map_or("-", |v| v.as_str());
    let mut s = format!(
        "{:<5} {:<width$}  {:<12} {:>6.1} s\n",
        r.status.label(),
        r.id,
        verdict,
        r.seconds
    );
    for c in &r.failed_checks {
        let value = c
            .value
            .map_or_else(|| "missing".to_owned(), |v| format!("{v}"));
        s.push_str(&format!(
            "      check {}: value {value} violates {}\n",
            c.metric, c.bound
        ));
    }
    for p in &r.problems {
        s.push_str(&format!("      {p}\n"));
    }
    s
}
