//! `splade delete`: mark documents deleted without rebuilding.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use splade::index::DeleteOptions;
use splade::io::input::open_input;

use super::common::{announce_stdin, lock_wait, note, wait_hint};

/// Delete documents by id; searches stop returning them at once.
///
/// The documents are marked in a deletes file per segment, published
/// atomically through meta.json (an interrupted delete changes nothing).
/// Their postings stay on disk until `splade compact`. An id that names no
/// document of the index is an error and nothing is deleted, unless
/// --ignore-missing.
///
/// Examples:
///   splade delete doc17 doc42 --index ./idx
///   splade delete --ids stale.txt --index ./idx
///   jq -r .id gone.jsonl | splade delete --ids - --index ./idx --ignore-missing
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DeleteArgs {
    /// External ids of the documents to delete.
    ids: Vec<String>,

    /// Read more ids from a file, one per line (`-` reads stdin).
    #[arg(long = "ids", value_name = "FILE")]
    ids_file: Option<String>,

    /// Index directory.
    #[arg(long, env = "SPLADE_INDEX", default_value = "./splade-index")]
    index: PathBuf,

    /// Skip ids that are not in the index instead of refusing to delete.
    #[arg(long)]
    ignore_missing: bool,

    /// If another splade is writing to the index, wait for it to finish
    /// instead of failing at once.
    #[arg(long)]
    wait: bool,
}

pub fn run(args: DeleteArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let mut ids = args.ids.clone();
    if let Some(path) = &args.ids_file {
        ids.extend(read_ids(path)?);
    }
    if ids.is_empty() {
        bail!("no ids to delete: give ids or --ids FILE");
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let options = DeleteOptions {
        ignore_missing: args.ignore_missing,
        lock_wait: lock_wait(args.wait),
    };
    let outcome = splade::index::delete(&args.index, &refs, &options)
        .map_err(wait_hint)
        .with_context(|| format!("cannot delete from the index at {}", args.index.display()))?;
    if !outcome.missing.is_empty() {
        note(
            quiet,
            format!(
                "splade: {} ids not in the index, skipped",
                outcome.missing.len()
            ),
        );
    }
    note(
        quiet,
        format!(
            "deleted {} documents; {} remain ({} deleted ones await `splade compact`) at {}",
            outcome.deleted,
            outcome.stats.live_docs,
            outcome.stats.deleted,
            args.index.display()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// Non-empty trimmed lines of a file or stdin.
fn read_ids(path: &str) -> anyhow::Result<Vec<String>> {
    announce_stdin(path, "ids");
    let (name, reader) = open_input(path)?;
    let mut ids = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{name}:{}", n + 1))?;
        let id = line.trim_end_matches(['\r', '\n']);
        if !id.trim().is_empty() {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}
