//! Writing the files of a new segment (a build's, an append's or a
//! compaction's): from the accumulated postings the `.pst` posting lists,
//! the `.bmx` range maxima of a large segment and the term dictionary that
//! points into them; then the doc table, the stored documents and the
//! lexical files (`lexical.rs`). Nothing is published here: the caller's
//! commit does that.

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::doc_table::write_doc_table;
use crate::index::format::forward::ForwardBuilder;
use crate::index::format::frame::FileMeta;
use crate::index::format::frame::{MAGIC_POSTINGS, MappedFile};
use crate::index::format::meta::SegmentMeta;
use crate::index::format::postings::{Postings, create_postings};
use crate::index::format::quant::Quantizer;
use crate::index::format::range_max::{RangeMaxWriter, stored_for};
use crate::index::format::stored::StoredWriter;
use crate::index::format::terms::TermDictWriter;
use crate::index::format::terms::TermInfo;
use crate::index::write::lexical::LexicalBuilder;
use crate::index::write::spill::{Accumulator, List};

/// What a new segment is made of.
pub(crate) struct NewSegment<'a> {
    /// File-name stem, `seg-GGGGGG` of the commit's generation.
    pub(crate) stem: &'a str,
    /// Every posting, by token, with new ordinals `0..ids.len()`.
    pub(crate) postings: Accumulator,
    /// How the impacts are quantized.
    pub(crate) quant: Quantizer,
    /// External ids in ordinal order.
    pub(crate) ids: &'a [&'a str],
    /// The stored documents, already streamed (when the index stores them).
    pub(crate) stored: Option<StoredWriter>,
    /// Number of postings in `postings`.
    pub(crate) num_postings: u64,
    /// The largest weight `quant` was derived from.
    pub(crate) max_weight: f32,
    /// Whether the ordinals follow a reordering (`compact --reorder`).
    pub(crate) reordered: bool,
    /// The lexical postings and lengths, when the index keeps them.
    pub(crate) lexical: Option<LexicalBuilder>,
}

/// Writes the files of `segment` in `dir` and returns its `meta.json`
/// entry (its files in the order `.pst`, `.bmx`, `.fwd`, `.ter`, `.doc`,
/// `.sto`, `.lxp`, `.lxt`, `.lxd`).
pub(crate) fn write_segment(dir: &Path, segment: NewSegment) -> Result<SegmentMeta, IndexError> {
    let NewSegment {
        stem,
        postings,
        quant,
        ids,
        stored,
        num_postings,
        max_weight,
        reordered,
        lexical,
    } = segment;
    let mut files = Vec::new();
    // A segment without SPLADE postings (lexical-only) needs no maxima.
    let maxima = stored_for(ids.len() as u32) && num_postings > 0;
    let (pst, bmx, terms, infos) =
        write_postings(dir, stem, postings, quant, ids.len() as u32, maxima)?;
    files.push(pst.clone());
    if let Some(bmx) = bmx {
        files.push(bmx);
        let docs = ids.len() as u32;
        files.push(write_forward(dir, stem, &pst, quant, &infos, docs)?);
    }
    let n_terms = terms.len() as u64;
    files.push(terms.write(dir, &format!("{stem}.ter"))?);
    files.push(write_doc_table(dir, &format!("{stem}.doc"), ids)?);
    if let Some(s) = stored {
        files.push(s.finish()?);
    }
    let lexical = match lexical {
        Some(l) => {
            let (lexical_files, counts) = l.write(dir, stem)?;
            files.extend(lexical_files);
            Some(counts)
        }
        None => None,
    };
    Ok(SegmentMeta {
        name: stem.to_string(),
        docs: ids.len() as u64,
        terms: n_terms,
        postings: num_postings,
        max_weight,
        scale: quant.scale,
        files,
        lexical,
        deletes: None,
        reordered,
    })
}

/// What [`write_postings`] returns: the `.pst`, the `.bmx` if any, the
/// term dictionary still to be written and its entries.
type Written = (FileMeta, Option<FileMeta>, TermDictWriter, Vec<TermInfo>);

/// Writes the `.pst` file, and the `.bmx` when `maxima` (the segment is
/// large enough to be searched with pruning), from the accumulated postings
/// of a segment of `segment_docs` documents; returns them with the term
/// dictionary still to be written.
fn write_postings(
    dir: &Path,
    stem: &str,
    acc: Accumulator,
    quant: Quantizer,
    segment_docs: u32,
    maxima: bool,
) -> Result<Written, IndexError> {
    let mut w = create_postings(dir, &format!("{stem}.pst"), quant)?;
    let mut maxima = if maxima {
        Some(RangeMaxWriter::create(
            dir,
            &format!("{stem}.bmx"),
            segment_docs,
        )?)
    } else {
        None
    };
    let mut dict = TermDictWriter::default();
    let mut infos = Vec::new();
    let mut parts = ListParts::default();
    acc.drain(|term: &str, list: &List| {
        let (docs, codes) = parts.split(list, |wt| quant.encode(wt));
        let info = w.push(docs, codes)?;
        if let Some(m) = &mut maxima {
            m.push(docs, |i| quant.unscaled(codes[i]))?;
        }
        infos.push(info);
        dict.push(term, info)
    })?;
    let maxima = maxima.map(RangeMaxWriter::finish).transpose()?;
    Ok((w.finish()?, maxima, dict, infos))
}

/// Writes the `.fwd` forward postings of a segment of `docs` documents
/// from its just written `.pst` (`infos`: the dictionary's entries), read
/// back through its page checks: the lists are what searches will read.
fn write_forward(
    dir: &Path,
    stem: &str,
    pst: &FileMeta,
    quant: Quantizer,
    infos: &[TermInfo],
    docs: u32,
) -> Result<FileMeta, IndexError> {
    let postings = Postings::open(MappedFile::open(dir, pst, MAGIC_POSTINGS)?, quant.scale)?;
    let list = |i: usize| postings.list(&infos[i]);
    let width = quant.scheme.width();
    let table = ForwardBuilder::from_lists(list, infos.len(), docs, width);
    if let Some(damage) = postings.file().damage() {
        return Err(damage);
    }
    table.write(dir, &format!("{stem}.fwd"))
}

/// A drained list cut into what a list writer takes: ordinals in order, and
/// a code per posting. Buffers are reused from list to list.
#[derive(Default)]
pub(crate) struct ListParts {
    docs: Vec<u32>,
    codes: Vec<u32>,
    sorted: List,
}

impl ListParts {
    /// `list`'s ordinals and `code`s of its values, in ordinal order. Lists
    /// arrive in doc order, except from a reordering compaction, whose new
    /// ordinals are not monotonic in the old ones.
    pub(crate) fn split(&mut self, list: &List, code: impl Fn(f32) -> u32) -> (&[u32], &[u32]) {
        let list = if list.is_sorted_by_key(|p| p.0) {
            list
        } else {
            self.sorted.clone_from(list);
            self.sorted.sort_unstable_by_key(|p| p.0);
            &self.sorted
        };
        self.docs.clear();
        self.codes.clear();
        for &(d, v) in list {
            self.docs.push(d);
            self.codes.push(code(v));
        }
        (&self.docs, &self.codes)
    }
}
