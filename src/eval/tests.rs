//! Hand-computed cases for every measure and both input formats.

use super::*;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} vs {b}");
}

/// q1: d1 grade 2, d2 grade 1, d3 judged non-relevant; q2: d9 grade 1 but
/// absent from the run; q3: only a non-relevant judgment (not evaluated).
fn fixture() -> (Run, Qrels) {
    let qrels = Qrels::parse(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq1\td3\t0\nq2\td9\t1\nq3\td5\t0\n"
            .as_bytes(),
        "qrels.tsv",
    )
    .unwrap();
    // d4 and d1 tie: trec_eval puts the larger id (d4) first.
    let run = Run::parse(
        "q1 Q0 d2 4 1.0 x\nq1 Q0 d1 2 2.0 x\nq1 Q0 d3 1 3.0 x\nq1 Q0 d4 3 2.0 x\n\
         q3 Q0 d5 1 1.0 x\nq7 Q0 d1 1 1.0 x\n"
            .as_bytes(),
        "run.trec",
    )
    .unwrap();
    (run, qrels)
}

#[test]
fn hand_computed_binary_and_graded_measures() {
    let (run, qrels) = fixture();
    let e = evaluate(&run, &qrels, 1);
    assert_eq!(e.num_queries, 2);
    assert_eq!(e.per_query.keys().collect::<Vec<_>>(), ["q1", "q2"]);
    // Ranking of q1: d3, d4, d1, d2.
    let q1 = &e.per_query["q1"];
    let dcg = 2.0 / 4f64.log2() + 1.0 / 5f64.log2();
    let idcg = 2.0 + 1.0 / 3f64.log2();
    close(q1.ndcg_at_10, dcg / idcg);
    close(q1.rr_at_10, 1.0 / 3.0);
    close(q1.recall_at_100, 1.0);
    close(q1.recall_at_1000, 1.0);
    close(q1.map, (1.0 / 3.0 + 2.0 / 4.0) / 2.0);
    assert_eq!(e.per_query["q2"], Metrics::default());
    close(e.mean.ndcg_at_10, dcg / idcg / 2.0);
    close(e.mean.map, (1.0 / 3.0 + 0.5) / 4.0);
}

#[test]
fn min_rel_changes_binary_measures_only() {
    let (run, qrels) = fixture();
    let e = evaluate(&run, &qrels, 2);
    // q2 has no grade >= 2: not evaluated.
    assert_eq!(e.num_queries, 1);
    let q1 = &e.per_query["q1"];
    close(
        q1.ndcg_at_10,
        evaluate(&run, &qrels, 1).per_query["q1"].ndcg_at_10,
    );
    close(q1.rr_at_10, 1.0 / 3.0);
    close(q1.map, 1.0 / 3.0);
    close(q1.recall_at_100, 1.0);
}

#[test]
fn cutoffs_and_duplicates() {
    let mut qrels = Qrels::new();
    qrels.insert("q", "rel", 1);
    qrels.insert("q", "far", 3);
    let mut run = Run::new();
    for i in 0..150 {
        run.push("q", &format!("n{i:03}"), 1000.0 - i as f64);
    }
    run.push("q", "rel", 990.5); // rank 11
    run.push("q", "rel", 1.0); // repeated lower: ignored
    run.push("q", "far", 800.0); // rank 152 > 100
    let m = &evaluate(&run, &qrels, 1).per_query["q"];
    close(m.rr_at_10, 0.0);
    close(m.ndcg_at_10, 0.0);
    close(m.recall_at_100, 0.5);
    close(m.recall_at_1000, 1.0);
    close(m.map, (1.0 / 11.0 + 2.0 / 152.0) / 2.0);
}

#[test]
fn trec_qrels_and_errors_with_line_numbers() {
    let q = Qrels::parse("1 0 a 1\n1 0 b 0\n\n2 0 c 2\n".as_bytes(), "q.txt").unwrap();
    assert_eq!(q.num_queries(), 2);
    assert_eq!(q.get("2").unwrap()["c"], 2);
    let err = Qrels::parse("1 0 a 1\n1 a x\n".as_bytes(), "q.txt").unwrap_err();
    assert_eq!(
        err.to_string(),
        "q.txt:2: relevance grade `x` is not an integer"
    );
    let err = Qrels::parse("1 a\n".as_bytes(), "q.txt").unwrap_err();
    assert!(err.to_string().starts_with("q.txt:1: expected"), "{err}");
    let err = Run::parse("1 Q0 a 1 1.0 t\n1 Q0 b 2 high t\n".as_bytes(), "r").unwrap_err();
    assert_eq!(err.to_string(), "r:2: score `high` is not a number");
    let err = Run::parse("1 Q0 a\n".as_bytes(), "r").unwrap_err();
    assert!(err.to_string().starts_with("r:1: expected"), "{err}");
}

#[test]
fn metrics_serialize_with_the_names_eval_prints() {
    let json = serde_json::to_string(&Metrics::default()).unwrap();
    assert_eq!(
        json,
        r#"{"nDCG@10":0.0,"RR@10":0.0,"R@100":0.0,"R@1000":0.0,"MAP":0.0}"#
    );
}
