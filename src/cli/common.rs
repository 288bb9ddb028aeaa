//! Options and helpers shared by several subcommands.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use splade::encoder::{
    DEFAULT_MODEL, EncodeStats, Encoder, EncoderOptions, LongDocs, ModelSource, Precision,
};
pub use splade::io::{FieldNames, InputFormat};

/// `--precision` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionMode {
    /// f32: the reference's vectors (within 1e-5).
    F32,
    /// bf16 products in the vocabulary projection (AVX512_BF16 CPUs only):
    /// faster, vectors differ by ~1e-2; see README for its measured effect.
    Bf16,
}

/// `--long-docs` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LongDocsMode {
    /// Cut at the maximum length.
    Truncate,
    /// Overlapping windows, max-pooled.
    Window,
}

/// Which model encodes, and how.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model: a local folder (config.json, model.safetensors, tokenizer.json)
    /// or a Hugging Face repo id [default: rasyosef/splade-mini]
    #[arg(long, env = "SPLADE_MODEL")]
    pub model: Option<String>,

    /// Hub revision (branch, tag or commit) of a repo-id model.
    #[arg(long)]
    pub revision: Option<String>,

    /// Truncate texts to this many tokens, [CLS] and [SEP] included
    /// [default: the model's maximum, 512]
    #[arg(long)]
    pub max_length: Option<usize>,

    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,

    /// What to do with texts longer than the maximum length: `truncate`
    /// (cut, as the reference does) or `window` (encode overlapping windows
    /// and max-pool their vectors) [default: truncate; for queries: the
    /// index's]
    #[arg(long, value_enum)]
    pub long_docs: Option<LongDocsMode>,

    /// Tokens per window with --long-docs window, [CLS] and [SEP] included
    /// [default: the maximum length]
    #[arg(long)]
    pub window: Option<usize>,

    /// Arithmetic of the vocabulary projection: f32 (exact) or bf16
    /// (opt-in, faster on CPUs with AVX512_BF16) [default: f32; for
    /// queries: the index's]
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionMode>,

    /// Tokens shared by consecutive windows with --long-docs window
    /// [default: 128]
    #[arg(long)]
    pub stride: Option<usize>,
}

/// Tokens shared by consecutive windows when --stride is not given.
const DEFAULT_STRIDE: usize = 128;

impl ModelArgs {
    /// The model named on the command line, or the default.
    pub fn model_name(&self) -> &str {
        self.model.as_deref().unwrap_or(DEFAULT_MODEL)
    }

    /// Loads the named model.
    pub fn load(&self) -> anyhow::Result<Encoder> {
        load_encoder(self.model_name(), self.revision.as_deref(), self)
    }
}

/// Loads a model by name with the batching options of `args`.
pub fn load_encoder(
    name: &str,
    revision: Option<&str>,
    args: &ModelArgs,
) -> anyhow::Result<Encoder> {
    let source = ModelSource::parse(name, revision);
    let long_docs = match args.long_docs.unwrap_or(LongDocsMode::Truncate) {
        LongDocsMode::Truncate => LongDocs::Truncate,
        LongDocsMode::Window => LongDocs::Window {
            window: args.window.or(args.max_length).unwrap_or(512),
            stride: args.stride.unwrap_or(DEFAULT_STRIDE),
        },
    };
    let options = EncoderOptions {
        max_length: args.max_length,
        batch_size: args.batch_size,
        long_docs,
        precision: match args.precision.unwrap_or(PrecisionMode::F32) {
            PrecisionMode::F32 => Precision::F32,
            PrecisionMode::Bf16 => Precision::Bf16,
        },
    };
    Encoder::load(&source, &options).with_context(|| format!("cannot load model `{name}`"))
}

/// Field names and input format of document readers.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Read plain text, one document per line (id = line number), instead of JSONL.
    #[arg(long)]
    pub lines: bool,

    /// JSON field holding the id [default: "_id" or "id"]
    #[arg(long)]
    pub id_field: Option<String>,

    /// JSON field holding the text [default: "text" or "contents"]
    #[arg(long)]
    pub text_field: Option<String>,

    /// JSON field holding the title, prepended as `title + " " + text` [default: "title"]
    #[arg(long)]
    pub title_field: Option<String>,

    /// Report bad input lines on stderr and go on, instead of stopping.
    #[arg(long)]
    pub skip_invalid: bool,
}

impl InputArgs {
    /// The reader settings.
    pub fn format_and_fields(&self) -> (InputFormat, FieldNames) {
        let format = if self.lines {
            InputFormat::Lines
        } else {
            InputFormat::Jsonl
        };
        let fields = FieldNames {
            id: self.id_field.clone(),
            text: self.text_field.clone(),
            title: self.title_field.clone(),
        };
        (format, fields)
    }
}

/// A progress bar on stderr, hidden when quiet or when stderr is not a terminal.
pub fn progress(total_bytes: Option<u64>, quiet: bool, what: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total_bytes {
        Some(n) => {
            let bar = ProgressBar::new(n);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {percent}% {elapsed_precise} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed_precise}")
                    .expect("valid template"),
            );
            bar
        }
    };
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// True when an error (or one of its causes) is a closed pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(splade::io::output::is_broken_pipe)
            || matches!(cause.downcast_ref::<splade::Error>(),
                Some(splade::Error::Io { source, .. }) if splade::io::output::is_broken_pipe(source))
    })
}

/// Prints a line on stderr unless quiet.
pub fn note(quiet: bool, message: impl AsRef<str>) {
    if !quiet {
        eprintln!("{}", message.as_ref());
    }
}

/// Counts of a pass over an input.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadCounts {
    /// Records handed to the consumer.
    pub records: u64,
    /// Bad records reported and skipped.
    pub skipped: u64,
}

/// Reads records in chunks of `chunk` and hands each chunk to `consume`.
///
/// A bad record stops the pass with its error, after the good records before
/// it have been consumed (so output holds every line up to the bad one and
/// nothing of it); with `skip_invalid` it is reported on stderr and skipped.
pub fn for_each_chunk(
    reader: &mut splade::io::RecordReader,
    chunk: usize,
    skip_invalid: bool,
    bar: &ProgressBar,
    mut consume: impl FnMut(Vec<splade::io::Document>) -> anyhow::Result<()>,
) -> anyhow::Result<ReadCounts> {
    let mut counts = ReadCounts::default();
    let mut docs = Vec::with_capacity(chunk);
    loop {
        let next = reader.next();
        let stop = match next {
            Some(Ok(doc)) => {
                docs.push(doc);
                None
            }
            Some(Err(err @ splade::Error::Input { .. })) if skip_invalid => {
                bar.suspend(|| eprintln!("splade: skipped {err}"));
                counts.skipped += 1;
                None
            }
            Some(Err(err)) => Some(Err(err)),
            None => Some(Ok(())),
        };
        if docs.len() >= chunk || stop.is_some() {
            counts.records += docs.len() as u64;
            if !docs.is_empty() {
                consume(std::mem::take(&mut docs))?;
            }
            bar.set_position(reader.bytes_read());
        }
        if let Some(result) = stop {
            result?;
            return Ok(counts);
        }
    }
}

/// Reads documents in chunks, encodes each chunk, and hands the documents,
/// their texts and their vectors to `consume`; see [`for_each_chunk`] for
/// bad lines. Returns the read counts and the encoding totals.
pub fn encode_chunks(
    reader: &mut splade::io::RecordReader,
    encoder: &Encoder,
    input: &InputArgs,
    bar: &ProgressBar,
    mut consume: impl FnMut(
        &[splade::io::Document],
        &[String],
        &[splade::SparseVector],
    ) -> anyhow::Result<()>,
) -> anyhow::Result<(ReadCounts, EncodeStats)> {
    let mut totals = EncodeStats::default();
    // Enough texts per chunk for length-sorted batches on every core.
    let chunk = (encoder.batch_size() * 16).max(256);
    let counts = for_each_chunk(reader, chunk, input.skip_invalid, bar, |docs| {
        let texts: Vec<String> = docs.iter().map(|d| d.full_text()).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (vectors, stats) = encoder.encode_with_stats(&refs)?;
        totals += stats;
        consume(&docs, &texts, &vectors)
    })?;
    Ok((counts, totals))
}
