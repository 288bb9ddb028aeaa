//! The projection kernel: max over tokens of dot products with 32
//! vocabulary rows, without storing the products.
//!
//! `rows` holds `count` token states of width `h`; `panels` holds two
//! panels of [`LANES`] vocabulary rows each, laid out `[panel][k][LANES]`, so
//! that one vector load at step `k` reads component `k` of 16 vocabulary
//! rows. Tokens are taken in blocks of 8 (AVX-512) or 6 (AVX2); a short last
//! block repeats its last token, which cannot change a max. Dispatch is
//! decided once, at run time, from the CPU's features.

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

/// Packs 32 row-major vocabulary rows (`rows`: `[32][h]`) into the two
/// panels the kernels read (`out`: `[2][h][LANES]`): a transposition, by
/// 16 x 16 blocks in registers where the CPU has AVX-512 (packing is on
/// the path of every query, see `pool`).
pub fn pack_pair(rows: &[f32], h: usize, out: &mut [f32]) {
    assert!(rows.len() >= PAIR * h && out.len() >= PAIR * h);
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: avx512f is present; the assert bounds every access.
        unsafe { x86::pack_pair_avx512(rows, h, out) };
        pack_columns(rows, h, out, h / LANES * LANES);
        return;
    }
    pack_columns(rows, h, out, 0);
}

/// `m` (`rows x cols`, row-major) transposed into `out` (`cols x rows`):
/// the BERT layers' weights at load. By 16 x 16 blocks in registers where
/// the CPU has AVX-512; the edges, and other CPUs, by 32 x 32 tiles of
/// scalar copies. (The scalar tiles alone took 12-16 ms of a BERT-Mini-shaped
/// cold search's 30: `SPLADE_PROFILE=1`, "model weights: bert".)
pub fn transpose(m: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    assert!(m.len() >= rows * cols && out.len() >= rows * cols);
    let (mut full_rows, mut full_cols) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        (full_rows, full_cols) = (rows / LANES * LANES, cols / LANES * LANES);
        // SAFETY: avx512f is present; the assert bounds every access.
        unsafe { x86::transpose_blocks_avx512(m, rows, cols, full_rows, full_cols, out) };
    }
    // What the blocks left: the columns right of them, then the rows below.
    transpose_tiles(m, rows, cols, 0..full_rows, full_cols..cols, out);
    transpose_tiles(m, rows, cols, full_rows..rows, 0..cols, out);
}

/// [`transpose`] of the part `rs x cs` of `m`, by 32 x 32 tiles.
fn transpose_tiles(
    m: &[f32],
    rows: usize,
    cols: usize,
    rs: std::ops::Range<usize>,
    cs: std::ops::Range<usize>,
    out: &mut [f32],
) {
    const TILE: usize = 32;
    for r0 in rs.clone().step_by(TILE) {
        for c0 in cs.clone().step_by(TILE) {
            for r in r0..(r0 + TILE).min(rs.end) {
                for c in c0..(c0 + TILE).min(cs.end) {
                    out[c * rows + r] = m[r * cols + c];
                }
            }
        }
    }
}

/// [`pack_pair`] for the columns `from..h`, one float at a time.
fn pack_columns(rows: &[f32], h: usize, out: &mut [f32], from: usize) {
    for (j, row) in rows.chunks_exact(h).take(PAIR).enumerate() {
        let (panel, lane) = (j / LANES, j % LANES);
        let base = panel * h * LANES + lane;
        for (k, &w) in row.iter().enumerate().skip(from) {
            out[base + k * LANES] = w;
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

    /// [`super::pack_pair`] for the columns below `h / 16 * 16`: each
    /// 16 x 16 block (16 rows, 16 columns) transposed in registers.
    ///
    /// # Safety
    /// The CPU must support avx512f; `rows` must hold `32 * h` floats and
    /// `out` as many.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn pack_pair_avx512(rows: &[f32], h: usize, out: &mut [f32]) {
        for panel in 0..2 {
            for k0 in (0..h / LANES * LANES).step_by(LANES) {
                // SAFETY: row panel * 16 + j < 32, columns k0..k0 + 16 <= h.
                let r: [__m512; 16] = std::array::from_fn(|j| unsafe {
                    _mm512_loadu_ps(rows.as_ptr().add((panel * LANES + j) * h + k0))
                });
                let v = transpose16(r);
                for (c, v) in v.into_iter().enumerate() {
                    // SAFETY: (panel * h + k0 + c) * 16 + 16 <= 32 * h.
                    unsafe {
                        _mm512_storeu_ps(out.as_mut_ptr().add((panel * h + k0 + c) * LANES), v)
                    };
                }
            }
        }
    }

    /// [`super::transpose`] of the top-left `full_rows x full_cols` of `m`
    /// (both multiples of 16), one 16 x 16 block at a time.
    ///
    /// # Safety
    /// The CPU must support avx512f; `m` and `out` must hold `rows * cols`
    /// floats, `full_rows <= rows` and `full_cols <= cols`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn transpose_blocks_avx512(
        m: &[f32],
        rows: usize,
        cols: usize,
        full_rows: usize,
        full_cols: usize,
        out: &mut [f32],
    ) {
        for r0 in (0..full_rows).step_by(LANES) {
            for c0 in (0..full_cols).step_by(LANES) {
                // SAFETY: rows r0..r0 + 16 <= rows, columns c0..c0 + 16 <= cols.
                let r: [__m512; 16] = std::array::from_fn(|j| unsafe {
                    _mm512_loadu_ps(m.as_ptr().add((r0 + j) * cols + c0))
                });
                for (c, v) in transpose16(r).into_iter().enumerate() {
                    // SAFETY: (c0 + c) * rows + r0 + 16 <= cols * rows.
                    unsafe { _mm512_storeu_ps(out.as_mut_ptr().add((c0 + c) * rows + r0), v) };
                }
            }
        }
    }

    /// `out[c]` holds component `c` of the 16 vectors of `r`.
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        // Pairs of rows interleaved within each 128-bit lane l:
        // t[2i] = (r2i[4l], r2i+1[4l], r2i[4l+1], r2i+1[4l+1]), t[2i+1] the
        // same for columns 4l+2 and 4l+3.
        let t: [__m512; 16] = std::array::from_fn(|n| {
            let (a, b) = (r[n / 2 * 2], r[n / 2 * 2 + 1]);
            if n % 2 == 0 {
                _mm512_unpacklo_ps(a, b)
            } else {
                _mm512_unpackhi_ps(a, b)
            }
        });
        // u[4i + c], lane l: rows 4i..4i+4 at column 4l + c.
        let u: [__m512; 16] = std::array::from_fn(|n| {
            let (i, c) = (n / 4, n % 4);
            let (a, b) = (t[4 * i + c / 2], t[4 * i + 2 + c / 2]);
            if c % 2 == 0 {
                _mm512_shuffle_ps::<0x44>(a, b)
            } else {
                _mm512_shuffle_ps::<0xEE>(a, b)
            }
        });
        // Column 4l + c gathers lane l of u[c], u[4 + c], u[8 + c], u[12 + c].
        let mut v = [_mm512_setzero_ps(); 16];
        for c in 0..4 {
            let a = _mm512_shuffle_f32x4::<0x44>(u[c], u[4 + c]);
            let b = _mm512_shuffle_f32x4::<0xEE>(u[c], u[4 + c]);
            let x = _mm512_shuffle_f32x4::<0x44>(u[8 + c], u[12 + c]);
            let d = _mm512_shuffle_f32x4::<0xEE>(u[8 + c], u[12 + c]);
            v[c] = _mm512_shuffle_f32x4::<0x88>(a, x);
            v[4 + c] = _mm512_shuffle_f32x4::<0xDD>(a, x);
            v[8 + c] = _mm512_shuffle_f32x4::<0x88>(b, d);
            v[12 + c] = _mm512_shuffle_f32x4::<0xDD>(b, d);
        }
        v
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

    #[test]
    fn transpose_swaps_rows_and_columns() {
        for (rows, cols) in [(1, 1), (3, 70), (16, 16), (64, 33), (47, 128), (128, 512)] {
            let m: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let mut t = vec![f32::NAN; rows * cols];
            transpose(&m, rows, cols, &mut t);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], m[r * cols + c], "{rows} x {cols}");
                }
            }
        }
    }

    #[test]
    fn pack_pair_lays_rows_out_as_panels() {
        for h in [1, 3, 16, 24, 32, 128, 131] {
            let rows: Vec<f32> = (0..PAIR * h).map(|i| i as f32).collect();
            let mut out = vec![f32::NAN; PAIR * h];
            pack_pair(&rows, h, &mut out);
            for j in 0..PAIR {
                for k in 0..h {
                    let (p, lane) = (j / LANES, j % LANES);
                    assert_eq!(out[(p * h + k) * LANES + lane], rows[j * h + k], "h {h}");
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
