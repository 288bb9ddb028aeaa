//! `splade completions`: shell completion scripts.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Print a shell completion script on stdout.
///
/// Examples:
///   splade completions bash > ~/.local/share/bash-completion/completions/splade
///   splade completions zsh > "${fpath[1]}/_splade"
///   splade completions fish > ~/.config/fish/completions/splade.fish
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    // `generate` panics when its writer fails; it writes to memory, and
    // the script is written out here, where a closed pipe is an error.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "splade", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
