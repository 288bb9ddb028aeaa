//! The page checks are lazy and complete: file type by file type, a
//! flipped byte in a page that a search reads is refused by that search
//! (the library returns `Err`, `splade search` exits 2, both naming the
//! file), and a flipped byte in a page that no search reads leaves every
//! search answering exactly as before, while `splade verify` still exits 1.
//!
//! Which pages the searches read is measured, not guessed: the same
//! searches run in-process (same encoder, options and k as the command's),
//! and `splade::internal::checked_pages` tells which pages they checked;
//! the test first checks that both give the same hits.

use std::collections::{BTreeMap, BTreeSet};

use splade::internal::{CheckedPages, checked_pages};
use splade::{
    Encoder, EncoderOptions, Index, IndexError, ModelSource, Query, SearchOptions, StoredDoc,
    search_batch_with, search_bm25,
};

use crate::corruption::{FILE_TYPES, build_through_the_binary, file_type};
use crate::fixtures::{run_splade, stderr, stdout};

/// The SPLADE queries (encoded by the tiny model) and BM25 queries.
const SPLADE_QUERIES: [&str; 2] = ["sparse rust search", "the law"];
const BM25_QUERIES: [&str; 2] = ["n12345 n777 t8", "n30001 n2"];
const K: usize = 10;

/// Hits as the command shows them: query, id, score, stored document.
type Shown = Vec<(String, String, f32, Option<StoredDoc>)>;

/// The files of the lexical side, which BM25 searches read.
fn is_lexical(ext: &str) -> bool {
    ext.starts_with("lx")
}

/// What `splade search --mode M --show -k K` computes, in-process.
fn run(index: &Index, encoder: &Encoder, bm25: bool) -> Result<Shown, IndexError> {
    let (texts, hits) = if bm25 {
        let hits: Result<Vec<_>, _> = BM25_QUERIES
            .iter()
            .map(|q| search_bm25(index, q, K))
            .collect();
        (BM25_QUERIES, hits?)
    } else {
        let queries: Vec<Query> = SPLADE_QUERIES
            .iter()
            .map(|q| encoder.query(q).unwrap())
            .collect();
        let options = SearchOptions::default();
        (
            SPLADE_QUERIES,
            search_batch_with(index, &queries, K, &options)?,
        )
    };
    let mut shown = Vec::new();
    for (i, hits) in hits.iter().enumerate() {
        for h in hits {
            let id = index.doc_id(h.doc)?.to_owned();
            shown.push((texts[i].to_owned(), id, h.score, index.stored(h.doc)?));
        }
    }
    Ok(shown)
}

/// The command's JSONL output as (id, score) pairs.
fn cli_hits(out: &str) -> Vec<(String, f32)> {
    out.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let score = v["score"].as_f64().unwrap() as f32;
            (v["id"].as_str().unwrap().to_owned(), score)
        })
        .collect()
}

/// The pages of each file checked by opening and by a search.
fn pages(index: &Index) -> BTreeMap<String, CheckedPages> {
    checked_pages(index)
        .into_iter()
        .map(|p| (p.file.clone(), p))
        .collect()
}

#[test]
fn damage_is_refused_where_searches_read_and_spared_where_they_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = build_through_the_binary(dir, 4000);
    let idx = dir.join("idx");
    let encoder = Encoder::load(
        &ModelSource::Local(model.clone().into()),
        &EncoderOptions::default(),
    )
    .unwrap();
    std::fs::write(
        dir.join("s.tsv"),
        SPLADE_QUERIES.map(|q| format!("s\t{q}\n")).concat(),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.tsv"),
        BM25_QUERIES.map(|q| format!("b\t{q}\n")).concat(),
    )
    .unwrap();
    let k = K.to_string();
    let search = |bm25: bool| {
        let (mode, queries) = if bm25 {
            ("bm25", "b.tsv")
        } else {
            ("splade", "s.tsv")
        };
        let args = [
            "search",
            "--queries",
            queries,
            "--index",
            "idx",
            "--model",
            &model,
            "--mode",
            mode,
            "--show",
            "--format",
            "jsonl",
            "-k",
            &k,
        ];
        run_splade(dir, &args, b"")
    };
    let intact = [false, true].map(|bm25| {
        let out = search(bm25);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    });

    // In-process, the same searches give the same hits, and say which
    // pages they read.
    let (opened, read) = {
        let index = Index::open(&idx).unwrap();
        let opened = pages(&index);
        let read = [false, true].map(|bm25| {
            let index = Index::open(&idx).unwrap();
            let shown = run(&index, &encoder, bm25).unwrap();
            let hits: Vec<(String, f32)> = shown.iter().map(|s| (s.1.clone(), s.2)).collect();
            assert_eq!(hits, cli_hits(&intact[bm25 as usize]), "bm25: {bm25}");
            assert!(!hits.is_empty());
            pages(&index)
        });
        (opened, read)
    };
    let intact_lib =
        [false, true].map(|bm25| run(&Index::open(&idx).unwrap(), &encoder, bm25).unwrap());

    let mut tried = BTreeSet::new();
    for (name, p) in &opened {
        let ext = file_type(name);
        if ext == "del" {
            continue;
        }
        let bm25 = is_lexical(ext);
        let at_open: BTreeSet<usize> = p.checked.iter().copied().collect();
        let by = |side: &[BTreeMap<String, CheckedPages>]| -> BTreeSet<usize> {
            side.iter()
                .flat_map(|r| r[name].checked.iter().copied())
                .collect()
        };
        let read_here = by(&read[bm25 as usize..=bm25 as usize]);
        let read_any = by(&read);
        let fresh: Vec<usize> = read_here.difference(&at_open).copied().collect();
        let unread: Vec<usize> = (0..p.pages).filter(|q| !read_any.contains(q)).collect();
        if fresh.is_empty() || unread.is_empty() {
            continue;
        }
        tried.insert(ext.to_owned());
        let path = idx.join(name);
        let bytes = std::fs::read(&path).unwrap();

        // A page the search reads: refused by it, naming the file.
        let page = fresh[fresh.len() / 2];
        let mut bad = bytes.clone();
        bad[page * p.page_size] ^= 0x20;
        std::fs::write(&path, &bad).unwrap();
        let out = search(bm25);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name} page {page}: {err}");
        assert!(
            err.starts_with("splade: ") && err.contains(name.as_str()),
            "{err}"
        );
        let index = Index::open(&idx).unwrap();
        let lib = run(&index, &encoder, bm25).unwrap_err().to_string();
        assert!(lib.contains(name.as_str()) && lib.contains("page"), "{lib}");

        // A page no search reads: every search answers as before; verify
        // still finds the damage.
        let page = unread[unread.len() / 2];
        let mut bad = bytes.clone();
        bad[page * p.page_size] ^= 0x20;
        std::fs::write(&path, &bad).unwrap();
        for side in [false, true] {
            let out = search(side);
            assert!(out.status.success(), "{name} page {page}: {}", stderr(&out));
            assert_eq!(stdout(&out), intact[side as usize], "{name} page {page}");
            let index = Index::open(&idx).unwrap();
            let lib = run(&index, &encoder, side).unwrap();
            assert_eq!(lib, intact_lib[side as usize], "{name} page {page}");
        }
        let out = run_splade(dir, &["verify", "--index", "idx"], b"");
        assert_eq!(out.status.code(), Some(1), "{name} page {page}");
        assert!(stderr(&out).contains(name.as_str()), "{}", stderr(&out));
        std::fs::write(&path, &bytes).unwrap();
    }
    let want: BTreeSet<String> = FILE_TYPES
        .iter()
        .filter(|t| **t != "del")
        .map(|t| t.to_string())
        .collect();
    assert_eq!(tried, want, "file types with read and unread pages");

    // The deletes bitmap is read whole when the index opens: any damage to
    // it is refused by every search.
    let del = opened
        .keys()
        .find(|n| file_type(n) == "del" && opened[*n].pages > 1)
        .expect("a deletes bitmap of several pages");
    let path = idx.join(del);
    let bytes = std::fs::read(&path).unwrap();
    let mut bad = bytes.clone();
    bad[opened[del].page_size] ^= 1; // page 1, past the header
    std::fs::write(&path, &bad).unwrap();
    for side in [false, true] {
        let out = search(side);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(del.as_str()), "{}", stderr(&out));
    }
    assert!(
        Index::open(&idx)
            .err()
            .unwrap()
            .to_string()
            .contains(del.as_str())
    );
    std::fs::write(&path, &bytes).unwrap();
}
