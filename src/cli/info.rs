//! `splade info` and `splade verify`.

use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use splade::index::{Index, IndexError};

use super::common::note;
use super::search::open_unverified;

/// Describe an index: documents, terms, postings, size, model, quantization.
///
/// `docs` counts live documents; `deleted` those marked by `splade delete`
/// (or replaced by `--upsert`) whose postings remain until `splade compact`.
///
/// Examples:
///   splade info --index ./idx
///   splade info --index ./idx --json | jq .docs
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct InfoArgs {
    /// Index directory.
    #[arg(long, env = "SPLADE_INDEX", default_value = "./splade-index")]
    index: PathBuf,

    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Check every checksum of an index; exit 1 if anything is damaged.
///
/// Reads every file the index's meta.json references (segments and deletes
/// files) and compares its CRC32 with its footer and meta.json. `search`,
/// `eval`, `explain` and `index --append` run the same scan before they
/// answer; `info` only checks lengths and headers.
///
/// Exit codes: 0 intact; 1 damaged (a checksum, length or header is wrong,
/// a referenced file is missing, or the format version is not this
/// splade's); 2 the index could not be checked (no index there, or an I/O
/// error such as a permission denied).
///
/// Examples:
///   splade verify --index ./idx && echo intact
///   splade verify --index ./idx || splade index corpus.jsonl --index ./idx
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct VerifyArgs {
    /// Index directory.
    #[arg(long, env = "SPLADE_INDEX", default_value = "./splade-index")]
    index: PathBuf,
}

pub fn run_info(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let index = open_unverified(&args.index)?;
    let summary = summary(&index);
    // Written (not printed: `println!` panics on a closed pipe) so that a
    // closed stdout comes back as an error that exits 0.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        for (key, value) in summary.as_object().expect("an object") {
            let shown = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            writeln!(out, "{key:<18} {shown}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn summary(index: &Index) -> serde_json::Value {
    let stats = index.stats();
    let meta = index.meta();
    let per_posting = if stats.postings > 0 {
        stats.bytes as f64 / stats.postings as f64
    } else {
        0.0
    };
    serde_json::json!({
        "path": index.dir().display().to_string(),
        "docs": stats.docs,
        "deleted": stats.deleted,
        "terms": stats.terms,
        "postings": stats.postings,
        "bytes": stats.bytes,
        "bytes_per_posting": (per_posting * 100.0).round() / 100.0,
        "segments": meta.segments.len(),
        "reordered": !meta.segments.is_empty() && meta.segments.iter().all(|s| s.reordered),
        "exact_search": if splade::search::SearchOptions::default().prunes(index) {
            "block-max pruned"
        } else {
            "exhaustive"
        },
        "quantization": meta.quantization.to_string(),
        "stored_text": meta.store,
        "model": meta.model.as_ref().map(|m| m.id.clone()),
        "model_revision": meta.model.as_ref().and_then(|m| m.revision.clone()),
        "model_fingerprint": meta.model.as_ref().map(|m| m.fingerprint.clone()),
        // The settings queries are encoded with (absent before they were
        // recorded, and for indexes built from vectors).
        "model_max_length": meta.model.as_ref().and_then(|m| m.max_length),
        "model_precision": meta.model.as_ref().and_then(|m| m.precision),
        "model_long_docs": meta.model.as_ref().and_then(|m| m.long_docs),
        "format_version": meta.format_version,
        "written_by": format!("splade {}", meta.splade_version),
    })
}

pub fn run_verify(args: VerifyArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let checked = Index::open(&args.index).and_then(|index| index.verify().map(|()| index));
    match checked {
        Ok(index) => {
            note(
                quiet,
                format!(
                    "{}: ok ({} documents)",
                    args.index.display(),
                    index.num_docs()
                ),
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) if is_damage(&err) => {
            eprintln!("splade: {}: {err}", args.index.display());
            Ok(ExitCode::from(1))
        }
        Err(err) => {
            Err(err).with_context(|| format!("cannot verify the index at {}", args.index.display()))
        }
    }
}

/// Whether an error of opening or verifying an index is damage found in it
/// (exit 1) rather than a failure to look (exit 2). The match names every
/// variant, so that a new one is classified where it is added.
fn is_damage(err: &IndexError) -> bool {
    match err {
        IndexError::Corrupt { .. } | IndexError::Version { .. } => true,
        // A file meta.json names is not there (meta.json's own absence is
        // `NotAnIndex`), or its bytes do not read (meta.json not UTF-8, a
        // file shorter than stated); other I/O errors say nothing of the
        // index.
        IndexError::Io { source, .. } => matches!(
            source.kind(),
            ErrorKind::NotFound | ErrorKind::InvalidData | ErrorKind::UnexpectedEof
        ),
        // Reading, this comes only from impossible counts in meta.json.
        IndexError::Limit(_) => true,
        IndexError::NotAnIndex { .. }
        | IndexError::NotEmpty { .. }
        | IndexError::DuplicateId { .. }
        | IndexError::InvalidVector { .. }
        | IndexError::IdExists { .. }
        | IndexError::UnknownId { .. }
        | IndexError::Changed { .. }
        | IndexError::Locked { .. }
        | IndexError::Incompatible { .. } => false,
    }
}
