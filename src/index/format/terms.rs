//! The term dictionary: token strings in byte order, each pointing at its
//! posting list. Fixed-width entries make lookup a binary search straight
//! over the memory map, so opening costs nothing and a lookup checks the
//! pages of the entries and strings it reads.

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::frame::FileMeta;
use crate::index::format::frame::{
    FileWriter, HEADER_LEN, MAGIC_TERMS, MappedFile, le_u32, le_u64, to_usize,
};

/// Bytes of the `.ter` header.
const TERMS_HEADER: usize = 24;
/// Bytes per dictionary entry.
const ENTRY: usize = 40;

/// What the dictionary records about one term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TermInfo {
    /// Absolute offset of the posting list in the `.pst` file.
    pub(crate) offset: u64,
    /// Length of the posting list in bytes.
    pub(crate) len: u64,
    /// Number of documents containing the term.
    pub(crate) doc_freq: u32,
    /// Largest impact code of the list.
    pub(crate) max_code: u32,
}

/// Collects entries in term order, then writes the `.ter` file.
#[derive(Default)]
pub(crate) struct TermDictWriter {
    entries: Vec<u8>,
    strings: Vec<u8>,
    count: u32,
    last: Vec<u8>,
}

impl TermDictWriter {
    /// Adds the next term; terms must arrive in strictly increasing byte order.
    pub(crate) fn push(&mut self, term: &str, info: TermInfo) -> Result<(), IndexError> {
        debug_assert!(self.count == 0 || term.as_bytes() > self.last.as_slice());
        let len = u32::try_from(term.len())
            .map_err(|_| IndexError::Limit(format!("term of {} bytes", term.len())))?;
        self.count = self
            .count
            .checked_add(1)
            .ok_or_else(|| IndexError::Limit("more than 2^32 - 1 terms".into()))?;
        let e = &mut self.entries;
        e.extend_from_slice(&info.offset.to_le_bytes());
        e.extend_from_slice(&info.len.to_le_bytes());
        e.extend_from_slice(&(self.strings.len() as u64).to_le_bytes());
        e.extend_from_slice(&len.to_le_bytes());
        e.extend_from_slice(&info.doc_freq.to_le_bytes());
        e.extend_from_slice(&info.max_code.to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes());
        self.strings.extend_from_slice(term.as_bytes());
        self.last.clear();
        self.last.extend_from_slice(term.as_bytes());
        Ok(())
    }

    /// Number of terms pushed.
    pub(crate) fn len(&self) -> u32 {
        self.count
    }

    /// Writes `<dir>/<name>` and returns its metadata.
    pub(crate) fn write(self, dir: &Path, name: &str) -> Result<FileMeta, IndexError> {
        self.write_as(dir, name, MAGIC_TERMS)
    }

    /// [`write`](Self::write) under another magic: the lexical dictionary
    /// (`.lxt`) shares this layout.
    pub(crate) fn write_as(
        self,
        dir: &Path,
        name: &str,
        magic: &[u8; 8],
    ) -> Result<FileMeta, IndexError> {
        let mut w = FileWriter::create(dir, name, magic)?;
        w.write_u32(self.count)?;
        w.write_u64(self.strings.len() as u64)?;
        w.write(&self.entries)?;
        w.write(&self.strings)?;
        w.finish()
    }
}

/// A memory-mapped term dictionary.
pub(crate) struct TermDict {
    file: MappedFile,
    count: usize,
    strings_at: usize,
}

impl TermDict {
    /// Checks the header and that entries and strings fit in the file.
    pub(crate) fn open(file: MappedFile) -> Result<Self, IndexError> {
        let h = HEADER_LEN as usize;
        let b = file.at_open(h..TERMS_HEADER)?;
        let (Some(count), Some(strings_len)) = (le_u32(b, 0), le_u64(b, 4)) else {
            return Err(file.corrupt("term dictionary header truncated"));
        };
        let count = count as usize;
        let strings_at = TERMS_HEADER + count * ENTRY;
        let fits = to_usize(strings_len)
            .and_then(|s| strings_at.checked_add(s))
            .is_some_and(|end| end == file.len());
        if !fits {
            return Err(file.corrupt(format!(
                "{count} terms and {strings_len} string bytes do not fill {} bytes",
                file.len()
            )));
        }
        Ok(TermDict {
            file,
            count,
            strings_at,
        })
    }

    /// The mapped file (for `verify`).
    pub(crate) fn file(&self) -> &MappedFile {
        &self.file
    }

    /// Number of terms.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The bytes of entry `i < len()`; `None` when damaged.
    fn entry(&self, i: usize) -> Option<&[u8]> {
        let at = TERMS_HEADER + i * ENTRY;
        self.file.get(at..at + ENTRY)
    }

    /// The token of entry `i` (empty when its bytes are damaged).
    pub(crate) fn term(&self, i: usize) -> &str {
        self.try_term(i).unwrap_or("")
    }

    fn try_term(&self, i: usize) -> Option<&str> {
        let e = self.entry(i)?;
        let (off, len) = (to_usize(le_u64(e, 16)?)?, le_u32(e, 24)? as usize);
        let start = self.strings_at.checked_add(off)?;
        let bytes = self.file.get(start..start.checked_add(len)?)?;
        std::str::from_utf8(bytes).ok()
    }

    /// What the dictionary says about entry `i` (an empty list when its
    /// bytes are damaged).
    pub(crate) fn info(&self, i: usize) -> TermInfo {
        let e = self.entry(i).unwrap_or(&[]);
        TermInfo {
            offset: le_u64(e, 0).unwrap_or(0),
            len: le_u64(e, 8).unwrap_or(0),
            doc_freq: le_u32(e, 28).unwrap_or(0),
            max_code: le_u32(e, 32).unwrap_or(0),
        }
    }

    /// Finds a token by binary search over the sorted entries.
    pub(crate) fn lookup(&self, term: &str) -> Option<TermInfo> {
        self.position(term).map(|i| self.info(i))
    }

    /// The entry number of a token, by binary search.
    pub(crate) fn position(&self, term: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.term(mid).as_bytes().cmp(term.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::format::frame::FileMeta;

    fn build(dir: &Path, terms: &[&str]) -> TermDict {
        let mut w = TermDictWriter::default();
        for (i, t) in terms.iter().enumerate() {
            let info = TermInfo {
                offset: 100 * i as u64,
                len: 10 + i as u64,
                doc_freq: i as u32 + 1,
                max_code: 1000 + i as u32,
            };
            w.push(t, info).unwrap();
        }
        let meta: FileMeta = w.write(dir, "t.ter").unwrap();
        TermDict::open(MappedFile::open(dir, &meta, MAGIC_TERMS).unwrap()).unwrap()
    }

    #[test]
    fn lookups_find_every_term_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let mut terms = vec!["##s", "[CLS]", "a", "ab", "abc", "b", "zebra", "é", "日本"];
        terms.sort();
        let dict = build(dir.path(), &terms);
        assert_eq!(dict.len(), terms.len());
        for (i, t) in terms.iter().enumerate() {
            assert_eq!(dict.term(i), *t);
            let info = dict.lookup(t).unwrap();
            assert_eq!(info.offset, 100 * i as u64);
            assert_eq!(info.doc_freq, i as u32 + 1);
            assert_eq!(info.max_code, 1000 + i as u32);
        }
        for absent in ["", "aa", "abcd", "c", "zz", "\u{10ffff}"] {
            assert!(dict.lookup(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn empty_dictionary() {
        let dir = tempfile::tempdir().unwrap();
        let dict = build(dir.path(), &[]);
        assert_eq!(dict.len(), 0);
        assert!(dict.lookup("a").is_none());
    }
}
