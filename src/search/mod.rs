//! Top-k retrieval by dot product, exact by default.
//!
//! Two ways to compute the same answer:
//!
//! - **Exhaustive** (`accumulate` + `top_k`): term-at-a-time, each query
//!   term's posting lists add `query_weight * doc_weight` into a dense `f32`
//!   accumulator of one slot per document, then a bounded heap picks the top
//!   k. Its cost is every posting of every query term plus a pass over all
//!   documents; for small collections nothing beats it.
//! - **Block-max pruned** (`pruned`): the documents are cut into ranges
//!   of 8, each range gets an upper bound from per-term range maxima, and
//!   ranges are scored best bound first until no remaining bound can reach
//!   the k-th score. Scores are summed in the same order with the same `f32`
//!   operations as the exhaustive path, so the results are identical (ids,
//!   order, scores, ties); `approx < 1` trades recall for speed. A query
//!   whose bounds are too flat to prune well is finished by one
//!   term-at-a-time pass that decodes only the posting blocks overlapping
//!   ranges still open.
//!
//! [`Strategy::Auto`] prunes approximate searches, and exact ones over
//! indexes of [`AUTO_PRUNE_DOCS`] documents or more whose cost model says
//! pruning can pay: a query that could afford only a few ranges before the
//! filtered pass costs as much as exhaustive scoring (many terms, short
//! lists for its size) is scored exhaustively instead, which on real
//! vectors is most long queries (README, "Search at scale"). Reordering the
//! documents (`compact --reorder`) makes ranges topical and pruning faster
//! still. Measured on 1M synthetic SPLADE-like documents (`benches/search.rs`,
//! one thread): exhaustive 6.1-6.5 ms per query, pruned exact 2.4 ms in
//! arbitrary order and 1.7 ms reordered (README, "Search at scale").
//!
//! Every search returns an error instead of hits when a page it read was
//! damaged (checked by its CRC32 as it is read, `index/format/pages.rs`):
//! what a damaged page held is left out while scoring, and never answered
//! from ([`Index::check`]).
//!
//! Ranking is deterministic: score descending (`f32::total_cmp`), then
//! document ordinal ascending; only documents with a positive score are hits,
//! and deleted documents never are (exhaustive scoring zeroes their slots
//! after scoring: a cost in the number of deleted documents, not of the
//! collection; pruned scoring skips them when collecting).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::index::{BLOCK, Index, IndexError, PostingList, Quantizer};

mod bm25;
pub mod fusion;
mod pruned;

pub use bm25::{Bm25Term, explain_bm25, search_bm25, search_bm25_batch};
pub use pruned::{PruneStats, Work};

/// [`Strategy::Auto`] prunes exact searches from this many live documents
/// on: below, exhaustive scoring takes well under a millisecond.
pub const AUTO_PRUNE_DOCS: u64 = crate::index::STORED_MIN_DOCS as u64;

/// How [`search_with`] finds the top k.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Pruned for approximate search, and for exact search over a large
    /// index (see [`AUTO_PRUNE_DOCS`]) whose range maxima are on disk,
    /// unless the query's cost model says pruning would not pay;
    /// exhaustive otherwise.
    #[default]
    Auto,
    /// Score every posting of every query term.
    Exhaustive,
    /// Block-max pruning (exact unless `approx < 1`).
    Pruned,
}

/// Options of [`search_with`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchOptions {
    /// Which algorithm.
    pub strategy: Strategy,
    /// Pruned scoring skips a range of documents when `approx` times its
    /// upper bound is below the k-th score: 1 is exact, smaller is faster
    /// and may miss documents. Ignored by exhaustive scoring.
    pub approx: f32,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            strategy: Strategy::Auto,
            approx: 1.0,
        }
    }
}

impl SearchOptions {
    /// Whether `index` is scored with pruning under these options.
    pub fn prunes(&self, index: &Index) -> bool {
        match self.strategy {
            Strategy::Auto => {
                // Documents whose segment has its range maxima on disk
                // (written since format 3; older segments would build them
                // in memory, a cost per process).
                let stored: u64 = index
                    .meta()
                    .segments
                    .iter()
                    .filter(|s| s.file("bmx").is_some() && s.file("fwd").is_some())
                    .map(|s| s.docs)
                    .sum();
                auto_prunes(self.approx, index.live_docs(), index.num_docs(), stored)
            }
            Strategy::Exhaustive => false,
            Strategy::Pruned => true,
        }
    }
}

/// [`Strategy::Auto`]'s choice: prune approximate searches, and exact ones
/// over at least [`AUTO_PRUNE_DOCS`] live documents of which 90% have their
/// range maxima on disk (`stored`).
fn auto_prunes(approx: f32, live: u32, docs: u32, stored: u64) -> bool {
    docs > 0
        && (approx < 1.0
            || (u64::from(live) >= AUTO_PRUNE_DOCS && stored * 10 >= 9 * u64::from(docs)))
}

/// One ranked document.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Global document ordinal (see [`Index::doc_id`]).
    pub doc: u32,
    /// Dot product of query and (dequantized) document vector.
    pub score: f32,
}

/// What every search takes, alone or in a batch: `(token, weight)` terms.
///
/// An index names its terms by token strings (it can be built from vectors
/// without a model), so a query does too: [`Encoder::query`] encodes a text
/// into one, and [`Query::new`] takes terms from anywhere else. A term
/// absent from the index, or whose weight is not finite and positive,
/// contributes nothing; a token given twice counts twice.
///
/// [`Encoder::query`]: crate::Encoder::query
///
/// ```
/// let q = splade::Query::new([("law", 1.5), ("warranty", 0.5)]);
/// assert_eq!(q.len(), 2);
/// assert_eq!(q.terms().next(), Some(("law", 1.5)));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    terms: Vec<(String, f32)>,
}

impl Query {
    /// A query of `(token, weight)` terms, in any order.
    pub fn new<T: Into<String>>(terms: impl IntoIterator<Item = (T, f32)>) -> Query {
        Query {
            terms: terms.into_iter().map(|(t, w)| (t.into(), w)).collect(),
        }
    }

    /// The terms, as given.
    pub fn terms(&self) -> impl ExactSizeIterator<Item = (&str, f32)> + '_ {
        self.terms.iter().map(|(t, w)| (t.as_str(), *w))
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// True when the query has no terms (it matches nothing).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms as the scoring loops take them.
    fn pairs(&self) -> Vec<(&str, f32)> {
        self.terms().collect()
    }
}

impl<T: Into<String>> FromIterator<(T, f32)> for Query {
    fn from_iter<I: IntoIterator<Item = (T, f32)>>(terms: I) -> Query {
        Query::new(terms)
    }
}

/// The top `k` documents for `query`, best first, with the default (exact)
/// options; an error naming the file when a page it read is damaged.
pub fn search(index: &Index, query: &Query, k: usize) -> Result<Vec<Hit>, IndexError> {
    search_with(index, query, k, &SearchOptions::default())
}

/// The top `k` documents for `query` under `options`; an error naming the
/// file when a page it read is damaged.
pub fn search_with(
    index: &Index,
    query: &Query,
    k: usize,
    options: &SearchOptions,
) -> Result<Vec<Hit>, IndexError> {
    Searcher::new(index, *options).search(query, k)
}

/// [`search`] for many queries in parallel (on rayon's current pool);
/// results in query order, or the error of a damaged page.
pub fn search_batch(
    index: &Index,
    queries: &[Query],
    k: usize,
) -> Result<Vec<Vec<Hit>>, IndexError> {
    search_batch_with(index, queries, k, &SearchOptions::default())
}

/// [`search_with`] for many queries in parallel (on rayon's current pool);
/// results in query order, or the error of a damaged page.
pub fn search_batch_with(
    index: &Index,
    queries: &[Query],
    k: usize,
    options: &SearchOptions,
) -> Result<Vec<Vec<Hit>>, IndexError> {
    // What pruning needs is built here, before the parallel loop, never
    // lazily from inside it (see `Index::build_range_maxima`).
    if options.prunes(index) {
        index.build_range_maxima();
    }
    let hits = queries
        .par_iter()
        .map_init(
            || Searcher::new(index, *options),
            |searcher, q| searcher.search_terms(&q.pairs(), k),
        )
        .collect();
    index.checked(hits)
}

/// Runs queries one after another over one index, reusing its buffers:
/// what a benchmark or a long-running server holds per thread.
pub struct Searcher<'a> {
    index: &'a Index,
    options: SearchOptions,
    /// `options.prunes(index)`, decided once: it reads every segment's meta.
    prunes: bool,
    scores: Vec<f32>,
    scratch: pruned::Scratch,
    stats: PruneStats,
}

impl<'a> Searcher<'a> {
    /// A searcher over `index`; buffers are allocated on first use. A
    /// pruning searcher first builds the range maxima that segments
    /// without a `.bmx` lack (once per index, in parallel).
    pub fn new(index: &'a Index, options: SearchOptions) -> Self {
        let prunes = options.prunes(index);
        if prunes {
            index.build_range_maxima();
        }
        Searcher {
            index,
            options,
            prunes,
            scores: Vec::new(),
            scratch: pruned::Scratch::default(),
            stats: PruneStats::default(),
        }
    }

    /// The top `k` documents for `query`, best first; an error naming the
    /// file when a page it read (or an earlier search read) is damaged.
    pub fn search(&mut self, query: &Query, k: usize) -> Result<Vec<Hit>, IndexError> {
        let hits = self.search_terms(&query.pairs(), k);
        self.index.checked(hits)
    }

    fn search_terms(&mut self, query: &[(&str, f32)], k: usize) -> Vec<Hit> {
        let query = &in_dictionary_order(query);
        if self.prunes
            && let Some(hits) = pruned::search(
                self.index,
                query,
                (k, self.options.approx),
                self.min_budget(),
                &mut self.scratch,
                &mut self.stats,
            )
        {
            return hits;
        }
        let n = self.index.num_docs() as usize;
        if self.scores.len() != n {
            self.scores = vec![0f32; n];
        } else {
            self.scores.fill(0.0);
        }
        accumulate(self.index, query, &mut self.scores);
        top_k(&self.scores, k)
    }

    /// The smallest fallback budget a query needs to be pruned: only
    /// [`Strategy::Auto`]'s exact searches decline queries that pruning
    /// would not speed up.
    fn min_budget(&self) -> usize {
        let auto_exact = self.options.strategy == Strategy::Auto && self.options.approx >= 1.0;
        if auto_exact {
            pruned::AUTO_MIN_BUDGET
        } else {
            0
        }
    }

    /// Counters of the pruned searches run so far.
    pub fn stats(&self) -> &PruneStats {
        &self.stats
    }

    /// What an exact search of `query` reads exhaustively and what pruning
    /// gathers first (for benchmarks and for studying [`Strategy::Auto`]);
    /// `None` when range maxima are damaged. Builds the maxima of segments
    /// without a `.bmx` if no pruned search has.
    #[doc(hidden)]
    pub fn work(&self, query: &Query) -> Option<Work> {
        self.index.build_range_maxima();
        pruned::work(self.index, &query.pairs())
    }
}

/// The query's terms sorted by token bytes, the order of every segment's
/// dictionary (equal tokens keep their order). Every scoring path adds a
/// document's contributions in this order, exhaustive scoring term after
/// term and pruned scoring over each document's forward postings
/// (`index/format/forward.rs`, dictionary order too), so that their `f32`
/// sums are the same bit for bit.
pub(super) fn in_dictionary_order<'q>(query: &[(&'q str, f32)]) -> Vec<(&'q str, f32)> {
    let mut sorted = query.to_vec();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    sorted
}

/// Adds every query term's contributions into `scores` (one slot per
/// global ordinal), in the order given (dictionary order, see
/// [`in_dictionary_order`]), then zeroes deleted documents so that they
/// are never hits. Damaged blocks contribute nothing, and the search
/// reports them.
fn accumulate(index: &Index, query: &[(&str, f32)], scores: &mut [f32]) {
    for seg in &index.segments {
        let base = seg.base as usize;
        let Some(slots) = scores.get_mut(base..base + seg.docs as usize) else {
            continue;
        };
        for &(term, qw) in query {
            if qw == 0.0 || !qw.is_finite() {
                continue;
            }
            let Some(list) = seg.terms.lookup(term).and_then(|info| seg.list(&info)) else {
                continue;
            };
            add_list(&list, seg.quant, seg.quant.factor(qw), slots, |_| true);
        }
    }
    for &d in index.deleted_docs() {
        if let Some(s) = scores.get_mut(d as usize) {
            *s = 0.0;
        }
    }
}

/// Adds `factor * quant.unscaled(code)` of every posting of `list` to `slots`
/// (indexed by the segment's local ordinals), skipping the blocks `keep`
/// rejects. Exhaustive scoring and pruning's filtered pass both sum scores
/// here, so their `f32` operations are the same by construction. A
/// malformed block ends the list.
fn add_list(
    list: &PostingList,
    quant: Quantizer,
    factor: f32,
    slots: &mut [f32],
    mut keep: impl FnMut(usize) -> bool,
) {
    let mut docs = [0u32; BLOCK];
    let mut codes = [0u32; BLOCK];
    for b in 0..list.num_blocks() {
        if !keep(b) {
            continue;
        }
        let Some(n) = list.decode_block(b, &mut docs, &mut codes) else {
            break;
        };
        for (&d, &c) in docs[..n].iter().zip(&codes[..n]) {
            if let Some(s) = slots.get_mut(d as usize) {
                *s += factor * quant.unscaled(c);
            }
        }
    }
}

/// Heap entry ordered so that the *worst* hit is the heap's maximum.
#[derive(Clone, Copy)]
struct Worst(Hit);

/// `Less` when `a` ranks before `b`: higher score, then lower ordinal.
fn rank_order(a: &Hit, b: &Hit) -> Ordering {
    b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc))
}

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        rank_order(&self.0, &other.0) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        rank_order(&self.0, &other.0)
    }
}

/// A bounded collection of the best hits seen, in any order of arrival.
struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Keeps `hit` if it ranks among the best `k` so far.
    #[inline]
    fn push(&mut self, hit: Hit) {
        if self.heap.len() < self.k {
            self.heap.push(Worst(hit));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && rank_order(&hit, &worst.0) == Ordering::Less
        {
            *worst = Worst(hit);
        }
    }

    /// The k-th best score once `k` hits are held.
    #[inline]
    fn threshold(&self) -> Option<f32> {
        (self.heap.len() == self.k && self.k > 0)
            .then(|| self.heap.peek().map(|w| w.0.score))
            .flatten()
    }

    fn into_sorted(self) -> Vec<Hit> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|w| w.0)
            .collect()
    }
}

/// The `k` best positive scores, best first, ties by lower ordinal.
fn top_k(scores: &[f32], k: usize) -> Vec<Hit> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(k + 1);
    for (doc, &score) in scores.iter().enumerate() {
        if score <= 0.0 || score.is_nan() {
            continue;
        }
        let hit = Hit {
            doc: doc as u32,
            score,
        };
        if heap.len() == k {
            // Ordinals arrive in increasing order, so an equal score never
            // displaces an earlier document.
            match heap.peek() {
                Some(w) if score > w.0.score => {
                    heap.pop();
                }
                _ => continue,
            }
        }
        heap.push(Worst(hit));
    }
    heap.into_sorted_vec().into_iter().map(|w| w.0).collect()
}

/// Exact float reference: scores every document by a dot product
/// accumulated in `f64` and ranks like [`search`]. For tests and for
/// measuring quantization.
#[cfg(test)]
pub(crate) fn brute_force(
    docs: &[Vec<(String, f32)>],
    query: &[(&str, f32)],
    k: usize,
) -> Vec<Hit> {
    let mut q: std::collections::HashMap<&str, f64> = Default::default();
    for &(t, w) in query {
        *q.entry(t).or_default() += w as f64;
    }
    let scores: Vec<f32> = docs
        .iter()
        .map(|d| {
            d.iter()
                .filter_map(|(t, w)| q.get(t.as_str()).map(|qw| qw * *w as f64))
                .sum::<f64>() as f32
        })
        .collect();
    top_k(&scores, k)
}

#[cfg(test)]
mod prune_tests;
#[cfg(test)]
mod tests;
