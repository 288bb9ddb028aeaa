//! Writing the files of a new segment from accumulated postings: the
//! `.pst` posting lists, the `.bmx` range maxima of a large segment, and
//! the term dictionary that points into them.

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::block::{BLOCK, encode_list};
use crate::index::format::frame::{FileMeta, FileWriter, MAGIC_POSTINGS};
use crate::index::format::quant::Quantizer;
use crate::index::format::range_max::RangeMaxWriter;
use crate::index::format::terms::{TermDictWriter, TermInfo};
use crate::index::write::spill::{Accumulator, List};

/// Writes the `.pst` file, and the `.bmx` when the segment is large enough
/// to be searched with pruning, from the accumulated postings of a segment
/// of `segment_docs` documents; returns them with the term dictionary still
/// to be written.
pub(crate) fn write_postings(
    dir: &Path,
    stem: &str,
    acc: Accumulator,
    quant: Quantizer,
    segment_docs: u32,
) -> Result<(FileMeta, Option<FileMeta>, TermDictWriter), IndexError> {
    let mut w = FileWriter::create(dir, &format!("{stem}.pst"), MAGIC_POSTINGS)?;
    let mut maxima = if crate::index::format::range_max::stored_for(segment_docs) {
        Some(RangeMaxWriter::create(
            dir,
            &format!("{stem}.bmx"),
            segment_docs,
        )?)
    } else {
        None
    };
    w.write_u32(quant.scheme.code())?;
    w.write_u32(quant.scale.to_bits())?;
    w.write_u32(BLOCK as u32)?;
    let mut dict = TermDictWriter::default();
    let (mut docs, mut codes, mut buf) = (Vec::new(), Vec::new(), Vec::new());
    let mut sorted = List::new();
    acc.drain(|term: &str, list: &List| {
        // Lists arrive in doc order, except from a reordering compaction,
        // whose new ordinals are not monotonic in the old ones.
        let list = if list.is_sorted_by_key(|p| p.0) {
            list
        } else {
            sorted.clone_from(list);
            sorted.sort_unstable_by_key(|p| p.0);
            &sorted
        };
        docs.clear();
        codes.clear();
        buf.clear();
        for &(d, wt) in list {
            docs.push(d);
            codes.push(quant.encode(wt));
        }
        let max_code = encode_list(&docs, &codes, quant.scheme.width(), &mut buf);
        if let Some(m) = &mut maxima {
            m.push(&docs, |i| quant.value(codes[i]))?;
        }
        let info = TermInfo {
            offset: w.position(),
            len: buf.len() as u64,
            doc_freq: list.len() as u32,
            max_code,
        };
        w.write(&buf)?;
        dict.push(term, info)
    })?;
    let maxima = maxima.map(RangeMaxWriter::finish).transpose()?;
    Ok((w.finish()?, maxima, dict))
}
