//! SPLADE pooling fused with the vocabulary projection.
//!
//! SPLADE's vector is, per vocabulary entry `v`, the max over a text's tokens
//! of `log(1 + relu(h_t · w_v + b_v))`. Since `log1p ∘ relu` is monotone and
//! the bias does not depend on the token, that equals
//! `log(1 + relu(max_t(h_t · w_v) + b_v))`: the max can be taken on raw dot
//! products and the non-linearity applied once per entry. Logits are computed
//! a tile of the vocabulary at a time (`[tokens, TILE]`) and folded into the
//! running max at once, so no `[tokens, vocab]` tensor ever exists; this is
//! ~90% of the encoder's work, spread over the cores by vocabulary tile.

use rayon::prelude::*;

use crate::sparse::SparseVector;

/// Vocabulary rows per tile: `TILE x hidden` floats stay in L2 cache.
const TILE: usize = 512;
/// Token rows per matrix product inside a tile.
const ROWS: usize = 256;

/// The decoder: `weight` `[vocab, hidden]` row-major, `bias` `[vocab]`.
pub struct Decoder {
    weight: Vec<f32>,
    bias: Vec<f32>,
    hidden: usize,
}

impl Decoder {
    /// Wraps a row-major `[vocab, hidden]` matrix and its bias.
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, hidden: usize) -> Self {
        assert_eq!(weight.len(), bias.len() * hidden, "decoder shape");
        Decoder {
            weight,
            bias,
            hidden,
        }
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.bias.len()
    }

    /// Pools the hidden states of several texts. `hidden` is row-major
    /// `[tokens, hidden]`, the real tokens of each text consecutive;
    /// `spans[i]` is the `(first row, row count)` of text `i`.
    pub fn pool(&self, hidden: &[f32], spans: &[(usize, usize)]) -> Vec<SparseVector> {
        let vocab = self.vocab();
        let tiles: Vec<usize> = (0..vocab).step_by(TILE).collect();
        // maxima[tile][text][col]
        let maxima: Vec<Vec<f32>> = tiles
            .par_iter()
            .map(|&start| self.tile_max(hidden, spans, start, TILE.min(vocab - start)))
            .collect();
        (0..spans.len())
            .map(|text| {
                let mut indices = Vec::new();
                let mut values = Vec::new();
                for (&start, tile) in tiles.iter().zip(&maxima) {
                    let width = TILE.min(vocab - start);
                    let row = &tile[text * width..(text + 1) * width];
                    for (col, &m) in row.iter().enumerate() {
                        let v = start + col;
                        let w = splade_activation(m + self.bias[v]);
                        if w > 0.0 {
                            indices.push(v as u32);
                            values.push(w);
                        }
                    }
                }
                SparseVector::new(indices, values).expect("pooled ids are increasing and positive")
            })
            .collect()
    }

    /// Max over each text's tokens of `h_t · w_v` for `v` in
    /// `start..start+width`; returns `[texts, width]`.
    fn tile_max(
        &self,
        hidden: &[f32],
        spans: &[(usize, usize)],
        start: usize,
        width: usize,
    ) -> Vec<f32> {
        let h = self.hidden;
        let w_tile = &self.weight[start * h..(start + width) * h];
        let mut out = vec![f32::NEG_INFINITY; spans.len() * width];
        let mut logits = vec![0f32; ROWS * width];
        for (text, &(first, count)) in spans.iter().enumerate() {
            let acc = &mut out[text * width..(text + 1) * width];
            let mut row = first;
            while row < first + count {
                let m = ROWS.min(first + count - row);
                let lhs = &hidden[row * h..(row + m) * h];
                matmul_nt(lhs, w_tile, &mut logits[..m * width], m, width, h);
                for r in logits[..m * width].chunks_exact(width) {
                    for (a, &x) in acc.iter_mut().zip(r) {
                        *a = a.max(x);
                    }
                }
                row += m;
            }
        }
        out
    }
}

/// `log(1 + relu(x))`, the SPLADE activation.
#[inline]
pub fn splade_activation(x: f32) -> f32 {
    if x > 0.0 { x.ln_1p() } else { 0.0 }
}

/// `dst[m, n] = lhs[m, k] · rhs[n, k]^T`, all row-major, single-threaded
/// (the caller parallelises over tiles).
fn matmul_nt(lhs: &[f32], rhs: &[f32], dst: &mut [f32], m: usize, n: usize, k: usize) {
    assert!(lhs.len() >= m * k && rhs.len() >= n * k && dst.len() >= m * n);
    // SAFETY: the asserts above bound every index gemm reads or writes:
    // lhs element (i, p) at i*k + p < m*k, rhs^T element (p, j) at j*k + p
    // < n*k, dst element (i, j) at i*n + j < m*n; the slices do not overlap
    // (dst is a unique borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward definition: logits for every token, activation,
    /// then max.
    fn naive(dec: &Decoder, hidden: &[f32], rows: usize) -> Vec<f32> {
        let h = dec.hidden;
        (0..dec.vocab())
            .map(|v| {
                (0..rows)
                    .map(|t| {
                        let dot: f32 = (0..h)
                            .map(|i| hidden[t * h + i] * dec.weight[v * h + i])
                            .sum();
                        splade_activation(dot + dec.bias[v])
                    })
                    .fold(0.0, f32::max)
            })
            .collect()
    }

    fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn fused_max_equals_activation_then_max() {
        let (vocab, hidden) = (1300, 16);
        let dec = Decoder::new(
            pseudo_random(vocab * hidden, 1),
            pseudo_random(vocab, 2),
            hidden,
        );
        let states = pseudo_random(300 * hidden, 3);
        // Three texts: 1 token, 299 tokens (crosses ROWS), 0 rows used twice.
        let spans = [(0, 1), (1, 299), (5, 3)];
        let pooled = dec.pool(&states, &spans);
        for (i, &(first, count)) in spans.iter().enumerate() {
            let want = naive(&dec, &states[first * hidden..], count);
            let got = &pooled[i];
            for (v, w) in want.iter().enumerate() {
                assert!((got.get(v as u32) - w).abs() < 1e-5, "text {i} term {v}");
            }
            assert_eq!(got.nnz(), want.iter().filter(|w| **w > 0.0).count());
        }
    }

    #[test]
    fn activation_is_log1p_relu() {
        assert_eq!(splade_activation(-1.0), 0.0);
        assert_eq!(splade_activation(0.0), 0.0);
        assert!((splade_activation(1.0) - 2f32.ln()).abs() < 1e-7);
    }
}
