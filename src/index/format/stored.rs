//! Stored documents (`.sto`, optional): each document's title and text,
//! returned with search results. Records are written as documents are
//! added; an offset table and trailer at the end make any record two reads
//! away without a scan.

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::frame::FileMeta;
use crate::index::format::frame::{
    FileWriter, MAGIC_STORED, MappedFile, le_u32, le_u64, span, to_usize,
};

/// Bytes of the `.sto` header.
const STORED_HEADER: usize = 16;
/// Bytes of the `.sto` trailer (n_docs, reserved, table offset).
const STORED_TRAILER: usize = 16;
/// `title_len` of a document without a title.
const NO_TITLE: u32 = u32::MAX;

/// A document's stored fields, returned with search results.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StoredDoc {
    /// The title, when the input had one.
    pub title: Option<String>,
    /// The text.
    pub text: String,
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
        let t = file.len().saturating_sub(STORED_TRAILER);
        let b = file.at_open(t..t + STORED_TRAILER)?;
        let n = le_u32(b, 0).unwrap_or(0);
        let table = le_u64(b, 8).and_then(to_usize).unwrap_or(usize::MAX);
        let fits = table
            .checked_add((n as usize + 1) * 8)
            .is_some_and(|end| end == t && table >= STORED_HEADER);
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
        let rec = span(&self.file, self.table, doc as usize, 0)?;
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
