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
    /// vectors differ by ~1e-2; faster than f32 on some CPUs (AMD Zen 4),
    /// slower on others (Intel with AVX512_VNNI); see README.
    Bf16,
    /// An int8 screen, then f32 for the entries it cannot rule out: the
    /// f32 vectors bit for bit, faster for bulk encoding (any CPU; fastest
    /// with AVX512_VNNI). The pick for `index` and `encode`.
    Int8,
}

impl PrecisionMode {
    /// The library's precision this flag asks for.
    pub fn precision(self) -> Precision {
        match self {
            PrecisionMode::F32 => Precision::F32,
            PrecisionMode::Bf16 => Precision::Bf16,
            PrecisionMode::Int8 => Precision::Int8,
        }
    }

    /// The flag that asks for `precision`.
    pub fn of(precision: Precision) -> Self {
        match precision {
            Precision::F32 => PrecisionMode::F32,
            Precision::Bf16 => PrecisionMode::Bf16,
            Precision::Int8 => PrecisionMode::Int8,
        }
    }
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

    /// Arithmetic of the vocabulary projection: f32 (exact), int8 (the
    /// same vectors through an int8 screen, faster in bulk) or bf16
    /// (AVX512_BF16 CPUs, approximate) [default: f32; for queries: the
    /// index's]
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
///
/// A `--revision` given with a local folder is reported and ignored (a
/// folder has no revisions); `--window` and `--stride` without `--long-docs
/// window` are refused rather than ignored.
pub fn load_encoder(
    name: &str,
    revision: Option<&str>,
    args: &ModelArgs,
) -> anyhow::Result<Encoder> {
    let source = ModelSource::parse(name, revision);
    if let (ModelSource::Local(_), Some(rev)) = (&source, revision) {
        eprintln!("splade: warning: --revision {rev} is ignored: `{name}` is a local folder");
    }
    let long_docs = match args.long_docs.unwrap_or(LongDocsMode::Truncate) {
        LongDocsMode::Truncate => {
            if let Some(flag) = window_flags(args).first() {
                anyhow::bail!("{flag} applies to --long-docs window only");
            }
            LongDocs::Truncate
        }
        LongDocsMode::Window => LongDocs::Window {
            window: args.window.or(args.max_length).unwrap_or(512),
            stride: args.stride.unwrap_or(DEFAULT_STRIDE),
        },
    };
    let options = EncoderOptions {
        max_length: args.max_length,
        batch_size: args.batch_size,
        long_docs,
        precision: args.precision.unwrap_or(PrecisionMode::F32).precision(),
        // The global pool `configure_threads` sized.
        threads: None,
    };
    Encoder::load(&source, &options).with_context(|| {
        // The library names settings in words; say which flags set them.
        let mut flags = Vec::new();
        if args.precision == Some(PrecisionMode::Bf16) {
            flags.push("--precision bf16".to_owned());
        }
        if args.long_docs == Some(LongDocsMode::Window) {
            flags.push("--long-docs window".to_owned());
            flags.extend(window_flags(args));
        }
        if flags.is_empty() {
            format!("cannot load model `{name}`")
        } else {
            format!("cannot load model `{name}` with {}", flags.join(" "))
        }
    })
}

/// The window flags given, as `--window 100`: they shape --long-docs window.
fn window_flags(args: &ModelArgs) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(w) = args.window {
        flags.push(format!("--window {w}"));
    }
    if let Some(s) = args.stride {
        flags.push(format!("--stride {s}"));
    }
    flags
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

/// True when an error (or one of its causes) is a closed pipe
/// (`splade ... | head`), which ends a command quietly with exit 0.
///
/// The `io::Error` may sit anywhere in the chain, under context or inside a
/// library error (whose `source()` leads to it). `serde_json::Error` is the
/// exception: it wraps the `io::Error` of a failed write but its `source()`
/// skips it, so it is asked for the kind directly.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let kind = if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            Some(io.kind())
        } else if let Some(json) = cause.downcast_ref::<serde_json::Error>() {
            json.io_error_kind()
        } else {
            None
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// A hint naming the flag that gets past an error, for errors whose fix is
/// a flag (the library's messages name none).
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    use splade::index::IndexError;
    err.chain().find_map(|cause| {
        let index = cause.downcast_ref::<IndexError>().or_else(|| {
            match cause.downcast_ref::<splade::Error>() {
                Some(splade::Error::Index(e)) => Some(e),
                _ => None,
            }
        });
        match (cause.downcast_ref::<splade::Error>(), index) {
            (Some(splade::Error::Hub { .. }), _) => Some(
                "pass the folder with --model DIR, e.g. `--model ./models/splade-mini` \
                 (or set SPLADE_MODEL)",
            ),
            (_, Some(IndexError::IdExists { .. })) => {
                Some("pass --upsert to replace it, or delete it first with `splade delete`")
            }
            (_, Some(IndexError::UnknownId { .. })) => {
                Some("pass --ignore-missing to delete the others")
            }
            (_, Some(IndexError::MissingText { .. })) => Some(
                "give every line its \"text\" (and \"title\") beside the vector, or build \
                 the index with --no-lexical",
            ),
            _ => None,
        }
    })
}

/// The line said before a command reads `what` from stdin: only when the
/// input is stdin and stdin is a terminal, where a command waiting without
/// a word looks hung (a pipe or file needs no notice).
pub fn stdin_notice(path: &str, stdin_is_terminal: bool, what: &str) -> Option<String> {
    (splade::io::input::is_stdin(path) && stdin_is_terminal)
        .then(|| format!("splade: reading {what} from stdin (Ctrl-D to end)"))
}

/// Says on stderr that `what` is read from the terminal, if it is; shown
/// even with --quiet, since it asks for input.
pub fn announce_stdin(path: &str, what: &str) {
    if let Some(notice) = stdin_notice(path, std::io::stdin().is_terminal(), what) {
        eprintln!("{notice}");
    }
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

/// The library's lock policy for a `--wait` flag.
pub fn lock_wait(wait: bool) -> splade::index::LockWait {
    if wait {
        splade::index::LockWait::Wait
    } else {
        splade::index::LockWait::Fail
    }
}

/// A refused writer's error, with the flag that would have waited.
pub fn wait_hint(err: splade::index::IndexError) -> anyhow::Error {
    match err {
        splade::index::IndexError::Locked { .. } => {
            anyhow::anyhow!("{err} (or pass --wait to wait for it)")
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};

    use anyhow::Context;

    use super::*;

    fn pipe() -> Error {
        Error::from(ErrorKind::BrokenPipe)
    }

    #[test]
    fn broken_pipe_is_found_under_context_and_inside_errors() {
        let wrapped: Vec<anyhow::Error> = vec![
            anyhow::Error::from(pipe()),
            anyhow::Error::from(pipe()).context("writing results"),
            anyhow::Error::from(serde_json::Error::io(pipe())).context("writing JSON"),
            anyhow::Error::from(splade::Error::io("out", pipe())).context("saving"),
            anyhow::Error::from(splade::Error::Index(splade::index::IndexError::Io {
                path: "x".into(),
                source: pipe(),
            })),
            Err::<(), _>(pipe()).context("a").context("b").unwrap_err(),
        ];
        for err in &wrapped {
            assert!(is_broken_pipe(err), "{err:?}");
        }
        let others = [
            anyhow::Error::from(Error::from(ErrorKind::NotFound)),
            anyhow::Error::from(serde_json::from_str::<u8>("x").unwrap_err()),
            anyhow::anyhow!("Broken pipe"),
        ];
        for err in &others {
            assert!(!is_broken_pipe(err), "{err:?}");
        }
    }

    #[test]
    fn stdin_notice_only_for_stdin_on_a_terminal() {
        let notice = stdin_notice("-", true, "documents").unwrap();
        assert_eq!(
            notice,
            "splade: reading documents from stdin (Ctrl-D to end)"
        );
        assert_eq!(stdin_notice("-", false, "documents"), None);
        assert_eq!(stdin_notice("docs.jsonl", true, "documents"), None);
    }
}
