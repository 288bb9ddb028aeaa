//! Per-document files: the doc table (ordinal -> external id) and the
//! optional stored title/text. Both are offset tables over concatenated
//! UTF-8, so any document is two reads away without a scan.

use std::path::Path;

use crate::index::StoredDoc;
use crate::index::error::IndexError;
use crate::index::format::frame::{
    FileWriter, HEADER_LEN, MAGIC_DOCS, MAGIC_STORED, MappedFile, le_u32, le_u64, to_usize,
};
use crate::index::format::meta::FileMeta;

/// Bytes of the `.doc` and `.sto` headers.
const DOCS_HEADER: usize = 16;
/// Bytes of the `.sto` trailer (n_docs, reserved, table offset).
const STORED_TRAILER: usize = 16;
/// `title_len` of a document without a title.
const NO_TITLE: u32 = u32::MAX;

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

/// Reads `(start, end)` of item `i` from an offset table at `table`, as
/// offsets relative to `base`; `None` when out of bounds.
fn span(bytes: &[u8], table: usize, i: usize, base: usize) -> Option<&[u8]> {
    let a = to_usize(le_u64(bytes, table + i * 8)?)?;
    let b = to_usize(le_u64(bytes, table + (i + 1) * 8)?)?;
    bytes.get(base.checked_add(a)?..base.checked_add(b)?)
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
        let b = file.bytes();
        let n = le_u32(b, HEADER_LEN as usize).unwrap_or(0);
        if n as u64 != expected_docs {
            return Err(file.corrupt(format!(
                "doc table has {n} documents, meta.json says {expected_docs}"
            )));
        }
        if DOCS_HEADER + (n as usize + 1) * 8 > b.len() {
            return Err(file.corrupt(format!("offset table of {n} documents truncated")));
        }
        Ok(DocTable { file, n })
    }

    /// The mapped file (for `verify`).
    pub(crate) fn file(&self) -> &MappedFile {
        &self.file
    }

    /// The external id of local ordinal `doc` (empty when damaged).
    pub(crate) fn id(&self, doc: u32) -> &str {
        let base = DOCS_HEADER + (self.n as usize + 1) * 8;
        span(self.file.bytes(), DOCS_HEADER, doc as usize, base)
            .and_then(|s| std::str::from_utf8(s).ok())
            .unwrap_or("")
    }
}

/// Streams stored documents to the `.sto` temp file as they are added.
pub(crate) struct StoredWriter {
    w: FileWriter,
    offsets: Vec<u64>,
}

impl StoredWriter {
    /// Creates `<dir>/<name>.tmp` and writes the header.
    pub(crate) fn create(dir: &Path, name: &str) -> Result<Self, IndexError> {
        let mut w = FileWriter::create(dir, name, MAGIC_STORED)?;
        w.write_u32(0)?;
        Ok(StoredWriter {
            w,
            offsets: Vec::new(),
        })
    }

    /// Appends the next document (`None`: neither title nor text).
    pub(crate) fn push(&mut self, doc: Option<&StoredDoc>) -> Result<(), IndexError> {
        self.offsets.push(self.w.position());
        let (title, text) = match doc {
            Some(d) => (d.title.as_deref(), d.text.as_str()),
            None => (None, ""),
        };
        match title {
            Some(t) => {
                let len = u32::try_from(t.len())
                    .ok()
                    .filter(|&l| l != NO_TITLE)
                    .ok_or_else(|| IndexError::Limit(format!("title of {} bytes", t.len())))?;
                self.w.write_u32(len)?;
                self.w.write(t.as_bytes())?;
            }
            None => self.w.write_u32(NO_TITLE)?,
        }
        self.w.write(text.as_bytes())
    }

    /// Writes the offset table and trailer, publishes the file.
    pub(crate) fn finish(mut self) -> Result<FileMeta, IndexError> {
        let n = u32::try_from(self.offsets.len())
            .map_err(|_| IndexError::Limit("more than 2^32 - 1 stored documents".into()))?;
        let table = self.w.position();
        for &o in &self.offsets {
            self.w.write_u64(o)?;
        }
        self.w.write_u64(table)?; // end of the last record
        self.w.write_u32(n)?;
        self.w.write_u32(0)?;
        self.w.write_u64(table)?;
        self.w.finish()
    }
}

/// A memory-mapped stored-documents file.
pub(crate) struct StoredTable {
    file: MappedFile,
    n: u32,
    table: usize,
}

impl StoredTable {
    /// Checks the trailer against `meta.json` and the file length.
    pub(crate) fn open(file: MappedFile, expected_docs: u64) -> Result<Self, IndexError> {
        let b = file.bytes();
        let t = b.len().saturating_sub(STORED_TRAILER);
        let n = le_u32(b, t).unwrap_or(0);
        let table = le_u64(b, t + 8).and_then(to_usize).unwrap_or(usize::MAX);
        let fits = table
            .checked_add((n as usize + 1) * 8)
            .is_some_and(|end| end == t && table >= DOCS_HEADER);
        if n as u64 != expected_docs || !fits {
            return Err(file.corrupt(format!(
                "stored table of {n} documents at {table} does not fit \
                 (meta.json says {expected_docs} documents)"
            )));
        }
        Ok(StoredTable { file, n, table })
    }

    /// The mapped file (for `verify`).
    pub(crate) fn file(&self) -> &MappedFile {
        &self.file
    }

    /// The stored document of local ordinal `doc`; `None` when damaged.
    pub(crate) fn get(&self, doc: u32) -> Option<StoredDoc> {
        if doc >= self.n {
            return None;
        }
        let rec = span(self.file.bytes(), self.table, doc as usize, 0)?;
        let title_len = le_u32(rec, 0)?;
        let (title, rest) = if title_len == NO_TITLE {
            (None, rec.get(4..)?)
        } else {
            let end = 4usize.checked_add(title_len as usize)?;
            let t = std::str::from_utf8(rec.get(4..end)?).ok()?;
            (Some(t.to_string()), rec.get(end..)?)
        };
        let text = std::str::from_utf8(rest).ok()?.to_string();
        Some(StoredDoc { title, text })
    }
}
