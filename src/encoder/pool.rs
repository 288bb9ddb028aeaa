//! SPLADE pooling fused with the vocabulary projection.
//!
//! SPLADE's vector is, per vocabulary entry `v`, the max over a text's tokens
//! of `log(1 + relu(h_t · w_v + b_v))`. Since `log1p ∘ relu` is monotone and
//! the bias does not depend on the token, that equals
//! `log(1 + relu(max_t(h_t · w_v) + b_v))` exactly (rounding is monotone
//! too): the max is taken on raw dot products and the non-linearity applied
//! once per entry. No `[tokens, vocab]` logits tensor ever exists.
//!
//! This projection is ~90% of the encoder's work, so it has its own kernel
//! (see the `kernel` module): the decoder matrix is packed once into
//! panels of 16 vocabulary rows stored `[hidden][16]`, and a register-blocked
//! loop computes the dot products of up to 8 tokens with 32 vocabulary rows
//! and folds them into the running max without writing them anywhere.
//! Vocabulary chunks are spread over the cores.

use rayon::prelude::*;

use std::sync::OnceLock;

use super::kernel::{Kernel, LANES, PAIR, pack_pair};
use super::weights::Matrix;
use crate::sparse::SparseVector;

/// Vocabulary entries per parallel work item.
const CHUNK: usize = 1024;

/// Arithmetic of the vocabulary projection (recorded in an index's
/// `meta.json` as `"f32"` or `"bf16"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 throughout: equal to the reference within 1e-5.
    #[default]
    F32,
    /// bf16 products with f32 sums (AVX512_BF16 CPUs): about twice as fast
    /// on the projection, vectors differ by ~1e-2 (README, "Encoding speed").
    Bf16,
}

impl Precision {
    /// Whether this CPU can encode with it: bf16 needs AVX512_BF16 (a
    /// model loaded with it elsewhere is an error that says so).
    pub fn is_supported(self) -> bool {
        match self {
            Precision::F32 => true,
            Precision::Bf16 => super::bf16::available(),
        }
    }
}

/// A vocabulary logit that is `+inf` or NaN: the checkpoint's activations
/// overflow `f32`, so no valid vector exists.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error(
    "the model's logit for vocabulary entry {term} is {value}: its activations overflow f32 \
     (the checkpoint's weights are broken or far too large)"
)]
pub struct NonFinite {
    /// The vocabulary entry.
    pub term: u32,
    /// The logit (`+inf` or NaN).
    pub value: f32,
}

/// The packed copy of the decoder matrix.
enum Packed {
    /// `[panel][hidden][LANES]` f32.
    F32 { panels: Vec<f32> },
    /// `[panel][hidden / 2][LANES]` bf16 pairs.
    Bf16 { panels: Vec<u32> },
}

/// Token states in the packing the kernel reads.
enum Rows<'a> {
    F32(&'a [f32]),
    Bf16(Vec<u32>),
}

/// Tokens from which a call packs the decoder first ([`Decoder::prepare`]):
/// packing costs about what the row-major kernel loses on ~100 tokens
/// (README "Cold start"), so a query never pays for it and a batch of
/// documents does at once.
pub const PACK_AT_TOKENS: usize = 256;

/// The decoder: the checkpoint's row-major `[vocab, hidden]` matrix, read
/// in place, and the packed copy that bulk encoding builds once.
pub struct Decoder {
    weight: Matrix,
    /// The rows of the last, partial group of [`PAIR`], row-major and
    /// zero-padded to a whole group.
    tail: Vec<f32>,
    packed: OnceLock<Packed>,
    kernel: Kernel,
    bias: Vec<f32>,
    hidden: usize,
}

impl Decoder {
    /// The decoder for `precision` over `weight` (read in place for f32);
    /// bf16 needs a CPU with AVX512_BF16 and an even hidden size, and is
    /// packed at once.
    pub(crate) fn from_matrix(
        weight: Matrix,
        bias: Vec<f32>,
        hidden: usize,
        precision: Precision,
    ) -> Result<Self, String> {
        let decoder = Self::build(weight, bias, hidden, Kernel::detect());
        match precision {
            Precision::F32 => {}
            Precision::Bf16 if !super::bf16::available() => {
                return Err("bf16 precision needs a CPU with AVX512_BF16".into());
            }
            Precision::Bf16 if hidden % 2 == 1 => {
                return Err(format!(
                    "bf16 precision needs an even hidden size, not {hidden}"
                ));
            }
            Precision::Bf16 => {
                let panels =
                    super::bf16::pack_panels(decoder.weight.as_slice(), decoder.bias.len(), hidden);
                let _ = decoder.packed.set(Packed::Bf16 { panels });
            }
        }
        Ok(decoder)
    }

    /// A decoder over a row-major `[vocab, hidden]` copy and its bias,
    /// with a given kernel (tests compare them).
    #[cfg(test)]
    pub fn with_kernel(weight: &[f32], bias: Vec<f32>, hidden: usize, kernel: Kernel) -> Self {
        assert_eq!(weight.len(), bias.len() * hidden, "decoder shape");
        Self::build(Matrix::Owned(weight.to_vec().into()), bias, hidden, kernel)
    }

    fn build(weight: Matrix, bias: Vec<f32>, hidden: usize, kernel: Kernel) -> Self {
        let vocab = bias.len();
        assert_eq!(weight.as_slice().len(), vocab * hidden, "decoder shape");
        let whole = vocab / PAIR * PAIR;
        let mut tail = weight.as_slice()[whole * hidden..].to_vec();
        tail.resize(PAIR * hidden, 0.0);
        Decoder {
            weight,
            tail,
            packed: OnceLock::new(),
            kernel,
            bias,
            hidden,
        }
    }

    /// Packs the matrix for the faster kernel when a call will encode at
    /// least [`PACK_AT_TOKENS`] tokens (once; later calls reuse it). Call
    /// it outside parallel work: the packing runs on the calling thread.
    /// Results are the same bit for bit either way.
    pub fn prepare(&self, tokens: usize) {
        if tokens >= PACK_AT_TOKENS {
            self.pack();
        }
    }

    /// Packs the matrix into panels of [`LANES`] rows stored `[hidden][LANES]`.
    pub fn pack(&self) {
        self.packed.get_or_init(|| {
            let h = self.hidden;
            let padded = self.vocab().div_ceil(PAIR) * PAIR;
            let mut panels = vec![0f32; padded * h];
            for (q, out) in panels.chunks_exact_mut(PAIR * h).enumerate() {
                pack_pair(self.rows_at(q * PAIR), h, out);
            }
            Packed::F32 { panels }
        });
    }

    /// Whether the packed copy exists.
    #[cfg(test)]
    pub fn is_packed(&self) -> bool {
        self.packed.get().is_some()
    }

    /// The row-major rows `start..start + PAIR` (the zero-padded tail at the
    /// end of the vocabulary).
    fn rows_at(&self, start: usize) -> &[f32] {
        let h = self.hidden;
        if start + PAIR <= self.vocab() {
            &self.weight.as_slice()[start * h..(start + PAIR) * h]
        } else {
            &self.tail
        }
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.bias.len()
    }

    /// Pools the hidden states of several texts. `hidden` is row-major
    /// `[tokens, hidden]`, the real tokens of each text consecutive;
    /// `spans[i]` is the `(first row, row count)` of text `i`.
    ///
    /// A checkpoint whose activations overflow (an infinite or NaN logit
    /// before the activation) is an error: its vector would break the
    /// [`SparseVector`] invariants, or silently lose terms.
    pub fn pool(
        &self,
        hidden: &[f32],
        spans: &[(usize, usize)],
    ) -> Result<Vec<SparseVector>, NonFinite> {
        assert!(
            spans
                .iter()
                .all(|&(f, c)| (f + c) * self.hidden <= hidden.len())
        );
        let padded = self.vocab().div_ceil(PAIR) * PAIR;
        let starts: Vec<usize> = (0..padded).step_by(CHUNK).collect();
        let rows = match self.packed.get() {
            Some(Packed::Bf16 { .. }) => Rows::Bf16(super::bf16::pack_rows(hidden, self.hidden)),
            _ => Rows::F32(hidden),
        };
        // maxima[chunk][text * width + col]
        let maxima: Vec<Vec<f32>> = starts
            .par_iter()
            .map(|&start| self.chunk_max(&rows, spans, start, CHUNK.min(padded - start)))
            .collect();
        (0..spans.len())
            .map(|text| self.activate(text, spans.len(), &starts, &maxima))
            .collect()
    }

    /// Bias, `log1p(relu(.))` and sparsification of one text's maxima.
    fn activate(
        &self,
        text: usize,
        texts: usize,
        starts: &[usize],
        maxima: &[Vec<f32>],
    ) -> Result<SparseVector, NonFinite> {
        let vocab = self.vocab();
        let mut indices = Vec::new();
        let mut values = Vec::new();
        for (&start, chunk) in starts.iter().zip(maxima) {
            let width = chunk.len() / texts;
            let row = &chunk[text * width..(text + 1) * width];
            for (col, &m) in row.iter().enumerate() {
                let v = start + col;
                if v >= vocab {
                    break;
                }
                let logit = m + self.bias[v];
                // -inf is a text without tokens (weight 0); +inf and NaN
                // come only from weights that overflow f32.
                if logit.is_nan() || logit == f32::INFINITY {
                    return Err(NonFinite {
                        term: v as u32,
                        value: logit,
                    });
                }
                let w = splade_activation(logit);
                if w > 0.0 {
                    indices.push(v as u32);
                    values.push(w);
                }
            }
        }
        // Ids increase and every weight is finite and positive (checked
        // above), so this is the invariant-preserving constructor.
        Ok(SparseVector::new(indices, values).expect("pooled ids are increasing and positive"))
    }

    /// Max over each text's tokens of `h_t · w_v` for `v` in
    /// `start..start + width` (a multiple of [`PAIR`]); `[texts, width]`.
    /// Without the packed copy, each group of [`PAIR`] rows is packed into
    /// a small buffer as it comes (the same panels, so the same results).
    fn chunk_max(
        &self,
        rows: &Rows,
        spans: &[(usize, usize)],
        start: usize,
        width: usize,
    ) -> Vec<f32> {
        let h = self.hidden;
        let mut out = vec![f32::NEG_INFINITY; spans.len() * width];
        let mut buffer = Vec::new();
        for p in 0..width / PAIR {
            let panel = (start + p * PAIR) / LANES;
            let panels: &[f32] = match self.packed.get() {
                Some(Packed::F32 { panels }) => &panels[panel * h * LANES..(panel + 2) * h * LANES],
                Some(Packed::Bf16 { .. }) => &[],
                None => {
                    buffer.resize(PAIR * h, 0.0);
                    pack_pair(self.rows_at(start + p * PAIR), h, &mut buffer);
                    &buffer
                }
            };
            for (text, &(first, count)) in spans.iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let acc = &mut out[text * width + p * PAIR..text * width + (p + 1) * PAIR];
                let acc: &mut [f32; PAIR] = acc.try_into().expect("PAIR lanes");
                match (self.packed.get(), rows) {
                    (Some(Packed::Bf16 { panels }), Rows::Bf16(x)) => {
                        let pairs = h / 2;
                        super::bf16::max_dots(
                            &x[first * pairs..(first + count) * pairs],
                            count,
                            pairs,
                            &panels[panel * pairs * LANES..(panel + 2) * pairs * LANES],
                            acc,
                        )
                    }
                    (_, Rows::F32(x)) => self.kernel.max_dots(
                        &x[first * h..(first + count) * h],
                        count,
                        h,
                        panels,
                        acc,
                    ),
                    _ => unreachable!("rows are packed like the decoder"),
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::kernel::tests::pseudo_random;

    /// The definition: logits for every token, activation, then max.
    fn naive(weight: &[f32], bias: &[f32], h: usize, rows: &[f32], count: usize) -> Vec<f32> {
        (0..bias.len())
            .map(|v| {
                (0..count)
                    .map(|t| {
                        let dot: f32 = (0..h).map(|i| rows[t * h + i] * weight[v * h + i]).sum();
                        splade_activation(dot + bias[v])
                    })
                    .fold(0.0, f32::max)
            })
            .collect()
    }

    #[test]
    fn fused_pool_equals_activation_then_max() {
        // A vocabulary that is not a multiple of 32 or of the chunk size.
        let (vocab, h) = (1300, 16);
        let weight = pseudo_random(vocab * h, 1);
        let bias = pseudo_random(vocab, 2);
        let states = pseudo_random(300 * h, 3);
        let spans = [(0, 1), (1, 299), (5, 3), (0, 0)];
        for kernel in Kernel::available() {
            let dec = Decoder::with_kernel(&weight, bias.clone(), h, kernel);
            let pooled = dec.pool(&states, &spans).unwrap();
            for (i, &(first, count)) in spans.iter().enumerate() {
                let want = naive(&weight, &bias, h, &states[first * h..], count);
                for (v, w) in want.iter().enumerate() {
                    assert!(
                        (pooled[i].get(v as u32) - w).abs() < 1e-5,
                        "{kernel:?} text {i} term {v}"
                    );
                }
                assert_eq!(pooled[i].nnz(), want.iter().filter(|w| **w > 0.0).count());
            }
        }
    }

    #[test]
    fn the_in_place_and_packed_decoders_pool_bit_for_bit_alike() {
        let (vocab, h) = (1300, 24);
        let weight = pseudo_random(vocab * h, 11);
        let bias = pseudo_random(vocab, 12);
        let states = pseudo_random(40 * h, 13);
        let spans = [(0, 1), (1, 39), (7, 5)];
        for kernel in Kernel::available() {
            let dec = Decoder::with_kernel(&weight, bias.clone(), h, kernel);
            dec.prepare(PACK_AT_TOKENS - 1);
            assert!(!dec.is_packed(), "a short call does not pack");
            let in_place = dec.pool(&states, &spans).unwrap();
            dec.prepare(PACK_AT_TOKENS);
            assert!(dec.is_packed());
            let packed = dec.pool(&states, &spans).unwrap();
            for (a, b) in in_place.iter().zip(&packed) {
                assert!(a.nnz() > 0);
                let bits = |v: &SparseVector| -> Vec<(u32, u32)> {
                    v.iter().map(|(t, w)| (t, w.to_bits())).collect()
                };
                assert_eq!(bits(a), bits(b), "{kernel:?}");
            }
        }
    }

    #[test]
    fn overflowing_logits_are_an_error_not_a_panic() {
        let (vocab, h) = (40, 4);
        let states = vec![1.0f32; 2 * h];
        // Entry 7's dot products overflow to +inf (huge finite weights);
        // with a bias of -inf, or a NaN bias, its logit is NaN.
        for (row, bias, nan) in [
            (f32::MAX, 0.0, false),
            (f32::MAX, f32::NEG_INFINITY, true),
            (0.5, f32::NAN, true),
        ] {
            let mut weight = pseudo_random(vocab * h, 4);
            weight[7 * h..8 * h].fill(row);
            let mut biases = vec![0.0; vocab];
            biases[7] = bias;
            for kernel in Kernel::available() {
                let dec = Decoder::with_kernel(&weight, biases.clone(), h, kernel);
                let err = dec.pool(&states, &[(0, 2)]).unwrap_err();
                assert_eq!(err.term, 7, "{kernel:?}");
                assert_eq!(err.value.is_nan(), nan, "{kernel:?}: {err}");
                assert!(err.to_string().contains("overflow"), "{err}");
            }
        }
    }

    #[test]
    fn activation_is_log1p_relu() {
        assert_eq!(splade_activation(-1.0), 0.0);
        assert_eq!(splade_activation(0.0), 0.0);
        assert!((splade_activation(1.0) - 2f32.ln()).abs() < 1e-7);
    }
}
