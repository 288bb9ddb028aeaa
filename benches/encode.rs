//! Encoding throughput and single-query latency.
//!
//! `cargo bench --bench encode` (set `SPLADE_BENCH_MODEL` to a model folder;
//! default `../shared/models/splade-tiny`). Reads
//! `../shared/data/speed/passages.jsonl` (override: `SPLADE_BENCH_DOCS`) and
//! `queries.jsonl`; prints the median of `SPLADE_BENCH_RUNS` (default 3)
//! passes as docs/s and tokens/s, and the p50/p90 of one-query encodes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use splade::internal::{InputFormat, RecordReader};
use splade::{Encoder, EncoderOptions, ModelSource};

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(default))
}

fn read_texts(path: &Path) -> Vec<String> {
    let reader = RecordReader::open(
        path.to_str().unwrap(),
        InputFormat::Jsonl,
        Default::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    reader.map(|d| d.unwrap().full_text()).collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    // Threads as the `splade` binary sets them up, to measure what it does.
    // SAFETY: nothing else runs yet, so no thread reads the environment.
    unsafe { splade::cli::configure_threads(None) };
    // As `splade` itself does (src/cli/allocator.rs).
    splade::cli::keep_freed_memory();
    let model = env_path("SPLADE_BENCH_MODEL", "../shared/models/splade-tiny");
    let docs = env_path("SPLADE_BENCH_DOCS", "../shared/data/speed/passages.jsonl");
    let queries = env_path("SPLADE_BENCH_QUERIES", "../shared/data/speed/queries.jsonl");
    if !model.is_dir() || !docs.is_file() {
        eprintln!(
            "SKIPPED encode bench: {} or {} not found",
            model.display(),
            docs.display()
        );
        return;
    }
    let runs: usize = std::env::var("SPLADE_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let batch_size: usize = std::env::var("SPLADE_BENCH_BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let precision = match std::env::var("SPLADE_BENCH_PRECISION").as_deref() {
        Ok("bf16") => splade::Precision::Bf16,
        Ok("int8") => splade::Precision::Int8,
        _ => splade::Precision::F32,
    };
    let max_length = std::env::var("SPLADE_BENCH_MAXLEN")
        .ok()
        .and_then(|s| s.parse().ok());
    let started = Instant::now();
    let options = EncoderOptions {
        batch_size,
        max_length,
        precision,
        ..Default::default()
    };
    let encoder = Encoder::load(&ModelSource::Local(model.clone()), &options).expect("model loads");
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let texts = read_texts(&docs);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    println!(
        "model {} loaded in {load_ms:.1} ms; {} texts from {}",
        model.display(),
        refs.len(),
        docs.display()
    );

    let mut rates = Vec::new();
    let mut token_rates = Vec::new();
    let mut nnz = 0.0;
    for run in 0..runs {
        let t = Instant::now();
        let (vectors, stats) = encoder.encode_with_stats(&refs).unwrap();
        nnz = vectors.iter().map(|v| v.nnz()).sum::<usize>() as f64 / vectors.len().max(1) as f64;
        let secs = t.elapsed().as_secs_f64();
        rates.push(refs.len() as f64 / secs);
        token_rates.push(stats.tokens as f64 / secs);
        println!(
            "  run {run}: {secs:.2} s, {:.1} docs/s, {:.0} tokens/s",
            refs.len() as f64 / secs,
            stats.tokens as f64 / secs
        );
    }
    if runs > 0 {
        println!(
            "encode: median {:.1} docs/s, {:.0} tokens/s (batch {batch_size}, {runs} runs)",
            median(rates),
            median(token_rates)
        );
    }

    let (screened, kept) = encoder.screen_counts();
    if screened > 0 {
        println!(
            "int8 screen: {:.1} of {} vocabulary entries per text computed again in f32 \
             ({nnz:.1} active)",
            kept as f64 / screened as f64,
            encoder.vocab().len()
        );
    }

    if queries.is_file() {
        let qs = read_texts(&queries);
        for q in qs.iter().take(10) {
            encoder.encode_one(q).unwrap();
        }
        let mut lat: Vec<f64> = qs
            .iter()
            .map(|q| {
                let t = Instant::now();
                encoder.encode_one(q).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        lat.sort_by(f64::total_cmp);
        println!(
            "single query: p50 {:.2} ms, p90 {:.2} ms over {} queries",
            lat[lat.len() / 2],
            lat[lat.len() * 9 / 10],
            lat.len()
        );
    }
}
