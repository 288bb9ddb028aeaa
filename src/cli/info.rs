//! `splade info`: what an index holds and how it was built.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use splade::index::Index;

use super::query::open_index;

/// Describe an index: documents, terms, postings, size, model, quantization.
///
/// `splade` says whether it has SPLADE postings (false: built with
/// --lexical-only), `lexical` its BM25 settings and counts (null: none).
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

pub fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let index = open_index(&args.index)?;
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
        "docs": stats.live_docs,
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
        "splade": meta.splade,
        "lexical": meta.lexical.as_ref().map(|l| {
            let lexical = index.lexical_stats();
            serde_json::json!({
                "analyzer": l.analyzer,
                "k1": l.k1,
                "b": l.b,
                "terms": stats.lexical_terms,
                "postings": stats.lexical_postings,
                "avgdl": (lexical.avg_len() * 1000.0).round() / 1000.0,
            })
        }),
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
