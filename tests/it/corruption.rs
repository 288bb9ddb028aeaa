//! Corruption: flipped and truncated bytes in every index file, `meta.json`
//! included, of an index that has every file type: a segment of 50,000
//! documents (the size from which range maxima, `.bmx`, are written) and
//! an appended one, stored texts (`.sto`), deletes (`.del`) and lexical
//! postings (`.lxp`, `.lxt`, `.lxd`) in both.
//! Most cases run in-process (open, search, verify under `catch_unwind`); a
//! sample runs through the binary.
//!
//! The contract: opening either fails with an error naming the file, or
//! succeeds; searching a damaged index never panics; every search and
//! lookup either answers exactly like the intact index or fails naming the
//! damaged file (pages are checked by their CRC32s as they are read, so a
//! damaged page is never answered from, and damage where a query does not
//! read leaves it alone); `verify` names the damaged file. Every damage to
//! a segment file is caught by `verify` (lengths and CRC32s cover every
//! byte); only `meta.json` may be damaged harmlessly.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use splade::lexical::{Analyzer, Bm25Params, TermCounts, document_text};
use splade::{AppendOptions, Index, IndexWriter, StoredDoc, WriterOptions, search, search_bm25};

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

/// Documents of the first segment: enough for it to have a `.bmx`.
const BIG: u32 = 50_000;
/// Documents appended as the second segment.
const APPENDED: u32 = 300;
/// Deleted documents, in both segments.
const DELETED: [&str; 3] = ["doc-3", "doc-40000", "doc-50100"];
/// The file types every damaged index has.
pub const FILE_TYPES: [&str; 10] = [
    "bmx", "del", "doc", "fwd", "lxd", "lxp", "lxt", "pst", "sto", "ter",
];

/// BM25 queries over the documents' texts (`n{d}`) and titles (`t{d}`).
const TEXT_QUERIES: [&str; 3] = ["n3 n40000 t8", "n50001 n50002 t50004", "t0 t4 t12 n7"];

/// The vector of document `d`: for the first 700 and the appended ones a
/// few tokens, skewed so that `the` and `law` have lists of several blocks;
/// the others one token each (cheap to search).
fn doc_terms(d: u32) -> Vec<(&'static str, f32)> {
    if (700..BIG).contains(&d) {
        let i = d as usize * 7 % WORDS.len();
        return vec![(WORDS[i], 0.1 + (d % 89) as f32 / 31.0)];
    }
    WORDS
        .iter()
        .enumerate()
        .filter(|(i, _)| (d as usize * 31 + i * 17).is_multiple_of(i + 2) || *i < 2)
        .map(|(i, w)| (*w, 0.1 + ((d as usize * 13 + i * 7) % 101) as f32 / 37.0))
        .collect()
}

/// Builds the reference index: `BIG` documents, then `APPENDED` in a
/// second segment, stored texts, `DELETED` deleted.
fn build(dir: &Path) {
    let options = WriterOptions {
        store: true,
        lexical: Some(Bm25Params::default()),
        ..WriterOptions::default()
    };
    let analyzer = Analyzer::english();
    let add = |w: &mut IndexWriter, d: u32| {
        let stored = StoredDoc {
            title: d.is_multiple_of(4).then(|| format!("t{d}")),
            text: format!("n{d}"),
        };
        let text = document_text(stored.title.as_deref().unwrap_or(""), &stored.text);
        let counts = TermCounts::of(&analyzer, &text);
        w.add_document(
            &format!("doc-{d}"),
            &doc_terms(d),
            Some(&counts),
            Some(&stored),
        )
        .unwrap();
    };
    let mut w = IndexWriter::create(dir, options).unwrap();
    (0..BIG).for_each(|d| add(&mut w, d));
    w.commit().unwrap();
    let mut w = IndexWriter::append(dir, AppendOptions::default()).unwrap();
    (BIG..BIG + APPENDED).for_each(|d| add(&mut w, d));
    w.commit().unwrap();
    splade::delete(dir, &DELETED, &Default::default()).unwrap();
}

/// The extension of an index file name (`seg-000001.000003.del`: `del`).
pub fn file_type(name: &str) -> &str {
    name.rsplit('.').next().unwrap()
}

/// Asserts that `names` (an index's files) include every file type.
fn assert_every_file_type(names: &[String]) {
    for t in FILE_TYPES {
        let n = names.iter().filter(|n| file_type(n) == t).count();
        assert!(n > 0, "no .{t} file to damage in {names:?}");
    }
}

/// Everything a search shows, ids, score bits and stored fields, or the
/// error it fails with.
type Answer = Result<Vec<(String, u32, Option<StoredDoc>)>, String>;

/// The answers of every query, SPLADE then BM25.
fn answers(index: &Index) -> Vec<Answer> {
    let shown = |hits: Result<Vec<splade::Hit>, splade::IndexError>| -> Answer {
        let shown = |h: &splade::Hit| {
            let id = index.doc_id(h.doc)?.to_owned();
            Ok((id, h.score.to_bits(), index.stored(h.doc)?))
        };
        hits.and_then(|hits| hits.iter().map(shown).collect())
            .map_err(|e: splade::IndexError| e.to_string())
    };
    let splade = queries()
        .into_iter()
        .map(|q| shown(search(index, &q.into_iter().collect(), 20)));
    let bm25 = TEXT_QUERIES
        .iter()
        .map(|q| shown(search_bm25(index, q, 20)));
    splade.chain(bm25).collect()
}

/// Checks the answers of a damaged index against the intact ones: each
/// equal, or an error naming `damaged`; returns how many were refused.
fn compare(got: &[Answer], intact: &[Answer], damaged: &str) -> Result<usize, String> {
    let mut refused = 0;
    for (i, (got, want)) in got.iter().zip(intact).enumerate() {
        match got {
            Ok(_) if got != want => return Err(format!("query {i} answered differently")),
            Ok(_) => {}
            // A damaged meta.json may make a segment file disagree with it.
            Err(e) if damaged != "meta.json" && !e.contains(damaged) => {
                return Err(format!("query {i}: error does not name {damaged}: {e}"));
            }
            Err(_) => refused += 1,
        }
    }
    Ok(refused)
}

/// What one damaged index did.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    open_refused: usize,
    verify_refused: usize,
    harmless: usize,
    /// Cases where some search or lookup refused to answer (the others
    /// answered exactly as the intact index).
    search_refused: usize,
    /// Per file type: cases, and how many of them `open` or `verify` refused.
    by_type: BTreeMap<String, (usize, usize)>,
}

/// Runs one case on the damaged directory; `Err` describes a violation.
fn check(dir: &Path, damaged: &str, intact: &[Answer], tally: &mut Tally) -> Result<(), String> {
    tally.cases += 1;
    let refused_before = tally.open_refused + tally.verify_refused;
    let r = check_one(dir, damaged, intact, tally);
    let t = tally
        .by_type
        .entry(file_type(damaged).to_owned())
        .or_default();
    t.0 += 1;
    t.1 += tally.open_refused + tally.verify_refused - refused_before;
    r
}

fn check_one(
    dir: &Path,
    damaged: &str,
    intact: &[Answer],
    tally: &mut Tally,
) -> Result<(), String> {
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
        // Searches without `verify`: the intact answer or a refusal.
        if compare(&answers(&index), intact, damaged)? > 0 {
            tally.search_refused += 1;
        }
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
            Ok(()) => tally.harmless += 1,
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
/// file at ~45 lengths: over 5,000 damaged indexes (18 files), each opened,
/// searched and verified. Every damaged segment file is refused by
/// `verify`; every search answers as the intact index or names the file.
#[test]
fn flipped_and_truncated_bytes_are_caught_or_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    build(&good);
    let intact = answers(&Index::open(&good).unwrap());
    assert!(intact.iter().all(|a| a.is_ok()), "{intact:?}");
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&good)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // The writers' lock file holds no index data.
        .filter(|n| n != splade::internal::LOCK_FILE)
        .collect();
    names.sort();
    assert_every_file_type(&names);
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
    assert!(tally.cases >= 5000, "{tally:?}");
    // Damage where queries read is refused by them, not only by verify.
    assert!(tally.search_refused > 100, "{tally:?}");
    for (t, (cases, refused)) in &tally.by_type {
        assert!(
            t == "json" || refused == cases,
            ".{t}: {refused} of {cases} damaged files refused"
        );
    }
    assert!(
        violations.is_empty(),
        "{} of {} cases violate the contract:\n{}",
        violations.len(),
        tally.cases,
        violations[..violations.len().min(20)].join("\n")
    );
}

/// Builds through the binary, in `dir/idx`, an index with every file type:
/// 20 texts encoded by the tiny model (written to `dir/model`) and stored,
/// then `BIG` vectors appended (with texts `n{d}`, and when `extra > 0` a
/// term `x{d % extra}` each, which sorts after every model token), then
/// deletes in both segments. Returns the model's path.
pub fn build_through_the_binary(dir: &Path, extra: u32) -> String {
    let model = dir.join("model");
    write_tiny_model(&model, Style::default(), None, None);
    let model = model.to_str().unwrap().to_owned();
    let texts: String = (0..20)
        .map(|i| {
            let words: Vec<&str> = (0..5).map(|j| WORDS[(i * 3 + j * 7) % WORDS.len()]).collect();
            format!(
                "{}\n",
                serde_json::json!({"id": format!("t{i}"), "title": format!("t{i}"), "text": words.join(" ")})
            )
        })
        .collect();
    std::fs::write(dir.join("docs.jsonl"), texts).unwrap();
    let vectors: String = (0..BIG)
        .map(|d| {
            let mut v: serde_json::Map<String, serde_json::Value> = doc_terms(d)
                .into_iter()
                .map(|(t, w)| (t.to_owned(), (w as f64).into()))
                .collect();
            if extra > 0 {
                v.insert(format!("x{}", d % extra), 0.5.into());
            }
            // The index has lexical postings: appended vectors carry texts.
            format!(
                "{}\n",
                serde_json::json!({"id": format!("doc-{d}"), "vector": v, "text": format!("n{d}")})
            )
        })
        .collect();
    std::fs::write(dir.join("v.jsonl"), vectors).unwrap();
    for args in [
        &["index", "docs.jsonl", "--model", &model, "--store"][..],
        &["index", "--append", "--vectors", "v.jsonl"],
        &["delete", "t3", "doc-3", "doc-40000"],
    ] {
        let out = run_splade(dir, &[args, &["--index", "idx", "-q"]].concat(), b"");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    model
}

/// Through the binary, on an index with every file type (texts with the
/// tiny model and stored, then `BIG` vectors appended, then deletes): 8
/// damages per segment file (7 bit flips, 1 truncation), each reported by
/// `verify` (exit 1, naming the file); `search` either refuses (exit 2,
/// naming the file: it read a damaged page) or answers exactly as before
/// (the damage lies where it does not read); never a panic. A damaged
/// `meta.json` may instead be harmless: then `verify` passes and search
/// answers exactly as before.
#[test]
fn damaged_index_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = build_through_the_binary(dir, 0);
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
        // Index data only (not the writers' lock file).
        .filter(|n| n.starts_with("seg-") || n == "meta.json")
        .collect();
    names.sort();
    assert_every_file_type(&names);
    let mut rng = Rng::new(7);
    let mut damaged: BTreeMap<&str, usize> = BTreeMap::new();
    let mut refused: BTreeMap<&str, usize> = BTreeMap::new();
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
            let v = run_splade(dir, &["verify", "--index", "idx"], b"");
            let s = run_splade(dir, &search_args, b"");
            std::fs::write(idx.join(name), &bytes).unwrap();
            let (verr, serr) = (stderr(&v), stderr(&s));
            for (cmd, err) in [("verify", &verr), ("search", &serr)] {
                assert!(!err.contains("panicked"), "{what}: {cmd} panicked: {err}");
            }
            if name == "meta.json" {
                check_meta_case(&what, &v, &s, &intact);
                continue;
            }
            assert_eq!(v.status.code(), Some(1), "{what}: verify: {verr}");
            assert!(
                verr.contains(name.as_str()),
                "{what}: verify does not name the file: {verr}"
            );
            match s.status.code() {
                Some(0) => assert_eq!(stdout(&s), intact, "{what}: search answered wrongly"),
                Some(2) => {
                    assert!(
                        serr.starts_with("splade: ") && serr.contains(name.as_str()),
                        "{what}: unclear search error: {serr}"
                    );
                    *refused.entry(file_type(name)).or_default() += 1;
                }
                other => panic!("{what}: search exit {other:?}: {serr}"),
            }
            *damaged.entry(file_type(name)).or_default() += 1;
        }
    }
    eprintln!(
        "corruption through the binary: per file type, damaged (all refused by verify) \
         {damaged:?}, refused by search {refused:?}"
    );
    for t in FILE_TYPES {
        assert!(
            damaged.get(t).copied().unwrap_or(0) >= 8,
            ".{t}: {damaged:?}"
        );
    }
}

/// A damaged `meta.json` through the binary: refused naming it, or
/// harmless (verify passes, search answers as before).
fn check_meta_case(what: &str, v: &std::process::Output, s: &std::process::Output, intact: &str) {
    let (verr, serr) = (stderr(v), stderr(s));
    match v.status.code() {
        Some(0) => assert_eq!(stdout(s), intact, "{what}: verify passed, search differs"),
        Some(1) => assert!(
            verr.contains("meta.json"),
            "{what}: verify does not name the file: {verr}"
        ),
        other => panic!("{what}: verify exit {other:?}: {verr}"),
    }
    match s.status.code() {
        Some(0) => assert_eq!(stdout(s), intact, "{what}: search answered differently"),
        Some(2) => assert!(
            serr.starts_with("splade: ") && serr.contains("meta.json"),
            "{what}: unclear search error: {serr}"
        ),
        other => panic!("{what}: search exit {other:?}: {serr}"),
    }
}
