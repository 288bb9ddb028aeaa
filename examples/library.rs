//! Using splade as a library: encode a few documents, index them, search.
//!
//! `cargo run --release --example library -- ../shared/models/splade-tiny`

use splade::encoder::{Encoder, EncoderOptions, ModelSource};
use splade::index::{Index, IndexWriter, WriterOptions};
use splade::search::search;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/models/splade-tiny".into());
    let encoder = Encoder::load(
        &ModelSource::parse(&model, None),
        &EncoderOptions::default(),
    )?;

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
    let texts: Vec<&str> = docs.iter().map(|(_, t)| *t).collect();
    let vectors = encoder.encode(&texts)?;

    let dir = tempfile_dir()?;
    let mut writer = IndexWriter::create(&dir, WriterOptions::default())?;
    for ((id, _), vector) in docs.iter().zip(&vectors) {
        let terms = encoder.terms(vector);
        writer.add(id, &terms, None, "example")?;
    }
    writer.commit()?;

    let index = Index::open(&dir)?;
    let query = encoder.encode_one("what does implied warranty mean")?;
    let terms = encoder.terms(&query);
    for (rank, hit) in search(&index, &terms, 3).iter().enumerate() {
        println!("{} {} {:.3}", rank + 1, index.doc_id(hit.doc), hit.score);
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A fresh directory under the system temp dir.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("splade-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
