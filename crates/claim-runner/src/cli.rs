//! Command-line parsing and dispatch of `cargo xtask`: one module per command under
//! [`crate::commands`], all printing through one [`Reporter`].

use crate::commands;
use crate::exit;
use crate::interrupt::Interrupt;
use crate::report::{Format, Reporter};
use crate::verify::{Paths, Shard};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

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

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run claims, check their bounds, and verify that the committed results reproduce: each
    /// claim is reproduced, updated (its claim file, seed, scale or code changed; the fresh
    /// result is written) or not reproduced (exit 2; the committed files are kept).
    VerifyClaims(VerifyArgs),
    /// Write a new claim file `claims/<family>/<id>.yaml` for an existing kind, ready to edit.
    NewClaim {
        /// `<family>/<id>`.
        name: String,
        /// The experiment kind, `<family>/<name>`.
        #[arg(long)]
        kind: String,
        /// The post section whose evidence box shows the claim (default: the section of the
        /// kind's existing claims; required when the kind has none).
        #[arg(long, value_name = "N.M")]
        section: Option<String>,
    },
    /// Time the escape experiment on one thread here and in the NumPy reference implementation, on
    /// the same parameters and trajectories, and print both wall times and their ratio. Fails
    /// (exit 2) when this project is not at least 8x faster. NumPy is installed into a local
    /// virtual environment under target/ when missing.
    BenchReference {
        /// Barrier over temperature, dL/T.
        #[arg(long, default_value_t = 4.0)]
        barrier_over_t: f64,
        /// Step size.
        #[arg(long, default_value_t = 0.01)]
        eta: f64,
        /// Trajectories.
        #[arg(long, default_value_t = 2000)]
        trajectories: usize,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write the JSON Schemas of claim files (`claims/schema.json`) and of result files
    /// (`claims/result.schema.json`), or check that both are fresh.
    Schema {
        /// Fail if a committed schema differs from the generated one, writing nothing.
        #[arg(long)]
        check: bool,
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
    /// Benchmark one minibatch SGD step for b = 1 ... 1024 and write `site/_data/timings.json`
    /// (the post's batch-size trade-off table, with the machine); fail when a timing ratio of the
    /// claim `batch-size-tradeoffs` does not hold.
    BenchTable {
        /// Reuse the last benchmark results under target/criterion instead of running it.
        #[arg(long)]
        no_run: bool,
    },
}

/// Arguments of `verify-claims`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Claim ids to run (default: all).
    pub ids: Vec<String>,
    /// Only the claims of this family.
    #[arg(long, value_name = "F")]
    pub family: Option<String>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Run only shard K of N (for example `2/3`); shards split the claims deterministically and
    /// their results merge by file.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Write the fresh results even where they do not reproduce the committed ones.
    #[arg(long, conflicts_with = "changed")]
    pub force: bool,
    /// Run only claims whose committed result is stale (claim file, seed, scale, code or a figure
    /// changed); the others are reported as reused, without running them.
    #[arg(long)]
    pub changed: bool,
    /// Multiply trajectory and replica counts by S, in (0, 1000] (tighter intervals; the bounds
    /// still apply).
    #[arg(long, value_name = "S", default_value_t = 1.0, value_parser = parse_scale, allow_hyphen_values = true)]
    pub scale: f64,
    /// Rerun every selected claim with K >= 1 seeds derived from its own, writing nothing: a claim
    /// whose checks fail under a derived seed is FRAGILE (exit 2); one whose verdict fewer than
    /// 80% of the derived seeds reproduce is flagged VERDICT-FRAGILE (reported, not failed).
    #[arg(long, value_name = "K", conflicts_with = "drift", value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: Option<u64>,
    /// Rerun, write nothing, and fail where fresh metrics differ from the committed ones by more
    /// than their statistical error allows (the regression check for other machines).
    #[arg(long)]
    pub drift: bool,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number; the scale must be in (0, 1000]"))?;
    if v.is_finite() && v > 0.0 && v <= 1000.0 {
        Ok(v)
    } else {
        Err(format!("the scale must be in (0, 1000], got {s}"))
    }
}

/// Entry point for the binary: parses `std::env::args`, prints to the terminal, returns the exit
/// code. `verify-claims` installs handlers for SIGINT and SIGTERM.
pub fn main_with_env() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let wants_handlers = args.iter().any(|a| a == "verify-claims");
    let interrupt = if wants_handlers {
        Interrupt::install().unwrap_or_else(|e| {
            eprintln!(
                "warning: cannot handle SIGINT and SIGTERM ({e}); an interrupt kills the run"
            );
            Interrupt::none()
        })
    } else {
        Interrupt::none()
    };
    std::process::ExitCode::from(run_with(&args, &mut out, &mut err, &interrupt))
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

/// Runs the command line `args` (program name first), writing to `out` and `err`; returns the exit
/// code. The library entry point of the tests: no signal handler is installed.
pub fn run(args: &[String], out: &mut (dyn Write + Send), err: &mut (dyn Write + Send)) -> u8 {
    run_with(args, out, err, &Interrupt::none())
}

/// [`run`] with a stop flag that a signal handler (or a test) raises.
pub fn run_with(
    args: &[String],
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
    interrupt: &Interrupt,
) -> u8 {
    let mut rep = Reporter::new(out, err);
    let code = dispatch(args, &mut rep, interrupt);
    rep.finish(code)
}

fn dispatch(args: &[String], rep: &mut Reporter<'_>, interrupt: &Interrupt) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let rendered = e.render().to_string();
            return if e.use_stderr() {
                rep.err(format_args!("{rendered}"));
                exit::USAGE
            } else {
                rep.out(format_args!("{rendered}"));
                exit::OK
            };
        }
    };
    let paths = Paths::new(cli.root.clone().unwrap_or_else(find_root));
    match cli.command {
        Command::VerifyClaims(args) => {
            rep.format = args.format;
            commands::verify_claims::run(&paths, &args, rep, interrupt)
        }
        Command::NewClaim {
            name,
            kind,
            section,
        } => commands::new_claim::run(&paths, &name, &kind, section.as_deref(), rep),
        Command::Schema { check } => commands::schema::run(&paths, check, rep),
        Command::BenchReference {
            barrier_over_t,
            eta,
            trajectories,
            seed,
        } => {
            let p = crate::reference::ReferenceParams {
                barrier_over_t,
                eta,
                trajectories,
                seed,
            };
            commands::bench_reference::run(&paths, &p, rep)
        }
        Command::BuildSite { check } => commands::build_site::run(&paths, check, rep),
        Command::CheckSite { chromium } => commands::check_site::run(&paths, chromium, rep),
        Command::BenchTable { no_run } => commands::bench_table::run(&paths, no_run, rep),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_accepts_its_range_and_names_it_otherwise() {
        assert_eq!(parse_scale("0.5"), Ok(0.5));
        for bad in ["-1", "0", "1001", "nan", "-inf"] {
            let e = parse_scale(bad).unwrap_err();
            assert!(e.contains("(0, 1000]"), "{bad}: {e}");
        }
    }
}
