#!/usr/bin/env bash
# An index changed by append and delete against a fresh build of its live
# documents (README "Changing an index"): cranfield encoded once, the first
# 700 documents indexed, the other 700 appended, every 28th document (50)
# deleted; a fresh index of the 1,350 others in the same order; then the
# top-10 lists of the 225 queries compared. Prints how many lists are
# identical and, for the others, how they differ.
# Usage: benches/segments_vs_fresh.sh [MODEL_DIR] [WORK_DIR] [QUANTIZATION]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-../shared/models/splade-tiny}"
work="${2:-$(mktemp -d)}"
quant="${3:-u16}"
data=../shared/data/cranfield
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/splade"
mkdir -p "$work"
[ -s "$work/vectors.jsonl" ] || "$bin" encode "$data/corpus.jsonl" --model "$model" -q > "$work/vectors.jsonl"
head -n 700 "$work/vectors.jsonl" > "$work/first.jsonl"
tail -n +701 "$work/vectors.jsonl" > "$work/second.jsonl"
awk 'NR % 28 == 0' "$work/vectors.jsonl" | python3 -c 'import json,sys; [print(json.loads(l)["id"]) for l in sys.stdin]' > "$work/deleted.txt"
awk 'NR % 28 != 0' "$work/vectors.jsonl" > "$work/live.jsonl"
rm -rf "$work/changed" "$work/fresh"
# --model with --vectors records the model, so that search encodes queries with it.
"$bin" index --vectors "$work/first.jsonl" --index "$work/changed" --model "$model" --quantization "$quant" -q
"$bin" index --vectors --append "$work/second.jsonl" --index "$work/changed" -q
"$bin" delete --ids "$work/deleted.txt" --index "$work/changed" -q
"$bin" index --vectors "$work/live.jsonl" --index "$work/fresh" --model "$model" --quantization "$quant" -q
for i in changed fresh; do
  "$bin" search --queries "$data/queries.jsonl" --index "$work/$i" -k 10 --format tsv -q > "$work/$i.tsv"
done
python3 - "$work/changed.tsv" "$work/fresh.tsv" "$quant" <<'PY'
import sys
from collections import defaultdict
def run(path):
    lists = defaultdict(list)
    for line in open(path):
        q, doc, _rank, score = line.rstrip("\n").split("\t")
        lists[q].append((doc, float(score)))
    return lists
changed, fresh = run(sys.argv[1]), run(sys.argv[2])
queries = sorted(set(changed) | set(fresh))
same = [q for q in queries if [d for d, _ in changed[q]] == [d for d, _ in fresh[q]]]
worst = max(abs(s - dict(fresh[q]).get(d, s)) for q in queries for d, s in changed[q])
print(f"{sys.argv[3]}: {len(same)}/{len(queries)} top-10 lists identical to a fresh build; "
      f"largest score difference of a document in both: {worst:.2e}")
for q in queries:
    if q in same:
        continue
    c, f = changed[q], fresh[q]
    moved = [(i + 1, d) for i, ((d, _), (e, _)) in enumerate(zip(c, f)) if d != e]
    scores = dict(c)
    gap = max(scores[d] for _, d in moved if d in scores) - min(scores[d] for _, d in moved if d in scores)
    print(f"  query {q}: ranks {[r for r, _ in moved]} differ "
          f"(changed {[d for _, d in moved]} vs fresh {[f[r - 1][0] for r, _ in moved]}); "
          f"their scores in the changed index span {gap:.1e}")
PY
