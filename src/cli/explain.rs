//! `splade explain`: which terms make a document's score for a query.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use splade::encoder::Encoder;
use splade::index::Index;
use splade::search::{Hit, SearchOptions, explain_bm25, fusion};

use super::common::{ModelArgs, note};
use super::query::{open_index, query_terms};
use super::rank::{Mode, ModeArgs, Ranker};

/// Explain a score: the terms query and document share, and what each adds.
///
/// SPLADE part: for each term in both vectors, the query weight, the
/// document weight as the index stores it, their product and its share of
/// the SPLADE score, largest first. The products add up to the score
/// `splade search --mode splade` reports. With an index built with --store,
/// terms that are not among the tokens of the document's text are marked as
/// expansion terms (the model added them).
///
/// BM25 part (index with BM25 postings): each query term the document
/// contains, with its frequency there (tf), document frequency (df), idf and
/// weight; they add up to the BM25 score. Hybrid mode (the default on such
/// an index) also shows the fusion: BM25's weight for this query, the
/// document's rank on each side and the fused score and rank that `splade
/// search` reports.
///
/// Examples:
///   splade explain "implied warranty" doc17 --index ./idx
///   splade explain "implied warranty" doc17 --index ./idx --json | jq '.terms[:3]'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ExplainArgs {
    /// The query text.
    query: String,

    /// External id of the document.
    doc_id: String,

    /// Index directory.
    #[arg(long, env = "SPLADE_INDEX", default_value = "./splade-index")]
    index: PathBuf,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    modes: ModeArgs,

    #[command(flatten)]
    model: ModelArgs,
}

/// One shared term.
#[derive(Debug, Serialize)]
struct Term {
    token: String,
    query_weight: f32,
    doc_weight: f32,
    product: f32,
    share: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    expansion: Option<bool>,
}

/// One query term of the BM25 part.
#[derive(Debug, Serialize)]
struct LexicalTerm {
    term: String,
    tf: u32,
    df: u64,
    idf: f32,
    weight: f32,
    share: f64,
}

/// The BM25 part.
#[derive(Debug, Serialize)]
struct LexicalPart {
    score: f64,
    doc_len: u32,
    avg_len: f64,
    terms: Vec<LexicalTerm>,
}

/// How the two parts were fused (hybrid mode).
#[derive(Debug, Serialize)]
struct FusionPart {
    /// BM25's weight for this query.
    weight: f32,
    /// 1-based ranks; absent where the document is beyond a side's depth.
    rank: Option<usize>,
    bm25_rank: Option<usize>,
    splade_rank: Option<usize>,
    depth: usize,
}

/// The whole explanation (the `--json` output).
#[derive(Debug, Serialize)]
struct Explanation {
    query: String,
    id: String,
    mode: &'static str,
    /// The score `splade search` reports in this mode.
    score: f64,
    /// The SPLADE part's score (the sum of `terms`' products).
    #[serde(skip_serializing_if = "Option::is_none")]
    splade_score: Option<f64>,
    query_terms: usize,
    doc_terms: usize,
    /// Whether `expansion` is known (the index stores texts).
    expansion_marked: bool,
    terms: Vec<Term>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bm25: Option<LexicalPart>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fusion: Option<FusionPart>,
}

pub fn run(args: ExplainArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let index = open_index(&args.index)?;
    let doc = index.find(&args.doc_id)?.with_context(|| {
        format!(
            "no document with id `{}` in the index at {}",
            args.doc_id,
            args.index.display()
        )
    })?;
    let ranker = Ranker::new(&index, &args.modes, &args.model, SearchOptions::default())?;
    let mode = ranker.mode();
    let (splade_score, terms, query_terms, doc_terms, marked) = match ranker.encoder() {
        Some(encoder) => {
            let (terms, nq, nd, marked) = splade_part(&index, encoder, doc, &args.query, quiet)?;
            let score: f64 = terms.iter().map(|t| t.product as f64).sum();
            (Some(score), terms, nq, nd, marked)
        }
        None => (None, Vec::new(), 0, 0, false),
    };
    let bm25 = match mode {
        Mode::Splade => None,
        _ => Some(lexical_part(&index, doc, &args.query)?),
    };
    let (score, fusion) = match mode {
        Mode::Splade => (splade_score.unwrap_or(0.0), None),
        Mode::Bm25 => (bm25.as_ref().map_or(0.0, |b| b.score), None),
        Mode::Hybrid => {
            let (score, part) = fusion_part(&ranker, doc, &args.query)?;
            (score, Some(part))
        }
    };
    let explanation = Explanation {
        query: args.query.clone(),
        id: args.doc_id.clone(),
        mode: mode.name(),
        score,
        splade_score,
        query_terms,
        doc_terms,
        expansion_marked: marked,
        terms,
        bm25,
        fusion,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &explanation)?;
        writeln!(out)?;
    } else {
        write_table(&mut out, &explanation)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The SPLADE terms shared by query and document, largest product first,
/// with their shares; the number of query and document terms; whether
/// expansion terms are marked.
fn splade_part(
    index: &Index,
    encoder: &Encoder,
    doc: u32,
    query_text: &str,
    quiet: bool,
) -> anyhow::Result<(Vec<Term>, usize, usize, bool)> {
    let query = query_terms(encoder, query_text)?;
    let doc_vector: HashMap<String, f32> = index.doc_vector(doc)?.into_iter().collect();
    let text_tokens = text_tokens(index, doc, encoder, quiet)?;
    let (terms, _) = shared_terms(&query, &doc_vector, text_tokens.as_ref());
    Ok((terms, query.len(), doc_vector.len(), text_tokens.is_some()))
}

/// The query terms the document contains, in query order, as BM25 weighs
/// them.
fn lexical_part(index: &Index, doc: u32, query: &str) -> anyhow::Result<LexicalPart> {
    let matched = explain_bm25(index, query, doc)?;
    let score = matched.iter().fold(0f32, |acc, t| acc + t.weight) as f64;
    let (doc_len, avg_len) = matched.first().map_or((0, 0.0), |t| (t.doc_len, t.avgdl));
    let terms = matched
        .into_iter()
        .filter(|t| t.tf > 0)
        .map(|t| LexicalTerm {
            share: if score > 0.0 {
                t.weight as f64 / score
            } else {
                0.0
            },
            term: t.term,
            tf: t.tf,
            df: t.df,
            idf: t.idf,
            weight: t.weight,
        })
        .collect();
    Ok(LexicalPart {
        score,
        doc_len,
        avg_len,
        terms,
    })
}

/// The document's fused score and ranks, from the same lists `search`
/// fuses.
fn fusion_part(ranker: &Ranker, doc: u32, query: &str) -> anyhow::Result<(f64, FusionPart)> {
    let texts = [query.to_owned()];
    let (bm25, splade) = ranker.both_sides(&texts, 0)?;
    let weight = ranker.weight_for(query);
    let fused = fusion::fuse(&bm25[0], &splade[0], weight, usize::MAX);
    let rank_in = |hits: &[Hit]| hits.iter().position(|h| h.doc == doc).map(|i| i + 1);
    let position = fused.iter().position(|h| h.doc == doc);
    let score = position.map_or(0.0, |i| f64::from(fused[i].score));
    Ok((
        score,
        FusionPart {
            weight,
            rank: position.map(|i| i + 1),
            bm25_rank: rank_in(&bm25[0]),
            splade_rank: rank_in(&splade[0]),
            depth: fusion::DEFAULT_DEPTH,
        },
    ))
}

/// The tokens of the stored title and text of `doc`, to tell expansion
/// terms apart; `None` (with a note) when the index stores no texts.
fn text_tokens(
    index: &Index,
    doc: u32,
    encoder: &Encoder,
    quiet: bool,
) -> anyhow::Result<Option<HashSet<String>>> {
    match index.stored(doc)? {
        Some(stored) if index.meta().store => {
            let text = match &stored.title {
                Some(t) => format!("{t} {}", stored.text),
                None => stored.text,
            };
            Ok(Some(tokens_of(encoder, &text)?))
        }
        _ => {
            note(
                quiet,
                "splade: the index does not store texts (build it with --store): \
                 expansion terms are not marked",
            );
            Ok(None)
        }
    }
}

/// The terms query and document share, largest product first (ties by
/// token), each with its share of the score; and the score, their sum.
fn shared_terms(
    query: &[(String, f32)],
    doc_vector: &HashMap<String, f32>,
    text_tokens: Option<&HashSet<String>>,
) -> (Vec<Term>, f64) {
    let mut terms: Vec<Term> = query
        .iter()
        .filter_map(|(token, qw)| {
            let dw = *doc_vector.get(token)?;
            Some(Term {
                token: token.clone(),
                query_weight: *qw,
                doc_weight: dw,
                product: qw * dw,
                share: 0.0,
                expansion: text_tokens.map(|t| !t.contains(token.as_str())),
            })
        })
        .collect();
    terms.sort_by(|a, b| b.product.total_cmp(&a.product).then(a.token.cmp(&b.token)));
    let score: f64 = terms.iter().map(|t| t.product as f64).sum();
    for t in &mut terms {
        t.share = if score > 0.0 {
            t.product as f64 / score
        } else {
            0.0
        };
    }
    (terms, score)
}

/// The vocabulary tokens of a text. Tokenized in pieces of a few dozen
/// words so that a text longer than the model's window is covered whole
/// (BERT pre-tokenization splits at whitespace, so the pieces tokenize as
/// the whole would).
fn tokens_of(encoder: &Encoder, text: &str) -> anyhow::Result<HashSet<String>> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let pieces: Vec<String> = words.chunks(64).map(|c| c.join(" ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let ids = encoder.tokenize(&refs)?;
    // A token the tokenizer added beyond the model's vocabulary names no
    // vocabulary entry: it cannot be a term of either vector.
    Ok(ids
        .iter()
        .flatten()
        .filter_map(|&id| encoder.vocab().get(id as usize).map(str::to_owned))
        .collect())
}

fn write_table(out: &mut impl Write, e: &Explanation) -> anyhow::Result<()> {
    if let Some(f) = &e.fusion {
        write_fusion(out, e, f)?;
    }
    if e.splade_score.is_some() {
        write_splade(out, e)?;
    }
    if let Some(b) = &e.bm25 {
        if e.splade_score.is_some() {
            writeln!(out)?;
        }
        write_lexical(out, e, b)?;
    }
    Ok(())
}

fn write_fusion(out: &mut impl Write, e: &Explanation, f: &FusionPart) -> anyhow::Result<()> {
    let rank =
        |r: Option<usize>| r.map_or_else(|| format!("beyond {}", f.depth), |r| r.to_string());
    match f.rank {
        Some(r) => writeln!(
            out,
            "hybrid score {:.4} for `{}`: rank {r}, BM25 weight {:.2} for this query",
            e.score, e.id, f.weight
        )?,
        None => writeln!(
            out,
            "`{}` is in neither side's top {}: hybrid search does not return it",
            e.id, f.depth
        )?,
    }
    writeln!(
        out,
        "  BM25 rank {}, SPLADE rank {} (each side z-scored over its top {})\n",
        rank(f.bm25_rank),
        rank(f.splade_rank),
        f.depth
    )?;
    Ok(())
}

fn write_lexical(out: &mut impl Write, e: &Explanation, b: &LexicalPart) -> anyhow::Result<()> {
    writeln!(
        out,
        "BM25 score {:.4} for `{}`: {} matching terms (document length {}, average {:.1})",
        b.score,
        e.id,
        b.terms.len(),
        b.doc_len,
        b.avg_len
    )?;
    let width = b
        .terms
        .iter()
        .map(|t| t.term.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "{:<width$}  {:>4}  {:>7}  {:>7}  {:>8}  {:>6}",
        "term", "tf", "df", "idf", "weight", "share"
    )?;
    for t in &b.terms {
        writeln!(
            out,
            "{:<width$}  {:>4}  {:>7}  {:>7.4}  {:>8.4}  {:>5.1}%",
            t.term,
            t.tf,
            t.df,
            t.idf,
            t.weight,
            t.share * 100.0
        )?;
    }
    Ok(())
}

fn write_splade(out: &mut impl Write, e: &Explanation) -> anyhow::Result<()> {
    writeln!(
        out,
        "{}score {:.4} for `{}`: {} shared terms (query {} terms, document {} terms)",
        if e.mode == "splade" { "" } else { "SPLADE " },
        e.splade_score.unwrap_or(0.0),
        e.id,
        e.terms.len(),
        e.query_terms,
        e.doc_terms
    )?;
    let width = e
        .terms
        .iter()
        .map(|t| t.token.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(
        out,
        "{:<width$}  {:>8}  {:>8}  {:>8}  {:>6}{}",
        "token",
        "query",
        "doc",
        "product",
        "share",
        if e.expansion_marked {
            "  expansion"
        } else {
            ""
        }
    )?;
    for t in &e.terms {
        writeln!(
            out,
            "{:<width$}  {:>8.4}  {:>8.4}  {:>8.4}  {:>5.1}%{}",
            t.token,
            t.query_weight,
            t.doc_weight,
            t.product,
            t.share * 100.0,
            match t.expansion {
                Some(true) => "  *",
                _ => "",
            }
        )?;
    }
    Ok(())
}
