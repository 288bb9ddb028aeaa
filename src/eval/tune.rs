//! Choosing a fusion weight from a user's own judged queries, without
//! fooling them.
//!
//! The best weight on 20 queries is partly luck: its score on those same
//! queries overstates what it will give on the next ones. So the sweep is
//! paired with a cross-validated estimate of the whole procedure "pick the
//! best candidate": the queries are split into folds, the candidate is
//! picked on all folds but one and scored on that one, and the held-out
//! scores are averaged. Only when that estimate beats the default is a
//! fixed weight worth recommending.

use std::collections::BTreeMap;

/// The fixed weights a sweep tries: 0 (SPLADE alone) to 1 (BM25 alone) in
/// steps of 0.1.
pub const SWEEP: [f32; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// Folds of the cross-validation (fewer when there are fewer queries).
pub const FOLDS: usize = 5;

/// What the sweep measured and what it recommends.
#[derive(Clone, Debug, PartialEq)]
pub struct TuneReport {
    /// Mean nDCG@10 of each weight in [`SWEEP`], in that order.
    pub fixed: Vec<(f32, f64)>,
    /// Mean nDCG@10 of the default (adaptive) weight.
    pub adaptive: f64,
    /// Held-out nDCG@10 of picking the best candidate (fixed weights and
    /// the default) on the other folds.
    pub cross_validated: f64,
    /// Folds used.
    pub folds: usize,
    /// Queries evaluated.
    pub queries: usize,
    /// The candidate best on all queries: `None` is the default.
    pub best: Option<f32>,
    /// What to use: a fixed weight only when the cross-validated estimate
    /// is above the default's score.
    pub recommended: Option<f32>,
}

/// Per-query nDCG@10 of every candidate: `fixed[i]` for `SWEEP[i]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryScores {
    /// One per weight of [`SWEEP`].
    pub fixed: Vec<f64>,
    /// The default weight's.
    pub adaptive: f64,
}

impl QueryScores {
    /// Candidate `c`: `0..SWEEP.len()` are the fixed weights, the last one
    /// is the default.
    fn candidate(&self, c: usize) -> f64 {
        self.fixed.get(c).copied().unwrap_or(self.adaptive)
    }
}

/// Sweeps and cross-validates over `per_query` (keyed by query id, which
/// fixes the fold assignment: query `i` in id order is in fold `i % folds`).
/// Returns `None` when there is no query.
pub fn tune(per_query: &BTreeMap<String, QueryScores>) -> Option<TuneReport> {
    let queries: Vec<&QueryScores> = per_query.values().collect();
    if queries.is_empty() {
        return None;
    }
    let candidates = SWEEP.len() + 1;
    let mean_of = |c: usize, keep: &dyn Fn(usize) -> bool| {
        let (sum, n) = queries
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .fold((0.0, 0usize), |(s, n), (_, q)| (s + q.candidate(c), n + 1));
        if n == 0 { 0.0 } else { sum / n as f64 }
    };
    let best_on = |keep: &dyn Fn(usize) -> bool| {
        // The default first, so that it wins ties (it needs no tuning),
        // then the weights from 0 up.
        std::iter::once(candidates - 1)
            .chain(0..candidates - 1)
            .fold((candidates - 1, f64::NEG_INFINITY), |(bc, bs), c| {
                let s = mean_of(c, keep);
                if s > bs { (c, s) } else { (bc, bs) }
            })
            .0
    };
    let folds = FOLDS.min(queries.len()).max(1);
    let mut held_out = 0.0;
    for f in 0..folds {
        let pick = best_on(&|i| folds == 1 || i % folds != f);
        held_out += queries
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds == f)
            .map(|(_, q)| q.candidate(pick))
            .sum::<f64>();
    }
    let all = |_: usize| true;
    let best = best_on(&all);
    let adaptive = mean_of(candidates - 1, &all);
    let cross_validated = held_out / queries.len() as f64;
    let as_weight = |c: usize| (c < SWEEP.len()).then(|| SWEEP[c]);
    Some(TuneReport {
        fixed: SWEEP
            .iter()
            .enumerate()
            .map(|(c, &w)| (w, mean_of(c, &all)))
            .collect(),
        adaptive,
        cross_validated,
        folds,
        queries: queries.len(),
        best: as_weight(best),
        recommended: if cross_validated > adaptive {
            as_weight(best)
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(rows: &[(&str, [f64; 11], f64)]) -> BTreeMap<String, QueryScores> {
        rows.iter()
            .map(|(q, f, a)| {
                (
                    q.to_string(),
                    QueryScores {
                        fixed: f.to_vec(),
                        adaptive: *a,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_weight_better_on_every_query_is_recommended() {
        let mut f = [0.2; 11];
        f[7] = 0.9;
        let rows: Vec<(String, [f64; 11], f64)> =
            (0..20).map(|i| (format!("q{i:02}"), f, 0.5)).collect();
        let rows: Vec<(&str, [f64; 11], f64)> =
            rows.iter().map(|(q, f, a)| (q.as_str(), *f, *a)).collect();
        let r = tune(&scores(&rows)).unwrap();
        assert_eq!(r.best, Some(0.7));
        assert_eq!(r.recommended, Some(0.7));
        assert!((r.cross_validated - 0.9).abs() < 1e-12);
        assert_eq!((r.folds, r.queries), (5, 20));
        assert!((r.fixed[7].1 - 0.9).abs() < 1e-12 && r.fixed[7].0 == 0.7);
    }

    #[test]
    fn luck_on_single_queries_is_not_recommended() {
        // Each query likes a different weight by a lot, the default is
        // steady: the best fixed weight on all queries wins by luck, and
        // held out it does worse than the default.
        let rows: Vec<(String, [f64; 11], f64)> = (0..11)
            .map(|i| {
                let mut f = [0.3; 11];
                f[i] = 1.0;
                if i == 4 {
                    f[5] = 0.9;
                }
                (format!("q{i:02}"), f, 0.4)
            })
            .collect();
        let rows: Vec<(&str, [f64; 11], f64)> =
            rows.iter().map(|(q, f, a)| (q.as_str(), *f, *a)).collect();
        let r = tune(&scores(&rows)).unwrap();
        assert_eq!(r.best, Some(0.5), "0.5 leads by one query");
        assert!(r.cross_validated < r.adaptive, "{r:?}");
        assert_eq!(r.recommended, None);
    }

    #[test]
    fn ties_go_to_the_default_and_small_sets_still_fold() {
        let r = tune(&scores(&[("a", [0.5; 11], 0.5), ("b", [0.5; 11], 0.5)])).unwrap();
        assert_eq!((r.best, r.recommended, r.folds), (None, None, 2));
        let r = tune(&scores(&[("a", [0.5; 11], 0.1)])).unwrap();
        assert_eq!((r.folds, r.best), (1, Some(0.0)));
        assert!(tune(&BTreeMap::new()).is_none());
    }
}
