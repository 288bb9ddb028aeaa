//! Writers for what `splade` prints on stdout.
//!
//! Vectors are written as `{"id": ..., "vector": {"token": weight, ...}}`,
//! the shape Seismic and Elasticsearch ingest, with tokens in term-id order
//! and weights in the shortest form that reads back to the same f32.

use std::io::{self, Write};

use crate::sparse::SparseVector;

/// Writes one JSONL line for an encoded text.
pub fn write_vector_line(
    out: &mut impl Write,
    id: &str,
    vector: &SparseVector,
    vocab: &[String],
) -> io::Result<()> {
    out.write_all(b"{\"id\":")?;
    serde_json::to_writer(&mut *out, id)?;
    out.write_all(b",\"vector\":{")?;
    for (n, (term, weight)) in vector.iter().enumerate() {
        if n > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &vocab[term as usize])?;
        write!(out, ":{weight}")?;
    }
    out.write_all(b"}}\n")
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

/// True for the error a closed pipe gives (`splade ... | head`).
pub fn is_broken_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_line_is_json_with_tokens() {
        let vocab: Vec<String> = ["[PAD]", "a\"b", "##c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
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

    #[test]
    fn column_safe_replaces_whitespace() {
        assert_eq!(column_safe("a b\tc\nd"), "a_b_c_d");
        assert_eq!(column_safe("plain"), "plain");
        assert_eq!(column_safe(""), "_");
    }
}
