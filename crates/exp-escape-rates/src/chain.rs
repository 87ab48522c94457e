//! The exact mean exit step of the discrete-time chain that SGD with Gaussian gradient noise is,
//! by Nyström discretization of its first-step equation: the discretization bias of the escape
//! experiments, computed rather than guessed.
//!
//! The iteration w' = w - eta (L'(w) + s z), z ~ N(0, 1), is the Markov chain w' = m(w) + sigma z
//! with m(w) = w - eta L'(w) and sigma = eta s. The mean number of steps M(w) to first reach
//! [b, infinity) from w < b solves the first-step (Dynkin) equation (Kemeny and Snell, *Finite Markov
//! Chains*, 3.3, in its continuous-state form)
//!
//!   M(w) = 1 + int_{-inf}^{b} M(w') phi((w' - m(w))/sigma)/sigma dw'.
//!
//! The right-hand side defines a smooth function F on the closed interval [lower, b] (F = M below
//! b; F(b) is the left limit of M, since M itself drops to 0 at b). The integral is cut at `lower`,
//! far up the confining wall (mass below it is lost: it would be reached with probability
//! exp(-(L(lower) - min L)/T)), and discretized by the trapezoid rule on a uniform grid holding x0
//! and b (Nyström's method; Atkinson, *The Numerical Solution of Integral Equations of the Second
//! Kind*, 4.1). The integrand is smooth on [lower, b], so the error expands in even powers of the
//! spacing h (Euler–Maclaurin) and one Richardson step on h and h/2 leaves O(h^4). The Gaussian
//! kernel is cut at 10 sigma (tail mass 1.5e-23), which makes the linear system banded; it is solved
//! by banded Gaussian elimination, stable without pivoting because I - K is diagonally dominant
//! (the rows of the kernel are sub-stochastic).

use sgd_sim::SimError;
use sgd_sim::math::exp;
use sgd_sim::potential::Potential;

/// Kernel cut-off in standard deviations.
const KERNEL_CUTOFF: f64 = 10.0;

/// The chain w' = w - eta L'(w) + sigma z and the first-passage problem from x0 to [b, infinity).
#[derive(Clone, Copy, Debug)]
pub struct ChainPassage<'a, P> {
    /// The loss L.
    pub potential: &'a P,
    /// The step size eta.
    pub eta: f64,
    /// The standard deviation of one step's noise displacement, sigma = eta s.
    pub sigma: f64,
    /// The lower end of the grid, far up the confining wall.
    pub lower: f64,
    /// The start x0 (lower < x0 < b).
    pub start: f64,
    /// The absorbing level b.
    pub level: f64,
}

/// Grid spacing of the coarse grid, as a fraction of sigma (the fine grid halves it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainGrid {
    /// sigma / h on the coarse grid.
    pub nodes_per_sigma: f64,
}

impl Default for ChainGrid {
    fn default() -> Self {
        Self {
            nodes_per_sigma: 4.0,
        }
    }
}

impl<P: Potential> ChainPassage<'_, P> {
    /// The mean number of steps to first reach [b, infinity) from x0.
    ///
    /// # Errors
    /// Points not ordered lower < x0 < b, non-positive or non-finite eta, sigma or grid density, a
    /// grid over 200,000 nodes, or a vanishing pivot (a chain that never exits).
    pub fn mean_exit_steps(&self, grid: ChainGrid) -> Result<f64, SimError> {
        let ok = self.lower < self.start
            && self.start < self.level
            && [self.lower, self.start, self.level]
                .iter()
                .all(|v| v.is_finite());
        if !ok {
            return Err(SimError::InvalidInput(format!(
                "chain passage needs lower < x0 < b, got {}, {}, {}",
                self.lower, self.start, self.level
            )));
        }
        for (name, v) in [
            ("eta", self.eta),
            ("sigma", self.sigma),
            ("nodes per sigma", grid.nodes_per_sigma),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(SimError::InvalidInput(format!(
                    "chain passage needs a positive {name}, got {v}"
                )));
            }
        }
        let coarse_right = ((self.level - self.start) * grid.nodes_per_sigma / self.sigma)
            .ceil()
            .max(4.0);
        let coarse_left = ((self.start - self.lower) * coarse_right / (self.level - self.start))
            .ceil()
            .max(4.0);
        if 2.0 * (coarse_left + coarse_right) > 200_000.0 {
            return Err(SimError::InvalidInput(
                "chain passage grid would exceed 200000 nodes".into(),
            ));
        }
        let (left, right) = (coarse_left as usize, coarse_right as usize);
        let coarse = self.solve_on_grid(left, right)?;
        let fine = self.solve_on_grid(2 * left, 2 * right)?;
        Ok((4.0 * fine - coarse) / 3.0)
    }

    /// F(x0) on the grid x_j = x0 + (j - left) h, j = 0..=left + right, h = (b - x0)/right.
    fn solve_on_grid(&self, left: usize, right: usize) -> Result<f64, SimError> {
        let h = (self.level - self.start) / right as f64;
        let n = left + right + 1;
        let x_first = self.start - left as f64 * h;
        let node = |j: usize| x_first + j as f64 * h;
        let reach = KERNEL_CUTOFF * self.sigma;
        // Column range of each row: the nodes within the cut-off of the row's mean m(x_i).
        let mut ranges = Vec::with_capacity(n);
        let (mut below, mut above) = (0usize, 0usize);
        for i in 0..n {
            let x = node(i);
            let mean = x - self.eta * self.potential.derivative(x);
            if !mean.is_finite() {
                return Err(SimError::InvalidInput(format!(
                    "the drift is not finite at {x}"
                )));
            }
            let lo = ((mean - reach - x_first) / h).ceil().max(0.0);
            let hi = ((mean + reach - x_first) / h).floor().min((n - 1) as f64);
            let range = if lo <= hi {
                Some((lo as usize, hi as usize))
            } else {
                None
            };
            if let Some((lo, hi)) = range {
                below = below.max(i.saturating_sub(lo));
                above = above.max(hi.saturating_sub(i));
            }
            ranges.push((mean, range));
        }
        let mut band = BandMatrix::identity(n, below, above);
        let norm = h / (self.sigma * (2.0 * std::f64::consts::PI).sqrt());
        for (i, &(mean, range)) in ranges.iter().enumerate() {
            let Some((lo, hi)) = range else { continue };
            for j in lo..=hi {
                let u = (node(j) - mean) / self.sigma;
                let weight = if j == 0 || j == n - 1 { 0.5 } else { 1.0 };
                band.add(i, j, -weight * norm * exp(-0.5 * u * u));
            }
        }
        let solution = band.solve(vec![1.0; n])?;
        Ok(solution[left])
    }
}

/// A square band matrix, rows stored with `below` sub- and `above` super-diagonals.
struct BandMatrix {
    n: usize,
    below: usize,
    above: usize,
    width: usize,
    values: Vec<f64>,
}

impl BandMatrix {
    fn identity(n: usize, below: usize, above: usize) -> Self {
        let width = below + above + 1;
        let mut values = vec![0.0; n * width];
        for i in 0..n {
            values[i * width + below] = 1.0;
        }
        Self {
            n,
            below,
            above,
            width,
            values,
        }
    }

    #[inline]
    fn index(&self, i: usize, j: usize) -> usize {
        i * self.width + j + self.below - i
    }

    fn add(&mut self, i: usize, j: usize, v: f64) {
        let k = self.index(i, j);
        self.values[k] += v;
    }

    /// Solves A x = rhs by Gaussian elimination without pivoting (fill stays inside the band).
    fn solve(mut self, mut rhs: Vec<f64>) -> Result<Vec<f64>, SimError> {
        let n = self.n;
        for k in 0..n {
            let pivot = self.values[self.index(k, k)];
            if pivot.is_nan() || pivot.abs() <= 1e-300 {
                return Err(SimError::LinearAlgebra(format!(
                    "vanishing pivot {pivot} at row {k} of the first-step equation"
                )));
            }
            let last_row = (k + self.below).min(n - 1);
            let last_col = (k + self.above).min(n - 1);
            for i in k + 1..=last_row {
                let factor = self.values[self.index(i, k)] / pivot;
                if factor == 0.0 {
                    continue;
                }
                let (row_k, row_i) = (self.index(k, k), self.index(i, k));
                for d in 1..=last_col - k {
                    self.values[row_i + d] -= factor * self.values[row_k + d];
                }
                rhs[i] -= factor * rhs[k];
            }
        }
        let mut x = vec![0.0; n];
        for i in (0..n).rev() {
            let last_col = (i + self.above).min(n - 1);
            let row = self.index(i, i);
            let mut acc = rhs[i];
            for d in 1..=last_col - i {
                acc -= self.values[row + d] * x[i + d];
            }
            x[i] = acc / self.values[row];
        }
        Ok(x)
    }
}

#[cfg(test)]
// The tests compute independent references with the platform's float functions.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use crate::kernel::{EscapeSpec, ExitAbove, GaussianNoise, escape_steps};
    use sgd_sim::first_passage::{Quadrature, mean_first_passage_time};
    use sgd_sim::potential::{DoubleWell, Linear};
    use sgd_sim::rng::Streams;
    use sgd_sim::stats::mean_estimate;

    #[test]
    fn band_solver_matches_dense_solve() {
        // A diagonally dominant band matrix: the solution's residual is at rounding level
        // (entries O(1), 40 unknowns: 1e-12 leaves a wide margin over n * eps).
        let n = 40;
        let (below, above) = (3, 5);
        let mut band = BandMatrix::identity(n, below, above);
        let mut dense = vec![vec![0.0; n]; n];
        for i in 0..n {
            for j in i.saturating_sub(below)..=(i + above).min(n - 1) {
                let v = if i == j {
                    4.0
                } else {
                    ((i * 7 + j * 3) % 5) as f64 * 0.1 - 0.2
                };
                band.add(i, j, v - f64::from(u8::from(i == j)));
                dense[i][j] = v;
            }
        }
        let rhs: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let x = band.solve(rhs.clone()).unwrap();
        for i in 0..n {
            let ax: f64 = (0..n).map(|j| dense[i][j] * x[j]).sum();
            assert!((ax - rhs[i]).abs() < 1e-12, "row {i}: {ax} vs {}", rhs[i]);
        }
    }

    #[test]
    fn converges_under_grid_refinement() {
        // Richardson-extrapolated trapezoid Nystrom: O(h^4); at 4 and 8 nodes per sigma the
        // results agree to 1e-6 relative.
        let well = DoubleWell { height: 1.0 };
        let chain = ChainPassage {
            potential: &well,
            eta: 0.02,
            sigma: (2.0 * 0.25 * 0.02f64).sqrt(),
            lower: -2.2,
            start: -1.0,
            level: 1.0,
        };
        let a = chain
            .mean_exit_steps(ChainGrid {
                nodes_per_sigma: 4.0,
            })
            .unwrap();
        let b = chain
            .mean_exit_steps(ChainGrid {
                nodes_per_sigma: 8.0,
            })
            .unwrap();
        assert!((a / b - 1.0).abs() < 1e-6, "{a} vs {b}");
    }

    #[test]
    fn matches_monte_carlo_of_the_chain() {
        // The same chain simulated by the escape kernel, 20000 trajectories: the exact mean lies
        // within 4.5 standard errors of the sample mean (a correct solver fails this with
        // probability 7e-6). A high temperature keeps the runs short.
        let well = DoubleWell { height: 1.0 };
        let (eta, temperature): (f64, f64) = (0.05, 0.5);
        let s = (2.0 * temperature / eta).sqrt();
        let chain = ChainPassage {
            potential: &well,
            eta,
            sigma: eta * s,
            lower: -2.6,
            start: -1.0,
            level: 1.0,
        };
        let exact = chain.mean_exit_steps(ChainGrid::default()).unwrap();
        let noise = GaussianNoise { scale: s };
        let spec = EscapeSpec {
            potential: &well,
            noise: &noise,
            exit: ExitAbove(1.0),
            eta,
            start: -1.0,
            max_steps: 100_000_000,
        };
        let steps = escape_steps(&spec, &Streams::new(17), "chain-test", 20_000).unwrap();
        let xs: Vec<f64> = steps.iter().map(|&k| k as f64).collect();
        let e = mean_estimate(&xs);
        assert!(
            (e.value - exact).abs() < 4.5 * e.se,
            "simulated {} +- {} vs exact {exact}",
            e.value,
            e.se
        );
    }

    #[test]
    fn approaches_the_langevin_passage_time_as_eta_vanishes() {
        // The chain's mean exit time (steps * eta) tends to the exact Langevin mean first-passage
        // time as eta -> 0. Its gap has Euler's O(eta) weak error in the rate (Talay and Tubaro
        // 1990) plus an O(sqrt(eta)) term of opposite sign from seeing the exit only at whole
        // steps (the discrete-monitoring shift of the level by 0.5826 sqrt(2 T eta); Broadie,
        // Glasserman and Kou 1997), so it shrinks by a factor between sqrt(2) and 4 per halving of
        // eta, and is small at eta = 0.0025.
        let well = DoubleWell { height: 1.0 };
        let temperature = 0.25;
        let exact = mean_first_passage_time(
            |x| well.value(x),
            temperature,
            -2.2,
            -1.0,
            1.0,
            Quadrature::default(),
        )
        .unwrap()
        .tau;
        let gap = |eta: f64| {
            let chain = ChainPassage {
                potential: &well,
                eta,
                sigma: (2.0 * temperature * eta).sqrt(),
                lower: -2.2,
                start: -1.0,
                level: 1.0,
            };
            chain.mean_exit_steps(ChainGrid::default()).unwrap() * eta / exact - 1.0
        };
        let (g1, g2, g3) = (gap(0.01), gap(0.005), gap(0.0025));
        let halving = std::f64::consts::SQRT_2..4.0;
        assert!(halving.contains(&(g1 / g2)), "{g1} {g2} {g3}");
        assert!(halving.contains(&(g2 / g3)), "{g1} {g2} {g3}");
        assert!(g3.abs() < 0.005, "{g3}");
    }

    #[test]
    fn constant_drift_obeys_wald_and_lorden_bounds() {
        // L = -(mu/eta) w: the chain is a Gaussian random walk with steps X ~ N(mu, sigma^2).
        // Wald's identity gives E[N] = (b - x0 + E[R]) / mu with the overshoot R >= 0, and Lorden's
        // inequality (Lorden 1970) bounds E[R] <= E[(X+)^2] / E[X] <= (mu^2 + sigma^2) / mu: two
        // closed forms that bracket the exact mean.
        let (eta, mu, sigma) = (0.1, 0.05, 0.2);
        let line = Linear { slope: -mu / eta };
        let chain = ChainPassage {
            potential: &line,
            eta,
            sigma,
            lower: -8.0,
            start: 0.0,
            level: 2.0,
        };
        let m = chain.mean_exit_steps(ChainGrid::default()).unwrap();
        let low = 2.0 / mu;
        let high = (2.0 + (mu * mu + sigma * sigma) / mu) / mu;
        assert!(low < m && m < high, "{low} < {m} < {high}");
    }

    #[test]
    fn rejects_bad_input() {
        let well = DoubleWell { height: 1.0 };
        let mut chain = ChainPassage {
            potential: &well,
            eta: 0.01,
            sigma: 0.05,
            lower: -2.0,
            start: -1.0,
            level: 1.0,
        };
        chain.start = 1.5;
        assert!(chain.mean_exit_steps(ChainGrid::default()).is_err());
        chain.start = -1.0;
        chain.sigma = 0.0;
        assert!(chain.mean_exit_steps(ChainGrid::default()).is_err());
        chain.sigma = 1e-9;
        assert!(chain.mean_exit_steps(ChainGrid::default()).is_err());
    }
}
