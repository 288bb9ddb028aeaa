//! Building a segment's lexical (BM25) files: `(doc, tf)` postings per
//! stem accumulate in the same bounded-memory accumulator as SPLADE's
//! (spilled runs `seg-N.lex.run-K.tmp`, the tf as an exact `f32`), beside
//! each document's length; `write` files them as `.lxp`, `.lxt` and
//! `.lxd` (`format/lexical.rs`). A build adds whole documents, a
//! compaction single postings under new ordinals.

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::frame::FileMeta;
use crate::index::format::lexical::{MAGIC_LEX_TERMS, create_lex_postings, write_lengths};
use crate::index::format::meta::SegmentLexical;
use crate::index::format::terms::TermDictWriter;
use crate::index::write::segment::ListParts;
use crate::index::write::spill::{Accumulator, List};
use crate::lexical::TermCounts;

/// The largest tf the accumulator's `f32` holds exactly (2^24).
const MAX_TF: u32 = 1 << 24;

/// The memory budget of a build or compaction split between the SPLADE
/// and the lexical accumulators, `(splade, lexical)`: the lexical postings
/// are the smaller part (about a quarter as many on MS MARCO passages) and
/// get a quarter, unless they are all there is (or absent).
pub(crate) fn split_budget(budget: u64, splade: bool, lexical: bool) -> (u64, u64) {
    if splade && lexical {
        (budget - budget / 4, budget / 4)
    } else {
        (budget, budget)
    }
}

/// The lexical postings and lengths of a segment being built.
pub(crate) struct LexicalBuilder {
    acc: Accumulator,
    /// Length of each document, by new ordinal.
    lengths: Vec<u32>,
    max_tf: u32,
    postings: u64,
}

impl LexicalBuilder {
    /// Runs spill to `<dir>/<stem>.lex.run-K.tmp` past `budget` bytes.
    pub(crate) fn new(dir: &Path, stem: &str, budget: u64) -> Self {
        LexicalBuilder {
            acc: Accumulator::new(dir, &format!("{stem}.lex"), budget),
            lengths: Vec::new(),
            max_tf: 0,
            postings: 0,
        }
    }

    /// Adds document `doc`, the next ordinal, with its analyzed terms.
    pub(crate) fn add_doc(&mut self, doc: u32, counts: &TermCounts) -> Result<(), IndexError> {
        debug_assert_eq!(doc as usize, self.lengths.len());
        let mut terms = Vec::with_capacity(counts.terms().len());
        for (term, tf) in counts.terms() {
            terms.push((term.as_str(), self.tf(*tf)?));
        }
        self.acc.add(doc, &terms)?;
        self.postings += terms.len() as u64;
        self.lengths.push(counts.doc_len());
        Ok(())
    }

    /// Adds one posting (a compaction's, renumbered); postings of one stem
    /// must come in increasing `doc` unless the order is a reordering.
    pub(crate) fn add_posting(&mut self, doc: u32, term: &str, tf: u32) -> Result<(), IndexError> {
        let tf = self.tf(tf)?;
        self.acc.add(doc, &[(term, tf)])?;
        self.postings += 1;
        Ok(())
    }

    /// Appends the length of the next document (a compaction's, whose
    /// postings come separately).
    pub(crate) fn push_length(&mut self, len: u32) {
        self.lengths.push(len);
    }

    /// `tf` as the accumulator holds it, noting the largest.
    fn tf(&mut self, tf: u32) -> Result<f32, IndexError> {
        if tf > MAX_TF {
            return Err(IndexError::Limit(format!(
                "a term occurs {tf} times in one document (at most {MAX_TF})"
            )));
        }
        self.max_tf = self.max_tf.max(tf);
        Ok(tf as f32)
    }

    /// Writes `.lxp`, `.lxt` and `.lxd` of segment `stem` (not published)
    /// and returns them, in that order, with the segment's counts.
    pub(crate) fn write(
        self,
        dir: &Path,
        stem: &str,
    ) -> Result<(Vec<FileMeta>, SegmentLexical), IndexError> {
        let mut w = create_lex_postings(dir, &format!("{stem}.lxp"), self.max_tf)?;
        let mut dict = TermDictWriter::default();
        let mut parts = ListParts::default();
        self.acc.drain(|term: &str, list: &List| {
            let (docs, tfs) = parts.split(list, |tf| tf as u32);
            dict.push(term, w.push(docs, tfs)?)
        })?;
        let terms = u64::from(dict.len());
        let postings = w.finish()?;
        let dictionary = dict.write_as(dir, &format!("{stem}.lxt"), MAGIC_LEX_TERMS)?;
        let lengths = write_lengths(dir, &format!("{stem}.lxd"), &self.lengths)?;
        let counts = SegmentLexical {
            tokens: self.lengths.iter().map(|&l| u64::from(l)).sum(),
            terms,
            postings: self.postings,
        };
        Ok((vec![postings, dictionary, lengths], counts))
    }
}
