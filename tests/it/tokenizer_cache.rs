//! The tokenizer cache (`src/encoder/tokenizer.rs`) against `tokenizers`
//! itself, on every document and query of the six shared collections.

use splade::internal::{FieldNames, InputFormat, RecordReader, tokenizer_cache_file};
use splade::{Encoder, EncoderOptions, ModelSource};
use tokenizers::{Tokenizer, TruncationParams};

use crate::fixtures::{real_model, shared_file};

const COLLECTIONS: [&str; 6] = [
    "trec-dl-2020-passage-pool",
    "cranfield",
    "cisi",
    "npl",
    "cacm",
    "lisa",
];

fn texts(path: &std::path::Path) -> Vec<String> {
    let path = path.to_str().unwrap();
    RecordReader::open(path, InputFormat::Auto, FieldNames::default())
        .unwrap()
        .map(|d| d.unwrap().full_text())
        .collect()
}

#[test]
#[cfg_attr(
    not(all(splade_real_model, splade_shared)),
    ignore = "needs splade-tiny and ../shared"
)]
fn the_cached_tokenizer_equals_tokenizers_on_every_shared_text() {
    let model = real_model();
    let json = model.join("tokenizer.json");
    let source = ModelSource::Local(model.clone());
    let options = EncoderOptions::default();
    // The first load writes the cache (where it can); the second reads it.
    drop(Encoder::load(&source, &options).unwrap());
    let cache = tokenizer_cache_file(&json)
        .unwrap()
        .expect("a cache directory");
    assert!(cache.is_file(), "no tokenizer cache at {}", cache.display());
    let encoder = Encoder::load(&source, &options).unwrap();

    let mut full = Tokenizer::from_file(&json).unwrap();
    full.with_padding(None);
    full.with_truncation(Some(TruncationParams {
        max_length: 512,
        ..Default::default()
    }))
    .unwrap();
    let (mut compared, mut differ) = (0, Vec::new());
    for c in COLLECTIONS {
        for file in ["corpus.jsonl", "queries.jsonl"] {
            let texts = texts(&shared_file(&format!("data/{c}/{file}")));
            for batch in texts.chunks(512) {
                let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                let ours = encoder.tokenize(&refs).unwrap();
                let theirs = full.encode_batch(refs.clone(), true).unwrap();
                for ((text, a), b) in refs.iter().zip(ours).zip(theirs) {
                    compared += 1;
                    if a != b.get_ids() {
                        differ.push(format!("{c}/{file}: {text:.80}"));
                    }
                }
            }
        }
    }
    assert!(compared > 37_000, "only {compared} texts");
    assert!(
        differ.is_empty(),
        "{} of {compared} differ: {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );
}
