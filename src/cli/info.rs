//! `splade info` and `splade verify`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use splade::index::Index;

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
        "format_version": meta.format_version,
        "written_by": format!("splade {}", meta.splade_version),
    })
}

pub fn run_verify(args: VerifyArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let index = match Index::open(&args.index) {
        Ok(index) => index,
        Err(err) => {
            eprintln!("splade: {}: {err}", args.index.display());
            return Ok(ExitCode::from(1));
        }
    };
    match index.verify() {
        Ok(()) => {
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
        Err(err) => {
            eprintln!("splade: {}: {err}", args.index.display());
            Ok(ExitCode::from(1))
        }
    }
}
