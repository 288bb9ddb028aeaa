//! Seeded generator of SPLADE-like document and query vectors, for search
//! benchmarks at a scale that encoding real text cannot reach quickly.
//!
//! ```sh
//! cargo run --release --example synth_vectors -- --docs 1000000 --queries 1000 --seed 42 --out DIR
//! ```
//!
//! writes `DIR/docs.jsonl` and `DIR/queries.jsonl` in the format of
//! `splade encode` (`{"id", "vector": {"token": weight}}`), ready for
//! `splade index --vectors`. The same seed gives byte-identical files, with
//! any number of threads (each document has its own random stream).
//!
//! `--text` adds a `"text"` to every line, so that `index --vectors` also
//! writes BM25 postings (for hybrid search at scale): the line's token names
//! without `##`, each repeated `1 + floor(weight)` times (a term frequency
//! of 1 to 3 that grows with the SPLADE weight), in a seeded shuffled
//! order. It is a stand-in with SPLADE's document frequencies, not prose:
//! its BM25 side has the synthetic vectors' statistics, not a real text's.
//!
//! # The model, and where its numbers come from
//!
//! Every constant below was measured on splade-tiny vectors of the TREC DL
//! 2020 passage pool (14,091 passages, 54 queries; `examples/vector_stats.rs`
//! prints real and synthetic statistics side by side):
//!
//! - **Vocabulary and document frequency.** 30,522 tokens (`t1` ... by
//!   frequency rank). The fraction of documents holding the token of rank r
//!   is interpolated log-log from `DF_BY_RANK` (0.51 at rank 1, 0.093 at
//!   100, 0.0065 at 5,000, ~7e-5 at 20,000: Zipf-like, slope ~ -0.7, with a
//!   steeper tail).
//! - **Active terms.** Documents: normal(132, 42), at least 8; queries:
//!   normal(16.7, 4.4), at least 3.
//! - **Weights.** Drawn through the measured quantile functions
//!   (`DOC_WEIGHT_Q`, `QUERY_WEIGHT_Q`; documents: median 0.49, p90 1.53,
//!   max 2.76; queries: median 0.91).
//! - **Co-occurrence.** Texts are about something: there are
//!   `docs / 500` topics (at least 50), each a set of 200 tokens drawn by
//!   document frequency. A document picks one topic and takes half of its
//!   terms from it, the other half from the whole vocabulary; its topic
//!   terms weigh more (weight quantile `max(u1, u2)`) and its background
//!   terms less (`min(u1, u2)`), which keeps the overall weight
//!   distribution while making topical terms the heavy ones, as in SPLADE.
//!   A query picks a topic and takes 60% of its non-head terms from it, so
//!   that queries have a few strongly matching documents, like real ones;
//!   queries take head tokens 2.5 times as often as documents (real query
//!   terms are more frequent tokens: median df 5% against 2% for documents).
//!   Topics hold tokens past rank 100, drawn by document frequency.
//!
//! Token frequencies are sampled so that a token of document frequency p is
//! in a document with probability ~p (draws with replacement from weights
//! `-ln(1 - p)`, then deduplicated).

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use rayon::prelude::*;

const VOCAB: usize = 30_522;
/// `(rank, fraction of documents)`, measured.
const DF_BY_RANK: &[(f64, f64)] = &[
    (1.0, 0.513),
    (2.0, 0.465),
    (3.0, 0.444),
    (5.0, 0.292),
    (10.0, 0.239),
    (20.0, 0.189),
    (50.0, 0.132),
    (100.0, 0.0929),
    (200.0, 0.0682),
    (500.0, 0.0418),
    (1000.0, 0.0277),
    (2000.0, 0.0172),
    (3000.0, 0.0121),
    (5000.0, 0.00646),
    (7000.0, 0.00355),
    (10000.0, 0.00156),
    (15000.0, 0.000426),
    (20000.0, 0.00007),
    (30522.0, 0.000002),
];
/// Quantiles 0, 0.05, ..., 0.95, 0.99, 1 of document weights, measured.
const DOC_WEIGHT_Q: &[f64] = &[
    0.0005, 0.0376, 0.077, 0.1179, 0.1606, 0.2061, 0.2543, 0.3056, 0.361, 0.4215, 0.4888, 0.564,
    0.6501, 0.7505, 0.8671, 1.0027, 1.1577, 1.3333, 1.534, 1.7848, 2.139, 2.7607,
];
/// The same for query weights.
const QUERY_WEIGHT_Q: &[f64] = &[
    0.0007, 0.0703, 0.1629, 0.2332, 0.2982, 0.3719, 0.4494, 0.5378, 0.6405, 0.7614, 0.9089, 1.0215,
    1.2108, 1.3176, 1.453, 1.6158, 1.7846, 1.9292, 2.1055, 2.3074, 2.599, 2.7801,
];
const TOPIC_TERMS: usize = 100;

struct Args {
    docs: usize,
    queries: usize,
    seed: u64,
    out: PathBuf,
    text: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        docs: 100_000,
        queries: 1000,
        seed: 42,
        out: PathBuf::from("synth"),
        text: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--text" {
            a.text = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--docs" => a.docs = num()? as usize,
            "--queries" => a.queries = num()? as usize,
            "--seed" => a.seed = num()?,
            "--out" => a.out = PathBuf::from(&value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Walker's alias table over weights: O(1) draws.
struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    fn new(w: &[f64]) -> Self {
        let n = w.len();
        let sum: f64 = w.iter().sum();
        let mut p: Vec<f64> = w.iter().map(|x| x * n as f64 / sum).collect();
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| p[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l as u32;
            p[l] -= 1.0 - p[s];
            if p[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in large.into_iter().chain(small) {
            p[i] = 1.0;
        }
        Alias { prob: p, alias }
    }
    fn draw(&self, rng: &mut Rng) -> usize {
        let i = rng.below(self.prob.len());
        if rng.unit() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

/// Document frequency (fraction) of the token of 1-based `rank`.
fn df_of_rank(rank: f64) -> f64 {
    let i = DF_BY_RANK
        .partition_point(|&(r, _)| r <= rank)
        .clamp(1, DF_BY_RANK.len() - 1);
    let ((r0, f0), (r1, f1)) = (DF_BY_RANK[i - 1], DF_BY_RANK[i]);
    let t = (rank.ln() - r0.ln()) / (r1.ln() - r0.ln());
    (f0.ln() + t * (f1.ln() - f0.ln())).exp()
}

/// The weight at quantile `u` of a table of quantiles 0, .05, ..., .95, .99, 1.
fn quantile(table: &[f64], u: f64) -> f64 {
    let (x0, x1, lo) = if u < 0.95 {
        let i = ((u / 0.05) as usize).min(18);
        (i as f64 * 0.05, (i + 1) as f64 * 0.05, i)
    } else if u < 0.99 {
        (0.95, 0.99, 19)
    } else {
        (0.99, 1.0, 20)
    };
    let t = ((u - x0) / (x1 - x0)).clamp(0.0, 1.0);
    table[lo] + t * (table[lo + 1] - table[lo])
}

struct Model {
    tokens: Vec<String>,
    /// Document frequency (fraction) by token id (= rank - 1).
    df: Vec<f64>,
    /// Draws over the tokens past `HEAD`, by document frequency.
    tail: Alias,
    /// Per topic: token ids (past `HEAD`), drawn uniformly.
    topics: Vec<Vec<u32>>,
}

/// Tokens of rank up to `HEAD` (df above ~9%) are function-like: each is
/// in a document independently with its document frequency.
const HEAD: usize = 100;

impl Model {
    fn new(seed: u64, docs: usize) -> Self {
        let tokens = (1..=VOCAB)
            .map(|r| {
                if r % 7 == 3 {
                    format!("##t{r}")
                } else {
                    format!("t{r}")
                }
            })
            .collect();
        let df: Vec<f64> = (1..=VOCAB).map(|r| df_of_rank(r as f64)).collect();
        let tail = Alias::new(&df[HEAD..]);
        let n_topics = (docs / 500).max(50);
        let mut rng = Rng::new(seed, u64::MAX);
        let topics = (0..n_topics)
            .map(|_| {
                let mut ids = Vec::with_capacity(TOPIC_TERMS);
                while ids.len() < TOPIC_TERMS {
                    let t = (HEAD + tail.draw(&mut rng)) as u32;
                    if !ids.contains(&t) {
                        ids.push(t);
                    }
                }
                ids
            })
            .collect();
        Model {
            tokens,
            df,
            tail,
            topics,
        }
    }

    /// One vector of about `nnz` distinct tokens: head tokens by their
    /// document frequency (scaled by `head * nnz / 132`; queries use more
    /// frequent tokens than documents, `head` 2.5), the rest a share
    /// `topical` from one topic and the others by document frequency.
    fn vector(
        &self,
        rng: &mut Rng,
        nnz: usize,
        (topical, head): (f64, f64),
        weights: &[f64],
    ) -> Vec<(u32, f64)> {
        let ids = &self.topics[rng.below(self.topics.len())];
        let mut out: Vec<(u32, f64)> = Vec::with_capacity(nnz + 8);
        let scale = head * nnz as f64 / 132.0;
        let weight = |rng: &mut Rng, heavy: bool| {
            let (u1, u2) = (rng.unit(), rng.unit());
            quantile(weights, if heavy { u1.max(u2) } else { u1.min(u2) })
        };
        for (t, &p) in self.df[..HEAD].iter().enumerate() {
            if rng.unit() < p * scale {
                let heavy = rng.unit() < 0.5;
                let w = weight(rng, heavy);
                out.push((t as u32, w));
            }
        }
        let rest = nnz.saturating_sub(out.len()).max(1);
        let from_topic = (rest as f64 * topical).round() as usize;
        let (mut added, mut tries) = (0, 0);
        while added < rest && tries < rest * 50 {
            tries += 1;
            let topic = added < from_topic;
            let t = if topic {
                ids[rng.below(ids.len())]
            } else {
                (HEAD + self.tail.draw(rng)) as u32
            };
            if out.iter().any(|&(x, _)| x == t) {
                continue;
            }
            out.push((t, weight(rng, topic)));
            added += 1;
        }
        out
    }

    /// One JSONL line; with `text`, the stand-in text drawn from `rng`.
    fn line(&self, id: &str, v: &[(u32, f64)], text: Option<&mut Rng>) -> String {
        let mut s = String::with_capacity(24 + v.len() * 18);
        let _ = write!(s, "{{\"id\":\"{id}\",\"vector\":{{");
        for (i, &(t, w)) in v.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "\"{}\":{}", self.tokens[t as usize], w as f32);
        }
        s.push('}');
        if let Some(rng) = text {
            let _ = write!(s, ",\"text\":\"{}\"", self.text(v, rng));
        }
        s.push_str("}\n");
        s
    }

    /// Token names repeated `1 + floor(w)` times, shuffled (Fisher-Yates).
    fn text(&self, v: &[(u32, f64)], rng: &mut Rng) -> String {
        let mut words: Vec<&str> = Vec::new();
        for &(t, w) in v {
            let name = self.tokens[t as usize].trim_start_matches("##");
            words.extend(std::iter::repeat_n(name, 1 + w.floor() as usize));
        }
        for i in (1..words.len()).rev() {
            words.swap(i, rng.below(i + 1));
        }
        words.join(" ")
    }
}

fn write_file(
    path: &PathBuf,
    n: usize,
    make: impl Fn(usize) -> String + Sync,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    for start in (0..n).step_by(20_000) {
        let end = (start + 20_000).min(n);
        let lines: Vec<String> = (start..end).into_par_iter().map(&make).collect();
        for l in lines {
            out.write_all(l.as_bytes())?;
        }
    }
    out.flush()
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "synth_vectors: {e}\nusage: synth_vectors --docs N --queries N --seed S --out DIR [--text]"
            );
            std::process::exit(2);
        }
    };
    let model = Model::new(args.seed, args.docs);
    if let Err(e) = std::fs::create_dir_all(&args.out).and_then(|_| {
        write_file(&args.out.join("docs.jsonl"), args.docs, |i| {
            let mut rng = Rng::new(args.seed, i as u64);
            let nnz = (132.0 + 42.0 * rng.normal()).round().max(8.0) as usize;
            let v = model.vector(&mut rng, nnz, (0.5, 1.0), DOC_WEIGHT_Q);
            model.line(&format!("d{i}"), &v, args.text.then_some(&mut rng))
        })?;
        write_file(&args.out.join("queries.jsonl"), args.queries, |i| {
            let mut rng = Rng::new(args.seed ^ 0x0051_5545_5259, i as u64);
            let nnz = (16.7 + 4.4 * rng.normal()).round().max(3.0) as usize;
            let v = model.vector(&mut rng, nnz, (0.6, 2.5), QUERY_WEIGHT_Q);
            model.line(&format!("q{i}"), &v, args.text.then_some(&mut rng))
        })
    }) {
        eprintln!("synth_vectors: {}: {e}", args.out.display());
        std::process::exit(2);
    }
    eprintln!(
        "wrote {} documents and {} queries ({} topics) to {}",
        args.docs,
        args.queries,
        model.topics.len(),
        args.out.display()
    );
}
