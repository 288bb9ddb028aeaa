//! Fixtures: paths to shared material, tiny random BERT checkpoints, and a
//! runner for the real `splade` binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use candle_core::{Device, Tensor};

/// The shared folder (`../shared` next to the repository), if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SPLADE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    dir.is_dir().then_some(dir)
}

/// The real splade-tiny checkpoint: `SPLADE_TEST_MODEL`, else
/// `../shared/models/splade-tiny`. Tests that call it are ignored unless
/// `build.rs` found the model or `SPLADE_TEST_MODEL` is set (`cfg
/// splade_real_model`), so that where it is absent they show as ignored in
/// the summary, never as a silent `ok`; when `SPLADE_TEST_MODEL` names a
/// folder without a model, they fail loudly.
pub fn real_model() -> PathBuf {
    let dir = std::env::var_os("SPLADE_TEST_MODEL")
        .map(PathBuf::from)
        .or_else(|| shared_dir().map(|s| s.join("models/splade-tiny")))
        .expect("no real model: set SPLADE_TEST_MODEL to a folder with splade-tiny");
    assert!(
        dir.join("model.safetensors").is_file(),
        "no real model at {} (SPLADE_TEST_MODEL or ../shared/models/splade-tiny)",
        dir.display()
    );
    dir
}

/// A file of the shared folder; like [`real_model`], its tests are ignored
/// without `../shared` (`cfg splade_shared`).
pub fn shared_file(rel: &str) -> PathBuf {
    let path = shared_dir()
        .map(|d| d.join(rel))
        .expect("../shared is not available (set SPLADE_SHARED)");
    assert!(path.exists(), "../shared/{rel} is not available");
    path
}

/// Words of the tiny tokenizer's vocabulary (after the special tokens).
pub const WORDS: [&str; 27] = [
    "the", "law", "implied", "warranty", "common", "rust", "search", "index", "sparse", "vector",
    "model", "query", "document", "a", "b", "c", "d", "e", "##s", "##ed", "##ing", ".", ",", "!",
    "?", "hello", "world",
];

/// Shape of the tiny random model.
pub const HIDDEN: usize = 8;
const LAYERS: usize = 2;
const HEADS: usize = 2;
const INTER: usize = 16;
const MAX_POS: usize = 32;

/// How a test checkpoint names its tensors.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// LayerNorm parameters as `gamma`/`beta` instead of `weight`/`bias`.
    pub gamma_beta: bool,
    /// Drop the `bert.` prefix of encoder tensors.
    pub no_prefix: bool,
    /// Store `cls.predictions.decoder.{weight,bias}` explicitly.
    pub untied: bool,
}

/// Vocabulary size of the tiny tokenizer.
pub fn vocab_size() -> usize {
    5 + WORDS.len()
}

fn tokenizer_json() -> String {
    let mut vocab = serde_json::Map::new();
    for (i, t) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .chain(WORDS.iter())
        .enumerate()
    {
        vocab.insert(t.to_string(), i.into());
    }
    let special = |id: &str, n: u32| serde_json::json!({"id": id, "ids": [n], "tokens": [id]});
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                        "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": special("[CLS]", 2), "[SEP]": special("[SEP]", 3)}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
    .to_string()
}

fn config_json() -> String {
    serde_json::json!({
        "architectures": ["BertForMaskedLM"], "model_type": "bert",
        "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "intermediate_size": INTER, "vocab_size": vocab_size(), "max_position_embeddings": MAX_POS,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "pad_token_id": 0
    })
    .to_string()
}

/// Deterministic pseudo-random values in [-scale, scale].
fn values(n: usize, seed: &str, scale: f32) -> Vec<f32> {
    let mut s: u64 = seed.bytes().fold(1469598103934665603, |h, b| {
        (h ^ b as u64).wrapping_mul(1099511628211)
    });
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0) * scale
        })
        .collect()
}

/// The canonical tensors of the tiny model: name -> shape.
fn canonical_shapes() -> Vec<(String, Vec<usize>)> {
    let (h, v, i) = (HIDDEN, vocab_size(), INTER);
    let mut t: Vec<(String, Vec<usize>)> = vec![
        ("bert.embeddings.word_embeddings.weight".into(), vec![v, h]),
        (
            "bert.embeddings.position_embeddings.weight".into(),
            vec![MAX_POS, h],
        ),
        (
            "bert.embeddings.token_type_embeddings.weight".into(),
            vec![2, h],
        ),
        ("bert.embeddings.LayerNorm.weight".into(), vec![h]),
        ("bert.embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for l in 0..LAYERS {
        let p = format!("bert.encoder.layer.{l}");
        for (name, shape) in [
            ("attention.self.query", vec![h, h]),
            ("attention.self.key", vec![h, h]),
            ("attention.self.value", vec![h, h]),
            ("attention.output.dense", vec![h, h]),
            ("intermediate.dense", vec![i, h]),
            ("output.dense", vec![h, i]),
        ] {
            t.push((format!("{p}.{name}.weight"), shape.clone()));
            t.push((format!("{p}.{name}.bias"), vec![shape[0]]));
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            t.push((format!("{p}.{norm}.weight"), vec![h]));
            t.push((format!("{p}.{norm}.bias"), vec![h]));
        }
    }
    t.push(("cls.predictions.transform.dense.weight".into(), vec![h, h]));
    t.push(("cls.predictions.transform.dense.bias".into(), vec![h]));
    t.push(("cls.predictions.transform.LayerNorm.weight".into(), vec![h]));
    t.push(("cls.predictions.transform.LayerNorm.bias".into(), vec![h]));
    t.push(("cls.predictions.bias".into(), vec![v]));
    t
}

fn stored_name(canonical: &str, style: Style) -> String {
    let mut name = canonical.to_owned();
    if style.gamma_beta && name.contains("LayerNorm.") {
        name = name
            .replace("LayerNorm.weight", "LayerNorm.gamma")
            .replace("LayerNorm.bias", "LayerNorm.beta");
    }
    if style.no_prefix {
        name = name
            .strip_prefix("bert.")
            .map(str::to_owned)
            .unwrap_or(name);
    }
    if style.untied && name == "cls.predictions.bias" {
        name = "cls.predictions.decoder.bias".into();
    }
    name
}

/// Writes a tiny random BERT masked-LM (same weights for every style) into
/// `dir`; `omit` leaves one canonical tensor out, `reshape` stores one with
/// a wrong shape.
pub fn write_tiny_model(dir: &Path, style: Style, omit: Option<&str>, reshape: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config_json()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json()).unwrap();
    let mut tensors = HashMap::new();
    for (name, shape) in canonical_shapes() {
        if omit == Some(name.as_str()) {
            continue;
        }
        let n: usize = shape.iter().product();
        let data = if name.ends_with("LayerNorm.weight") {
            values(n, &name, 0.2).into_iter().map(|x| 1.0 + x).collect()
        } else {
            values(n, &name, 0.8)
        };
        let mut t = Tensor::from_vec(data, shape.as_slice(), &Device::Cpu).unwrap();
        if reshape == Some(name.as_str()) {
            t = t.flatten_all().unwrap();
        }
        if style.untied && name == "bert.embeddings.word_embeddings.weight" {
            tensors.insert("cls.predictions.decoder.weight".to_string(), t.clone());
        }
        tensors.insert(stored_name(&name, style), t);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

/// Path of the built `splade` binary.
pub fn splade_bin() -> &'static str {
    env!("CARGO_BIN_EXE_splade")
}

/// Runs `splade` with `args` in `cwd`, feeding `stdin`. The tests written
/// before hybrid ranking check SPLADE scores, so a `search`, `eval` or
/// `explain` that names no ranking gets `--mode splade` here; `modes.rs`
/// tests the defaults through [`run_as_is`].
pub fn run_splade(cwd: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let ranks = matches!(args.first(), Some(&("search" | "eval" | "explain")));
    let named = args
        .iter()
        .any(|a| matches!(*a, "--mode" | "--weight" | "--tune" | "--run" | "--help"));
    if ranks && !named {
        let mut pinned = args.to_vec();
        pinned.extend(["--mode", "splade"]);
        return run_as_is(cwd, &pinned, stdin);
    }
    run_as_is(cwd, args, stdin)
}

/// Runs `splade` with exactly `args` in `cwd`, feeding `stdin`.
pub fn run_as_is(cwd: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(splade_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("SPLADE_MODEL")
        .env_remove("SPLADE_INDEX")
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn splade");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `splade` and returns stdout; fails the test (showing stderr) on an
/// error exit or a panic.
pub fn ok(cwd: &Path, args: &[&str]) -> String {
    checked_ok(cwd, args, run_splade(cwd, args, b""))
}

/// [`ok`] without the pinned mode (see [`run_splade`]).
pub fn ok_as_is(cwd: &Path, args: &[&str]) -> String {
    checked_ok(cwd, args, run_as_is(cwd, args, b""))
}

fn checked_ok(_cwd: &Path, args: &[&str], out: Output) -> String {
    assert!(out.status.success(), "splade {args:?}: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    stdout(&out)
}

/// Runs `splade` expecting exit code 2 with one `splade: ...` message and
/// no panic; returns stderr.
pub fn fails(cwd: &Path, args: &[&str]) -> String {
    checked_fails(args, run_splade(cwd, args, b""))
}

/// [`fails`] without the pinned mode (see [`run_splade`]).
pub fn fails_as_is(cwd: &Path, args: &[&str]) -> String {
    checked_fails(args, run_as_is(cwd, args, b""))
}

fn checked_fails(args: &[&str], out: Output) -> String {
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "splade {args:?} should fail: {err}"
    );
    assert!(err.starts_with("splade: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Parses JSON Lines.
pub fn jsonl(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// A temp dir with a tiny random model in `model/` and `docs` as
/// `docs.jsonl`; returns the dir and the model path.
pub fn with_docs(docs: &str) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    write_tiny_model(&model, Style::default(), None, None);
    std::fs::write(tmp.path().join("docs.jsonl"), docs).unwrap();
    (tmp, model.to_str().unwrap().to_owned())
}

/// The `meta.json` of the index in `dir`, parsed: what an index publishes
/// about itself, read as any program would read the file.
pub fn meta_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("meta.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A query of `(token, weight)` terms.
pub fn query(terms: &[(&str, f32)]) -> splade::Query {
    splade::Query::new(terms.iter().copied())
}
