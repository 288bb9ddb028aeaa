//! Search against the brute-force float reference, for every quantization.

use super::*;
use crate::index::testutil::{Rng, borrow, build, open_built, random_docs, random_vector};
use crate::index::{Quantization, WriterOptions};

fn query(terms: &[(&str, f32)]) -> Query {
    Query::new(terms.iter().copied())
}

/// Exact `f64` score of one document for a query.
fn exact(doc: &[(String, f32)], query: &[(&str, f32)]) -> f64 {
    doc.iter()
        .map(|(t, w)| {
            query
                .iter()
                .filter(|(q, _)| q == t)
                .map(|(_, qw)| *qw as f64 * *w as f64)
                .sum::<f64>()
        })
        .sum()
}

/// Checks that `got` is a correct top-k up to `tol`: each hit's score is its
/// exact score within `tol`, and position by position the exact scores of
/// `got` and of the exact ranking differ by at most `2 * tol`.
fn assert_equivalent(
    docs: &[Vec<(String, f32)>],
    query: &[(&str, f32)],
    got: &[Hit],
    want: &[Hit],
    tol: f64,
) -> usize {
    assert_eq!(got.len(), want.len(), "hit counts differ");
    let mut same = 0;
    for (g, w) in got.iter().zip(want) {
        let eg = exact(&docs[g.doc as usize], query);
        assert!((g.score as f64 - eg).abs() <= tol, "{g:?} exact {eg}");
        let ew = exact(&docs[w.doc as usize], query);
        assert!(
            (eg - ew).abs() <= 2.0 * tol,
            "{g:?} vs {w:?} ({eg} vs {ew})"
        );
        same += (g.doc == w.doc) as usize;
    }
    same
}

fn check_scheme(scheme: Quantization, seed: u64) -> (usize, usize) {
    let mut rng = Rng::new(seed);
    let docs = random_docs(&mut rng, 700, 400);
    let (_dir, index) = open_built(&docs, scheme);
    let max_w = docs.iter().flatten().map(|p| p.1).fold(0.0f32, f32::max) as f64;
    let step = match scheme {
        Quantization::U16 => max_w / 65535.0,
        Quantization::U8 => max_w / 255.0,
        Quantization::F32 => 0.0,
    };
    let (mut same, mut total) = (0, 0);
    for _ in 0..40 {
        let nnz = 1 + rng.below(40) as usize;
        let q = random_vector(&mut rng, 450, nnz);
        let q = borrow(&q);
        let sum_q: f64 = q.iter().map(|p| p.1 as f64).sum();
        // Rounding: half a step per weight, plus f32 accumulation.
        let tol = sum_q * step / 2.0 + 1e-4 * (1.0 + sum_q);
        let got = search(&index, &query(&q), 10).unwrap();
        let want = brute_force(&docs, &q, 10);
        same += assert_equivalent(&docs, &q, &got, &want, tol);
        total += want.len();
    }
    eprintln!("{scheme}: {same}/{total} top-10 positions identical to exact float");
    (same, total)
}

#[test]
fn f32_matches_brute_force() {
    let (same, total) = check_scheme(Quantization::F32, 1);
    assert_eq!(same, total);
}

#[test]
fn u16_matches_float_ranking() {
    let (same, total) = check_scheme(Quantization::U16, 2);
    // Differences only where exact scores are within the bound.
    assert!(same * 100 >= total * 99, "{same}/{total}");
}

#[test]
fn u8_is_close_to_float_ranking() {
    let (same, total) = check_scheme(Quantization::U8, 3);
    assert!(same * 10 >= total * 8, "{same}/{total}");
}

#[test]
fn ties_break_by_lower_ordinal_and_only_positive_scores() {
    let docs: Vec<Vec<(String, f32)>> = vec![
        vec![("b".into(), 1.0)],
        vec![("a".into(), 2.0)],
        vec![("a".into(), 2.0)],
        vec![("c".into(), 5.0)],
        vec![("a".into(), 1.0), ("b".into(), 1.0)],
    ];
    let q = [("a", 1.0), ("b", 1.0)];
    let want = vec![
        Hit { doc: 1, score: 2.0 },
        Hit { doc: 2, score: 2.0 },
        Hit { doc: 4, score: 2.0 },
        Hit { doc: 0, score: 1.0 },
    ];
    assert_eq!(brute_force(&docs, &q, 10), want);
    assert_eq!(brute_force(&docs, &q, 2), want[..2].to_vec());
    assert!(brute_force(&docs, &q, 0).is_empty());
    let dir = tempfile::tempdir().unwrap();
    let opts = WriterOptions {
        quantization: Quantization::F32,
        ..WriterOptions::default()
    };
    build(dir.path(), &docs, opts);
    let index = Index::open(dir.path()).unwrap();
    assert_eq!(search(&index, &query(&q), 10).unwrap(), want);
    assert_eq!(search(&index, &query(&q), 3).unwrap(), want[..3].to_vec());
    assert!(
        search(&index, &query(&[("zzz", 1.0)]), 10)
            .unwrap()
            .is_empty()
    );
    assert!(search(&index, &Query::default(), 10).unwrap().is_empty());
}

#[test]
fn batch_equals_sequential() {
    let mut rng = Rng::new(9);
    let docs = random_docs(&mut rng, 300, 200);
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &docs, WriterOptions::default());
    let index = Index::open(dir.path()).unwrap();
    let queries: Vec<Query> = (0..25)
        .map(|_| Query::new(random_vector(&mut rng, 200, 20)))
        .collect();
    let batch = search_batch(&index, &queries, 7).unwrap();
    for (q, hits) in queries.iter().zip(&batch) {
        assert_eq!(&search(&index, q, 7).unwrap(), hits);
    }
}
