//! `splade index`: build an on-disk inverted index from documents or vectors.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use rayon::prelude::*;
use splade::encoder::{EncodeStats, Encoder};
use splade::index::{
    AppendOptions, Index, IndexStats, IndexWriter, ModelInfo, Quantization, StoredDoc,
    WriterOptions,
};
use splade::io::RecordReader;
use splade::io::input::input_len;
use splade::io::vectors::{VectorReader, VectorRecord};
use splade::lexical::{Analyzer, Bm25Params, TermCounts, document_text};

use super::common::{
    InputArgs, ModelArgs, announce_stdin, encode_chunks, for_each_chunk, lock_wait, note, progress,
    wait_hint,
};
use super::query::{open_index, query_encoder};

/// Build an inverted index from JSONL documents (or pre-encoded vectors).
///
/// Documents are encoded in batches and their postings written to a new
/// index, published atomically: until the build finishes, a previous index at
/// the same path stays what searches see, and an interrupted build leaves no
/// half index behind. The model is recorded so that `splade search` encodes
/// queries with it.
///
/// Every document also gets lexical (BM25) postings of `title + " " + text`
/// (lower-cased, English stopwords dropped, Snowball-stemmed, as the
/// reference BM25), for BM25 and hybrid search: --no-lexical leaves them
/// out, --lexical-only writes only them and loads no model (fast: tens of
/// thousands of documents per second).
///
/// With --append the documents are added to an existing index as a new
/// segment, encoded by the index's model, with its quantization, stored
/// fields and lexical postings; an id already in the index is an error
/// unless --upsert, which replaces the old document. Searches see the new
/// documents once the append is published, all at once.
///
/// Examples:
///   splade index corpus.jsonl --index ./idx
///   cat corpus.jsonl | splade index - --index ./idx --model ./models/splade-tiny --store
///   splade index corpus.jsonl --index ./bm25-idx --lexical-only
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
    /// the model that made them, for `splade search`. Such lines have no
    /// text, so the index gets no lexical postings, unless the lines carry
    /// the text beside the vector ({"id", "vector", "text", "title"}): when
    /// the first line has a "text", every line needs one, and lexical
    /// postings are written from `title + " " + text`.
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

    /// Write no lexical (BM25) postings: a SPLADE-only index, a little
    /// smaller; BM25 and hybrid search then refuse it.
    #[arg(long, conflicts_with_all = ["bm25_k1", "bm25_b"])]
    no_lexical: bool,

    /// Write lexical (BM25) postings only: no model is loaded (--model is
    /// not read), documents are analyzed, not encoded. SPLADE and hybrid
    /// search then refuse the index.
    // No model encodes and there is nothing to quantize or reorder by: the
    // encoding, quantization and reordering flags are refused.
    #[arg(long, conflicts_with_all = [
        "no_lexical", "vectors", "reorder", "quantization", "revision", "max_length",
        "batch_size", "long_docs", "window", "precision", "stride",
    ])]
    lexical_only: bool,

    /// BM25 term-frequency saturation k1 (>= 0), recorded in the index
    /// [default: 1.5]
    #[arg(long, value_name = "K1", allow_hyphen_values = true)]
    bm25_k1: Option<f64>,

    /// BM25 length normalization b (0 to 1), recorded in the index
    /// [default: 0.75]
    #[arg(long, value_name = "B", allow_hyphen_values = true)]
    bm25_b: Option<f64>,

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
    let bm25 = bm25_params(&args)?;
    let (writer, skipped, totals) = if args.vectors {
        build_from_vectors(&args, bm25, quiet)?
    } else {
        build_from_documents(&args, bm25, quiet)?
    };
    let docs = writer.num_docs();
    let replaced = writer.replaced();
    let mut stats = writer
        .commit()
        .with_context(|| format!("cannot write the index at {}", args.index.display()))?;
    if args.reorder {
        stats = reorder(&args, quiet)?;
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
             {} documents: {}, {:.1} MB at {}{}{}",
            docs as f64 / secs.max(1e-9),
            stats.live_docs,
            postings_summary(&stats),
            stats.bytes as f64 / 1e6,
            args.index.display(),
            encoding_note(&totals),
            if skipped > 0 {
                format!("; {skipped} bad lines skipped")
            } else {
                String::new()
            },
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `--reorder`: compacts the index just built with the documents reordered.
fn reorder(args: &IndexArgs, quiet: bool) -> anyhow::Result<IndexStats> {
    let at = Instant::now();
    let options = splade::index::CompactOptions {
        memory_budget: args.memory_budget.saturating_mul(1 << 20),
        reorder: true,
        lock_wait: lock_wait(args.wait),
    };
    let stats = splade::index::compact_with(&args.index, &options)
        .with_context(|| format!("cannot reorder the index at {}", args.index.display()))?;
    note(
        quiet,
        format!(
            "reordered the documents in {:.1}s",
            at.elapsed().as_secs_f64()
        ),
    );
    Ok(stats)
}

/// What the summary line says of long documents, if anything.
fn encoding_note(totals: &EncodeStats) -> String {
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
    }
}

/// What the index holds, in words: SPLADE terms and postings, BM25 stems
/// and postings, whichever it has.
fn postings_summary(stats: &IndexStats) -> String {
    let mut parts = Vec::new();
    if stats.postings > 0 || stats.lexical_postings == 0 {
        parts.push(format!(
            "{} terms, {} postings",
            stats.terms, stats.postings
        ));
    }
    if stats.lexical_postings > 0 {
        parts.push(format!(
            "{} BM25 stems, {} BM25 postings",
            stats.lexical_terms, stats.lexical_postings
        ));
    }
    parts.join(", ")
}

/// The BM25 parameters of a new index (`None` with --no-lexical), checked.
fn bm25_params(args: &IndexArgs) -> anyhow::Result<Option<Bm25Params>> {
    if args.no_lexical {
        return Ok(None);
    }
    let default = Bm25Params::default();
    let k1 = args.bm25_k1.unwrap_or(default.k1);
    let b = args.bm25_b.unwrap_or(default.b);
    Bm25Params::new(k1, b)
        .map(Some)
        .map_err(|e| anyhow!("--bm25-{} {}: {e}", e.name, e.value))
}

fn writer_options(
    args: &IndexArgs,
    model: Option<ModelInfo>,
    bm25: Option<Bm25Params>,
) -> WriterOptions {
    WriterOptions {
        model,
        quantization: args.quantization.unwrap_or_default(),
        store: args.store,
        memory_budget: args.memory_budget.saturating_mul(1 << 20),
        lock_wait: lock_wait(args.wait),
        lexical: bm25,
        splade: !args.lexical_only,
        ..WriterOptions::default()
    }
}

/// The writer: a new build (with lexical postings when `bm25` is given),
/// or an append after checking that the options given agree with the
/// index (which decides what is written).
fn open_writer(
    args: &IndexArgs,
    model: Option<ModelInfo>,
    bm25: Option<Bm25Params>,
) -> anyhow::Result<IndexWriter> {
    if !args.append {
        return IndexWriter::create(&args.index, writer_options(args, model, bm25))
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
    check_append_lexical(args, &index)?;
    Ok(index)
}

/// Checks the lexical flags of --append against the index, whose segments
/// all hold the same kinds of postings with the same BM25 parameters.
fn check_append_lexical(args: &IndexArgs, index: &Index) -> anyhow::Result<()> {
    let at = args.index.display();
    if args.no_lexical && index.has_lexical() {
        bail!(
            "--no-lexical: the index at {at} has lexical postings, and appended documents get \
             them too; append without --no-lexical"
        );
    }
    if args.lexical_only && index.has_splade() {
        bail!(
            "--lexical-only: the index at {at} has SPLADE postings, and appended documents get \
             them too; append without --lexical-only"
        );
    }
    let given = [("--bm25-k1", args.bm25_k1), ("--bm25-b", args.bm25_b)];
    for (i, (flag, value)) in given.into_iter().enumerate() {
        let Some(value) = value else { continue };
        match index.bm25_params() {
            None => bail!("{flag}: the index at {at} has no lexical postings"),
            Some(p) => {
                let recorded = if i == 0 { p.k1 } else { p.b };
                if value != recorded {
                    bail!(
                        "{flag} {value} differs from the index's {recorded}; BM25 parameters \
                         are set when an index is built"
                    );
                }
            }
        }
    }
    Ok(())
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

/// Documents read per batch by a lexical-only build (no encoder sets it).
const LEXICAL_CHUNK: usize = 4096;

/// The analyzed texts of a batch, on all cores, when `lexical` (the writer
/// keeps lexical postings; else nothing is analyzed): the analyzer is some
/// hundred times faster than the encoder, so this adds little to a build.
fn analyze_all(lexical: bool, texts: &[String]) -> Vec<Option<TermCounts>> {
    if !lexical {
        return vec![None; texts.len()];
    }
    let analyzer = Analyzer::english();
    texts
        .par_iter()
        .map(|t| Some(TermCounts::of(&analyzer, t)))
        .collect()
}

/// Adds one read document with its SPLADE terms and analyzed text.
fn add_document(
    writer: &mut IndexWriter,
    source: &str,
    doc: &splade::io::Document,
    terms: &[(&str, f32)],
    counts: Option<&TermCounts>,
) -> anyhow::Result<()> {
    let stored = writer.stores_text().then(|| StoredDoc {
        title: doc.title.clone(),
        text: doc.body.clone(),
    });
    let origin = format!("{source}:{}", doc.line);
    writer.add_document_from(&doc.id, terms, counts, stored.as_ref(), &origin)?;
    Ok(())
}

/// The encoder of the documents: none for a lexical-only build or an
/// append to a lexical-only index (no model is loaded), else the index's
/// model for an append (or --model, which must be the same), --model for a
/// build.
fn document_encoder(args: &IndexArgs) -> anyhow::Result<Option<Encoder>> {
    let appended = if args.append {
        Some(check_append(args)?)
    } else {
        None
    };
    // An append writes what the index holds.
    let splade = appended
        .as_ref()
        .map_or(!args.lexical_only, Index::has_splade);
    Ok(match (&appended, splade) {
        (_, false) => None,
        (Some(index), true) => Some(query_encoder(index, &args.model)?),
        (None, true) => Some(args.model.load()?),
    })
}

fn build_from_documents(
    args: &IndexArgs,
    bm25: Option<Bm25Params>,
    quiet: bool,
) -> anyhow::Result<(IndexWriter, u64, EncodeStats)> {
    let (format, fields) = args.input_args.format_and_fields();
    announce_stdin(&args.input, "documents");
    let mut reader = RecordReader::open(&args.input, format, fields)?;
    let encoder = document_encoder(args)?;
    let model = encoder.as_ref().map(model_info).transpose()?;
    let mut writer = open_writer(args, model, bm25)?;
    let lexical = writer.writes_lexical();
    let bar = progress(input_len(&args.input), quiet, "indexing");
    let name = reader.name().to_owned();
    let (counts, totals) = match &encoder {
        Some(encoder) => encode_chunks(
            &mut reader,
            encoder,
            &args.input_args,
            &bar,
            |docs, texts, vectors| {
                let analyzed = analyze_all(lexical, texts);
                for ((doc, vector), counts) in docs.iter().zip(vectors).zip(&analyzed) {
                    let terms = encoder.terms(vector);
                    add_document(&mut writer, &name, doc, &terms, counts.as_ref())?;
                }
                bar.set_message(format!("indexing ({} docs)", writer.num_docs()));
                Ok(())
            },
        )?,
        None => {
            let counts = for_each_chunk(
                &mut reader,
                LEXICAL_CHUNK,
                args.input_args.skip_invalid,
                &bar,
                |docs| {
                    let texts: Vec<String> = docs.iter().map(|d| d.full_text()).collect();
                    let analyzed = analyze_all(lexical, &texts);
                    for (doc, counts) in docs.iter().zip(&analyzed) {
                        add_document(&mut writer, &name, doc, &[], counts.as_ref())?;
                    }
                    bar.set_message(format!("indexing ({} docs)", writer.num_docs()));
                    Ok(())
                },
            )?;
            (counts, EncodeStats::default())
        }
    };
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

/// The analyzed `title + " " + text` of each vector record that carries a
/// text, on all cores, when `lexical`; `None` for the others (which the
/// writer then refuses, naming the line).
fn analyze_vectors(
    lexical: bool,
    batch: &[splade::Result<VectorRecord>],
) -> Vec<Option<TermCounts>> {
    if !lexical {
        return vec![None; batch.len()];
    }
    let analyzer = Analyzer::english();
    batch
        .par_iter()
        .map(|r| {
            let r = r.as_ref().ok()?;
            let text = document_text(r.title.as_deref().unwrap_or(""), r.text.as_deref()?);
            Some(TermCounts::of(&analyzer, &text))
        })
        .collect()
}

fn build_from_vectors(
    args: &IndexArgs,
    bm25: Option<Bm25Params>,
    quiet: bool,
) -> anyhow::Result<(IndexWriter, u64, EncodeStats)> {
    if args.model.model.is_none()
        && let Some(rev) = &args.model.revision
    {
        bail!("--revision {rev} names a revision of --model, and no --model is given");
    }
    if args.append {
        let index = check_append(args)?;
        if !index.has_splade() {
            bail!(
                "--vectors: the index at {} has no SPLADE postings (it was built with \
                 --lexical-only); append documents, not vectors",
                args.index.display()
            );
        }
        check_vectors_model(&index, &args.model)?;
    }
    announce_stdin(&args.input, "vectors");
    let mut reader = VectorReader::open(&args.input)?;
    let name = reader.name().to_owned();
    let model = match &args.model.model {
        Some(m) if !args.append => Some(vectors_model_info(
            &args.model.load().with_context(|| format!("--model {m}"))?,
        )?),
        _ => None,
    };
    let mut batch = reader.next_batch(VECTOR_BATCH);
    // Lexical postings when the first vector comes with its text (an
    // append writes what the index holds).
    let with_text = batch
        .iter()
        .find_map(|r| r.as_ref().ok())
        .is_some_and(|r| r.text.is_some());
    let mut writer = open_writer(args, model, bm25.filter(|_| with_text || args.append))?;
    let bar = progress(input_len(&args.input), quiet, "indexing vectors");
    let mut skipped = 0;
    // Parsing (JSON, the larger cost) of the next batch runs beside adding
    // the current one, so both cores work.
    while !batch.is_empty() {
        let (next, added) = rayon::join(
            || reader.next_batch(VECTOR_BATCH),
            || add_vectors(&mut writer, batch, &name, args, &bar),
        );
        skipped += added?;
        bar.set_position(reader.bytes_read());
        batch = next;
    }
    bar.finish_and_clear();
    Ok((writer, skipped, EncodeStats::default()))
}

/// Adds a batch of vector records (with their analyzed texts when the
/// writer keeps lexical postings); returns how many bad records were
/// skipped (--skip-invalid).
fn add_vectors(
    writer: &mut IndexWriter,
    batch: Vec<splade::Result<VectorRecord>>,
    source: &str,
    args: &IndexArgs,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    let mut skipped = 0;
    let analyzed = analyze_vectors(writer.writes_lexical(), &batch);
    for (record, counts) in batch.into_iter().zip(&analyzed) {
        let record = match record {
            Ok(r) => r,
            Err(err @ splade::Error::Input { .. }) if args.input_args.skip_invalid => {
                bar.suspend(|| eprintln!("splade: skipped {err}"));
                skipped += 1;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let terms: Vec<(&str, f32)> = record.terms.iter().map(|(t, w)| (t.as_str(), *w)).collect();
        let origin = format!("{source}:{}", record.line);
        writer.add_document_from(&record.id, &terms, counts.as_ref(), None, &origin)?;
    }
    bar.set_message(format!("indexing vectors ({} docs)", writer.num_docs()));
    Ok(skipped)
}
