//! `splade search`: encode a query with the index's model and rank documents.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use splade::encoder::{Encoder, LongDocs, Precision};
use splade::index::{Index, ModelInfo};
use splade::io::output::column_safe;
use splade::io::{InputFormat, RecordReader};
use splade::search::{Hit, Query, SearchOptions, Strategy, search_batch_with, search_with};

use super::common::{
    FieldNames, LongDocsMode, ModelArgs, PrecisionMode, announce_stdin, load_encoder, note,
};

/// Search an index: the top-k documents by dot product with the query.
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
///
/// Search is exact: small indexes score every posting; from 50,000 documents
/// on, block-max pruning skips the ranges of documents that cannot reach the
/// top k, with the same results (faster still after `compact --reorder`).
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
    let encoder = query_encoder(&index, &args.model)?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Jsonl
    });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match (&args.query, &args.queries) {
        (Some(q), _) => {
            let hits = search_with(&index, &encoder.query(q)?, args.k, &args.options());
            write_hits(&mut out, &index, None, &hits, format, &args)?;
        }
        (None, Some(path)) => {
            let (ids, results) = run_queries_with(&index, &encoder, path, args.k, &args.options())?;
            for (qid, hits) in ids.iter().zip(&results) {
                write_hits(&mut out, &index, Some(qid), hits, format, &args)?;
            }
        }
        (None, None) => bail!("give a query or --queries FILE"),
    }
    out.flush()?;
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

/// Opens an index and checks every checksum before it is used to answer:
/// a damaged file is refused with its name rather than giving wrong results
/// (the CRC scan reads the files once; the page cache then serves search).
pub fn open_index(dir: &Path) -> anyhow::Result<Index> {
    let index = open_unverified(dir)?;
    index
        .verify()
        .with_context(|| format!("cannot use the index at {}", dir.display()))?;
    Ok(index)
}

/// Opens an index with a message that says where; cheap checks only.
pub fn open_unverified(dir: &Path) -> anyhow::Result<Index> {
    Index::open(dir).with_context(|| format!("cannot open the index at {}", dir.display()))
}

/// The encoder for queries: the index's model with the index's encoding
/// settings; `--model` and the encoding flags must agree with them.
pub fn query_encoder(index: &Index, args: &ModelArgs) -> anyhow::Result<Encoder> {
    let recorded = index.meta().model.clone();
    if let (Some(info), None, Some(rev)) = (&recorded, &args.model, &args.revision) {
        bail!(
            "--revision {rev} names a revision of --model; without --model the index's model \
             is used, `{}`{}",
            info.id,
            info.revision
                .as_ref()
                .map(|r| format!(" at revision {r}"))
                .unwrap_or_default()
        );
    }
    match (recorded, &args.model) {
        (None, None) => bail!(
            "the index at {} records no model (it was built from vectors); pass --model",
            index.dir().display()
        ),
        (None, Some(_)) => args.load(),
        (Some(info), named) => {
            let args = recorded_settings(&info, args, index.dir())?;
            let encoder = match named {
                None => load_encoder(&info.id, info.revision.as_deref(), &args).context(
                    "cannot load the model recorded in the index; pass --model with a local copy",
                )?,
                Some(_) => args.load()?,
            };
            if !encoder.is_model(&info)? {
                let which = match named {
                    Some(name) => format!("--model {name}"),
                    None => format!("the model now at `{}`", info.id),
                };
                bail!(
                    "{which} is not the model the index was built with ({}, fingerprint {}; \
                     this one has {}); search with that model or rebuild the index",
                    info.id,
                    info.fingerprint,
                    encoder.fingerprint()?
                );
            }
            Ok(encoder)
        }
    }
}

/// `args` with the encoding settings the index records filled in where no
/// flag is given: queries are encoded as the documents were. A flag that
/// says otherwise is refused. An index that records none (older, or built
/// from vectors) leaves the flags as they are.
fn recorded_settings(info: &ModelInfo, args: &ModelArgs, dir: &Path) -> anyhow::Result<ModelArgs> {
    let mut args = args.clone();
    if let Some(m) = info.max_length {
        agree(&mut args.max_length, m as usize, dir, |m| {
            format!("--max-length {m}")
        })?;
    }
    if let Some(p) = info.precision {
        let mode = match p {
            Precision::F32 => PrecisionMode::F32,
            Precision::Bf16 => PrecisionMode::Bf16,
        };
        agree(&mut args.precision, mode, dir, |p| {
            format!("--precision {}", flag_value(p))
        })?;
    }
    let long_docs = |m| format!("--long-docs {}", flag_value(m));
    match info.long_docs {
        None => {}
        Some(LongDocs::Truncate) => {
            agree(&mut args.long_docs, LongDocsMode::Truncate, dir, long_docs)?
        }
        Some(LongDocs::Window { window, stride }) => {
            agree(&mut args.long_docs, LongDocsMode::Window, dir, long_docs)?;
            agree(&mut args.window, window, dir, |w| format!("--window {w}"))?;
            agree(&mut args.stride, stride, dir, |s| format!("--stride {s}"))?;
        }
    }
    Ok(args)
}

/// Sets `flag` to the index's `recorded` value, or refuses a different one.
fn agree<T: PartialEq + Copy>(
    flag: &mut Option<T>,
    recorded: T,
    dir: &Path,
    show: impl Fn(T) -> String,
) -> anyhow::Result<()> {
    match *flag {
        Some(given) if given != recorded => bail!(
            "{} contradicts the index at {}: the index was encoded with {}, and queries must \
             be encoded as its documents were; omit the flag",
            show(given),
            dir.display(),
            show(recorded)
        ),
        _ => *flag = Some(recorded),
    }
    Ok(())
}

/// How a `ValueEnum` value is spelled on the command line.
fn flag_value(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_owned())
}

/// Encodes a query into `(token, weight)` terms.
pub fn query_terms(encoder: &Encoder, text: &str) -> anyhow::Result<Vec<(String, f32)>> {
    let v = encoder.encode_one(text)?;
    Ok(owned(encoder.terms(&v)))
}

fn owned(terms: Vec<(&str, f32)>) -> Vec<(String, f32)> {
    terms.into_iter().map(|(t, w)| (t.to_owned(), w)).collect()
}

/// Reads, encodes and runs every query of a file; returns query ids and hits.
pub fn run_queries(
    index: &Index,
    encoder: &Encoder,
    path: &str,
    k: usize,
) -> anyhow::Result<(Vec<String>, Vec<Vec<Hit>>)> {
    run_queries_with(index, encoder, path, k, &SearchOptions::default())
}

/// [`run_queries`] with explicit scoring options.
pub fn run_queries_with(
    index: &Index,
    encoder: &Encoder,
    path: &str,
    k: usize,
    options: &SearchOptions,
) -> anyhow::Result<(Vec<String>, Vec<Vec<Hit>>)> {
    announce_stdin(path, "queries");
    let reader = RecordReader::open(path, InputFormat::Auto, FieldNames::default())?;
    let queries = reader.collect::<Result<Vec<_>, _>>()?;
    let texts: Vec<String> = queries.iter().map(|q| q.full_text()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = encoder.encode(&refs)?;
    let encoded: Vec<Query> = vectors
        .iter()
        .map(|v| Query::new(encoder.terms(v)))
        .collect();
    let results = search_batch_with(index, &encoded, k, options);
    Ok((queries.into_iter().map(|q| q.id).collect(), results))
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
        let id = index.doc_id(hit.doc);
        match format {
            Format::Jsonl => {
                let stored = if args.show {
                    index.stored(hit.doc)
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
                if let Some(doc) = args.show.then(|| index.stored(hit.doc)).flatten() {
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
