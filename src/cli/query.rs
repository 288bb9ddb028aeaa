//! What the subcommands that answer from an index share (`search`, `eval`,
//! `explain`, `index --append`): opening it, the query encoder the index's
//! recorded model and settings call for, and running a file of queries.

use std::path::Path;

use anyhow::{Context, bail};
use clap::ValueEnum;
use splade::encoder::{Encoder, LongDocs};
use splade::index::{Index, ModelInfo};
use splade::io::{InputFormat, RecordReader};
use splade::search::Hit;

use super::common::{
    FieldNames, LongDocsMode, ModelArgs, PrecisionMode, announce_stdin, load_encoder,
};
use super::rank::Ranker;

/// Opens an index with a message that says where: the same cheap checks
/// at any size. What answers from it is checked as it is read (each page
/// by its CRC32, the first time a query reads it): a damaged page is
/// refused, naming its file, by the search or lookup that reads it, never
/// answered from; `splade verify` checks every byte.
pub fn open_index(dir: &Path) -> anyhow::Result<Index> {
    Index::open(dir).with_context(|| format!("cannot open the index at {}", dir.display()))
}

/// The encoder for queries: the index's model with the index's encoding
/// settings; `--model` and the encoding flags must agree with them.
pub fn query_encoder(index: &Index, args: &ModelArgs) -> anyhow::Result<Encoder> {
    // A lexical-only index has no model, and nothing a query vector finds.
    index.require_splade()?;
    let recorded = index.meta().model.clone();
    if let (Some(info), None, Some(rev)) = (&recorded, &args.model, &args.revision) {
        bail!(
            "--revision {rev} names a revision of --model; without --model the index's model \
             is used, `{}`{}",
            info.id,
            info.revision
                .as_ref()
                .map(|r| format!(" at revision {r}"))
                .unwrap_or_default()
        );
    }
    match (recorded, &args.model) {
        (None, None) => bail!(
            "the index at {} records no model (it was built from vectors); pass --model",
            index.dir().display()
        ),
        (None, Some(_)) => args.load(),
        (Some(info), named) => {
            let args = recorded_settings(&info, args, index.dir())?;
            let encoder = match named {
                None => load_encoder(&info.id, info.revision.as_deref(), &args).context(
                    "cannot load the model recorded in the index; pass --model with a local copy",
                )?,
                Some(_) => args.load()?,
            };
            if !encoder.is_model(&info)? {
                let which = match named {
                    Some(name) => format!("--model {name}"),
                    None => format!("the model now at `{}`", info.id),
                };
                bail!(
                    "{which} is not the model the index was built with ({}, fingerprint {}; \
                     this one has {}); search with that model or rebuild the index",
                    info.id,
                    info.fingerprint,
                    encoder.fingerprint()?
                );
            }
            Ok(encoder)
        }
    }
}

/// `args` with the encoding settings the index records filled in where no
/// flag is given: queries are encoded as the documents were. A flag that
/// says otherwise is refused. An index that records none (older, or built
/// from vectors) leaves the flags as they are.
fn recorded_settings(info: &ModelInfo, args: &ModelArgs, dir: &Path) -> anyhow::Result<ModelArgs> {
    let mut args = args.clone();
    if let Some(m) = info.max_length {
        agree(&mut args.max_length, m as usize, dir, |m| {
            format!("--max-length {m}")
        })?;
    }
    if let Some(p) = info.precision {
        // An index records the precision of its vectors (int8 records
        // f32), so a flag agrees when it makes those vectors.
        let mut makes = args.precision.map(|m| m.precision().vectors());
        agree(&mut makes, p.vectors(), dir, |p| {
            format!("--precision {}", flag_value(PrecisionMode::of(p)))
        })?;
        args.precision.get_or_insert(PrecisionMode::of(p));
    }
    let long_docs = |m| format!("--long-docs {}", flag_value(m));
    match info.long_docs {
        None => {}
        Some(LongDocs::Truncate) => {
            agree(&mut args.long_docs, LongDocsMode::Truncate, dir, long_docs)?
        }
        Some(LongDocs::Window { window, stride }) => {
            agree(&mut args.long_docs, LongDocsMode::Window, dir, long_docs)?;
            agree(&mut args.window, window, dir, |w| format!("--window {w}"))?;
            agree(&mut args.stride, stride, dir, |s| format!("--stride {s}"))?;
        }
    }
    Ok(args)
}

/// Sets `flag` to the index's `recorded` value, or refuses a different one.
fn agree<T: PartialEq + Copy>(
    flag: &mut Option<T>,
    recorded: T,
    dir: &Path,
    show: impl Fn(T) -> String,
) -> anyhow::Result<()> {
    match *flag {
        Some(given) if given != recorded => bail!(
            "{} contradicts the index at {}: the index was encoded with {}, and queries must \
             be encoded as its documents were; omit the flag",
            show(given),
            dir.display(),
            show(recorded)
        ),
        _ => *flag = Some(recorded),
    }
    Ok(())
}

/// How a `ValueEnum` value is spelled on the command line.
fn flag_value(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_owned())
}

/// Encodes a query into `(token, weight)` terms.
pub fn query_terms(encoder: &Encoder, text: &str) -> anyhow::Result<Vec<(String, f32)>> {
    let v = encoder.encode_one(text)?;
    Ok(owned(encoder.terms(&v)))
}

fn owned(terms: Vec<(&str, f32)>) -> Vec<(String, f32)> {
    terms.into_iter().map(|(t, w)| (t.to_owned(), w)).collect()
}

/// The queries of a file: ids and texts.
pub fn read_queries(path: &str) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    announce_stdin(path, "queries");
    let reader = RecordReader::open(path, InputFormat::Auto, FieldNames::default())?;
    let queries = reader.collect::<Result<Vec<_>, _>>()?;
    let texts = queries.iter().map(|q| q.full_text()).collect();
    Ok((queries.into_iter().map(|q| q.id).collect(), texts))
}

/// Reads and ranks every query of a file; returns query ids and hits.
pub fn run_queries(
    ranker: &Ranker,
    path: &str,
    k: usize,
) -> anyhow::Result<(Vec<String>, Vec<Vec<Hit>>)> {
    let (ids, texts) = read_queries(path)?;
    Ok((ids, ranker.rank(&texts, k)?))
}
