//! Tuning the step size per batch size: the eta that minimizes steps-to-target, by a grid over
//! log eta that locates the basin, then golden-section search (Kiefer 1953) inside it.
//!
//! Steps-to-target need not be unimodal over a wide bracket (it is infinite wherever the run never
//! reaches the target), so the grid picks the best of many log-spaced candidates first and the
//! golden section only refines between the best point's two neighbours. The result is the best
//! point evaluated, so it is never worse than the grid.

use claim_spec::ExperimentError;
use sgd_sim::math::{exp, ln};

/// The golden ratio conjugate (sqrt(5) - 1) / 2.
const INV_PHI: f64 = 0.618_033_988_749_894_8;

/// A tuned step size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TunedRate {
    /// The step size eta.
    pub eta: f64,
    /// The objective there (steps to target).
    pub value: f64,
    /// How many times the objective was evaluated.
    pub evaluations: usize,
}

/// The search: `grid_points` log-spaced step sizes on [upper 10^-decades, upper), then golden
/// section to a width of `tolerance` in ln eta.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogSearch {
    /// The bracket's (excluded) upper end, for example the stability limit 2 / h_max.
    pub upper: f64,
    /// Decades below `upper` covered by the grid.
    pub decades: f64,
    /// Grid points.
    pub grid_points: usize,
    /// Final bracket width in ln eta.
    pub tolerance: f64,
}

impl LogSearch {
    /// Minimizes `objective(eta)`; `Ok(None)` from the objective means the target is never
    /// reached at that eta (an infinite value).
    ///
    /// # Errors
    /// The objective's errors; a numerical error when no grid point reaches the target or when
    /// the best grid point is the lowest one (the bracket does not contain the optimum).
    pub fn minimize<F>(&self, mut objective: F) -> Result<TunedRate, ExperimentError>
    where
        F: FnMut(f64) -> Result<Option<f64>, ExperimentError>,
    {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(self.upper) && positive(self.decades) && positive(self.tolerance))
            || self.grid_points < 3
        {
            return Err(ExperimentError::InvalidParams(format!(
                "bad step-size search {self:?}"
            )));
        }
        let mut evaluations = 0usize;
        let mut eval = |x: f64| -> Result<f64, ExperimentError> {
            evaluations += 1;
            Ok(objective(exp(x))?.unwrap_or(f64::INFINITY))
        };
        let top = ln(self.upper);
        let bottom = top - self.decades * ln(10.0);
        let step = (top - bottom) / self.grid_points as f64;
        let grid: Vec<f64> = (0..self.grid_points)
            .map(|k| bottom + step * k as f64)
            .collect();
        let mut best = (f64::NAN, f64::INFINITY);
        let mut best_index = 0;
        for (k, &x) in grid.iter().enumerate() {
            let v = eval(x)?;
            if v < best.1 {
                best = (x, v);
                best_index = k;
            }
        }
        if !best.1.is_finite() {
            return Err(ExperimentError::Numerical(format!(
                "no step size in [{:.3e}, {:.3e}) reaches the target",
                exp(bottom),
                self.upper
            )));
        }
        if best_index == 0 {
            return Err(ExperimentError::Numerical(format!(
                "the best step size is the smallest tried, {:.3e}: widen the bracket (eta_grid_decades)",
                exp(bottom)
            )));
        }
        // Golden section on [grid[k-1], grid[k+1]] (or up to the bracket's end).
        let mut a = grid[best_index - 1];
        let mut b = if best_index + 1 < grid.len() {
            grid[best_index + 1]
        } else {
            top
        };
        let mut c = b - INV_PHI * (b - a);
        let mut d = a + INV_PHI * (b - a);
        let mut fc = eval(c)?;
        let mut fd = eval(d)?;
        while b - a > self.tolerance {
            if fc <= fd {
                b = d;
                d = c;
                fd = fc;
                c = b - INV_PHI * (b - a);
                fc = eval(c)?;
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + INV_PHI * (b - a);
                fd = eval(d)?;
            }
        }
        for (x, v) in [(c, fc), (d, fd)] {
            if v < best.1 {
                best = (x, v);
            }
        }
        Ok(TunedRate {
            eta: exp(best.0),
            value: best.1,
            evaluations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_smooth_function_of_log_eta() {
        // f = (ln eta - ln 0.03)^2 + 5, infinite above eta = 1.5: the minimum is found to the
        // tolerance in ln eta, 1e-6 (golden section is exact up to its bracket width).
        let search = LogSearch {
            upper: 2.0,
            decades: 5.0,
            grid_points: 30,
            tolerance: 1e-6,
        };
        let t = search
            .minimize(|eta| {
                Ok((eta < 1.5).then(|| {
                    let u = ln(eta) - ln(0.03);
                    u * u + 5.0
                }))
            })
            .unwrap();
        assert!((ln(t.eta) - ln(0.03)).abs() < 1e-6, "{}", t.eta);
        assert!((t.value - 5.0).abs() < 1e-11);
    }

    #[test]
    fn minimum_near_the_open_upper_end_is_found() {
        let search = LogSearch {
            upper: 2.0,
            decades: 3.0,
            grid_points: 12,
            tolerance: 1e-7,
        };
        // Minimum at eta = 1.99, just below the end of the bracket.
        let t = search.minimize(|eta| Ok(Some((eta - 1.99).abs()))).unwrap();
        assert!((t.eta - 1.99).abs() < 1e-6);
    }

    #[test]
    fn reports_an_optimum_below_the_bracket_and_unreachable_targets() {
        let search = LogSearch {
            upper: 2.0,
            decades: 2.0,
            grid_points: 10,
            tolerance: 1e-6,
        };
        assert!(search.minimize(|eta| Ok(Some(eta))).is_err());
        assert!(search.minimize(|_| Ok(None)).is_err());
        let bad = LogSearch {
            grid_points: 1,
            ..search
        };
        assert!(bad.minimize(|eta| Ok(Some(eta))).is_err());
    }
}
