//! Reading an index: `open` maps every file and checks only what is cheap
//! (magic, version, lengths, headers against `meta.json`); `verify` is the
//! separate full CRC scan. Lookups never panic on damaged bytes: they return
//! empty results, and `verify` names the damaged file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;

use super::deletes::Bitmap;
use super::docs::{DocTable, StoredTable};
use super::error::IndexError;
use super::format::MAGIC_RANGES;
use super::format::MAGIC_TERMS;
use super::format::{HEADER_LEN, MAGIC_DELETES, MAGIC_DOCS, MAGIC_POSTINGS, MAGIC_STORED};
use super::format::{MappedFile, le_u32, to_usize};
use super::meta::{Meta, SegmentMeta, read_meta};
use super::postings::{BLOCK, PostingList};
use super::quant::{Quantization, Quantizer};
use super::rangemax::RangeMax;
use super::terms::{TermDict, TermInfo};
use super::{IndexStats, StoredDoc};

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
    /// pruned search ([`Index::build_range_maxima`]).
    range_max: OnceLock<RangeMax>,
}

impl Segment {
    fn open(dir: &Path, meta: &SegmentMeta, base: u32) -> Result<Segment, IndexError> {
        let need = |ext: &str| {
            meta.file(ext).ok_or_else(|| {
                IndexError::corrupt(
                    dir.join(super::meta::META_FILE),
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
                dir.join(super::meta::META_FILE),
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
    /// built beforehand, in parallel ([`Index::build_range_maxima`]); a
    /// segment reached without that builds them here, sequentially. The
    /// cell's initialisation must not run parallel work: this is called
    /// from inside the parallel loop over a batch's queries, and a rayon
    /// thread that waits inside `get_or_init` may pick up another query
    /// that enters the same `get_or_init`: a deadlock (rayon issue 1251).
    pub(crate) fn range_max(&self) -> &RangeMax {
        self.range_max
            .get_or_init(|| RangeMax::build(self.lists(), self.quant, self.docs))
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

    fn files(&self) -> impl Iterator<Item = &MappedFile> {
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

/// An open, read-only index.
pub struct Index {
    dir: PathBuf,
    meta: Meta,
    pub(crate) segments: Vec<Segment>,
    num_docs: u32,
    /// Deleted global ordinals, ascending.
    deleted: Vec<u32>,
}

impl Index {
    /// Opens the index in `dir`: reads `meta.json`, maps every file and
    /// checks magic, version, lengths and headers. Does not scan the data.
    ///
    /// A commit may publish a new `meta.json` and remove the files of the
    /// one just read before they are opened; a missing file is therefore
    /// retried with a fresh `meta.json` a few times before it is an error.
    pub fn open(dir: &Path) -> Result<Index, IndexError> {
        let mut retries = 0;
        loop {
            match Index::open_once(dir) {
                Err(IndexError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && retries < 10 =>
                {
                    retries += 1;
                }
                result => return result,
            }
        }
    }

    fn open_once(dir: &Path) -> Result<Index, IndexError> {
        let meta = read_meta(dir)?;
        let mut segments = Vec::with_capacity(meta.segments.len());
        let mut base = 0u64;
        for s in &meta.segments {
            if base.saturating_add(s.docs) >= u32::MAX as u64 {
                return Err(IndexError::Limit(format!(
                    "{}: more than 2^32 - 2 documents",
                    dir.display()
                )));
            }
            if meta.store && s.file("sto").is_none() {
                return Err(IndexError::corrupt(
                    dir.join(super::meta::META_FILE),
                    format!(
                        "index stores texts but segment `{}` has no .sto file",
                        s.name
                    ),
                ));
            }
            segments.push(Segment::open(dir, s, base as u32)?);
            base += s.docs;
        }
        if base != meta.docs {
            return Err(IndexError::corrupt(
                dir.join(super::meta::META_FILE),
                format!("segments hold {base} documents, docs says {}", meta.docs),
            ));
        }
        let deleted = segments
            .iter()
            .filter_map(|s| Some((s.base, &s.deleted.as_ref()?.1)))
            .flat_map(|(base, bits)| bits.iter().map(move |d| base + d))
            .collect();
        Ok(Index {
            dir: dir.to_path_buf(),
            meta,
            segments,
            num_docs: base as u32,
            deleted,
        })
    }

    /// Builds in memory the range maxima of the segments that have no
    /// `.bmx`, spread over rayon's threads, outside any lazily initialised
    /// cell (see [`Segment::range_max`]). Pruned searchers call it before
    /// their first query; it costs nothing once they are built.
    pub(crate) fn build_range_maxima(&self) {
        for seg in self.segments.iter().filter(|s| !s.has_range_max()) {
            let lists = (0..seg.terms.len())
                .into_par_iter()
                .map(|i| seg.list(&seg.terms.info(i)));
            let table = RangeMax::build_parallel(lists, seg.quant, seg.docs);
            // Another thread may have set it meanwhile: the same bytes.
            let _ = seg.range_max.set(table);
        }
    }

    /// Computes the CRC32 of every file and compares it with the file's
    /// footer and `meta.json`; the error names the first damaged file.
    pub fn verify(&self) -> Result<(), IndexError> {
        self.segments
            .iter()
            .flat_map(|s| s.files())
            .try_for_each(|f| f.verify())
    }

    /// The directory the index was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `meta.json`.
    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The model that encoded the documents, as the writer recorded it
    /// (`None` for an index built from vectors without naming one).
    pub fn model(&self) -> Option<&super::ModelInfo> {
        self.meta.model.as_ref()
    }

    /// Counts and total size of the index.
    pub fn stats(&self) -> IndexStats {
        super::stats_of(&self.meta)
    }

    /// Number of document ordinals (`0..num_docs()`), deleted ones included.
    pub fn num_docs(&self) -> u32 {
        self.num_docs
    }

    /// Number of documents not deleted.
    pub fn live_docs(&self) -> u32 {
        self.num_docs - self.deleted.len() as u32
    }

    /// The deleted ordinals, ascending; searches never return them.
    pub fn deleted_docs(&self) -> &[u32] {
        &self.deleted
    }

    /// Whether ordinal `doc` is deleted.
    pub fn is_deleted(&self, doc: u32) -> bool {
        self.deleted.binary_search(&doc).is_ok()
    }

    /// The segment holding global ordinal `doc` and the local ordinal.
    fn locate(&self, doc: u32) -> (&Segment, u32) {
        let (i, local) = self.locate_segment(doc);
        (&self.segments[i], local)
    }

    /// The index of the segment holding global ordinal `doc`, and the
    /// local ordinal.
    pub(crate) fn locate_segment(&self, doc: u32) -> (usize, u32) {
        assert!(
            doc < self.num_docs,
            "doc ordinal {doc} out of range ({} docs)",
            self.num_docs
        );
        let i = self.segments.partition_point(|s| s.base <= doc) - 1;
        (i, doc - self.segments[i].base)
    }

    /// The external id of ordinal `doc` (empty if its bytes are damaged).
    ///
    /// # Panics
    /// If `doc >= num_docs()`.
    pub fn doc_id(&self, doc: u32) -> &str {
        let (s, local) = self.locate(doc);
        s.doc_table.id(local)
    }

    /// The stored title and text of `doc`; `None` when the index was built
    /// without `store` (or the record is damaged).
    ///
    /// # Panics
    /// If `doc >= num_docs()`.
    pub fn stored(&self, doc: u32) -> Option<StoredDoc> {
        let (s, local) = self.locate(doc);
        s.stored.as_ref()?.get(local)
    }

    /// The (dequantized) vector of `doc`, sorted by token. This probes every
    /// term of the segment through the block directories, so it costs
    /// milliseconds: meant for `explain`, not for ranking.
    ///
    /// # Panics
    /// If `doc >= num_docs()`.
    pub fn doc_vector(&self, doc: u32) -> Vec<(String, f32)> {
        let (s, local) = self.locate(doc);
        let mut out = Vec::new();
        for i in 0..s.terms.len() {
            let info = s.terms.info(i);
            let Some(list) = s.list(&info) else { continue };
            let last = list.num_blocks().checked_sub(1).map(|b| list.block_meta(b));
            if last.is_none_or(|m| m.last_doc < local) {
                continue;
            }
            if let Some(code) = list.find(local) {
                out.push((s.terms.term(i).to_string(), s.quant.decode(code)));
            }
        }
        out
    }
}
