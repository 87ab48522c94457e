//! The timing file behind the post's batch-size trade-off table (`cargo xtask bench-table`): the
//! one statement of its data contract.
//!
//! It runs the criterion benchmark `minibatch_step` of `exp-scaling-rules` (one SGD step of the fixed
//! least-squares model of `batch-size-tradeoffs`, for b = 1, 2, 4, ..., 1024), reads criterion's
//! estimates of the time per step, and writes `site/_data/timings.json`: updates/s = 1/time,
//! examples/s = b/time, with the machine they were measured on. Timings depend on the machine and
//! its load, so they never enter a claim's deterministic result file. The file records the two
//! ratios of the claim `batch-size-tradeoffs` and whether they hold:
//! - examples/s at the largest b over the smallest, above 2 (large batches use the core better);
//! - updates/s at the smallest b over the largest, above 10 (small batches step more often).

use exp_scaling_rules::batch_tradeoffs::default_model_sizes;
use exp_scaling_rules::minibatch_step::StepWorkspace;
pub use exp_scaling_rules::timings::{BATCH_SIZES, BENCH_GROUP};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The lower bound of examples/s at the largest b over the smallest (the claim `batch-size-tradeoffs`).
pub const EXAMPLES_RATIO_MIN: f64 = 2.0;

/// The lower bound of updates/s at the smallest b over the largest (the claim `batch-size-tradeoffs`).
pub const UPDATES_RATIO_MIN: f64 = 10.0;

/// The machine the timings come from (the keys the post prints, in this order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Logical CPUs listed in /proc/cpuinfo (or reported by the OS).
    pub cores: usize,
    /// `rustc --version`.
    pub rustc: String,
    /// Operating system and architecture.
    pub os: String,
    /// The load average over 1, 5 and 15 minutes when the file was written (/proc/loadavg): other
    /// work on the machine slows the timed steps.
    pub load_average: String,
}

/// One batch size.
#[derive(Clone, Debug, PartialEq)]
pub struct TimingRow {
    /// b.
    pub batch_size: usize,
    /// Criterion's estimate of the time per step, seconds.
    pub seconds_per_step: f64,
    /// Its 95% confidence interval, seconds.
    pub seconds_per_step_ci: [f64; 2],
    /// 1 / seconds_per_step.
    pub updates_per_second: f64,
    /// b / seconds_per_step.
    pub examples_per_second: f64,
    /// Bytes one step touches (deterministic; as in the claim).
    pub working_set_bytes: usize,
}

/// A ratio of the claim `batch-size-tradeoffs` and whether it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioCheck {
    /// Its name.
    pub name: String,
    /// The measured ratio.
    pub value: f64,
    /// It holds when the value is above this.
    pub at_least: f64,
    /// Whether it holds.
    pub pass: bool,
}

/// The columns of the timing table, in row order.
pub const COLUMNS: [&str; 7] = [
    "batch_size",
    "microseconds_per_step",
    "microseconds_per_step_lo",
    "microseconds_per_step_hi",
    "updates_per_s",
    "examples_per_s",
    "working_set_bytes",
];

/// The timing file `site/_data/timings.json`: `machine`, `columns` and `rows` as the post's
/// template expects (site/_templates/README.md), plus the provenance and the ratio checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimingFile {
    /// The command that wrote it.
    pub command: String,
    /// The benchmark it ran.
    pub benchmark: String,
    /// Which criterion statistic the times are.
    pub statistic: String,
    /// The timed step.
    pub model: String,
    /// The machine.
    pub machine: Machine,
    /// [`COLUMNS`].
    pub columns: Vec<String>,
    /// One row per batch size, increasing; the time per step with its 95% interval.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// The ratios of the claim `batch-size-tradeoffs`.
    pub ratios: Vec<RatioCheck>,
}

impl TimingRow {
    /// The row as the file stores it, in [`COLUMNS`] order.
    pub fn cells(&self) -> Vec<serde_json::Value> {
        vec![
            serde_json::json!(self.batch_size),
            serde_json::json!(self.seconds_per_step * 1e6),
            serde_json::json!(self.seconds_per_step_ci[0] * 1e6),
            serde_json::json!(self.seconds_per_step_ci[1] * 1e6),
            serde_json::json!(self.updates_per_second),
            serde_json::json!(self.examples_per_second),
            serde_json::json!(self.working_set_bytes),
        ]
    }
}

/// Errors of `bench-table`.
#[derive(Debug, thiserror::Error)]
pub enum TimingError {
    /// The benchmark could not run or failed.
    #[error("benchmark: {0}")]
    Benchmark(String),
    /// Criterion's estimates are missing or malformed.
    #[error("criterion estimates {path}: {message}")]
    Estimates {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing the timing file failed.
    #[error("writing {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Criterion's time-per-iteration estimate in nanoseconds with its 95% interval: the `slope`
/// statistic (linear regression of time on iterations, criterion's default) when present, else
/// the `mean`.
///
/// # Errors
/// When the file is missing or does not hold the statistic.
pub fn read_estimate(path: &Path) -> Result<(String, f64, [f64; 2]), TimingError> {
    let err = |message: String| TimingError::Estimates {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    for statistic in ["slope", "mean"] {
        let s = &json[statistic];
        if s.is_null() {
            continue;
        }
        let point = s["point_estimate"].as_f64();
        let lo = s["confidence_interval"]["lower_bound"].as_f64();
        let hi = s["confidence_interval"]["upper_bound"].as_f64();
        if let (Some(point), Some(lo), Some(hi)) = (point, lo, hi)
            && point > 0.0
            && point.is_finite()
            && lo.is_finite()
            && hi.is_finite()
        {
            return Ok((statistic.to_owned(), point, [lo, hi]));
        }
        return Err(err(format!(
            "`{statistic}` lacks a positive point estimate and interval"
        )));
    }
    Err(err("neither `slope` nor `mean` is present".into()))
}

/// The machine: CPU model and logical CPUs from /proc/cpuinfo where readable, `rustc --version`
/// run in `root` (so the toolchain that built the benchmark answers), the load average.
pub fn machine_info(root: &Path) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let listed = cpuinfo
        .lines()
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(k, _)| k.trim() == "processor")
        })
        .count();
    let cores = if listed > 0 {
        listed
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    let rustc = Command::new("rustc")
        .arg("--version")
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    Machine {
        cpu,
        cores,
        rustc,
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        load_average,
    }
}

/// The ratios of the claim `batch-size-tradeoffs` from the rows (sorted by batch size).
pub fn ratio_checks(rows: &[TimingRow]) -> Vec<RatioCheck> {
    let (Some(small), Some(large)) = (rows.first(), rows.last()) else {
        return Vec::new();
    };
    let examples = large.examples_per_second / small.examples_per_second;
    let updates = small.updates_per_second / large.updates_per_second;
    vec![
        RatioCheck {
            name: format!(
                "examples/s at b = {} over b = {}",
                large.batch_size, small.batch_size
            ),
            value: examples,
            at_least: EXAMPLES_RATIO_MIN,
            pass: examples > EXAMPLES_RATIO_MIN,
        },
        RatioCheck {
            name: format!(
                "updates/s at b = {} over b = {}",
                small.batch_size, large.batch_size
            ),
            value: updates,
            at_least: UPDATES_RATIO_MIN,
            pass: updates > UPDATES_RATIO_MIN,
        },
    ]
}

/// Builds the timing file from criterion's estimates under `criterion_dir`
/// (`<target>/criterion`).
///
/// # Errors
/// A missing or malformed estimate.
pub fn timing_file(criterion_dir: &Path, machine: Machine) -> Result<TimingFile, TimingError> {
    let (samples, dim, _) = default_model_sizes();
    let mut rows = Vec::with_capacity(BATCH_SIZES.len());
    let mut statistic = String::new();
    for &b in &BATCH_SIZES {
        let path = criterion_dir
            .join(BENCH_GROUP)
            .join(b.to_string())
            .join("new")
            .join("estimates.json");
        let (stat, ns, [lo, hi]) = read_estimate(&path)?;
        statistic = stat;
        let seconds = ns * 1e-9;
        rows.push(TimingRow {
            batch_size: b,
            seconds_per_step: seconds,
            seconds_per_step_ci: [lo * 1e-9, hi * 1e-9],
            updates_per_second: 1.0 / seconds,
            examples_per_second: b as f64 / seconds,
            working_set_bytes: StepWorkspace::new(b, dim).working_set_bytes(dim),
        });
    }
    let ratios = ratio_checks(&rows);
    Ok(TimingFile {
        command: "cargo xtask bench-table".into(),
        benchmark: "cargo bench -p exp-scaling-rules --bench minibatch_step".into(),
        statistic: format!("criterion `{statistic}` estimate of the time per step, 95% interval"),
        model: format!(
            "one SGD step of least squares with N = {samples} examples and d = {dim} parameters: \
             draw b indices with replacement, residuals, gradient, update"
        ),
        machine,
        columns: COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
        rows: rows.iter().map(TimingRow::cells).collect(),
        ratios,
    })
}

/// The rows of a timing file, read back from its cells.
///
/// # Errors
/// When a row does not hold [`COLUMNS`] as numbers.
pub fn rows_of(file: &TimingFile) -> Result<Vec<TimingRow>, String> {
    file.rows
        .iter()
        .map(|r| {
            let num = |k: usize| {
                r.get(k)
                    .and_then(serde_json::Value::as_f64)
                    .ok_or_else(|| format!("cell {k} of a timing row is not a number"))
            };
            Ok(TimingRow {
                batch_size: num(0)? as usize,
                seconds_per_step: num(1)? * 1e-6,
                seconds_per_step_ci: [num(2)? * 1e-6, num(3)? * 1e-6],
                updates_per_second: num(4)?,
                examples_per_second: num(5)?,
                working_set_bytes: num(6)? as usize,
            })
        })
        .collect()
}

/// Runs the benchmark with the `cargo` that runs this program (or `cargo` on the path), in
/// `root`, showing its output.
///
/// # Errors
/// When cargo cannot start or the benchmark fails.
pub fn run_benchmark(root: &Path) -> Result<(), TimingError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "bench",
            "-p",
            "exp-scaling-rules",
            "--bench",
            "minibatch_step",
        ])
        .current_dir(root)
        .status()
        .map_err(|e| TimingError::Benchmark(format!("cannot start cargo: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(TimingError::Benchmark(format!(
            "cargo bench exited with {status}"
        )))
    }
}

/// The criterion folder: `$CARGO_TARGET_DIR/criterion` when set, else `<root>/target/criterion`.
pub fn criterion_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("criterion")
}

/// Writes the timing file to `<root>/site/_data/timings.json` atomically, pretty-printed.
///
/// # Errors
/// An I/O failure.
pub fn write_timing_file(root: &Path, file: &TimingFile) -> Result<PathBuf, TimingError> {
    let path = root.join("site").join("_data").join("timings.json");
    let write_err = |message: String| TimingError::Write {
        path: path.clone(),
        message,
    };
    let mut text = serde_json::to_string_pretty(file).map_err(|e| write_err(e.to_string()))?;
    text.push('\n');
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| write_err(e.to_string()))?;
    }
    claim_spec::result::write_atomic(&path, text.as_bytes())
        .map_err(|e| write_err(e.to_string()))?;
    Ok(path)
}

/// The trade-off table as plain text, for the terminal.
pub fn render_table(file: &TimingFile) -> String {
    let mut s = format!(
        "{} ({} logical CPUs, load {}), {}\n{:>6} {:>14} {:>14} {:>16} {:>12}\n",
        file.machine.cpu,
        file.machine.cores,
        file.machine.load_average,
        file.machine.rustc,
        "b",
        "time/step",
        "updates/s",
        "examples/s",
        "working set"
    );
    for r in rows_of(file).unwrap_or_default() {
        s.push_str(&format!(
            "{:>6} {:>12.3} us {:>14.0} {:>16.0} {:>10} B\n",
            r.batch_size,
            r.seconds_per_step * 1e6,
            r.updates_per_second,
            r.examples_per_second,
            r.working_set_bytes
        ));
    }
    for c in &file.ratios {
        s.push_str(&format!(
            "{} {}: {:.2} (must exceed {})\n",
            if c.pass { "PASS" } else { "FAIL" },
            c.name,
            c.value,
            c.at_least
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_estimates(dir: &Path, b: usize, ns: f64, slope: bool) {
        let d = dir.join(BENCH_GROUP).join(b.to_string()).join("new");
        std::fs::create_dir_all(&d).unwrap();
        let stat = format!(
            r#"{{"point_estimate": {ns}, "standard_error": 1.0,
               "confidence_interval": {{"confidence_level": 0.95, "lower_bound": {}, "upper_bound": {}}}}}"#,
            ns * 0.99,
            ns * 1.01
        );
        let json = if slope {
            format!(r#"{{"mean": {stat}, "median": {stat}, "slope": {stat}}}"#)
        } else {
            format!(r#"{{"mean": {stat}, "median": {stat}, "slope": null}}"#)
        };
        std::fs::write(d.join("estimates.json"), json).unwrap();
    }

    fn machine() -> Machine {
        Machine {
            cpu: "test".into(),
            cores: 2,
            rustc: "rustc".into(),
            os: "linux".into(),
            load_average: "0.1 0.2 0.3".into(),
        }
    }

    #[test]
    fn builds_rows_and_checks_ratios_from_estimates() {
        let dir = tempfile::tempdir().unwrap();
        // Time per step 100 ns + 10 ns per example: examples/s ratio 110 * 1024 / (100 + 10240)
        // = 10.9 > 2 and updates/s ratio (100 + 10240) / 110 = 94 > 10.
        for (k, &b) in BATCH_SIZES.iter().enumerate() {
            write_estimates(dir.path(), b, 100.0 + 10.0 * b as f64, k % 2 == 0);
        }
        let file = timing_file(dir.path(), machine()).unwrap();
        assert_eq!(file.rows.len(), BATCH_SIZES.len());
        assert!(file.rows.iter().all(|r| r.len() == file.columns.len()));
        let rows = rows_of(&file).unwrap();
        let r0 = &rows[0];
        assert!((r0.updates_per_second - 1e9 / 110.0).abs() < 1e-3);
        assert!(file.ratios.iter().all(|c| c.pass), "{:?}", file.ratios);
        assert!((file.ratios[1].value - 10340.0 / 110.0).abs() < 1e-9);
        // Written atomically and readable back.
        let root = tempfile::tempdir().unwrap();
        let path = write_timing_file(root.path(), &file).unwrap();
        let back: TimingFile =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        // serde_json parses floats to within an ulp (no `float_roundtrip` feature): compare the
        // structure exactly and the numbers to 1e-15 relative.
        assert_eq!(back.machine, file.machine);
        assert_eq!(back.ratios.len(), 2);
        for (a, b) in rows_of(&back).unwrap().iter().zip(&rows) {
            assert_eq!(a.batch_size, b.batch_size);
            assert!((a.examples_per_second / b.examples_per_second - 1.0).abs() < 1e-15);
        }
        // The post's contract: `machine` an object, `columns` names, rows as long as `columns`.
        let v: serde_json::Value = serde_json::to_value(&back).unwrap();
        assert!(v["machine"].is_object() && v["columns"].is_array());
        assert_eq!(v["rows"][0][0], serde_json::json!(1));
        assert!(render_table(&file).contains("PASS"));
    }

    #[test]
    fn failing_ratios_are_named() {
        // Time proportional to b: examples/s constant (ratio 1, fails); updates/s ratio 1024.
        let dir = tempfile::tempdir().unwrap();
        for &b in &BATCH_SIZES {
            write_estimates(dir.path(), b, 10.0 * b as f64, true);
        }
        let file = timing_file(dir.path(), machine()).unwrap();
        let failing: Vec<&str> = file
            .ratios
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(failing, vec!["examples/s at b = 1024 over b = 1"]);
    }

    #[test]
    fn missing_or_malformed_estimates_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            timing_file(dir.path(), machine()),
            Err(TimingError::Estimates { .. })
        ));
        let d = dir.path().join("x.json");
        std::fs::write(&d, r#"{"mean": {"point_estimate": -1}}"#).unwrap();
        assert!(read_estimate(&d).is_err());
    }
}
