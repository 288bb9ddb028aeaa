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

/// Pruned search (as it runs, never falling back, and always falling back
/// to the filtered pass) returns exactly the exhaustive results for
/// `queries` random queries.
fn assert_same(index: &Index, rng: &mut Rng, vocab: u32, queries: usize) {
    let mut exhaustive = Searcher::new(index, EXHAUSTIVE);
    let mut pruned = Searcher::new(index, PRUNED);
    let mut forced = Searcher::new(index, PRUNED);
    let mut filtered = Searcher::new(index, PRUNED);
    for i in 0..queries {
        let nnz = 1 + rng.below(30) as usize;
        let mut q = random_vector(rng, vocab, nnz);
        if i % 3 == 0 {
            for p in &mut q {
                p.1 = [0.5, 1.0][rng.below(2) as usize];
            }
        }
        let q = Query::new(borrow(&q));
        let k = [1, 3, 10, 50, 1000][i % 5];
        let want = exhaustive.search(&q, k).unwrap();
        let got = pruned.search(&q, k).unwrap();
        let bits = |h: &[Hit]| {
            h.iter()
                .map(|h| (h.doc, h.score.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&got), bits(&want), "query {i} k {k}: {q:?}");
        for (forced_to, searcher, what) in [
            (false, &mut forced, "no fallback"),
            (true, &mut filtered, "filtered pass"),
        ] {
            pruned::FALLBACK.with(|c| c.set(Some(forced_to)));
            let got = searcher.search(&q, k).unwrap();
            pruned::FALLBACK.with(|c| c.set(None));
            assert_eq!(bits(&got), bits(&want), "{what}, query {i} k {k}: {q:?}");
        }
    }
    assert_eq!(pruned.stats().queries, queries as u64);
    let filtered = filtered.stats();
    assert!(filtered.fallbacks > 0, "{filtered:?}");
    let forced = forced.stats();
    assert_eq!(forced.fallbacks, 0);
    assert!(
        forced.scored > 0 && forced.scored < forced.ranges,
        "{forced:?}"
    );
}

#[test]
fn pruned_equals_exhaustive_for_every_quantization() {
    // Through `.bmx` files (small segments otherwise build tables in memory).
    crate::index::ALWAYS_STORE.with(|c| c.set(true));
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

/// A dictionary of more than 65,536 terms gets 4-byte term numbers in its
/// forward postings; pruning stays exact through them.
#[test]
fn pruned_equals_exhaustive_with_a_wide_dictionary() {
    crate::index::ALWAYS_STORE.with(|c| c.set(true));
    let mut rng = Rng::new(24);
    let docs: Vec<_> = (0..5000)
        .map(|_| random_vector(&mut rng, 400_000, 30))
        .collect();
    let (_dir, index) = open_built(&docs, Quantization::U16);
    assert!(index.segments[0].terms.len() > 1 << 16);
    assert_same(&index, &mut rng, 400_000, 60);
}

/// A token given twice adds twice, term after term, in exhaustive
/// scoring; forward postings hold it once, so such a query is answered
/// exhaustively, with the same hits.
#[test]
fn a_query_repeating_a_token_is_scored_exhaustively() {
    crate::index::ALWAYS_STORE.with(|c| c.set(true));
    let mut rng = Rng::new(25);
    let docs = tied_docs(&mut rng, 2000, 100);
    let (_dir, index) = open_built(&docs, Quantization::U16);
    let q = Query::new(borrow(&[
        ("t3".to_string(), 0.7),
        ("t2".to_string(), 1.1),
        ("t3".to_string(), 0.3),
    ]));
    let mut pruned = Searcher::new(&index, PRUNED);
    let want = Searcher::new(&index, EXHAUSTIVE).search(&q, 10).unwrap();
    assert!(!want.is_empty());
    assert_eq!(pruned.search(&q, 10).unwrap(), want);
    assert_eq!(pruned.stats().queries, 0, "not pruned");
}

#[test]
fn pruned_equals_exhaustive_across_segments_and_deletes() {
    crate::index::ALWAYS_STORE.with(|c| c.set(true));
    let mut rng = Rng::new(31);
    let dir = tempfile::tempdir().unwrap();
    let docs = tied_docs(&mut rng, 1500, 200);
    build(dir.path(), &docs, WriterOptions::default());
    for part in 0..2 {
        let mut w = crate::index::IndexWriter::append(dir.path(), Default::default()).unwrap();
        for (i, d) in tied_docs(&mut rng, 700, 200).iter().enumerate() {
            w.add_from(&format!("a{part}-{i}"), &borrow(d), None, "x")
                .unwrap();
        }
        w.commit().unwrap();
    }
    let ids: Vec<String> = (0..1500).step_by(3).map(|i| format!("d{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    crate::index::delete(dir.path(), &refs, &Default::default()).unwrap();
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
        let q = Query::new(q);
        for k in [0, 1, 10] {
            assert_eq!(
                search_with(&index, &q, k, &PRUNED).unwrap(),
                search_with(&index, &q, k, &EXHAUSTIVE).unwrap(),
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
        let q = Query::new(random_vector(&mut rng, 2000, 20));
        let want = search_with(&index, &q, 10, &EXHAUSTIVE).unwrap();
        let got = search_with(&index, &q, 10, &approx).unwrap();
        for h in &got {
            // Every returned score is the document's exact score.
            let exact = search_with(&index, &q, 4000, &EXHAUSTIVE).unwrap();
            assert!(exact.contains(h), "{h:?}");
        }
        found += got.iter().filter(|h| want.contains(h)).count();
        total += want.len();
    }
    assert!(found * 10 >= total * 5, "recall {found}/{total}");
}

/// Documents about `topics` topics (each its own 30 terms, heavy) plus a
/// few common light terms, topics drawn at random so that arbitrary order
/// mixes them.
fn topical_docs(rng: &mut Rng, n: usize, topics: u32) -> Vec<Vec<(String, f32)>> {
    (0..n)
        .map(|_| {
            let topic = rng.below(topics);
            let mut v: Vec<(String, f32)> = Vec::new();
            for _ in 0..12 {
                let t = format!("topic{topic}-{}", rng.below(30));
                if !v.iter().any(|p| p.0 == t) {
                    v.push((t, 1.0 + rng.below(200) as f32 / 100.0));
                }
            }
            for _ in 0..4 {
                let t = format!("common{}", rng.below(20));
                if !v.iter().any(|p| p.0 == t) {
                    v.push((t, 0.1 + rng.below(30) as f32 / 100.0));
                }
            }
            v
        })
        .collect()
}

fn topical_query(rng: &mut Rng, topics: u32) -> Vec<(String, f32)> {
    let topic = rng.below(topics);
    let mut q: Vec<(String, f32)> = (0..4)
        .map(|j| (format!("topic{topic}-{}", j * 7 + rng.below(7)), 1.0))
        .collect();
    q.push((format!("common{}", rng.below(20)), 0.5));
    q
}

/// (id, score bits) of a complete ranking, sorted: the same set whatever
/// the document order, ties included.
fn ranking_set(index: &Index, q: &Query) -> Vec<(String, u32)> {
    let mut all: Vec<(String, u32)> = search_with(index, q, index.num_docs() as usize, &EXHAUSTIVE)
        .unwrap()
        .iter()
        .map(|h| (index.doc_id(h.doc).unwrap().to_string(), h.score.to_bits()))
        .collect();
    all.sort();
    all
}

#[test]
fn reordering_keeps_every_score_and_pruning_exact() {
    crate::index::ALWAYS_STORE.with(|c| c.set(true));
    let mut rng = Rng::new(61);
    let docs = topical_docs(&mut rng, 6000, 40);
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &docs, WriterOptions::default());
    let queries: Vec<Vec<(String, f32)>> = (0..60).map(|_| topical_query(&mut rng, 40)).collect();
    let before = Index::open(dir.path()).unwrap();
    let sets: Vec<_> = queries
        .iter()
        .map(|q| ranking_set(&before, &Query::new(borrow(q))))
        .collect();
    drop(before);

    let options = crate::index::CompactOptions {
        memory_budget: 1 << 20,
        reorder: true,
        ..Default::default()
    };
    crate::index::compact_with(dir.path(), &options).unwrap();
    let after = Index::open(dir.path()).unwrap();
    after.verify().unwrap();
    assert!(after.meta().segments[0].reordered);
    let mut reordered = Searcher::new(&after, PRUNED);
    pruned::FALLBACK.with(|c| c.set(Some(false)));
    for (q, set) in queries.iter().zip(&sets) {
        let q = Query::new(borrow(q));
        assert_eq!(&ranking_set(&after, &q), set);
        let want = search_with(&after, &q, 10, &EXHAUSTIVE).unwrap();
        assert_eq!(reordered.search(&q, 10).unwrap(), want);
    }
    pruned::FALLBACK.with(|c| c.set(None));
    // Most ranges are skipped: a topic's documents are neighbours.
    let r = reordered.stats();
    assert!(r.scored * 10 < r.ranges, "{r:?}");
}

#[test]
fn plain_compaction_keeps_the_reordered_mark() {
    let mut rng = Rng::new(71);
    let dir = tempfile::tempdir().unwrap();
    build(
        dir.path(),
        &topical_docs(&mut rng, 500, 5),
        WriterOptions::default(),
    );
    let options = |reorder| crate::index::CompactOptions {
        memory_budget: 1 << 20,
        reorder,
        ..Default::default()
    };
    crate::index::compact_with(dir.path(), &options(true)).unwrap();
    crate::index::delete(dir.path(), &["d3"], &Default::default()).unwrap();
    crate::index::compact_with(dir.path(), &options(false)).unwrap();
    let index = Index::open(dir.path()).unwrap();
    assert!(index.meta().segments[0].reordered);
    // Small indexes stay exhaustive under Auto, reordered or not.
    assert!(!SearchOptions::default().prunes(&index));
    // Appending documents in arbitrary order drops the mark on compaction.
    let mut w = crate::index::IndexWriter::append(dir.path(), Default::default()).unwrap();
    w.add_from("new", &[("common1", 1.0)], None, "x").unwrap();
    w.commit().unwrap();
    crate::index::compact_with(dir.path(), &options(false)).unwrap();
    assert!(!Index::open(dir.path()).unwrap().meta().segments[0].reordered);
}

#[test]
fn segments_without_range_maxima_prune_from_memory() {
    // Indexes written before format 3 have no `.bmx`, nor do small
    // segments: the committed v1 fixture, and a small current index.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index-v1");
    let index = Index::open(&fixture).unwrap();
    let mut rng = Rng::new(81);
    let terms: Vec<String> = (0..index.segments[0].terms.len())
        .map(|i| index.segments[0].terms.term(i).to_string())
        .collect();
    for _ in 0..30 {
        let q: Query = (0..4)
            .map(|_| (terms[rng.below(terms.len() as u32) as usize].as_str(), 1.0))
            .collect();
        assert_eq!(
            search_with(&index, &q, 5, &PRUNED).unwrap(),
            search_with(&index, &q, 5, &EXHAUSTIVE).unwrap()
        );
    }

    let mut rng = Rng::new(82);
    let docs = tied_docs(&mut rng, 2000, 150);
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &docs, WriterOptions::default());
    assert!(!dir.path().join("seg-000001.bmx").exists());
    let index = Index::open(dir.path()).unwrap();
    index.verify().unwrap();
    assert_same(&index, &mut rng, 160, 60);
}

#[test]
fn auto_prunes_large_indexes_with_stored_maxima() {
    let big = AUTO_PRUNE_DOCS as u32;
    assert!(auto_prunes(1.0, big, big, u64::from(big)));
    assert!(auto_prunes(0.9, 10, 10, 0));
    // Too small, mostly without stored maxima, or empty.
    assert!(!auto_prunes(1.0, big - 1, big, u64::from(big)));
    assert!(!auto_prunes(1.0, big, big, u64::from(big) / 2));
    assert!(!auto_prunes(0.9, 0, 0, 0));
}

#[test]
fn pruned_searchers_build_range_maxima_before_the_first_query() {
    // A batch's queries run in parallel and all need the segments' range
    // maxima: they must be ready before the parallel loop, not built
    // lazily (with parallel work) from inside it.
    let mut rng = Rng::new(84);
    let docs = tied_docs(&mut rng, 600, 60);
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), &docs, WriterOptions::default());
    let mut w = crate::index::IndexWriter::append(dir.path(), Default::default()).unwrap();
    w.add_from("new", &[("t1", 1.0)], None, "x").unwrap();
    w.commit().unwrap();
    let index = Index::open(dir.path()).unwrap();
    assert_eq!(index.segments.len(), 2);
    let ready = |index: &Index| {
        index
            .segments
            .iter()
            .map(|s| s.has_range_max())
            .collect::<Vec<_>>()
    };
    assert_eq!(ready(&index), [false, false], "no .bmx: built in memory");
    let _ = Searcher::new(&index, EXHAUSTIVE);
    assert_eq!(
        ready(&index),
        [false, false],
        "exhaustive scoring needs none"
    );
    let _ = Searcher::new(&index, PRUNED);
    assert_eq!(ready(&index), [true, true]);

    // And the batch entry point builds them before its parallel loop.
    let index = Index::open(dir.path()).unwrap();
    let queries: Vec<Query> = (0..200)
        .map(|_| Query::new(random_vector(&mut rng, 60, 5)))
        .collect();
    let approx = SearchOptions {
        strategy: Strategy::Auto,
        approx: 0.9,
    };
    let batch = search_batch_with(&index, &queries, 5, &approx).unwrap();
    assert_eq!(ready(&index), [true, true]);
    for (q, hits) in queries.iter().zip(&batch) {
        assert_eq!(hits, &search_with(&index, q, 5, &approx).unwrap());
    }
}

/// The fallback budget of `query`: how many ranges pruning may score
/// before the filtered pass is cheaper.
fn budget(index: &Index, query: &Query) -> usize {
    let pairs = query.pairs();
    let terms: Vec<_> = index
        .segments
        .iter()
        .map(|seg| pruned::segment_terms(seg, &pairs).unwrap())
        .collect();
    pruned::fallback_budget(index, &terms)
}

/// The budget counts what exhaustive scoring would decode: a query of
/// two terms can afford fewer ranges than one of a hundred, and a search
/// with a minimum between the two declines the first (exhaustive scoring
/// answers it, the same hits) and prunes the second.
#[test]
fn a_query_that_can_afford_few_ranges_is_declined_below_the_minimum_budget() {
    let mut rng = Rng::new(11);
    let docs: Vec<_> = (0..3000)
        .map(|_| random_vector(&mut rng, 400, 30))
        .collect();
    let (_dir, index) = open_built(&docs, Quantization::U8);
    index.build_range_maxima();
    let few = Query::new(borrow(&random_vector(&mut rng, 400, 2)));
    let many = Query::new(borrow(&random_vector(&mut rng, 400, 100)));
    let (b_few, b_many) = (budget(&index, &few), budget(&index, &many));
    assert!(b_many > b_few, "{b_few} {b_many}");
    let min = b_few + 1;
    let mut scratch = pruned::Scratch::default();
    let mut stats = PruneStats::default();
    let mut run = |q: &Query, min| {
        let sorted = crate::search::in_dictionary_order(&q.pairs());
        pruned::search(&index, &sorted, (10, 1.0), min, &mut scratch, &mut stats)
    };
    let pruned_many = run(&many, min).expect("a query within its budget is pruned");
    assert!(
        run(&few, min).is_none(),
        "a query below the minimum is declined"
    );
    assert!(run(&few, 0).is_some(), "no minimum prunes every query");
    assert_eq!((stats.queries, stats.declined), (2, 1));
    let mut exhaustive = Searcher::new(&index, EXHAUSTIVE);
    assert_eq!(pruned_many, exhaustive.search(&many, 10).unwrap());
}

#[test]
fn only_exact_auto_searches_decline_queries() {
    let (_dir, index) = open_built(&[vec![("a".into(), 1.0)]], Quantization::U8);
    let with =
        |strategy, approx| Searcher::new(&index, SearchOptions { strategy, approx }).min_budget();
    assert_eq!(with(Strategy::Auto, 1.0), pruned::AUTO_MIN_BUDGET);
    assert_eq!(with(Strategy::Auto, 0.9), 0);
    assert_eq!(with(Strategy::Pruned, 1.0), 0);
}

#[test]
fn auto_declines_document_like_queries_whatever_their_budget() {
    let cap = pruned::AUTO_MAX_TERMS;
    assert!(!pruned::declines(1, cap, 10));
    assert!(pruned::declines(1, cap + 1, 10));
    assert!(pruned::declines(11, cap, 10));
    assert!(!pruned::declines(0, cap + 1, 0));
}

#[test]
fn pruning_goes_on_a_while_before_a_near_miss_falls_back() {
    use pruned::{HOPELESS, PATIENCE, fall_back};
    let budget = 400;
    // Within the budget: never.
    assert!(!fall_back(budget, 0, budget));
    // Over the budget but within HOPELESS budgets: only once a
    // PATIENCE-th of the budget is spent.
    assert!(!fall_back(budget + 1, budget / PATIENCE - 1, budget));
    assert!(fall_back(budget + 1, budget / PATIENCE, budget));
    assert!(!fall_back(HOPELESS * budget, 0, budget));
    // Beyond: at once.
    assert!(fall_back(HOPELESS * budget + 1, 0, budget));
}
