//! `meta.json`: the commit point of an index. Whatever it references is the
//! index; it is written last, atomically (temp file, fsync, rename, fsync of
//! the directory).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::IndexError;
use super::format::sync_dir;
use super::{FORMAT_VERSION, MIN_FORMAT_VERSION, ModelInfo, Quantization};

/// File name of the commit point.
pub const META_FILE: &str = "meta.json";
/// Temporary name of the next commit point.
pub(crate) const META_TMP: &str = "meta.json.tmp";

/// The contents of `meta.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// On-disk format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Version of splade that wrote the index.
    pub splade_version: String,
    /// Incremented by every commit; segment names derive from it.
    pub generation: u64,
    /// The model that encoded the documents, when known.
    pub model: Option<ModelInfo>,
    /// How impacts are quantized in every segment.
    pub quantization: Quantization,
    /// Whether titles and texts are stored.
    pub store: bool,
    /// Number of document ordinals over all segments, deleted ones included.
    pub docs: u64,
    /// Number of those documents marked deleted (absent before version 2).
    #[serde(default)]
    pub deleted: u64,
    /// Number of postings over all segments.
    pub postings: u64,
    /// The segments, in document-ordinal order.
    pub segments: Vec<SegmentMeta>,
}

/// One segment of the index.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SegmentMeta {
    /// File-name stem, e.g. `seg-000001`.
    pub name: String,
    /// Documents in the segment.
    pub docs: u64,
    /// Distinct terms in the segment.
    pub terms: u64,
    /// Postings in the segment.
    pub postings: u64,
    /// Largest weight indexed in the segment.
    pub max_weight: f32,
    /// Dequantization factor (`weight = code * scale`; 1 for `f32`).
    pub scale: f32,
    /// Every file of the segment with its length and CRC32.
    pub files: Vec<FileMeta>,
    /// The segment's deletes file, when documents of it are deleted
    /// (format version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes: Option<DeletesMeta>,
    /// Whether the documents were renumbered so that similar ones are
    /// neighbours (`compact --reorder`); block-max pruning pays off only
    /// then. Absent means no, and older readers ignore it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reordered: bool,
}

/// The deletes bitmap of a segment: which local ordinals are deleted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeletesMeta {
    /// Number of deleted documents (the bitmap's population count).
    pub count: u64,
    /// The `.del` file.
    pub file: FileMeta,
}

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

impl SegmentMeta {
    /// The file of this segment with the given extension.
    pub fn file(&self, ext: &str) -> Option<&FileMeta> {
        let want = format!("{}.{ext}", self.name);
        self.files.iter().find(|f| f.name == want)
    }

    /// Every file this segment references, its deletes file included.
    pub fn all_files(&self) -> impl Iterator<Item = &FileMeta> {
        self.files
            .iter()
            .chain(self.deletes.iter().map(|d| &d.file))
    }
}

impl Meta {
    /// Whether `name` is a file the index references.
    pub fn references(&self, name: &str) -> bool {
        self.segments
            .iter()
            .any(|s| s.all_files().any(|f| f.name == name))
    }

    /// Documents not marked deleted.
    pub fn live_docs(&self) -> u64 {
        self.docs.saturating_sub(self.deleted)
    }
}

/// Just the version field, parsed before the rest so that a newer format
/// gives a version error rather than a parse error.
#[derive(Deserialize)]
struct VersionOnly {
    format_version: u32,
}

/// Reads and checks `dir/meta.json`.
pub(crate) fn read_meta(dir: &Path) -> Result<Meta, IndexError> {
    let path = dir.join(META_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IndexError::NotAnIndex {
                path: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(IndexError::io(&path, e)),
    };
    let v: VersionOnly = serde_json::from_str(&text)
        .map_err(|e| IndexError::corrupt(&path, format!("cannot read format_version: {e}")))?;
    if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&v.format_version) {
        return Err(IndexError::Version {
            path,
            expected: FORMAT_VERSION,
            found: v.format_version,
        });
    }
    serde_json::from_str(&text).map_err(|e| IndexError::corrupt(&path, e.to_string()))
}

/// Publishes `meta` as `dir/meta.json`: the commit point.
pub(crate) fn write_meta(dir: &Path, meta: &Meta) -> Result<(), IndexError> {
    let tmp = dir.join(META_TMP);
    let mut json = serde_json::to_vec_pretty(meta)
        .map_err(|e| IndexError::io(&tmp, std::io::Error::other(e)))?;
    json.push(b'\n');
    let mut f = File::create(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
    f.write_all(&json).map_err(|e| IndexError::io(&tmp, e))?;
    f.sync_all().map_err(|e| IndexError::io(&tmp, e))?;
    drop(f);
    let dest = dir.join(META_FILE);
    fs::rename(&tmp, &dest).map_err(|e| IndexError::io(&dest, e))?;
    sync_dir(dir)
}
