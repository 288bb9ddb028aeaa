#!/usr/bin/env bash
# Side by side on the same synthetic SPLADE-like vectors: splade (reordered
# index; exhaustive, block-max pruned exact and approximate), BMP (exact and
# approximate, fed the same document order) and
# Seismic (approximate), single-threaded query latency, recall@10 against
# exhaustive scoring, build time, index size and peak memory.
#
#   benches/compare_pruning.sh [DOCS [QUERIES]]      # default 200000 1000
#
# Environment: WORK (default /tmp/splade-prune) holds vectors, indexes and
# results; SEISMIC_POSTINGS (default 1000) is Seismic's n_postings and
# SEISMIC_SETTINGS (default "5:0.7 10:0.8 20:0.9") its query_cut:heap_factor
# settings; SPLADE_ONLY=1 skips BMP and Seismic (splade's rows only).
# Installs `bmp` and `pyseismic-lsr` from PyPI into .venv-prune. Timed steps
# wait for /tmp/bench.lock to be free and hold it while they run, so that
# measurements sharing the machine do not overlap. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${1:-200000}
QUERIES=${2:-1000}
WORK=${WORK:-/tmp/splade-prune}/$DOCS
SEISMIC_POSTINGS=${SEISMIC_POSTINGS:-1000}
SEISMIC_SETTINGS=${SEISMIC_SETTINGS:-5:0.7 10:0.8 20:0.9}
mkdir -p "$WORK"

. benches/lib/lock.sh
lock() { bench_lock compare_pruning; }
unlock() { bench_unlock; }

target="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet --bin splade --example synth_vectors
cargo bench --quiet --bench search --no-run
BENCH=$(ls -t "$target"/release/deps/search-* | grep -v '\.d$' | head -1)
if [ ! -x .venv-prune/bin/python ]; then
  python3 -m venv .venv-prune
  .venv-prune/bin/pip install --quiet bmp pyseismic-lsr numpy
fi
if [ ! -s "$WORK/docs.jsonl" ]; then
  "$target/release/examples/synth_vectors" --docs "$DOCS" --queries "$QUERIES" --seed 42 --out "$WORK"
fi

secs() { awk -F': ' '/Elapsed/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$1"; }
kb() { awk '/Maximum resident/ {print $NF}' "$1"; }

echo "== splade index, then compact --reorder" >&2
rm -rf "$WORK/idx"
lock
/usr/bin/time -v "$target/release/splade" index -q --vectors "$WORK/docs.jsonl" --index "$WORK/idx" 2> "$WORK/index.time"
/usr/bin/time -v "$target/release/splade" compact -q --reorder --index "$WORK/idx" 2> "$WORK/reorder.time"
unlock
build_s=$(echo "$(secs "$WORK/index.time") + $(secs "$WORK/reorder.time")" | bc -l)
rss_mb=$(( $(kb "$WORK/index.time") > $(kb "$WORK/reorder.time") ? $(kb "$WORK/index.time") / 1024 : $(kb "$WORK/reorder.time") / 1024 ))
bytes=$(du -sb "$WORK/idx" | cut -f1)
postings=$(grep -o '"postings": *[0-9]*' "$WORK/idx/meta.json" | head -1 | grep -o '[0-9]*$')

echo "== splade search" >&2
lock
RAYON_NUM_THREADS=1 "$BENCH" --index "$WORK/idx" --queries "$WORK/queries.jsonl" \
  --approx 0.95,0.9,0.8 --per-query "$WORK/per_query.tsv" --exact-out "$WORK/exact.tsv" --order-out "$WORK/order.txt" > "$WORK/splade.md"
unlock

if [ "${SPLADE_ONLY:-0}" = 1 ]; then
  cat "$WORK/splade.md"
  exit 0
fi

echo "== BMP" >&2
lock
SPLADE_ORDER="$WORK/order.txt" RAYON_NUM_THREADS=1 .venv-prune/bin/python benches/compare_pruning.py bmp "$WORK/docs.jsonl" \
  "$WORK/queries.jsonl" "$WORK/exact.tsv" "$WORK" 1:1 0.9:1 0.8:1 > "$WORK/bmp.jsonl"
unlock

echo "== Seismic" >&2
lock
.venv-prune/bin/python benches/compare_pruning.py seismic "$WORK/docs.jsonl" \
  "$WORK/queries.jsonl" "$WORK/exact.tsv" "$WORK" "$SEISMIC_POSTINGS" $SEISMIC_SETTINGS > "$WORK/seismic.jsonl"
unlock

echo "| system | setting | mean ms | p50 ms | p99 ms | recall@10 | build s | bytes/posting | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|"
grep '^| [a-z]' "$WORK/splade.md" | grep -v '^| mode' | while IFS='|' read -r _ mode _q mean p50 p99 recall _rest; do
  printf '| splade |%s|%s|%s|%s|%s| %s | %.2f | %s |\n' "$mode" "$mean" "$p50" "$p99" "$recall" \
    "$build_s" "$(echo "$bytes / $postings" | bc -l)" "$rss_mb"
done
.venv-prune/bin/python benches/compare_pruning.py table "$WORK/bmp.jsonl" "$WORK/seismic.jsonl"
echo "(splade: documents reordered by compact --reorder, build s = index + reorder, peak RSS = the larger"
echo "of the two; BMP gets the same document order; BMP/Seismic RSS: the Python process after build and search.)"
