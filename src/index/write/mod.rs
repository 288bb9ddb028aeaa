//! Every change of an index: a build or append (`writer.rs`, postings
//! accumulated by `spill.rs`, files written by `segment.rs`), a delete
//! (`delete.rs`) and a compaction (`compact.rs`, optionally reordered by
//! `reorder.rs`). Each begins under the write lock (`lock.rs`) and
//! publishes through `commit.rs`: new files under fresh names, `meta.json`
//! last, unreferenced files removed.

pub(crate) mod commit;
pub(crate) mod compact;
pub(crate) mod delete;
pub(crate) mod lexical;
pub(crate) mod lock;
pub(crate) mod reorder;
pub(crate) mod segment;
pub(crate) mod spill;
pub(crate) mod writer;
