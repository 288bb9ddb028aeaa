//! Reliability of the index on disk, through the real binary: a build killed
//! with SIGKILL at many points, searches racing a rebuild, a full disk, and
//! (ignored, measured on demand) peak memory against `--memory-budget`.
//!
//! Old and new indexes are built from pre-encoded vectors over the tiny
//! model's tokens (fast, no encoder), and searched with the tiny model, so
//! "the old index" and "the new index" are two exact expected outputs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::fixtures::{Style, WORDS, run_splade, splade_bin, stderr, stdout, write_tiny_model};
use crate::fuzz_smoke::Rng;

/// Writes `n` documents `{prefix}-{i}` with 12 of the tiny vocabulary's
/// tokens each to `dir/name`.
fn write_vectors(dir: &Path, name: &str, prefix: &str, n: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(n * 200);
    for i in 0..n {
        out.push_str(&format!("{{\"id\":\"{prefix}-{i}\",\"vector\":{{"));
        let start = rng.below(WORDS.len());
        for j in 0..12 {
            let t = WORDS[(start + j * 5) % WORDS.len()];
            let w = 0.01 + rng.below(3000) as f64 / 1000.0;
            if j > 0 {
                out.push(',');
            }
            out.push_str(&format!("{}:{w}", serde_json::to_string(t).unwrap()));
        }
        out.push_str("}}\n");
    }
    std::fs::write(dir.join(name), out).unwrap();
}

/// A temp dir with the tiny model, `old.jsonl` (300 docs), `new.jsonl`
/// (`new_docs` docs) and `q.tsv`; returns it with the model path.
fn setup(new_docs: usize) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    write_tiny_model(&model, Style::default(), None, None);
    write_vectors(tmp.path(), "old.jsonl", "old", 300, 1);
    write_vectors(tmp.path(), "new.jsonl", "new", new_docs, 2);
    std::fs::write(
        tmp.path().join("q.tsv"),
        "q1\tsparse rust search\nq2\tthe law of implied warranty\nq3\thello world\n",
    )
    .unwrap();
    (tmp, model.to_str().unwrap().to_owned())
}

/// `splade index --vectors FILE --index INDEX` (quiet, small memory budget
/// so that sorted runs spill), asserting success.
fn build(dir: &Path, input: &str, index: &str) {
    let out = run_splade(dir, &index_args(input, index), b"");
    assert!(out.status.success(), "index {input}: {}", stderr(&out));
}

fn index_args<'a>(input: &'a str, index: &'a str) -> [&'a str; 8] {
    [
        "index",
        "--vectors",
        input,
        "--index",
        index,
        "-q",
        "--memory-budget",
        "1",
    ]
}

/// The TSV answers of `q.tsv` on `index`; `Err(stderr)` on failure.
fn answers(dir: &Path, model: &str, index: &str) -> Result<String, String> {
    let out = run_splade(
        dir,
        &[
            "search",
            "--queries",
            "q.tsv",
            "--index",
            index,
            "--model",
            model,
            "--format",
            "tsv",
            "-k",
            "20",
        ],
        b"",
    );
    if out.status.success() {
        Ok(stdout(&out))
    } else {
        Err(format!("exit {:?}: {}", out.status.code(), stderr(&out)))
    }
}

fn verify(dir: &Path, index: &str) -> Result<(), String> {
    let out = run_splade(dir, &["verify", "--index", index], b"");
    match out.status.code() {
        Some(0) => Ok(()),
        code => Err(format!("verify exit {code:?}: {}", stderr(&out))),
    }
}

/// Files in an index directory that its `meta.json` does not reference
/// (besides `meta.json` itself and the writers' lock file).
fn unreferenced(index: &Path) -> Vec<String> {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(index.join("meta.json")).unwrap()).unwrap();
    let text = meta.to_string();
    std::fs::read_dir(index)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "meta.json" && n != splade::internal::LOCK_FILE)
        .filter(|n| !text.contains(&format!("\"{n}\"")))
        .collect()
}

/// Kills `splade index` replacing an index at 64 points spread over the
/// build (half of them in its last 40%, where the files are written and
/// published). After each kill the path must hold the complete old or the
/// complete new index: `verify` passes and search answers exactly as one of
/// them.
#[test]
fn sigkill_during_a_rebuild_leaves_the_old_or_the_new_index() {
    let (tmp, model) = setup(40_000);
    let dir = tmp.path();
    // The build's duration: the shorter of two (the first one warms caches).
    let full = (0..2)
        .map(|_| {
            let started = Instant::now();
            build(dir, "new.jsonl", "ref");
            started.elapsed()
        })
        .min()
        .unwrap();
    build(dir, "old.jsonl", "idx");
    let old = answers(dir, &model, "idx").unwrap();
    let new = answers(dir, &model, "ref").unwrap();
    assert_ne!(old, new);
    let (mut saw_old, mut saw_new, mut finished) = (0, 0, 0);
    let n = 64;
    for i in 0..n {
        let f = if i < n / 2 {
            i as f64 / (n / 2) as f64
        } else {
            0.6 + 0.4 * (i - n / 2) as f64 / (n / 2) as f64
        };
        let delay = full.mul_f64(f);
        let mut child = Command::new(splade_bin())
            .args(index_args("new.jsonl", "idx"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        if child.wait().unwrap().success() {
            finished += 1;
        }
        let at = format!("kill {i} at {delay:?} of {full:?}");
        verify(dir, "idx").unwrap_or_else(|e| panic!("{at}: {e}"));
        let got = answers(dir, &model, "idx").unwrap_or_else(|e| panic!("{at}: {e}"));
        if got == old {
            saw_old += 1;
        } else if got == new {
            saw_new += 1;
            build(dir, "old.jsonl", "idx"); // back to the old index
        } else {
            panic!("{at}: search answers like neither the old nor the new index");
        }
    }
    eprintln!(
        "sigkill: {n} kills over a {full:?} build: old index {saw_old}, new index {saw_new} \
         ({finished} builds had finished before their kill)"
    );
    assert!(saw_old > n / 3, "too few kills landed before the commit");
    // The next build cleans up whatever the killed ones left.
    build(dir, "new.jsonl", "idx");
    assert_eq!(answers(dir, &model, "idx").unwrap(), new);
    assert_eq!(unreferenced(&dir.join("idx")), Vec::<String>::new());
}

/// Copies the files of index `from` into a fresh directory `to`.
fn restore(dir: &Path, from: &str, to: &str) {
    let to = dir.join(to);
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir(&to).unwrap();
    for e in std::fs::read_dir(dir.join(from)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Kills `args` (a command changing the index `idx`) at `n` delays spread
/// over its duration, each time starting from a copy of index `pristine`;
/// after each kill `idx` must verify and answer as before or as after the
/// command. Returns how many kills left the old and the new index.
fn kill_points(dir: &Path, model: &str, pristine: &str, args: &[&str], n: usize) -> (usize, usize) {
    restore(dir, pristine, "idx");
    let old = answers(dir, model, "idx").unwrap();
    let full = (0..2)
        .map(|_| {
            restore(dir, pristine, "idx");
            let started = Instant::now();
            let out = run_splade(dir, args, b"");
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            started.elapsed()
        })
        .min()
        .unwrap();
    let new = answers(dir, model, "idx").unwrap();
    // (Old and new may answer alike, e.g. a compaction that requantizes
    // nothing; then the check is only that every kill leaves an index.)
    let (mut saw_old, mut saw_new) = (0, 0);
    for i in 0..n {
        restore(dir, pristine, "idx");
        let delay = full.mul_f64(1.2 * i as f64 / n as f64);
        let mut child = Command::new(splade_bin())
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let at = format!("{args:?} killed at {delay:?} of {full:?}");
        verify(dir, "idx").unwrap_or_else(|e| panic!("{at}: {e}"));
        match answers(dir, model, "idx") {
            Ok(got) if got == old => saw_old += 1,
            Ok(got) if got == new => saw_new += 1,
            Ok(_) => panic!("{at}: answers like neither the old nor the new index"),
            Err(e) => panic!("{at}: {e}"),
        }
    }
    eprintln!("{args:?}: {n} kills over {full:?}: old {saw_old}, new {saw_new}");
    (saw_old, saw_new)
}

/// Append, delete and compact killed at many points: each is all or
/// nothing. The index to change has two segments (a build and an append)
/// and, for compact, deleted documents.
#[test]
fn sigkill_during_append_delete_and_compact() {
    let (tmp, model) = setup(20_000);
    let dir = tmp.path();
    build(dir, "old.jsonl", "base");
    let ids: String = (0..300).step_by(3).map(|i| format!("old-{i}\n")).collect();
    let more: String = (0..20_000)
        .step_by(7)
        .map(|i| format!("new-{i}\n"))
        .collect();
    std::fs::write(dir.join("del.txt"), format!("{ids}{more}")).unwrap();
    let append = [
        "index",
        "--vectors",
        "--append",
        "new.jsonl",
        "--index",
        "idx",
        "-q",
        "--memory-budget",
        "1",
    ];
    kill_points(dir, &model, "base", &append, 24);
    restore(dir, "base", "idx");
    let out = run_splade(dir, &append, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    restore(dir, "idx", "two");
    kill_points(
        dir,
        &model,
        "two",
        &["delete", "--ids", "del.txt", "--index", "idx", "-q"],
        16,
    );
    restore(dir, "two", "idx");
    let out = run_splade(
        dir,
        &["delete", "--ids", "del.txt", "--index", "idx", "-q"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    restore(dir, "idx", "deleted");
    let compact = ["compact", "--index", "idx", "-q", "--memory-budget", "1"];
    kill_points(dir, &model, "deleted", &compact, 16);
}

/// Searches in a loop while the index is rebuilt eight times, alternating
/// two corpora: every search succeeds and answers as one of the two.
#[test]
fn searches_during_rebuilds_see_the_old_or_the_new_index() {
    let (tmp, model) = setup(8_000);
    let dir = tmp.path().to_path_buf();
    build(&dir, "new.jsonl", "idx");
    let new = answers(&dir, &model, "idx").unwrap();
    build(&dir, "old.jsonl", "idx");
    let old = answers(&dir, &model, "idx").unwrap();
    let writer_dir = dir.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..8 {
            let input = if i % 2 == 0 { "new.jsonl" } else { "old.jsonl" };
            build(&writer_dir, input, "idx");
        }
    });
    let (mut searches, mut saw_old, mut saw_new) = (0, 0, 0);
    while !writer.is_finished() || searches == 0 {
        let got = answers(&dir, &model, "idx")
            .unwrap_or_else(|e| panic!("search {searches} during rebuilds failed: {e}"));
        searches += 1;
        if got == old {
            saw_old += 1;
        } else if got == new {
            saw_new += 1;
        } else {
            panic!("search {searches} answers like neither index");
        }
    }
    writer.join().unwrap();
    eprintln!("concurrency: {searches} searches, {saw_old} old, {saw_new} new");
    assert!(searches >= 5);
}

/// The same race in-process, thousands of times a second: readers open and
/// search while a writer commits one index after another. An open that
/// reads the old `meta.json` just before a commit removes the old files
/// must still succeed (on the new index) rather than fail.
#[test]
fn index_open_races_commits() {
    use splade::{Index, IndexWriter, WriterOptions};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let commit = |round: u32| {
        let mut w = IndexWriter::create(&dir, WriterOptions::default()).unwrap();
        for d in 0..50 {
            let id = format!("r{round}-d{d}");
            w.add(&id, &[("x", 1.0 + d as f32), ("y", 0.5)]).unwrap();
        }
        w.commit().unwrap();
    };
    commit(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (opens, failures) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let (mut opens, mut failures) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match Index::open(&dir) {
                    Ok(index) => {
                        let hits =
                            splade::search(&index, &splade::Query::new([("x", 1.0)]), 3).unwrap();
                        let top = index.doc_id(hits[0].doc).unwrap();
                        assert!(top.ends_with("-d49"), "{top}");
                    }
                    Err(e) => failures.push(e.to_string()),
                }
                opens += 1;
            }
            (opens, failures)
        });
        // The reader stops even if a commit panics (else the scope waits
        // for it forever).
        let commits = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for round in 1..=150 {
                commit(round);
            }
        }));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = reader.join().unwrap();
        if let Err(panic) = commits {
            std::panic::resume_unwind(panic);
        }
        seen
    });
    eprintln!(
        "open vs commit: {opens} opens during 150 commits, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {opens} opens failed, e.g. {}",
        failures.len(),
        failures[0]
    );
}

/// `trap '' XFSZ; ulimit -f BLOCKS; exec splade ARGS`: writes beyond the
/// limit fail with EFBIG, as on a full disk, without privileges.
fn run_with_file_limit(dir: &Path, blocks: u32, args: &[&str]) -> std::process::Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "trap '' XFSZ; ulimit -f {blocks}; exec '{}' {}",
        splade_bin(),
        quoted.join(" ")
    );
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A write that fails part-way (file size limit at several sizes, so that
/// it hits a spilled run, a segment file or meta.json) leaves the previous
/// index intact, says which file, and the next build cleans up.
#[test]
fn failed_writes_leave_the_previous_index() {
    let (tmp, model) = setup(20_000);
    let dir = tmp.path();
    build(dir, "old.jsonl", "idx");
    let old = answers(dir, &model, "idx").unwrap();
    for blocks in [1, 8, 64, 512] {
        let out = run_with_file_limit(dir, blocks, &index_args("new.jsonl", "idx"));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "limit {blocks}: {err}");
        assert!(
            err.starts_with("splade: ") && err.contains("idx/") && err.contains("too large"),
            "limit {blocks}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        verify(dir, "idx").unwrap();
        assert_eq!(answers(dir, &model, "idx").unwrap(), old, "limit {blocks}");
    }
    build(dir, "new.jsonl", "idx");
    assert_eq!(unreferenced(&dir.join("idx")), Vec::<String>::new());
}

/// Unmounts a tmpfs when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The real thing on a small tmpfs: ENOSPC while writing the new index
/// leaves the old one intact. Mounting needs root: elsewhere the test is
/// ignored (shown as such in the summary, see `build.rs`); as root a failed
/// mount fails it.
#[test]
#[cfg_attr(not(splade_root), ignore = "needs root to mount a tmpfs")]
fn full_disk_leaves_the_previous_index() {
    let (tmp, model) = setup(20_000);
    let dir = tmp.path();
    let mnt = dir.join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "cannot mount a tmpfs here, although root");
    let _guard = Mount(mnt.clone());
    build(dir, "old.jsonl", "small/idx");
    let old = answers(dir, &model, "small/idx").unwrap();
    let out = run_splade(dir, &index_args("new.jsonl", "small/idx"), b"");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    verify(dir, "small/idx").unwrap();
    assert_eq!(answers(dir, &model, "small/idx").unwrap(), old);
    // Space comes back: the next build that fits succeeds and cleans up.
    build(dir, "old.jsonl", "small/idx");
    assert_eq!(unreferenced(&mnt.join("idx")), Vec::<String>::new());
}
