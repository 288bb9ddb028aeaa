//! Bounded-memory accumulation of postings while indexing.
//!
//! Postings are kept in memory as raw `(doc, f32 weight)` per token until
//! their estimated size passes the budget; then they are written, sorted by
//! token, as a *run* to a temp file and memory is released. At commit the
//! runs are merged by token; for one token, runs are concatenated in order,
//! which is doc order because ordinals only grow. Weights stay raw `f32`
//! until that final pass, so spilling never changes the output bytes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::error::IndexError;

/// One token's postings: `(doc, weight)` in doc order.
pub(crate) type List = Vec<(u32, f32)>;

/// Estimated bytes of bookkeeping per distinct token held in memory.
const TERM_OVERHEAD: u64 = 64;

/// Postings accumulated so far, in memory and in spilled runs.
pub(crate) struct Accumulator {
    dir: PathBuf,
    stem: String,
    budget: u64,
    ids: HashMap<String, u32>,
    names: Vec<String>,
    lists: Vec<List>,
    bytes: u64,
    runs: Vec<PathBuf>,
}

impl Accumulator {
    /// Runs go to `<dir>/<stem>.run-K.tmp`.
    pub(crate) fn new(dir: &Path, stem: &str, budget: u64) -> Self {
        Accumulator {
            dir: dir.to_path_buf(),
            stem: stem.to_string(),
            budget,
            ids: HashMap::new(),
            names: Vec::new(),
            lists: Vec::new(),
            bytes: 0,
            runs: Vec::new(),
        }
    }

    /// Adds one document's (validated, duplicate-free) terms; spills when
    /// over budget.
    pub(crate) fn add(&mut self, doc: u32, terms: &[(&str, f32)]) -> Result<(), IndexError> {
        for &(term, w) in terms {
            let id = match self.ids.get(term) {
                Some(&id) => id,
                None => {
                    let id = self.names.len() as u32;
                    self.ids.insert(term.to_string(), id);
                    self.names.push(term.to_string());
                    self.lists.push(Vec::new());
                    self.bytes += TERM_OVERHEAD + 2 * term.len() as u64;
                    id
                }
            };
            self.lists[id as usize].push((doc, w));
            self.bytes += 8;
        }
        if self.bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Number of runs spilled so far.
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Takes the in-memory postings, sorted by token bytes.
    fn take_sorted(&mut self) -> Vec<(String, List)> {
        self.ids.clear();
        self.bytes = 0;
        let mut all: Vec<(String, List)> = std::mem::take(&mut self.names)
            .into_iter()
            .zip(std::mem::take(&mut self.lists))
            .collect();
        all.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        all
    }

    /// Writes the in-memory postings as the next sorted run.
    fn spill(&mut self) -> Result<(), IndexError> {
        let path = self
            .dir
            .join(format!("{}.run-{}.tmp", self.stem, self.runs.len()));
        let io = |e| IndexError::io(&path, e);
        let mut out = BufWriter::with_capacity(1 << 16, File::create(&path).map_err(io)?);
        for (term, list) in self.take_sorted() {
            let count = list.len() as u32;
            out.write_all(&(term.len() as u32).to_le_bytes())
                .map_err(io)?;
            out.write_all(term.as_bytes()).map_err(io)?;
            out.write_all(&count.to_le_bytes()).map_err(io)?;
            for (doc, w) in list {
                out.write_all(&doc.to_le_bytes()).map_err(io)?;
                out.write_all(&w.to_bits().to_le_bytes()).map_err(io)?;
            }
        }
        out.flush().map_err(io)?;
        self.runs.push(path);
        Ok(())
    }

    /// Calls `f(token, postings)` for every token in byte order, merging the
    /// runs (which are deleted afterwards) with what is still in memory.
    pub(crate) fn drain(
        mut self,
        mut f: impl FnMut(&str, &List) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        if self.runs.is_empty() {
            for (term, list) in self.take_sorted() {
                f(&term, &list)?;
            }
            return Ok(());
        }
        if !self.names.is_empty() {
            self.spill()?;
        }
        merge_runs(&self.runs, &mut f)?;
        for run in &self.runs {
            fs::remove_file(run).map_err(|e| IndexError::io(run, e))?;
        }
        Ok(())
    }
}

/// K-way merge of sorted runs; equal tokens are concatenated in run order.
fn merge_runs(
    runs: &[PathBuf],
    f: &mut impl FnMut(&str, &List) -> Result<(), IndexError>,
) -> Result<(), IndexError> {
    let mut readers = Vec::with_capacity(runs.len());
    let mut heads: Vec<Option<(String, List)>> = Vec::with_capacity(runs.len());
    let mut heap = BinaryHeap::new();
    for (i, path) in runs.iter().enumerate() {
        let file = File::open(path).map_err(|e| IndexError::io(path, e))?;
        let mut r = RunReader {
            path,
            input: BufReader::with_capacity(1 << 16, file),
        };
        let head = r.next()?;
        if let Some((t, _)) = &head {
            heap.push(Reverse((t.clone(), i)));
        }
        heads.push(head);
        readers.push(r);
    }
    let mut merged = List::new();
    while let Some(Reverse((term, i))) = heap.pop() {
        merged.clear();
        let mut next = Some(i);
        while let Some(j) = next {
            if let Some((_, list)) = heads[j].take() {
                merged.extend_from_slice(&list);
            }
            heads[j] = readers[j].next()?;
            if let Some((t, _)) = &heads[j] {
                heap.push(Reverse((t.clone(), j)));
            }
            next = match heap.peek() {
                Some(Reverse((t, k))) if *t == term => Some(*k),
                _ => None,
            };
            if next.is_some() {
                heap.pop();
            }
        }
        f(&term, &merged)?;
    }
    Ok(())
}

/// Sequential reader of one run file.
struct RunReader<'a> {
    path: &'a Path,
    input: BufReader<File>,
}

impl RunReader<'_> {
    fn u32(&mut self) -> Result<Option<u32>, IndexError> {
        let mut b = [0u8; 4];
        match self.input.read_exact(&mut b) {
            Ok(()) => Ok(Some(u32::from_le_bytes(b))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(IndexError::io(self.path, e)),
        }
    }

    fn need(&mut self) -> Result<u32, IndexError> {
        self.u32()?
            .ok_or_else(|| IndexError::io(self.path, std::io::ErrorKind::UnexpectedEof.into()))
    }

    /// The next token and its postings, `None` at the end of the run.
    fn next(&mut self) -> Result<Option<(String, List)>, IndexError> {
        let Some(len) = self.u32()? else {
            return Ok(None);
        };
        let mut term = vec![0u8; len as usize];
        self.input
            .read_exact(&mut term)
            .map_err(|e| IndexError::io(self.path, e))?;
        let term = String::from_utf8(term).map_err(|e| {
            IndexError::io(
                self.path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        let count = self.need()?;
        let mut list = List::with_capacity(count as usize);
        for _ in 0..count {
            let doc = self.need()?;
            let w = f32::from_bits(self.need()?);
            list.push((doc, w));
        }
        Ok(Some((term, list)))
    }
}
