#!/usr/bin/env bash
# Index every shared collection with splade-tiny and evaluate it against the
# reference metrics (SPLADE alone, `--mode splade`: the reference has no
# hybrid; `benches/hybrid.sh` measures that); prints a Markdown table
# (README "Retrieval quality").
# Usage: benches/collections.sh [model-dir] [work-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-../shared/models/splade-tiny}"
work="${2:-$(mktemp -d)}"
cargo build --release --quiet
bin=target/release/splade
echo "| collection | docs | queries | nDCG@10 (ref) | RR@10 (ref) | R@100 (ref) | index time s | index MB |"
echo "|---|---|---|---|---|---|---|---|"
for c in trec-dl-2020-passage-pool cranfield cisi npl cacm lisa; do
  d=../shared/data/$c
  start=$(date +%s.%N)
  "$bin" index "$d/corpus.jsonl" --index "$work/$c" --model "$model" -q
  end=$(date +%s.%N)
  minrel=1
  "$bin" eval --index "$work/$c" --queries "$d/queries.jsonl" --qrels "$d/qrels.tsv" --mode splade --json -q > "$work/$c.json"
  python3 - "$c" "$work/$c.json" "$work/$c" "$start" "$end" <<'PY'
import json, sys, os
c, res, idx, start, end = sys.argv[1:]
got = json.load(open(res)); ref = json.load(open("../shared/reference/metrics.json"))[c]
m, r = got["mean"], ref["splade_tiny"]
size = sum(os.path.getsize(os.path.join(idx, f)) for f in os.listdir(idx))
cell = lambda k: f'{m[k]:.4f} ({r[k]:.4f})'
print(f'| {c} | {ref["docs"]} | {got["queries"]} | {cell("nDCG@10")} | {cell("RR@10")} | {cell("R@100")} | {float(end)-float(start):.1f} | {size/1e6:.1f} |')
PY
done
