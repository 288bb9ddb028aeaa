//! Pruned search must return exactly what exhaustive search returns: the
//! same documents in the same order with bit-identical scores, ties
//! included, for every quantization, across segments and deletes.

use super::*;
use crate::index::testutil::{Rng, borrow, build, open_built, random_vector};
use crate::index::{Quantization, WriterOptions};

const EXHAUSTIVE: SearchOptions = SearchOptions {
    strategy: Strategy::Exhaustive,
    approx: 1.0,
};
const PRUNED: SearchOptions = SearchOptions {
    strategy: Strategy::Pruned,
    approx: 1.0,
};

/// Documents with many exact ties: weights from a small set of values, and
/// some documents repeated verbatim.
fn tied_docs(rng: &mut Rng, n: usize, vocab: u32) -> Vec<Vec<(String, f32)>> {
    let mut docs: Vec<Vec<(String, f32)>> = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 && rng.below(8) == 0 {
            let j = rng.below(i as u32) as usize;
            docs.push(docs[j].clone());
            continue;
        }
        let nnz = 1 + rng.below(40) as usize;
        let mut v = random_vector(rng, vocab, nnz);
        if rng.below(2) == 0 {
            for p in &mut v {
                p.1 = [0.5, 1.0, 2.0][rng.below(3) as usize];
            }
        }
        docs.push(v);
    }
    docs
}

fn assert_same(index: &Index, rng: &mut Rng, vocab: u32, queries: usize) {
    let mut exhaustive = Searcher::new(index, EXHAUSTIVE);
    let mut pruned = Searcher::new(index, PRUNED);
    for i in 0..queries {
        let nnz = 1 + rng.below(30) as usize;
        let mut q = random_vector(rng, vocab, nnz);
        if i % 3 == 0 {
            for p in &mut q {
                p.1 = [0.5, 1.0][rng.below(2) as usize];
            }
        }
        let q = borrow(&q);
        let k = [1, 3, 10, 50, 1000][i % 5];
        let want = exhaustive.search(&q, k);
        let got = pruned.search(&q, k);
        let bits = |h: &[Hit]| {
            h.iter()
                .map(|h| (h.doc, h.score.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&got), bits(&want), "query {i} k {k}: {q:?}");
    }
    assert_eq!(pruned.stats().queries, queries as u64);
}

#[test]
fn pruned_equals_exhaustive_for_every_quantization() {
    for (seed, scheme) in [
        (21, Quantization::U16),
        (22, Quantization::U8),
        (23, Quantization::F32),
    ] {
        let mut rng = Rng::new(seed);
        let docs = tied_docs(&mut rng, 3000, 300);
        let (_dir, index) = open_built(&docs, scheme);
        assert_same(&index, &mut rng, 330, 150);
    }
}

#[test]
fn pruned_equals_exhaustive_across_segments_and_deletes() {
    let mut rng = Rng::new(31);
    let dir = tempfile::tempdir().unwrap();
    let docs = tied_docs(&mut rng, 1500, 200);
    build(dir.path(), &docs, WriterOptions::default());
    for part in 0..2 {
        let mut w = crate::index::IndexWriter::append(dir.path(), Default::default()).unwrap();
        for (i, d) in tied_docs(&mut rng, 700, 200).iter().enumerate() {
            w.add(&format!("a{part}-{i}"), &borrow(d), None, "x")
                .unwrap();
        }
        w.commit().unwrap();
    }
    let ids: Vec<String> = (0..1500).step_by(3).map(|i| format!("d{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    crate::index::delete(dir.path(), &refs, false).unwrap();
    let index = Index::open(dir.path()).unwrap();
    assert_eq!(index.segments.len(), 3);
    assert!(!index.deleted_docs().is_empty());
    assert_same(&index, &mut rng, 220, 150);
}

#[test]
fn negative_weights_and_edge_cases_fall_back_or_agree() {
    let mut rng = Rng::new(41);
    let docs = tied_docs(&mut rng, 500, 50);
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &docs, WriterOptions::default());
    let index = Index::open(dir.path()).unwrap();
    for q in [
        vec![("t1", -1.0), ("t2", 1.0)],
        vec![("t3", 0.0), ("t4", f32::NAN), ("t4", 1.0)],
        vec![("t5", 1.0), ("t5", 2.0)],
        vec![("absent", 1.0)],
        vec![],
    ] {
        for k in [0, 1, 10] {
            assert_eq!(
                search_with(&index, &q, k, &PRUNED),
                search_with(&index, &q, k, &EXHAUSTIVE),
                "{q:?} k {k}"
            );
        }
    }
}

#[test]
fn approximate_mode_is_a_subset_with_exact_scores() {
    let mut rng = Rng::new(51);
    let docs: Vec<_> = (0..4000)
        .map(|_| {
            let nnz = 20 + rng.below(60) as usize;
            random_vector(&mut rng, 2000, nnz)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &docs, WriterOptions::default());
    let index = Index::open(dir.path()).unwrap();
    let approx = SearchOptions {
        strategy: Strategy::Pruned,
        approx: 0.7,
    };
    let (mut found, mut total) = (0, 0);
    for _ in 0..40 {
        let q = random_vector(&mut rng, 2000, 20);
        let q = borrow(&q);
        let want = search_with(&index, &q, 10, &EXHAUSTIVE);
        let got = search_with(&index, &q, 10, &approx);
        for h in &got {
            // Every returned score is the document's exact score.
            let exact = search_with(&index, &q, 4000, &EXHAUSTIVE);
            assert!(exact.contains(h), "{h:?}");
        }
        found += got.iter().filter(|h| want.contains(h)).count();
        total += want.len();
    }
    assert!(found * 10 >= total * 5, "recall {found}/{total}");
}
