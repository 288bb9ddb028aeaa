//! Exact top-k retrieval by dot product.
//!
//! Term-at-a-time: each query term's posting lists add `query_weight *
//! doc_weight` into a dense `f32` accumulator of one slot per document, then a
//! bounded heap picks the top k. For collections of up to a few million
//! documents the dense array is cheaper than any map; dynamic pruning
//! (block-max) can later use the per-block maxima the format already stores.
//!
//! Ranking is deterministic: score descending (`f32::total_cmp`), then
//! document ordinal ascending; only documents with a positive score are hits,
//! and deleted documents never are (their slots are zeroed after scoring:
//! a cost in the number of deleted documents, not of the collection).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use rayon::prelude::*;

use crate::index::{BLOCK, Index};

/// One ranked document.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Global document ordinal (see [`Index::doc_id`]).
    pub doc: u32,
    /// Dot product of query and (dequantized) document vector.
    pub score: f32,
}

/// The top `k` documents for `query` (tokens and weights), best first.
pub fn search(index: &Index, query: &[(&str, f32)], k: usize) -> Vec<Hit> {
    let mut scores = vec![0f32; index.num_docs() as usize];
    accumulate(index, query, &mut scores);
    top_k(&scores, k)
}

/// [`search`] for many queries in parallel; results in query order.
pub fn search_batch(index: &Index, queries: &[Vec<(String, f32)>], k: usize) -> Vec<Vec<Hit>> {
    let n = index.num_docs() as usize;
    queries
        .par_iter()
        .map_init(
            || vec![0f32; n],
            |scores, q| {
                scores.fill(0.0);
                let q: Vec<(&str, f32)> = q.iter().map(|(t, w)| (t.as_str(), *w)).collect();
                accumulate(index, &q, scores);
                top_k(scores, k)
            },
        )
        .collect()
}

/// Adds every query term's contributions into `scores` (one slot per
/// global ordinal), then zeroes deleted documents so that they are never
/// hits. Damaged lists contribute what decodes; `verify` is what reports
/// damage.
fn accumulate(index: &Index, query: &[(&str, f32)], scores: &mut [f32]) {
    let mut docs = [0u32; BLOCK];
    let mut codes = [0u32; BLOCK];
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
            let quant = seg.quant;
            let raw = quant.max_error() == 0.0;
            let factor = if raw { qw } else { qw * quant.scale };
            for b in 0..list.num_blocks() {
                let Some(n) = list.decode_block(b, &mut docs, &mut codes) else {
                    break;
                };
                for (&d, &c) in docs[..n].iter().zip(&codes[..n]) {
                    let w = if raw { f32::from_bits(c) } else { c as f32 };
                    if let Some(s) = slots.get_mut(d as usize) {
                        *s += factor * w;
                    }
                }
            }
        }
    }
    for &d in index.deleted_docs() {
        if let Some(s) = scores.get_mut(d as usize) {
            *s = 0.0;
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
pub fn brute_force(docs: &[Vec<(String, f32)>], query: &[(&str, f32)], k: usize) -> Vec<Hit> {
    let mut q: HashMap<&str, f64> = HashMap::new();
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
mod tests;
