//! The process's threads, set up once at the start of `main`.
//!
//! The library takes a thread count without touching the environment
//! (`EncoderOptions::threads`), but candle, under the encoder, sizes two
//! things from environment variables only: the threads it splits every
//! matrix product into (`RAYON_NUM_THREADS`, read at each product) and a
//! spinning pool of its own for element-wise operations
//! (`CANDLE_NUM_THREADS`, read once). The encoder already runs its batches
//! in parallel, one core each, so candle is best confined to the calling
//! thread; otherwise its pools compete with the batches for the same cores
//! with little work per operation, and `--threads 1` would not mean one
//! thread. Only a binary can set the environment safely, before any thread
//! starts: hence this function, in the command line and not the library.

/// Sets up threads: a global rayon pool of `threads` workers (default:
/// `RAYON_NUM_THREADS`, else all cores), which the encoder, index builds
/// and batch searches run in, and candle confined to the calling thread.
///
/// # Safety
/// No other thread may read or write the environment concurrently
/// (the contract of [`std::env::set_var`]): call it before spawning any.
pub unsafe fn configure_threads(threads: Option<usize>) {
    let from_env = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok());
    let workers = threads
        .or(from_env)
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Ignore "already initialised": the first configuration wins.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build_global();
    // SAFETY: the caller guarantees no concurrent environment access.
    unsafe {
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            std::env::set_var("CANDLE_NUM_THREADS", "1");
        }
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}
