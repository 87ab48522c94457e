//! The `cargo xtask` entry point: a thin shell over `claim-runner`, which holds all the logic.

fn main() -> std::process::ExitCode {
    claim_runner::cli::main_with_env()
}
