//! Property tests (proptest) of the sparse vector type: the constructors
//! establish the invariants (ids strictly increasing, weights finite and
//! positive), and `dot` / `max_pool` / `get` agree with a dense reference.
//! The postings codec's properties live next to it, in
//! `src/index/format/block.rs` (`props`), because the codec is crate-private.

use std::collections::BTreeMap;

use proptest::prelude::*;
use splade::SparseVector;

/// Weights as an encoder might give them, plus zeros and negatives.
fn weight() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => 1e-6f32..20.0,
        1 => Just(0.0f32),
        1 => -5.0f32..0.0,
        1 => prop::sample::select(vec![f32::MIN_POSITIVE, 1e-40, f32::MAX]),
    ]
}

/// Unordered `(id, weight)` pairs with repeats, over a small vocabulary so
/// that vectors overlap.
fn pairs() -> impl Strategy<Value = Vec<(u32, f32)>> {
    prop::collection::vec((0u32..200, weight()), 0..80)
}

fn vector() -> impl Strategy<Value = SparseVector> {
    pairs().prop_map(|p| SparseVector::from_pairs(p).unwrap())
}

/// The invariants every constructed vector keeps.
fn assert_invariants(v: &SparseVector) {
    assert_eq!(v.indices().len(), v.values().len());
    assert!(v.indices().windows(2).all(|w| w[0] < w[1]), "{v:?}");
    assert!(
        v.values().iter().all(|w| w.is_finite() && *w > 0.0),
        "{v:?}"
    );
    assert_eq!(v.nnz(), v.indices().len());
    assert_eq!(v.is_empty(), v.nnz() == 0);
}

/// The largest positive weight per id: what `from_pairs` must keep.
fn reference(pairs: &[(u32, f32)]) -> BTreeMap<u32, f32> {
    let mut m = BTreeMap::new();
    for &(t, w) in pairs {
        if w > 0.0 {
            let e = m.entry(t).or_insert(w);
            *e = e.max(w);
        }
    }
    m
}

proptest! {
    #[test]
    fn from_pairs_keeps_the_max_positive_weight_per_id(p in pairs()) {
        let v = SparseVector::from_pairs(p.clone()).unwrap();
        assert_invariants(&v);
        let want = reference(&p);
        let got: BTreeMap<u32, f32> = v.iter().collect();
        prop_assert_eq!(got, want.clone());
        for t in 0..200 {
            prop_assert_eq!(v.get(t), want.get(&t).copied().unwrap_or(0.0));
        }
    }

    #[test]
    fn from_pairs_refuses_non_finite(mut p in pairs(), bad in prop::sample::select(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY]), at in any::<prop::sample::Index>()) {
        let i = at.index(p.len() + 1);
        p.insert(i, (7, bad));
        prop_assert!(SparseVector::from_pairs(p).is_err());
    }

    #[test]
    fn new_accepts_exactly_the_invariants(ids in prop::collection::vec(0u32..50, 0..20), ws in prop::collection::vec(weight(), 0..20)) {
        let sorted = ids.windows(2).all(|w| w[0] < w[1]);
        let positive = ws.iter().all(|w| w.is_finite() && *w > 0.0);
        let ok = ids.len() == ws.len() && sorted && positive;
        let r = SparseVector::new(ids.clone(), ws.clone());
        prop_assert_eq!(r.is_ok(), ok);
        if let Ok(v) = r {
            assert_invariants(&v);
            prop_assert_eq!(v.indices(), &ids[..]);
            prop_assert_eq!(v.values(), &ws[..]);
        }
    }

    #[test]
    fn from_dense_matches_from_pairs(dense in prop::collection::vec(weight(), 0..100)) {
        let v = SparseVector::from_dense(&dense).unwrap();
        assert_invariants(&v);
        let pairs: Vec<(u32, f32)> = dense.iter().enumerate().map(|(i, w)| (i as u32, *w)).collect();
        prop_assert_eq!(v, SparseVector::from_pairs(pairs).unwrap());
    }

    #[test]
    fn dot_is_symmetric_and_matches_the_dense_product(a in vector(), b in vector()) {
        let ab = a.dot(&b);
        prop_assert_eq!(ab.to_bits(), b.dot(&a).to_bits());
        // The same sum in id order, in f64: bit-identical.
        let want: f64 = a
            .iter()
            .filter(|(t, _)| b.get(*t) > 0.0)
            .fold(0.0, |s, (t, w)| s + w as f64 * b.get(t) as f64);
        prop_assert_eq!(ab.to_bits(), (want as f32).to_bits());
        prop_assert!(ab >= 0.0);
        prop_assert_eq!(a.dot(&SparseVector::default()), 0.0);
    }

    #[test]
    fn max_pool_is_an_elementwise_max(a in vector(), b in vector(), c in vector()) {
        let ab = a.max_pool(&b);
        assert_invariants(&ab);
        prop_assert_eq!(&ab, &b.max_pool(&a));
        prop_assert_eq!(&a.max_pool(&a), &a);
        prop_assert_eq!(ab.max_pool(&c), a.max_pool(&b.max_pool(&c)));
        for t in 0..200 {
            prop_assert_eq!(ab.get(t), a.get(t).max(b.get(t)));
        }
        prop_assert!(ab.nnz() <= a.nnz() + b.nnz());
        prop_assert!(ab.nnz() >= a.nnz().max(b.nnz()));
    }
}
