//! BM25 as Lucene (8 and later) scores it, and as the reference, bm25s 0.3.16
//! with `method="lucene"`, computes it, down to the float32 rounding.
//!
//! For a query `q` (its terms in order, repeats kept) and a document `d`:
//!
//! ```text
//! score(q, d) = Σ_{t in q} idf(t) · tf(t,d) / (tf(t,d) + k1 · (1 − b + b · |d| / avgdl))
//! idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
//! ```
//!
//! - There is **no `(k1 + 1)` factor** in the numerator. bm25s's
//!   `_score_tfc_lucene` returns `_score_tfc_robertson`, which is
//!   `tf_array / (k1 * ((1 - b) + b * l_d / l_avg) + tf_array)`
//!   (`bm25s/scoring.py`), and Lucene's `BM25Similarity` dropped the factor
//!   in 8.0: it scales every score by the same constant and changes no
//!   ranking. A term's weight is therefore below its idf, whatever its tf.
//! - idf is bm25s's `_score_idf_lucene`, `math.log(1 + (N - df + 0.5) / (df +
//!   0.5))`: positive, even for a term in every document.
//! - `N` is the number of documents, empty ones included; `|d|` is the
//!   document's number of terms after stopword removal (repeats counted, the
//!   length of its token list in `build_index_from_ids`: `doc_len =
//!   len(token_ids)`); `avgdl` is the mean of `|d|` over all `N` documents
//!   (`np.array([len(doc_ids) ...]).mean()`, a float64). Lucene proper
//!   stores `|d|` in one lossy byte; bm25s, and so we, use it exactly.
//! - A query term that occurs twice adds its weight twice (bm25s looks up
//!   each query token, `get_tokens_ids`, and sums the posting scores of all
//!   of them); a query term absent from the collection adds nothing.
//!
//! Rounding, to rank ties as the reference does: bm25s keeps idf as a float32
//! (`idf_array`, dtype float32), multiplies it by the float64 tf part, stores
//! the product as a float32 (`scores` of the score matrix) and sums a query's
//! postings in a float32 accumulator, in query-term order. [`term_weight`]
//! and [`score`] do the same, so their results equal bm25s's bit for bit.

/// A BM25 parameter outside its range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("BM25 {name} must be {expected}, got {value}")]
pub struct InvalidBm25Param {
    /// `k1` or `b`.
    pub name: &'static str,
    /// The value given.
    pub value: f64,
    /// The valid range, in words.
    pub expected: &'static str,
}

/// BM25's free parameters: `k1` (how fast term frequency saturates) and `b`
/// (how much document length normalizes it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation, `>= 0` (0 makes tf binary).
    pub k1: f64,
    /// Length normalization, in `[0, 1]` (0 ignores length).
    pub b: f64,
}

impl Default for Bm25Params {
    /// Lucene's and bm25s's defaults, and the reference's: k1 = 1.5, b = 0.75.
    fn default() -> Self {
        Bm25Params { k1: 1.5, b: 0.75 }
    }
}

impl Bm25Params {
    /// Checked parameters: `k1` finite and `>= 0`, `b` in `[0, 1]`.
    pub fn new(k1: f64, b: f64) -> Result<Bm25Params, InvalidBm25Param> {
        if !(k1.is_finite() && k1 >= 0.0) {
            return Err(InvalidBm25Param {
                name: "k1",
                value: k1,
                expected: "a finite number >= 0",
            });
        }
        if !(0.0..=1.0).contains(&b) {
            return Err(InvalidBm25Param {
                name: "b",
                value: b,
                expected: "between 0 and 1",
            });
        }
        Ok(Bm25Params { k1, b })
    }
}

/// The collection-wide statistics BM25 needs besides a term's df: the
/// number of documents and their total length, from which `avgdl` follows.
///
/// Kept as two integer sums, not a mean, so that the statistics of parts
/// (segments) add up exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectionStats {
    /// `N`: documents, empty ones included.
    pub docs: u64,
    /// Sum of the documents' lengths (terms after stopword removal).
    pub tokens: u64,
}

impl CollectionStats {
    /// Statistics of a collection whose documents have these lengths.
    pub fn from_lengths(lengths: impl IntoIterator<Item = u32>) -> CollectionStats {
        let mut stats = CollectionStats::default();
        for len in lengths {
            stats.add(len);
        }
        stats
    }

    /// Counts one more document of `len` terms.
    pub fn add(&mut self, len: u32) {
        self.docs += 1;
        self.tokens += u64::from(len);
    }

    /// `avgdl`, the mean document length; 0 for an empty collection.
    pub fn avg_len(&self) -> f64 {
        if self.docs == 0 {
            0.0
        } else {
            self.tokens as f64 / self.docs as f64
        }
    }
}

/// A term's idf, `ln(1 + (N − df + 0.5) / (df + 0.5))`, rounded to f32 as
/// bm25s stores it. Positive for every `df <= docs`, even `df == docs`
/// (statistics where `df > docs` are inconsistent and give a negative idf).
pub fn idf(df: u64, docs: u64) -> f32 {
    let (n, df) = (docs as f64, df as f64);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln() as f32
}

/// One term's contribution to one document: `idf · tf / (tf + k1 · (1 − b +
/// b · doc_len / avg_len))`, computed in f64 from the f32 `idf` and rounded
/// to f32, as bm25s's score matrix holds it. Zero when `tf` is 0.
///
/// An `avg_len` of 0 (no document has a term, so none can match) counts
/// every document as of average length rather than dividing by zero.
pub fn term_weight(tf: u32, doc_len: u32, idf: f32, avg_len: f64, params: Bm25Params) -> f32 {
    let tf = f64::from(tf);
    let rel_len = if avg_len > 0.0 {
        f64::from(doc_len) / avg_len
    } else {
        1.0
    };
    let tfc = tf / (params.k1 * ((1.0 - params.b) + params.b * rel_len) + tf);
    (f64::from(idf) * tfc) as f32
}

/// One query term found in a document: its frequency there and its
/// document frequency in the collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermMatch {
    /// Occurrences of the term in the document.
    pub tf: u32,
    /// Documents of the collection that contain the term.
    pub df: u64,
}

/// BM25 score of a document of `doc_len` terms for the query terms it
/// contains, `matches` in query order with a repeated query term repeated;
/// summed in f32 as bm25s sums.
pub fn score(
    params: Bm25Params,
    stats: CollectionStats,
    doc_len: u32,
    matches: impl IntoIterator<Item = TermMatch>,
) -> f32 {
    let avg_len = stats.avg_len();
    matches.into_iter().fold(0.0f32, |acc, m| {
        acc + term_weight(m.tf, doc_len, idf(m.df, stats.docs), avg_len, params)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn idf_by_hand() {
        // N = 4: df 1 -> ln(1 + 3.5/1.5) = ln(10/3); df 2 -> ln 2; df 4 -> ln(10/9).
        assert!(close(idf(1, 4).into(), (10.0f64 / 3.0).ln()));
        assert!(close(idf(2, 4).into(), 2.0f64.ln()));
        assert!(close(idf(4, 4).into(), (10.0f64 / 9.0).ln()));
        assert!(close(idf(1, 4).into(), 1.2039728));
        // Positive even where a term is in every document.
        assert!(idf(4, 4) > 0.0 && idf(1, 1) > 0.0);
        assert!(idf(1, 4) > idf(2, 4), "rarer terms weigh more");
    }

    #[test]
    fn term_weight_by_hand() {
        let p = Bm25Params::default();
        let w = |tf, len, avg| f64::from(term_weight(tf, len, 1.0, avg, p));
        // tf 1, average length: 1 / (1 + 1.5) = 0.4.
        assert!(close(w(1, 5, 5.0), 0.4));
        // tf 2, twice the average: 2 / (2 + 1.5 * (0.25 + 0.75 * 2)) = 2 / 4.625.
        assert!(close(w(2, 10, 5.0), 2.0 / 4.625));
        // Half the average: 1 / (1 + 1.5 * (0.25 + 0.375)) = 1 / 1.9375.
        assert!(close(w(1, 2, 4.0), 1.0 / 1.9375));
        assert_eq!(w(0, 5, 5.0), 0.0);
        // The idf scales the weight.
        let scaled = term_weight(2, 10, 0.5, 5.0, p);
        assert!(close(scaled.into(), 0.5 * 2.0 / 4.625));
    }

    #[test]
    fn no_k1_plus_one_factor_so_a_weight_stays_below_its_idf() {
        let p = Bm25Params::default();
        let idf = 2.0;
        let big = term_weight(1_000_000, 10, idf, 10.0, p);
        assert!(big < idf && big > 0.9999 * idf, "{big}");
        // With (k1 + 1), tf = 1 at average length would weigh idf itself.
        assert!(close(term_weight(1, 10, idf, 10.0, p).into(), 0.8));
    }

    #[test]
    fn k1_and_b_extremes() {
        // k1 = 0: binary tf, the idf alone.
        let binary = Bm25Params::new(0.0, 0.75).unwrap();
        assert_eq!(term_weight(7, 3, 1.5, 10.0, binary), 1.5);
        // b = 0: the length does not matter.
        let flat = Bm25Params::new(1.5, 0.0).unwrap();
        assert_eq!(
            term_weight(2, 1, 1.0, 10.0, flat),
            term_weight(2, 100, 1.0, 10.0, flat)
        );
        // An empty collection's average length does not divide by zero.
        assert!(term_weight(1, 0, 1.0, 0.0, Bm25Params::default()).is_finite());
    }

    #[test]
    fn params_are_checked() {
        assert_eq!(Bm25Params::default(), Bm25Params { k1: 1.5, b: 0.75 });
        assert!(Bm25Params::new(1.2, 1.0).is_ok());
        let e = Bm25Params::new(-0.1, 0.5).unwrap_err();
        assert_eq!(e.name, "k1");
        assert_eq!(
            e.to_string(),
            "BM25 k1 must be a finite number >= 0, got -0.1"
        );
        assert_eq!(Bm25Params::new(f64::NAN, 0.5).unwrap_err().name, "k1");
        assert_eq!(Bm25Params::new(1.5, 1.5).unwrap_err().name, "b");
        assert_eq!(Bm25Params::new(1.5, f64::NAN).unwrap_err().name, "b");
    }

    #[test]
    fn stats_add_up() {
        let s = CollectionStats::from_lengths([3, 7, 2, 7, 0]);
        assert_eq!((s.docs, s.tokens), (5, 19));
        assert!(close(s.avg_len(), 3.8));
        assert_eq!(CollectionStats::default().avg_len(), 0.0);
    }

    /// bm25s 0.3.16, `BM25(method="lucene")`, on five documents analyzed
    /// as ["cat sat mat", "cat dog dog chase cat cat ran", "dog bark",
    /// "bird sang morn sun while cat slept", ""]: `get_scores` of the
    /// queries ["cat"] and ["cat", "cat", "dog"], bit for bit.
    #[test]
    fn scores_equal_bm25s_bit_for_bit() {
        let stats = CollectionStats::from_lengths([3, 7, 2, 7, 0]);
        let p = Bm25Params::default();
        let cat = |tf| TermMatch { tf, df: 3 };
        let dog = |tf| TermMatch { tf, df: 2 };
        let cases: [(u32, Vec<TermMatch>, f64); 6] = [
            (3, vec![cat(1)], 0.23816125094890594),
            (7, vec![cat(3)], 0.2968386709690094),
            (7, vec![cat(1)], 0.15635013580322266),
            (3, vec![cat(1), cat(1)], 0.4763225018978119),
            (7, vec![cat(3), cat(3), dog(2)], 0.987379252910614),
            (2, vec![dog(1)], 0.4450543522834778),
        ];
        for (len, matches, expected) in cases {
            let got = score(p, stats, len, matches.clone());
            assert_eq!(got, expected as f32, "len {len} {matches:?}");
        }
        assert_eq!(score(p, stats, 0, []), 0.0);
    }

    #[test]
    fn repeated_query_terms_count_again() {
        let stats = CollectionStats::from_lengths([4, 6]);
        let p = Bm25Params::default();
        let m = TermMatch { tf: 2, df: 1 };
        let once = score(p, stats, 4, [m]);
        assert_eq!(score(p, stats, 4, [m, m]), once + once);
    }
}
