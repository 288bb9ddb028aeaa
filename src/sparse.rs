//! The sparse vector type: what a SPLADE encoder produces and an index stores.
//!
//! Invariants, checked on construction: term ids strictly increasing (sorted,
//! unique) and every weight finite and strictly positive. SPLADE weights are
//! `log(1 + relu(x))`, so zero means "absent" and is never stored.

use crate::error::{Error, Result};

/// A sparse vector over a vocabulary: `(term id, weight)` pairs sorted by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl SparseVector {
    /// Builds a vector from parallel arrays, checking the invariants.
    pub fn new(indices: Vec<u32>, values: Vec<f32>) -> Result<Self> {
        if indices.len() != values.len() {
            return Err(Error::Msg(format!(
                "sparse vector: {} indices but {} values",
                indices.len(),
                values.len()
            )));
        }
        if let Some(w) = indices.windows(2).find(|w| w[0] >= w[1]) {
            return Err(Error::Msg(format!(
                "sparse vector: term ids not strictly increasing ({} then {})",
                w[0], w[1]
            )));
        }
        if let Some(v) = values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            return Err(Error::Msg(format!(
                "sparse vector: weight {v} is not finite and positive"
            )));
        }
        Ok(SparseVector { indices, values })
    }

    /// Builds a vector from unordered pairs: sorts, keeps the largest weight
    /// of a repeated id and drops weights that are not positive.
    pub fn from_pairs(mut pairs: Vec<(u32, f32)>) -> Result<Self> {
        if let Some((t, v)) = pairs.iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Msg(format!(
                "sparse vector: weight {v} of term {t} is not finite"
            )));
        }
        pairs.retain(|(_, v)| *v > 0.0);
        pairs.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        pairs.dedup_by_key(|p| p.0);
        let (indices, values) = pairs.into_iter().unzip();
        Ok(SparseVector { indices, values })
    }

    /// Builds a vector from a dense slice, keeping the positive entries; an
    /// infinite or NaN entry is an error (as in [`from_pairs`](Self::from_pairs)).
    pub fn from_dense(dense: &[f32]) -> Result<Self> {
        let mut indices = Vec::new();
        let mut values = Vec::new();
        for (i, &v) in dense.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::Msg(format!(
                    "sparse vector: weight {v} of term {i} is not finite"
                )));
            }
            if v > 0.0 {
                indices.push(i as u32);
                values.push(v);
            }
        }
        Ok(SparseVector { indices, values })
    }

    /// Term ids, strictly increasing.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Weights, parallel to [`indices`](Self::indices).
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Number of active (non-zero) terms.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// True when no term is active.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Iterates over `(term id, weight)` pairs in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.indices
            .iter()
            .copied()
            .zip(self.values.iter().copied())
    }

    /// The weight of one term, zero when absent.
    pub fn get(&self, term: u32) -> f32 {
        match self.indices.binary_search(&term) {
            Ok(i) => self.values[i],
            Err(_) => 0.0,
        }
    }

    /// Dot product, merging the two sorted id lists; accumulated in f64 so
    /// that the result does not depend on summation order beyond f32 rounding.
    pub fn dot(&self, other: &SparseVector) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0f64);
        while i < self.indices.len() && j < other.indices.len() {
            match self.indices[i].cmp(&other.indices[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.values[i] as f64 * other.values[j] as f64;
                    i += 1;
                    j += 1;
                }
            }
        }
        sum as f32
    }

    /// Elementwise maximum of two vectors (used to pool window vectors).
    pub fn max_pool(&self, other: &SparseVector) -> SparseVector {
        let mut pairs: Vec<(u32, f32)> = self.iter().chain(other.iter()).collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        pairs.dedup_by_key(|p| p.0);
        let (indices, values) = pairs.into_iter().unzip();
        SparseVector { indices, values }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rejects_unsorted_and_non_positive() {
        assert!(SparseVector::new(vec![2, 1], vec![1.0, 1.0]).is_err());
        assert!(SparseVector::new(vec![1, 1], vec![1.0, 1.0]).is_err());
        assert!(SparseVector::new(vec![1], vec![0.0]).is_err());
        assert!(SparseVector::new(vec![1], vec![f32::NAN]).is_err());
        assert!(SparseVector::new(vec![1], vec![]).is_err());
        assert!(SparseVector::new(vec![1, 5], vec![0.5, 2.0]).is_ok());
    }

    #[test]
    fn from_pairs_sorts_dedups_and_drops_zeros() {
        let v = SparseVector::from_pairs(vec![(5, 1.0), (2, 0.0), (1, 3.0), (5, 2.0)]).unwrap();
        assert_eq!(v.indices(), &[1, 5]);
        assert_eq!(v.values(), &[3.0, 2.0]);
        assert!(SparseVector::from_pairs(vec![(1, f32::INFINITY)]).is_err());
    }

    #[test]
    fn dot_and_get() {
        let a = SparseVector::new(vec![1, 3, 7], vec![1.0, 2.0, 3.0]).unwrap();
        let b = SparseVector::new(vec![3, 4, 7], vec![0.5, 9.0, 2.0]).unwrap();
        assert_eq!(a.dot(&b), 7.0);
        assert_eq!(b.dot(&a), 7.0);
        assert_eq!(a.get(3), 2.0);
        assert_eq!(a.get(4), 0.0);
    }

    #[test]
    fn max_pool_is_elementwise_max() {
        let a = SparseVector::new(vec![1, 3], vec![1.0, 2.0]).unwrap();
        let b = SparseVector::new(vec![3, 4], vec![5.0, 1.0]).unwrap();
        let m = a.max_pool(&b);
        assert_eq!(m.indices(), &[1, 3, 4]);
        assert_eq!(m.values(), &[1.0, 5.0, 1.0]);
    }

    #[test]
    fn from_dense_keeps_positive() {
        let v = SparseVector::from_dense(&[0.0, 1.5, 0.0, 0.25]).unwrap();
        assert_eq!(v.indices(), &[1, 3]);
        assert_eq!(v.values(), &[1.5, 0.25]);
    }

    #[test]
    fn from_dense_rejects_infinite_and_nan() {
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN] {
            let err = SparseVector::from_dense(&[0.5, bad])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("term 1") && err.contains("not finite"),
                "{err}"
            );
        }
    }
}
