#!/usr/bin/env bash
# Two builds of splade give byte-identical results on the shared collections
# (the acceptance check of refactors: "no behaviour change").
#
# For each collection with a corpus.jsonl under DATA (six), each binary
# builds an index with the model, then writes: a TREC run of its queries
# (k=100, scores included), the same run with --approx 0.9 (the pruned
# path), `eval --json --per-query`, and `info --json` (its path line
# dropped). On cranfield it then also changes a copy of the index (delete
# 20 documents, append the first 50 again with --upsert, compact
# --reorder) and writes the runs after each change. Every output, and every
# index file but the lock file, is compared byte for byte; the script
# exits 1 at any difference and names it.
#
# A binary's outputs are kept in WORK_DIR under its SHA-256: run again
# with the same WORK_DIR, only a rebuilt binary is run again (the whole
# pass takes tens of minutes on two cores).
#
# Usage: benches/same_results.sh OLD_BIN NEW_BIN [WORK_DIR]
#   MODEL (default ../shared/models/splade-tiny), DATA (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 OLD_BIN NEW_BIN [WORK_DIR]" >&2; exit 2; }
old="$(realpath "$1")"
new="$(realpath "$2")"
work="${3:-$(mktemp -d)}"
model="$(realpath "${MODEL:-../shared/models/splade-tiny}")"
data="$(realpath "${DATA:-../shared/data}")"
mkdir -p "$work"

# runs TAG DIR INDEX QUERIES: the two runs of a query file against INDEX.
runs() {
  local bin=$1 out=$2 idx=$3 queries=$4
  "$bin" search --queries "$queries" --index "$idx" -k 100 --format trec -q > "$out.trec"
  "$bin" search --queries "$queries" --index "$idx" -k 100 --format trec --approx 0.9 -q \
    > "$out.approx.trec"
}

# outputs BIN OUT: everything one binary writes, under OUT (kept when a
# finished pass is there).
outputs() {
  local bin=$1 out=$2
  if [ -f "$out.done" ]; then
    echo "$bin: outputs of an earlier pass in $out" >&2
    return
  fi
  rm -rf "$out"
  mkdir -p "$out"
  for corpus in "$data"/*/corpus.jsonl; do
    local c
    c="$(basename "$(dirname "$corpus")")"
    local d="$data/$c" o="$out/$c"
    mkdir -p "$o"
    "$bin" index "$corpus" --index "$o/index" --model "$model" -q
    runs "$bin" "$o/run" "$o/index" "$d/queries.jsonl"
    "$bin" eval --index "$o/index" --queries "$d/queries.jsonl" --qrels "$d/qrels.tsv" \
      --json --per-query -q > "$o/eval.json"
    "$bin" info --index "$o/index" --json | sed '/"path":/d' > "$o/info.json"
    echo "$bin: $c done" >&2
  done
  # Changes of an index: delete, append with upsert, compact with reorder.
  local d="$data/cranfield" o="$out/cranfield"
  cp -r "$o/index" "$o/changed"
  rm -f "$o/changed/write.lock"
  python3 -c 'import json,sys; [print(json.loads(l).get("_id", json.loads(l).get("id"))) for l in list(sys.stdin)[100:120]]' \
    < "$d/corpus.jsonl" > "$o/deleted.txt"
  "$bin" delete --ids "$o/deleted.txt" --index "$o/changed" -q
  runs "$bin" "$o/run.deleted" "$o/changed" "$d/queries.jsonl"
  head -n 50 "$d/corpus.jsonl" > "$o/again.jsonl"
  "$bin" index --append --upsert "$o/again.jsonl" --index "$o/changed" -q
  runs "$bin" "$o/run.appended" "$o/changed" "$d/queries.jsonl"
  "$bin" compact --reorder --index "$o/changed" -q
  runs "$bin" "$o/run.reordered" "$o/changed" "$d/queries.jsonl"
  "$bin" info --index "$o/changed" --json | sed '/"path":/d' > "$o/info.changed.json"
  touch "$out.done"
}

a="$work/$(sha256sum "$old" | cut -c1-16)"
b="$work/$(sha256sum "$new" | cut -c1-16)"
outputs "$old" "$a"
[ "$b" = "$a" ] || outputs "$new" "$b"

status=0
# Every file either side wrote, lock files aside (they hold a process id).
files="$( (cd "$a" && find . -type f ! -name write.lock; cd "$b" && find . -type f ! -name write.lock) | sort -u)"
same=0
while IFS= read -r f; do
  if cmp -s "$a/$f" "$b/$f"; then
    same=$((same + 1))
  else
    echo "DIFFERENT: $f" >&2
    status=1
  fi
done <<< "$files"
echo "$same files identical, $(($(wc -l <<< "$files") - same)) different ($a vs $b)" >&2
exit $status
