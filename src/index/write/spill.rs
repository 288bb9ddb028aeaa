//! Bounded-memory accumulation of postings while indexing.
//!
//! Postings are kept in memory as raw `(doc, f32 weight)` per token until
//! their estimated size passes the budget; then they are written, sorted by
//! token, as a *run* to a temp file and memory is released. At commit the
//! runs are merged by token; for one token, runs are concatenated in order,
//! which is doc order because ordinals only grow. Weights stay raw `f32`
//! until that final pass, so spilling never changes the output bytes.
//!
//! A run ends with an end mark (`u32::MAX` where a token length would be)
//! and the CRC32 of every byte before the mark: a run damaged or cut short
//! on disk between its spill and the merge fails the build instead of
//! becoming part of the index.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::index::error::IndexError;

/// One token's postings: `(doc, weight)` in doc order.
pub(crate) type List = Vec<(u32, f32)>;

/// Estimated bytes of bookkeeping per distinct token held in memory.
const TERM_OVERHEAD: u64 = 64;

/// Where a token length would be: the run's end, followed by its CRC32.
const END_MARK: u32 = u32::MAX;

/// Longest token a run may name; longer means the run is damaged.
const MAX_TOKEN_BYTES: u32 = 1 << 24;

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
        // A fresh name under the held write lock: created new, never truncated.
        let file = File::create_new(&path).map_err(io)?;
        let mut out = HashingWriter {
            out: BufWriter::with_capacity(1 << 16, file),
            hasher: crc32fast::Hasher::new(),
        };
        for (term, list) in self.take_sorted() {
            let count = list.len() as u32;
            out.put(&(term.len() as u32).to_le_bytes()).map_err(io)?;
            out.put(term.as_bytes()).map_err(io)?;
            out.put(&count.to_le_bytes()).map_err(io)?;
            for (doc, w) in list {
                out.put(&doc.to_le_bytes()).map_err(io)?;
                out.put(&w.to_bits().to_le_bytes()).map_err(io)?;
            }
        }
        let crc = out.hasher.clone().finalize();
        out.out.write_all(&END_MARK.to_le_bytes()).map_err(io)?;
        out.out.write_all(&crc.to_le_bytes()).map_err(io)?;
        out.out.flush().map_err(io)?;
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
            hasher: crc32fast::Hasher::new(),
            done: false,
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

/// A run being written, hashed as it goes.
struct HashingWriter {
    out: BufWriter<File>,
    hasher: crc32fast::Hasher,
}

impl HashingWriter {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.out.write_all(bytes)
    }
}

/// Sequential reader of one run file, checking its CRC32 at the end mark.
struct RunReader<'a> {
    path: &'a Path,
    input: BufReader<File>,
    hasher: crc32fast::Hasher,
    done: bool,
}

impl RunReader<'_> {
    /// Reads exactly `b.len()` bytes; the end of the file here means the
    /// run was cut short.
    fn fill(&mut self, b: &mut [u8]) -> Result<(), IndexError> {
        match self.input.read_exact(b) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(IndexError::corrupt(
                self.path,
                "spilled run ends before its end mark (truncated)",
            )),
            Err(e) => Err(IndexError::io(self.path, e)),
        }
    }

    /// The next `u32`, unhashed.
    fn raw_u32(&mut self) -> Result<u32, IndexError> {
        let mut b = [0u8; 4];
        self.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// The next `u32`, hashed.
    fn need(&mut self) -> Result<u32, IndexError> {
        let v = self.raw_u32()?;
        self.hasher.update(&v.to_le_bytes());
        Ok(v)
    }

    /// The next token and its postings, `None` at the end of the run (once
    /// its CRC32 matched).
    fn next(&mut self) -> Result<Option<(String, List)>, IndexError> {
        if self.done {
            return Ok(None);
        }
        let len = self.raw_u32()?;
        if len == END_MARK {
            self.done = true;
            let stated = self.raw_u32()?;
            let actual = self.hasher.clone().finalize();
            if stated != actual {
                return Err(IndexError::corrupt(
                    self.path,
                    format!(
                        "spilled run CRC32 mismatch: computed {actual:08x}, stored {stated:08x}"
                    ),
                ));
            }
            return Ok(None);
        }
        self.hasher.update(&len.to_le_bytes());
        if len > MAX_TOKEN_BYTES {
            return Err(IndexError::corrupt(
                self.path,
                format!("spilled run names a token of {len} bytes"),
            ));
        }
        let mut term = vec![0u8; len as usize];
        self.fill(&mut term)?;
        self.hasher.update(&term);
        let term = String::from_utf8(term)
            .map_err(|_| IndexError::corrupt(self.path, "spilled run holds a non-UTF-8 token"))?;
        let count = self.need()?;
        // Capacity bounded: a damaged count fails at the CRC, not in malloc.
        let mut list = List::with_capacity(count.min(1 << 16) as usize);
        for _ in 0..count {
            let doc = self.need()?;
            let w = f32::from_bits(self.need()?);
            list.push((doc, w));
        }
        Ok(Some((term, list)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An accumulator that spilled two runs of three documents each.
    fn spilled(dir: &Path) -> Accumulator {
        let mut acc = Accumulator::new(dir, "seg-000001", 1);
        for doc in 0..6u32 {
            acc.add(doc, &[("alpha", 1.0 + doc as f32), ("beta", 0.5)])
                .unwrap();
        }
        assert!(acc.runs() >= 2, "the test needs spilled runs");
        acc
    }

    fn drained(acc: Accumulator) -> Result<Vec<(String, List)>, IndexError> {
        let mut out = Vec::new();
        acc.drain(|t, l| {
            out.push((t.to_string(), l.clone()));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn runs_merge_back_to_what_was_added() {
        let dir = tempfile::tempdir().unwrap();
        let all = drained(spilled(dir.path())).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, "alpha");
        let docs: Vec<u32> = all[0].1.iter().map(|p| p.0).collect();
        assert_eq!(docs, (0..6).collect::<Vec<_>>());
        assert_eq!(all[1].1.len(), 6);
    }

    #[test]
    fn a_damaged_or_truncated_run_fails_the_merge() {
        type Damage = fn(&mut Vec<u8>);
        let damages: [(&str, Damage); 3] = [
            ("flipped weight", |b| b[12] ^= 0x40),
            ("truncated", |b| b.truncate(b.len() - 3)),
            ("no end mark", |b| b.truncate(b.len() - 8)),
        ];
        for (what, damage) in damages {
            let dir = tempfile::tempdir().unwrap();
            let acc = spilled(dir.path());
            let run = dir.path().join("seg-000001.run-0.tmp");
            let mut bytes = fs::read(&run).unwrap();
            damage(&mut bytes);
            fs::write(&run, bytes).unwrap();
            match drained(acc) {
                Err(IndexError::Corrupt { path, .. }) => assert_eq!(path, run, "{what}"),
                other => panic!("{what}: expected a corrupt run, got {other:?}"),
            }
        }
    }
}
