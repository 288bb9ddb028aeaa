//! Single-threaded search latency over an existing index, per strategy.
//!
//! ```sh
//! cargo bench --bench search -- --index IDX --queries QUERIES.jsonl \
//!     [--approx 0.9,0.8] [--k 10] [--exact-out exact.tsv] [--order-out ids.txt]
//!     [--repeat 1] [--hybrid] [--per-query times.tsv]
//! ```
//!
//! `QUERIES.jsonl` holds query vectors as `splade encode` writes them. Each
//! strategy runs every query once as warm-up, then `--repeat` timed passes
//! in which the strategies take turns on each query (so that a noisy
//! machine's drift falls on all of them alike); reported per strategy: mean, p50 and p99 latency and recall@k against
//! exhaustive scoring (a pruned exact search must show 1.0000, and the
//! bench checks that its hits are bit-identical). `--exact-out` writes the
//! exhaustive top k as `qid<TAB>docid<TAB>rank<TAB>score`, the reference
//! for other engines (`benches/compare_pruning.py`); `--order-out` writes
//! the document ids in ordinal order (after `compact --reorder`, the order
//! the other engines are fed, so that all see the same clustering).
//! `--per-query` writes each query's terms, the postings of its terms and
//! the range maxima pruning gathers for it (`Searcher::work`), then its
//! mean time per mode (ms), for studying which queries pruning helps. Results go to
//! stdout as Markdown rows; `default` is what `splade search` does
//! (`Strategy::Auto`).
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
    per_query: Option<PathBuf>,
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
        per_query: None,
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
            "--per-query" => a.per_query = Some(v().into()),
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
        ("default".to_string(), Strategy::Auto, 1.0),
    ];
    for &a in &args.approx {
        modes.push((format!("pruned approx {a}"), Strategy::Pruned, a));
    }
    println!(
        "| mode | queries | mean ms | p50 ms | p99 ms | recall@{} | ranges scored | filtered-pass fallbacks |",
        args.k
    );
    println!("|---|---|---|---|---|---|---|---|");
    // Every mode answers every query once (warm-up, and the results
    // compared), then the timed passes run the modes in turn on each query,
    // so that the machine's drift falls on all modes alike.
    let mut searchers: Vec<Searcher> = modes
        .iter()
        .map(|&(_, strategy, approx)| Searcher::new(&index, SearchOptions { strategy, approx }))
        .collect();
    let mut results: Vec<Vec<Vec<Hit>>> = Vec::new();
    for ((name, strategy, _), searcher) in modes.iter().zip(&mut searchers) {
        let t = Instant::now();
        let first = queries
            .first()
            .map(|q| searcher.search(&q.1, args.k).expect("search"));
        if *strategy == Strategy::Pruned {
            eprintln!(
                "{name}: first query (range maxima read or built) {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
        let rest = queries
            .iter()
            .skip(1)
            .map(|q| searcher.search(&q.1, args.k).expect("search"));
        results.push(first.into_iter().chain(rest).collect());
    }
    let before: Vec<_> = searchers.iter().map(|s| *s.stats()).collect();
    let mut times = vec![Vec::with_capacity(queries.len() * args.repeat); modes.len()];
    for _ in 0..args.repeat {
        for q in &queries {
            for (m, searcher) in searchers.iter_mut().enumerate() {
                let t = Instant::now();
                std::hint::black_box(searcher.search(&q.1, args.k).expect("search"));
                times[m].push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let exact = results[0].clone();
    let mut per_query: Vec<(String, Vec<f64>)> = Vec::new();
    for (m, (name, _, approx)) in modes.iter().enumerate() {
        let (before, after) = (before[m], *searchers[m].stats());
        let mut each = vec![0.0; queries.len()];
        for (i, t) in times[m].iter().enumerate() {
            each[i % queries.len()] += t / args.repeat as f64;
        }
        per_query.push((name.clone(), each));
        let (mut found, mut total) = (0usize, 0usize);
        for (got, want) in results[m].iter().zip(&exact) {
            found += got
                .iter()
                .filter(|h| want.iter().any(|w| w.doc == h.doc))
                .count();
            total += want.len();
        }
        if *approx == 1.0 {
            assert_eq!(results[m], exact, "{name} differs from exhaustive scoring");
        }
        let (mean, p50, p99) = summary(&mut times[m]);
        let pruned = after.queries - before.queries;
        let declined = after.declined - before.declined;
        let (scored, fallbacks) = if pruned > 0 {
            let fallbacks = after.fallbacks - before.fallbacks;
            (
                format!(
                    "{:.0} of {:.0}",
                    (after.scored - before.scored) as f64 / pruned as f64,
                    (after.ranges - before.ranges) as f64 / pruned as f64
                ),
                format!(
                    "{:.1}%{}",
                    100.0 * fallbacks as f64 / pruned as f64,
                    if declined > 0 {
                        format!(
                            " ({:.1}% scored exhaustively)",
                            100.0 * declined as f64 / (declined + pruned) as f64
                        )
                    } else {
                        String::new()
                    }
                ),
            )
        } else if declined > 0 {
            ("-".into(), "100% scored exhaustively".into())
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
    let probe = Searcher::new(&index, SearchOptions::default());
    let work: Vec<_> = queries
        .iter()
        .map(|(_, q)| probe.work(q).unwrap_or_default())
        .collect();
    let (postings, maxima) = work
        .iter()
        .fold((0, 0), |(p, m), w| (p + w.postings, m + w.maxima));
    eprintln!(
        "query terms: {:.0} postings and {:.0} range maxima per query, {:.2} postings per maximum",
        postings as f64 / work.len().max(1) as f64,
        maxima as f64 / work.len().max(1) as f64,
        postings as f64 / maxima.max(1) as f64
    );
    if let Some(path) = &args.per_query {
        let mut out = String::from("qid\tterms\tpostings\tmaxima");
        for (name, _) in &per_query {
            out.push_str(&format!("\t{name}"));
        }
        for (i, (qid, q)) in queries.iter().enumerate() {
            let w = work[i];
            out.push_str(&format!(
                "\n{qid}\t{}\t{}\t{}",
                q.len(),
                w.postings,
                w.maxima
            ));
            for (_, each) in &per_query {
                out.push_str(&format!("\t{:.4}", each[i]));
            }
        }
        out.push('\n');
        std::fs::write(path, out).expect("write --per-query");
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
