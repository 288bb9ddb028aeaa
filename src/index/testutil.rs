//! Test helpers: a tiny seeded RNG (no extra crate) and SPLADE-like random
//! vectors.

/// SplitMix64: small, seeded, good enough for property-style tests.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * n as u64) >> 32) as u32
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// The token of vocabulary entry `i` (some multi-byte, some `##` pieces).
pub(crate) fn token(i: u32) -> String {
    match i % 5 {
        0 => format!("##t{i}"),
        1 => format!("é{i}"),
        _ => format!("t{i}"),
    }
}

/// A random sparse vector: `nnz` distinct tokens from a Zipf-ish vocabulary
/// of `vocab`, weights in (0, 3].
pub(crate) fn random_vector(rng: &mut Rng, vocab: u32, nnz: usize) -> Vec<(String, f32)> {
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < nnz.min(vocab as usize) {
        let u = rng.unit();
        ids.insert(((u * u) * vocab as f32) as u32 % vocab);
    }
    ids.into_iter()
        .map(|i| (token(i), 0.01 + 2.99 * rng.unit()))
        .collect()
}

/// Borrows `(String, f32)` pairs as the `(&str, f32)` the API takes.
pub(crate) fn borrow(v: &[(String, f32)]) -> Vec<(&str, f32)> {
    v.iter().map(|(t, w)| (t.as_str(), *w)).collect()
}

/// Builds an index in `dir` from `docs` (ids `d0`, `d1`, ...).
pub(crate) fn build(
    dir: &std::path::Path,
    docs: &[Vec<(String, f32)>],
    options: super::WriterOptions,
) -> super::IndexStats {
    let mut w = super::IndexWriter::create(dir, options).unwrap();
    for (i, d) in docs.iter().enumerate() {
        let stored = super::StoredDoc {
            title: (i % 3 == 0).then(|| format!("title {i}")),
            text: format!("text of document {i} ✓"),
        };
        w.add_from(
            &format!("d{i}"),
            &borrow(d),
            Some(&stored),
            &format!("docs.jsonl:{}", i + 1),
        )
        .unwrap();
    }
    w.commit().unwrap()
}

/// Builds `docs` with `quantization` in a fresh temp dir and opens it.
pub(crate) fn open_built(
    docs: &[Vec<(String, f32)>],
    quantization: super::Quantization,
) -> (tempfile::TempDir, super::Index) {
    let dir = tempfile::tempdir().unwrap();
    let options = super::WriterOptions {
        quantization,
        ..super::WriterOptions::default()
    };
    build(dir.path(), docs, options);
    let index = super::Index::open(dir.path()).unwrap();
    (dir, index)
}

/// `n` random documents over `vocab` tokens.
pub(crate) fn random_docs(rng: &mut Rng, n: usize, vocab: u32) -> Vec<Vec<(String, f32)>> {
    (0..n)
        .map(|_| {
            let nnz = 1 + rng.below(60) as usize;
            random_vector(rng, vocab, nnz)
        })
        .collect()
}
