#!/usr/bin/env bash
# Hybrid retrieval on the six shared collections (README "Hybrid retrieval"):
# nDCG@10 of --mode bm25 (beside the reference BM25 of metrics.json),
# --mode splade, the default (hybrid, adaptive weight) and the weight
# `eval --tune` picks (its 5-fold cross-validated estimate); index size and
# build time with and without BM25 postings; --lexical-only build speed; and
# search time per query in each mode. Also writes each side's top-1000 runs
# for benches/fusion_study.py.
# Usage: [REPEATS=3] [LAT_REPEATS=3] [BIN=target/release/splade] benches/hybrid.sh [model-dir] [work-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-../shared/models/splade-tiny}"
work="${2:-$(mktemp -d)}"
mkdir -p "$work/runs"
# BIN=path uses a binary already built instead of building this tree.
bin="${BIN:-target/release/splade}"
[ -n "${BIN:-}" ] || cargo build --release --quiet
now() { date +%s.%N; }
size() { du -sb "$1" | cut -f1; }
lexbytes() { find "$1" -name '*.lx?' -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }
echo "| collection | BM25 (ref) | SPLADE (ref) | hybrid default | tuned, CV estimate (weight) | index MB (of it BM25) | build s | lexical-only docs/s | ms/query bm25 / splade / hybrid |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in trec-dl-2020-passage-pool cranfield cisi npl cacm lisa; do
  d=../shared/data/$c
  rm -rf "$work/$c" "$work/$c-nolex" "$work/$c-lex"
  t0=$(now); "$bin" index "$d/corpus.jsonl" --index "$work/$c" --model "$model" -q; t1=$(now)
  t2=$(now); "$bin" index "$d/corpus.jsonl" --index "$work/$c-lex" --lexical-only -q; t3=$(now)
  ev() { "$bin" eval --index "$work/$c" --queries "$d/queries.jsonl" --qrels "$d/qrels.tsv" --json -q "$@"; }
  bm25=$(ev --mode bm25 | python3 -c 'import json,sys; print(json.load(sys.stdin)["mean"]["nDCG@10"])')
  spl=$(ev --mode splade | python3 -c 'import json,sys; print(json.load(sys.stdin)["mean"]["nDCG@10"])')
  hyb=$(ev | python3 -c 'import json,sys; print(json.load(sys.stdin)["mean"]["nDCG@10"])')
  tune=$(ev --tune | python3 -c 'import json,sys; t=json.load(sys.stdin); w=t["recommended"]; print("%.4f (%s)" % (t["cross_validated"], "default" if w is None else "--weight %.1f" % w))')
  # Search time per query: one process ranks the whole queries file
  # (queries in parallel), wall time / queries, median of LAT_REPEATS (3) runs.
  lat=""
  nq=$(wc -l < "$d/queries.jsonl")
  for m in bm25 splade hybrid; do
    per=$(for i in $(seq "${LAT_REPEATS:-3}"); do
      s=$(now); "$bin" search --queries "$d/queries.jsonl" --index "$work/$c" --mode $m -k 10 -q > /dev/null; e=$(now)
      python3 -c "print(($e-$s)*1000/$nq)"
    done | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    lat="$lat$(printf '%.1f' "$per") / "
    [ $m = hybrid ] || "$bin" search --queries "$d/queries.jsonl" --index "$work/$c" --mode $m -k 1000 --format trec -q > "$work/runs/$m-$c.trec"
  done
  python3 - "$c" "$bm25" "$spl" "$hyb" "$tune" "$(size "$work/$c")" "$(lexbytes "$work/$c")" "$t0" "$t1" "$t2" "$t3" "${lat% / }" <<'PY'
import json, sys
c, bm25, spl, hyb, tune, s1, s2, t0, t1, t2, t3, lat = sys.argv[1:]
ref = json.load(open("../shared/reference/metrics.json"))[c]
docs = ref["docs"]
t0, t1, t2, t3 = map(float, (t0, t1, t2, t3))
print(f'| {c} | {float(bm25):.4f} ({ref["bm25"]["nDCG@10"]:.4f}) | {float(spl):.4f} ({ref["splade_tiny"]["nDCG@10"]:.4f}) | '
      f'{float(hyb):.4f} | {tune} | {int(s1)/1e6:.1f} ({int(s2)/1e6:.1f}) | {t1-t0:.1f} | '
      f'{docs/(t3-t2):.0f} | {lat} |')
PY
done
echo
# Build time with and without BM25 postings, same run, alternating, median of
# REPEATS (default 3): wall time, and CPU time (user + system, from
# /usr/bin/time), which a busy machine disturbs less.
c=trec-dl-2020-passage-pool; d=../shared/data/$c
for i in $(seq "${REPEATS:-3}"); do
  for flag in "" --no-lexical; do
    rm -rf "$work/build"
    /usr/bin/time -f "%e %U %S" -o "$work/time" "$bin" index "$d/corpus.jsonl" --index "$work/build" --model "$model" $flag -q
    echo "${flag:-hybrid} $(cat "$work/time")"
  done
done | python3 -c '
import sys, statistics as st
wall, cpu = {}, {}
for line in sys.stdin:
    k, e, u, s = line.split()
    wall.setdefault(k, []).append(float(e)); cpu.setdefault(k, []).append(float(u) + float(s))
n = len(wall["hybrid"])
for name, t in (("wall", wall), ("CPU", cpu)):
    h, s = st.median(t["hybrid"]), st.median(t["--no-lexical"])
    print(f"DL20 pool build, median of {n}, {name} time: with BM25 postings {h:.1f} s, --no-lexical {s:.1f} s: {h/s:.3f}x")'
echo "runs for benches/fusion_study.py: $work/runs"
