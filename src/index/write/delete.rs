//! Deleting documents: a new deletes bitmap for each segment that changes
//! (`format/deletes.rs`), published with a new `meta.json`.
//!
//! Segment files are immutable, so deleting a document never touches them:
//! it writes a new bitmap for the segment under a fresh name
//! (`seg-NNNNNN.GGGGGG.del`, `G` the generation of the commit) and a new
//! `meta.json` that references it. Searches skip deleted documents;
//! `compact` finally drops them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::FORMAT_VERSION;
use crate::index::format::deletes::Bitmap;
use crate::index::format::meta::Meta;
use crate::index::format::meta::{IndexStats, stats_of};
use crate::index::read::ids::IdMap;
use crate::index::read::index::Index;
use crate::index::write::commit::{begin_change, publish};
use crate::index::write::lock::LockWait;

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
    let live = IdMap::live(&index)?;
    let mut ordinals = Vec::new();
    let mut missing = Vec::new();
    for &id in ids {
        match live.get(id, |d| index.doc_id(d))? {
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
        stats: stats_of(&meta),
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
