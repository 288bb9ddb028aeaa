//! Statistics of sparse vector files, side by side: what
//! `examples/synth_vectors.rs` is calibrated against.
//!
//! ```sh
//! cargo run --release --example vector_stats -- --max-docs 14091 \
//!     real REAL_DOCS.jsonl REAL_QUERIES.jsonl synthetic SYN_DOCS.jsonl SYN_QUERIES.jsonl
//! ```
//!
//! Each set is a name, a documents file and a queries file in the format of
//! `splade encode`; only the first `--max-docs` documents are read, so that
//! frequency statistics compare collections of the same size. Prints a
//! Markdown table on stdout.

use std::collections::HashMap;
use std::io::BufRead;

use serde::Deserialize;

#[derive(Deserialize)]
struct Line {
    vector: HashMap<String, f64>,
}

fn read(path: &str, max: usize) -> Vec<Vec<(String, f64)>> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    std::io::BufReader::new(f)
        .lines()
        .take(max)
        .map(|l| {
            let l: Line = serde_json::from_str(&l.expect("read")).expect("json");
            l.vector.into_iter().collect()
        })
        .collect()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// `(row name, value)` pairs for one collection.
fn stats(docs: &[Vec<(String, f64)>], queries: &[Vec<(String, f64)>]) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    let n = docs.len() as f64;
    row("documents", docs.len().to_string());
    for (name, set) in [("doc", docs), ("query", queries)] {
        let mut nnz: Vec<f64> = set.iter().map(|d| d.len() as f64).collect();
        nnz.sort_by(f64::total_cmp);
        row(
            &format!("{name} terms mean / p10 / p50 / p90"),
            format!(
                "{:.1} / {} / {} / {}",
                mean(&nnz),
                pct(&nnz, 0.1),
                pct(&nnz, 0.5),
                pct(&nnz, 0.9)
            ),
        );
        let mut w: Vec<f64> = set.iter().flatten().map(|p| p.1).collect();
        w.sort_by(f64::total_cmp);
        row(
            &format!("{name} weight mean / p10 / p50 / p90 / p99 / max"),
            format!(
                "{:.3} / {:.3} / {:.3} / {:.3} / {:.3} / {:.3}",
                mean(&w),
                pct(&w, 0.1),
                pct(&w, 0.5),
                pct(&w, 0.9),
                pct(&w, 0.99),
                pct(&w, 1.0)
            ),
        );
    }
    let mut postings: HashMap<&str, Vec<u32>> = HashMap::new();
    for (i, d) in docs.iter().enumerate() {
        for (t, _) in d {
            postings.entry(t).or_default().push(i as u32);
        }
    }
    let mut df: Vec<f64> = postings.values().map(|p| p.len() as f64).collect();
    df.sort_by(|a, b| b.total_cmp(a));
    row("tokens used", df.len().to_string());
    let at = |r: usize| df.get(r - 1).map_or(0.0, |d| d / n);
    row(
        "df fraction at rank 1 / 10 / 100 / 1k / 5k / 10k",
        format!(
            "{:.3} / {:.3} / {:.4} / {:.4} / {:.5} / {:.5}",
            at(1),
            at(10),
            at(100),
            at(1000),
            at(5000),
            at(10000)
        ),
    );
    let mut qdf: Vec<f64> = queries
        .iter()
        .flatten()
        .map(|(t, _)| postings.get(t.as_str()).map_or(0, |p| p.len()) as f64 / n)
        .collect();
    qdf.sort_by(f64::total_cmp);
    row(
        "query-term df fraction p10 / p50 / p90",
        format!(
            "{:.4} / {:.4} / {:.4}",
            pct(&qdf, 0.1),
            pct(&qdf, 0.5),
            pct(&qdf, 0.9)
        ),
    );
    let post: f64 = queries
        .iter()
        .map(|q| {
            q.iter()
                .map(|(t, _)| postings.get(t.as_str()).map_or(0, |p| p.len()))
                .sum::<usize>() as f64
        })
        .sum::<f64>()
        / queries.len().max(1) as f64;
    row("postings per query / documents", format!("{:.2}", post / n));
    // Co-occurrence: for pairs of terms of one query, documents holding
    // both over what independence predicts (median over pairs); among each
    // query's 20 heaviest terms, for the first 200 queries, so that long
    // queries over large collections stay quick.
    let mut lifts = Vec::new();
    for q in queries.iter().take(200) {
        let mut q = q.clone();
        q.sort_by(|a, b| b.1.total_cmp(&a.1));
        q.truncate(20);
        for (i, (a, _)) in q.iter().enumerate() {
            for (b, _) in &q[i + 1..] {
                let (Some(pa), Some(pb)) = (postings.get(a.as_str()), postings.get(b.as_str()))
                else {
                    continue;
                };
                let expected = pa.len() as f64 * pb.len() as f64 / n;
                if expected < 1.0 {
                    continue;
                }
                let (mut x, mut y, mut both) = (0, 0, 0usize);
                while x < pa.len() && y < pb.len() {
                    match pa[x].cmp(&pb[y]) {
                        std::cmp::Ordering::Less => x += 1,
                        std::cmp::Ordering::Greater => y += 1,
                        std::cmp::Ordering::Equal => {
                            both += 1;
                            x += 1;
                            y += 1;
                        }
                    }
                }
                lifts.push(both as f64 / expected);
            }
        }
    }
    lifts.sort_by(f64::total_cmp);
    if !lifts.is_empty() {
        row(
            "query-term pair co-occurrence lift p50 / p90",
            format!("{:.2} / {:.2}", pct(&lifts, 0.5), pct(&lifts, 0.9)),
        );
    }
    rows
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut max = usize::MAX;
    if args.first().map(String::as_str) == Some("--max-docs") {
        max = args[1].parse().expect("--max-docs N");
        args.drain(..2);
    }
    if args.is_empty() || !args.len().is_multiple_of(3) {
        eprintln!("usage: vector_stats [--max-docs N] (NAME DOCS QUERIES)...");
        std::process::exit(2);
    }
    let sets: Vec<(String, Vec<(String, String)>)> = args
        .chunks(3)
        .map(|c| {
            (
                c[0].clone(),
                stats(&read(&c[1], max), &read(&c[2], usize::MAX)),
            )
        })
        .collect();
    let names: Vec<&str> = sets.iter().map(|s| s.0.as_str()).collect();
    println!("| statistic | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    for (i, (k, _)) in sets[0].1.iter().enumerate() {
        let vals: Vec<&str> = sets.iter().map(|s| s.1[i].1.as_str()).collect();
        println!("| {k} | {} |", vals.join(" | "));
    }
}
