//! `bench-reference`: the escape experiment timed on one thread in this project and in the NumPy
//! reference implementation (`crates/exp-escape-rates/benches/reference/escape_numpy.py`, copied
//! unchanged), on the same parameters and trajectory count. Timings are printed, never written to
//! a result file.

use exp_escape_rates::kernel::{EscapeSpec, ExitAbove, GaussianNoise, escape_steps};
use sgd_sim::potential::DoubleWell;
use sgd_sim::rng::Streams;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The experiment's parameters (the reference script's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReferenceParams {
    /// Barrier over temperature, dL/T.
    pub barrier_over_t: f64,
    /// Step size.
    pub eta: f64,
    /// Trajectories.
    pub trajectories: usize,
    /// Seed.
    pub seed: u64,
}

/// One side's measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Mean escape time in time units (steps x eta).
    pub mean_escape_time: f64,
    /// Total trajectory-steps taken.
    pub steps: u64,
    /// Wall seconds.
    pub wall_seconds: f64,
}

impl Timing {
    /// Nanoseconds per trajectory-step.
    pub fn ns_per_step(&self) -> f64 {
        self.wall_seconds * 1e9 / self.steps.max(1) as f64
    }
}

/// Runs this project's kernel on one thread: best wall time of `repeats` runs.
///
/// # Errors
/// A message when the pool cannot start or the kernel reports divergence.
pub fn time_rust(p: &ReferenceParams, repeats: usize) -> Result<Timing, String> {
    let well = DoubleWell { height: 1.0 };
    let temperature = 1.0 / p.barrier_over_t;
    let noise = GaussianNoise {
        scale: (2.0 * temperature / p.eta).sqrt(),
    };
    let spec = EscapeSpec {
        potential: &well,
        noise: &noise,
        exit: ExitAbove(1.0),
        eta: p.eta,
        start: -1.0,
        max_steps: u64::MAX / 4,
    };
    let streams = Streams::new(p.seed);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    let mut best: Option<Timing> = None;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let steps = pool
            .install(|| escape_steps(&spec, &streams, "trajectory", p.trajectories))
            .map_err(|e| e.to_string())?;
        let wall_seconds = start.elapsed().as_secs_f64();
        let total: u64 = steps.iter().sum();
        let mean = total as f64 * p.eta / steps.len() as f64;
        let t = Timing {
            mean_escape_time: mean,
            steps: total,
            wall_seconds,
        };
        if best.is_none_or(|b| t.wall_seconds < b.wall_seconds) {
            best = Some(t);
        }
    }
    best.ok_or_else(|| "no run".into())
}

/// A Python with NumPy: the system `python3` if it imports numpy, else a virtual environment
/// under `target/bench-reference/venv`, created and given NumPy on first use.
///
/// # Errors
/// What failed, with the command to fix it.
pub fn python_with_numpy(root: &Path) -> Result<PathBuf, String> {
    let has_numpy = |py: &Path| {
        Command::new(py)
            .args(["-c", "import numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let system = PathBuf::from("python3");
    if has_numpy(&system) {
        return Ok(system);
    }
    let venv = root.join("target/bench-reference/venv");
    let py = venv.join("bin/python3");
    if !py.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!(
                "cannot create a virtual environment at {}: install python3 and python3-venv",
                venv.display()
            ));
        }
    }
    if !has_numpy(&py) {
        let ok = Command::new(&py)
            .args(["-m", "pip", "install", "--quiet", "numpy"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !has_numpy(&py) {
            return Err(format!(
                "cannot install numpy into {}: run `{} -m pip install numpy`",
                venv.display(),
                py.display()
            ));
        }
    }
    Ok(py)
}

/// Runs the NumPy reference on one thread (BLAS threads pinned to 1) and parses its output line.
///
/// # Errors
/// When the script cannot run or its output is not the documented line.
pub fn time_numpy(root: &Path, python: &Path, p: &ReferenceParams) -> Result<Timing, String> {
    let script = root.join("crates/exp-escape-rates/benches/reference/escape_numpy.py");
    let output = Command::new(python)
        .arg(&script)
        .args([
            "--barrier-over-t",
            &p.barrier_over_t.to_string(),
            "--eta",
            &p.eta.to_string(),
        ])
        .args([
            "--trajectories",
            &p.trajectories.to_string(),
            "--seed",
            &p.seed.to_string(),
        ])
        .envs([
            ("OMP_NUM_THREADS", "1"),
            ("OPENBLAS_NUM_THREADS", "1"),
            ("MKL_NUM_THREADS", "1"),
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| -> Result<f64, String> {
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == name {
                return words
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("no number after `{name}` in `{text}`"));
            }
        }
        Err(format!("no `{name}` in the reference output `{text}`"))
    };
    Ok(Timing {
        mean_escape_time: field("mean_escape_time")?,
        steps: field("steps")? as u64,
        wall_seconds: field("wall_s")?,
    })
}
