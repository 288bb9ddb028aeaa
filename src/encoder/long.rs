//! Texts longer than the model's window.
//!
//! By default a tokenized text is cut at the model's maximum length, as the
//! reference does. In window mode a longer text is split into overlapping
//! windows of at most `window` tokens (each with its own `[CLS]` and
//! `[SEP]`), every window is encoded, and the document vector is the
//! elementwise max of the window vectors: the same max-pooling SPLADE already
//! applies over tokens, extended over windows.

/// How texts longer than the model's maximum length are handled (recorded
/// in an index's `meta.json` as `{"mode": "truncate"}` or
/// `{"mode": "window", "window": 512, "stride": 128}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum LongDocs {
    /// Cut at the maximum length (the reference's behaviour).
    #[default]
    Truncate,
    /// Overlapping windows, max-pooled.
    Window {
        /// Tokens per window, `[CLS]` and `[SEP]` included.
        window: usize,
        /// Tokens shared by consecutive windows.
        stride: usize,
    },
}

/// Splits `[CLS] t1 ... tn [SEP]` into windows of at most `window` tokens
/// that share `stride` content tokens with their neighbours; a sequence that
/// fits is returned whole. `window` must exceed `stride + 2`.
pub fn windows(ids: &[u32], window: usize, stride: usize) -> Vec<Vec<u32>> {
    assert!(window > stride + 2, "window must exceed stride + 2");
    if ids.len() <= window || ids.len() < 2 {
        return vec![ids.to_vec()];
    }
    let (cls, sep) = (ids[0], ids[ids.len() - 1]);
    let content = &ids[1..ids.len() - 1];
    let width = window - 2;
    let step = width - stride;
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + width).min(content.len());
        let mut w = Vec::with_capacity(end - start + 2);
        w.push(cls);
        w.extend_from_slice(&content[start..end]);
        w.push(sep);
        out.push(w);
        if end == content.len() {
            return out;
        }
        start += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_sequences_stay_whole() {
        assert_eq!(windows(&[101, 7, 102], 8, 2), vec![vec![101, 7, 102]]);
    }

    #[test]
    fn windows_overlap_and_cover_everything() {
        let ids: Vec<u32> = std::iter::once(101)
            .chain(1..=10)
            .chain(std::iter::once(102))
            .collect();
        let w = windows(&ids, 6, 1); // 4 content tokens per window, step 3
        assert_eq!(
            w,
            vec![
                vec![101, 1, 2, 3, 4, 102],
                vec![101, 4, 5, 6, 7, 102],
                vec![101, 7, 8, 9, 10, 102],
            ]
        );
        let w = windows(&ids, 7, 0); // 5 per window, no overlap
        assert_eq!(
            w,
            vec![
                vec![101, 1, 2, 3, 4, 5, 102],
                vec![101, 6, 7, 8, 9, 10, 102]
            ]
        );
        assert!(w.iter().all(|x| x.len() <= 7));
    }
}
