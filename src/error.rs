//! The library's typed error.
//!
//! Variants carry the evidence a user needs to act: the file, the line, the
//! tensor, what was expected and what was found. The CLI prints the message
//! once (`splade: <message>`) and maps the variant to an exit code.

use std::path::PathBuf;

/// Everything the `splade` library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A bad input record: `docs.jsonl:17: missing field "text"`.
    #[error("{source_name}:{line}: {message}")]
    Input {
        /// File name as given by the user, or `<stdin>`.
        source_name: String,
        /// 1-based line number.
        line: u64,
        /// What was wrong with the line.
        message: String,
    },

    /// A model file that is missing, unreadable or not what we expect.
    #[error("{}: {message}", path.display())]
    Model {
        /// The model file (config.json, model.safetensors, tokenizer.json).
        path: PathBuf,
        /// What was wrong.
        message: String,
    },

    /// A tensor the BERT masked-LM needs is not in the checkpoint.
    #[error("{}: missing tensor `{name}` (also tried: {tried})", path.display())]
    MissingTensor {
        /// The safetensors file.
        path: PathBuf,
        /// The canonical name of the tensor.
        name: String,
        /// Other names that were looked up.
        tried: String,
    },

    /// A tensor exists but has the wrong shape for config.json.
    #[error("{}: tensor `{name}` has shape {found:?}, config.json implies {expected:?}", path.display())]
    TensorShape {
        /// The safetensors file.
        path: PathBuf,
        /// The tensor name as stored in the file.
        name: String,
        /// Shape implied by config.json.
        expected: Vec<usize>,
        /// Shape found in the file.
        found: Vec<usize>,
    },

    /// The Hugging Face hub could not provide a model.
    #[error(
        "could not fetch `{file}` of model `{repo}` from the Hugging Face hub: {message}; \
         a local folder holding config.json, model.safetensors and tokenizer.json needs no hub"
    )]
    Hub {
        /// Repository id, e.g. `rasyosef/splade-mini`.
        repo: String,
        /// File that was requested.
        file: String,
        /// The hub client's message.
        message: String,
    },

    /// A tensor computation failed.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),

    /// An index error (format, corruption, version).
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),

    /// Anything else, described in words.
    #[error("{0}")]
    Msg(String),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A model-file error.
    pub(crate) fn model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
