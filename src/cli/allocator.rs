//! The C allocator's thresholds, set once at the start of `main`.
//!
//! Encoding allocates and frees tensors of a few hundred KiB to tens of MiB
//! for every batch. glibc serves those from fresh `mmap`s and hands freed
//! heap tops back to the kernel, so each batch faults its buffers in again,
//! page by page, and the kernel zeroes every page: 10% of BERT-Mini-shaped
//! `--precision int8` encoding's samples were in the kernel (page faults,
//! `clear_page`). Keeping freed memory made it faster in 4 of 5 interleaved
//! pairs of `cargo bench --bench encode` passes, by 12% on average; this VM
//! is too noisy for a closer figure (mimalloc did no better).
//! The process's peak memory is what it is either way; only the returning
//! of memory between batches stops. Only glibc has these knobs; elsewhere
//! this does nothing.

/// Serves allocations up to 32 MiB (glibc's largest threshold) from the
/// heap, and never trims freed heap memory below 2 GiB of free space.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters; it is safe to
        // call at any time, and returns 0 (ignored) when it refuses one.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}
