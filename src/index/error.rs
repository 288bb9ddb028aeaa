//! Errors of the index: every variant names the file (or document) and carries
//! what was expected and what was found, and corruption or version problems
//! name the fix.

use std::path::PathBuf;

/// The fix printed with every corruption message.
pub(crate) const REBUILD: &str = "rebuild the index with `splade index`";

/// Everything reading or writing an index can fail with.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The directory has no `meta.json`: it is not an index (or its first
    /// build never committed).
    #[error(
        "{}: not a splade index (no meta.json); build one with `splade index`",
        path.display()
    )]
    NotAnIndex {
        /// The directory that was opened.
        path: PathBuf,
    },

    /// The index was written by another format version.
    #[error("{}: {}", path.display(), version_message(*expected, *found))]
    Version {
        /// The file whose version was read (`meta.json` or a segment file).
        path: PathBuf,
        /// The version this build of splade reads and writes.
        expected: u32,
        /// The version found on disk.
        found: u32,
    },

    /// A file's bytes are not what its header, footer or `meta.json` say.
    #[error("{}: index file is corrupt: {message}; {REBUILD}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What check failed, with the values compared.
        message: String,
    },

    /// An operating-system error on a named file or directory.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// Refusing to build an index in a directory holding other files.
    #[error(
        "{}: directory is not empty and is not a splade index (found `{entry}`); \
         choose an empty or new directory",
        path.display()
    )]
    NotEmpty {
        /// The target directory.
        path: PathBuf,
        /// One of the foreign entries found there.
        entry: String,
    },

    /// The same external id was added twice.
    #[error("{second}: duplicate document id `{id}` (first seen at {first})")]
    DuplicateId {
        /// The external id.
        id: String,
        /// Origin of the first occurrence, e.g. `docs.jsonl:3`.
        first: String,
        /// Origin of the second occurrence.
        second: String,
    },

    /// A document vector the index cannot store.
    #[error("{origin}: document `{id}`: {message}")]
    InvalidVector {
        /// Origin of the document, e.g. `docs.jsonl:3`.
        origin: String,
        /// The external id.
        id: String,
        /// What is wrong (term and weight).
        message: String,
    },

    /// Appending a document whose id is already live in the index.
    #[error("{origin}: document id `{id}` is already in the index")]
    IdExists {
        /// The external id.
        id: String,
        /// Origin of the new document, e.g. `more.jsonl:3`.
        origin: String,
    },

    /// Deleting ids that name no live document.
    #[error(
        "{}: no live document with id {}{}; nothing was deleted",
        path.display(),
        ids.iter().take(5).map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", "),
        if ids.len() > 5 { format!(" and {} more", ids.len() - 5) } else { String::new() }
    )]
    UnknownId {
        /// The index directory.
        path: PathBuf,
        /// The ids not found.
        ids: Vec<String>,
    },

    /// Another writer committed to the index while this one was working.
    #[error(
        "{}: the index changed while this command ran (generation {expected} became \
         {found}); another splade wrote to it; run the command again",
        path.display()
    )]
    Changed {
        /// The index directory.
        path: PathBuf,
        /// The generation this writer started from.
        expected: u64,
        /// The generation found at commit time.
        found: u64,
    },

    /// Another writer holds the index's write lock.
    #[error(
        "{}: another splade is writing to this index ({}); \
         try again when it has finished",
        path.display(),
        match holder {
            Some(pid) => format!("process {pid} holds {}", lock.display()),
            None => format!("it holds {}", lock.display()),
        }
    )]
    Locked {
        /// The index directory.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The holder's process id, when the lock file names it.
        holder: Option<u32>,
    },

    /// An append whose settings disagree with the index.
    #[error("{}: {message}", path.display())]
    Incompatible {
        /// The index directory.
        path: PathBuf,
        /// What disagrees, with both values.
        message: String,
    },

    /// A limit of the format was exceeded (e.g. more than `u32::MAX` docs).
    #[error("index limit exceeded: {0}")]
    Limit(String),

    /// A BM25 (or hybrid) search of an index without lexical postings.
    #[error(
        "{}: the index has no lexical (BM25) postings (it was built with --no-lexical, \
         from vectors without texts, or by a splade older than format 5); rebuild it with \
         `splade index` without --no-lexical",
        path.display()
    )]
    NoLexical {
        /// The index directory.
        path: PathBuf,
    },

    /// A SPLADE (or hybrid) search of an index built without SPLADE postings.
    #[error(
        "{}: the index has no SPLADE postings (it was built with --lexical-only); search it \
         with --mode bm25, or rebuild it with `splade index` without --lexical-only",
        path.display()
    )]
    NoSplade {
        /// The index directory.
        path: PathBuf,
    },

    /// A document without text added to an index that keeps lexical
    /// postings of every document.
    #[error(
        "{origin}: document `{id}` has no text, and the index keeps lexical (BM25) postings \
         of every document's text"
    )]
    MissingText {
        /// Origin of the document, e.g. `vectors.jsonl:3`.
        origin: String,
        /// The external id.
        id: String,
    },
}

impl IndexError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IndexError::Io {
            path: path.into(),
            source,
        }
    }

    /// A corruption error on a named file.
    pub(crate) fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        IndexError::Corrupt {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Newer formats need a newer splade; older ones need a rebuild.
fn version_message(expected: u32, found: u32) -> String {
    if found > expected {
        format!(
            "index format version {found} is newer than this splade supports ({expected}); \
             upgrade splade"
        )
    } else {
        format!("index format version {found} is older than this splade's ({expected}); {REBUILD}")
    }
}
