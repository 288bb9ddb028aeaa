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
//! Lexical postings, when the index has them, are merged the same way
//! (stem by stem, segment after segment, under the new ordinals), so each
//! stem's df is recounted over the live documents only, and the lengths of
//! the live documents follow their new order: BM25 scores afterwards are
//! those of a fresh build of the survivors (`docs/format.md`).
//!
//! Weights are re-quantized with one scale for the merged segment, derived
//! from the largest `max_weight` of the old segments. `f32` impacts are
//! copied bit for bit; `u16`/`u8` codes of the segment whose scale is the
//! largest stay identical, and the others move by at most half a step of
//! the new scale (see `docs/format.md`, "Appends, deletes and scores").

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::meta::{IndexStats, Meta, stats_of};
use crate::index::format::quant::Quantizer;
use crate::index::format::stored::StoredWriter;
use crate::index::read::index::Index;
use crate::index::write::commit::{begin_change, publish};
use crate::index::write::lexical::{LexicalBuilder, split_budget};
use crate::index::write::lock::LockWait;
use crate::index::write::reorder;
use crate::index::write::segment::{NewSegment, write_segment};
use crate::index::write::spill::Accumulator;
use crate::index::write::writer::WriterOptions;

/// Rewrites the index in `dir` as one segment without deleted documents
/// and publishes it atomically; `memory_budget` bounds in-memory postings
/// like [`WriterOptions::memory_budget`].
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
            memory_budget: WriterOptions::default().memory_budget,
            reorder: false,
            lock_wait: LockWait::Fail,
        }
    }
}

/// [`compact`], optionally reordering the documents.
pub fn compact_with(dir: &Path, options: &CompactOptions) -> Result<IndexStats, IndexError> {
    // The lock first: what is compacted is then the latest commit.
    let change = begin_change(dir, options.lock_wait)?;
    let index = Index::open(dir)?;
    // Never carry damaged bytes into the new segment: compaction reads
    // (nearly) everything, so it checks everything first; the reads, through
    // the page checks, then find every page checked.
    index.verify()?;
    let meta = write_merged(&index, dir, change.generation, options)?;
    index.check()?;
    let base = index.meta().generation;
    drop(index);
    publish(dir, &meta, Some(base))?;
    drop(change);
    Ok(stats_of(&meta))
}

/// Writes the merged segment of `index` under `generation` and returns the
/// `meta.json` that publishes it.
fn write_merged(
    index: &Index,
    dir: &Path,
    generation: u64,
    options: &CompactOptions,
) -> Result<Meta, IndexError> {
    let stem = format!("seg-{generation:06}");
    let old = index.meta();
    if options.reorder && !old.splade {
        return Err(IndexError::Incompatible {
            path: dir.to_path_buf(),
            message: "reordering clusters documents by their SPLADE terms, and this \
                      lexical-only index has none"
                .into(),
        });
    }
    let max_weight = old
        .segments
        .iter()
        .map(|s| s.max_weight)
        .fold(0.0f32, f32::max);
    // Compacting keeps the order, so a reordered index stays reordered
    // (deleting documents does not disturb the clustering).
    let reordered =
        options.reorder || (!old.segments.is_empty() && old.segments.iter().all(|s| s.reordered));
    let (splade_budget, lexical_budget) =
        split_budget(options.memory_budget, old.splade, old.lexical.is_some());
    let mut merged = Merged {
        new_ord: vec![u32::MAX; index.num_docs() as usize],
        ids: Vec::new(),
        stored: if old.store {
            Some(StoredWriter::create(dir, &format!("{stem}.sto"))?)
        } else {
            None
        },
        lexical: old
            .lexical
            .as_ref()
            .map(|_| LexicalBuilder::new(dir, &stem, lexical_budget)),
    };
    merged.copy_documents(index, new_order(index, options.reorder))?;
    let mut postings = Accumulator::new(dir, &stem, splade_budget);
    let num_postings = renumber_postings(index, &merged.new_ord, &mut postings)?;
    if let Some(l) = &mut merged.lexical {
        renumber_lexical(index, &merged.new_ord, l)?;
    }
    let segment = write_segment(
        dir,
        NewSegment {
            stem: &stem,
            postings,
            quant: Quantizer::for_max_weight(old.quantization, max_weight),
            ids: &merged.ids,
            stored: merged.stored,
            num_postings,
            max_weight,
            reordered,
            lexical: merged.lexical,
        },
    )?;
    let mut meta = Meta::new(generation, old.model.clone(), old.quantization, old.store);
    meta.splade = old.splade;
    meta.lexical = old.lexical.clone();
    meta.push_segment(segment);
    Ok(meta)
}

/// The merged segment being assembled, besides its SPLADE postings.
struct Merged<'a> {
    /// New ordinal of every old one (`u32::MAX`: dropped).
    new_ord: Vec<u32>,
    /// External ids by new ordinal.
    ids: Vec<&'a str>,
    stored: Option<StoredWriter>,
    lexical: Option<LexicalBuilder>,
}

impl<'a> Merged<'a> {
    /// Numbers the documents `live` (old ordinals, in their new order) and
    /// copies what each keeps: id, stored text, lexical length.
    fn copy_documents(&mut self, index: &'a Index, live: Vec<u32>) -> Result<(), IndexError> {
        self.ids.reserve(live.len());
        for doc in live {
            self.new_ord[doc as usize] = self.ids.len() as u32;
            self.ids.push(index.doc_id(doc)?);
            if let Some(s) = &mut self.stored {
                s.push(index.stored(doc)?.as_ref())?;
            }
            if let Some(l) = &mut self.lexical {
                l.push_length(index.lexical_doc_len(doc));
            }
        }
        Ok(())
    }
}

/// The live documents of `index` in their new order: as they are, or in
/// the bisection's order.
fn new_order(index: &Index, reorder: bool) -> Vec<u32> {
    let live: Vec<u32> = (0..index.num_docs())
        .filter(|&d| !index.is_deleted(d))
        .collect();
    if !reorder {
        return live;
    }
    let order = reorder::bp_order(&reorder::forward(index, &live));
    order.iter().map(|&i| live[i as usize]).collect()
}

/// Adds every posting of a live document of `index` to `acc` under its new
/// ordinal (`new_ord`, `u32::MAX` for dropped documents), term by term,
/// segment after segment; returns how many.
fn renumber_postings(
    index: &Index,
    new_ord: &[u32],
    acc: &mut Accumulator,
) -> Result<u64, IndexError> {
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
    Ok(postings)
}

/// Adds every lexical posting of a live document of `index` to `out` under
/// its new ordinal (`new_ord`, `u32::MAX` for dropped documents), stem by
/// stem, segment after segment: the df of each stem is thereby recounted
/// over the live documents.
fn renumber_lexical(
    index: &Index,
    new_ord: &[u32],
    out: &mut LexicalBuilder,
) -> Result<(), IndexError> {
    let mut list = Vec::new();
    for seg in &index.segments {
        let Some(lex) = &seg.lexical else { continue };
        for i in 0..lex.terms.len() {
            let stem = lex.terms.term(i);
            list.clear();
            if let Some(l) = lex.list(&lex.terms.info(i)) {
                l.for_each(|d, tf| {
                    let new = new_ord
                        .get((seg.base + d) as usize)
                        .copied()
                        .unwrap_or(u32::MAX);
                    if new != u32::MAX {
                        list.push((new, tf));
                    }
                });
            }
            for &(doc, tf) in &list {
                out.add_posting(doc, stem, tf)?;
            }
        }
    }
    Ok(())
}
