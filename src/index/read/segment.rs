//! One open segment: its files mapped and checked against `meta.json`
//! (magic, version, lengths, headers; no data scan), and the posting list
//! of a dictionary entry. Its lexical files are `lexical.rs`'s. Every read
//! checks the pages it covers (`format/pages.rs`); what a damaged page
//! leaves out is recorded in its file and reported by
//! [`damage`](Segment::damage).

use std::path::Path;
use std::sync::OnceLock;

use crate::index::error::IndexError;
use crate::index::format::block::PostingList;
use crate::index::format::deletes::Bitmap;
use crate::index::format::doc_table::DocTable;
use crate::index::format::forward::{Forward, ForwardBuilder};
use crate::index::format::frame::{
    MAGIC_DELETES, MAGIC_DOCS, MAGIC_FORWARD, MAGIC_POSTINGS, MAGIC_RANGES, MAGIC_STORED,
    MAGIC_TERMS, MappedFile,
};
use crate::index::format::meta::{META_FILE, SegmentMeta};
use crate::index::format::postings::Postings;
use crate::index::format::quant::Quantizer;
use crate::index::format::range_max::RangeMax;
use crate::index::format::stored::{StoredDoc, StoredTable};
use crate::index::format::terms::{TermDict, TermInfo};
#[cfg(doc)]
use crate::index::read::index::Index;
use crate::index::read::lexical::LexicalSegment;
use crate::index::read::maxima;

/// One open segment.
pub(crate) struct Segment {
    /// Global ordinal of the segment's first document.
    pub(crate) base: u32,
    /// Number of document ordinals, deleted ones included.
    pub(crate) docs: u32,
    /// The quantizer of the `.pst` header (a copy, for scoring).
    pub(crate) quant: Quantizer,
    postings: Postings,
    pub(crate) terms: TermDict,
    doc_table: DocTable,
    stored: Option<StoredTable>,
    /// The deletes bitmap and its file, when documents are deleted.
    deleted: Option<(MappedFile, Bitmap)>,
    /// The lexical (BM25) postings, when the index has them.
    pub(crate) lexical: Option<LexicalSegment>,
    /// Block-max bounds: from the `.bmx`, or built in memory before a
    /// pruned search ([`Index::build_range_maxima`]).
    range_max: OnceLock<RangeMax>,
    /// Forward postings per range: from the `.fwd` (format 7), or built in
    /// memory with the range maxima.
    forward: OnceLock<Forward>,
}

impl Segment {
    /// Opens the files `meta` lists (cheap checks only: frames, headers,
    /// counts against `meta.json`); `base` is the global ordinal of its
    /// first document.
    pub(crate) fn open(dir: &Path, meta: &SegmentMeta, base: u32) -> Result<Segment, IndexError> {
        check_files(dir, meta)?;
        let open = |ext: &str, magic| match meta.file(ext) {
            Some(f) => MappedFile::open(dir, f, magic).map(Some),
            None => Ok(None),
        };
        let need = |ext: &str, magic| {
            open(ext, magic)?.ok_or_else(|| {
                IndexError::corrupt(
                    dir.join(META_FILE),
                    format!("segment {} lists no .{ext} file", meta.name),
                )
            })
        };
        let postings = Postings::open(need("pst", MAGIC_POSTINGS)?, meta.scale)?;
        let terms = TermDict::open(need("ter", MAGIC_TERMS)?)?;
        if terms.len() as u64 != meta.terms {
            return Err(terms.file().corrupt(format!(
                "{} terms, meta.json says {}",
                terms.len(),
                meta.terms
            )));
        }
        let doc_table = DocTable::open(need("doc", MAGIC_DOCS)?, meta.docs)?;
        let stored = match open("sto", MAGIC_STORED)? {
            Some(file) => Some(StoredTable::open(file, meta.docs)?),
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
        if let Some(file) = open("bmx", MAGIC_RANGES)? {
            let _ = range_max.set(RangeMax::open(file, meta.docs as u32, terms.len())?);
        }
        let forward = OnceLock::new();
        if let Some(file) = open("fwd", MAGIC_FORWARD)? {
            let width = postings.quant().scheme.width();
            let _ = forward.set(Forward::open(file, meta.docs as u32, terms.len(), width)?);
        }
        let lexical = match &meta.lexical {
            Some(counts) => Some(LexicalSegment::open(dir, meta, counts)?),
            None => None,
        };
        Ok(Segment {
            base,
            docs: meta.docs as u32,
            quant: postings.quant(),
            postings,
            terms,
            doc_table,
            stored,
            deleted,
            lexical,
            range_max,
            forward,
        })
    }

    /// The per-range maxima of every term. A pruned `Searcher` has them
    /// built beforehand, in parallel ([`Index::build_range_maxima`]); a
    /// segment reached without that builds them here, sequentially. The
    /// cell's initialisation must not run parallel work: this is called
    /// from inside the parallel loop over a batch's queries, and a rayon
    /// thread that waits inside `get_or_init` may pick up another query
    /// that enters the same `get_or_init`: a deadlock (rayon issue 1251).
    pub(crate) fn range_max(&self) -> &RangeMax {
        self.range_max
            .get_or_init(|| maxima::build(self.lists(), self.quant, self.docs))
    }

    /// The forward postings of every range (see [`range_max`](Self::range_max)
    /// for when they are built here).
    pub(crate) fn forward(&self) -> &Forward {
        self.forward.get_or_init(|| self.build_forward())
    }

    fn build_forward(&self) -> Forward {
        let list = |i| self.list(&self.terms.info(i));
        let width = self.quant.scheme.width();
        ForwardBuilder::from_lists(list, self.terms.len(), self.docs, width).into_forward()
    }

    /// Builds the range maxima (spread over rayon's threads) and the
    /// forward postings in memory, unless they are ready: what
    /// [`Index::build_range_maxima`] does for each segment, outside any
    /// lazily initialised cell.
    pub(crate) fn build_range_max(&self) {
        if self.range_max.get().is_none() {
            let list = |i| self.list(&self.terms.info(i));
            let table = maxima::build_parallel(list, self.terms.len(), self.quant, self.docs);
            // Another thread may have set it meanwhile: the same bytes.
            let _ = self.range_max.set(table);
        }
        if self.forward.get().is_none() {
            let _ = self.forward.set(self.build_forward());
        }
    }

    /// Whether the range maxima and forward postings are ready (on disk or
    /// built).
    #[cfg(test)]
    pub(crate) fn has_range_max(&self) -> bool {
        self.range_max.get().is_some() && self.forward.get().is_some()
    }

    /// Every dictionary entry's posting list (`None` when damaged).
    fn lists(&self) -> impl Iterator<Item = Option<PostingList<'_>>> {
        (0..self.terms.len()).map(|i| self.list(&self.terms.info(i)))
    }

    /// The posting list a dictionary entry points at (`None` if damaged).
    pub(crate) fn list(&self, info: &TermInfo) -> Option<PostingList<'_>> {
        self.postings.list(info)
    }

    pub(crate) fn files(&self) -> impl Iterator<Item = &MappedFile> {
        [
            Some(self.postings.file()),
            Some(self.terms.file()),
            Some(self.doc_table.file()),
            self.stored.as_ref().map(|s| s.file()),
            self.deleted.as_ref().map(|d| &d.0),
            self.range_max.get().and_then(|r| r.file()),
            self.forward.get().and_then(|f| f.file()),
        ]
        .into_iter()
        .flatten()
        .chain(self.lexical.iter().flat_map(|l| l.files()))
    }

    /// The first damage a read of any of the segment's files found.
    pub(crate) fn damage(&self) -> Option<IndexError> {
        self.files().find_map(MappedFile::damage)
    }

    /// The external id of local ordinal `doc`; an error when its bytes are
    /// damaged.
    pub(crate) fn doc_id(&self, doc: u32) -> Result<&str, IndexError> {
        let file = self.doc_table.file();
        self.doc_table
            .id(doc)
            .ok_or_else(|| file.damaged(|| format!("the id of local document {doc} is not UTF-8")))
    }

    /// The stored document of local ordinal `doc`; `None` when the segment
    /// stores none, an error when the record is damaged.
    pub(crate) fn stored(&self, doc: u32) -> Result<Option<StoredDoc>, IndexError> {
        let Some(table) = &self.stored else {
            return Ok(None);
        };
        match table.get(doc) {
            Some(d) => Ok(Some(d)),
            None => Err(table
                .file()
                .damaged(|| format!("the record of local document {doc} does not decode"))),
        }
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

/// Refuses a segment whose `meta.json` entry lists a file that is not one
/// read here, or whose name is not plain: a damaged name must not silently
/// drop a file (the stored texts) or point outside the directory.
fn check_files(dir: &Path, meta: &SegmentMeta) -> Result<(), IndexError> {
    let known = [
        "pst", "ter", "doc", "sto", "bmx", "fwd", "lxp", "lxt", "lxd",
    ]
    .iter()
    .filter(|ext| meta.file(ext).is_some())
    .count();
    if known != meta.files.len() || meta.name.contains(['/', '\\']) || meta.name == ".." {
        return Err(IndexError::corrupt(
            dir.join(META_FILE),
            format!("segment `{}` lists unexpected files", meta.name),
        ));
    }
    Ok(())
}
