//! Using splade as a library, without the command line: encode documents,
//! index them, search, append, delete and compact.
//!
//! `cargo run --release --example library -- ../shared/models/splade-tiny [THREADS]`
//!
//! It uses only the crate's public API (the items at `splade::`).

use splade::{
    AppendOptions, CompactOptions, Encoder, EncoderOptions, Index, IndexWriter, ModelSource, Query,
    SearchOptions, Searcher, StoredDoc, WriterOptions,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .unwrap_or_else(|| "../shared/models/splade-tiny".into());
    // Threads that encode (default: the caller's rayon pool, all cores).
    let threads = args.next().map(|n| n.parse()).transpose()?;
    let options = EncoderOptions {
        threads,
        ..EncoderOptions::default()
    };
    let encoder = Encoder::load(&ModelSource::parse(&model, None), &options)?;

    let dir = tempfile_dir()?;
    let docs = [
        (
            "d1",
            "An implied warranty is a contract law term for certain assurances.",
        ),
        (
            "d2",
            "Rust is a systems programming language focused on safety.",
        ),
        (
            "d3",
            "The boundary layer of a flat plate in supersonic flow.",
        ),
    ];
    // A new index that stores the texts and records the model, so that
    // whoever searches it can encode queries the same way.
    let options = WriterOptions {
        model: Some(encoder.model_info()?),
        store: true,
        ..WriterOptions::default()
    };
    let mut writer = IndexWriter::create(&dir, options)?;
    add_all(&mut writer, &encoder, &docs)?;
    let stats = writer.commit()?;
    println!(
        "indexed {} documents, {} terms",
        stats.live_docs, stats.terms
    );

    // Another segment, replacing d3 (upsert).
    let more = [
        (
            "d3",
            "Supersonic flow over a flat plate: the boundary layer.",
        ),
        ("d4", "Memory safety without garbage collection in Rust."),
    ];
    let mut writer = IndexWriter::append(
        &dir,
        AppendOptions {
            upsert: true,
            ..AppendOptions::default()
        },
    )?;
    add_all(&mut writer, &encoder, &more)?;
    println!("appending replaces {} document(s)", writer.replaced());
    writer.commit()?;

    let index = Index::open(&dir)?;
    let model = index.model().expect("the writer recorded the model");
    assert!(encoder.is_model(model)?, "queries need the index's model");
    let mut searcher = Searcher::new(&index, SearchOptions::default());
    for text in ["what does implied warranty mean", "safe systems language"] {
        println!("query: {text}");
        print_hits(&index, &searcher.search(&encoder.query(text)?, 3)?)?;
    }

    // Many queries at once, in parallel; results in query order.
    let texts = ["flat plate flow", "garbage collection"];
    let vectors = encoder.encode(&texts)?;
    let queries: Vec<Query> = vectors
        .iter()
        .map(|v| Query::new(encoder.terms(v)))
        .collect();
    for (text, hits) in texts.iter().zip(splade::search_batch(&index, &queries, 2)?) {
        println!("batch query: {text}");
        print_hits(&index, &hits)?;
    }

    // Delete, then compact away what the deletes and the upsert left.
    let outcome = splade::delete(&dir, &["d2"], &Default::default())?;
    println!("deleted {}", outcome.deleted);
    let stats = splade::compact_with(&dir, &CompactOptions::default())?;
    println!(
        "compacted: {} documents, {} deleted",
        stats.live_docs, stats.deleted
    );
    let index = Index::open(&dir)?;
    print_hits(&index, &splade::search(&index, &encoder.query("rust")?, 3)?)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Encodes `docs` (id, text) and adds them with their texts.
fn add_all(
    writer: &mut IndexWriter,
    encoder: &Encoder,
    docs: &[(&str, &str)],
) -> splade::Result<()> {
    let texts: Vec<&str> = docs.iter().map(|(_, text)| *text).collect();
    let vectors = encoder.encode(&texts)?;
    for ((id, text), vector) in docs.iter().zip(&vectors) {
        let stored = StoredDoc {
            title: None,
            text: text.to_string(),
        };
        writer.add_stored(id, &encoder.terms(vector), &stored)?;
    }
    Ok(())
}

/// Prints ranked hits with their ids and stored texts; an error when a
/// page they are read from is damaged.
fn print_hits(index: &Index, hits: &[splade::Hit]) -> splade::Result<()> {
    for (rank, hit) in hits.iter().enumerate() {
        let text = index.stored(hit.doc)?.map(|d| d.text).unwrap_or_default();
        println!(
            "  {} {} {:.3}  {text}",
            rank + 1,
            index.doc_id(hit.doc)?,
            hit.score
        );
    }
    Ok(())
}

/// A fresh directory under the system temp dir.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("splade-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
