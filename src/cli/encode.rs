//! `splade encode`: texts in, SPLADE vectors out (JSONL).

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use splade::io::RecordReader;
use splade::io::input::input_len;
use splade::io::output::{VectorFormat, VectorWriter};

use super::common::{InputArgs, ModelArgs, announce_stdin, encode_chunks, note, progress};

/// Encode texts into SPLADE vectors, one JSON line per input on stdout.
///
/// By default each line is {"id": ..., "vector": {"token": weight, ...}},
/// tokens from the model's vocabulary (what `splade index --vectors` reads).
/// --format writes what a search engine ingests as it is: qdrant (points
/// with a named sparse vector), elasticsearch and opensearch (bulk NDJSON;
/// with --query, _msearch NDJSON), pgvector (COPY text), milvus (rows),
/// seismic, anserini (integer weights round(100 * w)).
/// Input is JSONL: id from "_id" or "id", text from "text" or "contents", and
/// a non-empty "title" is prepended to the text.
///
/// Examples:
///   splade encode corpus.jsonl > vectors.jsonl
///   echo '{"id":"q1","text":"what is splade"}' | splade encode --query
///   splade encode --lines notes.txt --model ./models/splade-tiny | head -3
///   splade encode corpus.jsonl --format qdrant > points.jsonl
///   splade encode corpus.jsonl --format pgvector | psql -c "COPY docs FROM STDIN"
///   splade encode corpus.jsonl --format elasticsearch --es-index docs > bulk.ndjson
///   splade encode queries.jsonl --query --format opensearch > msearch.ndjson
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EncodeArgs {
    /// JSONL documents (or text lines with --lines); `-` reads stdin.
    #[arg(default_value = "-")]
    input: String,

    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    input_args: InputArgs,

    /// Encode as queries. SPLADE models of this family use the same encoder
    /// for queries and documents; this changes only the qdrant,
    /// elasticsearch, opensearch and anserini formats (search requests or
    /// topics instead of documents).
    #[arg(long)]
    query: bool,

    /// Output shape.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,

    /// Index name in elasticsearch/opensearch output [default: splade]
    #[arg(long, value_name = "NAME")]
    es_index: Option<String>,

    /// Field holding the vector in elasticsearch/opensearch output (map it
    /// as `sparse_vector` in Elasticsearch, `rank_features` in OpenSearch)
    /// [default: splade]
    #[arg(long, value_name = "NAME")]
    es_field: Option<String>,
}

/// The index and field name of elasticsearch/opensearch output when not given.
const DEFAULT_ES_NAME: &str = "splade";

/// What `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// {"id", "vector": {token: weight}}: what `splade index --vectors` reads.
    Jsonl,
    /// Qdrant points {"id", "vector": {"splade": {"indices", "values"}},
    /// "payload": {"doc_id"}}: integer ids as they are, UUIDs as they are,
    /// other ids as uuid5(NAMESPACE_OID, id); indices are vocabulary ids.
    Qdrant,
    /// PostgreSQL COPY text: id TAB sparsevec `{i:w,...}/V`, 1-based indices,
    /// for a table (id text, v sparsevec(V)).
    Pgvector,
    /// Milvus rows {"id", "splade": {"term id": weight}} for a
    /// SPARSE_FLOAT_VECTOR field named splade.
    Milvus,
    /// Bulk NDJSON for a `sparse_vector` field (dots in tokens escaped as %2E).
    Elasticsearch,
    /// Bulk NDJSON for a `rank_features` field (dots in tokens escaped as %2E).
    Opensearch,
    /// {"id", "content", "vector": {token: weight}}: Seismic's input.
    Seismic,
    /// {"id", "contents", "vector": {token: int}}: Anserini's
    /// JsonVectorCollection, int = round(100 * weight), zeros dropped; with
    /// --query a TsvString topic (id TAB each token repeated int times).
    Anserini,
}

impl From<Format> for VectorFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Jsonl => VectorFormat::Jsonl,
            Format::Qdrant => VectorFormat::Qdrant,
            Format::Pgvector => VectorFormat::Pgvector,
            Format::Milvus => VectorFormat::Milvus,
            Format::Elasticsearch => VectorFormat::Elasticsearch,
            Format::Opensearch => VectorFormat::OpenSearch,
            Format::Seismic => VectorFormat::Seismic,
            Format::Anserini => VectorFormat::Anserini,
        }
    }
}

pub fn run(args: EncodeArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    check_es_flags(&args)?;
    let (format, fields) = args.input_args.format_and_fields();
    announce_stdin(&args.input, "documents");
    let mut reader = RecordReader::open(&args.input, format, fields)?;
    let started = Instant::now();
    let encoder = args.model.load()?;
    let bar = progress(input_len(&args.input), quiet, "encoding");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let writer = vector_writer(&args);
    let (counts, stats) = encode_chunks(
        &mut reader,
        &encoder,
        &args.input_args,
        &bar,
        |docs, texts, vectors| {
            for ((doc, text), vector) in docs.iter().zip(texts).zip(vectors) {
                writer.write(&mut out, &doc.id, text, vector, encoder.vocab())?;
            }
            out.flush()?;
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    note(
        quiet,
        format!(
            "encoded {} texts ({} tokens) in {:.1}s, {:.1} texts/s{}",
            counts.records,
            stats.tokens,
            secs,
            counts.records as f64 / secs.max(1e-9),
            if counts.skipped > 0 {
                format!(", {} bad lines skipped", counts.skipped)
            } else {
                String::new()
            }
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses --es-index and --es-field where the format has no use for them.
fn check_es_flags(args: &EncodeArgs) -> anyhow::Result<()> {
    if matches!(args.format, Format::Elasticsearch | Format::Opensearch) {
        return Ok(());
    }
    for (flag, value) in [
        ("--es-index", &args.es_index),
        ("--es-field", &args.es_field),
    ] {
        if value.is_some() {
            anyhow::bail!(
                "{flag} names what elasticsearch and opensearch output refers to; \
                 add --format elasticsearch or --format opensearch"
            );
        }
    }
    Ok(())
}

/// The output writer the flags ask for.
fn vector_writer(args: &EncodeArgs) -> VectorWriter {
    let name = |flag: &Option<String>| flag.as_deref().unwrap_or(DEFAULT_ES_NAME).to_owned();
    VectorWriter {
        format: args.format.into(),
        query: args.query,
        es_index: name(&args.es_index),
        es_field: name(&args.es_field),
    }
}
