//! BM25 search over an index's lexical postings, exact and deterministic,
//! with the reference's (bm25s's) float32 rounding, so that results equal
//! bm25s's: same documents, same order, same `f32` scores.
//!
//! Term-at-a-time and exhaustive: the query's terms (the index's analyzer,
//! repeats kept) get their global df (the sum over segments) and idf; then,
//! segment by segment and term by term in query order, each posting adds
//! `lexical::bm25::term_weight(tf, |d|, idf, avgdl)` into a dense `f32`
//! accumulator, so that every document's weights are summed in query-term
//! order, as bm25s sums them. `N` and `avgdl` count deleted documents until
//! `compact` (`docs/format.md`, "Statistics"), so deleting never moves
//! another document's score; deleted documents' slots are zeroed before
//! ranking and never hit. Hits are the documents with a score > 0, by score
//! descending (`f32::total_cmp`), then ordinal ascending.
//!
//! BM25 lists are short beside SPLADE's (a DL20-pool query touches a few
//! thousand postings), so no pruning yet; the `.lxp` block directory keeps
//! each block's largest tf should it be wanted.

use rayon::prelude::*;

use crate::index::{BLOCK, Index, IndexError};
use crate::lexical::bm25::{idf, term_weight};
use crate::lexical::{Bm25Params, CollectionStats};
use crate::search::Hit;

/// The top `k` documents for the text `query` by BM25 over the index's
/// lexical postings, best first (see the module docs for the order and
/// rounding). [`IndexError::NoLexical`] when the index has none, a
/// corruption error naming the file when a page it read is damaged.
pub fn search_bm25(index: &Index, query: &str, k: usize) -> Result<Vec<Hit>, IndexError> {
    let mut scores = Vec::new();
    let terms = index.lexical_terms(query);
    bm25_scores(index, &terms, &mut scores)?;
    index.checked(top_hits(&scores, k))
}

/// [`search_bm25`] for many queries, in parallel; results in query order.
pub fn search_bm25_batch<S: AsRef<str> + Sync>(
    index: &Index,
    queries: &[S],
    k: usize,
) -> Result<Vec<Vec<Hit>>, IndexError> {
    index.require_lexical()?;
    let hits = queries
        .par_iter()
        .map_init(Vec::new, |scores, q| {
            let terms = index.lexical_terms(q.as_ref());
            bm25_scores(index, &terms, scores)?;
            Ok(top_hits(scores, k))
        })
        .collect::<Result<_, IndexError>>()?;
    index.checked(hits)
}

/// The BM25 score of every document ordinal for the analyzed query
/// `terms` ([`Index::lexical_terms`]), deleted documents 0, into `scores`
/// (resized to the index; reused between queries): what [`search_bm25`]
/// ranks, for callers that need the scores of documents outside its top k
/// (fusion with the SPLADE side). Damaged blocks add nothing: the caller
/// checks the index ([`Index::check`]) before it answers.
pub(crate) fn bm25_scores(
    index: &Index,
    terms: &[String],
    scores: &mut Vec<f32>,
) -> Result<(), IndexError> {
    index.require_lexical()?;
    let params = index.bm25_params().unwrap_or_default();
    let stats = index.lexical_stats();
    let avg_len = stats.avg_len();
    let idfs: Vec<f32> = terms
        .iter()
        .map(|t| idf(index.lexical_df(t), stats.docs))
        .collect();
    scores.clear();
    scores.resize(index.num_docs() as usize, 0.0);
    let mut docs = [0u32; BLOCK];
    let mut tfs = [0u32; BLOCK];
    for seg in &index.segments {
        let Some(lex) = &seg.lexical else { continue };
        let base = seg.base as usize;
        let Some(slots) = scores.get_mut(base..base + seg.docs as usize) else {
            continue;
        };
        for (term, &idf) in terms.iter().zip(&idfs) {
            let Some(list) = lex.lookup(term).and_then(|info| lex.list(&info)) else {
                continue;
            };
            for b in 0..list.num_blocks() {
                // A damaged block ends the list; the search reports it.
                let Some(n) = list.decode_block(b, &mut docs, &mut tfs) else {
                    break;
                };
                for (&d, &tf) in docs[..n].iter().zip(&tfs[..n]) {
                    if let Some(s) = slots.get_mut(d as usize) {
                        *s += term_weight(tf, lex.doc_len(d), idf, avg_len, params);
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
    Ok(())
}

/// The `k` best positive scores, best first, ties by lower ordinal.
fn top_hits(scores: &[f32], k: usize) -> Vec<Hit> {
    let mut hits: Vec<Hit> = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > 0.0)
        .map(|(doc, &score)| Hit {
            doc: doc as u32,
            score,
        })
        .collect();
    let order = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc));
    if k == 0 {
        return Vec::new();
    }
    if hits.len() > k {
        hits.select_nth_unstable_by(k - 1, order);
        hits.truncate(k);
    }
    hits.sort_unstable_by(order);
    hits
}

/// One query term's part of a document's BM25 score (`explain`).
#[derive(Clone, Debug, PartialEq)]
pub struct Bm25Term {
    /// The analyzed term (a stem).
    pub term: String,
    /// Its occurrences in the document (0: it adds nothing).
    pub tf: u32,
    /// Documents of the index containing it (deleted ones included until
    /// `compact`).
    pub df: u64,
    /// `ln(1 + (N − df + 0.5) / (df + 0.5))`, as an `f32`.
    pub idf: f32,
    /// The document's length (terms after stopword removal).
    pub doc_len: u32,
    /// The index's mean document length.
    pub avgdl: f64,
    /// What the term adds to the score: `idf · tf / (tf + k1 · (1 − b + b ·
    /// doc_len / avgdl))`, rounded to `f32`; 0 when `tf` is 0.
    pub weight: f32,
}

/// Every analyzed term of `query` (in order, repeats kept) with its part of
/// document `doc`'s BM25 score. For a live document, the weights summed in
/// order in an `f32` give exactly the score [`search_bm25`] reports (a
/// deleted one is never a hit). An error naming the file when a page it
/// read is damaged.
///
/// # Panics
/// If `doc >= index.num_docs()`.
pub fn explain_bm25(index: &Index, query: &str, doc: u32) -> Result<Vec<Bm25Term>, IndexError> {
    index.require_lexical()?;
    let params: Bm25Params = index.bm25_params().unwrap_or_default();
    let stats: CollectionStats = index.lexical_stats();
    let (i, local) = index.locate_segment(doc);
    let lexical = index.segments[i].lexical.as_ref();
    let doc_len = index.lexical_doc_len(doc);
    let terms = index.lexical_terms(query);
    let explained = terms
        .into_iter()
        .map(|term| {
            let df = index.lexical_df(&term);
            let idf = idf(df, stats.docs);
            let tf = lexical
                .and_then(|l| l.list(&l.lookup(&term)?)?.find(local))
                .unwrap_or(0);
            let weight = if tf == 0 {
                0.0
            } else {
                term_weight(tf, doc_len, idf, stats.avg_len(), params)
            };
            Bm25Term {
                term,
                tf,
                df,
                idf,
                doc_len,
                avgdl: stats.avg_len(),
                weight,
            }
        })
        .collect();
    index.checked(explained)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_hits_rank_by_score_then_ordinal_and_skip_zeros() {
        let scores = [0.0, 2.0, 1.0, 2.0, 0.0, 3.0, 1.0];
        let docs = |k| {
            top_hits(&scores, k)
                .iter()
                .map(|h| h.doc)
                .collect::<Vec<_>>()
        };
        assert_eq!(docs(10), [5, 1, 3, 2, 6]);
        assert_eq!(docs(3), [5, 1, 3]);
        assert_eq!(docs(2), [5, 1]);
        assert!(docs(0).is_empty());
        assert!(top_hits(&[], 3).is_empty());
    }
}
