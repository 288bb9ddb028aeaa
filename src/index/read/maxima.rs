//! Range maxima built in memory: the `.bmx` table (`format/range_max.rs`)
//! of a segment written without one (before format 3, or smaller than
//! `STORED_MIN_DOCS`), computed from its posting lists on the first pruned
//! search.

use rayon::prelude::*;

use crate::index::format::block::PostingList;
use crate::index::format::quant::Quantizer;
use crate::index::format::range_max::{RangeMax, encode_term, ranges};

/// Builds the bytes of a `.bmx` in memory from `lists` (one per
/// dictionary entry, `None` when damaged, impacts quantized by `quant`) of
/// a segment of `docs` documents, for segments written without a `.bmx`.
/// Sequential: safe inside a lazily initialised cell (see
/// [`build_parallel`]).
pub(crate) fn build<'a>(
    lists: impl IntoIterator<Item = Option<PostingList<'a>>>,
    quant: Quantizer,
    docs: u32,
) -> RangeMax {
    let n_ranges = ranges(docs);
    let parts = lists
        .into_iter()
        .map(|list| term_part(list, quant, n_ranges))
        .collect();
    RangeMax::assemble(parts, n_ranges)
}

/// [`build`] of the lists `list(0..terms)`, spread over rayon's threads.
/// Never call it while initialising a cell that the parallel work could
/// touch (`OnceLock::get_or_init`): a thread waiting for its stolen part
/// runs other queued work, which may re-enter the same initialisation on
/// that thread, a deadlock (rayon issue 1251).
pub(crate) fn build_parallel<'a, F>(list: F, terms: usize, quant: Quantizer, docs: u32) -> RangeMax
where
    F: Fn(usize) -> Option<PostingList<'a>> + Sync,
{
    let n_ranges = ranges(docs);
    let parts = (0..terms)
        .into_par_iter()
        .map(|i| term_part(list(i), quant, n_ranges))
        .collect();
    RangeMax::assemble(parts, n_ranges)
}

/// One term's encoded maxima and directory entry, from its posting list
/// (stopping at a damaged block, like every reader).
fn term_part(
    list: Option<PostingList>,
    quant: Quantizer,
    n_ranges: usize,
) -> (Vec<u8>, (u32, bool, f32)) {
    let (mut ds, mut vs) = (Vec::new(), Vec::new());
    if let Some(l) = list {
        let _ = l.for_each(|d, c| {
            ds.push(d);
            vs.push(quant.unscaled(c));
        });
    }
    let mut out = Vec::new();
    let entry = encode_term(&ds, |i| vs[i], n_ranges, &mut out);
    (out, entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::format::block::encode_list;
    use crate::index::format::frame::{MAGIC_RANGES, MappedFile};
    use crate::index::format::quant::Quantization;
    use crate::index::format::range_max::{RANGE_SHIFT, RangeMaxWriter};

    /// 16-bit codes at scale 1: a code's unscaled weight is the code.
    const CODES: Quantizer = Quantizer {
        scheme: Quantization::U16,
        scale: 1.0,
    };

    fn table(docs: &[u32], codes: &[u32], n_docs: u32) -> RangeMax {
        let mut bytes = Vec::new();
        encode_list(docs, codes, 2, &mut bytes);
        let list = PostingList::new(&bytes, docs.len() as u32, 2).unwrap();
        build([Some(list)], CODES, n_docs)
    }

    #[test]
    fn bounds_never_fall_below_a_weight() {
        // Sparse and dense lists, codes of every size.
        for stride in [1u32, 3, 40, 700] {
            let docs: Vec<u32> = (0..400).map(|i| i * stride).collect();
            let codes: Vec<u32> = (0..400).map(|i| 1 + (i * 7919) % 65535).collect();
            let n = ranges(400 * stride);
            let rm = table(&docs, &codes, 400 * stride);
            let t = rm.term(0).unwrap();
            let mut bounds = vec![0.0f32; n];
            t.add_to(1.0, &mut bounds);
            for (&d, &c) in docs.iter().zip(&codes) {
                let r = d >> RANGE_SHIFT;
                assert!(
                    bounds[r as usize] >= c as f32,
                    "{} < {c}",
                    bounds[r as usize]
                );
            }
            // Exactly the ranges with postings hold the term.
            let held: std::collections::HashSet<u32> =
                docs.iter().map(|d| d >> RANGE_SHIFT).collect();
            for r in 0..n as u32 {
                assert_eq!(t.holds(r), held.contains(&r), "range {r}");
                if !held.contains(&r) {
                    assert_eq!(bounds[r as usize], 0.0);
                }
            }
            assert!(rm.term(1).is_none());
        }
    }

    #[test]
    fn bounds_are_within_a_step_of_the_maximum() {
        // Two ranges; weights grow with the document.
        let r = 1u32 << RANGE_SHIFT;
        let docs: Vec<u32> = (0..2 * r).collect();
        let codes: Vec<u32> = docs.iter().map(|i| 100 + i * 10).collect();
        let rm = table(&docs, &codes, 2 * r);
        let mut bounds = vec![0.0f32; 2];
        rm.term(0).unwrap().add_to(1.0, &mut bounds);
        let (first, top) = (
            codes[r as usize - 1] as f32,
            codes[2 * r as usize - 1] as f32,
        );
        assert!(bounds[0] >= first && bounds[0] <= first + top / 255.0 + 0.01);
        assert!(bounds[1] >= top && bounds[1] <= top * 1.001);
    }

    #[test]
    fn file_and_memory_tables_agree() {
        let dir = tempfile::tempdir().unwrap();
        let lists: Vec<(Vec<u32>, Vec<u32>)> = vec![
            ((0..500).collect(), (0..500).map(|i| 1 + i % 97).collect()),
            (vec![3, 900, 4000], vec![5, 60000, 7]),
        ];
        let mut w = RangeMaxWriter::create(dir.path(), "t.bmx", 5000).unwrap();
        let mut encoded = Vec::new();
        for (d, c) in &lists {
            w.push(d, |i| c[i] as f32).unwrap();
            let mut bytes = Vec::new();
            encode_list(d, c, 2, &mut bytes);
            encoded.push((bytes, d.len() as u32));
        }
        let meta = w.finish().unwrap();
        let file = MappedFile::open(dir.path(), &meta, MAGIC_RANGES).unwrap();
        let on_disk = RangeMax::open(file, 5000, 2).unwrap();
        let views: Vec<_> = encoded
            .iter()
            .map(|(b, n)| PostingList::new(b, *n, 2))
            .collect();
        let in_memory = build(views.clone(), CODES, 5000);
        let in_parallel = build_parallel(|i| views[i], views.len(), CODES, 5000);
        assert_eq!(in_memory.bytes(), in_parallel.bytes());
        for t in 0..2 {
            let (mut a, mut b) = (vec![0.0f32; ranges(5000)], vec![0.0f32; ranges(5000)]);
            on_disk.term(t).unwrap().add_to(0.5, &mut a);
            in_memory.term(t).unwrap().add_to(0.5, &mut b);
            assert_eq!(a, b);
        }
        // A table for another segment shape is refused.
        let file = MappedFile::open(dir.path(), &meta, MAGIC_RANGES).unwrap();
        assert!(RangeMax::open(file, 6000, 2).is_err());
    }
}
