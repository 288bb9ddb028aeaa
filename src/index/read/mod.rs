//! Opening an index and looking documents up: [`Index`](index::Index)
//! (`index.rs`) over its segments (`segment.rs`), the external-id map of
//! writers and deletes (`ids.rs`), and the range maxima built in
//! memory for segments written without a `.bmx` (`maxima.rs`).

pub(crate) mod ids;
pub(crate) mod index;
pub(crate) mod lexical;
pub(crate) mod maxima;
pub(crate) mod segment;
