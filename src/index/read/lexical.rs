//! Reading lexical (BM25) postings: a segment's `.lxp`, `.lxt` and `.lxd`
//! mapped and checked against `meta.json`, and what an [`Index`] tells
//! about them: whether it has them (or SPLADE postings), its BM25
//! parameters, the global statistics summed over the segments (`N`
//! counting deleted documents until `compact`, see `docs/format.md`), and
//! the analyzed terms of a query. Scoring is `search::bm25`.

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::block::PostingList;
use crate::index::format::frame::{FileMeta, MappedFile};
use crate::index::format::lexical::{
    DocLengths, LexPostings, MAGIC_LEX_LENGTHS, MAGIC_LEX_POSTINGS, MAGIC_LEX_TERMS,
};
use crate::index::format::meta::{META_FILE, SegmentLexical, SegmentMeta};
use crate::index::format::terms::{TermDict, TermInfo};
use crate::index::read::index::Index;
use crate::lexical::{Analyzer, Bm25Params, CollectionStats};

/// The lexical files of one open segment.
pub(crate) struct LexicalSegment {
    postings: LexPostings,
    /// The stems, with each one's df in this segment.
    pub(crate) terms: TermDict,
    lengths: DocLengths,
}

impl LexicalSegment {
    /// Opens the lexical files `meta` lists (cheap checks: frames, headers,
    /// counts against `counts`).
    pub(crate) fn open(
        dir: &Path,
        meta: &SegmentMeta,
        counts: &SegmentLexical,
    ) -> Result<LexicalSegment, IndexError> {
        let need = |ext: &str, magic| -> Result<MappedFile, IndexError> {
            let file: &FileMeta = meta.file(ext).ok_or_else(|| {
                IndexError::corrupt(
                    dir.join(META_FILE),
                    format!("segment {} lists no .{ext} file", meta.name),
                )
            })?;
            MappedFile::open(dir, file, magic)
        };
        let postings = LexPostings::open(need("lxp", MAGIC_LEX_POSTINGS)?)?;
        let terms = TermDict::open(need("lxt", MAGIC_LEX_TERMS)?)?;
        if terms.len() as u64 != counts.terms {
            return Err(terms.file().corrupt(format!(
                "{} stems, meta.json says {}",
                terms.len(),
                counts.terms
            )));
        }
        let lengths = DocLengths::open(need("lxd", MAGIC_LEX_LENGTHS)?, meta.docs, counts.tokens)?;
        Ok(LexicalSegment {
            postings,
            terms,
            lengths,
        })
    }

    /// The mapped files (for `verify`).
    pub(crate) fn files(&self) -> [&MappedFile; 3] {
        [self.postings.file(), self.terms.file(), self.lengths.file()]
    }

    /// The checks of `verify` beyond the CRCs: the lengths add up.
    pub(crate) fn verify(&self) -> Result<(), IndexError> {
        self.lengths.check_sum()
    }

    /// The `(doc, tf)` list a dictionary entry points at (`None` if damaged).
    pub(crate) fn list(&self, info: &TermInfo) -> Option<PostingList<'_>> {
        self.postings.list(info)
    }

    /// The dictionary entry of `stem`, if this segment has it.
    pub(crate) fn lookup(&self, stem: &str) -> Option<TermInfo> {
        self.terms.lookup(stem)
    }

    /// The length of local ordinal `doc` (0 when out of range or damaged).
    #[inline]
    pub(crate) fn doc_len(&self, doc: u32) -> u32 {
        self.lengths.get(doc)
    }

    /// The sum of the segment's document lengths.
    pub(crate) fn tokens(&self) -> u64 {
        self.lengths.tokens()
    }
}

impl Index {
    /// Whether the index has lexical (BM25) postings: built with format 5
    /// or later and without `--no-lexical`.
    pub fn has_lexical(&self) -> bool {
        self.meta().lexical.is_some()
    }

    /// Whether the index has SPLADE postings: false only for an index built
    /// with `--lexical-only`.
    pub fn has_splade(&self) -> bool {
        self.meta().splade
    }

    /// `Ok` when the index has lexical postings, else
    /// [`IndexError::NoLexical`], whose message says how to rebuild.
    pub fn require_lexical(&self) -> Result<(), IndexError> {
        if self.has_lexical() {
            Ok(())
        } else {
            Err(IndexError::NoLexical {
                path: self.dir().to_path_buf(),
            })
        }
    }

    /// `Ok` when the index has SPLADE postings, else
    /// [`IndexError::NoSplade`]: what a SPLADE or hybrid search checks
    /// before it encodes a query.
    pub fn require_splade(&self) -> Result<(), IndexError> {
        if self.has_splade() {
            Ok(())
        } else {
            Err(IndexError::NoSplade {
                path: self.dir().to_path_buf(),
            })
        }
    }

    /// The BM25 parameters the index records (`None` without lexical
    /// postings).
    pub fn bm25_params(&self) -> Option<Bm25Params> {
        self.meta().lexical.as_ref().map(|l| l.params())
    }

    /// BM25's collection statistics: `N` = every document ordinal, deleted
    /// ones included (until `compact`), and the sum of all their lengths,
    /// so that `avgdl = tokens / N`. Zero tokens without lexical postings.
    pub fn lexical_stats(&self) -> CollectionStats {
        CollectionStats {
            docs: u64::from(self.num_docs()),
            tokens: self
                .segments
                .iter()
                .filter_map(|s| s.lexical.as_ref())
                .map(LexicalSegment::tokens)
                .sum(),
        }
    }

    /// The terms of a query (or any text) as the index's analyzer makes
    /// them, in order, repeats kept: what [`search_bm25`] scores, one
    /// weight per term. For an index without lexical postings, the terms
    /// this build's analyzer ([`Analyzer::english`]) makes.
    ///
    /// [`search_bm25`]: crate::search::search_bm25
    pub fn lexical_terms(&self, text: &str) -> Vec<String> {
        // Format 5 knows one analyzer; `meta.json` naming another is refused
        // when it is read.
        Analyzer::english().analyze(text)
    }

    /// The document frequency of `stem` over the whole index: the sum of
    /// the segments' df, deleted documents included until `compact`.
    /// A damaged dictionary page counts nothing and is reported by
    /// [`Index::check`] (as [`explain_bm25`] does).
    ///
    /// [`explain_bm25`]: crate::search::explain_bm25
    pub fn lexical_df(&self, stem: &str) -> u64 {
        self.segments
            .iter()
            .filter_map(|s| s.lexical.as_ref()?.lookup(stem))
            .map(|info| u64::from(info.doc_freq))
            .sum()
    }

    /// The BM25 length of document `doc` (global ordinal): its terms after
    /// stopword removal; 0 without lexical postings (or when its page is
    /// damaged: [`Index::check`] reports it).
    ///
    /// # Panics
    /// If `doc >= num_docs()`.
    pub fn lexical_doc_len(&self, doc: u32) -> u32 {
        let (i, local) = self.locate_segment(doc);
        self.segments[i]
            .lexical
            .as_ref()
            .map_or(0, |l| l.doc_len(local))
    }
}
