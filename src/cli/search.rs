//! `splade search`: encode a query with the index's model and rank documents.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, ValueEnum};
use splade::index::Index;
use splade::io::output::column_safe;
use splade::search::{Hit, SearchOptions, Strategy};

use super::common::{ModelArgs, note};
use super::query::{open_index, run_queries};
use super::rank::{ModeArgs, Ranker};
use crate::profile;

/// Search an index: the top-k documents for a query.
///
/// Ranking (--mode): hybrid fuses BM25 and SPLADE, and is the default when
/// the index has BM25 postings (`splade index` writes them unless
/// --no-lexical); splade ranks by the dot product of SPLADE vectors; bm25
/// by BM25 alone, with no model loaded. In hybrid mode BM25's weight adapts
/// to the query's length (long, verbose queries lean on exact terms; short
/// questions on the model); --weight W fixes it, and `splade eval --tune`
/// measures the best one on your judged queries.
///
/// The query is encoded by the model recorded in the index. Output is JSON
/// Lines {"rank", "id", "score"} when stdout is not a terminal, a table when
/// it is. Many queries at once: --queries FILE (JSONL with id/text, or TSV
/// `qid<TAB>text`), written as JSONL, TREC run or TSV.
///
/// Examples:
///   splade search "how do vaccines work" --index ./idx -k 5
///   splade search "rust borrow checker" --index ./idx --show | jq .
///   splade search --queries queries.jsonl --index ./idx --format trec -k 1000 > run.trec
///   splade search --queries queries.jsonl --index ./idx --approx 0.9
///   splade search "error E0502" --index ./idx --mode bm25
///   splade search "what causes tides" --index ./idx --weight 0.3
///
/// SPLADE search is exact: small indexes score every posting; from 50,000 documents
/// on, block-max pruning skips the ranges of documents that cannot reach the
/// top k, with the same results (faster still after `compact --reorder`),
/// for each query whose cost model says pruning pays (long queries with many
/// terms are scored exhaustively).
/// --exhaustive forces scoring every posting; --approx ALPHA trades recall
/// for speed.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SearchArgs {
    /// The query text (or use --queries).
    #[arg(required_unless_present = "queries")]
    query: Option<String>,

    /// Index directory.
    #[arg(long, env = "SPLADE_INDEX", default_value = "./splade-index")]
    index: PathBuf,

    /// Number of results per query.
    #[arg(short, default_value_t = 10)]
    k: usize,

    /// Read queries from a file (JSONL with id/text, or TSV qid<TAB>text); `-` reads stdin.
    #[arg(long, conflicts_with = "query")]
    queries: Option<String>,

    /// Output format [default: table on a terminal, else jsonl]
    #[arg(long, value_enum)]
    format: Option<Format>,

    /// Run tag in the last column of TREC output [default: splade]
    #[arg(long)]
    run_tag: Option<String>,

    /// Add the stored title and text (index built with --store) to JSONL
    /// and table output.
    #[arg(long)]
    show: bool,

    /// Score every posting, even where block-max pruning would be used
    /// (same results; for comparisons and scripts).
    #[arg(long, conflicts_with = "approx")]
    exhaustive: bool,

    /// Approximate search: skip ranges of documents whose upper bound times
    /// ALPHA is below the k-th score. 1 is exact; 0.9 is faster and may miss
    /// documents (returned scores stay exact).
    #[arg(long, value_name = "ALPHA", value_parser = parse_alpha)]
    approx: Option<f32>,

    #[command(flatten)]
    modes: ModeArgs,

    #[command(flatten)]
    model: ModelArgs,
}

fn parse_alpha(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(a) if a > 0.0 && a <= 1.0 => Ok(a),
        _ => Err(format!("expected a number in (0, 1], got {s:?}")),
    }
}

impl SearchArgs {
    /// The scoring options the flags ask for.
    fn options(&self) -> SearchOptions {
        SearchOptions {
            strategy: if self.exhaustive {
                Strategy::Exhaustive
            } else {
                Strategy::Auto
            },
            approx: self.approx.unwrap_or(1.0),
        }
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per result.
    Jsonl,
    /// TREC run: `qid Q0 docid rank score tag`.
    Trec,
    /// `qid<TAB>docid<TAB>rank<TAB>score`.
    Tsv,
    /// An aligned table for reading.
    Table,
}

pub fn run(args: SearchArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    check_format_flags(&args)?;
    let index = open_index(&args.index)?;
    profile::mark("index open");
    if args.show && !index.meta().store {
        note(
            quiet,
            format!(
                "splade: warning: --show shows nothing more: the index at {} stores no texts \
                 (build it with --store)",
                args.index.display()
            ),
        );
    }
    let ranker = Ranker::new(&index, &args.modes, &args.model, args.options())?;
    profile::mark("model check");
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Jsonl
    });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match (&args.query, &args.queries) {
        (Some(q), _) => {
            let hits = ranker.rank(std::slice::from_ref(q), args.k)?;
            write_hits(&mut out, &index, None, &hits[0], format, &args)?;
        }
        (None, Some(path)) => {
            let (ids, results) = run_queries(&ranker, path, args.k)?;
            for (qid, hits) in ids.iter().zip(&results) {
                write_hits(&mut out, &index, Some(qid), hits, format, &args)?;
            }
        }
        (None, None) => bail!("give a query or --queries FILE"),
    }
    out.flush()?;
    profile::mark("print");
    // The process ends here: unmapping the model and the index and freeing
    // the tensors would cost milliseconds of the search's time (README
    // "Cold start"), for memory the exit returns anyway.
    std::mem::forget(ranker);
    std::mem::forget(index);
    Ok(ExitCode::SUCCESS)
}

/// Refuses output flags the chosen format would ignore.
fn check_format_flags(args: &SearchArgs) -> anyhow::Result<()> {
    if let Some(format @ (Format::Trec | Format::Tsv)) = args.format
        && args.show
    {
        bail!(
            "--show adds stored texts to jsonl and table output; --format {} has no column \
             for them",
            format
                .to_possible_value()
                .expect("no skipped variant")
                .get_name()
        );
    }
    if args.run_tag.is_some() && args.format != Some(Format::Trec) {
        bail!("--run-tag names the run in TREC output; add --format trec");
    }
    Ok(())
}

/// One result line of JSONL output, fields in reading order.
#[derive(serde::Serialize)]
struct JsonHit<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    qid: Option<&'a str>,
    rank: usize,
    id: &'a str,
    score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

fn write_hits(
    out: &mut impl Write,
    index: &Index,
    qid: Option<&str>,
    hits: &[Hit],
    format: Format,
    args: &SearchArgs,
) -> anyhow::Result<()> {
    let qid_col = column_safe(qid.unwrap_or("query"));
    if format == Format::Table && hits.is_empty() {
        writeln!(out, "no results")?;
    }
    for (rank, hit) in hits.iter().enumerate() {
        let rank = rank + 1;
        let id = index.doc_id(hit.doc)?;
        match format {
            Format::Jsonl => {
                let stored = if args.show {
                    index.stored(hit.doc)?
                } else {
                    None
                };
                let line = JsonHit {
                    qid,
                    rank,
                    id,
                    score: hit.score,
                    title: stored.as_ref().and_then(|d| d.title.as_deref()),
                    text: stored.as_ref().map(|d| d.text.as_str()),
                };
                serde_json::to_writer(&mut *out, &line)?;
                writeln!(out)?;
            }
            Format::Trec => writeln!(
                out,
                "{qid_col} Q0 {} {rank} {} {}",
                column_safe(id),
                hit.score,
                column_safe(args.run_tag.as_deref().unwrap_or("splade"))
            )?,
            Format::Tsv => writeln!(out, "{qid_col}\t{}\t{rank}\t{}", column_safe(id), hit.score)?,
            Format::Table => {
                writeln!(out, "{rank:>4}  {:>9.4}  {id}", hit.score)?;
                let stored = if args.show {
                    index.stored(hit.doc)?
                } else {
                    None
                };
                if let Some(doc) = stored {
                    let text = match doc.title {
                        Some(t) => format!("{t} — {}", doc.text),
                        None => doc.text,
                    };
                    writeln!(out, "      {}", snippet(&text, 160))?;
                }
            }
        }
    }
    Ok(())
}

fn snippet(text: &str, chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= chars {
        return flat;
    }
    let cut: String = flat.chars().take(chars).collect();
    format!("{cut}…")
}
