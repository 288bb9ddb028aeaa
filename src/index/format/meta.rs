//! `meta.json`: the commit point of an index. Whatever it references is the
//! index; it is written last, atomically (temp file, fsync, rename, fsync of
//! the directory).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::index::error::IndexError;
use crate::index::format::frame::{FileMeta, sync_dir};
use crate::index::format::quant::Quantization;
use crate::index::format::{FORMAT_VERSION, MIN_FORMAT_VERSION};
use crate::lexical::{ANALYZER_ENGLISH, Bm25Params};

/// File name of the commit point.
pub const META_FILE: &str = "meta.json";
/// The temporary name of the next commit point before version 4, still
/// cleaned up when found.
const LEGACY_META_TMP: &str = "meta.json.tmp";
/// The first format version whose `meta.json` carries a checksum.
const CHECKSUM_VERSION: u32 = 4;
/// The checksum line that ends `meta.json` from version 4 on, before its 8
/// hex digits.
const CHECKSUM_KEY: &str = ",\n  \"checksum\": \"crc32:";

/// Whether `name` is a temp file of a `meta.json` being written.
pub(crate) fn is_meta_tmp(name: &str) -> bool {
    name == LEGACY_META_TMP || (name.starts_with("meta-") && name.ends_with(".json.tmp"))
}

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
    /// Whether the segments hold SPLADE postings: false for an index built
    /// with `--lexical-only` (BM25 only, no model). Absent means true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub splade: bool,
    /// How the lexical (BM25) postings were made and are scored; `None`
    /// when there are none (built without them, or before format 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexical: Option<LexicalMeta>,
    /// The segments, in document-ordinal order.
    pub segments: Vec<SegmentMeta>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// The lexical settings of an index, recorded once in `meta.json`: every
/// segment's lexical postings were made by this analyzer and are scored
/// with these BM25 parameters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LexicalMeta {
    /// Name and version of the analyzer
    /// ([`ANALYZER_ENGLISH`](crate::lexical::ANALYZER_ENGLISH)).
    pub analyzer: String,
    /// BM25's term-frequency saturation.
    pub k1: f64,
    /// BM25's length normalization.
    pub b: f64,
}

impl LexicalMeta {
    /// The settings of a new index: this build's analyzer and `params`.
    pub fn new(params: Bm25Params) -> LexicalMeta {
        LexicalMeta {
            analyzer: ANALYZER_ENGLISH.to_string(),
            k1: params.k1,
            b: params.b,
        }
    }

    /// The BM25 parameters (checked when `meta.json` is read).
    pub fn params(&self) -> Bm25Params {
        Bm25Params {
            k1: self.k1,
            b: self.b,
        }
    }
}

/// What `meta.json` records about a segment's lexical postings.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SegmentLexical {
    /// Sum of the documents' lengths (terms after stopword removal),
    /// deleted documents included.
    pub tokens: u64,
    /// Distinct stems (entries of the `.lxt`).
    pub terms: u64,
    /// (document, stem) pairs in the `.lxp`.
    pub postings: u64,
}

/// One segment of the index.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SegmentMeta {
    /// File-name stem, e.g. `seg-000001`.
    pub name: String,
    /// Document ordinals in the segment, deleted ones included.
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
    /// The segment's lexical postings (format version 5), when the index
    /// has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexical: Option<SegmentLexical>,
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
    /// The meta of an index of no segments yet, to be published under
    /// `generation` by this version of splade: what a build or a
    /// compaction starts from before it adds its segment.
    pub(crate) fn new(
        generation: u64,
        model: Option<ModelInfo>,
        quantization: Quantization,
        store: bool,
    ) -> Meta {
        Meta {
            format_version: FORMAT_VERSION,
            splade_version: env!("CARGO_PKG_VERSION").to_string(),
            generation,
            model,
            quantization,
            store,
            docs: 0,
            deleted: 0,
            postings: 0,
            splade: true,
            lexical: None,
            segments: Vec::new(),
        }
    }

    /// Adds a new segment, its documents and postings to the totals.
    pub(crate) fn push_segment(&mut self, segment: SegmentMeta) {
        self.docs += segment.docs;
        self.postings += segment.postings;
        self.segments.push(segment);
    }

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

/// The model that encoded an index's documents, recorded in `meta.json` so
/// that queries can be encoded by the same model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelInfo {
    /// Hub id or local path as given by the user.
    pub id: String,
    /// Hub revision (commit), when known.
    pub revision: Option<String>,
    /// Hash of the config, tokenizer and weights, to detect a different
    /// model under the same name (see `Encoder::fingerprint`).
    pub fingerprint: String,
    /// The weights file the fingerprint was computed from, as it was then:
    /// a model whose file still has this stamp needs no hashing to match
    /// (a cache; absent for hub models and older indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) weights_file: Option<crate::encoder::FileStamp>,
    /// Truncation length in tokens the documents were encoded with. This
    /// and the next two fields are absent in indexes written before they
    /// were recorded, and for indexes built from vectors: then nothing is
    /// known and queries are encoded as the flags say (default: the
    /// model's maximum, f32, truncate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Arithmetic of the vocabulary projection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<crate::encoder::Precision>,
    /// How texts longer than `max_length` were encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_docs: Option<crate::encoder::LongDocs>,
}

/// Counts and size of an index.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct IndexStats {
    /// Live documents (not deleted). Serialized as `docs`, the key of
    /// `splade info --json`.
    #[serde(rename = "docs")]
    pub live_docs: u64,
    /// Documents marked deleted, still in the files until `compact`.
    pub deleted: u64,
    /// Distinct SPLADE terms, summed over segments.
    pub terms: u64,
    /// SPLADE postings (document-term pairs).
    pub postings: u64,
    /// Distinct lexical stems, summed over segments (0 without lexical
    /// postings).
    pub lexical_terms: u64,
    /// Lexical postings (document-stem pairs).
    pub lexical_postings: u64,
    /// Total bytes of all segment files.
    pub bytes: u64,
}

/// The stats `meta.json` describes.
pub(crate) fn stats_of(meta: &Meta) -> IndexStats {
    let lexical = || meta.segments.iter().filter_map(|s| s.lexical.as_ref());
    IndexStats {
        live_docs: meta.live_docs(),
        deleted: meta.deleted,
        terms: meta.segments.iter().map(|s| s.terms).sum(),
        postings: meta.postings,
        lexical_terms: lexical().map(|l| l.terms).sum(),
        lexical_postings: lexical().map(|l| l.postings).sum(),
        bytes: meta
            .segments
            .iter()
            .flat_map(|s| s.all_files())
            .map(|f| f.len)
            .sum(),
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
    let text = match fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| IndexError::corrupt(&path, "meta.json is not UTF-8 text"))?,
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
    if v.format_version >= CHECKSUM_VERSION {
        check_checksum(&text).map_err(|message| IndexError::corrupt(&path, message))?;
    }
    let meta: Meta =
        serde_json::from_str(&text).map_err(|e| IndexError::corrupt(&path, e.to_string()))?;
    check_names(&meta).map_err(|message| IndexError::corrupt(&path, message))?;
    check_lexical(&meta).map_err(|message| IndexError::corrupt(&path, message))?;
    Ok(meta)
}

/// Refuses lexical settings this build cannot score by (an unknown
/// analyzer, BM25 parameters out of range), lexical entries on some
/// segments only, and an index with neither SPLADE nor lexical postings.
fn check_lexical(meta: &Meta) -> Result<(), String> {
    if let Some(lex) = &meta.lexical {
        if lex.analyzer != ANALYZER_ENGLISH {
            return Err(format!(
                "unknown lexical analyzer `{}` (this splade has `{ANALYZER_ENGLISH}`)",
                lex.analyzer
            ));
        }
        Bm25Params::new(lex.k1, lex.b).map_err(|e| e.to_string())?;
    } else if !meta.splade {
        return Err("the index has neither SPLADE nor lexical postings".into());
    }
    match meta
        .segments
        .iter()
        .find(|s| s.lexical.is_some() != meta.lexical.is_some())
    {
        Some(s) if meta.lexical.is_some() => Err(format!(
            "segment {} has no lexical postings, and the index records them",
            s.name
        )),
        Some(s) => Err(format!(
            "segment {} has lexical postings, and the index records none",
            s.name
        )),
        None => Ok(()),
    }
}

/// Checks the CRC32 on the last line of a version-4 `meta.json` against the
/// bytes before it (the JSON as written without that line).
fn check_checksum(text: &str) -> Result<(), String> {
    let at = text
        .rfind(CHECKSUM_KEY)
        .ok_or("no checksum line at the end")?;
    let tail = &text[at + CHECKSUM_KEY.len()..];
    let stated = tail
        .strip_suffix("\"\n}\n")
        .filter(|hex| hex.len() == 8)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or("the checksum line is malformed")?;
    let actual = crc32fast::hash(format!("{}\n}}", &text[..at]).as_bytes());
    if actual != stated {
        return Err(format!(
            "CRC32 mismatch: computed {actual:08x}, the checksum line says {stated:08x}"
        ));
    }
    Ok(())
}

/// The JSON of `meta` with its checksum line: the pretty-printed JSON,
/// whose CRC32 is then added as a last key.
fn with_checksum(meta: &Meta) -> Result<String, serde_json::Error> {
    let body = serde_json::to_string_pretty(meta)?;
    let crc = crc32fast::hash(body.as_bytes());
    let open = body.strip_suffix("\n}").unwrap_or(&body);
    Ok(format!("{open}{CHECKSUM_KEY}{crc:08x}\"\n}}\n"))
}

/// Refuses segment and file names that are not plain names of the
/// segment's own files: `meta.json` must never make a reader open, or a
/// cleanup spare, a path outside the index directory.
fn check_names(meta: &Meta) -> Result<(), String> {
    let plain = |n: &str| !n.is_empty() && !n.contains(['/', '\\', '\0']) && n != "." && n != "..";
    for seg in &meta.segments {
        if !plain(&seg.name) || !seg.name.starts_with("seg-") {
            return Err(format!(
                "segment name `{}` is not a plain `seg-` name",
                seg.name
            ));
        }
        let prefix = format!("{}.", seg.name);
        if let Some(f) = seg
            .all_files()
            .find(|f| !plain(&f.name) || !f.name.starts_with(&prefix))
        {
            return Err(format!(
                "file name `{}` is not a plain name of segment {}",
                f.name, seg.name
            ));
        }
    }
    Ok(())
}

/// Publishes `meta` as `dir/meta.json`: the commit point. The temp file is
/// named after the generation and created new (the write lock is held, and
/// leftovers were removed when the change began), never truncated.
pub(crate) fn write_meta(dir: &Path, meta: &Meta) -> Result<(), IndexError> {
    let tmp = dir.join(format!("meta-{:06}.json.tmp", meta.generation));
    let json = with_checksum(meta).map_err(|e| IndexError::io(&tmp, std::io::Error::other(e)))?;
    let mut f = File::create_new(&tmp).map_err(|e| IndexError::io(&tmp, e))?;
    f.write_all(json.as_bytes())
        .map_err(|e| IndexError::io(&tmp, e))?;
    f.sync_all().map_err(|e| IndexError::io(&tmp, e))?;
    drop(f);
    let dest = dir.join(META_FILE);
    fs::rename(&tmp, &dest).map_err(|e| IndexError::io(&dest, e))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Meta {
        Meta {
            format_version: FORMAT_VERSION,
            splade_version: "0.1.0".into(),
            generation: 4,
            model: None,
            quantization: Quantization::U16,
            store: false,
            docs: 10,
            deleted: 2,
            postings: 30,
            splade: true,
            lexical: Some(LexicalMeta::new(Bm25Params::default())),
            segments: vec![SegmentMeta {
                name: "seg-000001".into(),
                docs: 10,
                terms: 3,
                postings: 30,
                max_weight: 2.5,
                scale: 0.001,
                files: vec![FileMeta {
                    name: "seg-000001.pst".into(),
                    len: 100,
                    crc32: 7,
                }],
                lexical: Some(SegmentLexical {
                    tokens: 77,
                    terms: 5,
                    postings: 21,
                }),
                deletes: Some(DeletesMeta {
                    count: 2,
                    file: FileMeta {
                        name: "seg-000001.000004.del".into(),
                        len: 36,
                        crc32: 9,
                    },
                }),
                reordered: false,
            }],
        }
    }

    fn written(meta: &Meta) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        write_meta(dir.path(), meta).unwrap();
        let text = fs::read_to_string(dir.path().join(META_FILE)).unwrap();
        (dir, text)
    }

    #[test]
    fn meta_round_trips_with_its_checksum() {
        let (dir, text) = written(&sample());
        assert!(text.contains("\"checksum\": \"crc32:"), "{text}");
        assert_eq!(read_meta(dir.path()).unwrap(), sample());
        // The temp file was renamed, not left behind.
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn any_edit_of_meta_json_is_corruption() {
        let (dir, text) = written(&sample());
        let edits = [
            ("\"deleted\": 2", "\"deleted\": 3"),
            ("\"max_weight\": 2.5", "\"max_weight\": 3.5"),
            ("\"crc32\": 7", "\"crc32\": 8"),
            ("\"checksum\": \"crc32:", "\"checksum\": \"crc32:0"),
        ];
        for (from, to) in edits {
            assert!(text.contains(from), "{from}");
            fs::write(dir.path().join(META_FILE), text.replacen(from, to, 1)).unwrap();
            let err = read_meta(dir.path()).unwrap_err();
            assert!(matches!(err, IndexError::Corrupt { .. }), "{from}: {err}");
        }
        // Without its checksum line a version-4 meta.json is refused too.
        let cut = &text[..text.rfind(CHECKSUM_KEY).unwrap()];
        fs::write(dir.path().join(META_FILE), format!("{cut}\n}}\n")).unwrap();
        let err = read_meta(dir.path()).unwrap_err();
        assert!(err.to_string().contains("no checksum"), "{err}");
    }

    #[test]
    fn older_versions_are_read_without_a_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = sample();
        old.format_version = 3;
        old.lexical = None;
        old.segments[0].lexical = None;
        let json = serde_json::to_string_pretty(&old).unwrap();
        fs::write(dir.path().join(META_FILE), json).unwrap();
        assert_eq!(read_meta(dir.path()).unwrap(), old);
    }

    #[test]
    fn lexical_settings_are_recorded_once_and_checked() {
        let (_dir, text) = written(&sample());
        assert!(
            text.contains("\"analyzer\": \"bm25s-en-snowball3\""),
            "{text}"
        );
        assert!(!text.contains("\"splade\""), "true is the default: {text}");
        let mut lexical_only = sample();
        lexical_only.splade = false;
        let (dir, text) = written(&lexical_only);
        assert!(text.contains("\"splade\": false"), "{text}");
        assert_eq!(read_meta(dir.path()).unwrap(), lexical_only);
        type Edit = fn(&mut Meta);
        let bad: [(Edit, &str); 5] = [
            (
                |m| m.lexical.as_mut().unwrap().analyzer = "other".into(),
                "unknown lexical analyzer `other`",
            ),
            (|m| m.lexical.as_mut().unwrap().k1 = -1.0, "BM25 k1 must be"),
            (|m| m.lexical.as_mut().unwrap().b = 2.0, "BM25 b must be"),
            (
                |m| m.segments[0].lexical = None,
                "seg-000001 has no lexical postings",
            ),
            (
                |m| {
                    m.lexical = None;
                    m.segments[0].lexical = None;
                    m.splade = false;
                },
                "neither SPLADE nor lexical",
            ),
        ];
        for (edit, message) in bad {
            let mut meta = sample();
            edit(&mut meta);
            let (dir, _) = written(&meta);
            let err = read_meta(dir.path()).unwrap_err();
            assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains(message), "{message}: {err}");
        }
        let mut none = sample();
        none.lexical = None;
        let (dir, _) = written(&none);
        let err = read_meta(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("has lexical postings, and the index records none"),
            "{err}"
        );
    }

    #[test]
    fn file_names_must_be_plain_names_of_their_segment() {
        for bad in [
            "../seg-000001.000004.del",
            "/tmp/x",
            "meta.json",
            "seg-000002.pst",
            "seg-000001.a/b",
        ] {
            let mut meta = sample();
            meta.segments[0].deletes.as_mut().unwrap().file.name = bad.into();
            let (dir, _) = written(&meta);
            let err = read_meta(dir.path()).unwrap_err();
            assert!(err.to_string().contains("not a plain name"), "{bad}: {err}");
        }
        let mut meta = sample();
        meta.segments[0].name = "..".into();
        let (dir, _) = written(&meta);
        assert!(read_meta(dir.path()).is_err());
    }
}
