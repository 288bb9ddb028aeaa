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

use super::common::{ModelArgs, note};
use super::query::{open_index, query_encoder, query_terms};

/// Explain a score: the terms query and document share, and what each adds.
///
/// For each term in both vectors: the query weight, the document weight as
/// the index stores it, their product and its share of the score, largest
/// first. The products add up to the score `splade search` reports. With an
/// index built with --store, terms that are not among the tokens of the
/// document's text are marked as expansion terms (the model added them).
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

/// The whole explanation (the `--json` output).
#[derive(Debug, Serialize)]
struct Explanation {
    query: String,
    id: String,
    score: f64,
    query_terms: usize,
    doc_terms: usize,
    /// Whether `expansion` is known (the index stores texts).
    expansion_marked: bool,
    terms: Vec<Term>,
}

pub fn run(args: ExplainArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let index = open_index(&args.index)?;
    let doc = index.find(&args.doc_id).with_context(|| {
        format!(
            "no document with id `{}` in the index at {}",
            args.doc_id,
            args.index.display()
        )
    })?;
    let encoder = query_encoder(&index, &args.model)?;
    let query = query_terms(&encoder, &args.query)?;
    let doc_vector: HashMap<String, f32> = index.doc_vector(doc).into_iter().collect();
    let text_tokens = text_tokens(&index, doc, &encoder, quiet)?;
    let (terms, score) = shared_terms(&query, &doc_vector, text_tokens.as_ref());
    let explanation = Explanation {
        query: args.query.clone(),
        id: args.doc_id.clone(),
        score,
        query_terms: query.len(),
        doc_terms: doc_vector.len(),
        expansion_marked: text_tokens.is_some(),
        terms,
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

/// The tokens of the stored title and text of `doc`, to tell expansion
/// terms apart; `None` (with a note) when the index stores no texts.
fn text_tokens(
    index: &Index,
    doc: u32,
    encoder: &Encoder,
    quiet: bool,
) -> anyhow::Result<Option<HashSet<String>>> {
    match index.stored(doc) {
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
        .filter_map(|&id| encoder.vocab().get(id as usize).cloned())
        .collect())
}

fn write_table(out: &mut impl Write, e: &Explanation) -> anyhow::Result<()> {
    writeln!(
        out,
        "score {:.4} for `{}`: {} shared terms (query {} terms, document {} terms)",
        e.score,
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
