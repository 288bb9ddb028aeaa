//! Per-term maxima over fixed ranges of documents: the bounds of block-max
//! pruning (`search/pruned.rs`), stored per segment in the `.bmx` file.
//!
//! A segment's ordinals are cut into ranges of `1 << RANGE_SHIFT`
//! documents; for every term and every range holding the term we keep its
//! largest weight, rounded *up* to one of 255 steps of the term's own
//! maximum, so that a bound never falls below a weight. Ranges are small
//! (8 documents) because a range's bound is a sum of per-term maxima that
//! different documents reach: the fewer documents, the tighter the sum. On
//! a reordered index (`write/reorder.rs`) most terms are absent from most ranges.
//! When the size was chosen, at 1M synthetic documents (`benches/search.rs`,
//! an earlier search loop), pruned exact search took 2.3 ms with ranges of
//! 8, 2.8 ms with 16 and 3.6 ms with 32 (exhaustive: 6.0 ms), for a table
//! of 2.7, 2.2 and 1.6 bytes per posting.
//!
//! Layout (offsets absolute, little-endian; `docs/format.md` has the
//! table): header, `u32` range shift, `u32` number of ranges, the terms'
//! data in dictionary order, a directory of 20-byte entries
//! (`u64` offset, `u32` count, `u32` dense flag, `f32` unit), then `u64`
//! directory offset and `u32` number of terms before the footer. A dense
//! term (in more than an eighth of the ranges) holds one step byte per
//! range; a sparse one `count` `u32` ranges, then `count` step bytes.
//! Segments written before format 3, and segments of fewer than
//! `STORED_MIN_DOCS` documents, have no `.bmx`: the same bytes are then
//! built in memory on the first pruned search (`read/maxima.rs`).

use crate::index::error::IndexError;
use crate::index::format::frame::FileMeta;
use crate::index::format::frame::{FileWriter, HEADER_LEN, MAGIC_RANGES, MappedFile, TableBytes};
use crate::index::format::frame::{le_u32, le_u64, to_usize};

/// Documents per range: `1 << RANGE_SHIFT`.
pub(crate) const RANGE_SHIFT: u32 = 3;
/// Bytes per directory entry.
const ENTRY: usize = 20;
/// Bytes after the directory: its offset and the number of terms.
const TRAILER: usize = 12;

/// Segments of at least this many documents get a `.bmx` file: the size
/// from which exact search prunes by itself (`search::AUTO_PRUNE_DOCS`).
/// Smaller segments (small collections, appends) stay as small as before;
/// a pruned search builds their table in memory in milliseconds.
pub(crate) const STORED_MIN_DOCS: u32 = 50_000;

#[cfg(test)]
thread_local! {
    /// Tests store the table for every segment, to search through the file.
    pub(crate) static ALWAYS_STORE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a segment of `docs` documents gets a `.bmx`.
pub(crate) fn stored_for(docs: u32) -> bool {
    #[cfg(test)]
    if ALWAYS_STORE.with(|c| c.get()) {
        return true;
    }
    docs >= STORED_MIN_DOCS
}

/// Number of ranges over `docs` documents.
pub(crate) fn ranges(docs: u32) -> usize {
    (docs as usize).div_ceil(1 << RANGE_SHIFT)
}

/// Appends the data of one term (`docs` increasing, `values[i]` the weight
/// of `docs[i]` unscaled, see `Quantizer::unscaled`) to `out`; returns
/// `(count, dense, unit)`.
pub(crate) fn encode_term(
    docs: &[u32],
    values: impl Fn(usize) -> f32,
    ranges: usize,
    out: &mut Vec<u8>,
) -> (u32, bool, f32) {
    let mut maxima: Vec<(u32, f32)> = Vec::new();
    for (i, &d) in docs.iter().enumerate() {
        let (r, v) = (d >> RANGE_SHIFT, values(i));
        match maxima.last_mut() {
            Some((lr, lv)) if *lr == r => *lv = lv.max(v),
            _ => maxima.push((r, v)),
        }
    }
    let top = maxima.iter().map(|m| m.1).fold(0.0f32, f32::max);
    // Padded so that `step * unit >= weight` survives f32 rounding.
    let unit = top / 255.0 * (1.0 + 1e-5);
    let step = |v: f32| {
        if unit > 0.0 && v > 0.0 {
            (v / unit).ceil().clamp(1.0, 255.0) as u8
        } else {
            0
        }
    };
    if maxima.len() * 8 > ranges {
        let start = out.len();
        out.resize(start + ranges, 0);
        for &(r, v) in &maxima {
            if let Some(s) = out.get_mut(start + r as usize) {
                *s = step(v);
            }
        }
        (ranges as u32, true, unit)
    } else {
        for &(r, _) in &maxima {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend(maxima.iter().map(|m| step(m.1)));
        (maxima.len() as u32, false, unit)
    }
}

fn put_entry(dir: &mut Vec<u8>, offset: u64, (count, dense, unit): (u32, bool, f32)) {
    dir.extend_from_slice(&offset.to_le_bytes());
    dir.extend_from_slice(&count.to_le_bytes());
    dir.extend_from_slice(&u32::from(dense).to_le_bytes());
    dir.extend_from_slice(&unit.to_bits().to_le_bytes());
}

/// Streams a segment's `.bmx` file, one term at a time in dictionary order.
pub(crate) struct RangeMaxWriter {
    w: FileWriter,
    ranges: usize,
    dir: Vec<u8>,
    terms: u32,
    buf: Vec<u8>,
}

impl RangeMaxWriter {
    /// Starts `dir/name` for a segment of `docs` documents.
    pub(crate) fn create(dir: &std::path::Path, name: &str, docs: u32) -> Result<Self, IndexError> {
        let mut w = FileWriter::create(dir, name, MAGIC_RANGES)?;
        w.write_u32(RANGE_SHIFT)?;
        w.write_u32(ranges(docs) as u32)?;
        Ok(RangeMaxWriter {
            w,
            ranges: ranges(docs),
            dir: Vec::new(),
            terms: 0,
            buf: Vec::new(),
        })
    }

    /// Adds the next term's postings.
    pub(crate) fn push(
        &mut self,
        docs: &[u32],
        values: impl Fn(usize) -> f32,
    ) -> Result<(), IndexError> {
        self.buf.clear();
        let entry = encode_term(docs, values, self.ranges, &mut self.buf);
        put_entry(&mut self.dir, self.w.position(), entry);
        self.w.write(&self.buf)?;
        self.terms += 1;
        Ok(())
    }

    /// Writes the directory and trailer and publishes the file.
    pub(crate) fn finish(mut self) -> Result<FileMeta, IndexError> {
        let dir_at = self.w.position();
        self.w.write(&self.dir)?;
        self.w.write_u64(dir_at)?;
        self.w.write_u32(self.terms)?;
        self.w.finish()
    }
}

/// One term's maxima, borrowed from the table.
pub(crate) struct TermRanges<'a> {
    /// Weight of one step, unscaled (`code` for quantized lists, the
    /// `f32` weight for raw ones).
    unit: f32,
    steps: Steps<'a>,
}

enum Steps<'a> {
    Dense(&'a [u8]),
    /// `u32` ranges (little-endian bytes), then one step per range.
    Sparse(&'a [u8], &'a [u8]),
}

impl TermRanges<'_> {
    /// The maxima [`add_to`](Self::add_to) reads: one per range for a
    /// dense term, one per range holding the term for a sparse one.
    pub(crate) fn entries(&self) -> usize {
        match self.steps {
            Steps::Dense(steps) | Steps::Sparse(_, steps) => steps.len(),
        }
    }

    /// Adds `factor * unit * step` to the bound of every range holding the
    /// term.
    pub(crate) fn add_to(&self, factor: f32, bounds: &mut [f32]) {
        let per_step = factor * self.unit;
        match self.steps {
            Steps::Dense(steps) => {
                for (b, &s) in bounds.iter_mut().zip(steps) {
                    *b += per_step * s as f32;
                }
            }
            Steps::Sparse(ranges, steps) => {
                for (r, &s) in ranges.chunks_exact(4).zip(steps) {
                    let r = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
                    if let Some(b) = bounds.get_mut(r as usize) {
                        *b += per_step * s as f32;
                    }
                }
            }
        }
    }

    /// Whether the term has a posting in range `r` (tests check the table
    /// with it).
    #[cfg(test)]
    pub(crate) fn holds(&self, r: u32) -> bool {
        match self.steps {
            Steps::Dense(steps) => steps.get(r as usize).is_some_and(|&s| s > 0),
            Steps::Sparse(ranges, _) => {
                let (mut lo, mut hi) = (0, ranges.len() / 4);
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    let v = le_u32(ranges, mid * 4).unwrap_or(u32::MAX);
                    match v.cmp(&r) {
                        std::cmp::Ordering::Less => lo = mid + 1,
                        std::cmp::Ordering::Greater => hi = mid,
                        std::cmp::Ordering::Equal => return true,
                    }
                }
                false
            }
        }
    }
}

/// The maxima of every term of a segment, by dictionary entry.
pub(crate) struct RangeMax {
    bytes: TableBytes,
    ranges: usize,
    dir_at: usize,
    terms: usize,
}

impl RangeMax {
    /// Checks the header and trailer of a `.bmx` file of a segment with
    /// `docs` documents and `terms` terms.
    pub(crate) fn open(file: MappedFile, docs: u32, terms: usize) -> Result<Self, IndexError> {
        let h = HEADER_LEN as usize;
        let b = file.at_open(h..h + 8)?;
        let (shift, n_ranges) = (le_u32(b, 0), le_u32(b, 4));
        if shift != Some(RANGE_SHIFT) || n_ranges != Some(ranges(docs) as u32) {
            return Err(file.corrupt(format!(
                "range shift {shift:?} and count {n_ranges:?}, expected {RANGE_SHIFT} and {}",
                ranges(docs)
            )));
        }
        let at = file.len().saturating_sub(TRAILER);
        let b = file.at_open(at..at + TRAILER)?;
        let dir_at = le_u64(b, 0).and_then(to_usize);
        let count = le_u32(b, 8).map(|c| c as usize);
        match (dir_at, count) {
            (Some(d), Some(c)) if c == terms && d.checked_add(c * ENTRY) == Some(at) => {
                Ok(RangeMax {
                    bytes: TableBytes::Mapped(file),
                    ranges: ranges(docs),
                    dir_at: d,
                    terms,
                })
            }
            _ => Err(file.corrupt(format!(
                "directory of {count:?} terms at {dir_at:?} does not fit; {terms} expected"
            ))),
        }
    }

    /// Lays out the terms' encoded maxima and their directory.
    pub(crate) fn assemble(parts: Vec<(Vec<u8>, (u32, bool, f32))>, n_ranges: usize) -> RangeMax {
        let mut bytes = vec![0u8; HEADER_LEN as usize + 8];
        let mut dir = Vec::with_capacity(parts.len() * ENTRY);
        for (data, entry) in &parts {
            put_entry(&mut dir, bytes.len() as u64, *entry);
            bytes.extend_from_slice(data);
        }
        let dir_at = bytes.len();
        bytes.extend_from_slice(&dir);
        RangeMax {
            bytes: TableBytes::Owned(bytes),
            ranges: n_ranges,
            dir_at,
            terms: parts.len(),
        }
    }

    /// The table's bytes, unchecked (tests compare tables).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8] {
        self.bytes
            .unchecked(0..self.bytes.len())
            .unwrap_or_default()
    }

    /// Bytes `range` of the table; `None` when out of bounds or damaged.
    fn get(&self, range: std::ops::Range<usize>) -> Option<&[u8]> {
        self.bytes.get(range)
    }

    /// The maxima of dictionary entry `i`; `None` when the bytes are
    /// damaged (the segment then needs exhaustive scoring).
    pub(crate) fn term(&self, i: usize) -> Option<TermRanges<'_>> {
        if i >= self.terms {
            return None;
        }
        let at = self.dir_at + i * ENTRY;
        let e = self.get(at..at + ENTRY)?;
        let offset = to_usize(le_u64(e, 0)?)?;
        let count = le_u32(e, 8)? as usize;
        let dense = le_u32(e, 12)? != 0;
        let unit = f32::from_bits(le_u32(e, 16)?);
        if !(unit.is_finite() && unit >= 0.0) {
            return None;
        }
        let steps = if dense {
            if count != self.ranges {
                return None;
            }
            Steps::Dense(self.get(offset..offset.checked_add(count)?)?)
        } else {
            let mid = offset.checked_add(count.checked_mul(4)?)?;
            let end = mid.checked_add(count)?;
            Steps::Sparse(self.get(offset..mid)?, self.get(mid..end)?)
        };
        Some(TermRanges { unit, steps })
    }

    /// The mapped file, for `verify`.
    pub(crate) fn file(&self) -> Option<&MappedFile> {
        self.bytes.file()
    }
}
