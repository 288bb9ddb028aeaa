//! Indexes written by older formats stay readable: the committed
//! `tests/fixtures/index-v2`, `index-v3`, `index-v3-bmx`, `index-v4` and
//! `index-v5` (each with a SOURCE.md naming the commit and commands that
//! wrote it) open, verify and answer exactly what their documents' vectors
//! say; their files, which have no page checksums (format 6 added them),
//! are each checked whole when a query first reads them. (The version-1
//! fixture is opened by `cli_segments.rs`.)

use std::path::{Path, PathBuf};

use splade::{Index, StoredDoc};
use splade::{SearchOptions, Searcher, Strategy, search, search_bm25, search_with};

use crate::fixtures::{meta_json, ok, query, run_splade, stderr, stdout};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A copy of fixture index `name` (its `meta.json` and `seg-*` files) in a
/// temp dir, as `idx`: tests never touch the committed files.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    std::fs::create_dir(&idx).unwrap();
    for e in std::fs::read_dir(fixtures().join(name)).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().into_string().unwrap();
        if n == "meta.json" || n.starts_with("seg-") {
            std::fs::copy(e.path(), idx.join(&n)).unwrap();
        }
    }
    tmp
}

/// `splade info --json` and `splade verify` on the copy: the format
/// version, live and deleted documents, and segments it reports.
fn info_and_verify(dir: &Path) -> (u64, u64, u64, u64) {
    let info: serde_json::Value =
        serde_json::from_str(&ok(dir, &["info", "--index", "idx", "--json"])).unwrap();
    ok(dir, &["verify", "--index", "idx"]);
    let n = |k: &str| info[k].as_u64().unwrap_or_else(|| panic!("{k}: {info}"));
    (n("format_version"), n("docs"), n("deleted"), n("segments"))
}

/// The extensions of the files each segment of `index` lists, deletes
/// included, e.g. `["del", "doc", "pst", "sto", "ter"]`.
fn file_types(index: &Index) -> Vec<Vec<String>> {
    let json = meta_json(index.dir());
    json["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut names: Vec<&str> = s["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap())
                .collect();
            if let Some(d) = s.get("deletes") {
                names.push(d["file"]["name"].as_str().unwrap());
            }
            let mut ext: Vec<String> = names
                .iter()
                .map(|n| n.rsplit('.').next().unwrap().to_owned())
                .collect();
            ext.sort();
            ext
        })
        .collect()
}

/// Documents in index order: id, vector, stored title and text.
type Doc = (String, Vec<(String, f32)>, StoredDoc);

/// The documents of `index-v2` and `index-v3`: `segments-a.jsonl` then
/// `segments-b.jsonl`, with their vectors from `segments-vectors.jsonl`.
fn segment_docs() -> Vec<Doc> {
    let read = |name: &str| std::fs::read_to_string(fixtures().join(name)).unwrap();
    let texts = read("segments-a.jsonl") + &read("segments-b.jsonl");
    let vectors = read("segments-vectors.jsonl");
    texts
        .lines()
        .zip(vectors.lines())
        .map(|(t, v)| {
            let t: serde_json::Value = serde_json::from_str(t).unwrap();
            let v: serde_json::Value = serde_json::from_str(v).unwrap();
            assert_eq!(t["id"], v["id"]);
            let vector = v["vector"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, w)| (k.clone(), w.as_f64().unwrap() as f32))
                .collect();
            let stored = StoredDoc {
                title: t["title"].as_str().map(str::to_owned),
                text: t["text"].as_str().unwrap().to_owned(),
            };
            (t["id"].as_str().unwrap().to_owned(), vector, stored)
        })
        .collect()
}

/// The top `k` of the live documents by dot product with `query`
/// (ties by index order): ids and scores.
fn expected(docs: &[Doc], deleted: &[&str], query: &[(&str, f32)], k: usize) -> Vec<(String, f64)> {
    let mut scored: Vec<(usize, f64)> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| !deleted.contains(&d.0.as_str()))
        .map(|(i, d)| {
            let s = query
                .iter()
                .map(|(t, q)| {
                    let w = d.1.iter().find(|(u, _)| u == t).map_or(0.0, |x| x.1);
                    f64::from(*q) * f64::from(w)
                })
                .sum();
            (i, s)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
        .into_iter()
        .map(|(i, s)| (docs[i].0.clone(), s))
        .collect()
}

/// Opens the copy of `index-v2` or `index-v3`, checks the version, the
/// file types, stored texts and searches against the vectors; then a
/// compaction of the copy into the current format answers the same.
fn check_segments_fixture(name: &str, version: u64) {
    let tmp = copy_fixture(name);
    let dir = tmp.path();
    assert_eq!(info_and_verify(dir), (version, 8, 2, 2));
    let docs = segment_docs();
    let deleted = ["c3", "c10"];
    let queries: [&[(&str, f32)]; 5] = [
        &[("flow", 1.0), ("plate", 1.0)],
        &[("pressure", 1.0), ("wing", 1.0)],
        &[("shock", 1.0), ("boundary", 0.5)],
        &[("under", 1.0)],
        &[("flutter", 1.0), ("buck", 1.0)],
    ];
    let answers = |index: &Index| -> Vec<Vec<(String, f32)>> {
        queries
            .iter()
            .map(|q| {
                search(index, &query(q), 10)
                    .unwrap()
                    .iter()
                    .map(|h| (index.doc_id(h.doc).unwrap().to_owned(), h.score))
                    .collect()
            })
            .collect()
    };
    let index = Index::open(&dir.join("idx")).unwrap();
    assert_eq!(meta_json(index.dir())["format_version"], version);
    let mut types = vec!["del", "doc", "pst", "sto", "ter"];
    if version >= 5 {
        types.extend(["lxd", "lxp", "lxt"]);
        types.sort();
    }
    let types: Vec<String> = types.into_iter().map(String::from).collect();
    assert_eq!(file_types(&index), [types.clone(), types]);
    let got = answers(&index);
    for (q, got) in queries.iter().zip(&got) {
        let want = expected(&docs, &deleted, q, 10);
        let ids: Vec<&str> = got.iter().map(|h| h.0.as_str()).collect();
        let want_ids: Vec<&str> = want.iter().map(|h| h.0.as_str()).collect();
        assert_eq!(ids, want_ids, "{name} {q:?}");
        for ((id, g), (_, w)) in got.iter().zip(&want) {
            // u16 codes: each weight within half a step (max weight / 65535).
            assert!(
                (f64::from(*g) - w).abs() < 1e-4,
                "{name} {q:?} {id}: {g} vs {w}"
            );
        }
    }
    // Only the deleted documents have `flutter` or `buck`.
    assert!(got[..4].iter().all(|g| !g.is_empty()) && got[4].is_empty());
    // The deleted documents are marked, the others keep their texts.
    for d in 0..index.num_docs() {
        let (id, _, stored) = &docs[d as usize];
        assert_eq!(index.doc_id(d).unwrap(), id);
        assert_eq!(index.is_deleted(d), deleted.contains(&id.as_str()), "{id}");
        if !index.is_deleted(d) {
            assert_eq!(index.stored(d).unwrap().as_ref(), Some(stored), "{id}");
        }
    }
    drop(index);
    ok(dir, &["compact", "--index", "idx", "-q"]);
    ok(dir, &["verify", "--index", "idx"]);
    let compacted = Index::open(&dir.join("idx")).unwrap();
    assert_eq!(
        meta_json(compacted.dir())["format_version"],
        splade::FORMAT_VERSION
    );
    assert_eq!((compacted.num_docs(), compacted.live_docs()), (8, 8));
    let again = answers(&compacted);
    for (a, b) in got.iter().zip(&again) {
        let ids = |v: &[(String, f32)]| v.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
        assert_eq!(ids(a), ids(b));
        for (x, y) in a.iter().zip(b) {
            assert!((x.1 - y.1).abs() < 1e-4, "{x:?} vs {y:?}");
        }
    }
}

#[test]
fn version_2_index_with_segments_deletes_and_stored_texts_reads() {
    check_segments_fixture("index-v2", 2);
}

#[test]
fn version_3_index_with_segments_deletes_and_stored_texts_reads() {
    check_segments_fixture("index-v3", 3);
}

#[test]
fn version_4_index_with_segments_deletes_and_stored_texts_reads() {
    check_segments_fixture("index-v4", 4);
}

#[test]
fn version_5_index_with_segments_deletes_stored_texts_and_bm25_reads() {
    check_segments_fixture("index-v5", 5);
    let tmp = copy_fixture("index-v5");
    let index = Index::open(&tmp.path().join("idx")).unwrap();
    let hits = search_bm25(&index, "flow plate", 10).unwrap();
    assert!(!hits.is_empty());
}

/// Files of format 5 have no page table: each is checked whole, by its
/// CRC32, the first time a query reads it. Opening reads none but the
/// deletes bitmaps (read whole at open); a damaged `.pst` is refused by
/// SPLADE searches, naming it, while BM25 searches, which do not read it,
/// answer as before; a damaged `.lxp` the other way round; `verify`
/// refuses both.
#[test]
fn a_damaged_version_5_file_is_refused_when_a_query_reads_it() {
    let tmp = copy_fixture("index-v5");
    let dir = tmp.path();
    let idx = dir.join("idx");
    let q = query(&[("flow", 1.0), ("plate", 1.0), ("pressure", 1.0)]);
    let text = "flow plate pressure";
    let (splade_hits, bm25_hits) = {
        let index = Index::open(&idx).unwrap();
        for p in splade::internal::checked_pages(&index) {
            let whole = p.file.ends_with(".del");
            assert_eq!(p.checked, if whole { vec![0] } else { vec![] }, "{p:?}");
        }
        let hits = (
            search(&index, &q, 10).unwrap(),
            search_bm25(&index, text, 10).unwrap(),
        );
        assert!(!hits.0.is_empty() && !hits.1.is_empty());
        hits
    };
    let bm25_cli = ok(dir, &["search", text, "--index", "idx", "--mode", "bm25"]);
    for ext in ["pst", "lxp"] {
        let names = ["seg-000001", "seg-000002"].map(|s| format!("{s}.{ext}"));
        let originals = names.clone().map(|n| std::fs::read(idx.join(&n)).unwrap());
        for (name, bytes) in names.iter().zip(&originals) {
            let mut bad = bytes.clone();
            bad[bytes.len() / 2] ^= 0x08;
            std::fs::write(idx.join(name), bad).unwrap();
        }
        // Each side on an index of its own: damage found by one search
        // fails every later search of the same `Index`.
        let open = || Index::open(&idx).unwrap();
        let (splade_side, bm25_side) = (search(&open(), &q, 10), search_bm25(&open(), text, 10));
        let (refused, answered) = if ext == "pst" {
            (
                splade_side.map(|_| ()),
                bm25_side.map(|h| assert_eq!(h, bm25_hits)),
            )
        } else {
            (
                bm25_side.map(|_| ()),
                splade_side.map(|h| assert_eq!(h, splade_hits)),
            )
        };
        answered.unwrap();
        let err = refused.unwrap_err().to_string();
        assert!(
            err.contains(&format!(".{ext}")) && err.contains("CRC32"),
            "{err}"
        );
        let out = run_splade(
            dir,
            &["search", text, "--index", "idx", "--mode", "bm25"],
            b"",
        );
        if ext == "pst" {
            assert!(out.status.success(), "{}", stderr(&out));
            assert_eq!(stdout(&out), bm25_cli);
        } else {
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert!(
                stderr(&out).contains(&format!(".{ext}")),
                "{}",
                stderr(&out)
            );
        }
        let out = run_splade(dir, &["verify", "--index", "idx"], b"");
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        for (name, bytes) in names.iter().zip(&originals) {
            std::fs::write(idx.join(name), bytes).unwrap();
        }
    }
    ok(dir, &["verify", "--index", "idx"]);
}

/// The vectors of `index-v3-bmx` (the script in its SOURCE.md): 50,000
/// documents, then 100 appended; ids, in index order.
fn bmx_docs() -> Vec<(String, Vec<(String, f32)>)> {
    let first = (0..50_000u32).map(|i| {
        let mut v = vec![(format!("common{}", i % 4), 1.0 + (i * 7 % 64) as f32 / 64.0)];
        if i % 3 == 0 {
            v.push((format!("topic{}", i / 3 % 5), 0.5 + (i % 32) as f32 / 64.0));
        }
        if i % 997 == 0 {
            v.push(("rare".into(), 1.0 + (i / 997 % 64) as f32 / 64.0));
        }
        (i.to_string(), v)
    });
    let second = (0..100u32).map(|j| {
        let mut v = vec![(format!("common{}", j % 4), 1.0 + (j * 5 % 64) as f32 / 64.0)];
        if j % 10 == 0 {
            v.push(("rare".into(), 2.0 + j as f32 / 64.0));
        }
        (format!("x{j}"), v)
    });
    first.chain(second).collect()
}

/// The 50,000-document segment has its range maxima on disk but no
/// forward postings (format 7): default searches stay exhaustive (building
/// them would cost every process), a pruned search builds them in memory,
/// and both answer exactly (scores are sums of multiples of 1/64, exact in
/// `f32`) what the vectors say, as exhaustive scoring does.
#[test]
fn version_3_index_with_range_maxima_reads_and_prunes() {
    let tmp = copy_fixture("index-v3-bmx");
    let dir = tmp.path();
    assert_eq!(info_and_verify(dir), (3, 50_097, 3, 2));
    let index = Index::open(&dir.join("idx")).unwrap();
    assert_eq!(meta_json(index.dir())["format_version"], 3);
    assert_eq!(
        file_types(&index),
        [
            vec!["bmx", "del", "doc", "pst", "ter"],
            vec!["del", "doc", "pst", "ter"]
        ]
    );
    assert!(!SearchOptions::default().prunes(&index));
    let pruned = SearchOptions {
        strategy: Strategy::Pruned,
        ..SearchOptions::default()
    };
    let docs: Vec<Doc> = bmx_docs()
        .into_iter()
        .map(|(id, v)| (id, v, StoredDoc::default()))
        .collect();
    let deleted = ["0", "997", "x10"];
    let queries: [&[(&str, f32)]; 5] = [
        &[("rare", 1.0)],
        &[("rare", 1.0), ("common1", 0.5)],
        &[("topic2", 1.0), ("common3", 1.0)],
        &[("common0", 1.0)],
        &[("topic4", 0.25), ("rare", 2.0), ("common2", 1.0)],
    ];
    let mut searcher = Searcher::new(&index, pruned);
    for q in queries {
        for k in [1, 10, 60] {
            let want: Vec<(String, f32)> = expected(&docs, &deleted, q, k)
                .into_iter()
                .map(|(id, s)| (id, s as f32))
                .collect();
            let got: Vec<(String, f32)> = searcher
                .search(&query(q), k)
                .unwrap()
                .iter()
                .map(|h| (index.doc_id(h.doc).unwrap().to_owned(), h.score))
                .collect();
            assert_eq!(got, want, "{q:?} k={k}");
            let exhaustive = SearchOptions {
                strategy: Strategy::Exhaustive,
                ..SearchOptions::default()
            };
            assert_eq!(
                search_with(&index, &query(q), k, &exhaustive).unwrap(),
                searcher.search(&query(q), k).unwrap()
            );
        }
    }
    let stats = searcher.stats();
    assert!(
        stats.queries > 0 && stats.scored < stats.ranges,
        "{stats:?}"
    );
}
