//! Forward postings (format 7): for every range of 8 documents (the
//! ranges of `range_max.rs`), the terms its documents hold, each with a
//! bit mask of the documents holding it and their impact codes. This is
//! what pruned search scores a range from (`search/pruned.rs`): one pass
//! over the range's own terms with a dense table of the query's factors,
//! instead of a block search and a block decode per query term, the cost
//! that made pruning lose to exhaustive scoring on real vectors (README,
//! "Search at scale"). It is BMP's forward index (Mallia et al., SIGIR
//! 2024), laid out for the page checks.
//!
//! A range's terms are in dictionary order, so a document's score summed
//! over its range's groups adds the same products in the same order as
//! exhaustive scoring, which takes the query's terms in dictionary order:
//! the two agree bit for bit.
//!
//! Layout (offsets absolute, little-endian; `docs/format.md` has the
//! table): header; `u32` documents, `u32` term width (2 bytes when the
//! dictionary has at most 65,536 entries, else 4), `u32` code width (1, 2
//! or 4), `u32` range shift (3), `u64` groups, `u64` postings; then
//! `ranges + 1` `u64` group numbers and `ranges + 1` `u64` posting numbers
//! (where each range's groups and codes start; the last entries are the
//! totals); then every group's term number (its dictionary entry), every
//! group's document mask (bit `j`: the range's document `j` holds the
//! term), and the codes, group after group, in document order within a
//! group. Every part is read through the page checks (`pages.rs`), so a
//! query checks the pages of the ranges it scores.

use crate::index::error::IndexError;
use crate::index::format::block::PostingList;
use crate::index::format::frame::{
    FileMeta, FileWriter, HEADER_LEN, MAGIC_FORWARD, MappedFile, TableBytes,
};
use crate::index::format::frame::{le_u32, le_u64, to_usize};
use crate::index::format::range_max::{RANGE_SHIFT, ranges};

/// Bytes of the fields after the common header.
const FIELDS: usize = 32;

/// The bytes of a `.fwd` built in memory, laid out as the file is: what a
/// writer streams to disk, and what a segment without a `.fwd` reads.
pub(crate) struct ForwardBuilder {
    bytes: Vec<u8>,
}

/// The term width of a dictionary of `terms` entries.
fn term_width(terms: usize) -> usize {
    if terms <= 1 << 16 { 2 } else { 4 }
}

impl ForwardBuilder {
    /// Builds the forward postings of a segment of `docs` documents from
    /// its inverted lists, `list(i)` for every dictionary entry `i <
    /// terms` (`None` when damaged: such a list adds nothing, as it adds
    /// nothing to exhaustive scoring; a damaged block ends its list, as it
    /// ends it there). `width` is the lists' code width.
    pub(crate) fn from_lists<'a>(
        list: impl Fn(usize) -> Option<PostingList<'a>>,
        terms: usize,
        docs: u32,
        width: usize,
    ) -> ForwardBuilder {
        let n_ranges = ranges(docs);
        // Pass 1: groups and postings per range.
        let mut groups = vec![0u64; n_ranges + 1];
        let mut postings = vec![0u64; n_ranges + 1];
        for i in 0..terms {
            let Some(l) = list(i) else { continue };
            let mut last = usize::MAX;
            let _ = l.for_each(|d, _| {
                let r = (d >> RANGE_SHIFT) as usize;
                if r < n_ranges {
                    groups[r + 1] += u64::from(r != last);
                    postings[r + 1] += 1;
                    last = r;
                }
            });
        }
        for r in 0..n_ranges {
            groups[r + 1] += groups[r];
            postings[r + 1] += postings[r];
        }
        let (n_groups, n_postings) = (groups[n_ranges] as usize, postings[n_ranges] as usize);
        let tw = term_width(terms);
        let h = HEADER_LEN as usize;
        let layout = Layout::new(h + FIELDS, n_ranges, n_groups, tw);
        let mut bytes = vec![0u8; layout.codes_at + n_postings * width];
        put(&mut bytes, h, &docs.to_le_bytes());
        put(&mut bytes, h + 4, &(tw as u32).to_le_bytes());
        put(&mut bytes, h + 8, &(width as u32).to_le_bytes());
        put(&mut bytes, h + 12, &RANGE_SHIFT.to_le_bytes());
        put(&mut bytes, h + 16, &(n_groups as u64).to_le_bytes());
        put(&mut bytes, h + 24, &(n_postings as u64).to_le_bytes());
        for r in 0..=n_ranges {
            put(
                &mut bytes,
                layout.groups_at + 8 * r,
                &groups[r].to_le_bytes(),
            );
            put(
                &mut bytes,
                layout.postings_at + 8 * r,
                &postings[r].to_le_bytes(),
            );
        }
        // Pass 2, in dictionary order: each range's groups come out sorted
        // by term, each group's codes in document order.
        let (mut next_group, mut next_code) = (groups, postings);
        for i in 0..terms {
            let Some(l) = list(i) else { continue };
            let mut open: Option<(usize, usize)> = None; // (range, group)
            let _ = l.for_each(|d, c| {
                let r = (d >> RANGE_SHIFT) as usize;
                if r >= n_ranges {
                    return;
                }
                let g = match open {
                    Some((or, g)) if or == r => g,
                    _ => {
                        let g = next_group[r] as usize;
                        next_group[r] += 1;
                        put(
                            &mut bytes,
                            layout.terms_at + g * tw,
                            &(i as u32).to_le_bytes()[..tw],
                        );
                        open = Some((r, g));
                        g
                    }
                };
                bytes[layout.masks_at + g] |= 1 << (d & ((1 << RANGE_SHIFT) - 1));
                let at = next_code[r] as usize;
                next_code[r] += 1;
                put(
                    &mut bytes,
                    layout.codes_at + at * width,
                    &c.to_le_bytes()[..width],
                );
            });
        }
        ForwardBuilder { bytes }
    }

    /// The table, readable in memory.
    pub(crate) fn into_forward(self) -> Forward {
        Forward::parse(TableBytes::Owned(self.bytes)).expect("a built table parses")
    }

    /// Writes the table as `dir/name`.
    pub(crate) fn write(&self, dir: &std::path::Path, name: &str) -> Result<FileMeta, IndexError> {
        let mut w = FileWriter::create(dir, name, MAGIC_FORWARD)?;
        w.write(&self.bytes[HEADER_LEN as usize..])?;
        w.finish()
    }
}

/// Cache lines of each part of a range that [`Forward::prefetch`] asks
/// for: the first few, which start the CPU's own stream prefetcher on the
/// rest. A hint for every line (about 50 per range) stalled once the
/// line-fill buffers were full: `perf` put a quarter of the samples of the
/// search loop (`Run::bands`) on those hints. On the 200,000 real passages
/// (interleaved `cargo bench --bench search` runs, short queries) pruned
/// exact search was 1.92x exhaustive's mean with 3 lines (four runs),
/// 1.86x with every line (four), 1.83x with 1 (two) and 1.87x with none
/// (two), on a build that read the count from the environment at every
/// hint: every variant paid that alike, so the ratios compare, but they
/// are below what this constant gives.
const PREFETCH_LINES: usize = 3;

/// A prefetch hint for the first [`PREFETCH_LINES`] cache lines of `bytes`.
#[inline]
fn prefetch_lines(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64).take(PREFETCH_LINES) {
        // SAFETY: a prefetch never faults and reads nothing the program
        // sees; the pointer lies inside `bytes`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

fn put(bytes: &mut [u8], at: usize, v: &[u8]) {
    bytes[at..at + v.len()].copy_from_slice(v);
}

/// Where each part of the table starts.
#[derive(Clone, Copy)]
struct Layout {
    groups_at: usize,
    postings_at: usize,
    terms_at: usize,
    masks_at: usize,
    codes_at: usize,
}

impl Layout {
    fn new(start: usize, n_ranges: usize, n_groups: usize, tw: usize) -> Layout {
        let groups_at = start;
        let postings_at = groups_at + 8 * (n_ranges + 1);
        let terms_at = postings_at + 8 * (n_ranges + 1);
        let masks_at = terms_at + n_groups * tw;
        Layout {
            groups_at,
            postings_at,
            terms_at,
            masks_at,
            codes_at: masks_at + n_groups,
        }
    }
}

/// A segment's forward postings.
pub(crate) struct Forward {
    bytes: TableBytes,
    docs: u32,
    n_ranges: usize,
    term_width: usize,
    code_width: usize,
    groups: usize,
    postings: usize,
    layout: Layout,
}

/// One range's groups: parallel term numbers and masks, and the codes.
pub(crate) struct RangeGroups<'a> {
    /// Term numbers, [`term_width`](Self::term_width) bytes each.
    pub(crate) terms: &'a [u8],
    /// One document mask per group.
    pub(crate) masks: &'a [u8],
    /// The codes, [`code_width`](Self::code_width) bytes each.
    pub(crate) codes: &'a [u8],
    pub(crate) term_width: usize,
    pub(crate) code_width: usize,
}

impl Forward {
    /// Checks the fields of a `.fwd` file of a segment with `docs`
    /// documents and `terms` dictionary entries whose codes are `width`
    /// bytes (the body is checked page by page as it is read).
    pub(crate) fn open(
        file: MappedFile,
        docs: u32,
        terms: usize,
        width: usize,
    ) -> Result<Self, IndexError> {
        // A damaged first page is reported as such (parse only says no).
        file.at_open(HEADER_LEN as usize..HEADER_LEN as usize + FIELDS)?;
        let path = file.path.clone();
        let fwd = Forward::parse(TableBytes::Mapped(file))
            .ok_or_else(|| IndexError::corrupt(&path, "forward postings do not fit the file"))?;
        let found = (fwd.docs, fwd.term_width, fwd.code_width);
        let want = (docs, term_width(terms), width);
        if found != want {
            return Err(IndexError::corrupt(
                &path,
                format!(
                    "forward postings of (documents, term width, code width) {found:?}, expected {want:?}"
                ),
            ));
        }
        Ok(fwd)
    }

    /// The table's layout from its fields (read as an open-time check
    /// reads them), `None` when they are malformed or do not fit.
    fn parse(bytes: TableBytes) -> Option<Forward> {
        let h = HEADER_LEN as usize;
        let b = match &bytes {
            TableBytes::Mapped(f) => f.at_open(h..h + FIELDS).ok()?,
            TableBytes::Owned(v) => v.get(h..h + FIELDS)?,
        };
        let docs = le_u32(b, 0)?;
        let (tw, cw) = (le_u32(b, 4)? as usize, le_u32(b, 8)? as usize);
        let shift = le_u32(b, 12)?;
        let groups = to_usize(le_u64(b, 16)?)?;
        let postings = to_usize(le_u64(b, 24)?)?;
        if !matches!(tw, 2 | 4) || !matches!(cw, 1 | 2 | 4) || shift != RANGE_SHIFT {
            return None;
        }
        let n_ranges = ranges(docs);
        let layout = Layout::new(h + FIELDS, n_ranges, groups, tw);
        let end = layout.codes_at.checked_add(postings.checked_mul(cw)?)?;
        (end == bytes.len()).then_some(Forward {
            bytes,
            docs,
            n_ranges,
            term_width: tw,
            code_width: cw,
            groups,
            postings,
            layout,
        })
    }

    /// The two `u64` entries `r` and `r + 1` of the table at `at`.
    #[inline]
    fn span(&self, at: usize, r: usize, limit: usize) -> Option<(usize, usize)> {
        let b = self.bytes.get(at + 8 * r..at + 8 * r + 16)?;
        let (a, e) = (to_usize(le_u64(b, 0)?)?, to_usize(le_u64(b, 8)?)?);
        (a <= e && e <= limit).then_some((a, e))
    }

    /// [`span`](Self::span) without the page checks or the bounds (for a
    /// hint, which reads nothing).
    #[inline]
    fn span_unchecked(&self, at: usize, r: usize) -> Option<(usize, usize)> {
        let b = self.bytes.unchecked(at + 8 * r..at + 8 * r + 16)?;
        Some((le_u64(b, 0)? as usize, le_u64(b, 8)? as usize))
    }

    /// Range `r`'s groups; `None` when out of bounds, malformed or damaged
    /// (the damage is recorded in the file).
    #[inline]
    pub(crate) fn range(&self, r: usize) -> Option<RangeGroups<'_>> {
        if r >= self.n_ranges {
            return None;
        }
        let l = self.layout;
        let (g0, g1) = self.span(l.groups_at, r, self.groups)?;
        let (p0, p1) = self.span(l.postings_at, r, self.postings)?;
        let (tw, cw) = (self.term_width, self.code_width);
        Some(RangeGroups {
            terms: self.bytes.get(l.terms_at + g0 * tw..l.terms_at + g1 * tw)?,
            masks: self.bytes.get(l.masks_at + g0..l.masks_at + g1)?,
            codes: self.bytes.get(l.codes_at + p0 * cw..l.codes_at + p1 * cw)?,
            term_width: tw,
            code_width: cw,
        })
    }

    /// Asks the CPU to start loading range `r`'s terms, masks and codes
    /// (the bytes [`range`](Self::range) scans and reads), so that a search that knows
    /// which range it scores next overlaps that load with the current
    /// range: scored best bound first, ranges lie far apart in the file.
    /// A hint only: nothing is read, checked or returned. Measured on the
    /// 200,000 real passages (three interleaved pairs of
    /// `cargo bench --bench search` runs, short queries): pruned exact
    /// search 1.60x exhaustive with it, 1.55x without. The codes joined the
    /// terms and masks later: 1.56x against 1.53x without them (three
    /// pairs, same bench). Only the first lines of each part are hinted
    /// ([`PREFETCH_LINES`]).
    #[inline]
    pub(crate) fn prefetch(&self, r: usize) {
        let l = self.layout;
        let (Some((g0, g1)), Some((p0, p1))) = (
            self.span_unchecked(l.groups_at, r),
            self.span_unchecked(l.postings_at, r),
        ) else {
            return;
        };
        let (tw, cw) = (self.term_width, self.code_width);
        let parts = [
            (l.terms_at + g0 * tw, l.terms_at + g1 * tw),
            (l.masks_at + g0, l.masks_at + g1),
            (l.codes_at + p0 * cw, l.codes_at + p1 * cw),
        ];
        for (a, b) in parts {
            if let Some(bytes) = self.bytes.unchecked(a..b) {
                prefetch_lines(bytes);
            }
        }
    }

    /// Groups (term, range) in the table: what scoring every range reads.
    pub(crate) fn groups(&self) -> usize {
        self.groups
    }

    /// The mapped file, for `verify` and damage reports.
    pub(crate) fn file(&self) -> Option<&MappedFile> {
        self.bytes.file()
    }
}

impl RangeGroups<'_> {
    /// Number of groups.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.masks.len()
    }

    /// The term number of group `g`.
    #[cfg(test)]
    pub(crate) fn term(&self, g: usize) -> usize {
        let t = &self.terms[g * self.term_width..];
        if self.term_width == 2 {
            u16::from_le_bytes([t[0], t[1]]) as usize
        } else {
            u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize
        }
    }

    /// The code of posting `p` of the range (`None` past the end).
    #[inline]
    pub(crate) fn code(&self, p: usize) -> Option<u32> {
        let c = self
            .codes
            .get(p * self.code_width..(p + 1) * self.code_width)?;
        Some(match self.code_width {
            1 => c[0] as u32,
            2 => u16::from_le_bytes([c[0], c[1]]) as u32,
            _ => u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::format::block::encode_list;

    /// Three terms over 12 documents (two ranges); codes 2 bytes wide.
    fn lists() -> Vec<(Vec<u32>, Vec<u32>)> {
        vec![
            (vec![0, 2, 9], vec![10, 12, 19]),
            (vec![1, 2], vec![21, 22]),
            (vec![0, 11], vec![30, 41]),
        ]
    }

    /// `(term, document in range, code)` of range `r`.
    fn postings_of(f: &Forward, r: usize) -> Vec<(usize, u32, u32)> {
        let g = f.range(r).unwrap();
        let mut out = Vec::new();
        let mut p = 0;
        for i in 0..g.len() {
            for j in 0..8 {
                if g.masks[i] & (1 << j) != 0 {
                    out.push((g.term(i), j, g.code(p).unwrap()));
                    p += 1;
                }
            }
        }
        assert!(g.code(p).is_none());
        out
    }

    #[test]
    fn ranges_hold_their_terms_in_dictionary_order() {
        let encoded: Vec<Vec<u8>> = lists()
            .iter()
            .map(|(d, c)| {
                let mut b = Vec::new();
                encode_list(d, c, 2, &mut b);
                b
            })
            .collect();
        let ls = lists();
        let view = |i: usize| PostingList::new(&encoded[i], ls[i].0.len() as u32, 2);
        let built = ForwardBuilder::from_lists(view, 3, 12, 2);
        let dir = tempfile::tempdir().unwrap();
        let meta = built.write(dir.path(), "t.fwd").unwrap();
        let file = MappedFile::open(dir.path(), &meta, MAGIC_FORWARD).unwrap();
        let on_disk = Forward::open(file, 12, 3, 2).unwrap();
        let in_memory = built.into_forward();
        for f in [&on_disk, &in_memory] {
            assert_eq!(
                postings_of(f, 0),
                vec![(0, 0, 10), (0, 2, 12), (1, 1, 21), (1, 2, 22), (2, 0, 30)]
            );
            assert_eq!(postings_of(f, 1), vec![(0, 1, 19), (2, 3, 41)]);
            assert_eq!(f.groups(), 5);
            assert!(f.range(2).is_none());
        }
        // A table for another segment shape is refused.
        for (docs, width) in [(20, 2), (12, 1)] {
            let file = MappedFile::open(dir.path(), &meta, MAGIC_FORWARD).unwrap();
            assert!(Forward::open(file, docs, 3, width).is_err());
        }
    }
}
