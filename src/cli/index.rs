//! `splade index`: build an on-disk inverted index from documents or vectors.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use splade::encoder::{EncodeStats, Encoder};
use splade::index::{
    AppendOptions, Index, IndexWriter, ModelInfo, Quantization, StoredDoc, WriterOptions,
};
use splade::io::RecordReader;
use splade::io::input::input_len;
use splade::io::vectors::VectorReader;

use super::common::{
    InputArgs, ModelArgs, announce_stdin, encode_chunks, lock_wait, note, progress, wait_hint,
};
use super::search::{open_index, query_encoder};

/// Build an inverted index from JSONL documents (or pre-encoded vectors).
///
/// Documents are encoded in batches and their postings written to a new
/// index, published atomically: until the build finishes, a previous index at
/// the same path stays what searches see, and an interrupted build leaves no
/// half index behind. The model is recorded so that `splade search` encodes
/// queries with it.
///
/// With --append the documents are added to an existing index as a new
/// segment, encoded by the index's model, with its quantization and stored
/// fields; an id already in the index is an error unless --upsert, which
/// replaces the old document. Searches see the new documents once the
/// append is published, all at once.
///
/// Examples:
///   splade index corpus.jsonl --index ./idx
///   cat corpus.jsonl | splade index - --index ./idx --model ./models/splade-tiny --store
///   splade encode corpus.jsonl > vecs.jsonl && splade index --vectors vecs.jsonl --index ./idx
///   splade index --append new.jsonl --index ./idx
///   splade index --append --upsert changed.jsonl --index ./idx
///   splade index --vectors vecs.jsonl --index ./idx --reorder
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct IndexArgs {
    /// JSONL documents ({"id", "title", "text"}); `-` reads stdin.
    #[arg(default_value = "-")]
    input: String,

    /// Index directory.
    #[arg(long, env = "SPLADE_INDEX", default_value = "./splade-index")]
    index: PathBuf,

    /// The input holds pre-encoded vectors ({"id", "vector": {"token": weight}}),
    /// as `splade encode` writes. No model encodes them: --model only names
    /// the model that made them, for `splade search`.
    // Vectors carry no text, and no model encodes them: flags for texts,
    // fields and encoding would be ignored, so they are refused.
    #[arg(long, conflicts_with_all = [
        "store", "lines", "id_field", "text_field", "title_field",
        "max_length", "batch_size", "long_docs", "window", "precision", "stride",
    ])]
    vectors: bool,

    /// Add the documents to the existing index as a new segment instead of
    /// building a new index.
    #[arg(long)]
    append: bool,

    /// With --append: replace documents whose id is already in the index.
    #[arg(long, requires = "append")]
    upsert: bool,

    /// After building, renumber the documents so that similar ones are
    /// neighbours (as `splade compact --reorder`): exact search on large
    /// collections gets faster.
    #[arg(long, conflicts_with = "append")]
    reorder: bool,

    /// Store titles and texts in the index, to show them with search results.
    #[arg(long)]
    store: bool,

    /// How document weights are stored: u16 (indistinguishable from exact),
    /// u8 (smaller, changes rankings slightly) or f32 (exact)
    /// [default: u16; with --append: the index's]
    #[arg(long, value_parser = parse_quantization)]
    quantization: Option<Quantization>,

    /// Memory for in-memory postings before sorted runs spill to disk, in MiB.
    #[arg(long, default_value_t = 512)]
    memory_budget: u64,

    /// If another splade is writing to the index, wait for it to finish
    /// instead of failing at once.
    #[arg(long)]
    wait: bool,

    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    input_args: InputArgs,
}

fn parse_quantization(s: &str) -> Result<Quantization, String> {
    s.parse::<Quantization>().map_err(|e| e.to_string())
}

pub fn run(args: IndexArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (writer, skipped, totals) = if args.vectors {
        build_from_vectors(&args, quiet)?
    } else {
        build_from_documents(&args, quiet)?
    };
    let docs = writer.num_docs();
    let replaced = writer.replaced();
    let mut stats = writer
        .commit()
        .with_context(|| format!("cannot write the index at {}", args.index.display()))?;
    if args.reorder {
        let at = Instant::now();
        let options = splade::index::CompactOptions {
            memory_budget: args.memory_budget.saturating_mul(1 << 20),
            reorder: true,
            lock_wait: lock_wait(args.wait),
        };
        stats = splade::index::compact_with(&args.index, &options)
            .with_context(|| format!("cannot reorder the index at {}", args.index.display()))?;
        note(
            quiet,
            format!(
                "reordered the documents in {:.1}s",
                at.elapsed().as_secs_f64()
            ),
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let verb = if args.append { "appended" } else { "indexed" };
    let replaced = if replaced > 0 {
        format!(" ({replaced} replaced)")
    } else {
        String::new()
    };
    note(
        quiet,
        format!(
            "{verb} {docs} documents{replaced} in {secs:.1}s ({:.1} docs/s); the index holds \
             {} documents: {} terms, {} postings, {:.1} MB at {}{}{}",
            docs as f64 / secs.max(1e-9),
            stats.docs,
            stats.terms,
            stats.postings,
            stats.bytes as f64 / 1e6,
            args.index.display(),
            if totals.truncated > 0 {
                format!(
                    "; {} documents truncated at the maximum length (--long-docs window keeps all of them)",
                    totals.truncated
                )
            } else if totals.windowed > 0 {
                format!(
                    "; {} long documents encoded as several windows",
                    totals.windowed
                )
            } else {
                String::new()
            },
            if skipped > 0 {
                format!("; {skipped} bad lines skipped")
            } else {
                String::new()
            },
        ),
    );
    Ok(ExitCode::SUCCESS)
}

fn writer_options(args: &IndexArgs, model: Option<ModelInfo>) -> WriterOptions {
    WriterOptions {
        model,
        quantization: args.quantization.unwrap_or_default(),
        store: args.store,
        memory_budget: args.memory_budget.saturating_mul(1 << 20),
        lock_wait: lock_wait(args.wait),
        ..WriterOptions::default()
    }
}

/// The writer: a new build, or an append after checking that the options
/// given agree with the index.
fn open_writer(args: &IndexArgs, model: Option<ModelInfo>) -> anyhow::Result<IndexWriter> {
    if !args.append {
        return IndexWriter::create(&args.index, writer_options(args, model))
            .map_err(wait_hint)
            .with_context(|| format!("cannot build the index at {}", args.index.display()));
    }
    let options = AppendOptions {
        upsert: args.upsert,
        memory_budget: args.memory_budget.saturating_mul(1 << 20),
        lock_wait: lock_wait(args.wait),
    };
    let writer = IndexWriter::append(&args.index, options)
        .map_err(wait_hint)
        .with_context(|| format!("cannot append to the index at {}", args.index.display()))?;
    Ok(writer)
}

/// Checks --append against the index: the same quantization, stored fields
/// only if the index stores them. Returns the open index.
fn check_append(args: &IndexArgs) -> anyhow::Result<Index> {
    let index = open_index(&args.index)?;
    let meta = index.meta();
    if let Some(q) = args.quantization.filter(|&q| q != meta.quantization) {
        anyhow::bail!(
            "--quantization {q} differs from the index's {}; appended segments use the index's",
            meta.quantization
        );
    }
    if args.store && !meta.store {
        anyhow::bail!(
            "--store: the index at {} was built without stored texts; rebuild it with --store",
            args.index.display()
        );
    }
    Ok(index)
}

/// What an index records about the model that encoded it, and how: search
/// encodes queries with the same settings.
pub fn model_info(encoder: &Encoder) -> anyhow::Result<ModelInfo> {
    Ok(encoder.model_info()?)
}

/// The model that made pre-encoded vectors: how they were encoded is not
/// known, so no settings are recorded (search takes its flags as given).
fn vectors_model_info(encoder: &Encoder) -> anyhow::Result<ModelInfo> {
    Ok(ModelInfo {
        max_length: None,
        precision: None,
        long_docs: None,
        ..model_info(encoder)?
    })
}

fn build_from_documents(
    args: &IndexArgs,
    quiet: bool,
) -> anyhow::Result<(IndexWriter, u64, EncodeStats)> {
    let (format, fields) = args.input_args.format_and_fields();
    announce_stdin(&args.input, "documents");
    let mut reader = RecordReader::open(&args.input, format, fields)?;
    let encoder = if args.append {
        // The index's model (or --model, which must be the same).
        query_encoder(&check_append(args)?, &args.model)?
    } else {
        args.model.load()?
    };
    let mut writer = open_writer(args, Some(model_info(&encoder)?))?;
    let store = writer.stores_text();
    let bar = progress(input_len(&args.input), quiet, "indexing");
    let name = reader.name().to_owned();
    let (counts, totals) = encode_chunks(
        &mut reader,
        &encoder,
        &args.input_args,
        &bar,
        |docs, _, vectors| {
            for (doc, vector) in docs.iter().zip(vectors) {
                let terms = encoder.terms(vector);
                let stored = store.then(|| StoredDoc {
                    title: doc.title.clone(),
                    text: doc.body.clone(),
                });
                writer.add_from(
                    &doc.id,
                    &terms,
                    stored.as_ref(),
                    &format!("{name}:{}", doc.line),
                )?;
            }
            bar.set_message(format!("indexing ({} docs)", writer.num_docs()));
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    Ok((writer, counts.skipped, totals))
}

/// Appended vectors join the index's model: a --model must be that model
/// (checked by fingerprint), and an index that records none cannot get one.
fn check_vectors_model(index: &Index, args: &ModelArgs) -> anyhow::Result<()> {
    match (&index.meta().model, &args.model) {
        (_, None) => Ok(()),
        (None, Some(name)) => bail!(
            "--model {name}: the index at {} records no model, and appended vectors cannot \
             add one; append without --model",
            index.dir().display()
        ),
        (Some(_), Some(_)) => query_encoder(index, args).map(drop),
    }
}

/// Vector records parsed per batch.
const VECTOR_BATCH: usize = 256;

fn build_from_vectors(
    args: &IndexArgs,
    quiet: bool,
) -> anyhow::Result<(IndexWriter, u64, EncodeStats)> {
    if args.model.model.is_none()
        && let Some(rev) = &args.model.revision
    {
        bail!("--revision {rev} names a revision of --model, and no --model is given");
    }
    if args.append {
        check_vectors_model(&check_append(args)?, &args.model)?;
    }
    announce_stdin(&args.input, "vectors");
    let mut reader = VectorReader::open(&args.input)?;
    let name = if args.input == "-" {
        "<stdin>".to_owned()
    } else {
        args.input.clone()
    };
    let model = match &args.model.model {
        Some(m) if !args.append => Some(vectors_model_info(
            &args.model.load().with_context(|| format!("--model {m}"))?,
        )?),
        _ => None,
    };
    let mut writer = open_writer(args, model)?;
    let bar = progress(input_len(&args.input), quiet, "indexing vectors");
    let mut skipped = 0;
    // Parsing (JSON, the larger cost) of the next batch runs beside adding
    // the current one, so both cores work.
    let mut batch = reader.next_batch(VECTOR_BATCH);
    while !batch.is_empty() {
        let (next, added) = rayon::join(
            || reader.next_batch(VECTOR_BATCH),
            || -> anyhow::Result<()> {
                for record in batch {
                    let record = match record {
                        Ok(r) => r,
                        Err(err @ splade::Error::Input { .. }) if args.input_args.skip_invalid => {
                            bar.suspend(|| eprintln!("splade: skipped {err}"));
                            skipped += 1;
                            continue;
                        }
                        Err(err) => return Err(err.into()),
                    };
                    let terms: Vec<(&str, f32)> =
                        record.terms.iter().map(|(t, w)| (t.as_str(), *w)).collect();
                    writer.add_from(
                        &record.id,
                        &terms,
                        None,
                        &format!("{name}:{}", record.line),
                    )?;
                }
                bar.set_message(format!("indexing vectors ({} docs)", writer.num_docs()));
                Ok(())
            },
        );
        added?;
        bar.set_position(reader.bytes_read());
        batch = next;
    }
    bar.finish_and_clear();
    Ok((writer, skipped, EncodeStats::default()))
}
