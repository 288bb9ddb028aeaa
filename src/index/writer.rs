//! Building an index: documents are added one by one (ordinals in add
//! order), postings accumulate within a memory budget, and `commit` writes a
//! new segment under fresh names and publishes it by writing `meta.json`
//! last. Until that rename the previous index stays what readers see; a
//! writer dropped without `commit` leaves only temp files, which the next
//! commit removes (no I/O happens in `Drop`). An append writes its segment
//! the same way and publishes it together with the deletes of the documents
//! it replaces (`upsert`).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};

use super::commit::{Change, begin_build, begin_change, publish};
use super::deletes::with_deletes;
use super::docs::{StoredWriter, write_doc_table};
use super::error::IndexError;
use super::format::{FileWriter, MAGIC_POSTINGS};
use super::ids::{LiveIds, hash_id};
use super::lock::{LockWait, WriteLock};
use super::meta::{FileMeta, Meta, SegmentMeta};
use super::postings::{BLOCK, encode_list};
use super::quant::Quantizer;
use super::rangemax::RangeMaxWriter;
use super::reader::Index;
use super::spill::{Accumulator, List};
use super::terms::{TermDictWriter, TermInfo};
use super::{FORMAT_VERSION, IndexStats, ModelInfo, Quantization, StoredDoc};

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
        }
    }
}

/// Builds one new index in a directory ([`create`](Self::create)), or one
/// new segment of an existing index ([`append`](Self::append)), published
/// atomically by [`commit`](Self::commit): until then readers see the
/// index as it was, and a writer dropped without `commit` leaves nothing
/// behind. One writer at a time holds an index (`write.lock`).
///
/// After an `Err` from [`add`](Self::add) that is not `DuplicateId` or
/// `InvalidVector` (i.e. an I/O error), drop the writer: the previous index
/// is untouched.
pub struct IndexWriter {
    dir: PathBuf,
    options: WriterOptions,
    generation: u64,
    stem: String,
    /// External ids, concatenated in ordinal order, with end offsets.
    ids: String,
    id_ends: Vec<u64>,
    /// Origins (`file:line`), concatenated, with end offsets.
    origins: String,
    origin_ends: Vec<u64>,
    /// Hash of an id -> first ordinal with that hash; `collisions` holds
    /// later ids whose hash was taken by a different id.
    seen: HashMap<u64, u32>,
    collisions: HashMap<Box<str>, u32>,
    acc: Accumulator,
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
    live: LiveIds,
    upsert: bool,
    /// Global ordinals of live documents replaced by `upsert`.
    replaced: Vec<u32>,
}

impl IndexWriter {
    /// Prepares a build into `dir` (created if missing). Refuses a non-empty
    /// directory that is neither an index nor leftovers of one, and a
    /// directory another writer holds ([`IndexError::Locked`], unless
    /// `options.lock_wait` says wait).
    pub fn create(dir: &Path, options: WriterOptions) -> Result<IndexWriter, IndexError> {
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
        Ok(IndexWriter {
            dir: dir.to_path_buf(),
            acc: Accumulator::new(dir, &stem, options.memory_budget),
            options,
            generation,
            stem,
            ids: String::new(),
            id_ends: Vec::new(),
            origins: String::new(),
            origin_ends: Vec::new(),
            seen: HashMap::new(),
            collisions: HashMap::new(),
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
            ..WriterOptions::default()
        };
        let live = LiveIds::build(&index);
        let mut writer = IndexWriter::start(dir, writer_options, change)?;
        writer.base = Some(Base {
            index,
            live,
            upsert: options.upsert,
            replaced: Vec::new(),
        });
        Ok(writer)
    }

    /// Whether this writer appends to an existing index.
    pub fn is_append(&self) -> bool {
        self.base.is_some()
    }

    /// Whether added documents' titles and texts are stored.
    pub fn stores_text(&self) -> bool {
        self.options.store
    }

    /// Documents of the existing index that the added ones replace.
    pub fn replaced(&self) -> usize {
        self.base.as_ref().map_or(0, |b| b.replaced.len())
    }

    /// Number of documents added so far.
    pub fn num_docs(&self) -> u64 {
        self.id_ends.len() as u64
    }

    fn span<'a>(s: &'a str, ends: &[u64], i: u32) -> &'a str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { ends[i - 1] as usize };
        &s[start..ends[i] as usize]
    }

    /// The ordinal already holding `id`, if any.
    fn find_id(&self, id: &str) -> Option<u32> {
        let first = *self.seen.get(&hash_id(id))?;
        if Self::span(&self.ids, &self.id_ends, first) == id {
            return Some(first);
        }
        self.collisions.get(id).copied()
    }

    fn remember_id(&mut self, id: &str, doc: u32) {
        match self.seen.entry(hash_id(id)) {
            Entry::Vacant(v) => {
                v.insert(doc);
            }
            Entry::Occupied(_) => {
                self.collisions.insert(id.into(), doc);
            }
        }
        self.ids.push_str(id);
        self.id_ends.push(self.ids.len() as u64);
    }

    /// Adds the next document, its terms as `(token, weight)` pairs (e.g.
    /// [`Encoder::terms`](crate::Encoder::terms) of its vector). `terms` may
    /// come in any order; each weight must be finite and positive and each
    /// token appear once. Errors name the document by its place among those
    /// added (`document 3`). An index that stores texts stores none for it.
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
        format!("document {}", self.id_ends.len() + 1)
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
        if let Some(first) = self.find_id(id) {
            return Err(IndexError::DuplicateId {
                id: id.to_string(),
                first: Self::span(&self.origins, &self.origin_ends, first).to_string(),
                second: origin.to_string(),
            });
        }
        let replaces = match &self.base {
            Some(base) => match base.live.get(&base.index, id) {
                Some(old) if base.upsert => Some(old),
                Some(_) => {
                    return Err(IndexError::IdExists {
                        id: id.to_string(),
                        origin: origin.to_string(),
                    });
                }
                None => None,
            },
            None => None,
        };
        validate(id, terms, origin)?;
        let doc = u32::try_from(self.id_ends.len())
            .ok()
            .filter(|&d| d < u32::MAX)
            .ok_or_else(|| IndexError::Limit("more than 2^32 - 2 documents".into()))?;
        if let Some(s) = &mut self.stored {
            s.push(stored)?;
        }
        self.acc.add(doc, terms)?;
        for &(_, w) in terms {
            self.max_weight = self.max_weight.max(w);
        }
        self.postings += terms.len() as u64;
        self.remember_id(id, doc);
        self.origins.push_str(origin);
        self.origin_ends.push(self.origins.len() as u64);
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
        let docs = self.id_ends.len() as u64;
        let base = self.base.take();
        // An append of nothing adds no empty segment.
        let segment = if base.is_none() || docs > 0 {
            Some(self.write_segment()?)
        } else {
            None
        };
        let (mut meta, base_generation) = match &base {
            Some(b) => (
                with_deletes(&b.index, &b.replaced, self.generation)?,
                Some(b.index.meta().generation),
            ),
            None => (
                Meta {
                    format_version: FORMAT_VERSION,
                    splade_version: self.options.splade_version.clone(),
                    generation: self.generation,
                    model: self.options.model.clone(),
                    quantization: self.options.quantization,
                    store: self.options.store,
                    docs: 0,
                    deleted: 0,
                    postings: 0,
                    segments: Vec::new(),
                },
                None,
            ),
        };
        if let Some(segment) = segment {
            meta.docs += segment.docs;
            meta.postings += segment.postings;
            meta.segments.push(segment);
        }
        meta.splade_version = self.options.splade_version.clone();
        drop(base);
        publish(&self.dir, &meta, base_generation)?;
        Ok(super::stats_of(&meta))
    }

    /// Writes the files of the new segment (not yet published).
    fn write_segment(&mut self) -> Result<SegmentMeta, IndexError> {
        let mut files = Vec::new();
        let quant = Quantizer {
            scheme: self.options.quantization,
            scale: self.options.quantization.scale_for(self.max_weight),
        };
        let stem = self.stem.clone();
        let acc = std::mem::replace(&mut self.acc, Accumulator::new(&self.dir, &stem, 0));
        let seg_docs = self.id_ends.len() as u32;
        let (pst, bmx, terms) = write_postings(&self.dir, &stem, acc, quant, seg_docs)?;
        files.push(pst);
        files.extend(bmx);
        let n_terms = terms.len() as u64;
        files.push(terms.write(&self.dir, &format!("{stem}.ter"))?);
        let ids: Vec<&str> = (0..self.id_ends.len() as u32)
            .map(|i| Self::span(&self.ids, &self.id_ends, i))
            .collect();
        files.push(write_doc_table(&self.dir, &format!("{stem}.doc"), &ids)?);
        if let Some(s) = self.stored.take() {
            files.push(s.finish()?);
        }
        Ok(SegmentMeta {
            name: stem,
            docs: self.id_ends.len() as u64,
            terms: n_terms,
            postings: self.postings,
            max_weight: self.max_weight,
            scale: quant.scale,
            files,
            deletes: None,
            reordered: false,
        })
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

/// Writes the `.pst` file, and the `.bmx` when the segment is large enough
/// to be searched with pruning, from the accumulated postings of a segment
/// of `segment_docs` documents; returns them with the term dictionary still
/// to be written.
pub(crate) fn write_postings(
    dir: &Path,
    stem: &str,
    acc: Accumulator,
    quant: Quantizer,
    segment_docs: u32,
) -> Result<(FileMeta, Option<FileMeta>, TermDictWriter), IndexError> {
    let mut w = FileWriter::create(dir, &format!("{stem}.pst"), MAGIC_POSTINGS)?;
    let mut maxima = if super::rangemax::stored_for(segment_docs) {
        Some(RangeMaxWriter::create(
            dir,
            &format!("{stem}.bmx"),
            segment_docs,
        )?)
    } else {
        None
    };
    w.write_u32(quant.scheme.code())?;
    w.write_u32(quant.scale.to_bits())?;
    w.write_u32(BLOCK as u32)?;
    let mut dict = TermDictWriter::default();
    let (mut docs, mut codes, mut buf) = (Vec::new(), Vec::new(), Vec::new());
    let mut sorted = List::new();
    acc.drain(|term: &str, list: &List| {
        // Lists arrive in doc order, except from a reordering compaction,
        // whose new ordinals are not monotonic in the old ones.
        let list = if list.is_sorted_by_key(|p| p.0) {
            list
        } else {
            sorted.clone_from(list);
            sorted.sort_unstable_by_key(|p| p.0);
            &sorted
        };
        docs.clear();
        codes.clear();
        buf.clear();
        for &(d, wt) in list {
            docs.push(d);
            codes.push(quant.encode(wt));
        }
        let max_code = encode_list(&docs, &codes, quant.scheme.width(), &mut buf);
        if let Some(m) = &mut maxima {
            m.push(&docs, |i| quant.value(codes[i]))?;
        }
        let info = TermInfo {
            offset: w.position(),
            len: buf.len() as u64,
            doc_freq: list.len() as u32,
            max_code,
        };
        w.write(&buf)?;
        dict.push(term, info)
    })?;
    let maxima = maxima.map(RangeMaxWriter::finish).transpose()?;
    Ok((w.finish()?, maxima, dict))
}
