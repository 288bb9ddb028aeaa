//! The `splade` command: parse arguments, run, print one error, exit.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    // SAFETY: nothing else runs yet, so no thread reads the environment.
    unsafe { splade::encoder::single_threaded_candle() };
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("splade: {err:#}");
            ExitCode::from(2)
        }
    }
}
