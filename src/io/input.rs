//! Reading documents and queries: JSONL, plain lines, or TSV.
//!
//! Field rules (shared by `encode`, `index` and `search --queries`): the id is
//! `_id` or `id` (a string or an integer), the text is `text` or `contents`,
//! and a non-empty `title` is prepended as `title + " " + text` (BEIR's
//! convention). Blank lines are skipped, a UTF-8 byte-order mark and CRLF
//! line ends are accepted. Anything else that is wrong is an
//! [`Error::Input`] naming the source and the line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// How each line is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One JSON object per line.
    Jsonl,
    /// One plain text per line; the id is the line number.
    Lines,
    /// `id<TAB>text` per line (Pyserini topics).
    Tsv,
    /// JSONL when a line starts with `{`, else TSV (for query files).
    Auto,
}

/// Which JSON fields hold the id, text and title; `None` means the defaults.
#[derive(Debug, Clone, Default)]
pub struct FieldNames {
    /// Overrides `_id` / `id`.
    pub id: Option<String>,
    /// Overrides `text` / `contents`.
    pub text: Option<String>,
    /// Overrides `title`.
    pub title: Option<String>,
}

/// One input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// External id.
    pub id: String,
    /// The title, when present and non-empty.
    pub title: Option<String>,
    /// The text field alone.
    pub body: String,
    /// 1-based line number in the source.
    pub line: u64,
}

impl Document {
    /// The text to encode: `title + " " + body` when there is a title.
    pub fn full_text(&self) -> String {
        match &self.title {
            Some(t) => format!("{t} {}", self.body),
            None => self.body.clone(),
        }
    }
}

/// Streams records from a file or stdin.
pub struct RecordReader {
    name: String,
    reader: Box<dyn BufRead + Send>,
    format: InputFormat,
    fields: FieldNames,
    line: u64,
    bytes: u64,
    buf: Vec<u8>,
}

impl RecordReader {
    /// Opens `path`, or stdin when it is `-`.
    pub fn open(path: &str, format: InputFormat, fields: FieldNames) -> Result<Self> {
        let (name, reader) = open_input(path)?;
        Ok(Self::new(name, reader, format, fields))
    }

    /// Reads from any byte stream; `name` is used in error messages.
    pub fn new(
        name: String,
        reader: Box<dyn BufRead + Send>,
        format: InputFormat,
        fields: FieldNames,
    ) -> Self {
        RecordReader {
            name,
            reader,
            format,
            fields,
            line: 0,
            bytes: 0,
            buf: Vec::new(),
        }
    }

    /// Reads from an in-memory string (tests, examples).
    pub fn from_str(name: &str, text: &str, format: InputFormat) -> Self {
        let bytes: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        Self::new(
            name.into(),
            Box::new(BufReader::new(bytes)),
            format,
            FieldNames::default(),
        )
    }

    /// Bytes consumed so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The name used in messages (`<stdin>` for stdin).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Input {
            source_name: self.name.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    /// The next non-blank line as text, without its line end.
    fn next_line(&mut self) -> Option<Result<String>> {
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(Error::io(&self.name, e))),
            }
            self.line += 1;
            self.bytes += self.buf.len() as u64;
            let mut bytes = self.buf.as_slice();
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            while let Some(b) = bytes
                .strip_suffix(b"\n")
                .or_else(|| bytes.strip_suffix(b"\r"))
            {
                bytes = b;
            }
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    return Some(Err(
                        self.err(format!("invalid UTF-8 at byte {}", e.valid_up_to()))
                    ));
                }
            };
            // A plain-text line may be blank on purpose; JSONL/TSV blank lines are noise.
            if self.format != InputFormat::Lines && text.trim().is_empty() {
                continue;
            }
            return Some(Ok(text.to_owned()));
        }
    }

    fn parse(&self, text: &str) -> Result<Document> {
        let format = match self.format {
            InputFormat::Auto if text.trim_start().starts_with('{') => InputFormat::Jsonl,
            InputFormat::Auto => InputFormat::Tsv,
            f => f,
        };
        match format {
            InputFormat::Lines => Ok(Document {
                id: self.line.to_string(),
                title: None,
                body: text.to_owned(),
                line: self.line,
            }),
            InputFormat::Tsv => self.parse_tsv(text),
            _ => self.parse_json(text),
        }
    }

    fn parse_tsv(&self, text: &str) -> Result<Document> {
        let (id, body) = text
            .split_once('\t')
            .ok_or_else(|| self.err("expected `id<TAB>text` (or a JSON object)"))?;
        if id.trim().is_empty() {
            return Err(self.err("empty id before the tab"));
        }
        Ok(Document {
            id: id.trim().to_owned(),
            title: None,
            body: body.to_owned(),
            line: self.line,
        })
    }

    fn parse_json(&self, text: &str) -> Result<Document> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| self.err(format!("invalid JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(self.err("expected a JSON object"));
        };
        // In this order: the first of several problems is the one reported.
        let id = self.json_id(&obj)?;
        let body = self.json_text(&obj)?;
        let title = self.json_title(&obj)?;
        Ok(Document {
            id,
            title,
            body,
            line: self.line,
        })
    }

    /// The id field: a non-empty string or a number. Errors name the
    /// field asked for (`id` by default, `_id` being tried first).
    fn json_id(&self, obj: &serde_json::Map<String, Value>) -> Result<String> {
        let id_names: Vec<&str> = match &self.fields.id {
            Some(f) => vec![f],
            None => vec!["_id", "id"],
        };
        let named = id_names[id_names.len() - 1];
        match id_names.iter().find_map(|n| obj.get(*n)) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::String(_)) => Err(self.err(format!("empty field \"{named}\""))),
            Some(other) => Err(self.err(format!(
                "field \"{named}\" is {}, expected a string",
                kind(other)
            ))),
            None => Err(self.err(format!("missing field \"{named}\""))),
        }
    }

    /// The text field (`text`, then `contents`, by default).
    fn json_text(&self, obj: &serde_json::Map<String, Value>) -> Result<String> {
        let text_names: Vec<&str> = match &self.fields.text {
            Some(f) => vec![f],
            None => vec!["text", "contents"],
        };
        match text_names.iter().find_map(|n| obj.get(*n).map(|v| (n, v))) {
            Some((_, Value::String(s))) => Ok(s.clone()),
            Some((n, other)) => Err(self.err(format!(
                "field \"{n}\" is {}, expected a string",
                kind(other)
            ))),
            None => Err(self.err(format!("missing field \"{}\"", text_names[0]))),
        }
    }

    /// The title field, `None` when absent, null or blank.
    fn json_title(&self, obj: &serde_json::Map<String, Value>) -> Result<Option<String>> {
        let title_name = self.fields.title.as_deref().unwrap_or("title");
        match obj.get(title_name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(format!(
                "field \"{title_name}\" is {}, expected a string",
                kind(other)
            ))),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Iterator for RecordReader {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = match self.next_line()? {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        Some(self.parse(&text))
    }
}

/// True when `path` names stdin (`-`), as every input argument may.
pub fn is_stdin(path: &str) -> bool {
    path == "-"
}

/// Opens an input argument for reading: the file, or stdin for `-`.
/// Returns the name messages quote (the path, or `<stdin>`) and the reader.
pub fn open_input(path: &str) -> Result<(String, Box<dyn BufRead + Send>)> {
    if is_stdin(path) {
        return Ok(("<stdin>".into(), Box::new(BufReader::new(std::io::stdin()))));
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok((
        path.into(),
        Box::new(BufReader::with_capacity(1 << 16, file)),
    ))
}

/// Size in bytes of an input, when known (for progress bars).
pub fn input_len(path: &str) -> Option<u64> {
    if is_stdin(path) {
        return None;
    }
    Path::new(path).metadata().ok().map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, format: InputFormat) -> Vec<Result<Document>> {
        RecordReader::from_str("docs.jsonl", text, format).collect()
    }

    #[test]
    fn jsonl_field_rules() {
        let docs = read(
            "{\"_id\":\"a\",\"title\":\"T\",\"text\":\"body\"}\n\
             {\"id\":7,\"contents\":\"c\"}\n\
             \n\
             {\"id\":\"x\",\"title\":\"  \",\"text\":\"\"}\r\n",
            InputFormat::Jsonl,
        );
        let docs: Vec<Document> = docs.into_iter().map(Result::unwrap).collect();
        assert_eq!(docs[0].full_text(), "T body");
        assert_eq!(docs[1].id, "7");
        assert_eq!(docs[1].full_text(), "c");
        assert_eq!(docs[2].line, 4);
        assert_eq!(docs[2].full_text(), "");
    }

    #[test]
    fn errors_name_source_and_line() {
        let got = read(
            "{\"id\":\"a\",\"text\":\"ok\"}\n{\"id\":\"b\"}\nnot json\n{\"id\":\"c\",\"text\":3}\n",
            InputFormat::Jsonl,
        );
        assert!(got[0].is_ok());
        let msgs: Vec<String> = got[1..]
            .iter()
            .map(|r| r.as_ref().unwrap_err().to_string())
            .collect();
        assert_eq!(msgs[0], "docs.jsonl:2: missing field \"text\"");
        assert!(
            msgs[1].starts_with("docs.jsonl:3: invalid JSON"),
            "{}",
            msgs[1]
        );
        assert_eq!(
            msgs[2],
            "docs.jsonl:4: field \"text\" is a number, expected a string"
        );
    }

    #[test]
    fn invalid_utf8_is_a_line_error_and_reading_goes_on() {
        let bytes: Vec<u8> =
            b"{\"id\":\"a\",\"text\":\"\xff\"}\n{\"id\":\"b\",\"text\":\"ok\"}\n".to_vec();
        let reader = Box::new(BufReader::new(std::io::Cursor::new(bytes)));
        let got: Vec<_> = RecordReader::new(
            "d".into(),
            reader,
            InputFormat::Jsonl,
            FieldNames::default(),
        )
        .collect();
        assert!(
            got[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .starts_with("d:1: invalid UTF-8")
        );
        assert_eq!(got[1].as_ref().unwrap().id, "b");
    }

    #[test]
    fn bom_lines_and_tsv() {
        let got = read("\u{feff}first\n\nthird\n", InputFormat::Lines);
        let docs: Vec<Document> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(docs.len(), 3);
        assert_eq!((docs[0].id.as_str(), docs[0].body.as_str()), ("1", "first"));
        assert_eq!(docs[1].body, "");
        let q: Vec<Document> = read(
            "q1\twhat is rust\n{\"id\":\"q2\",\"text\":\"x\"}\n",
            InputFormat::Auto,
        )
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert_eq!(
            (q[0].id.as_str(), q[0].body.as_str()),
            ("q1", "what is rust")
        );
        assert_eq!(q[1].id, "q2");
    }

    #[test]
    fn field_overrides() {
        let mut r = RecordReader::from_str(
            "d",
            "{\"doc\":\"1\",\"body\":\"b\",\"head\":\"h\"}\n",
            InputFormat::Jsonl,
        );
        r.fields = FieldNames {
            id: Some("doc".into()),
            text: Some("body".into()),
            title: Some("head".into()),
        };
        assert_eq!(r.next().unwrap().unwrap().full_text(), "h b");
    }
}
