//! `splade encode`: texts in, SPLADE vectors out (JSONL).

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use splade::io::RecordReader;
use splade::io::input::input_len;
use splade::io::output::write_vector_line;

use super::common::{InputArgs, ModelArgs, for_each_chunk, note, progress};

/// Encode texts into SPLADE vectors, one JSON line per input on stdout.
///
/// Each line is {"id": ..., "vector": {"token": weight, ...}}, tokens from
/// the model's vocabulary (the shape Seismic and Elasticsearch ingest).
/// Input is JSONL: id from "_id" or "id", text from "text" or "contents", and
/// a non-empty "title" is prepended to the text.
///
/// Examples:
///   splade encode corpus.jsonl > vectors.jsonl
///   echo '{"id":"q1","text":"what is splade"}' | splade encode --query
///   splade encode --lines notes.txt --model ./models/splade-tiny | head -3
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
    /// for queries and documents, so this only documents intent.
    #[arg(long)]
    query: bool,
}

pub fn run(args: EncodeArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let (format, fields) = args.input_args.format_and_fields();
    let mut reader = RecordReader::open(&args.input, format, fields)?;
    let started = Instant::now();
    let encoder = args.model.load()?;
    let bar = progress(input_len(&args.input), quiet, "encoding");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut tokens = 0usize;
    let chunk = (args.model.batch_size * 16).max(256);
    let counts = for_each_chunk(
        &mut reader,
        chunk,
        args.input_args.skip_invalid,
        &bar,
        |docs| {
            let texts: Vec<String> = docs.iter().map(|d| d.full_text()).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let (vectors, stats) = encoder.encode_with_stats(&refs)?;
            tokens += stats.tokens;
            for (doc, vector) in docs.iter().zip(&vectors) {
                write_vector_line(&mut out, &doc.id, vector, encoder.vocab())?;
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
            tokens,
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
