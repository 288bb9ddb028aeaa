#!/usr/bin/env bash
# Cold `splade search` as a whole process (README "Cold start"): median,
# min and max wall time of REPEATS runs (default 31; benches/cold_start.py)
# after one warm-up run, and the peak RSS; then one SPLADE_PROFILE=1
# breakdown of each search. Indexes are built first (and kept in WORK):
# the DL20 pool with splade-tiny, and its first MINI_DOCS passages (default
# 2,000: the BERT-Mini shape encodes ~18 docs/s on a 2-core Intel machine)
# with the BERT-Mini-shaped checkpoint (benches/make_mini_checkpoint.py, decoder bias -1.25;
# opening costs the same at any size now); and, when SYNTH_INDEX names one, a
# large synthetic index (examples/synth_vectors.rs + `splade index
# --vectors`; its terms are the generator's `t<rank>` names, so a text
# query finds none of them there: that row is start-up, open and lookups).
# Last, a warm-process figure: all DL20 queries in one process against one.
# Usage: [REPEATS=31] [BIN=target/release/splade] [SYNTH_INDEX=DIR] benches/cold_start.sh [WORK]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
bin="${BIN:-target/release/splade}"
[ -n "${BIN:-}" ] || cargo build --release --quiet
tiny=../shared/models/splade-tiny
corpus=../shared/data/trec-dl-2020-passage-pool/corpus.jsonl
# Decoder bias -1.25: random weights would activate half the vocabulary per
# text and make the search scan most postings; with it the stand-in has about
# a trained model's sparsity (`cargo bench --bench encode` prints it).
[ -d "$work/mini" ] || python3 benches/make_mini_checkpoint.py "$tiny" "$work/mini" -1.25 > /dev/null
[ -f "$work/dl20/meta.json" ] || "$bin" index "$corpus" --index "$work/dl20" --model "$tiny" -q
[ -f "$work/dl20-mini/meta.json" ] || head -n "${MINI_DOCS:-2000}" "$corpus" |
  "$bin" index - --index "$work/dl20-mini" --model "$work/mini" -q
q="what is the daily life of thai people"
runs=(
  "DL20 pool, splade-tiny, hybrid (default)|search|$q|--index|$work/dl20|-k|10"
  "DL20 pool, splade-tiny, --mode splade|search|$q|--index|$work/dl20|-k|10|--mode|splade"
  "DL20 pool, --mode bm25 (no model)|search|$q|--index|$work/dl20|-k|10|--mode|bm25"
  "DL20 pool first ${MINI_DOCS:-2000}, BERT-Mini shape, hybrid (default)|search|$q|--index|$work/dl20-mini|-k|10"
  "DL20 pool first ${MINI_DOCS:-2000}, BERT-Mini shape, --mode splade|search|$q|--index|$work/dl20-mini|-k|10|--mode|splade"
  "splade info (start-up floor)|info|--index|$work/dl20"
)
if [ -n "${SYNTH_INDEX:-}" ]; then
  runs+=("synthetic $(basename "$SYNTH_INDEX"), splade-tiny|search|$q|--index|$SYNTH_INDEX|-k|10|--model|$tiny")
fi
echo "| command | median ms | min ms | max ms | peak RSS MB |"
echo "|---|---|---|---|---|"
for r in "${runs[@]}"; do
  IFS='|' read -r -a parts <<< "$r"
  python3 benches/cold_start.py --repeats "${REPEATS:-31}" --label "${parts[0]}" -- "$bin" "${parts[@]:1}"
done
# Warm process: the 54 DL20 queries in one process, against the one-query
# process above; the difference over 53 is a query's time once the model
# and index are loaded (encode + search + print).
queries=../shared/data/trec-dl-2020-passage-pool/queries.jsonl
n=$(wc -l < "$queries")
one=$(python3 benches/cold_start.py --repeats "${REPEATS:-31}" --label one -- \
  "$bin" search "$q" --index "$work/dl20" -k 10 --mode splade | cut -d'|' -f3 | tr -d ' ')
all=$(python3 benches/cold_start.py --repeats "${REPEATS:-31}" --label all -- \
  "$bin" search --queries "$queries" --index "$work/dl20" -k 10 --mode splade | cut -d'|' -f3 | tr -d ' ')
echo
echo "Warm process (DL20 pool, splade-tiny, --mode splade): $n queries in one process $all ms, one query $one ms (medians): $(python3 -c "print(f'{($all - $one) / ($n - 1):.2f}')") ms per further query"
echo
echo "Breakdown of one run each (SPLADE_PROFILE=1, ms):"
for r in "${runs[@]}"; do
  IFS='|' read -r -a parts <<< "$r"
  [ "${parts[1]}" = info ] && continue
  echo "- ${parts[0]}: $(SPLADE_PROFILE=1 "$bin" "${parts[@]:1}" 2>&1 > /dev/null | sed 's/^splade: profile (ms): //')"
done
