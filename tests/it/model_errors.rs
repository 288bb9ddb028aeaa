//! Checkpoints and tokenizers that cannot encode a text give errors that
//! name the file, never panics: activations that overflow f32, and tokens
//! the tokenizer adds beyond the model's vocabulary.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::fixtures::{fails, ok, run_splade, stderr, with_docs};

const DOCS: &str = "{\"id\":\"d1\",\"title\":\"Rust\",\"text\":\"rust sparse search index\"}\n\
{\"id\":\"d2\",\"text\":\"the law of implied warranty\"}\n\
{\"id\":\"d3\",\"text\":\"hello world, a common query\"}\n";

/// Copies the model in `from` to `to` (same config.json and tokenizer.json)
/// with every tensor passed through `edit`.
pub(crate) fn rewrite_weights(from: &Path, to: &Path, edit: impl Fn(&str, Tensor) -> Tensor) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    let tensors = candle_core::safetensors::load(from.join("model.safetensors"), &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            let t = edit(&name, t);
            (name, t)
        })
        .collect::<HashMap<_, _>>();
    candle_core::safetensors::save(&tensors, to.join("model.safetensors")).unwrap();
}

/// `t` with `f` applied to every value.
pub(crate) fn map_values(t: Tensor, f: impl Fn(usize, f32) -> f32) -> Tensor {
    let shape = t.dims().to_vec();
    let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
    let v: Vec<f32> = v.into_iter().enumerate().map(|(i, x)| f(i, x)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

#[test]
fn overflowing_activations_are_an_error_not_a_panic() {
    let (tmp, model) = with_docs(DOCS);
    let dir = tmp.path();
    // Huge but finite weights whose logits overflow to +inf: every hidden
    // state about 3e38 and every (tied) decoder weight positive.
    let huge = dir.join("huge");
    rewrite_weights(Path::new(&model), &huge, |name, t| match name {
        "cls.predictions.transform.LayerNorm.bias" => map_values(t, |_, _| 3e38),
        "bert.embeddings.word_embeddings.weight" => map_values(t, |_, x| x.abs()),
        _ => t,
    });
    let huge = huge.to_str().unwrap();
    for args in [
        &["encode", "docs.jsonl", "--model", huge][..],
        &["index", "docs.jsonl", "--index", "idx", "--model", huge],
    ] {
        let err = fails(dir, args);
        assert!(
            err.contains("overflow") && err.contains("model.safetensors"),
            "{args:?}: {err}"
        );
    }
    assert!(!dir.join("idx/meta.json").exists());
}

/// The tiny tokenizer with `zzz` added as token 32: the model's vocabulary
/// has entries 0 to 31 only.
fn add_token_beyond_vocab(model: &Path) {
    let path = model.join("tokenizer.json");
    let mut tok: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(crate::fixtures::vocab_size(), 32);
    tok["added_tokens"] = serde_json::json!([{
        "id": 32, "content": "zzz", "single_word": false, "lstrip": false, "rstrip": false,
        "normalized": true, "special": false
    }]);
    std::fs::write(&path, tok.to_string()).unwrap();
}

#[test]
fn a_token_beyond_the_vocabulary_is_an_error_not_a_panic() {
    let (tmp, model) = with_docs("");
    let dir = tmp.path();
    add_token_beyond_vocab(Path::new(&model));
    // A stored text with the token past the 32-token truncation: it is
    // indexed (the token is never encoded) and explained (explain
    // tokenizes the stored text in pieces of 64 words: the second holds it).
    let long = format!("{} zzz", ["law"; 70].join(" "));
    let docs = format!("{DOCS}{{\"id\":\"long\",\"text\":\"{long}\"}}\n");
    std::fs::write(dir.join("docs.jsonl"), docs).unwrap();
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
    let explained: serde_json::Value = serde_json::from_str(&ok(
        dir,
        &["explain", "law", "long", "--index", "idx", "--json"],
    ))
    .unwrap();
    assert_eq!(explained["id"], "long", "{explained}");
    let terms = explained["terms"].as_array().unwrap();
    assert!(
        !terms.is_empty() && terms.iter().all(|t| t["token"] != "zzz"),
        "{explained}"
    );
    // Texts that would encode the token are refused, naming it.
    std::fs::write(
        dir.join("zzz.jsonl"),
        "{\"id\":\"z\",\"text\":\"law zzz\"}\n",
    )
    .unwrap();
    for args in [
        &["explain", "zzz law", "d2", "--index", "idx"][..],
        &["search", "law zzz", "--index", "idx"],
        &["encode", "zzz.jsonl", "--model", &model],
        &["index", "--append", "zzz.jsonl", "--index", "idx"],
    ] {
        let err = fails(dir, args);
        assert!(
            err.contains("token `zzz` has id 32, beyond the model's vocabulary of 32")
                && err.contains("tokenizer.json"),
            "{args:?}: {err}"
        );
    }
    let out = run_splade(dir, &["verify", "--index", "idx"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
}
