//! `splade verify`: the full checksum scan, with exit code 1 for damage.

use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use splade::index::{Index, IndexError};

use super::common::note;

/// Check every checksum of an index; exit 1 if anything is damaged.
///
/// Reads every file the index's meta.json references (segments and deletes
/// files) and compares its CRC32 with its footer and meta.json. `search`,
/// `eval`, `explain` and `index --append` run the same scan before they
/// answer; `info` only checks lengths and headers.
///
/// Exit codes: 0 intact; 1 damaged (a checksum, length or header is wrong,
/// a referenced file is missing, or the format version is not this
/// splade's); 2 the index could not be checked (no index there, or an I/O
/// error such as a permission denied).
///
/// Examples:
///   splade verify --index ./idx && echo intact
///   splade verify --index ./idx || splade index corpus.jsonl --index ./idx
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct VerifyArgs {
    /// Index directory.
    #[arg(long, env = "SPLADE_INDEX", default_value = "./splade-index")]
    index: PathBuf,
}

pub fn run(args: VerifyArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let checked = Index::open(&args.index).and_then(|index| index.verify().map(|()| index));
    match checked {
        Ok(index) => {
            note(
                quiet,
                format!(
                    "{}: ok ({} documents)",
                    args.index.display(),
                    index.num_docs()
                ),
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) if is_damage(&err) => {
            eprintln!("splade: {}: {err}", args.index.display());
            Ok(ExitCode::from(1))
        }
        Err(err) => {
            Err(err).with_context(|| format!("cannot verify the index at {}", args.index.display()))
        }
    }
}

/// Whether an error of opening or verifying an index is damage found in it
/// (exit 1) rather than a failure to look (exit 2). The match names every
/// variant, so that a new one is classified where it is added.
fn is_damage(err: &IndexError) -> bool {
    match err {
        IndexError::Corrupt { .. } | IndexError::Version { .. } => true,
        // A file meta.json names is not there (meta.json's own absence is
        // `NotAnIndex`), or its bytes do not read (meta.json not UTF-8, a
        // file shorter than stated); other I/O errors say nothing of the
        // index.
        IndexError::Io { source, .. } => matches!(
            source.kind(),
            ErrorKind::NotFound | ErrorKind::InvalidData | ErrorKind::UnexpectedEof
        ),
        // Reading, this comes only from impossible counts in meta.json.
        IndexError::Limit(_) => true,
        IndexError::NotAnIndex { .. }
        | IndexError::NotEmpty { .. }
        | IndexError::DuplicateId { .. }
        | IndexError::InvalidVector { .. }
        | IndexError::IdExists { .. }
        | IndexError::UnknownId { .. }
        | IndexError::Changed { .. }
        | IndexError::Locked { .. }
        | IndexError::Incompatible { .. }
        | IndexError::NoLexical { .. }
        | IndexError::NoSplade { .. }
        | IndexError::MissingText { .. } => false,
    }
}
