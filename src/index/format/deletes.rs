//! Deletes: a per-segment bitmap of deleted local ordinals (format
//! version 2).
//!
//! Segment files are immutable, so deleting a document never touches them:
//! it writes a new bitmap for the segment under a fresh name
//! (`seg-NNNNNN.GGGGGG.del`, `G` the generation of the commit) and a new
//! `meta.json` that references it. Searches skip deleted documents;
//! `compact` finally drops them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::frame::{
    FileWriter, HEADER_LEN, MAGIC_DELETES, MappedFile, le_u32, le_u64,
};
use crate::index::format::meta::{DeletesMeta, Meta};
use crate::index::read::ids::LiveIds;
use crate::index::read::index::Index;
use crate::index::write::commit::{begin_change, publish};
use crate::index::write::lock::LockWait;
use crate::index::{FORMAT_VERSION, IndexStats};

/// Bytes of the `.del` header: magic, version, `n_docs`, `n_deleted`.
const DELETES_HEADER: usize = 20;

/// A segment's deleted local ordinals as a bitmap (bit `i % 64` of word
/// `i / 64`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitmap {
    words: Vec<u64>,
    docs: u32,
}

impl Bitmap {
    /// No document of a `docs`-document segment deleted.
    pub(crate) fn empty(docs: u32) -> Self {
        Bitmap {
            words: vec![0; (docs as usize).div_ceil(64)],
            docs,
        }
    }

    /// Whether local ordinal `doc` is deleted.
    pub(crate) fn contains(&self, doc: u32) -> bool {
        self.words
            .get(doc as usize / 64)
            .is_some_and(|w| w >> (doc % 64) & 1 == 1)
    }

    /// Marks `doc` deleted; false if it already was.
    pub(crate) fn insert(&mut self, doc: u32) -> bool {
        let w = &mut self.words[doc as usize / 64];
        let bit = 1u64 << (doc % 64);
        let fresh = *w & bit == 0;
        *w |= bit;
        fresh
    }

    /// Number of deleted documents.
    pub(crate) fn count(&self) -> u64 {
        self.words.iter().map(|w| w.count_ones() as u64).sum()
    }

    /// The deleted local ordinals, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.docs).filter(|&d| self.contains(d))
    }

    /// Writes the bitmap as `<dir>/<name>` and returns what `meta.json`
    /// records about it.
    pub(crate) fn write(&self, dir: &Path, name: &str) -> Result<DeletesMeta, IndexError> {
        let count = self.count();
        let mut w = FileWriter::create(dir, name, MAGIC_DELETES)?;
        w.write_u32(self.docs)?;
        w.write_u32(count as u32)?;
        for &word in &self.words {
            w.write_u64(word)?;
        }
        Ok(DeletesMeta {
            count,
            file: w.finish()?,
        })
    }

    /// Reads a mapped `.del` file of a `docs`-document segment, checking
    /// the document count, the length and the deleted count against
    /// `meta.json`.
    pub(crate) fn read(file: &MappedFile, docs: u64, count: u64) -> Result<Self, IndexError> {
        let b = file.bytes();
        let h = HEADER_LEN as usize;
        let (Some(n), Some(n_deleted)) = (le_u32(b, h), le_u32(b, h + 4)) else {
            return Err(file.corrupt("deletes header truncated"));
        };
        if n as u64 != docs || n_deleted as u64 != count {
            return Err(file.corrupt(format!(
                "deletes of {n} documents ({n_deleted} deleted), \
                 meta.json says {docs} documents ({count} deleted)"
            )));
        }
        let n_words = (n as usize).div_ceil(64);
        if b.len() != DELETES_HEADER + n_words * 8 {
            return Err(file.corrupt(format!(
                "deletes bitmap is {} bytes, {n} documents need {}",
                b.len().saturating_sub(DELETES_HEADER),
                n_words * 8
            )));
        }
        let words = (0..n_words)
            .map(|i| le_u64(b, DELETES_HEADER + i * 8).unwrap_or(0))
            .collect();
        let bitmap = Bitmap { words, docs: n };
        let tail_clean = n % 64 == 0 || bitmap.words.last().is_none_or(|w| w >> (n % 64) == 0);
        if bitmap.count() != count || !tail_clean {
            return Err(file.corrupt(format!(
                "deletes bitmap marks {} documents, header says {count}",
                bitmap.count()
            )));
        }
        Ok(bitmap)
    }
}

/// What [`delete`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Documents newly marked deleted.
    pub deleted: u64,
    /// Ids that name no live document (nothing was changed for them).
    pub missing: Vec<String>,
    /// The index after the commit.
    pub stats: IndexStats,
}

/// How [`delete`] goes about it.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeleteOptions {
    /// Report ids that name no live document instead of refusing them.
    pub ignore_missing: bool,
    /// What to do when another writer holds the index.
    pub lock_wait: LockWait,
}

/// Marks the live documents with the given external ids deleted and
/// publishes the change atomically through `meta.json`.
///
/// An id that names no live document is an error ([`IndexError::UnknownId`])
/// and nothing is changed, unless `options.ignore_missing`, in which case it
/// is reported in [`DeleteOutcome::missing`].
pub fn delete(
    dir: &Path,
    ids: &[&str],
    options: &DeleteOptions,
) -> Result<DeleteOutcome, IndexError> {
    // The lock first: the deletes apply to the latest commit.
    let change = begin_change(dir, options.lock_wait)?;
    let index = Index::open(dir)?;
    let live = LiveIds::build(&index);
    let mut ordinals = Vec::new();
    let mut missing = Vec::new();
    for &id in ids {
        match live.get(&index, id) {
            Some(doc) => ordinals.push(doc),
            None => missing.push(id.to_string()),
        }
    }
    if !missing.is_empty() && !options.ignore_missing {
        return Err(IndexError::UnknownId {
            path: dir.to_path_buf(),
            ids: missing,
        });
    }
    let before = index.meta().deleted;
    let meta = with_deletes(&index, &ordinals, change.generation)?;
    let deleted = meta.deleted - before;
    let base = index.meta().generation;
    drop(live);
    drop(index);
    if deleted > 0 {
        publish(dir, &meta, Some(base))?;
    }
    drop(change);
    Ok(DeleteOutcome {
        deleted,
        missing,
        stats: crate::index::stats_of(&meta),
    })
}

/// The meta of `index` with the global ordinals `docs` marked deleted, new
/// bitmaps written (not yet published) for the segments that changed, under
/// `generation`.
pub(crate) fn with_deletes(
    index: &Index,
    docs: &[u32],
    generation: u64,
) -> Result<Meta, IndexError> {
    let mut changed: BTreeMap<usize, Bitmap> = BTreeMap::new();
    for &doc in docs {
        let (i, local) = index.locate_segment(doc);
        let bits = changed
            .entry(i)
            .or_insert_with(|| index.segments[i].deleted_bitmap());
        bits.insert(local);
    }
    let mut meta = index.meta().clone();
    meta.format_version = FORMAT_VERSION;
    meta.generation = generation;
    for (i, bits) in changed {
        let seg = &mut meta.segments[i];
        let name = format!("{}.{generation:06}.del", seg.name);
        seg.deletes = Some(bits.write(index.dir(), &name)?);
    }
    meta.deleted = meta
        .segments
        .iter()
        .map(|s| s.deletes.as_ref().map_or(0, |d| d.count))
        .sum();
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        for docs in [0u32, 1, 63, 64, 65, 200] {
            let mut bits = Bitmap::empty(docs);
            for d in (0..docs).filter(|d| d % 3 == 1) {
                assert!(bits.insert(d));
                assert!(!bits.insert(d));
            }
            let name = format!("seg-000001.{docs:06}.del");
            let meta = bits.write(dir.path(), &name).unwrap();
            assert_eq!(meta.count, bits.count());
            let file = MappedFile::open(dir.path(), &meta.file, MAGIC_DELETES).unwrap();
            file.verify().unwrap();
            let back = Bitmap::read(&file, docs as u64, meta.count).unwrap();
            assert_eq!(back, bits);
            assert_eq!(
                back.iter().collect::<Vec<_>>(),
                (0..docs).filter(|d| d % 3 == 1).collect::<Vec<_>>()
            );
            // A count that disagrees with meta.json is corruption.
            let err = Bitmap::read(&file, docs as u64, meta.count + 1).unwrap_err();
            assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
        }
    }
}
