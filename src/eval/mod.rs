//! Retrieval metrics with trec_eval semantics, so that figures are
//! comparable with published ones:
//!
//! - each query's results are re-sorted by score descending, ties by
//!   document id *descending* (byte order), exactly as trec_eval does; the
//!   rank column of a run is ignored; a document repeated in a run counts
//!   once, at its best position;
//! - the evaluated queries are the judged queries with at least one
//!   relevant document (grade >= `min_rel`); a judged query missing from
//!   the run scores 0 on every measure (trec_eval `-c`); run queries
//!   without judgments are ignored;
//! - nDCG@10 (`ndcg_cut_10`) uses the grade as linear gain, a `log2(rank +
//!   1)` discount and the ideal ranking of all judged grades > 0, whatever
//!   `min_rel` is; RR@10, R@100, R@1000 and AP are binary with relevant =
//!   grade >= `min_rel` (trec_eval `-l`).

mod read;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

pub use read::{Qrels, Run, read_qrels, read_run};

/// The measures of one query, or their mean.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    /// nDCG@10 with graded gains.
    #[serde(rename = "nDCG@10")]
    pub ndcg_at_10: f64,
    /// Reciprocal rank of the first relevant document within the top 10.
    #[serde(rename = "RR@10")]
    pub rr_at_10: f64,
    /// Fraction of relevant documents retrieved in the top 100.
    #[serde(rename = "R@100")]
    pub recall_at_100: f64,
    /// Fraction of relevant documents retrieved in the top 1000.
    #[serde(rename = "R@1000")]
    pub recall_at_1000: f64,
    /// Average precision over the whole run. Serialized as `MAP`, the name
    /// `splade eval --json` has always printed, per query too (the mean is
    /// the MAP; the reference's `metrics.json` calls it `AP`).
    #[serde(rename = "MAP")]
    pub map: f64,
}

/// Per-query and mean measures of a run.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Measures of every evaluated query.
    pub per_query: BTreeMap<String, Metrics>,
    /// Arithmetic mean over the evaluated queries.
    pub mean: Metrics,
    /// Number of evaluated queries.
    pub num_queries: usize,
}

/// Evaluates `run` against `qrels`; see the module docs for the semantics.
pub fn evaluate(run: &Run, qrels: &Qrels, min_rel: i32) -> Evaluation {
    let mut per_query = BTreeMap::new();
    let mut sum = Metrics::default();
    for (qid, judged) in &qrels.queries {
        let num_rel = judged.values().filter(|&&g| g >= min_rel).count();
        if num_rel == 0 {
            continue;
        }
        let ranking = match run.queries.get(qid) {
            Some(results) => trec_order(results),
            None => Vec::new(),
        };
        let m = measure(&ranking, judged, min_rel, num_rel);
        sum.ndcg_at_10 += m.ndcg_at_10;
        sum.rr_at_10 += m.rr_at_10;
        sum.recall_at_100 += m.recall_at_100;
        sum.recall_at_1000 += m.recall_at_1000;
        sum.map += m.map;
        per_query.insert(qid.clone(), m);
    }
    let n = per_query.len();
    let d = n.max(1) as f64;
    let mean = Metrics {
        ndcg_at_10: sum.ndcg_at_10 / d,
        rr_at_10: sum.rr_at_10 / d,
        recall_at_100: sum.recall_at_100 / d,
        recall_at_1000: sum.recall_at_1000 / d,
        map: sum.map / d,
    };
    Evaluation {
        per_query,
        mean,
        num_queries: n,
    }
}

/// Document ids by score descending, ties by id descending (trec_eval's
/// `comp_sim_docno`), each id once.
fn trec_order(results: &[(String, f64)]) -> Vec<&str> {
    let mut sorted: Vec<&(String, f64)> = results.iter().collect();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let mut seen = HashSet::new();
    sorted
        .into_iter()
        .map(|r| r.0.as_str())
        .filter(|d| seen.insert(*d))
        .collect()
}

/// The measures of one query's ranking.
fn measure(
    ranking: &[&str],
    judged: &HashMap<String, i32>,
    min_rel: i32,
    num_rel: usize,
) -> Metrics {
    let grade = |d: &str| judged.get(d).copied().unwrap_or(0);
    let relevant = |d: &str| judged.get(d).is_some_and(|&g| g >= min_rel);
    let discount = |i: usize| ((i + 2) as f64).log2();

    let dcg: f64 = ranking
        .iter()
        .take(10)
        .enumerate()
        .filter(|(_, d)| grade(d) > 0)
        .map(|(i, d)| grade(d) as f64 / discount(i))
        .sum();
    let mut ideal: Vec<i32> = judged.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, &g)| g as f64 / discount(i))
        .sum();

    let rr = ranking
        .iter()
        .take(10)
        .position(|d| relevant(d))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64);
    let recall =
        |k: usize| ranking.iter().take(k).filter(|d| relevant(d)).count() as f64 / num_rel as f64;
    let (mut hits, mut ap) = (0usize, 0.0f64);
    for (i, d) in ranking.iter().enumerate() {
        if relevant(d) {
            hits += 1;
            ap += hits as f64 / (i + 1) as f64;
        }
    }
    Metrics {
        ndcg_at_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        rr_at_10: rr,
        recall_at_100: recall(100),
        recall_at_1000: recall(1000),
        map: ap / num_rel as f64,
    }
}

#[cfg(test)]
mod tests;
