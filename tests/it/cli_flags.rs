//! Exit codes and messages: `verify` tells damage (1) from errors (2);
//! library messages name no CLI flag (the CLI adds them); flags that would
//! be accepted and ignored are refused or warned about; a command waiting
//! on a terminal's stdin says so.

use std::path::Path;
use std::process::{Command, Stdio};

use splade::IndexError;
use splade::{Encoder, EncoderOptions, LongDocs, ModelSource, Precision};

use super::fixtures::{fails, ok, run_splade, splade_bin, stderr, with_docs};

const DOCS: &str = "{\"id\":\"d1\",\"title\":\"Rust\",\"text\":\"rust sparse search index\"}\n\
{\"id\":\"d2\",\"text\":\"the law of implied warranty\"}\n";

const VECTORS: &str = "{\"id\":\"v1\",\"vector\":{\"law\":1.5,\"rust\":0.5}}\n\
{\"id\":\"v2\",\"vector\":{\"sparse\":2.0}}\n";

/// A temp dir with the tiny model, `docs.jsonl`, `vectors.jsonl` and an
/// index `idx` of the documents (texts not stored).
fn setup() -> (tempfile::TempDir, String) {
    let (tmp, model) = with_docs(DOCS);
    std::fs::write(tmp.path().join("vectors.jsonl"), VECTORS).unwrap();
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
            // ignored_flags_are_refused appends vectors without texts.
            "--no-lexical",
        ],
    );
    (tmp, model)
}

/// Runs `splade` expecting exit 2 from a refused command line: clap's
/// `error: ...` or splade's `splade: ...`; returns stderr.
fn refused(dir: &Path, args: &[&str]) -> String {
    let out = run_splade(dir, args, b"");
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "splade {args:?} should fail: {err}"
    );
    assert!(
        err.starts_with("error: ") || err.starts_with("splade: "),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn exit_code(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = run_splade(dir, args, b"");
    (out.status.code(), stderr(&out))
}

#[test]
fn verify_exits_2_on_errors_and_1_on_damage() {
    let (tmp, _) = setup();
    let dir = tmp.path();
    // No index there: an error, not damage.
    let (code, err) = exit_code(dir, &["verify", "--index", "nothing-here"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("splade: ") && err.contains("not a splade index"),
        "{err}"
    );
    // meta.json cannot be read (it is a directory): an I/O error.
    std::fs::create_dir_all(dir.join("odd/meta.json")).unwrap();
    let (code, err) = exit_code(dir, &["verify", "--index", "odd"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("meta.json"), "{err}");
    // A flipped byte in a segment file, and a referenced file gone: damage.
    let idx = dir.join("idx");
    let segment = std::fs::read_dir(&idx)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pst"))
        .unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x10;
    std::fs::write(&segment, &flipped).unwrap();
    let (code, err) = exit_code(dir, &["verify", "--index", "idx"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(".pst"), "{err}");
    std::fs::remove_file(&segment).unwrap();
    let (code, err) = exit_code(dir, &["verify", "--index", "idx"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(".pst"), "{err}");
    std::fs::write(&segment, &bytes).unwrap();
    let (code, err) = exit_code(dir, &["verify", "--index", "idx"]);
    assert_eq!(code, Some(0), "{err}");
}

/// True when `text` names something that looks like a long flag.
fn names_a_flag(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || "(`'\"".contains(c))
        .any(|w| w.len() > 2 && w.starts_with("--") && w.as_bytes()[2].is_ascii_lowercase())
}

#[test]
fn library_errors_name_no_flags() {
    let (tmp, model) = with_docs(DOCS);
    let source = ModelSource::parse(&model, None);
    let window = EncoderOptions {
        long_docs: LongDocs::Window {
            window: 10,
            stride: 9,
        },
        ..EncoderOptions::default()
    };
    let err = Encoder::load(&source, &window)
        .err()
        .expect("stride too large");
    let text = err.to_string();
    assert!(text.contains("stride") && !names_a_flag(&text), "{text}");
    let bf16 = EncoderOptions {
        precision: Precision::Bf16,
        ..EncoderOptions::default()
    };
    // bf16 works where the CPU has AVX512_BF16; elsewhere it is an error.
    if let Err(err) = Encoder::load(&source, &bf16) {
        let text = err.to_string();
        assert!(text.contains("bf16") && !names_a_flag(&text), "{text}");
    }
    let exists = IndexError::IdExists {
        id: "d2".into(),
        origin: "more.jsonl:2".into(),
    };
    let unknown = IndexError::UnknownId {
        path: "idx".into(),
        ids: vec!["nope".into()],
    };
    let hub = splade::Error::Hub {
        repo: "nobody/no-model".into(),
        file: "config.json".into(),
        message: "offline".into(),
    };
    for text in [exists.to_string(), unknown.to_string(), hub.to_string()] {
        assert!(!names_a_flag(&text), "{text}");
    }
    // The CLI names the flags.
    let dir = tmp.path();
    let err = fails(
        dir,
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "--long-docs",
            "window",
            "--window",
            "10",
            "--stride",
            "9",
        ],
    );
    assert!(
        err.contains("--stride 9") && err.contains("--window 10"),
        "{err}"
    );
    let out = run_splade(
        dir,
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "--precision",
            "bf16",
        ],
        b"",
    );
    if !out.status.success() {
        assert!(
            stderr(&out).contains("--precision bf16"),
            "{}",
            stderr(&out)
        );
    }
    let err = fails(dir, &["encode", "docs.jsonl", "--model", "nobody/no-model"]);
    assert!(err.contains("--model"), "{err}");
    ok(
        dir,
        &[
            "index",
            "docs.jsonl",
            "--index",
            "idx",
            "--model",
            &model,
            "-q",
            // Vectors without texts are appended to it below.
            "--no-lexical",
        ],
    );
    std::fs::write(
        dir.join("more.jsonl"),
        "{\"id\":\"d2\",\"text\":\"again\"}\n",
    )
    .unwrap();
    let err = fails(dir, &["index", "--append", "more.jsonl", "--index", "idx"]);
    assert!(
        err.contains("already in the index") && err.contains("--upsert"),
        "{err}"
    );
    let err = fails(dir, &["delete", "nope", "--index", "idx"]);
    assert!(
        err.contains("nothing was deleted") && err.contains("--ignore-missing"),
        "{err}"
    );
}

#[test]
fn ignored_flags_are_refused() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    let vectors = ["index", "--vectors", "vectors.jsonl", "--index", "v"];
    for extra in [
        &["--store"][..],
        &["--lines"],
        &["--id-field", "key"],
        &["--text-field", "body"],
        &["--title-field", "name"],
        &["--model", &model, "--max-length", "8"],
        &["--model", &model, "--batch-size", "4"],
        &["--model", &model, "--long-docs", "window"],
        &["--model", &model, "--precision", "f32"],
    ] {
        let args = [&vectors[..], extra].concat();
        let err = refused(dir, &args);
        let flag = extra.iter().rev().find(|a| a.starts_with("--")).unwrap();
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!dir.join("v").exists(), "{args:?} built an index");
    }
    // Vectors appended keep the index's model: a --model must be it, and
    // cannot give one to an index that records none.
    ok(
        dir,
        &["index", "--vectors", "vectors.jsonl", "--index", "v0", "-q"],
    );
    std::fs::write(
        dir.join("more.jsonl"),
        VECTORS.replace("\"id\":\"v", "\"id\":\"w"),
    )
    .unwrap();
    let append = [
        "index",
        "--append",
        "--vectors",
        "more.jsonl",
        "-q",
        "--index",
    ];
    let err = refused(dir, &[&append[..], &["v0", "--model", &model]].concat());
    assert!(
        err.contains("--model") && err.contains("records no model"),
        "{err}"
    );
    ok(dir, &[&append[..], &["idx", "--model", &model]].concat());
    // --revision without --model names nothing.
    let err = refused(
        dir,
        &[
            "index",
            "--vectors",
            "vectors.jsonl",
            "--index",
            "v",
            "--revision",
            "x",
        ],
    );
    assert!(err.contains("--revision"), "{err}");
    // --window and --stride need --long-docs window.
    for extra in [["--window", "20"], ["--stride", "4"]] {
        let args = [&["encode", "docs.jsonl", "--model", &model][..], &extra].concat();
        let err = refused(dir, &args);
        assert!(
            err.contains(extra[0]) && err.contains("--long-docs window"),
            "{err}"
        );
    }
    // --show has no column in TREC or TSV output; --run-tag is TREC's.
    for format in ["trec", "tsv"] {
        let err = refused(
            dir,
            &[
                "search", "law", "--index", "idx", "--show", "--format", format,
            ],
        );
        assert!(err.contains("--show"), "{err}");
    }
    let err = refused(
        dir,
        &["search", "law", "--index", "idx", "--run-tag", "mine"],
    );
    assert!(err.contains("--run-tag"), "{err}");
    // --revision names a revision of --model; the index's model has its own.
    let err = refused(
        dir,
        &["search", "law", "--index", "idx", "--revision", "v2"],
    );
    assert!(err.contains("--revision"), "{err}");
    // Model flags and -k mean nothing when eval reads a run.
    std::fs::write(dir.join("run.trec"), "q1 Q0 d1 1 1.0 t\n").unwrap();
    std::fs::write(dir.join("qrels.tsv"), "q1\t0\td1\t1\n").unwrap();
    let eval = ["eval", "--run", "run.trec", "--qrels", "qrels.tsv"];
    for extra in [
        &["--revision", "v1"][..],
        &["-k", "5"],
        &["--max-length", "8"],
    ] {
        let err = refused(dir, &[&eval[..], extra].concat());
        assert!(err.contains(extra[0]), "{extra:?}: {err}");
    }
    ok(dir, &eval);
    // Elasticsearch/OpenSearch names mean nothing in other formats.
    for extra in [["--es-index", "docs"], ["--es-field", "vec"]] {
        let args = [&["encode", "docs.jsonl", "--model", &model][..], &extra].concat();
        let err = refused(dir, &args);
        assert!(err.contains(extra[0]), "{err}");
        ok(dir, &[&args[..], &["--format", "opensearch"]].concat());
    }
}

#[test]
fn ignored_settings_are_warned_about() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    // A local folder has no revisions.
    let out = run_splade(
        dir,
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "--revision",
            "v1",
            "-q",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--revision v1") && stderr(&out).contains("local"),
        "{}",
        stderr(&out)
    );
    // --show on an index without stored texts shows nothing more.
    let out = run_splade(dir, &["search", "law", "--index", "idx", "--show"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--show") && stderr(&out).contains("--store"),
        "{}",
        stderr(&out)
    );
    // The same commands without those flags stay silent.
    let out = run_splade(dir, &["search", "law", "--index", "idx"], b"");
    assert_eq!(stderr(&out), "");
}

/// Runs `command` under `script`, so that splade's stdin, stdout and stderr
/// are a terminal; returns what the terminal showed. Its test is ignored
/// where `build.rs` found no util-linux `script` (`cfg splade_script`).
fn on_a_terminal(dir: &Path, command: &str) -> Option<String> {
    let out = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(dir)
        .env_remove("SPLADE_MODEL")
        .env_remove("SPLADE_INDEX")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
#[cfg_attr(not(splade_script), ignore = "needs util-linux script (a terminal)")]
fn stdin_on_a_terminal_is_announced() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    // `script` reads its own (empty) stdin and passes the end of it on, so
    // splade reads no input and ends.
    for (args, what) in [
        (format!("encode --model '{model}'"), "documents"),
        (format!("index --index new --model '{model}'"), "documents"),
        ("index --vectors --index new".to_owned(), "vectors"),
        ("search --queries - --index idx".to_owned(), "queries"),
        ("delete --ids - --index idx".to_owned(), "ids"),
    ] {
        let command = format!("'{}' {args}", splade_bin());
        let screen = on_a_terminal(dir, &command).expect("script ran");
        assert!(
            screen.contains(&format!("reading {what} from stdin (Ctrl-D to end)")),
            "{args}: {screen:?}"
        );
    }
    // Not on a terminal: no notice.
    let out = run_splade(dir, &["encode", "--model", &model, "-q"], b"");
    assert!(out.status.success());
    assert_eq!(stderr(&out), "");
}
