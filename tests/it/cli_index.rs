//! `splade index`, `search`, `eval`, `info` and `verify` through the binary.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixtures::{
    Style, jsonl, ok, real_model, run_splade, shared_file, splade_bin, stderr, stdout, with_docs,
    write_tiny_model,
};

const DOCS: &str = "{\"id\":\"d1\",\"title\":\"Rust\",\"text\":\"rust sparse search index\"}\n\
{\"id\":\"d2\",\"text\":\"the law of implied warranty\"}\n\
{\"id\":\"d 3\",\"text\":\"hello world, a common query\"}\n\
{\"id\":\"d4\",\"text\":\"sparse vector model for document search\"}\n";

/// A temp dir with a tiny model in `model/` and `docs.jsonl`.
fn setup() -> (tempfile::TempDir, String) {
    with_docs(DOCS)
}

#[test]
fn index_then_search_round_trip() {
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
    let hits = jsonl(&ok(
        dir,
        &[
            "search",
            "sparse search",
            "--index",
            "idx",
            "-k",
            "3",
            "--show",
        ],
    ));
    assert!(!hits.is_empty() && hits.len() <= 3);
    for (i, h) in hits.iter().enumerate() {
        assert_eq!(h["rank"], i + 1);
        assert!(h["text"].is_string(), "--show adds the stored text");
    }
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // The scores are the dot products of the encoded vectors.
    let vecs = jsonl(&ok(dir, &["encode", "docs.jsonl", "--model", &model]));
    let query_out = run_splade(
        dir,
        &["encode", "--lines", "--model", &model],
        b"sparse search\n",
    );
    let query = &jsonl(&stdout(&query_out))[0]["vector"];
    let top = vecs.iter().find(|v| v["id"] == hits[0]["id"]).unwrap();
    let dot: f64 = top["vector"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, w)| w.as_f64().unwrap() * query.get(t).and_then(|x| x.as_f64()).unwrap_or(0.0))
        .sum();
    assert!(
        (dot - scores[0]).abs() < 1e-3,
        "index score {} vs dot {dot}",
        scores[0]
    );

    let info: serde_json::Value =
        serde_json::from_str(&ok(dir, &["info", "--index", "idx", "--json"])).unwrap();
    assert_eq!(info["docs"], 4);
    assert_eq!(info["quantization"], "u16");
    ok(dir, &["verify", "--index", "idx"]);
}

#[test]
fn index_from_vectors_and_batch_formats() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    let vectors = ok(dir, &["encode", "docs.jsonl", "--model", &model]);
    std::fs::write(dir.join("vecs.jsonl"), vectors).unwrap();
    ok(
        dir,
        &["index", "--vectors", "vecs.jsonl", "--index", "vidx"],
    );
    ok(
        dir,
        &["index", "docs.jsonl", "--index", "didx", "--model", &model],
    );
    std::fs::write(dir.join("q.tsv"), "q1\tsparse search\nq 2\thello world\n").unwrap();
    // Without a recorded model, --model is required.
    let out = run_splade(
        dir,
        &["search", "--queries", "q.tsv", "--index", "vidx"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--model"), "{}", stderr(&out));
    let from_vectors = ok(
        dir,
        &[
            "search",
            "--queries",
            "q.tsv",
            "--index",
            "vidx",
            "--model",
            &model,
            "--format",
            "trec",
        ],
    );
    let from_docs = ok(
        dir,
        &[
            "search",
            "--queries",
            "q.tsv",
            "--index",
            "didx",
            "--format",
            "trec",
            "--run-tag",
            "my run",
        ],
    );
    assert_eq!(
        from_vectors.replace(" splade", ""),
        from_docs.replace(" my_run", "")
    );
    for line in from_docs.lines() {
        assert_eq!(line.split(' ').count(), 6, "TREC line {line:?}");
    }
    assert!(
        from_docs.contains("q_2 Q0"),
        "whitespace in ids is made column-safe"
    );
    let tsv = ok(
        dir,
        &[
            "search",
            "--queries",
            "q.tsv",
            "--index",
            "didx",
            "--format",
            "tsv",
        ],
    );
    assert!(tsv.lines().all(|l| l.split('\t').count() == 4));
}

#[test]
fn duplicate_ids_and_bad_lines_leave_the_previous_index() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    ok(
        dir,
        &["index", "docs.jsonl", "--index", "idx", "--model", &model],
    );
    let before = ok(dir, &["search", "law warranty", "--index", "idx"]);
    std::fs::write(dir.join("dup.jsonl"), "{\"id\":\"x\",\"text\":\"a\"}\n{\"id\":\"y\",\"text\":\"b\"}\n{\"id\":\"x\",\"text\":\"c\"}\n").unwrap();
    let out = run_splade(
        dir,
        &["index", "dup.jsonl", "--index", "idx", "--model", &model],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("dup.jsonl:1") && err.contains("dup.jsonl:3"),
        "{err}"
    );
    std::fs::write(
        dir.join("bad.jsonl"),
        "{\"id\":\"x\",\"text\":\"a\"}\n{\"id\":\"y\"}\n",
    )
    .unwrap();
    let out = run_splade(
        dir,
        &["index", "bad.jsonl", "--index", "idx", "--model", &model],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.jsonl:2: missing field \"text\""),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        ok(dir, &["search", "law warranty", "--index", "idx"]),
        before
    );
    ok(dir, &["verify", "--index", "idx"]);
}

#[test]
fn search_refuses_another_model_and_missing_index() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    ok(
        dir,
        &["index", "docs.jsonl", "--index", "idx", "--model", &model],
    );
    let other = dir.join("other");
    write_tiny_model(&other, Style::default(), None, None);
    // Same weights, different tokenizer file -> different fingerprint.
    let tok = std::fs::read_to_string(other.join("tokenizer.json")).unwrap();
    std::fs::write(
        other.join("tokenizer.json"),
        tok.replace("\"lowercase\":true", "\"lowercase\":false"),
    )
    .unwrap();
    let out = run_splade(
        dir,
        &[
            "search",
            "law",
            "--index",
            "idx",
            "--model",
            other.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not the model the index was built with"),
        "{}",
        stderr(&out)
    );
    let out = run_splade(dir, &["search", "law", "--index", "nothing-here"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nothing-here"), "{}", stderr(&out));
    // -k 0 is valid and prints nothing.
    assert_eq!(ok(dir, &["search", "law", "--index", "idx", "-k", "0"]), "");
}

#[test]
fn search_output_survives_a_closed_pipe() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    ok(
        dir,
        &["index", "docs.jsonl", "--index", "idx", "--model", &model],
    );
    let script = format!(
        "'{}' search 'sparse search law hello' --index idx | head -1 >/dev/null; exit ${{PIPESTATUS[0]}}",
        splade_bin()
    );
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Files of an index directory that show a build in flight: temporary
/// files, or segment files the current `meta.json` does not reference.
fn in_flight(index: &std::path::Path) -> Vec<String> {
    let meta = std::fs::read_to_string(index.join("meta.json")).unwrap_or_default();
    std::fs::read_dir(index)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.ends_with(".tmp") || (n.starts_with("seg-") && !meta.contains(n.as_str()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Kills a build replacing an index: once while it encodes, then four
/// times once its files are on disk (at the first one, then a little
/// later). Each kill must leave the old index (or, when the build committed
/// first, the new one); and kills must land mid-build (the build's files on
/// disk at the kill, the old index answering afterwards), or the test would
/// check nothing: a build that finishes before its kill proves nothing.
#[test]
fn killed_build_leaves_the_previous_index_readable() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    let old = ["index", "docs.jsonl", "--index", "idx", "--model", &model];
    ok(dir, &old);
    let before = ok(dir, &["search", "sparse search", "--index", "idx"]);
    let big: String = (0..20000)
        .map(|i| format!("{{\"id\":\"n{i}\",\"text\":\"rust law sparse {i}\"}}\n"))
        .collect();
    std::fs::write(dir.join("big.jsonl"), big).unwrap();
    let build = |index: &str| {
        Command::new(splade_bin())
            .args(["index", "big.jsonl", "--model", &model, "-q"])
            .args(["--memory-budget", "1", "--index", index])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The whole build, into another directory: its duration and answer.
    let started = Instant::now();
    assert!(build("full").wait().unwrap().success());
    let full = started.elapsed();
    let after = ok(dir, &["search", "sparse search", "--index", "full"]);
    assert_ne!(before, after);
    // (wait for the build's files first, then this fraction of a build)
    let kills = [
        (false, 0.1),
        (true, 0.0),
        (true, 0.02),
        (true, 0.05),
        (true, 0.1),
    ];
    let (mut landed, mut committed) = (0, 0);
    for (wait_for_files, f) in kills {
        // The previous kill's leftovers go first, so that files seen at
        // this kill are this build's.
        for name in in_flight(&dir.join("idx")) {
            std::fs::remove_file(dir.join("idx").join(name)).unwrap();
        }
        let mut child = build("idx");
        while wait_for_files
            && in_flight(&dir.join("idx")).is_empty()
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(full.mul_f64(f));
        let files = in_flight(&dir.join("idx"));
        child.kill().unwrap(); // SIGKILL
        let finished = child.wait().unwrap().success();
        ok(dir, &["verify", "--index", "idx"]);
        let now = ok(dir, &["search", "sparse search", "--index", "idx"]);
        if now == after {
            // Committed before the kill: back to the old index.
            committed += 1;
            std::fs::remove_dir_all(dir.join("idx")).unwrap();
            ok(dir, &old);
            continue;
        }
        assert_eq!(now, before, "after a kill at {f} of {full:?}");
        if !finished && !files.is_empty() {
            landed += 1;
        }
    }
    eprintln!(
        "killed build: {landed} of {} kills landed mid-build (build files on disk, old index \
         answering after), {committed} after the commit, over a {full:?} build",
        kills.len()
    );
    assert!(landed >= 2, "{landed} kills landed mid-build");
}

#[test]
#[cfg_attr(not(splade_shared), ignore = "needs ../shared")]
fn eval_of_the_reference_run_gives_the_reference_metrics() {
    let (qrels, run, metrics) = (
        shared_file("data/cranfield/qrels.tsv"),
        shared_file("reference/runs/cranfield.trec"),
        shared_file("reference/metrics.json"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(
        tmp.path(),
        &[
            "eval",
            "--qrels",
            qrels.to_str().unwrap(),
            "--run",
            run.to_str().unwrap(),
            "--json",
        ],
    );
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(metrics).unwrap()).unwrap();
    let want = &want["cranfield"]["splade_tiny"];
    for key in ["nDCG@10", "RR@10", "R@100"] {
        let (g, w) = (
            got["mean"][key].as_f64().unwrap(),
            want[key].as_f64().unwrap(),
        );
        assert!((g - w).abs() < 5e-4, "{key}: {g} vs {w}");
    }
}

/// The acceptance check on the smallest collection: index with the real
/// model through the CLI, then eval; nDCG@10 within 0.002 of the reference.
#[test]
#[cfg_attr(
    not(all(splade_real_model, splade_shared)),
    ignore = "needs the real model (SPLADE_TEST_MODEL or ../shared) and ../shared"
)]
fn real_model_cranfield_matches_reference_ndcg() {
    let (model, data, metrics) = (
        real_model(),
        shared_file("data/cranfield"),
        shared_file("reference/metrics.json"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (m, d) = (model.to_str().unwrap(), data.to_str().unwrap());
    ok(
        dir,
        &[
            "index",
            &format!("{d}/corpus.jsonl"),
            "--index",
            "idx",
            "--model",
            m,
            "-q",
        ],
    );
    let out = ok(
        dir,
        &[
            "eval",
            "--index",
            "idx",
            "--queries",
            &format!("{d}/queries.jsonl"),
            "--qrels",
            &format!("{d}/qrels.tsv"),
            "--json",
            "-q",
        ],
    );
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(metrics).unwrap()).unwrap();
    let (g, w) = (
        got["mean"]["nDCG@10"].as_f64().unwrap(),
        want["cranfield"]["splade_tiny"]["nDCG@10"]
            .as_f64()
            .unwrap(),
    );
    assert!((g - w).abs() <= 0.002, "nDCG@10 {g} vs reference {w}");
}
