#!/usr/bin/env bash
# Truncation against overlapping windows on cranfield (the shared
# collection with the most long documents), README "Long documents": each
# mode indexes the collection with `splade index` and evaluates it with
# `splade eval`; prints a Markdown table with the documents cut or split
# (from `splade index`'s report), nDCG@10 and R@100.
# Usage: benches/long_docs.sh [MODEL_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-../shared/models/splade-tiny}"
work="${2:-$(mktemp -d)}"
data=../shared/data/cranfield
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/splade"
mkdir -p "$work"
echo "| mode | documents cut / split | nDCG@10 | R@100 |"
echo "|---|---|---|---|"
while IFS='|' read -r name args; do
  rm -rf "$work/idx"
  # shellcheck disable=SC2086 # $args holds several options
  "$bin" index "$data/corpus.jsonl" --index "$work/idx" --model "$model" $args 2> "$work/index.log"
  "$bin" eval --index "$work/idx" --queries "$data/queries.jsonl" --qrels "$data/qrels.tsv" --json -q > "$work/eval.json"
  # "N documents truncated at the maximum length" or "N long documents encoded as several windows"
  report=$(sed -nE 's/.*; ([0-9]+) documents truncated.*/\1 cut/p; s/.*; ([0-9]+) long documents encoded.*/\1 split/p' "$work/index.log")
  python3 - "$name" "$work/eval.json" "${report:-none reported}" <<'PY'
import json, sys
name, res, report = sys.argv[1:]
m = json.load(open(res))["mean"]
print(f"| {name} | {report} | {m['nDCG@10']:.4f} | {m['R@100']:.4f} |")
PY
done <<'MODES'
truncate at 512 (default)|
window 512, stride 128|--long-docs window --window 512 --stride 128
truncate at 128|--max-length 128
window 128, stride 32|--long-docs window --window 128 --stride 32
MODES
