//! The bad-input catalogue, one test each, through the binary with the tiny
//! model. Cases covered elsewhere: a bad line in `encode` input
//! (`cli_encode`), duplicate ids and a missing field in `index` input, an
//! index built with another model, `search -k 0` (`cli_index`), a missing
//! model folder (`cli_encode`), a full disk (`reliability`).

use std::path::Path;

use crate::fixtures::{Style, jsonl, ok, run_splade, stderr, stdout, write_tiny_model};

const DOCS: &str = "{\"id\":\"d1\",\"title\":\"Rust\",\"text\":\"rust sparse search index\"}\n\
{\"id\":\"d2\",\"text\":\"the law of implied warranty\"}\n\
{\"id\":\"d3\",\"text\":\"hello world, a common query\"}\n";

/// A temp dir with the tiny model (`model/`), `docs.jsonl`, and an index of
/// it in `idx`; returns the dir, the model path and the answer to
/// "sparse law hello" on `idx`.
fn setup() -> (tempfile::TempDir, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    write_tiny_model(&model, Style::default(), None, None);
    let model = model.to_str().unwrap().to_owned();
    std::fs::write(tmp.path().join("docs.jsonl"), DOCS).unwrap();
    ok(
        tmp.path(),
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--model",
            &model,
            "-q",
        ],
    );
    let before = ok(
        tmp.path(),
        &["search", "sparse law hello", "--index", "idx"],
    );
    (tmp, model, before)
}

/// Runs splade expecting exit 2 and `want` in the message; returns stderr.
fn fails(dir: &Path, args: &[&str], want: &str) -> String {
    let err = crate::fixtures::fails(dir, args);
    assert!(err.contains(want), "want {want:?} in {err:?}");
    err
}

/// Indexing `input` into `idx` fails with `want` and leaves `idx` as it was.
fn index_refused(dir: &Path, model: &str, before: &str, input: &[u8], want: &str) {
    std::fs::write(dir.join("bad.jsonl"), input).unwrap();
    fails(
        dir,
        &["index", "bad.jsonl", "--index", "idx", "--model", model],
        want,
    );
    assert_eq!(
        ok(dir, &["search", "sparse law hello", "--index", "idx"]),
        before
    );
    ok(dir, &["verify", "--index", "idx"]);
}

#[test]
fn invalid_json_names_the_line_and_keeps_the_index() {
    let (tmp, model, before) = setup();
    for (input, want) in [
        (
            &b"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\",\"text\":\"y\"\n"[..],
            "bad.jsonl:2: invalid JSON",
        ),
        (
            b"{\"id\":\"a\",\"text\":\"x\"}\n[1, 2]\n",
            "bad.jsonl:2: expected a JSON object",
        ),
        (
            b"{\"id\":\"a\",\"text\":\"x\"} trailing\n",
            "bad.jsonl:1: invalid JSON",
        ),
    ] {
        index_refused(tmp.path(), &model, &before, input, want);
    }
}

#[test]
fn missing_and_empty_fields() {
    let (tmp, model, before) = setup();
    let dir = tmp.path();
    index_refused(
        dir,
        &model,
        &before,
        b"{\"text\":\"x\"}\n",
        "bad.jsonl:1: missing field \"id\"",
    );
    index_refused(
        dir,
        &model,
        &before,
        b"{\"id\":\"\",\"text\":\"x\"}\n",
        "bad.jsonl:1: empty field \"id\"",
    );
    // An empty text or title is a document without words, not an error.
    std::fs::write(
        dir.join("empty.jsonl"),
        "{\"id\":\"e1\",\"text\":\"\"}\n{\"id\":\"e2\",\"title\":\"\",\"text\":\"law\"}\n",
    )
    .unwrap();
    ok(
        dir,
        &[
            "index",
            "empty.jsonl",
            "--index",
            "e",
            "--model",
            &model,
            "-q",
            "--store",
        ],
    );
    let hits = jsonl(&ok(dir, &["search", "law", "--index", "e", "--show"]));
    let e2 = hits.iter().find(|h| h["id"] == "e2").expect("e2 is found");
    assert!(e2["title"].is_null(), "an empty title is no title: {e2}");
}

#[test]
fn wrong_types_name_the_field() {
    let (tmp, model, before) = setup();
    for (input, want) in [
        (
            &b"{\"id\":[1],\"text\":\"x\"}\n"[..],
            "bad.jsonl:1: field \"id\" is an array",
        ),
        (
            b"{\"id\":true,\"text\":\"x\"}\n",
            "bad.jsonl:1: field \"id\" is a boolean",
        ),
        (
            b"{\"id\":\"a\",\"text\":5}\n",
            "bad.jsonl:1: field \"text\" is a number",
        ),
        (
            b"{\"id\":\"a\",\"text\":\"x\",\"title\":{}}\n",
            "bad.jsonl:1: field \"title\" is an object",
        ),
    ] {
        index_refused(tmp.path(), &model, &before, input, want);
    }
    // Numeric ids are ids.
    let dir = tmp.path();
    std::fs::write(dir.join("num.jsonl"), "{\"id\":42,\"text\":\"law\"}\n").unwrap();
    ok(
        dir,
        &[
            "index",
            "num.jsonl",
            "--index",
            "n",
            "--model",
            &model,
            "-q",
        ],
    );
    assert_eq!(
        jsonl(&ok(dir, &["search", "law", "--index", "n"]))[0]["id"],
        "42"
    );
}

#[test]
fn invalid_utf8_in_documents_queries_and_vectors() {
    let (tmp, model, before) = setup();
    let dir = tmp.path();
    index_refused(
        dir,
        &model,
        &before,
        b"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\",\"text\":\"\xff\xfe\"}\n",
        "bad.jsonl:2: invalid UTF-8",
    );
    std::fs::write(dir.join("q.tsv"), b"q1\tlaw\nq2\t\xc3\x28\n").unwrap();
    fails(
        dir,
        &["search", "--queries", "q.tsv", "--index", "idx"],
        "q.tsv:2: invalid UTF-8",
    );
    std::fs::write(
        dir.join("v.jsonl"),
        b"{\"id\":\"a\",\"vector\":{\"\xff\":1}}\n",
    )
    .unwrap();
    fails(
        dir,
        &["index", "--vectors", "v.jsonl", "--index", "v"],
        "v.jsonl:1: invalid UTF-8",
    );
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let (tmp, model, _) = setup();
    let dir = tmp.path();
    std::fs::write(dir.join("bom.jsonl"), format!("\u{feff}{DOCS}")).unwrap();
    ok(
        dir,
        &[
            "index",
            "bom.jsonl",
            "--index",
            "b",
            "--model",
            &model,
            "-q",
        ],
    );
    let ids: Vec<String> = jsonl(&ok(
        dir,
        &["search", "rust law hello", "--index", "b", "-k", "3"],
    ))
    .iter()
    .map(|h| h["id"].as_str().unwrap().to_owned())
    .collect();
    assert!(ids.contains(&"d1".to_owned()), "{ids:?}");
    std::fs::write(dir.join("q.tsv"), "\u{feff}q1\tlaw\n").unwrap();
    let run = ok(
        dir,
        &[
            "search",
            "--queries",
            "q.tsv",
            "--index",
            "b",
            "--format",
            "tsv",
        ],
    );
    assert!(run.starts_with("q1\t"), "{run:?}");
    let vectors = ok(dir, &["encode", "docs.jsonl", "--model", &model]);
    std::fs::write(dir.join("v.jsonl"), format!("\u{feff}{vectors}")).unwrap();
    ok(
        dir,
        &["index", "--vectors", "v.jsonl", "--index", "v", "-q"],
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(dir, &["info", "--index", "v", "--json"])).unwrap();
    assert_eq!(v["docs"], 3);
}

#[test]
fn crlf_line_ends_are_accepted() {
    let (tmp, model, _) = setup();
    let dir = tmp.path();
    std::fs::write(dir.join("crlf.jsonl"), DOCS.replace('\n', "\r\n")).unwrap();
    ok(
        dir,
        &[
            "index",
            "crlf.jsonl",
            "--index",
            "c",
            "--model",
            &model,
            "-q",
            "--store",
        ],
    );
    let ids = ok(dir, &["search", "rust law hello", "--index", "c", "--show"]);
    assert!(
        !ids.contains("\\r"),
        "no carriage return in ids or texts: {ids}"
    );
    std::fs::write(dir.join("q.tsv"), "q1\tlaw\r\nq2\thello\r\n").unwrap();
    let run = ok(
        dir,
        &[
            "search",
            "--queries",
            "q.tsv",
            "--index",
            "c",
            "--format",
            "trec",
        ],
    );
    assert!(!run.contains('\r'), "{run:?}");
    assert!(run.lines().any(|l| l.starts_with("q2 Q0 ")), "{run}");
    let vectors = ok(dir, &["encode", "docs.jsonl", "--model", &model]);
    std::fs::write(dir.join("v.jsonl"), vectors.replace('\n', "\r\n")).unwrap();
    ok(
        dir,
        &["index", "--vectors", "v.jsonl", "--index", "v", "-q"],
    );
}

#[test]
fn blank_lines_are_skipped_and_lines_still_counted() {
    let (tmp, model, before) = setup();
    let dir = tmp.path();
    let input = "\n{\"id\":\"a\",\"text\":\"law\"}\n   \n\t\n{\"id\":\"b\"}\n";
    index_refused(
        dir,
        &model,
        &before,
        input.as_bytes(),
        "bad.jsonl:5: missing field \"text\"",
    );
    std::fs::write(
        dir.join("ok.jsonl"),
        "\n\n{\"id\":\"a\",\"text\":\"law\"}\n\n",
    )
    .unwrap();
    ok(
        dir,
        &["index", "ok.jsonl", "--index", "k", "--model", &model, "-q"],
    );
    std::fs::write(dir.join("q.tsv"), "\nq1\tlaw\n\n").unwrap();
    let run = ok(
        dir,
        &[
            "search",
            "--queries",
            "q.tsv",
            "--index",
            "k",
            "--format",
            "tsv",
        ],
    );
    assert_eq!(run.lines().count(), 1, "{run}");
}

/// A 100 MB line: handled (its first `max_length` tokens are what counts)
/// within bounded memory. Before the encoder tokenized a growing prefix,
/// one 98 MB document took 97 s and 6.8 GB peak RSS with splade-tiny.
#[test]
fn a_hundred_megabyte_line() {
    let (tmp, model, _) = setup();
    let dir = tmp.path();
    let words = ["rust", "law", "sparse", "hello", "world"];
    let mut text = String::with_capacity(100 << 20);
    let mut i = 0;
    while text.len() < 100 << 20 {
        text.push_str(words[i % 5]);
        text.push(' ');
        i += 1;
    }
    let head: String = text.split(' ').take(100).collect::<Vec<_>>().join(" ");
    std::fs::write(
        dir.join("big.jsonl"),
        format!(
            "{{\"id\":\"big\",\"text\":\"{text}\"}}\n{{\"id\":\"head\",\"text\":\"{head}\"}}\n"
        ),
    )
    .unwrap();
    drop(text);
    // Peak memory through /usr/bin/time where it exists (Debian's `time`).
    let timed = std::path::Path::new("/usr/bin/time").exists();
    let mut cmd = if timed {
        let mut c = std::process::Command::new("/usr/bin/time");
        c.args(["-f", "%M"]).arg(crate::fixtures::splade_bin());
        c
    } else {
        eprintln!("no /usr/bin/time: peak memory of the 100 MB line not checked");
        std::process::Command::new(crate::fixtures::splade_bin())
    };
    let out = cmd
        .args(["encode", "big.jsonl", "--model", &model, "-q"])
        .current_dir(dir)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let got = jsonl(&stdout(&out));
    assert_eq!(
        got[0]["vector"], got[1]["vector"],
        "only the first tokens count"
    );
    if timed {
        let kb: u64 = err.trim().lines().last().unwrap().trim().parse().unwrap();
        assert!(kb < 1 << 20, "peak RSS {} MB for a 100 MB line", kb >> 10);
    }
}

#[test]
fn duplicate_ids_in_vectors_and_queries() {
    let (tmp, _, _) = setup();
    let dir = tmp.path();
    std::fs::write(
        dir.join("v.jsonl"),
        "{\"id\":\"a\",\"vector\":{\"law\":1}}\n{\"id\":\"a\",\"vector\":{\"rust\":1}}\n",
    )
    .unwrap();
    fails(
        dir,
        &["index", "--vectors", "v.jsonl", "--index", "v"],
        "duplicate document id `a`",
    );
    // Repeated query ids are answered in order, each in full.
    std::fs::write(dir.join("q.tsv"), "q\tlaw\nq\thello\n").unwrap();
    let run = ok(
        dir,
        &[
            "search",
            "--queries",
            "q.tsv",
            "--index",
            "idx",
            "--format",
            "tsv",
            "-k",
            "1",
        ],
    );
    assert_eq!(run.lines().count(), 2, "{run}");
}

#[test]
fn ids_with_tabs_and_newlines_keep_trec_and_tsv_columns() {
    let (tmp, model, _) = setup();
    let dir = tmp.path();
    std::fs::write(
        dir.join("odd.jsonl"),
        "{\"id\":\"a\\tb\",\"text\":\"law rust\"}\n{\"id\":\"c\\nd\",\"text\":\"law hello\"}\n\
         {\"id\":\"e f\",\"text\":\"law sparse\"}\n{\"id\":\" \",\"text\":\"law\"}\n",
    )
    .unwrap();
    ok(
        dir,
        &[
            "index",
            "odd.jsonl",
            "--index",
            "o",
            "--model",
            &model,
            "-q",
        ],
    );
    std::fs::write(
        dir.join("q.jsonl"),
        "{\"id\":\"q\\t1\",\"text\":\"law\"}\n{\"id\":\"q\\n2\",\"text\":\"law\"}\n",
    )
    .unwrap();
    let trec = ok(
        dir,
        &[
            "search",
            "--queries",
            "q.jsonl",
            "--index",
            "o",
            "--format",
            "trec",
        ],
    );
    assert_eq!(trec.lines().count(), 8, "{trec}");
    for line in trec.lines() {
        assert_eq!(line.split(' ').count(), 6, "TREC line {line:?}");
        assert!(!line.contains('\t'), "{line:?}");
    }
    let tsv = ok(
        dir,
        &[
            "search",
            "--queries",
            "q.jsonl",
            "--index",
            "o",
            "--format",
            "tsv",
        ],
    );
    assert_eq!(tsv.lines().count(), 8, "{tsv}");
    assert!(tsv.lines().all(|l| l.split('\t').count() == 4), "{tsv}");
    // JSON Lines keep the ids as they are.
    let ids: Vec<String> = jsonl(&ok(dir, &["search", "law", "--index", "o"]))
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.contains(&"a\tb".to_owned()) && ids.contains(&"c\nd".to_owned()),
        "{ids:?}"
    );
}

#[test]
fn a_query_without_known_tokens() {
    let (tmp, _, _) = setup();
    let dir = tmp.path();
    for q in ["zzqqxx ☃ ¿¿", "", "   ", "[SEP] [CLS] [PAD]"] {
        let out = ok(dir, &["search", q, "--index", "idx"]);
        for h in jsonl(&out) {
            assert!(h["score"].as_f64().unwrap() > 0.0, "{q:?}: {h}");
        }
    }
}

#[test]
fn an_empty_corpus_is_an_empty_index() {
    let (tmp, model, _) = setup();
    let dir = tmp.path();
    std::fs::write(dir.join("none.jsonl"), "\n\n").unwrap();
    ok(
        dir,
        &[
            "index",
            "none.jsonl",
            "--index",
            "z",
            "--model",
            &model,
            "-q",
        ],
    );
    ok(dir, &["verify", "--index", "z"]);
    let info: serde_json::Value =
        serde_json::from_str(&ok(dir, &["info", "--index", "z", "--json"])).unwrap();
    assert_eq!(info["docs"], 0);
    assert_eq!(ok(dir, &["search", "law", "--index", "z"]), "");
    std::fs::write(dir.join("empty.jsonl"), "").unwrap();
    ok(
        dir,
        &["index", "--vectors", "empty.jsonl", "--index", "zv", "-q"],
    );
    ok(dir, &["verify", "--index", "zv"]);
}

#[test]
fn k_zero_in_batch_search() {
    let (tmp, _, _) = setup();
    let dir = tmp.path();
    std::fs::write(dir.join("q.tsv"), "q1\tlaw\nq2\thello\n").unwrap();
    for format in ["jsonl", "trec", "tsv"] {
        let out = ok(
            dir,
            &[
                "search",
                "--queries",
                "q.tsv",
                "--index",
                "idx",
                "-k",
                "0",
                "--format",
                format,
            ],
        );
        assert_eq!(out, "", "{format}");
    }
}

#[test]
fn an_index_from_a_newer_format_version_is_refused() {
    let (tmp, _, _) = setup();
    let dir = tmp.path();
    let meta_path = dir.join("idx/meta.json");
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&meta).unwrap();
    let current = v["format_version"].as_u64().unwrap();
    let newer = meta.replace(
        &format!("\"format_version\": {current}"),
        &format!("\"format_version\": {}", current + 1),
    );
    assert_ne!(newer, meta);
    // A newer version may change any other field too.
    std::fs::write(&meta_path, newer.replace("\"segments\"", "\"parts\"")).unwrap();
    let err = fails(
        dir,
        &["search", "law", "--index", "idx"],
        "newer than this splade supports",
    );
    assert!(
        err.contains("meta.json") && err.contains("upgrade splade"),
        "{err}"
    );
    let out = run_splade(dir, &["verify", "--index", "idx"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("newer than this splade supports"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_or_unreadable_model_files() {
    let (tmp, model, _) = setup();
    let dir = tmp.path();
    let m = Path::new(&model);
    let copy = |name: &str| {
        let d = dir.join(name);
        write_tiny_model(&d, Style::default(), None, None);
        d
    };
    let no_weights = copy("no-weights");
    std::fs::remove_file(no_weights.join("model.safetensors")).unwrap();
    let tok_dir = copy("tok-dir");
    std::fs::remove_file(tok_dir.join("tokenizer.json")).unwrap();
    std::fs::create_dir(tok_dir.join("tokenizer.json")).unwrap();
    let garbage = copy("garbage");
    std::fs::write(
        garbage.join("model.safetensors"),
        b"not a safetensors file at all",
    )
    .unwrap();
    let truncated = copy("truncated");
    let w = std::fs::read(m.join("model.safetensors")).unwrap();
    std::fs::write(truncated.join("model.safetensors"), &w[..w.len() / 2]).unwrap();
    let bad_config = copy("bad-config");
    std::fs::write(
        bad_config.join("config.json"),
        "{\"hidden_size\": \"eight\"}",
    )
    .unwrap();
    for (folder, file) in [
        (&no_weights, "model.safetensors"),
        (&tok_dir, "tokenizer.json"),
        (&garbage, "model.safetensors"),
        (&truncated, "model.safetensors"),
        (&bad_config, "config.json"),
    ] {
        let f = folder.to_str().unwrap();
        fails(
            dir,
            &["index", "docs.jsonl", "--index", "new", "--model", f],
            file,
        );
        assert!(!dir.join("new/meta.json").exists());
    }
    // The model recorded in an index has gone: search says so.
    let moved = dir.join("moved");
    std::fs::rename(m, &moved).unwrap();
    fails(dir, &["search", "law", "--index", "idx"], "pass --model");
    let again = ok(
        dir,
        &[
            "search",
            "law",
            "--index",
            "idx",
            "--model",
            moved.to_str().unwrap(),
        ],
    );
    assert!(!again.is_empty());
}
