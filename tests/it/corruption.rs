//! Corruption: flipped and truncated bytes in every index file, `meta.json`
//! included. Most cases run in-process (open, search, verify under
//! `catch_unwind`); a sample runs through the binary.
//!
//! The contract: opening either fails with an error naming the file, or
//! succeeds; searching a damaged index never panics; `verify` names the
//! damaged file; and whatever `verify` accepts answers exactly like the
//! intact index (so `splade search`, which verifies, never answers wrongly).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use splade::index::{Index, IndexWriter, StoredDoc, WriterOptions};
use splade::search::search;

use crate::fixtures::{Style, WORDS, run_splade, stderr, stdout, write_tiny_model};
use crate::fuzz_smoke::Rng;

/// Weighted queries over the index's tokens.
fn queries() -> Vec<Vec<(&'static str, f32)>> {
    let mut q: Vec<Vec<(&str, f32)>> = WORDS.iter().map(|w| vec![(*w, 1.0)]).collect();
    q.push(vec![
        ("rust", 0.7),
        ("sparse", 1.3),
        ("##s", 0.2),
        ("the", 0.1),
    ]);
    q.push(WORDS.iter().map(|w| (*w, 0.5)).collect());
    q
}

/// The vector of document `d`: a few tokens, skewed so that `the` and `a`
/// have lists of several blocks.
fn doc_terms(d: u32) -> Vec<(&'static str, f32)> {
    WORDS
        .iter()
        .enumerate()
        .filter(|(i, _)| (d as usize * 31 + i * 17).is_multiple_of(i + 2) || *i < 2)
        .map(|(i, w)| (*w, 0.1 + ((d as usize * 13 + i * 7) % 101) as f32 / 37.0))
        .collect()
}

/// Builds the reference index: 700 documents, stored texts.
fn build(dir: &Path) {
    let options = WriterOptions {
        store: true,
        ..WriterOptions::default()
    };
    let mut w = IndexWriter::create(dir, options).unwrap();
    for d in 0..700 {
        let stored = StoredDoc {
            title: (d % 4 == 0).then(|| format!("t{d}")),
            text: format!("document number {d}"),
        };
        w.add(&format!("doc-{d}"), &doc_terms(d), Some(&stored), "x")
            .unwrap();
    }
    w.commit().unwrap();
}

/// Everything a search shows: ids, score bits and stored fields.
type Answers = Vec<Vec<(String, u32, Option<StoredDoc>)>>;

fn answers(index: &Index) -> Answers {
    queries()
        .iter()
        .map(|q| {
            search(index, q, 20)
                .iter()
                .map(|h| {
                    (
                        index.doc_id(h.doc).to_owned(),
                        h.score.to_bits(),
                        index.stored(h.doc),
                    )
                })
                .collect()
        })
        .collect()
}

/// What one damaged index did.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    open_refused: usize,
    verify_refused: usize,
    harmless: usize,
}

/// Runs one case on the damaged directory; `Err` describes a violation.
fn check(dir: &Path, damaged: &str, intact: &Answers, tally: &mut Tally) -> Result<(), String> {
    tally.cases += 1;
    let r = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        let index = match Index::open(dir) {
            Ok(i) => i,
            Err(e) => {
                let msg = e.to_string();
                let names_it = msg.contains(damaged) || damaged == "meta.json";
                if !names_it {
                    return Err(format!("open error does not name {damaged}: {msg}"));
                }
                tally.open_refused += 1;
                return Ok(());
            }
        };
        // Unverified lookups on damaged bytes: any answer, but no panic.
        let unverified = answers(&index);
        for d in [0, index.num_docs() / 2, index.num_docs().saturating_sub(1)] {
            if d < index.num_docs() {
                let _ = index.doc_vector(d);
            }
        }
        match index.verify() {
            Err(e) => {
                let msg = e.to_string();
                if damaged != "meta.json" && !msg.contains(damaged) {
                    return Err(format!("verify error does not name {damaged}: {msg}"));
                }
                tally.verify_refused += 1;
            }
            Ok(()) => {
                if &unverified != intact {
                    return Err("verify accepts an index that answers differently".into());
                }
                tally.harmless += 1;
            }
        }
        Ok(())
    }));
    match r {
        Ok(r) => r,
        Err(p) => Err(format!(
            "panic: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    }
}

/// Flips one random bit at ~260 positions of every file and truncates every
/// file at ~45 lengths: over 1000 damaged indexes (1,581 with the current
/// layout), each opened, searched and verified.
#[test]
fn flipped_and_truncated_bytes_are_caught_or_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    build(&good);
    let intact = answers(&Index::open(&good).unwrap());
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&good)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // The writers' lock file holds no index data.
        .filter(|n| n != splade::index::LOCK_FILE)
        .collect();
    names.sort();
    for n in &names {
        std::fs::copy(good.join(n), work.join(n)).unwrap();
    }
    let mut rng = Rng::new(42);
    let mut tally = Tally::default();
    let mut violations = Vec::new();
    for name in &names {
        let bytes = std::fs::read(good.join(name)).unwrap();
        let len = bytes.len();
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        // Every header and footer byte, then evenly spread positions plus
        // random ones in the body.
        let mut positions: Vec<usize> = (0..len.min(24))
            .chain(len.saturating_sub(16)..len)
            .collect();
        positions.extend((0..140).map(|i| i * len / 140));
        positions.extend((0..80).map(|_| rng.below(len)));
        for at in positions {
            let mut b = bytes.clone();
            b[at] ^= 1 << rng.below(8);
            cases.push((format!("flip {name}@{at}"), b));
        }
        let mut cuts: Vec<usize> = (0..40).map(|i| i * len / 40).collect();
        cuts.extend([
            len - 1,
            len.saturating_sub(16),
            len.saturating_sub(17),
            12,
            0,
        ]);
        for cut in cuts {
            cases.push((format!("truncate {name} to {cut}"), bytes[..cut].to_vec()));
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"trailing garbage");
        cases.push((format!("extend {name}"), longer));
        for (what, damaged) in cases {
            std::fs::write(work.join(name), &damaged).unwrap();
            if let Err(v) = check(&work, name, &intact, &mut tally) {
                violations.push(format!("{what}: {v}"));
            }
        }
        std::fs::write(work.join(name), &bytes).unwrap();
    }
    eprintln!("corruption: {tally:?}");
    assert!(tally.cases >= 1000, "{tally:?}");
    assert!(
        violations.is_empty(),
        "{} of {} cases violate the contract:\n{}",
        violations.len(),
        tally.cases,
        violations[..violations.len().min(20)].join("\n")
    );
}

/// A sample through the binary: `verify` exits 1 naming the file, and
/// `search` (which verifies checksums before answering) answers exactly as
/// before or exits 2 with a message; never a panic.
#[test]
fn damaged_index_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = dir.join("model");
    write_tiny_model(&model, Style::default(), None, None);
    let model = model.to_str().unwrap().to_owned();
    let vectors: String = (0..400)
        .map(|d| {
            let v: serde_json::Map<String, serde_json::Value> = doc_terms(d)
                .into_iter()
                .map(|(t, w)| (t.to_owned(), (w as f64).into()))
                .collect();
            format!(
                "{}\n",
                serde_json::json!({"id": format!("doc-{d}"), "vector": v})
            )
        })
        .collect();
    std::fs::write(dir.join("v.jsonl"), vectors).unwrap();
    let out = run_splade(
        dir,
        &["index", "--vectors", "v.jsonl", "--index", "idx", "-q"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(
        dir.join("q.tsv"),
        "q1\tsparse rust search\nq2\tthe law\nq3\thello world\n",
    )
    .unwrap();
    let search_args = [
        "search",
        "--queries",
        "q.tsv",
        "--index",
        "idx",
        "--model",
        &model,
        "--format",
        "tsv",
        "-k",
        "50",
    ];
    let intact = run_splade(dir, &search_args, b"");
    assert!(intact.status.success(), "{}", stderr(&intact));
    let intact = stdout(&intact);
    let idx = dir.join("idx");
    let mut names: Vec<String> = std::fs::read_dir(&idx)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // The writers' lock file holds no index data.
        .filter(|n| n != splade::index::LOCK_FILE)
        .collect();
    names.sort();
    let mut rng = Rng::new(7);
    let mut cases = 0;
    for name in &names {
        let bytes = std::fs::read(idx.join(name)).unwrap();
        for i in 0..8 {
            let mut b = bytes.clone();
            let what = if i == 7 {
                b.truncate(rng.below(b.len()));
                format!("truncate {name} to {}", b.len())
            } else {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
                format!("flip {name}@{at}")
            };
            std::fs::write(idx.join(name), &b).unwrap();
            cases += 1;
            let v = run_splade(dir, &["verify", "--index", "idx"], b"");
            let s = run_splade(dir, &search_args, b"");
            std::fs::write(idx.join(name), &bytes).unwrap();
            let (verr, serr) = (stderr(&v), stderr(&s));
            for (cmd, err) in [("verify", &verr), ("search", &serr)] {
                assert!(!err.contains("panicked"), "{what}: {cmd} panicked: {err}");
            }
            match v.status.code() {
                Some(0) => assert_eq!(stdout(&s), intact, "{what}: verify passed, search differs"),
                Some(1) => assert!(
                    verr.contains(name.as_str()) || verr.contains("meta.json"),
                    "{what}: verify does not name the file: {verr}"
                ),
                other => panic!("{what}: verify exit {other:?}: {verr}"),
            }
            match s.status.code() {
                Some(0) => assert_eq!(stdout(&s), intact, "{what}: search answered differently"),
                Some(2) => assert!(
                    serr.starts_with("splade: ")
                        && (serr.contains(name.as_str()) || serr.contains("meta.json")),
                    "{what}: unclear search error: {serr}"
                ),
                other => panic!("{what}: search exit {other:?}: {serr}"),
            }
        }
    }
    assert!(cases >= 30);
}
