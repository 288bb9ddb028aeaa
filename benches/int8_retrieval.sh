#!/usr/bin/env bash
# The retrieval effect of `--precision int8` (README "Encoding speed"):
# every shared collection indexed and evaluated with documents and queries
# encoded through the int8 screen, beside the reference's nDCG@10
# (`../shared/reference/metrics.json`; f32 equals it, `benches/collections.sh`).
# Also checks, per collection, that `splade encode` of the queries and of the
# first 300 documents gives the same bytes in int8 and f32, and prints the
# vectors' max abs difference and active-set changes (both 0 when they do).
# Prints a Markdown table. Usage: benches/int8_retrieval.sh [MODEL_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-../shared/models/splade-tiny}"
work="${2:-$(mktemp -d)}"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/splade"
mkdir -p "$work"
echo "| collection | nDCG@10 reference | nDCG@10 int8 | change | encode int8 = f32 (queries + 300 docs) |"
echo "|---|---|---|---|---|"
for c in trec-dl-2020-passage-pool cranfield cisi npl cacm lisa; do
  d=../shared/data/$c
  rm -rf "$work/$c"
  "$bin" index "$d/corpus.jsonl" --index "$work/$c" --model "$model" --precision int8 --no-lexical -q
  "$bin" eval --index "$work/$c" --queries "$d/queries.jsonl" --qrels "$d/qrels.tsv" \
    --mode splade --precision int8 --json -q > "$work/$c.json"
  head -300 "$d/corpus.jsonl" > "$work/$c.sample.jsonl"
  cat "$d/queries.jsonl" >> "$work/$c.sample.jsonl"
  for p in f32 int8; do
    "$bin" encode "$work/$c.sample.jsonl" --model "$model" --precision "$p" -q > "$work/$c.$p.jsonl"
  done
  python3 - "$c" "$work/$c.json" "$work/$c.f32.jsonl" "$work/$c.int8.jsonl" <<'PY'
import json, sys
c, res, a, b = sys.argv[1:]
got = json.load(open(res))["mean"]["nDCG@10"]
ref = json.load(open("../shared/reference/metrics.json"))[c]["splade_tiny"]["nDCG@10"]
worst, changes, n = 0.0, 0, 0
for la, lb in zip(open(a), open(b)):
    x, y = json.loads(la)["vector"], json.loads(lb)["vector"]
    changes += len(set(x) ^ set(y))
    worst = max([worst] + [abs(x.get(k, 0) - y.get(k, 0)) for k in set(x) | set(y)])
    n += 1
same = open(a, "rb").read() == open(b, "rb").read()
print(f"| {c} | {ref:.4f} | {got:.4f} | {got - ref:+.4f} | {'identical' if same else 'DIFFERENT'} "
      f"({n} texts, max abs diff {worst:g}, {changes} active-set changes) |")
PY
done
