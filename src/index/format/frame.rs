//! The frame every binary index file shares: magic + version header, a
//! 16-byte footer (length, CRC32, `SPLE`), and the write path (temp file,
//! fsync, rename) and read path (memory map, cheap checks) around it.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::index::error::IndexError;
use serde::{Deserialize, Serialize};

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

/// Streams one index file to `<name>.tmp`, hashing as it goes; `finish`
/// appends the footer, fsyncs and renames to the final name.
pub(crate) struct FileWriter {
    dir: PathBuf,
    name: String,
    out: BufWriter<File>,
    hasher: crc32fast::Hasher,
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
            hasher: crc32fast::Hasher::new(),
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
        self.hasher.update(bytes);
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

    /// Writes the footer, syncs the data, renames the temp file to its final
    /// name and returns what `meta.json` records about it. The directory
    /// itself is fsynced once by the caller after all files are renamed.
    pub(crate) fn finish(mut self) -> Result<FileMeta, IndexError> {
        let crc = self.hasher.clone().finalize();
        let total = self.len + FOOTER_LEN;
        let mut footer = Vec::with_capacity(FOOTER_LEN as usize);
        footer.extend_from_slice(&total.to_le_bytes());
        footer.extend_from_slice(&crc.to_le_bytes());
        footer.extend_from_slice(FOOTER_MAGIC);
        let tmp = self.tmp_path();
        self.out
            .write_all(&footer)
            .map_err(|e| IndexError::io(&tmp, e))?;
        let file = self
            .out
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

/// A published index file, memory-mapped, with its header and footer checked.
pub(crate) struct MappedFile {
    pub(crate) path: PathBuf,
    map: Mmap,
    expected_crc: u32,
}

impl MappedFile {
    /// Maps `dir/meta.name` and checks length (against `meta.json` and the
    /// footer), magic, version and footer magic. Does not read the body.
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
        // prevent and which `verify` detects).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| IndexError::io(&path, e))?;
        let f = MappedFile {
            path,
            map,
            expected_crc: meta.crc32,
        };
        f.check_frame(magic)?;
        Ok(f)
    }

    fn check_frame(&self, magic: &[u8; 8]) -> Result<(), IndexError> {
        let bytes = &self.map[..];
        if &bytes[..8] != magic {
            return Err(self.corrupt(format!(
                "bad magic {:?}, expected {:?}",
                String::from_utf8_lossy(&bytes[..8]),
                String::from_utf8_lossy(magic)
            )));
        }
        let version = le_u32(bytes, 8).unwrap_or(0);
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(IndexError::Version {
                path: self.path.clone(),
                expected: FORMAT_VERSION,
                found: version,
            });
        }
        let n = bytes.len();
        if &bytes[n - 4..] != FOOTER_MAGIC {
            return Err(self.corrupt("footer magic missing (truncated or overwritten)"));
        }
        let stated = le_u64(bytes, n - 16).unwrap_or(0);
        if stated != n as u64 {
            return Err(self.corrupt(format!("footer says {stated} bytes, file has {n}")));
        }
        Ok(())
    }

    /// A corruption error naming this file.
    pub(crate) fn corrupt(&self, message: impl Into<String>) -> IndexError {
        IndexError::corrupt(&self.path, message)
    }

    /// The whole file, header and footer included (offsets in the format
    /// are absolute).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map[..self.map.len() - FOOTER_LEN as usize]
    }

    /// Recomputes the CRC32 and compares it with the footer and `meta.json`.
    pub(crate) fn verify(&self) -> Result<(), IndexError> {
        let n = self.map.len();
        let actual = crc32fast::hash(self.bytes());
        let footer = le_u32(&self.map, n - 8).unwrap_or(0);
        if actual != footer {
            return Err(self.corrupt(format!(
                "CRC32 mismatch: computed {actual:08x}, footer says {footer:08x}"
            )));
        }
        if actual != self.expected_crc {
            return Err(self.corrupt(format!(
                "CRC32 mismatch: computed {actual:08x}, meta.json says {:08x}",
                self.expected_crc
            )));
        }
        Ok(())
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
/// one more than items, relative to `base`): the doc table and the stored
/// documents share this layout. `None` when out of bounds.
pub(crate) fn span(bytes: &[u8], table: usize, i: usize, base: usize) -> Option<&[u8]> {
    let a = to_usize(le_u64(bytes, table + i * 8)?)?;
    let b = to_usize(le_u64(bytes, table + (i + 1) * 8)?)?;
    bytes.get(base.checked_add(a)?..base.checked_add(b)?)
}
