//! The names the criterion benchmark `minibatch_step` shares with `cargo xtask bench-table`, which
//! runs it and turns its estimates into `site/_data/timings.json` (the runner's `timings` module
//! holds that file's contract; this crate spawns no process and writes no file).

/// The criterion group of the benchmark; each batch size is the benchmark id `<b>`.
pub const BENCH_GROUP: &str = "minibatch_step";

/// The batch sizes the benchmark times.
pub const BATCH_SIZES: [usize; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
