//! One open segment: its files mapped and checked against `meta.json`
//! (magic, version, lengths, headers; no data scan), and the posting list
//! of a dictionary entry.

use std::path::Path;
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::index::error::IndexError;
use crate::index::format::block::{BLOCK, PostingList};
use crate::index::format::deletes::Bitmap;
use crate::index::format::doc_table::DocTable;
use crate::index::format::frame::{HEADER_LEN, MappedFile, le_u32, to_usize};
use crate::index::format::frame::{
    MAGIC_DELETES, MAGIC_DOCS, MAGIC_POSTINGS, MAGIC_RANGES, MAGIC_STORED, MAGIC_TERMS,
};
use crate::index::format::meta::{META_FILE, SegmentMeta};
use crate::index::format::quant::{Quantization, Quantizer};
use crate::index::format::range_max::RangeMax;
use crate::index::format::stored::{StoredDoc, StoredTable};
use crate::index::format::terms::{TermDict, TermInfo};
use crate::index::read::maxima;

/// One open segment.
pub(crate) struct Segment {
    /// Global ordinal of the segment's first document.
    pub(crate) base: u32,
    /// Number of documents.
    pub(crate) docs: u32,
    pub(crate) quant: Quantizer,
    postings: MappedFile,
    pub(crate) terms: TermDict,
    doc_table: DocTable,
    stored: Option<StoredTable>,
    /// The deletes bitmap and its file, when documents are deleted.
    deleted: Option<(MappedFile, Bitmap)>,
    /// Block-max bounds: from the `.bmx`, or built in memory before a
    /// pruned search ([`Index::build_range_maxima`](crate::index::Index::build_range_maxima)).
    range_max: OnceLock<RangeMax>,
}

impl Segment {
    pub(crate) fn open(dir: &Path, meta: &SegmentMeta, base: u32) -> Result<Segment, IndexError> {
        let need = |ext: &str| {
            meta.file(ext).ok_or_else(|| {
                IndexError::corrupt(
                    dir.join(META_FILE),
                    format!("segment {} lists no .{ext} file", meta.name),
                )
            })
        };
        // Every listed file must be one that is read here, under a plain
        // name: a damaged name in meta.json must not silently drop a file
        // (the stored texts) or point outside the directory.
        let known = ["pst", "ter", "doc", "sto", "bmx"]
            .iter()
            .filter(|ext| meta.file(ext).is_some())
            .count();
        if known != meta.files.len() || meta.name.contains(['/', '\\']) || meta.name == ".." {
            return Err(IndexError::corrupt(
                dir.join(META_FILE),
                format!("segment `{}` lists unexpected files", meta.name),
            ));
        }
        let postings = MappedFile::open(dir, need("pst")?, MAGIC_POSTINGS)?;
        let quant = read_postings_header(&postings, meta)?;
        let terms = TermDict::open(MappedFile::open(dir, need("ter")?, MAGIC_TERMS)?)?;
        if terms.len() as u64 != meta.terms {
            return Err(terms.file().corrupt(format!(
                "{} terms, meta.json says {}",
                terms.len(),
                meta.terms
            )));
        }
        let doc_table =
            DocTable::open(MappedFile::open(dir, need("doc")?, MAGIC_DOCS)?, meta.docs)?;
        let stored = match meta.file("sto") {
            Some(f) => Some(StoredTable::open(
                MappedFile::open(dir, f, MAGIC_STORED)?,
                meta.docs,
            )?),
            None => None,
        };
        let deleted = match &meta.deletes {
            Some(d) => {
                let file = MappedFile::open(dir, &d.file, MAGIC_DELETES)?;
                let bits = Bitmap::read(&file, meta.docs, d.count)?;
                Some((file, bits))
            }
            None => None,
        };
        let range_max = OnceLock::new();
        if let Some(f) = meta.file("bmx") {
            let file = MappedFile::open(dir, f, MAGIC_RANGES)?;
            let table = RangeMax::open(file, meta.docs as u32, terms.len())?;
            let _ = range_max.set(table);
        }
        Ok(Segment {
            base,
            docs: meta.docs as u32,
            quant,
            postings,
            terms,
            doc_table,
            stored,
            deleted,
            range_max,
        })
    }

    /// The per-range maxima of every term. A pruned `Searcher` has them
    /// built beforehand, in parallel ([`Index::build_range_maxima`](crate::index::Index::build_range_maxima)); a
    /// segment reached without that builds them here, sequentially. The
    /// cell's initialisation must not run parallel work: this is called
    /// from inside the parallel loop over a batch's queries, and a rayon
    /// thread that waits inside `get_or_init` may pick up another query
    /// that enters the same `get_or_init`: a deadlock (rayon issue 1251).
    pub(crate) fn range_max(&self) -> &RangeMax {
        self.range_max
            .get_or_init(|| maxima::build(self.lists(), self.quant, self.docs))
    }

    /// Builds the range maxima in memory, spread over rayon's threads,
    /// unless they are ready: what [`Index::build_range_maxima`](crate::index::Index::build_range_maxima) does for
    /// each segment, outside any lazily initialised cell.
    pub(crate) fn build_range_max(&self) {
        if self.has_range_max() {
            return;
        }
        let lists = (0..self.terms.len())
            .into_par_iter()
            .map(|i| self.list(&self.terms.info(i)));
        let table = maxima::build_parallel(lists, self.quant, self.docs);
        // Another thread may have set it meanwhile: the same bytes.
        let _ = self.range_max.set(table);
    }

    /// Whether the range maxima are ready (on disk or built).
    pub(crate) fn has_range_max(&self) -> bool {
        self.range_max.get().is_some()
    }

    /// Every dictionary entry's posting list (`None` when damaged).
    fn lists(&self) -> impl Iterator<Item = Option<PostingList<'_>>> {
        (0..self.terms.len()).map(|i| self.list(&self.terms.info(i)))
    }

    /// The posting list a dictionary entry points at (`None` if damaged).
    pub(crate) fn list(&self, info: &TermInfo) -> Option<PostingList<'_>> {
        let start = to_usize(info.offset)?;
        let end = start.checked_add(to_usize(info.len)?)?;
        let bytes = self.postings.bytes().get(start..end)?;
        PostingList::new(bytes, info.doc_freq, self.quant.scheme.width())
    }

    pub(crate) fn files(&self) -> impl Iterator<Item = &MappedFile> {
        [
            Some(&self.postings),
            Some(self.terms.file()),
            Some(self.doc_table.file()),
            self.stored.as_ref().map(|s| s.file()),
            self.deleted.as_ref().map(|d| &d.0),
            self.range_max.get().and_then(|r| r.file()),
        ]
        .into_iter()
        .flatten()
    }

    /// The external id of local ordinal `doc` (empty if its bytes are
    /// damaged).
    pub(crate) fn doc_id(&self, doc: u32) -> &str {
        self.doc_table.id(doc)
    }

    /// The stored document of local ordinal `doc`; `None` when the segment
    /// stores none (or the record is damaged).
    pub(crate) fn stored(&self, doc: u32) -> Option<StoredDoc> {
        self.stored.as_ref()?.get(doc)
    }

    /// The deletes bitmap, when documents of the segment are deleted.
    pub(crate) fn deleted(&self) -> Option<&Bitmap> {
        self.deleted.as_ref().map(|d| &d.1)
    }

    /// A copy of the deletes bitmap (empty when nothing is deleted).
    pub(crate) fn deleted_bitmap(&self) -> Bitmap {
        match &self.deleted {
            Some((_, bits)) => bits.clone(),
            None => Bitmap::empty(self.docs),
        }
    }
}

/// Checks the `.pst` header against `meta.json` and returns its quantizer.
fn read_postings_header(f: &MappedFile, meta: &SegmentMeta) -> Result<Quantizer, IndexError> {
    let b = f.bytes();
    let h = HEADER_LEN as usize;
    let (Some(code), Some(scale), Some(block)) = (le_u32(b, h), le_u32(b, h + 4), le_u32(b, h + 8))
    else {
        return Err(f.corrupt("postings header truncated"));
    };
    let scheme = Quantization::from_code(code)
        .ok_or_else(|| f.corrupt(format!("unknown quantization code {code}")))?;
    let scale = f32::from_bits(scale);
    if scale.to_bits() != meta.scale.to_bits() {
        return Err(f.corrupt(format!(
            "header scale {scale} differs from meta.json scale {}",
            meta.scale
        )));
    }
    if block as usize != BLOCK {
        return Err(f.corrupt(format!("block size {block}, expected {BLOCK}")));
    }
    Ok(Quantizer { scheme, scale })
}
