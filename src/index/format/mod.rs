//! The byte-level codecs of the index files (`docs/format.md`).

pub(crate) mod block;
pub(crate) mod deletes;
pub(crate) mod doc_table;
pub(crate) mod frame;
pub(crate) mod meta;
pub(crate) mod quant;
pub(crate) mod range_max;
pub(crate) mod terms;
