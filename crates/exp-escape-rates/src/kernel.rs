//! The hot path: first-exit step counts of the noisy gradient iteration w <- w - eta (L'(w) + noise).
//!
//! One thread advances [`LANES`] independent trajectories together. Each lane holds one trajectory
//! and that trajectory's own random stream, `streams.stream(purpose, i)` for trajectory i, so a
//! trajectory's path depends only on its index, never on the lane it ran in or on the thread. When a
//! lane's trajectory exits, its step count is written at the trajectory's index and the lane is
//! refilled with the next trajectory index of the block, in a fixed lane order. Nothing is allocated,
//! locked or shared per step: the noise buffer of a block lives on its thread's stack. Blocks of
//! trajectories are spread over the rayon pool and combined in index order
//! ([`sgd_sim::parallel::map_indexed`]), so results do not depend on the thread count.

use sgd_sim::SimError;
use sgd_sim::parallel::map_indexed;
use sgd_sim::potential::Potential;
use sgd_sim::rng::{Rng, Stream, Streams, standard_normal};

/// Trajectories advanced together by one thread.
pub const LANES: usize = 16;

/// Trajectories per parallel work item (a multiple of [`LANES`]).
pub const BLOCK: usize = 256;

/// The gradient noise added to the exact gradient at every step.
pub trait GradientNoise: Sync {
    /// One draw of the noise.
    fn draw(&self, rng: &mut Stream) -> f64;
    /// Its variance per step (the exact variance of one draw).
    fn variance(&self) -> f64;
}

/// Isotropic Gaussian gradient noise s z, z ~ N(0, 1): temperature T = eta s^2 / 2.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianNoise {
    /// The standard deviation s.
    pub scale: f64,
}

impl GradientNoise for GaussianNoise {
    #[inline(always)]
    fn draw(&self, rng: &mut Stream) -> f64 {
        self.scale * standard_normal(rng)
    }
    fn variance(&self) -> f64 {
        self.scale * self.scale
    }
}

/// Exactly uniform indices in 0..n by Lemire's multiply-and-reject (Lemire 2019, "Fast random
/// integer generation in an interval"), with the rejection threshold 2^64 mod n computed once.
///
/// It draws the same indices as [`sgd_sim::rng::uniform_index`] from the same stream (a test checks
/// it bit for bit), without the division that function spends on every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexSampler {
    range: u64,
    threshold: u64,
}

impl IndexSampler {
    /// A sampler of 0..n; `None` when n is 0.
    pub fn new(n: usize) -> Option<Self> {
        if n == 0 {
            return None;
        }
        let range = n as u64;
        Some(Self {
            range,
            threshold: range.wrapping_neg() % range,
        })
    }

    /// One uniform index.
    #[inline(always)]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        loop {
            let m = u128::from(rng.next_u64()) * u128::from(self.range);
            if (m as u64) >= self.threshold {
                return (m >> 64) as usize;
            }
        }
    }
}

/// Minibatch gradient noise of per-sample losses l_i(w) = L(w) + xi_i w: the minibatch gradient is
/// L'(w) + (1/b) sum_j xi_{i_j} with b indices drawn uniformly with replacement, so its noise is the
/// mean of b offsets, of variance tr(Sigma)/b with tr(Sigma) = (1/N) sum xi_i^2 for centred offsets.
#[derive(Clone, Debug, PartialEq)]
pub struct MinibatchNoise {
    offsets: Vec<f64>,
    batch: usize,
    sampler: IndexSampler,
    inv_batch: f64,
}

impl MinibatchNoise {
    /// Noise of batches of `batch` offsets drawn with replacement from `offsets`.
    ///
    /// # Errors
    /// No offsets, a zero batch size, or a non-finite offset.
    pub fn new(offsets: Vec<f64>, batch: usize) -> Result<Self, SimError> {
        let sampler = IndexSampler::new(offsets.len())
            .ok_or_else(|| SimError::InvalidInput("minibatch noise needs offsets".into()))?;
        if batch == 0 {
            return Err(SimError::InvalidInput("batch size must be positive".into()));
        }
        if offsets.iter().any(|x| !x.is_finite()) {
            return Err(SimError::InvalidInput("offsets must be finite".into()));
        }
        Ok(Self {
            offsets,
            batch,
            sampler,
            inv_batch: 1.0 / batch as f64,
        })
    }

    /// tr(Sigma) = (1/N) sum (xi_i - mean)^2, the per-sample gradient variance.
    pub fn trace_sigma(&self) -> f64 {
        let n = self.offsets.len() as f64;
        let mean = self.offsets.iter().sum::<f64>() / n;
        self.offsets
            .iter()
            .map(|x| (x - mean) * (x - mean))
            .sum::<f64>()
            / n
    }

    /// The batch size b.
    pub fn batch(&self) -> usize {
        self.batch
    }
}

impl GradientNoise for MinibatchNoise {
    #[inline(always)]
    fn draw(&self, rng: &mut Stream) -> f64 {
        let mut sum = 0.0;
        for _ in 0..self.batch {
            sum += self.offsets[self.sampler.sample(rng)];
        }
        sum * self.inv_batch
    }
    fn variance(&self) -> f64 {
        // With replacement the b draws are independent: Var = tr(Sigma)/b, plus the squared mean
        // of the offsets (zero when centred) as a bias, not a variance.
        self.trace_sigma() / self.batch as f64
    }
}

/// Where a trajectory has left the region it starts in.
pub trait ExitRule: Sync {
    /// Whether w is still inside. Written as a strict "inside" test so that NaN counts as outside
    /// and a diverging lane stops at once (the caller then reports the divergence).
    fn inside(&self, w: f64) -> bool;
}

/// Exit at the first w >= level (escape over a barrier into the well beyond it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExitAbove(pub f64);

impl ExitRule for ExitAbove {
    #[inline(always)]
    fn inside(&self, w: f64) -> bool {
        w < self.0
    }
}

/// Exit at the first |w| >= radius (escape from a saddle or a ball).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExitOutside(pub f64);

impl ExitRule for ExitOutside {
    #[inline(always)]
    fn inside(&self, w: f64) -> bool {
        w.abs() < self.0
    }
}

/// One escape experiment: the iteration w <- w - eta (L'(w) + noise) from `start` until the exit rule
/// says outside, for at most `max_steps` steps per trajectory.
#[derive(Clone, Copy, Debug)]
pub struct EscapeSpec<'a, P, N, E> {
    /// The loss L.
    pub potential: &'a P,
    /// The gradient noise.
    pub noise: &'a N,
    /// Where a trajectory has escaped.
    pub exit: E,
    /// The step size eta.
    pub eta: f64,
    /// The starting point of every trajectory.
    pub start: f64,
    /// A trajectory that has not exited after this many steps is an error (a run far outside the
    /// regime the claim is about, or a stuck lane).
    pub max_steps: u64,
}

/// Steps per round: each lane draws this many noise values ahead, then all lanes step together.
pub const ROUND: usize = 32;

/// Step counts of trajectories `first..first + out.len()` on one thread, [`LANES`] at a time: the
/// kernel. `out[k]` receives the exit step of trajectory `first + k`, which draws only from
/// `streams.stream(purpose, first + k)`.
///
/// The noise does not depend on the iterate, so it is drawn ahead. Each round, every live lane
/// first draws its next [`ROUND`] noise values in one loop over its own stream (the generator's
/// state stays in registers, as in a plain loop of draws); then all lanes take [`ROUND`] steps
/// together, [`LANES`] independent updates per step that the processor overlaps, with one exit test
/// per step for all of them. A lane whose trajectory exits is recorded and refilled with the
/// block's next trajectory at the start of the next round; the draws it made beyond its exit step
/// are discarded. A trajectory therefore consumes exactly the draws a one-at-a-time loop would,
/// in the same order, and its exit step is the same bit for bit.
///
/// # Errors
/// `Diverged` when a trajectory leaves with a non-finite iterate or has not exited after
/// `max_steps` steps (checked once per round, so it may run up to [`ROUND`] steps longer).
pub fn escape_steps_block<P, N, E>(
    spec: &EscapeSpec<'_, P, N, E>,
    streams: &Streams,
    purpose: &str,
    first: usize,
    out: &mut [u64],
) -> Result<(), SimError>
where
    P: Potential,
    N: GradientNoise,
    E: ExitRule,
{
    let count = out.len();
    if !spec.exit.inside(spec.start) {
        out.iter_mut().for_each(|o| *o = 0);
        return Ok(());
    }
    let eta = spec.eta;
    let mut w = [spec.start; LANES];
    // Block clock at which each lane's trajectory started; position in `out` of each lane's
    // trajectory; whether it is still running.
    let mut born = [0u64; LANES];
    let mut slot = [0usize; LANES];
    let mut live = [false; LANES];
    let mut rngs: [Stream; LANES] =
        std::array::from_fn(|l| streams.stream(purpose, (first + l) as u64));
    // noise[j][l]: the noise of lane l at step j of the round (step-major, so the lanes of one
    // step are contiguous).
    let mut noise = [[0.0f64; LANES]; ROUND];
    let mut next = 0usize;
    let mut clock = 0u64;
    loop {
        for l in 0..LANES {
            if !live[l] && next < count {
                slot[l] = next;
                rngs[l] = streams.stream(purpose, (first + next) as u64);
                w[l] = spec.start;
                born[l] = clock;
                live[l] = true;
                next += 1;
            }
        }
        if !live.contains(&true) {
            return Ok(());
        }
        for l in 0..LANES {
            if live[l] {
                let rng = &mut rngs[l];
                for step in &mut noise {
                    step[l] = spec.noise.draw(rng);
                }
            }
        }
        let mut j = 0;
        while j < ROUND {
            // Steps every lane until one of them is outside; a lane that exited earlier in the
            // round was put back at the start, so only real exits (or rare re-exits of such
            // waiting lanes, ignored below) stop this loop.
            j += steps_until_outside(&mut w, &noise[j..], spec.potential, eta, &spec.exit);
            if j == ROUND {
                break;
            }
            let steps_now = clock + j as u64 + 1;
            for l in 0..LANES {
                if spec.exit.inside(w[l]) {
                    continue;
                }
                if live[l] {
                    record_exit(w[l], steps_now - born[l], first + slot[l])?;
                    out[slot[l]] = steps_now - born[l];
                    live[l] = false;
                }
                // Park the lane inside until the next round refills it (its remaining noise
                // values this round belong to a finished trajectory and are discarded).
                w[l] = spec.start;
            }
            j += 1;
        }
        clock += ROUND as u64;
        for l in 0..LANES {
            let steps = clock - born[l];
            if live[l] && steps >= spec.max_steps {
                return Err(SimError::Diverged {
                    step: steps,
                    reason: format!(
                        "trajectory {} did not exit within {} steps",
                        first + slot[l],
                        spec.max_steps
                    ),
                });
            }
        }
    }
}

/// Takes steps w_l <- w_l - eta (L'(w_l) + noise[j][l]) for all lanes, j = 0, 1, ..., and returns
/// the first j after which some lane is outside (its iterate left in `w`), or `noise.len()`. No
/// calls and no stores but the iterates: the loop the processor spends its time in.
#[inline(always)]
fn steps_until_outside<P: Potential, E: ExitRule>(
    w: &mut [f64; LANES],
    noise: &[[f64; LANES]],
    potential: &P,
    eta: f64,
    exit: &E,
) -> usize {
    let mut x = *w;
    for (j, step) in noise.iter().enumerate() {
        let mut outside = false;
        for l in 0..LANES {
            x[l] -= eta * (potential.derivative(x[l]) + step[l]);
            outside |= !exit.inside(x[l]);
        }
        if outside {
            *w = x;
            return j;
        }
    }
    *w = x;
    noise.len()
}

/// Checks an exiting iterate: a non-finite one means the run diverged.
#[cold]
#[inline(never)]
fn record_exit(w: f64, steps: u64, index: usize) -> Result<(), SimError> {
    if w.is_finite() {
        Ok(())
    } else {
        Err(SimError::Diverged {
            step: steps,
            reason: format!("trajectory {index} reached a non-finite iterate"),
        })
    }
}

/// Exit step counts of `trajectories` trajectories, trajectory i drawing from
/// `streams.stream(purpose, i)`, in blocks of [`BLOCK`] over the rayon pool; results in index order,
/// independent of the thread count.
///
/// # Errors
/// The error of the lowest-indexed block that failed.
pub fn escape_steps<P, N, E>(
    spec: &EscapeSpec<'_, P, N, E>,
    streams: &Streams,
    purpose: &str,
    trajectories: usize,
) -> Result<Vec<u64>, SimError>
where
    P: Potential,
    N: GradientNoise,
    E: ExitRule,
{
    let blocks = trajectories.div_ceil(BLOCK);
    let parts = map_indexed(blocks, |b| {
        let first = b * BLOCK;
        let len = BLOCK.min(trajectories - first);
        let mut out = vec![0u64; len];
        escape_steps_block(spec, streams, purpose, first, &mut out).map(|()| out)
    });
    let mut all = Vec::with_capacity(trajectories);
    for part in parts {
        all.extend(part?);
    }
    Ok(all)
}

/// The exit step of gradient descent w <- w - eta L'(w) from `start` (no noise): the first k with
/// w_k outside, or `None` when it stays inside for `max_steps` steps (for example at a stationary
/// point, which gradient descent never leaves).
pub fn gradient_descent_exit_step<P: Potential, E: ExitRule>(
    potential: &P,
    exit: &E,
    eta: f64,
    start: f64,
    max_steps: u64,
) -> Option<u64> {
    let mut w = start;
    for k in 0..=max_steps {
        if !exit.inside(w) {
            return Some(k);
        }
        w -= eta * potential.derivative(w);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::potential::{DoubleWell, QuarticSaddle};
    use sgd_sim::rng::uniform_index;

    /// The same trajectory, stepped alone with its own stream: the reference the kernel must match.
    fn reference_steps<P: Potential, N: GradientNoise, E: ExitRule>(
        spec: &EscapeSpec<'_, P, N, E>,
        rng: &mut Stream,
    ) -> u64 {
        let mut w = spec.start;
        let mut k = 0;
        while spec.exit.inside(w) {
            w -= spec.eta * (spec.potential.derivative(w) + spec.noise.draw(rng));
            k += 1;
        }
        k
    }

    #[test]
    fn lanes_reproduce_single_trajectories_bit_for_bit() {
        // 8 lanes, refills and a ragged last block: every count equals the one-at-a-time run.
        let well = DoubleWell { height: 1.0 };
        let noise = GaussianNoise { scale: 12.0 };
        let spec = EscapeSpec {
            potential: &well,
            noise: &noise,
            exit: ExitAbove(1.0),
            eta: 0.02,
            start: -1.0,
            max_steps: 10_000_000,
        };
        let streams = Streams::new(11);
        let n = 3 * BLOCK + 5;
        let got = escape_steps(&spec, &streams, "t", n).unwrap();
        for (i, &g) in got.iter().enumerate() {
            let want = reference_steps(&spec, &mut streams.stream("t", i as u64));
            assert_eq!(g, want, "trajectory {i}");
        }
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let saddle = QuarticSaddle { lambda: 1.0 };
        let noise = GaussianNoise { scale: 0.1 };
        let spec = EscapeSpec {
            potential: &saddle,
            noise: &noise,
            exit: ExitOutside(0.5),
            eta: 0.01,
            start: 0.0,
            max_steps: 1_000_000,
        };
        let streams = Streams::new(5);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| escape_steps(&spec, &streams, "s", 300).unwrap())
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn stuck_and_diverging_trajectories_are_errors() {
        let well = DoubleWell { height: 1.0 };
        let quiet = GaussianNoise { scale: 0.0 };
        let spec = EscapeSpec {
            potential: &well,
            noise: &quiet,
            exit: ExitAbove(1.0),
            eta: 0.01,
            start: -1.0,
            max_steps: 1000,
        };
        let err = escape_steps(&spec, &Streams::new(1), "t", 3).unwrap_err();
        assert!(
            matches!(err, SimError::Diverged { step, .. } if (1000..1000 + ROUND as u64).contains(&step)),
            "{err:?}"
        );
        // eta = 1 on the quartic: |w| grows without bound and becomes non-finite.
        let loud = GaussianNoise { scale: 1e3 };
        let spec = EscapeSpec {
            potential: &well,
            noise: &loud,
            exit: ExitAbove(f64::INFINITY),
            eta: 1.0,
            start: -1.0,
            max_steps: 1_000_000,
        };
        let err = escape_steps(&spec, &Streams::new(1), "t", 2).unwrap_err();
        assert!(matches!(err, SimError::Diverged { .. }), "{err:?}");
    }

    #[test]
    fn index_sampler_matches_uniform_index() {
        for n in [1usize, 3, 1000, 1 << 40] {
            let sampler = IndexSampler::new(n).unwrap();
            let mut a = Streams::new(9).stream("i", n as u64);
            let mut b = Streams::new(9).stream("i", n as u64);
            for _ in 0..10_000 {
                assert_eq!(sampler.sample(&mut a), uniform_index(&mut b, n));
            }
        }
        assert!(IndexSampler::new(0).is_none());
    }

    #[test]
    fn minibatch_noise_has_variance_trace_over_b() {
        // Offsets +-1 (tr(Sigma) = 1), b = 4: the mean m of 4 signs has Var m = 1/4 and
        // E m^4 = (4 + 3*4*3)/4^4 = 0.15625. Over n = 200000 draws the sample variance has SE
        // sqrt((E m^4 - (Var m)^2)/n) = 6.8e-4 and the sample mean SE 1.1e-3: 5 SE bounds.
        let noise = MinibatchNoise::new(vec![1.0, -1.0, 1.0, -1.0], 4).unwrap();
        assert_eq!(noise.trace_sigma(), 1.0);
        assert_eq!(noise.variance(), 0.25);
        let mut rng = Streams::new(3).stream("m", 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| noise.draw(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n as f64 - 1.0);
        assert!(mean.abs() < 5.0 * (0.25f64 / n as f64).sqrt(), "{mean}");
        assert!((var - 0.25).abs() < 5.0 * 6.85e-4, "{var}");
        assert!(MinibatchNoise::new(vec![], 1).is_err());
        assert!(MinibatchNoise::new(vec![1.0], 0).is_err());
        assert!(MinibatchNoise::new(vec![f64::NAN], 1).is_err());
    }

    #[test]
    fn gradient_descent_never_leaves_a_stationary_point() {
        let saddle = QuarticSaddle { lambda: 1.0 };
        assert_eq!(
            gradient_descent_exit_step(&saddle, &ExitOutside(0.5), 0.01, 0.0, 100_000),
            None
        );
        assert!(
            gradient_descent_exit_step(&saddle, &ExitOutside(0.5), 0.01, 1e-3, 100_000).is_some()
        );
    }
}
