//! Writers for what `splade` prints on stdout.
//!
//! Vectors are written as `{"id": ..., "vector": {"token": weight, ...}}`
//! by default, with tokens in term-id order and weights in the shortest form
//! that reads back to the same f32; [`VectorWriter`] also writes the shapes
//! that search engines ingest as they are (Qdrant, Elasticsearch,
//! OpenSearch, PostgreSQL + pgvector, Milvus, Seismic, Anserini).

use std::borrow::Cow;
use std::io::{self, Write};

use super::point_id::point_id;
use crate::encoder::Vocab;
use crate::sparse::SparseVector;

/// Writes one JSONL line for an encoded text.
pub fn write_vector_line(
    out: &mut impl Write,
    id: &str,
    vector: &SparseVector,
    vocab: &Vocab,
) -> io::Result<()> {
    out.write_all(b"{\"id\":")?;
    serde_json::to_writer(&mut *out, id)?;
    out.write_all(b",\"vector\":{")?;
    for (n, (term, weight)) in vector.iter().enumerate() {
        if n > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, name(vocab, term))?;
        write!(out, ":{weight}")?;
    }
    out.write_all(b"}}\n")
}

/// The token of a term id of a vector the encoder made.
fn name(vocab: &Vocab, term: u32) -> &str {
    vocab
        .get(term as usize)
        .expect("term ids are below the vocabulary size")
}

/// The vector shapes `splade encode --format` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VectorFormat {
    /// `{"id", "vector": {token: weight}}`.
    #[default]
    Jsonl,
    /// A Qdrant point: `{"id": point id, "vector": {"splade": {"indices":
    /// [term id], "values": [weight]}}, "payload": {"doc_id": id}}`, where
    /// the point id is [`point_id`] of the id;
    /// with `query`, `{"id", "query": {"indices", "values"}, "using":
    /// "splade"}` (the fields of Qdrant's query API).
    Qdrant,
    /// PostgreSQL `COPY ... FROM STDIN` text for a table `(id text, v
    /// sparsevec(V))`: the id, a tab, and a pgvector `sparsevec` literal
    /// `{i:w,...}/V` with 1-based indices `i = term id + 1` and `V` the
    /// vocabulary size.
    Pgvector,
    /// A Milvus row: `{"id", "splade": {"term id": weight}}` for a
    /// `SPARSE_FLOAT_VECTOR` field named `splade`.
    Milvus,
    /// Bulk NDJSON (`{"index": {...}}` then `{field: {token: weight}}`)
    /// for a `sparse_vector` field; with `query`, `_msearch` NDJSON.
    Elasticsearch,
    /// Bulk NDJSON for a `rank_features` field; with `query`, `_msearch`
    /// NDJSON of `neural_sparse` queries.
    OpenSearch,
    /// `{"id", "content", "vector": {token: weight}}`.
    Seismic,
    /// Anserini's JsonVectorCollection: `{"id", "contents", "vector":
    /// {token: int}}` with `int = round(100 * weight)`, zeros dropped; with
    /// `query`, a `TsvString` topic line (`id TAB tokens`, each token
    /// repeated `int` times, what `SearchCollection -impact -pretokenized`
    /// reads as weights).
    Anserini,
}

/// Writes encoded texts in one [`VectorFormat`].
#[derive(Clone, Debug)]
pub struct VectorWriter {
    /// The shape.
    pub format: VectorFormat,
    /// The vectors are queries (changes the Elasticsearch/OpenSearch shape).
    pub query: bool,
    /// Index name in Elasticsearch/OpenSearch action lines.
    pub es_index: String,
    /// Field holding the vector in Elasticsearch/OpenSearch documents.
    pub es_field: String,
}

/// The name of the sparse vector (Qdrant) or field (Milvus) in exports.
pub const VECTOR_NAME: &str = "splade";

/// The factor of Anserini's integer weights: `round(weight * 100)`, the
/// quantization Pyserini uses for SPLADE impact indexes.
pub const ANSERINI_SCALE: f32 = 100.0;

impl VectorWriter {
    /// Writes one encoded text (`text` is used by the formats that carry it).
    pub fn write(
        &self,
        out: &mut impl Write,
        id: &str,
        text: &str,
        vector: &SparseVector,
        vocab: &Vocab,
    ) -> io::Result<()> {
        let tokens = vector.iter().map(|(t, w)| (name(vocab, t), w));
        match self.format {
            VectorFormat::Jsonl => write_vector_line(out, id, vector, vocab),
            VectorFormat::Qdrant => self.write_qdrant(out, id, vector),
            VectorFormat::Pgvector => write_pgvector(out, id, vector, vocab.len()),
            VectorFormat::Milvus => {
                out.write_all(b"{\"id\":")?;
                serde_json::to_writer(&mut *out, id)?;
                write!(out, ",\"{VECTOR_NAME}\":{{")?;
                for (n, (t, w)) in vector.iter().enumerate() {
                    write!(out, "{}\"{t}\":{w}", if n > 0 { "," } else { "" })?;
                }
                out.write_all(b"}}\n")
            }
            VectorFormat::Anserini if self.query => write_anserini_topic(out, id, tokens),
            VectorFormat::Seismic | VectorFormat::Anserini => {
                let (content, scale) = match self.format {
                    VectorFormat::Seismic => ("content", None),
                    _ => ("contents", Some(ANSERINI_SCALE)),
                };
                out.write_all(b"{\"id\":")?;
                serde_json::to_writer(&mut *out, id)?;
                write!(out, ",\"{content}\":")?;
                serde_json::to_writer(&mut *out, text)?;
                out.write_all(b",\"vector\":")?;
                write_token_map(out, tokens, scale, false)?;
                out.write_all(b"}\n")
            }
            VectorFormat::Elasticsearch | VectorFormat::OpenSearch => {
                self.write_engine(out, id, tokens)
            }
        }
    }

    /// Qdrant: a point (documents) or a query request (queries).
    fn write_qdrant(
        &self,
        out: &mut impl Write,
        id: &str,
        vector: &SparseVector,
    ) -> io::Result<()> {
        out.write_all(b"{\"id\":")?;
        if self.query {
            serde_json::to_writer(&mut *out, id)?;
            out.write_all(b",\"query\":")?;
        } else {
            write!(out, "{},\"vector\":{{\"{VECTOR_NAME}\":", point_id(id))?;
        }
        out.write_all(b"{\"indices\":")?;
        serde_json::to_writer(&mut *out, vector.indices())?;
        out.write_all(b",\"values\":[")?;
        for (n, w) in vector.values().iter().enumerate() {
            write!(out, "{}{w}", if n > 0 { "," } else { "" })?;
        }
        if self.query {
            return writeln!(out, "]}},\"using\":\"{VECTOR_NAME}\"}}");
        }
        out.write_all(b"]}},\"payload\":{\"doc_id\":")?;
        serde_json::to_writer(&mut *out, id)?;
        out.write_all(b"}}\n")
    }

    /// Elasticsearch/OpenSearch: a bulk action and document, or (queries)
    /// an `_msearch` header and body.
    fn write_engine<'a>(
        &self,
        out: &mut impl Write,
        id: &str,
        tokens: impl Iterator<Item = (&'a str, f32)>,
    ) -> io::Result<()> {
        let index = serde_json::to_string(&self.es_index)?;
        let field = serde_json::to_string(&self.es_field)?;
        if !self.query {
            write!(out, "{{\"index\":{{\"_index\":{index},\"_id\":")?;
            serde_json::to_writer(&mut *out, id)?;
            write!(out, "}}}}\n{{{field}:")?;
            write_token_map(out, tokens, None, true)?;
            return out.write_all(b"}\n");
        }
        writeln!(out, "{{\"index\":{index}}}")?;
        match self.format {
            VectorFormat::OpenSearch => {
                write!(
                    out,
                    "{{\"query\":{{\"neural_sparse\":{{{field}:{{\"query_tokens\":"
                )?;
                write_token_map(out, tokens, None, true)?;
                out.write_all(b"}}}}\n")
            }
            _ => {
                write!(
                    out,
                    "{{\"query\":{{\"sparse_vector\":{{\"field\":{field},\"query_vector\":"
                )?;
                write_token_map(out, tokens, None, true)?;
                out.write_all(b"}}}\n")
            }
        }
    }
}

/// An Anserini topic line: the id, a tab, each token `round(100 * w)` times.
fn write_anserini_topic<'a>(
    out: &mut impl Write,
    id: &str,
    tokens: impl Iterator<Item = (&'a str, f32)>,
) -> io::Result<()> {
    out.write_all(column_safe(id).as_bytes())?;
    out.write_all(b"\t")?;
    let mut first = true;
    for (token, weight) in tokens {
        for _ in 0..(weight * ANSERINI_SCALE).round() as u32 {
            if !first {
                out.write_all(b" ")?;
            }
            first = false;
            out.write_all(token.as_bytes())?;
        }
    }
    out.write_all(b"\n")
}

/// One `COPY` text row: the escaped id, a tab, `{i:w,...}/dim` (1-based).
fn write_pgvector(
    out: &mut impl Write,
    id: &str,
    vector: &SparseVector,
    dim: usize,
) -> io::Result<()> {
    out.write_all(copy_text_field(id).as_bytes())?;
    out.write_all(b"\t{")?;
    for (n, (t, w)) in vector.iter().enumerate() {
        write!(out, "{}{}:{w}", if n > 0 { "," } else { "" }, t + 1)?;
    }
    writeln!(out, "}}/{dim}")
}

/// A value in PostgreSQL's `COPY` text format: backslash, tab, newline and
/// carriage return escaped (`\\`, `\t`, `\n`, `\r`), so that any id
/// reads back as itself; `\N` alone would mean NULL, and is escaped too.
pub fn copy_text_field(s: &str) -> Cow<'_, str> {
    if !s.contains(['\\', '\t', '\n', '\r']) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\t' => o.push_str("\\t"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            c => o.push(c),
        }
    }
    Cow::Owned(o)
}

/// `{token: weight, ...}`; with `scale`, integer weights `round(w * scale)`
/// (zeros dropped); with `engine`, feature names escaped by [`engine_feature`].
fn write_token_map<'a>(
    out: &mut impl Write,
    tokens: impl Iterator<Item = (&'a str, f32)>,
    scale: Option<f32>,
    engine: bool,
) -> io::Result<()> {
    out.write_all(b"{")?;
    let mut first = true;
    for (token, weight) in tokens {
        let int = scale.map(|s| (weight * s).round() as u32);
        if int == Some(0) {
            continue;
        }
        if !first {
            out.write_all(b",")?;
        }
        first = false;
        let name = if engine {
            engine_feature(token)
        } else {
            Cow::Borrowed(token)
        };
        serde_json::to_writer(&mut *out, name.as_ref())?;
        match int {
            Some(i) => write!(out, ":{i}")?,
            None => write!(out, ":{weight}")?,
        }
    }
    out.write_all(b"}")
}

/// A token as an Elasticsearch/OpenSearch feature name. Both engines refuse
/// dots in `sparse_vector`/`rank_features` feature names, so `.` becomes
/// `%2E` and `%` becomes `%25` (reversible, and no two tokens collide);
/// queries exported with `--query` are escaped the same way.
pub fn engine_feature(token: &str) -> Cow<'_, str> {
    if !token.contains(['.', '%']) {
        return Cow::Borrowed(token);
    }
    Cow::Owned(token.replace('%', "%25").replace('.', "%2E"))
}

/// Makes a field safe for TREC/TSV output, where tabs, spaces and newlines
/// separate columns and records: each run of whitespace becomes `_`.
pub fn column_safe(s: &str) -> String {
    if !s.chars().any(char::is_whitespace) && !s.is_empty() {
        return s.to_owned();
    }
    if s.is_empty() {
        return "_".into();
    }
    s.split_whitespace().collect::<Vec<_>>().join("_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_line_is_json_with_tokens() {
        let vocab = Vocab::from_tokens(&["[PAD]", "a\"b", "##c"]);
        let v = SparseVector::new(vec![1, 2], vec![0.5, 1.25]).unwrap();
        let mut buf = Vec::new();
        write_vector_line(&mut buf, "d\t1", &v, &vocab).unwrap();
        let line = String::from_utf8(buf).unwrap();
        assert_eq!(
            line,
            "{\"id\":\"d\\t1\",\"vector\":{\"a\\\"b\":0.5,\"##c\":1.25}}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["vector"]["##c"], 1.25);
    }

    fn render(format: VectorFormat, query: bool) -> String {
        let vocab = Vocab::from_tokens(&["[PAD]", "a.b", "##c", "d"]);
        let v = SparseVector::new(vec![1, 2, 3], vec![0.5, 1.25, 0.004]).unwrap();
        let w = VectorWriter {
            format,
            query,
            es_index: "idx".into(),
            es_field: "splade".into(),
        };
        let mut buf = Vec::new();
        w.write(&mut buf, "7", "some text", &v, &vocab).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn export_formats_have_the_engines_shapes() {
        assert_eq!(
            render(VectorFormat::Qdrant, false),
            "{\"id\":7,\"vector\":{\"splade\":{\"indices\":[1,2,3],\"values\":[0.5,1.25,0.004]}},\
             \"payload\":{\"doc_id\":\"7\"}}\n"
        );
        assert_eq!(
            render(VectorFormat::Qdrant, true),
            "{\"id\":\"7\",\"query\":{\"indices\":[1,2,3],\"values\":[0.5,1.25,0.004]},\
             \"using\":\"splade\"}\n"
        );
        assert_eq!(
            render(VectorFormat::Anserini, true),
            format!("7\t{}{}\n", "a.b ".repeat(50), ["##c"; 125].join(" "))
        );
        assert_eq!(
            render(VectorFormat::Pgvector, false),
            "7\t{2:0.5,3:1.25,4:0.004}/4\n"
        );
        assert_eq!(
            render(VectorFormat::Milvus, false),
            "{\"id\":\"7\",\"splade\":{\"1\":0.5,\"2\":1.25,\"3\":0.004}}\n"
        );
        assert_eq!(
            render(VectorFormat::Seismic, false),
            "{\"id\":\"7\",\"content\":\"some text\",\"vector\":{\"a.b\":0.5,\"##c\":1.25,\"d\":0.004}}\n"
        );
        assert_eq!(
            render(VectorFormat::Anserini, false),
            "{\"id\":\"7\",\"contents\":\"some text\",\"vector\":{\"a.b\":50,\"##c\":125}}\n"
        );
        assert_eq!(
            render(VectorFormat::Elasticsearch, false),
            "{\"index\":{\"_index\":\"idx\",\"_id\":\"7\"}}\n\
             {\"splade\":{\"a%2Eb\":0.5,\"##c\":1.25,\"d\":0.004}}\n"
        );
        assert_eq!(
            render(VectorFormat::Elasticsearch, true),
            "{\"index\":\"idx\"}\n{\"query\":{\"sparse_vector\":{\"field\":\"splade\",\
             \"query_vector\":{\"a%2Eb\":0.5,\"##c\":1.25,\"d\":0.004}}}}\n"
        );
        assert_eq!(
            render(VectorFormat::OpenSearch, true),
            "{\"index\":\"idx\"}\n{\"query\":{\"neural_sparse\":{\"splade\":{\
             \"query_tokens\":{\"a%2Eb\":0.5,\"##c\":1.25,\"d\":0.004}}}}}\n"
        );
    }

    #[test]
    fn json_exports_are_one_json_value_per_line() {
        for format in [
            VectorFormat::Jsonl,
            VectorFormat::Qdrant,
            VectorFormat::Milvus,
            VectorFormat::Seismic,
            VectorFormat::Anserini,
            VectorFormat::Elasticsearch,
            VectorFormat::OpenSearch,
        ] {
            for query in [false, true] {
                if format == VectorFormat::Anserini && query {
                    continue;
                }
                for line in render(format, query).lines() {
                    serde_json::from_str::<serde_json::Value>(line).unwrap();
                }
            }
        }
    }

    #[test]
    fn engine_features_escape_dots_and_percents() {
        assert_eq!(engine_feature("100%.x"), "100%25%2Ex");
        assert_eq!(engine_feature("plain"), "plain");
    }

    #[test]
    fn copy_text_escapes_what_copy_would_split_on() {
        assert_eq!(copy_text_field("plain id"), "plain id");
        assert_eq!(copy_text_field("a\tb\nc\\d\re"), "a\\tb\\nc\\\\d\\re");
        assert_eq!(copy_text_field("\\N"), "\\\\N");
    }

    #[test]
    fn column_safe_replaces_whitespace() {
        assert_eq!(column_safe("a b\tc\nd"), "a_b_c_d");
        assert_eq!(column_safe("plain"), "plain");
        assert_eq!(column_safe(""), "_");
    }
}
