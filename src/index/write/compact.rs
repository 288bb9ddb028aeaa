//! Compaction: all segments merged into one, deleted documents dropped.
//!
//! Live documents keep their order (segment order, then ordinal), so ties
//! in ranking break the same way before and after. Postings are read term
//! by term, segment after segment, which adds each token's postings in
//! increasing new ordinal: exactly the order the sorted-run accumulator
//! needs, so compaction runs within the same memory budget as a build.
//!
//! With `reorder`, live documents get the order of a recursive graph
//! bisection instead (`reorder.rs`); each token's postings are then sorted
//! when written, and the bisection's graph (4 bytes per heavy posting) is
//! held in memory besides the budget.
//!
//! Weights are re-quantized with one scale for the merged segment, derived
//! from the largest `max_weight` of the old segments. `f32` impacts are
//! copied bit for bit; `u16`/`u8` codes of the segment whose scale is the
//! largest stay identical, and the others move by at most half a step of
//! the new scale (see `docs/format.md`, "Appends, deletes and scores").

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::FORMAT_VERSION;
use crate::index::format::doc_table::write_doc_table;
use crate::index::format::meta::IndexStats;
use crate::index::format::meta::{Meta, SegmentMeta};
use crate::index::format::quant::Quantizer;
use crate::index::format::stored::StoredWriter;
use crate::index::read::index::Index;
use crate::index::write::commit::{begin_change, publish};
use crate::index::write::lock::LockWait;
use crate::index::write::reorder;
use crate::index::write::segment::write_postings;
use crate::index::write::spill::Accumulator;

/// Rewrites the index in `dir` as one segment without deleted documents
/// and publishes it atomically; `memory_budget` bounds in-memory postings
/// like [`WriterOptions::memory_budget`](crate::index::write::writer::WriterOptions).
pub fn compact(dir: &Path, memory_budget: u64) -> Result<IndexStats, IndexError> {
    compact_with(
        dir,
        &CompactOptions {
            memory_budget,
            reorder: false,
            lock_wait: LockWait::Fail,
        },
    )
}

/// Options of [`compact_with`].
#[derive(Clone, Copy, Debug)]
pub struct CompactOptions {
    /// Bound on in-memory postings, as [`compact`]'s `memory_budget`.
    pub memory_budget: u64,
    /// Give similar documents neighbouring ordinals (recursive graph
    /// bisection, see `reorder.rs`): block-max pruning then skips most of
    /// the collection. Ties in ranking then break by the new order.
    pub reorder: bool,
    /// What to do when another writer holds the index.
    pub lock_wait: LockWait,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            memory_budget: crate::index::write::writer::WriterOptions::default().memory_budget,
            reorder: false,
            lock_wait: LockWait::Fail,
        }
    }
}

/// [`compact`], optionally reordering the documents.
pub fn compact_with(dir: &Path, options: &CompactOptions) -> Result<IndexStats, IndexError> {
    let memory_budget = options.memory_budget;
    // The lock first: what is compacted is then the latest commit.
    let change = begin_change(dir, options.lock_wait)?;
    let generation = change.generation;
    let index = Index::open(dir)?;
    // Never carry damaged bytes into the new segment.
    index.verify()?;
    let stem = format!("seg-{generation:06}");
    let old = index.meta();
    let max_weight = old
        .segments
        .iter()
        .map(|s| s.max_weight)
        .fold(0.0f32, f32::max);
    // Compacting keeps the order, so a reordered index stays reordered
    // (deleting documents does not disturb the clustering).
    let reordered =
        options.reorder || (!old.segments.is_empty() && old.segments.iter().all(|s| s.reordered));
    let quant = Quantizer {
        scheme: old.quantization,
        scale: old.quantization.scale_for(max_weight),
    };
    // New ordinals: live documents in order, or in the bisection's order.
    let mut live: Vec<u32> = (0..index.num_docs())
        .filter(|&d| !index.is_deleted(d))
        .collect();
    if options.reorder {
        let order = reorder::bp_order(&reorder::forward(&index, &live));
        live = order.iter().map(|&i| live[i as usize]).collect();
    }
    let mut new_ord = vec![u32::MAX; index.num_docs() as usize];
    let mut ids = Vec::with_capacity(index.live_docs() as usize);
    let mut stored = if old.store {
        Some(StoredWriter::create(dir, &format!("{stem}.sto"))?)
    } else {
        None
    };
    for doc in live {
        new_ord[doc as usize] = ids.len() as u32;
        ids.push(index.doc_id(doc));
        if let Some(s) = &mut stored {
            s.push(index.stored(doc).as_ref())?;
        }
    }
    let mut acc = Accumulator::new(dir, &stem, memory_budget);
    let mut postings = 0u64;
    let mut list = Vec::new();
    for seg in &index.segments {
        for i in 0..seg.terms.len() {
            let term = seg.terms.term(i);
            list.clear();
            if let Some(l) = seg.list(&seg.terms.info(i)) {
                l.for_each(|d, code| {
                    let new = new_ord
                        .get((seg.base + d) as usize)
                        .copied()
                        .unwrap_or(u32::MAX);
                    if new != u32::MAX {
                        list.push((new, seg.quant.decode(code)));
                    }
                });
            }
            for &(doc, w) in &list {
                acc.add(doc, &[(term, w)])?;
            }
            postings += list.len() as u64;
        }
    }
    let mut files = Vec::new();
    let (pst, bmx, terms) = write_postings(dir, &stem, acc, quant, ids.len() as u32)?;
    files.push(pst);
    files.extend(bmx);
    let n_terms = terms.len() as u64;
    files.push(terms.write(dir, &format!("{stem}.ter"))?);
    files.push(write_doc_table(dir, &format!("{stem}.doc"), &ids)?);
    if let Some(s) = stored {
        files.push(s.finish()?);
    }
    let docs = ids.len() as u64;
    let meta = Meta {
        format_version: FORMAT_VERSION,
        splade_version: env!("CARGO_PKG_VERSION").to_string(),
        generation,
        model: old.model.clone(),
        quantization: old.quantization,
        store: old.store,
        docs,
        deleted: 0,
        postings,
        segments: vec![SegmentMeta {
            name: stem,
            docs,
            terms: n_terms,
            postings,
            max_weight,
            scale: quant.scale,
            files,
            deletes: None,
            reordered,
        }],
    };
    let base = old.generation;
    drop(ids);
    drop(index);
    publish(dir, &meta, Some(base))?;
    drop(change);
    Ok(crate::index::format::meta::stats_of(&meta))
}
