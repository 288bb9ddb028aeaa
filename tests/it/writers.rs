//! Concurrent writers: two or three `splade` processes that change one index
//! at the same moment (append, delete, compact, rebuild). One writer at a
//! time holds the index's lock; the others fail at once with a message
//! naming the holder (or wait with `--wait`). Afterwards the index verifies
//! and holds exactly the documents of some serial order of the writers that
//! reported success.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use splade::Index;

use super::fixtures::{ok, splade_bin};

/// Documents of the starting index (and of every rebuild): `b0`..`b199`.
const BASE: usize = 200;

/// One writer of a round.
#[derive(Clone, Debug)]
enum Op {
    /// `index --append` of these new ids.
    Append(Vec<String>),
    /// `delete --ignore-missing` of these ids.
    Delete(Vec<String>),
    /// `compact`.
    Compact,
    /// `index` (a rebuild) of the base documents.
    Rebuild,
}

impl Op {
    /// The live ids after this op, applied to `live`.
    fn apply(&self, live: &BTreeSet<String>) -> BTreeSet<String> {
        match self {
            Op::Append(ids) => live.iter().chain(ids).cloned().collect(),
            Op::Delete(ids) => live.iter().filter(|i| !ids.contains(i)).cloned().collect(),
            Op::Compact => live.clone(),
            Op::Rebuild => base_ids(),
        }
    }
}

fn base_ids() -> BTreeSet<String> {
    (0..BASE).map(|i| format!("b{i}")).collect()
}

/// A vectors file of `ids`, each with a few terms.
fn vectors(ids: &[String]) -> String {
    const TERMS: [&str; 6] = ["law", "rust", "index", "sparse", "query", "model"];
    ids.iter()
        .enumerate()
        .map(|(n, id)| {
            let (a, b) = (TERMS[n % 6], TERMS[(n / 6 + 1 + n) % 6]);
            let terms = if a == b {
                format!("\"{a}\":{}", 0.5 + n as f32 / 100.0)
            } else {
                format!("\"{a}\":{},\"{b}\":0.25", 0.5 + n as f32 / 100.0)
            };
            format!("{{\"id\":\"{id}\",\"vector\":{{{terms}}}}}\n")
        })
        .collect()
}

/// Starts the writer `op` (its input file written beforehand as `name`).
fn spawn(dir: &Path, op: &Op, name: &str, wait: bool) -> Child {
    let mut args: Vec<String> = match op {
        Op::Append(ids) => {
            std::fs::write(dir.join(name), vectors(ids)).unwrap();
            ["index", "--append", "--vectors", name]
                .map(String::from)
                .to_vec()
        }
        Op::Delete(ids) => {
            let mut a = vec!["delete".to_string(), "--ignore-missing".to_string()];
            a.extend(ids.iter().cloned());
            a
        }
        Op::Compact => vec!["compact".to_string()],
        Op::Rebuild => ["index", "--vectors", "base.jsonl"]
            .map(String::from)
            .to_vec(),
    };
    args.extend(["--index".to_string(), "idx".to_string(), "-q".to_string()]);
    if wait {
        args.push("--wait".to_string());
    }
    Command::new(splade_bin())
        .args(&args)
        .current_dir(dir)
        .env_remove("SPLADE_INDEX")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn splade")
}

/// The live external ids of the index in `dir/idx`.
fn live_ids(dir: &Path) -> BTreeSet<String> {
    let index = Index::open(&dir.join("idx")).expect("the index opens");
    (0..index.num_docs())
        .filter(|&d| !index.is_deleted(d))
        .map(|d| index.doc_id(d).unwrap().to_string())
        .collect()
}

/// Every order of `ops`.
fn permutations(ops: &[Op]) -> Vec<Vec<Op>> {
    if ops.len() <= 1 {
        return vec![ops.to_vec()];
    }
    let mut all = Vec::new();
    for i in 0..ops.len() {
        let mut rest = ops.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            all.push(tail);
        }
    }
    all
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// The writers of round `round`: two or three, each kind at most once.
fn round_ops(rng: &mut Rng, round: usize) -> Vec<Op> {
    let n = 2 + rng.below(2);
    let mut kinds: Vec<usize> = (0..4).collect();
    let mut ops = Vec::new();
    for w in 0..n {
        let kind = kinds.remove(rng.below(kinds.len()));
        ops.push(match kind {
            0 => Op::Append((0..3).map(|j| format!("r{round}w{w}d{j}")).collect()),
            1 => Op::Delete((0..2).map(|_| format!("b{}", rng.below(BASE))).collect()),
            2 => Op::Compact,
            _ => Op::Rebuild,
        });
    }
    ops
}

/// Runs `rounds` rounds; returns how many writers were refused for the lock.
fn race(rounds: usize, wait: bool, seed: u64) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let base: Vec<String> = base_ids().into_iter().collect();
    std::fs::write(dir.join("base.jsonl"), vectors(&base)).unwrap();
    ok(
        dir,
        &["index", "--vectors", "base.jsonl", "--index", "idx", "-q"],
    );
    let mut live = live_ids(dir);
    let mut rng = Rng(seed);
    let mut refused = 0;
    for round in 0..rounds {
        let ops = round_ops(&mut rng, round);
        let children: Vec<Child> = ops
            .iter()
            .enumerate()
            .map(|(w, op)| spawn(dir, op, &format!("r{round}w{w}.jsonl"), wait))
            .collect();
        let mut succeeded = Vec::new();
        for (op, child) in ops.iter().zip(children) {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            if out.status.success() {
                succeeded.push(op.clone());
                continue;
            }
            // The only acceptable failure: refused for the lock, at once.
            assert!(!wait, "round {round}: {op:?} failed while waiting: {err}");
            assert_eq!(out.status.code(), Some(2), "round {round}: {op:?}: {err}");
            assert!(
                err.contains("another splade is writing to this index")
                    && err.contains("write.lock")
                    && err.contains("--wait"),
                "round {round}: {op:?} failed for another reason: {err}"
            );
            refused += 1;
        }
        ok(dir, &["verify", "--index", "idx", "-q"]);
        let now = live_ids(dir);
        let orders = permutations(&succeeded);
        assert!(
            orders
                .iter()
                .any(|order| order.iter().fold(live.clone(), |s, op| op.apply(&s)) == now),
            "round {round}: the index holds documents of no serial order of {succeeded:?}"
        );
        live = now;
    }
    refused
}

#[test]
fn concurrent_writers_never_corrupt_the_index() {
    let refused = race(50, false, 7);
    eprintln!("concurrent writers: {refused} writers refused for the lock in 50 rounds");
    // The writers did overlap: otherwise this test checked nothing.
    assert!(
        refused > 0,
        "no writer ever met another: no race was tested"
    );
}

#[test]
fn waiting_writers_all_commit_one_after_another() {
    assert_eq!(race(10, true, 11), 0);
}

#[test]
fn a_writer_names_the_process_holding_the_lock() {
    // Hold the lock from this process, as a writer at work would.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("v.jsonl"), vectors(&["d1".to_string()])).unwrap();
    ok(
        dir,
        &["index", "--vectors", "v.jsonl", "--index", "idx", "-q"],
    );
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("idx/write.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(dir.join("idx/write.lock"), "4242\n").unwrap();
    for args in [
        &[
            "index",
            "--append",
            "--vectors",
            "v.jsonl",
            "--index",
            "idx",
        ][..],
        &["delete", "d1", "--index", "idx"],
        &["compact", "--index", "idx"],
        &["index", "--vectors", "v.jsonl", "--index", "idx"],
    ] {
        let err = super::fixtures::fails(dir, args);
        assert!(err.contains("process 4242"), "{args:?}: {err}");
    }
    // Readers never take the lock.
    ok(dir, &["info", "--index", "idx"]);
    ok(dir, &["verify", "--index", "idx"]);
    drop(lock);
    ok(dir, &["delete", "d1", "--index", "idx"]);
}
