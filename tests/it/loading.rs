//! Loading mechanics on tiny random checkpoints: naming styles, tied and
//! untied decoders, missing and mis-shaped tensors.

use splade::{Encoder, EncoderOptions, ModelSource};

use crate::fixtures::{Style, write_tiny_model};

const TEXTS: [&str; 3] = [
    "the implied warranty of rust",
    "",
    "hello, world! sparse vectors.",
];

fn encode_with(style: Style) -> Vec<splade::SparseVector> {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), style, None, None);
    let enc = Encoder::load(
        &ModelSource::Local(dir.path().to_owned()),
        &EncoderOptions::default(),
    )
    .unwrap();
    enc.encode(&TEXTS).unwrap()
}

fn load_err(omit: Option<&str>, reshape: Option<&str>, style: Style) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), style, omit, reshape);
    match Encoder::load(
        &ModelSource::Local(dir.path().to_owned()),
        &EncoderOptions::default(),
    ) {
        Ok(_) => panic!("loading should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_naming_style_gives_the_same_vectors() {
    let base = encode_with(Style::default());
    assert!(
        base.iter().all(|v| v.nnz() > 0),
        "random model gives active terms"
    );
    for style in [
        Style {
            gamma_beta: true,
            ..Style::default()
        },
        Style {
            no_prefix: true,
            ..Style::default()
        },
        Style {
            untied: true,
            ..Style::default()
        },
        Style {
            gamma_beta: true,
            no_prefix: true,
            untied: true,
        },
    ] {
        assert_eq!(encode_with(style), base, "style {style:?}");
    }
}

#[test]
fn missing_tensor_is_named_with_the_file() {
    let name = "bert.encoder.layer.1.attention.self.key.weight";
    let err = load_err(Some(name), None, Style::default());
    assert!(
        err.contains(name) && err.contains("model.safetensors"),
        "{err}"
    );
    let err = load_err(
        Some("bert.embeddings.LayerNorm.weight"),
        None,
        Style {
            gamma_beta: true,
            ..Style::default()
        },
    );
    assert!(
        err.contains("missing tensor `bert.embeddings.LayerNorm.weight`") && err.contains("gamma"),
        "{err}"
    );
}

#[test]
fn misshaped_tensor_is_an_error_not_a_panic() {
    let name = "cls.predictions.transform.dense.weight";
    let err = load_err(None, Some(name), Style::default());
    assert!(err.contains(name) && err.contains("shape"), "{err}");
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Style::default(), None, None);
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = Encoder::load(
        &ModelSource::Local(dir.path().to_owned()),
        &EncoderOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        b"not a safetensors file",
    )
    .unwrap();
    let err = Encoder::load(
        &ModelSource::Local(dir.path().to_owned()),
        &EncoderOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn batching_and_order_do_not_change_vectors() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Style::default(), None, None);
    let source = ModelSource::Local(dir.path().to_owned());
    let one = Encoder::load(
        &source,
        &EncoderOptions {
            batch_size: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let many = Encoder::load(
        &source,
        &EncoderOptions {
            batch_size: 8,
            ..Default::default()
        },
    )
    .unwrap();
    let texts = [
        "a b c d e the law",
        "rust",
        "",
        "sparse vector model query document index search",
    ];
    let singles: Vec<_> = texts.iter().map(|t| one.encode_one(t).unwrap()).collect();
    let batched = many.encode(&texts).unwrap();
    for (s, b) in singles.iter().zip(&batched) {
        assert_eq!(s.indices(), b.indices());
        for (x, y) in s.values().iter().zip(b.values()) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}

#[test]
fn truncation_respects_max_length() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Style::default(), None, None);
    let source = ModelSource::Local(dir.path().to_owned());
    let enc = Encoder::load(
        &source,
        &EncoderOptions {
            max_length: Some(5),
            ..Default::default()
        },
    )
    .unwrap();
    let ids = enc
        .tokenize(&["the law implied warranty common rust search"])
        .unwrap();
    assert_eq!(ids[0].len(), 5);
    assert_eq!((ids[0][0], ids[0][4]), (2, 3), "[CLS] ... [SEP] kept");
    // Longer than max_position_embeddings (32) is clamped, never a panic.
    let enc = Encoder::load(
        &source,
        &EncoderOptions {
            max_length: Some(1000),
            ..Default::default()
        },
    )
    .unwrap();
    let long = vec!["rust"; 100].join(" ");
    assert!(enc.encode_one(&long).is_ok());
    assert_eq!(enc.max_length(), 32);
}

#[test]
fn window_mode_max_pools_the_window_vectors() {
    use splade::LongDocs;
    use splade::internal::windows;
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Style::default(), None, None);
    let source = ModelSource::Local(dir.path().to_owned());
    let long_docs = LongDocs::Window {
        window: 10,
        stride: 3,
    };
    let enc = Encoder::load(
        &source,
        &EncoderOptions {
            long_docs,
            ..Default::default()
        },
    )
    .unwrap();
    let text = "the law implied warranty common rust search index sparse vector model query \
                document hello world the law a b c d e rust search";
    let ids = enc.tokenize(&[text]).unwrap().remove(0);
    assert!(ids.len() > 20, "window mode does not truncate");
    let parts = windows(&ids, 10, 3);
    assert!(parts.len() > 2 && parts.iter().all(|p| p.len() <= 10));
    let pooled = enc
        .encode_token_ids(&parts)
        .unwrap()
        .into_iter()
        .reduce(|a, b| a.max_pool(&b))
        .unwrap();
    let (got, stats) = enc.encode_with_stats(&[text]).unwrap();
    assert_eq!(got[0], pooled);
    assert_eq!((stats.windowed, stats.truncated), (1, 0));
    // Truncating at the same length loses terms that windows keep.
    let trunc = Encoder::load(
        &source,
        &EncoderOptions {
            max_length: Some(10),
            ..Default::default()
        },
    )
    .unwrap();
    let (cut, stats) = trunc.encode_with_stats(&[text]).unwrap();
    assert_eq!(stats.truncated, 1);
    assert!(cut[0].nnz() < got[0].nnz());
}

#[test]
fn long_texts_tokenize_from_a_prefix_exactly() {
    use splade::LongDocs;
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), Style::default(), None, None);
    let source = ModelSource::Local(dir.path().to_owned());
    let cut = Encoder::load(&source, &EncoderOptions::default()).unwrap();
    let whole = Encoder::load(
        &source,
        &EncoderOptions {
            long_docs: LongDocs::Window {
                window: 32,
                stride: 0,
            },
            ..Default::default()
        },
    )
    .unwrap();
    // Far longer than the 32 * 32 bytes of the first prefix, with
    // punctuation and words split into pieces.
    let text: String = (0..3000)
        .map(|i| ["rust, ", "implied! ", "searching ", "worlds. "][i % 4])
        .collect();
    for t in [text.as_str(), &text[..1500], "hello world"] {
        let full = whole.tokenize(&[t]).unwrap().remove(0);
        let mut want: Vec<u32> = full[..full.len().min(31)].to_vec();
        if full.len() > 32 {
            want.push(*full.last().unwrap());
        } else {
            want = full.clone();
        }
        assert_eq!(
            cut.tokenize(&[t]).unwrap().remove(0),
            want,
            "text of {} bytes",
            t.len()
        );
    }
}
