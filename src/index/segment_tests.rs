//! Appends, deletes, upserts and compaction: results equal those of an index
//! built from scratch on the same final documents, and every change is
//! atomic.

use std::fs;
use std::path::Path;

use super::testutil::{Rng, borrow, random_docs};
use super::*;
use crate::search::{Hit, Query, search};

type Doc = (String, Vec<(String, f32)>);

fn opts(quantization: Quantization) -> WriterOptions {
    WriterOptions {
        quantization,
        store: true,
        ..WriterOptions::default()
    }
}

fn text_of(id: &str) -> StoredDoc {
    StoredDoc {
        title: None,
        text: format!("text of {id}"),
    }
}

fn add_all(w: &mut IndexWriter, docs: &[Doc]) -> Result<(), IndexError> {
    for (i, (id, v)) in docs.iter().enumerate() {
        w.add_from(
            id,
            &borrow(v),
            Some(&text_of(id)),
            &format!("in.jsonl:{}", i + 1),
        )?;
    }
    Ok(())
}

fn build(dir: &Path, docs: &[Doc], q: Quantization) {
    let mut w = IndexWriter::create(dir, opts(q)).unwrap();
    add_all(&mut w, docs).unwrap();
    w.commit().unwrap();
}

fn append(dir: &Path, docs: &[Doc], upsert: bool) -> Result<IndexStats, IndexError> {
    let options = AppendOptions {
        upsert,
        memory_budget: 2000,
        ..Default::default()
    };
    let mut w = IndexWriter::append(dir, options)?;
    add_all(&mut w, docs)?;
    w.commit()
}

fn named(prefix: &str, vecs: Vec<Vec<(String, f32)>>) -> Vec<Doc> {
    vecs.into_iter()
        .enumerate()
        .map(|(i, v)| (format!("{prefix}{i}"), v))
        .collect()
}

/// `(id, score)` of every hit of `q`.
fn ranked(index: &Index, q: &[(String, f32)]) -> Vec<(String, f32)> {
    let hits: Vec<Hit> = search(index, &Query::new(borrow(q)), 10_000).unwrap();
    hits.iter()
        .map(|h| (index.doc_id(h.doc).unwrap().to_string(), h.score))
        .collect()
}

/// Compares every query's ranking on `got` and `want`: identical for
/// `f32`; within `tol * sum(|q|)` per document and per rank otherwise.
fn assert_same_results(got: &Index, want: &Index, queries: &[Vec<(String, f32)>], tol: f32) {
    assert_eq!(got.live_docs(), want.live_docs());
    for q in queries {
        let (g, w) = (ranked(got, q), ranked(want, q));
        if tol == 0.0 {
            assert_eq!(g, w, "query {q:?}");
            continue;
        }
        let bound = tol * q.iter().map(|t| t.1.abs()).sum::<f32>() + 1e-5;
        assert_eq!(g.len(), w.len());
        for ((gi, gs), (_, ws)) in g.iter().zip(&w) {
            assert!((gs - ws).abs() <= bound, "rank of {gi}: {gs} vs {ws}");
        }
        let by_id: std::collections::HashMap<_, _> = w.iter().cloned().collect();
        for (id, s) in &g {
            assert!((s - by_id[id]).abs() <= bound, "{id}: {s} vs {}", by_id[id]);
        }
    }
}

fn max_scale(index: &Index) -> f32 {
    let m = index.meta();
    m.segments.iter().map(|s| s.scale).fold(0.0, f32::max)
}

fn scenario(q: Quantization) {
    let mut rng = Rng::new(31);
    let (live, fin) = changed_index(&mut rng, q);
    let index = Index::open(live.path()).unwrap();
    index.verify().unwrap();
    assert_eq!(index.meta().segments.len(), 3);
    assert_eq!(index.meta().format_version, FORMAT_VERSION);

    // The same final documents in live order, built at once.
    let scratch = tempfile::tempdir().unwrap();
    build(scratch.path(), &fin, q);
    let want = Index::open(scratch.path()).unwrap();
    let queries = random_docs(&mut rng, 40, 90);
    let tol = if q == Quantization::F32 {
        0.0
    } else {
        max_scale(&index) + max_scale(&want)
    };
    assert_same_results(&index, &want, &queries, tol);
    for (i, (id, v)) in fin.iter().enumerate() {
        let doc = index.find(id).unwrap().unwrap();
        assert_eq!(index.stored(doc).unwrap().unwrap(), text_of(id));
        let got = index.doc_vector(doc).unwrap();
        assert_eq!(got.len(), v.len(), "{id}");
        assert_eq!(want.doc_id(i as u32).unwrap(), id);
    }
    assert_eq!(
        index.find("a3").unwrap().map(|d| index.doc_id(d).unwrap()),
        Some("a3")
    );
    assert!(index.find("a1").unwrap().is_none());
    drop(index);
    check_compaction(live.path(), &fin, &want, &queries, q);
}

/// An index of 60 documents `a*`, appended 25 `b*` (two of which replace
/// a3 and a7), 3 deleted, appended 15 `c*`; and its final documents in
/// live order.
fn changed_index(rng: &mut Rng, q: Quantization) -> (tempfile::TempDir, Vec<Doc>) {
    let a = named("a", random_docs(rng, 60, 90));
    let mut b = named("b", random_docs(rng, 25, 90));
    // b's last two documents replace a3 and a7 (upsert), with new vectors.
    b[23].0 = "a3".into();
    b[24].0 = "a7".into();
    let c = named("c", random_docs(rng, 15, 90));
    let live = tempfile::tempdir().unwrap();
    build(live.path(), &a, q);
    let err = append(live.path(), &b, false).unwrap_err();
    assert!(
        matches!(&err, IndexError::IdExists { id, origin } if id == "a3" && origin == "in.jsonl:24"),
        "{err}"
    );
    append(live.path(), &b, true).unwrap();
    let out = delete(live.path(), &["a1", "b2", "a10"], &Default::default()).unwrap();
    assert_eq!((out.deleted, out.stats.live_docs), (3, 60 + 25 - 2 - 3));
    let stats = append(live.path(), &c, false).unwrap();
    assert_eq!((stats.live_docs, stats.deleted), (60 + 25 + 15 - 5, 5));
    let gone = ["a1", "a3", "a7", "a10", "b2"];
    let fin: Vec<Doc> = a
        .iter()
        .filter(|d| !gone.contains(&d.0.as_str()))
        .chain(b.iter().filter(|d| d.0 != "b2"))
        .chain(&c)
        .cloned()
        .collect();
    (live, fin)
}

/// Compacting the index in `dir` keeps the live documents in order, with
/// the results of `want`, a fresh build of `fin`, and removes the old
/// segments.
fn check_compaction(
    dir: &Path,
    fin: &[Doc],
    want: &Index,
    queries: &[Vec<(String, f32)>],
    q: Quantization,
) {
    let stats = compact(dir, 3000).unwrap();
    assert_eq!((stats.live_docs, stats.deleted), (fin.len() as u64, 0));
    let compacted = Index::open(dir).unwrap();
    compacted.verify().unwrap();
    assert_eq!(compacted.meta().segments.len(), 1);
    for (i, (id, _)) in fin.iter().enumerate() {
        assert_eq!(compacted.doc_id(i as u32).unwrap(), id);
        assert_eq!(compacted.stored(i as u32).unwrap().unwrap(), text_of(id));
    }
    let tol = if q == Quantization::F32 {
        0.0
    } else {
        2.0 * max_scale(&compacted) + max_scale(want)
    };
    assert_same_results(&compacted, want, queries, tol);
    let names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    // meta.json, the lock file and the four files of one segment.
    assert_eq!(names.len(), 6, "old segments removed: {names:?}");
}

#[test]
fn appends_deletes_and_compaction_equal_a_fresh_build_f32() {
    scenario(Quantization::F32);
}

#[test]
fn appends_deletes_and_compaction_equal_a_fresh_build_u16() {
    scenario(Quantization::U16);
}

#[test]
fn unknown_ids_change_nothing_and_failed_appends_leave_the_index() {
    let mut rng = Rng::new(8);
    let dir = tempfile::tempdir().unwrap();
    build(
        dir.path(),
        &named("d", random_docs(&mut rng, 20, 30)),
        Quantization::U16,
    );
    let meta = fs::read(dir.path().join(META_FILE)).unwrap();
    let err = delete(dir.path(), &["d1", "nope", "d1x"], &Default::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`nope`, `d1x`") && msg.contains("nothing was deleted"),
        "{msg}"
    );
    assert_eq!(fs::read(dir.path().join(META_FILE)).unwrap(), meta);
    let out = delete(dir.path(), &["d1", "nope"], &ignore_missing()).unwrap();
    assert_eq!(
        (out.deleted, out.missing.as_slice()),
        (1, &["nope".to_string()][..])
    );
    // Deleting it again changes nothing; it is no longer live.
    assert!(delete(dir.path(), &["d1"], &Default::default()).is_err());
    let meta = fs::read(dir.path().join(META_FILE)).unwrap();
    // An append dropped before commit (a killed process) leaves the index.
    let mut w = IndexWriter::append(dir.path(), AppendOptions::default()).unwrap();
    add_all(&mut w, &named("n", random_docs(&mut rng, 5, 30))).unwrap();
    drop(w);
    assert_eq!(fs::read(dir.path().join(META_FILE)).unwrap(), meta);
    let index = Index::open(dir.path()).unwrap();
    index.verify().unwrap();
    assert_eq!(index.live_docs(), 19);
    assert!(index.is_deleted(1));
    // Deleted documents are never hits, even for their own terms.
    let d1 = random_docs(&mut Rng::new(8), 20, 30).swap_remove(1);
    assert!(
        search(&index, &Query::new(borrow(&d1)), 100)
            .unwrap()
            .iter()
            .all(|h| h.doc != 1)
    );
}

#[test]
fn damaged_deletes_file_fails_verify_or_open() {
    let dir = tempfile::tempdir().unwrap();
    build(
        dir.path(),
        &named("d", random_docs(&mut Rng::new(3), 70, 30)),
        Quantization::U16,
    );
    delete(dir.path(), &["d0", "d65"], &Default::default()).unwrap();
    let index = Index::open(dir.path()).unwrap();
    let del = index.meta().segments[0].deletes.clone().unwrap();
    assert_eq!(del.count, 2);
    drop(index);
    let path = dir.path().join(&del.file.name);
    let orig = fs::read(&path).unwrap();
    // A flipped bit in the bitmap: the count disagrees, open refuses.
    let mut bytes = orig.clone();
    bytes[20] ^= 0x04;
    fs::write(&path, &bytes).unwrap();
    let err = Index::open(dir.path()).err().unwrap();
    assert!(err.to_string().contains(&del.file.name), "{err}");
    // Two flipped bits that keep the count: only the CRC notices, that of
    // the page, when open reads the bitmap (whole).
    let mut bytes = orig.clone();
    bytes[20] ^= 0x03;
    fs::write(&path, &bytes).unwrap();
    let err = Index::open(dir.path()).err().unwrap().to_string();
    assert!(
        err.contains(&del.file.name) && err.contains("page 0 "),
        "{err}"
    );
}

fn ignore_missing() -> super::DeleteOptions {
    super::DeleteOptions {
        ignore_missing: true,
        ..Default::default()
    }
}
