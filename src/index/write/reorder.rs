//! Document reordering by recursive graph bisection (BP), so that similar
//! documents get neighbouring ordinals.
//!
//! Why: block-max pruning bounds each range of consecutive documents by the
//! largest weight of every query term in it. In arbitrary order a range
//! holds a bit of everything and its bounds are loose; after clustering, a
//! range is about one thing, most terms are absent from it, and whole
//! ranges can be skipped. Reordering also shortens doc gaps, so the
//! postings compress better.
//!
//! The algorithm is Dhulipala et al. (KDD 2016), as reproduced by Mackenzie
//! et al. (ECIR 2019): split the documents in two halves, then repeatedly
//! swap the pairs of documents whose move would most lower the estimated
//! log-gap cost `sum_t d_t * log2(n / (d_t + 1))` of both halves, and
//! recurse into each half. The graph is documents and their *heavy* terms
//! only (weight at least the median posting weight): light postings barely
//! move a bound, and leaving them out halves the work.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::index::read::index::Index;

/// Partitions this small or smaller are not split further. Block-max
/// ranges are 8 documents (`RANGE_SHIFT`), and order down to about their
/// size tightens their bounds: on the 200,000 real passages
/// (`benches/real_vectors.sh`, short queries, three interleaved pairs of
/// `cargo bench --bench search` runs on indexes reordered each way), a
/// leaf of 16 instead of 128 cut the queries that fall back to the
/// filtered pass from 32.1% to 26.8% and made pruned exact search 1.70x
/// exhaustive's mean instead of 1.58x, for 23 s of reordering instead of
/// 19 s. A leaf of 8 did the same as 16 (27.2%), and taking every posting
/// into the graph instead of the heavy ones did worse (29.0%).
const LEAF: usize = 16;
/// Swap rounds per split.
const ITERATIONS: usize = 20;
/// Partitions larger than this score their documents in parallel.
const PAR_MIN: usize = 4096;

/// Documents as lists of term numbers (compressed sparse rows).
pub(crate) struct Forward {
    offsets: Vec<usize>,
    terms: Vec<u32>,
    vocab: usize,
}

impl Forward {
    fn doc(&self, d: u32) -> &[u32] {
        &self.terms[self.offsets[d as usize]..self.offsets[d as usize + 1]]
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Builds the graph from per-document term lists (tests and callers
    /// that already hold vectors).
    #[cfg(test)]
    pub(crate) fn from_docs(docs: &[Vec<u32>]) -> Forward {
        let mut offsets = vec![0];
        let mut terms = Vec::new();
        for d in docs {
            terms.extend_from_slice(d);
            offsets.push(terms.len());
        }
        let vocab = terms.iter().max().map_or(0, |&t| t as usize + 1);
        Forward {
            offsets,
            terms,
            vocab,
        }
    }
}

/// The heavy-term graph of the documents `live` (global ordinals, in
/// order) of `index`; document `i` of the result is `live[i]`.
pub(crate) fn forward(index: &Index, live: &[u32]) -> Forward {
    let mut slot = vec![u32::MAX; index.num_docs() as usize];
    for (i, &d) in live.iter().enumerate() {
        slot[d as usize] = i as u32;
    }
    let threshold = median_weight(index);
    let mut ids: HashMap<String, u32> = HashMap::new();
    // Two passes over the postings: count per document, then fill.
    let mut visit = |f: &mut dyn FnMut(u32, u32)| {
        for seg in &index.segments {
            for i in 0..seg.terms.len() {
                let Some(list) = seg.list(&seg.terms.info(i)) else {
                    continue;
                };
                let next = ids.len() as u32;
                let t = *ids.entry(seg.terms.term(i).to_string()).or_insert(next);
                list.for_each(|d, code| {
                    let s = slot.get((seg.base + d) as usize).copied();
                    if let Some(s) = s.filter(|&s| s != u32::MAX)
                        && seg.quant.decode(code) >= threshold
                    {
                        f(s, t);
                    }
                });
            }
        }
    };
    let mut counts = vec![0usize; live.len() + 1];
    visit(&mut |s, _| counts[s as usize + 1] += 1);
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    let mut terms = vec![0u32; counts[live.len()]];
    let mut fill = counts.clone();
    visit(&mut |s, t| {
        terms[fill[s as usize]] = t;
        fill[s as usize] += 1;
    });
    Forward {
        offsets: counts,
        terms,
        vocab: ids.len(),
    }
}

/// The median weight of a sample of postings (0 for an empty index).
fn median_weight(index: &Index) -> f32 {
    let mut sample = Vec::new();
    for seg in &index.segments {
        // Every 16th term's list: thousands of lists, a fair sample.
        for i in (0..seg.terms.len()).step_by(16) {
            if let Some(list) = seg.list(&seg.terms.info(i)) {
                list.for_each(|_, code| sample.push(seg.quant.decode(code)));
            }
        }
    }
    if sample.is_empty() {
        return 0.0;
    }
    let mid = sample.len() / 2;
    *sample.select_nth_unstable_by(mid, f32::total_cmp).1
}

/// A new order of the documents of `fwd`: position `i` holds the document
/// that gets ordinal `i`. Deterministic for a given graph.
pub(crate) fn bp_order(fwd: &Forward) -> Vec<u32> {
    let mut order = shuffled(fwd.len());
    let log2 = log_table(fwd.len());
    bisect(fwd, &mut order, &log2, &Pool::default());
    order
}

/// `0..n` in a fixed pseudo-random order: the starting split. Starting
/// from the input order fails on inputs with a period (document `i` about
/// topic `i mod t`): both halves then hold every topic equally, every
/// document has the same gain, and swapping pairs only exchanges the
/// halves. A random start breaks such symmetry.
fn shuffled(n: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by_key(|&d| (scramble(d), d));
    order
}

/// A fixed pseudo-random 64-bit key of `d` (SplitMix64's finalizer).
fn scramble(d: u32) -> u64 {
    let mut z = u64::from(d).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `log2(i)` for `i` in `0..=n + 1` (`log2(0)` unused, set to 0).
fn log_table(n: usize) -> Vec<f32> {
    (0..n + 2)
        .map(|i| if i == 0 { 0.0 } else { (i as f32).log2() })
        .collect()
}

/// Per-split buffers, pooled so that the thousands of small splits near
/// the leaves neither allocate nor clear vocabulary-sized arrays: only the
/// terms a split touches are reset.
#[derive(Default)]
struct Scratch {
    /// Term degrees in the left and right halves; all zero when pooled.
    deg: Vec<[u32; 2]>,
    gain: Vec<[f32; 2]>,
    /// The terms with a non-zero degree.
    touched: Vec<u32>,
    scored: Vec<(f32, u32)>,
}

type Pool = std::sync::Mutex<Vec<Scratch>>;

fn bisect(fwd: &Forward, docs: &mut [u32], log2: &[f32], pool: &Pool) {
    if docs.len() <= LEAF {
        return;
    }
    let mid = docs.len() / 2;
    let mut s = pool
        .lock()
        .map(|mut p| p.pop())
        .ok()
        .flatten()
        .unwrap_or_default();
    if s.deg.len() < fwd.vocab {
        s.deg = vec![[0; 2]; fwd.vocab];
        s.gain = vec![[0.0; 2]; fwd.vocab];
    }
    for _ in 0..ITERATIONS {
        degrees(fwd, docs, mid, &mut s);
        term_gains(&mut s, mid, docs.len() - mid, log2);
        score_docs(fwd, docs, mid, &s.gain, &mut s.scored);
        let (left, right) = s.scored.split_at_mut(mid);
        // Ties break by a hash of the document, not its number: the
        // halves keep this order, and an order by number can bring back a
        // periodic input's symmetry at the next split.
        let by_gain = |a: &(f32, u32), b: &(f32, u32)| {
            b.0.total_cmp(&a.0)
                .then(scramble(a.1).cmp(&scramble(b.1)))
                .then(a.1.cmp(&b.1))
        };
        left.par_sort_unstable_by(by_gain);
        right.par_sort_unstable_by(by_gain);
        let mut swaps = 0;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if l.0 + r.0 <= 0.0 {
                break;
            }
            std::mem::swap(&mut l.1, &mut r.1);
            swaps += 1;
        }
        for (d, sc) in docs.iter_mut().zip(&s.scored) {
            *d = sc.1;
        }
        if swaps == 0 {
            break;
        }
    }
    for &t in &s.touched {
        s.deg[t as usize] = [0, 0];
    }
    if let Ok(mut p) = pool.lock() {
        p.push(s);
    }
    let (left, right) = docs.split_at_mut(mid);
    rayon::join(
        || bisect(fwd, left, log2, pool),
        || bisect(fwd, right, log2, pool),
    );
}

/// Term degrees in the left (`docs[..mid]`) and right halves.
fn degrees(fwd: &Forward, docs: &[u32], mid: usize, s: &mut Scratch) {
    for &t in &s.touched {
        s.deg[t as usize] = [0, 0];
    }
    s.touched.clear();
    for (i, &d) in docs.iter().enumerate() {
        let side = usize::from(i >= mid);
        for &t in fwd.doc(d) {
            let deg = &mut s.deg[t as usize];
            if *deg == [0, 0] {
                s.touched.push(t);
            }
            deg[side] += 1;
        }
    }
}

/// The cost of a term with degrees `a` and `b` in halves of `n1`, `n2`.
#[inline]
fn cost(a: u32, b: u32, n1: usize, n2: usize, log2: &[f32]) -> f32 {
    let (a, b) = (a as usize, b as usize);
    a as f32 * (log2[n1] - log2[a + 1]) + b as f32 * (log2[n2] - log2[b + 1])
}

/// Per touched term, the cost saved by moving one of its documents left
/// to right (`[0]`) or right to left (`[1]`).
fn term_gains(s: &mut Scratch, n1: usize, n2: usize, log2: &[f32]) {
    for &t in &s.touched {
        let [a, b] = s.deg[t as usize];
        let now = cost(a, b, n1, n2, log2);
        let to_right = if a > 0 {
            now - cost(a - 1, b + 1, n1, n2, log2)
        } else {
            0.0
        };
        let to_left = if b > 0 {
            now - cost(a + 1, b - 1, n1, n2, log2)
        } else {
            0.0
        };
        s.gain[t as usize] = [to_right, to_left];
    }
}

/// Each document with the gain of moving it to the other half.
fn score_docs(
    fwd: &Forward,
    docs: &[u32],
    mid: usize,
    gain: &[[f32; 2]],
    out: &mut Vec<(f32, u32)>,
) {
    let one = |(i, &d): (usize, &u32)| {
        let side = usize::from(i >= mid);
        let g: f32 = fwd.doc(d).iter().map(|&t| gain[t as usize][side]).sum();
        (g, d)
    };
    out.clear();
    if docs.len() >= PAR_MIN {
        docs.par_iter().enumerate().map(one).collect_into_vec(out);
    } else {
        out.extend(docs.iter().enumerate().map(one));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Total log-gap cost of an order, summed over terms (lower is better).
    fn log_gap_cost(fwd: &Forward, order: &[u32]) -> f64 {
        let mut last: HashMap<u32, usize> = HashMap::new();
        let mut cost = 0.0;
        for (pos, &d) in order.iter().enumerate() {
            for &t in fwd.doc(d) {
                let gap = last.insert(t, pos).map_or(pos + 1, |p| pos - p);
                cost += (gap as f64).log2() + 1.0;
            }
        }
        cost
    }

    /// `n` documents of `topics` topics (each with 10 terms of its own, of
    /// which a document has 6), topics drawn at random, so that arbitrary
    /// order mixes them; document `d`'s topic is `topic_of(d, topics)`.
    fn topical(n: usize, topics: u32) -> Vec<Vec<u32>> {
        (0..n as u32)
            .map(|d| {
                let topic = topic_of(d, topics);
                let mut terms: Vec<u32> = (0..10).map(|j| topic * 10 + j).collect();
                // Drop 4 terms, chosen by a hash of the document.
                for k in 0..4u32 {
                    let at = (scramble(d * 7 + k) % terms.len() as u64) as usize;
                    terms.remove(at);
                }
                terms
            })
            .collect()
    }

    fn topic_of(d: u32, topics: u32) -> u32 {
        (scramble(d) % u64::from(topics)) as u32
    }

    #[test]
    fn order_is_a_permutation() {
        let fwd = Forward::from_docs(&topical(1000, 7));
        let mut order = bp_order(&fwd);
        order.sort_unstable();
        assert_eq!(order, (0..1000).collect::<Vec<u32>>());
    }

    #[test]
    fn similar_documents_end_up_together() {
        let docs = topical(4096, 16);
        let fwd = Forward::from_docs(&docs);
        let order = bp_order(&fwd);
        let before = log_gap_cost(&fwd, &(0..4096).collect::<Vec<_>>());
        let after = log_gap_cost(&fwd, &order);
        assert!(after < 0.6 * before, "{after} vs {before}");
        // Most leaves of 128 documents are about one topic.
        let pure = order
            .chunks(128)
            .filter(|leaf| {
                let t = topic_of(leaf[0], 16);
                leaf.iter().filter(|&&d| topic_of(d, 16) == t).count() >= 100
            })
            .count();
        assert!(pure >= 24, "{pure} of 32 leaves hold one topic");
    }

    #[test]
    fn periodic_input_is_clustered_too() {
        // Document d about topic d mod 16, each with 6 of its topic's 10
        // terms: the input order gives every document the same gain.
        let docs: Vec<Vec<u32>> = (0..2048u32)
            .map(|d| {
                let topic = d % 16;
                (0..6).map(|j| topic * 10 + (d / 16 + j) % 10).collect()
            })
            .collect();
        let fwd = Forward::from_docs(&docs);
        let order = bp_order(&fwd);
        let pure = order
            .chunks(128)
            .filter(|leaf| leaf.iter().filter(|&&d| d % 16 == leaf[0] % 16).count() >= 100)
            .count();
        assert!(pure >= 6, "{pure} of 16 leaves hold one topic");
        let before = log_gap_cost(&fwd, &(0..2048).collect::<Vec<_>>());
        let after = log_gap_cost(&fwd, &order);
        assert!(after < 0.6 * before, "{after} vs {before}");
    }

    #[test]
    fn order_is_deterministic() {
        let fwd = Forward::from_docs(&topical(3000, 5));
        assert_eq!(bp_order(&fwd), bp_order(&fwd));
    }

    #[test]
    fn tiny_and_empty_graphs() {
        assert!(bp_order(&Forward::from_docs(&[])).is_empty());
        let mut two = bp_order(&Forward::from_docs(&[vec![1], vec![]]));
        two.sort_unstable();
        assert_eq!(two, [0, 1]);
    }
}
