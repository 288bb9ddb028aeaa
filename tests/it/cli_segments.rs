//! Appends, deletes and compaction through the binary; the committed
//! version-1 index still opens. (`cli_export` drives explain, the export
//! formats and completions with the same fixtures.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::fixtures::{fails, jsonl, ok, query, splade_bin, with_docs};

pub(crate) const DOCS: &str = "{\"id\":\"d1\",\"title\":\"Rust\",\"text\":\"rust sparse search index\"}\n\
{\"id\":\"d2\",\"text\":\"the law of implied warranty\"}\n\
{\"id\":\"d 3\",\"text\":\"hello world, a common query\"}\n\
{\"id\":\"d4\",\"text\":\"sparse vector model for document search\"}\n\
{\"id\":\"d5\",\"text\":\"common law search\"}\n";

const MORE: &str = "{\"id\":\"d6\",\"text\":\"a sparse index of the law\"}\n\
{\"id\":\"d2\",\"text\":\"implied warranty of rust documents\"}\n\
{\"id\":\"d7\",\"text\":\"hello sparse world\"}\n";

const QUERIES: &str =
    "q1\tsparse search\nq2\tlaw warranty\nq3\thello common world\nq4\trust index\n";

pub(crate) fn setup() -> (tempfile::TempDir, String) {
    let (tmp, model) = with_docs(DOCS);
    std::fs::write(tmp.path().join("more.jsonl"), MORE).unwrap();
    std::fs::write(tmp.path().join("q.tsv"), QUERIES).unwrap();
    (tmp, model)
}

fn run_queries(dir: &Path, index: &str) -> String {
    ok(
        dir,
        &[
            "search",
            "--queries",
            "q.tsv",
            "--index",
            index,
            "-k",
            "20",
            "--format",
            "jsonl",
        ],
    )
}

/// The final documents after `MORE` is upserted and d4, "d 3" deleted, in
/// live order (segment order, then input order).
fn final_docs() -> String {
    let keep = |l: &&str| !l.contains("\"d4\"") && !l.contains("\"d 3\"") && !l.contains("\"d2\"");
    let more: Vec<&str> = MORE.lines().collect();
    DOCS.lines()
        .filter(keep)
        .chain(more)
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn append_delete_compact_equal_a_fresh_build() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    std::fs::write(dir.join("final.jsonl"), final_docs()).unwrap();
    for q in ["f32", "u16"] {
        let live = format!("live-{q}");
        let fresh = format!("fresh-{q}");
        let base = ["--model", &model, "--quantization", q, "--store"];
        ok(
            dir,
            &[&["index", "docs.jsonl", "--index", &live][..], &base].concat(),
        );
        let err = fails(dir, &["index", "--append", "more.jsonl", "--index", &live]);
        assert!(
            err.contains("more.jsonl:2: document id `d2` is already in the index")
                && err.contains("--upsert"),
            "{err}"
        );
        ok(
            dir,
            &[
                "index",
                "--append",
                "--upsert",
                "more.jsonl",
                "--index",
                &live,
            ],
        );
        ok(dir, &["delete", "d4", "d 3", "--index", &live]);
        ok(
            dir,
            &[&["index", "final.jsonl", "--index", &fresh][..], &base].concat(),
        );
        let info: serde_json::Value =
            serde_json::from_str(&ok(dir, &["info", "--index", &live, "--json"])).unwrap();
        assert_eq!(
            (info["docs"].as_u64(), info["deleted"].as_u64()),
            (Some(5), Some(3))
        );
        assert_eq!(info["segments"], 2);
        assert_eq!(info["format_version"], splade::FORMAT_VERSION);
        ok(dir, &["verify", "--index", &live]);
        let want = run_queries(dir, &fresh);
        let appended = run_queries(dir, &live);
        ok(dir, &["compact", "--index", &live]);
        let info: serde_json::Value =
            serde_json::from_str(&ok(dir, &["info", "--index", &live, "--json"])).unwrap();
        assert_eq!(
            (info["docs"].as_u64(), info["deleted"].as_u64()),
            (Some(5), Some(0))
        );
        assert_eq!(info["segments"], 1);
        let compacted = run_queries(dir, &live);
        if q == "f32" {
            // Raw weights: bit-identical scores, and ties break by the same
            // (live) order, so the output is identical.
            assert_eq!(appended, want);
            assert_eq!(compacted, want);
        } else {
            // Per-segment scales: equal within the quantization step.
            for got in [&appended, &compacted] {
                let (g, w) = (jsonl(got), jsonl(&want));
                assert_eq!(g.len(), w.len());
                for (a, b) in g.iter().zip(&w) {
                    let (sa, sb) = (a["score"].as_f64().unwrap(), b["score"].as_f64().unwrap());
                    assert!((sa - sb).abs() < 1e-3, "{a} vs {b}");
                }
            }
        }
        assert!(!want.contains("\"d4\"") && !want.contains("\"d 3\""));
        let shown = ok(
            dir,
            &[
                "search",
                "implied warranty",
                "--index",
                &live,
                "--show",
                "--format",
                "jsonl",
            ],
        );
        let d2 = jsonl(&shown).into_iter().find(|h| h["id"] == "d2").unwrap();
        assert_eq!(
            d2["text"], "implied warranty of rust documents",
            "upsert replaced d2"
        );
    }
    // Deleting an unknown id changes nothing and names it.
    let err = fails(dir, &["delete", "d1", "nope", "--index", "live-f32"]);
    assert!(
        err.contains("`nope`") && err.contains("nothing was deleted"),
        "{err}"
    );
    std::fs::write(dir.join("ids.txt"), "d1\nnope\n\n").unwrap();
    let out = ok(
        dir,
        &[
            "delete",
            "--ids",
            "ids.txt",
            "--ignore-missing",
            "--index",
            "live-f32",
        ],
    );
    assert!(out.is_empty());
    let info: serde_json::Value =
        serde_json::from_str(&ok(dir, &["info", "--index", "live-f32", "--json"])).unwrap();
    assert_eq!(info["docs"], 4);
    // --append refuses settings that disagree with the index.
    let err = fails(
        dir,
        &[
            "index",
            "--append",
            "more.jsonl",
            "--index",
            "live-f32",
            "--quantization",
            "u8",
        ],
    );
    assert!(err.contains("--quantization u8 differs"), "{err}");
}

#[test]
fn killed_append_or_delete_leaves_the_previous_state() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    ok(
        dir,
        &["index", "docs.jsonl", "--index", "idx", "--model", &model],
    );
    let before = run_queries(dir, "idx");
    let big: String = (0..20000)
        .map(|i| format!("{{\"id\":\"n{i}\",\"text\":\"rust law sparse {i}\"}}\n"))
        .collect();
    std::fs::write(dir.join("big.jsonl"), big).unwrap();
    let ids: String = (0..5).map(|i| format!("d{i}\n")).collect();
    std::fs::write(dir.join("ids.txt"), ids).unwrap();
    let mut killed = 0;
    for (args, delay_ms) in [
        (
            vec!["index", "--append", "big.jsonl", "--memory-budget", "1"],
            50u64,
        ),
        (
            vec!["index", "--append", "big.jsonl", "--memory-budget", "1"],
            400,
        ),
        (
            vec!["index", "--append", "big.jsonl", "--memory-budget", "1"],
            1200,
        ),
        (vec!["delete", "--ids", "ids.txt", "--ignore-missing"], 2),
    ] {
        let mut child = Command::new(splade_bin())
            .args(&args)
            .args(["--index", "idx", "-q"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        if child.wait().unwrap().success() {
            break; // finished before the kill: the state moved on
        }
        killed += 1;
        assert_eq!(
            run_queries(dir, "idx"),
            before,
            "{args:?} killed at {delay_ms} ms"
        );
        ok(dir, &["verify", "--index", "idx"]);
    }
    assert!(killed > 0, "no command was killed mid-way");
    // After the kills, an append still works and leftovers are cleaned up.
    ok(
        dir,
        &[
            "index",
            "--append",
            "more.jsonl",
            "--upsert",
            "--index",
            "idx",
        ],
    );
    let names: Vec<String> = std::fs::read_dir(dir.join("idx"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

fn fixture_v1() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index-v1")
}

#[test]
fn version_1_index_opens_searches_and_accepts_appends() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    let idx = dir.join("v1");
    std::fs::create_dir(&idx).unwrap();
    for e in std::fs::read_dir(fixture_v1()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), idx.join(e.file_name())).unwrap();
    }
    let info: serde_json::Value =
        serde_json::from_str(&ok(dir, &["info", "--index", "v1", "--json"])).unwrap();
    assert_eq!(
        (info["format_version"].as_u64(), info["docs"].as_u64()),
        (Some(1), Some(5))
    );
    ok(dir, &["verify", "--index", "v1"]);
    // Library search with known terms: d2 2.0, d1 1.25, d5 0.75, d4 0.375.
    let index = splade::Index::open(&idx).unwrap();
    let hits = splade::search(&index, &query(&[("law", 1.0), ("search", 1.0)]), 10).unwrap();
    let got: Vec<(&str, f32)> = hits
        .iter()
        .map(|h| (index.doc_id(h.doc).unwrap(), h.score))
        .collect();
    let want = [("d2", 2.0), ("d1", 1.25), ("d5", 0.75), ("d4", 0.375)];
    assert_eq!(got.len(), 4);
    for ((gi, gs), (wi, ws)) in got.iter().zip(want) {
        assert_eq!(*gi, wi);
        assert!((gs - ws).abs() < 1e-4, "{gi}: {gs} vs {ws}");
    }
    drop(index);
    // Through the CLI (the index records no model: --model encodes queries).
    let hits = jsonl(&ok(
        dir,
        &[
            "search",
            "law warranty",
            "--index",
            "v1",
            "--model",
            &model,
            "--format",
            "jsonl",
        ],
    ));
    assert!(!hits.is_empty());
    // Changing it writes a current-version meta.json; the version-1 files stay.
    std::fs::write(
        dir.join("v.jsonl"),
        "{\"id\":\"d9\",\"vector\":{\"law\":3.0}}\n",
    )
    .unwrap();
    ok(
        dir,
        &["index", "--append", "--vectors", "v.jsonl", "--index", "v1"],
    );
    ok(dir, &["delete", "d2", "--index", "v1"]);
    ok(dir, &["verify", "--index", "v1"]);
    let index = splade::Index::open(&idx).unwrap();
    assert_eq!(
        crate::fixtures::meta_json(&idx)["format_version"],
        splade::FORMAT_VERSION
    );
    let hits = splade::search(&index, &query(&[("law", 1.0)]), 10).unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| index.doc_id(h.doc).unwrap()).collect();
    assert_eq!(ids, ["d9", "d5"]);
    assert!(idx.join("seg-000001.pst").exists());
}

/// Vectors of `n` documents about 12 topics (heavy topic terms, light
/// common ones), topics in a scrambled order.
fn topical_vectors(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let topic = (i * 7919 + i / 3) % 12;
        let mut terms = Vec::new();
        for j in 0..6 {
            let t = (i * 31 + j * 17) % 25;
            terms.push(format!(
                "\"topic{topic}x{t}\":{}",
                1.0 + ((i + j) % 9) as f32 / 4.0
            ));
        }
        terms.push(format!("\"common{}\":0.3", i % 5));
        out.push_str(&format!(
            "{{\"id\":\"v{i}\",\"vector\":{{{}}}}}\n",
            terms.join(",")
        ));
    }
    out
}

/// Every (id, score) of a complete ranking, sorted: equal whatever the
/// document order.
fn ranking_set(idx: &Path, query: &[(&str, f32)]) -> Vec<(String, u32)> {
    let index = splade::Index::open(idx).unwrap();
    let all = splade::search(
        &index,
        &crate::fixtures::query(query),
        index.num_docs() as usize,
    )
    .unwrap();
    let mut set: Vec<(String, u32)> = all
        .iter()
        .map(|h| (index.doc_id(h.doc).unwrap().to_string(), h.score.to_bits()))
        .collect();
    set.sort();
    set
}

#[test]
fn reordering_renumbers_documents_and_keeps_every_score() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("v.jsonl"), topical_vectors(3000)).unwrap();
    ok(dir, &["index", "--vectors", "v.jsonl", "--index", "plain"]);
    ok(
        dir,
        &[
            "index",
            "--vectors",
            "v.jsonl",
            "--index",
            "built",
            "--reorder",
        ],
    );
    std::fs::create_dir(dir.join("later")).unwrap();
    for e in std::fs::read_dir(dir.join("plain")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join("later").join(e.file_name())).unwrap();
    }
    let note = ok(dir, &["compact", "--reorder", "--index", "later"]);
    assert!(note.is_empty(), "notes go to stderr: {note}");
    let info = |name: &str| -> serde_json::Value {
        serde_json::from_str(&ok(dir, &["info", "--index", name, "--json"])).unwrap()
    };
    assert_eq!(info("plain")["reordered"], false);
    for name in ["built", "later"] {
        let i = info(name);
        assert_eq!(i["reordered"], true, "{i}");
        assert_eq!(i["docs"], 3000);
        // Small collections are still scored exhaustively.
        assert_eq!(i["exact_search"], "exhaustive");
        ok(dir, &["verify", "--index", name]);
    }
    // The order changed...
    let first_ids = |name: &str| {
        let index = splade::Index::open(&dir.join(name)).unwrap();
        (0..50)
            .map(|d| index.doc_id(d).unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_ne!(first_ids("plain"), first_ids("later"));
    // ...and no score did.
    for q in [
        vec![("topic3x4", 1.0), ("topic3x9", 0.5), ("common2", 0.2)],
        vec![("topic11x0", 2.0)],
        vec![("common1", 1.0), ("topic7x24", 1.0)],
    ] {
        let want = ranking_set(&dir.join("plain"), &q);
        assert!(!want.is_empty());
        assert_eq!(ranking_set(&dir.join("built"), &q), want);
        assert_eq!(ranking_set(&dir.join("later"), &q), want);
    }
    // Reordering is for building, not appending: a usage error.
    let out = crate::fixtures::run_splade(
        dir,
        &[
            "index",
            "--append",
            "--reorder",
            "--vectors",
            "v.jsonl",
            "--index",
            "plain",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(crate::fixtures::stderr(&out).contains("'--reorder'"));
}
