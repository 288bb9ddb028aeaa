//! Building an index: documents are added one by one (ordinals in add
//! order), postings accumulate within a memory budget, and `commit` writes a
//! new segment under fresh names and publishes it by writing `meta.json`
//! last. Until that rename the previous index stays what readers see; a
//! writer dropped without `commit` leaves only temp files, which the next
//! commit removes (no I/O happens in `Drop`). An append writes its segment
//! the same way and publishes it together with the deletes of the documents
//! it replaces (`upsert`).
//!
//! Besides (or, for a lexical-only index, instead of) SPLADE postings, a
//! writer can keep the lexical (BM25) postings of every document
//! ([`WriterOptions::lexical`]): documents then come with their analyzed
//! text ([`IndexWriter::add_document`]), analyzed by the caller so that
//! analysis runs where it is cheapest (on all cores, beside the encoder).

use std::path::{Path, PathBuf};

use crate::index::error::IndexError;
use crate::index::format::meta::{IndexStats, LexicalMeta, Meta, ModelInfo, SegmentMeta, stats_of};
use crate::index::format::quant::{Quantization, Quantizer};
use crate::index::format::stored::{StoredDoc, StoredWriter};
use crate::index::read::ids::IdMap;
use crate::index::read::index::Index;
use crate::index::write::commit::{Change, begin_build, begin_change, publish};
use crate::index::write::delete::with_deletes;
use crate::index::write::lexical::{LexicalBuilder, split_budget};
use crate::index::write::lock::{LockWait, WriteLock};
use crate::index::write::segment::{NewSegment, write_segment};
use crate::index::write::spill::Accumulator;
use crate::lexical::{Bm25Params, TermCounts};

/// How to build an index.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// The model that encoded the documents (recorded in `meta.json`).
    pub model: Option<ModelInfo>,
    /// How impacts are stored; `u16` by default.
    pub quantization: Quantization,
    /// Whether to store titles and texts for display.
    pub store: bool,
    /// Bytes of in-memory postings before a sorted run is spilled to disk.
    pub memory_budget: u64,
    /// Version of splade writing the index.
    pub splade_version: String,
    /// What to do when another writer holds the index.
    pub lock_wait: LockWait,
    /// Keep lexical (BM25) postings of every document, scored with these
    /// parameters; `None` (the default) writes none.
    pub lexical: Option<Bm25Params>,
    /// Keep SPLADE postings (the default); false builds a lexical-only
    /// index, which needs `lexical`.
    pub splade: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            model: None,
            quantization: Quantization::default(),
            store: false,
            memory_budget: 512 << 20,
            splade_version: env!("CARGO_PKG_VERSION").to_string(),
            lock_wait: LockWait::Fail,
            lexical: None,
            splade: true,
        }
    }
}

/// Builds one new index in a directory ([`create`](Self::create)), or one
/// new segment of an existing index ([`append`](Self::append)), published
/// atomically by [`commit`](Self::commit): until then readers see the
/// index as it was, and a writer dropped without `commit` leaves nothing
/// behind. One writer at a time holds an index (`write.lock`).
///
/// After an `Err` from [`add`](Self::add) or
/// [`add_document`](Self::add_document) that is not `DuplicateId`,
/// `IdExists`, `InvalidVector` or `MissingText` (i.e. an I/O error or a
/// limit), drop the writer: the previous index is untouched.
pub struct IndexWriter {
    dir: PathBuf,
    options: WriterOptions,
    generation: u64,
    stem: String,
    /// External ids in ordinal order.
    ids: Strings,
    /// Origins (`file:line`) in ordinal order, for duplicate-id errors.
    origins: Strings,
    /// The ordinals of `ids`.
    seen: IdMap,
    acc: Accumulator,
    /// The lexical postings, when the index keeps them.
    lexical: Option<LexicalBuilder>,
    stored: Option<StoredWriter>,
    max_weight: f32,
    postings: u64,
    /// The index appended to, when appending.
    base: Option<Base>,
    /// Held until the commit is published (or the writer dropped).
    _lock: WriteLock,
}

/// How to append to an index. Quantization, stored fields and model come
/// from the index itself.
#[derive(Clone, Debug)]
pub struct AppendOptions {
    /// Replace live documents with the same id instead of refusing them.
    pub upsert: bool,
    /// Bytes of in-memory postings before a sorted run is spilled to disk.
    pub memory_budget: u64,
    /// What to do when another writer holds the index.
    pub lock_wait: LockWait,
}

impl Default for AppendOptions {
    fn default() -> Self {
        AppendOptions {
            upsert: false,
            memory_budget: WriterOptions::default().memory_budget,
            lock_wait: LockWait::Fail,
        }
    }
}

/// The existing index an appending writer adds a segment to.
struct Base {
    index: Index,
    live: IdMap,
    upsert: bool,
    /// Global ordinals of live documents replaced by `upsert`.
    replaced: Vec<u32>,
}

impl Base {
    /// The live document that `id` replaces (`upsert`), if any; an error
    /// if `id` is live and this is no upsert.
    fn replaced_by(&self, id: &str, origin: &str) -> Result<Option<u32>, IndexError> {
        match self.live.get(id, |d| self.index.doc_id(d))? {
            Some(old) if self.upsert => Ok(Some(old)),
            Some(_) => Err(IndexError::IdExists {
                id: id.to_string(),
                origin: origin.to_string(),
            }),
            None => Ok(None),
        }
    }
}

/// Strings concatenated in one buffer, with end offsets: one allocation
/// instead of one per document.
#[derive(Default)]
struct Strings {
    text: String,
    ends: Vec<usize>,
}

impl Strings {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len() as u32).map(|i| self.get(i))
    }
}

impl IndexWriter {
    /// Prepares a build into `dir` (created if missing). Refuses a non-empty
    /// directory that is neither an index nor leftovers of one, and a
    /// directory another writer holds ([`IndexError::Locked`], unless
    /// `options.lock_wait` says wait).
    pub fn create(dir: &Path, options: WriterOptions) -> Result<IndexWriter, IndexError> {
        if !options.splade && options.lexical.is_none() {
            return Err(IndexError::Incompatible {
                path: dir.to_path_buf(),
                message: "an index without SPLADE postings needs lexical ones".into(),
            });
        }
        let change = begin_build(dir, options.lock_wait)?;
        Self::start(dir, options, change)
    }

    /// A writer of a new segment under the held `change`.
    fn start(
        dir: &Path,
        options: WriterOptions,
        change: Change,
    ) -> Result<IndexWriter, IndexError> {
        let Change { lock, generation } = change;
        let stem = format!("seg-{generation:06}");
        let stored = if options.store {
            Some(StoredWriter::create(dir, &format!("{stem}.sto"))?)
        } else {
            None
        };
        let (splade_budget, lexical_budget) = split_budget(
            options.memory_budget,
            options.splade,
            options.lexical.is_some(),
        );
        let lexical = options
            .lexical
            .map(|_| LexicalBuilder::new(dir, &stem, lexical_budget));
        Ok(IndexWriter {
            dir: dir.to_path_buf(),
            acc: Accumulator::new(dir, &stem, splade_budget),
            lexical,
            options,
            generation,
            stem,
            ids: Strings::default(),
            origins: Strings::default(),
            seen: IdMap::default(),
            stored,
            max_weight: 0.0,
            postings: 0,
            base: None,
            _lock: lock,
        })
    }

    /// Prepares an append to the index in `dir`: the documents added become
    /// a new segment, published with `commit` together with the deletes of
    /// the documents they replace (`upsert`). Until then searches see the
    /// index as it was.
    pub fn append(dir: &Path, options: AppendOptions) -> Result<IndexWriter, IndexError> {
        // The lock first: the index appended to is then the latest commit.
        let change = begin_change(dir, options.lock_wait)?;
        let index = Index::open(dir)?;
        let meta = index.meta();
        let writer_options = WriterOptions {
            model: meta.model.clone(),
            quantization: meta.quantization,
            store: meta.store,
            memory_budget: options.memory_budget,
            lock_wait: options.lock_wait,
            lexical: meta.lexical.as_ref().map(LexicalMeta::params),
            splade: meta.splade,
            ..WriterOptions::default()
        };
        let live = IdMap::live(&index)?;
        let mut writer = IndexWriter::start(dir, writer_options, change)?;
        writer.base = Some(Base {
            index,
            live,
            upsert: options.upsert,
            replaced: Vec::new(),
        });
        Ok(writer)
    }

    /// Whether added documents' titles and texts are stored.
    pub fn stores_text(&self) -> bool {
        self.options.store
    }

    /// Whether lexical (BM25) postings are written: then every document
    /// needs its analyzed text ([`add_document`](Self::add_document)).
    pub fn writes_lexical(&self) -> bool {
        self.lexical.is_some()
    }

    /// Whether SPLADE postings are written (false for a lexical-only index).
    pub fn writes_splade(&self) -> bool {
        self.options.splade
    }

    /// Documents of the existing index that the added ones replace.
    pub fn replaced(&self) -> usize {
        self.base.as_ref().map_or(0, |b| b.replaced.len())
    }

    /// Number of documents added so far.
    pub fn num_docs(&self) -> u64 {
        self.ids.len() as u64
    }

    /// Adds the next document, its terms as `(token, weight)` pairs (e.g.
    /// [`Encoder::terms`](crate::Encoder::terms) of its vector). `terms` may
    /// come in any order; each weight must be finite and positive and each
    /// token appear once. Errors name the document by its place among those
    /// added (`document 3`). An index that stores texts stores none for it;
    /// a writer of lexical postings refuses it ([`IndexError::MissingText`]):
    /// use [`add_document`](Self::add_document).
    pub fn add(&mut self, id: &str, terms: &[(&str, f32)]) -> Result<(), IndexError> {
        self.add_from(id, terms, None, &self.next_origin())
    }

    /// [`add`](Self::add), with the title and text to store when the index
    /// stores texts ([`WriterOptions::store`]).
    pub fn add_stored(
        &mut self,
        id: &str,
        terms: &[(&str, f32)],
        stored: &StoredDoc,
    ) -> Result<(), IndexError> {
        self.add_from(id, terms, Some(stored), &self.next_origin())
    }

    /// How errors name the next document of a library caller.
    fn next_origin(&self) -> String {
        format!("document {}", self.ids.len() + 1)
    }

    /// Adds the next document (see [`add`](Self::add)); `origin` (e.g.
    /// `docs.jsonl:3`) is what errors quote.
    pub(crate) fn add_from(
        &mut self,
        id: &str,
        terms: &[(&str, f32)],
        stored: Option<&StoredDoc>,
        origin: &str,
    ) -> Result<(), IndexError> {
        self.add_document_from(id, terms, None, stored, origin)
    }

    /// [`add_stored`](Self::add_stored) with the document's analyzed text,
    /// `lexical` (`TermCounts::of` its
    /// [`document_text`](crate::lexical::document_text)): required when the
    /// writer [`writes_lexical`](Self::writes_lexical), ignored otherwise. A
    /// lexical-only writer takes no SPLADE `terms`.
    pub fn add_document(
        &mut self,
        id: &str,
        terms: &[(&str, f32)],
        lexical: Option<&TermCounts>,
        stored: Option<&StoredDoc>,
    ) -> Result<(), IndexError> {
        self.add_document_from(id, terms, lexical, stored, &self.next_origin())
    }

    /// [`add_document`](Self::add_document); `origin` is what errors quote.
    pub(crate) fn add_document_from(
        &mut self,
        id: &str,
        terms: &[(&str, f32)],
        lexical: Option<&TermCounts>,
        stored: Option<&StoredDoc>,
        origin: &str,
    ) -> Result<(), IndexError> {
        if let Some(first) = self.seen.get(id, |d| Ok(self.ids.get(d)))? {
            return Err(IndexError::DuplicateId {
                id: id.to_string(),
                first: self.origins.get(first).to_string(),
                second: origin.to_string(),
            });
        }
        let replaces = match &self.base {
            Some(base) => base.replaced_by(id, origin)?,
            None => None,
        };
        validate(id, terms, origin)?;
        if !self.options.splade && !terms.is_empty() {
            return Err(IndexError::InvalidVector {
                origin: origin.to_string(),
                id: id.to_string(),
                message: "the index has no SPLADE postings (lexical-only)".into(),
            });
        }
        let lexical = match (&self.lexical, lexical) {
            (Some(_), None) => {
                return Err(IndexError::MissingText {
                    origin: origin.to_string(),
                    id: id.to_string(),
                });
            }
            (Some(_), Some(counts)) => Some(counts),
            (None, _) => None,
        };
        let doc = u32::try_from(self.ids.len())
            .ok()
            .filter(|&d| d < u32::MAX)
            .ok_or_else(|| IndexError::Limit("more than 2^32 - 2 documents".into()))?;
        if let Some(s) = &mut self.stored {
            s.push(stored)?;
        }
        if let (Some(builder), Some(counts)) = (&mut self.lexical, lexical) {
            builder.add_doc(doc, counts)?;
        }
        self.acc.add(doc, terms)?;
        for &(_, w) in terms {
            self.max_weight = self.max_weight.max(w);
        }
        self.postings += terms.len() as u64;
        self.seen.insert(id, doc);
        self.ids.push(id);
        self.origins.push(origin);
        if let (Some(base), Some(old)) = (&mut self.base, replaces) {
            base.replaced.push(old);
        }
        Ok(())
    }

    /// Number of sorted runs spilled to disk so far (for tests and logs).
    pub fn spilled_runs(&self) -> usize {
        self.acc.runs()
    }

    /// Writes the segment, publishes it atomically (`meta.json` last),
    /// removes files the new `meta.json` does not reference, and returns
    /// what the index holds now.
    pub fn commit(mut self) -> Result<IndexStats, IndexError> {
        let base = self.base.take();
        // An append of nothing adds no empty segment.
        let segment = if base.is_none() || self.ids.len() > 0 {
            Some(self.write_segment()?)
        } else {
            None
        };
        let (mut meta, base_generation) = match &base {
            Some(b) => (
                with_deletes(&b.index, &b.replaced, self.generation)?,
                Some(b.index.meta().generation),
            ),
            None => {
                let mut meta = Meta::new(
                    self.generation,
                    self.options.model.clone(),
                    self.options.quantization,
                    self.options.store,
                );
                meta.splade = self.options.splade;
                meta.lexical = self.options.lexical.map(LexicalMeta::new);
                (meta, None)
            }
        };
        if let Some(segment) = segment {
            meta.push_segment(segment);
        }
        meta.splade_version = self.options.splade_version.clone();
        drop(base);
        publish(&self.dir, &meta, base_generation)?;
        Ok(stats_of(&meta))
    }

    /// Writes the files of the new segment (not yet published).
    fn write_segment(&mut self) -> Result<SegmentMeta, IndexError> {
        let postings = std::mem::replace(&mut self.acc, Accumulator::new(&self.dir, &self.stem, 0));
        let ids: Vec<&str> = self.ids.iter().collect();
        let segment = NewSegment {
            stem: &self.stem,
            postings,
            quant: Quantizer::for_max_weight(self.options.quantization, self.max_weight),
            ids: &ids,
            stored: self.stored.take(),
            num_postings: self.postings,
            max_weight: self.max_weight,
            reordered: false,
            lexical: self.lexical.take(),
        };
        write_segment(&self.dir, segment)
    }
}

/// Rejects weights that are not finite and positive, empty and repeated tokens.
fn validate(id: &str, terms: &[(&str, f32)], origin: &str) -> Result<(), IndexError> {
    let bad = |message: String| IndexError::InvalidVector {
        origin: origin.to_string(),
        id: id.to_string(),
        message,
    };
    for &(t, w) in terms {
        if !(w.is_finite() && w > 0.0) {
            return Err(bad(format!(
                "term `{t}` has weight {w}; weights must be finite and > 0"
            )));
        }
        if t.is_empty() {
            return Err(bad("empty term".to_string()));
        }
    }
    let mut sorted: Vec<&str> = terms.iter().map(|t| t.0).collect();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(bad(format!("term `{}` appears more than once", w[0])));
    }
    Ok(())
}
