//! The frame every binary index file shares: magic + version header, a
//! 16-byte footer (length, CRC32, `SPLE`), before it (format 6) the page
//! checksums of `pages.rs`, and the write path (temp file, fsync, rename)
//! and read path (memory map, cheap checks, reads checked page by page)
//! around it.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::index::error::IndexError;
use serde::{Deserialize, Serialize};

use crate::index::format::pages::{PageCheck, PageHasher};
use crate::index::format::{FORMAT_VERSION, MIN_FORMAT_VERSION};

/// Magic of the postings file.
pub(crate) const MAGIC_POSTINGS: &[u8; 8] = b"SPLDPOST";
/// Magic of the term dictionary.
pub(crate) const MAGIC_TERMS: &[u8; 8] = b"SPLDTERM";
/// Magic of the doc table.
pub(crate) const MAGIC_DOCS: &[u8; 8] = b"SPLDDOCS";
/// Magic of the stored-documents file.
pub(crate) const MAGIC_STORED: &[u8; 8] = b"SPLDSTOR";
/// Magic of a deletes bitmap (format version 2).
pub(crate) const MAGIC_DELETES: &[u8; 8] = b"SPLDDELS";
/// Magic of the per-range term maxima (format version 3).
pub(crate) const MAGIC_RANGES: &[u8; 8] = b"SPLDRNGS";
/// Magic of the forward postings (format version 7).
pub(crate) const MAGIC_FORWARD: &[u8; 8] = b"SPLDFWRD";
/// Last four bytes of every file.
const FOOTER_MAGIC: &[u8; 4] = b"SPLE";
/// Bytes of the common header (magic + version).
pub(crate) const HEADER_LEN: u64 = 12;
/// Bytes of the footer.
pub(crate) const FOOTER_LEN: u64 = 16;

/// One file of a segment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileMeta {
    /// File name inside the index directory.
    pub name: String,
    /// Exact length in bytes.
    pub len: u64,
    /// CRC32 of the bytes before the footer.
    pub crc32: u32,
}

/// Streams one index file to `<name>.tmp`, hashing its pages as it goes;
/// `finish` appends the page table and the footer, fsyncs and renames to
/// the final name.
pub(crate) struct FileWriter {
    dir: PathBuf,
    name: String,
    out: BufWriter<File>,
    pages: PageHasher,
    len: u64,
}

impl FileWriter {
    /// Creates `<dir>/<name>.tmp` and writes the common header. The name is
    /// fresh (the write lock is held and the generation is new), so the file
    /// is created new: an existing one is an error, never truncated.
    pub(crate) fn create(dir: &Path, name: &str, magic: &[u8; 8]) -> Result<Self, IndexError> {
        let tmp = dir.join(format!("{name}.tmp"));
        let file = File::create_new(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
        let mut w = FileWriter {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            out: BufWriter::with_capacity(1 << 16, file),
            pages: PageHasher::new(),
            len: 0,
        };
        w.write(magic)?;
        w.write_u32(FORMAT_VERSION)?;
        Ok(w)
    }

    fn tmp_path(&self) -> PathBuf {
        self.dir.join(format!("{}.tmp", self.name))
    }

    /// Bytes written so far (the offset of the next byte).
    pub(crate) fn position(&self) -> u64 {
        self.len
    }

    /// Appends raw bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), IndexError> {
        self.pages.update(bytes);
        self.len += bytes.len() as u64;
        self.out
            .write_all(bytes)
            .map_err(|e| IndexError::io(self.tmp_path(), e))
    }

    /// Appends a little-endian `u32`.
    pub(crate) fn write_u32(&mut self, v: u32) -> Result<(), IndexError> {
        self.write(&v.to_le_bytes())
    }

    /// Appends a little-endian `u64`.
    pub(crate) fn write_u64(&mut self, v: u64) -> Result<(), IndexError> {
        self.write(&v.to_le_bytes())
    }

    /// Writes the page table and footer, syncs the data, renames the temp
    /// file to its final name and returns what `meta.json` records about
    /// it. The directory itself is fsynced once by the caller after all
    /// files are renamed.
    pub(crate) fn finish(self) -> Result<FileMeta, IndexError> {
        // The page table and trailer, then the footer.
        let (mut tail, crc) = self.pages.finish(self.len);
        let total = self.len + tail.len() as u64 + FOOTER_LEN;
        tail.extend_from_slice(&total.to_le_bytes());
        tail.extend_from_slice(&crc.to_le_bytes());
        tail.extend_from_slice(FOOTER_MAGIC);
        let tmp = self.dir.join(format!("{}.tmp", self.name));
        let mut out = self.out;
        out.write_all(&tail).map_err(|e| IndexError::io(&tmp, e))?;
        let file = out
            .into_inner()
            .map_err(|e| IndexError::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| IndexError::io(&tmp, e))?;
        drop(file);
        let dest = self.dir.join(&self.name);
        fs::rename(&tmp, &dest).map_err(|e| IndexError::io(&dest, e))?;
        Ok(FileMeta {
            name: self.name,
            len: total,
            crc32: crc,
        })
    }
}

/// Fsyncs a directory so that renames in it are durable (a no-op where the
/// platform cannot open directories).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|e| IndexError::io(dir, e))?;
        d.sync_all().map_err(|e| IndexError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A published index file, memory-mapped, with its header and footer
/// checked, whose bytes are read through [`get`](Self::get): each page is
/// checked by its CRC32 the first time a read covers it (`pages.rs`).
pub(crate) struct MappedFile {
    pub(crate) path: PathBuf,
    map: Mmap,
    expected_crc: u32,
    pages: PageCheck,
}

impl MappedFile {
    /// Maps `dir/meta.name` and checks length (against `meta.json` and the
    /// footer), magic, version, footer magic and where the page table is.
    /// Does not read the body.
    pub(crate) fn open(dir: &Path, meta: &FileMeta, magic: &[u8; 8]) -> Result<Self, IndexError> {
        let path = dir.join(&meta.name);
        let file = File::open(&path).map_err(|e| IndexError::io(&path, e))?;
        let len = file.metadata().map_err(|e| IndexError::io(&path, e))?.len();
        if len != meta.len {
            return Err(IndexError::corrupt(
                &path,
                format!("file is {len} bytes, meta.json says {}", meta.len),
            ));
        }
        if len < HEADER_LEN + FOOTER_LEN {
            return Err(IndexError::corrupt(
                &path,
                format!("file is only {len} bytes"),
            ));
        }
        // SAFETY: index files are never modified after they are published;
        // a new build writes files under new names and only then removes
        // unreferenced ones, so the mapped bytes do not change under us
        // (short of another program editing the index, which we cannot
        // prevent and which the page checks and `verify` detect).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| IndexError::io(&path, e))?;
        let version = check_frame(&map, magic).map_err(|e| e.at(&path))?;
        let pages = PageCheck::open(&map, version, meta.crc32)
            .map_err(|message| IndexError::corrupt(&path, message))?;
        Ok(MappedFile {
            path,
            map,
            expected_crc: meta.crc32,
            pages,
        })
    }

    /// A corruption error naming this file.
    pub(crate) fn corrupt(&self, message: impl Into<String>) -> IndexError {
        IndexError::corrupt(&self.path, message)
    }

    /// Length of the header and body: the bytes the format's offsets
    /// address (absolute offsets; the page table and footer follow).
    pub(crate) fn len(&self) -> usize {
        self.pages.body_len()
    }

    /// Bytes `range` of the body, once every page they lie in has passed
    /// its check; `None` when out of bounds or damaged (the damage is
    /// recorded: [`damage`](Self::damage)).
    #[inline]
    pub(crate) fn get(&self, range: Range<usize>) -> Option<&[u8]> {
        let bytes = self.map[..self.len()].get(range.clone())?;
        self.pages
            .check(&self.map, range.start, range.end)
            .then_some(bytes)
    }

    /// Bytes `range` of the body, not checked: for a reader that checks
    /// each part with [`check`](Self::check) before it uses it (a posting
    /// list, block by block).
    pub(crate) fn unchecked(&self, range: Range<usize>) -> Option<&[u8]> {
        self.map[..self.len()].get(range)
    }

    /// Whether bytes `[start, end)` of the body are intact (see
    /// [`get`](Self::get)).
    #[inline]
    pub(crate) fn check(&self, start: usize, end: usize) -> bool {
        self.pages.check(&self.map, start, end)
    }

    /// Bytes `range` as an open-time check reads them (a header, a
    /// trailer): checked like any read when the file has page checksums
    /// (the pages at its two ends: opening costs the same at any size),
    /// taken as they are from an older file, which is checked whole before
    /// any query reads it, so nothing answered depends on them unchecked;
    /// what open compares with `meta.json` is caught at once either way.
    pub(crate) fn at_open(&self, range: Range<usize>) -> Result<&[u8], IndexError> {
        let len = self.len();
        let end = range.end;
        let bytes = if self.pages.is_paged() {
            self.get(range)
        } else {
            self.unchecked(range)
        };
        bytes.ok_or_else(|| match self.damage() {
            Some(damage) => damage,
            None => self.corrupt(format!("{end} bytes needed, the file holds {len}")),
        })
    }

    /// The first damage a read found, as the error searches return.
    pub(crate) fn damage(&self) -> Option<IndexError> {
        self.pages.damage().map(|m| self.corrupt(m))
    }

    /// The recorded damage, or else `what` as a corruption error: for a
    /// read that found its bytes damaged or malformed.
    pub(crate) fn damaged(&self, what: impl FnOnce() -> String) -> IndexError {
        self.damage().unwrap_or_else(|| self.corrupt(what()))
    }

    /// Bytes checksummed by reads so far.
    pub(crate) fn checked_bytes(&self) -> u64 {
        self.pages.checked_bytes()
    }

    /// The page size, the number of pages and those checked so far.
    pub(crate) fn passed_pages(&self) -> (usize, usize, Vec<usize>) {
        self.pages.passed_pages()
    }

    /// Recomputes every page's CRC32 and the whole file's, and compares
    /// them with the page table, the footer and `meta.json`.
    pub(crate) fn verify(&self) -> Result<(), IndexError> {
        self.pages
            .verify(&self.map, self.expected_crc)
            .map_err(|m| self.corrupt(m))
    }
}

/// Checks magic, version, footer magic and stated length of a mapped file;
/// returns its version. Errors name no file (the caller adds it).
fn check_frame(bytes: &[u8], magic: &[u8; 8]) -> Result<u32, FrameError> {
    if &bytes[..8] != magic {
        return Err(FrameError::Corrupt(format!(
            "bad magic {:?}, expected {:?}",
            String::from_utf8_lossy(&bytes[..8]),
            String::from_utf8_lossy(magic)
        )));
    }
    let version = le_u32(bytes, 8).unwrap_or(0);
    if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(FrameError::Version(version));
    }
    let n = bytes.len();
    if &bytes[n - 4..] != FOOTER_MAGIC {
        return Err(FrameError::Corrupt(
            "footer magic missing (truncated or overwritten)".into(),
        ));
    }
    let stated = le_u64(bytes, n - 16).unwrap_or(0);
    if stated != n as u64 {
        return Err(FrameError::Corrupt(format!(
            "footer says {stated} bytes, file has {n}"
        )));
    }
    Ok(version)
}

/// What [`check_frame`] found wrong.
enum FrameError {
    Corrupt(String),
    Version(u32),
}

impl FrameError {
    fn at(self, path: &Path) -> IndexError {
        match self {
            FrameError::Corrupt(m) => IndexError::corrupt(path, m),
            FrameError::Version(found) => IndexError::Version {
                path: path.to_path_buf(),
                expected: FORMAT_VERSION,
                found,
            },
        }
    }
}

/// The bytes of a table that a segment reads from its file or, for a
/// segment written without that file, builds in memory in the same layout
/// (range maxima, forward postings): offsets are absolute either way, and
/// reads of a file go through its page checks.
pub(crate) enum TableBytes {
    Mapped(MappedFile),
    Owned(Vec<u8>),
}

impl TableBytes {
    /// Bytes `range`; `None` when out of bounds or damaged.
    #[inline]
    pub(crate) fn get(&self, range: Range<usize>) -> Option<&[u8]> {
        match self {
            TableBytes::Mapped(f) => f.get(range),
            TableBytes::Owned(v) => v.get(range),
        }
    }

    /// Length of the header and body.
    pub(crate) fn len(&self) -> usize {
        match self {
            TableBytes::Mapped(f) => f.len(),
            TableBytes::Owned(v) => v.len(),
        }
    }

    /// Bytes `range`, unchecked: for a prefetch hint, which reads nothing,
    /// and for tests comparing tables.
    pub(crate) fn unchecked(&self, range: Range<usize>) -> Option<&[u8]> {
        match self {
            TableBytes::Mapped(f) => f.unchecked(range),
            TableBytes::Owned(v) => v.get(range),
        }
    }

    /// The mapped file, for `verify` and damage reports.
    pub(crate) fn file(&self) -> Option<&MappedFile> {
        match self {
            TableBytes::Mapped(f) => Some(f),
            TableBytes::Owned(_) => None,
        }
    }
}

/// Reads a little-endian `u32` at `at`, `None` when out of bounds.
#[inline]
pub(crate) fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian `u64` at `at`, `None` when out of bounds.
#[inline]
pub(crate) fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Converts an on-disk `u64` to an in-memory offset, `None` if it does not fit.
#[inline]
pub(crate) fn to_usize(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// The bytes of item `i` of an offset table at `table` (`u64` offsets,
/// one more than items, relative to `base`) in `file`: the doc table and
/// the stored documents share this layout. `None` when out of bounds or
/// damaged.
pub(crate) fn span(file: &MappedFile, table: usize, i: usize, base: usize) -> Option<&[u8]> {
    let at = table.checked_add(i.checked_mul(8)?)?;
    let offsets = file.get(at..at.checked_add(16)?)?;
    let a = to_usize(le_u64(offsets, 0)?)?;
    let b = to_usize(le_u64(offsets, 8)?)?;
    file.get(base.checked_add(a)?..base.checked_add(b)?)
}
