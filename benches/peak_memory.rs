//! Peak memory of `splade index --vectors` on 100k synthetic documents
//! (~120 terms each from a 30k vocabulary, Zipf-like), per memory budget:
//! the measurement behind README's "memory bound" figure.
//!
//! ```sh
//! cargo bench --bench peak_memory
//! ```
//!
//! Needs `/usr/bin/time` (GNU time, for the peak RSS of the child). Prints
//! one line per budget and exits 1 if a peak exceeds `1.5 x budget + 150`
//! MiB. This was an ignored test; it is a measurement, so it lives here.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

/// xorshift64*, seeded: the same documents on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Writes the synthetic vectors file.
fn write_vectors(path: &Path, docs: usize, vocab: usize) {
    let mut rng = Rng(3u64.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..docs {
        let mut terms = std::collections::BTreeMap::new();
        while terms.len() < 120 {
            // Zipf-like ranks: rank = vocab^u - 1 for uniform u.
            let u = rng.below(1 << 20) as f64 / (1 << 20) as f64;
            let rank = ((vocab as f64).powf(u) - 1.0) as usize;
            terms.insert(rank, 0.01 + rng.below(3000) as f64 / 1000.0);
        }
        write!(out, "{{\"id\":\"d{i}\",\"vector\":{{").unwrap();
        for (j, (t, w)) in terms.iter().enumerate() {
            write!(out, "{}\"t{t}\":{w}", if j > 0 { "," } else { "" }).unwrap();
        }
        writeln!(out, "}}}}").unwrap();
    }
}

fn main() -> ExitCode {
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("peak_memory: needs /usr/bin/time (GNU time)");
        return ExitCode::from(2);
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let docs = 100_000;
    write_vectors(&dir.join("v.jsonl"), docs, 30_000);
    let size = std::fs::metadata(dir.join("v.jsonl")).unwrap().len();
    println!("input: {docs} docs, {:.0} MB", size as f64 / 1e6);
    let mut within = true;
    for budget in ["16", "64", "256", "1024"] {
        let started = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(env!("CARGO_BIN_EXE_splade"))
            .args(["index", "--vectors", "v.jsonl", "--index", "idx", "-q"])
            .args(["--memory-budget", budget])
            .current_dir(dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let kb: u64 = err.trim().lines().last().unwrap().trim().parse().unwrap();
        let mb = kb as f64 / 1024.0;
        println!(
            "--memory-budget {budget} MiB: peak RSS {mb:.0} MiB, {:.1}s",
            started.elapsed().as_secs_f64()
        );
        within &= mb < budget.parse::<f64>().unwrap() * 1.5 + 150.0;
    }
    if within {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
