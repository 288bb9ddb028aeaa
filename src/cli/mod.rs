//! Command-line interface: one file per subcommand; `common.rs` holds the
//! flags and helpers several share, `query.rs` what the commands that
//! answer from an index share (opening it, the query encoder, running a
//! queries file; what they read is checked page by page as it is read).
//!
//! Exit codes: 0 success, 1 a negative answer (`verify` found damage),
//! 2 an error. Data goes to stdout, progress and messages to stderr.

mod allocator;
mod common;
mod compact;
mod completions;
mod delete;
mod encode;
mod eval;
mod explain;
mod index;
mod info;
mod query;
mod rank;
mod search;
mod threads;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::profile;

pub use allocator::keep_freed_memory;
pub use common::{hint, is_broken_pipe};
pub use profile::{mark as profile_mark, report as profile_report};
pub use threads::configure_threads;

/// Learned sparse retrieval (SPLADE) from the command line.
///
/// Encode texts into sparse vectors, build an inverted index, search it and
/// measure it, without Python, GPU or server. Data goes to stdout as JSON
/// Lines; progress and messages go to stderr.
///
/// Examples:
///   splade index corpus.jsonl --index ./idx
///   splade search "what is a learned sparse retriever" --index ./idx
///   splade eval --index ./idx --queries queries.jsonl --qrels qrels.tsv
///   splade index --append new.jsonl --index ./idx && splade delete old-7 --index ./idx
///   splade explain "sparse retriever" doc17 --index ./idx
///   splade encode corpus.jsonl --format qdrant > points.jsonl
#[derive(Debug, Parser)]
#[command(name = "splade", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    /// Print no progress or summary on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Worker threads [default: all cores]
    #[arg(long, global = true, env = "SPLADE_THREADS")]
    pub threads: Option<usize>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Encode(encode::EncodeArgs),
    Index(index::IndexArgs),
    Search(search::SearchArgs),
    Eval(eval::EvalArgs),
    Delete(delete::DeleteArgs),
    Compact(compact::CompactArgs),
    Explain(explain::ExplainArgs),
    Info(info::InfoArgs),
    Verify(verify::VerifyArgs),
    Completions(completions::CompletionsArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Encode(args) => encode::run(args, quiet),
        Command::Index(args) => index::run(args, quiet),
        Command::Search(args) => search::run(args, quiet),
        Command::Eval(args) => eval::run(args, quiet),
        Command::Delete(args) => delete::run(args, quiet),
        Command::Compact(args) => compact::run(args, quiet),
        Command::Explain(args) => explain::run(args, quiet),
        Command::Info(args) => info::run(args),
        Command::Verify(args) => verify::run(args, quiet),
        Command::Completions(args) => completions::run(args),
    }
}
