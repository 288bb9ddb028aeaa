//! The byte-level codecs of the index files, one file per section of
//! `docs/format.md`. Each writes its file through `frame.rs` (temp name,
//! header, CRC footer, fsync, rename) and reads it back from a memory map,
//! checking only what is cheap on open; none of them panics on damaged
//! bytes. They import only each other and the index's error type.
//!
//! `block.rs` is the posting-list codec proper (doc gaps and fixed-width
//! codes of 1, 2 or 4 bytes in blocks of 128, behind a skip directory); it
//! knows nothing of what the codes mean, so a second kind of postings (for
//! instance term frequencies) can reuse it in a file of its own beside
//! `postings.rs`.

pub(crate) mod block;
pub(crate) mod deletes;
pub(crate) mod doc_table;
pub(crate) mod forward;
pub(crate) mod frame;
pub(crate) mod lexical;
pub(crate) mod meta;
pub(crate) mod pages;
pub(crate) mod postings;
pub(crate) mod quant;
pub(crate) mod range_max;
pub(crate) mod stored;
pub(crate) mod terms;

/// Version of the on-disk format written by this build. Bumped by every
/// change to `docs/format.md`. Version 2 added deletes bitmaps and appended
/// segments, version 3 per-range term maxima (`.bmx`), version 4 a
/// checksum in `meta.json`, version 5 lexical (BM25) postings, version 6
/// page checksums in every binary file (`pages.rs`), version 7 forward
/// postings (`.fwd`, `forward.rs`) beside the `.bmx` of a large segment.
pub const FORMAT_VERSION: u32 = 7;

/// The oldest format version this build still reads. A version-1 index is a
/// version-2 index without deletes; appending to it or deleting from it
/// writes a version-2 `meta.json` and leaves its version-1 files as they are.
pub const MIN_FORMAT_VERSION: u32 = 1;
