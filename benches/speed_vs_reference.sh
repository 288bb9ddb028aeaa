#!/usr/bin/env bash
# Encoding throughput: splade vs the PyTorch reference (sentence-transformers),
# same file, same machine, same session; prints both medians and the ratio.
# Creates a virtualenv in .venv-bench with torch and sentence-transformers
# (pip) on first use.
# Usage: [SPLADE_BENCH_PRECISIONS="f32 int8"] benches/speed_vs_reference.sh [MODEL_DIR] [DOCS.jsonl] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-../shared/models/splade-tiny}"
docs="${2:-../shared/data/speed/passages.jsonl}"
runs="${3:-3}"
batch="${SPLADE_BENCH_BATCH:-32}"
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install --quiet "torch" "sentence-transformers>=5"
fi
cargo build --release --benches --quiet
ref=$(.venv-bench/bin/python benches/speed_reference.py "$model" "$docs" --batch "$batch" --runs "$runs")
echo "reference (sentence-transformers): $ref"
# One reference run, then ours in each precision of SPLADE_BENCH_PRECISIONS
# (default f32), each ratio against the same reference figure.
for precision in ${SPLADE_BENCH_PRECISIONS:-f32}; do
  out=$(SPLADE_BENCH_MODEL="$model" SPLADE_BENCH_DOCS="$docs" SPLADE_BENCH_RUNS="$runs" \
        SPLADE_BENCH_BATCH="$batch" SPLADE_BENCH_PRECISION="$precision" \
        cargo bench --quiet --bench encode 2>/dev/null)
  ours=$(grep '^encode:' <<< "$out")
  echo "splade $precision: $ours"
  grep -E '^(int8 screen|single query):' <<< "$out" | sed "s/^/splade $precision: /" || true
  python3 - "$ref" "$ours" "$precision" <<'PY'
import json, re, sys
ref = json.loads(sys.argv[1]); ours = float(re.search(r"median ([0-9.]+) docs/s", sys.argv[2]).group(1))
print(f"ratio {sys.argv[3]} (splade / sentence-transformers, docs/s): {ours / ref['docs_per_s']:.2f}  "
      f"({ours:.1f} vs {ref['docs_per_s']:.1f} docs/s)")
PY
done
