//! The lexical (BM25) files of a segment (format version 5,
//! `docs/format.md`, "Lexical postings"):
//!
//! - `.lxp`: one posting list per stem in the block codec of the `.pst`
//!   (`block.rs`), whose codes are term frequencies, exact integers, as
//!   wide as the segment's largest tf needs (1, 2 or 4 bytes);
//! - `.lxt`: the stems, a term dictionary in the `.ter` layout
//!   (`terms.rs`) under its own magic, with each stem's df and largest tf;
//! - `.lxd`: every document's length (tokens after stopword removal) and
//!   their sum, which BM25's `avgdl` needs.

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::block::{BLOCK, PostingList};
use crate::index::format::frame::{
    FileMeta, FileWriter, HEADER_LEN, MappedFile, le_u32, le_u64, to_usize,
};
use crate::index::format::postings::ListWriter;
use crate::index::format::terms::TermInfo;

/// Magic of the lexical postings.
pub(crate) const MAGIC_LEX_POSTINGS: &[u8; 8] = b"SPLDLXPS";
/// Magic of the lexical term dictionary.
pub(crate) const MAGIC_LEX_TERMS: &[u8; 8] = b"SPLDLXTM";
/// Magic of the document lengths.
pub(crate) const MAGIC_LEX_LENGTHS: &[u8; 8] = b"SPLDLXDL";

/// Bytes of the `.lxd` header: magic, version, `n_docs`, reserved, `tokens`.
const LENGTHS_HEADER: usize = 28;

/// The code width that holds every tf up to `max_tf`.
pub(crate) fn tf_width(max_tf: u32) -> usize {
    match max_tf {
        0..=0xFF => 1,
        0x100..=0xFFFF => 2,
        _ => 4,
    }
}

/// Starts a segment's `.lxp` file `dir/name` for lists whose largest tf is
/// `max_tf` (the codes are the tfs).
pub(crate) fn create_lex_postings(
    dir: &Path,
    name: &str,
    max_tf: u32,
) -> Result<ListWriter, IndexError> {
    let width = tf_width(max_tf);
    let mut w = FileWriter::create(dir, name, MAGIC_LEX_POSTINGS)?;
    w.write_u32(width as u32)?;
    w.write_u32(BLOCK as u32)?;
    Ok(ListWriter::new(w, width))
}

/// A mapped `.lxp` file with its header checked.
pub(crate) struct LexPostings {
    file: MappedFile,
    width: usize,
}

impl LexPostings {
    /// Checks the header: a tf width of 1, 2 or 4 bytes, blocks of 128.
    pub(crate) fn open(file: MappedFile) -> Result<Self, IndexError> {
        let h = HEADER_LEN as usize;
        let b = file.at_open(h..h + 8)?;
        let (Some(width), Some(block)) = (le_u32(b, 0), le_u32(b, 4)) else {
            return Err(file.corrupt("lexical postings header truncated"));
        };
        if !matches!(width, 1 | 2 | 4) {
            return Err(file.corrupt(format!("tf width {width}, expected 1, 2 or 4")));
        }
        if block as usize != BLOCK {
            return Err(file.corrupt(format!("block size {block}, expected {BLOCK}")));
        }
        Ok(LexPostings {
            file,
            width: width as usize,
        })
    }

    /// The mapped file (for `verify`).
    pub(crate) fn file(&self) -> &MappedFile {
        &self.file
    }

    /// The list a dictionary entry points at, codes = tf (`None` if damaged).
    pub(crate) fn list(&self, info: &TermInfo) -> Option<PostingList<'_>> {
        let (start, len) = (to_usize(info.offset)?, to_usize(info.len)?);
        PostingList::in_file(&self.file, start, len, info.doc_freq, self.width)
    }
}

/// Writes the `.lxd` file: `lengths` in local ordinal order and their sum.
pub(crate) fn write_lengths(
    dir: &Path,
    name: &str,
    lengths: &[u32],
) -> Result<FileMeta, IndexError> {
    let n = u32::try_from(lengths.len())
        .map_err(|_| IndexError::Limit(format!("{} documents in one segment", lengths.len())))?;
    let tokens: u64 = lengths.iter().map(|&l| u64::from(l)).sum();
    let mut w = FileWriter::create(dir, name, MAGIC_LEX_LENGTHS)?;
    w.write_u32(n)?;
    w.write_u32(0)?;
    w.write_u64(tokens)?;
    let mut buf = Vec::with_capacity(lengths.len() * 4);
    for &l in lengths {
        buf.extend_from_slice(&l.to_le_bytes());
    }
    w.write(&buf)?;
    w.finish()
}

/// A mapped `.lxd` file: the length of each document of the segment.
pub(crate) struct DocLengths {
    file: MappedFile,
    n: u32,
    tokens: u64,
}

impl DocLengths {
    /// Checks the header against `meta.json` (documents, token sum) and
    /// that the file holds exactly one length per document.
    pub(crate) fn open(
        file: MappedFile,
        expected_docs: u64,
        expected_tokens: u64,
    ) -> Result<Self, IndexError> {
        let h = HEADER_LEN as usize;
        let b = file.at_open(h..LENGTHS_HEADER)?;
        let (Some(n), Some(tokens)) = (le_u32(b, 0), le_u64(b, 8)) else {
            return Err(file.corrupt("document lengths header truncated"));
        };
        if u64::from(n) != expected_docs {
            return Err(file.corrupt(format!(
                "lengths of {n} documents, meta.json says {expected_docs}"
            )));
        }
        if tokens != expected_tokens {
            return Err(file.corrupt(format!("{tokens} tokens, meta.json says {expected_tokens}")));
        }
        if LENGTHS_HEADER as u64 + 4 * u64::from(n) != file.len() as u64 {
            return Err(file.corrupt(format!(
                "{} bytes do not hold the lengths of {n} documents",
                file.len()
            )));
        }
        Ok(DocLengths { file, n, tokens })
    }

    /// The mapped file (for `verify`).
    pub(crate) fn file(&self) -> &MappedFile {
        &self.file
    }

    /// The length of local ordinal `doc` (0 when out of range or damaged).
    #[inline]
    pub(crate) fn get(&self, doc: u32) -> u32 {
        if doc >= self.n {
            return 0;
        }
        let at = LENGTHS_HEADER + doc as usize * 4;
        self.file
            .get(at..at + 4)
            .and_then(|b| le_u32(b, 0))
            .unwrap_or(0)
    }

    /// The sum of the lengths, as the header states it.
    pub(crate) fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Whether the lengths add up to the header's sum (part of `verify`,
    /// after the CRC: a wrong sum with a right CRC is a writer's bug).
    pub(crate) fn check_sum(&self) -> Result<(), IndexError> {
        let sum: u64 = (0..self.n).map(|d| u64::from(self.get(d))).sum();
        if sum != self.tokens {
            return Err(self.file.corrupt(format!(
                "document lengths add up to {sum}, the header says {}",
                self.tokens
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_fit_the_largest_tf() {
        assert_eq!(tf_width(0), 1);
        assert_eq!(tf_width(255), 1);
        assert_eq!(tf_width(256), 2);
        assert_eq!(tf_width(65535), 2);
        assert_eq!(tf_width(65536), 4);
        assert_eq!(tf_width(u32::MAX), 4);
    }

    #[test]
    fn postings_round_trip_at_every_width() {
        let dir = tempfile::tempdir().unwrap();
        for (i, max_tf) in [1u32, 255, 256, 70_000].into_iter().enumerate() {
            let name = format!("t{i}.lxp");
            let mut w = create_lex_postings(dir.path(), &name, max_tf).unwrap();
            let lists: Vec<(Vec<u32>, Vec<u32>)> = (0..3u32)
                .map(|t| {
                    let docs: Vec<u32> = (0..300).map(|d| d * (t + 1) + t).collect();
                    let tfs = docs.iter().map(|d| 1 + d % max_tf).collect();
                    (docs, tfs)
                })
                .collect();
            let infos: Vec<TermInfo> = lists.iter().map(|(d, t)| w.push(d, t).unwrap()).collect();
            let meta = w.finish().unwrap();
            let file = MappedFile::open(dir.path(), &meta, MAGIC_LEX_POSTINGS).unwrap();
            file.verify().unwrap();
            let p = LexPostings::open(file).unwrap();
            assert_eq!(p.width, tf_width(max_tf));
            for ((docs, tfs), info) in lists.iter().zip(&infos) {
                assert_eq!(info.max_code, *tfs.iter().max().unwrap());
                let mut got = Vec::new();
                p.list(info)
                    .unwrap()
                    .for_each(|d, c| got.push((d, c)))
                    .unwrap();
                let want: Vec<(u32, u32)> = docs.iter().copied().zip(tfs.iter().copied()).collect();
                assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn lengths_round_trip_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let lengths = [3u32, 0, 17, u32::MAX, 5];
        let meta = write_lengths(dir.path(), "s.lxd", &lengths).unwrap();
        let tokens: u64 = lengths.iter().map(|&l| u64::from(l)).sum();
        let open = |docs, tokens| {
            let f = MappedFile::open(dir.path(), &meta, MAGIC_LEX_LENGTHS).unwrap();
            DocLengths::open(f, docs, tokens)
        };
        let l = open(5, tokens).unwrap();
        assert_eq!(
            (0..6).map(|d| l.get(d)).collect::<Vec<_>>(),
            [3, 0, 17, u32::MAX, 5, 0]
        );
        assert_eq!(l.tokens(), tokens);
        l.check_sum().unwrap();
        l.file().verify().unwrap();
        let e = open(4, tokens).err().unwrap().to_string();
        assert!(
            e.contains("lengths of 5 documents, meta.json says 4"),
            "{e}"
        );
        let e = open(5, 7).err().unwrap().to_string();
        assert!(e.contains("meta.json says 7"), "{e}");
        // An empty segment.
        let meta = write_lengths(dir.path(), "e.lxd", &[]).unwrap();
        let f = MappedFile::open(dir.path(), &meta, MAGIC_LEX_LENGTHS).unwrap();
        let e = DocLengths::open(f, 0, 0).unwrap();
        assert_eq!(e.get(0), 0);
        e.check_sum().unwrap();
    }

    #[test]
    fn bad_headers_are_corruption() {
        let dir = tempfile::tempdir().unwrap();
        // A width of 3 bytes, written by hand.
        let mut w = FileWriter::create(dir.path(), "w.lxp", MAGIC_LEX_POSTINGS).unwrap();
        w.write_u32(3).unwrap();
        w.write_u32(BLOCK as u32).unwrap();
        let meta = w.finish().unwrap();
        let f = MappedFile::open(dir.path(), &meta, MAGIC_LEX_POSTINGS).unwrap();
        let e = LexPostings::open(f).err().unwrap().to_string();
        assert!(e.contains("tf width 3"), "{e}");
        // Lengths whose sum disagrees with the header.
        let mut w = FileWriter::create(dir.path(), "s.lxd", MAGIC_LEX_LENGTHS).unwrap();
        for v in [2u32, 0, 9, 0, 4, 4] {
            w.write_u32(v).unwrap();
        }
        let meta = w.finish().unwrap();
        let f = MappedFile::open(dir.path(), &meta, MAGIC_LEX_LENGTHS).unwrap();
        let l = DocLengths::open(f, 2, 9).unwrap();
        let e = l.check_sum().unwrap_err().to_string();
        assert!(e.contains("add up to 8, the header says 9"), "{e}");
    }
}
