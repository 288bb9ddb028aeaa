//! The doc table (`.doc`): ordinal -> external id, an offset table over
//! the concatenated UTF-8 ids, so any id is two reads away without a scan.

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::frame::FileMeta;
use crate::index::format::frame::{FileWriter, HEADER_LEN, MAGIC_DOCS, MappedFile, le_u32, span};

/// Bytes of the `.doc` header.
const DOCS_HEADER: usize = 16;

/// Writes the doc table from the ids in ordinal order.
pub(crate) fn write_doc_table<S: AsRef<str>>(
    dir: &Path,
    name: &str,
    ids: &[S],
) -> Result<FileMeta, IndexError> {
    let n = u32::try_from(ids.len())
        .map_err(|_| IndexError::Limit(format!("{} documents in one segment", ids.len())))?;
    let mut w = FileWriter::create(dir, name, MAGIC_DOCS)?;
    w.write_u32(n)?;
    let mut off = 0u64;
    w.write_u64(0)?;
    for id in ids {
        off += id.as_ref().len() as u64;
        w.write_u64(off)?;
    }
    for id in ids {
        w.write(id.as_ref().as_bytes())?;
    }
    w.finish()
}

/// A memory-mapped doc table.
pub(crate) struct DocTable {
    file: MappedFile,
    n: u32,
}

impl DocTable {
    /// Checks the header, that the count matches `meta.json` and that the
    /// offset table fits.
    pub(crate) fn open(file: MappedFile, expected_docs: u64) -> Result<Self, IndexError> {
        let h = HEADER_LEN as usize;
        let n = le_u32(file.at_open(h..h + 4)?, 0).unwrap_or(0);
        if n as u64 != expected_docs {
            return Err(file.corrupt(format!(
                "doc table has {n} documents, meta.json says {expected_docs}"
            )));
        }
        if DOCS_HEADER + (n as usize + 1) * 8 > file.len() {
            return Err(file.corrupt(format!("offset table of {n} documents truncated")));
        }
        Ok(DocTable { file, n })
    }

    /// The mapped file (for `verify`).
    pub(crate) fn file(&self) -> &MappedFile {
        &self.file
    }

    /// The external id of local ordinal `doc`; `None` when damaged.
    pub(crate) fn id(&self, doc: u32) -> Option<&str> {
        let base = DOCS_HEADER + (self.n as usize + 1) * 8;
        span(&self.file, DOCS_HEADER, doc as usize, base).and_then(|s| std::str::from_utf8(s).ok())
    }
}
