//! Opening an index and looking documents up.

pub(crate) mod ids;
pub(crate) mod index;
pub(crate) mod lexical;
pub(crate) mod maxima;
pub(crate) mod segment;
