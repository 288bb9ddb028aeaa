//! Exact top-k with block-max pruning over fixed document ranges.
//!
//! The idea is BMP's (Mallia et al., SIGIR 2024), built on the bounds our
//! format already stores rather than on a second index:
//!
//! 1. **Bounds.** Each segment's ordinals are cut into ranges of 8
//!    documents. For every query term, a range's bound is the largest
//!    `query_weight * doc_weight` any posting of the term in that range can
//!    have, from the segment's per-range maxima (`index/format/range_max.rs`, built
//!    on the first pruned search). A range's bound is the sum over query
//!    terms; a term absent from a range adds nothing and is skipped when
//!    the range is scored.
//! 2. **Order.** Ranges are visited best bound first: gathered in bands of
//!    bounds (the best band first, each reaching down to 0.6 of the one
//!    above, so that the many ranges with low bounds are never gathered),
//!    and within a band selected in growing chunks, not fully sorted. A
//!    query that would score more ranges than that is worth
//!    (`fallback_budget`) is finished by one term-at-a-time pass over the
//!    ranges still open instead (`filtered_pass`). Each visited
//!    range is scored exactly into
//!    a small accumulator: terms in query order, each adding
//!    `factor * weight` with the very `f32` operations of the exhaustive
//!    path, so every score is bit-identical to exhaustive scoring.
//! 3. **Stop.** Once k hits are held, the first range whose bound (times a
//!    float-rounding slack, times `approx`) is below the k-th score ends the
//!    search: no document in it or after it could enter the top k, not even
//!    by a tie (a tie needs `score == k-th score`, and the bound is strictly
//!    below). With `approx < 1` ranges are dropped earlier: faster, and
//!    possibly missing documents.
//!
//! Negative query weights would invert the bounds; such queries fall back to
//! exhaustive scoring (`search` returns `None`).

use super::{Hit, TopK, add_list};
use crate::index::{BLOCK, Index, RANGE_SHIFT, TermRanges, ranges};
use crate::index::{PostingList, Quantizer, Segment};

const RANGE: usize = 1 << RANGE_SHIFT;
/// Scoring one range costs about this many postings of a term-at-a-time
/// pass, per query term (a directory search and a block decode). Tuned on
/// the synthetic collections of `benches/compare_pruning.sh`: at 1M
/// documents, 48 / 96 / 192 / 384 gave 1.79 / 1.74 / 1.67 / 1.81 ms mean
/// per query (the filtered pass is cheaper than its estimate, which
/// counts every posting).
const RANGE_COST: usize = 192;

/// How many ranges pruned scoring may score before the filtered pass
/// (`filtered_pass`) is cheaper, estimated as every posting of the query's
/// terms plus a pass over the accumulator. Queries whose bounds are flat
/// (no topic stands out) reach it after their first round.
pub(super) fn fallback_budget(terms: &[Vec<Term>], docs: u32) -> usize {
    let postings: usize = terms.iter().flatten().map(|t| t.list.len()).sum();
    let per_range = RANGE_COST * terms.iter().map(Vec::len).max().unwrap_or(1).max(1);
    (postings + docs as usize / 4) / per_range
}

#[cfg(test)]
thread_local! {
    /// Tests force the fallback off (`Some(false)`), so that pruning itself
    /// is what they compare with exhaustive scoring, or on (`Some(true)`),
    /// to compare the filtered pass.
    pub(super) static FALLBACK: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether to stop pruning when `open` ranges would still be scored.
fn fall_back(open: usize, budget: usize) -> bool {
    #[cfg(test)]
    if let Some(forced) = FALLBACK.with(|c| c.get()) {
        return forced;
    }
    open > budget
}

/// Each band of candidate bounds reaches down to this fraction of the one
/// above (the first: of the largest bound).
const BAND: f32 = 0.6;
/// Ranges selected per round before the first; doubled each round. Small,
/// because a query whose bounds turn out flat falls back to the filtered
/// pass after its first round, and on real vectors most do: on 100,000
/// real splade-tiny passages (`benches/real_vectors.sh`, single thread,
/// modes interleaved) 64 / 16 / 8 gave 4.11 / 3.35 / 3.34 ms mean for the
/// shared queries (exhaustive 3.8-4.0) and 1.78 / 1.75 / 1.90 ms at 200,000
/// synthetic documents (exhaustive 3.4-3.6).
const FIRST_CHUNK: usize = 16;

/// [`Strategy::Auto`](super::Strategy::Auto) scores an exact query
/// exhaustively when its [`fallback_budget`] is below this many ranges:
/// such a query can afford so few ranges that it nearly always ends in the
/// filtered pass, having paid for its bounds and first rounds on top. On
/// the measurements of [`FIRST_CHUNK`], a minimum of 0 / 48 / 56 / 64
/// gave 3.35 / 3.63 / 3.74 / 3.82 ms mean (p99 19.1 / 15.9 / 15.6 / 15.6)
/// for the shared queries, 10.50 / 9.58 / 9.43 / 9.42 ms (p99 23.5 / 19.3
/// / 18.4 / 18.4) for passages used as long queries, against exhaustive
/// 3.89 (p99 15.6) and 9.41 (p99 18.4); and 1.75 / 1.77 / 1.83 / 1.97 ms
/// on the synthetic documents. The budget grows with the index (it counts
/// postings), so larger indexes prune more of their queries.
pub(super) const AUTO_MIN_BUDGET: usize = 56;

/// [`Strategy::Auto`](super::Strategy::Auto) also scores an exact query of
/// more than this many terms exhaustively: a document-like query whose
/// bounds, summed over that many terms, are flat, so that it falls back to
/// the filtered pass 95% of the time. On 200,000 real passages with
/// passages as long queries, the budget rule alone left such queries a p99
/// of 42.9 ms against 36.8 ms exhaustive; with this cap both the shared
/// queries and the long ones had their exhaustive p99 (33.9 and 36.8 ms)
/// and means below exhaustive (chosen on that run, not held out).
pub(super) const AUTO_MAX_TERMS: usize = 128;

/// Whether a search that needs `min_budget` (0: prune every query)
/// declines a query of `terms` terms whose fallback budget is `budget`.
pub(super) fn declines(min_budget: usize, terms: usize, budget: usize) -> bool {
    min_budget > 0 && (budget < min_budget || terms > AUTO_MAX_TERMS)
}

/// Counters of pruned searches, for benchmarks and tuning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Queries answered by pruned scoring.
    pub queries: u64,
    /// Ranges with a positive bound.
    pub ranges: u64,
    /// Ranges scored.
    pub scored: u64,
    /// Queries finished by the filtered term-at-a-time pass.
    pub fallbacks: u64,
    /// Exact queries that [`Strategy::Auto`](super::Strategy::Auto) scored
    /// exhaustively instead: their cost model said pruning would not pay
    /// (too small a fallback budget, or too many terms).
    pub declined: u64,
}

/// Buffers reused across queries.
#[derive(Default)]
pub(super) struct Scratch {
    bounds: Vec<f32>,
    cands: Vec<(f32, u32)>,
    acc: Vec<f32>,
    /// Per range (over all segments), how many ranges before it are open.
    open: Vec<u32>,
    /// One score slot per document, for the filtered pass.
    scores: Vec<f32>,
}

/// One query term in one segment.
pub(super) struct Term<'a> {
    list: PostingList<'a>,
    maxima: TermRanges<'a>,
    /// `quant.factor(query_weight)`: the same factor the exhaustive path
    /// multiplies by.
    factor: f32,
    quant: Quantizer,
    /// The block decoded last, to reuse when consecutive ranges share it.
    cached: usize,
    n: usize,
    docs: Box<[u32; BLOCK]>,
    codes: Box<[u32; BLOCK]>,
}

impl Term<'_> {
    #[inline]
    fn contribution(&self, code: u32) -> f32 {
        self.factor * self.quant.unscaled(code)
    }

    /// Decodes block `b` into the cache unless it is there; `false` if the
    /// block is malformed.
    fn load(&mut self, b: usize) -> bool {
        if self.cached != b {
            match self.list.decode_block(b, &mut self.docs, &mut self.codes) {
                Some(n) => {
                    self.n = n;
                    self.cached = b;
                }
                None => return false,
            }
        }
        true
    }
}

/// The pruned top k, or `None` when the query needs exhaustive scoring:
/// negative weights, damaged range maxima, or a query that a search with a
/// `min_budget` declines (see [`declines`]; 0 prunes every query).
pub(super) fn search(
    index: &Index,
    query: &[(&str, f32)],
    (k, approx): (usize, f32),
    min_budget: usize,
    scratch: &mut Scratch,
    stats: &mut super::PruneStats,
) -> Option<Vec<Hit>> {
    if query.iter().any(|&(_, w)| w < 0.0) || approx.is_nan() || approx <= 0.0 {
        return None;
    }
    if k == 0 {
        return Some(Vec::new());
    }
    let live: Vec<(&str, f32)> = query
        .iter()
        .copied()
        .filter(|&(_, w)| w != 0.0 && w.is_finite())
        .collect();
    // Rounding: a computed bound may fall short of a computed score by a
    // relative 2nu (n additions each way, u = 2^-24); the slack covers it.
    let slack = 1.0 + 2.0 * (live.len() as f32 + 2.0) * f32::EPSILON;
    let terms = index
        .segments
        .iter()
        .map(|seg| segment_terms(seg, &live))
        .collect::<Option<Vec<_>>>()?;
    let budget = fallback_budget(&terms, index.num_docs());
    if declines(min_budget, live.len(), budget) {
        stats.declined += 1;
        return None;
    }
    let offsets = gather_bounds(index, &terms, &mut scratch.bounds);
    stats.queries += 1;
    stats.ranges += scratch.bounds.iter().filter(|&&b| b > 0.0).count() as u64;
    scratch.acc.resize(RANGE, 0.0);
    let run = Run {
        index,
        budget,
        terms,
        offsets,
        scale: slack * approx.min(1.0),
        k,
        top: TopK::new(k),
        scored: 0,
        counted: false,
    };
    Some(run.bands(scratch, stats))
}

/// What an exact search of a query reads each way: every posting of its
/// terms (what exhaustive scoring decodes) and every range maximum of its
/// terms (what pruning gathers into bounds before it scores a range).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Postings of the query's terms, over all segments.
    pub postings: u64,
    /// Range maxima of the query's terms, over all segments.
    pub maxima: u64,
}

/// The [`Work`] of `query` over `index`; `None` when a segment's range
/// maxima are damaged.
pub(super) fn work(index: &Index, query: &[(&str, f32)]) -> Option<Work> {
    let mut w = Work::default();
    for seg in &index.segments {
        for t in segment_terms(seg, query)? {
            w.postings += t.list.len() as u64;
            w.maxima += t.maxima.entries() as u64;
        }
    }
    Some(w)
}

/// In `bounds`, the bound of every range from the query's `terms` of each
/// segment, segment after segment; returns where each segment's ranges
/// start (and a last entry, their end).
fn gather_bounds(index: &Index, terms: &[Vec<Term>], bounds: &mut Vec<f32>) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(index.segments.len() + 1);
    bounds.clear();
    for (seg, seg_terms) in index.segments.iter().zip(terms) {
        offsets.push(bounds.len());
        let start = bounds.len();
        bounds.resize(start + ranges(seg.docs), 0.0);
        for t in seg_terms {
            t.maxima.add_to(t.factor, &mut bounds[start..]);
        }
    }
    offsets.push(bounds.len());
    offsets
}

/// A pruned search in progress.
struct Run<'a> {
    index: &'a Index,
    /// The query's terms, per segment.
    terms: Vec<Vec<Term<'a>>>,
    /// Where each segment's ranges start among the bounds (see
    /// [`gather_bounds`]).
    offsets: Vec<usize>,
    /// What bounds are multiplied by: the rounding slack times `approx`.
    scale: f32,
    k: usize,
    top: TopK,
    /// Ranges worth scoring before the filtered pass is cheaper.
    budget: usize,
    /// Ranges scored so far.
    scored: usize,
    /// Whether the open ranges over all bands have been counted once.
    counted: bool,
}

/// How a band of candidates ended.
enum Band {
    /// Every candidate was scored or ruled out: on to the next band.
    Done,
    /// No range left, in this band or below, can reach the top k.
    Stop,
    /// The filtered pass answered instead.
    FellBack(Vec<Hit>),
}

impl Run<'_> {
    /// Scores ranges best bound first, gathering candidates one band of
    /// bounds at a time, best band first (`level <= bound * scale <
    /// upper`): once the k-th score reaches a band's lower edge no range
    /// below it can matter, so most ranges are never gathered or sorted.
    fn bands(mut self, scratch: &mut Scratch, stats: &mut PruneStats) -> Vec<Hit> {
        let top_bound = scratch.bounds.iter().fold(0.0f32, |m, &b| m.max(b)) * self.scale;
        let (mut level, mut upper) = (top_bound * BAND, f32::INFINITY);
        loop {
            gather(
                &scratch.bounds,
                self.scale,
                (level, upper),
                &mut scratch.cands,
            );
            match self.band(scratch, stats) {
                Band::Done => {}
                Band::Stop => break,
                Band::FellBack(hits) => return hits,
            }
            let threshold = self.top.threshold();
            if level <= 0.0 || threshold.is_some_and(|t| t >= level) {
                break;
            }
            upper = level;
            level = if level < top_bound * 1e-3 {
                0.0
            } else {
                (level * BAND).max(threshold.unwrap_or(0.0))
            };
        }
        self.top.into_sorted()
    }

    /// Scores the candidates of one band (`scratch.cands`) best first, in
    /// growing chunks, dropping those that can no longer reach the k-th
    /// score; falls back to the filtered pass when too many ranges are
    /// still open.
    fn band(&mut self, scratch: &mut Scratch, stats: &mut PruneStats) -> Band {
        let mut start = 0;
        let mut chunk = FIRST_CHUNK;
        while start < scratch.cands.len() {
            if let Some(t) = self.top.threshold() {
                // Only ranges that can still reach the k-th score stay.
                let keep = retain_reaching(&mut scratch.cands, start, t);
                // Ranges that could still hold a hit: over all bands (scored
                // ones included) when the first k-th score is known, then
                // those of this band.
                let open = if self.counted {
                    self.scored + (keep - start)
                } else {
                    self.counted = true;
                    let scale = self.scale;
                    scratch.bounds.iter().filter(|&&b| b * scale >= t).count()
                };
                if fall_back(open, self.budget) {
                    stats.fallbacks += 1;
                    let threshold = (t, self.scale);
                    let (index, offsets) = (self.index, &self.offsets);
                    let hits =
                        filtered_pass(index, &mut self.terms, offsets, threshold, self.k, scratch);
                    return Band::FellBack(hits);
                }
            }
            let end = (start + chunk).min(scratch.cands.len());
            select_best(&mut scratch.cands[start..], end - start);
            for i in start..end {
                let (v, g) = scratch.cands[i];
                // Every range not scored yet has a bound of at most `v`.
                if self.top.threshold().is_some_and(|t| v < t) {
                    return Band::Stop;
                }
                self.score(g, &mut scratch.acc);
                stats.scored += 1;
                self.scored += 1;
            }
            start = end;
            chunk *= 2;
        }
        Band::Done
    }

    /// Scores range `g` (numbered over all segments).
    fn score(&mut self, g: u32, acc: &mut [f32]) {
        let s = self.offsets.partition_point(|&o| o <= g as usize) - 1;
        let seg = &self.index.segments[s];
        let r = g - self.offsets[s] as u32;
        score_range(&mut self.terms[s], seg, r, acc, self.index, &mut self.top);
    }
}

/// The candidates `(bound * scale, range)` of the band `level <= bound *
/// scale < upper`, in range order.
fn gather(bounds: &[f32], scale: f32, (level, upper): (f32, f32), cands: &mut Vec<(f32, u32)>) {
    cands.clear();
    for (i, &b) in bounds.iter().enumerate() {
        let v = b * scale;
        if v > 0.0 && v >= level && v < upper {
            cands.push((v, i as u32));
        }
    }
}

/// Keeps, among `cands[start..]`, the candidates whose bound reaches `t`
/// (moved to the front, in their order); returns where they end.
fn retain_reaching(cands: &mut Vec<(f32, u32)>, start: usize, t: f32) -> usize {
    let mut keep = start;
    for i in start..cands.len() {
        if cands[i].0 >= t {
            cands.swap(keep, i);
            keep += 1;
        }
    }
    cands.truncate(keep);
    keep
}

/// Moves the `n` best candidates (`0 < n <= cands.len()`) to the front of
/// `cands`, sorted best first, without sorting the rest.
fn select_best(cands: &mut [(f32, u32)], n: usize) {
    let desc = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0);
    if n < cands.len() {
        cands.select_nth_unstable_by(n - 1, desc);
    }
    cands[..n].sort_unstable_by(desc);
}

/// Term-at-a-time scoring of the *open* ranges (`bound * scale` at least
/// the k-th score found so far, as the search loop decides) only: posting blocks that overlap
/// no open range are not decoded. Every document of an open range gets its
/// complete score, summed like exhaustive scoring; documents of closed
/// ranges score below the k-th score already found and are not offered.
/// This is what a query with flat bounds gets instead of pruning: close to
/// an exhaustive pass, less what the bounds rule out.
fn filtered_pass(
    index: &Index,
    terms: &mut [Vec<Term>],
    offsets: &[usize],
    (threshold, scale): (f32, f32),
    k: usize,
    scratch: &mut Scratch,
) -> Vec<Hit> {
    let open = &mut scratch.open;
    open.clear();
    open.push(0);
    let mut count = 0u32;
    for &b in &scratch.bounds {
        count += u32::from(b * scale >= threshold);
        open.push(count);
    }
    let n = index.num_docs() as usize;
    scratch.scores.clear();
    scratch.scores.resize(n, 0.0);
    let mut top = TopK::new(k);
    for (s, seg) in index.segments.iter().enumerate() {
        let first = offsets[s];
        let last = offsets[s + 1].saturating_sub(1).max(first);
        let is_open = |lo: u32, hi: u32| {
            let lo = (first + (lo >> RANGE_SHIFT) as usize).min(last);
            let hi = (first + (hi >> RANGE_SHIFT) as usize).clamp(lo, last);
            open[hi + 1] > open[lo]
        };
        let slots = &mut scratch.scores[seg.base as usize..(seg.base + seg.docs) as usize];
        for t in terms[s].iter() {
            let list = &t.list;
            add_list(list, t.quant, t.factor, slots, |b| {
                list.first_doc(b)
                    .is_some_and(|lo| is_open(lo, list.block_meta(b).last_doc.max(lo)))
            });
        }
        for r in 0..offsets[s + 1] - first {
            if open[first + r + 1] == open[first + r] {
                continue;
            }
            let lo = (r as u32) << RANGE_SHIFT;
            let hi = (lo + RANGE as u32).min(seg.docs);
            for d in lo..hi {
                let score = slots[d as usize];
                let doc = seg.base + d;
                if score > 0.0 && !index.is_deleted(doc) {
                    top.push(Hit { doc, score });
                }
            }
        }
    }
    top.into_sorted()
}

/// The lists of `query`'s terms in `seg`, in query order; `None` when the
/// segment's range maxima are damaged (exhaustive scoring then answers).
pub(super) fn segment_terms<'a>(seg: &'a Segment, query: &[(&str, f32)]) -> Option<Vec<Term<'a>>> {
    let maxima = seg.range_max();
    let mut terms = Vec::with_capacity(query.len());
    for &(term, qw) in query {
        let Some(at) = seg.terms.position(term) else {
            continue;
        };
        // A damaged list is skipped, as exhaustive scoring skips it.
        let Some(list) = seg.list(&seg.terms.info(at)) else {
            continue;
        };
        terms.push(Term {
            list,
            maxima: maxima.term(at)?,
            factor: seg.quant.factor(qw),
            quant: seg.quant,
            cached: usize::MAX,
            n: 0,
            docs: Box::new([0; BLOCK]),
            codes: Box::new([0; BLOCK]),
        });
    }
    Some(terms)
}

/// Scores range `r` of `seg` exactly and offers its documents to `top`.
#[inline(never)]
fn score_range(
    terms: &mut [Term],
    seg: &Segment,
    r: u32,
    acc: &mut [f32],
    index: &Index,
    top: &mut TopK,
) {
    let lo = r << RANGE_SHIFT;
    let hi = lo.saturating_add(RANGE as u32).min(seg.docs);
    for t in terms.iter_mut().filter(|t| t.maxima.holds(r)) {
        let nb = t.list.num_blocks();
        // The first block that can hold a doc >= lo.
        let mut b = t.list.block_reaching(lo);
        while b < nb {
            if t.cached != b && t.list.first_doc(b).is_none_or(|f| f >= hi) {
                break;
            }
            if !t.load(b) {
                break;
            }
            let docs = &t.docs[..t.n];
            let from = docs.partition_point(|&d| d < lo);
            for i in from..t.n {
                let d = t.docs[i];
                if d >= hi {
                    break;
                }
                let s = t.contribution(t.codes[i]);
                acc[(d - lo) as usize] += s;
            }
            if t.list.block_meta(b).last_doc >= hi - 1 {
                break;
            }
            b += 1;
        }
    }
    let deleted = !index.deleted_docs().is_empty();
    for (i, s) in acc[..(hi - lo) as usize].iter_mut().enumerate() {
        let score = std::mem::take(s);
        if score > 0.0 {
            let doc = seg.base + lo + i as u32;
            if deleted && index.is_deleted(doc) {
                continue;
            }
            top.push(Hit { doc, score });
        }
    }
}
