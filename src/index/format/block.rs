//! The posting-list codec: blocks of 128 postings, doc gaps as LEB128
//! varints followed by fixed-width impact codes, behind a directory of
//! `(last_doc, end, max_impact)` per block so that a block can be skipped or
//! bounded without decoding it (the layout is in `docs/format.md`).
//!
//! Decoding never trusts the bytes: every read is bounds-checked and a
//! malformed list decodes as `None`, never a panic. A list in a mapped file
//! has its directory checked by its pages' CRC32s when it is taken and each
//! block when it is first read (`pages.rs`), so a query checks the blocks
//! it decodes, not the whole list; a damaged block decodes as `None`, and
//! the file records the damage for the search to report.

use crate::index::format::frame::MappedFile;

/// Postings per block.
pub(crate) const BLOCK: usize = 128;
/// Bytes per block-directory entry.
const DIR_ENTRY: usize = 12;

/// Appends `v` as an LEB128 varint.
#[inline]
fn put_varint(mut v: u32, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an LEB128 varint at `*pos`, `None` when truncated or too long.
#[inline]
fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u32> {
    let mut v: u32 = 0;
    for shift in (0..35).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7f) as u32).checked_shl(shift)?;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Encodes one posting list: `docs` strictly increasing, `codes` parallel,
/// each code at most `width` bytes wide. Returns the largest code.
pub(crate) fn encode_list(docs: &[u32], codes: &[u32], width: usize, out: &mut Vec<u8>) -> u32 {
    debug_assert_eq!(docs.len(), codes.len());
    let nb = docs.len().div_ceil(BLOCK);
    let dir_at = out.len();
    out.resize(dir_at + nb * DIR_ENTRY, 0);
    let data_at = out.len();
    let mut prev = 0u32;
    let mut list_max = 0u32;
    for (b, (dchunk, cchunk)) in docs.chunks(BLOCK).zip(codes.chunks(BLOCK)).enumerate() {
        for (i, &d) in dchunk.iter().enumerate() {
            let gap = if b == 0 && i == 0 { d } else { d - prev };
            put_varint(gap, out);
            prev = d;
        }
        let mut block_max = 0u32;
        for &c in cchunk {
            out.extend_from_slice(&c.to_le_bytes()[..width]);
            block_max = block_max.max(c);
        }
        list_max = list_max.max(block_max);
        let end = (out.len() - data_at) as u32;
        let e = dir_at + b * DIR_ENTRY;
        out[e..e + 4].copy_from_slice(&prev.to_le_bytes());
        out[e + 4..e + 8].copy_from_slice(&end.to_le_bytes());
        out[e + 8..e + 12].copy_from_slice(&block_max.to_le_bytes());
    }
    list_max
}

/// One block's directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockMeta {
    /// Largest doc ordinal in the block.
    pub(crate) last_doc: u32,
    /// Largest impact code in the block.
    pub(crate) max_code: u32,
}

/// A borrowed, encoded posting list.
#[derive(Clone, Copy)]
pub(crate) struct PostingList<'a> {
    bytes: &'a [u8],
    /// The mapped file `bytes` lie in and their offset there, when the
    /// blocks are to be checked as they are read; the directory is checked.
    file: Option<(&'a MappedFile, usize)>,
    df: usize,
    width: usize,
}

impl<'a> PostingList<'a> {
    /// Wraps the bytes of a list of `df` postings held in memory; `None` if
    /// the directory does not fit.
    #[cfg(test)]
    pub(crate) fn new(bytes: &'a [u8], df: u32, width: usize) -> Option<Self> {
        let list = PostingList {
            bytes,
            file: None,
            df: df as usize,
            width,
        };
        (list.dir_len() <= bytes.len()).then_some(list)
    }

    /// The list of `df` postings at bytes `[start, start + len)` of `file`,
    /// its directory checked; `None` if it does not fit or is damaged.
    pub(crate) fn in_file(
        file: &'a MappedFile,
        start: usize,
        len: usize,
        df: u32,
        width: usize,
    ) -> Option<Self> {
        let bytes = file.unchecked(start..start.checked_add(len)?)?;
        let list = PostingList {
            bytes,
            file: Some((file, start)),
            df: df as usize,
            width,
        };
        (list.dir_len() <= len && file.check(start, start + list.dir_len())).then_some(list)
    }

    /// Bytes `[start, end)` of the block area, checked when in a file.
    #[inline]
    fn data(&self, start: usize, end: usize) -> Option<&'a [u8]> {
        let (s, e) = (
            self.dir_len().checked_add(start)?,
            self.dir_len().checked_add(end)?,
        );
        let bytes = self.bytes.get(s..e)?;
        match self.file {
            Some((file, at)) => file.check(at + s, at + e).then_some(bytes),
            None => Some(bytes),
        }
    }

    /// Number of postings (the document frequency).
    pub(crate) fn len(&self) -> usize {
        self.df
    }

    /// Number of blocks.
    pub(crate) fn num_blocks(&self) -> usize {
        self.df.div_ceil(BLOCK)
    }

    fn dir_len(&self) -> usize {
        self.num_blocks() * DIR_ENTRY
    }

    fn entry(&self, b: usize, field: usize) -> u32 {
        let at = b * DIR_ENTRY + field * 4;
        let s = &self.bytes[at..at + 4];
        u32::from_le_bytes([s[0], s[1], s[2], s[3]])
    }

    /// The directory entry of block `b` (`b < num_blocks()`).
    pub(crate) fn block_meta(&self, b: usize) -> BlockMeta {
        BlockMeta {
            last_doc: self.entry(b, 0),
            max_code: self.entry(b, 2),
        }
    }

    /// The first doc ordinal of block `b`, read from its first varint
    /// without decoding the block; `None` when out of range or malformed.
    /// With [`block_meta`](Self::block_meta) this bounds the doc range a
    /// block covers, which is what block-max pruning needs.
    pub(crate) fn first_doc(&self, b: usize) -> Option<u32> {
        if b >= self.num_blocks() {
            return None;
        }
        let (start, prev) = if b == 0 {
            (0, 0)
        } else {
            (self.entry(b - 1, 1) as usize, self.entry(b - 1, 0))
        };
        let data = self.data(start, self.entry(b, 1) as usize)?;
        let gap = get_varint(data, &mut 0)?;
        if b == 0 {
            Some(gap)
        } else {
            prev.checked_add(gap)
        }
    }

    /// Decodes block `b` into `docs` and `codes`; returns the number of
    /// postings, or `None` when the bytes are malformed.
    pub(crate) fn decode_block(
        &self,
        b: usize,
        docs: &mut [u32; BLOCK],
        codes: &mut [u32; BLOCK],
    ) -> Option<usize> {
        if b >= self.num_blocks() {
            return None;
        }
        let n = (self.df - b * BLOCK).min(BLOCK);
        let start = if b == 0 {
            0
        } else {
            self.entry(b - 1, 1) as usize
        };
        let block = self.data(start, self.entry(b, 1) as usize)?;
        let mut pos = 0;
        let mut prev = if b == 0 { 0 } else { self.entry(b - 1, 0) };
        for (i, d) in docs[..n].iter_mut().enumerate() {
            let gap = get_varint(block, &mut pos)?;
            prev = if b == 0 && i == 0 {
                gap
            } else {
                prev.checked_add(gap)?
            };
            *d = prev;
        }
        let imp = block.get(pos..pos + n * self.width)?;
        match self.width {
            1 => imp
                .iter()
                .zip(codes.iter_mut())
                .for_each(|(&v, c)| *c = v as u32),
            2 => imp
                .chunks_exact(2)
                .zip(codes.iter_mut())
                .for_each(|(v, c)| *c = u16::from_le_bytes([v[0], v[1]]) as u32),
            _ => imp
                .chunks_exact(4)
                .zip(codes.iter_mut())
                .for_each(|(v, c)| *c = u32::from_le_bytes([v[0], v[1], v[2], v[3]])),
        }
        Some(n)
    }

    /// Calls `f(doc, code)` for every posting in doc order; `None` if the
    /// list is malformed (postings before the damage have been visited).
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32, u32)) -> Option<()> {
        let mut docs = [0u32; BLOCK];
        let mut codes = [0u32; BLOCK];
        for b in 0..self.num_blocks() {
            let n = self.decode_block(b, &mut docs, &mut codes)?;
            for i in 0..n {
                f(docs[i], codes[i]);
            }
        }
        Some(())
    }

    /// The first block whose `last_doc >= doc` (`num_blocks()` if none),
    /// by binary search over the directory: the only block that can hold
    /// `doc`, and where a scan from `doc` on starts.
    pub(crate) fn block_reaching(&self, doc: u32) -> usize {
        let (mut lo, mut hi) = (0, self.num_blocks());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.block_meta(mid).last_doc < doc {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The code of `doc` in this list, found through the block directory.
    pub(crate) fn find(&self, doc: u32) -> Option<u32> {
        let mut docs = [0u32; BLOCK];
        let mut codes = [0u32; BLOCK];
        let n = self.decode_block(self.block_reaching(doc), &mut docs, &mut codes)?;
        let i = docs[..n].binary_search(&doc).ok()?;
        Some(codes[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::testutil::Rng;

    fn round_trip(docs: &[u32], codes: &[u32], width: usize) {
        let mut out = vec![0xAA; 3]; // lists start at arbitrary offsets
        let max = encode_list(docs, codes, width, &mut out);
        assert_eq!(max, codes.iter().copied().max().unwrap_or(0));
        let list = PostingList::new(&out[3..], docs.len() as u32, width).unwrap();
        let mut got = Vec::new();
        list.for_each(|d, c| got.push((d, c))).unwrap();
        let want: Vec<_> = docs.iter().copied().zip(codes.iter().copied()).collect();
        assert_eq!(got, want);
        for (b, chunk) in want.chunks(BLOCK).enumerate() {
            let m = list.block_meta(b);
            assert_eq!(m.last_doc, chunk.last().unwrap().0);
            assert_eq!(m.max_code, chunk.iter().map(|p| p.1).max().unwrap());
        }
        for &(d, c) in want.iter().step_by(7) {
            assert_eq!(list.find(d), Some(c));
        }
        for (b, chunk) in want.chunks(BLOCK).enumerate() {
            assert_eq!(list.first_doc(b), Some(chunk[0].0));
        }
        assert_eq!(list.first_doc(list.num_blocks()), None);
    }

    #[test]
    fn varint_edges() {
        for v in [0, 1, 127, 128, 16383, 16384, u32::MAX - 1, u32::MAX] {
            let mut out = Vec::new();
            put_varint(v, &mut out);
            let mut pos = 0;
            assert_eq!(get_varint(&out, &mut pos), Some(v));
            assert_eq!(pos, out.len());
        }
        assert_eq!(get_varint(&[0x80, 0x80], &mut 0), None);
        assert_eq!(get_varint(&[0xff; 6], &mut 0), None);
    }

    #[test]
    fn small_lists_round_trip() {
        round_trip(&[], &[], 2);
        round_trip(&[0], &[7], 1);
        round_trip(&[5], &[65535], 2);
        round_trip(&[0, 1, 2, u32::MAX], &[1, 2, 3, 0xdead_beef], 4);
        let docs: Vec<u32> = (0..BLOCK as u32).collect();
        round_trip(&docs, &docs.iter().map(|d| d + 1).collect::<Vec<_>>(), 1);
        let docs: Vec<u32> = (0..=BLOCK as u32).map(|d| d * 1000).collect();
        round_trip(&docs, &vec![3; docs.len()], 2);
    }

    #[test]
    fn random_lists_round_trip() {
        let mut rng = Rng::new(42);
        for case in 0..300 {
            let n = rng.below(if case % 10 == 0 { 3000 } else { 400 }) as usize;
            let gap_max = [2, 50, 5000, 1 << 22][case % 4];
            let mut d = rng.below(1000);
            let mut docs = Vec::with_capacity(n);
            for _ in 0..n {
                docs.push(d);
                d += 1 + rng.below(gap_max);
            }
            let width = [1usize, 2, 4][case % 3];
            let top = if width == 4 {
                u32::MAX
            } else {
                (1u32 << (8 * width)) - 1
            };
            let codes: Vec<u32> = (0..n).map(|_| 1 + rng.below(top)).collect();
            round_trip(&docs, &codes, width);
        }
    }

    #[test]
    fn malformed_lists_do_not_panic() {
        let mut rng = Rng::new(7);
        let docs: Vec<u32> = (0..1000).map(|d| d * 3).collect();
        let codes: Vec<u32> = (0..1000).map(|c| c % 60000 + 1).collect();
        let mut good = Vec::new();
        encode_list(&docs, &codes, 2, &mut good);
        for _ in 0..500 {
            let mut bad = good.clone();
            let cut = rng.below(bad.len() as u32) as usize;
            if rng.below(2) == 0 {
                bad.truncate(cut);
            } else {
                bad[cut] ^= 1 << rng.below(8);
            }
            if let Some(list) = PostingList::new(&bad, 1000, 2) {
                let _ = list.for_each(|_, _| {});
                let _ = list.find(300);
            }
        }
        assert!(PostingList::new(&good[..10], 1000, 2).is_none());
    }
}

/// Property tests of the codec (proptest): any strictly increasing doc list
/// with codes of the stated width round-trips, the block directory tells the
/// truth, and no byte string makes the decoder panic.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// `(docs, codes, width)`: docs strictly increasing, mixing dense small
    /// ordinals with arbitrary ones; up to five blocks.
    fn lists() -> impl Strategy<Value = (Vec<u32>, Vec<u32>, usize)> {
        let doc = prop_oneof![3 => 0u32..2000, 1 => any::<u32>()];
        (
            prop::sample::select(vec![1usize, 2, 4]),
            prop::collection::btree_set(doc, 0..600),
        )
            .prop_flat_map(|(width, docs)| {
                let top = if width == 4 {
                    u32::MAX
                } else {
                    (1u32 << (8 * width)) - 1
                };
                let n = docs.len();
                (
                    Just(docs.into_iter().collect::<Vec<u32>>()),
                    prop::collection::vec(1..=top, n),
                    Just(width),
                )
            })
    }

    proptest! {
        #[test]
        fn round_trips_with_a_truthful_directory((docs, codes, width) in lists(), pad in 0usize..5) {
            let mut out = vec![0x5A; pad];
            let max = encode_list(&docs, &codes, width, &mut out);
            prop_assert_eq!(max, codes.iter().copied().max().unwrap_or(0));
            let list = PostingList::new(&out[pad..], docs.len() as u32, width).unwrap();
            prop_assert_eq!(list.num_blocks(), docs.len().div_ceil(BLOCK));
            let mut got = Vec::new();
            prop_assert!(list.for_each(|d, c| got.push((d, c))).is_some());
            let want: Vec<(u32, u32)> = docs.iter().copied().zip(codes.iter().copied()).collect();
            prop_assert_eq!(got, want);
            for (b, (dc, cc)) in docs.chunks(BLOCK).zip(codes.chunks(BLOCK)).enumerate() {
                let m = list.block_meta(b);
                prop_assert_eq!(m.last_doc, *dc.last().unwrap());
                prop_assert_eq!(m.max_code, *cc.iter().max().unwrap());
            }
            for (&d, &c) in docs.iter().zip(&codes).step_by(7) {
                prop_assert_eq!(list.find(d), Some(c));
            }
        }

        #[test]
        fn find_misses_absent_docs((docs, codes, width) in lists(), probes in prop::collection::vec(any::<u32>(), 20)) {
            let mut out = Vec::new();
            encode_list(&docs, &codes, width, &mut out);
            let list = PostingList::new(&out, docs.len() as u32, width).unwrap();
            for p in probes {
                let want = docs.binary_search(&p).ok().map(|i| codes[i]);
                prop_assert_eq!(list.find(p), want);
            }
        }

        #[test]
        fn damaged_lists_never_panic(
            (docs, codes, width) in lists(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            df_delta in -3i64..300,
        ) {
            let mut out = Vec::new();
            encode_list(&docs, &codes, width, &mut out);
            if !out.is_empty() {
                for (at, v) in &edits {
                    let i = at.index(out.len());
                    out[i] ^= v;
                }
                out.truncate(cut.index(out.len() + 1));
            }
            let df = (docs.len() as i64 + df_delta).clamp(0, u32::MAX as i64) as u32;
            if let Some(list) = PostingList::new(&out, df, width) {
                let _ = list.for_each(|_, _| {});
                for &d in docs.iter().take(10) {
                    let _ = list.find(d);
                }
                let mut d = [0u32; BLOCK];
                let mut c = [0u32; BLOCK];
                for b in 0..list.num_blocks() + 1 {
                    let _ = list.decode_block(b, &mut d, &mut c);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), df in 0u32..400, width in prop::sample::select(vec![1usize, 2, 4])) {
            if let Some(list) = PostingList::new(&bytes, df, width) {
                let _ = list.for_each(|_, _| {});
                let _ = list.find(df);
            }
        }
    }
}
