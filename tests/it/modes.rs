//! Ranking modes through the binary: the default is hybrid where the index
//! has BM25 postings and SPLADE where it has none; `--weight 0` and
//! `--weight 1` give exactly the rankings of `--mode splade` and `--mode
//! bm25`; indexes without one kind of postings refuse the modes that need
//! it, saying how to rebuild; `explain` shows both parts and the fusion;
//! `eval --tune` reports a sweep and a recommendation.

use std::path::Path;

use crate::fixtures::{WORDS, fails_as_is as fails, jsonl, ok_as_is as ok, with_docs};

/// 40 documents from the tiny model's words, two of them with a word no
/// other document has (`zephyr`) that the tiny model's vocabulary lacks:
/// only BM25 can find them.
fn docs() -> String {
    let mut s = String::new();
    for i in 0..40 {
        let words: Vec<&str> = (0..8)
            .map(|j| WORDS[(i * 7 + j * 3) % WORDS.len()])
            .collect();
        let extra = if i % 20 == 3 { " zephyr" } else { "" };
        s.push_str(&format!(
            "{{\"id\":\"d{i}\",\"text\":\"{}{extra}\"}}\n",
            words.join(" ")
        ));
    }
    s
}

/// (id, score) of every result line.
fn ranking(out: &str) -> Vec<(String, f64)> {
    jsonl(out)
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_owned(),
                v["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn build(dir: &Path, model: &str, extra: &[&str]) {
    let mut args = vec![
        "index",
        "docs.jsonl",
        "--index",
        "idx",
        "--model",
        model,
        "-q",
    ];
    args.extend_from_slice(extra);
    ok(dir, &args);
}

fn search(dir: &Path, q: &str, extra: &[&str]) -> Vec<(String, f64)> {
    let mut args = vec!["search", q, "--index", "idx", "-k", "50"];
    args.extend_from_slice(extra);
    ranking(&ok(dir, &args))
}

#[test]
fn weight_zero_and_one_are_the_single_modes() {
    let (tmp, model) = with_docs(&docs());
    build(tmp.path(), &model, &[]);
    let q = &format!("{} {} zephyr", WORDS[1], WORDS[4]);
    let splade = search(tmp.path(), q, &["--mode", "splade"]);
    let bm25 = search(tmp.path(), q, &["--mode", "bm25"]);
    assert!(!splade.is_empty() && !bm25.is_empty());
    assert_ne!(splade, bm25, "the two sides rank differently here");
    assert_eq!(search(tmp.path(), q, &["--weight", "0"]), splade);
    assert_eq!(search(tmp.path(), q, &["--weight", "1"]), bm25);
    let hybrid = search(tmp.path(), q, &[]);
    assert_eq!(search(tmp.path(), q, &["--mode", "hybrid"]), hybrid);
    assert_ne!(hybrid, splade);
    assert_ne!(hybrid, bm25);
}

#[test]
fn hybrid_ranks_every_document_either_side_found() {
    let (tmp, model) = with_docs(&docs());
    build(tmp.path(), &model, &[]);
    let q = &format!("{} {} zephyr", WORDS[2], WORDS[9]);
    let ids = |flags: &[&str]| -> std::collections::BTreeSet<String> {
        search(tmp.path(), q, flags)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    };
    let (splade, bm25, hybrid) = (
        ids(&["--mode", "splade"]),
        ids(&["--mode", "bm25"]),
        ids(&[]),
    );
    assert!(bm25.contains("d3") && bm25.contains("d23"), "{bm25:?}");
    let union: std::collections::BTreeSet<String> = splade.union(&bm25).cloned().collect();
    assert_eq!(hybrid, union);
}

#[test]
fn indexes_without_bm25_postings_default_to_splade_and_refuse_bm25() {
    let (tmp, model) = with_docs(&docs());
    build(tmp.path(), &model, &["--no-lexical"]);
    let q = WORDS[1];
    assert_eq!(
        search(tmp.path(), q, &[]),
        search(tmp.path(), q, &["--mode", "splade"])
    );
    for flags in [
        &["--mode", "bm25"][..],
        &["--mode", "hybrid"],
        &["--weight", "0.5"],
    ] {
        let mut args = vec!["search", q, "--index", "idx"];
        args.extend_from_slice(flags);
        let err = fails(tmp.path(), &args);
        assert!(
            err.contains("BM25 postings") && err.contains("rebuild"),
            "{err}"
        );
    }
}

#[test]
fn older_formats_refuse_bm25_with_how_to_rebuild() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index-v3");
    let tmp = tempfile::tempdir().unwrap();
    let err = fails(
        tmp.path(),
        &[
            "search",
            "river",
            "--index",
            fixture.to_str().unwrap(),
            "--mode",
            "bm25",
        ],
    );
    assert!(
        err.contains("BM25 postings") && err.contains("rebuild"),
        "{err}"
    );
}

#[test]
fn lexical_only_indexes_search_by_bm25_without_a_model() {
    let (tmp, model) = with_docs(&docs());
    ok(
        tmp.path(),
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--lexical-only",
            "-q",
        ],
    );
    let q = &format!("{} zephyr", WORDS[2]);
    let default = search(tmp.path(), q, &[]);
    assert!(default.iter().any(|(id, _)| id == "d3"), "{default:?}");
    assert_eq!(default, search(tmp.path(), q, &["--mode", "bm25"]));
    let err = fails(
        tmp.path(),
        &[
            "search", q, "--index", "idx", "--mode", "splade", "--model", &model,
        ],
    );
    assert!(err.contains("--lexical-only"), "{err}");
    let err = fails(
        tmp.path(),
        &[
            "search", q, "--index", "idx", "--mode", "bm25", "--weight", "0.3",
        ],
    );
    assert!(err.contains("--weight"), "{err}");
}

#[test]
fn explain_shows_both_parts_and_the_fusion() {
    let (tmp, model) = with_docs(&docs());
    build(tmp.path(), &model, &[]);
    let q = &format!("{} {} zephyr", WORDS[1], WORDS[4]);
    let top = &search(tmp.path(), q, &[])[0];
    let out = ok(
        tmp.path(),
        &["explain", q, &top.0, "--index", "idx", "--json"],
    );
    let e: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["mode"], "hybrid");
    assert_eq!(e["fusion"]["rank"], 1);
    assert!((e["score"].as_f64().unwrap() - top.1).abs() < 1e-6, "{e}");
    let bm25 = search(tmp.path(), q, &["--mode", "bm25"]);
    if let Some((_, s)) = bm25.iter().find(|(id, _)| id == &top.0) {
        assert!(
            (e["bm25"]["score"].as_f64().unwrap() - s).abs() < 1e-5,
            "{e}"
        );
        assert!(e["bm25"]["terms"].as_array().is_some_and(|t| !t.is_empty()));
    }
    let w = e["fusion"]["weight"].as_f64().unwrap();
    assert!(w > 0.0 && w < 1.0, "{e}");
    let table = ok(tmp.path(), &["explain", q, &top.0, "--index", "idx"]);
    assert!(
        table.contains("hybrid score") && table.contains("BM25 score"),
        "{table}"
    );
}

#[test]
fn eval_tune_sweeps_and_recommends() {
    let (tmp, model) = with_docs(&docs());
    build(tmp.path(), &model, &[]);
    let queries: String = (0..12)
        .map(|i| {
            format!(
                "{{\"id\":\"q{i}\",\"text\":\"{} {}\"}}\n",
                WORDS[i],
                WORDS[i + 5]
            )
        })
        .collect();
    std::fs::write(tmp.path().join("q.jsonl"), queries).unwrap();
    let qrels: String = std::iter::once("query-id\tcorpus-id\tscore\n".to_owned())
        .chain((0..12).map(|i| format!("q{i}\td{}\t1\n", (i * 3) % 40)))
        .collect();
    std::fs::write(tmp.path().join("qrels.tsv"), qrels).unwrap();
    let args = [
        "eval",
        "--index",
        "idx",
        "--queries",
        "q.jsonl",
        "--qrels",
        "qrels.tsv",
        "--tune",
    ];
    let table = ok(tmp.path(), &args);
    assert!(
        table.contains("adaptive (default)") && table.contains("recommended:"),
        "{table}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let t: serde_json::Value = serde_json::from_str(&ok(tmp.path(), &json_args)).unwrap();
    assert_eq!(t["weights"].as_array().unwrap().len(), 11);
    assert_eq!(t["queries"], 12);
    assert_eq!(t["folds"], 5);
    let cv = t["cross_validated"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&cv));
    // The sweep's ends are the single modes' nDCG@10.
    let mean = |mode: &str| {
        let out = ok(
            tmp.path(),
            &[
                "eval",
                "--index",
                "idx",
                "--queries",
                "q.jsonl",
                "--qrels",
                "qrels.tsv",
                "--mode",
                mode,
                "--json",
            ],
        );
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["mean"]["nDCG@10"]
            .as_f64()
            .unwrap()
    };
    let w = t["weights"].as_array().unwrap();
    assert!((w[0]["nDCG@10"].as_f64().unwrap() - mean("splade")).abs() < 1e-12);
    assert!((w[10]["nDCG@10"].as_f64().unwrap() - mean("bm25")).abs() < 1e-12);
    let _ = model;
}
