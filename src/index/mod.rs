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
//! - `lock`: one writer at a time (`write.lock`);
//! - `commit`: the lock, fresh names, `meta.json` last, cleanup; every
//!   change to an index (build, append, delete, compact) begins and
//!   publishes through it.
//!
//! Terms are token *strings*, so an index can be built from pre-encoded
//! vectors without a model; the caller maps vocabulary ids to tokens.

mod commit;
mod compact;
mod deletes;
mod docs;
mod error;
mod format;
mod ids;
mod lock;
mod meta;
mod postings;
mod quant;
mod rangemax;
mod reader;
mod reorder;
mod spill;
mod terms;
mod writer;

#[cfg(test)]
mod segment_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

use serde::{Deserialize, Serialize};

pub use compact::{CompactOptions, compact, compact_with};
pub use deletes::{DeleteOptions, DeleteOutcome, delete};
pub use error::IndexError;
pub use lock::{LOCK_FILE, LockWait};
#[cfg(test)]
pub(crate) use meta::META_FILE;
pub use meta::Meta;
pub use quant::Quantization;
pub use reader::Index;
pub use writer::{AppendOptions, IndexWriter, WriterOptions};

pub(crate) use postings::{BLOCK, PostingList};
pub(crate) use quant::Quantizer;
#[cfg(test)]
pub(crate) use rangemax::ALWAYS_STORE;
pub(crate) use rangemax::{RANGE_SHIFT, STORED_MIN_DOCS, TermRanges, ranges};
pub(crate) use reader::Segment;

/// Version of the on-disk format written by this build. Bumped by every
/// change to `docs/format.md`. Version 2 added deletes bitmaps and appended
/// segments, version 3 per-range term maxima (`.bmx`), version 4 a
/// checksum in `meta.json`.
pub const FORMAT_VERSION: u32 = 4;

/// The oldest format version this build still reads. A version-1 index is a
/// version-2 index without deletes; appending to it or deleting from it
/// writes a version-2 `meta.json` and leaves its version-1 files as they are.
pub const MIN_FORMAT_VERSION: u32 = 1;

/// The model that encoded an index's documents, recorded in `meta.json` so
/// that queries can be encoded by the same model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelInfo {
    /// Hub id or local path as given by the user.
    pub id: String,
    /// Hub revision (commit), when known.
    pub revision: Option<String>,
    /// Hash of the config, tokenizer and weights, to detect a different
    /// model under the same name (see `Encoder::fingerprint`).
    pub fingerprint: String,
    /// The weights file the fingerprint was computed from, as it was then:
    /// a model whose file still has this stamp needs no hashing to match
    /// (a cache; absent for hub models and older indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) weights_file: Option<crate::encoder::FileStamp>,
    /// Truncation length in tokens the documents were encoded with. This
    /// and the next two fields are absent in indexes written before they
    /// were recorded, and for indexes built from vectors: then nothing is
    /// known and queries are encoded as the flags say (default: the
    /// model's maximum, f32, truncate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Arithmetic of the vocabulary projection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<crate::encoder::Precision>,
    /// How texts longer than `max_length` were encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_docs: Option<crate::encoder::LongDocs>,
}

/// A document's stored fields, returned with search results.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StoredDoc {
    /// The title, when the input had one.
    pub title: Option<String>,
    /// The text.
    pub text: String,
}

/// Counts and size of an index.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct IndexStats {
    /// Live documents (not deleted).
    pub docs: u64,
    /// Documents marked deleted, still in the files until `compact`.
    pub deleted: u64,
    /// Distinct terms, summed over segments.
    pub terms: u64,
    /// Postings (document-term pairs).
    pub postings: u64,
    /// Total bytes of all segment files.
    pub bytes: u64,
}

/// The stats `meta.json` describes.
pub(crate) fn stats_of(meta: &Meta) -> IndexStats {
    IndexStats {
        docs: meta.live_docs(),
        deleted: meta.deleted,
        terms: meta.segments.iter().map(|s| s.terms).sum(),
        postings: meta.postings,
        bytes: meta
            .segments
            .iter()
            .flat_map(|s| s.all_files())
            .map(|f| f.len)
            .sum(),
    }
}
