//! A stable-Rust driver for the cargo-fuzz targets in `fuzz/src/lib.rs`:
//! seeded random mutations of each target's seeds, every execution under
//! `catch_unwind`. No coverage feedback, so it is a smoke test, not a
//! substitute for `cargo +nightly fuzz run`; it runs in CI and fails with the
//! offending input in hex. `SPLADE_FUZZ_ITERS` sets executions per target
//! (default 2000), `SPLADE_FUZZ_SEED` the first seed.

use std::panic::{AssertUnwindSafe, catch_unwind};

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod targets;

/// xorshift64*: deterministic and dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const INTERESTING: [u8; 14] = [
    0, 1, 0x7f, 0x80, 0xff, b'{', b'}', b'"', b'\n', b'\r', b'\t', b' ', b'\\', 0xc3,
];

/// One to four random edits of `input`, in the spirit of libFuzzer's
/// mutators: bit flips, byte sets, inserts, deletes, duplications,
/// truncation, little-endian integer overwrites and splices.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                b.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let chunk = b[i..i + n].to_vec();
                let at = rng.below(len + 1);
                b.splice(at..at, chunk);
            }
            5 if len > 0 => b.truncate(rng.below(len)),
            6 if len >= 8 => {
                let i = rng.below(len - 7);
                let v: u64 = match rng.below(6) {
                    0 => 0,
                    1 => 1,
                    2 => u32::MAX as u64,
                    3 => u64::MAX,
                    4 => len as u64,
                    _ => rng.next() % 4096,
                };
                let w = if rng.below(2) == 0 { 4 } else { 8 };
                b[i..i + w].copy_from_slice(&v.to_le_bytes()[..w]);
            }
            7 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            _ => {
                let i = rng.below(len + 1);
                b.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
        }
    }
    b
}

fn iterations() -> usize {
    std::env::var("SPLADE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn first_seed() -> u64 {
    std::env::var("SPLADE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `target` on its seeds, then on `iterations()` mutants; returns the
/// number of executions. Panics with the failing inputs if any execution
/// panicked.
fn smoke(target: &str) -> usize {
    let seeds = targets::seeds(target);
    let mut pool = seeds.clone();
    let mut rng = Rng::new(first_seed() ^ target.len() as u64);
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut execute = |input: &[u8], failures: &mut Vec<String>| {
        runs += 1;
        let r = catch_unwind(AssertUnwindSafe(|| targets::run_target(target, input)));
        if let Err(p) = r {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!(
                "{msg}\n  input: {}",
                hex(&input[..input.len().min(512)])
            ));
        }
    };
    for s in &seeds {
        execute(s, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{target} fails on its seeds:\n{}",
        failures.join("\n")
    );
    for _ in 0..iterations() {
        let base = &pool[rng.below(pool.len())];
        let other = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base, other);
        execute(&input, &mut failures);
        // Keep some mutants as parents so that edits accumulate.
        if rng.below(8) == 0 && input.len() < 1 << 16 {
            if pool.len() < 64 {
                pool.push(input);
            } else {
                let i = seeds.len() + rng.below(pool.len() - seeds.len());
                pool[i] = input;
            }
        }
        if failures.len() >= 5 {
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} failing inputs:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("fuzz smoke {target}: {runs} executions, no failure");
    runs
}

#[test]
fn fuzz_smoke_index_files() {
    smoke("index_files");
}

#[test]
fn fuzz_smoke_jsonl_docs() {
    smoke("jsonl_docs");
}

#[test]
fn fuzz_smoke_queries() {
    smoke("queries");
}

#[test]
fn fuzz_smoke_vectors() {
    smoke("vectors");
}

#[test]
fn fuzz_smoke_qrels_run() {
    smoke("qrels_run");
}

/// The template index is valid, and the footer helper agrees with the
/// index's own page table and CRC (so that flagged fuzz inputs are
/// checksum-valid).
#[test]
fn fuzz_template_is_a_valid_index() {
    let t = targets::template();
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in &t.files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let index = splade::Index::open(dir.path()).unwrap();
    index.verify().unwrap();
    assert_eq!(index.num_docs(), targets::DOCS);
    for f in t.meta.segments.iter().flat_map(|s| &s.files) {
        let bytes = &t.files[&f.name];
        assert_eq!(targets::crc32(&bytes[..bytes.len() - 16]), f.crc32);
        // The body's length is in the page trailer, before the footer.
        let n = bytes.len();
        let body = u64::from_le_bytes(bytes[n - 32..n - 24].try_into().unwrap()) as usize;
        assert_eq!(&targets::with_footer(&bytes[..body]), bytes);
    }
    let hits = splade::search(&index, &splade::Query::new([("common", 1.0)]), 5).unwrap();
    assert_eq!(hits.len(), 5);
    let mut expected: Vec<(f32, u32)> = (0..targets::DOCS)
        .map(|d| (targets::template_terms(d)[0].1, d))
        .collect();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let got: Vec<u32> = hits.iter().map(|h| h.doc).collect();
    let want: Vec<u32> = expected.iter().take(5).map(|e| e.1).collect();
    assert_eq!(got, want);
}
