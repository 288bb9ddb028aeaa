//! The projection kernel: max over tokens of dot products with 32
//! vocabulary rows, without storing the products.
//!
//! `rows` holds `count` token states of width `h`; `panels` holds two
//! panels of [`LANES`] vocabulary rows each, laid out `[panel][k][LANES]`, so
//! that one vector load at step `k` reads component `k` of 16 vocabulary
//! rows. Tokens are taken in blocks of 8 (AVX-512) or 6 (AVX2); a short last
//! block repeats its last token, which cannot change a max. Dispatch is
//! decided once, at run time, from the CPU's features.
//!
//! [`Kernel::max_dots_rows`] computes the same from 32 rows of the
//! row-major `[vocab, hidden]` matrix as the checkpoint stores it, reading
//! component `k` of 16 rows with one gather: slower per token, but it needs
//! no packed copy, so a process that encodes one query never builds one
//! (see `pool`). Each kernel's two forms run the same multiply-adds in the
//! same order, so their results are equal bit for bit.

/// Vocabulary rows per panel (one AVX-512 register of f32).
pub const LANES: usize = 16;
/// Vocabulary rows per kernel call: two panels.
pub const PAIR: usize = 2 * LANES;

/// Which implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// 512-bit registers, 8 tokens x 32 rows per step.
    Avx512,
    /// 256-bit registers with FMA, 6 tokens x 16 rows per step.
    Avx2,
    /// Plain Rust, any CPU.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var_os("SPLADE_NO_AVX512").is_none() && is_x86_feature_detected!("avx512f")
            {
                return Kernel::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// Every kernel this CPU can run (for tests).
    #[cfg(test)]
    pub fn available() -> Vec<Kernel> {
        let mut all = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                all.push(Kernel::Avx2);
            }
            if is_x86_feature_detected!("avx512f") {
                all.push(Kernel::Avx512);
            }
        }
        all
    }

    /// `acc[j] = max(acc[j], max_t rows[t] · vocab_row_j)` for the 32 rows
    /// of `panels`.
    pub fn max_dots(
        self,
        rows: &[f32],
        count: usize,
        h: usize,
        panels: &[f32],
        acc: &mut [f32; PAIR],
    ) {
        assert!(count > 0 && rows.len() >= count * h && panels.len() >= 2 * h * LANES);
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx512` is only chosen when the CPU reports avx512f
            // (`detect`/`available`), and the assert above bounds every read.
            Kernel::Avx512 => unsafe { x86::max_dots_avx512(rows, count, h, panels, acc) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, for avx2 + fma.
            Kernel::Avx2 => unsafe { x86::max_dots_avx2(rows, count, h, panels, acc) },
            _ => portable(rows, count, h, panels, acc),
        }
    }
}

impl Kernel {
    /// [`max_dots`](Self::max_dots) with the 32 vocabulary rows read from
    /// `weight`, row-major `[32][h]`; equal to it bit for bit.
    pub fn max_dots_rows(
        self,
        rows: &[f32],
        count: usize,
        h: usize,
        weight: &[f32],
        acc: &mut [f32; PAIR],
    ) {
        assert!(count > 0 && rows.len() >= count * h && weight.len() >= PAIR * h);
        // Gather offsets are i32 element counts: 31 * h must fit.
        assert!(h < (i32::MAX as usize) / PAIR, "hidden size {h} too large");
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as for `max_dots`; the asserts bound every gather.
            Kernel::Avx512 => unsafe { x86::max_dots_rows_avx512(rows, count, h, weight, acc) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, for avx2 + fma.
            Kernel::Avx2 => unsafe { x86::max_dots_rows_avx2(rows, count, h, weight, acc) },
            _ => portable_rows(rows, count, h, weight, acc),
        }
    }
}

fn portable_rows(rows: &[f32], count: usize, h: usize, weight: &[f32], acc: &mut [f32; PAIR]) {
    for t in 0..count {
        let row = &rows[t * h..(t + 1) * h];
        let mut dots = [0f32; PAIR];
        for (k, &x) in row.iter().enumerate() {
            for (j, d) in dots.iter_mut().enumerate() {
                *d += x * weight[j * h + k];
            }
        }
        for (a, d) in acc.iter_mut().zip(dots) {
            *a = a.max(d);
        }
    }
}

fn portable(rows: &[f32], count: usize, h: usize, panels: &[f32], acc: &mut [f32; PAIR]) {
    for t in 0..count {
        let row = &rows[t * h..(t + 1) * h];
        let mut dots = [0f32; PAIR];
        for (k, &x) in row.iter().enumerate() {
            for p in 0..2 {
                let w = &panels[(p * h + k) * LANES..(p * h + k + 1) * LANES];
                for (d, &wv) in dots[p * LANES..(p + 1) * LANES].iter_mut().zip(w) {
                    *d += x * wv;
                }
            }
        }
        for (a, d) in acc.iter_mut().zip(dots) {
            *a = a.max(d);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{LANES, PAIR};

    /// AVX-512: blocks of 8 tokens x 2 panels (16 accumulators); a tail of
    /// at most 4 tokens takes a 4-token block.
    ///
    /// # Safety
    /// The CPU must support avx512f; `rows` must hold `count * h` floats and
    /// `panels` `2 * h * LANES` (checked by the caller).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn max_dots_avx512(
        rows: &[f32],
        count: usize,
        h: usize,
        panels: &[f32],
        acc: &mut [f32; PAIR],
    ) {
        let mut m = unsafe {
            [
                _mm512_loadu_ps(acc.as_ptr()),
                _mm512_loadu_ps(acc.as_ptr().add(LANES)),
            ]
        };
        let mut first = 0;
        while first < count {
            if count - first <= 4 {
                unsafe { block_avx512::<4>(rows, first, count, h, panels, &mut m) };
            } else {
                unsafe { block_avx512::<8>(rows, first, count, h, panels, &mut m) };
            }
            first += if count - first <= 4 { 4 } else { 8 };
        }
        unsafe {
            _mm512_storeu_ps(acc.as_mut_ptr(), m[0]);
            _mm512_storeu_ps(acc.as_mut_ptr().add(LANES), m[1]);
        }
    }

    /// One block of `T` tokens from `first` (the last token repeated past
    /// `count`), folded into the maxima `m`.
    ///
    /// # Safety
    /// As for [`max_dots_avx512`], with `first < count`.
    #[target_feature(enable = "avx512f")]
    unsafe fn block_avx512<const T: usize>(
        rows: &[f32],
        first: usize,
        count: usize,
        h: usize,
        panels: &[f32],
        m: &mut [__m512; 2],
    ) {
        let (p0, p1) = (panels.as_ptr(), unsafe { panels.as_ptr().add(h * LANES) });
        // Row pointers, the last repeated to fill the block.
        let r: [*const f32; T] =
            std::array::from_fn(|i| unsafe { rows.as_ptr().add((first + i).min(count - 1) * h) });
        let mut a = [[_mm512_setzero_ps(); 2]; T];
        for k in 0..h {
            // SAFETY: k < h, so panel offsets stay below h * LANES and row
            // offsets below h.
            let w0 = unsafe { _mm512_loadu_ps(p0.add(k * LANES)) };
            let w1 = unsafe { _mm512_loadu_ps(p1.add(k * LANES)) };
            for i in 0..T {
                let x = _mm512_set1_ps(unsafe { *r[i].add(k) });
                a[i][0] = _mm512_fmadd_ps(x, w0, a[i][0]);
                a[i][1] = _mm512_fmadd_ps(x, w1, a[i][1]);
            }
        }
        for block in a {
            m[0] = _mm512_max_ps(m[0], block[0]);
            m[1] = _mm512_max_ps(m[1], block[1]);
        }
    }

    /// [`max_dots_avx512`] reading row-major rows: component `k` of 16
    /// rows is one gather at stride `h`.
    ///
    /// # Safety
    /// The CPU must support avx512f; `rows` must hold `count * h` floats,
    /// `weight` `32 * h`, and `32 * h` must fit an i32 (checked by the
    /// caller).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn max_dots_rows_avx512(
        rows: &[f32],
        count: usize,
        h: usize,
        weight: &[f32],
        acc: &mut [f32; PAIR],
    ) {
        let stride: [i32; LANES] = std::array::from_fn(|j| (j * h) as i32);
        let offsets = unsafe { _mm512_loadu_si512(stride.as_ptr().cast()) };
        let mut m = unsafe {
            [
                _mm512_loadu_ps(acc.as_ptr()),
                _mm512_loadu_ps(acc.as_ptr().add(LANES)),
            ]
        };
        let mut first = 0;
        while first < count {
            let step = if count - first <= 4 { 4 } else { 8 };
            if step == 4 {
                unsafe { rows_block_avx512::<4>(rows, first, count, h, weight, offsets, &mut m) };
            } else {
                unsafe { rows_block_avx512::<8>(rows, first, count, h, weight, offsets, &mut m) };
            }
            first += step;
        }
        unsafe {
            _mm512_storeu_ps(acc.as_mut_ptr(), m[0]);
            _mm512_storeu_ps(acc.as_mut_ptr().add(LANES), m[1]);
        }
    }

    /// [`block_avx512`] with gathered weights.
    ///
    /// # Safety
    /// As for [`max_dots_rows_avx512`], with `first < count`.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_block_avx512<const T: usize>(
        rows: &[f32],
        first: usize,
        count: usize,
        h: usize,
        weight: &[f32],
        offsets: __m512i,
        m: &mut [__m512; 2],
    ) {
        let (p0, p1) = (weight.as_ptr(), unsafe { weight.as_ptr().add(LANES * h) });
        let r: [*const f32; T] =
            std::array::from_fn(|i| unsafe { rows.as_ptr().add((first + i).min(count - 1) * h) });
        let mut a = [[_mm512_setzero_ps(); 2]; T];
        for k in 0..h {
            // SAFETY: lane j reads row j (of 16) at column k < h: below
            // 16 * h from each panel's start.
            let w0 = unsafe { _mm512_i32gather_ps::<4>(offsets, p0.add(k).cast()) };
            let w1 = unsafe { _mm512_i32gather_ps::<4>(offsets, p1.add(k).cast()) };
            for i in 0..T {
                let x = _mm512_set1_ps(unsafe { *r[i].add(k) });
                a[i][0] = _mm512_fmadd_ps(x, w0, a[i][0]);
                a[i][1] = _mm512_fmadd_ps(x, w1, a[i][1]);
            }
        }
        for block in a {
            m[0] = _mm512_max_ps(m[0], block[0]);
            m[1] = _mm512_max_ps(m[1], block[1]);
        }
    }

    /// [`max_dots_avx2`] reading row-major rows (8-lane gathers).
    ///
    /// # Safety
    /// The CPU must support avx2 and fma; sizes as for the AVX-512 form.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn max_dots_rows_avx2(
        rows: &[f32],
        count: usize,
        h: usize,
        weight: &[f32],
        acc: &mut [f32; PAIR],
    ) {
        const T: usize = 6;
        let stride: [i32; 8] = std::array::from_fn(|j| (j * h) as i32);
        let offsets = unsafe { _mm256_loadu_si256(stride.as_ptr().cast()) };
        for p in 0..2 {
            let panel = unsafe { weight.as_ptr().add(p * LANES * h) };
            let upper = unsafe { panel.add(8 * h) };
            let out = unsafe { acc.as_mut_ptr().add(p * LANES) };
            let mut m0 = unsafe { _mm256_loadu_ps(out) };
            let mut m1 = unsafe { _mm256_loadu_ps(out.add(8)) };
            let mut first = 0;
            while first < count {
                let r: [*const f32; T] = std::array::from_fn(|i| unsafe {
                    rows.as_ptr().add((first + i).min(count - 1) * h)
                });
                let mut a = [[_mm256_setzero_ps(); 2]; T];
                for k in 0..h {
                    // SAFETY: lane j reads row j (of 8) at column k < h.
                    let w0 = unsafe { _mm256_i32gather_ps::<4>(panel.add(k).cast(), offsets) };
                    let w1 = unsafe { _mm256_i32gather_ps::<4>(upper.add(k).cast(), offsets) };
                    for i in 0..T {
                        let x = _mm256_set1_ps(unsafe { *r[i].add(k) });
                        a[i][0] = _mm256_fmadd_ps(x, w0, a[i][0]);
                        a[i][1] = _mm256_fmadd_ps(x, w1, a[i][1]);
                    }
                }
                for block in a {
                    m0 = _mm256_max_ps(m0, block[0]);
                    m1 = _mm256_max_ps(m1, block[1]);
                }
                first += T;
            }
            unsafe {
                _mm256_storeu_ps(out, m0);
                _mm256_storeu_ps(out.add(8), m1);
            }
        }
    }

    /// AVX2 + FMA: for each panel, blocks of 6 tokens x 16 rows.
    ///
    /// # Safety
    /// The CPU must support avx2 and fma; sizes as for the AVX-512 kernel.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn max_dots_avx2(
        rows: &[f32],
        count: usize,
        h: usize,
        panels: &[f32],
        acc: &mut [f32; PAIR],
    ) {
        const T: usize = 6;
        for p in 0..2 {
            let panel = unsafe { panels.as_ptr().add(p * h * LANES) };
            let out = unsafe { acc.as_mut_ptr().add(p * LANES) };
            let mut m0 = unsafe { _mm256_loadu_ps(out) };
            let mut m1 = unsafe { _mm256_loadu_ps(out.add(8)) };
            let mut first = 0;
            while first < count {
                let r: [*const f32; T] = std::array::from_fn(|i| unsafe {
                    rows.as_ptr().add((first + i).min(count - 1) * h)
                });
                let mut a = [[_mm256_setzero_ps(); 2]; T];
                for k in 0..h {
                    // SAFETY: k < h keeps every offset in bounds.
                    let w0 = unsafe { _mm256_loadu_ps(panel.add(k * LANES)) };
                    let w1 = unsafe { _mm256_loadu_ps(panel.add(k * LANES + 8)) };
                    for i in 0..T {
                        let x = _mm256_set1_ps(unsafe { *r[i].add(k) });
                        a[i][0] = _mm256_fmadd_ps(x, w0, a[i][0]);
                        a[i][1] = _mm256_fmadd_ps(x, w1, a[i][1]);
                    }
                }
                for block in a {
                    m0 = _mm256_max_ps(m0, block[0]);
                    m1 = _mm256_max_ps(m1, block[1]);
                }
                first += T;
            }
            unsafe {
                _mm256_storeu_ps(out, m0);
                _mm256_storeu_ps(out.add(8), m1);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic values in [-0.5, 0.5) for kernel tests.
    pub(crate) fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
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

    /// `panels` (`[2][h][LANES]`) as the 32 row-major rows they pack.
    fn unpack(panels: &[f32], h: usize) -> Vec<f32> {
        let mut weight = vec![0f32; PAIR * h];
        for j in 0..PAIR {
            let (p, lane) = (j / LANES, j % LANES);
            for k in 0..h {
                weight[j * h + k] = panels[(p * h + k) * LANES + lane];
            }
        }
        weight
    }

    #[test]
    fn row_major_kernels_equal_the_packed_ones_bit_for_bit() {
        for h in [1, 16, 24, 128] {
            let panels = pseudo_random(2 * h * LANES, h as u64);
            let weight = unpack(&panels, h);
            for count in [1, 3, 4, 5, 6, 7, 8, 9, 13, 17] {
                let rows = pseudo_random(count * h, 100 + count as u64);
                for kernel in Kernel::available() {
                    let mut packed = [f32::NEG_INFINITY; PAIR];
                    let mut in_place = packed;
                    kernel.max_dots(&rows, count, h, &panels, &mut packed);
                    kernel.max_dots_rows(&rows, count, h, &weight, &mut in_place);
                    assert_eq!(
                        packed.map(f32::to_bits),
                        in_place.map(f32::to_bits),
                        "{kernel:?} h {h} count {count}"
                    );
                    assert!(packed.iter().all(|m| m.is_finite()), "{kernel:?}: it ran");
                }
            }
        }
    }

    #[test]
    fn every_kernel_equals_the_definition() {
        let h = 24;
        let panels = pseudo_random(2 * h * LANES, 7);
        for count in [1, 5, 6, 7, 8, 9, 17] {
            let rows = pseudo_random(count * h, count as u64);
            let mut want = [f32::NEG_INFINITY; PAIR];
            for (j, w) in want.iter_mut().enumerate() {
                let (p, lane) = (j / LANES, j % LANES);
                for t in 0..count {
                    let dot: f32 = (0..h)
                        .map(|k| rows[t * h + k] * panels[(p * h + k) * LANES + lane])
                        .sum();
                    *w = w.max(dot);
                }
            }
            for kernel in Kernel::available() {
                let mut acc = [f32::NEG_INFINITY; PAIR];
                kernel.max_dots(&rows, count, h, &panels, &mut acc);
                for j in 0..PAIR {
                    assert!(
                        (acc[j] - want[j]).abs() < 1e-5,
                        "{kernel:?} count {count} lane {j}"
                    );
                }
            }
        }
    }
}
