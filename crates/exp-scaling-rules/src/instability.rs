//! Claim `instability-remedies`: when SGD is unstable, lowering eta, raising b or clipping the
//! gradient are the usual remedies; which one works depends on why the run is unstable.
//!
//! On the one-dimensional least-squares problem of [`crate::per_sample_quadratic`], two step sizes
//! make b = 1 SGD unstable in the mean square (rho(eta, 1) >= 1):
//! - noise-driven: eta = 1.25 eta_ms(1) < 2/abar, where full-batch descent is stable and only the
//!   spread of per-sample curvatures drives the growth;
//! - curvature-driven: eta = 1.1 * 2/abar, beyond the stability limit of full-batch descent.
//!
//! Each regime runs as is and with each remedy (halve eta; raise b to an intermediate size; raise
//! b to N; clip the gradient at a fixed norm), 200 runs of 2000 steps per cell. A run diverges when
//! |w| exceeds 1e6 (it then stops updating, but keeps drawing its batches, so every cell measures
//! the mean-square factor on the same number of batches); a bounded run spikes when its maximum
//! loss over the last 1000 steps exceeds 1000 times their median.

use crate::per_sample_quadratic::PerSampleQuadratic;
use claim_spec::figure::{
    Axis, CategoriesPanel, CategorySeries, FigureData, GridCell, GridPanel, Value, short_number,
};
use claim_spec::{
    Experiment, ExperimentError, ExperimentParams, Figures, MeasuredData, Metrics, ParamError,
    RunContext, Table, row,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sgd_sim::parallel::cancellable_trajectories;
use sgd_sim::rng::Stream;
use sgd_sim::sampler::{BatchSampler, SamplerKind};
use sgd_sim::stats::{Estimate, Resamples, Z95, mean_estimate, wilson_interval};

/// Parameters of `scaling-rules/instability-remedies`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Examples N.
    pub samples: usize,
    /// Shape of the Gamma distribution of per-sample curvatures.
    pub curvature_shape: f64,
    /// Scale of the Gamma distribution of per-sample curvatures.
    pub curvature_scale: f64,
    /// Standard deviation of the label noise.
    pub label_noise: f64,
    /// Noise-driven step size as a multiple of eta_ms(base_batch).
    pub noise_eta_factor: f64,
    /// Curvature-driven step size as a multiple of 2/abar.
    pub curvature_eta_factor: f64,
    /// The batch size of the unstable runs.
    pub base_batch: usize,
    /// The intermediate batch size of the "raise b" remedy (the other is N).
    pub intermediate_batch: usize,
    /// The gradient-norm clipping level.
    pub clip_norm: f64,
    /// The starting point w_0 (the teacher is 0).
    pub start: f64,
    /// Runs per cell.
    pub runs: usize,
    /// Steps per run.
    pub steps: usize,
    /// Final steps examined for loss spikes.
    pub spike_window: usize,
    /// A spike: maximum loss over the window above this multiple of its median.
    pub spike_factor: f64,
    /// A run diverges when |w| exceeds this.
    pub divergence_threshold: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            samples: 100,
            curvature_shape: 0.5,
            curvature_scale: 2.0,
            label_noise: 0.1,
            noise_eta_factor: 1.25,
            curvature_eta_factor: 1.1,
            base_batch: 1,
            intermediate_batch: 5,
            clip_norm: 1.0,
            start: 1.0,
            runs: 200,
            steps: 2000,
            spike_window: 1000,
            spike_factor: 1000.0,
            divergence_threshold: 1e6,
        }
    }
}

impl ExperimentParams for Params {
    fn validate(&self) -> Result<(), ParamError> {
        ParamError::at_least("samples", self.samples as u64, 2)?;
        if self.samples > 1_000_000 {
            return Err(ParamError::new("samples", "must be at most 10^6"));
        }
        ParamError::positive("curvature_shape", self.curvature_shape)?;
        ParamError::positive("curvature_scale", self.curvature_scale)?;
        ParamError::non_negative("label_noise", self.label_noise)?;
        ParamError::positive("noise_eta_factor", self.noise_eta_factor)?;
        ParamError::positive("curvature_eta_factor", self.curvature_eta_factor)?;
        for (key, b) in [
            ("base_batch", self.base_batch),
            ("intermediate_batch", self.intermediate_batch),
        ] {
            if b == 0 || b > self.samples {
                return Err(ParamError::new(
                    key,
                    format!("must be in 1..={}", self.samples),
                ));
            }
        }
        ParamError::positive("clip_norm", self.clip_norm)?;
        ParamError::finite("start", self.start)?;
        ParamError::at_least("runs", self.runs as u64, 2)?;
        ParamError::at_least("spike_window", self.spike_window as u64, 2)?;
        if self.steps < self.spike_window || self.steps > 10_000_000 {
            return Err(ParamError::new(
                "steps",
                format!("must be in spike_window ({})..=10^7", self.spike_window),
            ));
        }
        ParamError::positive("spike_factor", self.spike_factor)?;
        ParamError::positive("divergence_threshold", self.divergence_threshold)?;
        if self.divergence_threshold > 1e100 {
            return Err(ParamError::new(
                "divergence_threshold",
                "must be at most 1e100",
            ));
        }
        Ok(())
    }

    fn estimated_work(&self) -> f64 {
        let per_step =
            3.0 * self.base_batch as f64 + self.intermediate_batch as f64 + self.samples as f64;
        2.0 * self.runs as f64 * self.steps as f64 * per_step
    }
}

/// One cell of the grid: a regime run as is or with one remedy.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// `noise` or `curvature`.
    pub regime: &'static str,
    /// `none`, `halve_eta`, `batch_<b>`, `bigger_batch` or `clip`.
    pub remedy: String,
    /// Step size.
    pub eta: f64,
    /// Batch size.
    pub batch: usize,
    /// Gradient clipping level, if clipped.
    pub clip: Option<f64>,
}

impl Cell {
    /// The metric suffix `<regime>_<remedy>`.
    pub fn name(&self) -> String {
        format!("{}_{}", self.regime, self.remedy)
    }
}

/// The grid: both regimes, each as is and with every remedy.
pub fn cells(problem: &PerSampleQuadratic, p: &Params) -> Vec<Cell> {
    let noise_eta = p.noise_eta_factor * problem.mean_square_threshold(p.base_batch);
    let curvature_eta = p.curvature_eta_factor * problem.gradient_descent_limit();
    let mut out = Vec::new();
    for (regime, eta) in [("noise", noise_eta), ("curvature", curvature_eta)] {
        let base = |remedy: String, eta: f64, batch: usize, clip: Option<f64>| Cell {
            regime,
            remedy,
            eta,
            batch,
            clip,
        };
        out.push(base("none".into(), eta, p.base_batch, None));
        out.push(base("halve_eta".into(), eta / 2.0, p.base_batch, None));
        out.push(base(
            format!("batch_{}", p.intermediate_batch),
            eta,
            p.intermediate_batch,
            None,
        ));
        out.push(base("bigger_batch".into(), eta, problem.len(), None));
        out.push(base("clip".into(), eta, p.base_batch, Some(p.clip_norm)));
    }
    out
}

/// What one run did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunOutcome {
    /// The step at which |w| first exceeded the threshold.
    pub diverged_at: Option<usize>,
    /// Whether the loss spiked in the final window (bounded runs only).
    pub spiked: bool,
    /// Mean of (1 - eta a_B)^2 over the run's batches.
    pub mean_square_factor: f64,
    /// Median loss over the final window (bounded runs only).
    pub window_median_loss: Option<f64>,
    /// Largest |w| reached while bounded.
    pub max_abs_w: f64,
}

/// Runs one SGD trajectory of `cell` on its own stream. Batches are drawn without replacement;
/// b = N is the whole data set in index order (plain gradient descent).
pub fn run_one(
    problem: &PerSampleQuadratic,
    cell: &Cell,
    p: &Params,
    rng: &mut Stream,
) -> RunOutcome {
    let n = problem.len();
    let full = cell.batch >= n;
    let mut sampler = BatchSampler::new(SamplerKind::WithoutReplacement, n, cell.batch.min(n));
    let inv_b = 1.0 / cell.batch.min(n) as f64;
    let full_curvature = problem.curvatures.iter().sum::<f64>() / n as f64;
    let full_input_label = problem.input_label.iter().sum::<f64>() / n as f64;
    let mut window = vec![0.0; p.spike_window];
    let window_start = p.steps - p.spike_window;
    let mut w = p.start;
    let mut max_abs_w = w.abs();
    let mut diverged_at = None;
    let mut factor_sum = 0.0;
    for t in 0..p.steps {
        let (a_b, xy_b) = if full {
            (full_curvature, full_input_label)
        } else {
            let batch = sampler.next_batch(rng);
            let (mut a, mut xy) = (0.0, 0.0);
            for &i in batch {
                a += problem.curvatures[i];
                xy += problem.input_label[i];
            }
            (a * inv_b, xy * inv_b)
        };
        let f = 1.0 - cell.eta * a_b;
        factor_sum += f * f;
        if diverged_at.is_some() {
            continue;
        }
        let mut g = a_b * w - xy_b;
        if let Some(c) = cell.clip
            && g.abs() > c
        {
            g = c.copysign(g);
        }
        w -= cell.eta * g;
        // A NaN iterate compares false, so it counts as diverged too.
        let bounded = w.abs() <= p.divergence_threshold;
        if !bounded {
            diverged_at = Some(t + 1);
            continue;
        }
        max_abs_w = max_abs_w.max(w.abs());
        if t >= window_start {
            window[t - window_start] = problem.loss(w);
        }
    }
    let (spiked, window_median_loss) = if diverged_at.is_none() {
        let max = window.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mid = window.len() / 2;
        window.select_nth_unstable_by(mid, f64::total_cmp);
        let upper = window[mid];
        let median = if window.len().is_multiple_of(2) {
            let lower = window[..mid]
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            0.5 * (lower + upper)
        } else {
            upper
        };
        (max > p.spike_factor * median, Some(median))
    } else {
        (false, None)
    };
    RunOutcome {
        diverged_at,
        spiked,
        mean_square_factor: factor_sum / p.steps as f64,
        window_median_loss,
        max_abs_w,
    }
}

/// The kind `scaling-rules/instability-remedies`.
#[derive(Debug)]
pub struct InstabilityRemedies;

/// What the measure step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The drawn data set and its exact summaries.
    pub problem: PerSampleQuadratic,
    /// The grid: noise-driven cells, then as many curvature-driven ones.
    pub grid: Vec<Cell>,
    /// Runs per cell (after `--scale`).
    pub runs: usize,
    /// Every run, cell by cell.
    pub outcomes: Vec<RunOutcome>,
    /// Bootstrap resamples of each cell's bounded runs (None with fewer than two).
    pub resamples: Vec<Option<Resamples>>,
    /// Steps per run.
    pub steps: usize,
}

impl MeasuredData for Measured {
    fn samples(&self) -> u64 {
        (self.grid.len() * self.runs * self.steps) as u64
    }
}

impl Measured {
    /// The runs of cell `ci`.
    fn cell_runs(&self, ci: usize) -> &[RunOutcome] {
        &self.outcomes[ci * self.runs..(ci + 1) * self.runs]
    }

    /// Remedies per regime (each regime's first cell is the regime as is).
    fn remedies(&self) -> usize {
        self.grid.len() / 2
    }
}

/// One cell's summary: exact and measured mean-square factor, and what its runs did.
#[derive(Clone, Debug, PartialEq)]
struct CellSummary {
    rho: f64,
    measured: Estimate,
    diverged: u64,
    spiking: u64,
    runs: u64,
    diverged_ci: [f64; 2],
    spiking_ci: [f64; 2],
    unstable_ci: [f64; 2],
    bounded_medians: Vec<f64>,
    bounded_max: Option<f64>,
    median_divergence: Option<f64>,
}

impl CellSummary {
    fn new(m: &Measured, ci: usize) -> Self {
        let cell = &m.grid[ci];
        let cell_runs = m.cell_runs(ci);
        let factors: Vec<f64> = cell_runs.iter().map(|o| o.mean_square_factor).collect();
        let diverged = cell_runs.iter().filter(|o| o.diverged_at.is_some()).count() as u64;
        let spiking = cell_runs.iter().filter(|o| o.spiked).count() as u64;
        let n = m.runs as u64;
        let divergence_steps: Vec<f64> = cell_runs
            .iter()
            .filter_map(|o| o.diverged_at.map(|s| s as f64))
            .collect();
        Self {
            rho: m.problem.mean_square_factor(cell.eta, cell.batch),
            measured: mean_estimate(&factors),
            diverged,
            spiking,
            runs: n,
            diverged_ci: wilson_interval(diverged, n, Z95),
            spiking_ci: wilson_interval(spiking, n, Z95),
            // Unstable in the post's sense: the loss diverges or swings wildly (the two are
            // disjoint: only bounded runs are examined for spikes).
            unstable_ci: wilson_interval(diverged + spiking, n, Z95),
            bounded_medians: cell_runs
                .iter()
                .filter_map(|o| o.window_median_loss)
                .collect(),
            bounded_max: cell_runs
                .iter()
                .filter(|o| o.diverged_at.is_none())
                .map(|o| o.max_abs_w)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v)))),
            median_divergence: (!divergence_steps.is_empty())
                .then(|| sgd_sim::stats::median(&divergence_steps)),
        }
    }

    fn fraction(&self, count: u64) -> f64 {
        count as f64 / self.runs as f64
    }

    fn median_loss(&self) -> Option<f64> {
        (!self.bounded_medians.is_empty()).then(|| sgd_sim::stats::median(&self.bounded_medians))
    }
}

/// The problem's exact summaries and the two regimes' step sizes.
fn setup_metrics(m: &Measured, out: &mut Metrics) {
    let problem = &m.problem;
    let gd_limit = problem.gradient_descent_limit();
    // Summaries of the drawn data set: another seed draws another one, so they are measured.
    out.measured("mean_curvature", problem.mean_curvature);
    out.measured("min_loss", problem.min_loss);
    out.measured("curvature_variance", problem.curvature_variance);
    out.measured("gd_limit", gd_limit);
    out.measured(
        "eta_ms_base_batch",
        problem.mean_square_threshold(m.grid[0].batch),
    );
    let (noise_eta, curvature_eta) = (m.grid[0].eta, m.grid[m.remedies()].eta);
    out.measured("eta_noise_over_gd_limit", noise_eta / gd_limit);
    out.measured("eta_curvature_over_gd_limit", curvature_eta / gd_limit);
    out.measured(
        "lyapunov_noise_b1",
        problem.single_sample_lyapunov(noise_eta),
    );
    out.measured(
        "lyapunov_curvature_b1",
        problem.single_sample_lyapunov(curvature_eta),
    );
    // eta_run(1) is searched up to 20 times the full-batch limit, on a grid fine enough (1e-4 of
    // the range) to see the first sign change of the b = 1 Lyapunov exponent.
    match problem.single_sample_run_threshold(20.0 * gd_limit, 200_000) {
        Some(eta_run) => {
            out.measured("eta_run_b1", eta_run);
            out.measured("eta_run_b1_over_gd_limit", eta_run / gd_limit);
            out.measured(
                "bounded_window_exists",
                f64::from(u8::from(eta_run > gd_limit)),
            );
        }
        None => out.measured("bounded_window_exists", 0.0),
    }
}

/// The metrics of one cell, suffixed `<regime>_<remedy>`.
fn cell_metrics(m: &Measured, ci: usize, c: &CellSummary, out: &mut Metrics) {
    let name = m.grid[ci].name();
    out.measured(&format!("rho_{name}"), c.rho);
    out.estimate(&format!("rho_measured_{name}"), c.measured);
    out.estimate_with_interval(
        &format!("unstable_fraction_{name}"),
        c.fraction(c.diverged + c.spiking),
        c.unstable_ci,
    );
    out.estimate_with_interval(
        &format!("diverged_fraction_{name}"),
        c.fraction(c.diverged),
        c.diverged_ci,
    );
    out.estimate_with_interval(
        &format!("spiking_fraction_{name}"),
        c.fraction(c.spiking),
        c.spiking_ci,
    );
    if let (Some(median), Some(resamples)) = (c.median_loss(), &m.resamples[ci]) {
        // Median over bounded runs of their final-window median loss, percentile bootstrap.
        let interval = resamples.ci95(|idx| {
            let resample: Vec<f64> = idx.iter().map(|&i| c.bounded_medians[i]).collect();
            sgd_sim::stats::median(&resample)
        });
        out.estimate_with_interval(&format!("median_window_loss_{name}"), median, interval);
    }
}

/// The difference of two independent proportions k1/n1 - k2/n2 with Newcombe's hybrid score
/// interval, which combines the two Wilson intervals (Newcombe 1998, method 10) and stays inside
/// [-1, 1] with a sensible width when either proportion is 0 or 1.
pub fn proportion_difference(k1: u64, n1: u64, k2: u64, n2: u64) -> (f64, [f64; 2]) {
    let (p1, p2) = (k1 as f64 / n1 as f64, k2 as f64 / n2 as f64);
    let [l1, u1] = wilson_interval(k1, n1, Z95);
    let [l2, u2] = wilson_interval(k2, n2, Z95);
    let d = p1 - p2;
    let lo = d - ((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2)).sqrt();
    let hi = d + ((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2)).sqrt();
    (d, [lo, hi])
}

/// What each remedy buys: the unstable fraction of the regime as is minus that with the remedy,
/// `unstable_reduction_<regime>_<remedy>` (1 when a remedy calms every run of a regime whose
/// runs are all unstable, 0 when it changes nothing).
fn reduction_metrics(m: &Measured, out: &mut Metrics) {
    let n = m.remedies();
    for r in 0..2 {
        let base = CellSummary::new(m, r * n);
        for ci in r * n + 1..(r + 1) * n {
            let c = CellSummary::new(m, ci);
            let (d, interval) = proportion_difference(
                base.diverged + base.spiking,
                base.runs,
                c.diverged + c.spiking,
                c.runs,
            );
            let name = format!("unstable_reduction_{}", m.grid[ci].name());
            out.estimate_with_interval(&name, d, interval);
        }
    }
}

/// One row of the cells table.
fn cell_row(cell: &Cell, c: &CellSummary) -> Vec<claim_spec::outcome::Cell> {
    let [rlo, rhi] = c.measured.ci95();
    row![
        cell.regime,
        cell.remedy.clone(),
        cell.eta,
        cell.batch,
        cell.clip,
        c.rho,
        c.measured.value,
        rlo,
        rhi,
        c.fraction(c.diverged),
        c.diverged_ci[0],
        c.diverged_ci[1],
        c.fraction(c.spiking),
        c.spiking_ci[0],
        c.spiking_ci[1],
        c.fraction(c.diverged + c.spiking),
        c.unstable_ci[0],
        c.unstable_ci[1],
        c.median_loss(),
        c.bounded_max,
        c.median_divergence
    ]
}

/// The columns of the cells table.
const CELL_COLUMNS: [&str; 21] = [
    "regime",
    "remedy",
    "eta",
    "batch",
    "clip",
    "rho_exact",
    "rho_measured",
    "rho_measured_lo",
    "rho_measured_hi",
    "diverged_fraction",
    "diverged_lo",
    "diverged_hi",
    "spiking_fraction",
    "spiking_lo",
    "spiking_hi",
    "unstable_fraction",
    "unstable_lo",
    "unstable_hi",
    "median_window_loss",
    "max_abs_w_bounded",
    "median_divergence_step",
];

impl Experiment for InstabilityRemedies {
    const KIND: &'static str = "scaling-rules/instability-remedies";
    type Params = Params;
    type Measured = Measured;

    fn measure(p: &Params, ctx: &RunContext) -> Result<Measured, ExperimentError> {
        let streams = ctx.streams();
        let problem = PerSampleQuadratic::generate(
            &streams,
            p.samples,
            p.curvature_shape,
            p.curvature_scale,
            p.label_noise,
        )?;
        let grid = cells(&problem, p);
        let runs = ctx.scaled(p.runs);
        let outcomes = cancellable_trajectories(
            &streams,
            "runs",
            grid.len() * runs,
            &ctx.cancel,
            |k, rng| Ok::<_, ExperimentError>(run_one(&problem, &grid[k / runs], p, rng)),
        )?;
        let resamples = (0..grid.len())
            .map(|ci| {
                let bounded = outcomes[ci * runs..(ci + 1) * runs]
                    .iter()
                    .filter(|o| o.window_median_loss.is_some())
                    .count();
                (bounded >= 2).then(|| {
                    let mut rng = streams.stream("bootstrap", ci as u64);
                    Resamples::draw(&mut rng, bounded, 400)
                })
            })
            .collect();
        Ok(Measured {
            problem,
            grid,
            runs,
            outcomes,
            resamples,
            steps: p.steps,
        })
    }

    fn metrics(_p: &Params, m: &Measured) -> Result<Metrics, ExperimentError> {
        let mut out = Metrics::new();
        setup_metrics(m, &mut out);
        let mut table = Table::new(CELL_COLUMNS);
        let (mut rho_rel_max, mut rho_z_max) = (0.0f64, 0.0f64);
        for (ci, cell) in m.grid.iter().enumerate() {
            let c = CellSummary::new(m, ci);
            rho_rel_max = rho_rel_max.max((c.measured.value / c.rho - 1.0).abs());
            // A full batch draws nothing at random: its factor is exact up to rounding, no z.
            if cell.batch < m.problem.len() {
                rho_z_max = rho_z_max.max(c.measured.z_score(c.rho).abs());
            }
            cell_metrics(m, ci, &c, &mut out);
            table.push(cell_row(cell, &c));
        }
        reduction_metrics(m, &mut out);
        out.measured("rho_rel_error_max", rho_rel_max);
        out.measured("rho_max_abs_z", rho_z_max);
        out.table("cells", table);
        Ok(out)
    }

    fn figures(_p: &Params, m: &Measured) -> Result<Figures, ExperimentError> {
        let mut figures = Figures::new();
        figures.add("remedy-grid", remedy_figure(m));
        Ok(figures)
    }
}

/// The grid of regimes by remedies, each cell classed by rho and annotated with its outcomes.
fn outcome_grid(m: &Measured, summaries: &[CellSummary], remedies: &[String]) -> GridPanel {
    let n = m.remedies();
    let cells = (0..2)
        .map(|r| {
            summaries[r * n..(r + 1) * n]
                .iter()
                .map(|c| GridCell {
                    class: usize::from(c.rho >= 1.0),
                    lines: vec![
                        format!("ρ = {}", short_number(c.rho)),
                        format!("diverged {:.0}%", 100.0 * c.fraction(c.diverged)),
                        format!("spiking {:.0}%", 100.0 * c.fraction(c.spiking)),
                    ],
                })
                .collect()
        })
        .collect();
    GridPanel {
        title: "Mean-square factor ρ and outcomes per cell".into(),
        row_label: "regime".into(),
        rows: REGIMES.iter().map(|s| (*s).to_owned()).collect(),
        column_label: "remedy".into(),
        columns: remedies.to_vec(),
        cells,
        classes: vec!["ρ < 1: settles".into(), "ρ ≥ 1: grows".into()],
    }
}

/// The regimes' names in figures, in grid order.
const REGIMES: [&str; 2] = ["noise-driven", "curvature-driven"];

/// The grid, and the fractions of runs that diverge or spike per remedy.
fn remedy_figure(m: &Measured) -> FigureData {
    let n = m.remedies();
    let remedies: Vec<String> = m.grid[..n]
        .iter()
        .map(|c| remedy_label(&c.remedy))
        .collect();
    let summaries: Vec<CellSummary> = (0..m.grid.len())
        .map(|ci| CellSummary::new(m, ci))
        .collect();
    let grid = outcome_grid(m, &summaries, &remedies);
    let mut measured = Vec::new();
    for (r, regime) in REGIMES.iter().enumerate() {
        let cells = &summaries[r * n..(r + 1) * n];
        let diverged = cells
            .iter()
            .map(|c| Some(Value::with_ci(c.fraction(c.diverged), c.diverged_ci)))
            .collect();
        let spiking = cells
            .iter()
            .map(|c| Some(Value::with_ci(c.fraction(c.spiking), c.spiking_ci)))
            .collect();
        measured.push(CategorySeries::new(
            format!("{regime}: diverged"),
            2 * r,
            diverged,
        ));
        measured.push(CategorySeries::new(
            format!("{regime}: spiking"),
            2 * r + 1,
            spiking,
        ));
    }
    let fractions = CategoriesPanel {
        title: format!("Fraction of {} runs (95% Wilson intervals)", m.runs),
        category_label: "remedy".into(),
        categories: remedies,
        y: Axis::proportion("fraction of runs"),
        measured,
        theory: Vec::new(),
    };
    FigureData::stacked(vec![grid.into(), fractions.into()])
}

/// A remedy's name in figures.
fn remedy_label(remedy: &str) -> String {
    match remedy {
        "none" => "none".into(),
        "halve_eta" => "η/2".into(),
        "bigger_batch" => "b = N".into(),
        "clip" => "clip".into(),
        other => other.replace("batch_", "b = "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::Streams;

    #[test]
    fn defaults_validate_and_bad_values_name_their_key() {
        assert!(Params::default().validate().is_ok());
        let p = Params {
            intermediate_batch: 101,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "intermediate_batch");
        let p = Params {
            steps: 10,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "steps");
        let p = Params {
            clip_norm: -1.0,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "clip_norm");
    }

    #[test]
    fn full_batch_descent_follows_its_closed_form() {
        // b = N is gradient descent: w - w_opt = (1 - eta abar)^t (w_0 - w_opt) exactly; at
        // eta = 2.2/abar the factor is -1.2, so |w| passes 1e6 after about ln(1e6)/ln(1.2) = 76
        // steps and the run reports divergence there, never a NaN.
        let problem = PerSampleQuadratic::generate(&Streams::new(9), 100, 0.5, 2.0, 0.1).unwrap();
        let p = Params::default();
        let cell = Cell {
            regime: "curvature",
            remedy: "bigger_batch".into(),
            eta: 2.2 / problem.mean_curvature,
            batch: 100,
            clip: None,
        };
        let o = run_one(&problem, &cell, &p, &mut Streams::new(1).stream("t", 0));
        let step = o.diverged_at.unwrap() as i32;
        let v0 = (p.start - problem.optimum).abs();
        assert!(
            v0 * sgd_sim::math::powi(1.2, step) > 1e6 * 0.99
                && v0 * sgd_sim::math::powi(1.2, step - 1) <= 1e6 * 1.01
        );
        assert!((o.mean_square_factor - 1.44).abs() < 1e-12);
        // Stable full-batch descent converges to the optimum: no spike, window loss at L_min.
        let cell = Cell {
            eta: 1.0 / problem.mean_curvature,
            ..cell
        };
        let o = run_one(&problem, &cell, &p, &mut Streams::new(1).stream("t", 0));
        assert!(o.diverged_at.is_none() && !o.spiked);
        assert!((o.window_median_loss.unwrap() / problem.min_loss - 1.0).abs() < 1e-9);
    }

    #[test]
    fn clipping_bounds_every_step() {
        // A clipped step moves w by at most eta c, and once a_B |w| exceeds c + |(xy)_B| it points
        // back towards 0, so runs stay within a few eta c of the start; 50 eta c is a loose bound
        // that is still 10^4 times below the divergence threshold.
        let problem = PerSampleQuadratic::generate(&Streams::new(9), 100, 0.5, 2.0, 0.1).unwrap();
        let p = Params::default();
        let cell = Cell {
            regime: "curvature",
            remedy: "clip".into(),
            eta: 2.2 / problem.mean_curvature,
            batch: 1,
            clip: Some(1.0),
        };
        for r in 0..20 {
            let o = run_one(&problem, &cell, &p, &mut Streams::new(2).stream("t", r));
            assert!(o.diverged_at.is_none());
            assert!(o.max_abs_w < 1.0 + 50.0 * cell.eta, "{}", o.max_abs_w);
        }
    }

    /// A hand-made measurement on a five-point problem: two runs per cell, the first diverging in
    /// the curvature-driven cells, the second spiking in the noise-driven ones.
    fn hand_made() -> Measured {
        let problem = PerSampleQuadratic::from_data(
            &[0.2, 1.5, 0.05, 3.0, 0.9],
            &[0.1, -0.2, 0.05, 0.0, 0.3],
        )
        .unwrap();
        let p = Params {
            samples: 5,
            intermediate_batch: 2,
            ..Params::default()
        };
        let grid = cells(&problem, &p);
        let mut outcomes = Vec::new();
        for cell in &grid {
            let rho = problem.mean_square_factor(cell.eta, cell.batch);
            let curvature = cell.regime == "curvature";
            outcomes.push(RunOutcome {
                diverged_at: curvature.then_some(50),
                spiked: false,
                mean_square_factor: rho,
                window_median_loss: (!curvature).then_some(0.5),
                max_abs_w: 2.0,
            });
            outcomes.push(RunOutcome {
                diverged_at: None,
                spiked: !curvature,
                mean_square_factor: rho,
                window_median_loss: Some(1.5),
                max_abs_w: 3.0,
            });
        }
        let mut rng = Streams::new(1).stream("t", 0);
        let resamples = grid
            .iter()
            .map(|c| (c.regime == "noise").then(|| Resamples::draw(&mut rng, 2, 40)))
            .collect();
        Measured {
            problem,
            grid,
            runs: 2,
            outcomes,
            resamples,
            steps: 2000,
        }
    }

    #[test]
    fn metrics_are_a_function_of_the_measurement() {
        let m = hand_made();
        let out = InstabilityRemedies::metrics(&Params::default(), &m).unwrap();
        // Measured factors equal the exact ones: no error, no z.
        assert_eq!(out.value("rho_rel_error_max"), Some(0.0));
        assert_eq!(out.value("rho_max_abs_z"), Some(0.0));
        assert_eq!(out.value("diverged_fraction_curvature_none"), Some(0.5));
        assert_eq!(out.value("spiking_fraction_noise_clip"), Some(0.5));
        assert_eq!(out.value("unstable_fraction_noise_none"), Some(0.5));
        assert_eq!(out.value("median_window_loss_noise_none"), Some(1.0));
        assert!(!out.values.contains_key("median_window_loss_curvature_none"));
        assert_eq!(out.tables["cells"].rows.len(), 10);
        assert_eq!(m.samples(), 10 * 2 * 2000);
        let figures = InstabilityRemedies::figures(&Params::default(), &m)
            .unwrap()
            .into_map();
        let f = &figures["remedy-grid"];
        assert_eq!(f.panels.len(), 2);
        let claim_spec::figure::Panel::Categories(c) = &f.panels[1] else {
            panic!("fractions are categories")
        };
        assert_eq!(c.y.range, Some([0.0, 1.0]));
        assert_eq!(c.categories.len(), 5);
    }

    #[test]
    fn proportion_differences_have_newcombe_intervals() {
        // Equal proportions at 1: difference 0, the interval the Wilson half-width either side.
        let (d, [lo, hi]) = proportion_difference(200, 200, 200, 200);
        let w = 1.0 - wilson_interval(200, 200, Z95)[0];
        assert_eq!(d, 0.0);
        assert!((lo + w).abs() < 1e-15 && (hi - w).abs() < 1e-15);
        // Newcombe's (1998) example 1 of table II: 56/70 - 48/80 = 0.2, interval [0.0524, 0.3339].
        let (d, [lo, hi]) = proportion_difference(56, 70, 48, 80);
        assert!((d - 0.2).abs() < 1e-12);
        assert!(
            (lo - 0.0524).abs() < 5e-4 && (hi - 0.3339).abs() < 5e-4,
            "{lo} {hi}"
        );
    }
}
