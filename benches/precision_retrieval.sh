#!/usr/bin/env bash
# The retrieval effect of `--precision int8` or `bf16` (README "Encoding
# speed"): every shared collection indexed and evaluated (SPLADE alone,
# `--mode splade`) with documents and queries encoded in PRECISION, beside
# the reference's nDCG@10 (`../shared/reference/metrics.json`; f32 equals
# it, `benches/collections.sh`). Also encodes, per collection, the queries
# and the first 300 documents in PRECISION and in f32 and prints the
# vectors' max abs difference and active-set changes (int8: both 0, the
# same bytes). bf16 needs a CPU with AVX512_BF16. Prints a Markdown table.
# Usage: benches/precision_retrieval.sh PRECISION [MODEL_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
precision="${1:?usage: benches/precision_retrieval.sh int8|bf16 [MODEL_DIR] [WORK_DIR]}"
model="${2:-../shared/models/splade-tiny}"
work="${3:-$(mktemp -d)}"
if [ "$precision" = bf16 ] && ! grep -qw avx512_bf16 /proc/cpuinfo; then
  echo "precision_retrieval.sh: this CPU lacks AVX512_BF16 (--precision bf16 refuses to run)" >&2
  exit 2
fi
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/splade"
mkdir -p "$work"
echo "| collection | nDCG@10 reference | nDCG@10 $precision | change | encode $precision vs f32 (queries + 300 docs) |"
echo "|---|---|---|---|---|"
for c in trec-dl-2020-passage-pool cranfield cisi npl cacm lisa; do
  d=../shared/data/$c
  rm -rf "$work/$c"
  "$bin" index "$d/corpus.jsonl" --index "$work/$c" --model "$model" --precision "$precision" --no-lexical -q
  "$bin" eval --index "$work/$c" --queries "$d/queries.jsonl" --qrels "$d/qrels.tsv" \
    --mode splade --precision "$precision" --json -q > "$work/$c.json"
  head -300 "$d/corpus.jsonl" > "$work/$c.sample.jsonl"
  cat "$d/queries.jsonl" >> "$work/$c.sample.jsonl"
  for p in f32 "$precision"; do
    "$bin" encode "$work/$c.sample.jsonl" --model "$model" --precision "$p" -q > "$work/$c.$p.jsonl"
  done
  python3 - "$c" "$work/$c.json" "$work/$c.f32.jsonl" "$work/$c.$precision.jsonl" <<'PY'
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
print(f"| {c} | {ref:.4f} | {got:.4f} | {got - ref:+.4f} | {'identical' if same else 'different'} "
      f"({n} texts, max abs diff {worst:g}, {changes} active-set changes) |")
PY
done
