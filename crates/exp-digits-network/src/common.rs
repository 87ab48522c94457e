//! What the kinds share: loading the data for a run, running recipes over seeds on the pool (in
//! index order), paired statistics over seeds, and the provenance table of the data and split.

use crate::data::{self, DATA_SHA256, Digits};
use crate::train::{Probes, Recipe, Run, run};
use claim_spec::{ExperimentError, ParamError, RunContext, Table, row};
use sgd_sim::parallel::map_indexed;
use sgd_sim::stats::{Estimate, mean_estimate};

/// The split seed every claim of the family uses unless it says otherwise.
pub const SPLIT_SEED: u64 = 19;

/// Checks that the committed data loads (a changed or truncated file makes every claim of the
/// family invalid before anything runs).
///
/// # Errors
/// The data file's problem, under the key `data`.
pub fn validate_data() -> Result<(), ParamError> {
    data::raw()
        .map(|_| ())
        .map_err(|e| ParamError::new("data", e))
}

/// The seeds count and its minimum (paired intervals need two).
///
/// # Errors
/// Fewer than two seeds.
pub fn validate_seeds(seeds: usize) -> Result<(), ParamError> {
    ParamError::at_least("seeds", seeds as u64, 2)
}

/// The data, split by `split_seed`.
///
/// # Errors
/// When the committed file fails validation.
pub fn digits(split_seed: u64) -> Result<Digits, ExperimentError> {
    data::load(split_seed).map_err(ExperimentError::InvalidParams)
}

/// The seed count after `--scale`, at least two.
pub fn seed_count(ctx: &RunContext, seeds: usize) -> usize {
    ctx.scaled(seeds).max(2)
}

/// Runs every (recipe, seed) pair on the pool; `out[r][s]` is recipe r at seed index s. Runs of
/// the same seed share their initialization and batch-order streams.
///
/// # Errors
/// `Cancelled` when interrupted.
pub fn run_grid(
    jobs: &[(Recipe, Probes)],
    seeds: usize,
    d: &Digits,
    ctx: &RunContext,
) -> Result<Vec<Vec<Run>>, ExperimentError> {
    let streams = ctx.streams();
    let flat = map_indexed(jobs.len() * seeds, |k| {
        let (recipe, probes) = &jobs[k / seeds];
        run(recipe, probes, d, &streams, (k % seeds) as u64, &ctx.cancel)
    });
    ctx.check_cancelled()?;
    let mut out: Vec<Vec<Run>> = Vec::with_capacity(jobs.len());
    let mut it = flat.into_iter();
    for _ in 0..jobs.len() {
        out.push(it.by_ref().take(seeds).collect::<Result<Vec<_>, _>>()?);
    }
    Ok(out)
}

/// SGD steps over all runs, for provenance.
pub fn total_steps(runs: &[Vec<Run>]) -> u64 {
    runs.iter().flatten().map(|r| r.steps).sum()
}

/// The mean over seeds of `f`, with its t interval.
pub fn mean_of(runs: &[Run], f: impl Fn(&Run) -> f64) -> Estimate {
    mean_estimate(&runs.iter().map(f).collect::<Vec<_>>())
}

/// The mean over seeds of f(a_s) - f(b_s): a paired difference.
pub fn paired_diff(a: &[Run], b: &[Run], f: impl Fn(&Run) -> f64) -> Estimate {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| f(x) - f(y)).collect();
    mean_estimate(&d)
}

/// The data's provenance: its SHA-256, the split seed and the SHA-256 of the training indices.
pub fn provenance_table(d: &Digits) -> Table {
    let mut t = Table::new([
        "data_sha256",
        "split_seed",
        "split_sha256",
        "train_images",
        "test_images",
        "preprocessing",
    ]);
    t.push(row![
        DATA_SHA256,
        d.split_seed as f64,
        d.split_sha256.clone(),
        d.train_y.len(),
        d.test_y.len(),
        "pixels / 16, centred on the training mean"
    ]);
    t
}

/// The last sharpness probe of a run (NaN when none).
pub fn final_sharpness(r: &Run) -> f64 {
    r.sharpness.last().map_or(f64::NAN, |s| s.1)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Hand-made runs for the metric and figure tests.
    use crate::train::{Eval, Run};

    /// A run with the given test accuracy, test loss, sharpness, steps and train loss.
    pub fn run(test_acc: f64, test_loss: f64, sharp: f64, steps: f64, train_loss: f64) -> Run {
        let eval = |acc: f64, loss: f64| Eval {
            loss,
            accuracy: acc,
            top: vec![0.9, 0.99, 0.8, 0.95],
            gap: vec![3.0, 6.0, 2.0, 4.0],
            correct: vec![true, true, false, true],
        };
        Run {
            batch: 8,
            lr: 1.0,
            diverged: false,
            epochs: 5,
            steps: steps as u64,
            steps_to_target: Some(steps),
            train: eval(0.99, train_loss),
            test: eval(test_acc, test_loss),
            sharpness: vec![(0.0, 0.3), (5.0, sharp)],
            noise_scale: Vec::new(),
            weight_norm: 10.0 * sharp,
        }
    }
}
