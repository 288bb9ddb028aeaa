#!/usr/bin/env bash
# What whole `splade` processes cost (README "Encoding speed", other
# figures): `splade index` over the 2,000 speed passages (wall time and
# peak RSS from /usr/bin/time, median of RUNS), and one `splade search`
# process on the DL20 pool index, start to exit, model load and checksum
# scan included (median of 7). Builds the DL20 pool index in WORK_DIR if it
# is not there. Wall-clock figures need a quiet machine; the CPU seconds
# (user + system) beside them move less when other work shares it.
# Usage: benches/cli_costs.sh [MODEL_DIR] [WORK_DIR] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-../shared/models/splade-tiny}"
work="${2:-$(mktemp -d)}"
runs="${3:-3}"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/splade"
mkdir -p "$work"
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

for i in $(seq "$runs"); do
  rm -rf "$work/passages"
  /usr/bin/time -f '%e %M %U %S' -o "$work/index.time" \
    "$bin" index ../shared/data/speed/passages.jsonl --model "$model" --index "$work/passages" -q
  cat "$work/index.time"
done > "$work/index.times"
cpu() { awk '{print $(NF - 1) + $NF}' "$1" | median; }
echo "splade index, 2000 passages: wall $(cut -d' ' -f1 "$work/index.times" | median) s," \
  "CPU $(cpu "$work/index.times") s, peak RSS $(( $(cut -d' ' -f2 "$work/index.times" | median | cut -d. -f1) / 1024 )) MB" \
  "(median of $runs; wall, KB, user, system: $(tr '\n' ';' < "$work/index.times" | sed 's/;$//'))"

pool=../shared/data/trec-dl-2020-passage-pool
[ -s "$work/dl20/meta.json" ] || "$bin" index "$pool/corpus.jsonl" --model "$model" --index "$work/dl20" -q
query=$(head -1 "$pool/queries.jsonl" | python3 -c 'import json, sys; print(json.load(sys.stdin)["text"])')
"$bin" search "$query" --index "$work/dl20" > /dev/null   # page cache warm
for i in $(seq 7); do
  /usr/bin/time -f '%e %U %S' -o "$work/search.time" "$bin" search "$query" --index "$work/dl20" > /dev/null
  cat "$work/search.time"
done > "$work/search.times"
echo "one splade search process on the DL20 pool index ($(grep -o '"docs": *[0-9]*' "$work/dl20/meta.json" | head -1 | grep -o '[0-9]*$') docs):" \
  "wall $(cut -d' ' -f1 "$work/search.times" | median) s, CPU $(cpu "$work/search.times") s" \
  "(median of 7; wall, user, system: $(tr '\n' ';' < "$work/search.times" | sed 's/;$//'))"
