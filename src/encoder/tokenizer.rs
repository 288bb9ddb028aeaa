//! The tokenizer, loaded in about a millisecond from a cache that is
//! checked against `tokenizer.json`.
//!
//! `tokenizers` reads tokenizer.json with serde and builds hash maps of the
//! whole vocabulary: ~50 ms for BERT's 30,522 tokens on a small machine,
//! more than everything else a search does (README "Cold start"). A
//! WordPiece tokenizer is its normalizer, pre-tokenizer, post-processor and
//! special tokens (a few hundred bytes of JSON) plus the vocabulary. So the
//! first load of a tokenizer.json writes a cache file holding those parts
//! and the vocabulary as a flat table ([`Vocab`]); later loads map it and
//! build the same pipeline from `tokenizers`' own components, with
//! [`TableWordPiece`] in place of its `WordPiece` model: the same
//! greedy longest-match-first algorithm over the table.
//!
//! Equivalence is checked, not assumed: the cache is written only when the
//! fast tokenizer gives the same ids as `tokenizers` on a set of probe texts
//! (special tokens, accents, CJK, punctuation, long and unknown words); it
//! is keyed by the CRC32 and length of the tokenizer.json it was made from,
//! carries a CRC32 of its own, and is rebuilt when anything does not match.
//! A tokenizer whose model is not WordPiece is loaded by `tokenizers` as
//! before. Tests compare both on every text of the shared collections.
//!
//! Cache file (`<cache dir>/tokenizer-<crc32>-<len>.v1`), little-endian:
//! magic `SPLDTOKC`, `u32` version, `u64` length and `u32` CRC32 of the
//! tokenizer.json, `u32` length and the JSON of [`Parts`], the [`Vocab`]
//! table, and a `u32` CRC32 of everything before it. The cache directory is
//! `SPLADE_CACHE_DIR`, else `$XDG_CACHE_HOME/splade`, else
//! `~/.cache/splade`; it is written atomically (temp file, rename), and a
//! directory that cannot be written only costs the slow load each time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use tokenizers::models::wordpiece::WordPieceTrainer;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{
    AddedToken, DecoderWrapper, Model, ModelWrapper, Token, Tokenizer, TokenizerImpl,
    TruncationDirection, TruncationParams, TruncationStrategy,
};

use super::vocab::{self, Vocab};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"SPLDTOKC";
const VERSION: u32 = 1;

/// A loaded tokenizer: `[CLS] ... [SEP]` ids of texts, truncated or not.
pub(crate) struct TextTokenizer {
    inner: Inner,
    vocab: Vocab,
}

type FastImpl = TokenizerImpl<
    TableWordPiece,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

enum Inner {
    /// Built from the cache (or from the parts of a fresh parse).
    Fast(Box<FastImpl>),
    /// `tokenizers`' own, for a model that is not WordPiece.
    Full(Box<Tokenizer>),
}

/// What a WordPiece tokenizer is besides its vocabulary.
#[derive(Serialize, Deserialize)]
struct Parts {
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<PreTokenizerWrapper>,
    post_processor: Option<PostProcessorWrapper>,
    decoder: Option<DecoderWrapper>,
    /// In id order.
    added_tokens: Vec<AddedToken>,
    unk_token: String,
    continuing_subword_prefix: String,
    max_input_chars_per_word: usize,
}

impl TextTokenizer {
    /// Loads `path` (whose bytes hash to `crc`), through the cache when it
    /// can; `truncate_at` cuts texts at that many tokens, specials
    /// included.
    /// `key` is the file's CRC32 and length, as the model's fingerprint
    /// computed them (the file is read only when the cache misses).
    pub(crate) fn load(
        path: &Path,
        key: (u32, u64),
        truncate_at: Option<usize>,
    ) -> Result<TextTokenizer> {
        let key = Key {
            crc: key.0,
            len: key.1,
        };
        Self::load_with(path, key, truncate_at, cache_dir().as_deref())
    }

    /// [`load`](Self::load) with the cache in `cache_dir` (none: no cache).
    fn load_with(
        path: &Path,
        key: Key,
        truncate_at: Option<usize>,
        cache_dir: Option<&Path>,
    ) -> Result<TextTokenizer> {
        let cache = cache_dir.map(|d| d.join(key.file_name()));
        let mut tokenizer = match cache.as_deref().and_then(|c| read_cache(c, key)) {
            Some(t) => t,
            None => {
                let source = std::fs::read(path).map_err(|e| Error::io(path, e))?;
                // The key must be this file's: the file may have changed
                // since the fingerprint read it.
                let key = Key::of(&source);
                let cache = cache_dir.map(|d| d.join(key.file_name()));
                let (tokenizer, cache_bytes) = parse(path, &source, key)?;
                if let (Some(file), Some(bytes)) = (cache, cache_bytes) {
                    // Best effort: a read-only cache only costs time.
                    let _ = write_atomically(&file, &bytes);
                }
                tokenizer
            }
        };
        tokenizer.set_truncation(path, truncate_at)?;
        Ok(tokenizer)
    }

    /// The vocabulary, by id.
    pub(crate) fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Token ids of each text, special tokens added, and whether it was
    /// cut.
    pub(crate) fn encode_batch(&self, texts: &[&str]) -> Result<Vec<(Vec<u32>, bool)>> {
        let failed = |e: tokenizers::Error| Error::Msg(format!("tokenization failed: {e}"));
        let encodings = match &self.inner {
            Inner::Fast(t) => t.encode_batch(texts.to_vec(), true).map_err(failed)?,
            Inner::Full(t) => t.encode_batch(texts.to_vec(), true).map_err(failed)?,
        };
        Ok(encodings
            .into_iter()
            .map(|e| (e.get_ids().to_vec(), !e.get_overflowing().is_empty()))
            .collect())
    }

    /// The token of an id, added tokens included.
    pub(crate) fn id_to_token(&self, id: u32) -> Option<String> {
        match &self.inner {
            Inner::Fast(t) => t.id_to_token(id),
            Inner::Full(t) => t.id_to_token(id),
        }
    }

    fn set_truncation(&mut self, path: &Path, truncate_at: Option<usize>) -> Result<()> {
        let truncation = truncate_at.map(|max_length| TruncationParams {
            max_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        });
        let failed = |e| Error::model(path, format!("cannot set truncation: {e}"));
        match &mut self.inner {
            Inner::Fast(t) => {
                t.with_padding(None);
                t.with_truncation(truncation).map_err(failed)?;
            }
            Inner::Full(t) => {
                t.with_padding(None);
                t.with_truncation(truncation).map_err(failed)?;
            }
        }
        Ok(())
    }
}

/// What a cache file is made from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Key {
    len: u64,
    crc: u32,
}

impl Key {
    fn of(source: &[u8]) -> Key {
        Key {
            len: source.len() as u64,
            crc: crc32fast::hash(source),
        }
    }

    fn file_name(self) -> String {
        format!("tokenizer-{:08x}-{}.v{VERSION}", self.crc, self.len)
    }
}

/// The cache file a tokenizer.json is loaded through (`None` when no
/// cache directory can be named).
pub fn cache_file(tokenizer_json: &Path) -> Result<Option<PathBuf>> {
    let source = std::fs::read(tokenizer_json).map_err(|e| Error::io(tokenizer_json, e))?;
    Ok(cache_dir().map(|d| d.join(Key::of(&source).file_name())))
}

/// The cache directory, if one can be named.
fn cache_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("SPLADE_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("splade")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("splade")))
}

/// The slow path: `tokenizers` parses the file; for a WordPiece model the
/// fast tokenizer is built from its parts and, when it agrees with the
/// parsed one on the probes, returned with the cache bytes to write.
fn parse(path: &Path, source: &[u8], key: Key) -> Result<(TextTokenizer, Option<Vec<u8>>)> {
    let text = std::str::from_utf8(source)
        .map_err(|e| Error::model(path, format!("not a readable tokenizer: {e}")))?;
    let full: Tokenizer = text
        .parse()
        .map_err(|e| Error::model(path, format!("not a readable tokenizer: {e}")))?;
    if let Some((parts, tokens)) = parts_of(&full) {
        let table = vocab::encode(&tokens);
        let vocab = Vocab::from_tokens(&tokens);
        if let Ok(fast) = build(&parts, vocab.clone())
            && agrees(&fast, &full)
        {
            let bytes = cache_bytes(key, &parts, &table)?;
            let tokenizer = TextTokenizer {
                inner: Inner::Fast(Box::new(fast)),
                vocab,
            };
            return Ok((tokenizer, Some(bytes)));
        }
    }
    let mut tokens = vec![String::new(); full.get_vocab_size(true)];
    for (token, id) in full.get_vocab(true) {
        if let Some(slot) = tokens.get_mut(id as usize) {
            *slot = token;
        }
    }
    let tokenizer = TextTokenizer {
        vocab: Vocab::from_tokens(&tokens),
        inner: Inner::Full(Box::new(full)),
    };
    Ok((tokenizer, None))
}

/// The parts and the vocabulary (by id) of a WordPiece tokenizer whose ids
/// are exactly `0..n` and whose added tokens are all vocabulary entries
/// with the same id; `None` for any other.
fn parts_of(full: &Tokenizer) -> Option<(Parts, Vec<String>)> {
    let ModelWrapper::WordPiece(wp) = full.get_model() else {
        return None;
    };
    let map = wp.get_vocab();
    let mut tokens = vec![None; map.len()];
    for (token, id) in map {
        *tokens.get_mut(id as usize)? = Some(token);
    }
    let tokens: Vec<String> = tokens.into_iter().collect::<Option<_>>()?;
    let mut added: Vec<(u32, AddedToken)> = full.get_added_tokens_decoder().into_iter().collect();
    added.sort_by_key(|(id, _)| *id);
    if added
        .iter()
        .any(|(id, t)| tokens.get(*id as usize) != Some(&t.content))
    {
        return None;
    }
    let parts = Parts {
        normalizer: full.get_normalizer().cloned(),
        pre_tokenizer: full.get_pre_tokenizer().cloned(),
        post_processor: full.get_post_processor().cloned(),
        decoder: full.get_decoder().cloned(),
        added_tokens: added.into_iter().map(|(_, t)| t).collect(),
        unk_token: wp.unk_token.clone(),
        continuing_subword_prefix: wp.continuing_subword_prefix.clone(),
        max_input_chars_per_word: wp.max_input_chars_per_word,
    };
    Some((parts, tokens))
}

/// The fast tokenizer of `parts` over `vocab`, assembled as `tokenizers`
/// assembles a deserialized one (components, then the added tokens).
fn build(parts: &Parts, vocab: Vocab) -> std::result::Result<FastImpl, tokenizers::Error> {
    let model = TableWordPiece {
        vocab,
        unk_token: parts.unk_token.clone(),
        continuing_subword_prefix: parts.continuing_subword_prefix.clone(),
        max_input_chars_per_word: parts.max_input_chars_per_word,
    };
    let mut t = FastImpl::new(model);
    t.with_normalizer(parts.normalizer.clone())?;
    t.with_pre_tokenizer(parts.pre_tokenizer.clone());
    t.with_post_processor(parts.post_processor.clone());
    t.with_decoder(parts.decoder.clone());
    t.add_tokens(parts.added_tokens.iter().cloned())?;
    Ok(t)
}

/// Texts on which the fast and the full tokenizer must agree before a
/// cache is written: the cases where a WordPiece pipeline can go wrong.
const PROBES: &[&str] = &[
    "what is the daily life of thai people",
    "The Quick brown FOX jumps; over the lazy dog!!! (twice)",
    "[CLS] a [MASK] token, [SEP] [PAD] [UNK] inside text",
    "naïve café résumé Ångström über straße ﬁne",
    "東京は日本の首都です 北京 서울 Москва",
    "e-mail: someone@example.com, url https://x.y/z?q=1&r=2#frag",
    "3.14159 1,000,000 $42.50 50% 2nd 10th",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "tab\tnew\nline\r\n  spaces   and\u{00a0}nbsp \u{200b}zero-width",
    "emoji 🙂 👍🏽 and symbols ∑ ∫ → ≤",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "",
];

/// Whether both give the same ids on [`PROBES`], with neither padding nor
/// truncation (the encoder sets its own; tokenizer.json's would pad).
fn agrees(fast: &FastImpl, full: &Tokenizer) -> bool {
    let probes: Vec<&str> = PROBES.to_vec();
    let mut full = full.clone();
    full.with_padding(None);
    if full.with_truncation(None).is_err() {
        return false;
    }
    match (
        fast.encode_batch(probes.clone(), true),
        full.encode_batch(probes, true),
    ) {
        (Ok(a), Ok(b)) => a.iter().zip(&b).all(|(a, b)| a.get_ids() == b.get_ids()),
        _ => false,
    }
}

fn cache_bytes(key: Key, parts: &Parts, table: &[u8]) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(parts)
        .map_err(|e| Error::Msg(format!("cannot write the tokenizer cache: {e}")))?;
    let mut out = Vec::with_capacity(32 + json.len() + table.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&key.len.to_le_bytes());
    out.extend_from_slice(&key.crc.to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(table);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// The tokenizer of a cache file made from `key`, or `None` when there is
/// none or it does not check out (it is then rebuilt).
fn read_cache(path: &Path, key: Key) -> Option<TextTokenizer> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: cache files are written under a temporary name and renamed,
    // never modified in place; a program that edits one anyway is caught
    // by the CRC, checked before anything else is read.
    let map = Arc::new(unsafe { Mmap::map(&file) }.ok()?);
    let (json, table) = check_cache(&map, key)?;
    let parts: Parts = serde_json::from_slice(&map[json]).ok()?;
    let vocab = Vocab::mapped(Arc::clone(&map), table.start, table.len()).ok()?;
    let fast = build(&parts, vocab.clone()).ok()?;
    Some(TextTokenizer {
        inner: Inner::Fast(Box::new(fast)),
        vocab,
    })
}

/// The byte ranges of the JSON and of the table of a whole, undamaged
/// cache file made from `key`.
fn check_cache(b: &[u8], key: Key) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let n = b.len();
    if n < 32 || &b[..8] != MAGIC {
        return None;
    }
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let stored = u32_at(n - 4);
    if crc32fast::hash(&b[..n - 4]) != stored || u32_at(8) != VERSION {
        return None;
    }
    let len = u64::from_le_bytes(b[12..20].try_into().expect("8 bytes"));
    if len != key.len || u32_at(20) != key.crc {
        return None;
    }
    let json_end = 28usize.checked_add(u32_at(24) as usize)?;
    (json_end <= n - 4).then(|| (28..json_end, json_end..n - 4))
}

/// Writes `bytes` to `path` through a temporary file in the same
/// directory and a rename, so that a reader sees the whole file or none.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("cache"),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `tokenizers`' WordPiece model over a [`Vocab`] table: the same
/// greedy longest-match-first split, token by token.
pub(crate) struct TableWordPiece {
    vocab: Vocab,
    unk_token: String,
    continuing_subword_prefix: String,
    max_input_chars_per_word: usize,
}

impl TableWordPiece {
    fn unk(&self, sequence: &str) -> tokenizers::Result<Vec<Token>> {
        let id = self.vocab.id(&self.unk_token).ok_or_else(|| {
            format!(
                "the unknown token {} is not in the vocabulary",
                self.unk_token
            )
        })?;
        Ok(vec![Token {
            value: self.unk_token.clone(),
            id,
            offsets: (0, sequence.len()),
        }])
    }
}

impl Model for TableWordPiece {
    type Trainer = WordPieceTrainer;

    fn tokenize(&self, sequence: &str) -> tokenizers::Result<Vec<Token>> {
        if sequence.chars().count() > self.max_input_chars_per_word {
            return self.unk(sequence);
        }
        let mut start = 0;
        let mut pieces = Vec::new();
        while start < sequence.len() {
            let mut end = sequence.len();
            let mut found = None;
            while start < end {
                let mut piece = Cow::Borrowed(&sequence[start..end]);
                if start > 0 {
                    piece = Cow::Owned(format!("{}{piece}", self.continuing_subword_prefix));
                }
                if let Some(id) = self.vocab.id(&piece) {
                    found = Some(Token {
                        id,
                        value: piece.into_owned(),
                        offsets: (start, end),
                    });
                    break;
                }
                end -= piece.chars().last().map_or(1, char::len_utf8);
            }
            let Some(token) = found else {
                return self.unk(sequence);
            };
            pieces.push(token);
            start = end;
        }
        Ok(pieces)
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.vocab.id(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.vocab.get(id as usize).map(str::to_owned)
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        self.vocab
            .iter()
            .enumerate()
            .map(|(id, t)| (t.to_owned(), id as u32))
            .collect()
    }

    fn get_vocab_size(&self) -> usize {
        self.vocab.len()
    }

    fn save(&self, _folder: &Path, _prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        Err("a cached tokenizer is not saved; save the tokenizer.json it came from".into())
    }

    fn get_trainer(&self) -> WordPieceTrainer {
        WordPieceTrainer::builder().build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BERT-shaped tokenizer.json with a small vocabulary.
    fn bert_json(extra: &[&str]) -> String {
        let mut tokens: Vec<&str> = vec![
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "##es",
            "jump", "##s", "##ed", "over", "lazy", "dog", "!", ",", ".", "a", "b", "c", "##a",
            "##b", "##c", "cafe", "東", "京", "un", "##believ", "##able", "ab", "##ab",
        ];
        tokens.extend_from_slice(extra);
        let vocab: Vec<String> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{}: {i}", serde_json::to_string(t).unwrap()))
            .collect();
        let special = |id: usize, t: &str| {
            format!(
                r#"{{"id": {id}, "content": "{t}", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}}"#
            )
        };
        let added: Vec<String> = (0..5).map(|i| special(i, tokens[i])).collect();
        format!(
            r###"{{"version": "1.0", "truncation": {{"direction": "Right", "max_length": 512, "strategy": "LongestFirst", "stride": 0}},
            "padding": {{"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}},
            "added_tokens": [{}],
            "normalizer": {{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true}},
            "pre_tokenizer": {{"type": "BertPreTokenizer"}},
            "post_processor": {{"type": "TemplateProcessing",
                "single": [{{"SpecialToken": {{"id": "[CLS]", "type_id": 0}}}}, {{"Sequence": {{"id": "A", "type_id": 0}}}}, {{"SpecialToken": {{"id": "[SEP]", "type_id": 0}}}}],
                "pair": [{{"SpecialToken": {{"id": "[CLS]", "type_id": 0}}}}, {{"Sequence": {{"id": "A", "type_id": 0}}}}, {{"SpecialToken": {{"id": "[SEP]", "type_id": 0}}}}, {{"Sequence": {{"id": "B", "type_id": 1}}}}, {{"SpecialToken": {{"id": "[SEP]", "type_id": 1}}}}],
                "special_tokens": {{"[CLS]": {{"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}}, "[SEP]": {{"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}}}}},
            "decoder": {{"type": "WordPiece", "prefix": "##", "cleanup": true}},
            "model": {{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 12, "vocab": {{{}}}}}}}"###,
            added.join(", "),
            vocab.join(", ")
        )
    }

    /// Texts over the small vocabulary, known and unknown words mixed.
    fn texts() -> Vec<String> {
        let mut out: Vec<String> = PROBES.iter().map(|s| s.to_string()).collect();
        let words = [
            "the",
            "Quick",
            "brownes",
            "foxes",
            "jumped",
            "jumps",
            "over",
            "LAZY",
            "dog!",
            "abab",
            "abcabc",
            "unbelievable",
            "café",
            "東京",
            "[MASK]",
            "[CLS]x",
            "zzz",
            "ababababababab",
            "a,b.c",
            "",
        ];
        let mut seed = 7u64;
        for _ in 0..300 {
            let n = (seed % 9) as usize;
            let mut text = Vec::new();
            for _ in 0..n {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push(words[(seed >> 33) as usize % words.len()]);
            }
            out.push(text.join(if seed.is_multiple_of(3) { "" } else { " " }));
        }
        out
    }

    fn ids(t: &TextTokenizer, texts: &[String]) -> Vec<Vec<u32>> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        t.encode_batch(&refs)
            .unwrap()
            .into_iter()
            .map(|(ids, _)| ids)
            .collect()
    }

    fn full_ids(path: &Path, texts: &[String]) -> Vec<Vec<u32>> {
        let mut full = Tokenizer::from_file(path).unwrap();
        full.with_padding(None);
        full.with_truncation(None).unwrap();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let e = full.encode_batch(refs, true).unwrap();
        e.iter().map(|e| e.get_ids().to_vec()).collect()
    }

    fn is_mapped(t: &TextTokenizer) -> bool {
        matches!(t.vocab.buffer_kind(), "mapped") && matches!(t.inner, Inner::Fast(_))
    }

    #[test]
    fn the_cache_is_written_once_then_mapped_and_tokenizes_alike() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("tokenizer.json");
        std::fs::write(&json, bert_json(&[])).unwrap();
        let cache = dir.path().join("cache");
        let want = full_ids(&json, &texts());
        assert!(
            want.iter().any(|ids| ids.contains(&1)),
            "some words are unknown"
        );

        let first = TextTokenizer::load_with(&json, key(&json), None, Some(&cache)).unwrap();
        assert!(matches!(first.inner, Inner::Fast(_)) && !is_mapped(&first));
        let files: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
        assert_eq!(files.len(), 1, "one cache file, no temporary left");
        let second = TextTokenizer::load_with(&json, key(&json), None, Some(&cache)).unwrap();
        assert!(is_mapped(&second), "the second load maps the cache");
        assert_eq!(ids(&first, &texts()), want);
        assert_eq!(ids(&second, &texts()), want);
        assert_eq!(second.vocab().get(9), Some("##es"));
        assert_eq!(second.id_to_token(3).as_deref(), Some("[SEP]"));
    }

    #[test]
    fn truncation_cuts_like_tokenizers() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("tokenizer.json");
        std::fs::write(&json, bert_json(&[])).unwrap();
        let t = TextTokenizer::load_with(&json, key(&json), Some(5), Some(dir.path())).unwrap();
        let out = t
            .encode_batch(&["the quick brown fox jumps over", "the dog"])
            .unwrap();
        assert_eq!(out[0], (vec![2, 5, 6, 7, 3], true));
        assert_eq!(out[1], (vec![2, 5, 15, 3], false));
    }

    #[test]
    fn a_damaged_or_stale_cache_is_not_used_and_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("tokenizer.json");
        std::fs::write(&json, bert_json(&[])).unwrap();
        let cache = dir.path().join("cache");
        TextTokenizer::load_with(&json, key(&json), None, Some(&cache)).unwrap();
        let file = std::fs::read_dir(&cache)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let good = std::fs::read(&file).unwrap();
        // A flipped byte in the vocabulary table, then in the JSON parts:
        // the CRC refuses both, the slow path answers, and the file is
        // written again whole.
        for at in [good.len() - 10, 40] {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            std::fs::write(&file, &bad).unwrap();
            assert!(check_cache(&bad, Key::of(json_bytes(&json).as_slice())).is_none());
            let t = TextTokenizer::load_with(&json, key(&json), None, Some(&cache)).unwrap();
            assert!(!is_mapped(&t));
            assert_eq!(ids(&t, &texts()), full_ids(&json, &texts()));
            assert_eq!(std::fs::read(&file).unwrap(), good, "rewritten");
        }
        // Another tokenizer.json (one more token) has another key: the old
        // cache is not read for it.
        std::fs::write(&json, bert_json(&["fresh"])).unwrap();
        let t = TextTokenizer::load_with(&json, key(&json), None, Some(&cache)).unwrap();
        assert_eq!(t.vocab().id("fresh"), Some(33));
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
    }

    fn json_bytes(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    fn key(path: &Path) -> Key {
        Key::of(&json_bytes(path))
    }

    #[test]
    fn other_models_and_unwritable_caches_load_the_slow_way() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("tokenizer.json");
        let word_level = r#"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
            "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
            "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2}, "unk_token": "[UNK]"}}"#;
        std::fs::write(&json, word_level).unwrap();
        let cache = dir.path().join("cache");
        let t = TextTokenizer::load_with(&json, key(&json), None, Some(&cache)).unwrap();
        assert!(matches!(t.inner, Inner::Full(_)));
        assert!(
            !cache.exists(),
            "no cache for a model that is not WordPiece"
        );
        assert_eq!(
            t.encode_batch(&["hello there world"]).unwrap()[0].0,
            vec![1, 0, 2]
        );
        assert_eq!(t.vocab().get(2), Some("world"));

        std::fs::write(&json, bert_json(&[])).unwrap();
        let file_in_the_way = dir.path().join("not-a-dir");
        std::fs::write(&file_in_the_way, b"x").unwrap();
        let t = TextTokenizer::load_with(&json, key(&json), None, Some(&file_in_the_way)).unwrap();
        assert_eq!(ids(&t, &texts()), full_ids(&json, &texts()));
    }
}
