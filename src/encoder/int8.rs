//! The int8 screen of the vocabulary projection (`--precision int8`).
//!
//! Nearly all of a text's 30,522 vocabulary logits are negative, and
//! `log1p ∘ relu` makes every one of them a zero weight. The screen
//! computes each `max_t h_t · w_v` in int8 (4x fewer bytes to stream than
//! f32, and 4 products per byte lane per instruction where the CPU has
//! VNNI) together with a *proven* bound on the quantization error; only
//! the entries whose bound leaves room for a positive logit are computed
//! again in f32, by the f32 kernel, on the same panels. The vectors are
//! therefore the f32 vectors bit for bit: the screen decides which
//! entries are certainly zero, never what a weight is.
//!
//! Quantization: token states per token (`q = round(a / s_t)`,
//! `s_t = max|a| / 127`, stored `q + 128` as `u8`), decoder rows per row
//! (`s_v = max|w| / 63`: 7 bits, so that `u8 x i8` pairs never saturate
//! the 16-bit sums of `vpmaddubsw`). Every kernel computes the same exact
//! integer dot products, so every kernel screens alike.
//!
//! Layout: four consecutive hidden components form one `u32` (lowest
//! first), so one 512-bit register holds component group `j` of 16
//! vocabulary rows; panels are `[panel][h4][LANES]` words, `h4 = ceil(h / 4)`,
//! padded with zero weights.

use super::kernel::{LANES, PAIR};

/// Largest quantized token-state magnitude.
const QA: f32 = 127.0;
/// Largest quantized weight magnitude: 7 bits (see the module comment).
const QW: f32 = 63.0;
/// Stored offset of the unsigned token states.
const OFFSET: i32 = 128;

/// Which integer kernel runs, chosen once from the CPU's features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX512_VNNI: `vpdpbusd`, four products per lane per instruction.
    Avx512Vnni,
    /// AVX512BW: `vpmaddubsw` + `vpmaddwd`.
    Avx512Bw,
    /// AVX2: the same on 256-bit registers.
    Avx2,
    /// AVX-VNNI: `vpdpbusd` on 256-bit registers (CPUs with VNNI but
    /// without AVX-512).
    AvxVnni,
    /// Plain Rust, any CPU.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        Self::available().pop().expect("the portable kernel")
    }

    /// Every kernel this CPU can run, slowest first.
    pub fn available() -> Vec<Kernel> {
        let mut all = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") {
                all.push(Kernel::Avx2);
                if is_x86_feature_detected!("avxvnni") {
                    all.push(Kernel::AvxVnni);
                }
            }
            if std::env::var_os("SPLADE_NO_AVX512").is_none()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
            {
                all.push(Kernel::Avx512Bw);
                if is_x86_feature_detected!("avx512vnni") {
                    all.push(Kernel::Avx512Vnni);
                }
            }
        }
        all
    }
}

/// The decoder quantized for the screen.
pub struct Panels {
    /// `[panel][h4][LANES]` words of four `i8` weights.
    words: Vec<u32>,
    /// Per padded row: `s_v`, the weight scale.
    pub scale: Vec<f32>,
    /// Per padded row: `‖w_v‖₁` of the f32 row.
    pub l1: Vec<f32>,
    /// Per padded row: `128 · Σ q_w`, what the unsigned offset adds.
    offset: Vec<i32>,
    h4: usize,
}

impl Panels {
    /// Quantizes a row-major `[vocab, h]` decoder, padded with zero rows to
    /// a multiple of [`PAIR`].
    pub fn pack(weight: &[f32], vocab: usize, h: usize) -> Self {
        let padded = vocab.div_ceil(PAIR) * PAIR;
        let h4 = h.div_ceil(4);
        let mut words = vec![0u32; padded * h4];
        let mut scale = vec![0f32; padded];
        let mut l1 = vec![0f32; padded];
        let mut offset = vec![0i32; padded];
        for v in 0..vocab {
            let row = &weight[v * h..(v + 1) * h];
            let max = row.iter().fold(0f32, |m, w| m.max(w.abs()));
            let s = max / QW;
            scale[v] = s;
            l1[v] = row.iter().map(|w| w.abs()).sum();
            let q = |w: f32| {
                if s > 0.0 {
                    (w / s).round().clamp(-QW, QW) as i8
                } else {
                    0
                }
            };
            let (panel, lane) = (v / LANES, v % LANES);
            let mut sum = 0i32;
            for (j, group) in row.chunks(4).enumerate() {
                let mut word = 0u32;
                for (b, &w) in group.iter().enumerate() {
                    let q = q(w);
                    sum += q as i32;
                    word |= (q as u8 as u32) << (8 * b);
                }
                words[(panel * h4 + j) * LANES + lane] = word;
            }
            offset[v] = OFFSET * sum;
        }
        Panels {
            words,
            scale,
            l1,
            offset,
            h4,
        }
    }

    /// The words of the two panels from vocabulary row `start` (a multiple
    /// of [`PAIR`]).
    fn pair(&self, start: usize) -> &[u32] {
        &self.words[start * self.h4..(start + PAIR) * self.h4]
    }
}

/// Token states quantized for the screen.
pub struct Rows {
    /// `[tokens][h4]` words of four `u8` (`q + 128`).
    words: Vec<u32>,
    /// Per token: `s_t`.
    scale: Vec<f32>,
    /// Per token: `‖â_t‖₁ = s_t Σ |q|`.
    l1: Vec<f32>,
    h4: usize,
}

impl Rows {
    /// Quantizes row-major `[tokens, h]` states; `None` when one is not
    /// finite (the f32 path then runs, and reports it).
    pub fn quantize(x: &[f32], h: usize) -> Option<Self> {
        let h4 = h.div_ceil(4);
        let tokens = x.len() / h;
        let mut words = vec![0x8080_8080u32; tokens * h4];
        let mut scale = Vec::with_capacity(tokens);
        let mut l1 = Vec::with_capacity(tokens);
        for (t, row) in x.chunks_exact(h).enumerate() {
            if !row.iter().all(|a| a.is_finite()) {
                return None;
            }
            let s = row.iter().fold(0f32, |m, a| m.max(a.abs())) / QA;
            let mut sum = 0i32;
            for (j, group) in row.chunks(4).enumerate() {
                let mut word = 0x8080_8080u32;
                for (b, &a) in group.iter().enumerate() {
                    let q = if s > 0.0 {
                        (a / s).round().clamp(-QA, QA) as i32
                    } else {
                        0
                    };
                    sum += q.abs();
                    word = word & !(0xFF << (8 * b)) | (((q + OFFSET) as u32) << (8 * b));
                }
                words[t * h4 + j] = word;
            }
            scale.push(s);
            l1.push(s * sum as f32);
        }
        Some(Rows {
            words,
            scale,
            l1,
            h4,
        })
    }

    /// What the screen's error bound needs of tokens `first..first + count`.
    pub fn bound(&self, first: usize, count: usize) -> TextBound {
        let (s, l1) = (
            &self.scale[first..first + count],
            &self.l1[first..first + count],
        );
        TextBound {
            scale: s.iter().fold(0f32, |m, &x| m.max(x)),
            l1: l1.iter().fold(0f32, |m, &x| m.max(x)),
        }
    }
}

/// The largest token scale and quantized L1 norm of one text.
#[derive(Debug, Clone, Copy)]
pub struct TextBound {
    scale: f32,
    l1: f32,
}

impl TextBound {
    /// Whether vocabulary row `v`, whose screened max is `approx`
    /// (already times `s_v`) and whose bias is `bias`, may have a positive
    /// f32 logit for this text: `false` only when it certainly has not.
    ///
    /// For any token, `a·w - ŝ·ŵ = ea·w + â·ew` with `|ea| <= s_t / 2` and
    /// `|ew| <= s_v / 2` componentwise, so the error is at most
    /// `s_t / 2 · ‖w‖₁ + s_v / 2 · ‖â‖₁`; the f32 kernel's own rounding
    /// (at most `h · 2⁻²³ · max|a| · ‖w‖₁`) and that of this test are
    /// covered by the relative slack. NaN anywhere reads as "may".
    pub fn may_activate(
        &self,
        panels: &Panels,
        v: usize,
        approx: f32,
        bias: f32,
        h: usize,
    ) -> bool {
        let max_a = self.scale * QA;
        let error = self.scale / 2.0 * panels.l1[v]
            + panels.scale[v] / 2.0 * self.l1
            + h as f32 * f32::EPSILON * max_a * panels.l1[v];
        let error = error * 1.001 + 1e-6;
        let top = approx + error + bias;
        let slack = top + 1e-5 * (approx.abs() + error + bias.abs());
        !matches!(slack.partial_cmp(&0.0), Some(std::cmp::Ordering::Less))
    }
}

/// `acc[j] = max(acc[j], max_t s_t · (q_t · q_w_j))` over tokens
/// `first..first + count` of `rows`, for the 32 rows of the pair of panels
/// from vocabulary row `start`. `acc` is not yet times the row scales.
pub fn max_dots(
    kernel: Kernel,
    rows: &Rows,
    first: usize,
    count: usize,
    panels: &Panels,
    start: usize,
    acc: &mut [f32; PAIR],
) {
    assert!(count > 0 && first + count <= rows.scale.len() && rows.h4 == panels.h4);
    let h4 = rows.h4;
    let x = &rows.words[first * h4..(first + count) * h4];
    let s = &rows.scale[first..first + count];
    let w = panels.pair(start);
    let offset: &[i32; PAIR] = panels.offset[start..start + PAIR].try_into().expect("PAIR");
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: these kernels are only chosen when the CPU reports the
        // features (`Kernel::available`); the slices above bound each read.
        Kernel::Avx512Vnni => unsafe { x86::max_dots_vnni(x, s, h4, w, offset, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx512Bw => unsafe { x86::max_dots_bw(x, s, h4, w, offset, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx2 => unsafe { x86::max_dots_avx2(x, s, h4, w, offset, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::AvxVnni => unsafe { x86::max_dots_avx_vnni(x, s, h4, w, offset, acc) },
        _ => portable(x, s, h4, w, offset, acc),
    }
}

fn portable(
    x: &[u32],
    s: &[f32],
    h4: usize,
    w: &[u32],
    offset: &[i32; PAIR],
    acc: &mut [f32; PAIR],
) {
    for (t, &st) in s.iter().enumerate() {
        let row = &x[t * h4..(t + 1) * h4];
        for (j, a) in acc.iter_mut().enumerate() {
            let (p, lane) = (j / LANES, j % LANES);
            let mut dot = 0i32;
            for (k, &xw) in row.iter().enumerate() {
                let ww = w[(p * h4 + k) * LANES + lane];
                for b in 0..4 {
                    let xa = (xw >> (8 * b)) as u8 as i32;
                    let wb = (ww >> (8 * b)) as u8 as i8 as i32;
                    dot += xa * wb;
                }
            }
            *a = a.max((dot - offset[j]) as f32 * st);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{LANES, PAIR};

    /// Blocks of 8 tokens x 2 panels (16 integer accumulators); a short
    /// last block repeats its last token, which cannot change a max. The
    /// VNNI kernel's `vpdpbusd` makes the same sums as the BW kernel's
    /// `vpmaddubsw` + `vpmaddwd` + `vpaddd` (7-bit weights keep the 16-bit
    /// pairs exact).
    macro_rules! kernel_512 {
        ($name:ident, $features:literal, |$a:ident, $x:ident, $w:ident, $ones:ident| $step:expr) => {
            /// # Safety
            /// The CPU must support the target features; `x` holds
            /// `s.len() * h4` words, `w` `2 * h4 * LANES`.
            #[target_feature(enable = $features)]
            pub unsafe fn $name(
                x: &[u32],
                s: &[f32],
                h4: usize,
                w: &[u32],
                offset: &[i32; PAIR],
                acc: &mut [f32; PAIR],
            ) {
                const T: usize = 8;
                let count = s.len();
                let (p0, p1) = (w.as_ptr(), unsafe { w.as_ptr().add(h4 * LANES) });
                let $ones = _mm512_set1_epi16(1);
                let off = unsafe {
                    [
                        _mm512_loadu_si512(offset.as_ptr().cast()),
                        _mm512_loadu_si512(offset.as_ptr().add(LANES).cast()),
                    ]
                };
                let mut m = unsafe {
                    [
                        _mm512_loadu_ps(acc.as_ptr()),
                        _mm512_loadu_ps(acc.as_ptr().add(LANES)),
                    ]
                };
                let mut first = 0;
                while first < count {
                    let idx: [usize; T] = std::array::from_fn(|i| (first + i).min(count - 1));
                    let r: [*const u32; T] =
                        std::array::from_fn(|i| unsafe { x.as_ptr().add(idx[i] * h4) });
                    let mut a = [[_mm512_setzero_si512(); 2]; T];
                    for k in 0..h4 {
                        // SAFETY: k < h4 keeps panel offsets below h4 * LANES
                        // and row offsets below h4.
                        let w0 = unsafe { _mm512_loadu_si512(p0.add(k * LANES).cast()) };
                        let w1 = unsafe { _mm512_loadu_si512(p1.add(k * LANES).cast()) };
                        for i in 0..T {
                            let $x = _mm512_set1_epi32(unsafe { *r[i].add(k) } as i32);
                            for (p, $w) in [(0, w0), (1, w1)] {
                                let $a = a[i][p];
                                a[i][p] = $step;
                            }
                        }
                    }
                    for (i, block) in a.into_iter().enumerate() {
                        let st = _mm512_set1_ps(s[idx[i]]);
                        for p in 0..2 {
                            let d = _mm512_cvtepi32_ps(_mm512_sub_epi32(block[p], off[p]));
                            m[p] = _mm512_max_ps(m[p], _mm512_mul_ps(d, st));
                        }
                    }
                    first += T;
                }
                unsafe {
                    _mm512_storeu_ps(acc.as_mut_ptr(), m[0]);
                    _mm512_storeu_ps(acc.as_mut_ptr().add(LANES), m[1]);
                }
            }
        };
    }

    kernel_512!(
        max_dots_vnni,
        "avx512f,avx512bw,avx512vnni",
        |a, x, w, ones| {
            let _ = ones;
            _mm512_dpbusd_epi32(a, x, w)
        }
    );
    kernel_512!(max_dots_bw, "avx512f,avx512bw", |a, x, w, ones| {
        _mm512_add_epi32(a, _mm512_madd_epi16(_mm512_maddubs_epi16(x, w), ones))
    });

    /// 256-bit registers: for each panel, blocks of 6 tokens x 16 rows (two
    /// registers). AVX-VNNI's `vpdpbusd` makes the same sums as AVX2's
    /// `vpmaddubsw` + `vpmaddwd` + `vpaddd`, as on 512-bit registers.
    macro_rules! kernel_256 {
        ($name:ident, $features:literal, |$a:ident, $x:ident, $w:ident, $ones:ident| $step:expr) => {
            /// # Safety
            /// The CPU must support the target features; sizes as for the
            /// AVX-512 kernels.
            #[target_feature(enable = $features)]
            pub unsafe fn $name(
                x: &[u32],
                s: &[f32],
                h4: usize,
                w: &[u32],
                offset: &[i32; PAIR],
                acc: &mut [f32; PAIR],
            ) {
                const T: usize = 6;
                let count = s.len();
                let $ones = _mm256_set1_epi16(1);
                for p in 0..2 {
                    let panel = unsafe { w.as_ptr().add(p * h4 * LANES) };
                    let out = unsafe { acc.as_mut_ptr().add(p * LANES) };
                    let off = unsafe {
                        [
                            _mm256_loadu_si256(offset.as_ptr().add(p * LANES).cast()),
                            _mm256_loadu_si256(offset.as_ptr().add(p * LANES + 8).cast()),
                        ]
                    };
                    let mut m = unsafe { [_mm256_loadu_ps(out), _mm256_loadu_ps(out.add(8))] };
                    let mut first = 0;
                    while first < count {
                        let idx: [usize; T] = std::array::from_fn(|i| (first + i).min(count - 1));
                        let r: [*const u32; T] =
                            std::array::from_fn(|i| unsafe { x.as_ptr().add(idx[i] * h4) });
                        let mut a = [[_mm256_setzero_si256(); 2]; T];
                        for k in 0..h4 {
                            // SAFETY: k < h4 keeps every offset in bounds.
                            let w0 = unsafe { _mm256_loadu_si256(panel.add(k * LANES).cast()) };
                            let w1 = unsafe { _mm256_loadu_si256(panel.add(k * LANES + 8).cast()) };
                            for i in 0..T {
                                let $x = _mm256_set1_epi32(unsafe { *r[i].add(k) } as i32);
                                for (half, $w) in [(0, w0), (1, w1)] {
                                    let $a = a[i][half];
                                    a[i][half] = $step;
                                }
                            }
                        }
                        for (i, block) in a.into_iter().enumerate() {
                            let st = _mm256_set1_ps(s[idx[i]]);
                            for half in 0..2 {
                                let d =
                                    _mm256_cvtepi32_ps(_mm256_sub_epi32(block[half], off[half]));
                                m[half] = _mm256_max_ps(m[half], _mm256_mul_ps(d, st));
                            }
                        }
                        first += T;
                    }
                    unsafe {
                        _mm256_storeu_ps(out, m[0]);
                        _mm256_storeu_ps(out.add(8), m[1]);
                    }
                }
            }
        };
    }

    kernel_256!(max_dots_avx2, "avx2", |a, x, w, ones| {
        _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones))
    });
    kernel_256!(max_dots_avx_vnni, "avx2,avxvnni", |a, x, w, ones| {
        let _ = ones;
        _mm256_dpbusd_avx_epi32(a, x, w)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::kernel::tests::pseudo_random;

    #[test]
    fn every_kernel_computes_the_same_integer_sums() {
        for h in [4, 13, 24, 128] {
            let weight: Vec<f32> = pseudo_random(2 * PAIR * h, h as u64);
            let panels = Panels::pack(&weight, 2 * PAIR - 5, h);
            for count in [1, 5, 6, 7, 8, 9, 17] {
                let mut x = pseudo_random(count * h, count as u64 + 99);
                x[0] = 3.0; // an outlier component, as BERT's states have
                let rows = Rows::quantize(&x, h).unwrap();
                for start in [0, PAIR] {
                    let mut want = [f32::NEG_INFINITY; PAIR];
                    max_dots(Kernel::Portable, &rows, 0, count, &panels, start, &mut want);
                    for kernel in Kernel::available() {
                        let mut got = [f32::NEG_INFINITY; PAIR];
                        max_dots(kernel, &rows, 0, count, &panels, start, &mut got);
                        let bits = |a: &[f32; PAIR]| a.map(f32::to_bits);
                        assert_eq!(bits(&got), bits(&want), "{kernel:?} h {h} count {count}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_screen_never_rules_out_a_positive_logit() {
        // Random weights and states, biases placed so that many logits sit
        // just above and below zero: the screen must keep every entry whose
        // f32 logit is positive, and rule out most of the clearly negative.
        let (vocab, h) = (PAIR * 8, 48);
        let weight = pseudo_random(vocab * h, 5);
        let panels = Panels::pack(&weight, vocab, h);
        let count = 12;
        let x = pseudo_random(count * h, 6);
        let rows = Rows::quantize(&x, h).unwrap();
        let bound = rows.bound(0, count);
        let (mut kept, mut ruled_out) = (0, 0);
        for start in (0..vocab).step_by(PAIR) {
            let mut acc = [f32::NEG_INFINITY; PAIR];
            max_dots(Kernel::detect(), &rows, 0, count, &panels, start, &mut acc);
            for (j, &a) in acc.iter().enumerate() {
                let v = start + j;
                let exact = (0..count)
                    .map(|t| {
                        (0..h)
                            .map(|k| x[t * h + k] * weight[v * h + k])
                            .sum::<f32>()
                    })
                    .fold(f32::NEG_INFINITY, f32::max);
                // Biases from -2 to +0.5 around the exact max.
                let bias = -exact + (v % 50) as f32 / 20.0 - 2.0;
                let may = bound.may_activate(&panels, v, a * panels.scale[v], bias, h);
                if exact + bias > 0.0 {
                    assert!(may, "row {v}: logit {} ruled out", exact + bias);
                }
                if may { kept += 1 } else { ruled_out += 1 }
            }
        }
        assert!(
            ruled_out > vocab / 2,
            "the screen rules out little: {kept} kept"
        );
    }

    #[test]
    fn quantization_refuses_non_finite_states_and_handles_zero_rows() {
        assert!(Rows::quantize(&[1.0, f32::NAN, 0.0, 0.0], 4).is_none());
        assert!(Rows::quantize(&[1.0, f32::INFINITY, 0.0, 0.0], 4).is_none());
        let rows = Rows::quantize(&[0.0; 8], 4).unwrap();
        assert_eq!(rows.scale, [0.0, 0.0]);
        assert!(rows.words.iter().all(|&w| w == 0x8080_8080));
    }
}
