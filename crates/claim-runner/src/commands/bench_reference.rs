//! `bench-reference`: this project's escape experiment against the NumPy reference, one thread.

use crate::exit;
use crate::report::Reporter;
use crate::verify::Paths;
use crate::{errln, outln};

/// Runs `bench-reference`.
pub fn run(paths: &Paths, p: &crate::reference::ReferenceParams, rep: &mut Reporter<'_>) -> u8 {
    if !(p.barrier_over_t > 0.0
        && p.barrier_over_t <= 12.0
        && p.eta > 0.0
        && p.eta < 0.1
        && p.trajectories > 0)
    {
        errln!(
            rep,
            "error: need 0 < barrier-over-t <= 12, 0 < eta < 0.1 and trajectories > 0"
        );
        return exit::USAGE;
    }
    let python = match crate::reference::python_with_numpy(&paths.root) {
        Ok(p) => p,
        Err(m) => {
            errln!(rep, "error: {m}");
            return exit::UNAVAILABLE;
        }
    };
    let rust = crate::reference::time_rust(p, 3);
    let numpy = crate::reference::time_numpy(&paths.root, &python, p);
    let (rust, numpy) = match (rust, numpy) {
        (Ok(r), Ok(n)) => (r, n),
        (Err(m), _) | (_, Err(m)) => {
            errln!(rep, "error: {m}");
            return exit::INTERNAL;
        }
    };
    let ratio = numpy.wall_seconds / rust.wall_seconds;
    outln!(
        rep,
        "escape experiment, dL/T = {}, eta = {}, {} trajectories, one thread",
        p.barrier_over_t,
        p.eta,
        p.trajectories
    );
    outln!(
        rep,
        "  this project (best of 3): {:.3} s, {:.2} ns per trajectory-step, mean escape time {:.3}",
        rust.wall_seconds,
        rust.ns_per_step(),
        rust.mean_escape_time
    );
    outln!(
        rep,
        "  NumPy reference:          {:.3} s, {:.2} ns per array step, mean escape time {:.3}",
        numpy.wall_seconds,
        numpy.ns_per_step(),
        numpy.mean_escape_time
    );
    outln!(
        rep,
        "  ratio (NumPy wall / this project's wall): {ratio:.1}x (goal: at least 8x)"
    );
    if ratio >= 8.0 {
        exit::OK
    } else {
        exit::CLAIM_FAILED
    }
}
