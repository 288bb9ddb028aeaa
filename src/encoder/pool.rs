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
use std::sync::atomic::{AtomicU64, Ordering};

use super::int8;
use super::kernel::{Kernel, LANES, PAIR, pack_pair};
use super::weights::Matrix;
use crate::sparse::SparseVector;

/// Vocabulary entries per parallel work item.
const CHUNK: usize = 1024;

/// Arithmetic of the vocabulary projection (recorded in an index's
/// `meta.json` as `"f32"` or `"bf16"`; int8 makes the f32 vectors and is
/// recorded as `"f32"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 throughout: equal to the reference within 1e-5.
    #[default]
    F32,
    /// bf16 products with f32 sums (AVX512_BF16 CPUs): about twice as fast
    /// on the projection, vectors differ by ~1e-2 (README, "Encoding speed").
    Bf16,
    /// An int8 screen with a proven error bound, then f32 for the entries
    /// it cannot rule out (the `int8` module): the f32 vectors bit for bit,
    /// on any CPU (fastest with AVX512_VNNI).
    Int8,
}

impl Precision {
    /// Whether this CPU can encode with it: bf16 needs AVX512_BF16 (a
    /// model loaded with it elsewhere is an error that says so).
    pub fn is_supported(self) -> bool {
        match self {
            Precision::F32 | Precision::Int8 => true,
            Precision::Bf16 => super::bf16::available(),
        }
    }

    /// The precision whose vectors this one makes: int8's are f32's.
    pub fn vectors(self) -> Precision {
        match self {
            Precision::Int8 => Precision::F32,
            p => p,
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
    /// The int8 screen's panels (the f32 rows are read in place).
    Int8 {
        panels: int8::Panels,
        kernel: int8::Kernel,
    },
}

/// Token states in the packing the kernel reads.
enum Rows<'a> {
    F32(&'a [f32]),
    Bf16(Vec<u32>),
    /// The f32 states and their int8 copy for the screen.
    Int8(&'a [f32], int8::Rows),
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
    screen: ScreenCounts,
}

/// What the int8 screen did since the decoder was made (see
/// [`Decoder::screen_counts`]).
#[derive(Default)]
struct ScreenCounts {
    texts: AtomicU64,
    kept: AtomicU64,
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
            Precision::Int8 => decoder.pack_int8(int8::Kernel::detect()),
        }
        Ok(decoder)
    }

    /// Quantizes the decoder for the int8 screen, to run on `kernel`.
    fn pack_int8(&self, kernel: int8::Kernel) {
        let panels = int8::Panels::pack(self.weight.as_slice(), self.vocab(), self.hidden);
        let _ = self.packed.set(Packed::Int8 { panels, kernel });
    }

    /// An int8-screened decoder on a given integer kernel (tests).
    #[cfg(test)]
    pub fn with_int8(weight: &[f32], bias: Vec<f32>, hidden: usize, kernel: int8::Kernel) -> Self {
        let decoder = Self::with_kernel(weight, bias, hidden, Kernel::detect());
        decoder.pack_int8(kernel);
        decoder
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
            screen: ScreenCounts::default(),
        }
    }

    /// Texts that went through the int8 screen, and the vocabulary entries
    /// it kept for f32 over all of them (the rest were certainly zero).
    pub fn screen_counts(&self) -> (u64, u64) {
        let c = &self.screen;
        (
            c.texts.load(Ordering::Relaxed),
            c.kept.load(Ordering::Relaxed),
        )
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
            Some(Packed::Int8 { .. }) => match int8::Rows::quantize(hidden, self.hidden) {
                Some(q) => Rows::Int8(hidden, q),
                // A non-finite state: the f32 path reports it.
                None => Rows::F32(hidden),
            },
            _ => Rows::F32(hidden),
        };
        // maxima[chunk][text * width + col]
        let maxima: Vec<Vec<f32>> = starts
            .par_iter()
            .map(|&start| self.chunk_max(&rows, spans, start, CHUNK.min(padded - start)))
            .collect();
        if let Rows::Int8(..) = rows {
            let texts = spans.iter().filter(|&&(_, count)| count > 0).count();
            self.screen.texts.fetch_add(texts as u64, Ordering::Relaxed);
        }
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
        if let (Some(Packed::Int8 { panels, kernel }), Rows::Int8(x, q)) = (self.packed.get(), rows)
        {
            return self.chunk_screened(panels, *kernel, x, q, spans, start, width);
        }
        let h = self.hidden;
        let mut out = vec![f32::NEG_INFINITY; spans.len() * width];
        let mut buffer = Vec::new();
        for p in 0..width / PAIR {
            let panel = (start + p * PAIR) / LANES;
            let panels: &[f32] = match self.packed.get() {
                Some(Packed::F32 { panels }) => &panels[panel * h * LANES..(panel + 2) * h * LANES],
                Some(Packed::Bf16 { .. }) => &[],
                _ => {
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

    /// [`Self::chunk_max`] through the int8 screen: the f32 max of every
    /// entry the screen cannot rule out, computed by the f32 kernel on the
    /// same panels as the f32 path (so the same bits), and `-inf` for the
    /// others, whose f32 logit is certainly not positive.
    #[allow(clippy::too_many_arguments)]
    fn chunk_screened(
        &self,
        panels: &int8::Panels,
        kernel: int8::Kernel,
        x: &[f32],
        q: &int8::Rows,
        spans: &[(usize, usize)],
        start: usize,
        width: usize,
    ) -> Vec<f32> {
        let (h, vocab) = (self.hidden, self.vocab());
        let mut out = vec![f32::NEG_INFINITY; spans.len() * width];
        let mut rows = vec![0f32; PAIR * h];
        let mut buffer = vec![0f32; PAIR * h];
        let mut kept = Vec::new();
        for (text, &(first, count)) in spans.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let bound = q.bound(first, count);
            kept.clear();
            for group in (start..start + width).step_by(PAIR) {
                let mut acc = [f32::NEG_INFINITY; PAIR];
                int8::max_dots(kernel, q, first, count, panels, group, &mut acc);
                for (j, &a) in acc.iter().enumerate() {
                    let v = group + j;
                    if v < vocab
                        && bound.may_activate(panels, v, a * panels.scale[v], self.bias[v], h)
                    {
                        kept.push(v);
                    }
                }
            }
            let weight = self.weight.as_slice();
            self.screen
                .kept
                .fetch_add(kept.len() as u64, Ordering::Relaxed);
            for group in kept.chunks(PAIR) {
                for (j, &v) in group.iter().enumerate() {
                    rows[j * h..(j + 1) * h].copy_from_slice(&weight[v * h..(v + 1) * h]);
                }
                rows[group.len() * h..].fill(0.0);
                pack_pair(&rows, h, &mut buffer);
                let mut acc = [f32::NEG_INFINITY; PAIR];
                let states = &x[first * h..(first + count) * h];
                self.kernel.max_dots(states, count, h, &buffer, &mut acc);
                for (&v, &m) in group.iter().zip(&acc) {
                    out[text * width + v - start] = m;
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
                assert_eq!(bits(a), bits(b), "{kernel:?}");
            }
        }
    }

    /// Bits of each (term, weight).
    fn bits(v: &SparseVector) -> Vec<(u32, u32)> {
        v.iter().map(|(t, w)| (t, w.to_bits())).collect()
    }

    #[test]
    fn the_int8_screen_pools_the_f32_vectors_bit_for_bit() {
        // Biases spread so that a few percent of entries activate, as in a
        // trained model, and states with an outlier component.
        let (vocab, h) = (1300, 24);
        let weight = pseudo_random(vocab * h, 21);
        let bias: Vec<f32> = pseudo_random(vocab, 22).iter().map(|b| b - 2.0).collect();
        let mut states = pseudo_random(60 * h, 23);
        for t in 0..60 {
            states[t * h + 3] *= 8.0;
        }
        let spans = [(0, 1), (1, 39), (7, 5), (0, 0), (40, 20)];
        let f32_dec = Decoder::with_kernel(&weight, bias.clone(), h, Kernel::detect());
        let want = f32_dec.pool(&states, &spans).unwrap();
        assert!(
            want[1].nnz() > 0 && want[1].nnz() < vocab / 2,
            "{}",
            want[1].nnz()
        );
        for kernel in int8::Kernel::available() {
            let dec = Decoder::with_int8(&weight, bias.clone(), h, kernel);
            let got = dec.pool(&states, &spans).unwrap();
            for (a, b) in want.iter().zip(&got) {
                assert_eq!(bits(a), bits(b), "{kernel:?}");
            }
            let (texts, kept) = dec.screen_counts();
            assert_eq!(texts, 4, "the empty text is not screened");
            let active: usize = want.iter().map(SparseVector::nnz).sum();
            assert!(kept as usize >= active, "{kept} kept, {active} active");
            assert!(
                (kept as usize) < 4 * vocab * 3 / 4,
                "the screen ruled out little: {kept}"
            );
        }
    }

    #[test]
    fn the_int8_screen_hands_non_finite_states_to_the_f32_path() {
        let (vocab, h) = (40, 4);
        let weight = pseudo_random(vocab * h, 4);
        let mut states = vec![0.5f32; 2 * h];
        states[5] = f32::INFINITY;
        let dec = Decoder::with_int8(&weight, vec![0.0; vocab], h, int8::Kernel::detect());
        let err = dec.pool(&states, &[(0, 2)]).unwrap_err();
        assert!(err.value.is_nan() || err.value == f32::INFINITY, "{err}");
        assert_eq!(dec.screen_counts(), (0, 0), "not screened");
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
            // The screen keeps what it cannot bound: the same error.
            let dec = Decoder::with_int8(&weight, biases.clone(), h, int8::Kernel::detect());
            let err = dec.pool(&states, &[(0, 2)]).unwrap_err();
            assert_eq!((err.term, err.value.is_nan()), (7, nan), "int8: {err}");
        }
    }

    #[test]
    fn activation_is_log1p_relu() {
        assert_eq!(splade_activation(-1.0), 0.0);
        assert_eq!(splade_activation(0.0), 0.0);
        assert!((splade_activation(1.0) - 2f32.ln()).abs() < 1e-7);
    }
}
