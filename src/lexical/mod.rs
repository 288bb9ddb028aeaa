//! Lexical retrieval: the BM25 analyzer and scoring that hybrid search
//! fuses with SPLADE.
//!
//! Both halves reproduce the reference BM25 (bm25s 0.3.16, method "lucene",
//! stopwords "en", PyStemmer "english"; `metrics.json` `bm25_params` in the
//! shared reference) exactly, so that `--mode bm25` ranks as it ranks:
//! - [`analyze`]: text to terms (lower-case, Python-`\w` tokens of two or more
//!   characters, bm25s's English stopwords, Snowball English stems);
//! - [`bm25`]: Lucene's BM25 (no `(k1 + 1)` factor, idf `ln(1 + (N − df +
//!   0.5)/(df + 0.5))`) with bm25s's float32 rounding.
//!
//! `benches/bm25_parity.py` checks both against bm25s on the shared
//! collections (tokens of every document, nDCG@10 of the rankings).

pub mod analyze;
pub mod bm25;

pub use analyze::{Analyzer, document_text};
pub use bm25::{Bm25Params, CollectionStats, InvalidBm25Param, TermMatch};
