//! The multiply-add peak of one core for the instruction mixes of the
//! projection kernels, measured rather than read off a datasheet (README
//! "Encoding speed" quotes the kernels' rates against it).
//!
//! Each loop keeps 16 independent accumulators in registers (no memory
//! traffic, no dependency stalls), so it runs at the rate the CPU's ports
//! allow: f32 `vfmadd` (16 multiply-adds per instruction), int8
//! `vpmaddubsw` + `vpmaddwd` + `vpaddd` (64 per three instructions, the
//! AVX512BW screen), and `vpdpbusd` (64 per instruction, AVX512_VNNI, where
//! present). Single thread; multiply by the cores for the machine.
//!
//! `cargo bench --bench mac_peak`

use std::time::Instant;

const STEPS: usize = 20_000_000;

fn main() {
    #[cfg(target_arch = "x86_64")]
    {
        if !is_x86_feature_detected!("avx512bw") {
            eprintln!("mac_peak: this CPU lacks AVX512BW; nothing to measure");
            return;
        }
        // SAFETY: avx512f and avx512bw are present (checked above).
        let (f32_rate, bw_rate) = unsafe { (x86::f32_fma(), x86::int8_bw()) };
        println!(
            "f32 FMA:                     {:.1} GMAC/s per core",
            f32_rate
        );
        println!(
            "int8 maddubs+madd+add (BW):  {:.1} GMAC/s per core",
            bw_rate
        );
        if is_x86_feature_detected!("avx512vnni") {
            // SAFETY: avx512vnni is present.
            let vnni = unsafe { x86::int8_vnni() };
            println!("int8 vpdpbusd (VNNI):        {:.1} GMAC/s per core", vnni);
        } else {
            println!("int8 vpdpbusd (VNNI):        not on this CPU");
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;
    use std::hint::black_box;

    fn rate(macs_per_step: usize, start: Instant) -> f64 {
        (STEPS * macs_per_step) as f64 / start.elapsed().as_secs_f64() / 1e9
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn f32_fma() -> f64 {
        let x = black_box(_mm512_set1_ps(1.0001));
        let w = black_box(_mm512_set1_ps(0.9999));
        let mut a = [_mm512_setzero_ps(); 16];
        let start = Instant::now();
        for _ in 0..STEPS {
            for acc in a.iter_mut() {
                *acc = _mm512_fmadd_ps(x, w, *acc);
            }
        }
        black_box(a);
        rate(16 * 16, start)
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn int8_bw() -> f64 {
        let w = black_box(_mm512_set1_epi8(-2));
        let ones = _mm512_set1_epi16(1);
        let mut a = [black_box(_mm512_set1_epi8(3)); 16];
        let start = Instant::now();
        for _ in 0..STEPS {
            for acc in a.iter_mut() {
                // The accumulator as the byte operand: a chain the
                // compiler cannot hoist out of the loop.
                let d = _mm512_madd_epi16(_mm512_maddubs_epi16(*acc, w), ones);
                *acc = _mm512_add_epi32(*acc, d);
            }
        }
        black_box(a);
        rate(16 * 64, start)
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn int8_vnni() -> f64 {
        let x = black_box(_mm512_set1_epi8(3));
        let w = black_box(_mm512_set1_epi8(-2));
        let mut a = [_mm512_setzero_si512(); 16];
        let start = Instant::now();
        for _ in 0..STEPS {
            for acc in a.iter_mut() {
                *acc = _mm512_dpbusd_epi32(*acc, x, w);
            }
        }
        black_box(a);
        rate(16 * 64, start)
    }
}
