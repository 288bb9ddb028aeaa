//! The postings file (`.pst`): after the common header, the segment's
//! quantization code, scale and block size, then one posting list per term
//! (`block.rs`) at the offset the term dictionary records. The lists are
//! written in dictionary order; nothing in this file says where one ends,
//! the dictionary does.

use std::path::Path;

use crate::index::error::IndexError;
use crate::index::format::block::{BLOCK, PostingList, encode_list};
use crate::index::format::frame::{
    FileMeta, FileWriter, HEADER_LEN, MAGIC_POSTINGS, MappedFile, le_u32, to_usize,
};
use crate::index::format::quant::{Quantization, Quantizer};
use crate::index::format::terms::TermInfo;

/// Streams a file of posting lists in the block codec (`.pst`, and `.lxp`
/// whose codes are term frequencies), one term's list at a time, after a
/// header its creator wrote.
pub(crate) struct ListWriter {
    w: FileWriter,
    width: usize,
    buf: Vec<u8>,
}

impl ListWriter {
    /// Lists of `width`-byte codes into `w`, whose header is written.
    pub(crate) fn new(w: FileWriter, width: usize) -> ListWriter {
        ListWriter {
            w,
            width,
            buf: Vec::new(),
        }
    }

    /// Appends the list of `docs` (strictly increasing) with their `codes`,
    /// and returns the dictionary entry that points at it.
    pub(crate) fn push(&mut self, docs: &[u32], codes: &[u32]) -> Result<TermInfo, IndexError> {
        self.buf.clear();
        let max_code = encode_list(docs, codes, self.width, &mut self.buf);
        let info = TermInfo {
            offset: self.w.position(),
            len: self.buf.len() as u64,
            doc_freq: docs.len() as u32,
            max_code,
        };
        self.w.write(&self.buf)?;
        Ok(info)
    }

    /// Writes the footer and publishes the file.
    pub(crate) fn finish(self) -> Result<FileMeta, IndexError> {
        self.w.finish()
    }
}

/// Starts a segment's `.pst` file `dir/name` for impacts quantized by
/// `quant`.
pub(crate) fn create_postings(
    dir: &Path,
    name: &str,
    quant: Quantizer,
) -> Result<ListWriter, IndexError> {
    let mut w = FileWriter::create(dir, name, MAGIC_POSTINGS)?;
    w.write_u32(quant.scheme.code())?;
    w.write_u32(quant.scale.to_bits())?;
    w.write_u32(BLOCK as u32)?;
    Ok(ListWriter::new(w, quant.scheme.width()))
}

/// A mapped `.pst` file with its header checked.
pub(crate) struct Postings {
    file: MappedFile,
    quant: Quantizer,
}

impl Postings {
    /// Checks the header of `file` against the segment's `scale` from
    /// `meta.json`.
    pub(crate) fn open(file: MappedFile, scale: f32) -> Result<Self, IndexError> {
        let h = HEADER_LEN as usize;
        let b = file.at_open(h..h + 12)?;
        let (Some(code), Some(stated), Some(block)) = (le_u32(b, 0), le_u32(b, 4), le_u32(b, 8))
        else {
            return Err(file.corrupt("postings header truncated"));
        };
        let scheme = Quantization::from_code(code)
            .ok_or_else(|| file.corrupt(format!("unknown quantization code {code}")))?;
        let stated = f32::from_bits(stated);
        if stated.to_bits() != scale.to_bits() {
            return Err(file.corrupt(format!(
                "header scale {stated} differs from meta.json scale {scale}"
            )));
        }
        if block as usize != BLOCK {
            return Err(file.corrupt(format!("block size {block}, expected {BLOCK}")));
        }
        let quant = Quantizer {
            scheme,
            scale: stated,
        };
        Ok(Postings { file, quant })
    }

    /// How the impacts are quantized.
    pub(crate) fn quant(&self) -> Quantizer {
        self.quant
    }

    /// The mapped file (for `verify`).
    pub(crate) fn file(&self) -> &MappedFile {
        &self.file
    }

    /// The posting list a dictionary entry points at (`None` if damaged).
    pub(crate) fn list(&self, info: &TermInfo) -> Option<PostingList<'_>> {
        let (start, len) = (to_usize(info.offset)?, to_usize(info.len)?);
        let width = self.quant.scheme.width();
        PostingList::in_file(&self.file, start, len, info.doc_freq, width)
    }
}
