//! Batch search with pruning over segments whose range maxima are built in
//! memory (no `.bmx`): every query of a parallel batch needs the same
//! lazily built tables. Building them inside a lazily initialised cell with
//! parallel work let rayon re-enter the cell's initialisation on one thread
//! (a deadlock, rayon issue 1251); these runs must all finish.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixtures::{jsonl, ok, splade_bin, with_docs};

/// Pre-encoded documents: words of the tiny vocabulary (what queries
/// match) and many other terms, so that building the range maxima is real
/// parallel work (thousands of terms, 300k postings).
fn vectors(n: usize) -> String {
    let words = crate::fixtures::WORDS;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |below: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % below
    };
    let mut out = String::new();
    for d in 0..n {
        let mut terms = std::collections::BTreeMap::new();
        for _ in 0..8 {
            terms.insert(words[next(words.len())].to_owned(), 1 + next(200));
        }
        for _ in 0..60 {
            terms.insert(format!("x{}", next(4000)), 1 + next(200));
        }
        let terms: Vec<String> = terms
            .iter()
            .map(|(t, w)| format!("\"{t}\":{}", *w as f32 / 100.0))
            .collect();
        out.push_str(&format!(
            "{{\"id\":\"d{d}\",\"vector\":{{{}}}}}\n",
            terms.join(",")
        ));
    }
    out
}

/// A thousand queries mixing the vocabulary's words.
fn queries() -> String {
    let words = crate::fixtures::WORDS;
    (0..1000)
        .map(|i| {
            let a = words[i % 13];
            let b = words[(i * 7 + 3) % 13];
            let c = words[(i * 11 + 5) % 27];
            format!("q{i}\t{a} {b} {c}\n")
        })
        .collect()
}

/// Runs `splade args` until it exits, or until it stops making progress:
/// `None` when its CPU time did not move over a whole `stall` period (a
/// deadlocked process sleeps on a lock; a slow one on a loaded machine
/// still runs), and then it is killed. No wall-clock budget: a long run is
/// not a failure. Output goes to files, so that a full pipe never blocks
/// the child.
fn run_until_stalled(dir: &Path, args: &[&str], stall: Duration) -> Option<String> {
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(splade_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("SPLADE_MODEL")
        .env_remove("SPLADE_INDEX")
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .expect("spawn splade");
    let mut last = (cpu_ticks(child.id()), Instant::now());
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let stderr = std::fs::read_to_string(&err).unwrap();
            assert!(status.success(), "{args:?}: {stderr}");
            return Some(std::fs::read_to_string(&out).unwrap());
        }
        if last.1.elapsed() >= stall {
            let now = cpu_ticks(child.id());
            if now == last.0 {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            last = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// User plus system CPU ticks of process `pid`, all threads (fields 14 and
/// 15 of `/proc/PID/stat`, after the parenthesised name).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let after_name = &stat[stat.rfind(')').expect("stat has a name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // `after_name` starts at field 3 (state): utime is field 14, stime 15.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn batch_approx_search_over_in_memory_range_maxima_finishes() {
    let (tmp, model) = with_docs("");
    let dir = tmp.path();
    std::fs::write(dir.join("q.tsv"), queries()).unwrap();
    std::fs::write(dir.join("v.jsonl"), vectors(5000)).unwrap();
    ok(
        dir,
        &["index", "--vectors", "v.jsonl", "--index", "idx", "-q"],
    );
    let files: Vec<String> = std::fs::read_dir(dir.join("idx"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().any(|f| f.ends_with(".pst")), "{files:?}");
    assert!(!files.iter().any(|f| f.ends_with(".bmx")), "{files:?}");
    // On the code that built the maxima inside `OnceLock::get_or_init`,
    // about one run in five hung with this many threads (a healthy run
    // takes a few seconds of CPU; a deadlocked one sleeps for ever).
    let stall = Duration::from_secs(10);
    for run in 0..16 {
        let threads = ["32", "64"][run % 2];
        let args = [
            "--threads",
            threads,
            "search",
            "--queries",
            "q.tsv",
            "--index",
            "idx",
            "--model",
            &model,
            "--approx",
            "0.9",
            "-k",
            "3",
            "--format",
            "jsonl",
        ];
        let out = run_until_stalled(dir, &args, stall).unwrap_or_else(|| {
            panic!("run {run} ({threads} threads) used no CPU for {stall:?}: deadlock")
        });
        let hits = jsonl(&out);
        assert_eq!(
            hits.len(),
            3000,
            "run {run}: 3 hits for each of 1000 queries"
        );
    }
}
