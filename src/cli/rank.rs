//! The three ways `search`, `eval` and `explain` rank documents (`--mode`),
//! and the flags that choose one.

use anyhow::bail;
use clap::{Args, ValueEnum};
use rayon::prelude::*;
use splade::encoder::Encoder;
use splade::index::Index;
use splade::lexical::Analyzer;
use splade::search::fusion::{self, FusedHit, FusionWeight};
use splade::search::{Hit, Query, SearchOptions, search_batch_with, search_bm25};

use super::common::ModelArgs;
use super::query::query_encoder;

/// The hits of each text of a batch, best first.
type Rankings = Vec<Vec<Hit>>;

/// What ranks the documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// BM25 and SPLADE fused (the default when the index has both).
    Hybrid,
    /// SPLADE dot product only.
    Splade,
    /// BM25 only (no model is loaded).
    Bm25,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Splade => "splade",
            Mode::Bm25 => "bm25",
        }
    }
}

/// `--mode` and `--weight`, shared by search, eval and explain.
#[derive(Debug, Clone, Args)]
pub struct ModeArgs {
    /// Ranking: hybrid (BM25 + SPLADE), splade or bm25
    /// [default: hybrid when the index has BM25 postings, else splade]
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,

    /// BM25's weight in hybrid ranking, 0 (SPLADE alone) to 1 (BM25 alone)
    /// [default: adaptive, from the query's length; `eval --tune` measures
    /// one on your judged queries]
    #[arg(long, value_name = "W", value_parser = parse_weight)]
    pub weight: Option<f32>,
}

fn parse_weight(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(w) if (0.0..=1.0).contains(&w) => Ok(w),
        _ => Err(format!("expected a number in [0, 1], got {s:?}")),
    }
}

impl ModeArgs {
    /// The mode to use on `index`: the flag, checked against what the
    /// index holds, or the index's default.
    pub fn resolve(&self, index: &Index) -> anyhow::Result<Mode> {
        let mode = match self.mode {
            Some(m) => m,
            None if self.weight.is_some() => Mode::Hybrid,
            None if !index.has_splade() => Mode::Bm25,
            None if index.has_lexical() => Mode::Hybrid,
            None => Mode::Splade,
        };
        if self.weight.is_some() && mode != Mode::Hybrid {
            bail!(
                "--weight sets the fusion of hybrid ranking; --mode {} has none",
                mode.name()
            );
        }
        let dir = index.dir().display();
        if mode != Mode::Splade && !index.has_lexical() {
            bail!(
                "--mode {} needs BM25 postings, and the index at {dir} has none (it was built \
                 with --no-lexical, from vectors without text, or by a version before 0.5); \
                 rebuild it with `splade index` to search it by BM25",
                mode.name()
            );
        }
        if mode != Mode::Bm25 && !index.has_splade() {
            bail!(
                "--mode {} needs SPLADE postings, and the index at {dir} has only BM25 ones \
                 (built with --lexical-only); use --mode bm25 or rebuild it without \
                 --lexical-only",
                mode.name()
            );
        }
        Ok(mode)
    }
}

/// Ranks query texts over one index in one mode.
pub struct Ranker<'a> {
    index: &'a Index,
    mode: Mode,
    /// Present unless the mode is BM25.
    encoder: Option<Encoder>,
    weight: FusionWeight,
    options: SearchOptions,
    analyzer: Analyzer,
}

impl<'a> Ranker<'a> {
    /// A ranker for `index` as the flags ask; loads the query encoder
    /// unless the mode is BM25.
    pub fn new(
        index: &'a Index,
        modes: &ModeArgs,
        model: &ModelArgs,
        options: SearchOptions,
    ) -> anyhow::Result<Ranker<'a>> {
        let mode = modes.resolve(index)?;
        let encoder = match mode {
            Mode::Bm25 => None,
            _ => Some(query_encoder(index, model)?),
        };
        Ok(Ranker {
            index,
            mode,
            encoder,
            weight: modes
                .weight
                .map_or(FusionWeight::Adaptive, FusionWeight::Fixed),
            options,
            analyzer: Analyzer::english(),
        })
    }

    /// The mode in use.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The query encoder, unless the mode is BM25.
    pub fn encoder(&self) -> Option<&Encoder> {
        self.encoder.as_ref()
    }

    /// The top `k` of every text, in order.
    pub fn rank(&self, texts: &[String], k: usize) -> anyhow::Result<Vec<Vec<Hit>>> {
        Ok(match self.mode {
            Mode::Splade => self.splade(texts, k)?,
            Mode::Bm25 => self.bm25(texts, k)?,
            Mode::Hybrid => self
                .fused(texts, k)?
                .into_iter()
                .map(|f| {
                    f.into_iter()
                        .map(|h| Hit {
                            doc: h.doc,
                            score: h.score,
                        })
                        .collect()
                })
                .collect(),
        })
    }

    /// Hybrid ranking with each side's score kept (for explain and tune).
    pub fn fused(&self, texts: &[String], k: usize) -> anyhow::Result<Vec<Vec<FusedHit>>> {
        let (bm25, splade) = self.both_sides(texts, k)?;
        Ok(texts
            .iter()
            .zip(bm25.iter().zip(&splade))
            .map(|(text, (b, s))| fusion::fuse(b, s, self.weight_for(text), k))
            .collect())
    }

    /// Each side's top `max(k, fusion::DEFAULT_DEPTH)` of every text: what
    /// hybrid ranking fuses.
    pub fn both_sides(&self, texts: &[String], k: usize) -> anyhow::Result<(Rankings, Rankings)> {
        let depth = k.max(fusion::DEFAULT_DEPTH);
        Ok((self.bm25(texts, depth)?, self.splade(texts, depth)?))
    }

    /// BM25's weight for `text` under the flags.
    pub fn weight_for(&self, text: &str) -> f32 {
        self.weight.for_query(self.lexical_length(text))
    }

    /// The number of BM25 terms of `text`, repeats counted.
    pub fn lexical_length(&self, text: &str) -> usize {
        let mut n = 0;
        self.analyzer.for_each_term(text, |_| n += 1);
        n
    }

    fn splade(&self, texts: &[String], k: usize) -> anyhow::Result<Vec<Vec<Hit>>> {
        let Some(encoder) = &self.encoder else {
            bail!("no query encoder is loaded for --mode bm25");
        };
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = encoder.encode(&refs)?;
        crate::profile::mark("encode: projection");
        let queries: Vec<Query> = vectors
            .iter()
            .map(|v| Query::new(encoder.terms(v)))
            .collect();
        let hits = search_batch_with(self.index, &queries, k, &self.options)?;
        crate::profile::mark("splade search");
        Ok(hits)
    }

    fn bm25(&self, texts: &[String], k: usize) -> anyhow::Result<Vec<Vec<Hit>>> {
        let hits = texts
            .par_iter()
            .map(|t| search_bm25(self.index, t, k).map_err(anyhow::Error::from))
            .collect();
        crate::profile::mark("bm25 search");
        hits
    }
}
