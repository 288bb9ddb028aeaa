//! A closed stdout (`splade ... | head -1`) ends every subcommand quietly
//! with exit 0, whatever the output size: outputs over 1 MB (more than any
//! pipe buffer, so writes after `head` exits do fail) and a pipe whose read
//! end is closed before the first write.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::fixtures::{Style, WORDS, ok, run_splade, splade_bin, stderr, write_tiny_model};

/// Starts `splade` with stdout on a pipe; stdin is empty.
fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(splade_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("SPLADE_MODEL")
        .env_remove("SPLADE_INDEX")
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn splade")
}

/// Asserts a run that lost its reader ended as if it had finished.
fn assert_quiet_success(args: &[&str], out: &Output) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "splade {args:?} with a closed stdout: {err}"
    );
    assert!(!err.contains("panicked"), "splade {args:?}: {err}");
    assert!(!err.contains("Broken pipe"), "splade {args:?}: {err}");
}

/// `splade args | head -1`: reads one line, closes the pipe, waits.
fn first_line_then_close(dir: &Path, args: &[&str]) -> (String, Output) {
    let mut child = spawn(dir, args);
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    drop(reader);
    (line, child.wait_with_output().unwrap())
}

/// `splade args` with the read end of its stdout closed before it writes.
fn closed_at_once(dir: &Path, args: &[&str]) -> Output {
    let mut child = spawn(dir, args);
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

/// Checks that the full output of `args` is over 1 MB, then that reading
/// its first line and closing the pipe still exits 0.
fn large_output_survives_head(dir: &Path, args: &[&str]) {
    let full = run_splade(dir, args, b"");
    assert!(full.status.success(), "splade {args:?}: {}", stderr(&full));
    assert!(
        full.stdout.len() > 1 << 20,
        "splade {args:?} writes only {} bytes",
        full.stdout.len()
    );
    let (line, out) = first_line_then_close(dir, args);
    let first = String::from_utf8_lossy(&full.stdout);
    assert_eq!(Some(line.trim_end()), first.lines().next(), "{args:?}");
    assert_quiet_success(args, &out);
}

/// Documents whose ids are long, so that few results make a large output.
const DOCS: usize = 9000;

fn long_id(i: usize) -> String {
    format!("doc-{i:06}-{}", "x".repeat(110))
}

/// A temp dir with the tiny model in `model/`, an index `idx` built from
/// vectors holding every word (so every query matches every document),
/// queries, a run over all of them and its qrels.
fn setup() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = dir.join("model");
    write_tiny_model(&model, Style::default(), None, None);
    let model = model.to_str().unwrap().to_owned();
    let mut vectors = String::new();
    for i in 0..DOCS {
        let terms: Vec<String> = WORDS
            .iter()
            .enumerate()
            .map(|(n, w)| format!("\"{w}\":{}", 0.1 + ((i * 7 + n * 13) % 97) as f32 / 50.0))
            .collect();
        vectors.push_str(&format!(
            "{{\"id\":\"{}\",\"vector\":{{{}}}}}\n",
            long_id(i),
            terms.join(",")
        ));
    }
    std::fs::write(dir.join("vectors.jsonl"), vectors).unwrap();
    ok(
        dir,
        &[
            "index",
            "--vectors",
            "vectors.jsonl",
            "--index",
            "idx",
            "--model",
            &model,
            "-q",
        ],
    );
    std::fs::write(
        dir.join("queries.tsv"),
        "q1\tsparse law\nq2\trust search index\nq3\thello world\n",
    )
    .unwrap();
    // 20,000 judged queries, one result each: `eval --per-query` prints a
    // row (or a JSON object) per query.
    let mut run = String::new();
    let mut qrels = String::new();
    for q in 0..20_000 {
        run.push_str(&format!("query-{q} Q0 d{q} 1 1.5 t\n"));
        qrels.push_str(&format!("query-{q}\t0\td{q}\t1\n"));
    }
    std::fs::write(dir.join("run.trec"), run).unwrap();
    std::fs::write(dir.join("qrels.txt"), qrels).unwrap();
    (tmp, model)
}

#[test]
fn large_outputs_exit_zero_when_the_reader_leaves() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    let k = DOCS.to_string();
    large_output_survives_head(dir, &["search", "sparse law", "-k", &k, "--index", "idx"]);
    for format in ["trec", "tsv", "jsonl"] {
        large_output_survives_head(
            dir,
            &[
                "search",
                "--queries",
                "queries.tsv",
                "--format",
                format,
                "-k",
                &k,
                "--index",
                "idx",
            ],
        );
    }
    let eval = ["eval", "--run", "run.trec", "--qrels", "qrels.txt"];
    large_output_survives_head(dir, &[&eval[..], &["--per-query"]].concat());
    large_output_survives_head(dir, &[&eval[..], &["--per-query", "--json"]].concat());
    let docs: String = (0..4000)
        .map(|i| format!("{{\"id\":\"{i}\",\"text\":\"rust sparse search law {i}\"}}\n"))
        .collect();
    std::fs::write(dir.join("docs.jsonl"), docs).unwrap();
    large_output_survives_head(dir, &["encode", "docs.jsonl", "--model", &model, "-q"]);
    large_output_survives_head(
        dir,
        &[
            "encode",
            "docs.jsonl",
            "--model",
            &model,
            "-q",
            "--format",
            "elasticsearch",
        ],
    );
}

#[test]
fn every_subcommand_exits_zero_on_a_closed_stdout() {
    let (tmp, model) = setup();
    let dir = tmp.path();
    std::fs::write(
        dir.join("docs.jsonl"),
        "{\"id\":\"a\",\"text\":\"rust law\"}\n{\"id\":\"b\",\"text\":\"sparse search\"}\n",
    )
    .unwrap();
    let first = long_id(0);
    let commands: Vec<Vec<&str>> = vec![
        vec!["info", "--index", "idx"],
        vec!["info", "--index", "idx", "--json"],
        vec!["completions", "bash"],
        vec!["completions", "zsh"],
        vec!["completions", "fish"],
        vec!["completions", "elvish"],
        vec!["completions", "powershell"],
        vec!["search", "law", "--index", "idx"],
        vec!["search", "law", "--index", "idx", "--format", "table"],
        vec!["search", "law", "--index", "idx", "--format", "trec"],
        vec!["search", "--queries", "queries.tsv", "--index", "idx"],
        vec!["explain", "sparse law", &first, "--index", "idx", "-q"],
        vec![
            "explain",
            "sparse law",
            &first,
            "--index",
            "idx",
            "-q",
            "--json",
        ],
        vec!["eval", "--run", "run.trec", "--qrels", "qrels.txt"],
        vec![
            "eval",
            "--run",
            "run.trec",
            "--qrels",
            "qrels.txt",
            "--json",
        ],
        vec!["encode", "docs.jsonl", "--model", &model, "-q"],
        vec!["verify", "--index", "idx", "-q"],
        vec![
            "index",
            "docs.jsonl",
            "--index",
            "new",
            "--model",
            &model,
            "-q",
        ],
        vec!["delete", "a", "--index", "new", "-q"],
        vec!["compact", "--index", "new", "-q"],
        vec!["--help"],
        vec!["--version"],
    ];
    for args in &commands {
        assert_quiet_success(args, &closed_at_once(dir, args));
    }
    // The commands that only write on stderr did their work.
    let info: serde_json::Value =
        serde_json::from_str(&ok(dir, &["info", "--index", "new", "--json"])).unwrap();
    assert_eq!(
        (info["docs"].as_u64(), info["deleted"].as_u64()),
        (Some(1), Some(0))
    );
}
