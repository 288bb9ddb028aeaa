//! `splade explain`, `splade encode --format` for search engines, and
//! `splade completions` / `--help` through the binary.

use crate::cli_segments::{DOCS, setup};
use crate::fixtures::{fails, jsonl, ok};
use crate::fixtures::{run_splade, stderr, stdout};

#[test]
fn explain_shows_the_terms_that_make_the_score() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    ok(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--model",
            &model,
            "--store",
        ],
    );
    ok(
        dir,
        &["index", "docs.jsonl", "--index", "plain", "--model", &model],
    );
    let hits = jsonl(&ok(
        dir,
        &[
            "search",
            "sparse search",
            "--index",
            "idx",
            "--format",
            "jsonl",
        ],
    ));
    let top = &hits[0];
    let id = top["id"].as_str().unwrap();
    let e: serde_json::Value = serde_json::from_str(&ok(
        dir,
        &["explain", "sparse search", id, "--index", "idx", "--json"],
    ))
    .unwrap();
    assert_eq!(e["id"], id);
    assert!(e["expansion_marked"].as_bool().unwrap());
    let terms = e["terms"].as_array().unwrap();
    assert!(!terms.is_empty());
    let products: Vec<f64> = terms
        .iter()
        .map(|t| t["product"].as_f64().unwrap())
        .collect();
    assert!(products.windows(2).all(|w| w[0] >= w[1]), "{products:?}");
    let sum: f64 = products.iter().sum();
    let score = top["score"].as_f64().unwrap();
    assert!(
        (sum - score).abs() < 1e-4,
        "explain {sum} vs search {score}"
    );
    let shares: f64 = terms.iter().map(|t| t["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-6);
    for t in terms {
        let (q, d, p) = (
            t["query_weight"].as_f64().unwrap(),
            t["doc_weight"].as_f64().unwrap(),
            t["product"].as_f64().unwrap(),
        );
        assert!((q * d - p).abs() < 1e-5);
        assert!(t["expansion"].is_boolean());
    }
    // Tokens of the document's own text are not expansions; others are.
    let line = DOCS
        .lines()
        .find(|l| l.contains(&format!("\"id\":\"{id}\"")))
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(line).unwrap();
    let text = format!(
        "{} {}",
        doc["title"].as_str().unwrap_or(""),
        doc["text"].as_str().unwrap()
    );
    let lowered = text.to_lowercase();
    let in_text: Vec<&str> = lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    for t in terms {
        let token = t["token"].as_str().unwrap();
        let present = in_text.contains(&token)
            || ["[CLS]", "[SEP]"].contains(&token)
            || (!token.chars().any(char::is_alphanumeric) && text.contains(token));
        assert_eq!(t["expansion"], !present, "{token} in {text:?}");
    }
    let table = ok(dir, &["explain", "sparse search", id, "--index", "idx"]);
    assert!(
        table.starts_with("score ") && table.contains("share"),
        "{table}"
    );
    // Without stored text: no marking, and a note that says why.
    let out = run_splade(
        dir,
        &["explain", "sparse search", id, "--index", "plain", "--json"],
        b"",
    );
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("does not store texts"),
        "{}",
        stderr(&out)
    );
    let e: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(e["expansion_marked"], false);
    assert!(e["terms"][0].get("expansion").is_none());
    let err = fails(dir, &["explain", "law", "nope", "--index", "idx"]);
    assert!(err.contains("no document with id `nope`"), "{err}");
}

/// Undoes the feature-name escaping of the Elasticsearch/OpenSearch formats.
fn unescape(features: &serde_json::Value) -> serde_json::Value {
    let map = features.as_object().unwrap();
    map.iter()
        .map(|(k, v)| (k.replace("%2E", ".").replace("%25", "%"), v.clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[test]
fn encode_formats_for_search_engines() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    let plain = jsonl(&ok(dir, &["encode", "docs.jsonl", "--model", &model]));
    let n = plain.len();
    let qdrant = jsonl(&ok(
        dir,
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "--format",
            "qdrant",
        ],
    ));
    assert_eq!(qdrant.len(), n);
    for (q, p) in qdrant.iter().zip(&plain) {
        assert_eq!(q["payload"]["doc_id"], p["id"], "the original id");
        let id = p["id"].as_str().unwrap();
        match id.parse::<u64>() {
            Ok(n) => assert_eq!(q["id"], n, "integer ids kept"),
            Err(_) => assert_eq!(q["id"].as_str().unwrap().len(), 36, "a UUID"),
        }
        let (idx, val) = (
            q["vector"]["splade"]["indices"].as_array().unwrap(),
            q["vector"]["splade"]["values"].as_array().unwrap(),
        );
        assert_eq!(idx.len(), p["vector"].as_object().unwrap().len());
        assert_eq!(idx.len(), val.len());
        let mut vals: Vec<f64> = p["vector"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let mut qvals: Vec<f64> = val.iter().map(|v| v.as_f64().unwrap()).collect();
        vals.sort_by(f64::total_cmp);
        qvals.sort_by(f64::total_cmp);
        assert_eq!(qvals, vals, "the same weights");
        let ids: Vec<u64> = idx.iter().map(|i| i.as_u64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "indices ascending");
    }
    let es = ok(
        dir,
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "--format",
            "elasticsearch",
            "--es-index",
            "docs",
        ],
    );
    let es = jsonl(&es);
    assert_eq!(es.len(), 2 * n);
    assert_eq!(es[0]["index"]["_index"], "docs");
    assert_eq!(es[0]["index"]["_id"], plain[0]["id"]);
    assert_eq!(unescape(&es[1]["splade"]), plain[0]["vector"]);
    assert!(es[1]["splade"].get(".").is_none(), "dots are escaped");
    let os = jsonl(&ok(
        dir,
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "--format",
            "opensearch",
            "--query",
        ],
    ));
    assert_eq!(os.len(), 2 * n);
    assert_eq!(os[0]["index"], "splade");
    assert_eq!(
        unescape(&os[1]["query"]["neural_sparse"]["splade"]["query_tokens"]),
        plain[0]["vector"]
    );
    let seismic = jsonl(&ok(
        dir,
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "--format",
            "seismic",
        ],
    ));
    assert_eq!(seismic[0]["content"], "Rust rust sparse search index");
    assert_eq!(seismic[0]["vector"], plain[0]["vector"]);
    let anserini = jsonl(&ok(
        dir,
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "--format",
            "anserini",
        ],
    ));
    assert_eq!(anserini[1]["contents"], "the law of implied warranty");
    for (a, p) in anserini.iter().zip(&plain) {
        for (token, w) in p["vector"].as_object().unwrap() {
            let want = (w.as_f64().unwrap() * 100.0).round() as u64;
            assert_eq!(
                a["vector"].get(token).and_then(|v| v.as_u64()),
                (want > 0).then_some(want)
            );
        }
    }
}

fn export(dir: &std::path::Path, model: &str, format: &str, query: bool) -> String {
    let mut args = vec!["encode", "docs.jsonl", "--model", model, "--format", format];
    if query {
        args.push("--query");
    }
    ok(dir, &args)
}

/// The same vectors in every engine's shape: Qdrant indices, Milvus keys
/// and pgvector's 1-based indices name the same terms with the same weights;
/// Qdrant point ids are stable, UUIDs for ids that are not integers.
#[test]
fn qdrant_pgvector_and_milvus_exports_agree() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    std::fs::write(
        dir.join("docs.jsonl"),
        "{\"id\":\"d1\",\"text\":\"rust sparse search\"}\n\
         {\"id\":\"42\",\"text\":\"the law of implied warranty\"}\n\
         {\"id\":\"a\\tb\\\\c\",\"text\":\"sparse index\"}\n",
    )
    .unwrap();
    let qdrant = jsonl(&export(dir, &model, "qdrant", false));
    let milvus = jsonl(&export(dir, &model, "milvus", false));
    let pg = export(dir, &model, "pgvector", false);
    let pg: Vec<&str> = pg.lines().collect();
    assert_eq!((qdrant.len(), milvus.len(), pg.len()), (3, 3, 3));
    // uuid.uuid5(uuid.NAMESPACE_OID, "d1") in Python.
    assert_eq!(qdrant[0]["id"], "cbca1785-765f-58e2-88eb-d1725e16827a");
    assert_eq!(qdrant[1]["id"], 42);
    assert_eq!(qdrant[2]["payload"]["doc_id"], "a\tb\\c");
    assert_eq!(
        jsonl(&export(dir, &model, "qdrant", false)),
        qdrant,
        "stable"
    );
    let ids = ["d1", "42", "a\\tb\\\\c"];
    for (((q, m), line), id) in qdrant.iter().zip(&milvus).zip(&pg).zip(ids) {
        let sv = &q["vector"]["splade"];
        let terms: Vec<u64> = sv["indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let weights: Vec<f64> = sv["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let mut mk: Vec<(u64, f64)> = m["splade"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.as_f64().unwrap()))
            .collect();
        mk.sort_by_key(|p| p.0);
        let want: Vec<(u64, f64)> = terms.iter().copied().zip(weights.iter().copied()).collect();
        assert_eq!(mk, want, "milvus keys are term ids");
        assert_eq!(m["id"], q["payload"]["doc_id"]);
        let (pid, lit) = line.split_once('\t').unwrap();
        assert_eq!(pid, id, "COPY text escapes tab and backslash");
        let (body, dim) = lit.strip_prefix('{').unwrap().split_once("}/").unwrap();
        assert_eq!(dim, crate::fixtures::vocab_size().to_string());
        let pk: Vec<(u64, f64)> = body
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once(':').unwrap();
                (k.parse::<u64>().unwrap() - 1, v.parse().unwrap())
            })
            .collect();
        assert_eq!(pk, want, "pgvector indices are term id + 1");
    }
    let queries = jsonl(&export(dir, &model, "qdrant", true));
    assert_eq!(queries[0]["id"], "d1");
    assert_eq!(queries[0]["using"], "splade");
    assert_eq!(queries[0]["query"], qdrant[0]["vector"]["splade"]);
}

#[test]
fn completions_and_help_examples() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = ok(tmp.path(), &["completions", shell]);
        assert!(out.contains("splade") && out.contains("compact"), "{shell}");
    }
    for cmd in [
        "encode",
        "index",
        "search",
        "eval",
        "delete",
        "compact",
        "explain",
        "info",
        "verify",
        "completions",
    ] {
        let help = ok(tmp.path(), &[cmd, "--help"]);
        assert!(
            help.contains("Examples:"),
            "splade {cmd} --help has no examples"
        );
    }
}
