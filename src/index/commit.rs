//! Publishing a change: choosing fresh file names, writing `meta.json` last
//! and cleaning up what the new `meta.json` no longer references. Every
//! operation that changes an index (build, append, delete, compact) ends
//! here, which is what makes each of them atomic.

use std::fs;
use std::path::Path;

use super::error::IndexError;
use super::meta::{META_FILE, META_TMP, Meta, read_meta, write_meta};

/// Whether a directory entry is one of ours (segment files, temp files).
pub(crate) fn is_ours(name: &str) -> bool {
    name.starts_with("seg-") || name == META_TMP
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

/// Checks that `dir` may hold a new index and returns the next generation:
/// one more than any generation in `meta.json` or in a file name.
pub(crate) fn prepare_dir(dir: &Path) -> Result<u64, IndexError> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
        return Ok(1);
    }
    let has_meta = dir.join(META_FILE).exists();
    let mut generation = if has_meta {
        read_meta(dir).map(|m| m.generation).unwrap_or(0)
    } else {
        0
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| IndexError::io(dir, e))? {
        let entry = entry.map_err(|e| IndexError::io(dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    for name in names {
        if !has_meta && !is_ours(&name) {
            return Err(IndexError::NotEmpty {
                path: dir.to_path_buf(),
                entry: name,
            });
        }
        generation = generation.max(generation_of(&name).unwrap_or(0));
    }
    // Leftovers of killed or failed builds go now, not only at the next
    // commit: on a full disk they would otherwise stop that commit.
    match has_meta.then(|| read_meta(dir)) {
        Some(Ok(meta)) => remove_unreferenced(dir, &meta),
        Some(Err(_)) => {}
        None => remove_ours(dir, |_| false),
    }
    Ok(generation + 1)
}

/// The next generation of an existing index (which must have `meta.json`).
pub(crate) fn next_generation(dir: &Path) -> Result<u64, IndexError> {
    read_meta(dir)?;
    prepare_dir(dir)
}

/// Publishes `meta` (its new files already written and renamed): fsyncs the
/// directory, checks that no other writer committed since generation
/// `base` (when this is a change of an existing index), writes `meta.json`
/// and removes files it does not reference.
pub(crate) fn publish(dir: &Path, meta: &Meta, base: Option<u64>) -> Result<(), IndexError> {
    super::format::sync_dir(dir)?;
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

/// Removes our files (`seg-*`, `meta.json.tmp`) that `meta` does not
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
