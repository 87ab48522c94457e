//! Command-line parsing, terminal output and exit codes of `cargo xtask`.

use crate::exit;
use crate::families;
use crate::verify::{self, ClaimReport, Paths, Selection, Shard};
use claim_spec::{LoadedClaim, Status};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use site_render::SiteError;
use site_render::browser;
use site_render::build::Outcome;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    VerifyClaims(VerifyArgs),
    /// Write a new claim file `claims/<family>/<id>.yaml` for an existing kind, ready to edit.
    NewClaim {
        /// `<family>/<id>`.
        name: String,
        /// The experiment kind, `<family>/<name>`.
        #[arg(long)]
        kind: String,
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
    /// Write the JSON Schema of claim files to `claims/schema.json` (or check that it is fresh).
    Schema {
        /// Fail if the committed schema differs from the generated one, writing nothing.
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
    /// (the post's batch-size trade-off table, with the machine); fail when a timing ratio of
    /// CLAIMS.md does not hold.
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
    /// Rerun claims whose committed result is still valid (same claim file, seed and code).
    #[arg(long)]
    pub force: bool,
    /// Multiply trajectory and replica counts by S (tighter intervals; the bounds still apply).
    #[arg(long, value_name = "S", default_value_t = 1.0, value_parser = parse_scale)]
    pub scale: f64,
    /// Also rerun every selected claim with K seeds derived from its own, writing nothing, and
    /// report how many passed; a claim that passes only on its own seed is flagged FRAGILE.
    #[arg(long, value_name = "K", conflicts_with = "drift")]
    pub seeds: Option<u64>,
    /// Rerun, write nothing, and fail where fresh metrics differ from the committed ones by more
    /// than their statistical error allows (the regression check for other machines).
    #[arg(long)]
    pub drift: bool,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && v > 0.0 && v <= 1000.0 {
        Ok(v)
    } else {
        Err(format!("scale must be in (0, 1000], got {v}"))
    }
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
        Command::VerifyClaims(args) => verify_claims(&paths, &args, out, err),
        Command::NewClaim { name, kind } => new_claim(&paths, &name, &kind, out, err),
        Command::Schema { check } => schema(&paths, check, out, err),
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
            bench_reference(&paths, &p, out, err)
        }
        Command::BuildSite { check } => build_site(&paths, check, out, err),
        Command::CheckSite { chromium } => check_site(&paths, chromium, out, err),
        Command::BenchTable { no_run } => bench_table(&paths, no_run, out, err),
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

fn bench_reference(
    paths: &Paths,
    p: &crate::reference::ReferenceParams,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    if !(p.barrier_over_t > 0.0
        && p.barrier_over_t <= 12.0
        && p.eta > 0.0
        && p.eta < 0.1
        && p.trajectories > 0)
    {
        let _ = writeln!(
            err,
            "error: need 0 < barrier-over-t <= 12, 0 < eta < 0.1 and trajectories > 0"
        );
        return exit::USAGE;
    }
    let python = match crate::reference::python_with_numpy(&paths.root) {
        Ok(p) => p,
        Err(m) => {
            let _ = writeln!(err, "error: {m}");
            return exit::UNAVAILABLE;
        }
    };
    let rust = crate::reference::time_rust(p, 3);
    let numpy = crate::reference::time_numpy(&paths.root, &python, p);
    let (rust, numpy) = match (rust, numpy) {
        (Ok(r), Ok(n)) => (r, n),
        (Err(m), _) | (_, Err(m)) => {
            let _ = writeln!(err, "error: {m}");
            return exit::INTERNAL;
        }
    };
    let ratio = numpy.wall_seconds / rust.wall_seconds;
    let _ = writeln!(
        out,
        "escape experiment, dL/T = {}, eta = {}, {} trajectories, one thread",
        p.barrier_over_t, p.eta, p.trajectories
    );
    let _ = writeln!(
        out,
        "  this project (best of 3): {:.3} s, {:.2} ns per trajectory-step, mean escape time {:.3}",
        rust.wall_seconds,
        rust.ns_per_step(),
        rust.mean_escape_time
    );
    let _ = writeln!(
        out,
        "  NumPy reference:          {:.3} s, {:.2} ns per array step, mean escape time {:.3}",
        numpy.wall_seconds,
        numpy.ns_per_step(),
        numpy.mean_escape_time
    );
    let _ = writeln!(
        out,
        "  ratio (NumPy wall / this project's wall): {ratio:.1}x (goal: at least 8x)"
    );
    if ratio >= 8.0 {
        exit::OK
    } else {
        exit::CLAIM_FAILED
    }
}

/// `bench-table`: the logic lives in `exp_scaling_rules::timings`, the family that owns the step.
fn bench_table(
    paths: &Paths,
    no_run: bool,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    use exp_scaling_rules::timings;
    if !no_run && let Err(e) = timings::run_benchmark(&paths.root) {
        let _ = writeln!(err, "error: {e}");
        return exit::INTERNAL;
    }
    let machine = timings::machine_info(&paths.root);
    let file = match timings::timing_file(&timings::criterion_dir(&paths.root), machine) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "error: {e} (run without --no-run to benchmark first)");
            return exit::INTERNAL;
        }
    };
    match timings::write_timing_file(&paths.root, &file) {
        Ok(path) => {
            let _ = write!(out, "{}", timings::render_table(&file));
            let _ = writeln!(out, "wrote {}", path.display());
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return exit::INTERNAL;
        }
    }
    let failing: Vec<&str> = file
        .ratios
        .iter()
        .filter(|r| !r.pass)
        .map(|r| r.name.as_str())
        .collect();
    if failing.is_empty() {
        exit::OK
    } else {
        let _ = writeln!(
            err,
            "error: timing ratio does not hold: {}",
            failing.join("; ")
        );
        exit::CLAIM_FAILED
    }
}

fn schema(
    paths: &Paths,
    check: bool,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    let bytes = crate::schema::claim_schema_bytes(&families::registry());
    let path = paths.claims().join("schema.json");
    if check {
        if std::fs::read(&path).ok().as_deref() == Some(&bytes[..]) {
            let _ = writeln!(out, "{} is fresh", path.display());
            return exit::OK;
        }
        let _ = writeln!(
            err,
            "error: {} is stale or missing; run `cargo xtask schema` and commit it",
            path.display()
        );
        return exit::CLAIM_FAILED;
    }
    match claim_spec::result::write_atomic(&path, &bytes) {
        Ok(()) => {
            let _ = writeln!(out, "wrote {}", path.display());
            exit::OK
        }
        Err(e) => {
            let _ = writeln!(err, "error: cannot write {}: {e}", path.display());
            exit::INTERNAL
        }
    }
}

fn new_claim(
    paths: &Paths,
    name: &str,
    kind: &str,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    let (family, id) = match crate::scaffold::parse_name(name) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return exit::USAGE;
        }
    };
    let registry = families::registry();
    let existing = match verify::load(paths, &registry) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                let _ = writeln!(err, "error: {e}");
            }
            let _ = writeln!(err, "fix the claim files above first; nothing was written");
            return exit::INVALID_CLAIMS;
        }
    };
    let text = match crate::scaffold::new_claim_text(&registry, &existing, &family, &id, kind) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return exit::USAGE;
        }
    };
    let dir = paths.claims().join(&family);
    let path = dir.join(format!("{id}.yaml"));
    if path.exists() {
        let _ = writeln!(err, "error: {} exists already", path.display());
        return exit::USAGE;
    }
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|()| claim_spec::result::write_atomic(&path, text.as_bytes()))
    {
        let _ = writeln!(err, "error: cannot write {}: {e}", path.display());
        return exit::INTERNAL;
    }
    let _ = writeln!(
        out,
        "wrote {}
next: edit its title, section, statement and bounds, then `cargo xtask verify-claims {id}`",
        path.display()
    );
    exit::OK
}

fn thread_pool(jobs: Option<u16>) -> Result<(rayon::ThreadPool, usize), String> {
    let threads = jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map(|p| (p, threads))
        .map_err(|e| format!("cannot start {threads} worker threads: {e}"))
}

/// Loads and selects claims; on failure returns the exit code after printing the problems.
fn load_and_select(
    paths: &Paths,
    args: &VerifyArgs,
    err: &mut (dyn Write + Send),
) -> Result<Vec<LoadedClaim>, u8> {
    let registry = families::registry();
    let claims = verify::load(paths, &registry).map_err(|errors| {
        for e in &errors {
            let _ = writeln!(err, "error: {e}");
        }
        let _ = writeln!(
            err,
            "{} problem(s) in claim files; nothing was run",
            errors.len()
        );
        exit::INVALID_CLAIMS
    })?;
    let selection = Selection {
        ids: args.ids.clone(),
        family: args.family.clone(),
    };
    let selected = verify::select(&claims, &selection).map_err(|m| {
        let _ = writeln!(err, "error: {m}");
        exit::USAGE
    })?;
    let selected = match args.shard {
        Some(s) => verify::shard(&selected, s),
        None => selected,
    };
    Ok(selected.into_iter().cloned().collect())
}

fn verify_claims(
    paths: &Paths,
    args: &VerifyArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    let claims = match load_and_select(paths, args, err) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let selected: Vec<&LoadedClaim> = claims.iter().collect();
    let (pool, threads) = match thread_pool(args.jobs) {
        Ok(p) => p,
        Err(m) => {
            let _ = writeln!(err, "error: {m}");
            return exit::INTERNAL;
        }
    };
    if let Some(k) = args.seeds {
        return verify_seeds(&pool, &selected, k, args.scale, out);
    }
    if args.drift {
        return verify_drift(paths, &pool, &selected, args.scale, out);
    }
    if let Err(m) = verify::prepare_output_dirs(paths) {
        let _ = writeln!(err, "error: {m}");
        return exit::INTERNAL;
    }
    let width = selected.iter().map(|c| c.claim.id.len()).max().unwrap_or(0);
    let start = Instant::now();
    let progress = Progress::new(selected.len());
    let out_lock = Mutex::new(&mut *out);
    let print = |text: &str| {
        if args.format == Format::Human {
            progress.suspend(|| {
                if let Ok(mut o) = out_lock.lock() {
                    let _ = write!(o, "{text}");
                }
            });
        }
    };
    // Claims and their trajectories share one pool: a slow claim's trajectories fill idle cores.
    let reports: Vec<Result<ClaimReport, String>> = pool.install(|| {
        selected
            .par_iter()
            .with_max_len(1)
            .map(|c| {
                if !args.force
                    && let Some(committed) = verify::reusable_result(paths, c, args.scale)
                {
                    let rep = verify::report(
                        &verify::RunOutput {
                            result: committed,
                            svgs: Vec::new(),
                        },
                        0.0,
                    );
                    print(&format!(
                        "{}      (unchanged since its committed result; --force reruns)\n",
                        human_line(&rep, width).trim_end()
                    ));
                    progress.finished();
                    return Ok(rep);
                }
                let spinner = progress.start(&c.claim.id);
                let t = Instant::now();
                let output = verify::run_claim(c, c.claim.seed, args.scale);
                verify::write_outputs(paths, &output)?;
                let rep = verify::report(&output, t.elapsed().as_secs_f64());
                progress.done(spinner);
                print(&human_line(&rep, width));
                Ok(rep)
            })
            .collect()
    });
    progress.clear();
    let out = out_lock
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let reports: Vec<ClaimReport> = match reports.into_iter().collect() {
        Ok(r) => r,
        Err(m) => {
            let _ = writeln!(err, "error: {m}");
            return exit::INTERNAL;
        }
    };
    let passed = reports.iter().filter(|r| r.status == Status::Pass).count();
    let failed = reports.iter().filter(|r| r.status == Status::Fail).count();
    let errored = reports.iter().filter(|r| r.status == Status::Error).count();
    match args.format {
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

fn verify_seeds(
    pool: &rayon::ThreadPool,
    selected: &[&LoadedClaim],
    k: u64,
    scale: f64,
    out: &mut (dyn Write + Send),
) -> u8 {
    let reports = pool.install(|| verify::seed_robustness(selected, k, scale));
    let mut all_pass = true;
    for r in &reports {
        let passed = r.runs.iter().filter(|x| x.1).count();
        let label = if r.fragile() {
            "FRAGILE"
        } else if r.own_seed_passes && passed == r.runs.len() {
            "PASS"
        } else {
            "FAIL"
        };
        all_pass &= label == "PASS";
        let own = if r.own_seed_passes { "passes" } else { "fails" };
        let _ = writeln!(
            out,
            "{label:<7} {}  own seed {own}, {passed}/{} derived seeds pass",
            r.id,
            r.runs.len()
        );
        for (seed, ok, why) in &r.runs {
            if !ok {
                let _ = writeln!(out, "        seed {seed}: {}", why.join("; "));
            }
        }
    }
    if all_pass {
        exit::OK
    } else {
        exit::CLAIM_FAILED
    }
}

fn verify_drift(
    paths: &Paths,
    pool: &rayon::ThreadPool,
    selected: &[&LoadedClaim],
    scale: f64,
    out: &mut (dyn Write + Send),
) -> u8 {
    let outputs: Vec<verify::RunOutput> = pool.install(|| {
        selected
            .par_iter()
            .with_max_len(1)
            .map(|c| verify::run_claim(c, c.claim.seed, scale))
            .collect()
    });
    let mut ok = true;
    for o in &outputs {
        let Ok(committed) = claim_spec::ResultFile::read(&paths.result_file(&o.result.id)) else {
            ok = false;
            let _ = writeln!(
                out,
                "DRIFT   {}  no committed result to compare with",
                o.result.id
            );
            continue;
        };
        let d = verify::drift(&committed, &o.result);
        let label = if d.drifted.is_empty() {
            "SAME"
        } else {
            "DRIFT"
        };
        ok &= d.drifted.is_empty();
        let _ = writeln!(
            out,
            "{label:<7} {}  ({} exact value(s) differ)",
            d.id,
            d.differing_exact.len()
        );
        for m in &d.drifted {
            let _ = writeln!(out, "        {m}");
        }
    }
    if ok { exit::OK } else { exit::CLAIM_FAILED }
}

/// Progress on a terminal: a spinner per running claim and an overall bar, on standard error.
/// Hidden when standard error is not a terminal or under CI, where the plain lines suffice.
struct Progress {
    multi: MultiProgress,
    total: Option<ProgressBar>,
}

impl Progress {
    fn new(n: usize) -> Self {
        let visible = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let multi = MultiProgress::with_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let total = visible.then(|| {
            let bar = multi.add(ProgressBar::new(n as u64));
            if let Ok(style) =
                ProgressStyle::with_template("{bar:30} {pos}/{len} claims, {elapsed}")
            {
                bar.set_style(style);
            }
            bar
        });
        Self { multi, total }
    }

    fn start(&self, id: &str) -> Option<ProgressBar> {
        self.total.as_ref()?;
        let s = self.multi.insert(0, ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            s.set_style(style);
        }
        s.set_message(id.to_owned());
        s.enable_steady_tick(Duration::from_millis(120));
        Some(s)
    }

    fn done(&self, spinner: Option<ProgressBar>) {
        if let Some(s) = spinner {
            s.finish_and_clear();
            self.multi.remove(&s);
        }
        self.finished();
    }

    fn finished(&self) {
        if let Some(t) = &self.total {
            t.inc(1);
        }
    }

    fn suspend<F: FnOnce()>(&self, f: F) {
        self.multi.suspend(f);
    }

    fn clear(&self) {
        if let Some(t) = &self.total {
            t.finish_and_clear();
        }
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
