//! Reading pre-encoded vectors: the JSONL that `splade encode` writes.
//!
//! Each line is `{"id": ..., "vector": {"token": weight, ...}}`; weights must
//! be finite numbers, zero weights (and weights too small for an `f32`) are
//! dropped, negative ones and ones too large for an `f32` refused. A line
//! may also carry the document's `"text"` (and `"title"`), from which
//! `splade index --vectors` then writes lexical (BM25) postings too.

use std::io::BufRead;

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// One pre-encoded document.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorRecord {
    /// External id.
    pub id: String,
    /// `(token, weight)` pairs, weights > 0.
    pub terms: Vec<(String, f32)>,
    /// The document's text, when the line carries one.
    pub text: Option<String>,
    /// The document's title, when the line carries one.
    pub title: Option<String>,
    /// 1-based line number.
    pub line: u64,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(alias = "_id")]
    id: Value,
    vector: serde_json::Map<String, Value>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

/// Streams [`VectorRecord`]s from JSONL.
pub struct VectorReader {
    name: String,
    reader: Box<dyn BufRead + Send>,
    line: u64,
    buf: String,
    bytes: u64,
}

impl VectorReader {
    /// Opens a file, or stdin for `-`.
    pub fn open(path: &str) -> Result<Self> {
        let (name, reader) = super::input::open_input(path)?;
        Ok(Self::new(name, reader))
    }

    /// Reads from any stream; `name` appears in errors.
    pub fn new(name: String, reader: Box<dyn BufRead + Send>) -> Self {
        VectorReader {
            name,
            reader,
            line: 0,
            buf: String::new(),
            bytes: 0,
        }
    }

    /// Bytes read so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The name used in messages (`<stdin>` for stdin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads up to `max` records and parses them on all threads; an empty
    /// batch means the input is exhausted. Records (and errors) come in
    /// input order, so a batch is what `max` calls of `next` would give.
    pub fn next_batch(&mut self, max: usize) -> Vec<Result<VectorRecord>> {
        let mut lines: Vec<(u64, std::result::Result<String, Error>)> = Vec::new();
        while lines.len() < max {
            match self.next_line() {
                None => break,
                Some(Ok(text)) => lines.push((self.line, Ok(text))),
                Some(Err(e)) => lines.push((self.line, Err(e))),
            }
        }
        let name = &self.name;
        lines
            .into_par_iter()
            .map(|(line, text)| text.and_then(|t| parse(name, line, &t)))
            .collect()
    }

    /// The next non-empty line (trimmed, BOM removed) as an owned string.
    fn next_line(&mut self) -> Option<Result<String>> {
        loop {
            self.buf.clear();
            match self.reader.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(n) => self.bytes += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    self.line += 1;
                    return Some(Err(input_err(&self.name, self.line, "invalid UTF-8")));
                }
                Err(e) => return Some(Err(Error::io(&self.name, e))),
            }
            self.line += 1;
            let text = self.buf.trim_start_matches('\u{feff}').trim();
            if !text.is_empty() {
                return Some(Ok(text.to_string()));
            }
        }
    }
}

fn input_err(name: &str, line: u64, message: impl Into<String>) -> Error {
    Error::Input {
        source_name: name.to_string(),
        line,
        message: message.into(),
    }
}

/// Parses line `line` of `name`.
fn parse(name: &str, line: u64, text: &str) -> Result<VectorRecord> {
    let err = |m: String| input_err(name, line, m);
    let raw: Raw =
        serde_json::from_str(text).map_err(|e| err(format!("invalid vector line: {e}")))?;
    let id = match raw.id {
        Value::String(s) if !s.is_empty() => s,
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(err(
                "field \"id\" must be a non-empty string or a number".into()
            ));
        }
    };
    let mut terms = Vec::with_capacity(raw.vector.len());
    for (token, w) in raw.vector {
        let w = w
            .as_f64()
            .ok_or_else(|| err(format!("weight of {token:?} is not a number")))?;
        if !(w.is_finite() && w >= 0.0) {
            return Err(err(format!("weight of {token:?} is {w}, expected >= 0")));
        }
        // Weights are stored as f32: one that overflows it is refused, one
        // that underflows to zero is zero (dropped).
        let w32 = w as f32;
        if !w32.is_finite() {
            return Err(err(format!(
                "weight of {token:?} is {w:e}, larger than an f32 can hold"
            )));
        }
        if w32 > 0.0 {
            terms.push((token, w32));
        }
    }
    Ok(VectorRecord {
        id,
        terms,
        text: raw.text,
        title: raw.title,
        line,
    })
}

impl Iterator for VectorReader {
    type Item = Result<VectorRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.next_line()?;
        Some(text.and_then(|t| parse(&self.name, self.line, &t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_encode_output_and_reports_bad_lines() {
        let text = "{\"id\":\"a\",\"vector\":{\"x\":1.5,\"y\":0}}\n\n{\"id\":\"b\",\"vector\":{\"x\":-1}}\n";
        let reader = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        let got: Vec<_> = VectorReader::new("v.jsonl".into(), reader).collect();
        let a = got[0].as_ref().unwrap();
        assert_eq!(a.terms, vec![("x".to_string(), 1.5)]);
        let e = got[1].as_ref().unwrap_err().to_string();
        assert!(e.starts_with("v.jsonl:3: weight of \"x\" is -1"), "{e}");
    }

    #[test]
    fn batches_equal_one_by_one_reading() {
        let mut text = String::new();
        for i in 0..1000 {
            match i % 97 {
                5 => text.push_str("not json\n"),
                6 => text.push('\n'),
                _ => text.push_str(&format!(
                    "{{\"id\":{i},\"vector\":{{\"t{}\":0.5}}}}\n",
                    i % 7
                )),
            }
        }
        let open = || {
            VectorReader::new(
                "v".into(),
                Box::new(std::io::Cursor::new(text.clone().into_bytes())),
            )
        };
        let one: Vec<String> = open().map(|r| format!("{r:?}")).collect();
        let mut reader = open();
        let mut batched = Vec::new();
        loop {
            let batch = reader.next_batch(64);
            if batch.is_empty() {
                break;
            }
            batched.extend(batch.iter().map(|r| format!("{r:?}")));
        }
        assert_eq!(batched, one);
        assert!(
            one.iter()
                .any(|r| r.contains("v:6:") || r.contains("line: 6"))
        );
    }

    #[test]
    fn lines_may_carry_text_and_title() {
        let text = "{\"id\":\"a\",\"vector\":{\"x\":1},\"text\":\"t\",\"title\":\"T\"}\n\
                    {\"id\":\"b\",\"vector\":{\"x\":1}}\n\
                    {\"id\":\"c\",\"vector\":{\"x\":1},\"text\":7}\n";
        let reader = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        let got: Vec<_> = VectorReader::new("v".into(), reader).collect();
        let a = got[0].as_ref().unwrap();
        assert_eq!(
            (a.text.as_deref(), a.title.as_deref()),
            (Some("t"), Some("T"))
        );
        let b = got[1].as_ref().unwrap();
        assert_eq!((b.text.as_deref(), b.title.as_deref()), (None, None));
        let e = got[2].as_ref().unwrap_err().to_string();
        assert!(e.starts_with("v:3: invalid vector line"), "{e}");
    }

    #[test]
    fn weights_outside_f32_are_dropped_or_refused() {
        let text = "{\"id\":\"a\",\"vector\":{\"x\":1e-50,\"y\":1}}\n{\"id\":\"b\",\"vector\":{\"x\":1e300}}\n";
        let reader = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        let got: Vec<_> = VectorReader::new("v".into(), reader).collect();
        assert_eq!(got[0].as_ref().unwrap().terms, vec![("y".to_string(), 1.0)]);
        let e = got[1].as_ref().unwrap_err().to_string();
        assert!(
            e.starts_with("v:2: weight of \"x\" is 1e300, larger than"),
            "{e}"
        );
    }
}
