//! BM25 over a BEIR corpus in memory, with `splade::lexical`: the parity
//! check of the analyzer and scorer against the reference BM25 (bm25s), run
//! by `benches/bm25_parity.py`. No index is written.
//!
//! ```sh
//! cargo run --release --example bm25_run -- tokens CORPUS.jsonl > tokens.jsonl
//! cargo run --release --example bm25_run -- run CORPUS.jsonl QUERIES.jsonl \
//!     [--k1 1.5] [--b 0.75] [--top 1000] > run.trec
//! cargo run --release --example bm25_run -- bench CORPUS.jsonl [--repeat 5]
//! cargo run --release --example bm25_run -- index-run INDEX QUERIES.jsonl [--top 1000] > run.trec
//! ```
//!
//! - `tokens`: one JSON line per record, `{"id": ..., "tokens": [...]}`, the
//!   terms of `title + " " + text`;
//! - `run`: a TREC run, every document with a score > 0 up to `--top` per
//!   query, by score descending, ties by corpus order (the reference's
//!   rule); build and search times on stderr;
//! - `bench`: analyzer throughput on one thread over texts already in
//!   memory, the median of `--repeat` passes, as one JSON line (`runs_s` in
//!   order: the first pass fills the thread's stem memo, later ones find
//!   every word in it);
//! - `index-run`: the same TREC run from an index that `splade index`
//!   built (`--lexical-only`, or with its default lexical postings), by
//!   `splade::search_bm25_batch`: the parity check through the real
//!   index files.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::time::Instant;

use splade::internal::{FieldNames, InputFormat, RecordReader};
use splade::lexical::bm25::{idf, term_weight};
use splade::lexical::{Analyzer, Bm25Params, CollectionStats};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (positional, options) = split_options(&args)?;
    let option = |name: &str, default: &str| -> String {
        options
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    match positional.as_slice() {
        ["tokens", corpus] => tokens(corpus),
        ["run", corpus, queries] => {
            let params =
                Bm25Params::new(option("k1", "1.5").parse()?, option("b", "0.75").parse()?)?;
            run(corpus, queries, params, option("top", "1000").parse()?)
        }
        ["bench", corpus] => bench(corpus, option("repeat", "5").parse()?),
        ["index-run", index, queries] => index_run(index, queries, option("top", "1000").parse()?),
        _ => Err(
            "usage: bm25_run tokens CORPUS | run CORPUS QUERIES [--k1 X] [--b X] [--top N] \
                  | bench CORPUS [--repeat N] | index-run INDEX QUERIES [--top N]"
                .into(),
        ),
    }
}

/// Positional arguments, and `--name value` pairs.
fn split_options(args: &[String]) -> Result<(Vec<&str>, HashMap<String, String>), Failure> {
    let (mut positional, mut options) = (Vec::new(), HashMap::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.strip_prefix("--") {
            Some(name) => {
                let value = it.next().ok_or(format!("--{name} needs a value"))?;
                options.insert(name.to_string(), value.clone());
            }
            None => positional.push(a.as_str()),
        }
    }
    Ok((positional, options))
}

/// `(id, title + " " + text)` of every record of a JSONL file.
fn read_texts(path: &str) -> Result<Vec<(String, String)>, Failure> {
    let reader = RecordReader::open(path, InputFormat::Jsonl, FieldNames::default())?;
    let mut texts = Vec::new();
    for doc in reader {
        let doc = doc?;
        texts.push((doc.id.clone(), doc.full_text()));
    }
    Ok(texts)
}

fn tokens(corpus: &str) -> Result<(), Failure> {
    let analyzer = Analyzer::english();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (id, text) in read_texts(corpus)? {
        let line = serde_json::json!({"id": id, "tokens": analyzer.analyze(&text)});
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// An inverted index in memory: per term, `(document, tf)` in document order.
struct Index {
    terms: HashMap<String, u32>,
    postings: Vec<Vec<(u32, u32)>>,
    lengths: Vec<u32>,
    stats: CollectionStats,
}

impl Index {
    fn build(analyzer: &Analyzer, texts: &[(String, String)]) -> Index {
        let mut index = Index {
            terms: HashMap::new(),
            postings: Vec::new(),
            lengths: Vec::with_capacity(texts.len()),
            stats: CollectionStats::default(),
        };
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for (doc, (_, text)) in texts.iter().enumerate() {
            counts.clear();
            let mut len = 0u32;
            analyzer.for_each_term(text, |term| {
                len += 1;
                let id = match index.terms.get(term) {
                    Some(&id) => id,
                    None => {
                        let id = index.terms.len() as u32;
                        index.terms.insert(term.to_owned(), id);
                        index.postings.push(Vec::new());
                        id
                    }
                };
                *counts.entry(id).or_insert(0) += 1;
            });
            for (&term, &tf) in &counts {
                index.postings[term as usize].push((doc as u32, tf));
            }
            index.lengths.push(len);
            index.stats.add(len);
        }
        index
    }

    /// Scores of every document for the query's terms, in query order and
    /// summed in f32, as bm25s sums them.
    fn scores(&self, analyzer: &Analyzer, query: &str, params: Bm25Params) -> Vec<f32> {
        let mut acc = vec![0.0f32; self.lengths.len()];
        let avg_len = self.stats.avg_len();
        analyzer.for_each_term(query, |term| {
            let Some(&id) = self.terms.get(term) else {
                return;
            };
            let postings = &self.postings[id as usize];
            let idf = idf(postings.len() as u64, self.stats.docs);
            for &(doc, tf) in postings {
                acc[doc as usize] +=
                    term_weight(tf, self.lengths[doc as usize], idf, avg_len, params);
            }
        });
        acc
    }
}

fn run(corpus: &str, queries: &str, params: Bm25Params, top: usize) -> Result<(), Failure> {
    let analyzer = Analyzer::english();
    let docs = read_texts(corpus)?;
    let queries = read_texts(queries)?;
    let start = Instant::now();
    let index = Index::build(&analyzer, &docs);
    let built = start.elapsed();
    let start = Instant::now();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (qid, text) in &queries {
        let scores = index.scores(&analyzer, text, params);
        let mut hits: Vec<u32> = (0..scores.len() as u32)
            .filter(|&d| scores[d as usize] > 0.0)
            .collect();
        // Score descending, ties by corpus order.
        hits.sort_by(|&a, &b| {
            scores[b as usize]
                .total_cmp(&scores[a as usize])
                .then(a.cmp(&b))
        });
        for (rank, &d) in hits.iter().take(top).enumerate() {
            let (id, s) = (&docs[d as usize].0, scores[d as usize]);
            writeln!(out, "{qid} Q0 {id} {} {s} splade-bm25", rank + 1)?;
        }
    }
    out.flush()?;
    eprintln!(
        "{} docs, {} terms, avgdl {:.2}: built in {:.2}s; {} queries in {:.3}s",
        index.stats.docs,
        index.terms.len(),
        index.stats.avg_len(),
        built.as_secs_f64(),
        queries.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `search_bm25` over the index at `dir`, every query of `queries`: the
/// ranking of `run`, read from the index's lexical postings.
fn index_run(dir: &str, queries: &str, top: usize) -> Result<(), Failure> {
    let index = splade::Index::open(std::path::Path::new(dir))?;
    let queries = read_texts(queries)?;
    let texts: Vec<&str> = queries.iter().map(|q| q.1.as_str()).collect();
    let start = Instant::now();
    let runs = splade::search_bm25_batch(&index, &texts, top)?;
    let searched = start.elapsed();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for ((qid, _), hits) in queries.iter().zip(&runs) {
        for (rank, hit) in hits.iter().enumerate() {
            let id = index.doc_id(hit.doc)?;
            writeln!(out, "{qid} Q0 {id} {} {} splade-bm25", rank + 1, hit.score)?;
        }
    }
    out.flush()?;
    eprintln!(
        "{} docs: {} queries in {:.3}s",
        index.num_docs(),
        queries.len(),
        searched.as_secs_f64()
    );
    Ok(())
}

fn bench(corpus: &str, repeat: usize) -> Result<(), Failure> {
    let analyzer = Analyzer::english();
    let texts = read_texts(corpus)?;
    let bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
    let mut secs = Vec::new();
    let mut terms = 0usize;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        terms = 0;
        for (_, text) in &texts {
            analyzer.for_each_term(text, |t| {
                terms += 1;
                std::hint::black_box(t);
            });
        }
        secs.push(start.elapsed().as_secs_f64());
    }
    let mut sorted = secs.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let line = serde_json::json!({
        "docs": texts.len(),
        "terms": terms,
        "bytes": bytes,
        "median_s": median,
        "runs_s": secs,
        "docs_per_s": texts.len() as f64 / median,
        "terms_per_s": terms as f64 / median,
        "mb_per_s": bytes as f64 / median / 1e6,
        "threads": 1,
    });
    println!("{line}");
    Ok(())
}
