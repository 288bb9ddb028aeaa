//! The deletes bitmap (`.del`, format version 2): which local ordinals of
//! a segment are deleted. The operation that writes one is
//! `write/delete.rs`.

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::frame::{
    FileWriter, HEADER_LEN, MAGIC_DELETES, MappedFile, le_u32, le_u64,
};
use crate::index::format::meta::DeletesMeta;

/// Bytes of the `.del` header: magic, version, `n_docs`, `n_deleted`.
const DELETES_HEADER: usize = 20;

/// A segment's deleted local ordinals as a bitmap (bit `i % 64` of word
/// `i / 64`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitmap {
    words: Vec<u64>,
    docs: u32,
}

impl Bitmap {
    /// No document of a `docs`-document segment deleted.
    pub(crate) fn empty(docs: u32) -> Self {
        Bitmap {
            words: vec![0; (docs as usize).div_ceil(64)],
            docs,
        }
    }

    /// Whether local ordinal `doc` is deleted.
    pub(crate) fn contains(&self, doc: u32) -> bool {
        self.words
            .get(doc as usize / 64)
            .is_some_and(|w| w >> (doc % 64) & 1 == 1)
    }

    /// Marks `doc` deleted; false if it already was.
    pub(crate) fn insert(&mut self, doc: u32) -> bool {
        let w = &mut self.words[doc as usize / 64];
        let bit = 1u64 << (doc % 64);
        let fresh = *w & bit == 0;
        *w |= bit;
        fresh
    }

    /// Number of deleted documents.
    pub(crate) fn count(&self) -> u64 {
        self.words.iter().map(|w| w.count_ones() as u64).sum()
    }

    /// The deleted local ordinals, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.docs).filter(|&d| self.contains(d))
    }

    /// Writes the bitmap as `<dir>/<name>` and returns what `meta.json`
    /// records about it.
    pub(crate) fn write(&self, dir: &Path, name: &str) -> Result<DeletesMeta, IndexError> {
        let count = self.count();
        let mut w = FileWriter::create(dir, name, MAGIC_DELETES)?;
        w.write_u32(self.docs)?;
        w.write_u32(count as u32)?;
        for &word in &self.words {
            w.write_u64(word)?;
        }
        Ok(DeletesMeta {
            count,
            file: w.finish()?,
        })
    }

    /// Reads a mapped `.del` file of a `docs`-document segment, checking
    /// the document count, the length and the deleted count against
    /// `meta.json`.
    ///
    /// The bitmap is read whole here, so its pages are all checked here
    /// (a bit per document: 125 KB for a million).
    pub(crate) fn read(file: &MappedFile, docs: u64, count: u64) -> Result<Self, IndexError> {
        let b = file
            .get(0..file.len())
            .ok_or_else(|| file.damaged(|| "deletes bitmap unreadable".into()))?;
        let h = HEADER_LEN as usize;
        let (Some(n), Some(n_deleted)) = (le_u32(b, h), le_u32(b, h + 4)) else {
            return Err(file.corrupt("deletes header truncated"));
        };
        if n as u64 != docs || n_deleted as u64 != count {
            return Err(file.corrupt(format!(
                "deletes of {n} documents ({n_deleted} deleted), \
                 meta.json says {docs} documents ({count} deleted)"
            )));
        }
        let n_words = (n as usize).div_ceil(64);
        if b.len() != DELETES_HEADER + n_words * 8 {
            return Err(file.corrupt(format!(
                "deletes bitmap is {} bytes, {n} documents need {}",
                b.len().saturating_sub(DELETES_HEADER),
                n_words * 8
            )));
        }
        let words = (0..n_words)
            .map(|i| le_u64(b, DELETES_HEADER + i * 8).unwrap_or(0))
            .collect();
        let bitmap = Bitmap { words, docs: n };
        let tail_clean = n % 64 == 0 || bitmap.words.last().is_none_or(|w| w >> (n % 64) == 0);
        if bitmap.count() != count || !tail_clean {
            return Err(file.corrupt(format!(
                "deletes bitmap marks {} documents, header says {count}",
                bitmap.count()
            )));
        }
        Ok(bitmap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        for docs in [0u32, 1, 63, 64, 65, 200] {
            let mut bits = Bitmap::empty(docs);
            for d in (0..docs).filter(|d| d % 3 == 1) {
                assert!(bits.insert(d));
                assert!(!bits.insert(d));
            }
            let name = format!("seg-000001.{docs:06}.del");
            let meta = bits.write(dir.path(), &name).unwrap();
            assert_eq!(meta.count, bits.count());
            let file = MappedFile::open(dir.path(), &meta.file, MAGIC_DELETES).unwrap();
            file.verify().unwrap();
            let back = Bitmap::read(&file, docs as u64, meta.count).unwrap();
            assert_eq!(back, bits);
            assert_eq!(
                back.iter().collect::<Vec<_>>(),
                (0..docs).filter(|d| d % 3 == 1).collect::<Vec<_>>()
            );
            // A count that disagrees with meta.json is corruption.
            let err = Bitmap::read(&file, docs as u64, meta.count + 1).unwrap_err();
            assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
        }
    }
}
