//! The on-disk inverted index. The byte layout is specified in
//! `docs/format.md`; this module follows it file by file:
//!
//! - `format`: the frame every file shares (magic, version, CRC
//!   footer), atomic file writing and memory-mapped reading;
//! - `meta`: `meta.json`, the commit point;
//! - `postings`: the block codec of doc-id lists and impacts;
//! - `terms`: the sorted term dictionary;
//! - `docs`: doc table and stored documents;
//! - `quant`: impact quantization (`u16` by default);
//! - `spill`: bounded-memory accumulation with sorted runs;
//! - `writer` / `reader`: [`IndexWriter`] and [`Index`];
//! - `deletes`, `compact`: the per-segment deletes bitmaps, [`delete`] and
//!   [`compact`]; `ids`: from external ids to live ordinals;
//! - `lexical` (in `format`, `write` and `read`): the BM25 postings of
//!   format 5 (stems with df, tf lists, document lengths) beside the
//!   SPLADE ones, in the same segments and commits;
//! - `lock`: one writer at a time (`write.lock`);
//! - `commit`: the lock, fresh names, `meta.json` last, cleanup; every
//!   change to an index (build, append, delete, compact) begins and
//!   publishes through it.
//!
//! Terms are token *strings*, so an index can be built from pre-encoded
//! vectors without a model; the caller maps vocabulary ids to tokens.

mod error;
mod format;
mod read;
mod write;

#[cfg(test)]
mod segment_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

pub use error::IndexError;
pub use format::frame::FileMeta;
pub use format::meta::{
    DeletesMeta, IndexStats, LexicalMeta, META_FILE, Meta, ModelInfo, SegmentLexical, SegmentMeta,
};
pub use format::quant::Quantization;
pub use format::stored::StoredDoc;
pub use format::{FORMAT_VERSION, MIN_FORMAT_VERSION};
pub use read::index::Index;
pub use write::compact::{CompactOptions, compact, compact_with};
pub use write::delete::{DeleteOptions, DeleteOutcome, delete};
pub use write::lock::{LOCK_FILE, LockWait};
pub use write::writer::{AppendOptions, IndexWriter, WriterOptions};

pub(crate) use format::block::{BLOCK, PostingList};
pub(crate) use format::quant::Quantizer;
#[cfg(test)]
pub(crate) use format::range_max::ALWAYS_STORE;
pub(crate) use format::range_max::{RANGE_SHIFT, STORED_MIN_DOCS, TermRanges, ranges};
pub(crate) use read::segment::Segment;
