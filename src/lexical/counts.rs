//! A document as the lexical index stores it: each distinct term with its
//! frequency, and the document's length (its number of terms, repeats
//! counted, stopwords not). The index writer takes documents in this form so
//! that analysis can run wherever it is cheapest (beside the encoder, on all
//! cores) and the writer only files postings.

use std::collections::HashMap;

use crate::lexical::Analyzer;

/// A document's distinct terms with their frequencies, sorted by term
/// bytes, and its length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TermCounts {
    terms: Vec<(String, u32)>,
    len: u32,
}

impl TermCounts {
    /// Analyzes `text` (for a document: [`document_text`](crate::lexical::document_text)).
    pub fn of(analyzer: &Analyzer, text: &str) -> TermCounts {
        let mut counts: HashMap<String, u32> = HashMap::new();
        let mut len = 0u32;
        analyzer.for_each_term(text, |term| {
            len = len.saturating_add(1);
            match counts.get_mut(term) {
                Some(tf) => *tf += 1,
                None => {
                    counts.insert(term.to_owned(), 1);
                }
            }
        });
        let mut terms: Vec<(String, u32)> = counts.into_iter().collect();
        terms.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        TermCounts { terms, len }
    }

    /// The distinct terms and their frequencies, sorted by term bytes.
    pub fn terms(&self) -> &[(String, u32)] {
        &self.terms
    }

    /// The document's length: its number of terms, repeats counted (BM25's
    /// `|d|`). Zero for a text of stopwords and punctuation only.
    pub fn doc_len(&self) -> u32 {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sort_terms_and_count_repeats() {
        let c = TermCounts::of(&Analyzer::english(), "Rivers run; the river RUNS, a river!");
        let terms: Vec<(&str, u32)> = c.terms().iter().map(|(t, n)| (t.as_str(), *n)).collect();
        assert_eq!(terms, [("river", 3), ("run", 2)]);
        assert_eq!(c.doc_len(), 5);
        let empty = TermCounts::of(&Analyzer::english(), "the and of, a!");
        assert_eq!((empty.terms().len(), empty.doc_len()), (0, 0));
    }
}
