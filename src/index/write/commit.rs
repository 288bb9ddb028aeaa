//! Publishing a change: choosing fresh file names, writing `meta.json` last
//! and cleaning up what the new `meta.json` no longer references. Every
//! operation that changes an index (build, append, delete, compact) ends
//! here, which is what makes each of them atomic.

use std::fs;
use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::frame::sync_dir;
use crate::index::format::meta::{META_FILE, Meta, is_meta_tmp, read_meta, write_meta};
use crate::index::write::lock::{LOCK_FILE, LockWait, WriteLock};

/// Whether a directory entry is one of ours that a cleanup may remove
/// (segment files, temp files; never `meta.json` or the lock file).
pub(crate) fn is_ours(name: &str) -> bool {
    name.starts_with("seg-") || is_meta_tmp(name)
}

/// The generation a file name carries: `N` of `seg-N.*`, or `G` of a
/// deletes file `seg-N.G.del` when larger.
pub(crate) fn generation_of(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("seg-")?;
    let digits = |s: &str| -> String { s.chars().take_while(char::is_ascii_digit).collect() };
    let seg: String = digits(rest);
    let mut generation: u64 = seg.parse().ok()?;
    if let Some(after) = rest[seg.len()..].strip_prefix('.') {
        let del = digits(after);
        if !del.is_empty() && after[del.len()..].starts_with(".del") {
            generation = generation.max(del.parse().unwrap_or(0));
        }
    }
    Some(generation)
}

/// A change of an index in progress: the held write lock and the
/// generation the change publishes under.
pub(crate) struct Change {
    /// Held from the start of the change until its `meta.json` is published.
    pub(crate) lock: WriteLock,
    /// One more than any generation in `meta.json` or in a file name.
    pub(crate) generation: u64,
}

/// Starts a build into `dir`: creates it if missing (and makes its entry in
/// the parent durable), refuses a directory holding files that are not
/// ours, takes the write lock and removes leftovers of killed builds.
pub(crate) fn begin_build(dir: &Path, wait: LockWait) -> Result<Change, IndexError> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    } else {
        // Checked before the lock file is created, so that a foreign
        // directory is left as it was.
        check_ours(dir)?;
    }
    let lock = WriteLock::acquire(dir, wait)?;
    let generation = prepare_dir(dir)?;
    Ok(Change { lock, generation })
}

/// Starts a change (append, delete, compact) of the index in `dir`, which
/// must exist: takes the write lock, then removes leftovers of killed
/// writers. The caller opens the index only after this, so that it starts
/// from the latest commit.
pub(crate) fn begin_change(dir: &Path, wait: LockWait) -> Result<Change, IndexError> {
    // Not an index: refuse before creating a lock file in it. (Only its
    // presence: the caller reads and checks meta.json once it holds the lock.)
    if !dir.join(META_FILE).is_file() {
        return Err(IndexError::NotAnIndex {
            path: dir.to_path_buf(),
        });
    }
    let lock = WriteLock::acquire(dir, wait)?;
    let generation = prepare_dir(dir)?;
    Ok(Change { lock, generation })
}

/// Refuses a directory without `meta.json` that holds files not ours.
fn check_ours(dir: &Path) -> Result<(), IndexError> {
    if dir.join(META_FILE).exists() {
        return Ok(());
    }
    match entry_names(dir)?
        .into_iter()
        .find(|n| !is_ours(n) && n != LOCK_FILE)
    {
        Some(entry) => Err(IndexError::NotEmpty {
            path: dir.to_path_buf(),
            entry,
        }),
        None => Ok(()),
    }
}

/// The sorted names in `dir`.
fn entry_names(dir: &Path) -> Result<Vec<String>, IndexError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| IndexError::io(dir, e))? {
        let entry = entry.map_err(|e| IndexError::io(dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Returns the next generation of `dir` (write lock held) and removes
/// leftovers of killed or failed writers now, not only at the next commit:
/// on a full disk they would otherwise stop that commit.
fn prepare_dir(dir: &Path) -> Result<u64, IndexError> {
    check_ours(dir)?;
    let meta = dir.join(META_FILE).exists().then(|| read_meta(dir));
    let mut generation = match &meta {
        Some(Ok(m)) => m.generation,
        _ => 0,
    };
    for name in entry_names(dir)? {
        generation = generation.max(generation_of(&name).unwrap_or(0));
    }
    match meta {
        Some(Ok(meta)) => remove_unreferenced(dir, &meta),
        Some(Err(_)) => {}
        None => remove_ours(dir, |_| false),
    }
    Ok(generation + 1)
}

/// Publishes `meta` (its new files already written and renamed): fsyncs the
/// directory, checks that no other writer committed since generation
/// `base` (when this is a change of an existing index), writes `meta.json`
/// and removes files it does not reference.
pub(crate) fn publish(dir: &Path, meta: &Meta, base: Option<u64>) -> Result<(), IndexError> {
    sync_dir(dir)?;
    if let Some(expected) = base {
        let found = read_meta(dir)?.generation;
        if found != expected {
            return Err(IndexError::Changed {
                path: dir.to_path_buf(),
                expected,
                found,
            });
        }
    }
    write_meta(dir, meta)?;
    remove_unreferenced(dir, meta);
    Ok(())
}

/// Removes our files (`seg-*`, temp files of `meta.json`) that `meta` does not
/// reference. Best effort: the commit has already happened, and a file
/// that cannot be removed now is removed by the next commit.
fn remove_unreferenced(dir: &Path, meta: &Meta) {
    remove_ours(dir, |name| meta.references(name));
}

/// Removes our files for which `keep` is false (best effort).
fn remove_ours(dir: &Path, keep: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_ours(&name) && !keep(&name) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_of_file_names() {
        assert_eq!(generation_of("seg-000012.pst"), Some(12));
        assert_eq!(generation_of("seg-000012.000031.del"), Some(31));
        assert_eq!(generation_of("seg-000012.000031.del.tmp"), Some(31));
        assert_eq!(generation_of("seg-000012.run-40.tmp"), Some(12));
        assert_eq!(generation_of("seg-000012.sto.tmp"), Some(12));
        assert_eq!(generation_of("meta.json.tmp"), None);
        assert_eq!(generation_of("seg-x"), None);
    }
}
