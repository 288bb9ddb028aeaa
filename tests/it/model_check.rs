//! The model an index records is the model that encodes its queries:
//! weights included in the fingerprint, the encoding settings recorded and
//! enforced.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::fixtures::{fails, jsonl, ok, splade_bin, stderr, with_docs};
use crate::model_errors::{map_values, rewrite_weights};

const DOCS: &str = "{\"id\":\"d1\",\"title\":\"Rust\",\"text\":\"rust sparse search index\"}\n\
{\"id\":\"d2\",\"text\":\"the law of implied warranty\"}\n\
{\"id\":\"d3\",\"text\":\"hello world, a common query\"}\n\
{\"id\":\"d4\",\"text\":\"sparse vector model for document search\"}\n\
{\"id\":\"d5\",\"text\":\"common law search\"}\n";

/// A "fine-tune" of `from`: one weight of one middle layer nudged, so the
/// file has the same size, tensor names, shapes and offsets.
fn fine_tune(from: &Path, to: &Path) {
    rewrite_weights(from, to, |name, t| {
        if name == "bert.encoder.layer.1.intermediate.dense.weight" {
            map_values(t, |i, x| if i == 37 { x + 0.25 } else { x })
        } else {
            t
        }
    });
}

#[test]
fn a_fine_tune_with_the_same_config_and_tokenizer_is_another_model() {
    let (tmp, model) = with_docs(DOCS);
    let dir = tmp.path();
    ok(
        dir,
        &["index", "docs.jsonl", "--index", "idx", "--model", &model],
    );
    let tuned = dir.join("tuned");
    fine_tune(Path::new(&model), &tuned);
    let original = std::fs::read(Path::new(&model).join("model.safetensors")).unwrap();
    let changed = std::fs::read(tuned.join("model.safetensors")).unwrap();
    assert_eq!(original.len(), changed.len());
    assert_ne!(original, changed);
    let tuned = tuned.to_str().unwrap();
    // Queries are encoded by the index's model: another one is refused.
    for args in [
        &["search", "law", "--index", "idx", "--model", tuned][..],
        &["explain", "law", "d2", "--index", "idx", "--model", tuned],
        &[
            "index",
            "--append",
            "docs.jsonl",
            "--upsert",
            "--index",
            "idx",
            "--model",
            tuned,
        ],
    ] {
        let err = fails(dir, args);
        assert!(
            err.contains("not the model the index was built with"),
            "{args:?}: {err}"
        );
    }
    ok(dir, &["search", "law", "--index", "idx", "--model", &model]);
    // The recorded folder, overwritten in place by the fine-tune.
    std::fs::copy(
        Path::new(tuned).join("model.safetensors"),
        Path::new(&model).join("model.safetensors"),
    )
    .unwrap();
    let err = fails(dir, &["search", "law", "--index", "idx"]);
    assert!(
        err.contains("is not the model the index was built with"),
        "{err}"
    );
}

/// Runs `splade` with `HF_HOME` set (offline).
fn run_hub(cwd: &Path, hf_home: &Path, args: &[&str]) -> Output {
    Command::new(splade_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("SPLADE_MODEL")
        .env_remove("SPLADE_INDEX")
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", hf_home)
        .stdin(Stdio::null())
        .output()
        .expect("spawn splade")
}

/// Lays out `model` as the hub cache does: snapshot files are symlinks to
/// blobs named by their hash; `weights_blob` names the weights' blob.
fn hub_cache(hf_home: &Path, model: &Path, weights_blob: &str) {
    let repo = hf_home.join("hub/models--someone--tiny");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    for (file, blob) in [
        ("config.json", "c0ffee01"),
        ("tokenizer.json", "c0ffee02"),
        ("model.safetensors", weights_blob),
    ] {
        let target = repo.join("blobs").join(blob);
        std::fs::copy(model.join(file), &target).unwrap();
        let link = snap.join(file);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("../../blobs/{blob}"), &link).unwrap();
    }
}

#[test]
fn a_hub_model_is_known_by_its_weights_blob() {
    let (tmp, model) = with_docs(DOCS);
    let dir = tmp.path();
    let home = dir.join("hf");
    let a = "a".repeat(64);
    hub_cache(&home, Path::new(&model), &a);
    let out = run_hub(
        dir,
        &home,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--model",
            "someone/tiny",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::read_to_string(dir.join("idx/meta.json")).unwrap();
    assert!(
        meta.contains(&a),
        "the blob hash is the weights' fingerprint: {meta}"
    );
    let out = run_hub(dir, &home, &["search", "law", "--index", "idx"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A new revision of the weights: same config and tokenizer.
    let tuned = dir.join("tuned");
    fine_tune(Path::new(&model), &tuned);
    hub_cache(&home, &tuned, &"b".repeat(64));
    let out = run_hub(dir, &home, &["search", "law", "--index", "idx"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not the model the index was built with"),
        "{}",
        stderr(&out)
    );
}

/// The `model` object of an index's meta.json.
fn recorded(dir: &Path, index: &str) -> serde_json::Value {
    let meta = std::fs::read_to_string(dir.join(index).join("meta.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&meta).unwrap()["model"].clone()
}

#[test]
fn encoding_settings_are_recorded_and_contradicting_flags_refused() {
    let (tmp, model) = with_docs(DOCS);
    let dir = tmp.path();
    let base = ["--model", model.as_str(), "--quantization", "f32"];
    ok(
        dir,
        &[
            &[
                "index",
                "docs.jsonl",
                "--index",
                "short",
                "--max-length",
                "8",
            ][..],
            &base,
        ]
        .concat(),
    );
    let m = recorded(dir, "short");
    assert_eq!(m["max_length"], 8, "{m}");
    let info: serde_json::Value =
        serde_json::from_str(&ok(dir, &["info", "--index", "short", "--json"])).unwrap();
    assert_eq!(info["model_max_length"], 8, "{info}");
    assert_eq!(info["model_precision"], "f32", "{info}");
    assert_eq!(m["precision"], "f32", "{m}");
    assert_eq!(
        m["long_docs"],
        serde_json::json!({"mode": "truncate"}),
        "{m}"
    );
    ok(
        dir,
        &[
            &[
                "index",
                "docs.jsonl",
                "--index",
                "win",
                "--long-docs",
                "window",
            ][..],
            &["--window", "12", "--stride", "4"],
            &base,
        ]
        .concat(),
    );
    let m = recorded(dir, "win");
    assert_eq!(m["max_length"], 32, "the model's maximum: {m}");
    assert_eq!(
        m["long_docs"],
        serde_json::json!({"mode": "window", "window": 12, "stride": 4}),
        "{m}"
    );

    for (index, flags, named) in [
        ("short", &["--max-length", "16"][..], "--max-length"),
        ("short", &["--precision", "bf16"], "--precision"),
        ("short", &["--long-docs", "window"], "--long-docs"),
        ("win", &["--long-docs", "truncate"], "--long-docs"),
        ("win", &["--window", "16"], "--window"),
        ("win", &["--stride", "2"], "--stride"),
        ("win", &["--max-length", "16"], "--max-length"),
    ] {
        for command in [
            &["search", "law", "--index", index][..],
            &["explain", "law", "d2", "--index", index],
        ] {
            let err = fails(dir, &[command, flags].concat());
            assert!(
                err.contains(named) && err.contains("the index was encoded with"),
                "{command:?} {flags:?}: {err}"
            );
        }
    }
    // Flags that agree with the record are accepted.
    ok(
        dir,
        &["search", "law", "--index", "short", "--max-length", "8"],
    );
    ok(
        dir,
        &[
            "search",
            "law",
            "--index",
            "win",
            "--long-docs",
            "window",
            "--window",
            "12",
            "--stride",
            "4",
            "--precision",
            "f32",
        ],
    );
}

#[test]
fn int8_makes_the_f32_vectors_and_agrees_with_an_f32_index() {
    let (tmp, model) = with_docs(DOCS);
    let dir = tmp.path();
    let enc = |precision: &str| {
        ok(
            dir,
            &[
                "encode",
                "docs.jsonl",
                "--model",
                &model,
                "--precision",
                precision,
            ],
        )
    };
    let (f32_out, int8_out) = (enc("f32"), enc("int8"));
    assert!(f32_out.lines().count() > 1);
    assert_eq!(
        f32_out, int8_out,
        "int8 vectors are the f32 vectors, byte for byte"
    );
    ok(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "i8",
            "--model",
            &model,
            "--precision",
            "int8",
        ],
    );
    assert_eq!(
        recorded(dir, "i8")["precision"],
        "f32",
        "int8 records f32 vectors"
    );
    // Queries on it: either precision, and the same hits.
    let search = |precision: &str| {
        ok(
            dir,
            &[
                "search",
                "law",
                "--index",
                "i8",
                "--mode",
                "splade",
                "--precision",
                precision,
            ],
        )
    };
    let hits = search("int8");
    assert!(!hits.is_empty());
    assert_eq!(hits, search("f32"));
}

/// `{token: weight}` of each line of `splade encode` output, by id.
fn encoded(out: &str) -> HashMap<String, HashMap<String, f64>> {
    jsonl(out)
        .into_iter()
        .map(|v| {
            let vector = v["vector"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(t, w)| (t.clone(), w.as_f64().unwrap()))
                .collect();
            (v["id"].as_str().unwrap().to_owned(), vector)
        })
        .collect()
}

fn dot(a: &HashMap<String, f64>, b: &HashMap<String, f64>) -> f64 {
    a.iter().filter_map(|(t, w)| Some(w * b.get(t)?)).sum()
}

#[test]
fn queries_are_encoded_with_the_recorded_max_length() {
    let (tmp, model) = with_docs(DOCS);
    let dir = tmp.path();
    let long = "the law of implied warranty is a common law search index for sparse vector \
                model query document hello world";
    std::fs::write(
        dir.join("q.jsonl"),
        format!("{{\"id\":\"q\",\"text\":\"{long}\"}}\n"),
    )
    .unwrap();
    ok(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--model",
            &model,
            "--max-length",
            "8",
            "--quantization",
            "f32",
        ],
    );
    let docs = encoded(&ok(
        dir,
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "--max-length",
            "8",
        ],
    ));
    let q8 = &encoded(&ok(
        dir,
        &["encode", "q.jsonl", "--model", &model, "--max-length", "8"],
    ))["q"];
    let q32 = &encoded(&ok(dir, &["encode", "q.jsonl", "--model", &model]))["q"];
    let hits = jsonl(&ok(dir, &["search", long, "--index", "idx", "-k", "5"]));
    assert!(!hits.is_empty());
    let mut differs = false;
    for hit in &hits {
        let doc = &docs[hit["id"].as_str().unwrap()];
        let score = hit["score"].as_f64().unwrap();
        let (at8, at32) = (dot(q8, doc), dot(q32, doc));
        assert!(
            (score - at8).abs() <= 1e-4 * at8.max(1.0),
            "{hit}: {score} is not the max-length-8 query's {at8} (max length 32: {at32})"
        );
        differs |= (at8 - at32).abs() > 1e-3;
    }
    assert!(differs, "the two query lengths must give different scores");
}

#[test]
fn older_model_records_still_parse_and_record_no_settings() {
    // `model` as indexes wrote it before the weights and the encoding
    // settings were recorded.
    let old: splade::ModelInfo = serde_json::from_str(
        r#"{"id": "rasyosef/splade-mini", "revision": "main", "fingerprint": "crc32:0a0b0c0d01020304"}"#,
    )
    .unwrap();
    // No weights stamp: written back, the record has none either.
    let again = serde_json::to_value(&old).unwrap();
    assert!(again.get("weights_file").is_none(), "{again}");
    assert_eq!(old.max_length, None);
    assert_eq!(old.precision, None);
    assert_eq!(old.long_docs, None);
    // And what is written now reads back.
    let mut now = old.clone();
    now.max_length = Some(256);
    now.precision = Some(splade::Precision::Bf16);
    now.long_docs = Some(splade::LongDocs::Window {
        window: 256,
        stride: 64,
    });
    let json = serde_json::to_string(&now).unwrap();
    assert!(json.contains(r#""precision":"bf16""#), "{json}");
    assert!(
        json.contains(r#""long_docs":{"mode":"window","window":256,"stride":64}"#),
        "{json}"
    );
    assert_eq!(
        serde_json::from_str::<splade::ModelInfo>(&json).unwrap(),
        now
    );
}
