#!/usr/bin/env bash
# The retrieval effect of `--precision bf16` (README "Encoding speed"):
# every shared collection indexed and evaluated with documents and queries
# encoded in bf16, against the f32 figures, which equal the reference's
# (`../shared/reference/metrics.json`, as `benches/collections.sh` shows).
# Needs a CPU with AVX512_BF16; prints a Markdown table.
# Usage: benches/bf16_retrieval.sh [MODEL_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-../shared/models/splade-tiny}"
work="${2:-$(mktemp -d)}"
if ! grep -qw avx512_bf16 /proc/cpuinfo; then
  echo "bf16_retrieval.sh: this CPU lacks AVX512_BF16 (--precision bf16 refuses to run)" >&2
  exit 2
fi
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/splade"
mkdir -p "$work"
echo "| collection | nDCG@10 f32 (= reference) | nDCG@10 bf16 | change |"
echo "|---|---|---|---|"
for c in trec-dl-2020-passage-pool cranfield cisi npl cacm lisa; do
  d=../shared/data/$c
  rm -rf "$work/$c"
  "$bin" index "$d/corpus.jsonl" --index "$work/$c" --model "$model" --precision bf16 -q
  "$bin" eval --index "$work/$c" --queries "$d/queries.jsonl" --qrels "$d/qrels.tsv" \
    --precision bf16 --json -q > "$work/$c.json"
  python3 - "$c" "$work/$c.json" <<'PY'
import json, sys
c, res = sys.argv[1:]
got = json.load(open(res))["mean"]["nDCG@10"]
ref = json.load(open("../shared/reference/metrics.json"))[c]["splade_tiny"]["nDCG@10"]
print(f"| {c} | {ref:.4f} | {got:.4f} | {got - ref:+.4f} |")
PY
done
