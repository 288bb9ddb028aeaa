#!/usr/bin/env bash
# Impact quantization against exact f32 (docs/format.md "Impacts and
# quantization", README "Retrieval quality"): each collection is encoded
# once by `splade encode`, indexed from the vectors with each
# `--quantization`, and evaluated with `splade eval`. Prints a Markdown
# table per collection: nDCG@10, RR@10, R@100, R@1000, MAP, index size.
# Usage: benches/quantization.sh [MODEL_DIR] [WORK_DIR] [COLLECTION...]
#        (default collections: lisa cisi)
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-../shared/models/splade-tiny}"
work="${2:-$(mktemp -d)}"
collections=("${@:3}")
[ ${#collections[@]} -gt 0 ] || collections=(lisa cisi)
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/splade"
mkdir -p "$work"
for c in "${collections[@]}"; do
  d=../shared/data/$c
  [ -s "$work/$c.vectors.jsonl" ] || "$bin" encode "$d/corpus.jsonl" --model "$model" -q > "$work/$c.vectors.jsonl"
  echo "$c:"
  echo "| Q | nDCG@10 | RR@10 | R@100 | R@1000 | MAP | index size |"
  echo "|---|---|---|---|---|---|---|"
  for q in f32 u16 u8; do
    rm -rf "$work/$c-$q"
    "$bin" index --vectors "$work/$c.vectors.jsonl" --index "$work/$c-$q" --model "$model" --quantization "$q" -q
    "$bin" eval --index "$work/$c-$q" --queries "$d/queries.jsonl" --qrels "$d/qrels.tsv" --json -q > "$work/$c-$q.json"
    python3 - "$q" "$work/$c-$q.json" "$work/$c-$q" <<'PY'
import json, os, sys
q, res, idx = sys.argv[1:]
m = json.load(open(res))["mean"]
size = sum(os.path.getsize(os.path.join(idx, f)) for f in os.listdir(idx))
print(f"| `{q}` | {m['nDCG@10']:.5f} | {m['RR@10']:.5f} | {m['R@100']:.5f} | {m['R@1000']:.5f} "
      f"| {m['MAP']:.6f} | {size / 1e6:.1f} MB |")
PY
  done
done
