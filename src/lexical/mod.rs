//! Lexical retrieval: the BM25 analyzer and scoring that hybrid search
//! fuses with SPLADE.
//!
//! Both halves reproduce the reference BM25 (bm25s 0.3.16, method "lucene",
//! stopwords "en", PyStemmer "english"; `metrics.json` `bm25_params` in the
//! shared reference) exactly, so that `--mode bm25` ranks as it ranks:
//! - [`analyze`]: text to terms (lower-case, Python-`\w` tokens of two or more
//!   characters, bm25s's English stopwords, Snowball English stems);
//! - [`bm25`]: Lucene's BM25 (no `(k1 + 1)` factor, idf `ln(1 + (N − df +
//!   0.5)/(df + 0.5))`) with bm25s's float32 rounding;
//! - [`TermCounts`]: a document as the index files it (distinct terms with
//!   their frequencies, and its length).
//!
//! The index keeps these postings beside the SPLADE ones (`docs/format.md`,
//! "Lexical postings"); `search::search_bm25` scores them.
//!
//! `benches/bm25_parity.py` checks both against bm25s on the shared
//! collections (tokens of every document, nDCG@10 of the rankings).

pub mod analyze;
pub mod bm25;
mod counts;

pub use analyze::{Analyzer, document_text};
pub use counts::TermCounts;

/// The name (and version) of [`Analyzer::english`] that an index records
/// in `meta.json`: bm25s's tokenizer and English stopwords with Snowball
/// 3.0 English stems. A change to what the analyzer produces gets a new name.
pub const ANALYZER_ENGLISH: &str = "bm25s-en-snowball3";
pub use bm25::{Bm25Params, CollectionStats, InvalidBm25Param, TermMatch};
