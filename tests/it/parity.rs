//! Parity with the Python reference (sentence-transformers `SparseEncoder`)
//! on splade-tiny: `../shared/reference/parity.jsonl`.

use std::collections::HashMap;

use splade::{Encoder, EncoderOptions, ModelSource};

use crate::fixtures::{real_model, shared_file};

fn load(batch_size: usize) -> Encoder {
    Encoder::load(
        &ModelSource::Local(real_model()),
        &EncoderOptions {
            batch_size,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A reference vector: term id -> weight.
type RefVector = HashMap<u32, f32>;

fn reference() -> (Vec<String>, Vec<RefVector>) {
    let inputs = shared_file("reference/parity_inputs.jsonl");
    let outputs = shared_file("reference/parity.jsonl");
    let texts = std::fs::read_to_string(inputs)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let vectors = std::fs::read_to_string(outputs)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["vector"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, w)| (k.parse().unwrap(), w.as_f64().unwrap() as f32))
                .collect()
        })
        .collect();
    (texts, vectors)
}

fn check(encoder: &Encoder, texts: &[String], want: &[HashMap<u32, f32>]) {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let got = encoder.encode(&refs).unwrap();
    assert_eq!(got.len(), want.len());
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        for (&term, &weight) in w {
            let ours = g.get(term);
            worst = worst.max((ours - weight).abs());
            assert!(
                (ours - weight).abs() <= 1e-4,
                "text {i} term {term}: ours {ours}, reference {weight}"
            );
            if weight >= 1e-4 {
                assert!(
                    ours > 0.0,
                    "text {i} term {term} active in the reference ({weight}) but not ours"
                );
            }
        }
        for (term, ours) in g.iter() {
            let theirs = w.get(&term).copied().unwrap_or(0.0);
            assert!(
                (ours - theirs).abs() <= 1e-4,
                "text {i} term {term}: ours {ours}, reference {theirs}"
            );
        }
    }
    eprintln!("parity: {} texts, max abs diff {worst:e}", got.len());
}

#[test]
#[cfg_attr(
    not(all(splade_real_model, splade_shared)),
    ignore = "needs the real model (SPLADE_TEST_MODEL or ../shared) and ../shared"
)]
fn vectors_match_the_reference_batched() {
    let (encoder, (texts, want)) = (load(32), reference());
    assert_eq!(texts.len(), 119);
    check(&encoder, &texts, &want);
}

#[test]
#[cfg_attr(
    not(all(splade_real_model, splade_shared)),
    ignore = "needs the real model (SPLADE_TEST_MODEL or ../shared) and ../shared"
)]
fn vectors_match_the_reference_one_at_a_time() {
    let (encoder, (texts, want)) = (load(1), reference());
    check(&encoder, &texts, &want);
}

#[test]
#[cfg_attr(
    not(all(splade_real_model, splade_shared)),
    ignore = "needs the real model (SPLADE_TEST_MODEL or ../shared) and ../shared"
)]
fn model_card_scores_match() {
    let (encoder, path) = (load(8), shared_file("reference/card_similarity.json"));
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let query = encoder.encode_one(card["query"].as_str().unwrap()).unwrap();
    let docs: Vec<&str> = card["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    let vectors = encoder.encode(&docs).unwrap();
    for (v, want) in vectors
        .iter()
        .zip(card["scores_float32_model_similarity"].as_array().unwrap())
    {
        let want = want.as_f64().unwrap() as f32;
        let got = query.dot(v);
        assert!(
            (got - want).abs() <= 1e-3,
            "score {got} vs reference {want}"
        );
    }
}

/// `--precision bf16` is opt-in and not at parity; it must stay close.
#[test]
#[cfg_attr(
    not(all(splade_real_model, splade_shared, splade_cpu_bf16)),
    ignore = "needs AVX512_BF16, the real model and ../shared"
)]
fn bf16_vectors_stay_close_to_the_reference() {
    assert!(
        splade::Precision::Bf16.is_supported(),
        "this CPU lacks AVX512_BF16, but the build saw it"
    );
    let (dir, (texts, want)) = (real_model(), reference());
    let options = EncoderOptions {
        precision: splade::Precision::Bf16,
        ..Default::default()
    };
    let encoder = Encoder::load(&ModelSource::Local(dir), &options).unwrap();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let got = encoder.encode(&refs).unwrap();
    let mut worst = 0f32;
    for (g, w) in got.iter().zip(&want) {
        for (&term, &weight) in w {
            worst = worst.max((g.get(term) - weight).abs());
        }
        for (term, ours) in g.iter() {
            worst = worst.max((ours - w.get(&term).copied().unwrap_or(0.0)).abs());
        }
    }
    eprintln!("bf16 parity: max abs diff {worst:e}");
    assert!(worst < 0.05, "bf16 vectors drift by {worst}");
    assert!(worst > 1e-4, "bf16 is really in use (differs from f32)");
}

/// `--precision int8` screens with int8 and computes what it keeps in f32:
/// the vectors must be the f32 ones bit for bit, on the parity texts and
/// on documents of every shared collection, and the screen must really
/// rule entries out.
#[test]
#[cfg_attr(
    not(all(splade_real_model, splade_shared)),
    ignore = "needs the real model (SPLADE_TEST_MODEL or ../shared) and ../shared"
)]
fn int8_vectors_are_the_f32_vectors_bit_for_bit() {
    let (texts, want) = reference();
    let mut all = texts.clone();
    for name in [
        "cacm",
        "cisi",
        "cranfield",
        "lisa",
        "npl",
        "trec-dl-2020-passage-pool",
    ] {
        let corpus = shared_file(&format!("data/{name}/corpus.jsonl"));
        let text = std::fs::read_to_string(corpus).unwrap();
        for line in text.lines().step_by(97).take(40) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let title = v["title"].as_str().unwrap_or("");
            let body = v["text"].as_str().unwrap();
            all.push(if title.is_empty() {
                body.to_owned()
            } else {
                format!("{title} {body}")
            });
        }
    }
    let load = |precision| {
        let options = EncoderOptions {
            precision,
            ..Default::default()
        };
        Encoder::load(&ModelSource::Local(real_model()), &options).unwrap()
    };
    let (exact, screened) = (load(splade::Precision::F32), load(splade::Precision::Int8));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let (a, b) = (
        exact.encode(&refs).unwrap(),
        screened.encode(&refs).unwrap(),
    );
    let bits = |v: &splade::SparseVector| -> Vec<(u32, u32)> {
        v.iter().map(|(t, w)| (t, w.to_bits())).collect()
    };
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(
            bits(x),
            bits(y),
            "text {i}: {:?}",
            &all[i][..all[i].len().min(60)]
        );
    }
    let (screened_texts, kept) = screened.screen_counts();
    assert_eq!(
        screened_texts as usize,
        all.len(),
        "every text went through the screen"
    );
    let per_text = kept as f64 / all.len() as f64;
    let active = a.iter().map(|v| v.nnz()).sum::<usize>() as f64 / all.len() as f64;
    eprintln!(
        "int8: {} texts, {per_text:.0} entries kept per text, {active:.0} active",
        all.len()
    );
    assert!(
        per_text >= active && per_text < 3000.0,
        "kept {per_text} per text"
    );
    check(&screened, &texts, &want);
}
