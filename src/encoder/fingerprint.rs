//! What identifies a model: its config, its tokenizer and its weights.
//!
//! An index records the fingerprint of the model that encoded its
//! documents, and queries are encoded only by a model with the same one.
//! Two fine-tunes of one base model share config.json and tokenizer.json,
//! so the weights must be part of it:
//!
//! - A hub model's weights are named by the hub itself: the snapshot file is
//!   a symlink to `blobs/<sha256>` (the LFS object's hash, its ETag), so the
//!   blob's name is the fingerprint, for free.
//! - A local folder's weights are hashed whole (CRC32, chunks in parallel,
//!   combined). A sample of the bytes or the safetensors header would be
//!   cheaper but not sound: a fine-tune of a few rows (an added token's
//!   embedding, one layer's bias) keeps the header, the size and most
//!   bytes. Hashing costs, measured with the page cache warm and a fresh
//!   map per call, as in a new process (`fingerprint_cost` below, on a
//!   shared 2-core machine, best of 30): 4-10 ms for splade-tiny's 17 MB and
//!   9-19 ms for 44 MB (splade-mini's size), too much for a search that
//!   should start in 20 ms. So the hash is cached, in the index: it
//!   records the weights file's [`FileStamp`] (device, inode, size,
//!   modification and status-change times) next to the fingerprint, and a
//!   model whose file has that very stamp is that file, unchanged since it
//!   was hashed (any write changes the status-change time, which no user
//!   can set back), at the cost of one `stat` (0.02 ms). Any other file (a
//!   copy, another folder, another machine) is hashed, once per process.
//!
//! Format: `crc32:CCCCCCCCTTTTTTTT` (config.json, tokenizer.json), then
//! `;weights:` and `blob:<name>` or `crc32:<8 hex digits>:<length>`.
//! Indexes written before the weights were fingerprinted record only the
//! first part; against those only that part is compared.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::resolve::ModelFiles;
use crate::error::{Error, Result};

/// Separates the config/tokenizer part from the weights part.
const WEIGHTS: &str = ";weights:";

/// Bytes hashed per parallel work item.
const CHUNK: usize = 4 << 20;

/// Which file a weights hash was computed from, and in what state: equal
/// stamps mean the same, unchanged file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    /// Device of the file system.
    pub device: u64,
    /// Inode number.
    pub inode: u64,
    /// Length in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub modified_ns: i64,
    /// Status-change time (set by every write, never by users),
    /// nanoseconds since the Unix epoch.
    pub changed_ns: i64,
}

impl FileStamp {
    /// The stamp of `path` (following links); `None` where the platform has
    /// no inodes and status-change times.
    pub fn of(path: &Path) -> Result<Option<FileStamp>> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
            let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
            Ok(Some(FileStamp {
                device: m.dev(),
                inode: m.ino(),
                len: m.size(),
                modified_ns: ns(m.mtime(), m.mtime_nsec()),
                changed_ns: ns(m.ctime(), m.ctime_nsec()),
            }))
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            Ok(None)
        }
    }
}

/// A loaded model's identity: the config/tokenizer part at once, the
/// weights part when first needed (or never, when a stamp settles it).
#[derive(Debug)]
pub(crate) struct Identity {
    /// `crc32:CCCCCCCCTTTTTTTT`.
    files: String,
    /// CRC32 and length of tokenizer.json (the tokenizer cache's key).
    tokenizer: (u32, u64),
    weights: PathBuf,
    /// The weights file's stamp when the model was loaded (local folders).
    stamp: Option<FileStamp>,
    /// The whole fingerprint, once computed.
    full: OnceLock<String>,
}

impl Identity {
    /// Hashes config.json and tokenizer.json and stamps the weights file;
    /// call it before the weights are read, so that a later change shows.
    pub(crate) fn of(files: &ModelFiles) -> Result<Identity> {
        let mut out = String::from("crc32:");
        let mut tokenizer = (0, 0);
        for path in [&files.config, &files.tokenizer] {
            let (crc, len) = crc32_of(path)?;
            out.push_str(&format!("{crc:08x}"));
            tokenizer = (crc, len);
        }
        let full = OnceLock::new();
        let mut stamp = None;
        match hub_blob(&files.weights) {
            Some(blob) => {
                let _ = full.set(format!("{out}{WEIGHTS}blob:{blob}"));
            }
            None => stamp = FileStamp::of(&files.weights)?,
        }
        Ok(Identity {
            files: out,
            tokenizer,
            weights: files.weights.clone(),
            stamp,
            full,
        })
    }

    /// CRC32 and length of tokenizer.json.
    pub(crate) fn tokenizer_key(&self) -> (u32, u64) {
        self.tokenizer
    }

    /// The fingerprint; hashes the weights of a local folder on first use.
    /// An error if the file changed since the model was loaded.
    pub(crate) fn fingerprint(&self) -> Result<&str> {
        if let Some(f) = self.full.get() {
            return Ok(f);
        }
        // Hashed outside the cell: the hash runs on rayon's threads.
        let hash = crc32_file(&self.weights)?;
        if FileStamp::of(&self.weights)? != self.stamp {
            return Err(Error::model(
                &self.weights,
                "the weights changed while the model was in use; run again",
            ));
        }
        Ok(self
            .full
            .get_or_init(|| format!("{}{WEIGHTS}{hash}", self.files)))
    }

    /// The weights file's stamp, for an index to record with the
    /// fingerprint (`None` for hub blobs, which need none).
    pub(crate) fn stamp(&self) -> Option<FileStamp> {
        self.stamp
    }

    /// Whether an index's `recorded` fingerprint (and the weights stamp it
    /// records) names this model. An older fingerprint without a weights
    /// part is compared on config and tokenizer only, as when written.
    pub(crate) fn is(&self, recorded: &str, stamp: Option<&FileStamp>) -> Result<bool> {
        let Some((files, _)) = recorded.split_once(WEIGHTS) else {
            return Ok(recorded == self.files);
        };
        if files != self.files {
            return Ok(false);
        }
        if stamp.is_some() && stamp == self.stamp.as_ref() {
            // The very file that was hashed, unchanged.
            return Ok(true);
        }
        Ok(self.fingerprint()? == recorded)
    }
}

/// CRC32 and length of a small file, read through a memory map (a read
/// into a fresh buffer faults in every page of it; a map of the page cache
/// maps many at a time).
fn crc32_of(path: &Path) -> Result<(u32, u64)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len == 0 {
        return Ok((crc32fast::hash(&[]), 0));
    }
    // SAFETY: read once, here; a concurrent rewrite yields a hash that
    // matches neither version, which the next load corrects.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    Ok((crc32fast::hash(&map), len))
}

/// `crc32:<hex>:<length>` of the whole file.
fn crc32_file(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the map is only read, while `file` is open; a model folder is
    // not rewritten while `splade` runs (as for the checkpoint's own map in
    // `weights::Checkpoint::open`), and a change is caught by the stamp.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    Ok(format!("crc32:{:08x}:{}", crc32_parallel(&map), map.len()))
}

/// The blob a hub snapshot file links to (`.../blobs/<hash>`), if `path`
/// is such a link. Hub blobs are named by their content's hash (sha256 for
/// LFS files, the git blob id otherwise).
fn hub_blob(path: &Path) -> Option<String> {
    let target = std::fs::read_link(path).ok()?;
    let name = target.file_name()?.to_str()?;
    let in_blobs = target.parent()?.file_name()? == "blobs";
    let hashlike = name.len() >= 40 && name.bytes().all(|b| b.is_ascii_hexdigit());
    (in_blobs && hashlike).then(|| name.to_owned())
}

/// CRC32 of `bytes`, chunks hashed on rayon's threads and combined.
fn crc32_parallel(bytes: &[u8]) -> u32 {
    bytes
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut h = crc32fast::Hasher::new();
            h.update(chunk);
            h
        })
        .collect::<Vec<_>>()
        .into_iter()
        .reduce(|mut a, b| {
            a.combine(&b);
            a
        })
        .map_or(0, |h| h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_crc_equals_the_plain_one() {
        let bytes: Vec<u8> = (0..CHUNK * 2 + 12345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, bytes.len()] {
            assert_eq!(
                crc32_parallel(&bytes[..n]),
                crc32fast::hash(&bytes[..n]),
                "{n}"
            );
        }
    }

    /// A model folder whose weights are `weights`.
    fn folder(dir: &Path, weights: &[u8]) -> ModelFiles {
        std::fs::write(dir.join("config.json"), b"{}").unwrap();
        std::fs::write(dir.join("tokenizer.json"), b"{\"t\":1}").unwrap();
        std::fs::write(dir.join("model.safetensors"), weights).unwrap();
        ModelFiles {
            config: dir.join("config.json"),
            weights: dir.join("model.safetensors"),
            tokenizer: dir.join("tokenizer.json"),
            id: dir.display().to_string(),
            revision: None,
        }
    }

    #[test]
    fn local_weights_are_hashed_whole_and_stamps_stand_for_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let files = folder(dir.path(), b"weights one");
        let id = Identity::of(&files).unwrap();
        let fp = id.fingerprint().unwrap().to_owned();
        let files_part = format!(
            "crc32:{:08x}{:08x}",
            crc32fast::hash(b"{}"),
            crc32fast::hash(b"{\"t\":1}")
        );
        let weights = format!("crc32:{:08x}:11", crc32fast::hash(b"weights one"));
        assert_eq!(fp, format!("{files_part}{WEIGHTS}{weights}"));
        let stamp = id.stamp().unwrap();
        assert!(id.is(&fp, Some(&stamp)).unwrap());
        assert!(id.is(&fp, None).unwrap());
        // An index written before the weights were fingerprinted.
        assert!(id.is(&files_part, None).unwrap());
        assert!(!id.is("crc32:0000000a0000000b", None).unwrap());
        // Its own stamp settles it without hashing: that stamp says the
        // recorded hash was computed from this very file, unchanged.
        let other = format!("{files_part}{WEIGHTS}crc32:00000000:11");
        assert!(id.is(&other, Some(&stamp)).unwrap());
        assert!(!id.is(&other, None).unwrap());

        // Rewritten in place, same length: another stamp, another hash.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&files.weights, b"weights two").unwrap();
        assert!(id.fingerprint().is_ok(), "computed once, before the change");
        let now = Identity::of(&files).unwrap();
        assert_ne!(now.stamp(), Some(stamp));
        assert!(!now.is(&fp, Some(&stamp)).unwrap());
        // A change between loading and hashing is an error.
        let loaded = Identity::of(&files).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&files.weights, b"weights 3").unwrap();
        let err = loaded.fingerprint().unwrap_err().to_string();
        assert!(err.contains("changed while the model was in use"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn hub_snapshots_are_known_by_their_blob() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        let snap = dir.path().join("snapshots/abc");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::create_dir_all(&snap).unwrap();
        let mut files = folder(&snap, b"");
        let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        std::fs::write(blobs.join(hash), b"weights").unwrap();
        std::fs::remove_file(&files.weights).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/{hash}"), &files.weights).unwrap();
        let id = Identity::of(&files).unwrap();
        assert!(
            id.fingerprint()
                .unwrap()
                .ends_with(&format!("{WEIGHTS}blob:{hash}"))
        );
        assert_eq!(id.stamp(), None, "a blob needs no stamp");
        // A link elsewhere is hashed.
        std::fs::write(dir.path().join("plain"), b"weights").unwrap();
        std::fs::remove_file(&files.weights).unwrap();
        std::os::unix::fs::symlink(dir.path().join("plain"), &files.weights).unwrap();
        files.id.clear();
        let id = Identity::of(&files).unwrap();
        let want = format!("{WEIGHTS}crc32:{:08x}:7", crc32fast::hash(b"weights"));
        assert!(id.fingerprint().unwrap().ends_with(&want));
    }

    /// Prints what identifying a model costs per process (a fresh map of
    /// the weights each time): `cargo test --lib fingerprint_cost --
    /// --ignored --nocapture`, with `SPLADE_TEST_MODEL` set to splade-tiny.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn fingerprint_cost() {
        let dir = tempfile::tempdir().unwrap();
        let mut cases = vec![("44 MB", folder(dir.path(), &vec![7u8; 44_000_000]))];
        if let Some(tiny) = std::env::var_os("SPLADE_TEST_MODEL").map(PathBuf::from) {
            let files = ModelFiles {
                config: tiny.join("config.json"),
                weights: tiny.join("model.safetensors"),
                tokenizer: tiny.join("tokenizer.json"),
                id: String::new(),
                revision: None,
            };
            cases.push(("splade-tiny", files));
        }
        for (name, files) in cases {
            let first = Identity::of(&files).unwrap();
            let fp = first.fingerprint().unwrap().to_owned();
            for stamp in [first.stamp(), None] {
                let mut ms: Vec<f64> = (0..30)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        assert!(
                            Identity::of(&files)
                                .unwrap()
                                .is(&fp, stamp.as_ref())
                                .unwrap()
                        );
                        t.elapsed().as_secs_f64() * 1e3
                    })
                    .collect();
                ms.sort_by(f64::total_cmp);
                let how = if stamp.is_some() {
                    "stamp matches"
                } else {
                    "full hash"
                };
                eprintln!(
                    "{name}, {how}: {:.2} ms min, {:.2} ms median",
                    ms[0], ms[15]
                );
            }
        }
    }
}
