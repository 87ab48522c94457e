//! Gradient oracles: the exact gradient, minibatch estimates, additive Gaussian noise (constant or
//! position-dependent). An oracle writes one gradient estimate per call into a caller's buffer.

use crate::objective::{FiniteSum, Objective};
use crate::rng::{Stream, standard_normal};
use crate::sampler::{BatchSampler, SamplerKind};

/// Produces gradient estimates g(w) with E[g(w)] = grad L(w).
pub trait GradientOracle {
    /// The dimension of w.
    fn dim(&self) -> usize;
    /// Writes one gradient estimate at `w` into `out`, drawing from `rng` as needed.
    fn estimate(&mut self, w: &[f64], rng: &mut Stream, out: &mut [f64]);
    /// Per-example gradient evaluations one call costs (N for the full batch, b for a minibatch).
    fn examples_per_call(&self) -> usize;
    /// Changes the batch size where the oracle has one; other oracles ignore it.
    fn set_batch_size(&mut self, _batch_size: usize) {}
}

/// The exact gradient of an objective (gradient descent).
#[derive(Clone, Debug)]
pub struct ExactGradient<O> {
    /// The objective.
    pub objective: O,
    /// Cost attributed to one call (N for a finite sum, 1 otherwise).
    pub cost: usize,
}

impl<O: Objective> GradientOracle for ExactGradient<O> {
    fn dim(&self) -> usize {
        self.objective.dim()
    }
    fn estimate(&mut self, w: &[f64], _rng: &mut Stream, out: &mut [f64]) {
        self.objective.gradient(w, out);
    }
    fn examples_per_call(&self) -> usize {
        self.cost
    }
}

/// The minibatch gradient (1/b) sum_{i in batch} grad l_i(w) of a finite sum.
#[derive(Clone, Debug)]
pub struct MinibatchGradient<'a, F> {
    objective: &'a F,
    sampler: BatchSampler,
}

impl<'a, F: FiniteSum> MinibatchGradient<'a, F> {
    /// An oracle over `objective` drawing batches of `batch_size` with `kind`.
    pub fn new(objective: &'a F, kind: SamplerKind, batch_size: usize) -> Self {
        Self {
            objective,
            sampler: BatchSampler::new(kind, objective.len(), batch_size),
        }
    }
}

impl<F: FiniteSum> GradientOracle for MinibatchGradient<'_, F> {
    fn dim(&self) -> usize {
        self.objective.dim()
    }
    fn estimate(&mut self, w: &[f64], rng: &mut Stream, out: &mut [f64]) {
        let batch = self.sampler.next_batch(rng);
        self.objective.batch_gradient(batch, w, out);
    }
    fn examples_per_call(&self) -> usize {
        self.sampler.batch_size()
    }
    fn set_batch_size(&mut self, batch_size: usize) {
        self.sampler.set_batch_size(batch_size);
    }
}

/// The exact gradient plus independent Gaussian noise with per-coordinate standard deviations
/// `noise_std[i] / sqrt(b)`: the Gaussian model of minibatch noise with covariance diag(c)/b.
#[derive(Clone, Debug)]
pub struct AdditiveGaussian<O> {
    /// The objective.
    pub objective: O,
    /// Per-coordinate standard deviation of the noise of one example (sqrt(c_i)).
    pub noise_std: Vec<f64>,
    /// The batch size b dividing the variance.
    pub batch_size: usize,
}

impl<O: Objective> GradientOracle for AdditiveGaussian<O> {
    fn dim(&self) -> usize {
        self.objective.dim()
    }
    fn estimate(&mut self, w: &[f64], rng: &mut Stream, out: &mut [f64]) {
        self.objective.gradient(w, out);
        let scale = 1.0 / (self.batch_size as f64).sqrt();
        for (o, s) in out.iter_mut().zip(&self.noise_std) {
            *o += s * scale * standard_normal(rng);
        }
    }
    fn examples_per_call(&self) -> usize {
        self.batch_size
    }
    fn set_batch_size(&mut self, batch_size: usize) {
        self.batch_size = batch_size;
    }
}

/// The exact gradient plus isotropic Gaussian noise whose standard deviation depends on the
/// position: g = grad L(w) + s(w) z, z ~ N(0, I).
pub struct PositionDependentNoise<O, S> {
    /// The objective.
    pub objective: O,
    /// The noise standard deviation s(w).
    pub noise_std: S,
}

impl<O: Objective, S: Fn(&[f64]) -> f64> GradientOracle for PositionDependentNoise<O, S> {
    fn dim(&self) -> usize {
        self.objective.dim()
    }
    fn estimate(&mut self, w: &[f64], rng: &mut Stream, out: &mut [f64]) {
        self.objective.gradient(w, out);
        let s = (self.noise_std)(w);
        for o in out.iter_mut() {
            *o += s * standard_normal(rng);
        }
    }
    fn examples_per_call(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{LeastSquaresSpec, generate_least_squares};
    use crate::objective::LeastSquares;
    use crate::rng::Streams;

    /// E||g_b - G||^2 by exact enumeration of every batch, each with its probability.
    fn enumerated_variance(ls: &LeastSquares, w: &[f64], b: usize, with_replacement: bool) -> f64 {
        let n = ls.len();
        let mut full = vec![0.0; ls.dim()];
        ls.gradient(w, &mut full);
        let mut g = vec![0.0; ls.dim()];
        let mut total = 0.0;
        let mut count = 0u64;
        // Odometer over index tuples; for subsets keep strictly increasing tuples only.
        let mut idx = vec![0usize; b];
        loop {
            let increasing = idx.windows(2).all(|p| p[0] < p[1]);
            if with_replacement || increasing {
                ls.batch_gradient(&idx, w, &mut g);
                total += g
                    .iter()
                    .zip(&full)
                    .map(|(a, c)| (a - c) * (a - c))
                    .sum::<f64>();
                count += 1;
            }
            let mut k = b;
            loop {
                if k == 0 {
                    return total / count as f64;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < n {
                    break;
                }
                idx[k] = 0;
            }
        }
    }

    #[test]
    fn enumerated_minibatch_variance_matches_closed_forms() {
        // Exact enumeration: the only error is rounding, so the tolerance is 1e-12 relative.
        let spec = LeastSquaresSpec {
            samples: 6,
            spectrum: vec![1.0, 0.5, 0.2],
            label_noise: 0.5,
        };
        let (ls, _) =
            generate_least_squares(&spec, &mut Streams::new(11).stream("data", 0)).unwrap();
        let w = [0.3, -0.2, 0.9];
        let (tr_sigma, _) = ls.gradient_covariance_trace(&w);
        for b in 1..=4 {
            let with = enumerated_variance(&ls, &w, b, true);
            let without = enumerated_variance(&ls, &w, b, false);
            let n = ls.len();
            let want_with = tr_sigma * SamplerKind::WithReplacement.variance_factor(n, b);
            let want_without = tr_sigma * SamplerKind::WithoutReplacement.variance_factor(n, b);
            assert!(
                (with / want_with - 1.0).abs() < 1e-12,
                "b={b}: {with} vs {want_with}"
            );
            assert!(
                (without / want_without - 1.0).abs() < 1e-12,
                "b={b}: {without} vs {want_without}"
            );
        }
    }

    #[test]
    fn additive_noise_has_the_stated_variance() {
        // Var of the noise in coordinate i is c_i / b; with 10^5 draws the sample variance has
        // relative SE sqrt(2/10^5) = 0.0045, so 5 SE = 0.023.
        let q = crate::objective::DiagonalQuadratic::centred(vec![1.0, 2.0]);
        let mut oracle = AdditiveGaussian {
            objective: q,
            noise_std: vec![1.0, 3.0],
            batch_size: 4,
        };
        let mut r = Streams::new(3).stream("t", 0);
        let w = [0.0, 0.0];
        let mut g = [0.0; 2];
        let n = 100_000;
        let mut sums = [0.0; 2];
        for _ in 0..n {
            oracle.estimate(&w, &mut r, &mut g);
            sums[0] += g[0] * g[0];
            sums[1] += g[1] * g[1];
        }
        assert!((sums[0] / n as f64 / 0.25 - 1.0).abs() < 0.023);
        assert!((sums[1] / n as f64 / 2.25 - 1.0).abs() < 0.023);
    }
}
