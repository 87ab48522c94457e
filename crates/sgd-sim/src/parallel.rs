//! Deterministic parallel trajectories: trajectory i uses its own stream, work is spread over the
//! current rayon pool, and results come back in index order, so they do not depend on the thread count.

use crate::cancel::{Cancel, Cancelled};
use crate::rng::{Stream, Streams};
use rayon::prelude::*;

/// Runs `f(i)` for i in 0..n on the current rayon pool and returns the results in index order.
pub fn map_indexed<T, F>(n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    (0..n).into_par_iter().map(f).collect()
}

/// Runs `n` trajectories: trajectory i gets `streams.stream(purpose, i)`. Results are in index order.
pub fn trajectories<T, F>(streams: &Streams, purpose: &str, n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut Stream) -> T + Sync + Send,
{
    map_indexed(n, |i| {
        let mut rng = streams.stream(purpose, i as u64);
        f(i, &mut rng)
    })
}

/// Like [`trajectories`] for fallible runs: the first error in index order wins, so the reported
/// error does not depend on scheduling either.
///
/// # Errors
/// The error of the lowest-indexed trajectory that failed.
pub fn try_trajectories<T, E, F>(
    streams: &Streams,
    purpose: &str,
    n: usize,
    f: F,
) -> Result<Vec<T>, E>
where
    T: Send,
    E: Send,
    F: Fn(usize, &mut Stream) -> Result<T, E> + Sync + Send,
{
    trajectories(streams, purpose, n, f).into_iter().collect()
}

/// Like [`try_trajectories`], polling `cancel` before each trajectory: once it is raised, no new
/// trajectory starts and the call returns `Cancelled` (converted into the caller's error).
///
/// # Errors
/// `Cancelled` when the flag was raised, otherwise the error of the lowest-indexed failed trajectory.
pub fn cancellable_trajectories<T, E, F>(
    streams: &Streams,
    purpose: &str,
    n: usize,
    cancel: &Cancel,
    f: F,
) -> Result<Vec<T>, E>
where
    T: Send,
    E: Send + From<Cancelled>,
    F: Fn(usize, &mut Stream) -> Result<T, E> + Sync + Send,
{
    let runs = trajectories(streams, purpose, n, |i, rng| {
        cancel.check()?;
        f(i, rng)
    });
    cancel.check()?;
    runs.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::standard_normal;

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let streams = Streams::new(42);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                trajectories(&streams, "trajectory", 1000, |_, rng| {
                    (0..100).map(|_| standard_normal(rng)).sum::<f64>()
                })
            })
        };
        let one = run(1);
        let two = run(2);
        let four = run(4);
        assert_eq!(
            one.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            two.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(one, four);
    }

    #[test]
    fn a_raised_flag_stops_the_run() {
        let streams = Streams::new(3);
        let cancel = Cancel::new();
        let ok: Result<Vec<usize>, Cancelled> =
            cancellable_trajectories(&streams, "t", 10, &cancel, |i, _| Ok(i));
        assert_eq!(ok.unwrap(), (0..10).collect::<Vec<_>>());
        cancel.cancel();
        let stopped: Result<Vec<usize>, Cancelled> =
            cancellable_trajectories(&streams, "t", 10, &cancel, |i, _| Ok(i));
        assert_eq!(stopped, Err(Cancelled));
    }

    #[test]
    fn first_error_in_index_order_wins() {
        let streams = Streams::new(1);
        let r: Result<Vec<usize>, usize> =
            try_trajectories(
                &streams,
                "t",
                100,
                |i, _| if i % 7 == 3 { Err(i) } else { Ok(i) },
            );
        assert_eq!(r, Err(3));
    }
}
