//! Long Langevin chains, several advanced in lockstep per thread, each with its own stream.
//!
//! One step of a chain is w <- step(w, xi) with xi ~ N(0, 1) drawn from that chain's stream; the
//! K chains of a group are independent dependency chains, so interleaving them lets the CPU overlap
//! their latencies. Nothing is allocated per step; each chain counts its states into its own bins.

use sgd_sim::rng::{Stream, standard_normal};

/// Uniform bins on [lo, hi) plus counts below and above (non-finite states count as above).
#[derive(Clone, Debug, PartialEq)]
pub struct BinCounts {
    lo: f64,
    hi: f64,
    scale: f64,
    /// Counts per bin.
    pub counts: Vec<u64>,
    /// States below lo.
    pub below: u64,
    /// States at or above hi, or not finite.
    pub above: u64,
}

impl BinCounts {
    /// Empty counts over `bins` uniform bins on [lo, hi).
    pub fn new(lo: f64, hi: f64, bins: usize) -> Self {
        Self {
            lo,
            hi,
            scale: bins as f64 / (hi - lo),
            counts: vec![0; bins],
            below: 0,
            above: 0,
        }
    }

    /// Counts one state.
    #[inline(always)]
    pub fn add(&mut self, w: f64) {
        let pos = (w - self.lo) * self.scale;
        // `pos as usize` saturates (0 for negative or NaN), so check the range on the float.
        if pos >= 0.0 && pos < self.counts.len() as f64 {
            self.counts[pos as usize] += 1;
        } else if pos < 0.0 {
            self.below += 1;
        } else {
            self.above += 1;
        }
    }

    /// States counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.below + self.above
    }

    /// The fraction of states in each bin, then the fraction outside (length bins + 1).
    pub fn fractions(&self) -> Vec<f64> {
        let t = self.total().max(1) as f64;
        self.counts
            .iter()
            .map(|&c| c as f64 / t)
            .chain(std::iter::once((self.below + self.above) as f64 / t))
            .collect()
    }

    /// The fraction of states at or above `edge`, which must be a bin edge (or lie outside the
    /// range); None otherwise.
    pub fn fraction_at_or_above(&self, edge: f64) -> Option<f64> {
        let t = self.total().max(1) as f64;
        if edge < self.lo {
            return Some((self.total() - self.below) as f64 / t);
        }
        if edge >= self.hi {
            return (edge == self.hi).then_some(self.above as f64 / t);
        }
        let pos = (edge - self.lo) * self.scale;
        let k = pos.round();
        if (pos - k).abs() > 1e-9 {
            return None;
        }
        let k = k as usize;
        Some((self.counts[k..].iter().sum::<u64>() + self.above) as f64 / t)
    }
}

/// A chain left |w| <= bound or became non-finite.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainDiverged {
    /// The chain's index within its group.
    pub chain: usize,
    /// The step after which it was detected (checked every [`CHECK_EVERY`] steps; a non-finite
    /// state stays non-finite, so none is missed).
    pub step: u64,
    /// Its state then.
    pub state: f64,
}

/// Steps between divergence checks.
pub const CHECK_EVERY: u64 = 1 << 14;

/// Advances K chains in lockstep for `burn_in` unrecorded steps, then `steps` recorded ones.
/// Chain k draws only from `rngs[k]` and counts only into `bins[k]`.
///
/// # Errors
/// The first chain (in index order) found outside |w| <= bound.
pub fn run_lockstep<const K: usize, F>(
    w: &mut [f64; K],
    rngs: &mut [Stream; K],
    bins: &mut [BinCounts; K],
    burn_in: u64,
    steps: u64,
    bound: f64,
    step: F,
) -> Result<(), ChainDiverged>
where
    F: Fn(f64, f64) -> f64,
{
    let check = |w: &[f64; K], t: u64| -> Result<(), ChainDiverged> {
        match w.iter().position(|x| !x.is_finite() || x.abs() > bound) {
            Some(chain) => Err(ChainDiverged {
                chain,
                step: t,
                state: w[chain],
            }),
            None => Ok(()),
        }
    };
    let mut done = 0;
    while done < burn_in {
        let block = CHECK_EVERY.min(burn_in - done);
        for _ in 0..block {
            for k in 0..K {
                let xi = standard_normal(&mut rngs[k]);
                w[k] = step(w[k], xi);
            }
        }
        done += block;
        check(w, done)?;
    }
    let mut recorded = 0;
    while recorded < steps {
        let block = CHECK_EVERY.min(steps - recorded);
        for _ in 0..block {
            for k in 0..K {
                let xi = standard_normal(&mut rngs[k]);
                w[k] = step(w[k], xi);
                bins[k].add(w[k]);
            }
        }
        recorded += block;
        check(w, burn_in + recorded)?;
    }
    Ok(())
}

/// Runs a group of up to four chains (dispatching to a lockstep width of 4, 3, 2 or 1).
///
/// # Errors
/// As [`run_lockstep`]; the chain index is within the group.
///
/// # Panics
/// Panics when the group is empty or larger than four, or the slices differ in length: a
/// programming error of the caller, which splits chains into groups of at most four.
pub fn run_group<F>(
    w: &mut [f64],
    rngs: &mut [Stream],
    bins: &mut [BinCounts],
    burn_in: u64,
    steps: u64,
    bound: f64,
    step: F,
) -> Result<(), ChainDiverged>
where
    F: Fn(f64, f64) -> f64,
{
    assert!(w.len() == rngs.len() && w.len() == bins.len());
    macro_rules! lockstep {
        ($k:literal) => {{
            let w: &mut [f64; $k] = w.try_into().expect("group width");
            let rngs: &mut [Stream; $k] = rngs.try_into().expect("group width");
            let bins: &mut [BinCounts; $k] = bins.try_into().expect("group width");
            run_lockstep(w, rngs, bins, burn_in, steps, bound, step)
        }};
    }
    match w.len() {
        4 => lockstep!(4),
        3 => lockstep!(3),
        2 => lockstep!(2),
        1 => lockstep!(1),
        n => panic!("a chain group has 1 to 4 chains, got {n}"),
    }
}

/// The groups of at most `width` consecutive chains out of `n`: (first chain, size).
pub fn groups(n: usize, width: usize) -> Vec<(usize, usize)> {
    (0..n.div_ceil(width))
        .map(|g| (g * width, width.min(n - g * width)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::rng::Streams;

    #[test]
    fn grouping_does_not_change_a_chain() {
        // A chain's path depends only on its own stream: run alone or in a group of four, its
        // counts are identical.
        let streams = Streams::new(11);
        let step = |w: f64, xi: f64| w - 0.01 * 4.0 * w * (w * w - 1.0) + 0.1 * xi;
        let mut alone = [BinCounts::new(-2.0, 2.0, 40)];
        let mut w1 = [0.3];
        let mut r1 = [streams.stream("c", 2)];
        run_lockstep(&mut w1, &mut r1, &mut alone, 100, 5000, 1e3, step).unwrap();
        let mut ws = [0.1, -0.2, 0.3, 0.0];
        let mut rs = [0, 1, 2, 3].map(|i| streams.stream("c", i));
        let mut bins: [BinCounts; 4] = std::array::from_fn(|_| BinCounts::new(-2.0, 2.0, 40));
        run_lockstep(&mut ws, &mut rs, &mut bins, 100, 5000, 1e3, step).unwrap();
        assert_eq!(bins[2], alone[0]);
        assert_eq!(ws[2].to_bits(), w1[0].to_bits());
    }

    #[test]
    fn divergence_is_reported_not_hidden() {
        let streams = Streams::new(1);
        let mut w = [1.0, 1.0];
        let mut r = [streams.stream("c", 0), streams.stream("c", 1)];
        let mut b: [BinCounts; 2] = std::array::from_fn(|_| BinCounts::new(-1.0, 1.0, 4));
        // w <- 3 w explodes past the bound within a check block.
        let e = run_lockstep(&mut w, &mut r, &mut b, 0, 100_000, 1e6, |w, _| 3.0 * w).unwrap_err();
        assert_eq!(e.chain, 0);
        assert!(!e.state.is_finite() || e.state.abs() > 1e6);
    }

    #[test]
    fn counts_and_groups() {
        let mut b = BinCounts::new(-0.5, 1.0, 6);
        for x in [0.1, 0.3, 0.35, 0.9, 1.5, -0.1, -0.7, f64::NAN] {
            b.add(x);
        }
        assert_eq!(b.counts, vec![0, 1, 1, 2, 0, 1]);
        assert_eq!((b.below, b.above, b.total()), (1, 2, 8));
        assert_eq!(b.fraction_at_or_above(0.0), Some(6.0 / 8.0));
        assert_eq!(b.fraction_at_or_above(0.1), None);
        assert_eq!(b.fraction_at_or_above(-1.0), Some(7.0 / 8.0));
        assert_eq!(b.fraction_at_or_above(1.0), Some(2.0 / 8.0));
        assert_eq!(groups(10, 4), vec![(0, 4), (4, 4), (8, 2)]);
    }
}
