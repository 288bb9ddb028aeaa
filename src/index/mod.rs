//! The on-disk inverted index, in three layers that import downwards only:
//!
//! - `format`: the byte-level codecs, one file per file kind
//!   of `docs/format.md` (frame, page checksums, `meta.json`, postings and
//!   their block codec, term dictionary, doc table, stored documents,
//!   range maxima, deletes bitmap, quantization). They know bytes, not
//!   indexes; they import nothing above them.
//! - `read`: opening an index (`read/index.rs`: [`Index`]; `read/segment.rs`:
//!   one segment's files), lookups by external id (`read/ids.rs`), and the
//!   range maxima built in memory for segments without a `.bmx`
//!   (`read/maxima.rs`).
//! - `write`: every change of an index, each begun and published through
//!   `write/commit.rs` (the lock of `write/lock.rs`, fresh names,
//!   `meta.json` last, cleanup): a build or append ([`IndexWriter`],
//!   `write/writer.rs`, accumulating postings in bounded memory with
//!   `write/spill.rs` and writing the segment with `write/segment.rs`),
//!   [`delete`] (`write/delete.rs`), [`compact`] (`write/compact.rs`,
//!   reordering with `write/reorder.rs`).
//! - `lexical` (in each layer: `format/lexical.rs`, `write/lexical.rs`,
//!   `read/lexical.rs`): the BM25 postings of format 5 (stems with df, tf
//!   lists, document lengths) beside the SPLADE ones, in the same segments
//!   and commits.
//!
//! Counts: "docs" counts document *ordinals*, deleted documents included
//! ([`Meta::docs`], `SegmentMeta::docs`, [`Index::num_docs`]); "live"
//! counts the others ([`Index::live_docs`], [`IndexStats::live_docs`]).
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
pub use format::FORMAT_VERSION;
#[cfg(test)]
pub(crate) use format::meta::META_FILE;
pub use format::meta::{IndexStats, Meta, ModelInfo};
pub use format::quant::Quantization;
pub use format::stored::StoredDoc;
pub use read::index::{CheckedPages, Index};
pub use write::compact::{CompactOptions, compact, compact_with};
pub use write::delete::{DeleteOptions, DeleteOutcome, delete};
pub use write::lock::{LOCK_FILE, LockWait};
pub use write::writer::{AppendOptions, IndexWriter, WriterOptions};

pub(crate) use format::block::{BLOCK, PostingList};
pub(crate) use format::forward::{Forward, RangeGroups};
pub(crate) use format::quant::Quantizer;
#[cfg(test)]
pub(crate) use format::range_max::ALWAYS_STORE;
pub(crate) use format::range_max::{RANGE_SHIFT, STORED_MIN_DOCS, TermRanges, ranges};
pub(crate) use read::segment::Segment;
