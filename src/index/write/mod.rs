//! Building, committing, compacting and reordering an index.

pub(crate) mod commit;
pub(crate) mod compact;
pub(crate) mod delete;
pub(crate) mod lexical;
pub(crate) mod lock;
pub(crate) mod reorder;
pub(crate) mod segment;
pub(crate) mod spill;
pub(crate) mod writer;
