//! Reading an index: `open` maps every file and checks only what is cheap
//! (magic, version, lengths, headers against `meta.json`, where each page
//! table is), the same work at any size; `verify` is the separate full CRC
//! scan. Every read checks the pages it covers by their CRC32s, once per
//! process (`format/pages.rs`), and never uses a damaged page: lookups
//! leave out what it held, never panic, and the file records the damage,
//! which every search, and every call that returns ids or texts, reports
//! as an error instead of an answer ([`Index::check`]).

use std::path::{Path, PathBuf};

use crate::index::error::IndexError;
use crate::index::format::meta::{IndexStats, META_FILE, Meta, ModelInfo, read_meta, stats_of};
use crate::index::format::stored::StoredDoc;
use crate::index::read::segment::Segment;

/// What reads have checked of one file of an open index (not part of the
/// API: tests and benchmarks, through `splade::internal`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedPages {
    /// The file's name.
    pub file: String,
    /// Bytes per page (the whole file before format 6).
    pub page_size: usize,
    /// Number of pages.
    pub pages: usize,
    /// The pages whose checksums have passed, ascending.
    pub checked: Vec<usize>,
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
    /// checks magic, version, lengths and headers (and the pages they lie
    /// in). Does not scan the data: each page is checked when a query
    /// first reads it.
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
                    dir.join(META_FILE),
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
                dir.join(META_FILE),
                format!("segments hold {base} documents, docs says {}", meta.docs),
            ));
        }
        let deleted = segments
            .iter()
            .filter_map(|s| Some((s.base, s.deleted()?)))
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
        for seg in &self.segments {
            seg.build_range_max();
        }
    }

    /// Computes the CRC32 of every file and of each of its pages, and
    /// compares them with the file's page table, footer and `meta.json`;
    /// the error names the first damaged file. Then checks that each
    /// segment's document lengths add up to the token count its header and
    /// `meta.json` state. Reads every byte: searches need not call it.
    pub fn verify(&self) -> Result<(), IndexError> {
        self.segments
            .iter()
            .flat_map(|s| s.files())
            .try_for_each(|f| f.verify())?;
        self.segments
            .iter()
            .filter_map(|s| s.lexical.as_ref())
            .try_for_each(|l| l.verify())
    }

    /// `Ok` unless a read found a damaged page: then the error names the
    /// file and the page. Searches and the calls that return ids or texts
    /// call it before they answer, so nothing is ever answered from what a
    /// damaged page left out; once damage is found, every later search of
    /// this `Index` fails. Costs a look at each file, no reading.
    pub fn check(&self) -> Result<(), IndexError> {
        match self.segments.iter().find_map(Segment::damage) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// `result`, unless a read found damage ([`check`](Self::check)).
    pub(crate) fn checked<T>(&self, result: T) -> Result<T, IndexError> {
        self.check().map(|()| result)
    }

    /// Bytes checksummed by reads since the index was opened, opening
    /// included (tests and benchmarks: what open and a query cost).
    pub(crate) fn checked_bytes(&self) -> u64 {
        self.segments
            .iter()
            .flat_map(|s| s.files())
            .map(|f| f.checked_bytes())
            .sum()
    }

    /// What reads have checked of each file so far.
    pub(crate) fn checked_pages(&self) -> Vec<CheckedPages> {
        self.segments
            .iter()
            .flat_map(|s| s.files())
            .map(|f| {
                let name = f.path.file_name().unwrap_or_default();
                let (page_size, pages, checked) = f.passed_pages();
                CheckedPages {
                    file: name.to_string_lossy().into_owned(),
                    page_size,
                    pages,
                    checked,
                }
            })
            .collect()
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
    pub fn model(&self) -> Option<&ModelInfo> {
        self.meta.model.as_ref()
    }

    /// Counts and total size of the index.
    pub fn stats(&self) -> IndexStats {
        stats_of(&self.meta)
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

    /// The external id of ordinal `doc`; an error naming the file when its
    /// bytes are damaged.
    ///
    /// # Panics
    /// If `doc >= num_docs()`.
    pub fn doc_id(&self, doc: u32) -> Result<&str, IndexError> {
        let (s, local) = self.locate(doc);
        s.doc_id(local)
    }

    /// The stored title and text of `doc`; `None` when the index was built
    /// without `store`, an error naming the file when the record is
    /// damaged.
    ///
    /// # Panics
    /// If `doc >= num_docs()`.
    pub fn stored(&self, doc: u32) -> Result<Option<StoredDoc>, IndexError> {
        let (s, local) = self.locate(doc);
        s.stored(local)
    }

    /// The (dequantized) vector of `doc`, sorted by token; an error when a
    /// page it read is damaged. This probes every term of the segment
    /// through the block directories, so it costs milliseconds: meant for
    /// `explain`, not for ranking.
    ///
    /// # Panics
    /// If `doc >= num_docs()`.
    pub fn doc_vector(&self, doc: u32) -> Result<Vec<(String, f32)>, IndexError> {
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
        self.checked(out)
    }
}

impl Index {
    /// The ordinal of the live document with external id `id`, if any.
    /// Scans the doc tables (newest segment first): for one lookup, not for
    /// many. An error when a damaged page stops the scan.
    pub fn find(&self, id: &str) -> Result<Option<u32>, IndexError> {
        for d in (0..self.num_docs()).rev() {
            if self.doc_id(d)? == id && !self.is_deleted(d) {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }
}
