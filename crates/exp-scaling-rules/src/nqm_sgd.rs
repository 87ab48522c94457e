//! SGD on the noisy quadratic model, simulated one coordinate at a time.
//!
//! The noisy quadratic model (`sgd_sim::noisy_quadratic`; Zhang et al. 2019) has loss
//! L(w) = (1/2) sum h_i w_i^2 and a minibatch gradient with independent Gaussian noise of variance
//! c_i / b in coordinate i. One SGD step,
//!
//!   w_i <- w_i - eta (h_i w_i + sqrt(c_i / b) xi_i),   xi_i ~ N(0, 1),
//!
//! moves every coordinate as its own Gaussian AR(1) process w <- phi w - eta sqrt(c/b) xi with
//! phi = 1 - eta h, independently of the others. So each coordinate, and each replica of it, is
//! simulated on its own random stream and with its own length; a replica of the whole model is the
//! set of coordinate replicas with the same replica index, and its loss is their weighted sum.
//!
//! The integrated autocorrelation time of w^2 for a stationary Gaussian AR(1) process is
//! (1 + a)/(1 - a) with a = phi^2, since Corr(w_s^2, w_t^2) = phi^(2 |s - t|) (Isserlis' theorem).

use sgd_sim::math::ln;
use sgd_sim::rng::{Stream, standard_normal};

/// Replicas advanced together, each on its own stream: independent chains give the core
/// independent work per step (instruction-level parallelism) without sharing random numbers.
pub const LANES: usize = 4;

/// One coordinate of the noisy quadratic model under step size eta and batch size b.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoordinateDynamics {
    /// The step size eta.
    pub eta: f64,
    /// The curvature h.
    pub curvature: f64,
    /// The minibatch gradient-noise standard deviation sqrt(c / b).
    pub noise_sd: f64,
}

impl CoordinateDynamics {
    /// Coordinate (h, c) under step size `eta` and batch size `batch`.
    pub fn new(eta: f64, batch: f64, curvature: f64, noise: f64) -> Self {
        Self {
            eta,
            curvature,
            noise_sd: (noise / batch).sqrt(),
        }
    }

    /// The squared AR(1) coefficient a = (1 - eta h)^2: the per-step contraction of E[w^2].
    pub fn contraction(&self) -> f64 {
        let phi = 1.0 - self.eta * self.curvature;
        phi * phi
    }

    /// The integrated autocorrelation time (1 + a)/(1 - a) of w^2 in stationarity; infinite when
    /// a >= 1 (no stationary law).
    pub fn square_autocorrelation_time(&self) -> f64 {
        let a = self.contraction();
        if a >= 1.0 {
            f64::INFINITY
        } else {
            (1.0 + a) / (1.0 - a)
        }
    }

    /// The small-step (Ornstein–Uhlenbeck) stationary variance eta c / (2 b h): the limit of the
    /// exact stationary moment as eta h -> 0 at fixed eta / b.
    pub fn small_step_variance(&self) -> f64 {
        self.eta * self.noise_sd * self.noise_sd / (2.0 * self.curvature)
    }

    /// The exact stationary second moment eta^2 (c/b) / (1 - a) = eta c / (b h (2 - eta h)) of the
    /// recursion m <- a m + eta^2 c / b; infinite when a >= 1.
    pub fn stationary_moment(&self) -> f64 {
        let a = self.contraction();
        if a >= 1.0 {
            f64::INFINITY
        } else {
            self.eta * self.eta * self.noise_sd * self.noise_sd / (1.0 - a)
        }
    }

    /// Steps after which a chain started from the small-step law N(0, eta c/(2bh)) is within
    /// relative `tolerance` of the exact stationary moment: the start is off by the relative
    /// amount x/2 (x = eta h), exactly, since m_small / m_inf = (2 - x)/2, and the gap contracts by
    /// a per step. Zero when x/2 is already below the tolerance; one when a = 0 (one step forgets).
    pub fn burn_in(&self, tolerance: f64) -> u64 {
        let gap = self.eta * self.curvature / 2.0;
        if gap <= tolerance {
            return 0;
        }
        let a = self.contraction();
        if a <= 0.0 {
            return 1;
        }
        (ln(gap / tolerance) / -ln(a)).ceil() as u64
    }

    /// The exact expected average of w_t^2 over steps t = burn + 1 ..= burn + steps of a chain
    /// started with E[w_0^2] = `start_moment`: m_inf + (m_0 - m_inf) a^(burn+1) (1 - a^steps) /
    /// ((1 - a) steps), from the closed form m_t = m_inf + a^t (m_0 - m_inf).
    pub fn expected_window_average(&self, start_moment: f64, burn: u64, steps: u64) -> f64 {
        let a = self.contraction();
        let m_inf = self.stationary_moment();
        let t = steps as f64;
        // a^(burn+1) (1 - a^steps) / ((1 - a) steps), powers of a non-negative base (0 when a = 0:
        // the first step forgets the start).
        let geometric = sgd_sim::math::powf(a, (burn + 1) as f64)
            * (1.0 - sgd_sim::math::powf(a, t))
            / ((1.0 - a) * t);
        m_inf + (start_moment - m_inf) * geometric
    }
}

/// Time averages of one replica over its measured steps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReplicaAverages {
    /// Mean of w_t^2 over the measured steps (after each step).
    pub mean_square: f64,
    /// Mean of the squared noise part of the update, (eta sqrt(c/b) xi)^2 = (dw - E[dw | w])^2.
    pub update_noise_square: f64,
    /// Mean of the squared update (w_{t+1} - w_t)^2.
    pub update_square: f64,
}

/// Runs one replica per stream in `rngs` (in groups of [`LANES`]): w_0 = `start_sd` * N(0, 1)
/// (from the replica's own stream), `burn_in` discarded steps, then `steps` measured steps.
/// Returns the replicas' time averages in stream order.
pub fn run_replicas(
    dynamics: CoordinateDynamics,
    start_sd: f64,
    burn_in: u64,
    steps: u64,
    rngs: &mut [Stream],
) -> Vec<ReplicaAverages> {
    let (eta, h, s) = (dynamics.eta, dynamics.curvature, dynamics.noise_sd);
    let mut out = Vec::with_capacity(rngs.len());
    for group in rngs.chunks_mut(LANES) {
        let lanes = group.len();
        let mut w = [0.0f64; LANES];
        let mut sum_w2 = [0.0f64; LANES];
        let mut sum_noise2 = [0.0f64; LANES];
        let mut sum_update2 = [0.0f64; LANES];
        for (wl, rng) in w.iter_mut().zip(group.iter_mut()) {
            *wl = start_sd * standard_normal(rng);
        }
        for _ in 0..burn_in {
            for (wl, rng) in w.iter_mut().zip(group.iter_mut()) {
                let gradient = h * *wl + s * standard_normal(rng);
                *wl -= eta * gradient;
            }
        }
        for _ in 0..steps {
            for l in 0..lanes {
                let noise = s * standard_normal(&mut group[l]);
                let gradient = h * w[l] + noise;
                let before = w[l];
                w[l] -= eta * gradient;
                let update = w[l] - before;
                sum_w2[l] += w[l] * w[l];
                sum_noise2[l] += (eta * noise) * (eta * noise);
                sum_update2[l] += update * update;
            }
        }
        let t = steps.max(1) as f64;
        for l in 0..lanes {
            out.push(ReplicaAverages {
                mean_square: sum_w2[l] / t,
                update_noise_square: sum_noise2[l] / t,
                update_square: sum_update2[l] / t,
            });
        }
    }
    out
}

/// One chain of a coupled loss-versus-examples run: step size and examples per step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoupledChain {
    /// The step size.
    pub eta: f64,
    /// Examples per step (the batch size b).
    pub batch: u64,
}

/// Runs several SGD chains of one coordinate (h, c) side by side on one stream of per-example
/// gradient noise sqrt(c) xi_e, e = 1, 2, ...: a chain with batch b steps after every b examples,
/// with the mean of those b examples' noises, which is N(0, c/b) as the model requires. All chains
/// see the same examples, so chains differing only by their (eta, b) are compared with common
/// random numbers (Glasserman 2004, section 4.2). Every chain starts at w_0 = `start`.
///
/// Returns, per chain, w^2 after each number of examples in `checkpoints` (increasing, each a
/// multiple of every chain's batch).
pub fn run_coupled_curves(
    curvature: f64,
    noise: f64,
    chains: &[CoupledChain],
    start: f64,
    checkpoints: &[u64],
    rng: &mut Stream,
) -> Vec<Vec<f64>> {
    let noise_sd = noise.sqrt();
    let mut w = vec![start; chains.len()];
    let mut pending = vec![0.0f64; chains.len()];
    let mut squares = vec![Vec::with_capacity(checkpoints.len()); chains.len()];
    let mut seen = 0u64;
    for &target in checkpoints {
        while seen < target {
            seen += 1;
            let example_noise = noise_sd * standard_normal(rng);
            for (k, chain) in chains.iter().enumerate() {
                pending[k] += example_noise;
                if seen.is_multiple_of(chain.batch) {
                    let gradient = curvature * w[k] + pending[k] / chain.batch as f64;
                    w[k] -= chain.eta * gradient;
                    pending[k] = 0.0;
                }
            }
        }
        for (k, s) in squares.iter_mut().enumerate() {
            s.push(w[k] * w[k]);
        }
    }
    squares
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgd_sim::noisy_quadratic::NoisyQuadratic;
    use sgd_sim::rng::Streams;

    #[test]
    fn stationary_moment_matches_the_core_closed_form() {
        // The core's stationary loss (eta/2b) sum c_i/(2 - eta h_i) is (1/2) sum h_i m_inf,i.
        let q = NoisyQuadratic::harmonic(50);
        for (eta, b) in [(0.01, 1.0), (1.9, 190.0), (0.7, 3.0)] {
            let ours: f64 = (0..q.dim())
                .map(|i| {
                    let d = CoordinateDynamics::new(eta, b, q.curvatures[i], q.noise[i]);
                    0.5 * q.curvatures[i] * d.stationary_moment()
                })
                .sum();
            let core = q.stationary_loss(eta, b);
            assert!((ours / core - 1.0).abs() < 1e-13, "{ours} vs {core}");
        }
    }

    #[test]
    fn window_average_equals_the_summed_recursion() {
        // Sum the exact recursion m_{t+1} = a m_t + eta^2 c/b directly (no closed form): the
        // geometric-series formula must agree to rounding (1e-12 relative over 10^3 terms).
        for (eta, b, h, c, m0) in [
            (0.5, 2.0, 1.0, 1.0, 3.0),
            (1.95, 195.0, 1.0, 1.0, 0.005),
            (1.0, 1.0, 1.0, 0.5, 1.0),
        ] {
            let d = CoordinateDynamics::new(eta, b, h, c);
            let (burn, steps) = (37u64, 400u64);
            let mut m = m0;
            let mut total = 0.0;
            for t in 1..=burn + steps {
                m = d.contraction() * m + eta * eta * c / b;
                if t > burn {
                    total += m;
                }
            }
            let direct = total / steps as f64;
            let closed = d.expected_window_average(m0, burn, steps);
            assert!(
                (closed / direct - 1.0).abs() < 1e-12,
                "{closed} vs {direct}"
            );
        }
    }

    #[test]
    fn burn_in_reaches_the_tolerance() {
        for (eta, b) in [(0.01, 1.0), (1.5, 150.0), (1.95, 195.0), (1.0, 100.0)] {
            let d = CoordinateDynamics::new(eta, b, 1.0, 1.0);
            let burn = d.burn_in(1e-4);
            let m0 = d.small_step_variance();
            let m_inf = d.stationary_moment();
            let after = m_inf + (m0 - m_inf) * sgd_sim::math::powi(d.contraction(), burn as i32);
            assert!(
                (after / m_inf - 1.0).abs() <= 1e-4 + 1e-15,
                "eta {eta}: burn {burn}"
            );
        }
        // Slow coordinates start within tolerance: no burn-in.
        assert_eq!(
            CoordinateDynamics::new(0.01, 1.0, 0.001, 0.001).burn_in(1e-4),
            0
        );
    }

    #[test]
    fn monte_carlo_replicas_match_the_stationary_moment() {
        // 256 replicas of 4000 steps at eta h = 1.8 (a = 0.64, autocorrelation time 4.6 steps):
        // the mean of the replica averages has relative SE about sqrt(2 * 4.6 / (256 * 4000)) = 0.3%.
        // The estimate must lie within 5 of its own (sample) standard errors of the exact moment.
        let d = CoordinateDynamics::new(1.8, 4.0, 1.0, 2.0);
        let streams = Streams::new(11);
        let mut rngs: Vec<Stream> = (0..256).map(|r| streams.stream("test", r)).collect();
        let start = d.small_step_variance().sqrt();
        let reps = run_replicas(d, start, d.burn_in(1e-6), 4000, &mut rngs);
        let ms: Vec<f64> = reps.iter().map(|r| r.mean_square).collect();
        let e = sgd_sim::stats::mean_estimate(&ms);
        assert!(
            e.z_score(d.stationary_moment()).abs() < 5.0,
            "{e:?} vs {}",
            d.stationary_moment()
        );
        // The noise part of the update has variance eta^2 c / b exactly.
        let noise: Vec<f64> = reps.iter().map(|r| r.update_noise_square).collect();
        let e = sgd_sim::stats::mean_estimate(&noise);
        assert!(e.z_score(1.8 * 1.8 * 2.0 / 4.0).abs() < 5.0, "{e:?}");
        // E[dw^2] = eta^2 (h^2 m_inf + c/b) in stationarity.
        let upd: Vec<f64> = reps.iter().map(|r| r.update_square).collect();
        let e = sgd_sim::stats::mean_estimate(&upd);
        let exact = 1.8 * 1.8 * (d.stationary_moment() + 0.5);
        assert!(e.z_score(exact).abs() < 5.0, "{e:?} vs {exact}");
    }

    #[test]
    fn coupled_curves_follow_the_closed_form_moments() {
        // Each chain alone is SGD with batch b, so from w_0 = 1 its second moment is the core's
        // closed form m(t) at t = examples / b. 2000 replicas give a relative SE of at most
        // sqrt(2/2000) = 3.2% per point (w is Gaussian); bound 5 SE.
        let q = NoisyQuadratic {
            curvatures: vec![0.5],
            noise: vec![1.0],
            initial: vec![1.0],
        };
        let chains = [
            CoupledChain { eta: 0.1, batch: 1 },
            CoupledChain { eta: 0.4, batch: 4 },
        ];
        let checkpoints = [4u64, 20, 80, 400];
        let streams = Streams::new(5);
        let runs: Vec<Vec<Vec<f64>>> = (0..2000)
            .map(|r| {
                run_coupled_curves(
                    0.5,
                    1.0,
                    &chains,
                    1.0,
                    &checkpoints,
                    &mut streams.stream("c", r),
                )
            })
            .collect();
        for (k, chain) in chains.iter().enumerate() {
            for (j, &e) in checkpoints.iter().enumerate() {
                let col: Vec<f64> = runs.iter().map(|run| run[k][j]).collect();
                let est = sgd_sim::stats::mean_estimate(&col);
                let exact = q.moment(0, chain.eta, chain.batch as f64, (e / chain.batch) as f64);
                assert!(
                    est.z_score(exact).abs() < 5.0,
                    "chain {k} e {e}: {est:?} vs {exact}"
                );
            }
        }
    }
}
