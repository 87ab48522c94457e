//! `bench-table`: runs the criterion benchmark of one minibatch step and writes the post's
//! batch-size trade-off table, `site/_data/timings.json` (its contract is in [`crate::timings`]).

use crate::exit;
use crate::report::Reporter;
use crate::verify::Paths;
use crate::{errln, outln};

/// Runs `bench-table`.
pub fn run(paths: &Paths, no_run: bool, rep: &mut Reporter<'_>) -> u8 {
    use crate::timings;
    if !no_run && let Err(e) = timings::run_benchmark(&paths.root) {
        errln!(rep, "error: {e}");
        return exit::INTERNAL;
    }
    let machine = timings::machine_info(&paths.root);
    let file = match timings::timing_file(&timings::criterion_dir(&paths.root), machine) {
        Ok(f) => f,
        Err(e) => {
            errln!(rep, "error: {e} (run without --no-run to benchmark first)");
            return exit::INTERNAL;
        }
    };
    match timings::write_timing_file(&paths.root, &file) {
        Ok(path) => {
            rep.out(format_args!("{}", timings::render_table(&file)));
            outln!(rep, "wrote {}", path.display());
        }
        Err(e) => {
            errln!(rep, "error: {e}");
            return exit::INTERNAL;
        }
    }
    let failing: Vec<&str> = file
        .ratios
        .iter()
        .filter(|r| !r.pass)
        .map(|r| r.name.as_str())
        .collect();
    if failing.is_empty() {
        exit::OK
    } else {
        errln!(
            rep,
            "error: timing ratio does not hold: {}",
            failing.join("; ")
        );
        exit::CLAIM_FAILED
    }
}
