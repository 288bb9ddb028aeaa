//! What opening an index and answering one cold query cost, and how much
//! of the index they checksum (format 6 checks each page by its CRC32 when
//! a read first covers it; older formats each file whole, when first read).
//!
//! ```sh
//! cargo run --release --example open_cost -- INDEX QUERIES.jsonl [N]
//! ```
//!
//! `QUERIES.jsonl` holds query vectors as `splade encode` (or
//! `examples/synth_vectors.rs`) writes them. For each of the first `N`
//! queries (default 1) the index is opened afresh, the query searched
//! (top 10, default options) and its hits' ids read, as `splade search`
//! does; printed per query: the milliseconds of open and of the query, the
//! bytes checksummed by each, the milliseconds of the same query again
//! (nothing left to check), and what pages of 16 and 64 KiB would have made
//! open and query checksum (from the 4 KiB pages checked). Run it after the files are in the page cache
//! (a first run, or `cat INDEX/* > /dev/null`) to leave disk reads out.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::time::Instant;

use splade::internal::{checked_bytes, checked_pages};
use splade::{Index, Query, search};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(queries)) = (args.first(), args.get(1)) else {
        return Err("usage: open_cost INDEX QUERIES.jsonl [N]".into());
    };
    let n: usize = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let file = std::io::BufReader::new(std::fs::File::open(queries)?);
    println!(
        "| query | open ms | open checked | query ms | query checked | again ms | \
         all with 16 KiB pages | all with 64 KiB pages | hits |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for line in file.lines().take(n) {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let terms = v["vector"].as_object().ok_or("a line without \"vector\"")?;
        let query = Query::new(
            terms
                .iter()
                .map(|(t, w)| (t.clone(), w.as_f64().unwrap_or(0.0) as f32)),
        );
        let t = Instant::now();
        let index = Index::open(dir.as_ref())?;
        let open_ms = t.elapsed().as_secs_f64() * 1e3;
        let opened = checked_bytes(&index);
        let t = Instant::now();
        let hits = search(&index, &query, 10)?;
        let ids = hits
            .iter()
            .map(|h| index.doc_id(h.doc).map(str::len))
            .collect::<Result<Vec<_>, _>>()?;
        let query_ms = t.elapsed().as_secs_f64() * 1e3;
        let total = checked_bytes(&index);
        // The same query again: nothing left to check, the pages mapped.
        let t = Instant::now();
        std::hint::black_box(search(&index, &query, 10)?);
        let again_ms = t.elapsed().as_secs_f64() * 1e3;
        // What open and query would have checked with pages `factor` times
        // larger (a file checked whole stays one page).
        let coarser = |factor: usize| -> u64 {
            checked_pages(&index)
                .iter()
                .map(|f| {
                    let factor = if f.pages == 1 { 1 } else { factor };
                    let pages: BTreeSet<usize> = f.checked.iter().map(|p| p / factor).collect();
                    (pages.len() * f.page_size * factor) as u64
                })
                .sum()
        };
        if v["id"] == "q1" || n == 1 {
            for f in checked_pages(&index) {
                let bytes = f.checked.len() * f.page_size;
                eprintln!(
                    "{}: {} of {} pages checked ({})",
                    f.file,
                    f.checked.len(),
                    f.pages,
                    mb(bytes as u64)
                );
            }
        }
        println!(
            "| {} | {open_ms:.2} | {} | {query_ms:.2} | {} | {again_ms:.2} | {} | {} | {} |",
            v["id"],
            mb(opened),
            mb(total - opened),
            mb(coarser(4)),
            mb(coarser(16)),
            ids.len()
        );
    }
    Ok(())
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}
