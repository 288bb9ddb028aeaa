//! `splade encode` through the real binary.

use std::path::Path;

use crate::fixtures::{
    Style, jsonl, real_model, run_splade, shared_file, splade_bin, stderr, stdout, write_tiny_model,
};

fn tiny(dir: &Path) -> String {
    let model = dir.join("model");
    write_tiny_model(
        &model,
        Style {
            gamma_beta: true,
            ..Style::default()
        },
        None,
        None,
    );
    model.to_str().unwrap().to_owned()
}

#[test]
fn encodes_jsonl_in_input_order() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny(tmp.path());
    let docs = "{\"_id\":\"d1\",\"title\":\"Rust\",\"text\":\"sparse search\"}\n\
                {\"id\":\"d2\",\"text\":\"the law of implied warranty and a very long text the law the law\"}\n\
                {\"id\":3,\"contents\":\"\"}\n";
    std::fs::write(tmp.path().join("docs.jsonl"), docs).unwrap();
    let out = run_splade(
        tmp.path(),
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "--batch-size",
            "2",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let got = jsonl(&stdout(&out));
    let ids: Vec<&str> = got.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["d1", "d2", "3"]);
    for v in &got {
        let vector = v["vector"].as_object().unwrap();
        assert!(!vector.is_empty());
        assert!(vector.values().all(|w| w.as_f64().unwrap() > 0.0));
    }
}

#[test]
fn reads_stdin_and_plain_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny(tmp.path());
    let out = run_splade(
        tmp.path(),
        &["encode", "--lines", "--model", &model],
        b"hello world\nrust\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let got = jsonl(&stdout(&out));
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["id"], "2");
}

#[test]
fn bad_line_stops_with_file_and_line_and_keeps_earlier_output() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny(tmp.path());
    let cases: [(&[u8], &str); 4] = [
        (
            b"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\",\"text\":\n",
            "docs.jsonl:2: invalid JSON",
        ),
        (
            b"{\"id\":\"a\",\"text\":\"x\"}\n\n{\"id\":\"b\"}\n",
            "docs.jsonl:3: missing field \"text\"",
        ),
        (
            b"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\",\"text\":[1]}\n",
            "docs.jsonl:2: field \"text\" is an array",
        ),
        (
            b"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\",\"text\":\"\xc3\x28\"}\n",
            "docs.jsonl:2: invalid UTF-8",
        ),
    ];
    for (input, want) in cases {
        std::fs::write(tmp.path().join("docs.jsonl"), input).unwrap();
        let out = run_splade(
            tmp.path(),
            &["encode", "docs.jsonl", "--model", &model],
            b"",
        );
        assert_eq!(out.status.code(), Some(2), "{want}");
        assert!(
            stderr(&out).contains(want),
            "want {want:?} in {:?}",
            stderr(&out)
        );
        let got = jsonl(&stdout(&out));
        assert_eq!(
            got.len(),
            1,
            "only the good line before the bad one is written"
        );
        assert_eq!(got[0]["id"], "a");
    }
}

#[test]
fn skip_invalid_reports_and_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny(tmp.path());
    let input = "{\"id\":\"a\",\"text\":\"x\"}\nnope\n{\"id\":\"c\",\"text\":\"y\"}\n";
    let out = run_splade(
        tmp.path(),
        &["encode", "-", "--model", &model, "--skip-invalid"],
        input.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("<stdin>:2: invalid JSON"),
        "{}",
        stderr(&out)
    );
    let ids: Vec<String> = jsonl(&stdout(&out))
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["a", "c"]);
}

#[test]
fn missing_model_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_splade(
        tmp.path(),
        &["encode", "--model", "./nowhere"],
        b"{\"id\":\"a\",\"text\":\"x\"}\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nowhere") && stderr(&out).contains("no such model folder"),
        "{}",
        stderr(&out)
    );
    // A repo id with the hub unreachable (offline) says how to pass a folder.
    let out = run_splade(tmp.path(), &["encode", "--model", "nobody/no-model"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--model"), "{}", stderr(&out));
}

#[test]
fn broken_pipe_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny(tmp.path());
    let docs: String = (0..3000)
        .map(|i| format!("{{\"id\":\"{i}\",\"text\":\"rust sparse search {i}\"}}\n"))
        .collect();
    std::fs::write(tmp.path().join("docs.jsonl"), docs).unwrap();
    let script = format!(
        "'{}' encode docs.jsonl --model '{}' -q | head -1 > first.txt; exit ${{PIPESTATUS[0]}}",
        splade_bin(),
        model
    );
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(tmp.path())
        .status()
        .unwrap();
    assert!(status.success(), "splade exit status {status:?}");
    let first = std::fs::read_to_string(tmp.path().join("first.txt")).unwrap();
    assert_eq!(jsonl(&first)[0]["id"], "0");
}

#[test]
#[cfg_attr(
    not(all(splade_real_model, splade_shared)),
    ignore = "needs the real model (SPLADE_TEST_MODEL or ../shared) and ../shared"
)]
fn real_model_encodes_cranfield_head() {
    let (model, corpus) = (real_model(), shared_file("data/cranfield/corpus.jsonl"));
    let script = format!(
        "'{}' encode --model '{}' '{}' | head -3",
        splade_bin(),
        model.display(),
        corpus.display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let got = jsonl(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(got.len(), 3);
    assert_eq!(got[0]["id"], "1");
    assert!(got[0]["vector"].as_object().unwrap().len() > 20);
}
