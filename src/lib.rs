//! # splade: learned sparse retrieval from the command line
//!
//! A SPLADE model turns a text into a sparse vector over the BERT vocabulary:
//! masked-LM logits per token, `log(1 + relu(x))`, max-pooled over the tokens.
//! Documents and queries are encoded by the same model and ranked by the raw
//! dot product of their vectors, which an inverted index computes quickly.
//!
//! The crate is split by concern:
//! - [`encoder`]: model resolution (local folder or Hugging Face hub), BERT
//!   masked-LM in candle, tokenization, pooling into [`SparseVector`]s;
//! - [`io`]: streaming JSONL/TSV input with line numbers, output writers;
//! - [`index`]: the on-disk inverted index (see `docs/format.md`);
//! - [`search`]: exact top-k scoring over the index;
//! - [`eval`]: retrieval metrics with trec_eval semantics.
//!
//! ```no_run
//! use splade::encoder::{Encoder, EncoderOptions, ModelSource};
//!
//! # fn main() -> splade::Result<()> {
//! let source = ModelSource::parse("../shared/models/splade-tiny", None);
//! let encoder = Encoder::load(&source, &EncoderOptions::default())?;
//! let query = encoder.encode_one("common law implied warranty")?;
//! let doc = encoder.encode_one("An implied warranty is a contract law term.")?;
//! println!("score = {}", query.dot(&doc));
//! # Ok(())
//! # }
//! ```

pub mod encoder;
pub mod error;
pub mod eval;
pub mod index;
pub mod io;
pub mod lexical;
pub mod search;
pub mod sparse;

pub use error::{Error, Result};
pub use sparse::SparseVector;
