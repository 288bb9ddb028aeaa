//! # splade: learned sparse retrieval
//!
//! A SPLADE model turns a text into a sparse vector over the BERT vocabulary:
//! masked-LM logits per token, `log(1 + relu(x))`, max-pooled over the tokens.
//! Documents and queries are encoded by the same model and ranked by the raw
//! dot product of their vectors, which an inverted index computes quickly.
//! This crate is the `splade` command's library; a Rust program uses it
//! without the command line through a few types:
//!
//! - [`Encoder`] (loaded from a [`ModelSource`] with [`EncoderOptions`]):
//!   texts to [`SparseVector`]s, and query texts to [`Query`]s;
//! - [`IndexWriter`] ([`WriterOptions`], [`AppendOptions`]): builds an index
//!   in a directory, or appends a segment to one, published atomically on
//!   [`commit`](IndexWriter::commit);
//! - [`Index`] and [`Searcher`] ([`SearchOptions`]): an open index and the
//!   top-k documents for a [`Query`], as [`Hit`]s (also [`search`] and
//!   [`search_batch`]);
//! - [`search_bm25`] and [`explain_bm25`]: BM25 over the lexical postings
//!   an index keeps when written with [`WriterOptions::lexical`] (texts
//!   analyzed by [`lexical::Analyzer`], added with
//!   [`IndexWriter::add_document`]); [`fusion`] merges a BM25 and a SPLADE
//!   ranking into one;
//! - [`delete`] and [`compact_with`] ([`DeleteOptions`], [`CompactOptions`]):
//!   changing an index in place;
//! - [`eval`]: retrieval metrics with trec_eval semantics;
//! - [`Error`] and [`Result`], with [`IndexError`] for the index.
//!
//! An index names terms by token strings, so it can be built from vectors
//! that any model made; the index's byte layout is `docs/format.md`.
//!
//! # Encode a text
//!
//! `model_dir` is a folder holding `config.json`, `model.safetensors` and
//! `tokenizer.json` (a Hugging Face repository id works too, through
//! [`ModelSource::parse`]).
//!
// Examples that need a model run as doctests where build.rs finds
// splade-tiny (`SPLADE_TEST_MODEL`, or ../shared/models/splade-tiny), and
// are listed as ignored elsewhere; they fail where SPLADE_TEST_MODEL names
// a folder without the model.
#![cfg_attr(splade_real_model, doc = "```")]
#![cfg_attr(not(splade_real_model), doc = "```ignore")]
//! use splade::{Encoder, EncoderOptions, ModelSource};
//!
//! # fn main() -> splade::Result<()> {
//! # let model_dir = std::env::var("SPLADE_TEST_MODEL").unwrap_or_else(|_| {
//! #     concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models/splade-tiny").to_owned()
//! # });
//! let encoder = Encoder::load(&ModelSource::Local(model_dir.into()), &EncoderOptions::default())?;
//! let query = encoder.encode_one("common law implied warranty")?;
//! let doc = encoder.encode_one("An implied warranty is a contract law term.")?;
//! assert!(query.dot(&doc) > 0.0);
//! // Term ids are vocabulary entries.
//! let (term, weight) = query.iter().next().unwrap();
//! println!("{} has weight {weight}", encoder.token(term));
//! # Ok(())
//! # }
//! ```
//!
//! # Build an index from documents, and search it
//!
//! The documents' vectors come from an [`Encoder`]
//! ([`Encoder::terms`] names their terms); recording the model
//! ([`Encoder::model_info`]) lets the index's users encode queries the same
//! way.
//!
#![cfg_attr(splade_real_model, doc = "```")]
#![cfg_attr(not(splade_real_model), doc = "```ignore")]
//! use splade::{Encoder, EncoderOptions, Index, IndexWriter, ModelSource, WriterOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let model_dir = std::env::var("SPLADE_TEST_MODEL").unwrap_or_else(|_| {
//! #     concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models/splade-tiny").to_owned()
//! # });
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path().join("idx");
//! let encoder = Encoder::load(&ModelSource::Local(model_dir.into()), &EncoderOptions::default())?;
//! let docs = [
//!     ("d1", "An implied warranty is a contract law term."),
//!     ("d2", "Rust's borrow checker enforces memory safety."),
//! ];
//! let texts: Vec<&str> = docs.iter().map(|(_, text)| *text).collect();
//! let vectors = encoder.encode(&texts)?;
//!
//! let options = WriterOptions { model: Some(encoder.model_info()?), ..Default::default() };
//! let mut writer = IndexWriter::create(&dir, options)?;
//! for ((id, _), vector) in docs.iter().zip(&vectors) {
//!     writer.add(id, &encoder.terms(vector))?;
//! }
//! writer.commit()?;
//!
//! let index = Index::open(&dir)?;
//! let hits = splade::search(&index, &encoder.query("what is an implied warranty")?, 10)?;
//! assert_eq!(index.doc_id(hits[0].doc)?, "d1");
//! # Ok(())
//! # }
//! ```
//!
//! # Append, search and delete, without a model
//!
//! Terms and weights may come from anywhere: here they are written by hand.
//! [`Searcher`] keeps its buffers from one query to the next.
//!
//! ```
//! use splade::{AppendOptions, Index, IndexWriter, Query, SearchOptions, Searcher};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path().join("idx");
//! let mut writer = IndexWriter::create(&dir, Default::default())?;
//! writer.add("a", &[("law", 1.5), ("warranty", 2.0)])?;
//! writer.add("b", &[("law", 0.3), ("contract", 0.7)])?;
//! writer.commit()?;
//!
//! // A second segment; searches see it once it is committed.
//! let mut writer = IndexWriter::append(&dir, AppendOptions::default())?;
//! writer.add("c", &[("law", 0.9)])?;
//! writer.commit()?;
//!
//! let index = Index::open(&dir)?;
//! let mut searcher = Searcher::new(&index, SearchOptions::default());
//! // Searches and ids are `Err` rather than an answer when a page they
//! // read is damaged (each page is checked by its CRC32 when first read).
//! let ids = |hits: Vec<splade::Hit>| -> Result<Vec<String>, splade::IndexError> {
//!     hits.iter().map(|h| index.doc_id(h.doc).map(str::to_owned)).collect()
//! };
//! let law = Query::new([("law", 1.0)]);
//! assert_eq!(ids(searcher.search(&law, 10)?)?, ["a", "c", "b"]);
//!
//! // Deleting publishes a new commit; an index opened before still sees
//! // what it saw.
//! splade::delete(&dir, &["a"], &Default::default())?;
//! assert_eq!(ids(searcher.search(&law, 10)?)?, ["a", "c", "b"]);
//! let index = Index::open(&dir)?;
//! assert_eq!(splade::search(&index, &law, 10)?.len(), 2);
//! assert_eq!(index.live_docs(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Threads
//!
//! Encoding, batch search and index builds run on rayon's current pool
//! (install one to bound them); an encoder gets a pool of its own with
//! [`EncoderOptions::threads`]. Nothing here needs `unsafe` or touches the
//! environment; candle, under the encoder, sizes one pool of its own from
//! `CANDLE_NUM_THREADS` only (details at [`EncoderOptions::threads`]).

#![warn(missing_docs)]

// The command line lives in this crate (`cli`, hidden) and names the
// library `splade::...`, as any user of it would.
extern crate self as splade;

pub(crate) mod encoder;
pub(crate) mod error;
pub mod eval;
pub(crate) mod index;
pub(crate) mod io;
pub mod lexical;
pub(crate) mod profile;
pub(crate) mod search;
pub(crate) mod sparse;

// Its doc comments are `--help` text, not rustdoc: `<TAB>` is a word there.
#[doc(hidden)]
#[allow(rustdoc::all)]
pub mod cli;

pub use encoder::{EncodeStats, Encoder, EncoderOptions, LongDocs, ModelSource, Precision, Vocab};
pub use error::{Error, Result};
pub use index::{
    AppendOptions, CompactOptions, DeleteOptions, DeleteOutcome, FORMAT_VERSION, Index, IndexError,
    IndexStats, IndexWriter, LockWait, ModelInfo, Quantization, StoredDoc, WriterOptions, compact,
    compact_with, delete,
};
pub use search::fusion;
pub use search::{
    AUTO_PRUNE_DOCS, Bm25Term, Hit, PruneStats, Query, SearchOptions, Searcher, Strategy,
    explain_bm25, search, search_batch, search_batch_with, search_bm25, search_bm25_batch,
    search_with,
};
pub use sparse::SparseVector;

/// Not part of the API: what the fuzz targets (`fuzz/`), the benches and
/// the integration tests reach beyond it. Hidden from the documentation and
/// free to change in any release.
#[doc(hidden)]
pub mod internal {
    pub use crate::encoder::long::windows;
    pub use crate::encoder::tokenizer_cache_file;
    pub use crate::index::{LOCK_FILE, Meta};
    pub use crate::io::vectors::{VectorReader, VectorRecord};
    pub use crate::io::{Document, FieldNames, InputFormat, RecordReader};
    pub use crate::search::Work;

    pub use crate::index::CheckedPages;

    /// What reads have checked of each file of `index` so far. The
    /// corruption tests damage pages a query reads and pages it does not.
    pub fn checked_pages(index: &crate::Index) -> Vec<CheckedPages> {
        index.checked_pages()
    }

    /// Bytes of `index` whose checksums reads have computed since it was
    /// opened, opening included: what opening and a query cost.
    pub fn checked_bytes(index: &crate::Index) -> u64 {
        index.checked_bytes()
    }
}
