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
//!    range is scored exactly from its forward postings (the segment's
//!    `.fwd`, `index/format/forward.rs`: the range's terms in dictionary
//!    order, each with the documents holding it) into a small accumulator,
//!    each query term adding `factor * weight` with the very `f32`
//!    operations of the exhaustive path and in its order (the query's
//!    terms in dictionary order), so every score is bit-identical to
//!    exhaustive scoring. This replaced scoring a range from the inverted
//!    lists (a block search and a block decode per query term), which on
//!    real vectors cost ten times as much per range.
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
use crate::index::{Forward, Index, RANGE_SHIFT, TermRanges, ranges};
use crate::index::{PostingList, Quantizer, Segment};

const RANGE: usize = 1 << RANGE_SHIFT;
/// Scoring one range from its forward postings costs about this many
/// postings of a term-at-a-time pass per group (term) of the range: a
/// bit test per group and the query's own postings, against a decode and
/// an accumulator update per posting. Measured on 200,000 real passages
/// (`benches/real_vectors.sh`) with a one-off timer around `score_range`
/// (not kept): a range of 773 groups took 2.5 us hot and 3.9 us as the
/// search meets it, a posting of exhaustive scoring 3.2 ns. Values of 0.7,
/// 1.3 and 2.5 then gave pruned exact search 1.55x, 1.55x and 1.51x
/// exhaustive's mean on the shared queries (one run each, a noisy VM).
const GROUP_COST: f32 = 1.3;

/// How many ranges pruned scoring may score before the filtered pass
/// (`filtered_pass`) is cheaper, estimated as every posting of the query's
/// terms plus a pass over the accumulator, over the cost of a range of the
/// index's average size. Queries whose bounds are flat (no topic stands
/// out) reach it after their first round.
pub(super) fn fallback_budget(index: &Index, terms: &[Vec<Term>]) -> usize {
    let postings: usize = terms.iter().flatten().map(|t| t.list.len()).sum();
    let (groups, n_ranges) = index.segments.iter().fold((0usize, 0usize), |(g, r), seg| {
        (g + seg.forward().groups(), r + ranges(seg.docs))
    });
    let per_range = (groups as f32 / n_ranges.max(1) as f32).max(1.0) * GROUP_COST;
    ((postings + index.num_docs() as usize / 4) as f32 / per_range) as usize
}

#[cfg(test)]
thread_local! {
    /// Tests force the fallback off (`Some(false)`), so that pruning itself
    /// is what they compare with exhaustive scoring, or on (`Some(true)`),
    /// to compare the filtered pass.
    pub(super) static FALLBACK: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// More open ranges than this many budgets: the filtered pass answers at
/// once (see [`fall_back`]).
pub(super) const HOPELESS: usize = 2;
/// With fewer open ranges than that but more than the budget, pruning goes
/// on until it has scored the budget over this (see [`fall_back`]).
pub(super) const PATIENCE: usize = 4;

/// Whether to stop pruning, with `open` ranges whose bound reaches the
/// k-th score so far (scored ones included) after `scored` ranges, for a
/// query that may score `budget`. Over twice the budget: at once. Over the
/// budget: only once a quarter of it is spent, because the k-th score
/// rises as ranges are scored and the open ranges with it fall below the
/// budget more often than not (at worst the query pays a quarter of its
/// budget before the pass). On the 200,000 real passages (reordered with
/// leaf 16; interleaved runs of `cargo bench --bench search`, 4 and 5 of
/// them each way) this took the short queries' fallbacks from 26.8% to
/// 16.2%, pruned exact search from 1.87x to 1.91x exhaustive's mean and the
/// default from 1.79x to 1.86x; the long queries' default stayed 1.09x
/// (p99 0.99x and 1.01x, two runs). With 4 budgets and a quarter the short
/// queries did as well but the long ones' p99 rose to 1.07x exhaustive's.
pub(super) fn fall_back(open: usize, scored: usize, budget: usize) -> bool {
    #[cfg(test)]
    if let Some(forced) = FALLBACK.with(|c| c.get()) {
        return forced;
    }
    open > HOPELESS * budget || (open > budget && scored >= budget / PATIENCE)
}

/// Each band of candidate bounds reaches down to this fraction of the one
/// above (the first: of the largest bound).
const BAND: f32 = 0.6;
/// Ranges selected per round before the first; doubled each round. Small,
/// because a query whose bounds turn out flat falls back to the filtered
/// pass after its first round, and on real vectors many do (measured
/// before ranges were scored from forward postings: on 100,000
/// real splade-tiny passages (`benches/real_vectors.sh`, single thread,
/// modes interleaved) 64 / 16 / 8 gave 4.11 / 3.35 / 3.34 ms mean for the
/// shared queries (exhaustive 3.8-4.0) and 1.78 / 1.75 / 1.90 ms at 200,000
/// synthetic documents (exhaustive 3.4-3.6); not re-measured since).
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
/// postings), so larger indexes prune more of their queries. Those figures
/// predate forward postings, which made a range about eight times cheaper
/// and the budgets as much larger; the minimum was kept, since on 200,000
/// real passages (`benches/real_vectors.sh`, the run in README) the default
/// then kept both query sets' means and p99 at or below exhaustive
/// scoring's; it now declines almost only queries of a few rare terms.
pub(super) const AUTO_MIN_BUDGET: usize = 56;

/// [`Strategy::Auto`](super::Strategy::Auto) also scores an exact query of
/// more than this many terms exhaustively: a document-like query whose
/// bounds, summed over that many terms, are flat, so that it falls back to
/// the filtered pass 95% of the time. On 200,000 real passages with
/// passages as long queries, the budget rule alone left such queries a p99
/// of 42.9 ms against 36.8 ms exhaustive; with this cap both the shared
/// queries and the long ones had their exhaustive p99 (33.9 and 36.8 ms)
/// and means below exhaustive (chosen on that run, not held out). With
/// forward postings 64 and 128 were compared again (by changing this
/// constant; long queries: mean
/// 0.99x and 0.93x of exhaustive, p99 1.00x and 0.97x; shared queries:
/// mean 0.70x and 0.59x, p99 1.00x and 0.99x): 128 stays. Such a query is
/// declined before its terms are looked up.
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
    /// Per segment, the query's terms as scoring a range from its forward
    /// postings looks them up. Cleared after each query.
    tables: Vec<QueryTable>,
}

/// A query's terms in one segment as range scoring looks them up: a bit
/// per dictionary entry (8 KiB for a 65,536-entry dictionary: it stays in
/// the L1 cache, which a table of factors would not) and, for the set
/// bits, the factor.
#[derive(Default)]
pub(super) struct QueryTable {
    bits: Vec<u64>,
    factors: Vec<f32>,
    /// The entries set, for [`clear`](Self::clear).
    set: Vec<usize>,
}

impl QueryTable {
    /// Sizes the table for a dictionary of `terms` entries (at least the
    /// 65,536 that 2-byte term numbers address, so that their lookups
    /// need no bounds check).
    fn reserve(&mut self, terms: usize) {
        let terms = terms.max(1 << 16);
        self.bits.resize(terms.div_ceil(64), 0);
        self.factors.resize(terms, 0.0);
    }

    fn set(&mut self, at: usize, factor: f32) {
        self.bits[at >> 6] |= 1 << (at & 63);
        self.factors[at] = factor;
        self.set.push(at);
    }

    /// Unsets every entry set since the last clear.
    fn clear(&mut self) {
        for at in self.set.drain(..) {
            self.bits[at >> 6] = 0;
            self.factors[at] = 0.0;
        }
    }
}

/// One query term in one segment.
pub(super) struct Term<'a> {
    list: PostingList<'a>,
    maxima: TermRanges<'a>,
    /// Its dictionary entry in the segment.
    at: usize,
    /// `quant.factor(query_weight)`: the same factor the exhaustive path
    /// multiplies by.
    factor: f32,
    quant: Quantizer,
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
    // A range's forward postings hold a term once: a token given twice
    // adds twice in exhaustive scoring, which answers such a query.
    if live.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    // A document-like query is declined before its terms are looked up.
    if declines(min_budget, live.len(), usize::MAX) {
        stats.declined += 1;
        return None;
    }
    // Rounding: a computed bound may fall short of a computed score by a
    // relative 2nu (n additions each way, u = 2^-24); the slack covers it.
    let slack = 1.0 + 2.0 * (live.len() as f32 + 2.0) * f32::EPSILON;
    let terms = index
        .segments
        .iter()
        .map(|seg| segment_terms(seg, &live))
        .collect::<Option<Vec<_>>>()?;
    let budget = fallback_budget(index, &terms);
    if declines(min_budget, live.len(), budget) {
        stats.declined += 1;
        return None;
    }
    let offsets = gather_bounds(index, &terms, &mut scratch.bounds);
    set_tables(index, &terms, &mut scratch.tables);
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
    let hits = run.bands(scratch, stats);
    scratch.tables.iter_mut().for_each(QueryTable::clear);
    Some(hits)
}

/// Writes each segment's query terms into its table in `tables`.
fn set_tables(index: &Index, terms: &[Vec<Term>], tables: &mut Vec<QueryTable>) {
    tables.resize_with(index.segments.len(), QueryTable::default);
    for ((seg, seg_terms), table) in index.segments.iter().zip(terms).zip(tables.iter_mut()) {
        table.reserve(seg.terms.len());
        for t in seg_terms.iter().filter(|t| t.factor != 0.0) {
            table.set(t.at, t.factor);
        }
    }
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
                if fall_back(open, self.scored, self.budget) {
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
                if let Some(&(_, next)) = scratch.cands[..end].get(i + 1) {
                    self.prefetch(next);
                }
                self.score(g, &mut scratch.acc, &scratch.tables);
                stats.scored += 1;
                self.scored += 1;
            }
            start = end;
            chunk *= 2;
        }
        Band::Done
    }

    /// The segment of range `g` (numbered over all segments) and the
    /// range's number in it.
    fn locate(&self, g: u32) -> (usize, u32) {
        let s = self.offsets.partition_point(|&o| o <= g as usize) - 1;
        (s, g - self.offsets[s] as u32)
    }

    /// Starts loading range `g`'s forward postings (see
    /// [`Forward::prefetch`]).
    fn prefetch(&self, g: u32) {
        let (s, r) = self.locate(g);
        self.index.segments[s].forward().prefetch(r as usize);
    }

    /// Scores range `g`.
    fn score(&mut self, g: u32, acc: &mut [f32], tables: &[QueryTable]) {
        let (s, r) = self.locate(g);
        let seg = &self.index.segments[s];
        let at = (seg, r, self.index);
        score_range(seg.forward(), &tables[s], at, acc, &mut self.top);
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
            at,
            factor: seg.quant.factor(qw),
            quant: seg.quant,
        });
    }
    Some(terms)
}

/// Adds to `acc` the postings of every group of the range `g` whose term
/// is the query's ([`add_group`]). Most groups are not: the loop is a bit
/// test in `table` per group, and where each match's postings start is
/// counted from the masks only when a match needs it, eight masks at a
/// time.
#[inline(always)]
fn add_matches(
    g: &crate::index::RangeGroups,
    table: &QueryTable,
    quant: Quantizer,
    acc: &mut [f32],
) {
    let masks = g.masks;
    // Postings before group `at`.
    let (mut p, mut at) = (0usize, 0usize);
    let mut matched = |i: usize, t: usize, acc: &mut [f32]| {
        while at + 8 <= i {
            let word = u64::from_le_bytes(masks[at..at + 8].try_into().unwrap_or([0; 8]));
            p += word.count_ones() as usize;
            at += 8;
        }
        while at < i {
            p += masks[at].count_ones() as usize;
            at += 1;
        }
        add_group(g, quant, (p, masks[i], table.factors[t]), acc);
    };
    if g.term_width == 2 {
        let Some(bits) = table
            .bits
            .get(..1024)
            .and_then(|b| <&[u64; 1024]>::try_from(b).ok())
        else {
            return;
        };
        for (i, t) in g.terms.chunks_exact(2).enumerate() {
            let t = u16::from_le_bytes([t[0], t[1]]) as usize;
            if bits[t >> 6] >> (t & 63) & 1 != 0 {
                matched(i, t, acc);
            }
        }
    } else {
        for (i, t) in g.terms.chunks_exact(4).enumerate() {
            let t = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize;
            if table
                .bits
                .get(t >> 6)
                .is_some_and(|w| w >> (t & 63) & 1 != 0)
            {
                matched(i, t, acc);
            }
        }
    }
}

/// Adds `f * weight` of the group's postings (from posting `p` of the
/// range on, one per bit of `mask`) to their documents' slots.
#[inline]
fn add_group(
    g: &crate::index::RangeGroups,
    quant: Quantizer,
    (mut p, mask, f): (usize, u8, f32),
    acc: &mut [f32],
) {
    let mut bits = mask;
    while bits != 0 {
        let j = bits.trailing_zeros() as usize;
        let Some(code) = g.code(p) else { return };
        if let Some(a) = acc.get_mut(j) {
            *a += f * quant.unscaled(code);
        }
        p += 1;
        bits &= bits - 1;
    }
}

/// Scores range `r` of `seg` exactly from its forward postings and
/// offers its documents to `top`: each group (a term of the range, with
/// the documents holding it) whose term has a factor in the query adds
/// `factor * weight` to those documents, groups in dictionary order, so
/// each document's sum is exhaustive scoring's, operation for operation.
/// A damaged range adds nothing (the search reports the damage).
#[inline(never)]
fn score_range(
    forward: &Forward,
    table: &QueryTable,
    (seg, r, index): (&Segment, u32, &Index),
    acc: &mut [f32],
    top: &mut TopK,
) {
    let lo = r << RANGE_SHIFT;
    let hi = lo.saturating_add(RANGE as u32).min(seg.docs);
    if let Some(g) = forward.range(r as usize) {
        add_matches(&g, table, seg.quant, acc);
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
