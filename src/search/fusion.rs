//! Hybrid ranking: one list from a BM25 run and a SPLADE run of the same
//! query.
//!
//! **Method** (chosen by `benches/fusion_study.py`; the table that chose it
//! is in README, "Hybrid retrieval"):
//! - each side is cut to its top [`DEFAULT_DEPTH`] documents and its scores
//!   are turned into z-scores (mean and population standard deviation of
//!   that list), so that the two scales become comparable per query;
//! - a document missing from one side gets that side's lowest z-score, so
//!   a document found by only one side still ranks;
//! - the fused score is `w * z_bm25 + (1 - w) * z_splade`.
//!
//! **Weight.** No fixed `w` is right everywhere: on the six shared
//! collections the best one ranges from 0.2 (MS MARCO-style questions, the
//! model's training domain) to 0.9 (long information-need statements). What
//! separates them is the query: within every collection whose best weight is
//! not already at an end, the longer half of the queries wants more BM25
//! than the shorter half, and across collections the best weight grows with
//! the typical query length. A verbose query has many exact terms for BM25
//! to match, while the model, trained on short questions, pools a long one
//! into a diffuse vector. So the default weight is adaptive,
//! `w = L / (L + PIVOT)` with `L` the query's analyzed BM25 terms (repeats
//! counted) and [`LENGTH_PIVOT`] = 12: 5 terms give 0.29, 12 give 0.5, 34
//! give 0.74. A query with no lexical terms (all stopwords) is ranked by
//! SPLADE alone. A user with judged queries can measure a fixed weight
//! instead (`splade eval --tune`) and pass it as `--weight`.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::Hit;

/// Documents taken from each side before fusing: deep enough that z-scores
/// describe the score distribution rather than its head (depth 100 cost
/// 0.001 nDCG@10 on average and up to 0.005 on one collection in the study).
pub const DEFAULT_DEPTH: usize = 1000;

/// The query length, in analyzed BM25 terms, at which BM25 and SPLADE get
/// equal weight.
pub const LENGTH_PIVOT: f32 = 12.0;

/// How much weight BM25 gets in a hybrid ranking.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum FusionWeight {
    /// `L / (L + LENGTH_PIVOT)`, from the query's length in lexical terms.
    #[default]
    Adaptive,
    /// A fixed weight in `[0, 1]`: 0 is SPLADE alone, 1 BM25 alone.
    Fixed(f32),
}

impl FusionWeight {
    /// BM25's weight for a query of `lexical_terms` analyzed terms.
    pub fn for_query(self, lexical_terms: usize) -> f32 {
        match self {
            FusionWeight::Adaptive => {
                let l = lexical_terms as f32;
                l / (l + LENGTH_PIVOT)
            }
            FusionWeight::Fixed(w) => w,
        }
    }
}

/// One document of a fused ranking, with what each side said about it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FusedHit {
    /// Global document ordinal.
    pub doc: u32,
    /// `w * z_bm25 + (1 - w) * z_splade`.
    pub score: f32,
    /// The document's BM25 score, when it was in BM25's list.
    pub bm25: Option<f32>,
    /// The document's SPLADE score, when it was in SPLADE's list.
    pub splade: Option<f32>,
}

/// The per-query z-scores of one side's list.
struct Normalized {
    z: HashMap<u32, f64>,
    /// What a document missing from the list gets: the list's lowest.
    missing: f64,
}

impl Normalized {
    fn of(hits: &[Hit]) -> Normalized {
        let n = hits.len() as f64;
        if hits.is_empty() {
            return Normalized {
                z: HashMap::new(),
                missing: 0.0,
            };
        }
        let mean = hits.iter().map(|h| f64::from(h.score)).sum::<f64>() / n;
        let var = hits
            .iter()
            .map(|h| (f64::from(h.score) - mean).powi(2))
            .sum::<f64>()
            / n;
        if var <= 0.0 {
            // A list of equal scores (one document, say: a rare term) has
            // no spread to scale by, but being in it is still a signal:
            // its documents stand one unit above the missing ones.
            let z = hits.iter().map(|h| (h.doc, 0.0)).collect();
            return Normalized { z, missing: -1.0 };
        }
        let sd = var.sqrt();
        let z: HashMap<u32, f64> = hits
            .iter()
            .map(|h| (h.doc, (f64::from(h.score) - mean) / sd))
            .collect();
        let missing = z.values().copied().fold(f64::INFINITY, f64::min);
        Normalized { z, missing }
    }

    fn get(&self, doc: u32) -> f64 {
        self.z.get(&doc).copied().unwrap_or(self.missing)
    }
}

/// The top `k` of the fusion of `bm25` and `splade` (each best first, as
/// search returns them; only their first [`DEFAULT_DEPTH`] are read) with
/// BM25 weight `w`. Weight 0 returns SPLADE's ranking and weight 1 BM25's,
/// exactly. Ties are broken by document ordinal, ascending.
pub fn fuse(bm25: &[Hit], splade: &[Hit], w: f32, k: usize) -> Vec<FusedHit> {
    let bm25 = &bm25[..bm25.len().min(DEFAULT_DEPTH.max(k))];
    let splade = &splade[..splade.len().min(DEFAULT_DEPTH.max(k))];
    if w <= 0.0 {
        return one_side(splade, k, |h| (None, Some(h.score)));
    }
    if w >= 1.0 {
        return one_side(bm25, k, |h| (Some(h.score), None));
    }
    let (zb, zs) = (Normalized::of(bm25), Normalized::of(splade));
    let raw =
        |hits: &[Hit]| -> HashMap<u32, f32> { hits.iter().map(|h| (h.doc, h.score)).collect() };
    let (rb, rs) = (raw(bm25), raw(splade));
    let w = f64::from(w);
    let mut fused: Vec<FusedHit> = rb
        .keys()
        .chain(rs.keys().filter(|d| !rb.contains_key(d)))
        .map(|&doc| FusedHit {
            doc,
            score: (w * zb.get(doc) + (1.0 - w) * zs.get(doc)) as f32,
            bm25: rb.get(&doc).copied(),
            splade: rs.get(&doc).copied(),
        })
        .collect();
    fused.sort_by(|a, b| match b.score.total_cmp(&a.score) {
        Ordering::Equal => a.doc.cmp(&b.doc),
        o => o,
    });
    fused.truncate(k);
    fused
}

fn one_side(
    hits: &[Hit],
    k: usize,
    parts: impl Fn(&Hit) -> (Option<f32>, Option<f32>),
) -> Vec<FusedHit> {
    hits.iter()
        .take(k)
        .map(|h| {
            let (bm25, splade) = parts(h);
            FusedHit {
                doc: h.doc,
                score: h.score,
                bm25,
                splade,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(v: &[(u32, f32)]) -> Vec<Hit> {
        v.iter().map(|&(doc, score)| Hit { doc, score }).collect()
    }

    fn docs(f: &[FusedHit]) -> Vec<u32> {
        f.iter().map(|h| h.doc).collect()
    }

    #[test]
    fn weight_zero_and_one_are_the_single_rankings() {
        let b = hits(&[(1, 9.0), (2, 5.0), (3, 1.0)]);
        let s = hits(&[(3, 2.0), (4, 1.5), (1, 0.1)]);
        assert_eq!(docs(&fuse(&b, &s, 0.0, 10)), vec![3, 4, 1]);
        assert_eq!(docs(&fuse(&b, &s, 1.0, 10)), vec![1, 2, 3]);
        assert_eq!(fuse(&b, &s, 0.0, 10)[0].score, 2.0);
        assert_eq!(docs(&fuse(&b, &s, 1.0, 2)), vec![1, 2]);
    }

    #[test]
    fn a_document_found_by_one_side_still_ranks() {
        // Doc 7 is BM25's clear best and absent from SPLADE's list.
        let b = hits(&[(7, 20.0), (1, 2.0), (2, 1.0)]);
        let s = hits(&[(1, 3.0), (2, 2.9), (3, 2.8)]);
        let f = fuse(&b, &s, 0.5, 10);
        assert_eq!(docs(&f), vec![1, 7, 2, 3]);
        let seven = f.iter().find(|h| h.doc == 7).unwrap();
        assert_eq!((seven.bm25, seven.splade), (Some(20.0), None));
        let three = f.iter().find(|h| h.doc == 3).unwrap();
        assert_eq!((three.bm25, three.splade), (None, Some(2.8)));
    }

    #[test]
    fn z_scores_make_the_scales_comparable() {
        // SPLADE's scores are 100x BM25's; with z-scores the scale is gone
        // and equal weights make the ranking symmetric in the two sides.
        let b = hits(&[(1, 3.0), (2, 2.0), (3, 1.0)]);
        let s = hits(&[(3, 300.0), (2, 200.0), (1, 100.0)]);
        let f = fuse(&b, &s, 0.5, 10);
        assert!(f.iter().all(|h| h.score.abs() < 1e-6), "{f:?}");
        let f = fuse(&b, &s, 0.6, 10);
        assert_eq!(docs(&f), vec![1, 2, 3]);
        let f = fuse(&b, &s, 0.4, 10);
        assert_eq!(docs(&f), vec![3, 2, 1]);
    }

    #[test]
    fn empty_and_flat_sides() {
        let s = hits(&[(1, 2.0), (2, 1.0)]);
        assert_eq!(docs(&fuse(&[], &s, 0.5, 10)), vec![1, 2]);
        assert_eq!(docs(&fuse(&s, &[], 0.5, 10)), vec![1, 2]);
        assert!(fuse(&[], &[], 0.5, 10).is_empty());
        // A flat list still lifts its documents above the missing ones:
        // 5 and 6 pass SPLADE's second document, which BM25 lacks.
        let flat = hits(&[(5, 1.0), (6, 1.0)]);
        let f = fuse(&flat, &s, 0.5, 10);
        assert_eq!(docs(&f), vec![1, 5, 6, 2]);
        assert!(f.iter().all(|h| h.score.is_finite()));
        let one = hits(&[(9, 3.0)]);
        assert_eq!(docs(&fuse(&one, &s, 0.5, 10)), vec![1, 9, 2]);
    }

    #[test]
    fn adaptive_weight_grows_with_query_length() {
        let w = |l| FusionWeight::Adaptive.for_query(l);
        assert_eq!(w(0), 0.0);
        assert_eq!(w(12), 0.5);
        assert!(w(5) < w(12) && w(12) < w(34) && w(34) < 1.0);
        assert!((w(5) - 5.0 / 17.0).abs() < 1e-7);
        assert_eq!(FusionWeight::Fixed(0.3).for_query(100), 0.3);
    }

    #[test]
    fn depth_limits_what_is_read() {
        // BM25's document at position DEFAULT_DEPTH + 1 is not seen, even
        // though SPLADE found it too.
        let mut b: Vec<Hit> = (0..DEFAULT_DEPTH as u32 + 1)
            .map(|d| Hit {
                doc: d,
                score: 1000.0 - d as f32 * 0.5,
            })
            .collect();
        b.last_mut().unwrap().doc = 99_999;
        let s = hits(&[(99_999, 5.0), (1, 1.0)]);
        let f = fuse(&b, &s, 0.5, DEFAULT_DEPTH);
        assert_eq!(f.len(), DEFAULT_DEPTH);
        assert!(f.iter().all(|h| h.doc != 99_999 || h.bm25.is_none()));
        // Asking for more than the depth reads deeper.
        let f = fuse(&b, &s, 0.5, DEFAULT_DEPTH + 10);
        let deep = f.iter().find(|h| h.doc == 99_999).unwrap();
        assert!(deep.bm25.is_some());
    }
}
