//! What a hub download gave: whether a file arrived whole, and what a
//! failed request means in words.
//!
//! `hf-hub` moves a download into the cache when the connection ends, even
//! when the server closed it early without announcing a length; the cache
//! then holds a short file under the right name, and every later run would
//! load it. Each model file says its own size, so a short one is caught
//! here before it is loaded: `model.safetensors` by its header (8-byte
//! length, JSON table, data up to the last tensor's end offset), the JSON
//! files by parsing. A file found incomplete is removed from the cache
//! (snapshot link and blob), so that the next run downloads it afresh.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Checks a hub file of `repo`; on failure removes it from the cache and
/// returns an [`Error::Hub`] that says so.
pub(crate) fn ensure_complete(repo: &str, file: &str, path: &Path) -> Result<()> {
    let Err(why) = check(file, path) else {
        return Ok(());
    };
    let removed = remove_from_cache(path);
    Err(Error::Hub {
        repo: repo.to_owned(),
        file: file.to_owned(),
        message: format!(
            "the downloaded file is incomplete ({why}){}",
            if removed {
                "; it was removed from the cache, run again to download it afresh"
            } else {
                ""
            }
        ),
    })
}

/// The words for a failed hub request: what the status or transport
/// failure means for the user, with the client's own message after it.
pub(crate) fn api_message(e: &hf_hub::api::sync::ApiError) -> String {
    use hf_hub::api::sync::ApiError;
    let what = match e {
        ApiError::RequestError(err) => match err.as_ref() {
            ureq::Error::Status(401 | 404, _) => {
                "the hub has no such repository, revision or file (or it is private or gated: \
                 set HF_TOKEN)"
            }
            ureq::Error::Transport(t) if t.kind() == ureq::ErrorKind::ConnectionFailed => {
                "the hub cannot be reached"
            }
            _ => return e.to_string(),
        },
        ApiError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the download ended early; run again to resume it"
        }
        _ => return e.to_string(),
    };
    format!("{what} ({e})")
}

/// Why `path` is not a whole `file`, if it is not.
fn check(file: &str, path: &Path) -> std::result::Result<(), String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    if file.ends_with(".safetensors") {
        let expected = safetensors_size(f)?;
        if len != expected {
            return Err(format!("{len} bytes where its header says {expected}"));
        }
        return Ok(());
    }
    if file.ends_with(".json") {
        serde_json::from_reader::<_, serde::de::IgnoredAny>(BufReader::new(f))
            .map_err(|e| format!("{len} bytes that are not whole JSON: {e}"))?;
    }
    Ok(())
}

/// The size a safetensors file declares: 8 + header length + the largest
/// end offset of its tensors.
fn safetensors_size(mut f: File) -> std::result::Result<u64, String> {
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .map_err(|_| "shorter than a safetensors header".to_owned())?;
    let n = u64::from_le_bytes(n);
    let mut header = Vec::new();
    (&mut f)
        .take(n)
        .read_to_end(&mut header)
        .map_err(|e| e.to_string())?;
    if header.len() as u64 != n {
        return Err(format!(
            "the header of {n} bytes is cut at {}",
            header.len()
        ));
    }
    let table: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("unreadable header: {e}"))?;
    let end = table
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .filter_map(|(_, t)| t.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    Ok(8 + n + end)
}

/// Removes a cached file: the snapshot link and the blob it points to.
/// False when nothing could be removed (e.g. a read-only cache).
fn remove_from_cache(path: &Path) -> bool {
    let blob = std::fs::canonicalize(path).ok();
    let link = std::fs::remove_file(path).is_ok();
    let blob = blob.is_some_and(|b| b != path && std::fs::remove_file(b).is_ok());
    link || blob
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safetensors_bytes() -> Vec<u8> {
        let header = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{}}"#;
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header);
        v.extend_from_slice(&[0u8; 8]);
        v
    }

    #[test]
    fn whole_files_pass_and_short_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join("model.safetensors");
        let bytes = safetensors_bytes();
        std::fs::write(&st, &bytes).unwrap();
        assert_eq!(check("model.safetensors", &st), Ok(()));
        for cut in [3, 20, bytes.len() - 1] {
            std::fs::write(&st, &bytes[..cut]).unwrap();
            assert!(check("model.safetensors", &st).is_err(), "cut at {cut}");
        }
        let json = dir.path().join("config.json");
        std::fs::write(&json, br#"{"a": [1, 2]}"#).unwrap();
        assert_eq!(check("config.json", &json), Ok(()));
        std::fs::write(&json, br#"{"a": [1,"#).unwrap();
        assert!(
            check("config.json", &json)
                .unwrap_err()
                .contains("not whole JSON")
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_incomplete_file_is_removed_with_its_blob() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
        std::fs::create_dir_all(dir.path().join("snapshots/c")).unwrap();
        let blob = dir.path().join("blobs/e");
        std::fs::write(&blob, b"{\"cut").unwrap();
        let link = dir.path().join("snapshots/c/config.json");
        std::os::unix::fs::symlink("../../blobs/e", &link).unwrap();
        let err = ensure_complete("o/n", "config.json", &link)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`o/n`") && err.contains("incomplete"), "{err}");
        assert!(err.contains("run again"), "{err}");
        assert!(!link.exists() && !blob.exists());
    }
}
