//! Exact-form GELU, `x · Φ(x)`, in code the compiler vectorizes.
//!
//! candle's `gelu_erf` calls libm's scalar `erff` per element, which took
//! ~12% of splade-tiny's encoding time (`perf`, README "Encoding speed").
//! Here `Φ` comes from Abramowitz & Stegun 7.1.26, `erfc(z) ≈ t·P(t)·e^(-z²)`
//! with `t = 1 / (1 + p z)`, absolute error below 1.5e-7, and `e^(-z²)`
//! from a branch-free range reduction; both halves of the real line use
//! `erfc` directly, so a large negative input keeps its relative accuracy
//! instead of cancelling in `1 + erf(x)`. Parity with the reference is
//! unchanged (`tests/it/parity.rs`).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use crate::error::Result;

/// GELU of every element of `x` (f32 and contiguous; anything else takes
/// candle's own op).
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if x.dtype() == candle_core::DType::F32 && x.is_contiguous() {
        Ok(x.apply_op1_no_bwd(&Gelu)?)
    } else {
        Ok(x.gelu_erf()?)
    }
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "splade-gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(data), Some((start, end))) = (storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("splade-gelu-erf takes contiguous f32 tensors");
        };
        let mut out = vec![0f32; end - start];
        gelu_slice(&data[start..end], &mut out);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// `out[i] = gelu(x[i])`, on the widest registers the CPU has (the same
/// operations in the same order everywhere, so the same bits).
pub fn gelu_slice(x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has avx512f.
        return unsafe { gelu_avx512(x, out) };
    } else if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has avx2.
        return unsafe { gelu_avx2(x, out) };
    }
    gelu_loop(x, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gelu_avx512(x: &[f32], out: &mut [f32]) {
    gelu_loop(x, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gelu_avx2(x: &[f32], out: &mut [f32]) {
    gelu_loop(x, out);
}

#[inline(always)]
fn gelu_loop(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = gelu_one(v);
    }
}

/// `x · Φ(x)` with `Φ(x) = 1 - erfc(x / √2) / 2` for `x >= 0` and
/// `erfc(-x / √2) / 2` below.
#[inline(always)]
fn gelu_one(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_72,
        1.421_413_8,
        -1.453_152,
        1.061_405_4,
    ];
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let half_erfc = 0.5 * poly * exp_neg(z * z);
    let phi = if x >= 0.0 { 1.0 - half_erfc } else { half_erfc };
    // Selects, not branches, so that the loop vectorizes. NaN stays NaN
    // (`phi` is NaN too); -inf gives 0 rather than -inf · 0.
    let y = x * phi;
    if x == f32::NEG_INFINITY { 0.0 } else { y }
}

/// `e^(-y)` for `y >= 0` (clamped at `e^-87`, the smallest normal's
/// order), relative error a few ulp: `e^(-y) = 2^k · e^r`, `|r| <= ln 2 / 2`, `e^r` by its degree-7
/// Taylor polynomial, with no branch and no table.
#[inline(always)]
fn exp_neg(y: f32) -> f32 {
    // Round to nearest by the 1.5 · 2^23 trick (no libm call, vectorizes).
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let y = (-y).max(-87.0);
    let shifted = y * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = (y - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // `shifted`'s low mantissa bits hold k itself (|k| <= 126): 2^k from
    // integer operations only (a float-to-int cast would not vectorize).
    let k_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    p * f32::from_bits(k_bits.wrapping_add(127) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_is_within_its_bound_of_the_exact_function() {
        // candle's f64 GELU (libm's f64 erf) as the exact function.
        let xs: Vec<f32> = (-12 * 1024..=12 * 1024)
            .map(|i| i as f32 / 1024.0)
            .collect();
        let wide: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
        let exact = Tensor::new(wide.as_slice(), &candle_core::Device::Cpu)
            .unwrap()
            .gelu_erf()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let mut worst_abs = 0f64;
        for (&x, want) in xs.iter().zip(exact) {
            worst_abs = worst_abs.max((gelu_one(x) as f64 - want).abs());
        }
        // 1.5e-7 from the approximation of erfc, times |x| / 2.
        assert!(worst_abs < 1e-6, "{worst_abs:e}");
        assert_eq!(gelu_one(0.0), 0.0);
        assert!(gelu_one(f32::NAN).is_nan());
        assert_eq!(gelu_one(f32::INFINITY), f32::INFINITY);
        assert_eq!(gelu_one(f32::NEG_INFINITY), 0.0);
        assert!(gelu_one(-200.0).abs() < 1e-30);
    }

    #[test]
    fn exp_neg_is_accurate_across_its_range() {
        for i in 0..1740 {
            let y = i as f32 * 0.05;
            let (got, want) = (exp_neg(y) as f64, (-(y as f64)).exp());
            assert!((got - want).abs() <= want * 1e-6, "e^-{y}: {got} vs {want}");
        }
        assert!(
            exp_neg(1e9) > 0.0 && exp_neg(1e9) < 1e-37,
            "clamped at e^-87"
        );
    }

    #[test]
    fn every_path_gives_the_same_bits_as_the_scalar_code() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 37.0).collect();
        let mut out = vec![0f32; x.len()];
        gelu_slice(&x, &mut out);
        for (v, o) in x.iter().zip(&out) {
            assert_eq!(o.to_bits(), gelu_one(*v).to_bits(), "{v}");
        }
    }
}
