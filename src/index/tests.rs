//! Whole-index tests: round trips, spilling, corruption, versions, crash
//! consistency and multi-segment reading.

use std::fs;
use std::path::Path;

use super::format::meta::write_meta;
use super::testutil::{Rng, borrow, build, random_docs};
use super::*;

fn read_all(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn small_index(dir: &Path) -> Vec<Vec<(String, f32)>> {
    let docs = random_docs(&mut Rng::new(5), 50, 80);
    let options = WriterOptions {
        store: true,
        ..WriterOptions::default()
    };
    build(dir, &docs, options);
    docs
}

#[test]
fn round_trip_ids_stored_vectors_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let docs = small_index(dir.path());
    let index = Index::open(dir.path()).unwrap();
    index.verify().unwrap();
    assert_eq!(index.num_docs(), 50);
    let stats = index.stats();
    assert_eq!(stats.live_docs, 50);
    assert_eq!(
        stats.postings,
        docs.iter().map(|d| d.len() as u64).sum::<u64>()
    );
    let on_disk: u64 = read_all(dir.path())
        .iter()
        .filter(|(n, _)| n.starts_with("seg-"))
        .map(|(_, b)| b.len() as u64)
        .sum();
    assert_eq!(stats.bytes, on_disk);
    assert_eq!(index.meta().quantization, Quantization::U16);
    let scale = index.meta().segments[0].scale;
    for (i, d) in docs.iter().enumerate() {
        let i = i as u32;
        assert_eq!(index.doc_id(i).unwrap(), format!("d{i}"));
        let s = index.stored(i).unwrap().unwrap();
        assert_eq!(s.text, format!("text of document {i} ✓"));
        assert_eq!(s.title, i.is_multiple_of(3).then(|| format!("title {i}")));
        let mut want = d.clone();
        want.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let got = index.doc_vector(i).unwrap();
        assert_eq!(got.len(), want.len());
        for ((gt, gw), (wt, ww)) in got.iter().zip(&want) {
            assert_eq!(gt, wt);
            assert!((gw - ww).abs() <= scale, "{gw} vs {ww}");
        }
    }
}

#[test]
fn no_store_means_no_stored_docs() {
    let dir = tempfile::tempdir().unwrap();
    build(
        dir.path(),
        &random_docs(&mut Rng::new(1), 5, 10),
        WriterOptions::default(),
    );
    let index = Index::open(dir.path()).unwrap();
    assert!(index.stored(0).unwrap().is_none());
    // .pst, .ter, .doc: no .sto (and no .bmx: a small segment).
    assert_eq!(index.meta().segments[0].files.len(), 3);
}

#[test]
fn empty_index_opens() {
    let dir = tempfile::tempdir().unwrap();
    let stats = IndexWriter::create(dir.path(), WriterOptions::default())
        .unwrap()
        .commit()
        .unwrap();
    assert_eq!((stats.live_docs, stats.terms, stats.postings), (0, 0, 0));
    let index = Index::open(dir.path()).unwrap();
    index.verify().unwrap();
    assert!(
        crate::search::search(&index, &crate::search::Query::new([("a", 1.0)]), 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn spilling_gives_byte_identical_files() {
    let docs = random_docs(&mut Rng::new(8), 400, 300);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    build(a.path(), &docs, WriterOptions::default());
    let tiny = WriterOptions {
        memory_budget: 2000,
        ..WriterOptions::default()
    };
    let mut w = IndexWriter::create(b.path(), tiny).unwrap();
    for (i, d) in docs.iter().enumerate() {
        let stored = StoredDoc {
            title: i.is_multiple_of(3).then(|| format!("title {i}")),
            text: format!("text of document {i} ✓"),
        };
        w.add_from(&format!("d{i}"), &borrow(d), Some(&stored), "x:1")
            .unwrap();
    }
    assert!(w.spilled_runs() > 10, "{} runs", w.spilled_runs());
    w.commit().unwrap();
    assert_eq!(read_all(a.path()), read_all(b.path()));
}

/// What the lookups of `flipped_byte_fails_verify_naming_the_file` show:
/// hits, an id, a stored text and a vector, or the error of each.
fn lookups(index: &Index) -> Vec<Result<String, String>> {
    let q = crate::search::Query::new([("t2", 1.0), ("é1", 1.0)]);
    let show = |r: Result<String, IndexError>| r.map_err(|e| e.to_string());
    vec![
        show(crate::search::search(index, &q, 10).map(|h| format!("{h:?}"))),
        show(index.doc_id(7).map(str::to_owned)),
        show(index.stored(7).map(|d| format!("{d:?}"))),
        show(index.doc_vector(7).map(|v| format!("{v:?}"))),
    ]
}

#[test]
fn flipped_byte_fails_verify_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    crate::index::ALWAYS_STORE.with(|c| c.set(true));
    small_index(dir.path());
    let intact = lookups(&Index::open(dir.path()).unwrap());
    for ext in ["pst", "ter", "doc", "sto", "bmx", "fwd"] {
        let name = format!("seg-000001.{ext}");
        let path = dir.path().join(&name);
        let orig = fs::read(&path).unwrap();
        let mut bad = orig.clone();
        bad[orig.len() / 2] ^= 0x10;
        fs::write(&path, &bad).unwrap();
        // open may or may not notice (it reads a page or two); verify must.
        match Index::open(dir.path()) {
            Ok(index) => {
                // Each lookup answers as before or fails naming the file,
                // whether its pages were damaged or not; never a panic.
                for (got, want) in lookups(&index).iter().zip(&intact) {
                    match got {
                        Ok(_) => assert_eq!(got, want, "{name}"),
                        Err(e) => assert!(e.contains(&name) && e.contains("page"), "{e}"),
                    }
                }
                let err = index.verify().unwrap_err().to_string();
                assert!(err.contains(&name), "{err}");
                assert!(err.contains("checksum") && err.contains("rebuild"), "{err}");
            }
            Err(e) => assert!(e.to_string().contains(&name), "{e}"),
        }
        fs::write(&path, &orig).unwrap();
    }
    Index::open(dir.path()).unwrap().verify().unwrap();
}

#[test]
fn truncated_file_fails_open_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    crate::index::ALWAYS_STORE.with(|c| c.set(true));
    small_index(dir.path());
    for ext in ["pst", "ter", "doc", "sto", "bmx", "fwd"] {
        let path = dir.path().join(format!("seg-000001.{ext}"));
        let orig = fs::read(&path).unwrap();
        for cut in [0, 5, 20, orig.len() / 2, orig.len() - 1] {
            fs::write(&path, &orig[..cut]).unwrap();
            let err = Index::open(dir.path()).err().expect("open must fail");
            let msg = err.to_string();
            assert!(msg.contains(&format!("seg-000001.{ext}")), "{msg}");
            assert!(matches!(err, IndexError::Corrupt { .. }), "{msg}");
        }
        fs::write(&path, &orig).unwrap();
    }
}

#[test]
fn version_mismatch_messages() {
    let dir = tempfile::tempdir().unwrap();
    small_index(dir.path());
    let meta_path = dir.path().join(META_FILE);
    let orig = fs::read_to_string(&meta_path).unwrap();
    let current = format!("\"format_version\": {FORMAT_VERSION}");
    assert!(orig.contains(&current), "{orig}");
    let next = FORMAT_VERSION + 1;
    let newer = orig.replace(&current, &format!("\"format_version\": {next}"));
    fs::write(&meta_path, newer.replace("\"segments\"", "\"renamed\"")).unwrap();
    let msg = Index::open(dir.path()).err().unwrap().to_string();
    assert!(
        msg.contains(
            &format!("index format version {next} is newer than this splade supports ({FORMAT_VERSION}); upgrade splade")
        ),
        "{msg}"
    );
    fs::write(&meta_path, orig.replace(&current, "\"format_version\": 0")).unwrap();
    let msg = Index::open(dir.path()).err().unwrap().to_string();
    assert!(
        msg.contains("version 0 is older") && msg.contains("rebuild the index with `splade index`"),
        "{msg}"
    );
    fs::write(&meta_path, &orig).unwrap();
    // A segment file with another version in its header.
    let path = dir.path().join("seg-000001.ter");
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let err = Index::open(dir.path()).err().unwrap();
    assert!(
        matches!(
            err,
            IndexError::Version {
                expected: FORMAT_VERSION,
                found,
                ..
            } if found == FORMAT_VERSION + 1
        ),
        "{err}"
    );
    assert!(err.to_string().contains("seg-000001.ter"));
}

#[test]
fn not_an_index_and_foreign_directories() {
    let dir = tempfile::tempdir().unwrap();
    let err = Index::open(dir.path()).err().unwrap();
    assert!(matches!(err, IndexError::NotAnIndex { .. }));
    assert!(
        err.to_string()
            .contains("not a splade index (no meta.json)")
    );
    let missing = dir.path().join("nope");
    assert!(matches!(
        Index::open(&missing),
        Err(IndexError::NotAnIndex { .. })
    ));
    // Writing creates missing directories...
    build(&missing.join("deeper"), &[], WriterOptions::default());
    Index::open(&missing.join("deeper")).unwrap();
    // ...but refuses directories holding other files.
    let foreign = tempfile::tempdir().unwrap();
    fs::write(foreign.path().join("notes.txt"), "mine").unwrap();
    fs::write(foreign.path().join("seg-000001.pst"), "ours").unwrap();
    let err = IndexWriter::create(foreign.path(), WriterOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, IndexError::NotEmpty { ref entry, .. } if entry == "notes.txt"));
    // Leftovers of an interrupted first build are fine.
    let left = tempfile::tempdir().unwrap();
    fs::write(left.path().join("seg-000004.pst.tmp"), "junk").unwrap();
    fs::write(left.path().join("meta.json.tmp"), "junk").unwrap();
    assert_eq!(
        names_after_a_build(left.path(), &random_docs(&mut Rng::new(2), 3, 5)),
        segment_and_meta("seg-000005")
    );
}

/// The files in `dir` after a build of `docs`.
fn names_after_a_build(dir: &Path, docs: &[Vec<(String, f32)>]) -> Vec<String> {
    build(dir, docs, WriterOptions::default());
    read_all(dir).into_iter().map(|f| f.0).collect()
}

/// The files of an index of one segment `stem` without stored texts.
fn segment_and_meta(stem: &str) -> Vec<String> {
    let files = ["doc", "pst", "ter"].map(|ext| format!("{stem}.{ext}"));
    let mut names = vec!["meta.json".to_string()];
    names.extend(files);
    names.push("write.lock".into());
    names
}

#[test]
fn duplicate_ids_and_invalid_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = IndexWriter::create(dir.path(), WriterOptions::default()).unwrap();
    w.add_from("a", &[("x", 1.0)], None, "docs.jsonl:1")
        .unwrap();
    w.add_from("b", &[("x", 1.0)], None, "docs.jsonl:2")
        .unwrap();
    let err = w
        .add_from("a", &[("y", 1.0)], None, "docs.jsonl:3")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "docs.jsonl:3: duplicate document id `a` (first seen at docs.jsonl:1)"
    );
    for (terms, what) in [
        (vec![("x", 0.0)], "weight 0"),
        (vec![("x", -1.0)], "weight -1"),
        (vec![("x", f32::NAN)], "weight NaN"),
        (vec![("x", f32::INFINITY)], "weight inf"),
        (vec![("", 1.0)], "empty term"),
        (vec![("x", 1.0), ("x", 2.0)], "`x` appears more than once"),
    ] {
        let msg = w
            .add_from("c", &terms, None, "docs.jsonl:4")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("docs.jsonl:4: document `c`") && msg.contains(what),
            "{msg}"
        );
    }
    // Rejected documents took no ordinal.
    assert_eq!(w.num_docs(), 2);
    w.add_from("c", &[], None, "docs.jsonl:5").unwrap();
    w.commit().unwrap();
    let index = Index::open(dir.path()).unwrap();
    assert_eq!(index.doc_id(2).unwrap(), "c");
}

#[test]
fn unfinished_writer_leaves_previous_index_intact() {
    let dir = tempfile::tempdir().unwrap();
    small_index(dir.path());
    let before = read_all(dir.path());
    let tiny = WriterOptions {
        memory_budget: 500,
        store: true,
        ..WriterOptions::default()
    };
    let mut w = IndexWriter::create(dir.path(), tiny).unwrap();
    for (i, d) in random_docs(&mut Rng::new(3), 40, 50).iter().enumerate() {
        w.add_from(&format!("n{i}"), &borrow(d), None, "new.jsonl:1")
            .unwrap();
    }
    assert!(w.spilled_runs() > 0);
    drop(w); // killed before commit
    let after = read_all(dir.path());
    for f in &before {
        assert!(after.contains(f), "{} changed", f.0);
    }
    let index = Index::open(dir.path()).unwrap();
    index.verify().unwrap();
    assert_eq!(index.doc_id(0).unwrap(), "d0");
    // Files written and renamed but never committed are equally ignored.
    fs::copy(
        dir.path().join("seg-000001.pst"),
        dir.path().join("seg-000009.pst"),
    )
    .unwrap();
    Index::open(dir.path()).unwrap().verify().unwrap();
    // The next build cleans all of it up and takes a fresh name.
    assert_eq!(
        names_after_a_build(dir.path(), &random_docs(&mut Rng::new(4), 5, 9)),
        segment_and_meta("seg-000010")
    );
    assert_eq!(Index::open(dir.path()).unwrap().meta().generation, 10);
}

#[test]
fn reads_several_segments_with_global_ordinals() {
    let mut rng = Rng::new(12);
    let (d1, d2) = (random_docs(&mut rng, 30, 40), random_docs(&mut rng, 20, 40));
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let f32_opts = || WriterOptions {
        quantization: Quantization::F32,
        store: true,
        ..WriterOptions::default()
    };
    build(a.path(), &d1, f32_opts());
    build(b.path(), &d2, f32_opts());
    let mut meta = Index::open(a.path()).unwrap().meta().clone();
    let mut seg = Index::open(b.path()).unwrap().meta().segments[0].clone();
    seg.name = "seg-000002".into();
    for f in &mut seg.files {
        let new = f.name.replace("seg-000001", "seg-000002");
        fs::copy(b.path().join(&f.name), a.path().join(&new)).unwrap();
        f.name = new;
    }
    meta.segments.push(seg);
    meta.docs = 50;
    write_meta(a.path(), &meta).unwrap();
    let index = Index::open(a.path()).unwrap();
    index.verify().unwrap();
    assert_eq!(index.num_docs(), 50);
    assert_eq!(index.doc_id(29).unwrap(), "d29");
    assert_eq!(index.doc_id(30).unwrap(), "d0");
    assert_eq!(
        index.stored(31).unwrap().unwrap().text,
        "text of document 1 ✓"
    );
    let all: Vec<_> = d1.iter().chain(&d2).cloned().collect();
    let q = [("t2", 1.0), ("é1", 0.5), ("##t0", 2.0)];
    let got = crate::search::search(&index, &crate::search::Query::new(q), 50).unwrap();
    let want = crate::search::brute_force(&all, &q, 50);
    assert_eq!(got.len(), want.len());
    assert!(!got.is_empty());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.doc, w.doc);
        assert!((g.score - w.score).abs() < 1e-5);
    }
}

/// Opening checks the same few pages at any size: the pages of each file's
/// header and trailer, none of its body, so open costs the same for 2,000
/// documents and for 20,000; a query then checks the pages it reads, a
/// small part of the index.
#[test]
fn open_checks_a_page_per_file_at_any_size() {
    crate::index::ALWAYS_STORE.with(|c| c.set(true));
    let cost = |n: usize| {
        let dir = tempfile::tempdir().unwrap();
        let docs = random_docs(&mut Rng::new(9), n, 3000);
        let options = WriterOptions {
            store: true,
            ..WriterOptions::default()
        };
        build(dir.path(), &docs, options);
        let index = Index::open(dir.path()).unwrap();
        let files = index.checked_pages();
        assert_eq!(files.len(), 6, "{files:?}");
        for f in &files {
            assert!(f.pages > 4, "{f:?}");
            // The header's page; the last too where a trailer is (.bmx).
            let at_open = if f.file.ends_with(".bmx") { 2 } else { 1 };
            assert_eq!(f.checked.len(), at_open, "{f:?}");
        }
        let opened = index.checked_bytes();
        assert!(opened <= 7 * format::pages::PAGE_SIZE as u64, "{opened}");
        let q = crate::search::Query::new([(super::testutil::token(7), 1.0)]);
        let hits = crate::search::search(&index, &q, 10).unwrap();
        let ids: Vec<&str> = hits.iter().map(|h| index.doc_id(h.doc).unwrap()).collect();
        assert_eq!(ids.len(), 10);
        let total: u64 = index.stats().bytes;
        (opened, index.checked_bytes(), total)
    };
    let (_, _, small_total) = cost(2_000);
    let (big_open, big_query, big_total) = cost(20_000);
    assert!(big_total > 5 * small_total, "{big_total} vs {small_total}");
    assert!(
        big_query > big_open && big_query < big_total / 10,
        "{big_query} of {big_total}"
    );
}

/// A flipped byte in a page a search reads makes it fail, naming the file
/// and page, and every later search of that `Index` too; the same flip in
/// a page it does not read leaves it answering as before.
#[test]
fn a_damaged_page_is_refused_by_the_search_that_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let docs = random_docs(&mut Rng::new(11), 3_000, 2000);
    build(dir.path(), &docs, WriterOptions::default());
    let q = crate::search::Query::new([(super::testutil::token(3), 1.0)]);
    let (intact, read, pages) = {
        let index = Index::open(dir.path()).unwrap();
        let hits = crate::search::search(&index, &q, 10).unwrap();
        let pst = index.checked_pages().remove(0);
        assert!(pst.file.ends_with(".pst"), "{pst:?}");
        (hits, pst.checked, pst.pages)
    };
    let path = dir.path().join("seg-000001.pst");
    let orig = fs::read(&path).unwrap();
    // Not the header's page (open reads it) nor the last (it may be short).
    let read_page = *read.iter().rev().find(|&&p| p != 0).unwrap();
    let unread = (1..pages - 1).rev().find(|p| !read.contains(p)).unwrap();
    for (page, refused) in [(read_page, true), (unread, false)] {
        let mut bad = orig.clone();
        bad[page * format::pages::PAGE_SIZE + 1] ^= 0x40;
        fs::write(&path, &bad).unwrap();
        let index = Index::open(dir.path()).unwrap();
        let got = crate::search::search(&index, &q, 10);
        if refused {
            let err = got.unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, IndexError::Corrupt { .. }), "{msg}");
            assert!(
                msg.contains("seg-000001.pst") && msg.contains(&format!("page {page} ")),
                "{msg}"
            );
            // Damage found once is reported by every later search.
            let other = crate::search::Query::new([(super::testutil::token(1999), 1.0)]);
            assert!(crate::search::search(&index, &other, 10).is_err());
            assert!(index.check().is_err());
        } else {
            assert_eq!(got.unwrap(), intact);
            index.check().unwrap();
            assert!(
                index
                    .verify()
                    .unwrap_err()
                    .to_string()
                    .contains("seg-000001.pst")
            );
        }
    }
    fs::write(&path, &orig).unwrap();
}
