//! Reading relevance judgments and runs, with line numbers in errors.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{Error, Result};

/// Relevance judgments: query id -> document id -> grade.
#[derive(Clone, Debug, Default)]
pub struct Qrels {
    pub(crate) queries: BTreeMap<String, HashMap<String, i32>>,
}

impl Qrels {
    /// No judgments.
    pub fn new() -> Qrels {
        Qrels::default()
    }

    /// Records a judgment (a repeated pair keeps the last grade).
    pub fn insert(&mut self, qid: &str, docid: &str, grade: i32) {
        self.queries
            .entry(qid.to_string())
            .or_default()
            .insert(docid.to_string(), grade);
    }

    /// Number of judged queries.
    pub fn num_queries(&self) -> usize {
        self.queries.len()
    }

    /// The judgments of one query.
    pub fn get(&self, qid: &str) -> Option<&HashMap<String, i32>> {
        self.queries.get(qid)
    }

    /// Parses BEIR TSV (`query-id corpus-id score`, with or without the
    /// header) or TREC qrels (`qid iter docid rel`), told apart per line by
    /// the number of whitespace-separated fields. `name` is used in errors.
    pub fn parse(input: impl BufRead, name: &str) -> Result<Qrels> {
        let mut qrels = Qrels::new();
        for_each_line(input, name, |line_no, fields| {
            let (q, d, g) = match fields {
                [q, d, g] => (q, d, g),
                [q, _, d, g] => (q, d, g),
                _ => {
                    return Err(format!(
                        "expected `query-id corpus-id score` or `qid 0 docid rel`, found {} fields",
                        fields.len()
                    ));
                }
            };
            match g.parse::<i32>() {
                Ok(g) => qrels.insert(q, d, g),
                // The BEIR header line.
                Err(_) if line_no == 1 => {}
                Err(_) => return Err(format!("relevance grade `{g}` is not an integer")),
            }
            Ok(())
        })?;
        Ok(qrels)
    }
}

/// A ranked run: query id -> `(document id, score)` in input order.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub(crate) queries: BTreeMap<String, Vec<(String, f64)>>,
}

impl Run {
    /// An empty run.
    pub fn new() -> Run {
        Run::default()
    }

    /// Adds one retrieved document. Rank positions are recomputed from the
    /// scores at evaluation, as trec_eval does.
    pub fn push(&mut self, qid: &str, docid: &str, score: f64) {
        self.queries
            .entry(qid.to_string())
            .or_default()
            .push((docid.to_string(), score));
    }

    /// Number of queries with results.
    pub fn num_queries(&self) -> usize {
        self.queries.len()
    }

    /// Parses a TREC run: `qid Q0 docid rank score tag` per line.
    pub fn parse(input: impl BufRead, name: &str) -> Result<Run> {
        let mut run = Run::new();
        for_each_line(input, name, |_, fields| {
            let [q, _, d, _, s, ..] = fields else {
                return Err(format!(
                    "expected `qid Q0 docid rank score tag`, found {} fields",
                    fields.len()
                ));
            };
            let score: f64 = s
                .parse()
                .map_err(|_| format!("score `{s}` is not a number"))?;
            run.push(q, d, score);
            Ok(())
        })?;
        Ok(run)
    }
}

/// Calls `f(line_number, fields)` for every non-blank line; an `Err(message)`
/// becomes an input error located at that line.
fn for_each_line(
    input: impl BufRead,
    name: &str,
    mut f: impl FnMut(u64, &[&str]) -> std::result::Result<(), String>,
) -> Result<()> {
    for (i, line) in input.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(|e| Error::Input {
            source_name: name.to_string(),
            line: line_no,
            message: e.to_string(),
        })?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        f(line_no, &fields).map_err(|message| Error::Input {
            source_name: name.to_string(),
            line: line_no,
            message,
        })?;
    }
    Ok(())
}

fn open(path: &Path) -> Result<BufReader<File>> {
    Ok(BufReader::new(
        File::open(path).map_err(|e| Error::io(path, e))?,
    ))
}

/// Reads relevance judgments (BEIR TSV or TREC qrels).
pub fn read_qrels(path: &Path) -> Result<Qrels> {
    Qrels::parse(open(path)?, &path.display().to_string())
}

/// Reads a TREC run file.
pub fn read_run(path: &Path) -> Result<Run> {
    Run::parse(open(path)?, &path.display().to_string())
}
