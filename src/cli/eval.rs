//! `splade eval`: retrieval metrics of a run, or of an index on a query set.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use splade::eval::{Evaluation, Metrics, Run, evaluate, read_qrels, read_run};

use super::common::{ModelArgs, note};
use super::query::{open_index, query_encoder, run_queries};

/// Measure retrieval quality: nDCG@10, RR@10, R@100, R@1000 and MAP.
///
/// Semantics follow trec_eval: nDCG uses the graded judgments as linear
/// gains; the binary measures count a document relevant when its grade is at
/// least --min-rel (use 2 for TREC Deep Learning). Queries with judgments
/// but no results count as zero.
///
/// Examples:
///   splade eval --qrels qrels.tsv --run run.trec
///   splade eval --index ./idx --queries queries.jsonl --qrels qrels.tsv --json
///   splade eval --index ./idx --queries topics.tsv --qrels qrels.txt --min-rel 2 --per-query
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EvalArgs {
    /// Relevance judgments: BEIR TSV (query-id, corpus-id, score) or TREC qrels.
    #[arg(long)]
    qrels: PathBuf,

    /// A TREC run file to evaluate.
    // A run needs no search: the search flags would be ignored. (--model is
    // not refused: SPLADE_MODEL sets it too, and may be set for searches.)
    #[arg(long, conflicts_with_all = [
        "index", "queries", "k", "revision", "max_length", "batch_size", "long_docs",
        "window", "precision", "stride",
    ])]
    run: Option<PathBuf>,

    /// Index to search (with --queries).
    #[arg(long, requires = "queries")]
    index: Option<PathBuf>,

    /// Queries to run against --index (JSONL with id/text, or TSV).
    #[arg(long, requires = "index")]
    queries: Option<String>,

    /// Smallest grade that counts as relevant for RR, recall and MAP.
    #[arg(long, default_value_t = 1)]
    min_rel: i32,

    /// Also print the metrics of every query.
    #[arg(long)]
    per_query: bool,

    /// Print a JSON summary instead of a table.
    #[arg(long)]
    json: bool,

    /// Results retrieved per query (with --index).
    #[arg(short, default_value_t = 1000)]
    k: usize,

    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: EvalArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let qrels = read_qrels(&args.qrels)
        .with_context(|| format!("cannot read qrels {}", args.qrels.display()))?;
    let run = match (&args.run, &args.index, &args.queries) {
        (Some(path), _, _) => {
            read_run(path).with_context(|| format!("cannot read run {}", path.display()))?
        }
        (None, Some(dir), Some(queries)) => search_run(dir, queries, &args, quiet)?,
        _ => bail!("give --run FILE, or --index DIR with --queries FILE"),
    };
    let evaluation = evaluate(&run, &qrels, args.min_rel);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        write_json(&mut out, &evaluation, &args)?;
    } else {
        write_table(&mut out, &evaluation, args.per_query)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn search_run(
    dir: &std::path::Path,
    queries: &str,
    args: &EvalArgs,
    quiet: bool,
) -> anyhow::Result<Run> {
    let index = open_index(dir)?;
    let encoder = query_encoder(&index, &args.model)?;
    let started = Instant::now();
    let (ids, results) = run_queries(&index, &encoder, queries, args.k)?;
    note(
        quiet,
        format!(
            "ran {} queries in {:.2}s",
            ids.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    let mut run = Run::new();
    for (qid, hits) in ids.iter().zip(&results) {
        for hit in hits {
            run.push(qid, index.doc_id(hit.doc), hit.score as f64);
        }
    }
    Ok(run)
}

fn write_json(out: &mut impl Write, e: &Evaluation, args: &EvalArgs) -> anyhow::Result<()> {
    // Through a `Value`, whose objects keep their keys sorted: the
    // output's key order does not depend on field order.
    let mut obj = serde_json::json!({
        "queries": e.num_queries,
        "min_rel": args.min_rel,
        "mean": e.mean,
    });
    if args.per_query {
        obj["per_query"] = serde_json::to_value(&e.per_query)?;
    }
    serde_json::to_writer_pretty(&mut *out, &obj)?;
    writeln!(out)?;
    Ok(())
}

fn write_table(out: &mut impl Write, e: &Evaluation, per_query: bool) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "query", "nDCG@10", "RR@10", "R@100", "R@1000", "MAP"
    )?;
    let row = |out: &mut dyn Write, name: &str, m: &Metrics| {
        writeln!(
            out,
            "{:<12} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4}",
            name, m.ndcg_at_10, m.rr_at_10, m.recall_at_100, m.recall_at_1000, m.map
        )
    };
    if per_query {
        for (q, m) in &e.per_query {
            row(out, q, m)?;
        }
    }
    row(out, &format!("all ({})", e.num_queries), &e.mean)?;
    Ok(())
}
