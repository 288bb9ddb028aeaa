#!/usr/bin/env bash
# Where encoding time goes (README "Encoding speed"): `perf record` over one
# pass of `cargo bench --bench encode` (no single-query part), then the
# share of CPU samples in splade's projection kernel (fused with
# max-pooling: `splade::encoder::kernel` and `pool`), in gemm (candle's
# matrix products) and elsewhere. Needs `perf` (perf_event_paranoid <= 2).
# Usage: benches/profile_encode.sh MODEL_DIR [DOCS.jsonl] [WORK_DIR]
#        (a BERT-Mini-shaped MODEL_DIR: benches/make_mini_checkpoint.py)
set -euo pipefail
cd "$(dirname "$0")/.."
model="$1"
docs="${2:-../shared/data/speed/passages.jsonl}"
work="${3:-$(mktemp -d)}"
target="${CARGO_TARGET_DIR:-target}"
cargo bench --quiet --bench encode --no-run
bench=$(ls -t "$target"/release/deps/encode-* | grep -v '\.d$' | head -1)
SPLADE_BENCH_MODEL="$model" SPLADE_BENCH_DOCS="$docs" SPLADE_BENCH_RUNS=1 SPLADE_BENCH_QUERIES=/dev/null \
  perf record -q -F 499 -o "$work/perf.data" -- "$bench" --bench > "$work/bench.out" 2>&1 || true
grep '^encode:' "$work/bench.out" || { cat "$work/bench.out" >&2; exit 1; }
perf report -i "$work/perf.data" --stdio --no-children --sort symbol 2> /dev/null | python3 -c '
import re, sys
parts = {"projection kernel": 0.0, "gemm": 0.0, "other": 0.0}
for line in sys.stdin:
    m = re.match(r"\s*([0-9.]+)%\s+\S+\s+(.*)", line)
    if not m:
        continue
    share, sym = float(m.group(1)), m.group(2)
    if "encoder::kernel" in sym or "encoder::pool" in sym or "max_dots" in sym:
        parts["projection kernel"] += share
    elif "gemm" in sym:
        parts["gemm"] += share
    else:
        parts["other"] += share
print("; ".join(f"{k} {v:.0f}%" for k, v in parts.items()))
'
