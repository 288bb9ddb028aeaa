//! The library as a program without the command line uses it: the plain
//! `IndexWriter::add`, `Encoder::query`, the model an index records, and
//! `EncoderOptions::threads`.

use std::path::Path;

use splade::{
    Encoder, EncoderOptions, Index, IndexError, IndexWriter, ModelSource, Query, StoredDoc,
    WriterOptions,
};

use crate::fixtures::{Style, write_tiny_model};

fn tiny_encoder(dir: &Path, style: Style, options: &EncoderOptions) -> Encoder {
    write_tiny_model(dir, style, None, None);
    Encoder::load(&ModelSource::Local(dir.to_owned()), options).unwrap()
}

const TEXTS: [&str; 3] = [
    "the law of implied warranty",
    "rust search index",
    "sparse vector model query document",
];

#[test]
fn plain_add_names_documents_by_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let options = WriterOptions {
        store: true,
        ..WriterOptions::default()
    };
    let mut w = IndexWriter::create(dir.path(), options).unwrap();
    w.add("a", &[("x", 1.0)]).unwrap();
    let stored = StoredDoc {
        title: Some("B".into()),
        text: "bee".into(),
    };
    w.add_stored("b", &[("x", 2.0)], &stored).unwrap();
    let err = w.add("a", &[("y", 1.0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "document 3: duplicate document id `a` (first seen at document 1)"
    );
    let err = w.add("c", &[("y", f32::NAN)]).unwrap_err();
    assert!(matches!(err, IndexError::InvalidVector { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("document 3: document `c`: "),
        "{err}"
    );
    // Refused documents take no place.
    w.add("c", &[("y", 1.0)]).unwrap();
    w.commit().unwrap();
    let index = Index::open(dir.path()).unwrap();
    assert_eq!(index.num_docs(), 3);
    assert_eq!(index.stored(1).unwrap(), Some(stored));
    assert_eq!(index.stored(0).unwrap(), Some(StoredDoc::default()));
    assert_eq!(index.model(), None);
    let hits = splade::search(&index, &Query::new([("x", 1.0)]), 10).unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| index.doc_id(h.doc).unwrap()).collect();
    assert_eq!(ids, ["b", "a"]);
}

#[test]
fn an_index_records_its_model_for_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let encoder = tiny_encoder(&tmp.path().join("m"), Style::default(), &Default::default());
    let vectors = encoder.encode(&TEXTS).unwrap();
    let text = "implied warranty";
    let want = Query::new(encoder.terms(&encoder.encode_one(text).unwrap()));
    assert!(!want.is_empty());
    assert_eq!(encoder.query(text).unwrap(), want);

    let dir = tmp.path().join("idx");
    let info = encoder.model_info().unwrap();
    let options = WriterOptions {
        model: Some(info.clone()),
        ..WriterOptions::default()
    };
    let mut w = IndexWriter::create(&dir, options).unwrap();
    for (i, v) in vectors.iter().enumerate() {
        w.add(&format!("d{i}"), &encoder.terms(v)).unwrap();
    }
    w.commit().unwrap();
    let index = Index::open(&dir).unwrap();
    assert_eq!(index.model(), Some(&info));
    assert_eq!(info.max_length, Some(32));
    assert!(encoder.is_model(&info).unwrap());
    // Another checkpoint (tensors named otherwise) is another model.
    let other = tiny_encoder(
        &tmp.path().join("other"),
        Style {
            gamma_beta: true,
            ..Style::default()
        },
        &Default::default(),
    );
    assert!(!other.is_model(&info).unwrap());
    let hits = splade::search(&index, &want, 3).unwrap();
    assert_eq!(index.doc_id(hits[0].doc).unwrap(), "d0");
}

/// Names of this process's threads.
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[test]
#[cfg(target_os = "linux")]
fn encoder_threads_get_a_pool_of_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let shared = tiny_encoder(&dir, Style::default(), &Default::default());
    let options = EncoderOptions {
        threads: Some(3),
        ..Default::default()
    };
    let own = Encoder::load(&ModelSource::Local(dir), &options).unwrap();
    let pool: Vec<String> = thread_names()
        .into_iter()
        .filter(|n| n.starts_with("splade-encode-"))
        .collect();
    assert_eq!(pool.len(), 3, "{pool:?}");
    // The same vectors, bit for bit, whichever pool computes them.
    assert_eq!(own.encode(&TEXTS).unwrap(), shared.encode(&TEXTS).unwrap());
    assert_eq!(
        own.tokenize(&TEXTS).unwrap(),
        shared.tokenize(&TEXTS).unwrap()
    );
}
