//! `splade eval`: retrieval metrics of a run, or of an index on a query set.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use std::collections::BTreeMap;

use splade::eval::tune::{QueryScores, SWEEP, TuneReport};
use splade::eval::{Evaluation, Metrics, Qrels, Run, evaluate, read_qrels, read_run};
use splade::index::Index;
use splade::search::{Hit, SearchOptions, fusion};

use super::common::{ModelArgs, note};
use super::query::{open_index, read_queries, run_queries};
use super::rank::{Mode, ModeArgs, Ranker};

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
///   splade eval --index ./idx --queries queries.jsonl --qrels qrels.tsv --mode bm25
///   splade eval --index ./idx --queries queries.jsonl --qrels qrels.tsv --tune
///
/// --tune sweeps hybrid ranking's BM25 weight from 0 to 1 on your judged
/// queries and prints nDCG@10 for each, beside the default (adaptive)
/// weight and a 5-fold cross-validated estimate of picking the best weight
/// on queries like these: a weight is recommended (as the --weight flag to
/// pass) only when that held-out estimate beats the default.
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
        "window", "precision", "stride", "mode", "weight", "tune",
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

    /// Sweep hybrid ranking's BM25 weight on these judged queries and
    /// recommend one (needs --index and --queries).
    #[arg(long, requires = "index", conflicts_with_all = ["mode", "weight", "per_query"])]
    tune: bool,

    #[command(flatten)]
    modes: ModeArgs,

    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: EvalArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let qrels = read_qrels(&args.qrels)
        .with_context(|| format!("cannot read qrels {}", args.qrels.display()))?;
    if args.tune {
        let (Some(dir), Some(queries)) = (&args.index, &args.queries) else {
            bail!("--tune needs --index DIR and --queries FILE");
        };
        return tune(dir, queries, &qrels, &args, quiet);
    }
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
    let ranker = Ranker::new(&index, &args.modes, &args.model, SearchOptions::default())?;
    let started = Instant::now();
    let (ids, results) = run_queries(&ranker, queries, args.k)?;
    note(
        quiet,
        format!(
            "ran {} queries ({}) in {:.2}s",
            ids.len(),
            ranker.mode().name(),
            started.elapsed().as_secs_f64()
        ),
    );
    to_run(&index, &ids, &results)
}

fn to_run(index: &Index, ids: &[String], results: &[Vec<Hit>]) -> anyhow::Result<Run> {
    let mut run = Run::new();
    for (qid, hits) in ids.iter().zip(results) {
        for hit in hits {
            run.push(qid, index.doc_id(hit.doc)?, hit.score as f64);
        }
    }
    Ok(run)
}

/// `eval --tune`: both sides retrieved once, fused at every weight of the
/// sweep and at the default, each fusion evaluated per query.
fn tune(
    dir: &std::path::Path,
    queries: &str,
    qrels: &Qrels,
    args: &EvalArgs,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let index = open_index(dir)?;
    let modes = ModeArgs {
        mode: Some(Mode::Hybrid),
        weight: None,
    };
    let ranker = Ranker::new(&index, &modes, &args.model, SearchOptions::default())?;
    let (ids, texts) = read_queries(queries)?;
    let started = Instant::now();
    let (bm25, splade) = ranker.both_sides(&texts, args.k)?;
    note(
        quiet,
        format!(
            "ran {} queries (bm25 and splade) in {:.2}s",
            ids.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    let ndcg = |weight: &dyn Fn(usize) -> f32| {
        let fused: Vec<Vec<Hit>> = (0..ids.len())
            .map(|i| {
                fusion::fuse(&bm25[i], &splade[i], weight(i), args.k)
                    .into_iter()
                    .map(|h| Hit {
                        doc: h.doc,
                        score: h.score,
                    })
                    .collect()
            })
            .collect();
        Ok::<_, anyhow::Error>(
            evaluate(&to_run(&index, &ids, &fused)?, qrels, args.min_rel).per_query,
        )
    };
    let fixed: Vec<_> = SWEEP
        .iter()
        .map(|&w| ndcg(&|_| w))
        .collect::<anyhow::Result<_>>()?;
    let adaptive = ndcg(&|i| ranker.weight_for(&texts[i]))?;
    let per_query: BTreeMap<String, QueryScores> = adaptive
        .iter()
        .map(|(q, m)| {
            let scores = QueryScores {
                fixed: fixed.iter().map(|f| f[q].ndcg_at_10).collect(),
                adaptive: m.ndcg_at_10,
            };
            (q.clone(), scores)
        })
        .collect();
    let Some(report) = splade::eval::tune::tune(&per_query) else {
        bail!("no query of --queries has a relevant document in --qrels: nothing to tune on");
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        write_tune_json(&mut out, &report)?;
    } else {
        write_tune_table(&mut out, &report)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_tune_json(out: &mut impl Write, r: &TuneReport) -> anyhow::Result<()> {
    let obj = serde_json::json!({
        "queries": r.queries,
        "folds": r.folds,
        "weights": r.fixed.iter().map(|(w, n)| serde_json::json!({"weight": w, "nDCG@10": n})).collect::<Vec<_>>(),
        "default": {"weight": "adaptive", "nDCG@10": r.adaptive},
        "cross_validated": r.cross_validated,
        "best": r.best,
        "recommended": r.recommended,
    });
    serde_json::to_writer_pretty(&mut *out, &obj)?;
    writeln!(out)?;
    Ok(())
}

fn write_tune_table(out: &mut impl Write, r: &TuneReport) -> anyhow::Result<()> {
    writeln!(out, "{:<22} {:>8}", "BM25 weight", "nDCG@10")?;
    for (w, n) in &r.fixed {
        let mark = if r.best == Some(*w) { "  best" } else { "" };
        writeln!(out, "{:<22} {n:>8.4}{mark}", format!("{w:.1}"))?;
    }
    let mark = if r.best.is_none() { "  best" } else { "" };
    writeln!(
        out,
        "{:<22} {:>8.4}{mark}",
        "adaptive (default)", r.adaptive
    )?;
    writeln!(
        out,
        "cross-validated estimate of picking the best ({} folds, {} queries): {:.4}",
        r.folds, r.queries, r.cross_validated
    )?;
    match r.recommended {
        Some(w) => writeln!(
            out,
            "recommended: --weight {w:.1} (held out, tuning gains {:+.4} over the default)",
            r.cross_validated - r.adaptive
        )?,
        None => writeln!(
            out,
            "recommended: keep the default (held out, a tuned weight would give {:+.4})",
            r.cross_validated - r.adaptive
        )?,
    }
    Ok(())
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
