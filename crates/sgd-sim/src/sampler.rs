//! The three minibatch samplers (with replacement, without replacement, epoch shuffle) and their exact second-moment formulas.
//!
//! - with-replacement: b independent uniform indices;
//! - without-replacement: an independent uniform subset of size b at every step;
//! - epoch-shuffle: one permutation per epoch, consecutive slices of it.

use crate::rng::{Stream, shuffle, uniform_index};

/// How a minibatch is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SamplerKind {
    /// b independent uniform indices (duplicates possible).
    WithReplacement,
    /// A fresh uniform subset of b distinct indices at every step.
    WithoutReplacement,
    /// One random permutation per epoch, cut into consecutive slices of size b.
    EpochShuffle,
}

impl SamplerKind {
    /// The name used in claim files and tables.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::WithReplacement => "with-replacement",
            SamplerKind::WithoutReplacement => "without-replacement",
            SamplerKind::EpochShuffle => "epoch-shuffle",
        }
    }

    /// The exact variance factor: E||g_b - G||^2 = tr(Sigma) * factor, where Sigma is the
    /// per-sample covariance with divisor N.
    ///
    /// With replacement the b draws are i.i.d., so the factor is 1/b. Without replacement it is
    /// (1/b)(N-b)/(N-1), the finite-population correction (Cochran, *Sampling Techniques*, 1977,
    /// theorem 2.2). Within one epoch an epoch-shuffle slice is a uniform subset, so it has the
    /// same factor as without-replacement.
    pub fn variance_factor(self, n: usize, b: usize) -> f64 {
        let (n, b) = (n as f64, b as f64);
        match self {
            SamplerKind::WithReplacement => 1.0 / b,
            SamplerKind::WithoutReplacement | SamplerKind::EpochShuffle => {
                if n <= 1.0 {
                    0.0
                } else {
                    (n - b) / (b * (n - 1.0))
                }
            }
        }
    }
}

/// Draws minibatches of indices into a reused buffer (no allocation per step).
#[derive(Clone, Debug)]
pub struct BatchSampler {
    kind: SamplerKind,
    n: usize,
    batch_size: usize,
    permutation: Vec<usize>,
    cursor: usize,
    batch: Vec<usize>,
}

impl BatchSampler {
    /// A sampler over indices 0..n with batch size b.
    ///
    /// # Panics
    /// Panics when n == 0, b == 0, or b > n for the samplers that draw distinct indices.
    pub fn new(kind: SamplerKind, n: usize, batch_size: usize) -> Self {
        assert!(n > 0 && batch_size > 0, "sampler needs n > 0 and b > 0");
        assert!(
            kind == SamplerKind::WithReplacement || batch_size <= n,
            "{} needs b <= n (b = {batch_size}, n = {n})",
            kind.name()
        );
        Self {
            kind,
            n,
            batch_size,
            permutation: (0..n).collect(),
            cursor: n, // forces a shuffle at the first epoch-shuffle batch
            batch: Vec::with_capacity(batch_size),
        }
    }

    /// The sampler kind.
    pub fn kind(&self) -> SamplerKind {
        self.kind
    }

    /// The current batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Changes the batch size (for batch-size schedules). An epoch in progress continues.
    ///
    /// # Panics
    /// Panics when b == 0, or b > n for the samplers that draw distinct indices.
    pub fn set_batch_size(&mut self, batch_size: usize) {
        assert!(
            batch_size > 0 && (self.kind == SamplerKind::WithReplacement || batch_size <= self.n)
        );
        self.batch_size = batch_size;
    }

    /// The next minibatch. For epoch-shuffle, the last slice of an epoch is shorter when b does
    /// not divide n, so every epoch visits each index exactly once.
    pub fn next_batch(&mut self, rng: &mut Stream) -> &[usize] {
        self.batch.clear();
        match self.kind {
            SamplerKind::WithReplacement => {
                for _ in 0..self.batch_size {
                    self.batch.push(uniform_index(rng, self.n));
                }
            }
            SamplerKind::WithoutReplacement => {
                // Partial Fisher–Yates: the first b entries become a uniform random subset,
                // whatever permutation the array held before.
                for i in 0..self.batch_size {
                    let j = i + uniform_index(rng, self.n - i);
                    self.permutation.swap(i, j);
                }
                self.batch
                    .extend_from_slice(&self.permutation[..self.batch_size]);
            }
            SamplerKind::EpochShuffle => {
                if self.cursor >= self.n {
                    shuffle(rng, &mut self.permutation);
                    self.cursor = 0;
                }
                let end = (self.cursor + self.batch_size).min(self.n);
                self.batch
                    .extend_from_slice(&self.permutation[self.cursor..end]);
                self.cursor = end;
            }
        }
        &self.batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Streams;

    #[test]
    fn without_replacement_batches_are_distinct() {
        let mut r = Streams::new(4).stream("t", 0);
        let mut s = BatchSampler::new(SamplerKind::WithoutReplacement, 10, 7);
        for _ in 0..100 {
            let mut b = s.next_batch(&mut r).to_vec();
            b.sort_unstable();
            b.dedup();
            assert_eq!(b.len(), 7);
        }
    }

    #[test]
    fn epoch_shuffle_visits_every_index_once_per_epoch() {
        let mut r = Streams::new(4).stream("t", 0);
        let mut s = BatchSampler::new(SamplerKind::EpochShuffle, 10, 3);
        for _ in 0..5 {
            let mut seen = Vec::new();
            for _ in 0..4 {
                seen.extend_from_slice(s.next_batch(&mut r));
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn without_replacement_inclusion_is_uniform() {
        // Each index is included with probability b/n = 0.3; over 20000 batches the count of
        // index k is Binomial(20000, 0.3) with SD 64.8, so 5 SD = 324 bounds every deviation.
        let mut r = Streams::new(8).stream("t", 0);
        let mut s = BatchSampler::new(SamplerKind::WithoutReplacement, 10, 3);
        let mut counts = [0i64; 10];
        for _ in 0..20_000 {
            for &i in s.next_batch(&mut r) {
                counts[i] += 1;
            }
        }
        for c in counts {
            assert!((c - 6000).abs() < 324, "{counts:?}");
        }
    }

    #[test]
    fn variance_factors() {
        assert_eq!(SamplerKind::WithReplacement.variance_factor(100, 4), 0.25);
        assert_eq!(
            SamplerKind::WithoutReplacement.variance_factor(100, 100),
            0.0
        );
        assert!((SamplerKind::WithoutReplacement.variance_factor(5, 2) - 3.0 / 8.0).abs() < 1e-16);
    }
}
