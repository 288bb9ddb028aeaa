//! Streaming input with line numbers, and output writers.
//!
//! Inputs are read a line at a time, so a corpus of any size streams; every
//! record carries its line so that an error can name `file:line`.

pub mod input;
pub mod output;
pub mod point_id;
pub mod vectors;

pub use input::{Document, FieldNames, InputFormat, RecordReader};
