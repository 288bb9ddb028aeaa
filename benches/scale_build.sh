#!/usr/bin/env bash
# Building, reordering and pruning at scale on the synthetic SPLADE-like
# vectors of examples/synth_vectors.rs (the documents of
# benches/compare_pruning.sh, same seed): `splade index --vectors` on both
# cores, on one (RAYON_NUM_THREADS=1) and with MALLOC_ARENA_MAX=1 (wall
# time, CPU, peak RSS); then the `.bmx` bytes per posting and single-threaded
# pruned exact and exhaustive search (mean ms, `cargo bench --bench search`)
# in arbitrary order, `compact --reorder` (wall time, peak RSS), and the same
# after reordering. Timed steps wait for /tmp/bench.lock like
# compare_pruning.sh. README "Changing an index" and "Search at scale".
#
#   benches/scale_build.sh [DOCS [QUERIES]]      # default 200000 1000
#
# Environment: WORK (default /tmp/splade-scale) holds vectors and indexes.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${1:-200000}
QUERIES=${2:-1000}
WORK=${WORK:-/tmp/splade-scale}/$DOCS
mkdir -p "$WORK"
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/splade"

. benches/lib/lock.sh
lock() { bench_lock scale_build; }
unlock() { bench_unlock; }

cargo build --release --quiet --bin splade --example synth_vectors
cargo bench --quiet --bench search --no-run
BENCH=$(ls -t "$target"/release/deps/search-* | grep -v '\.d$' | head -1)
if [ ! -s "$WORK/docs.jsonl" ]; then
  "$target/release/examples/synth_vectors" --docs "$DOCS" --queries "$QUERIES" --seed 42 --out "$WORK"
fi

# timed LABEL COMMAND...: runs it under /usr/bin/time, prints wall, CPU, RSS.
timed() {
  local label=$1; shift
  lock
  /usr/bin/time -f '%e %P %M' -o "$WORK/time" "$@"
  unlock
  read -r secs cpu kb < "$WORK/time"
  echo "$label: $secs s wall, $cpu CPU, peak RSS $((kb / 1024)) MB"
}
# bytes of the .bmx files per posting of their segments.
bmx() {
  python3 - "$WORK/idx/meta.json" <<'PY'
import json, sys
segs = [s for s in json.load(open(sys.argv[1]))["segments"]
        if any(f["name"].endswith(".bmx") for f in s["files"])]
size = sum(f["len"] for s in segs for f in s["files"] if f["name"].endswith(".bmx"))
print(f"{size / sum(s['postings'] for s in segs):.2f}")
PY
}
# mean ms of the exhaustive and pruned exact modes, single-threaded.
searches() {
  lock
  RAYON_NUM_THREADS=1 "$BENCH" --index "$WORK/idx" --queries "$WORK/queries.jsonl" > "$WORK/search.md"
  unlock
  awk -F'|' '/^\| exhaustive/ {e = $4} /^\| pruned exact/ {p = $4} END {gsub(/ /, "", e); gsub(/ /, "", p); print "pruned exact " p " ms, exhaustive " e " ms (mean)"}' "$WORK/search.md"
}

for mode in both one arena1; do
  rm -rf "$WORK/idx"
  case $mode in
    both) timed "index --vectors, both cores" "$bin" index -q --vectors "$WORK/docs.jsonl" --index "$WORK/idx" ;;
    one) timed "index --vectors, RAYON_NUM_THREADS=1" env RAYON_NUM_THREADS=1 "$bin" index -q --vectors "$WORK/docs.jsonl" --index "$WORK/idx" ;;
    arena1) timed "index --vectors, MALLOC_ARENA_MAX=1" env MALLOC_ARENA_MAX=1 "$bin" index -q --vectors "$WORK/docs.jsonl" --index "$WORK/idx" ;;
  esac
done
postings=$(grep -o '"postings": *[0-9]*' "$WORK/idx/meta.json" | head -1 | grep -o '[0-9]*$')
echo "$DOCS documents, $postings postings"
echo "arbitrary order: .bmx $(bmx) bytes per posting; $(searches)"
timed "compact --reorder" "$bin" compact -q --reorder --index "$WORK/idx"
echo "reordered: .bmx $(bmx) bytes per posting; $(searches)"
