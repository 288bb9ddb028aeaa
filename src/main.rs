//! The `splade` command: parse arguments, run, print one error, exit.

use std::process::ExitCode;

use clap::Parser;
use splade::cli;

fn main() -> ExitCode {
    cli::profile_mark("start");
    cli::keep_freed_memory();
    let args = cli::Cli::parse();
    // SAFETY: nothing else runs yet, so no thread reads the environment.
    unsafe { cli::configure_threads(args.threads) };
    cli::profile_mark("arguments");
    let result = cli::run(args);
    if let Some(profile) = cli::profile_report() {
        eprintln!("splade: {profile}");
    }
    match result {
        Ok(code) => code,
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("splade: {}", render(&err));
            if let Some(hint) = cli::hint(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each cause once: library errors
/// already include their source's text, which the chain would repeat.
fn render(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}
