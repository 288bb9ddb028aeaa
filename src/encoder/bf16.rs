//! Opt-in bfloat16 projection (`--precision bf16`).
//!
//! CPUs with AVX512_BF16 multiply pairs of bf16 values into f32 sums at
//! twice the rate of f32 FMAs (`vdpbf16ps`). Rounding the decoder and the
//! token states to bf16 (8 mantissa bits) changes the vectors by ~1e-2, so
//! this is never the default: the reference parity holds only in f32, and the
//! effect on retrieval is measured in README.
//!
//! Layout: a pair of consecutive hidden components `(2j, 2j + 1)` is one
//! `u32` (low half first), so one 512-bit register holds component pair `j`
//! of 16 vocabulary rows; panels are `[panel][h / 2][LANES]` `u32`s.

use super::kernel::{LANES, PAIR};

/// f32 to bf16 bits, rounding to nearest even. A NaN (a checkpoint may
/// hold one) stays a quiet NaN of its sign: rounding its bits would carry
/// into the exponent (an infinity) or, for a negative NaN, past `u32::MAX`.
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return (bits >> 16) as u16 | 0x0040;
    }
    // No overflow: the largest non-NaN pattern, -inf, is 0xFF80_0000.
    ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) as u16
}

/// bf16 bits back to f32.
pub fn from_bf16(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// True when this CPU has the instructions.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Packs row-major `[rows, h]` f32 into `[rows, h / 2]` bf16 pairs (`h` even).
pub fn pack_rows(x: &[f32], h: usize) -> Vec<u32> {
    x.chunks_exact(h)
        .flat_map(|row| {
            row.chunks_exact(2)
                .map(|p| to_bf16(p[0]) as u32 | (to_bf16(p[1]) as u32) << 16)
        })
        .collect()
}

/// Packs a row-major `[vocab, h]` decoder into bf16 panels, vocabulary
/// padded with zero rows to a multiple of 32 (two panels).
pub fn pack_panels(weight: &[f32], vocab: usize, h: usize) -> Vec<u32> {
    let padded = vocab.div_ceil(PAIR) * PAIR;
    let pairs = h / 2;
    let mut panels = vec![0u32; padded * pairs];
    for v in 0..vocab {
        let (panel, lane) = (v / LANES, v % LANES);
        for j in 0..pairs {
            let (a, b) = (weight[v * h + 2 * j], weight[v * h + 2 * j + 1]);
            panels[(panel * pairs + j) * LANES + lane] =
                to_bf16(a) as u32 | (to_bf16(b) as u32) << 16;
        }
    }
    panels
}

/// `acc[j] = max(acc[j], max_t rows[t] · vocab_row_j)` in bf16 products with
/// f32 sums, for the 32 rows of `panels` (two panels).
pub fn max_dots(rows: &[u32], count: usize, pairs: usize, panels: &[u32], acc: &mut [f32; PAIR]) {
    assert!(count > 0 && rows.len() >= count * pairs && panels.len() >= 2 * pairs * LANES);
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the CPU has avx512f and avx512bf16 (checked just above);
        // the assert bounds every read.
        unsafe { x86::max_dots(rows, count, pairs, panels, acc) };
        return;
    }
    portable(rows, count, pairs, panels, acc);
}

fn portable(rows: &[u32], count: usize, pairs: usize, panels: &[u32], acc: &mut [f32; PAIR]) {
    let half = |u: u32, hi: bool| from_bf16(if hi { (u >> 16) as u16 } else { u as u16 });
    for t in 0..count {
        for (j, a) in acc.iter_mut().enumerate() {
            let (p, lane) = (j / LANES, j % LANES);
            let mut dot = 0f32;
            for k in 0..pairs {
                let x = rows[t * pairs + k];
                let w = panels[(p * pairs + k) * LANES + lane];
                dot += half(x, false) * half(w, false) + half(x, true) * half(w, true);
            }
            *a = a.max(dot);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{LANES, PAIR};

    /// Blocks of 8 tokens x 2 panels, 16 accumulators, `vdpbf16ps`.
    ///
    /// # Safety
    /// The CPU must support avx512f and avx512bf16; `rows` must hold
    /// `count * pairs` and `panels` `2 * pairs * LANES` values.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn max_dots(
        rows: &[u32],
        count: usize,
        pairs: usize,
        panels: &[u32],
        acc: &mut [f32; PAIR],
    ) {
        const T: usize = 8;
        let p0 = panels.as_ptr();
        let p1 = unsafe { p0.add(pairs * LANES) };
        let mut m = unsafe {
            [
                _mm512_loadu_ps(acc.as_ptr()),
                _mm512_loadu_ps(acc.as_ptr().add(LANES)),
            ]
        };
        let mut first = 0;
        while first < count {
            let r: [*const u32; T] = std::array::from_fn(|i| unsafe {
                rows.as_ptr().add((first + i).min(count - 1) * pairs)
            });
            let mut a = [[_mm512_setzero_ps(); 2]; T];
            for k in 0..pairs {
                // SAFETY: k < pairs keeps panel offsets below pairs * LANES
                // and row offsets below pairs.
                let w0: __m512bh =
                    unsafe { std::mem::transmute(_mm512_loadu_si512(p0.add(k * LANES).cast())) };
                let w1: __m512bh =
                    unsafe { std::mem::transmute(_mm512_loadu_si512(p1.add(k * LANES).cast())) };
                for i in 0..T {
                    let x: __m512bh =
                        unsafe { std::mem::transmute(_mm512_set1_epi32(*r[i].add(k) as i32)) };
                    a[i][0] = _mm512_dpbf16_ps(a[i][0], x, w0);
                    a[i][1] = _mm512_dpbf16_ps(a[i][1], x, w1);
                }
            }
            for block in a {
                m[0] = _mm512_max_ps(m[0], block[0]);
                m[1] = _mm512_max_ps(m[1], block[1]);
            }
            first += T;
        }
        unsafe {
            _mm512_storeu_ps(acc.as_mut_ptr(), m[0]);
            _mm512_storeu_ps(acc.as_mut_ptr().add(LANES), m[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_nearest() {
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        let x = 1.0 + 1.0 / 300.0;
        assert!((from_bf16(to_bf16(x)) - x).abs() <= x / 256.0);
    }

    #[test]
    fn nans_stay_nans_of_their_sign_and_infinities_stay_infinite() {
        for nan in [
            f32::NAN,
            -f32::NAN,
            f32::from_bits(u32::MAX),
            f32::from_bits(0x7F80_0001),
            f32::from_bits(0xFF80_0001),
            f32::from_bits(0x7FFF_FFFF),
        ] {
            let b = from_bf16(to_bf16(nan));
            assert!(b.is_nan(), "{:#x} gave {:#x}", nan.to_bits(), b.to_bits());
            assert_eq!(b.is_sign_negative(), nan.is_sign_negative());
        }
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
        assert_eq!(from_bf16(to_bf16(f32::NEG_INFINITY)), f32::NEG_INFINITY);
        assert_eq!(
            from_bf16(to_bf16(f32::MAX)),
            f32::INFINITY,
            "rounds up past the top"
        );
        assert_eq!(from_bf16(to_bf16(-0.0)).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn kernel_equals_bf16_products_summed_in_f32() {
        let h = 24;
        let vals = |n: usize, seed: u32| -> Vec<f32> {
            (0..n)
                .map(|i| {
                    ((((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0) - 1.0
                })
                .collect()
        };
        let weight = vals(PAIR * h, 7);
        let panels = pack_panels(&weight, PAIR, h);
        for count in [1, 7, 8, 9, 20] {
            let x = vals(count * h, count as u32);
            let rows = pack_rows(&x, h);
            let mut got = [f32::NEG_INFINITY; PAIR];
            max_dots(&rows, count, h / 2, &panels, &mut got);
            let mut want = [f32::NEG_INFINITY; PAIR];
            portable(&rows, count, h / 2, &panels, &mut want);
            for j in 0..PAIR {
                assert!(
                    (got[j] - want[j]).abs() < 1e-4,
                    "count {count} lane {j}: {} vs {}",
                    got[j],
                    want[j]
                );
                // And close to the f32 definition, within bf16 rounding.
                let exact = (0..count)
                    .map(|t| {
                        (0..h)
                            .map(|k| x[t * h + k] * weight[j * h + k])
                            .sum::<f32>()
                    })
                    .fold(f32::NEG_INFINITY, f32::max);
                assert!(
                    (got[j] - exact).abs() < 0.05,
                    "lane {j}: {} vs {exact}",
                    got[j]
                );
            }
        }
    }
}
