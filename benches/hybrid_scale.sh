#!/usr/bin/env bash
# Hybrid search latency at scale on synthetic vectors (issue #13): the
# vectors of examples/synth_vectors.rs with `--text` (each line also carries
# a stand-in text, its token names repeated 1 + floor(weight) times, so that
# `index --vectors` writes BM25 postings), indexed and reordered, then
# `cargo bench --bench search -- --hybrid`: single-threaded mean / p50 / p99
# ms per query of exhaustive and pruned SPLADE, BM25 top 10, SPLADE top 10
# (default strategy) and hybrid (both top 1000 and the fusion), queries
# already encoded. Prints the bench's Markdown rows.
#
#   benches/hybrid_scale.sh [DOCS [QUERIES]]      # default 1000000 1000
#
# Environment: WORK (default /tmp/splade-hybrid-scale) holds vectors and
# the index. Timed steps wait for /tmp/bench.lock like compare_pruning.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${1:-1000000}
QUERIES=${2:-1000}
WORK=${WORK:-/tmp/splade-hybrid-scale}/$DOCS
mkdir -p "$WORK"
target="${CARGO_TARGET_DIR:-target}"

. benches/lib/lock.sh
lock() { bench_lock hybrid_scale; }
unlock() { bench_unlock; }

cargo build --release --quiet --bin splade --example synth_vectors
cargo bench --quiet --bench search --no-run
BENCH=$(ls -t "$target"/release/deps/search-* | grep -v '\.d$' | head -1)
if [ ! -s "$WORK/docs.jsonl" ]; then
  "$target/release/examples/synth_vectors" --docs "$DOCS" --queries "$QUERIES" --seed 42 --text --out "$WORK"
fi
if [ ! -s "$WORK/idx/meta.json" ]; then
  rm -rf "$WORK/idx"
  "$target/release/splade" index -q --vectors "$WORK/docs.jsonl" --index "$WORK/idx"
  "$target/release/splade" compact -q --reorder --index "$WORK/idx"
fi
lock
RAYON_NUM_THREADS=1 "$BENCH" --index "$WORK/idx" --queries "$WORK/queries.jsonl" --hybrid
unlock
