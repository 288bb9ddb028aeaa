//! Text to SPLADE vector: model resolution, BERT masked-LM, pooling.
//!
//! The pipeline equals sentence-transformers' `SparseEncoder` with
//! `SpladePooling(max, relu)`: tokenize with `[CLS] ... [SEP]` and truncation,
//! run BERT and its MLM head, and take per vocabulary entry the max over all
//! real tokens (`[CLS]` and `[SEP]` included) of `log(1 + relu(logit))`.
//! Queries and documents go through the same encoder.
//!
//! Texts are encoded in length-sorted batches, so padding stays small, and
//! results come back in input order.
//!
//! Threads: see [`EncoderOptions::threads`]; the binary's setup is
//! `cli::threads`.

mod bert;
pub(crate) mod bf16;
mod config;
mod download;
mod fingerprint;
mod gelu;
mod int8;
mod kernel;
pub(crate) mod long;
mod pool;
mod resolve;
mod tokenizer;
mod vocab;
mod weights;

use std::path::Path;

use candle_core::Device;
use rayon::prelude::*;

use config::BertConfig;
pub(crate) use fingerprint::FileStamp;
pub use long::LongDocs;
pub use pool::Precision;
pub(crate) use resolve::DEFAULT_MODEL;
use resolve::ModelFiles;
pub use resolve::ModelSource;
use tokenizer::TextTokenizer;
pub use tokenizer::cache_file as tokenizer_cache_file;
pub use vocab::Vocab;

use crate::error::{Error, Result};
use crate::index::ModelInfo;
use crate::search::Query;
use crate::sparse::SparseVector;
use bert::BertMlm;
use pool::Decoder;
use weights::Checkpoint;

/// How texts are encoded.
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// Truncate tokenized texts (special tokens included) to this length;
    /// `None` means the model's `max_position_embeddings` (512 for BERT).
    pub max_length: Option<usize>,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// What happens to texts longer than `max_length`.
    pub long_docs: LongDocs,
    /// Arithmetic of the vocabulary projection (f32 unless asked).
    pub precision: Precision,
    /// Threads that encode: `Some(n)` gives the encoder a rayon pool of
    /// its own, of `n` threads (at least one), that every call runs in;
    /// `None` (the default) runs in the caller's current rayon pool
    /// (rayon's global one, unless the caller `install`ed another).
    ///
    /// Batches run in parallel on that pool, and so do candle's matrix
    /// products, as tasks of the same pool. Candle's element-wise
    /// operations on large tensors are the exception: they run on a
    /// spinning pool of candle's own, of `CANDLE_NUM_THREADS - 1` threads
    /// (default: one per physical core, less one), which only the
    /// process's environment sizes and which concurrent batches take in
    /// turn. For exactly `n` threads, start the program with
    /// `CANDLE_NUM_THREADS=1` in its environment (the `splade` binary sets
    /// it itself at the start of `main`, before any thread runs). The
    /// vectors are the same either way, bit for bit.
    pub threads: Option<usize>,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            max_length: None,
            batch_size: 32,
            long_docs: LongDocs::Truncate,
            precision: Precision::F32,
            threads: None,
        }
    }
}

/// Per-call counts, for progress and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeStats {
    /// Tokens processed, special tokens included, padding excluded.
    pub tokens: usize,
    /// Texts cut at the maximum length (truncate mode).
    pub truncated: usize,
    /// Texts split into several windows (window mode).
    pub windowed: usize,
}

impl std::ops::AddAssign for EncodeStats {
    fn add_assign(&mut self, other: EncodeStats) {
        self.tokens += other.tokens;
        self.truncated += other.truncated;
        self.windowed += other.windowed;
    }
}

/// A loaded SPLADE model: texts in, [`SparseVector`]s (or a [`Query`]) out.
///
/// The pipeline is sentence-transformers' `SparseEncoder` with max
/// pooling: BERT's masked-LM logits of every token, `log(1 + relu(x))`,
/// the max over the tokens per vocabulary entry. Texts are encoded in
/// length-sorted batches, in parallel, and come back in input order.
/// Loading reads config.json, model.safetensors and tokenizer.json once;
/// an `Encoder` is then shared freely between threads (`&self` methods).
pub struct Encoder {
    bert: BertMlm,
    decoder: Decoder,
    tokenizer: TextTokenizer,
    /// The tokenizer's vocabulary, cut at config.json's `vocab_size`.
    vocab: Vocab,
    max_length: usize,
    batch_size: usize,
    long_docs: LongDocs,
    precision: Precision,
    files: ModelFiles,
    identity: fingerprint::Identity,
    /// The pool of [`EncoderOptions::threads`], when set.
    pool: Option<rayon::ThreadPool>,
}

impl Encoder {
    /// Resolves and loads a model: a local folder, or a hub repository
    /// (downloaded into the Hugging Face cache on first use).
    pub fn load(source: &ModelSource, options: &EncoderOptions) -> Result<Self> {
        let files = source.resolve()?;
        crate::profile::mark("model resolve");
        Self::from_files(files, options)
    }

    /// Loads a model from resolved files.
    fn from_files(files: ModelFiles, options: &EncoderOptions) -> Result<Self> {
        let pool = options.threads.map(thread_pool).transpose()?;
        let device = Device::Cpu;
        // Before the weights are read, so that a later change shows.
        let identity = fingerprint::Identity::of(&files)?;
        let config = BertConfig::from_file(&files.config)?;
        crate::profile::mark("model config+fingerprint");
        let ckpt = Checkpoint::open(&files.weights, &device)?;
        crate::profile::mark("model weights: map");
        let bert = BertMlm::load(&ckpt, &config, &device)?;
        crate::profile::mark("model weights: bert");
        let decoder = load_decoder(&ckpt, &config, options.precision)?;
        crate::profile::mark("model weights: decoder");
        let max_length = options
            .max_length
            .unwrap_or(config.max_position_embeddings)
            .clamp(2, config.max_position_embeddings);
        let long_docs = match options.long_docs {
            LongDocs::Window { window, stride } => {
                let window = window.clamp(3, config.max_position_embeddings);
                if stride + 2 >= window {
                    return Err(Error::Msg(format!(
                        "the window stride ({stride} tokens) must be smaller than the window \
                         ({window} tokens) minus 2"
                    )));
                }
                LongDocs::Window { window, stride }
            }
            LongDocs::Truncate => LongDocs::Truncate,
        };
        let truncate_at = match long_docs {
            LongDocs::Truncate => Some(max_length),
            LongDocs::Window { .. } => None,
        };
        let tokenizer =
            TextTokenizer::load(&files.tokenizer, identity.tokenizer_key(), truncate_at)?;
        let vocab = vocabulary(&tokenizer, config.vocab_size, &files.tokenizer)?;
        crate::profile::mark("model tokenizer");
        Ok(Encoder {
            bert,
            decoder,
            tokenizer,
            vocab,
            max_length,
            batch_size: options.batch_size.max(1),
            long_docs,
            precision: options.precision,
            files,
            identity,
            pool,
        })
    }

    /// Runs `f` in the encoder's pool, if it has one, else where it is.
    fn in_pool<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }

    /// Encodes one text.
    pub fn encode_one(&self, text: &str) -> Result<SparseVector> {
        Ok(self.encode(&[text])?.pop().expect("one vector per text"))
    }

    /// Encodes texts; the result is in input order.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<SparseVector>> {
        Ok(self.encode_with_stats(texts)?.0)
    }

    /// Encodes a query text into the [`Query`] an index is searched with:
    /// its terms named by their vocabulary entries.
    pub fn query(&self, text: &str) -> Result<Query> {
        Ok(Query::new(self.terms(&self.encode_one(text)?)))
    }

    /// Encodes texts and counts tokens and truncations.
    pub fn encode_with_stats(&self, texts: &[&str]) -> Result<(Vec<SparseVector>, EncodeStats)> {
        self.in_pool(|| self.encode_counted(texts))
    }

    fn encode_counted(&self, texts: &[&str]) -> Result<(Vec<SparseVector>, EncodeStats)> {
        let tokenized = self.tokenize_full(texts)?;
        let mut stats = EncodeStats::default();
        let mut seqs = Vec::with_capacity(tokenized.len());
        let mut owners = Vec::with_capacity(tokenized.len());
        for (text, (ids, truncated)) in tokenized.into_iter().enumerate() {
            stats.truncated += usize::from(truncated);
            let parts = match self.long_docs {
                LongDocs::Truncate => vec![ids],
                LongDocs::Window { window, stride } => long::windows(&ids, window, stride),
            };
            stats.windowed += usize::from(parts.len() > 1);
            for part in parts {
                stats.tokens += part.len();
                seqs.push(part);
                owners.push(text);
            }
        }
        let encoded = self.encode_sequences(&seqs)?;
        let mut vectors: Vec<Option<SparseVector>> = vec![None; texts.len()];
        for (owner, v) in owners.into_iter().zip(encoded) {
            vectors[owner] = Some(match vectors[owner].take() {
                None => v,
                Some(pooled) => pooled.max_pool(&v),
            });
        }
        let vectors = vectors
            .into_iter()
            .map(|v| v.expect("every text encoded"))
            .collect();
        Ok((vectors, stats))
    }

    /// Encodes token-id sequences (each `[CLS] ... [SEP]`, at most the
    /// model's maximum length) in length-sorted batches; input order.
    pub fn encode_token_ids(&self, seqs: &[Vec<u32>]) -> Result<Vec<SparseVector>> {
        self.in_pool(|| self.encode_sequences(seqs))
    }

    fn encode_sequences(&self, seqs: &[Vec<u32>]) -> Result<Vec<SparseVector>> {
        self.check_ids(seqs)?;
        // Outside the parallel loop: packing runs on this thread.
        self.decoder.prepare(seqs.iter().map(Vec::len).sum());
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| seqs[i].len());
        // Batches run in parallel (each also spreads its projection over
        // the cores); results are put back in input order.
        let batches: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        let encoded = batches
            .par_iter()
            .map(|batch| {
                let batch_seqs: Vec<&[u32]> = batch.iter().map(|&i| seqs[i].as_slice()).collect();
                self.encode_ids(&batch_seqs)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut out: Vec<Option<SparseVector>> = vec![None; seqs.len()];
        for (batch, vectors) in batches.iter().zip(encoded) {
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = Some(v);
            }
        }
        Ok(out
            .into_iter()
            .map(|v| v.expect("every sequence encoded"))
            .collect())
    }

    /// Token ids of each text, `[CLS] ... [SEP]`, truncated to the maximum
    /// length in truncate mode, whole in window mode. A tokenizer may add
    /// tokens beyond the model's vocabulary: their ids are not below
    /// `vocab().len()`, name no vocabulary entry, and cannot be encoded.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let tokenized = self.in_pool(|| self.tokenize_full(texts))?;
        Ok(tokenized.into_iter().map(|(ids, _)| ids).collect())
    }

    /// Like [`tokenize`](Self::tokenize), with whether each text was cut.
    ///
    /// In truncate mode a long text is tokenized from a prefix (cut at a
    /// space) that grows until it yields more tokens than fit: BERT's
    /// normalizer and pre-tokenizer work within words, so the first tokens
    /// of a prefix that ends at a space are the first tokens of the whole
    /// text, and a 100 MB line costs what its first few kilobytes cost.
    fn tokenize_full(&self, texts: &[&str]) -> Result<Vec<(Vec<u32>, bool)>> {
        let prefix_bytes = match self.long_docs {
            LongDocs::Truncate => self.max_length * 32,
            LongDocs::Window { .. } => usize::MAX,
        };
        let short: Vec<&str> = texts
            .iter()
            .map(|t| prefix_at_space(t, prefix_bytes))
            .collect();
        let mut out = self.encode_batch_ids(&short)?;
        for (i, text) in texts.iter().enumerate() {
            let mut limit = prefix_bytes;
            // A prefix that fits entirely was too short to be sure: grow it.
            while !out[i].1 && short[i].len() < text.len() && limit < text.len() {
                limit = limit.saturating_mul(4);
                let prefix = prefix_at_space(text, limit);
                out[i] = self.encode_batch_ids(&[prefix])?.remove(0);
                if prefix.len() == text.len() {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn encode_batch_ids(&self, texts: &[&str]) -> Result<Vec<(Vec<u32>, bool)>> {
        self.tokenizer.encode_batch(texts)
    }

    /// Refuses an id outside the model's vocabulary (a token the tokenizer
    /// added beyond config.json's `vocab_size`), naming the token: the
    /// model has no embedding for it.
    fn check_ids(&self, seqs: &[Vec<u32>]) -> Result<()> {
        let vocab = self.vocab.len();
        let Some(&id) = seqs.iter().flatten().find(|&&id| id as usize >= vocab) else {
            return Ok(());
        };
        let token = self.tokenizer.id_to_token(id).unwrap_or_default();
        Err(Error::model(
            &self.files.tokenizer,
            format!(
                "token `{token}` has id {id}, beyond the model's vocabulary of {vocab} entries \
                 (config.json vocab_size): the tokenizer and the checkpoint do not match"
            ),
        ))
    }

    /// Runs one padded batch and pools each sequence.
    fn encode_ids(&self, seqs: &[&[u32]]) -> Result<Vec<SparseVector>> {
        let len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        if len == 0 {
            return Ok(vec![SparseVector::default(); seqs.len()]);
        }
        let mut ids = Vec::with_capacity(seqs.len() * len);
        for s in seqs {
            ids.extend_from_slice(s);
            ids.resize(ids.len() + len - s.len(), 0);
        }
        let lengths: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        crate::profile::mark("encode: tokenize");
        let hidden = self.bert.forward(&ids, &lengths, len)?;
        let hidden: Vec<f32> = hidden.flatten_all()?.to_vec1()?;
        crate::profile::mark("encode: bert");
        let width = hidden.len() / (seqs.len() * len);
        // Keep only the rows of real tokens, each text's rows consecutive.
        let mut real = Vec::with_capacity(lengths.iter().sum::<usize>() * width);
        let mut spans = Vec::with_capacity(seqs.len());
        for (b, &l) in lengths.iter().enumerate() {
            spans.push((real.len() / width, l));
            real.extend_from_slice(&hidden[b * len * width..(b * len + l) * width]);
        }
        self.decoder
            .pool(&real, &spans)
            .map_err(|e| Error::model(&self.files.weights, e.to_string()))
    }

    /// The vocabulary entry of a term id (any id of a vector this encoder
    /// made).
    ///
    /// # Panics
    /// If `id` is not below the vocabulary size.
    pub fn token(&self, id: u32) -> &str {
        self.vocab
            .get(id as usize)
            .expect("term id below the vocabulary size")
    }

    /// A vector's `(token, weight)` pairs: the form an index stores and
    /// searches by.
    pub fn terms<'a>(&'a self, vector: &SparseVector) -> Vec<(&'a str, f32)> {
        vector.iter().map(|(t, w)| (self.token(t), w)).collect()
    }

    /// All vocabulary entries, by id (as many as config.json's
    /// `vocab_size`).
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// A checksum of config.json, tokenizer.json and the weights: an index
    /// records it so that a query is never encoded by a different model
    /// than the documents (see [`is_model`](Self::is_model)). A local
    /// folder's weights are hashed on the first call.
    pub fn fingerprint(&self) -> Result<&str> {
        self.identity.fingerprint()
    }

    /// What an index built from this encoder's vectors records about it
    /// ([`WriterOptions::model`](crate::WriterOptions::model)): the model's
    /// id and fingerprint, and the settings texts were encoded with, so
    /// that queries can be encoded the same way.
    pub fn model_info(&self) -> Result<ModelInfo> {
        Ok(ModelInfo {
            id: self.files.id.clone(),
            revision: self.files.revision.clone(),
            fingerprint: self.fingerprint()?.to_owned(),
            weights_file: self.identity.stamp(),
            max_length: u32::try_from(self.max_length).ok(),
            precision: Some(self.precision.vectors()),
            long_docs: Some(self.long_docs),
        })
    }

    /// Whether `recorded`, what an index records about its model
    /// ([`Index::model`](crate::Index::model)), names this model: the
    /// fingerprints agree (the weights are not hashed again while their
    /// file is unchanged). Indexes written before the weights were
    /// fingerprinted are compared on config.json and tokenizer.json only.
    /// The encoding settings are not compared.
    pub fn is_model(&self, recorded: &ModelInfo) -> Result<bool> {
        self.identity
            .is(&recorded.fingerprint, recorded.weights_file.as_ref())
    }

    /// Texts per forward pass.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The truncation length in tokens.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// How texts longer than the maximum length are encoded (the window
    /// clamped to the model's maximum).
    pub fn long_docs(&self) -> LongDocs {
        self.long_docs
    }

    /// Arithmetic of the vocabulary projection.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// With [`Precision::Int8`]: the texts screened since loading, and the
    /// vocabulary entries the screen kept for f32 over all of them (every
    /// other entry was proven zero). `(0, 0)` for the other precisions.
    pub fn screen_counts(&self) -> (u64, u64) {
        self.decoder.screen_counts()
    }
}

/// A pool of `threads` workers (at least one) for [`EncoderOptions::threads`].
/// Its threads have all started when it is returned (so that they show,
/// e.g. in `/proc/self/task`, once the encoder is loaded).
fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("splade-encode-{i}"))
        .build()
        .map_err(|e| Error::Msg(format!("cannot start {threads} encoder threads: {e}")))?;
    pool.broadcast(|_| ());
    Ok(pool)
}

/// The longest prefix of `text` of at most `limit` bytes that ends just
/// before a whitespace character (or the whole text when it is short).
fn prefix_at_space(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[..end].rfind(char::is_whitespace) {
        Some(space) if space > 0 => &text[..space],
        _ => text, // no space to cut at: tokenize it all
    }
}

/// The decoder is `cls.predictions.decoder.weight` when present, else tied
/// to the word embeddings; its bias is `cls.predictions.decoder.bias` or
/// `cls.predictions.bias`.
fn load_decoder(ckpt: &Checkpoint, config: &BertConfig, precision: Precision) -> Result<Decoder> {
    let (v, h) = (config.vocab_size, config.hidden_size);
    let weight_name = if ckpt.contains("cls.predictions.decoder.weight") {
        "cls.predictions.decoder.weight"
    } else {
        "bert.embeddings.word_embeddings.weight"
    };
    let bias_name = if ckpt.contains("cls.predictions.decoder.bias") {
        "cls.predictions.decoder.bias"
    } else {
        "cls.predictions.bias"
    };
    let weight = ckpt.matrix(weight_name, &[v, h])?;
    let bias = ckpt.get(bias_name, &[v])?;
    Decoder::from_matrix(weight, bias.to_vec1()?, h, precision).map_err(Error::Msg)
}

/// The tokenizer's vocabulary cut at `vocab_size`; every id below it
/// must have a token.
fn vocabulary(tokenizer: &TextTokenizer, vocab_size: usize, path: &Path) -> Result<Vocab> {
    let mut vocab = tokenizer.vocab().clone();
    if vocab.len() < vocab_size {
        return Err(Error::model(
            path,
            format!(
                "tokenizer has no token for id {} (config.json vocab_size {vocab_size})",
                vocab.len()
            ),
        ));
    }
    vocab.truncate(vocab_size);
    Ok(vocab)
}
