//! Single-threaded search latency over an existing index, per strategy.
//!
//! ```sh
//! cargo bench --bench search -- --index IDX --queries QUERIES.jsonl \
//!     [--approx 0.9,0.8] [--k 10] [--exact-out exact.tsv] [--order-out ids.txt]
//!     [--repeat 1] [--hybrid]
//! ```
//!
//! `QUERIES.jsonl` holds query vectors as `splade encode` writes them. Each
//! strategy runs every query once as warm-up, then `--repeat` timed passes;
//! reported per strategy: mean, p50 and p99 latency and recall@k against
//! exhaustive scoring (a pruned exact search must show 1.0000, and the
//! bench checks that its hits are bit-identical). `--exact-out` writes the
//! exhaustive top k as `qid<TAB>docid<TAB>rank<TAB>score`, the reference
//! for other engines (`benches/compare_pruning.py`); `--order-out` writes
//! the document ids in ordinal order (after `compact --reorder`, the order
//! the other engines are fed, so that all see the same clustering).
//! Results go to stdout as Markdown rows.
//!
//! `--hybrid` (an index with lexical postings, query lines with a `"text"`,
//! as `examples/synth_vectors.rs --text` writes) adds the three search modes
//! of `splade search` on already-encoded queries: `bm25` (top k of the
//! text), `splade` (top k of the vector, default strategy) and `hybrid`
//! (each side's top `fusion::DEFAULT_DEPTH`, fused with the adaptive
//! weight), so that the cost of hybrid search is measured beside SPLADE
//! alone on the same index and queries, encoding excluded.

use std::path::PathBuf;
use std::time::Instant;

use splade::Index;
use splade::fusion::{self, FusionWeight};
use splade::internal::VectorReader;
use splade::lexical::Analyzer;
use splade::{Hit, Query, SearchOptions, Searcher, Strategy, search_bm25};

struct Args {
    index: PathBuf,
    queries: String,
    approx: Vec<f32>,
    k: usize,
    exact_out: Option<PathBuf>,
    order_out: Option<PathBuf>,
    repeat: usize,
    hybrid: bool,
}

fn parse() -> Args {
    let mut a = Args {
        index: PathBuf::new(),
        queries: String::new(),
        approx: vec![],
        k: 10,
        exact_out: None,
        order_out: None,
        repeat: 1,
        hybrid: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(f) = it.next() {
        if f == "--hybrid" {
            a.hybrid = true;
            continue;
        }
        let mut v = || it.next().unwrap_or_else(|| panic!("{f} needs a value"));
        match f.as_str() {
            "--index" => a.index = v().into(),
            "--queries" => a.queries = v(),
            "--approx" => a.approx = v().split(',').map(|x| x.parse().expect("alpha")).collect(),
            "--k" => a.k = v().parse().expect("k"),
            "--exact-out" => a.exact_out = Some(v().into()),
            "--order-out" => a.order_out = Some(v().into()),
            "--repeat" => a.repeat = v().parse().expect("repeat"),
            _ => {} // `cargo bench` adds --bench
        }
    }
    assert!(!a.queries.is_empty(), "--index IDX --queries FILE required");
    a
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Mean, p50 and p99 of `times` (ms), sorting it.
fn summary(times: &mut [f64]) -> (f64, f64, f64) {
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    (mean, percentile(times, 0.5), percentile(times, 0.99))
}

/// A query vector with the text it stands for, if its line had one.
struct QueryLine {
    id: String,
    query: Query,
    text: Option<String>,
}

/// Runs query `i` of a mode and returns its number of hits.
type RunOne<'a> = dyn FnMut(usize) -> usize + 'a;

/// Rows for `--hybrid`: each mode's latency over every query, one warm-up
/// pass then `repeat` timed ones.
fn hybrid_rows(index: &Index, queries: &[QueryLine], k: usize, repeat: usize) {
    let analyzer = Analyzer::english();
    let texts: Vec<&str> = queries
        .iter()
        .map(|q| {
            q.text
                .as_deref()
                .expect("--hybrid needs query lines with a \"text\"")
        })
        .collect();
    let terms: f64 = texts
        .iter()
        .map(|t| analyzer.analyze(t).len() as f64)
        .sum::<f64>()
        / texts.len() as f64;
    eprintln!("hybrid: mean {terms:.1} analyzed terms per query text");
    let texts = &texts;
    let mut searcher = Searcher::new(index, SearchOptions::default());
    let depth = k.max(fusion::DEFAULT_DEPTH);
    let mut modes: Vec<(&str, Box<RunOne>)> = vec![
        (
            "bm25",
            Box::new(|i| search_bm25(index, texts[i], k).expect("bm25").len()),
        ),
        (
            "splade",
            Box::new(|i| searcher.search(&queries[i].query, k).expect("splade").len()),
        ),
    ];
    let mut side = Searcher::new(index, SearchOptions::default());
    modes.push((
        "hybrid",
        Box::new(move |i| {
            let b = search_bm25(index, texts[i], depth).expect("bm25");
            let s = side.search(&queries[i].query, depth).expect("splade");
            let w = FusionWeight::Adaptive.for_query(analyzer.analyze(texts[i]).len());
            fusion::fuse(&b, &s, w, k).len()
        }),
    ));
    for (name, run) in &mut modes {
        let found: usize = (0..queries.len()).map(&mut *run).sum();
        let mut times = Vec::with_capacity(queries.len() * repeat);
        for _ in 0..repeat {
            for i in 0..queries.len() {
                let t = Instant::now();
                std::hint::black_box(run(i));
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let (mean, p50, p99) = summary(&mut times);
        println!(
            "| {name} | {} | {mean:.3} | {p50:.3} | {p99:.3} | {:.1} hits/query | - | - |",
            queries.len(),
            found as f64 / queries.len() as f64
        );
    }
}

fn main() {
    let args = parse();
    let index = Index::open(&args.index).expect("open index");
    let lines: Vec<QueryLine> = VectorReader::open(&args.queries)
        .expect("queries")
        .map(|r| {
            let r = r.expect("query line");
            QueryLine {
                id: r.id,
                query: Query::new(r.terms),
                text: r.text,
            }
        })
        .collect();
    let queries: Vec<(String, Query)> = lines
        .iter()
        .map(|q| (q.id.clone(), q.query.clone()))
        .collect();
    let mut modes = vec![
        ("exhaustive".to_string(), Strategy::Exhaustive, 1.0),
        ("pruned exact".to_string(), Strategy::Pruned, 1.0),
    ];
    for &a in &args.approx {
        modes.push((format!("pruned approx {a}"), Strategy::Pruned, a));
    }
    println!(
        "| mode | queries | mean ms | p50 ms | p99 ms | recall@{} | ranges scored | filtered-pass fallbacks |",
        args.k
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut exact: Vec<Vec<Hit>> = Vec::new();
    for (name, strategy, approx) in modes {
        let options = SearchOptions { strategy, approx };
        let mut searcher = Searcher::new(&index, options);
        let run = |s: &mut Searcher, q: &Query| s.search(q, args.k).expect("search");
        if let Some(q) = queries.first().filter(|_| strategy == Strategy::Pruned) {
            let t = Instant::now();
            run(&mut searcher, &q.1);
            eprintln!(
                "{name}: first query (range maxima read or built) {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
        let results: Vec<Vec<Hit>> = queries.iter().map(|q| run(&mut searcher, &q.1)).collect();
        let before = *searcher.stats();
        let mut times = Vec::with_capacity(queries.len() * args.repeat);
        for _ in 0..args.repeat {
            for q in &queries {
                let t = Instant::now();
                std::hint::black_box(run(&mut searcher, &q.1));
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let after = *searcher.stats();
        if exact.is_empty() {
            exact = results.clone();
        }
        let (mut found, mut total) = (0usize, 0usize);
        for (got, want) in results.iter().zip(&exact) {
            found += got
                .iter()
                .filter(|h| want.iter().any(|w| w.doc == h.doc))
                .count();
            total += want.len();
        }
        if approx == 1.0 {
            assert_eq!(results, exact, "{name} differs from exhaustive scoring");
        }
        let (mean, p50, p99) = summary(&mut times);
        let pruned = after.queries - before.queries;
        let (scored, fallbacks) = if pruned > 0 {
            let fallbacks = after.fallbacks - before.fallbacks;
            (
                format!(
                    "{:.0} of {:.0}",
                    (after.scored - before.scored) as f64 / pruned as f64,
                    (after.ranges - before.ranges) as f64 / pruned as f64
                ),
                format!("{:.1}%", 100.0 * fallbacks as f64 / pruned as f64),
            )
        } else {
            ("-".into(), "-".into())
        };
        println!(
            "| {name} | {} | {mean:.3} | {p50:.3} | {p99:.3} | {:.4} | {scored} | {fallbacks} |",
            queries.len(),
            found as f64 / total.max(1) as f64,
        );
    }
    if args.hybrid {
        hybrid_rows(&index, &lines, args.k, args.repeat);
    }
    if let Some(path) = &args.exact_out {
        let mut out = String::new();
        for ((qid, _), hits) in queries.iter().zip(&exact) {
            for (r, h) in hits.iter().enumerate() {
                out.push_str(&format!(
                    "{qid}\t{}\t{}\t{}\n",
                    index.doc_id(h.doc).expect("doc id"),
                    r + 1,
                    h.score
                ));
            }
        }
        std::fs::write(path, out).expect("write --exact-out");
    }
    if let Some(path) = &args.order_out {
        let mut out = String::new();
        for d in 0..index.num_docs() {
            out.push_str(index.doc_id(d).expect("doc id"));
            out.push('\n');
        }
        std::fs::write(path, out).expect("write --order-out");
    }
}
