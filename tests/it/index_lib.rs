//! Library-level tests of the index, search and eval APIs, and the
//! cross-check of `evaluate` against the reference metrics in `../shared`.

use std::path::PathBuf;

use splade::eval::{evaluate, read_qrels, read_run};
use splade::{Index, IndexWriter, Quantization, Query, StoredDoc, WriterOptions};
use splade::{search, search_batch};

fn shared_dir() -> Option<PathBuf> {
    crate::fixtures::shared_dir().filter(|d| d.join("reference/metrics.json").exists())
}

#[test]
fn build_open_search_through_the_public_api() {
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("idx");
    let docs: Vec<Vec<(String, f32)>> = vec![
        vec![("law".into(), 1.5), ("warranty".into(), 2.0)],
        vec![("contract".into(), 0.7), ("law".into(), 0.3)],
        vec![("cat".into(), 2.5)],
    ];
    let options = WriterOptions {
        store: true,
        quantization: "u16".parse::<Quantization>().unwrap(),
        ..WriterOptions::default()
    };
    let mut w = IndexWriter::create(&index_dir, options).unwrap();
    for (i, d) in docs.iter().enumerate() {
        let terms: Vec<(&str, f32)> = d.iter().map(|(t, w)| (t.as_str(), *w)).collect();
        let stored = StoredDoc {
            title: None,
            text: format!("doc {i}"),
        };
        w.add_stored(&format!("id{i}"), &terms, &stored).unwrap();
    }
    assert_eq!(w.num_docs(), 3);
    let stats = w.commit().unwrap();
    assert_eq!((stats.live_docs, stats.terms, stats.postings), (3, 4, 5));

    let index = Index::open(&index_dir).unwrap();
    index.verify().unwrap();
    assert_eq!(index.stats(), stats);
    let query = Query::new([("law", 1.0), ("warranty", 0.5)]);
    let hits = search(&index, &query, 10).unwrap();
    assert_eq!(hits.iter().map(|h| h.doc).collect::<Vec<_>>(), [0, 1]);
    // The exact dot products: 1.5 + 0.5 * 2.0, and 0.3.
    for (h, want) in hits.iter().zip([2.5, 0.3]) {
        assert!((h.score - want).abs() < 1e-3, "{h:?} {want}");
    }
    assert_eq!(index.doc_id(hits[0].doc).unwrap(), "id0");
    assert_eq!(index.stored(1).unwrap().unwrap().text, "doc 1");
    let batch = search_batch(&index, &[Query::new([("cat", 1.0)]), query.clone()], 5).unwrap();
    assert_eq!(batch[1], hits);
    assert_eq!(batch[0].len(), 1);
    assert_eq!(batch[0][0].doc, 2);
}

/// The reference runs hold the top 100 per query, while the reference
/// metrics were computed on the top 1000: nDCG@10, RR@10 and R@100 must
/// match exactly (to the 4 printed decimals); R@1000 and AP can only be
/// bounded from a top-100 run.
#[test]
fn evaluate_reproduces_reference_metrics() {
    let Some(shared) = shared_dir() else {
        eprintln!("skipped: no ../shared (set SPLADE_SHARED to run this test)");
        return;
    };
    let text = std::fs::read_to_string(shared.join("reference/metrics.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let collections = [
        "cacm",
        "cisi",
        "cranfield",
        "npl",
        "lisa",
        "trec-dl-2020-passage-pool",
    ];
    for name in collections {
        let want = &reference[name]["splade_tiny"];
        let qrels = read_qrels(&shared.join(format!("data/{name}/qrels.tsv"))).unwrap();
        let run = read_run(&shared.join(format!("reference/runs/{name}.trec"))).unwrap();
        let levels: &[(i32, &str)] = if name.starts_with("trec-dl") {
            &[(1, ""), (2, "(rel=2)")]
        } else {
            &[(1, "")]
        };
        for &(min_rel, tag) in levels {
            let e = evaluate(&run, &qrels, min_rel);
            assert_eq!(
                e.num_queries as u64,
                reference[name]["queries"].as_u64().unwrap()
            );
            let m = &e.mean;
            let exact = [
                ("nDCG@10".to_string(), m.ndcg_at_10),
                (format!("RR{tag}@10"), m.rr_at_10),
                (format!("R{tag}@100"), m.recall_at_100),
            ];
            for (key, got) in exact {
                let w = want[&key]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{name}: no {key}"));
                assert!(
                    (got - w).abs() <= 5e-4,
                    "{name} {key}: got {got:.4}, reference {w}"
                );
            }
            let ap = want[format!("AP{tag}")].as_f64().unwrap();
            assert!(
                m.map <= ap + 5e-4,
                "{name} AP{tag}: {} > reference {ap}",
                m.map
            );
            assert!(m.recall_at_1000 <= want[format!("R{tag}@1000")].as_f64().unwrap() + 5e-4);
        }
    }
}
