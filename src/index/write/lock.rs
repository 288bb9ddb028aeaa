//! One writer at a time: an OS lock on `write.lock` in the index directory.
//!
//! Every change to an index (build, rebuild, append, delete, compact) takes
//! the lock before it reads `meta.json` or chooses a generation, and holds it
//! until its new `meta.json` is published. Two writers started together
//! would otherwise pick the same generation, clean up each other's temp files
//! and publish a `meta.json` whose files no longer match. Readers never take
//! it: they only read published, immutable files.
//!
//! The lock is `flock`-style (`File::try_lock`): the kernel releases it when
//! the process exits, however it exits, so a killed writer never leaves a
//! stale lock behind. The file itself stays (removing a lock file that
//! another process may have just opened would let two writers in); its
//! contents, the holder's process id, are only informational, for the
//! message a second writer prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::index::error::IndexError;

/// The lock file's name in an index directory.
pub const LOCK_FILE: &str = "write.lock";

/// What a writer does when another one holds the index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockWait {
    /// Fail at once with [`IndexError::Locked`].
    #[default]
    Fail,
    /// Block until the other writer is done.
    Wait,
}

/// The held write lock of one index directory; released when dropped.
#[derive(Debug)]
pub(crate) struct WriteLock {
    file: File,
}

impl Drop for WriteLock {
    /// Unlocks explicitly rather than only closing the file: a process
    /// that spawns children shares the lock's open file with each child
    /// between its fork and its exec, and closing our descriptor would
    /// leave the lock held until the last copy closes, refusing the next
    /// writer of this very process. Unlocking releases it at once, for all
    /// copies. (A syscall, but no data is written.)
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl WriteLock {
    /// Takes the lock of the (existing) directory `dir`.
    pub(crate) fn acquire(dir: &Path, wait: LockWait) -> Result<WriteLock, IndexError> {
        let path = dir.join(LOCK_FILE);
        let io = |e| IndexError::io(&path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) if wait == LockWait::Wait => file.lock().map_err(io)?,
            Err(TryLockError::WouldBlock) => return Err(locked(dir, &path, &mut file)),
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // Held: say who we are, for the message of the next writer.
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(WriteLock { file })
    }
}

/// The error for a lock held by someone else, naming the holder when the
/// lock file says who it is.
fn locked(dir: &Path, path: &Path, file: &mut File) -> IndexError {
    let mut text = String::new();
    let holder = file
        .read_to_string(&mut text)
        .ok()
        .and_then(|_| text.trim().parse::<u32>().ok());
    IndexError::Locked {
        path: dir.to_path_buf(),
        lock: PathBuf::from(path),
        holder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_and_told_who_holds_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let held = WriteLock::acquire(dir.path(), LockWait::Fail).unwrap();
        // flock locks belong to the open file, so a second open in this
        // process competes like another process would.
        let err = WriteLock::acquire(dir.path(), LockWait::Fail).unwrap_err();
        match &err {
            IndexError::Locked { holder, .. } => assert_eq!(*holder, Some(std::process::id())),
            other => panic!("expected Locked, got {other}"),
        }
        assert!(err.to_string().contains("another splade"), "{err}");
        drop(held);
        WriteLock::acquire(dir.path(), LockWait::Fail).unwrap();
    }

    #[test]
    fn a_copy_of_the_descriptor_does_not_keep_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let held = WriteLock::acquire(dir.path(), LockWait::Fail).unwrap();
        // What a child spawned by this process holds between fork and exec.
        let copy = held.file.try_clone().unwrap();
        drop(held);
        WriteLock::acquire(dir.path(), LockWait::Fail).expect("released with its holder");
        drop(copy);
    }

    #[test]
    fn a_waiting_writer_gets_the_lock_when_the_holder_is_done() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let held = WriteLock::acquire(dir.path(), LockWait::Fail).unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let (path, seen) = (dir.path().to_path_buf(), Arc::clone(&released));
        let waiter = std::thread::spawn(move || {
            let lock = WriteLock::acquire(&path, LockWait::Wait).unwrap();
            // Ordering, not timing: the lock came only after the release.
            let after_release = seen.load(Ordering::SeqCst);
            drop(lock);
            after_release
        });
        // Give the waiter the chance to block on the held lock.
        std::thread::sleep(std::time::Duration::from_millis(100));
        released.store(true, Ordering::SeqCst);
        drop(held);
        assert!(waiter.join().unwrap(), "the waiter got a held lock");
    }
}
